//! Bank statement imports, read for their lists: how many rows each import has and where
//! they stand. (The imports and rows themselves are written by `db::billing`.)

use std::collections::HashMap;

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::DbConn;
use super::schema::statement_rows;

/// How an import's rows stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowCounts {
    pub rows: i64,
    /// Matched to an invoice, without a problem.
    pub matched: i64,
    pub problems: i64,
    pub recorded: i64,
    pub skipped: i64,
    pub already_recorded: i64,
}

/// The counts of each import's rows: import id → counts.
pub fn row_counts(conn: &mut DbConn, import_ids: &[i64]) -> QueryResult<HashMap<i64, RowCounts>> {
    let when = |cond: &str| {
        format!("CAST(COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0) AS BIGINT)")
    };
    let mut out = HashMap::new();
    for chunk in import_ids.chunks(500) {
        let rows: Vec<(i64, i64, i64, i64, i64, i64, i64)> = statement_rows::table
            .filter(statement_rows::import_id.eq_any(chunk))
            .group_by(statement_rows::import_id)
            .select((
                statement_rows::import_id,
                sql::<BigInt>("CAST(COUNT(*) AS BIGINT)"),
                sql::<BigInt>(&when(
                    "statement_rows.matched_invoice_id IS NOT NULL AND statement_rows.problem IS NULL",
                )),
                sql::<BigInt>(&when("statement_rows.problem IS NOT NULL")),
                sql::<BigInt>(&when("statement_rows.outcome = 'recorded'")),
                sql::<BigInt>(&when("statement_rows.outcome = 'skipped'")),
                sql::<BigInt>(&when("statement_rows.outcome = 'already_recorded'")),
            ))
            .load(conn)?;
        out.extend(rows.into_iter().map(
            |(id, rows, matched, problems, recorded, skipped, already_recorded)| {
                (
                    id,
                    RowCounts {
                        rows,
                        matched,
                        problems,
                        recorded,
                        skipped,
                        already_recorded,
                    },
                )
            },
        ));
    }
    Ok(out)
}
