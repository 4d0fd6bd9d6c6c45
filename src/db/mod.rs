//! Persistence: one connection type over SQLite and PostgreSQL, the pool, migrations and
//! the queries, one file per aggregate.

/// Runs `$body` on the backend's own connection: `$c` is a `&mut PgConnection` in one arm and
/// a `&mut SqliteConnection` in the other, and the body is compiled for each.
///
/// For what the multi-backend connection cannot express (DESIGN.md §5), and for queries on
/// the hot paths: through the multi-backend connection a query builds its SQL text again on
/// every run, even when its prepared statement is cached (measured: about 9 % of a signed
/// postback's CPU time went to that).
macro_rules! on_inner {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Pg($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

pub mod audit;
pub mod billing;
pub mod campaigns;
pub mod catalog;
pub mod click_store;
pub mod collaborations;
pub mod influencers;
pub mod ledger;
pub mod links;
pub mod live;
pub mod logins;
pub mod merchants;
pub mod models;
pub mod order_lists;
pub mod orders;
pub mod outbox;
pub mod password_resets;
pub mod payouts;
pub mod schema;
pub mod sessions;
pub mod statements;
pub mod stats;
pub mod team;
pub mod users;

use std::time::Duration;

use anyhow::Context;
use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend. The `Pg` variant comes first, as DESIGN.md asks; we
/// never rely on the derive's "try each in turn" `establish`, but pick by URL scheme.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<DbManager>;
pub type PooledConn = r2d2::PooledConnection<DbManager>;

/// Which backend a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// r2d2 manager that opens the right backend for the URL and applies SQLite's pragmas on
/// every new connection.
#[derive(Debug, Clone)]
pub struct DbManager {
    url: String,
    backend: Backend,
}

impl DbManager {
    pub fn new(url: &str) -> Self {
        DbManager {
            url: url.to_owned(),
            backend: Backend::of_url(url),
        }
    }
}

/// SQLite pragmas, in the order DESIGN.md §5 gives, then `secure_delete`: what a write
/// replaces or deletes is overwritten with zeros, not left readable in the file's free space
/// (a payout detail sealed in place must not stay in plain text beside its sealed form).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                              PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                              PRAGMA secure_delete = ON;";

/// Process-wide SQLite settings, applied once before the first SQLite connection opens.
///
/// - Memory statistics off: with them on (SQLite's default), every allocation SQLite makes
///   takes one global mutex, which all database threads then queue on. Turning them off made
///   signed postbacks 35 % faster (`cargo bench --bench postbacks`: 786 → 1,064/s). Tandem
///   never reads SQLite's memory statistics.
/// - The query planner stability guarantee on every connection (`plan_every_statement_once`).
fn configure_sqlite_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` is called before this process opens any SQLite
        // connection (every connection is opened through `establish`, after this); if SQLite
        // were already initialised it would only answer SQLITE_MISUSE and change nothing.
        let rc =
            unsafe { libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0) };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::debug!(rc, "SQLite memory statistics could not be turned off");
        }
        // SAFETY: registers a function with the signature SQLite expects; it stays valid for
        // the life of the process.
        let rc = unsafe { libsqlite3_sys::sqlite3_auto_extension(Some(plan_every_statement_once)) };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::warn!(rc, "SQLite query planner setting could not be registered");
        }
    });
}

/// Called by SQLite for every new connection: turns on the query planner stability
/// guarantee (QPSG), so a prepared statement keeps its plan whatever values are bound.
///
/// Without it, SQLite marks a statement with a bound `LIMIT ?` (every diesel `.first()`)
/// for re-preparing on each new binding, so diesel's statement cache saved nothing for
/// them: a profile of signed postbacks showed the campaign, product and merchant lookups
/// compiled again on every run (`sqlite3Reprepare` inside `sqlite3_step`). Tandem runs no
/// `ANALYZE`, so there are no statistics whose use the guarantee would give up.
unsafe extern "C" fn plan_every_statement_once(
    db: *mut libsqlite3_sys::sqlite3,
    _err: *mut *mut std::ffi::c_char,
    _api: *const libsqlite3_sys::sqlite3_api_routines,
) -> std::ffi::c_int {
    // SAFETY: `db` is the connection SQLite is opening; SQLITE_DBCONFIG_ENABLE_QPSG takes an
    // int (1: on) and an int pointer for the new setting (may be null).
    unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::ffi::c_int,
            std::ptr::null_mut::<std::ffi::c_int>(),
        )
    }
}

pub fn establish(url: &str) -> ConnectionResult<DbConn> {
    match Backend::of_url(url) {
        Backend::Postgres => {
            let mut conn = PgConnection::establish(url)?;
            // diesel keeps statements prepared; after five runs PostgreSQL may switch them to a
            // generic plan that ignores the parameter values, which made filtered discovery
            // queries 7x slower (measured: 45 ms -> 343 ms p50). Plan each execution instead.
            conn.batch_execute("SET plan_cache_mode = force_custom_plan")
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConn::Pg(conn))
        }
        Backend::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            configure_sqlite_once();
            let mut conn = SqliteConnection::establish(path)?;
            conn.batch_execute(SQLITE_PRAGMAS)
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConn::Sqlite(conn))
        }
    }
}

impl ManageConnection for DbManager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        establish(&self.url).map_err(r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    /// A connection coming back with an open transaction or a failed transaction manager
    /// (say, after a panic in the middle of a write) is dropped, not pooled (what diesel's own
    /// r2d2 manager does).
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        use diesel::r2d2::R2D2Connection;
        std::thread::panicking() || conn.is_broken()
    }
}

/// Builds the pool. SQLite gets a small pool (one writer at a time anyway); PostgreSQL a
/// larger one.
pub fn build_pool(url: &str, max_size: Option<u32>) -> anyhow::Result<Pool> {
    let manager = DbManager::new(url);
    let size = max_size.unwrap_or(match manager.backend {
        Backend::Sqlite => 8,
        Backend::Postgres => 16,
    });
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(10))
        .build(manager)
        .with_context(|| "cannot open the database (TANDEM_DATABASE_URL)".to_string())
}

/// Applies every pending migration of the connection's backend.
pub fn run_migrations(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let applied = match conn {
        // Read first whether anything is pending: diesel's runner always creates its table
        // ("IF NOT EXISTS"), which a role that does not own the schema may not do, and the
        // production app runs as such a role (README, "In production").
        DbConn::Pg(c) => {
            if pg_up_to_date(c)? {
                Ok(Vec::new())
            } else {
                c.run_pending_migrations(POSTGRES_MIGRATIONS)
            }
        }
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    Ok(applied.iter().map(|v| v.to_string()).collect())
}

/// Whether every embedded PostgreSQL migration is recorded as applied.
fn pg_up_to_date(c: &mut PgConnection) -> anyhow::Result<bool> {
    use diesel::migration::MigrationSource;
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        version: Option<String>,
    }
    let exists: Vec<Version> =
        diesel::sql_query("SELECT to_regclass('__diesel_schema_migrations')::text AS version")
            .load(c)?;
    if exists.first().and_then(|v| v.version.as_ref()).is_none() {
        return Ok(false);
    }
    let applied: Vec<Version> =
        diesel::sql_query("SELECT version::text AS version FROM __diesel_schema_migrations")
            .load(c)?;
    let applied: std::collections::HashSet<String> =
        applied.into_iter().filter_map(|v| v.version).collect();
    let embedded = MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES_MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("reading the embedded migrations: {e}"))?;
    Ok(embedded
        .iter()
        .all(|m| applied.contains(&m.name().version().to_string())))
}

pub fn backend(conn: &DbConn) -> Backend {
    match conn {
        DbConn::Pg(_) => Backend::Postgres,
        DbConn::Sqlite(_) => Backend::Sqlite,
    }
}

/// SQLite has one writer at a time. Writers of this process queue here, in order, instead of
/// in SQLite's busy handler, which sleeps and polls (1, 2, 5 ... 100 ms): under load that
/// wasted most of the time between transactions (measured: signed postbacks 1,014/s with a
/// p99 of 142 ms before this lock).
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    /// Whether this thread holds [`SQLITE_WRITER`] (a nested write transaction must not wait
    /// for itself).
    static HOLDS_WRITER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

struct WriterTurn(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

impl WriterTurn {
    fn of(guard: std::sync::MutexGuard<'static, ()>) -> WriterTurn {
        HOLDS_WRITER.with(|h| h.set(true));
        WriterTurn(guard)
    }
}

impl Drop for WriterTurn {
    fn drop(&mut self) {
        HOLDS_WRITER.with(|h| h.set(false));
    }
}

/// Waits for this process's SQLite writer turn (`None`: this thread holds it already).
fn writer_turn() -> Option<WriterTurn> {
    if HOLDS_WRITER.with(std::cell::Cell::get) {
        return None;
    }
    Some(WriterTurn::of(
        SQLITE_WRITER.lock().unwrap_or_else(|p| p.into_inner()),
    ))
}

/// This process's SQLite writer turn if no other thread holds it now, without waiting (the
/// caller then writes with [`write_tx`], which sees the turn is held by its thread).
pub fn try_writer_turn() -> Option<impl Sized> {
    if HOLDS_WRITER.with(std::cell::Cell::get) {
        return None;
    }
    let guard = match SQLITE_WRITER.try_lock() {
        Ok(guard) => guard,
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return None,
    };
    Some(WriterTurn::of(guard))
}

/// Runs `f` in a write transaction. On SQLite it waits for this process's writer turn, then
/// starts with `BEGIN IMMEDIATE`, so the write lock is taken up front (other processes are
/// waited for with `busy_timeout`) instead of failing when a read transaction tries to
/// upgrade; on PostgreSQL it is an ordinary transaction.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    if let DbConn::Pg(_) = conn {
        return conn.transaction(f);
    }
    let _turn = writer_turn();
    {
        let DbConn::Sqlite(inner) = conn else {
            unreachable!("checked above")
        };
        diesel::connection::AnsiTransactionManager::begin_transaction_sql(
            inner,
            "BEGIN IMMEDIATE",
        )?;
    }
    match f(conn) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(err) => {
            // The original error matters more than a failed rollback.
            let _ = <DbConn as Connection>::TransactionManager::rollback_transaction(conn);
            Err(err)
        }
    }
}

/// After secrets were sealed in place: leaves no old copy of them on disk. On SQLite the
/// write-ahead log is checkpointed into the file and truncated (its older frames held the
/// rows as they were), the file is rebuilt with `VACUUM` (free pages written before
/// `secure_delete` may hold old rows), and the log that `VACUUM` wrote is checkpointed and
/// truncated too. Runs outside any transaction. On PostgreSQL nothing is done here: old row
/// versions are reclaimed by (auto)vacuum, and overwritten only by `VACUUM FULL`, which only
/// the tables' owner may run (README, "Data at rest").
pub fn scrub_free_space(conn: &mut DbConn) -> QueryResult<()> {
    let DbConn::Sqlite(c) = conn else {
        return Ok(());
    };
    let _turn = writer_turn();
    checkpoint_truncate(c)?;
    c.batch_execute("VACUUM")?;
    checkpoint_truncate(c)
}

/// `PRAGMA wal_checkpoint(TRUNCATE)`, retried while a reader of an older snapshot holds it
/// back (SQLite waits for readers up to `busy_timeout`, then answers `busy` without an
/// error).
fn checkpoint_truncate(c: &mut SqliteConnection) -> QueryResult<()> {
    #[derive(QueryableByName)]
    struct Checkpoint {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        busy: i32,
    }
    // Up to three seconds: on a busy machine a job's read may outlast a few tries.
    for _ in 0..30 {
        let done: Checkpoint =
            diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").get_result(c)?;
        if done.busy == 0 {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::Unknown,
        Box::new("the write-ahead log could not be checkpointed: a reader kept it busy".to_owned()),
    ))
}

/// True when the error is a unique-constraint violation (the idempotency signal).
pub fn is_unique_violation(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Number of rows a `count()` returned, as a portable helper.
pub fn checked_health(conn: &mut DbConn) -> QueryResult<()> {
    conn.batch_execute("SELECT 1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::Text;

    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }

    #[test]
    fn sqlite_connections_use_wal_foreign_keys_and_secure_delete() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("t.db").to_string_lossy().into_owned();
        let pool = build_pool(&url, Some(2)).unwrap();
        let mut conn = pool.get().unwrap();
        assert_eq!(backend(&conn), Backend::Sqlite);
        run_migrations(&mut conn).unwrap();
        assert!(
            run_migrations(&mut conn).unwrap().is_empty(),
            "second run applies nothing"
        );
        let mode: Mode = diesel::sql_query("PRAGMA journal_mode")
            .get_result(&mut *conn)
            .unwrap();
        assert_eq!(mode.journal_mode, "wal");
        #[derive(QueryableByName)]
        struct SecureDelete {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            secure_delete: i32,
        }
        let zeroed: SecureDelete = diesel::sql_query("PRAGMA secure_delete")
            .get_result(&mut *conn)
            .unwrap();
        assert_eq!(zeroed.secure_delete, 1, "what is deleted is overwritten");
        // Foreign keys are enforced: a member of a missing merchant is refused.
        let err = diesel::sql_query(
            "INSERT INTO merchant_members (merchant_id, user_id, member_role, created_at) VALUES (99, 99, 'owner', '2026-01-01 00:00:00')",
        )
        .execute(&mut *conn)
        .unwrap_err();
        assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
    }

    #[test]
    fn backend_is_chosen_by_url_scheme() {
        assert_eq!(Backend::of_url("postgres://u@h/db"), Backend::Postgres);
        assert_eq!(Backend::of_url("postgresql://u@h/db"), Backend::Postgres);
        assert_eq!(Backend::of_url("./data/tandem.db"), Backend::Sqlite);
    }

    #[test]
    fn write_tx_rolls_back_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("t.db").to_string_lossy().into_owned();
        let mut conn = establish(&url).unwrap();
        run_migrations(&mut conn).unwrap();
        let now = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let result: Result<(), diesel::result::Error> = write_tx(&mut conn, |c| {
            users::insert(
                c,
                &models::NewUser {
                    email: "a@example.com",
                    password_hash: "x",
                    role: "admin",
                    display_name: "A",
                    time_zone: "UTC",
                    session_version: 1,
                    created_at: now,
                    updated_at: now,
                },
            )?;
            Err(diesel::result::Error::RollbackTransaction)
        });
        assert!(result.is_err());
        assert_eq!(users::count(&mut conn).unwrap(), 0);
        // And the connection is usable for the next transaction.
        let ok: Result<i64, diesel::result::Error> = write_tx(&mut conn, users::count);
        assert_eq!(ok.unwrap(), 0);
    }
}
