//! `TestApp`: a fresh database (temp SQLite file, or a new PostgreSQL database when
//! `TANDEM_TEST_DATABASE_URL` is set), the app on a free port, a clock the test controls,
//! emails kept in memory, and cookie-keeping HTTP clients.

use std::sync::Arc;
use std::time::Duration;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use rand::RngCore;
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use tandem::config::Settings;
use tandem::domain::account::Role;
use tandem::domain::clock::{Clock, ManualClock};
use tandem::email::SentEmail;
use tandem::startup::{AppState, Application};

pub const PASSWORD: &str = "a good long password";

/// A PostgreSQL database made for one test and dropped after it.
pub struct PgTestDb {
    admin_url: String,
    name: String,
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub state: actix_web::web::Data<AppState>,
    pub clock: Arc<ManualClock>,
    handle: actix_web::dev::ServerHandle,
    /// The server and its jobs; done when they have stopped.
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    settings: Settings,
    dir: Option<tempfile::TempDir>,
    pg: Option<PgTestDb>,
}

/// A test app stopped cleanly (server and jobs ended, its connections closed): its database
/// and data folder are kept, to look at or to start the app on again.
pub struct StoppedApp {
    pub settings: Settings,
    clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
    pg: Option<PgTestDb>,
}

impl StoppedApp {
    /// Starts the app again on the same database, settings (secret key too) and clock, as a
    /// restart of the server would.
    pub async fn start(self) -> TestApp {
        TestApp::start(self.settings, self.clock, self.dir, self.pg)
    }

    /// The SQLite database's files as they are on disk (the database, its write-ahead log
    /// and shared-memory index, where they exist); empty on PostgreSQL.
    pub fn sqlite_files(&self) -> Vec<(std::path::PathBuf, Vec<u8>)> {
        sqlite_files(&self.settings.database_url, self.pg.is_some())
    }
}

/// The SQLite files of a database URL: (path, bytes) of `x.db`, `x.db-wal`, `x.db-shm`.
fn sqlite_files(database_url: &str, postgres: bool) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    if postgres {
        return Vec::new();
    }
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let path = std::path::PathBuf::from(format!("{database_url}{suffix}"));
            std::fs::read(&path).ok().map(|bytes| (path, bytes))
        })
        .collect()
}

fn random_suffix() -> String {
    let mut raw = [0u8; 6];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// The database URL for a new test: a PostgreSQL database created now, or a SQLite file.
pub fn test_database(dir: &std::path::Path) -> (String, Option<PgTestDb>) {
    match std::env::var("TANDEM_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.trim().is_empty() => {
            let name = format!("tandem_test_{}", random_suffix());
            let mut conn = diesel::PgConnection::establish(&admin_url)
                .unwrap_or_else(|e| panic!("TANDEM_TEST_DATABASE_URL: cannot connect: {e}"));
            conn.batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .expect("create test database");
            let mut url = url::Url::parse(&admin_url).expect("TANDEM_TEST_DATABASE_URL is a URL");
            url.set_path(&format!("/{name}"));
            (url.to_string(), Some(PgTestDb { admin_url, name }))
        }
        _ => (dir.join("test.db").to_string_lossy().into_owned(), None),
    }
}

pub fn new_client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// Like `spawn`, with the settings adjusted first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let (database_url, pg) = test_database(dir.path());
        let mut settings = Settings::for_tests(dir.path(), &database_url);
        adjust(&mut settings);
        TestApp::start(settings, Arc::new(ManualClock::starting_now()), dir, pg)
    }

    fn start(
        settings: Settings,
        clock: Arc<ManualClock>,
        dir: tempfile::TempDir,
        pg: Option<PgTestDb>,
    ) -> TestApp {
        let app = Application::build_with_clock(settings.clone(), clock.clone() as Arc<dyn Clock>)
            .expect("application builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        let handle = app.server_handle();
        let running = tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            client: new_client(),
            state,
            clock,
            handle,
            running: Some(running),
            settings,
            dir: Some(dir),
            pg,
        }
    }

    /// Stops the app as `tandem serve` stops on SIGTERM: the server finishes its requests,
    /// the jobs write what they hold and end, and the database connections close.
    pub async fn stop(mut self) -> StoppedApp {
        self.state.live.close();
        self.handle.stop(true).await;
        if let Some(running) = self.running.take() {
            running
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
        let stopped = StoppedApp {
            settings: self.settings.clone(),
            clock: self.clock.clone(),
            dir: self.dir.take().expect("data folder"),
            pg: self.pg.take(),
        };
        // The last handle on the pool: its connections close with it.
        drop(self);
        stopped
    }

    /// Another app node on the same database, settings (secret key: the same cookies sign in)
    /// and clock, on a port of its own, as a second `tandem serve` behind a load balancer.
    /// It owns neither the database nor the data folder.
    pub fn second_node(&self) -> TestApp {
        let app = Application::build_with_clock(
            self.settings.clone(),
            self.clock.clone() as Arc<dyn Clock>,
        )
        .expect("second node builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let (state, handle) = (app.state(), app.server_handle());
        let running = tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            client: new_client(),
            state,
            clock: self.clock.clone(),
            handle,
            running: Some(running),
            settings: self.settings.clone(),
            dir: None,
            pg: None,
        }
    }

    /// Whether the app runs on PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.pg.is_some() || self.settings.database_url.starts_with("postgres")
    }

    /// The SQLite database's files as they are now (see [`StoppedApp::sqlite_files`]).
    pub fn sqlite_files(&self) -> Vec<(std::path::PathBuf, Vec<u8>)> {
        sqlite_files(&self.settings.database_url, self.pg.is_some())
    }

    /// A new app with the demo data loaded.
    pub async fn demo() -> TestApp {
        TestApp::demo_with(|_| {}).await
    }

    /// The demo as it was before merchant billing: no invoice and no payment received, so
    /// the platform's cash is only what payouts took out.
    pub async fn demo_before_billing() -> TestApp {
        let app = TestApp::spawn_with(|_| {}).await;
        let (now, base, sealer) = (
            app.state.now(),
            app.address.clone(),
            app.state.sealer.clone(),
        );
        app.state
            .db(move |conn| {
                tandem::service::demo::load_before_billing(conn, now, &base)?;
                tandem::service::influencer::seal_plain_details(conn, &sealer)
            })
            .await
            .unwrap();
        app
    }

    /// Like `demo`, with the settings adjusted first.
    pub async fn demo_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let app = TestApp::spawn_with(adjust).await;
        let (now, base, sealer) = (
            app.state.now(),
            app.address.clone(),
            app.state.sealer.clone(),
        );
        app.state
            .db(move |conn| {
                tandem::service::demo::load(conn, now, &base)?;
                // As `tandem demo` and `serve --demo` do: payout details sealed at rest.
                tandem::service::influencer::seal_plain_details(conn, &sealer)
            })
            .await
            .unwrap();
        app
    }

    /// Runs `f` on a database connection of the app.
    pub async fn with_db<T, F>(&self, f: F) -> T
    where
        F: FnOnce(&mut tandem::db::DbConn) -> tandem::error::AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.state.db(f).await.expect("database work")
    }

    pub fn clock_now(&self) -> chrono::NaiveDateTime {
        self.clock.now()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        get_with(&self.client, &self.url(path)).await
    }

    /// Posts a form with the CSRF token taken from `form_page` (as a browser would).
    pub async fn post_form(
        &self,
        form_page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        post_form_with(
            &self.client,
            &self.url(form_page),
            &self.url(action),
            fields,
        )
        .await
    }

    pub async fn signup_influencer_with(
        &self,
        client: &Client,
        name: &str,
        handle: &str,
        email: &str,
    ) -> Response {
        post_form_with(
            client,
            &self.url("/signup/influencer"),
            &self.url("/signup/influencer"),
            &[
                ("name", name),
                ("handle", handle),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await
    }

    pub async fn signup_merchant_with(&self, client: &Client, org: &str, email: &str) -> Response {
        post_form_with(
            client,
            &self.url("/signup/merchant"),
            &self.url("/signup/merchant"),
            &[
                ("name", "Owner Name"),
                ("email", email),
                ("password", PASSWORD),
                ("org_name", org),
                ("currency", "CNY"),
            ],
        )
        .await
    }

    pub async fn login_with(&self, client: &Client, email: &str, password: &str) -> Response {
        post_form_with(
            client,
            &self.url("/login"),
            &self.url("/login"),
            &[("email", email), ("password", password)],
        )
        .await
    }

    pub async fn logout_with(&self, client: &Client, from_page: &str) -> Response {
        post_form_with(client, &self.url(from_page), &self.url("/logout"), &[]).await
    }

    /// Creates a finance or admin user directly through the service (as the CLI does).
    pub async fn staff(&self, role: Role, email: &str) {
        let now = self.clock.now();
        let email = email.to_owned();
        self.state
            .db(move |conn| {
                tandem::service::accounts::add_staff_user(
                    conn,
                    now,
                    role,
                    &email,
                    PASSWORD,
                    "Staff Member",
                )
            })
            .await
            .expect("staff user created");
    }

    /// A new logged-in client for a fresh account of the role.
    pub async fn logged_in(&self, role: Role, email: &str) -> Client {
        let client = new_client();
        let res = match role {
            Role::Merchant => {
                self.signup_merchant_with(&client, &format!("Org {email}"), email)
                    .await
            }
            Role::Influencer => {
                let handle = email
                    .split('@')
                    .next()
                    .unwrap_or("someone")
                    .replace(['-', '+'], "_");
                self.signup_influencer_with(&client, "Some Creator", &handle, email)
                    .await
            }
            Role::Finance | Role::Admin => {
                self.staff(role, email).await;
                self.login_with(&client, email, PASSWORD).await
            }
        };
        assert_eq!(
            res.status(),
            StatusCode::SEE_OTHER,
            "sign-up/login of {email} failed"
        );
        client
    }

    /// Waits (up to 10 s) for an email to `to` whose subject contains `subject`.
    pub async fn wait_for_email(&self, to: &str, subject: &str) -> SentEmail {
        for _ in 0..100 {
            if let Some(e) = self
                .state
                .mailer
                .sent()
                .into_iter()
                .rev()
                .find(|e| e.to == to && e.subject.contains(subject))
            {
                return e;
            }
            self.state.wake_mailer();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no email to {to} with subject containing {subject:?}; sent: {:?}",
            self.state.mailer.sent()
        );
    }

    /// Waits (up to 10 s) for an email, to anyone, that `wanted` accepts.
    pub async fn wait_for_email_where(&self, wanted: impl Fn(&SentEmail) -> bool) -> SentEmail {
        for _ in 0..100 {
            if let Some(e) = self.state.mailer.sent().into_iter().rev().find(&wanted) {
                return e;
            }
            self.state.wake_mailer();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no such email; sent: {:?}", self.state.mailer.sent());
    }

    /// Records orders for a merchant through the service, as its postbacks would.
    pub async fn record_orders(
        &self,
        merchant_id: i64,
        orders: Vec<tandem::domain::order::OrderInput>,
    ) {
        let (now, base) = (self.clock.now(), self.address.clone());
        self.with_db(move |conn| {
            for o in &orders {
                tandem::service::orders::record_conversion(
                    conn,
                    now,
                    merchant_id,
                    "api",
                    &base,
                    o,
                )?;
            }
            Ok(())
        })
        .await;
    }

    /// Records a refund of `amount` (a decimal string) on one of the merchant's orders.
    pub async fn refund(&self, merchant_id: i64, order_id: &str, refund_id: &str, amount: &str) {
        let now = self.clock.now();
        let input = tandem::domain::order::RefundInput {
            order_id: order_id.to_owned(),
            refund_id: refund_id.to_owned(),
            amount: amount.to_owned(),
            occurred_at: now,
        };
        self.with_db(move |conn| {
            tandem::service::orders::record_refund(conn, now, merchant_id, "api", &input)?;
            Ok(())
        })
        .await;
    }

    pub fn emails_to(&self, to: &str) -> Vec<SentEmail> {
        self.state
            .mailer
            .sent()
            .into_iter()
            .filter(|e| e.to == to)
            .collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the server without waiting; the database goes with `pg`/`dir`.
        self.state.live.close();
        drop(self.handle.stop(false));
    }
}

/// An order in CNY placed `minutes_ago`, by coupon (or with no signal), of (SKU, quantity,
/// unit price in fen) lines.
pub fn cny_order(
    app: &TestApp,
    order_id: &str,
    minutes_ago: i64,
    coupon: Option<&str>,
    lines: &[(&str, i64, i64)],
) -> tandem::domain::order::OrderInput {
    tandem::domain::order::OrderInput {
        order_id: order_id.to_owned(),
        currency: tandem::domain::money::Currency::parse("CNY").expect("CNY"),
        occurred_at: app.clock.now() - chrono::TimeDelta::minutes(minutes_ago),
        click_id: None,
        coupon_code: coupon.map(str::to_owned),
        customer_email: None,
        items: lines
            .iter()
            .map(|(sku, quantity, price)| tandem::domain::order::ItemInput {
                sku: (*sku).to_owned(),
                quantity: *quantity,
                unit_price_minor: *price,
                discount_minor: 0,
            })
            .collect(),
        also_known_as: Vec::new(),
    }
}

pub async fn get_with(client: &Client, url: &str) -> Response {
    client.get(url).send().await.expect("GET request")
}

/// The CSRF token in a page's forms.
pub fn csrf_from(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

pub async fn post_form_with(
    client: &Client,
    page_url: &str,
    action_url: &str,
    fields: &[(&str, &str)],
) -> Response {
    let page = get_with(client, page_url)
        .await
        .text()
        .await
        .expect("page body");
    let token = csrf_from(&page).unwrap_or_else(|| panic!("no CSRF token on {page_url}"));
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", &token)];
    form.extend_from_slice(fields);
    client
        .post(action_url)
        .form(&form)
        .send()
        .await
        .expect("POST request")
}

pub fn location(res: &Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The first link in `text` that starts with `prefix`.
pub fn link_in(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no link {prefix} in {text}"));
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Payout runs taken through their steps (on the demo with [`TestApp::payout_ready`]'s test
/// schedule and finance users).
impl TestApp {
    /// The test CNY schedule's run planned now (slot five minutes ago), approved by the
    /// second finance user and exported for the bank: (schedule, run, its payouts).
    pub async fn exported_run(&self) -> (i64, i64, Vec<i64>) {
        use tandem::service::payouts::{self, RunOutcome};
        let schedule_id = self.payout_ready().await;
        let now = self.clock_now();
        let base = self.address.clone();
        self.with_db(move |conn| {
            let s = tandem::db::payouts::schedule(conn, schedule_id)?.unwrap();
            let fire_at = now - chrono::TimeDelta::minutes(5);
            let RunOutcome::Created(run, _) =
                payouts::run_schedule(conn, now, &base, &s, fire_at, None, &mut |_, _| {})?
            else {
                panic!("a new slot makes a new run")
            };
            let checker = crate::payouts::user_id(conn, "checker@finance.test");
            payouts::approve(conn, now, checker, run.id, true)?;
            payouts::mark_exported(conn, now, checker, run.id, "bank CSV")?;
            let ids = tandem::db::payouts::payouts_of_run(conn, run.id)?
                .into_iter()
                .map(|(p, _)| p.id)
                .collect();
            Ok((schedule_id, run.id, ids))
        })
        .await
    }

    /// Every exported payout of the run marked paid (reference `BANK-<id>`) by the second
    /// finance user.
    pub async fn settle_all(&self, run_id: i64) {
        use tandem::service::payouts::{self, Settlement};
        let now = self.clock_now();
        let base = self.address.clone();
        self.with_db(move |conn| {
            let outcomes: Vec<(i64, Settlement)> =
                tandem::db::payouts::payouts_of_run(conn, run_id)?
                    .into_iter()
                    .filter(|(p, _)| p.state == "exported")
                    .map(|(p, _)| {
                        (
                            p.id,
                            Settlement::Paid {
                                reference: format!("BANK-{}", p.id),
                            },
                        )
                    })
                    .collect();
            let checker = crate::payouts::user_id(conn, "checker@finance.test");
            payouts::settle_payouts(conn, now, &base, checker, run_id, &outcomes)
        })
        .await;
    }

    /// The platform's cash in `currency`, as the ledger's kept balances show it.
    pub async fn cash(&self, currency: &'static str) -> i64 {
        use tandem::domain::ledger::{AccountKind, Owner};
        self.with_db(move |conn| {
            Ok(tandem::db::ledger::balances(conn, Owner::Platform)?
                .get(&(AccountKind::Cash, currency.to_owned()))
                .copied()
                .unwrap_or(0))
        })
        .await
    }
}
