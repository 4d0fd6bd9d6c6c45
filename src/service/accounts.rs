//! Sign-up, login (with throttling), password reset and account settings.

use base64::Engine;
use chrono::{NaiveDateTime, TimeDelta};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::models::{
    NewInfluencer, NewMerchant, NewMerchantMember, NewPasswordReset, NewUser, User,
};
use crate::db::{self, DbConn};
use crate::domain::account::{MemberRole, Role};
use crate::domain::email_address::EmailAddress;
use crate::domain::money::Currency;
use crate::domain::password;
use crate::domain::validate::{self, FieldErrors};
use crate::email::templates;
use crate::error::{AppError, AppResult};

use super::{audit, enqueue_email};

/// How long a password reset link works.
pub const RESET_TTL_MINUTES: i64 = 60;
/// Reset emails sent to one account per hour, at most.
pub const MAX_RESETS_PER_HOUR: i64 = 3;
/// Login throttling: this many failures in the window, per account and per IP address.
/// Failed logins allowed per window: for one account from one address (tight), for one
/// account from anywhere and from one address across accounts (looser).
pub const MAX_PAIR_FAILURES: i64 = 5;
pub const MAX_ACCOUNT_FAILURES: i64 = 20;
pub const MAX_ADDRESS_FAILURES: i64 = 50;
pub const FAILURE_WINDOW_MINUTES: i64 = 15;

/// What a merchant types to sign up.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct MerchantSignupForm {
    pub name: String,
    pub email: String,
    pub password: String,
    pub org_name: String,
    pub currency: String,
    /// Chosen, or detected by the browser; empty: the zone of the currency's home country.
    pub time_zone: String,
}

/// What an influencer types to sign up.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct InfluencerSignupForm {
    pub name: String,
    pub handle: String,
    pub email: String,
    pub password: String,
    /// Chosen, or detected by the browser; empty: UTC until a country is set on the profile.
    pub time_zone: String,
}

fn email_taken(conn: &mut DbConn, email: &str) -> AppResult<bool> {
    Ok(db::users::find_by_email(conn, email)?.is_some())
}

fn taken_error() -> AppError {
    let mut errors = FieldErrors::new();
    errors.add(
        "email",
        "An account with this email already exists. Log in, or reset your password.",
    );
    AppError::Validation(errors)
}

/// Maps a unique violation on insert (a sign-up race) to the field error.
fn unique_to(field_error: fn() -> AppError) -> impl Fn(diesel::result::Error) -> AppError {
    move |e| {
        if db::is_unique_violation(&e) {
            field_error()
        } else {
            e.into()
        }
    }
}

/// Inserts a new user; an email taken meanwhile (a sign-up race) is the field error.
pub(crate) fn insert_user(
    conn: &mut DbConn,
    now: NaiveDateTime,
    email: &EmailAddress,
    password_hash: &str,
    role: &str,
    name: &str,
    time_zone: &str,
) -> AppResult<User> {
    db::users::insert(
        conn,
        &NewUser {
            email: email.as_str(),
            password_hash,
            role,
            display_name: name,
            time_zone,
            session_version: 1,
            created_at: now,
            updated_at: now,
        },
    )
    .map_err(unique_to(taken_error))
}

/// An instant in the user's own time zone, for an email to them.
fn user_time(user: &User, t: NaiveDateTime) -> String {
    crate::domain::clock::fmt_datetime(t, user.time_zone.parse().unwrap_or(chrono_tz::Tz::UTC))
}

fn welcome(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user: &User,
    role: Role,
    base_url: &str,
) -> AppResult<()> {
    let email = templates::welcome(
        &user.display_name,
        role.label(),
        &format!("{base_url}{}", role.home()),
    )?;
    enqueue_email(conn, now, &user.email, &email)?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub fn signup_merchant(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    form: &MerchantSignupForm,
) -> AppResult<User> {
    let mut errors = FieldErrors::new();
    let name = errors.check("name", validate::name(&form.name, "your name"));
    let email = errors.check("email", EmailAddress::parse(&form.email));
    let pw_ok = errors.check(
        "password",
        password::check_new(
            &form.password,
            &password::Known {
                email: &form.email,
                org_name: Some(&form.org_name),
                names: &[&form.name],
            },
        ),
    );
    let org_name = errors.check("org_name", validate::org_name(&form.org_name));
    let currency = errors.check(
        "currency",
        Currency::parse(&form.currency).map_err(|e| e.to_string()),
    );
    let fallback = currency
        .and_then(|c| validate::currency_time_zone(c.code()))
        .unwrap_or("UTC");
    let tz = errors.check(
        "time_zone",
        validate::time_zone_or(&form.time_zone, fallback),
    );
    let (Some(name), Some(email), Some(()), Some(org_name), Some(currency), Some(tz)) =
        (name, email, pw_ok, org_name, currency, tz)
    else {
        return Err(AppError::Validation(errors));
    };
    if email_taken(conn, email.as_str())? {
        return Err(taken_error());
    }
    let hash = password::hash(&form.password)?;
    db::write_tx(conn, |conn| {
        let user = insert_user(
            conn,
            now,
            &email,
            &hash,
            Role::Merchant.as_str(),
            &name,
            &tz,
        )?;
        let base = validate::slugify(&org_name);
        let mut slug = base.clone();
        let mut n = 2;
        while db::merchants::slug_taken(conn, &slug)? {
            slug = format!("{base}-{n}");
            n += 1;
        }
        let merchant = db::merchants::insert(
            conn,
            &NewMerchant {
                name: &org_name,
                slug: &slug,
                website: None,
                default_currency: currency.code(),
                created_at: now,
                updated_at: now,
            },
        )?;
        db::merchants::add_member(
            conn,
            &NewMerchantMember {
                merchant_id: merchant.id,
                user_id: user.id,
                member_role: MemberRole::Owner.as_str(),
                created_at: now,
            },
        )?;
        welcome(conn, now, &user, Role::Merchant, base_url)?;
        audit(
            conn,
            now,
            Some(user.id),
            "signup",
            ("merchant", merchant.id),
            "merchant organisation created",
        )?;
        tracing::info!(
            user_id = user.id,
            merchant_id = merchant.id,
            "merchant signed up"
        );
        Ok(user)
    })
}

fn handle_taken_error() -> AppError {
    let mut errors = FieldErrors::new();
    errors.add("handle", "This handle is taken; choose another.");
    AppError::Validation(errors)
}

#[tracing::instrument(skip_all)]
pub fn signup_influencer(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    form: &InfluencerSignupForm,
) -> AppResult<User> {
    let mut errors = FieldErrors::new();
    let name = errors.check("name", validate::name(&form.name, "your display name"));
    let handle = errors.check("handle", validate::handle(&form.handle));
    let email = errors.check("email", EmailAddress::parse(&form.email));
    let pw_ok = errors.check(
        "password",
        password::check_new(
            &form.password,
            &password::Known {
                email: &form.email,
                org_name: None,
                names: &[&form.name, &form.handle],
            },
        ),
    );
    let tz = errors.check("time_zone", validate::time_zone_or(&form.time_zone, "UTC"));
    let (Some(name), Some(handle), Some(email), Some(()), Some(tz)) =
        (name, handle, email, pw_ok, tz)
    else {
        return Err(AppError::Validation(errors));
    };
    if email_taken(conn, email.as_str())? {
        return Err(taken_error());
    }
    if db::influencers::handle_owner(conn, &handle)?.is_some() {
        return Err(handle_taken_error());
    }
    let hash = password::hash(&form.password)?;
    db::write_tx(conn, |conn| {
        let user = insert_user(
            conn,
            now,
            &email,
            &hash,
            Role::Influencer.as_str(),
            &name,
            &tz,
        )?;
        let influencer = db::influencers::insert(
            conn,
            &NewInfluencer {
                user_id: user.id,
                handle: &handle,
                display_name: &name,
                bio: "",
                country: None,
                created_at: now,
                updated_at: now,
            },
        )
        .map_err(unique_to(handle_taken_error))?;
        welcome(conn, now, &user, Role::Influencer, base_url)?;
        audit(
            conn,
            now,
            Some(user.id),
            "signup",
            ("influencer", influencer.id),
            "influencer profile created",
        )?;
        tracing::info!(
            user_id = user.id,
            influencer_id = influencer.id,
            "influencer signed up"
        );
        Ok(user)
    })
}

/// Creates a finance or admin user (from the CLI).
pub fn add_staff_user(
    conn: &mut DbConn,
    now: NaiveDateTime,
    role: Role,
    email: &str,
    password_text: &str,
    display_name: &str,
) -> AppResult<User> {
    let mut errors = FieldErrors::new();
    let pw_ok = errors.check(
        "password",
        password::check_new(
            password_text,
            &password::Known {
                email,
                org_name: None,
                names: &[display_name],
            },
        ),
    );
    let email = errors.check("email", EmailAddress::parse(email));
    let name = errors.check("name", validate::name(display_name, "a name"));
    if !matches!(role, Role::Finance | Role::Admin) {
        errors.add("role", "Only finance and admin users are created here.");
    }
    let (Some(email), Some(()), Some(name), true) = (email, pw_ok, name, errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };
    if email_taken(conn, email.as_str())? {
        return Err(taken_error());
    }
    let hash = password::hash(password_text)?;
    db::write_tx(conn, |conn| {
        let user = insert_user(conn, now, &email, &hash, role.as_str(), &name, "UTC")?;
        audit(
            conn,
            now,
            None,
            "user.create",
            ("user", user.id),
            &format!("{} user created from the command line", role.as_str()),
        )?;
        Ok(user)
    })
}

/// What came of a login attempt.
#[derive(Debug)]
pub enum LoginOutcome {
    LoggedIn(User),
    /// Wrong email or password (we never say which).
    Invalid,
    Disabled,
    /// Too many failures; try again after this many minutes.
    Throttled {
        minutes: i64,
    },
}

fn minutes_until(now: NaiveDateTime, oldest: Option<NaiveDateTime>) -> i64 {
    let until = oldest.unwrap_or(now) + TimeDelta::minutes(FAILURE_WINDOW_MINUTES);
    let secs = (until - now).num_seconds().max(1);
    (secs + 59) / 60
}

/// A guess admitted past the limits: its recorded, pending attempt.
pub struct Admitted(i64);

/// The throttle (issue 19), before any password is checked: counts the failures before this
/// attempt and, unless a limit is reached, records it as pending, in one transaction (so
/// concurrent guesses are counted one after the other and cannot pass a limit together).
/// Limits, per [`FAILURE_WINDOW_MINUTES`], counted from after the last success:
/// [`MAX_PAIR_FAILURES`] for this account from this address; [`MAX_ACCOUNT_FAILURES`] for
/// the account from anywhere; [`MAX_ADDRESS_FAILURES`] from the address across accounts,
/// except for an account that logged in from it before (so people behind one address are not
/// locked out by someone else's failures there).
pub fn admit_guess(
    conn: &mut DbConn,
    now: NaiveDateTime,
    email_key: &str,
    address: &str,
) -> AppResult<Result<Admitted, i64>> {
    let since = now - TimeDelta::minutes(FAILURE_WINDOW_MINUTES);
    db::write_tx(conn, |conn| {
        db::logins::lock(conn, email_key, address)?;
        let limits = [
            (Some(email_key), Some(address), MAX_PAIR_FAILURES),
            (Some(email_key), None, MAX_ACCOUNT_FAILURES),
            (None, Some(address), MAX_ADDRESS_FAILURES),
        ];
        for (email, addr, max) in limits {
            let (count, oldest) = db::logins::failures(conn, email, addr, since)?;
            if count < max {
                continue;
            }
            if email.is_none()
                && db::logins::known_pair(conn, email_key, address, now - TimeDelta::days(30))?
            {
                continue;
            }
            return Ok(Err(minutes_until(now, oldest)));
        }
        Ok(Ok(Admitted(db::logins::record_pending(
            conn, email_key, address, now,
        )?)))
    })
}

/// Settles an admitted guess once its password was checked.
pub fn settle_guess(conn: &mut DbConn, guess: Admitted, succeeded: bool) -> AppResult<()> {
    db::logins::settle(conn, guess.0, succeeded)?;
    Ok(())
}

/// An email address as attempts are counted: trimmed, lower-cased, bounded (a huge form
/// field cannot bloat the attempts table).
fn email_key(input: &str) -> String {
    input.trim().to_lowercase().chars().take(254).collect()
}

/// Logs in with email and password from `address` (the client's address, salted and
/// hashed). Throttled before the password is checked (see [`admit_guess`]).
#[tracing::instrument(skip_all)]
pub fn login(
    conn: &mut DbConn,
    now: NaiveDateTime,
    email_input: &str,
    password_input: &str,
    address: &str,
) -> AppResult<LoginOutcome> {
    let email_key = email_key(email_input);
    let guess = match admit_guess(conn, now, &email_key, address)? {
        Ok(guess) => guess,
        Err(minutes) => return Ok(LoginOutcome::Throttled { minutes }),
    };
    let user = db::users::find_by_email(conn, &email_key)?;
    let ok = match &user {
        Some(u) => password::verify(password_input, &u.password_hash),
        None => {
            // Same work either way, so timing does not tell which emails exist.
            let _ = password::verify(password_input, password::dummy_hash());
            false
        }
    };
    settle_guess(conn, guess, ok)?;
    match user {
        Some(u) if ok => {
            if u.disabled_at.is_some() {
                return Ok(LoginOutcome::Disabled);
            }
            db::users::record_login(conn, u.id, now)?;
            tracing::info!(user_id = u.id, "logged in");
            Ok(LoginOutcome::LoggedIn(u))
        }
        _ => {
            tracing::info!(
                email = crate::domain::email_address::mask_email(&email_key),
                "failed login"
            );
            Ok(LoginOutcome::Invalid)
        }
    }
}

/// Notes that the account signed in from `address` (at sign-up), so that others' failures
/// from the same address never refuse it (see [`admit_guess`]).
pub fn remember_address(
    conn: &mut DbConn,
    now: NaiveDateTime,
    email: &str,
    address: &str,
) -> AppResult<()> {
    let id = db::logins::record_pending(conn, &email_key(email), address, now)?;
    db::logins::settle(conn, id, true)?;
    Ok(())
}

/// Forgets login attempts older than 30 days and sessions that can no longer open anything.
pub fn forget_old_attempts(conn: &mut DbConn, now: NaiveDateTime) -> AppResult<usize> {
    let n = db::logins::delete_before(conn, now - TimeDelta::days(30))?;
    let m = db::sessions::delete_old(
        conn,
        now - TimeDelta::days(super::sessions::SESSION_DAYS + 30),
    )?;
    Ok(n + m)
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Emails a single-use reset link when the address belongs to an active account. Says
/// nothing either way (the page shows the same message), so it cannot be used to find out
/// who has an account.
#[tracing::instrument(skip_all)]
pub fn request_password_reset(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    email_input: &str,
) -> AppResult<()> {
    let Ok(email) = EmailAddress::parse(email_input) else {
        return Ok(());
    };
    let Some(user) = db::users::find_by_email(conn, email.as_str())? else {
        return Ok(());
    };
    if user.disabled_at.is_some() {
        return Ok(());
    }
    // At most a few links an hour, so the form cannot be used to flood someone's inbox.
    let recent = db::password_resets::count_since(conn, user.id, now - TimeDelta::hours(1))?;
    if recent >= MAX_RESETS_PER_HOUR {
        tracing::info!(
            user_id = user.id,
            "password reset not sent: hourly limit reached"
        );
        return Ok(());
    }
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let token_hash = hash_token(&token);
    let url = format!("{base_url}/reset-password?token={token}");
    let email = templates::password_reset(&user.display_name, &url, RESET_TTL_MINUTES)?;
    db::write_tx(conn, |conn| {
        db::password_resets::insert(
            conn,
            &NewPasswordReset {
                user_id: user.id,
                token_hash: &token_hash,
                created_at: now,
                expires_at: now + TimeDelta::minutes(RESET_TTL_MINUTES),
            },
        )?;
        enqueue_email(conn, now, &user.email, &email)?;
        audit(
            conn,
            now,
            Some(user.id),
            "password.reset_requested",
            ("user", user.id),
            "reset link emailed",
        )?;
        Ok::<(), AppError>(())
    })
}

/// The account a reset token opens, if the token is known, unused and not expired.
pub fn check_reset_token(
    conn: &mut DbConn,
    now: NaiveDateTime,
    token: &str,
) -> AppResult<Option<User>> {
    if token.is_empty() || token.len() > 100 {
        return Ok(None);
    }
    let Some(reset) = db::password_resets::find_by_hash(conn, &hash_token(token))? else {
        return Ok(None);
    };
    if reset.used_at.is_some() || reset.expires_at <= now {
        return Ok(None);
    }
    let user = db::users::find(conn, reset.user_id)?;
    Ok(user.filter(|u| u.disabled_at.is_none()))
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct NewPasswordForm {
    pub token: String,
    pub password: String,
    pub confirm: String,
}

#[derive(Debug)]
pub enum ResetOutcome {
    Done(User),
    InvalidToken,
}

/// What is known of an account for its new password's check: its email and name, its
/// organisation's name (a merchant's team member) or its handle (a creator).
fn check_new_for(
    conn: &mut DbConn,
    errors: &mut FieldErrors,
    user: &User,
    password_text: &str,
    confirm: &str,
) -> AppResult<()> {
    let org_name = match db::merchants::membership_of(conn, user.id)? {
        Some(m) => db::merchants::find(conn, m.merchant_id)?.map(|o| o.name),
        None => None,
    };
    let handle = db::influencers::find_by_user(conn, user.id)?.map(|i| i.handle);
    let mut names = vec![user.display_name.as_str()];
    names.extend(handle.as_deref());
    check_new_pair(
        errors,
        password_text,
        confirm,
        &password::Known {
            email: &user.email,
            org_name: org_name.as_deref(),
            names: &names,
        },
    );
    Ok(())
}

fn check_new_pair(
    errors: &mut FieldErrors,
    password_text: &str,
    confirm: &str,
    known: &password::Known<'_>,
) {
    if let Err(e) = password::check_new(password_text, known) {
        errors.add("password", e);
    } else if password_text != confirm {
        errors.add("confirm", "The two passwords differ.");
    }
}

#[tracing::instrument(skip_all)]
pub fn reset_password(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    form: &NewPasswordForm,
) -> AppResult<ResetOutcome> {
    let Some(owner) = check_reset_token(conn, now, &form.token)? else {
        return Ok(ResetOutcome::InvalidToken);
    };
    let mut errors = FieldErrors::new();
    check_new_for(conn, &mut errors, &owner, &form.password, &form.confirm)?;
    errors.into_result().map_err(AppError::Validation)?;
    let hash = password::hash(&form.password)?;
    let token_hash = hash_token(&form.token);
    db::write_tx(conn, |conn| {
        let Some(reset) = db::password_resets::find_by_hash(conn, &token_hash)? else {
            return Ok(ResetOutcome::InvalidToken);
        };
        if reset.expires_at <= now || !db::password_resets::mark_used(conn, reset.id, now)? {
            return Ok(ResetOutcome::InvalidToken);
        }
        let Some(user) = db::users::find(conn, reset.user_id)? else {
            return Ok(ResetOutcome::InvalidToken);
        };
        db::users::set_password(conn, user.id, &hash, now)?;
        db::password_resets::revoke_all_for_user(conn, user.id, now)?;
        super::sessions::sign_out_others(conn, now, user.id, None, "password reset")?;
        let email = templates::password_changed(
            &user.display_name,
            &format!("{base_url}/forgot-password"),
            &user_time(&user, now),
        )?;
        enqueue_email(conn, now, &user.email, &email)?;
        audit(
            conn,
            now,
            Some(user.id),
            "password.reset",
            ("user", user.id),
            "password set from a reset link",
        )?;
        let user = db::users::find(conn, user.id)?.ok_or(AppError::NotFound)?;
        Ok(ResetOutcome::Done(user))
    })
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct AccountForm {
    pub display_name: String,
    pub time_zone: String,
}

pub fn update_account(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    form: &AccountForm,
) -> AppResult<()> {
    let mut errors = FieldErrors::new();
    let name = errors.check(
        "display_name",
        validate::name(&form.display_name, "your name"),
    );
    let tz = errors.check("time_zone", validate::time_zone(&form.time_zone));
    let (Some(name), Some(tz)) = (name, tz) else {
        return Err(AppError::Validation(errors));
    };
    db::write_tx(conn, |conn| {
        db::users::update_account(conn, user_id, &name, &tz, now)?;
        Ok(())
    })
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ChangePasswordForm {
    pub current: String,
    pub password: String,
    pub confirm: String,
}

/// Changes the password; returns the user with its new session version.
pub fn change_password(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    user_id: i64,
    keep_session: Option<i64>,
    address: &str,
    form: &ChangePasswordForm,
) -> AppResult<User> {
    let user = db::users::find(conn, user_id)?.ok_or(AppError::NotFound)?;
    let mut errors = FieldErrors::new();
    // Guesses of the current password count like failed logins (someone at an unlocked
    // screen must not get unlimited tries).
    let guess = match admit_guess(conn, now, &email_key(&user.email), address)? {
        Ok(guess) => guess,
        Err(minutes) => {
            errors.add(
                "current",
                format!(
                    "Too many wrong passwords. For your safety, try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                ),
            );
            return Err(AppError::Validation(errors));
        }
    };
    let current_ok = password::verify(&form.current, &user.password_hash);
    settle_guess(conn, guess, current_ok)?;
    if !current_ok {
        errors.add("current", "This is not your current password.");
    }
    check_new_for(conn, &mut errors, &user, &form.password, &form.confirm)?;
    errors.into_result().map_err(AppError::Validation)?;
    let hash = password::hash(&form.password)?;
    db::write_tx(conn, |conn| {
        db::users::set_password(conn, user.id, &hash, now)?;
        super::sessions::sign_out_others(conn, now, user.id, keep_session, "password changed")?;
        let email = templates::password_changed(
            &user.display_name,
            &format!("{base_url}/forgot-password"),
            &user_time(&user, now),
        )?;
        enqueue_email(conn, now, &user.email, &email)?;
        audit(
            conn,
            now,
            Some(user.id),
            "password.change",
            ("user", user.id),
            "password changed",
        )?;
        db::users::find(conn, user.id)?.ok_or(AppError::NotFound)
    })
}
