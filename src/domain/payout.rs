//! Payouts (DESIGN.md §3 "Payouts"): when a schedule fires, and who a run pays and why not.
//!
//! Both are pure functions, so they are property-tested; the service reads balances from the
//! database, calls [`plan`], and writes what it returns.
//!
//! **Time zones and DST.** A schedule's cron expression is read on the wall clock of its
//! zone. A local time that a spring-forward skips (02:30 on the night the clocks jump from
//! 02:00 to 03:00) fires at the first instant after the gap (03:00 local): a weekly payout
//! is late by the gap, never skipped. A local time that a fall-back repeats (01:30 twice)
//! fires once, at its first occurrence.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::money::display_in;

/// A parsed schedule: a cron expression (the `cron` crate's form, seconds first) read in a
/// time zone.
#[derive(Debug, Clone)]
pub struct FireRule {
    cron: cron::Schedule,
    tz: Tz,
}

impl FireRule {
    /// Parses the expression and the zone, with a message that says what is wrong.
    pub fn parse(expression: &str, zone: &str) -> Result<FireRule, (&'static str, String)> {
        let tz: Tz = zone
            .trim()
            .parse()
            .map_err(|_| ("time_zone", "Choose a time zone from the list.".to_owned()))?;
        let fields = expression.split_whitespace().count();
        if !(6..=7).contains(&fields) {
            return Err((
                "cron",
                format!(
                    "A schedule has 6 or 7 fields, seconds first: sec min hour day month weekday [year], e.g. \"0 0 9 * * Mon\" (Mondays at 09:00). This one has {fields}."
                ),
            ));
        }
        if let Some(why) = explain_cron(expression) {
            return Err(("cron", why));
        }
        let cron = cron::Schedule::from_str(expression.trim()).map_err(|_| {
            (
                "cron",
                "This is not a schedule the parser understands. Fields are sec min hour day month weekday [year], e.g. \"0 0 9 * * Mon\" (Mondays at 09:00).".to_owned(),
            )
        })?;
        Ok(FireRule { cron, tz })
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The fire times strictly after `after`, as instants, in order: the cron expression
    /// walked once on the zone's wall clock (from a few hours early, so that a repeated hour
    /// is seen from its first pass), each wall time mapped to its instant.
    pub fn fires_after(&self, after: NaiveDateTime) -> impl Iterator<Item = NaiveDateTime> + '_ {
        let local_after = Utc
            .from_utc_datetime(&after)
            .with_timezone(&self.tz)
            .naive_local();
        let start = Utc.from_utc_datetime(&(local_after - TimeDelta::hours(3)));
        let mut last: Option<NaiveDateTime> = None;
        self.cron.after_owned(start).filter_map(move |wall| {
            let at = self.instant_of(wall.naive_utc())?;
            if at <= after || last.is_some_and(|l| l >= at) {
                return None;
            }
            last = Some(at);
            Some(at)
        })
    }

    /// The next `n` fire times strictly after `after`.
    pub fn next_fires(&self, after: NaiveDateTime, n: usize) -> Vec<NaiveDateTime> {
        self.fires_after(after).take(n).collect()
    }

    /// Every fire time in `(after, until]`, at most `limit` of them (a catch-up counts them).
    pub fn fires_between(
        &self,
        after: NaiveDateTime,
        until: NaiveDateTime,
        limit: usize,
    ) -> Vec<NaiveDateTime> {
        self.fires_after(after)
            .take_while(|t| *t <= until)
            .take(limit)
            .collect()
    }

    /// The instant (UTC) a wall-clock time stands for: itself; the first of two (fall-back);
    /// the end of the gap it falls in (spring-forward).
    fn instant_of(&self, wall: NaiveDateTime) -> Option<NaiveDateTime> {
        match self.tz.from_local_datetime(&wall) {
            LocalResult::Single(t) => Some(t.naive_utc()),
            LocalResult::Ambiguous(first, _) => Some(first.naive_utc()),
            LocalResult::None => {
                // The gap ends on a whole minute: the first wall-clock minute that exists
                // after it (gaps are at most a few hours).
                use chrono::Timelike;
                let minute = wall.with_second(0)?.with_nanosecond(0)?;
                (1..=6 * 60).find_map(|m| {
                    self.tz
                        .from_local_datetime(&(minute + TimeDelta::minutes(m)))
                        .earliest()
                        .map(|t| t.naive_utc())
                })
            }
        }
    }
}

/// The fields of a cron expression in order: (name, lowest, highest, names allowed).
const CRON_FIELDS: [(&str, u32, u32, &[&str]); 7] = [
    ("seconds", 0, 59, &[]),
    ("minutes", 0, 59, &[]),
    ("hours", 0, 23, &[]),
    ("day of month", 1, 31, &[]),
    (
        "month",
        1,
        12,
        &[
            "jan",
            "feb",
            "mar",
            "apr",
            "may",
            "jun",
            "jul",
            "aug",
            "sep",
            "oct",
            "nov",
            "dec",
            "january",
            "february",
            "march",
            "april",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
    ),
    (
        "weekday",
        1,
        7,
        &[
            "sun",
            "mon",
            "tue",
            "wed",
            "thu",
            "fri",
            "sat",
            "sunday",
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
        ],
    ),
    ("year", 1970, 2099, &[]),
];

/// What is wrong with a cron expression, in words (`None` when each field reads well; the
/// parser has the last word). Says which field, what it holds and what it may hold.
pub fn explain_cron(expression: &str) -> Option<String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    for (text, (name, lo, hi, names)) in fields.iter().zip(CRON_FIELDS) {
        let allowed = if names.is_empty() {
            format!("{lo} to {hi}")
        } else {
            format!("{lo} to {hi} or names like {}", names[..3].join(", "))
        };
        let say = |what: String| {
            Some(format!(
                "The {name} field \u{201c}{text}\u{201d} {what}. It takes {allowed}, a range (1-5), a list (1,15), a step (*/2) or * for every one."
            ))
        };
        if text.starts_with(',') || text.ends_with(',') || text.contains(",,") {
            return say("has a comma with nothing on one side: separate the items of a list with single commas, like Mon,Fri".to_owned());
        }
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (item, None),
            };
            if let Some(step) = step {
                match step.parse::<u32>() {
                    Ok(n) if n > 0 => {}
                    _ => {
                        return say(format!(
                            "has the step \u{201c}/{step}\u{201d}: a step is a whole number of 1 or more"
                        ));
                    }
                }
            }
            if range == "*" || range == "?" {
                continue;
            }
            let value = |v: &str| -> Result<u32, String> {
                if let Ok(n) = v.parse::<u32>() {
                    return if (lo..=hi).contains(&n) {
                        Ok(n)
                    } else {
                        Err(format!("has {n}, outside {lo} to {hi}"))
                    };
                }
                if !names.is_empty() && names.contains(&v.to_lowercase().as_str()) {
                    return Ok(0);
                }
                Err(if v.is_empty() {
                    "has a dash with nothing on one side".to_owned()
                } else {
                    format!("has \u{201c}{v}\u{201d}, which is not a value of this field")
                })
            };
            let parts: Vec<&str> = range.split('-').collect();
            if parts.len() > 2 {
                return say("has more than one dash in a range".to_owned());
            }
            for part in &parts {
                if let Err(e) = value(part) {
                    return say(e);
                }
            }
        }
    }
    None
}

/// The common schedules the form offers beside the cron field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Weekly on a weekday (Mon..Sun, 1 = Monday here) at a time.
    Weekly {
        weekday: u32,
        hour: u32,
        minute: u32,
    },
    /// Twice a month, on the 1st and the 15th, at a time.
    TwiceMonthly { hour: u32, minute: u32 },
    /// Monthly on a day (1 to 28, so that every month has it) at a time.
    Monthly { day: u32, hour: u32, minute: u32 },
}

/// Weekday names as the form shows them and cron reads them, Monday first.
pub const WEEKDAYS: [(&str, &str); 7] = [
    ("Mon", "Monday"),
    ("Tue", "Tuesday"),
    ("Wed", "Wednesday"),
    ("Thu", "Thursday"),
    ("Fri", "Friday"),
    ("Sat", "Saturday"),
    ("Sun", "Sunday"),
];

impl Preset {
    /// The cron expression (seconds first) it stands for.
    pub fn cron(&self) -> String {
        match *self {
            Preset::Weekly {
                weekday,
                hour,
                minute,
            } => format!(
                "0 {minute} {hour} * * {}",
                WEEKDAYS[(weekday.clamp(1, 7) - 1) as usize].0
            ),
            Preset::TwiceMonthly { hour, minute } => format!("0 {minute} {hour} 1,15 * *"),
            Preset::Monthly { day, hour, minute } => format!("0 {minute} {hour} {day} * *"),
        }
    }

    /// The preset a cron expression is, when it is one (so the form shows it chosen).
    pub fn of(expression: &str) -> Option<Preset> {
        let f: Vec<&str> = expression.split_whitespace().collect();
        let [sec, minute, hour, day, month, weekday] = f.as_slice() else {
            return None;
        };
        let num = |s: &str, hi: u32| s.parse::<u32>().ok().filter(|n| *n <= hi);
        let (minute, hour) = (num(minute, 59)?, num(hour, 23)?);
        if *sec != "0" || *month != "*" {
            return None;
        }
        match (*day, *weekday) {
            ("*" | "?", w) => WEEKDAYS
                .iter()
                .position(|(short, _)| short.eq_ignore_ascii_case(w))
                .map(|i| Preset::Weekly {
                    weekday: i as u32 + 1,
                    hour,
                    minute,
                }),
            ("1,15", "*" | "?") => Some(Preset::TwiceMonthly { hour, minute }),
            (d, "*" | "?") => {
                num(d, 28)
                    .filter(|d| *d >= 1)
                    .map(|day| Preset::Monthly { day, hour, minute })
            }
            _ => None,
        }
    }
}

/// A fire time in the schedule's zone and in UTC, for the schedule form's preview.
pub fn describe_fire(at: NaiveDateTime, tz: Tz) -> (String, String) {
    let local: DateTime<Tz> = Utc.from_utc_datetime(&at).with_timezone(&tz);
    (
        format!(
            "{} {}",
            local.format("%a %Y-%m-%d %H:%M"),
            local.format("%Z (UTC%:z)")
        ),
        at.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// What a payout can settle: an available commission (what is left of it after refunds) or
/// a clawback not yet offset (negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Settles {
    Commission(i64),
    Clawback(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settleable {
    pub influencer_id: i64,
    pub settles: Settles,
    /// Positive for a commission, negative for a clawback.
    pub amount_minor: i64,
}

/// What planning needs to know about an influencer besides their balance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payee {
    /// Their payout method (`bank`, `paypal`, ...), when they have one.
    pub method: Option<String>,
    /// Commissions frozen for review, in the run's currency.
    pub frozen_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPayout {
    pub influencer_id: i64,
    pub amount_minor: i64,
    pub method: String,
    pub items: Vec<Settleable>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    pub influencer_id: i64,
    pub available_minor: i64,
    pub reason: String,
}

/// A commission a pay-when-paid schedule does not pay yet: its merchant has not paid the
/// invoice that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub influencer_id: i64,
    pub commission_id: i64,
    pub amount_minor: i64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub payouts: Vec<PlannedPayout>,
    pub left_out: Vec<LeftOut>,
    /// Commissions held back by pay-when-paid (in no payout, and not in `left_out`'s sums).
    pub waiting: Vec<Waiting>,
}

impl Plan {
    pub fn total_minor(&self) -> i64 {
        self.payouts.iter().map(|p| p.amount_minor).sum()
    }
}

/// Who a run pays and who it leaves out, and why. Every influencer whose items add up to at
/// least `minimum` (and more than zero) and who has a payout method gets one payout that
/// settles exactly those items; everyone else with something available, negative or frozen
/// gets a reason they will read on their earnings page.
///
/// With pay-when-paid, `waiting` names the commissions whose merchant has not paid the
/// invoice holding them (commission id → why, "waiting for Jade Leaf Tea Co. to pay invoice
/// INV-2026-000123 (due 14 Dec 2026)"): they are left out of every payout and listed in
/// `Plan::waiting`; the rest is planned as if they were not there, and a creator left with
/// no payout is told what they wait for.
pub fn plan(
    currency: &str,
    minimum_minor: i64,
    items: &[Settleable],
    payees: &HashMap<i64, Payee>,
    waiting: &HashMap<i64, String>,
) -> Plan {
    let mut by_influencer: BTreeMap<i64, Vec<Settleable>> = BTreeMap::new();
    let mut plan = Plan::default();
    for it in items {
        if let Settles::Commission(id) = it.settles
            && let Some(reason) = waiting.get(&id)
        {
            plan.waiting.push(Waiting {
                influencer_id: it.influencer_id,
                commission_id: id,
                amount_minor: it.amount_minor,
                reason: reason.clone(),
            });
            continue;
        }
        by_influencer.entry(it.influencer_id).or_default().push(*it);
    }
    plan.waiting
        .sort_by_key(|w| (w.influencer_id, w.commission_id));
    let money = |minor: i64| display_in(minor, currency);
    // What each creator waits for, in words: "¥120.00 waiting for … ; ¥30.00 waiting for …".
    let waits_of = |influencer_id: i64| -> Option<String> {
        let mut by_reason: BTreeMap<&str, i64> = BTreeMap::new();
        for w in plan
            .waiting
            .iter()
            .filter(|w| w.influencer_id == influencer_id)
        {
            *by_reason.entry(w.reason.as_str()).or_default() += w.amount_minor;
        }
        (!by_reason.is_empty()).then(|| {
            by_reason
                .iter()
                .map(|(r, a)| format!("{} {r}", money(*a)))
                .collect::<Vec<_>>()
                .join("; ")
        })
    };
    let mut waiters: Vec<i64> = plan.waiting.iter().map(|w| w.influencer_id).collect();
    waiters.dedup();
    for id in waiters {
        by_influencer.entry(id).or_default();
    }
    for (influencer_id, mut its) in by_influencer {
        if its.is_empty() {
            // Everything they have waits for merchants to pay.
            if let Some(w) = waits_of(influencer_id) {
                plan.left_out.push(LeftOut {
                    influencer_id,
                    available_minor: 0,
                    reason: w,
                });
            }
            continue;
        }
        its.sort_by_key(|i| i.settles);
        let total: i64 = its.iter().map(|i| i.amount_minor).sum();
        let clawed: i64 = its
            .iter()
            .filter(|i| matches!(i.settles, Settles::Clawback(_)))
            .map(|i| -i.amount_minor)
            .sum();
        let payee = payees.get(&influencer_id).cloned().unwrap_or_default();
        let reason = if total < 0 {
            Some(format!(
                "balance negative after a clawback of {}: {} available",
                money(clawed),
                money(total)
            ))
        } else if total == 0 {
            Some(if clawed > 0 {
                format!(
                    "nothing to pay: a clawback of {} took all {} earned",
                    money(clawed),
                    money(clawed)
                )
            } else {
                "nothing available".to_owned()
            })
        } else if total < minimum_minor {
            Some(format!(
                "below the minimum {}: {} available",
                money(minimum_minor),
                money(total)
            ))
        } else if payee.method.is_none() {
            Some(format!(
                "no payout method: add one on your profile to be paid {}",
                money(total)
            ))
        } else {
            None
        };
        let reason = match (reason, waits_of(influencer_id)) {
            (Some(r), Some(w)) => Some(format!("{w}; and {r}")),
            (r, _) => r,
        };
        match reason {
            Some(reason) => plan.left_out.push(LeftOut {
                influencer_id,
                available_minor: total,
                reason,
            }),
            None => plan.payouts.push(PlannedPayout {
                influencer_id,
                amount_minor: total,
                method: payee.method.unwrap_or_default(),
                items: its,
            }),
        }
    }
    // Those with only frozen amounts are told why nothing moves.
    let mut frozen: Vec<(&i64, &Payee)> = payees
        .iter()
        .filter(|(id, p)| {
            p.frozen_minor > 0
                && !plan.payouts.iter().any(|x| x.influencer_id == **id)
                && !plan.left_out.iter().any(|x| x.influencer_id == **id)
        })
        .collect();
    frozen.sort_by_key(|(id, _)| **id);
    for (id, p) in frozen {
        plan.left_out.push(LeftOut {
            influencer_id: *id,
            available_minor: 0,
            reason: format!(
                "frozen for review: {} held until finance releases it",
                money(p.frozen_minor)
            ),
        });
    }
    plan.left_out.sort_by_key(|l| l.influencer_id);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn a_skipped_local_time_fires_when_the_gap_ends() {
        // Los Angeles springs forward on 2027-03-14: 02:00 PST becomes 03:00 PDT.
        let r = FireRule::parse("0 30 2 * * *", "America/Los_Angeles").unwrap();
        let fires = r.next_fires(utc("2027-03-13 00:00"), 3);
        // 13th 02:30 PST = 10:30 UTC; 14th: no 02:30, fires at 03:00 PDT = 10:00 UTC;
        // 15th 02:30 PDT = 09:30 UTC.
        assert_eq!(
            fires,
            vec![
                utc("2027-03-13 10:30"),
                utc("2027-03-14 10:00"),
                utc("2027-03-15 09:30")
            ]
        );
        // Berlin springs forward on 2027-03-28: 02:00 CET becomes 03:00 CEST.
        let r = FireRule::parse("0 30 2 * * *", "Europe/Berlin").unwrap();
        let fires = r.next_fires(utc("2027-03-27 00:00"), 3);
        assert_eq!(
            fires,
            vec![
                utc("2027-03-27 01:30"),
                utc("2027-03-28 01:00"),
                utc("2027-03-29 00:30")
            ]
        );
    }

    #[test]
    fn a_repeated_local_time_fires_once() {
        // Los Angeles falls back on 2027-11-07: 01:00-02:00 happens twice.
        let r = FireRule::parse("0 30 1 * * *", "America/Los_Angeles").unwrap();
        let fires = r.next_fires(utc("2027-11-06 00:00"), 3);
        // 6th 01:30 PDT = 08:30 UTC; 7th the first 01:30 (PDT) = 08:30 UTC, not again at
        // 09:30; 8th 01:30 PST = 09:30 UTC.
        assert_eq!(
            fires,
            vec![
                utc("2027-11-06 08:30"),
                utc("2027-11-07 08:30"),
                utc("2027-11-08 09:30")
            ]
        );
        // Berlin falls back on 2027-10-31: 02:00-03:00 happens twice. Every 30 minutes
        // through the night fires at each wall-clock time once.
        let r = FireRule::parse("0 0/30 1-3 * * *", "Europe/Berlin").unwrap();
        let fires = r.fires_between(utc("2027-10-30 22:00"), utc("2027-10-31 03:00"), 100);
        assert_eq!(
            fires,
            vec![
                utc("2027-10-30 23:00"), // 01:00 CEST
                utc("2027-10-30 23:30"), // 01:30 CEST
                utc("2027-10-31 00:00"), // 02:00 CEST (first pass)
                utc("2027-10-31 00:30"), // 02:30 CEST (first pass)
                utc("2027-10-31 02:00"), // 03:00 CET
                utc("2027-10-31 02:30"), // 03:30 CET
            ]
        );
    }

    #[test]
    fn presets_are_cron_expressions_and_are_recognised() {
        for p in [
            Preset::Weekly {
                weekday: 5,
                hour: 17,
                minute: 0,
            },
            Preset::TwiceMonthly {
                hour: 10,
                minute: 30,
            },
            Preset::Monthly {
                day: 28,
                hour: 9,
                minute: 5,
            },
        ] {
            assert!(FireRule::parse(&p.cron(), "UTC").is_ok(), "{}", p.cron());
            assert_eq!(Preset::of(&p.cron()), Some(p));
        }
        assert_eq!(
            Preset::Weekly {
                weekday: 1,
                hour: 9,
                minute: 0
            }
            .cron(),
            "0 0 9 * * Mon"
        );
        assert_eq!(Preset::of("0 0 9 * * Mon,Fri"), None);
        assert_eq!(Preset::of("0 0 9 31 * *"), None);
        assert_eq!(Preset::of("0 0/30 9 * * *"), None);
    }

    #[test]
    fn schedules_are_validated_with_a_message() {
        let e = FireRule::parse("0 9 * * Mon", "UTC").unwrap_err();
        assert_eq!(e.0, "cron");
        assert!(
            e.1.contains("seconds first") && e.1.contains("has 5"),
            "{}",
            e.1
        );
        let e = FireRule::parse("0 0 25 * * *", "UTC").unwrap_err();
        assert_eq!(
            e.1,
            "The hours field \u{201c}25\u{201d} has 25, outside 0 to 23. It takes 0 to 23, a range (1-5), a list (1,15), a step (*/2) or * for every one."
        );
        // The reviewers' case: a list with a trailing comma, said in words.
        let e = FireRule::parse("0 0 17 * * Fri,", "UTC").unwrap_err();
        assert!(
            e.1.starts_with(
                "The weekday field \u{201c}Fri,\u{201d} has a comma with nothing on one side"
            ),
            "{}",
            e.1
        );
        for (bad, says) in [
            (
                "0 0 9 * * Fryday",
                "\u{201c}Fryday\u{201d}, which is not a value",
            ),
            ("0 0 9 32 * *", "has 32, outside 1 to 31"),
            ("0 0 9 * 13 *", "The month field"),
            ("0 */0 9 * * *", "a step is a whole number of 1 or more"),
            ("0 0 9- * * *", "a dash with nothing on one side"),
        ] {
            let e = FireRule::parse(bad, "UTC").unwrap_err();
            assert!(e.1.contains(says), "{bad}: {}", e.1);
        }
        let e = FireRule::parse("0 0 9 * * Mon", "Mars/Base").unwrap_err();
        assert_eq!(e.0, "time_zone");
        let r = FireRule::parse("0 0 9 * * Mon", "Asia/Shanghai").unwrap();
        // 2026-12-07 is a Monday: 09:00 in Shanghai is 01:00 UTC.
        assert_eq!(
            r.next_fires(utc("2026-12-06 12:00"), 1),
            vec![utc("2026-12-07 01:00")]
        );
        assert_eq!(
            describe_fire(utc("2026-12-07 01:00"), r.tz()).0,
            "Mon 2026-12-07 09:00 CST (UTC+08:00)"
        );
    }

    fn c(influencer_id: i64, id: i64, amount_minor: i64) -> Settleable {
        Settleable {
            influencer_id,
            settles: Settles::Commission(id),
            amount_minor,
        }
    }

    fn k(influencer_id: i64, id: i64, amount_minor: i64) -> Settleable {
        Settleable {
            influencer_id,
            settles: Settles::Clawback(id),
            amount_minor: -amount_minor,
        }
    }

    fn with_method(ids: &[i64]) -> HashMap<i64, Payee> {
        ids.iter()
            .map(|i| {
                (
                    *i,
                    Payee {
                        method: Some("bank".into()),
                        frozen_minor: 0,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn each_reason_reads_as_the_issue_says() {
        let mut payees = with_method(&[1, 2, 4, 5]);
        payees.insert(3, Payee::default());
        payees.insert(
            6,
            Payee {
                method: Some("bank".into()),
                frozen_minor: 9_900,
            },
        );
        let items = [
            c(1, 1, 3_120),
            c(2, 2, 6_000),
            k(2, 1, 1_000),
            c(3, 3, 8_000),
            c(4, 4, 500),
            k(4, 2, 1_700),
            c(5, 5, 5_000),
        ];
        let p = plan("CNY", 5_000, &items, &payees, &HashMap::new());
        assert_eq!(
            p.payouts
                .iter()
                .map(|x| (x.influencer_id, x.amount_minor))
                .collect::<Vec<_>>(),
            vec![(2, 5_000), (5, 5_000)]
        );
        let reasons: Vec<(i64, &str)> = p
            .left_out
            .iter()
            .map(|l| (l.influencer_id, l.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (1, "below the minimum ¥50.00: ¥31.20 available"),
                (
                    3,
                    "no payout method: add one on your profile to be paid ¥80.00"
                ),
                (
                    4,
                    "balance negative after a clawback of ¥17.00: −¥12.00 available"
                ),
                (
                    6,
                    "frozen for review: ¥99.00 held until finance releases it"
                ),
            ]
        );
    }

    fn arb_items() -> impl Strategy<Value = Vec<Settleable>> {
        prop::collection::vec((1i64..8, 1i64..=1_000_000, any::<bool>()), 0..60).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(n, (who, amount, claw))| {
                    let id = i64::try_from(n).unwrap() + 1;
                    if claw && amount % 3 == 0 {
                        k(who, id, amount / 3)
                    } else {
                        c(who, id, amount)
                    }
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn every_item_is_paid_once_or_explained(items in arb_items(), minimum in 0i64..2_000_000, no_method in prop::collection::vec(1i64..8, 0..3)) {
            let mut payees = with_method(&[1, 2, 3, 4, 5, 6, 7]);
            for n in &no_method {
                payees.insert(*n, Payee::default());
            }
            let p = plan("USD", minimum, &items, &payees, &HashMap::new());
            let mut seen = std::collections::HashSet::new();
            for x in &p.payouts {
                prop_assert!(x.amount_minor > 0 && x.amount_minor >= minimum);
                prop_assert_eq!(x.amount_minor, x.items.iter().map(|i| i.amount_minor).sum::<i64>());
                prop_assert!(payees[&x.influencer_id].method.is_some());
                for i in &x.items {
                    prop_assert_eq!(i.influencer_id, x.influencer_id);
                    prop_assert!(seen.insert(i.settles), "settled twice");
                }
            }
            // Paid plus left out is everything available, to the cent.
            let all: i64 = items.iter().map(|i| i.amount_minor).sum();
            let left: i64 = p.left_out.iter().map(|l| l.available_minor).sum();
            prop_assert_eq!(p.total_minor() + left, all);
            // Nobody is both paid and left out; everyone with items is one of them.
            for l in &p.left_out {
                prop_assert!(!p.payouts.iter().any(|x| x.influencer_id == l.influencer_id));
            }
            let mut who: Vec<i64> = items.iter().map(|i| i.influencer_id).collect();
            who.sort_unstable();
            who.dedup();
            prop_assert_eq!(who.len(), p.payouts.len() + p.left_out.len());
            // The same input plans the same run.
            prop_assert_eq!(&p, &plan("USD", minimum, &items, &payees, &HashMap::new()));
        }

        /// Pay-when-paid: a commission whose invoice is unpaid is in no payout and listed as
        /// waiting, once; the payouts are those of a plan without the waiting commissions; a
        /// creator paid nothing who waits is told what for; the sums still add up.
        #[test]
        fn waiting_commissions_are_never_paid_and_always_explained(
            items in arb_items(),
            minimum in 0i64..2_000_000,
            unpaid in prop::collection::btree_set(1i64..60, 0..30),
        ) {
            let payees = with_method(&[1, 2, 3, 4, 5, 6, 7]);
            let waiting: HashMap<i64, String> = unpaid
                .iter()
                .map(|id| (*id, format!("waiting for Merchant {} to pay invoice INV-2026-{:06}", id % 3, id % 3 + 1)))
                .collect();
            let p = plan("USD", minimum, &items, &payees, &waiting);
            let held: Vec<Settleable> = items
                .iter()
                .filter(|i| matches!(i.settles, Settles::Commission(id) if waiting.contains_key(&id)))
                .copied()
                .collect();
            prop_assert_eq!(p.waiting.len(), held.len());
            for x in &p.payouts {
                for i in &x.items {
                    if let Settles::Commission(id) = i.settles {
                        prop_assert!(!waiting.contains_key(&id), "a waiting commission is paid");
                    }
                }
            }
            let rest: Vec<Settleable> = items
                .iter()
                .filter(|i| !held.contains(i))
                .copied()
                .collect();
            let without = plan("USD", minimum, &rest, &payees, &HashMap::new());
            prop_assert_eq!(&p.payouts, &without.payouts);
            // Paid + left out + waiting = everything available.
            let all: i64 = items.iter().map(|i| i.amount_minor).sum();
            let left: i64 = p.left_out.iter().map(|l| l.available_minor).sum();
            let waits: i64 = p.waiting.iter().map(|w| w.amount_minor).sum();
            prop_assert_eq!(p.total_minor() + left + waits, all);
            for w in &p.waiting {
                if !p.payouts.iter().any(|x| x.influencer_id == w.influencer_id) {
                    let l = p.left_out.iter().find(|l| l.influencer_id == w.influencer_id);
                    prop_assert!(l.is_some_and(|l| l.reason.contains(&w.reason)), "{:?} {:?}", w, l);
                }
            }
            // Nobody is listed twice.
            let mut ids: Vec<i64> = p.left_out.iter().map(|l| l.influencer_id).collect();
            let n = ids.len();
            ids.sort_unstable();
            ids.dedup();
            prop_assert_eq!(ids.len(), n);
        }
    }
}

/// What a statement says happened to the influencer's unpaid balance (pending + available)
/// over its period, from ledger entries alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    pub opening_minor: i64,
    pub earned_minor: i64,
    pub reversed_minor: i64,
    pub clawed_back_minor: i64,
    /// Given back by payouts that failed or were cancelled.
    pub returned_minor: i64,
    /// Moved into payouts (this one, and any started and returned in the period).
    pub paid_out_minor: i64,
    pub closing_minor: i64,
}

impl Period {
    /// opening + earned - reversed - clawed back + returned - paid out = closing.
    pub fn adds_up(&self) -> bool {
        self.opening_minor + self.earned_minor - self.reversed_minor - self.clawed_back_minor
            + self.returned_minor
            - self.paid_out_minor
            == self.closing_minor
    }
}

/// One ledger entry of the influencer's pending or available account: (journal id, journal
/// kind, amount; a credit is negative).
pub type BalanceEntry = (i64, String, i64);

/// A payout as statements divide the ledger: its id, the last journal that started it, and
/// the journals that gave its money back (it failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutMarks {
    pub payout_id: i64,
    pub started: i64,
    pub returned: Vec<i64>,
}

/// One statement's share of the ledger: its period's figures and the journals in it, each
/// with what it did to the unpaid balance (+ raises it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementPeriod {
    pub payout_id: i64,
    pub period: Period,
    pub movements: Vec<(i64, i64)>,
}

/// Divides the influencer's unpaid-balance entries in one currency among the statements of
/// their payouts (`payouts`: those that have statements, any order), so that every movement
/// is in exactly one statement and each statement opens where the one before it closed:
/// a payout's own give-back (it failed) is in its own statement, so that statement closes on
/// what the ledger holds after it; every other journal is in the first statement whose
/// payout started at or after it. Journals after the last payout started are in none (they
/// are what is unpaid since). Maturation (pending to available) changes nothing and is left
/// out.
pub fn statement_periods(
    entries: &[BalanceEntry],
    payouts: &[PayoutMarks],
) -> Vec<StatementPeriod> {
    use std::collections::{BTreeMap, HashMap};
    let mut marks: Vec<&PayoutMarks> = payouts.iter().collect();
    marks.sort_by_key(|m| (m.started, m.payout_id));
    let own: HashMap<i64, usize> = marks
        .iter()
        .enumerate()
        .flat_map(|(k, m)| m.returned.iter().map(move |j| (*j, k)))
        .collect();
    // Each journal's effect on the unpaid balance, and its kind.
    let mut journals: BTreeMap<i64, (&str, i64)> = BTreeMap::new();
    for (jid, kind, amount) in entries {
        let e = journals.entry(*jid).or_insert((kind.as_str(), 0));
        e.1 -= amount;
    }
    let mut out: Vec<StatementPeriod> = marks
        .iter()
        .map(|m| StatementPeriod {
            payout_id: m.payout_id,
            ..StatementPeriod::default()
        })
        .collect();
    for (jid, (kind, delta)) in journals {
        if delta == 0 {
            continue;
        }
        let k = match own.get(&jid) {
            Some(k) => Some(*k),
            None => marks.iter().position(|m| m.started >= jid),
        };
        let Some(k) = k else { continue };
        let p = &mut out[k].period;
        match kind {
            "accrual" => p.earned_minor += delta,
            "reversal" | "reject" => p.reversed_minor -= delta,
            "clawback" => p.clawed_back_minor -= delta,
            "payout_start" => p.paid_out_minor -= delta,
            "payout_fail" | "payout_return" => p.returned_minor += delta,
            // Anything else that moves the balance is shown as earned (+) or taken (-),
            // never dropped: the period still adds up.
            _ if delta > 0 => p.earned_minor += delta,
            _ => p.reversed_minor -= delta,
        }
        out[k].movements.push((jid, delta));
    }
    let mut running = 0i64;
    for s in &mut out {
        s.period.opening_minor = running;
        running += s.movements.iter().map(|(_, d)| d).sum::<i64>();
        s.period.closing_minor = running;
    }
    out
}

#[cfg(test)]
mod period_tests {
    use super::*;

    #[test]
    fn every_movement_is_in_one_statement_and_each_opens_where_the_last_closed() {
        let e = |j: i64, k: &str, a: i64| (j, k.to_owned(), a);
        let entries = vec![
            e(1, "accrual", -10_000),
            e(2, "maturation", 10_000),
            e(2, "maturation", -10_000),
            e(3, "payout_start", 10_000), // payout 1: it fails later (journal 6)
            e(4, "accrual", -5_000),
            e(5, "clawback", 704),
            e(6, "payout_fail", -10_000), // payout 1's money back
            e(7, "payout_start", 4_296),  // payout 2
            e(8, "accrual", -700),        // after every payout
        ];
        let marks = [
            PayoutMarks {
                payout_id: 2,
                started: 7,
                returned: vec![],
            },
            PayoutMarks {
                payout_id: 1,
                started: 3,
                returned: vec![6],
            },
        ];
        let s = statement_periods(&entries, &marks);
        assert_eq!(s.iter().map(|s| s.payout_id).collect::<Vec<_>>(), [1, 2]);
        let (one, two) = (s[0].period, s[1].period);
        // The failed payout's statement: sent, and given back; it closes on what is held.
        assert_eq!(
            (
                one.opening_minor,
                one.earned_minor,
                one.paid_out_minor,
                one.returned_minor
            ),
            (0, 10_000, 10_000, 10_000)
        );
        assert_eq!(one.closing_minor, 10_000);
        assert_eq!(s[0].movements, [(1, 10_000), (3, -10_000), (6, 10_000)]);
        // The next: what came between, each once with its cause.
        assert_eq!(two.opening_minor, 10_000);
        assert_eq!(
            (
                two.earned_minor,
                two.clawed_back_minor,
                two.returned_minor,
                two.paid_out_minor
            ),
            (5_000, 704, 0, 4_296)
        );
        assert_eq!(two.closing_minor, 10_000);
        assert!(one.adds_up() && two.adds_up());
        let listed: usize = s.iter().map(|s| s.movements.len()).sum();
        assert_eq!(
            listed, 6,
            "maturation moves nothing; journal 8 is after them all"
        );
    }
}
