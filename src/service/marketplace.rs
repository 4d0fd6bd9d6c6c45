//! How merchants and influencers find each other: discovery of influencers for a campaign and
//! the influencers' marketplace of campaigns, both ranked by the match score with its reasons.

use std::collections::{HashMap, HashSet};

use crate::db::influencers::DiscoveryFilter;
use crate::db::models::{Campaign, Collaboration, Influencer, Product, SocialAccount};
use crate::db::{self, DbConn};
use crate::domain::campaign::CommissionRules;
use crate::domain::matching::{self, CampaignFit, InfluencerFit, MatchScore};
use crate::domain::rate::RateBps;
use crate::error::{AppError, AppResult};

/// Discovery scores at most this many candidates (the most followed that pass the filters).
pub const MAX_CANDIDATES: i64 = 12_000;
pub const DISCOVER_PAGE: usize = 20;

pub fn campaign_fit(c: &Campaign) -> CampaignFit {
    CampaignFit {
        categories: vec![c.category.clone()],
        target_regions: super::influencer::split_list(&c.target_regions),
        min_followers: c.min_followers,
    }
}

pub fn influencer_fit(conn: &mut DbConn, i: &Influencer) -> AppResult<InfluencerFit> {
    let ids = [i.id];
    Ok(InfluencerFit {
        categories: db::influencers::categories_of(conn, &ids)?
            .into_iter()
            .map(|(_, c)| c)
            .collect(),
        regions: db::influencers::regions_of(conn, &ids)?
            .into_iter()
            .map(|(_, r)| r)
            .collect(),
        followers: i.total_followers,
        engagement_bps: i64::from(i.engagement_bps),
    })
}

/// Past performance from an influencer's history in a category (DESIGN.md §3 "Metrics"):
/// conversion = orders after a click / unique clicks, EPC = what those orders earned /
/// clicks × 100 (orders by coupon code, which no click led to, are counted apart), in the
/// currency `prefer` when they earned in it, else the one they earned most in. `None`
/// without any click or order.
pub fn performance(
    h: Option<&db::influencers::CategoryHistory>,
    prefer: &str,
) -> Option<matching::Performance> {
    let h = h.filter(|h| h.clicks > 0 || h.orders > 0)?;
    let half_up = |num: i64, den: i64| (2 * num + den) / (2 * den);
    let click_orders = h.orders - h.coupon_orders;
    let conversion_bps =
        (h.unique_clicks > 0).then(|| half_up(click_orders * 10_000, h.unique_clicks));
    let earned = h
        .earned_by_clicks
        .iter()
        .find(|(c, _)| c == prefer)
        .or_else(|| h.earned_by_clicks.first())
        .filter(|(_, n)| *n > 0);
    let epc_display = match earned {
        Some((currency, minor)) if h.clicks > 0 => Some(crate::domain::money::display_in(
            half_up(minor * 100, h.clicks),
            currency,
        )),
        _ => None,
    };
    Some(matching::Performance {
        orders: h.orders,
        coupon_orders: h.coupon_orders,
        clicks: h.clicks,
        unique_clicks: h.unique_clicks,
        conversion_bps,
        epc_display,
    })
}

/// The history of these influencers in one category, by influencer.
pub fn histories_in(
    conn: &mut DbConn,
    ids: Option<&[i64]>,
    category: &str,
) -> AppResult<HashMap<i64, db::influencers::CategoryHistory>> {
    Ok(db::influencers::history(conn, ids, Some(category))?
        .into_iter()
        .map(|((id, _), h)| (id, h))
        .collect())
}

/// One ranked influencer on the discovery page.
pub struct Candidate {
    pub influencer: Influencer,
    pub score: MatchScore,
    pub categories: Vec<String>,
    pub regions: Vec<String>,
    pub platforms: Vec<String>,
    pub collaboration: Option<String>,
}

pub struct Discovery {
    pub campaign: Campaign,
    pub candidates: Vec<Candidate>,
    pub total: usize,
    pub capped: bool,
}

/// Ranks influencers for a campaign of the caller's merchant.
#[tracing::instrument(skip(conn, filter))]
pub fn discover(
    conn: &mut DbConn,
    user_id: i64,
    campaign_id: i64,
    filter: &DiscoveryFilter,
    page: usize,
) -> AppResult<Discovery> {
    let campaign = super::campaigns::get_for_merchant(conn, user_id, campaign_id)?;
    rank_for_campaign(conn, campaign, filter, page)
}

/// The ranking itself (also used by the benchmark). Every candidate passing the filters is
/// scored with [`matching::points`] from three small queries (candidates, campaign-category
/// members, target-region members); only the page shown is then loaded in full and scored
/// again with its reasons.
pub fn rank_for_campaign(
    conn: &mut DbConn,
    campaign: Campaign,
    filter: &DiscoveryFilter,
    page: usize,
) -> AppResult<Discovery> {
    let found = db::influencers::discover(conn, filter, MAX_CANDIDATES)?;
    let capped = i64::try_from(found.len()).unwrap_or(i64::MAX) >= MAX_CANDIDATES;
    let fit = campaign_fit(&campaign);
    let in_category: Option<HashSet<i64>> =
        if filter.category.as_deref() == Some(campaign.category.as_str()) {
            None // every candidate covers the campaign's category
        } else {
            Some(
                db::influencers::ids_in_category(conn, &campaign.category)?
                    .into_iter()
                    .collect(),
            )
        };
    let in_region: Option<HashSet<i64>> = if fit.target_regions.is_empty() {
        None
    } else {
        Some(
            db::influencers::ids_in_regions(conn, &fit.target_regions)?
                .into_iter()
                .collect(),
        )
    };
    let history = histories_in(conn, None, &campaign.category)?;
    let mut scored: Vec<(u8, i64, i64)> = found
        .iter()
        .map(|&(id, followers, engagement)| {
            let perf = performance(history.get(&id), &campaign.currency);
            let matched = usize::from(in_category.as_ref().is_none_or(|s| s.contains(&id)));
            let region = in_region.as_ref().is_none_or(|s| s.contains(&id));
            (
                matching::points(
                    &fit,
                    matched,
                    region,
                    followers,
                    i64::from(engagement),
                    perf.as_ref(),
                ),
                followers,
                id,
            )
        })
        .collect();
    scored.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    let total = scored.len();
    let page_ids: Vec<i64> = scored
        .iter()
        .skip(page.saturating_sub(1) * DISCOVER_PAGE)
        .take(DISCOVER_PAGE)
        .map(|s| s.2)
        .collect();
    let mut rows = db::influencers::find_many(conn, &page_ids)?;
    rows.sort_by_key(|i| page_ids.iter().position(|id| *id == i.id));
    let mut categories: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, c) in db::influencers::categories_of(conn, &page_ids)? {
        categories.entry(id).or_default().push(c);
    }
    let mut regions: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, r) in db::influencers::regions_of(conn, &page_ids)? {
        regions.entry(id).or_default().push(r);
    }
    let accounts: Vec<SocialAccount> = db::influencers::accounts_of(conn, &page_ids)?;
    let collabs: Vec<(Collaboration, Influencer)> =
        db::collaborations::for_campaign(conn, campaign.id)?;
    let candidates = rows
        .into_iter()
        .map(|i| {
            let f = InfluencerFit {
                categories: categories.get(&i.id).cloned().unwrap_or_default(),
                regions: regions.get(&i.id).cloned().unwrap_or_default(),
                followers: i.total_followers,
                engagement_bps: i64::from(i.engagement_bps),
            };
            let mut platforms: Vec<String> = accounts
                .iter()
                .filter(|a| a.influencer_id == i.id)
                .map(|a| a.platform.clone())
                .collect();
            platforms.dedup();
            Candidate {
                score: matching::score(
                    &fit,
                    &f,
                    performance(history.get(&i.id), &campaign.currency).as_ref(),
                ),
                categories: f.categories,
                regions: f.regions,
                collaboration: collabs
                    .iter()
                    .find(|(c, _)| c.influencer_id == i.id)
                    .map(|(c, _)| c.state.clone()),
                platforms,
                influencer: i,
            }
        })
        .collect();
    Ok(Discovery {
        campaign,
        candidates,
        total,
        capped,
    })
}

/// One campaign on the influencers' marketplace.
pub struct CampaignCard {
    pub campaign: Campaign,
    pub merchant: String,
    pub best_rate: RateBps,
    pub score: MatchScore,
    pub qualifies: Result<(), Vec<String>>,
    pub collaboration: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MarketFilter {
    pub category: Option<String>,
    pub min_rate: Option<RateBps>,
    pub merchant: Option<String>,
    pub region: Option<String>,
}

pub fn marketplace(
    conn: &mut DbConn,
    now: chrono::NaiveDateTime,
    user_id: i64,
    filter: &MarketFilter,
) -> AppResult<Vec<CampaignCard>> {
    let me = super::influencer::profile_of(conn, user_id)?;
    let fit = influencer_fit(conn, &me)?;
    let campaigns = db::campaigns::open_and_active(conn, now)?;
    let ids: Vec<i64> = campaigns.iter().map(|(c, _)| c.id).collect();
    let rules = db::campaigns::latest_rules(conn, &ids)?;
    let mine = db::collaborations::for_influencer(conn, me.id)?;
    let history = db::influencers::history(conn, Some(&[me.id]), None)?;
    let mut cards: Vec<CampaignCard> = campaigns
        .into_iter()
        .filter(|(c, m)| {
            filter.category.as_ref().is_none_or(|x| &c.category == x)
                && filter
                    .merchant
                    .as_ref()
                    .is_none_or(|x| m.to_lowercase().contains(&x.to_lowercase()))
                && filter.region.as_ref().is_none_or(|r| {
                    c.target_regions.is_empty() || c.target_regions.split(',').any(|t| t == r)
                })
        })
        .filter_map(|(c, merchant)| {
            let r: CommissionRules = rules
                .iter()
                .find(|(v, _)| v.campaign_id == c.id)
                .map(|(v, o)| super::campaigns::rules_of(v, o))?;
            let best_rate = r.best_rate();
            if filter.min_rate.is_some_and(|min| best_rate < min) {
                return None;
            }
            let cf = campaign_fit(&c);
            let perf = performance(history.get(&(me.id, c.category.clone())), &c.currency);
            Some(CampaignCard {
                score: matching::score(&cf, &fit, perf.as_ref()),
                qualifies: matching::qualifies(&cf, &fit),
                collaboration: mine
                    .iter()
                    .find(|(col, _, _)| col.campaign_id == c.id)
                    .map(|(col, _, _)| col.state.clone()),
                campaign: c,
                merchant,
                best_rate,
            })
        })
        .collect();
    cards.sort_by(|a, b| {
        b.qualifies
            .is_ok()
            .cmp(&a.qualifies.is_ok())
            .then(b.score.score.cmp(&a.score.score))
            .then(b.best_rate.cmp(&a.best_rate))
    });
    Ok(cards)
}

/// A campaign as an influencer sees it: visible when active and open, or when they have a
/// collaboration on it. Every product with the rate that would apply to them.
pub struct CampaignView {
    pub campaign: Campaign,
    pub merchant: String,
    pub rules: CommissionRules,
    pub products: Vec<(Product, RateBps, &'static str)>,
    pub score: MatchScore,
    pub qualifies: Result<(), Vec<String>>,
    pub collaboration: Option<Collaboration>,
}

pub fn campaign_for_influencer(
    conn: &mut DbConn,
    user_id: i64,
    campaign_id: i64,
) -> AppResult<CampaignView> {
    let me = super::influencer::profile_of(conn, user_id)?;
    let campaign = db::campaigns::find(conn, campaign_id)?.ok_or(AppError::NotFound)?;
    let collaboration = db::collaborations::of_pair(conn, campaign_id, me.id)?;
    let public = campaign.state == "active" && campaign.visibility == "open";
    if !public && collaboration.is_none() {
        return Err(AppError::NotFound);
    }
    let merchant = db::merchants::find(conn, campaign.merchant_id)?
        .ok_or(AppError::NotFound)?
        .name;
    let (v, o) = db::campaigns::latest_rules(conn, &[campaign.id])?
        .into_iter()
        .next()
        .ok_or(AppError::NotFound)?;
    let rules = super::campaigns::rules_of(&v, &o);
    let personal = collaboration
        .as_ref()
        .and_then(|c| c.custom_rate_bps)
        .map(RateBps::saturating);
    let products = db::catalog::for_campaign(conn, &campaign)?
        .into_iter()
        .filter(|p| p.active)
        .map(|p| {
            let (rate, source) = rules.rate_for(&p.sku, &p.category, personal);
            (p, rate, source.label())
        })
        .collect();
    let fit = influencer_fit(conn, &me)?;
    let cf = campaign_fit(&campaign);
    let history = histories_in(conn, Some(&[me.id]), &campaign.category)?;
    let perf = performance(history.get(&me.id), &campaign.currency);
    Ok(CampaignView {
        score: matching::score(&cf, &fit, perf.as_ref()),
        qualifies: matching::qualifies(&cf, &fit),
        campaign,
        merchant,
        rules,
        products,
        collaboration,
    })
}

/// One of an influencer's collaborations with its campaign, merchant name and current rules.
pub struct MyCollaboration {
    pub collaboration: Collaboration,
    pub campaign: Campaign,
    pub merchant: String,
    pub rules: Option<CommissionRules>,
}

/// An influencer's collaborations, newest first.
pub fn my_collaborations(conn: &mut DbConn, user_id: i64) -> AppResult<Vec<MyCollaboration>> {
    let me = super::influencer::profile_of(conn, user_id)?;
    let rows = db::collaborations::for_influencer(conn, me.id)?;
    let ids: Vec<i64> = rows.iter().map(|(_, c, _)| c.id).collect();
    let rules = db::campaigns::latest_rules(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|(col, c, m)| {
            let r = rules
                .iter()
                .find(|(v, _)| v.campaign_id == c.id)
                .map(|(v, o)| super::campaigns::rules_of(v, o));
            MyCollaboration {
                collaboration: col,
                campaign: c,
                merchant: m,
                rules: r,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::influencers::CategoryHistory;

    #[test]
    fn performance_follows_the_metric_definitions() {
        let h = CategoryHistory {
            clicks: 400,
            unique_clicks: 300,
            orders: 9,
            coupon_orders: 2,
            earned: vec![("USD".into(), 9_500), ("CNY".into(), 12_845)],
            earned_by_clicks: vec![("USD".into(), 9_000), ("CNY".into(), 12_345)],
        };
        let p = performance(Some(&h), "CNY").unwrap();
        // (9 - 2 by coupon) / 300 = 2.333 % -> 233 bps; what orders after a click earned,
        // ¥123.45 / 400 × 100 = ¥30.86 (30.8625, half up).
        assert_eq!(p.conversion_bps, Some(233));
        assert_eq!(p.epc_display.as_deref(), Some("¥30.86"));
        // Another currency asked for: the one earned in.
        let p = performance(Some(&h), "EUR").unwrap();
        assert_eq!(p.epc_display.as_deref(), Some("$22.50"));
        // Coupon sales without clicks: no rate, no EPC; nothing at all: no history.
        let coupons = CategoryHistory {
            orders: 2,
            coupon_orders: 2,
            earned: vec![("CNY".into(), 500)],
            earned_by_clicks: vec![("CNY".into(), 0)],
            ..CategoryHistory::default()
        };
        let p = performance(Some(&coupons), "CNY").unwrap();
        assert_eq!((p.conversion_bps, p.epc_display), (None, None));
        assert!(performance(Some(&CategoryHistory::default()), "CNY").is_none());
        assert!(performance(None, "CNY").is_none());
    }
}
