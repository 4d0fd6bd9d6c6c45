//! The influencer area. Its first page is the profile: details, categories and audience,
//! social accounts, payout method.

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;

use super::extract::{ClientAddress, CsrfForm, InfluencerUser};
use super::pages::{
    self, CheckOption, PageCtx, SelectOption, check_options, country_options, fmt_date,
};
use super::session;
use crate::db::models::SocialAccount;
use crate::domain::catalog::{CATEGORIES, LANGUAGES, PLATFORMS, compact_count, platform_label};
use crate::domain::rate::show_bps;
use crate::domain::validate::{COUNTRIES, FieldErrors};
use crate::error::{AppError, AppResult};
use crate::service::influencer::{self, PayoutForm, ProfileForm, SocialAccountForm};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(home)
        .service(dashboard)
        .service(update_profile)
        .service(add_account)
        .service(remove_account)
        .service(save_payout);
}

struct AccountRow {
    id: i64,
    platform: &'static str,
    handle: String,
    followers: String,
    avg_views: String,
    engagement: String,
}

fn account_row(a: SocialAccount) -> AccountRow {
    AccountRow {
        id: a.id,
        platform: PLATFORMS
            .iter()
            .find(|(s, _)| *s == a.platform)
            .map_or("Other", |(_, l)| *l),
        handle: a.handle,
        followers: compact_count(a.followers),
        avg_views: compact_count(a.avg_views),
        engagement: show_bps(a.engagement_bps),
    }
}

#[derive(Template)]
#[template(path = "influencer/profile.html")]
struct ProfilePage {
    ctx: PageCtx,
    handle: String,
    joined: String,
    missing: Vec<&'static str>,
    reach: String,
    form: ProfileForm,
    errors: FieldErrors,
    countries: Vec<SelectOption>,
    categories: Vec<CheckOption>,
    regions: Vec<CheckOption>,
    languages: Vec<CheckOption>,
    accounts: Vec<AccountRow>,
    account_form: SocialAccountForm,
    account_errors: FieldErrors,
    platforms: Vec<SelectOption>,
    payout_summary: Option<String>,
    payout_form: PayoutForm,
    payout_errors: FieldErrors,
    payout_currencies: Vec<SelectOption>,
}

/// What a re-rendered page keeps: the form that was sent and its errors.
#[derive(Default)]
struct Sent {
    profile: Option<(ProfileForm, FieldErrors)>,
    account: Option<(SocialAccountForm, FieldErrors)>,
    payout: Option<(PayoutForm, FieldErrors)>,
}

async fn profile_page(
    state: &AppState,
    session: &Session,
    user: &InfluencerUser,
    sent: Sent,
) -> AppResult<ProfilePage> {
    let uid = user.0.id;
    let full = state
        .db(move |conn| {
            let p = influencer::profile_of(conn, uid)?;
            influencer::full_profile(conn, p)
        })
        .await?;
    let (form, errors) = sent
        .profile
        .unwrap_or_else(|| (ProfileForm::from_profile(&full), FieldErrors::new()));
    let (account_form, account_errors) = sent.account.unwrap_or_default();
    let (payout_form, payout_errors) = sent.payout.unwrap_or_else(|| {
        (
            PayoutForm {
                method: full
                    .profile
                    .payout_method
                    .clone()
                    .unwrap_or_else(|| "bank".into()),
                currency: full
                    .profile
                    .payout_currency
                    .clone()
                    .unwrap_or_else(|| "CNY".into()),
                ..PayoutForm::default()
            },
            FieldErrors::new(),
        )
    });
    let mut missing = Vec::new();
    if full.profile.bio.is_empty() {
        missing.push("a short bio");
    }
    if full.categories.is_empty() {
        missing.push("your categories");
    }
    if full.regions.is_empty() {
        missing.push("where your audience is");
    }
    if full.accounts.is_empty() {
        missing.push("a social account");
    }
    if full.profile.payout_method.is_none() {
        missing.push("a payout method");
    }
    Ok(ProfilePage {
        ctx: PageCtx::new(session, Some(&user.0), "Your profile", "profile"),
        handle: full.profile.handle.clone(),
        joined: fmt_date(full.profile.created_at, user.0.time_zone),
        reach: format!(
            "{} · {} engagement",
            crate::domain::catalog::compact_count_of(
                full.profile.total_followers,
                "follower",
                "followers"
            ),
            show_bps(full.profile.engagement_bps)
        ),
        missing,
        countries: country_options(&form.country),
        categories: check_options(CATEGORIES, &form.categories),
        regions: check_options(COUNTRIES, &form.regions),
        languages: check_options(LANGUAGES, &form.languages),
        form,
        errors,
        accounts: full.accounts.into_iter().map(account_row).collect(),
        platforms: PLATFORMS
            .iter()
            .map(|(v, l)| SelectOption {
                value: (*v).into(),
                label: (*l).into(),
                selected: account_form.platform == *v,
            })
            .collect(),
        account_form,
        account_errors,
        payout_summary: influencer::payout_summary(&full.profile, &state.sealer),
        payout_currencies: pages::currency_options(&payout_form.currency),
        payout_form,
        payout_errors,
    })
}

#[get("/influencer")]
async fn home(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
) -> AppResult<HttpResponse> {
    let page = profile_page(&state, &session, &user, Sent::default()).await?;
    pages::ok(&page)
}

struct CurrencyCard {
    currency: String,
    pending: String,
    available: String,
    in_payout: String,
    paid: String,
    negative: bool,
    clawbacks: Vec<String>,
    /// (schedule, when in the reader's zone, what it would pay or why not, paid?)
    next: Option<(String, String, String, bool)>,
}

struct WhyCard {
    title: String,
    total: String,
    count: usize,
    kind: &'static str,
    lines: Vec<(String, String, String, String)>,
    more: usize,
}

/// How many lines a group shows; the rest are on the Earnings page.
const WHY_LINES: usize = 50;

#[derive(Template)]
#[template(path = "influencer/home.html")]
struct DashboardPage {
    ctx: PageCtx,
    cards: Vec<CurrencyCard>,
    why: Vec<WhyCard>,
    rv: super::dashboards::RangeView,
    charts: Vec<super::charts::Chart>,
    table: super::dashboards::TableView,
    live_now: Vec<super::live::LiveNowView>,
}

/// The influencer's home: what they earned and when they get it.
#[get("/influencer/dashboard")]
async fn dashboard(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    query: web::Query<crate::service::metrics::RangeQuery>,
) -> AppResult<HttpResponse> {
    use crate::service::dashboard::WhyKind;
    let perf = super::dashboards::influencer_performance(&state, &user, &query).await?;
    let (uid, now, tz) = (user.0.id, state.now(), user.0.time_zone);
    let data = state
        .db(move |conn| {
            let me = influencer::profile_of(conn, uid)?;
            crate::service::dashboard::influencer_home(conn, now, me.id, &|t| fmt_date(t, tz))
        })
        .await?;
    let live_now = super::live::live_now(&state, tz, Some(uid), None).await?;
    let show = super::orders::show;
    let page = DashboardPage {
        live_now,
        ctx: PageCtx::new(&session, Some(&user.0), "Home", "dashboard"),
        cards: data
            .currencies
            .iter()
            .map(|c| CurrencyCard {
                currency: c.currency.clone(),
                pending: show(c.pending_minor, &c.currency),
                available: show(c.available_minor, &c.currency),
                in_payout: show(c.in_payout_minor, &c.currency),
                paid: show(c.paid_minor, &c.currency),
                negative: c.available_minor < 0,
                clawbacks: c
                    .clawbacks
                    .iter()
                    .map(|(refund, order, amount)| {
                        format!(
                            "Refund {refund} of order {order} took back {} after it was paid",
                            show(*amount, &c.currency)
                        )
                    })
                    .collect(),
                next: c.next.as_ref().map(|n| {
                    let (what, pays) = match &n.estimate {
                        Ok(amount) => (
                            format!("It would pay you {}.", show(*amount, &c.currency)),
                            true,
                        ),
                        Err(reason) => (format!("It would not pay you: {reason}."), false),
                    };
                    (
                        n.schedule.clone(),
                        pages::fmt_datetime(n.at, tz),
                        what,
                        pays,
                    )
                }),
            })
            .collect(),
        why: data
            .why
            .iter()
            .map(|g| WhyCard {
                title: g.title.clone(),
                total: show(g.total_minor, &g.currency),
                count: g.lines.len(),
                kind: match g.kind {
                    WhyKind::Hold => "hold",
                    WhyKind::Frozen => "frozen",
                    WhyKind::Available => "available",
                    WhyKind::InPayout => "in_payout",
                },
                lines: g
                    .lines
                    .iter()
                    .take(WHY_LINES)
                    .map(|l| {
                        (
                            l.order_id.clone(),
                            l.campaign.clone(),
                            show(l.amount_minor, &g.currency),
                            l.note.clone(),
                        )
                    })
                    .collect(),
                more: g.lines.len().saturating_sub(WHY_LINES),
            })
            .collect(),
        rv: perf.rv,
        charts: perf.charts,
        table: perf.table,
    };
    pages::ok(&page)
}

#[post("/influencer/profile")]
async fn update_profile(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    form: CsrfForm<ProfileForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, uid, input) = (state.now(), user.0.id, form.clone());
    match state
        .db(move |conn| influencer::update_profile(conn, now, uid, &input))
        .await
    {
        Ok(_) => {
            session::flash(&session, "success", "Profile saved.");
            Ok(pages::redirect("/influencer"))
        }
        Err(AppError::Validation(errors)) => {
            let sent = Sent {
                profile: Some((form, errors)),
                ..Sent::default()
            };
            pages::invalid(&profile_page(&state, &session, &user, sent).await?)
        }
        Err(e) => Err(e),
    }
}

#[post("/influencer/accounts")]
async fn add_account(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    form: CsrfForm<SocialAccountForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, uid, input) = (state.now(), user.0.id, form.clone());
    match state
        .db(move |conn| influencer::add_account(conn, now, uid, &input))
        .await
    {
        Ok(()) => {
            session::flash(
                &session,
                "success",
                format!(
                    "{} account @{} added.",
                    platform_label(&form.platform),
                    form.account_handle.trim().trim_start_matches('@')
                ),
            );
            Ok(pages::redirect("/influencer#accounts"))
        }
        Err(AppError::Validation(errors)) => {
            let sent = Sent {
                account: Some((form, errors)),
                ..Sent::default()
            };
            pages::invalid(&profile_page(&state, &session, &user, sent).await?)
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, serde::Deserialize, Default)]
struct Empty {}

#[post("/influencer/accounts/{id}/remove")]
async fn remove_account(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    path: web::Path<i64>,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    let (uid, id) = (user.0.id, path.into_inner());
    state
        .db(move |conn| influencer::remove_account(conn, uid, id))
        .await?;
    session::flash(&session, "success", "Account removed.");
    Ok(pages::redirect("/influencer#accounts"))
}

#[post("/influencer/payout")]
async fn save_payout(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    address: ClientAddress,
    form: CsrfForm<PayoutForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, uid, input, sealer, base) = (
        state.now(),
        user.0.id,
        form.clone(),
        state.sealer.clone(),
        state.base_url.clone(),
    );
    match state
        .db(move |conn| influencer::save_payout(conn, now, &sealer, &base, uid, &address.0, &input))
        .await
    {
        Ok(()) => {
            state.wake_mailer();
            session::flash(
                &session,
                "success",
                "Payout method saved. We emailed you about the change.",
            );
            Ok(pages::redirect("/influencer#payout"))
        }
        Err(AppError::Validation(errors)) => {
            // Never echo account numbers back into the page.
            let kept = PayoutForm {
                account_number: String::new(),
                current_password: String::new(),
                ..form
            };
            let sent = Sent {
                payout: Some((kept, errors)),
                ..Sent::default()
            };
            pages::invalid(&profile_page(&state, &session, &user, sent).await?)
        }
        Err(e) => Err(e),
    }
}
