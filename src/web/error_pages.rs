//! Error pages in the reader's layout: an error (404, 422, 403 ...) is answered by
//! [`crate::error::AppError`] without the request at hand, so it carries what it said
//! ([`pages::ErrorInfo`]) and this middleware draws it again with the signed-in user's
//! navigation and a way back to their home. Signed-out readers keep the plain page.

use actix_session::SessionExt;
use actix_web::FromRequest;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use super::extract::MaybeUser;
use super::pages;

/// Runs inside the session middleware (it reads the session to know who is signed in).
pub async fn signed_in_layout(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let Some(info) = res
        .response()
        .extensions()
        .get::<pages::ErrorInfo>()
        .cloned()
    else {
        return Ok(res.map_into_boxed_body());
    };
    let request = res.request().clone();
    // Whoever the request was for (already loaded when a handler asked for it); a failure
    // to tell keeps the plain page.
    let Ok(MaybeUser(Some(user))) = MaybeUser::extract(&request).await else {
        return Ok(res.map_into_boxed_body());
    };
    let status = res.status();
    let page = pages::signed_in_error_page(status, &info, &request.get_session(), &user);
    Ok(res.into_response(page))
}
