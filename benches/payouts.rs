//! Payout run benchmark: loads available commissions spread over influencers (bulk SQL into
//! a fresh database), then times a full run (plan, write payouts and their items, move each
//! commission, post each item's journal) against the bare SQL aggregate of the same balances
//! (`SELECT influencer_id, SUM(amount_minor) ... GROUP BY influencer_id`). Prints both, their
//! ratio and the process's peak RSS.
//!
//! Run: `cargo bench --bench payouts` (optionally `-- 1000000 100000`: commissions,
//! influencers; the default is 100,000 over 10,000). SQLite in a temp dir by default; set
//! TANDEM_BENCH_DATABASE_URL to a postgres:// URL of an empty database for PostgreSQL.

mod common;
use common::series;

use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use tandem::db::{self, DbConn};
use tandem::service::payouts::{self, RunOutcome, ScheduleForm};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn load(conn: &mut DbConn, pg: bool, commissions: usize, influencers: usize) {
    let t = "'2026-11-01 00:00:00'";
    let text = |e: &str| {
        if pg {
            format!("CAST({e} AS TEXT)")
        } else {
            e.to_owned()
        }
    };
    let sql = format!(
        "INSERT INTO merchants (name, slug, default_currency, created_at, updated_at) VALUES ('Bench', 'bench', 'CNY', {t}, {t});
         INSERT INTO users (email, password_hash, role, display_name, time_zone, session_version, created_at, updated_at)
           VALUES ('owner@bench.test', 'x', 'finance', 'Owner', 'UTC', 1, {t}, {t});
         INSERT INTO users (email, password_hash, role, display_name, time_zone, session_version, created_at, updated_at)
           SELECT 'i' || {i} || '@bench.test', 'x', 'influencer', 'Creator ' || {i}, 'UTC', 1, {t}, {t} FROM {s_inf};
         INSERT INTO influencers (user_id, handle, display_name, bio, created_at, updated_at, payout_method, payout_currency, payout_details)
           SELECT i + 1, 'creator' || {i}, 'Creator ' || {i}, '', {t}, {t}, 'bank', 'CNY', '{{}}' FROM {s_inf};
         INSERT INTO campaigns (merchant_id, name, description, category, product_scope, currency, attribution_days, hold_days, visibility, starts_at, target_regions, state, created_at, updated_at)
           VALUES (1, 'Bench', '', 'tea', 'category', 'CNY', 30, 30, 'open', {t}, '', 'active', {t}, {t});
         INSERT INTO campaign_rule_versions (campaign_id, version, effective_at, default_rate_bps, flat_per_order_minor, flat_per_item_minor, created_by, created_at)
           VALUES (1, 1, {t}, 1000, 0, 0, 1, {t});
         INSERT INTO collaborations (campaign_id, influencer_id, merchant_id, state, message, created_at, updated_at)
           SELECT 1, i, 1, 'active', '', {t}, {t} FROM {s_inf};
         INSERT INTO conversions (merchant_id, order_id, source, request_hash, currency, occurred_at, base_minor, signal, attribution_note, collaboration_id, campaign_id, influencer_id, created_at)
           SELECT 1, 'B-' || {i}, 'api', 'h', 'CNY', {t}, 10000, 'coupon', '', 1 + (i % {influencers}), 1, 1 + (i % {influencers}), {t} FROM {s_com};
         INSERT INTO commissions (conversion_id, merchant_id, influencer_id, campaign_id, collaboration_id, currency, amount_minor, fee_bps, fee_minor, rule_version_id, state, available_at, explanation, created_at, updated_at)
           SELECT i, 1, 1 + (i % {influencers}), 1, 1 + (i % {influencers}), 'CNY', 500 + (i % 1000), 0, 0, 1, 'available', {t}, '', {t}, {t} FROM {s_com};",
        i = text("i"),
        s_inf = series(pg, influencers),
        s_com = series(pg, commissions),
    );
    conn.batch_execute(&sql).expect("bulk load");
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let commissions: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let influencers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = std::env::var("TANDEM_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| dir.path().join("bench.db").to_string_lossy().into_owned());
    let pg = url.starts_with("postgres");
    let mut conn = db::establish(&url).expect("database");
    db::run_migrations(&mut conn).expect("migrations");
    let t0 = Instant::now();
    load(&mut conn, pg, commissions, influencers);
    if pg {
        conn.batch_execute("ANALYZE").ok();
    }
    println!(
        "{}: {commissions} available commissions over {influencers} influencers loaded in {:.1} s",
        if pg { "PostgreSQL" } else { "SQLite" },
        t0.elapsed().as_secs_f64()
    );
    let rss_loaded = peak_rss_mib();

    // The bare aggregate: what the balances are, and nothing else.
    let t = Instant::now();
    let sums: Vec<(i64, i64)> = {
        use diesel::dsl::sql;
        use diesel::sql_types::BigInt;
        use tandem::db::schema::commissions as c;
        c::table
            .filter(c::state.eq("available"))
            .filter(c::currency.eq("CNY"))
            .group_by(c::influencer_id)
            .select((
                c::influencer_id,
                sql::<BigInt>("CAST(SUM(commissions.amount_minor) AS BIGINT)"),
            ))
            .load(&mut conn)
            .expect("aggregate")
    };
    let aggregate = t.elapsed().as_secs_f64();
    let total: i64 = sums.iter().map(|s| s.1).sum();

    let now = chrono::Utc::now().naive_utc();
    let id = payouts::save_schedule(
        &mut conn,
        now,
        1,
        None,
        &ScheduleForm {
            name: "Bench".into(),
            cron: "0 0 9 * * Mon".into(),
            time_zone: "UTC".into(),
            currency: "CNY".into(),
            minimum: "0.01".into(),
            active: "on".into(),
            ..Default::default()
        },
    )
    .expect("schedule");
    let schedule = db::payouts::schedule(&mut conn, id).unwrap().unwrap();
    let t = Instant::now();
    let outcome = payouts::run_schedule(&mut conn, now, "", &schedule, now, None, &mut |_, _| {})
        .expect("run");
    let run = t.elapsed().as_secs_f64();
    let RunOutcome::Created(_, plan) = outcome else {
        panic!("the run was made")
    };
    assert_eq!(
        plan.total_minor(),
        total,
        "the run pays exactly the balances"
    );
    assert_eq!(plan.payouts.len(), sums.len());
    println!(
        "aggregate query:   {aggregate:>9.3} s ({} balances)",
        sums.len()
    );
    println!(
        "full payout run:   {run:>9.3} s ({} payouts, {} items, {} journals)",
        plan.payouts.len(),
        commissions,
        commissions
    );
    println!("ratio run/aggregate: {:.1}", run / aggregate.max(1e-9));
    println!(
        "peak RSS: {:.0} MiB ({:.0} MiB after loading)",
        peak_rss_mib(),
        rss_loaded
    );
}
