//! A merchant organisation's team: the owner invites teammates by email, an invitee joins by
//! the link (setting a name and password), and the owner removes members. Every step is in
//! the audit log under the organisation.

use base64::Engine;
use chrono::{NaiveDateTime, TimeDelta};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::models::{Merchant, NewMerchantMember, NewTeamInvitation, TeamInvitation, User};
use crate::db::{self, DbConn};
use crate::domain::account::{MemberRole, Role};
use crate::domain::email_address::EmailAddress;
use crate::domain::password;
use crate::domain::validate::{self, FieldErrors};
use crate::error::{AppError, AppResult};

use super::{audit, enqueue_email};

/// How long an invitation link works.
pub const INVITATION_TTL_DAYS: i64 = 7;
/// Invitations one organisation may send in a day (so the form cannot flood inboxes).
pub const MAX_INVITATIONS_PER_DAY: i64 = 20;

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

use super::merchant::owned_org;

/// A merchant account that belongs to no organisation any more (a removed teammate): an
/// invitation may bring it back.
fn is_removed_teammate(conn: &mut DbConn, user: &User) -> AppResult<bool> {
    Ok(Role::parse(&user.role) == Some(Role::Merchant)
        && db::merchants::membership_of(conn, user.id)?.is_none())
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct InviteForm {
    pub email: String,
}

/// Emails an invitation to join the owner's organisation; returns the address. A new
/// invitation to the same address replaces the open one.
#[tracing::instrument(skip_all)]
pub fn invite(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    owner_id: i64,
    form: &InviteForm,
) -> AppResult<String> {
    let org = owned_org(conn, owner_id)?;
    let field_error = |msg: &str| {
        let mut errors = FieldErrors::new();
        errors.add("email", msg);
        AppError::Validation(errors)
    };
    let email = EmailAddress::parse(&form.email).map_err(field_error)?;
    if let Some(user) = db::users::find_by_email(conn, email.as_str())? {
        let member = db::merchants::membership_of(conn, user.id)?;
        if member.as_ref().is_some_and(|m| m.merchant_id == org.id) {
            return Err(field_error("This person is already a member."));
        }
        if !is_removed_teammate(conn, &user)? {
            return Err(field_error(
                "This address already has a Tandem account, and an account belongs to one organisation: invite another address.",
            ));
        }
    }
    if db::team::count_since(conn, org.id, now - TimeDelta::days(1))? >= MAX_INVITATIONS_PER_DAY {
        return Err(field_error(&format!(
            "Your organisation has sent {MAX_INVITATIONS_PER_DAY} invitations today; try again tomorrow."
        )));
    }
    let owner = db::users::find(conn, owner_id)?.ok_or(AppError::NotFound)?;
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let expires_at = now + TimeDelta::days(INVITATION_TTL_DAYS);
    let url = format!("{base_url}/join?token={token}");
    let lines = vec![
        format!(
            "{} invited you to join {} on Tandem, to manage its products, campaigns, influencers and orders with them.",
            owner.display_name, org.name
        ),
        format!(
            "Choose your name and a password with the link below. It works once and until {} (UTC); after that, ask {} for a new one.",
            expires_at.format("%Y-%m-%d %H:%M"),
            owner.display_name
        ),
    ];
    let mail = crate::email::templates::notice(
        "there",
        &format!("Join {} on Tandem", org.name),
        &lines,
        &url,
        &format!("Join {}", org.name),
    )?;
    db::write_tx(conn, |conn| {
        db::team::revoke(conn, org.id, Some(email.as_str()), None, now)?;
        db::team::insert(
            conn,
            &NewTeamInvitation {
                merchant_id: org.id,
                email: email.as_str(),
                token_hash: &hash_token(&token),
                invited_by: owner_id,
                created_at: now,
                expires_at,
            },
        )?;
        enqueue_email(conn, now, email.as_str(), &mail)?;
        audit(
            conn,
            now,
            Some(owner_id),
            "team.invite",
            ("merchant", org.id),
            &format!("invited {}", email.as_str()),
        )?;
        Ok(email.as_str().to_owned())
    })
}

/// Withdraws an open invitation of the owner's organisation.
pub fn revoke(
    conn: &mut DbConn,
    now: NaiveDateTime,
    owner_id: i64,
    invitation_id: i64,
) -> AppResult<()> {
    let org = owned_org(conn, owner_id)?;
    db::write_tx(conn, |conn| {
        let open = db::team::open_for_merchant(conn, org.id)?;
        let Some(inv) = open.iter().find(|i| i.id == invitation_id) else {
            return Err(AppError::NotFound);
        };
        db::team::revoke(conn, org.id, None, Some(inv.id), now)?;
        audit(
            conn,
            now,
            Some(owner_id),
            "team.revoke",
            ("merchant", org.id),
            &format!("withdrew the invitation to {}", inv.email),
        )?;
        Ok(())
    })
}

/// Removes a member: they leave the organisation, their account is disabled and every
/// session of theirs ends. Returns their name.
pub fn remove(
    conn: &mut DbConn,
    now: NaiveDateTime,
    owner_id: i64,
    member_user_id: i64,
) -> AppResult<String> {
    let org = owned_org(conn, owner_id)?;
    if member_user_id == owner_id {
        return Err(AppError::Conflict(
            "The owner cannot remove themselves.".to_owned(),
        ));
    }
    let member = db::merchants::membership_of(conn, member_user_id)?
        .filter(|m| m.merchant_id == org.id)
        .ok_or(AppError::NotFound)?;
    let user = db::users::find(conn, member_user_id)?.ok_or(AppError::NotFound)?;
    db::write_tx(conn, |conn| {
        db::merchants::remove_member(conn, org.id, member.user_id)?;
        db::users::set_disabled(conn, user.id, Some(now), now)?;
        db::sessions::revoke_all_but(conn, user.id, None, now)?;
        audit(
            conn,
            now,
            Some(owner_id),
            "team.remove",
            ("merchant", org.id),
            &format!("removed {} <{}>", user.display_name, user.email),
        )?;
        Ok(user.display_name.clone())
    })
}

/// An invitation link that still works: the organisation, the address and who sent it.
/// Used, withdrawn, expired and unknown links all read as `None`, so links cannot be probed.
pub struct OpenInvitation {
    pub invitation: TeamInvitation,
    pub org: Merchant,
    pub inviter: String,
}

pub fn check(
    conn: &mut DbConn,
    now: NaiveDateTime,
    token: &str,
) -> AppResult<Option<OpenInvitation>> {
    if token.is_empty() || token.len() > 100 {
        return Ok(None);
    }
    let Some(inv) = db::team::find_by_hash(conn, &hash_token(token))? else {
        return Ok(None);
    };
    if inv.accepted_at.is_some() || inv.revoked_at.is_some() || inv.expires_at <= now {
        return Ok(None);
    }
    let org = db::merchants::find(conn, inv.merchant_id)?.ok_or(AppError::NotFound)?;
    let inviter = db::users::find(conn, inv.invited_by)?
        .map(|u| u.display_name)
        .unwrap_or_default();
    Ok(Some(OpenInvitation {
        invitation: inv,
        org,
        inviter,
    }))
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct JoinForm {
    pub token: String,
    pub name: String,
    pub password: String,
    pub time_zone: String,
}

/// Joins the organisation by an open invitation: a new merchant account (or a removed
/// teammate's, enabled again) with the name and password given, as a member. `None` when the
/// link no longer works.
#[tracing::instrument(skip_all)]
pub fn join(conn: &mut DbConn, now: NaiveDateTime, form: &JoinForm) -> AppResult<Option<User>> {
    let Some(OpenInvitation {
        invitation, org, ..
    }) = check(conn, now, &form.token)?
    else {
        return Ok(None);
    };
    let mut errors = FieldErrors::new();
    let name = errors.check("name", validate::name(&form.name, "your name"));
    let pw_ok = errors.check(
        "password",
        password::check_new(
            &form.password,
            &password::Known {
                email: &invitation.email,
                org_name: Some(&org.name),
                names: &[&form.name],
            },
        ),
    );
    let fallback = validate::currency_time_zone(&org.default_currency).unwrap_or("UTC");
    let tz = errors.check(
        "time_zone",
        validate::time_zone_or(&form.time_zone, fallback),
    );
    let (Some(name), Some(()), Some(tz)) = (name, pw_ok, tz) else {
        return Err(AppError::Validation(errors));
    };
    let existing = db::users::find_by_email(conn, &invitation.email)?;
    if let Some(u) = &existing
        && !is_removed_teammate(conn, u)?
    {
        // The address signed up elsewhere since the invitation was sent.
        let mut errors = FieldErrors::new();
        errors.add(
            "name",
            "This address has a Tandem account of its own now; ask for an invitation to another address.",
        );
        return Err(AppError::Validation(errors));
    }
    let hash = password::hash(&form.password)?;
    db::write_tx(conn, |conn| {
        let user = match &existing {
            Some(u) => {
                db::users::set_password(conn, u.id, &hash, now)?;
                db::users::update_account(conn, u.id, &name, &tz, now)?;
                db::users::set_disabled(conn, u.id, None, now)?;
                db::users::find(conn, u.id)?.ok_or(AppError::NotFound)?
            }
            None => super::accounts::insert_user(
                conn,
                now,
                &EmailAddress::parse(&invitation.email)
                    .map_err(|e| AppError::BadRequest(e.to_owned()))?,
                &hash,
                Role::Merchant.as_str(),
                &name,
                &tz,
            )?,
        };
        if !db::team::accept(conn, invitation.id, user.id, now)? {
            // Used by a concurrent request a moment ago.
            return Ok(None);
        }
        db::merchants::add_member(
            conn,
            &NewMerchantMember {
                merchant_id: org.id,
                user_id: user.id,
                member_role: MemberRole::Member.as_str(),
                created_at: now,
            },
        )?;
        audit(
            conn,
            now,
            Some(user.id),
            "team.join",
            ("merchant", org.id),
            &format!(
                "{} <{}> joined by invitation",
                user.display_name, user.email
            ),
        )?;
        Ok(Some(user))
    })
}

/// The organisation's open invitations and its team history (newest first).
pub fn overview(
    conn: &mut DbConn,
    merchant_id: i64,
) -> AppResult<(Vec<TeamInvitation>, Vec<crate::db::models::AuditEvent>)> {
    let open = db::team::open_for_merchant(conn, merchant_id)?;
    let history = db::audit::for_subject(conn, "merchant", merchant_id)?
        .into_iter()
        .filter(|e| e.action.starts_with("team.") || e.action == "signup")
        .take(20)
        .collect();
    Ok((open, history))
}

/// A working integration secret that a former team member knows, or may know.
#[derive(Debug, Clone)]
pub struct KnownSecret {
    /// The postback secret (`None`: the Shopify webhook secret).
    pub postback: Option<crate::db::models::PostbackSecret>,
    /// The former members' names.
    pub who: Vec<String>,
    /// They made or saved it (else it was made while they were on the team, when every
    /// member could make secrets and saw each one made).
    pub certain: bool,
}

/// The `<email>` in an audit detail such as "removed Ana Li <ana@shop.example>".
fn email_in(detail: &str) -> Option<&str> {
    let start = detail.rfind('<')? + 1;
    let end = detail[start..].find('>')? + start;
    Some(&detail[start..end])
}

/// The working integration secrets of the organisation that a former member knows: those
/// they made or saved, and those made before this was kept while they were on the team.
/// What the owner is shown after removing someone, with a way to rotate, until none is left.
pub fn secrets_known_to_former_members(
    conn: &mut DbConn,
    now: NaiveDateTime,
    merchant_id: i64,
) -> AppResult<Vec<KnownSecret>> {
    let members = db::merchants::members(conn, merchant_id)?;
    let current: std::collections::HashSet<i64> = members.iter().map(|(m, _)| m.user_id).collect();
    // Someone removed and invited back is on the team again.
    let emails: std::collections::HashSet<&str> =
        members.iter().map(|(_, u)| u.email.as_str()).collect();
    let events = db::audit::for_subject(conn, "merchant", merchant_id)?;
    // Each removal: (name, joined at (if known), removed at).
    let removals: Vec<(String, Option<NaiveDateTime>, NaiveDateTime)> = events
        .iter()
        .filter(|e| e.action == "team.remove")
        .filter(|e| email_in(&e.detail).is_none_or(|m| !emails.contains(m)))
        .map(|e| {
            let email = email_in(&e.detail);
            let joined = events
                .iter()
                .filter(|j| j.action == "team.join" && j.created_at <= e.created_at)
                .filter(|j| email.is_some() && email_in(&j.detail) == email)
                .map(|j| j.created_at)
                .max();
            let name = e
                .detail
                .strip_prefix("removed ")
                .unwrap_or(&e.detail)
                .split(" <")
                .next()
                .unwrap_or_default()
                .to_owned();
            (name, joined, e.created_at)
        })
        .collect();
    let on_team_at = |at: NaiveDateTime| -> Vec<String> {
        let mut who: Vec<String> = removals
            .iter()
            .filter(|(_, joined, removed)| joined.is_none_or(|j| j <= at) && at < *removed)
            .map(|(name, _, _)| name.clone())
            .collect();
        who.dedup();
        who
    };
    let name_of = |conn: &mut DbConn, id: i64| -> AppResult<String> {
        Ok(db::users::find(conn, id)?
            .map(|u| u.display_name)
            .unwrap_or_else(|| format!("user {id}")))
    };
    let mut known = Vec::new();
    for s in db::orders::valid_secrets(conn, merchant_id, now)? {
        let (who, certain) = match s.created_by {
            Some(maker) if current.contains(&maker) => continue,
            Some(maker) => (vec![name_of(conn, maker)?], true),
            None => (on_team_at(s.created_at), false),
        };
        if !who.is_empty() {
            known.push(KnownSecret {
                postback: Some(s),
                who,
                certain,
            });
        }
    }
    let shopify = db::orders::shopify_secret_maker(conn, merchant_id)?;
    if let Some((set_by, set_at)) = shopify {
        let (who, certain) = match (set_by, set_at) {
            (Some(by), _) if current.contains(&by) => (Vec::new(), true),
            (Some(by), _) => (vec![name_of(conn, by)?], true),
            (None, Some(at)) => (on_team_at(at), false),
            (None, None) => {
                let mut who: Vec<String> = removals.iter().map(|r| r.0.clone()).collect();
                who.dedup();
                (who, false)
            }
        };
        if !who.is_empty() {
            known.push(KnownSecret {
                postback: None,
                who,
                certain,
            });
        }
    }
    Ok(known)
}
