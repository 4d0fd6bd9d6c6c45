//! The money path (DESIGN.md §3): an order comes in, is attributed (coupon, then click),
//! earns an exact commission that lands in the ledger; refunds reverse it pro rata, or claw
//! it back once paid; the maturation job makes held commissions available. Each use-case is
//! one transaction, and idempotent through unique constraints.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::Connection;
use sha2::{Digest, Sha256};

use crate::db::models::{
    Campaign, Click, Collaboration, CommissionRow, Conversion, ConversionLine, Link, NewCommission,
    NewConversion, NewRefund, Refund, RefundLine,
};
use crate::db::{self, DbConn};
use crate::domain::campaign::CampaignState;
use crate::domain::commission::{self, OrderLine};
use crate::domain::email_address::mailbox;
use crate::domain::ledger::{self, AccountKind};
use crate::domain::links::plausible_click_id;
use crate::domain::money::{Currency, Money, allocate, display_in, display_minor, round_half_away};
use crate::domain::order::{OrderInput, RefundInput, order_alias};
use crate::domain::rate::{RateBps, show_bps};
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};

/// An order placed this soon after its click is flagged for review.
pub const FAST_ORDER_SECONDS: i64 = 10;

/// What recording an order gave: the stored conversion, its lines and commission, and
/// whether it was new (`false`: the same order was sent before; nothing changed).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub created: bool,
    pub conversion: Conversion,
    pub lines: Vec<ConversionLine>,
    pub commission: Option<CommissionRow>,
}

#[derive(Debug, Clone)]
pub struct RefundRecorded {
    pub created: bool,
    pub refund: Refund,
    pub conversion: Conversion,
}

/// A failure inside the recording transaction: a duplicate (another request stored the same
/// id first; the transaction is rolled back and the stored one answers) or anything else.
pub enum Fail {
    Duplicate,
    App(AppError),
}

impl From<diesel::result::Error> for Fail {
    fn from(e: diesel::result::Error) -> Fail {
        if db::is_unique_violation(&e) {
            Fail::Duplicate
        } else {
            Fail::App(e.into())
        }
    }
}

impl From<AppError> for Fail {
    fn from(e: AppError) -> Fail {
        Fail::App(e)
    }
}

fn field_error(field: &str, message: impl Into<String>) -> AppError {
    let mut errors = FieldErrors::new();
    errors.add(field, message);
    AppError::Validation(errors)
}

/// A one-way hash of a buyer's mailbox (case and `+tag` ignored): enough to notice
/// self-purchases, not to read it back.
pub fn email_hash(email: &str) -> String {
    hex::encode(Sha256::digest(
        format!("tandem-email:{}", mailbox(email)).as_bytes(),
    ))
}

/// Records an order once. The same order again gives the stored answer; the same order id
/// with other content is a conflict.
///
/// This is the direct path (CSV import, Shopify, the demo): the order gets its own write
/// transaction. Signed postbacks take the same three steps, with the middle one done by the
/// conversion writer (`jobs::conversions`), which writes many orders in one transaction.
pub fn record_conversion(
    conn: &mut DbConn,
    now: NaiveDateTime,
    merchant_id: i64,
    source: &'static str,
    base_url: &str,
    input: &OrderInput,
) -> AppResult<Recorded> {
    let pending = match prepare_conversion(conn, now, merchant_id, source, base_url, input.clone())?
    {
        Step::Done(recorded) => return Ok(*recorded),
        Step::Write(pending) => pending,
    };
    let stored = match db::write_tx(conn, |conn| store_conversion(conn, &pending)) {
        Ok(stored) => stored,
        Err(Fail::Duplicate) => None,
        Err(Fail::App(e)) => return Err(e),
    };
    match stored {
        Some(recorded) => Ok(recorded),
        None => resolve_duplicate(conn, &pending),
    }
}

/// An order read, attributed and computed, ready to be written (step 2).
pub struct PendingConversion {
    now: NaiveDateTime,
    merchant_id: i64,
    source: &'static str,
    /// The public URL, for links in the emails the order may cause.
    base_url: String,
    input: OrderInput,
    fingerprint: String,
    prepared: Prepared,
}

/// What step 1 found: the stored answer already, or an order to write.
pub enum Step {
    Done(Box<Recorded>),
    Write(Box<PendingConversion>),
}

/// Step 1, before any write lock: attribution, products, rules, the commission and its
/// flags.
pub fn prepare_conversion(
    conn: &mut DbConn,
    now: NaiveDateTime,
    merchant_id: i64,
    source: &'static str,
    base_url: &str,
    input: OrderInput,
) -> AppResult<Step> {
    let fingerprint = input.fingerprint();
    // A retry is rare, so the order is prepared as new; the unique (merchant, order id) turns
    // a repeat into the stored answer or a conflict in step 3. If preparing fails, a stored
    // order with this id still answers.
    match prepare(conn, merchant_id, &input) {
        Ok(prepared) => Ok(Step::Write(Box::new(PendingConversion {
            now,
            merchant_id,
            source,
            base_url: base_url.to_owned(),
            input,
            fingerprint,
            prepared,
        }))),
        Err(e) => match db::orders::find_by_aliases(conn, merchant_id, &input.aliases())? {
            Some(existing) => Ok(Step::Done(Box::new(same_or_conflict(
                conn,
                existing,
                &input,
                source,
                &fingerprint,
            )?))),
            None => match db::orders::find_conversion(conn, merchant_id, &input.order_id)? {
                Some(existing) => Ok(Step::Done(Box::new(same_or_conflict(
                    conn,
                    existing,
                    &input,
                    source,
                    &fingerprint,
                )?))),
                None => Err(e),
            },
        },
    }
}

/// Step 3, when step 2 found the order id taken: the stored answer if it is the same order,
/// else a conflict.
pub fn resolve_duplicate(conn: &mut DbConn, pending: &PendingConversion) -> AppResult<Recorded> {
    let input = &pending.input;
    let existing =
        match db::orders::find_by_aliases(conn, pending.merchant_id, &input.aliases())? {
            Some(found) => Some(found),
            None => db::orders::find_conversion(conn, pending.merchant_id, &input.order_id)?,
        }
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("duplicate order vanished")))?;
    same_or_conflict(conn, existing, input, pending.source, &pending.fingerprint)
}

/// One order is one order, whichever channel reports it (DESIGN.md §3 "Attribution"): the
/// stored order answers a report that is the same order, and anything else is a conflict.
/// The same report again (same channel, same id) must be identical; a report of the order
/// from another channel or under another of its ids must agree on its currency and amount
/// (the commission base): channels describe lines and signals differently.
fn same_or_conflict(
    conn: &mut DbConn,
    existing: Conversion,
    input: &OrderInput,
    source: &str,
    fingerprint: &str,
) -> AppResult<Recorded> {
    match judge_report(&existing, input, source, fingerprint) {
        Ok(()) => answer(conn, existing),
        Err(message) => Err(AppError::Conflict(message)),
    }
}

/// The stored order this report is about, if any, and whether it agrees (`Err`: why not).
pub fn known_order(
    conn: &mut DbConn,
    merchant_id: i64,
    source: &str,
    input: &OrderInput,
) -> AppResult<Option<(Conversion, Result<(), String>)>> {
    let existing = match db::orders::find_by_aliases(conn, merchant_id, &input.aliases())? {
        Some(found) => Some(found),
        None => db::orders::find_conversion(conn, merchant_id, &input.order_id)?,
    };
    Ok(existing.map(|e| {
        let verdict = judge_report(&e, input, source, &input.fingerprint());
        (e, verdict)
    }))
}

/// Whether a report of a stored order agrees with it (see [`same_or_conflict`]).
fn judge_report(
    existing: &Conversion,
    input: &OrderInput,
    source: &str,
    fingerprint: &str,
) -> Result<(), String> {
    if existing.request_hash == fingerprint {
        return Ok(());
    }
    let same_report = existing.source == source
        && order_alias(&existing.order_id) == order_alias(&input.order_id);
    if same_report {
        return Err(format!(
            "Order {} was already recorded with different content. Orders cannot be changed; send a refund for what was returned.",
            existing.order_id
        ));
    }
    let base = input.base_minor();
    if existing.currency == input.currency.code() && base == Some(existing.base_minor) {
        return Ok(());
    }
    Err(format!(
        "Order {} is order {} already recorded from {} for {}; this report says {}. One order is recorded once, whichever channel reports it; send a refund for what was returned.",
        input.order_id,
        existing.order_id,
        channel_name(&existing.source),
        display_in(existing.base_minor, &existing.currency),
        display_minor(base.unwrap_or(0), input.currency),
    ))
}

/// How a channel is named to merchants.
pub fn channel_name(source: &str) -> &'static str {
    match source {
        "api" => "a postback",
        "shopify" => "Shopify",
        "csv" => "a CSV import",
        _ => "another channel",
    }
}

/// The stored conversion with its lines and commission.
pub fn answer(conn: &mut DbConn, conversion: Conversion) -> AppResult<Recorded> {
    let lines = db::orders::lines_of(conn, conversion.id)?;
    let commission = db::orders::commission_of_conversion(conn, conversion.id)?;
    Ok(Recorded {
        created: false,
        conversion,
        lines,
        commission,
    })
}

/// Who gets the credit, and why (or why nobody does).
struct Attribution {
    signal: &'static str,
    note: String,
    collaboration: Option<Collaboration>,
    campaign: Option<Campaign>,
    link: Option<Link>,
    click: Option<Click>,
}

impl Attribution {
    fn none(note: String) -> Attribution {
        Attribution {
            signal: "none",
            note,
            collaboration: None,
            campaign: None,
            link: None,
            click: None,
        }
    }
}

/// Whether the collaboration was active at `at`, from its recorded history.
fn active_at(conn: &mut DbConn, collaboration_id: i64, at: NaiveDateTime) -> AppResult<bool> {
    let events = db::collaborations::events(conn, collaboration_id)?;
    Ok(events
        .iter()
        .filter(|e| e.created_at <= at)
        .max_by_key(|e| (e.created_at, e.id))
        .is_some_and(|e| e.to_state == "active"))
}

/// Why the campaign paid nothing for an order at `at`, or `None` when it was live then
/// (DESIGN.md §3 "Attribution"): its state at that time comes from its recorded history.
fn campaign_not_live(
    conn: &mut DbConn,
    campaign: &Campaign,
    at: NaiveDateTime,
) -> AppResult<Option<String>> {
    let then = db::campaigns::state_at(conn, campaign.id, at)?
        .as_deref()
        .and_then(CampaignState::parse);
    Ok(crate::domain::campaign::not_live_at(
        &campaign.name,
        campaign.starts_at,
        campaign.ends_at,
        then,
        at,
    ))
}

fn describe_gap(d: TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    if s < 120 {
        format!("{s} s")
    } else if s < 7200 {
        format!("{} min", s / 60)
    } else if s < 172_800 {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    } else {
        format!("{} days", s / 86_400)
    }
}

fn attribute(conn: &mut DbConn, merchant_id: i64, input: &OrderInput) -> AppResult<Attribution> {
    let mut notes: Vec<String> = Vec::new();
    if let Some(code) = &input.coupon_code {
        let code = code.trim().to_ascii_uppercase();
        match db::collaborations::by_coupon(conn, merchant_id, &code)? {
            Some(col) if active_at(conn, col.id, input.occurred_at)? => {
                let campaign =
                    db::campaigns::find(conn, col.campaign_id)?.ok_or(AppError::NotFound)?;
                if let Some(why) = campaign_not_live(conn, &campaign, input.occurred_at)? {
                    notes.push(format!(
                        "Coupon {code} belongs to collaboration #{}, but {why}.",
                        col.id
                    ));
                } else {
                return Ok(Attribution {
                    signal: "coupon",
                    note: format!(
                        "Coupon {code} belongs to collaboration #{} on “{}”, active when the order was placed.",
                        col.id, campaign.name
                    ),
                    collaboration: Some(col),
                    campaign: Some(campaign),
                    link: None,
                    click: None,
                });
                }
            }
            Some(col) => notes.push(format!(
                "Coupon {code} belongs to collaboration #{}, which was not active when the order was placed.",
                col.id
            )),
            None => notes.push(format!("Coupon {code} is not one of this merchant's coupons.")),
        }
    }
    if let Some(click_id) = &input.click_id {
        let click = if plausible_click_id(click_id) {
            db::links::find_click(conn, click_id)?
        } else {
            None
        };
        match click {
            None => notes.push(format!("Click id {click_id} is not a Tandem click.")),
            Some(click) => {
                let link = db::links::find(conn, click.link_id)?.ok_or(AppError::NotFound)?;
                let campaign =
                    db::campaigns::find(conn, link.campaign_id)?.ok_or(AppError::NotFound)?;
                let window = TimeDelta::days(i64::from(campaign.attribution_days));
                let gap = input.occurred_at - click.created_at;
                if link.merchant_id != merchant_id {
                    notes.push(format!("Click {click_id} was on another merchant's link."));
                } else if gap < TimeDelta::zero() {
                    notes.push(format!(
                        "Click {click_id} came {} after the order.",
                        describe_gap(-gap)
                    ));
                } else if gap > window {
                    notes.push(format!(
                        "Click {click_id} came {} before the order, outside the campaign's {}-day window.",
                        describe_gap(gap),
                        campaign.attribution_days
                    ));
                } else {
                    let col = db::collaborations::find(conn, link.collaboration_id)?
                        .ok_or(AppError::NotFound)?;
                    let live = if active_at(conn, col.id, input.occurred_at)? {
                        campaign_not_live(conn, &campaign, input.occurred_at)?
                    } else {
                        Some(format!(
                            "collaboration #{} was not active when the order was placed",
                            col.id
                        ))
                    };
                    if let Some(why) = live {
                        notes.push(format!(
                            "Click {click_id} is on link /l/{}, but {why}.",
                            link.code
                        ));
                    } else {
                        let stream = match link.stream_id {
                            Some(sid) => db::links::find_stream(conn, sid)?
                                .map(|s| format!(", stream “{}”", s.title))
                                .unwrap_or_default(),
                            None => String::new(),
                        };
                        let mut note = notes.join(" ");
                        if !note.is_empty() {
                            note.push(' ');
                        }
                        note.push_str(&format!(
                            "Click {click_id} on link /l/{}{stream}, {} before the order (window: {}), collaboration #{} on “{}”.",
                            link.code,
                            describe_gap(gap),
                            crate::domain::words::count(campaign.attribution_days, "day", "days"),
                            col.id,
                            campaign.name
                        ));
                        return Ok(Attribution {
                            signal: "click",
                            note,
                            collaboration: Some(col),
                            campaign: Some(campaign),
                            link: Some(link),
                            click: Some(click),
                        });
                    }
                }
            }
        }
    }
    if notes.is_empty() {
        notes.push("The order carried no coupon code and no click id.".to_owned());
    }
    notes.push("Stored as unattributed: no commission.".to_owned());
    Ok(Attribution::none(notes.join(" ")))
}

/// The campaign's rules in force at `at` (the first version if the order predates them).
fn rules_at(
    conn: &mut DbConn,
    campaign_id: i64,
    at: NaiveDateTime,
) -> AppResult<(
    crate::db::models::RuleVersion,
    crate::domain::campaign::CommissionRules,
)> {
    let history = db::campaigns::rule_history(conn, campaign_id)?;
    let pick = history
        .iter()
        .find(|(v, _)| v.effective_at <= at)
        .or_else(|| history.last())
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("campaign without rules")))?;
    Ok((pick.0.clone(), super::campaigns::rules_of(&pick.0, &pick.1)))
}

/// Everything an order needs that can be read before taking the write lock: attribution,
/// products, rules, the commission and its flags. (Collaboration histories and rule versions
/// only grow, so reading them first is as good as reading them under the lock.)
struct Prepared {
    attribution: Attribution,
    order_lines: Vec<OrderLine>,
    product_ids: Vec<Option<i64>>,
    base: i64,
    calc: Option<commission::Commission>,
    version: Option<crate::db::models::RuleVersion>,
    fee_bps: i32,
    flags: Vec<String>,
    coupon: Option<String>,
    email_hash: Option<String>,
}

fn prepare(conn: &mut DbConn, merchant_id: i64, input: &OrderInput) -> AppResult<Prepared> {
    let mut attribution = attribute(conn, merchant_id, input)?;
    if let Some(campaign) = &attribution.campaign
        && campaign.currency != input.currency.code()
    {
        attribution = Attribution::none(format!(
            "{} But the order is in {} and the campaign pays in {}: stored as unattributed, no commission.",
            attribution.note,
            input.currency.code(),
            campaign.currency
        ));
    }
    // What Tandem knows of each line's product.
    let mut order_lines = Vec::with_capacity(input.items.len());
    let mut product_ids = Vec::with_capacity(input.items.len());
    for item in &input.items {
        let product = db::catalog::find_by_sku(conn, merchant_id, &item.sku)?;
        let in_campaign = match (&attribution.campaign, &product) {
            (Some(c), Some(p)) => db::catalog::in_campaign(conn, c, p)?,
            _ => false,
        };
        product_ids.push(product.as_ref().map(|p| p.id));
        order_lines.push(OrderLine {
            sku: item.sku.clone(),
            in_campaign,
            category: product.map(|p| p.category),
            quantity: item.quantity,
            unit_price_minor: item.unit_price_minor,
            discount_minor: item.discount_minor,
        });
    }
    let base: i64 = order_lines
        .iter()
        .map(|l| l.base_minor().unwrap_or(0))
        .sum();
    let rules = match &attribution.campaign {
        Some(c) => Some(rules_at(conn, c.id, input.occurred_at)?),
        None => None,
    };
    let influencer_rate = attribution
        .collaboration
        .as_ref()
        .and_then(|c| c.custom_rate_bps)
        .map(RateBps::saturating);
    let calc = match &rules {
        Some((_, r)) => Some(
            commission::compute(r, influencer_rate, &order_lines, input.currency).map_err(|e| {
                let mut f = FieldErrors::new();
                f.add("items", e.to_string());
                AppError::Validation(f)
            })?,
        ),
        None => None,
    };
    let earns = calc.as_ref().is_some_and(|c| c.amount_minor > 0);
    let fee_bps = if earns {
        db::merchants::fee_bps(conn, merchant_id)?
    } else {
        0
    };
    let flags = match (&attribution.collaboration, earns) {
        (Some(col), true) => {
            fraud_flags(conn, merchant_id, input, &attribution, col.influencer_id)?
        }
        _ => Vec::new(),
    };
    Ok(Prepared {
        order_lines,
        product_ids,
        base,
        calc,
        version: rules.map(|(v, _)| v),
        fee_bps,
        flags,
        coupon: input
            .coupon_code
            .as_deref()
            .map(|c| c.trim().to_ascii_uppercase()),
        email_hash: input.customer_email.as_deref().map(email_hash),
        attribution,
    })
}

/// Step 2, inside a write transaction: inserts the order, its lines, commission, event and
/// ledger journal. `None` if the order id is taken (nothing written for it): the unique
/// (merchant, order id) decides, so the transaction stays usable on both backends and a
/// batch can go on with its other orders.
pub fn store_conversion(
    conn: &mut DbConn,
    pending: &PendingConversion,
) -> Result<Option<Recorded>, Fail> {
    let PendingConversion {
        now,
        merchant_id,
        source,
        base_url,
        input,
        fingerprint,
        prepared: p,
    } = pending;
    let (now, merchant_id, source) = (*now, *merchant_id, *source);
    // One order, whichever channel reports it: any of its ids taken means it is known.
    let aliases = input.aliases();
    if db::orders::find_by_aliases(conn, merchant_id, &aliases)?.is_some() {
        return Ok(None);
    }
    let attribution = &p.attribution;
    // The campaign's budget, read under its lock: what this order may still earn.
    let budget = match (&attribution.campaign, &p.calc) {
        (Some(campaign), Some(calc)) if calc.amount_minor > 0 => {
            budget_for(conn, campaign, calc.amount_minor)?
        }
        _ => None,
    };
    let amount = match (&budget, &p.calc) {
        (Some(b), _) => b.granted,
        (None, Some(calc)) => calc.amount_minor,
        (None, None) => 0,
    };
    // Each line's part of what is earned (all of it, or its share of a budget's rest).
    let line_amounts: Vec<i64> = match &p.calc {
        Some(calc) => {
            let full: Vec<i64> = calc.lines.iter().map(|l| l.amount_minor).collect();
            if amount == calc.amount_minor {
                full
            } else {
                allocate(amount, &full).unwrap_or_else(|| vec![0; full.len()])
            }
        }
        None => vec![0; p.order_lines.len()],
    };
    let mut note = attribution.note.clone();
    if let Some(b) = budget.as_ref().filter(|b| b.granted == 0) {
        note.push_str(&format!(
            " The campaign's budget cap of {} is used up ({} committed): no commission.",
            display_minor(b.cap, input.currency),
            display_minor(b.committed, input.currency)
        ));
    }
    // A coupon sale made while the creator was live with a link of the campaign belongs to
    // that stream (the latest started, if two were live): the live board and the stream's
    // line on the dashboards count it.
    let coupon_stream = match (attribution.signal, &attribution.collaboration) {
        ("coupon", Some(col)) if attribution.click.is_none() => {
            let mut live: Vec<(NaiveDateTime, i64, String)> = db::live::live_with_campaign(
                conn,
                col.influencer_id,
                col.campaign_id,
                input.occurred_at,
            )?
            .into_iter()
            .filter_map(|s| {
                let span = crate::domain::live::span(
                    s.scheduled_at,
                    s.started_at,
                    s.ended_at,
                    now.max(input.occurred_at),
                );
                crate::domain::live::live_at(&span, input.occurred_at)
                    .then(|| (span.start.unwrap_or(input.occurred_at), s.id, s.title))
            })
            .collect();
            live.sort();
            live.pop()
        }
        _ => None,
    };
    if let Some((_, _, title)) = &coupon_stream {
        note.push_str(&format!(" Placed while the creator was live in “{title}”."));
    }
    // The rows are built here and inserted as they are, so the answer needs no reload.
    let mut conversion = Conversion {
        id: 0,
        merchant_id,
        order_id: input.order_id.clone(),
        source: source.to_owned(),
        request_hash: fingerprint.to_owned(),
        currency: input.currency.code().to_owned(),
        occurred_at: input.occurred_at,
        click_id: input.click_id.clone(),
        coupon_code: p.coupon.clone(),
        customer_email_hash: p.email_hash.clone(),
        base_minor: p.base,
        signal: attribution.signal.to_owned(),
        attribution_note: note,
        collaboration_id: attribution.collaboration.as_ref().map(|c| c.id),
        campaign_id: attribution.campaign.as_ref().map(|c| c.id),
        influencer_id: attribution.collaboration.as_ref().map(|c| c.influencer_id),
        link_id: attribution.link.as_ref().map(|l| l.id),
        stream_id: attribution
            .click
            .as_ref()
            .and_then(|c| c.stream_id)
            .or(coupon_stream.as_ref().map(|s| s.1)),
        click_ref: attribution.click.as_ref().map(|c| c.id),
        created_at: now,
    };
    let Some(id) = db::orders::insert_conversion(conn, &NewConversion::of(&conversion))? else {
        return Ok(None);
    };
    if db::orders::insert_aliases(conn, merchant_id, id, &aliases)? < aliases.len() {
        // Another channel's report of this order took one of its ids meanwhile (PostgreSQL):
        // roll back; the order is then answered from the stored one.
        return Err(Fail::Duplicate);
    }
    conversion.id = id;
    let conversion_id = conversion.id;
    let mut lines: Vec<ConversionLine> = p
        .order_lines
        .iter()
        .enumerate()
        .map(|(n, l)| {
            let c = p.calc.as_ref().map(|c| &c.lines[n]);
            ConversionLine {
                id: 0,
                conversion_id,
                line_no: i32::try_from(n + 1).unwrap_or(i32::MAX),
                sku: l.sku.clone(),
                product_id: p.product_ids[n],
                category: l.category.clone(),
                quantity: l.quantity,
                unit_price_minor: l.unit_price_minor,
                discount_minor: l.discount_minor,
                base_minor: l.base_minor().unwrap_or(0),
                rate_bps: c.map_or(0, |c| c.rate.bps()),
                rate_source: c
                    .and_then(|c| c.source)
                    .map_or("none", |s| match s {
                        crate::domain::campaign::RateSource::Influencer => "influencer",
                        crate::domain::campaign::RateSource::Sku => "sku",
                        crate::domain::campaign::RateSource::Category => "category",
                        crate::domain::campaign::RateSource::Default => "default",
                    })
                    .to_owned(),
                flat_minor: c.map_or(0, |c| c.flat_minor),
                commission_minor: line_amounts[n],
            }
        })
        .collect();
    db::orders::insert_lines(conn, &mut lines)?;
    db::stats::bump_at(
        conn,
        &stats_dims(&conversion),
        conversion.occurred_at,
        &db::stats::Counts {
            orders: 1,
            gmv_minor: conversion.base_minor,
            ..Default::default()
        },
    )?;
    let mut recorded = Recorded {
        created: true,
        conversion,
        lines,
        commission: None,
    };

    let (Some(calc), Some(version), Some(col), Some(campaign)) = (
        p.calc.as_ref(),
        p.version.as_ref(),
        attribution.collaboration.as_ref(),
        attribution.campaign.as_ref(),
    ) else {
        return Ok(Some(recorded));
    };
    if amount <= 0 {
        return Ok(Some(recorded));
    }
    let fee = commission::platform_fee(amount, p.fee_bps);
    // The hold runs from the later of the order time and its recording: an order reported
    // late is still held in full for returns.
    let available_at = input.occurred_at.max(now) + TimeDelta::days(i64::from(campaign.hold_days));
    let skus: Vec<&str> = p.order_lines.iter().map(|l| l.sku.as_str()).collect();
    let mut arithmetic = calc.explain(&skus);
    if let Some(b) = budget.as_ref().filter(|b| b.granted < calc.amount_minor) {
        arithmetic.push_str(&format!(
            "\nBudget cap: {}, of which {} was committed before this order: {} left, so this commission is {} (instead of {}).",
            display_minor(b.cap, input.currency),
            display_minor(b.committed, input.currency),
            display_minor(b.cap - b.committed, input.currency),
            display_minor(amount, input.currency),
            display_minor(calc.amount_minor, input.currency),
        ));
    }
    let explanation = explanation(
        attribution,
        &arithmetic,
        version,
        campaign,
        p.fee_bps,
        fee,
        input.currency,
        available_at,
        &p.flags,
    );
    let state = if p.flags.is_empty() {
        "pending"
    } else {
        "frozen"
    };
    let frozen_reason = (!p.flags.is_empty()).then(|| p.flags.join(" "));
    let mut commission = CommissionRow {
        id: 0,
        conversion_id,
        merchant_id,
        influencer_id: col.influencer_id,
        campaign_id: campaign.id,
        collaboration_id: col.id,
        currency: input.currency.code().to_owned(),
        amount_minor: amount,
        fee_bps: p.fee_bps,
        fee_minor: fee,
        rule_version_id: version.id,
        state: state.to_owned(),
        available_at,
        frozen_reason,
        explanation,
        created_at: now,
        updated_at: now,
    };
    commission.id = db::orders::insert_commission(conn, &NewCommission::of(&commission))?;
    let commission_id = commission.id;
    db::orders::insert_event(
        conn,
        commission_id,
        None,
        state,
        None,
        commission
            .frozen_reason
            .as_deref()
            .unwrap_or("Earned; held for returns until it becomes available."),
        now,
    )?;
    db::ledger::post(
        conn,
        &ledger::accrual(
            merchant_id,
            col.influencer_id,
            amount,
            fee,
            format!("Commission on order {}", input.order_id),
        ),
        input.currency.code(),
        "commission",
        commission_id,
        now,
    )?;
    db::stats::bump_at(
        conn,
        &stats_dims(&recorded.conversion),
        recorded.conversion.occurred_at,
        &db::stats::Counts {
            commission_minor: amount,
            fee_minor: fee,
            ..Default::default()
        },
    )?;
    recorded.commission = Some(commission);
    if let Some(b) = &budget {
        budget_alerts(conn, now, base_url, campaign, b, b.committed + amount)?;
    }
    Ok(Some(recorded))
}

/// A campaign's budget cap as one order finds it, under the campaign's lock.
struct Budget {
    cap: i64,
    /// Committed before this order: its commissions net of reversals and rejections.
    committed: i64,
    /// What this order earns: what it would, or what is left of the cap.
    granted: i64,
}

/// The campaign's budget for an order that would earn `wanted` (`None`: no cap). The row
/// lock (PostgreSQL; SQLite's write transaction excludes every other writer) makes two
/// concurrent orders see each other: they can never both take the last of it.
fn budget_for(conn: &mut DbConn, campaign: &Campaign, wanted: i64) -> AppResult<Option<Budget>> {
    // Only a capped campaign's row is locked: orders of other campaigns never wait.
    if campaign.budget_cap_minor.is_none() {
        return Ok(None);
    }
    let campaign_id = campaign.id;
    db::campaigns::lock(conn, campaign_id)?;
    // Read again under the lock: the cap may have been edited since.
    let Some(cap) = db::campaigns::find(conn, campaign_id)?.and_then(|c| c.budget_cap_minor) else {
        return Ok(None);
    };
    let committed = db::campaigns::committed(conn, campaign_id)?;
    let left = cap.saturating_sub(committed).max(0);
    Ok(Some(Budget {
        cap,
        committed,
        granted: wanted.min(left),
    }))
}

/// Emails the merchant when an order takes the campaign's commitments past 80 % and 100 %
/// of its budget cap (once per crossing: a refund that frees budget lets it cross again).
fn budget_alerts(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    campaign: &Campaign,
    b: &Budget,
    after: i64,
) -> AppResult<()> {
    let currency = Currency::parse(&campaign.currency).map_err(|e| AppError::Internal(e.into()))?;
    let crossed = |percent: i128| {
        let mark = i128::from(b.cap) * percent;
        i128::from(b.committed) * 100 < mark && i128::from(after) * 100 >= mark
    };
    let (subject, lines) = if crossed(100) {
        (
            format!("Budget used up: {}", campaign.name),
            vec![
                format!(
                    "“{}” has committed {} of its {} budget cap.",
                    campaign.name,
                    display_minor(after, currency),
                    display_minor(b.cap, currency)
                ),
                "Further orders earn no commission until you raise the cap (or refunds free some of it). Links keep working.".to_owned(),
            ],
        )
    } else if crossed(80) {
        (
            format!("80 % of the budget used: {}", campaign.name),
            vec![
                format!(
                    "“{}” has committed {} of its {} budget cap.",
                    campaign.name,
                    display_minor(after, currency),
                    display_minor(b.cap, currency)
                ),
                "When the cap is reached, orders earn no commission; raise it on the campaign page if you want the campaign to keep paying.".to_owned(),
            ],
        )
    } else {
        return Ok(());
    };
    super::notify_merchant(
        conn,
        now,
        campaign.merchant_id,
        &subject,
        &lines,
        &format!("{base_url}/merchant/campaigns/{}", campaign.id),
    )
}

/// DESIGN.md §3 "Fraud signals": flags that hold a commission for review. The order's click
/// is judged even when a coupon won the attribution.
fn fraud_flags(
    conn: &mut DbConn,
    merchant_id: i64,
    input: &OrderInput,
    attribution: &Attribution,
    influencer_id: i64,
) -> AppResult<Vec<String>> {
    let mut flags = Vec::new();
    let carried = match (&attribution.click, &input.click_id) {
        (Some(_), _) => None,
        (None, Some(id)) if plausible_click_id(id) => db::links::find_click(conn, id)?,
        (None, _) => None,
    };
    let click = match (&attribution.click, &carried) {
        (Some(c), _) => Some(c),
        (None, Some(c))
            if db::links::find(conn, c.link_id)?.is_some_and(|l| l.merchant_id == merchant_id) =>
        {
            Some(c)
        }
        _ => None,
    };
    if let Some(click) = click {
        if click.is_bot {
            flags.push("The click came from a known bot user agent.".to_owned());
        }
        let gap = (input.occurred_at - click.created_at).num_seconds();
        if (0..FAST_ORDER_SECONDS).contains(&gap) {
            flags.push(format!(
                "The order was placed {gap} s after the click (less than {FAST_ORDER_SECONDS} s)."
            ));
        }
    }
    if let Some(email) = &input.customer_email
        && let Some(inf) = db::influencers::find(conn, influencer_id)?
        && let Some(user) = db::users::find(conn, inf.user_id)?
        && mailbox(&user.email) == mailbox(email)
    {
        flags.push("The buyer's email is the influencer's own (self-purchase).".to_owned());
    }
    Ok(flags)
}

#[allow(clippy::too_many_arguments)]
fn explanation(
    attribution: &Attribution,
    arithmetic: &str,
    version: &crate::db::models::RuleVersion,
    campaign: &Campaign,
    fee_bps: i32,
    fee: i64,
    currency: Currency,
    available_at: NaiveDateTime,
    flags: &[String],
) -> String {
    let mut out = vec![format!("Attribution: {}", attribution.note)];
    out.push(format!(
        "Rules: “{}” version {} (in force from {}).",
        campaign.name,
        version.version,
        version.effective_at.format("%Y-%m-%d %H:%M UTC")
    ));
    out.push(arithmetic.to_owned());
    if fee_bps > 0 {
        out.push(format!(
            "Platform fee, owed by the merchant on top: {} of the commission = {}.",
            show_bps(fee_bps),
            Money::from_minor(fee, currency)
                .map(|m| m.display())
                .unwrap_or_default()
        ));
    }
    if flags.is_empty() {
        out.push(format!(
            "Held for returns for {}: available from {}.",
            crate::domain::words::count(campaign.hold_days, "day", "days"),
            available_at.format("%Y-%m-%d %H:%M UTC")
        ));
    } else {
        // Frozen: no date until finance reviews it.
        for f in flags {
            out.push(format!("Held for review: {f}"));
        }
        out.push(format!(
            "No date until finance reviews it; if released, it is held for returns for {}, until {} at the earliest.",
            crate::domain::words::count(campaign.hold_days, "day", "days"),
            available_at.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    out.join("\n")
}

/// Records a refund once (same rules as orders). Before payout the commission is reversed
/// pro rata by line; once paid (or being paid), the same amount is clawed back from the
/// influencer's available balance.
///
/// A refund's identity is its id: the same id again with the same order, amount (compared
/// as money: "10" = "10.00") and time answers the stored refund, with anything else it is a
/// conflict. Concurrent copies of one refund all answer the stored one: the refund is looked
/// up again under the order's lock, before what is left to refund is checked.
pub fn record_refund(
    conn: &mut DbConn,
    now: NaiveDateTime,
    merchant_id: i64,
    source: &str,
    input: &RefundInput,
) -> AppResult<RefundRecorded> {
    let fingerprint = input.fingerprint();
    if let Some(existing) = db::orders::find_refund(conn, merchant_id, &input.refund_id)? {
        return same_refund_or_conflict(conn, existing, input);
    }
    let result = db::write_tx(conn, |conn| {
        store_refund(conn, now, merchant_id, source, input, &fingerprint)
    });
    match result {
        Ok(()) => {
            let refund = db::orders::find_refund(conn, merchant_id, &input.refund_id)?
                .ok_or(AppError::NotFound)?;
            let conversion =
                db::orders::conversion(conn, refund.conversion_id)?.ok_or(AppError::NotFound)?;
            Ok(RefundRecorded {
                created: true,
                refund,
                conversion,
            })
        }
        Err(Fail::Duplicate) => {
            let existing = db::orders::find_refund(conn, merchant_id, &input.refund_id)?
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("duplicate refund vanished")))?;
            same_refund_or_conflict(conn, existing, input)
        }
        Err(Fail::App(e)) => Err(e),
    }
}

/// What is left to refund on an order: its base less what its refunds returned.
pub fn left_to_refund(conn: &mut DbConn, conversion_id: i64) -> AppResult<i64> {
    let conversion = db::orders::conversion(conn, conversion_id)?.ok_or(AppError::NotFound)?;
    let refunded: i64 = db::orders::refunds_of(conn, conversion_id)?
        .iter()
        .map(|r| r.amount_minor)
        .sum();
    Ok(conversion.base_minor - refunded)
}

fn same_refund_or_conflict(
    conn: &mut DbConn,
    existing: Refund,
    input: &RefundInput,
) -> AppResult<RefundRecorded> {
    let conversion =
        db::orders::conversion(conn, existing.conversion_id)?.ok_or(AppError::NotFound)?;
    let amount = Currency::parse(&conversion.currency)
        .ok()
        .and_then(|c| Money::parse(&input.amount, c).ok());
    let same = conversion.order_id == input.order_id
        && amount.is_some_and(|a| a.minor() == existing.amount_minor)
        && existing.occurred_at == input.occurred_at;
    if !same {
        return Err(AppError::Conflict(format!(
            "Refund {} was already recorded with different content.",
            existing.refund_id
        )));
    }
    Ok(RefundRecorded {
        created: false,
        refund: existing,
        conversion,
    })
}

fn store_refund(
    conn: &mut DbConn,
    now: NaiveDateTime,
    merchant_id: i64,
    source: &str,
    input: &RefundInput,
    fingerprint: &str,
) -> Result<(), Fail> {
    let conversion = db::orders::find_conversion(conn, merchant_id, &input.order_id)?
        .ok_or_else(|| field_error("order_id", "No order with this id was recorded."))?;
    let currency =
        Currency::parse(&conversion.currency).map_err(|e| AppError::Internal(e.into()))?;
    let amount =
        Money::parse(&input.amount, currency).map_err(|e| field_error("amount", e.to_string()))?;
    if amount.minor() <= 0 {
        return Err(field_error("amount", "must be more than zero").into());
    }
    if input.occurred_at < conversion.occurred_at {
        return Err(field_error("occurred_at", "is before the order was placed").into());
    }
    // Refunds of one order, and the maturation of its commission, go one at a time. A copy
    // of this refund that got the lock first is the answer, not "more than what is left".
    db::orders::lock_conversion(conn, conversion.id)?;
    if db::orders::find_refund(conn, merchant_id, &input.refund_id)?.is_some() {
        return Err(Fail::Duplicate);
    }
    let commission_row = db::orders::commission_for_update(conn, conversion.id)?;
    let lines = db::orders::lines_of(conn, conversion.id)?;
    let earlier = db::orders::refund_lines_of(conn, conversion.id)?;
    let by_line = |f: fn(&RefundLine) -> i64| -> Vec<i64> {
        lines
            .iter()
            .map(|l| {
                earlier
                    .iter()
                    .filter(|r| r.line_no == l.line_no)
                    .map(f)
                    .sum()
            })
            .collect()
    };
    let refunded_before = by_line(|r| r.amount_minor);
    let taken_before = by_line(|r| r.commission_minor);
    let bases: Vec<i64> = lines.iter().map(|l| l.base_minor).collect();
    let commissions: Vec<i64> = lines.iter().map(|l| l.commission_minor).collect();
    let left: i64 = bases.iter().sum::<i64>() - refunded_before.iter().sum::<i64>();
    let Some((parts, taken)) = commission::refund_split(
        amount.minor(),
        &bases,
        &commissions,
        &refunded_before,
        &taken_before,
    ) else {
        return Err(field_error(
            "amount",
            format!(
                "is more than what is left to refund on this order ({})",
                Money::from_minor(left, currency)
                    .map(|m| m.display())
                    .unwrap_or_default()
            ),
        )
        .into());
    };
    let take: i64 = taken.iter().sum();
    let (effect, fee_take) = match &commission_row {
        Some(c) if c.state != "rejected" && take > 0 => {
            let before: i64 = db::orders::refunds_of(conn, conversion.id)?
                .iter()
                .map(|r| r.fee_minor)
                .sum();
            let cumulative: i64 = taken_before.iter().sum::<i64>() + take;
            let target = if c.amount_minor == 0 {
                0
            } else {
                let exact = rust_decimal::Decimal::from(c.fee_minor)
                    * rust_decimal::Decimal::from(cumulative)
                    / rust_decimal::Decimal::from(c.amount_minor);
                let r = round_half_away(exact, 0);
                i64::try_from(r.mantissa() / 10i128.pow(r.scale())).unwrap_or(0)
            };
            let effect = match c.state.as_str() {
                "paid" | "in_payout" => "clawback",
                _ => "reversal",
            };
            (effect, target - before)
        }
        _ => ("none", 0),
    };
    let take = if effect == "none" { 0 } else { take };
    let refund_ref = db::orders::insert_refund(
        conn,
        &NewRefund {
            merchant_id,
            refund_id: &input.refund_id,
            conversion_id: conversion.id,
            source,
            request_hash: fingerprint,
            amount_minor: amount.minor(),
            occurred_at: input.occurred_at,
            commission_minor: take,
            fee_minor: fee_take,
            effect,
            created_at: now,
        },
    )?;
    let refund_lines: Vec<RefundLine> = lines
        .iter()
        .zip(parts.iter().zip(&taken))
        .map(|(l, (part, t))| RefundLine {
            id: 0,
            refund_ref,
            line_no: l.line_no,
            amount_minor: *part,
            commission_minor: if effect == "none" { 0 } else { *t },
        })
        .collect();
    db::orders::insert_refund_lines(conn, &refund_lines)?;
    db::stats::bump_at(
        conn,
        &stats_dims(&conversion),
        input.occurred_at,
        &db::stats::Counts {
            refunds: 1,
            refund_minor: amount.minor(),
            refund_commission_minor: take,
            refund_fee_minor: fee_take,
            ..Default::default()
        },
    )?;
    if let Some(c) = commission_row
        && effect != "none"
    {
        let memo = format!(
            "Refund {} on order {}",
            input.refund_id, conversion.order_id
        );
        let draft = if effect == "clawback" {
            ledger::clawback(merchant_id, c.influencer_id, take, fee_take, memo)
        } else {
            let from = if c.state == "available" {
                AccountKind::Available
            } else {
                AccountKind::Pending
            };
            ledger::reversal(merchant_id, c.influencer_id, from, take, fee_take, memo)
        };
        db::ledger::post(conn, &draft, &c.currency, "refund", refund_ref, now)?;
    }
    Ok(())
}

/// What an order's rows in the dashboards' rollup belong to.
fn stats_dims(c: &Conversion) -> db::stats::Dims {
    db::stats::Dims {
        merchant_id: c.merchant_id,
        campaign_id: c.campaign_id.unwrap_or(0),
        influencer_id: c.influencer_id.unwrap_or(0),
        link_id: c.link_id.unwrap_or(0),
        stream_id: c.stream_id.unwrap_or(0),
        currency: c.currency.clone(),
    }
}

/// What the commission itself still carries after its reversals (the amount that matures;
/// clawbacks are offset apart: see `db::orders::NET_OF_REFUNDS`).
pub fn net_commission(conn: &mut DbConn, c: &CommissionRow) -> AppResult<i64> {
    let taken: i64 = db::orders::refunds_of(conn, c.conversion_id)?
        .iter()
        .filter(|r| r.effect == "reversal")
        .map(|r| r.commission_minor)
        .sum();
    Ok(c.amount_minor - taken)
}

/// The maturation job: every pending commission whose hold is over becomes available.
/// Safe to run on several nodes at once and again after a crash: each commission moves by
/// compare-and-set and its journal is unique. Returns how many moved.
pub fn mature_due(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<usize> {
    let mut moved = 0;
    loop {
        let due = db::orders::due_for_maturation(conn, now, 200)?;
        if due.is_empty() {
            return Ok(moved);
        }
        let mut progressed = false;
        for c in due {
            let done = db::write_tx(conn, |conn| -> AppResult<bool> {
                if !db::orders::move_commission(
                    conn,
                    c.id,
                    "pending",
                    "available",
                    None,
                    None,
                    "The hold for returns is over.",
                    now,
                )? {
                    return Ok(false);
                }
                let net = net_commission(conn, &c)?;
                db::ledger::post(
                    conn,
                    &ledger::maturation(
                        c.influencer_id,
                        net,
                        format!("Commission #{} available", c.id),
                    ),
                    &c.currency,
                    "commission",
                    c.id,
                    now,
                )?;
                Ok(true)
            })?;
            if done {
                moved += 1;
                progressed = true;
            }
        }
        if !progressed {
            return Ok(moved);
        }
    }
}

/// Finance releases a frozen commission (it then matures like any other) or rejects it
/// (the whole remaining amount is reversed).
pub fn review_frozen(
    conn: &mut DbConn,
    now: NaiveDateTime,
    actor_user_id: i64,
    commission_id: i64,
    release: bool,
    note: &str,
) -> AppResult<CommissionRow> {
    let c = db::orders::commission(conn, commission_id)?.ok_or(AppError::NotFound)?;
    if c.state != "frozen" {
        return Err(AppError::Conflict(format!(
            "Commission #{} is {}, not frozen.",
            c.id, c.state
        )));
    }
    let note = note.trim();
    db::write_tx(conn, |conn| -> AppResult<()> {
        let to = if release { "pending" } else { "rejected" };
        let text = if note.is_empty() {
            if release {
                "Released after review.".to_owned()
            } else {
                "Rejected after review.".to_owned()
            }
        } else {
            note.to_owned()
        };
        if !db::orders::move_commission(
            conn,
            c.id,
            "frozen",
            to,
            None,
            Some(actor_user_id),
            &text,
            now,
        )? {
            return Err(AppError::Conflict(
                "Someone else reviewed it first.".to_owned(),
            ));
        }
        if !release {
            let net = net_commission(conn, &c)?;
            let fee_taken: i64 = db::orders::refunds_of(conn, c.conversion_id)?
                .iter()
                .map(|r| r.fee_minor)
                .sum();
            let order = db::orders::conversion(conn, c.conversion_id)?.ok_or(AppError::NotFound)?;
            db::stats::bump_at(
                conn,
                &stats_dims(&order),
                now,
                &db::stats::Counts {
                    rejected_commission_minor: net,
                    rejected_fee_minor: c.fee_minor - fee_taken,
                    ..Default::default()
                },
            )?;
            db::ledger::post(
                conn,
                &ledger::rejection(
                    c.merchant_id,
                    c.influencer_id,
                    AccountKind::Pending,
                    net,
                    c.fee_minor - fee_taken,
                    format!("Commission #{} rejected: {text}", c.id),
                ),
                &c.currency,
                "commission",
                c.id,
                now,
            )?;
        }
        Ok(())
    })?;
    db::orders::commission(conn, commission_id)?.ok_or(AppError::NotFound)
}

/// How long the previous postback secret keeps working after a rotation.
pub const ROTATION_GRACE_DAYS: i64 = 7;

/// Makes a new postback secret for the merchant and returns it (it is shown once). The
/// previous one keeps working for [`ROTATION_GRACE_DAYS`] days, so the merchant's systems
/// can switch over without losing a postback. `made_by`: the owner who made it (`None`: the
/// command line).
pub fn rotate_postback_secret(
    conn: &mut DbConn,
    now: NaiveDateTime,
    merchant_id: i64,
    made_by: Option<i64>,
) -> AppResult<String> {
    use base64::Engine;
    use rand::RngCore;
    db::merchants::find(conn, merchant_id)?.ok_or(AppError::NotFound)?;
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let secret = format!(
        "tps_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    let prefix: String = secret.chars().take(10).collect();
    db::write_tx(conn, |conn| {
        db::orders::rotate_secret(
            conn,
            merchant_id,
            &secret,
            &prefix,
            made_by,
            now,
            now + TimeDelta::days(ROTATION_GRACE_DAYS),
        )?;
        super::audit(
            conn,
            now,
            made_by,
            "integration.secret",
            ("merchant", merchant_id),
            &format!(
                "new postback secret {prefix}… made{}",
                if made_by.is_none() {
                    " from the command line"
                } else {
                    ""
                }
            ),
        )?;
        Ok::<_, AppError>(())
    })?;
    Ok(secret)
}

/// The owner makes a new postback secret (see [`rotate_postback_secret`]); other members
/// may not (403): whoever makes one sees it.
pub fn rotate_secret_as_owner(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
) -> AppResult<String> {
    let org = super::merchant::org_for_secrets(conn, user_id)?;
    rotate_postback_secret(conn, now, org.id, Some(user_id))
}

/// The result of `tandem ledger check`.
pub struct LedgerReport {
    pub entries: usize,
    pub journals: usize,
    /// How many of each thing were verified, e.g. ("commissions", 120).
    pub verified: Vec<(&'static str, usize)>,
    pub breaks: Vec<String>,
}

/// Verifies every ledger invariant (DESIGN.md §3 "Ledger") against the stored accounts,
/// journals and entries and the commissions and refunds they are for, all read in one
/// transaction (a consistent snapshot while the app keeps writing).
pub fn check_ledger(conn: &mut DbConn) -> AppResult<LedgerReport> {
    let (books, kept, billing) = conn.transaction(|c| {
        Ok::<_, diesel::result::Error>((
            db::ledger::books(c)?,
            db::ledger::kept_balances(c)?,
            db::billing::facts(c)?,
        ))
    })?;
    let audit = ledger::audit(&books);
    let (billing_verified, billing_breaks) = crate::domain::billing::audit(&books, &billing);
    let drift = ledger::balance_drift(&books.entries, &kept);
    let mut verified = audit.verified;
    // The balances dashboards read are kept by a trigger: each must equal its entries' sum.
    let accounts = books.accounts.len();
    verified.push(("maintained balances", accounts - drift.len().min(accounts)));
    let mut breaks: Vec<String> = audit.breaks.into_iter().map(|b| b.0).collect();
    breaks.extend(drift.into_iter().map(|(account, kept, summed)| {
        format!("account {account}: maintained balance {kept} but its entries sum to {summed}")
    }));
    verified.extend(billing_verified);
    breaks.extend(billing_breaks);
    Ok(LedgerReport {
        entries: books.entries.len(),
        journals: books.journals.len(),
        verified,
        breaks,
    })
}

/// What recording this order would do, without storing anything: (signal, attribution note,
/// commission in minor units if any). For the CSV import's preview.
pub fn dry_run(
    conn: &mut DbConn,
    merchant_id: i64,
    input: &OrderInput,
) -> AppResult<(&'static str, String, Option<i64>)> {
    let p = prepare(conn, merchant_id, input)?;
    Ok((
        p.attribution.signal,
        p.attribution.note,
        p.calc.map(|c| c.amount_minor).filter(|a| *a > 0),
    ))
}

/// What the merchant's Integration page shows: the merchant, its valid postback secrets
/// (newest first) and whether a Shopify webhook secret is set.
pub struct Integration {
    pub merchant: crate::db::models::Merchant,
    pub secrets: Vec<crate::db::models::PostbackSecret>,
    pub shopify_set: bool,
    /// The latest Shopify deliveries and what became of each, newest first.
    pub deliveries: Vec<db::orders::ShopifyDelivery>,
}

/// Deliveries shown on the Integration page.
pub const DELIVERIES_SHOWN: i64 = 25;

pub fn integration(conn: &mut DbConn, now: NaiveDateTime, user_id: i64) -> AppResult<Integration> {
    let (merchant, _) = super::merchant::org_of(conn, user_id)?;
    let secrets = db::orders::valid_secrets(conn, merchant.id, now)?;
    let shopify_set = db::orders::shopify_secret(conn, merchant.id)?.is_some();
    let deliveries = db::orders::recent_shopify_deliveries(conn, merchant.id, DELIVERIES_SHOWN)?;
    Ok(Integration {
        merchant,
        secrets,
        shopify_set,
        deliveries,
    })
}

/// The owner stops every postback secret but the newest; returns how many stopped.
pub fn retire_old_secrets(conn: &mut DbConn, now: NaiveDateTime, user_id: i64) -> AppResult<usize> {
    let m = super::merchant::org_for_secrets(conn, user_id)?;
    db::write_tx(conn, |conn| {
        let n = db::orders::retire_old_secrets(conn, m.id, now)?;
        if n > 0 {
            super::audit(
                conn,
                now,
                Some(user_id),
                "integration.secret",
                ("merchant", m.id),
                "older postback secrets stopped",
            )?;
        }
        Ok(n)
    })
}

/// The owner saves (or, empty, removes) the Shopify webhook signing secret; returns whether
/// one is set now.
pub fn set_shopify_secret(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    input: &str,
) -> AppResult<bool> {
    let m = super::merchant::org_for_secrets(conn, user_id)?;
    let secret = input.trim();
    if secret.len() > 200 || secret.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(field_error(
            "secret",
            "Paste the signing secret exactly as Shopify shows it.",
        ));
    }
    let set = !secret.is_empty();
    db::write_tx(conn, |conn| {
        db::orders::set_shopify_secret(conn, m.id, set.then_some(secret), Some(user_id), now)?;
        super::audit(
            conn,
            now,
            Some(user_id),
            "integration.shopify",
            ("merchant", m.id),
            if set {
                "Shopify webhook secret saved"
            } else {
                "Shopify webhook secret removed"
            },
        )?;
        Ok::<_, AppError>(())
    })?;
    Ok(set)
}
