//! SQLite's daily click rollups, in the background. On SQLite a click commit writes only its
//! clicks; adding them to `link_daily` in the same commit was one more statement and one more
//! page written per commit (about 5 % of a redirect's CPU, measured with `wrk` on one
//! worker). This thread folds committed clicks into `link_daily` instead, a few times a
//! second, each pass in a write transaction of its own that also moves the rollup's mark
//! (`click_rollup`): a crash between two passes loses nothing and counts nothing twice.
//! Readers add the clicks after the mark (`db::links::daily_of`), so the dashboards are exact
//! whether or not this thread has caught up.
//!
//! Where the counts come from: each click commit of this process reports its row ids (a
//! commit's are consecutive) and its counts per link ([`Reports`]), so a pass adds those up
//! without reading the clicks again. Clicks no report covers — another process's on the same
//! file, a report lost to a crash or to the cap, clicks from before a restart — are counted
//! from their rows, at most [`CHUNK`] per pass (`db::links::roll_up_clicks` does both). Either
//! way the pass covers every click from the mark up to the largest row id, which under the
//! write lock are all committed (SQLite's ids are given in commit order). It runs in every process
//! that serves, and once more when it is told to stop. Nothing of this runs on PostgreSQL,
//! whose click commits add to the rollups themselves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::db::links::{Committed, RollUp, roll_up_clicks};
use crate::db::{self, Pool};

/// Clicks counted from their rows per pass (a few milliseconds under the write lock, during
/// which the HTTP workers hand their clicks to the click writer thread).
pub const CHUNK: i64 = 20_000;
/// Pause between passes once caught up; and between passes while behind, so the click
/// writers get the lock in between.
const CAUGHT_UP_PAUSE: Duration = Duration::from_millis(250);
const BEHIND_PAUSE: Duration = Duration::from_millis(2);
/// How often the pause looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(50);
/// Reports kept between passes at most (about 100 bytes each); past it, clicks are counted
/// from their rows.
const MAX_REPORTS: usize = 100_000;

/// The click commits of this process since the rollup's last pass.
#[derive(Debug, Default)]
pub struct Reports(Mutex<Vec<Committed>>);

impl Reports {
    /// Called after a click transaction committed.
    pub fn add(&self, committed: Committed) {
        let mut reports = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if reports.len() < MAX_REPORTS {
            reports.push(committed);
        }
    }

    fn take(&self) -> Vec<Committed> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Starts the rollup on its own thread (SQLite only), until `stop` is set; it then folds in
/// what is left and exits. It takes a connection from the pool for each pass and gives it
/// back.
pub fn spawn(
    pool: Pool,
    reports: Arc<Reports>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("click-rollup".to_owned())
        .spawn(move || run(&pool, &reports, &stop))
        .expect("the rollup thread starts")
}

fn run(pool: &Pool, reports: &Reports, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let pause = match pass(pool, reports) {
            Ok(done) if done.behind > 0 => BEHIND_PAUSE,
            Ok(_) => CAUGHT_UP_PAUSE,
            Err(e) => {
                tracing::warn!(error = %e, "click rollup failed; trying again");
                CAUGHT_UP_PAUSE
            }
        };
        let mut slept = Duration::ZERO;
        while slept < pause && !stop.load(Ordering::Relaxed) {
            let step = STOP_CHECK.min(pause - slept);
            std::thread::sleep(step);
            slept += step;
        }
    }
    if let Err(e) = catch_up(pool, reports) {
        tracing::warn!(error = %e, "click rollup at shutdown failed; the next start goes on");
    }
}

/// Folds in every click committed so far, pass by pass.
pub fn catch_up(pool: &Pool, reports: &Reports) -> anyhow::Result<()> {
    while pass(pool, reports)?.behind > 0 {}
    Ok(())
}

/// One pass, in a write transaction of its own (`db::links::roll_up_clicks`). If it fails,
/// the reports it took are gone and their clicks are counted from their rows later.
fn pass(pool: &Pool, reports: &Reports) -> anyhow::Result<RollUp> {
    let mut conn = pool.get()?;
    // The reports are taken once the largest row id is read under the lock: each is of a
    // commit at or before it.
    Ok(db::write_tx(&mut conn, |c| {
        roll_up_clicks(c, || reports.take(), CHUNK)
    })?)
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveDateTime};
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel_migrations::MigrationHarness;

    use super::*;
    use crate::db::DbConn;
    use crate::db::models::{BatchTime, LinkDaily, NewClick};
    use crate::db::schema::link_daily;

    /// A migrated SQLite database with links 1 and 2 (their owners left out, foreign keys
    /// off for the set-up) and a pool on it.
    fn database() -> (tempfile::TempDir, Pool) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir.path().join("t.db").to_string_lossy().into_owned();
        let pool = db::build_pool(&url, Some(3)).expect("pool");
        let mut conn = pool.get().expect("conn");
        db::run_migrations(&mut conn).expect("migrate");
        conn.batch_execute(
            "PRAGMA foreign_keys = OFF; \
             INSERT INTO links (id, code, collaboration_id, influencer_id, merchant_id, \
             campaign_id, destination, label, created_at) VALUES \
             (1, 'abcdefgh', 1, 1, 1, 1, 'https://shop.example/', '', '2026-11-01 00:00:00'), \
             (2, 'bcdefghi', 1, 1, 1, 1, 'https://shop.example/', '', '2026-11-01 00:00:00'); \
             PRAGMA foreign_keys = ON;",
        )
        .expect("links");
        drop(conn);
        (dir, pool)
    }

    fn at(day: u32, h: u32, m: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, day)
            .and_then(|d| d.and_hms_opt(h, m, 0))
            .expect("a time")
    }

    /// Writes clicks (link, time, bot, repeat) in one transaction, as a click commit does.
    fn clicks(pool: &Pool, rows: &[(i64, NaiveDateTime, bool, bool)]) {
        let mut conn = pool.get().expect("conn");
        db::write_tx(&mut conn, |c| -> diesel::QueryResult<()> {
            let ids = db::links::next_click_ids(c, rows.len())?;
            let times: Vec<BatchTime> = rows.iter().map(|r| BatchTime::new(r.1)).collect();
            let new: Vec<NewClick<'_>> = rows
                .iter()
                .zip(&ids)
                .zip(&times)
                .map(|((&(link_id, _, is_bot, is_repeat), &id), time)| NewClick {
                    id,
                    click_id: "00000000010123456789abcdef",
                    link_id,
                    stream_id: None,
                    created_at: time,
                    ip_hash: "ip",
                    ua_hash: "ua",
                    referrer_host: None,
                    is_bot,
                    is_repeat,
                    visitor_key: 1,
                })
                .collect();
            db::links::insert_clicks(c, &new)?;
            Ok(())
        })
        .expect("clicks written");
    }

    /// `link_daily` alone (what the rollup has folded in), latest day first.
    fn rolled(pool: &Pool) -> Vec<LinkDaily> {
        link_daily::table
            .order((link_daily::day.desc(), link_daily::link_id))
            .select(LinkDaily::as_select())
            .load(&mut pool.get().expect("conn"))
            .expect("rollups")
    }

    fn day(link_id: i64, day: &str, clicks: i64, unique: i64, bots: i64) -> LinkDaily {
        LinkDaily {
            link_id,
            day: day.to_owned(),
            clicks,
            unique_clicks: unique,
            bot_clicks: bots,
        }
    }

    #[test]
    fn the_thread_folds_in_each_click_once_by_its_own_day_and_catches_up_when_stopped() {
        let (_dir, pool) = database();
        // Link 1 on either side of midnight (one repeat, one bot); link 2 once.
        clicks(
            &pool,
            &[
                (1, at(25, 23, 59), false, false),
                (1, at(26, 0, 1), false, true),
                (1, at(26, 0, 2), true, false),
                (2, at(26, 9, 0), false, false),
            ],
        );
        let expected = vec![
            day(1, "2026-11-26", 2, 0, 1),
            day(2, "2026-11-26", 1, 1, 0),
            day(1, "2026-11-25", 1, 1, 0),
        ];
        // Readers see every click before the rollup has run.
        let mut conn = pool.get().expect("conn");
        assert_eq!(db::links::daily_of(&mut conn, &[1, 2]).unwrap(), expected);
        drop(conn);

        let stop = Arc::new(AtomicBool::new(false));
        let thread = spawn(pool.clone(), Arc::new(Reports::default()), stop.clone());
        let started = std::time::Instant::now();
        while rolled(&pool) != expected {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "rolled up: {:?}",
                rolled(&pool)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Written just before the stop: the last pass takes it.
        clicks(&pool, &[(2, at(26, 10, 0), false, false)]);
        stop.store(true, Ordering::Relaxed);
        thread.join().expect("the rollup stops when told");
        let expected = vec![
            day(1, "2026-11-26", 2, 0, 1),
            day(2, "2026-11-26", 2, 2, 0),
            day(1, "2026-11-25", 1, 1, 0),
        ];
        assert_eq!(rolled(&pool), expected);
        let mut conn = pool.get().expect("conn");
        assert_eq!(db::links::daily_of(&mut conn, &[1, 2]).unwrap(), expected);
        assert_eq!(
            db::links::daily_of(&mut conn, &[2]).unwrap(),
            vec![day(2, "2026-11-26", 2, 2, 0)],
            "only the links asked for"
        );
    }

    #[test]
    fn chunks_add_up_and_readers_see_the_same_totals_at_every_step() {
        let (_dir, pool) = database();
        let n = usize::try_from(CHUNK).unwrap() * 2 + 7;
        let rows: Vec<_> = (0..n)
            .map(|i| (1, at(26, 12, 0), i % 10 == 0, i % 3 == 0))
            .collect();
        clicks(&pool, &rows);
        let bots = (0..n).filter(|i| i % 10 == 0).count();
        let unique = (0..n).filter(|i| i % 10 != 0 && i % 3 != 0).count();
        let all = vec![day(
            1,
            "2026-11-26",
            i64::try_from(n).unwrap(),
            i64::try_from(unique).unwrap(),
            i64::try_from(bots).unwrap(),
        )];
        let mut behind = Vec::new();
        loop {
            let done = pass(&pool, &Reports::default()).expect("a pass");
            let mut conn = pool.get().expect("conn");
            assert_eq!(db::links::daily_of(&mut conn, &[1]).unwrap(), all);
            behind.push(done.behind);
            if done.behind == 0 {
                break;
            }
        }
        assert_eq!(behind, vec![CHUNK + 7, 7, 0]);
        assert_eq!(rolled(&pool), all);
        assert_eq!(
            pass(&pool, &Reports::default()).unwrap().rolled,
            0,
            "nothing twice"
        );
        assert_eq!(rolled(&pool), all);
    }

    #[test]
    fn the_migration_marks_earlier_clicks_as_rolled_up_and_its_revert_folds_in_the_rest() {
        let (_dir, pool) = database();
        clicks(&pool, &[(1, at(26, 8, 0), false, false)]);
        catch_up(&pool, &Reports::default()).expect("rolled up");
        clicks(&pool, &[(1, at(26, 9, 0), true, false)]);
        let mut conn = pool.get().expect("conn");
        let DbConn::Sqlite(inner) = &mut *conn else {
            panic!("SQLite")
        };
        // Back to the code that rolls up in each commit (the later migrations reverted
        // first): the click after the mark goes in.
        while !inner
            .revert_last_migration(db::SQLITE_MIGRATIONS)
            .expect("reverted")
            .to_string()
            .ends_with("000008")
        {}
        drop(conn);
        let both = vec![day(1, "2026-11-26", 2, 1, 1)];
        assert_eq!(rolled(&pool), both);
        // And forward again: the mark starts after every click, none counted twice.
        db::run_migrations(&mut pool.get().expect("conn")).expect("migrated");
        assert_eq!(pass(&pool, &Reports::default()).unwrap().rolled, 0);
        let mut conn = pool.get().expect("conn");
        assert_eq!(db::links::daily_of(&mut conn, &[1]).unwrap(), both);
    }

    #[test]
    fn reports_count_the_ids_they_cover_rows_count_the_rest_and_old_reports_are_dropped() {
        let (_dir, pool) = database();
        let rows: Vec<_> = (0..6).map(|_| (1, at(26, 12, 0), false, false)).collect();
        clicks(&pool, &rows);
        // Ids 2-3 and 5 reported, with counts deliberately unlike their rows (which are all
        // unique) to tell which were used; 1, 4 and 6 are counted from their rows.
        let reports = Reports::default();
        for (first, last, n) in [(5, 5, 1), (2, 3, 2)] {
            reports.add(Committed {
                first,
                last,
                day: "2026-11-26".to_owned(),
                quarter: 1_795_651_200,
                minute: 1_795_651_200,
                streamed: Vec::new(),
                links: vec![(1, n, 0, 0)],
            });
        }
        assert_eq!(
            pass(&pool, &reports).unwrap(),
            RollUp {
                rolled: 6,
                behind: 0
            }
        );
        assert_eq!(rolled(&pool), vec![day(1, "2026-11-26", 6, 3, 0)]);
        // A report of clicks already counted from their rows (it came late) adds nothing.
        reports.add(Committed {
            first: 6,
            last: 6,
            day: "2026-11-26".to_owned(),
            quarter: 1_795_651_200,
            minute: 1_795_651_200,
            streamed: Vec::new(),
            links: vec![(1, 1, 1, 0)],
        });
        clicks(&pool, &[(2, at(27, 0, 0), true, false)]);
        assert_eq!(pass(&pool, &reports).unwrap().rolled, 1);
        assert_eq!(
            rolled(&pool),
            vec![day(2, "2026-11-27", 1, 0, 1), day(1, "2026-11-26", 6, 3, 0)]
        );
    }
}
