//! What people read about orders and money: a merchant's orders with their attribution
//! trace, an influencer's earnings, finance's review queue. Every balance comes from ledger
//! entries.

use std::collections::BTreeMap;

use crate::db::models::{CommissionEvent, CommissionRow, Conversion, Refund};
use crate::db::order_lists::{
    CampaignChoice, EarningFilter, EarningListRow, EarningSort, EarningTotals, OrderFilter,
    OrderListRow, OrderTotals,
};
use crate::db::{self, DbConn};
use crate::domain::ledger::{AccountKind, Owner};
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};

use super::orders::{Recorded, answer};

/// How many rows a page of a list shows.
pub const PAGE: i64 = 50;

/// Where a page is in its list: rows `first..=last` of `total` (1-based; none shown when
/// the page is past the end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Paging {
    pub page: i64,
    pub pages: i64,
    pub total: i64,
    pub first: i64,
    pub last: i64,
}

impl Paging {
    pub fn new(page: i64, total: i64, shown: usize) -> Paging {
        let shown = i64::try_from(shown).unwrap_or(0);
        let first = page
            .saturating_sub(1)
            .saturating_mul(PAGE)
            .saturating_add(1);
        Paging {
            page,
            pages: ((total + PAGE - 1) / PAGE).max(1),
            total,
            first: if shown == 0 { 0 } else { first },
            last: if shown == 0 { 0 } else { first + shown - 1 },
        }
    }

    /// The first row's offset for `page` (1-based).
    pub fn offset(page: i64) -> i64 {
        page.saturating_sub(1).saturating_mul(PAGE)
    }
}

/// The commission and fee of one order, as the ledger has it: as earned (gross) and what is
/// left after refunds took back their share and a rejection the rest (net). The nets of a
/// merchant's orders add up to its receivable before its payments to the platform.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owed {
    pub gross_minor: i64,
    pub net_minor: i64,
}

pub fn owed(commission: Option<&CommissionRow>, refunds: &[Refund]) -> Owed {
    let Some(c) = commission else {
        return Owed::default();
    };
    let gross_minor = c.amount_minor + c.fee_minor;
    let net_minor = if c.state == "rejected" {
        0
    } else {
        gross_minor
            - refunds
                .iter()
                .map(|r| r.commission_minor + r.fee_minor)
                .sum::<i64>()
    };
    Owed {
        gross_minor,
        net_minor,
    }
}

fn handle_of(conn: &mut DbConn, influencer_id: Option<i64>) -> AppResult<Option<String>> {
    Ok(match influencer_id {
        Some(id) => db::influencers::find(conn, id)?.map(|i| i.handle),
        None => None,
    })
}

/// One page of the merchant's filtered orders, with the totals over every one of them.
#[derive(Debug, Clone)]
pub struct OrdersListing {
    pub rows: Vec<OrderListRow>,
    pub totals: Vec<OrderTotals>,
    pub paging: Paging,
}

/// The merchant's Orders page: what it owes now, the influencers it can filter by, and the
/// listing (or why the filters cannot be read).
#[derive(Debug, Clone)]
pub struct OrdersList {
    /// What the merchant owes the platform now: its `receivable` balance per currency.
    pub owe_now: BTreeMap<String, i64>,
    /// (id, handle) of the influencers who work or worked with the merchant.
    pub influencers: Vec<(i64, String)>,
    pub listing: Result<OrdersListing, FieldErrors>,
}

fn receivable(conn: &mut DbConn, merchant_id: i64) -> AppResult<BTreeMap<String, i64>> {
    Ok(db::ledger::balances(conn, Owner::Merchant(merchant_id))?
        .into_iter()
        .filter(|((k, _), _)| *k == AccountKind::Receivable)
        .map(|((_, c), v)| (c, v))
        .collect())
}

/// A list's filter scoped to the caller (`owner`: their merchant or influencer id) and checked
/// against the choices they have.
struct Scoped<F, C> {
    owner: i64,
    choices: Vec<C>,
    filter: Result<F, FieldErrors>,
}

/// The caller's merchant, with the filter scoped to it and its influencer checked against
/// the merchant's own.
fn scoped_order_filter(
    conn: &mut DbConn,
    user_id: i64,
    filter: Result<OrderFilter, FieldErrors>,
) -> AppResult<Scoped<OrderFilter, (i64, String)>> {
    let (merchant, _) = super::merchant::org_of(conn, user_id)?;
    let influencers = db::order_lists::merchant_influencers(conn, merchant.id)?;
    let filter = filter.and_then(|mut f| {
        f.merchant_id = merchant.id;
        match f.influencer_id {
            Some(id) if !influencers.iter().any(|(i, _)| *i == id) => {
                let mut e = FieldErrors::new();
                e.add("influencer", "Choose an influencer from the list.");
                Err(e)
            }
            _ => Ok(f),
        }
    });
    Ok(Scoped {
        owner: merchant.id,
        choices: influencers,
        filter,
    })
}

/// A page of the merchant's orders as filtered (newest first), the totals over all of them,
/// and what the merchant owes now.
pub fn merchant_orders(
    conn: &mut DbConn,
    user_id: i64,
    filter: Result<OrderFilter, FieldErrors>,
    page: i64,
) -> AppResult<OrdersList> {
    let scoped = scoped_order_filter(conn, user_id, filter)?;
    let listing = match scoped.filter {
        Ok(f) => {
            let totals = db::order_lists::order_totals(conn, &f)?;
            let rows = db::order_lists::order_page(conn, &f, Paging::offset(page), PAGE)?;
            let total = totals.iter().map(|t| t.orders).sum();
            Ok(OrdersListing {
                paging: Paging::new(page, total, rows.len()),
                rows,
                totals,
            })
        }
        Err(e) => Err(e),
    };
    Ok(OrdersList {
        owe_now: receivable(conn, scoped.owner)?,
        influencers: scoped.choices,
        listing,
    })
}

/// Every order the filter keeps, newest first (for the CSV), read a thousand at a time,
/// each thousand from where the last ended.
pub fn merchant_orders_all(
    conn: &mut DbConn,
    user_id: i64,
    filter: Result<OrderFilter, FieldErrors>,
) -> AppResult<Result<Vec<OrderListRow>, FieldErrors>> {
    const CHUNK: i64 = 1_000;
    let mut f = match scoped_order_filter(conn, user_id, filter)?.filter {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    let mut out: Vec<OrderListRow> = Vec::new();
    loop {
        let chunk = db::order_lists::order_page(conn, &f, 0, CHUNK)?;
        let n = chunk.len();
        out.extend(chunk);
        match out.last() {
            Some(last) if i64::try_from(n).unwrap_or(0) == CHUNK => {
                f.after = Some((last.conversion.occurred_at, last.conversion.id));
            }
            _ => break,
        }
    }
    Ok(Ok(out))
}

#[derive(Debug, Clone)]
pub struct OrderDetail {
    pub recorded: Recorded,
    pub refunds: Vec<Refund>,
    pub events: Vec<CommissionEvent>,
    pub influencer: Option<String>,
    pub link_code: Option<String>,
    pub stream: Option<String>,
}

pub fn merchant_order(conn: &mut DbConn, user_id: i64, id: i64) -> AppResult<OrderDetail> {
    let (merchant, _) = super::merchant::org_of(conn, user_id)?;
    let conversion = db::orders::conversion(conn, id)?
        .filter(|c| c.merchant_id == merchant.id)
        .ok_or(AppError::NotFound)?;
    detail(conn, conversion)
}

fn detail(conn: &mut DbConn, conversion: Conversion) -> AppResult<OrderDetail> {
    let refunds = db::orders::refunds_of(conn, conversion.id)?;
    let influencer = handle_of(conn, conversion.influencer_id)?;
    let link_code = match conversion.link_id {
        Some(l) => db::links::find(conn, l)?.map(|l| l.code),
        None => None,
    };
    let stream = match conversion.stream_id {
        Some(s) => db::links::find_stream(conn, s)?.map(|s| s.title),
        None => None,
    };
    let recorded = answer(conn, conversion)?;
    let events = match &recorded.commission {
        Some(c) => db::orders::events_of(conn, c.id)?,
        None => Vec::new(),
    };
    Ok(OrderDetail {
        recorded,
        refunds,
        events,
        influencer,
        link_code,
        stream,
    })
}

/// Balances as shown, by (account kind, currency).
pub type Balances = BTreeMap<(AccountKind, String), i64>;

/// One page of the influencer's filtered commissions, each with its order's refunds, and
/// the totals over every one of them.
#[derive(Debug, Clone)]
pub struct EarningsListing {
    pub rows: Vec<(EarningListRow, Vec<Refund>)>,
    pub totals: Vec<EarningTotals>,
    pub paging: Paging,
}

/// The influencer's Earnings page: balances, the campaigns to filter by and the listing (or
/// why the filters cannot be read).
#[derive(Debug, Clone)]
pub struct EarningsList {
    pub balances: Balances,
    pub campaigns: Vec<CampaignChoice>,
    pub listing: Result<EarningsListing, FieldErrors>,
}

fn scoped_earning_filter(
    conn: &mut DbConn,
    user_id: i64,
    filter: Result<EarningFilter, FieldErrors>,
) -> AppResult<Scoped<EarningFilter, CampaignChoice>> {
    let me = super::influencer::profile_of(conn, user_id)?;
    let campaigns = db::order_lists::influencer_campaigns(conn, me.id)?;
    let filter = filter.and_then(|mut f| {
        f.influencer_id = me.id;
        let mut e = FieldErrors::new();
        if let Some(m) = f.merchant_id
            && !campaigns.iter().any(|c| c.merchant_id == m)
        {
            e.add("merchant", "Choose a merchant from the list.");
        }
        if let Some(id) = f.campaign_id
            && !campaigns.iter().any(|c| c.id == id)
        {
            e.add("campaign", "Choose a campaign from the list.");
        }
        e.into_result().map(|()| f)
    });
    Ok(Scoped {
        owner: me.id,
        choices: campaigns,
        filter,
    })
}

/// An influencer's balances by (account, currency), and a page of their commissions as
/// filtered and sorted, with the totals over all of them.
pub fn influencer_earnings(
    conn: &mut DbConn,
    user_id: i64,
    filter: Result<EarningFilter, FieldErrors>,
    sort: EarningSort,
    page: i64,
) -> AppResult<EarningsList> {
    let scoped = scoped_earning_filter(conn, user_id, filter)?;
    let balances = db::ledger::balances(conn, Owner::Influencer(scoped.owner))?;
    let listing = match scoped.filter {
        Ok(f) => {
            let totals = db::order_lists::earning_totals(conn, &f)?;
            let rows = db::order_lists::earning_page(conn, &f, sort, Paging::offset(page), PAGE)?;
            let ids: Vec<i64> = rows.iter().map(|r| r.commission.conversion_id).collect();
            let mut refunds: BTreeMap<i64, Vec<Refund>> = BTreeMap::new();
            for r in db::order_lists::refunds_of_orders(conn, &ids)? {
                refunds.entry(r.conversion_id).or_default().push(r);
            }
            let total = totals.iter().map(|t| t.commissions).sum();
            Ok(EarningsListing {
                paging: Paging::new(page, total, rows.len()),
                rows: rows
                    .into_iter()
                    .map(|r| {
                        let of = refunds
                            .remove(&r.commission.conversion_id)
                            .unwrap_or_default();
                        (r, of)
                    })
                    .collect(),
                totals,
            })
        }
        Err(e) => Err(e),
    };
    Ok(EarningsList {
        balances,
        campaigns: scoped.choices,
        listing,
    })
}

/// Every commission the filter keeps, in the order asked for (for the CSV).
pub fn influencer_earnings_all(
    conn: &mut DbConn,
    user_id: i64,
    filter: Result<EarningFilter, FieldErrors>,
    sort: EarningSort,
) -> AppResult<Result<Vec<EarningListRow>, FieldErrors>> {
    const CHUNK: i64 = 1_000;
    let f = match scoped_earning_filter(conn, user_id, filter)?.filter {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    let mut out = Vec::new();
    loop {
        let offset = i64::try_from(out.len()).unwrap_or(i64::MAX);
        let chunk = db::order_lists::earning_page(conn, &f, sort, offset, CHUNK)?;
        let n = chunk.len();
        out.extend(chunk);
        if i64::try_from(n).unwrap_or(0) < CHUNK {
            break;
        }
    }
    Ok(Ok(out))
}

#[derive(Debug, Clone)]
pub struct ReviewRow {
    pub commission: CommissionRow,
    pub order_id: String,
    pub influencer: String,
    pub merchant: String,
}

/// Commissions held for review, oldest first.
pub fn frozen(conn: &mut DbConn) -> AppResult<Vec<ReviewRow>> {
    let mut out = Vec::new();
    for c in db::orders::commissions_in_state(conn, "frozen")? {
        let order_id = db::orders::conversion(conn, c.conversion_id)?
            .map(|c| c.order_id)
            .unwrap_or_default();
        let influencer = handle_of(conn, Some(c.influencer_id))?.unwrap_or_default();
        let merchant = db::merchants::find(conn, c.merchant_id)?
            .map(|m| m.name)
            .unwrap_or_default();
        out.push(ReviewRow {
            commission: c,
            order_id,
            influencer,
            merchant,
        });
    }
    Ok(out)
}
