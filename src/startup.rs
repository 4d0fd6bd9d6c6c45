//! Builds the application: pool, migrations, mailer, jobs, and the bound HTTP server (port 0
//! in tests).

use std::net::TcpListener;
use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::{NormalizePath, TrailingSlash, from_fn};
use actix_web::{App, HttpResponse, HttpServer};
use anyhow::Context;
use chrono::NaiveDateTime;
use tokio::sync::Notify;

use crate::config::Settings;
use crate::db::{self, DbConn, Pool};
use crate::domain::clock::{Clock, SystemClock};
use crate::email::Mailer;
use crate::error::{AppError, AppResult};
use crate::web as portal;

/// What every handler and job shares.
pub struct AppState {
    pub pool: Pool,
    pub backend: crate::db::Backend,
    pub clock: Arc<dyn Clock>,
    /// Public URL without a trailing slash, for links in emails.
    pub base_url: String,
    pub mailer: Mailer,
    pub mail_wakeup: Arc<Notify>,
    pub clicks: crate::jobs::clicks::ClickWriter,
    pub conversions: crate::jobs::conversions::ConversionWriter,
    /// Salt for the hashes of IP addresses and user agents (derived from the secret key).
    pub click_salt: Vec<u8>,
    pub link_cache: crate::web::redirect::LinkCache,
    /// Peers whose forwarding headers give the client's address.
    pub trusted_proxies: Vec<crate::domain::net::Cidr>,
    /// The header those proxies give it in.
    pub client_ip_header: crate::domain::net::ForwardingHeader,
    /// Payout runs need a second finance user to approve them.
    pub maker_checker: bool,
    /// Admins may act on payout runs as finance does (off by default).
    pub admin_approves_payouts: bool,
    /// Whether this node runs the payout schedules.
    pub scheduler: bool,
    /// Seals and opens payout details at rest.
    pub sealer: crate::domain::sealed::Sealer,
    /// The streams watched on live boards, told of every commit that changes them.
    pub live: Arc<crate::jobs::live::LiveHub>,
}

impl AppState {
    pub fn now(&self) -> NaiveDateTime {
        self.clock.now()
    }

    /// Runs blocking database work on the blocking thread pool.
    pub async fn db<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConn) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(AppError::from)?
    }

    /// Tells the email dispatcher that the outbox has something new.
    pub fn wake_mailer(&self) {
        self.mail_wakeup.notify_one();
    }
}

pub struct Application {
    port: u16,
    server: Server,
    state: actix_web::web::Data<AppState>,
    jobs: crate::jobs::Jobs,
}

impl Application {
    /// Opens the database, migrates it, binds the listener and builds the server (not yet
    /// running: call [`Application::run_until_stopped`]). Must be called inside a Tokio
    /// runtime (jobs are spawned on it).
    pub fn build(settings: Settings) -> anyhow::Result<Application> {
        Application::build_with_clock(settings, Arc::new(SystemClock))
    }

    pub fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Application> {
        let pool = db::build_pool(&settings.database_url, None)?;
        {
            let mut conn = pool
                .get()
                .context("cannot connect to the database (TANDEM_DATABASE_URL)")?;
            db::run_migrations(&mut conn)?;
            // Payout details from before sealing are sealed now.
            let sealer = crate::domain::sealed::Sealer::from_secret(&settings.secret_key);
            let sealed = crate::service::influencer::seal_plain_details(&mut conn, &sealer)
                .map_err(|e| anyhow::anyhow!("sealing payout details: {e}"))?;
            if sealed != crate::service::influencer::Sealed::default() {
                tracing::info!(
                    influencers = sealed.influencers,
                    payouts = sealed.payouts,
                    "payout details sealed at rest; the database's free space scrubbed"
                );
            }
        }
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("TANDEM_BIND: cannot listen on {}", settings.bind))?;
        let addr = listener.local_addr()?;
        let base_url = match &settings.base_url {
            Some(u) => u.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{addr}"),
        };
        let mailer = Mailer::from_settings(&settings.mail, &settings.mail_from)?;
        let live = crate::jobs::live::LiveHub::new();
        let (clicks, click_queue) =
            crate::jobs::clicks::channel(&settings.database_url, clock.clone(), live.clone());
        let (conversions, conversion_queue) = crate::jobs::conversions::channel();
        let click_salt = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(&settings.secret_key);
            h.update(b"tandem click salt");
            h.finalize().to_vec()
        };
        let state = actix_web::web::Data::new(AppState {
            pool,
            backend: crate::db::Backend::of_url(&settings.database_url),
            clock,
            base_url,
            mailer,
            mail_wakeup: Arc::new(Notify::new()),
            clicks,
            conversions,
            click_salt,
            trusted_proxies: settings.trusted_proxies.clone(),
            client_ip_header: settings.client_ip_header,
            maker_checker: settings.maker_checker,
            admin_approves_payouts: settings.admin_approves_payouts,
            scheduler: settings.scheduler,
            sealer: crate::domain::sealed::Sealer::from_secret(&settings.secret_key),
            link_cache: crate::web::redirect::LinkCache::default(),
            live,
        });
        let jobs = crate::jobs::Jobs::start(
            state.clone().into_inner(),
            crate::jobs::Queues {
                clicks: click_queue,
                conversions: conversion_queue,
                database_url: settings.database_url.clone(),
            },
        );

        let key = Key::derive_from(&settings.secret_key);
        let secure = settings.secure_cookies();
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(actix_web::web::FormConfig::default().limit(256 * 1024))
                .app_data(actix_web::web::PayloadConfig::default().limit(256 * 1024))
                .app_data(
                    actix_web::web::PathConfig::default()
                        .error_handler(|_, _| AppError::NotFound.into()),
                )
                .app_data(
                    actix_web::web::QueryConfig::default().error_handler(|e, _| {
                        AppError::BadRequest(format!("The address has a bad parameter: {e}."))
                            .into()
                    }),
                )
                // The redirect is the hot path: no session, no per-request log line, and its
                // own security headers on the pages it renders.
                .configure(portal::redirect::routes)
                .service(
                    actix_web::web::scope("")
                        .wrap(from_fn(portal::error_pages::signed_in_layout))
                        .wrap(
                            SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                                .cookie_name("tandem_session".to_owned())
                                .cookie_secure(secure)
                                .cookie_http_only(true)
                                .cookie_same_site(SameSite::Lax)
                                .cookie_content_security(CookieContentSecurity::Private)
                                .session_lifecycle(PersistentSession::default().session_ttl(
                                    actix_web::cookie::time::Duration::days(
                                        crate::service::sessions::SESSION_DAYS,
                                    ),
                                ))
                                .build(),
                        )
                        .wrap(from_fn(portal::middleware::query_limits))
                        .wrap(portal::middleware::security_headers(secure))
                        .wrap(NormalizePath::new(TrailingSlash::Trim))
                        .wrap(from_fn(portal::middleware::request_id))
                        .configure(crate::api::routes)
                        .configure(portal::routes)
                        .default_service(actix_web::web::to(not_found)),
                )
        })
        .listen(listener)?
        .shutdown_timeout(10);
        if let Some(w) = settings.workers {
            server = server.workers(w);
        }
        let server = server.run();
        Ok(Application {
            port: addr.port(),
            server,
            state,
            jobs,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> actix_web::web::Data<AppState> {
        self.state.clone()
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops (SIGINT/SIGTERM or a handle's `stop`), then stops the
    /// jobs.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // Open live boards are streams that never finish on their own: on SIGINT/SIGTERM
        // they end at once, so the server's graceful stop does not wait for them.
        let live = self.state.live.clone();
        let closer = tokio::spawn(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                if let Ok(mut term) = signal(SignalKind::terminate()) {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                    live.close();
                    return;
                }
            }
            if tokio::signal::ctrl_c().await.is_ok() {
                live.close();
            }
        });
        let result = self.server.await;
        closer.abort();
        self.state.live.close();
        self.jobs.stop().await;
        result
    }
}

async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}
