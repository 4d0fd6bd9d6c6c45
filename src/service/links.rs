//! Streams and stream links: an influencer makes a link for an active collaboration, to a
//! product of the campaign (or the merchant's shop), optionally tied to a stream. The
//! destination must be http(s) on one of the merchant's verified domains.

use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::Tz;

use crate::db::models::{Link, LinkDaily, NewLink, NewStream, Product, Stream};
use crate::db::{self, DbConn};
use crate::domain::catalog::parse_platform;
use crate::domain::links::new_code;
use crate::domain::shop_domain::url_on_domains;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};

use super::audit;

fn field(name: &str, message: &str) -> AppError {
    let mut errors = FieldErrors::new();
    errors.add(name, message);
    AppError::Validation(errors)
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct StreamForm {
    pub title: String,
    pub platform: String,
    pub scheduled_at: String,
    pub published_url: String,
}

pub fn create_stream(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    tz: Tz,
    form: &StreamForm,
) -> AppResult<i64> {
    let me = super::influencer::profile_of(conn, user_id)?;
    let mut errors = FieldErrors::new();
    let title = errors.check("title", {
        let t = form.title.trim();
        if t.is_empty() || t.chars().count() > 120 {
            Err("Enter a title of 1 to 120 characters.".to_owned())
        } else {
            Ok(t.to_owned())
        }
    });
    let platform = errors.check("platform", parse_platform(&form.platform));
    let scheduled = errors.check("scheduled_at", {
        let s = form.scheduled_at.trim();
        if s.is_empty() {
            Ok(None)
        } else {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
                .ok()
                .and_then(|local| tz.from_local_datetime(&local).earliest())
                .map(|t| Some(t.naive_utc()))
                .ok_or_else(|| "Enter a date and time.".to_owned())
        }
    });
    let published = errors.check("published_url", {
        let s = form.published_url.trim();
        if s.is_empty() {
            Ok(None)
        } else {
            match url::Url::parse(s) {
                Ok(u)
                    if matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some()
                        && s.len() <= 500 =>
                {
                    Ok(Some(u.to_string()))
                }
                _ => {
                    Err("Enter the stream's or video's address, starting with https://".to_owned())
                }
            }
        }
    });
    let (Some(title), Some(platform), Some(scheduled), Some(published)) =
        (title, platform, scheduled, published)
    else {
        return Err(AppError::Validation(errors));
    };
    db::write_tx(conn, |conn| {
        let id = db::links::insert_stream(
            conn,
            &NewStream {
                influencer_id: me.id,
                title: &title,
                platform: &platform,
                scheduled_at: scheduled,
                published_url: published.as_deref(),
                created_at: now,
            },
        )?;
        audit(
            conn,
            now,
            Some(user_id),
            "stream.create",
            ("stream", id),
            &title,
        )?;
        Ok(id)
    })
}

/// What a link can point at: a product of an active collaboration's campaign, or the
/// merchant's shop (`product_id` None).
#[derive(Debug, Clone)]
pub struct LinkTarget {
    pub collaboration_id: i64,
    pub campaign: String,
    pub merchant: String,
    pub product: Option<Product>,
    pub destination: String,
    pub verified: bool,
}

/// Every target the influencer may link to now.
pub fn targets(conn: &mut DbConn, user_id: i64) -> AppResult<Vec<LinkTarget>> {
    let me = super::influencer::profile_of(conn, user_id)?;
    let mut out = Vec::new();
    for (col, campaign, merchant_name) in db::collaborations::for_influencer(conn, me.id)? {
        if col.state != "active" || campaign.state == "ended" {
            continue;
        }
        let verified: Vec<String> = db::catalog::domains_of(conn, campaign.merchant_id)?
            .into_iter()
            .filter(|d| d.verified_at.is_some())
            .map(|d| d.domain)
            .collect();
        if let Some(m) = db::merchants::find(conn, campaign.merchant_id)?
            && let Some(site) = m.website
        {
            out.push(LinkTarget {
                collaboration_id: col.id,
                campaign: campaign.name.clone(),
                merchant: merchant_name.clone(),
                product: None,
                verified: url_on_domains(&site, &verified).is_ok(),
                destination: site,
            });
        }
        for p in db::catalog::for_campaign(conn, &campaign)?
            .into_iter()
            .filter(|p| p.active)
        {
            out.push(LinkTarget {
                collaboration_id: col.id,
                campaign: campaign.name.clone(),
                merchant: merchant_name.clone(),
                verified: url_on_domains(&p.product_url, &verified).is_ok(),
                destination: p.product_url.clone(),
                product: Some(p),
            });
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct LinkForm {
    /// `<collaboration id>:<product id or "shop">`
    pub target: String,
    pub stream_id: String,
    pub label: String,
}

pub fn create_link(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    form: &LinkForm,
) -> AppResult<Link> {
    let me = super::influencer::profile_of(conn, user_id)?;
    let (col_part, product_part) = form
        .target
        .split_once(':')
        .ok_or_else(|| field("target", "Choose what the link points to."))?;
    let collaboration_id: i64 = col_part
        .parse()
        .map_err(|_| field("target", "Choose what the link points to."))?;
    let col = db::collaborations::find_for_influencer(conn, me.id, collaboration_id)?
        .ok_or_else(|| field("target", "Choose one of your active collaborations."))?;
    if col.state != "active" {
        return Err(field(
            "target",
            "Links can only be made for active collaborations.",
        ));
    }
    let campaign = db::campaigns::find(conn, col.campaign_id)?.ok_or(AppError::NotFound)?;
    if campaign.state == "ended" {
        return Err(field("target", "This campaign has ended."));
    }
    let (product_id, raw_destination) = if product_part == "shop" {
        let m = db::merchants::find(conn, campaign.merchant_id)?.ok_or(AppError::NotFound)?;
        (
            None,
            m.website.ok_or_else(|| {
                field(
                    "target",
                    "This merchant has no shop address; choose a product.",
                )
            })?,
        )
    } else {
        let pid: i64 = product_part
            .parse()
            .map_err(|_| field("target", "Choose what the link points to."))?;
        let product = db::catalog::for_campaign(conn, &campaign)?
            .into_iter()
            .find(|p| p.id == pid && p.active)
            .ok_or_else(|| field("target", "This product is not in the campaign."))?;
        (Some(product.id), product.product_url)
    };
    // The destination comes only from the merchant's data, and must be on a verified domain.
    let verified: Vec<String> = db::catalog::domains_of(conn, campaign.merchant_id)?
        .into_iter()
        .filter(|d| d.verified_at.is_some())
        .map(|d| d.domain)
        .collect();
    let destination = url_on_domains(&raw_destination, &verified)
        .map_err(|_| field("target", "The merchant's shop domain is not verified yet, so this address cannot be used for live links."))?;
    let stream_id = if form.stream_id.trim().is_empty() {
        None
    } else {
        let sid: i64 = form
            .stream_id
            .parse()
            .map_err(|_| field("stream_id", "Choose one of your streams."))?;
        db::links::streams_of(conn, me.id)?
            .iter()
            .find(|s| s.id == sid)
            .map(|s| s.id)
            .ok_or_else(|| field("stream_id", "Choose one of your streams."))?;
        Some(sid)
    };
    let label = form.label.trim();
    if label.chars().count() > 120 {
        return Err(field("label", "Use at most 120 characters."));
    }
    // The links API sends labels too: the same rule as every form's text field.
    if let Some(c) = crate::domain::validate::hidden_char(label) {
        return Err(field(
            "label",
            &format!(
                "The label {}.",
                crate::domain::validate::hidden_char_message(c)
            ),
        ));
    }
    db::write_tx(conn, |conn| {
        for _ in 0..5 {
            let code = new_code();
            let inserted = db::links::insert_link(
                conn,
                &NewLink {
                    code: &code,
                    collaboration_id: col.id,
                    influencer_id: me.id,
                    merchant_id: campaign.merchant_id,
                    campaign_id: campaign.id,
                    product_id,
                    stream_id,
                    destination: &destination,
                    label,
                    created_at: now,
                },
            );
            match inserted {
                Ok(id) => {
                    audit(conn, now, Some(user_id), "link.create", ("link", id), &code)?;
                    return db::links::find_by_code(conn, &code)?.ok_or(AppError::NotFound);
                }
                Err(e) if db::is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Internal(anyhow::anyhow!(
            "no free link code after 5 tries"
        )))
    })
}

/// Disables or re-enables one of the influencer's links; returns its code.
pub fn set_link_disabled(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    link_id: i64,
    disabled: bool,
) -> AppResult<String> {
    let me = super::influencer::profile_of(conn, user_id)?;
    let link = db::links::find_for_influencer(conn, me.id, link_id)?.ok_or(AppError::NotFound)?;
    db::write_tx(conn, |conn| {
        db::links::set_disabled(conn, link.id, if disabled { Some(now) } else { None })?;
        audit(
            conn,
            now,
            Some(user_id),
            if disabled {
                "link.disable"
            } else {
                "link.enable"
            },
            ("link", link.id),
            &link.code,
        )?;
        Ok(link.code.clone())
    })
}

/// The influencer's links (with totals from the daily rollups) and streams.
pub struct LinksOverview {
    pub links: Vec<(Link, i64, i64, i64)>,
    pub streams: Vec<Stream>,
    /// Links whose campaign does not pay now, with why (its links still redirect).
    pub not_paying: std::collections::HashMap<i64, String>,
    /// What each link goes to, in words: "Dragon Well 100 g · Spring tea festival".
    pub goes_to: std::collections::HashMap<i64, String>,
}

pub fn overview(conn: &mut DbConn, user_id: i64, now: NaiveDateTime) -> AppResult<LinksOverview> {
    let me = super::influencer::profile_of(conn, user_id)?;
    let links = db::links::links_of(conn, me.id)?;
    let ids: Vec<i64> = links.iter().map(|l| l.id).collect();
    let daily: Vec<LinkDaily> = db::links::daily_of(conn, &ids)?;
    let links: Vec<(Link, i64, i64, i64)> = links
        .into_iter()
        .map(|l| {
            let rows = daily.iter().filter(|d| d.link_id == l.id);
            let (c, u, b) = rows.fold((0, 0, 0), |acc, d| {
                (
                    acc.0 + d.clicks,
                    acc.1 + d.unique_clicks,
                    acc.2 + d.bot_clicks,
                )
            });
            (l, c, u, b)
        })
        .collect();
    // Per campaign: its name, and why it does not pay now (if it does not).
    let mut campaigns: std::collections::HashMap<i64, (String, Option<String>)> =
        Default::default();
    let mut not_paying = std::collections::HashMap::new();
    let mut goes_to = std::collections::HashMap::new();
    for (l, ..) in &links {
        if let std::collections::hash_map::Entry::Vacant(slot) = campaigns.entry(l.campaign_id) {
            let entry = match db::campaigns::find(conn, l.campaign_id)? {
                Some(c) => {
                    let why = crate::domain::campaign::not_live_at(
                        &c.name,
                        c.starts_at,
                        c.ends_at,
                        crate::domain::campaign::CampaignState::parse(&c.state),
                        now,
                    );
                    (c.name, why)
                }
                None => (String::new(), None),
            };
            slot.insert(entry);
        }
        let campaign_name = campaigns
            .get(&l.campaign_id)
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        let what = match l.product_id {
            Some(pid) => db::catalog::find(conn, l.merchant_id, pid)?
                .map_or_else(|| "A product".to_owned(), |p| p.title),
            None => "The shop's home page".to_owned(),
        };
        goes_to.insert(l.id, format!("{what} · {campaign_name}"));
        if let Some((_, Some(why))) = campaigns.get(&l.campaign_id) {
            let why = why.replace(" at the order time", "");
            not_paying.insert(
                l.id,
                format!("The {why}: the link still redirects, but orders earn nothing."),
            );
        }
    }
    Ok(LinksOverview {
        links,
        streams: db::links::streams_of(conn, me.id)?,
        not_paying,
        goes_to,
    })
}

fn hash_token(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Makes an API token for the influencer's tools; the token itself is returned once and
/// only its hash is kept.
pub fn create_token(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    name: &str,
) -> AppResult<String> {
    use base64::Engine;
    use rand::RngCore;
    let me = super::influencer::profile_of(conn, user_id)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(field(
            "token_name",
            "Name the token (1 to 60 characters), e.g. the tool that uses it.",
        ));
    }
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = format!(
        "tdm_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    let prefix: String = token.chars().take(10).collect();
    db::write_tx(conn, |conn| {
        db::links::insert_token(conn, me.id, name, &hash_token(&token), &prefix, now)?;
        audit(
            conn,
            now,
            Some(user_id),
            "api_token.create",
            ("influencer", me.id),
            name,
        )?;
        Ok(token.clone())
    })
}

pub fn revoke_token(conn: &mut DbConn, now: NaiveDateTime, user_id: i64, id: i64) -> AppResult<()> {
    let me = super::influencer::profile_of(conn, user_id)?;
    db::write_tx(conn, |conn| {
        if db::links::revoke_token(conn, me.id, id, now)? == 0 {
            return Err(AppError::NotFound);
        }
        audit(
            conn,
            now,
            Some(user_id),
            "api_token.revoke",
            ("influencer", me.id),
            &id.to_string(),
        )?;
        Ok(())
    })
}

pub fn tokens(conn: &mut DbConn, user_id: i64) -> AppResult<Vec<crate::db::models::ApiToken>> {
    let me = super::influencer::profile_of(conn, user_id)?;
    Ok(db::links::tokens_of(conn, me.id)?)
}

/// The influencer's user id for a bearer token, if it is live and its account active.
pub fn authenticate(conn: &mut DbConn, now: NaiveDateTime, token: &str) -> AppResult<Option<i64>> {
    if !token.starts_with("tdm_") || token.len() > 100 {
        return Ok(None);
    }
    let Some(t) = db::links::token_by_hash(conn, &hash_token(token))? else {
        return Ok(None);
    };
    let Some(influencer) = db::influencers::find(conn, t.influencer_id)? else {
        return Ok(None);
    };
    let Some(user) = db::users::find(conn, influencer.user_id)? else {
        return Ok(None);
    };
    if user.disabled_at.is_some() {
        return Ok(None);
    }
    db::links::touch_token(conn, t.id, now)?;
    Ok(Some(user.id))
}
