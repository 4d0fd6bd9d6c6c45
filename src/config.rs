//! Settings from the environment (each mirrored by a `--flag`), validated at start-up: a bad
//! value stops the program with the variable's name. DESIGN.md §4 "configuration".

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rand::RngCore;

/// Where emails go.
#[derive(Debug, Clone)]
pub enum MailSettings {
    /// `TANDEM_SMTP_URL`, e.g. `smtp://127.0.0.1:2525` or `smtps://user:pass@host`.
    Smtp(String),
    /// `.eml` files in this folder (the default: `<data dir>/mail/`).
    Files(PathBuf),
    /// Kept in memory, for tests.
    Memory,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub bind: SocketAddr,
    /// Public URL for links and emails; `None` means "the address we bound to".
    pub base_url: Option<url::Url>,
    pub mail: MailSettings,
    pub mail_from: String,
    /// At least 32 bytes; the session cookie keys are derived from it.
    pub secret_key: Vec<u8>,
    /// HTTP worker threads; `None`: one per core.
    pub workers: Option<usize>,
    /// Peers whose forwarding headers give the client's address (`TANDEM_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<crate::domain::net::Cidr>,
    /// The header they give it in (`TANDEM_CLIENT_IP_HEADER`: `x-forwarded-for`, the
    /// default, or `forwarded`).
    pub client_ip_header: crate::domain::net::ForwardingHeader,
    /// Whether `serve` runs the payout schedules (`TANDEM_SCHEDULER=off` on extra app nodes;
    /// several on at once still make one run per slot).
    pub scheduler: bool,
    /// Payout runs are approved by a finance user other than the one who started them
    /// (`TANDEM_MAKER_CHECKER=off` to allow the same person).
    pub maker_checker: bool,
    /// Admins may approve, export and settle payout runs as finance does
    /// (`TANDEM_ADMIN_APPROVES_PAYOUTS=on`; default off: those are finance's).
    pub admin_approves_payouts: bool,
}

/// The raw values, from flags or environment variables (clap reads both).
#[derive(Debug, Clone, Default)]
pub struct RawSettings {
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
    pub bind: Option<String>,
    pub base_url: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub secret_key: Option<String>,
    pub trusted_proxies: Option<String>,
    pub client_ip_header: Option<String>,
    pub scheduler: Option<String>,
    pub maker_checker: Option<String>,
    pub admin_approves_payouts: Option<String>,
}

/// An on/off setting: on, off, true, false, 1, 0, yes, no.
fn switch(name: &str, v: &Option<String>, default: bool) -> anyhow::Result<bool> {
    match non_empty(v).map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("on" | "true" | "1" | "yes") => Ok(true),
        Some("off" | "false" | "0" | "no") => Ok(false),
        Some(other) => bail!("{name}: \"{other}\" is neither on nor off"),
    }
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Settings {
    pub fn from_raw(raw: RawSettings) -> anyhow::Result<Settings> {
        let data_dir = PathBuf::from(non_empty(&raw.data_dir).unwrap_or("./data"));
        std::fs::create_dir_all(&data_dir).with_context(|| {
            format!(
                "TANDEM_DATA_DIR: cannot create the data folder {}",
                data_dir.display()
            )
        })?;
        keep_private(&data_dir).with_context(|| {
            format!(
                "TANDEM_DATA_DIR: cannot make the data folder {} private",
                data_dir.display()
            )
        })?;

        let database_url = match non_empty(&raw.database_url) {
            Some(url) => {
                if url.contains("://")
                    && !(url.starts_with("postgres://")
                        || url.starts_with("postgresql://")
                        || url.starts_with("sqlite://"))
                {
                    bail!(
                        "TANDEM_DATABASE_URL: \"{}\" is neither postgres://... nor a SQLite file path",
                        redact_url(url)
                    );
                }
                url.to_owned()
            }
            None => data_dir.join("tandem.db").to_string_lossy().into_owned(),
        };

        let bind_str = non_empty(&raw.bind).unwrap_or("127.0.0.1:8080");
        let bind: SocketAddr = bind_str.parse().map_err(|_| {
            anyhow::anyhow!("TANDEM_BIND: \"{bind_str}\" is not an address like 127.0.0.1:8080")
        })?;

        let base_url = match non_empty(&raw.base_url) {
            Some(s) => {
                let url = url::Url::parse(s).map_err(|_| {
                    anyhow::anyhow!(
                        "TANDEM_BASE_URL: \"{s}\" is not a URL like https://tandem.example.com"
                    )
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    bail!("TANDEM_BASE_URL: \"{s}\" must be an http:// or https:// URL");
                }
                Some(url)
            }
            None => None,
        };

        let mail = match non_empty(&raw.smtp_url) {
            Some(url) => {
                lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url).map_err(
                    |e| {
                        anyhow::anyhow!(
                            "TANDEM_SMTP_URL: \"{}\" is not usable: {e}",
                            redact_url(url)
                        )
                    },
                )?;
                MailSettings::Smtp(url.to_owned())
            }
            None => MailSettings::Files(data_dir.join("mail")),
        };

        let mail_from = non_empty(&raw.mail_from)
            .unwrap_or("Tandem <no-reply@tandem.localhost>")
            .to_owned();
        mail_from
            .parse::<lettre::message::Mailbox>()
            .map_err(|_| anyhow::anyhow!("TANDEM_MAIL_FROM: \"{mail_from}\" is not a mailbox like Tandem <no-reply@example.com>"))?;

        let secret_key = match non_empty(&raw.secret_key) {
            Some(k) => {
                if k.len() < 32 {
                    bail!(
                        "TANDEM_SECRET_KEY: use at least 32 characters (64 random hex digits is a good choice)"
                    );
                }
                k.as_bytes().to_vec()
            }
            None => load_or_create_secret(&data_dir)?,
        };

        let trusted_proxies = match non_empty(&raw.trusted_proxies) {
            Some(list) => crate::domain::net::parse_list(list)
                .map_err(|e| anyhow::anyhow!("TANDEM_TRUSTED_PROXIES: {e}"))?,
            None => Vec::new(),
        };

        let client_ip_header = match non_empty(&raw.client_ip_header) {
            Some(h) => crate::domain::net::ForwardingHeader::parse(h)
                .map_err(|e| anyhow::anyhow!("TANDEM_CLIENT_IP_HEADER: {e}"))?,
            None => crate::domain::net::ForwardingHeader::default(),
        };

        let scheduler = switch("TANDEM_SCHEDULER", &raw.scheduler, true)?;
        let maker_checker = switch("TANDEM_MAKER_CHECKER", &raw.maker_checker, true)?;
        let admin_approves_payouts = switch(
            "TANDEM_ADMIN_APPROVES_PAYOUTS",
            &raw.admin_approves_payouts,
            false,
        )?;

        Ok(Settings {
            data_dir,
            database_url,
            bind,
            base_url,
            mail,
            mail_from,
            secret_key,
            workers: None,
            trusted_proxies,
            client_ip_header,
            scheduler,
            maker_checker,
            admin_approves_payouts,
        })
    }

    /// Settings for tests: everything in `data_dir`, mail in memory, port chosen by the OS.
    pub fn for_tests(data_dir: &Path, database_url: &str) -> Settings {
        let mut key = vec![0u8; 64];
        rand::rng().fill_bytes(&mut key);
        Settings {
            data_dir: data_dir.to_owned(),
            database_url: database_url.to_owned(),
            bind: "127.0.0.1:0".parse().expect("literal address"),
            base_url: None,
            mail: MailSettings::Memory,
            mail_from: "Tandem <no-reply@tandem.localhost>".to_owned(),
            secret_key: key,
            workers: Some(2),
            trusted_proxies: Vec::new(),
            client_ip_header: crate::domain::net::ForwardingHeader::default(),
            // Tests run payouts themselves, at the times they choose.
            scheduler: false,
            maker_checker: true,
            admin_approves_payouts: false,
        }
    }

    /// Cookies get `Secure` when the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.base_url
            .as_ref()
            .is_some_and(|u| u.scheme() == "https")
    }
}

/// Makes the data folder and what it holds readable by this user only (folders 0700, files
/// 0600): the database, its WAL and shared-memory files, and the emails under `mail/`
/// (which hold live password-reset links). Files made before this rule are fixed too.
fn keep_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tighten = |path: &Path, mode: u32| -> std::io::Result<()> {
        let meta = std::fs::symlink_metadata(path)?;
        if meta.file_type().is_symlink() {
            return Ok(());
        }
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    };
    tighten(dir, 0o700)?;
    for sub in [dir.to_owned(), dir.join("mail")] {
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        if sub != dir {
            tighten(&sub, 0o700)?;
        }
        for entry in entries {
            let path = entry?.path();
            if path.is_file() {
                tighten(&path, 0o600)?;
            }
        }
    }
    Ok(())
}

/// The secret kept in `<data dir>/secret.key`, created (mode 0600) on first start.
fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("secret.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("TANDEM_SECRET_KEY: cannot read {}", path.display()))?;
        let key = hex::decode(text.trim()).with_context(|| {
            format!(
                "TANDEM_SECRET_KEY: {} is not hex; delete it to make a new one",
                path.display()
            )
        })?;
        if key.len() < 32 {
            bail!(
                "TANDEM_SECRET_KEY: {} is too short; delete it to make a new one",
                path.display()
            );
        }
        return Ok(key);
    }
    let mut key = vec![0u8; 64];
    rand::rng().fill_bytes(&mut key);
    write_private(&path, &hex::encode(&key))
        .with_context(|| format!("TANDEM_SECRET_KEY: cannot write {}", path.display()))?;
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// A URL with its password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(dir: &Path) -> RawSettings {
        RawSettings {
            data_dir: Some(dir.to_string_lossy().into_owned()),
            ..RawSettings::default()
        }
    }

    #[test]
    fn defaults_and_secret_persist() {
        let dir = tempfile::tempdir().unwrap();
        let a = Settings::from_raw(raw(dir.path())).unwrap();
        assert!(a.database_url.ends_with("tandem.db"));
        assert_eq!(a.bind.to_string(), "127.0.0.1:8080");
        assert!(matches!(a.mail, MailSettings::Files(_)));
        let b = Settings::from_raw(raw(dir.path())).unwrap();
        assert_eq!(a.secret_key, b.secret_key);
        assert_eq!(
            a.client_ip_header,
            crate::domain::net::ForwardingHeader::XForwardedFor
        );
        let c = Settings::from_raw(RawSettings {
            client_ip_header: Some(" Forwarded ".into()),
            ..raw(dir.path())
        })
        .unwrap();
        assert_eq!(
            c.client_ip_header,
            crate::domain::net::ForwardingHeader::Forwarded
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let cases: Vec<(RawSettings, &str)> = vec![
            (
                RawSettings {
                    bind: Some("nope".into()),
                    ..raw(dir.path())
                },
                "TANDEM_BIND",
            ),
            (
                RawSettings {
                    base_url: Some("ftp://x".into()),
                    ..raw(dir.path())
                },
                "TANDEM_BASE_URL",
            ),
            (
                RawSettings {
                    database_url: Some("mysql://x".into()),
                    ..raw(dir.path())
                },
                "TANDEM_DATABASE_URL",
            ),
            (
                RawSettings {
                    secret_key: Some("short".into()),
                    ..raw(dir.path())
                },
                "TANDEM_SECRET_KEY",
            ),
            (
                RawSettings {
                    smtp_url: Some("bogus://x".into()),
                    ..raw(dir.path())
                },
                "TANDEM_SMTP_URL",
            ),
            (
                RawSettings {
                    mail_from: Some("not a mailbox".into()),
                    ..raw(dir.path())
                },
                "TANDEM_MAIL_FROM",
            ),
            (
                RawSettings {
                    client_ip_header: Some("x-real-ip".into()),
                    ..raw(dir.path())
                },
                "TANDEM_CLIENT_IP_HEADER",
            ),
        ];
        for (raw, var) in cases {
            let err = Settings::from_raw(raw).unwrap_err().to_string();
            assert!(err.starts_with(var), "{err} should name {var}");
        }
    }
}
