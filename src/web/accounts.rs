//! Accounts as finance (read-only, `/finance`) and admin (`/admin`, with disabling) see them.

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use serde::Deserialize;

use super::extract::{AdminUser, CsrfForm, CurrentUser, FinanceUser};
use super::pages::{self, PageCtx, SelectOption, fmt_datetime};
use super::{session, urlencode};
use crate::db::models::User;
use crate::db::users::{UserFilter, UserSort};
use crate::domain::account::Role;
use crate::error::{AppError, AppResult};
use crate::service::admin::{self, AccountRow};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(finance_home)
        .service(admin_home)
        .service(confirm_disable)
        .service(disable)
        .service(enable);
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AccountsQuery {
    role: String,
    status: String,
    q: String,
    sort: String,
    page: Option<i64>,
}

impl AccountsQuery {
    fn filter(&self) -> UserFilter {
        UserFilter {
            role: Role::parse(&self.role).map(|r| r.as_str().to_owned()),
            disabled: match self.status.as_str() {
                "disabled" => Some(true),
                "active" => Some(false),
                _ => None,
            },
            search: Some(self.q.trim().to_lowercase()).filter(|s| !s.is_empty()),
        }
    }

    fn sort(&self) -> UserSort {
        match self.sort.as_str() {
            "oldest" => UserSort::OldestFirst,
            "email" => UserSort::EmailAsc,
            "email_desc" => UserSort::EmailDesc,
            "last_login" => UserSort::LastLogin,
            _ => UserSort::NewestFirst,
        }
    }

    /// The query string with one parameter changed (filters stay in shareable links).
    fn href(&self, base: &str, sort: Option<&str>, page: Option<i64>) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("role", &self.role),
            ("status", &self.status),
            ("q", &self.q),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", urlencode(v)));
            }
        }
        let sort = sort.unwrap_or(&self.sort);
        if !sort.is_empty() {
            parts.push(format!("sort={}", urlencode(sort)));
        }
        if let Some(p) = page.filter(|p| *p > 1) {
            parts.push(format!("page={p}"));
        }
        if parts.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", parts.join("&"))
        }
    }
}

struct AccountView {
    id: i64,
    email: String,
    name: String,
    role_label: &'static str,
    belongs_to: String,
    created: String,
    last_login: String,
    disabled: bool,
    is_you: bool,
}

fn view(row: AccountRow, viewer: &CurrentUser) -> AccountView {
    let u = row.user;
    AccountView {
        id: u.id,
        role_label: Role::parse(&u.role).map_or("Unknown", |r| r.label()),
        belongs_to: row.belongs_to.unwrap_or_default(),
        created: fmt_datetime(u.created_at, viewer.time_zone),
        last_login: u
            .last_login_at
            .map_or_else(|| "never".to_owned(), |t| fmt_datetime(t, viewer.time_zone)),
        disabled: u.disabled_at.is_some(),
        is_you: u.id == viewer.id,
        email: u.email,
        name: u.display_name,
    }
}

struct SortLink {
    label: &'static str,
    href: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "accounts/list.html")]
struct AccountsPage {
    ctx: PageCtx,
    base: &'static str,
    can_manage: bool,
    rows: Vec<AccountView>,
    query: AccountsQuery,
    roles: Vec<SelectOption>,
    statuses: Vec<SelectOption>,
    sorts: Vec<SortLink>,
    total: i64,
    page: i64,
    pages: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
    filtered: bool,
}

async fn accounts_page(
    state: &AppState,
    session: &Session,
    user: &CurrentUser,
    query: AccountsQuery,
    base: &'static str,
    can_manage: bool,
) -> AppResult<HttpResponse> {
    let (filter, sort, page_no) = (
        query.filter(),
        query.sort(),
        query.page.unwrap_or(1).clamp(1, 1_000_000),
    );
    let page = state
        .db(move |conn| admin::list_accounts(conn, &filter, sort, page_no))
        .await?;
    let mut roles = vec![SelectOption {
        value: String::new(),
        label: "All roles".into(),
        selected: query.role.is_empty(),
    }];
    roles.extend(Role::ALL.iter().map(|r| SelectOption {
        value: r.as_str().into(),
        label: r.label().into(),
        selected: query.role == r.as_str(),
    }));
    let statuses = [
        ("", "Any status"),
        ("active", "Active"),
        ("disabled", "Disabled"),
    ]
    .iter()
    .map(|(v, l)| SelectOption {
        value: (*v).into(),
        label: (*l).into(),
        selected: query.status == *v,
    })
    .collect();
    let current_sort = if query.sort.is_empty() {
        "newest"
    } else {
        query.sort.as_str()
    };
    let sorts = [
        ("newest", "Newest"),
        ("oldest", "Oldest"),
        ("email", "Email A–Z"),
        ("last_login", "Last login"),
    ]
    .iter()
    .map(|(key, label)| SortLink {
        label,
        href: query.href(base, Some(key), None),
        active: current_sort == *key,
    })
    .collect();
    let prev_href = (page.page > 1).then(|| query.href(base, None, Some(page.page - 1)));
    let next_href = (page.page < page.pages).then(|| query.href(base, None, Some(page.page + 1)));
    let filtered = !(query.role.is_empty() && query.status.is_empty() && query.q.trim().is_empty());
    let rows = page.rows.into_iter().map(|r| view(r, user)).collect();
    pages::ok(&AccountsPage {
        ctx: PageCtx::new(session, Some(user), "Accounts", "accounts"),
        base,
        can_manage,
        rows,
        roles,
        statuses,
        sorts,
        total: page.total,
        page: page.page,
        pages: page.pages,
        prev_href,
        next_href,
        filtered,
        query,
    })
}

#[get("/finance")]
async fn finance_home(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    query: web::Query<AccountsQuery>,
) -> AppResult<HttpResponse> {
    accounts_page(
        &state,
        &session,
        &user.0,
        query.into_inner(),
        "/finance",
        false,
    )
    .await
}

#[get("/admin")]
async fn admin_home(
    state: web::Data<AppState>,
    session: Session,
    user: AdminUser,
    query: web::Query<AccountsQuery>,
) -> AppResult<HttpResponse> {
    accounts_page(
        &state,
        &session,
        &user.0,
        query.into_inner(),
        "/admin",
        true,
    )
    .await
}

#[derive(Template)]
#[template(path = "accounts/confirm.html")]
struct ConfirmPage {
    ctx: PageCtx,
    target: User,
    role_label: &'static str,
}

#[get("/admin/users/{id}/disable")]
async fn confirm_disable(
    state: web::Data<AppState>,
    session: Session,
    user: AdminUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let target = state.db(move |conn| admin::find_user(conn, id)).await?;
    pages::ok(&ConfirmPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Disable account", "accounts"),
        role_label: Role::parse(&target.role).map_or("Unknown", |r| r.label()),
        target,
    })
}

#[derive(Debug, Deserialize, Default)]
struct Empty {}

async fn set_disabled(
    state: &AppState,
    session: &Session,
    admin_user: &AdminUser,
    id: i64,
    make_disabled: bool,
) -> AppResult<HttpResponse> {
    let (now, actor) = (state.now(), admin_user.0.id);
    match state
        .db(move |conn| admin::set_disabled(conn, now, actor, id, make_disabled))
        .await
    {
        Ok(user) => {
            let msg = if make_disabled {
                format!("{} is disabled and signed out everywhere.", user.email)
            } else {
                format!("{} can log in again.", user.email)
            };
            session::flash(session, "success", msg);
        }
        Err(AppError::Conflict(msg)) => session::flash(session, "error", msg),
        Err(e) => return Err(e),
    }
    Ok(pages::redirect("/admin"))
}

#[post("/admin/users/{id}/disable")]
async fn disable(
    state: web::Data<AppState>,
    session: Session,
    user: AdminUser,
    path: web::Path<i64>,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    set_disabled(&state, &session, &user, path.into_inner(), true).await
}

#[post("/admin/users/{id}/enable")]
async fn enable(
    state: web::Data<AppState>,
    session: Session,
    user: AdminUser,
    path: web::Path<i64>,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    set_disabled(&state, &session, &user, path.into_inner(), false).await
}
