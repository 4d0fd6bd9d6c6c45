//! What people read about orders and money: a merchant's orders with their attribution
//! trace, an influencer's earnings, finance's review queue. Every balance comes from ledger
//! entries.

use std::collections::BTreeMap;

use crate::db::models::{CommissionEvent, CommissionRow, Conversion, Merchant, Refund};
use crate::db::{self, DbConn};
use crate::domain::ledger::{AccountKind, Owner};
use crate::error::{AppError, AppResult};

use super::orders::{Recorded, answer};

/// How many orders a list shows.
pub const PAGE: i64 = 200;

#[derive(Debug, Clone)]
pub struct OrderRow {
    pub conversion: Conversion,
    pub commission: Option<CommissionRow>,
    pub refunded_minor: i64,
    pub influencer: Option<String>,
    /// What the merchant owes for the order: gross (commission + fee as earned) and net.
    pub owed: Owed,
}

/// What a merchant owes for one order, as the ledger has it: the commission and fee as
/// earned (gross) and what is left after refunds took back their share and a rejection the
/// rest (net). The nets of a merchant's orders add up to its receivable (before payments).
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

/// A merchant's orders, newest first, and what it owes per currency (from the ledger).
pub fn merchant_orders(
    conn: &mut DbConn,
    user_id: i64,
    attributed: Option<bool>,
) -> AppResult<(Merchant, Vec<OrderRow>, BTreeMap<String, i64>)> {
    let (merchant, _) = super::merchant::org_of(conn, user_id)?;
    let mut rows = Vec::new();
    for c in db::orders::conversions_of(conn, merchant.id, attributed, PAGE)? {
        let commission = db::orders::commission_of_conversion(conn, c.id)?;
        let refunds = db::orders::refunds_of(conn, c.id)?;
        let refunded_minor = refunds.iter().map(|r| r.amount_minor).sum();
        let influencer = handle_of(conn, c.influencer_id)?;
        rows.push(OrderRow {
            owed: owed(commission.as_ref(), &refunds),
            conversion: c,
            commission,
            refunded_minor,
            influencer,
        });
    }
    let owed = db::ledger::balances(conn, Owner::Merchant(merchant.id))?
        .into_iter()
        .filter(|((k, _), _)| *k == AccountKind::Receivable)
        .map(|((_, c), v)| (c, v))
        .collect();
    Ok((merchant, rows, owed))
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

#[derive(Debug, Clone)]
pub struct EarningRow {
    pub commission: CommissionRow,
    pub order_id: String,
    pub campaign: String,
    /// What is left after refunds.
    pub net_minor: i64,
    pub refunds: Vec<Refund>,
}

/// Balances as shown, by (account kind, currency).
pub type Balances = BTreeMap<(AccountKind, String), i64>;

/// An influencer's balances by (account, currency) and each commission.
pub fn influencer_earnings(
    conn: &mut DbConn,
    user_id: i64,
) -> AppResult<(Balances, Vec<EarningRow>)> {
    let me = super::influencer::profile_of(conn, user_id)?;
    let balances = db::ledger::balances(conn, Owner::Influencer(me.id))?;
    let mut rows = Vec::new();
    for c in db::orders::commissions_of_influencer(conn, me.id)? {
        let conversion =
            db::orders::conversion(conn, c.conversion_id)?.ok_or(AppError::NotFound)?;
        let campaign = db::campaigns::find(conn, c.campaign_id)?
            .map(|c| c.name)
            .unwrap_or_default();
        let refunds = db::orders::refunds_of(conn, c.conversion_id)?;
        let taken: i64 = refunds.iter().map(|r| r.commission_minor).sum();
        rows.push(EarningRow {
            net_minor: c.amount_minor - taken,
            commission: c,
            order_id: conversion.order_id,
            campaign,
            refunds,
        });
    }
    Ok((balances, rows))
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
