//! The double-entry ledger's rules (DESIGN.md §3 "Ledger"): accounts, the journals each event
//! writes (every journal sums to zero), and the invariants `tandem ledger check` verifies.
//!
//! Sign convention: an entry's amount is positive for a debit and negative for a credit.
//! The merchant's `receivable` (what it owes), the platform's `cash` and its `paid_out` (what
//! cash paid to creators, the mirror of their `paid`) are debit accounts;
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
    /// What the platform's cash paid to creators: the mirror of their `paid` accounts.
    PaidOut,
    /// Tax on the platform fee, owed to the tax office.
    TaxPayable,
}

impl AccountKind {
    pub const ALL: [AccountKind; 9] = [
        AccountKind::Receivable,
        AccountKind::Pending,
        AccountKind::Available,
        AccountKind::InPayout,
        AccountKind::Paid,
        AccountKind::FeeRevenue,
        AccountKind::Cash,
        AccountKind::PaidOut,
        AccountKind::TaxPayable,
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
            AccountKind::PaidOut => "paid_out",
            AccountKind::TaxPayable => "tax_payable",
        }
    }

    pub fn parse(s: &str) -> Option<AccountKind> {
        AccountKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What people call the account kind.
    pub fn label(&self) -> &'static str {
        match self {
            AccountKind::Receivable => "Receivable from merchants",
            AccountKind::Pending => "Influencers: held for returns",
            AccountKind::Available => "Influencers: available",
            AccountKind::InPayout => "Influencers: in payout",
            AccountKind::Paid => "Influencers: paid",
            AccountKind::FeeRevenue => "Platform fee revenue",
            AccountKind::Cash => "Cash",
            AccountKind::PaidOut => "Paid out to creators from cash",
            AccountKind::TaxPayable => "Tax on fees, owed",
        }
    }

    /// Whether the account's balance is shown as the negated sum of its entries.
    pub fn is_credit(&self) -> bool {
        !matches!(
            self,
            AccountKind::Receivable | AccountKind::Cash | AccountKind::PaidOut
        )
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
    /// A merchant's transfer bounced: what its payment took off the receivable is owed again.
    PaymentReversal,
    /// The bank returned a paid payout: the money is the creator's again, and back in cash.
    PayoutReturn,
    /// An invoice's tax on its fee lines.
    InvoiceTax,
    /// A correction of an issued invoice (fee waived, with its tax).
    CreditNote,
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
            JournalKind::PaymentReversal => "payment_reversal",
            JournalKind::PayoutReturn => "payout_return",
            JournalKind::InvoiceTax => "invoice_tax",
            JournalKind::CreditNote => "credit_note",
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
            JournalKind::PaymentReversal,
            JournalKind::PayoutReturn,
            JournalKind::InvoiceTax,
            JournalKind::CreditNote,
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

/// The payout arrived: from in payout to paid, and the money left the platform's cash
/// (cash is credited, `paid_out`, the mirror of the creators' `paid`, debited).
pub fn payout_settle(influencer: i64, amount: i64, memo: String) -> JournalDraft {
    JournalDraft {
        kind: JournalKind::PayoutSettle,
        postings: vec![
            post(Owner::Influencer(influencer), AccountKind::InPayout, amount),
            post(Owner::Influencer(influencer), AccountKind::Paid, -amount),
            post(Owner::Platform, AccountKind::Cash, -amount),
            post(Owner::Platform, AccountKind::PaidOut, amount),
        ],
        memo,
    }
    .tidy()
}

/// The bank returned a paid payout: what it paid is not paid any more (paid and paid_out
/// undone), the money is back in cash, and the creator has it available again.
pub fn payout_return(influencer: i64, amount: i64, memo: String) -> JournalDraft {
    JournalDraft {
        kind: JournalKind::PayoutReturn,
        postings: vec![
            post(Owner::Influencer(influencer), AccountKind::Paid, amount),
            post(Owner::Platform, AccountKind::PaidOut, -amount),
            post(Owner::Platform, AccountKind::Cash, amount),
            post(
                Owner::Influencer(influencer),
                AccountKind::Available,
                -amount,
            ),
        ],
        memo,
    }
    .tidy()
}

/// The journal kinds that may move the platform's cash.
pub const CASH_KINDS: [&str; 4] = [
    "merchant_payment",
    "payment_reversal",
    "payout_settle",
    "payout_return",
];

/// A merchant's transfer arrived: cash up, the merchant owes that much less.
pub fn merchant_payment(merchant: i64, amount: i64, memo: String) -> JournalDraft {
    JournalDraft {
        kind: JournalKind::MerchantPayment,
        postings: vec![
            post(Owner::Platform, AccountKind::Cash, amount),
            post(Owner::Merchant(merchant), AccountKind::Receivable, -amount),
        ],
        memo,
    }
    .tidy()
}

/// The transfer bounced: the payment's journal, undone by one of its own.
pub fn payment_reversal(merchant: i64, amount: i64, memo: String) -> JournalDraft {
    JournalDraft {
        kind: JournalKind::PaymentReversal,
        ..merchant_payment(merchant, -amount, memo)
    }
}

/// An invoice's tax on its platform fee: the merchant owes it, the platform owes it on.
pub fn invoice_tax(merchant: i64, tax: i64, memo: String) -> JournalDraft {
    JournalDraft {
        kind: JournalKind::InvoiceTax,
        postings: vec![
            post(Owner::Merchant(merchant), AccountKind::Receivable, tax),
            post(Owner::Platform, AccountKind::TaxPayable, -tax),
        ],
        memo,
    }
    .tidy()
}

/// A credit note gives back part of an invoice's platform fee and that part's tax.
pub fn credit_note(merchant: i64, fee: i64, tax: i64, memo: String) -> JournalDraft {
    JournalDraft {
        kind: JournalKind::CreditNote,
        postings: vec![
            post(
                Owner::Merchant(merchant),
                AccountKind::Receivable,
                -(fee + tax),
            ),
            post(Owner::Platform, AccountKind::FeeRevenue, fee),
            post(Owner::Platform, AccountKind::TaxPayable, tax),
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
/// = pending + available + in_payout; pending and in_payout are never negative. (How far
/// available may go below zero depends on the refunds behind the clawbacks: [`audit`]
/// checks that.) Returns the totals and every break found.
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
    }
    (totals, breaks)
}

/// The books as stored, for [`audit`]: every account, journal and entry, and the rows the
/// journals are for.
#[derive(Debug, Clone, Default)]
pub struct Books {
    pub accounts: Vec<AccountRow>,
    pub journals: Vec<JournalRow>,
    pub entries: Vec<StoredEntry>,
    pub commissions: Vec<CommissionFacts>,
    pub refunds: Vec<RefundFacts>,
    pub payouts: Vec<PayoutFacts>,
    pub payout_items: Vec<PayoutItemFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutFacts {
    pub id: i64,
    pub run_id: i64,
    pub influencer_id: i64,
    pub currency: String,
    pub amount_minor: i64,
    pub state: String,
    /// Its run's state and currency (empty when the run does not exist).
    pub run_state: String,
    pub run_currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutItemFacts {
    pub id: i64,
    pub payout_id: i64,
    pub commission_id: Option<i64>,
    pub refund_id: Option<i64>,
    pub amount_minor: i64,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub id: i64,
    pub owner_kind: String,
    pub owner_id: i64,
    pub kind: String,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    pub id: i64,
    pub kind: String,
    pub ref_kind: String,
    pub ref_id: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub journal_id: i64,
    pub account_id: i64,
    pub amount_minor: i64,
}

/// Accounts whose kept balance (`kept`: account id → balance) differs from the sum of their
/// entries: (account id, kept, summed). Empty when the trigger kept every one.
pub fn balance_drift(entries: &[StoredEntry], kept: &BTreeMap<i64, i64>) -> Vec<(i64, i64, i64)> {
    let mut summed: BTreeMap<i64, i64> = BTreeMap::new();
    for e in entries {
        *summed.entry(e.account_id).or_default() += e.amount_minor;
    }
    let mut ids: Vec<i64> = kept.keys().chain(summed.keys()).copied().collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| {
            let k = kept.get(&id).copied().unwrap_or(0);
            let s = summed.get(&id).copied().unwrap_or(0);
            (k != s).then_some((id, k, s))
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommissionFacts {
    pub id: i64,
    pub conversion_id: i64,
    pub merchant_id: i64,
    pub influencer_id: i64,
    pub currency: String,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundFacts {
    pub id: i64,
    pub merchant_id: i64,
    pub conversion_id: i64,
    /// The order's merchant and commission base.
    pub order_merchant_id: i64,
    pub order_base_minor: i64,
    pub amount_minor: i64,
    pub commission_minor: i64,
    pub fee_minor: i64,
    pub effect: String,
}

/// What [`audit`] verified (how many of each) and every break it found.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    pub verified: Vec<(&'static str, usize)>,
    pub breaks: Vec<Break>,
}

/// Journal kinds billing posts (checked by `domain::billing::audit`).
pub fn is_billing_kind(kind: &str) -> bool {
    matches!(
        kind,
        "merchant_payment" | "payment_reversal" | "invoice_tax" | "credit_note"
    )
}

/// Which kinds of account each owner may have.
fn account_allowed(owner_kind: &str, kind: &str) -> bool {
    matches!(
        (owner_kind, kind),
        ("merchant", "receivable")
            | ("influencer", "pending" | "available" | "in_payout" | "paid")
            | (
                "platform",
                "fee_revenue" | "cash" | "paid_out" | "tax_payable"
            )
    )
}

/// A journal's postings in a comparable form: (owner, account kind, amount), sorted.
fn shape(postings: &[Posting]) -> Vec<(Owner, AccountKind, i64)> {
    let mut v: Vec<_> = postings
        .iter()
        .filter(|p| p.amount_minor != 0)
        .map(|p| (p.owner, p.kind, p.amount_minor))
        .collect();
    v.sort();
    v
}

/// Verifies the whole ledger against the rows it is for (DESIGN.md §3 "Ledger"):
/// - accounts: each owner has only its kinds of account;
/// - journals: each sums to zero per currency, and every entry's account is in the journal's
///   currency; each points at a row that exists (a commission, a refund) of the same
///   merchant and influencer;
/// - commissions: replaying each one's journals and its refunds' journals in order, every
///   journal moves exactly the amounts it must (accrual: amount and fee; maturation and
///   payout: what is left after refunds; reversal or clawback: the refund's take-back and
///   fee, from the account the commission was in), each at the right point of the
///   lifecycle, and the state it ends in is the commission's state;
/// - refunds: a refund that takes back money has its journal, one that does not has none,
///   and the refunds of an order add up to no more than the order;
/// - per merchant and currency, receivable = commissions + fees - what refunds and
///   rejections took back; platform fee revenue = the fees kept;
/// - per influencer and currency, earned - reversed - clawed back - paid = pending +
///   available + in payout, pending and in payout never negative, and available negative by
///   no more than the clawbacks of real refunds;
/// - payouts: a settle journal moves in payout to paid and cash to paid_out; a returned
///   payout's items have start, settle and return journals (the return: paid and paid_out
///   undone, cash and available credited back), which leave its commissions available and
///   its clawbacks open again;
/// - per currency, the platform's cash moves only by the [`CASH_KINDS`] journals, and
///   paid_out = the creators' paid accounts.
pub fn audit(books: &Books) -> Audit {
    use std::collections::{BTreeMap, HashMap};
    let mut breaks: Vec<Break> = Vec::new();
    let mut brk = |s: String| breaks.push(Break(s));

    let accounts: HashMap<i64, &AccountRow> = books.accounts.iter().map(|a| (a.id, a)).collect();
    for a in &books.accounts {
        if !account_allowed(&a.owner_kind, &a.kind) {
            brk(format!(
                "account {}: a {} may not have a {} account",
                a.id, a.owner_kind, a.kind
            ));
        }
    }
    let journals: BTreeMap<i64, &JournalRow> = books.journals.iter().map(|j| (j.id, j)).collect();
    let mut postings: BTreeMap<i64, Vec<Posting>> = BTreeMap::new();
    let mut per_currency: BTreeMap<(i64, String), i128> = BTreeMap::new();
    let mut rows: Vec<EntryRow> = Vec::with_capacity(books.entries.len());
    for e in &books.entries {
        let Some(j) = journals.get(&e.journal_id) else {
            brk(format!(
                "an entry points at journal {}, which does not exist",
                e.journal_id
            ));
            continue;
        };
        let Some(a) = accounts.get(&e.account_id) else {
            brk(format!(
                "journal {}: an entry points at account {}, which does not exist",
                j.id, e.account_id
            ));
            continue;
        };
        *per_currency.entry((j.id, a.currency.clone())).or_default() += i128::from(e.amount_minor);
        if a.currency != j.currency {
            brk(format!(
                "journal {} is in {} but moves account {} in {}",
                j.id, j.currency, a.id, a.currency
            ));
        }
        let (Some(owner), Some(kind)) = (
            Owner::from_parts(&a.owner_kind, a.owner_id),
            AccountKind::parse(&a.kind),
        ) else {
            continue;
        };
        postings.entry(j.id).or_default().push(Posting {
            owner,
            kind,
            amount_minor: e.amount_minor,
        });
        rows.push(EntryRow {
            journal_id: j.id,
            journal_kind: j.kind.clone(),
            currency: a.currency.clone(),
            owner,
            kind,
            amount_minor: e.amount_minor,
        });
    }
    for ((id, currency), sum) in &per_currency {
        if *sum != 0 {
            brk(format!(
                "journal {id} does not sum to zero in {currency}: {sum}"
            ));
        }
    }

    // Which journals are for which row.
    let commissions: HashMap<i64, &CommissionFacts> =
        books.commissions.iter().map(|c| (c.id, c)).collect();
    let by_conversion: HashMap<i64, &CommissionFacts> = books
        .commissions
        .iter()
        .map(|c| (c.conversion_id, c))
        .collect();
    let refunds: HashMap<i64, &RefundFacts> = books.refunds.iter().map(|r| (r.id, r)).collect();
    let mut of_commission: BTreeMap<i64, Vec<&JournalRow>> = BTreeMap::new();
    let mut refund_journal: HashMap<i64, &JournalRow> = HashMap::new();
    let items: HashMap<i64, &PayoutItemFacts> =
        books.payout_items.iter().map(|i| (i.id, i)).collect();
    let payouts: HashMap<i64, &PayoutFacts> = books.payouts.iter().map(|p| (p.id, p)).collect();
    // The payout journals of each clawback (netted by a payout), and of each item.
    let mut of_clawback: BTreeMap<i64, Vec<&JournalRow>> = BTreeMap::new();
    let mut of_item: BTreeMap<i64, Vec<&JournalRow>> = BTreeMap::new();
    for j in &books.journals {
        let commission_ref = j.ref_kind == "commission" || j.ref_kind == "demo_payout";
        if j.ref_kind == "payout_item"
            && matches!(
                j.kind.as_str(),
                "payout_start" | "payout_settle" | "payout_fail" | "payout_return"
            )
        {
            match items.get(&j.ref_id) {
                Some(it) => {
                    of_item.entry(it.id).or_default().push(j);
                    match (it.commission_id, it.refund_id) {
                        (Some(c), None) if commissions.contains_key(&c) => {
                            of_commission.entry(c).or_default().push(j);
                        }
                        (None, Some(r)) if refunds.contains_key(&r) => {
                            of_clawback.entry(r).or_default().push(j);
                        }
                        _ => brk(format!(
                            "journal {} ({}) is for payout item {}, which settles nothing the ledger knows",
                            j.id, j.kind, it.id
                        )),
                    }
                }
                None => brk(format!(
                    "journal {} ({}) is for payout item {}, which does not exist",
                    j.id, j.kind, j.ref_id
                )),
            }
            continue;
        }
        match (j.kind.as_str(), commission_ref, j.ref_kind.as_str()) {
            (
                "accrual" | "maturation" | "reject" | "payout_start" | "payout_settle"
                | "payout_fail" | "payout_return",
                true,
                _,
            ) => {
                if commissions.contains_key(&j.ref_id) {
                    of_commission.entry(j.ref_id).or_default().push(j);
                } else {
                    brk(format!(
                        "journal {} ({}) is for commission {}, which does not exist",
                        j.id, j.kind, j.ref_id
                    ));
                }
            }
            ("reversal" | "clawback", _, "refund") => match refunds.get(&j.ref_id) {
                Some(r) => {
                    refund_journal.insert(r.id, j);
                    match by_conversion.get(&r.conversion_id) {
                        Some(c) => of_commission.entry(c.id).or_default().push(j),
                        None => brk(format!(
                            "journal {} ({}) is for refund {}, whose order has no commission",
                            j.id, j.kind, r.id
                        )),
                    }
                }
                None => brk(format!(
                    "journal {} ({}) is for refund {}, which does not exist",
                    j.id, j.kind, j.ref_id
                )),
            },
            // Billing's documents and payments: `domain::billing::audit` checks them.
            ("merchant_payment" | "payment_reversal", _, "merchant_payment")
            | ("invoice_tax" | "credit_note", _, "invoice") => {}
            _ => brk(format!(
                "journal {} ({} for {} {}) is for nothing the ledger knows",
                j.id, j.kind, j.ref_kind, j.ref_id
            )),
        }
    }

    // Each commission, replayed.
    let mut receivable: BTreeMap<(i64, String), i64> = BTreeMap::new();
    let mut fees: BTreeMap<String, i64> = BTreeMap::new();
    let mut clawbacks: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for c in &books.commissions {
        let mut js = of_commission.remove(&c.id).unwrap_or_default();
        js.sort_by_key(|j| j.id);
        let (m, i) = (c.merchant_id, c.influencer_id);
        let mut state = "none";
        let (mut left, mut fee_left) = (0i64, 0i64);
        for j in js {
            let refund = refunds.get(&j.ref_id).filter(|_| j.ref_kind == "refund");
            let expected = match (j.kind.as_str(), state) {
                ("accrual", "none") => {
                    state = "pending";
                    (left, fee_left) = (c.amount_minor, c.fee_minor);
                    accrual(m, i, c.amount_minor, c.fee_minor, String::new())
                }
                ("maturation", "pending") => {
                    state = "available";
                    maturation(i, left, String::new())
                }
                ("reject", "pending") => {
                    state = "rejected";
                    let d = rejection(m, i, AccountKind::Pending, left, fee_left, String::new());
                    (left, fee_left) = (0, 0);
                    d
                }
                ("reversal", "pending" | "available") => {
                    let r = refund.expect("a refund's journal");
                    let from = if state == "pending" {
                        AccountKind::Pending
                    } else {
                        AccountKind::Available
                    };
                    left -= r.commission_minor;
                    fee_left -= r.fee_minor;
                    reversal(m, i, from, r.commission_minor, r.fee_minor, String::new())
                }
                ("clawback", "in_payout" | "paid") => {
                    let r = refund.expect("a refund's journal");
                    *clawbacks.entry((i, c.currency.clone())).or_default() += r.commission_minor;
                    fee_left -= r.fee_minor;
                    clawback(m, i, r.commission_minor, r.fee_minor, String::new())
                }
                ("payout_start", "available") => {
                    state = "in_payout";
                    payout_start(i, left, String::new())
                }
                ("payout_settle", "in_payout") => {
                    state = "paid";
                    payout_settle(i, left, String::new())
                }
                ("payout_return", "paid") => {
                    // The bank returned it: available again, paid by a later payout.
                    state = "available";
                    payout_return(i, left, String::new())
                }
                ("payout_fail", "in_payout") => {
                    state = "available";
                    JournalDraft {
                        kind: JournalKind::PayoutFail,
                        postings: payout_start(i, left, String::new())
                            .postings
                            .iter()
                            .map(|p| Posting {
                                amount_minor: -p.amount_minor,
                                ..*p
                            })
                            .collect(),
                        memo: String::new(),
                    }
                }
                (kind, at) => {
                    brk(format!(
                        "commission {}: journal {} ({kind}) comes when the commission is {at}",
                        c.id, j.id
                    ));
                    continue;
                }
            };
            let stored = postings.get(&j.id).map(Vec::as_slice).unwrap_or(&[]);
            if shape(stored) != shape(&expected.postings) {
                brk(format!(
                    "commission {}: journal {} ({}) moves {:?}, but it must move {:?}",
                    c.id,
                    j.id,
                    j.kind,
                    shape(stored),
                    shape(&expected.postings)
                ));
            }
            if j.currency != c.currency {
                brk(format!(
                    "commission {} is in {} but its journal {} is in {}",
                    c.id, c.currency, j.id, j.currency
                ));
            }
        }
        let agrees = match c.state.as_str() {
            "pending" | "frozen" => state == "pending",
            other => state == other,
        };
        if !agrees {
            brk(format!(
                "commission {} is {}, but its journals leave it {state}",
                c.id, c.state
            ));
        }
        *receivable.entry((m, c.currency.clone())).or_default() += c.amount_minor + c.fee_minor;
        *fees.entry(c.currency.clone()).or_default() += c.fee_minor;
        if c.state == "rejected" {
            // What the rejection took back (what refunds had not).
            let taken: i64 = books
                .refunds
                .iter()
                .filter(|r| r.conversion_id == c.conversion_id)
                .map(|r| r.commission_minor + r.fee_minor)
                .sum();
            *receivable.entry((m, c.currency.clone())).or_default() -=
                c.amount_minor + c.fee_minor - taken;
            let fee_taken: i64 = books
                .refunds
                .iter()
                .filter(|r| r.conversion_id == c.conversion_id)
                .map(|r| r.fee_minor)
                .sum();
            *fees.entry(c.currency.clone()).or_default() -= c.fee_minor - fee_taken;
        }
    }

    // Each clawback a payout netted: start (its negative amount into in payout), then
    // settle or fail, and again after a fail.
    for (refund_id, mut js) in of_clawback {
        js.sort_by_key(|j| j.id);
        let r = refunds[&refund_id];
        let Some(c) = by_conversion.get(&r.conversion_id) else {
            continue;
        };
        if r.effect != "clawback" {
            brk(format!(
                "refund {refund_id} is a {}, but a payout settles it as a clawback",
                r.effect
            ));
        }
        let i = c.influencer_id;
        let mut state = "open";
        for j in js {
            let expected = match (j.kind.as_str(), state) {
                ("payout_start", "open") => {
                    state = "in_payout";
                    payout_start(i, -r.commission_minor, String::new())
                }
                ("payout_settle", "in_payout") => {
                    state = "settled";
                    payout_settle(i, -r.commission_minor, String::new())
                }
                ("payout_return", "settled") => {
                    // Its payout was returned: the clawback is open again.
                    state = "open";
                    payout_return(i, -r.commission_minor, String::new())
                }
                ("payout_fail", "in_payout") => {
                    state = "open";
                    JournalDraft {
                        kind: JournalKind::PayoutFail,
                        postings: payout_start(i, r.commission_minor, String::new()).postings,
                        memo: String::new(),
                    }
                }
                (kind, at) => {
                    brk(format!(
                        "clawback {refund_id}: journal {} ({kind}) comes when it is {at}",
                        j.id
                    ));
                    continue;
                }
            };
            let stored = postings.get(&j.id).map(Vec::as_slice).unwrap_or(&[]);
            if shape(stored) != shape(&expected.postings) {
                brk(format!(
                    "clawback {refund_id}: journal {} ({}) moves {:?}, but it must move {:?}",
                    j.id,
                    j.kind,
                    shape(stored),
                    shape(&expected.postings)
                ));
            }
        }
        if state != "open" {
            // Netted by a payout: no longer a negative in available.
            *clawbacks.entry((i, c.currency.clone())).or_default() -= r.commission_minor;
        }
    }

    // Each payout: its amount is the sum of what it settles; its items' journals agree
    // with its state; nothing is settled by two payouts; in payout is what approved and
    // draft payouts hold.
    let mut item_sums: HashMap<i64, i64> = HashMap::new();
    let mut settled_by: HashMap<(bool, i64), i64> = HashMap::new();
    for it in &books.payout_items {
        *item_sums.entry(it.payout_id).or_default() += it.amount_minor;
        let Some(p) = payouts.get(&it.payout_id) else {
            brk(format!(
                "payout item {} is of payout {}, which does not exist",
                it.id, it.payout_id
            ));
            continue;
        };
        if it.active {
            let key = match (it.commission_id, it.refund_id) {
                (Some(c), _) => (true, c),
                (_, Some(r)) => (false, r),
                _ => continue,
            };
            if let Some(other) = settled_by.insert(key, p.id) {
                brk(format!(
                    "{} {} is settled by payouts {other} and {}",
                    if key.0 { "commission" } else { "clawback" },
                    key.1,
                    p.id
                ));
            }
        }
        let kinds: Vec<&str> = of_item
            .get(&it.id)
            .map(|v| v.iter().map(|j| j.kind.as_str()).collect())
            .unwrap_or_default();
        let want: &[&str] = match p.state.as_str() {
            "draft" | "approved" | "exported" => &["payout_start"],
            "paid" => &["payout_start", "payout_settle"],
            "returned" => &["payout_start", "payout_settle", "payout_return"],
            _ => &["payout_start", "payout_fail"],
        };
        let mut sorted = kinds.clone();
        sorted.sort_unstable();
        let mut want_sorted = want.to_vec();
        want_sorted.sort_unstable();
        if sorted != want_sorted {
            brk(format!(
                "payout {} is {}, but its item {} has journals {kinds:?}",
                p.id, p.state, it.id
            ));
        }
        // Each journal of the item moves exactly the item's amount, in the payout's
        // currency, for the payout's creator.
        for j in of_item.get(&it.id).map(Vec::as_slice).unwrap_or(&[]) {
            let start = payout_start(p.influencer_id, it.amount_minor, String::new()).postings;
            let expected: Vec<Posting> = match j.kind.as_str() {
                "payout_start" => start,
                "payout_settle" => {
                    payout_settle(p.influencer_id, it.amount_minor, String::new()).postings
                }
                "payout_return" => {
                    payout_return(p.influencer_id, it.amount_minor, String::new()).postings
                }
                _ => start
                    .iter()
                    .map(|q| Posting {
                        amount_minor: -q.amount_minor,
                        ..*q
                    })
                    .collect(),
            };
            let stored = postings.get(&j.id).map(Vec::as_slice).unwrap_or(&[]);
            if shape(stored) != shape(&expected) || j.currency != p.currency {
                brk(format!(
                    "payout item {} (payout {}) is for {} {}, but its journal {} ({}) moves {:?} in {}",
                    it.id,
                    p.id,
                    it.amount_minor,
                    p.currency,
                    j.id,
                    j.kind,
                    shape(stored),
                    j.currency
                ));
            }
        }
        let should_be_active = !matches!(p.state.as_str(), "failed" | "cancelled" | "returned");
        if it.active != should_be_active {
            brk(format!(
                "payout {} is {}, but its item {} is {}",
                p.id,
                p.state,
                it.id,
                if it.active { "active" } else { "released" }
            ));
        }
    }
    let mut open_payouts: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for p in &books.payouts {
        // A payout's state belongs with its run's (a paid payout is never in a draft run).
        let fits: &[&str] = match p.run_state.as_str() {
            "draft" => &["draft"],
            "approved" => &["approved"],
            "exported" => &["exported", "paid", "failed", "returned"],
            "paid" => &["paid", "failed", "returned"],
            "cancelled" => &["cancelled"],
            _ => &[],
        };
        if !fits.contains(&p.state.as_str()) {
            brk(format!(
                "payout {} is {}, but its run {} is {}",
                p.id,
                p.state,
                p.run_id,
                if p.run_state.is_empty() {
                    "missing"
                } else {
                    p.run_state.as_str()
                }
            ));
        }
        if !p.run_currency.is_empty() && p.run_currency != p.currency {
            brk(format!(
                "payout {} is in {}, but its run {} is in {}",
                p.id, p.currency, p.run_id, p.run_currency
            ));
        }
        let sum = item_sums.get(&p.id).copied().unwrap_or(0);
        if sum != p.amount_minor {
            brk(format!(
                "payout {} is for {}, but what it settles adds up to {sum}",
                p.id, p.amount_minor
            ));
        }
        if matches!(p.state.as_str(), "draft" | "approved" | "exported") {
            *open_payouts
                .entry((p.influencer_id, p.currency.clone()))
                .or_default() += p.amount_minor;
        }
    }
    let mut in_payout_by_items: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for j in books
        .journals
        .iter()
        .filter(|j| j.ref_kind == "payout_item")
    {
        for p in postings.get(&j.id).map(Vec::as_slice).unwrap_or(&[]) {
            if let (Owner::Influencer(i), AccountKind::InPayout) = (p.owner, p.kind) {
                *in_payout_by_items
                    .entry((i, j.currency.clone()))
                    .or_default() -= p.amount_minor;
            }
        }
    }
    in_payout_by_items.retain(|_, v| *v != 0);
    open_payouts.retain(|_, v| *v != 0);
    if in_payout_by_items != open_payouts {
        for key in in_payout_by_items.keys().chain(open_payouts.keys()) {
            let (got, want) = (
                in_payout_by_items.get(key).copied().unwrap_or(0),
                open_payouts.get(key).copied().unwrap_or(0),
            );
            if got != want {
                brk(format!(
                    "influencer {} ({}): payouts hold {got} in payout, but the unsettled payouts add up to {want}",
                    key.0, key.1
                ));
            }
        }
    }

    // Each refund.
    let mut refunded: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for r in &books.refunds {
        let e = refunded
            .entry(r.conversion_id)
            .or_insert((0, r.order_base_minor));
        e.0 += r.amount_minor;
        if r.merchant_id != r.order_merchant_id {
            brk(format!("refund {} is another merchant's order's", r.id));
        }
        let journal = refund_journal.get(&r.id);
        match (r.effect.as_str(), journal) {
            ("none", None) => {
                if r.commission_minor != 0 || r.fee_minor != 0 {
                    brk(format!(
                        "refund {} takes back {} (fee {}) but has no journal",
                        r.id, r.commission_minor, r.fee_minor
                    ));
                }
            }
            ("reversal" | "clawback", Some(j)) if j.kind == r.effect => {
                if let Some(c) = by_conversion.get(&r.conversion_id) {
                    *receivable
                        .entry((c.merchant_id, c.currency.clone()))
                        .or_default() -= r.commission_minor + r.fee_minor;
                    *fees.entry(c.currency.clone()).or_default() -= r.fee_minor;
                }
            }
            (effect, j) => brk(format!(
                "refund {} is a {effect} but its journal is {}",
                r.id,
                j.map_or("missing".to_owned(), |j| format!("{} ({})", j.id, j.kind))
            )),
        }
    }
    for (conversion, (sum, base)) in &refunded {
        if sum > base {
            brk(format!(
                "order {conversion}: refunds add up to {sum}, more than the order's {base}"
            ));
        }
    }

    // Per merchant and currency, and the platform's fees.
    let mut stored_receivable: BTreeMap<(i64, String), i64> = BTreeMap::new();
    let mut stored_fees: BTreeMap<String, i64> = BTreeMap::new();
    for e in &rows {
        if is_billing_kind(&e.journal_kind) {
            // Payments, their reversals, invoice tax and credit notes: checked against
            // billing's documents by `domain::billing::audit`.
            continue;
        }
        match (e.owner, e.kind) {
            (Owner::Merchant(m), AccountKind::Receivable) => {
                *stored_receivable
                    .entry((m, e.currency.clone()))
                    .or_default() += e.amount_minor
            }
            (Owner::Platform, AccountKind::FeeRevenue) => {
                *stored_fees.entry(e.currency.clone()).or_default() -= e.amount_minor
            }
            _ => {}
        }
    }
    receivable.retain(|_, v| *v != 0);
    stored_receivable.retain(|_, v| *v != 0);
    if receivable != stored_receivable {
        for key in receivable.keys().chain(stored_receivable.keys()) {
            let (want, got) = (
                receivable.get(key).copied().unwrap_or(0),
                stored_receivable.get(key).copied().unwrap_or(0),
            );
            if want != got {
                brk(format!(
                    "merchant {} ({}): receivable is {got}, but commissions + fees - what was taken back = {want}",
                    key.0, key.1
                ));
            }
        }
    }
    fees.retain(|_, v| *v != 0);
    stored_fees.retain(|_, v| *v != 0);
    if fees != stored_fees {
        brk(format!(
            "platform fee revenue is {stored_fees:?}, but the fees kept are {fees:?}"
        ));
    }

    // The platform's cash: moved only by the kinds that move money in or out (merchants'
    // payments and their reversals, payouts settled and returned); per currency, cash =
    // payments - reversed payments - settled + returned; and what cash paid to creators
    // (paid_out) mirrors their paid accounts.
    let mut cash_stored: BTreeMap<String, i64> = BTreeMap::new();
    let mut cash_by_kind: BTreeMap<String, i64> = BTreeMap::new();
    let mut paid_out: BTreeMap<String, i64> = BTreeMap::new();
    let mut creators_paid: BTreeMap<String, i64> = BTreeMap::new();
    for e in &rows {
        match (e.owner, e.kind) {
            (Owner::Platform, AccountKind::Cash) => {
                *cash_stored.entry(e.currency.clone()).or_default() += e.amount_minor;
                if CASH_KINDS.contains(&e.journal_kind.as_str()) {
                    *cash_by_kind.entry(e.currency.clone()).or_default() += e.amount_minor;
                } else {
                    brk(format!(
                        "journal {} ({}) moves the platform's cash ({} {}): only merchant payments, their reversals and payouts settled or returned do",
                        e.journal_id, e.journal_kind, e.amount_minor, e.currency
                    ));
                }
            }
            (Owner::Platform, AccountKind::PaidOut) => {
                *paid_out.entry(e.currency.clone()).or_default() += e.amount_minor
            }
            (Owner::Influencer(_), AccountKind::Paid) => {
                *creators_paid.entry(e.currency.clone()).or_default() -= e.amount_minor
            }
            _ => {}
        }
    }
    cash_stored.retain(|_, v| *v != 0);
    cash_by_kind.retain(|_, v| *v != 0);
    if cash_stored != cash_by_kind {
        for key in cash_stored.keys().chain(cash_by_kind.keys()) {
            let (got, want) = (
                cash_stored.get(key).copied().unwrap_or(0),
                cash_by_kind.get(key).copied().unwrap_or(0),
            );
            if got != want {
                brk(format!(
                    "platform cash ({key}) is {got}, but payments - reversed payments - payouts settled + payouts returned = {want}"
                ));
            }
        }
    }
    paid_out.retain(|_, v| *v != 0);
    creators_paid.retain(|_, v| *v != 0);
    let cash_currencies = paid_out
        .len()
        .max(creators_paid.len())
        .max(cash_stored.len());
    if paid_out != creators_paid {
        for key in paid_out.keys().chain(creators_paid.keys()) {
            let (got, want) = (
                paid_out.get(key).copied().unwrap_or(0),
                creators_paid.get(key).copied().unwrap_or(0),
            );
            if got != want {
                brk(format!(
                    "paid out from cash ({key}) is {got}, but the creators' paid accounts add up to {want}"
                ));
            }
        }
    }

    // Per influencer (the journals' story), and negative balances.
    let (totals, more) = check(&rows);
    breaks.extend(more);
    for ((influencer, currency), t) in &totals {
        let allowed = clawbacks
            .get(&(*influencer, currency.clone()))
            .copied()
            .unwrap_or(0);
        if t.available < -allowed {
            breaks.push(Break(format!(
                "influencer {influencer} ({currency}): available is {}, below minus the clawbacks of real refunds ({allowed})",
                t.available
            )));
        }
    }

    Audit {
        verified: vec![
            ("accounts", books.accounts.len()),
            ("journals", books.journals.len()),
            ("entries", books.entries.len()),
            ("commissions", books.commissions.len()),
            ("refunds", books.refunds.len()),
            ("payouts", books.payouts.len()),
            (
                "merchant balances",
                stored_receivable.len().max(receivable.len()),
            ),
            ("influencer balances", totals.len()),
            ("cash balances", cash_currencies),
        ],
        breaks,
    }
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
            payout_settle(2, 700, String::new()),
            payout_return(2, 700, String::new()),
            payout_settle(2, -150, String::new()),
        ] {
            assert_eq!(d.sum(), 0, "{d:?}");
        }
        assert_eq!(accrual(1, 2, 1000, 0, String::new()).postings.len(), 2);
        assert_eq!(payout_settle(2, 700, String::new()).postings.len(), 4);
    }

    #[test]
    fn a_return_undoes_the_settle_and_gives_the_money_back_to_available() {
        let settle = payout_settle(2, 700, String::new());
        let ret = payout_return(2, 700, String::new());
        let mut net: BTreeMap<(Owner, AccountKind), i64> = BTreeMap::new();
        for p in settle.postings.iter().chain(&ret.postings) {
            *net.entry((p.owner, p.kind)).or_default() += p.amount_minor;
        }
        net.retain(|_, v| *v != 0);
        // In payout was debited by the settle; available credited by the return: the money
        // moved from in payout back to available, and cash and paid_out are as before.
        assert_eq!(
            net,
            BTreeMap::from([
                ((Owner::Influencer(2), AccountKind::Available), -700),
                ((Owner::Influencer(2), AccountKind::InPayout), 700),
            ])
        );
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
