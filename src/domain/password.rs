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

/// Checks a new password against the rules; the message is shown next to the field.
/// `known` are things about the person (email, name, handle): a password made of them is
/// easy to guess.
pub fn check_new(password: &str, known: &[&str]) -> Result<(), String> {
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
    // Parts of the email address count as known too ("mia.chen@shop.example").
    let mut owned: Vec<String> = Vec::new();
    for k in known {
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

    #[test]
    fn rules() {
        assert!(check_new("short", &[]).is_err());
        assert!(check_new("          ", &[]).is_err());
        assert!(check_new("long enough pw", &[]).is_ok());
        assert!(check_new(&"x".repeat(129), &[]).is_err());
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
            let e = check_new(weak, &[]).unwrap_err();
            assert!(
                e.starts_with("This password is too easy to guess"),
                "{weak}: {e}"
            );
            assert!(e.contains("a short sentence only you would write"), "{e}");
        }
        // What the site knows of the person makes it easy too.
        assert!(
            check_new(
                "mia.chen@tandem.example",
                &["mia.chen@tandem.example", "Mia Chen"]
            )
            .is_err()
        );
        assert!(check_new("miachen2026", &["mia.chen@tandem.example", "Mia Chen"]).is_err());
        for strong in [
            "a good long password",
            "blue tea kettle at noon",
            "Tr0ub4dor&3x!",
        ] {
            assert!(check_new(strong, &["mia@example.com"]).is_ok(), "{strong}");
        }
    }
}
