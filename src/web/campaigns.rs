//! The merchant's campaigns: list, create, edit, rules (versioned), state, discovery of
//! influencers, invitations, applications and coupon codes.

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::catalog::{category_options, price_of};
use super::extract::{CsrfForm, MerchantUser};
use super::pages::{
    self, CheckOption, PageCtx, SelectOption, check_options, fmt_date, fmt_datetime,
};
use super::{session, urlencode};
use crate::db::influencers::DiscoveryFilter;
use crate::domain::campaign::{CampaignAction, CampaignState, CommissionRules};
use crate::domain::catalog::{PLATFORMS, category_label, compact_count, platform_label};
use crate::domain::collaboration::{CollabAction, CollabState, Side};
use crate::domain::money::{Currency, Money};
use crate::domain::rate::{RateBps, show_bps};
use crate::domain::validate::{COUNTRIES, FieldErrors};
use crate::error::{AppError, AppResult};
use crate::service::campaigns::{self as svc, CampaignForm, RulesFormFields};
use crate::service::{collaborations, marketplace};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(new_campaign)
        .service(create)
        .service(show)
        .service(edit)
        .service(update)
        .service(update_rules)
        .service(change_state)
        .service(discover)
        .service(invite)
        .service(collab_action)
        .service(coupon);
}

/// Money in a campaign's currency, for people.
pub fn money(currency: &str, minor: i64) -> String {
    crate::domain::money::display_in(minor, currency)
}

/// `part` as a whole percentage of `whole` ("80 %"), rounded down so that a cap is shown as
/// reached only when it is.
fn percent_of(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "—".to_owned();
    }
    let p = i128::from(part.max(0)) * 100 / i128::from(whole);
    format!("{p} %")
}

/// One line per rule, for people: "12.5% of sales", "TEA-001: 15%", "¥5.00 per order".
pub fn describe_rules(r: &CommissionRules, currency: &str) -> Vec<String> {
    let mut out = vec![format!("{} of sales by default", r.default_rate)];
    for (cat, rate) in &r.category_rates {
        out.push(format!("{rate} on {}", category_label(cat).to_lowercase()));
    }
    for (sku, rate) in &r.sku_rates {
        out.push(format!("{rate} on {sku}"));
    }
    if r.flat_per_order_minor > 0 {
        out.push(format!(
            "plus {} per order",
            money(currency, r.flat_per_order_minor)
        ));
    }
    if r.flat_per_item_minor > 0 {
        out.push(format!(
            "plus {} per item",
            money(currency, r.flat_per_item_minor)
        ));
    }
    out
}

struct CampaignRow {
    id: i64,
    name: String,
    category: String,
    state: &'static str,
    state_key: String,
    visibility: &'static str,
    rate: String,
    starts: String,
}

#[derive(Template)]
#[template(path = "merchant/campaigns.html")]
struct ListPage {
    ctx: PageCtx,
    rows: Vec<CampaignRow>,
    state: String,
    states: Vec<SelectOption>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    state: String,
}

#[get("/merchant/campaigns")]
async fn list(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    query: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let filter = CampaignState::parse(&query.state).map(|s| s.as_str());
    let uid = user.0.id;
    let rows = state.db(move |conn| svc::list(conn, uid, filter)).await?;
    let tz = user.0.time_zone;
    let page = ListPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Campaigns", "campaigns"),
        rows: rows
            .into_iter()
            .map(|(c, r)| CampaignRow {
                id: c.id,
                category: category_label(&c.category).to_owned(),
                state: CampaignState::parse(&c.state).map_or("Unknown", |s| s.label()),
                state_key: c.state.clone(),
                visibility: if c.visibility == "open" {
                    "Open"
                } else {
                    "Invite-only"
                },
                rate: r
                    .map(|r| {
                        if r.best_rate() == r.default_rate {
                            r.default_rate.percent()
                        } else {
                            format!("{}–{}", r.default_rate, r.best_rate())
                        }
                    })
                    .unwrap_or_default(),
                starts: fmt_date(c.starts_at, tz),
                name: c.name,
            })
            .collect(),
        states: [
            ("", "All states"),
            ("draft", "Draft"),
            ("active", "Active"),
            ("paused", "Paused"),
            ("ended", "Ended"),
        ]
        .iter()
        .map(|(v, l)| SelectOption {
            value: (*v).into(),
            label: (*l).into(),
            selected: query.state == *v,
        })
        .collect(),
        state: query.state.clone(),
    };
    pages::ok(&page)
}

struct ProductChoice {
    id: String,
    label: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "merchant/campaign_form.html")]
struct FormPage {
    ctx: PageCtx,
    id: Option<i64>,
    form: CampaignForm,
    errors: FieldErrors,
    categories: Vec<SelectOption>,
    products: Vec<ProductChoice>,
    regions: Vec<CheckOption>,
    currency: String,
    with_rules: bool,
}

async fn form_page(
    state: &AppState,
    session: &Session,
    user: &MerchantUser,
    id: Option<i64>,
    form: Option<CampaignForm>,
    errors: FieldErrors,
) -> AppResult<FormPage> {
    let (uid, tz) = (user.0.id, user.0.time_zone);
    let (merchant, all_products, existing) = state
        .db(move |conn| {
            let (m, _) = crate::service::merchant::org_of(conn, uid)?;
            let products = crate::db::catalog::all_of(conn, m.id)?;
            let existing = match id {
                Some(id) => {
                    let d = svc::detail(conn, uid, id)?;
                    let ids = crate::db::campaigns::product_ids(conn, id)?;
                    Some((
                        d.campaign,
                        ids,
                        d.history.into_iter().next().map(|(_, r)| r),
                    ))
                }
                None => None,
            };
            Ok((m, products, existing))
        })
        .await?;
    let currency = existing
        .as_ref()
        .map_or(merchant.default_currency.clone(), |(c, _, _)| {
            c.currency.clone()
        });
    let form = form.unwrap_or_else(|| match &existing {
        Some((c, ids, rules)) => svc::form_of(c, ids, rules.as_ref(), tz),
        None => CampaignForm {
            product_scope: "selected".into(),
            visibility: "open".into(),
            attribution_days: svc::DEFAULT_ATTRIBUTION_DAYS.to_string(),
            hold_days: svc::DEFAULT_HOLD_DAYS.to_string(),
            rules: RulesFormFields {
                default_rate: "10".into(),
                ..RulesFormFields::default()
            },
            category: super::catalog::usual_category(&all_products),
            ..CampaignForm::default()
        },
    });
    Ok(FormPage {
        ctx: PageCtx::new(
            session,
            Some(&user.0),
            if id.is_some() {
                "Edit campaign"
            } else {
                "New campaign"
            },
            "campaigns",
        ),
        id,
        categories: category_options(&form.category, None),
        products: all_products
            .into_iter()
            .filter(|p| p.active)
            .map(|p| ProductChoice {
                checked: form.product_ids.contains(&p.id.to_string()),
                label: format!("{} · {} · {}", p.sku, p.title, price_of(&p)),
                id: p.id.to_string(),
            })
            .collect(),
        regions: check_options(COUNTRIES, &form.target_regions),
        with_rules: id.is_none(),
        form,
        errors,
        currency,
    })
}

#[get("/merchant/campaigns/new")]
async fn new_campaign(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
) -> AppResult<HttpResponse> {
    pages::ok(&form_page(&state, &session, &user, None, None, FieldErrors::new()).await?)
}

#[post("/merchant/campaigns")]
async fn create(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    form: CsrfForm<CampaignForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, uid, tz, input) = (state.now(), user.0.id, user.0.time_zone, form.clone());
    match state
        .db(move |conn| svc::create_campaign(conn, now, uid, tz, &input))
        .await
    {
        Ok(id) => {
            session::flash(
                &session,
                "success",
                "Campaign created as a draft. Check it, then activate it to open it to influencers.",
            );
            Ok(pages::redirect(&format!("/merchant/campaigns/{id}")))
        }
        Err(AppError::Validation(errors)) => {
            pages::invalid(&form_page(&state, &session, &user, None, Some(form), errors).await?)
        }
        Err(e) => Err(e),
    }
}

#[get("/merchant/campaigns/{id}/edit")]
async fn edit(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    pages::ok(
        &form_page(
            &state,
            &session,
            &user,
            Some(path.into_inner()),
            None,
            FieldErrors::new(),
        )
        .await?,
    )
}

#[post("/merchant/campaigns/{id}")]
async fn update(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
    form: CsrfForm<CampaignForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let id = path.into_inner();
    let (now, uid, tz, input) = (state.now(), user.0.id, user.0.time_zone, form.clone());
    match state
        .db(move |conn| svc::update_campaign(conn, now, uid, tz, id, &input))
        .await
    {
        Ok(()) => {
            session::flash(&session, "success", "Campaign saved.");
            Ok(pages::redirect(&format!("/merchant/campaigns/{id}")))
        }
        Err(AppError::Validation(errors)) => {
            pages::invalid(&form_page(&state, &session, &user, Some(id), Some(form), errors).await?)
        }
        Err(AppError::Conflict(msg)) => {
            session::flash(&session, "error", msg);
            Ok(pages::redirect(&format!("/merchant/campaigns/{id}")))
        }
        Err(e) => Err(e),
    }
}

struct VersionView {
    version: i32,
    effective: String,
    lines: Vec<String>,
}

struct ProductView {
    sku: String,
    title: String,
    price: String,
    rate: String,
    source: &'static str,
    active: bool,
}

struct CollabView {
    id: i64,
    score: u8,
    reasons: String,
    bio: String,
    handle: String,
    name: String,
    followers: String,
    state: &'static str,
    rate: String,
    coupon: String,
    /// Why the coupon code typed for this collaboration was refused (it stays typed).
    coupon_error: String,
    message: String,
    since: String,
}

#[derive(Template)]
#[template(path = "merchant/campaign.html")]
struct ShowPage {
    ctx: PageCtx,
    id: i64,
    name: String,
    description: String,
    state: &'static str,
    state_key: String,
    facts: Vec<(&'static str, String)>,
    actions: Vec<(&'static str, &'static str, bool)>,
    versions: Vec<VersionView>,
    rules_form: RulesFormFields,
    rules_errors: FieldErrors,
    products: Vec<ProductView>,
    applied: Vec<CollabView>,
    invited: Vec<CollabView>,
    active: Vec<CollabView>,
    closed: Vec<CollabView>,
    live: bool,
    ended: bool,
    draft: bool,
}

async fn show_page(
    state: &AppState,
    session: &Session,
    user: &MerchantUser,
    id: i64,
    rules_form: Option<(RulesFormFields, FieldErrors)>,
    coupon_retry: Option<CouponRetry>,
) -> AppResult<ShowPage> {
    let uid = user.0.id;
    let d = state.db(move |conn| svc::detail(conn, uid, id)).await?;
    let tz = user.0.time_zone;
    let c = &d.campaign;
    let cstate = CampaignState::parse(&c.state).unwrap_or(CampaignState::Ended);
    let current = d.history.first().map(|(_, r)| r.clone());
    let money_of = |minor: i64| {
        Currency::parse(&c.currency)
            .ok()
            .and_then(|cur| Money::from_minor(minor, cur).ok())
            .map(|m| m.to_plain_string())
            .unwrap_or_default()
    };
    let (rules_form, rules_errors) = rules_form.unwrap_or_else(|| {
        (
            current
                .as_ref()
                .map(|r| svc::rules_form_of(r, &money_of))
                .unwrap_or_default(),
            FieldErrors::new(),
        )
    });
    let mut facts = vec![
        ("Category", category_label(&c.category).to_owned()),
        (
            "Visibility",
            if c.visibility == "open" {
                "Open: any influencer may apply".into()
            } else {
                "Invite-only".into()
            },
        ),
        (
            "Products",
            if c.product_scope == "category" {
                format!(
                    "Every active {} product",
                    category_label(&c.category).to_lowercase()
                )
            } else {
                pages::count(d.products.len(), "chosen product", "chosen products")
            },
        ),
        (
            "Runs",
            match c.ends_at {
                Some(e) => format!("{} to {}", fmt_date(c.starts_at, tz), fmt_date(e, tz)),
                None => format!("from {}, no end date", fmt_date(c.starts_at, tz)),
            },
        ),
        (
            "Attribution window",
            format!(
                "{} after a click",
                pages::count(c.attribution_days, "day", "days")
            ),
        ),
        (
            "Hold",
            format!(
                "{} before commissions become available",
                pages::count(c.hold_days, "day", "days")
            ),
        ),
    ];
    if let Some(m) = c.min_followers {
        facts.push(("Minimum followers", compact_count(m)));
    }
    if !c.target_regions.is_empty() {
        facts.push(("Target regions", c.target_regions.replace(',', ", ")));
    }
    match c.budget_cap_minor {
        Some(cap) => facts.push((
            "Budget",
            format!(
                "{} committed of a {} cap ({}){}",
                money(&c.currency, d.committed_minor),
                money(&c.currency, cap),
                percent_of(d.committed_minor, cap),
                if d.committed_minor >= cap {
                    ": used up, orders earn nothing more"
                } else {
                    ""
                }
            ),
        )),
        None => facts.push((
            "Committed",
            format!("{} (no budget cap)", money(&c.currency, d.committed_minor)),
        )),
    }
    let actions = match cstate {
        CampaignState::Draft => vec![("activate", "Activate", false)],
        CampaignState::Active => vec![("pause", "Pause", false), ("end", "End campaign", true)],
        CampaignState::Paused => vec![("resume", "Resume", false), ("end", "End campaign", true)],
        CampaignState::Ended => vec![],
    };
    let personal_rate = |bps: Option<i32>| bps.map(show_bps);
    let view = |(col, inf): &(
        crate::db::models::Collaboration,
        crate::db::models::Influencer,
    )| CollabView {
        id: col.id,
        score: d.scores.get(&inf.id).map_or(0, |s| s.score),
        reasons: d
            .scores
            .get(&inf.id)
            .map(|s| s.summary())
            .unwrap_or_default(),
        bio: inf.bio.clone(),
        handle: inf.handle.clone(),
        name: inf.display_name.clone(),
        followers: compact_count(inf.total_followers),
        state: CollabState::parse(&col.state).map_or("Unknown", |s| s.label()),
        rate: personal_rate(col.custom_rate_bps).unwrap_or_else(|| "campaign rules".into()),
        coupon: match &coupon_retry {
            Some(r) if r.collaboration_id == col.id => r.typed.clone(),
            _ => col.coupon_code.clone().unwrap_or_default(),
        },
        coupon_error: match &coupon_retry {
            Some(r) if r.collaboration_id == col.id => r.error.clone(),
            _ => String::new(),
        },
        message: col.message.clone(),
        since: fmt_date(col.updated_at, tz),
    };
    let by_state = |s: &str| {
        d.collaborations
            .iter()
            .filter(|(c, _)| c.state == s)
            .map(view)
            .collect::<Vec<_>>()
    };
    let mut closed = by_state("declined");
    closed.extend(by_state("ended"));
    Ok(ShowPage {
        ctx: PageCtx::new(session, Some(&user.0), c.name.clone(), "campaigns"),
        id: c.id,
        name: c.name.clone(),
        description: c.description.clone(),
        state: cstate.label(),
        state_key: c.state.clone(),
        facts,
        actions,
        versions: d
            .history
            .iter()
            .map(|(v, r)| VersionView {
                version: v.version,
                effective: fmt_datetime(v.effective_at, tz),
                lines: describe_rules(r, &c.currency),
            })
            .collect(),
        rules_form,
        rules_errors,
        products: d
            .products
            .iter()
            .map(|p| {
                let (rate, source) =
                    current
                        .as_ref()
                        .map_or((RateBps::saturating(0), "campaign rate"), |r| {
                            let (rate, s) = r.rate_for(&p.sku, &p.category, None);
                            (rate, s.label())
                        });
                ProductView {
                    sku: p.sku.clone(),
                    title: p.title.clone(),
                    price: price_of(p),
                    rate: rate.percent(),
                    source,
                    active: p.active,
                }
            })
            .collect(),
        applied: by_state("applied"),
        invited: by_state("invited"),
        active: by_state("active"),
        closed,
        live: cstate.is_live(),
        ended: cstate == CampaignState::Ended,
        draft: cstate == CampaignState::Draft,
    })
}

#[get("/merchant/campaigns/{id}")]
async fn show(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    pages::ok(&show_page(&state, &session, &user, path.into_inner(), None, None).await?)
}

#[post("/merchant/campaigns/{id}/rules")]
async fn update_rules(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
    form: CsrfForm<RulesFormFields>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let id = path.into_inner();
    let (now, uid, input) = (state.now(), user.0.id, form.clone());
    match state
        .db(move |conn| svc::update_rules(conn, now, uid, id, &input))
        .await
    {
        Ok(v) => {
            let msg = if v > 1 {
                format!(
                    "New rules saved as version {v}, effective now. Earlier commissions keep the rules they were made with."
                )
            } else {
                "Commission rules saved.".to_owned()
            };
            session::flash(&session, "success", msg);
            Ok(pages::redirect(&format!("/merchant/campaigns/{id}#rules")))
        }
        Err(AppError::Validation(errors)) => pages::invalid(
            &show_page(&state, &session, &user, id, Some((form, errors)), None).await?,
        ),
        Err(AppError::Conflict(msg)) => {
            session::flash(&session, "error", msg);
            Ok(pages::redirect(&format!("/merchant/campaigns/{id}")))
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct StateForm {
    action: String,
}

#[post("/merchant/campaigns/{id}/state")]
async fn change_state(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
    form: CsrfForm<StateForm>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let action = CampaignAction::parse(&form.0.action)
        .ok_or_else(|| AppError::BadRequest("Unknown action.".into()))?;
    let (now, uid) = (state.now(), user.0.id);
    match state
        .db(move |conn| svc::change_state(conn, now, uid, id, action))
        .await
    {
        Ok(s) => session::flash(
            &session,
            "success",
            format!("The campaign is now {}.", s.label().to_lowercase()),
        ),
        Err(AppError::Conflict(msg)) => session::flash(&session, "error", msg),
        Err(e) => return Err(e),
    }
    Ok(pages::redirect(&format!("/merchant/campaigns/{id}")))
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
struct DiscoverQuery {
    category: Option<String>,
    platform: String,
    region: String,
    min_followers: String,
    max_followers: String,
    min_engagement: String,
    page: Option<usize>,
}

struct CandidateView {
    id: i64,
    handle: String,
    name: String,
    score: u8,
    reasons: String,
    followers: String,
    engagement: String,
    categories: String,
    regions: String,
    platforms: String,
    collaboration: Option<&'static str>,
    /// A refused invitation to this influencer: what was typed and why, the form open.
    invite_open: bool,
    invite_rate: String,
    invite_message: String,
    rate_error: String,
    message_error: String,
}

#[derive(Template)]
#[template(path = "merchant/discover.html")]
struct DiscoverPage {
    ctx: PageCtx,
    id: i64,
    name: String,
    query: DiscoverQuery,
    categories: Vec<SelectOption>,
    platforms: Vec<SelectOption>,
    regions: Vec<SelectOption>,
    rows: Vec<CandidateView>,
    total: usize,
    capped: bool,
    page: usize,
    prev_href: Option<String>,
    next_href: Option<String>,
    errors: Vec<String>,
    can_invite: bool,
    /// This page's address with its filters, where an invitation sent from it comes back.
    here: String,
}

/// A follower count as typed ("12,000"): a whole number, not negative.
fn parse_count(s: &str) -> Option<i64> {
    let t: String = s.trim().chars().filter(|c| *c != ',').collect();
    if t.is_empty() {
        None
    } else {
        t.parse().ok().filter(|n: &i64| *n >= 0)
    }
}

#[get("/merchant/campaigns/{id}/discover")]
async fn discover(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
    query: web::Query<DiscoverQuery>,
) -> AppResult<HttpResponse> {
    let page = discover_page(
        &state,
        &session,
        &user,
        path.into_inner(),
        query.into_inner(),
        None,
    )
    .await?;
    pages::ok(&page)
}

/// An invitation that was refused for what was typed: shown again, open, on its card.
struct InviteRetry {
    influencer_id: i64,
    rate: String,
    message: String,
    errors: FieldErrors,
}

async fn discover_page(
    state: &AppState,
    session: &Session,
    user: &MerchantUser,
    id: i64,
    query: DiscoverQuery,
    retry: Option<InviteRetry>,
) -> AppResult<DiscoverPage> {
    let uid = user.0.id;
    let campaign = state
        .db(move |conn| svc::get_for_merchant(conn, uid, id))
        .await?;
    // The category defaults to the campaign's; "any" clears it.
    let category = match query.category.as_deref() {
        None => campaign.category.clone(),
        Some("any") | Some("") => String::new(),
        Some(c) => c.to_owned(),
    };
    let mut errors = Vec::new();
    let mut count = |s: &str, what: &str| {
        let v = parse_count(s);
        if v.is_none() && !s.trim().is_empty() {
            errors.push(format!("{what} must be a whole number, 0 or more."));
        }
        v
    };
    let min_followers = count(&query.min_followers, "Minimum followers");
    let max_followers = count(&query.max_followers, "Maximum followers");
    let min_engagement = if query.min_engagement.trim().is_empty() {
        None
    } else {
        match RateBps::parse_percent(&query.min_engagement) {
            Ok(r) => Some(r.bps()),
            Err(e) => {
                errors.push(format!("Minimum engagement: {e}"));
                None
            }
        }
    };
    let filter = DiscoveryFilter {
        category: Some(category.clone()).filter(|c| !c.is_empty()),
        platform: Some(query.platform.clone()).filter(|c| !c.is_empty()),
        region: Some(query.region.clone()).filter(|c| !c.is_empty()),
        min_followers,
        max_followers,
        min_engagement_bps: min_engagement,
    };
    let page_no = query.page.unwrap_or(1).clamp(1, 10_000);
    let found = state
        .db(move |conn| marketplace::discover(conn, uid, id, &filter, page_no))
        .await?;
    let pages_n = found.total.div_ceil(marketplace::DISCOVER_PAGE).max(1);
    let href = |p: usize| {
        let mut parts = vec![format!(
            "category={}",
            if category.is_empty() {
                "any".to_owned()
            } else {
                urlencode(&category)
            }
        )];
        for (k, v) in [
            ("platform", &query.platform),
            ("region", &query.region),
            ("min_followers", &query.min_followers),
            ("max_followers", &query.max_followers),
            ("min_engagement", &query.min_engagement),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", urlencode(v)));
            }
        }
        if p > 1 {
            parts.push(format!("page={p}"));
        }
        format!("/merchant/campaigns/{id}/discover?{}", parts.join("&"))
    };
    let mut categories = category_options(&category, Some("Any category"));
    if let Some(first) = categories.first_mut() {
        first.value = "any".into();
    }
    Ok(DiscoverPage {
        ctx: PageCtx::new(
            session,
            Some(&user.0),
            format!("Find influencers · {}", found.campaign.name),
            "campaigns",
        ),
        id,
        name: found.campaign.name.clone(),
        can_invite: found.campaign.state != "ended",
        categories,
        platforms: std::iter::once(SelectOption {
            value: String::new(),
            label: "Any platform".into(),
            selected: query.platform.is_empty(),
        })
        .chain(PLATFORMS.iter().map(|(v, l)| SelectOption {
            value: (*v).into(),
            label: (*l).into(),
            selected: query.platform == *v,
        }))
        .collect(),
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
        rows: found
            .candidates
            .into_iter()
            .map(|c| {
                let retry = retry
                    .as_ref()
                    .filter(|r| r.influencer_id == c.influencer.id);
                CandidateView {
                    invite_rate: retry.map(|r| r.rate.clone()).unwrap_or_default(),
                    invite_message: retry.map(|r| r.message.clone()).unwrap_or_default(),
                    rate_error: retry
                        .and_then(|r| r.errors.get("rate"))
                        .unwrap_or_default()
                        .to_owned(),
                    message_error: retry
                        .and_then(|r| r.errors.get("message"))
                        .unwrap_or_default()
                        .to_owned(),
                    invite_open: retry.is_some(),
                    id: c.influencer.id,
                    handle: c.influencer.handle.clone(),
                    name: c.influencer.display_name.clone(),
                    score: c.score.score,
                    reasons: c.score.summary(),
                    followers: compact_count(c.influencer.total_followers),
                    engagement: show_bps(c.influencer.engagement_bps),
                    categories: c
                        .categories
                        .iter()
                        .map(|x| category_label(x))
                        .collect::<Vec<_>>()
                        .join(", "),
                    regions: c.regions.join(", "),
                    platforms: c
                        .platforms
                        .iter()
                        .map(|p| platform_label(p))
                        .collect::<Vec<_>>()
                        .join(", "),
                    collaboration: c
                        .collaboration
                        .as_deref()
                        .and_then(CollabState::parse)
                        .map(|s| s.label()),
                }
            })
            .collect(),
        total: found.total,
        capped: found.capped,
        page: page_no,
        here: href(page_no),
        prev_href: (page_no > 1).then(|| href(page_no - 1)),
        next_href: (page_no < pages_n).then(|| href(page_no + 1)),
        errors,
        query,
    })
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct InviteForm {
    influencer_id: String,
    rate: String,
    message: String,
    /// The Find influencers page (with its filters) the invitation was sent from.
    back: String,
}

#[post("/merchant/campaigns/{id}/invite")]
async fn invite(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
    form: CsrfForm<InviteForm>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let form = form.0;
    let influencer_id: i64 = form.influencer_id.parse().map_err(|_| AppError::NotFound)?;
    // Back to Find influencers with its filters, at the influencer's card; else the campaign.
    let discover_path = format!("/merchant/campaigns/{id}/discover");
    let from_discover =
        super::safe_next(Some(&form.back)).filter(|b| b.starts_with(&discover_path));
    let back = from_discover
        .as_ref()
        .map(|b| format!("{b}#c-{influencer_id}"))
        .unwrap_or_else(|| format!("/merchant/campaigns/{id}#collaborations"));
    let (now, base, uid) = (state.now(), state.base_url.clone(), user.0.id);
    let (rate, message) = (form.rate.clone(), form.message.clone());
    match state
        .db(move |conn| {
            collaborations::invite(
                conn,
                collaborations::Actor {
                    now,
                    base_url: &base,
                    user_id: uid,
                },
                id,
                influencer_id,
                &rate,
                &message,
            )
        })
        .await
    {
        Ok(_) => {
            state.wake_mailer();
            session::flash(
                &session,
                "success",
                "Invitation sent. The influencer gets an email and can accept or decline.",
            );
        }
        Err(AppError::Validation(errors)) => {
            // The same page again, the invitation open with what was typed and why.
            let query = from_discover
                .as_deref()
                .and_then(|b| b.split_once('?'))
                .and_then(|(_, q)| web::Query::<DiscoverQuery>::from_query(q).ok())
                .map(web::Query::into_inner)
                .unwrap_or_default();
            let retry = InviteRetry {
                influencer_id,
                rate: form.rate,
                message: form.message,
                errors,
            };
            let page = discover_page(&state, &session, &user, id, query, Some(retry)).await?;
            return pages::invalid(&page);
        }
        Err(AppError::Conflict(msg)) => session::flash(&session, "error", msg),
        Err(e) => return Err(e),
    }
    Ok(pages::redirect(&back))
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct CollabForm {
    action: String,
    message: String,
}

#[post("/merchant/collaborations/{id}")]
async fn collab_action(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
    form: CsrfForm<CollabForm>,
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
    let result = state
        .db(move |conn| {
            collaborations::act(
                conn,
                collaborations::Actor {
                    now,
                    base_url: &base,
                    user_id: uid,
                },
                Side::Merchant,
                id,
                action,
                &text,
            )
        })
        .await;
    let campaign = match result {
        Ok(c) => {
            state.wake_mailer();
            session::flash(
                &session,
                "success",
                format!("Collaboration {}.", action.past_tense()),
            );
            c.campaign_id
        }
        Err(AppError::Conflict(msg)) => {
            session::flash(&session, "error", msg);
            let uid = user.0.id;
            state
                .db(move |conn| {
                    let (m, _) = crate::service::merchant::org_of(conn, uid)?;
                    crate::db::collaborations::find_for_merchant(conn, m.id, id)?
                        .map(|c| c.campaign_id)
                        .ok_or(AppError::NotFound)
                })
                .await?
        }
        Err(e) => return Err(e),
    };
    Ok(pages::redirect(&format!(
        "/merchant/campaigns/{campaign}#collaborations"
    )))
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct CouponForm {
    coupon_code: String,
    campaign_id: String,
}

/// A coupon code that was refused: shown again in its row with the reason.
struct CouponRetry {
    collaboration_id: i64,
    typed: String,
    error: String,
}

#[post("/merchant/collaborations/{id}/coupon")]
async fn coupon(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
    form: CsrfForm<CouponForm>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let (now, uid, code) = (state.now(), user.0.id, form.0.coupon_code.clone());
    let campaign = state
        .db(move |conn| {
            let (m, _) = crate::service::merchant::org_of(conn, uid)?;
            crate::db::collaborations::find_for_merchant(conn, m.id, id)?
                .map(|c| c.campaign_id)
                .ok_or(AppError::NotFound)
        })
        .await?;
    match state
        .db(move |conn| collaborations::set_coupon(conn, now, uid, id, &code))
        .await
    {
        Ok(code) => session::flash(&session, "success", format!("Coupon code set to {code}.")),
        Err(AppError::Validation(e)) => {
            let retry = CouponRetry {
                collaboration_id: id,
                typed: form.0.coupon_code,
                error: e
                    .get("coupon_code")
                    .unwrap_or("This code cannot be used.")
                    .to_owned(),
            };
            let page = show_page(&state, &session, &user, campaign, None, Some(retry)).await?;
            return pages::invalid(&page);
        }
        Err(e) => return Err(e),
    }
    Ok(pages::redirect(&format!(
        "/merchant/campaigns/{campaign}#collaborations"
    )))
}
