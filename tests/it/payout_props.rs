//! Property test of the payout planner with refunds at every step of a payout's life: random
//! sequences of orders, refunds, maturations, runs and what finance does to them (approve,
//! export, pay, fail, cancel), through the real services on a real database. After every
//! step `tandem ledger check` is clean, and what the next run would pay the creator is
//! exactly what the ledger holds available for them: a refund is taken back once, whatever
//! happens to the payouts around it. The creator's statements, chained, account for every
//! movement of their unpaid balance once.

use chrono::TimeDelta;
use proptest::prelude::*;
use tandem::db;
use tandem::domain::account::Role;
use tandem::domain::ledger::{AccountKind, Owner};
use tandem::domain::order::{ItemInput, OrderInput, RefundInput};
use tandem::service::{orders, payouts};

use crate::ledger_props::{Fixture, fixture};

#[derive(Debug, Clone)]
enum Op {
    /// (product index, quantity).
    Order(usize, i64),
    /// (order index, percent of what is left to refund).
    Refund(usize, i64),
    Mature,
    Run,
    /// The action on the `n`th run still open (modulo how many are).
    Approve(usize),
    Export(usize),
    /// Settles every payout of the run: paid when the mask's bit for it is set, else failed.
    Settle(usize, u8),
    Cancel(usize),
    /// The bank returns the `n`th paid payout (modulo how many are).
    Return(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..8, 1i64..4).prop_map(|(p, q)| Op::Order(p, q)),
        4 => (0usize..6, 1i64..=100).prop_map(|(o, p)| Op::Refund(o, p)),
        2 => Just(Op::Mature),
        2 => Just(Op::Run),
        2 => (0usize..4).prop_map(Op::Approve),
        2 => (0usize..4).prop_map(Op::Export),
        2 => (0usize..4, any::<u8>()).prop_map(|(n, m)| Op::Settle(n, m)),
        1 => (0usize..4).prop_map(Op::Cancel),
        1 => (0usize..4).prop_map(Op::Return),
    ]
}

struct Order {
    id: String,
    base: i64,
    refunded: i64,
}

/// What the ledger holds available for the creator in the fixture's currency.
fn available(f: &mut Fixture) -> i64 {
    db::ledger::balances(&mut f.conn, Owner::Influencer(f.influencer_id))
        .unwrap()
        .get(&(AccountKind::Available, f.currency.code().to_owned()))
        .copied()
        .unwrap_or(0)
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut f = fixture();
    let cur = f.currency.code().to_owned();
    let (maker, checker) = {
        let mut staff = |email: &str| {
            payouts_user(&mut f, email);
            db::users::find_by_email(&mut f.conn, email)
                .unwrap()
                .unwrap()
                .id
        };
        (staff("maker@props.test"), staff("checker@props.test"))
    };
    // Everyone has a payout method; the demo's own open runs are cancelled, so that every
    // amount is the test's to move.
    {
        use diesel::prelude::*;
        let ids: Vec<i64> = db::schema::influencers::table
            .select(db::schema::influencers::id)
            .load(&mut f.conn)
            .unwrap();
        for id in ids {
            db::influencers::set_payout(&mut f.conn, id, "bank", &cur, "{}", f.now).unwrap();
        }
        for (run, _) in db::payouts::runs(&mut f.conn, 100).unwrap() {
            if run.state == "draft" {
                payouts::cancel(&mut f.conn, f.now, checker, run.id).unwrap();
            }
        }
    }
    let schedule_id = payouts::save_schedule(
        &mut f.conn,
        f.now,
        maker,
        None,
        &payouts::ScheduleForm {
            name: "Props".into(),
            cron: "0 0 9 * * Mon".into(),
            time_zone: "UTC".into(),
            currency: cur.clone(),
            minimum: "0.01".into(),
            active: "on".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let mut orders_made: Vec<Order> = Vec::new();
    // Runs not settled or cancelled yet.
    let mut open: Vec<i64> = Vec::new();
    let pick = |open: &[i64], n: usize| (!open.is_empty()).then(|| open[n % open.len()]);
    for (step, op) in ops.into_iter().enumerate() {
        f.now += TimeDelta::minutes(7);
        match op {
            Op::Order(p, q) => {
                let (sku, price) = f.products[p % f.products.len()].clone();
                let id = format!("Q-{step}");
                orders::record_conversion(
                    &mut f.conn,
                    f.now,
                    f.merchant_id,
                    "api",
                    "http://localhost",
                    &OrderInput {
                        order_id: id.clone(),
                        currency: f.currency,
                        occurred_at: f.now,
                        click_id: None,
                        coupon_code: Some(f.coupon.clone()),
                        customer_email: None,
                        items: vec![ItemInput {
                            sku,
                            quantity: q,
                            unit_price_minor: price,
                            discount_minor: 0,
                        }],
                        also_known_as: Vec::new(),
                    },
                )
                .unwrap();
                orders_made.push(Order {
                    id,
                    base: price * q,
                    refunded: 0,
                });
            }
            Op::Refund(i, pct) => {
                if orders_made.is_empty() {
                    continue;
                }
                let n = orders_made.len();
                let o = &mut orders_made[i % n];
                let left = o.base - o.refunded;
                if left == 0 {
                    continue;
                }
                let amount = (left * pct / 100).max(1);
                orders::record_refund(
                    &mut f.conn,
                    f.now,
                    f.merchant_id,
                    "api",
                    &RefundInput {
                        order_id: o.id.clone(),
                        refund_id: format!("QR-{step}"),
                        amount: tandem::domain::money::Money::from_minor(amount, f.currency)
                            .unwrap()
                            .to_plain_string(),
                        occurred_at: f.now,
                    },
                )
                .unwrap();
                o.refunded += amount;
            }
            Op::Mature => {
                f.now += TimeDelta::days(31);
                orders::mature_due(&mut f.conn, f.now).unwrap();
            }
            Op::Run => {
                let s = db::payouts::schedule(&mut f.conn, schedule_id)
                    .unwrap()
                    .unwrap();
                let outcome = payouts::run_schedule(
                    &mut f.conn,
                    f.now,
                    "http://localhost",
                    &s,
                    f.now,
                    Some(maker),
                    &mut |_, _| {},
                )
                .unwrap();
                let run = outcome.run();
                if run.state == "draft" {
                    open.push(run.id);
                }
            }
            Op::Approve(n) => {
                if let Some(id) = pick(&open, n) {
                    let _ = payouts::approve(&mut f.conn, f.now, checker, id, true);
                }
            }
            Op::Export(n) => {
                if let Some(id) = pick(&open, n) {
                    let _ = payouts::mark_exported(&mut f.conn, f.now, checker, id, "bank");
                }
            }
            Op::Settle(n, mask) => {
                if let Some(id) = pick(&open, n) {
                    let outcomes: Vec<(i64, payouts::Settlement)> =
                        db::payouts::payouts_of_run(&mut f.conn, id)
                            .unwrap()
                            .into_iter()
                            .enumerate()
                            .map(|(k, (p, _))| {
                                let s = if mask & (1 << (k % 8)) != 0 {
                                    payouts::Settlement::Paid {
                                        reference: format!("REF-{step}-{k}"),
                                    }
                                } else {
                                    payouts::Settlement::Failed {
                                        reason: "returned by the bank".into(),
                                    }
                                };
                                (p.id, s)
                            })
                            .collect();
                    let _ = payouts::settle_payouts(
                        &mut f.conn,
                        f.now,
                        "http://localhost",
                        checker,
                        id,
                        &outcomes,
                    );
                }
            }
            Op::Cancel(n) => {
                if let Some(id) = pick(&open, n) {
                    let _ = payouts::cancel(&mut f.conn, f.now, checker, id);
                }
            }
            Op::Return(n) => {
                let paid: Vec<i64> = db::payouts::all_payouts(&mut f.conn)
                    .unwrap()
                    .into_iter()
                    .filter(|p| p.state == "paid")
                    .map(|p| p.id)
                    .collect();
                if let Some(id) = pick(&paid, n) {
                    payouts::return_payout(
                        &mut f.conn,
                        f.now,
                        "http://localhost",
                        checker,
                        id,
                        "returned by the bank",
                    )
                    .unwrap();
                }
            }
        }
        open.retain(|id| {
            let run = db::payouts::run(&mut f.conn, *id).unwrap().unwrap();
            matches!(run.state.as_str(), "draft" | "approved" | "exported")
        });
        let report = orders::check_ledger(&mut f.conn).unwrap();
        prop_assert!(
            report.breaks.is_empty(),
            "after step {}: {:?}",
            step,
            report.breaks
        );
        // The creator's statements: each adds up and opens where the one before closed,
        // every movement is in one of them, and the last closes, with what came after it,
        // on what the ledger holds unpaid.
        let periods = payouts::statement_periods_of(&mut f.conn, f.influencer_id, &cur).unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut closing = 0i64;
        for p in &periods {
            prop_assert!(p.period.adds_up(), "after step {}: {:?}", step, p);
            prop_assert_eq!(
                p.period.opening_minor,
                closing,
                "after step {}: chained",
                step
            );
            let moved: i64 = p.movements.iter().map(|m| m.1).sum();
            prop_assert_eq!(p.period.closing_minor - p.period.opening_minor, moved);
            for (j, _) in &p.movements {
                prop_assert!(seen.insert(*j), "journal {} in two statements", j);
            }
            closing = p.period.closing_minor;
        }
        let after: i64 = db::payouts::balance_entries(&mut f.conn, f.influencer_id, &cur)
            .unwrap()
            .iter()
            .filter(|(j, _, _)| !seen.contains(j))
            .map(|(_, _, a)| -a)
            .sum();
        let unpaid = {
            let b = db::ledger::balances(&mut f.conn, Owner::Influencer(f.influencer_id)).unwrap();
            [AccountKind::Pending, AccountKind::Available]
                .iter()
                .map(|k| b.get(&(*k, cur.clone())).copied().unwrap_or(0))
                .sum::<i64>()
        };
        prop_assert_eq!(
            closing + after,
            unpaid,
            "after step {}: statements vs ledger",
            step
        );
        // What the next run would pay the creator is what the ledger holds available.
        let plan = payouts::plan_for(
            &mut f.conn,
            chrono::Utc::now().naive_utc(),
            &cur,
            1,
            false,
            Some(f.influencer_id),
        )
        .unwrap();
        let planned: i64 = plan
            .payouts
            .iter()
            .filter(|p| p.influencer_id == f.influencer_id)
            .map(|p| p.amount_minor)
            .sum();
        let held = available(&mut f);
        if held > 0 {
            prop_assert_eq!(planned, held, "after step {}: plan vs ledger", step);
        } else {
            prop_assert_eq!(planned, 0, "after step {}: nothing to pay", step);
        }
    }
    Ok(())
}

fn payouts_user(f: &mut Fixture, email: &str) {
    tandem::service::accounts::add_staff_user(
        &mut f.conn,
        f.now,
        Role::Finance,
        email,
        crate::helpers::PASSWORD,
        "Props Finance",
    )
    .unwrap();
}

/// The reviewers' case, at every step of a payout's life: a refund of an order whose
/// commission is in a payout (draft, approved, exported; then cancelled, failed, or paid and
/// returned by the bank), or paid, is taken back once, and the next run pays what the
/// ledger holds.
#[test]
fn a_refund_while_in_payout_is_taken_back_once_when_the_payout_is_cancelled_or_fails() {
    use Op::*;
    let life = [
        vec![Cancel(0)],
        vec![Approve(0), Export(0), Settle(0, 0)],
        vec![Approve(0), Export(0), Settle(0, 0xff)],
        vec![Approve(0), Export(0), Settle(0, 0xff), Return(0)],
    ];
    for (n, end) in life.iter().enumerate() {
        // The refund at each step before the end: draft, approved, exported, and after it.
        for at in 0..=end.len() {
            let mut ops = vec![Order(0, 2), Order(1, 1), Mature, Run];
            for (k, op) in end.iter().enumerate() {
                if k == at {
                    ops.push(Refund(0, 30));
                }
                ops.push(op.clone());
            }
            if at == end.len() {
                ops.push(Refund(0, 30));
            }
            ops.extend([
                Refund(0, 50),
                Run,
                Approve(0),
                Export(0),
                Settle(0, 0xff),
                Run,
            ]);
            if let Err(e) = run(ops.clone()) {
                panic!("life {n}, refund at step {at}: {ops:?}: {e}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]
    #[test]
    fn a_refund_is_taken_back_once_whatever_happens_to_its_payout(
        ops in prop::collection::vec(op(), 8..36)
    ) {
        run(ops)?;
    }
}
