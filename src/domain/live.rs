//! When a stream is live (the live board, issue 29): from the moment its creator marks it
//! live, or from its scheduled start if they never do, until they end it. A stream nobody
//! ends is over [`MAX_LIVE_HOURS`] after it started (a board left open on a forgotten stream
//! does not stay "live" for ever).

use chrono::{NaiveDateTime, TimeDelta};

/// The longest a stream is live without being ended.
pub const MAX_LIVE_HOURS: i64 = 24;

/// Where a stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not started: not marked live and its scheduled start (if any) still to come.
    Upcoming,
    Live,
    Ended,
}

/// A stream's live span as of `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub phase: Phase,
    /// When it went live (marked, or scheduled and passed).
    pub start: Option<NaiveDateTime>,
    /// When it ended (ended by its creator, or [`MAX_LIVE_HOURS`] after its start).
    pub end: Option<NaiveDateTime>,
    /// Whether the start is the schedule's (the creator never marked it live).
    pub scheduled_start: bool,
}

/// The span of a stream scheduled at `scheduled`, marked live at `started` and ended at
/// `ended`, as of `now`.
pub fn span(
    scheduled: Option<NaiveDateTime>,
    started: Option<NaiveDateTime>,
    ended: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Span {
    let start = started.or(scheduled.filter(|s| *s <= now));
    let Some(start) = start else {
        return Span {
            phase: Phase::Upcoming,
            start: None,
            end: None,
            scheduled_start: false,
        };
    };
    let cap = start + TimeDelta::hours(MAX_LIVE_HOURS);
    let end = ended.or((now >= cap).then_some(cap));
    Span {
        phase: if end.is_some() {
            Phase::Ended
        } else {
            Phase::Live
        },
        start: Some(start),
        end,
        scheduled_start: started.is_none(),
    }
}

/// Whether a stream with this span was live at `at` (a coupon sale then belongs to it).
pub fn live_at(span: &Span, at: NaiveDateTime) -> bool {
    match (span.start, span.end) {
        (Some(s), Some(e)) => s <= at && at < e,
        (Some(s), None) => s <= at,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + h * 3600, 0)
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn a_scheduled_stream_goes_live_at_its_start_unless_marked_earlier() {
        let s = span(Some(t(2)), None, None, t(1));
        assert_eq!(s.phase, Phase::Upcoming);
        let s = span(Some(t(2)), None, None, t(3));
        assert_eq!(
            (s.phase, s.start, s.scheduled_start),
            (Phase::Live, Some(t(2)), true)
        );
        let s = span(Some(t(2)), Some(t(1)), None, t(1));
        assert_eq!(
            (s.phase, s.start, s.scheduled_start),
            (Phase::Live, Some(t(1)), false)
        );
        let s = span(None, None, None, t(5));
        assert_eq!(s.phase, Phase::Upcoming);
    }

    #[test]
    fn a_stream_ends_when_ended_or_a_day_after_it_started() {
        let s = span(None, Some(t(0)), Some(t(3)), t(4));
        assert_eq!((s.phase, s.end), (Phase::Ended, Some(t(3))));
        assert!(live_at(&s, t(0)) && live_at(&s, t(2)) && !live_at(&s, t(3)));
        let s = span(None, Some(t(0)), None, t(23));
        assert_eq!(s.phase, Phase::Live);
        let s = span(None, Some(t(0)), None, t(24));
        assert_eq!((s.phase, s.end), (Phase::Ended, Some(t(24))));
    }
}
