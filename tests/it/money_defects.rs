//! Regression tests for the money path's defects (issue 18): refunds that answer the stored
//! refund under concurrency and compare money, holds that run from the recording, and fraud
//! flags that look at the order's click and the buyer's mailbox whatever won attribution.
//! Each runs on SQLite, and on PostgreSQL when `TANDEM_TEST_DATABASE_URL` is set.

use std::sync::Arc;

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, location, new_client};
use crate::postbacks::{clicked, count, ledger_ok, order, post_json, rfc3339};

/// The active collaboration's coupon code.
async fn coupon(app: &TestApp) -> String {
    app.state
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
        .unwrap()
}

async fn commission_state(
    app: &TestApp,
    order_id: &'static str,
) -> (String, chrono::NaiveDateTime) {
    app.state
        .db(move |conn| {
            use diesel::prelude::*;
            use tandem::db::schema::{commissions, conversions};
            Ok(commissions::table
                .inner_join(conversions::table)
                .filter(conversions::order_id.eq(order_id))
                .select((commissions::state, commissions::available_at))
                .first::<(String, chrono::NaiveDateTime)>(conn)?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn the_same_refund_sent_concurrently_answers_the_stored_refund() {
    let app = Arc::new(TestApp::spawn().await);
    let (m, secret, tclid) = clicked(&app).await;
    let (status, _) = post_json(
        &app,
        "/api/v1/conversions",
        m,
        &secret,
        &order(&app, "SR-1", Some(&tclid), None),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // 40 copies of one refund of everything that is left: exactly one is new, every other
    // copy answers it (never 422 "more than what is left").
    let body = json!({"order_id": "SR-1", "refund_id": "SR-R1", "amount": "348.50",
                      "occurred_at": rfc3339(app.clock_now())});
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let (app, secret, body) = (app.clone(), secret.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            post_json(&app, "/api/v1/refunds", m, &secret, &body)
                .await
                .0
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let same = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!((created, same), (1, 39), "{statuses:?}");
    assert_eq!(count(&app, "refunds").await, 1);
    ledger_ok(&app).await;
}

#[tokio::test]
async fn a_refund_amount_is_compared_as_money() {
    let app = TestApp::spawn().await;
    let (m, secret, tclid) = clicked(&app).await;
    post_json(
        &app,
        "/api/v1/conversions",
        m,
        &secret,
        &order(&app, "MR-1", Some(&tclid), None),
    )
    .await;
    let at = rfc3339(app.clock_now());
    let refund = |amount: &str| json!({"order_id": "MR-1", "refund_id": "MR-R1", "amount": amount, "occurred_at": at});
    let (status, _) = post_json(&app, "/api/v1/refunds", m, &secret, &refund("10")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, r) = post_json(&app, "/api/v1/refunds", m, &secret, &refund("10.00")).await;
    assert_eq!(status, StatusCode::OK, "10 and 10.00 are one amount: {r}");
    let (status, _) = post_json(&app, "/api/v1/refunds", m, &secret, &refund(" 10.0 ")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post_json(&app, "/api/v1/refunds", m, &secret, &refund("10.01")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(count(&app, "refunds").await, 1);
    ledger_ok(&app).await;
}

#[tokio::test]
async fn a_late_reported_order_is_held_from_its_recording() {
    let app = TestApp::spawn().await;
    let (m, secret, _) = clicked(&app).await;
    let code = coupon(&app).await;
    // The order took place 20 days ago and is reported only now.
    app.clock.advance(TimeDelta::days(25));
    let mut body = order(&app, "LATE-1", None, Some(&code));
    body["occurred_at"] = json!(rfc3339(app.clock_now() - TimeDelta::days(20)));
    let (status, r) = post_json(&app, "/api/v1/conversions", m, &secret, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let recorded = app.clock_now();
    let (state, available_at) = commission_state(&app, "LATE-1").await;
    assert_eq!(state, "pending");
    assert!(
        available_at >= recorded + TimeDelta::days(30),
        "held 30 days from its recording, not from the order time: {available_at}"
    );
    // Eleven days on (30 days after the order) it is still held.
    let later = recorded + TimeDelta::days(11);
    let moved = app
        .state
        .db(move |conn| tandem::service::orders::mature_due(conn, later))
        .await
        .unwrap();
    assert_eq!(moved, 0);
    ledger_ok(&app).await;
}

#[tokio::test]
async fn a_bot_click_or_a_self_purchase_freezes_a_coupon_order() {
    let app = TestApp::spawn().await;
    let (m, secret, _) = clicked(&app).await;
    let code = coupon(&app).await;
    let link_code: String = app
        .state
        .db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::links;
            Ok(links::table.select(links::code).first::<String>(conn)?)
        })
        .await
        .unwrap();
    let res = new_client()
        .get(app.url(&format!("/l/{link_code}")))
        .header("user-agent", "Googlebot/2.1")
        .send()
        .await
        .unwrap();
    let bot_click = location(&res).split("tclid=").nth(1).unwrap().to_owned();
    app.clock.advance(TimeDelta::hours(1));

    // The coupon wins attribution; the bot click on the order still freezes it.
    let (status, r) = post_json(
        &app,
        "/api/v1/conversions",
        m,
        &secret,
        &order(&app, "BOT-1", Some(&bot_click), Some(&code)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["attribution"]["signal"], "coupon");
    assert_eq!(commission_state(&app, "BOT-1").await.0, "frozen");

    // The influencer's own mailbox, in other case and with a +tag: a self-purchase.
    let mut body = order(&app, "SELF-1", None, Some(&code));
    body["customer_email"] = json!("Linker+deals@Creators.TEST");
    let (status, _) = post_json(&app, "/api/v1/conversions", m, &secret, &body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(commission_state(&app, "SELF-1").await.0, "frozen");

    // Someone else's order with the same coupon is not held.
    let mut body = order(&app, "FAN-1", None, Some(&code));
    body["customer_email"] = json!("fan@example.com");
    post_json(&app, "/api/v1/conversions", m, &secret, &body).await;
    assert_eq!(commission_state(&app, "FAN-1").await.0, "pending");
    ledger_ok(&app).await;
}

/// Runs one SQL statement on the app's database; `Err` with the database's message.
async fn sql(app: &TestApp, statement: &'static str) -> Result<(), String> {
    app.state
        .db(move |conn| {
            use diesel::connection::SimpleConnection;
            Ok(conn.batch_execute(statement).map_err(|e| e.to_string()))
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn the_database_refuses_changes_to_money_made_behind_the_apps_back() {
    let app = TestApp::spawn().await;
    let (m, secret, tclid) = clicked(&app).await;
    let (status, _) = post_json(
        &app,
        "/api/v1/conversions",
        m,
        &secret,
        &order(&app, "DB-1", Some(&tclid), None),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let refund = json!({"order_id": "DB-1", "refund_id": "DB-R1", "amount": "20.00",
                        "occurred_at": rfc3339(app.clock_now())});
    post_json(&app, "/api/v1/refunds", m, &secret, &refund).await;

    let refused = [
        "UPDATE commissions SET amount_minor = amount_minor + 5000",
        "UPDATE commissions SET fee_minor = fee_minor + 1",
        "UPDATE commissions SET influencer_id = influencer_id + 1",
        "UPDATE commissions SET currency = 'USD'",
        "UPDATE commissions SET state = 'paid'",
        "UPDATE commissions SET state = 'rejected'",
        "DELETE FROM commissions",
        "UPDATE refunds SET commission_minor = 0",
        "DELETE FROM refunds",
        "UPDATE refund_lines SET commission_minor = commission_minor + 1",
        "DELETE FROM refund_lines",
        "UPDATE ledger_accounts SET currency = 'USD'",
        "UPDATE ledger_accounts SET owner_id = owner_id + 1",
        "DELETE FROM ledger_accounts",
        "UPDATE entries SET amount_minor = 0",
        "DELETE FROM journals",
    ];
    for statement in refused {
        assert!(
            sql(&app, statement).await.is_err(),
            "the database took: {statement}"
        );
    }
    if tandem::db::backend(&app.state.pool.get().unwrap()) == tandem::db::Backend::Sqlite {
        for statement in [
            "INSERT OR REPLACE INTO entries (id, journal_id, account_id, amount_minor) \
             SELECT id, journal_id, account_id, -100000 FROM entries ORDER BY id LIMIT 1",
            "REPLACE INTO journals (id, kind, ref_kind, ref_id, currency, memo, created_at) \
             SELECT id, kind, ref_kind, ref_id, currency, 'rewritten', created_at FROM journals \
             ORDER BY id LIMIT 1",
            "INSERT OR REPLACE INTO journals (kind, ref_kind, ref_id, currency, memo, created_at) \
             SELECT kind, ref_kind, ref_id, currency, 'twin', created_at FROM journals \
             ORDER BY id LIMIT 1",
        ] {
            assert!(
                sql(&app, statement).await.is_err(),
                "SQLite took: {statement}"
            );
        }
    }
    // What the app does still works: the commission matures along its lifecycle.
    let later = app.clock_now() + TimeDelta::days(31);
    let moved = app
        .state
        .db(move |conn| tandem::service::orders::mature_due(conn, later))
        .await
        .unwrap();
    assert_eq!(moved, 1);
    assert_eq!(commission_state(&app, "DB-1").await.0, "available");
    ledger_ok(&app).await;
}

#[tokio::test]
async fn posting_a_different_journal_under_a_taken_key_is_an_error() {
    use tandem::domain::ledger;
    let app = TestApp::spawn().await;
    let now = app.clock_now();
    let result = app
        .state
        .db(move |conn| {
            let post = |conn: &mut tandem::db::DbConn, amount: i64| {
                tandem::db::ledger::post(
                    conn,
                    &ledger::accrual(1, 2, amount, 0, "test".to_owned()),
                    "CNY",
                    "commission",
                    999,
                    now,
                )
            };
            let first = post(conn, 1000)?;
            let same = post(conn, 1000)?;
            let other = post(conn, 100_000).map_err(|e| e.to_string());
            Ok((first, same, other))
        })
        .await
        .unwrap();
    assert!(result.0.is_some(), "posted");
    assert_eq!(result.1, None, "the same posting again is a no-op");
    let err = result.2.expect_err("a different posting is refused");
    assert!(err.contains("other postings"), "{err}");
}
