//! Orders and money in the portal: one merchant order with its trace, order import and
//! postback integration; finance's review of frozen commissions; the admin's platform fees.
//! The lists (the merchant's orders, the influencer's earnings) are in `order_lists`.

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::extract::{AdminUser, CsrfForm, FinanceUser, MerchantUser};
use super::pages::{self, PageCtx, SelectOption, fmt_date, fmt_datetime};
use super::session;
use crate::domain::money::{Currency, Money};
use crate::domain::rate::RateBps;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};
use crate::service::reports;
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(import_form)
        .service(import_preview)
        .service(import_confirm)
        .service(order)
        .service(integration)
        .service(rotate_secret)
        .service(retire_secrets)
        .service(shopify_secret)
        .service(review)
        .service(review_one)
        .service(admin_merchants)
        .service(admin_fee);
}

/// An amount for people: `¥46.35`, `$1,234.50`.
pub fn show(minor: i64, currency: &str) -> String {
    Currency::parse(currency)
        .ok()
        .and_then(|c| Money::from_minor(minor, c).ok())
        .map_or_else(|| format!("{minor} {currency}"), |m| m.display())
}

pub fn state_label(state: &str) -> &'static str {
    match state {
        "pending" => "Pending (held for returns)",
        "available" => "Available",
        "in_payout" => "In payout",
        "paid" => "Paid",
        "frozen" => "Frozen for review",
        "rejected" => "Rejected",
        _ => "Unknown",
    }
}

fn signal_label(signal: &str) -> &'static str {
    match signal {
        "coupon" => "Coupon",
        "click" => "Stream link",
        _ => "Unattributed",
    }
}

struct DetailLine {
    sku: String,
    quantity: i64,
    unit_price: String,
    discount: String,
    base: String,
    rate: String,
    source: String,
    commission: String,
}

struct DetailRefund {
    refund_id: String,
    when: String,
    amount: String,
    effect: String,
    /// Commission and fee no longer owed because of this refund (empty: none).
    less_owed: String,
}

struct CommissionView {
    amount: String,
    fee: String,
    /// What the merchant owes for the order now (commission + fee, less what refunds and a
    /// rejection took back), and what was taken back (empty: nothing).
    owed: String,
    taken_back: String,
    state: &'static str,
    available: String,
    explanation: String,
}

struct DetailEvent {
    when: String,
    to: &'static str,
    note: String,
}

#[derive(Template)]
#[template(path = "merchant/order.html")]
struct OrderPage {
    ctx: PageCtx,
    order_id: String,
    when: String,
    currency: String,
    base: String,
    signal: &'static str,
    note: String,
    influencer: String,
    link: String,
    stream: String,
    coupon: String,
    click_id: String,
    lines: Vec<DetailLine>,
    commission: Option<CommissionView>,
    refunds: Vec<DetailRefund>,
    events: Vec<DetailEvent>,
}

#[get("/merchant/orders/{id}")]
async fn order(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let (uid, id) = (user.0.id, path.into_inner());
    let d = state
        .db(move |conn| reports::merchant_order(conn, uid, id))
        .await?;
    let tz = user.0.time_zone;
    let c = &d.recorded.conversion;
    let cur = c.currency.as_str();
    let page = OrderPage {
        ctx: PageCtx::new(
            &session,
            Some(&user.0),
            format!("Order {}", c.order_id),
            "orders",
        ),
        order_id: c.order_id.clone(),
        when: fmt_datetime(c.occurred_at, tz),
        currency: c.currency.clone(),
        base: show(c.base_minor, cur),
        signal: signal_label(&c.signal),
        note: pages::localize(&c.attribution_note, tz),
        influencer: d.influencer.clone().unwrap_or_default(),
        link: d
            .link_code
            .as_ref()
            .map(|code| format!("{}/l/{code}", state.base_url))
            .unwrap_or_default(),
        stream: d.stream.clone().unwrap_or_default(),
        coupon: c.coupon_code.clone().unwrap_or_default(),
        click_id: c.click_id.clone().unwrap_or_default(),
        lines: d
            .recorded
            .lines
            .iter()
            .map(|l| DetailLine {
                sku: l.sku.clone(),
                quantity: l.quantity,
                unit_price: show(l.unit_price_minor, cur),
                discount: show(l.discount_minor, cur),
                base: show(l.base_minor, cur),
                rate: if l.rate_source == "none" {
                    "—".into()
                } else {
                    RateBps::saturating(l.rate_bps).percent()
                },
                source: match l.rate_source.as_str() {
                    "influencer" => "influencer's rate",
                    "sku" => "product rate",
                    "category" => "category rate",
                    "default" => "campaign rate",
                    _ => "not in the campaign",
                }
                .into(),
                commission: show(l.commission_minor, cur),
            })
            .collect(),
        commission: d.recorded.commission.as_ref().map(|k| CommissionView {
            owed: show(reports::owed(Some(k), &d.refunds).net_minor, cur),
            taken_back: {
                let o = reports::owed(Some(k), &d.refunds);
                if o.gross_minor == o.net_minor {
                    String::new()
                } else {
                    show(o.gross_minor - o.net_minor, cur)
                }
            },
            amount: show(k.amount_minor, cur),
            fee: if k.fee_minor == 0 {
                String::new()
            } else {
                show(k.fee_minor, cur)
            },
            state: state_label(&k.state),
            // When the commission can be paid: a date only where there is one (a frozen
            // commission has none until it is reviewed; a rejected one never will).
            available: match k.state.as_str() {
                "pending" => format!("available from {}", fmt_date(k.available_at, tz)),
                "frozen" => "no date until finance reviews it".to_owned(),
                "rejected" => "it will not be paid".to_owned(),
                _ => format!("available since {}", fmt_date(k.available_at, tz)),
            },
            explanation: pages::localize(&k.explanation, tz),
        }),
        refunds: d
            .refunds
            .iter()
            .map(|r| DetailRefund {
                refund_id: r.refund_id.clone(),
                when: fmt_datetime(r.occurred_at, tz),
                amount: show(r.amount_minor, cur),
                effect: match r.effect.as_str() {
                    "reversal" => "commission reversed",
                    "clawback" => "clawed back (already paid)",
                    _ => "no commission affected",
                }
                .into(),
                less_owed: if r.commission_minor + r.fee_minor == 0 {
                    String::new()
                } else {
                    show(r.commission_minor + r.fee_minor, cur)
                },
            })
            .collect(),
        events: d
            .events
            .iter()
            .map(|e| DetailEvent {
                when: fmt_datetime(e.created_at, tz),
                to: state_label(&e.to_state),
                note: e.note.clone(),
            })
            .collect(),
    };
    pages::render(&page, actix_web::http::StatusCode::OK)
}

struct SecretRow {
    prefix: String,
    created: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "merchant/integration.html")]
struct IntegrationPage {
    ctx: PageCtx,
    merchant_id: i64,
    base_url: String,
    secrets: Vec<SecretRow>,
    new_secret: Option<String>,
    shopify_set: bool,
    deliveries: Vec<DeliveryRow>,
    /// Only the owner makes, stops and saves secrets; members see who does.
    is_owner: bool,
    owner_name: String,
}

struct DeliveryRow {
    received: String,
    topic: String,
    outcome: String,
    /// The badge's tone: ok, muted or danger.
    tone: &'static str,
    subject: String,
    detail: String,
}

async fn integration_page(
    state: &AppState,
    session: &Session,
    user: &MerchantUser,
    new_secret: Option<String>,
) -> AppResult<HttpResponse> {
    let uid = user.0.id;
    let now = state.now();
    let crate::service::orders::Integration {
        merchant,
        secrets,
        shopify_set,
        deliveries,
    } = state
        .db(move |conn| crate::service::orders::integration(conn, now, uid))
        .await?;
    let (is_owner, owner_name) = state
        .db(move |conn| {
            let (org, me) = crate::service::merchant::org_of(conn, uid)?;
            Ok((
                crate::domain::account::MemberRole::parse(&me.member_role)
                    == crate::domain::account::MemberRole::Owner,
                crate::service::merchant::owner_name(conn, org.id)?,
            ))
        })
        .await?;
    let tz = user.0.time_zone;
    let page = IntegrationPage {
        ctx: PageCtx::new(session, Some(&user.0), "Integration", "integration"),
        merchant_id: merchant.id,
        base_url: state.base_url.clone(),
        secrets: secrets
            .iter()
            .map(|s| SecretRow {
                prefix: s.prefix.clone(),
                created: fmt_datetime(s.created_at, tz),
                expires: s
                    .expires_at
                    .map(|e| fmt_datetime(e, tz))
                    .unwrap_or_default(),
            })
            .collect(),
        new_secret,
        shopify_set,
        is_owner,
        owner_name,
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryRow {
                received: fmt_datetime(d.received_at, tz),
                tone: match d.outcome.as_str() {
                    "recorded" | "duplicate" => "ok",
                    "ignored" => "muted",
                    _ => "danger",
                },
                outcome: d.outcome,
                topic: d.topic,
                subject: d.subject,
                detail: d.detail,
            })
            .collect(),
    };
    pages::render(&page, actix_web::http::StatusCode::OK)
}

#[get("/merchant/integration")]
async fn integration(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
) -> AppResult<HttpResponse> {
    integration_page(&state, &session, &user, None).await
}

#[derive(Debug, Deserialize)]
struct Empty {}

/// Makes a new secret and shows it on this one answer (it is never shown again).
#[post("/merchant/integration/secret")]
async fn rotate_secret(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    let uid = user.0.id;
    let now = state.now();
    let secret = state
        .db(move |conn| crate::service::orders::rotate_secret_as_owner(conn, now, uid))
        .await?;
    let mut res = integration_page(&state, &session, &user, Some(secret)).await?;
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(res)
}

#[post("/merchant/integration/retire")]
async fn retire_secrets(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    let uid = user.0.id;
    let now = state.now();
    let n = state
        .db(move |conn| crate::service::orders::retire_old_secrets(conn, now, uid))
        .await?;
    session::flash(
        &session,
        "success",
        if n == 0 {
            "There was no older secret to stop.".to_owned()
        } else {
            "The older secret no longer works; only the newest one does.".to_owned()
        },
    );
    Ok(pages::redirect("/merchant/integration"))
}

#[derive(Debug, Deserialize)]
struct ShopifyForm {
    #[serde(default)]
    secret: String,
}

/// Saves (or, empty, removes) the Shopify webhook signing secret.
#[post("/merchant/integration/shopify")]
async fn shopify_secret(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    form: CsrfForm<ShopifyForm>,
) -> AppResult<HttpResponse> {
    let (uid, secret, now) = (user.0.id, form.0.secret, state.now());
    let set = state
        .db(move |conn| crate::service::orders::set_shopify_secret(conn, now, uid, &secret))
        .await?;
    session::flash(
        &session,
        "success",
        if set {
            "Shopify webhook secret saved: Shopify's orders and refunds are now accepted."
        } else {
            "Shopify webhook secret removed: Shopify webhooks are refused."
        },
    );
    Ok(pages::redirect("/merchant/integration"))
}

struct ReviewLine {
    id: i64,
    order_id: String,
    influencer: String,
    merchant: String,
    amount: String,
    reason: String,
    explanation: String,
}

#[derive(Template)]
#[template(path = "finance/review.html")]
struct ReviewPage {
    ctx: PageCtx,
    rows: Vec<ReviewLine>,
}

#[get("/finance/review")]
async fn review(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
) -> AppResult<HttpResponse> {
    let rows = state.db(reports::frozen).await?;
    let page = ReviewPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Review", "review"),
        rows: rows
            .iter()
            .map(|r| ReviewLine {
                id: r.commission.id,
                order_id: r.order_id.clone(),
                influencer: r.influencer.clone(),
                merchant: r.merchant.clone(),
                amount: show(r.commission.amount_minor, &r.commission.currency),
                reason: r.commission.frozen_reason.clone().unwrap_or_default(),
                explanation: pages::localize(&r.commission.explanation, user.0.time_zone),
            })
            .collect(),
    };
    pages::render(&page, actix_web::http::StatusCode::OK)
}

#[derive(Debug, Deserialize)]
struct ReviewForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    note: String,
}

#[post("/finance/commissions/{id}/review")]
async fn review_one(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
    form: CsrfForm<ReviewForm>,
) -> AppResult<HttpResponse> {
    let release = match form.0.action.as_str() {
        "release" => true,
        "reject" => false,
        _ => {
            let mut e = FieldErrors::new();
            e.add("action", "Choose release or reject.");
            return Err(AppError::Validation(e));
        }
    };
    let (uid, id, note, now) = (
        user.0.id,
        path.into_inner(),
        form.0.note.clone(),
        state.now(),
    );
    let c = state
        .db(move |conn| crate::service::orders::review_frozen(conn, now, uid, id, release, &note))
        .await?;
    state.live.touch_merchant(c.merchant_id);
    session::flash(
        &session,
        "success",
        format!(
            "Commission #{} {}.",
            c.id,
            if release {
                "released: it becomes available when its hold ends"
            } else {
                "rejected and reversed in the ledger"
            }
        ),
    );
    Ok(pages::redirect("/finance/review"))
}

struct MerchantFeeRow {
    id: i64,
    name: String,
    slug: String,
    fee: String,
    /// The error of this row's form as sent (its value is then what was typed).
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/merchants.html")]
struct MerchantsPage {
    ctx: PageCtx,
    rows: Vec<MerchantFeeRow>,
}

/// The merchants page; `sent`: a fee form as sent for one merchant, with its error.
async fn merchants_page(
    state: &AppState,
    session: &Session,
    user: &AdminUser,
    sent: Option<(i64, String, String)>,
) -> AppResult<HttpResponse> {
    let rows = state.db(crate::service::admin::merchant_fees).await?;
    let status = if sent.is_some() {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        actix_web::http::StatusCode::OK
    };
    let page = MerchantsPage {
        ctx: PageCtx::new(session, Some(&user.0), "Merchants", "merchants"),
        rows: rows
            .into_iter()
            .map(|(m, fee)| {
                let mine = sent.as_ref().filter(|(id, _, _)| *id == m.id);
                MerchantFeeRow {
                    id: m.id,
                    name: m.name,
                    slug: m.slug,
                    fee: mine.map_or_else(
                        || RateBps::saturating(fee).form_value(),
                        |(_, typed, _)| typed.clone(),
                    ),
                    error: mine.map(|(_, _, e)| e.clone()),
                }
            })
            .collect(),
    };
    pages::render(&page, status)
}

#[get("/admin/merchants")]
async fn admin_merchants(
    state: web::Data<AppState>,
    session: Session,
    user: AdminUser,
) -> AppResult<HttpResponse> {
    merchants_page(&state, &session, &user, None).await
}

#[derive(Debug, Deserialize)]
struct FeeForm {
    #[serde(default)]
    fee: String,
}

#[post("/admin/merchants/{id}/fee")]
async fn admin_fee(
    state: web::Data<AppState>,
    session: Session,
    user: AdminUser,
    path: web::Path<i64>,
    form: CsrfForm<FeeForm>,
) -> AppResult<HttpResponse> {
    let (id, actor, now, fee) = (path.into_inner(), user.0.id, state.now(), form.0.fee);
    let typed = fee.clone();
    let rate = match state
        .db(move |conn| crate::service::admin::set_platform_fee(conn, now, actor, id, &fee))
        .await
    {
        Ok(rate) => rate,
        // Back to the page, the error under this merchant's field and what was typed kept.
        Err(AppError::Validation(e)) => {
            let message = e
                .iter()
                .next()
                .map_or_else(|| "Check the fee.".to_owned(), |f| f.message.clone());
            return merchants_page(&state, &session, &user, Some((id, typed, message))).await;
        }
        Err(e) => return Err(e),
    };
    session::flash(
        &session,
        "success",
        format!(
            "Platform fee set to {} for new commissions.",
            rate.percent()
        ),
    );
    Ok(pages::redirect("/admin/merchants"))
}

struct ImportLine {
    line: usize,
    id: String,
    status: &'static str,
    class: &'static str,
    detail: String,
}

#[derive(Template)]
#[template(path = "merchant/order_import.html")]
struct OrderImportPage {
    ctx: PageCtx,
    kind: String,
    kinds: Vec<SelectOption>,
    csv: String,
    error: Option<String>,
    rows: Vec<ImportLine>,
    summary: Option<crate::service::order_import::Summary>,
}

fn import_page(
    session: &Session,
    user: &MerchantUser,
    kind: &str,
    csv: String,
    error: Option<String>,
    rows: Vec<ImportLine>,
    summary: Option<crate::service::order_import::Summary>,
) -> OrderImportPage {
    OrderImportPage {
        ctx: PageCtx::new(session, Some(&user.0), "Import orders", "orders"),
        kind: kind.to_owned(),
        kinds: [("orders", "Orders"), ("refunds", "Refunds")]
            .iter()
            .map(|(v, l)| SelectOption {
                value: (*v).into(),
                label: (*l).into(),
                selected: kind == *v,
            })
            .collect(),
        csv,
        error,
        rows,
        summary,
    }
}

#[derive(Debug, Deserialize, Default)]
struct ImportQuery {
    #[serde(default)]
    kind: String,
}

#[get("/merchant/orders/import")]
async fn import_form(
    session: Session,
    user: MerchantUser,
    query: web::Query<ImportQuery>,
) -> AppResult<HttpResponse> {
    let kind = if query.kind == "refunds" {
        "refunds"
    } else {
        "orders"
    };
    pages::ok(&import_page(
        &session,
        &user,
        kind,
        String::new(),
        None,
        Vec::new(),
        None,
    ))
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ImportForm {
    kind: String,
    csv: String,
}

fn import_kind(raw: &str) -> AppResult<crate::service::order_import::Kind> {
    crate::service::order_import::Kind::parse(raw).ok_or_else(|| {
        let mut e = FieldErrors::new();
        e.add("kind", "Choose orders or refunds.");
        AppError::Validation(e)
    })
}

#[post("/merchant/orders/import/preview")]
async fn import_preview(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    form: CsrfForm<ImportForm>,
) -> AppResult<HttpResponse> {
    let ImportForm {
        kind: raw_kind,
        csv,
    } = form.0;
    let kind = import_kind(&raw_kind)?;
    let (uid, now, text) = (user.0.id, state.now(), csv.clone());
    let result = state
        .db(move |conn| crate::service::order_import::preview(conn, now, uid, kind, &text))
        .await;
    let (rows, summary, error) = match result {
        Ok((lines, summary)) => (
            lines
                .into_iter()
                .map(|l| ImportLine {
                    line: l.line,
                    id: l.id,
                    status: match l.status {
                        "new" => "New",
                        "unchanged" => "Already imported",
                        _ => "Error",
                    },
                    class: match l.status {
                        "new" => "ok",
                        "unchanged" => "muted",
                        _ => "danger",
                    },
                    detail: l.detail,
                })
                .collect(),
            Some(summary),
            None,
        ),
        Err(AppError::Validation(e)) => (Vec::new(), None, e.get("csv").map(str::to_owned)),
        Err(e) => return Err(e),
    };
    let page = import_page(&session, &user, &raw_kind, csv, error, rows, summary);
    if page.error.is_some() {
        pages::invalid(&page)
    } else {
        pages::ok(&page)
    }
}

#[post("/merchant/orders/import/confirm")]
async fn import_confirm(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    form: CsrfForm<ImportForm>,
) -> AppResult<HttpResponse> {
    let ImportForm {
        kind: raw_kind,
        csv,
    } = form.0;
    let kind = import_kind(&raw_kind)?;
    let (uid, now) = (user.0.id, state.now());
    let base_url = state.base_url.clone();
    match state
        .db(move |conn| crate::service::order_import::apply(conn, now, uid, kind, &csv, &base_url))
        .await
    {
        Ok(s) => {
            // Imported orders may belong to streams on a live board.
            state.live.touch_all();
            session::flash(
                &session,
                "success",
                format!(
                    "Import done: {} new {}, {} already imported, {} with errors skipped.",
                    s.new, raw_kind, s.unchanged, s.invalid
                ),
            );
            Ok(pages::redirect("/merchant/orders"))
        }
        Err(AppError::Validation(e)) => {
            session::flash(
                &session,
                "error",
                e.get("csv")
                    .unwrap_or("The file could not be imported.")
                    .to_owned(),
            );
            Ok(pages::redirect("/merchant/orders/import"))
        }
        Err(e) => Err(e),
    }
}
