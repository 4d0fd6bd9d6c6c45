//! Collaborations: applications, invitations, approvals, coupon codes, and the history of
//! every transition. Each transition emails the other side.

use chrono::NaiveDateTime;
use rand::Rng;

use crate::db::models::{Campaign, Collaboration, NewCollaboration, NewCollaborationEvent};
use crate::db::{self, DbConn};
use crate::domain::collaboration::{self as machine, CollabAction, CollabState, Side};
use crate::domain::matching;
use crate::domain::rate::RateBps;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};

use super::{audit, notify_influencer, notify_merchant};

/// Who acts, when, and the public URL for links in the emails.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub now: NaiveDateTime,
    pub base_url: &'a str,
    pub user_id: i64,
}

fn event(
    conn: &mut DbConn,
    now: NaiveDateTime,
    collab: i64,
    from: Option<CollabState>,
    to: CollabState,
    actor: i64,
    note: &str,
) -> AppResult<()> {
    db::collaborations::add_event(
        conn,
        &NewCollaborationEvent {
            collaboration_id: collab,
            from_state: from.map(|s| s.as_str()),
            to_state: to.as_str(),
            actor_user_id: actor,
            note,
            created_at: now,
        },
    )?;
    Ok(())
}

fn message(input: &str) -> AppResult<String> {
    let m = input.trim();
    if m.chars().count() > 1000 {
        let mut errors = FieldErrors::new();
        errors.add("message", "Use at most 1,000 characters.");
        return Err(AppError::Validation(errors));
    }
    Ok(m.to_owned())
}

/// An influencer applies to an active, open campaign they qualify for.
#[tracing::instrument(skip(conn, text))]
pub fn apply(conn: &mut DbConn, actor: Actor<'_>, campaign_id: i64, text: &str) -> AppResult<i64> {
    let Actor {
        now,
        base_url,
        user_id,
    } = actor;
    let influencer = super::influencer::profile_of(conn, user_id)?;
    let campaign = db::campaigns::find(conn, campaign_id)?.ok_or(AppError::NotFound)?;
    if campaign.visibility != "open" || campaign.state != "active" {
        if db::collaborations::of_pair(conn, campaign_id, influencer.id)?.is_none() {
            return Err(AppError::NotFound);
        }
        return Err(AppError::Conflict(
            "This campaign is not taking applications.".to_owned(),
        ));
    }
    if campaign.ends_at.is_some_and(|e| e <= now) {
        return Err(AppError::Conflict(
            "This campaign has reached its end date.".to_owned(),
        ));
    }
    let fit = super::marketplace::influencer_fit(conn, &influencer)?;
    if let Err(why) = matching::qualifies(&super::marketplace::campaign_fit(&campaign), &fit) {
        return Err(AppError::Conflict(format!(
            "You do not qualify for this campaign yet: {}.",
            why.join("; ")
        )));
    }
    let note = message(text)?;
    db::write_tx(conn, |conn| {
        let id = db::collaborations::insert(
            conn,
            &NewCollaboration {
                campaign_id,
                influencer_id: influencer.id,
                merchant_id: campaign.merchant_id,
                state: CollabState::Applied.as_str(),
                custom_rate_bps: None,
                message: &note,
                created_at: now,
                updated_at: now,
            },
        )
        .map_err(|e| {
            if db::is_unique_violation(&e) {
                AppError::Conflict("You already have a collaboration on this campaign.".to_owned())
            } else {
                e.into()
            }
        })?;
        event(conn, now, id, None, CollabState::Applied, user_id, &note)?;
        let mut lines = vec![format!(
            "@{} applied to your campaign \"{}\".",
            influencer.handle, campaign.name
        )];
        if !note.is_empty() {
            lines.push(format!("Their message: {note}"));
        }
        notify_merchant(
            conn,
            now,
            campaign.merchant_id,
            &format!(
                "New application: @{} for {}",
                influencer.handle, campaign.name
            ),
            &lines,
            &format!("{base_url}/merchant/campaigns/{campaign_id}"),
        )?;
        audit(
            conn,
            now,
            Some(user_id),
            "collaboration.apply",
            ("collaboration", id),
            &campaign.name,
        )?;
        Ok(id)
    })
}

/// A merchant invites an influencer, optionally at a personal rate (a targeted
/// collaboration).
#[tracing::instrument(skip(conn, text))]
pub fn invite(
    conn: &mut DbConn,
    actor: Actor<'_>,
    campaign_id: i64,
    influencer_id: i64,
    rate_input: &str,
    text: &str,
) -> AppResult<i64> {
    let Actor {
        now,
        base_url,
        user_id,
    } = actor;
    let campaign = super::campaigns::get_for_merchant(conn, user_id, campaign_id)?;
    if !matches!(campaign.state.as_str(), "active" | "paused" | "draft") {
        return Err(AppError::Conflict("This campaign has ended.".to_owned()));
    }
    let influencer = db::influencers::find(conn, influencer_id)?.ok_or(AppError::NotFound)?;
    let rate = if rate_input.trim().is_empty() {
        None
    } else {
        Some(RateBps::parse_percent(rate_input).map_err(|e| {
            let mut errors = FieldErrors::new();
            errors.add("rate", e);
            AppError::Validation(errors)
        })?)
    };
    let note = message(text)?;
    db::write_tx(conn, |conn| {
        let id = db::collaborations::insert(
            conn,
            &NewCollaboration {
                campaign_id,
                influencer_id,
                merchant_id: campaign.merchant_id,
                state: CollabState::Invited.as_str(),
                custom_rate_bps: rate.map(|r| r.bps()),
                message: &note,
                created_at: now,
                updated_at: now,
            },
        )
        .map_err(|e| {
            if db::is_unique_violation(&e) {
                AppError::Conflict(format!(
                    "@{} already has a collaboration on this campaign.",
                    influencer.handle
                ))
            } else {
                e.into()
            }
        })?;
        event(conn, now, id, None, CollabState::Invited, user_id, &note)?;
        let merchant =
            db::merchants::find(conn, campaign.merchant_id)?.ok_or(AppError::NotFound)?;
        let mut lines = vec![format!(
            "{} invited you to their campaign \"{}\".",
            merchant.name, campaign.name
        )];
        if let Some(r) = rate {
            lines.push(format!("They offer you a personal commission rate of {r}."));
        }
        if !note.is_empty() {
            lines.push(format!("Their message: {note}"));
        }
        notify_influencer(
            conn,
            now,
            influencer_id,
            &format!("{} invited you to {}", merchant.name, campaign.name),
            &lines,
            &format!("{base_url}/influencer/collaborations"),
        )?;
        audit(
            conn,
            now,
            Some(user_id),
            "collaboration.invite",
            ("collaboration", id),
            &campaign.name,
        )?;
        Ok(id)
    })
}

/// A coupon code for a new active collaboration: the handle's letters and a random tail,
/// unique for the merchant.
fn generate_coupon(conn: &mut DbConn, merchant_id: i64, handle: &str) -> AppResult<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let base: String = handle
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_uppercase();
    let base = if base.is_empty() {
        "TANDEM".to_owned()
    } else {
        base
    };
    let mut rng = rand::rng();
    for _ in 0..20 {
        let tail: String = (0..4)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        let code = format!("{base}{tail}");
        if !db::collaborations::coupon_taken(conn, merchant_id, &code)? {
            return Ok(code);
        }
    }
    Err(AppError::Internal(anyhow::anyhow!(
        "no free coupon code after 20 tries"
    )))
}

/// Moves a collaboration along the state machine, as the given side.
#[tracing::instrument(skip(conn, text))]
pub fn act(
    conn: &mut DbConn,
    actor: Actor<'_>,
    side: Side,
    collaboration_id: i64,
    action: CollabAction,
    text: &str,
) -> AppResult<Collaboration> {
    let Actor {
        now,
        base_url,
        user_id,
    } = actor;
    let collab = match side {
        Side::Merchant => {
            let (merchant, _) = super::merchant::org_of(conn, user_id)?;
            db::collaborations::find_for_merchant(conn, merchant.id, collaboration_id)?
        }
        Side::Influencer => {
            let me = super::influencer::profile_of(conn, user_id)?;
            db::collaborations::find_for_influencer(conn, me.id, collaboration_id)?
        }
    }
    .ok_or(AppError::NotFound)?;
    let from = CollabState::parse(&collab.state)
        .ok_or_else(|| anyhow::anyhow!("bad collaboration state"))?;
    let to = machine::transition(from, action, side).map_err(AppError::Conflict)?;
    let note = message(text)?;
    let campaign: Campaign =
        db::campaigns::find(conn, collab.campaign_id)?.ok_or(AppError::NotFound)?;
    let influencer =
        db::influencers::find(conn, collab.influencer_id)?.ok_or(AppError::NotFound)?;
    db::write_tx(conn, |conn| {
        if !db::collaborations::set_state(conn, collab.id, from.as_str(), to.as_str(), now)? {
            return Err(AppError::Conflict(
                "This collaboration changed meanwhile; reload the page.".to_owned(),
            ));
        }
        if to == CollabState::Active && collab.coupon_code.is_none() {
            let code = generate_coupon(conn, collab.merchant_id, &influencer.handle)?;
            db::collaborations::set_coupon(conn, collab.id, &code, now)?;
        }
        event(conn, now, collab.id, Some(from), to, user_id, &note)?;
        let mut lines = vec![];
        match side {
            Side::Merchant => {
                let merchant =
                    db::merchants::find(conn, collab.merchant_id)?.ok_or(AppError::NotFound)?;
                lines.push(format!(
                    "{} {} your collaboration on \"{}\".",
                    merchant.name,
                    action.past_tense(),
                    campaign.name
                ));
                if to == CollabState::Active {
                    lines.push(
                        "You can now make stream links and share your coupon code.".to_owned(),
                    );
                }
                if !note.is_empty() {
                    lines.push(format!("Their message: {note}"));
                }
                notify_influencer(
                    conn,
                    now,
                    collab.influencer_id,
                    &format!("{}: {}", campaign.name, action.past_tense()),
                    &lines,
                    &format!("{base_url}/influencer/collaborations"),
                )?;
            }
            Side::Influencer => {
                lines.push(format!(
                    "@{} {} the collaboration on \"{}\".",
                    influencer.handle,
                    action.past_tense(),
                    campaign.name
                ));
                if !note.is_empty() {
                    lines.push(format!("Their message: {note}"));
                }
                notify_merchant(
                    conn,
                    now,
                    collab.merchant_id,
                    &format!(
                        "@{} {} {}",
                        influencer.handle,
                        action.past_tense(),
                        campaign.name
                    ),
                    &lines,
                    &format!("{base_url}/merchant/campaigns/{}", campaign.id),
                )?;
            }
        }
        audit(
            conn,
            now,
            Some(user_id),
            "collaboration.state",
            ("collaboration", collab.id),
            &format!("{} -> {}", from.as_str(), to.as_str()),
        )?;
        db::collaborations::find(conn, collab.id)?.ok_or(AppError::NotFound)
    })
}

/// A merchant sets the coupon code of one of its collaborations.
pub fn set_coupon(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    collaboration_id: i64,
    input: &str,
) -> AppResult<String> {
    let (merchant, _) = super::merchant::org_of(conn, user_id)?;
    let collab = db::collaborations::find_for_merchant(conn, merchant.id, collaboration_id)?
        .ok_or(AppError::NotFound)?;
    let code = input.trim().to_ascii_uppercase();
    let field = |m: &str| {
        let mut errors = FieldErrors::new();
        errors.add("coupon_code", m);
        AppError::Validation(errors)
    };
    if code.len() < 4
        || code.len() > 20
        || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(field("Use 4 to 20 letters, digits or dashes."));
    }
    db::write_tx(conn, |conn| {
        if collab.coupon_code.as_deref() != Some(&code)
            && db::collaborations::coupon_taken(conn, merchant.id, &code)?
        {
            return Err(field("Another collaboration already uses this code."));
        }
        db::collaborations::set_coupon(conn, collab.id, &code, now).map_err(|e| {
            if db::is_unique_violation(&e) {
                field("Another collaboration already uses this code.")
            } else {
                e.into()
            }
        })?;
        audit(
            conn,
            now,
            Some(user_id),
            "collaboration.coupon",
            ("collaboration", collab.id),
            &code,
        )?;
        Ok(code.clone())
    })
}
