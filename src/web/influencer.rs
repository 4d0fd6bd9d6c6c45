//! The influencer area. Its first page is the profile.

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;

use super::extract::{CsrfForm, InfluencerUser};
use super::pages::{self, PageCtx, SelectOption, country_options, fmt_date};
use super::session;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};
use crate::service::influencer::{self, ProfileForm};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(home).service(update_profile);
}

#[derive(Template)]
#[template(path = "influencer/profile.html")]
struct ProfilePage {
    ctx: PageCtx,
    handle: String,
    joined: String,
    complete: bool,
    form: ProfileForm,
    errors: FieldErrors,
    countries: Vec<SelectOption>,
}

async fn profile_page(
    state: &AppState,
    session: &Session,
    user: &InfluencerUser,
    form: Option<ProfileForm>,
    errors: FieldErrors,
) -> AppResult<ProfilePage> {
    let uid = user.0.id;
    let profile = state
        .db(move |conn| influencer::profile_of(conn, uid))
        .await?;
    let form = form.unwrap_or_else(|| ProfileForm::from_profile(&profile));
    Ok(ProfilePage {
        ctx: PageCtx::new(session, Some(&user.0), "Your profile", "profile"),
        handle: profile.handle.clone(),
        joined: fmt_date(profile.created_at, user.0.time_zone),
        complete: !profile.bio.is_empty() && profile.country.is_some(),
        countries: country_options(&form.country),
        form,
        errors,
    })
}

#[get("/influencer")]
async fn home(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
) -> AppResult<HttpResponse> {
    let page = profile_page(&state, &session, &user, None, FieldErrors::new()).await?;
    pages::ok(&page)
}

#[post("/influencer/profile")]
async fn update_profile(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    form: CsrfForm<ProfileForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, uid, input) = (state.now(), user.0.id, form.clone());
    match state
        .db(move |conn| influencer::update_profile(conn, now, uid, &input))
        .await
    {
        Ok(_) => {
            session::flash(&session, "success", "Profile saved.");
            Ok(pages::redirect("/influencer"))
        }
        Err(AppError::Validation(errors)) => {
            let page = profile_page(&state, &session, &user, Some(form), errors).await?;
            pages::invalid(&page)
        }
        Err(e) => Err(e),
    }
}
