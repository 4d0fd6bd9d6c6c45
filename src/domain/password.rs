//! Password rules and argon2id hashing (the argon2 crate's defaults: argon2id, 19 MiB,
//! 2 passes).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 128;

/// Checks a new password against the rules; the message is shown next to the field.
pub fn check_new(password: &str) -> Result<(), String> {
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
    Ok(())
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
        assert!(check_new("short").is_err());
        assert!(check_new("          ").is_err());
        assert!(check_new("long enough pw").is_ok());
        assert!(check_new(&"x".repeat(129)).is_err());
    }
}
