//! `tandem ledger check` sees any change made behind the app's back. Each tamper of the
//! catalogue is applied to a fresh copy of the demo's books, as someone with the database
//! file (SQLite: triggers dropped) or superuser rights (PostgreSQL: triggers off for the
//! session) would, and each one must fail the check. Untampered books pass.

use chrono::TimeDelta;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use tandem::db::{self, DbConn};
use tandem::domain::ledger;
use tandem::service::orders;

use crate::helpers::test_database;

pub(crate) struct Books {
    pub(crate) conn: DbConn,
    _dir: tempfile::TempDir,
    _pg: Option<crate::helpers::PgTestDb>,
}

pub(crate) fn demo_books() -> Books {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = test_database(dir.path());
    let mut conn = db::establish(&url).unwrap();
    db::run_migrations(&mut conn).unwrap();
    let now = chrono::Utc::now().naive_utc();
    tandem::service::demo::load(&mut conn, now, "http://localhost").unwrap();
    Books {
        conn,
        _dir: dir,
        _pg: pg,
    }
}

/// Runs `sql` with the database's guards off, as an attacker with the file would.
pub(crate) fn behind_the_back(conn: &mut DbConn, sql: &str) {
    let off = match conn {
        DbConn::Pg(_) => "SET session_replication_role = replica;".to_owned(),
        DbConn::Sqlite(c) => {
            #[derive(QueryableByName)]
            struct Name {
                #[diesel(sql_type = diesel::sql_types::Text)]
                name: String,
            }
            let names: Vec<Name> =
                diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                    .load(c)
                    .unwrap();
            names
                .iter()
                .map(|n| format!("DROP TRIGGER \"{}\";", n.name))
                .collect()
        }
    };
    conn.batch_execute(&format!("{off}{sql}"))
        .unwrap_or_else(|e| panic!("tamper {sql}: {e}"));
}

/// A commission of the demo in `state`, and its influencer.
fn commission_in(conn: &mut DbConn, state: &str) -> (i64, i64) {
    use tandem::db::schema::commissions as c;
    c::table
        .filter(c::state.eq(state))
        .order(c::id.asc())
        .select((c::id, c::influencer_id))
        .first(conn)
        .unwrap_or_else(|_| panic!("the demo has a {state} commission"))
}

#[test]
fn every_tamper_of_the_catalogue_fails_the_check() {
    let mut clean = demo_books();
    let report = orders::check_ledger(&mut clean.conn).unwrap();
    assert!(report.breaks.is_empty(), "{:?}", report.breaks);
    assert!(
        report
            .verified
            .iter()
            .any(|(w, n)| *w == "commissions" && *n > 0)
    );
    drop(clean);

    type Tamper = (&'static str, fn(&mut DbConn));
    let catalogue: Vec<Tamper> = vec![
        ("commission in payout set to rejected", |conn| {
            let (id, _) = commission_in(conn, "in_payout");
            behind_the_back(
                conn,
                &format!("UPDATE commissions SET state = 'rejected' WHERE id = {id}"),
            );
        }),
        ("commission in payout set to paid", |conn| {
            let (id, _) = commission_in(conn, "in_payout");
            behind_the_back(
                conn,
                &format!("UPDATE commissions SET state = 'paid' WHERE id = {id}"),
            );
        }),
        ("commission in payout back to pending", |conn| {
            let (id, _) = commission_in(conn, "in_payout");
            behind_the_back(
                conn,
                &format!("UPDATE commissions SET state = 'pending' WHERE id = {id}"),
            );
        }),
        (
            "+50.00 on one commission, -50.00 on another of the same influencer",
            |conn| {
                use tandem::db::schema::commissions as c;
                let (a, influencer) = commission_in(conn, "in_payout");
                let b: i64 = c::table
                    .filter(c::influencer_id.eq(influencer))
                    .filter(c::id.ne(a))
                    .filter(c::amount_minor.gt(5000))
                    .select(c::id)
                    .first(conn)
                    .unwrap();
                behind_the_back(
                    conn,
                    &format!(
                        "UPDATE commissions SET amount_minor = amount_minor + 5000 WHERE id = {a};
                     UPDATE commissions SET amount_minor = amount_minor - 5000 WHERE id = {b};"
                    ),
                );
            },
        ),
        ("a commission's fee changed", |conn| {
            let (id, _) = commission_in(conn, "pending");
            behind_the_back(
                conn,
                &format!(
                    "UPDATE commissions SET fee_minor = CASE WHEN fee_minor > 0 THEN 0 ELSE 100 END WHERE id = {id}"
                ),
            );
        }),
        ("an account's currency changed", |conn| {
            behind_the_back(
                conn,
                "UPDATE ledger_accounts SET currency = 'ZZZ' WHERE id = (SELECT min(id) FROM ledger_accounts WHERE kind = 'pending')",
            );
        }),
        ("an account's owner changed", |conn| {
            behind_the_back(
                conn,
                "UPDATE ledger_accounts SET owner_id = owner_id + 1000 WHERE id = (SELECT min(id) FROM ledger_accounts WHERE kind = 'available')",
            );
        }),
        ("an account's kind changed", |conn| {
            behind_the_back(
                conn,
                "UPDATE ledger_accounts SET kind = 'cash' WHERE id = (SELECT min(id) FROM ledger_accounts WHERE kind = 'receivable')",
            );
        }),
        ("a refund's take-back changed", |conn| {
            behind_the_back(
                conn,
                "UPDATE refunds SET commission_minor = commission_minor + 1 WHERE id = (SELECT min(id) FROM refunds WHERE effect <> 'none')",
            );
        }),
        ("an entry deleted", |conn| {
            behind_the_back(
                conn,
                "DELETE FROM entries WHERE id = (SELECT max(id) FROM entries)",
            );
        }),
        (
            "an invented clawback for a refund that does not exist",
            |conn| {
                let (id, influencer) = commission_in(conn, "paid");
                let c = db::orders::commission(conn, id).unwrap().unwrap();
                let draft = ledger::clawback(c.merchant_id, influencer, 1000, 0, "invented".into());
                db::ledger::post(
                    conn,
                    &draft,
                    &c.currency,
                    "refund",
                    999_999,
                    chrono::Utc::now().naive_utc(),
                )
                .unwrap();
            },
        ),
        (
            "a 1,000,000.00 payout overdrawing an influencer with one real clawback",
            |conn| {
                let (id, influencer) = commission_in(conn, "paid");
                let c = db::orders::commission(conn, id).unwrap().unwrap();
                let draft = ledger::payout_start(influencer, 100_000_000, "overdraw".into());
                db::ledger::post(
                    conn,
                    &draft,
                    &c.currency,
                    "payout",
                    1,
                    chrono::Utc::now().naive_utc(),
                )
                .unwrap();
            },
        ),
        ("a payout's amount changed", |conn| {
            behind_the_back(
                conn,
                "UPDATE payouts SET amount_minor = amount_minor + 100 WHERE id = (SELECT min(id) FROM payouts WHERE state = 'paid')",
            );
        }),
        (
            "a paid payout's item released (its commission payable twice)",
            |conn| {
                behind_the_back(
                    conn,
                    "UPDATE payout_items SET active = FALSE WHERE id = (SELECT min(id) FROM payout_items WHERE payout_id = (SELECT min(id) FROM payouts WHERE state = 'paid'))",
                );
            },
        ),
        ("a failed payout marked paid", |conn| {
            behind_the_back(
                conn,
                "UPDATE payouts SET state = 'paid' WHERE id = (SELECT min(id) FROM payouts WHERE state = 'failed')",
            );
        }),
        (
            "a paid payout and its item both +1.00 (consistent with each other)",
            |conn| {
                behind_the_back(
                    conn,
                    "UPDATE payout_items SET amount_minor = amount_minor + 100 WHERE id = (SELECT min(id) FROM payout_items WHERE payout_id = (SELECT min(id) FROM payouts WHERE state = 'paid'));
                     UPDATE payouts SET amount_minor = amount_minor + 100 WHERE id = (SELECT min(id) FROM payouts WHERE state = 'paid');",
                );
            },
        ),
        ("a paid run set back to draft", |conn| {
            behind_the_back(
                conn,
                "UPDATE payout_runs SET state = 'draft' WHERE id = (SELECT min(id) FROM payout_runs WHERE state = 'paid')",
            );
        }),
        ("a paid payout moved to another run", |conn| {
            behind_the_back(
                conn,
                "UPDATE payouts SET run_id = (SELECT max(id) FROM payout_runs WHERE state = 'draft') WHERE id = (SELECT min(id) FROM payouts WHERE state = 'paid')",
            );
        }),
        ("a kept balance changed (what dashboards read)", |conn| {
            behind_the_back(
                conn,
                "UPDATE ledger_balances SET balance_minor = balance_minor + 1 WHERE account_id = (SELECT min(account_id) FROM ledger_balances)",
            );
        }),
        ("a settle's cash leg deleted", |conn| {
            behind_the_back(
                conn,
                "DELETE FROM entries WHERE id = (SELECT min(e.id) FROM entries e
                   JOIN journals j ON j.id = e.journal_id
                   JOIN ledger_accounts a ON a.id = e.account_id
                   WHERE j.kind = 'payout_settle' AND a.owner_kind = 'platform' AND a.kind = 'cash')",
            );
        }),
        (
            "a settle's cash and paid_out legs both deleted (it still sums to zero)",
            |conn| {
                behind_the_back(
                    conn,
                    "DELETE FROM entries WHERE journal_id = (SELECT min(j.id) FROM journals j WHERE j.kind = 'payout_settle')
                       AND account_id IN (SELECT id FROM ledger_accounts WHERE owner_kind = 'platform' AND kind IN ('cash', 'paid_out'))",
                );
            },
        ),
        (
            "a settle's cash leg moved to a maturation journal",
            |conn| {
                behind_the_back(
                conn,
                "UPDATE entries SET journal_id = (SELECT min(id) FROM journals WHERE kind = 'maturation')
                 WHERE id = (SELECT min(e.id) FROM entries e
                   JOIN journals j ON j.id = e.journal_id
                   JOIN ledger_accounts a ON a.id = e.account_id
                   WHERE j.kind = 'payout_settle' AND a.owner_kind = 'platform' AND a.kind = 'cash')",
            );
            },
        ),
        ("a maturation journal with no entries", |conn| {
            let (id, _) = commission_in(conn, "pending");
            behind_the_back(
                conn,
                &format!(
                    "INSERT INTO journals (kind, ref_kind, ref_id, currency, memo, created_at)
                     SELECT 'maturation', 'commission', id, currency, 'forged', created_at FROM commissions WHERE id = {id};
                     UPDATE commissions SET state = 'available' WHERE id = {id};"
                ),
            );
        }),
    ];
    for (name, tamper) in catalogue {
        let mut books = demo_books();
        tamper(&mut books.conn);
        let report = orders::check_ledger(&mut books.conn).unwrap();
        assert!(!report.breaks.is_empty(), "the check passed after: {name}");
        eprintln!("{name}: {}", report.breaks[0]);
    }
}

#[test]
fn books_that_grew_for_a_while_pass() {
    let mut books = demo_books();
    let later = chrono::Utc::now().naive_utc() + TimeDelta::days(60);
    orders::mature_due(&mut books.conn, later).unwrap();
    let report = orders::check_ledger(&mut books.conn).unwrap();
    assert!(report.breaks.is_empty(), "{:?}", report.breaks);
}
