//! Secrets at rest (an influencer's bank or PayPal details): sealed with AES-256-GCM under a
//! key derived from `TANDEM_SECRET_KEY`, opened only to show them masked to their owner and
//! to export a payout run for the bank.
//!
//! A sealed value reads `sealed:v1:<base64 of nonce ‖ ciphertext>`; a stored value without
//! that prefix is legacy plain text (from before sealing) and is read as is until the
//! start-up pass seals it.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "sealed:v1:";

#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// The sealing key: SHA-256 of the secret key and a label (so it is not the key that
    /// signs cookies).
    pub fn from_secret(secret: &[u8]) -> Sealer {
        let mut h = Sha256::new();
        h.update(secret);
        h.update(b"tandem payout details v1");
        let key = h.finalize();
        Sealer {
            cipher: Aes256Gcm::new(&key),
        }
    }

    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
            .expect("AES-GCM encryption of a short text cannot fail");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
        )
    }

    /// The plain text of a stored value (legacy plain text as is). An error when it was
    /// sealed under another key or altered.
    pub fn open(&self, stored: &str) -> Result<String, String> {
        let Some(b64) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64)
            .map_err(|_| "sealed value is not base64".to_owned())?;
        if bytes.len() < 12 + 16 {
            return Err("sealed value is too short".to_owned());
        }
        let (nonce, body) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| {
                "sealed value does not open with this key (TANDEM_SECRET_KEY changed?)".to_owned()
            })?;
        String::from_utf8(plain).map_err(|_| "sealed value is not text".to_owned())
    }

    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_never_show_the_text() {
        let s = Sealer::from_secret(b"a secret key of at least 32 bytes!!");
        let sealed = s.seal(r#"{"account_number":"6225880212345678"}"#);
        assert!(Sealer::is_sealed(&sealed) && !sealed.contains("6225880212345678"));
        assert_ne!(
            sealed,
            s.seal(r#"{"account_number":"6225880212345678"}"#),
            "fresh nonce"
        );
        assert_eq!(
            s.open(&sealed).unwrap(),
            r#"{"account_number":"6225880212345678"}"#
        );
        let other = Sealer::from_secret(b"another secret key of 32 bytes or more");
        assert!(other.open(&sealed).is_err());
        // One bit changed anywhere in the ciphertext and it no longer opens.
        let b64 = sealed.strip_prefix(PREFIX).unwrap();
        let mut bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64)
            .unwrap();
        for i in [12, bytes.len() / 2, bytes.len() - 1] {
            bytes[i] ^= 0x01;
            let altered = format!(
                "{PREFIX}{}",
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes)
            );
            assert!(s.open(&altered).is_err(), "byte {i}");
            bytes[i] ^= 0x01;
        }
        assert_eq!(s.open("{}").unwrap(), "{}", "legacy plain text");
    }
}
