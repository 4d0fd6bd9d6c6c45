//! Queries on collaborations and their event history.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::{
    Campaign, Collaboration, CollaborationEvent, Influencer, NewCollaboration,
    NewCollaborationEvent,
};
use super::schema::{campaigns, collaboration_events, collaborations, influencers, merchants};

pub fn insert(conn: &mut DbConn, new: &NewCollaboration<'_>) -> QueryResult<i64> {
    diesel::insert_into(collaborations::table)
        .values(new)
        .returning(collaborations::id)
        .get_result(conn)
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<Collaboration>> {
    on_inner!(conn, |c| collaborations::table
        .find(id)
        .select(Collaboration::as_select())
        .first(c)
        .optional())
}

pub fn find_for_merchant(
    conn: &mut DbConn,
    merchant_id: i64,
    id: i64,
) -> QueryResult<Option<Collaboration>> {
    collaborations::table
        .filter(collaborations::id.eq(id))
        .filter(collaborations::merchant_id.eq(merchant_id))
        .select(Collaboration::as_select())
        .first(conn)
        .optional()
}

pub fn find_for_influencer(
    conn: &mut DbConn,
    influencer_id: i64,
    id: i64,
) -> QueryResult<Option<Collaboration>> {
    collaborations::table
        .filter(collaborations::id.eq(id))
        .filter(collaborations::influencer_id.eq(influencer_id))
        .select(Collaboration::as_select())
        .first(conn)
        .optional()
}

pub fn of_pair(
    conn: &mut DbConn,
    campaign_id: i64,
    influencer_id: i64,
) -> QueryResult<Option<Collaboration>> {
    collaborations::table
        .filter(collaborations::campaign_id.eq(campaign_id))
        .filter(collaborations::influencer_id.eq(influencer_id))
        .select(Collaboration::as_select())
        .first(conn)
        .optional()
}

pub fn for_campaign(
    conn: &mut DbConn,
    campaign_id: i64,
) -> QueryResult<Vec<(Collaboration, Influencer)>> {
    collaborations::table
        .inner_join(influencers::table)
        .filter(collaborations::campaign_id.eq(campaign_id))
        .order(collaborations::updated_at.desc())
        .select((Collaboration::as_select(), Influencer::as_select()))
        .load(conn)
}

/// An influencer's collaborations with their campaigns and merchant names.
pub fn for_influencer(
    conn: &mut DbConn,
    influencer_id: i64,
) -> QueryResult<Vec<(Collaboration, Campaign, String)>> {
    collaborations::table
        .inner_join(campaigns::table.inner_join(merchants::table))
        .filter(collaborations::influencer_id.eq(influencer_id))
        .order(collaborations::updated_at.desc())
        .select((
            Collaboration::as_select(),
            Campaign::as_select(),
            merchants::name,
        ))
        .load(conn)
}

/// Moves the state with a compare-and-set: false when another request moved it first.
pub fn set_state(
    conn: &mut DbConn,
    id: i64,
    from: &str,
    to: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        collaborations::table
            .find(id)
            .filter(collaborations::state.eq(from)),
    )
    .set((
        collaborations::state.eq(to),
        collaborations::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Sets the coupon code; a code another collaboration of the merchant has is a unique
/// violation.
pub fn set_coupon(
    conn: &mut DbConn,
    id: i64,
    code: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(collaborations::table.find(id))
        .set((
            collaborations::coupon_code.eq(Some(code)),
            collaborations::updated_at.eq(now),
        ))
        .execute(conn)
}

pub fn coupon_taken(conn: &mut DbConn, merchant_id: i64, code: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        collaborations::table
            .filter(collaborations::merchant_id.eq(merchant_id))
            .filter(collaborations::coupon_code.eq(code)),
    ))
    .get_result(conn)
}

pub fn add_event(conn: &mut DbConn, new: &NewCollaborationEvent<'_>) -> QueryResult<usize> {
    diesel::insert_into(collaboration_events::table)
        .values(new)
        .execute(conn)
}

pub fn events(conn: &mut DbConn, collaboration_id: i64) -> QueryResult<Vec<CollaborationEvent>> {
    on_inner!(conn, |c| collaboration_events::table
        .filter(collaboration_events::collaboration_id.eq(collaboration_id))
        .order(collaboration_events::id.asc())
        .select(CollaborationEvent::as_select())
        .load(c))
}

/// The merchant's collaboration with this coupon code (codes are stored upper-case).
pub fn by_coupon(
    conn: &mut DbConn,
    merchant_id: i64,
    code: &str,
) -> QueryResult<Option<Collaboration>> {
    on_inner!(conn, |c| collaborations::table
        .filter(collaborations::merchant_id.eq(merchant_id))
        .filter(collaborations::coupon_code.eq(code))
        .select(Collaboration::as_select())
        .first(c)
        .optional())
}
