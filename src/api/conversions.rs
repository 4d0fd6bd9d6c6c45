//! Signed postbacks from merchants' systems (DESIGN.md §4 "conversion postback"):
//! `POST /api/v1/conversions` and `POST /api/v1/refunds`. Each request carries
//! `Tandem-Merchant: <merchant id>` and `Tandem-Signature: t=..,v1=..`; the body is verified
//! byte for byte before it is parsed.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Serialize;

use crate::db::models::{CommissionRow, ConversionLine};
use crate::domain::money::{Currency, Money};
use crate::domain::order::{parse_order, parse_refund};
use crate::domain::signature;
use crate::domain::validate::FieldErrors;
use crate::error::{ApiError, AppError};
use crate::service::orders::{self as svc, Recorded, RefundRecorded, Step};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(conversions).service(refunds);
}

/// The largest postback body accepted (an order of 500 lines fits easily).
pub const MAX_BODY: usize = 256 * 1024;

/// The merchant id and signature headers of a postback.
pub struct SignedBy {
    merchant_id: i64,
    signature: Option<String>,
}

impl SignedBy {
    pub fn from_request(req: &HttpRequest) -> Result<SignedBy, ApiError> {
        let merchant_id: i64 = req
            .headers()
            .get("tandem-merchant")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                AppError::Unauthorized(
                    "Send your merchant id in the Tandem-Merchant header.".to_owned(),
                )
            })?;
        let signature = req
            .headers()
            .get("tandem-signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(SignedBy {
            merchant_id,
            signature,
        })
    }

    /// Checks the signature against the merchant's valid secrets (on the caller's
    /// connection: one trip to the database thread pool per postback); returns the
    /// merchant's id.
    pub fn verify(
        &self,
        conn: &mut crate::db::DbConn,
        now: chrono::NaiveDateTime,
        body: &[u8],
    ) -> Result<i64, AppError> {
        let secrets = crate::db::orders::valid_secrets(conn, self.merchant_id, now)?;
        // No secret answers like a bad signature: which merchant ids exist is not revealed.
        let keys: Vec<&[u8]> = secrets.iter().map(|s| s.secret.as_bytes()).collect();
        if keys.is_empty() {
            return Err(AppError::Unauthorized(
                signature::SignatureError::Mismatch.to_string(),
            ));
        }
        signature::verify(
            self.signature.as_deref(),
            body,
            &keys,
            now.and_utc().timestamp(),
        )
        .map_err(|e| AppError::Unauthorized(e.to_string()))?;
        Ok(self.merchant_id)
    }
}

fn json_body(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    if body.len() > MAX_BODY {
        let mut e = FieldErrors::new();
        e.add("body", format!("must be at most {MAX_BODY} bytes"));
        return Err(AppError::Validation(e).into());
    }
    let text = std::str::from_utf8(body).map_err(|_| {
        let mut e = FieldErrors::new();
        e.add("body", "must be UTF-8 text");
        AppError::Validation(e)
    })?;
    serde_json::from_str(text).map_err(|err| {
        let mut e = FieldErrors::new();
        e.add("body", format!("is not valid JSON: {err}"));
        AppError::Validation(e).into()
    })
}

/// A signed postback in one trip to the database thread pool: the signature against the
/// merchant's secrets, then the body parsed, then `then` (record it, or prepare it).
async fn signed_postback<I, R, F>(
    state: &AppState,
    req: &HttpRequest,
    body: web::Bytes,
    parse: fn(&serde_json::Value, chrono::NaiveDateTime) -> Result<I, FieldErrors>,
    then: F,
) -> Result<R, ApiError>
where
    I: 'static,
    R: Send + 'static,
    F: FnOnce(&mut crate::db::DbConn, chrono::NaiveDateTime, i64, I) -> Result<R, AppError>
        + Send
        + 'static,
{
    let signed = SignedBy::from_request(req)?;
    let now = state.now();
    Ok(state
        .db(move |conn| {
            let merchant_id = signed.verify(conn, now, &body)?;
            let value = json_body(&body).map_err(|e| e.0)?;
            let input = parse(&value, now).map_err(AppError::Validation)?;
            then(conn, now, merchant_id, input)
        })
        .await?)
}

/// 201 for something new, 200 with the same answer for a retry.
fn created_or_same(created: bool, body: impl Serialize) -> HttpResponse {
    if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}

fn money(minor: i64, currency: Option<Currency>) -> String {
    currency
        .and_then(|c| Money::from_minor(minor, c).ok())
        .map_or_else(|| minor.to_string(), |m| m.to_plain_string())
}

fn rfc3339(t: chrono::NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LineJson {
    line: i32,
    sku: String,
    quantity: i64,
    unit_price: String,
    discount: String,
    base: String,
    rate_bps: i32,
    rate_source: String,
    commission: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CommissionJson {
    id: i64,
    amount: String,
    fee: String,
    state: String,
    available_at: String,
    explanation: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AttributionJson {
    signal: String,
    note: String,
    influencer_id: Option<i64>,
    collaboration_id: Option<i64>,
    campaign_id: Option<i64>,
    link_id: Option<i64>,
    stream_id: Option<i64>,
    click_id: Option<String>,
    coupon_code: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversionJson {
    id: i64,
    order_id: String,
    currency: String,
    occurred_at: String,
    base: String,
    attribution: AttributionJson,
    lines: Vec<LineJson>,
    commission: Option<CommissionJson>,
}

pub fn conversion_json(r: &Recorded) -> ConversionJson {
    let c = &r.conversion;
    let cur = Currency::parse(&c.currency).ok();
    let line = |l: &ConversionLine| LineJson {
        line: l.line_no,
        sku: l.sku.clone(),
        quantity: l.quantity,
        unit_price: money(l.unit_price_minor, cur),
        discount: money(l.discount_minor, cur),
        base: money(l.base_minor, cur),
        rate_bps: l.rate_bps,
        rate_source: l.rate_source.clone(),
        commission: money(l.commission_minor, cur),
    };
    let commission = |k: &CommissionRow| CommissionJson {
        id: k.id,
        amount: money(k.amount_minor, cur),
        fee: money(k.fee_minor, cur),
        state: k.state.clone(),
        available_at: rfc3339(k.available_at),
        explanation: k.explanation.clone(),
    };
    ConversionJson {
        id: c.id,
        order_id: c.order_id.clone(),
        currency: c.currency.clone(),
        occurred_at: rfc3339(c.occurred_at),
        base: money(c.base_minor, cur),
        attribution: AttributionJson {
            signal: c.signal.clone(),
            note: c.attribution_note.clone(),
            influencer_id: c.influencer_id,
            collaboration_id: c.collaboration_id,
            campaign_id: c.campaign_id,
            link_id: c.link_id,
            stream_id: c.stream_id,
            click_id: c.click_id.clone(),
            coupon_code: c.coupon_code.clone(),
        },
        lines: r.lines.iter().map(line).collect(),
        commission: r.commission.as_ref().map(commission),
    }
}

/// Records a paid order, attributes it (coupon code first, then the stream link's click id)
/// and computes its commission. Idempotent on `order_id`.
#[utoipa::path(
    post,
    path = "/api/v1/conversions",
    tag = "postbacks",
    request_body = super::openapi::ConversionRequest,
    params(
        ("Tandem-Merchant" = i64, Header, description = "Your merchant id"),
        ("Tandem-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>; several v1= allowed during a secret rotation; 300 s tolerance"),
    ),
    responses(
        (status = 201, description = "Recorded", body = ConversionJson),
        (status = 200, description = "Already recorded with the same content: the stored answer", body = ConversionJson),
        (status = 401, description = "Bad or missing signature, or a timestamp more than 300 s away", body = super::openapi::ErrorJson),
        (status = 409, description = "This order id was recorded with other content", body = super::openapi::ErrorJson),
        (status = 422, description = "Invalid body, each field named", body = super::openapi::ValidationJson),
    )
)]
#[post("/conversions")]
async fn conversions(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // Read, attribute and compute on the pool; the conversion writer writes it (many orders
    // per transaction) and answers after the commit.
    let base_url = state.base_url.clone();
    let step = signed_postback(
        &state,
        &req,
        body,
        parse_order,
        move |conn, now, merchant, input| {
            svc::prepare_conversion(conn, now, merchant, "api", &base_url, input)
        },
    )
    .await?;
    let recorded = match step {
        Step::Done(recorded) => *recorded,
        Step::Write(pending) => match state.conversions.write(pending).await? {
            (_, Some(recorded)) => recorded,
            (pending, None) => {
                state
                    .db(move |conn| svc::resolve_duplicate(conn, &pending))
                    .await?
            }
        },
    };
    if recorded.created
        && let Some(stream) = recorded.conversion.stream_id
    {
        state.live.touch(stream);
    }
    Ok(created_or_same(
        recorded.created,
        conversion_json(&recorded),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RefundJson {
    refund_id: String,
    order_id: String,
    amount: String,
    occurred_at: String,
    effect: String,
    commission_reversed: String,
    fee_reversed: String,
}

pub fn refund_json(r: &RefundRecorded) -> RefundJson {
    let cur = Currency::parse(&r.conversion.currency).ok();
    RefundJson {
        refund_id: r.refund.refund_id.clone(),
        order_id: r.conversion.order_id.clone(),
        amount: money(r.refund.amount_minor, cur),
        occurred_at: rfc3339(r.refund.occurred_at),
        effect: r.refund.effect.clone(),
        commission_reversed: money(r.refund.commission_minor, cur),
        fee_reversed: money(r.refund.fee_minor, cur),
    }
}

/// Records a refund of an order (partial or full). Before payout the commission is reversed
/// pro rata; after payout it is clawed back. Idempotent on `refund_id`.
#[utoipa::path(
    post,
    path = "/api/v1/refunds",
    tag = "postbacks",
    request_body = super::openapi::RefundRequest,
    params(
        ("Tandem-Merchant" = i64, Header, description = "Your merchant id"),
        ("Tandem-Signature" = String, Header, description = "As for conversions"),
    ),
    responses(
        (status = 201, description = "Recorded", body = RefundJson),
        (status = 200, description = "Already recorded with the same content", body = RefundJson),
        (status = 401, description = "Bad or missing signature", body = super::openapi::ErrorJson),
        (status = 409, description = "This refund id was recorded with other content", body = super::openapi::ErrorJson),
        (status = 422, description = "Invalid body (e.g. more than is left to refund)", body = super::openapi::ValidationJson),
    )
)]
#[post("/refunds")]
async fn refunds(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let recorded = signed_postback(
        &state,
        &req,
        body,
        parse_refund,
        |conn, now, merchant, input| svc::record_refund(conn, now, merchant, "api", &input),
    )
    .await?;
    if recorded.created
        && let Some(stream) = recorded.conversion.stream_id
    {
        state.live.touch(stream);
    }
    Ok(created_or_same(recorded.created, refund_json(&recorded)))
}
