//! The merchant portal's CSV import of orders and refunds: preview line by line, confirm,
//! and a second import of the same file changes nothing.

use reqwest::StatusCode;

use crate::helpers::{TestApp, get_with, post_form_with};
use crate::links::live_link_with_merchant;

async fn counts(app: &TestApp) -> (i64, i64, i64) {
    app.state
        .db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::{conversions, journals, refunds};
            Ok((
                conversions::table.count().get_result(conn)?,
                refunds::table.count().get_result(conn)?,
                journals::table.count().get_result(conn)?,
            ))
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn orders_and_refunds_import_once_with_a_preview() {
    let app = TestApp::spawn().await;
    let (m, _, _) = live_link_with_merchant(&app).await;
    let coupon: String = app
        .state
        .db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::collaborations as c;
            Ok(c::table
                .filter(c::state.eq("active"))
                .select(c::coupon_code)
                .first::<Option<String>>(conn)?
                .unwrap())
        })
        .await
        .unwrap();
    app.clock.advance(chrono::TimeDelta::hours(1));
    let when = (app.clock_now() - chrono::TimeDelta::minutes(30))
        .and_utc()
        .to_rfc3339();
    let orders = format!(
        "order_id,occurred_at,currency,sku,quantity,unit_price,discount,coupon_code\n\
         CSV-1,{when},CNY,TEA-1,2,128.00,6.00,{coupon}\n\
         CSV-1,{when},CNY,TEA-2,1,88.50,,{coupon}\n\
         CSV-2,{when},CNY,TEA-2,1,88.50,,\n\
         CSV-3,{when},CNY,TEA-2,0,88.505,,\n"
    );
    let form = |csv: &str| {
        vec![
            ("kind".to_owned(), "orders".to_owned()),
            ("csv".to_owned(), csv.to_owned()),
        ]
    };
    let preview = |csv: String| {
        let m = m.clone();
        let app = &app;
        let fields = form(&csv);
        async move {
            let f: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            post_form_with(
                &m,
                &app.url("/merchant/orders/import"),
                &app.url("/merchant/orders/import/preview"),
                &f,
            )
            .await
        }
    };
    let res = preview(orders.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("<strong>2</strong> new"), "{html}");
    assert!(html.contains("<strong>1</strong> with errors"), "{html}");
    assert!(
        html.contains("Attributed: Coupon"),
        "the coupon order is attributed: {html}"
    );
    assert!(html.contains("Commission ¥46.35"), "{html}");
    assert!(
        html.contains("line 5, quantity"),
        "errors name line and column: {html}"
    );
    assert_eq!(counts(&app).await, (0, 0, 0), "a preview saves nothing");

    let f = form(&orders);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let res = post_form_with(
        &m,
        &app.url("/merchant/orders/import"),
        &app.url("/merchant/orders/import/confirm"),
        &f,
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get_with(&m, &app.url("/merchant/orders"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Import done: 2 new orders, 0 already imported, 1 with errors skipped."),
        "{page}"
    );
    let after_first = counts(&app).await;
    assert_eq!(
        (after_first.0, after_first.2),
        (2, 1),
        "two orders, one commission journal"
    );

    // The same file again: everything is already there, nothing changes.
    let html = preview(orders.clone()).await.text().await.unwrap();
    assert!(
        html.contains("<strong>0</strong> new, <strong>2</strong> already imported"),
        "{html}"
    );
    post_form_with(
        &m,
        &app.url("/merchant/orders/import"),
        &app.url("/merchant/orders/import/confirm"),
        &f,
    )
    .await;
    assert_eq!(counts(&app).await, after_first);

    // Refunds: one good, one for more than is left, one for an unknown order.
    let refunds = format!(
        "order_id,refund_id,amount,occurred_at\n\
         CSV-1,CR-1,100.00,{now}\n\
         CSV-2,CR-2,500.00,{now}\n\
         NOPE,CR-3,1.00,{now}\n",
        now = app.clock_now().and_utc().to_rfc3339()
    );
    let rf = vec![("kind", "refunds"), ("csv", refunds.as_str())];
    let res = post_form_with(
        &m,
        &app.url("/merchant/orders/import"),
        &app.url("/merchant/orders/import/preview"),
        &rf,
    )
    .await;
    let html = res.text().await.unwrap();
    assert!(html.contains("<strong>1</strong> new"), "{html}");
    assert!(html.contains("more than what is left to refund"), "{html}");
    assert!(html.contains("no order NOPE was recorded"), "{html}");
    post_form_with(
        &m,
        &app.url("/merchant/orders/import"),
        &app.url("/merchant/orders/import/confirm"),
        &rf,
    )
    .await;
    let after_refund = counts(&app).await;
    assert_eq!(after_refund.1, 1);
    post_form_with(
        &m,
        &app.url("/merchant/orders/import"),
        &app.url("/merchant/orders/import/confirm"),
        &rf,
    )
    .await;
    assert_eq!(
        counts(&app).await,
        after_refund,
        "re-import changes nothing"
    );

    // A file that is not what it should be: 422 with the reason, nothing saved.
    let bad = vec![("kind", "orders"), ("csv", "order_id,colour\nA,red\n")];
    let res = post_form_with(
        &m,
        &app.url("/merchant/orders/import"),
        &app.url("/merchant/orders/import/preview"),
        &bad,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("Unknown column"));
    let report = app
        .state
        .db(tandem::service::orders::check_ledger)
        .await
        .unwrap();
    assert!(report.breaks.is_empty(), "{:?}", report.breaks);
}
