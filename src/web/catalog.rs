//! Merchant products (list, create, edit, deactivate, CSV import) and shop domains; the
//! admin's domain verification.

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::extract::{AdminUser, CsrfForm, Empty, MerchantUser};
use super::pages::{self, PageCtx, SelectOption, fmt_date, fmt_datetime};
use super::{session, urlencode};
use crate::db::catalog::ProductFilter;
use crate::db::models::Product;
use crate::domain::catalog::{CATEGORIES, category_label};
use crate::domain::money::{Currency, Money};
use crate::domain::product_csv::ProductRaw;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};
use crate::service::catalog::{self as svc, ImportSummary, PlannedRow, RowPlan};
use crate::service::merchant::org_of;
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(products)
        .service(new_product)
        .service(create_product)
        .service(import_form)
        .service(import_preview)
        .service(import_confirm)
        .service(edit_product)
        .service(update_product)
        .service(toggle_product)
        .service(domains)
        .service(add_domain)
        .service(remove_domain)
        .service(admin_domains)
        .service(admin_verify);
}

/// The category a new campaign or product starts with: the merchant's most common one among
/// its products (a tea shop's is tea, not the list's first), `""` without products.
pub fn usual_category(catalogue: &[crate::db::models::Product]) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for p in catalogue {
        *counts.entry(p.category.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(c, n)| (*n, std::cmp::Reverse(*c)))
        .map(|(c, _)| c.to_owned())
        .unwrap_or_default()
}

pub fn category_options(selected: &str, any_label: Option<&str>) -> Vec<SelectOption> {
    let mut out = Vec::new();
    if let Some(label) = any_label {
        out.push(SelectOption {
            value: String::new(),
            label: label.to_owned(),
            selected: selected.is_empty(),
        });
    }
    out.extend(CATEGORIES.iter().map(|(v, l)| SelectOption {
        value: (*v).into(),
        label: (*l).into(),
        selected: selected == *v,
    }));
    out
}

pub fn price_of(p: &Product) -> String {
    Currency::parse(&p.currency)
        .ok()
        .and_then(|c| Money::from_minor(p.price_minor, c).ok())
        .map_or_else(
            || format!("{} {}", p.price_minor, p.currency),
            |m| m.display(),
        )
}

struct ProductRow {
    id: i64,
    sku: String,
    title: String,
    category: String,
    price: String,
    active: bool,
    url: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct ProductQuery {
    q: String,
    category: String,
    status: String,
    page: Option<i64>,
}

impl ProductQuery {
    fn href(&self, page: i64) -> String {
        let mut parts = vec![];
        for (k, v) in [
            ("q", &self.q),
            ("category", &self.category),
            ("status", &self.status),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", urlencode(v)));
            }
        }
        if page > 1 {
            parts.push(format!("page={page}"));
        }
        if parts.is_empty() {
            "/merchant/products".into()
        } else {
            format!("/merchant/products?{}", parts.join("&"))
        }
    }
}

#[derive(Template)]
#[template(path = "merchant/products.html")]
struct ProductsPage {
    ctx: PageCtx,
    rows: Vec<ProductRow>,
    query: ProductQuery,
    categories: Vec<SelectOption>,
    statuses: Vec<SelectOption>,
    total: i64,
    page: i64,
    pages: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
    filtered: bool,
    has_domains: bool,
}

#[get("/merchant/products")]
async fn products(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    query: web::Query<ProductQuery>,
) -> AppResult<HttpResponse> {
    let query = query.into_inner();
    let filter = ProductFilter {
        search: Some(query.q.trim().to_lowercase()).filter(|s| !s.is_empty()),
        category: Some(query.category.clone()).filter(|s| !s.is_empty()),
        active: match query.status.as_str() {
            "active" => Some(true),
            "inactive" => Some(false),
            _ => None,
        },
    };
    let (uid, page_no) = (user.0.id, query.page.unwrap_or(1).clamp(1, 100_000));
    let (rows, total, has_domains) = state
        .db(move |conn| {
            let (m, _) = org_of(conn, uid)?;
            let (rows, total) = svc::list_products(conn, m.id, &filter, page_no)?;
            let has_domains = !svc::domains(conn, m.id)?.is_empty();
            Ok((rows, total, has_domains))
        })
        .await?;
    let pages_n = ((total + svc::PRODUCTS_PAGE - 1) / svc::PRODUCTS_PAGE).max(1);
    let filtered =
        !(query.q.trim().is_empty() && query.category.is_empty() && query.status.is_empty());
    let page = ProductsPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Products", "products"),
        rows: rows
            .iter()
            .map(|p| ProductRow {
                id: p.id,
                sku: p.sku.clone(),
                title: p.title.clone(),
                category: category_label(&p.category).to_owned(),
                price: price_of(p),
                active: p.active,
                url: p.product_url.clone(),
            })
            .collect(),
        categories: category_options(&query.category, Some("All categories")),
        statuses: [
            ("", "Any status"),
            ("active", "Active"),
            ("inactive", "Inactive"),
        ]
        .iter()
        .map(|(v, l)| SelectOption {
            value: (*v).into(),
            label: (*l).into(),
            selected: query.status == *v,
        })
        .collect(),
        total,
        page: page_no,
        pages: pages_n,
        prev_href: (page_no > 1).then(|| query.href(page_no - 1)),
        next_href: (page_no < pages_n).then(|| query.href(page_no + 1)),
        filtered,
        has_domains,
        query,
    };
    pages::ok(&page)
}

#[derive(Template)]
#[template(path = "merchant/product_form.html")]
struct ProductFormPage {
    ctx: PageCtx,
    id: Option<i64>,
    form: ProductRaw,
    errors: FieldErrors,
    categories: Vec<SelectOption>,
    currencies: Vec<SelectOption>,
    domains: Vec<String>,
}

async fn product_form(
    state: &AppState,
    session: &Session,
    user: &MerchantUser,
    id: Option<i64>,
    form: Option<ProductRaw>,
    errors: FieldErrors,
) -> AppResult<ProductFormPage> {
    let uid = user.0.id;
    let (merchant, product, shop_domains) = state
        .db(move |conn| {
            let (m, _) = org_of(conn, uid)?;
            let product = match id {
                Some(id) => Some(svc::get_product(conn, m.id, id)?),
                None => None,
            };
            let names = svc::domains(conn, m.id)?
                .into_iter()
                .map(|d| d.domain)
                .collect::<Vec<_>>();
            let usual = usual_category(&crate::db::catalog::all_of(conn, m.id)?);
            Ok((m, product, (names, usual)))
        })
        .await?;
    let (shop_domains, usual) = shop_domains;
    let form = form.unwrap_or_else(|| match &product {
        Some(p) => svc::raw_of(p),
        None => ProductRaw {
            currency: merchant.default_currency.clone(),
            active: "true".into(),
            category: usual,
            ..ProductRaw::default()
        },
    });
    let title = if id.is_some() {
        "Edit product"
    } else {
        "New product"
    };
    Ok(ProductFormPage {
        ctx: PageCtx::new(session, Some(&user.0), title, "products"),
        id,
        categories: category_options(&form.category, None),
        currencies: pages::currency_options(&form.currency),
        form,
        errors,
        domains: shop_domains,
    })
}

#[get("/merchant/products/new")]
async fn new_product(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
) -> AppResult<HttpResponse> {
    pages::ok(&product_form(&state, &session, &user, None, None, FieldErrors::new()).await?)
}

#[get("/merchant/products/{id}/edit")]
async fn edit_product(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    pages::ok(
        &product_form(
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

async fn save(
    state: &AppState,
    session: &Session,
    user: &MerchantUser,
    id: Option<i64>,
    raw: ProductRaw,
) -> AppResult<HttpResponse> {
    // An unchecked "active" box sends nothing: that means inactive.
    let raw = ProductRaw {
        active: if raw.active.is_empty() {
            "false".into()
        } else {
            raw.active
        },
        ..raw
    };
    let (now, uid, input) = (state.now(), user.0.id, raw.clone());
    match state
        .db(move |conn| svc::save_product(conn, now, uid, id, &input))
        .await
    {
        Ok(p) => {
            session::flash(session, "success", format!("Product {} saved.", p.sku));
            Ok(pages::redirect("/merchant/products"))
        }
        Err(AppError::Validation(errors)) => {
            pages::invalid(&product_form(state, session, user, id, Some(raw), errors).await?)
        }
        Err(e) => Err(e),
    }
}

#[post("/merchant/products")]
async fn create_product(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    form: CsrfForm<ProductRaw>,
) -> AppResult<HttpResponse> {
    save(&state, &session, &user, None, form.0).await
}

#[post("/merchant/products/{id}")]
async fn update_product(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
    form: CsrfForm<ProductRaw>,
) -> AppResult<HttpResponse> {
    save(&state, &session, &user, Some(path.into_inner()), form.0).await
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ToggleForm {
    active: String,
}

#[post("/merchant/products/{id}/active")]
async fn toggle_product(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
    form: CsrfForm<ToggleForm>,
) -> AppResult<HttpResponse> {
    let active = form.0.active == "true";
    let (now, uid, id) = (state.now(), user.0.id, path.into_inner());
    let p = state
        .db(move |conn| svc::set_product_active(conn, now, uid, id, active))
        .await?;
    let msg = if active {
        format!("{} is active again.", p.sku)
    } else {
        format!(
            "{} is deactivated: it no longer appears in campaigns.",
            p.sku
        )
    };
    session::flash(&session, "success", msg);
    Ok(pages::redirect("/merchant/products"))
}

struct PreviewRow {
    line: u64,
    sku: String,
    title: String,
    price: String,
    status: &'static str,
    detail: String,
    class: &'static str,
}

fn preview_row(r: PlannedRow) -> PreviewRow {
    let (status, detail, class) = match r.plan {
        RowPlan::Create => ("New", String::new(), "ok"),
        RowPlan::Update(fields) => ("Update", format!("changes {}", fields.join(", ")), "info"),
        RowPlan::Unchanged => ("Unchanged", String::new(), "muted"),
        RowPlan::Invalid(errors) => ("Error", errors.join("; "), "danger"),
    };
    PreviewRow {
        line: r.line,
        sku: r.sku,
        title: r.title,
        price: r.price,
        status,
        detail,
        class,
    }
}

#[derive(Template)]
#[template(path = "merchant/import.html")]
struct ImportPage {
    ctx: PageCtx,
    csv: String,
    error: Option<String>,
    rows: Vec<PreviewRow>,
    summary: Option<ImportSummary>,
}

#[get("/merchant/products/import")]
async fn import_form(session: Session, user: MerchantUser) -> AppResult<HttpResponse> {
    pages::ok(&ImportPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Import products", "products"),
        csv: String::new(),
        error: None,
        rows: Vec::new(),
        summary: None,
    })
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct CsvForm {
    csv: String,
}

#[post("/merchant/products/import/preview")]
async fn import_preview(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    form: CsrfForm<CsvForm>,
) -> AppResult<HttpResponse> {
    let csv = form.0.csv;
    let (uid, text) = (user.0.id, csv.clone());
    let result = state
        .db(move |conn| svc::preview_import(conn, uid, &text))
        .await;
    let (rows, summary, error) = match result {
        Ok((rows, summary)) => (
            rows.into_iter().map(preview_row).collect(),
            Some(summary),
            None,
        ),
        Err(AppError::Validation(e)) => (Vec::new(), None, e.get("csv").map(str::to_owned)),
        Err(e) => return Err(e),
    };
    let page = ImportPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Import products", "products"),
        csv,
        error,
        rows,
        summary,
    };
    if page.error.is_some() {
        pages::invalid(&page)
    } else {
        pages::ok(&page)
    }
}

#[post("/merchant/products/import/confirm")]
async fn import_confirm(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    form: CsrfForm<CsvForm>,
) -> AppResult<HttpResponse> {
    let (now, uid, text) = (state.now(), user.0.id, form.0.csv);
    match state
        .db(move |conn| svc::apply_import(conn, now, uid, &text))
        .await
    {
        Ok(s) => {
            session::flash(
                &session,
                "success",
                format!(
                    "Import done: {} created, {} updated, {} unchanged, {} with errors skipped.",
                    s.created,
                    s.updated,
                    s.unchanged,
                    pages::count(s.invalid, "row", "rows")
                ),
            );
            Ok(pages::redirect("/merchant/products"))
        }
        Err(AppError::Validation(e)) => {
            session::flash(
                &session,
                "error",
                e.get("csv")
                    .unwrap_or("The file could not be imported.")
                    .to_owned(),
            );
            Ok(pages::redirect("/merchant/products/import"))
        }
        Err(e) => Err(e),
    }
}

struct DomainRow {
    id: i64,
    domain: String,
    verified: Option<String>,
    added: String,
    /// What removing it asks first: how many live links it would break.
    confirm: String,
}

#[derive(Template)]
#[template(path = "merchant/domains.html")]
struct DomainsPage {
    ctx: PageCtx,
    rows: Vec<DomainRow>,
    domain: String,
    errors: FieldErrors,
}

async fn domains_page(
    state: &AppState,
    session: &Session,
    user: &MerchantUser,
    domain: String,
    errors: FieldErrors,
) -> AppResult<DomainsPage> {
    let uid = user.0.id;
    let list = state
        .db(move |conn| {
            let (m, _) = org_of(conn, uid)?;
            Ok((
                svc::domains(conn, m.id)?,
                svc::live_links_by_host(conn, m.id)?,
            ))
        })
        .await?;
    let (list, live) = list;
    let tz = user.0.time_zone;
    Ok(DomainsPage {
        ctx: PageCtx::new(session, Some(&user.0), "Shop domains", "domains"),
        rows: list
            .into_iter()
            .map(|d| {
                let n = live
                    .get(&d.domain.to_ascii_lowercase())
                    .copied()
                    .unwrap_or(0);
                DomainRow {
                    confirm: match n {
                        0 => format!("Remove {}? No live link goes to it.", d.domain),
                        1 => format!(
                            "Remove {}? 1 live stream link goes to it and will stop working.",
                            d.domain
                        ),
                        n => format!(
                            "Remove {}? {n} live stream links go to it and will stop working.",
                            d.domain
                        ),
                    },
                    id: d.id,
                    domain: d.domain,
                    verified: d.verified_at.map(|t| fmt_date(t, tz)),
                    added: fmt_date(d.created_at, tz),
                }
            })
            .collect(),
        domain,
        errors,
    })
}

#[get("/merchant/domains")]
async fn domains(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
) -> AppResult<HttpResponse> {
    pages::ok(&domains_page(&state, &session, &user, String::new(), FieldErrors::new()).await?)
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct DomainForm {
    domain: String,
}

#[post("/merchant/domains")]
async fn add_domain(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    form: CsrfForm<DomainForm>,
) -> AppResult<HttpResponse> {
    let (now, uid, input) = (state.now(), user.0.id, form.0.domain.clone());
    match state
        .db(move |conn| svc::add_domain(conn, now, uid, &input))
        .await
    {
        Ok(d) => {
            session::flash(
                &session,
                "success",
                format!(
                    "{d} added. An administrator will verify it before it can be used for live links."
                ),
            );
            Ok(pages::redirect("/merchant/domains"))
        }
        Err(AppError::Validation(errors)) => {
            pages::invalid(&domains_page(&state, &session, &user, form.0.domain, errors).await?)
        }
        Err(e) => Err(e),
    }
}

#[post("/merchant/domains/{id}/remove")]
async fn remove_domain(
    state: web::Data<AppState>,
    session: Session,
    user: MerchantUser,
    path: web::Path<i64>,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    let (now, uid, id) = (state.now(), user.0.id, path.into_inner());
    let d = state
        .db(move |conn| svc::remove_domain(conn, now, uid, id))
        .await?;
    session::flash(&session, "success", format!("{d} removed."));
    Ok(pages::redirect("/merchant/domains"))
}

struct AdminDomainRow {
    id: i64,
    domain: String,
    merchant: String,
    verified: Option<String>,
    added: String,
}

#[derive(Template)]
#[template(path = "admin/domains.html")]
struct AdminDomainsPage {
    ctx: PageCtx,
    rows: Vec<AdminDomainRow>,
    pending: usize,
}

#[get("/admin/domains")]
async fn admin_domains(
    state: web::Data<AppState>,
    session: Session,
    user: AdminUser,
) -> AppResult<HttpResponse> {
    let list = state.db(svc::all_domains).await?;
    let tz = user.0.time_zone;
    let rows: Vec<AdminDomainRow> = list
        .into_iter()
        .map(|(d, merchant)| AdminDomainRow {
            id: d.id,
            domain: d.domain,
            merchant,
            verified: d.verified_at.map(|t| fmt_datetime(t, tz)),
            added: fmt_date(d.created_at, tz),
        })
        .collect();
    let pending = rows.iter().filter(|r| r.verified.is_none()).count();
    pages::ok(&AdminDomainsPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Shop domains", "domains"),
        rows,
        pending,
    })
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct VerifyForm {
    verified: String,
}

#[post("/admin/domains/{id}/verify")]
async fn admin_verify(
    state: web::Data<AppState>,
    session: Session,
    user: AdminUser,
    path: web::Path<i64>,
    form: CsrfForm<VerifyForm>,
) -> AppResult<HttpResponse> {
    let verified = form.0.verified != "false";
    let (now, uid, id) = (state.now(), user.0.id, path.into_inner());
    let d = state
        .db(move |conn| svc::verify_domain(conn, now, uid, id, verified))
        .await?;
    let msg = if verified {
        format!("{} is verified.", d.domain)
    } else {
        format!("{} is no longer verified.", d.domain)
    };
    session::flash(&session, "success", msg);
    Ok(pages::redirect("/admin/domains"))
}
