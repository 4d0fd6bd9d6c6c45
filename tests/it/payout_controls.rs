//! Payout controls that hold (issue 27 §3): maker-checker through the scheduler, the
//! destination a payout was approved with, export as a POST, strict bank result files, the
//! database guarding payouts, finance's actions kept from admins, the lifecycle kept, one
//! rule for the due slot, and empty runs closed at once.

use chrono::TimeDelta;
use reqwest::StatusCode;
use tandem::service::payouts::{self, RunOutcome, ScheduleForm, Settlement};

use crate::helpers::{TestApp, csrf_from, get_with, location, post_form_with};
use crate::payouts::{demo_client, text, user_id};

const FARAH: &str = "finance@demo.tandem.test";
const CHEN: &str = "checker@demo.tandem.test";

impl TestApp {
    /// The `seen` digest the run page's approve form carries for this client.
    async fn seen_on(&self, client: &reqwest::Client, run_id: i64) -> String {
        let (_, html) = text(client, self, &format!("/finance/payouts/{run_id}")).await;
        html.split("name=\"seen\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_else(|| panic!("no approve form on run {run_id}: {html}"))
            .to_owned()
    }

    /// A run's state, read from the database.
    async fn run_state(&self, run_id: i64) -> String {
        self.with_db(move |conn| Ok(tandem::db::payouts::run(conn, run_id)?.unwrap().state))
            .await
    }

    /// The demo's draft CNY run cancelled (its balances free again), by the checker.
    async fn cancel_demo_cny_run(&self) {
        let run_id = self.demo_cny_run().await;
        let now = self.clock_now();
        self.with_db(move |conn| {
            let who = user_id(conn, CHEN);
            payouts::cancel(conn, now, who, run_id)
        })
        .await;
    }
}

#[tokio::test]
async fn a_run_the_scheduler_makes_needs_a_checker_other_than_who_changed_its_schedule() {
    let app = TestApp::demo().await;
    app.cancel_demo_cny_run().await;
    let farah = demo_client(&app, FARAH).await;
    let chen = demo_client(&app, CHEN).await;
    // Farah edits the CNY schedule to fire every minute, and the scheduler makes the run.
    let schedule = app
        .with_db(|conn| Ok(tandem::db::payouts::schedule_by_name(conn, "Weekly CNY")?.unwrap()))
        .await;
    let form = ScheduleForm {
        cron: "0 * * * * *".into(),
        every: "custom".into(),
        ..ScheduleForm::from_schedule(&schedule)
    };
    let edit = format!("/finance/schedules/{}", schedule.id);
    let fields = [
        ("name", form.name.as_str()),
        ("cron", form.cron.as_str()),
        ("time_zone", form.time_zone.as_str()),
        ("currency", form.currency.as_str()),
        ("minimum", form.minimum.as_str()),
        ("active", "on"),
    ];
    let res = post_form_with(&farah, &app.url(&edit), &app.url(&edit), &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    app.clock.advance(TimeDelta::minutes(2));

    // A run Chen starts by hand: neither Chen (who started it) nor Farah (who last changed
    // its schedule) approves it, and the page offers neither of them the button.
    let run_now = post_form_with(
        &chen,
        &app.url("/finance/payouts"),
        &app.url("/finance/payouts/run"),
        &[("schedule_id", &schedule.id.to_string())],
    )
    .await;
    let page = location(&run_now);
    let by_hand: i64 = page.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(app.run_state(by_hand).await, "draft");
    for (email, client) in [(CHEN, &chen), (FARAH, &farah)] {
        let (_, html) = text(client, &app, &page).await;
        assert!(
            !html.contains("/approve\""),
            "{email} may not approve: {html}"
        );
        let now = app.clock_now();
        let refused = app
            .state
            .db(move |conn| {
                let who = user_id(conn, email);
                payouts::approve(conn, now, who, by_hand, true)
            })
            .await;
        assert!(
            matches!(refused, Err(tandem::error::AppError::Conflict(_))),
            "{email}"
        );
    }
    let now = app.clock_now();
    app.with_db(move |conn| {
        let who = user_id(conn, CHEN);
        payouts::cancel(conn, now, who, by_hand)
    })
    .await;

    // The next slot, made by the scheduler: Farah, who changed the schedule, still may not
    // approve it; she is not asked to review it; Chen approves it.
    app.clock.advance(TimeDelta::minutes(1));
    let now = app.clock_now();
    let made = app
        .with_db(move |conn| payouts::run_due(conn, now, ""))
        .await;
    let run = made
        .iter()
        .find(|r| r.schedule_id == schedule.id)
        .expect("the scheduler made the run")
        .clone();
    assert_eq!(
        (run.state.as_str(), run.started_by),
        ("draft", None),
        "made by the scheduler, with payouts"
    );
    let page = format!("/finance/payouts/{}", run.id);
    let (_, html) = text(&farah, &app, &page).await;
    assert!(
        html.contains("You last changed the schedule that made this run")
            && !html.contains("/approve\""),
        "{html}"
    );
    let res = post_form_with(
        &farah,
        &app.url(&page),
        &app.url(&format!("{page}/approve")),
        &[("seen", "")],
    )
    .await;
    assert_eq!(location(&res), page);
    assert_eq!(app.run_state(run.id).await, "draft");
    let ready = format!("Payout run ready for review: {}", schedule.name);
    let link = format!("/finance/payouts/{}", run.id);
    let chen_told = app
        .wait_for_email_where(|e| e.to == CHEN && e.subject == ready && e.text.contains(&link))
        .await;
    assert!(chen_told.text.contains("Review and approve it"));
    assert!(
        app.emails_to(FARAH)
            .iter()
            .all(|e| !e.text.contains(&format!("/finance/payouts/{}", run.id))),
        "the maker is not asked to check her own run"
    );
    let seen = app.seen_on(&chen, run.id).await;
    post_form_with(
        &chen,
        &app.url(&page),
        &app.url(&format!("{page}/approve")),
        &[("seen", &seen)],
    )
    .await;
    assert_eq!(app.run_state(run.id).await, "approved");
}

#[tokio::test]
async fn an_approved_payout_pays_the_destination_it_was_approved_with() {
    let app = TestApp::demo().await;
    let run_id = app.demo_cny_run().await;
    let page = format!("/finance/payouts/{run_id}");
    let chen = demo_client(&app, CHEN).await;
    // The creator the run pays (every demo account has the demo password).
    let payee = app
        .with_db(move |conn| {
            use diesel::prelude::*;
            use tandem::db::schema::{influencers, users};
            let p = tandem::db::payouts::payouts_of_run(conn, run_id)?
                .remove(0)
                .0;
            Ok(users::table
                .inner_join(influencers::table.on(influencers::user_id.eq(users::id)))
                .filter(influencers::id.eq(p.influencer_id))
                .select(users::email)
                .first::<String>(conn)?)
        })
        .await;
    let mia = demo_client(&app, &payee).await;
    let (_, html) = text(&chen, &app, &page).await;
    assert!(html.contains("PayPal c***@paypal.example"), "{html}");
    let seen = app.seen_on(&chen, run_id).await;

    // A change of where the money goes asks for the password.
    let bank = |password: &'static str| {
        vec![
            ("method", "bank"),
            ("currency", "CNY"),
            ("account_holder", "Mia Chen"),
            ("bank_name", "Bank of China"),
            ("account_number", "6222 0000 1111 2222"),
            ("current_password", password),
        ]
    };
    for (password, why) in [
        ("", "Enter your password"),
        ("wrong one", "not your password"),
    ] {
        let res = post_form_with(
            &mia,
            &app.url("/influencer"),
            &app.url("/influencer/payout"),
            &bank(password),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = res.text().await.unwrap();
        assert!(
            html.contains("id=\"e-current_password\"") && html.contains(why),
            "{html}"
        );
    }
    let res = post_form_with(
        &mia,
        &app.url("/influencer"),
        &app.url("/influencer/payout"),
        &bank(tandem::service::demo::DEMO_PASSWORD),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let mail = app
        .wait_for_email(&payee, "Your payout details were changed")
        .await;
    assert!(
        mail.text.contains("****2222") && mail.text.contains("1 payout awaiting approval"),
        "{}",
        mail.text
    );
    assert!(!mail.text.contains("6222000011112222"), "never in full");

    // The run still awaited approval: its payout now goes to the new account, and an
    // approval of what the checker saw before is refused.
    let res = post_form_with(
        &chen,
        &app.url(&page),
        &app.url(&format!("{page}/approve")),
        &[("seen", &seen)],
    )
    .await;
    assert_eq!(location(&res), page);
    let (_, html) = text(&chen, &app, &page).await;
    assert!(
        html.contains("payout details changed since you opened this run")
            && html.contains("Bank of China ****2222 · Mia Chen"),
        "{html}"
    );
    assert_eq!(app.run_state(run_id).await, "draft");
    let seen = app.seen_on(&chen, run_id).await;
    post_form_with(
        &chen,
        &app.url(&page),
        &app.url(&format!("{page}/approve")),
        &[("seen", &seen)],
    )
    .await;
    assert_eq!(app.run_state(run_id).await, "approved");

    // After approval Mia switches to PayPal: the approved payout still pays the bank account
    // it was approved with.
    let res = post_form_with(
        &mia,
        &app.url("/influencer"),
        &app.url("/influencer/payout"),
        &[
            ("method", "paypal"),
            ("currency", "CNY"),
            ("paypal_email", "someone.else@paypal.example"),
            ("current_password", tandem::service::demo::DEMO_PASSWORD),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Exporting is a POST: the GET of an approved run's file is refused and changes nothing,
    // and a POST without the form's token is refused.
    let res = get_with(&chen, &app.url(&format!("{page}/bank.csv"))).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(app.run_state(run_id).await, "approved");
    let res = chen
        .post(app.url(&format!("{page}/export")))
        .form(&[("format", "bank")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.run_state(run_id).await, "approved");
    let res = post_form_with(
        &chen,
        &app.url(&page),
        &app.url(&format!("{page}/export")),
        &[("format", "bank")],
    )
    .await;
    assert_eq!(location(&res), format!("{page}?download=bank"));
    assert_eq!(app.run_state(run_id).await, "exported");
    let file = get_with(&chen, &app.url(&format!("{page}/bank.csv")))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        file.contains("6222000011112222") && !file.contains("someone.else"),
        "{file}"
    );
    // Downloading again changes nothing and gives the same file.
    let again = get_with(&chen, &app.url(&format!("{page}/bank.csv")))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(again, file);
    assert_eq!(app.run_state(run_id).await, "exported");
}

/// Posts a raw url-encoded body with the page's CSRF token (for bytes a form would not send).
async fn post_raw(
    app: &TestApp,
    client: &reqwest::Client,
    page: &str,
    to: &str,
    rest: &str,
) -> reqwest::Response {
    let html = get_with(client, &app.url(page)).await.text().await.unwrap();
    let token = csrf_from(&html).expect("a CSRF token on the page");
    client
        .post(app.url(to))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={token}&{rest}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_result_file_that_does_not_read_exactly_is_refused_whole() {
    let app = TestApp::demo().await;
    let run_id = app.demo_cny_run().await;
    app.approve_and_export(run_id).await;
    let (payout, amount) = app
        .with_db(move |conn| {
            let p = tandem::db::payouts::payouts_of_run(conn, run_id)?
                .remove(0)
                .0;
            Ok((
                p.id,
                tandem::domain::money::plain_in(p.amount_minor, &p.currency),
            ))
        })
        .await;
    let chen = demo_client(&app, CHEN).await;
    let page = format!("/finance/payouts/{run_id}");
    let results = format!("{page}/results");
    let head = "payout_id,status,reference,reason";
    for (file, why) in [
        (
            format!("{head}\n{payout},paid,\"BANKREF-8\n999,failed,,bogus\n"),
            "line break",
        ),
        (
            format!("{head},amount,currency\n{payout},paid,R7,,0.01,CNY\n"),
            "not 0.01",
        ),
        (
            format!("{head},amount,currency\n{payout},paid,R7,,{amount},USD\n"),
            "is in CNY, not USD",
        ),
        (
            format!("{head},bank_note\n{payout},paid,R7,,thanks\n"),
            "unknown column &#34;bank_note&#34;",
        ),
        (format!("{head}\n{payout},paid,R7\n"), "unreadable"),
    ] {
        let res = post_form_with(
            &chen,
            &app.url(&page),
            &app.url(&results),
            &[("csv", &file)],
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{file}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains("Nothing was applied") && html.contains(why),
            "{why} for {file:?}: {html}"
        );
        assert_eq!(app.run_state(run_id).await, "exported", "{file:?}");
    }
    // A Latin-1 byte (é as %E9) is an encoding error naming the field, never a U+FFFD.
    let res = post_raw(
        &app,
        &chen,
        &page,
        &results,
        &format!("csv=payout_id%2Cstatus%2Creference%2Creason%0A{payout}%2Cpaid%2CR%E96%2C%0A"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("not UTF-8") && body.contains("csv"), "{body}");
    assert_eq!(app.run_state(run_id).await, "exported");
    // The file as it should be: amount and currency match, the reference is kept as sent.
    let good = format!("{head},amount,currency\n{payout},paid,CMB-Ré-6,,{amount},CNY\n");
    let res = post_form_with(
        &chen,
        &app.url(&page),
        &app.url(&results),
        &[("csv", &good)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let p = app
        .with_db(move |conn| Ok(tandem::db::payouts::payout(conn, payout)?.unwrap()))
        .await;
    assert_eq!(
        (p.state.as_str(), p.reference.as_deref()),
        ("paid", Some("CMB-Ré-6"))
    );
}

#[tokio::test]
async fn the_database_refuses_payout_changes_off_the_lifecycle() {
    use diesel::RunQueryDsl;
    let app = TestApp::demo().await;
    let refused = app
        .with_db(|conn| {
            let tries = [
                "UPDATE payouts SET amount_minor = amount_minor + 100 WHERE state = 'paid'",
                "UPDATE payout_items SET amount_minor = amount_minor + 100 WHERE payout_id IN (SELECT id FROM payouts WHERE state = 'paid')",
                "UPDATE payouts SET currency = 'USD' WHERE state = 'paid'",
                "UPDATE payouts SET influencer_id = influencer_id + 1 WHERE state = 'paid'",
                "UPDATE payouts SET run_id = (SELECT max(id) FROM payout_runs) WHERE state = 'paid'",
                "UPDATE payouts SET state = 'approved' WHERE state = 'paid'",
                "UPDATE payouts SET state = 'paid' WHERE state = 'failed'",
                "UPDATE payouts SET destination = 'elsewhere' WHERE state = 'paid'",
                "UPDATE payouts SET reference = 'OTHER' WHERE state = 'paid'",
                "UPDATE payout_runs SET state = 'draft' WHERE state = 'paid'",
                "UPDATE payout_runs SET currency = 'USD' WHERE state = 'paid'",
                "UPDATE payout_runs SET started_by = NULL, approved_by = NULL WHERE state = 'paid'",
                "UPDATE payout_items SET active = FALSE WHERE payout_id IN (SELECT id FROM payouts WHERE state = 'paid')",
                "UPDATE payout_items SET commission_id = NULL WHERE commission_id IS NOT NULL",
                "DELETE FROM payout_items",
                "DELETE FROM payouts",
                "DELETE FROM payout_runs",
                "INSERT INTO payout_items (payout_id, commission_id, refund_id, amount_minor, active) SELECT id, NULL, NULL, 100, TRUE FROM payouts WHERE state = 'paid'",
                "INSERT INTO payouts (run_id, influencer_id, currency, amount_minor, state, method, created_at, updated_at) SELECT run_id, influencer_id, currency, 100, 'paid', method, created_at, updated_at FROM payouts WHERE state = 'paid'",
            ];
            let mut passed = Vec::new();
            for sql in tries {
                if diesel::sql_query(sql).execute(conn).is_ok() {
                    passed.push(sql);
                }
            }
            Ok(passed)
        })
        .await;
    assert!(refused.is_empty(), "accepted: {refused:#?}");
    app.with_db(|conn| {
        let report = tandem::service::orders::check_ledger(conn)?;
        assert!(report.breaks.is_empty(), "{:?}", report.breaks);
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn approving_and_settling_are_finances_not_an_admins_unless_set() {
    for admin_may in [false, true] {
        let app = TestApp::demo_with(|s| s.admin_approves_payouts = admin_may).await;
        let admin = demo_client(&app, "admin@demo.tandem.test").await;
        let run_id = app.demo_cny_run().await;
        let page = format!("/finance/payouts/{run_id}");
        let (status, html) = text(&admin, &app, &page).await;
        assert_eq!(status, StatusCode::OK, "an admin reads every page");
        assert_eq!(html.contains("/approve\""), admin_may, "{html}");
        let seen = if admin_may {
            app.seen_on(&admin, run_id).await
        } else {
            String::new()
        };
        let res = post_form_with(
            &admin,
            &app.url(&page),
            &app.url(&format!("{page}/approve")),
            &[("seen", &seen)],
        )
        .await;
        if admin_may {
            assert_eq!(location(&res), page);
            assert_eq!(app.run_state(run_id).await, "approved");
        } else {
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
            assert_eq!(app.run_state(run_id).await, "draft");
        }
    }
}

#[tokio::test]
async fn a_run_is_settled_only_once_exported() {
    let app = TestApp::demo().await;
    let run_id = app.demo_cny_run().await;
    let now = app.clock_now();
    let refused = app
        .state
        .db(move |conn| {
            let chen = user_id(conn, CHEN);
            payouts::approve(conn, now, chen, run_id, true)?;
            let ids: Vec<(i64, Settlement)> = tandem::db::payouts::payouts_of_run(conn, run_id)?
                .into_iter()
                .map(|(p, _)| {
                    (
                        p.id,
                        Settlement::Paid {
                            reference: "NOT-SENT".into(),
                        },
                    )
                })
                .collect();
            payouts::settle_payouts(conn, now, "", chen, run_id, &ids)
        })
        .await;
    match refused {
        Err(tandem::error::AppError::Conflict(msg)) => {
            assert!(msg.contains("Export the run before settling"), "{msg}")
        }
        other => panic!("settled without an export: {other:?}"),
    }
    assert_eq!(app.run_state(run_id).await, "approved");
}

#[tokio::test]
async fn the_scheduler_and_the_command_line_agree_on_the_due_slot() {
    let app = TestApp::demo().await;
    let now = app.clock_now();
    app.with_db(move |conn| {
        // A schedule made now has no due slot (it does not run the past), whatever its
        // cron says; the scheduler makes nothing for it either.
        let farah = user_id(conn, FARAH);
        let id = payouts::save_schedule(
            conn,
            now,
            farah,
            None,
            &ScheduleForm {
                name: "Daily USD".into(),
                cron: "0 0 9 * * *".into(),
                time_zone: "UTC".into(),
                currency: "USD".into(),
                minimum: "1".into(),
                active: "on".into(),
                ..Default::default()
            },
        )?;
        let s = tandem::db::payouts::schedule(conn, id)?.unwrap();
        let rule = tandem::domain::payout::FireRule::parse(&s.cron, &s.time_zone).unwrap();
        assert_eq!(payouts::due_slot(&s, &rule, now), None);
        assert!(
            payouts::run_due(conn, now, "")?
                .iter()
                .all(|r| r.schedule_id != id)
        );
        // A day later both see the same slot, and it runs once.
        let later = now + TimeDelta::days(1);
        let slot = payouts::due_slot(&s, &rule, later).expect("a slot has come");
        let made = payouts::run_due(conn, later, "")?;
        let run = made
            .iter()
            .find(|r| r.schedule_id == id)
            .expect("the scheduler ran it");
        assert_eq!(run.fire_at, slot);
        let again = payouts::run_schedule(conn, later, "", &s, slot, None, &mut |_, _| {})?;
        assert!(matches!(again, RunOutcome::Exists(ref r) if r.id == run.id));
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_run_with_nothing_to_pay_is_closed_at_once() {
    let app = TestApp::demo().await;
    let (usd, counts) = app
        .with_db(|conn| {
            let usd: Vec<_> = tandem::db::payouts::runs(conn, 10)?
                .into_iter()
                .filter(|(r, _)| r.currency == "USD")
                .map(|(r, _)| r)
                .collect();
            Ok((usd, tandem::db::payouts::queue_counts(conn)?))
        })
        .await;
    assert!(
        !usd.is_empty() && usd.iter().all(|r| r.state == "empty"),
        "{usd:?}"
    );
    let usd = usd[0].clone();
    assert_eq!(counts.awaiting_approval, 1, "only the CNY run waits");
    let farah = demo_client(&app, FARAH).await;
    let (_, html) = text(&farah, &app, &format!("/finance/payouts/{}", usd.id)).await;
    assert!(
        html.contains("Nothing to pay")
            && !html.contains("/approve\"")
            && !html.contains("/cancel\""),
        "{html}"
    );
    let (_, home) = text(&farah, &app, "/finance/dashboard").await;
    assert!(
        home.contains("href=\"/finance/payouts?state=draft\"><span class=\"count\">1</span>"),
        "{home}"
    );
    // Each queue card opens the list of what it counts.
    let (_, failed) = text(&farah, &app, "/finance/payouts?state=failed").await;
    assert!(
        failed.contains("failed payouts not paid since") && failed.contains("returned it"),
        "{failed}"
    );
    let (status, _) = text(&farah, &app, "/finance/payouts?state=bogus").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_schedule_is_chosen_from_common_ones_or_a_cron_field_whose_errors_are_in_words() {
    let app = TestApp::demo().await;
    let chen = demo_client(&app, CHEN).await;
    let new = "/finance/schedules/new";
    let (_, html) = text(&chen, &app, new).await;
    for choice in ["weekly", "twice_monthly", "monthly", "custom"] {
        assert!(
            html.contains(&format!("name=\"every\" value=\"{choice}\"")),
            "{choice}"
        );
    }
    let post = |fields: Vec<(&'static str, &'static str)>| {
        let (chen, app) = (&chen, &app);
        async move {
            let mut all = vec![
                ("time_zone", "Asia/Shanghai"),
                ("currency", "CNY"),
                ("minimum", "10"),
                ("active", "on"),
            ];
            all.extend(fields);
            post_form_with(chen, &app.url(new), &app.url("/finance/schedules"), &all).await
        }
    };
    // The reviewers' cron: what is wrong, in words, on the field.
    let res = post(vec![
        ("name", "Fridays"),
        ("every", "custom"),
        ("cron", "0 0 17 * * Fri,"),
    ])
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(
            "The weekday field \u{201c}Fri,\u{201d} has a comma with nothing on one side"
        ),
        "{html}"
    );
    // Common schedules become their cron expressions; the cron field is not read for them.
    for (name, fields, cron) in [
        (
            "Weekly Fri",
            vec![("every", "weekly"), ("weekday", "Fri"), ("at", "17:00")],
            "0 0 17 * * Fri",
        ),
        (
            "Twice monthly",
            vec![("every", "twice_monthly"), ("at", "10:30")],
            "0 30 10 1,15 * *",
        ),
        (
            "Monthly 28th",
            vec![("every", "monthly"), ("day", "28"), ("at", "09:05")],
            "0 5 9 28 * *",
        ),
    ] {
        let mut all = vec![("name", name), ("cron", "not read")];
        all.extend(fields);
        let res = post(all).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{name}");
        let stored = app
            .with_db(move |conn| {
                use diesel::prelude::*;
                use tandem::db::schema::payout_schedules as s;
                Ok(s::table
                    .filter(s::name.eq(name))
                    .select(s::cron)
                    .first::<String>(conn)?)
            })
            .await;
        assert_eq!(stored, cron, "{name}");
    }
    // The edit page shows a stored common schedule as its choice.
    let id = app
        .with_db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::payout_schedules as s;
            Ok(s::table
                .filter(s::name.eq("Monthly 28th"))
                .select(s::id)
                .first::<i64>(conn)?)
        })
        .await;
    let (_, html) = text(&chen, &app, &format!("/finance/schedules/{id}")).await;
    assert!(
        html.contains("name=\"every\" value=\"monthly\" checked")
            && html.contains("<option value=\"28\" selected>28</option>")
            && html.contains("value=\"09:05\""),
        "{html}"
    );
    // Bad parts of a common schedule name their field.
    let res = post(vec![
        ("name", "Bad day"),
        ("every", "monthly"),
        ("day", "31"),
        ("at", "25:00"),
    ])
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"e-at\""), "{html}");
    let res = post(vec![
        ("name", "Bad day"),
        ("every", "monthly"),
        ("day", "31"),
        ("at", "09:00"),
    ])
    .await;
    let html = res.text().await.unwrap();
    assert!(
        html.contains("id=\"e-day\"") && html.contains("from 1 to 28"),
        "{html}"
    );
}
