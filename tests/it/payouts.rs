//! Payout runs on the demo's balances: one run per (schedule, fire time) however many ask at
//! once, every amount settled by at most one payout, maker-checker approval, paid and failed
//! payouts, and `tandem ledger check` clean after every step.

use chrono::TimeDelta;
use tandem::db::DbConn;
use tandem::domain::account::Role;
use tandem::service::payouts::{self, RunOutcome, ScheduleForm, Settlement};

use crate::helpers::TestApp;

const FINANCE: &str = "maker@finance.test";
const CHECKER: &str = "checker@finance.test";

fn ledger_clean(conn: &mut DbConn) {
    let report = tandem::service::orders::check_ledger(conn).expect("ledger read");
    assert!(report.breaks.is_empty(), "{:#?}", report.breaks);
}

impl TestApp {
    /// The demo's CNY run awaiting approval.
    pub(crate) async fn demo_cny_run(&self) -> i64 {
        self.with_db(|conn| {
            Ok(tandem::db::payouts::runs(conn, 10)?
                .into_iter()
                .find(|(r, _)| r.state == "draft" && r.currency == "CNY")
                .expect("the demo's CNY run awaiting approval")
                .0
                .id)
        })
        .await
    }

    /// The demo's checker approves the run and exports it (as its Export button does).
    pub(crate) async fn approve_and_export(&self, run_id: i64) {
        let now = self.clock_now();
        self.with_db(move |conn| {
            let checker = user_id(conn, "checker@demo.tandem.test");
            payouts::approve(conn, now, checker, run_id, true)?;
            payouts::mark_exported(conn, now, checker, run_id, "bank CSV")
        })
        .await;
    }

    /// The demo with two finance users, payout methods for every influencer, and a CNY
    /// schedule (minimum ¥50.00); its id.
    pub(crate) async fn payout_ready(&self) -> i64 {
        self.staff(Role::Finance, FINANCE).await;
        self.staff(Role::Finance, CHECKER).await;
        let now = self.clock_now();
        self.with_db(move |conn| {
            use diesel::prelude::*;
            use tandem::db::schema::influencers;
            let ids: Vec<i64> = influencers::table.select(influencers::id).load(conn)?;
            for id in ids {
                tandem::db::influencers::set_payout(conn, id, "bank", "CNY", "{}", now)?;
            }
            let maker = user_id(conn, FINANCE);
            // The demo's own runs awaiting approval are cancelled: their balances are free.
            for (run, _) in tandem::db::payouts::runs(conn, 100)? {
                if run.state == "draft" {
                    payouts::cancel(conn, now, maker, run.id)?;
                }
            }
            payouts::save_schedule(
                conn,
                now,
                maker,
                None,
                &ScheduleForm {
                    name: "Test weekly CNY".into(),
                    cron: "0 0 9 * * Mon".into(),
                    time_zone: "Asia/Shanghai".into(),
                    currency: "CNY".into(),
                    minimum: "50".into(),
                    active: "on".into(),
                    ..Default::default()
                },
            )
        })
        .await
    }
}

pub(crate) fn user_id(conn: &mut DbConn, email: &str) -> i64 {
    tandem::db::users::find_by_email(conn, email)
        .unwrap()
        .unwrap()
        .id
}

#[tokio::test]
async fn one_run_per_slot_paid_once_and_failed_payouts_come_back() {
    let app = TestApp::demo().await;
    let schedule_id = app.payout_ready().await;
    let now = app.clock_now();
    let base = app.address.clone();
    let fire_at = now - TimeDelta::minutes(5);

    // Eight runners at once (threads, each its own connection) make one run.
    let mut handles = Vec::new();
    for _ in 0..8 {
        let pool = app.state.pool.clone();
        let base = base.clone();
        handles.push(std::thread::spawn(move || {
            let mut conn = pool.get().unwrap();
            let s = tandem::db::payouts::schedule(&mut conn, schedule_id)
                .unwrap()
                .unwrap();
            payouts::run_schedule(&mut conn, now, &base, &s, fire_at, None, &mut |_, _| {})
        }));
    }
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let created: Vec<&RunOutcome> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .filter(|o| matches!(o, RunOutcome::Created(..)))
        .collect();
    assert_eq!(created.len(), 1, "{outcomes:?}");
    let RunOutcome::Created(run, plan) = created[0] else {
        unreachable!()
    };
    let run_id = run.id;
    assert!(!plan.payouts.is_empty(), "{plan:?}");
    for o in &outcomes {
        match o {
            Ok(o) => assert_eq!(o.run().id, run_id),
            Err(e) => panic!("a runner failed: {e}"),
        }
    }
    let (paid_ids, total) = app
        .with_db(move |conn| {
            ledger_clean(conn);
            let ps = tandem::db::payouts::payouts_of_run(conn, run_id)?;
            // Every commission in payout is in exactly one payout of the run.
            use diesel::prelude::*;
            use tandem::db::schema::commissions;
            let in_payout: i64 = commissions::table
                .filter(commissions::state.eq("in_payout"))
                .count()
                .get_result(conn)?;
            let items: usize = ps
                .iter()
                .map(|(p, _)| {
                    tandem::db::payouts::items_of(conn, p.id)
                        .unwrap()
                        .iter()
                        .filter(|i| i.commission_id.is_some())
                        .count()
                })
                .sum();
            assert_eq!(i64::try_from(items).unwrap(), in_payout);
            Ok((
                ps.iter().map(|(p, _)| p.id).collect::<Vec<i64>>(),
                ps.iter().map(|(p, _)| p.amount_minor).sum::<i64>(),
            ))
        })
        .await;
    assert_eq!(total, plan.total_minor());
    // The same slot again: nothing new.
    let again = app
        .with_db(move |conn| {
            let s = tandem::db::payouts::schedule(conn, schedule_id)?.unwrap();
            payouts::run_schedule(conn, now, "", &s, fire_at, None, &mut |_, _| {})
        })
        .await;
    assert!(matches!(again, RunOutcome::Exists(ref r) if r.id == run_id));

    // The checker was told; maker-checker: the one who last changed the schedule (the maker)
    // does not approve the run it made, and is not asked to.
    app.wait_for_email(CHECKER, "Payout run ready for review")
        .await;
    let maker = app.with_db(move |conn| Ok(user_id(conn, FINANCE))).await;
    let refused = app
        .state
        .db(move |conn| payouts::approve(conn, now, maker, run_id, true))
        .await;
    assert!(matches!(refused, Err(tandem::error::AppError::Conflict(_))));
    app.with_db(move |conn| {
        let checker = user_id(conn, CHECKER);
        payouts::approve(conn, now, checker, run_id, true)?;
        payouts::mark_exported(conn, now, checker, run_id, "bank CSV")
    })
    .await;

    // One payout fails, the others are paid.
    let (failed, rest) = paid_ids.split_first().unwrap();
    let failed = *failed;
    let mut outcomes = vec![(
        failed,
        Settlement::Failed {
            reason: "account closed".into(),
        },
    )];
    outcomes.extend(rest.iter().map(|id| {
        (
            *id,
            Settlement::Paid {
                reference: format!("BANK-{id}"),
            },
        )
    }));
    let base2 = base.clone();
    app.with_db(move |conn| {
        let checker = user_id(conn, CHECKER);
        payouts::settle_payouts(conn, now, &base2, checker, run_id, &outcomes)?;
        ledger_clean(conn);
        let run = tandem::db::payouts::run(conn, run_id)?.unwrap();
        assert_eq!(run.state, "paid", "nothing left to settle");
        // The failed payout's commissions are available again, and a later run pays them.
        let failed_items = tandem::db::payouts::items_of(conn, failed)?;
        assert!(failed_items.iter().all(|i| !i.active));
        Ok(())
    })
    .await;
    let next_fire = now + TimeDelta::days(7);
    let later = app
        .with_db(move |conn| {
            let s = tandem::db::payouts::schedule(conn, schedule_id)?.unwrap();
            let out =
                payouts::run_schedule(conn, next_fire, "", &s, next_fire, None, &mut |_, _| {})?;
            ledger_clean(conn);
            Ok(out)
        })
        .await;
    let RunOutcome::Created(_, plan) = later else {
        panic!("a new slot makes a new run")
    };
    let failed_payout = app
        .with_db(move |conn| Ok(tandem::db::payouts::payout(conn, failed)?.unwrap()))
        .await;
    let repaid = plan
        .payouts
        .iter()
        .find(|p| p.influencer_id == failed_payout.influencer_id)
        .expect("the failed amount goes out again");
    assert!(repaid.amount_minor >= failed_payout.amount_minor);
    let mail = app
        .wait_for_email_where(|e| {
            e.subject.contains("could not be paid") && e.text.contains("account closed")
        })
        .await;
    assert!(mail.text.contains("available again"), "{}", mail.text);
}

#[tokio::test]
async fn a_cancelled_run_returns_everything_and_the_next_run_takes_it() {
    let app = TestApp::demo().await;
    let schedule_id = app.payout_ready().await;
    let now = app.clock_now();
    app.with_db(move |conn| {
        let s = tandem::db::payouts::schedule(conn, schedule_id)?.unwrap();
        let RunOutcome::Created(run, plan) =
            payouts::run_schedule(conn, now, "", &s, now, None, &mut |_, _| {})?
        else {
            panic!("created")
        };
        let finance = user_id(conn, FINANCE);
        payouts::cancel(conn, now, finance, run.id)?;
        ledger_clean(conn);
        // Approving a cancelled run is refused.
        assert!(payouts::approve(conn, now, finance, run.id, false).is_err());
        let later = now + TimeDelta::days(7);
        let RunOutcome::Created(_, again) =
            payouts::run_schedule(conn, later, "", &s, later, None, &mut |_, _| {})?
        else {
            panic!("created")
        };
        assert_eq!(again.total_minor(), plan.total_minor());
        ledger_clean(conn);
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn the_scheduler_catches_up_missed_slots_in_one_run() {
    let app = TestApp::demo().await;
    let schedule_id = app.payout_ready().await;
    // Three weeks pass with Tandem down: three Monday slots, one run (for the latest).
    app.clock.advance(TimeDelta::days(21));
    let now = app.clock_now();
    let made = app
        .with_db(move |conn| payouts::run_due(conn, now, ""))
        .await;
    // One run per schedule (ours and the demo's two), however many slots each missed.
    assert_eq!(
        made.iter().filter(|r| r.schedule_id == schedule_id).count(),
        1
    );
    let mut per_schedule: Vec<i64> = made.iter().map(|r| r.schedule_id).collect();
    per_schedule.dedup();
    assert_eq!(per_schedule.len(), made.len());
    let ours = made
        .iter()
        .find(|r| r.schedule_id == schedule_id)
        .unwrap()
        .clone();
    let again = app
        .with_db(move |conn| payouts::run_due(conn, now, ""))
        .await;
    assert!(again.is_empty(), "the slot is done");
    let s = app
        .with_db(move |conn| Ok(tandem::db::payouts::schedule(conn, schedule_id)?.unwrap()))
        .await;
    assert_eq!(s.last_fire_at, Some(ours.fire_at));
    app.with_db(|conn| {
        ledger_clean(conn);
        Ok(())
    })
    .await;
}

pub(crate) async fn demo_client(app: &TestApp, email: &str) -> reqwest::Client {
    let c = crate::helpers::new_client();
    let res = app
        .login_with(&c, email, tandem::service::demo::DEMO_PASSWORD)
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
    c
}

pub(crate) async fn text(
    c: &reqwest::Client,
    app: &TestApp,
    path: &str,
) -> (reqwest::StatusCode, String) {
    let res = crate::helpers::get_with(c, &app.url(path)).await;
    let status = res.status();
    (status, res.text().await.unwrap())
}

/// Finance's pages on the demo: schedules (validated, previewed), the run awaiting approval
/// approved, exported and paid; the creator's statements, theirs only.
#[tokio::test]
async fn finance_reviews_exports_and_pays_a_run_and_creators_read_their_statements() {
    use crate::helpers::{location, post_form_with};
    use reqwest::StatusCode;
    let app = TestApp::demo().await;
    let f = demo_client(&app, "finance@demo.tandem.test").await;

    let (status, html) = text(&f, &app, "/finance/schedules").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Weekly CNY") && html.contains("0 0 10 * * Mon"),
        "{html}"
    );
    // A bad schedule comes back with the field's message; a preview shows 5 slots.
    let res = post_form_with(
        &f,
        &app.url("/finance/schedules/new"),
        &app.url("/finance/schedules"),
        &[
            ("name", "Bad"),
            ("cron", "0 9 * * Mon"),
            ("time_zone", "Europe/Berlin"),
            ("currency", "EUR"),
            ("minimum", "-5"),
            ("active", "on"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"e-cron\"") && html.contains("seconds first"));
    assert!(html.contains("id=\"e-minimum\"") && html.contains("class=\"mainnav\""));
    let res = post_form_with(
        &f,
        &app.url("/finance/schedules/new"),
        &app.url("/finance/schedules"),
        &[
            ("name", "Biweekly EUR"),
            ("cron", "0 30 2 * * Sun"),
            ("time_zone", "Europe/Berlin"),
            ("currency", "EUR"),
            ("minimum", "20"),
            ("intent", "preview"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert_eq!(html.matches("<td data-label=\"UTC\"").count(), 5, "{html}");

    // The run awaiting approval: approve, export, pay.
    let (_, runs) = text(&f, &app, "/finance/payouts").await;
    assert!(runs.contains("Awaiting approval"), "{runs}");
    let run_id = app.demo_cny_run().await;
    let page = format!("/finance/payouts/{run_id}");
    let (_, html) = text(&f, &app, &page).await;
    assert!(html.contains("Left out") && html.contains("balance negative after a clawback"));
    // The demo's finance user made the schedule: the checker approves its runs.
    assert!(
        html.contains("You last changed the schedule that made this run")
            && !html.contains("/approve\""),
        "{html}"
    );
    let f = demo_client(&app, "checker@demo.tandem.test").await;
    let (_, html) = text(&f, &app, &page).await;
    assert!(
        html.contains("Pays to") && html.contains("PayPal c***@paypal.example"),
        "{html}"
    );
    let seen = html
        .split("name=\"seen\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the approve form carries what was seen")
        .to_owned();
    let res = post_form_with(
        &f,
        &app.url(&page),
        &app.url(&format!("{page}/approve")),
        &[("seen", &seen)],
    )
    .await;
    assert_eq!(location(&res), page);
    // An approved run has no file until it is exported (by a POST): the GET changes nothing.
    let res = crate::helpers::get_with(&f, &app.url(&format!("{page}/paypal.csv"))).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = post_form_with(
        &f,
        &app.url(&page),
        &app.url(&format!("{page}/export")),
        &[("format", "paypal"), ("part", "1")],
    )
    .await;
    assert_eq!(location(&res), format!("{page}?download=paypal&part=1"));
    let (_, html) = text(&f, &app, &format!("{page}?download=paypal&part=1")).await;
    assert!(
        html.contains(&format!("content=\"0;url={page}/paypal.csv?part=1\"")),
        "the page starts the download"
    );
    // The demo pays this creator by PayPal: the bulk file (no header) has the row, the bank
    // file only its header.
    let res = crate::helpers::get_with(&f, &app.url(&format!("{page}/paypal.csv"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let csv = res.text().await.unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 1, "{csv}");
    let fields: Vec<&str> = rows[0].split(',').collect();
    assert_eq!(fields.len(), 6, "{csv}");
    assert!(fields[0].ends_with("@paypal.example") && fields[2] == "CNY" && fields[5] == "PAYPAL");
    assert!(fields[3].starts_with("TANDEM-PAYOUT-"));
    let email = fields[0].to_owned();
    let bank = crate::helpers::get_with(&f, &app.url(&format!("{page}/bank.csv")))
        .await
        .text()
        .await
        .unwrap();
    assert!(bank.starts_with("payout_id,influencer,account_holder") && bank.lines().count() == 1);
    // At rest every detail is sealed: the address is nowhere in the database's text.
    let stored = app
        .with_db(|conn| Ok(tandem::db::influencers::payout_details_all(conn)?))
        .await;
    assert!(!stored.is_empty());
    for (_, d) in &stored {
        assert!(d.starts_with("sealed:v1:") && !d.contains(&email), "{d}");
    }
    let res = post_form_with(
        &f,
        &app.url(&page),
        &app.url(&format!("{page}/settle")),
        &[
            ("payout", "all"),
            ("outcome", "paid"),
            ("reference", "CMB-BATCH-42"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, html) = text(&f, &app, &page).await;
    assert!(html.contains("reference CMB-BATCH-42"), "{html}");
    assert!(
        html.contains("run exported as PayPal file (part 1)"),
        "the export is in the history"
    );
    app.with_db(|conn| {
        let run = tandem::db::payouts::runs(conn, 10)?
            .into_iter()
            .find(|(r, _)| r.currency == "CNY" && r.state == "paid" && r.approved_by.is_some());
        assert!(run.is_some());
        ledger_clean(conn);
        Ok(())
    })
    .await;
    let paid = app
        .wait_for_email_where(|e| {
            e.subject.starts_with("You were paid") && e.text.contains("CMB-BATCH-42")
        })
        .await;
    assert!(paid.text.contains("/influencer/payouts/"), "{}", paid.text);

    // The demo creator's payouts and statement; another creator's statement is not found.
    let i = demo_client(&app, "influencer@demo.tandem.test").await;
    let (status, html) = text(&i, &app, "/influencer/payouts").await;
    assert_eq!(status, StatusCode::OK);
    let mine = html
        .split("href=\"/influencer/payouts/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (status, statement) = text(&i, &app, &format!("/influencer/payouts/{mine}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        statement.contains("Commission") && statement.contains("Total"),
        "{statement}"
    );
    let others = app
        .with_db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::{influencers, payouts};
            Ok(payouts::table
                .inner_join(influencers::table)
                .filter(influencers::handle.ne("mia.streams"))
                .select(payouts::id)
                .first::<i64>(conn)?)
        })
        .await;
    let (status, _) = text(&i, &app, &format!("/influencer/payouts/{others}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A creator the run left out reads why on their earnings page.
    let kai = app
        .with_db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::{influencers, users};
            Ok(users::table
                .inner_join(influencers::table.on(influencers::user_id.eq(users::id)))
                .filter(influencers::handle.eq("kai.teatime35"))
                .select(users::email)
                .first::<String>(conn)?)
        })
        .await;
    let k = demo_client(&app, &kai).await;
    let (_, earnings) = text(&k, &app, "/influencer/earnings").await;
    assert!(
        earnings.contains("Not paid by the run of")
            && earnings.contains("balance negative after a clawback of"),
        "{earnings}"
    );
    // The demo's runs leave someone out for every reason, each told on the run's page.
    let runs = app
        .with_db(|conn| Ok(tandem::db::payouts::runs(conn, 10)?))
        .await;
    let mut reasons = String::new();
    for (run, _) in runs {
        reasons += &text(&f, &app, &format!("/finance/payouts/{}", run.id))
            .await
            .1;
    }
    for reason in [
        "below the minimum $500.00",
        "no payout method: add one on your profile",
        "frozen for review: ",
        "balance negative after a clawback of",
    ] {
        assert!(reasons.contains(reason), "{reason} in {reasons}");
    }
    // Creators and merchants do not reach finance's pages.
    let (status, _) = text(&i, &app, "/finance/payouts").await;
    assert_ne!(status, StatusCode::OK);
}

/// Bank details are sealed at rest; their owner sees them masked.
#[tokio::test]
async fn payout_details_are_sealed_at_rest_and_shown_masked() {
    use crate::helpers::post_form_with;
    let app = TestApp::spawn().await;
    let i = app
        .logged_in(Role::Influencer, "sealed@creators.test")
        .await;
    let res = post_form_with(
        &i,
        &app.url("/influencer"),
        &app.url("/influencer/payout"),
        &[
            ("method", "bank"),
            ("currency", "CNY"),
            ("account_holder", "Sea Led"),
            ("bank_name", "Bank of China"),
            ("account_number", "6217 0000 1234 5678"),
            ("current_password", crate::helpers::PASSWORD),
        ],
    )
    .await;
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
    let stored = app
        .with_db(|conn| Ok(tandem::db::influencers::payout_details_all(conn)?))
        .await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].1.starts_with("sealed:v1:"));
    assert!(!stored[0].1.contains("5678") && !stored[0].1.contains("Sea Led"));
    let (_, html) = text(&i, &app, "/influencer").await;
    assert!(
        html.contains("****5678") && !html.contains("6217000012345678"),
        "{html}"
    );
}

/// The bank's result file: one bad row and nothing is applied (each error names its line);
/// a good file settles its rows in one go.
#[tokio::test]
async fn a_result_file_applies_whole_or_not_at_all() {
    use crate::helpers::post_form_with;
    use reqwest::StatusCode;
    let app = TestApp::demo().await;
    let f = demo_client(&app, "finance@demo.tandem.test").await;
    let (run_id, payout_id) = app
        .with_db(|conn| {
            let run = tandem::db::payouts::runs(conn, 10)?
                .into_iter()
                .find(|(r, _)| r.state == "draft" && r.currency == "CNY")
                .unwrap()
                .0;
            let p = tandem::db::payouts::payouts_of_run(conn, run.id)?[0].0.id;
            Ok((run.id, p))
        })
        .await;
    let page = format!("/finance/payouts/{run_id}");
    app.approve_and_export(run_id).await;
    let bad = format!("payout_id,status,reference,reason\n{payout_id},paid,,\n99999,paid,X,\n");
    let res = post_form_with(
        &f,
        &app.url(&page),
        &app.url(&format!("{page}/results")),
        &[("csv", bad.as_str())],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("Nothing was applied"), "{html}");
    assert!(html.contains("Line 2: payout #") && html.contains("has no reference"));
    assert!(html.contains("Line 3: payout #99999 is not in this run"));
    assert!(html.contains("99999,paid,X,"), "the file is kept");
    let state = app
        .with_db(move |conn| Ok(tandem::db::payouts::payout(conn, payout_id)?.unwrap().state))
        .await;
    assert_eq!(state, "exported", "nothing applied");

    let good = format!(
        "payout_id,status,reference,reason\nTANDEM-PAYOUT-{payout_id},failed,,receiver unknown\n"
    );
    let res = post_form_with(
        &f,
        &app.url(&page),
        &app.url(&format!("{page}/results")),
        &[("csv", good.as_str())],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    app.with_db(move |conn| {
        let p = tandem::db::payouts::payout(conn, payout_id)?.unwrap();
        assert_eq!(
            (p.state.as_str(), p.failure_reason.as_deref()),
            ("failed", Some("receiver unknown"))
        );
        ledger_clean(conn);
        Ok(())
    })
    .await;
}

/// Finance's audit log: payouts by default, filtered by who, text and local dates; other
/// roles are refused.
#[tokio::test]
async fn the_audit_log_filters_by_area_who_text_and_date() {
    use reqwest::StatusCode;
    let app = TestApp::demo().await;
    let f = demo_client(&app, "finance@demo.tandem.test").await;
    let (status, html) = text(&f, &app, "/finance/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("payout.approve") && html.contains("payout.failed"),
        "{html}"
    );
    assert!(!html.contains("campaign.create"), "payouts only by default");
    let (_, html) = text(&f, &app, "/finance/audit?area=all").await;
    assert!(
        html.matches("<code>payout.").count() < html.matches("<code>").count(),
        "everything: other areas too"
    );
    assert!(html.contains("Older →"), "a page of 100, then older ones");
    let (_, html) = text(
        &f,
        &app,
        "/finance/audit?area=payout.&q=account+is+not+confirmed",
    )
    .await;
    assert_eq!(
        html.matches("<code>payout.failed</code>").count(),
        1,
        "{html}"
    );
    assert!(!html.contains("<code>payout.approve</code>"));
    let (_, html) = text(&f, &app, "/finance/audit?area=payout.&actor=farah").await;
    assert!(
        html.contains("Farah Finance &#60;finance@demo.tandem.test&#62;"),
        "{html}"
    );
    assert!(
        !html.contains("Tandem (scheduler or system)"),
        "the scheduler's runs are not Farah's"
    );
    let (status, html) = text(&f, &app, "/finance/audit?from=yesterday").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("From: use a date like 2026-12-01."));
    let (_, html) = text(&f, &app, "/finance/audit?from=2001-01-01&until=2001-01-02").await;
    assert!(html.contains("Nothing matches"));
    let i = demo_client(&app, "influencer@demo.tandem.test").await;
    let (status, _) = text(&i, &app, "/finance/audit").await;
    assert_ne!(status, StatusCode::OK);
}

/// What people receive, snapshotted: a statement's CSV, the PayPal file, and the emails of
/// a paid payout, a failed one and a run ready for review.
#[tokio::test]
async fn statement_files_and_emails_read_as_expected() {
    use crate::helpers::post_form_with;
    let app = TestApp::demo().await;
    // The address and the times (the demo's slots move with today) are redacted.
    let redact = |s: &str| redact_times(&s.replace(&app.address, "https://tandem.example"));
    let i = demo_client(&app, "influencer@demo.tandem.test").await;
    let (_, html) = text(&i, &app, "/influencer/payouts").await;
    let mine = html
        .split("href=\"/influencer/payouts/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let res =
        crate::helpers::get_with(&i, &app.url(&format!("/influencer/payouts/{mine}.csv"))).await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let csv = res.text().await.unwrap();
    insta::assert_snapshot!("statement_csv", redact_times(&csv));
    // The statement's period adds up, on the page as in the file.
    let (_, page) = text(&i, &app, &format!("/influencer/payouts/{mine}")).await;
    assert!(page.contains("Opening balance") && page.contains("Closing balance"));

    let failed = app
        .wait_for_email_where(|e| e.subject.contains("could not be paid"))
        .await;
    insta::assert_snapshot!("email_payout_failed", redact(&failed.text));
    let ready = app
        .wait_for_email_where(|e| {
            e.subject
                .contains("Payout run ready for review: Weekly CNY")
        })
        .await;
    insta::assert_snapshot!("email_run_ready", redact(&ready.text));

    let f = demo_client(&app, "checker@demo.tandem.test").await;
    let run_id = app.demo_cny_run().await;
    let page = format!("/finance/payouts/{run_id}");
    app.approve_and_export(run_id).await;
    let paypal = crate::helpers::get_with(&f, &app.url(&format!("{page}/paypal.csv")))
        .await
        .text()
        .await
        .unwrap();
    insta::assert_snapshot!("paypal_file", paypal);
    post_form_with(
        &f,
        &app.url(&page),
        &app.url(&format!("{page}/settle")),
        &[
            ("payout", "all"),
            ("outcome", "paid"),
            ("reference", "PP-7781"),
        ],
    )
    .await;
    let paid = app
        .wait_for_email_where(|e| {
            e.subject.starts_with("You were paid") && e.text.contains("PP-7781")
        })
        .await;
    insta::assert_snapshot!(
        "email_paid",
        format!("{}\n\n{}", paid.subject, redact(&paid.text))
    );
}

/// Every "YYYY-MM-DD hh:mm" replaced by a placeholder.
fn redact_times(s: &str) -> String {
    let shape = "dddd-dd-dd dd:dd";
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let fits = i + shape.len() <= chars.len()
            && shape.chars().zip(&chars[i..]).all(|(p, c)| match p {
                'd' => c.is_ascii_digit(),
                other => other == *c,
            });
        if fits {
            out.push_str("<date time>");
            i += shape.len();
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Below the minimum a balance carries over to the next run, with the reason shown; each
/// run pays its own currency only.
#[tokio::test]
async fn below_the_minimum_carries_over_and_runs_keep_to_their_currency() {
    let app = TestApp::demo().await;
    app.staff(Role::Finance, FINANCE).await;
    let now = app.clock_now();
    app.with_db(move |conn| {
        let runs = tandem::db::payouts::runs(conn, 10)?;
        let (usd, _) = runs
            .iter()
            .find(|(r, _)| r.currency == "USD" && r.state == "empty")
            .expect("the demo's USD run: nothing to pay, closed")
            .clone();
        let left = tandem::db::payouts::exclusions_of_run(conn, usd.id)?;
        let (below, handle) = left
            .iter()
            .find(|(e, _)| e.reason.starts_with("below the minimum $500.00"))
            .expect("a creator below the USD minimum")
            .clone();
        assert!(tandem::db::payouts::payouts_of_run(conn, usd.id)?.is_empty());
        // Every CNY payout is in CNY and pays only CNY commissions.
        for (r, _) in runs.iter().filter(|(r, _)| r.currency == "CNY") {
            for (p, _) in tandem::db::payouts::payouts_of_run(conn, r.id)? {
                assert_eq!(p.currency, "CNY");
                for it in tandem::db::payouts::items_of(conn, p.id)? {
                    if let Some(c) = it.commission_id {
                        let c = tandem::db::orders::commission(conn, c)?.unwrap();
                        assert_eq!(c.currency, "CNY", "commission {} in run {}", c.id, r.id);
                    }
                }
            }
        }
        // With a lower minimum the next slot pays what carried over, to the cent.
        let finance = user_id(conn, FINANCE);
        let s = tandem::db::payouts::schedule(conn, usd.schedule_id)?.unwrap();
        let mut form = ScheduleForm::from_schedule(&s);
        form.minimum = "1.00".into();
        payouts::save_schedule(conn, now, finance, Some(s.id), &form)?;
        let s = tandem::db::payouts::schedule(conn, s.id)?.unwrap();
        let next = usd.fire_at + TimeDelta::days(7);
        let RunOutcome::Created(run, plan) =
            payouts::run_schedule(conn, next, "", &s, next, Some(finance), &mut |_, _| {})?
        else {
            panic!("a new slot makes a run")
        };
        let paid = plan
            .payouts
            .iter()
            .find(|p| p.influencer_id == below.influencer_id)
            .unwrap_or_else(|| panic!("@{handle} is paid now"));
        assert_eq!(paid.amount_minor, below.available_minor);
        assert_eq!(run.currency, "USD");
        ledger_clean(conn);
        Ok(())
    })
    .await;
}

/// Details that no longer open (the secret key changed) stop the export with the creator's
/// name; nothing is recorded as exported.
#[tokio::test]
async fn an_export_with_details_that_do_not_open_is_refused() {
    use crate::helpers::post_form_with;
    let app = TestApp::demo().await;
    let f = demo_client(&app, "checker@demo.tandem.test").await;
    let run_id = app.demo_cny_run().await;
    let page = format!("/finance/payouts/{run_id}");
    // Sealed under another key while the run awaits approval (its payouts' destinations may
    // still change then): they no longer open.
    let now = app.clock_now();
    app.with_db(move |conn| {
        use diesel::prelude::*;
        use tandem::db::schema::payouts as rows;
        let other =
            tandem::domain::sealed::Sealer::from_secret(b"another secret key of 32 bytes or more");
        diesel::update(rows::table.filter(rows::run_id.eq(run_id)))
            .set(rows::destination.eq(Some(other.seal("{}"))))
            .execute(conn)?;
        let checker = user_id(conn, "checker@demo.tandem.test");
        payouts::approve(conn, now, checker, run_id, true)
    })
    .await;
    let res = post_form_with(
        &f,
        &app.url(&page),
        &app.url(&format!("{page}/export")),
        &[("format", "paypal")],
    )
    .await;
    assert_eq!(crate::helpers::location(&res), page);
    let (_, body) = text(&f, &app, &page).await;
    assert!(
        body.contains("do not open") && body.contains("@yuki.teatime52"),
        "{body}"
    );
    let state = app
        .with_db(move |conn| Ok(tandem::db::payouts::run(conn, run_id)?.unwrap().state))
        .await;
    assert_eq!(state, "approved", "nothing was exported");
}

/// A failed payout's statement says it paid nothing, shows what came back, and closes on
/// what the ledger holds; the next statement opens there, with every movement once.
#[tokio::test]
async fn a_failed_payouts_statement_says_it_paid_nothing_and_closes_on_the_ledger() {
    use reqwest::StatusCode;
    let app = TestApp::demo().await;
    let (failed, email) = app
        .with_db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::{influencers, payouts as p, users};
            Ok(p::table
                .inner_join(influencers::table)
                .inner_join(users::table.on(users::id.eq(influencers::user_id)))
                .filter(p::state.eq("failed"))
                .select((tandem::db::models::Payout::as_select(), users::email))
                .first::<(tandem::db::models::Payout, String)>(conn)?)
        })
        .await;
    let c = demo_client(&app, &email).await;
    let (status, html) = text(&c, &app, &format!("/influencer/payouts/{}", failed.id)).await;
    assert_eq!(status, StatusCode::OK);
    let amount = tandem::domain::money::display_in(failed.amount_minor, &failed.currency);
    let zero = tandem::domain::money::display_in(0, &failed.currency);
    assert!(
        html.contains("This payout was not paid")
            && html.contains(&format!(
                "<dt>Paid to you</dt><dd class=\"num\"><strong>{zero}</strong>"
            ))
            && html.contains(&format!(
                "<dt>Returned to your balance</dt><dd class=\"num\">+{amount}</dd>"
            )),
        "{html}"
    );
    let (id, cur) = (failed.influencer_id, failed.currency.clone());
    let (statement, unpaid, last, after) = app
        .with_db(move |conn| {
            use tandem::domain::ledger::{AccountKind, Owner};
            let s = payouts::statement(conn, id, failed.id)?;
            let b = tandem::db::ledger::balances(conn, Owner::Influencer(id))?;
            let unpaid: i64 = [AccountKind::Pending, AccountKind::Available]
                .iter()
                .map(|k| b.get(&(*k, cur.clone())).copied().unwrap_or(0))
                .sum();
            // The chained statements, with what came after the last, are the ledger.
            let periods = payouts::statement_periods_of(conn, id, &cur)?;
            let seen: std::collections::HashSet<i64> = periods
                .iter()
                .flat_map(|p| p.movements.iter().map(|m| m.0))
                .collect();
            let after: i64 = tandem::db::payouts::balance_entries(conn, id, &cur)?
                .iter()
                .filter(|(j, _, _)| !seen.contains(j))
                .map(|(_, _, a)| -a)
                .sum();
            let last = periods.last().unwrap().period.closing_minor;
            Ok((s.period, unpaid, last, after))
        })
        .await;
    assert!(statement.adds_up());
    assert_eq!(statement.returned_minor, failed.amount_minor);
    assert_eq!(last + after, unpaid);
    let csv = crate::helpers::get_with(
        &c,
        &app.url(&format!("/influencer/payouts/{}.csv", failed.id)),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        csv.contains("payout,")
            && csv.contains(&format!("#{} by", failed.id))
            && csv.contains("failed,")
            && csv.contains(&format!("paid to you,,,{},0.00", failed.currency)),
        "{csv}"
    );
}
