//! The command line (DESIGN.md §4 "CLI"): `serve [--demo]`, `migrate`, `demo`, `users add`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::config::{RawSettings, Settings};
use crate::db;
use crate::domain::account::Role;
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::words::count;
use crate::error::AppError;
use crate::service::{accounts, demo};
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(
    name = "tandem",
    version,
    about = "Self-hosted affiliate and payout system for creator commerce"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Every setting is a flag and an environment variable.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// Folder for the SQLite database, the secret key and emails written as files.
    #[arg(long, env = "TANDEM_DATA_DIR", global = true)]
    pub data_dir: Option<String>,
    /// postgres://user@host/db for PostgreSQL; otherwise a SQLite file path.
    #[arg(
        long,
        env = "TANDEM_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "TANDEM_BIND", global = true)]
    pub bind: Option<String>,
    /// Public URL, used in links and emails.
    #[arg(long, env = "TANDEM_BASE_URL", global = true)]
    pub base_url: Option<String>,
    /// smtp://host:port (or smtps://user:pass@host); unset: emails are .eml files.
    #[arg(long, env = "TANDEM_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of every email, e.g. "Tandem <no-reply@example.com>".
    #[arg(long, env = "TANDEM_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// Reverse proxies whose X-Forwarded-For / Forwarded headers are believed (address
    /// blocks, comma-separated; default: none)
    #[arg(long, env = "TANDEM_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// The header those proxies give the client's address in: x-forwarded-for (default) or
    /// forwarded (RFC 7239); only that one is read
    #[arg(long, env = "TANDEM_CLIENT_IP_HEADER", global = true)]
    pub client_ip_header: Option<String>,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "TANDEM_WORKERS", global = true)]
    pub workers: Option<usize>,
    /// Run the payout schedules in `serve` (on/off; default on; off on extra app nodes).
    #[arg(long, env = "TANDEM_SCHEDULER", global = true)]
    pub scheduler: Option<String>,
    /// A payout run is approved by someone other than who started it (on/off; default on).
    #[arg(long, env = "TANDEM_MAKER_CHECKER", global = true)]
    pub maker_checker: Option<String>,
    /// Admins may approve, export and settle payout runs as finance does (on/off; default
    /// off).
    #[arg(long, env = "TANDEM_ADMIN_APPROVES_PAYOUTS", global = true)]
    pub admin_approves_payouts: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database and serve the web portal, the API and the jobs.
    Serve {
        /// Load demo accounts into an empty database first.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Load demo accounts into an empty database.
    Demo,
    /// Manage finance and admin users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Merchants: list them, rotate a postback secret.
    Merchants {
        #[command(subcommand)]
        command: MerchantsCommand,
    },
    /// The ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Payout runs.
    Payouts {
        #[command(subcommand)]
        command: PayoutsCommand,
    },
    /// Merchant billing.
    Billing {
        #[command(subcommand)]
        command: BillingCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// Issue the invoices due: per merchant and currency, one per closed month in the
    /// merchant's time zone (a period is invoiced once, whoever asks: the scheduler, another
    /// node or this command), then print each.
    Invoice {
        /// Print what would be issued and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PayoutsCommand {
    /// Run the payout schedules for their latest slot (each slot runs once, whoever asks:
    /// the scheduler, another node or this command), then print what each run holds.
    Run {
        /// Only this schedule (by name), even if paused.
        #[arg(long)]
        schedule: Option<String>,
        /// Print the plan and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum MerchantsCommand {
    /// One merchant a line: id, slug, name (tab-separated).
    List,
    /// Rotate the merchant's postback secret and print only the new secret. The previous
    /// one keeps working for 7 days.
    Secret {
        /// The merchant's id (see `tandem merchants list`).
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Verify every ledger invariant; exits non-zero with a report on any break.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a finance or admin user; the password is read from standard input.
    Add {
        #[arg(long, value_parser = ["finance", "admin"])]
        role: String,
        #[arg(long)]
        email: String,
        /// Name shown in the portal (defaults to the part of the email before @).
        #[arg(long)]
        name: Option<String>,
    },
}

fn settings(args: &SettingsArgs) -> anyhow::Result<Settings> {
    if args.workers.is_some_and(|w| w == 0 || w > 256) {
        anyhow::bail!("TANDEM_WORKERS: use 1 to 256 worker threads");
    }
    let mut settings = Settings::from_raw(RawSettings {
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.clone(),
        bind: args.bind.clone(),
        base_url: args.base_url.clone(),
        smtp_url: args.smtp_url.clone(),
        mail_from: args.mail_from.clone(),
        secret_key: std::env::var("TANDEM_SECRET_KEY").ok(),
        trusted_proxies: args.trusted_proxies.clone(),
        client_ip_header: args.client_ip_header.clone(),
        scheduler: args.scheduler.clone(),
        maker_checker: args.maker_checker.clone(),
        admin_approves_payouts: args.admin_approves_payouts.clone(),
    })?;
    settings.workers = args.workers;
    Ok(settings)
}

fn describe(err: AppError) -> anyhow::Error {
    match err {
        AppError::Validation(errors) => anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        other => anyhow::anyhow!("{other:#}"),
    }
}

/// One plain connection for one-shot commands. (Not a pool: r2d2 opens connections on
/// background threads, and a process that exits while one of them is inside libpq's TLS
/// set-up can crash in OpenSSL's exit handlers.)
fn open_migrated(settings: &Settings) -> anyhow::Result<db::DbConn> {
    let mut conn = db::establish(&settings.database_url)
        .map_err(|e| anyhow::anyhow!("TANDEM_DATABASE_URL: cannot connect to the database: {e}"))?;
    let applied = db::run_migrations(&mut conn)?;
    for m in &applied {
        eprintln!("applied migration {m}");
    }
    Ok(conn)
}

fn print_demo_accounts() {
    // A closed stdout (e.g. `| head -4`) must not stop the server: ignore write errors.
    let mut out = std::io::stdout().lock();
    for account in demo::ACCOUNTS {
        let _ = writeln!(out, "{account}");
    }
    let _ = out.flush();
}

fn load_demo(conn: &mut db::DbConn, base_url: &str, secret_key: &[u8]) -> anyhow::Result<()> {
    let outcome = demo::load(conn, SystemClock.now(), base_url).map_err(describe)?;
    crate::service::influencer::seal_plain_details(
        conn,
        &crate::domain::sealed::Sealer::from_secret(secret_key),
    )
    .map_err(describe)?;
    match outcome {
        demo::DemoLoad::Loaded => {
            eprintln!("demo data loaded");
            print_demo_accounts();
        }
        demo::DemoLoad::AlreadyLoaded => {
            eprintln!("demo data already loaded");
            print_demo_accounts();
        }
        demo::DemoLoad::NotEmpty => {
            eprintln!("the database already holds other data: demo data not loaded");
        }
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (at least 10 characters, hard to guess; it will be shown as you type): ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!(
            "no password on standard input: pipe it in, e.g. `echo 'long secret pw' | tandem users add ...`"
        );
    }
    Ok(password)
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = settings(&cli.settings)?;
    match cli.command {
        Command::Migrate => {
            open_migrated(&settings)?;
            eprintln!("database is up to date");
            Ok(())
        }
        Command::Demo => {
            let mut conn = open_migrated(&settings)?;
            let base = settings
                .base_url
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_owned())
                .unwrap_or_else(|| format!("http://{}", settings.bind));
            load_demo(&mut conn, &base, &settings.secret_key)
        }
        Command::Users {
            command: UsersCommand::Add { role, email, name },
        } => {
            let role = Role::parse(&role).context("--role must be finance or admin")?;
            let password = read_password()?;
            let mut conn = open_migrated(&settings)?;
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or("").to_owned());
            let user = accounts::add_staff_user(
                &mut conn,
                SystemClock.now(),
                role,
                &email,
                &password,
                &name,
            )
            .map_err(describe)?;
            println!("created {} user {} (id {})", role, user.email, user.id);
            Ok(())
        }
        Command::Serve { demo } => serve(settings, demo),
        Command::Payouts {
            command: PayoutsCommand::Run { schedule, dry_run },
        } => payouts_run(&settings, schedule.as_deref(), dry_run),
        Command::Billing {
            command: BillingCommand::Invoice { dry_run },
        } => {
            let mut conn = open_migrated(&settings)?;
            let base = base_url_of(&settings);
            let issued =
                crate::service::billing::issue_due(&mut conn, SystemClock.now(), &base, dry_run)
                    .map_err(describe)?;
            let mut out = std::io::stdout().lock();
            let head = if dry_run { "would issue" } else { "issued" };
            for i in &issued {
                let _ = writeln!(out, "{head} {}", i.line());
            }
            let _ = writeln!(
                out,
                "{}",
                if issued.is_empty() {
                    "nothing to invoice: every closed month is invoiced".to_owned()
                } else {
                    format!(
                        "{} {}",
                        count(issued.len(), "document", "documents"),
                        if dry_run {
                            "would be issued (dry run: nothing written)"
                        } else {
                            "issued; emailed to each merchant's owner"
                        }
                    )
                }
            );
            Ok(())
        }
        Command::Merchants {
            command: MerchantsCommand::List,
        } => {
            let mut conn = open_migrated(&settings)?;
            let mut out = std::io::stdout().lock();
            for m in db::merchants::all(&mut conn)? {
                let _ = writeln!(out, "{}\t{}\t{}", m.id, m.slug, m.name);
            }
            Ok(())
        }
        Command::Merchants {
            command: MerchantsCommand::Secret { id },
        } => {
            let mut conn = open_migrated(&settings)?;
            let secret = crate::service::orders::rotate_postback_secret(
                &mut conn,
                SystemClock.now(),
                id,
                None,
            )
            .map_err(|e| match e {
                AppError::NotFound => {
                    anyhow::anyhow!("no merchant with id {id} (see `tandem merchants list`)")
                }
                other => describe(other),
            })?;
            println!("{secret}");
            Ok(())
        }
        Command::Ledger {
            command: LedgerCommand::Check,
        } => {
            let mut conn = open_migrated(&settings)?;
            let report = crate::service::orders::check_ledger(&mut conn).map_err(describe)?;
            let verified: Vec<String> = report
                .verified
                .iter()
                .map(|(what, n)| {
                    // "entries" reads "1 entry", "payouts" "1 payout".
                    let one = what
                        .strip_suffix("ies")
                        .map(|s| format!("{s}y"))
                        .or_else(|| what.strip_suffix('s').map(str::to_owned))
                        .unwrap_or_else(|| (*what).to_owned());
                    count(*n, &one, what)
                })
                .collect();
            println!("verified: {}", verified.join(", "));
            if report.breaks.is_empty() {
                println!(
                    "ledger ok: {}, {}; every journal sums to zero and every balance reconciles",
                    count(report.journals, "journal", "journals"),
                    count(report.entries, "entry", "entries")
                );
                Ok(())
            } else {
                println!(
                    "LEDGER BROKEN: {} in {}, {}:",
                    count(report.breaks.len(), "problem", "problems"),
                    count(report.journals, "journal", "journals"),
                    count(report.entries, "entry", "entries")
                );
                for b in &report.breaks {
                    println!("  - {b}");
                }
                bail!("the ledger check failed")
            }
        }
    }
}

fn base_url_of(settings: &Settings) -> String {
    settings
        .base_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("http://{}", settings.bind))
}

fn payouts_run(settings: &Settings, only: Option<&str>, dry_run: bool) -> anyhow::Result<()> {
    use crate::domain::money::display_in;
    use crate::domain::payout::FireRule;
    use crate::service::payouts::{self, RunOutcome};
    let mut conn = open_migrated(settings)?;
    let now = SystemClock.now();
    let base = base_url_of(settings);
    let schedules: Vec<_> = db::payouts::schedules(&mut conn)?
        .into_iter()
        .filter(|s| match only {
            Some(name) => s.name == name,
            None => s.active,
        })
        .collect();
    if schedules.is_empty() {
        match only {
            Some(name) => bail!(
                "no payout schedule named \"{name}\" (finance creates them at /finance/schedules)"
            ),
            None => {
                println!("no active payout schedule: nothing to run");
                return Ok(());
            }
        }
    }
    let mut out = std::io::stdout().lock();
    for s in schedules {
        let rule = FireRule::parse(&s.cron, &s.time_zone)
            .map_err(|(_, e)| anyhow::anyhow!("schedule \"{}\": {e}", s.name))?;
        // The same rule as the scheduler's: the latest slot since the schedule was made.
        let Some(slot) = payouts::due_slot(&s, &rule, now) else {
            let next = rule
                .fires_after(now)
                .next()
                .map(|t| format!(" (next: {})", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "\"{}\": no slot since the schedule was made{next}: nothing to run",
                s.name
            );
            continue;
        };
        if dry_run && let Some(run) = db::payouts::run_at(&mut conn, s.id, slot)? {
            let _ = writeln!(
                out,
                "\"{}\" for {}: run #{} exists already ({}); a slot runs once, nothing to plan",
                s.name,
                slot.format("%Y-%m-%d %H:%M UTC"),
                run.id,
                payouts::state_word(&run.state)
            );
            continue;
        }
        let handles = |conn: &mut db::DbConn,
                       ids: &[i64]|
         -> anyhow::Result<std::collections::HashMap<i64, String>> {
            Ok(db::payouts::handles(conn, ids)?)
        };
        let (title, plan) = if dry_run {
            let plan = payouts::plan_for(
                &mut conn,
                now,
                &s.currency,
                s.minimum_minor,
                s.pay_when_paid,
                None,
            )
            .map_err(describe)?;
            (
                format!(
                    "\"{}\" for {} (dry run: nothing written)",
                    s.name,
                    slot.format("%Y-%m-%d %H:%M UTC")
                ),
                Some(plan),
            )
        } else {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} payouts")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(format!("planning \"{}\"", s.name));
            let outcome =
                payouts::run_schedule(&mut conn, now, &base, &s, slot, None, &mut |done, of| {
                    bar.set_length(u64::try_from(of).unwrap_or(0));
                    bar.set_position(u64::try_from(done).unwrap_or(0));
                })
                .map_err(describe)?;
            bar.finish_and_clear();
            match outcome {
                RunOutcome::Created(run, plan) if run.state == "empty" => (
                    format!(
                        "\"{}\" for {}: run #{}: nothing to pay, closed",
                        s.name,
                        slot.format("%Y-%m-%d %H:%M UTC"),
                        run.id
                    ),
                    Some(plan),
                ),
                RunOutcome::Created(run, plan) => (
                    format!(
                        "\"{}\" for {}: run #{} planned, awaiting approval at {base}/finance/payouts/{}",
                        s.name,
                        slot.format("%Y-%m-%d %H:%M UTC"),
                        run.id,
                        run.id
                    ),
                    Some(plan),
                ),
                RunOutcome::Exists(run) => (
                    format!(
                        "\"{}\" for {}: run #{} exists already ({}); nothing written",
                        s.name,
                        slot.format("%Y-%m-%d %H:%M UTC"),
                        run.id,
                        payouts::state_word(&run.state)
                    ),
                    None,
                ),
            }
        };
        let _ = writeln!(out, "{title}");
        if let Some(plan) = plan {
            let mut ids: Vec<i64> = plan.payouts.iter().map(|p| p.influencer_id).collect();
            ids.extend(plan.left_out.iter().map(|l| l.influencer_id));
            let names = handles(&mut conn, &ids)?;
            let name = |id: i64| {
                names
                    .get(&id)
                    .map_or_else(|| format!("#{id}"), |h| format!("@{h}"))
            };
            let _ = writeln!(
                out,
                "  {:<10} {:>8}  {:>16}",
                "currency", "payouts", "total"
            );
            let _ = writeln!(
                out,
                "  {:<10} {:>8}  {:>16}",
                s.currency,
                plan.payouts.len(),
                display_in(plan.total_minor(), &s.currency)
            );
            for p in &plan.payouts {
                let _ = writeln!(
                    out,
                    "    pays {:<24} {:>14}  ({}, {})",
                    name(p.influencer_id),
                    display_in(p.amount_minor, &s.currency),
                    count(p.items.len(), "item", "items"),
                    payouts::method_label(&p.method)
                );
            }
            if !plan.left_out.is_empty() {
                let _ = writeln!(out, "  left out ({}):", plan.left_out.len());
                for l in &plan.left_out {
                    let _ = writeln!(out, "    {:<29} {}", name(l.influencer_id), l.reason);
                }
            }
        }
    }
    Ok(())
}

fn serve(settings: Settings, load_demo_data: bool) -> anyhow::Result<()> {
    let secret_key = settings.secret_key.clone();
    actix_web::rt::System::new().block_on(async move {
        let db_kind = match db::Backend::of_url(&settings.database_url) {
            db::Backend::Postgres => "PostgreSQL",
            db::Backend::Sqlite => "SQLite",
        };
        let app = Application::build(settings)?;
        let state = app.state();
        if load_demo_data {
            let base = state.base_url.clone();
            let pool = state.pool.clone();
            actix_web::web::block(move || {
                let mut conn = pool.get()?;
                load_demo(&mut conn, &base, &secret_key)
            })
            .await??;
            state.wake_mailer();
        }
        eprintln!(
            "Tandem is running at {} ({db_kind}; emails: {}). Press Ctrl+C to stop.",
            state.base_url,
            state.mailer.describe()
        );
        std::io::stdout().flush().ok();
        app.run_until_stopped().await?;
        Ok(())
    })
}
