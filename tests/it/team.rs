//! A merchant's team: the owner invites by email, the invitee joins by the link (once, for
//! 7 days), members cannot invite or remove, a removed member is signed out and disabled,
//! and the organisation's history records each step.

use chrono::TimeDelta;
use reqwest::{Client, StatusCode};
use tandem::domain::account::Role;

use crate::helpers::{PASSWORD, TestApp, get_with, link_in, location, new_client, post_form_with};

const OWNER: &str = "owner@team.test";
const MATE: &str = "mate@team.test";
const MATE_PASSWORD: &str = "steeped oolong harbour";

impl TestApp {
    /// Sends an invitation from the owner's organisation page; the answer.
    async fn invite(&self, owner: &Client, email: &str) -> reqwest::Response {
        post_form_with(
            owner,
            &self.url("/merchant"),
            &self.url("/merchant/team/invite"),
            &[("email", email)],
        )
        .await
    }

    /// The link of the `nth` invitation emailed to `to` (from 1; a path, `/join?token=…`).
    async fn invitation_link(&self, to: &str, nth: usize) -> String {
        self.wait_for_email(to, "on Tandem").await;
        let mut sent = self.emails_to(to);
        for _ in 0..100 {
            if sent.len() >= nth {
                break;
            }
            self.state.wake_mailer();
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            sent = self.emails_to(to);
        }
        let email = &sent[nth - 1];
        let url = link_in(&email.text, &format!("{}/join?token=", self.address));
        url.trim_start_matches(&self.address).to_owned()
    }

    /// Joins by the link with a name and password; the new member's client and the answer.
    async fn join(&self, link: &str, name: &str, password: &str) -> (Client, reqwest::Response) {
        let c = new_client();
        let token = link.split("token=").nth(1).unwrap_or_default().to_owned();
        // The CSRF token from the login page: a dead link's page has no form.
        let res = post_form_with(
            &c,
            &self.url("/login"),
            &self.url("/join"),
            &[("token", &token), ("name", name), ("password", password)],
        )
        .await;
        (c, res)
    }
}

impl TestApp {
    /// A teammate in the owner's organisation (invited and joined); their client and id.
    pub(crate) async fn teammate(
        &self,
        owner: &Client,
        email: &str,
        name: &str,
        nth: usize,
    ) -> (Client, i64) {
        assert_eq!(
            self.invite(owner, email).await.status(),
            StatusCode::SEE_OTHER
        );
        let link = self.invitation_link(email, nth).await;
        let (mate, res) = self.join(&link, name, MATE_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{email} joins");
        let email = email.to_owned();
        let id = self
            .with_db(move |conn| Ok(tandem::db::users::find_by_email(conn, &email)?.unwrap().id))
            .await;
        (mate, id)
    }

    /// The owner removes a member from the organisation page; the answer.
    pub(crate) async fn remove_member(&self, owner: &Client, user_id: i64) -> reqwest::Response {
        post_form_with(
            owner,
            &self.url("/merchant"),
            &self.url(&format!("/merchant/team/members/{user_id}/remove")),
            &[],
        )
        .await
    }
}

async fn page(c: &Client, app: &TestApp, path: &str) -> String {
    get_with(c, &app.url(path)).await.text().await.unwrap()
}

#[tokio::test]
async fn the_owner_invites_a_teammate_who_joins_once_and_can_be_removed() {
    let app = TestApp::spawn().await;
    let owner = app.logged_in(Role::Merchant, OWNER).await;
    let org = page(&owner, &app, "/merchant").await;
    assert!(org.contains("Invite a teammate"), "{org}");

    // A bad address comes back on the page with the message; nothing is sent.
    let res = app.invite(&owner, "not an address").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("class=\"mainnav\"") && html.contains("id=\"e-email\""));
    assert!(html.contains("value=\"not an address\""));

    let res = app.invite(&owner, MATE).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/merchant#team");
    let link = app.invitation_link(MATE, 1).await;
    let html = page(&new_client(), &app, &link).await;
    assert!(html.contains("Join Org owner@team.test on Tandem") && html.contains(MATE));
    // The organisation lists it as pending.
    let org = page(&owner, &app, "/merchant").await;
    assert!(org.contains("Invitations not yet accepted") && org.contains(MATE));

    // A weak password is refused, the name kept; so is one holding the organisation's
    // name; then the invitee joins.
    let (_, res) = app.join(&link, "Mei Teammate", "password").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("value=\"Mei Teammate\""));
    let (_, res) = app
        .join(&link, "Mei Teammate", "Org owner@team.test is where I work")
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("use your organisation"));
    let (mate, res) = app.join(&link, "Mei Teammate", MATE_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/merchant");
    let theirs = page(&mate, &app, "/merchant").await;
    assert!(theirs.contains("Org owner@team.test") && theirs.contains("Mei Teammate"));
    assert!(
        !theirs.contains("Invite a teammate") && !theirs.contains("/remove\""),
        "members neither invite nor remove"
    );
    // They work in the organisation's area (its campaigns).
    assert_eq!(
        get_with(&mate, &app.url("/merchant/campaigns"))
            .await
            .status(),
        StatusCode::OK
    );

    // The link works once.
    assert_eq!(
        get_with(&new_client(), &app.url(&link)).await.status(),
        StatusCode::GONE
    );
    let (_, res) = app.join(&link, "Someone Else", MATE_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::GONE);

    // A member cannot invite or remove.
    let res = post_form_with(
        &mate,
        &app.url("/merchant"),
        &app.url("/merchant/team/invite"),
        &[("email", "third@team.test")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let owner_id = app
        .state
        .db(|conn| Ok(tandem::db::users::find_by_email(conn, OWNER)?.unwrap().id))
        .await
        .unwrap();
    let mate_id = app
        .state
        .db(|conn| Ok(tandem::db::users::find_by_email(conn, MATE)?.unwrap().id))
        .await
        .unwrap();
    let res = post_form_with(
        &mate,
        &app.url("/merchant"),
        &app.url(&format!("/merchant/team/members/{owner_id}/remove")),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The owner removes the member: signed out at once, and the password no longer works.
    let res = post_form_with(
        &owner,
        &app.url("/merchant"),
        &app.url(&format!("/merchant/team/members/{mate_id}/remove")),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = get_with(&mate, &app.url("/merchant")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/login"));
    let res = app.login_with(&new_client(), MATE, MATE_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a disabled account");

    // Invited again, the same address comes back with a new password.
    assert_eq!(
        app.invite(&owner, MATE).await.status(),
        StatusCode::SEE_OTHER
    );
    let again = app.invitation_link(MATE, 2).await;
    assert_ne!(again, link);
    let (_, res) = app
        .join(&again, "Mei Again", "another long passphrase 7")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app
        .login_with(&new_client(), MATE, "another long passphrase 7")
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // The history holds every step, newest first.
    let org = page(&owner, &app, "/merchant").await;
    let history = org
        .split("Team history")
        .nth(1)
        .unwrap()
        .split("</ul>")
        .next()
        .unwrap();
    let steps: Vec<&str> = history
        .split("</li>")
        .filter_map(|li| li.split(" · ").nth(1))
        .collect();
    assert_eq!(
        steps,
        [
            "Mei Again &#60;mate@team.test&#62; joined by invitation",
            "invited mate@team.test",
            "removed Mei Teammate &#60;mate@team.test&#62;",
            "Mei Teammate &#60;mate@team.test&#62; joined by invitation",
            "invited mate@team.test",
            "merchant organisation created",
        ]
    );
}

#[tokio::test]
async fn invitations_expire_can_be_withdrawn_and_never_take_an_existing_account() {
    let app = TestApp::spawn().await;
    let owner = app.logged_in(Role::Merchant, OWNER).await;

    // An address with an account of its own (another role) cannot be invited.
    app.logged_in(Role::Influencer, "creator@team.test").await;
    let res = app.invite(&owner, "creator@team.test").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("already has a Tandem account")
    );

    // Expired after 7 days.
    assert_eq!(
        app.invite(&owner, MATE).await.status(),
        StatusCode::SEE_OTHER
    );
    let link = app.invitation_link(MATE, 1).await;
    app.clock
        .advance(TimeDelta::days(7) + TimeDelta::seconds(1));
    assert_eq!(
        get_with(&new_client(), &app.url(&link)).await.status(),
        StatusCode::GONE
    );
    let org = page(&owner, &app, "/merchant").await;
    assert!(org.contains("expired: send it again"), "{org}");

    // Withdrawn: the link stops working at once.
    assert_eq!(
        app.invite(&owner, "late@team.test").await.status(),
        StatusCode::SEE_OTHER
    );
    let link = app.invitation_link("late@team.test", 1).await;
    let org = page(&owner, &app, "/merchant").await;
    let id = org
        .split("action=\"/merchant/team/invitations/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let res = post_form_with(
        &owner,
        &app.url("/merchant"),
        &app.url(&format!("/merchant/team/invitations/{id}/revoke")),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, res) = app.join(&link, "Late Comer", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::GONE);
    let org = page(&owner, &app, "/merchant").await;
    assert!(org.contains("withdrew the invitation to late@team.test"));
}

/// The organisation's valid postback secrets (newest first) and its Shopify secret, as
/// stored.
async fn secrets_of(app: &TestApp, owner_email: &str) -> (Vec<String>, Option<String>) {
    let email = owner_email.to_owned();
    let now = app.clock_now();
    app.with_db(move |conn| {
        let user = tandem::db::users::find_by_email(conn, &email)?.unwrap();
        let (org, _) = tandem::service::merchant::org_of(conn, user.id)?;
        Ok((
            tandem::db::orders::valid_secrets(conn, org.id, now)?
                .into_iter()
                .map(|s| s.secret)
                .collect(),
            tandem::db::orders::shopify_secret(conn, org.id)?,
        ))
    })
    .await
}

#[tokio::test]
async fn only_the_owner_makes_stops_and_saves_integration_secrets() {
    let app = TestApp::spawn().await;
    let owner = app.logged_in(Role::Merchant, OWNER).await;
    let (mate, _) = app.teammate(&owner, MATE, "Mei Teammate", 1).await;

    // A member's Integration page has no such buttons, and says who can.
    let html = page(&mate, &app, "/merchant/integration").await;
    assert!(
        !html.contains("action=\"/merchant/integration/secret\"")
            && !html.contains("action=\"/merchant/integration/retire\"")
            && !html.contains("action=\"/merchant/integration/shopify\""),
        "{html}"
    );
    assert!(html.contains("Only Owner Name, the owner, can make or stop postback secrets"));
    assert!(html.contains("Only Owner Name, the owner, can save it."));
    // Sent anyway, each is refused with a page that says why; nothing changes.
    for (action, fields) in [
        ("/merchant/integration/secret", vec![]),
        ("/merchant/integration/retire", vec![]),
        (
            "/merchant/integration/shopify",
            vec![("secret", "shpss_mine")],
        ),
    ] {
        let res = post_form_with(
            &mate,
            &app.url("/merchant/integration"),
            &app.url(action),
            &fields,
        )
        .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{action}");
        let body = res.text().await.unwrap();
        assert!(
            body.contains("Only the owner can do this")
                && body.contains("Only Owner Name, the owner of Org owner@team.test"),
            "{action}: {body}"
        );
        assert!(!body.contains("tps_"), "no secret shown");
    }
    assert_eq!(secrets_of(&app, OWNER).await, (vec![], None));

    // The owner can, and the page offers it.
    let html = page(&owner, &app, "/merchant/integration").await;
    assert!(html.contains("action=\"/merchant/integration/secret\""));
    let res = post_form_with(
        &owner,
        &app.url("/merchant/integration"),
        &app.url("/merchant/integration/secret"),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (secrets, _) = secrets_of(&app, OWNER).await;
    assert_eq!(secrets.len(), 1);
    assert!(res.text().await.unwrap().contains(&secrets[0]));
    let res = post_form_with(
        &owner,
        &app.url("/merchant/integration"),
        &app.url("/merchant/integration/shopify"),
        &[("secret", "shpss_owners")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        secrets_of(&app, OWNER).await.1.as_deref(),
        Some("shpss_owners")
    );
}

#[tokio::test]
async fn removing_a_member_shows_the_owner_the_secrets_they_knew_until_replaced() {
    let app = TestApp::spawn().await;
    let owner = app.logged_in(Role::Merchant, OWNER).await;
    let owner_id = app
        .with_db(|conn| Ok(tandem::db::users::find_by_email(conn, OWNER)?.unwrap().id))
        .await;
    let (_, mate_id) = app.teammate(&owner, MATE, "Mei Teammate", 1).await;
    app.clock.advance(TimeDelta::hours(1));
    // Before secrets were the owner's, the member made the postback secret and saved the
    // Shopify one (as every member could then).
    let now = app.clock_now();
    let made = app
        .with_db(move |conn| {
            let (org, _) = tandem::service::merchant::org_of(conn, owner_id)?;
            let s =
                tandem::service::orders::rotate_postback_secret(conn, now, org.id, Some(mate_id))?;
            tandem::db::orders::set_shopify_secret(
                conn,
                org.id,
                Some("shpss_meis"),
                Some(mate_id),
                now,
            )?;
            Ok(s)
        })
        .await;
    let prefix: String = made.chars().take(10).collect();
    app.clock.advance(TimeDelta::hours(1));
    // Nothing to warn of while they are on the team.
    assert!(
        !page(&owner, &app, "/merchant")
            .await
            .contains("Secrets a former team member knows")
    );

    let res = app.remove_member(&owner, mate_id).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = page(&owner, &app, "/merchant").await;
    assert!(
        html.contains("They know integration secrets that still work"),
        "the flash says so: {html}"
    );
    let warning = html
        .split("id=\"known-secrets\"")
        .nth(1)
        .expect("the warning")
        .split("</section>")
        .next()
        .unwrap();
    assert!(
        warning.contains(&format!(
            "Mei Teammate made the postback secret {prefix}…: it is your current secret and still works."
        )),
        "{warning}"
    );
    assert!(warning.contains("Mei Teammate saved the Shopify webhook secret"));
    assert!(warning.contains(">Rotate the postback secret</button>"));
    assert!(!warning.contains("Stop the older secret now"));

    // Rotating: the new one is the owner's; the member's still works for its grace days,
    // and the warning offers to stop it now.
    let res = post_form_with(
        &owner,
        &app.url("/merchant"),
        &app.url("/merchant/integration/secret"),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = page(&owner, &app, "/merchant").await;
    let warning = html
        .split("id=\"known-secrets\"")
        .nth(1)
        .expect("still warned");
    assert!(warning.contains(&format!(
        "Mei Teammate made the postback secret {prefix}…: it still works until"
    )));
    assert!(
        warning.contains("Stop the older secret now")
            && !warning.contains("Rotate the postback secret")
    );
    let res = post_form_with(
        &owner,
        &app.url("/merchant"),
        &app.url("/merchant/integration/retire"),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (secrets, _) = secrets_of(&app, OWNER).await;
    assert_eq!(secrets.len(), 1);
    assert_ne!(secrets[0], made, "the member's secret no longer works");
    let html = page(&owner, &app, "/merchant").await;
    let warning = html
        .split("id=\"known-secrets\"")
        .nth(1)
        .expect("Shopify left");
    assert!(
        !warning.contains("postback secret tps_") && warning.contains("Shopify webhook secret")
    );
    // A new Shopify secret from the owner: nothing left to warn of.
    let res = post_form_with(
        &owner,
        &app.url("/merchant/integration"),
        &app.url("/merchant/integration/shopify"),
        &[("secret", "shpss_new_owners")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        !page(&owner, &app, "/merchant")
            .await
            .contains("known-secrets")
    );
}

#[tokio::test]
async fn secrets_from_before_makers_were_kept_warn_only_of_members_on_the_team_then() {
    let app = TestApp::spawn().await;
    let owner = app.logged_in(Role::Merchant, OWNER).await;
    let owner_id = app
        .with_db(|conn| Ok(tandem::db::users::find_by_email(conn, OWNER)?.unwrap().id))
        .await;
    let (_, early) = app.teammate(&owner, MATE, "Mei Early", 1).await;
    app.clock.advance(TimeDelta::hours(1));
    // A secret whose maker is not known (made before Tandem kept it).
    let now = app.clock_now();
    let made = app
        .with_db(move |conn| {
            let (org, _) = tandem::service::merchant::org_of(conn, owner_id)?;
            tandem::service::orders::rotate_postback_secret(conn, now, org.id, None)
        })
        .await;
    let prefix: String = made.chars().take(10).collect();
    app.clock.advance(TimeDelta::hours(1));
    let (_, late) = app.teammate(&owner, "late@team.test", "Lou Late", 1).await;
    app.clock.advance(TimeDelta::hours(1));

    // Someone who joined after it was made never saw it.
    app.remove_member(&owner, late).await;
    assert!(
        !page(&owner, &app, "/merchant")
            .await
            .contains("known-secrets")
    );
    // Someone on the team when it was made may have made it.
    app.remove_member(&owner, early).await;
    let html = page(&owner, &app, "/merchant").await;
    let warning = html
        .split("id=\"known-secrets\"")
        .nth(1)
        .expect("the warning")
        .split("</section>")
        .next()
        .unwrap();
    assert!(
        warning.contains(&format!(
            "The postback secret {prefix}… was made while Mei Early was on the team, when every member could make one and saw it: they may know it"
        )),
        "{warning}"
    );
    assert!(!warning.contains("Lou Late"));
}
