//! Orders and refunds from a CSV file (the merchant portal's import), checked by the same
//! rules as postbacks. Every problem names its line and column.
//!
//! Orders: one row per order line, rows of one order sharing its `order_id`:
//! `order_id, occurred_at, currency, sku, quantity, unit_price, discount, coupon_code,
//! click_id, customer_email, other_ids` (`discount`, `coupon_code`, `click_id`,
//! `customer_email`, `other_ids` may be left out or empty; `other_ids` lists other ids the
//! order is known by, `;`-separated). Shopify's own orders export is read as well.
//! Refunds: `order_id, refund_id, amount, occurred_at`.

use chrono::NaiveDateTime;

use super::email_address::EmailAddress;
use super::money::{Currency, Money};
use super::order::{
    ItemInput, MAX_ITEMS, MAX_QUANTITY, OrderInput, RefundInput, identifier, timestamp,
};

pub const MAX_CSV_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_CSV_ROWS: usize = 10_000;

/// A problem on one line of the file (line 1 is the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    pub field: String,
    pub message: String,
}

/// One order of the file, or the reasons it cannot be read.
#[derive(Debug, Clone)]
pub struct OrderRows {
    pub order_id: String,
    pub first_line: usize,
    pub result: Result<OrderInput, Vec<RowError>>,
}

#[derive(Debug, Clone)]
pub struct RefundRow {
    pub line: usize,
    pub refund_id: String,
    pub result: Result<RefundInput, Vec<RowError>>,
}

pub(super) fn reader(text: &str) -> Result<csv::Reader<&[u8]>, String> {
    if text.len() > MAX_CSV_BYTES {
        return Err(format!(
            "The file is larger than {} MB; split it.",
            MAX_CSV_BYTES / 1024 / 1024
        ));
    }
    if text.trim().is_empty() {
        return Err("The file is empty.".to_owned());
    }
    Ok(csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes()))
}

/// Column positions by name; an error naming what is missing.
fn columns(
    rdr: &mut csv::Reader<&[u8]>,
    required: &[&str],
    optional: &[&str],
) -> Result<Vec<(String, usize)>, String> {
    let headers = rdr
        .headers()
        .map_err(|e| format!("The first line must name the columns: {e}"))?
        .clone();
    let mut out = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let name = h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
        if required.contains(&name.as_str()) || optional.contains(&name.as_str()) {
            out.push((name, i));
        } else {
            return Err(format!(
                "Unknown column \"{name}\". Use: {}.",
                required
                    .iter()
                    .chain(optional)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let missing: Vec<&str> = required
        .iter()
        .filter(|r| !out.iter().any(|(n, _)| n == *r))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(format!("Missing column(s): {}.", missing.join(", ")));
    }
    Ok(out)
}

fn cell<'a>(record: &'a csv::StringRecord, cols: &[(String, usize)], name: &str) -> &'a str {
    cols.iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, i)| record.get(*i))
        .unwrap_or("")
}

/// Reads an orders file, grouping lines by order id (in the file's order). Shopify's own
/// orders export is read too (see [`super::shopify_csv`]).
pub fn parse_orders(text: &str, now: NaiveDateTime) -> Result<Vec<OrderRows>, String> {
    reader(text)?;
    if super::shopify_csv::is_export(text) {
        return parse_tandem_orders(&super::shopify_csv::translate(text)?, now);
    }
    parse_tandem_orders(text, now)
}

fn parse_tandem_orders(text: &str, now: NaiveDateTime) -> Result<Vec<OrderRows>, String> {
    let mut rdr = reader(text)?;
    let cols = columns(
        &mut rdr,
        &[
            "order_id",
            "occurred_at",
            "currency",
            "sku",
            "quantity",
            "unit_price",
        ],
        &[
            "discount",
            "coupon_code",
            "click_id",
            "customer_email",
            "other_ids",
        ],
    )?;
    let mut orders: Vec<OrderRows> = Vec::new();
    for (n, record) in rdr.records().enumerate() {
        let line = n + 2;
        if n >= MAX_CSV_ROWS {
            return Err(format!(
                "The file has more than {MAX_CSV_ROWS} rows; split it."
            ));
        }
        let record = record.map_err(|e| format!("Line {line} cannot be read: {e}"))?;
        let get = |name: &str| cell(&record, &cols, name);
        let mut errs: Vec<RowError> = Vec::new();
        let mut err = |field: &str, message: String| {
            errs.push(RowError {
                line,
                field: field.to_owned(),
                message,
            })
        };
        let order_id = match identifier(get("order_id")) {
            Ok(o) => o,
            Err(e) => {
                err("order_id", e);
                format!("(line {line})")
            }
        };
        let currency = Currency::parse(get("currency"))
            .map_err(|e| err("currency", e.to_string()))
            .ok();
        let occurred_at = timestamp(get("occurred_at"), now)
            .map_err(|e| err("occurred_at", e))
            .ok();
        let sku = identifier(get("sku")).map_err(|e| err("sku", e)).ok();
        let quantity = match get("quantity").parse::<i64>() {
            Ok(q) if (1..=MAX_QUANTITY).contains(&q) => Some(q),
            _ => {
                err(
                    "quantity",
                    format!("must be a whole number from 1 to {MAX_QUANTITY}"),
                );
                None
            }
        };
        let money = |raw: &str| -> Result<i64, String> {
            let c = currency.ok_or_else(|| "needs a valid currency".to_owned())?;
            let m = Money::parse(raw, c).map_err(|e| e.to_string())?;
            if m.is_negative() {
                Err("must not be negative".to_owned())
            } else {
                Ok(m.minor())
            }
        };
        let unit_price = money(get("unit_price"))
            .map_err(|e| err("unit_price", e))
            .ok();
        let discount = if get("discount").is_empty() {
            Some(0)
        } else {
            money(get("discount")).map_err(|e| err("discount", e)).ok()
        };
        if let (Some(p), Some(q), Some(d)) = (unit_price, quantity, discount)
            && p.checked_mul(q).is_none_or(|g| d > g)
        {
            err(
                "discount",
                "must not be more than unit_price times quantity".to_owned(),
            );
        }
        let opt = |name: &str| {
            let v = get(name);
            (!v.is_empty()).then(|| v.to_owned())
        };
        let coupon_code = opt("coupon_code").map(|c| c.to_ascii_uppercase());
        let click_id = opt("click_id");
        // Other ids the order is known by (Shopify's `id` beside its name), `;`-separated.
        let mut also_known_as: Vec<String> = Vec::new();
        for id in get("other_ids").split(';').filter(|s| !s.trim().is_empty()) {
            match identifier(id) {
                Ok(id) => also_known_as.push(id),
                Err(e) => err("other_ids", e),
            }
        }
        let customer_email = match opt("customer_email") {
            Some(e) => EmailAddress::parse(&e)
                .map(|a| Some(a.to_string()))
                .unwrap_or_else(|m| {
                    err("customer_email", m.to_owned());
                    None
                }),
            None => None,
        };
        let item = match (sku, quantity, unit_price, discount) {
            (Some(sku), Some(quantity), Some(unit_price_minor), Some(discount_minor)) => {
                Some(ItemInput {
                    sku,
                    quantity,
                    unit_price_minor,
                    discount_minor,
                })
            }
            _ => None,
        };
        // Join the order this line belongs to.
        let pos = orders.iter().position(|o| o.order_id == order_id);
        match pos {
            None => {
                let result = match (errs.is_empty(), currency, occurred_at, item) {
                    (true, Some(currency), Some(occurred_at), Some(item)) => Ok(OrderInput {
                        order_id: order_id.clone(),
                        currency,
                        occurred_at,
                        click_id,
                        coupon_code,
                        customer_email,
                        items: vec![item],
                        also_known_as,
                    }),
                    _ => Err(errs),
                };
                orders.push(OrderRows {
                    order_id,
                    first_line: line,
                    result,
                });
            }
            Some(i) => {
                let o = &mut orders[i];
                match (&mut o.result, errs.is_empty(), item) {
                    (Ok(order), true, Some(item)) => {
                        let same = Some(order.currency) == currency
                            && Some(order.occurred_at) == occurred_at
                            && order.coupon_code == coupon_code
                            && order.click_id == click_id
                            && order.customer_email == customer_email;
                        if !same {
                            o.result = Err(vec![RowError {
                                line,
                                field: "order_id".to_owned(),
                                message: format!(
                                    "repeats order {} with another currency, time, coupon, click id or email than line {}",
                                    o.order_id, o.first_line
                                ),
                            }]);
                        } else if order.items.len() >= MAX_ITEMS {
                            o.result = Err(vec![RowError {
                                line,
                                field: "sku".to_owned(),
                                message: format!("an order has at most {MAX_ITEMS} lines"),
                            }]);
                        } else {
                            order.items.push(item);
                        }
                    }
                    (Ok(_), _, _) => o.result = Err(errs),
                    (Err(previous), _, _) => previous.extend(errs),
                }
            }
        }
    }
    if orders.is_empty() {
        return Err("The file has a header but no rows.".to_owned());
    }
    Ok(orders)
}

/// Reads a refunds file.
pub fn parse_refunds(text: &str, now: NaiveDateTime) -> Result<Vec<RefundRow>, String> {
    let mut rdr = reader(text)?;
    let cols = columns(
        &mut rdr,
        &["order_id", "refund_id", "amount", "occurred_at"],
        &[],
    )?;
    let mut out = Vec::new();
    for (n, record) in rdr.records().enumerate() {
        let line = n + 2;
        if n >= MAX_CSV_ROWS {
            return Err(format!(
                "The file has more than {MAX_CSV_ROWS} rows; split it."
            ));
        }
        let record = record.map_err(|e| format!("Line {line} cannot be read: {e}"))?;
        let get = |name: &str| cell(&record, &cols, name);
        let mut errs = Vec::new();
        let mut check = |field: &str, r: Result<String, String>| match r {
            Ok(v) => Some(v),
            Err(message) => {
                errs.push(RowError {
                    line,
                    field: field.to_owned(),
                    message,
                });
                None
            }
        };
        let order_id = check("order_id", identifier(get("order_id")));
        let refund_id = check("refund_id", identifier(get("refund_id")));
        let amount = check(
            "amount",
            if get("amount").is_empty() {
                Err("is required".to_owned())
            } else {
                Ok(get("amount").to_owned())
            },
        );
        let occurred_at = check(
            "occurred_at",
            timestamp(get("occurred_at"), now).map(|t| t.to_string()),
        )
        .and_then(|_| timestamp(get("occurred_at"), now).ok());
        let label = refund_id
            .clone()
            .unwrap_or_else(|| format!("(line {line})"));
        let result = match (order_id, refund_id, amount, occurred_at) {
            (Some(order_id), Some(refund_id), Some(amount), Some(occurred_at)) => Ok(RefundInput {
                order_id,
                refund_id,
                amount,
                occurred_at,
            }),
            _ => Err(errs),
        };
        out.push(RefundRow {
            line,
            refund_id: label,
            result,
        });
    }
    if out.is_empty() {
        return Err("The file has a header but no rows.".to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> NaiveDateTime {
        chrono::DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn lines_group_into_orders_and_errors_name_line_and_column() {
        let text = "order_id,occurred_at,currency,sku,quantity,unit_price,discount,coupon_code\n\
                    A-1,2026-11-20T10:00:00Z,CNY,TEA-1,2,128.00,6.00,mia7\n\
                    A-1,2026-11-20T10:00:00Z,CNY,TEA-2,1,88.50,,mia7\n\
                    A-2,2026-11-21T10:00:00Z,CNY,TEA-1,0,128.001,,\n\
                    A-3,2026-11-21T10:00:00Z,CNY,TEA-1,1,10.00,,\n\
                    A-3,2026-11-22T10:00:00Z,CNY,TEA-2,1,10.00,,\n";
        let orders = parse_orders(text, now()).unwrap();
        assert_eq!(orders.len(), 3);
        let a1 = orders[0].result.as_ref().unwrap();
        assert_eq!(a1.items.len(), 2);
        assert_eq!(a1.coupon_code.as_deref(), Some("MIA7"));
        let e = orders[1].result.as_ref().unwrap_err();
        let fields: Vec<(usize, &str)> = e.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(fields, [(4, "quantity"), (4, "unit_price")]);
        let e = orders[2].result.as_ref().unwrap_err();
        assert_eq!(e[0].line, 6);
        assert!(e[0].message.contains("another currency, time"));
    }

    #[test]
    fn bad_files_say_why() {
        assert!(parse_orders("", now()).unwrap_err().contains("empty"));
        assert!(
            parse_orders("order_id,sku\nA,B\n", now())
                .unwrap_err()
                .contains("Missing column")
        );
        assert!(
            parse_orders(
                "order_id,occurred_at,currency,sku,quantity,unit_price,colour\n",
                now()
            )
            .unwrap_err()
            .contains("Unknown column \"colour\"")
        );
        let r = parse_refunds(
            "order_id,refund_id,amount,occurred_at\nA-1,R-1,10.00,2026-11-22T00:00:00Z\nA-1,,x,never\n",
            now(),
        )
        .unwrap();
        assert!(r[0].result.is_ok());
        let e = r[1].result.as_ref().unwrap_err();
        assert_eq!(
            e.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            ["refund_id", "occurred_at"]
        );
    }
}
