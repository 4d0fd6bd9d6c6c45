//! The emails Tandem sends, each rendered from `templates/email/*.txt` and `*.html`.

use askama::Template;

/// A rendered email, ready for the outbox.
#[derive(Debug, Clone)]
pub struct RenderedEmail {
    pub kind: &'static str,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Template)]
#[template(path = "email/welcome.txt")]
struct WelcomeText<'a> {
    name: &'a str,
    role_label: &'a str,
    area_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/welcome.html")]
struct WelcomeHtml<'a> {
    name: &'a str,
    role_label: &'a str,
    area_url: &'a str,
}

pub fn welcome(name: &str, role_label: &str, area_url: &str) -> anyhow::Result<RenderedEmail> {
    Ok(RenderedEmail {
        kind: "welcome",
        subject: "Welcome to Tandem".to_owned(),
        text: WelcomeText {
            name,
            role_label,
            area_url,
        }
        .render()?,
        html: WelcomeHtml {
            name,
            role_label,
            area_url,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "email/password_reset.txt")]
struct ResetText<'a> {
    name: &'a str,
    reset_url: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "email/password_reset.html")]
struct ResetHtml<'a> {
    name: &'a str,
    reset_url: &'a str,
    minutes: i64,
}

pub fn password_reset(name: &str, reset_url: &str, minutes: i64) -> anyhow::Result<RenderedEmail> {
    Ok(RenderedEmail {
        kind: "password_reset",
        subject: "Reset your Tandem password".to_owned(),
        text: ResetText {
            name,
            reset_url,
            minutes,
        }
        .render()?,
        html: ResetHtml {
            name,
            reset_url,
            minutes,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "email/password_changed.txt")]
struct ChangedText<'a> {
    name: &'a str,
    login_url: &'a str,
    when: &'a str,
}

#[derive(Template)]
#[template(path = "email/password_changed.html")]
struct ChangedHtml<'a> {
    name: &'a str,
    login_url: &'a str,
    when: &'a str,
}

/// `when`: the time of the change in the reader's zone.
pub fn password_changed(name: &str, login_url: &str, when: &str) -> anyhow::Result<RenderedEmail> {
    Ok(RenderedEmail {
        kind: "password_changed",
        subject: "Your Tandem password was changed".to_owned(),
        text: ChangedText {
            name,
            login_url,
            when,
        }
        .render()?,
        html: ChangedHtml {
            name,
            login_url,
            when,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "email/notice.txt")]
struct NoticeText<'a> {
    name: &'a str,
    lines: &'a [String],
    url: &'a str,
}

#[derive(Template)]
#[template(path = "email/notice.html")]
struct NoticeHtml<'a> {
    name: &'a str,
    lines: &'a [String],
    url: &'a str,
    action: &'a str,
}

/// A short notification: a greeting, a few lines and one link.
pub fn notice(
    name: &str,
    subject: &str,
    lines: &[String],
    url: &str,
    action: &str,
) -> anyhow::Result<RenderedEmail> {
    Ok(RenderedEmail {
        kind: "notice",
        subject: subject.to_owned(),
        text: NoticeText { name, lines, url }.render()?,
        html: NoticeHtml {
            name,
            lines,
            url,
            action,
        }
        .render()?,
    })
}
