//! The merchant's Orders list and the influencer's Earnings list: filtered, paged and
//! totalled in SQL (a page of rows at a time; totals over every filtered row), the same on
//! both backends. The order is stable: newest first, then the highest id.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::DbConn;
use super::models::{CommissionRow, Conversion};
use std::collections::BTreeMap;

use super::schema::{
    campaigns, collaborations, commissions, conversions, influencers, merchants, refunds,
};
use super::users::like_pattern;

/// What refunds of the order (`conversions` in the query) add up to in `column`.
fn refunds_sum(column: &str) -> String {
    format!(
        "COALESCE((SELECT SUM(r.{column}) FROM refunds r WHERE r.conversion_id = conversions.id), 0)"
    )
}

/// SQL for the commission left on an order after refunds (nothing once rejected, nothing
/// without a commission): the figure the lists show and add up.
fn commission_net() -> String {
    format!(
        "CASE WHEN commissions.conversion_id IS NULL OR commissions.state = 'rejected' THEN 0 \
         ELSE commissions.amount_minor - {} END",
        refunds_sum("commission_minor")
    )
}

fn big(expr: &str) -> String {
    format!("CAST({expr} AS BIGINT)")
}

fn total(expr: &str) -> String {
    format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)")
}

/// What a commission becomes after refunds and a rejection: (commission, fee) left.
pub fn net_of(commission: Option<&CommissionRow>, taken: i64, fee_taken: i64) -> (i64, i64) {
    match commission {
        Some(c) if c.state != "rejected" => (c.amount_minor - taken, c.fee_minor - fee_taken),
        _ => (0, 0),
    }
}

/// Which orders by their commission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommissionFilter {
    /// Orders that earned no commission (unattributed, or attributed outside a live campaign).
    None,
    /// Orders whose commission is in this state.
    State(String),
}

/// What a merchant's orders are filtered by; `None` lets every order through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub merchant_id: i64,
    /// Placed at or after this instant (UTC).
    pub from: Option<NaiveDateTime>,
    /// Placed before this instant (UTC).
    pub until: Option<NaiveDateTime>,
    pub influencer_id: Option<i64>,
    /// Attributed (by coupon or click) or not.
    pub attributed: Option<bool>,
    pub commission: Option<CommissionFilter>,
    /// Lower-cased text found in an id the order is known by, its coupon code, or a line's
    /// SKU or product title.
    pub text: Option<String>,
    /// Only the orders listed after this one (placed at, id), newest first: what a reader
    /// going through all of them reads next.
    pub after: Option<(NaiveDateTime, i64)>,
}

impl OrderFilter {
    /// Whether it lets every order of the merchant through.
    pub fn is_everything(&self) -> bool {
        *self
            == OrderFilter {
                merchant_id: self.merchant_id,
                ..OrderFilter::default()
            }
    }
}

/// `q` (a boxed query over `conversions LEFT JOIN commissions`) with the filter's
/// conditions. A macro: the same conditions go on the page's query and on the totals'
/// grouped one, whose types differ.
macro_rules! filter_orders {
    ($q:expr, $f:expr) => {{
        let f: &OrderFilter = $f;
        let mut q = $q.filter(conversions::merchant_id.eq(f.merchant_id));
        if let Some(from) = f.from {
            q = q.filter(conversions::occurred_at.ge(from));
        }
        if let Some(until) = f.until {
            q = q.filter(conversions::occurred_at.lt(until));
        }
        if let Some(id) = f.influencer_id {
            q = q.filter(conversions::influencer_id.eq(id));
        }
        // A row value, so that both databases read on from that place in the index.
        if let Some((at, id)) = f.after {
            q = q.filter(
                sql::<Bool>("(conversions.occurred_at, conversions.id) < (")
                    .bind::<diesel::sql_types::Timestamp, _>(at)
                    .sql(", ")
                    .bind::<BigInt, _>(id)
                    .sql(")"),
            );
        }
        match f.attributed {
            Some(true) => q = q.filter(conversions::signal.ne("none")),
            Some(false) => q = q.filter(conversions::signal.eq("none")),
            None => {}
        }
        match &f.commission {
            Some(CommissionFilter::None) => {
                q = q.filter(commissions::conversion_id.nullable().is_null())
            }
            Some(CommissionFilter::State(s)) => q = q.filter(commissions::state.eq(s.clone())),
            None => {}
        }
        // An id the order is known by, its coupon code, or a line's SKU or product title
        // contains the text.
        if let Some(text) = &f.text {
            q = q.filter({
                let p = like_pattern(text);
                sql::<Bool>("(LOWER(conversions.order_id) LIKE ")
                    .bind::<Text, _>(p.clone())
                    .sql(" ESCAPE '\\' OR LOWER(COALESCE(conversions.coupon_code, '')) LIKE ")
                    .bind::<Text, _>(p.clone())
                    .sql(
                        " ESCAPE '\\' OR EXISTS (SELECT 1 FROM order_ids a \
                         WHERE a.conversion_id = conversions.id AND LOWER(a.alias) LIKE ",
                    )
                    .bind::<Text, _>(p.clone())
                    .sql(
                        " ESCAPE '\\') OR EXISTS (SELECT 1 FROM conversion_lines l \
                         LEFT JOIN products p ON p.id = l.product_id \
                         WHERE l.conversion_id = conversions.id AND (LOWER(l.sku) LIKE ",
                    )
                    .bind::<Text, _>(p.clone())
                    .sql(" ESCAPE '\\' OR LOWER(COALESCE(p.title, '')) LIKE ")
                    .bind::<Text, _>(p)
                    .sql(" ESCAPE '\\')))")
            });
        }
        q
    }};
}

/// One order of the list, with what its refunds took back.
#[derive(Debug, Clone)]
pub struct OrderListRow {
    pub conversion: Conversion,
    pub commission: Option<CommissionRow>,
    /// The attributed influencer's handle.
    pub influencer: Option<String>,
    /// What the order's refunds gave back to the buyer.
    pub refunded_minor: i64,
    /// Commission and platform fee that the refunds took back.
    pub refund_commission_minor: i64,
    pub refund_fee_minor: i64,
}

impl OrderListRow {
    /// The commission and fee left on the order: (commission, fee).
    pub fn net(&self) -> (i64, i64) {
        net_of(
            self.commission.as_ref(),
            self.refund_commission_minor,
            self.refund_fee_minor,
        )
    }
}

/// A page of the merchant's filtered orders: newest first, `limit` rows from `offset`.
pub fn order_page(
    conn: &mut DbConn,
    f: &OrderFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<OrderListRow>> {
    type Row = (
        Conversion,
        Option<CommissionRow>,
        Option<String>,
        i64,
        i64,
        i64,
    );
    // First the page's ids (read from indexes, cheap also far into the list), then its rows.
    let ids: Vec<i64> = filter_orders!(
        conversions::table
            .left_join(commissions::table)
            .into_boxed(),
        f
    )
    .order((conversions::occurred_at.desc(), conversions::id.desc()))
    .offset(offset)
    .limit(limit)
    .select(conversions::id)
    .load(conn)?;
    let rows: Vec<Row> = conversions::table
        .left_join(commissions::table)
        .filter(conversions::id.eq_any(&ids))
        .order((conversions::occurred_at.desc(), conversions::id.desc()))
        .select((
            Conversion::as_select(),
            Option::<CommissionRow>::as_select(),
            sql::<Nullable<Text>>(
                "(SELECT i.handle FROM influencers i WHERE i.id = conversions.influencer_id)",
            ),
            sql::<BigInt>(&big(&refunds_sum("amount_minor"))),
            sql::<BigInt>(&big(&refunds_sum("commission_minor"))),
            sql::<BigInt>(&big(&refunds_sum("fee_minor"))),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(conversion, commission, influencer, refunded, rc, rf)| OrderListRow {
                conversion,
                commission,
                influencer,
                refunded_minor: refunded,
                refund_commission_minor: rc,
                refund_fee_minor: rf,
            },
        )
        .collect())
}

/// Every filtered order added up, per currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderTotals {
    pub currency: String,
    pub orders: i64,
    /// The orders' commission base.
    pub base_minor: i64,
    pub refunded_minor: i64,
    /// Commission and platform fee left after refunds and rejections.
    pub commission_minor: i64,
    pub fee_minor: i64,
}

/// SQL: `amount` of a commission that stands (not rejected; nothing without a commission).
fn standing(amount: &str) -> String {
    total(&format!(
        "CASE WHEN commissions.conversion_id IS NULL OR commissions.state = 'rejected' THEN 0 ELSE {amount} END"
    ))
}

/// The filtered orders added up per currency (every one, not a page), by currency code. Two
/// aggregates without a subquery per order, each read from indexes: the orders with their
/// commissions as earned, and the refunds of those orders.
pub fn order_totals(conn: &mut DbConn, f: &OrderFilter) -> QueryResult<Vec<OrderTotals>> {
    let orders: Vec<(String, i64, i64, i64, i64)> = if f.is_everything() {
        // Every order: the orders and the commissions each added up on their own (each from
        // one index), no order looked up one by one.
        let counted: Vec<(String, i64, i64)> = conversions::table
            .filter(conversions::merchant_id.eq(f.merchant_id))
            .group_by(conversions::currency)
            .select((
                conversions::currency,
                sql::<BigInt>("CAST(COUNT(*) AS BIGINT)"),
                sql::<BigInt>(&total("conversions.base_minor")),
            ))
            .load(conn)?;
        let earned: BTreeMap<String, (i64, i64)> = commissions::table
            .filter(commissions::merchant_id.eq(f.merchant_id))
            .filter(commissions::state.ne("rejected"))
            .group_by(commissions::currency)
            .select((
                commissions::currency,
                sql::<BigInt>(&total("commissions.amount_minor")),
                sql::<BigInt>(&total("commissions.fee_minor")),
            ))
            .load::<(String, i64, i64)>(conn)?
            .into_iter()
            .map(|(c, amount, fee)| (c, (amount, fee)))
            .collect();
        counted
            .into_iter()
            .map(|(c, n, base)| {
                let (amount, fee) = earned.get(&c).copied().unwrap_or_default();
                (c, n, base, amount, fee)
            })
            .collect()
    } else {
        let grouped = conversions::table
            .left_join(commissions::table)
            .group_by(conversions::currency)
            .select((
                conversions::currency,
                sql::<BigInt>("CAST(COUNT(*) AS BIGINT)"),
                sql::<BigInt>(&total("conversions.base_minor")),
                sql::<BigInt>(&standing("commissions.amount_minor")),
                sql::<BigInt>(&standing("commissions.fee_minor")),
            ))
            .into_boxed();
        filter_orders!(grouped, f).load(conn)?
    };
    let grouped = refunds::table
        .inner_join(conversions::table.left_join(commissions::table))
        .group_by(conversions::currency)
        .select((
            conversions::currency,
            sql::<BigInt>(&total("refunds.amount_minor")),
            sql::<BigInt>(&standing("refunds.commission_minor")),
            sql::<BigInt>(&standing("refunds.fee_minor")),
        ))
        .into_boxed();
    // The merchant's refunds are few: they lead (the same merchant, said of the refund too).
    let refunded: BTreeMap<String, (i64, i64, i64)> = filter_orders!(grouped, f)
        .filter(refunds::merchant_id.eq(f.merchant_id))
        .load::<(String, i64, i64, i64)>(conn)?
        .into_iter()
        .map(|(c, amount, commission, fee)| (c, (amount, commission, fee)))
        .collect();
    let mut orders = orders;
    orders.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(orders
        .into_iter()
        .map(|(currency, orders, base, commission, fee)| {
            let (r_amount, r_commission, r_fee) =
                refunded.get(&currency).copied().unwrap_or_default();
            OrderTotals {
                currency,
                orders,
                base_minor: base,
                refunded_minor: r_amount,
                commission_minor: commission - r_commission,
                fee_minor: fee - r_fee,
            }
        })
        .collect())
}

/// The influencers who work (or worked) with the merchant: (id, handle), by handle.
pub fn merchant_influencers(
    conn: &mut DbConn,
    merchant_id: i64,
) -> QueryResult<Vec<(i64, String)>> {
    influencers::table
        .filter(
            influencers::id.eq_any(
                collaborations::table
                    .filter(collaborations::merchant_id.eq(merchant_id))
                    .select(collaborations::influencer_id),
            ),
        )
        .order((influencers::handle, influencers::id))
        .select((influencers::id, influencers::handle))
        .load(conn)
}

/// How an influencer's earnings are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EarningSort {
    /// By order date, newest first.
    #[default]
    Newest,
    Oldest,
    /// By what is left of the commission, largest first (per currency).
    Largest,
    Smallest,
}

/// What an influencer's earnings are filtered by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EarningFilter {
    pub influencer_id: i64,
    pub merchant_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub state: Option<String>,
    /// Orders placed at or after (UTC).
    pub from: Option<NaiveDateTime>,
    /// Orders placed before (UTC).
    pub until: Option<NaiveDateTime>,
}

/// `q` (a boxed query over `commissions JOIN conversions`) with the filter's conditions
/// (see [`filter_orders`]).
macro_rules! filter_earnings {
    ($q:expr, $f:expr) => {{
        let f: &EarningFilter = $f;
        let mut q = $q.filter(commissions::influencer_id.eq(f.influencer_id));
        if let Some(id) = f.merchant_id {
            q = q.filter(commissions::merchant_id.eq(id));
        }
        if let Some(id) = f.campaign_id {
            q = q.filter(commissions::campaign_id.eq(id));
        }
        if let Some(s) = &f.state {
            q = q.filter(commissions::state.eq(s.clone()));
        }
        if let Some(from) = f.from {
            q = q.filter(conversions::occurred_at.ge(from));
        }
        if let Some(until) = f.until {
            q = q.filter(conversions::occurred_at.lt(until));
        }
        q
    }};
}

/// One commission of the influencer's list.
#[derive(Debug, Clone)]
pub struct EarningListRow {
    pub commission: CommissionRow,
    pub order_id: String,
    /// When the order was placed.
    pub occurred_at: NaiveDateTime,
    pub campaign: String,
    pub merchant: String,
    /// What refunds of the order took back from the commission.
    pub taken_minor: i64,
}

impl EarningListRow {
    /// What is left of the commission for the influencer (nothing once rejected).
    pub fn net_minor(&self) -> i64 {
        net_of(Some(&self.commission), self.taken_minor, 0).0
    }
}

/// A page of the influencer's filtered commissions in the order asked for.
pub fn earning_page(
    conn: &mut DbConn,
    f: &EarningFilter,
    sort: EarningSort,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<EarningListRow>> {
    let q = filter_earnings!(
        commissions::table
            .inner_join(conversions::table)
            .into_boxed(),
        f
    );
    let net = commission_net();
    let q = match sort {
        EarningSort::Newest => q.order((conversions::occurred_at.desc(), conversions::id.desc())),
        EarningSort::Oldest => q.order((conversions::occurred_at.asc(), conversions::id.asc())),
        EarningSort::Largest => q.order((
            commissions::currency.asc(),
            sql::<BigInt>(&net).desc(),
            conversions::occurred_at.desc(),
            conversions::id.desc(),
        )),
        EarningSort::Smallest => q.order((
            commissions::currency.asc(),
            sql::<BigInt>(&net).asc(),
            conversions::occurred_at.desc(),
            conversions::id.desc(),
        )),
    };
    type Row = (CommissionRow, String, NaiveDateTime, String, String, i64);
    let rows: Vec<Row> = q
        .offset(offset)
        .limit(limit)
        .select((
            CommissionRow::as_select(),
            conversions::order_id,
            conversions::occurred_at,
            sql::<Text>(
                "COALESCE((SELECT c.name FROM campaigns c WHERE c.id = commissions.campaign_id), '')",
            ),
            sql::<Text>(
                "COALESCE((SELECT m.name FROM merchants m WHERE m.id = commissions.merchant_id), '')",
            ),
            sql::<BigInt>(&big(&refunds_sum("commission_minor"))),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(commission, order_id, occurred_at, campaign, merchant, taken)| EarningListRow {
                commission,
                order_id,
                occurred_at,
                campaign,
                merchant,
                taken_minor: taken,
            },
        )
        .collect())
}

/// Every filtered commission added up, per currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EarningTotals {
    pub currency: String,
    pub commissions: i64,
    /// As earned, before refunds.
    pub earned_minor: i64,
    /// What is left after refunds and rejections.
    pub net_minor: i64,
}

/// The influencer's filtered commissions added up per currency (every one, not a page).
pub fn earning_totals(conn: &mut DbConn, f: &EarningFilter) -> QueryResult<Vec<EarningTotals>> {
    let grouped = commissions::table
        .inner_join(conversions::table)
        .group_by(commissions::currency)
        .select((
            commissions::currency,
            sql::<BigInt>("CAST(COUNT(*) AS BIGINT)"),
            sql::<BigInt>(&total("commissions.amount_minor")),
            sql::<BigInt>(&total(&commission_net())),
        ))
        .order(commissions::currency)
        .into_boxed();
    let rows: Vec<(String, i64, i64, i64)> = filter_earnings!(grouped, f).load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(currency, n, earned, net)| EarningTotals {
            currency,
            commissions: n,
            earned_minor: earned,
            net_minor: net,
        })
        .collect())
}

/// A campaign an influencer can filter their earnings by.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct CampaignChoice {
    pub id: i64,
    pub name: String,
    pub merchant_id: i64,
    pub merchant: String,
}

/// The campaigns the influencer works (or worked) on, by merchant then campaign.
pub fn influencer_campaigns(
    conn: &mut DbConn,
    influencer_id: i64,
) -> QueryResult<Vec<CampaignChoice>> {
    campaigns::table
        .inner_join(merchants::table)
        .filter(
            campaigns::id.eq_any(
                collaborations::table
                    .filter(collaborations::influencer_id.eq(influencer_id))
                    .select(collaborations::campaign_id),
            ),
        )
        .order((
            merchants::name,
            merchants::id,
            campaigns::name,
            campaigns::id,
        ))
        .select((
            campaigns::id,
            campaigns::name,
            merchants::id,
            merchants::name,
        ))
        .load(conn)
}

/// The refunds of these orders, oldest first.
pub fn refunds_of_orders(
    conn: &mut DbConn,
    conversion_ids: &[i64],
) -> QueryResult<Vec<super::models::Refund>> {
    use super::schema::refunds;
    refunds::table
        .filter(refunds::conversion_id.eq_any(conversion_ids))
        .order(refunds::id.asc())
        .select(super::models::Refund::as_select())
        .load(conn)
}
