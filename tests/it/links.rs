//! Stream links and the redirect: every click stored before the 302, HEAD not counted,
//! repeats and bots flagged, unknown and disabled codes 404, 2,000 concurrent clicks all kept.

use std::collections::HashSet;
use std::sync::Arc;

use reqwest::{Client, StatusCode};
use tandem::domain::account::Role;

use crate::helpers::{TestApp, get_with, location, new_client, post_form_with};
use crate::marketplace::{
    active_campaign, collaboration_id, merchant_with_products, tea_influencer,
};

/// An influencer with an active collaboration on a campaign whose shop domain is verified;
/// returns (influencer client, link code).
pub async fn live_link(app: &TestApp) -> (Client, String) {
    let (_, i, code) = live_link_with_merchant(app).await;
    (i, code)
}

/// [`live_link`], with the merchant's client first.
pub async fn live_link_with_merchant(app: &TestApp) -> (Client, Client, String) {
    let m = merchant_with_products(app, "links@shop.test", "tea.example").await;
    let campaign = active_campaign(app, &m, "links@shop.test").await;
    let i = tea_influencer(app, "linker@creators.test").await;
    post_form_with(
        &i,
        &app.url(&format!("/influencer/campaigns/{campaign}")),
        &app.url(&format!("/influencer/campaigns/{campaign}/apply")),
        &[("message", "")],
    )
    .await;
    let (cid, _) = collaboration_id(app, campaign, "linker@creators.test").await;
    post_form_with(
        &m,
        &app.url(&format!("/merchant/campaigns/{campaign}")),
        &app.url(&format!("/merchant/collaborations/{cid}")),
        &[("action", "approve")],
    )
    .await;

    // Not verified yet: no product can be linked.
    let page = get_with(&i, &app.url("/influencer/links"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("not verified yet"), "{page}");
    let admin = app.logged_in(Role::Admin, "verifier@tandem.test").await;
    let html = get_with(&admin, &app.url("/admin/domains"))
        .await
        .text()
        .await
        .unwrap();
    let id = html
        .split("/admin/domains/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    post_form_with(
        &admin,
        &app.url("/admin/domains"),
        &app.url(&format!("/admin/domains/{id}/verify")),
        &[("verified", "true")],
    )
    .await;

    let res = post_form_with(
        &i,
        &app.url("/influencer/links"),
        &app.url("/influencer/streams"),
        &[
            ("title", "Friday tasting"),
            ("platform", "douyin"),
            ("scheduled_at", "2026-12-04T20:00"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get_with(&i, &app.url("/influencer/links"))
        .await
        .text()
        .await
        .unwrap();
    let target = page
        .split("name=\"target\"")
        .nth(1)
        .unwrap()
        .split("value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let stream = page
        .split("name=\"stream_id\"")
        .nth(1)
        .unwrap()
        .split("value=\"")
        .nth(2)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let res = post_form_with(
        &i,
        &app.url("/influencer/links"),
        &app.url("/influencer/links"),
        &[
            ("target", &target),
            ("stream_id", &stream),
            ("label", "pinned comment"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get_with(&i, &app.url("/influencer/links"))
        .await
        .text()
        .await
        .unwrap();
    let code = page
        .split("Link ready: ")
        .nth(1)
        .unwrap()
        .split("/l/")
        .nth(1)
        .unwrap()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(code.len(), 10);
    (m, i, code)
}

async fn clicks(app: &TestApp) -> Vec<tandem::db::models::Click> {
    app.state
        .db(|conn| Ok(tandem::db::links::all_clicks(conn)?))
        .await
        .unwrap()
}

pub const PHONE: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";

#[tokio::test]
async fn a_repeat_is_the_same_visitor_on_the_same_link_within_an_hour() {
    let app = TestApp::spawn().await;
    let (_, code) = live_link(&app).await;
    let visitor = new_client();
    let click = |ua: &'static str| {
        let req = visitor
            .get(app.url(&format!("/l/{code}")))
            .header("user-agent", ua);
        async move {
            assert_eq!(req.send().await.unwrap().status(), StatusCode::FOUND);
        }
    };
    const TABLET: &str = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) Mobile/15E148";
    click(PHONE).await;
    app.clock.advance(chrono::TimeDelta::minutes(59));
    click(PHONE).await; // 59 minutes later: a repeat
    click(TABLET).await; // another device: another visitor
    app.clock.advance(chrono::TimeDelta::minutes(61));
    click(PHONE).await; // an hour after the last click: counted again
    click(PHONE).await; // and repeats start over from there
    let repeats: Vec<bool> = clicks(&app).await.iter().map(|c| c.is_repeat).collect();
    assert_eq!(repeats, [false, true, false, false, true]);
}

#[tokio::test]
async fn two_visitors_sharing_a_key_are_still_told_apart() {
    // The repeat check seeks the visitor key, then compares the hashes; when another visitor
    // with the same key clicked last (about one chance in 2^64), it checks in full.
    let app = TestApp::spawn().await;
    let (_, code) = live_link(&app).await;
    let phone_click = || async {
        let res = new_client()
            .get(app.url(&format!("/l/{code}")))
            .header("user-agent", PHONE)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
    };
    phone_click().await;
    let now = app.clock_now();
    let (first, found, other) = app
        .state
        .db(move |conn| {
            use tandem::db::links::{clicked_since, insert_clicks, next_click_id};
            let first = tandem::db::links::all_clicks(conn)?.remove(0);
            let since = now - chrono::TimeDelta::minutes(60);
            // Another visitor under the same key clicks after the first.
            let id = next_click_id(conn)?;
            let click_id = tandem::domain::links::click_id_for(id);
            insert_clicks(
                conn,
                &[tandem::db::models::NewClick {
                    id,
                    click_id: &click_id,
                    link_id: first.link_id,
                    stream_id: None,
                    created_at: &tandem::db::models::BatchTime::new(now),
                    ip_hash: "another ip",
                    ua_hash: "another agent",
                    referrer_host: None,
                    is_bot: false,
                    is_repeat: false,
                    visitor_key: first.visitor_key,
                }],
            )?;
            let check = |conn: &mut _, ip: &str, ua: &str| {
                clicked_since(conn, first.link_id, first.visitor_key, ip, ua, since)
            };
            let found = check(conn, &first.ip_hash, &first.ua_hash)?;
            let other = check(conn, "a third ip", "a third agent")?;
            Ok((first, found, other))
        })
        .await
        .unwrap();
    assert_ne!(first.visitor_key, 0);
    assert!(
        found,
        "the first visitor's click is found behind the other one"
    );
    assert!(!other, "a visitor who never clicked is not a repeat");
    // Through the click writer (one lookup for all new visitors of a batch, then the full
    // check): the first visitor's next click is a repeat, though the latest click under
    // their key is the other visitor's.
    phone_click().await;
    let stored = clicks(&app).await;
    assert_eq!(stored.len(), 3);
    // (Row ids do not give the order here: on PostgreSQL the writer reserves them in blocks.)
    let theirs: Vec<bool> = stored
        .iter()
        .filter(|c| c.ip_hash == first.ip_hash && c.ua_hash == first.ua_hash)
        .map(|c| c.is_repeat)
        .collect();
    assert_eq!(theirs, [false, true], "{stored:?}");
}

#[tokio::test]
async fn a_click_is_stored_before_the_redirect() {
    let app = TestApp::spawn().await;
    let (i, code) = live_link(&app).await;
    let visitor = new_client();
    let res = visitor
        .get(app.url(&format!("/l/{code}")))
        .header("user-agent", PHONE)
        .header("referer", "https://www.douyin.com/video/1?x=2")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let to = location(&res);
    assert!(to.starts_with("https://tea.example/p/"), "{to}");
    let tclid = to.split("tclid=").nth(1).expect("tclid added").to_owned();
    let stored = clicks(&app).await;
    assert_eq!(stored.len(), 1, "stored before the answer");
    assert_eq!(stored[0].click_id, tclid);
    assert!(stored[0].stream_id.is_some(), "the stream is recorded");
    assert_eq!(stored[0].referrer_host.as_deref(), Some("www.douyin.com"));
    assert!(!stored[0].is_bot && !stored[0].is_repeat);
    assert!(
        !stored[0].ip_hash.contains("127.0.0.1") && stored[0].ip_hash.len() == 32,
        "no raw IP stored"
    );
    assert!(
        res.headers().get("set-cookie").is_none(),
        "no cookie for visitors"
    );

    // The same visitor again: a repeat. A bot: flagged. HEAD: redirected, not counted.
    visitor
        .get(app.url(&format!("/l/{code}")))
        .header("user-agent", PHONE)
        .send()
        .await
        .unwrap();
    visitor
        .get(app.url(&format!("/l/{code}")))
        .header("user-agent", "Googlebot/2.1")
        .send()
        .await
        .unwrap();
    let head = visitor
        .head(app.url(&format!("/l/{code}")))
        .header("user-agent", PHONE)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::FOUND);
    assert!(!location(&head).contains("tclid"));
    let stored = clicks(&app).await;
    assert_eq!(stored.len(), 3);
    assert!(stored[1].is_repeat && !stored[1].is_bot);
    assert!(stored[2].is_bot);
    // A query on the short link changes nothing about where it goes.
    let res = visitor
        .get(app.url(&format!("/l/{code}?to=https://evil.example&tclid=forged")))
        .header("user-agent", PHONE)
        .send()
        .await
        .unwrap();
    assert!(location(&res).starts_with("https://tea.example/p/"));
    assert!(!location(&res).contains("forged"));

    // The influencer sees the counts as every dashboard counts them: 4 clicks, of which 1
    // by a bot, so 3 clicks (bots excluded), 1 unique, 1 bot apart.
    let page = get_with(&i, &app.url("/influencer/links"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<td data-label=\"Clicks\" class=\"num\">3</td>")
            && page.contains("bots excluded"),
        "{page}"
    );
    assert!(page.contains("<td data-label=\"Unique\" class=\"num\">1</td>"));
    assert!(page.contains("<td data-label=\"Bots\" class=\"num\">1</td>"));

    // Switched off: 404 at once; on again: redirects.
    let id = page
        .split("/influencer/links/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    post_form_with(
        &i,
        &app.url("/influencer/links"),
        &app.url(&format!("/influencer/links/{id}/disabled")),
        &[("disabled", "true")],
    )
    .await;
    assert_eq!(
        visitor
            .get(app.url(&format!("/l/{code}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    post_form_with(
        &i,
        &app.url("/influencer/links"),
        &app.url(&format!("/influencer/links/{id}/disabled")),
        &[("disabled", "false")],
    )
    .await;
    assert_eq!(
        visitor
            .get(app.url(&format!("/l/{code}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FOUND
    );

    // The QR code, as SVG for the page and PNG to download; only for the link's owner.
    let svg = get_with(&i, &app.url(&format!("/influencer/links/{id}/qr.svg"))).await;
    assert_eq!(svg.headers().get("content-type").unwrap(), "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("<svg"));
    let png = get_with(&i, &app.url(&format!("/influencer/links/{id}/qr.png"))).await;
    assert_eq!(png.headers().get("content-type").unwrap(), "image/png");
    assert!(
        png.headers()
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap()
            .contains(&code)
    );
    assert_eq!(&png.bytes().await.unwrap()[..4], b"\x89PNG");

    // Unknown codes and garbage: 404 pages.
    for path in ["/l/NoSuchCode1", "/l/x", "/l/..%2F..%2Fetc"] {
        let res = visitor.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Another influencer cannot switch the link; a merchant cannot open the page.
    let other = tea_influencer(&app, "other_linker@creators.test").await;
    let res = post_form_with(
        &other,
        &app.url("/influencer/links"),
        &app.url(&format!("/influencer/links/{id}/disabled")),
        &[("disabled", "true")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let qr = get_with(&other, &app.url(&format!("/influencer/links/{id}/qr.png"))).await;
    assert_eq!(qr.status(), StatusCode::NOT_FOUND);
    let m = app.logged_in(Role::Merchant, "peek@shop.test").await;
    assert_eq!(
        get_with(&m, &app.url("/influencer/links")).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_concurrent_clicks_are_all_stored() {
    let app = TestApp::spawn().await;
    let (_, code) = live_link(&app).await;
    let url = Arc::new(app.url(&format!("/l/{code}")));
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let limit = Arc::new(tokio::sync::Semaphore::new(200));
    let mut tasks = Vec::new();
    for n in 0..2000 {
        let (client, url, limit) = (client.clone(), url.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            let res = client
                .get(url.as_str())
                .header("user-agent", format!("{PHONE} visitor/{n}"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::FOUND);
            location(&res).split("tclid=").nth(1).unwrap().to_owned()
        }));
    }
    let mut answered = HashSet::new();
    for t in tasks {
        answered.insert(t.await.unwrap());
    }
    assert_eq!(answered.len(), 2000, "2,000 distinct click ids answered");
    let stored = clicks(&app).await;
    assert_eq!(stored.len(), 2000, "exactly 2,000 rows");
    let ids: HashSet<String> = stored.into_iter().map(|c| c.click_id).collect();
    assert_eq!(ids, answered, "every answered click id is stored");
}

/// While another connection holds the database's write lock, no click can be committed: the
/// HTTP worker cannot write its round itself (on SQLite it does not wait for the lock on its
/// event loop) and hands it to the writer thread, which waits. Every click is answered only
/// after the lock is released, and every one is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clicks_wait_for_a_locked_database_and_none_is_lost() {
    use diesel::connection::SimpleConnection;
    let app = TestApp::spawn().await;
    let (_, code) = live_link(&app).await;
    let url = app.url(&format!("/l/{code}"));
    let pool = app.state.pool.clone();
    let sqlite = app.state.backend == tandem::db::Backend::Sqlite;
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let mut conn = pool.get().unwrap();
        conn.batch_execute(if sqlite {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN; LOCK TABLE clicks IN EXCLUSIVE MODE"
        })
        .unwrap();
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        let released = std::time::Instant::now();
        conn.batch_execute("COMMIT").unwrap();
        released
    });
    locked_rx.await.unwrap();
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for n in 0..40 {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let res = client
                .get(url.as_str())
                .header("user-agent", format!("{PHONE} visitor/{n}"))
                .send()
                .await
                .unwrap();
            let answered = std::time::Instant::now();
            assert_eq!(res.status(), StatusCode::FOUND);
            (
                answered,
                location(&res).split("tclid=").nth(1).unwrap().to_owned(),
            )
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(
        tasks.iter().all(|t| !t.is_finished()),
        "no click is answered while none can be committed"
    );
    release_tx.send(()).unwrap();
    let released = holder.join().unwrap();
    let mut answered = HashSet::new();
    for t in tasks {
        let (at, id) = t.await.unwrap();
        assert!(at >= released, "answered only after the lock was released");
        answered.insert(id);
    }
    assert_eq!(answered.len(), 40);
    let stored: HashSet<String> = clicks(&app).await.into_iter().map(|c| c.click_id).collect();
    assert_eq!(
        stored, answered,
        "every answered click is stored, and only those"
    );
}

#[tokio::test]
async fn influencer_tools_use_the_links_api_with_a_token() {
    let app = TestApp::spawn().await;
    let (i, code) = live_link(&app).await;
    let api = new_client();
    // No token, a wrong token: 401 JSON.
    let res = api.get(app.url("/api/v1/links")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let res = api
        .get(app.url("/api/v1/links"))
        .bearer_auth("tdm_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let res = post_form_with(
        &i,
        &app.url("/influencer/links"),
        &app.url("/influencer/tokens"),
        &[("token_name", "")],
    )
    .await;
    // No name: the form comes back with the error under the field.
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"e-token_name\""), "{page}");
    let res = post_form_with(
        &i,
        &app.url("/influencer/links"),
        &app.url("/influencer/tokens"),
        &[("token_name", "overlay")],
    )
    .await;
    // Shown once, in view at the top of the page, with a Copy button.
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("you will not see it again"), "{page}");
    let token = page
        .split("<code class=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .trim()
        .to_owned();
    assert!(page.contains(&format!("data-copy=\"{token}\"")));
    assert!(token.starts_with("tdm_"));
    let again = get_with(&i, &app.url("/influencer/links"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!again.contains(&token), "shown once only");

    let res = api
        .get(app.url("/api/v1/links"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["links"][0]["code"], code.as_str());
    let collaboration = body["links"][0]["collaboration_id"].as_i64().unwrap();
    let product = body["links"][0]["product_id"].as_i64().unwrap();

    let res = api.post(app.url("/api/v1/links")).bearer_auth(&token).json(&serde_json::json!({"collaboration_id": collaboration, "product_id": product, "label": "from my tool"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let made: serde_json::Value = res.json().await.unwrap();
    assert!(made["short_url"].as_str().unwrap().contains("/l/"));
    assert_eq!(made["label"], "from my tool");
    // Invalid input: 422 naming the field; malformed JSON too.
    let res = api
        .post(app.url("/api/v1/links"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"collaboration_id": 999_999}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: serde_json::Value = res.json().await.unwrap();
    assert_eq!(err["errors"][0]["field"], "collaboration_id");
    let res = api
        .post(app.url("/api/v1/links"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"collaboration_id\": \"x\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["errors"][0]["field"],
        "body"
    );

    // Revoked: 401.
    let id = again
        .split("/influencer/tokens/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    post_form_with(
        &i,
        &app.url("/influencer/links"),
        &app.url(&format!("/influencer/tokens/{id}/revoke")),
        &[],
    )
    .await;
    assert_eq!(
        api.get(app.url("/api/v1/links"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Addresses that must never become a link's destination for a shop on `tea.example`.
const TRICKY: &[&str] = &[
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "//evil.example/p/1",
    "https://tea.example@evil.example/p/1",
    "https://tea.example:pw@evil.example/",
    "https:evil.example/p/1",
    "https:\\\\evil.example\\p\\1",
    "https://evil.example\\@tea.example/",
    "https://tеa.example/p/1", // Cyrillic "е": an IDN look-alike (xn--...)
    "https://xn--ta-fmc.example/p/1",
    "https://eviltea.example/p/1", // the verified domain as a suffix of another
    "https://tea.example.evil.example/p/1",
    "https://127.0.0.1/p/1",
    "ftp://tea.example/p/1",
    "data:text/html,<script>alert(1)</script>",
    "https://tea.example /p/1",
    "https://tea.example/p/1\r\nLocation: https://evil.example/",
];

async fn link_count(app: &TestApp) -> i64 {
    app.state
        .db(|conn| {
            use diesel::prelude::*;
            Ok(tandem::db::schema::links::table
                .count()
                .get_result::<i64>(conn)?)
        })
        .await
        .unwrap()
}

/// The link form's value for the campaign product with this SKU, or for the shop.
async fn target_value(app: &TestApp, what: &str) -> String {
    let (cid, product) = app
        .state
        .db({
            let what = what.to_owned();
            move |conn| {
                use diesel::prelude::*;
                use tandem::db::schema::{collaborations, products};
                let cid: i64 = collaborations::table
                    .filter(collaborations::state.eq("active"))
                    .select(collaborations::id)
                    .first(conn)?;
                let product = if what == "shop" {
                    "shop".to_owned()
                } else {
                    products::table
                        .filter(products::sku.eq(&what))
                        .select(products::id)
                        .first::<i64>(conn)?
                        .to_string()
                };
                Ok((cid, product))
            }
        })
        .await
        .unwrap();
    format!("{cid}:{product}")
}

#[tokio::test]
async fn tricky_destinations_never_become_links() {
    let app = TestApp::spawn().await;
    let (m, i, _) = live_link_with_merchant(&app).await;
    let links_before = link_count(&app).await;

    // 1. The merchant cannot save a product at any of them: 422 naming the field, nothing kept.
    for (n, bad) in TRICKY.iter().enumerate() {
        let sku = format!("BAD-{n}");
        let res = post_form_with(
            &m,
            &app.url("/merchant/products/new"),
            &app.url("/merchant/products"),
            &[
                ("sku", sku.as_str()),
                ("title", "Tricky tea"),
                ("category", "tea"),
                ("price", "10.00"),
                ("currency", "CNY"),
                ("product_url", bad),
                ("active", "true"),
            ],
        )
        .await;
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "product at {bad:?} refused"
        );
    }
    let stored: i64 = app
        .state
        .db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::products;
            Ok(products::table
                .filter(products::sku.like("BAD-%"))
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(stored, 0, "no tricky product stored");

    // 2. Even if such an address reached the database some other way (an old import, a
    // hand-edited row), no link can be made to it: the link re-checks the destination.
    let target = target_value(&app, "TEA-2").await;
    for bad in TRICKY {
        let url = (*bad).to_owned();
        app.state
            .db(move |conn| {
                use diesel::prelude::*;
                use tandem::db::schema::products;
                diesel::update(products::table.filter(products::sku.eq("TEA-2")))
                    .set(products::product_url.eq(&url))
                    .execute(conn)?;
                Ok(())
            })
            .await
            .unwrap();
        let res = make_link(&app, &i, &target).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        let html = res.text().await.unwrap();
        assert!(html.contains("cannot be used for live links"), "{html}");
    }
    // The shop's own address is held to the same rule.
    let shop = target_value(&app, "shop").await;
    for bad in TRICKY {
        set_website(&app, bad).await;
        let res = make_link(&app, &i, &shop).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    }
    assert_eq!(link_count(&app).await, links_before, "no link was made");

    // 3. And a good address on the verified domain still works.
    set_website(&app, "https://www.tea.example/").await;
    let res = make_link(&app, &i, &shop).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(link_count(&app).await, links_before + 1);
}

/// Writes the merchant's shop address straight into the database (no validation).
async fn set_website(app: &TestApp, website: &str) {
    let website = website.to_owned();
    app.state
        .db(move |conn| {
            use diesel::prelude::*;
            use tandem::db::schema::merchants;
            diesel::update(merchants::table)
                .set(merchants::website.eq(Some(&website)))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
}

async fn make_link(app: &TestApp, i: &Client, target: &str) -> reqwest::Response {
    post_form_with(
        i,
        &app.url("/influencer/links"),
        &app.url("/influencer/links"),
        &[("target", target), ("stream_id", ""), ("label", "")],
    )
    .await
}

#[tokio::test]
async fn the_redirect_answers_only_get_and_head_on_a_plausible_code() {
    let app = TestApp::spawn().await;
    let (_, code) = live_link(&app).await;
    let visitor = new_client();
    let res = visitor
        .post(app.url(&format!("/l/{code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET, HEAD");
    let res = visitor
        .get(app.url(&format!("/l/{code}/")))
        .header("user-agent", PHONE)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "a trailing slash is fine");
    for path in [
        "/l",
        "/l/",
        "/l/a",
        "/l/../../etc/passwd",
        "/l/ZZZZZZZZZZ",
        "/l/x/y",
    ] {
        let res = visitor.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            res.headers().contains_key("content-security-policy"),
            "the 404 page has the security headers"
        );
    }
    assert_eq!(clicks(&app).await.len(), 1, "only the one real click");
}
