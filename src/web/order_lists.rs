//! The merchant's Orders list and the influencer's Earnings list: filters in the query
//! string (shareable), pages of 50, totals over every filtered row, and the filtered rows
//! as CSV. A filter that cannot be read comes back as a 400 with the field's message next to
//! it; the list is never guessed.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use chrono_tz::Tz;
use serde::Deserialize;

use super::extract::{InfluencerUser, MerchantUser};
use super::orders::{show, state_label};
use super::pages::{self, PageCtx, SelectOption, fmt_date, fmt_datetime};
use super::urlencode;
use crate::db::order_lists::{CommissionFilter, EarningFilter, EarningSort, OrderFilter};
use crate::domain::ledger::AccountKind;
use crate::domain::money::plain_in as plain;
use crate::domain::validate::FieldErrors;
use crate::domain::validate::csv_cell as cell;
use crate::error::{AppError, AppResult};
use crate::service::reports::{self, Paging};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(orders)
        .service(orders_csv)
        .service(earnings)
        .service(earnings_csv);
}

/// The commission states lists filter by: (value, label).
const STATES: &[(&str, &str)] = &[
    ("pending", "Pending (held for returns)"),
    ("frozen", "Frozen for review"),
    ("available", "Available"),
    ("in_payout", "In payout"),
    ("paid", "Paid"),
    ("rejected", "Rejected"),
];

/// A commission state in a badge: short, its meaning in the title.
fn state_short(state: &str) -> &'static str {
    match state {
        "pending" => "Pending",
        "frozen" => "Frozen",
        "available" => "Available",
        "in_payout" => "In payout",
        "paid" => "Paid",
        "rejected" => "Rejected",
        _ => "Unknown",
    }
}

/// The badge's tone for a commission state.
fn state_tone(state: &str) -> &'static str {
    match state {
        "available" | "paid" => "badge-ok",
        "frozen" | "rejected" => "badge-danger",
        "in_payout" => "badge-info",
        _ => "badge-soft",
    }
}

fn options(items: &[(&str, &str)], any: &str, selected: &str) -> Vec<SelectOption> {
    std::iter::once(("", any))
        .chain(items.iter().copied())
        .map(|(v, l)| SelectOption {
            value: v.to_owned(),
            label: l.to_owned(),
            selected: v == selected,
        })
        .collect()
}

/// The UTC instants `[from, until)` that the local days `from` to `to` (each optional,
/// `YYYY-MM-DD`) span in `tz`.
fn parse_days(
    from: &str,
    to: &str,
    tz: Tz,
    errors: &mut FieldErrors,
) -> (Option<NaiveDateTime>, Option<NaiveDateTime>) {
    let day = |field: &str, raw: &str, errors: &mut FieldErrors| {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        let parsed = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok();
        if parsed.is_none() {
            errors.add(field, "Use a date as YYYY-MM-DD, e.g. 2026-12-01.");
        }
        parsed
    };
    let (from, to) = (day("from", from, errors), day("to", to, errors));
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        errors.add(
            "to",
            "The range ends before it starts: choose a later date.",
        );
        return (None, None);
    }
    let instant = |d: NaiveDate| {
        chrono::DateTime::from_timestamp(crate::service::metrics::local_midnight(d, tz), 0)
            .map(|t| t.naive_utc())
    };
    (
        from.and_then(instant),
        to.and_then(|t| t.checked_add_signed(TimeDelta::days(1)))
            .and_then(instant),
    )
}

/// A page number: 1 when absent.
fn parse_page(raw: &str, errors: &mut FieldErrors) -> i64 {
    let raw = raw.trim();
    if raw.is_empty() {
        return 1;
    }
    match raw.parse::<i64>() {
        Ok(n) if (1..=1_000_000_000).contains(&n) => n,
        _ => {
            errors.add("page", "Use a page number: 1, 2, 3 …");
            1
        }
    }
}

/// A positive id chosen from a list, or the field's message.
fn parse_choice(raw: &str, field: &str, message: &str, errors: &mut FieldErrors) -> Option<i64> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    match raw.parse::<i64>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            errors.add(field, message);
            None
        }
    }
}

/// `base` with the parameters that have a value.
fn href(base: &str, params: &[(&str, &str)]) -> String {
    let parts: Vec<String> = params
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", urlencode(v.trim())))
        .collect();
    if parts.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", parts.join("&"))
    }
}

/// "Showing 51–100 of 312 orders", the page links and, past the end, the last page.
struct Pager {
    showing: String,
    label: String,
    prev: Option<String>,
    next: Option<String>,
    /// Set when the page asked for is past the end: the last page's link.
    past_end: Option<String>,
}

fn pager(p: &Paging, one: &str, many: &str, link: &dyn Fn(i64) -> String) -> Pager {
    let noun = if p.total == 1 { one } else { many };
    Pager {
        showing: if p.last == 0 {
            format!("{} {noun}", p.total)
        } else if p.total <= reports::PAGE {
            format!("All {} {noun}", p.total)
        } else {
            format!("Showing {}–{} of {} {noun}", p.first, p.last, p.total)
        },
        label: format!("Page {} of {}", p.page.min(p.pages), p.pages),
        prev: (p.page > 1 && p.page <= p.pages).then(|| link(p.page - 1)),
        next: (p.page < p.pages).then(|| link(p.page + 1)),
        past_end: (p.page > p.pages).then(|| link(p.pages)),
    }
}

// ---------- the merchant's orders ----------

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OrdersQuery {
    from: String,
    to: String,
    influencer: String,
    state: String,
    attributed: String,
    q: String,
    page: String,
}

impl OrdersQuery {
    fn parse(&self, tz: Tz) -> (Result<OrderFilter, FieldErrors>, i64) {
        let mut errors = FieldErrors::new();
        let (from, until) = parse_days(&self.from, &self.to, tz, &mut errors);
        let influencer_id = parse_choice(
            &self.influencer,
            "influencer",
            "Choose an influencer from the list.",
            &mut errors,
        );
        let commission = match self.state.trim() {
            "" => None,
            "none" => Some(CommissionFilter::None),
            s if STATES.iter().any(|(v, _)| *v == s) => Some(CommissionFilter::State(s.into())),
            _ => {
                errors.add("state", "Choose a state from the list.");
                None
            }
        };
        let attributed = match self.attributed.trim() {
            "" => None,
            "yes" => Some(true),
            "no" => Some(false),
            _ => {
                errors.add(
                    "attributed",
                    "Choose attributed, unattributed or all orders.",
                );
                None
            }
        };
        let page = parse_page(&self.page, &mut errors);
        let text = self.q.trim().to_lowercase();
        let filter = OrderFilter {
            merchant_id: 0,
            from,
            until,
            influencer_id,
            attributed,
            commission,
            text: (!text.is_empty()).then_some(text),
            after: None,
        };
        (errors.into_result().map(|()| filter), page)
    }

    fn params(&self) -> [(&'static str, &str); 6] {
        [
            ("from", &self.from),
            ("to", &self.to),
            ("influencer", &self.influencer),
            ("state", &self.state),
            ("attributed", &self.attributed),
            ("q", &self.q),
        ]
    }

    fn href(&self, base: &str, page: Option<i64>) -> String {
        let page = page.filter(|p| *p > 1).map(|p| p.to_string());
        let mut params = self.params().to_vec();
        params.push(("page", page.as_deref().unwrap_or("")));
        href(base, &params)
    }

    fn filtered(&self) -> bool {
        self.params().iter().any(|(_, v)| !v.trim().is_empty())
    }
}

struct OrderLine {
    id: i64,
    order_id: String,
    when: String,
    influencer: String,
    /// How it was attributed ("Coupon", "Stream link") or "Unattributed".
    signal: &'static str,
    attributed: bool,
    base: String,
    refunded: String,
    /// What is left of the commission and fee after refunds, and (when that differs) as
    /// earned, struck through.
    commission: String,
    commission_gross: String,
    fee: String,
    fee_gross: String,
    state: &'static str,
    /// What the state means.
    state_title: &'static str,
    tone: &'static str,
}

/// The filtered orders added up, one currency.
struct TotalLine {
    currency: String,
    orders: String,
    base: String,
    refunded: String,
    commission: String,
    fee: String,
    /// Commission + fee.
    both: String,
}

#[derive(Template)]
#[template(path = "merchant/orders.html")]
struct OrdersPage {
    ctx: PageCtx,
    query: OrdersQuery,
    errors: FieldErrors,
    influencers: Vec<SelectOption>,
    states: Vec<SelectOption>,
    attributions: Vec<SelectOption>,
    /// What the merchant owes the platform now (the receivable balance), per currency.
    owe_now: Vec<String>,
    rows: Vec<OrderLine>,
    totals: Vec<TotalLine>,
    pager: Option<Pager>,
    filtered: bool,
    csv_href: String,
    zone: String,
}

fn signal_label(signal: &str) -> &'static str {
    match signal {
        "coupon" => "Coupon",
        "click" => "Stream link",
        _ => "Unattributed",
    }
}

fn struck(gross: i64, net: i64, currency: &str) -> String {
    if gross == net {
        String::new()
    } else {
        show(gross, currency)
    }
}

#[get("/merchant/orders")]
async fn orders(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    query: web::Query<OrdersQuery>,
) -> AppResult<HttpResponse> {
    let query = query.into_inner();
    let (uid, tz) = (user.0.id, user.0.time_zone);
    let (filter, page) = query.parse(tz);
    let list = state
        .db(move |conn| reports::merchant_orders(conn, uid, filter, page))
        .await?;
    let base = "/merchant/orders";
    let (rows, totals, pager_view, errors) = match &list.listing {
        Ok(l) => (
            l.rows
                .iter()
                .map(|r| {
                    let c = &r.conversion;
                    let cur = c.currency.as_str();
                    let (commission, fee) = r.net();
                    OrderLine {
                        id: c.id,
                        order_id: c.order_id.clone(),
                        when: fmt_datetime(c.occurred_at, tz),
                        influencer: r.influencer.clone().unwrap_or_default(),
                        signal: signal_label(&c.signal),
                        attributed: c.signal != "none",
                        base: show(c.base_minor, cur),
                        refunded: if r.refunded_minor == 0 {
                            String::new()
                        } else {
                            show(r.refunded_minor, cur)
                        },
                        commission: r
                            .commission
                            .as_ref()
                            .map(|_| show(commission, cur))
                            .unwrap_or_default(),
                        commission_gross: r
                            .commission
                            .as_ref()
                            .map(|k| struck(k.amount_minor, commission, cur))
                            .unwrap_or_default(),
                        fee: r
                            .commission
                            .as_ref()
                            .map(|_| show(fee, cur))
                            .unwrap_or_default(),
                        fee_gross: r
                            .commission
                            .as_ref()
                            .map(|k| struck(k.fee_minor, fee, cur))
                            .unwrap_or_default(),
                        state: r
                            .commission
                            .as_ref()
                            .map_or("No commission", |k| state_short(&k.state)),
                        state_title: r.commission.as_ref().map_or(
                            if c.signal == "none" {
                                "Nobody is credited with this order"
                            } else {
                                "None of its products earn commission in the campaign"
                            },
                            |k| state_label(&k.state),
                        ),
                        tone: r
                            .commission
                            .as_ref()
                            .map_or("badge-muted", |k| state_tone(&k.state)),
                    }
                })
                .collect(),
            l.totals
                .iter()
                .map(|t| {
                    let cur = t.currency.as_str();
                    TotalLine {
                        currency: t.currency.clone(),
                        orders: pages::count(
                            usize::try_from(t.orders).unwrap_or(0),
                            "order",
                            "orders",
                        ),
                        base: show(t.base_minor, cur),
                        refunded: show(t.refunded_minor, cur),
                        commission: show(t.commission_minor, cur),
                        fee: show(t.fee_minor, cur),
                        both: show(t.commission_minor + t.fee_minor, cur),
                    }
                })
                .collect(),
            Some(pager(&l.paging, "order", "orders", &|p| {
                query.href(base, Some(p))
            })),
            FieldErrors::new(),
        ),
        Err(e) => (Vec::new(), Vec::new(), None, e.clone()),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = OrdersPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Orders", "orders"),
        influencers: std::iter::once(SelectOption {
            value: String::new(),
            label: "All influencers".into(),
            selected: query.influencer.trim().is_empty(),
        })
        .chain(list.influencers.iter().map(|(id, handle)| SelectOption {
            value: id.to_string(),
            label: format!("@{handle}"),
            selected: query.influencer.trim() == id.to_string(),
        }))
        .collect(),
        states: {
            let mut o = options(STATES, "Any state", query.state.trim());
            o.push(SelectOption {
                value: "none".into(),
                label: "No commission".into(),
                selected: query.state.trim() == "none",
            });
            o
        },
        attributions: options(
            &[("yes", "Attributed"), ("no", "Unattributed")],
            "All orders",
            query.attributed.trim(),
        ),
        owe_now: list.owe_now.iter().map(|(c, v)| show(*v, c)).collect(),
        rows,
        totals,
        pager: pager_view,
        filtered: query.filtered(),
        csv_href: query.href("/merchant/orders.csv", None),
        zone: tz.name().replace('_', " "),
        errors,
        query,
    };
    pages::render(&page, status)
}

/// The first message of a filter that cannot be read, as a 400.
fn bad_filter(e: &FieldErrors) -> AppError {
    AppError::BadRequest(
        e.iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// An instant for a CSV: in the reader's zone with its offset (unambiguous and
/// machine-readable).
fn csv_time(t: NaiveDateTime, tz: Tz) -> String {
    t.and_utc()
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S%:z")
        .to_string()
}

#[get("/merchant/orders.csv")]
async fn orders_csv(
    state: web::Data<AppState>,
    user: MerchantUser,
    query: web::Query<OrdersQuery>,
) -> AppResult<HttpResponse> {
    let (uid, tz) = (user.0.id, user.0.time_zone);
    let (filter, _) = query.parse(tz);
    let rows = state
        .db(move |conn| reports::merchant_orders_all(conn, uid, filter))
        .await?
        .map_err(|e| bad_filter(&e))?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| AppError::Internal(e.into());
    w.write_record([
        "order_id",
        "occurred_at",
        "currency",
        "amount",
        "refunded",
        "attribution",
        "influencer",
        "commission_state",
        "commission_as_earned",
        "platform_fee_as_earned",
        "commission",
        "platform_fee",
        "commission_and_fee",
        "attribution_note",
    ])
    .map_err(io)?;
    for r in &rows {
        let c = &r.conversion;
        let cur = c.currency.as_str();
        let (commission, fee) = r.net();
        let (state, earned, fee_earned, net, fee_net, both) = match &r.commission {
            Some(k) => (
                k.state.clone(),
                plain(k.amount_minor, cur),
                plain(k.fee_minor, cur),
                plain(commission, cur),
                plain(fee, cur),
                plain(commission + fee, cur),
            ),
            None => Default::default(),
        };
        w.write_record([
            cell(&c.order_id),
            csv_time(c.occurred_at, tz),
            c.currency.clone(),
            plain(c.base_minor, cur),
            plain(r.refunded_minor, cur),
            c.signal.clone(),
            r.influencer.clone().unwrap_or_default(),
            state,
            earned,
            fee_earned,
            net,
            fee_net,
            both,
            cell(&c.attribution_note),
        ])
        .map_err(io)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))?;
    Ok(pages::csv_download(bytes, "tandem-orders.csv"))
}

// ---------- the influencer's earnings ----------

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EarningsQuery {
    from: String,
    to: String,
    merchant: String,
    campaign: String,
    state: String,
    sort: String,
    page: String,
}

const SORTS: &[(&str, &str)] = &[
    ("oldest", "Oldest first"),
    ("largest", "Largest first"),
    ("smallest", "Smallest first"),
];

impl EarningsQuery {
    fn parse(&self, tz: Tz) -> (Result<EarningFilter, FieldErrors>, EarningSort, i64) {
        let mut errors = FieldErrors::new();
        let (from, until) = parse_days(&self.from, &self.to, tz, &mut errors);
        let merchant_id = parse_choice(
            &self.merchant,
            "merchant",
            "Choose a merchant from the list.",
            &mut errors,
        );
        let campaign_id = parse_choice(
            &self.campaign,
            "campaign",
            "Choose a campaign from the list.",
            &mut errors,
        );
        let state = match self.state.trim() {
            "" => None,
            s if STATES.iter().any(|(v, _)| *v == s) => Some(s.to_owned()),
            _ => {
                errors.add("state", "Choose a state from the list.");
                None
            }
        };
        let sort = match self.sort.trim() {
            "" | "newest" => EarningSort::Newest,
            "oldest" => EarningSort::Oldest,
            "largest" => EarningSort::Largest,
            "smallest" => EarningSort::Smallest,
            _ => {
                errors.add("sort", "Choose an order from the list.");
                EarningSort::Newest
            }
        };
        let page = parse_page(&self.page, &mut errors);
        let filter = EarningFilter {
            influencer_id: 0,
            merchant_id,
            campaign_id,
            state,
            from,
            until,
        };
        (errors.into_result().map(|()| filter), sort, page)
    }

    fn params(&self) -> [(&'static str, &str); 5] {
        [
            ("from", &self.from),
            ("to", &self.to),
            ("merchant", &self.merchant),
            ("campaign", &self.campaign),
            ("state", &self.state),
        ]
    }

    fn href(&self, base: &str, sort: Option<&str>, page: Option<i64>) -> String {
        let page = page.filter(|p| *p > 1).map(|p| p.to_string());
        let mut params = self.params().to_vec();
        let sort = sort.unwrap_or(&self.sort);
        params.push(("sort", if sort == "newest" { "" } else { sort }));
        params.push(("page", page.as_deref().unwrap_or("")));
        href(base, &params)
    }

    fn filtered(&self) -> bool {
        self.params().iter().any(|(_, v)| !v.trim().is_empty())
    }
}

struct Balance {
    currency: String,
    pending: String,
    available: String,
    in_payout: String,
    paid: String,
    negative: bool,
    /// Why the latest payout run left this balance out.
    why_not: Option<String>,
}

struct EarningLine {
    order_id: String,
    when: String,
    merchant: String,
    campaign: String,
    /// What is left for the influencer, and (when refunds or a rejection changed it) the
    /// commission as earned, struck through.
    net: String,
    gross: String,
    state: &'static str,
    state_title: &'static str,
    tone: &'static str,
    available: String,
    explanation: String,
    refunds: Vec<String>,
}

struct EarningTotalLine {
    currency: String,
    count: String,
    net: String,
    earned: String,
}

/// A column header that sorts: its link and arrow.
struct SortHead {
    href: String,
    arrow: &'static str,
}

#[derive(Template)]
#[template(path = "influencer/earnings.html")]
struct EarningsPage {
    ctx: PageCtx,
    query: EarningsQuery,
    errors: FieldErrors,
    balances: Vec<Balance>,
    merchants: Vec<SelectOption>,
    campaigns: Vec<SelectOption>,
    states: Vec<SelectOption>,
    sorts: Vec<SelectOption>,
    date_head: SortHead,
    amount_head: SortHead,
    rows: Vec<EarningLine>,
    totals: Vec<EarningTotalLine>,
    pager: Option<Pager>,
    filtered: bool,
    /// Whether the influencer earned anything yet (else the page explains how to).
    any: bool,
    csv_href: String,
    zone: String,
}

fn refund_note(f: &crate::db::models::Refund, currency: &str, tz: Tz) -> String {
    format!(
        "{}: refund of {} on {} took back {}{}",
        f.refund_id,
        show(f.amount_minor, currency),
        fmt_date(f.occurred_at, tz),
        show(f.commission_minor, currency),
        if f.effect == "clawback" {
            " (clawed back from later earnings: it was already paid)"
        } else {
            ""
        }
    )
}

#[get("/influencer/earnings")]
async fn earnings(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    query: web::Query<EarningsQuery>,
) -> AppResult<HttpResponse> {
    let query = query.into_inner();
    let (uid, tz) = (user.0.id, user.0.time_zone);
    let (filter, sort, page) = query.parse(tz);
    let (list, why_not) = state
        .db(move |conn| {
            let list = reports::influencer_earnings(conn, uid, filter, sort, page)?;
            let me = crate::service::influencer::profile_of(conn, uid)?;
            let why = crate::service::payouts::why_not_paid(conn, me.id)?;
            Ok((list, why))
        })
        .await?;
    let balances = &list.balances;
    let mut currencies: Vec<String> = balances.keys().map(|(_, c)| c.clone()).collect();
    currencies.sort();
    currencies.dedup();
    let get = |k: AccountKind, c: &str| balances.get(&(k, c.to_owned())).copied().unwrap_or(0);
    let base = "/influencer/earnings";
    let (rows, totals, pager_view, errors) = match &list.listing {
        Ok(l) => (
            l.rows
                .iter()
                .map(|(r, refunds)| {
                    let k = &r.commission;
                    let cur = k.currency.as_str();
                    let net = r.net_minor();
                    EarningLine {
                        order_id: r.order_id.clone(),
                        when: fmt_datetime(r.occurred_at, tz),
                        merchant: r.merchant.clone(),
                        campaign: r.campaign.clone(),
                        net: show(net, cur),
                        gross: struck(k.amount_minor, net, cur),
                        state: state_short(&k.state),
                        state_title: state_label(&k.state),
                        tone: state_tone(&k.state),
                        available: match k.state.as_str() {
                            "pending" => format!("from {}", fmt_date(k.available_at, tz)),
                            "frozen" => k.frozen_reason.clone().unwrap_or_default(),
                            _ => String::new(),
                        },
                        explanation: pages::localize(&k.explanation, tz),
                        refunds: refunds
                            .iter()
                            .filter(|f| f.commission_minor != 0)
                            .map(|f| refund_note(f, cur, tz))
                            .collect(),
                    }
                })
                .collect(),
            l.totals
                .iter()
                .map(|t| EarningTotalLine {
                    currency: t.currency.clone(),
                    count: pages::count(
                        usize::try_from(t.commissions).unwrap_or(0),
                        "commission",
                        "commissions",
                    ),
                    net: show(t.net_minor, &t.currency),
                    earned: struck(t.earned_minor, t.net_minor, &t.currency),
                })
                .collect(),
            Some(pager(&l.paging, "commission", "commissions", &|p| {
                query.href(base, None, Some(p))
            })),
            FieldErrors::new(),
        ),
        Err(e) => (Vec::new(), Vec::new(), None, e.clone()),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let current = match sort {
        EarningSort::Newest => "newest",
        EarningSort::Oldest => "oldest",
        EarningSort::Largest => "largest",
        EarningSort::Smallest => "smallest",
    };
    let head = |desc: &'static str, asc: &'static str| SortHead {
        href: query.href(base, Some(if current == desc { asc } else { desc }), None),
        arrow: if current == desc {
            " ↓"
        } else if current == asc {
            " ↑"
        } else {
            ""
        },
    };
    let mut merchants: Vec<(i64, String)> = list
        .campaigns
        .iter()
        .map(|c| (c.merchant_id, c.merchant.clone()))
        .collect();
    merchants.dedup();
    let page = EarningsPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Earnings", "earnings"),
        balances: currencies
            .iter()
            .map(|c| Balance {
                currency: c.clone(),
                pending: show(get(AccountKind::Pending, c), c),
                available: show(get(AccountKind::Available, c), c),
                in_payout: show(get(AccountKind::InPayout, c), c),
                paid: show(get(AccountKind::Paid, c), c),
                negative: get(AccountKind::Available, c) < 0,
                why_not: why_not
                    .iter()
                    .find(|n| &n.currency == c)
                    .map(|n| n.sentence(&pages::fmt_datetime(n.at, tz))),
            })
            .collect(),
        merchants: std::iter::once(SelectOption {
            value: String::new(),
            label: "All merchants".into(),
            selected: query.merchant.trim().is_empty(),
        })
        .chain(merchants.iter().map(|(id, name)| SelectOption {
            value: id.to_string(),
            label: name.clone(),
            selected: query.merchant.trim() == id.to_string(),
        }))
        .collect(),
        campaigns: std::iter::once(SelectOption {
            value: String::new(),
            label: "All campaigns".into(),
            selected: query.campaign.trim().is_empty(),
        })
        .chain(list.campaigns.iter().map(|c| SelectOption {
            value: c.id.to_string(),
            label: format!("{} ({})", c.name, c.merchant),
            selected: query.campaign.trim() == c.id.to_string(),
        }))
        .collect(),
        states: options(STATES, "Any state", query.state.trim()),
        sorts: options(SORTS, "Newest first", query.sort.trim()),
        date_head: head("newest", "oldest"),
        amount_head: head("largest", "smallest"),
        any: !currencies.is_empty(),
        rows,
        totals,
        pager: pager_view,
        filtered: query.filtered(),
        csv_href: query.href("/influencer/earnings.csv", None, None),
        zone: tz.name().replace('_', " "),
        errors,
        query,
    };
    pages::render(&page, status)
}

#[get("/influencer/earnings.csv")]
async fn earnings_csv(
    state: web::Data<AppState>,
    user: InfluencerUser,
    query: web::Query<EarningsQuery>,
) -> AppResult<HttpResponse> {
    let (uid, tz) = (user.0.id, user.0.time_zone);
    let (filter, sort, _) = query.parse(tz);
    let rows = state
        .db(move |conn| reports::influencer_earnings_all(conn, uid, filter, sort))
        .await?
        .map_err(|e| bad_filter(&e))?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| AppError::Internal(e.into());
    w.write_record([
        "order_id",
        "order_date",
        "merchant",
        "campaign",
        "currency",
        "commission_as_earned",
        "taken_back_by_refunds",
        "commission",
        "state",
        "available_from",
    ])
    .map_err(io)?;
    for r in &rows {
        let k = &r.commission;
        let cur = k.currency.as_str();
        w.write_record([
            cell(&r.order_id),
            csv_time(r.occurred_at, tz),
            cell(&r.merchant),
            cell(&r.campaign),
            k.currency.clone(),
            plain(k.amount_minor, cur),
            plain(r.taken_minor, cur),
            plain(r.net_minor(), cur),
            k.state.clone(),
            csv_time(k.available_at, tz),
        ])
        .map_err(io)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))?;
    Ok(pages::csv_download(bytes, "tandem-earnings.csv"))
}
