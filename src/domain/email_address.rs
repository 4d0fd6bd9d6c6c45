//! A syntactically valid, normalised (trimmed, lower-cased) email address.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<EmailAddress, &'static str> {
        let s = input.trim().to_lowercase();
        if s.is_empty() {
            return Err("Enter your email address.");
        }
        if s.len() > 254 {
            return Err("That email address is too long.");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err("Enter an email address like name@example.com.");
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return Err("Enter an email address like name@example.com.");
        }
        Ok(EmailAddress(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For logs: never the full address.
    pub fn masked(&self) -> String {
        mask_email(&self.0)
    }
}

/// `mia@example.com` -> `m***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// The mailbox an address reaches, for telling whether two addresses are one person's:
/// trimmed, lower-cased, and without a `+tag` in the local part (`Mei+shop@X.com` and
/// `mei@x.com` are the same mailbox at every common provider).
pub fn mailbox(email: &str) -> String {
    let email = email.trim().to_lowercase();
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split_once('+').map_or(local, |(l, _)| l);
            format!("{local}@{domain}")
        }
        None => email,
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes_ignore_case_and_tags() {
        assert_eq!(mailbox(" Mei+Shop@Example.COM "), "mei@example.com");
        assert_eq!(mailbox("mei@example.com"), "mei@example.com");
        assert_ne!(mailbox("mei2@example.com"), mailbox("mei@example.com"));
    }

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(
            EmailAddress::parse("  Mia@Example.COM ").unwrap().as_str(),
            "mia@example.com"
        );
        assert!(EmailAddress::parse("a.b+tag@sub.example.co").is_ok());
        assert!(EmailAddress::parse("demo@demo.tandem.test").is_ok());
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "mia",
            "mia@",
            "@example.com",
            "mia@example",
            "mia@@example.com",
            "mi a@example.com",
            "mia@exa mple.com",
            ".mia@example.com",
            "mia..x@example.com",
            "mia@-example.com",
            "<script>@x.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn masks() {
        assert_eq!(mask_email("mia@example.com"), "m***@example.com");
    }
}
