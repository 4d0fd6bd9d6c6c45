//! Merchant billing's rules, no I/O: billing periods in the merchant's zone, an invoice's
//! lines from the period's receivable journals, tax on the platform fee, gapless numbers,
//! applying money to the oldest open invoices, states and receivable aging.

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::money::round_half_away;

/// Payment terms when finance has set none: net 14 days.
pub const DEFAULT_TERMS_DAYS: i32 = 14;
/// Longest payment terms finance may set.
pub const MAX_TERMS_DAYS: i32 = 120;
/// The second reminder goes this many days after the due date.
pub const SECOND_REMINDER_DAYS: i64 = 7;

/// A billing period: local calendar dates `[start, end)` in the merchant's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    /// The calendar month holding `date`.
    pub fn month_of(date: NaiveDate) -> Period {
        let start = date.with_day(1).unwrap_or(date);
        Period {
            start,
            end: start + Months::new(1),
        }
    }

    pub fn next(&self) -> Period {
        Period::month_of(self.end)
    }

    /// "November 2026".
    pub fn label(&self) -> String {
        self.start.format("%B %Y").to_string()
    }

    /// The UTC instant the period starts at in `tz`.
    pub fn start_at(&self, tz: Tz) -> NaiveDateTime {
        local_midnight(self.start, tz)
    }

    pub fn end_at(&self, tz: Tz) -> NaiveDateTime {
        local_midnight(self.end, tz)
    }
}

/// The first instant of a local day, in UTC (a day whose midnight a DST change skips starts
/// at the first valid instant after it).
pub fn local_midnight(date: NaiveDate, tz: Tz) -> NaiveDateTime {
    let mut wall = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    for _ in 0..180 {
        if let Some(t) = tz.from_local_datetime(&wall).earliest() {
            return t.naive_utc();
        }
        wall += chrono::TimeDelta::minutes(1);
    }
    wall
}

/// The local date of an instant in `tz`.
pub fn local_date(at: NaiveDateTime, tz: Tz) -> NaiveDate {
    at.and_utc().with_timezone(&tz).date_naive()
}

/// The periods that have closed by `now` and are not invoiced yet, oldest first: from the
/// first period after the last invoiced one (or, with none, the one holding the merchant's
/// first unbilled journal) up to the last closed one.
pub fn closed_periods(first: Period, now_local: NaiveDate) -> Vec<Period> {
    let mut out = Vec::new();
    let mut p = first;
    while p.end <= now_local && out.len() < 1200 {
        out.push(p);
        p = p.next();
    }
    out
}

/// Tax on the fee, rounded once, half away from zero.
pub fn tax_on(fee_minor: i64, rate_bps: i32) -> i64 {
    let exact = Decimal::from(fee_minor) * Decimal::from(rate_bps) / Decimal::from(10_000);
    i64::try_from(round_half_away(exact, 0).mantissa()).unwrap_or(0)
}

/// Gapless per series and year: `INV-2026-000123`, `CN-2026-000004`.
pub fn number(prefix: &str, year: i32, seq: i64) -> String {
    format!("{prefix}-{year}-{seq:06}")
}

/// The series, year and sequence of a document number, any case, with or without its
/// hyphens (`inv2026000123`).
pub fn parse_number(text: &str) -> Option<(&'static str, i32, i64)> {
    let t: String = text
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .collect::<String>()
        .to_ascii_uppercase();
    let (prefix, rest) = if let Some(r) = t.strip_prefix("INV") {
        ("INV", r)
    } else if let Some(r) = t.strip_prefix("CN") {
        ("CN", r)
    } else {
        return None;
    };
    if rest.len() != 10 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year = rest[..4].parse().ok()?;
    let seq: i64 = rest[4..].parse().ok()?;
    (seq > 0).then_some((prefix, year, seq))
}

/// Every invoice number a bank reference names ("Payment INV-2026-000123 and
/// INV-2026-000124", "inv2026000123"), normalised, in order, once each.
pub fn invoice_numbers_in(reference: &str) -> Vec<String> {
    let upper = reference.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(pos) = upper[i..].find("INV") {
        let start = i + pos;
        // Take "INV", then up to 12 digits, hyphens and spaces.
        let mut j = start + 3;
        let mut digits = String::new();
        while j < bytes.len() && digits.len() < 10 {
            match bytes[j] {
                b'0'..=b'9' => digits.push(char::from(bytes[j])),
                b'-' | b' ' | b'_' if digits.is_empty() || digits.len() == 4 => {}
                _ => break,
            }
            j += 1;
        }
        let next_is_digit = bytes.get(j).is_some_and(u8::is_ascii_digit);
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if digits.len() == 10 && !next_is_digit && before_ok {
            if let Some((p, y, s)) = parse_number(&format!("INV{digits}")) {
                let n = number(p, y, s);
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        i = start + 3;
    }
    out
}

/// What a receivable journal of a period is, for its invoice line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// Commissions accrued.
    Accrual,
    /// Refunds before or after payout (reversals and clawbacks).
    Refund,
    /// Commissions rejected after review.
    Rejected,
}

/// One group of a period's receivable journals: per campaign, creator and kind, how many,
/// the receivable they moved and its platform-fee part (both signed as the receivable moves:
/// positive for accruals, negative for credits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub source: Source,
    pub campaign_id: i64,
    pub campaign: String,
    pub influencer_id: i64,
    pub influencer: String,
    pub count: i64,
    pub receivable_minor: i64,
    pub fee_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LineKind {
    Commission,
    Refund,
    Rejected,
    Fee,
    FeeReturned,
    Tax,
    Correction,
}

impl LineKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            LineKind::Commission => "commission",
            LineKind::Refund => "refund",
            LineKind::Rejected => "rejected",
            LineKind::Fee => "fee",
            LineKind::FeeReturned => "fee_returned",
            LineKind::Tax => "tax",
            LineKind::Correction => "correction",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: LineKind,
    pub campaign_id: Option<i64>,
    pub influencer_id: Option<i64>,
    pub description: String,
    pub count: i64,
    pub amount_minor: i64,
}

/// An invoice's lines and totals before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub lines: Vec<Line>,
    /// The receivable the period's journals moved (every line but tax).
    pub subtotal_minor: i64,
    /// The platform fee net of what refunds and rejections returned: what tax is on.
    pub net_fee_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
}

/// An invoice's lines from the period's groups: commission per campaign and creator, credits
/// for refunds and rejections, the platform fee and what came back of it, and tax on the net
/// fee. The total is the receivable the groups moved plus the tax, to the cent.
pub fn draft(groups: &[Group], tax_rate_bps: i32, tax_label: &str) -> Draft {
    let mut groups: Vec<&Group> = groups.iter().collect();
    groups.sort_by(|a, b| {
        (
            a.source,
            &a.campaign,
            &a.influencer,
            a.campaign_id,
            a.influencer_id,
        )
            .cmp(&(
                b.source,
                &b.campaign,
                &b.influencer,
                b.campaign_id,
                b.influencer_id,
            ))
    });
    let mut lines = Vec::new();
    let (mut fee, mut fee_orders, mut fee_back, mut fee_back_count) = (0i64, 0i64, 0i64, 0i64);
    for g in &groups {
        let commission = g.receivable_minor - g.fee_minor;
        let (kind, what) = match g.source {
            Source::Accrual => (
                LineKind::Commission,
                format!(
                    "Commission: {} · {} ({})",
                    g.campaign,
                    g.influencer,
                    super::words::count(g.count, "order", "orders")
                ),
            ),
            Source::Refund => (
                LineKind::Refund,
                format!(
                    "Refunds credited: {} · {} ({})",
                    g.campaign,
                    g.influencer,
                    super::words::count(g.count, "refund", "refunds")
                ),
            ),
            Source::Rejected => (
                LineKind::Rejected,
                format!(
                    "Rejected after review: {} · {} ({})",
                    g.campaign,
                    g.influencer,
                    super::words::count(g.count, "commission", "commissions")
                ),
            ),
        };
        lines.push(Line {
            kind,
            campaign_id: Some(g.campaign_id),
            influencer_id: Some(g.influencer_id),
            description: what,
            count: g.count,
            amount_minor: commission,
        });
        if g.source == Source::Accrual {
            fee += g.fee_minor;
            fee_orders += g.count;
        } else {
            fee_back += g.fee_minor;
            fee_back_count += g.count;
        }
    }
    if fee != 0 {
        lines.push(Line {
            kind: LineKind::Fee,
            campaign_id: None,
            influencer_id: None,
            description: format!(
                "Platform fee on the commission of {}",
                super::words::count(fee_orders, "order", "orders")
            ),
            count: fee_orders,
            amount_minor: fee,
        });
    }
    if fee_back != 0 {
        lines.push(Line {
            kind: LineKind::FeeReturned,
            campaign_id: None,
            influencer_id: None,
            description: format!(
                "Platform fee returned on {}",
                super::words::count(
                    fee_back_count,
                    "refund or rejection",
                    "refunds and rejections"
                )
            ),
            count: fee_back_count,
            amount_minor: fee_back,
        });
    }
    let subtotal: i64 = lines.iter().map(|l| l.amount_minor).sum();
    let net_fee = fee + fee_back;
    let tax = tax_on(net_fee, tax_rate_bps);
    if tax != 0 {
        lines.push(Line {
            kind: LineKind::Tax,
            campaign_id: None,
            influencer_id: None,
            description: format!(
                "{tax_label} at {} on the platform fee",
                super::rate::show_bps(tax_rate_bps)
            ),
            count: 0,
            amount_minor: tax,
        });
    }
    Draft {
        lines,
        subtotal_minor: subtotal,
        net_fee_minor: net_fee,
        tax_minor: tax,
        total_minor: subtotal + tax,
    }
}

/// Applies `amount` to open documents oldest first (each `(id, still due)`), partly to the
/// last it reaches: the (id, amount) applied to each, and what is left over.
pub fn apply_oldest_first(open: &[(i64, i64)], amount: i64) -> (Vec<(i64, i64)>, i64) {
    let mut left = amount.max(0);
    let mut out = Vec::new();
    for &(id, due) in open {
        if left == 0 {
            break;
        }
        if due <= 0 {
            continue;
        }
        let take = due.min(left);
        out.push((id, take));
        left -= take;
    }
    (out, left)
}

/// An invoice's state from its total, what has been applied to it, its due date and today
/// (all in the merchant's zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Open,
    PartlyPaid,
    Paid,
    Overdue,
    OverduePartlyPaid,
    /// A credit note: money the merchant is owed back, applied to its invoices.
    Credit,
}

impl State {
    pub fn of(total: i64, applied: i64, due_on: NaiveDate, today: NaiveDate) -> State {
        if total < 0 {
            return State::Credit;
        }
        if applied >= total {
            return State::Paid;
        }
        match (today > due_on, applied > 0) {
            (false, false) => State::Open,
            (false, true) => State::PartlyPaid,
            (true, false) => State::Overdue,
            (true, true) => State::OverduePartlyPaid,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            State::Open => "open",
            State::PartlyPaid => "partly_paid",
            State::Paid => "paid",
            State::Overdue => "overdue",
            State::OverduePartlyPaid => "overdue_partly_paid",
            State::Credit => "credit",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            State::Open => "Open",
            State::PartlyPaid => "Partly paid",
            State::Paid => "Paid",
            State::Overdue => "Overdue",
            State::OverduePartlyPaid => "Overdue, partly paid",
            State::Credit => "Credit note",
        }
    }

    pub fn is_unpaid(&self) -> bool {
        !matches!(self, State::Paid | State::Credit)
    }
}

/// Receivable aging: how far past its due date an unpaid amount is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bucket {
    Current,
    Days1To30,
    Days31To60,
    Days61To90,
    Over90,
}

impl Bucket {
    pub const ALL: [Bucket; 5] = [
        Bucket::Current,
        Bucket::Days1To30,
        Bucket::Days31To60,
        Bucket::Days61To90,
        Bucket::Over90,
    ];

    pub fn of(due_on: NaiveDate, today: NaiveDate) -> Bucket {
        match (today - due_on).num_days() {
            d if d <= 0 => Bucket::Current,
            1..=30 => Bucket::Days1To30,
            31..=60 => Bucket::Days31To60,
            61..=90 => Bucket::Days61To90,
            _ => Bucket::Over90,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Bucket::Current => "Current",
            Bucket::Days1To30 => "1–30 days",
            Bucket::Days31To60 => "31–60 days",
            Bucket::Days61To90 => "61–90 days",
            Bucket::Over90 => "Over 90 days",
        }
    }

    pub fn index(&self) -> usize {
        Bucket::ALL.iter().position(|b| b == self).unwrap_or(0)
    }
}

/// The due date: the issue date in the merchant's zone plus the terms.
pub fn due_on(issued: NaiveDateTime, tz: Tz, terms_days: i32) -> NaiveDate {
    local_date(issued, tz) + chrono::TimeDelta::days(i64::from(terms_days))
}

/// An issued document as the check reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocFacts {
    pub id: i64,
    pub number: String,
    pub prefix: String,
    pub year: i32,
    pub seq: i64,
    pub kind: String,
    pub source: String,
    pub merchant_id: i64,
    pub currency: String,
    pub period_start: NaiveDateTime,
    pub period_end: NaiveDateTime,
    pub subtotal_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub corrects_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationFacts {
    pub invoice_id: i64,
    pub payment_id: Option<i64>,
    pub credit_note_id: Option<i64>,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentFacts {
    pub id: i64,
    pub merchant_id: i64,
    pub currency: String,
    pub amount_minor: i64,
    pub reversed: bool,
}

/// What billing's check reads besides the ledger's books.
#[derive(Debug, Clone, Default)]
pub struct BillingFacts {
    pub docs: Vec<DocFacts>,
    /// (invoice id, amount) of every line.
    pub lines: Vec<(i64, i64)>,
    /// The receivable entries of billed journals: (account id, journal time, amount).
    pub billed: Vec<(i64, NaiveDateTime, i64)>,
    pub payments: Vec<PaymentFacts>,
    pub allocations: Vec<AllocationFacts>,
}

/// Verifies billing against the ledger (issue #28):
/// - each document's lines add up to its total, and its subtotal and tax to it too; a period
///   invoice's subtotal is the receivable its period's journals moved, its tax is its
///   `invoice_tax` journal, a correction's total its `credit_note` journal;
/// - numbers have no gaps per series and year, and each reads as its series, year and place;
/// - a merchant's periods follow each other without a gap or an overlap, and nothing billed
///   was posted before the first;
/// - per merchant and currency, receivable = invoiced − credited − paid + reversed payments +
///   what was posted since the last invoice;
/// - each payment has its `merchant_payment` journal of its amount (cash up, receivable
///   down), each reversal its `payment_reversal` journal, and no such journal is for a
///   payment that does not exist;
/// - nothing is applied beyond an invoice's total, a payment's amount or a credit note's
///   credit, nor across merchants or currencies.
pub fn audit(
    books: &super::ledger::Books,
    facts: &BillingFacts,
) -> (Vec<(&'static str, usize)>, Vec<String>) {
    use std::collections::{BTreeMap, HashMap};
    let mut breaks = Vec::new();
    let accounts: HashMap<i64, &super::ledger::AccountRow> =
        books.accounts.iter().map(|a| (a.id, a)).collect();
    // Each journal's sums per (owner kind, account kind), and the receivable's owner.
    let mut sums: HashMap<i64, BTreeMap<(String, String), i64>> = HashMap::new();
    let mut receivable_of: HashMap<i64, i64> = HashMap::new();
    let mut balance: BTreeMap<(i64, String), i64> = BTreeMap::new();
    let journals: HashMap<i64, &super::ledger::JournalRow> =
        books.journals.iter().map(|j| (j.id, j)).collect();
    for e in &books.entries {
        let Some(a) = accounts.get(&e.account_id) else {
            continue;
        };
        if a.owner_kind == "merchant" && a.kind == "receivable" {
            *balance.entry((a.owner_id, a.currency.clone())).or_default() += e.amount_minor;
            receivable_of.insert(e.journal_id, a.owner_id);
        }
        if journals
            .get(&e.journal_id)
            .is_some_and(|j| super::ledger::is_billing_kind(&j.kind))
        {
            *sums
                .entry(e.journal_id)
                .or_default()
                .entry((a.owner_kind.clone(), a.kind.clone()))
                .or_default() += e.amount_minor;
        }
    }
    let sum_of = |j: i64, owner: &str, kind: &str| -> i64 {
        sums.get(&j)
            .and_then(|m| m.get(&(owner.to_owned(), kind.to_owned())))
            .copied()
            .unwrap_or(0)
    };
    let docs: HashMap<i64, &DocFacts> = facts.docs.iter().map(|d| (d.id, d)).collect();
    let payments: HashMap<i64, &PaymentFacts> = facts.payments.iter().map(|p| (p.id, p)).collect();
    // Billing's journals, by what they are for.
    let mut doc_journal: HashMap<(&str, i64), i64> = HashMap::new();
    for j in &books.journals {
        if !super::ledger::is_billing_kind(&j.kind) {
            continue;
        }
        doc_journal.insert((j.kind.as_str(), j.ref_id), j.id);
        match j.kind.as_str() {
            "invoice_tax" | "credit_note" => match docs.get(&j.ref_id) {
                Some(d) if d.currency == j.currency => {
                    if receivable_of
                        .get(&j.id)
                        .is_some_and(|m| *m != d.merchant_id)
                    {
                        breaks.push(format!(
                            "journal {} ({}) moves another merchant's receivable than {}'s",
                            j.id, j.kind, d.number
                        ));
                    }
                }
                Some(d) => breaks.push(format!(
                    "journal {} ({}) is in {}, but {} is in {}",
                    j.id, j.kind, j.currency, d.number, d.currency
                )),
                None => breaks.push(format!(
                    "journal {} ({}) is for invoice {}, which does not exist",
                    j.id, j.kind, j.ref_id
                )),
            },
            _ => match payments.get(&j.ref_id) {
                Some(p) => {
                    let sign = if j.kind == "merchant_payment" { 1 } else { -1 };
                    let (cash, recv) = (
                        sum_of(j.id, "platform", "cash"),
                        sum_of(j.id, "merchant", "receivable"),
                    );
                    if cash != sign * p.amount_minor
                        || recv != -sign * p.amount_minor
                        || j.currency != p.currency
                        || receivable_of.get(&j.id) != Some(&p.merchant_id)
                    {
                        breaks.push(format!(
                            "payment {}: its {} journal {} moves cash {cash} and receivable {recv} in {}, but the payment is {} {} of merchant {}",
                            p.id, j.kind, j.id, j.currency, p.amount_minor, p.currency, p.merchant_id
                        ));
                    }
                    if j.kind == "payment_reversal" && !p.reversed {
                        breaks.push(format!(
                            "payment {} has a reversal journal {} but no reversal",
                            p.id, j.id
                        ));
                    }
                }
                None => breaks.push(format!(
                    "journal {} ({}) is for payment {}, which does not exist",
                    j.id, j.kind, j.ref_id
                )),
            },
        }
    }
    for p in &facts.payments {
        if !doc_journal.contains_key(&("merchant_payment", p.id)) {
            breaks.push(format!("payment {} has no merchant_payment journal", p.id));
        }
        if p.reversed && !doc_journal.contains_key(&("payment_reversal", p.id)) {
            breaks.push(format!(
                "payment {} is reversed but has no reversal journal",
                p.id
            ));
        }
    }

    // Documents: lines, totals, journals.
    let mut line_sums: HashMap<i64, i64> = HashMap::new();
    for (invoice, amount) in &facts.lines {
        *line_sums.entry(*invoice).or_default() += amount;
    }
    for (invoice, _) in &facts.lines {
        if !docs.contains_key(invoice) {
            breaks.push(format!(
                "an invoice line is of invoice {invoice}, which does not exist"
            ));
        }
    }
    let account_of: HashMap<(i64, String), i64> = books
        .accounts
        .iter()
        .filter(|a| a.owner_kind == "merchant" && a.kind == "receivable")
        .map(|a| ((a.owner_id, a.currency.clone()), a.id))
        .collect();
    let mut billed_by_account: HashMap<i64, Vec<(NaiveDateTime, i64)>> = HashMap::new();
    for (account, at, amount) in &facts.billed {
        billed_by_account
            .entry(*account)
            .or_default()
            .push((*at, *amount));
    }
    let mut expected: BTreeMap<(i64, String), i64> = BTreeMap::new();
    let mut windows: BTreeMap<(i64, String), Vec<&DocFacts>> = BTreeMap::new();
    for d in &facts.docs {
        let lines = line_sums.get(&d.id).copied().unwrap_or(0);
        if lines != d.total_minor || d.subtotal_minor + d.tax_minor != d.total_minor {
            breaks.push(format!(
                "{}: its lines add up to {lines} and its subtotal {} + tax {} to {}, but its total is {}",
                d.number,
                d.subtotal_minor,
                d.tax_minor,
                d.subtotal_minor + d.tax_minor,
                d.total_minor
            ));
        }
        if (d.kind == "credit_note") != (d.prefix == "CN")
            || (d.kind == "invoice" && d.total_minor < 0)
        {
            breaks.push(format!(
                "{}: a {} numbered in the {} series with total {}",
                d.number, d.kind, d.prefix, d.total_minor
            ));
        }
        *expected
            .entry((d.merchant_id, d.currency.clone()))
            .or_default() += d.total_minor;
        let tax_journal = doc_journal
            .get(&("invoice_tax", d.id))
            .map_or(0, |j| sum_of(*j, "merchant", "receivable"));
        match d.source.as_str() {
            "period" => {
                windows
                    .entry((d.merchant_id, d.currency.clone()))
                    .or_default()
                    .push(d);
                let moved: i64 = account_of
                    .get(&(d.merchant_id, d.currency.clone()))
                    .and_then(|a| billed_by_account.get(a))
                    .map(|v| {
                        v.iter()
                            .filter(|(at, _)| d.period_start <= *at && *at < d.period_end)
                            .map(|(_, a)| a)
                            .sum()
                    })
                    .unwrap_or(0);
                if moved != d.subtotal_minor {
                    breaks.push(format!(
                        "{}: its subtotal is {}, but the receivable journals of its period moved {moved}",
                        d.number, d.subtotal_minor
                    ));
                }
                if tax_journal != d.tax_minor {
                    breaks.push(format!(
                        "{}: its tax is {}, but its tax journal moved {tax_journal}",
                        d.number, d.tax_minor
                    ));
                }
            }
            _ => {
                let moved = doc_journal
                    .get(&("credit_note", d.id))
                    .map_or(0, |j| sum_of(*j, "merchant", "receivable"));
                if moved != d.total_minor || d.corrects_id.is_none_or(|c| !docs.contains_key(&c)) {
                    breaks.push(format!(
                        "{}: a correction of {} moving {moved}, but its total is {}",
                        d.number,
                        d.corrects_id
                            .map_or("nothing".to_owned(), |c| c.to_string()),
                        d.total_minor
                    ));
                }
            }
        }
    }
    // Gapless numbers.
    let mut series: BTreeMap<(String, i32), Vec<(i64, &str)>> = BTreeMap::new();
    for d in &facts.docs {
        series
            .entry((d.prefix.clone(), d.year))
            .or_default()
            .push((d.seq, d.number.as_str()));
        if parse_number(&d.number)
            != Some((if d.prefix == "CN" { "CN" } else { "INV" }, d.year, d.seq))
            || number(&d.prefix, d.year, d.seq) != d.number
        {
            breaks.push(format!(
                "{} does not read as {} number {} of {}",
                d.number, d.prefix, d.seq, d.year
            ));
        }
    }
    for ((prefix, year), mut seqs) in series {
        seqs.sort();
        for (i, (seq, n)) in seqs.iter().enumerate() {
            let want = i64::try_from(i + 1).unwrap_or(i64::MAX);
            if *seq != want {
                breaks.push(format!(
                    "{prefix} numbers of {year} have a gap or a repeat: {n} is number {seq} where {want} was due"
                ));
                break;
            }
        }
    }
    // Periods follow each other; what came after the last is not billed yet.
    for ((merchant, currency), mut ws) in windows {
        ws.sort_by_key(|d| d.period_start);
        for pair in ws.windows(2) {
            if pair[1].period_start != pair[0].period_end {
                breaks.push(format!(
                    "merchant {merchant} ({currency}): {} ends at {} but {} starts at {}",
                    pair[0].number, pair[0].period_end, pair[1].number, pair[1].period_start
                ));
            }
        }
        let first = ws.first().map(|d| d.period_start);
        let last = ws.last().map(|d| d.period_end);
        if let Some(a) = account_of.get(&(merchant, currency.clone())) {
            for (at, amount) in billed_by_account.get(a).map(Vec::as_slice).unwrap_or(&[]) {
                if first.is_some_and(|f| *at < f) {
                    breaks.push(format!(
                        "merchant {merchant} ({currency}): a journal of {amount} posted at {at}, before its first invoice's period, was never invoiced"
                    ));
                }
                if last.is_some_and(|l| *at >= l) {
                    *expected.entry((merchant, currency.clone())).or_default() += amount;
                }
            }
        }
    }
    // Merchants never invoiced: everything billed is still to invoice.
    for ((merchant, currency), a) in &account_of {
        if facts
            .docs
            .iter()
            .any(|d| d.source == "period" && d.merchant_id == *merchant && &d.currency == currency)
        {
            continue;
        }
        let sum: i64 = billed_by_account
            .get(a)
            .map_or(0, |v| v.iter().map(|(_, x)| x).sum());
        *expected.entry((*merchant, currency.clone())).or_default() += sum;
    }
    for p in &facts.payments {
        let e = expected
            .entry((p.merchant_id, p.currency.clone()))
            .or_default();
        *e -= p.amount_minor;
        if p.reversed {
            *e += p.amount_minor;
        }
    }
    expected.retain(|_, v| *v != 0);
    balance.retain(|_, v| *v != 0);
    for key in expected.keys().chain(balance.keys()) {
        let (want, got) = (
            expected.get(key).copied().unwrap_or(0),
            balance.get(key).copied().unwrap_or(0),
        );
        if want != got {
            breaks.push(format!(
                "merchant {} ({}): receivable is {got}, but invoiced − credited − paid + reversed + not yet invoiced = {want}",
                key.0, key.1
            ));
        }
    }
    // Applications.
    let mut to_invoice: HashMap<i64, i64> = HashMap::new();
    let mut from_payment: HashMap<i64, i64> = HashMap::new();
    let mut from_credit: HashMap<i64, i64> = HashMap::new();
    for a in &facts.allocations {
        let Some(inv) = docs.get(&a.invoice_id) else {
            breaks.push(format!(
                "an application is to invoice {}, which does not exist",
                a.invoice_id
            ));
            continue;
        };
        let counts = match a.payment_id {
            Some(p) => match payments.get(&p) {
                Some(pay) => {
                    if pay.merchant_id != inv.merchant_id || pay.currency != inv.currency {
                        breaks.push(format!(
                            "payment {p} is applied to {}, another merchant's or currency's",
                            inv.number
                        ));
                    }
                    *from_payment.entry(p).or_default() += a.amount_minor;
                    !pay.reversed
                }
                None => {
                    breaks.push(format!(
                        "an application is from payment {p}, which does not exist"
                    ));
                    false
                }
            },
            None => {
                let cn = a.credit_note_id.unwrap_or(0);
                match docs.get(&cn) {
                    Some(c) if c.kind == "credit_note" && c.merchant_id == inv.merchant_id && c.currency == inv.currency => {
                        *from_credit.entry(cn).or_default() += a.amount_minor;
                    }
                    _ => breaks.push(format!("an application to {} is from credit note {cn}, which is not one of its merchant's", inv.number)),
                }
                true
            }
        };
        if counts {
            *to_invoice.entry(a.invoice_id).or_default() += a.amount_minor;
        }
    }
    for (id, applied) in &to_invoice {
        if let Some(d) = docs.get(id) {
            if d.kind != "invoice" || *applied > d.total_minor {
                breaks.push(format!(
                    "{}: {applied} applied to a total of {}",
                    d.number, d.total_minor
                ));
            }
        }
    }
    for (id, applied) in &from_payment {
        if let Some(p) = payments.get(id) {
            if *applied > p.amount_minor {
                breaks.push(format!(
                    "payment {id}: {applied} applied of {}",
                    p.amount_minor
                ));
            }
        }
    }
    for (id, applied) in &from_credit {
        if let Some(d) = docs.get(id) {
            if *applied > -d.total_minor {
                breaks.push(format!(
                    "{}: {applied} applied of a credit of {}",
                    d.number, -d.total_minor
                ));
            }
        }
    }
    let verified = vec![
        (
            "invoices",
            facts.docs.iter().filter(|d| d.kind == "invoice").count(),
        ),
        (
            "credit notes",
            facts.docs.iter().filter(|d| d.kind != "invoice").count(),
        ),
        ("merchant payments", facts.payments.len()),
    ];
    (verified, breaks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn g(source: Source, campaign: &str, who: &str, count: i64, recv: i64, fee: i64) -> Group {
        Group {
            source,
            campaign_id: campaign.len() as i64,
            campaign: campaign.into(),
            influencer_id: who.len() as i64,
            influencer: who.into(),
            count,
            receivable_minor: recv,
            fee_minor: fee,
        }
    }

    #[test]
    fn months_in_the_merchants_zone() {
        let p = Period::month_of(d("2026-11-17"));
        assert_eq!((p.start, p.end), (d("2026-11-01"), d("2026-12-01")));
        assert_eq!(p.label(), "November 2026");
        assert_eq!(p.next().start, d("2026-12-01"));
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(
            p.start_at(shanghai).to_string(),
            "2026-10-31 16:00:00",
            "midnight in Shanghai is 16:00 UTC the day before"
        );
        // Havana skips midnight to 01:00 on its spring-forward day (8 March 2026).
        let havana: Tz = "America/Havana".parse().unwrap();
        assert_eq!(
            local_midnight(d("2026-03-08"), havana).to_string(),
            "2026-03-08 05:00:00"
        );
        let closed = closed_periods(Period::month_of(d("2026-09-03")), d("2026-12-01"));
        assert_eq!(
            closed.iter().map(Period::label).collect::<Vec<_>>(),
            ["September 2026", "October 2026", "November 2026"]
        );
        assert!(closed_periods(Period::month_of(d("2026-12-01")), d("2026-12-31")).is_empty());
    }

    #[test]
    fn numbers_are_formatted_and_found_in_references() {
        assert_eq!(number("INV", 2026, 123), "INV-2026-000123");
        assert_eq!(parse_number("inv-2026-000123"), Some(("INV", 2026, 123)));
        assert_eq!(parse_number("CN2026000004"), Some(("CN", 2026, 4)));
        assert_eq!(parse_number("INV-2026-0001"), None);
        assert_eq!(parse_number("INV-2026-000000"), None);
        assert_eq!(
            invoice_numbers_in("Payment inv 2026 000123 + INV-2026-000124, INV-2026-000123"),
            ["INV-2026-000123", "INV-2026-000124"]
        );
        assert_eq!(invoice_numbers_in("INV2026000123"), ["INV-2026-000123"]);
        assert!(
            invoice_numbers_in("INV-2026-0001234").is_empty(),
            "too many digits"
        );
        assert!(invoice_numbers_in("XINV-2026-000123").is_empty());
        assert!(invoice_numbers_in("order 2026-000123").is_empty());
    }

    #[test]
    fn an_invoice_totals_its_journals_and_the_tax_on_the_net_fee() {
        let groups = [
            g(Source::Accrual, "Spring tea", "Mei", 3, 33_00, 3_00),
            g(Source::Accrual, "Autumn", "Kai", 1, 11_05, 1_00),
            g(Source::Refund, "Spring tea", "Mei", 1, -5_50, -50),
            g(Source::Rejected, "Autumn", "Kai", 1, -1_10, -10),
        ];
        let draft = draft(&groups, 600, "VAT");
        let kinds: Vec<_> = draft.lines.iter().map(|l| l.kind).collect();
        assert_eq!(
            kinds,
            [
                LineKind::Commission,
                LineKind::Commission,
                LineKind::Refund,
                LineKind::Rejected,
                LineKind::Fee,
                LineKind::FeeReturned,
                LineKind::Tax
            ]
        );
        assert_eq!(
            draft.lines[0].description,
            "Commission: Autumn · Kai (1 order)"
        );
        assert_eq!(draft.lines[0].amount_minor, 10_05);
        assert_eq!(draft.lines[2].amount_minor, -5_00);
        assert_eq!(draft.subtotal_minor, 33_00 + 11_05 - 5_50 - 1_10);
        assert_eq!(draft.net_fee_minor, 3_40);
        // 6 % of 3.40 = 0.204 → 0.20.
        assert_eq!(draft.tax_minor, 20);
        assert_eq!(draft.total_minor, draft.subtotal_minor + 20);
        assert_eq!(
            draft.lines.iter().map(|l| l.amount_minor).sum::<i64>(),
            draft.total_minor
        );
        assert_eq!(draft.lines[6].description, "VAT at 6% on the platform fee");
        assert!(
            super::draft(&groups, 0, "VAT")
                .lines
                .iter()
                .all(|l| l.kind != LineKind::Tax)
        );
    }

    #[test]
    fn tax_rounds_half_away_from_zero() {
        assert_eq!(tax_on(25, 1000), 3, "2.5 → 3");
        assert_eq!(tax_on(-25, 1000), -3);
        assert_eq!(tax_on(24, 1000), 2);
        assert_eq!(tax_on(0, 2000), 0);
    }

    #[test]
    fn money_goes_to_the_oldest_open_invoices_and_the_rest_is_credit() {
        let open = [(1, 100), (2, 0), (3, 250), (4, 50)];
        assert_eq!(
            apply_oldest_first(&open, 300),
            (vec![(1, 100), (3, 200)], 0)
        );
        assert_eq!(
            apply_oldest_first(&open, 500),
            (vec![(1, 100), (3, 250), (4, 50)], 100)
        );
        assert_eq!(apply_oldest_first(&[], 70), (vec![], 70));
    }

    #[test]
    fn states_and_aging() {
        let due = d("2026-12-14");
        assert_eq!(State::of(100, 0, due, d("2026-12-14")), State::Open);
        assert_eq!(State::of(100, 40, due, d("2026-12-01")), State::PartlyPaid);
        assert_eq!(State::of(100, 100, due, d("2027-01-01")), State::Paid);
        assert_eq!(State::of(100, 0, due, d("2026-12-15")), State::Overdue);
        assert_eq!(
            State::of(100, 1, due, d("2026-12-15")),
            State::OverduePartlyPaid
        );
        assert_eq!(State::of(0, 0, due, d("2026-12-15")), State::Paid);
        assert_eq!(State::of(-10, 0, due, d("2026-12-15")), State::Credit);
        assert_eq!(Bucket::of(due, d("2026-12-14")), Bucket::Current);
        assert_eq!(Bucket::of(due, d("2026-12-15")), Bucket::Days1To30);
        assert_eq!(Bucket::of(due, d("2027-01-13")), Bucket::Days1To30);
        assert_eq!(Bucket::of(due, d("2027-01-14")), Bucket::Days31To60);
        assert_eq!(Bucket::of(due, d("2027-03-15")), Bucket::Over90);
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        let issued = NaiveDateTime::parse_from_str("2026-11-30 17:00", "%Y-%m-%d %H:%M").unwrap();
        assert_eq!(
            due_on(issued, shanghai, 14),
            d("2026-12-15"),
            "1 Dec in Shanghai + 14"
        );
    }
}
