//! Property test of the money path: random sequences of orders, partial and full refunds,
//! maturations and payouts, run through the real services on a real database. After every
//! step the ledger's invariants hold (`check_ledger`), and the influencer's balances equal a
//! reference kept independently here from the services' answers; refunds never take back
//! more than was earned, and a full refund takes back exactly all of it.

use chrono::{NaiveDateTime, TimeDelta};
use proptest::prelude::*;
use tandem::db::{self, DbConn};
use tandem::domain::ledger::{self, AccountKind, Owner};
use tandem::domain::money::Currency;
use tandem::domain::order::{ItemInput, OrderInput, RefundInput};
use tandem::service::orders;

use crate::helpers::test_database;

#[derive(Debug, Clone)]
enum Op {
    /// (product index, quantity, discount percent) per line.
    Order(Vec<(usize, i64, i64)>),
    /// (order index, percent of what is left to refund).
    Refund(usize, i64),
    Mature,
    Pay,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0usize..8, 1i64..5, 0i64..40), 1..4).prop_map(Op::Order),
        3 => (0usize..16, 1i64..=100).prop_map(|(o, p)| Op::Refund(o, p)),
        1 => Just(Op::Mature),
        1 => Just(Op::Pay),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Pending,
    Available,
    Paid,
}

#[derive(Debug)]
struct Model {
    order_id: String,
    base: i64,
    refunded: i64,
    commission: Option<(i64, i64)>, // (id, amount)
    taken: i64,
    state: State,
}

pub(crate) struct Fixture {
    pub conn: DbConn,
    _dir: tempfile::TempDir,
    _pg: Option<crate::helpers::PgTestDb>,
    pub merchant_id: i64,
    pub influencer_id: i64,
    pub coupon: String,
    pub currency: Currency,
    pub products: Vec<(String, i64)>,
    pub now: NaiveDateTime,
}

/// The demo, matured 90 days on, and one of its active coupon collaborations to order through.
pub(crate) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = test_database(dir.path());
    let mut conn = db::establish(&url).unwrap();
    db::run_migrations(&mut conn).unwrap();
    let start = chrono::Utc::now().naive_utc();
    tandem::service::demo::load(&mut conn, start, "http://localhost").unwrap();
    // Far enough ahead that every demo commission has matured: only ours move from here on.
    let now = start + TimeDelta::days(90);
    orders::mature_due(&mut conn, now).unwrap();
    let (col, campaign) = {
        use diesel::prelude::*;
        use tandem::db::schema::collaborations as c;
        let cols: Vec<tandem::db::models::Collaboration> = c::table
            .filter(c::state.eq("active"))
            .filter(c::coupon_code.is_not_null())
            .order(c::id.asc())
            .select(tandem::db::models::Collaboration::as_select())
            .load(&mut conn)
            .unwrap();
        cols.into_iter()
            .find_map(|col| {
                let campaign = db::campaigns::find(&mut conn, col.campaign_id).unwrap()?;
                (campaign.state == "active").then_some((col, campaign))
            })
            .unwrap()
    };
    let products: Vec<(String, i64)> = db::catalog::for_campaign(&mut conn, &campaign)
        .unwrap()
        .into_iter()
        .filter(|p| p.currency == campaign.currency)
        .map(|p| (p.sku, p.price_minor))
        .collect();
    assert!(!products.is_empty());
    Fixture {
        conn,
        _dir: dir,
        _pg: pg,
        merchant_id: col.merchant_id,
        influencer_id: col.influencer_id,
        coupon: col.coupon_code.unwrap(),
        currency: Currency::parse(&campaign.currency).unwrap(),
        products,
        now,
    }
}

pub(crate) fn balances(f: &mut Fixture) -> (i64, i64, i64, i64) {
    let b = db::ledger::balances(&mut f.conn, Owner::Influencer(f.influencer_id)).unwrap();
    let get = |k| {
        b.get(&(k, f.currency.code().to_owned()))
            .copied()
            .unwrap_or(0)
    };
    (
        get(AccountKind::Pending),
        get(AccountKind::Available),
        get(AccountKind::InPayout),
        get(AccountKind::Paid),
    )
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut f = fixture();
    let start = balances(&mut f);
    let mut model: Vec<Model> = Vec::new();
    let mut clawed: i64 = 0;
    let mut paid_total: i64 = 0;
    for (step, op) in ops.into_iter().enumerate() {
        f.now += TimeDelta::minutes(7);
        match op {
            Op::Order(lines) => {
                let items: Vec<ItemInput> = lines
                    .iter()
                    .enumerate()
                    .map(|(n, (p, q, d))| {
                        let (sku, price) = &f.products[p % f.products.len()];
                        ItemInput {
                            // Distinct SKUs per line are not required: repeat lines are fine.
                            sku: sku.clone(),
                            quantity: *q,
                            unit_price_minor: *price + i64::try_from(n).unwrap(),
                            discount_minor: price * q * d / 100,
                        }
                    })
                    .collect();
                let base: i64 = items
                    .iter()
                    .map(|i| i.unit_price_minor * i.quantity - i.discount_minor)
                    .sum();
                let order_id = format!("P-{step}");
                let r = orders::record_conversion(
                    &mut f.conn,
                    f.now,
                    f.merchant_id,
                    "api",
                    "http://localhost",
                    &OrderInput {
                        order_id: order_id.clone(),
                        currency: f.currency,
                        occurred_at: f.now,
                        click_id: None,
                        coupon_code: Some(f.coupon.clone()),
                        customer_email: None,
                        items,
                        also_known_as: Vec::new(),
                    },
                )
                .unwrap();
                prop_assert_eq!(r.conversion.base_minor, base);
                let lines_sum: i64 = r.lines.iter().map(|l| l.commission_minor).sum();
                let commission = r.commission.as_ref().map(|c| (c.id, c.amount_minor));
                prop_assert_eq!(
                    lines_sum,
                    commission.map_or(0, |c| c.1),
                    "lines split exactly"
                );
                model.push(Model {
                    order_id,
                    base,
                    refunded: 0,
                    commission,
                    taken: 0,
                    state: State::Pending,
                });
            }
            Op::Refund(i, pct) => {
                if model.is_empty() {
                    continue;
                }
                let n = model.len();
                let m = &mut model[i % n];
                let left = m.base - m.refunded;
                if left == 0 {
                    continue;
                }
                let amount = (left * pct / 100).max(1);
                let r = orders::record_refund(
                    &mut f.conn,
                    f.now,
                    f.merchant_id,
                    "api",
                    &RefundInput {
                        order_id: m.order_id.clone(),
                        refund_id: format!("R-{step}"),
                        amount: tandem::domain::money::Money::from_minor(amount, f.currency)
                            .unwrap()
                            .to_plain_string(),
                        occurred_at: f.now,
                    },
                )
                .unwrap();
                m.refunded += amount;
                let t = r.refund.commission_minor;
                m.taken += t;
                if let Some((_, a)) = m.commission {
                    prop_assert!(m.taken <= a, "never more than was earned");
                    if m.refunded == m.base {
                        prop_assert_eq!(m.taken, a, "a full refund takes back all of it");
                    }
                    let expected = if m.state == State::Paid {
                        "clawback"
                    } else {
                        "reversal"
                    };
                    if t > 0 {
                        prop_assert_eq!(r.refund.effect.as_str(), expected);
                    }
                    if m.state == State::Paid {
                        clawed += t;
                    }
                }
            }
            Op::Mature => {
                f.now += TimeDelta::days(31);
                orders::mature_due(&mut f.conn, f.now).unwrap();
                for m in model.iter_mut().filter(|m| m.state == State::Pending) {
                    m.state = State::Available;
                }
            }
            Op::Pay => {
                // Payout runs come later in Tandem; pay each available commission by hand,
                // with the same journals a run writes.
                for m in model.iter_mut().filter(|m| m.state == State::Available) {
                    if let Some((id, a)) = m.commission {
                        let net = a - m.taken;
                        let c = db::orders::commission(&mut f.conn, id).unwrap().unwrap();
                        for (from, to) in [("available", "in_payout"), ("in_payout", "paid")] {
                            db::orders::move_commission(
                                &mut f.conn,
                                id,
                                from,
                                to,
                                None,
                                None,
                                "paid",
                                f.now,
                            )
                            .unwrap();
                        }
                        for d in [
                            ledger::payout_start(c.influencer_id, net, "test".into()),
                            ledger::payout_settle(c.influencer_id, net, "test".into()),
                        ] {
                            db::ledger::post(
                                &mut f.conn,
                                &d,
                                f.currency.code(),
                                "commission",
                                id,
                                f.now,
                            )
                            .unwrap();
                        }
                        paid_total += net;
                    }
                    m.state = State::Paid;
                }
            }
        }
        // The reference, from the model alone.
        let net = |s: State| -> i64 {
            model
                .iter()
                .filter(|m| m.state == s)
                .filter_map(|m| m.commission.map(|(_, a)| a - m.taken))
                .sum()
        };
        let expected = (
            start.0 + net(State::Pending),
            start.1 + net(State::Available) - clawed,
            start.2,
            start.3 + paid_total,
        );
        prop_assert_eq!(balances(&mut f), expected, "after step {}", step);
        let report = orders::check_ledger(&mut f.conn).unwrap();
        prop_assert!(report.breaks.is_empty(), "{:?}", report.breaks);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]
    #[test]
    fn the_ledger_always_reconciles(ops in prop::collection::vec(op(), 4..28)) {
        run(ops)?;
    }
}
