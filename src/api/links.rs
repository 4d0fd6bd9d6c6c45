//! `GET /api/v1/links` and `POST /api/v1/links`: an influencer's tools list and create
//! stream links with a bearer token (made and revoked on the Links page).

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, AppError};
use crate::service::links::{self as svc, LinkForm};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(create);
}

/// The influencer behind `Authorization: Bearer tdm_...`.
pub struct ApiInfluencer(pub i64);

impl FromRequest for ApiInfluencer {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let unauthorized = || {
                ApiError(AppError::LoginRequired {
                    next: String::new(),
                })
            };
            let (Some(token), Some(state)) = (token, state) else {
                return Err(unauthorized());
            };
            let now = state.now();
            match state
                .db(move |conn| svc::authenticate(conn, now, &token))
                .await?
            {
                Some(uid) => Ok(ApiInfluencer(uid)),
                None => Err(unauthorized()),
            }
        })
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LinkJson {
    id: i64,
    code: String,
    short_url: String,
    destination: String,
    collaboration_id: i64,
    product_id: Option<i64>,
    stream_id: Option<i64>,
    label: String,
    enabled: bool,
    created_at: String,
    clicks: i64,
    unique_clicks: i64,
    bot_clicks: i64,
}

fn json_of(
    base: &str,
    l: &crate::db::models::Link,
    clicks: i64,
    unique: i64,
    bots: i64,
) -> LinkJson {
    LinkJson {
        id: l.id,
        short_url: format!("{base}/l/{}", l.code),
        code: l.code.clone(),
        destination: l.destination.clone(),
        collaboration_id: l.collaboration_id,
        product_id: l.product_id,
        stream_id: l.stream_id,
        label: l.label.clone(),
        enabled: l.disabled_at.is_none(),
        created_at: l.created_at.and_utc().to_rfc3339(),
        clicks,
        unique_clicks: unique,
        bot_clicks: bots,
    }
}

/// The links of the influencer who owns the token, with their click counts.
#[utoipa::path(
    get,
    path = "/api/v1/links",
    tag = "links",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The influencer's links", body = LinkList),
        (status = 401, description = "Missing, revoked or unknown token", body = super::openapi::ErrorJson),
    )
)]
#[get("/links")]
async fn list(state: web::Data<AppState>, who: ApiInfluencer) -> Result<HttpResponse, ApiError> {
    let (uid, now) = (who.0, state.now());
    let overview = state.db(move |conn| svc::overview(conn, uid, now)).await?;
    let links: Vec<LinkJson> = overview
        .links
        .iter()
        .map(|(l, c, u, b)| json_of(&state.base_url, l, *c, *u, *b))
        .collect();
    Ok(HttpResponse::Ok().json(LinkList { links }))
}

/// `{"links": [...]}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LinkList {
    links: Vec<LinkJson>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLink {
    collaboration_id: i64,
    #[serde(default)]
    product_id: Option<i64>,
    #[serde(default)]
    stream_id: Option<i64>,
    #[serde(default)]
    label: String,
}

/// Makes a stream link on an active collaboration: to a campaign product, or (without
/// `product_id`) to the merchant's shop.
#[utoipa::path(
    post,
    path = "/api/v1/links",
    tag = "links",
    security(("bearer" = [])),
    request_body = CreateLink,
    responses(
        (status = 201, description = "The new link", body = LinkJson),
        (status = 401, description = "Missing, revoked or unknown token", body = super::openapi::ErrorJson),
        (status = 422, description = "Invalid input, each field named", body = super::openapi::ValidationJson),
    )
)]
#[post("/links")]
async fn create(
    state: web::Data<AppState>,
    who: ApiInfluencer,
    body: web::Json<CreateLink>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let form = LinkForm {
        target: format!(
            "{}:{}",
            body.collaboration_id,
            body.product_id.map_or("shop".to_owned(), |p| p.to_string())
        ),
        stream_id: body.stream_id.map(|s| s.to_string()).unwrap_or_default(),
        label: body.label,
    };
    let (now, uid) = (state.now(), who.0);
    let link = state
        .db(move |conn| svc::create_link(conn, now, uid, &form))
        .await
        .map_err(|e| match e {
            // Name the API's fields, not the web form's.
            AppError::Validation(errors) => {
                let mut renamed = crate::domain::validate::FieldErrors::new();
                for err in errors.iter() {
                    let field = match err.field.as_str() {
                        "target" => "collaboration_id",
                        other => other,
                    };
                    renamed.add(field, err.message.clone());
                }
                AppError::Validation(renamed)
            }
            other => other,
        })?;
    Ok(HttpResponse::Created().json(json_of(&state.base_url, &link, 0, 0, 0)))
}
