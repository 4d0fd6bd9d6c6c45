//! The landing page, health check and static files.

use actix_session::Session;
use actix_web::{HttpResponse, get, web};
use askama::Template;

use super::extract::MaybeUser;
use super::pages::{self, PageCtx};
use crate::error::AppResult;
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(home).service(healthz).service(static_file);
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    ctx: PageCtx,
    home_href: Option<&'static str>,
}

#[get("/")]
async fn home(session: Session, user: MaybeUser) -> AppResult<HttpResponse> {
    let page = HomePage {
        ctx: PageCtx::new(
            &session,
            user.0.as_ref(),
            "Affiliate commerce, settled to the cent",
            "home",
        ),
        home_href: user.0.as_ref().map(|u| u.role.home()),
    };
    pages::ok(&page)
}

/// 200 with the database checked; 503 when the database does not answer.
#[get("/healthz")]
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let result = state.db(|conn| Ok(crate::db::checked_health(conn)?)).await;
    match result {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ok", "database": "ok"})),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({"status": "unavailable", "database": "unreachable"}))
        }
    }
}

/// Files from `static/`, embedded in the binary.
const STATIC_FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/app.js"),
    ),
    (
        "logo.svg",
        "image/svg+xml",
        include_bytes!("../../static/logo.svg"),
    ),
];

#[get("/static/{file}")]
async fn static_file(file: web::Path<String>) -> HttpResponse {
    match STATIC_FILES
        .iter()
        .find(|(name, _, _)| *name == file.as_str())
    {
        Some((_, mime, bytes)) => HttpResponse::Ok()
            .content_type(*mime)
            .insert_header(("Cache-Control", "public, max-age=3600"))
            .body(*bytes),
        None => pages::error_page(
            actix_web::http::StatusCode::NOT_FOUND,
            "Page not found",
            "There is no such file.",
        ),
    }
}
