//! A merchant organisation: its settings and members.

use chrono::NaiveDateTime;

use crate::db::models::{Merchant, MerchantMember, User};
use crate::db::{self, DbConn};
use crate::domain::account::MemberRole;
use crate::domain::money::Currency;
use crate::domain::validate::{self, FieldErrors};
use crate::error::{AppError, AppResult};

use super::audit;

/// The organisation a merchant user belongs to, with the user's membership.
pub fn org_of(conn: &mut DbConn, user_id: i64) -> AppResult<(Merchant, MerchantMember)> {
    let member = db::merchants::membership_of(conn, user_id)?.ok_or(AppError::Forbidden)?;
    let merchant = db::merchants::find(conn, member.merchant_id)?.ok_or(AppError::NotFound)?;
    Ok((merchant, member))
}

pub fn members(conn: &mut DbConn, merchant_id: i64) -> AppResult<Vec<(MerchantMember, User)>> {
    Ok(db::merchants::members(conn, merchant_id)?)
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct SettingsForm {
    pub name: String,
    pub website: String,
    pub default_currency: String,
}

impl SettingsForm {
    pub fn from_merchant(m: &Merchant) -> Self {
        SettingsForm {
            name: m.name.clone(),
            website: m.website.clone().unwrap_or_default(),
            default_currency: m.default_currency.clone(),
        }
    }
}

#[tracing::instrument(skip(conn, form))]
pub fn update_settings(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    form: &SettingsForm,
) -> AppResult<Merchant> {
    let (merchant, member) = org_of(conn, user_id)?;
    if MemberRole::parse(&member.member_role) != MemberRole::Owner {
        return Err(AppError::Forbidden);
    }
    let mut errors = FieldErrors::new();
    let name = errors.check("name", validate::org_name(&form.name));
    let website = errors.check("website", validate::website(&form.website));
    let currency = errors.check(
        "default_currency",
        Currency::parse(&form.default_currency).map_err(|e| e.to_string()),
    );
    let (Some(name), Some(website), Some(currency)) = (name, website, currency) else {
        return Err(AppError::Validation(errors));
    };
    db::write_tx(conn, |conn| {
        db::merchants::update_settings(
            conn,
            merchant.id,
            &name,
            website.as_deref(),
            currency.code(),
            now,
        )?;
        audit(
            conn,
            now,
            Some(user_id),
            "merchant.settings",
            ("merchant", merchant.id),
            "organisation settings updated",
        )?;
        db::merchants::find(conn, merchant.id)?.ok_or(AppError::NotFound)
    })
}
