//! Queries on influencer profiles.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::{Influencer, NewInfluencer};
use super::schema::influencers;

pub fn insert(conn: &mut DbConn, new: &NewInfluencer<'_>) -> QueryResult<Influencer> {
    diesel::insert_into(influencers::table)
        .values(new)
        .execute(conn)?;
    find_by_user(conn, new.user_id)?.ok_or(diesel::result::Error::NotFound)
}

pub fn find_by_user(conn: &mut DbConn, user_id: i64) -> QueryResult<Option<Influencer>> {
    influencers::table
        .filter(influencers::user_id.eq(user_id))
        .select(Influencer::as_select())
        .first(conn)
        .optional()
}

pub fn handle_owner(conn: &mut DbConn, handle: &str) -> QueryResult<Option<i64>> {
    influencers::table
        .filter(influencers::handle.eq(handle))
        .select(influencers::user_id)
        .first(conn)
        .optional()
}

pub fn update_profile(
    conn: &mut DbConn,
    id: i64,
    handle: &str,
    display_name: &str,
    bio: &str,
    country: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(influencers::table.find(id))
        .set((
            influencers::handle.eq(handle),
            influencers::display_name.eq(display_name),
            influencers::bio.eq(bio),
            influencers::country.eq(country),
            influencers::updated_at.eq(now),
        ))
        .execute(conn)
}

pub fn handles_for_users(conn: &mut DbConn, user_ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    influencers::table
        .filter(influencers::user_id.eq_any(user_ids))
        .select((influencers::user_id, influencers::handle))
        .load(conn)
}

use super::models::{NewSocialAccount, SocialAccount};
use super::schema::{influencer_categories, influencer_regions, social_accounts};

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<Influencer>> {
    influencers::table
        .find(id)
        .select(Influencer::as_select())
        .first(conn)
        .optional()
}

pub fn set_categories(
    conn: &mut DbConn,
    influencer_id: i64,
    categories: &[String],
) -> QueryResult<()> {
    diesel::delete(
        influencer_categories::table.filter(influencer_categories::influencer_id.eq(influencer_id)),
    )
    .execute(conn)?;
    for c in categories {
        diesel::insert_into(influencer_categories::table)
            .values((
                influencer_categories::influencer_id.eq(influencer_id),
                influencer_categories::category.eq(c),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn set_regions(conn: &mut DbConn, influencer_id: i64, regions: &[String]) -> QueryResult<()> {
    diesel::delete(
        influencer_regions::table.filter(influencer_regions::influencer_id.eq(influencer_id)),
    )
    .execute(conn)?;
    for r in regions {
        diesel::insert_into(influencer_regions::table)
            .values((
                influencer_regions::influencer_id.eq(influencer_id),
                influencer_regions::region.eq(r),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// (influencer id, category) for these influencers.
pub fn categories_of(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    influencer_categories::table
        .filter(influencer_categories::influencer_id.eq_any(ids))
        .order(influencer_categories::category.asc())
        .select((
            influencer_categories::influencer_id,
            influencer_categories::category,
        ))
        .load(conn)
}

/// (influencer id, region) for these influencers.
pub fn regions_of(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    influencer_regions::table
        .filter(influencer_regions::influencer_id.eq_any(ids))
        .order(influencer_regions::region.asc())
        .select((
            influencer_regions::influencer_id,
            influencer_regions::region,
        ))
        .load(conn)
}

pub fn accounts_of(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<SocialAccount>> {
    social_accounts::table
        .filter(social_accounts::influencer_id.eq_any(ids))
        .order((social_accounts::followers.desc(), social_accounts::id.asc()))
        .select(SocialAccount::as_select())
        .load(conn)
}

pub fn add_account(conn: &mut DbConn, new: &NewSocialAccount<'_>) -> QueryResult<usize> {
    diesel::insert_into(social_accounts::table)
        .values(new)
        .execute(conn)
}

pub fn remove_account(conn: &mut DbConn, influencer_id: i64, id: i64) -> QueryResult<usize> {
    diesel::delete(
        social_accounts::table
            .filter(social_accounts::id.eq(id))
            .filter(social_accounts::influencer_id.eq(influencer_id)),
    )
    .execute(conn)
}

pub fn set_reach(
    conn: &mut DbConn,
    id: i64,
    total_followers: i64,
    engagement_bps: i32,
) -> QueryResult<usize> {
    diesel::update(influencers::table.find(id))
        .set((
            influencers::total_followers.eq(total_followers),
            influencers::engagement_bps.eq(engagement_bps),
        ))
        .execute(conn)
}

pub fn set_languages(conn: &mut DbConn, id: i64, languages: &str) -> QueryResult<usize> {
    diesel::update(influencers::table.find(id))
        .set(influencers::languages.eq(languages))
        .execute(conn)
}

pub fn set_payout(
    conn: &mut DbConn,
    id: i64,
    method: &str,
    currency: &str,
    details: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(influencers::table.find(id))
        .set((
            influencers::payout_method.eq(Some(method)),
            influencers::payout_currency.eq(Some(currency)),
            influencers::payout_details.eq(Some(details)),
            influencers::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Every stored payout detail: (influencer, details).
pub fn payout_details_all(conn: &mut DbConn) -> QueryResult<Vec<(i64, String)>> {
    influencers::table
        .filter(influencers::payout_details.is_not_null())
        .select((
            influencers::id,
            influencers::payout_details.assume_not_null(),
        ))
        .load(conn)
}

pub fn set_payout_details(conn: &mut DbConn, id: i64, details: &str) -> QueryResult<usize> {
    diesel::update(influencers::table.find(id))
        .set(influencers::payout_details.eq(Some(details)))
        .execute(conn)
}

/// Hard filters of the discovery page.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryFilter {
    pub category: Option<String>,
    pub platform: Option<String>,
    pub region: Option<String>,
    pub min_followers: Option<i64>,
    pub max_followers: Option<i64>,
    pub min_engagement_bps: Option<i32>,
}

/// (id, followers, engagement) of the influencers passing the filters, most followed first,
/// at most `limit`: the little that ranking needs.
pub fn discover(
    conn: &mut DbConn,
    f: &DiscoveryFilter,
    limit: i64,
) -> QueryResult<Vec<(i64, i64, i32)>> {
    let mut q = influencers::table.into_boxed();
    if let Some(c) = &f.category {
        q = q.filter(
            influencers::id.eq_any(
                influencer_categories::table
                    .filter(influencer_categories::category.eq(c.clone()))
                    .select(influencer_categories::influencer_id),
            ),
        );
    }
    if let Some(r) = &f.region {
        q = q.filter(
            influencers::id.eq_any(
                influencer_regions::table
                    .filter(influencer_regions::region.eq(r.clone()))
                    .select(influencer_regions::influencer_id),
            ),
        );
    }
    if let Some(p) = &f.platform {
        q = q.filter(
            influencers::id.eq_any(
                social_accounts::table
                    .filter(social_accounts::platform.eq(p.clone()))
                    .select(social_accounts::influencer_id),
            ),
        );
    }
    if let Some(min) = f.min_followers {
        q = q.filter(influencers::total_followers.ge(min));
    }
    if let Some(max) = f.max_followers {
        q = q.filter(influencers::total_followers.le(max));
    }
    if let Some(e) = f.min_engagement_bps {
        q = q.filter(influencers::engagement_bps.ge(e));
    }
    q.order((influencers::total_followers.desc(), influencers::id.asc()))
        .limit(limit)
        .select((
            influencers::id,
            influencers::total_followers,
            influencers::engagement_bps,
        ))
        .load(conn)
}

/// Ids of the influencers who cover a category.
pub fn ids_in_category(conn: &mut DbConn, category: &str) -> QueryResult<Vec<i64>> {
    influencer_categories::table
        .filter(influencer_categories::category.eq(category))
        .select(influencer_categories::influencer_id)
        .load(conn)
}

/// Ids of the influencers whose audience is in one of the regions.
pub fn ids_in_regions(conn: &mut DbConn, regions: &[String]) -> QueryResult<Vec<i64>> {
    influencer_regions::table
        .filter(influencer_regions::region.eq_any(regions))
        .select(influencer_regions::influencer_id)
        .load(conn)
}

pub fn find_many(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<Influencer>> {
    influencers::table
        .filter(influencers::id.eq_any(ids))
        .select(Influencer::as_select())
        .load(conn)
}

diesel::allow_columns_to_appear_in_same_group_by_clause!(
    super::schema::links::influencer_id,
    super::schema::conversions::influencer_id,
    super::schema::commissions::influencer_id,
    super::schema::commissions::currency,
    super::schema::campaigns::category,
);

/// What an influencer has done in one category, from what Tandem holds: clicks from the
/// click rollup (non-bot and unique, DESIGN.md §3 "Metrics"), attributed orders, and
/// commission net of refunds and rejections per currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryHistory {
    pub clicks: i64,
    pub unique_clicks: i64,
    pub orders: i64,
    /// Of those, orders by coupon code with no link (no click led to them).
    pub coupon_orders: i64,
    /// (currency, commission in minor units), largest first.
    pub earned: Vec<(String, i64)>,
    /// The same, of the orders after a click only (EPC's numerator), largest first.
    pub earned_by_clicks: Vec<(String, i64)>,
}

/// Each influencer's history per campaign category, for the given influencers (all when
/// `None`) and the given category (all when `None`), keyed by (influencer, category).
pub fn history(
    conn: &mut DbConn,
    influencer_ids: Option<&[i64]>,
    category: Option<&str>,
) -> QueryResult<std::collections::HashMap<(i64, String), CategoryHistory>> {
    use super::schema::{campaigns, commissions, conversions, link_daily, links, refunds};
    use diesel::dsl::sql;
    use diesel::sql_types::BigInt;
    let mut out: std::collections::HashMap<(i64, String), CategoryHistory> =
        std::collections::HashMap::new();

    let ids = influencer_ids.map(<[i64]>::to_vec);
    let category = category.map(str::to_owned);
    // Each query below keeps the rows of these influencers (by its own influencer column)
    // and this category.
    macro_rules! scoped {
        ($q:expr, $who:expr) => {{
            let mut q = $q;
            if let Some(ids) = &ids {
                q = q.filter($who.eq_any(ids.clone()));
            }
            if let Some(c) = &category {
                q = q.filter(campaigns::category.eq(c.clone()));
            }
            q
        }};
    }

    let q = scoped!(
        link_daily::table
            .inner_join(links::table)
            .inner_join(campaigns::table.on(campaigns::id.eq(links::campaign_id)))
            .group_by((links::influencer_id, campaigns::category))
            .select((
                links::influencer_id,
                campaigns::category,
                sql::<BigInt>(
                    "CAST(COALESCE(SUM(link_daily.clicks - link_daily.bot_clicks), 0) AS BIGINT)",
                ),
                sql::<BigInt>("CAST(COALESCE(SUM(link_daily.unique_clicks), 0) AS BIGINT)"),
            ))
            .into_boxed::<super::MultiBackend>(),
        links::influencer_id
    );
    let clicks: Vec<(i64, String, i64, i64)> = q.load(conn)?;
    for (id, cat, clicks, unique) in clicks {
        let h = out.entry((id, cat)).or_default();
        h.clicks = clicks;
        h.unique_clicks = unique;
    }

    let q = scoped!(
        conversions::table
            .inner_join(campaigns::table.on(conversions::campaign_id.eq(campaigns::id.nullable())))
            .filter(conversions::influencer_id.is_not_null())
            .group_by((conversions::influencer_id, campaigns::category))
            .select((
                conversions::influencer_id,
                campaigns::category,
                sql::<BigInt>("CAST(COUNT(*) AS BIGINT)"),
                sql::<BigInt>(
                    "CAST(SUM(CASE WHEN conversions.link_id IS NULL THEN 1 ELSE 0 END) AS BIGINT)",
                ),
            ))
            .into_boxed::<super::MultiBackend>(),
        conversions::influencer_id
    );
    let orders: Vec<(Option<i64>, String, i64, i64)> = q.load(conn)?;
    for (id, cat, orders, by_coupon) in orders {
        if let Some(id) = id {
            let h = out.entry((id, cat)).or_default();
            h.orders = orders;
            h.coupon_orders = by_coupon;
        }
    }

    let q = scoped!(
        commissions::table
            .inner_join(conversions::table)
            .inner_join(campaigns::table.on(campaigns::id.eq(commissions::campaign_id)))
            .filter(commissions::state.ne("rejected"))
            .group_by((
                commissions::influencer_id,
                campaigns::category,
                commissions::currency,
            ))
            .select((
                commissions::influencer_id,
                campaigns::category,
                commissions::currency,
                sql::<BigInt>("CAST(COALESCE(SUM(commissions.amount_minor), 0) AS BIGINT)"),
                sql::<BigInt>(
                    "CAST(COALESCE(SUM(CASE WHEN conversions.link_id IS NULL THEN 0 \
                     ELSE commissions.amount_minor END), 0) AS BIGINT)",
                ),
            ))
            .into_boxed::<super::MultiBackend>(),
        commissions::influencer_id
    );
    let earned: Vec<(i64, String, String, i64, i64)> = q.load(conn)?;

    let q = scoped!(
        refunds::table
            .inner_join(conversions::table.inner_join(commissions::table))
            .inner_join(campaigns::table.on(campaigns::id.eq(commissions::campaign_id)))
            .filter(commissions::state.ne("rejected"))
            .group_by((
                commissions::influencer_id,
                campaigns::category,
                commissions::currency,
            ))
            .select((
                commissions::influencer_id,
                campaigns::category,
                commissions::currency,
                sql::<BigInt>("CAST(COALESCE(SUM(refunds.commission_minor), 0) AS BIGINT)"),
                sql::<BigInt>(
                    "CAST(COALESCE(SUM(CASE WHEN conversions.link_id IS NULL THEN 0 \
                     ELSE refunds.commission_minor END), 0) AS BIGINT)",
                ),
            ))
            .into_boxed::<super::MultiBackend>(),
        commissions::influencer_id
    );
    let taken: std::collections::HashMap<(i64, String, String), (i64, i64)> = q
        .load::<(i64, String, String, i64, i64)>(conn)?
        .into_iter()
        .map(|(id, cat, currency, n, by_clicks)| ((id, cat, currency), (n, by_clicks)))
        .collect();

    for (id, cat, currency, amount, by_clicks) in earned {
        let (back, back_by_clicks) = taken
            .get(&(id, cat.clone(), currency.clone()))
            .copied()
            .unwrap_or((0, 0));
        let h = out.entry((id, cat)).or_default();
        h.earned.push((currency.clone(), amount - back));
        h.earned_by_clicks
            .push((currency, by_clicks - back_by_clicks));
    }
    for h in out.values_mut() {
        h.earned.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        h.earned_by_clicks
            .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    }
    Ok(out)
}
