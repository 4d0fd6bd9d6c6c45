//! The influencer's marketplace: campaigns ranked for them, a campaign's page with the rate
//! each product would earn, applying, invitations and their collaborations.

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::campaigns::describe_rules;
use super::catalog::{category_options, price_of};
use super::extract::{CsrfForm, InfluencerUser};
use super::pages::{self, PageCtx, SelectOption, fmt_date};
use super::session;
use crate::domain::catalog::{category_label, compact_count};
use crate::domain::collaboration::{CollabAction, CollabState, Side};
use crate::domain::rate::{RateBps, show_bps};
use crate::domain::validate::COUNTRIES;
use crate::error::{AppError, AppResult};
use crate::service::collaborations;
use crate::service::marketplace::{self as svc, MarketFilter};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(market)
        .service(campaign)
        .service(apply)
        .service(list)
        .service(act);
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
struct MarketQuery {
    category: String,
    min_rate: String,
    merchant: String,
    region: String,
}

struct Card {
    id: i64,
    name: String,
    merchant: String,
    category: String,
    rate: String,
    score: u8,
    reasons: String,
    qualifies: bool,
    why_not: String,
    collaboration: Option<&'static str>,
    ends: String,
}

#[derive(Template)]
#[template(path = "influencer/marketplace.html")]
struct MarketPage {
    ctx: PageCtx,
    cards: Vec<Card>,
    query: MarketQuery,
    categories: Vec<SelectOption>,
    regions: Vec<SelectOption>,
    filtered: bool,
    rate_error: Option<String>,
}

#[get("/influencer/marketplace")]
async fn market(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    query: web::Query<MarketQuery>,
) -> AppResult<HttpResponse> {
    let query = query.into_inner();
    let (min_rate, rate_error) = if query.min_rate.trim().is_empty() {
        (None, None)
    } else {
        match RateBps::parse_percent(&query.min_rate) {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(format!("Minimum rate: {e}"))),
        }
    };
    let filter = MarketFilter {
        category: Some(query.category.clone()).filter(|s| !s.is_empty()),
        min_rate,
        merchant: Some(query.merchant.trim().to_owned()).filter(|s| !s.is_empty()),
        region: Some(query.region.clone()).filter(|s| !s.is_empty()),
    };
    let (uid, now) = (user.0.id, state.now());
    let cards = state
        .db(move |conn| svc::marketplace(conn, now, uid, &filter))
        .await?;
    let tz = user.0.time_zone;
    let page = MarketPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Marketplace", "marketplace"),
        cards: cards
            .into_iter()
            .map(|c| Card {
                id: c.campaign.id,
                name: c.campaign.name.clone(),
                merchant: c.merchant,
                category: category_label(&c.campaign.category).to_owned(),
                rate: c.best_rate.percent(),
                score: c.score.score,
                reasons: c.score.summary(),
                qualifies: c.qualifies.is_ok(),
                why_not: c.qualifies.err().map(|w| w.join("; ")).unwrap_or_default(),
                collaboration: c
                    .collaboration
                    .as_deref()
                    .and_then(CollabState::parse)
                    .map(|s| s.label()),
                ends: c
                    .campaign
                    .ends_at
                    .map(|e| format!("until {}", fmt_date(e, tz)))
                    .unwrap_or_default(),
            })
            .collect(),
        categories: category_options(&query.category, Some("All categories")),
        regions: std::iter::once(SelectOption {
            value: String::new(),
            label: "Any region".into(),
            selected: query.region.is_empty(),
        })
        .chain(COUNTRIES.iter().map(|(v, l)| SelectOption {
            value: (*v).into(),
            label: (*l).into(),
            selected: query.region == *v,
        }))
        .collect(),
        filtered: !(query.category.is_empty()
            && query.min_rate.is_empty()
            && query.merchant.is_empty()
            && query.region.is_empty()),
        rate_error,
        query,
    };
    pages::ok(&page)
}

struct ProductLine {
    sku: String,
    title: String,
    price: String,
    rate: String,
    source: &'static str,
    url: String,
}

#[derive(Template)]
#[template(path = "influencer/campaign.html")]
struct CampaignPage {
    ctx: PageCtx,
    /// The application's message as typed, and why it was refused.
    message: String,
    message_error: String,
    id: i64,
    name: String,
    merchant: String,
    description: String,
    category: String,
    rules: Vec<String>,
    products: Vec<ProductLine>,
    score: u8,
    reasons: String,
    why_not: Vec<String>,
    collaboration: Option<&'static str>,
    coupon: Option<String>,
    can_apply: bool,
    facts: Vec<(&'static str, String)>,
}

#[get("/influencer/campaigns/{id}")]
async fn campaign(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    pages::ok(&campaign_page(&state, &session, &user, path.into_inner(), None).await?)
}

/// An application refused for its message: the message kept, the reason under it.
struct ApplyRetry {
    message: String,
    error: String,
}

async fn campaign_page(
    state: &AppState,
    session: &Session,
    user: &InfluencerUser,
    id: i64,
    retry: Option<ApplyRetry>,
) -> AppResult<CampaignPage> {
    let uid = user.0.id;
    let v = state
        .db(move |conn| svc::campaign_for_influencer(conn, uid, id))
        .await?;
    let tz = user.0.time_zone;
    let c = &v.campaign;
    let mut facts = vec![
        (
            "Attribution window",
            format!(
                "{} after a click",
                pages::count(c.attribution_days, "day", "days")
            ),
        ),
        (
            "Paid after",
            format!("a {}-day hold for returns", c.hold_days),
        ),
    ];
    if let Some(m) = c.min_followers {
        facts.push(("Minimum followers", compact_count(m)));
    }
    if !c.target_regions.is_empty() {
        facts.push(("For audiences in", c.target_regions.replace(',', ", ")));
    }
    if let Some(e) = c.ends_at {
        facts.push(("Ends", fmt_date(e, tz)));
    }
    let state_now = v
        .collaboration
        .as_ref()
        .and_then(|col| CollabState::parse(&col.state));
    let (message, message_error) = retry.map_or_else(Default::default, |r| (r.message, r.error));
    Ok(CampaignPage {
        ctx: PageCtx::new(session, Some(&user.0), c.name.clone(), "marketplace"),
        message,
        message_error,
        id: c.id,
        name: c.name.clone(),
        merchant: v.merchant.clone(),
        description: c.description.clone(),
        category: category_label(&c.category).to_owned(),
        rules: match v.collaboration.as_ref().and_then(|col| col.custom_rate_bps) {
            Some(bps) => vec![format!(
                "{} on every product: your personal rate",
                show_bps(bps)
            )],
            None => describe_rules(&v.rules, &c.currency),
        },
        products: v
            .products
            .iter()
            .map(|(p, rate, source)| ProductLine {
                sku: p.sku.clone(),
                title: p.title.clone(),
                price: price_of(p),
                rate: rate.percent(),
                source,
                url: p.product_url.clone(),
            })
            .collect(),
        score: v.score.score,
        reasons: v.score.summary(),
        why_not: v.qualifies.clone().err().unwrap_or_default(),
        collaboration: state_now.map(|s| s.label()),
        coupon: v
            .collaboration
            .as_ref()
            .and_then(|col| col.coupon_code.clone()),
        can_apply: v.collaboration.is_none()
            && v.qualifies.is_ok()
            && c.state == "active"
            && c.visibility == "open",
        facts,
    })
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ApplyForm {
    message: String,
}

#[post("/influencer/campaigns/{id}/apply")]
async fn apply(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    path: web::Path<i64>,
    form: CsrfForm<ApplyForm>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let message = form.0.message;
    let (now, base, uid, text) = (
        state.now(),
        state.base_url.clone(),
        user.0.id,
        message.clone(),
    );
    match state
        .db(move |conn| {
            collaborations::apply(
                conn,
                collaborations::Actor {
                    now,
                    base_url: &base,
                    user_id: uid,
                },
                id,
                &text,
            )
        })
        .await
    {
        Ok(_) => {
            state.wake_mailer();
            session::flash(
                &session,
                "success",
                "Application sent. The merchant is notified; you'll get an email when they answer.",
            );
        }
        Err(AppError::Conflict(msg)) => session::flash(&session, "error", msg),
        Err(AppError::Validation(e)) => {
            let retry = ApplyRetry {
                message: message.clone(),
                error: e.get("message").unwrap_or("Check your message.").to_owned(),
            };
            return pages::invalid(&campaign_page(&state, &session, &user, id, Some(retry)).await?);
        }
        Err(e) => return Err(e),
    }
    Ok(pages::redirect(&format!("/influencer/campaigns/{id}")))
}

struct CollabRow {
    id: i64,
    campaign_id: i64,
    campaign: String,
    merchant: String,
    state: &'static str,
    state_key: String,
    rate: String,
    coupon: String,
    since: String,
    message: String,
}

#[derive(Template)]
#[template(path = "influencer/collaborations.html")]
struct CollabsPage {
    ctx: PageCtx,
    invitations: Vec<CollabRow>,
    rows: Vec<CollabRow>,
}

#[get("/influencer/collaborations")]
async fn list(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
) -> AppResult<HttpResponse> {
    let uid = user.0.id;
    let rows = state
        .db(move |conn| svc::my_collaborations(conn, uid))
        .await?;
    let tz = user.0.time_zone;
    let mut invitations = Vec::new();
    let mut others = Vec::new();
    for svc::MyCollaboration {
        collaboration: col,
        campaign: c,
        merchant,
        rules,
    } in rows
    {
        let row = CollabRow {
            id: col.id,
            campaign_id: c.id,
            campaign: c.name.clone(),
            merchant,
            state: CollabState::parse(&col.state).map_or("Unknown", |s| s.label()),
            state_key: col.state.clone(),
            rate: match (col.custom_rate_bps, rules) {
                (Some(bps), _) => format!("{} (personal)", show_bps(bps)),
                (None, Some(r)) if r.best_rate() != r.default_rate => {
                    format!("{}–{}", r.default_rate, r.best_rate())
                }
                (None, Some(r)) => r.default_rate.percent(),
                (None, None) => String::new(),
            },
            coupon: col.coupon_code.clone().unwrap_or_default(),
            since: fmt_date(col.updated_at, tz),
            message: col.message.clone(),
        };
        if col.state == "invited" {
            invitations.push(row)
        } else {
            others.push(row)
        }
    }
    pages::ok(&CollabsPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Collaborations", "collaborations"),
        invitations,
        rows: others,
    })
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ActForm {
    action: String,
    message: String,
}

#[post("/influencer/collaborations/{id}")]
async fn act(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    path: web::Path<i64>,
    form: CsrfForm<ActForm>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let action = CollabAction::parse(&form.0.action)
        .ok_or_else(|| AppError::BadRequest("Unknown action.".into()))?;
    let (now, base, uid, text) = (
        state.now(),
        state.base_url.clone(),
        user.0.id,
        form.0.message,
    );
    match state
        .db(move |conn| {
            collaborations::act(
                conn,
                collaborations::Actor {
                    now,
                    base_url: &base,
                    user_id: uid,
                },
                Side::Influencer,
                id,
                action,
                &text,
            )
        })
        .await
    {
        Ok(c) => {
            state.wake_mailer();
            let msg = match action {
                CollabAction::Accept => format!(
                    "Invitation accepted. Your coupon code is {}.",
                    c.coupon_code.unwrap_or_default()
                ),
                CollabAction::Reject => "Invitation declined.".to_owned(),
                _ => format!("Collaboration {}.", action.past_tense()),
            };
            session::flash(&session, "success", msg);
        }
        Err(AppError::Conflict(msg)) => session::flash(&session, "error", msg),
        Err(e) => return Err(e),
    }
    Ok(pages::redirect("/influencer/collaborations"))
}
