//! Matching a campaign with an influencer: a score from 0 to 100 with the reasons behind it.
//!
//! Weights (they sum to 100):
//!
//! | part | points | full marks when |
//! |---|---|---|
//! | category | 35 | every campaign category is one of the influencer's |
//! | audience region | 20 | the audience is in a target region (or the campaign targets anywhere) |
//! | follower fit | 20 | followers reach the campaign minimum; without a minimum, 1M+ followers |
//! | engagement | 15 | engagement rate of 8 % or more |
//! | past performance | 10 | conversion rate of 3 % or more in the category (orders by coupon alone: full); no history counts half |
//!
//! Each part is computed in integer arithmetic and rounded half up, so the score is exact and
//! deterministic. Past performance is an optional input: callers that have no history pass
//! `None`, and callers that do pass it without anything else changing.

use super::catalog::{category_label, compact_count, compact_count_of};
use super::rate::show_bps;

pub const W_CATEGORY: i64 = 35;
pub const W_REGION: i64 = 20;
pub const W_FOLLOWERS: i64 = 20;
pub const W_ENGAGEMENT: i64 = 15;
pub const W_PERFORMANCE: i64 = 10;
/// Engagement (basis points) that earns full marks.
pub const FULL_ENGAGEMENT_BPS: i64 = 800;
/// Conversion rate (basis points) that earns full marks.
pub const FULL_CONVERSION_BPS: i64 = 300;

/// What matching needs to know about a campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignFit {
    pub categories: Vec<String>,
    /// Country codes; empty means anywhere.
    pub target_regions: Vec<String>,
    pub min_followers: Option<i64>,
}

/// What matching needs to know about an influencer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfluencerFit {
    pub categories: Vec<String>,
    pub regions: Vec<String>,
    pub followers: i64,
    pub engagement_bps: i64,
}

/// Past performance of the influencer in the campaign's category (DESIGN.md §3 "Metrics").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Performance {
    /// Attributed orders (after a click or by coupon code).
    pub orders: i64,
    /// Of those, orders by coupon code with no click (not click conversions).
    pub coupon_orders: i64,
    /// Non-bot clicks.
    pub clicks: i64,
    /// Unique clicks: what conversion divides by.
    pub unique_clicks: i64,
    /// Orders after a click per unique click, in basis points; `None` without unique clicks
    /// (coupon sales only).
    pub conversion_bps: Option<i64>,
    /// What orders after a click earned per 100 clicks, formatted with its currency (e.g.
    /// `¥3.10`); `None` without clicks or such earnings.
    pub epc_display: Option<String>,
}

impl Performance {
    /// The performance part's share, as (numerator, denominator) of [`FULL_CONVERSION_BPS`].
    fn share(&self) -> (i64, i64) {
        match self.conversion_bps {
            Some(c) => (c, FULL_CONVERSION_BPS),
            // Sales without a click to measure them against (coupons): proven, full marks.
            None if self.orders > 0 => (1, 1),
            None => (1, 2),
        }
    }
}

/// How a reason reads for the pair: what fits comes first, what does not comes last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tone {
    /// Sales in the category: the strongest sign of a fit, so it leads.
    Proven,
    Fits,
    Neutral,
    Misses,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchScore {
    pub score: u8,
    pub reasons: Vec<String>,
}

impl MatchScore {
    pub fn summary(&self) -> String {
        self.reasons.join(", ")
    }
}

/// `round(weight * num / den)`, half up, with `num` clamped to `0..=den`.
fn part(weight: i64, num: i64, den: i64) -> i64 {
    if den <= 0 {
        return weight;
    }
    let num = num.clamp(0, den);
    (2 * weight * num + den) / (2 * den)
}

fn region_list(regions: &[String]) -> String {
    regions.join(", ")
}

/// Share of the follower part earned, as (numerator, denominator).
fn follower_fit(followers: i64, min: Option<i64>) -> (i64, i64) {
    match min {
        Some(m) if m > 0 => (followers.min(m), m),
        _ => {
            // Without a minimum, a tier ladder: 1K, 10K, 100K, 1M followers.
            let tier = match followers {
                f if f >= 1_000_000 => 4,
                f if f >= 100_000 => 3,
                f if f >= 10_000 => 2,
                f if f >= 1_000 => 1,
                _ => 0,
            };
            (tier, 4)
        }
    }
}

/// The score alone, from what it depends on: how many of the campaign's categories the
/// influencer covers, whether their audience shares a target region, followers, engagement and
/// past performance. No allocation: discovery ranks thousands of candidates with it, and
/// [`score`] uses it too, so the number and the reasons never disagree.
pub fn points(
    campaign: &CampaignFit,
    matched_categories: usize,
    region_overlap: bool,
    followers: i64,
    engagement_bps: i64,
    performance: Option<&Performance>,
) -> u8 {
    let wanted = i64::try_from(campaign.categories.len()).unwrap_or(i64::MAX);
    let mut total = part(
        W_CATEGORY,
        i64::try_from(matched_categories).unwrap_or(0),
        wanted,
    );
    if campaign.target_regions.is_empty() || region_overlap {
        total += W_REGION;
    }
    let (num, den) = follower_fit(followers, campaign.min_followers);
    total += part(W_FOLLOWERS, num, den);
    total += part(W_ENGAGEMENT, engagement_bps, FULL_ENGAGEMENT_BPS);
    total += match performance {
        Some(p) => {
            let (num, den) = p.share();
            part(W_PERFORMANCE, num, den)
        }
        None => W_PERFORMANCE / 2,
    };
    u8::try_from(total.clamp(0, 100)).unwrap_or(100)
}

pub fn score(
    campaign: &CampaignFit,
    influencer: &InfluencerFit,
    performance: Option<&Performance>,
) -> MatchScore {
    let mut reasons: Vec<(Tone, String)> = Vec::new();

    // Category overlap.
    let matched: Vec<&String> = campaign
        .categories
        .iter()
        .filter(|c| influencer.categories.contains(c))
        .collect();
    if campaign.categories.is_empty() {
        reasons.push((Tone::Neutral, "any category".to_owned()));
    } else if matched.is_empty() {
        let names: Vec<&str> = campaign
            .categories
            .iter()
            .map(|c| category_label(c))
            .collect();
        reasons.push((
            Tone::Misses,
            format!("not in {}", names.join(", ").to_lowercase()),
        ));
    } else {
        let names: Vec<&str> = matched.iter().map(|c| category_label(c)).collect();
        reasons.push((
            Tone::Fits,
            format!("{} matches", names.join(", ").to_lowercase()),
        ));
    }

    // Audience region.
    let shared: Vec<String> = influencer
        .regions
        .iter()
        .filter(|r| campaign.target_regions.contains(r))
        .cloned()
        .collect();
    if campaign.target_regions.is_empty() {
        reasons.push((Tone::Neutral, "any region".to_owned()));
    } else if shared.is_empty() {
        reasons.push((
            Tone::Misses,
            format!("audience not in {}", region_list(&campaign.target_regions)),
        ));
    } else {
        reasons.push((Tone::Fits, format!("audience in {}", region_list(&shared))));
    }

    // Follower fit.
    let followers = compact_count_of(influencer.followers, "follower", "followers");
    match campaign.min_followers {
        Some(m) if m > 0 && influencer.followers >= m => {
            reasons.push((
                Tone::Fits,
                format!("{followers} ≥ {} minimum", compact_count(m)),
            ));
        }
        Some(m) if m > 0 => reasons.push((
            Tone::Misses,
            format!("{followers} < {} minimum", compact_count(m)),
        )),
        _ => reasons.push((Tone::Neutral, followers)),
    }

    // Engagement.
    let engagement = i32::try_from(influencer.engagement_bps.clamp(0, 10_000)).unwrap_or(0);
    let tone = if i64::from(engagement) * 2 >= FULL_ENGAGEMENT_BPS {
        Tone::Fits
    } else {
        Tone::Neutral
    };
    reasons.push((tone, format!("engagement {}", show_bps(engagement))));

    // Past performance.
    let category = campaign
        .categories
        .first()
        .map_or("any category", |c| category_label(c))
        .to_lowercase();
    reasons.push(match performance {
        Some(p) if p.orders > 0 => {
            let mut text = format!(
                "{} {} in {category}",
                p.orders,
                if p.orders == 1 { "order" } else { "orders" }
            );
            if p.coupon_orders > 0 {
                text.push_str(&format!(" ({} by coupon)", p.coupon_orders));
            }
            if let Some(c) = p.conversion_bps {
                let c = i32::try_from(c.clamp(0, 10_000)).unwrap_or(0);
                text.push_str(&format!(
                    ", {} conversion ({} after a click of {} unique {})",
                    show_bps(c),
                    p.orders - p.coupon_orders,
                    compact_count(p.unique_clicks),
                    if p.unique_clicks == 1 {
                        "click"
                    } else {
                        "clicks"
                    }
                ));
            }
            if let Some(epc) = &p.epc_display {
                text.push_str(&format!(", EPC {epc} per 100 clicks"));
            }
            (Tone::Proven, text)
        }
        Some(p) => (
            Tone::Misses,
            format!(
                "{} in {category}, no orders yet",
                compact_count_of(p.clicks, "click", "clicks")
            ),
        ),
        None => (Tone::Neutral, format!("no sales history in {category} yet")),
    });
    // What fits leads; the order within a tone is the table's above.
    reasons.sort_by_key(|r| r.0);
    let reasons: Vec<String> = reasons.into_iter().map(|r| r.1).collect();

    MatchScore {
        score: points(
            campaign,
            matched.len(),
            !shared.is_empty(),
            influencer.followers,
            influencer.engagement_bps,
            performance,
        ),
        reasons,
    }
}

/// Whether the influencer may apply to an open campaign; the reasons when not.
pub fn qualifies(campaign: &CampaignFit, influencer: &InfluencerFit) -> Result<(), Vec<String>> {
    let mut why = Vec::new();
    if let Some(m) = campaign.min_followers
        && influencer.followers < m
    {
        why.push(format!(
            "needs {}; you have {}",
            compact_count_of(m, "follower", "followers"),
            compact_count(influencer.followers)
        ));
    }
    if !campaign.target_regions.is_empty()
        && !influencer
            .regions
            .iter()
            .any(|r| campaign.target_regions.contains(r))
    {
        why.push(format!(
            "for audiences in {}",
            region_list(&campaign.target_regions)
        ));
    }
    if why.is_empty() { Ok(()) } else { Err(why) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    fn campaign() -> CampaignFit {
        CampaignFit {
            categories: s(&["beauty"]),
            target_regions: s(&["CN"]),
            min_followers: Some(100_000),
        }
    }

    #[test]
    fn the_example_from_the_issue() {
        let m = score(
            &campaign(),
            &InfluencerFit {
                categories: s(&["beauty", "fashion"]),
                regions: s(&["CN"]),
                followers: 1_200_000,
                engagement_bps: 800,
            },
            Some(&Performance {
                orders: 12,
                clicks: 400,
                coupon_orders: 0,
                unique_clicks: 400,
                conversion_bps: Some(300),
                epc_display: Some("¥3.10".into()),
            }),
        );
        assert_eq!(m.score, 100);
        assert_eq!(
            m.summary(),
            "12 orders in beauty & skincare, 3% conversion (12 after a click of 400 unique clicks), EPC ¥3.10 per 100 clicks, beauty & skincare matches, audience in CN, 1.2M followers ≥ 100K minimum, engagement 8%"
        );
    }

    #[test]
    fn weak_match_scores_low_with_reasons() {
        let m = score(
            &campaign(),
            &InfluencerFit {
                categories: s(&["gaming"]),
                regions: s(&["US"]),
                followers: 50_000,
                engagement_bps: 200,
            },
            None,
        );
        // 0 + 0 + 10 (half the minimum) + 4 (2 % of 8 %, rounded) + 5 (no history)
        assert_eq!(m.score, 19);
        assert!(m.reasons.contains(&"audience not in CN".to_owned()));
        // What fits (nothing here but the neutral facts) leads; the misses come last.
        assert_eq!(m.reasons[0], "engagement 2%");
        assert_eq!(m.reasons[4], "50K followers < 100K minimum");
        assert!(
            m.reasons
                .contains(&"50K followers < 100K minimum".to_owned())
        );
    }

    #[test]
    fn clicks_without_orders_and_coupon_sales() {
        let fit = InfluencerFit {
            categories: s(&["beauty"]),
            regions: s(&["CN"]),
            followers: 100_000,
            engagement_bps: 0,
        };
        let idle = Performance {
            orders: 0,
            clicks: 1_500,
            coupon_orders: 0,
            unique_clicks: 0,
            conversion_bps: Some(0),
            epc_display: None,
        };
        let m = score(&campaign(), &fit, Some(&idle));
        assert_eq!(
            m.reasons.last().unwrap(),
            "1.5K clicks in beauty & skincare, no orders yet"
        );
        // 35 + 20 + 20 + 0 + 0: no conversion earns nothing of the history part.
        assert_eq!(m.score, 75);
        let coupons = Performance {
            orders: 3,
            clicks: 0,
            coupon_orders: 0,
            unique_clicks: 0,
            conversion_bps: None,
            epc_display: None,
        };
        let m = score(&campaign(), &fit, Some(&coupons));
        assert_eq!(m.reasons[0], "3 orders in beauty & skincare");
        assert_eq!(m.score, 85);
    }

    #[test]
    fn qualification() {
        let ok = InfluencerFit {
            categories: vec![],
            regions: s(&["CN"]),
            followers: 100_000,
            engagement_bps: 0,
        };
        assert!(qualifies(&campaign(), &ok).is_ok());
        let small = InfluencerFit {
            followers: 10,
            regions: s(&["FR"]),
            ..ok
        };
        assert_eq!(qualifies(&campaign(), &small).unwrap_err().len(), 2);
    }

    fn influencer_strategy() -> impl Strategy<Value = InfluencerFit> {
        let cats = prop::sample::subsequence(vec!["beauty", "tea", "gaming", "home"], 0..4);
        let regions = prop::sample::subsequence(vec!["CN", "US", "JP"], 0..3);
        (cats, regions, 0i64..5_000_000, 0i64..2_000).prop_map(|(c, r, f, e)| InfluencerFit {
            categories: c.into_iter().map(str::to_owned).collect(),
            regions: r.into_iter().map(str::to_owned).collect(),
            followers: f,
            engagement_bps: e,
        })
    }

    fn campaign_strategy() -> impl Strategy<Value = CampaignFit> {
        let cats = prop::sample::subsequence(vec!["beauty", "tea", "gaming"], 0..3);
        let regions = prop::sample::subsequence(vec!["CN", "US"], 0..2);
        (cats, regions, prop::option::of(0i64..2_000_000)).prop_map(|(c, r, m)| CampaignFit {
            categories: c.into_iter().map(str::to_owned).collect(),
            target_regions: r.into_iter().map(str::to_owned).collect(),
            min_followers: m,
        })
    }

    proptest! {
        #[test]
        fn score_is_within_bounds_and_deterministic(c in campaign_strategy(), i in influencer_strategy(), conv in prop::option::of(0i64..1000)) {
            let perf = conv.map(|c| Performance { orders: c / 10, clicks: 400, coupon_orders: 0, unique_clicks: 0, conversion_bps: Some(c), epc_display: Some("$1.00".into()) });
            let a = score(&c, &i, perf.as_ref());
            prop_assert!(a.score <= 100);
            prop_assert_eq!(&a, &score(&c, &i, perf.as_ref()));
            prop_assert_eq!(a.reasons.len(), 5);
        }

        #[test]
        fn points_agree_with_score(c in campaign_strategy(), i in influencer_strategy()) {
            let matched = c.categories.iter().filter(|x| i.categories.contains(x)).count();
            let overlap = i.regions.iter().any(|r| c.target_regions.contains(r));
            prop_assert_eq!(points(&c, matched, overlap, i.followers, i.engagement_bps, None), score(&c, &i, None).score);
        }

        #[test]
        fn more_category_overlap_never_lowers_the_score(c in campaign_strategy(), i in influencer_strategy(), extra in prop::sample::select(vec!["beauty", "tea", "gaming", "home"])) {
            let mut more = i.clone();
            if !more.categories.iter().any(|x| x == extra) {
                more.categories.push(extra.to_owned());
            }
            prop_assert!(score(&c, &more, None).score >= score(&c, &i, None).score);
        }

        #[test]
        fn more_followers_never_lower_the_score(c in campaign_strategy(), i in influencer_strategy(), add in 0i64..5_000_000) {
            let bigger = InfluencerFit { followers: i.followers + add, ..i.clone() };
            prop_assert!(score(&c, &bigger, None).score >= score(&c, &i, None).score);
        }
    }
}
