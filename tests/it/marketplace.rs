//! The marketplace: products and domains, CSV import, campaigns and their rules, discovery,
//! applications, invitations and the collaboration state machine, with authorization.

use reqwest::{Client, StatusCode};
use tandem::domain::account::Role;

use crate::helpers::{TestApp, get_with, location, new_client, post_form_with};

/// A merchant with a shop domain and two tea products; returns the client.
pub async fn merchant_with_products(app: &TestApp, email: &str, domain: &str) -> Client {
    let m = app.logged_in(Role::Merchant, email).await;
    let res = post_form_with(
        &m,
        &app.url("/merchant/domains"),
        &app.url("/merchant/domains"),
        &[("domain", domain)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "domain added");
    for (sku, title, price) in [
        ("TEA-1", "Dragon Well 100g", "128.00"),
        ("TEA-2", "Pu-erh cake", "88.50"),
    ] {
        let url = format!("https://{domain}/p/{sku}");
        let res = post_form_with(
            &m,
            &app.url("/merchant/products/new"),
            &app.url("/merchant/products"),
            &[
                ("sku", sku),
                ("title", title),
                ("category", "tea"),
                ("price", price),
                ("currency", "CNY"),
                ("product_url", &url),
                ("active", "true"),
            ],
        )
        .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "product {sku} saved");
    }
    m
}

pub async fn product_ids(app: &TestApp, email: &str) -> Vec<String> {
    let email = email.to_owned();
    app.state
        .db(move |conn| {
            let user = tandem::db::users::find_by_email(conn, &email)?.unwrap();
            let (m, _) = tandem::service::merchant::org_of(conn, user.id)?;
            Ok(tandem::db::catalog::all_of(conn, m.id)?
                .into_iter()
                .map(|p| p.id.to_string())
                .collect())
        })
        .await
        .unwrap()
}

/// Creates an active open tea campaign at 10 % (TEA-1 at 15 %); returns its id.
pub async fn active_campaign(app: &TestApp, m: &Client, email: &str) -> i64 {
    let ids = product_ids(app, email).await;
    let mut form: Vec<(&str, &str)> = vec![
        ("name", "Spring tea festival"),
        ("description", "Fresh green teas."),
        ("category", "tea"),
        ("product_scope", "selected"),
        ("default_rate", "10"),
        ("sku_rates", "TEA-1 = 15"),
        ("visibility", "open"),
        ("target_regions", "CN"),
    ];
    for id in &ids {
        form.push(("product_ids", id));
    }
    let res = post_form_with(
        m,
        &app.url("/merchant/campaigns/new"),
        &app.url("/merchant/campaigns"),
        &form,
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "campaign created");
    let id: i64 = location(&res).rsplit('/').next().unwrap().parse().unwrap();
    let page = format!("/merchant/campaigns/{id}");
    let res = post_form_with(
        m,
        &app.url(&page),
        &app.url(&format!("{page}/state")),
        &[("action", "activate")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = get_with(m, &app.url(&page)).await.text().await.unwrap();
    assert!(html.contains("The campaign is now active."), "{html}");
    id
}

/// An influencer with tea in their categories, audience in CN and 50K followers.
pub async fn tea_influencer(app: &TestApp, email: &str) -> Client {
    let i = app.logged_in(Role::Influencer, email).await;
    let handle = email.split('@').next().unwrap().to_owned();
    let res = post_form_with(
        &i,
        &app.url("/influencer"),
        &app.url("/influencer/profile"),
        &[
            ("display_name", "Tea Lover"),
            ("handle", &handle),
            ("bio", "Tea every day."),
            ("country", "CN"),
            ("categories", "tea"),
            ("categories", "food"),
            ("regions", "CN"),
            ("languages", "zh"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "profile saved");
    let res = post_form_with(
        &i,
        &app.url("/influencer"),
        &app.url("/influencer/accounts"),
        &[
            ("platform", "douyin"),
            ("account_handle", &handle),
            ("followers", "50,000"),
            ("avg_views", "12000"),
            ("engagement", "4.5"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "account added");
    i
}

#[tokio::test]
async fn products_are_validated_and_scoped_to_their_merchant() {
    let app = TestApp::spawn().await;
    let m = merchant_with_products(&app, "tea@shop.test", "tea.example").await;
    // A product page off the shop's domains is refused.
    let res = post_form_with(
        &m,
        &app.url("/merchant/products/new"),
        &app.url("/merchant/products"),
        &[
            ("sku", "BAD 1"),
            ("title", ""),
            ("category", "weapons"),
            ("price", "1.999"),
            ("currency", "CNY"),
            ("product_url", "https://tea.example.evil.example/x"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    for msg in [
        "letters, digits, dashes",
        "Enter a title",
        "Choose a category",
        "CNY has 2 decimal places",
        "not one of your shop domains",
    ] {
        assert!(html.contains(msg), "missing {msg}");
    }
    // Duplicate SKU.
    let res = post_form_with(
        &m,
        &app.url("/merchant/products/new"),
        &app.url("/merchant/products"),
        &[
            ("sku", "TEA-1"),
            ("title", "Again"),
            ("category", "tea"),
            ("price", "1"),
            ("currency", "CNY"),
            ("product_url", "https://tea.example/x"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Another product already has this SKU.")
    );

    let list = get_with(&m, &app.url("/merchant/products?category=tea"))
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains("Dragon Well 100g") && list.contains("¥128.00"));
    let id = product_ids(&app, "tea@shop.test").await[0].clone();

    // Another merchant cannot see or change it: 404.
    let other = app.logged_in(Role::Merchant, "other@shop.test").await;
    assert_eq!(
        get_with(&other, &app.url(&format!("/merchant/products/{id}/edit")))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let res = post_form_with(
        &other,
        &app.url("/merchant/products"),
        &app.url(&format!("/merchant/products/{id}/active")),
        &[("active", "false")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = post_form_with(
        &other,
        &app.url("/merchant/products"),
        &app.url(&format!("/merchant/products/{id}")),
        &[
            ("sku", "X-1"),
            ("title", "Hijack"),
            ("category", "tea"),
            ("price", "1"),
            ("currency", "CNY"),
            ("product_url", "https://tea.example/x"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Influencers cannot reach merchant pages at all.
    let inf = app
        .logged_in(Role::Influencer, "someone@creators.test")
        .await;
    for path in [
        "/merchant/products",
        "/merchant/domains",
        "/merchant/campaigns",
        &format!("/merchant/products/{id}/edit"),
    ] {
        assert_eq!(
            get_with(&inf, &app.url(path)).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }

    // Deactivate.
    let res = post_form_with(
        &m,
        &app.url("/merchant/products"),
        &app.url(&format!("/merchant/products/{id}/active")),
        &[("active", "false")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let list = get_with(&m, &app.url("/merchant/products?status=inactive"))
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains("is deactivated") && list.contains("Dragon Well"));
}

#[tokio::test]
async fn domains_belong_to_one_merchant_and_admins_verify_them() {
    let app = TestApp::spawn().await;
    let m = app.logged_in(Role::Merchant, "a@shop.test").await;
    let res = post_form_with(
        &m,
        &app.url("/merchant/domains"),
        &app.url("/merchant/domains"),
        &[("domain", "https://Shop.Example/")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let other = app.logged_in(Role::Merchant, "b@shop.test").await;
    let res = post_form_with(
        &other,
        &app.url("/merchant/domains"),
        &app.url("/merchant/domains"),
        &[("domain", "shop.example")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("already registered"));
    let res = post_form_with(
        &other,
        &app.url("/merchant/domains"),
        &app.url("/merchant/domains"),
        &[("domain", "10.0.0.1")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        get_with(&m, &app.url("/admin/domains")).await.status(),
        StatusCode::FORBIDDEN
    );

    let admin = app.logged_in(Role::Admin, "root@tandem.test").await;
    let html = get_with(&admin, &app.url("/admin/domains"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("1 domain awaiting verification"));
    let id = html
        .split("/admin/domains/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let res = post_form_with(
        &admin,
        &app.url("/admin/domains"),
        &app.url(&format!("/admin/domains/{id}/verify")),
        &[("verified", "true")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let mine = get_with(&m, &app.url("/merchant/domains"))
        .await
        .text()
        .await
        .unwrap();
    assert!(mine.contains("Verified") && mine.contains("shop.example"));
    // The other merchant cannot remove it.
    let res = post_form_with(
        &other,
        &app.url("/merchant/domains"),
        &app.url(&format!("/merchant/domains/{id}/remove")),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

const CSV: &str = "sku,title,category,price,currency,product_url,active\n\
TEA-10,Jasmine pearls,tea,58.00,CNY,https://tea.example/p/10,true\n\
TEA-11,Oolong,tea,12.345,CNY,https://tea.example/p/11,true\n\
TEA-12,Off-shop,tea,10,CNY,https://evil.example/p/12,true\n\
TEA-13,White peony,tea,99,CNY,https://tea.example/p/13,no\n";

#[tokio::test]
async fn csv_import_previews_confirms_and_reimports_as_a_no_op() {
    let app = TestApp::spawn().await;
    let m = merchant_with_products(&app, "csv@shop.test", "tea.example").await;
    let res = post_form_with(
        &m,
        &app.url("/merchant/products/import"),
        &app.url("/merchant/products/import/preview"),
        &[("csv", CSV)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("<strong>2</strong> new"), "{html}");
    assert!(html.contains("<strong>2</strong> with errors"));
    assert!(html.contains("price: CNY has 2 decimal places"));
    assert!(html.contains("evil.example is not one of your shop domains"));
    assert_eq!(
        product_ids(&app, "csv@shop.test").await.len(),
        2,
        "preview stores nothing"
    );

    let res = post_form_with(
        &m,
        &app.url("/merchant/products/import"),
        &app.url("/merchant/products/import/confirm"),
        &[("csv", CSV)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let list = get_with(&m, &app.url("/merchant/products"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        list.contains("2 created, 0 updated, 0 unchanged, 2 rows with errors skipped"),
        "{list}"
    );
    assert_eq!(product_ids(&app, "csv@shop.test").await.len(), 4);

    let before: Vec<String> = snapshot(&app, "csv@shop.test").await;
    let res = post_form_with(
        &m,
        &app.url("/merchant/products/import"),
        &app.url("/merchant/products/import/preview"),
        &[("csv", CSV)],
    )
    .await;
    let html = res.text().await.unwrap();
    assert!(
        html.contains(
            "<strong>0</strong> new, <strong>0</strong> to update, <strong>2</strong> unchanged"
        ),
        "{html}"
    );
    assert!(html.contains("Nothing to import"));
    let res = post_form_with(
        &m,
        &app.url("/merchant/products/import"),
        &app.url("/merchant/products/import/confirm"),
        &[("csv", CSV)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        snapshot(&app, "csv@shop.test").await,
        before,
        "re-importing changed nothing"
    );

    // A file without the needed columns is refused as a whole.
    let res = post_form_with(
        &m,
        &app.url("/merchant/products/import"),
        &app.url("/merchant/products/import/preview"),
        &[("csv", "name,cost\nx,1\n")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("lacks the columns"));
}

async fn snapshot(app: &TestApp, email: &str) -> Vec<String> {
    let email = email.to_owned();
    app.state
        .db(move |conn| {
            let user = tandem::db::users::find_by_email(conn, &email)?.unwrap();
            let (m, _) = tandem::service::merchant::org_of(conn, user.id)?;
            Ok(tandem::db::catalog::all_of(conn, m.id)?
                .into_iter()
                .map(|p| format!("{p:?}"))
                .collect())
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn campaign_rules_are_versioned_once_live() {
    let app = TestApp::spawn().await;
    let m = merchant_with_products(&app, "rules@shop.test", "tea.example").await;
    // Invalid campaign: errors next to fields, nothing stored.
    let res = post_form_with(
        &m,
        &app.url("/merchant/campaigns/new"),
        &app.url("/merchant/campaigns"),
        &[
            ("name", "X"),
            ("category", "tea"),
            ("default_rate", "150"),
            ("sku_rates", "TEA-1 15"),
            ("ends_on", "2020-01-01"),
            ("starts_on", "2021-01-01"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    for msg in [
        "Use 3 to 120 characters.",
        "between 0 % and 100 %",
        "Line 1: write it as KEY = rate %",
        "The end date comes after the start date.",
    ] {
        assert!(html.contains(msg), "missing {msg}");
    }
    // Activating a draft without products is refused.
    let res = post_form_with(
        &m,
        &app.url("/merchant/campaigns/new"),
        &app.url("/merchant/campaigns"),
        &[
            ("name", "Empty one"),
            ("category", "tea"),
            ("default_rate", "10"),
            ("product_scope", "selected"),
        ],
    )
    .await;
    let empty = location(&res);
    let res = post_form_with(
        &m,
        &app.url(&empty),
        &app.url(&format!("{empty}/state")),
        &[("action", "activate")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        get_with(&m, &app.url(&empty))
            .await
            .text()
            .await
            .unwrap()
            .contains("Add at least one active product")
    );

    let id = active_campaign(&app, &m, "rules@shop.test").await;
    let page = format!("/merchant/campaigns/{id}");
    let html = get_with(&m, &app.url(&page)).await.text().await.unwrap();
    assert!(html.contains("10% of sales by default") && html.contains("15% on TEA-1"));
    let res = post_form_with(
        &m,
        &app.url(&page),
        &app.url(&format!("{page}/rules")),
        &[("default_rate", "12.5"), ("category_rates", "tea = 11")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = get_with(&m, &app.url(&page)).await.text().await.unwrap();
    assert!(html.contains("New rules saved as version 2"));
    assert!(
        html.contains("Version 2") && html.contains("Version 1"),
        "history kept"
    );
    assert!(html.contains("12.5% of sales by default") && html.contains("10% of sales by default"));
    // Pause, resume, end; ended is final.
    for (action, expect) in [
        ("pause", "paused"),
        ("resume", "active"),
        ("end", "ended"),
        ("resume", "ended"),
    ] {
        post_form_with(
            &m,
            &app.url(&page),
            &app.url(&format!("{page}/state")),
            &[("action", action)],
        )
        .await;
        let html = get_with(&m, &app.url(&page)).await.text().await.unwrap();
        assert!(
            html.contains(&format!("state-{expect}")),
            "{action} -> {expect}"
        );
    }

    // Another merchant: every campaign route is a 404.
    let other = app.logged_in(Role::Merchant, "nosy@shop.test").await;
    for path in [
        page.clone(),
        format!("{page}/edit"),
        format!("{page}/discover"),
    ] {
        assert_eq!(
            get_with(&other, &app.url(&path)).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for (path, field) in [
        (format!("{page}/rules"), ("default_rate", "50")),
        (format!("{page}/state"), ("action", "pause")),
        (format!("{page}/invite"), ("influencer_id", "1")),
    ] {
        let res = post_form_with(
            &other,
            &app.url("/merchant/campaigns"),
            &app.url(&path),
            &[field],
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

pub async fn collaboration_id(
    app: &TestApp,
    campaign: i64,
    influencer_email: &str,
) -> (i64, String) {
    let email = influencer_email.to_owned();
    app.state
        .db(move |conn| {
            let user = tandem::db::users::find_by_email(conn, &email)?.unwrap();
            let inf = tandem::db::influencers::find_by_user(conn, user.id)?.unwrap();
            let c = tandem::db::collaborations::of_pair(conn, campaign, inf.id)?.unwrap();
            Ok((c.id, c.state))
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn apply_approve_and_the_state_machine_holds_against_crafted_posts() {
    let app = TestApp::spawn().await;
    let m = merchant_with_products(&app, "owner@shop.test", "tea.example").await;
    let id = active_campaign(&app, &m, "owner@shop.test").await;
    let i = tea_influencer(&app, "mia_tea@creators.test").await;

    let market = get_with(&i, &app.url("/influencer/marketplace"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        market.contains("Spring tea festival") && market.contains("tea &#38; coffee matches"),
        "{market}"
    );
    let page = get_with(&i, &app.url(&format!("/influencer/campaigns/{id}")))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("15%") && page.contains("product rate"),
        "TEA-1 shows its SKU rate"
    );
    // A message too long comes back on the campaign's page, kept, with the reason.
    let long = "tea ".repeat(300);
    let res = post_form_with(
        &i,
        &app.url(&format!("/influencer/campaigns/{id}")),
        &app.url(&format!("/influencer/campaigns/{id}/apply")),
        &[("message", long.as_str())],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("class=\"mainnav\"") && html.contains("id=\"e-message\""));
    assert!(html.contains(long.trim_end()), "the message is kept");
    let res = post_form_with(
        &i,
        &app.url(&format!("/influencer/campaigns/{id}")),
        &app.url(&format!("/influencer/campaigns/{id}/apply")),
        &[("message", "I host a tea show every Friday.")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    app.wait_for_email("owner@shop.test", "New application")
        .await;
    let (cid, state) = collaboration_id(&app, id, "mia_tea@creators.test").await;
    assert_eq!(state, "applied");
    // Applying twice is refused (one collaboration per campaign and influencer).
    let res = post_form_with(
        &i,
        &app.url("/influencer/marketplace"),
        &app.url(&format!("/influencer/campaigns/{id}/apply")),
        &[("message", "again")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // Crafted posts: the influencer cannot approve their own application, nor end it.
    for action in ["approve", "accept", "end", "fly"] {
        post_form_with(
            &i,
            &app.url("/influencer/collaborations"),
            &app.url(&format!("/influencer/collaborations/{cid}")),
            &[("action", action)],
        )
        .await;
        assert_eq!(
            collaboration_id(&app, id, "mia_tea@creators.test").await.1,
            "applied",
            "{action}"
        );
    }
    // Another merchant cannot touch it.
    let other = app.logged_in(Role::Merchant, "rival@shop.test").await;
    let res = post_form_with(
        &other,
        &app.url("/merchant/campaigns"),
        &app.url(&format!("/merchant/collaborations/{cid}")),
        &[("action", "approve")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let res = post_form_with(
        &m,
        &app.url(&format!("/merchant/campaigns/{id}")),
        &app.url(&format!("/merchant/collaborations/{cid}")),
        &[("action", "approve"), ("message", "Welcome!")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        collaboration_id(&app, id, "mia_tea@creators.test").await.1,
        "active"
    );
    let mail = app
        .wait_for_email("mia_tea@creators.test", "approved")
        .await;
    assert!(mail.text.contains("Welcome!"));
    // Approving again is refused: active is not applied.
    post_form_with(
        &m,
        &app.url(&format!("/merchant/campaigns/{id}")),
        &app.url(&format!("/merchant/collaborations/{cid}")),
        &[("action", "decline")],
    )
    .await;
    assert_eq!(
        collaboration_id(&app, id, "mia_tea@creators.test").await.1,
        "active"
    );

    let mine = get_with(&i, &app.url("/influencer/collaborations"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        mine.contains("Active") && mine.contains("code class=\"coupon\">MIATEA"),
        "coupon shown: {mine}"
    );

    // The merchant edits the coupon; codes are unique per merchant.
    let res = post_form_with(
        &m,
        &app.url(&format!("/merchant/campaigns/{id}")),
        &app.url(&format!("/merchant/collaborations/{cid}/coupon")),
        &[
            ("coupon_code", "mia-spring"),
            ("campaign_id", &id.to_string()),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        get_with(&i, &app.url("/influencer/collaborations"))
            .await
            .text()
            .await
            .unwrap()
            .contains("MIA-SPRING")
    );

    // The influencer ends it; the merchant is told; ended is final.
    let res = post_form_with(
        &i,
        &app.url("/influencer/collaborations"),
        &app.url(&format!("/influencer/collaborations/{cid}")),
        &[("action", "end")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        collaboration_id(&app, id, "mia_tea@creators.test").await.1,
        "ended"
    );
    app.wait_for_email("owner@shop.test", "ended").await;
    post_form_with(
        &m,
        &app.url(&format!("/merchant/campaigns/{id}")),
        &app.url(&format!("/merchant/collaborations/{cid}")),
        &[("action", "approve")],
    )
    .await;
    assert_eq!(
        collaboration_id(&app, id, "mia_tea@creators.test").await.1,
        "ended"
    );
    // Every transition was recorded with who and when.
    let events = app
        .state
        .db(move |c| Ok(tandem::db::collaborations::events(c, cid)?))
        .await
        .unwrap();
    let path: Vec<String> = events.iter().map(|e| e.to_state.clone()).collect();
    assert_eq!(path, ["applied", "active", "ended"]);
}

#[tokio::test]
async fn invitations_with_a_personal_rate_and_discovery_ranking() {
    let app = TestApp::spawn().await;
    let m = merchant_with_products(&app, "inv@shop.test", "tea.example").await;
    let id = active_campaign(&app, &m, "inv@shop.test").await;
    tea_influencer(&app, "good_fit@creators.test").await;
    // A weaker match: no tea, no CN audience.
    let weak = app
        .logged_in(Role::Influencer, "gamer_kid@creators.test")
        .await;
    post_form_with(
        &weak,
        &app.url("/influencer"),
        &app.url("/influencer/profile"),
        &[
            ("display_name", "Gamer"),
            ("handle", "gamer_kid"),
            ("categories", "gaming"),
            ("regions", "US"),
        ],
    )
    .await;

    let html = get_with(
        &m,
        &app.url(&format!("/merchant/campaigns/{id}/discover?category=any")),
    )
    .await
    .text()
    .await
    .unwrap();
    let good = html.find("@good_fit").expect("good fit listed");
    let bad = html.find("@gamer_kid").expect("weak fit listed");
    assert!(good < bad, "the better match ranks first");
    assert!(html.contains("audience in CN"));
    assert!(html.contains("audience not in CN"));
    let only_tea = get_with(&m, &app.url(&format!("/merchant/campaigns/{id}/discover")))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !only_tea.contains("@gamer_kid"),
        "defaults to the campaign's category"
    );

    let inf_id = html
        .split("name=\"influencer_id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let res = post_form_with(
        &m,
        &app.url(&format!("/merchant/campaigns/{id}/discover")),
        &app.url(&format!("/merchant/campaigns/{id}/invite")),
        &[
            ("influencer_id", &inf_id),
            ("rate", "18"),
            ("message", "We love your show"),
            (
                "back",
                &format!("/merchant/campaigns/{id}/discover?category=any"),
            ),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Back to Find influencers with its filters, at the influencer's card.
    assert_eq!(
        crate::helpers::location(&res),
        format!("/merchant/campaigns/{id}/discover?category=any#c-{inf_id}")
    );
    assert!(html.contains(&format!(
        "name=\"back\" value=\"/merchant/campaigns/{id}/discover?category=any\""
    )));
    let mail = app
        .wait_for_email("good_fit@creators.test", "invited you")
        .await;
    assert!(mail.text.contains("personal commission rate of 18%"));

    let i = new_client();
    app.login_with(&i, "good_fit@creators.test", crate::helpers::PASSWORD)
        .await;
    let list = get_with(&i, &app.url("/influencer/collaborations"))
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains("Invitations (1)") && list.contains("18% (personal)"));
    let (cid, _) = collaboration_id(&app, id, "good_fit@creators.test").await;
    // The merchant cannot accept its own invitation.
    post_form_with(
        &m,
        &app.url("/merchant/campaigns"),
        &app.url(&format!("/merchant/collaborations/{cid}")),
        &[("action", "accept")],
    )
    .await;
    assert_eq!(
        collaboration_id(&app, id, "good_fit@creators.test").await.1,
        "invited"
    );
    let res = post_form_with(
        &i,
        &app.url("/influencer/collaborations"),
        &app.url(&format!("/influencer/collaborations/{cid}")),
        &[("action", "accept")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        get_with(&i, &app.url("/influencer/collaborations"))
            .await
            .text()
            .await
            .unwrap()
            .contains("Your coupon code is GOODFIT")
    );
    let page = get_with(&i, &app.url(&format!("/influencer/campaigns/{id}")))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("18% on every product: your personal rate"));
    app.wait_for_email("inv@shop.test", "accepted").await;
}

#[tokio::test]
async fn invite_only_campaigns_are_hidden_from_the_marketplace() {
    let app = TestApp::spawn().await;
    let m = merchant_with_products(&app, "secret@shop.test", "tea.example").await;
    let ids = product_ids(&app, "secret@shop.test").await;
    let res = post_form_with(
        &m,
        &app.url("/merchant/campaigns/new"),
        &app.url("/merchant/campaigns"),
        &[
            ("name", "VIP only"),
            ("category", "tea"),
            ("default_rate", "20"),
            ("product_scope", "selected"),
            ("product_ids", &ids[0]),
            ("visibility", "invite"),
        ],
    )
    .await;
    let page = location(&res);
    post_form_with(
        &m,
        &app.url(&page),
        &app.url(&format!("{page}/state")),
        &[("action", "activate")],
    )
    .await;
    let id = page.rsplit('/').next().unwrap().to_owned();
    let i = tea_influencer(&app, "curious@creators.test").await;
    assert!(
        !get_with(&i, &app.url("/influencer/marketplace"))
            .await
            .text()
            .await
            .unwrap()
            .contains("VIP only")
    );
    assert_eq!(
        get_with(&i, &app.url(&format!("/influencer/campaigns/{id}")))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let res = post_form_with(
        &i,
        &app.url("/influencer/marketplace"),
        &app.url(&format!("/influencer/campaigns/{id}/apply")),
        &[("message", "let me in")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_marketplace_route_refuses_the_other_roles() {
    let app = TestApp::spawn().await;
    let m = merchant_with_products(&app, "routes@shop.test", "routes.example").await;
    let id = active_campaign(&app, &m, "routes@shop.test").await;
    let i = tea_influencer(&app, "routes_creator@creators.test").await;
    let res = post_form_with(
        &i,
        &app.url(&format!("/influencer/campaigns/{id}")),
        &app.url(&format!("/influencer/campaigns/{id}/apply")),
        &[("message", "hi")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (cid, _) = collaboration_id(&app, id, "routes_creator@creators.test").await;
    let pid = product_ids(&app, "routes@shop.test").await[0].clone();

    let merchant_gets = [
        "/merchant/products".to_owned(),
        "/merchant/products/new".into(),
        format!("/merchant/products/{pid}/edit"),
        "/merchant/products/import".into(),
        "/merchant/domains".into(),
        "/merchant/campaigns".into(),
        "/merchant/campaigns/new".into(),
        format!("/merchant/campaigns/{id}"),
        format!("/merchant/campaigns/{id}/edit"),
        format!("/merchant/campaigns/{id}/discover"),
    ];
    let merchant_posts = [
        "/merchant/products".to_owned(),
        format!("/merchant/products/{pid}"),
        format!("/merchant/products/{pid}/active"),
        "/merchant/products/import/preview".into(),
        "/merchant/products/import/confirm".into(),
        "/merchant/domains".into(),
        "/merchant/campaigns".into(),
        format!("/merchant/campaigns/{id}"),
        format!("/merchant/campaigns/{id}/rules"),
        format!("/merchant/campaigns/{id}/state"),
        format!("/merchant/campaigns/{id}/invite"),
        format!("/merchant/collaborations/{cid}"),
        format!("/merchant/collaborations/{cid}/coupon"),
    ];
    let influencer_gets = [
        "/influencer/marketplace".to_owned(),
        format!("/influencer/campaigns/{id}"),
        "/influencer/collaborations".into(),
    ];
    let influencer_posts = [
        "/influencer/profile".to_owned(),
        "/influencer/accounts".into(),
        "/influencer/payout".into(),
        format!("/influencer/campaigns/{id}/apply"),
        format!("/influencer/collaborations/{cid}"),
    ];
    for path in &merchant_gets {
        assert_eq!(
            get_with(&i, &app.url(path)).await.status(),
            StatusCode::FORBIDDEN,
            "influencer GET {path}"
        );
    }
    for path in &merchant_posts {
        let res = post_form_with(
            &i,
            &app.url("/influencer"),
            &app.url(path),
            &[("action", "approve")],
        )
        .await;
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "influencer POST {path}"
        );
    }
    for path in &influencer_gets {
        assert_eq!(
            get_with(&m, &app.url(path)).await.status(),
            StatusCode::FORBIDDEN,
            "merchant GET {path}"
        );
    }
    for path in &influencer_posts {
        let res = post_form_with(
            &m,
            &app.url("/merchant"),
            &app.url(path),
            &[("action", "end")],
        )
        .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "merchant POST {path}");
    }
    for path in ["/admin/domains".to_owned()] {
        assert_eq!(
            get_with(&m, &app.url(&path)).await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            get_with(&i, &app.url(&path)).await.status(),
            StatusCode::FORBIDDEN
        );
    }
    // Another influencer cannot act on this collaboration, and another merchant cannot set
    // its coupon.
    let other = tea_influencer(&app, "other_creator@creators.test").await;
    let res = post_form_with(
        &other,
        &app.url("/influencer/collaborations"),
        &app.url(&format!("/influencer/collaborations/{cid}")),
        &[("action", "end")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let rival = app.logged_in(Role::Merchant, "rival2@shop.test").await;
    let res = post_form_with(
        &rival,
        &app.url("/merchant/campaigns"),
        &app.url(&format!("/merchant/collaborations/{cid}/coupon")),
        &[("coupon_code", "STOLEN1")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // The merchant sees the application with its score and reasons.
    let page = get_with(&m, &app.url(&format!("/merchant/campaigns/{id}")))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Applications to review (1)")
            && page.contains("tea &#38; coffee matches, audience in CN")
    );
}
