//! Every user's own account: name, time zone, password.

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;

use super::extract::{CsrfForm, CurrentUser};
use super::pages::{self, PageCtx, SelectOption, time_zone_options};
use super::session;
use crate::db;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};
use crate::service::accounts::{self, AccountForm, ChangePasswordForm};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(show).service(update).service(change_password);
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
    zones: Vec<SelectOption>,
}

fn page(
    session: &Session,
    user: &CurrentUser,
    form: AccountForm,
    errors: FieldErrors,
    pw_errors: FieldErrors,
) -> AccountPage {
    AccountPage {
        ctx: PageCtx::new(session, Some(user), "Account settings", "account"),
        email: user.email.clone(),
        role_label: user.role.label(),
        zones: time_zone_options(&form.time_zone),
        form,
        errors,
        pw_errors,
    }
}

#[get("/account")]
async fn show(session: Session, user: CurrentUser) -> AppResult<HttpResponse> {
    let form = AccountForm {
        display_name: user.name.clone(),
        time_zone: user.time_zone.name().to_owned(),
    };
    pages::ok(&page(
        &session,
        &user,
        form,
        FieldErrors::new(),
        FieldErrors::new(),
    ))
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
            pages::invalid(&page(&session, &user, form, errors, FieldErrors::new()))
        }
        Err(e) => Err(e),
    }
}

#[post("/account/password")]
async fn change_password(
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    form: CsrfForm<ChangePasswordForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, base, uid) = (state.now(), state.base_url.clone(), user.id);
    match state
        .db(move |conn| accounts::change_password(conn, now, &base, uid, &form))
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
            pages::invalid(&page(&session, &user, form, FieldErrors::new(), errors))
        }
        Err(e) => Err(e),
    }
}
