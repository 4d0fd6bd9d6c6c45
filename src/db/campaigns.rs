//! Queries on campaigns, their products and their versioned commission rules.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::{
    Campaign, CampaignFields, NewCampaign, NewRuleOverride, NewRuleVersion, RuleOverride,
    RuleVersion,
};
use super::schema::{
    campaign_events, campaign_products, campaign_rule_overrides, campaign_rule_versions, campaigns,
    merchants,
};

/// Inserts a campaign and returns its id; its history starts with its first state.
pub fn insert(conn: &mut DbConn, new: &NewCampaign<'_>) -> QueryResult<i64> {
    let id = diesel::insert_into(campaigns::table)
        .values(new)
        .returning(campaigns::id)
        .get_result(conn)?;
    record_state(conn, id, None, new.state, new.created_at)?;
    Ok(id)
}

fn record_state(
    conn: &mut DbConn,
    campaign_id: i64,
    from: Option<&str>,
    to: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(campaign_events::table)
        .values((
            campaign_events::campaign_id.eq(campaign_id),
            campaign_events::from_state.eq(from),
            campaign_events::to_state.eq(to),
            campaign_events::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The campaign's state at `at`, from its history (`None`: it did not exist yet).
pub fn state_at(
    conn: &mut DbConn,
    campaign_id: i64,
    at: NaiveDateTime,
) -> QueryResult<Option<String>> {
    on_inner!(conn, |c| campaign_events::table
        .filter(campaign_events::campaign_id.eq(campaign_id))
        .filter(campaign_events::created_at.le(at))
        .order((
            campaign_events::created_at.desc(),
            campaign_events::id.desc()
        ))
        .select(campaign_events::to_state)
        .first::<String>(c)
        .optional())
}

/// What the campaign has committed to pay: its commissions net of what refunds took back,
/// rejected ones left out (a rejection takes back the rest).
pub fn committed(conn: &mut DbConn, campaign_id: i64) -> QueryResult<i64> {
    use super::schema::{commissions, conversions, refunds};
    use diesel::dsl::sql;
    use diesel::sql_types::BigInt;
    let earned: i64 = commissions::table
        .filter(commissions::campaign_id.eq(campaign_id))
        .filter(commissions::state.ne("rejected"))
        .select(sql::<BigInt>(
            "CAST(COALESCE(SUM(commissions.amount_minor), 0) AS BIGINT)",
        ))
        .first(conn)?;
    let taken: i64 = refunds::table
        .inner_join(conversions::table.inner_join(commissions::table))
        .filter(commissions::campaign_id.eq(campaign_id))
        .filter(commissions::state.ne("rejected"))
        .select(sql::<BigInt>(
            "CAST(COALESCE(SUM(refunds.commission_minor), 0) AS BIGINT)",
        ))
        .first(conn)?;
    Ok(earned - taken)
}

/// Locks the campaign's row until the transaction ends on PostgreSQL, so that two orders
/// cannot both take the last of its budget; SQLite's write transaction already excludes
/// every other writer.
pub fn lock(conn: &mut DbConn, campaign_id: i64) -> QueryResult<()> {
    if let DbConn::Pg(c) = conn {
        campaigns::table
            .find(campaign_id)
            .for_update()
            .select(campaigns::id)
            .first::<i64>(c)?;
    }
    Ok(())
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<Campaign>> {
    on_inner!(conn, |c| campaigns::table
        .find(id)
        .select(Campaign::as_select())
        .first(c)
        .optional())
}

/// A campaign of this merchant (another merchant's is `None`).
pub fn find_for_merchant(
    conn: &mut DbConn,
    merchant_id: i64,
    id: i64,
) -> QueryResult<Option<Campaign>> {
    campaigns::table
        .filter(campaigns::id.eq(id))
        .filter(campaigns::merchant_id.eq(merchant_id))
        .select(Campaign::as_select())
        .first(conn)
        .optional()
}

pub fn list_for_merchant(
    conn: &mut DbConn,
    merchant_id: i64,
    state: Option<&str>,
) -> QueryResult<Vec<Campaign>> {
    let mut q = campaigns::table
        .filter(campaigns::merchant_id.eq(merchant_id))
        .into_boxed();
    if let Some(s) = state {
        q = q.filter(campaigns::state.eq(s.to_owned()));
    }
    q.order(campaigns::created_at.desc())
        .select(Campaign::as_select())
        .load(conn)
}

/// Active open campaigns that have not reached their end date, with their merchant's name
/// (the influencers' marketplace).
pub fn open_and_active(
    conn: &mut DbConn,
    now: NaiveDateTime,
) -> QueryResult<Vec<(Campaign, String)>> {
    campaigns::table
        .inner_join(merchants::table)
        .filter(campaigns::state.eq("active"))
        .filter(campaigns::visibility.eq("open"))
        .filter(campaigns::ends_at.is_null().or(campaigns::ends_at.gt(now)))
        .order(campaigns::created_at.desc())
        .select((Campaign::as_select(), merchants::name))
        .load(conn)
}

pub fn update_fields(
    conn: &mut DbConn,
    id: i64,
    fields: &CampaignFields<'_>,
) -> QueryResult<usize> {
    diesel::update(campaigns::table.find(id))
        .set(fields)
        .execute(conn)
}

/// Moves the state with a compare-and-set: false when it changed meanwhile.
pub fn set_state(
    conn: &mut DbConn,
    id: i64,
    from: &str,
    to: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(campaigns::table.find(id).filter(campaigns::state.eq(from)))
        .set((campaigns::state.eq(to), campaigns::updated_at.eq(now)))
        .execute(conn)?;
    if n == 1 {
        record_state(conn, id, Some(from), to, now)?;
    }
    Ok(n == 1)
}

pub fn set_products(conn: &mut DbConn, campaign_id: i64, product_ids: &[i64]) -> QueryResult<()> {
    diesel::delete(campaign_products::table.filter(campaign_products::campaign_id.eq(campaign_id)))
        .execute(conn)?;
    for pid in product_ids {
        diesel::insert_into(campaign_products::table)
            .values((
                campaign_products::campaign_id.eq(campaign_id),
                campaign_products::product_id.eq(pid),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn product_ids(conn: &mut DbConn, campaign_id: i64) -> QueryResult<Vec<i64>> {
    campaign_products::table
        .filter(campaign_products::campaign_id.eq(campaign_id))
        .select(campaign_products::product_id)
        .load(conn)
}

/// Stores a rule version with its overrides.
pub fn insert_rules(
    conn: &mut DbConn,
    version: &NewRuleVersion,
    overrides: &[(&str, &str, i32)],
) -> QueryResult<i64> {
    let id: i64 = diesel::insert_into(campaign_rule_versions::table)
        .values(version)
        .returning(campaign_rule_versions::id)
        .get_result(conn)?;
    for (kind, key, rate) in overrides {
        diesel::insert_into(campaign_rule_overrides::table)
            .values(&NewRuleOverride {
                rule_version_id: id,
                kind,
                match_key: key,
                rate_bps: *rate,
            })
            .execute(conn)?;
    }
    Ok(id)
}

/// Removes every rule version of a draft campaign (drafts keep one version, replaced on edit).
pub fn delete_rules(conn: &mut DbConn, campaign_id: i64) -> QueryResult<()> {
    let ids: Vec<i64> = campaign_rule_versions::table
        .filter(campaign_rule_versions::campaign_id.eq(campaign_id))
        .select(campaign_rule_versions::id)
        .load(conn)?;
    diesel::delete(
        campaign_rule_overrides::table
            .filter(campaign_rule_overrides::rule_version_id.eq_any(&ids)),
    )
    .execute(conn)?;
    diesel::delete(
        campaign_rule_versions::table.filter(campaign_rule_versions::campaign_id.eq(campaign_id)),
    )
    .execute(conn)?;
    Ok(())
}

/// Every version, newest first, with its overrides.
pub fn rule_history(
    conn: &mut DbConn,
    campaign_id: i64,
) -> QueryResult<Vec<(RuleVersion, Vec<RuleOverride>)>> {
    // Runs for every order: on the inner connection, and a join rather than `IN (ids)` (one
    // SQL text, prepared once).
    let versions: Vec<RuleVersion> = on_inner!(conn, |c| campaign_rule_versions::table
        .filter(campaign_rule_versions::campaign_id.eq(campaign_id))
        .order(campaign_rule_versions::version.desc())
        .select(RuleVersion::as_select())
        .load(c))?;
    let overrides: Vec<RuleOverride> = on_inner!(conn, |c| campaign_rule_overrides::table
        .inner_join(campaign_rule_versions::table)
        .filter(campaign_rule_versions::campaign_id.eq(campaign_id))
        .order((
            campaign_rule_overrides::kind.asc(),
            campaign_rule_overrides::match_key.asc(),
        ))
        .select(RuleOverride::as_select())
        .load(c))?;
    Ok(versions
        .into_iter()
        .map(|v| {
            let own = overrides
                .iter()
                .filter(|o| o.rule_version_id == v.id)
                .cloned()
                .collect();
            (v, own)
        })
        .collect())
}

/// The latest version of each of these campaigns (for listings).
pub fn latest_rules(
    conn: &mut DbConn,
    campaign_ids: &[i64],
) -> QueryResult<Vec<(RuleVersion, Vec<RuleOverride>)>> {
    let versions: Vec<RuleVersion> = campaign_rule_versions::table
        .filter(campaign_rule_versions::campaign_id.eq_any(campaign_ids))
        .order((
            campaign_rule_versions::campaign_id.asc(),
            campaign_rule_versions::version.desc(),
        ))
        .select(RuleVersion::as_select())
        .load(conn)?;
    let mut latest: Vec<RuleVersion> = Vec::new();
    for v in versions {
        if latest.last().is_none_or(|l| l.campaign_id != v.campaign_id) {
            latest.push(v);
        }
    }
    let ids: Vec<i64> = latest.iter().map(|v| v.id).collect();
    let overrides: Vec<RuleOverride> = campaign_rule_overrides::table
        .filter(campaign_rule_overrides::rule_version_id.eq_any(&ids))
        .select(RuleOverride::as_select())
        .load(conn)?;
    Ok(latest
        .into_iter()
        .map(|v| {
            let own = overrides
                .iter()
                .filter(|o| o.rule_version_id == v.id)
                .cloned()
                .collect();
            (v, own)
        })
        .collect())
}
