//! Each role's home page. The influencer's answers "what did I earn, and when do I get it?":
//! balances per currency from the ledger, the next payout of their currency's schedule with
//! what it would pay them (the same planning a run does, for them alone), and every amount
//! not yet paid grouped by why.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use crate::db::{self, DbConn};
use crate::domain::ledger::{AccountKind, Owner};
use crate::domain::payout::FireRule;
use crate::error::AppResult;

/// One currency's balances and next payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyHome {
    pub currency: String,
    pub pending_minor: i64,
    pub available_minor: i64,
    pub in_payout_minor: i64,
    pub paid_minor: i64,
    /// Refunds of orders already paid for, not yet made up by later earnings: (refund id,
    /// order id, what it took back), when the available balance is below zero.
    pub clawbacks: Vec<(String, String, i64)>,
    pub next: Option<NextPayout>,
}

/// The next slot of the schedule of a currency and what it would do for this influencer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextPayout {
    pub schedule: String,
    pub at: NaiveDateTime,
    /// The amount it would pay, or why it would not.
    pub estimate: Result<i64, String>,
}

/// One reason amounts are not paid yet, with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhyGroup {
    pub currency: String,
    pub kind: WhyKind,
    pub title: String,
    pub total_minor: i64,
    pub lines: Vec<WhyLine>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WhyKind {
    /// Held while the buyer can return the order.
    Hold,
    /// Held for finance's review.
    Frozen,
    /// Available, and what the next run does with it.
    Available,
    /// In a payout not settled yet.
    InPayout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhyLine {
    pub order_id: String,
    pub campaign: String,
    pub amount_minor: i64,
    pub note: String,
}

/// The influencer's home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfluencerHome {
    pub currencies: Vec<CurrencyHome>,
    pub why: Vec<WhyGroup>,
}

/// Reads the influencer's home: `local_date` turns a UTC time into the reader's date as
/// shown (their time zone), which groups held amounts by the day they become available.
pub fn influencer_home(
    conn: &mut DbConn,
    now: NaiveDateTime,
    influencer_id: i64,
    local_date: &dyn Fn(NaiveDateTime) -> String,
) -> AppResult<InfluencerHome> {
    let balances = db::ledger::balances(conn, Owner::Influencer(influencer_id))?;
    let open = db::orders::open_commissions(conn, influencer_id)?;
    let mut currencies: Vec<String> = balances.keys().map(|(_, c)| c.clone()).collect();
    currencies.extend(open.iter().map(|o| o.currency.clone()));
    currencies.sort();
    currencies.dedup();
    let schedules = db::payouts::schedules(conn)?;
    let mut homes = Vec::new();
    let mut why = Vec::new();
    for currency in currencies {
        let get = |k: AccountKind| balances.get(&(k, currency.clone())).copied().unwrap_or(0);
        // The schedule of this currency that fires first.
        let next = schedules
            .iter()
            .filter(|s| s.active && s.currency == currency)
            .filter_map(|s| {
                let rule = FireRule::parse(&s.cron, &s.time_zone).ok()?;
                let at = *rule.next_fires(now, 1).first()?;
                Some((s, at))
            })
            .min_by_key(|(_, at)| *at);
        let next = match next {
            Some((s, at)) => {
                let plan = super::payouts::plan_for(
                    conn,
                    now,
                    &currency,
                    s.minimum_minor,
                    s.pay_when_paid,
                    Some(influencer_id),
                )?;
                let estimate = match (plan.payouts.first(), plan.left_out.first()) {
                    (Some(p), _) => Ok(p.amount_minor),
                    (None, Some(l)) => Err(l.reason.clone()),
                    (None, None) => Err("nothing of yours is available yet".to_owned()),
                };
                Some(NextPayout {
                    schedule: s.name.clone(),
                    at,
                    estimate,
                })
            }
            None => None,
        };
        let available = get(AccountKind::Available);
        let clawbacks = if available < 0 {
            db::orders::open_clawbacks_of(conn, influencer_id, &currency)?
        } else {
            Vec::new()
        };
        why.extend(why_groups(&currency, &open, next.as_ref(), local_date));
        homes.push(CurrencyHome {
            pending_minor: get(AccountKind::Pending),
            available_minor: available,
            in_payout_minor: get(AccountKind::InPayout),
            paid_minor: get(AccountKind::Paid),
            currency,
            clawbacks,
            next,
        });
    }
    Ok(InfluencerHome {
        currencies: homes,
        why,
    })
}

/// Groups one currency's open commissions by why they are not paid yet.
fn why_groups(
    currency: &str,
    open: &[db::orders::OpenCommission],
    next: Option<&NextPayout>,
    local_date: &dyn Fn(NaiveDateTime) -> String,
) -> Vec<WhyGroup> {
    let mut groups: BTreeMap<(WhyKind, String), Vec<WhyLine>> = BTreeMap::new();
    let mut sort_keys: BTreeMap<(WhyKind, String), NaiveDateTime> = BTreeMap::new();
    // A commission refunded in full is not owed at all.
    for c in open
        .iter()
        .filter(|c| c.currency == currency && c.net_minor != 0)
    {
        let (kind, title, note) = match c.state.as_str() {
            "pending" => (
                WhyKind::Hold,
                format!("In hold until {}", local_date(c.available_at)),
                format!("{}-day return window", c.hold_days),
            ),
            "frozen" => (
                WhyKind::Frozen,
                format!(
                    "Frozen for review: {}",
                    c.frozen_reason.as_deref().unwrap_or("flagged")
                ),
                "finance releases or rejects it".to_owned(),
            ),
            "available" => (
                WhyKind::Available,
                match next {
                    Some(n) => match &n.estimate {
                        Ok(_) => {
                            format!("Available: goes out with the next payout ({})", n.schedule)
                        }
                        Err(reason) => format!("Available, not paid next time: {reason}"),
                    },
                    None => "Available: no payout schedule in this currency yet".to_owned(),
                },
                String::new(),
            ),
            "in_payout" => (
                WhyKind::InPayout,
                match c.payout {
                    Some((id, ref state)) => format!(
                        "In payout #{id}: {}",
                        match state.as_str() {
                            "draft" => "awaiting finance's approval",
                            "approved" => "approved, to be sent",
                            "exported" => "sent to the bank, awaiting its answer",
                            _ => "being settled",
                        }
                    ),
                    None => "In payout".to_owned(),
                },
                String::new(),
            ),
            _ => continue,
        };
        let key = (kind, title);
        let first = sort_keys.entry(key.clone()).or_insert(c.available_at);
        *first = (*first).min(c.available_at);
        groups.entry(key).or_default().push(WhyLine {
            order_id: c.order_id.clone(),
            campaign: c.campaign.clone(),
            amount_minor: c.net_minor,
            note,
        });
    }
    let mut out: Vec<WhyGroup> = groups
        .into_iter()
        .map(|((kind, title), lines)| WhyGroup {
            currency: currency.to_owned(),
            kind,
            total_minor: lines.iter().map(|l| l.amount_minor).sum(),
            title,
            lines,
        })
        .collect();
    // Holds in the order they end; otherwise by kind.
    out.sort_by_key(|g| {
        (
            g.kind,
            sort_keys
                .get(&(g.kind, g.title.clone()))
                .copied()
                .unwrap_or_default(),
        )
    });
    out
}

/// One account kind's balance in one currency, as shown (credit accounts negated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindBalance {
    pub currency: String,
    pub kind: AccountKind,
    pub shown_minor: i64,
}

/// What the platform owes and is owed in one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exposure {
    pub currency: String,
    /// Influencers' held balances (pending: in the hold for returns, or frozen).
    pub held_minor: i64,
    /// Influencers' available balances, where positive.
    pub available_minor: i64,
    /// Influencers' in-payout balances.
    pub in_payout_minor: i64,
    /// Held + available (where positive) + in payout: the sum of the three parts above.
    pub owed_to_influencers_minor: i64,
    /// Influencers' available balances below zero (refunds after payment, not made up yet).
    pub owed_by_influencers_minor: i64,
    /// Merchants' receivable balances.
    pub receivable_minor: i64,
    /// The platform's cash: what merchants paid in, less what payouts took out.
    pub cash_minor: i64,
}

/// Finance's home: "do the books balance, and what needs me?"
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinanceHome {
    pub balances: Vec<KindBalance>,
    /// The raw sum of every account's balance per currency: zero when the books balance.
    pub trial: BTreeMap<String, i64>,
    /// Per currency, the accounts' debit balances and credit balances (both as positive
    /// amounts): equal when the books balance.
    pub debits_credits: BTreeMap<String, (i64, i64)>,
    pub exposure: Vec<Exposure>,
    /// Commissions frozen for review.
    pub frozen: i64,
    /// Payout runs in draft, awaiting approval.
    pub awaiting_approval: i64,
    /// Approved runs not exported yet.
    pub awaiting_export: i64,
    /// Exported runs not settled yet.
    pub unsettled_exports: i64,
    /// Payouts the bank or PayPal failed.
    pub failed_payouts: i64,
    /// Paid payouts the bank returned, not paid since.
    pub returned_payouts: i64,
}

impl FinanceHome {
    /// Whether every currency's trial balance is zero.
    pub fn balanced(&self) -> bool {
        self.trial.values().all(|&v| v == 0)
    }
}

/// Reads finance's home from the maintained account balances (`ledger_balances`, one row per
/// account) and counts of the queues.
pub fn finance_home(conn: &mut DbConn) -> AppResult<FinanceHome> {
    let accounts = db::ledger::account_balances(conn)?;
    let mut by_kind: BTreeMap<(String, AccountKind), i64> = BTreeMap::new();
    let mut trial: BTreeMap<String, i64> = BTreeMap::new();
    let mut exposure: BTreeMap<String, Exposure> = BTreeMap::new();
    let mut debits_credits: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (owner, kind, currency, raw) in accounts {
        *by_kind.entry((currency.clone(), kind)).or_default() += raw;
        *trial.entry(currency.clone()).or_default() += raw;
        let dc = debits_credits.entry(currency.clone()).or_default();
        if raw > 0 {
            dc.0 += raw;
        } else {
            dc.1 -= raw;
        }
        let shown = kind.shown(raw);
        let e = exposure
            .entry(currency.clone())
            .or_insert_with(|| Exposure {
                currency: currency.clone(),
                ..Exposure::default()
            });
        match (owner, kind) {
            (Owner::Influencer(_), AccountKind::Available) if shown < 0 => {
                e.owed_by_influencers_minor -= shown;
            }
            (Owner::Influencer(_), AccountKind::Available) => {
                e.available_minor += shown;
                e.owed_to_influencers_minor += shown;
            }
            (Owner::Influencer(_), AccountKind::Pending) => {
                e.held_minor += shown;
                e.owed_to_influencers_minor += shown;
            }
            (Owner::Influencer(_), AccountKind::InPayout) => {
                e.in_payout_minor += shown;
                e.owed_to_influencers_minor += shown;
            }
            (Owner::Merchant(_), AccountKind::Receivable) => e.receivable_minor += shown,
            (Owner::Platform, AccountKind::Cash) => e.cash_minor += shown,
            _ => {}
        }
    }
    let queues = db::payouts::queue_counts(conn)?;
    Ok(FinanceHome {
        balances: by_kind
            .into_iter()
            .map(|((currency, kind), raw)| KindBalance {
                currency,
                kind,
                shown_minor: kind.shown(raw),
            })
            .collect(),
        trial,
        debits_credits,
        exposure: exposure.into_values().collect(),
        frozen: queues.frozen,
        awaiting_approval: queues.awaiting_approval,
        awaiting_export: queues.awaiting_export,
        unsettled_exports: queues.unsettled_exports,
        failed_payouts: queues.failed_payouts,
        returned_payouts: queues.returned_payouts,
    })
}
