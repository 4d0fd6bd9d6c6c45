//! Time comes from a `Clock`: the system clock in production, a settable one in tests, so
//! expiries and windows are tested without sleeping.

use std::sync::Mutex;

use chrono::{NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Tz;

pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC, to the microsecond (what both databases store).
    fn now(&self) -> NaiveDateTime;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        truncate_micros(Utc::now().naive_utc())
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<NaiveDateTime>,
}

impl ManualClock {
    pub fn new(start: NaiveDateTime) -> Self {
        ManualClock {
            now: Mutex::new(truncate_micros(start)),
        }
    }

    pub fn starting_now() -> Self {
        ManualClock::new(Utc::now().naive_utc())
    }

    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }

    pub fn set(&self, to: NaiveDateTime) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = truncate_micros(to);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> NaiveDateTime {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn truncate_micros(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    let nanos = t.nanosecond() / 1_000 * 1_000;
    t.with_nanosecond(nanos).unwrap_or(t)
}
/// A time in the reader's zone, labelled unambiguously by its offset ("2026-12-05 14:02
/// UTC+08:00"; "CST" alone could be China or US Central).
pub fn fmt_datetime(t: NaiveDateTime, tz: Tz) -> String {
    let local = t.and_utc().with_timezone(&tz);
    let offset = local.format("%:z").to_string();
    if offset == "+00:00" {
        local.format("%Y-%m-%d %H:%M UTC").to_string()
    } else {
        format!("{} UTC{offset}", local.format("%Y-%m-%d %H:%M"))
    }
}

/// Stored texts (a commission's explanation, an order's trace) keep instants in UTC as
/// "2026-01-01 21:10 UTC"; shown to a person, each is written in their zone instead.
pub fn localize(text: &str, tz: Tz) -> String {
    const LEN: usize = "2026-01-01 21:10 UTC".len();
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(pos) = rest.find(" UTC") {
        let end = pos + 4;
        // The 16 characters before " UTC" must be a date and time.
        let start = pos.checked_sub(LEN - 4);
        let parsed = start.and_then(|s| {
            rest.get(s..pos)
                .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M").ok())
                .map(|t| (s, t))
        });
        match parsed {
            Some((s, t)) => {
                out.push_str(&rest[..s]);
                out.push_str(&fmt_datetime(t, tz));
            }
            None => out.push_str(&rest[..end]),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

pub fn fmt_date(t: NaiveDateTime, tz: Tz) -> String {
    t.and_utc()
        .with_timezone(&tz)
        .format("%Y-%m-%d")
        .to_string()
}
