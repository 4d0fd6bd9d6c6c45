//! The merchant's Orders list and the influencer's Earnings list: every filter keeps exactly
//! the rows a query on the raw tables keeps, the pages cover each of them once in order,
//! totals are sums over every filtered row (not a page), "You owe now" is the ledger's
//! receivable, bad filters are 400s naming the field, and the CSVs carry the filtered rows.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use chrono_tz::Tz;
use diesel::prelude::*;
use reqwest::{Client, StatusCode};
use tandem::db::DbConn;
use tandem::db::schema::{
    collaborations, commissions, conversion_lines, conversions, influencers, merchant_members,
    order_ids, products, refunds, users,
};
use tandem::domain::ledger::{AccountKind, Owner};

use crate::helpers::{TestApp, cny_order};
use crate::payouts::{demo_client, text};

// ---------- reading pages ----------

/// A money string on a page ("¥1,108.14", "−¥3.00") in minor units (0 when empty).
fn minor(text: &str) -> i64 {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return 0;
    }
    let v: i64 = digits.parse().expect("money");
    if text.contains('−') || text.contains('-') {
        -v
    } else {
        v
    }
}

/// What follows `marker` up to `end`.
fn after<'a>(html: &'a str, marker: &str, end: &str) -> Option<&'a str> {
    let rest = &html[html.find(marker)? + marker.len()..];
    Some(&rest[..rest.find(end)?])
}

fn unescape(s: &str) -> String {
    s.replace("&#38;", "&").replace("&amp;", "&")
}

/// The link of the next page, if any.
fn next_link(html: &str) -> Option<String> {
    let nav = &html[html.find("class=\"pager\"")?..];
    let link = nav.find("rel=\"next\"")?;
    let start = nav[..link].rfind("href=\"")? + 6;
    Some(unescape(&nav[start..nav[start..].find('"')? + start]))
}

fn tbody(html: &str) -> &str {
    after(html, "<tbody>", "</tbody>").unwrap_or("")
}

/// The cell labelled `label` in a row, its money after any struck-through figure.
fn cell_money(row: &str, label: &str) -> i64 {
    let cell = after(
        row,
        &format!("data-label=\"{label}\" class=\"num\">"),
        "</td>",
    )
    .unwrap_or_else(|| panic!("{label} in {row}"));
    minor(cell.rsplit("</s>").next().unwrap_or(cell))
}

/// The merchant's list rows: (conversion id, commission left, fee left).
fn order_rows(html: &str) -> Vec<(i64, i64, i64)> {
    tbody(html)
        .split("<tr>")
        .skip(1)
        .map(|row| {
            let id = after(row, "href=\"/merchant/orders/", "\"")
                .expect("order link")
                .parse()
                .expect("id");
            (id, cell_money(row, "Commission"), cell_money(row, "Fee"))
        })
        .collect()
}

/// The influencer's list rows: (order id, commission left).
fn earning_rows(html: &str) -> Vec<(String, i64)> {
    tbody(html)
        .split("<tr>")
        .skip(1)
        .map(|row| {
            (
                after(row, "data-label=\"Order\"><code>", "</code>")
                    .expect("order id")
                    .to_owned(),
                cell_money(row, "Commission"),
            )
        })
        .collect()
}

/// Follows "Older →" / "Next →" from `first`: every page's HTML.
async fn all_pages(c: &Client, app: &TestApp, first: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut path = Some(first.to_owned());
    while let Some(p) = path {
        let (status, html) = text(c, app, &p).await;
        assert_eq!(status, StatusCode::OK, "{p}: {html}");
        path = next_link(&html);
        out.push(html);
        assert!(out.len() < 100, "paging ends");
    }
    out
}

fn csv_rows(csv: &str) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let head: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    r.records()
        .map(|rec| {
            head.iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn plain_minor(s: &str) -> i64 {
    if s.is_empty() {
        return 0;
    }
    let neg = s.starts_with('-');
    let (i, f) = s.trim_start_matches('-').split_once('.').unwrap_or((s, ""));
    let v: i64 = format!("{i}{f:0<2}").parse().expect("plain decimal");
    if neg { -v } else { v }
}

// ---------- the raw tables ----------

/// An order as the raw tables have it.
#[derive(Debug, Clone)]
struct Raw {
    id: i64,
    order_id: String,
    at: NaiveDateTime,
    currency: String,
    base: i64,
    signal: String,
    influencer: Option<i64>,
    /// (state, commission left, fee left) after refunds; nothing left once rejected.
    commission: Option<(String, i64, i64)>,
    refunded: i64,
    /// Lower-cased: the ids it is known by, its coupon, its lines' SKUs and product titles.
    texts: Vec<String>,
}

fn raw_orders(conn: &mut DbConn, merchant_id: i64) -> Vec<Raw> {
    type Conv = (
        i64,
        String,
        NaiveDateTime,
        String,
        i64,
        String,
        Option<i64>,
        Option<String>,
    );
    let convs: Vec<Conv> = conversions::table
        .filter(conversions::merchant_id.eq(merchant_id))
        .select((
            conversions::id,
            conversions::order_id,
            conversions::occurred_at,
            conversions::currency,
            conversions::base_minor,
            conversions::signal,
            conversions::influencer_id,
            conversions::coupon_code,
        ))
        .load(conn)
        .unwrap();
    let comms: BTreeMap<i64, (String, i64, i64)> = commissions::table
        .filter(commissions::merchant_id.eq(merchant_id))
        .select((
            commissions::conversion_id,
            commissions::state,
            commissions::amount_minor,
            commissions::fee_minor,
        ))
        .load::<(i64, String, i64, i64)>(conn)
        .unwrap()
        .into_iter()
        .map(|(c, s, a, f)| (c, (s, a, f)))
        .collect();
    let mut refunded: BTreeMap<i64, (i64, i64, i64)> = BTreeMap::new();
    for (c, a, k, f) in refunds::table
        .filter(refunds::merchant_id.eq(merchant_id))
        .select((
            refunds::conversion_id,
            refunds::amount_minor,
            refunds::commission_minor,
            refunds::fee_minor,
        ))
        .load::<(i64, i64, i64, i64)>(conn)
        .unwrap()
    {
        let e = refunded.entry(c).or_default();
        e.0 += a;
        e.1 += k;
        e.2 += f;
    }
    let mut texts: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (c, alias) in order_ids::table
        .filter(order_ids::merchant_id.eq(merchant_id))
        .select((order_ids::conversion_id, order_ids::alias))
        .load::<(i64, String)>(conn)
        .unwrap()
    {
        texts.entry(c).or_default().push(alias.to_lowercase());
    }
    let titles: BTreeMap<i64, String> = products::table
        .select((products::id, products::title))
        .load::<(i64, String)>(conn)
        .unwrap()
        .into_iter()
        .collect();
    for (c, sku, product) in conversion_lines::table
        .inner_join(conversions::table)
        .filter(conversions::merchant_id.eq(merchant_id))
        .select((
            conversion_lines::conversion_id,
            conversion_lines::sku,
            conversion_lines::product_id,
        ))
        .load::<(i64, String, Option<i64>)>(conn)
        .unwrap()
    {
        let t = texts.entry(c).or_default();
        t.push(sku.to_lowercase());
        if let Some(title) = product.and_then(|p| titles.get(&p)) {
            t.push(title.to_lowercase());
        }
    }
    convs
        .into_iter()
        .map(
            |(id, order_id, at, currency, base, signal, influencer, coupon)| {
                let (r_amount, r_commission, r_fee) =
                    refunded.get(&id).copied().unwrap_or_default();
                let mut t = texts.remove(&id).unwrap_or_default();
                t.push(order_id.to_lowercase());
                t.extend(coupon.map(|c| c.to_lowercase()));
                Raw {
                    commission: comms.get(&id).map(|(s, a, f)| {
                        if s == "rejected" {
                            (s.clone(), 0, 0)
                        } else {
                            (s.clone(), a - r_commission, f - r_fee)
                        }
                    }),
                    id,
                    order_id,
                    at,
                    currency,
                    base,
                    signal,
                    influencer,
                    refunded: r_amount,
                    texts: t,
                }
            },
        )
        .collect()
}

fn local_day(t: NaiveDateTime, tz: Tz) -> NaiveDate {
    t.and_utc().with_timezone(&tz).date_naive()
}

/// The filters of the merchant's list, as a test sends them.
#[derive(Debug, Clone, Default)]
struct OrderQ {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    influencer: Option<i64>,
    state: Option<&'static str>,
    attributed: Option<bool>,
    q: Option<String>,
}

impl OrderQ {
    fn keeps(&self, r: &Raw, tz: Tz) -> bool {
        let day = local_day(r.at, tz);
        self.from.is_none_or(|f| day >= f)
            && self.to.is_none_or(|t| day <= t)
            && self.influencer.is_none_or(|i| r.influencer == Some(i))
            && self.attributed.is_none_or(|a| a == (r.signal != "none"))
            && self.state.is_none_or(|s| match (&r.commission, s) {
                (None, "none") => true,
                (Some((state, _, _)), s) => state == s,
                _ => false,
            })
            && self.q.as_ref().is_none_or(|q| {
                let q = q.to_lowercase();
                r.texts.iter().any(|t| t.contains(&q))
            })
    }

    fn query(&self) -> String {
        let mut parts = Vec::new();
        if let Some(f) = self.from {
            parts.push(format!("from={f}"));
        }
        if let Some(t) = self.to {
            parts.push(format!("to={t}"));
        }
        if let Some(i) = self.influencer {
            parts.push(format!("influencer={i}"));
        }
        if let Some(s) = self.state {
            parts.push(format!("state={s}"));
        }
        if let Some(a) = self.attributed {
            parts.push(format!("attributed={}", if a { "yes" } else { "no" }));
        }
        if let Some(q) = &self.q {
            parts.push(format!("q={}", tandem::web::urlencode(q)));
        }
        parts.join("&")
    }
}

/// Who the demo's sign-in email is: (user id, time zone).
fn user_of(conn: &mut DbConn, email: &str) -> (i64, Tz) {
    let (id, tz): (i64, String) = users::table
        .filter(users::email.eq(email))
        .select((users::id, users::time_zone))
        .first(conn)
        .unwrap();
    (id, tz.parse().unwrap())
}

fn merchant_of(conn: &mut DbConn, email: &str) -> (i64, Tz) {
    let (user, tz) = user_of(conn, email);
    let m = merchant_members::table
        .filter(merchant_members::user_id.eq(user))
        .select(merchant_members::merchant_id)
        .first(conn)
        .unwrap();
    (m, tz)
}

/// Checks one filter of the merchant's list against the raw tables: the rows of every page
/// in order, each once; each row's commission and fee; the totals row; the CSV.
async fn check_orders(app: &TestApp, m: &Client, merchant: &str, q: &OrderQ) -> usize {
    let email = merchant.to_owned();
    let (raw, tz) = app
        .with_db(move |conn| {
            let (id, tz) = merchant_of(conn, &email);
            Ok((raw_orders(conn, id), tz))
        })
        .await;
    let mut want: Vec<&Raw> = raw.iter().filter(|r| q.keeps(r, tz)).collect();
    want.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
    let by_id: BTreeMap<i64, &Raw> = raw.iter().map(|r| (r.id, r)).collect();
    let qs = q.query();
    let pages = all_pages(m, app, &format!("/merchant/orders?{qs}")).await;
    let mut seen = Vec::new();
    for (n, html) in pages.iter().enumerate() {
        let rows = order_rows(html);
        assert!(rows.len() <= 50, "pages of 50");
        if n + 1 < pages.len() {
            assert_eq!(rows.len(), 50, "only the last page is short");
        }
        for (id, commission, fee) in rows {
            let r = by_id[&id];
            let (_, c, f) = r.commission.clone().unwrap_or_default();
            assert_eq!((commission, fee), (c, f), "order {}", r.order_id);
            seen.push(id);
        }
        if want.len() > 50 {
            let first = n * 50 + 1;
            let last = (first + 49).min(want.len());
            assert!(
                html.contains(&format!("Showing {first}–{last} of {} orders", want.len())),
                "{qs} page {n}"
            );
        }
    }
    let want_ids: Vec<i64> = want.iter().map(|r| r.id).collect();
    assert_eq!(
        seen, want_ids,
        "{qs}: every matching order once, newest first"
    );
    if !want.is_empty() {
        // The totals: every filtered order, not the page.
        let foot = after(&pages[0], "<tfoot>", "</tfoot>").expect("totals");
        let currencies: std::collections::BTreeSet<&str> =
            want.iter().map(|r| r.currency.as_str()).collect();
        assert_eq!(currencies.len(), 1, "one currency here");
        let sum = |f: &dyn Fn(&Raw) -> i64| want.iter().map(|r| f(r)).sum::<i64>();
        let (commission, fee) = (
            sum(&|r| r.commission.as_ref().map_or(0, |c| c.1)),
            sum(&|r| r.commission.as_ref().map_or(0, |c| c.2)),
        );
        assert_eq!(cell_money(foot, "Amount"), sum(&|r| r.base), "{qs}");
        assert_eq!(cell_money(foot, "Refunded"), sum(&|r| r.refunded), "{qs}");
        assert_eq!(cell_money(foot, "Commission"), commission, "{qs}");
        assert_eq!(cell_money(foot, "Fee"), fee, "{qs}");
        assert!(
            foot.contains(&format!(
                "{} order{}",
                want.len(),
                if want.len() == 1 { "" } else { "s" }
            )),
            "{foot}"
        );
        let stat = after(&pages[0], "Commission + fee on ", "</p></div>").unwrap();
        let shown = after(stat, "<p class=\"stat\">", "</p>").unwrap();
        assert_eq!(minor(shown), commission + fee, "{qs}");
    }
    // The CSV: the same rows, all of them, with their figures.
    let (status, csv) = text(m, app, &format!("/merchant/orders.csv?{qs}")).await;
    assert_eq!(status, StatusCode::OK);
    let rows = csv_rows(&csv);
    let got: Vec<&str> = rows.iter().map(|r| r["order_id"].as_str()).collect();
    let want_orders: Vec<&str> = want.iter().map(|r| r.order_id.as_str()).collect();
    assert_eq!(got, want_orders, "{qs}: the CSV");
    for (row, r) in rows.iter().zip(&want) {
        assert_eq!(plain_minor(&row["amount"]), r.base);
        assert_eq!(plain_minor(&row["refunded"]), r.refunded);
        let (state, c, f) = r.commission.clone().unwrap_or_default();
        assert_eq!(row["commission_state"], state);
        assert_eq!(plain_minor(&row["commission"]), c);
        assert_eq!(plain_minor(&row["platform_fee"]), f);
        assert_eq!(plain_minor(&row["commission_and_fee"]), c + f);
    }
    want.len()
}

fn dates_around(raw: &[Raw], tz: Tz) -> (NaiveDate, NaiveDate) {
    let mut days: Vec<NaiveDate> = raw.iter().map(|r| local_day(r.at, tz)).collect();
    days.sort();
    let mid = days[days.len() / 2];
    (mid - TimeDelta::days(3), mid)
}

#[tokio::test]
async fn the_merchants_orders_filter_page_and_add_up_as_the_raw_rows_do() {
    let app = TestApp::demo().await;
    let merchant = "merchant@demo.tandem.test";
    let m = demo_client(&app, merchant).await;
    let (merchant_id, raw, tz, influencer, coupon, sku) = app
        .with_db(move |conn| {
            let (id, tz) = merchant_of(conn, merchant);
            let raw = raw_orders(conn, id);
            let influencer = raw.iter().find_map(|r| r.influencer).unwrap();
            let coupon: String = conversions::table
                .filter(conversions::merchant_id.eq(id))
                .filter(conversions::coupon_code.is_not_null())
                .select(conversions::coupon_code.assume_not_null())
                .first(conn)?;
            let sku: String = conversion_lines::table
                .inner_join(conversions::table)
                .filter(conversions::merchant_id.eq(id))
                .select(conversion_lines::sku)
                .first(conn)?;
            Ok((id, raw, tz, influencer, coupon, sku))
        })
        .await;
    // More than a page of orders: the demo's and a hundred more by coupon.
    let orders = (0..100)
        .map(|n| {
            cny_order(
                &app,
                &format!("LIST-{n:03}"),
                n * 97,
                (n % 3 != 0).then_some(coupon.as_str()),
                &[(sku.as_str(), 1 + n % 4, 1_999 + n)],
            )
        })
        .collect();
    app.record_orders(merchant_id, orders).await;
    app.refund(merchant_id, "LIST-001", "LIST-R1", "5.00").await;
    let all = raw.len() + 100;
    assert!(all > 100, "more than two pages");

    let (from, to) = dates_around(&raw, tz);
    let cases = vec![
        OrderQ::default(),
        OrderQ {
            attributed: Some(false),
            ..OrderQ::default()
        },
        OrderQ {
            state: Some("pending"),
            ..OrderQ::default()
        },
        OrderQ {
            state: Some("paid"),
            ..OrderQ::default()
        },
        OrderQ {
            state: Some("none"),
            ..OrderQ::default()
        },
        OrderQ {
            state: Some("rejected"),
            ..OrderQ::default()
        },
        OrderQ {
            influencer: Some(influencer),
            ..OrderQ::default()
        },
        OrderQ {
            from: Some(from),
            to: Some(to),
            ..OrderQ::default()
        },
        OrderQ {
            from: Some(from),
            ..OrderQ::default()
        },
        OrderQ {
            q: Some(coupon.to_lowercase()),
            ..OrderQ::default()
        },
        OrderQ {
            q: Some(sku.to_lowercase()[1..].to_owned()),
            state: Some("pending"),
            ..OrderQ::default()
        },
        OrderQ {
            q: Some("list-0".into()),
            attributed: Some(true),
            influencer: Some(influencer),
            ..OrderQ::default()
        },
        OrderQ {
            q: Some("nothing like this%_".into()),
            ..OrderQ::default()
        },
    ];
    let mut counts = Vec::new();
    for q in &cases {
        counts.push(check_orders(&app, &m, merchant, q).await);
    }
    assert_eq!(counts[0], all);
    assert!(counts[1..12].iter().all(|n| *n > 0), "{counts:?}");
    assert_eq!(counts[12], 0);

    // "You owe now" is the receivable balance, whatever the filters.
    let owed = app
        .with_db(move |conn| {
            Ok(
                tandem::db::ledger::balances(conn, Owner::Merchant(merchant_id))?
                    [&(AccountKind::Receivable, "CNY".to_owned())],
            )
        })
        .await;
    for path in ["/merchant/orders", "/merchant/orders?state=paid&page=2"] {
        let (_, html) = text(&m, &app, path).await;
        let stat = after(&html, "You owe now</p><p class=\"stat\">", "</p>").unwrap();
        assert_eq!(minor(stat), owed, "{path}");
    }
    // Past the last page: said so, with a link to the last page.
    let (status, html) = text(&m, &app, "/merchant/orders?page=999").await;
    assert_eq!(status, StatusCode::OK);
    let last = all.div_ceil(50);
    assert!(
        html.contains("past the end") && html.contains(&format!("?page={last}\"")),
        "{html}"
    );
    crate::postbacks::ledger_ok(&app).await;
}

#[tokio::test]
async fn bad_filters_are_refused_naming_the_field() {
    let app = TestApp::demo().await;
    let m = demo_client(&app, "merchant@demo.tandem.test").await;
    let i = demo_client(&app, "influencer@demo.tandem.test").await;
    let cases: &[(&Client, &str, &str, &str)] = &[
        (&m, "/merchant/orders", "from=2026-02-30", "from"),
        (&m, "/merchant/orders", "to=yesterday", "to"),
        (
            &m,
            "/merchant/orders",
            "from=2026-05-02&to=2026-05-01",
            "to",
        ),
        (&m, "/merchant/orders", "state=lost", "state"),
        (&m, "/merchant/orders", "attributed=maybe", "attributed"),
        (&m, "/merchant/orders", "influencer=abc", "influencer"),
        (&m, "/merchant/orders", "influencer=999999", "influencer"),
        (&m, "/merchant/orders", "page=0", "page"),
        (&m, "/merchant/orders", "page=-3", "page"),
        (&m, "/merchant/orders", "page=2x", "page"),
        (&i, "/influencer/earnings", "from=12/01/2026", "from"),
        (&i, "/influencer/earnings", "state=none", "state"),
        (&i, "/influencer/earnings", "campaign=999999", "campaign"),
        (&i, "/influencer/earnings", "merchant=x", "merchant"),
        (&i, "/influencer/earnings", "sort=price", "sort"),
        (&i, "/influencer/earnings", "page=1.5", "page"),
    ];
    for (c, path, qs, field) in cases {
        let (status, html) = text(c, &app, &format!("{path}?{qs}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{qs}");
        assert!(
            html.contains(&format!("<p class=\"field-error\" id=\"e-{field}\">")),
            "{path}?{qs}: {html}"
        );
        assert!(html.contains("cannot be used"), "{path}?{qs}");
        let (status, body) = text(c, &app, &format!("{path}.csv?{qs}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}.csv?{qs}");
        assert!(
            body.contains(&format!("{field}: ")),
            "{path}.csv?{qs}: {body}"
        );
    }
    // Another merchant's influencer cannot be chosen either (nothing of theirs is shown).
    let other = app
        .with_db(|conn| {
            let (beauty, _) = merchant_of(conn, "beauty@demo.tandem.test");
            let (mine, _) = merchant_of(conn, "merchant@demo.tandem.test");
            let theirs: Vec<i64> = collaborations::table
                .filter(collaborations::merchant_id.eq(beauty))
                .select(collaborations::influencer_id)
                .load(conn)?;
            let ours: Vec<i64> = collaborations::table
                .filter(collaborations::merchant_id.eq(mine))
                .select(collaborations::influencer_id)
                .load(conn)?;
            Ok(theirs.into_iter().find(|i| !ours.contains(i)))
        })
        .await;
    if let Some(id) = other {
        let (status, _) = text(&m, &app, &format!("/merchant/orders?influencer={id}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // Text is text: escaped, and LIKE's wildcards match only themselves.
    let (status, html) = text(&m, &app, "/merchant/orders?q=%3Cscript%3E%25").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("<script>%") && html.contains("No order matches"));
}

// ---------- the influencer's earnings ----------

#[derive(Debug, Clone)]
struct RawEarning {
    conversion: i64,
    order_id: String,
    at: NaiveDateTime,
    currency: String,
    state: String,
    amount: i64,
    net: i64,
    campaign: i64,
    merchant: i64,
}

fn raw_earnings(conn: &mut DbConn, influencer: i64) -> Vec<RawEarning> {
    type Row = (i64, String, NaiveDateTime, String, String, i64, i64, i64);
    let rows: Vec<Row> = commissions::table
        .inner_join(conversions::table)
        .filter(commissions::influencer_id.eq(influencer))
        .select((
            conversions::id,
            conversions::order_id,
            conversions::occurred_at,
            commissions::currency,
            commissions::state,
            commissions::amount_minor,
            commissions::campaign_id,
            commissions::merchant_id,
        ))
        .load(conn)
        .unwrap();
    let mut taken: BTreeMap<i64, i64> = BTreeMap::new();
    for (c, k) in refunds::table
        .select((refunds::conversion_id, refunds::commission_minor))
        .load::<(i64, i64)>(conn)
        .unwrap()
    {
        *taken.entry(c).or_default() += k;
    }
    rows.into_iter()
        .map(
            |(conversion, order_id, at, currency, state, amount, campaign, merchant)| RawEarning {
                net: if state == "rejected" {
                    0
                } else {
                    amount - taken.get(&conversion).copied().unwrap_or(0)
                },
                conversion,
                order_id,
                at,
                currency,
                state,
                amount,
                campaign,
                merchant,
            },
        )
        .collect()
}

#[derive(Debug, Clone, Default)]
struct EarnQ {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    merchant: Option<i64>,
    campaign: Option<i64>,
    state: Option<&'static str>,
    sort: Option<&'static str>,
}

impl EarnQ {
    fn keeps(&self, r: &RawEarning, tz: Tz) -> bool {
        let day = local_day(r.at, tz);
        self.from.is_none_or(|f| day >= f)
            && self.to.is_none_or(|t| day <= t)
            && self.merchant.is_none_or(|m| r.merchant == m)
            && self.campaign.is_none_or(|c| r.campaign == c)
            && self.state.is_none_or(|s| r.state == s)
    }

    fn sort(&self, rows: &mut [&RawEarning]) {
        let newest = |a: &&RawEarning, b: &&RawEarning| {
            b.at.cmp(&a.at).then(b.conversion.cmp(&a.conversion))
        };
        match self.sort.unwrap_or("newest") {
            "newest" => rows.sort_by(newest),
            "oldest" => rows.sort_by(|a, b| a.at.cmp(&b.at).then(a.conversion.cmp(&b.conversion))),
            "largest" => rows.sort_by(|a, b| {
                a.currency
                    .cmp(&b.currency)
                    .then(b.net.cmp(&a.net))
                    .then_with(|| newest(a, b))
            }),
            "smallest" => rows.sort_by(|a, b| {
                a.currency
                    .cmp(&b.currency)
                    .then(a.net.cmp(&b.net))
                    .then_with(|| newest(a, b))
            }),
            other => unreachable!("{other}"),
        }
    }

    fn query(&self) -> String {
        let mut parts = Vec::new();
        if let Some(f) = self.from {
            parts.push(format!("from={f}"));
        }
        if let Some(t) = self.to {
            parts.push(format!("to={t}"));
        }
        if let Some(m) = self.merchant {
            parts.push(format!("merchant={m}"));
        }
        if let Some(c) = self.campaign {
            parts.push(format!("campaign={c}"));
        }
        if let Some(s) = self.state {
            parts.push(format!("state={s}"));
        }
        if let Some(s) = self.sort {
            parts.push(format!("sort={s}"));
        }
        parts.join("&")
    }
}

/// Checks one filter and sort of the influencer's list against the raw tables: every page
/// in order, each row's amount, the total, the CSV.
async fn check_earnings(app: &TestApp, c: &Client, email: &str, q: &EarnQ) -> usize {
    let email = email.to_owned();
    let (raw, tz) = app
        .with_db(move |conn| {
            let (user, tz) = user_of(conn, &email);
            let me: i64 = influencers::table
                .filter(influencers::user_id.eq(user))
                .select(influencers::id)
                .first(conn)?;
            Ok((raw_earnings(conn, me), tz))
        })
        .await;
    let mut want: Vec<&RawEarning> = raw.iter().filter(|r| q.keeps(r, tz)).collect();
    q.sort(&mut want);
    let qs = q.query();
    let pages = all_pages(c, app, &format!("/influencer/earnings?{qs}")).await;
    let mut seen = Vec::new();
    for (n, html) in pages.iter().enumerate() {
        let rows = earning_rows(html);
        if n + 1 < pages.len() {
            assert_eq!(rows.len(), 50, "pages of 50");
        }
        seen.extend(rows);
    }
    let expected: Vec<(String, i64)> = want.iter().map(|r| (r.order_id.clone(), r.net)).collect();
    assert_eq!(
        seen, expected,
        "{qs}: every matching commission once, in order"
    );
    if !want.is_empty() {
        let stat = after(&pages[0], "Commission on ", "</div>").unwrap();
        let shown = after(stat, "<p class=\"stat\">", "</p>").unwrap();
        let net: i64 = want.iter().map(|r| r.net).sum();
        assert_eq!(minor(shown.rsplit("</s>").next().unwrap()), net, "{qs}");
        let earned: i64 = want.iter().map(|r| r.amount).sum();
        if earned != net {
            assert_eq!(
                minor(after(shown, "\">", "</s>").unwrap()),
                earned,
                "{qs}: as earned, struck"
            );
        }
    }
    let (status, csv) = text(c, app, &format!("/influencer/earnings.csv?{qs}")).await;
    assert_eq!(status, StatusCode::OK);
    let rows = csv_rows(&csv);
    let got: Vec<(String, i64)> = rows
        .iter()
        .map(|r| (r["order_id"].clone(), plain_minor(&r["commission"])))
        .collect();
    assert_eq!(got, expected, "{qs}: the CSV");
    for (row, r) in rows.iter().zip(&want) {
        assert_eq!(plain_minor(&row["commission_as_earned"]), r.amount);
        assert_eq!(row["state"], r.state);
        assert_eq!(row["currency"], r.currency);
    }
    want.len()
}

#[tokio::test]
async fn the_influencers_earnings_filter_sort_and_page_as_the_raw_rows_do() {
    let app = TestApp::demo().await;
    let email = "influencer@demo.tandem.test";
    let i = demo_client(&app, email).await;
    // Sixty more orders through Mia's coupon at the demo merchant, one refunded in part.
    let (merchant_id, coupon, sku, campaign, tz, raw) = app
        .with_db(move |conn| {
            let (user, tz) = user_of(conn, email);
            let me: i64 = influencers::table
                .filter(influencers::user_id.eq(user))
                .select(influencers::id)
                .first(conn)?;
            let (merchant, campaign, coupon): (i64, i64, String) = collaborations::table
                .filter(collaborations::influencer_id.eq(me))
                .filter(collaborations::state.eq("active"))
                .filter(collaborations::coupon_code.is_not_null())
                .order(collaborations::id)
                .select((
                    collaborations::merchant_id,
                    collaborations::campaign_id,
                    collaborations::coupon_code.assume_not_null(),
                ))
                .first(conn)?;
            let sku: String = conversion_lines::table
                .inner_join(
                    commissions::table
                        .on(commissions::conversion_id.eq(conversion_lines::conversion_id)),
                )
                .filter(commissions::campaign_id.eq(campaign))
                .filter(conversion_lines::commission_minor.gt(0))
                .select(conversion_lines::sku)
                .first(conn)?;
            Ok((merchant, coupon, sku, campaign, tz, raw_earnings(conn, me)))
        })
        .await;
    let orders = (0..60)
        .map(|n| {
            cny_order(
                &app,
                &format!("MIA-{n:03}"),
                n * 131,
                Some(&coupon),
                &[(sku.as_str(), 1 + n % 3, 2_500 + 10 * n)],
            )
        })
        .collect();
    app.record_orders(merchant_id, orders).await;
    app.refund(merchant_id, "MIA-002", "MIA-R2", "10.00").await;
    let (from, to) = {
        let mut days: Vec<NaiveDate> = raw.iter().map(|r| local_day(r.at, tz)).collect();
        days.sort();
        let mid = days[days.len() / 2];
        (mid - TimeDelta::days(4), mid)
    };
    let cases = vec![
        EarnQ::default(),
        EarnQ {
            sort: Some("oldest"),
            ..EarnQ::default()
        },
        EarnQ {
            sort: Some("largest"),
            ..EarnQ::default()
        },
        EarnQ {
            sort: Some("smallest"),
            state: Some("pending"),
            ..EarnQ::default()
        },
        EarnQ {
            state: Some("paid"),
            ..EarnQ::default()
        },
        EarnQ {
            campaign: Some(campaign),
            ..EarnQ::default()
        },
        EarnQ {
            merchant: Some(merchant_id),
            sort: Some("oldest"),
            ..EarnQ::default()
        },
        EarnQ {
            from: Some(from),
            to: Some(to),
            ..EarnQ::default()
        },
        EarnQ {
            to: Some(to),
            sort: Some("largest"),
            ..EarnQ::default()
        },
    ];
    let mut counts = Vec::new();
    for q in &cases {
        counts.push(check_earnings(&app, &i, email, q).await);
    }
    assert_eq!(counts[0], raw.len() + 60);
    assert!(counts[0] > 50, "more than a page: {counts:?}");
    assert!(counts.iter().all(|n| *n > 0), "{counts:?}");
    // Rows carry the order's date in the reader's zone: the newest is MIA-000, placed now.
    let (_, html) = text(&i, &app, "/influencer/earnings").await;
    assert_eq!(
        after(&html, "data-label=\"Date\" class=\"nowrap\">", "</td>").unwrap(),
        tandem::domain::clock::fmt_datetime(app.clock_now(), tz)
    );
}

/// Times ("2026-12-07 12:00", with seconds and an offset or " UTC" after them) as
/// `<time>`: the orders are placed relative to now.
fn redact_times(s: &str) -> String {
    let fits = |chars: &[char], shape: &str| {
        chars.len() >= shape.len()
            && shape.chars().zip(chars).all(|(p, c)| match p {
                'd' => c.is_ascii_digit(),
                '±' => *c == '+' || *c == '-',
                other => other == *c,
            })
    };
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if fits(&chars[i..], "dddd-dd-dd dd:dd") {
            i += 16;
            for tail in [":dd±dd:dd", " UTC±dd:dd", " UTC"] {
                if fits(&chars[i..], tail) {
                    i += tail.chars().count();
                    break;
                }
            }
            out.push_str("<time>");
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// A small world of its own: a merchant, a creator with a coupon, three orders (one
/// refunded in part, one without a signal). Its earnings and orders CSVs, times redacted.
#[tokio::test]
async fn the_csv_exports_carry_the_filtered_rows() {
    let app = TestApp::spawn().await;
    let (m, i, _) = crate::links::live_link_with_merchant(&app).await;
    let (merchant_id, coupon) = app
        .with_db(|conn| {
            Ok(collaborations::table
                .filter(collaborations::state.eq("active"))
                .select((
                    collaborations::merchant_id,
                    collaborations::coupon_code.assume_not_null(),
                ))
                .first::<(i64, String)>(conn)?)
        })
        .await;
    // The orders come hours after the collaboration began (before it, they earn nothing).
    app.clock.advance(TimeDelta::hours(6));
    app.record_orders(
        merchant_id,
        vec![
            cny_order(&app, "CSV-1", 300, Some(&coupon), &[("TEA-1", 2, 12_800)]),
            cny_order(
                &app,
                "CSV-2",
                200,
                Some(&coupon),
                &[("TEA-2", 1, 8_850), ("TEA-1", 1, 12_800)],
            ),
            cny_order(&app, "CSV-3", 100, None, &[("TEA-2", 3, 8_850)]),
        ],
    )
    .await;
    app.refund(merchant_id, "CSV-2", "CSV-2-R", "50.00").await;
    let (status, csv) = text(&i, &app, "/influencer/earnings.csv").await;
    assert_eq!(status, StatusCode::OK);
    insta::assert_snapshot!("earnings_csv", redact_times(&csv));
    let (_, oldest) = text(
        &i,
        &app,
        "/influencer/earnings.csv?sort=oldest&state=pending",
    )
    .await;
    assert_eq!(
        csv_rows(&oldest)
            .iter()
            .map(|r| r["order_id"].clone())
            .collect::<Vec<_>>(),
        ["CSV-1", "CSV-2"]
    );
    let (status, csv) = text(&m, &app, "/merchant/orders.csv").await;
    assert_eq!(status, StatusCode::OK);
    insta::assert_snapshot!(
        "orders_csv",
        redact_times(&csv).replace(&coupon, "<coupon>")
    );
    let (_, only) = text(&m, &app, "/merchant/orders.csv?attributed=no&q=tea-2").await;
    assert_eq!(
        csv_rows(&only)
            .iter()
            .map(|r| r["order_id"].clone())
            .collect::<Vec<_>>(),
        ["CSV-3"]
    );
}

/// The CSV reads the orders a thousand at a time, each thousand from where the last ended:
/// with orders placed at the same instant across that boundary, every one is there once, in
/// order, as are the pages.
#[tokio::test]
async fn every_order_is_in_the_csv_once_across_its_chunks() {
    let app = TestApp::spawn().await;
    let email = "many@shop.test";
    let m = crate::marketplace::merchant_with_products(&app, email, "many.example").await;
    let merchant_id = app
        .with_db(move |conn| Ok(merchant_of(conn, email).0))
        .await;
    // 1,203 orders, seven at each instant.
    let orders = (0..1_203)
        .map(|n| {
            cny_order(
                &app,
                &format!("M-{n:04}"),
                n / 7,
                None,
                &[("TEA-1", 1, 100 + n)],
            )
        })
        .collect();
    app.record_orders(merchant_id, orders).await;
    assert_eq!(
        check_orders(&app, &m, email, &OrderQ::default()).await,
        1_203
    );
    let q = OrderQ {
        q: Some("m-1".into()),
        ..OrderQ::default()
    };
    assert_eq!(check_orders(&app, &m, email, &q).await, 203);
}
