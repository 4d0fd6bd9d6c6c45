//! Accounts as finance and admin see them, and disabling.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use crate::db::models::User;
use crate::db::users::{UserFilter, UserSort};
use crate::db::{self, DbConn};
use crate::domain::account::Role;
use crate::error::{AppError, AppResult};

use super::audit;

pub const PAGE_SIZE: i64 = 25;

/// One row of the accounts list.
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub user: User,
    /// The merchant organisation or the influencer handle.
    pub belongs_to: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AccountPage {
    pub rows: Vec<AccountRow>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
}

pub fn list_accounts(
    conn: &mut DbConn,
    filter: &UserFilter,
    sort: UserSort,
    page: i64,
) -> AppResult<AccountPage> {
    let page = page.max(1);
    let (users, total) = db::users::list(conn, filter, sort, (page - 1) * PAGE_SIZE, PAGE_SIZE)?;
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let mut belongs: HashMap<i64, String> = db::merchants::names_for_users(conn, &ids)?
        .into_iter()
        .collect();
    for (uid, handle) in db::influencers::handles_for_users(conn, &ids)? {
        belongs.insert(uid, format!("@{handle}"));
    }
    let rows = users
        .into_iter()
        .map(|u| AccountRow {
            belongs_to: belongs.remove(&u.id),
            user: u,
        })
        .collect();
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    Ok(AccountPage {
        rows,
        total,
        page,
        pages,
    })
}

pub fn find_user(conn: &mut DbConn, id: i64) -> AppResult<User> {
    db::users::find(conn, id)?.ok_or(AppError::NotFound)
}

/// Disables or re-enables an account. A disabled account cannot log in, and its open
/// sessions end at their next request.
#[tracing::instrument(skip(conn))]
pub fn set_disabled(
    conn: &mut DbConn,
    now: NaiveDateTime,
    actor_id: i64,
    target_id: i64,
    disable: bool,
) -> AppResult<User> {
    if actor_id == target_id {
        return Err(AppError::Conflict(
            "You cannot disable your own account.".to_owned(),
        ));
    }
    let target = find_user(conn, target_id)?;
    if Role::parse(&target.role) == Some(Role::Admin) && disable {
        // Admins can disable each other, but never the last active one.
        let (admins, _) = db::users::list(
            conn,
            &UserFilter {
                role: Some("admin".to_owned()),
                disabled: Some(false),
                search: None,
            },
            UserSort::NewestFirst,
            0,
            2,
        )?;
        if admins.len() < 2 {
            return Err(AppError::Conflict(
                "This is the last active admin account.".to_owned(),
            ));
        }
    }
    db::write_tx(conn, |conn| {
        let at = if disable { Some(now) } else { None };
        db::users::set_disabled(conn, target_id, at, now)?;
        let (action, detail) = if disable {
            ("user.disable", "account disabled")
        } else {
            ("user.enable", "account enabled")
        };
        audit(
            conn,
            now,
            Some(actor_id),
            action,
            ("user", target_id),
            detail,
        )?;
        find_user(conn, target_id)
    })
}

/// Every merchant with its platform fee in basis points, oldest first.
pub fn merchant_fees(conn: &mut DbConn) -> AppResult<Vec<(crate::db::models::Merchant, i32)>> {
    let mut out = Vec::new();
    for m in db::merchants::all(conn)? {
        let fee = db::merchants::fee_bps(conn, m.id)?;
        out.push((m, fee));
    }
    Ok(out)
}

/// An admin sets a merchant's platform fee (a percentage of each commission from now on);
/// audited. Returns the rate set.
pub fn set_platform_fee(
    conn: &mut DbConn,
    now: NaiveDateTime,
    actor_id: i64,
    merchant_id: i64,
    input: &str,
) -> AppResult<crate::domain::rate::RateBps> {
    let raw = if input.trim().is_empty() { "0" } else { input };
    let rate = crate::domain::rate::RateBps::parse_percent(raw).map_err(|e| {
        let mut errors = crate::domain::validate::FieldErrors::new();
        errors.add("fee", e);
        AppError::Validation(errors)
    })?;
    db::merchants::find(conn, merchant_id)?.ok_or(AppError::NotFound)?;
    db::write_tx(conn, |conn| -> AppResult<()> {
        db::merchants::set_fee_bps(conn, merchant_id, rate.bps())?;
        audit(
            conn,
            now,
            Some(actor_id),
            "merchant.fee",
            ("merchant", merchant_id),
            &format!("platform fee set to {}", rate.percent()),
        )?;
        Ok(())
    })?;
    Ok(rate)
}
