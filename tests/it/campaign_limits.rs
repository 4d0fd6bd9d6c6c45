//! A campaign pays only while it is live (issue 18, item 3): orders placed while it was
//! paused, after it ended, after its end date or past its budget cap earn nothing (or, for
//! the cap, what is left), decided by the campaign's state at the order time; its links keep
//! redirecting. Each test runs on SQLite, and on PostgreSQL when `TANDEM_TEST_DATABASE_URL`
//! is set.

use std::sync::Arc;

use chrono::TimeDelta;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, location, new_client, post_form_with};
use crate::links::{PHONE, live_link_with_merchant};
use crate::postbacks::{ledger_ok, merchant_secret, order, post_json, rfc3339};

/// A live link of a campaign: the merchant's client, the campaign id, the link code and a
/// postback secret.
struct Live {
    merchant: Client,
    influencer: Client,
    merchant_id: i64,
    secret: String,
    campaign: i64,
    code: String,
}

async fn live(app: &TestApp) -> Live {
    let (merchant, influencer, code) = live_link_with_merchant(app).await;
    let (merchant_id, secret) = merchant_secret(app).await;
    let campaign = app
        .state
        .db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::campaigns;
            Ok(campaigns::table.select(campaigns::id).first::<i64>(conn)?)
        })
        .await
        .unwrap();
    Live {
        merchant,
        influencer,
        merchant_id,
        secret,
        campaign,
        code,
    }
}

impl Live {
    /// A click on the link now; its click id.
    async fn click(&self, app: &TestApp) -> String {
        let res = new_client()
            .get(app.url(&format!("/l/{}", self.code)))
            .header("user-agent", PHONE)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FOUND, "the link redirects");
        location(&res).split("tclid=").nth(1).unwrap().to_owned()
    }

    /// The merchant pauses, resumes or ends the campaign (through its page's form).
    async fn campaign_action(&self, app: &TestApp, action: &str) {
        let page = format!("/merchant/campaigns/{}", self.campaign);
        let res = post_form_with(
            &self.merchant,
            &app.url(&page),
            &app.url(&format!("{page}/state")),
            &[("action", action)],
        )
        .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{action}");
    }

    /// An order placed `ago` before now through `click`; the answer.
    async fn order_via(
        &self,
        app: &TestApp,
        id: &str,
        click: Option<&str>,
        coupon: Option<&str>,
        ago: TimeDelta,
    ) -> Value {
        let mut body = order(app, id, click, coupon);
        body["occurred_at"] = json!(rfc3339(app.clock_now() - ago));
        let (status, r) = post_json(
            app,
            "/api/v1/conversions",
            self.merchant_id,
            &self.secret,
            &body,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        r
    }

    async fn coupon(&self, app: &TestApp) -> String {
        app.state
            .db(|conn| {
                use diesel::prelude::*;
                use tandem::db::schema::collaborations;
                Ok(collaborations::table
                    .select(collaborations::coupon_code)
                    .first::<Option<String>>(conn)?
                    .unwrap())
            })
            .await
            .unwrap()
    }

    async fn set_campaign(&self, app: &TestApp, sql: String) {
        app.state
            .db(move |conn| {
                use diesel::connection::SimpleConnection;
                conn.batch_execute(&sql)?;
                Ok(())
            })
            .await
            .unwrap();
    }
}

fn commission(r: &Value) -> Option<&str> {
    r["commission"]["amount"].as_str()
}

#[tokio::test]
async fn a_campaign_pays_only_for_orders_placed_while_it_was_live() {
    let app = TestApp::spawn().await;
    let live = live(&app).await;
    let coupon = live.coupon(&app).await;
    let click = live.click(&app).await;
    app.clock.advance(TimeDelta::hours(1));
    live.campaign_action(&app, "pause").await;

    // Placed before the pause, reported after it: it earns.
    let before = live
        .order_via(&app, "P-0", Some(&click), None, TimeDelta::minutes(30))
        .await;
    assert!(commission(&before).is_some(), "{before}");

    // While paused the link still redirects and its click is stored; orders earn nothing,
    // by click or by coupon, and say why.
    app.clock.advance(TimeDelta::hours(1));
    let paused_click = live.click(&app).await;
    app.clock.advance(TimeDelta::minutes(20));
    for (id, click, coupon) in [
        ("P-1", Some(paused_click.as_str()), None),
        ("P-2", None, Some(coupon.as_str())),
    ] {
        let r = live
            .order_via(&app, id, click, coupon, TimeDelta::minutes(5))
            .await;
        assert!(commission(&r).is_none(), "{r}");
        assert_eq!(r["attribution"]["signal"], "none");
        let note = r["attribution"]["note"].as_str().unwrap();
        assert!(
            note.contains("campaign “Spring tea festival” was paused at the order time"),
            "{note}"
        );
    }

    // The influencer sees it on the links page.
    let links = live
        .influencer
        .get(app.url("/influencer/links"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        links.contains("Not paying")
            && links.contains("campaign “Spring tea festival” was paused: the link still redirects, but orders earn nothing."),
        "{links}"
    );

    // Resumed: it pays again.
    live.campaign_action(&app, "resume").await;
    app.clock.advance(TimeDelta::minutes(10));
    let r = live
        .order_via(&app, "P-3", None, Some(&coupon), TimeDelta::minutes(1))
        .await;
    assert!(commission(&r).is_some(), "{r}");

    // Past its end date: nothing (and the link still redirects).
    let end = rfc3339(app.clock_now()).replace('T', " ");
    let end = end.split('+').next().unwrap().to_owned();
    live.set_campaign(
        &app,
        format!(
            "UPDATE campaigns SET ends_at = '{end}' WHERE id = {}",
            live.campaign
        ),
    )
    .await;
    app.clock.advance(TimeDelta::minutes(10));
    live.click(&app).await;
    let r = live
        .order_via(&app, "P-4", None, Some(&coupon), TimeDelta::minutes(1))
        .await;
    assert!(commission(&r).is_none(), "{r}");
    assert!(
        r["attribution"]["note"]
            .as_str()
            .unwrap()
            .contains("was past its end date"),
        "{r}"
    );
    live.set_campaign(
        &app,
        format!(
            "UPDATE campaigns SET ends_at = NULL WHERE id = {}",
            live.campaign
        ),
    )
    .await;

    // Ended: nothing, for good.
    live.campaign_action(&app, "end").await;
    app.clock.advance(TimeDelta::minutes(10));
    let r = live
        .order_via(&app, "P-5", None, Some(&coupon), TimeDelta::minutes(1))
        .await;
    assert!(commission(&r).is_none(), "{r}");
    assert!(
        r["attribution"]["note"]
            .as_str()
            .unwrap()
            .contains("had ended at the order time"),
        "{r}"
    );
    live.click(&app).await;
    ledger_ok(&app).await;
}

#[tokio::test]
async fn the_budget_cap_pays_what_is_left_and_a_refund_frees_it() {
    let app = TestApp::spawn().await;
    let live = live(&app).await;
    let coupon = live.coupon(&app).await;
    app.clock.advance(TimeDelta::hours(1));
    // The fixture's order earns 46.35 (15 % of 250.00 on TEA-1, 10 % of 88.50 on TEA-2).
    live.set_campaign(
        &app,
        format!(
            "UPDATE campaigns SET budget_cap_minor = 10000 WHERE id = {}",
            live.campaign
        ),
    )
    .await;
    let first = live
        .order_via(&app, "B-1", None, Some(&coupon), TimeDelta::minutes(1))
        .await;
    assert_eq!(commission(&first), Some("46.35"));
    // 92.70 committed: past 80 % of 100.00.
    let second = live
        .order_via(&app, "B-2", None, Some(&coupon), TimeDelta::minutes(1))
        .await;
    assert_eq!(commission(&second), Some("46.35"));
    let warn = app
        .wait_for_email("links@shop.test", "80 % of the budget used")
        .await;
    assert!(warn.text.contains("¥92.70 of its ¥100.00"), "{}", warn.text);
    // What is left: 7.30, explained, split over the lines so that they add up.
    let third = live
        .order_via(&app, "B-3", None, Some(&coupon), TimeDelta::minutes(1))
        .await;
    assert_eq!(commission(&third), Some("7.30"), "{third}");
    let explanation = third["commission"]["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("Budget cap: ¥100.00, of which ¥92.70 was committed"),
        "{explanation}"
    );
    let line_sum: i64 = third["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let s = l["commission"].as_str().unwrap().replace('.', "");
            s.parse::<i64>().unwrap()
        })
        .sum();
    assert_eq!(line_sum, 730);
    app.wait_for_email("links@shop.test", "Budget used up")
        .await;
    // Used up: later orders earn nothing, and say why.
    let fourth = live
        .order_via(&app, "B-4", None, Some(&coupon), TimeDelta::minutes(1))
        .await;
    assert!(commission(&fourth).is_none(), "{fourth}");
    assert!(
        fourth["attribution"]["note"]
            .as_str()
            .unwrap()
            .contains("budget cap of ¥100.00 is used up"),
        "{fourth}"
    );
    // The campaign page shows it.
    let page = live
        .merchant
        .get(app.url(&format!("/merchant/campaigns/{}", live.campaign)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("¥100.00 committed of a ¥100.00 cap (100 %): used up"),
        "{page}"
    );
    // A full refund of the first order frees its 46.35: the next order earns again.
    let (status, _) = post_json(
        &app,
        "/api/v1/refunds",
        live.merchant_id,
        &live.secret,
        &json!({"order_id": "B-1", "refund_id": "B-1-R", "amount": "348.50",
                "occurred_at": rfc3339(app.clock_now())}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let fifth = live
        .order_via(&app, "B-5", None, Some(&coupon), TimeDelta::minutes(1))
        .await;
    assert_eq!(commission(&fifth), Some("46.35"));
    ledger_ok(&app).await;
}

#[tokio::test]
async fn concurrent_orders_never_take_more_than_the_budget() {
    let app = Arc::new(TestApp::spawn().await);
    let live = live(&app).await;
    let coupon = live.coupon(&app).await;
    app.clock.advance(TimeDelta::hours(1));
    live.set_campaign(
        &app,
        format!(
            "UPDATE campaigns SET budget_cap_minor = 20000 WHERE id = {}",
            live.campaign
        ),
    )
    .await;
    let mut tasks = Vec::new();
    for n in 0..12 {
        let (app, secret, coupon) = (app.clone(), live.secret.clone(), coupon.clone());
        let m = live.merchant_id;
        tasks.push(tokio::spawn(async move {
            let body = order(&app, &format!("C-{n}"), None, Some(&coupon));
            post_json(&app, "/api/v1/conversions", m, &secret, &body).await
        }));
    }
    for t in tasks {
        let (status, r) = t.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{r}");
    }
    let total: i64 = app
        .state
        .db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::commissions;
            Ok(commissions::table
                .select(commissions::amount_minor)
                .load::<i64>(conn)?
                .iter()
                .sum())
        })
        .await
        .unwrap();
    // 4 × 46.35 = 185.40, then 14.60 of what is left: exactly the cap, never more.
    assert_eq!(total, 20000);
    ledger_ok(&app).await;
}

#[tokio::test]
async fn removing_a_shop_domain_warns_how_many_live_links_it_breaks() {
    let app = TestApp::spawn().await;
    let live = live(&app).await;
    let page = live
        .merchant
        .get(app.url("/merchant/domains"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(
            "data-confirm=\"Remove tea.example? 1 live stream link goes to it and will stop working.\""
        ),
        "{page}"
    );
}
