//! The merchant portal's CSV import of orders and refunds: a preview that says, line by line,
//! what would happen (new, already imported, or why not), then the import itself through the
//! same services as postbacks. Importing a file again changes nothing.

use chrono::NaiveDateTime;

use crate::db::{self, DbConn};
use crate::domain::money::{Currency, Money, display_minor};
use crate::domain::order_csv::{self, RowError};
use crate::domain::validate::FieldErrors;
use crate::error::{AppError, AppResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Orders,
    Refunds,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "orders" => Some(Kind::Orders),
            "refunds" => Some(Kind::Refunds),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PreviewLine {
    pub line: usize,
    pub id: String,
    /// `new`, `unchanged` or `error`.
    pub status: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub new: usize,
    pub unchanged: usize,
    pub invalid: usize,
}

fn file_error(message: String) -> AppError {
    let mut e = FieldErrors::new();
    e.add("csv", message);
    AppError::Validation(e)
}

fn errors_text(errs: &[RowError]) -> String {
    errs.iter()
        .map(|e| format!("line {}, {}: {}", e.line, e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What importing the file would do.
pub fn preview(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    kind: Kind,
    text: &str,
) -> AppResult<(Vec<PreviewLine>, Summary)> {
    let (merchant, _) = super::merchant::org_of(conn, user_id)?;
    let mut lines = Vec::new();
    let mut summary = Summary::default();
    match kind {
        Kind::Orders => {
            for o in order_csv::parse_orders(text, now).map_err(file_error)? {
                let line = match &o.result {
                    Err(errs) => {
                        summary.invalid += 1;
                        PreviewLine {
                            line: o.first_line,
                            id: o.order_id.clone(),
                            status: "error",
                            detail: errors_text(errs),
                        }
                    }
                    Ok(input) => {
                        match super::orders::known_order(conn, merchant.id, "csv", input)? {
                            Some((existing, Ok(()))) => {
                                summary.unchanged += 1;
                                PreviewLine {
                                    line: o.first_line,
                                    id: o.order_id.clone(),
                                    status: "unchanged",
                                    detail: if existing.source == "csv" {
                                        "Already recorded with the same content.".to_owned()
                                    } else {
                                        format!(
                                            "Already recorded as order {} from {}, with the same amount.",
                                            existing.order_id,
                                            super::orders::channel_name(&existing.source)
                                        )
                                    },
                                }
                            }
                            Some((_, Err(why))) => {
                                summary.invalid += 1;
                                PreviewLine {
                                    line: o.first_line,
                                    id: o.order_id.clone(),
                                    status: "error",
                                    detail: why,
                                }
                            }
                            None => {
                                summary.new += 1;
                                let (signal, note, commission) =
                                    super::orders::dry_run(conn, merchant.id, input)?;
                                let base = input.base_minor().unwrap_or(0);
                                PreviewLine {
                                    line: o.first_line,
                                    id: o.order_id.clone(),
                                    status: "new",
                                    detail: format!(
                                        "{}, {}. {}{}",
                                        crate::domain::words::count(
                                            input.items.len(),
                                            "line",
                                            "lines"
                                        ),
                                        display_minor(base, input.currency),
                                        if signal == "none" { "" } else { "Attributed: " },
                                        match commission {
                                            Some(c) => format!(
                                                "{note} Commission {}.",
                                                display_minor(c, input.currency)
                                            ),
                                            None => note,
                                        }
                                    ),
                                }
                            }
                        }
                    }
                };
                lines.push(line);
            }
        }
        Kind::Refunds => {
            for r in order_csv::parse_refunds(text, now).map_err(file_error)? {
                let line = match &r.result {
                    Err(errs) => {
                        summary.invalid += 1;
                        PreviewLine {
                            line: r.line,
                            id: r.refund_id.clone(),
                            status: "error",
                            detail: errors_text(errs),
                        }
                    }
                    Ok(input) => match refund_check(conn, merchant.id, input)? {
                        Ok(Some(detail)) => {
                            summary.new += 1;
                            PreviewLine {
                                line: r.line,
                                id: r.refund_id.clone(),
                                status: "new",
                                detail,
                            }
                        }
                        Ok(None) => {
                            summary.unchanged += 1;
                            PreviewLine {
                                line: r.line,
                                id: r.refund_id.clone(),
                                status: "unchanged",
                                detail: "Already recorded with the same content.".to_owned(),
                            }
                        }
                        Err(detail) => {
                            summary.invalid += 1;
                            PreviewLine {
                                line: r.line,
                                id: r.refund_id.clone(),
                                status: "error",
                                detail,
                            }
                        }
                    },
                };
                lines.push(line);
            }
        }
    }
    Ok((lines, summary))
}

/// `Ok(Some(what it does))` for a new refund, `Ok(None)` if already recorded the same way,
/// `Err(why not)` otherwise. (Several refunds of one order in one file are each checked
/// against what is recorded now; the import itself checks each in turn.)
fn refund_check(
    conn: &mut DbConn,
    merchant_id: i64,
    input: &crate::domain::order::RefundInput,
) -> AppResult<Result<Option<String>, String>> {
    if let Some(existing) = db::orders::find_refund(conn, merchant_id, &input.refund_id)? {
        return Ok(if existing.request_hash == input.fingerprint() {
            Ok(None)
        } else {
            Err("Already recorded with other content.".to_owned())
        });
    }
    let Some(conversion) = db::orders::find_conversion(conn, merchant_id, &input.order_id)? else {
        return Ok(Err(format!(
            "order_id: no order {} was recorded.",
            input.order_id
        )));
    };
    let Ok(currency) = Currency::parse(&conversion.currency) else {
        return Ok(Err("The order's currency is unknown.".to_owned()));
    };
    let amount = match Money::parse(&input.amount, currency) {
        Ok(m) if m.minor() > 0 => m,
        Ok(_) => return Ok(Err("amount: must be more than zero".to_owned())),
        Err(e) => return Ok(Err(format!("amount: {e}"))),
    };
    let refunded: i64 = db::orders::refunds_of(conn, conversion.id)?
        .iter()
        .map(|r| r.amount_minor)
        .sum();
    let left = conversion.base_minor - refunded;
    if amount.minor() > left {
        return Ok(Err(format!(
            "amount: more than what is left to refund on order {} ({})",
            conversion.order_id,
            display_minor(left, currency)
        )));
    }
    Ok(Ok(Some(format!(
        "Refund of {} on order {} (of {} left).",
        amount.display(),
        conversion.order_id,
        display_minor(left, currency)
    ))))
}

/// Imports every valid new order or refund of the file; returns what happened.
pub fn apply(
    conn: &mut DbConn,
    now: NaiveDateTime,
    user_id: i64,
    kind: Kind,
    text: &str,
    base_url: &str,
) -> AppResult<Summary> {
    let (merchant, _) = super::merchant::org_of(conn, user_id)?;
    let mut summary = Summary::default();
    match kind {
        Kind::Orders => {
            for o in order_csv::parse_orders(text, now).map_err(file_error)? {
                let Ok(input) = o.result else {
                    summary.invalid += 1;
                    continue;
                };
                match super::orders::record_conversion(
                    conn,
                    now,
                    merchant.id,
                    "csv",
                    base_url,
                    &input,
                ) {
                    Ok(r) if r.created => summary.new += 1,
                    Ok(_) => summary.unchanged += 1,
                    Err(AppError::Conflict(_) | AppError::Validation(_)) => summary.invalid += 1,
                    Err(e) => return Err(e),
                }
            }
        }
        Kind::Refunds => {
            for r in order_csv::parse_refunds(text, now).map_err(file_error)? {
                let Ok(input) = r.result else {
                    summary.invalid += 1;
                    continue;
                };
                match super::orders::record_refund(conn, now, merchant.id, "csv", &input) {
                    Ok(r) if r.created => summary.new += 1,
                    Ok(_) => summary.unchanged += 1,
                    Err(AppError::Conflict(_) | AppError::Validation(_)) => summary.invalid += 1,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(summary)
}
