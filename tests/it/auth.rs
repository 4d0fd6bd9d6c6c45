//! Sign-up, login, logout, wrong password, throttling and disabled accounts.

use reqwest::StatusCode;
use tandem::domain::account::Role;

use crate::helpers::{PASSWORD, TestApp, location, new_client, post_form_with};

#[tokio::test]
async fn influencer_signs_up_logs_out_and_logs_in() {
    let app = TestApp::spawn().await;
    let res = app
        .signup_influencer_with(&app.client, "Mia Chen", "mia.streams", "Mia@Example.com")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/influencer");

    let page = app.get("/influencer").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("@mia.streams"), "profile shows the handle");
    assert!(html.contains("Welcome to Tandem"), "flash after sign-up");

    let welcome = app.wait_for_email("mia@example.com", "Welcome").await;
    assert!(welcome.text.contains("Mia Chen"));
    assert!(welcome.html.contains("/influencer"));

    let res = app.logout_with(&app.client, "/influencer").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app.get("/influencer").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login?next=%2Finfluencer");

    let res = app
        .login_with(&app.client, "mia@example.com", PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/influencer/dashboard");
    assert_eq!(app.get("/influencer").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn merchant_signs_up_into_a_new_organisation() {
    let app = TestApp::spawn().await;
    let res = app
        .signup_merchant_with(&app.client, "Jade Leaf Tea", "owner@jadeleaf.test")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/merchant");
    let html = app.get("/merchant").await.text().await.unwrap();
    assert!(html.contains("Jade Leaf Tea"));
    assert!(
        html.contains("owner@jadeleaf.test"),
        "the owner is listed as a member"
    );
    assert!(html.contains("Owner"));

    // A second organisation with the same name gets its own slug.
    let other = new_client();
    let res = app
        .signup_merchant_with(&other, "Jade Leaf Tea", "second@jadeleaf.test")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = crate::helpers::get_with(&other, &app.url("/merchant"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("jade-leaf-tea-2"));
    assert!(
        !html.contains("owner@jadeleaf.test"),
        "members of another organisation are not shown"
    );
}

#[tokio::test]
async fn login_after_redirect_returns_to_the_page_asked_for() {
    let app = TestApp::spawn().await;
    app.staff(Role::Finance, "fin@tandem.test").await;
    let res = app.get("/finance?role=merchant").await;
    assert_eq!(location(&res), "/login?next=%2Ffinance%3Frole%3Dmerchant");
    let res = post_form_with(
        &app.client,
        &app.url("/login?next=%2Ffinance%3Frole%3Dmerchant"),
        &app.url("/login"),
        &[
            ("email", "fin@tandem.test"),
            ("password", PASSWORD),
            ("next", "/finance?role=merchant"),
        ],
    )
    .await;
    assert_eq!(location(&res), "/finance?role=merchant");

    // An outside `next` is ignored.
    let client = new_client();
    let res = post_form_with(
        &client,
        &app.url("/login"),
        &app.url("/login"),
        &[
            ("email", "fin@tandem.test"),
            ("password", PASSWORD),
            ("next", "//evil.example/x"),
        ],
    )
    .await;
    assert_eq!(location(&res), "/finance/dashboard");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.logged_in(Role::Influencer, "kai@example.com").await;
    let client = new_client();
    let wrong = app
        .login_with(&client, "kai@example.com", "not the password")
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_html = wrong.text().await.unwrap();
    assert!(wrong_html.contains("The email or password is incorrect."));
    assert!(
        wrong_html.contains("value=\"kai@example.com\""),
        "the email is kept in the form"
    );
    let unknown = app
        .login_with(&client, "nobody@example.com", "not the password")
        .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("The email or password is incorrect.")
    );
    assert_eq!(
        crate::helpers::get_with(&client, &app.url("/influencer"))
            .await
            .status(),
        StatusCode::SEE_OTHER,
        "not logged in"
    );
}

#[tokio::test]
async fn a_disabled_account_cannot_log_in_and_its_sessions_end() {
    let app = TestApp::spawn().await;
    let victim = app.logged_in(Role::Merchant, "shop@example.com").await;
    assert_eq!(
        crate::helpers::get_with(&victim, &app.url("/merchant"))
            .await
            .status(),
        StatusCode::OK
    );

    let admin = app.logged_in(Role::Admin, "root@tandem.test").await;
    let list = crate::helpers::get_with(&admin, &app.url("/admin?q=shop%40"))
        .await
        .text()
        .await
        .unwrap();
    let id = list
        .split("/admin/users/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .expect("a disable link")
        .to_owned();
    let confirm =
        crate::helpers::get_with(&admin, &app.url(&format!("/admin/users/{id}/disable"))).await;
    assert_eq!(confirm.status(), StatusCode::OK);
    assert!(
        confirm
            .text()
            .await
            .unwrap()
            .contains("Disable shop@example.com?")
    );
    let res = post_form_with(
        &admin,
        &app.url(&format!("/admin/users/{id}/disable")),
        &app.url(&format!("/admin/users/{id}/disable")),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let list = crate::helpers::get_with(&admin, &app.url("/admin"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        list.contains("shop@example.com is disabled"),
        "flash confirms"
    );

    // The open session ends at its next request.
    let res = crate::helpers::get_with(&victim, &app.url("/merchant")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // The right password no longer logs in.
    let res = app
        .login_with(&new_client(), "shop@example.com", PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("This account has been disabled")
    );

    // Enabled again, it can log in.
    let res = post_form_with(
        &admin,
        &app.url("/admin"),
        &app.url(&format!("/admin/users/{id}/enable")),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app
        .login_with(&new_client(), "shop@example.com", PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_admin_cannot_disable_themselves() {
    let app = TestApp::spawn().await;
    let admin = app.logged_in(Role::Admin, "only@tandem.test").await;
    let list = crate::helpers::get_with(&admin, &app.url("/admin"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !list.contains("/disable"),
        "no disable button on your own row"
    );
    let id = app
        .state
        .db(|conn| {
            Ok(tandem::db::users::find_by_email(conn, "only@tandem.test")?
                .unwrap()
                .id)
        })
        .await
        .unwrap();
    let res = post_form_with(
        &admin,
        &app.url("/admin"),
        &app.url(&format!("/admin/users/{id}/disable")),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let list = crate::helpers::get_with(&admin, &app.url("/admin"))
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains("You cannot disable your own account."));
    assert_eq!(
        crate::helpers::get_with(&admin, &app.url("/admin"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn duplicate_email_and_handle_are_field_errors() {
    let app = TestApp::spawn().await;
    app.logged_in(Role::Influencer, "taken@example.com").await;
    let res = app
        .signup_influencer_with(&new_client(), "Other", "other_handle", "TAKEN@example.com")
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("An account with this email already exists")
    );
    let res = app
        .signup_influencer_with(&new_client(), "Other", "taken", "fresh@example.com")
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("This handle is taken"));
}
