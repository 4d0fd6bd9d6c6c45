//! Each role is refused from the others' areas; anonymous users are sent to log in.

use reqwest::StatusCode;
use tandem::domain::account::Role;

use crate::helpers::{TestApp, get_with, location};

const AREAS: [(&str, Role); 4] = [
    ("/merchant", Role::Merchant),
    ("/influencer", Role::Influencer),
    ("/finance", Role::Finance),
    ("/admin", Role::Admin),
];

#[tokio::test]
async fn anonymous_users_are_sent_to_log_in() {
    let app = TestApp::spawn().await;
    for (path, _) in AREAS.iter().chain(&[("/account", Role::Admin)]) {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&res).starts_with("/login?next="), "{path}");
    }
}

#[tokio::test]
async fn each_role_reaches_only_its_own_area() {
    let app = TestApp::spawn().await;
    for (_, role) in AREAS {
        let email = format!("{}@roles.test", role.as_str());
        let client = app.logged_in(role, &email).await;
        for (path, owner) in AREAS {
            let status = get_with(&client, &app.url(path)).await.status();
            // Admins may also open the finance area.
            let allowed = owner == role || (role == Role::Admin && owner == Role::Finance);
            let expected = if allowed {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, expected, "{role} opening {path}");
        }
        assert_eq!(
            get_with(&client, &app.url("/account")).await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn role_actions_are_refused_to_other_roles() {
    let app = TestApp::spawn().await;
    let influencer = app.logged_in(Role::Influencer, "creator@roles.test").await;
    let finance = app.logged_in(Role::Finance, "money@roles.test").await;
    let target_id = app
        .state
        .db(|conn| {
            Ok(
                tandem::db::users::find_by_email(conn, "creator@roles.test")?
                    .unwrap()
                    .id,
            )
        })
        .await
        .unwrap();
    // Finance sees accounts but cannot disable them: 403 even with a valid CSRF token.
    let res = crate::helpers::post_form_with(
        &finance,
        &app.url("/finance"),
        &app.url(&format!("/admin/users/{target_id}/disable")),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // An influencer cannot post merchant settings.
    let res = crate::helpers::post_form_with(
        &influencer,
        &app.url("/influencer"),
        &app.url("/merchant/settings"),
        &[
            ("name", "Hijack"),
            ("website", ""),
            ("default_currency", "USD"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let still = get_with(&influencer, &app.url("/influencer")).await;
    assert_eq!(still.status(), StatusCode::OK);
}

#[tokio::test]
async fn admin_pages_for_missing_users_are_404() {
    let app = TestApp::spawn().await;
    let admin = app.logged_in(Role::Admin, "boss@roles.test").await;
    assert_eq!(
        get_with(&admin, &app.url("/admin/users/999999/disable"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_with(&admin, &app.url("/admin/users/abc/disable"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn finance_sees_accounts_with_filters_and_pages() {
    let app = TestApp::spawn().await;
    for i in 0..27 {
        app.logged_in(Role::Influencer, &format!("creator{i:02}@list.test"))
            .await;
    }
    app.logged_in(Role::Merchant, "shop@list.test").await;
    let finance = app.logged_in(Role::Finance, "books@list.test").await;

    let page1 = get_with(&finance, &app.url("/finance?role=influencer&sort=email"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page1.contains("27 accounts match the filters"),
        "count shown"
    );
    assert!(page1.contains("creator00@list.test"));
    assert!(!page1.contains("creator26@list.test"), "25 a page");
    assert!(!page1.contains("shop@list.test"), "filtered by role");
    assert!(page1.contains("Page 1 of 2"));
    assert!(
        page1.contains("href=\"/finance?role=influencer&#38;sort=email&#38;page=2\""),
        "next link keeps the filters"
    );
    let page2 = get_with(
        &finance,
        &app.url("/finance?role=influencer&sort=email&page=2"),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(page2.contains("creator26@list.test"));

    let search = get_with(&finance, &app.url("/finance?q=SHOP"))
        .await
        .text()
        .await
        .unwrap();
    assert!(search.contains("shop@list.test"));
    assert!(search.contains("Org shop@list.test"), "organisation shown");
    assert!(!search.contains("creator01@list.test"));
    assert!(
        !search.contains("/disable"),
        "finance has no disable action"
    );

    let none = get_with(&finance, &app.url("/finance?q=zzz_nobody"))
        .await
        .text()
        .await
        .unwrap();
    assert!(none.contains("No account matches these filters"));
    // LIKE wildcards in the search are literal.
    let pct = get_with(&finance, &app.url("/finance?q=%25"))
        .await
        .text()
        .await
        .unwrap();
    assert!(pct.contains("No account matches these filters"));
}
