//! Signed postbacks (DESIGN.md §4): `Tandem-Signature: t=<unix seconds>,v1=<hex>` where the
//! hex is HMAC-SHA256(secret, "<t>.<raw body>"). Several `v1=` may be sent (one per secret
//! during a rotation); any one matching a valid secret is enough. Comparison is constant-time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far the signature's time may be from now, either way.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Malformed,
    Stale,
    Mismatch,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureError::Missing => "The Tandem-Signature header is missing.",
            SignatureError::Malformed => {
                "The Tandem-Signature header must look like t=<unix seconds>,v1=<hex HMAC-SHA256>."
            }
            SignatureError::Stale => {
                "The signature's timestamp is more than 300 seconds from now; sign each request when you send it."
            }
            SignatureError::Mismatch => {
                "The signature does not match the body with any of this merchant's postback secrets."
            }
        })
    }
}

/// The hex HMAC-SHA256 of `"<t>.<body>"` with `secret`.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The header value for a body signed at `t` (for merchants' tools, tests and docs).
pub fn header(secret: &[u8], t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", sign(secret, t, body))
}

/// Verifies a `Tandem-Signature` header against the raw body with any of `secrets`.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&[u8]],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t: Option<i64> = None;
    let mut sigs: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match k.trim() {
            "t" => t = Some(v.trim().parse().map_err(|_| SignatureError::Malformed)?),
            "v1" => sigs.push(hex::decode(v.trim()).map_err(|_| SignatureError::Malformed)?),
            _ => {} // other schemes may come later
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() || sigs.len() > 8 {
        return Err(SignatureError::Malformed);
    }
    if (now_unix - t).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let mut ok = subtle::Choice::from(0u8);
    for secret in secrets {
        let expected = hex::decode(sign(secret, t, body)).unwrap_or_default();
        for s in &sigs {
            if s.len() == expected.len() {
                ok |= s.as_slice().ct_eq(&expected);
            }
        }
    }
    if bool::from(ok) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"order_id":"A-1"}"#;

    #[test]
    fn good_signatures_pass_and_bad_ones_say_why() {
        let now = 1_790_000_000;
        let h = header(b"s3cret", now, BODY);
        assert_eq!(verify(Some(&h), BODY, &[b"s3cret"], now), Ok(()));
        assert_eq!(
            verify(Some(&h), BODY, &[b"other", b"s3cret"], now + 299),
            Ok(())
        );
        assert_eq!(
            verify(Some(&h), BODY, &[b"wrong"], now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&h), br#"{"order_id":"A-2"}"#, &[b"s3cret"], now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&h), BODY, &[b"s3cret"], now + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(Some(&h), BODY, &[b"s3cret"], now - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(None, BODY, &[b"s3cret"], now),
            Err(SignatureError::Missing)
        );
        for bad in ["", "t=x,v1=00", "v1=00", "t=1", "t=1,v1=zz", "garbage"] {
            assert_eq!(
                verify(Some(bad), BODY, &[b"s3cret"], now),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        // Rotation: two signatures, one per secret; either secret alone verifies.
        let both = format!(
            "t={now},v1={},v1={}",
            sign(b"old", now, BODY),
            sign(b"new", now, BODY)
        );
        assert_eq!(verify(Some(&both), BODY, &[b"new"], now), Ok(()));
        assert_eq!(verify(Some(&both), BODY, &[b"old"], now), Ok(()));
    }
}
