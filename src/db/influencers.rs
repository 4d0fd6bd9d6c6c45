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
