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
