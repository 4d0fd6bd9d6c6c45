//! `GET /api/v1/openapi.json`: the API's OpenAPI 3.1 document, generated from the handlers'
//! annotations and the response types (utoipa).

use actix_web::{HttpResponse, get};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// A conversion postback's body. Money is a decimal string with at most the currency's
/// decimals; numbers are refused.
#[derive(Serialize, ToSchema)]
pub struct ConversionRequest {
    /// Your order id: 1-128 characters, unique per merchant.
    #[schema(example = "A-1001")]
    order_id: String,
    /// ISO 4217 code.
    #[schema(example = "CNY")]
    currency: String,
    /// When the order was paid (RFC 3339); at most 5 minutes in the future.
    #[schema(example = "2026-11-26T20:15:00+08:00")]
    occurred_at: String,
    /// The `tclid` parameter the stream link added to your landing page, if any.
    click_id: Option<String>,
    /// The coupon code used on the order, if any (case does not matter).
    coupon_code: Option<String>,
    /// The buyer's email, if you want self-purchases flagged (only a hash is kept).
    customer_email: Option<String>,
    /// 1-500 lines.
    items: Vec<ItemRequest>,
}

#[derive(Serialize, ToSchema)]
pub struct ItemRequest {
    #[schema(example = "TEA-1")]
    sku: String,
    /// A whole number from 1 to 1,000,000.
    #[schema(example = 2)]
    quantity: i64,
    #[schema(example = "128.00")]
    unit_price: String,
    /// For the whole line; at most unit_price × quantity.
    #[schema(example = "6.00")]
    discount: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RefundRequest {
    #[schema(example = "A-1001")]
    order_id: String,
    /// Your refund id, unique per merchant.
    #[schema(example = "R-77")]
    refund_id: String,
    /// Decimal string; at most what is left to refund on the order.
    #[schema(example = "50.00")]
    amount: String,
    #[schema(example = "2026-11-28T09:00:00Z")]
    occurred_at: String,
}

/// `{"error": {"code", "title", "message"}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorJson {
    error: ErrorBody,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    code: u16,
    title: String,
    message: String,
}

/// `{"errors": [{"field", "message"}]}`: every problem, each naming its field
/// (`items[0].unit_price`).
#[derive(Serialize, ToSchema)]
pub struct ValidationJson {
    errors: Vec<FieldErrorJson>,
}

#[derive(Serialize, ToSchema)]
pub struct FieldErrorJson {
    field: String,
    message: String,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An influencer's API token (made on the Links page)."))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tandem API",
        description = "Signed order and refund postbacks for merchants; stream links for influencers' tools. Money is always a decimal string."
    ),
    paths(
        super::conversions::conversions,
        super::conversions::refunds,
        super::links::list,
        super::links::create,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "postbacks", description = "Merchants report orders and refunds, signed with their postback secret."),
        (name = "links", description = "Influencers list and make stream links with an API token."),
    )
)]
pub struct ApiDoc;

#[get("/openapi.json")]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
