//! The merchant area. Its first page is the organisation: settings and members.

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;

use super::extract::{CsrfForm, Empty, MerchantUser};
use super::pages::{self, PageCtx, SelectOption, currency_options, fmt_date, fmt_datetime};
use super::session;
use crate::domain::account::MemberRole;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};
use crate::service::merchant::{self, SettingsForm};
use crate::service::team::{self, InviteForm};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(update_settings)
        .service(invite)
        .service(revoke_invitation)
        .service(remove_member);
}

struct MemberRow {
    user_id: i64,
    name: String,
    email: String,
    role: &'static str,
    joined: String,
    is_you: bool,
}

#[derive(Template)]
#[template(path = "merchant/settings.html")]
struct SettingsPage {
    ctx: PageCtx,
    org_name: String,
    slug: String,
    is_owner: bool,
    form: SettingsForm,
    errors: FieldErrors,
    currencies: Vec<SelectOption>,
    members: Vec<MemberRow>,
    /// The invitation form: the address typed and its error.
    invite_email: String,
    invite_errors: FieldErrors,
    invitations: Vec<InvitationRow>,
    history: Vec<(String, String)>,
    /// For the owner: working secrets a former member knows, one sentence each.
    known_secrets: Vec<String>,
    /// One of them is the current postback secret: offer to rotate it.
    offer_rotate: bool,
    /// One of them is an older postback secret still in its grace days: offer to stop it.
    offer_retire: bool,
    /// The Shopify secret is one of them: point to the Integration page.
    shopify_known: bool,
}

/// "Ana", "Ana and Bo", "Ana, Bo and Cy".
fn names(who: &[String]) -> String {
    match who {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The team page's sentence for a secret a former member knows.
fn known_secret_line(k: &team::KnownSecret, tz: chrono_tz::Tz) -> String {
    let who = names(&k.who);
    match &k.postback {
        Some(s) => {
            let works = match s.expires_at {
                Some(until) => format!("it still works until {}", fmt_datetime(until, tz)),
                None => "it is your current secret and still works".to_owned(),
            };
            if k.certain {
                format!("{who} made the postback secret {}…: {works}.", s.prefix)
            } else {
                format!(
                    "The postback secret {}… was made while {who} was on the team, when every member could make one and saw it: they may know it, and {works}.",
                    s.prefix
                )
            }
        }
        None if k.certain => format!(
            "{who} saved the Shopify webhook secret: make a new one in Shopify's admin and save it on the Integration page."
        ),
        None => format!(
            "The Shopify webhook secret was saved while {who} was on the team, when every member could save it: they may know it. Make a new one in Shopify's admin and save it on the Integration page."
        ),
    }
}

struct InvitationRow {
    id: i64,
    email: String,
    sent: String,
    /// "expires 2026-12-13 10:00 UTC+08:00", or "expired" (send it again).
    expires: String,
    expired: bool,
}

/// The team form's state when it is shown again with an error.
struct InviteRetry {
    email: String,
    errors: FieldErrors,
}

async fn settings_page(
    state: &AppState,
    session: &Session,
    user: &MerchantUser,
    form: Option<SettingsForm>,
    errors: FieldErrors,
    retry: Option<InviteRetry>,
) -> AppResult<SettingsPage> {
    let uid = user.0.id;
    let now = state.now();
    let (org, me, members, (open, history), known) = state
        .db(move |conn| {
            let (org, me) = merchant::org_of(conn, uid)?;
            let members = merchant::members(conn, org.id)?;
            let team = team::overview(conn, org.id)?;
            let known = if MemberRole::parse(&me.member_role) == MemberRole::Owner {
                team::secrets_known_to_former_members(conn, now, org.id)?
            } else {
                Vec::new()
            };
            Ok((org, me, members, team, known))
        })
        .await?;
    let tz = user.0.time_zone;
    let (invite_email, invite_errors) = retry.map_or_else(
        || (String::new(), FieldErrors::new()),
        |r| (r.email, r.errors),
    );
    let form = form.unwrap_or_else(|| SettingsForm::from_merchant(&org));
    Ok(SettingsPage {
        ctx: PageCtx::new(session, Some(&user.0), "Organisation", "org"),
        org_name: org.name.clone(),
        slug: org.slug.clone(),
        is_owner: MemberRole::parse(&me.member_role) == MemberRole::Owner,
        known_secrets: known.iter().map(|k| known_secret_line(k, tz)).collect(),
        offer_rotate: known
            .iter()
            .any(|k| k.postback.as_ref().is_some_and(|s| s.expires_at.is_none())),
        offer_retire: known
            .iter()
            .any(|k| k.postback.as_ref().is_some_and(|s| s.expires_at.is_some())),
        shopify_known: known.iter().any(|k| k.postback.is_none()),
        currencies: currency_options(&form.default_currency),
        form,
        errors,
        invite_email,
        invite_errors,
        invitations: open
            .into_iter()
            .map(|i| InvitationRow {
                id: i.id,
                email: i.email,
                sent: fmt_datetime(i.created_at, tz),
                expires: if i.expires_at <= now {
                    "expired: send it again".to_owned()
                } else {
                    format!("until {}", fmt_datetime(i.expires_at, tz))
                },
                expired: i.expires_at <= now,
            })
            .collect(),
        history: history
            .into_iter()
            .map(|e| (fmt_datetime(e.created_at, tz), e.detail))
            .collect(),
        members: members
            .into_iter()
            .map(|(m, u)| MemberRow {
                user_id: u.id,
                is_you: u.id == uid,
                name: u.display_name,
                email: u.email,
                role: if MemberRole::parse(&m.member_role) == MemberRole::Owner {
                    "Owner"
                } else {
                    "Member"
                },
                joined: fmt_date(m.created_at, tz),
            })
            .collect(),
    })
}

#[get("/merchant")]
async fn home(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
) -> AppResult<HttpResponse> {
    let page = settings_page(&state, &session, &user, None, FieldErrors::new(), None).await?;
    pages::ok(&page)
}

#[post("/merchant/settings")]
async fn update_settings(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    form: CsrfForm<SettingsForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, uid, input) = (state.now(), user.0.id, form.clone());
    match state
        .db(move |conn| merchant::update_settings(conn, now, uid, &input))
        .await
    {
        Ok(_) => {
            session::flash(&session, "success", "Organisation settings saved.");
            Ok(pages::redirect("/merchant"))
        }
        Err(AppError::Validation(errors)) => {
            let page = settings_page(&state, &session, &user, Some(form), errors, None).await?;
            pages::invalid(&page)
        }
        Err(e) => Err(e),
    }
}

#[post("/merchant/team/invite")]
async fn invite(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    form: CsrfForm<InviteForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, base, uid, input) = (state.now(), state.base_url.clone(), user.0.id, form.clone());
    match state
        .db(move |conn| team::invite(conn, now, &base, uid, &input))
        .await
    {
        Ok(email) => {
            state.wake_mailer();
            session::flash(
                &session,
                "success",
                format!(
                    "Invitation sent to {email}. The link works for {} days.",
                    team::INVITATION_TTL_DAYS
                ),
            );
            Ok(pages::redirect("/merchant#team"))
        }
        Err(AppError::Validation(errors)) => {
            let retry = InviteRetry {
                email: form.email,
                errors,
            };
            let page = settings_page(
                &state,
                &session,
                &user,
                None,
                FieldErrors::new(),
                Some(retry),
            )
            .await?;
            pages::invalid(&page)
        }
        Err(e) => Err(e),
    }
}

#[post("/merchant/team/invitations/{id}/revoke")]
async fn revoke_invitation(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    let (now, uid, id) = (state.now(), user.0.id, path.into_inner());
    state
        .db(move |conn| team::revoke(conn, now, uid, id))
        .await?;
    session::flash(
        &session,
        "success",
        "Invitation withdrawn: its link no longer works.",
    );
    Ok(pages::redirect("/merchant#team"))
}

#[post("/merchant/team/members/{id}/remove")]
async fn remove_member(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    let (now, uid, id) = (state.now(), user.0.id, path.into_inner());
    match state
        .db(move |conn| {
            let name = team::remove(conn, now, uid, id)?;
            let org = merchant::owned_org(conn, uid)?;
            let known = team::secrets_known_to_former_members(conn, now, org.id)?;
            Ok((name, !known.is_empty()))
        })
        .await
    {
        Ok((name, known)) => session::flash(
            &session,
            "success",
            if known {
                format!(
                    "{name} was removed from the organisation and signed out. They know integration secrets that still work: see below."
                )
            } else {
                format!("{name} was removed from the organisation and signed out.")
            },
        ),
        Err(AppError::Conflict(msg)) => session::flash(&session, "error", msg),
        Err(e) => return Err(e),
    }
    Ok(pages::redirect("/merchant#team"))
}
