//! Request ids with tracing, and security headers.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};
use rand::RngCore;
use tracing::Instrument;

/// Gives each request an id (in the `X-Request-Id` response header and on every log line of
/// the request) and logs its status and latency.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut raw = [0u8; 8];
    rand::rng().fill_bytes(&mut raw);
    let id = hex::encode(raw);
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let start = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), v);
    }
    let status = res.status().as_u16();
    span.in_scope(|| {
        tracing::info!(status, ms = start.elapsed().as_millis() as u64, "handled");
    });
    Ok(res)
}

/// The longest value a query-string parameter may have (a search term, a filter), in
/// characters.
pub const MAX_QUERY_VALUE: usize = 200;
/// The longest query string accepted at all, in bytes.
pub const MAX_QUERY_STRING: usize = 4096;

/// Refuses a query string with a value longer than [`MAX_QUERY_VALUE`] (or one longer than
/// [`MAX_QUERY_STRING`] in all) with a 400 that names the parameter, before any handler: a
/// 50,000-character search term once made SQLite's LIKE fail with a 500.
pub async fn query_limits(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let query = req.query_string();
    // A long value is named first (the usual case: a pasted search term); then the whole.
    let problem = url::form_urlencoded::parse(query.as_bytes())
        .find(|(_, v)| v.chars().count() > MAX_QUERY_VALUE)
        .map(|(k, _)| {
            let name: String = k.chars().take(40).collect();
            (
                name.clone(),
                format!("“{name}” is too long: use at most {MAX_QUERY_VALUE} characters."),
            )
        })
        .or_else(|| {
            (query.len() > MAX_QUERY_STRING).then(|| {
                (
                    "query".to_owned(),
                    format!(
                        "The address is too long: use at most {MAX_QUERY_STRING} characters of parameters."
                    ),
                )
            })
        });
    let Some((field, message)) = problem else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let res = if req.path().starts_with("/api/") {
        actix_web::HttpResponse::BadRequest()
            .json(serde_json::json!({"errors": [{"field": field, "message": message}]}))
    } else {
        super::pages::error_page(
            actix_web::http::StatusCode::BAD_REQUEST,
            "That search is too long",
            &message,
        )
    };
    Ok(req.into_response(res))
}

/// Headers on every page (names in lower case, as `HeaderName::from_static` needs): a strict CSP (no inline scripts or styles, no framing), nosniff
/// and a referrer policy.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    ),
    ("cross-origin-opener-policy", "same-origin"),
];

/// HSTS, sent when served over https.
pub const HSTS: (&str, &str) = (
    "strict-transport-security",
    "max-age=31536000; includeSubDomains",
);

/// [`SECURITY_HEADERS`] on every response, and HSTS when served over https.
pub fn security_headers(https: bool) -> DefaultHeaders {
    let mut h = DefaultHeaders::new();
    for &header in SECURITY_HEADERS {
        h = h.add(header);
    }
    if https {
        h = h.add(HSTS);
    }
    h
}

/// The same headers on one response built outside the middleware (the redirect's pages).
pub fn with_security_headers(mut res: actix_web::HttpResponse) -> actix_web::HttpResponse {
    for &(name, value) in SECURITY_HEADERS {
        res.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    res
}
