//! An influencer's profile.

use chrono::NaiveDateTime;

use crate::db::models::Influencer;
use crate::db::{self, DbConn};
use crate::domain::validate::{self, FieldErrors};
use crate::error::{AppError, AppResult};

use super::audit;

pub fn profile_of(conn: &mut DbConn, user_id: i64) -> AppResult<Influencer> {
    db::influencers::find_by_user(conn, user_id)?.ok_or(AppError::Forbidden)
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ProfileForm {
    pub display_name: String,
    pub handle: String,
    pub bio: String,
    pub country: String,
}

impl ProfileForm {
    pub fn from_profile(p: &Influencer) -> Self {
        ProfileForm {
            display_name: p.display_name.clone(),
            handle: p.handle.clone(),
            bio: p.bio.clone(),
            country: p.country.clone().unwrap_or_default(),
        }
    }
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
    if let Some(h) = &handle
        && db::influencers::handle_owner(conn, h)?.is_some_and(|owner| owner != user_id)
    {
        errors.add("handle", "This handle is taken; choose another.");
    }
    let (Some(display_name), Some(handle), Some(bio), Some(country), true) =
        (display_name, handle, bio, country, errors.is_empty())
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
