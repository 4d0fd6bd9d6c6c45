//! The `tandem` binary: `serve --demo`, `users add`, `migrate`, configuration errors.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{PASSWORD, test_database};

/// Runs `tandem args...` with `input` on standard input.
fn run_with_stdin(
    dir: &std::path::Path,
    url: &str,
    args: &[&str],
    input: &str,
) -> std::process::Output {
    let mut child = tandem(dir, url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn tandem(dir: &std::path::Path, database_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tandem"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TANDEM_DATA_DIR", dir)
        .env("TANDEM_DATABASE_URL", database_url)
        .env("RUST_LOG", "warn");
    cmd
}

#[test]
fn users_add_reads_the_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = test_database(dir.path());
    let pw = format!("{PASSWORD}\n");
    let out = run_with_stdin(
        dir.path(),
        &url,
        &[
            "users",
            "add",
            "--role",
            "finance",
            "--email",
            "Fin@Example.com",
        ],
        &pw,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created finance user fin@example.com"));

    // The same email again: a clear error, exit code 1.
    let out = run_with_stdin(
        dir.path(),
        &url,
        &[
            "users",
            "add",
            "--role",
            "admin",
            "--email",
            "fin@example.com",
        ],
        &pw,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    // A short password is refused; so is a role other than finance/admin.
    let out = run_with_stdin(
        dir.path(),
        &url,
        &[
            "users",
            "add",
            "--role",
            "admin",
            "--email",
            "root@example.com",
        ],
        "short\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("password: Use at least 10 characters."));
    let out = tandem(dir.path(), &url)
        .args([
            "users",
            "add",
            "--role",
            "merchant",
            "--email",
            "m@example.com",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn bad_configuration_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = tandem(dir.path(), "ignored.db")
        .env("TANDEM_BIND", "not-an-address")
        .args(["serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TANDEM_BIND"), "{err}");

    let out = tandem(dir.path(), "mysql://nope")
        .args(["migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TANDEM_DATABASE_URL"));
}

#[test]
fn migrate_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = test_database(dir.path());
    for _ in 0..2 {
        let out = tandem(dir.path(), &url).arg("migrate").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn serve_demo_prints_the_demo_accounts_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = test_database(dir.path());
    let mut child = tandem(dir.path(), &url)
        .env("TANDEM_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "error")
        .args(["serve", "--demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let demo_lines: Vec<String> = stdout.by_ref().take(5).map(Result::unwrap).collect();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut base = None;
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Tandem is running at ") {
            base = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
        seen.push(line);
    }
    let base = base
        .unwrap_or_else(|| panic!("no start-up line; stdout {demo_lines:?}, stderr: {seen:#?}"));
    let health = http_get(&base, "/healthz");
    // Welcome emails go to .eml files under the data dir.
    let mail_dir = dir.path().join("mail");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&mail_dir).map(|d| d.count()).unwrap_or(0) < 2
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(stdout);

    let roles: Vec<&str> = demo_lines
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        roles,
        ["merchant", "influencer", "finance", "finance", "admin"]
    );
    for line in &demo_lines {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 4, "demo <role> <email> <password>: {line}");
        assert_eq!(parts[0], "demo");
        assert!(parts[2].contains('@'));
    }
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let emails = std::fs::read_dir(&mail_dir).map(|d| d.count()).unwrap_or(0);
    assert!(emails >= 2, "welcome emails written as .eml files");
}

/// A minimal HTTP GET (no client library needed in a plain #[test]).
fn http_get(base: &str, path: &str) -> String {
    use std::io::Read;
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).ok();
    out
}

#[test]
fn merchants_and_ledger_commands() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = test_database(dir.path());
    let out = tandem(dir.path(), &url).arg("demo").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = tandem(dir.path(), &url)
        .args(["merchants", "list"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let list = String::from_utf8(out.stdout).unwrap();
    let first: Vec<&str> = list.lines().next().unwrap().split('\t').collect();
    assert_eq!(first.len(), 3, "id, slug, name: {list}");
    assert!(list.lines().count() >= 3, "{list}");

    let out = tandem(dir.path(), &url)
        .args(["merchants", "secret", first[0]])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "only the secret: {stdout}");
    assert!(
        stdout.starts_with("tps_") && stdout.trim().len() > 40,
        "{stdout}"
    );

    let out = tandem(dir.path(), &url)
        .args(["merchants", "secret", "999999"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no merchant with id 999999"));

    let out = tandem(dir.path(), &url)
        .args(["ledger", "check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ledger ok"));

    // Entries cannot be changed or removed, on either backend; an unbalanced journal written
    // behind Tandem's back is reported.
    {
        use diesel::connection::SimpleConnection;
        let mut conn = tandem::db::establish(&url).unwrap();
        conn.batch_execute(
            "INSERT INTO ledger_accounts (owner_kind, owner_id, kind, currency) VALUES ('platform', 0, 'cash', 'USD');
             INSERT INTO journals (kind, ref_kind, ref_id, currency, memo, created_at)
                 VALUES ('merchant_payment', 'manual', 1, 'USD', 'by hand', '2026-11-26 00:00:00');
             INSERT INTO entries (journal_id, account_id, amount_minor)
                 SELECT j.id, a.id, 500 FROM journals j, ledger_accounts a
                 WHERE j.ref_kind = 'manual' AND a.kind = 'cash';",
        )
        .unwrap();
        assert!(
            conn.batch_execute("UPDATE entries SET amount_minor = 0")
                .is_err()
        );
        assert!(conn.batch_execute("DELETE FROM entries").is_err());
        assert!(conn.batch_execute("DELETE FROM journals").is_err());
    }
    let out = tandem(dir.path(), &url)
        .args(["ledger", "check"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a broken ledger fails the check");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("does not sum to zero"), "{report}");
}

/// The data folder and what Tandem writes in it are its user's alone: the folder 0700, the
/// database (and WAL), the secret key and emails 0600; files left readable by an older
/// version are tightened at start.
#[test]
fn the_data_folder_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    std::fs::create_dir_all(dir.join("mail")).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let old_mail = dir.join("mail").join("old.eml");
    std::fs::write(&old_mail, "Subject: reset link").unwrap();
    std::fs::set_permissions(&old_mail, std::fs::Permissions::from_mode(0o644)).unwrap();
    let db = dir.join("tandem.db");
    let out = tandem(&dir, db.to_str().unwrap())
        .args(["demo"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("mail")), 0o700);
    assert_eq!(mode(&old_mail), 0o600);
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&dir.join("secret.key")), 0o600);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
}

/// Two `tandem payouts run` processes at once make one run; `--dry-run` writes nothing.
#[test]
fn two_payout_processes_make_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = test_database(dir.path());
    let out = tandem(dir.path(), &url).arg("demo").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let schedule_id = hourly_schedule_on_free_balances(&url);
    let out = tandem(dir.path(), &url)
        .args(["payouts", "run", "--schedule", "Hourly CNY", "--dry-run"])
        .output()
        .unwrap();
    let plan = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        plan.contains("dry run: nothing written") && plan.contains("pays @"),
        "{plan}"
    );
    let runs_of = |url: &str| {
        let mut conn = tandem::db::establish(url).unwrap();
        tandem::db::payouts::runs(&mut conn, 100)
            .unwrap()
            .into_iter()
            .filter(|(r, _)| r.schedule_id == schedule_id)
            .count()
    };
    assert_eq!(runs_of(&url), 0, "a dry run writes nothing");

    let spawn = || {
        tandem(dir.path(), &url)
            .args(["payouts", "run", "--schedule", "Hourly CNY"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let texts: Vec<String> = outs
        .iter()
        .map(|o| {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).into_owned()
        })
        .collect();
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("planned, awaiting approval"))
            .count(),
        1,
        "{texts:?}"
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("exists already"))
            .count(),
        1
    );
    assert_eq!(runs_of(&url), 1);
    let out = tandem(dir.path(), &url)
        .args(["ledger", "check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Killed in the middle of writing a run (a failpoint aborts the process, as `kill -9`
/// would), `tandem payouts run` leaves nothing half-written: the ledger checks clean and the
/// next run makes the same payouts as planned.
#[test]
fn a_run_killed_mid_write_completes_the_same_on_the_next_try() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _pg) = test_database(dir.path());
    let out = tandem(dir.path(), &url).arg("demo").output().unwrap();
    assert!(out.status.success());
    hourly_schedule_on_free_balances(&url);
    let plan_of = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.trim_start().starts_with("pays "))
            .map(str::to_owned)
            .collect()
    };
    let dry = tandem(dir.path(), &url)
        .args(["payouts", "run", "--schedule", "Hourly CNY", "--dry-run"])
        .output()
        .unwrap();
    let planned = plan_of(&String::from_utf8_lossy(&dry.stdout));
    assert!(
        !planned.is_empty(),
        "{}",
        String::from_utf8_lossy(&dry.stdout)
    );
    for point in ["payouts-mid-run", "payouts-before-commit"] {
        let out = tandem(dir.path(), &url)
            .env("TANDEM_FAILPOINT", point)
            .args(["payouts", "run", "--schedule", "Hourly CNY"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{point}: the process was aborted");
        let check = tandem(dir.path(), &url)
            .args(["ledger", "check"])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
    let out = tandem(dir.path(), &url)
        .args(["payouts", "run", "--schedule", "Hourly CNY"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("planned, awaiting approval"), "{text}");
    assert_eq!(plan_of(&text), planned);
    let check = tandem(dir.path(), &url)
        .args(["ledger", "check"])
        .output()
        .unwrap();
    assert!(check.status.success());
}

/// On a demo database: frees the demo's balances (cancels its runs awaiting approval) and
/// adds an hourly CNY schedule whose latest slot has no run yet; its id.
fn hourly_schedule_on_free_balances(url: &str) -> i64 {
    let mut conn = tandem::db::establish(url).unwrap();
    let now = chrono::Utc::now().naive_utc();
    let finance = tandem::db::users::find_by_email(&mut conn, "finance@demo.tandem.test")
        .unwrap()
        .unwrap()
        .id;
    for (run, _) in tandem::db::payouts::runs(&mut conn, 100).unwrap() {
        if run.state == "draft" {
            tandem::service::payouts::cancel(&mut conn, now, finance, run.id).unwrap();
        }
    }
    tandem::service::payouts::save_schedule(
        &mut conn,
        now - chrono::TimeDelta::days(1),
        finance,
        None,
        &tandem::service::payouts::ScheduleForm {
            name: "Hourly CNY".into(),
            cron: "0 0 * * * *".into(),
            time_zone: "UTC".into(),
            currency: "CNY".into(),
            minimum: "1".into(),
            active: "on".into(),
            ..Default::default()
        },
    )
    .unwrap()
}
