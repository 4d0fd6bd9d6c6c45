//! One order is one order whichever channel reports it, and Shopify's deliveries are each
//! answered so that Shopify keeps them coming (issue 18, items 4 and 5). Each test runs on
//! SQLite, and on PostgreSQL when `TANDEM_TEST_DATABASE_URL` is set.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tandem::service::order_import::{self, Kind};

use crate::helpers::TestApp;
use crate::postbacks::{clicked, count, ledger_ok, post_json, rfc3339, shopify, shopify_order};

const SHOPIFY_SECRET: &str = "shpss_9a8b7c6d5e4f";

/// A live link with a click, a postback secret and a Shopify secret: (merchant id, postback
/// secret, click id).
async fn shop(app: &TestApp) -> (i64, String, String) {
    let (m, secret, tclid) = clicked(app).await;
    let now = app.clock_now();
    app.state
        .db(move |conn| {
            Ok(tandem::db::orders::set_shopify_secret(
                conn,
                m,
                Some(SHOPIFY_SECRET),
                None,
                now,
            )?)
        })
        .await
        .unwrap();
    (m, secret, tclid)
}

/// The Shopify fixture's order (338.50 of TEA-1 and TEA-2) as a postback under `order_id`.
fn postback(app: &TestApp, order_id: &str, tea2_price: &str) -> Value {
    json!({
        "order_id": order_id,
        "currency": "CNY",
        "occurred_at": rfc3339(app.clock_now() - chrono::TimeDelta::minutes(20)),
        "items": [
            {"sku": "TEA-1", "quantity": 2, "unit_price": "128.00", "discount": "6.00"},
            {"sku": "TEA-2", "quantity": 1, "unit_price": tea2_price}
        ]
    })
}

/// Imports a CSV file of orders as the merchant's owner: (new, unchanged, invalid).
async fn import(app: &TestApp, csv: &'static str) -> (usize, usize, usize) {
    let now = app.clock_now();
    app.state
        .db(move |conn| {
            let owner = tandem::db::users::find_by_email(conn, "links@shop.test")?.unwrap();
            let s = order_import::apply(conn, now, owner.id, Kind::Orders, csv, "http://t")?;
            Ok((s.new, s.unchanged, s.invalid))
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn one_order_is_one_order_whichever_channel_reports_it() {
    let app = TestApp::spawn().await;
    let (m, secret, tclid) = shop(&app).await;
    // Shopify reports order 5550001, named #1001 (order number 1001).
    let (status, r) = shopify(
        &app,
        m,
        SHOPIFY_SECRET,
        "orders/paid",
        "w-1",
        &shopify_order(&app, 5_550_001, &tclid, None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "recorded");
    let id = r["order"]["id"].clone();

    // A postback "1001" and a postback "#1001" with the same amount: the same order.
    for order_id in ["1001", "#1001", " 5550001 "] {
        let (status, r) = post_json(
            &app,
            "/api/v1/conversions",
            m,
            &secret,
            &postback(&app, order_id, "88.50"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{order_id}: {r}");
        assert_eq!(r["id"], id, "{order_id}");
    }
    // With another amount: a conflict that says which order it is.
    let (status, r) = post_json(
        &app,
        "/api/v1/conversions",
        m,
        &secret,
        &postback(&app, "1001", "98.50"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains(
            "is order 5550001 already recorded from Shopify for ¥338.50; this report says ¥348.50"
        ),
        "{r}"
    );

    // A CSV row "#1001": unchanged; with another amount: a row error, never a new order.
    let same = "order_id,occurred_at,currency,sku,quantity,unit_price,discount\n\
                #1001,2026-01-01T00:00:00Z,CNY,TEA-1,2,128.00,6.00\n\
                #1001,2026-01-01T00:00:00Z,CNY,TEA-2,1,88.50,\n";
    assert_eq!(import(&app, same).await, (0, 1, 0));
    let other = "order_id,occurred_at,currency,sku,quantity,unit_price\n\
                 #1001,2026-01-01T00:00:00Z,CNY,TEA-1,1,128.00\n";
    assert_eq!(import(&app, other).await, (0, 0, 1));
    // Shopify's own export of the same order (Name #1001, Id 5550001).
    let export = "Name,Email,Paid at,Currency,Subtotal,Discount Code,Created at,Lineitem quantity,Lineitem price,Lineitem sku,Id,Lineitem discount\n\
                  #1001,jon@example.com,2026-01-01 10:00:00 +0800,CNY,338.50,,2026-01-01 10:00:00 +0800,2,128.00,TEA-1,5550001,6.00\n\
                  #1001,,,,,,,1,88.50,TEA-2,,0.00\n";
    assert_eq!(import(&app, export).await, (0, 1, 0));

    // A refund sent under any of its ids finds it.
    let (status, r) = post_json(
        &app,
        "/api/v1/refunds",
        m,
        &secret,
        &json!({"order_id": "#1001", "refund_id": "R-1", "amount": "88.50",
                "occurred_at": rfc3339(app.clock_now())}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(count(&app, "conversions").await, 1);
    assert_eq!(count(&app, "commissions").await, 1);
    ledger_ok(&app).await;
}

#[tokio::test]
async fn shopify_deliveries_a_retry_cannot_fix_are_answered_200_and_shown() {
    let app = TestApp::spawn().await;
    let (m, _, tclid) = shop(&app).await;
    let send = |id: &'static str, topic: &'static str, body: Value| {
        let app = &app;
        async move { shopify(app, m, SHOPIFY_SECRET, topic, id, &body).await }
    };
    let mut unknown_currency = shopify_order(&app, 1, &tclid, None);
    unknown_currency["currency"] = json!("XYZ");
    let mut no_currency = shopify_order(&app, 2, &tclid, None);
    no_currency.as_object_mut().unwrap().remove("currency");
    let mut no_lines = shopify_order(&app, 3, &tclid, None);
    no_lines["line_items"] = json!([]);
    let mut bad_amount = shopify_order(&app, 4, &tclid, None);
    bad_amount["line_items"][1]["price"] = json!("-5.00");
    for (id, body, field) in [
        ("d-1", unknown_currency, "currency"),
        ("d-2", no_currency, "currency"),
        ("d-3", no_lines, "line_items"),
        ("d-4", bad_amount, "line_items[1].price"),
    ] {
        let (status, r) = send(id, "orders/paid", body).await;
        assert_eq!(status, StatusCode::OK, "{id}: {r}");
        assert_eq!(r["status"], "rejected", "{id}: {r}");
        assert!(
            r["message"].as_str().unwrap().starts_with(field),
            "{id}: {r}"
        );
    }
    // A refund for an order never recorded.
    let refund = |id: u64, order: u64, amount: &str| {
        json!({"id": id, "order_id": order, "created_at": rfc3339(app.clock_now()),
               "refund_line_items": [{"id": 1, "quantity": 1, "line_item_id": 1,
                   "subtotal_set": {"shop_money": {"amount": amount, "currency_code": "CNY"}}}]})
    };
    let (status, r) = send("d-5", "refunds/create", refund(71, 999, "10.00")).await;
    assert_eq!(
        (status, r["status"].as_str()),
        (StatusCode::OK, Some("rejected"))
    );
    assert!(
        r["message"].as_str().unwrap().contains("No order 999"),
        "{r}"
    );

    // A real order, then refunds: of nothing (shipping only), and of more than is left.
    let (_, r) = send("d-6", "orders/paid", shopify_order(&app, 5, &tclid, None)).await;
    assert_eq!(r["status"], "recorded", "{r}");
    let (status, r) = send("d-7", "refunds/create", refund(72, 5, "0.00")).await;
    assert_eq!(
        (status, r["status"].as_str()),
        (StatusCode::OK, Some("ignored"))
    );
    let (status, r) = send("d-8", "refunds/create", refund(73, 5, "300.00")).await;
    assert_eq!(
        (status, r["status"].as_str()),
        (StatusCode::OK, Some("recorded")),
        "{r}"
    );
    let (status, r) = send("d-9", "refunds/create", refund(74, 5, "100.00")).await;
    assert_eq!(
        (status, r["status"].as_str()),
        (StatusCode::OK, Some("recorded")),
        "{r}"
    );
    assert_eq!(r["refund"]["amount"], "38.50");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("more than the ¥38.50 left on the order: took back what was left"),
        "{r}"
    );
    let (_, r) = send("d-10", "refunds/create", refund(75, 5, "1.00")).await;
    assert_eq!(r["status"], "ignored", "{r}");
    ledger_ok(&app).await;

    // The merchant sees each delivery and what became of it.
    let merchant = crate::helpers::new_client();
    app.login_with(&merchant, "links@shop.test", crate::helpers::PASSWORD)
        .await;
    let page = merchant
        .get(app.url("/merchant/integration"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        "Latest Shopify deliveries",
        "No order 999 was recorded",
        "took back what was left",
        "currency:",
        "order 5 (#1005)",
    ] {
        assert!(page.contains(want), "{want} on the Integration page");
    }
}
