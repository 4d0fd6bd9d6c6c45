//! One error type for the whole application, turned into an HTML page (or JSON for the
//! machine API through [`ApiError`]). A 500 never shows internals: they go to the log with
//! the request id.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};

use crate::domain::validate::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// Something only the organisation's owner may do; the message says what and who.
    #[error("owner only: {0}")]
    OwnerOnly(String),
    /// Not logged in: redirect to the login page, then back to `next`.
    #[error("login required")]
    LoginRequired { next: String },
    #[error("invalid or missing CSRF token")]
    Csrf,
    #[error("validation failed")]
    Validation(FieldErrors),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("too many requests: {0}")]
    TooManyRequests(String),
    /// A machine's credentials (signature, token) are missing or wrong.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => AppError::NotFound,
            other => AppError::Internal(anyhow::Error::new(other).context("database query failed")),
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        AppError::Internal(anyhow::Error::new(e).context("no database connection available"))
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::Internal(anyhow::anyhow!("blocking task failed: {e}"))
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden | AppError::OwnerOnly(_) | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::LoginRequired { .. } => StatusCode::SEE_OTHER,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Title and explanation for a person.
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            AppError::NotFound => (
                "Page not found",
                "There is nothing here, or it belongs to another account. Check the address, or go back to your dashboard.".to_owned(),
            ),
            AppError::Forbidden => (
                "Not allowed",
                "Your account cannot open this page. If you think it should, ask your administrator.".to_owned(),
            ),
            AppError::OwnerOnly(msg) => ("Only the owner can do this", msg.clone()),
            AppError::LoginRequired { .. } => ("Log in", "Please log in to continue.".to_owned()),
            AppError::Csrf => (
                "Form expired",
                "This form was open too long or came from another site, so it was not sent. Go back, reload the page and try again.".to_owned(),
            ),
            AppError::Validation(errors) => (
                "Please check your input",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            AppError::BadRequest(msg) => ("Bad request", msg.clone()),
            AppError::Conflict(msg) => ("Conflict", msg.clone()),
            AppError::TooManyRequests(msg) => ("Too many attempts", msg.clone()),
            AppError::Unauthorized(msg) => ("Unauthorized", msg.clone()),
            AppError::Internal(_) => (
                "Something went wrong",
                "An unexpected error happened on our side. It has been logged; please try again in a moment.".to_owned(),
            ),
        }
    }

    fn log(&self) {
        if let AppError::Internal(e) = self {
            tracing::error!(error = format!("{e:#}"), "internal error");
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.log();
        if let AppError::LoginRequired { next } = self {
            let target = if next.is_empty() || next == "/" {
                "/login".to_owned()
            } else {
                format!("/login?next={}", crate::web::urlencode(next))
            };
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, target))
                .finish();
        }
        let (title, message) = self.describe();
        crate::web::pages::error_page(self.status(), title, &message)
    }
}

/// The same errors for the JSON API: `{"error": {"code", "message"}}`, or for validation
/// `{"errors": [{"field", "message"}]}` (DESIGN.md §4).
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match &self.0 {
            AppError::LoginRequired { .. } => StatusCode::UNAUTHORIZED,
            other => other.status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.0.log();
        let status = self.status_code();
        let body = match &self.0 {
            AppError::Validation(errors) => serde_json::json!({ "errors": errors }),
            other => {
                let (title, message) = other.describe();
                serde_json::json!({
                    "error": {
                        "code": status.as_u16(),
                        "title": title,
                        "message": message,
                    }
                })
            }
        };
        HttpResponse::build(status).json(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body_of(res: HttpResponse) -> String {
        let bytes = res.into_body().try_into_bytes().unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn a_500_never_shows_internals() {
        let err = AppError::Internal(anyhow::anyhow!("password=hunter2 at db.internal:5432"));
        let res = err.error_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_of(res);
        assert!(body.contains("Something went wrong"));
        assert!(body.contains("/static/app.css"), "rendered with the layout");
        assert!(!body.contains("hunter2"));
        let api = ApiError(AppError::Internal(anyhow::anyhow!("hunter2"))).error_response();
        assert!(!body_of(api).contains("hunter2"));
    }

    #[test]
    fn error_pages_for_each_status() {
        for (err, status) in [
            (AppError::NotFound, 404),
            (AppError::Forbidden, 403),
            (AppError::OwnerOnly("x".into()), 403),
            (AppError::Csrf, 403),
            (AppError::Validation(FieldErrors::new()), 422),
            (AppError::TooManyRequests("wait".into()), 429),
        ] {
            let res = err.error_response();
            assert_eq!(res.status().as_u16(), status);
            assert!(body_of(res).contains("<html"));
        }
    }

    #[test]
    fn api_validation_errors_name_the_field() {
        let mut errors = FieldErrors::new();
        errors.add("items[0].unit_price", "must be a decimal string");
        let res = ApiError(AppError::Validation(errors)).error_response();
        assert_eq!(res.status().as_u16(), 422);
        let json: serde_json::Value = serde_json::from_str(&body_of(res)).unwrap();
        assert_eq!(json["errors"][0]["field"], "items[0].unit_price");
    }
}
