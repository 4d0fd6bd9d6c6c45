//! Discovery benchmark: loads 100,000 influencers (with categories, regions and social
//! accounts) into a fresh database and times the discovery page's ranking query for a
//! campaign, printing p50/p95/max. SQLite by default; set TANDEM_BENCH_DATABASE_URL to a
//! postgres:// URL of an empty database to measure PostgreSQL.
//!
//! Run: `cargo bench --bench discovery` (optionally `-- 100000 200`: influencers, runs).

use std::time::Instant;

use diesel::connection::SimpleConnection;
use tandem::db::influencers::DiscoveryFilter;
use tandem::db::{self, DbConn};

const CATEGORIES: [&str; 12] = [
    "beauty",
    "fashion",
    "tea",
    "food",
    "electronics",
    "home",
    "fitness",
    "kids",
    "pets",
    "gaming",
    "travel",
    "books",
];
const REGIONS: [&str; 12] = [
    "CN", "HK", "TW", "US", "CA", "JP", "KR", "ID", "MY", "TH", "VN", "GB",
];
const PLATFORMS: [&str; 5] = ["douyin", "kuaishou", "tiktok", "instagram", "youtube"];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn load(conn: &mut DbConn, n: u64) {
    let mut rng = Rng(42);
    let ts = "'2026-11-01 00:00:00'";
    let mut sql = String::from("BEGIN;");
    for chunk_start in (0..n).step_by(500) {
        let end = (chunk_start + 500).min(n);
        let mut users = Vec::new();
        let mut infl = Vec::new();
        let mut cats = Vec::new();
        let mut regs = Vec::new();
        let mut accts = Vec::new();
        for i in chunk_start..end {
            let id = i + 1;
            users.push(format!("({id}, 'bench{id}@example.com', 'x', 'influencer', 'Creator {id}', 'UTC', 1, {ts}, {ts})"));
            let followers = 1_000 * (1 + rng.below(1000)) * (1 + rng.below(10)) + rng.below(1000);
            let engagement = 50 + rng.below(900);
            infl.push(format!("({id}, {id}, 'creator{id}', 'Creator {id}', '', {ts}, {ts}, 'en', {followers}, {engagement})"));
            let c1 = rng.below(12) as usize;
            cats.push(format!("({id}, '{}')", CATEGORIES[c1]));
            let c2 = rng.below(12) as usize;
            if c2 != c1 && rng.below(2) == 0 {
                cats.push(format!("({id}, '{}')", CATEGORIES[c2]));
            }
            let r1 = rng.below(12) as usize;
            regs.push(format!("({id}, '{}')", REGIONS[r1]));
            let p = rng.below(5) as usize;
            accts.push(format!(
                "({id}, '{}', 'creator{id}', {followers}, {}, {engagement}, {ts})",
                PLATFORMS[p],
                followers / 10
            ));
        }
        sql.push_str(&format!(
            "INSERT INTO users (id, email, password_hash, role, display_name, time_zone, session_version, created_at, updated_at) VALUES {};\
             INSERT INTO influencers (id, user_id, handle, display_name, bio, created_at, updated_at, languages, total_followers, engagement_bps) VALUES {};\
             INSERT INTO influencer_categories (influencer_id, category) VALUES {};\
             INSERT INTO influencer_regions (influencer_id, region) VALUES {};\
             INSERT INTO social_accounts (influencer_id, platform, handle, followers, avg_views, engagement_bps, created_at) VALUES {};",
            users.join(","), infl.join(","), cats.join(","), regs.join(","), accts.join(",")
        ));
    }
    sql.push_str("COMMIT;");
    conn.batch_execute(&sql).expect("bulk load");
    if let DbConn::Pg(_) = conn {
        conn.batch_execute("SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users)); SELECT setval(pg_get_serial_sequence('influencers', 'id'), (SELECT max(id) FROM influencers)); ANALYZE;").expect("sequences");
    } else {
        conn.batch_execute("ANALYZE;").expect("analyze");
    }
}

fn campaign() -> tandem::db::models::Campaign {
    let t = chrono::NaiveDate::from_ymd_opt(2026, 11, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    tandem::db::models::Campaign {
        id: 1,
        merchant_id: 1,
        name: "Bench".into(),
        description: String::new(),
        category: "beauty".into(),
        product_scope: "category".into(),
        currency: "CNY".into(),
        attribution_days: 30,
        hold_days: 30,
        visibility: "open".into(),
        starts_at: t,
        ends_at: None,
        min_followers: Some(100_000),
        target_regions: "CN,HK".into(),
        budget_cap_minor: None,
        state: "active".into(),
        created_at: t,
        updated_at: t,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let n: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("TANDEM_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| dir.path().join("bench.db").to_string_lossy().into_owned());
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let mut conn = db::establish(&url).expect("database");
    db::run_migrations(&mut conn).expect("migrations");
    let t0 = Instant::now();
    load(&mut conn, n);
    println!(
        "loaded {n} influencers into {backend} in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let filters: Vec<(&str, DiscoveryFilter)> = vec![
        (
            "campaign category (default page)",
            DiscoveryFilter {
                category: Some("beauty".into()),
                ..DiscoveryFilter::default()
            },
        ),
        (
            "category + region + 100K-1M followers",
            DiscoveryFilter {
                category: Some("beauty".into()),
                region: Some("CN".into()),
                min_followers: Some(100_000),
                max_followers: Some(1_000_000),
                ..DiscoveryFilter::default()
            },
        ),
        (
            "category + platform + min engagement 5%",
            DiscoveryFilter {
                category: Some("beauty".into()),
                platform: Some("douyin".into()),
                min_engagement_bps: Some(500),
                ..DiscoveryFilter::default()
            },
        ),
        (
            "any category (capped at the 12,000 most followed)",
            DiscoveryFilter::default(),
        ),
    ];
    println!(
        "{:<50} {:>9} {:>9} {:>9} {:>10}",
        "discovery query", "p50 ms", "p95 ms", "max ms", "candidates"
    );
    for (name, filter) in filters {
        let mut times = Vec::with_capacity(runs);
        let mut total = 0;
        for i in 0..runs {
            let page = 1 + i % 3;
            let t = Instant::now();
            let d = tandem::service::marketplace::rank_for_campaign(
                &mut conn,
                campaign(),
                &filter,
                page,
            )
            .expect("ranking");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            total = d.total;
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{name:<50} {:>9.2} {:>9.2} {:>9.2} {total:>10}",
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            times[times.len() - 1]
        );
    }
}
