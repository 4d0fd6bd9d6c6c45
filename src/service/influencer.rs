//! An influencer's profile: who they are, what they cover, where their audience is, their
//! social accounts and how they are paid.

use chrono::NaiveDateTime;

use crate::db::models::{Influencer, NewSocialAccount, SocialAccount};
use crate::db::{self, DbConn};
use crate::domain::catalog::{self, LANGUAGES};
use crate::domain::email_address::EmailAddress;
use crate::domain::money::Currency;
use crate::domain::rate::RateBps;
use crate::domain::sealed::Sealer;
use crate::domain::validate::{self, FieldErrors};
use crate::error::{AppError, AppResult};

use super::audit;

pub fn profile_of(conn: &mut DbConn, user_id: i64) -> AppResult<Influencer> {
    db::influencers::find_by_user(conn, user_id)?.ok_or(AppError::Forbidden)
}

/// The profile with what hangs off it.
#[derive(Debug, Clone)]
pub struct FullProfile {
    pub profile: Influencer,
    pub categories: Vec<String>,
    pub regions: Vec<String>,
    pub accounts: Vec<SocialAccount>,
}

pub fn full_profile(conn: &mut DbConn, influencer: Influencer) -> AppResult<FullProfile> {
    let ids = [influencer.id];
    Ok(FullProfile {
        categories: db::influencers::categories_of(conn, &ids)?
            .into_iter()
            .map(|(_, c)| c)
            .collect(),
        regions: db::influencers::regions_of(conn, &ids)?
            .into_iter()
            .map(|(_, r)| r)
            .collect(),
        accounts: db::influencers::accounts_of(conn, &ids)?,
        profile: influencer,
    })
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ProfileForm {
    pub display_name: String,
    pub handle: String,
    pub bio: String,
    pub country: String,
    pub categories: Vec<String>,
    pub regions: Vec<String>,
    pub languages: Vec<String>,
}

impl ProfileForm {
    pub fn from_profile(p: &FullProfile) -> Self {
        ProfileForm {
            display_name: p.profile.display_name.clone(),
            handle: p.profile.handle.clone(),
            bio: p.profile.bio.clone(),
            country: p.profile.country.clone().unwrap_or_default(),
            categories: p.categories.clone(),
            regions: p.regions.clone(),
            languages: split_list(&p.profile.languages),
        }
    }
}

pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

#[tracing::instrument(skip(conn, form))]
pub fn update_profile(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    form: &ProfileForm,
) -> AppResult<Influencer> {
    let profile = profile_of(conn, user_id)?;
    let mut errors = FieldErrors::new();
    let display_name = errors.check(
        "display_name",
        validate::name(&form.display_name, "a display name"),
    );
    let handle = errors.check("handle", validate::handle(&form.handle));
    let bio = errors.check("bio", validate::bio(&form.bio));
    let country = errors.check("country", validate::country(&form.country));
    let categories = errors.check(
        "categories",
        form.categories
            .iter()
            .map(|c| catalog::parse_category(c))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|v| {
                if v.len() > 5 {
                    Err("Choose at most 5 categories.".to_owned())
                } else {
                    Ok(dedup(v))
                }
            }),
    );
    let regions = errors.check(
        "regions",
        form.regions
            .iter()
            .map(|r| {
                validate::country(r)
                    .and_then(|c| c.ok_or_else(|| "Choose regions from the list.".to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(dedup),
    );
    let languages = errors.check(
        "languages",
        form.languages
            .iter()
            .map(|l| {
                let l = l.trim().to_ascii_lowercase();
                if LANGUAGES.iter().any(|(c, _)| *c == l) {
                    Ok(l)
                } else {
                    Err("Choose languages from the list.".to_owned())
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(dedup),
    );
    if let Some(h) = &handle
        && db::influencers::handle_owner(conn, h)?.is_some_and(|owner| owner != user_id)
    {
        errors.add("handle", "This handle is taken; choose another.");
    }
    let (
        Some(display_name),
        Some(handle),
        Some(bio),
        Some(country),
        Some(categories),
        Some(regions),
        Some(languages),
        true,
    ) = (
        display_name,
        handle,
        bio,
        country,
        categories,
        regions,
        languages,
        errors.is_empty(),
    )
    else {
        return Err(AppError::Validation(errors));
    };
    db::write_tx(conn, |conn| {
        db::influencers::update_profile(
            conn,
            profile.id,
            &handle,
            &display_name,
            &bio,
            country.as_deref(),
            now,
        )
        .map_err(|e| {
            if db::is_unique_violation(&e) {
                let mut errors = FieldErrors::new();
                errors.add("handle", "This handle is taken; choose another.");
                AppError::Validation(errors)
            } else {
                e.into()
            }
        })?;
        // A first country sets the time zone of an account still on the UTC default.
        if profile.country.is_none()
            && let Some(zone) = country.as_deref().and_then(validate::country_time_zone)
            && let Some(user) = db::users::find(conn, user_id)?
            && user.time_zone == "UTC"
        {
            db::users::update_account(conn, user_id, &user.display_name, zone, now)?;
        }
        db::influencers::set_categories(conn, profile.id, &categories)?;
        db::influencers::set_regions(conn, profile.id, &regions)?;
        db::influencers::set_languages(conn, profile.id, &languages.join(","))?;
        audit(
            conn,
            now,
            Some(user_id),
            "influencer.profile",
            ("influencer", profile.id),
            "profile updated",
        )?;
        db::influencers::find_by_user(conn, user_id)?.ok_or(AppError::NotFound)
    })
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct SocialAccountForm {
    pub platform: String,
    pub account_handle: String,
    pub followers: String,
    pub avg_views: String,
    pub engagement: String,
}

fn parse_count(input: &str, what: &str) -> Result<i64, String> {
    let s: String = input
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != '_')
        .collect();
    match s.parse::<i64>() {
        Ok(n) if (0..=5_000_000_000).contains(&n) => Ok(n),
        _ => Err(format!(
            "Enter the number of {what} as a whole number, e.g. 125000."
        )),
    }
}

/// Recomputes the totals matching uses: followers summed over accounts, engagement weighted by
/// followers.
fn refresh_reach(conn: &mut DbConn, influencer_id: i64) -> AppResult<()> {
    let accounts = db::influencers::accounts_of(conn, &[influencer_id])?;
    let total: i64 = accounts.iter().map(|a| a.followers).sum();
    let weighted: i128 = accounts
        .iter()
        .map(|a| i128::from(a.followers) * i128::from(a.engagement_bps))
        .sum();
    let engagement = if total > 0 {
        weighted / i128::from(total)
    } else {
        0
    };
    db::influencers::set_reach(
        conn,
        influencer_id,
        total,
        i32::try_from(engagement).unwrap_or(0),
    )?;
    Ok(())
}

pub fn add_account(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    form: &SocialAccountForm,
) -> AppResult<()> {
    let profile = profile_of(conn, user_id)?;
    let mut errors = FieldErrors::new();
    let platform = errors.check("platform", catalog::parse_platform(&form.platform));
    let handle = errors.check("account_handle", {
        let h = form.account_handle.trim().trim_start_matches('@');
        if h.is_empty()
            || h.chars().count() > 60
            || h.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            Err("Enter the account's handle, without spaces.".to_owned())
        } else {
            Ok(h.to_owned())
        }
    });
    let followers = errors.check("followers", parse_count(&form.followers, "followers"));
    let avg_views = errors.check("avg_views", parse_count(&form.avg_views, "average views"));
    let engagement = errors.check("engagement", RateBps::parse_percent(&form.engagement));
    let (Some(platform), Some(handle), Some(followers), Some(avg_views), Some(engagement)) =
        (platform, handle, followers, avg_views, engagement)
    else {
        return Err(AppError::Validation(errors));
    };
    db::write_tx(conn, |conn| {
        db::influencers::add_account(
            conn,
            &NewSocialAccount {
                influencer_id: profile.id,
                platform: &platform,
                handle: &handle,
                followers,
                avg_views,
                engagement_bps: engagement.bps(),
                created_at: now,
            },
        )
        .map_err(|e| {
            if db::is_unique_violation(&e) {
                let mut errors = FieldErrors::new();
                errors.add("account_handle", "This account is already on your profile.");
                AppError::Validation(errors)
            } else {
                e.into()
            }
        })?;
        refresh_reach(conn, profile.id)
    })
}

pub fn remove_account(conn: &mut DbConn, user_id: i64, account_id: i64) -> AppResult<()> {
    let profile = profile_of(conn, user_id)?;
    db::write_tx(conn, |conn| {
        if db::influencers::remove_account(conn, profile.id, account_id)? == 0 {
            return Err(AppError::NotFound);
        }
        refresh_reach(conn, profile.id)
    })
}

/// Payout details, stored as JSON; shown only masked.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PayoutForm {
    pub method: String,
    pub currency: String,
    pub account_holder: String,
    pub bank_name: String,
    pub account_number: String,
    pub paypal_email: String,
    /// The owner's password, asked for every change of where their money goes; never
    /// stored (not serialized into the sealed details).
    #[serde(skip_serializing)]
    pub current_password: String,
}

/// `****6789`: only the last four characters.
pub fn mask_tail(s: &str) -> String {
    let chars: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    let tail: String = chars.iter().skip(chars.len().saturating_sub(4)).collect();
    format!("****{tail}")
}

/// The saved payout method as shown to its owner, masked: e.g. `Bank transfer (CNY) ·
/// China Merchants Bank ****6789`.
pub fn payout_summary(p: &Influencer, sealer: &Sealer) -> Option<String> {
    let method = p.payout_method.as_deref()?;
    let details = payout_details(p, sealer);
    let currency = p.payout_currency.clone().unwrap_or_default();
    Some(match method {
        "paypal" => format!(
            "PayPal ({currency}) · {}",
            crate::domain::email_address::mask_email(&details.paypal_email)
        ),
        _ => format!(
            "Bank transfer ({currency}) · {} {} · {}",
            details.bank_name,
            mask_tail(&details.account_number),
            details.account_holder
        ),
    })
}

/// The influencer's payout details for a payment file: an error naming the influencer when
/// they are stored but do not open (the secret key changed), never a silently empty row.
pub fn payout_details_for_payment(p: &Influencer, sealer: &Sealer) -> AppResult<PayoutForm> {
    let Some(stored) = p.payout_details.as_deref() else {
        return Ok(PayoutForm::default());
    };
    let plain = sealer.open(stored).map_err(|e| {
        AppError::Conflict(format!(
            "The payout details of @{} do not open ({e}); nothing was exported.",
            p.handle
        ))
    })?;
    serde_json::from_str(&plain).map_err(|_| {
        AppError::Conflict(format!(
            "The payout details of @{} are unreadable; nothing was exported.",
            p.handle
        ))
    })
}

/// A payout's destination (its sealed details) for a payment file: an error naming the
/// creator when it is missing or does not open, never a silently empty row.
pub fn destination_for_payment(
    destination: Option<&str>,
    handle: &str,
    sealer: &Sealer,
) -> AppResult<PayoutForm> {
    let Some(stored) = destination else {
        return Err(AppError::Conflict(format!(
            "Payout of @{handle} has no destination on record; nothing was exported."
        )));
    };
    let plain = sealer.open(stored).map_err(|e| {
        AppError::Conflict(format!(
            "The payout details of @{handle} do not open ({e}); nothing was exported."
        ))
    })?;
    serde_json::from_str(&plain).map_err(|_| {
        AppError::Conflict(format!(
            "The payout details of @{handle} are unreadable; nothing was exported."
        ))
    })
}

/// Where a payout goes, masked, as the approver reviews it: `China Merchants Bank ****6789 ·
/// Li Wei` or `PayPal y***@example.com`.
pub fn destination_label(method: &str, destination: Option<&str>, sealer: &Sealer) -> String {
    let Some(d) = destination
        .and_then(|d| sealer.open(d).ok())
        .and_then(|plain| serde_json::from_str::<PayoutForm>(&plain).ok())
    else {
        return "no details on record".to_owned();
    };
    match method {
        "paypal" => format!(
            "PayPal {}",
            crate::domain::email_address::mask_email(&d.paypal_email)
        ),
        _ => format!(
            "{} {} · {}",
            d.bank_name,
            mask_tail(&d.account_number),
            d.account_holder
        ),
    }
}

/// The influencer's payout details, opened (empty when none or when they do not open).
pub fn payout_details(p: &Influencer, sealer: &Sealer) -> PayoutForm {
    p.payout_details
        .as_deref()
        .and_then(|d| match sealer.open(d) {
            Ok(plain) => serde_json::from_str(&plain).ok(),
            Err(e) => {
                tracing::error!(influencer = p.id, error = %e, "payout details do not open");
                None
            }
        })
        .unwrap_or_default()
}

/// What [`seal_plain_details`] sealed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sealed {
    /// Creators' payout details.
    pub influencers: usize,
    /// Payouts' destinations (copies of the details they pay).
    pub payouts: usize,
}

/// Seals every payout detail still stored as plain text (from before sealing, or loaded by
/// the demo), and every payout destination copied from such details, in one transaction;
/// then, if it sealed anything, scrubs the database's free space and log so no plain copy
/// stays on disk ([`db::scrub_free_space`]).
pub fn seal_plain_details(conn: &mut DbConn, sealer: &Sealer) -> AppResult<Sealed> {
    let sealed = db::write_tx(conn, |conn| {
        let mut sealed = Sealed::default();
        for (id, details) in db::influencers::payout_details_all(conn)? {
            if Sealer::is_sealed(&details) {
                continue;
            }
            db::influencers::set_payout_details(conn, id, &sealer.seal(&details))?;
            sealed.influencers += 1;
        }
        for (id, plain) in db::payouts::plain_destinations(conn)? {
            sealed.payouts +=
                db::payouts::seal_destination(conn, id, &plain, &sealer.seal(&plain))?;
        }
        Ok::<_, AppError>(sealed)
    })?;
    if sealed != Sealed::default() {
        db::scrub_free_space(conn)?;
    }
    Ok(sealed)
}

/// Saves where the creator is paid. It asks for their password (guesses count like failed
/// sign-ins), emails them that their details changed, and points their payouts still
/// awaiting approval at the new details; approved payouts keep the destination they were
/// approved with.
#[allow(clippy::too_many_arguments)]
pub fn save_payout(
    conn: &mut DbConn,
    now: NaiveDateTime,
    sealer: &Sealer,
    base_url: &str,
    user_id: i64,
    address: &str,
    form: &PayoutForm,
) -> AppResult<()> {
    let profile = profile_of(conn, user_id)?;
    let user = db::users::find(conn, user_id)?.ok_or(AppError::NotFound)?;
    let mut errors = FieldErrors::new();
    if form.current_password.is_empty() {
        errors.add(
            "current_password",
            "Enter your password to change where you are paid.",
        );
    } else {
        let key = user.email.trim().to_lowercase();
        match super::accounts::admit_guess(conn, now, &key, address)? {
            Err(minutes) => errors.add(
                "current_password",
                format!(
                    "Too many wrong passwords. For your safety, try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                ),
            ),
            Ok(guess) => {
                let ok =
                    crate::domain::password::verify(&form.current_password, &user.password_hash);
                super::accounts::settle_guess(conn, guess, ok)?;
                if !ok {
                    errors.add("current_password", "This is not your password.");
                }
            }
        }
    }
    let currency = errors.check(
        "currency",
        Currency::parse(&form.currency).map_err(|e| e.to_string()),
    );
    let stored = match form.method.as_str() {
        "bank" => {
            let holder = errors.check(
                "account_holder",
                validate::name(&form.account_holder, "the account holder's name"),
            );
            let bank = errors.check(
                "bank_name",
                validate::name(&form.bank_name, "the bank's name"),
            );
            let number: String = form
                .account_number
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .collect();
            if number.len() < 6
                || number.len() > 34
                || !number.chars().all(|c| c.is_ascii_alphanumeric())
            {
                errors.add(
                    "account_number",
                    "Enter the account number or IBAN (6 to 34 letters and digits).",
                );
            }
            PayoutForm {
                method: "bank".into(),
                currency: String::new(),
                account_holder: holder.unwrap_or_default(),
                bank_name: bank.unwrap_or_default(),
                account_number: number,
                ..PayoutForm::default()
            }
        }
        "paypal" => {
            let email = errors.check("paypal_email", EmailAddress::parse(&form.paypal_email));
            PayoutForm {
                method: "paypal".into(),
                paypal_email: email.map(|e| e.to_string()).unwrap_or_default(),
                ..PayoutForm::default()
            }
        }
        _ => {
            errors.add("method", "Choose bank transfer or PayPal.");
            PayoutForm::default()
        }
    };
    let Some(currency) = currency else {
        return Err(AppError::Validation(errors));
    };
    errors.into_result().map_err(AppError::Validation)?;
    let details = sealer.seal(&serde_json::to_string(&stored).map_err(anyhow::Error::from)?);
    db::write_tx(conn, |conn| {
        let had = profile.payout_method.is_some();
        db::influencers::set_payout(
            conn,
            profile.id,
            &stored.method,
            currency.code(),
            &details,
            now,
        )?;
        audit(
            conn,
            now,
            Some(user_id),
            "influencer.payout_method",
            ("influencer", profile.id),
            if had {
                "payout method changed"
            } else {
                "payout method saved"
            },
        )?;
        let redirected =
            db::payouts::redirect_drafts(conn, profile.id, &stored.method, &details, now)?;
        for (payout, run) in &redirected {
            audit(
                conn,
                now,
                Some(user_id),
                "payout.destination",
                ("payout_run", *run),
                &format!(
                    "payout #{payout} (@{}) awaiting approval now pays the creator's new details",
                    profile.handle
                ),
            )?;
        }
        let updated = db::influencers::find(conn, profile.id)?.ok_or(AppError::NotFound)?;
        let summary = payout_summary(&updated, sealer).unwrap_or_default();
        let mut lines = vec![
            format!("Your payout details were {} on {}: {summary}.", if had { "changed" } else { "saved" }, now.format("%Y-%m-%d %H:%M UTC")),
            "Payouts already approved are paid to the details they were approved with; payouts still awaiting approval go to these.".to_owned(),
        ];
        if !redirected.is_empty() {
            lines.push(format!(
                "{} awaiting approval now {} to these details.",
                if redirected.len() == 1 {
                    "1 payout".to_owned()
                } else {
                    format!("{} payouts", redirected.len())
                },
                if redirected.len() == 1 { "goes" } else { "go" }
            ));
        }
        lines.push("If you did not make this change, change your password now and tell us: nobody else should know it.".to_owned());
        let email = crate::email::templates::notice(
            &user.display_name,
            "Your payout details were changed",
            &super::in_zone_of(&user, &lines),
            &format!("{base_url}/influencer#payout"),
            "Review your payout method",
        )?;
        super::enqueue_email(conn, now, &user.email, &email)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_tail("6222 0212 3456 6789"), "****6789");
        assert_eq!(mask_tail("12"), "****12");
    }
}
