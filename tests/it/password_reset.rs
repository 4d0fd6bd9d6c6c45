//! The forgotten-password flow end to end: the email is captured, its link works once and
//! expires after an hour; a reset ends other sessions.

use chrono::TimeDelta;
use reqwest::StatusCode;
use tandem::domain::account::Role;

use crate::helpers::{PASSWORD, TestApp, get_with, link_in, location, new_client, post_form_with};

const NEW_PASSWORD: &str = "a brand new password";

async fn request_reset(app: &TestApp, email: &str) -> String {
    let res = app
        .post_form("/forgot-password", "/forgot-password", &[("email", email)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Check your email"));
    let mail = app
        .wait_for_email(&email.to_lowercase(), "Reset your Tandem password")
        .await;
    assert!(
        mail.html.contains("/reset-password?token="),
        "HTML body has the link"
    );
    link_in(&mail.text, &app.url("/reset-password?token="))
}

#[tokio::test]
async fn reset_link_sets_a_new_password_once() {
    let app = TestApp::spawn().await;
    let other_session = app
        .logged_in(Role::Influencer, "reset.me@example.com")
        .await;
    let link = request_reset(&app, "Reset.Me@example.com").await;

    let form = get_with(&app.client, &link).await;
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form.text().await.unwrap().contains("Choose a new password"));

    let token = link.split("token=").nth(1).unwrap().to_owned();
    // Mismatched confirmation: 422, token still usable.
    let res = post_form_with(
        &app.client,
        &link,
        &app.url("/reset-password"),
        &[
            ("token", &token),
            ("password", NEW_PASSWORD),
            ("confirm", "something else"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("The two passwords differ.")
    );

    let res = post_form_with(
        &app.client,
        &link,
        &app.url("/reset-password"),
        &[
            ("token", &token),
            ("password", NEW_PASSWORD),
            ("confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
    app.wait_for_email("reset.me@example.com", "password was changed")
        .await;

    // The link works once.
    let again = get_with(&app.client, &link).await;
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("This link no longer works")
    );
    let res = post_form_with(
        &app.client,
        &app.url("/forgot-password"),
        &app.url("/reset-password"),
        &[
            ("token", &token),
            ("password", "yet another password"),
            ("confirm", "yet another password"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::GONE);

    // Old password out, new password in; the session opened before the reset has ended.
    assert_eq!(
        app.login_with(&new_client(), "reset.me@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_with(&new_client(), "reset.me@example.com", NEW_PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        get_with(&other_session, &app.url("/influencer"))
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn reset_link_expires_after_an_hour() {
    let app = TestApp::spawn().await;
    app.logged_in(Role::Merchant, "late@example.com").await;
    let link = request_reset(&app, "late@example.com").await;
    app.clock.advance(TimeDelta::minutes(59));
    assert_eq!(
        get_with(&app.client, &link).await.status(),
        StatusCode::OK,
        "still valid at 59 minutes"
    );
    app.clock.advance(TimeDelta::minutes(2));
    assert_eq!(
        get_with(&app.client, &link).await.status(),
        StatusCode::GONE
    );
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let res = post_form_with(
        &app.client,
        &app.url("/forgot-password"),
        &app.url("/reset-password"),
        &[
            ("token", &token),
            ("password", NEW_PASSWORD),
            ("confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(
        app.login_with(&new_client(), "late@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn unknown_emails_get_the_same_page_and_no_email() {
    let app = TestApp::spawn().await;
    let res = app
        .post_form(
            "/forgot-password",
            "/forgot-password",
            &[("email", "ghost@example.com")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("If an account exists for")
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(app.emails_to("ghost@example.com").is_empty());
}

#[tokio::test]
async fn a_new_link_for_the_same_account_leaves_old_ones_valid_until_used() {
    let app = TestApp::spawn().await;
    app.logged_in(Role::Influencer, "twice@example.com").await;
    let first = request_reset(&app, "twice@example.com").await;
    app.clock.advance(TimeDelta::seconds(5));
    let res = app
        .post_form(
            "/forgot-password",
            "/forgot-password",
            &[("email", "twice@example.com")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    for _ in 0..50 {
        if app
            .emails_to("twice@example.com")
            .iter()
            .filter(|e| e.subject.contains("Reset"))
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let second = link_in(
        &app.emails_to("twice@example.com").last().unwrap().text,
        &app.url("/reset-password?token="),
    );
    assert_ne!(first, second);
    let token = second.split("token=").nth(1).unwrap().to_owned();
    let res = post_form_with(
        &app.client,
        &second,
        &app.url("/reset-password"),
        &[
            ("token", &token),
            ("password", NEW_PASSWORD),
            ("confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Using one link ends the others.
    assert_eq!(
        get_with(&app.client, &first).await.status(),
        StatusCode::GONE
    );
}

#[tokio::test]
async fn reset_emails_are_limited_to_three_an_hour() {
    let app = TestApp::spawn().await;
    app.logged_in(Role::Influencer, "flooded@example.com").await;
    for _ in 0..5 {
        let res = app
            .post_form(
                "/forgot-password",
                "/forgot-password",
                &[("email", "flooded@example.com")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "the page never tells");
        app.clock.advance(TimeDelta::seconds(1));
    }
    let count = || {
        app.emails_to("flooded@example.com")
            .into_iter()
            .filter(|e| e.subject.contains("Reset"))
            .count()
    };
    for _ in 0..50 {
        if count() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(count(), 3);
    app.clock.advance(TimeDelta::minutes(61));
    app.post_form(
        "/forgot-password",
        "/forgot-password",
        &[("email", "flooded@example.com")],
    )
    .await;
    for _ in 0..50 {
        if count() == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(count(), 4, "a new hour, a new link");
}

/// A password that holds the organisation's name or the email address is refused wherever
/// a password is set: sign-up, reset, change (and joining a team: tests/it/team.rs).
#[tokio::test]
async fn passwords_holding_the_organisation_or_the_email_are_refused_everywhere() {
    let app = TestApp::spawn().await;
    let client = new_client();
    let signup = |password: &'static str| {
        let client = client.clone();
        let app = &app;
        async move {
            post_form_with(
                &client,
                &app.url("/signup/merchant"),
                &app.url("/signup/merchant"),
                &[
                    ("name", "Lena Berg"),
                    ("email", "lena@harbour.test"),
                    ("password", password),
                    ("org_name", "Harbour Tea Works"),
                    ("currency", "EUR"),
                ],
            )
            .await
        }
    };
    for (password, why) in [
        ("Harbour Tea Works rocks 2027!", "your organisation"),
        ("my-harbourteaworks-password", "your organisation"),
        ("lena@harbour.test is my login", "email address"),
        ("LENA sings by the quay at 9", "email address"),
    ] {
        let res = signup(password).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{password}");
        let html = res.text().await.unwrap();
        assert!(html.contains(why), "{password}: {html}");
    }
    let res = signup(PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // Changing it: the organisation is known from the membership.
    for password in [
        "harbour tea works forever and ever",
        "lena lena lena tea kettle",
    ] {
        let res = post_form_with(
            &client,
            &app.url("/account"),
            &app.url("/account/password"),
            &[
                ("current", PASSWORD),
                ("password", password),
                ("confirm", password),
            ],
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{password}");
    }

    // Resetting it.
    let link = request_reset(&app, "lena@harbour.test").await;
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let res = post_form_with(
        &new_client(),
        &link,
        &app.url("/reset-password"),
        &[
            ("token", &token),
            ("password", "Harbour Tea Works 2028 at last"),
            ("confirm", "Harbour Tea Works 2028 at last"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("your organisation"));
    let res = post_form_with(
        &new_client(),
        &link,
        &app.url("/reset-password"),
        &[
            ("token", &token),
            ("password", NEW_PASSWORD),
            ("confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the link still works");
}
