//! Queries on shop domains and products. Every product query is scoped by merchant.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::{NewProduct, NewShopDomain, Product, ProductFields, ShopDomain};
use super::schema::{campaign_products, merchants, products, shop_domains};

pub fn add_domain(conn: &mut DbConn, new: &NewShopDomain<'_>) -> QueryResult<usize> {
    diesel::insert_into(shop_domains::table)
        .values(new)
        .execute(conn)
}

pub fn domains_of(conn: &mut DbConn, merchant_id: i64) -> QueryResult<Vec<ShopDomain>> {
    shop_domains::table
        .filter(shop_domains::merchant_id.eq(merchant_id))
        .order(shop_domains::domain.asc())
        .select(ShopDomain::as_select())
        .load(conn)
}

pub fn domain_names_of(conn: &mut DbConn, merchant_id: i64) -> QueryResult<Vec<String>> {
    shop_domains::table
        .filter(shop_domains::merchant_id.eq(merchant_id))
        .select(shop_domains::domain)
        .load(conn)
}

pub fn find_domain(conn: &mut DbConn, id: i64) -> QueryResult<Option<ShopDomain>> {
    shop_domains::table
        .find(id)
        .select(ShopDomain::as_select())
        .first(conn)
        .optional()
}

/// Every domain with its merchant's name, unverified first (the admin's review list).
pub fn all_domains(conn: &mut DbConn) -> QueryResult<Vec<(ShopDomain, String)>> {
    shop_domains::table
        .inner_join(merchants::table)
        .order((
            shop_domains::verified_at.is_not_null(),
            shop_domains::created_at.desc(),
        ))
        .select((ShopDomain::as_select(), merchants::name))
        .load(conn)
}

pub fn set_verified(
    conn: &mut DbConn,
    id: i64,
    by: Option<i64>,
    at: Option<NaiveDateTime>,
) -> QueryResult<usize> {
    diesel::update(shop_domains::table.find(id))
        .set((
            shop_domains::verified_at.eq(at),
            shop_domains::verified_by.eq(by),
        ))
        .execute(conn)
}

pub fn remove_domain(conn: &mut DbConn, merchant_id: i64, id: i64) -> QueryResult<usize> {
    diesel::delete(
        shop_domains::table
            .filter(shop_domains::id.eq(id))
            .filter(shop_domains::merchant_id.eq(merchant_id)),
    )
    .execute(conn)
}

#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    pub search: Option<String>,
    pub category: Option<String>,
    pub active: Option<bool>,
}

fn filtered<'a>(
    merchant_id: i64,
    f: &ProductFilter,
) -> products::BoxedQuery<'a, <DbConn as Connection>::Backend> {
    let mut q = products::table
        .filter(products::merchant_id.eq(merchant_id))
        .into_boxed();
    if let Some(c) = &f.category {
        q = q.filter(products::category.eq(c.clone()));
    }
    if let Some(a) = f.active {
        q = q.filter(products::active.eq(a));
    }
    if let Some(s) = &f.search {
        let pattern = super::users::like_pattern(s);
        q = q.filter(
            super::users::lower(products::title)
                .like(pattern.clone())
                .escape('\\')
                .or(super::users::lower(products::sku)
                    .like(pattern)
                    .escape('\\')),
        );
    }
    q
}

pub fn list(
    conn: &mut DbConn,
    merchant_id: i64,
    filter: &ProductFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<Product>, i64)> {
    let total = filtered(merchant_id, filter).count().get_result(conn)?;
    let rows = filtered(merchant_id, filter)
        .order((products::category.asc(), products::sku.asc()))
        .offset(offset)
        .limit(limit)
        .select(Product::as_select())
        .load(conn)?;
    Ok((rows, total))
}

pub fn all_of(conn: &mut DbConn, merchant_id: i64) -> QueryResult<Vec<Product>> {
    products::table
        .filter(products::merchant_id.eq(merchant_id))
        .order(products::sku.asc())
        .select(Product::as_select())
        .load(conn)
}

pub fn find(conn: &mut DbConn, merchant_id: i64, id: i64) -> QueryResult<Option<Product>> {
    products::table
        .filter(products::id.eq(id))
        .filter(products::merchant_id.eq(merchant_id))
        .select(Product::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_sku(conn: &mut DbConn, merchant_id: i64, sku: &str) -> QueryResult<Option<Product>> {
    on_inner!(conn, |c| products::table
        .filter(products::merchant_id.eq(merchant_id))
        .filter(products::sku.eq(sku))
        .select(Product::as_select())
        .first(c)
        .optional())
}

pub fn insert(conn: &mut DbConn, new: &NewProduct<'_>) -> QueryResult<usize> {
    diesel::insert_into(products::table)
        .values(new)
        .execute(conn)
}

pub fn update(
    conn: &mut DbConn,
    merchant_id: i64,
    id: i64,
    fields: &ProductFields<'_>,
) -> QueryResult<usize> {
    diesel::update(
        products::table
            .filter(products::id.eq(id))
            .filter(products::merchant_id.eq(merchant_id)),
    )
    .set(fields)
    .execute(conn)
}

pub fn set_active(
    conn: &mut DbConn,
    merchant_id: i64,
    id: i64,
    active: bool,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        products::table
            .filter(products::id.eq(id))
            .filter(products::merchant_id.eq(merchant_id)),
    )
    .set((products::active.eq(active), products::updated_at.eq(now)))
    .execute(conn)
}

/// The products a campaign covers: its chosen products, or every active product of its
/// category.
/// Whether the product is in the campaign: for a whole-category campaign, an active product
/// of that category; else one of the campaign's chosen products (as `for_campaign` lists).
pub fn in_campaign(
    conn: &mut DbConn,
    campaign: &super::models::Campaign,
    product: &Product,
) -> QueryResult<bool> {
    if product.merchant_id != campaign.merchant_id {
        return Ok(false);
    }
    if campaign.product_scope == "category" {
        return Ok(product.active && product.category == campaign.category);
    }
    on_inner!(conn, |c| diesel::select(diesel::dsl::exists(
        campaign_products::table
            .filter(campaign_products::campaign_id.eq(campaign.id))
            .filter(campaign_products::product_id.eq(product.id)),
    ))
    .get_result(c))
}

pub fn for_campaign(
    conn: &mut DbConn,
    campaign: &super::models::Campaign,
) -> QueryResult<Vec<Product>> {
    if campaign.product_scope == "category" {
        products::table
            .filter(products::merchant_id.eq(campaign.merchant_id))
            .filter(products::category.eq(&campaign.category))
            .filter(products::active.eq(true))
            .order(products::sku.asc())
            .select(Product::as_select())
            .load(conn)
    } else {
        products::table
            .inner_join(campaign_products::table)
            .filter(campaign_products::campaign_id.eq(campaign.id))
            .filter(products::merchant_id.eq(campaign.merchant_id))
            .order(products::sku.asc())
            .select(Product::as_select())
            .load(conn)
    }
}
