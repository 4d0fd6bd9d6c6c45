//! Postback benchmark: starts Tandem (release build, demo data, SQLite in a temp dir by
//! default) and sends signed conversion postbacks over loopback HTTP, each attributed by
//! coupon, with its commission and ledger journal written, from concurrent clients. Prints
//! postbacks per second, latency percentiles, and the ledger check.
//!
//! Run: `cargo bench --bench postbacks` (optionally `-- 10000 32`: postbacks, concurrency).
//! Set TANDEM_BENCH_DATABASE_URL to a postgres:// URL of an empty database for PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem::config::Settings;
use tandem::domain::signature;
use tandem::startup::Application;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(total, concurrency));
}

async fn run(total: usize, concurrency: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = std::env::var("TANDEM_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| dir.path().join("bench.db").to_string_lossy().into_owned());
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let settings = Settings::for_tests(dir.path(), &url);
    let app = Application::build(settings).expect("app builds");
    let state = app.state();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    let now = state.now();
    let b = base.clone();
    let (merchant_id, secret, coupon, skus) = state
        .db(move |conn| {
            use diesel::prelude::*;
            use tandem::db::schema::collaborations as c;
            tandem::service::demo::load(conn, now, &b)?;
            let col: tandem::db::models::Collaboration = c::table
                .filter(c::state.eq("active"))
                .filter(c::coupon_code.is_not_null())
                .order(c::id.asc())
                .select(tandem::db::models::Collaboration::as_select())
                .first(conn)?;
            let campaign = tandem::db::campaigns::find(conn, col.campaign_id)?.expect("campaign");
            let skus: Vec<(String, String)> = tandem::db::catalog::for_campaign(conn, &campaign)?
                .into_iter()
                .map(|p| {
                    let price = tandem::domain::money::Money::from_minor(
                        p.price_minor,
                        tandem::domain::money::Currency::parse(&p.currency).expect("currency"),
                    )
                    .expect("price")
                    .to_plain_string();
                    (p.sku, price)
                })
                .collect();
            let secret =
                tandem::service::orders::rotate_postback_secret(conn, now, col.merchant_id, None)?;
            Ok((
                col.merchant_id,
                secret,
                col.coupon_code.unwrap_or_default(),
                skus,
            ))
        })
        .await
        .expect("fixture");
    let currency = "CNY";
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, base, secret, coupon, skus, state) = (
            client.clone(),
            next.clone(),
            base.clone(),
            secret.clone(),
            coupon.clone(),
            skus.clone(),
            state.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return latencies;
                }
                let (sku, price) = &skus[i % skus.len()];
                let (sku2, price2) = &skus[(i / 7) % skus.len()];
                let occurred = state.now() - chrono::TimeDelta::minutes(5);
                let body = serde_json::json!({
                    "order_id": format!("BENCH-{i}"),
                    "currency": currency,
                    "occurred_at": occurred.and_utc().to_rfc3339(),
                    "coupon_code": coupon,
                    "items": [
                        {"sku": sku, "quantity": 1 + i % 3, "unit_price": price},
                        {"sku": sku2, "quantity": 1, "unit_price": price2, "discount": "1.00"}
                    ]
                })
                .to_string();
                let t = state.now().and_utc().timestamp();
                let sig = signature::header(secret.as_bytes(), t, body.as_bytes());
                let sent = Instant::now();
                let res = client
                    .post(format!("{base}/api/v1/conversions"))
                    .header("content-type", "application/json")
                    .header("tandem-merchant", merchant_id.to_string())
                    .header("tandem-signature", sig)
                    .body(body)
                    .send()
                    .await
                    .expect("request");
                let status = res.status();
                let text = res.text().await.unwrap_or_default();
                assert_eq!(status.as_u16(), 201, "{text}");
                latencies.push(sent.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("client task"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i].as_secs_f64() * 1000.0
    };
    let report = state
        .db(tandem::service::orders::check_ledger)
        .await
        .expect("ledger check");
    let commissions = state
        .db(|conn| {
            use diesel::prelude::*;
            Ok(tandem::db::schema::commissions::table
                .filter(tandem::db::schema::commissions::conversion_id.gt(0))
                .count()
                .get_result::<i64>(conn)?)
        })
        .await
        .expect("count");
    println!("backend:            {backend}");
    println!(
        "postbacks:          {total} signed, {concurrency} concurrent clients, coupon-attributed"
    );
    println!(
        "throughput:         {:.0} postbacks/s ({:.2} s)",
        total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "latency:            p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!("commissions stored: {commissions} (demo ones included)");
    println!(
        "ledger check:       {} journals, {} entries, {}",
        report.journals,
        report.entries,
        if report.breaks.is_empty() {
            "ok".to_owned()
        } else {
            format!("BROKEN: {:?}", report.breaks)
        }
    );
}
