//! Every user's own account: name, time zone, password.

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;

use super::extract::{ClientAddress, CsrfForm, CurrentUser, Empty};
use super::pages::{self, PageCtx, fmt_datetime, time_zone_options};
use super::session;
use crate::db;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};
use crate::service::accounts::{self, AccountForm, ChangePasswordForm};
use crate::service::sessions;
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(show)
        .service(update)
        .service(change_password)
        .service(sign_out_session)
        .service(sign_out_others);
}

struct SessionRowView {
    id: i64,
    device: String,
    created: String,
    seen: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "account/settings.html")]
struct AccountPage {
    ctx: PageCtx,
    email: String,
    role_label: &'static str,
    form: AccountForm,
    errors: FieldErrors,
    pw_errors: FieldErrors,
    zones: pages::GroupedOptions,
    sessions: Vec<SessionRowView>,
    session_days: i64,
}

async fn page(
    state: &AppState,
    session: &Session,
    user: &CurrentUser,
    form: AccountForm,
    errors: FieldErrors,
    pw_errors: FieldErrors,
) -> AppResult<AccountPage> {
    let (now, uid) = (state.now(), user.id);
    let live = state.db(move |conn| sessions::list(conn, now, uid)).await?;
    let tz = user.time_zone;
    Ok(AccountPage {
        ctx: PageCtx::new(session, Some(user), "Account settings", "account"),
        email: user.email.clone(),
        role_label: user.role.label(),
        zones: time_zone_options(&form.time_zone),
        form,
        errors,
        pw_errors,
        sessions: live
            .iter()
            .map(|s| SessionRowView {
                id: s.id,
                device: sessions::device_label(&s.user_agent),
                created: fmt_datetime(s.created_at, tz),
                seen: fmt_datetime(s.last_seen_at, tz),
                current: s.id == user.session_id,
            })
            .collect(),
        session_days: sessions::SESSION_DAYS,
    })
}

#[get("/account")]
async fn show(
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
) -> AppResult<HttpResponse> {
    let form = AccountForm {
        display_name: user.name.clone(),
        time_zone: user.time_zone.name().to_owned(),
    };
    pages::ok(
        &page(
            &state,
            &session,
            &user,
            form,
            FieldErrors::new(),
            FieldErrors::new(),
        )
        .await?,
    )
}

/// Signs out one of the user's other sessions.
#[post("/account/sessions/{id}/sign-out")]
async fn sign_out_session(
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    path: web::Path<i64>,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    let (now, uid, id) = (state.now(), user.id, path.into_inner());
    let done = state
        .db(move |conn| sessions::sign_out(conn, now, uid, id))
        .await?;
    if done {
        session::flash(&session, "success", "That session was signed out.");
    } else {
        session::flash(&session, "info", "That session had already ended.");
    }
    Ok(pages::redirect("/account#sessions"))
}

/// Signs out every session of the user but this one.
#[post("/account/sessions/sign-out-others")]
async fn sign_out_others(
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    let (now, uid, keep) = (state.now(), user.id, user.session_id);
    let n = state
        .db(move |conn| {
            crate::db::write_tx(conn, |conn| {
                sessions::sign_out_others(
                    conn,
                    now,
                    uid,
                    Some(keep),
                    "signed out from the account page",
                )
            })
        })
        .await?;
    session::flash(
        &session,
        "success",
        match n {
            0 => "No other session was signed in.".to_owned(),
            1 => "1 other session was signed out.".to_owned(),
            n => format!("{n} other sessions were signed out."),
        },
    );
    Ok(pages::redirect("/account#sessions"))
}

#[post("/account")]
async fn update(
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    form: CsrfForm<AccountForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, uid, input) = (state.now(), user.id, form.clone());
    match state
        .db(move |conn| accounts::update_account(conn, now, uid, &input))
        .await
    {
        Ok(()) => {
            session::flash(&session, "success", "Your account settings were saved.");
            Ok(pages::redirect("/account"))
        }
        Err(AppError::Validation(errors)) => {
            pages::invalid(&page(&state, &session, &user, form, errors, FieldErrors::new()).await?)
        }
        Err(e) => Err(e),
    }
}

#[post("/account/password")]
async fn change_password(
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    address: ClientAddress,
    form: CsrfForm<ChangePasswordForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, base, uid, sid) = (
        state.now(),
        state.base_url.clone(),
        user.id,
        user.session_id,
    );
    match state
        .db(move |conn| {
            accounts::change_password(conn, now, &base, uid, Some(sid), &address.0, &form)
        })
        .await
    {
        Ok(updated) => {
            state.wake_mailer();
            session::refresh_version(&session, &updated);
            session::flash(
                &session,
                "success",
                "Your password was changed. Other sessions were signed out.",
            );
            Ok(pages::redirect("/account"))
        }
        Err(AppError::Validation(errors)) => {
            let uid = user.id;
            let current = state
                .db(move |conn| Ok(db::users::find(conn, uid)?))
                .await?;
            let form = AccountForm {
                display_name: current
                    .as_ref()
                    .map_or(user.name.clone(), |u| u.display_name.clone()),
                time_zone: user.time_zone.name().to_owned(),
            };
            pages::invalid(&page(&state, &session, &user, form, FieldErrors::new(), errors).await?)
        }
        Err(e) => Err(e),
    }
}
