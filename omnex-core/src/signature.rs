//! Webhook signatures: HMAC-SHA256 over the timestamp and the body.
//!
//! Every delivery carries `Omnex-Timestamp` (Unix seconds) and `Omnex-Signature`
//! (`v1=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"` under the webhook's
//! secret). A receiver recomputes it, compares in constant time, and rejects a
//! timestamp more than five minutes away from its clock, so a captured delivery
//! cannot be replayed later.
//!
//! ```
//! use omnex_core::signature::{sign, verify};
//! let sig = sign("whsec_example_secret_0123", 1_700_000_000, b"{\"seq\":1}");
//! assert!(verify("whsec_example_secret_0123", "1700000000", &sig, b"{\"seq\":1}", 1_700_000_060));
//! assert!(!verify("whsec_example_secret_0123", "1700000000", &sig, b"{\"seq\":2}", 1_700_000_060));
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a delivery's timestamp may be from the receiver's clock.
pub const TOLERANCE_SECS: i64 = 300;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Omnex-Signature` header of `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// Whether `signature` (an `Omnex-Signature` header, which may list several
/// `v1=` values separated by commas) signs `body` at `timestamp` under `secret`,
/// and `timestamp` is within [`TOLERANCE_SECS`] of `now`.
pub fn verify(secret: &str, timestamp: &str, signature: &str, body: &[u8], now: i64) -> bool {
    let Ok(ts) = timestamp.trim().parse::<i64>() else {
        return false;
    };
    if now.abs_diff(ts) > TOLERANCE_SECS.unsigned_abs() {
        return false;
    }
    signature
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("v1="))
        .filter_map(decode_hex)
        .any(|tag| mac(secret, ts, body).verify_slice(&tag).is_ok())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_its_body_secret_and_time() {
        let body = br#"{"seq":7,"kind":"memory.add"}"#;
        let sig = sign("s3cret-s3cret-s3cret", 1000, body);
        assert!(sig.starts_with("v1=") && sig.len() == 3 + 64);
        assert!(verify("s3cret-s3cret-s3cret", "1000", &sig, body, 1000));
        assert!(verify(
            "s3cret-s3cret-s3cret",
            "1000",
            &format!("v1=00,{sig}"),
            body,
            1299
        ));
        assert!(!verify("s3cret-s3cret-s3cret", "1000", &sig, b"{}", 1000));
        assert!(!verify("another-secret-value", "1000", &sig, body, 1000));
        assert!(!verify("s3cret-s3cret-s3cret", "1001", &sig, body, 1001));
        assert!(!verify(
            "s3cret-s3cret-s3cret",
            "1000",
            &sig,
            body,
            1000 + 301
        ));
        assert!(!verify("s3cret-s3cret-s3cret", "soon", &sig, body, 1000));
        assert!(!verify(
            "s3cret-s3cret-s3cret",
            &i64::MIN.to_string(),
            &sig,
            body,
            1000
        ));
        assert!(!verify("s3cret-s3cret-s3cret", "1000", "v1=zz", body, 1000));
    }
}
