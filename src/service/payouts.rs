//! Payouts (DESIGN.md §3 "Payouts"): schedules, runs that happen once per (schedule, fire
//! time), finance's review (approve, cancel), settlement (paid or failed, per payout or the
//! whole run), and what influencers see.
//!
//! Money moves only by ledger journals, one per payout item (`ref_kind` `payout_item`): a
//! run's `payout_start` moves each settled amount from available to in payout (a clawback
//! item moves its negative amount, so the payout nets it); `payout_settle` moves it on to
//! paid; `payout_fail` (a failed or cancelled payout) moves it back to available.
//!
//! A run is written in one transaction: killed at any point, either nothing of it is stored
//! (the next attempt plans it again from the same balances) or all of it is.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use crate::db::models::{Payout, PayoutRun, PayoutSchedule};
use crate::db::{self, DbConn};
use crate::domain::ledger::{self, JournalDraft, JournalKind, Posting};
use crate::domain::money::{Currency, Money, display_in};
use crate::domain::payout::{self, FireRule, Payee, Plan, Settleable, Settles};
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};

use super::audit;

/// At most this many missed slots are counted when catching up (they make one run anyway).
const MAX_CATCH_UP_SLOTS: usize = 10_000;

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct ScheduleForm {
    pub name: String,
    pub cron: String,
    pub time_zone: String,
    pub currency: String,
    pub minimum: String,
    /// A checkbox: "on" when ticked.
    pub active: String,
    /// A common schedule instead of the cron field: "weekly", "twice_monthly", "monthly";
    /// "custom" or empty: the cron field.
    pub every: String,
    /// For "weekly": Mon .. Sun.
    pub weekday: String,
    /// For "monthly": 1 to 28.
    pub day: String,
    /// For the common schedules: the time of day, HH:MM.
    pub at: String,
    /// A checkbox: "on" to pay a commission only once its merchant paid the invoice holding it.
    pub pay_when_paid: String,
}

impl ScheduleForm {
    /// The common-schedule fields as a stored cron expression reads (custom when it is not
    /// one of them).
    pub fn with_preset_of(mut self) -> ScheduleForm {
        use payout::Preset;
        let (every, weekday, day, at) = match Preset::of(&self.cron) {
            Some(Preset::Weekly {
                weekday,
                hour,
                minute,
            }) => (
                "weekly",
                payout::WEEKDAYS[(weekday - 1) as usize].0,
                String::new(),
                (hour, minute),
            ),
            Some(Preset::TwiceMonthly { hour, minute }) => {
                ("twice_monthly", "", String::new(), (hour, minute))
            }
            Some(Preset::Monthly { day, hour, minute }) => {
                ("monthly", "", day.to_string(), (hour, minute))
            }
            None => ("custom", "", String::new(), (9, 0)),
        };
        self.every = every.to_owned();
        self.weekday = if weekday.is_empty() { "Mon" } else { weekday }.to_owned();
        self.day = if day.is_empty() { "1".to_owned() } else { day };
        self.at = format!("{:02}:{:02}", at.0, at.1);
        self
    }

    /// The cron expression the form stands for: the common schedule chosen, or the cron field.
    pub fn effective_cron(&self, errors: &mut FieldErrors) -> Option<String> {
        use payout::Preset;
        let every = self.every.trim();
        if every.is_empty() || every == "custom" {
            return Some(self.cron.clone());
        }
        // HH:MM, as a time field sends it (a browser may add :SS, which must be :00).
        let parts: Vec<&str> = self.at.trim().split(':').collect();
        let at = match parts.as_slice() {
            [h, m] | [h, m, "00"] => match (h.parse::<u32>(), m.parse::<u32>()) {
                (Ok(h), Ok(m)) if h < 24 && m < 60 => Some((h, m)),
                _ => None,
            },
            _ => None,
        };
        let Some((hour, minute)) = at else {
            errors.add("at", "Give the time as HH:MM, e.g. 09:00.");
            return None;
        };
        match every {
            "weekly" => match payout::WEEKDAYS
                .iter()
                .position(|(d, _)| d.eq_ignore_ascii_case(self.weekday.trim()))
            {
                Some(i) => Some(
                    Preset::Weekly {
                        weekday: i as u32 + 1,
                        hour,
                        minute,
                    }
                    .cron(),
                ),
                None => {
                    errors.add("weekday", "Choose a day of the week.");
                    None
                }
            },
            "twice_monthly" => Some(Preset::TwiceMonthly { hour, minute }.cron()),
            "monthly" => match self.day.trim().parse::<u32>() {
                Ok(day) if (1..=28).contains(&day) => {
                    Some(Preset::Monthly { day, hour, minute }.cron())
                }
                _ => {
                    errors.add("day", "Choose a day from 1 to 28 (every month has it).");
                    None
                }
            },
            _ => {
                errors.add("every", "Choose one of the schedules listed, or Custom.");
                None
            }
        }
    }

    pub fn from_schedule(s: &PayoutSchedule) -> ScheduleForm {
        ScheduleForm {
            name: s.name.clone(),
            cron: s.cron.clone(),
            time_zone: s.time_zone.clone(),
            currency: s.currency.clone(),
            minimum: Currency::parse(&s.currency)
                .ok()
                .and_then(|c| Money::from_minor(s.minimum_minor, c).ok())
                .map(|m| m.to_plain_string())
                .unwrap_or_default(),
            active: if s.active { "on".into() } else { String::new() },
            pay_when_paid: if s.pay_when_paid {
                "on".into()
            } else {
                String::new()
            },
            ..ScheduleForm::default()
        }
        .with_preset_of()
    }
}

/// A schedule's fields, checked.
pub struct ValidSchedule {
    pub name: String,
    pub cron: String,
    pub time_zone: String,
    pub currency: Currency,
    pub minimum_minor: i64,
    pub active: bool,
    pub pay_when_paid: bool,
    pub rule: FireRule,
}

pub fn validate_schedule(form: &ScheduleForm) -> Result<ValidSchedule, FieldErrors> {
    let mut errors = FieldErrors::new();
    let name = form.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 60 {
        errors.add("name", "Give the schedule a name of 1 to 60 characters.");
    }
    let cron = form.effective_cron(&mut errors);
    let rule = match cron.as_deref().map(|c| FireRule::parse(c, &form.time_zone)) {
        Some(Ok(r)) => Some(r),
        Some(Err((field, msg))) => {
            errors.add(field, msg);
            None
        }
        None => None,
    };
    let currency = errors.check(
        "currency",
        Currency::parse(&form.currency).map_err(|e| e.to_string()),
    );
    let minimum = currency.and_then(|c| {
        let text = if form.minimum.trim().is_empty() {
            "0"
        } else {
            form.minimum.trim()
        };
        errors.check(
            "minimum",
            Money::parse(text, c)
                .map_err(|e| e.to_string())
                .and_then(|m| {
                    if m.is_negative() {
                        Err("The minimum is 0 or more.".to_owned())
                    } else {
                        Ok(m.minor())
                    }
                }),
        )
    });
    match (rule, currency, minimum, errors.is_empty()) {
        (Some(rule), Some(currency), Some(minimum_minor), true) => Ok(ValidSchedule {
            name,
            cron: cron
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            time_zone: rule.tz().name().to_owned(),
            currency,
            minimum_minor,
            active: form.active == "on" || form.active == "true",
            pay_when_paid: form.pay_when_paid == "on" || form.pay_when_paid == "true",
            rule,
        }),
        _ => Err(errors),
    }
}

/// Creates (`id` `None`) or edits a schedule; its id.
pub fn save_schedule(
    conn: &mut DbConn,
    now: NaiveDateTime,
    actor: i64,
    id: Option<i64>,
    form: &ScheduleForm,
) -> AppResult<i64> {
    let v = validate_schedule(form).map_err(AppError::Validation)?;
    if let Some(other) = db::payouts::schedule_by_name(conn, &v.name)?
        && Some(other.id) != id
    {
        let mut errors = FieldErrors::new();
        errors.add("name", "Another schedule has this name.");
        return Err(AppError::Validation(errors));
    }
    db::write_tx(conn, |conn| {
        let (id, before) = match id {
            Some(id) => {
                let before = db::payouts::schedule(conn, id)?.ok_or(AppError::NotFound)?;
                db::payouts::update_schedule(
                    conn,
                    id,
                    &v.name,
                    &v.cron,
                    &v.time_zone,
                    v.currency.code(),
                    v.minimum_minor,
                    v.active,
                    actor,
                    now,
                )?;
                db::payouts::set_pay_when_paid(conn, id, v.pay_when_paid)?;
                (id, Some(before))
            }
            None => {
                let id = db::payouts::insert_schedule(
                    conn,
                    &v.name,
                    &v.cron,
                    &v.time_zone,
                    v.currency.code(),
                    v.minimum_minor,
                    v.active,
                    actor,
                    now,
                )?;
                db::payouts::set_pay_when_paid(conn, id, v.pay_when_paid)?;
                (id, None)
            }
        };
        let describe = |name: &str,
                        cron: &str,
                        tz: &str,
                        cur: &str,
                        min: i64,
                        active: bool,
                        when_paid: bool| {
            format!(
                "\"{name}\" {cron} ({tz}), {cur}, minimum {}, {}{}",
                display_in(min, cur),
                if active { "active" } else { "paused" },
                if when_paid {
                    ", pays when merchants have paid"
                } else {
                    ""
                }
            )
        };
        let after = describe(
            &v.name,
            &v.cron,
            &v.time_zone,
            v.currency.code(),
            v.minimum_minor,
            v.active,
            v.pay_when_paid,
        );
        let detail = match before {
            Some(b) => format!(
                "schedule edited: {} → {after}",
                describe(
                    &b.name,
                    &b.cron,
                    &b.time_zone,
                    &b.currency,
                    b.minimum_minor,
                    b.active,
                    b.pay_when_paid
                )
            ),
            None => format!("schedule created: {after}"),
        };
        audit(
            conn,
            now,
            Some(actor),
            "payout.schedule",
            ("payout_schedule", id),
            &detail,
        )?;
        Ok(id)
    })
}

/// The balances a run in `currency` would pay, and the plan; `only` one influencer's (what
/// the next run would do for them, as their dashboard shows it).
/// The plan of a run in `currency` now: with `pay_when_paid`, commissions whose merchant has
/// not paid the invoice holding them wait (issue #28).
pub fn plan_for(
    conn: &mut DbConn,
    now: NaiveDateTime,
    currency: &str,
    minimum_minor: i64,
    pay_when_paid: bool,
    only: Option<i64>,
) -> AppResult<Plan> {
    let mut items: Vec<Settleable> = db::payouts::available_commissions(conn, currency, only)?
        .into_iter()
        .map(|(id, influencer_id, left)| Settleable {
            influencer_id,
            settles: Settles::Commission(id),
            amount_minor: left,
        })
        .filter(|s| s.amount_minor != 0)
        .collect();
    items.extend(
        db::payouts::open_clawbacks(conn, currency, only)?
            .into_iter()
            .map(|(id, influencer_id, amount)| Settleable {
                influencer_id,
                settles: Settles::Clawback(id),
                amount_minor: -amount,
            }),
    );
    let frozen = db::payouts::frozen_totals(conn, currency, only)?;
    let mut ids: Vec<i64> = items.iter().map(|i| i.influencer_id).collect();
    ids.extend(frozen.iter().map(|f| f.0));
    ids.sort_unstable();
    ids.dedup();
    let mut payees: HashMap<i64, Payee> = db::payouts::methods(conn, &ids)?
        .into_iter()
        .map(|(id, method)| {
            (
                id,
                Payee {
                    method,
                    frozen_minor: 0,
                },
            )
        })
        .collect();
    for (id, sum) in frozen {
        payees.entry(id).or_default().frozen_minor = sum;
    }
    let waiting = if pay_when_paid {
        let ids: Vec<i64> = items
            .iter()
            .filter_map(|i| match i.settles {
                Settles::Commission(id) => Some(id),
                Settles::Clawback(_) => None,
            })
            .collect();
        let merchants = db::billing::commission_merchants(conn, &ids)?;
        let of: Vec<(i64, i64, String)> = ids
            .iter()
            .filter_map(|id| merchants.get(id).map(|m| (*id, *m, currency.to_owned())))
            .collect();
        super::billing::waiting_for_invoice(conn, now, &of)?
    } else {
        HashMap::new()
    };
    Ok(payout::plan(
        currency,
        minimum_minor,
        &items,
        &payees,
        &waiting,
    ))
}

/// What became of asking for a run.
#[derive(Debug)]
pub enum RunOutcome {
    /// The run was planned and written now.
    Created(PayoutRun, Plan),
    /// The run for this (schedule, fire time) exists already (another node, a restart or
    /// the command line made it): nothing was written.
    Exists(PayoutRun),
}

impl RunOutcome {
    pub fn run(&self) -> &PayoutRun {
        match self {
            RunOutcome::Created(r, _) | RunOutcome::Exists(r) => r,
        }
    }
}

/// Makes the run of `schedule` for `fire_at`, exactly once: plans it from the balances and
/// writes the run, its payouts, their items and journals, and who was left out, in one
/// transaction. `progress` hears (done, of) as payouts are written.
pub fn run_schedule(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    schedule: &PayoutSchedule,
    fire_at: NaiveDateTime,
    started_by: Option<i64>,
    progress: &mut dyn FnMut(usize, usize),
) -> AppResult<RunOutcome> {
    if let Some(existing) = db::payouts::run_at(conn, schedule.id, fire_at)? {
        return Ok(RunOutcome::Exists(existing));
    }
    let outcome = db::write_tx(conn, |conn| {
        let Some(run_id) = db::payouts::insert_run(conn, schedule, fire_at, started_by, now)?
        else {
            let run = db::payouts::run_at(conn, schedule.id, fire_at)?.ok_or(AppError::NotFound)?;
            return Ok(RunOutcome::Exists(run));
        };
        // Planned inside the transaction, so what it reads is what it writes.
        let plan = plan_for(
            conn,
            now,
            &schedule.currency,
            schedule.minimum_minor,
            schedule.pay_when_paid,
            None,
        )?;
        write_run(conn, now, run_id, &schedule.currency, &plan, progress)?;
        if plan.payouts.is_empty() {
            // Nothing to pay: closed as such at once, never waiting for an approval.
            db::payouts::move_run(conn, run_id, &["draft"], "empty", None, now)?;
        }
        for l in &plan.left_out {
            db::payouts::insert_exclusion(
                conn,
                run_id,
                l.influencer_id,
                &schedule.currency,
                l.available_minor,
                &l.reason,
            )?;
        }
        crate::failpoint("payouts-before-commit");
        db::payouts::mark_fired(conn, schedule.id, fire_at)?;
        audit(
            conn,
            now,
            started_by,
            "payout.run",
            ("payout_run", run_id),
            &format!(
                "run planned for \"{}\" at {}: {}, {}, {} left out",
                schedule.name,
                fire_at.format("%Y-%m-%d %H:%M UTC"),
                payouts_n(plan.payouts.len()),
                display_in(plan.total_minor(), &schedule.currency),
                plan.left_out.len()
            ),
        )?;
        if !plan.payouts.is_empty() {
            // Not to whoever made it (they started the run or last changed its schedule):
            // they may not approve it.
            let maker = started_by.or(schedule.updated_by);
            notify_finance(
                conn,
                now,
                maker,
                &format!("Payout run ready for review: {}", schedule.name),
                &[
                    format!(
                        "The run of \"{}\" for {} holds {}, {} in all; {} left out.",
                        schedule.name,
                        fire_at.format("%Y-%m-%d %H:%M UTC"),
                        payouts_n(plan.payouts.len()),
                        display_in(plan.total_minor(), &schedule.currency),
                        plan.left_out.len()
                    ),
                    "Review and approve it before it is exported and paid.".to_owned(),
                ],
                &format!("{base_url}/finance/payouts/{run_id}"),
            )?;
        }
        let run = db::payouts::run(conn, run_id)?.ok_or(AppError::NotFound)?;
        Ok(RunOutcome::Created(run, plan))
    });
    match outcome {
        // Two runners of different schedules raced for the same commission: the database
        // refused the second (payout_items' unique index). Nothing of it was written.
        Err(AppError::Internal(e))
            if e
                .downcast_ref::<diesel::result::Error>()
                .is_some_and(db::is_unique_violation) =>
        {
            Err(AppError::Conflict(
            "Another run settled some of these balances at the same moment; run again to plan what is left.".to_owned(),
        ))
        }
        other => other,
    }
}

fn payouts_n(n: usize) -> String {
    format!("{n} payout{}", if n == 1 { "" } else { "s" })
}

/// Writes a planned run, set-based: the payouts and their items many rows a statement,
/// then one statement each for the items' journals, their two entries, the commissions'
/// move to in payout and its events. What each item's journal moves is what
/// [`ledger::payout_start`] would post; `tandem ledger check` verifies every one.
fn write_run(
    conn: &mut DbConn,
    now: NaiveDateTime,
    run_id: i64,
    currency: &str,
    plan: &Plan,
    progress: &mut dyn FnMut(usize, usize),
) -> AppResult<()> {
    use db::payouts::{Bind, bulk_exec};
    // Correct when written: each payout is the sum of what it settles.
    for p in &plan.payouts {
        let sum: i64 = p.items.iter().map(|i| i.amount_minor).sum();
        if sum != p.amount_minor || p.amount_minor <= 0 {
            return Err(AppError::Internal(anyhow::anyhow!(
                "payout for influencer {} is {} but its items add up to {sum}",
                p.influencer_id,
                p.amount_minor
            )));
        }
    }
    let of = plan.payouts.len();
    let rows: Vec<(i64, i64, String)> = plan
        .payouts
        .iter()
        .map(|p| (p.influencer_id, p.amount_minor, p.method.clone()))
        .collect();
    let ids: HashMap<i64, i64> = db::payouts::insert_payouts(conn, run_id, currency, &rows, now)?
        .into_iter()
        .collect();
    // Each payout pays the details it was planned with (sealed as they are stored).
    db::payouts::set_destinations(conn, run_id)?;
    let mut items: Vec<(i64, Option<i64>, Option<i64>, i64)> = Vec::new();
    let mut commissions = 0usize;
    for p in &plan.payouts {
        let payout_id = ids[&p.influencer_id];
        for it in &p.items {
            let (c, r) = match it.settles {
                Settles::Commission(id) => {
                    commissions += 1;
                    (Some(id), None)
                }
                Settles::Clawback(id) => (None, Some(id)),
            };
            items.push((payout_id, c, r, it.amount_minor));
        }
    }
    for (n, chunk) in items.chunks(20_000).enumerate() {
        db::payouts::insert_items(conn, chunk)?;
        progress(
            ((n + 1) * 20_000).min(items.len()) * of / items.len().max(1),
            of,
        );
        if n == 0 {
            crate::failpoint("payouts-mid-run");
        }
    }
    if matches!(conn, DbConn::Pg(_)) {
        // The planner must know how many items and payouts it joins (they were just
        // written in this transaction), or it loops over them quadratically.
        bulk_exec(conn, "ANALYZE payout_items, payouts", &[])?;
    }
    let run = Bind::Int(run_id);
    let cur = Bind::Text(currency.to_owned());
    let at = Bind::Time(now);
    // The influencers' accounts the entries go to.
    bulk_exec(
        conn,
        "INSERT INTO ledger_accounts (owner_kind, owner_id, kind, currency) \
         SELECT DISTINCT 'influencer', p.influencer_id, k.kind, ? \
         FROM payouts p, (SELECT 'available' AS kind UNION ALL SELECT 'in_payout') k \
         WHERE p.run_id = ? AND NOT EXISTS (SELECT 1 FROM ledger_accounts a \
           WHERE a.owner_kind = 'influencer' AND a.owner_id = p.influencer_id \
           AND a.kind = k.kind AND a.currency = ?) \
         ON CONFLICT DO NOTHING",
        &[cur.clone(), run.clone(), cur.clone()],
    )?;
    let journals = bulk_exec(
        conn,
        "INSERT INTO journals (kind, ref_kind, ref_id, currency, memo, created_at) \
         SELECT 'payout_start', 'payout_item', pi.id, ?, 'Payout #' || p.id, ? \
         FROM payout_items pi JOIN payouts p ON p.id = pi.payout_id \
         WHERE p.run_id = ? ORDER BY pi.id",
        &[cur.clone(), at.clone(), run.clone()],
    )?;
    if matches!(conn, DbConn::Pg(_)) {
        bulk_exec(conn, "ANALYZE journals, ledger_accounts", &[])?;
    }
    // payout_start: available is debited (+), in payout credited (-), by the item's amount.
    for (kind, sign) in [("available", ""), ("in_payout", "-")] {
        let sql = format!(
            "INSERT INTO entries (journal_id, account_id, amount_minor) \
             SELECT j.id, a.id, {sign}pi.amount_minor \
             FROM payout_items pi JOIN payouts p ON p.id = pi.payout_id \
             JOIN journals j ON j.kind = 'payout_start' AND j.ref_kind = 'payout_item' AND j.ref_id = pi.id \
             JOIN ledger_accounts a ON a.owner_kind = 'influencer' AND a.owner_id = p.influencer_id \
               AND a.kind = '{kind}' AND a.currency = ? \
             WHERE p.run_id = ? ORDER BY j.id"
        );
        let n = bulk_exec(conn, &sql, &[cur.clone(), run.clone()])?;
        if n != journals {
            return Err(AppError::Internal(anyhow::anyhow!(
                "payout run {run_id}: {journals} journals but {n} {kind} entries"
            )));
        }
    }
    let moved = bulk_exec(
        conn,
        "UPDATE commissions SET state = 'in_payout', updated_at = ? \
         WHERE state = 'available' AND id IN (SELECT pi.commission_id FROM payout_items pi \
           JOIN payouts p ON p.id = pi.payout_id WHERE p.run_id = ? AND pi.commission_id IS NOT NULL)",
        &[at.clone(), run.clone()],
    )?;
    // The commissions are locked now (a refund locks its commission first, so none can
    // slip in any more): what each item settles must still be what is left of it.
    if moved != commissions || db::payouts::stale_items(conn, run_id)? > 0 {
        return Err(AppError::Conflict(
            "Some commissions changed while the run was planned; run again.".to_owned(),
        ));
    }
    bulk_exec(
        conn,
        "INSERT INTO commission_events (commission_id, from_state, to_state, actor_user_id, note, created_at) \
         SELECT pi.commission_id, 'available', 'in_payout', NULL, 'In payout #' || p.id || '.', ? \
         FROM payout_items pi JOIN payouts p ON p.id = pi.payout_id \
         WHERE p.run_id = ? AND pi.commission_id IS NOT NULL ORDER BY pi.id",
        &[at, run],
    )?;
    progress(of, of);
    Ok(())
}

/// The journal that undoes a payout_start (a failed or cancelled payout).
fn payout_fail(influencer: i64, amount: i64, memo: String) -> JournalDraft {
    JournalDraft {
        kind: JournalKind::PayoutFail,
        postings: ledger::payout_start(influencer, amount, String::new())
            .postings
            .iter()
            .map(|p| Posting {
                amount_minor: -p.amount_minor,
                ..*p
            })
            .collect(),
        memo,
    }
}

/// Ends a payout that will not be paid (failed at the bank or cancelled with its run), once
/// it has been moved to failed or cancelled: everything it settled is available again and
/// may be paid by a later run. A payout in any other state is never unwound.
fn unwind(conn: &mut DbConn, now: NaiveDateTime, p: &Payout, why: &str) -> AppResult<()> {
    let state = db::payouts::payout(conn, p.id)?
        .map(|p| p.state)
        .unwrap_or_default();
    if !matches!(state.as_str(), "failed" | "cancelled") {
        return Err(AppError::Internal(anyhow::anyhow!(
            "payout {} is {state}: only a failed or cancelled payout gives its money back",
            p.id
        )));
    }
    for it in db::payouts::items_of(conn, p.id)? {
        if !it.active {
            continue;
        }
        if let Some(c) = it.commission_id {
            db::orders::move_commission(conn, c, "in_payout", "available", None, None, why, now)?;
        }
        db::ledger::post(
            conn,
            &payout_fail(
                p.influencer_id,
                it.amount_minor,
                format!("Payout #{}: {why}", p.id),
            ),
            &p.currency,
            "payout_item",
            it.id,
            now,
        )?;
    }
    db::payouts::release_items(conn, p.id)?;
    Ok(())
}

fn settle(conn: &mut DbConn, now: NaiveDateTime, p: &Payout, reference: &str) -> AppResult<()> {
    for it in db::payouts::items_of(conn, p.id)? {
        if let Some(c) = it.commission_id {
            db::orders::move_commission(
                conn,
                c,
                "in_payout",
                "paid",
                None,
                None,
                &format!("Paid by payout #{} ({reference}).", p.id),
                now,
            )?;
        }
        db::ledger::post(
            conn,
            &ledger::payout_settle(
                p.influencer_id,
                it.amount_minor,
                format!("Payout #{} paid: {reference}", p.id),
            ),
            &p.currency,
            "payout_item",
            it.id,
            now,
        )?;
    }
    Ok(())
}

/// Finance approves a draft run. With maker-checker on, not the person who started it nor
/// the one who last changed its schedule before it was made (a run the scheduler makes from
/// a schedule someone just edited needs a second person too).
pub fn approve(
    conn: &mut DbConn,
    now: NaiveDateTime,
    actor: i64,
    run_id: i64,
    maker_checker: bool,
) -> AppResult<()> {
    approve_checked(conn, now, actor, run_id, maker_checker, None)
}

/// As [`approve`], for the approver who reviewed the run's page: `seen` is the
/// [`destinations_digest`] that page showed; if a creator's payout details changed since,
/// the approval is refused so that what is approved is what was reviewed.
pub fn approve_as_seen(
    conn: &mut DbConn,
    now: NaiveDateTime,
    actor: i64,
    run_id: i64,
    maker_checker: bool,
    seen: &str,
) -> AppResult<()> {
    approve_checked(conn, now, actor, run_id, maker_checker, Some(seen))
}

/// Why `actor` may not approve the run (maker-checker), if they may not.
pub fn maker_of(run: &PayoutRun, actor: i64, maker_checker: bool) -> Option<&'static str> {
    if !maker_checker {
        return None;
    }
    if run.started_by == Some(actor) {
        Some("You started this run: another finance user approves it (maker-checker).")
    } else if run.schedule_changed_by == Some(actor) {
        Some(
            "You last changed the schedule that made this run: another finance user approves it (maker-checker).",
        )
    } else {
        None
    }
}

fn approve_checked(
    conn: &mut DbConn,
    now: NaiveDateTime,
    actor: i64,
    run_id: i64,
    maker_checker: bool,
    seen: Option<&str>,
) -> AppResult<()> {
    db::write_tx(conn, |conn| {
        let run = db::payouts::run(conn, run_id)?.ok_or(AppError::NotFound)?;
        if let Some(why) = maker_of(&run, actor, maker_checker) {
            return Err(AppError::Conflict(why.to_owned()));
        }
        if let Some(seen) = seen
            && seen != destinations_digest(conn, run_id)?
        {
            return Err(AppError::Conflict(
                "A creator's payout details changed since you opened this run: review where each payout goes, then approve.".to_owned(),
            ));
        }
        if !db::payouts::move_run(conn, run_id, &["draft"], "approved", Some(actor), now)? {
            return Err(AppError::Conflict(format!(
                "Only a run awaiting approval can be approved; this one is {}.",
                state_word(&run.state)
            )));
        }
        db::payouts::move_run_payouts(conn, run_id, &["draft"], "approved", now)?;
        audit(
            conn,
            now,
            Some(actor),
            "payout.approve",
            ("payout_run", run_id),
            "run approved: draft → approved",
        )?;
        Ok(())
    })
}

/// A digest of where each payout of the run awaiting approval goes (method and sealed
/// details): the run page carries it, and approving checks it is unchanged.
pub fn destinations_digest(conn: &mut DbConn, run_id: i64) -> AppResult<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (p, _) in db::payouts::payouts_of_run(conn, run_id)? {
        h.update(format!(
            "{}:{}:{}\n",
            p.id,
            p.method,
            p.destination.as_deref().unwrap_or("")
        ));
    }
    Ok(hex::encode(&h.finalize()[..12]))
}

/// A run's state in words, for messages.
pub fn state_word(state: &str) -> &'static str {
    match state {
        "draft" => "awaiting approval",
        "approved" => "approved",
        "exported" => "exported",
        "paid" => "settled",
        "cancelled" => "cancelled",
        "empty" => "closed with nothing to pay",
        _ => "in an unknown state",
    }
}

/// Finance cancels a draft run: every payout of it is cancelled and what it settled is
/// available again.
pub fn cancel(conn: &mut DbConn, now: NaiveDateTime, actor: i64, run_id: i64) -> AppResult<()> {
    db::write_tx(conn, |conn| {
        let run = db::payouts::run(conn, run_id)?.ok_or(AppError::NotFound)?;
        if !db::payouts::move_run(conn, run_id, &["draft"], "cancelled", None, now)? {
            return Err(AppError::Conflict(format!(
                "Only a run awaiting approval can be cancelled; this one is {}.",
                state_word(&run.state)
            )));
        }
        for (p, _) in db::payouts::payouts_of_run(conn, run_id)? {
            // Only a payout still awaiting approval is cancelled and gives its money back;
            // a payout in any other state in a draft run is refused, never unwound.
            if !db::payouts::move_payout(conn, p.id, &["draft"], "cancelled", None, None, now)? {
                return Err(AppError::Conflict(format!(
                    "Payout #{} of this run is {}: the run cannot be cancelled.",
                    p.id, p.state
                )));
            }
            unwind(conn, now, &p, "the run was cancelled")?;
        }
        audit(
            conn,
            now,
            Some(actor),
            "payout.cancel",
            ("payout_run", run_id),
            "run cancelled: draft → cancelled; its amounts are available again",
        )?;
        Ok(())
    })
}

/// The run was exported for the bank: approved → exported (an export of an exported run
/// changes nothing).
pub fn mark_exported(
    conn: &mut DbConn,
    now: NaiveDateTime,
    actor: i64,
    run_id: i64,
    format: &str,
) -> AppResult<()> {
    db::write_tx(conn, |conn| {
        let run = db::payouts::run(conn, run_id)?.ok_or(AppError::NotFound)?;
        if !matches!(run.state.as_str(), "approved" | "exported" | "paid") {
            return Err(AppError::Conflict(
                "Approve the run before exporting it.".to_owned(),
            ));
        }
        if db::payouts::move_run(conn, run_id, &["approved"], "exported", None, now)? {
            db::payouts::move_run_payouts(conn, run_id, &["approved"], "exported", now)?;
        }
        audit(
            conn,
            now,
            Some(actor),
            "payout.export",
            ("payout_run", run_id),
            &format!(
                "run exported as {format} (state {} → {})",
                run.state,
                if run.state == "approved" {
                    "exported"
                } else {
                    run.state.as_str()
                }
            ),
        )?;
        Ok(())
    })
}

/// What finance says of one payout.
#[derive(Debug, Clone)]
pub enum Settlement {
    Paid { reference: String },
    Failed { reason: String },
}

/// Marks payouts of a run paid or failed (each by id), all or nothing. The run is paid when
/// none is left to settle.
pub fn settle_payouts(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    actor: i64,
    run_id: i64,
    outcomes: &[(i64, Settlement)],
) -> AppResult<usize> {
    db::write_tx(conn, |conn| {
        let run = db::payouts::run(conn, run_id)?.ok_or(AppError::NotFound)?;
        if run.state == "approved" {
            return Err(AppError::Conflict(
                "Export the run before settling it: a payout is paid from the file sent to the bank or PayPal.".to_owned(),
            ));
        }
        if run.state != "exported" {
            return Err(AppError::Conflict(format!(
                "Only an exported run is settled; this one is {}.",
                state_word(&run.state)
            )));
        }
        let payouts: HashMap<i64, Payout> = db::payouts::payouts_of_run(conn, run_id)?
            .into_iter()
            .map(|(p, _)| (p.id, p))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for (id, outcome) in outcomes {
            if !seen.insert(*id) {
                return Err(AppError::BadRequest(format!(
                    "Payout #{id} is settled twice in one go."
                )));
            }
            let Some(p) = payouts.get(id) else {
                return Err(AppError::BadRequest(format!(
                    "Payout #{id} is not in this run."
                )));
            };
            if p.state != "exported" {
                return Err(AppError::Conflict(format!(
                    "Payout #{id} is {} already.",
                    p.state
                )));
            }
            match outcome {
                Settlement::Paid { reference } => {
                    settle(conn, now, p, reference)?;
                    db::payouts::move_payout(
                        conn,
                        p.id,
                        &["exported"],
                        "paid",
                        Some(reference),
                        None,
                        now,
                    )?;
                    audit(
                        conn,
                        now,
                        Some(actor),
                        "payout.paid",
                        ("payout", p.id),
                        &format!("payout paid: {} → paid, reference {reference}", p.state),
                    )?;
                    notify_paid(conn, now, base_url, p, reference)?;
                }
                Settlement::Failed { reason } => {
                    db::payouts::move_payout(
                        conn,
                        p.id,
                        &["exported"],
                        "failed",
                        None,
                        Some(reason),
                        now,
                    )?;
                    unwind(conn, now, p, reason)?;
                    audit(
                        conn,
                        now,
                        Some(actor),
                        "payout.failed",
                        ("payout", p.id),
                        &format!("payout failed: {} → failed, {reason}", p.state),
                    )?;
                    notify_failed(conn, now, base_url, p, reason)?;
                }
            }
        }
        let open = db::payouts::payouts_of_run(conn, run_id)?
            .iter()
            .any(|(p, _)| p.state == "exported");
        if !open {
            db::payouts::move_run(conn, run_id, &["exported"], "paid", None, now)?;
        }
        Ok(outcomes.len())
    })
}

/// The longest reason a return is given (what the creator reads).
const RETURN_REASON_MAX: usize = 300;

/// The bank returned a payout it had paid (DESIGN.md §3 Payouts: "A paid payout the bank
/// later returns becomes `returned`"), marked by hand by finance: the payout becomes
/// `returned` with the reason, each of its items posts a `payout_return` journal (the
/// creator's paid and the platform's paid_out undone, the money back in cash and available
/// to the creator), its commissions are available again and its clawbacks open again, so
/// that a later run pays them; the items stop settling anything. All in one transaction;
/// a payout that is not paid (returned already, or never paid) is refused and nothing is
/// posted. Who may do it is decided as for settling (finance; an admin only where
/// `TANDEM_ADMIN_APPROVES_PAYOUTS` says so), by the caller.
#[tracing::instrument(skip(conn, base_url, reason))]
pub fn return_payout(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    actor: i64,
    payout_id: i64,
    reason: &str,
) -> AppResult<()> {
    let reason = reason.trim();
    let mut errors = FieldErrors::new();
    if reason.is_empty() {
        errors.add(
            "reason",
            "Say why the bank returned the payout: the creator reads it.",
        );
    } else if reason.chars().count() > RETURN_REASON_MAX {
        errors.add(
            "reason",
            format!("Keep the reason to {RETURN_REASON_MAX} characters."),
        );
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    db::write_tx(conn, |conn| {
        let p = db::payouts::payout(conn, payout_id)?.ok_or(AppError::NotFound)?;
        if p.state != "paid" {
            return Err(AppError::Conflict(format!(
                "Only a paid payout can be returned by the bank; payout #{} is {}.",
                p.id,
                payout_state_word(&p.state)
            )));
        }
        if !db::payouts::mark_returned(conn, p.id, reason, now)? {
            return Err(AppError::Conflict(format!(
                "Payout #{} changed in the meantime: reload the run and look again.",
                p.id
            )));
        }
        for it in db::payouts::items_of(conn, p.id)? {
            if let Some(c) = it.commission_id {
                let moved = db::orders::move_commission(
                    conn,
                    c,
                    "paid",
                    "available",
                    None,
                    Some(actor),
                    &format!(
                        "Payout #{} was returned by the bank ({reason}): available again, paid by the next run.",
                        p.id
                    ),
                    now,
                )?;
                if !moved {
                    return Err(AppError::Internal(anyhow::anyhow!(
                        "payout {} is paid but its commission {c} is not",
                        p.id
                    )));
                }
            }
            db::ledger::post(
                conn,
                &ledger::payout_return(
                    p.influencer_id,
                    it.amount_minor,
                    format!("Payout #{} returned by the bank: {reason}", p.id),
                ),
                &p.currency,
                "payout_item",
                it.id,
                now,
            )?;
        }
        db::payouts::release_items(conn, p.id)?;
        audit(
            conn,
            now,
            Some(actor),
            "payout.returned",
            ("payout", p.id),
            &format!(
                "payout returned by the bank: paid → returned, {reason}; {} available again",
                display_in(p.amount_minor, &p.currency)
            ),
        )?;
        notify_returned(conn, now, base_url, &p, reason)?;
        Ok(())
    })
}

/// A payout's state in words, for messages.
pub fn payout_state_word(state: &str) -> &'static str {
    match state {
        "draft" => "awaiting approval",
        "approved" => "approved, not sent yet",
        "exported" => "sent to the bank, not settled yet",
        "paid" => "paid",
        "failed" => "failed (never paid)",
        "cancelled" => "cancelled",
        "returned" => "returned by the bank already",
        _ => "in an unknown state",
    }
}

fn notify_returned(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    p: &Payout,
    reason: &str,
) -> AppResult<()> {
    let amount = display_in(p.amount_minor, &p.currency);
    super::notify_influencer(
        conn,
        now,
        p.influencer_id,
        &format!("Your payout of {amount} was returned by the bank"),
        &[
            format!("Your payout of {amount} was returned by the bank: {reason}."),
            format!(
                "Payout #{} by {} paid nothing in the end. The amount is available again and goes out with the next run; check your payout details.",
                p.id,
                method_label(&p.method)
            ),
        ],
        &format!("{base_url}/influencer/payouts/{}", p.id),
    )
}

fn notify_paid(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    p: &Payout,
    reference: &str,
) -> AppResult<()> {
    super::notify_influencer(
        conn,
        now,
        p.influencer_id,
        &format!("You were paid {}", display_in(p.amount_minor, &p.currency)),
        &[
            format!(
                "Payout #{} of {} was sent by {}, reference {reference}.",
                p.id,
                display_in(p.amount_minor, &p.currency),
                method_label(&p.method)
            ),
            "Its statement lists every commission and clawback it settles.".to_owned(),
        ],
        &format!("{base_url}/influencer/payouts/{}", p.id),
    )
}

fn notify_failed(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    p: &Payout,
    reason: &str,
) -> AppResult<()> {
    super::notify_influencer(
        conn,
        now,
        p.influencer_id,
        &format!(
            "Your payout of {} could not be paid",
            display_in(p.amount_minor, &p.currency)
        ),
        &[
            format!(
                "Payout #{} by {} failed: {reason}.",
                p.id,
                method_label(&p.method)
            ),
            "The amount is available again and goes out with the next run. Check your payout details on your profile so that it can be paid.".to_owned(),
        ],
        &format!("{base_url}/influencer"),
    )
}

fn notify_finance(
    conn: &mut DbConn,
    now: NaiveDateTime,
    except: Option<i64>,
    subject: &str,
    lines: &[String],
    url: &str,
) -> AppResult<()> {
    for user in db::users::with_role(conn, "finance")? {
        if user.disabled_at.is_some() || Some(user.id) == except {
            continue;
        }
        let email = crate::email::templates::notice(
            &user.display_name,
            subject,
            lines,
            url,
            "Review the run",
        )?;
        super::enqueue_email(conn, now, &user.email, &email)?;
    }
    Ok(())
}

pub fn method_label(method: &str) -> &'static str {
    match method {
        "bank" => "bank transfer",
        "paypal" => "PayPal",
        "alipay" => "Alipay",
        "wechat" => "WeChat Pay",
        _ => "the payout method on file",
    }
}

/// The schedule's latest slot at or before `now` (the run the command line asks for: the same
/// one the scheduler makes, so the two never make two runs).
pub fn latest_slot(rule: &FireRule, now: NaiveDateTime) -> Option<NaiveDateTime> {
    // Growing windows, so that a schedule firing every minute is not counted for a year.
    for days in [1, 8, 32, 367, 367 * 8] {
        let from = now - chrono::TimeDelta::days(days);
        if let Some(last) = rule
            .fires_between(from, now, MAX_CATCH_UP_SLOTS * 100)
            .last()
        {
            return Some(*last);
        }
    }
    None
}

/// The slot of `s` due at `now`: its latest fire time at or before `now`, and after the
/// schedule was made (a schedule does not run the past). The one rule for what is due, used
/// by the scheduler, `tandem payouts run` (with or without `--dry-run`) and "Run now".
pub fn due_slot(s: &PayoutSchedule, rule: &FireRule, now: NaiveDateTime) -> Option<NaiveDateTime> {
    latest_slot(rule, now).filter(|slot| *slot > s.created_at)
}

/// The scheduler's pass: for each active schedule whose due slot has not run, one run for
/// it (missed slots make one catch-up run). Returns the runs made now.
pub fn run_due(conn: &mut DbConn, now: NaiveDateTime, base_url: &str) -> AppResult<Vec<PayoutRun>> {
    let mut made = Vec::new();
    for s in db::payouts::schedules(conn)? {
        if !s.active {
            continue;
        }
        let Ok(rule) = FireRule::parse(&s.cron, &s.time_zone) else {
            tracing::error!(
                schedule = s.id,
                "payout schedule has an unreadable cron expression"
            );
            continue;
        };
        let Some(latest) = due_slot(&s, &rule, now) else {
            continue;
        };
        if s.last_fire_at.is_some_and(|done| done >= latest) {
            continue;
        }
        let since = s.last_fire_at.unwrap_or(s.created_at);
        let missed = rule.fires_between(since, now, MAX_CATCH_UP_SLOTS).len();
        if missed > 1 {
            tracing::info!(
                schedule = s.id,
                missed,
                "catching up missed payout slots in one run"
            );
        }
        // One schedule's trouble (another run took its balances a moment ago) does not
        // stop the others; its slot is tried again on the next pass.
        match run_schedule(conn, now, base_url, &s, latest, None, &mut |_, _| {}) {
            Ok(RunOutcome::Created(run, _)) => made.push(run),
            Ok(RunOutcome::Exists(_)) => {
                db::payouts::mark_fired(conn, s.id, latest)?;
            }
            Err(e) => {
                tracing::warn!(schedule = s.id, error = %e, "payout run not made; retried on the next pass");
            }
        }
    }
    Ok(made)
}

/// A payout's statement: what it settles, line by line, and its totals, from the payout's
/// items (whose journals are the ledger's record of it).
pub struct Statement {
    pub payout: Payout,
    pub lines: Vec<StatementLine>,
    pub commissions_minor: i64,
    pub clawbacks_minor: i64,
    /// The unpaid balance over the statement's period, from the ledger's entries.
    pub period: payout::Period,
    /// Every movement of the unpaid balance in the period, each once, with its cause.
    pub movements: Vec<Movement>,
    /// The period: from the end of the previous statement (none: from the first earning)
    /// to the last movement in this one.
    pub from: Option<NaiveDateTime>,
    pub to: NaiveDateTime,
}

pub struct StatementLine {
    pub kind: &'static str,
    pub order_id: String,
    pub merchant: String,
    pub link: Option<String>,
    pub stream: Option<String>,
    pub amount: String,
    pub amount_minor: i64,
}

/// A movement of the unpaid balance: when, what and why, and by how much (+ raises it).
pub struct Movement {
    pub at: NaiveDateTime,
    pub what: &'static str,
    pub detail: String,
    pub amount_minor: i64,
}

/// What a journal's kind did to the unpaid balance, in words.
fn movement_word(kind: &str) -> &'static str {
    match kind {
        "accrual" => "Earned",
        "reversal" => "Reversed by a refund",
        "reject" => "Rejected after review",
        "clawback" => "Clawed back (refund after payout)",
        "payout_start" => "Moved into a payout",
        "payout_fail" => "Returned (payout failed or cancelled)",
        "payout_return" => "Returned by the bank (available again)",
        _ => "Adjusted",
    }
}

impl Statement {
    pub fn amount(&self) -> String {
        display_in(self.payout.amount_minor, &self.payout.currency)
    }
    pub fn commissions(&self) -> String {
        display_in(self.commissions_minor, &self.payout.currency)
    }
    pub fn clawbacks(&self) -> String {
        display_in(self.clawbacks_minor, &self.payout.currency)
    }
    pub fn method(&self) -> &'static str {
        method_label(&self.payout.method)
    }
    pub fn money(&self, minor: &i64) -> String {
        display_in(*minor, &self.payout.currency)
    }
    /// A signed amount: `+¥1.00`, `−¥1.00`.
    pub fn signed(&self, minor: &i64) -> String {
        if *minor < 0 {
            format!("−{}", display_in(-*minor, &self.payout.currency))
        } else {
            format!("+{}", display_in(*minor, &self.payout.currency))
        }
    }
    /// [`Self::paid_minor`], shown.
    pub fn paid(&self) -> String {
        display_in(self.paid_minor(), &self.payout.currency)
    }
    /// What was paid to the creator: the amount once paid, nothing if it failed or the bank
    /// returned it.
    pub fn paid_minor(&self) -> i64 {
        if self.payout.state == "paid" {
            self.payout.amount_minor
        } else {
            0
        }
    }

    /// The statement as CSV: the payout (id, date, state, reference or why it failed), the
    /// period and its figures, every movement, then what the payout settles.
    pub fn to_csv(&self, tz: chrono_tz::Tz) -> AppResult<Vec<u8>> {
        let plain = |minor: i64| crate::domain::money::plain_in(minor, &self.payout.currency);
        let when = |t: NaiveDateTime| {
            use chrono::TimeZone;
            tz.from_utc_datetime(&t)
                .format("%Y-%m-%d %H:%M %Z")
                .to_string()
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        let io = |e: csv::Error| AppError::Internal(e.into());
        w.write_record(["line", "date", "detail", "currency", "amount"])
            .map_err(io)?;
        let cur = self.payout.currency.as_str();
        let cell = crate::domain::validate::csv_cell;
        let p = &self.payout;
        w.write_record([
            "payout",
            &when(p.created_at),
            &format!("#{} by {} ({})", p.id, self.method(), p.state),
            cur,
            &plain(p.amount_minor),
        ])
        .map_err(io)?;
        if let Some(r) = &p.reference {
            w.write_record(["reference", "", &cell(r), "", ""])
                .map_err(io)?;
        }
        if let Some(f) = &p.failure_reason {
            w.write_record([
                "failed",
                &when(p.updated_at),
                &cell(f),
                cur,
                &plain(p.amount_minor),
            ])
            .map_err(io)?;
        }
        if p.state == "returned" {
            w.write_record([
                "returned",
                &p.returned_at.map(when).unwrap_or_default(),
                &cell(&format!(
                    "returned by the bank: {}; available again, paid by the next run",
                    p.returned_reason.as_deref().unwrap_or("")
                )),
                cur,
                &plain(p.amount_minor),
            ])
            .map_err(io)?;
        }
        w.write_record(["paid to you", "", "", cur, &plain(self.paid_minor())])
            .map_err(io)?;
        w.write_record([
            "period",
            &self.from.map(when).unwrap_or_default(),
            &format!("to {}", when(self.to)),
            "",
            "",
        ])
        .map_err(io)?;
        let q = &self.period;
        for (label, minor) in [
            ("opening balance", q.opening_minor),
            ("earned", q.earned_minor),
            ("reversed", -q.reversed_minor),
            ("clawed back", -q.clawed_back_minor),
            ("returned by failed payouts", q.returned_minor),
            ("moved into payouts", -q.paid_out_minor),
            ("closing balance", q.closing_minor),
        ] {
            w.write_record([label, "", "", cur, &plain(minor)])
                .map_err(io)?;
        }
        for m in &self.movements {
            w.write_record([
                "movement",
                &when(m.at),
                &cell(&format!("{}: {}", m.what, m.detail)),
                cur,
                &plain(m.amount_minor),
            ])
            .map_err(io)?;
        }
        for l in &self.lines {
            let detail = format!(
                "{} · {}{}{}",
                l.order_id,
                l.merchant,
                l.link
                    .as_deref()
                    .map(|c| format!(" · link {c}"))
                    .unwrap_or_default(),
                l.stream
                    .as_deref()
                    .map(|s| format!(" · stream {s}"))
                    .unwrap_or_default()
            );
            w.write_record([l.kind, "", &cell(&detail), cur, &plain(l.amount_minor)])
                .map_err(io)?;
        }
        w.into_inner()
            .map_err(|e| AppError::Internal(anyhow::anyhow!("csv: {e}")))
    }
}

/// The statement of one of the influencer's payouts (another's is not found).
pub fn statement(conn: &mut DbConn, influencer_id: i64, payout_id: i64) -> AppResult<Statement> {
    let payout = db::payouts::payout(conn, payout_id)?
        .filter(|p| p.influencer_id == influencer_id && p.state != "cancelled")
        .ok_or(AppError::NotFound)?;
    let lines: Vec<StatementLine> = db::payouts::statement_lines(conn, payout_id)?
        .into_iter()
        .map(
            |(amount, commission, _refund, order_id, link, stream, merchant)| StatementLine {
                kind: if commission.is_some() {
                    "Commission"
                } else {
                    "Clawback (refund after payout)"
                },
                order_id,
                merchant,
                link,
                stream,
                amount: display_in(amount, &payout.currency),
                amount_minor: amount,
            },
        )
        .collect();
    let commissions_minor = lines
        .iter()
        .filter(|l| l.amount_minor > 0)
        .map(|l| l.amount_minor)
        .sum();
    let clawbacks_minor = lines
        .iter()
        .filter(|l| l.amount_minor < 0)
        .map(|l| -l.amount_minor)
        .sum();
    let periods = statement_periods_of(conn, influencer_id, &payout.currency)?;
    let k = periods
        .iter()
        .position(|s| s.payout_id == payout.id)
        .ok_or(AppError::NotFound)?;
    let this = &periods[k];
    let mut ids: Vec<i64> = this.movements.iter().map(|m| m.0).collect();
    if k > 0 {
        ids.extend(periods[k - 1].movements.iter().map(|m| m.0));
    }
    let notes = db::payouts::journal_notes(conn, &ids)?;
    // In the order they happened; a payout's items moved together are one line.
    let mut movements: Vec<Movement> = Vec::with_capacity(this.movements.len());
    let mut of_payout: HashMap<(String, String), usize> = HashMap::new();
    let mut ordered: Vec<(NaiveDateTime, i64, &str, &str, i64)> = this
        .movements
        .iter()
        .filter_map(|(jid, delta)| {
            let (kind, memo, at) = notes.get(jid)?;
            Some((*at, *jid, kind.as_str(), memo.as_str(), *delta))
        })
        .collect();
    ordered.sort_by_key(|m| (m.0, m.1));
    for (at, _, kind, memo, delta) in ordered {
        let key = (kind.to_owned(), memo.to_owned());
        if matches!(kind, "payout_start" | "payout_fail" | "payout_return")
            && let Some(&k) = of_payout.get(&key)
        {
            movements[k].amount_minor += delta;
            movements[k].at = movements[k].at.max(at);
            continue;
        }
        if matches!(kind, "payout_start" | "payout_fail" | "payout_return") {
            of_payout.insert(key, movements.len());
        }
        movements.push(Movement {
            at,
            what: movement_word(kind),
            detail: memo.to_owned(),
            amount_minor: delta,
        });
    }
    let to = movements
        .iter()
        .map(|m| m.at)
        .max()
        .unwrap_or(payout.created_at);
    let from = (k > 0)
        .then(|| {
            periods[k - 1]
                .movements
                .iter()
                .filter_map(|(jid, _)| notes.get(jid).map(|n| n.2))
                .max()
        })
        .flatten();
    Ok(Statement {
        payout,
        lines,
        commissions_minor,
        clawbacks_minor,
        period: this.period,
        movements,
        from,
        to,
    })
}

/// How the influencer's unpaid balance in `currency` divides among the statements of their
/// payouts (cancelled payouts have none), from the ledger's entries.
pub fn statement_periods_of(
    conn: &mut DbConn,
    influencer_id: i64,
    currency: &str,
) -> AppResult<Vec<payout::StatementPeriod>> {
    let states: HashMap<i64, String> = db::payouts::payouts_of_influencer(conn, influencer_id)?
        .into_iter()
        .map(|p| (p.id, p.state))
        .collect();
    let mut returns: HashMap<i64, Vec<i64>> = HashMap::new();
    for (payout, journal) in db::payouts::payout_returns(conn, influencer_id, currency)? {
        returns.entry(payout).or_default().push(journal);
    }
    let marks: Vec<payout::PayoutMarks> =
        db::payouts::payout_markers(conn, influencer_id, currency)?
            .into_iter()
            .filter(|(id, _)| states.get(id).is_some_and(|s| s != "cancelled"))
            .map(|(id, started)| payout::PayoutMarks {
                payout_id: id,
                started,
                returned: returns.remove(&id).unwrap_or_default(),
            })
            .collect();
    let entries = db::payouts::balance_entries(conn, influencer_id, currency)?;
    Ok(payout::statement_periods(&entries, &marks))
}

/// Why an influencer's money in a currency is not paid yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPaid {
    pub currency: String,
    pub reason: String,
    /// The run's slot that left them out, or when the bank's return was marked.
    pub at: NaiveDateTime,
    /// The payout the bank returned (none: a run left them out).
    pub returned: Option<(i64, String)>,
}

/// Why the influencer was not paid, per currency: by the latest run that left them out (and
/// has not paid them since), and by a payout the bank returned (no payout made since);
/// the latest first.
pub fn why_not_paid(conn: &mut DbConn, influencer_id: i64) -> AppResult<Vec<NotPaid>> {
    let mut out = Vec::new();
    for (e, at) in db::payouts::latest_exclusions(conn, influencer_id)? {
        if !db::payouts::paid_after(conn, influencer_id, &e.currency, at)? {
            out.push(NotPaid {
                currency: e.currency,
                reason: e.reason,
                at,
                returned: None,
            });
        }
    }
    let mine = db::payouts::payouts_of_influencer(conn, influencer_id)?;
    for p in mine.iter().filter(|p| p.state == "returned") {
        let at = p.returned_at.unwrap_or(p.updated_at);
        let since = mine
            .iter()
            .any(|q| q.currency == p.currency && q.state != "cancelled" && q.created_at > at);
        if !since {
            out.push(NotPaid {
                currency: p.currency.clone(),
                reason: p.returned_reason.clone().unwrap_or_default(),
                at,
                returned: Some((p.id, display_in(p.amount_minor, &p.currency))),
            });
        }
    }
    out.sort_by_key(|n| std::cmp::Reverse(n.at));
    Ok(out)
}

impl NotPaid {
    /// In words, with `when` the time as the reader reads it.
    pub fn sentence(&self, when: &str) -> String {
        match &self.returned {
            Some((id, amount)) => format!(
                "Payout #{id} of {amount} was returned by the bank on {when}: {}. The amount is available again and goes out with the next run; check your payout details.",
                self.reason
            ),
            None => format!("Not paid by the run of {when}: {}.", self.reason),
        }
    }
}

/// One row of a bank's result file that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRowError {
    pub line: usize,
    pub message: String,
}

/// The columns a bank's result file may have.
pub const RESULT_COLUMNS: [&str; 6] = [
    "payout_id",
    "status",
    "reference",
    "reason",
    "amount",
    "currency",
];

/// Reads a bank's result file: a header, then `payout_id,status,reference,reason` rows
/// (status `paid` with the bank's reference, or `failed` with the reason; the column order
/// follows the header), optionally with `amount` and `currency`, which must then match the
/// payout. The file is refused whole, nothing applied, for any row that does not read: a
/// column the format does not know, a row of another width, a line break inside a field
/// (a broken quote would swallow the next rows), rows that do not match the file's lines,
/// or any row that does not fit the run; the errors say which rows. Otherwise all rows are
/// settled in one transaction.
pub fn apply_results(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    actor: i64,
    run_id: i64,
    text: &str,
) -> AppResult<Result<usize, Vec<ResultRowError>>> {
    let mut errors = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.to_ascii_lowercase()).collect(),
        Err(e) => {
            return Ok(Err(vec![ResultRowError {
                line: 1,
                message: format!("not a CSV file: {e}"),
            }]));
        }
    };
    let unknown: Vec<&str> = headers
        .iter()
        .map(String::as_str)
        .filter(|h| !RESULT_COLUMNS.contains(h))
        .collect();
    if !unknown.is_empty() {
        return Ok(Err(vec![ResultRowError {
            line: 1,
            message: format!(
                "unknown column{} {}: the file's columns are {}",
                if unknown.len() == 1 { "" } else { "s" },
                unknown
                    .iter()
                    .map(|u| format!("\"{u}\""))
                    .collect::<Vec<_>>()
                    .join(", "),
                RESULT_COLUMNS.join(", ")
            ),
        }]));
    }
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(c_id), Some(c_status)) = (col("payout_id"), col("status")) else {
        return Ok(Err(vec![ResultRowError {
            line: 1,
            message: "the header needs payout_id and status (and reference, reason)".to_owned(),
        }]));
    };
    let (c_ref, c_reason, c_amount, c_currency) = (
        col("reference"),
        col("reason"),
        col("amount"),
        col("currency"),
    );
    let open: HashMap<i64, Payout> = db::payouts::payouts_of_run(conn, run_id)?
        .into_iter()
        .map(|(p, _)| (p.id, p))
        .collect();
    let mut outcomes: Vec<(i64, Settlement)> = Vec::new();
    let mut rows = 0usize;
    for record in reader.records() {
        rows += 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e
                    .position()
                    .map_or(rows + 1, |p| usize::try_from(p.line()).unwrap_or(0));
                errors.push(ResultRowError {
                    line,
                    message: format!("unreadable: {e}"),
                });
                continue;
            }
        };
        let line = record
            .position()
            .map_or(rows + 1, |p| usize::try_from(p.line()).unwrap_or(0));
        if record.iter().any(|f| f.contains(['\n', '\r'])) {
            errors.push(ResultRowError {
                line,
                message: "a field holds a line break (a quote left open?): every row is one line"
                    .to_owned(),
            });
            continue;
        }
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("").to_owned();
        let id_text = get(Some(c_id));
        let id_text = id_text.trim_start_matches("TANDEM-PAYOUT-");
        let Ok(id) = id_text.parse::<i64>() else {
            errors.push(ResultRowError {
                line,
                message: format!("payout_id \"{id_text}\" is not a payout number"),
            });
            continue;
        };
        let Some(payout) = open.get(&id) else {
            errors.push(ResultRowError {
                line,
                message: format!("payout #{id} is not in this run"),
            });
            continue;
        };
        if payout.state != "exported" {
            errors.push(ResultRowError {
                line,
                message: format!("payout #{id} is {} already", payout.state),
            });
            continue;
        }
        let currency = get(c_currency);
        if !currency.is_empty() && !currency.eq_ignore_ascii_case(&payout.currency) {
            errors.push(ResultRowError {
                line,
                message: format!("payout #{id} is in {}, not {currency}", payout.currency),
            });
            continue;
        }
        let amount = get(c_amount);
        if !amount.is_empty() {
            let matches = Currency::parse(&payout.currency)
                .ok()
                .and_then(|c| Money::parse(&amount, c).ok())
                .is_some_and(|m| m.minor() == payout.amount_minor);
            if !matches {
                errors.push(ResultRowError {
                    line,
                    message: format!(
                        "payout #{id} is for {}, not {amount}",
                        display_in(payout.amount_minor, &payout.currency)
                    ),
                });
                continue;
            }
        }
        if outcomes.iter().any(|(o, _)| *o == id) {
            errors.push(ResultRowError {
                line,
                message: format!("payout #{id} is in the file twice"),
            });
            continue;
        }
        let outcome = match get(Some(c_status)).to_ascii_lowercase().as_str() {
            "paid" | "success" | "completed" => {
                let reference = get(c_ref);
                if reference.is_empty() {
                    errors.push(ResultRowError {
                        line,
                        message: format!("payout #{id} is paid but has no reference"),
                    });
                    continue;
                }
                if reference.chars().count() > 100 {
                    errors.push(ResultRowError {
                        line,
                        message: format!(
                            "payout #{id}: the reference is longer than 100 characters"
                        ),
                    });
                    continue;
                }
                Settlement::Paid { reference }
            }
            "failed" | "returned" | "rejected" => {
                let reason = get(c_reason);
                if reason.is_empty() {
                    errors.push(ResultRowError {
                        line,
                        message: format!("payout #{id} failed but the reason is empty"),
                    });
                    continue;
                }
                Settlement::Failed {
                    reason: reason.chars().take(300).collect(),
                }
            }
            other => {
                errors.push(ResultRowError {
                    line,
                    message: format!("status \"{other}\" is neither paid nor failed"),
                });
                continue;
            }
        };
        outcomes.push((id, outcome));
    }
    // Every line of the file after its header is one row (a quote that swallows lines, or
    // rows the reader skipped, would make them differ).
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    if errors.is_empty() && lines.saturating_sub(1) != rows {
        errors.push(ResultRowError {
            line: 1,
            message: format!(
                "the file has {} lines of rows but {rows} rows read: a quote or a line break is out of place",
                lines.saturating_sub(1)
            ),
        });
    }
    if outcomes.is_empty() && errors.is_empty() {
        errors.push(ResultRowError {
            line: 1,
            message: "the file has no rows".to_owned(),
        });
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let n = settle_payouts(conn, now, base_url, actor, run_id, &outcomes)?;
    Ok(Ok(n))
}
