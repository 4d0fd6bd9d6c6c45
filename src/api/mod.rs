//! JSON endpoints for machines, under `/api/v1`. Errors are JSON (`ApiError`): 401 for a
//! missing or bad token, 422 `{"errors": [{"field", "message"}]}` for invalid input.

pub mod conversions;
pub mod links;
pub mod openapi;
pub mod shopify;

use actix_web::web;

use crate::domain::validate::FieldErrors;
use crate::error::{ApiError, AppError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(
                web::JsonConfig::default()
                    .limit(64 * 1024)
                    .error_handler(|err, _| {
                        let mut errors = FieldErrors::new();
                        errors.add(
                            "body",
                            format!("The body is not valid JSON for this endpoint: {err}"),
                        );
                        ApiError(AppError::Validation(errors)).into()
                    }),
            )
            .configure(links::routes)
            .configure(conversions::routes)
            .configure(shopify::routes)
            .service(openapi::document),
    );
}
