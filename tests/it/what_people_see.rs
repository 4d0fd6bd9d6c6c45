//! What a person sees (issue #27 §5): a stream's chart that says what it covers and totals
//! what it draws, the audit log as CSV, error pages in the reader's layout, the time zone
//! list, plurals and the minus sign.

use diesel::prelude::*;
use reqwest::StatusCode;
use tandem::db::schema::{audit_events, clicks, links, streams, users};

use crate::helpers::TestApp;
use crate::payouts::{demo_client, text};

/// The text between `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} in {html}"))
        + start.len();
    let len = html[from..].find(end).expect(end);
    &html[from..from + len]
}

/// The (label, value) rows of a chart's table.
fn chart_rows(html: &str, chart_id: &str) -> Vec<(String, String)> {
    let chart = between(html, &format!("id=\"{chart_id}-cap\""), "</figure>");
    let body = between(chart, "<tbody>", "</tbody>");
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row
                .split("<td")
                .skip(1)
                .map(|c| between(c, ">", "</td>"))
                .collect();
            (cells[0].to_owned(), cells[1].to_owned())
        })
        .collect()
}

/// Mia's first stream in the demo: its id and the instant its chart starts (the hour it
/// was scheduled, or created, in).
async fn demo_stream(app: &TestApp) -> (i64, chrono::NaiveDateTime) {
    app.with_db(|conn| {
        let (id, scheduled, created): (i64, Option<chrono::NaiveDateTime>, chrono::NaiveDateTime) =
            streams::table
                .inner_join(
                    tandem::db::schema::influencers::table
                        .on(tandem::db::schema::influencers::id.eq(streams::influencer_id)),
                )
                .filter(tandem::db::schema::influencers::handle.eq("mia.streams"))
                .order(streams::id.asc())
                .select((streams::id, streams::scheduled_at, streams::created_at))
                .first(conn)?;
        let start = scheduled.unwrap_or(created).and_utc().timestamp();
        let hour = chrono::DateTime::from_timestamp(start.div_euclid(3600) * 3600, 0)
            .unwrap()
            .naive_utc();
        Ok((id, hour))
    })
    .await
}

/// The stream page's chart states the hours it covers, its total is the sum of its bars,
/// which are the raw non-bot clicks of those hours, and the clicks outside them are said
/// (so that the page's figures since set-up and the chart's agree).
#[tokio::test]
async fn a_streams_chart_states_its_hours_and_totals_what_it_draws() {
    let app = TestApp::demo().await;
    let (stream, start) = demo_stream(&app).await;
    let end = start + chrono::TimeDelta::hours(12);
    let (inside, all) = app
        .with_db(move |conn| {
            let q = || {
                clicks::table
                    .inner_join(links::table.on(links::id.eq(clicks::link_id)))
                    .filter(links::stream_id.eq(stream))
                    .filter(clicks::is_bot.eq(false))
            };
            let inside: i64 = q()
                .filter(clicks::created_at.ge(start))
                .filter(clicks::created_at.lt(end))
                .count()
                .get_result(conn)?;
            let all: i64 = q().count().get_result(conn)?;
            Ok((inside, all))
        })
        .await;
    let mia = demo_client(&app, "influencer@demo.tandem.test").await;
    let (status, html) = text(&mia, &app, &format!("/influencer/streams/{stream}")).await;
    assert_eq!(status, StatusCode::OK);
    let rows = chart_rows(&html, "chart-hours");
    assert_eq!(rows.len(), 12, "twelve hours");
    let drawn: i64 = rows.iter().map(|r| r.1.parse::<i64>().unwrap()).sum();
    assert_eq!(drawn, inside, "the bars are the clicks of those hours");
    assert!(all > inside, "the demo has clicks after the first 12 hours");
    let caption = between(&html, "id=\"chart-hours-cap\">", "</figcaption>");
    let zone: String = app
        .with_db(|conn| {
            Ok(users::table
                .filter(users::email.eq("influencer@demo.tandem.test"))
                .select(users::time_zone)
                .first(conn)?)
        })
        .await;
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    let local = |t: chrono::NaiveDateTime| tandem::web::pages::fmt_datetime(t, tz);
    let (from, to) = (local(start), local(end));
    let same_offset = from.split_once(" UTC").map(|p| p.1) == to.split_once(" UTC").map(|p| p.1);
    let from = if same_offset {
        from.split_once(" UTC").unwrap().0.to_owned()
    } else {
        from
    };
    let range = format!("12 hours from its scheduled start: {from} to {to}");
    assert!(caption.contains(&range), "{caption}");
    assert!(
        caption.contains(&format!("{drawn} in total")),
        "the total is what the chart draws: {caption}"
    );
    assert!(
        caption.contains(&format!(
            "{} more clicks outside these hours ({all} clicks since the stream was set up).",
            all - inside
        )),
        "{caption}"
    );
    let most = rows
        .iter()
        .map(|r| r.1.parse::<i64>().unwrap())
        .max()
        .unwrap();
    let tied = rows.iter().filter(|r| r.1 == most.to_string()).count();
    if tied == 1 {
        assert!(caption.contains("the most at "), "{caption}");
    } else {
        assert!(
            caption.contains(&format!("{tied} hours with the most ({most} each)")),
            "{caption}"
        );
    }
}

/// The audit log downloads as CSV with the page's filters (every matching event, not one
/// page of them), linked from the page; the rows are the raw events; a bad date is a 422
/// naming its field; only finance reads it.
#[tokio::test]
async fn the_audit_log_downloads_as_csv_with_its_filters() {
    let app = TestApp::demo().await;
    let f = demo_client(&app, "finance@demo.tandem.test").await;
    let (status, html) = text(&f, &app, "/finance/audit?area=payout.&actor=farah").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("href=\"/finance/audit.csv?area=payout.&#38;actor=farah\""),
        "the page links its CSV with its filters: {html}"
    );
    let (farah, all_ids, farahs_payout_ids) = app
        .with_db(|conn| {
            let farah: i64 = users::table
                .filter(users::email.eq("finance@demo.tandem.test"))
                .select(users::id)
                .first(conn)?;
            let all: Vec<i64> = audit_events::table
                .order(audit_events::id.desc())
                .select(audit_events::id)
                .load(conn)?;
            let farahs: Vec<i64> = audit_events::table
                .filter(audit_events::actor_user_id.eq(farah))
                .filter(audit_events::action.like("payout.%"))
                .order(audit_events::id.desc())
                .select(audit_events::id)
                .load(conn)?;
            Ok((farah, all, farahs))
        })
        .await;
    assert!(
        all_ids.len() > 100,
        "more than one page of events in the demo"
    );
    let ids_of = |csv: &str| -> Vec<i64> {
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        r.records()
            .map(|rec| rec.unwrap()[0].parse().unwrap())
            .collect()
    };
    let res =
        crate::helpers::get_with(&f, &app.url("/finance/audit.csv?area=payout.&actor=farah")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("tandem-audit-payout.csv")
    );
    let csv = res.text().await.unwrap();
    assert!(
        csv.starts_with(
            "id,time_utc,time_local,actor_name,actor_email,action,subject_type,subject_id,detail\n"
        ),
        "{csv}"
    );
    assert!(!farahs_payout_ids.is_empty());
    assert_eq!(
        ids_of(&csv),
        farahs_payout_ids,
        "Farah's payout events, newest first"
    );
    assert!(csv.contains(",finance@demo.tandem.test,payout."), "{csv}");
    let _ = farah;
    let (_, everything) = text(&f, &app, "/finance/audit.csv?area=all").await;
    assert_eq!(
        ids_of(&everything),
        all_ids,
        "every event, not a page of 100"
    );
    // Text filter, as on the page.
    let (_, failed) = text(
        &f,
        &app,
        "/finance/audit.csv?area=payout.&q=account+is+not+confirmed",
    )
    .await;
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(failed.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 1, "{failed}");
    assert_eq!(&rows[0][5], "payout.failed");
    // The file as a spreadsheet reads it, its id and times aside (they follow the clock).
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(failed.lines().next().unwrap().split(','))
        .unwrap();
    w.write_record(
        rows[0]
            .iter()
            .enumerate()
            .map(|(i, v)| if i <= 2 { "…" } else { v }),
    )
    .unwrap();
    insta::assert_snapshot!(
        "audit_csv_failed_payout",
        String::from_utf8(w.into_inner().unwrap()).unwrap()
    );
    let (status, body) = text(&f, &app, "/finance/audit.csv?from=yesterday").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("from: use a date like 2026-12-01."), "{body}");
    let i = demo_client(&app, "influencer@demo.tandem.test").await;
    let (status, _) = text(&i, &app, "/finance/audit.csv").await;
    assert_ne!(status, StatusCode::OK);
}

/// Error pages keep a signed-in reader's navigation and lead to their own home; a signed-out
/// reader gets the plain page and the start page.
#[tokio::test]
async fn error_pages_keep_the_signed_in_layout() {
    let app = TestApp::demo().await;
    let m = demo_client(&app, "merchant@demo.tandem.test").await;
    for (path, status, title) in [
        (
            "/merchant/campaigns/999999",
            StatusCode::NOT_FOUND,
            "Page not found",
        ),
        ("/no/such/page", StatusCode::NOT_FOUND, "Page not found"),
        (
            "/merchant/dashboard?from=2026-13-45&to=2026-12-01",
            StatusCode::UNPROCESSABLE_ENTITY,
            "Please check your input",
        ),
        ("/finance/dashboard", StatusCode::FORBIDDEN, "Not allowed"),
    ] {
        let (got, html) = text(&m, &app, path).await;
        assert_eq!(got, status, "{path}");
        assert!(html.contains(title), "{path}: {html}");
        assert!(
            html.contains("aria-label=\"Main\"") && html.contains("href=\"/merchant/orders\""),
            "{path}: the merchant's navigation: {html}"
        );
        assert!(html.contains(">Log out</button>"), "{path}");
        assert!(
            html.contains(
                "<a class=\"btn btn-primary\" href=\"/merchant/dashboard\">Go to your dashboard</a>"
            ),
            "{path}: {html}"
        );
    }
    let f = demo_client(&app, "finance@demo.tandem.test").await;
    let (_, html) = text(&f, &app, "/finance/payouts/999999").await;
    assert!(
        html.contains("href=\"/finance/dashboard\">Go to your dashboard</a>"),
        "{html}"
    );
    let anonymous = crate::helpers::new_client();
    let (status, html) = text(&anonymous, &app, "/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        html.contains("href=\"/\">Go to the start page</a>"),
        "{html}"
    );
    assert!(!html.contains("aria-label=\"Main\""), "{html}");
}

/// The zone list holds the canonical zones only, grouped by region, the current one first;
/// a stored old alias is shown (and kept) as its current name, and one sent is taken as it.
#[tokio::test]
async fn the_time_zone_list_is_canonical_grouped_and_starts_with_the_current_zone() {
    use crate::helpers::{get_with, post_form_with};
    use tandem::domain::account::Role;
    let app = TestApp::spawn().await;
    let client = app.logged_in(Role::Influencer, "zones@example.com").await;
    let set_zone = |zone: &'static str| {
        app.with_db(move |conn| {
            diesel::update(users::table.filter(users::email.eq("zones@example.com")))
                .set(users::time_zone.eq(zone))
                .execute(conn)?;
            Ok(())
        })
    };
    let zone_of = || {
        app.with_db(|conn| {
            Ok(users::table
                .filter(users::email.eq("zones@example.com"))
                .select(users::time_zone)
                .first::<String>(conn)?)
        })
    };
    set_zone("Asia/Calcutta").await;
    let html = get_with(&client, &app.url("/account"))
        .await
        .text()
        .await
        .unwrap();
    let select = between(
        &html,
        "<select id=\"f-time_zone\" name=\"time_zone\">",
        "</select>",
    );
    let first = between(select, "<option", "</option>");
    assert_eq!(
        first, " value=\"Asia/Kolkata\" selected>Asia / Kolkata (current)",
        "the stored alias is shown as its current name, first"
    );
    assert_eq!(select.matches(" selected").count(), 1);
    let options = select.matches("<option").count();
    assert_eq!(
        options,
        1 + tandem::domain::zones::ZONES.len(),
        "the current one, then every zone"
    );
    for old in [
        "Africa/Timbuktu",
        "Asia/Calcutta",
        "Europe/Kiev",
        "US/Eastern",
        "Etc/GMT+5",
    ] {
        assert!(
            !select.contains(&format!("\"{old}\"")),
            "{old} is not listed"
        );
    }
    let groups: Vec<&str> = select
        .split("<optgroup label=\"")
        .skip(1)
        .map(|g| g.split('"').next().unwrap())
        .collect();
    assert_eq!(
        groups,
        [
            "Universal",
            "Africa",
            "Americas",
            "Antarctica",
            "Arctic",
            "Asia",
            "Atlantic Ocean",
            "Australia",
            "Europe",
            "Indian Ocean",
            "Pacific Ocean"
        ]
    );
    assert!(select.contains("<option value=\"Europe/Amsterdam\">Amsterdam</option>"));
    assert!(select.contains(
        "<option value=\"America/Argentina/Buenos_Aires\">Argentina / Buenos Aires</option>"
    ));
    // Saving the page as it is keeps the same clock, under its current name.
    let res = post_form_with(
        &client,
        &app.url("/account"),
        &app.url("/account"),
        &[("display_name", "Zed"), ("time_zone", "Asia/Kolkata")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(zone_of().await, "Asia/Kolkata");
    // An old name sent (as some browsers detect it) is accepted as its current zone.
    let res = post_form_with(
        &client,
        &app.url("/account"),
        &app.url("/account"),
        &[("display_name", "Zed"), ("time_zone", "Africa/Timbuktu")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(zone_of().await, "Africa/Abidjan");
    // A fixed offset stored long ago stays what it is.
    set_zone("Etc/GMT+5").await;
    let html = get_with(&client, &app.url("/account"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<option value=\"Etc/GMT+5\" selected>Etc / GMT+5 (current)</option>"),
        "{html}"
    );
}

/// Counts read "1 day", "2 days" (a campaign of one-day windows, on the merchant's and the
/// influencer's pages), and no page of the demo shows a singular count with a plural noun or
/// money with a hyphen for its minus sign.
#[tokio::test]
async fn counts_agree_with_their_nouns_and_money_has_one_minus_sign() {
    use tandem::db::schema::campaigns;
    let app = TestApp::demo().await;
    let campaign: i64 = app
        .with_db(|conn| {
            let id: i64 = campaigns::table
                .filter(campaigns::merchant_id.eq(1))
                .order(campaigns::id.asc())
                .select(campaigns::id)
                .first(conn)?;
            diesel::update(campaigns::table.find(id))
                .set((
                    campaigns::attribution_days.eq(1),
                    campaigns::hold_days.eq(1),
                ))
                .execute(conn)?;
            Ok(id)
        })
        .await;
    let m = demo_client(&app, "merchant@demo.tandem.test").await;
    let (_, html) = text(&m, &app, &format!("/merchant/campaigns/{campaign}")).await;
    assert!(html.contains("1 day after a click"), "{html}");
    assert!(
        html.contains("1 day before commissions become available"),
        "{html}"
    );
    let i = demo_client(&app, "influencer@demo.tandem.test").await;
    let (_, html) = text(&i, &app, &format!("/influencer/campaigns/{campaign}")).await;
    assert!(html.contains("1 day after a click"), "{html}");
    let mut pages = vec![
        (&m, "/merchant/dashboard".to_owned()),
        (&m, "/merchant/dashboard?days=90&table=streams".to_owned()),
        (&m, "/merchant/orders".to_owned()),
        (&m, "/merchant/statement".to_owned()),
        (&m, format!("/merchant/campaigns/{campaign}")),
        (&m, format!("/merchant/campaigns/{campaign}/discover")),
        (&i, "/influencer/dashboard".to_owned()),
        (&i, "/influencer/earnings".to_owned()),
        (&i, "/influencer/payouts".to_owned()),
        (&i, "/influencer/payouts/1".to_owned()),
        (&i, "/influencer/marketplace".to_owned()),
        (&i, "/influencer".to_owned()),
    ];
    let f = demo_client(&app, "finance@demo.tandem.test").await;
    for p in [
        "/finance/dashboard",
        "/finance/payouts",
        "/finance/payouts/1",
        "/finance/payouts/3",
    ] {
        pages.push((&f, p.to_owned()));
    }
    let nouns = [
        "orders",
        "days",
        "payouts",
        "clicks",
        "followers",
        "rows",
        "items",
        "lines",
        "products",
        "hours",
        "sessions",
        "commissions",
        "refunds",
        "influencers",
        "campaigns",
        "links",
    ];
    for (client, path) in pages {
        let (status, html) = text(client, &app, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        for noun in nouns {
            for at in html.match_indices(&format!("1 {noun}")).map(|(at, _)| at) {
                let before = html[..at].chars().next_back().unwrap_or(' ');
                assert!(
                    before.is_ascii_digit() || before == '.' || before == ',',
                    "{path}: “1 {noun}” in …{}…",
                    around(&html, at)
                );
            }
        }
        for sym in ["¥", "$", "€", "£"] {
            assert!(
                !html.contains(&format!("-{sym}")),
                "{path}: a hyphen before money: …{}…",
                html.find(&format!("-{sym}"))
                    .map_or("", |at| around(&html, at))
            );
        }
    }
}

/// The text around byte `at` (for a failure's message).
fn around(html: &str, at: usize) -> &str {
    let mut from = at.saturating_sub(80);
    while !html.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (at + 40).min(html.len());
    while !html.is_char_boundary(to) {
        to += 1;
    }
    &html[from..to]
}
