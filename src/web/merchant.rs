//! The merchant area. Its first page is the organisation: settings and members.

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;

use super::extract::{CsrfForm, MerchantUser};
use super::pages::{self, PageCtx, SelectOption, currency_options, fmt_date};
use super::session;
use crate::domain::account::MemberRole;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};
use crate::service::merchant::{self, SettingsForm};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(home).service(update_settings);
}

struct MemberRow {
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
}

async fn settings_page(
    state: &AppState,
    session: &Session,
    user: &MerchantUser,
    form: Option<SettingsForm>,
    errors: FieldErrors,
) -> AppResult<SettingsPage> {
    let uid = user.0.id;
    let (org, me, members) = state
        .db(move |conn| {
            let (org, me) = merchant::org_of(conn, uid)?;
            let members = merchant::members(conn, org.id)?;
            Ok((org, me, members))
        })
        .await?;
    let tz = user.0.time_zone;
    let form = form.unwrap_or_else(|| SettingsForm::from_merchant(&org));
    Ok(SettingsPage {
        ctx: PageCtx::new(session, Some(&user.0), "Organisation", "org"),
        org_name: org.name.clone(),
        slug: org.slug.clone(),
        is_owner: MemberRole::parse(&me.member_role) == MemberRole::Owner,
        currencies: currency_options(&form.default_currency),
        form,
        errors,
        members: members
            .into_iter()
            .map(|(m, u)| MemberRow {
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
    let page = settings_page(&state, &session, &user, None, FieldErrors::new()).await?;
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
            let page = settings_page(&state, &session, &user, Some(form), errors).await?;
            pages::invalid(&page)
        }
        Err(e) => Err(e),
    }
}
