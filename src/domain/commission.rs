//! Commission arithmetic (DESIGN.md §3 "Commissions"): per-line rates with the most specific
//! rule winning, flat amounts, one rounding (half away from zero) of the exact total, a
//! largest-remainder split back onto the lines, and refunds reversed pro rata by line. Every
//! result carries the words that explain it.

use rust_decimal::Decimal;

use super::campaign::{CommissionRules, RateSource};
use super::money::{Currency, Money, allocate, round_half_away};
use super::rate::RateBps;

/// One order line as the merchant sent it, with what Tandem knows of its product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub sku: String,
    /// The product's category; `None` when the SKU is not one of the merchant's products.
    pub category: Option<String>,
    /// Whether the product is part of the attributed campaign.
    pub in_campaign: bool,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub discount_minor: i64,
}

impl OrderLine {
    /// `unit_price * quantity - discount`, or `None` on overflow.
    pub fn base_minor(&self) -> Option<i64> {
        self.unit_price_minor
            .checked_mul(self.quantity)?
            .checked_sub(self.discount_minor)
    }
}

/// What one line earned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineCommission {
    pub base_minor: i64,
    pub rate: RateBps,
    /// `None`: the product is not part of the campaign, so the line earns nothing.
    pub source: Option<RateSource>,
    /// Flat per-item amount times the quantity (0 when not in the campaign).
    pub flat_minor: i64,
    /// The exact amount before rounding, in minor units (`base * rate + flat`).
    pub exact_minor: Decimal,
    /// This line's share of the rounded total (the shares sum exactly to the total).
    pub amount_minor: i64,
}

/// A whole order's commission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commission {
    pub currency: Currency,
    pub lines: Vec<LineCommission>,
    pub flat_per_order_minor: i64,
    /// The exact sum of every line and the per-order flat amount, in minor units.
    pub exact_minor: Decimal,
    /// The exact sum rounded once, half away from zero, to the currency's minor unit.
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommissionError {
    /// A line's base is negative (its discount is larger than its price times quantity).
    NegativeBase { line: usize },
    /// The amounts are too large to compute.
    Overflow,
}

impl std::fmt::Display for CommissionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommissionError::NegativeBase { line } => write!(
                f,
                "line {}: the discount is larger than the price times the quantity",
                line + 1
            ),
            CommissionError::Overflow => f.write_str("the amounts are too large"),
        }
    }
}

const BPS: i64 = 10_000;

/// Computes the commission of an order: each line's base times its rate (the most specific
/// wins: influencer override, then SKU, then category, then the campaign default), plus flat
/// amounts, summed exactly, rounded once, then split onto the lines by largest remainder.
pub fn compute(
    rules: &CommissionRules,
    influencer_rate: Option<RateBps>,
    lines: &[OrderLine],
    currency: Currency,
) -> Result<Commission, CommissionError> {
    let mut out = Vec::with_capacity(lines.len());
    // Exact amounts in units of 1/10,000 of a minor unit: integers, so nothing is lost.
    let mut weights: Vec<i64> = Vec::with_capacity(lines.len());
    let mut eligible_bases: Vec<i64> = Vec::with_capacity(lines.len());
    for (n, line) in lines.iter().enumerate() {
        let base = line.base_minor().ok_or(CommissionError::Overflow)?;
        if base < 0 {
            return Err(CommissionError::NegativeBase { line: n });
        }
        let (rate, source, flat) = if line.in_campaign {
            let (rate, source) = rules.rate_for(
                &line.sku,
                line.category.as_deref().unwrap_or(""),
                influencer_rate,
            );
            // A line that costs nothing (free, fully discounted) earns no flat amount.
            let flat = if base > 0 {
                rules
                    .flat_per_item_minor
                    .checked_mul(line.quantity)
                    .ok_or(CommissionError::Overflow)?
            } else {
                0
            };
            (rate, Some(source), flat)
        } else {
            (RateBps::saturating(0), None, 0)
        };
        let scaled = base
            .checked_mul(i64::from(rate.bps()))
            .and_then(|v| v.checked_add(flat.checked_mul(BPS)?))
            .ok_or(CommissionError::Overflow)?;
        weights.push(scaled);
        eligible_bases.push(if line.in_campaign { base } else { 0 });
        out.push(LineCommission {
            base_minor: base,
            rate,
            source,
            flat_minor: flat,
            exact_minor: Decimal::from(scaled) / Decimal::from(BPS),
            amount_minor: 0,
        });
    }
    // An order whose campaign lines cost nothing (free, fully discounted) earns no flat
    // amount per order; otherwise it belongs to the campaign's lines in proportion to their
    // bases.
    let flat_order = if eligible_bases.iter().any(|b| *b > 0) {
        rules.flat_per_order_minor
    } else {
        0
    };
    if flat_order != 0 {
        let shares = allocate(flat_order, &eligible_bases).ok_or(CommissionError::Overflow)?;
        for (w, share) in weights.iter_mut().zip(shares) {
            *w = share
                .checked_mul(BPS)
                .and_then(|s| w.checked_add(s))
                .ok_or(CommissionError::Overflow)?;
        }
    }
    let total_scaled: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    let exact = Decimal::from_i128_with_scale(total_scaled, 4);
    let rounded = round_half_away(exact, 0);
    let amount = i64::try_from(rounded.mantissa() / 10i128.pow(rounded.scale()))
        .map_err(|_| CommissionError::Overflow)?;
    Money::from_minor(amount, currency).map_err(|_| CommissionError::Overflow)?;
    let shares = if total_scaled == 0 {
        vec![0; lines.len()]
    } else {
        allocate(amount, &weights).ok_or(CommissionError::Overflow)?
    };
    for (line, share) in out.iter_mut().zip(shares) {
        line.amount_minor = share;
    }
    Ok(Commission {
        currency,
        lines: out,
        flat_per_order_minor: flat_order,
        exact_minor: exact.normalize(),
        amount_minor: amount,
    })
}

impl Commission {
    /// The arithmetic in words, one step a line, as shown to the influencer and the merchant.
    pub fn explain(&self, skus: &[&str]) -> String {
        let c = self.currency;
        let show = |minor: i64| {
            Money::from_minor(minor, c)
                .map(|m| m.display())
                .unwrap_or_else(|_| minor.to_string())
        };
        // The exact value, with at least the currency's decimals: 67.00, 1.825.
        let show_exact = |minor: Decimal| {
            let mut major = (minor / Decimal::from(10i64.pow(c.digits()))).normalize();
            if major.scale() < c.digits() {
                major.rescale(c.digits());
            }
            crate::domain::money::display_plain(&major.to_string(), c)
        };
        let mut lines = Vec::new();
        for (n, (l, sku)) in self.lines.iter().zip(skus).enumerate() {
            match l.source {
                None => lines.push(format!(
                    "Line {} ({sku}): base {} — not part of the campaign, earns nothing",
                    n + 1,
                    show(l.base_minor)
                )),
                Some(source) => {
                    let mut s = format!(
                        "Line {} ({sku}): base {} × {} ({})",
                        n + 1,
                        show(l.base_minor),
                        l.rate.percent(),
                        source.label()
                    );
                    if l.flat_minor != 0 {
                        s.push_str(&format!(" + flat {} per item", show(l.flat_minor)));
                    }
                    s.push_str(&format!(" = {}", show_exact(l.exact_minor)));
                    lines.push(s);
                }
            }
        }
        if self.flat_per_order_minor != 0 {
            lines.push(format!(
                "Flat amount per order: {}",
                show(self.flat_per_order_minor)
            ));
        }
        lines.push(format!("Exact sum: {}", show_exact(self.exact_minor)));
        let rounded_from = self.exact_minor;
        if rounded_from == Decimal::from(self.amount_minor) {
            lines.push(format!(
                "Commission: {} (no rounding needed)",
                show(self.amount_minor)
            ));
        } else {
            lines.push(format!(
                "Commission: {} (rounded once to the {}, half away from zero)",
                show(self.amount_minor),
                if c.digits() == 0 { "unit" } else { "cent" }
            ));
        }
        lines.join("\n")
    }
}

/// The platform fee on a commission: `fee_bps` of it, rounded half away from zero.
pub fn platform_fee(commission_minor: i64, fee_bps: i32) -> i64 {
    let exact = Decimal::from(commission_minor) * Decimal::from(fee_bps) / Decimal::from(BPS);
    let r = round_half_away(exact, 0);
    i64::try_from(r.mantissa() / 10i128.pow(r.scale())).unwrap_or(0)
}

/// How much of each line's commission a refund takes back.
///
/// `line_bases` and `line_commissions` are the order's lines; `refunded_before` is what
/// earlier refunds took from each line's base, `taken_before` what they took from each line's
/// commission. The new refund `amount_minor` is spread over the lines' remaining bases by
/// largest remainder. The take-back is computed once on the whole commission: the
/// cumulative take-back is the commission times the share of the whole base refunded so
/// far, rounded half away from zero, once; this refund takes that less what earlier refunds
/// took, split over the lines by largest remainder (weighted by each line's own share, and
/// never more than a line has left). So a third of an order with three lines of 5.00 takes
/// back 5.00, not 3 × 1.67; and a full refund, in any number of parts, takes back exactly
/// the whole commission and never more.
///
/// Returns `(refund per line, commission taken back per line)`, or `None` when the amount is
/// more than what is left to refund.
pub fn refund_split(
    amount_minor: i64,
    line_bases: &[i64],
    line_commissions: &[i64],
    refunded_before: &[i64],
    taken_before: &[i64],
) -> Option<(Vec<i64>, Vec<i64>)> {
    let remaining: Vec<i64> = line_bases
        .iter()
        .zip(refunded_before)
        .map(|(b, r)| (b - r).max(0))
        .collect();
    let left: i64 = remaining.iter().sum();
    if amount_minor < 0 || amount_minor > left {
        return None;
    }
    let parts = if amount_minor == 0 {
        vec![0; line_bases.len()]
    } else {
        allocate(amount_minor, &remaining)?
    };
    let base: i64 = line_bases.iter().sum();
    let commission: i64 = line_commissions.iter().sum();
    let refunded: i64 = refunded_before.iter().sum::<i64>() + amount_minor;
    let before: i64 = taken_before.iter().sum();
    let target = if refunded >= base {
        commission
    } else {
        share(commission, refunded, base)?
    };
    let take = (target - before).max(0);
    // What each line may still give back, and its own (rounded) share as the weight.
    let caps: Vec<i64> = line_commissions
        .iter()
        .zip(taken_before)
        .map(|(c, t)| (c - t).max(0))
        .collect();
    let mut weights = Vec::with_capacity(parts.len());
    for i in 0..parts.len() {
        let own = if line_bases[i] == 0 {
            0
        } else {
            share(
                line_commissions[i],
                refunded_before[i] + parts[i],
                line_bases[i],
            )?
        };
        weights.push((own - taken_before[i]).clamp(0, caps[i]));
    }
    let taken = split_capped(take, &weights, &caps)?;
    Some((parts, taken))
}

/// `amount × part / whole`, rounded half away from zero.
fn share(amount: i64, part: i64, whole: i64) -> Option<i64> {
    let exact = Decimal::from(amount) * Decimal::from(part) / Decimal::from(whole);
    let r = round_half_away(exact, 0);
    i64::try_from(r.mantissa() / 10i128.pow(r.scale())).ok()
}

/// Splits `total` (at most the sum of `caps`) by largest remainder over `weights`, then
/// moves whatever a part has over its cap to the parts with the most room left.
fn split_capped(total: i64, weights: &[i64], caps: &[i64]) -> Option<Vec<i64>> {
    if total > caps.iter().sum::<i64>() {
        return None;
    }
    let mut parts = if weights.iter().any(|w| *w > 0) {
        allocate(total, weights)?
    } else {
        allocate(total, caps)?
    };
    let mut excess = 0;
    for (p, cap) in parts.iter_mut().zip(caps) {
        if *p > *cap {
            excess += *p - *cap;
            *p = *cap;
        }
    }
    while excess > 0 {
        let (i, room) = parts
            .iter()
            .zip(caps)
            .map(|(p, c)| c - p)
            .enumerate()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))?;
        if room <= 0 {
            return None;
        }
        let moved = room.min(excess);
        parts[i] += moved;
        excess -= moved;
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn cny() -> Currency {
        Currency::parse("CNY").unwrap()
    }

    fn rules() -> CommissionRules {
        CommissionRules {
            default_rate: RateBps::new(1000).unwrap(),
            sku_rates: BTreeMap::from([("TEA-1".to_owned(), RateBps::new(1500).unwrap())]),
            category_rates: BTreeMap::from([("ware".to_owned(), RateBps::new(1250).unwrap())]),
            flat_per_order_minor: 0,
            flat_per_item_minor: 0,
        }
    }

    fn line(sku: &str, cat: &str, qty: i64, price: i64, discount: i64) -> OrderLine {
        OrderLine {
            sku: sku.to_owned(),
            category: Some(cat.to_owned()),
            in_campaign: true,
            quantity: qty,
            unit_price_minor: price,
            discount_minor: discount,
        }
    }

    #[test]
    fn most_specific_rule_wins_and_rounding_happens_once() {
        // 12.50 % of 14.60 = 1.825 -> 1.83 (half away from zero, not to even).
        let c = compute(&rules(), None, &[line("CUP-1", "ware", 1, 1460, 0)], cny()).unwrap();
        assert_eq!(c.amount_minor, 183);
        assert_eq!(c.exact_minor, Decimal::new(1825, 1));
        // SKU beats category beats default; the influencer's own rate beats all.
        let lines = [
            line("TEA-1", "tea", 2, 12800, 600),
            line("CUP-1", "ware", 1, 3000, 0),
            line("X", "other", 1, 1000, 0),
        ];
        let c = compute(&rules(), None, &lines, cny()).unwrap();
        let sources: Vec<_> = c.lines.iter().map(|l| l.source).collect();
        assert_eq!(
            sources,
            vec![
                Some(RateSource::Sku),
                Some(RateSource::Category),
                Some(RateSource::Default)
            ]
        );
        // 25000 * 15 % = 3750; 3000 * 12.5 % = 375; 1000 * 10 % = 100.
        assert_eq!(c.amount_minor, 4225);
        let c = compute(&rules(), Some(RateBps::new(2000).unwrap()), &lines, cny()).unwrap();
        assert!(
            c.lines
                .iter()
                .all(|l| l.source == Some(RateSource::Influencer))
        );
        assert_eq!(c.amount_minor, 5800);
    }

    #[test]
    fn lines_outside_the_campaign_earn_nothing_and_flats_apply() {
        let mut r = rules();
        r.flat_per_order_minor = 500;
        r.flat_per_item_minor = 100;
        let mut outside = line("OTHER", "x", 3, 1000, 0);
        outside.in_campaign = false;
        let c = compute(
            &r,
            None,
            &[line("TEA-1", "tea", 2, 1000, 0), outside],
            cny(),
        )
        .unwrap();
        // 2000 * 15 % = 300, + 2 items * 1.00 = 200, + 5.00 per order.
        assert_eq!(c.amount_minor, 1000);
        assert_eq!(c.lines[1].amount_minor, 0);
        assert_eq!(c.lines[1].source, None);
        let text = c.explain(&["TEA-1", "OTHER"]);
        assert!(text.contains("not part of the campaign"), "{text}");
        assert!(text.contains("Flat amount per order"), "{text}");
    }

    #[test]
    fn an_order_that_costs_nothing_earns_no_flat_amount() {
        let mut r = rules();
        r.flat_per_order_minor = 500;
        r.flat_per_item_minor = 100;
        // Free, fully discounted: no flat per order, none per item.
        for l in [
            line("TEA-1", "tea", 2, 0, 0),
            line("TEA-1", "tea", 2, 1000, 2000),
        ] {
            let c = compute(&r, None, &[l], cny()).unwrap();
            assert_eq!(c.amount_minor, 0);
            assert!(!c.explain(&["TEA-1"]).contains("Flat amount per order"));
        }
        // A free gift beside a paid line: the flats go to the paid line only.
        let c = compute(
            &r,
            None,
            &[
                line("TEA-1", "tea", 1, 1000, 0),
                line("GIFT", "tea", 3, 0, 0),
            ],
            cny(),
        )
        .unwrap();
        // 1000 * 15 % = 150, + 1 item * 1.00, + 5.00 per order.
        assert_eq!(c.amount_minor, 750);
        assert_eq!(c.lines[1].amount_minor, 0);
    }

    #[test]
    fn bad_lines_are_refused() {
        assert_eq!(
            compute(&rules(), None, &[line("A", "a", 1, 100, 200)], cny()),
            Err(CommissionError::NegativeBase { line: 0 })
        );
        assert_eq!(
            compute(&rules(), None, &[line("A", "a", i64::MAX, 100, 0)], cny()),
            Err(CommissionError::Overflow)
        );
    }

    #[test]
    fn explanation_shows_each_step() {
        let c = compute(&rules(), None, &[line("CUP-1", "ware", 1, 1460, 0)], cny()).unwrap();
        let text = c.explain(&["CUP-1"]);
        assert!(text.contains("12.5%"), "{text}");
        assert!(text.contains("= ¥1.825"), "{text}");
        assert!(text.contains("rounded once"), "{text}");
    }

    #[test]
    fn fees_round_half_away() {
        assert_eq!(platform_fee(183, 500), 9); // 9.15
        assert_eq!(platform_fee(190, 500), 10); // 9.5 -> 10
        assert_eq!(platform_fee(1000, 0), 0);
    }

    #[test]
    fn refunds_in_parts_take_back_exactly_the_commission() {
        let bases = [25000, 3000];
        let comm = [3750, 375];
        let (p1, t1) = refund_split(10000, &bases, &comm, &[0, 0], &[0, 0]).unwrap();
        assert_eq!(p1.iter().sum::<i64>(), 10000);
        let (_, t2) = refund_split(18000, &bases, &comm, &p1, &t1).unwrap();
        let total_taken: i64 = t1.iter().chain(&t2).sum();
        assert_eq!(total_taken, 4125, "a full refund takes back everything");
        assert!(refund_split(1, &bases, &comm, &[25000, 3000], &[3750, 375]).is_none());
    }

    #[test]
    fn a_refund_takes_back_once_rounded_on_the_whole_commission() {
        // Three lines of 5.00 commission; a third of the order comes back: 5.00, not 5.01.
        let bases = [3000, 3000, 3000];
        let comm = [500, 500, 500];
        let (parts, taken) = refund_split(3000, &bases, &comm, &[0; 3], &[0; 3]).unwrap();
        assert_eq!(parts.iter().sum::<i64>(), 3000);
        assert_eq!(taken.iter().sum::<i64>(), 500, "{taken:?}");
        // Two lines of 1.25 (2.50 in all), half refunded twice over: 1.25 each time.
        let (p1, t1) = refund_split(1000, &[1000, 1000], &[125, 125], &[0, 0], &[0, 0]).unwrap();
        assert_eq!(t1.iter().sum::<i64>(), 125, "{t1:?}");
        let (_, t2) = refund_split(1000, &[1000, 1000], &[125, 125], &p1, &t1).unwrap();
        assert_eq!(t2.iter().sum::<i64>(), 125, "{t2:?}");
    }

    proptest! {
        #[test]
        fn shares_sum_to_the_rounded_total(
            lines in prop::collection::vec((1i64..50, 0i64..1_000_000, 0i64..1000, any::<bool>(), 0usize..3), 1..8),
            flat_order in 0i64..5000,
            flat_item in 0i64..500,
            override_rate in prop::option::of(0i32..=10_000),
        ) {
            let mut r = rules();
            r.flat_per_order_minor = flat_order;
            r.flat_per_item_minor = flat_item;
            let cats = ["tea", "ware", "other"];
            let order: Vec<OrderLine> = lines.iter().enumerate().map(|(n, (q, p, d, inc, cat))| {
                let mut l = line(&format!("S{n}"), cats[*cat], *q, *p, (*d).min(q * p));
                l.in_campaign = *inc;
                l
            }).collect();
            let c = compute(&r, override_rate.map(RateBps::saturating), &order, cny()).unwrap();
            prop_assert_eq!(c.lines.iter().map(|l| l.amount_minor).sum::<i64>(), c.amount_minor);
            // Rounded once: within half a minor unit of the exact sum.
            prop_assert!((Decimal::from(c.amount_minor) - c.exact_minor).abs() <= Decimal::new(5, 1));
            prop_assert!(c.lines.iter().all(|l| l.amount_minor >= 0));
        }

        #[test]
        fn refunds_never_take_back_more_than_was_earned(
            bases in prop::collection::vec(0i64..100_000, 1..6),
            rate in 0i64..=10_000,
            cuts in prop::collection::vec(1i64..100, 1..6),
        ) {
            let comm: Vec<i64> = bases.iter().map(|b| b * rate / 10_000).collect();
            let total: i64 = bases.iter().sum();
            let mut refunded = vec![0; bases.len()];
            let mut taken = vec![0; bases.len()];
            let mut left = total;
            for cut in cuts {
                let amount = (left * cut / 100).max(if left > 0 { 1 } else { 0 });
                let (parts, take) = refund_split(amount, &bases, &comm, &refunded, &taken).unwrap();
                prop_assert_eq!(parts.iter().sum::<i64>(), amount);
                for i in 0..bases.len() {
                    refunded[i] += parts[i];
                    taken[i] += take[i];
                    prop_assert!(refunded[i] <= bases[i]);
                    prop_assert!(taken[i] <= comm[i] && taken[i] >= 0);
                }
                left -= amount;
            }
            // Refund the rest: everything comes back, exactly.
            let (_, take) = refund_split(left, &bases, &comm, &refunded, &taken).unwrap();
            let all: i64 = taken.iter().sum::<i64>() + take.iter().sum::<i64>();
            prop_assert_eq!(all, comm.iter().sum::<i64>());
        }

        #[test]
        fn each_take_back_is_the_whole_commission_rounded_once(
            bases in prop::collection::vec(1i64..100_000, 1..6),
            rate in 0i64..=10_000,
            cuts in prop::collection::vec(1i64..100, 1..6),
        ) {
            let comm: Vec<i64> = bases.iter().map(|b| b * rate / 10_000).collect();
            let total: i64 = bases.iter().sum();
            let whole: i64 = comm.iter().sum();
            let mut refunded = vec![0; bases.len()];
            let mut taken = vec![0; bases.len()];
            for cut in cuts {
                let left = total - refunded.iter().sum::<i64>();
                let amount = (left * cut / 100).max(i64::from(left > 0));
                let (parts, take) = refund_split(amount, &bases, &comm, &refunded, &taken).unwrap();
                for i in 0..bases.len() {
                    refunded[i] += parts[i];
                    taken[i] += take[i];
                }
                let cumulative: i64 = taken.iter().sum();
                let expected = share(whole, refunded.iter().sum(), total).unwrap();
                prop_assert_eq!(cumulative, expected);
            }
        }
    }
}
