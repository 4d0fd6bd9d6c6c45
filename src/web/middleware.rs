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

/// Headers on every response: a strict CSP (no inline scripts or styles, no framing),
/// nosniff, a referrer policy and HSTS when served over https.
pub fn security_headers(https: bool) -> DefaultHeaders {
    let mut h = DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=()",
        ))
        .add(("Cross-Origin-Opener-Policy", "same-origin"));
    if https {
        h = h.add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ));
    }
    h
}
