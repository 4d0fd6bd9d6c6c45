//! Payouts draw on cash, and a paid payout the bank returns becomes `returned` (issue 28):
//! settling posts the cash lines; a return puts the money back in cash and available to
//! the creator, whose commissions a later run pays; the statement, the email and the pages
//! say so; a second return, a return of a payout that is not paid and a return without a
//! reason are refused; the run page shows the cash on hand, and warns when the run pays
//! more. `tandem ledger check` is clean after every step.

use chrono::TimeDelta;
use diesel::prelude::*;
use reqwest::StatusCode;
use tandem::db::DbConn;
use tandem::domain::ledger::{AccountKind, Owner};
use tandem::error::AppError;
use tandem::service::payouts::{self, RunOutcome};

use crate::helpers::{TestApp, location, post_form_with};
use crate::payouts::{demo_client, text, user_id};

const CHECKER: &str = "checker@finance.test";
const REASON: &str = "account closed by its holder";

fn ledger_clean(conn: &mut DbConn) {
    let report = tandem::service::orders::check_ledger(conn).expect("ledger read");
    assert!(report.breaks.is_empty(), "{:#?}", report.breaks);
}

/// The (owner kind, account kind, amount) lines of the journal of `kind` for the item.
fn journal_lines(conn: &mut DbConn, kind: &str, item: i64) -> Vec<(String, String, i64)> {
    use tandem::db::schema::{entries, journals, ledger_accounts};
    let mut v: Vec<(String, String, i64)> = entries::table
        .inner_join(journals::table)
        .inner_join(ledger_accounts::table)
        .filter(journals::kind.eq(kind))
        .filter(journals::ref_kind.eq("payout_item"))
        .filter(journals::ref_id.eq(item))
        .select((
            ledger_accounts::owner_kind,
            ledger_accounts::kind,
            entries::amount_minor,
        ))
        .load(conn)
        .unwrap();
    v.sort();
    v
}

fn balance(conn: &mut DbConn, owner: Owner, kind: AccountKind) -> i64 {
    tandem::db::ledger::balances(conn, owner)
        .unwrap()
        .get(&(kind, "CNY".to_owned()))
        .copied()
        .unwrap_or(0)
}

fn journals_count(conn: &mut DbConn) -> i64 {
    use tandem::db::schema::journals;
    journals::table.count().get_result(conn).unwrap()
}

/// The email the influencer of the payout signs in with.
fn creator_email(conn: &mut DbConn, influencer_id: i64) -> String {
    use tandem::db::schema::{influencers, users};
    users::table
        .inner_join(influencers::table.on(influencers::user_id.eq(users::id)))
        .filter(influencers::id.eq(influencer_id))
        .select(users::email)
        .first(conn)
        .unwrap()
}

#[tokio::test]
async fn a_returned_payout_is_available_again_back_in_cash_and_paid_by_the_next_run() {
    let app = TestApp::demo().await;
    let (schedule_id, run_id, ids) = app.exported_run().await;
    let cash_before = app.cash("CNY").await;

    // Settling moves the money out of cash: four lines per item.
    app.settle_all(run_id).await;
    let cash_paid = app.cash("CNY").await;
    let (total, returned) = app
        .with_db(move |conn| {
            ledger_clean(conn);
            let ps = tandem::db::payouts::payouts_of_run(conn, run_id)?;
            let total: i64 = ps.iter().map(|(p, _)| p.amount_minor).sum();
            let p = ps.into_iter().find(|(p, _)| p.id == ids[0]).unwrap().0;
            for it in tandem::db::payouts::items_of(conn, p.id)? {
                let a = it.amount_minor;
                let mut want = vec![
                    ("influencer".to_owned(), "in_payout".to_owned(), a),
                    ("influencer".to_owned(), "paid".to_owned(), -a),
                    ("platform".to_owned(), "cash".to_owned(), -a),
                    ("platform".to_owned(), "paid_out".to_owned(), a),
                ];
                want.sort();
                assert_eq!(journal_lines(conn, "payout_settle", it.id), want);
            }
            Ok((total, p))
        })
        .await;
    assert_eq!(
        cash_paid,
        cash_before - total,
        "cash drops by what was paid"
    );

    // The bank returns one payout.
    let influencer = returned.influencer_id;
    let (available_before, paid_before) = app
        .with_db(move |conn| {
            let o = Owner::Influencer(influencer);
            Ok((
                balance(conn, o, AccountKind::Available),
                balance(conn, o, AccountKind::Paid),
            ))
        })
        .await;
    let now = app.clock_now();
    let base = app.address.clone();
    let pid = returned.id;
    let commissions = app
        .with_db(move |conn| {
            let checker = user_id(conn, CHECKER);
            payouts::return_payout(conn, now, &base, checker, pid, &format!("  {REASON} "))?;
            ledger_clean(conn);
            let p = tandem::db::payouts::payout(conn, pid)?.unwrap();
            assert_eq!(p.state, "returned");
            assert_eq!(p.returned_reason.as_deref(), Some(REASON));
            assert_eq!(p.returned_at, Some(now));
            assert_eq!(p.reference, Some(format!("BANK-{pid}")), "it was paid");
            let items = tandem::db::payouts::items_of(conn, pid)?;
            assert!(
                items.iter().all(|i| !i.active),
                "its items settle nothing now"
            );
            for it in &items {
                let a = it.amount_minor;
                let mut want = vec![
                    ("influencer".to_owned(), "paid".to_owned(), a),
                    ("platform".to_owned(), "paid_out".to_owned(), -a),
                    ("platform".to_owned(), "cash".to_owned(), a),
                    ("influencer".to_owned(), "available".to_owned(), -a),
                ];
                want.sort();
                assert_eq!(journal_lines(conn, "payout_return", it.id), want);
            }
            let mut commissions = Vec::new();
            for c in items.iter().filter_map(|i| i.commission_id) {
                let row = tandem::db::orders::commission(conn, c)?.unwrap();
                assert_eq!(row.state, "available", "commission {c} is available again");
                use tandem::db::schema::commission_events as e;
                let (from, to, note): (Option<String>, String, String) = e::table
                    .filter(e::commission_id.eq(c))
                    .order(e::id.desc())
                    .select((e::from_state, e::to_state, e::note))
                    .first(conn)?;
                assert_eq!((from.as_deref(), to.as_str()), (Some("paid"), "available"));
                assert!(note.contains("returned by the bank") && note.contains(REASON));
                commissions.push(c);
            }
            let events = tandem::db::audit::for_subject(conn, "payout", pid)?;
            assert!(
                events
                    .iter()
                    .any(|e| e.action == "payout.returned" && e.detail.contains(REASON)),
                "{events:?}"
            );
            Ok(commissions)
        })
        .await;
    assert!(!commissions.is_empty());
    assert_eq!(
        app.cash("CNY").await,
        cash_paid + returned.amount_minor,
        "the money is back in cash"
    );
    let (available_after, paid_after) = app
        .with_db(move |conn| {
            let o = Owner::Influencer(influencer);
            Ok((
                balance(conn, o, AccountKind::Available),
                balance(conn, o, AccountKind::Paid),
            ))
        })
        .await;
    assert_eq!(available_after, available_before + returned.amount_minor);
    assert_eq!(paid_after, paid_before - returned.amount_minor);

    // The creator is told, and reads it on their pages.
    let mail = app
        .wait_for_email_where(|e| e.subject.contains("was returned by the bank"))
        .await;
    let amount = tandem::domain::money::display_in(returned.amount_minor, "CNY");
    assert!(
        mail.text.contains(&format!(
            "Your payout of {amount} was returned by the bank: {REASON}."
        )) && mail
            .text
            .contains("The amount is available again and goes out with the next run")
            && mail.text.contains("check your payout details"),
        "{}",
        mail.text
    );
    let email = app
        .with_db(move |conn| Ok(creator_email(conn, influencer)))
        .await;
    let creator = demo_client(&app, &email).await;
    let (status, html) = text(&creator, &app, &format!("/influencer/payouts/{pid}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Returned by the bank")
            && html.contains("This payout was returned by the bank on")
            && html.contains(REASON)
            && html.contains("paid nothing in the end")
            && html.contains("available to you again"),
        "{html}"
    );
    let (_, csv) = text(&creator, &app, &format!("/influencer/payouts/{pid}.csv")).await;
    assert!(
        csv.contains("returned by the bank: account closed by its holder")
            && csv.contains("paid to you,,,CNY,0.00"),
        "{csv}"
    );
    let (_, list) = text(&creator, &app, "/influencer/payouts").await;
    assert!(
        list.contains("Returned by the bank")
            && list.contains("Why you were not paid yet")
            && list.contains(&format!(
                "Payout #{pid} of {amount} was returned by the bank on"
            )),
        "{list}"
    );
    let (_, earnings) = text(&creator, &app, "/influencer/earnings").await;
    assert!(
        earnings.contains(&format!(
            "Payout #{pid} of {amount} was returned by the bank"
        )),
        "{earnings}"
    );
    let statement = app
        .with_db(move |conn| payouts::statement(conn, influencer, pid))
        .await;
    assert_eq!(statement.paid_minor(), 0, "it paid nothing in the end");
    assert!(statement.period.adds_up());
    assert!(
        statement
            .movements
            .iter()
            .any(|m| m.what.contains("Returned by the bank")
                && m.amount_minor == returned.amount_minor),
        "the return is one movement of its statement"
    );

    // The next run pays the commissions again, and settling it is clean.
    app.clock.advance(TimeDelta::days(7));
    let later = app.clock_now();
    let next = app
        .with_db(move |conn| {
            let s = tandem::db::payouts::schedule(conn, schedule_id)?.unwrap();
            let out = payouts::run_schedule(conn, later, "", &s, later, None, &mut |_, _| {})?;
            ledger_clean(conn);
            Ok(out)
        })
        .await;
    let RunOutcome::Created(next_run, plan) = next else {
        panic!("a new slot makes a new run")
    };
    let again = plan
        .payouts
        .iter()
        .find(|p| p.influencer_id == influencer)
        .expect("the returned amount goes out again");
    assert!(again.amount_minor >= returned.amount_minor);
    let next_id = next_run.id;
    let left = app
        .with_db(move |conn| {
            let why = payouts::why_not_paid(conn, influencer)?;
            assert!(
                why.iter().all(|n| n.returned.is_none()),
                "a later payout answers the return: {why:?}"
            );
            let checker = user_id(conn, CHECKER);
            payouts::approve(conn, later, checker, next_id, true)?;
            payouts::mark_exported(conn, later, checker, next_id, "bank CSV")?;
            Ok(commissions)
        })
        .await;
    app.settle_all(next_id).await;
    app.with_db(move |conn| {
        ledger_clean(conn);
        for c in left {
            let row = tandem::db::orders::commission(conn, c)?.unwrap();
            assert_eq!(row.state, "paid", "commission {c} paid by the next run");
        }
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_second_return_a_payout_not_paid_and_a_return_without_reason_are_refused() {
    let app = TestApp::demo().await;
    let (_, run_id, ids) = app.exported_run().await;
    let now = app.clock_now();
    let base = app.address.clone();
    let first = ids[0];
    // Exported, not paid yet: refused.
    let b = base.clone();
    let refused = app
        .state
        .db(move |conn| {
            let checker = user_id(conn, CHECKER);
            payouts::return_payout(conn, now, &b, checker, first, REASON)
        })
        .await;
    assert!(
        matches!(&refused, Err(AppError::Conflict(m)) if m.contains("Only a paid payout")),
        "{refused:?}"
    );
    app.settle_all(run_id).await;
    // No reason: refused, naming the field.
    let b = base.clone();
    let refused = app
        .state
        .db(move |conn| {
            let checker = user_id(conn, CHECKER);
            payouts::return_payout(conn, now, &b, checker, first, "   ")
        })
        .await;
    match refused {
        Err(AppError::Validation(errors)) => {
            let json = serde_json::to_string(&errors).unwrap();
            assert!(json.contains("reason"), "{json}");
        }
        other => panic!("{other:?}"),
    }
    // Once; twice is a conflict, and nothing is posted twice.
    let b = base.clone();
    let journals = app
        .with_db(move |conn| {
            let checker = user_id(conn, CHECKER);
            payouts::return_payout(conn, now, &b, checker, first, REASON)?;
            Ok(journals_count(conn))
        })
        .await;
    let b = base.clone();
    let twice = app
        .state
        .db(move |conn| {
            let checker = user_id(conn, CHECKER);
            payouts::return_payout(conn, now, &b, checker, first, "again")
        })
        .await;
    assert!(
        matches!(&twice, Err(AppError::Conflict(m)) if m.contains("returned by the bank already")),
        "{twice:?}"
    );
    app.with_db(move |conn| {
        assert_eq!(journals_count(conn), journals, "nothing posted twice");
        ledger_clean(conn);
        // The database refuses what the app never does: a returned payout back to paid, and
        // a paid payout returned without a reason.
        use tandem::db::schema::payouts as p;
        let back = diesel::update(p::table.find(first))
            .set(p::state.eq("paid"))
            .execute(conn);
        assert!(back.is_err(), "returned → paid is off the lifecycle");
        Ok(())
    })
    .await;
    if ids.len() > 1 {
        let other = ids[1];
        app.with_db(move |conn| {
            use tandem::db::schema::payouts as p;
            let bare = diesel::update(p::table.find(other))
                .set(p::state.eq("returned"))
                .execute(conn);
            assert!(bare.is_err(), "a return says why and when");
            Ok(())
        })
        .await;
    }
}

#[tokio::test]
async fn the_run_page_shows_cash_on_hand_warns_and_marks_a_payout_returned() {
    let app = TestApp::demo_before_billing().await;
    // The demo's run awaiting approval pays more than the cash on hand (no merchant has paid
    // in yet; earlier payouts took cash out).
    let checker = demo_client(&app, "checker@demo.tandem.test").await;
    let demo_run = app.demo_cny_run().await;
    let pays: i64 = app
        .with_db(move |conn| {
            Ok(tandem::db::payouts::payouts_of_run(conn, demo_run)?
                .iter()
                .map(|(p, _)| p.amount_minor)
                .sum())
        })
        .await;
    let cash = app.cash("CNY").await;
    assert!(pays > cash, "{pays} {cash}");
    let money = |m: i64| tandem::domain::money::display_in(m, "CNY");
    let (_, html) = text(&checker, &app, &format!("/finance/payouts/{demo_run}")).await;
    assert!(
        html.contains(&format!(
            "Cash on hand (CNY): <strong>{}</strong>",
            money(cash)
        )),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "This run pays {} but cash on hand is {}: record the merchants&#39; payments before exporting, or pay less.",
            money(pays),
            money(cash)
        )) || html.contains(&format!(
            "This run pays {} but cash on hand is {}: record the merchants' payments before exporting, or pay less.",
            money(pays),
            money(cash)
        )),
        "{html}"
    );
    let (_, home) = text(&checker, &app, "/finance/dashboard").await;
    assert!(
        home.contains("Cash on hand") && home.contains(&money(cash)),
        "{home}"
    );

    // A settled run pays nothing more: no warning; a paid payout offers the return.
    let (_, run_id, ids) = app.exported_run().await;
    app.settle_all(run_id).await;
    let page = format!("/finance/payouts/{run_id}");
    let (_, html) = text(&checker, &app, &page).await;
    assert!(!html.contains("This run pays"), "{html}");
    assert!(
        html.contains("Returned by the bank…") && html.contains("/return\""),
        "{html}"
    );
    // Without a reason: a 4xx naming the field; nothing changes.
    let pid = ids[0].to_string();
    let res = post_form_with(
        &checker,
        &app.url(&page),
        &app.url(&format!("{page}/return")),
        &[("payout", &pid), ("reason", "")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("why the bank returned"));
    // With one: marked, with a flash message.
    let res = post_form_with(
        &checker,
        &app.url(&page),
        &app.url(&format!("{page}/return")),
        &[("payout", &pid), ("reason", REASON)],
    )
    .await;
    assert_eq!(location(&res), page);
    let (_, html) = text(&checker, &app, &page).await;
    assert!(
        html.contains(&format!("Payout #{pid} marked returned by the bank"))
            && html.contains(REASON)
            && html.contains("returned by the bank (available again)"),
        "{html}"
    );
    let (_, runs) = text(&checker, &app, "/finance/payouts").await;
    let paid = ids.len() - 1;
    let label = if paid == 0 {
        "Settled: all 1 returned by the bank".to_owned()
    } else {
        format!("Settled: {paid} paid, 1 returned")
    };
    assert!(runs.contains(&label), "{runs}");
    // A second time: refused with a message, nothing changes.
    let res = post_form_with(
        &checker,
        &app.url(&page),
        &app.url(&format!("{page}/return")),
        &[("payout", &pid), ("reason", REASON)],
    )
    .await;
    assert_eq!(location(&res), page);
    let (_, html) = text(&checker, &app, &page).await;
    assert!(html.contains("returned by the bank already"), "{html}");
    app.with_db(|conn| {
        ledger_clean(conn);
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn an_admin_returns_a_payout_only_where_the_setting_says_so() {
    let app = TestApp::demo().await;
    let (_, run_id, ids) = app.exported_run().await;
    app.settle_all(run_id).await;
    let admin = app
        .logged_in(tandem::domain::account::Role::Admin, "boss@admin.test")
        .await;
    let page = format!("/finance/payouts/{run_id}");
    let res = post_form_with(
        &admin,
        &app.url(&page),
        &app.url(&format!("{page}/return")),
        &[("payout", &ids[0].to_string()), ("reason", REASON)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let state = app
        .with_db(move |conn| Ok(tandem::db::payouts::payout(conn, ids[0])?.unwrap().state))
        .await;
    assert_eq!(state, "paid");
}

/// A database from before payouts drew on cash holds settle journals of two lines: the
/// migration appends their cash and paid_out lines (the accounts made where missing), the
/// kept balances follow, and the ledger check that requires four lines is clean.
#[tokio::test]
async fn the_migration_gives_old_settle_journals_their_cash_lines() {
    use diesel_migrations::MigrationHarness;
    let app = TestApp::demo_before_billing().await;
    let cash_now = app.cash("CNY").await;
    assert!(cash_now < 0, "the demo's payouts took cash out: {cash_now}");
    let lines_of_settles = |conn: &mut DbConn| -> (i64, i64) {
        use tandem::db::schema::{entries, journals};
        let settles: i64 = journals::table
            .filter(journals::kind.eq("payout_settle"))
            .count()
            .get_result(conn)
            .unwrap();
        let lines: i64 = entries::table
            .inner_join(journals::table)
            .filter(journals::kind.eq("payout_settle"))
            .count()
            .get_result(conn)
            .unwrap();
        (settles, lines)
    };
    app.with_db(move |conn| {
        let (settles, lines) = lines_of_settles(conn);
        assert!(settles > 0);
        assert_eq!(lines, settles * 4);
        // Back to before 000032 (through the billing migration after it): settle journals
        // of two lines, no paid_out account.
        let revert = |conn: &mut DbConn| {
            match &mut *conn {
                DbConn::Sqlite(c) => c
                    .revert_last_migration(tandem::db::SQLITE_MIGRATIONS)
                    .map(|v| v.to_string()),
                DbConn::Pg(c) => c
                    .revert_last_migration(tandem::db::POSTGRES_MIGRATIONS)
                    .map(|v| v.to_string()),
            }
            .expect("revert")
        };
        let mut reverted = revert(conn);
        while !reverted.replace('-', "").contains("20261209000032") {
            assert!(
                reverted.replace('-', "").as_str() > "20261209000032",
                "{reverted}"
            );
            reverted = revert(conn);
        }
        assert_eq!(lines_of_settles(conn), (settles, settles * 2));
        let before = tandem::db::ledger::balances(conn, Owner::Platform)?;
        assert_eq!(
            before
                .get(&(AccountKind::Cash, "CNY".to_owned()))
                .copied()
                .unwrap_or(0),
            0
        );
        assert!(!before.keys().any(|(k, _)| *k == AccountKind::PaidOut));
        // And forward again.
        tandem::db::run_migrations(conn).expect("migrate");
        assert_eq!(lines_of_settles(conn), (settles, settles * 4));
        ledger_clean(conn);
        assert_eq!(balance(conn, Owner::Platform, AccountKind::Cash), cash_now);
        assert_eq!(
            balance(conn, Owner::Platform, AccountKind::PaidOut),
            -cash_now
        );
        Ok(())
    })
    .await;
}
