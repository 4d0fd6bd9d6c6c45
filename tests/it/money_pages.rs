//! The money pages on demo data: the merchant's orders, export and postback secret (shown
//! once), the influencer's earnings, finance's review of frozen commissions, admin fees.

use reqwest::{Client, StatusCode};

use crate::helpers::{TestApp, get_with, new_client, post_form_with};

async fn demo_app() -> TestApp {
    TestApp::demo().await
}

async fn demo_login(app: &TestApp, role: &str) -> Client {
    let account = tandem::service::demo::ACCOUNTS
        .iter()
        .find(|a| a.role.as_str() == role)
        .unwrap();
    let c = new_client();
    let res = app.login_with(&c, account.email, account.password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    c
}

async fn page(c: &Client, app: &TestApp, path: &str) -> String {
    let res = get_with(c, &app.url(path)).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.text().await.unwrap()
}

#[tokio::test]
async fn merchants_see_orders_export_them_and_get_a_secret_once() {
    let app = demo_app().await;
    let m = demo_login(&app, "merchant").await;
    let html = page(&m, &app, "/merchant/orders").await;
    assert!(html.contains("You owe"), "{html}");
    assert!(
        html.contains("Stream link") && html.contains("Coupon") && html.contains("Unattributed")
    );
    let unattributed = page(&m, &app, "/merchant/orders?attributed=no").await;
    assert!(
        !unattributed.contains("badge-ok\">Coupon"),
        "filter keeps only unattributed orders"
    );

    let res = get_with(&m, &app.url("/merchant/orders.csv?attributed=yes")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("order_id,occurred_at,currency,amount")
    );
    // Times are in the reader's zone (the demo merchant's Asia/Shanghai), offset included.
    let first = csv.lines().nth(1).unwrap();
    let when = first.split(',').nth(1).unwrap();
    assert!(when.ends_with("+08:00") && when.len() == 25, "{first}");
    assert!(
        lines.all(|l| l.contains(",coupon,") || l.contains(",click,")),
        "{csv}"
    );

    // An order's page is the merchant's own: another merchant gets a 404.
    let id = html
        .split("data-label=\"Order\" class=\"wide\"><a href=\"/merchant/orders/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        get_with(&m, &app.url(&format!("/merchant/orders/{id}")))
            .await
            .status(),
        StatusCode::OK
    );
    let other = new_client();
    app.login_with(
        &other,
        "beauty@demo.tandem.test",
        tandem::service::demo::DEMO_PASSWORD,
    )
    .await;
    assert_eq!(
        get_with(&other, &app.url(&format!("/merchant/orders/{id}")))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // The secret is shown on the answer that makes it, and never again.
    let res = post_form_with(
        &m,
        &app.url("/merchant/integration"),
        &app.url("/merchant/integration/secret"),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let secret = html
        .split("tps_")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(secret.len() > 30);
    let later = page(&m, &app, "/merchant/integration").await;
    assert!(!later.contains(&secret), "shown once");
    assert!(later.contains("tps_"), "its prefix is listed");
    // Rotation: two valid, the older one with its end; then stop it at once.
    post_form_with(
        &m,
        &app.url("/merchant/integration"),
        &app.url("/merchant/integration/secret"),
        &[],
    )
    .await;
    let html = page(&m, &app, "/merchant/integration").await;
    assert!(html.contains("stops working"), "{html}");
    let res = post_form_with(
        &m,
        &app.url("/merchant/integration"),
        &app.url("/merchant/integration/retire"),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = page(&m, &app, "/merchant/integration").await;
    assert!(!html.contains("stops working"), "{html}");

    // The Shopify signing secret: refused with a space in it, then saved.
    let shopify = app.url("/merchant/integration/shopify");
    let res = post_form_with(
        &m,
        &app.url("/merchant/integration"),
        &shopify,
        &[("secret", "shpss a")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = post_form_with(
        &m,
        &app.url("/merchant/integration"),
        &shopify,
        &[("secret", "shpss_4f1c")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = page(&m, &app, "/merchant/integration").await;
    assert!(html.contains("Shopify webhook secret saved"), "{html}");
}

#[tokio::test]
async fn influencers_see_earnings_and_finance_reviews_frozen_commissions() {
    let app = demo_app().await;
    let i = demo_login(&app, "influencer").await;
    let html = page(&i, &app, "/influencer/earnings").await;
    for part in [
        "Held for returns",
        "Available",
        "Paid",
        "Explain",
        "Exact sum",
    ] {
        assert!(html.contains(part), "{part}");
    }

    let f = demo_login(&app, "finance").await;
    let html = page(&f, &app, "/finance/review").await;
    assert!(html.contains("s after the click"), "{html}");
    let id: i64 = html
        .split("/finance/commissions/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let res = post_form_with(
        &f,
        &app.url("/finance/review"),
        &app.url(&format!("/finance/commissions/{id}/review")),
        &[
            ("action", "release"),
            ("note", "Checked with the merchant: a real buyer."),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = page(&f, &app, "/finance/review").await;
    assert!(html.contains("released"), "{html}");
    assert!(html.contains("Nothing to review"), "{html}");
    let again = post_form_with(
        &f,
        &app.url("/finance/review"),
        &app.url(&format!("/finance/commissions/{id}/review")),
        &[("action", "reject")],
    )
    .await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "reviewed once");
    // Influencers cannot review.
    let res = post_form_with(
        &i,
        &app.url("/influencer/earnings"),
        &app.url(&format!("/finance/commissions/{id}/review")),
        &[("action", "reject")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let report = app
        .state
        .db(tandem::service::orders::check_ledger)
        .await
        .unwrap();
    assert!(report.breaks.is_empty(), "{:?}", report.breaks);
}

#[tokio::test]
async fn admins_set_platform_fees() {
    let app = demo_app().await;
    let a = demo_login(&app, "admin").await;
    let html = page(&a, &app, "/admin/merchants").await;
    let id = html
        .split("/admin/merchants/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let path = format!("/admin/merchants/{id}/fee");
    let res = post_form_with(
        &a,
        &app.url("/admin/merchants"),
        &app.url(&path),
        &[("fee", "abc")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = post_form_with(
        &a,
        &app.url("/admin/merchants"),
        &app.url(&path),
        &[("fee", "5")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = page(&a, &app, "/admin/merchants").await;
    assert!(html.contains("Platform fee set to 5%"), "{html}");
    let bps = app
        .state
        .db(move |conn| Ok(tandem::db::merchants::fee_bps(conn, id.parse().unwrap())?))
        .await
        .unwrap();
    assert_eq!(bps, 500);
    let m = demo_login(&app, "merchant").await;
    let res = get_with(&m, &app.url("/admin/merchants")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

/// A money string on a page ("¥1,108.14", "−¥3.00") in minor units.
fn minor(text: &str) -> i64 {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let v: i64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("money in {text:?}"));
    if text.contains('-') || text.contains('−') {
        -v
    } else {
        v
    }
}

/// The merchant's orders page (all orders, one currency as the demo merchant's): the
/// commission and fee left on the rows of the first page, the totals row's commission and
/// fee (every order), the "Commission + fee on all your orders" figure and "You owe now".
fn owed_figures(html: &str) -> (i64, i64, i64, i64) {
    let cell = |part: &str, label: &str| -> i64 {
        part.split(&format!("<td data-label=\"{label}\" class=\"num\">"))
            .skip(1)
            .map(|cell| {
                let cell = cell.split("</td>").next().unwrap();
                // A struck-through gross comes first: the net follows it.
                let net = cell.rsplit("</s>").next().unwrap().trim();
                if net.is_empty() { 0 } else { minor(net) }
            })
            .sum()
    };
    let body = html.split("<tbody>").nth(1).unwrap();
    let (rows, foot) = body.split_once("</tbody>").unwrap();
    let stat = |label: &str| {
        minor(
            html.split(label)
                .nth(1)
                .unwrap()
                .split("<p class=\"stat\">")
                .nth(1)
                .unwrap()
                .split("</p>")
                .next()
                .unwrap(),
        )
    };
    (
        cell(rows, "Commission") + cell(rows, "Fee"),
        cell(foot, "Commission") + cell(foot, "Fee"),
        stat("Commission + fee on all your orders</p>"),
        stat("You owe now</p>"),
    )
}

#[tokio::test]
async fn the_owed_column_adds_up_to_what_is_owed_also_after_refunds() {
    let app = demo_app().await;
    let m = demo_login(&app, "merchant").await;
    let html = page(&m, &app, "/merchant/orders").await;
    let (first_page, total, on_all, owe_now) = owed_figures(&html);
    assert!(
        first_page > 0 && first_page <= total,
        "a page is part of the total"
    );
    assert_eq!(
        total, on_all,
        "the totals row is the figure above the table"
    );
    // Every order's commission and fee, and the tax on the fees invoiced, less what the
    // merchant paid the platform (the demo's Jade Leaf paid its invoice and ¥50.00 over).
    let (paid, tax) = app
        .with_db(|conn| {
            let m = tandem::db::merchants::all(conn)?
                .into_iter()
                .find(|m| m.name == "Jade Leaf Tea Co.")
                .unwrap()
                .id;
            let paid: i64 = tandem::db::billing::payments(conn, Some(m))?
                .iter()
                .map(|p| p.amount_minor)
                .sum();
            let tax: i64 = tandem::db::billing::invoices_of(conn, m)?
                .iter()
                .map(|i| i.tax_minor)
                .sum();
            Ok((paid, tax))
        })
        .await;
    assert!(paid > 0);
    assert_eq!(
        on_all + tax - paid,
        owe_now,
        "to what the ledger says is owed"
    );
    // A fully refunded order shows nothing owed, its gross struck through.
    assert!(
        html.contains("<s class=\"muted\""),
        "refunded orders show their gross struck"
    );

    // Random refunds of the merchant's attributed orders: still adds up.
    let merchant = tandem::service::demo::ACCOUNTS
        .iter()
        .find(|a| a.role.as_str() == "merchant")
        .unwrap()
        .email;
    let now = app.clock_now();
    app.state
        .db(move |conn| {
            use diesel::prelude::*;
            use tandem::db::schema::{conversions, merchant_members, users};
            let merchant_id: i64 = merchant_members::table
                .inner_join(users::table)
                .filter(users::email.eq(merchant))
                .select(merchant_members::merchant_id)
                .first(conn)?;
            let orders: Vec<(String, i64)> = conversions::table
                .filter(conversions::merchant_id.eq(merchant_id))
                .filter(conversions::signal.ne("none"))
                .order(conversions::id.asc())
                .select((conversions::order_id, conversions::base_minor))
                .load(conn)?;
            let mut seed: u64 = 0x00de_c0de;
            for (n, (order_id, base)) in orders.iter().enumerate() {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                if seed % 3 != 0 || *base < 2 {
                    continue;
                }
                let part = 1 + (seed >> 33) as i64 % (*base - 1);
                let input = tandem::domain::order::RefundInput {
                    order_id: order_id.clone(),
                    refund_id: format!("RAND-{n}"),
                    amount: format!("{}.{:02}", part / 100, part % 100),
                    occurred_at: now,
                };
                tandem::service::orders::record_refund(conn, now, merchant_id, "api", &input)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let html = page(&m, &app, "/merchant/orders").await;
    let (_, total, on_all, owe_now) = owed_figures(&html);
    assert_eq!(total, on_all);
    assert_eq!(on_all + tax - paid, owe_now);
    crate::postbacks::ledger_ok(&app).await;
}

/// A bad value in a form of each role comes back on a page with the navigation and the
/// field's message, never a bare error page; what was typed is kept where the form
/// re-renders.
#[tokio::test]
async fn bad_input_comes_back_with_the_navigation_and_the_message() {
    let app = demo_app().await;
    let m = demo_login(&app, "merchant").await;
    let i = demo_login(&app, "influencer").await;
    let a = demo_login(&app, "admin").await;
    let campaign = 1;
    // (client, page with the form, action, fields, what the answer must say)
    type Case<'a> = (&'a Client, String, String, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            &a,
            "/admin/merchants".into(),
            "/admin/merchants/1/fee".into(),
            vec![("fee", "150")],
            "value=\"150\"",
        ),
        (
            &m,
            format!("/merchant/campaigns/{campaign}"),
            format!("/merchant/campaigns/{campaign}/rules"),
            vec![("default_rate", "12.5"), ("sku_rates", "NOPE-9 = 5")],
            "Not in your catalogue: NOPE-9",
        ),
        (
            &m,
            "/merchant".into(),
            "/merchant/settings".into(),
            vec![("name", ""), ("website", ""), ("currency", "CNY")],
            "id=\"e-name\"",
        ),
        (
            &i,
            "/influencer".into(),
            "/influencer/payout".into(),
            vec![("method", "paypal"), ("paypal_email", "not an email")],
            "id=\"e-paypal_email\"",
        ),
        (
            &i,
            "/influencer/links".into(),
            "/influencer/links".into(),
            vec![("target", "nope"), ("label", "x")],
            "class=\"field-error\"",
        ),
    ];
    for (client, page, action, fields, want) in cases {
        let res = post_form_with(client, &app.url(&page), &app.url(&action), &fields).await;
        let status = res.status();
        let html = if status == StatusCode::SEE_OTHER {
            let to = crate::helpers::location(&res);
            get_with(client, &app.url(&to)).await.text().await.unwrap()
        } else {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{action}");
            res.text().await.unwrap()
        };
        assert!(
            html.contains("class=\"mainnav\""),
            "{action}: no navigation"
        );
        assert!(html.contains(want), "{action}: {want} not in {html}");
    }
    // A refused invitation comes back open on its card with the filters, what was typed
    // and the rate's message under the field.
    let discover = format!("/merchant/campaigns/{campaign}/discover?category=any&region=CN");
    let html = page(&m, &app, &discover).await;
    let who = html
        .split("name=\"influencer_id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let res = post_form_with(
        &m,
        &app.url(&discover),
        &app.url(&format!("/merchant/campaigns/{campaign}/invite")),
        &[
            ("influencer_id", who.as_str()),
            ("rate", "150"),
            ("message", "Our spring teas would suit you"),
            ("back", discover.as_str()),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("class=\"mainnav\""));
    assert!(html.contains(&format!("id=\"e-r-{who}\"")), "{html}");
    assert!(
        html.contains("value=\"150\"")
            && html.contains(">Our spring teas would suit you</textarea>")
    );
    assert!(html.contains("<details open>"));
    assert!(
        html.contains("<option value=\"CN\" selected>"),
        "the filters are kept"
    );

    // A refused coupon code stays typed in its row, with the reason beside it.
    let html = page(&m, &app, &format!("/merchant/campaigns/{campaign}")).await;
    let collab = html
        .split("action=\"/merchant/collaborations/")
        .find_map(|s| s.split_once("/coupon\"").map(|(id, _)| id.to_owned()))
        .expect("an active collaboration with a coupon form");
    let res = post_form_with(
        &m,
        &app.url(&format!("/merchant/campaigns/{campaign}")),
        &app.url(&format!("/merchant/collaborations/{collab}/coupon")),
        &[("coupon_code", "no spaces!"), ("campaign_id", "1")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("class=\"mainnav\""));
    assert!(
        html.contains(&format!("id=\"e-coupon-{collab}\"")),
        "{html}"
    );
    assert!(html.contains("value=\"no spaces!\""));

    // Find influencers refuses a negative follower count, saying so.
    let html = page(
        &m,
        &app,
        &format!("/merchant/campaigns/{campaign}/discover?max_followers=-5"),
    )
    .await;
    assert!(
        html.contains("Maximum followers must be a whole number, 0 or more."),
        "{html}"
    );
}

/// New campaigns and products start in the merchant's usual category (a tea shop's is tea).
#[tokio::test]
async fn new_forms_default_to_the_merchants_usual_category() {
    let app = demo_app().await;
    let m = demo_login(&app, "merchant").await;
    for path in ["/merchant/campaigns/new", "/merchant/products/new"] {
        let html = page(&m, &app, path).await;
        assert!(html.contains("<option value=\"tea\" selected>"), "{path}");
    }
}

/// Discovery knows each creator's sales in the campaign's category: every candidate's
/// order count equals the attributed orders counted here from the raw rows, and a creator
/// with sales reads it first.
#[tokio::test]
async fn matching_reasons_come_from_the_order_history() {
    let app = demo_app().await;
    let m = demo_login(&app, "merchant").await;
    let (campaign, category) = app
        .state
        .db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::campaigns;
            Ok(campaigns::table
                .order(campaigns::id)
                .select((campaigns::id, campaigns::category))
                .first::<(i64, String)>(conn)?)
        })
        .await
        .unwrap();
    let label = tandem::domain::catalog::category_label(&category)
        .to_lowercase()
        .replace('&', "&#38;");
    let html = page(
        &m,
        &app,
        &format!("/merchant/campaigns/{campaign}/discover"),
    )
    .await;
    let mut with_sales = 0;
    for article in html
        .split("<article class=\"card candidate\" id=\"c-")
        .skip(1)
    {
        let id: i64 = article.split('"').next().unwrap().parse().unwrap();
        let reasons = article
            .split("<p class=\"reasons\">")
            .nth(1)
            .unwrap()
            .split("</p>")
            .next()
            .unwrap();
        let cat = category.clone();
        let orders = app
            .state
            .db(move |conn| {
                use diesel::prelude::*;
                use tandem::db::schema::{campaigns, conversions};
                Ok(conversions::table
                    .inner_join(
                        campaigns::table.on(conversions::campaign_id.eq(campaigns::id.nullable())),
                    )
                    .filter(conversions::influencer_id.eq(id))
                    .filter(campaigns::category.eq(cat))
                    .count()
                    .get_result::<i64>(conn)?)
            })
            .await
            .unwrap();
        if orders > 0 {
            with_sales += 1;
            let plural = if orders == 1 { "order" } else { "orders" };
            assert!(
                reasons.starts_with(&format!("{orders} {plural} in {label}")),
                "{id}: {reasons}"
            );
            assert!(!reasons.contains("no sales history"), "{reasons}");
        } else {
            assert!(!reasons.contains(" orders in "), "{id}: {reasons}");
        }
    }
    assert!(with_sales >= 2, "the demo's creators have sales: {html}");

    // The creator's own view of a campaign leads with what fits.
    let i = demo_login(&app, "influencer").await;
    let market = page(&i, &app, "/influencer/marketplace").await;
    let first = market
        .split("<p class=\"reasons\">")
        .nth(1)
        .unwrap()
        .split("</p>")
        .next()
        .unwrap();
    assert!(
        first.contains(" orders in ") && !first.starts_with("not in"),
        "{first}"
    );
    for reasons in market.split("<p class=\"reasons\">").skip(1) {
        let reasons = reasons.split("</p>").next().unwrap();
        if let Some(miss) = reasons.find("not in ") {
            // Nothing that fits comes after a miss.
            assert!(!reasons[miss..].contains("matches"), "{reasons}");
        }
    }
}

/// An order's page names its figure for what it is, and gives a date only where there is one:
/// a frozen commission has none until finance reviews it (issue 27 §2).
#[tokio::test]
async fn an_order_page_gives_a_frozen_commission_no_date() {
    use diesel::prelude::*;
    use tandem::db::schema::{campaigns, commissions, conversions};
    let app = demo_app().await;
    let m = demo_login(&app, "merchant").await;
    let by_state = |state: &'static str| {
        app.with_db(move |conn| {
            let merchant: i64 = campaigns::table
                .filter(campaigns::name.eq("Spring green tea festival"))
                .select(campaigns::merchant_id)
                .first(conn)?;
            Ok(commissions::table
                .inner_join(conversions::table)
                .filter(conversions::merchant_id.eq(merchant))
                .filter(commissions::state.eq(state))
                .select(conversions::id)
                .first::<i64>(conn)?)
        })
    };
    let frozen = by_state("frozen").await;
    let html = page(&m, &app, &format!("/merchant/orders/{frozen}")).await;
    assert!(
        html.contains("Frozen for review · no date until finance reviews it")
            && html.contains("Commission and fee on this order:")
            && !html.contains("available from"),
        "{html}"
    );
    let pending = by_state("pending").await;
    let html = page(&m, &app, &format!("/merchant/orders/{pending}")).await;
    assert!(html.contains("available from 20"), "{html}");
}
