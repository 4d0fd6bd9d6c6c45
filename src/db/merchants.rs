//! Queries on merchant organisations and their members.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::{Merchant, MerchantMember, NewMerchant, NewMerchantMember, User};
use super::schema::{merchant_members, merchants, users};

pub fn insert(conn: &mut DbConn, new: &NewMerchant<'_>) -> QueryResult<Merchant> {
    diesel::insert_into(merchants::table)
        .values(new)
        .execute(conn)?;
    merchants::table
        .filter(merchants::slug.eq(new.slug))
        .select(Merchant::as_select())
        .first(conn)
}

pub fn slug_taken(conn: &mut DbConn, slug: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        merchants::table.filter(merchants::slug.eq(slug)),
    ))
    .get_result(conn)
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<Merchant>> {
    merchants::table
        .find(id)
        .select(Merchant::as_select())
        .first(conn)
        .optional()
}

pub fn add_member(conn: &mut DbConn, new: &NewMerchantMember<'_>) -> QueryResult<usize> {
    diesel::insert_into(merchant_members::table)
        .values(new)
        .execute(conn)
}

/// Takes a user out of the organisation (the owner removing a teammate).
pub fn remove_member(conn: &mut DbConn, merchant_id: i64, user_id: i64) -> QueryResult<usize> {
    diesel::delete(
        merchant_members::table
            .filter(merchant_members::merchant_id.eq(merchant_id))
            .filter(merchant_members::user_id.eq(user_id)),
    )
    .execute(conn)
}

/// The membership (and so the organisation) of a merchant user.
pub fn membership_of(conn: &mut DbConn, user_id: i64) -> QueryResult<Option<MerchantMember>> {
    merchant_members::table
        .filter(merchant_members::user_id.eq(user_id))
        .select(MerchantMember::as_select())
        .first(conn)
        .optional()
}

pub fn members(conn: &mut DbConn, merchant_id: i64) -> QueryResult<Vec<(MerchantMember, User)>> {
    merchant_members::table
        .inner_join(users::table)
        .filter(merchant_members::merchant_id.eq(merchant_id))
        .order(merchant_members::created_at.asc())
        .select((MerchantMember::as_select(), User::as_select()))
        .load(conn)
}

pub fn update_settings(
    conn: &mut DbConn,
    id: i64,
    name: &str,
    website: Option<&str>,
    default_currency: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(merchants::table.find(id))
        .set((
            merchants::name.eq(name),
            merchants::website.eq(website),
            merchants::default_currency.eq(default_currency),
            merchants::updated_at.eq(now),
        ))
        .execute(conn)
}

/// Organisation names for a set of users (for account lists).
pub fn names_for_users(conn: &mut DbConn, user_ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    merchant_members::table
        .inner_join(merchants::table)
        .filter(merchant_members::user_id.eq_any(user_ids))
        .select((merchant_members::user_id, merchants::name))
        .load(conn)
}

/// The merchant's platform fee in basis points of each commission (set by an admin).
pub fn fee_bps(conn: &mut DbConn, id: i64) -> QueryResult<i32> {
    on_inner!(conn, |c| merchants::table
        .find(id)
        .select(merchants::fee_bps)
        .first(c))
}

pub fn set_fee_bps(conn: &mut DbConn, id: i64, bps: i32) -> QueryResult<usize> {
    diesel::update(merchants::table.find(id))
        .set(merchants::fee_bps.eq(bps))
        .execute(conn)
}

/// Every merchant, oldest first (for the command line).
pub fn all(conn: &mut DbConn) -> QueryResult<Vec<Merchant>> {
    merchants::table
        .order(merchants::id.asc())
        .select(Merchant::as_select())
        .load(conn)
}
