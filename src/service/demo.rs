//! Demo data for `tandem serve --demo` and `tandem demo`: deterministic, believable, and
//! loaded only into an empty database.

use chrono::NaiveDateTime;

use crate::db::{self, DbConn};
use crate::domain::account::Role;
use crate::error::AppResult;

use super::accounts::{self, InfluencerSignupForm, MerchantSignupForm};

/// The password of every demo account (printed at start).
pub const DEMO_PASSWORD: &str = "tandem-demo";

/// One demo account, as printed: `demo <role> <email> <password>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAccount {
    pub role: Role,
    pub email: &'static str,
    pub password: &'static str,
}

impl std::fmt::Display for DemoAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "demo {} {} {}", self.role, self.email, self.password)
    }
}

pub const ACCOUNTS: &[DemoAccount] = &[
    DemoAccount {
        role: Role::Merchant,
        email: "merchant@demo.tandem.test",
        password: DEMO_PASSWORD,
    },
    DemoAccount {
        role: Role::Influencer,
        email: "influencer@demo.tandem.test",
        password: DEMO_PASSWORD,
    },
    DemoAccount {
        role: Role::Finance,
        email: "finance@demo.tandem.test",
        password: DEMO_PASSWORD,
    },
    DemoAccount {
        role: Role::Admin,
        email: "admin@demo.tandem.test",
        password: DEMO_PASSWORD,
    },
];

#[derive(Debug, PartialEq, Eq)]
pub enum DemoLoad {
    /// Loaded now, into an empty database.
    Loaded,
    /// The demo accounts were already there.
    AlreadyLoaded,
    /// The database holds other data: nothing was touched.
    NotEmpty,
}

/// Loads the demo accounts into an empty database.
pub fn load(conn: &mut DbConn, now: NaiveDateTime, base_url: &str) -> AppResult<DemoLoad> {
    if db::users::count(conn)? > 0 {
        return Ok(
            if db::users::find_by_email(conn, ACCOUNTS[0].email)?.is_some() {
                DemoLoad::AlreadyLoaded
            } else {
                DemoLoad::NotEmpty
            },
        );
    }
    let merchant = accounts::signup_merchant(
        conn,
        now,
        base_url,
        &MerchantSignupForm {
            name: "Lin Wei".into(),
            email: ACCOUNTS[0].email.into(),
            password: DEMO_PASSWORD.into(),
            org_name: "Jade Leaf Tea Co.".into(),
            currency: "CNY".into(),
        },
    )?;
    super::merchant::update_settings(
        conn,
        now,
        merchant.id,
        &super::merchant::SettingsForm {
            name: "Jade Leaf Tea Co.".into(),
            website: "https://jadeleaf.example".into(),
            default_currency: "CNY".into(),
        },
    )?;
    let influencer = accounts::signup_influencer(
        conn,
        now,
        base_url,
        &InfluencerSignupForm {
            name: "Mia Chen".into(),
            handle: "mia.streams".into(),
            email: ACCOUNTS[1].email.into(),
            password: DEMO_PASSWORD.into(),
        },
    )?;
    super::influencer::update_profile(
        conn,
        now,
        influencer.id,
        &super::influencer::ProfileForm {
            display_name: "Mia Chen".into(),
            handle: "mia.streams".into(),
            bio: "Tea tastings and slow mornings, live on Douyin every Friday night.".into(),
            country: "CN".into(),
            categories: vec!["tea".into(), "food".into()],
            regions: vec!["CN".into(), "HK".into()],
            languages: vec!["zh".into(), "en".into()],
        },
    )?;
    for (user_id, name) in [(merchant.id, "Lin Wei"), (influencer.id, "Mia Chen")] {
        accounts::update_account(
            conn,
            now,
            user_id,
            &accounts::AccountForm {
                display_name: name.into(),
                time_zone: "Asia/Shanghai".into(),
            },
        )?;
    }
    accounts::add_staff_user(
        conn,
        now,
        Role::Finance,
        ACCOUNTS[2].email,
        DEMO_PASSWORD,
        "Farah Finance",
    )?;
    accounts::add_staff_user(
        conn,
        now,
        Role::Admin,
        ACCOUNTS[3].email,
        DEMO_PASSWORD,
        "Ada Admin",
    )?;
    Ok(DemoLoad::Loaded)
}
