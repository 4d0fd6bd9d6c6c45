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
    let (org, me, members, (open, history)) = state
        .db(move |conn| {
            let (org, me) = merchant::org_of(conn, uid)?;
            let members = merchant::members(conn, org.id)?;
            let team = team::overview(conn, org.id)?;
            Ok((org, me, members, team))
        })
        .await?;
    let tz = user.0.time_zone;
    let now = state.now();
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
    match state.db(move |conn| team::remove(conn, now, uid, id)).await {
        Ok(name) => session::flash(
            &session,
            "success",
            format!("{name} was removed from the organisation and signed out."),
        ),
        Err(AppError::Conflict(msg)) => session::flash(&session, "error", msg),
        Err(e) => return Err(e),
    }
    Ok(pages::redirect("/merchant#team"))
}
