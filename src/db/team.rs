//! Invitations to join a merchant organisation (only each token's SHA-256 is stored).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::{NewTeamInvitation, TeamInvitation};
use super::schema::team_invitations;

pub fn insert(conn: &mut DbConn, new: &NewTeamInvitation<'_>) -> QueryResult<usize> {
    diesel::insert_into(team_invitations::table)
        .values(new)
        .execute(conn)
}

pub fn find_by_hash(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<TeamInvitation>> {
    team_invitations::table
        .filter(team_invitations::token_hash.eq(token_hash))
        .select(TeamInvitation::as_select())
        .first(conn)
        .optional()
}

/// Invitations neither accepted nor revoked (expired ones included: the page says so),
/// newest first.
pub fn open_for_merchant(conn: &mut DbConn, merchant_id: i64) -> QueryResult<Vec<TeamInvitation>> {
    team_invitations::table
        .filter(team_invitations::merchant_id.eq(merchant_id))
        .filter(team_invitations::accepted_at.is_null())
        .filter(team_invitations::revoked_at.is_null())
        .order(team_invitations::created_at.desc())
        .select(TeamInvitation::as_select())
        .load(conn)
}

/// Invitations the organisation sent since `since` (to limit how many it sends).
pub fn count_since(conn: &mut DbConn, merchant_id: i64, since: NaiveDateTime) -> QueryResult<i64> {
    team_invitations::table
        .filter(team_invitations::merchant_id.eq(merchant_id))
        .filter(team_invitations::created_at.ge(since))
        .count()
        .get_result(conn)
}

/// Marks the invitation accepted by `user_id`. False when it was already used or revoked:
/// the conditional update makes the link single-use even under concurrent requests.
pub fn accept(conn: &mut DbConn, id: i64, user_id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(
        team_invitations::table
            .find(id)
            .filter(team_invitations::accepted_at.is_null())
            .filter(team_invitations::revoked_at.is_null()),
    )
    .set((
        team_invitations::accepted_at.eq(Some(now)),
        team_invitations::user_id.eq(Some(user_id)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Revokes the organisation's open invitations to `email` (all of them when `id` is
/// `None`, else that one). Returns how many were open.
pub fn revoke(
    conn: &mut DbConn,
    merchant_id: i64,
    email: Option<&str>,
    id: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let mut q = diesel::update(team_invitations::table)
        .filter(team_invitations::merchant_id.eq(merchant_id))
        .filter(team_invitations::accepted_at.is_null())
        .filter(team_invitations::revoked_at.is_null())
        .into_boxed();
    if let Some(e) = email {
        q = q.filter(team_invitations::email.eq(e.to_owned()));
    }
    if let Some(i) = id {
        q = q.filter(team_invitations::id.eq(i));
    }
    q.set(team_invitations::revoked_at.eq(Some(now)))
        .execute(conn)
}
