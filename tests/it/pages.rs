//! Cross-cutting behaviour: CSRF, security headers, error pages, health.

use reqwest::StatusCode;
use tandem::domain::account::Role;

use crate::helpers::{TestApp, get_with, new_client};

#[tokio::test]
async fn posts_without_a_valid_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let client = new_client();
    // No session, no token.
    let res = client
        .post(app.url("/signup/influencer"))
        .form(&[
            ("name", "X Y"),
            ("handle", "xy_z"),
            ("email", "x@example.com"),
            ("password", "long enough pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("Form expired"));

    // A session, but a wrong token.
    let logged = app.logged_in(Role::Merchant, "csrf@example.com").await;
    let res = logged
        .post(app.url("/merchant/settings"))
        .form(&[
            ("csrf_token", "0000"),
            ("name", "Changed"),
            ("website", ""),
            ("default_currency", "USD"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A missing token on logout.
    let res = logged.post(app.url("/logout")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let html = get_with(&logged, &app.url("/merchant"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("Changed"), "nothing was saved");
    assert_eq!(
        app.state
            .db(|c| Ok(tandem::db::users::count(c)?))
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn pages_carry_security_headers_and_a_secure_session_cookie() {
    let app = TestApp::spawn().await;
    let res = app.get("/login").await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(csp.contains("script-src 'self'"));
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(h.get("referrer-policy").unwrap(), "same-origin");
    assert!(h.get("x-request-id").is_some());
    let cookie = h
        .get("set-cookie")
        .expect("session cookie")
        .to_str()
        .unwrap();
    assert!(cookie.starts_with("tandem_session="));
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(
        !cookie.contains("Secure"),
        "plain http in tests: no Secure flag"
    );
}

#[tokio::test]
async fn unknown_pages_get_a_404_page_with_the_layout() {
    let app = TestApp::spawn().await;
    let res = app.get("/no/such/page").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(
        res.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("Page not found"));
    assert!(html.contains("/static/app.css"), "uses the layout");
    assert_eq!(
        app.get("/static/nope.css").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/static/app.css").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_query_parameters_are_a_400_page_not_a_500() {
    let app = TestApp::spawn().await;
    let finance = app.logged_in(Role::Finance, "q@example.com").await;
    let res = get_with(&finance, &app.url("/finance?page=banana")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("bad parameter"));
    let res = get_with(&finance, &app.url("/finance?page=-5")).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn non_utf8_and_oversized_forms_are_refused_cleanly() {
    let app = TestApp::spawn().await;
    let page = app.get("/login").await.text().await.unwrap();
    let token = crate::helpers::csrf_from(&page).unwrap();
    let mut body = format!("csrf_token={token}&email=").into_bytes();
    body.extend_from_slice(&[0xff, 0xfe, 0xfd]);
    body.extend_from_slice(b"&password=x");
    let res = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    let big = format!("csrf_token={token}&email={}", "a".repeat(300 * 1024));
    let res = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn healthz_checks_the_database() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["database"], "ok");
}

#[tokio::test]
async fn logged_in_users_skip_the_public_auth_pages() {
    let app = TestApp::spawn().await;
    let client = app.logged_in(Role::Influencer, "skip@example.com").await;
    let res = get_with(&client, &app.url("/login")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let home = get_with(&client, &app.url("/")).await.text().await.unwrap();
    assert!(home.contains("Go to your dashboard"));
}

/// Every `/static/...` file a template names is served (a missing one silently breaks the
/// pages that use it, as `/static/app.js` once did).
#[tokio::test]
async fn every_static_file_a_page_names_is_served() {
    let app = TestApp::spawn().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut names = std::collections::BTreeSet::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for part in text.split("/static/").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                    .collect();
                names.insert(name);
            }
        }
    }
    assert!(
        names.contains("app.js") && names.contains("app.css"),
        "{names:?}"
    );
    for name in &names {
        let res = app.get(&format!("/static/{name}")).await;
        assert_eq!(res.status(), StatusCode::OK, "/static/{name}");
    }
    // And the pages load the script.
    let home = app.get("/login").await.text().await.unwrap();
    assert!(home.contains("<script src=\"/static/app.js\" defer></script>"));
}

/// Hostile query strings on every page that reads one, for every role: never a 500; a value
/// over 200 characters is a 400 naming the parameter.
#[tokio::test]
async fn query_strings_are_fuzzed_on_every_page() {
    let app = TestApp::spawn().await;
    let merchant = app.logged_in(Role::Merchant, "fuzz-m@shop.test").await;
    let influencer = app
        .logged_in(Role::Influencer, "fuzz-i@creators.test")
        .await;
    let finance = app.logged_in(Role::Finance, "fuzz-f@tandem.test").await;
    let admin = app.logged_in(Role::Admin, "fuzz-a@tandem.test").await;
    let public = new_client();
    let pages: Vec<(&reqwest::Client, &str, &str)> = vec![
        (&merchant, "/merchant/products", "q"),
        (&merchant, "/merchant/campaigns", "state"),
        (&merchant, "/merchant/orders", "q"),
        (&merchant, "/merchant/orders.csv", "q"),
        (&merchant, "/merchant/orders/import", "kind"),
        (&influencer, "/influencer/marketplace", "q"),
        (&influencer, "/influencer/collaborations", "state"),
        (&influencer, "/influencer/earnings", "state"),
        (&finance, "/finance", "q"),
        (&finance, "/finance/review", "q"),
        (&admin, "/admin", "q"),
        (&admin, "/admin/merchants", "q"),
        (&admin, "/admin/domains", "q"),
        (&public, "/login", "next"),
        (&public, "/reset-password", "token"),
    ];
    // A small deterministic generator of awkward values.
    let mut seed: u64 = 0x5eed_1234;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pool = [
        "a",
        "%",
        "%25",
        "%00",
        "%zz",
        "&",
        "=",
        "+",
        "'",
        "\"",
        "<",
        "%F0%9F%8D%B5",
        "%E2%80%AE",
        "%C0%AF",
        "\\",
        "*",
        "_",
        "[]",
        "-1",
        "99999999999999999999",
        "null",
        "%0A",
        "%09",
        "..%2F",
        "é",
    ];
    for (client, path, param) in &pages {
        let too_long = "x".repeat(50_000);
        let res = get_with(client, &app.url(&format!("{path}?{param}={too_long}"))).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        let body = res.text().await.unwrap();
        assert!(
            body.contains(&format!("“{param}” is too long")),
            "{path}: {body}"
        );
        let res = get_with(
            client,
            &app.url(&format!("{path}?{param}={}", "y".repeat(201))),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        for _ in 0..25 {
            let n = 1 + (next() % 12) as usize;
            let value: String = (0..n)
                .map(|_| pool[(next() % pool.len() as u64) as usize])
                .collect();
            let url = format!("{path}?{param}={value}&page={value}&sort={value}");
            let res = get_with(client, &app.url(&url)).await;
            assert!(
                res.status().as_u16() < 500,
                "{url} answered {}",
                res.status()
            );
        }
    }
}

/// Control, text-direction and other invisible characters (zero-width space, byte-order
/// mark, soft hyphen, line separator) are refused in every text field, naming it; a
/// zero-width non-joiner where Persian spells with it is kept.
#[tokio::test]
async fn text_fields_refuse_control_direction_and_invisible_characters() {
    let app = TestApp::spawn().await;
    let merchant = app.logged_in(Role::Merchant, "bidi@shop.test").await;
    for (bad, code) in [
        ("Tea\u{202E}gpj.exe", "U+202E"),
        ("Tea\u{0}shop", "U+0000"),
        ("Tea\u{1b}[31m", "U+001B"),
        ("Tea\u{200B}", "U+200B"),
        ("\u{FEFF}Tea", "U+FEFF"),
        ("Tea\u{00AD}shop", "U+00AD"),
        ("Tea\u{2028}shop", "U+2028"),
        ("Ad\u{200D}min Tea", "U+200D"),
    ] {
        let res = crate::helpers::post_form_with(
            &merchant,
            &app.url("/merchant"),
            &app.url("/merchant/settings"),
            &[("name", bad), ("website", ""), ("currency", "CNY")],
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        let body = res.text().await.unwrap();
        assert!(
            body.contains(&format!("name: contains an invisible character, {code}")),
            "{bad:?}: {body}"
        );
    }
    // A sign-up's name too, and nothing is created.
    let client = crate::helpers::new_client();
    let res = app
        .signup_merchant_with(&client, "Zero\u{200B}Width Tea", "zw@shop.test")
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("org_name: contains an invisible character, U+200B (a zero-width space)")
    );
    let res = app
        .signup_merchant_with(&client, "چای می\u{200C}خواهم", "fa@shop.test")
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "Persian spells with ZWNJ"
    );
}
