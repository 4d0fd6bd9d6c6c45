//! Page structs (one per askama template), the layout context every page carries, and the
//! helpers that render them.

use actix_session::Session;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use super::extract::CurrentUser;
use super::session::{self, Flash};
use crate::domain::account::Role;
use crate::domain::money::Currency;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct NavUser {
    pub name: String,
    pub email: String,
    pub role_label: &'static str,
}

/// What the layout needs: title, navigation for the role, flash, CSRF token.
#[derive(Debug, Clone)]
pub struct PageCtx {
    pub title: String,
    pub user: Option<NavUser>,
    pub nav: Vec<NavItem>,
    pub flash: Option<Flash>,
    pub csrf: String,
    /// Error pages hide the account links (they are rendered without a session).
    pub minimal: bool,
    pub account_active: bool,
}

fn nav_for(role: Role, active: &str) -> Vec<NavItem> {
    let items: &[(&'static str, &'static str, &'static str)] = match role {
        Role::Merchant => &[
            ("/merchant/dashboard", "Home", "dashboard"),
            ("/merchant/campaigns", "Campaigns", "campaigns"),
            ("/merchant/orders", "Orders", "orders"),
            ("/merchant/products", "Products", "products"),
            ("/merchant/domains", "Domains", "domains"),
            ("/merchant/integration", "Integration", "integration"),
            ("/merchant/billing", "Billing", "billing"),
            ("/merchant", "Organisation", "org"),
        ],
        Role::Influencer => &[
            ("/influencer/dashboard", "Home", "dashboard"),
            ("/influencer/marketplace", "Marketplace", "marketplace"),
            (
                "/influencer/collaborations",
                "Collaborations",
                "collaborations",
            ),
            ("/influencer/links", "Links", "links"),
            ("/influencer/earnings", "Earnings", "earnings"),
            ("/influencer/payouts", "Payouts", "payouts"),
            ("/influencer", "Profile", "profile"),
        ],
        Role::Finance => &[
            ("/finance/dashboard", "Home", "dashboard"),
            ("/finance/payouts", "Payouts", "payouts"),
            ("/finance/billing", "Billing", "billing"),
            ("/finance/schedules", "Schedules", "schedules"),
            ("/finance/review", "Review", "review"),
            ("/finance/audit", "Audit log", "audit"),
            ("/finance", "Accounts", "accounts"),
        ],
        Role::Admin => &[
            ("/admin", "Accounts", "accounts"),
            ("/admin/domains", "Domains", "domains"),
            ("/admin/merchants", "Merchants", "merchants"),
            ("/admin/billing", "Billing", "billing"),
            ("/finance/review", "Review", "review"),
        ],
    };
    items
        .iter()
        .map(|(href, label, key)| NavItem {
            href,
            label,
            active: *key == active,
        })
        .collect()
}

impl PageCtx {
    pub fn new(
        session: &Session,
        user: Option<&CurrentUser>,
        title: impl Into<String>,
        active: &'static str,
    ) -> PageCtx {
        PageCtx {
            title: title.into(),
            user: user.map(|u| NavUser {
                name: u.name.clone(),
                email: u.email.clone(),
                role_label: u.role.label(),
            }),
            nav: user.map(|u| nav_for(u.role, active)).unwrap_or_default(),
            flash: session::take_flash(session),
            csrf: session::csrf_token(session),
            minimal: false,
            account_active: active == "account",
        }
    }

    /// An error page's layout for a signed-in user: their navigation and account links, but
    /// no flash (it stays for the next page).
    pub fn for_error(session: &Session, user: &CurrentUser, title: &str) -> PageCtx {
        PageCtx {
            title: title.to_owned(),
            user: Some(NavUser {
                name: user.name.clone(),
                email: user.email.clone(),
                role_label: user.role.label(),
            }),
            nav: nav_for(user.role, ""),
            flash: None,
            csrf: session::csrf_token(session),
            minimal: false,
            account_active: false,
        }
    }

    fn minimal(title: &str) -> PageCtx {
        PageCtx {
            title: title.to_owned(),
            user: None,
            nav: Vec::new(),
            flash: None,
            csrf: String::new(),
            minimal: true,
            account_active: false,
        }
    }
}

/// An option of a `<select>`.
#[derive(Debug, Clone)]
pub struct SelectOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// A checkbox in a group.
#[derive(Debug, Clone)]
pub struct CheckOption {
    pub value: String,
    pub label: String,
    pub checked: bool,
}

pub fn check_options(items: &[(&str, &str)], checked: &[String]) -> Vec<CheckOption> {
    items
        .iter()
        .map(|(v, l)| CheckOption {
            value: (*v).to_owned(),
            label: (*l).to_owned(),
            checked: checked.iter().any(|c| c.eq_ignore_ascii_case(v)),
        })
        .collect()
}

pub fn currency_options(selected: &str) -> Vec<SelectOption> {
    Currency::all()
        .iter()
        .map(|c| SelectOption {
            value: c.code().to_owned(),
            label: format!("{} — {} ({})", c.code(), c.name(), c.symbol()),
            selected: c.code().eq_ignore_ascii_case(selected),
        })
        .collect()
}

pub use crate::domain::words::count;

pub fn country_options(selected: &str) -> Vec<SelectOption> {
    let mut opts = vec![SelectOption {
        value: String::new(),
        label: "Not set".to_owned(),
        selected: selected.is_empty(),
    }];
    opts.extend(
        crate::domain::validate::COUNTRIES
            .iter()
            .map(|(code, name)| SelectOption {
                value: (*code).to_owned(),
                label: (*name).to_owned(),
                selected: code.eq_ignore_ascii_case(selected),
            }),
    );
    opts
}

/// A `<select>` in groups: a few options first (the current choice), then `<optgroup>`s.
#[derive(Debug, Clone)]
pub struct GroupedOptions {
    pub first: Vec<SelectOption>,
    /// (group label, its options)
    pub groups: Vec<(String, Vec<SelectOption>)>,
}

/// The canonical time zones grouped by region, the current one (`selected`) first. A
/// stored zone that is an old alias (`Asia/Calcutta`) is shown as its current name
/// (`Asia/Kolkata`), which is the same clock; one that has none (`Etc/GMT+5`) is kept as it
/// is, so that saving the form does not change it.
pub fn time_zone_options(selected: &str) -> GroupedOptions {
    use crate::domain::zones;
    let selected = selected.trim();
    let current = zones::canonical(selected).map(str::to_owned).or_else(|| {
        selected
            .parse::<chrono_tz::Tz>()
            .ok()
            .map(|tz| tz.name().to_owned())
    });
    let first = current
        .iter()
        .map(|z| SelectOption {
            value: z.clone(),
            label: format!("{} (current)", zones::label(z)),
            selected: true,
        })
        .collect();
    let mut groups: Vec<(String, Vec<SelectOption>)> = Vec::new();
    let mut sorted: Vec<&'static str> = zones::ZONES.to_vec();
    // UTC first, then the regions in alphabetical order.
    sorted.sort_by_key(|z| (*z != "UTC", zones::region(z), *z));
    for z in sorted {
        let option = SelectOption {
            value: z.to_owned(),
            label: zones::place(z),
            selected: false,
        };
        match groups.last_mut() {
            Some((region, options)) if region == zones::region(z) => options.push(option),
            _ => groups.push((zones::region(z).to_owned(), vec![option])),
        }
    }
    GroupedOptions { first, groups }
}

/// The zones for a new account: first "Automatic" (the browser's zone, filled in by
/// `app.js`; without it, the region's), then every zone.
pub fn new_user_zone_options(selected: &str) -> GroupedOptions {
    let mut options = time_zone_options(selected);
    options.first.insert(
        0,
        SelectOption {
            value: String::new(),
            label: "Automatic (this device's time zone)".to_owned(),
            selected: options.first.is_empty(),
        },
    );
    options
}

pub use crate::domain::clock::{fmt_date, fmt_datetime, localize};

pub fn render<T: Template>(page: &T, status: StatusCode) -> AppResult<HttpResponse> {
    let body = page
        .render()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("template failed: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}

pub fn ok<T: Template>(page: &T) -> AppResult<HttpResponse> {
    render(page, StatusCode::OK)
}

/// Form pages re-rendered with field errors answer 422.
pub fn invalid<T: Template>(page: &T) -> AppResult<HttpResponse> {
    render(page, StatusCode::UNPROCESSABLE_ENTITY)
}

/// A CSV file to download (never cached: it may hold money and personal details).
pub fn csv_download(bytes: Vec<u8>, filename: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(bytes)
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, to.to_owned()))
        .finish()
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub ctx: PageCtx,
    pub status: u16,
    pub message: &'a str,
    /// Where the button leads: the reader's home when signed in (else the start page).
    pub home: Option<&'static str>,
}

/// What an error page said, kept on its response so that [`super::error_pages`] can draw it
/// again in the layout of the signed-in user.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub title: String,
    pub message: String,
}

fn error_response(status: StatusCode, page: &ErrorPage<'_>) -> HttpResponse {
    let body = page.render().unwrap_or_else(|_| {
        format!(
            "<!doctype html><title>{}</title><h1>{}</h1>",
            status.as_u16(),
            status.as_u16()
        )
    });
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(body)
}

/// The HTML error page, with the layout, for any status (without the reader's navigation:
/// [`super::error_pages`] adds it when they are signed in).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let page = ErrorPage {
        ctx: PageCtx::minimal(title),
        status: status.as_u16(),
        message,
        home: None,
    };
    let mut res = error_response(status, &page);
    res.extensions_mut().insert(ErrorInfo {
        title: title.to_owned(),
        message: message.to_owned(),
    });
    res
}

/// The same error page for a signed-in user: their navigation, and a way to their home.
pub fn signed_in_error_page(
    status: StatusCode,
    info: &ErrorInfo,
    session: &Session,
    user: &CurrentUser,
) -> HttpResponse {
    let page = ErrorPage {
        ctx: PageCtx::for_error(session, user, &info.title),
        status: status.as_u16(),
        message: &info.message,
        home: Some(user.role.home()),
    };
    error_response(status, &page)
}

pub type Errors = FieldErrors;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    #[test]
    fn times_are_shown_in_the_readers_zone_with_an_unambiguous_label() {
        let t = chrono::NaiveDate::from_ymd_opt(2027, 1, 1)
            .unwrap()
            .and_hms_opt(21, 10, 0)
            .unwrap();
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(fmt_datetime(t, shanghai), "2027-01-02 05:10 UTC+08:00");
        assert_eq!(fmt_datetime(t, Tz::UTC), "2027-01-01 21:10 UTC");
        let chicago: Tz = "America/Chicago".parse().unwrap();
        assert_eq!(fmt_datetime(t, chicago), "2027-01-01 15:10 UTC-06:00");
        assert_eq!(
            localize(
                "Held for returns for 30 days: available from 2027-01-01 21:10 UTC.\nIn UTC terms.",
                shanghai
            ),
            "Held for returns for 30 days: available from 2027-01-02 05:10 UTC+08:00.\nIn UTC terms."
        );
        assert_eq!(localize(" UTC at the start", shanghai), " UTC at the start");
    }
}
