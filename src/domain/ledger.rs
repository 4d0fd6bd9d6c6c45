//! The double-entry ledger's rules (DESIGN.md §3 "Ledger"): accounts, the journals each event
//! writes (every journal sums to zero), and the invariants `tandem ledger check` verifies.
//!
//! Sign convention: an entry's amount is positive for a debit and negative for a credit.
//! The merchant's `receivable` (what it owes) and the platform's `cash` are debit accounts;
//! the influencer's `pending`, `available`, `in_payout` and `paid` and the platform's
//! `fee_revenue` are credit accounts, shown to people as the negated sum of their entries
//! (see [`AccountKind::shown`]).

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    Merchant(i64),
    Influencer(i64),
    Platform,
}

impl Owner {
    pub fn kind(&self) -> &'static str {
        match self {
            Owner::Merchant(_) => "merchant",
            Owner::Influencer(_) => "influencer",
            Owner::Platform => "platform",
        }
    }

    pub fn id(&self) -> i64 {
        match self {
            Owner::Merchant(id) | Owner::Influencer(id) => *id,
            Owner::Platform => 0,
        }
    }

    pub fn from_parts(kind: &str, id: i64) -> Option<Owner> {
        match kind {
            "merchant" => Some(Owner::Merchant(id)),
            "influencer" => Some(Owner::Influencer(id)),
            "platform" => Some(Owner::Platform),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountKind {
    Receivable,
    Pending,
    Available,
    InPayout,
    Paid,
    FeeRevenue,
    Cash,
}

impl AccountKind {
    pub const ALL: [AccountKind; 7] = [
        AccountKind::Receivable,
        AccountKind::Pending,
        AccountKind::Available,
        AccountKind::InPayout,
        AccountKind::Paid,
        AccountKind::FeeRevenue,
        AccountKind::Cash,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            AccountKind::Receivable => "receivable",
            AccountKind::Pending => "pending",
            AccountKind::Available => "available",
            AccountKind::InPayout => "in_payout",
            AccountKind::Paid => "paid",
            AccountKind::FeeRevenue => "fee_revenue",
            AccountKind::Cash => "cash",
        }
    }

    pub fn parse(s: &str) -> Option<AccountKind> {
        AccountKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the account's balance is shown as the negated sum of its entries.
    pub fn is_credit(&self) -> bool {
        !matches!(self, AccountKind::Receivable | AccountKind::Cash)
    }

    /// The balance people see, from the raw sum of entries.
    pub fn shown(&self, sum: i64) -> i64 {
        if self.is_credit() { -sum } else { sum }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JournalKind {
    Accrual,
    Maturation,
    Reversal,
    Clawback,
    PayoutStart,
    PayoutSettle,
    PayoutFail,
    MerchantPayment,
    Freeze,
    Release,
    Reject,
}

impl JournalKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            JournalKind::Accrual => "accrual",
            JournalKind::Maturation => "maturation",
            JournalKind::Reversal => "reversal",
            JournalKind::Clawback => "clawback",
            JournalKind::PayoutStart => "payout_start",
            JournalKind::PayoutSettle => "payout_settle",
            JournalKind::PayoutFail => "payout_fail",
            JournalKind::MerchantPayment => "merchant_payment",
            JournalKind::Freeze => "freeze",
            JournalKind::Release => "release",
            JournalKind::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<JournalKind> {
        [
            JournalKind::Accrual,
            JournalKind::Maturation,
            JournalKind::Reversal,
            JournalKind::Clawback,
            JournalKind::PayoutStart,
            JournalKind::PayoutSettle,
            JournalKind::PayoutFail,
            JournalKind::MerchantPayment,
            JournalKind::Freeze,
            JournalKind::Release,
            JournalKind::Reject,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One line of a journal before it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posting {
    pub owner: Owner,
    pub kind: AccountKind,
    pub amount_minor: i64,
}

/// A journal before it is stored: all in one currency, summing to zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalDraft {
    pub kind: JournalKind,
    pub postings: Vec<Posting>,
    pub memo: String,
}

impl JournalDraft {
    pub fn sum(&self) -> i128 {
        self.postings
            .iter()
            .map(|p| i128::from(p.amount_minor))
            .sum()
    }

    /// Drops zero postings (a commission without a fee has no fee line).
    fn tidy(mut self) -> JournalDraft {
        self.postings.retain(|p| p.amount_minor != 0);
        self
    }
}

fn post(owner: Owner, kind: AccountKind, amount_minor: i64) -> Posting {
    Posting {
        owner,
        kind,
        amount_minor,
    }
}

/// A commission is earned: the merchant owes commission + fee; the influencer's pending
/// balance and the platform's fee revenue grow.
pub fn accrual(
    merchant: i64,
    influencer: i64,
    commission: i64,
    fee: i64,
    memo: String,
) -> JournalDraft {
    JournalDraft {
        kind: JournalKind::Accrual,
        postings: vec![
            post(
                Owner::Merchant(merchant),
                AccountKind::Receivable,
                commission + fee,
            ),
            post(
                Owner::Influencer(influencer),
                AccountKind::Pending,
                -commission,
            ),
            post(Owner::Platform, AccountKind::FeeRevenue, -fee),
        ],
        memo,
    }
    .tidy()
}

/// The hold is over: pending becomes available.
pub fn maturation(influencer: i64, commission: i64, memo: String) -> JournalDraft {
    JournalDraft {
        kind: JournalKind::Maturation,
        postings: vec![
            post(
                Owner::Influencer(influencer),
                AccountKind::Pending,
                commission,
            ),
            post(
                Owner::Influencer(influencer),
                AccountKind::Available,
                -commission,
            ),
        ],
        memo,
    }
    .tidy()
}

/// A refund before payout: the commission part leaves `from` (pending or available), the
/// fee part leaves fee revenue, and the merchant owes that much less.
pub fn reversal(
    merchant: i64,
    influencer: i64,
    from: AccountKind,
    commission: i64,
    fee: i64,
    memo: String,
) -> JournalDraft {
    JournalDraft {
        kind: JournalKind::Reversal,
        postings: vec![
            post(
                Owner::Merchant(merchant),
                AccountKind::Receivable,
                -(commission + fee),
            ),
            post(Owner::Influencer(influencer), from, commission),
            post(Owner::Platform, AccountKind::FeeRevenue, fee),
        ],
        memo,
    }
    .tidy()
}

/// A refund after payout: taken back from the influencer's available balance (which may go
/// negative and is offset by later earnings).
pub fn clawback(
    merchant: i64,
    influencer: i64,
    commission: i64,
    fee: i64,
    memo: String,
) -> JournalDraft {
    JournalDraft {
        kind: JournalKind::Clawback,
        ..reversal(
            merchant,
            influencer,
            AccountKind::Available,
            commission,
            fee,
            memo,
        )
    }
}

/// A frozen commission is held in `pending` whatever its age; releasing it moves nothing
/// (the maturation job then treats it like any other). Rejecting it after review reverses
/// it entirely, like a refund.
pub fn rejection(
    merchant: i64,
    influencer: i64,
    from: AccountKind,
    commission: i64,
    fee: i64,
    memo: String,
) -> JournalDraft {
    JournalDraft {
        kind: JournalKind::Reject,
        ..reversal(merchant, influencer, from, commission, fee, memo)
    }
}

/// A payout takes an available amount: it is now being paid.
pub fn payout_start(influencer: i64, amount: i64, memo: String) -> JournalDraft {
    JournalDraft {
        kind: JournalKind::PayoutStart,
        postings: vec![
            post(
                Owner::Influencer(influencer),
                AccountKind::Available,
                amount,
            ),
            post(
                Owner::Influencer(influencer),
                AccountKind::InPayout,
                -amount,
            ),
        ],
        memo,
    }
    .tidy()
}

/// The payout arrived: from in payout to paid.
pub fn payout_settle(influencer: i64, amount: i64, memo: String) -> JournalDraft {
    JournalDraft {
        kind: JournalKind::PayoutSettle,
        postings: vec![
            post(Owner::Influencer(influencer), AccountKind::InPayout, amount),
            post(Owner::Influencer(influencer), AccountKind::Paid, -amount),
        ],
        memo,
    }
    .tidy()
}

/// One stored entry, as the checker reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    pub journal_id: i64,
    pub journal_kind: String,
    pub currency: String,
    pub owner: Owner,
    pub kind: AccountKind,
    pub amount_minor: i64,
}

/// A broken invariant, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break(pub String);

/// Per influencer and currency, what the journals say happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InfluencerTotals {
    pub earned: i64,
    pub reversed: i64,
    pub clawed_back: i64,
    pub paid: i64,
    pub pending: i64,
    pub available: i64,
    pub in_payout: i64,
}

/// Checks every invariant of DESIGN.md §3 over all entries: each journal sums to zero in
/// one currency; for each influencer and currency, earned - reversed - clawed back - paid
/// = pending + available + in_payout; pending and in_payout are never negative, and
/// available only through clawbacks. Returns the totals and every break found.
pub fn check(entries: &[EntryRow]) -> (BTreeMap<(i64, String), InfluencerTotals>, Vec<Break>) {
    let mut breaks = Vec::new();
    let mut journals: BTreeMap<i64, (String, i128, String)> = BTreeMap::new();
    let mut totals: BTreeMap<(i64, String), InfluencerTotals> = BTreeMap::new();
    for e in entries {
        let j = journals
            .entry(e.journal_id)
            .or_insert_with(|| (e.currency.clone(), 0, e.journal_kind.clone()));
        j.1 += i128::from(e.amount_minor);
        if j.0 != e.currency {
            breaks.push(Break(format!(
                "journal {} mixes currencies ({} and {})",
                e.journal_id, j.0, e.currency
            )));
        }
        if let Owner::Influencer(id) = e.owner {
            let t = totals.entry((id, e.currency.clone())).or_default();
            let credit = -e.amount_minor;
            match e.kind {
                AccountKind::Pending => t.pending += credit,
                AccountKind::Available => t.available += credit,
                AccountKind::InPayout => t.in_payout += credit,
                AccountKind::Paid => t.paid += credit,
                _ => breaks.push(Break(format!(
                    "journal {}: an influencer account of kind {}",
                    e.journal_id,
                    e.kind.as_str()
                ))),
            }
            // What happened, from the journal kinds: money in from accruals, out by
            // reversals, rejections and clawbacks.
            match e.journal_kind.as_str() {
                "accrual" => t.earned += credit,
                "reversal" | "reject" => t.reversed -= credit,
                "clawback" => t.clawed_back -= credit,
                _ => {}
            }
        }
    }
    for (id, (currency, sum, kind)) in &journals {
        if *sum != 0 {
            breaks.push(Break(format!(
                "journal {id} ({kind}, {currency}) does not sum to zero: {sum}"
            )));
        }
    }
    for ((influencer, currency), t) in &totals {
        let lhs = t.earned - t.reversed - t.clawed_back - t.paid;
        let rhs = t.pending + t.available + t.in_payout;
        if lhs != rhs {
            breaks.push(Break(format!(
                "influencer {influencer} ({currency}): earned {} - reversed {} - clawed back {} - paid {} = {lhs}, but pending {} + available {} + in payout {} = {rhs}",
                t.earned, t.reversed, t.clawed_back, t.paid, t.pending, t.available, t.in_payout
            )));
        }
        if t.pending < 0 {
            breaks.push(Break(format!(
                "influencer {influencer} ({currency}): pending is negative ({})",
                t.pending
            )));
        }
        if t.in_payout < 0 {
            breaks.push(Break(format!(
                "influencer {influencer} ({currency}): in payout is negative ({})",
                t.in_payout
            )));
        }
        if t.available < 0 && t.clawed_back == 0 {
            breaks.push(Break(format!(
                "influencer {influencer} ({currency}): available is negative ({}) without any clawback",
                t.available
            )));
        }
    }
    (totals, breaks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(journal_id: i64, d: &JournalDraft) -> Vec<EntryRow> {
        d.postings
            .iter()
            .map(|p| EntryRow {
                journal_id,
                journal_kind: d.kind.as_str().to_owned(),
                currency: "CNY".to_owned(),
                owner: p.owner,
                kind: p.kind,
                amount_minor: p.amount_minor,
            })
            .collect()
    }

    #[test]
    fn every_journal_sums_to_zero() {
        for d in [
            accrual(1, 2, 1000, 50, String::new()),
            maturation(2, 1000, String::new()),
            reversal(1, 2, AccountKind::Pending, 300, 15, String::new()),
            clawback(1, 2, 300, 15, String::new()),
            rejection(1, 2, AccountKind::Pending, 300, 0, String::new()),
        ] {
            assert_eq!(d.sum(), 0, "{d:?}");
        }
        assert_eq!(accrual(1, 2, 1000, 0, String::new()).postings.len(), 2);
    }

    #[test]
    fn the_checker_accepts_a_story_and_finds_breaks() {
        let mut all = Vec::new();
        all.extend(rows(1, &accrual(1, 2, 1000, 50, String::new())));
        all.extend(rows(2, &maturation(2, 1000, String::new())));
        all.extend(rows(3, &clawback(1, 2, 1200, 0, String::new())));
        let (totals, breaks) = check(&all);
        assert!(breaks.is_empty(), "{breaks:?}");
        let t = &totals[&(2, "CNY".to_owned())];
        assert_eq!(
            t.available, -200,
            "a clawback may take available below zero"
        );
        assert_eq!(t.earned, 1000);
        assert_eq!(t.clawed_back, 1200);

        let mut bad = rows(9, &accrual(1, 2, 1000, 0, String::new()));
        bad[0].amount_minor += 1;
        let (_, breaks) = check(&bad);
        assert!(breaks[0].0.contains("does not sum to zero"), "{breaks:?}");
    }
}
