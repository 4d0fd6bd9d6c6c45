//! Shopify's `orders/paid` and `refunds/create` webhooks, once their HMAC is verified.
//!
//! Shopify retries every answer but a 2xx for up to 48 hours and then drops the webhook, so
//! what a retry cannot fix is answered 2xx and stored with its outcome (shown on the
//! merchant's Integration page): a bad payload, an unknown currency, a refund of an order
//! never recorded, a refund of nothing. Only a transient failure (the database) is an
//! error here, and the caller answers 5xx so that Shopify tries again.

use chrono::NaiveDateTime;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::db::orders::ShopifyDelivery;
use crate::db::{self, DbConn};
use crate::domain::money::{Currency, Money, display_in};
use crate::domain::order::RefundInput;
use crate::domain::shopify;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};

use super::orders::{self as orders, Recorded, RefundRecorded};

/// What became of one delivery.
pub enum Handled {
    /// This webhook id was handled before; nothing was done again.
    Seen,
    Order(Box<Recorded>),
    Refund(Box<RefundRecorded>),
    /// Nothing stored but the delivery's outcome (conflict, rejected, ignored).
    Noted,
}

pub struct Delivery {
    pub handled: Handled,
    /// recorded, duplicate, conflict, rejected or ignored.
    pub outcome: &'static str,
    pub detail: String,
}

/// The id of a delivery: Shopify's `X-Shopify-Webhook-Id`, or for a delivery without one
/// (a hand-made request) a hash of its body, so that the same body is handled once too.
pub fn delivery_id(header: Option<String>, body: &[u8]) -> String {
    header
        .filter(|w| !w.is_empty() && w.len() <= 128)
        .unwrap_or_else(|| format!("body-{}", &hex::encode(Sha256::digest(body))[..32]))
}

fn field_list(errors: &FieldErrors) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Handles one verified delivery and notes its outcome. `Err` only for a transient failure.
#[allow(clippy::too_many_arguments)]
pub fn receive(
    conn: &mut DbConn,
    now: NaiveDateTime,
    merchant_id: i64,
    base_url: &str,
    topic: &str,
    webhook_id: &str,
    body: &[u8],
) -> AppResult<Delivery> {
    if db::orders::shopify_webhook_seen(conn, merchant_id, webhook_id)? {
        return Ok(Delivery {
            handled: Handled::Seen,
            outcome: "duplicate",
            detail: "This delivery was handled before.".to_owned(),
        });
    }
    let (delivery, subject) = match serde_json::from_slice::<Value>(body) {
        Err(e) => (
            noted("rejected", format!("The body is not valid JSON: {e}.")),
            String::new(),
        ),
        Ok(value) => match topic {
            "orders/paid" => paid(conn, now, merchant_id, base_url, &value)?,
            "refunds/create" => refund(conn, now, merchant_id, &value)?,
            other => (
                noted(
                    "ignored",
                    format!("Tandem reads orders/paid and refunds/create, not “{other}”."),
                ),
                String::new(),
            ),
        },
    };
    db::orders::note_shopify_webhook(
        conn,
        merchant_id,
        &ShopifyDelivery {
            webhook_id: webhook_id.to_owned(),
            topic: topic.chars().take(100).collect(),
            received_at: now,
            outcome: delivery.outcome.to_owned(),
            detail: delivery.detail.chars().take(2000).collect(),
            subject,
        },
    )?;
    Ok(delivery)
}

fn noted(outcome: &'static str, detail: String) -> Delivery {
    Delivery {
        handled: Handled::Noted,
        outcome,
        detail,
    }
}

/// Errors a retry cannot fix become the delivery's outcome; anything else is transient.
fn settle<T>(result: AppResult<T>, ok: impl FnOnce(T) -> Delivery) -> AppResult<Delivery> {
    match result {
        Ok(v) => Ok(ok(v)),
        Err(AppError::Conflict(m)) => Ok(noted("conflict", m)),
        Err(AppError::Validation(f)) => Ok(noted("rejected", field_list(&f))),
        Err(AppError::BadRequest(m)) => Ok(noted("rejected", m)),
        Err(e) => Err(e),
    }
}

fn paid(
    conn: &mut DbConn,
    now: NaiveDateTime,
    merchant_id: i64,
    base_url: &str,
    value: &Value,
) -> AppResult<(Delivery, String)> {
    let input = match shopify::order_from_paid(value, now) {
        Ok(input) => input,
        Err(errors) => {
            let subject = value
                .get("id")
                .map(|id| format!("order {id}"))
                .unwrap_or_default();
            return Ok((noted("rejected", field_list(&errors)), subject));
        }
    };
    let subject = match input.also_known_as.first() {
        Some(name) => format!("order {} ({name})", input.order_id),
        None => format!("order {}", input.order_id),
    };
    let result = orders::record_conversion(conn, now, merchant_id, "shopify", base_url, &input);
    let delivery = settle(result, |r| {
        let (outcome, detail) = if r.created {
            let detail = match &r.commission {
                Some(c) => format!(
                    "Recorded; commission {}.",
                    display_in(c.amount_minor, &c.currency)
                ),
                None => "Recorded; no commission (see the order's trace).".to_owned(),
            };
            ("recorded", detail)
        } else {
            (
                "duplicate",
                format!(
                    "Already recorded as order {}; nothing changed.",
                    r.conversion.order_id
                ),
            )
        };
        Delivery {
            handled: Handled::Order(Box::new(r)),
            outcome,
            detail,
        }
    })?;
    Ok((delivery, subject))
}

fn refund(
    conn: &mut DbConn,
    now: NaiveDateTime,
    merchant_id: i64,
    value: &Value,
) -> AppResult<(Delivery, String)> {
    let order_id = value
        .get("order_id")
        .and_then(|v| {
            v.as_u64()
                .map(|n| n.to_string())
                .or_else(|| v.as_str().map(str::to_owned))
        })
        .unwrap_or_default();
    let refund_id = value.get("id").map(|v| v.to_string()).unwrap_or_default();
    let subject = format!("refund {refund_id} of order {order_id}");
    let Some(conversion) = db::orders::find_conversion(conn, merchant_id, &order_id)? else {
        return Ok((
            noted(
                "rejected",
                format!(
                    "No order {order_id} was recorded, so there is nothing to take back (Tandem records orders from orders/paid)."
                ),
            ),
            subject,
        ));
    };
    let Ok(currency) = Currency::parse(&conversion.currency) else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "stored order {} has an unknown currency",
            conversion.id
        )));
    };
    let (order_id, refund_id, minor, at) = match shopify::refund_from_create(value, currency, now) {
        Ok(r) => r,
        Err(errors) => return Ok((noted("rejected", field_list(&errors)), subject)),
    };
    // A refund already stored answers as itself, whatever is left now.
    if let Some(existing) = db::orders::find_refund(conn, merchant_id, &refund_id)? {
        let conversion =
            db::orders::conversion(conn, existing.conversion_id)?.ok_or(AppError::NotFound)?;
        let r = RefundRecorded {
            created: false,
            refund: existing,
            conversion,
        };
        return Ok((
            Delivery {
                handled: Handled::Refund(Box::new(r)),
                outcome: "duplicate",
                detail: "Already recorded; nothing changed.".to_owned(),
            },
            subject,
        ));
    }
    if minor == 0 {
        return Ok((
            noted(
                "ignored",
                "The refund returns no product amount (only shipping, tax or a restock): nothing to take back.".to_owned(),
            ),
            subject,
        ));
    }
    let left = orders::left_to_refund(conn, conversion.id)?;
    if left <= 0 {
        return Ok((
            noted(
                "ignored",
                format!(
                    "Shopify refunded {}, but order {} was refunded in full before: nothing is left to take back.",
                    display_in(minor, currency.code()),
                    conversion.order_id
                ),
            ),
            subject,
        ));
    }
    let taken = minor.min(left);
    let note = (taken < minor).then(|| {
        format!(
            " Shopify refunded {}, more than the {} left on the order: took back what was left.",
            display_in(minor, currency.code()),
            display_in(left, currency.code())
        )
    });
    let amount = Money::from_minor(taken, currency)
        .map_err(|e| AppError::Internal(e.into()))?
        .to_plain_string();
    let input = RefundInput {
        order_id,
        refund_id,
        amount,
        occurred_at: at,
    };
    let result = orders::record_refund(conn, now, merchant_id, "shopify", &input);
    let delivery = settle(result, |r| {
        let outcome = if r.created { "recorded" } else { "duplicate" };
        let mut detail = if r.created {
            format!(
                "Recorded a refund of {}; commission taken back {}.",
                display_in(r.refund.amount_minor, currency.code()),
                display_in(r.refund.commission_minor, currency.code())
            )
        } else {
            "Already recorded; nothing changed.".to_owned()
        };
        detail.push_str(note.as_deref().unwrap_or(""));
        Delivery {
            handled: Handled::Refund(Box::new(r)),
            outcome,
            detail,
        }
    })?;
    Ok((delivery, subject))
}
