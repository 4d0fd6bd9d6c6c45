//! The live board (issue 29): a stream's figures minute by minute for its creator and its
//! merchants, equal to what the dashboards count; pushed as server-sent events after each
//! commit (and, on PostgreSQL, from another app node through LISTEN/NOTIFY); its access, its
//! end with the session, and the replay once the stream is over. Each test runs on SQLite,
//! and on PostgreSQL when `TANDEM_TEST_DATABASE_URL` is set.

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tandem::db::stats::{Counts, Scope};
use tandem::service::live::{self as svc, View};

use crate::helpers::{TestApp, get_with, location, new_client, post_form_with};
use crate::links::{PHONE, live_link_with_merchant};
use crate::postbacks::{merchant_secret, order, post_json, rfc3339};

/// A creator's stream with a link to a merchant's campaign, marked live now.
pub(crate) struct LiveStream {
    pub merchant: Client,
    pub influencer: Client,
    pub merchant_id: i64,
    pub secret: String,
    pub code: String,
    pub stream_id: i64,
}

impl TestApp {
    /// A stream with a link of an active collaboration, its creator having pressed "Go live"
    /// on its board (the stream was scheduled days ago and never started).
    pub(crate) async fn live_stream(&self) -> LiveStream {
        let ls = self.stream_with_link().await;
        let board = self.url(&ls.board(false));
        let res = post_form_with(&ls.influencer, &board, &format!("{board}/start"), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "go live");
        ls
    }

    /// The same stream before its creator goes live.
    pub(crate) async fn stream_with_link(&self) -> LiveStream {
        let (merchant, influencer, code) = live_link_with_merchant(self).await;
        let (merchant_id, secret) = merchant_secret(self).await;
        let stream_id = self
            .with_db(|conn| {
                use diesel::prelude::*;
                use tandem::db::schema::streams;
                Ok(streams::table.select(streams::id).first::<i64>(conn)?)
            })
            .await;
        LiveStream {
            merchant,
            influencer,
            merchant_id,
            secret,
            code,
            stream_id,
        }
    }
}

impl LiveStream {
    /// The board's page for the creator (or the merchant).
    pub(crate) fn board(&self, merchant: bool) -> String {
        let who = if merchant { "merchant" } else { "influencer" };
        format!("/{who}/streams/{}/live", self.stream_id)
    }

    /// A click on the stream's link with this user agent; its click id.
    pub(crate) async fn click_as(&self, app: &TestApp, agent: &str) -> String {
        let res = new_client()
            .get(app.url(&format!("/l/{}", self.code)))
            .header("user-agent", agent)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FOUND, "the link redirects");
        location(&res).split("tclid=").nth(1).unwrap().to_owned()
    }

    pub(crate) async fn click(&self, app: &TestApp) -> String {
        self.click_as(app, PHONE).await
    }

    /// A signed postback of an order placed now, by click or coupon; the answer.
    pub(crate) async fn order(
        &self,
        app: &TestApp,
        id: &str,
        click: Option<&str>,
        coupon: Option<&str>,
    ) -> Value {
        let mut body = order(app, id, click, coupon);
        body["occurred_at"] = json!(rfc3339(app.clock_now()));
        let (status, r) = post_json(
            app,
            "/api/v1/conversions",
            self.merchant_id,
            &self.secret,
            &body,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        r
    }

    async fn coupon(&self, app: &TestApp) -> String {
        app.with_db(|conn| {
            use diesel::prelude::*;
            use tandem::db::schema::collaborations;
            Ok(collaborations::table
                .select(collaborations::coupon_code)
                .first::<Option<String>>(conn)?
                .unwrap())
        })
        .await
    }

    /// The board as the service draws it, for the creator (or the merchant).
    async fn figures(&self, app: &TestApp, merchant: bool, at: Option<i64>) -> svc::Board {
        let (stream, now) = (self.stream_id, app.clock_now());
        let email = if merchant {
            "links@shop.test"
        } else {
            "linker@creators.test"
        };
        app.with_db(move |conn| {
            let user = tandem::db::users::find_by_email(conn, email)?.unwrap();
            let opened = if merchant {
                svc::open_for_merchant(conn, user.id, stream)?
            } else {
                svc::open_for_creator(conn, user.id, stream)?
            };
            Ok(svc::board(conn, &opened, now, at)?.expect("the stream is live"))
        })
        .await
    }
}

/// A board's server-sent events as a test reads them.
pub(crate) struct Events {
    res: reqwest::Response,
    buf: String,
}

/// One event: (id, event name, data).
pub(crate) type Event = (String, String, String);

impl Events {
    pub(crate) async fn open(client: &Client, url: &str, last_id: Option<&str>) -> Events {
        let mut req = client.get(url);
        if let Some(id) = last_id {
            req = req.header("last-event-id", id);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{url}");
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Events {
            res,
            buf: String::new(),
        }
    }

    /// The next event (comments and the `retry` field skipped) within `within`.
    pub(crate) async fn next(&mut self, within: Duration) -> Option<Event> {
        let deadline = Instant::now() + within;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut name, mut data) = (String::new(), String::new(), Vec::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        name = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push(v.to_owned());
                    }
                }
                if !name.is_empty() {
                    return Some((id, name, data.join("\n")));
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(_) => return None,
                Err(_) => return None,
            }
        }
    }

    /// The next `board` event within 2 s (the bound).
    pub(crate) async fn board(&mut self) -> Event {
        let e = self
            .next(Duration::from_secs(2))
            .await
            .expect("a board event within 2 s");
        assert_eq!(e.1, "board", "{e:?}");
        e
    }
}

/// The big figures of a board fragment, in order (clicks, unique, orders, GMV, commission,
/// conversion).
pub(crate) fn values(html: &str) -> Vec<String> {
    html.split("class=\"live-value\">")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_owned())
        .collect()
}

/// What the dashboards' rollup holds for the stream (every row of it, for the reader).
async fn dashboard(app: &TestApp, stream: i64, merchant: bool) -> Counts {
    let now = app.clock_now().and_utc().timestamp();
    app.with_db(move |conn| {
        let scope = if merchant {
            Scope::Merchant(tandem::db::merchants::all(conn)?.remove(0).id)
        } else {
            let u = tandem::db::users::find_by_email(conn, "linker@creators.test")?.unwrap();
            Scope::Influencer(tandem::service::influencer::profile_of(conn, u.id)?.id)
        };
        let mut c = Counts::default();
        for r in tandem::db::stats::rows(conn, scope, now - 86_400, now + 900)? {
            if r.dims.stream_id == stream {
                c.add(&r.counts);
            }
        }
        Ok(c)
    })
    .await
}

#[tokio::test]
async fn the_board_counts_what_the_dashboards_count() {
    let app = TestApp::spawn().await;
    let ls = app.live_stream().await;
    // Three visitors (one clicks twice: a repeat), one crawler.
    let first = ls.click(&app).await;
    ls.click(&app).await;
    ls.click_as(&app, &format!("{PHONE} second")).await;
    ls.click_as(&app, "Googlebot/2.1 (+http://www.google.com/bot.html)")
        .await;
    app.clock.advance(TimeDelta::minutes(3));
    ls.click_as(&app, &format!("{PHONE} third")).await;
    ls.order(&app, "LIVE-1", Some(&first), None).await;
    // A coupon sale while the stream is live belongs to it.
    let coupon = ls.coupon(&app).await;
    let by_coupon = ls.order(&app, "LIVE-2", None, Some(&coupon)).await;
    assert!(
        by_coupon["attribution"]["note"]
            .as_str()
            .unwrap_or_default()
            .contains("while the creator was live"),
        "{by_coupon}"
    );
    assert_eq!(by_coupon["attribution"]["stream_id"], json!(ls.stream_id));
    app.refund(ls.merchant_id, "LIVE-1", "R-1", "50.00").await;

    for merchant in [false, true] {
        let board = ls.figures(&app, merchant, None).await;
        let dash = dashboard(&app, ls.stream_id, merchant).await;
        let t = &board.total;
        assert_eq!(
            (t.all.human_clicks(), t.all.unique_clicks, t.all.bot_clicks),
            (4, 3, 1)
        );
        assert_eq!(t.all.orders, 2);
        // Figure by figure, the dashboards' definitions over the same minutes.
        assert_eq!(t.all.human_clicks(), dash.human_clicks());
        assert_eq!(t.all.unique_clicks, dash.unique_clicks);
        assert_eq!(t.all.orders, dash.orders);
        assert_eq!(t.all.coupon_orders, dash.coupon_orders);
        let cny = &t.money["CNY"];
        assert_eq!(cny.gmv_minor, dash.gmv_minor);
        assert_eq!(cny.net_commission(), dash.net_commission());
        assert!(cny.refund_commission_minor > 0, "the refund took some back");
        // This minute: one click and both orders; the chart's hour ends with it.
        let m = &board.this_minute;
        assert_eq!((m.all.human_clicks(), m.all.orders), (1, 2));
        assert_eq!(board.minutes.len(), 60);
        assert_eq!(board.minutes[56].1.human_clicks(), 3);
        assert_eq!(board.minutes[59].1.human_clicks(), 1);
        assert_eq!(board.minutes[59].0, board.at_minute);
        let charted: i64 = board.minutes.iter().map(|m| m.1.human_clicks()).sum();
        assert_eq!(charted, 4);
        // One order a click led to (the coupon sale is not one) over three unique clicks in the
        // last 10 minutes.
        assert_eq!(board.recent_conversion_bps, Some(3_333));
        assert_eq!(board.latest.len(), 2);
        assert_eq!(board.latest[0].via, format!("coupon {coupon}"));
        assert!(board.latest[1].via.starts_with("link "));
        assert_eq!(board.top_by_clicks[0].count, 4);
    }

    // The page shows the same figures, big.
    let html = get_with(&ls.influencer, &app.url(&ls.board(false)))
        .await
        .text()
        .await
        .unwrap();
    let v = values(&html);
    assert_eq!(&v[..3], ["4", "3", "2"], "{v:?}");
    assert!(html.contains("Live · 3 min"), "{html}");
    assert!(html.contains("1 bot click left out"));
    assert!(html.contains("data-events=\"/influencer/streams/"));
    assert!(html.contains("http-equiv=\"refresh\" content=\"10\""));
}

#[tokio::test]
async fn an_open_board_is_pushed_each_click_and_order_and_catches_up_on_reconnect() {
    let app = TestApp::spawn().await;
    let ls = app.live_stream().await;
    let url = app.url(&format!("{}/events", ls.board(false)));
    let mut events = Events::open(&ls.influencer, &url, None).await;
    let (first_id, _, html) = events.board().await;
    assert_eq!(&values(&html)[..3], ["0", "0", "0"]);
    let mut merchant = Events::open(
        &ls.merchant,
        &app.url(&format!("{}/events", ls.board(true))),
        None,
    )
    .await;
    merchant.board().await;

    let click = ls.click(&app).await;
    let (_, _, html) = events.board().await;
    assert_eq!(
        &values(&html)[..3],
        ["1", "1", "0"],
        "the click, without a reload"
    );
    let (_, _, html) = merchant.board().await;
    assert_eq!(
        &values(&html)[..3],
        ["1", "1", "0"],
        "the merchant's board too"
    );

    ls.order(&app, "PUSH-1", Some(&click), None).await;
    let (last_id, _, html) = events.board().await;
    assert_eq!(values(&html)[2], "1", "the order");
    assert!(
        html.contains("Latest orders") && html.contains("link "),
        "{html}"
    );
    assert_ne!(first_id, last_id);

    // A reconnect that saw everything gets nothing new; one that missed something gets the
    // board at once.
    drop(events);
    let mut same = Events::open(&ls.influencer, &url, Some(&last_id)).await;
    assert!(same.next(Duration::from_millis(1500)).await.is_none());
    let mut behind = Events::open(&ls.influencer, &url, Some(&first_id)).await;
    let (id, _, html) = behind.board().await;
    assert_eq!(id, last_id);
    assert_eq!(values(&html)[2], "1");
}

#[tokio::test]
async fn another_accounts_board_is_a_404_and_signed_out_readers_sign_in() {
    let app = TestApp::spawn().await;
    let ls = app.live_stream().await;
    let other = app
        .logged_in(
            tandem::domain::account::Role::Influencer,
            "other@creators.test",
        )
        .await;
    let shop = app
        .logged_in(tandem::domain::account::Role::Merchant, "other@shop.test")
        .await;
    for (client, path) in [
        (&other, ls.board(false)),
        (&other, format!("{}/events", ls.board(false))),
        (&shop, ls.board(true)),
        (&shop, format!("{}/events", ls.board(true))),
    ] {
        let res = get_with(client, &app.url(&path)).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // The creator cannot open the merchant's board, nor the merchant the creator's.
    let res = get_with(&ls.influencer, &app.url(&ls.board(true))).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = get_with(&ls.merchant, &app.url(&ls.board(false))).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = new_client()
        .get(app.url(&format!("{}/events", ls.board(false))))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/login"));
}

#[tokio::test]
async fn the_event_stream_ends_when_its_session_is_signed_out() {
    let app = TestApp::spawn().await;
    let ls = app.live_stream().await;
    let url = app.url(&format!("{}/events", ls.board(false)));
    let mut events = Events::open(&ls.influencer, &url, None).await;
    events.board().await;
    assert_eq!(app.state.live.boards(), 1);
    assert_eq!(tandem::jobs::live::sweep_once(&app.state).await.unwrap(), 0);
    app.logout_with(&ls.influencer, &ls.board(false)).await;
    assert_eq!(tandem::jobs::live::sweep_once(&app.state).await.unwrap(), 1);
    let (_, name, why) = events
        .next(Duration::from_secs(2))
        .await
        .expect("an end event");
    assert_eq!(name, "end");
    assert!(why.contains("session has ended"), "{why}");
    assert!(
        events.next(Duration::from_secs(2)).await.is_none(),
        "closed"
    );
}

#[tokio::test]
async fn an_ended_stream_is_replayed_minute_by_minute() {
    let app = TestApp::spawn().await;
    let ls = app.live_stream().await;
    ls.click(&app).await;
    app.clock.advance(TimeDelta::minutes(2));
    let click = ls.click_as(&app, &format!("{PHONE} later")).await;
    ls.order(&app, "REPLAY-1", Some(&click), None).await;
    app.clock.advance(TimeDelta::minutes(1));
    let board = ls.board(false);
    let res = post_form_with(
        &ls.influencer,
        &app.url(&board),
        &app.url(&format!("{board}/end")),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = get_with(&ls.influencer, &app.url(&board))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Ended · 3 min live"), "{html}");
    assert!(
        !html.contains("data-events"),
        "an ended board is not pushed"
    );
    assert_eq!(&values(&html)[..3], ["2", "2", "1"]);
    // Back to its first minute: one click, no order yet.
    let start = ls.figures(&app, false, None).await.start_minute;
    let first = get_with(&ls.influencer, &app.url(&format!("{board}?at={start}")))
        .await
        .text()
        .await
        .unwrap();
    assert!(first.contains("Replay · as of"), "{first}");
    assert_eq!(&values(&first)[..3], ["1", "1", "0"]);
    let replay = ls.figures(&app, false, Some(start + 120)).await;
    assert_eq!(replay.total.all.orders, 1);
    assert_eq!(replay.minutes.last().unwrap().0, start + 120);
    assert_eq!(replay.minutes.iter().map(|m| m.1.orders).sum::<i64>(), 1);
    // An ended stream's events: the final board, then the end.
    let mut events = Events::open(&ls.influencer, &app.url(&format!("{board}/events")), None).await;
    events.board().await;
    let (_, name, _) = events.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(name, "end");
    // It cannot go live again, and bad input is a clear 400.
    let res = post_form_with(
        &ls.influencer,
        &app.url(&board),
        &app.url(&format!("{board}/start")),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = get_with(&ls.influencer, &app.url(&format!("{board}?at=noon"))).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The merchant's view of the same replay.
    let m = ls.figures(&app, true, None).await;
    assert_eq!(m.total.all.human_clicks(), 2);
    assert_eq!(
        View::Merchant(ls.merchant_id).merchant(),
        Some(ls.merchant_id)
    );
}

#[tokio::test]
async fn a_click_stored_by_another_node_reaches_the_board() {
    let app = TestApp::spawn().await;
    if !app.on_postgres() {
        eprintln!(
            "skipped: several app nodes share a PostgreSQL database (set TANDEM_TEST_DATABASE_URL); SQLite runs as one node"
        );
        return;
    }
    let ls = app.live_stream().await;
    let node_b = app.second_node();
    let mut events = Events::open(
        &ls.influencer,
        &app.url(&format!("{}/events", ls.board(false))),
        None,
    )
    .await;
    events.board().await;
    let res = new_client()
        .get(node_b.url(&format!("/l/{}", ls.code)))
        .header("user-agent", PHONE)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let (_, _, html) = events.board().await;
    assert_eq!(
        &values(&html)[..2],
        ["1", "1"],
        "node B's click on node A's board"
    );
}
