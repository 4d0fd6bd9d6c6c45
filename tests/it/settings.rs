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
    // The email tells the time in the reader's zone (Asia/Shanghai by now), labelled.
    let email = app
        .wait_for_email("tzuser@example.com", "password was changed")
        .await;
    assert!(email.text.contains(" UTC+08:00, and"), "{}", email.text);
}

/// A new account's time zone: the one chosen (or detected by the browser), else the region's:
/// a merchant's currency's home zone, an influencer's country once set.
#[tokio::test]
async fn new_accounts_take_a_time_zone_from_their_choice_or_their_region() {
    let app = TestApp::spawn().await;
    let zone_of = |email: &'static str| {
        let state = app.state.clone();
        async move {
            state
                .db(move |conn| {
                    use diesel::prelude::*;
                    use tandem::db::schema::users;
                    Ok(users::table
                        .filter(users::email.eq(email))
                        .select(users::time_zone)
                        .first::<String>(conn)?)
                })
                .await
                .unwrap()
        }
    };
    // A CNY merchant with no zone sent (no JavaScript): China's.
    let c = new_client();
    let res = app
        .signup_merchant_with(&c, "Zone Tea", "zone@shop.test")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(zone_of("zone@shop.test").await, "Asia/Shanghai");
    // The form offers the zones, "Automatic" first.
    let form = app.get("/signup/influencer").await.text().await.unwrap();
    assert!(
        form.contains("<option value=\"\" selected>Automatic"),
        "{form}"
    );
    // A zone sent with the form is kept; a bad one is refused by name.
    let fields = |tz: &'static str| {
        vec![
            ("name", "Zoe Zone"),
            ("handle", "zoe.zone"),
            ("email", "zoe@creators.test"),
            ("password", PASSWORD),
            ("time_zone", tz),
        ]
    };
    let res = app
        .post_form(
            "/signup/influencer",
            "/signup/influencer",
            &fields("Mars/Base"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("id=\"e-time_zone\"") && html.contains("Choose a time zone from the list."),
        "{html}"
    );
    let res = app
        .post_form(
            "/signup/influencer",
            "/signup/influencer",
            &fields("Europe/Berlin"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(zone_of("zoe@creators.test").await, "Europe/Berlin");

    // An influencer on the UTC default takes their country's zone when they first set it.
    let i = app.logged_in(Role::Influencer, "kenji@creators.test").await;
    assert_eq!(zone_of("kenji@creators.test").await, "UTC");
    let res = post_form_with(
        &i,
        &app.url("/influencer"),
        &app.url("/influencer/profile"),
        &[
            ("display_name", "Kenji"),
            ("handle", "kenji"),
            ("bio", ""),
            ("country", "JP"),
        ],
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(zone_of("kenji@creators.test").await, "Asia/Tokyo");
}
