//! The outbox: emails are rows written with the change that causes them; the dispatcher
//! sends them and retries failures with backoff.

use chrono::TimeDelta;
use tandem::config::MailSettings;
use tandem::domain::account::Role;

use crate::helpers::TestApp;

async fn outbox(app: &TestApp) -> Vec<tandem::db::models::OutboxEmail> {
    app.state
        .db(|c| Ok(tandem::db::outbox::all(c)?))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_failed_send_is_retried_with_backoff() {
    // An SMTP server that is not there: every send fails.
    let app =
        TestApp::spawn_with(|s| s.mail = MailSettings::Smtp("smtp://127.0.0.1:9".to_owned())).await;
    app.logged_in(Role::Influencer, "retry@example.com").await;

    let mut rows = Vec::new();
    for _ in 0..100 {
        app.state.wake_mailer();
        rows = outbox(&app).await;
        if rows.first().is_some_and(|r| r.last_error.is_some()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let row = rows.first().expect("the welcome email is in the outbox");
    assert_eq!(row.kind, "welcome");
    assert_eq!(row.to_address, "retry@example.com");
    assert_eq!(row.attempts, 1);
    assert!(row.sent_at.is_none());
    assert!(row.last_error.is_some());
    assert_eq!(
        row.next_attempt_at - row.created_at,
        TimeDelta::seconds(30),
        "first retry after 30 s"
    );

    // Not due yet: nothing happens.
    let sent = tandem::jobs::mail::dispatch_once(&app.state).await.unwrap();
    assert_eq!(sent, 0);
    assert_eq!(outbox(&app).await[0].attempts, 1);

    // Due: tried again, next wait doubles.
    app.clock.advance(TimeDelta::seconds(31));
    tandem::jobs::mail::dispatch_once(&app.state).await.unwrap();
    let row = &outbox(&app).await[0];
    assert_eq!(row.attempts, 2);
    assert_eq!(
        row.next_attempt_at - app.clock_now(),
        TimeDelta::seconds(60)
    );
}

#[tokio::test]
async fn emails_are_sent_once() {
    let app = TestApp::spawn().await;
    app.logged_in(Role::Merchant, "once@example.com").await;
    app.wait_for_email("once@example.com", "Welcome").await;
    // Dispatching again (as a second app node would) sends nothing more.
    tandem::jobs::mail::dispatch_once(&app.state).await.unwrap();
    tandem::jobs::mail::dispatch_once(&app.state).await.unwrap();
    assert_eq!(app.emails_to("once@example.com").len(), 1);
    // The transport hands the email over before the dispatcher commits `sent_at`: wait for it.
    let mut rows = outbox(&app).await;
    for _ in 0..50 {
        if rows[0].sent_at.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        rows = outbox(&app).await;
    }
    let row = &rows[0];
    assert!(row.sent_at.is_some());
    assert_eq!(row.attempts, 1);
}

#[tokio::test]
async fn https_base_url_makes_the_session_cookie_secure() {
    let app = TestApp::spawn_with(|s| {
        s.base_url = Some(url::Url::parse("https://tandem.example.com").unwrap())
    })
    .await;
    let res = app.get("/login").await;
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(res.headers().get("strict-transport-security").is_some());
    // Links in emails use the public URL.
    app.logged_in(Role::Influencer, "secure@example.com").await;
    let mail = app.wait_for_email("secure@example.com", "Welcome").await;
    assert!(mail.text.contains("https://tandem.example.com/influencer"));
}
