//! Bank statement import (finance, issue #28) end to end through the pages: a CSV of
//! incoming transfers is previewed row by row (nothing recorded), matched rows are recorded
//! against their invoice and the rest by hand or skipped at confirmation, in one go; the
//! same file twice and a second confirmation change nothing; files that do not read are
//! refused whole; only finance confirms.

use diesel::prelude::*;
use reqwest::{Client, StatusCode};
use tandem::db::{self, DbConn};
use tandem::domain::account::Role;

use crate::helpers::{TestApp, csrf_from, get_with, location, post_form_with};

const LIST: &str = "/finance/billing/statements";

/// What the demo's billing holds that the statements pay.
struct Books {
    lumiere: i64,
    lumiere_invoice: String,
    lumiere_open: i64,
    voltix: i64,
    voltix_invoice: String,
    voltix_open: i64,
    today: String,
}

fn open_invoice(conn: &mut DbConn, merchant: i64, today: chrono::NaiveDate) -> (String, i64) {
    let s = tandem::service::billing::standing(conn, merchant, today).unwrap();
    let d = s
        .docs
        .iter()
        .find(|d| !d.invoice.is_credit_note() && d.open_minor() > 0)
        .expect("an open invoice");
    (d.invoice.number.clone(), d.open_minor())
}

fn open_of(conn: &mut DbConn, merchant: i64, number: &str) -> i64 {
    let s = tandem::service::billing::standing(conn, merchant, chrono::Utc::now().date_naive())
        .unwrap();
    s.docs
        .iter()
        .find(|d| d.invoice.number == number)
        .map(|d| d.open_minor())
        .unwrap()
}

async fn books(app: &TestApp) -> Books {
    let today = app.clock_now().date();
    app.with_db(move |conn| {
        let ms = db::merchants::all(conn)?;
        let id = |n: &str| ms.iter().find(|m| m.name == n).unwrap().id;
        let (lumiere, voltix) = (id("Lumière Beauty"), id("Voltix Electronics"));
        let (lumiere_invoice, lumiere_open) = open_invoice(conn, lumiere, today);
        let (voltix_invoice, voltix_open) = open_invoice(conn, voltix, today);
        Ok(Books {
            lumiere,
            lumiere_invoice,
            lumiere_open,
            voltix,
            voltix_invoice,
            voltix_open,
            today: today.format("%Y-%m-%d").to_string(),
        })
    })
    .await
}

/// (payments, journals, imports) as they stand.
async fn counts(app: &TestApp) -> (usize, i64, usize) {
    app.with_db(|conn| {
        use tandem::db::schema::journals;
        Ok((
            db::billing::payments(conn, None)?.len(),
            journals::table.count().get_result(conn)?,
            db::billing::imports(conn)?.len(),
        ))
    })
    .await
}

fn clean(conn: &mut DbConn) {
    let b = tandem::service::orders::check_ledger(conn)
        .expect("ledger read")
        .breaks;
    assert!(b.is_empty(), "{b:#?}");
}

async fn finance(app: &TestApp) -> Client {
    app.logged_in(Role::Finance, "statements@finance.test")
        .await
}

async fn upload(app: &TestApp, c: &Client, csv: &str) -> reqwest::Response {
    post_form_with(
        c,
        &app.url(LIST),
        &app.url(LIST),
        &[("csv", csv), ("filename", "C:\\bank\\cmb-december.csv")],
    )
    .await
}

async fn page(app: &TestApp, c: &Client, path: &str) -> (StatusCode, String) {
    let res = get_with(c, &app.url(path)).await;
    (res.status(), res.text().await.unwrap())
}

fn rows_of(conn: &mut DbConn, import: i64) -> Vec<db::billing::StatementRow> {
    db::billing::statement_rows_of(conn, import).unwrap()
}

/// The rows table of a statement page, its ids and dates aside (they follow the database
/// and the clock).
fn table_of(html: &str, today: &str) -> String {
    let start = html
        .find("<div class=\"table-wrap\" id=\"statement-rows\">")
        .expect("the rows table");
    let end = html[start..].find("</table>").unwrap() + start + "</table>".len();
    let fragment = html[start..end].replace(today, "<today>");
    let chars: Vec<char> = fragment.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let after_id_mark = out.ends_with('-') || out.ends_with("value=\"") || out.ends_with('#');
        if chars[i].is_ascii_digit() && after_id_mark {
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            out.push('N');
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_statement_is_previewed_then_recorded_as_confirmed_and_only_once() {
    let app = TestApp::demo().await;
    let b = books(&app).await;
    let f = finance(&app).await;
    let (status, list) = page(&app, &f, LIST).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("No statement yet"), "{list}");
    assert!(list.contains("data-fill=\"f-statement\""), "{list}");
    let before = counts(&app).await;
    let csv = format!(
        "Date,Amount,Currency,Reference,Payer,Balance\n\
         {t},100.00,CNY,Payment {inv} thank you,Lumiere Beauty (Shanghai) Ltd,9000.00\n\
         {t},50.00,USD,WIRE 7781 VOLTIX,Voltix Electronics Inc,8950.00\n\
         {t},\"1,234.50\",CNY,Transfer 8812,Someone,7715.50\n",
        t = b.today,
        inv = b.lumiere_invoice
    );
    let res = upload(&app, &f, &csv).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let at = location(&res);
    assert!(at.starts_with("/finance/billing/statements/"), "{at}");
    let import: i64 = at.rsplit('/').next().unwrap().parse().unwrap();
    let (status, html) = page(&app, &f, &at).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("3 rows: 1 matched, 1 to match by hand, 1 with a problem"),
        "{html}"
    );
    assert!(
        html.contains("Statement read: 3 rows."),
        "the flash: {html}"
    );
    assert!(
        html.contains("Columns of the file not read: balance."),
        "{html}"
    );
    assert!(html.contains("cmb-december.csv"), "{html}");
    assert!(html.contains("thousands separator"), "{html}");
    insta::assert_snapshot!("statement_preview_table", table_of(&html, &b.today));
    // A preview records nothing.
    assert_eq!(counts(&app).await, (before.0, before.1, before.2 + 1));
    let rows = app.with_db(move |conn| Ok(rows_of(conn, import))).await;
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r.outcome.is_none() && r.payment_id.is_none())
    );
    assert!(rows[0].matched_invoice_id.is_some());
    assert_eq!(rows[0].row_no, 2);
    assert!(rows[1].matched_invoice_id.is_none() && rows[1].problem.is_none());
    assert!(rows[2].problem.is_some());

    // The same file again is the same import, and changes nothing.
    let again = upload(&app, &f, &csv.replace('\n', "\r\n")).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&again), at);
    let (_, html) = page(&app, &f, &at).await;
    assert!(html.contains("This file was uploaded before"), "{html}");
    assert_eq!(counts(&app).await, (before.0, before.1, before.2 + 1));

    // Confirm: the matched row against its invoice, the other for Voltix (in USD, its
    // invoice's currency), the bad one skipped.
    let voltix = b.voltix.to_string();
    let (r1, r2) = (rows[0].id, rows[1].id);
    let res = post_form_with(
        &f,
        &app.url(&at),
        &app.url(&format!("{at}/apply")),
        &[
            (&format!("d-{r1}"), "matched"),
            (&format!("m-{r2}"), &voltix),
            (&format!("i-{r2}"), ""),
        ],
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    let after = counts(&app).await;
    assert_eq!(after.0, before.0 + 2, "two payments");
    assert_eq!(after.1, before.1 + 2, "one journal each");
    let (li, vi) = (b.lumiere_invoice.clone(), b.voltix_invoice.clone());
    let (lumiere, lumiere_open, voltix_open) = (b.lumiere, b.lumiere_open, b.voltix_open);
    let rows = app
        .with_db(move |conn| {
            clean(conn);
            assert_eq!(open_of(conn, lumiere, &li), lumiere_open - 10_000);
            assert_eq!(open_of(conn, b.voltix, &vi), (voltix_open - 5_000).max(0));
            let rows = rows_of(conn, import);
            for r in &rows[..2] {
                let p = db::billing::payment(conn, r.payment_id.unwrap())?.unwrap();
                assert_eq!(p.statement_row_id, Some(r.id));
                assert_eq!(p.bank_reference, r.reference);
                assert_eq!(p.payer, r.payer);
                assert_eq!(p.value_date, r.value_date);
            }
            let p = db::billing::payment(conn, rows[0].payment_id.unwrap())?.unwrap();
            assert_eq!(
                (p.merchant_id, p.amount_minor, p.currency.as_str()),
                (lumiere, 10_000, "CNY")
            );
            let p = db::billing::payment(conn, rows[1].payment_id.unwrap())?.unwrap();
            assert_eq!(
                (p.merchant_id, p.amount_minor, p.currency.as_str()),
                (b.voltix, 5_000, "USD")
            );
            let events = db::audit::for_subject(conn, "statement_import", import)?;
            let applied = events
                .iter()
                .find(|e| e.action == "statement.applied")
                .unwrap();
            assert!(
                applied.detail.contains("2 payments recorded"),
                "{}",
                applied.detail
            );
            assert!(applied.detail.contains("1 skipped"), "{}", applied.detail);
            Ok(rows)
        })
        .await;
    let outcomes: Vec<Option<&str>> = rows.iter().map(|r| r.outcome.as_deref()).collect();
    assert_eq!(
        outcomes,
        [Some("recorded"), Some("recorded"), Some("skipped")]
    );
    let (_, html) = page(&app, &f, &at).await;
    assert!(
        html.contains("Statement applied: 2 payments recorded"),
        "{html}"
    );
    assert!(html.contains("Applied on "), "{html}");
    assert!(html.contains("3 rows: 2 recorded, 1 skipped"), "{html}");
    assert!(
        html.contains(&format!("Payment #{}", rows[0].payment_id.unwrap())),
        "{html}"
    );
    assert!(!html.contains("Confirm: record the payments"), "{html}");

    // A second confirmation, or the file again, changes nothing.
    let token = csrf_from(&html).unwrap();
    let res = f
        .post(app.url(&format!("{at}/apply")))
        .form(&[
            ("csrf_token", token.as_str()),
            (&format!("m-{r2}"), voltix.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("nothing changed"));
    let res = upload(&app, &f, &csv).await;
    assert_eq!(location(&res), at);
    let (_, html) = page(&app, &f, &at).await;
    assert!(html.contains("Applied on "), "{html}");
    assert_eq!(counts(&app).await, after);
    let (_, list) = page(&app, &f, LIST).await;
    assert!(list.contains("3 rows: 2 recorded, 1 skipped"), "{list}");
    assert!(list.contains("Applied "), "{list}");
    app.with_db(|conn| {
        clean(conn);
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn transfers_recorded_before_are_not_recorded_again() {
    let app = TestApp::demo().await;
    let b = books(&app).await;
    let f = finance(&app).await;
    // Recorded by hand before the statement came.
    let (lumiere, inv, today) = (b.lumiere, b.lumiere_invoice.clone(), app.clock_now());
    app.with_db(move |conn| {
        let actor = db::users::find_by_email(conn, "statements@finance.test")?
            .unwrap()
            .id;
        let form = tandem::service::billing::PaymentForm {
            merchant_id: lumiere.to_string(),
            currency: "CNY".into(),
            amount: "10.00".into(),
            value_date: today.date().format("%Y-%m-%d").to_string(),
            bank_reference: format!("Paid {inv}"),
            payer: "Lumiere".into(),
            invoice: String::new(),
        };
        let valid = tandem::service::billing::validate_payment(conn, &form, today.date())?
            .map_err(tandem::error::AppError::Validation)?;
        tandem::service::billing::record_payment(
            conn,
            today,
            "http://localhost",
            actor,
            &valid,
            None,
        )?;
        Ok(())
    })
    .await;
    let before = counts(&app).await;
    // The first row's reference is a recorded payment of the invoice's merchant; the
    // second is the demo's own payment of Lumière (matched by hand); the third names an
    // invoice of another currency.
    let csv = format!(
        "date,amount,currency,reference,payer\n\
         {t},10.00,CNY,Paid {inv},Lumiere\n\
         {t},20.00,CNY,ICBC-LB-40917,Lumiere Beauty (Shanghai) Ltd\n\
         {t},30.00,USD,For {inv},Lumiere\n",
        t = b.today,
        inv = b.lumiere_invoice
    );
    let res = upload(&app, &f, &csv).await;
    let at = location(&res);
    let import: i64 = at.rsplit('/').next().unwrap().parse().unwrap();
    let (_, html) = page(&app, &f, &at).await;
    assert!(
        html.contains("3 rows: 0 matched, 2 to match by hand, 0 with a problem, 1 recorded before"),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "{} is in CNY, this transfer in USD.",
            b.lumiere_invoice
        )),
        "{html}"
    );
    let rows = app.with_db(move |conn| Ok(rows_of(conn, import))).await;
    assert_eq!(rows[0].outcome.as_deref(), Some("already_recorded"));
    assert!(rows[0].payment_id.is_some());
    let lumiere = b.lumiere.to_string();
    let res = post_form_with(
        &f,
        &app.url(&at),
        &app.url(&format!("{at}/apply")),
        &[
            (&format!("m-{}", rows[1].id), &lumiere),
            (&format!("m-{}", rows[2].id), ""),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(counts(&app).await.0, before.0, "nothing new");
    let rows = app
        .with_db(move |conn| {
            clean(conn);
            Ok(rows_of(conn, import))
        })
        .await;
    let outcomes: Vec<Option<&str>> = rows.iter().map(|r| r.outcome.as_deref()).collect();
    assert_eq!(
        outcomes,
        [
            Some("already_recorded"),
            Some("already_recorded"),
            Some("skipped")
        ]
    );
    assert!(rows[1].payment_id.is_some(), "the demo's payment");
}

#[tokio::test]
async fn decisions_that_do_not_hold_record_nothing() {
    let app = TestApp::demo().await;
    let b = books(&app).await;
    let f = finance(&app).await;
    let csv = format!(
        "date,amount,currency,reference,payer\n\
         {t},10.00,CNY,Payment {inv},Lumiere\n\
         {t},20.00,USD,Wire 1,Voltix\n\
         {t},-5.00,CNY,Fee,Bank\n",
        t = b.today,
        inv = b.lumiere_invoice
    );
    let at = location(&upload(&app, &f, &csv).await);
    let import: i64 = at.rsplit('/').next().unwrap().parse().unwrap();
    let rows = app.with_db(move |conn| Ok(rows_of(conn, import))).await;
    assert!(
        rows[2]
            .problem
            .as_deref()
            .unwrap()
            .contains("Not an incoming transfer")
    );
    let before = counts(&app).await;
    // Voltix's row against Lumière's invoice, and the outgoing row recorded.
    let voltix = b.voltix.to_string();
    let res = post_form_with(
        &f,
        &app.url(&at),
        &app.url(&format!("{at}/apply")),
        &[
            (&format!("m-{}", rows[1].id), &voltix),
            (&format!("i-{}", rows[1].id), &b.lumiere_invoice),
            (&format!("d-{}", rows[2].id), "matched"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("Nothing was recorded"), "{html}");
    assert!(
        html.contains(&format!(
            "Line 3: {} is not an invoice of Voltix Electronics.",
            b.lumiere_invoice
        )),
        "{html}"
    );
    assert!(html.contains("Line 4: this row has a problem"), "{html}");
    assert!(
        html.contains(&format!("value=\"{}\" selected", b.voltix)),
        "the choice is kept: {html}"
    );
    assert_eq!(counts(&app).await, before);
    let applied = app
        .with_db(move |conn| {
            Ok(db::billing::statement_import(conn, import)?
                .unwrap()
                .applied_at)
        })
        .await;
    assert_eq!(applied, None);
    // An unknown import is a 404.
    let (status, _) = page(&app, &f, "/finance/billing/statements/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn files_that_do_not_read_are_refused_whole() {
    let app = TestApp::demo().await;
    let f = finance(&app).await;
    let before = counts(&app).await;
    let mut too_many = String::from("date,amount,currency,reference,payer\n");
    for i in 0..5_001 {
        too_many.push_str(&format!("2026-12-01,1.00,CNY,r{i},p\n"));
    }
    let cases = [
        ("", "The file is empty"),
        (
            "date,amount,currency,reference\n2026-12-01,1.00,CNY,x\n",
            "Line 1: the header has no column “payer”",
        ),
        (
            "date,amount,currency,reference,payer\n2026-12-01,1.00,CNY,\"open,p\n2026-12-02,2.00,CNY,y,q\n",
            "Line 2, column “reference”: a field holds a line break",
        ),
        (
            "date,amount,currency,reference,payer\n2026-12-01,1,000.00,CNY,x,p\n",
            "Line 2: this row has 6 fields, the header 5",
        ),
        (
            too_many.as_str(),
            "Line 5002: the file has more than 5,000 rows",
        ),
        (
            "date,amount,currency,reference,payer\n2026-12-01,1.00,CNY,x\u{200B},p\n",
            "zero-width space",
        ),
    ];
    for (csv, message) in cases {
        let res = upload(&app, &f, csv).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{message}: {html}");
        assert!(html.contains("Nothing was imported."), "{html}");
    }
    // Bytes that are not UTF-8.
    let (_, form) = page(&app, &f, LIST).await;
    let token = csrf_from(&form).unwrap();
    let res = f
        .post(app.url(LIST))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf_token={token}&filename=x.csv&csv=date%2Camount%2Ccurrency%2Creference%2Cpayer%0A2026-12-01%2C1.00%2CCNY%2Cr%2CCaf%E9"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("not UTF-8"));
    assert_eq!(counts(&app).await, before, "nothing kept");
}

#[tokio::test]
async fn only_finance_imports_statements() {
    let app = TestApp::demo().await;
    let m = app
        .logged_in(Role::Merchant, "merchant-stmt@shop.test")
        .await;
    let i = app
        .logged_in(Role::Influencer, "creator-stmt@example.test")
        .await;
    for c in [&m, &i] {
        let (status, _) = page(&app, c, LIST).await;
        assert!(
            matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{status}"
        );
        let (status, _) = page(&app, c, "/finance/billing/statements/1").await;
        assert!(
            matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{status}"
        );
    }
    // A merchant's POST with its own session's token is refused too.
    let (_, home) = page(&app, &m, "/merchant").await;
    let token = csrf_from(&home).unwrap();
    let res = m
        .post(app.url(LIST))
        .form(&[
            ("csrf_token", token.as_str()),
            (
                "csv",
                "date,amount,currency,reference,payer\n2026-12-01,1.00,CNY,r,p\n",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert!(matches!(
        res.status(),
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
    ));
    // An admin reads, but records payments only where admins approve payouts.
    let a = app.logged_in(Role::Admin, "admin-stmt@tandem.test").await;
    let (status, html) = page(&app, &a, LIST).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Recording payments is finance's"), "{html}");
    let token = csrf_from(&html).unwrap();
    let res = a
        .post(app.url(LIST))
        .form(&[
            ("csrf_token", token.as_str()),
            (
                "csv",
                "date,amount,currency,reference,payer\n2026-12-01,1.00,CNY,r,p\n",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(counts(&app).await.2, 0);
}
