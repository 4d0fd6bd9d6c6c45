//! Orders and refunds as merchants send them (DESIGN.md §4 "conversion postback"), checked
//! strictly: money only as decimal strings with no more digits than the currency has,
//! integer quantities, known currencies, sane timestamps, and every problem named by field.

use chrono::{DateTime, NaiveDateTime, TimeDelta};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::email_address;
use super::money::{Currency, Money};
use super::validate::FieldErrors;

/// How far in the future an order's time may be (clock skew between systems).
pub const FUTURE_TOLERANCE_MINUTES: i64 = 5;
pub const MAX_ITEMS: usize = 500;
pub const MAX_QUANTITY: i64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ItemInput {
    pub sku: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub discount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrderInput {
    pub order_id: String,
    #[serde(serialize_with = "currency_code")]
    pub currency: Currency,
    pub occurred_at: NaiveDateTime,
    pub click_id: Option<String>,
    pub coupon_code: Option<String>,
    pub customer_email: Option<String>,
    pub items: Vec<ItemInput>,
    /// Other ids the order is known by (Shopify: its `name` "#1001" and `order_number`
    /// besides its `id`; a Shopify CSV export: `Name` and `Id`). Identity, not content: not
    /// part of the fingerprint.
    #[serde(skip)]
    pub also_known_as: Vec<String>,
}

fn currency_code<S: serde::Serializer>(c: &Currency, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.code())
}

/// An order id as it is matched across channels: without surrounding spaces and without a
/// leading `#` (Shopify shows order 1001 as "#1001").
pub fn order_alias(id: &str) -> String {
    let t = id.trim();
    match t.strip_prefix('#').map(str::trim) {
        Some(rest) if !rest.is_empty() => rest.to_owned(),
        _ => t.to_owned(),
    }
}

impl OrderInput {
    /// Every id the order is known by, as matched (see [`order_alias`]), its own first.
    pub fn aliases(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(1 + self.also_known_as.len());
        for id in std::iter::once(&self.order_id).chain(&self.also_known_as) {
            let a = order_alias(id);
            if !a.is_empty() && !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    /// The commission base: each line's price × quantity - discount, summed (`None` on
    /// overflow).
    pub fn base_minor(&self) -> Option<i64> {
        self.items.iter().try_fold(0i64, |sum, i| {
            i.unit_price_minor
                .checked_mul(i.quantity)?
                .checked_sub(i.discount_minor)?
                .checked_add(sum)
        })
    }

    /// A fingerprint of the order's meaning (not its bytes): the same order sent again,
    /// with other whitespace or key order, has the same fingerprint; any change does not.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::to_string(self).unwrap_or_default();
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundInput {
    pub order_id: String,
    pub refund_id: String,
    /// The amount as sent; it is checked against the order's currency.
    pub amount: String,
    pub occurred_at: NaiveDateTime,
}

impl RefundInput {
    pub fn fingerprint(&self) -> String {
        let canonical = format!(
            "{}\u{1f}{}\u{1f}{}\u{1f}{}",
            self.order_id,
            self.refund_id,
            self.amount.trim(),
            self.occurred_at
        );
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// An identifier: 1 to 128 printable characters without spaces at the ends.
pub fn identifier(v: &str) -> Result<String, String> {
    let s = v.trim();
    if s.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if s.chars().count() > 128 {
        return Err("must be at most 128 characters".to_owned());
    }
    if super::validate::has_control(s) {
        return Err("must not contain control, text-direction or invisible characters".to_owned());
    }
    Ok(s.to_owned())
}

/// An RFC 3339 time, not before 2000 and not more than a few minutes ahead of `now`.
pub fn timestamp(v: &str, now: NaiveDateTime) -> Result<NaiveDateTime, String> {
    let t = DateTime::parse_from_rfc3339(v.trim())
        .map_err(|_| "must be an RFC 3339 time such as 2026-11-26T14:05:00Z".to_owned())?
        .naive_utc();
    if t > now + TimeDelta::minutes(FUTURE_TOLERANCE_MINUTES) {
        return Err("is in the future".to_owned());
    }
    if t.and_utc().timestamp() < 946_684_800 {
        return Err("is before the year 2000".to_owned());
    }
    Ok(t)
}

fn text<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &str,
    required: bool,
    errors: &mut FieldErrors,
) -> Option<&'a str> {
    match obj.get(key) {
        None | Some(Value::Null) => {
            if required {
                errors.add(field, "is required");
            }
            None
        }
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Number(_)) if key == "unit_price" || key == "discount" || key == "amount" => {
            errors.add(
                field,
                "must be a decimal string such as \"12.50\" (numbers are refused: they can lose cents)",
            );
            None
        }
        Some(_) => {
            errors.add(field, "must be a string");
            None
        }
    }
}

fn unknown_keys(
    obj: &Map<String, Value>,
    allowed: &[&str],
    prefix: &str,
    errors: &mut FieldErrors,
) {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            errors.add(&format!("{prefix}{k}"), "is not a known field");
        }
    }
}

fn optional_text(
    obj: &Map<String, Value>,
    key: &str,
    max: usize,
    errors: &mut FieldErrors,
) -> Option<String> {
    let s = text(obj, key, key, false, errors)?.trim();
    if s.is_empty() {
        return None;
    }
    if s.chars().count() > max || super::validate::has_control(s) {
        errors.add(key, format!("must be at most {max} printable characters"));
        return None;
    }
    Some(s.to_owned())
}

/// Parses a conversion postback body.
pub fn parse_order(body: &Value, now: NaiveDateTime) -> Result<OrderInput, FieldErrors> {
    let mut errors = FieldErrors::new();
    let Some(obj) = body.as_object() else {
        errors.add("body", "must be a JSON object");
        return Err(errors);
    };
    unknown_keys(
        obj,
        &[
            "order_id",
            "currency",
            "occurred_at",
            "click_id",
            "coupon_code",
            "customer_email",
            "items",
        ],
        "",
        &mut errors,
    );
    let order_id = text(obj, "order_id", "order_id", true, &mut errors)
        .and_then(|s| errors.check("order_id", identifier(s)));
    let currency = text(obj, "currency", "currency", true, &mut errors).and_then(|s| {
        errors.check(
            "currency",
            Currency::parse(s.trim()).map_err(|e| e.to_string()),
        )
    });
    let occurred_at = text(obj, "occurred_at", "occurred_at", true, &mut errors)
        .and_then(|s| errors.check("occurred_at", timestamp(s, now)));
    let click_id = optional_text(obj, "click_id", 64, &mut errors);
    let coupon_code =
        optional_text(obj, "coupon_code", 64, &mut errors).map(|c| c.to_ascii_uppercase());
    let customer_email = optional_text(obj, "customer_email", 254, &mut errors).and_then(|e| {
        errors.check(
            "customer_email",
            email_address::EmailAddress::parse(&e).map(|a| a.to_string()),
        )
    });
    let mut items = Vec::new();
    match obj.get("items") {
        Some(Value::Array(list)) if !list.is_empty() => {
            if list.len() > MAX_ITEMS {
                errors.add("items", format!("must have at most {MAX_ITEMS} items"));
            }
            for (n, item) in list.iter().enumerate().take(MAX_ITEMS) {
                if let Some(i) = parse_item(item, n, currency, &mut errors) {
                    items.push(i);
                }
            }
        }
        Some(Value::Array(_)) => errors.add("items", "must have at least one item"),
        None | Some(Value::Null) => errors.add("items", "is required"),
        Some(_) => errors.add("items", "must be a list of items"),
    }
    match (order_id, currency, occurred_at) {
        (Some(order_id), Some(currency), Some(occurred_at)) if errors.is_empty() => {
            Ok(OrderInput {
                order_id,
                currency,
                occurred_at,
                click_id,
                coupon_code,
                customer_email,
                items,
                also_known_as: Vec::new(),
            })
        }
        _ => Err(errors),
    }
}

fn parse_item(
    item: &Value,
    n: usize,
    currency: Option<Currency>,
    errors: &mut FieldErrors,
) -> Option<ItemInput> {
    let prefix = format!("items[{n}].");
    let field = |k: &str| format!("{prefix}{k}");
    let Some(obj) = item.as_object() else {
        errors.add(&format!("items[{n}]"), "must be an object");
        return None;
    };
    unknown_keys(
        obj,
        &["sku", "quantity", "unit_price", "discount"],
        &prefix,
        errors,
    );
    let sku = text(obj, "sku", &field("sku"), true, errors)
        .and_then(|s| errors.check(&field("sku"), identifier(s)));
    let quantity = match obj.get("quantity") {
        Some(Value::Number(q)) => match q.as_i64() {
            Some(q) if (1..=MAX_QUANTITY).contains(&q) => Some(q),
            Some(q) if q < 1 => {
                errors.add(&field("quantity"), "must be at least 1");
                None
            }
            _ => {
                errors.add(
                    &field("quantity"),
                    format!("must be a whole number from 1 to {MAX_QUANTITY}"),
                );
                None
            }
        },
        None | Some(Value::Null) => {
            errors.add(&field("quantity"), "is required");
            None
        }
        Some(_) => {
            errors.add(&field("quantity"), "must be a whole number");
            None
        }
    };
    let currency = currency?;
    let money = |key: &str, required: bool, errors: &mut FieldErrors| -> Option<i64> {
        let raw = text(obj, key, &field(key), required, errors)?;
        match Money::parse(raw, currency) {
            Ok(m) if m.is_negative() => {
                errors.add(&field(key), "must not be negative");
                None
            }
            Ok(m) => Some(m.minor()),
            Err(e) => {
                errors.add(&field(key), e.to_string());
                None
            }
        }
    };
    let unit_price = money("unit_price", true, errors);
    let discount = if obj.get("discount").is_some_and(|v| !v.is_null()) {
        money("discount", false, errors)
    } else {
        Some(0)
    };
    let (sku, quantity, unit_price, discount) = (sku?, quantity?, unit_price?, discount?);
    match unit_price.checked_mul(quantity) {
        Some(gross) if discount <= gross => Some(ItemInput {
            sku,
            quantity,
            unit_price_minor: unit_price,
            discount_minor: discount,
        }),
        Some(_) => {
            errors.add(
                &field("discount"),
                "must not be more than unit_price times quantity",
            );
            None
        }
        None => {
            errors.add(&field("unit_price"), "is too large");
            None
        }
    }
}

/// Parses a refund postback body.
pub fn parse_refund(body: &Value, now: NaiveDateTime) -> Result<RefundInput, FieldErrors> {
    let mut errors = FieldErrors::new();
    let Some(obj) = body.as_object() else {
        errors.add("body", "must be a JSON object");
        return Err(errors);
    };
    unknown_keys(
        obj,
        &["order_id", "refund_id", "amount", "occurred_at"],
        "",
        &mut errors,
    );
    let order_id = text(obj, "order_id", "order_id", true, &mut errors)
        .and_then(|s| errors.check("order_id", identifier(s)));
    let refund_id = text(obj, "refund_id", "refund_id", true, &mut errors)
        .and_then(|s| errors.check("refund_id", identifier(s)));
    let amount = text(obj, "amount", "amount", true, &mut errors).map(str::to_owned);
    let occurred_at = text(obj, "occurred_at", "occurred_at", true, &mut errors)
        .and_then(|s| errors.check("occurred_at", timestamp(s, now)));
    match (order_id, refund_id, amount, occurred_at) {
        (Some(order_id), Some(refund_id), Some(amount), Some(occurred_at)) if errors.is_empty() => {
            Ok(RefundInput {
                order_id,
                refund_id,
                amount,
                occurred_at,
            })
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> NaiveDateTime {
        DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
            .unwrap()
            .naive_utc()
    }

    fn good() -> Value {
        json!({
            "order_id": "A-1001",
            "currency": "CNY",
            "occurred_at": "2026-11-26T10:00:00+08:00",
            "click_id": "abc",
            "coupon_code": " mia2x ",
            "items": [{"sku": "TEA-1", "quantity": 2, "unit_price": "128.00", "discount": "6.00"}]
        })
    }

    fn fields(v: Value) -> Vec<String> {
        parse_order(&v, now())
            .unwrap_err()
            .iter()
            .map(|e| e.field.clone())
            .collect()
    }

    #[test]
    fn a_good_order_parses() {
        let o = parse_order(&good(), now()).unwrap();
        assert_eq!(o.items[0].unit_price_minor, 12800);
        assert_eq!(o.items[0].discount_minor, 600);
        assert_eq!(o.coupon_code.as_deref(), Some("MIA2X"));
        assert_eq!(o.occurred_at.to_string(), "2026-11-26 02:00:00");
        // Same meaning, other bytes: the same fingerprint.
        let mut again = good();
        again["occurred_at"] = json!("2026-11-26T02:00:00Z");
        assert_eq!(
            parse_order(&again, now()).unwrap().fingerprint(),
            o.fingerprint()
        );
        again["items"][0]["quantity"] = json!(3);
        assert_ne!(
            parse_order(&again, now()).unwrap().fingerprint(),
            o.fingerprint()
        );
    }

    #[test]
    fn bad_orders_name_their_fields() {
        let mut v = good();
        v["items"][0]["unit_price"] = json!(128.0);
        assert_eq!(fields(v), ["items[0].unit_price"]);
        let mut v = good();
        v["items"][0]["unit_price"] = json!("128.005");
        assert_eq!(fields(v), ["items[0].unit_price"]);
        let mut v = good();
        v["items"][0]["quantity"] = json!(-1);
        assert_eq!(fields(v), ["items[0].quantity"]);
        let mut v = good();
        v["items"][0]["quantity"] = json!(1.5);
        assert_eq!(fields(v), ["items[0].quantity"]);
        let mut v = good();
        v["currency"] = json!("XXX");
        assert_eq!(fields(v), ["currency"]);
        let mut v = good();
        v["occurred_at"] = json!("2030-01-01T00:00:00Z");
        assert_eq!(fields(v), ["occurred_at"]);
        let mut v = good();
        v["items"][0]["unit_price"] = json!("99999999999999999999.00");
        assert_eq!(fields(v), ["items[0].unit_price"]);
        let mut v = good();
        v["items"][0]["discount"] = json!("300.00");
        assert_eq!(fields(v), ["items[0].discount"]);
        let mut v = good();
        v["coupon"] = json!("X");
        assert_eq!(fields(v), ["coupon"]);
        assert_eq!(
            fields(json!({})),
            ["order_id", "currency", "occurred_at", "items"]
        );
        assert_eq!(fields(json!([1])), ["body"]);
        let mut v = good();
        v["items"] = json!([]);
        assert_eq!(fields(v), ["items"]);
        let mut v = good();
        v["currency"] = json!("JPY");
        assert_eq!(fields(v), ["items[0].unit_price", "items[0].discount"]);
    }

    #[test]
    fn refunds_parse() {
        let r = parse_refund(
            &json!({"order_id": "A-1", "refund_id": "R-1", "amount": "10.00", "occurred_at": "2026-11-26T11:00:00Z"}),
            now(),
        )
        .unwrap();
        assert_eq!(r.amount, "10.00");
        let e = parse_refund(&json!({"order_id": "A-1", "amount": 10}), now()).unwrap_err();
        let f: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(f, ["refund_id", "amount", "occurred_at"]);
    }
}
