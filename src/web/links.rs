//! The influencer's streams and stream links: make a link for a product or shop of an active
//! collaboration, tie it to a stream, copy its short URL, switch it off.

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::catalog::price_of;
use super::extract::{CsrfForm, InfluencerUser};
use super::pages::{self, PageCtx, SelectOption, fmt_datetime};
use super::session;
use crate::domain::catalog::PLATFORMS;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};
use crate::service::links::{self as svc, LinkForm, StreamForm};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(page)
        .service(create_link)
        .service(toggle)
        .service(create_stream)
        .service(qr_svg)
        .service(qr_png)
        .service(create_token)
        .service(revoke_token);
}

struct LinkRow {
    id: i64,
    short_url: String,
    label: String,
    destination: String,
    /// The product and campaign, and the destination shortened (host and path).
    goes_to: String,
    short_destination: String,
    stream: String,
    clicks: i64,
    unique: i64,
    bots: i64,
    disabled: bool,
    /// Why the link's campaign pays nothing now, if it does not.
    not_paying: Option<String>,
    created: String,
}

struct StreamRow {
    id: i64,
    title: String,
    platform: &'static str,
    when: String,
    url: String,
    /// "Live now", "Ended" or "" (not started).
    phase: &'static str,
}

/// A destination for people: host and path, without the scheme and query, at most 40
/// characters ("jadeleaf.example/products/tea-001").
fn shorten_url(url: &str) -> String {
    let short = match url::Url::parse(url) {
        Ok(u) => format!(
            "{}{}",
            u.host_str().unwrap_or(""),
            u.path().trim_end_matches('/')
        ),
        Err(_) => url.to_owned(),
    };
    if short.chars().count() > 40 {
        let mut s: String = short.chars().take(39).collect();
        s.push('…');
        s
    } else {
        short
    }
}

#[derive(Template)]
#[template(path = "influencer/links.html")]
struct LinksPage {
    ctx: PageCtx,
    rows: Vec<LinkRow>,
    streams: Vec<StreamRow>,
    targets: Vec<SelectOption>,
    unverified: usize,
    stream_options: Vec<SelectOption>,
    platforms: Vec<SelectOption>,
    link_form: LinkForm,
    link_errors: FieldErrors,
    stream_form: StreamForm,
    stream_errors: FieldErrors,
    tokens: Vec<TokenRow>,
    base_url: String,
    /// A token just made: shown once, at the top of the page.
    new_token: Option<String>,
    /// The token form as sent, with its error.
    token_name: String,
    token_error: Option<String>,
}

struct TokenRow {
    id: i64,
    name: String,
    prefix: String,
    created: String,
    last_used: String,
    revoked: bool,
}

#[derive(Default)]
struct Sent {
    link: Option<(LinkForm, FieldErrors)>,
    stream: Option<(StreamForm, FieldErrors)>,
    /// A new token, or the token form with its error.
    token: Option<Result<String, (String, String)>>,
}

async fn links_page(
    state: &AppState,
    session: &Session,
    user: &InfluencerUser,
    sent: Sent,
) -> AppResult<LinksPage> {
    let (uid, now) = (user.0.id, state.now());
    let (overview, targets, tokens) = state
        .db(move |conn| {
            Ok((
                svc::overview(conn, uid, now)?,
                svc::targets(conn, uid)?,
                svc::tokens(conn, uid)?,
            ))
        })
        .await?;
    let tz = user.0.time_zone;
    let (link_form, link_errors) = sent.link.unwrap_or_default();
    let (stream_form, stream_errors) = sent.stream.unwrap_or_default();
    let stream_title = |id: Option<i64>| {
        id.and_then(|id| overview.streams.iter().find(|s| s.id == id))
            .map(|s| s.title.clone())
            .unwrap_or_default()
    };
    Ok(LinksPage {
        ctx: PageCtx::new(session, Some(&user.0), "Stream links", "links"),
        rows: overview
            .links
            .iter()
            .map(|(l, c, u, b)| LinkRow {
                id: l.id,
                short_url: format!("{}/l/{}", state.base_url, l.code),
                label: l.label.clone(),
                destination: l.destination.clone(),
                goes_to: overview.goes_to.get(&l.id).cloned().unwrap_or_default(),
                short_destination: shorten_url(&l.destination),
                stream: stream_title(l.stream_id),
                // Clicks by people, as every dashboard counts them; bots apart.
                clicks: c - b,
                unique: *u,
                bots: *b,
                disabled: l.disabled_at.is_some(),
                not_paying: overview.not_paying.get(&l.id).cloned(),
                created: fmt_datetime(l.created_at, tz),
            })
            .collect(),
        streams: overview
            .streams
            .iter()
            .map(|s| StreamRow {
                id: s.id,
                phase: match crate::service::live::span_of(s, now).phase {
                    crate::domain::live::Phase::Live => "Live now",
                    crate::domain::live::Phase::Ended => "Ended",
                    crate::domain::live::Phase::Upcoming => "",
                },
                title: s.title.clone(),
                platform: PLATFORMS
                    .iter()
                    .find(|(v, _)| *v == s.platform)
                    .map_or("Other", |(_, l)| *l),
                when: s
                    .scheduled_at
                    .map(|t| fmt_datetime(t, tz))
                    .unwrap_or_else(|| "not scheduled".into()),
                url: s.published_url.clone().unwrap_or_default(),
            })
            .collect(),
        unverified: targets.iter().filter(|t| !t.verified).count(),
        targets: targets
            .iter()
            .filter(|t| t.verified)
            .map(|t| {
                let value = format!(
                    "{}:{}",
                    t.collaboration_id,
                    t.product
                        .as_ref()
                        .map_or("shop".to_owned(), |p| p.id.to_string())
                );
                let label = match &t.product {
                    Some(p) => format!(
                        "{} · {} · {} ({})",
                        t.campaign,
                        p.title,
                        price_of(p),
                        t.merchant
                    ),
                    None => format!("{} · {}'s shop", t.campaign, t.merchant),
                };
                SelectOption {
                    selected: link_form.target == value,
                    value,
                    label,
                }
            })
            .collect(),
        stream_options: std::iter::once(SelectOption {
            value: String::new(),
            label: "No stream".into(),
            selected: link_form.stream_id.is_empty(),
        })
        .chain(overview.streams.iter().map(|s| SelectOption {
            value: s.id.to_string(),
            label: s.title.clone(),
            selected: link_form.stream_id == s.id.to_string(),
        }))
        .collect(),
        platforms: PLATFORMS
            .iter()
            .map(|(v, l)| SelectOption {
                value: (*v).into(),
                label: (*l).into(),
                selected: stream_form.platform == *v,
            })
            .collect(),
        link_form,
        link_errors,
        stream_form,
        stream_errors,
        tokens: tokens
            .into_iter()
            .map(|t| TokenRow {
                id: t.id,
                name: t.name,
                prefix: t.prefix,
                created: fmt_datetime(t.created_at, tz),
                last_used: t
                    .last_used_at
                    .map_or_else(|| "never".to_owned(), |u| fmt_datetime(u, tz)),
                revoked: t.revoked_at.is_some(),
            })
            .collect(),
        base_url: state.base_url.clone(),
        new_token: sent.token.as_ref().and_then(|t| t.as_ref().ok().cloned()),
        token_name: sent
            .token
            .as_ref()
            .and_then(|t| t.as_ref().err().map(|(name, _)| name.clone()))
            .unwrap_or_default(),
        token_error: sent
            .token
            .as_ref()
            .and_then(|t| t.as_ref().err().map(|(_, e)| e.clone())),
    })
}

#[get("/influencer/links")]
async fn page(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
) -> AppResult<HttpResponse> {
    pages::ok(&links_page(&state, &session, &user, Sent::default()).await?)
}

#[post("/influencer/links")]
async fn create_link(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    form: CsrfForm<LinkForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, uid, input) = (state.now(), user.0.id, form.clone());
    match state
        .db(move |conn| svc::create_link(conn, now, uid, &input))
        .await
    {
        Ok(link) => {
            session::flash(
                &session,
                "success",
                format!("Link ready: {}/l/{}", state.base_url, link.code),
            );
            Ok(pages::redirect("/influencer/links"))
        }
        Err(AppError::Validation(errors)) => pages::invalid(
            &links_page(
                &state,
                &session,
                &user,
                Sent {
                    link: Some((form, errors)),
                    ..Sent::default()
                },
            )
            .await?,
        ),
        Err(e) => Err(e),
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ToggleForm {
    disabled: String,
}

#[post("/influencer/links/{id}/disabled")]
async fn toggle(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    path: web::Path<i64>,
    form: CsrfForm<ToggleForm>,
) -> AppResult<HttpResponse> {
    let disabled = form.0.disabled != "false";
    let (now, uid, id) = (state.now(), user.0.id, path.into_inner());
    let code = state
        .db(move |conn| svc::set_link_disabled(conn, now, uid, id, disabled))
        .await?;
    state.link_cache.invalidate(&code);
    let msg = if disabled {
        format!("Link {code} is switched off: it now answers \"not found\".")
    } else {
        format!("Link {code} works again.")
    };
    session::flash(&session, "success", msg);
    Ok(pages::redirect("/influencer/links"))
}

#[post("/influencer/streams")]
async fn create_stream(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    form: CsrfForm<StreamForm>,
) -> AppResult<HttpResponse> {
    let form = form.0;
    let (now, uid, tz, input) = (state.now(), user.0.id, user.0.time_zone, form.clone());
    match state
        .db(move |conn| svc::create_stream(conn, now, uid, tz, &input))
        .await
    {
        Ok(_) => {
            session::flash(
                &session,
                "success",
                "Stream added. Choose it when you make links, so sales are traced to it.",
            );
            Ok(pages::redirect("/influencer/links#streams"))
        }
        Err(AppError::Validation(errors)) => pages::invalid(
            &links_page(
                &state,
                &session,
                &user,
                Sent {
                    stream: Some((form, errors)),
                    ..Sent::default()
                },
            )
            .await?,
        ),
        Err(e) => Err(e),
    }
}

async fn short_url_of(
    state: &AppState,
    user: &InfluencerUser,
    id: i64,
) -> AppResult<(String, String)> {
    let uid = user.0.id;
    let code = state
        .db(move |conn| {
            let me = crate::service::influencer::profile_of(conn, uid)?;
            crate::db::links::find_for_influencer(conn, me.id, id)?
                .map(|l| l.code)
                .ok_or(AppError::NotFound)
        })
        .await?;
    Ok((format!("{}/l/{code}", state.base_url), code))
}

/// The link's QR code as SVG (shown on the page).
#[get("/influencer/links/{id}/qr.svg")]
async fn qr_svg(
    state: web::Data<AppState>,
    user: InfluencerUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let (url, _) = short_url_of(&state, &user, path.into_inner()).await?;
    let svg =
        crate::domain::qr::svg(&url, 240).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "private, max-age=3600"))
        .body(svg))
}

/// The link's QR code as a PNG download, large enough to put on screen during a stream.
#[get("/influencer/links/{id}/qr.png")]
async fn qr_png(
    state: web::Data<AppState>,
    user: InfluencerUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let (url, code) = short_url_of(&state, &user, path.into_inner()).await?;
    let png =
        crate::domain::qr::png(&url, 16).map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"tandem-{code}.png\""),
        ))
        .body(png))
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct TokenForm {
    token_name: String,
}

#[post("/influencer/tokens")]
async fn create_token(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    form: CsrfForm<TokenForm>,
) -> AppResult<HttpResponse> {
    let (now, uid, name) = (state.now(), user.0.id, form.0.token_name);
    let typed = name.clone();
    // Rendered, not redirected: the token is shown once, in a box at the top of the page;
    // an error comes back under the field with what was typed.
    let token = match state
        .db(move |conn| svc::create_token(conn, now, uid, &name))
        .await
    {
        Ok(token) => Ok(token),
        Err(AppError::Validation(e)) => Err((
            typed,
            e.get("token_name").unwrap_or("Name the token.").to_owned(),
        )),
        Err(e) => return Err(e),
    };
    let status = if token.is_ok() {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let sent = Sent {
        token: Some(token),
        ..Sent::default()
    };
    pages::render(&links_page(&state, &session, &user, sent).await?, status)
}

#[derive(Debug, Deserialize, Default)]
struct Empty {}

#[post("/influencer/tokens/{id}/revoke")]
async fn revoke_token(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    path: web::Path<i64>,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    let (now, uid, id) = (state.now(), user.0.id, path.into_inner());
    state
        .db(move |conn| svc::revoke_token(conn, now, uid, id))
        .await?;
    session::flash(
        &session,
        "success",
        "Token revoked: tools using it can no longer reach your links.",
    );
    Ok(pages::redirect("/influencer/links#api"))
}
