//! Dashboard benchmark: loads 10M clicks and 1M orders (with their commissions and 100k
//! refunds) across 2,000 influencers and 20 merchants into a fresh database in bulk SQL, the
//! way a live-commerce platform sees them (most clicks and orders in the two hours of a live
//! stream, the rest trickling in over the following month), then folds them into the rollup
//! by running the rollup's own migration (its backfill), starts the app and times, over HTTP
//! and signed in, the influencer's, the merchant's and finance's home pages and the 90-day
//! views (charts and tables). Prints p50/p95 per page.
//!
//! Run: `cargo bench --bench dashboards` (optionally `-- CLICKS ORDERS`, default 10,000,000
//! and 1,000,000; `-- 1000000 100000` for a quick look). SQLite in a temp dir by default; set
//! TANDEM_BENCH_DATABASE_URL to a postgres:// URL of an empty database for PostgreSQL.

mod common;
use common::series;

use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel_migrations::MigrationHarness;
use tandem::config::Settings;
use tandem::db::{self, DbConn};
use tandem::domain::clock::{Clock, SystemClock};
use tandem::startup::Application;

const MERCHANTS: usize = 20;
const INFLUENCERS: usize = 2_000;
/// Collaborations per influencer (each with a different merchant).
const COLLABS: usize = 5;
/// Live streams per influencer, one stream link each.
const STREAMS: usize = 10;
const PASSWORD: &str = "bench-password-1";

/// Migrations up to (not including) the rollup's, so that its backfill folds in what is
/// loaded.
fn migrate_before_rollup(conn: &mut DbConn) {
    fn run<C, D>(c: &mut C, source: diesel_migrations::EmbeddedMigrations)
    where
        C: MigrationHarness<D>,
        D: diesel::backend::Backend,
    {
        for m in c.pending_migrations(source).expect("pending") {
            if m.name().to_string().contains("_stats") {
                break;
            }
            c.run_migration(&*m).expect("migration");
        }
    }
    match conn {
        DbConn::Sqlite(c) => run(c, db::SQLITE_MIGRATIONS),
        DbConn::Pg(c) => run(c, db::POSTGRES_MIGRATIONS),
    }
}

fn load(conn: &mut DbConn, pg: bool, clicks: usize, orders: usize, hash: &str) {
    let now = chrono::Utc::now().naive_utc();
    let base = (now - chrono::TimeDelta::days(95)).format("%Y-%m-%d %H:%M:%S");
    let t = format!("'{base}'");
    // An expression of seconds after `base` as a timestamp.
    let at = |secs: &str| {
        if pg {
            format!("(TIMESTAMP {t} + ({secs}) * INTERVAL '1 second')")
        } else {
            format!("datetime({t}, '+' || ({secs}) || ' seconds')")
        }
    };
    let text = |e: &str| {
        if pg {
            format!("CAST({e} AS TEXT)")
        } else {
            e.to_owned()
        }
    };
    let i = text("i");
    let links = INFLUENCERS * STREAMS;
    let per_link_clicks = clicks / links;
    let per_link_orders = orders / links;
    // Stream j of influencer i starts (j * 9 + i % 9) days and (8 + i % 12) hours after base.
    let stream_start = "(((s.i - 1) % 10) * 9 + ((s.i - 1) / 10) % 9) * 86400 + (8 + ((s.i - 1) / 10) % 12) * 3600";
    let sql = format!(
        "INSERT INTO users (email, password_hash, role, display_name, time_zone, session_version, created_at, updated_at)
           VALUES ('finance@bench.test', '{hash}', 'finance', 'Finance', 'Asia/Shanghai', 1, {t}, {t}),
                  ('merchant@bench.test', '{hash}', 'merchant', 'Merchant', 'Asia/Shanghai', 1, {t}, {t});
         INSERT INTO users (email, password_hash, role, display_name, time_zone, session_version, created_at, updated_at)
           SELECT 'i' || {i} || '@bench.test', '{hash}', 'influencer', 'Creator ' || {i}, 'Asia/Shanghai', 1, {t}, {t} FROM {s_inf};
         INSERT INTO merchants (name, slug, default_currency, created_at, updated_at, fee_bps)
           SELECT 'Merchant ' || {i}, 'merchant-' || {i}, CASE WHEN i <= 15 THEN 'CNY' ELSE 'USD' END, {t}, {t}, 500 FROM {s_mer};
         INSERT INTO merchant_members (merchant_id, user_id, member_role, created_at) VALUES (1, 2, 'owner', {t});
         INSERT INTO influencers (user_id, handle, display_name, bio, created_at, updated_at, payout_method, payout_currency, payout_details)
           SELECT i + 2, 'creator' || {i}, 'Creator ' || {i}, '', {t}, {t}, 'bank', 'CNY', '{{}}' FROM {s_inf};
         INSERT INTO campaigns (merchant_id, name, description, category, product_scope, currency, attribution_days, hold_days, visibility, starts_at, target_regions, state, created_at, updated_at)
           SELECT i, 'Campaign ' || {i}, '', 'tea', 'category', CASE WHEN i <= 15 THEN 'CNY' ELSE 'USD' END, 30, 30, 'open', {t}, '', 'active', {t}, {t} FROM {s_mer};
         INSERT INTO campaign_rule_versions (campaign_id, version, effective_at, default_rate_bps, flat_per_order_minor, flat_per_item_minor, created_by, created_at)
           SELECT i, 1, {t}, 1000, 0, 0, 1, {t} FROM {s_mer};
         INSERT INTO collaborations (campaign_id, influencer_id, merchant_id, state, message, created_at, updated_at)
           SELECT 1 + ((s.i - 1) % {COLLABS} * 4 + (s.i - 1) / {COLLABS}) % {MERCHANTS}, 1 + (s.i - 1) / {COLLABS},
                  1 + ((s.i - 1) % {COLLABS} * 4 + (s.i - 1) / {COLLABS}) % {MERCHANTS}, 'active', '', {t}, {t}
           FROM {s_col};
         INSERT INTO streams (influencer_id, title, platform, scheduled_at, created_at)
           SELECT 1 + (s.i - 1) / {STREAMS}, 'Live ' || {i}, 'douyin', {start}, {t} FROM {s_str};
         INSERT INTO links (code, collaboration_id, influencer_id, merchant_id, campaign_id, stream_id, destination, label, created_at)
           SELECT 'L' || {i}, c.id, c.influencer_id, c.merchant_id, c.campaign_id, s.i, 'https://shop.test/p', 'pinned comment', {t}
           FROM {s_str} JOIN collaborations c ON c.id = ((s.i - 1) / {STREAMS}) * {COLLABS} + ((s.i - 1) % {STREAMS}) % {COLLABS} + 1;",
        s_inf = series(pg, INFLUENCERS),
        s_mer = series(pg, MERCHANTS),
        s_col = series(pg, INFLUENCERS * COLLABS),
        s_str = series(pg, links),
        start = at(stream_start),
    );
    conn.batch_execute(&sql)
        .expect("accounts, campaigns, streams, links");
    // Clicks: click n goes to link 1 + n % links; its k-th click (k = n / links) comes in the
    // stream's two hours (80 %) or one every 7 hours after it (20 %). Every 25th is a
    // crawler, every 5th of a link a repeat visitor.
    let hot = per_link_clicks * 4 / 5;
    let sql = format!(
        "INSERT INTO clicks (id, click_id, link_id, stream_id, created_at, ip_hash, ua_hash, referrer_host, is_bot, is_repeat, visitor_key)
           SELECT s.i, 'c' || {i}, l.id, l.stream_id,
                  {when}, 'ip' || {i}, 'ua', NULL, (s.i % 25 = 0), (s.i / {links} % 5 = 4), s.i
           FROM {s_clk} JOIN links l ON l.id = 1 + s.i % {links};",
        s_clk = series(pg, clicks),
        when = at(&format!(
            "(((l.id - 1) % 10) * 9 + ((l.id - 1) / 10) % 9) * 86400 + (8 + ((l.id - 1) / 10) % 12) * 3600 + \
             CASE WHEN s.i / {links} < {hot} THEN (s.i / {links}) * (7200 / {hot}) \
             ELSE 7200 + (s.i / {links} - {hot}) * 25200 END"
        )),
    );
    let t0 = Instant::now();
    conn.batch_execute(&sql).expect("clicks");
    println!("  {clicks} clicks in {:.1} s", t0.elapsed().as_secs_f64());
    // Orders: order n through link 1 + n % links (every 20th unattributed), in the stream's
    // two hours (80 %) or one every 2 days after; commissions 10 % with a 5 % platform fee;
    // every 10th order refunded by half 3 days later.
    let hot_o = per_link_orders * 4 / 5;
    let when = at(&format!(
        "(((l.id - 1) % 10) * 9 + ((l.id - 1) / 10) % 9) * 86400 + (8 + ((l.id - 1) / 10) % 12) * 3600 + \
         CASE WHEN s.i / {links} < {hot_o} THEN (s.i / {links}) * (7200 / {hot_o}) \
         ELSE 7200 + (s.i / {links} - {hot_o}) * 172800 END"
    ));
    let paid_cutoff = format!(
        "'{}'",
        (now - chrono::TimeDelta::days(30)).format("%Y-%m-%d %H:%M:%S")
    );
    let sql = format!(
        "INSERT INTO conversions (id, merchant_id, order_id, source, request_hash, currency, occurred_at, base_minor, signal, attribution_note, collaboration_id, campaign_id, influencer_id, link_id, stream_id, created_at)
           SELECT s.i, l.merchant_id, 'B-' || {i}, 'api', 'h', c.currency, {when}, 5000 + s.i % 20000,
                  CASE WHEN s.i % 20 = 0 THEN 'none' ELSE 'click' END, '',
                  CASE WHEN s.i % 20 = 0 THEN NULL ELSE l.collaboration_id END,
                  CASE WHEN s.i % 20 = 0 THEN NULL ELSE l.campaign_id END,
                  CASE WHEN s.i % 20 = 0 THEN NULL ELSE l.influencer_id END,
                  CASE WHEN s.i % 20 = 0 THEN NULL ELSE l.id END,
                  CASE WHEN s.i % 20 = 0 THEN NULL ELSE l.stream_id END, {when}
           FROM {s_ord} JOIN links l ON l.id = 1 + s.i % {links} JOIN campaigns c ON c.id = l.campaign_id;
         INSERT INTO commissions (conversion_id, merchant_id, influencer_id, campaign_id, collaboration_id, currency, amount_minor, fee_bps, fee_minor, rule_version_id, state, available_at, explanation, created_at, updated_at)
           SELECT v.id, v.merchant_id, v.influencer_id, v.campaign_id, v.collaboration_id, v.currency, v.base_minor / 10, 500, v.base_minor / 200, v.campaign_id,
                  CASE WHEN v.occurred_at >= {paid_cutoff} THEN 'pending' WHEN v.id % 3 = 0 THEN 'available' ELSE 'paid' END,
                  v.occurred_at, '', v.occurred_at, v.occurred_at
           FROM conversions v WHERE v.influencer_id IS NOT NULL;
         INSERT INTO refunds (merchant_id, refund_id, conversion_id, source, request_hash, amount_minor, occurred_at, commission_minor, fee_minor, effect, created_at)
           SELECT v.merchant_id, 'R-' || {vid}, v.id, 'api', 'h', v.base_minor / 2, {later},
                  coalesce(m.amount_minor / 2, 0), coalesce(m.fee_minor / 2, 0),
                  CASE WHEN m.id IS NULL THEN 'none' ELSE 'reversal' END, {later}
           FROM conversions v LEFT JOIN commissions m ON m.conversion_id = v.id WHERE v.id % 10 = 3;",
        s_ord = series(pg, orders),
        vid = text("v.id"),
        later = if pg {
            "(v.occurred_at + INTERVAL '3 days')".to_owned()
        } else {
            "datetime(v.occurred_at, '+3 days')".to_owned()
        },
    );
    let t0 = Instant::now();
    conn.batch_execute(&sql).expect("orders");
    println!(
        "  {orders} orders with commissions and refunds in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    if !pg {
        // As the rollup job leaves it: every click folded into link_daily.
        conn.batch_execute("UPDATE click_rollup SET through_id = (SELECT max(id) FROM clicks)")
            .expect("mark");
    }
}

/// Ledger accounts and their maintained balances (finance's home reads these, one row per
/// account): held, available and paid for each influencer, a receivable per merchant, summing
/// to zero.
fn ledger(conn: &mut DbConn, pg: bool) {
    let s_inf = series(pg, INFLUENCERS);
    let s_mer = series(pg, MERCHANTS);
    let sql = format!(
        "INSERT INTO ledger_accounts (owner_kind, owner_id, kind, currency)
           SELECT 'influencer', s.i, k.kind, 'CNY' FROM {s_inf}
           CROSS JOIN (SELECT 'pending' AS kind UNION ALL SELECT 'available' UNION ALL SELECT 'paid') k;
         INSERT INTO ledger_accounts (owner_kind, owner_id, kind, currency)
           SELECT 'merchant', s.i, 'receivable', 'CNY' FROM {s_mer};
         INSERT INTO ledger_balances (account_id, balance_minor)
           SELECT id, CASE WHEN owner_kind = 'merchant' THEN {per_merchant} ELSE -100 END FROM ledger_accounts;",
        per_merchant = 100 * 3 * INFLUENCERS / MERCHANTS,
    );
    conn.batch_execute(&sql).expect("ledger");
}

fn csrf_from(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

async fn signed_in(base: &str, email: &str) -> reqwest::Client {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = c
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("body");
    let token = csrf_from(&page).expect("csrf");
    let res = c
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(
        res.status(),
        reqwest::StatusCode::SEE_OTHER,
        "{email} signs in"
    );
    c
}

/// Times `n` sequential requests of `path` (after a few to warm up): (p50, p95, bytes).
async fn time(
    c: &reqwest::Client,
    base: &str,
    path: &str,
    n: usize,
) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(n);
    let mut bytes = 0;
    for k in 0..n + 5 {
        let t = Instant::now();
        let res = c
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), reqwest::StatusCode::OK, "{path}");
        bytes = res.bytes().await.expect("body").len();
        if k >= 5 {
            times.push(t.elapsed());
        }
    }
    times.sort();
    (times[n / 2], times[(n * 95).div_ceil(100) - 1], bytes)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let clicks: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let orders: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = std::env::var("TANDEM_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| dir.path().join("bench.db").to_string_lossy().into_owned());
    let pg = url.starts_with("postgres");
    println!(
        "{}: loading {clicks} clicks and {orders} orders over {INFLUENCERS} influencers and {MERCHANTS} merchants",
        if pg { "PostgreSQL" } else { "SQLite" }
    );
    let mut conn = db::establish(&url).expect("database");
    // TANDEM_BENCH_REUSE=1: time the pages of a database an earlier run loaded (loading 10M
    // clicks into PostgreSQL takes minutes).
    let reuse = std::env::var("TANDEM_BENCH_REUSE").is_ok_and(|v| v == "1");
    if reuse {
        println!("  reusing the loaded database");
    } else {
        load_all(&mut conn, pg, clicks, orders);
    }
    drop(conn);
    time_pages(&url, dir.path()).await;
}

/// Loads everything into the fresh database at `conn` and builds the rollup.
fn load_all(conn: &mut DbConn, pg: bool, clicks: usize, orders: usize) {
    migrate_before_rollup(conn);
    let hash = tandem::domain::password::hash(PASSWORD).expect("hash");
    let t0 = Instant::now();
    load(conn, pg, clicks, orders, &hash);
    println!("  loaded in {:.1} s", t0.elapsed().as_secs_f64());
    let t0 = Instant::now();
    db::run_migrations(conn).expect("the rollup's migration");
    println!(
        "  rollup built from them (its migration's backfill) in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    ledger(conn, pg);
    // A payout schedule, so the influencer's home plans their next payout.
    tandem::service::payouts::save_schedule(
        conn,
        chrono::Utc::now().naive_utc(),
        1,
        None,
        &tandem::service::payouts::ScheduleForm {
            name: "Weekly CNY".into(),
            cron: "0 0 9 * * Mon".into(),
            time_zone: "Asia/Shanghai".into(),
            currency: "CNY".into(),
            minimum: "50.00".into(),
            active: "on".into(),
            ..Default::default()
        },
    )
    .expect("schedule");
    conn.batch_execute(if pg {
        "ANALYZE"
    } else {
        "ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);"
    })
    .ok();
    let rows = {
        use diesel::prelude::*;
        tandem::db::schema::stats_quarters::table
            .count()
            .get_result::<i64>(conn)
            .expect("count")
    };
    println!("  rollup rows: {rows}");
}

/// Starts the app on the loaded database and times its pages.
async fn time_pages(url: &str, dir: &std::path::Path) {
    let settings = Settings::for_tests(dir, url);
    let app = Application::build_with_clock(settings, Arc::new(SystemClock) as Arc<dyn Clock>)
        .expect("app");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let f = signed_in(&base, "finance@bench.test").await;
    let m = signed_in(&base, "merchant@bench.test").await;
    // Influencer 1 collaborates with merchant 1 (the signed-in merchant's).
    let i = signed_in(&base, "i1@bench.test").await;
    let n = 100;
    println!(
        "page                                         p50       p95    (KiB)   over {n} requests"
    );
    for (client, path) in [
        (&i, "/influencer/dashboard"),
        (&i, "/influencer/dashboard?days=90"),
        (&i, "/influencer/dashboard?days=90&table=links"),
        (&m, "/merchant/dashboard"),
        (&m, "/merchant/dashboard?days=90"),
        (&m, "/merchant/dashboard?days=90&table=streams"),
        (&m, "/merchant/statement"),
        (&f, "/finance/dashboard"),
    ] {
        let (p50, p95, bytes) = time(client, &base, path, n).await;
        println!(
            "{path:<44} {:>6.1} ms {:>6.1} ms {:>6}",
            p50.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3,
            bytes / 1024
        );
    }
}
