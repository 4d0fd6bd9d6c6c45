//! Where the click writer (`jobs::clicks`) stores clicks: on SQLite straight through SQLite's
//! C API, on a connection of the writer's own with its statements prepared once; on
//! PostgreSQL through diesel.
//!
//! Why not diesel on SQLite: a redirect's own work is one row insert, and diesel's part of it
//! (building the statement's SQL text and its cache key, walking the eleven values, copying
//! them into bind buffers) cost as many instructions as SQLite's insert itself; its
//! connections also take SQLite's per-connection mutex on every call (opened in serialized
//! mode), though a click connection is only ever used by one thread at a time. Measured with
//! `valgrind --tool=callgrind` on one HTTP worker under `wrk` (see `jobs::clicks`).
//!
//! The SQL here is the same as the diesel queries of `db::links` (`clicked_since`,
//! `insert_clicks`, `next_click_ids`) for PostgreSQL, which the tests run on both databases.
//! SQLite's click commits leave the daily rollups to `jobs::rollup`.

use std::borrow::Cow;
use std::ffi::{CStr, CString, c_char, c_int};
use std::ptr::NonNull;

use diesel::connection::{Connection, TransactionManager};
use libsqlite3_sys as ffi;

use super::models::{BatchTime, NewClick};
use super::{DbConn, PooledConn, links};
use crate::error::{AppError, AppResult};

/// A visitor whose recent clicks are looked up.
#[derive(Debug, Clone, Copy)]
pub struct Visitor<'a> {
    pub link_id: i64,
    /// `domain::links::visitor_key` of the two hashes.
    pub key: i64,
    pub ip_hash: &'a str,
    pub ua_hash: &'a str,
}

/// A connection that writes clicks.
pub enum ClickConn {
    Sqlite(SqliteClicks),
    Pg {
        conn: PooledConn,
        ids: links::ClickIds,
    },
}

impl ClickConn {
    /// Runs `f` in one write transaction (on SQLite in this process's writer turn, see
    /// `db::write_tx`); on an error nothing was written.
    pub fn write<T>(&mut self, f: impl FnOnce(&mut ClickConn) -> AppResult<T>) -> AppResult<T> {
        let _turn = match self {
            ClickConn::Sqlite(s) => {
                let turn = super::writer_turn();
                s.run(Sql::Begin, &[])?;
                turn
            }
            ClickConn::Pg { conn, .. } => {
                <DbConn as Connection>::TransactionManager::begin_transaction(conn)?;
                None
            }
        };
        let result = f(self);
        match (self, result) {
            (ClickConn::Sqlite(s), Ok(value)) => match s.run(Sql::Commit, &[]) {
                Ok(()) => Ok(value),
                Err(e) => {
                    s.roll_back();
                    Err(e)
                }
            },
            (ClickConn::Sqlite(s), Err(e)) => {
                s.roll_back();
                Err(e)
            }
            (ClickConn::Pg { conn, .. }, Ok(value)) => {
                <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
                Ok(value)
            }
            (ClickConn::Pg { conn, .. }, Err(e)) => {
                // The original error matters more than a failed rollback.
                let _ = <DbConn as Connection>::TransactionManager::rollback_transaction(conn);
                Err(e)
            }
        }
    }

    /// Whether the connection should be dropped (a fresh one opened for the next batch).
    pub fn is_broken(&mut self) -> bool {
        match self {
            ClickConn::Sqlite(s) => s.broken,
            ClickConn::Pg { conn, .. } => {
                use diesel::r2d2::R2D2Connection;
                conn.is_broken()
            }
        }
    }

    /// Row ids for `n` new clicks, to insert in this transaction (see
    /// `db::links::next_click_ids`: on SQLite the next ones after the largest, safe under the
    /// write lock; on PostgreSQL from the sequence, reserved in blocks).
    pub fn next_ids(&mut self, n: usize) -> AppResult<Vec<i64>> {
        match self {
            ClickConn::Sqlite(s) => {
                let count = i64::try_from(n).map_err(|_| internal("too many clicks"))?;
                let last = s.query(Sql::MaxId, &[], |r| r.int_or_null(0))?.flatten();
                let first = last.unwrap_or(0) + 1;
                Ok((first..first + count).collect())
            }
            ClickConn::Pg { conn, ids } => Ok(ids.take(conn, n)?),
        }
    }

    /// For each visitor, whether they clicked at or after `since` (one query on PostgreSQL;
    /// see [`ClickConn::clicked_since`]).
    pub fn recent_visitors(
        &mut self,
        visitors: &[Visitor<'_>],
        since: &BatchTime,
    ) -> AppResult<Vec<bool>> {
        let conn = match self {
            ClickConn::Pg { conn, .. } => conn,
            ClickConn::Sqlite(_) => {
                return visitors
                    .iter()
                    .map(|v| self.clicked_since(v.link_id, v.key, v.ip_hash, v.ua_hash, since))
                    .collect();
            }
        };
        if visitors.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<(i64, i64)> = visitors.iter().map(|v| (v.link_id, v.key)).collect();
        let DbConn::Pg(pg) = &mut **conn else {
            return Err(internal("a PostgreSQL click connection is not PostgreSQL"));
        };
        let latest = links::latest_clicks(pg, &keys)?;
        let mut out = Vec::with_capacity(visitors.len());
        for (v, latest) in visitors.iter().zip(latest) {
            out.push(match latest {
                None => false,
                Some((ip, ua, at)) if ip == v.ip_hash && ua == v.ua_hash => at >= since.at(),
                // Another visitor with the same key (about one chance in 2^64): the full check.
                Some(_) => {
                    links::clicked_since(conn, v.link_id, v.key, v.ip_hash, v.ua_hash, since.at())?
                }
            });
        }
        Ok(out)
    }

    /// Whether this visitor (link, visitor key and both hashes) clicked at or after `since`
    /// (`db::links::clicked_since`).
    pub fn clicked_since(
        &mut self,
        link_id: i64,
        key: i64,
        ip_hash: &str,
        ua_hash: &str,
        since: &BatchTime,
    ) -> AppResult<bool> {
        let s = match self {
            ClickConn::Sqlite(s) => s,
            ClickConn::Pg { conn, .. } => {
                return Ok(links::clicked_since(
                    conn,
                    link_id,
                    key,
                    ip_hash,
                    ua_hash,
                    since.at(),
                )?);
            }
        };
        // The visitor's latest click is the last under its key (`max(id)`, one backward
        // seek); timestamps are compared as SQLite stores them (text in one format, whose
        // order is time order), as diesel's queries on SQLite do.
        // Both statements take the same values.
        let values = [
            Val::Int(link_id),
            Val::Int(key),
            Val::Text(ip_hash),
            Val::Text(ua_hash),
            Val::Text(since.text()),
        ];
        let latest = s.query(Sql::Latest, &values, |r| {
            (r.int_or_null(0) == Some(1), r.int_or_null(1) == Some(1))
        })?;
        match latest {
            None => Ok(false),
            Some((true, recent)) => Ok(recent),
            // Another visitor with the same key (about one chance in 2^64): the full check.
            Some((false, _)) => Ok(s
                .query(Sql::ClickedSince, &values, |r| r.int_or_null(0) == Some(1))?
                .unwrap_or(false)),
        }
    }

    /// Inserts a batch of clicks (row ids from [`ClickConn::next_ids`]).
    pub fn insert(&mut self, rows: &[NewClick<'_>]) -> AppResult<()> {
        let s = match self {
            ClickConn::Sqlite(s) => s,
            ClickConn::Pg { conn, .. } => {
                links::insert_clicks(conn, rows)?;
                return Ok(());
            }
        };
        // Several rows per statement where they fill one: a statement's own run (opening
        // its cursors, the foreign key set-up, halting) is about a third of a one-row insert.
        // The values on the stack: a vector of them (4 KB for 16 rows) was a large allocation
        // per statement, each making glibc merge its free lists.
        let mut values = [Val::Null; 16 * CLICK_COLUMNS];
        let mut rest = rows;
        for (sql, n) in [(Sql::Insert16, 16), (Sql::Insert4, 4), (Sql::Insert, 1)] {
            while rest.len() >= n {
                let (these, after) = rest.split_at(n);
                for (slot, value) in values.iter_mut().zip(these.iter().flat_map(click_values)) {
                    *slot = value;
                }
                s.run(sql, &values[..n * CLICK_COLUMNS])?;
                rest = after;
            }
        }
        Ok(())
    }

    /// The PostgreSQL connection, if this is one (its click commits add to the daily
    /// rollups themselves; SQLite's leave them to `jobs::rollup`).
    pub fn pg(&mut self) -> Option<&mut DbConn> {
        match self {
            ClickConn::Pg { conn, .. } => Some(conn),
            ClickConn::Sqlite(_) => None,
        }
    }
}

/// The columns of a click insert.
const CLICK_COLUMNS: usize = 11;

/// A click's values, in the order of [`insert_sql`]'s columns.
fn click_values<'a>(row: &'a NewClick<'a>) -> [Val<'a>; CLICK_COLUMNS] {
    [
        Val::Int(row.id),
        Val::Text(row.click_id),
        Val::Int(row.link_id),
        row.stream_id.map_or(Val::Null, Val::Int),
        Val::Text(row.created_at.text()),
        Val::Text(row.ip_hash),
        Val::Text(row.ua_hash),
        row.referrer_host.map_or(Val::Null, Val::Text),
        Val::Int(i64::from(row.is_bot)),
        Val::Int(i64::from(row.is_repeat)),
        Val::Int(row.visitor_key),
    ]
}

/// An insert of `rows` clicks.
fn insert_sql(rows: usize) -> String {
    let row = format!("({})", ["?"; CLICK_COLUMNS].join(", "));
    format!(
        "INSERT INTO clicks (id, click_id, link_id, stream_id, created_at, ip_hash, ua_hash, \
         referrer_host, is_bot, is_repeat, visitor_key) VALUES {}",
        vec![row; rows].join(", ")
    )
}

fn internal(message: &str) -> AppError {
    AppError::Internal(anyhow::anyhow!("{message}"))
}

/// The statements a click connection runs, prepared when it opens.
#[derive(Debug, Clone, Copy)]
enum Sql {
    Begin,
    Commit,
    Rollback,
    MaxId,
    Latest,
    ClickedSince,
    Insert,
    Insert4,
    Insert16,
}

impl Sql {
    const ALL: [Sql; 9] = [
        Sql::Begin,
        Sql::Commit,
        Sql::Rollback,
        Sql::MaxId,
        Sql::Latest,
        Sql::ClickedSince,
        Sql::Insert,
        Sql::Insert4,
        Sql::Insert16,
    ];

    fn text(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            // As `db::write_tx`: the write lock up front.
            Sql::Begin => "BEGIN IMMEDIATE",
            Sql::Commit => "COMMIT",
            Sql::Rollback => "ROLLBACK",
            Sql::MaxId => "SELECT max(id) FROM clicks",
            Sql::Latest => {
                "SELECT ip_hash = ?3 AND ua_hash = ?4, created_at >= ?5 FROM clicks \
                 WHERE id = (SELECT max(id) FROM clicks WHERE link_id = ?1 AND visitor_key = ?2)"
            }
            Sql::ClickedSince => {
                "SELECT EXISTS (SELECT 1 FROM clicks WHERE link_id = ?1 AND visitor_key = ?2 \
                 AND ip_hash = ?3 AND ua_hash = ?4 AND created_at >= ?5)"
            }
            Sql::Insert => return Cow::Owned(insert_sql(1)),
            Sql::Insert4 => return Cow::Owned(insert_sql(4)),
            Sql::Insert16 => return Cow::Owned(insert_sql(16)),
        })
    }
}

/// A value bound to a statement.
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Int(i64),
    Text(&'a str),
    Null,
}

/// An open SQLite connection, closed on drop.
struct Handle(NonNull<ffi::sqlite3>);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from `sqlite3_open_v2` and is closed once, here, after the
        // statements prepared on it are finalized (`SqliteClicks` drops them first).
        unsafe { ffi::sqlite3_close(self.0.as_ptr()) };
    }
}

/// A prepared statement, finalized on drop.
struct Stmt(NonNull<ffi::sqlite3_stmt>);

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: the statement came from `sqlite3_prepare_v2` and is finalized once, here.
        unsafe { ffi::sqlite3_finalize(self.0.as_ptr()) };
    }
}

/// A SQLite connection for clicks with its statements. It is used by one thread at a time
/// (the click writer thread's, or an HTTP worker's thread-local one), so it is opened without
/// SQLite's per-connection mutex; it is not `Send` (raw pointers).
pub struct SqliteClicks {
    // Statements before the handle: fields drop in order.
    stmts: Vec<Stmt>,
    db: Handle,
    /// A failed rollback left the connection in an unknown state.
    broken: bool,
}

impl SqliteClicks {
    /// Opens a connection to the SQLite database at `url` with Tandem's pragmas (as
    /// `db::establish`), SQLite's own wait for another process's lock set to
    /// `busy_timeout_ms` if given, and WAL checkpoints in its commits only past
    /// `checkpoint_pages` pages (see `jobs::checkpoint`).
    pub fn open(url: &str, busy_timeout_ms: Option<u32>, checkpoint_pages: i32) -> AppResult<Self> {
        super::configure_sqlite_once();
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        let path = CString::new(path).map_err(|_| internal("the database path holds a NUL"))?;
        let mut raw = std::ptr::null_mut();
        let flags = ffi::SQLITE_OPEN_READWRITE
            | ffi::SQLITE_OPEN_CREATE
            | ffi::SQLITE_OPEN_URI
            | ffi::SQLITE_OPEN_NOMUTEX;
        // SAFETY: `path` is a NUL-terminated string that outlives the call; `raw` receives
        // the handle (or null), which is closed on every path below by `Handle`.
        let rc = unsafe { ffi::sqlite3_open_v2(path.as_ptr(), &mut raw, flags, std::ptr::null()) };
        let db = Handle(NonNull::new(raw).ok_or_else(|| internal("SQLite: out of memory"))?);
        let mut conn = SqliteClicks {
            stmts: Vec::new(),
            db,
            broken: false,
        };
        if rc != ffi::SQLITE_OK {
            return Err(conn.error(rc, "opening the database"));
        }
        let busy = busy_timeout_ms
            .map(|ms| format!("PRAGMA busy_timeout = {ms};"))
            .unwrap_or_default();
        conn.exec(&format!(
            "{} {busy} PRAGMA wal_autocheckpoint = {checkpoint_pages};",
            super::SQLITE_PRAGMAS
        ))?;
        for sql in Sql::ALL {
            let stmt = conn.prepare(&sql.text())?;
            conn.stmts.push(stmt);
        }
        Ok(conn)
    }

    fn exec(&mut self, sql: &str) -> AppResult<()> {
        let sql = CString::new(sql).map_err(|_| internal("SQL holds a NUL"))?;
        // SAFETY: an open connection and a NUL-terminated SQL string; no callback, no error
        // string requested (the message is read with `sqlite3_errmsg`).
        let rc = unsafe {
            ffi::sqlite3_exec(
                self.db.0.as_ptr(),
                sql.as_ptr(),
                None,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(self.error(rc, "setting up the connection"));
        }
        Ok(())
    }

    fn prepare(&self, sql: &str) -> AppResult<Stmt> {
        let len = c_int::try_from(sql.len()).map_err(|_| internal("SQL too long"))?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: an open connection; `sql` is valid for `len` bytes during the call (SQLite
        // copies what it needs); `raw` receives the statement, owned by `Stmt` from here.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                self.db.0.as_ptr(),
                sql.as_ptr().cast::<c_char>(),
                len,
                &mut raw,
                std::ptr::null_mut(),
            )
        };
        let stmt = NonNull::new(raw).map(Stmt);
        if rc != ffi::SQLITE_OK {
            return Err(self.error(rc, sql));
        }
        stmt.ok_or_else(|| internal("SQLite prepared an empty statement"))
    }

    fn error(&self, rc: c_int, context: &str) -> AppError {
        // SAFETY: `sqlite3_errmsg` returns a NUL-terminated string owned by the connection,
        // valid until its next call; it is copied at once.
        let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.db.0.as_ptr())) }
            .to_string_lossy()
            .into_owned();
        AppError::Internal(anyhow::anyhow!(
            "SQLite error {rc} ({message}) in: {context}"
        ))
    }

    /// Runs a statement that returns no rows.
    fn run(&mut self, sql: Sql, values: &[Val<'_>]) -> AppResult<()> {
        self.step(sql, values, |_, _| ())?;
        Ok(())
    }

    /// Runs a statement and reads its first row, if any, with `read`.
    fn query<T>(
        &mut self,
        sql: Sql,
        values: &[Val<'_>],
        read: impl FnOnce(&Row<'_>) -> T,
    ) -> AppResult<Option<T>> {
        self.step(sql, values, |stmt, has_row| {
            has_row.then(|| read(&Row(stmt, std::marker::PhantomData)))
        })
    }

    /// Binds `values` to the statement, runs it to its first row (or to its end), hands the
    /// statement to `then` (with whether a row came), then resets it and clears its
    /// bindings, so no pointer bound here outlives the call.
    fn step<T>(
        &mut self,
        sql: Sql,
        values: &[Val<'_>],
        then: impl FnOnce(*mut ffi::sqlite3_stmt, bool) -> T,
    ) -> AppResult<T> {
        let stmt = self
            .stmts
            .get(sql as usize)
            .ok_or_else(|| internal("statement not prepared"))?
            .0
            .as_ptr();
        let result = self
            .bind_and_step(stmt, values, sql)
            .map(|row| then(stmt, row));
        // SAFETY: `stmt` is one of this connection's prepared statements; resetting and
        // clearing it drops the bound pointers (`SQLITE_STATIC`) before their data can go.
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        result
    }

    fn bind_and_step(
        &self,
        stmt: *mut ffi::sqlite3_stmt,
        values: &[Val<'_>],
        sql: Sql,
    ) -> AppResult<bool> {
        for (i, value) in values.iter().enumerate() {
            let at = c_int::try_from(i + 1).map_err(|_| internal("too many values"))?;
            // SAFETY: `stmt` is a prepared statement of this connection. Text is bound with
            // `SQLITE_STATIC` (not copied): it lives as long as `values`, i.e. for this call,
            // and `step` clears the bindings before returning.
            let rc = unsafe {
                match *value {
                    Val::Int(n) => ffi::sqlite3_bind_int64(stmt, at, n),
                    Val::Null => ffi::sqlite3_bind_null(stmt, at),
                    Val::Text(t) => {
                        let len =
                            c_int::try_from(t.len()).map_err(|_| internal("text too long"))?;
                        ffi::sqlite3_bind_text(
                            stmt,
                            at,
                            t.as_ptr().cast::<c_char>(),
                            len,
                            ffi::SQLITE_STATIC(),
                        )
                    }
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(self.error(rc, &sql.text()));
            }
        }
        // SAFETY: a prepared statement of this connection; every pointer bound to it is
        // alive (a parameter left unbound is NULL).
        match unsafe { ffi::sqlite3_step(stmt) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            rc => Err(self.error(rc, &sql.text())),
        }
    }

    /// Ends a failed transaction, if one is open. (An error may already have rolled it back;
    /// if the rollback itself fails, the connection is marked broken.)
    fn roll_back(&mut self) {
        // SAFETY: an open connection; `sqlite3_get_autocommit` only reads its state.
        let in_transaction = unsafe { ffi::sqlite3_get_autocommit(self.db.0.as_ptr()) } == 0;
        if in_transaction && self.run(Sql::Rollback, &[]).is_err() {
            self.broken = true;
        }
    }
}

/// The current row of a statement, valid until it is stepped or reset.
struct Row<'a>(*mut ffi::sqlite3_stmt, std::marker::PhantomData<&'a ()>);

impl Row<'_> {
    /// An integer column, `None` if NULL.
    fn int_or_null(&self, column: c_int) -> Option<i64> {
        // SAFETY: the statement has a current row (`query` reads only then).
        unsafe {
            (ffi::sqlite3_column_type(self.0, column) != ffi::SQLITE_NULL)
                .then(|| ffi::sqlite3_column_int64(self.0, column))
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    use super::*;
    use crate::db::models::{Click, LinkDaily};
    use crate::db::schema::{clicks, link_daily};

    /// A migrated SQLite database with one link (id 1; its owners are not needed here, so
    /// they are left out with foreign keys off for the set-up), its URL and a diesel
    /// connection to it.
    fn database() -> (tempfile::TempDir, String, DbConn) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("t.db").to_string_lossy().into_owned();
        let mut conn = crate::db::establish(&url).expect("open");
        crate::db::run_migrations(&mut conn).expect("migrate");
        conn.batch_execute(
            "PRAGMA foreign_keys = OFF; \
             INSERT INTO links (id, code, collaboration_id, influencer_id, merchant_id, \
             campaign_id, destination, label, created_at) VALUES (1, 'abcdefgh', 1, 1, 1, 1, \
             'https://shop.example/', '', '2026-11-01 00:00:00'); \
             PRAGMA foreign_keys = ON;",
        )
        .expect("a link");
        (dir, url, conn)
    }

    fn at(h: u32, m: u32, s: u32, micros: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 26)
            .and_then(|d| d.and_hms_micro_opt(h, m, s, micros))
            .expect("a time")
    }

    fn click<'a>(id: i64, link_id: i64, time: &'a BatchTime, ua: &'a str) -> NewClick<'a> {
        NewClick {
            id,
            click_id: "00000000010123456789abcdef",
            link_id,
            stream_id: None,
            created_at: time,
            ip_hash: "ip",
            ua_hash: ua,
            referrer_host: None,
            is_bot: false,
            is_repeat: false,
            visitor_key: 42,
        }
    }

    /// One click on link 1 in its own transaction.
    fn write_one(conn: &mut ClickConn, time: &BatchTime) -> AppResult<()> {
        conn.write(|c| {
            let ids = c.next_ids(1)?;
            c.insert(&[click(ids[0], 1, time, "ua")])
        })
    }

    fn count(conn: &mut DbConn) -> i64 {
        clicks::table.count().get_result(conn).expect("count")
    }

    #[test]
    fn stores_rows_as_diesel_reads_them_and_leaves_rollups_to_the_rollup_job() {
        let (_dir, url, mut diesel) = database();
        let mut conn = ClickConn::Sqlite(SqliteClicks::open(&url, None, 8000).expect("open"));
        let time = BatchTime::new(at(10, 0, 0, 123_456));
        let ids = conn
            .write(|c| {
                let ids = c.next_ids(2)?;
                let mut first = click(ids[0], 1, &time, "ua");
                first.stream_id = Some(7);
                first.referrer_host = Some("video.example");
                first.is_bot = true;
                let mut second = click(ids[1], 1, &time, "ua");
                second.is_repeat = true;
                c.insert(&[first, second])?;
                Ok(ids)
            })
            .expect("written");
        assert_eq!(ids, vec![1, 2]);
        // 23 more: one insert of 16 rows, one of 4, three of one, in order.
        let time2 = BatchTime::new(at(10, 0, 1, 0));
        let more = conn
            .write(|c| {
                let ids = c.next_ids(23)?;
                let rows: Vec<NewClick<'_>> =
                    ids.iter().map(|&id| click(id, 1, &time2, "ua")).collect();
                c.insert(&rows)?;
                Ok(ids)
            })
            .expect("written");
        assert_eq!(more, (3..26).collect::<Vec<i64>>());
        let stored: Vec<i64> = clicks::table
            .filter(clicks::created_at.eq(at(10, 0, 1, 0)))
            .order(clicks::id)
            .select(clicks::id)
            .load(&mut diesel)
            .expect("ids");
        assert_eq!(stored, more);
        let rows: Vec<Click> = clicks::table
            .filter(clicks::id.le(2))
            .order(clicks::id)
            .select(Click::as_select())
            .load(&mut diesel)
            .expect("read back");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].created_at, at(10, 0, 0, 123_456));
        assert_eq!(rows[0].stream_id, Some(7));
        assert_eq!(rows[0].referrer_host.as_deref(), Some("video.example"));
        assert!(rows[0].is_bot && !rows[0].is_repeat);
        assert_eq!(rows[1].stream_id, None);
        assert_eq!(rows[1].referrer_host, None);
        assert!(!rows[1].is_bot && rows[1].is_repeat);
        assert_eq!(rows[1].visitor_key, 42);
        assert_eq!(rows[1].click_id, "00000000010123456789abcdef");
        // The commits wrote no rollup; readers count the clicks after the rollup's mark, the
        // rollup folds them in (in chunks) without changing what readers see.
        let rolled: i64 = link_daily::table
            .count()
            .get_result(&mut diesel)
            .expect("rollups");
        assert_eq!(rolled, 0);
        let expected = vec![LinkDaily {
            link_id: 1,
            day: "2026-11-26".to_owned(),
            clicks: 25,
            unique_clicks: 23,
            bot_clicks: 1,
        }];
        assert_eq!(links::daily_of(&mut diesel, &[1]).expect("daily"), expected);
        let mut roll = |limit| {
            crate::db::write_tx(&mut diesel, |c| links::roll_up_clicks(c, Vec::new, limit))
                .expect("rolled up")
        };
        assert_eq!(
            roll(10),
            links::RollUp {
                rolled: 10,
                behind: 15
            }
        );
        assert_eq!(
            roll(100),
            links::RollUp {
                rolled: 15,
                behind: 0
            }
        );
        assert_eq!(
            roll(100),
            links::RollUp {
                rolled: 0,
                behind: 0
            }
        );
        assert_eq!(links::daily_of(&mut diesel, &[1]).expect("daily"), expected);
        let row: (i64, i64, i64) = link_daily::table
            .select((
                link_daily::clicks,
                link_daily::unique_clicks,
                link_daily::bot_clicks,
            ))
            .get_result(&mut diesel)
            .expect("rollup");
        assert_eq!(row, (25, 23, 1));
        // The next batch continues after the largest row id.
        let next = conn.write(|c| c.next_ids(1)).expect("ids");
        assert_eq!(next, vec![26]);
    }

    #[test]
    fn the_repeat_check_compares_time_and_the_whole_visitor() {
        let (_dir, url, _diesel) = database();
        let mut conn = ClickConn::Sqlite(SqliteClicks::open(&url, None, 8000).expect("open"));
        let time = BatchTime::new(at(10, 0, 0, 500_000));
        write_one(&mut conn, &time).expect("written");
        let mut check = |ua: &str, since: NaiveDateTime| {
            conn.write(|c| c.clicked_since(1, 42, "ip", ua, &BatchTime::new(since)))
                .expect("checked")
        };
        assert!(check("ua", at(10, 0, 0, 500_000) - TimeDelta::minutes(60)));
        assert!(
            check("ua", at(10, 0, 0, 500_000)),
            "the same instant is within"
        );
        assert!(!check("ua", at(10, 0, 0, 500_001)), "later than the click");
        assert!(!check("ua", at(9, 0, 0, 0) + TimeDelta::hours(2)));
        // Same key, another user agent: the full check tells them apart.
        assert!(!check("other", at(9, 0, 0, 0)));
    }

    #[test]
    fn a_failed_batch_writes_nothing_and_the_connection_goes_on() {
        let (_dir, url, mut diesel) = database();
        let mut conn = ClickConn::Sqlite(SqliteClicks::open(&url, None, 8000).expect("open"));
        let time = BatchTime::new(at(10, 0, 0, 0));
        let failed = conn.write(|c| {
            let ids = c.next_ids(2)?;
            // The second names a link that does not exist: a foreign key error.
            c.insert(&[
                click(ids[0], 1, &time, "ua"),
                click(ids[1], 99, &time, "ua"),
            ])
        });
        let err = failed.expect_err("a missing link is refused");
        assert!(err.to_string().contains("SQLite error"), "{err}");
        assert_eq!(count(&mut diesel), 0);
        assert!(!conn.is_broken());
        write_one(&mut conn, &time).expect("the next batch is written");
        assert_eq!(count(&mut diesel), 1);
    }

    #[test]
    fn a_lock_held_elsewhere_fails_at_once_without_waiting_and_without_harm() {
        let (_dir, url, mut diesel) = database();
        let mut conn = ClickConn::Sqlite(SqliteClicks::open(&url, Some(0), 8000).expect("open"));
        let time = BatchTime::new(at(10, 0, 0, 0));
        diesel.batch_execute("BEGIN IMMEDIATE").expect("lock");
        let started = std::time::Instant::now();
        let busy = write_one(&mut conn, &time);
        assert!(busy.is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(!conn.is_broken());
        diesel.batch_execute("COMMIT").expect("unlock");
        write_one(&mut conn, &time).expect("written once the lock is free");
        assert_eq!(count(&mut diesel), 1);
    }

    #[test]
    fn statements_are_found_by_their_place() {
        // `step` finds a statement at `sql as usize` in the list prepared from `Sql::ALL`.
        for (i, sql) in Sql::ALL.into_iter().enumerate() {
            assert_eq!(sql as usize, i, "{sql:?}");
        }
    }

    #[test]
    fn a_bad_path_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("missing/dir/t.db");
        let err = SqliteClicks::open(&url.to_string_lossy(), Some(0), 8000)
            .err()
            .expect("cannot open");
        assert!(err.to_string().contains("opening the database"), "{err}");
    }
}
