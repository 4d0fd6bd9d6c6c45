//! The dashboards' figures: the rollup equals the raw rows it sums (clicks, orders,
//! refunds, rejections, by quarter hour), each home prints figures computed here from raw
//! rows, days are the reader's local days, CSV exports are stable (snapshots), and nobody
//! reads another's figures.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use reqwest::StatusCode;
use tandem::db::DbConn;
use tandem::db::schema::{
    campaigns, clicks, commission_events, commissions, conversions, influencers, links, refunds,
    streams, users,
};
use tandem::db::stats::{self, Counts, Dims, Scope, quarter_of};

use crate::helpers::TestApp;
use crate::payouts::{demo_client, text};

type Sums = BTreeMap<(Dims, i64), Counts>;

fn add(out: &mut Sums, dims: Dims, bucket: i64, c: Counts) {
    out.entry((dims, bucket)).or_default().add(&c);
}

/// What the rollup should hold, computed from the raw rows.
fn raw_sums(conn: &mut DbConn) -> Sums {
    let mut out = Sums::new();
    let link_dims: BTreeMap<i64, (i64, i64, i64, Option<i64>)> = links::table
        .select((
            links::id,
            (
                links::merchant_id,
                links::campaign_id,
                links::influencer_id,
                links::stream_id,
            ),
        ))
        .load::<(i64, (i64, i64, i64, Option<i64>))>(conn)
        .expect("links")
        .into_iter()
        .collect();
    let all: Vec<(i64, NaiveDateTime, bool, bool)> = clicks::table
        .select((
            clicks::link_id,
            clicks::created_at,
            clicks::is_bot,
            clicks::is_repeat,
        ))
        .load(conn)
        .expect("clicks");
    for (link, at, bot, repeat) in all {
        let (m, c, i, s) = link_dims[&link];
        let dims = Dims {
            merchant_id: m,
            campaign_id: c,
            influencer_id: i,
            link_id: link,
            stream_id: s.unwrap_or(0),
            currency: String::new(),
        };
        add(
            &mut out,
            dims,
            quarter_of(at),
            Counts {
                clicks: 1,
                unique_clicks: i64::from(!bot && !repeat),
                bot_clicks: i64::from(bot),
                ..Counts::default()
            },
        );
    }
    type Order = (
        i64,
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        String,
        NaiveDateTime,
        i64,
    );
    let orders: Vec<Order> = conversions::table
        .select((
            conversions::id,
            conversions::merchant_id,
            conversions::campaign_id,
            conversions::influencer_id,
            conversions::link_id,
            conversions::stream_id,
            conversions::currency,
            conversions::occurred_at,
            conversions::base_minor,
        ))
        .load(conn)
        .expect("orders");
    let mut dims_of: BTreeMap<i64, (Dims, NaiveDateTime)> = BTreeMap::new();
    for (id, m, c, i, l, s, cur, at, base) in orders {
        let dims = Dims {
            merchant_id: m,
            campaign_id: c.unwrap_or(0),
            influencer_id: i.unwrap_or(0),
            link_id: l.unwrap_or(0),
            stream_id: s.unwrap_or(0),
            currency: cur,
        };
        add(
            &mut out,
            dims.clone(),
            quarter_of(at),
            Counts {
                orders: 1,
                gmv_minor: base,
                ..Counts::default()
            },
        );
        dims_of.insert(id, (dims, at));
    }
    let earned: Vec<(i64, i64, i64, i64, String)> = commissions::table
        .select((
            commissions::id,
            commissions::conversion_id,
            commissions::amount_minor,
            commissions::fee_minor,
            commissions::state,
        ))
        .load(conn)
        .expect("commissions");
    let taken: Vec<(i64, i64, i64, i64, NaiveDateTime)> = refunds::table
        .select((
            refunds::conversion_id,
            refunds::amount_minor,
            refunds::commission_minor,
            refunds::fee_minor,
            refunds::occurred_at,
        ))
        .load(conn)
        .expect("refunds");
    for (conversion, amount, commission, fee, at) in &taken {
        add(
            &mut out,
            dims_of[conversion].0.clone(),
            quarter_of(*at),
            Counts {
                refunds: 1,
                refund_minor: *amount,
                refund_commission_minor: *commission,
                refund_fee_minor: *fee,
                ..Counts::default()
            },
        );
    }
    for (id, conversion, amount, fee, state) in earned {
        let (dims, at) = dims_of[&conversion].clone();
        add(
            &mut out,
            dims.clone(),
            quarter_of(at),
            Counts {
                commission_minor: amount,
                fee_minor: fee,
                ..Counts::default()
            },
        );
        if state == "rejected" {
            let when: NaiveDateTime = commission_events::table
                .filter(commission_events::commission_id.eq(id))
                .filter(commission_events::to_state.eq("rejected"))
                .select(commission_events::created_at)
                .first(conn)
                .expect("rejection");
            let refunded: Vec<&(i64, i64, i64, i64, NaiveDateTime)> =
                taken.iter().filter(|t| t.0 == conversion).collect();
            add(
                &mut out,
                dims,
                quarter_of(when),
                Counts {
                    rejected_commission_minor: amount - refunded.iter().map(|t| t.2).sum::<i64>(),
                    rejected_fee_minor: fee - refunded.iter().map(|t| t.3).sum::<i64>(),
                    ..Counts::default()
                },
            );
        }
    }
    // An influencer's sale without a link is by coupon code: counted apart as well.
    for ((dims, _), c) in out.iter_mut() {
        if dims.link_id == 0 && dims.influencer_id != 0 {
            c.coupon_orders = c.orders;
            c.coupon_commission_minor = c.net_commission();
        }
    }
    out.retain(|_, c| *c != Counts::default());
    out
}

/// The rollup as stored (with, on SQLite, the clicks not folded in yet), summed the same way.
fn rolled_up(conn: &mut DbConn) -> Sums {
    let mut out = Sums::new();
    for r in stats::rows(conn, Scope::All, i64::MIN, i64::MAX).expect("rollup") {
        add(&mut out, r.dims, r.bucket, r.counts);
    }
    out.retain(|_, c| *c != Counts::default());
    out
}

#[tokio::test]
async fn the_rollup_holds_exactly_the_raw_rows_by_quarter_hour() {
    let app = TestApp::demo().await;
    let (raw, rolled) = app
        .with_db(|conn| Ok((raw_sums(conn), rolled_up(conn))))
        .await;
    assert!(raw.len() > 100, "a real dataset: {} rows", raw.len());
    assert!(
        raw.values().any(|c| c.refund_commission_minor > 0)
            && raw.values().any(|c| c.rejected_commission_minor > 0)
            && raw.keys().any(|(d, _)| d.currency == "USD")
            && raw
                .keys()
                .any(|(d, _)| d.influencer_id == 0 && !d.currency.is_empty()),
        "refunds, rejections, two currencies and unattributed orders"
    );
    for (k, v) in &raw {
        assert_eq!(rolled.get(k), Some(v), "{k:?}");
    }
    assert_eq!(raw.len(), rolled.len());
}

/// A database made before orders by coupon were counted apart gains them from its rollup:
/// migration 000017 reverted on the demo (with those after it) and applied again backfills
/// every level, and the
/// rollup (quarter hours, days and the merchant's quarter hours) equals the raw rows again.
#[tokio::test]
async fn counting_orders_by_coupon_apart_backfills_a_database_made_before() {
    use diesel_migrations::MigrationHarness;
    let app = TestApp::demo().await;
    let (raw, rolled, days_ok) = app
        .with_db(|conn| {
            // Back to before 000017 (reverting what came after it first).
            loop {
                let reverted = match &mut *conn {
                    DbConn::Sqlite(c) => c
                        .revert_last_migration(tandem::db::SQLITE_MIGRATIONS)
                        .map(|v| v.to_string()),
                    DbConn::Pg(c) => c
                        .revert_last_migration(tandem::db::POSTGRES_MIGRATIONS)
                        .map(|v| v.to_string()),
                }
                .expect("revert");
                // Diesel's version is the folder's date and number, dashes left out or not.
                if reverted.replace('-', "").contains("20261207000017") {
                    break;
                }
            }
            tandem::db::run_migrations(conn).expect("migrate");
            let raw = raw_sums(conn);
            let rolled = rolled_up(conn);
            // The coarser levels carry the same coupon counts as the quarter hours.
            let mut sum = |sql: &str| -> (i64, i64) {
                #[derive(QueryableByName)]
                struct S {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    o: i64,
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    c: i64,
                }
                let s: S = diesel::sql_query(sql).get_result(conn).expect("sum");
                (s.o, s.c)
            };
            let q = sum("SELECT CAST(coalesce(sum(coupon_orders), 0) AS BIGINT) AS o, \
                 CAST(coalesce(sum(coupon_commission_minor), 0) AS BIGINT) AS c FROM stats_quarters");
            let d = sum("SELECT CAST(coalesce(sum(coupon_orders), 0) AS BIGINT) AS o, \
                 CAST(coalesce(sum(coupon_commission_minor), 0) AS BIGINT) AS c FROM stats_days");
            let m = sum("SELECT CAST(coalesce(sum(coupon_orders), 0) AS BIGINT) AS o, \
                 CAST(coalesce(sum(coupon_commission_minor), 0) AS BIGINT) AS c \
                 FROM stats_merchant_quarters");
            Ok((raw, rolled, q.0 > 0 && q == d && q == m))
        })
        .await;
    assert!(days_ok, "every level holds the coupon counts");
    assert!(raw.values().any(|c| c.coupon_orders > 0));
    for (k, v) in &raw {
        assert_eq!(rolled.get(k), Some(v), "{k:?}");
    }
    assert_eq!(raw.len(), rolled.len());
}

/// (id, user's sign-in email) of the demo merchant and influencer, and a link of theirs.
fn demo_ids(conn: &mut DbConn) -> (i64, i64, i64, i64, i64) {
    let (link, merchant, campaign, influencer, stream): (i64, i64, i64, i64, Option<i64>) =
        links::table
            .inner_join(influencers::table.on(influencers::id.eq(links::influencer_id)))
            .filter(influencers::handle.eq("mia.streams"))
            .filter(links::stream_id.is_not_null())
            .order(links::id.asc())
            .select((
                links::id,
                links::merchant_id,
                links::campaign_id,
                links::influencer_id,
                links::stream_id,
            ))
            .first(conn)
            .expect("Mia's link");
    (
        link,
        merchant,
        campaign,
        influencer,
        stream.expect("stream"),
    )
}

fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("time")
}

/// Adds figures in January 2025 (long before the demo's data) for Mia's first stream link:
/// clicks at 23:30 and 00:15 Shanghai time, an order, a refund, another order.
async fn january(app: &TestApp) -> (i64, i64) {
    app.with_db(|conn| {
        let (link, merchant, campaign, influencer, stream) = demo_ids(conn);
        let dims = Dims {
            merchant_id: merchant,
            campaign_id: campaign,
            influencer_id: influencer,
            link_id: link,
            stream_id: stream,
            currency: String::new(),
        };
        let money = Dims {
            currency: "CNY".to_owned(),
            ..dims.clone()
        };
        let clicks = |n| Counts {
            clicks: n,
            unique_clicks: n - 1,
            bot_clicks: 1,
            ..Counts::default()
        };
        // 23:30 in Shanghai on 10 January (15:30 UTC), and 00:15 on the 11th (16:15 UTC).
        stats::bump(
            conn,
            &dims,
            quarter_of(at("2025-01-10 15:30:00")),
            &clicks(5),
        )?;
        stats::bump(
            conn,
            &dims,
            quarter_of(at("2025-01-10 16:15:00")),
            &clicks(3),
        )?;
        stats::bump(
            conn,
            &money,
            quarter_of(at("2025-01-10 15:45:00")),
            &Counts {
                orders: 2,
                gmv_minor: 30_000,
                commission_minor: 3_000,
                fee_minor: 300,
                ..Counts::default()
            },
        )?;
        stats::bump(
            conn,
            &money,
            quarter_of(at("2025-01-20 02:00:00")),
            &Counts {
                refunds: 1,
                refund_minor: 10_000,
                refund_commission_minor: 1_000,
                refund_fee_minor: 100,
                ..Counts::default()
            },
        )?;
        diesel::update(users::table.filter(users::email.like("%@demo.tandem.test")))
            .set(users::time_zone.eq("Asia/Shanghai"))
            .execute(conn)?;
        Ok((link, merchant))
    })
    .await
}

/// The chart table's value for a day ("10 Jan").
fn day_value(html: &str, chart_id: &str, day: &str) -> String {
    let chart = &html[html
        .find(&format!("id=\"{chart_id}-cap\""))
        .expect(chart_id)..];
    let row = &chart[chart.find(&format!("<td>{day}</td>")).expect(day)..];
    let cell = &row[row.find("<td class=\"num\">").expect("value") + 16..];
    cell[..cell.find("</td>").expect("end")].to_owned()
}

#[tokio::test]
async fn days_are_the_readers_local_days_and_csv_exports_are_stable() {
    let app = TestApp::demo().await;
    january(&app).await;
    let mia = demo_client(&app, "influencer@demo.tandem.test").await;
    let range = "from=2025-01-01&to=2025-01-31";
    let (status, html) = text(&mia, &app, &format!("/influencer/dashboard?{range}")).await;
    assert_eq!(status, StatusCode::OK);
    // 23:30 local on the 10th is the 10th; 00:15 local is the 11th (both the 10th in UTC).
    assert_eq!(day_value(&html, "chart-clicks", "10 Jan"), "4");
    assert_eq!(day_value(&html, "chart-clicks", "11 Jan"), "2");
    assert_eq!(day_value(&html, "chart-orders", "10 Jan"), "2");
    assert_eq!(day_value(&html, "chart-money-cny", "10 Jan"), "¥30.00");
    assert_eq!(day_value(&html, "chart-money-cny", "20 Jan"), "−¥10.00");
    for table in ["campaigns", "streams", "links"] {
        let (status, csv) = text(
            &mia,
            &app,
            &format!("/influencer/dashboard/{table}.csv?{range}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        // Link codes are random: the one in a link's detail is redacted.
        let csv: String = csv
            .lines()
            .map(|l| match (l.find(",CNY"), l.find(" · ")) {
                (Some(_), Some(dot)) => {
                    let start = l[..dot].rfind(',').map_or(0, |c| c + 1);
                    format!("{}[code]{}\n", &l[..start], &l[dot..])
                }
                _ => format!("{l}\n"),
            })
            .collect();
        insta::assert_snapshot!(format!("influencer_{table}_csv"), csv);
    }
    // In UTC the same clicks are all on the 10th.
    app.with_db(|conn| {
        diesel::update(users::table.filter(users::email.eq("influencer@demo.tandem.test")))
            .set(users::time_zone.eq("UTC"))
            .execute(conn)?;
        Ok(())
    })
    .await;
    let (_, html) = text(&mia, &app, &format!("/influencer/dashboard?{range}")).await;
    assert_eq!(day_value(&html, "chart-clicks", "10 Jan"), "6");
    assert_eq!(day_value(&html, "chart-clicks", "11 Jan"), "0");

    let m = demo_client(&app, "merchant@demo.tandem.test").await;
    for table in ["influencers", "campaigns", "streams"] {
        let (status, csv) = text(
            &m,
            &app,
            &format!("/merchant/dashboard/{table}.csv?{range}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        insta::assert_snapshot!(format!("merchant_{table}_csv"), csv);
    }
    // Filtered to one campaign: the tea campaign has them all, a campaign not theirs none.
    let tea: i64 = app.with_db(|conn| Ok(demo_ids(conn).2)).await;
    let (_, all) = text(
        &m,
        &app,
        &format!("/merchant/dashboard/influencers.csv?{range}"),
    )
    .await;
    let (_, only_tea) = text(
        &m,
        &app,
        &format!("/merchant/dashboard/influencers.csv?{range}&campaign={tea}"),
    )
    .await;
    assert_eq!(all, only_tea);
    let (_, none) = text(
        &m,
        &app,
        &format!("/merchant/dashboard/influencers.csv?{range}&campaign=999999"),
    )
    .await;
    assert_eq!(none.lines().count(), 1, "{none}");
    let (_, html) = text(
        &m,
        &app,
        &format!("/merchant/dashboard?{range}&campaign={tea}"),
    )
    .await;
    assert!(
        html.contains(&format!("<option value=\"{tea}\" selected>")),
        "{html}"
    );
    assert_eq!(day_value(&html, "chart-clicks", "10 Jan"), "4");
    let (status, csv) = text(&m, &app, "/merchant/statement.csv?month=2025-01").await;
    assert_eq!(status, StatusCode::OK);
    insta::assert_snapshot!("merchant_statement_csv", csv);
    let (status, html) = text(&m, &app, "/merchant/statement?month=2025-01").await;
    assert_eq!(status, StatusCode::OK);
    // Commission 30.00 + fee 3.00 - reversals (10.00 + 1.00) = 22.00.
    assert!(html.contains("¥22.00"), "{html}");

    // Bad input is a 422 naming the field, never a 500.
    for (path, field) in [
        ("/influencer/dashboard?days=12", "days"),
        (
            "/influencer/dashboard?from=2025-02-01&to=2025-01-01",
            "from",
        ),
        ("/influencer/dashboard?from=2020-01-01&to=2025-01-01", "to"),
        ("/influencer/dashboard?from=nope&to=2025-01-01", "from"),
        ("/influencer/dashboard?table=nope", "table"),
        ("/influencer/dashboard?campaign=abc", "campaign"),
    ] {
        let (status, html) = text(&mia, &app, path).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(html.contains(field), "{path}: {html}");
    }
    let (status, _) = text(&m, &app, "/merchant/statement?month=2025-13").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The local-day bounds of the last `days` days for a reader in Shanghai, in UTC.
fn last_days(now: NaiveDateTime, days: i64) -> (NaiveDateTime, NaiveDateTime) {
    let today = (now + chrono::TimeDelta::hours(8)).date();
    let from = today - chrono::TimeDelta::days(days - 1);
    let start = from.and_hms_opt(0, 0, 0).expect("midnight") - chrono::TimeDelta::hours(8);
    (start, start + chrono::TimeDelta::days(days))
}

/// What the merchant home should print, from the raw rows: attributed orders only (with
/// those by coupon apart), refunds of those orders, clicks without bots (bots apart), unique
/// clicks, unattributed orders, and what the merchant owes now from its receivable entries.
#[derive(Debug)]
struct MerchantRaw {
    gmv: i64,
    orders: usize,
    coupon_orders: usize,
    unattributed: usize,
    refunded: i64,
    human: i64,
    bots: i64,
    unique: i64,
    owed_now: i64,
}

#[tokio::test]
async fn the_merchant_home_prints_figures_computed_from_raw_orders() {
    use tandem::db::schema::{entries, ledger_accounts};
    let app = TestApp::demo().await;
    let now = app.clock_now();
    let (start, end) = last_days(now, 90);
    let raw = app
        .with_db(move |conn| {
            let merchant: i64 = campaigns::table
                .filter(campaigns::name.eq("Spring green tea festival"))
                .select(campaigns::merchant_id)
                .first(conn)?;
            diesel::update(users::table.filter(users::email.like("%@demo.tandem.test")))
                .set(users::time_zone.eq("Asia/Shanghai"))
                .execute(conn)?;
            let rows: Vec<(i64, Option<i64>, Option<i64>)> = conversions::table
                .filter(conversions::merchant_id.eq(merchant))
                .filter(conversions::occurred_at.ge(start))
                .filter(conversions::occurred_at.lt(end))
                .filter(conversions::currency.eq("CNY"))
                .select((
                    conversions::base_minor,
                    conversions::influencer_id,
                    conversions::link_id,
                ))
                .load(conn)?;
            let attributed: Vec<&(i64, Option<i64>, Option<i64>)> =
                rows.iter().filter(|r| r.1.is_some()).collect();
            let refunded: i64 = refunds::table
                .inner_join(conversions::table)
                .filter(refunds::merchant_id.eq(merchant))
                .filter(conversions::influencer_id.is_not_null())
                .filter(refunds::occurred_at.ge(start))
                .filter(refunds::occurred_at.lt(end))
                .select(refunds::amount_minor)
                .load::<i64>(conn)?
                .iter()
                .sum();
            let all: Vec<(bool, bool)> = clicks::table
                .inner_join(links::table)
                .filter(links::merchant_id.eq(merchant))
                .filter(clicks::created_at.ge(start))
                .filter(clicks::created_at.lt(end))
                .select((clicks::is_bot, clicks::is_repeat))
                .load(conn)?;
            let owed_now: i64 = entries::table
                .inner_join(ledger_accounts::table)
                .filter(ledger_accounts::owner_kind.eq("merchant"))
                .filter(ledger_accounts::owner_id.eq(merchant))
                .filter(ledger_accounts::kind.eq("receivable"))
                .filter(ledger_accounts::currency.eq("CNY"))
                .select(entries::amount_minor)
                .load::<i64>(conn)?
                .iter()
                .sum();
            Ok(MerchantRaw {
                gmv: attributed.iter().map(|r| r.0).sum::<i64>(),
                orders: attributed.len(),
                coupon_orders: attributed.iter().filter(|r| r.2.is_none()).count(),
                unattributed: rows.len() - attributed.len(),
                refunded,
                human: all.iter().filter(|c| !c.0).count() as i64,
                bots: all.iter().filter(|c| c.0).count() as i64,
                unique: all.iter().filter(|c| !c.0 && !c.1).count() as i64,
                owed_now,
            })
        })
        .await;
    assert!(
        raw.orders > 0
            && raw.coupon_orders > 0
            && raw.unattributed > 0
            && raw.refunded > 0
            && raw.bots > 0
            && raw.owed_now > 0,
        "the demo has every kind: {raw:?}"
    );
    let m = demo_client(&app, "merchant@demo.tandem.test").await;
    let (status, html) = text(&m, &app, "/merchant/dashboard?days=90").await;
    assert_eq!(status, StatusCode::OK);
    let show = |v: i64| tandem::domain::money::display_in(v, "CNY");
    let expect = [
        (
            "GMV of attributed orders only",
            format!("<dt>GMV</dt><dd class=\"big\">{}</dd>", show(raw.gmv)),
        ),
        (
            "attributed orders, those by coupon apart",
            format!(
                "<dt>Orders</dt><dd>{} <span class=\"muted small\">({} by coupon, no click)</span></dd>",
                raw.orders, raw.coupon_orders
            ),
        ),
        (
            "clicks without bots, bots apart",
            format!(
                "<dd>{} <span class=\"muted small\">· {} by bots, left out</span></dd>",
                raw.human, raw.bots
            ),
        ),
        (
            "conversion with what it divides",
            format!(
                "{} orders after a click of {} unique clicks",
                raw.orders - raw.coupon_orders,
                raw.unique
            ),
        ),
        (
            "refunds of attributed orders",
            format!("<dt>Refunded</dt><dd>{}</dd>", show(raw.refunded)),
        ),
        (
            "unattributed orders apart",
            format!("<strong>{} order", raw.unattributed),
        ),
        (
            "you owe now: the receivable balance",
            format!(
                "<strong>You owe now:</strong> <span class=\"nowrap\">{}</span>",
                show(raw.owed_now)
            ),
        ),
    ];
    for (what, fragment) in expect {
        assert!(html.contains(&fragment), "{what}: {fragment}");
    }
    // The table's total is what influencers sold too; the orders nobody explains are apart.
    let foot = html
        .split("<tfoot>")
        .nth(1)
        .and_then(|f| f.split("</tfoot>").next())
        .expect("a totals row");
    let (total, apart) = foot
        .split_once("Not attributed, apart from the total")
        .expect("unattributed apart");
    assert!(
        total.contains(&format!("data-label=\"GMV\">{}</td>", show(raw.gmv)))
            && total.contains(&format!("data-label=\"Orders\">{}</td>", raw.orders)),
        "{total}"
    );
    assert!(
        apart.contains(&format!("data-label=\"Orders\">{}</td>", raw.unattributed)),
        "{apart}"
    );
    // The range's figure is not called what the merchant owes.
    assert!(html.contains("<dt>Commission + fee in this range</dt>"));
    assert!(!html.contains("<dt>You owe</dt>"));
    // Ren's refunds stand out (the demo refunds more of his orders than of anyone else's).
    assert!(
        html.contains("class=\"flagged\""),
        "a refund outlier is flagged"
    );
}

#[tokio::test]
async fn finance_home_balances_equal_the_entries_and_counts_its_queues() {
    use tandem::db::schema::{payout_runs, payouts};
    let app = TestApp::demo().await;
    let (drift, home, frozen, drafts) = app
        .with_db(|conn| {
            let books = tandem::db::ledger::books(conn)?;
            let kept = tandem::db::ledger::kept_balances(conn)?;
            let drift = tandem::domain::ledger::balance_drift(&books.entries, &kept);
            let home = tandem::service::dashboard::finance_home(conn)?;
            let frozen: i64 = commissions::table
                .filter(commissions::state.eq("frozen"))
                .count()
                .get_result(conn)?;
            let drafts: i64 = payout_runs::table
                .filter(payout_runs::state.eq("draft"))
                .count()
                .get_result(conn)?;
            let _failed: i64 = payouts::table
                .filter(payouts::state.eq("failed"))
                .count()
                .get_result(conn)?;
            Ok((drift, home, frozen, drafts))
        })
        .await;
    assert!(drift.is_empty(), "maintained balances drift: {drift:?}");
    assert!(home.balanced());
    assert_eq!(home.frozen, frozen);
    assert_eq!(home.awaiting_approval, drafts);
    assert_eq!(home.failed_payouts, 1, "the demo's failed payout");
    let f = demo_client(&app, "finance@demo.tandem.test").await;
    let (status, html) = text(&f, &app, "/finance/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("The books balance."), "{html}");
    assert!(html.contains(&format!(
        "<span class=\"count\">{drafts}</span><span>payout run"
    )));
    // The influencers' balances by kind equal the entries' sums.
    let (entries_pending, shown) = app
        .with_db(|conn| {
            let sum: i64 = tandem::db::ledger::all_entries(conn)?
                .iter()
                .filter(|e| {
                    e.currency == "CNY" && e.kind == tandem::domain::ledger::AccountKind::Pending
                })
                .map(|e| e.amount_minor)
                .sum();
            Ok((-sum, tandem::service::dashboard::finance_home(conn)?))
        })
        .await;
    let pending = shown
        .balances
        .iter()
        .find(|b| b.currency == "CNY" && b.kind == tandem::domain::ledger::AccountKind::Pending)
        .map(|b| b.shown_minor);
    assert_eq!(pending, Some(entries_pending));
}

/// Every total on finance's home is the sum of the parts it lists, each part from the
/// entries: owed to influencers = held + available to pay + in payout, and the ledger's
/// available balance = available to pay − owed back; the trial balance's debits equal its
/// credits; the same figures download as CSV.
#[tokio::test]
async fn finance_home_totals_are_the_sums_of_their_parts() {
    use std::collections::BTreeMap;
    use tandem::domain::ledger::{AccountKind, Owner};
    let app = TestApp::demo().await;
    let (home, per_account) = app
        .with_db(|conn| {
            // Each influencer account's balance, from the raw entries.
            let mut per: BTreeMap<(i64, AccountKind), i64> = BTreeMap::new();
            for e in tandem::db::ledger::all_entries(conn)? {
                if let (Owner::Influencer(i), "CNY") = (e.owner, e.currency.as_str()) {
                    *per.entry((i, e.kind)).or_default() -= e.amount_minor;
                }
            }
            Ok((tandem::service::dashboard::finance_home(conn)?, per))
        })
        .await;
    let sum = |kind: AccountKind, keep: fn(i64) -> bool| -> i64 {
        per_account
            .iter()
            .filter(|((_, k), v)| *k == kind && keep(**v))
            .map(|(_, v)| *v)
            .sum()
    };
    let held = sum(AccountKind::Pending, |_| true);
    let available = sum(AccountKind::Available, |v| v > 0);
    let owed_back = -sum(AccountKind::Available, |v| v < 0);
    let in_payout = sum(AccountKind::InPayout, |_| true);
    assert!(owed_back > 0, "the demo has a creator below zero");
    let e = home.exposure.iter().find(|e| e.currency == "CNY").unwrap();
    assert_eq!(
        (
            e.held_minor,
            e.available_minor,
            e.in_payout_minor,
            e.owed_by_influencers_minor
        ),
        (held, available, in_payout, owed_back)
    );
    assert_eq!(e.owed_to_influencers_minor, held + available + in_payout);
    let (d, c) = home.debits_credits["CNY"];
    assert_eq!(d, c);
    let money = |m: i64| tandem::domain::money::display_in(m, "CNY");
    let f = demo_client(&app, "finance@demo.tandem.test").await;
    let (_, html) = text(&f, &app, "/finance/dashboard").await;
    for part in [
        held,
        available,
        in_payout,
        held + available + in_payout,
        owed_back,
    ] {
        assert!(
            html.contains(&money(part)),
            "{} on the page: {html}",
            money(part)
        );
    }
    assert!(
        html.contains(&format!("CNY {}", money(available - owed_back))),
        "the ledger's available balance is explained"
    );
    let res = crate::helpers::get_with(&f, &app.url("/finance/dashboard.csv")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let csv = res.text().await.unwrap();
    let plain = |m: i64| tandem::domain::money::plain_in(m, "CNY");
    assert!(
        csv.contains(&format!(
            "owed and owing,CNY,owed to influencers,{}",
            plain(held + available + in_payout)
        )),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("trial balance,CNY,debits,{}", plain(d))),
        "{csv}"
    );
    assert!(csv.contains("trial balance,CNY,difference,0.00"), "{csv}");
    let i = demo_client(&app, "influencer@demo.tandem.test").await;
    let res = crate::helpers::get_with(&i, &app.url("/finance/dashboard.csv")).await;
    assert_ne!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn nobody_reads_another_ones_figures() {
    let app = TestApp::demo().await;
    let (mia_stream, other_stream) = app
        .with_db(|conn| {
            let (_, _, _, mia, stream) = demo_ids(conn);
            let other: i64 = streams::table
                .filter(streams::influencer_id.ne(mia))
                .select(streams::id)
                .first(conn)?;
            Ok((stream, other))
        })
        .await;
    let mia = demo_client(&app, "influencer@demo.tandem.test").await;
    let (status, html) = text(&mia, &app, &format!("/influencer/streams/{mia_stream}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Clicks by hour"), "{html}");
    let (status, csv) = text(
        &mia,
        &app,
        &format!("/influencer/streams/{mia_stream}/links.csv"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with("name,detail,currency,clicks"), "{csv}");
    for path in [
        format!("/influencer/streams/{other_stream}"),
        format!("/influencer/streams/{other_stream}/links.csv"),
    ] {
        let (status, _) = text(&mia, &app, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = text(&mia, &app, "/influencer/dashboard/influencers.csv").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let merchant = demo_client(&app, "merchant@demo.tandem.test").await;
    let finance = demo_client(&app, "finance@demo.tandem.test").await;
    let anonymous = crate::helpers::new_client();
    for path in [
        "/merchant/dashboard",
        "/merchant/dashboard/influencers.csv",
        "/merchant/statement",
        "/merchant/statement.csv",
        "/finance/dashboard",
        "/influencer/dashboard/campaigns.csv",
    ] {
        for (who, c) in [
            ("mia", &mia),
            ("merchant", &merchant),
            ("finance", &finance),
            ("anonymous", &anonymous),
        ] {
            let allowed = (path.starts_with("/merchant") && who == "merchant")
                || (path.starts_with("/finance") && who == "finance")
                || (path.starts_with("/influencer") && who == "mia");
            let (status, _) = text(c, &app, path).await;
            assert_eq!(status == StatusCode::OK, allowed, "{who} {path}: {status}");
        }
    }
    // Each merchant's figures are its own: the beauty brand does not see the tea sales.
    let (_, tea) = text(&merchant, &app, "/merchant/dashboard?days=90").await;
    assert!(tea.contains("Mia Chen"));
    let beauty = demo_client(&app, "beauty@demo.tandem.test").await;
    for path in [
        "/merchant/dashboard?days=90&table=influencers",
        "/merchant/dashboard/influencers.csv?days=90",
        "/merchant/statement.csv",
    ] {
        let (status, body) = text(&beauty, &app, path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !body.contains("Mia Chen") && !body.contains("Spring green tea"),
            "{path}"
        );
    }
}

/// Days summed in the database (whole local days, hours or quarter hours, by the zone) are
/// the days summed here from every quarter hour, in zones with and without daylight saving
/// time and with half- and quarter-hour offsets, over ranges that cross a clock change.
#[tokio::test]
async fn days_summed_in_the_database_equal_days_summed_from_quarter_hours() {
    use tandem::service::metrics::{self, By, Range};
    let app = TestApp::demo().await;
    let today = app.clock_now().date();
    let checked = app
        .with_db(move |conn| {
            let merchant: i64 = campaigns::table
                .filter(campaigns::name.eq("Spring green tea festival"))
                .select(campaigns::merchant_id)
                .first(conn)?;
            let mut checked = 0;
            for zone in [
                "UTC",
                "Asia/Shanghai",
                "America/New_York",
                "Asia/Kolkata",
                "Asia/Kathmandu",
                "Australia/Adelaide",
            ] {
                let tz: chrono_tz::Tz = zone.parse().expect("zone");
                // Both clock changes of 2026 in the north and the south are in here.
                let range = Range {
                    from: NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"),
                    to: today,
                    preset: None,
                    campaign: None,
                };
                let (from, to) = range.bounds(tz);
                for scope in [Scope::Merchant(merchant), Scope::All] {
                    let quarters = stats::rows(conn, scope, from, to)?;
                    let summed = metrics::day_rows(conn, scope, &range, tz)?;
                    assert_eq!(
                        metrics::per_day(&summed, &range, tz),
                        metrics::per_day(&quarters, &range, tz),
                        "{zone}"
                    );
                    // Tables: whole UTC days plus the partial days at the ends.
                    let currencies = metrics::campaign_currencies(conn, &quarters)?;
                    for by in [By::Campaign, By::Influencer, By::Stream, By::Link] {
                        let keyed = metrics::key_rows(conn, scope, &range, tz, by)?;
                        let names = std::collections::HashMap::new();
                        assert_eq!(
                            metrics::lines(&keyed, by, &currencies, &names),
                            metrics::lines(&quarters, by, &currencies, &names),
                            "{zone} {by:?}"
                        );
                    }
                    checked += 1;
                }
            }
            Ok(checked)
        })
        .await;
    assert_eq!(checked, 12);
}

/// A name that a spreadsheet would run as a formula stays text in the exports.
#[tokio::test]
async fn exported_names_never_run_as_formulas() {
    let app = TestApp::demo().await;
    app.with_db(|conn| {
        diesel::update(campaigns::table.filter(campaigns::name.eq("Spring green tea festival")))
            .set(campaigns::name.eq("=HYPERLINK(\"http://evil.test\")"))
            .execute(conn)?;
        Ok(())
    })
    .await;
    let m = demo_client(&app, "merchant@demo.tandem.test").await;
    let (status, csv) = text(&m, &app, "/merchant/dashboard/campaigns.csv?days=90").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://evil.test\"\")\""),
        "{csv}"
    );
    let (_, csv) = text(&m, &app, "/merchant/statement.csv").await;
    assert!(
        !csv.contains(",=HYPERLINK") && !csv.contains("\"=HYPERLINK"),
        "{csv}"
    );
}

/// Find influencers uses the dashboards' definitions: a creator's orders by coupon are said
/// apart and conversion is orders after a click over unique clicks, from the raw rows of
/// the campaign's category (issue 27 §2; the reviewers' Kai).
#[tokio::test]
async fn find_influencers_counts_orders_by_coupon_apart_from_click_conversions() {
    let app = TestApp::demo().await;
    let (campaign, orders, coupon, unique) = app
        .with_db(|conn| {
            let (campaign, category): (i64, String) = campaigns::table
                .filter(campaigns::name.eq("Spring green tea festival"))
                .select((campaigns::id, campaigns::category))
                .first(conn)?;
            let kai: i64 = influencers::table
                .filter(influencers::display_name.eq("Kai Teatime"))
                .select(influencers::id)
                .first(conn)?;
            let in_category: Vec<i64> = campaigns::table
                .filter(campaigns::category.eq(&category))
                .select(campaigns::id)
                .load(conn)?;
            let orders: Vec<Option<i64>> = conversions::table
                .filter(conversions::influencer_id.eq(kai))
                .filter(conversions::campaign_id.eq_any(in_category.iter().map(|c| Some(*c))))
                .select(conversions::link_id)
                .load(conn)?;
            let unique: i64 = clicks::table
                .inner_join(links::table)
                .filter(links::influencer_id.eq(kai))
                .filter(links::campaign_id.eq_any(&in_category))
                .filter(clicks::is_bot.eq(false))
                .filter(clicks::is_repeat.eq(false))
                .count()
                .get_result(conn)?;
            let coupon = orders.iter().filter(|l| l.is_none()).count();
            Ok((campaign, orders.len(), coupon, unique))
        })
        .await;
    assert!(
        coupon > 0 && orders > coupon && unique > 0,
        "{orders} {coupon} {unique}"
    );
    let m = demo_client(&app, "merchant@demo.tandem.test").await;
    let (status, html) = text(
        &m,
        &app,
        &format!("/merchant/campaigns/{campaign}/discover?category=any"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let kai = html
        .split("Kai Teatime")
        .nth(1)
        .and_then(|r| r.split("class=\"reasons\">").nth(1))
        .and_then(|r| r.split("</p>").next())
        .expect("Kai's reasons");
    assert!(
        kai.starts_with(&format!("{orders} orders in "))
            && kai.contains(&format!("({coupon} by coupon)"))
            && kai.contains(&format!(
                "({} after a click of {unique} unique clicks)",
                orders - coupon
            )),
        "{kai}"
    );
}
