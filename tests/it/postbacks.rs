//! Signed conversion and refund postbacks: attribution by click and coupon, exact
//! commissions with their explanation, idempotency (also under 100 concurrent retries),
//! signatures, bad input, refunds, maturation, and a ledger that always checks out.

use std::sync::Arc;

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tandem::domain::signature;

use crate::helpers::{TestApp, location, new_client};
use crate::links::{PHONE, live_link_with_merchant};

/// A live link, one click on it, and a postback secret; returns (merchant id, secret,
/// click id). The clock then moves an hour on.
pub(crate) async fn clicked(app: &TestApp) -> (i64, String, String) {
    let (_, _, code) = live_link_with_merchant(app).await;
    let res = new_client()
        .get(app.url(&format!("/l/{code}")))
        .header("user-agent", PHONE)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let tclid = location(&res).split("tclid=").nth(1).unwrap().to_owned();
    let (merchant_id, secret) = merchant_secret(app).await;
    app.clock.advance(TimeDelta::hours(1));
    (merchant_id, secret, tclid)
}

pub(crate) async fn merchant_secret(app: &TestApp) -> (i64, String) {
    let now = app.clock_now();
    app.state
        .db(move |conn| {
            let m = tandem::db::merchants::all(conn)?.remove(0);
            let s = tandem::service::orders::rotate_postback_secret(conn, now, m.id, None)?;
            Ok((m.id, s))
        })
        .await
        .unwrap()
}

pub(crate) fn rfc3339(t: chrono::NaiveDateTime) -> String {
    t.and_utc().to_rfc3339()
}

pub(crate) fn order(
    app: &TestApp,
    order_id: &str,
    click: Option<&str>,
    coupon: Option<&str>,
) -> Value {
    let mut v = json!({
        "order_id": order_id,
        "currency": "CNY",
        "occurred_at": rfc3339(app.clock_now() - TimeDelta::minutes(30)),
        "items": [
            {"sku": "TEA-1", "quantity": 2, "unit_price": "128.00", "discount": "6.00"},
            {"sku": "TEA-2", "quantity": 1, "unit_price": "88.50"},
            {"sku": "GIFT-BOX", "quantity": 1, "unit_price": "10.00"}
        ]
    });
    if let Some(c) = click {
        v["click_id"] = json!(c);
    }
    if let Some(c) = coupon {
        v["coupon_code"] = json!(c);
    }
    v
}

async fn send(
    app: &TestApp,
    path: &str,
    merchant_id: i64,
    secret: &str,
    body: &[u8],
) -> reqwest::Response {
    let t = app.clock_now().and_utc().timestamp();
    new_client()
        .post(app.url(path))
        .header("content-type", "application/json")
        .header("tandem-merchant", merchant_id.to_string())
        .header(
            "tandem-signature",
            signature::header(secret.as_bytes(), t, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

pub(crate) async fn post_json(
    app: &TestApp,
    path: &str,
    merchant_id: i64,
    secret: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let res = send(app, path, merchant_id, secret, body.to_string().as_bytes()).await;
    let status = res.status();
    let text = res.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON answer: {text}"));
    (status, json)
}

pub(crate) async fn ledger_ok(app: &TestApp) {
    let report = app
        .state
        .db(tandem::service::orders::check_ledger)
        .await
        .unwrap();
    assert!(
        report.breaks.is_empty(),
        "ledger breaks: {:?}",
        report.breaks
    );
}

pub(crate) async fn count(app: &TestApp, table: &'static str) -> i64 {
    app.state
        .db(move |conn| {
            use diesel::prelude::*;
            use tandem::db::schema::*;
            Ok(match table {
                "conversions" => conversions::table.count().get_result(conn)?,
                "commissions" => commissions::table.count().get_result(conn)?,
                "journals" => journals::table.count().get_result(conn)?,
                "refunds" => refunds::table.count().get_result(conn)?,
                _ => unreachable!(),
            })
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_click_attributed_order_earns_an_exact_explained_commission_once() {
    let app = TestApp::spawn().await;
    let (m, secret, tclid) = clicked(&app).await;
    let body = order(&app, "A-1001", Some(&tclid), None);
    let (status, first) = post_json(&app, "/api/v1/conversions", m, &secret, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["attribution"]["signal"], "click");
    assert_eq!(first["base"], "348.50");
    // TEA-1: 250.00 at 15 % (SKU rate) = 37.50; TEA-2: 88.50 at 10 % = 8.85; the gift box is
    // not a campaign product.
    assert_eq!(first["commission"]["amount"], "46.35");
    assert_eq!(first["lines"][0]["commission"], "37.50");
    assert_eq!(first["lines"][1]["commission"], "8.85");
    assert_eq!(first["lines"][2]["commission"], "0.00");
    assert_eq!(first["commission"]["state"], "pending");
    let why = first["commission"]["explanation"].as_str().unwrap();
    for part in [
        "Click",
        "/l/",
        "15%",
        "product rate",
        "Exact sum",
        "Held for returns",
    ] {
        assert!(why.contains(part), "{part} in {why}");
    }

    // A retry: the same answer, 200, nothing new.
    let (status, again) = post_json(&app, "/api/v1/conversions", m, &secret, &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first);
    // The same order id with other content: 409.
    let mut changed = body.clone();
    changed["items"][0]["quantity"] = json!(3);
    let (status, err) = post_json(&app, "/api/v1/conversions", m, &secret, &changed).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(count(&app, "conversions").await, 1);
    assert_eq!(count(&app, "commissions").await, 1);
    ledger_ok(&app).await;
}

#[tokio::test]
async fn a_click_id_is_valid_only_whole() {
    // A click id starts with its click's row id; the random rest is what makes it valid. One
    // that names a real click's row with another random part attributes nothing.
    let app = TestApp::spawn().await;
    let (m, secret, tclid) = clicked(&app).await;
    let last = tclid.chars().last().unwrap();
    let forged = format!(
        "{}{}",
        &tclid[..tclid.len() - 1],
        if last == 'a' { 'b' } else { 'a' }
    );
    let (status, r) = post_json(
        &app,
        "/api/v1/conversions",
        m,
        &secret,
        &order(&app, "F-1", Some(&forged), None),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["attribution"]["signal"], "none", "{r}");
    assert!(r["commission"].is_null(), "{r}");
    let (status, r) = post_json(
        &app,
        "/api/v1/conversions",
        m,
        &secret,
        &order(&app, "F-2", Some(&tclid), None),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["attribution"]["signal"], "click", "{r}");
}

#[tokio::test]
async fn coupons_come_first_and_unattributed_orders_are_kept() {
    let app = TestApp::spawn().await;
    let (m, secret, tclid) = clicked(&app).await;
    let coupon = app
        .state
        .db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::collaborations;
            Ok(collaborations::table
                .filter(collaborations::state.eq("active"))
                .select(collaborations::coupon_code)
                .first::<Option<String>>(conn)?
                .unwrap())
        })
        .await
        .unwrap();
    let body = order(&app, "C-1", Some(&tclid), Some(&coupon.to_lowercase()));
    let (status, r) = post_json(&app, "/api/v1/conversions", m, &secret, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["attribution"]["signal"], "coupon");

    let (status, r) = post_json(
        &app,
        "/api/v1/conversions",
        m,
        &secret,
        &order(&app, "U-1", Some("not-a-click"), Some("NOPE")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(r["attribution"]["signal"], "none");
    assert!(r["commission"].is_null());
    let note = r["attribution"]["note"].as_str().unwrap();
    assert!(
        note.contains("NOPE") && note.contains("unattributed"),
        "{note}"
    );

    // A click older than the attribution window (30 days) does not count.
    app.clock.advance(TimeDelta::days(31));
    let (_, r) = post_json(
        &app,
        "/api/v1/conversions",
        m,
        &secret,
        &order(&app, "OLD-1", Some(&tclid), None),
    )
    .await;
    assert_eq!(r["attribution"]["signal"], "none");
    assert!(
        r["attribution"]["note"]
            .as_str()
            .unwrap()
            .contains("outside the campaign's 30-day window")
    );
    ledger_ok(&app).await;
}

#[tokio::test]
async fn signatures_are_checked() {
    let app = TestApp::spawn().await;
    let (m, secret, tclid) = clicked(&app).await;
    let body = order(&app, "S-1", Some(&tclid), None).to_string();
    let t = app.clock_now().and_utc().timestamp();
    let attempt = |sig: Option<String>, merchant: Option<String>, body: String| {
        let app_url = app.url("/api/v1/conversions");
        async move {
            let mut req = new_client()
                .post(app_url)
                .header("content-type", "application/json")
                .body(body);
            if let Some(s) = sig {
                req = req.header("tandem-signature", s);
            }
            if let Some(m) = merchant {
                req = req.header("tandem-merchant", m);
            }
            let res = req.send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let ms = Some(m.to_string());
    let bytes = body.as_bytes();
    for (name, sig, merchant, sent) in [
        (
            "wrong secret",
            Some(signature::header(b"wrong", t, bytes)),
            ms.clone(),
            body.clone(),
        ),
        (
            "tampered body",
            Some(signature::header(secret.as_bytes(), t, bytes)),
            ms.clone(),
            body.replace("128.00", "1280.00"),
        ),
        (
            "stale",
            Some(signature::header(secret.as_bytes(), t - 301, bytes)),
            ms.clone(),
            body.clone(),
        ),
        (
            "future",
            Some(signature::header(secret.as_bytes(), t + 301, bytes)),
            ms.clone(),
            body.clone(),
        ),
        ("missing", None, ms.clone(), body.clone()),
        (
            "malformed",
            Some("v1=abc".to_owned()),
            ms.clone(),
            body.clone(),
        ),
        (
            "no merchant",
            Some(signature::header(secret.as_bytes(), t, bytes)),
            None,
            body.clone(),
        ),
        (
            "other merchant",
            Some(signature::header(secret.as_bytes(), t, bytes)),
            Some("999".to_owned()),
            body.clone(),
        ),
    ] {
        let (status, text) = attempt(sig, merchant, sent).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v["error"]["message"].is_string(), "{name}: {text}");
    }
    assert_eq!(count(&app, "conversions").await, 0, "nothing stored");

    // Rotation: the old secret keeps working during the grace period, the new one too.
    let (_, new_secret) = merchant_secret(&app).await;
    assert_ne!(new_secret, secret);
    let (status, _) = post_json(
        &app,
        "/api/v1/conversions",
        m,
        &secret,
        &order(&app, "R-1", None, None),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "old secret during the grace period"
    );
    let (status, _) = post_json(
        &app,
        "/api/v1/conversions",
        m,
        &new_secret,
        &order(&app, "R-2", None, None),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "new secret");
    // After the grace period only the new one works.
    app.clock.advance(TimeDelta::days(8));
    let (status, _) = post_json(
        &app,
        "/api/v1/conversions",
        m,
        &secret,
        &order(&app, "R-3", None, None),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post_json(
        &app,
        "/api/v1/conversions",
        m,
        &new_secret,
        &order(&app, "R-4", None, None),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn bad_bodies_get_422_naming_the_field_and_store_nothing() {
    let app = TestApp::spawn().await;
    let (m, secret, _) = clicked(&app).await;
    let good = order(&app, "B-1", None, None);
    let mut cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "body"),
        (vec![0xff, 0xfe, b'{', b'}'], "body"),
        (b"[]".to_vec(), "body"),
    ];
    let mut variants: Vec<(Value, &str)> = Vec::new();
    let mut v = good.clone();
    v["items"][0]["unit_price"] = json!(128.0);
    variants.push((v, "items[0].unit_price"));
    let mut v = good.clone();
    v["items"][0]["quantity"] = json!(-2);
    variants.push((v, "items[0].quantity"));
    let mut v = good.clone();
    v["currency"] = json!("ABC");
    variants.push((v, "currency"));
    let mut v = good.clone();
    v["items"][1]["unit_price"] = json!("88.505");
    variants.push((v, "items[1].unit_price"));
    let mut v = good.clone();
    v["items"][0]["unit_price"] = json!("9999999999999999999999.00");
    variants.push((v, "items[0].unit_price"));
    let mut v = good.clone();
    v["occurred_at"] = json!("2099-01-01T00:00:00Z");
    variants.push((v, "occurred_at"));
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("order_id");
    variants.push((v, "order_id"));
    let mut v = good.clone();
    v["items"][0]["quantity"] = json!("2");
    variants.push((v, "items[0].quantity"));
    for (v, f) in variants {
        cases.push((v.to_string().into_bytes(), f));
    }
    for (body, field) in cases {
        let res = send(&app, "/api/v1/conversions", m, &secret, &body).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let v: Value = res.json().await.unwrap();
        let fields: Vec<&str> = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{field} in {v}");
    }
    assert_eq!(count(&app, "conversions").await, 0);
}

#[tokio::test]
async fn a_hundred_identical_postbacks_at_once_make_one_commission() {
    let app = Arc::new(TestApp::spawn().await);
    let (m, secret, tclid) = clicked(&app).await;
    let body = order(&app, "RACE-1", Some(&tclid), None).to_string();
    let t = app.clock_now().and_utc().timestamp();
    let sig = signature::header(secret.as_bytes(), t, body.as_bytes());
    let client = new_client();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (client, url, body, sig) = (
            client.clone(),
            app.url("/api/v1/conversions"),
            body.clone(),
            sig.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .header("content-type", "application/json")
                .header("tandem-merchant", m.to_string())
                .header("tandem-signature", sig)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap())
        }));
    }
    let mut created = 0;
    let mut answers = Vec::new();
    for t in tasks {
        let (status, v) = t.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::OK => {}
            other => panic!("unexpected {other}: {v}"),
        }
        answers.push(v);
    }
    assert_eq!(created, 1, "exactly one 201");
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "every answer the same"
    );
    assert_eq!(count(&app, "conversions").await, 1);
    assert_eq!(count(&app, "commissions").await, 1);
    assert_eq!(count(&app, "journals").await, 1, "one accrual");
    ledger_ok(&app).await;
}

/// Postbacks are written by one writer, many orders per transaction. An order that fails in
/// the middle of its write (here: a trigger refuses one of its lines) must not cost the
/// orders written with it their answer: they are stored, the failed one is not.
#[tokio::test]
async fn one_failing_order_does_not_sink_the_orders_written_with_it() {
    let app = Arc::new(TestApp::spawn().await);
    let (m, secret, tclid) = clicked(&app).await;
    app.state
        .db(|conn| {
            use diesel::connection::SimpleConnection;
            let sql = match tandem::db::backend(conn) {
                tandem::db::Backend::Sqlite => {
                    "CREATE TRIGGER poison BEFORE INSERT ON conversion_lines \
                     WHEN NEW.sku = 'POISON' BEGIN SELECT RAISE(ABORT, 'poisoned'); END;"
                }
                tandem::db::Backend::Postgres => {
                    "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
                     IF NEW.sku = 'POISON' THEN RAISE EXCEPTION 'poisoned'; END IF; \
                     RETURN NEW; END $$ LANGUAGE plpgsql; \
                     CREATE TRIGGER poison BEFORE INSERT ON conversion_lines \
                     FOR EACH ROW EXECUTE FUNCTION poison();"
                }
            };
            Ok(conn.batch_execute(sql)?)
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let mut body = order(&app, &format!("BATCH-{i}"), Some(&tclid), None);
        if i == 20 {
            body["items"][1]["sku"] = json!("POISON");
        }
        let (app, secret) = (app.clone(), secret.clone());
        tasks.push(tokio::spawn(async move {
            let body = body.to_string();
            let res = send(&app, "/api/v1/conversions", m, &secret, body.as_bytes()).await;
            (i, res.status())
        }));
    }
    for task in tasks {
        let (i, status) = task.await.unwrap();
        if i == 20 {
            assert_eq!(
                status,
                StatusCode::INTERNAL_SERVER_ERROR,
                "the poisoned order"
            );
        } else {
            assert_eq!(status, StatusCode::CREATED, "order BATCH-{i}");
        }
    }
    assert_eq!(count(&app, "conversions").await, 39);
    assert_eq!(count(&app, "commissions").await, 39);
    assert_eq!(count(&app, "journals").await, 39);
    ledger_ok(&app).await;
    // The failed order can be sent again once the fault is gone.
    app.state
        .db(|conn| {
            use diesel::connection::SimpleConnection;
            Ok(conn
                .batch_execute("DROP TRIGGER poison ON conversion_lines")
                .or_else(|_| conn.batch_execute("DROP TRIGGER poison"))?)
        })
        .await
        .unwrap();
    let mut body = order(&app, "BATCH-20", Some(&tclid), None);
    body["items"][1]["sku"] = json!("POISON");
    let (status, _) = post_json(&app, "/api/v1/conversions", m, &secret, &body).await;
    assert_eq!(status, StatusCode::CREATED);
    ledger_ok(&app).await;
}

#[tokio::test]
async fn refunds_reverse_before_payout_and_claw_back_after() {
    let app = TestApp::spawn().await;
    let (m, secret, tclid) = clicked(&app).await;
    let (_, r) = post_json(
        &app,
        "/api/v1/conversions",
        m,
        &secret,
        &order(&app, "F-1", Some(&tclid), None),
    )
    .await;
    let commission_id = r["commission"]["id"].as_i64().unwrap();
    let refund = |id: &str, amount: &str| json!({"order_id": "F-1", "refund_id": id, "amount": amount, "occurred_at": rfc3339(app.clock_now())});
    // Half of the TEA-1 line's value, before the hold is over: reversed from pending.
    let (status, rf) = post_json(
        &app,
        "/api/v1/refunds",
        m,
        &secret,
        &refund("RF-1", "100.00"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rf}");
    assert_eq!(rf["effect"], "reversal");
    let (status, again) = post_json(
        &app,
        "/api/v1/refunds",
        m,
        &secret,
        &refund("RF-1", "100.00"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, rf);
    let (status, _) = post_json(
        &app,
        "/api/v1/refunds",
        m,
        &secret,
        &refund("RF-1", "90.00"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, err) = post_json(
        &app,
        "/api/v1/refunds",
        m,
        &secret,
        &refund("RF-X", "1000.00"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["errors"][0]["field"], "amount");
    let (status, err) = post_json(
        &app,
        "/api/v1/refunds",
        m,
        &secret,
        &json!({"order_id": "NOPE", "refund_id": "RF-Y", "amount": "1.00", "occurred_at": rfc3339(app.clock_now())}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["errors"][0]["field"], "order_id");
    ledger_ok(&app).await;

    // The hold ends: what is left becomes available, once however often the job runs.
    app.clock.advance(TimeDelta::days(31));
    let now = app.clock_now();
    let moved = app
        .state
        .db(move |conn| {
            let a = tandem::service::orders::mature_due(conn, now)?;
            let b = tandem::service::orders::mature_due(conn, now)?;
            Ok((a, b))
        })
        .await
        .unwrap();
    assert_eq!(moved, (1, 0));
    let balances = influencer_balances(&app).await;
    let earned: i64 = 4635;
    let reversed = rf["commission_reversed"]
        .as_str()
        .unwrap()
        .replace('.', "")
        .parse::<i64>()
        .unwrap();
    assert_eq!(balances.get("available"), Some(&(earned - reversed)));
    assert_eq!(balances.get("pending").copied().unwrap_or(0), 0);

    // Paid out (payout runs are another issue: their journals are posted by hand here), then
    // fully refunded: the rest is clawed back and the available balance goes negative.
    let paid = earned - reversed;
    app.state
        .db(move |conn| {
            use diesel::prelude::*;
            use tandem::db::schema::commissions;
            use tandem::domain::ledger;
            let c = tandem::db::orders::commission(conn, commission_id)?.unwrap();
            for state in ["in_payout", "paid"] {
                diesel::update(commissions::table.find(commission_id))
                    .set(commissions::state.eq(state))
                    .execute(conn)?;
            }
            let now = chrono::Utc::now().naive_utc();
            for d in [
                ledger::payout_start(c.influencer_id, paid, "payout".into()),
                ledger::payout_settle(c.influencer_id, paid, "payout".into()),
            ] {
                tandem::db::ledger::post(conn, &d, "CNY", "commission", commission_id, now)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let (status, rest) = post_json(
        &app,
        "/api/v1/refunds",
        m,
        &secret,
        &refund("RF-2", "248.50"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rest}");
    assert_eq!(rest["effect"], "clawback");
    let clawed = rest["commission_reversed"]
        .as_str()
        .unwrap()
        .replace('.', "")
        .parse::<i64>()
        .unwrap();
    assert_eq!(
        reversed + clawed,
        earned,
        "a full refund takes back exactly the commission"
    );
    let balances = influencer_balances(&app).await;
    assert_eq!(
        balances.get("available"),
        Some(&-clawed),
        "owed back from later earnings"
    );
    assert_eq!(balances.get("paid"), Some(&paid));
    ledger_ok(&app).await;
}

/// The demo influencer's balances by account kind, as shown (from ledger entries).
async fn influencer_balances(app: &TestApp) -> std::collections::HashMap<String, i64> {
    app.state
        .db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::commissions;
            let inf: i64 = commissions::table
                .select(commissions::influencer_id)
                .first(conn)?;
            Ok(
                tandem::db::ledger::balances(conn, tandem::domain::ledger::Owner::Influencer(inf))?
                    .into_iter()
                    .map(|((k, _), v)| (k.as_str().to_owned(), v))
                    .collect(),
            )
        })
        .await
        .unwrap()
}

pub(crate) fn shopify_order(app: &TestApp, id: u64, tclid: &str, code: Option<&str>) -> Value {
    // Shaped like Shopify's documented `orders/paid` example (trimmed).
    json!({
        "id": id,
        "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
        "email": "jon@example.com",
        "created_at": rfc3339(app.clock_now() - TimeDelta::minutes(20)),
        "processed_at": rfc3339(app.clock_now() - TimeDelta::minutes(20)),
        "currency": "CNY",
        "financial_status": "paid",
        "name": if id > 1_000_000 { "#1001".to_owned() } else { format!("#{}", 1000 + id) },
        "order_number": if id > 1_000_000 { 1001 } else { 1000 + id },
        "landing_site": format!("/p/TEA-1?utm_source=douyin&tclid={tclid}"),
        "note_attributes": [],
        "discount_codes": code.map_or(json!([]), |c| json!([{"code": c, "amount": "6.00", "type": "fixed_amount"}])),
        "total_price": "338.50",
        "subtotal_price": "338.50",
        "total_tax": "0.00",
        "line_items": [
            {"id": 866550311766439020u64, "variant_id": 808950810, "title": "Dragon Well 100g", "quantity": 2,
             "sku": "TEA-1", "price": "128.00", "total_discount": "6.00", "taxable": true,
             "price_set": {"shop_money": {"amount": "128.00", "currency_code": "CNY"}}},
            {"id": 141249953214522974u64, "variant_id": 808950811, "title": "Pu-erh cake", "quantity": 1,
             "sku": "TEA-2", "price": "88.50", "total_discount": "0.00", "taxable": true}
        ],
        "shipping_lines": [{"price": "10.00"}]
    })
}

pub(crate) async fn shopify(
    app: &TestApp,
    merchant_id: i64,
    secret: &str,
    topic: &str,
    webhook_id: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let bytes = body.to_string().into_bytes();
    let res = new_client()
        .post(app.url(&format!("/api/v1/webhooks/shopify/{merchant_id}")))
        .header("content-type", "application/json")
        .header("x-shopify-topic", topic)
        .header("x-shopify-webhook-id", webhook_id)
        .header("x-shopify-shop-domain", "tea-example.myshopify.com")
        .header(
            "x-shopify-hmac-sha256",
            tandem::domain::shopify::sign(secret.as_bytes(), &bytes),
        )
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn shopify_webhooks_are_verified_deduplicated_and_attributed() {
    let app = TestApp::spawn().await;
    let (m, _, tclid) = clicked(&app).await;
    let secret = "shpss_5e2b1ff6c0b7e9bdbe12";
    let now = app.clock_now();
    app.state
        .db(move |conn| {
            Ok(tandem::db::orders::set_shopify_secret(
                conn,
                m,
                Some(secret),
                None,
                now,
            )?)
        })
        .await
        .unwrap();
    let order = shopify_order(&app, 820982911946154508, &tclid, None);

    // A wrong signature is refused and stores nothing.
    let bytes = order.to_string();
    let res = new_client()
        .post(app.url(&format!("/api/v1/webhooks/shopify/{m}")))
        .header("x-shopify-topic", "orders/paid")
        .header(
            "x-shopify-hmac-sha256",
            tandem::domain::shopify::sign(b"wrong", bytes.as_bytes()),
        )
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let (status, r) = shopify(
        &app,
        m,
        secret,
        "orders/paid",
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        &order,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "recorded");
    assert_eq!(r["order"]["attribution"]["signal"], "click");
    assert_eq!(r["order"]["commission"]["amount"], "46.35");
    // Shopify retries the same delivery, and may send the order again under a new id.
    let (_, r) = shopify(
        &app,
        m,
        secret,
        "orders/paid",
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        &order,
    )
    .await;
    assert_eq!(r["status"], "duplicate");
    let (_, r) = shopify(&app, m, secret, "orders/paid", "another-delivery", &order).await;
    assert_eq!(r["status"], "duplicate");
    assert_eq!(count(&app, "conversions").await, 1);

    // A refund of one Dragon Well (subtotal 125.00 after its share of the discount).
    let refund = json!({
        "id": 509562969u64,
        "order_id": 820982911946154508u64,
        "created_at": rfc3339(app.clock_now()),
        "note": "Damaged in transit",
        "refund_line_items": [{"id": 104689539, "quantity": 1, "line_item_id": 866550311766439020u64,
            "subtotal": 125.0, "total_tax": 0.0,
            "subtotal_set": {"shop_money": {"amount": "125.00", "currency_code": "CNY"}}}],
        "transactions": [{"id": 179259969, "kind": "refund", "status": "success", "amount": "135.00"}]
    });
    let (status, r) = shopify(
        &app,
        m,
        secret,
        "refunds/create",
        "refund-delivery-1",
        &refund,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        r["refund"]["amount"], "125.00",
        "line subtotals, not tax or shipping"
    );
    assert_eq!(r["refund"]["effect"], "reversal");
    let (_, r) = shopify(
        &app,
        m,
        secret,
        "refunds/create",
        "refund-delivery-2",
        &refund,
    )
    .await;
    assert_eq!(r["status"], "duplicate");
    assert_eq!(count(&app, "refunds").await, 1);

    // A coupon order; an unknown topic is acknowledged and ignored.
    let (_, r) = shopify(
        &app,
        m,
        secret,
        "orders/paid",
        "d-3",
        &shopify_order(&app, 5, "", Some("nope")),
    )
    .await;
    assert_eq!(r["order"]["attribution"]["signal"], "none");
    let (status, r) = shopify(
        &app,
        m,
        secret,
        "customers/create",
        "d-4",
        &json!({"id": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["status"], "ignored");
    // A bad payload cannot be fixed by a retry: 200, rejected, the field named.
    let mut bad = shopify_order(&app, 6, "", None);
    bad["line_items"][0]["price"] = json!("12.345");
    bad["line_items"][0]["price_set"]["shop_money"]["amount"] = json!("12.345");
    let (status, r) = shopify(&app, m, secret, "orders/paid", "d-5", &bad).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["status"], "rejected");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .starts_with("line_items[0].price:"),
        "{r}"
    );
    ledger_ok(&app).await;
}

#[tokio::test]
async fn the_api_is_described_by_openapi() {
    let app = TestApp::spawn().await;
    let doc: Value = new_client()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/v1/conversions", "/api/v1/refunds", "/api/v1/links"] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    let responses = &doc["paths"]["/api/v1/conversions"]["post"]["responses"];
    for code in ["200", "201", "401", "409", "422"] {
        assert!(responses[code].is_object(), "{code}");
    }
    assert!(doc["components"]["schemas"]["ConversionRequest"].is_object());
}

#[tokio::test]
async fn concurrent_refunds_never_refund_more_than_the_order() {
    let app = Arc::new(TestApp::spawn().await);
    let (m, secret, tclid) = clicked(&app).await;
    let (status, _) = post_json(
        &app,
        "/api/v1/conversions",
        m,
        &secret,
        &order(&app, "CR-1", Some(&tclid), None),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // 20 refunds of 50.00 each at once against an order of 348.50: at most 6 fit.
    let mut tasks = Vec::new();
    for n in 0..20 {
        let (app, secret) = (app.clone(), secret.clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"order_id": "CR-1", "refund_id": format!("CR-R{n}"), "amount": "50.00",
                              "occurred_at": rfc3339(app.clock_now())});
            post_json(&app, "/api/v1/refunds", m, &secret, &body).await.0
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 6, "6 × 50.00 fit in 348.50");
    assert_eq!(count(&app, "refunds").await, 6);
    ledger_ok(&app).await;
    let balances = influencer_balances(&app).await;
    assert!(balances.get("pending").copied().unwrap_or(0) >= 0);
}
