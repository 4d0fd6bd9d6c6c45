//! `POST /api/v1/webhooks/shopify/{merchant id}`: Shopify's `orders/paid` and
//! `refunds/create` webhooks, verified with the merchant's webhook signing secret
//! (`X-Shopify-Hmac-Sha256`), deduplicated on `X-Shopify-Webhook-Id` and on the order and
//! refund ids. Shopify retries anything but a 2xx, so answers that a retry cannot change
//! (a duplicate, an order with other content) are 200 with what happened.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde_json::json;

use crate::domain::money::{Currency, Money};
use crate::domain::order::RefundInput;
use crate::domain::shopify;
use crate::domain::validate::FieldErrors;
use crate::error::{ApiError, AppError};
use crate::service::orders as svc;
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(webhook);
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
}

#[post("/webhooks/shopify/{merchant_id}")]
async fn webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let unauthorized = || {
        ApiError(AppError::Unauthorized(
            "The X-Shopify-Hmac-Sha256 header does not match this body and the merchant's Shopify webhook secret.".to_owned(),
        ))
    };
    let merchant_id: i64 = path.parse().map_err(|_| unauthorized())?;
    let secret = state
        .db(move |conn| Ok(crate::db::orders::shopify_secret(conn, merchant_id)?))
        .await?
        .ok_or_else(unauthorized)?;
    if !shopify::verify(
        secret.as_bytes(),
        &body,
        header(&req, "x-shopify-hmac-sha256").as_deref(),
    ) {
        return Err(unauthorized());
    }
    let topic = header(&req, "x-shopify-topic").unwrap_or_default();
    let webhook_id =
        header(&req, "x-shopify-webhook-id").filter(|w| !w.is_empty() && w.len() <= 128);
    if let Some(w) = webhook_id.clone() {
        let seen = state
            .db(move |conn| {
                Ok(crate::db::orders::shopify_webhook_seen(
                    conn,
                    merchant_id,
                    &w,
                )?)
            })
            .await?;
        if seen {
            return Ok(
                HttpResponse::Ok().json(json!({"status": "duplicate", "webhook_id": webhook_id}))
            );
        }
    }
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        let mut errors = FieldErrors::new();
        errors.add("body", format!("is not valid JSON: {e}"));
        AppError::Validation(errors)
    })?;
    let now = state.now();
    let answer = match topic.as_str() {
        "orders/paid" => {
            let input = shopify::order_from_paid(&value, now).map_err(AppError::Validation)?;
            let result = state
                .db(move |conn| svc::record_conversion(conn, now, merchant_id, "shopify", &input))
                .await;
            match result {
                Ok(r) => json!({
                    "status": if r.created { "recorded" } else { "duplicate" },
                    "order": super::conversions::conversion_json(&r),
                }),
                Err(AppError::Conflict(msg)) => json!({"status": "conflict", "message": msg}),
                Err(e) => return Err(e.into()),
            }
        }
        "refunds/create" => {
            let order_id = value
                .get("order_id")
                .and_then(|v| {
                    v.as_u64()
                        .map(|n| n.to_string())
                        .or_else(|| v.as_str().map(str::to_owned))
                })
                .unwrap_or_default();
            let currency = {
                let order_id = order_id.clone();
                state
                    .db(move |conn| {
                        Ok(
                            crate::db::orders::find_conversion(conn, merchant_id, &order_id)?
                                .map(|c| c.currency),
                        )
                    })
                    .await?
            };
            let Some(currency) = currency.and_then(|c| Currency::parse(&c).ok()) else {
                let mut errors = FieldErrors::new();
                errors.add(
                    "order_id",
                    "No order with this id was recorded (send orders/paid first).",
                );
                return Err(AppError::Validation(errors).into());
            };
            let (order_id, refund_id, minor, at) =
                shopify::refund_from_create(&value, currency, now).map_err(AppError::Validation)?;
            let amount = Money::from_minor(minor, currency)
                .map_err(|e| AppError::Internal(e.into()))?
                .to_plain_string();
            let input = RefundInput {
                order_id,
                refund_id,
                amount,
                occurred_at: at,
            };
            let result = state
                .db(move |conn| svc::record_refund(conn, now, merchant_id, "shopify", &input))
                .await;
            match result {
                Ok(r) => json!({
                    "status": if r.created { "recorded" } else { "duplicate" },
                    "refund": super::conversions::refund_json(&r),
                }),
                Err(AppError::Conflict(msg)) => json!({"status": "conflict", "message": msg}),
                Err(e) => return Err(e.into()),
            }
        }
        other => {
            // Subscribed to something else: acknowledge so Shopify stops retrying.
            json!({"status": "ignored", "topic": other})
        }
    };
    if let Some(w) = webhook_id {
        let t = topic.clone();
        state
            .db(move |conn| {
                Ok(crate::db::orders::note_shopify_webhook(
                    conn,
                    merchant_id,
                    &w,
                    &t,
                    now,
                )?)
            })
            .await?;
    }
    Ok(HttpResponse::Ok().json(answer))
}
