//! Finance's payouts (schedules, runs: review, approve, export, settle) and the influencer's
//! payout history with statements.

use actix_session::Session;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use chrono::NaiveDateTime;
use chrono_tz::Tz;
use serde::Deserialize;

use super::extract::{CsrfForm, Empty, FinanceUser, InfluencerUser};
use super::pages::{self, PageCtx, SelectOption, currency_options, fmt_datetime};
use super::session;
use crate::db;
use crate::db::models::Payout;
use crate::domain::account::Role;
use crate::domain::money::display_in;
use crate::domain::payout::{FireRule, describe_fire};
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};
use crate::service::payouts::{self as svc, RunOutcome, ScheduleForm, Settlement};
use crate::startup::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(schedules)
        .service(new_schedule)
        .service(create_schedule)
        .service(edit_schedule)
        .service(update_schedule)
        .service(runs)
        .service(run_now)
        .service(run_page)
        .service(approve)
        .service(cancel)
        .service(export)
        .service(export_csv)
        .service(export_paypal)
        .service(settle)
        .service(return_payout)
        .service(results)
        .service(audit_log)
        .service(audit_csv)
        .service(statement_csv)
        .service(my_payouts)
        .service(statement);
}

fn state_label(s: &str) -> &'static str {
    match s {
        "draft" => "Awaiting approval",
        "approved" => "Approved",
        "exported" => "Exported",
        "paid" => "Paid",
        "failed" => "Failed",
        "cancelled" => "Cancelled",
        "returned" => "Returned by the bank",
        "empty" => "Nothing to pay",
        _ => "Unknown",
    }
}

fn state_badge(s: &str) -> &'static str {
    match s {
        "paid" => "badge-ok",
        "failed" | "cancelled" => "badge-danger",
        "returned" => "badge-warn",
        "draft" => "badge-info",
        _ => "",
    }
}

// ---------- schedules ----------

struct ScheduleRow {
    id: i64,
    name: String,
    cron: String,
    zone: String,
    currency: String,
    minimum: String,
    active: bool,
    pay_when_paid: bool,
    next: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "finance/schedules.html")]
struct SchedulesPage {
    ctx: PageCtx,
    rows: Vec<ScheduleRow>,
}

#[get("/finance/schedules")]
async fn schedules(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
) -> AppResult<HttpResponse> {
    let now = state.now();
    let list = state.db(|conn| Ok(db::payouts::schedules(conn)?)).await?;
    let rows = list
        .into_iter()
        .map(|s| {
            let next = FireRule::parse(&s.cron, &s.time_zone)
                .map(|r| {
                    r.next_fires(now, 3)
                        .into_iter()
                        .map(|t| describe_fire(t, r.tz()))
                        .collect()
                })
                .unwrap_or_default();
            ScheduleRow {
                id: s.id,
                minimum: display_in(s.minimum_minor, &s.currency),
                name: s.name,
                cron: s.cron,
                zone: s.time_zone,
                currency: s.currency,
                active: s.active,
                pay_when_paid: s.pay_when_paid,
                next,
            }
        })
        .collect();
    pages::ok(&SchedulesPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Payout schedules", "schedules"),
        rows,
    })
}

#[derive(Template)]
#[template(path = "finance/schedule_form.html")]
struct ScheduleFormPage {
    ctx: PageCtx,
    id: Option<i64>,
    form: ScheduleForm,
    errors: FieldErrors,
    zones: pages::GroupedOptions,
    currencies: Vec<SelectOption>,
    /// The common schedules' choices: (value, label, chosen).
    every: Vec<(&'static str, &'static str, bool)>,
    weekdays: Vec<SelectOption>,
    days: Vec<SelectOption>,
    /// The next 5 fire times (in the zone, in UTC) of what the form holds.
    preview: Vec<(String, String)>,
}

fn form_page(
    session: &Session,
    user: &FinanceUser,
    now: NaiveDateTime,
    id: Option<i64>,
    form: ScheduleForm,
    errors: FieldErrors,
) -> ScheduleFormPage {
    let preview = form
        .effective_cron(&mut FieldErrors::new())
        .ok_or(())
        .and_then(|cron| FireRule::parse(&cron, &form.time_zone).map_err(|_| ()))
        .map(|r| {
            r.next_fires(now, 5)
                .into_iter()
                .map(|t| describe_fire(t, r.tz()))
                .collect()
        })
        .unwrap_or_default();
    ScheduleFormPage {
        ctx: PageCtx::new(
            session,
            Some(&user.0),
            if id.is_some() {
                "Edit payout schedule"
            } else {
                "New payout schedule"
            },
            "schedules",
        ),
        zones: pages::time_zone_options(&form.time_zone),
        currencies: currency_options(&form.currency),
        every: [
            ("weekly", "Weekly"),
            ("twice_monthly", "Twice a month, on the 1st and the 15th"),
            ("monthly", "Monthly"),
            ("custom", "Custom (cron)"),
        ]
        .into_iter()
        .map(|(v, l)| {
            let chosen = form.every == v || (v == "custom" && form.every.is_empty());
            (v, l, chosen)
        })
        .collect(),
        weekdays: crate::domain::payout::WEEKDAYS
            .iter()
            .map(|(short, long)| SelectOption {
                value: (*short).to_owned(),
                label: (*long).to_owned(),
                selected: form.weekday.eq_ignore_ascii_case(short),
            })
            .collect(),
        days: (1..=28)
            .map(|d| SelectOption {
                value: d.to_string(),
                label: d.to_string(),
                selected: form.day.trim() == d.to_string(),
            })
            .collect(),
        id,
        form,
        errors,
        preview,
    }
}

#[get("/finance/schedules/new")]
async fn new_schedule(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
) -> AppResult<HttpResponse> {
    let form = ScheduleForm {
        name: "Weekly payouts".into(),
        cron: "0 0 9 * * Mon".into(),
        time_zone: user.0.time_zone.name().to_owned(),
        currency: "CNY".into(),
        minimum: "50.00".into(),
        active: "on".into(),
        ..Default::default()
    }
    .with_preset_of();
    pages::ok(&form_page(
        &session,
        &user,
        state.now(),
        None,
        form,
        FieldErrors::new(),
    ))
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
struct ScheduleSubmit {
    #[serde(flatten)]
    form: ScheduleForm,
    /// "preview": show the fire times again without saving.
    intent: String,
}

async fn save(
    state: &AppState,
    session: &Session,
    user: &FinanceUser,
    id: Option<i64>,
    submit: ScheduleSubmit,
) -> AppResult<HttpResponse> {
    acting_finance(state, user)?;
    let now = state.now();
    if submit.intent == "preview" {
        let errors = svc::validate_schedule(&submit.form)
            .err()
            .unwrap_or_default();
        return pages::ok(&form_page(session, user, now, id, submit.form, errors));
    }
    let (uid, form) = (user.0.id, submit.form.clone());
    match state
        .db(move |conn| svc::save_schedule(conn, now, uid, id, &form))
        .await
    {
        Ok(_) => {
            session::flash(session, "success", "Payout schedule saved.");
            Ok(pages::redirect("/finance/schedules"))
        }
        Err(AppError::Validation(errors)) => {
            pages::invalid(&form_page(session, user, now, id, submit.form, errors))
        }
        Err(e) => Err(e),
    }
}

#[post("/finance/schedules")]
async fn create_schedule(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    form: CsrfForm<ScheduleSubmit>,
) -> AppResult<HttpResponse> {
    save(&state, &session, &user, None, form.0).await
}

#[get("/finance/schedules/{id}")]
async fn edit_schedule(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let s = state
        .db(move |conn| db::payouts::schedule(conn, id)?.ok_or(AppError::NotFound))
        .await?;
    pages::ok(&form_page(
        &session,
        &user,
        state.now(),
        Some(id),
        ScheduleForm::from_schedule(&s),
        FieldErrors::new(),
    ))
}

#[post("/finance/schedules/{id}")]
async fn update_schedule(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
    form: CsrfForm<ScheduleSubmit>,
) -> AppResult<HttpResponse> {
    save(&state, &session, &user, Some(path.into_inner()), form.0).await
}

// ---------- runs ----------

/// Approving, exporting and settling are finance's: an admin acts on payouts only where
/// `TANDEM_ADMIN_APPROVES_PAYOUTS` says so (they may still read every page).
/// Whether the finance user may act on money (finance, or an admin only with
/// `TANDEM_ADMIN_APPROVES_PAYOUTS`); billing and statement imports follow the same rule.
pub(crate) fn acting_finance(state: &AppState, user: &FinanceUser) -> AppResult<()> {
    if user.0.role == Role::Finance || state.admin_approves_payouts {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// A run's state as people read it, from its own state and its payouts' (a settled run with
/// failed payouts is not shown as paid): (label, badge class).
pub(crate) fn run_status(run_state: &str, payout_states: &[&str]) -> (String, &'static str) {
    let count = |s: &str| payout_states.iter().filter(|p| **p == s).count();
    match run_state {
        "paid" => {
            let (paid, failed, returned) = (count("paid"), count("failed"), count("returned"));
            match (paid, failed, returned) {
                (_, 0, 0) => ("Paid".to_owned(), "badge-ok"),
                (0, f, 0) => (format!("Settled: all {f} failed"), "badge-danger"),
                (0, 0, r) => (
                    format!("Settled: all {r} returned by the bank"),
                    "badge-danger",
                ),
                (p, f, 0) => (format!("Settled: {p} paid, {f} failed"), "badge-warn"),
                (p, 0, r) => (format!("Settled: {p} paid, {r} returned"), "badge-warn"),
                (p, f, r) => (
                    format!("Settled: {p} paid, {f} failed, {r} returned"),
                    "badge-warn",
                ),
            }
        }
        "empty" => ("Nothing to pay".to_owned(), ""),
        other => (state_label(other).to_owned(), state_badge(other)),
    }
}

struct RunRow {
    id: i64,
    schedule: String,
    fire_at: String,
    state: String,
    badge: &'static str,
    payouts: usize,
    total: String,
}

struct FailedRow {
    id: i64,
    run_id: i64,
    handle: String,
    amount: String,
    method: &'static str,
    reason: String,
    when: String,
}

#[derive(Template)]
#[template(path = "finance/runs.html")]
struct RunsPage {
    ctx: PageCtx,
    rows: Vec<RunRow>,
    schedules: Vec<SelectOption>,
    /// The list's filter: a run state, "failed" (failed payouts not paid since), or empty.
    filter: String,
    filter_label: String,
    failed: Vec<FailedRow>,
    can_act: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RunsQuery {
    state: String,
}

/// The filters of the runs list: (query value, what it shows).
const RUN_FILTERS: &[(&str, &str)] = &[
    ("draft", "runs awaiting approval"),
    ("approved", "runs approved, not exported yet"),
    ("exported", "runs exported, not settled yet"),
    ("paid", "settled runs"),
    ("cancelled", "cancelled runs"),
    ("empty", "runs with nothing to pay"),
    ("failed", "failed payouts not paid since"),
];

#[get("/finance/payouts")]
async fn runs(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    query: web::Query<RunsQuery>,
) -> AppResult<HttpResponse> {
    let tz = user.0.time_zone;
    let filter = query.into_inner().state.trim().to_owned();
    let filter_label = if filter.is_empty() {
        String::new()
    } else {
        match RUN_FILTERS.iter().find(|(k, _)| *k == filter) {
            Some((_, label)) => (*label).to_owned(),
            None => {
                let mut errors = FieldErrors::new();
                errors.add(
                    "state",
                    format!(
                        "Choose one of {}.",
                        RUN_FILTERS
                            .iter()
                            .map(|(k, _)| *k)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                return Err(AppError::Validation(errors));
            }
        }
    };
    let f = filter.clone();
    let (list, all_schedules, failed) = state
        .db(move |conn| {
            let failed = if f == "failed" {
                db::payouts::failed_not_paid_since(conn)?
            } else {
                Vec::new()
            };
            let runs = if f == "failed" {
                Vec::new()
            } else {
                db::payouts::runs_in(conn, (!f.is_empty()).then_some(f.as_str()), 100)?
            };
            let mut out = Vec::with_capacity(runs.len());
            for (r, name) in runs {
                let ps = db::payouts::payouts_of_run(conn, r.id)?;
                let total: i64 = ps
                    .iter()
                    .filter(|(p, _)| p.state != "cancelled")
                    .map(|(p, _)| p.amount_minor)
                    .sum();
                let states: Vec<String> = ps.iter().map(|(p, _)| p.state.clone()).collect();
                out.push((r, name, states, total));
            }
            Ok((out, db::payouts::schedules(conn)?, failed))
        })
        .await?;
    pages::ok(&RunsPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Payout runs", "payouts"),
        rows: list
            .into_iter()
            .map(|(r, schedule, states, total)| {
                let states: Vec<&str> = states.iter().map(String::as_str).collect();
                let (label, badge) = run_status(&r.state, &states);
                RunRow {
                    id: r.id,
                    schedule,
                    fire_at: fmt_datetime(r.fire_at, tz),
                    state: label,
                    badge,
                    payouts: states.len(),
                    total: display_in(total, &r.currency),
                }
            })
            .collect(),
        schedules: all_schedules
            .into_iter()
            .map(|s| SelectOption {
                value: s.id.to_string(),
                label: format!("{} ({})", s.name, s.currency),
                selected: false,
            })
            .collect(),
        filter,
        filter_label,
        failed: failed
            .into_iter()
            .map(|(p, handle)| FailedRow {
                id: p.id,
                run_id: p.run_id,
                handle,
                amount: display_in(p.amount_minor, &p.currency),
                method: svc::method_label(&p.method),
                reason: match (&p.failure_reason, &p.returned_reason) {
                    (Some(f), _) => f.clone(),
                    (None, Some(r)) => format!("Returned by the bank after it was paid: {r}"),
                    (None, None) => String::new(),
                },
                when: fmt_datetime(p.returned_at.unwrap_or(p.updated_at), tz),
            })
            .collect(),
        can_act: acting_finance(&state, &user).is_ok(),
    })
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RunNowForm {
    schedule_id: String,
}

/// Runs a schedule's due slot now (the same run the scheduler would make).
#[post("/finance/payouts/run")]
async fn run_now(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    form: CsrfForm<RunNowForm>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let id: i64 = form.0.schedule_id.parse().map_err(|_| {
        let mut errors = FieldErrors::new();
        errors.add("schedule_id", "Choose a schedule.");
        AppError::Validation(errors)
    })?;
    let (now, base, uid) = (state.now(), state.base_url.clone(), user.0.id);
    let outcome = state
        .db(move |conn| {
            let s = db::payouts::schedule(conn, id)?.ok_or(AppError::NotFound)?;
            let rule =
                FireRule::parse(&s.cron, &s.time_zone).map_err(|(_, e)| AppError::Conflict(e))?;
            let slot = svc::due_slot(&s, &rule, now).ok_or_else(|| {
                AppError::Conflict(
                    "This schedule has had no slot since it was made: nothing to run yet.".into(),
                )
            })?;
            svc::run_schedule(conn, now, &base, &s, slot, Some(uid), &mut |_, _| {})
        })
        .await;
    match outcome {
        Ok(RunOutcome::Created(run, plan)) => {
            state.wake_mailer();
            let text = if plan.payouts.is_empty() {
                format!(
                    "Run #{}: nothing to pay ({} left out); it is closed.",
                    run.id,
                    plan.left_out.len()
                )
            } else {
                format!(
                    "Run #{} planned: {}, {}; {} left out. Another finance user approves it.",
                    run.id,
                    pages::count(plan.payouts.len(), "payout", "payouts"),
                    display_in(plan.total_minor(), &run.currency),
                    plan.left_out.len()
                )
            };
            session::flash(&session, "success", text);
            Ok(pages::redirect(&format!("/finance/payouts/{}", run.id)))
        }
        Ok(RunOutcome::Exists(run)) => {
            session::flash(
                &session,
                "info",
                format!(
                    "The run for this slot exists already (#{}): a slot runs once.",
                    run.id
                ),
            );
            Ok(pages::redirect(&format!("/finance/payouts/{}", run.id)))
        }
        Err(AppError::Conflict(msg)) => {
            session::flash(&session, "error", msg);
            Ok(pages::redirect("/finance/payouts"))
        }
        Err(e) => Err(e),
    }
}

struct PayoutRow {
    id: i64,
    handle: String,
    amount: String,
    method: &'static str,
    /// Where it goes, masked (the approver reviews it).
    destination: String,
    state: &'static str,
    badge: &'static str,
    open: bool,
    /// Paid, and this user may mark it returned by the bank.
    can_return: bool,
    note: String,
}

#[derive(Template)]
#[template(path = "finance/run.html")]
struct RunPage {
    ctx: PageCtx,
    id: i64,
    schedule: String,
    fire_at: String,
    state: String,
    state_key: String,
    badge: &'static str,
    /// A refused result file: what was pasted and why, row by row.
    results_text: String,
    results_errors: Vec<String>,
    summary: String,
    /// Payouts by bank transfer in the export, and the PayPal files (5,000 rows each).
    bank_count: usize,
    paypal_parts: Vec<usize>,
    can_settle: bool,
    /// Whether this user may act on the run (finance; an admin only if a setting says so).
    can_act: bool,
    payouts: Vec<PayoutRow>,
    left_out: Vec<(String, String, String)>,
    history: Vec<(String, String, String)>,
    can_approve: bool,
    approve_note: String,
    /// Where the payouts go, digested: approving checks nothing changed since this page.
    seen: String,
    /// Right after an export: the file the page downloads.
    download: String,
    /// The platform's cash in the run's currency, and what the run still pays.
    currency: String,
    cash: String,
    pays: String,
    /// Said when the run pays more than the cash on hand (a warning, not a block).
    cash_warning: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RunQuery {
    /// "bank" or "paypal": the file the page starts downloading (after an export).
    download: String,
    part: Option<usize>,
}

#[get("/finance/payouts/{id}")]
async fn run_page(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
    query: web::Query<RunQuery>,
) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let mut page = run_view(&state, &session, &user, id, None).await?;
    let q = query.into_inner();
    if matches!(page.state_key.as_str(), "exported" | "paid") && page.can_act {
        page.download = match q.download.as_str() {
            "bank" if page.bank_count > 0 => format!("/finance/payouts/{id}/bank.csv"),
            "paypal" => {
                let part = q.part.unwrap_or(1);
                if page.paypal_parts.contains(&part) {
                    format!("/finance/payouts/{id}/paypal.csv?part={part}")
                } else {
                    String::new()
                }
            }
            _ => String::new(),
        };
    }
    pages::ok(&page)
}

/// A bank's result file that was refused: its text and why, row by row.
struct ResultsRetry {
    text: String,
    errors: Vec<String>,
}

async fn run_view(
    state: &AppState,
    session: &Session,
    user: &FinanceUser,
    id: i64,
    retry: Option<ResultsRetry>,
) -> AppResult<RunPage> {
    let tz = user.0.time_zone;
    let sealer = state.sealer.clone();
    let (run, schedule, payouts, left, history, seen, cash_minor) = state
        .db(move |conn| {
            let run = db::payouts::run(conn, id)?.ok_or(AppError::NotFound)?;
            let cash_minor = db::ledger::balances(conn, crate::domain::ledger::Owner::Platform)?
                .get(&(
                    crate::domain::ledger::AccountKind::Cash,
                    run.currency.clone(),
                ))
                .copied()
                .unwrap_or(0);
            let schedule = db::payouts::schedule(conn, run.schedule_id)?
                .map(|s| s.name)
                .unwrap_or_default();
            let payouts: Vec<(Payout, String, String)> = db::payouts::payouts_of_run(conn, id)?
                .into_iter()
                .map(|(p, handle)| {
                    let to = crate::service::influencer::destination_label(
                        &p.method,
                        p.destination.as_deref(),
                        &sealer,
                    );
                    (p, handle, to)
                })
                .collect();
            let left = db::payouts::exclusions_of_run(conn, id)?;
            let mut history = db::audit::for_subject(conn, "payout_run", id)?;
            for (p, _, _) in &payouts {
                history.extend(db::audit::for_subject(conn, "payout", p.id)?);
            }
            history.sort_by_key(|e| std::cmp::Reverse(e.id));
            let mut names = std::collections::HashMap::new();
            for id in history.iter().filter_map(|e| e.actor_user_id) {
                if let std::collections::hash_map::Entry::Vacant(v) = names.entry(id)
                    && let Some(u) = db::users::find(conn, id)?
                {
                    v.insert(u.display_name);
                }
            }
            let history: Vec<(NaiveDateTime, String, String)> = history
                .into_iter()
                .map(|e| {
                    let who = e
                        .actor_user_id
                        .and_then(|id| names.get(&id).cloned())
                        .unwrap_or_else(|| "the scheduler".to_owned());
                    (e.created_at, who, e.detail)
                })
                .collect();
            let seen = svc::destinations_digest(conn, id)?;
            Ok((run, schedule, payouts, left, history, seen, cash_minor))
        })
        .await?;
    let sum_of = |states: &[&str]| -> i64 {
        payouts
            .iter()
            .filter(|(p, _, _)| states.contains(&p.state.as_str()))
            .map(|(p, _, _)| p.amount_minor)
            .sum()
    };
    let money = |m: i64| display_in(m, &run.currency);
    let mut summary = pages::count(payouts.len(), "payout", "payouts");
    let (open, paid, failed, returned) = (
        sum_of(&["draft", "approved", "exported"]),
        sum_of(&["paid"]),
        sum_of(&["failed"]),
        sum_of(&["returned"]),
    );
    let mut parts = Vec::new();
    if open > 0 {
        parts.push(format!("{} to pay", money(open)));
    }
    if paid > 0 {
        parts.push(format!("{} paid", money(paid)));
    }
    if failed > 0 {
        parts.push(format!("{} failed (available again)", money(failed)));
    }
    if returned > 0 {
        parts.push(format!(
            "{} returned by the bank (available again)",
            money(returned)
        ));
    }
    if run.state == "cancelled" {
        parts.push("cancelled: everything is available again".to_owned());
    }
    if run.state == "empty" {
        parts.push("nothing to pay: closed when it was made".to_owned());
    }
    if !parts.is_empty() {
        summary.push_str(": ");
        summary.push_str(&parts.join(", "));
    }
    let can_act = acting_finance(state, user).is_ok();
    let cash_warning = if open > 0 && open > cash_minor {
        format!(
            "This run pays {} but cash on hand is {}: record the merchants' payments before exporting, or pay less.",
            money(open),
            money(cash_minor)
        )
    } else {
        String::new()
    };
    let maker = svc::maker_of(&run, user.0.id, state.maker_checker);
    let (results_text, results_errors) =
        retry.map_or_else(|| (String::new(), Vec::new()), |r| (r.text, r.errors));
    let states: Vec<&str> = payouts.iter().map(|(p, _, _)| p.state.as_str()).collect();
    let (label, badge) = run_status(&run.state, &states);
    let in_file = |paypal: bool| {
        payouts
            .iter()
            .filter(|(p, _, _)| {
                (p.method == "paypal") == paypal
                    && matches!(
                        p.state.as_str(),
                        "approved" | "exported" | "paid" | "failed" | "returned"
                    )
            })
            .count()
    };
    Ok(RunPage {
        ctx: PageCtx::new(
            session,
            Some(&user.0),
            format!("Payout run #{id}"),
            "payouts",
        ),
        results_text,
        results_errors,
        id,
        schedule,
        fire_at: fmt_datetime(run.fire_at, tz),
        state: label,
        badge,
        summary,
        bank_count: in_file(false),
        paypal_parts: (1..=in_file(true).div_ceil(PAYPAL_ROWS_PER_FILE)).collect(),
        can_settle: can_act && payouts.iter().any(|(p, _, _)| p.state == "exported"),
        can_act,
        can_approve: can_act && run.state == "draft" && maker.is_none(),
        approve_note: match (run.state.as_str(), maker, can_act) {
            ("draft", _, false) => {
                "Approving, exporting and settling payouts are finance's.".to_owned()
            }
            ("draft", Some(why), true) => why.to_owned(),
            _ => String::new(),
        },
        state_key: run.state.clone(),
        seen,
        download: String::new(),
        currency: run.currency.clone(),
        cash: money(cash_minor),
        pays: money(open),
        cash_warning,
        payouts: payouts
            .into_iter()
            .map(|(p, handle, destination)| PayoutRow {
                id: p.id,
                handle,
                amount: display_in(p.amount_minor, &p.currency),
                method: svc::method_label(&p.method),
                destination,
                state: state_label(&p.state),
                badge: state_badge(&p.state),
                open: p.state == "exported",
                can_return: can_act && p.state == "paid",
                note: match (&p.returned_reason, p.returned_at) {
                    (Some(why), Some(at)) => format!(
                        "reference {}; returned by the bank {}: {why}",
                        p.reference.as_deref().unwrap_or("none"),
                        fmt_datetime(at, tz)
                    ),
                    _ => p
                        .reference
                        .map(|r| format!("reference {r}"))
                        .or(p.failure_reason)
                        .unwrap_or_default(),
                },
            })
            .collect(),
        left_out: left
            .into_iter()
            .map(|(e, handle)| (handle, display_in(e.available_minor, &e.currency), e.reason))
            .collect(),
        history: history
            .into_iter()
            .map(|(at, who, detail)| (fmt_datetime(at, tz), who, pages::localize(&detail, tz)))
            .collect(),
    })
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ResultsForm {
    csv: String,
}

/// The bank's result file: every row applied, or none (the errors say which rows).
#[post("/finance/payouts/{id}/results")]
async fn results(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
    form: CsrfForm<ResultsForm>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let id = path.into_inner();
    let text = form.0.csv;
    let (now, base, uid, input) = (state.now(), state.base_url.clone(), user.0.id, text.clone());
    let outcome = state
        .db(move |conn| svc::apply_results(conn, now, &base, uid, id, &input))
        .await;
    let errors = match outcome {
        Ok(Ok(n)) => {
            state.wake_mailer();
            session::flash(
                &session,
                "success",
                format!(
                    "The bank's file settled {}; the influencers are told by email.",
                    pages::count(n, "payout", "payouts")
                ),
            );
            return Ok(pages::redirect(&format!("/finance/payouts/{id}")));
        }
        Ok(Err(rows)) => rows
            .into_iter()
            .map(|e| format!("Line {}: {}", e.line, e.message))
            .collect(),
        Err(AppError::Conflict(msg) | AppError::BadRequest(msg)) => vec![msg],
        Err(e) => return Err(e),
    };
    let page = run_view(
        &state,
        &session,
        &user,
        id,
        Some(ResultsRetry { text, errors }),
    )
    .await?;
    pages::invalid(&page)
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ApproveForm {
    /// The digest of the destinations the approver saw.
    seen: String,
}

#[post("/finance/payouts/{id}/approve")]
async fn approve(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
    form: CsrfForm<ApproveForm>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let (now, uid, id, mc, seen) = (
        state.now(),
        user.0.id,
        path.into_inner(),
        state.maker_checker,
        form.0.seen,
    );
    let done = state
        .db(move |conn| svc::approve_as_seen(conn, now, uid, id, mc, &seen))
        .await;
    back_to_run(
        &session,
        id,
        done,
        "Run approved. Export it for the bank, then mark its payouts paid.",
    )
}

/// Back to the run's page, saying what came of the action (a refused move as an error).
fn back_to_run(
    session: &Session,
    id: i64,
    done: AppResult<()>,
    success: &str,
) -> AppResult<HttpResponse> {
    match done {
        Ok(()) => session::flash(session, "success", success),
        Err(AppError::Conflict(msg)) => session::flash(session, "error", msg),
        Err(e) => return Err(e),
    }
    Ok(pages::redirect(&format!("/finance/payouts/{id}")))
}

#[post("/finance/payouts/{id}/cancel")]
async fn cancel(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
    _form: CsrfForm<Empty>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let (now, uid, id) = (state.now(), user.0.id, path.into_inner());
    let done = state.db(move |conn| svc::cancel(conn, now, uid, id)).await;
    back_to_run(
        &session,
        id,
        done,
        "Run cancelled: everything it held is available again.",
    )
}

/// The payouts of a run in its export file (bank or PayPal), with their opened destination:
/// every payout approved for it (and, once exported, still in it whatever came of it). An
/// error names the creator whose details do not open.
fn export_rows(
    conn: &mut db::DbConn,
    sealer: &crate::domain::sealed::Sealer,
    run_id: i64,
    paypal: bool,
) -> AppResult<Vec<(Payout, String, crate::service::influencer::PayoutForm)>> {
    let mut rows = Vec::new();
    for (p, handle) in db::payouts::payouts_of_run(conn, run_id)? {
        if !matches!(
            p.state.as_str(),
            "approved" | "exported" | "paid" | "failed" | "returned"
        ) || (p.method == "paypal") != paypal
        {
            continue;
        }
        let details = crate::service::influencer::destination_for_payment(
            p.destination.as_deref(),
            &handle,
            sealer,
        )?;
        rows.push((p, handle, details));
    }
    Ok(rows)
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ExportForm {
    /// "bank" or "paypal".
    format: String,
    part: String,
}

/// Exports an approved run: approved → exported, audited, once every file can be made; then
/// the file downloads (the GET below, which changes nothing and can be downloaded again).
#[post("/finance/payouts/{id}/export")]
async fn export(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
    form: CsrfForm<ExportForm>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let f = form.0;
    let paypal = match f.format.as_str() {
        "bank" => false,
        "paypal" => true,
        _ => {
            let mut errors = FieldErrors::new();
            errors.add("format", "Choose the bank CSV or the PayPal file.");
            return Err(AppError::Validation(errors));
        }
    };
    let part: usize = if f.part.trim().is_empty() {
        1
    } else {
        match f.part.trim().parse() {
            Ok(n) if n >= 1 => n,
            _ => {
                let mut errors = FieldErrors::new();
                errors.add("part", "The part is a file number: 1, 2, …");
                return Err(AppError::Validation(errors));
            }
        }
    };
    let (now, uid, id, sealer) = (
        state.now(),
        user.0.id,
        path.into_inner(),
        state.sealer.clone(),
    );
    let done = state
        .db(move |conn| {
            // Recorded only once every file of the run can be made (an approved payout's
            // destination never changes after this check).
            export_rows(conn, &sealer, id, false)?;
            export_rows(conn, &sealer, id, true)?;
            let label = if paypal {
                format!("PayPal file (part {part})")
            } else {
                "bank CSV".to_owned()
            };
            svc::mark_exported(conn, now, uid, id, &label)
        })
        .await;
    match done {
        Ok(()) => {
            session::flash(
                &session,
                "success",
                format!(
                    "Run #{id} exported: send the file to {}, then mark each payout paid or failed. The files can be downloaded again from this page.",
                    if paypal { "PayPal" } else { "the bank" }
                ),
            );
            Ok(pages::redirect(&if paypal {
                format!("/finance/payouts/{id}?download=paypal&part={part}")
            } else {
                format!("/finance/payouts/{id}?download=bank")
            }))
        }
        Err(AppError::Conflict(msg)) => {
            session::flash(&session, "error", msg);
            Ok(pages::redirect(&format!("/finance/payouts/{id}")))
        }
        Err(e) => Err(e),
    }
}

/// The run of a file download: only an exported (or since settled) run has files; the
/// download itself changes nothing.
fn exported_run(conn: &mut db::DbConn, id: i64) -> AppResult<()> {
    let run = db::payouts::run(conn, id)?.ok_or(AppError::NotFound)?;
    if !matches!(run.state.as_str(), "exported" | "paid") {
        return Err(AppError::Conflict(format!(
            "Run #{id} is {}: its files are made by exporting it (the Export buttons on its page).",
            svc::state_word(&run.state)
        )));
    }
    Ok(())
}

/// The bank-transfer file of an exported run: one row per bank payout in it, each to the
/// destination it was approved with. Downloading changes nothing.
#[get("/finance/payouts/{id}/bank.csv")]
async fn export_csv(
    state: web::Data<AppState>,
    user: FinanceUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let (id, sealer) = (path.into_inner(), state.sealer.clone());
    let rows = state
        .db(move |conn| {
            exported_run(conn, id)?;
            export_rows(conn, &sealer, id, false)
        })
        .await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| AppError::Internal(e.into());
    w.write_record([
        "payout_id",
        "influencer",
        "account_holder",
        "bank_name",
        "account_number",
        "paypal_email",
        "currency",
        "amount",
        "reference",
    ])
    .map_err(io)?;
    for (p, handle, details) in rows {
        let amount = crate::domain::money::plain_in(p.amount_minor, &p.currency);
        let cell = crate::domain::validate::csv_cell;
        w.write_record([
            p.id.to_string(),
            format!("@{handle}"),
            cell(&details.account_holder),
            cell(&details.bank_name),
            cell(&details.account_number),
            cell(&details.paypal_email),
            p.currency.clone(),
            amount,
            format!("TANDEM-PAYOUT-{}", p.id),
        ])
        .map_err(io)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))?;
    Ok(pages::csv_download(
        bytes,
        &format!("tandem-payout-run-{id}-bank.csv"),
    ))
}

/// PayPal Payouts' bulk upload: PayPal payouts still to pay, no header, at most 5,000 rows a
/// file (`?part=2` for the next 5,000): receiver, amount, currency, recipient id (our
/// payout's reference, so a file uploaded twice is recognised), note, wallet.
pub const PAYPAL_ROWS_PER_FILE: usize = 5_000;

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct PartQuery {
    part: Option<usize>,
}

#[get("/finance/payouts/{id}/paypal.csv")]
async fn export_paypal(
    state: web::Data<AppState>,
    user: FinanceUser,
    path: web::Path<i64>,
    query: web::Query<PartQuery>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let id = path.into_inner();
    let part = query.part.unwrap_or(1).max(1);
    let sealer = state.sealer.clone();
    let rows = state
        .db(move |conn| {
            exported_run(conn, id)?;
            export_rows(conn, &sealer, id, true)
        })
        .await?;
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let io = |e: csv::Error| AppError::Internal(e.into());
    for (p, _, details) in rows
        .into_iter()
        .skip((part - 1) * PAYPAL_ROWS_PER_FILE)
        .take(PAYPAL_ROWS_PER_FILE)
    {
        let amount = crate::domain::money::plain_in(p.amount_minor, &p.currency);
        w.write_record([
            details.paypal_email,
            amount,
            p.currency.clone(),
            format!("TANDEM-PAYOUT-{}", p.id),
            format!("Tandem payout #{}", p.id),
            "PAYPAL".to_owned(),
        ])
        .map_err(io)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))?;
    Ok(pages::csv_download(
        bytes,
        &format!("tandem-payout-run-{id}-paypal-{part}.csv"),
    ))
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct SettleForm {
    /// A payout's id, or "all" for every open payout of the run.
    payout: String,
    /// "paid" or "failed".
    outcome: String,
    reference: String,
    reason: String,
}

#[post("/finance/payouts/{id}/settle")]
async fn settle(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
    form: CsrfForm<SettleForm>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let id = path.into_inner();
    let f = form.0;
    let outcome = match f.outcome.as_str() {
        "paid" if !f.reference.trim().is_empty() => Settlement::Paid {
            reference: f.reference.trim().chars().take(100).collect(),
        },
        "paid" => {
            session::flash(
                &session,
                "error",
                "Enter the bank's reference to mark a payout paid.",
            );
            return Ok(pages::redirect(&format!("/finance/payouts/{id}")));
        }
        "failed" if !f.reason.trim().is_empty() => Settlement::Failed {
            reason: f.reason.trim().chars().take(300).collect(),
        },
        "failed" => {
            session::flash(
                &session,
                "error",
                "Say why the payout failed: the influencer reads it.",
            );
            return Ok(pages::redirect(&format!("/finance/payouts/{id}")));
        }
        _ => {
            let mut errors = FieldErrors::new();
            errors.add("outcome", "Choose paid or failed.");
            return Err(AppError::Validation(errors));
        }
    };
    let (now, base, uid) = (state.now(), state.base_url.clone(), user.0.id);
    let which = f.payout.clone();
    let result = state
        .db(move |conn| {
            let ids: Vec<i64> = if which == "all" {
                db::payouts::payouts_of_run(conn, id)?
                    .into_iter()
                    .filter(|(p, _)| p.state == "exported")
                    .map(|(p, _)| p.id)
                    .collect()
            } else {
                vec![which.parse().map_err(|_| {
                    let mut errors = FieldErrors::new();
                    errors.add("payout", "Choose a payout.");
                    AppError::Validation(errors)
                })?]
            };
            let outcomes: Vec<(i64, Settlement)> =
                ids.into_iter().map(|p| (p, outcome.clone())).collect();
            svc::settle_payouts(conn, now, &base, uid, id, &outcomes)
        })
        .await;
    match result {
        Ok(n) => {
            state.wake_mailer();
            session::flash(
                &session,
                "success",
                format!(
                    "{} settled; the influencers are told by email.",
                    pages::count(n, "payout", "payouts")
                ),
            );
        }
        Err(AppError::Conflict(msg) | AppError::BadRequest(msg)) => {
            session::flash(&session, "error", msg)
        }
        Err(e) => return Err(e),
    }
    Ok(pages::redirect(&format!("/finance/payouts/{id}")))
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ReturnForm {
    /// The paid payout the bank returned.
    payout: String,
    /// Why (the creator reads it).
    reason: String,
}

/// The bank returned a payout it had paid: marked by hand (a result file cannot return a
/// paid payout). Its amount is available again and goes out with the next run.
#[post("/finance/payouts/{id}/return")]
async fn return_payout(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
    form: CsrfForm<ReturnForm>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let id = path.into_inner();
    let f = form.0;
    let Ok(payout_id) = f.payout.trim().parse::<i64>() else {
        let mut errors = FieldErrors::new();
        errors.add("payout", "Choose a payout.");
        return Err(AppError::Validation(errors));
    };
    let (now, base, uid) = (state.now(), state.base_url.clone(), user.0.id);
    let result = state
        .db(move |conn| {
            // Only a payout of this run, as its page shows it.
            match db::payouts::payout(conn, payout_id)? {
                Some(p) if p.run_id == id => {}
                _ => return Err(AppError::NotFound),
            }
            svc::return_payout(conn, now, &base, uid, payout_id, &f.reason)?;
            Ok(db::payouts::payout(conn, payout_id)?)
        })
        .await;
    match result {
        Ok(p) => {
            state.wake_mailer();
            let amount = p
                .map(|p| display_in(p.amount_minor, &p.currency))
                .unwrap_or_default();
            session::flash(
                &session,
                "success",
                format!(
                    "Payout #{payout_id} marked returned by the bank: {amount} is available to the creator again and goes out with the next run; they are told by email."
                ),
            );
        }
        Err(AppError::Conflict(msg)) => session::flash(&session, "error", msg),
        Err(e) => return Err(e),
    }
    Ok(pages::redirect(&format!("/finance/payouts/{id}")))
}

// ---------- influencer ----------

struct MyPayoutRow {
    id: i64,
    date: String,
    amount: String,
    method: &'static str,
    state: &'static str,
    badge: &'static str,
    note: String,
}

#[derive(Template)]
#[template(path = "influencer/payouts.html")]
struct MyPayoutsPage {
    ctx: PageCtx,
    rows: Vec<MyPayoutRow>,
    /// Why they were not paid (the latest runs left them out, or the bank returned a
    /// payout), in words.
    left_out: Vec<String>,
}

#[get("/influencer/payouts")]
async fn my_payouts(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
) -> AppResult<HttpResponse> {
    let (uid, tz) = (user.0.id, user.0.time_zone);
    let (list, left) = state
        .db(move |conn| {
            let me = crate::service::influencer::profile_of(conn, uid)?;
            Ok((
                db::payouts::payouts_of_influencer(conn, me.id)?,
                svc::why_not_paid(conn, me.id)?,
            ))
        })
        .await?;
    pages::ok(&MyPayoutsPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Payouts", "payouts"),
        rows: list
            .into_iter()
            .filter(|p| p.state != "cancelled")
            .map(|p| MyPayoutRow {
                id: p.id,
                date: fmt_datetime(p.created_at, tz),
                amount: display_in(p.amount_minor, &p.currency),
                method: svc::method_label(&p.method),
                state: my_state(&p.state),
                badge: state_badge(&p.state),
                note: match (p.returned_reason, p.returned_at) {
                    (Some(why), Some(at)) => format!(
                        "returned by the bank {}: {why}; available again",
                        fmt_datetime(at, tz)
                    ),
                    _ => p
                        .reference
                        .map(|r| format!("reference {r}"))
                        .or(p.failure_reason.map(|r| format!("failed: {r}")))
                        .unwrap_or_default(),
                },
            })
            .collect(),
        left_out: left
            .into_iter()
            .map(|n| format!("{}: {}", n.currency, n.sentence(&fmt_datetime(n.at, tz))))
            .collect(),
    })
}

fn my_state(s: &str) -> &'static str {
    match s {
        "draft" | "approved" => "Being prepared",
        "exported" => "Sent to the bank",
        other => state_label(other),
    }
}

#[derive(Template)]
#[template(path = "influencer/statement.html")]
struct StatementPage {
    ctx: PageCtx,
    s: svc::Statement,
    tz: Tz,
}

impl StatementPage {
    fn when(&self, t: &NaiveDateTime) -> String {
        fmt_datetime(*t, self.tz)
    }
}

#[get("/influencer/payouts/{id}")]
async fn statement(
    state: web::Data<AppState>,
    session: Session,
    user: InfluencerUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let (uid, id) = (user.0.id, path.into_inner());
    let s = state
        .db(move |conn| {
            let me = crate::service::influencer::profile_of(conn, uid)?;
            svc::statement(conn, me.id, id)
        })
        .await?;
    pages::ok(&StatementPage {
        ctx: PageCtx::new(&session, Some(&user.0), format!("Payout #{id}"), "payouts"),
        tz: user.0.time_zone,
        s,
    })
}

// ---------- audit log ----------

/// The areas the audit log filters by: (action prefix, label).
const AUDIT_AREAS: &[(&str, &str)] = &[
    ("payout.", "Payouts"),
    ("user.", "Accounts"),
    ("merchant.", "Merchants and fees"),
    ("team.", "Merchant teams"),
    ("domain.", "Shop domains"),
    ("campaign.", "Campaigns"),
    ("collaboration.", "Collaborations"),
    ("influencer.", "Influencer profiles"),
    ("password.", "Passwords"),
    ("session.", "Sessions"),
];

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
struct AuditQuery {
    /// An area's prefix; empty: payouts (finance's own); "all": everything.
    area: Option<String>,
    actor: String,
    q: String,
    from: String,
    until: String,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "finance/audit.html")]
struct AuditPage {
    ctx: PageCtx,
    query: AuditQuery,
    areas: Vec<SelectOption>,
    rows: Vec<(String, String, String, String, String)>,
    errors: Vec<String>,
    next_href: Option<String>,
    prev_href: Option<String>,
    /// The same events (every page of them) as CSV.
    csv_href: String,
}

const AUDIT_PAGE: i64 = 100;

/// What a date filter of the audit log that is not a date is told.
const AUDIT_DATE_ERROR: &str = "use a date like 2026-12-01.";

/// The audit log's filters, read from the query: (area, the filter, the (field, label) of
/// each date that is not one).
fn audit_filter(
    query: &AuditQuery,
    tz: chrono_tz::Tz,
) -> (
    String,
    db::audit::AuditFilter,
    Vec<(&'static str, &'static str)>,
) {
    let area = query.area.clone().unwrap_or_else(|| "payout.".to_owned());
    let mut errors = Vec::new();
    // Dates are the reader's local days.
    let day = |s: &str,
               field: &'static str,
               label: &'static str,
               errors: &mut Vec<(&'static str, &'static str)>|
     -> Option<NaiveDateTime> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) => {
                use chrono::TimeZone;
                tz.from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
                    .earliest()
                    .map(|t| t.naive_utc())
            }
            Err(_) => {
                errors.push((field, label));
                None
            }
        }
    };
    let from = day(&query.from, "from", "From", &mut errors);
    let until =
        day(&query.until, "until", "Until", &mut errors).map(|t| t + chrono::TimeDelta::days(1));
    let filter = db::audit::AuditFilter {
        action_prefix: AUDIT_AREAS
            .iter()
            .find(|(p, _)| *p == area)
            .map(|(p, _)| (*p).to_owned()),
        actor: Some(query.actor.trim().to_lowercase()).filter(|s| !s.is_empty()),
        text: Some(query.q.trim().to_lowercase()).filter(|s| !s.is_empty()),
        from,
        until,
    };
    (area, filter, errors)
}

/// The query string of the audit log's filters (`area=payout.&actor=farah`), for its pages
/// and its CSV.
fn audit_query_string(area: &str, query: &AuditQuery) -> String {
    let mut parts = vec![format!("area={}", super::urlencode(area))];
    for (k, v) in [
        ("actor", &query.actor),
        ("q", &query.q),
        ("from", &query.from),
        ("until", &query.until),
    ] {
        if !v.is_empty() {
            parts.push(format!("{k}={}", super::urlencode(v)));
        }
    }
    parts.join("&")
}

/// Who did it, for people.
fn audit_actor(who: Option<&(String, String)>) -> String {
    who.map_or_else(
        || "Tandem (scheduler or system)".to_owned(),
        |(name, email)| format!("{name} <{email}>"),
    )
}

#[get("/finance/audit")]
async fn audit_log(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    query: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    let query = query.into_inner();
    let tz = user.0.time_zone;
    let (area, filter, errors) = audit_filter(&query, tz);
    let page_no = query.page.unwrap_or(1).clamp(1, 100_000);
    let rows = state
        .db(move |conn| {
            Ok(db::audit::search(
                conn,
                &filter,
                (page_no - 1) * AUDIT_PAGE,
                AUDIT_PAGE + 1,
            )?)
        })
        .await?;
    let more = i64::try_from(rows.len()).unwrap_or(0) > AUDIT_PAGE;
    let filters = audit_query_string(&area, &query);
    let href = |p: i64| format!("/finance/audit?{filters}&page={p}");
    pages::ok(&AuditPage {
        ctx: PageCtx::new(&session, Some(&user.0), "Audit log", "audit"),
        areas: std::iter::once(SelectOption {
            value: "all".into(),
            label: "Everything".into(),
            selected: area == "all",
        })
        .chain(AUDIT_AREAS.iter().map(|(p, l)| SelectOption {
            value: (*p).into(),
            label: (*l).into(),
            selected: area == *p,
        }))
        .collect(),
        rows: rows
            .into_iter()
            .take(usize::try_from(AUDIT_PAGE).unwrap_or(100))
            .map(|(e, who)| {
                (
                    fmt_datetime(e.created_at, tz),
                    audit_actor(who.as_ref()),
                    e.action,
                    format!(
                        "{} #{}",
                        e.subject_type.replace('_', " "),
                        e.subject_id.unwrap_or(0)
                    ),
                    pages::localize(&e.detail, tz),
                )
            })
            .collect(),
        errors: errors
            .into_iter()
            .map(|(_, label)| format!("{label}: {AUDIT_DATE_ERROR}"))
            .collect(),
        next_href: more.then(|| href(page_no + 1)),
        prev_href: (page_no > 1).then(|| href(page_no - 1)),
        csv_href: format!("/finance/audit.csv?{filters}"),
        query,
    })
}

/// Rows read at a time for the audit log's CSV.
const AUDIT_CSV_CHUNK: i64 = 5_000;

/// The audit log as CSV with the page's filters (every matching event, not one page),
/// newest first; a bad date is a 422 naming its field.
#[get("/finance/audit.csv")]
async fn audit_csv(
    state: web::Data<AppState>,
    user: FinanceUser,
    query: web::Query<AuditQuery>,
) -> AppResult<HttpResponse> {
    let query = query.into_inner();
    let tz = user.0.time_zone;
    let (_, filter, errors) = audit_filter(&query, tz);
    let name = filter
        .action_prefix
        .as_deref()
        .map_or("everything", |p| p.trim_end_matches('.'))
        .to_owned();
    if !errors.is_empty() {
        let mut fe = crate::domain::validate::FieldErrors::new();
        for (field, _) in errors {
            fe.add(field, AUDIT_DATE_ERROR);
        }
        return Err(AppError::Validation(fe));
    }
    let events = state
        .db(move |conn| {
            let mut all = Vec::new();
            loop {
                let offset = i64::try_from(all.len()).unwrap_or(i64::MAX);
                let chunk = db::audit::search(conn, &filter, offset, AUDIT_CSV_CHUNK)?;
                let done = i64::try_from(chunk.len()).unwrap_or(0) < AUDIT_CSV_CHUNK;
                all.extend(chunk);
                if done {
                    return Ok(all);
                }
            }
        })
        .await?;
    let cell = crate::domain::validate::csv_cell;
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| AppError::Internal(e.into());
    w.write_record([
        "id",
        "time_utc",
        "time_local",
        "actor_name",
        "actor_email",
        "action",
        "subject_type",
        "subject_id",
        "detail",
    ])
    .map_err(io)?;
    for (e, who) in &events {
        let (name, email) = who
            .clone()
            .unwrap_or_else(|| ("Tandem (scheduler or system)".to_owned(), String::new()));
        w.write_record([
            e.id.to_string(),
            e.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            fmt_datetime(e.created_at, tz),
            cell(&name),
            cell(&email),
            e.action.clone(),
            e.subject_type.clone(),
            e.subject_id.map(|i| i.to_string()).unwrap_or_default(),
            cell(&pages::localize(&e.detail, tz)),
        ])
        .map_err(io)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))?;
    Ok(pages::csv_download(
        bytes,
        &format!("tandem-audit-{name}.csv"),
    ))
}

#[get("/influencer/payouts/{id}.csv")]
async fn statement_csv(
    state: web::Data<AppState>,
    user: InfluencerUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let (uid, id, tz) = (user.0.id, path.into_inner(), user.0.time_zone);
    let bytes = state
        .db(move |conn| {
            let me = crate::service::influencer::profile_of(conn, uid)?;
            svc::statement(conn, me.id, id)?.to_csv(tz)
        })
        .await?;
    Ok(pages::csv_download(
        bytes,
        &format!("tandem-payout-{id}-statement.csv"),
    ))
}
