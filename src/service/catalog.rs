//! A merchant's shop domains and product catalog, including CSV import (preview, then
//! confirm; importing the same file twice changes nothing).

use chrono::NaiveDateTime;

use crate::db::catalog::ProductFilter;
use crate::db::models::{NewProduct, NewShopDomain, Product, ProductFields, ShopDomain};
use crate::db::{self, DbConn};
use crate::domain::money::{Currency, Money};
use crate::domain::product_csv::{self, CsvRow, ProductInput, ProductRaw};
use crate::domain::shop_domain;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};

use super::audit;
use super::merchant::org_of;

fn field_error(field: &str, message: &str) -> AppError {
    let mut errors = FieldErrors::new();
    errors.add(field, message);
    AppError::Validation(errors)
}

pub fn domains(conn: &mut DbConn, merchant_id: i64) -> AppResult<Vec<ShopDomain>> {
    Ok(db::catalog::domains_of(conn, merchant_id)?)
}

/// How many of the merchant's live stream links go to each host (what removing a domain
/// would break).
pub fn live_links_by_host(
    conn: &mut DbConn,
    merchant_id: i64,
) -> AppResult<std::collections::HashMap<String, usize>> {
    let mut counts = std::collections::HashMap::new();
    for destination in db::links::live_destinations_of_merchant(conn, merchant_id)? {
        if let Some(host) = url::Url::parse(&destination)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        {
            *counts.entry(host).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

pub fn add_domain(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    input: &str,
) -> AppResult<String> {
    let (merchant, _) = org_of(conn, user_id)?;
    let domain = shop_domain::parse_domain(input).map_err(|e| field_error("domain", &e))?;
    db::write_tx(conn, |conn| {
        db::catalog::add_domain(
            conn,
            &NewShopDomain {
                merchant_id: merchant.id,
                domain: &domain,
                created_at: now,
            },
        )
        .map_err(|e| {
            if db::is_unique_violation(&e) {
                field_error("domain", "This domain is already registered in Tandem.")
            } else {
                e.into()
            }
        })?;
        audit(
            conn,
            now,
            Some(user_id),
            "domain.add",
            ("merchant", merchant.id),
            &domain,
        )?;
        Ok(domain.clone())
    })
}

pub fn remove_domain(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    id: i64,
) -> AppResult<String> {
    let (merchant, _) = org_of(conn, user_id)?;
    let domain = db::catalog::find_domain(conn, id)?
        .filter(|d| d.merchant_id == merchant.id)
        .ok_or(AppError::NotFound)?;
    db::write_tx(conn, |conn| {
        db::catalog::remove_domain(conn, merchant.id, id)?;
        audit(
            conn,
            now,
            Some(user_id),
            "domain.remove",
            ("merchant", merchant.id),
            &domain.domain,
        )?;
        Ok(domain.domain.clone())
    })
}

/// An admin marks a domain verified (or takes it back).
pub fn verify_domain(
    conn: &mut DbConn,
    now: NaiveDateTime,
    admin_id: i64,
    id: i64,
    verified: bool,
) -> AppResult<ShopDomain> {
    let domain = db::catalog::find_domain(conn, id)?.ok_or(AppError::NotFound)?;
    db::write_tx(conn, |conn| {
        let (by, at) = if verified {
            (Some(admin_id), Some(now))
        } else {
            (None, None)
        };
        db::catalog::set_verified(conn, id, by, at)?;
        let action = if verified {
            "domain.verify"
        } else {
            "domain.unverify"
        };
        audit(
            conn,
            now,
            Some(admin_id),
            action,
            ("merchant", domain.merchant_id),
            &domain.domain,
        )?;
        Ok::<(), AppError>(())
    })?;
    db::catalog::find_domain(conn, id)?.ok_or(AppError::NotFound)
}

pub fn all_domains(conn: &mut DbConn) -> AppResult<Vec<(ShopDomain, String)>> {
    Ok(db::catalog::all_domains(conn)?)
}

pub const PRODUCTS_PAGE: i64 = 25;

pub fn list_products(
    conn: &mut DbConn,
    merchant_id: i64,
    filter: &ProductFilter,
    page: i64,
) -> AppResult<(Vec<Product>, i64)> {
    let page = page.max(1);
    Ok(db::catalog::list(
        conn,
        merchant_id,
        filter,
        (page - 1) * PRODUCTS_PAGE,
        PRODUCTS_PAGE,
    )?)
}

pub fn get_product(conn: &mut DbConn, merchant_id: i64, id: i64) -> AppResult<Product> {
    db::catalog::find(conn, merchant_id, id)?.ok_or(AppError::NotFound)
}

/// The form's text for an existing product.
pub fn raw_of(p: &Product) -> ProductRaw {
    let price = Currency::parse(&p.currency)
        .ok()
        .and_then(|c| Money::from_minor(p.price_minor, c).ok())
        .map(|m| m.to_plain_string())
        .unwrap_or_default();
    ProductRaw {
        sku: p.sku.clone(),
        title: p.title.clone(),
        category: p.category.clone(),
        price,
        currency: p.currency.clone(),
        product_url: p.product_url.clone(),
        image_url: p.image_url.clone().unwrap_or_default(),
        active: if p.active {
            "true".into()
        } else {
            "false".into()
        },
    }
}

fn fields<'a>(input: &'a ProductInput, now: NaiveDateTime) -> ProductFields<'a> {
    ProductFields {
        sku: &input.sku,
        title: &input.title,
        category: &input.category,
        price_minor: input.price.minor(),
        currency: input.price.currency().code(),
        product_url: &input.product_url,
        image_url: input.image_url.as_deref(),
        active: input.active,
        updated_at: now,
    }
}

/// Creates (`id` None) or updates a product from the form.
#[tracing::instrument(skip(conn, raw))]
pub fn save_product(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    id: Option<i64>,
    raw: &ProductRaw,
) -> AppResult<Product> {
    let (merchant, _) = org_of(conn, user_id)?;
    let domains = db::catalog::domain_names_of(conn, merchant.id)?;
    let input = product_csv::validate(raw, &domains).map_err(AppError::Validation)?;
    let sku_taken = || field_error("sku", "Another product already has this SKU.");
    db::write_tx(conn, |conn| {
        let existing = db::catalog::find_by_sku(conn, merchant.id, &input.sku)?;
        let product_id = match id {
            Some(id) => {
                get_product(conn, merchant.id, id)?;
                if existing.is_some_and(|e| e.id != id) {
                    return Err(sku_taken());
                }
                db::catalog::update(conn, merchant.id, id, &fields(&input, now))?;
                id
            }
            None => {
                if existing.is_some() {
                    return Err(sku_taken());
                }
                db::catalog::insert(
                    conn,
                    &NewProduct {
                        merchant_id: merchant.id,
                        fields: fields(&input, now),
                        created_at: now,
                    },
                )
                .map_err(|e| {
                    if db::is_unique_violation(&e) {
                        sku_taken()
                    } else {
                        e.into()
                    }
                })?;
                db::catalog::find_by_sku(conn, merchant.id, &input.sku)?
                    .ok_or(AppError::NotFound)?
                    .id
            }
        };
        audit(
            conn,
            now,
            Some(user_id),
            if id.is_some() {
                "product.update"
            } else {
                "product.create"
            },
            ("product", product_id),
            &input.sku,
        )?;
        get_product(conn, merchant.id, product_id)
    })
}

pub fn set_product_active(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    id: i64,
    active: bool,
) -> AppResult<Product> {
    let (merchant, _) = org_of(conn, user_id)?;
    let product = get_product(conn, merchant.id, id)?;
    db::write_tx(conn, |conn| {
        db::catalog::set_active(conn, merchant.id, id, active, now)?;
        audit(
            conn,
            now,
            Some(user_id),
            if active {
                "product.activate"
            } else {
                "product.deactivate"
            },
            ("product", id),
            &product.sku,
        )?;
        get_product(conn, merchant.id, id)
    })
}

/// What importing a row would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowPlan {
    Create,
    Update(Vec<&'static str>),
    Unchanged,
    Invalid(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct PlannedRow {
    pub line: u64,
    pub sku: String,
    pub title: String,
    pub price: String,
    pub plan: RowPlan,
}

#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub invalid: usize,
}

fn changes(existing: &Product, input: &ProductInput) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if existing.title != input.title {
        changed.push("title");
    }
    if existing.category != input.category {
        changed.push("category");
    }
    if existing.price_minor != input.price.minor()
        || existing.currency != input.price.currency().code()
    {
        changed.push("price");
    }
    if existing.product_url != input.product_url {
        changed.push("product URL");
    }
    if existing.image_url != input.image_url {
        changed.push("image");
    }
    if existing.active != input.active {
        changed.push("active");
    }
    changed
}

fn plan_rows(
    conn: &mut DbConn,
    merchant_id: i64,
    rows: Vec<CsvRow>,
) -> AppResult<Vec<(PlannedRow, Option<ProductInput>)>> {
    let existing = db::catalog::all_of(conn, merchant_id)?;
    Ok(rows
        .into_iter()
        .map(|row| match row.result {
            Ok(input) => {
                let plan = match existing.iter().find(|p| p.sku == input.sku) {
                    None => RowPlan::Create,
                    Some(p) => {
                        let c = changes(p, &input);
                        if c.is_empty() {
                            RowPlan::Unchanged
                        } else {
                            RowPlan::Update(c)
                        }
                    }
                };
                (
                    PlannedRow {
                        line: row.line,
                        sku: input.sku.clone(),
                        title: input.title.clone(),
                        price: input.price.display(),
                        plan,
                    },
                    Some(input),
                )
            }
            Err(errors) => (
                PlannedRow {
                    line: row.line,
                    sku: row.sku,
                    title: String::new(),
                    price: String::new(),
                    plan: RowPlan::Invalid(errors),
                },
                None,
            ),
        })
        .collect())
}

fn summarise(rows: &[PlannedRow]) -> ImportSummary {
    let mut s = ImportSummary::default();
    for r in rows {
        match r.plan {
            RowPlan::Create => s.created += 1,
            RowPlan::Update(_) => s.updated += 1,
            RowPlan::Unchanged => s.unchanged += 1,
            RowPlan::Invalid(_) => s.invalid += 1,
        }
    }
    s
}

/// Reads the file and says what importing it would do; stores nothing.
pub fn preview_import(
    conn: &mut DbConn,
    user_id: i64,
    text: &str,
) -> AppResult<(Vec<PlannedRow>, ImportSummary)> {
    let (merchant, _) = org_of(conn, user_id)?;
    let domains = db::catalog::domain_names_of(conn, merchant.id)?;
    let rows = product_csv::parse_csv(text, &domains).map_err(|e| field_error("csv", &e))?;
    let planned: Vec<PlannedRow> = plan_rows(conn, merchant.id, rows)?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let summary = summarise(&planned);
    Ok((planned, summary))
}

/// Imports the good rows of the file in one transaction; bad rows are skipped (the preview
/// showed them). Unchanged rows are not touched, so the same file twice changes nothing.
#[tracing::instrument(skip(conn, text))]
pub fn apply_import(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    text: &str,
) -> AppResult<ImportSummary> {
    let (merchant, _) = org_of(conn, user_id)?;
    let domains = db::catalog::domain_names_of(conn, merchant.id)?;
    let rows = product_csv::parse_csv(text, &domains).map_err(|e| field_error("csv", &e))?;
    db::write_tx(conn, |conn| {
        let planned = plan_rows(conn, merchant.id, rows)?;
        for (row, input) in &planned {
            let Some(input) = input else { continue };
            match &row.plan {
                RowPlan::Create => {
                    db::catalog::insert(
                        conn,
                        &NewProduct {
                            merchant_id: merchant.id,
                            fields: fields(input, now),
                            created_at: now,
                        },
                    )?;
                }
                RowPlan::Update(_) => {
                    let existing = db::catalog::find_by_sku(conn, merchant.id, &input.sku)?
                        .ok_or(AppError::NotFound)?;
                    db::catalog::update(conn, merchant.id, existing.id, &fields(input, now))?;
                }
                RowPlan::Unchanged | RowPlan::Invalid(_) => {}
            }
        }
        let rows: Vec<PlannedRow> = planned.into_iter().map(|(p, _)| p).collect();
        let summary = summarise(&rows);
        audit(
            conn,
            now,
            Some(user_id),
            "product.import",
            ("merchant", merchant.id),
            &format!(
                "{} created, {} updated, {} unchanged, {} skipped",
                summary.created, summary.updated, summary.unchanged, summary.invalid
            ),
        )?;
        Ok(summary)
    })
}
