//! Sign-in and sessions (issue 19): a `next` that never leaves Tandem, sessions that end on
//! the server, throttling that cannot be turned against other users, and the client's
//! address taken from forwarding headers only from trusted proxies. Each test runs on
//! SQLite, and on PostgreSQL when `TANDEM_TEST_DATABASE_URL` is set.

use std::sync::Arc;

use reqwest::header::COOKIE;
use reqwest::{Client, StatusCode};
use tandem::domain::account::Role;

use crate::helpers::{PASSWORD, TestApp, csrf_from, location, new_client, post_form_with};

/// A client whose cookie jar can be read, logged in as a new influencer; and its jar.
async fn logged_in_with_jar(app: &TestApp, email: &str) -> (Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let handle = email.split('@').next().unwrap().replace(['-', '+'], "_");
    let res = app
        .signup_influencer_with(&client, "Some Creator", &handle, email)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    (client, jar)
}

/// The Cookie header the jar would send.
fn cookie_of(app: &TestApp, jar: &reqwest::cookie::Jar) -> String {
    use reqwest::cookie::CookieStore;
    jar.cookies(&app.url("/").parse().unwrap())
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// GET with a copied Cookie header and no jar of its own: the status.
async fn with_cookie(app: &TestApp, cookie: &str, path: &str) -> StatusCode {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .status()
}

async fn login_from(app: &TestApp, email: &str, password: &str, forwarded: &str) -> StatusCode {
    let client = new_client();
    let page = client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_from(&page).unwrap();
    client
        .post(app.url("/login"))
        .header("x-forwarded-for", forwarded)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn next_never_leaves_tandem() {
    let app = TestApp::spawn().await;
    app.logged_in(Role::Merchant, "next@shop.test").await;
    for next in [
        "/\t/evil.example",
        "/\t\\evil.example",
        "/\\evil.example",
        "//evil.example",
        "/\u{b}/evil.example",
        "/\u{c}/evil.example",
        "https://evil.example/",
        " /\t/evil.example",
    ] {
        let client = new_client();
        let res = post_form_with(
            &client,
            &app.url("/login"),
            &app.url("/login"),
            &[
                ("email", "next@shop.test"),
                ("password", PASSWORD),
                ("next", next),
            ],
        )
        .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(location(&res), "/merchant/dashboard", "{next:?}");
    }
    // A page of Tandem is kept.
    let client = new_client();
    let res = post_form_with(
        &client,
        &app.url("/login"),
        &app.url("/login"),
        &[
            ("email", "next@shop.test"),
            ("password", PASSWORD),
            ("next", "/merchant/orders?state=pending"),
        ],
    )
    .await;
    assert_eq!(location(&res), "/merchant/orders?state=pending");
}

#[tokio::test]
async fn logout_ends_the_session_for_every_copy_of_its_cookie() {
    let app = TestApp::spawn().await;
    let (client, jar) = logged_in_with_jar(&app, "copied@creators.test").await;
    let copy = cookie_of(&app, &jar);
    assert_eq!(
        with_cookie(&app, &copy, "/influencer").await,
        StatusCode::OK
    );
    let res = app.logout_with(&client, "/influencer").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // The copy taken before the logout opens nothing any more, and posts nothing.
    assert_eq!(
        with_cookie(&app, &copy, "/influencer").await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        with_cookie(&app, &copy, "/account").await,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_account_page_lists_sessions_and_signs_out_others() {
    let app = TestApp::spawn().await;
    let (first, first_jar) = logged_in_with_jar(&app, "many@creators.test").await;
    // Two more logins of the same account elsewhere.
    let (second, third) = (new_client(), new_client());
    for c in [&second, &third] {
        let res = app.login_with(c, "many@creators.test", PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let page = first
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Where you are signed in"), "{page}");
    assert_eq!(page.matches("/sign-out\"").count(), 2, "two others");
    assert!(page.contains("This browser"));
    // Sign out one of them by its own button.
    let id = page
        .split("/account/sessions/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let res = post_form_with(
        &first,
        &app.url("/account"),
        &app.url(&format!("/account/sessions/{id}/sign-out")),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let statuses = [
        second
            .get(app.url("/influencer"))
            .send()
            .await
            .unwrap()
            .status(),
        third
            .get(app.url("/influencer"))
            .send()
            .await
            .unwrap()
            .status(),
    ];
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "one of the two others was signed out: {statuses:?}"
    );
    // Then all others.
    let res = post_form_with(
        &first,
        &app.url("/account"),
        &app.url("/account/sessions/sign-out-others"),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    for c in [&second, &third] {
        assert_eq!(
            c.get(app.url("/influencer")).send().await.unwrap().status(),
            StatusCode::SEE_OTHER
        );
    }
    let mine = cookie_of(&app, &first_jar);
    assert_eq!(
        with_cookie(&app, &mine, "/influencer").await,
        StatusCode::OK
    );

    // A password change signs out every other session too, and keeps this one.
    let other = new_client();
    app.login_with(&other, "many@creators.test", PASSWORD).await;
    let res = post_form_with(
        &first,
        &app.url("/account"),
        &app.url("/account/password"),
        &[
            ("current", PASSWORD),
            ("password", "a different long passphrase 42"),
            ("confirm", "a different long passphrase 42"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        other
            .get(app.url("/influencer"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        first
            .get(app.url("/influencer"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn failures_pause_one_account_from_one_address_not_everyone() {
    let app = TestApp::spawn().await;
    app.logged_in(Role::Influencer, "target@example.com").await;
    app.logged_in(Role::Influencer, "bystander@example.com")
        .await;
    for _ in 0..5 {
        let res = app
            .login_with(&new_client(), "target@example.com", "guess guess guess")
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app
        .login_with(&new_client(), "target@example.com", PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let html = res.text().await.unwrap();
    assert!(html.contains("try again in 15 minutes"), "{html}");
    // Someone else at the same address logs in.
    let res = app
        .login_with(&new_client(), "bystander@example.com", PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Sixty failures sprayed over other accounts from this address: the address is paused
    // for accounts never signed in from it, never for those that were.
    for i in 0..60 {
        app.login_with(
            &new_client(),
            &format!("spray{i}@example.com"),
            "guess guess guess",
        )
        .await;
    }
    let res = app
        .login_with(&new_client(), "bystander@example.com", PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app
        .login_with(&new_client(), "nobody-yet@example.com", PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // After the window the account can log in again.
    app.clock.advance(chrono::TimeDelta::minutes(16));
    let res = app
        .login_with(&new_client(), "target@example.com", PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Addresses are stored salted and hashed.
    let raw: i64 = app
        .state
        .db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::login_attempts as a;
            Ok(a::table
                .filter(a::ip.like("%127.0.0.1%"))
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(raw, 0);
}

#[tokio::test]
async fn concurrent_guesses_never_pass_the_limit() {
    let app = Arc::new(TestApp::spawn().await);
    app.logged_in(Role::Influencer, "raced@example.com").await;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.login_with(&new_client(), "raced@example.com", "guess guess guess")
                .await
                .status()
        }));
    }
    let mut checked = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(checked, 5, "exactly the limit of passwords was checked");
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    // Untrusted: a client cannot pick a new address for each guess.
    let app = TestApp::spawn().await;
    app.logged_in(Role::Influencer, "spoof@example.com").await;
    for i in 0..5 {
        login_from(
            &app,
            "spoof@example.com",
            "guess guess",
            &format!("198.51.100.{i}"),
        )
        .await;
    }
    assert_eq!(
        login_from(&app, "spoof@example.com", PASSWORD, "198.51.100.99").await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Behind a trusted proxy each client has its own address: one client's failures pause
    // only that client, until the account's looser limit across addresses.
    let app = TestApp::spawn_with(|s| {
        s.trusted_proxies = tandem::domain::net::parse_list("127.0.0.1/32, ::1").unwrap();
    })
    .await;
    app.logged_in(Role::Influencer, "proxied@example.com").await;
    for _ in 0..5 {
        login_from(&app, "proxied@example.com", "guess guess", "203.0.113.7").await;
    }
    assert_eq!(
        login_from(&app, "proxied@example.com", PASSWORD, "203.0.113.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_from(&app, "proxied@example.com", PASSWORD, "203.0.113.8").await,
        StatusCode::SEE_OTHER
    );
    for i in 0..20 {
        login_from(
            &app,
            "proxied@example.com",
            "guess guess",
            &format!("192.0.2.{i}"),
        )
        .await;
    }
    assert_eq!(
        login_from(&app, "proxied@example.com", PASSWORD, "192.0.2.200").await,
        StatusCode::TOO_MANY_REQUESTS,
        "20 failures from anywhere pause the account"
    );
}

#[tokio::test]
async fn the_password_change_form_is_throttled_too() {
    let app = TestApp::spawn().await;
    let client = app.logged_in(Role::Influencer, "screen@example.com").await;
    for _ in 0..5 {
        let res = post_form_with(
            &client,
            &app.url("/account"),
            &app.url("/account/password"),
            &[
                ("current", "a wrong guess"),
                ("password", "a different long passphrase 42"),
                ("confirm", "a different long passphrase 42"),
            ],
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let res = post_form_with(
        &client,
        &app.url("/account"),
        &app.url("/account/password"),
        &[
            ("current", PASSWORD),
            ("password", "a different long passphrase 42"),
            ("confirm", "a different long passphrase 42"),
        ],
    )
    .await;
    let html = res.text().await.unwrap();
    assert!(html.contains("Too many wrong passwords"), "{html}");
}

#[tokio::test]
async fn guessable_passwords_are_refused_with_a_reason() {
    let app = TestApp::spawn().await;
    for weak in ["aaaaaaaaaa", "password12", "weakling@creators.test"] {
        let res = post_form_with(
            &app.client,
            &app.url("/signup/influencer"),
            &app.url("/signup/influencer"),
            &[
                ("name", "Weak Ling"),
                ("handle", "weakling"),
                ("email", "weakling@creators.test"),
                ("password", weak),
            ],
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
        let html = res.text().await.unwrap();
        let why = if weak.contains('@') {
            "Do not use your email address"
        } else {
            "This password is too easy to guess"
        };
        assert!(html.contains(why), "{weak}: {html}");
    }
}

#[tokio::test]
async fn login_attempts_are_forgotten_after_30_days() {
    let app = TestApp::spawn().await;
    app.login_with(&new_client(), "who@example.com", "guess guess guess")
        .await;
    let count = || async {
        app.state
            .db(|conn| {
                use diesel::prelude::*;
                use tandem::db::schema::login_attempts as a;
                Ok(a::table.count().get_result::<i64>(conn)?)
            })
            .await
            .unwrap()
    };
    assert_eq!(count().await, 1);
    let later = app.clock_now() + chrono::TimeDelta::days(31);
    app.state
        .db(move |conn| tandem::service::accounts::forget_old_attempts(conn, later))
        .await
        .unwrap();
    assert_eq!(count().await, 0);
}

/// A failed sign-in sent with these header lines (each name may repeat, in order); the
/// address it was counted against, as stored (salted and hashed).
async fn counted_address(app: &TestApp, lines: &[(&str, &str)]) -> String {
    let client = new_client();
    let page = client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_from(&page).unwrap();
    let mut req = client.post(app.url("/login"));
    for (name, value) in lines {
        // `header` appends: a repeated name is sent as separate lines.
        req = req.header(*name, *value);
    }
    let res = req
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", "nobody@proxied.test"),
            ("password", "not the password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.with_db(|conn| {
        use diesel::prelude::*;
        use tandem::db::schema::login_attempts as a;
        Ok(a::table
            .order(a::id.desc())
            .select(a::ip)
            .first::<String>(conn)?)
    })
    .await
}

fn hashed(app: &TestApp, ip: &str) -> String {
    let ip: std::net::IpAddr = ip.parse().unwrap();
    tandem::domain::links::salted_hash_of(&app.state.click_salt, ip)
}

/// Behind HAProxy (which appends its own `X-Forwarded-For` line after whatever the client
/// sent), every line counts, in order: the right-most untrusted address is the client's,
/// and the one the client wrote first is never taken.
#[tokio::test]
async fn the_client_address_is_the_right_most_untrusted_over_every_forwarded_line() {
    let app = TestApp::spawn_with(|s| {
        s.trusted_proxies =
            tandem::domain::net::parse_list("127.0.0.1/32, ::1, 10.0.0.0/8").unwrap();
    })
    .await;
    for (lines, client) in [
        (
            vec![
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", "198.51.100.23"),
            ],
            "198.51.100.23",
        ),
        (
            vec![
                ("x-forwarded-for", "6.6.6.6, 7.7.7.7"),
                ("x-forwarded-for", "198.51.100.24"),
                ("x-forwarded-for", "10.0.0.3"),
            ],
            "198.51.100.24",
        ),
        (
            vec![("x-forwarded-for", "198.51.100.25, 10.0.0.9")],
            "198.51.100.25",
        ),
        // A client's Forwarded is not read when the proxy writes X-Forwarded-For.
        (
            vec![
                ("forwarded", "for=6.6.6.6"),
                ("x-forwarded-for", "198.51.100.26"),
            ],
            "198.51.100.26",
        ),
    ] {
        assert_eq!(
            counted_address(&app, &lines).await,
            hashed(&app, client),
            "{lines:?}"
        );
    }
    assert_ne!(
        counted_address(
            &app,
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", "198.51.100.23")
            ]
        )
        .await,
        hashed(&app, "6.6.6.6"),
        "the client's own first entry"
    );
}

/// With `TANDEM_CLIENT_IP_HEADER=forwarded` only RFC 7239 `Forwarded` is read, quoted IPv6
/// with a port too; a client's `X-Forwarded-For` no longer beats the proxy's `Forwarded`.
#[tokio::test]
async fn behind_a_proxy_that_sets_forwarded_only_forwarded_is_read() {
    let app = TestApp::spawn_with(|s| {
        s.trusted_proxies = tandem::domain::net::parse_list("127.0.0.1/32, ::1").unwrap();
        s.client_ip_header = tandem::domain::net::ForwardingHeader::Forwarded;
    })
    .await;
    for (lines, client) in [
        (
            vec![("forwarded", "for=\"[2001:db8::1]:4711\"")],
            "2001:db8::1",
        ),
        (
            vec![("forwarded", "for=192.0.2.60;proto=https;by=127.0.0.1")],
            "192.0.2.60",
        ),
        (
            vec![
                ("x-forwarded-for", "6.6.6.6"),
                ("forwarded", "for=\"192.0.2.61:51234\""),
            ],
            "192.0.2.61",
        ),
        (
            vec![
                ("forwarded", "for=6.6.6.6"),
                ("forwarded", "for=192.0.2.62"),
            ],
            "192.0.2.62",
        ),
        // No Forwarded at all: the proxy's own address, whatever X-Forwarded-For says.
        (vec![("x-forwarded-for", "6.6.6.6")], "127.0.0.1"),
    ] {
        assert_eq!(
            counted_address(&app, &lines).await,
            hashed(&app, client),
            "{lines:?}"
        );
    }
}
