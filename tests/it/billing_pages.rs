//! Billing as people see it on the demo: the merchant's Billing page and invoice (theirs
//! only), its CSV and email, finance recording a payment (errors named by field, a repeated
//! bank reference refused), terms, and admin's settings carried by the next invoice.

use reqwest::StatusCode;

use crate::helpers::{TestApp, location, post_form_with};
use crate::payouts::{demo_client, text};

/// Month names and years, dates and times out, so snapshots hold whenever they run.
fn redact(s: &str) -> String {
    let months = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let mut out = s.to_owned();
    for m in months {
        for y in 2025..2030 {
            out = out.replace(&format!("{m} {y}"), "[MONTH]");
        }
    }
    for y in 2025..2030 {
        out = out.replace(&format!("INV-{y}-"), "INV-[YEAR]-");
        out = out.replace(&format!("CN-{y}-"), "CN-[YEAR]-");
    }
    out
}

async fn invoice_of(app: &TestApp, merchant: &'static str) -> tandem::db::billing::Invoice {
    app.with_db(move |conn| {
        let m = tandem::db::merchants::all(conn)?
            .into_iter()
            .find(|m| m.name == merchant)
            .unwrap()
            .id;
        Ok(tandem::db::billing::invoices_of(conn, m)?.remove(0))
    })
    .await
}

#[tokio::test]
async fn a_merchant_reads_its_billing_and_invoices_and_no_one_elses() {
    let app = TestApp::demo().await;
    let jade = invoice_of(&app, "Jade Leaf Tea Co.").await;
    let voltix = invoice_of(&app, "Voltix Electronics").await;
    let m = demo_client(&app, "merchant@demo.tandem.test").await;
    let (status, html) = text(&m, &app, "/merchant/billing").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&jade.number));
    assert!(
        !html.contains(&voltix.number),
        "another merchant's invoice is not listed"
    );
    assert!(
        html.contains("<dt>Your credit</dt><dd>¥50.00</dd>"),
        "{html}"
    );
    assert!(html.contains(">Paid</span>"));
    assert!(
        html.contains("China Merchants Bank"),
        "payment instructions"
    );
    // The dashboard's "You owe" links here.
    let (_, home) = text(&m, &app, "/merchant/dashboard").await;
    assert!(home.contains("<a href=\"/merchant/billing\">Billing</a>"));

    let (status, doc) = text(&m, &app, &format!("/merchant/billing/invoices/{}", jade.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc.contains("data-print"), "a print button");
    assert!(doc.contains(&format!(
        "Reference: <strong class=\"mono\">{}</strong>",
        jade.number
    )));
    let (status, _) = text(
        &m,
        &app,
        &format!("/merchant/billing/invoices/{}", voltix.id),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another merchant's invoice is a 404"
    );
    let (status, _) = text(
        &m,
        &app,
        &format!("/merchant/billing/invoices/{}/lines.csv", voltix.id),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Lumière's invoice: commission lines, the fee, VAT on it, what was paid.
    let lumiere = invoice_of(&app, "Lumière Beauty").await;
    let b = demo_client(&app, "beauty@demo.tandem.test").await;
    let (_, doc) = text(
        &b,
        &app,
        &format!("/merchant/billing/invoices/{}", lumiere.id),
    )
    .await;
    let lines = doc
        .split("<table class=\"table doc-lines\">")
        .nth(1)
        .unwrap()
        .split("</table>")
        .next()
        .unwrap();
    insta::assert_snapshot!("lumiere_invoice_lines", redact(lines));
    let res = crate::helpers::get_with(
        &b,
        &app.url(&format!(
            "/merchant/billing/invoices/{}/lines.csv",
            lumiere.id
        )),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    insta::assert_snapshot!("lumiere_invoice_csv", redact(&res.text().await.unwrap()));
    // Its email to the owner.
    let mail = app
        .wait_for_email_where(|e| {
            e.subject
                .starts_with(&format!("Invoice {}", lumiere.number))
        })
        .await;
    assert_eq!(mail.to, "beauty@demo.tandem.test");
    let due = tandem::service::billing::fmt_due(lumiere.due_date());
    let mail_text = format!("{}\n\n{}", mail.subject, mail.text)
        .replace(&app.address, "[BASE]")
        .replace(&due, "[DUE]");
    insta::assert_snapshot!("lumiere_invoice_email", redact(&mail_text));
    // Finance and admin pages are not the merchant's.
    let (status, _) = text(&m, &app, "/finance/billing").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn finance_records_a_payment_with_errors_named_and_once_per_reference() {
    let app = TestApp::demo().await;
    let lumiere = invoice_of(&app, "Lumière Beauty").await;
    let f = demo_client(&app, "finance@demo.tandem.test").await;
    let (status, html) = text(&f, &app, "/finance/billing").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Receivable aging"));
    // Voltix is overdue: listed first, in the 1–30 days column.
    let aging = html.split("<table class=\"table aging\">").nth(1).unwrap();
    let first = aging
        .split("<tbody>")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(
        first.contains("Voltix Electronics") && first.contains("flagged"),
        "{first}"
    );

    let page = app.url("/finance/billing");
    let post = |fields: Vec<(&'static str, String)>| {
        let f = f.clone();
        let (page, action) = (page.clone(), app.url("/finance/billing/payments"));
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form_with(&f, &page, &action, &pairs).await
        }
    };
    let res = post(vec![
        ("merchant_id", lumiere.merchant_id.to_string()),
        ("currency", "CNY".into()),
        ("amount", "12.345".into()),
        ("value_date", "2026-13-01".into()),
        ("bank_reference", "".into()),
        ("invoice", "INV-1999-000001".into()),
    ])
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    for field in ["amount", "value_date", "bank_reference", "invoice"] {
        assert!(html.contains(&format!("id=\"e-{field}\"")), "{field} named");
    }
    let good = || {
        vec![
            ("merchant_id", lumiere.merchant_id.to_string()),
            ("currency", "CNY".to_owned()),
            ("amount", "100.00".to_owned()),
            ("value_date", app.clock_now().date().to_string()),
            ("bank_reference", "ICBC-TEST-1".to_owned()),
            ("payer", "Lumiere Beauty".to_owned()),
            ("invoice", lumiere.number.to_lowercase()),
        ]
    };
    let res = post(good()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/finance/billing");
    let (_, html) = text(&f, &app, "/finance/billing").await;
    assert!(
        html.contains("Payment of ¥100.00 recorded: applied to"),
        "flash"
    );
    let res = post(good()).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("recorded once"));

    // Terms: a bad value changes nothing; a good one is used by the next invoice.
    let terms = app.url("/finance/billing/terms");
    let res = post_form_with(
        &f,
        &page,
        &terms,
        &[
            ("merchant_id", &lumiere.merchant_id.to_string()),
            ("terms_days", "400"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, html) = text(&f, &app, "/finance/billing").await;
    assert!(html.contains("Payment terms are a whole number of days from 0 to 120"));
    let res = post_form_with(
        &f,
        &page,
        &terms,
        &[
            ("merchant_id", &lumiere.merchant_id.to_string()),
            ("terms_days", "30"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let m = lumiere.merchant_id;
    let days = app
        .with_db(move |conn| Ok(tandem::db::billing::terms_days(conn, m)?))
        .await;
    assert_eq!(days, 30);
    crate::postbacks::ledger_ok(&app).await;
}

#[tokio::test]
async fn admin_sets_the_tax_and_payment_instructions_the_next_invoice_carries() {
    let app = TestApp::demo().await;
    let a = demo_client(&app, "admin@demo.tandem.test").await;
    let page = app.url("/admin/billing");
    let (status, html) = text(&a, &app, "/admin/billing").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Tandem Commerce Ltd."));
    let res = post_form_with(
        &a,
        &page,
        &page,
        &[
            ("payee", ""),
            ("payment_instructions", ""),
            ("tax_rate", "abc"),
            ("tax_label", "GST"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    for field in ["payee", "payment_instructions", "tax_rate"] {
        assert!(
            html.contains(&format!("id=\"e-{field}\"")),
            "{field} named: {html}"
        );
    }
    let res = post_form_with(
        &a,
        &page,
        &page,
        &[
            ("payee", "Tandem Asia Pte. Ltd."),
            (
                "payment_instructions",
                "DBS Singapore\nAccount 003-123456-7",
            ),
            ("tax_rate", "9"),
            ("tax_label", "GST"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Next month's invoices carry it; November's keeps what it was issued with.
    let later = app.clock_now() + chrono::TimeDelta::days(40);
    let issued = app
        .with_db(move |conn| tandem::service::billing::issue_due(conn, later, "http://test", false))
        .await;
    let lumiere_new = issued
        .iter()
        .find(|i| i.merchant == "Lumière Beauty")
        .expect("Lumière's next invoice");
    let id = lumiere_new.invoice_id.unwrap();
    let (new, old) = app
        .with_db(move |conn| {
            let new = tandem::db::billing::invoice(conn, id)?.unwrap();
            let old = tandem::db::billing::invoices_of(conn, new.merchant_id)?.remove(0);
            Ok((new, old))
        })
        .await;
    assert_eq!(
        (new.tax_rate_bps, new.tax_label.as_str(), new.payee.as_str()),
        (900, "GST", "Tandem Asia Pte. Ltd.")
    );
    assert_eq!((old.tax_rate_bps, old.tax_label.as_str()), (600, "VAT"));
    // Finance may not change these settings.
    let f = demo_client(&app, "finance@demo.tandem.test").await;
    let (status, _) = text(&f, &app, "/admin/billing").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    crate::postbacks::ledger_ok(&app).await;
}
