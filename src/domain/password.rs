//! Password rules and argon2id hashing (the argon2 crate's defaults: argon2id, 19 MiB,
//! 2 passes).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 128;

/// The least strength a new password needs, on zxcvbn's 0-4 scale (3: "safely
/// unguessable", about 10^8 guesses or more).
pub const MIN_SCORE: u8 = 3;

/// What the site knows of the person setting a password: a password made of it is easy
/// to guess for anyone who knows them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    /// Their email address (its local part counts too: "mia.chen" of "mia.chen@shop.example").
    pub email: &'a str,
    /// The organisation they belong to (a merchant's team), if any.
    pub org_name: Option<&'a str>,
    /// Their names and handle.
    pub names: &'a [&'a str],
}

/// Shorter than this, a known text is not refused inside a password (only weighed by the
/// strength estimate): "Al" or "Tea" are in many good passwords.
pub const MIN_KNOWN_LEN: usize = 4;

/// Lower case, without spaces, dots, dashes and the like: "Acme Tea" reads as in "acmetea!".
fn squeeze(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// Why `password` is weak because it holds what is known of the person, if it does.
fn holds_known(password: &str, known: &Known<'_>) -> Option<&'static str> {
    let pw = squeeze(password);
    let holds = |k: &str| {
        let k = squeeze(k);
        k.chars().count() >= MIN_KNOWN_LEN && pw.contains(&k)
    };
    let email = known.email.trim();
    let local = email.split('@').next().unwrap_or_default();
    if !email.is_empty() && (holds(email) || holds(local)) {
        return Some("Do not use your email address, or its part before the @, in your password.");
    }
    if known.org_name.is_some_and(holds) {
        return Some("Do not use your organisation's name in your password.");
    }
    if known.names.iter().any(|n| holds(n)) {
        return Some("Do not use your name or handle in your password.");
    }
    None
}

/// Checks a new password against the rules; the message is shown next to the field.
/// A password that holds the person's email address (or its local part), their
/// organisation's name or their name is refused; parts of them weigh in the strength
/// estimate.
pub fn check_new(password: &str, known: &Known<'_>) -> Result<(), String> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(format!("Use at least {MIN_LEN} characters."));
    }
    if len > MAX_LEN {
        return Err(format!("Use at most {MAX_LEN} characters."));
    }
    if password.trim().is_empty() {
        return Err("A password cannot be only spaces.".to_owned());
    }
    if let Some(why) = holds_known(password, known) {
        return Err(why.to_owned());
    }
    // Parts of the email address count as known too ("mia.chen@shop.example").
    let mut owned: Vec<String> = Vec::new();
    let all = std::iter::once(known.email)
        .chain(known.org_name)
        .chain(known.names.iter().copied());
    for k in all {
        let k = k.trim().to_lowercase();
        owned.extend(
            k.split(['@', '.', '_', '-', '+', ' '])
                .filter(|p| p.len() >= 3)
                .map(str::to_owned),
        );
        owned.push(k.replace(' ', ""));
        owned.push(k);
    }
    let inputs: Vec<&str> = owned.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(password, &inputs);
    if u8::from(estimate.score()) >= MIN_SCORE {
        return Ok(());
    }
    let mut why = "This password is too easy to guess".to_owned();
    if let Some(feedback) = estimate.feedback() {
        if let Some(w) = feedback.warning() {
            why = format!(
                "{why}: {}",
                w.to_string().trim_end_matches('.').to_lowercase()
            );
        }
        why.push('.');
        for s in feedback.suggestions() {
            why.push(' ');
            why.push_str(&s.to_string());
        }
    } else {
        why.push('.');
    }
    why.push_str(
        " A few unrelated words, such as a short sentence only you would write, make a good one.",
    );
    Err(why)
}

pub fn hash(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

/// Constant-time verification against a stored PHC string.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A valid hash of a password nobody has, verified against when the account does not exist
/// so that a login takes the same time either way.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("not a real password, only for timing").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong horse battery", &h));
        assert!(!verify("x", "not a hash"));
    }

    const NOBODY: Known<'static> = Known {
        email: "",
        org_name: None,
        names: &[],
    };

    #[test]
    fn rules() {
        assert!(check_new("short", &NOBODY).is_err());
        assert!(check_new("          ", &NOBODY).is_err());
        assert!(check_new("long enough pw", &NOBODY).is_ok());
        assert!(check_new(&"x".repeat(129), &NOBODY).is_err());
    }

    #[test]
    fn a_password_holding_the_organisation_or_the_email_is_weak() {
        let known = Known {
            email: "lena.berg@acme-tea.example",
            org_name: Some("Acme Tea Company"),
            names: &["Lena Berg"],
        };
        for (weak, why) in [
            ("I run Acme Tea Company since 2019!", "organisation"),
            ("acmeteacompany-rules-the-north", "organisation"),
            ("ACME TEA COMPANY kettles at dawn", "organisation"),
            ("lena.berg@acme-tea.example!!", "email"),
            ("my secret is lena.berg forever", "email"),
            ("LenaBerg walks the orange dog", "email"),
        ] {
            let e = check_new(weak, &known).unwrap_err();
            assert!(e.contains(why), "{weak}: {e}");
        }
        // A short local part, or a short organisation name, is not refused by itself.
        let short = Known {
            email: "al@x.example",
            org_name: Some("Sun"),
            names: &[],
        };
        assert!(check_new("sunny alpine lakes at dusk", &short).is_ok());
        assert!(check_new("blue tea kettle at noon", &known).is_ok());
    }

    #[test]
    fn guessable_passwords_are_refused_with_why() {
        for weak in [
            "aaaaaaaaaa",
            "password12",
            "1234567890",
            "qwertyuiop",
            "Password123",
            "iloveyou2026",
        ] {
            let e = check_new(weak, &NOBODY).unwrap_err();
            assert!(
                e.starts_with("This password is too easy to guess"),
                "{weak}: {e}"
            );
            assert!(e.contains("a short sentence only you would write"), "{e}");
        }
        // What the site knows of the person makes it easy too.
        let mia = Known {
            email: "mia.chen@tandem.example",
            org_name: None,
            names: &["Mia Chen"],
        };
        assert!(check_new("mia.chen@tandem.example", &mia).is_err());
        assert!(check_new("miachen2026", &mia).is_err());
        for strong in [
            "a good long password",
            "blue tea kettle at noon",
            "Tr0ub4dor&3x!",
        ] {
            let known = Known {
                email: "mia@example.com",
                ..NOBODY
            };
            assert!(check_new(strong, &known).is_ok(), "{strong}");
        }
    }
}
