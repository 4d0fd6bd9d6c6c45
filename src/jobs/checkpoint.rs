//! SQLite's WAL checkpoints, in the background. Left to itself, SQLite checkpoints inside the
//! commit that finds the WAL over 1,000 pages: with the click writer committing thousands of
//! batches a second, that is the writer copying pages into the database file and waiting for
//! their `fsync` while redirects wait for it. This thread copies them instead (a passive
//! checkpoint every few milliseconds while the WAL grows, which never blocks a writer or a
//! reader), and the click writer keeps only a far threshold of its own (`WRITER_FRAMES`)
//! for when this one falls behind: under nonstop writes a passive checkpoint never finds the
//! WAL idle enough to start it over, and the writer's own checkpoint, with little left to
//! copy, lets the next transaction do so. Nothing of this runs on PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::RunQueryDsl;

use crate::db::{DbConn, Pool};

/// WAL pages after which the click writer checkpoints in its own commit (about 32 MB).
pub const WRITER_FRAMES: i32 = 8_000;
/// Pause between passive checkpoints while the WAL grows; and while it does not.
const BUSY_PAUSE: Duration = Duration::from_millis(5);
const IDLE_PAUSE: Duration = Duration::from_millis(100);

#[derive(diesel::QueryableByName)]
struct Checkpoint {
    /// Frames in the WAL (-1 if the checkpoint could not run).
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
}

/// Starts the checkpointer on its own thread (SQLite only), until `stop` is set. It takes a
/// connection from the pool for each checkpoint and gives it back, so it never holds one
/// that requests may need.
pub fn spawn(pool: Pool, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("wal-checkpoint".to_owned())
        .spawn(move || run(&pool, &stop))
        .expect("the checkpoint thread starts")
}

fn run(pool: &Pool, stop: &AtomicBool) {
    // The WAL's size at the last pass: while it changes, writes are coming.
    let mut last = 0;
    while !stop.load(Ordering::Relaxed) {
        let pause = match checkpoint(pool) {
            Ok(frames) => {
                let writing = frames != last;
                last = frames;
                if writing { BUSY_PAUSE } else { IDLE_PAUSE }
            }
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; trying again");
                IDLE_PAUSE
            }
        };
        std::thread::sleep(pause);
    }
}

/// One passive checkpoint; the frames the WAL held.
fn checkpoint(pool: &Pool) -> anyhow::Result<i32> {
    let mut conn = pool.get()?;
    let DbConn::Sqlite(inner) = &mut *conn else {
        return Ok(0);
    };
    let result: Vec<Checkpoint> =
        diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").load(inner)?;
    Ok(result.first().map_or(0, |r| r.log))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;

    #[derive(diesel::QueryableByName)]
    struct Frames {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        log: i32,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        checkpointed: i32,
    }

    fn passive(conn: &mut DbConn) -> Frames {
        let DbConn::Sqlite(inner) = conn else {
            panic!("SQLite")
        };
        diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)")
            .load::<Frames>(inner)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn the_checkpointer_copies_what_writers_leave_in_the_wal_and_stops_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("t.db").to_string_lossy().into_owned();
        let pool = crate::db::build_pool(&url, Some(3)).unwrap();
        let mut writer = pool.get().unwrap();
        {
            let DbConn::Sqlite(inner) = &mut *writer else {
                panic!("SQLite")
            };
            // A writer that never checkpoints itself, as the click writer mostly does not.
            inner
                .batch_execute(
                    "PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x TEXT); \
                     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
                     INSERT INTO t SELECT hex(randomblob(64)) FROM n;",
                )
                .unwrap();
        }
        assert!(checkpoint(&pool).unwrap() > 0, "the WAL held the writes");
        let after = passive(&mut writer);
        assert_eq!(after.checkpointed, after.log, "every frame copied");

        let stop = Arc::new(AtomicBool::new(false));
        let thread = spawn(pool.clone(), stop.clone());
        stop.store(true, Ordering::Relaxed);
        thread.join().expect("the checkpointer stops when told");
    }
}
