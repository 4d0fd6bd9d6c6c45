//! The first pages of each area are editable and validated; own account settings.

use reqwest::StatusCode;
use tandem::domain::account::Role;

use crate::helpers::{PASSWORD, TestApp, get_with, location, new_client, post_form_with};

#[tokio::test]
async fn signup_validation_errors_are_shown_next_to_fields() {
    let app = TestApp::spawn().await;
    let res = app
        .post_form(
            "/signup/merchant",
            "/signup/merchant",
            &[
                ("name", ""),
                ("email", "not-an-email"),
                ("password", "short"),
                ("org_name", "X"),
                ("currency", "XYZ"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    for msg in [
        "Enter your name.",
        "Enter an email address like name@example.com.",
        "Use at least 10 characters.",
        "Enter your organisation&#39;s name",
        "unknown currency",
        "Please correct the 5 highlighted fields.",
    ] {
        assert!(html.contains(msg), "missing {msg:?}");
    }
    assert!(html.contains("value=\"not-an-email\""), "input kept");
    assert!(!html.contains("value=\"short\""), "password never echoed");
    assert_eq!(
        app.state
            .db(|c| Ok(tandem::db::users::count(c)?))
            .await
            .unwrap(),
        0,
        "nothing stored"
    );
}

#[tokio::test]
async fn merchant_settings_are_validated_and_saved() {
    let app = TestApp::spawn().await;
    let merchant = app.logged_in(Role::Merchant, "owner@teashop.test").await;
    let res = post_form_with(
        &merchant,
        &app.url("/merchant"),
        &app.url("/merchant/settings"),
        &[
            ("name", "T"),
            ("website", "javascript:alert(1)"),
            ("default_currency", "DOGE"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("Enter a web address starting with https://"));
    assert!(html.contains("unknown currency"));
    assert!(html.contains("at least 2 characters"));

    let res = post_form_with(
        &merchant,
        &app.url("/merchant"),
        &app.url("/merchant/settings"),
        &[
            ("name", "Tea <House> & Co"),
            ("website", "https://tea.example.com"),
            ("default_currency", "usd"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = get_with(&merchant, &app.url("/merchant"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Organisation settings saved."));
    assert!(
        html.contains("Tea &#60;House&#62; &#38; Co"),
        "names are escaped"
    );
    assert!(html.contains("https://tea.example.com/"));
    assert!(html.contains("<option value=\"USD\" selected>"));
}

#[tokio::test]
async fn influencer_profile_is_validated_and_saved() {
    let app = TestApp::spawn().await;
    let mia = app.logged_in(Role::Influencer, "mia@creators.test").await;
    app.logged_in(Role::Influencer, "taken@creators.test").await;
    let res = post_form_with(
        &mia,
        &app.url("/influencer"),
        &app.url("/influencer/profile"),
        &[
            ("display_name", "Mia"),
            ("handle", "taken"),
            ("bio", &"x".repeat(1001)),
            ("country", "ZZ"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("This handle is taken"));
    assert!(html.contains("Use at most 1,000 characters."));
    assert!(html.contains("Choose a country from the list."));

    let res = post_form_with(
        &mia,
        &app.url("/influencer"),
        &app.url("/influencer/profile"),
        &[
            ("display_name", "Mia Chen"),
            ("handle", "@Mia.Live"),
            ("bio", "Tea and slow mornings."),
            ("country", "CN"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = get_with(&mia, &app.url("/influencer"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("@mia.live"));
    assert!(html.contains("Tea and slow mornings."));
    assert!(html.contains("<option value=\"CN\" selected>"));
    assert!(
        !html.contains("a short bio"),
        "the bio is no longer missing"
    );
}

#[tokio::test]
async fn account_time_zone_and_password_change() {
    let app = TestApp::spawn().await;
    let client = app.logged_in(Role::Influencer, "tzuser@example.com").await;
    let other = new_client();
    assert_eq!(
        app.login_with(&other, "tzuser@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    let res = post_form_with(
        &client,
        &app.url("/account"),
        &app.url("/account"),
        &[("display_name", "Tee Zed"), ("time_zone", "Mars/Base")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Choose a time zone from the list.")
    );
    let res = post_form_with(
        &client,
        &app.url("/account"),
        &app.url("/account"),
        &[("display_name", "Tee Zed"), ("time_zone", "Asia/Shanghai")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = get_with(&client, &app.url("/account"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("<option value=\"Asia/Shanghai\" selected>"));
    assert!(html.contains("Tee Zed"));

    let res = post_form_with(
        &client,
        &app.url("/account"),
        &app.url("/account/password"),
        &[
            ("current", "wrong one!!"),
            ("password", "new password 123"),
            ("confirm", "new password 123"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("This is not your current password.")
    );
    let res = post_form_with(
        &client,
        &app.url("/account"),
        &app.url("/account/password"),
        &[
            ("current", PASSWORD),
            ("password", "new password 123"),
            ("confirm", "new password 123"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/account");
    // This session stays; the other one ends.
    assert_eq!(
        get_with(&client, &app.url("/account")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get_with(&other, &app.url("/account")).await.status(),
        StatusCode::SEE_OTHER
    );
    app.wait_for_email("tzuser@example.com", "password was changed")
        .await;
}
