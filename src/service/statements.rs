//! Bank statement import (issue #28, finance): a CSV of incoming transfers is read and kept
//! as an import with its rows; rows whose reference names an invoice are matched to it, the
//! rest are matched by hand or skipped; nothing is recorded until finance confirms, and then
//! every chosen row is recorded as a payment in one transaction. The same file uploaded
//! again is the same import, and an import is applied once.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::Connection;

use crate::db::billing::{Invoice, Payment, StatementImport, StatementRow};
use crate::db::statements::RowCounts;
use crate::db::{self, DbConn};
use crate::domain::bank_statement::{self, Row};
use crate::domain::billing as rules;
use crate::domain::money::{display_in, plain_in};
use crate::domain::validate::{FieldErrors, hidden_char};
use crate::domain::words::count;
use crate::error::{AppError, AppResult};

use super::audit;
use super::billing::{PaymentForm, record_payment_in, standing, validate_payment};

/// What an upload gave: the import (a new one, or the earlier import of the same file) and
/// the columns of the file that are not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previewed {
    pub import_id: i64,
    /// The same file was uploaded before: this is that import, and nothing changed.
    pub earlier: bool,
    pub ignored_columns: Vec<String>,
    pub rows: usize,
}

/// What a statement row's reference says of the invoice it pays.
#[derive(Debug, Clone)]
pub struct Matched {
    pub invoice: Option<Invoice>,
    /// Why the row is not matched, when its reference names an invoice number.
    pub note: Option<String>,
}

/// Matches a reference to the one invoice (not a credit note) of the currency it names.
pub fn match_reference(conn: &mut DbConn, currency: &str, reference: &str) -> AppResult<Matched> {
    let numbers = rules::invoice_numbers_in(reference);
    let mut found = Vec::new();
    let mut notes = Vec::new();
    for n in &numbers {
        match db::billing::invoice_by_number(conn, n)? {
            None => notes.push(format!("{n} is not one of our invoices.")),
            Some(inv) if inv.is_credit_note() => notes.push(format!("{n} is a credit note.")),
            Some(inv) if inv.currency != currency => notes.push(format!(
                "{n} is in {}, this transfer in {currency}.",
                inv.currency
            )),
            Some(inv) => found.push(inv),
        }
    }
    if numbers.len() > 1 {
        return Ok(Matched {
            invoice: None,
            note: Some(format!(
                "The reference names {} invoices ({}): choose the merchant by hand.",
                numbers.len(),
                numbers.join(", ")
            )),
        });
    }
    Ok(Matched {
        invoice: found.pop(),
        note: (!notes.is_empty()).then(|| notes.join(" ")),
    })
}

/// A file name fit to show: its last part, one line, visible characters, at most 120.
fn clean_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let kept: String = last
        .chars()
        .filter(|c| !c.is_control() && hidden_char(&c.to_string()).is_none())
        .take(120)
        .collect();
    let kept = kept.trim();
    if kept.is_empty() {
        "pasted statement".to_owned()
    } else {
        kept.to_owned()
    }
}

enum PreviewError {
    /// Another upload of the same file committed first.
    Taken,
    App(AppError),
}

impl From<diesel::result::Error> for PreviewError {
    fn from(e: diesel::result::Error) -> Self {
        PreviewError::App(e.into())
    }
}

impl From<AppError> for PreviewError {
    fn from(e: AppError) -> Self {
        PreviewError::App(e)
    }
}

/// Reads a statement file and keeps it as an import with its rows, matched where their
/// reference names an invoice (nothing is recorded). A file that does not read is refused
/// whole: `Ok(Err(why))`. The same file again answers its earlier import.
#[tracing::instrument(skip(conn, bytes), fields(bytes = bytes.len()))]
pub fn preview(
    conn: &mut DbConn,
    now: NaiveDateTime,
    actor: i64,
    filename: &str,
    bytes: &[u8],
) -> AppResult<Result<Previewed, String>> {
    let statement = match bank_statement::parse(bytes) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let filename = clean_filename(filename);
    let earlier = |conn: &mut DbConn| -> AppResult<Option<Previewed>> {
        Ok(
            db::billing::import_by_hash(conn, &statement.sha256)?.map(|i| Previewed {
                import_id: i.id,
                earlier: true,
                ignored_columns: statement.ignored_columns.clone(),
                rows: statement.rows.len(),
            }),
        )
    };
    let outcome = db::write_tx(conn, |conn| -> Result<Previewed, PreviewError> {
        if let Some(p) = earlier(conn)? {
            return Ok(p);
        }
        let id = match db::billing::insert_import(conn, &statement.sha256, &filename, actor, now) {
            Ok(id) => id,
            Err(e) if db::is_unique_violation(&e) => return Err(PreviewError::Taken),
            Err(e) => return Err(e.into()),
        };
        let mut matched = 0usize;
        for row in &statement.rows {
            let m = if row.is_recordable() {
                match_reference(conn, &row.currency_text, &row.reference)?
            } else {
                Matched {
                    invoice: None,
                    note: None,
                }
            };
            matched += usize::from(m.invoice.is_some());
            insert_row(conn, id, row, m.invoice.as_ref().map(|i| i.id))?;
        }
        // A transfer recorded before (by hand, or by another statement) is not recorded
        // again: the merchant's bank reference is taken.
        let mut already = 0usize;
        for row in db::billing::statement_rows_of(conn, id)? {
            let Some(inv) = row.matched_invoice_id else {
                continue;
            };
            let Some(inv) = db::billing::invoice(conn, inv)? else {
                continue;
            };
            if let Some(p) =
                db::billing::payment_by_reference(conn, inv.merchant_id, &row.reference)?
            {
                db::billing::set_row_outcome(conn, row.id, "already_recorded", Some(p.id))?;
                already += 1;
            }
        }
        let mut detail = format!(
            "Statement “{filename}” uploaded: {}, {matched} matched to an invoice, {already} recorded before",
            count(statement.rows.len(), "row", "rows")
        );
        if !statement.ignored_columns.is_empty() {
            detail.push_str(&format!(
                "; columns not read: {}",
                statement.ignored_columns.join(", ")
            ));
        }
        audit(
            conn,
            now,
            Some(actor),
            "statement.uploaded",
            ("statement_import", id),
            &detail,
        )?;
        Ok(Previewed {
            import_id: id,
            earlier: false,
            ignored_columns: statement.ignored_columns.clone(),
            rows: statement.rows.len(),
        })
    });
    match outcome {
        Ok(p) => Ok(Ok(p)),
        Err(PreviewError::Taken) => earlier(conn)?.map(Ok).ok_or_else(|| {
            AppError::Conflict(
                "The file was uploaded at the same time: open the statements list.".to_owned(),
            )
        }),
        Err(PreviewError::App(e)) => Err(e),
    }
}

fn insert_row(
    conn: &mut DbConn,
    import_id: i64,
    row: &Row,
    matched_invoice_id: Option<i64>,
) -> AppResult<()> {
    db::billing::insert_statement_row(
        conn,
        &db::billing::NewStatementRow {
            import_id,
            row_no: i32::try_from(row.line).unwrap_or(i32::MAX),
            value_date: &row.date_text,
            amount_text: &row.amount_text,
            amount_minor: row.amount.map(|m| m.minor()),
            currency: &row.currency_text,
            reference: &row.reference,
            payer: &row.payer,
            problem: row.problem.as_deref(),
            matched_invoice_id,
        },
    )?;
    Ok(())
}

/// What finance decides for a row at confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Record it against the invoice its reference named (the default for matched rows).
    Matched,
    /// Record it for the merchant chosen (its id as the form sends it), against the invoice
    /// number given if any; with no merchant, the invoice's merchant.
    ByHand {
        merchant_id: String,
        invoice: String,
    },
    /// Do not record it (the default for rows not matched).
    Skip,
}

/// What a confirmation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub recorded: usize,
    /// What the recorded rows total, per currency.
    pub recorded_minor: BTreeMap<String, i64>,
    pub skipped: usize,
    pub already_recorded: usize,
}

impl Applied {
    pub fn summary(&self) -> String {
        let mut s = format!("{} recorded", count(self.recorded, "payment", "payments"));
        if !self.recorded_minor.is_empty() {
            let totals: Vec<String> = self
                .recorded_minor
                .iter()
                .map(|(c, m)| display_in(*m, c))
                .collect();
            s.push_str(&format!(" ({})", totals.join(", ")));
        }
        s.push_str(&format!(", {} skipped", self.skipped));
        if self.already_recorded > 0 {
            s.push_str(&format!(", {} recorded before", self.already_recorded));
        }
        s
    }
}

/// The field (in `FieldErrors`) of a row's decision.
pub fn row_field(row_id: i64) -> String {
    format!("row-{row_id}")
}

enum Plan {
    Record(Box<super::billing::ValidPayment>),
    Skip,
    Leave,
}

/// Finance confirms an import: each row recorded as decided (a `merchant_payment` with the
/// row's reference, payer and value date, applied to its invoice then the oldest open ones)
/// or skipped, all in one transaction; a row whose reference the merchant's payments already
/// hold is marked recorded before. A decision that does not validate changes nothing and
/// says which row (`Ok(Err(errors))`, keyed by [`row_field`]). A second confirmation is a
/// conflict, and changes nothing.
#[tracing::instrument(skip(conn, base_url, decisions))]
pub fn apply(
    conn: &mut DbConn,
    now: NaiveDateTime,
    base_url: &str,
    actor: i64,
    import_id: i64,
    decisions: &HashMap<i64, Decision>,
) -> AppResult<Result<Applied, FieldErrors>> {
    db::write_tx(conn, |conn| {
        let import = db::billing::statement_import(conn, import_id)?.ok_or(AppError::NotFound)?;
        if let Some(at) = import.applied_at {
            return Err(applied_already(at));
        }
        let rows = db::billing::statement_rows_of(conn, import_id)?;
        let today = now.date();
        let mut errors = FieldErrors::new();
        let mut plans = Vec::with_capacity(rows.len());
        for row in &rows {
            let plan = plan_row(conn, row, decisions.get(&row.id), today)?;
            match plan {
                Ok(p) => plans.push(p),
                Err(message) => errors.add(
                    &row_field(row.id),
                    format!("Line {}: {message}", row.row_no),
                ),
            }
        }
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        if !db::billing::mark_applied(conn, import_id, actor, now)? {
            return Err(AppError::Conflict(
                "This statement was applied already: nothing changed.".to_owned(),
            ));
        }
        let mut applied = Applied::default();
        for (row, plan) in rows.iter().zip(plans) {
            match plan {
                Plan::Leave => {
                    applied.already_recorded +=
                        usize::from(row.outcome.as_deref() == Some("already_recorded"));
                }
                Plan::Skip => {
                    db::billing::set_row_outcome(conn, row.id, "skipped", None)?;
                    applied.skipped += 1;
                }
                Plan::Record(valid) => {
                    // Each payment in a savepoint: one recorded before (by hand, or by a
                    // concurrent import) marks its row and the rest go on.
                    let recorded = conn.transaction(|conn| {
                        record_payment_in(conn, now, base_url, actor, &valid, Some(row.id))
                    });
                    match recorded {
                        Ok(payment_id) => {
                            db::billing::set_row_outcome(
                                conn,
                                row.id,
                                "recorded",
                                Some(payment_id),
                            )?;
                            applied.recorded += 1;
                            *applied
                                .recorded_minor
                                .entry(valid.currency.code().to_owned())
                                .or_default() += valid.amount.minor();
                        }
                        Err(AppError::Conflict(_)) => {
                            let earlier = db::billing::payment_by_reference(
                                conn,
                                valid.merchant_id,
                                &valid.bank_reference,
                            )?;
                            db::billing::set_row_outcome(
                                conn,
                                row.id,
                                "already_recorded",
                                earlier.map(|p| p.id),
                            )?;
                            applied.already_recorded += 1;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        audit(
            conn,
            now,
            Some(actor),
            "statement.applied",
            ("statement_import", import_id),
            &format!(
                "Statement “{}” applied: {} rows, {}",
                import.filename,
                rows.len(),
                applied.summary()
            ),
        )?;
        Ok(Ok(applied))
    })
}

fn applied_already(at: NaiveDateTime) -> AppError {
    AppError::Conflict(format!(
        "This statement was applied on {} UTC already: nothing changed.",
        at.format("%Y-%m-%d %H:%M")
    ))
}

/// What to do with one row, or why the decision cannot be taken.
fn plan_row(
    conn: &mut DbConn,
    row: &StatementRow,
    decision: Option<&Decision>,
    today: NaiveDate,
) -> AppResult<Result<Plan, String>> {
    if row.outcome.is_some() {
        return Ok(Ok(Plan::Leave));
    }
    let default = if row.matched_invoice_id.is_some() {
        Decision::Matched
    } else {
        Decision::Skip
    };
    let decision = decision.unwrap_or(&default);
    if *decision == Decision::Skip {
        return Ok(Ok(Plan::Skip));
    }
    if row.problem.is_some() || row.amount_minor.is_none() {
        return Ok(Err(
            "this row has a problem and cannot be recorded: skip it, or record the transfer by hand."
                .to_owned(),
        ));
    }
    let (merchant_id, invoice) = match decision {
        Decision::Matched => {
            let Some(inv) = row
                .matched_invoice_id
                .map(|id| db::billing::invoice(conn, id))
                .transpose()?
                .flatten()
            else {
                return Ok(Err(
                    "no invoice was matched: choose the merchant who paid, or skip it.".to_owned(),
                ));
            };
            (inv.merchant_id.to_string(), inv.number)
        }
        Decision::ByHand {
            merchant_id,
            invoice,
        } => {
            let (merchant_id, invoice) = (merchant_id.trim(), invoice.trim());
            if merchant_id.is_empty() && invoice.is_empty() {
                return Ok(Ok(Plan::Skip));
            }
            if merchant_id.is_empty() {
                let found = match rules::parse_number(invoice) {
                    Some((p, y, s)) => {
                        db::billing::invoice_by_number(conn, &rules::number(p, y, s))?
                    }
                    None => None,
                };
                match found {
                    Some(inv) => (inv.merchant_id.to_string(), invoice.to_owned()),
                    None => {
                        return Ok(Err(format!(
                            "no invoice {invoice}: choose the merchant who paid, and the invoice's number as INV-2026-000123 if it has one."
                        )));
                    }
                }
            } else {
                (merchant_id.to_owned(), invoice.to_owned())
            }
        }
        Decision::Skip => return Ok(Ok(Plan::Skip)),
    };
    let form = PaymentForm {
        merchant_id,
        currency: row.currency.clone(),
        amount: plain_in(row.amount_minor.unwrap_or(0), &row.currency),
        value_date: row.value_date.clone(),
        bank_reference: row.reference.clone(),
        payer: row.payer.clone(),
        invoice,
    };
    Ok(match validate_payment(conn, &form, today)? {
        Ok(valid) => Ok(Plan::Record(Box::new(valid))),
        Err(e) => Err(e
            .iter()
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
            .join(" ")),
    })
}

// ---------- what the pages read ----------

/// Where a row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    Matched,
    ByHand,
    Problem,
    AlreadyRecorded,
    Recorded,
    Skipped,
}

impl RowState {
    pub fn of(row: &StatementRow) -> RowState {
        match row.outcome.as_deref() {
            Some("recorded") => RowState::Recorded,
            Some("skipped") => RowState::Skipped,
            Some(_) => RowState::AlreadyRecorded,
            None if row.problem.is_some() => RowState::Problem,
            None if row.matched_invoice_id.is_some() => RowState::Matched,
            None => RowState::ByHand,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            RowState::Matched => "Matched",
            RowState::ByHand => "To match by hand",
            RowState::Problem => "Problem",
            RowState::AlreadyRecorded => "Recorded before",
            RowState::Recorded => "Recorded",
            RowState::Skipped => "Skipped",
        }
    }

    pub fn badge(&self) -> &'static str {
        match self {
            RowState::Matched | RowState::Recorded => "badge-ok",
            RowState::ByHand => "badge-info",
            RowState::Problem => "badge-danger",
            RowState::AlreadyRecorded | RowState::Skipped => "",
        }
    }
}

/// A matched invoice as the preview shows it.
#[derive(Debug, Clone)]
pub struct InvoiceView {
    pub number: String,
    pub merchant_id: i64,
    pub merchant: String,
    /// Still to pay on it, today.
    pub open: String,
}

#[derive(Debug, Clone)]
pub struct RowView {
    pub row: StatementRow,
    pub state: RowState,
    pub invoice: Option<InvoiceView>,
    /// Why a row naming an invoice number is not matched.
    pub note: Option<String>,
    pub payment: Option<Payment>,
}

impl RowView {
    pub fn amount(&self) -> String {
        match self.row.amount_minor {
            Some(m) => display_in(m, &self.row.currency),
            None => format!("{} {}", self.row.amount_text, self.row.currency),
        }
    }
}

/// An import as its page shows it.
#[derive(Debug, Clone)]
pub struct ImportView {
    pub import: StatementImport,
    pub uploaded_by: String,
    pub applied_by: Option<String>,
    pub rows: Vec<RowView>,
    pub counts: RowCounts,
    /// The columns of the file that were not read (from its upload's audit event).
    pub ignored_columns: Vec<String>,
    /// Every merchant (id, name, default currency), for matching by hand.
    pub merchants: Vec<(i64, String, String)>,
}

/// "3 rows: 1 matched, 1 to match by hand, 1 with a problem" (before confirmation), or what
/// confirmation did.
pub fn counts_line(c: &RowCounts, applied: bool) -> String {
    let mut parts = Vec::new();
    if applied {
        parts.push(format!("{} recorded", c.recorded));
        parts.push(format!("{} skipped", c.skipped));
    } else {
        // Rows recorded before are matched rows (see `preview`): told apart.
        let by_hand = c.rows - c.matched - c.problems;
        parts.push(format!(
            "{} matched",
            (c.matched - c.already_recorded).max(0)
        ));
        parts.push(format!("{} to match by hand", by_hand.max(0)));
        parts.push(format!("{} with a problem", c.problems));
    }
    if c.already_recorded > 0 {
        parts.push(format!("{} recorded before", c.already_recorded));
    }
    format!("{}: {}", count(c.rows, "row", "rows"), parts.join(", "))
}

fn user_name(conn: &mut DbConn, id: Option<i64>) -> AppResult<String> {
    Ok(id
        .map(|id| db::users::find(conn, id))
        .transpose()?
        .flatten()
        .map_or_else(|| "someone".to_owned(), |u| u.display_name))
}

/// Reads an import for its page; `today` is the reader's day (for what is still open).
pub fn view(conn: &mut DbConn, import_id: i64, today: NaiveDate) -> AppResult<ImportView> {
    let import = db::billing::statement_import(conn, import_id)?.ok_or(AppError::NotFound)?;
    let rows = db::billing::statement_rows_of(conn, import_id)?;
    let counts = db::statements::row_counts(conn, &[import_id])?
        .remove(&import_id)
        .unwrap_or_default();
    let names = db::billing::merchant_names(conn)?;
    let mut standings = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let state = RowState::of(&row);
        let invoice = match row.matched_invoice_id {
            Some(id) => match db::billing::invoice(conn, id)? {
                Some(inv) => {
                    if let std::collections::hash_map::Entry::Vacant(e) =
                        standings.entry(inv.merchant_id)
                    {
                        e.insert(standing(conn, inv.merchant_id, today)?);
                    }
                    let open = standings
                        .get(&inv.merchant_id)
                        .and_then(|s| s.docs.iter().find(|d| d.invoice.id == inv.id))
                        .map(super::billing::Doc::open)
                        .unwrap_or_default();
                    Some(InvoiceView {
                        merchant: names.get(&inv.merchant_id).cloned().unwrap_or_default(),
                        merchant_id: inv.merchant_id,
                        number: inv.number,
                        open,
                    })
                }
                None => None,
            },
            None => None,
        };
        let note = if invoice.is_none() && row.problem.is_none() {
            match_reference(conn, &row.currency, &row.reference)?.note
        } else {
            None
        };
        let payment = row
            .payment_id
            .map(|id| db::billing::payment(conn, id))
            .transpose()?
            .flatten();
        out.push(RowView {
            row,
            state,
            invoice,
            note,
            payment,
        });
    }
    let ignored_columns = db::audit::for_subject(conn, "statement_import", import_id)?
        .into_iter()
        .find(|e| e.action == "statement.uploaded")
        .and_then(|e| {
            e.detail
                .split_once("; columns not read: ")
                .map(|(_, cols)| cols.split(", ").map(str::to_owned).collect())
        })
        .unwrap_or_default();
    let merchants = db::merchants::all(conn)?
        .into_iter()
        .map(|m| (m.id, m.name, m.default_currency))
        .collect();
    Ok(ImportView {
        uploaded_by: user_name(conn, import.uploaded_by)?,
        applied_by: match import.applied_by {
            Some(id) => Some(user_name(conn, Some(id))?),
            None => None,
        },
        import,
        rows: out,
        counts,
        ignored_columns,
        merchants,
    })
}

/// An import in the list of the last ones.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    pub import: StatementImport,
    pub uploaded_by: String,
    pub applied_by: Option<String>,
    pub counts: RowCounts,
}

/// The last imports, newest first.
pub fn recent(conn: &mut DbConn) -> AppResult<Vec<ImportSummary>> {
    let imports = db::billing::imports(conn)?;
    let ids: Vec<i64> = imports.iter().map(|i| i.id).collect();
    let mut counts = db::statements::row_counts(conn, &ids)?;
    let mut out = Vec::with_capacity(imports.len());
    for import in imports {
        out.push(ImportSummary {
            uploaded_by: user_name(conn, import.uploaded_by)?,
            applied_by: match import.applied_by {
                Some(id) => Some(user_name(conn, Some(id))?),
                None => None,
            },
            counts: counts.remove(&import.id).unwrap_or_default(),
            import,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_kept_short_and_visible() {
        assert_eq!(clean_filename("C:\\Users\\fin\\dec.csv"), "dec.csv");
        assert_eq!(clean_filename("/tmp/a/b.csv"), "b.csv");
        assert_eq!(clean_filename("  "), "pasted statement");
        assert_eq!(clean_filename("x\u{202E}vsc.exe"), "xvsc.exe");
        assert_eq!(clean_filename(&"a".repeat(300)).len(), 120);
    }

    #[test]
    fn counts_read_as_people_say_them() {
        let c = RowCounts {
            rows: 3,
            matched: 1,
            problems: 1,
            ..RowCounts::default()
        };
        assert_eq!(
            counts_line(&c, false),
            "3 rows: 1 matched, 1 to match by hand, 1 with a problem"
        );
        let done = RowCounts {
            rows: 3,
            matched: 1,
            problems: 1,
            recorded: 2,
            skipped: 1,
            already_recorded: 0,
        };
        assert_eq!(counts_line(&done, true), "3 rows: 2 recorded, 1 skipped");
    }
}
