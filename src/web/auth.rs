//! Sign-up, login, logout and the forgotten-password flow.

use actix_session::Session;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::extract::{ClientAddress, CsrfForm, Empty, MaybeUser};
use super::pages::{self, PageCtx, SelectOption, currency_options};
use super::{safe_next, session};
use crate::domain::account::Role;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};
use crate::service::accounts::{
    self, InfluencerSignupForm, LoginOutcome, MerchantSignupForm, NewPasswordForm, ResetOutcome,
};
use crate::service::team::{self, JoinForm, OpenInvitation};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(signup_choose)
        .service(signup_merchant_form)
        .service(signup_merchant)
        .service(signup_influencer_form)
        .service(signup_influencer)
        .service(login_form)
        .service(login)
        .service(logout)
        .service(forgot_form)
        .service(forgot)
        .service(reset_form)
        .service(reset)
        .service(join_form)
        .service(join);
}

/// Logged-in users who open a public auth page go to their area instead.
fn already_in(user: &MaybeUser) -> Option<HttpResponse> {
    user.0.as_ref().map(|u| pages::redirect(u.role.home()))
}

/// The request's user agent (kept with its session, shown on the account page).
fn user_agent(req: &HttpRequest) -> String {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Starts a server-side session for the user and logs the cookie in to it.
async fn start_session(
    state: &AppState,
    session: &Session,
    req: &HttpRequest,
    user: &crate::db::models::User,
) -> AppResult<()> {
    let (now, uid, agent) = (state.now(), user.id, user_agent(req));
    let token = state
        .db(move |conn| crate::service::sessions::start(conn, now, uid, &agent))
        .await?;
    session::log_in(session, user, &token);
    Ok(())
}

/// After a sign-up: wake the mailer (welcome email), log in, greet, go to the role's area.
async fn signed_up(
    state: &AppState,
    session: &Session,
    req: &HttpRequest,
    user: &crate::db::models::User,
    role: Role,
    greeting: &str,
) -> AppResult<HttpResponse> {
    state.wake_mailer();
    let (now, email, address) = (
        state.now(),
        user.email.clone(),
        super::extract::client_address(req, state),
    );
    state
        .db(move |conn| accounts::remember_address(conn, now, &email, &address))
        .await?;
    start_session(state, session, req, user).await?;
    session::flash(session, "success", greeting);
    Ok(pages::redirect(role.setup_page()))
}

#[derive(Template)]
#[template(path = "auth/signup_choose.html")]
struct SignupChoosePage {
    ctx: PageCtx,
}

#[get("/signup")]
async fn signup_choose(session: Session, user: MaybeUser) -> AppResult<HttpResponse> {
    if let Some(r) = already_in(&user) {
        return Ok(r);
    }
    pages::ok(&SignupChoosePage {
        ctx: PageCtx::new(&session, None, "Create your Tandem account", "signup"),
    })
}

#[derive(Template)]
#[template(path = "auth/signup_merchant.html")]
struct SignupMerchantPage {
    ctx: PageCtx,
    form: MerchantSignupForm,
    errors: FieldErrors,
    currencies: Vec<SelectOption>,
    zones: pages::GroupedOptions,
}

#[get("/signup/merchant")]
async fn signup_merchant_form(session: Session, user: MaybeUser) -> AppResult<HttpResponse> {
    if let Some(r) = already_in(&user) {
        return Ok(r);
    }
    pages::ok(&SignupMerchantPage {
        ctx: PageCtx::new(&session, None, "Sign up as a merchant", "signup"),
        form: MerchantSignupForm::default(),
        errors: FieldErrors::new(),
        currencies: currency_options("CNY"),
        zones: pages::new_user_zone_options(""),
    })
}

#[post("/signup/merchant")]
async fn signup_merchant(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: CsrfForm<MerchantSignupForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, base) = (state.now(), state.base_url.clone());
    let input = form.clone();
    match state
        .db(move |conn| accounts::signup_merchant(conn, now, &base, &input))
        .await
    {
        Ok(user) => {
            signed_up(
                &state,
                &session,
                &req,
                &user,
                Role::Merchant,
                "Welcome to Tandem! Your organisation is ready; check its settings below.",
            )
            .await
        }
        Err(AppError::Validation(errors)) => pages::invalid(&SignupMerchantPage {
            ctx: PageCtx::new(&session, None, "Sign up as a merchant", "signup"),
            currencies: currency_options(&form.currency),
            zones: pages::new_user_zone_options(&form.time_zone),
            form: MerchantSignupForm {
                password: String::new(),
                ..form
            },
            errors,
        }),
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "auth/signup_influencer.html")]
struct SignupInfluencerPage {
    ctx: PageCtx,
    form: InfluencerSignupForm,
    errors: FieldErrors,
    zones: pages::GroupedOptions,
}

#[get("/signup/influencer")]
async fn signup_influencer_form(session: Session, user: MaybeUser) -> AppResult<HttpResponse> {
    if let Some(r) = already_in(&user) {
        return Ok(r);
    }
    pages::ok(&SignupInfluencerPage {
        ctx: PageCtx::new(&session, None, "Sign up as an influencer", "signup"),
        form: InfluencerSignupForm::default(),
        errors: FieldErrors::new(),
        zones: pages::new_user_zone_options(""),
    })
}

#[post("/signup/influencer")]
async fn signup_influencer(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: CsrfForm<InfluencerSignupForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, base) = (state.now(), state.base_url.clone());
    let input = form.clone();
    match state
        .db(move |conn| accounts::signup_influencer(conn, now, &base, &input))
        .await
    {
        Ok(user) => {
            signed_up(
                &state,
                &session,
                &req,
                &user,
                Role::Influencer,
                "Welcome to Tandem! Complete your profile so merchants can find you.",
            )
            .await
        }
        Err(AppError::Validation(errors)) => pages::invalid(&SignupInfluencerPage {
            zones: pages::new_user_zone_options(&form.time_zone),
            ctx: PageCtx::new(&session, None, "Sign up as an influencer", "signup"),
            form: InfluencerSignupForm {
                password: String::new(),
                ..form
            },
            errors,
        }),
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    ctx: PageCtx,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct NextQuery {
    next: Option<String>,
}

#[get("/login")]
async fn login_form(
    session: Session,
    user: MaybeUser,
    query: web::Query<NextQuery>,
) -> AppResult<HttpResponse> {
    if let Some(r) = already_in(&user) {
        return Ok(r);
    }
    pages::ok(&LoginPage {
        ctx: PageCtx::new(&session, None, "Log in", "login"),
        email: String::new(),
        next: safe_next(query.next.as_deref()).unwrap_or_default(),
        error: None,
    })
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
struct LoginForm {
    email: String,
    password: String,
    next: String,
}

#[post("/login")]
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    address: ClientAddress,
    form: CsrfForm<LoginForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let now = state.now();
    let (email, password, address) = (form.email.clone(), form.password.clone(), address.0);
    let outcome = state
        .db(move |conn| accounts::login(conn, now, &email, &password, &address))
        .await?;
    let retry = |message: String, status: actix_web::http::StatusCode| {
        pages::render(
            &LoginPage {
                ctx: PageCtx::new(&session, None, "Log in", "login"),
                email: form.email.clone(),
                next: safe_next(Some(&form.next)).unwrap_or_default(),
                error: Some(message),
            },
            status,
        )
    };
    match outcome {
        LoginOutcome::LoggedIn(user) => {
            start_session(&state, &session, &req, &user).await?;
            let role = Role::parse(&user.role).unwrap_or(Role::Influencer);
            let target = safe_next(Some(&form.next)).unwrap_or_else(|| role.home().to_owned());
            Ok(pages::redirect(&target))
        }
        LoginOutcome::Invalid => retry(
            "The email or password is incorrect.".to_owned(),
            actix_web::http::StatusCode::UNAUTHORIZED,
        ),
        LoginOutcome::Disabled => retry(
            "This account has been disabled. Contact your Tandem administrator.".to_owned(),
            actix_web::http::StatusCode::FORBIDDEN,
        ),
        LoginOutcome::Throttled { minutes } => retry(
            format!(
                "Too many failed attempts. For your safety, logging in is paused: try again in {minutes} minute{}, or reset your password.",
                if minutes == 1 { "" } else { "s" }
            ),
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        ),
    }
}

#[post("/logout")]
async fn logout(
    state: web::Data<AppState>,
    session: Session,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    // Ended on the server: a copy of the cookie opens nothing any more.
    if let Some(token) = session::token(&session) {
        let now = state.now();
        state
            .db(move |conn| crate::service::sessions::end(conn, now, &token))
            .await?;
    }
    session::log_out(&session);
    session::flash(&session, "info", "You have logged out.");
    Ok(pages::redirect("/login"))
}

#[derive(Template)]
#[template(path = "auth/forgot.html")]
struct ForgotPage {
    ctx: PageCtx,
    email: String,
    sent: bool,
}

#[get("/forgot-password")]
async fn forgot_form(session: Session) -> AppResult<HttpResponse> {
    pages::ok(&ForgotPage {
        ctx: PageCtx::new(&session, None, "Reset your password", "login"),
        email: String::new(),
        sent: false,
    })
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ForgotForm {
    email: String,
}

#[post("/forgot-password")]
async fn forgot(
    state: web::Data<AppState>,
    session: Session,
    form: CsrfForm<ForgotForm>,
) -> AppResult<HttpResponse> {
    let (now, base) = (state.now(), state.base_url.clone());
    let email = form.0.email;
    let input = email.clone();
    state
        .db(move |conn| accounts::request_password_reset(conn, now, &base, &input))
        .await?;
    state.wake_mailer();
    pages::ok(&ForgotPage {
        ctx: PageCtx::new(&session, None, "Check your email", "login"),
        email: email.trim().to_owned(),
        sent: true,
    })
}

#[derive(Template)]
#[template(path = "auth/reset.html")]
struct ResetPage {
    ctx: PageCtx,
    token: String,
    valid: bool,
    errors: FieldErrors,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct TokenQuery {
    token: String,
}

#[get("/reset-password")]
async fn reset_form(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<TokenQuery>,
) -> AppResult<HttpResponse> {
    let now = state.now();
    let token = query.into_inner().token;
    let check = token.clone();
    let user = state
        .db(move |conn| accounts::check_reset_token(conn, now, &check))
        .await?;
    let page = ResetPage {
        ctx: PageCtx::new(&session, None, "Choose a new password", "login"),
        valid: user.is_some(),
        token,
        errors: FieldErrors::new(),
    };
    if page.valid {
        pages::ok(&page)
    } else {
        pages::render(&page, actix_web::http::StatusCode::GONE)
    }
}

#[post("/reset-password")]
async fn reset(
    state: web::Data<AppState>,
    session: Session,
    form: CsrfForm<NewPasswordForm>,
) -> AppResult<HttpResponse> {
    let (now, base) = (state.now(), state.base_url.clone());
    let form = form.0;
    let token = form.token.clone();
    let result = state
        .db(move |conn| accounts::reset_password(conn, now, &base, &form))
        .await;
    match result {
        Ok(ResetOutcome::Done(_user)) => {
            state.wake_mailer();
            session::log_out(&session);
            session::flash(
                &session,
                "success",
                "Your password was changed. Log in with the new one.",
            );
            Ok(pages::redirect("/login"))
        }
        Ok(ResetOutcome::InvalidToken) => pages::render(
            &ResetPage {
                ctx: PageCtx::new(&session, None, "Choose a new password", "login"),
                token,
                valid: false,
                errors: FieldErrors::new(),
            },
            actix_web::http::StatusCode::GONE,
        ),
        Err(AppError::Validation(errors)) => pages::invalid(&ResetPage {
            ctx: PageCtx::new(&session, None, "Choose a new password", "login"),
            token,
            valid: true,
            errors,
        }),
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "auth/join.html")]
struct JoinPage {
    ctx: PageCtx,
    valid: bool,
    token: String,
    org_name: String,
    inviter: String,
    email: String,
    typed_name: String,
    zones: pages::GroupedOptions,
    errors: FieldErrors,
}

/// The page of an invitation link: the form when it is open, else why it no longer works.
async fn join_page(
    state: &AppState,
    session: &Session,
    form: JoinForm,
    errors: FieldErrors,
) -> AppResult<JoinPage> {
    let (now, token) = (state.now(), form.token.clone());
    let found = state.db(move |conn| team::check(conn, now, &token)).await?;
    let mut page = JoinPage {
        ctx: PageCtx::new(session, None, "Join your team on Tandem", "signup"),
        valid: false,
        token: form.token,
        org_name: String::new(),
        inviter: String::new(),
        email: String::new(),
        typed_name: form.name,
        zones: pages::new_user_zone_options(&form.time_zone),
        errors,
    };
    if let Some(OpenInvitation {
        invitation,
        org,
        inviter,
    }) = found
    {
        page.valid = true;
        page.org_name = org.name;
        page.inviter = inviter;
        page.email = invitation.email;
    }
    Ok(page)
}

#[get("/join")]
async fn join_form(
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<TokenQuery>,
) -> AppResult<HttpResponse> {
    let form = JoinForm {
        token: query.into_inner().token,
        ..JoinForm::default()
    };
    let page = join_page(&state, &session, form, FieldErrors::new()).await?;
    if page.valid {
        pages::ok(&page)
    } else {
        pages::render(&page, actix_web::http::StatusCode::GONE)
    }
}

#[post("/join")]
async fn join(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: CsrfForm<JoinForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, input) = (state.now(), form.clone());
    match state.db(move |conn| team::join(conn, now, &input)).await {
        Ok(Some(user)) => {
            signed_up(
                &state,
                &session,
                &req,
                &user,
                Role::Merchant,
                "Welcome to the team! You can now manage the organisation's products, campaigns and orders.",
            )
            .await
        }
        Ok(None) => {
            let page = join_page(&state, &session, form, FieldErrors::new()).await?;
            pages::render(&page, actix_web::http::StatusCode::GONE)
        }
        Err(AppError::Validation(errors)) => {
            let form = JoinForm {
                password: String::new(),
                ..form
            };
            pages::invalid(&join_page(&state, &session, form, errors).await?)
        }
        Err(e) => Err(e),
    }
}
