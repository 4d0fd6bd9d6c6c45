//! Email: one `Mailer` over three transports (SMTP, `.eml` files, memory), and the askama
//! templates every email is made from (a subject, a text body and an HTML body).

pub mod templates;

use std::sync::{Arc, Mutex};

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailSettings;

/// An email as the in-memory transport keeps it (tests read these).
#[derive(Debug, Clone)]
pub struct SentEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
    Memory(Arc<Mutex<Vec<SentEmail>>>),
}

#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl Mailer {
    pub fn from_settings(settings: &MailSettings, from: &str) -> anyhow::Result<Mailer> {
        let from: Mailbox = from.parse().context("TANDEM_MAIL_FROM is not a mailbox")?;
        let transport = match settings {
            MailSettings::Smtp(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("TANDEM_SMTP_URL is not usable")?
                    .build(),
            ),
            MailSettings::Files(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create the mail folder {}", dir.display()))?;
                Transport::Files(AsyncFileTransport::<Tokio1Executor>::new(dir))
            }
            MailSettings::Memory => Transport::Memory(Arc::new(Mutex::new(Vec::new()))),
        };
        Ok(Mailer { transport, from })
    }

    pub fn describe(&self) -> &'static str {
        match self.transport {
            Transport::Smtp(_) => "SMTP",
            Transport::Files(_) => ".eml files",
            Transport::Memory(_) => "memory",
        }
    }

    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        text: &str,
        html: &str,
    ) -> Result<(), String> {
        if let Transport::Memory(store) = &self.transport {
            store
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(SentEmail {
                    to: to.to_owned(),
                    subject: subject.to_owned(),
                    text: text.to_owned(),
                    html: html.to_owned(),
                });
            return Ok(());
        }
        let to: Mailbox = to.parse().map_err(|e| format!("bad recipient: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(
                text.to_owned(),
                html.to_owned(),
            ))
            .map_err(|e| format!("cannot build message: {e}"))?;
        match &self.transport {
            Transport::Smtp(t) => t.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
            Transport::Files(t) => t.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
            Transport::Memory(_) => Ok(()),
        }
    }

    /// What the in-memory transport has sent (empty for the others).
    pub fn sent(&self) -> Vec<SentEmail> {
        match &self.transport {
            Transport::Memory(store) => store.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            _ => Vec::new(),
        }
    }
}
