//! `kill -9` in the middle of a click storm: every click that got a 302 is in the database
//! after a restart (a redirect answers only after its click is committed).

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tandem::db;
use tandem::domain::account::Role;
use tandem::domain::clock::{Clock, SystemClock};
use tandem::domain::collaboration::{CollabAction, Side};
use tandem::domain::product_csv::ProductRaw;
use tandem::service::{accounts, campaigns, catalog, collaborations, influencer, links};

use crate::helpers::{PASSWORD, test_database};

/// Sets up a merchant, a verified domain, a product, an active campaign, an influencer with
/// an active collaboration, and a link; returns the link code.
fn prepare(url: &str) -> String {
    let mut conn = db::establish(url).unwrap();
    db::run_migrations(&mut conn).unwrap();
    let now = SystemClock.now();
    let base = "http://127.0.0.1";
    let admin = accounts::add_staff_user(
        &mut conn,
        now,
        Role::Admin,
        "root@crash.test",
        PASSWORD,
        "Root",
    )
    .unwrap();
    let m = accounts::signup_merchant(
        &mut conn,
        now,
        base,
        &accounts::MerchantSignupForm {
            name: "Owner".into(),
            email: "m@crash.test".into(),
            password: PASSWORD.into(),
            org_name: "Crash Tea".into(),
            currency: "CNY".into(),
            ..Default::default()
        },
    )
    .unwrap();
    catalog::add_domain(&mut conn, now, m.id, "crash.example").unwrap();
    let merchant = tandem::service::merchant::org_of(&mut conn, m.id)
        .unwrap()
        .0;
    let domain = db::catalog::domains_of(&mut conn, merchant.id).unwrap()[0].id;
    catalog::verify_domain(&mut conn, now, admin.id, domain, true).unwrap();
    let raw = ProductRaw {
        sku: "C-1".into(),
        title: "Crash tea".into(),
        category: "tea".into(),
        price: "10.00".into(),
        currency: "CNY".into(),
        product_url: "https://crash.example/p/1".into(),
        image_url: String::new(),
        active: "true".into(),
    };
    let product = catalog::save_product(&mut conn, now, m.id, None, &raw).unwrap();
    let form = campaigns::CampaignForm {
        name: "Crash course".into(),
        category: "tea".into(),
        product_scope: "selected".into(),
        product_ids: vec![product.id.to_string()],
        visibility: "open".into(),
        rules: campaigns::RulesFormFields {
            default_rate: "10".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let campaign =
        campaigns::create_campaign(&mut conn, now, m.id, chrono_tz::Tz::UTC, &form).unwrap();
    campaigns::change_state(
        &mut conn,
        now,
        m.id,
        campaign,
        tandem::domain::campaign::CampaignAction::Activate,
    )
    .unwrap();
    let i = accounts::signup_influencer(
        &mut conn,
        now,
        base,
        &accounts::InfluencerSignupForm {
            name: "Creator".into(),
            handle: "crash.creator".into(),
            email: "i@crash.test".into(),
            password: PASSWORD.into(),
            ..Default::default()
        },
    )
    .unwrap();
    influencer::update_profile(
        &mut conn,
        now,
        i.id,
        &influencer::ProfileForm {
            display_name: "Creator".into(),
            handle: "crash.creator".into(),
            categories: vec!["tea".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let actor = |user_id| collaborations::Actor {
        now,
        base_url: base,
        user_id,
    };
    let collab = collaborations::apply(&mut conn, actor(i.id), campaign, "").unwrap();
    collaborations::act(
        &mut conn,
        actor(m.id),
        Side::Merchant,
        collab,
        CollabAction::Approve,
        "",
    )
    .unwrap();
    let link = links::create_link(
        &mut conn,
        now,
        i.id,
        &links::LinkForm {
            target: format!("{collab}:{}", product.id),
            ..Default::default()
        },
    )
    .unwrap();
    link.code
}

fn start(dir: &std::path::Path, url: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TANDEM_DATA_DIR", dir)
        .env("TANDEM_DATABASE_URL", url)
        .env("TANDEM_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "error")
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    for line in stderr.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Tandem is running at ") {
            return (child, rest.split_whitespace().next().unwrap().to_owned());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not start");
}

/// Runs a click storm against the server until at least 300 clicks were answered, then sends
/// `signal` to it; returns the click ids that got a 302.
async fn storm_then(child: &mut Child, base: &str, code: &str, signal: &str) -> HashSet<String> {
    let answered = Arc::new(Mutex::new(Vec::new()));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (client, answered, link) =
            (client.clone(), answered.clone(), format!("{base}/l/{code}"));
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < Duration::from_secs(10) {
                match client
                    .get(&link)
                    .header("user-agent", "Mozilla/5.0 storm")
                    .send()
                    .await
                {
                    Ok(res) if res.status() == reqwest::StatusCode::FOUND => {
                        let to = res
                            .headers()
                            .get("location")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        answered
                            .lock()
                            .unwrap()
                            .push(to.split("tclid=").nth(1).unwrap_or_default().to_owned());
                    }
                    Ok(_) => {}
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    while answered.lock().unwrap().len() < 300 && started.elapsed() < Duration::from_secs(8) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = Command::new("kill")
        .arg(signal)
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal}");
    for t in tasks {
        t.await.unwrap();
    }
    let answered: HashSet<String> = answered.lock().unwrap().drain(..).collect();
    assert!(
        answered.len() >= 300,
        "the storm ran ({} clicks answered)",
        answered.len()
    );
    answered
}

/// The link's clicks as the dashboards count them (`db::links::daily_of`: the daily rollups,
/// plus on SQLite the clicks the rollup has not folded in yet), and on SQLite what
/// `link_daily` alone holds.
fn daily_totals(url: &str, code: &str) -> (i64, Option<i64>) {
    use diesel::prelude::*;
    use tandem::db::schema::link_daily;
    let mut conn = db::establish(url).unwrap();
    let link = db::links::find_by_code(&mut conn, code).unwrap().unwrap();
    let counted = db::links::daily_of(&mut conn, &[link.id])
        .unwrap()
        .iter()
        .map(|d| d.clicks)
        .sum();
    let rolled = match &mut conn {
        db::DbConn::Sqlite(_) => Some(
            link_daily::table
                .filter(link_daily::link_id.eq(link.id))
                .select(link_daily::clicks)
                .load::<i64>(&mut conn)
                .unwrap()
                .iter()
                .sum(),
        ),
        db::DbConn::Pg(_) => None,
    };
    (counted, rolled)
}

fn stored_ids(url: &str) -> HashSet<String> {
    let mut conn = db::establish(url).unwrap();
    db::links::all_clicks(&mut conn)
        .unwrap()
        .into_iter()
        .map(|c| c.click_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_loses_no_answered_click() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = test_database(dir.path());
    let code = prepare(&url);
    let (mut child, base) = start(dir.path(), &url);
    let answered = storm_then(&mut child, &base, &code, "-KILL").await;
    child.wait().unwrap();
    let client = reqwest::Client::new();
    // Restart: the database opens cleanly and every answered click is there.
    let (mut child, base) = start(dir.path(), &url);
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();
    let mut conn = db::establish(&url).unwrap();
    let stored: HashSet<String> = db::links::all_clicks(&mut conn)
        .unwrap()
        .into_iter()
        .map(|c| c.click_id)
        .collect();
    let missing: Vec<&String> = answered.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} answered clicks missing after kill -9: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // The rollups count every stored click once: none lost, none twice, whatever the kill
    // interrupted.
    let (counted, _) = daily_totals(&url, &code);
    assert_eq!(counted, i64::try_from(stored.len()).unwrap());
    eprintln!(
        "kill -9 test: {} clicks answered, {} stored, none lost",
        answered.len(),
        stored.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_stops_cleanly_and_keeps_every_click() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = test_database(dir.path());
    let code = prepare(&url);
    let (mut child, base) = start(dir.path(), &url);
    let answered = storm_then(&mut child, &base, &code, "-TERM").await;
    let status = child.wait().unwrap();
    assert!(status.success(), "a graceful stop exits 0, got {status:?}");
    let stored = stored_ids(&url);
    assert!(
        answered.iter().all(|id| stored.contains(id)),
        "every answered click is stored after SIGTERM"
    );
    // A graceful stop also finishes the rollup (SQLite: link_daily holds every click).
    let (counted, rolled) = daily_totals(&url, &code);
    assert_eq!(counted, i64::try_from(stored.len()).unwrap());
    if let Some(rolled) = rolled {
        assert_eq!(rolled, counted, "the rollup caught up before exiting");
    }
    eprintln!(
        "SIGTERM test: {} clicks answered, {} stored",
        answered.len(),
        stored.len()
    );
}
