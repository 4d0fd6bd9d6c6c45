//! Shopify webhooks (`orders/paid`, `refunds/create`) read into Tandem's orders and refunds:
//! the HMAC check, the attribution signals (discount codes, a `tclid` in the landing page or
//! the note attributes) and the lines (price, quantity, total discount).

use base64::Engine;
use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::money::{Currency, Money};
use super::order::{ItemInput, MAX_ITEMS, OrderInput, identifier, timestamp};
use super::validate::FieldErrors;

/// Whether `header` (X-Shopify-Hmac-Sha256) is the base64 HMAC-SHA256 of `body` with `secret`.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(given) = header.and_then(|h| {
        base64::engine::general_purpose::STANDARD
            .decode(h.trim())
            .ok()
    }) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    given.len() == expected.len() && bool::from(given.as_slice().ct_eq(&expected))
}

/// The header value Shopify would send (for tests and tools).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// An id Shopify sends as a number (or, in some payloads, a string).
fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s) => identifier(s).ok(),
        _ => None,
    }
}

/// A Shopify money value: a decimal string ("19.99"), or for a few old fields a number.
fn amount(v: Option<&Value>, currency: Currency) -> Result<i64, String> {
    let text = match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        None | Some(Value::Null) => return Ok(0),
        Some(_) => return Err("must be an amount".to_owned()),
    };
    let m = Money::parse(&text, currency).map_err(|e| e.to_string())?;
    if m.is_negative() {
        return Err("must not be negative".to_owned());
    }
    Ok(m.minor())
}

/// A money value as Shopify sends it in a `*_set` object (`{"shop_money": {"amount"}}`), in
/// the shop's currency, falling back to the plain field beside it.
fn shop_amount(v: &Value, set: &str, plain: &str) -> Option<Value> {
    v.get(set)
        .and_then(|s| s.get("shop_money"))
        .and_then(|m| m.get("amount"))
        .or_else(|| v.get(plain))
        .cloned()
}

/// What comes off a line's price × quantity for the commission base: its discounts (each
/// discount application's share, `discount_allocations`, as Shopify's current API version
/// sends an order-level code spread over the lines; `total_discount` only for payloads
/// without allocations) and, in a shop whose prices include tax, the line's tax.
fn line_deductions(
    l: &Value,
    taxes_included: bool,
    currency: Currency,
    field: &dyn Fn(&str) -> String,
) -> Result<i64, (String, String)> {
    let mut off: i64 = 0;
    let add = |off: &mut i64, v: Option<Value>, f: String| -> Result<(), (String, String)> {
        let a = amount(v.as_ref(), currency).map_err(|e| (f.clone(), e))?;
        *off = off
            .checked_add(a)
            .ok_or_else(|| (f, "is too large".to_owned()))?;
        Ok(())
    };
    match l.get("discount_allocations").and_then(Value::as_array) {
        Some(allocs) if !allocs.is_empty() => {
            for (k, a) in allocs.iter().enumerate() {
                add(
                    &mut off,
                    shop_amount(a, "amount_set", "amount"),
                    field(&format!("discount_allocations[{k}].amount")),
                )?;
            }
        }
        _ => add(
            &mut off,
            shop_amount(l, "total_discount_set", "total_discount"),
            field("total_discount"),
        )?,
    }
    if taxes_included {
        for (k, t) in l
            .get("tax_lines")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            add(
                &mut off,
                shop_amount(t, "price_set", "price"),
                field(&format!("tax_lines[{k}].price")),
            )?;
        }
    }
    Ok(off)
}

/// The `tclid` of a landing page such as `/products/tea?tclid=...`.
pub fn tclid_in(landing_site: &str) -> Option<String> {
    let base = url::Url::parse("https://shop.invalid/").ok()?;
    let u = base.join(landing_site.trim()).ok()?;
    u.query_pairs()
        .find(|(k, _)| k == "tclid")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

/// Reads an `orders/paid` payload.
pub fn order_from_paid(body: &Value, now: NaiveDateTime) -> Result<OrderInput, FieldErrors> {
    let mut errors = FieldErrors::new();
    let order_id = id_of(body.get("id"));
    if order_id.is_none() {
        errors.add("id", "is required (the Shopify order id)");
    }
    let currency = match body.get("currency").and_then(Value::as_str) {
        Some(c) => errors.check("currency", Currency::parse(c).map_err(|e| e.to_string())),
        None => {
            errors.add("currency", "is required");
            None
        }
    };
    let at = body
        .get("processed_at")
        .and_then(Value::as_str)
        .or_else(|| body.get("created_at").and_then(Value::as_str));
    let occurred_at = match at {
        Some(t) => errors.check("processed_at", timestamp(t, now)),
        None => {
            errors.add("processed_at", "is required");
            None
        }
    };
    let coupon_code = body
        .get("discount_codes")
        .and_then(Value::as_array)
        .and_then(|codes| codes.iter().find_map(|c| c.get("code")?.as_str()))
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty() && c.len() <= 64);
    let click_id = body
        .get("landing_site")
        .and_then(Value::as_str)
        .and_then(tclid_in)
        .or_else(|| {
            body.get("note_attributes")?
                .as_array()?
                .iter()
                .find(|a| a.get("name").and_then(Value::as_str) == Some("tclid"))?
                .get("value")?
                .as_str()
                .map(str::to_owned)
        });
    let customer_email = body
        .get("email")
        .and_then(Value::as_str)
        .or_else(|| body.get("customer")?.get("email")?.as_str())
        .filter(|e| !e.is_empty())
        .map(str::to_owned);
    // The other ids merchants know the order by: its name ("#1001") and number (1001).
    let also_known_as: Vec<String> = [body.get("name"), body.get("order_number")]
        .into_iter()
        .filter_map(id_of)
        .collect();
    let taxes_included = body.get("taxes_included").and_then(Value::as_bool) == Some(true);
    let mut items = Vec::new();
    match (body.get("line_items").and_then(Value::as_array), currency) {
        (Some(lines), Some(currency)) if !lines.is_empty() && lines.len() <= MAX_ITEMS => {
            for (n, l) in lines.iter().enumerate() {
                let field = |k: &str| format!("line_items[{n}].{k}");
                let sku = l
                    .get("sku")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .or_else(|| id_of(l.get("variant_id")).map(|v| format!("shopify-variant-{v}")))
                    .unwrap_or_else(|| format!("shopify-line-{}", n + 1));
                let quantity = l.get("quantity").and_then(Value::as_i64);
                let Some(quantity) = quantity.filter(|q| (1..=1_000_000).contains(q)) else {
                    errors.add(&field("quantity"), "must be a whole number from 1");
                    continue;
                };
                let price = errors.check(
                    &field("price"),
                    amount(shop_amount(l, "price_set", "price").as_ref(), currency),
                );
                let discount = match line_deductions(l, taxes_included, currency, &field) {
                    Ok(d) => Some(d),
                    Err((f, e)) => {
                        errors.add(&f, e);
                        None
                    }
                };
                if let (Some(price), Some(discount)) = (price, discount) {
                    match price.checked_mul(quantity) {
                        Some(gross) if discount <= gross => items.push(ItemInput {
                            sku,
                            quantity,
                            unit_price_minor: price,
                            discount_minor: discount,
                        }),
                        _ => errors.add(
                            &field("discount_allocations"),
                            "take more than the line's price",
                        ),
                    }
                }
            }
        }
        (Some(lines), Some(_)) if lines.len() > MAX_ITEMS => {
            errors.add("line_items", format!("must have at most {MAX_ITEMS} lines"));
        }
        (_, Some(_)) => errors.add("line_items", "must have at least one line"),
        (_, None) => {}
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
                also_known_as,
            })
        }
        _ => Err(errors),
    }
}

/// A `refunds/create` payload: (order id, refund id, amount as a decimal string in the
/// order's currency, time). The amount is the refunded lines' subtotals (what commission is
/// computed on: no tax or shipping); a refund without lines uses its refund transactions.
pub fn refund_from_create(
    body: &Value,
    currency: Currency,
    now: NaiveDateTime,
) -> Result<(String, String, i64, NaiveDateTime), FieldErrors> {
    let mut errors = FieldErrors::new();
    let refund_id = id_of(body.get("id"));
    if refund_id.is_none() {
        errors.add("id", "is required (the Shopify refund id)");
    }
    let order_id = id_of(body.get("order_id"));
    if order_id.is_none() {
        errors.add("order_id", "is required");
    }
    let at = body
        .get("processed_at")
        .and_then(Value::as_str)
        .or_else(|| body.get("created_at").and_then(Value::as_str));
    let occurred_at = match at {
        Some(t) => errors.check("created_at", timestamp(t, now)),
        None => {
            errors.add("created_at", "is required");
            None
        }
    };
    let mut total: i64 = 0;
    let lines = body
        .get("refund_line_items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (n, l) in lines.iter().enumerate() {
        let v = l
            .get("subtotal_set")
            .and_then(|s| s.get("shop_money"))
            .and_then(|m| m.get("amount"))
            .or_else(|| l.get("subtotal"));
        if let Some(a) = errors.check(
            &format!("refund_line_items[{n}].subtotal"),
            amount(v, currency),
        ) {
            total += a;
        }
    }
    if lines.is_empty() {
        for (n, t) in body
            .get("transactions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let kind = t.get("kind").and_then(Value::as_str);
            let status = t.get("status").and_then(Value::as_str);
            if kind == Some("refund") && status == Some("success") {
                if let Some(a) = errors.check(
                    &format!("transactions[{n}].amount"),
                    amount(t.get("amount"), currency),
                ) {
                    total += a;
                }
            }
        }
    }
    match (order_id, refund_id, occurred_at) {
        (Some(o), Some(r), Some(t)) if errors.is_empty() => Ok((o, r, total, t)),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn hmac_and_tclid() {
        let body = br#"{"id":1}"#;
        let h = sign(b"shpss_secret", body);
        assert!(verify(b"shpss_secret", body, Some(&h)));
        assert!(!verify(b"other", body, Some(&h)));
        assert!(!verify(b"shpss_secret", br#"{"id":2}"#, Some(&h)));
        assert!(!verify(b"shpss_secret", body, None));
        assert!(!verify(b"shpss_secret", body, Some("not base64!")));
        assert_eq!(
            tclid_in("/products/tea?utm_source=douyin&tclid=abc123").as_deref(),
            Some("abc123")
        );
        assert_eq!(
            tclid_in("https://shop.example/?tclid=x1").as_deref(),
            Some("x1")
        );
        assert_eq!(tclid_in("/products/tea"), None);
    }

    #[test]
    fn a_paid_order_reads_its_signals_and_lines() {
        let now = chrono::Utc::now().naive_utc();
        let body = json!({
            "id": 820982911946154500u64,
            "email": "jon@example.com",
            "processed_at": "2026-01-01T10:00:00-05:00",
            "currency": "USD",
            "landing_site": "/products/ipod?tclid=0000000000abcdefghijklmnop",
            "discount_codes": [{"code": "mia10", "amount": "10.00", "type": "fixed_amount"}],
            "line_items": [
                {"id": 1, "variant_id": 447654529, "sku": "IPOD2008BLACK", "quantity": 1, "price": "199.00", "total_discount": "10.00"},
                {"id": 2, "variant_id": 9, "sku": "", "quantity": 2, "price": "5.50", "total_discount": "0.00"}
            ]
        });
        let o = order_from_paid(&body, now).unwrap();
        assert_eq!(o.order_id, "820982911946154500");
        assert_eq!(o.coupon_code.as_deref(), Some("MIA10"));
        assert_eq!(o.click_id.as_deref(), Some("0000000000abcdefghijklmnop"));
        assert_eq!(o.items[0].discount_minor, 1000);
        assert_eq!(o.items[1].sku, "shopify-variant-9");
        let e = order_from_paid(&json!({"id": 1, "currency": "USD", "processed_at": "2026-01-01T00:00:00Z", "line_items": [{"quantity": 0, "price": "1.00"}]}), now).unwrap_err();
        assert_eq!(e.iter().next().unwrap().field, "line_items[0].quantity");
    }

    /// Payloads shaped as Shopify's current REST Admin API documents `orders/paid`: the base
    /// Tandem computes equals Shopify's own `current_subtotal_price` (minus included tax).
    #[test]
    fn the_base_is_shopifys_subtotal_whatever_the_discounts() {
        let now = chrono::Utc::now().naive_utc();
        let alloc = |a: &str, index: u32| {
            json!({"amount": a, "discount_application_index": index,
                   "amount_set": {"shop_money": {"amount": a, "currency_code": "USD"},
                                  "presentment_money": {"amount": a, "currency_code": "USD"}}})
        };
        let line = |id: u64, sku: &str, price: &str, qty: i64, allocs: Vec<Value>, tax: &str| {
            json!({"id": id, "sku": sku, "quantity": qty, "price": price,
                   "price_set": {"shop_money": {"amount": price, "currency_code": "USD"}},
                   "total_discount": "0.00",
                   "total_discount_set": {"shop_money": {"amount": "0.00", "currency_code": "USD"}},
                   "discount_allocations": allocs,
                   "tax_lines": [{"price": tax, "rate": 0.19, "title": "VAT",
                                  "price_set": {"shop_money": {"amount": tax, "currency_code": "USD"}}}]})
        };
        let order = |lines: Vec<Value>, taxes_included: bool, subtotal: &str, tax: &str| {
            json!({"id": 5550001u64, "name": "#1001", "order_number": 1001, "currency": "USD",
                   "processed_at": "2026-01-01T10:00:00Z", "taxes_included": taxes_included,
                   "current_subtotal_price": subtotal, "current_total_tax": tax,
                   "line_items": lines})
        };
        let base = |body: &Value| {
            let o = order_from_paid(body, now).unwrap();
            o.base_minor().unwrap()
        };
        let subtotal = |body: &Value| {
            let m = |k: &str| {
                Money::parse(body[k].as_str().unwrap(), Currency::parse("USD").unwrap())
                    .unwrap()
                    .minor()
            };
            if body["taxes_included"] == json!(true) {
                m("current_subtotal_price") - m("current_total_tax")
            } else {
                m("current_subtotal_price")
            }
        };
        // An order-level code of 29.10 spread over two lines, and a 5.00 manual discount on
        // the second line.
        let code_and_manual = order(
            vec![
                line(1, "A", "99.00", 1, vec![alloc("14.48", 0)], "0.00"),
                line(
                    2,
                    "B",
                    "50.00",
                    2,
                    vec![alloc("14.62", 0), alloc("5.00", 1)],
                    "0.00",
                ),
            ],
            false,
            "164.90",
            "0.00",
        );
        assert_eq!(base(&code_and_manual), 16490);
        assert_eq!(base(&code_and_manual), subtotal(&code_and_manual));
        let o = order_from_paid(&code_and_manual, now).unwrap();
        assert_eq!(o.also_known_as, vec!["#1001".to_owned(), "1001".to_owned()]);
        // A 10 % code.
        let percent = order(
            vec![
                line(1, "A", "99.00", 1, vec![alloc("9.90", 0)], "0.00"),
                line(2, "B", "50.00", 2, vec![alloc("10.00", 0)], "0.00"),
            ],
            false,
            "179.10",
            "0.00",
        );
        assert_eq!(base(&percent), subtotal(&percent));
        // Free shipping: the discount is on the shipping line, not on the products.
        let mut shipping = order(
            vec![line(1, "A", "99.00", 1, vec![], "0.00")],
            false,
            "99.00",
            "0.00",
        );
        shipping["shipping_lines"] = json!([{"price": "10.00",
            "discount_allocations": [alloc("10.00", 0)]}]);
        assert_eq!(base(&shipping), subtotal(&shipping));
        // A shop whose prices include 19 % VAT: the tax comes off too.
        let vat = order(
            vec![
                line(1, "A", "119.00", 1, vec![], "19.00"),
                line(2, "B", "59.50", 2, vec![alloc("11.90", 0)], "17.10"),
            ],
            true,
            "226.10",
            "36.10",
        );
        assert_eq!(base(&vat), 19000);
        assert_eq!(base(&vat), subtotal(&vat));
        // Tax on a shop whose prices exclude it is not in the subtotal: nothing comes off.
        let plus_tax = order(
            vec![line(1, "A", "100.00", 1, vec![], "19.00")],
            false,
            "100.00",
            "19.00",
        );
        assert_eq!(base(&plus_tax), subtotal(&plus_tax));
        // An older payload without allocations: total_discount.
        let mut old = order(
            vec![line(1, "A", "99.00", 1, vec![], "0.00")],
            false,
            "89.00",
            "0",
        );
        old["line_items"][0]["total_discount"] = json!("10.00");
        old["line_items"][0]
            .as_object_mut()
            .unwrap()
            .remove("total_discount_set");
        assert_eq!(base(&old), subtotal(&old));
    }
}
