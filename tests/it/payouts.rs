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
    /// The demo with two finance users, payout methods for every influencer, and a CNY
    /// schedule (minimum ¥50.00); its id.
    async fn payout_ready(&self) -> i64 {
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
            payouts::save_schedule(
                conn,
                now,
                maker,
                None,
                &ScheduleForm {
                    name: "Weekly CNY".into(),
                    cron: "0 0 9 * * Mon".into(),
                    time_zone: "Asia/Shanghai".into(),
                    currency: "CNY".into(),
                    minimum: "50".into(),
                    active: "on".into(),
                },
            )
        })
        .await
    }
}

fn user_id(conn: &mut DbConn, email: &str) -> i64 {
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
            // The demo has one commission in payout of its own (not by a run).
            assert_eq!(i64::try_from(items).unwrap() + 1, in_payout);
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

    // Finance was told; maker-checker: the one who started it does not approve it.
    app.wait_for_email(FINANCE, "Payout run ready for review")
        .await;
    let started = app
        .with_db(move |conn| {
            use diesel::prelude::*;
            use tandem::db::schema::payout_runs;
            let maker = user_id(conn, FINANCE);
            diesel::update(payout_runs::table.find(run_id))
                .set(payout_runs::started_by.eq(Some(maker)))
                .execute(conn)?;
            Ok(maker)
        })
        .await;
    let refused = app
        .state
        .db(move |conn| payouts::approve(conn, now, started, run_id, true))
        .await;
    assert!(matches!(refused, Err(tandem::error::AppError::Conflict(_))));
    app.with_db(move |conn| {
        let checker = user_id(conn, CHECKER);
        payouts::approve(conn, now, checker, run_id, true)
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
    let mail = app.wait_for_email_containing("could not be paid").await;
    assert!(mail.text.contains("account closed"), "{}", mail.text);
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
    assert_eq!(made.len(), 1);
    let again = app
        .with_db(move |conn| payouts::run_due(conn, now, ""))
        .await;
    assert!(again.is_empty(), "the slot is done");
    let s = app
        .with_db(move |conn| Ok(tandem::db::payouts::schedule(conn, schedule_id)?.unwrap()))
        .await;
    assert_eq!(s.last_fire_at, Some(made[0].fire_at));
    app.with_db(|conn| {
        ledger_clean(conn);
        Ok(())
    })
    .await;
}
