//! Billing benchmark (issue #28 "Scale"): invoices 10,000 merchants over 1,000,000
//! commissions and compares the time with the bare SQL aggregate of the same rows.
//!
//! The database is loaded in bulk SQL: 10,000 merchants, each with an owner (in one of seven
//! time zones, so the month's bounds differ by merchant), a campaign and five creators (out
//! of 20,000); 1,000,000 orders with their commissions (10 % of the order, a 5 % platform fee
//! for two merchants in three) and accrual journals (receivable, pending, fee revenue), every
//! tenth order refunded by half two days later (its reversal journal), all posted in November
//! 2026; one merchant in five bills in USD, the others in CNY; 6 % VAT on the fee. Then, at
//! 2026-12-05 09:00 UTC, it times
//! - the bare aggregate: the receivable entries of the billed journal kinds in November, summed
//!   per merchant account (entries ⋈ journals ⋈ accounts, one `GROUP BY`; best of three),
//! - `db::billing::window_groups` for every account (the invoices' own aggregate, for where
//!   the time goes),
//! - `service::billing::issue_due` for real (one invoice per merchant: number, lines, tax
//!   journal, credit applied, email, audit row),
//!
//! and prints each time, the ratio invoicing / aggregate (goal ≤ 3), the invoices issued and
//! the peak RSS (VmHWM; goal ≤ 256 MiB). It then verifies that every merchant's invoice
//! subtotal is its aggregate (and total = subtotal + tax), and times `tandem ledger check`
//! (`service::orders::check_ledger`), which must find nothing; the peak RSS after it is
//! printed apart (the check reads every entry).
//!
//! Run: `cargo bench --bench billing` (optionally `-- MERCHANTS COMMISSIONS`, default 10,000
//! and 1,000,000; `-- 1000 100000` for a quick look). SQLite by default: the loaded database
//! is cached under target/tmp (keyed by the sizes; delete it to reload) and each run bills a
//! copy of it, after applying any migration added since. Set TANDEM_BENCH_DATABASE_URL to a
//! postgres:// URL of an empty database for PostgreSQL (loaded afresh each run).

mod common;
use common::series;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use tandem::db::{self, DbConn};
use tandem::domain::billing::Period;

/// Bump when the loaded data changes, so that a cached database is not reused.
const LOADER_VERSION: u32 = 1;
const CREATORS_PER_MERCHANT: usize = 5;
const INFLUENCERS: usize = 20_000;
const ZONES: [&str; 7] = [
    "UTC",
    "Asia/Shanghai",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Tokyo",
    "America/Los_Angeles",
    "Australia/Sydney",
];

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

fn now() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 12, 5)
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .expect("date")
}

fn load(conn: &mut DbConn, pg: bool, merchants: usize, commissions: usize) {
    let t = "'2026-10-01 00:00:00'";
    let text = |e: &str| {
        if pg {
            format!("CAST({e} AS TEXT)")
        } else {
            e.to_owned()
        }
    };
    let i = text("i");
    let zone = {
        let mut z = String::from("CASE i % 7");
        for (n, name) in ZONES.iter().enumerate() {
            z.push_str(&format!(" WHEN {n} THEN '{name}'"));
        }
        z.push_str(" END");
        z
    };
    let currency = "CASE WHEN i % 5 = 0 THEN 'USD' ELSE 'CNY' END";
    let collabs = merchants * CREATORS_PER_MERCHANT;
    // Order n is the k-th (k = (n - 1) / collabs) of collaboration 1 + (n - 1) % collabs, at
    // k * 112,320 s (1.3 days) + the collaboration's own offset after 2 November 00:00 UTC:
    // inside November in every zone, refunds (two days later) too.
    let at = |secs: &str| {
        if pg {
            format!("(TIMESTAMP '2026-11-02 00:00:00' + ({secs}) * INTERVAL '1 second')")
        } else {
            format!("datetime('2026-11-02 00:00:00', '+' || ({secs}) || ' seconds')")
        }
    };
    let when = at(&format!(
        "((s.i - 1) / {collabs}) * 112320 + (s.i - 1) % {collabs} % 100000"
    ));
    let later = if pg {
        "(v.occurred_at + INTERVAL '2 days')".to_owned()
    } else {
        "datetime(v.occurred_at, '+2 days')".to_owned()
    };
    let steps = [
        (
            "users, merchants, campaigns, creators",
            format!(
                "INSERT INTO users (email, password_hash, role, display_name, time_zone, session_version, created_at, updated_at)
                   VALUES ('finance@bench.test', 'x', 'finance', 'Finance', 'UTC', 1, {t}, {t});
                 INSERT INTO users (email, password_hash, role, display_name, time_zone, session_version, created_at, updated_at)
                   SELECT 'owner' || {i} || '@bench.test', 'x', 'merchant', 'Owner ' || {i}, {zone}, 1, {t}, {t} FROM {s_mer};
                 INSERT INTO users (email, password_hash, role, display_name, time_zone, session_version, created_at, updated_at)
                   SELECT 'i' || {i} || '@bench.test', 'x', 'influencer', 'Creator ' || {i}, 'UTC', 1, {t}, {t} FROM {s_inf};
                 INSERT INTO merchants (name, slug, default_currency, created_at, updated_at, fee_bps)
                   SELECT 'Merchant ' || {i}, 'merchant-' || {i}, {currency}, {t}, {t}, CASE WHEN i % 3 = 0 THEN 0 ELSE 500 END FROM {s_mer};
                 INSERT INTO merchant_members (merchant_id, user_id, member_role, created_at)
                   SELECT i, i + 1, 'owner', {t} FROM {s_mer};
                 INSERT INTO influencers (user_id, handle, display_name, bio, created_at, updated_at, payout_method, payout_currency, payout_details)
                   SELECT i + 1 + {merchants}, 'creator' || {i}, 'Creator ' || {i}, '', {t}, {t}, 'bank', 'CNY', '{{}}' FROM {s_inf};
                 INSERT INTO campaigns (merchant_id, name, description, category, product_scope, currency, attribution_days, hold_days, visibility, starts_at, target_regions, state, created_at, updated_at)
                   SELECT i, 'Campaign ' || {i}, '', 'tea', 'category', {currency}, 30, 30, 'open', {t}, '', 'active', {t}, {t} FROM {s_mer};
                 INSERT INTO campaign_rule_versions (campaign_id, version, effective_at, default_rate_bps, flat_per_order_minor, flat_per_item_minor, created_by, created_at)
                   SELECT i, 1, {t}, 1000, 0, 0, 1, {t} FROM {s_mer};
                 INSERT INTO collaborations (campaign_id, influencer_id, merchant_id, state, message, created_at, updated_at)
                   SELECT 1 + (s.i - 1) / {CREATORS_PER_MERCHANT}, 1 + ((s.i - 1) / {CREATORS_PER_MERCHANT} * 2 + (s.i - 1) % {CREATORS_PER_MERCHANT}) % {INFLUENCERS},
                          1 + (s.i - 1) / {CREATORS_PER_MERCHANT}, 'active', '', {t}, {t}
                   FROM {s_col};",
                s_mer = series(pg, merchants),
                s_inf = series(pg, INFLUENCERS),
                s_col = series(pg, collabs),
            ),
        ),
        (
            "orders",
            format!(
                "INSERT INTO conversions (merchant_id, order_id, source, request_hash, currency, occurred_at, base_minor, signal, attribution_note, collaboration_id, campaign_id, influencer_id, created_at)
                   SELECT c.merchant_id, 'B-' || {si}, 'api', 'h', ca.currency, {when}, 5000 + s.i % 20000, 'coupon', '',
                          c.id, c.campaign_id, c.influencer_id, {when}
                   FROM {s_com} JOIN collaborations c ON c.id = 1 + (s.i - 1) % {collabs} JOIN campaigns ca ON ca.id = c.campaign_id;",
                si = text("s.i"),
                s_com = series(pg, commissions),
            ),
        ),
        (
            "commissions",
            "INSERT INTO commissions (conversion_id, merchant_id, influencer_id, campaign_id, collaboration_id, currency, amount_minor, fee_bps, fee_minor, rule_version_id, state, available_at, explanation, created_at, updated_at)
               SELECT v.id, v.merchant_id, v.influencer_id, v.campaign_id, v.collaboration_id, v.currency, v.base_minor / 10,
                      m.fee_bps, v.base_minor / 10 * m.fee_bps / 10000, v.campaign_id, 'pending', v.occurred_at, '', v.occurred_at, v.occurred_at
               FROM conversions v JOIN merchants m ON m.id = v.merchant_id;".to_owned(),
        ),
        (
            "refunds",
            format!(
                "INSERT INTO refunds (merchant_id, refund_id, conversion_id, source, request_hash, amount_minor, occurred_at, commission_minor, fee_minor, effect, created_at)
                   SELECT v.merchant_id, 'R-' || {vid}, v.id, 'api', 'h', v.base_minor / 2, {later},
                          m.amount_minor / 2, m.fee_minor / 2, 'reversal', {later}
                   FROM conversions v JOIN commissions m ON m.conversion_id = v.id WHERE v.id % 10 = 3;",
                vid = text("v.id"),
            ),
        ),
        (
            "accounts",
            "INSERT INTO ledger_accounts (owner_kind, owner_id, kind, currency)
               SELECT 'merchant', id, 'receivable', default_currency FROM merchants ORDER BY id;
             INSERT INTO ledger_accounts (owner_kind, owner_id, kind, currency)
               SELECT DISTINCT 'influencer', influencer_id, 'pending', currency FROM commissions;
             INSERT INTO ledger_accounts (owner_kind, owner_id, kind, currency)
               VALUES ('platform', 0, 'fee_revenue', 'CNY'), ('platform', 0, 'fee_revenue', 'USD');"
                .to_owned(),
        ),
        (
            "accrual journals",
            "INSERT INTO journals (kind, ref_kind, ref_id, currency, memo, created_at)
               SELECT 'accrual', 'commission', id, currency, 'Commission #' || id, created_at FROM commissions ORDER BY id;"
                .to_owned(),
        ),
        (
            "accrual entries",
            "INSERT INTO entries (journal_id, account_id, amount_minor)
               SELECT j.id, a.id, c.amount_minor + c.fee_minor
               FROM journals j JOIN commissions c ON c.id = j.ref_id
               JOIN ledger_accounts a ON a.owner_kind = 'merchant' AND a.owner_id = c.merchant_id AND a.kind = 'receivable' AND a.currency = c.currency
               WHERE j.kind = 'accrual' AND j.ref_kind = 'commission' ORDER BY j.id;
             INSERT INTO entries (journal_id, account_id, amount_minor)
               SELECT j.id, a.id, -c.amount_minor
               FROM journals j JOIN commissions c ON c.id = j.ref_id
               JOIN ledger_accounts a ON a.owner_kind = 'influencer' AND a.owner_id = c.influencer_id AND a.kind = 'pending' AND a.currency = c.currency
               WHERE j.kind = 'accrual' AND j.ref_kind = 'commission' ORDER BY j.id;
             INSERT INTO entries (journal_id, account_id, amount_minor)
               SELECT j.id, a.id, -c.fee_minor
               FROM journals j JOIN commissions c ON c.id = j.ref_id
               JOIN ledger_accounts a ON a.owner_kind = 'platform' AND a.owner_id = 0 AND a.kind = 'fee_revenue' AND a.currency = c.currency
               WHERE j.kind = 'accrual' AND j.ref_kind = 'commission' AND c.fee_minor <> 0 ORDER BY j.id;"
                .to_owned(),
        ),
        (
            "reversal journals and entries",
            "INSERT INTO journals (kind, ref_kind, ref_id, currency, memo, created_at)
               SELECT 'reversal', 'refund', r.id, v.currency, 'Refund #' || r.id, r.occurred_at
               FROM refunds r JOIN conversions v ON v.id = r.conversion_id ORDER BY r.id;
             INSERT INTO entries (journal_id, account_id, amount_minor)
               SELECT j.id, a.id, -(r.commission_minor + r.fee_minor)
               FROM journals j JOIN refunds r ON r.id = j.ref_id
               JOIN ledger_accounts a ON a.owner_kind = 'merchant' AND a.owner_id = r.merchant_id AND a.kind = 'receivable' AND a.currency = j.currency
               WHERE j.kind = 'reversal' AND j.ref_kind = 'refund' ORDER BY j.id;
             INSERT INTO entries (journal_id, account_id, amount_minor)
               SELECT j.id, a.id, r.commission_minor
               FROM journals j JOIN refunds r ON r.id = j.ref_id JOIN commissions c ON c.conversion_id = r.conversion_id
               JOIN ledger_accounts a ON a.owner_kind = 'influencer' AND a.owner_id = c.influencer_id AND a.kind = 'pending' AND a.currency = j.currency
               WHERE j.kind = 'reversal' AND j.ref_kind = 'refund' AND r.commission_minor <> 0 ORDER BY j.id;
             INSERT INTO entries (journal_id, account_id, amount_minor)
               SELECT j.id, a.id, r.fee_minor
               FROM journals j JOIN refunds r ON r.id = j.ref_id
               JOIN ledger_accounts a ON a.owner_kind = 'platform' AND a.owner_id = 0 AND a.kind = 'fee_revenue' AND a.currency = j.currency
               WHERE j.kind = 'reversal' AND j.ref_kind = 'refund' AND r.fee_minor <> 0 ORDER BY j.id;"
                .to_owned(),
        ),
    ];
    for (what, sql) in steps {
        let t0 = Instant::now();
        conn.batch_execute(&sql)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        println!("  {what} in {:.1} s", t0.elapsed().as_secs_f64());
    }
    db::billing::save_settings(
        conn,
        &db::billing::Settings {
            payee: "Tandem Ltd".into(),
            payment_instructions: "IBAN DE00 0000 0000 0000 0000 00\nBIC TANDDEXX".into(),
            tax_rate_bps: 600,
            tax_label: "VAT".into(),
            updated_at: None,
        },
        1,
        now(),
    )
    .expect("billing settings");
}

/// A fresh, migrated and loaded database at `url`.
fn build(url: &str, pg: bool, merchants: usize, commissions: usize) {
    let mut conn = db::establish(url).expect("database");
    db::run_migrations(&mut conn).expect("migrations");
    let t0 = Instant::now();
    load(&mut conn, pg, merchants, commissions);
    // PostgreSQL's autovacuum analyzes a table this size soon after; Tandem runs no ANALYZE
    // on SQLite (see db::plan_every_statement_once), so neither does the bench.
    conn.batch_execute(if pg {
        "ANALYZE"
    } else {
        "PRAGMA wal_checkpoint(TRUNCATE)"
    })
    .expect("analyze / checkpoint");
    println!("  loaded in {:.1} s", t0.elapsed().as_secs_f64());
}

/// The SQLite database to bill: a copy of the cached, loaded one (built first if missing).
fn sqlite_copy(dir: &Path, merchants: usize, commissions: usize) -> String {
    let cache_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let cached = cache_dir.join(format!(
        "billing-bench-v{LOADER_VERSION}-{merchants}-{commissions}.db"
    ));
    if !cached.exists() {
        println!(
            "  loading into {} (cached for later runs)",
            cached.display()
        );
        let partial = cached.with_extension("partial");
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", partial.display()));
        }
        build(&partial.to_string_lossy(), false, merchants, commissions);
        std::fs::rename(&partial, &cached).expect("cache the database");
    } else {
        println!("  reusing the database cached in {}", cached.display());
    }
    let copy = dir.join("bench.db");
    std::fs::copy(&cached, &copy).expect("copy the cached database");
    copy.to_string_lossy().into_owned()
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let merchants: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let commissions: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let pg_url = std::env::var("TANDEM_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let pg = pg_url.as_deref().is_some_and(|u| u.starts_with("postgres"));
    println!(
        "{}: {merchants} merchants, {commissions} commissions",
        if pg { "PostgreSQL" } else { "SQLite" }
    );
    let url = match pg_url {
        Some(u) if pg => {
            build(&u, true, merchants, commissions);
            u
        }
        _ => sqlite_copy(dir.path(), merchants, commissions),
    };
    let mut conn = db::establish(&url).expect("database");
    let t0 = Instant::now();
    db::run_migrations(&mut conn).expect("migrations");
    println!(
        "  pending migrations applied in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let rss_loaded = peak_rss_mib();
    let now = now();

    // The month's bounds: November in the earliest and the latest of the zones.
    let november = Period::month_of(NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"));
    let zones: Vec<chrono_tz::Tz> = ZONES.iter().map(|z| z.parse().expect("zone")).collect();
    let lo = zones
        .iter()
        .map(|z| november.start_at(*z))
        .min()
        .expect("lo");
    let hi = zones.iter().map(|z| november.end_at(*z)).max().expect("hi");

    // (a) The bare aggregate: each merchant's billed receivable entries of the month.
    let aggregate = || -> Vec<(i64, i64)> {
        use diesel::dsl::sql;
        use diesel::sql_types::BigInt;
        use tandem::db::schema::{entries, journals, ledger_accounts};
        let mut conn = db::establish(&url).expect("database");
        entries::table
            .inner_join(journals::table)
            .inner_join(ledger_accounts::table)
            .filter(ledger_accounts::owner_kind.eq("merchant"))
            .filter(ledger_accounts::kind.eq("receivable"))
            .filter(journals::kind.eq_any(db::billing::BILLED_KINDS))
            .filter(journals::created_at.ge(lo))
            .filter(journals::created_at.lt(hi))
            .group_by(entries::account_id)
            .select((
                entries::account_id,
                sql::<BigInt>("CAST(SUM(entries.amount_minor) AS BIGINT)"),
            ))
            .load(&mut conn)
            .expect("aggregate")
    };
    let mut agg_time = f64::INFINITY;
    let mut sums = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        sums = aggregate();
        agg_time = agg_time.min(t.elapsed().as_secs_f64());
    }
    let accounts = db::billing::receivable_accounts(&mut conn).expect("accounts");
    let merchant_of: HashMap<i64, (i64, String)> = accounts
        .iter()
        .map(|(m, c, a)| (*a, (*m, c.clone())))
        .collect();
    let expected: HashMap<(i64, String), i64> = sums
        .iter()
        .map(|(a, s)| (merchant_of[a].clone(), *s))
        .collect();

    // The invoices' own aggregate, every account at once over the widest bounds.
    let t = Instant::now();
    let mut groups = 0;
    for currency in ["CNY", "USD"] {
        let fee =
            db::billing::platform_account(&mut conn, "fee_revenue", currency).expect("fee account");
        let of: Vec<i64> = accounts
            .iter()
            .filter(|a| a.1 == currency)
            .map(|a| a.2)
            .collect();
        groups += db::billing::window_groups(&mut conn, &of, fee, lo, hi)
            .expect("window groups")
            .len();
    }
    let groups_time = t.elapsed().as_secs_f64();

    // (b) Invoicing for real.
    let t = Instant::now();
    let issued = tandem::service::billing::issue_due(&mut conn, now, "https://tandem.test", false)
        .expect("issue_due");
    let run = t.elapsed().as_secs_f64();
    let rss_run = peak_rss_mib();

    println!(
        "bare aggregate:          {agg_time:>8.3} s ({} accounts)",
        sums.len()
    );
    println!("window_groups, all:      {groups_time:>8.3} s ({groups} groups)");
    println!(
        "issue_due:               {run:>8.3} s ({} invoices)",
        issued.len()
    );
    println!(
        "ratio issue_due/aggregate: {:.1} (goal ≤ 3)",
        run / agg_time.max(1e-9)
    );
    println!("peak RSS: {rss_run:.0} MiB ({rss_loaded:.0} MiB before billing; goal ≤ 256)");

    // Every merchant invoiced exactly its aggregate (plus the tax on its fee).
    let invoices = db::billing::all_invoices(&mut conn).expect("invoices");
    assert_eq!(invoices.len(), issued.len(), "one document per issued");
    assert_eq!(issued.len(), expected.len(), "every merchant is invoiced");
    let mut totals: HashMap<&str, (i64, i64, i64)> = HashMap::new();
    for inv in &invoices {
        let want = expected
            .get(&(inv.merchant_id, inv.currency.clone()))
            .copied()
            .unwrap_or_default();
        assert_eq!(
            inv.subtotal_minor, want,
            "{}: subtotal is the aggregate",
            inv.number
        );
        assert_eq!(inv.total_minor, inv.subtotal_minor + inv.tax_minor);
        let e = totals.entry(inv.currency.as_str()).or_default();
        e.0 += want;
        e.1 += inv.subtotal_minor;
        e.2 += inv.tax_minor;
    }
    let mut currencies: Vec<_> = totals.into_iter().collect();
    currencies.sort();
    for (c, (agg, sub, tax)) in currencies {
        println!("  {c}: aggregate {agg}, invoices' subtotals {sub} (+ tax {tax}) in minor units");
    }

    let t = Instant::now();
    let report = tandem::service::orders::check_ledger(&mut conn).expect("ledger check");
    println!(
        "ledger check:            {:>8.3} s ({} entries, {} journals, {} breaks; peak RSS {:.0} MiB after it)",
        t.elapsed().as_secs_f64(),
        report.entries,
        report.journals,
        report.breaks.len(),
        peak_rss_mib()
    );
    for b in report.breaks.iter().take(10) {
        println!("  break: {b}");
    }
    assert!(report.breaks.is_empty(), "the ledger check finds nothing");
}
