//! Shopify's own orders export (Admin → Orders → Export, "CSV for Excel, Numbers, or other
//! spreadsheet programs"), read as Tandem's orders file: one row per order line, the order's
//! own fields (Id, Email, Currency, Subtotal, Discount Code, dates) only on its first row.
//!
//! Each row becomes a row of Tandem's format, line for line (so errors name the file's own
//! lines): `Name` is the order id and `Id` another id it is known by (a webhook reports the
//! same order by its `id`), `Paid at` (else `Created at`) its time, `Lineitem sku`,
//! `Lineitem quantity`, `Lineitem price` and `Lineitem discount` its lines, `Discount Code`
//! its coupon, `tclid` in `Note Attributes` its click. An order-level discount (a code) is
//! only in the order's `Subtotal`: what the lines' own discounts leave above it is spread
//! over the lines by largest remainder, so that the base is Shopify's subtotal.

use chrono::DateTime;

use super::money::{Currency, Money, allocate};

/// The columns that tell Shopify's export apart.
const MARKERS: [&str; 3] = ["name", "lineitem sku", "lineitem price"];

fn header_names(text: &str) -> Option<Vec<String>> {
    let mut rdr = super::order_csv::reader(text).ok()?;
    let headers = rdr.headers().ok()?;
    Some(
        headers
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect(),
    )
}

/// Whether the file is Shopify's orders export.
pub fn is_export(text: &str) -> bool {
    header_names(text).is_some_and(|h| MARKERS.iter().all(|m| h.iter().any(|c| c == m)))
}

struct Row {
    name: String,
    id: String,
    at: String,
    currency: String,
    email: String,
    code: String,
    subtotal: String,
    tclid: String,
    sku: String,
    quantity: String,
    price: String,
    discount: String,
}

/// A Shopify export time ("2026-11-26 14:05:00 +0800") as RFC 3339; anything else as it is
/// (the orders parser then says what is wrong).
fn time(raw: &str) -> String {
    DateTime::parse_from_str(raw.trim(), "%Y-%m-%d %H:%M:%S %z")
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|_| raw.trim().to_owned())
}

/// The `tclid` among note attributes ("tclid: abc" lines).
fn tclid(notes: &str) -> String {
    notes
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim().eq_ignore_ascii_case("tclid")).then(|| v.trim().to_owned())
        })
        .unwrap_or_default()
}

/// Shopify's export as a file in Tandem's orders format (with its `other_ids` column).
pub fn translate(text: &str) -> Result<String, String> {
    let names = header_names(text).ok_or("The first line must name the columns.")?;
    let col = |n: &str| names.iter().position(|c| c == n);
    let mut rdr = super::order_csv::reader(text)?;
    let mut rows: Vec<Row> = Vec::new();
    for (n, record) in rdr.records().enumerate() {
        let record = record.map_err(|e| format!("Line {} cannot be read: {e}", n + 2))?;
        let get = |name: &str| {
            col(name)
                .and_then(|i| record.get(i))
                .unwrap_or("")
                .to_owned()
        };
        let name = get("name");
        // The order's own fields are on its first row only.
        let first = rows.iter().find(|r| r.name == name && !name.is_empty());
        let carry = |v: String, f: fn(&Row) -> &String| match (v.is_empty(), first) {
            (true, Some(r)) => f(r).clone(),
            _ => v,
        };
        let paid = get("paid at");
        let at = if paid.is_empty() {
            get("created at")
        } else {
            paid
        };
        let row = Row {
            id: carry(get("id"), |r| &r.id),
            at: carry(time(&at), |r| &r.at),
            currency: carry(get("currency"), |r| &r.currency),
            email: carry(get("email"), |r| &r.email),
            code: carry(get("discount code"), |r| &r.code),
            subtotal: carry(get("subtotal"), |r| &r.subtotal),
            tclid: carry(tclid(&get("note attributes")), |r| &r.tclid),
            sku: get("lineitem sku"),
            quantity: get("lineitem quantity"),
            price: get("lineitem price"),
            discount: get("lineitem discount"),
            name,
        };
        rows.push(row);
    }
    spread_order_discounts(&mut rows);
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "order_id",
        "occurred_at",
        "currency",
        "sku",
        "quantity",
        "unit_price",
        "discount",
        "coupon_code",
        "click_id",
        "customer_email",
        "other_ids",
    ];
    let write_err = |e: csv::Error| e.to_string();
    out.write_record(header).map_err(write_err)?;
    for (n, r) in rows.iter().enumerate() {
        let sku = if r.sku.is_empty() {
            format!("shopify-line-{}", n + 1)
        } else {
            r.sku.clone()
        };
        out.write_record([
            &r.name,
            &r.at,
            &r.currency,
            &sku,
            &r.quantity,
            &r.price,
            &r.discount,
            &r.code,
            &r.tclid,
            &r.email,
            &r.id,
        ])
        .map_err(write_err)?;
    }
    let bytes = out.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// Spreads what each order's lines leave above its `Subtotal` (an order-level discount)
/// over its lines, in proportion to what each is worth after its own discount. Orders whose
/// amounts cannot be read are left as they are, for the parser to report.
fn spread_order_discounts(rows: &mut [Row]) {
    let mut names: Vec<String> = Vec::new();
    for r in rows.iter() {
        if !names.contains(&r.name) {
            names.push(r.name.clone());
        }
    }
    for name in names {
        let idx: Vec<usize> = (0..rows.len()).filter(|i| rows[*i].name == name).collect();
        let Ok(currency) = Currency::parse(&rows[idx[0]].currency) else {
            continue;
        };
        let money = |s: &str| -> Option<i64> {
            if s.is_empty() {
                return Some(0);
            }
            Money::parse(s, currency).ok().map(|m| m.minor())
        };
        let Some(subtotal) = (!rows[idx[0]].subtotal.is_empty())
            .then(|| money(&rows[idx[0]].subtotal))
            .flatten()
        else {
            continue;
        };
        let mut nets = Vec::with_capacity(idx.len());
        let mut discounts = Vec::with_capacity(idx.len());
        for i in &idx {
            let r = &rows[*i];
            let (Some(price), Ok(q), Some(d)) = (
                money(&r.price),
                r.quantity.parse::<i64>(),
                money(&r.discount),
            ) else {
                nets.clear();
                break;
            };
            let Some(net) = price.checked_mul(q).and_then(|g| g.checked_sub(d)) else {
                nets.clear();
                break;
            };
            nets.push(net.max(0));
            discounts.push(d);
        }
        if nets.len() != idx.len() {
            continue;
        }
        let sum: i64 = nets.iter().sum();
        if subtotal < 0 || subtotal >= sum {
            continue;
        }
        let Some(extra) = allocate(sum - subtotal, &nets) else {
            continue;
        };
        for ((i, d), e) in idx.iter().zip(discounts).zip(extra) {
            if let Ok(m) = Money::from_minor(d + e, currency) {
                rows[*i].discount = m.to_plain_string();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns of Shopify's export that Tandem reads, among others it ignores.
    const EXPORT: &str = "Name,Email,Financial Status,Paid at,Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Note Attributes,Id,Lineitem discount
#1001,fan@example.com,paid,2026-11-26 14:05:00 +0800,CNY,164.90,10.00,0.00,174.90,MIA10,34.10,2026-11-26 14:04:00 +0800,1,Dragon Well,99.00,TEA-1,tclid: abc123,5550001,0.00
#1001,,,,,,,,,,,,2,Pu-erh,50.00,TEA-2,,,5.00
#1002,other@example.com,paid,2026-11-27 09:00:00 +0800,CNY,20.00,0.00,0.00,20.00,,0.00,2026-11-27 09:00:00 +0800,1,Cup,20.00,,,5550002,0.00
";

    #[test]
    fn shopifys_export_reads_as_orders_with_both_ids() {
        assert!(is_export(EXPORT));
        assert!(!is_export(
            "order_id,occurred_at,currency,sku,quantity,unit_price\n"
        ));
        let now = chrono::Utc::now().naive_utc();
        let orders = super::super::order_csv::parse_orders(EXPORT, now).unwrap();
        assert_eq!(orders.len(), 2);
        let o = orders[0].result.as_ref().unwrap();
        assert_eq!(o.order_id, "#1001");
        assert_eq!(o.also_known_as, vec!["5550001".to_owned()]);
        assert_eq!(o.aliases(), vec!["1001".to_owned(), "5550001".to_owned()]);
        assert_eq!(o.coupon_code.as_deref(), Some("MIA10"));
        assert_eq!(o.click_id.as_deref(), Some("abc123"));
        assert_eq!(o.items.len(), 2);
        // 199.00 of lines, 5.00 of line discount, and the code's 29.10 spread: Shopify's
        // subtotal.
        assert_eq!(o.base_minor(), Some(16490));
        assert_eq!(
            o.occurred_at,
            chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
                .unwrap()
                .and_hms_opt(6, 5, 0)
                .unwrap()
        );
        let second = orders[1].result.as_ref().unwrap();
        assert_eq!(second.items[0].sku, "shopify-line-3");
        assert_eq!(second.base_minor(), Some(2000));
    }
}
