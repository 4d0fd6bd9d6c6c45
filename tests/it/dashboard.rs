//! The influencer's home: every figure equals the same figure computed from raw rows, the
//! next payout's estimate is what the run then pays, held amounts fall on the reader's
//! local day, and nobody else reads it.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use diesel::prelude::*;
use tandem::db::DbConn;
use tandem::db::schema::{commissions, influencers, refunds, users};
use tandem::service::dashboard::{InfluencerHome, WhyKind, influencer_home};

use crate::helpers::TestApp;
use crate::payouts::{demo_client, text};

/// (influencer id, sign-in email) of every demo creator with commissions.
fn earners(conn: &mut DbConn) -> Vec<(i64, String)> {
    let mut ids: Vec<i64> = commissions::table
        .select(commissions::influencer_id)
        .distinct()
        .load(conn)
        .expect("earners");
    ids.sort_unstable();
    ids.into_iter()
        .map(|id| {
            let email = influencers::table
                .inner_join(users::table.on(users::id.eq(influencers::user_id)))
                .filter(influencers::id.eq(id))
                .select(users::email)
                .first::<String>(conn)
                .expect("email");
            (id, email)
        })
        .collect()
}

/// Raw sums per (state, currency) of what is left of each commission after refunds.
fn raw_by_state(conn: &mut DbConn, influencer: i64) -> BTreeMap<(String, String), i64> {
    let rows: Vec<(i64, String, String, i64, i64)> = commissions::table
        .filter(commissions::influencer_id.eq(influencer))
        .select((
            commissions::id,
            commissions::state,
            commissions::currency,
            commissions::amount_minor,
            commissions::conversion_id,
        ))
        .load(conn)
        .expect("commissions");
    let mut out = BTreeMap::new();
    for (_, state, currency, amount, conversion) in rows {
        let taken: Vec<i64> = refunds::table
            .filter(refunds::conversion_id.eq(conversion))
            .select(refunds::commission_minor)
            .load(conn)
            .expect("refunds");
        *out.entry((state, currency)).or_insert(0) += amount - taken.iter().sum::<i64>();
    }
    out
}

fn kind_total(home: &InfluencerHome, currency: &str, kind: WhyKind) -> i64 {
    home.why
        .iter()
        .filter(|g| g.currency == currency && g.kind == kind)
        .map(|g| g.total_minor)
        .sum()
}

#[tokio::test]
async fn every_figure_on_the_influencer_home_comes_from_the_raw_rows() {
    let app = TestApp::demo().await;
    let now = app.clock_now();
    let earners = app.with_db(|conn| Ok(earners(conn))).await;
    assert!(earners.len() >= 4, "{earners:?}");
    for (id, email) in &earners {
        let id = *id;
        let (home, raw) = app
            .with_db(move |conn| {
                // Dates in the reader's zone, as the page shows them.
                let zone: String = influencers::table
                    .inner_join(users::table.on(users::id.eq(influencers::user_id)))
                    .filter(influencers::id.eq(id))
                    .select(users::time_zone)
                    .first(conn)?;
                let tz: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
                let home =
                    influencer_home(conn, now, id, &|t| tandem::domain::clock::fmt_date(t, tz))?;
                Ok((home, raw_by_state(conn, id)))
            })
            .await;
        for c in &home.currencies {
            let raw = |state: &str| {
                raw.get(&(state.to_owned(), c.currency.clone()))
                    .copied()
                    .unwrap_or(0)
            };
            // Each group of "why not paid yet" adds up to its commissions, to the cent.
            assert_eq!(
                kind_total(&home, &c.currency, WhyKind::Hold),
                raw("pending")
            );
            assert_eq!(
                kind_total(&home, &c.currency, WhyKind::Frozen),
                raw("frozen")
            );
            assert_eq!(
                kind_total(&home, &c.currency, WhyKind::Available),
                raw("available")
            );
            assert_eq!(
                kind_total(&home, &c.currency, WhyKind::InPayout),
                raw("in_payout")
            );
            // The ledger's balances agree: held = pending + frozen, in payout, paid; the
            // available balance is the available commissions less open clawbacks.
            assert_eq!(c.pending_minor, raw("pending") + raw("frozen"), "{email}");
            assert_eq!(c.in_payout_minor, raw("in_payout"), "{email}");
            let clawed: i64 = c.clawbacks.iter().map(|k| k.2).sum();
            assert_eq!(c.available_minor, raw("available") - clawed, "{email}");
            // The page shows the same figures.
            let client = demo_client(&app, email).await;
            let (status, html) = text(&client, &app, "/influencer/dashboard").await;
            assert_eq!(status, reqwest::StatusCode::OK);
            for g in home.why.iter().filter(|g| g.currency == c.currency) {
                let total = tandem::domain::money::display_in(g.total_minor, &c.currency);
                assert!(
                    html.contains(&askama_escape(&g.title)) && html.contains(&total),
                    "{} {total} on {email}'s home",
                    g.title
                );
            }
        }
    }
    // Every reason a run gives shows on someone's home.
    let all: String = {
        let mut s = String::new();
        for (_, email) in &earners {
            let client = demo_client(&app, email).await;
            s += &text(&client, &app, "/influencer/dashboard").await.1;
        }
        s
    };
    for reason in [
        "In hold until",
        "Frozen for review:",
        "no payout method",
        "balance negative after a clawback",
        "below the minimum $500.00",
    ] {
        assert!(all.contains(reason), "{reason}");
    }
}

/// Askama escapes what it prints; titles hold no markup, only apostrophes and ampersands.
fn askama_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('\'', "&#39;")
        .replace('"', "&quot;")
}

#[tokio::test]
async fn the_next_payout_estimate_is_what_the_run_pays() {
    let app = TestApp::demo().await;
    let schedule = app.payout_ready().await;
    let now = app.clock_now();
    let earners = app.with_db(|conn| Ok(earners(conn))).await;
    let (estimates, paid) = app
        .with_db(move |conn| {
            // Only the test's schedule stays active, so it is the next one.
            diesel::update(tandem::db::schema::payout_schedules::table)
                .filter(tandem::db::schema::payout_schedules::id.ne(schedule))
                .set(tandem::db::schema::payout_schedules::active.eq(false))
                .execute(conn)?;
            let mut estimates = BTreeMap::new();
            for (id, _) in &earners {
                let home = influencer_home(conn, now, *id, &|t| t.date().to_string())?;
                for c in home.currencies.iter().filter(|c| c.currency == "CNY") {
                    let next = c.next.as_ref().expect("a CNY schedule");
                    estimates.insert(*id, next.estimate.clone());
                }
            }
            let s = tandem::db::payouts::schedule(conn, schedule)?.expect("schedule");
            let rule =
                tandem::domain::payout::FireRule::parse(&s.cron, &s.time_zone).expect("rule");
            let slot = rule.next_fires(now, 1)[0];
            let tandem::service::payouts::RunOutcome::Created(_, plan) =
                tandem::service::payouts::run_schedule(
                    conn,
                    now,
                    "",
                    &s,
                    slot,
                    None,
                    &mut |_, _| {},
                )?
            else {
                panic!("a new run")
            };
            let mut paid = BTreeMap::new();
            for p in &plan.payouts {
                paid.insert(p.influencer_id, Ok(p.amount_minor));
            }
            for l in &plan.left_out {
                paid.insert(l.influencer_id, Err(l.reason.clone()));
            }
            Ok((estimates, paid))
        })
        .await;
    assert!(estimates.values().any(|e| e.is_ok()), "{estimates:?}");
    for (id, estimate) in &estimates {
        match paid.get(id) {
            Some(outcome) => assert_eq!(estimate, outcome, "influencer {id}"),
            None => assert!(estimate.is_err(), "influencer {id}: {estimate:?}"),
        }
    }
}

#[tokio::test]
async fn held_amounts_fall_on_the_readers_local_day_and_the_home_is_theirs_alone() {
    let app = TestApp::demo().await;
    // Mia reads in Shanghai (UTC+8): a hold ending 23:30 UTC ends on the next local day.
    let target = app
        .with_db(|conn| {
            let mia: i64 = influencers::table
                .filter(influencers::handle.eq("mia.streams"))
                .select(influencers::id)
                .first(conn)?;
            let c: (i64, chrono::NaiveDateTime) = commissions::table
                .filter(commissions::influencer_id.eq(mia))
                .filter(commissions::state.eq("pending"))
                .select((commissions::id, commissions::available_at))
                .first(conn)?;
            let late = c.1.date().and_hms_opt(23, 30, 0).expect("time") + TimeDelta::days(3);
            // (The database guards a commission's money and owners, not its dates.)
            diesel::update(commissions::table.find(c.0))
                .set(commissions::available_at.eq(late))
                .execute(conn)?;
            diesel::update(users::table.filter(users::email.eq("influencer@demo.tandem.test")))
                .set(users::time_zone.eq("Asia/Shanghai"))
                .execute(conn)?;
            Ok(late)
        })
        .await;
    let local = (target + TimeDelta::hours(8)).date();
    assert_eq!(local, target.date() + TimeDelta::days(1));
    let mia_client = demo_client(&app, "influencer@demo.tandem.test").await;
    let (_, html) = text(&mia_client, &app, "/influencer/dashboard").await;
    let shown = tandem::domain::clock::fmt_date(target, chrono_tz::Asia::Shanghai);
    assert!(
        html.contains(&format!("In hold until {shown}")),
        "{shown} in {html}"
    );
    assert!(shown.contains(&local.format("%d").to_string()), "{shown}");
    // Another role does not read it; nor does anyone signed out.
    let merchant = demo_client(&app, "merchant@demo.tandem.test").await;
    let (status, _) = text(&merchant, &app, "/influencer/dashboard").await;
    assert_ne!(status, reqwest::StatusCode::OK);
    let res = app.get("/influencer/dashboard").await;
    assert_ne!(res.status(), reqwest::StatusCode::OK);
}
