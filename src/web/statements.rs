//! Finance's bank statement import (issue #28): upload a CSV of incoming transfers, check
//! each row's match, match the rest by hand or skip them, and confirm.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use askama::Template;
use serde::Deserialize;

use super::extract::{CsrfForm, FinanceUser};
use super::pages::{self, PageCtx, fmt_datetime};
use super::payouts::acting_finance;
use super::session;
use crate::domain::billing as rules;
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};
use crate::service::statements::{self as svc, Decision, ImportView, RowState};
use crate::startup::AppState;

/// A statement of 5,000 rows, sent as a form field (percent-encoded), with room to spare.
const FORM_LIMIT: usize = 8 * 1024 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/finance/billing/statements")
            .app_data(web::PayloadConfig::default().limit(FORM_LIMIT))
            .route(web::get().to(list))
            .route(web::post().to(upload)),
    )
    .service(import_page)
    .service(
        web::resource("/finance/billing/statements/{id}/apply")
            .app_data(web::PayloadConfig::default().limit(FORM_LIMIT))
            .route(web::post().to(apply)),
    );
}

// Recording payments is finance's: an admin does it only where
// `TANDEM_ADMIN_APPROVES_PAYOUTS` says so (`payouts::acting_finance`; they may still read).

// ---------- the list and the upload ----------

struct ImportRow {
    id: i64,
    filename: String,
    uploaded: String,
    state: String,
    badge: &'static str,
    counts: String,
}

#[derive(Template)]
#[template(path = "finance/statements.html")]
struct ListPage {
    ctx: PageCtx,
    can_act: bool,
    csv: String,
    filename: String,
    error: String,
    imports: Vec<ImportRow>,
}

async fn list_page(
    state: &AppState,
    session: &Session,
    user: &FinanceUser,
    csv: String,
    filename: String,
    error: String,
) -> AppResult<ListPage> {
    let tz = user.0.time_zone;
    let imports = state.db(svc::recent).await?;
    Ok(ListPage {
        ctx: PageCtx::new(session, Some(&user.0), "Bank statements", "billing"),
        can_act: acting_finance(state, user).is_ok(),
        csv,
        filename,
        error,
        imports: imports
            .into_iter()
            .map(|i| {
                let applied = i.import.applied_at;
                ImportRow {
                    id: i.import.id,
                    uploaded: format!(
                        "{} by {}",
                        fmt_datetime(i.import.uploaded_at, tz),
                        i.uploaded_by
                    ),
                    filename: i.import.filename,
                    state: match (applied, i.applied_by) {
                        (Some(at), by) => format!(
                            "Applied {} by {}",
                            fmt_datetime(at, tz),
                            by.unwrap_or_default()
                        ),
                        (None, _) => "Waiting for confirmation".to_owned(),
                    },
                    badge: if applied.is_some() {
                        "badge-ok"
                    } else {
                        "badge-info"
                    },
                    counts: svc::counts_line(&i.counts, applied.is_some()),
                }
            })
            .collect(),
    })
}

async fn list(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
) -> AppResult<HttpResponse> {
    let page = list_page(
        &state,
        &session,
        &user,
        String::new(),
        String::new(),
        String::new(),
    )
    .await?;
    pages::ok(&page)
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct UploadForm {
    csv: String,
    filename: String,
}

/// Reads the file and shows its preview (nothing is recorded); a file that does not read is
/// shown again with why, and nothing is kept.
async fn upload(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    form: Result<CsrfForm<UploadForm>, AppError>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let UploadForm { csv, filename } = match form {
        Ok(f) => f.0,
        // Text that is not UTF-8, or holds hidden characters, is refused by the form
        // itself: the file is refused whole, with why.
        Err(AppError::Validation(e)) => {
            let why = e
                .iter()
                .map(|f| {
                    let what = if f.field == "filename" {
                        "The file name"
                    } else {
                        "The file"
                    };
                    if f.message.starts_with("contains") {
                        format!("{what} {}.", f.message)
                    } else {
                        f.message.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            let page = list_page(
                &state,
                &session,
                &user,
                String::new(),
                String::new(),
                format!("{why} Nothing was imported."),
            )
            .await?;
            return pages::invalid(&page);
        }
        Err(e) => return Err(e),
    };
    let (now, uid) = (state.now(), user.0.id);
    let (text, name) = (csv.clone(), filename.clone());
    let outcome = state
        .db(move |conn| svc::preview(conn, now, uid, &name, text.as_bytes()))
        .await?;
    match outcome {
        Ok(p) => {
            let mut message = if p.earlier {
                "This file was uploaded before: here is its import, and nothing changed.".to_owned()
            } else {
                format!(
                    "Statement read: {}. Check each row, then confirm: nothing is recorded until you do.",
                    pages::count(p.rows, "row", "rows")
                )
            };
            if !p.ignored_columns.is_empty() {
                message.push_str(&format!(
                    " Columns not read: {}.",
                    p.ignored_columns.join(", ")
                ));
            }
            session::flash(
                &session,
                if p.earlier { "info" } else { "success" },
                message,
            );
            Ok(pages::redirect(&format!(
                "/finance/billing/statements/{}",
                p.import_id
            )))
        }
        Err(why) => {
            let page = list_page(
                &state,
                &session,
                &user,
                csv,
                filename,
                format!("{why} Nothing was imported."),
            )
            .await?;
            pages::invalid(&page)
        }
    }
}

// ---------- one import ----------

struct RowOut {
    id: i64,
    line: i32,
    date: String,
    payer: String,
    reference: String,
    amount: String,
    state: &'static str,
    badge: &'static str,
    /// Whether finance decides this row at confirmation, and how.
    matched: bool,
    by_hand: bool,
    invoice: String,
    merchant: String,
    open: String,
    problem: String,
    note: String,
    /// What was chosen (kept when the confirmation is shown again with an error).
    skip: bool,
    chosen_merchant: String,
    chosen_invoice: String,
    error: String,
    payment: String,
}

#[derive(Template)]
#[template(path = "finance/statement.html")]
struct ImportPage {
    ctx: PageCtx,
    id: i64,
    filename: String,
    uploaded: String,
    applied: String,
    counts: String,
    ignored: String,
    can_act: bool,
    open_rows: bool,
    error: String,
    rows: Vec<RowOut>,
    merchants: Vec<(String, String)>,
}

fn import_out(
    v: ImportView,
    ctx: PageCtx,
    tz: chrono_tz::Tz,
    can_act: bool,
    chosen: &HashMap<String, String>,
    errors: &FieldErrors,
    error: String,
) -> ImportPage {
    let applied_at = v.import.applied_at;
    let get = |k: String| chosen.get(&k).cloned().unwrap_or_default();
    let rows: Vec<RowOut> = v
        .rows
        .into_iter()
        .map(|r| {
            let id = r.row.id;
            let amount = r.amount();
            let (invoice, merchant, open) = r.invoice.as_ref().map_or_else(
                || (String::new(), String::new(), String::new()),
                |i| (i.number.clone(), i.merchant.clone(), i.open.clone()),
            );
            let payment = r.payment.as_ref().map_or_else(String::new, |p| {
                let who = v
                    .merchants
                    .iter()
                    .find(|m| m.0 == p.merchant_id)
                    .map(|m| m.1.clone())
                    .unwrap_or_default();
                format!("Payment #{} from {who}, value date {}", p.id, p.value_date)
            });
            RowOut {
                id,
                line: r.row.row_no,
                date: r.row.value_date.clone(),
                payer: r.row.payer.clone(),
                reference: r.row.reference.clone(),
                amount,
                state: r.state.label(),
                badge: r.state.badge(),
                matched: r.state == RowState::Matched,
                by_hand: r.state == RowState::ByHand,
                invoice,
                merchant,
                open,
                problem: r.row.problem.clone().unwrap_or_default(),
                note: r.note.clone().unwrap_or_default(),
                skip: get(format!("d-{id}")) == "skip",
                chosen_merchant: get(format!("m-{id}")),
                chosen_invoice: get(format!("i-{id}")),
                error: errors
                    .get(&svc::row_field(id))
                    .map(str::to_owned)
                    .unwrap_or_default(),
                payment,
            }
        })
        .collect();
    let open_rows = applied_at.is_none() && rows.iter().any(|r| r.matched || r.by_hand);
    ImportPage {
        ctx,
        id: v.import.id,
        filename: v.import.filename.clone(),
        uploaded: format!(
            "Uploaded {} by {}",
            fmt_datetime(v.import.uploaded_at, tz),
            v.uploaded_by
        ),
        applied: applied_at.map_or_else(String::new, |at| {
            format!(
                "Applied on {} by {}; nothing changes if the file is uploaded or confirmed again.",
                fmt_datetime(at, tz),
                v.applied_by.clone().unwrap_or_default()
            )
        }),
        counts: svc::counts_line(&v.counts, applied_at.is_some()),
        ignored: v.ignored_columns.join(", "),
        can_act: can_act && applied_at.is_none(),
        open_rows,
        error,
        rows,
        merchants: v
            .merchants
            .into_iter()
            .map(|(id, name, currency)| (id.to_string(), format!("{name} ({currency})")))
            .collect(),
    }
}

async fn import_view(
    state: &AppState,
    session: &Session,
    user: &FinanceUser,
    id: i64,
    chosen: &HashMap<String, String>,
    errors: &FieldErrors,
    error: String,
) -> AppResult<ImportPage> {
    let tz = user.0.time_zone;
    let today = rules::local_date(state.now(), tz);
    let v = state.db(move |conn| svc::view(conn, id, today)).await?;
    let ctx = PageCtx::new(
        session,
        Some(&user.0),
        format!("Bank statement #{id}"),
        "billing",
    );
    Ok(import_out(
        v,
        ctx,
        tz,
        acting_finance(state, user).is_ok(),
        chosen,
        errors,
        error,
    ))
}

#[get("/finance/billing/statements/{id}")]
async fn import_page(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
) -> AppResult<HttpResponse> {
    let page = import_view(
        &state,
        &session,
        &user,
        path.into_inner(),
        &HashMap::new(),
        &FieldErrors::new(),
        String::new(),
    )
    .await?;
    pages::ok(&page)
}

/// The decisions a confirmation form sends: `d-<row>` (`matched` or `skip`) for a matched
/// row, `m-<row>` (a merchant id, empty to skip) and `i-<row>` (an invoice number) for a row
/// matched by hand.
fn decisions_of(form: &HashMap<String, String>) -> HashMap<i64, Decision> {
    let mut ids: Vec<i64> = form
        .keys()
        .filter_map(|k| {
            let (prefix, id) = k.split_once('-')?;
            matches!(prefix, "d" | "m" | "i")
                .then(|| id.parse::<i64>().ok())
                .flatten()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = HashMap::new();
    for id in ids {
        let field = |p: &str| form.get(&format!("{p}-{id}")).map(|v| v.trim().to_owned());
        let decision = match field("d").as_deref() {
            Some("skip") => Decision::Skip,
            Some("matched") => Decision::Matched,
            _ => Decision::ByHand {
                merchant_id: field("m").unwrap_or_default(),
                invoice: field("i").unwrap_or_default(),
            },
        };
        out.insert(id, decision);
    }
    out
}

/// Finance confirms: every row recorded as decided, or skipped, in one transaction.
async fn apply(
    state: web::Data<AppState>,
    session: Session,
    user: FinanceUser,
    path: web::Path<i64>,
    form: CsrfForm<HashMap<String, String>>,
) -> AppResult<HttpResponse> {
    acting_finance(&state, &user)?;
    let id = path.into_inner();
    let chosen = form.0;
    let decisions = decisions_of(&chosen);
    let (now, base, uid) = (state.now(), state.base_url.clone(), user.0.id);
    let outcome = state
        .db(move |conn| svc::apply(conn, now, &base, uid, id, &decisions))
        .await;
    let (errors, error, status) = match outcome {
        Ok(Ok(applied)) => {
            state.wake_mailer();
            session::flash(
                &session,
                "success",
                format!(
                    "Statement applied: {}. The merchants are told by email.",
                    applied.summary()
                ),
            );
            return Ok(pages::redirect(&format!(
                "/finance/billing/statements/{id}"
            )));
        }
        Ok(Err(errors)) => (
            errors,
            "Nothing was recorded: check the rows marked below.".to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(AppError::Conflict(msg)) => (FieldErrors::new(), msg, StatusCode::CONFLICT),
        Err(e) => return Err(e),
    };
    let page = import_view(&state, &session, &user, id, &chosen, &errors, error).await?;
    pages::render(&page, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_read_from_the_form() {
        let form: HashMap<String, String> = [
            ("csrf_token", "x"),
            ("d-1", "matched"),
            ("d-2", "skip"),
            ("m-3", "7"),
            ("i-3", " INV-2026-000001 "),
            ("m-4", ""),
            ("i-4", ""),
            ("x-5", "1"),
            ("d-abc", "skip"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let d = decisions_of(&form);
        assert_eq!(d.len(), 4);
        assert_eq!(d[&1], Decision::Matched);
        assert_eq!(d[&2], Decision::Skip);
        assert_eq!(
            d[&3],
            Decision::ByHand {
                merchant_id: "7".into(),
                invoice: "INV-2026-000001".into()
            }
        );
        assert_eq!(
            d[&4],
            Decision::ByHand {
                merchant_id: String::new(),
                invoice: String::new()
            }
        );
    }
}
