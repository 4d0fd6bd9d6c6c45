//! Sealed payout details leave no plain text on disk (issue 27 §4): not in the SQLite file,
//! its write-ahead log or its free pages, after the demo's load and after the start-up pass
//! that seals details (and the payouts' copies of them) from before sealing.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use tandem::db::schema::{influencers, payouts};
use tandem::domain::sealed::Sealer;

use crate::helpers::TestApp;

/// An account number no sealed value can contain by chance.
const ACCOUNT: &str = "DE89370400440532013000";

fn legacy_details() -> String {
    serde_json::json!({
        "method": "bank",
        "currency": "",
        "account_holder": "Lena Legacy",
        "bank_name": "Commerzbank",
        "account_number": ACCOUNT,
        "paypal_email": "",
    })
    .to_string()
}

/// The files (of the SQLite database, its log and index) that hold `needle`.
fn files_holding(files: &[(std::path::PathBuf, Vec<u8>)], needle: &str) -> Vec<String> {
    files
        .iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .map(|(path, _)| path.display().to_string())
        .collect()
}

/// Writes, as a version from before sealing left them, one creator's payout details in plain
/// text and the same text as the destination of each of their payouts, whatever its state;
/// on a plain connection, without the app's pragmas.
fn write_legacy_rows(database_url: &str, creator: i64) {
    let details = legacy_details().replace('\'', "''");
    let update = format!(
        "UPDATE influencers SET payout_details = '{details}', payout_method = 'bank' \
         WHERE id = {creator}; \
         UPDATE payouts SET destination = '{details}', method = 'bank' \
         WHERE influencer_id = {creator};"
    );
    if tandem::db::Backend::of_url(database_url) == tandem::db::Backend::Postgres {
        let mut c = diesel::PgConnection::establish(database_url).unwrap();
        // The test database's owner may switch the guard off (the app's role may not).
        c.batch_execute(&format!(
            "BEGIN; ALTER TABLE payouts DISABLE TRIGGER payouts_guard; {update} \
             ALTER TABLE payouts ENABLE TRIGGER payouts_guard; COMMIT;"
        ))
        .unwrap();
    } else {
        let mut c = diesel::SqliteConnection::establish(database_url).unwrap();
        #[derive(QueryableByName)]
        struct Sql {
            #[diesel(sql_type = diesel::sql_types::Text)]
            sql: String,
        }
        let guard: Sql = diesel::sql_query(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'payouts_fixed'",
        )
        .get_result(&mut c)
        .unwrap();
        c.batch_execute(&format!(
            "BEGIN; DROP TRIGGER payouts_fixed; {update} {}; COMMIT;",
            guard.sql
        ))
        .unwrap();
    }
}

/// The creator with the most payouts, and the states of their payouts.
async fn busiest_creator(app: &TestApp) -> (i64, Vec<String>) {
    app.with_db(|conn| {
        let rows: Vec<(i64, String)> = payouts::table
            .select((payouts::influencer_id, payouts::state))
            .order(payouts::id)
            .load(conn)?;
        let mut counts = std::collections::BTreeMap::<i64, Vec<String>>::new();
        for (who, state) in rows {
            counts.entry(who).or_default().push(state);
        }
        Ok(counts
            .into_iter()
            .max_by_key(|(who, states)| (states.len(), -who))
            .expect("the demo has payouts"))
    })
    .await
}

/// What is stored for the creator: their details and their payouts' destinations.
async fn stored_for(app: &TestApp, creator: i64) -> (String, Vec<String>) {
    app.with_db(move |conn| {
        let details: Option<String> = influencers::table
            .find(creator)
            .select(influencers::payout_details)
            .first(conn)?;
        let destinations: Vec<Option<String>> = payouts::table
            .filter(payouts::influencer_id.eq(creator))
            .select(payouts::destination)
            .load(conn)?;
        Ok((
            details.expect("details"),
            destinations
                .into_iter()
                .map(|d| d.expect("destination"))
                .collect(),
        ))
    })
    .await
}

#[tokio::test]
async fn the_demo_leaves_no_plain_payout_details_in_the_database_files() {
    let app = TestApp::demo().await;
    // Every detail and every payout's copy of one is sealed (the demo plans and settles
    // payouts from details it writes in plain text, then seals).
    let (details, plain) = app
        .with_db(|conn| {
            Ok((
                tandem::db::influencers::payout_details_all(conn)?,
                tandem::db::payouts::plain_destinations(conn)?,
            ))
        })
        .await;
    assert!(details.len() > 10 && details.iter().all(|(_, d)| Sealer::is_sealed(d)));
    assert_eq!(plain, vec![]);
    if app.sqlite_files().is_empty() {
        return; // PostgreSQL: its files are the server's.
    }
    // The demo's details as it writes them (service::demo): Mia's account, a generated
    // account and a PayPal receiver.
    let (creator, _) = busiest_creator(&app).await;
    let needles = [
        "6225880212345678".to_owned(),
        "\"account_number\":\"62258801".to_owned(),
        "@paypal.example".to_owned(),
    ];
    for needle in &needles {
        assert_eq!(
            files_holding(&app.sqlite_files(), needle),
            Vec::<String>::new(),
            "{needle} while running"
        );
    }
    let (details, _) = stored_for(&app, creator).await;
    assert!(Sealer::is_sealed(&details));
    let stopped = app.stop().await;
    for needle in &needles {
        assert_eq!(
            files_holding(&stopped.sqlite_files(), needle),
            Vec::<String>::new(),
            "{needle} after a clean stop"
        );
    }
}

#[tokio::test]
async fn plain_payout_details_from_before_sealing_are_sealed_at_start_and_leave_no_trace() {
    let app = TestApp::demo().await;
    let (creator, states) = busiest_creator(&app).await;
    assert!(
        states.iter().any(|s| s != "draft"),
        "a payout past approval too: {states:?}"
    );
    let stopped = app.stop().await;
    write_legacy_rows(&stopped.settings.database_url, creator);
    if !stopped.sqlite_files().is_empty() {
        // The test reads the files it should: the plain text is there now.
        assert!(!files_holding(&stopped.sqlite_files(), ACCOUNT).is_empty());
    }

    let app = stopped.start().await;
    let (details, destinations) = stored_for(&app, creator).await;
    let sealer = app.state.sealer.clone();
    assert!(Sealer::is_sealed(&details), "{details}");
    assert_eq!(sealer.open(&details).unwrap(), legacy_details());
    assert_eq!(destinations.len(), states.len());
    for d in &destinations {
        assert!(Sealer::is_sealed(d), "{d}");
        assert_eq!(sealer.open(d).unwrap(), legacy_details());
    }
    assert_eq!(
        files_holding(&app.sqlite_files(), ACCOUNT),
        Vec::<String>::new(),
        "while running"
    );
    // The guard still refuses any other change of a destination past approval.
    let refused = app
        .state
        .db(move |conn| {
            let other = Sealer::from_secret(b"another key, another sealed value!!").seal("{}");
            let id: i64 = payouts::table
                .filter(payouts::influencer_id.eq(creator))
                .filter(payouts::state.ne("draft"))
                .select(payouts::id)
                .first(conn)?;
            Ok(diesel::update(payouts::table.find(id))
                .set(payouts::destination.eq(Some(other)))
                .execute(conn)?)
        })
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let stopped = app.stop().await;
    assert_eq!(
        files_holding(&stopped.sqlite_files(), ACCOUNT),
        Vec::<String>::new(),
        "after a clean stop"
    );
    // And a second start finds nothing to seal: it reads the same.
    let app = stopped.start().await;
    assert_eq!(stored_for(&app, creator).await, (details, destinations));
}
