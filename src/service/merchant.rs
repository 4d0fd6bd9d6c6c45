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

/// The organisation of `user_id`, who must be its owner (else 403): settings, the team and
/// the integration secrets are the owner's.
pub fn owned_org(conn: &mut DbConn, user_id: i64) -> AppResult<Merchant> {
    let (org, me) = org_of(conn, user_id)?;
    if MemberRole::parse(&me.member_role) != MemberRole::Owner {
        return Err(AppError::Forbidden);
    }
    Ok(org)
}

/// Like [`owned_org`], for the integration secrets: a member is refused with a page that
/// says so and who the owner is.
pub fn org_for_secrets(conn: &mut DbConn, user_id: i64) -> AppResult<Merchant> {
    let (org, me) = org_of(conn, user_id)?;
    if MemberRole::parse(&me.member_role) == MemberRole::Owner {
        return Ok(org);
    }
    let owner = owner_name(conn, org.id)?;
    Err(AppError::OwnerOnly(format!(
        "Only {owner}, the owner of {}, can make, stop or save the integration secrets: whoever makes one sees it. Ask them if a secret needs changing.",
        org.name
    )))
}

/// The display name of the organisation's owner.
pub fn owner_name(conn: &mut DbConn, merchant_id: i64) -> AppResult<String> {
    Ok(db::merchants::members(conn, merchant_id)?
        .into_iter()
        .find(|(m, _)| MemberRole::parse(&m.member_role) == MemberRole::Owner)
        .map(|(_, u)| u.display_name)
        .unwrap_or_else(|| "the owner".to_owned()))
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
