//! `POST /api/v1/webhooks/shopify/{merchant id}`: Shopify's `orders/paid` and
//! `refunds/create` webhooks, verified with the merchant's webhook signing secret
//! (`X-Shopify-Hmac-Sha256`), deduplicated on `X-Shopify-Webhook-Id` and on the order and
//! refund ids. Shopify retries anything but a 2xx for 48 hours, then drops the webhook: only
//! a bad HMAC is 401 and only a transient failure 5xx; everything else (a duplicate, an order
//! with other content, a payload that cannot be read, a refund of an order never recorded) is
//! 200 with what happened, noted for the merchant's Integration page.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde_json::json;

use crate::domain::shopify;
use crate::error::{ApiError, AppError};
use crate::service::shopify::{self as svc, Handled};
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
    let webhook_id = svc::delivery_id(header(&req, "x-shopify-webhook-id"), &body);
    let now = state.now();
    let base_url = state.base_url.clone();
    // Only a transient failure is an error (5xx: Shopify tries again); anything a retry
    // cannot fix is a 200 with its outcome, noted for the merchant's Integration page.
    let d = {
        let webhook_id = webhook_id.clone();
        state
            .db(move |conn| {
                svc::receive(
                    conn,
                    now,
                    merchant_id,
                    &base_url,
                    &topic,
                    &webhook_id,
                    &body,
                )
            })
            .await?
    };
    let mut answer = json!({
        "status": d.outcome,
        "message": d.detail,
        "webhook_id": webhook_id,
    });
    match &d.handled {
        Handled::Order(r) => answer["order"] = json!(super::conversions::conversion_json(r)),
        Handled::Refund(r) => answer["refund"] = json!(super::conversions::refund_json(r)),
        Handled::Seen | Handled::Noted => {}
    }
    let stream = match &d.handled {
        Handled::Order(r) => r.conversion.stream_id,
        Handled::Refund(r) => r.conversion.stream_id,
        Handled::Seen | Handled::Noted => None,
    };
    if let Some(stream) = stream {
        state.live.touch(stream);
    }
    Ok(HttpResponse::Ok().json(answer))
}
