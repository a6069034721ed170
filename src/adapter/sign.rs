//! Request signatures the platforms share: HMAC-SHA256, base64- or
//! hex-encoded (the generic webhook, Slack's Events API, the group robots).
//! Verification runs in constant time.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::http::decode_hex;

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    mac(key, &[message]).finalize().into_bytes().into()
}

/// Standard base64 (with padding) of `bytes`.
pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// HEX(HMAC-SHA256(secret, the concatenated `parts`)), lowercase.
pub fn hmac_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    let digest = mac(secret, parts).finalize().into_bytes();
    let mut out = String::with_capacity(digest.len() * 2);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `hex` is HMAC-SHA256(secret, the concatenated `parts`), compared
/// in constant time; malformed hex is no match.
pub fn verify_hex(secret: &[u8], parts: &[&[u8]], hex: &str) -> bool {
    let Some(bytes) = decode_hex(hex.trim()) else {
        return false;
    };
    mac(secret, parts).verify_slice(&bytes).is_ok()
}

/// Whether two secrets are equal, in time independent of where they
/// differ (tokens, signatures compared as text).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn mac(secret: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2.
    const RFC_4231_2: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    #[test]
    fn matches_rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, RFC_4231_2);
        assert_eq!(base64(b"hi"), "aGk=");
    }

    #[test]
    fn hex_signatures_verify_and_reject_changes() {
        let sig = hmac_hex(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(sig, RFC_4231_2);
        assert!(verify_hex(b"Jefe", &[b"what do ya want for nothing?"], &sig));
        assert!(!verify_hex(b"Jefe", &[b"what do ya want for nothing!"], &sig));
        assert!(!verify_hex(b"other", &[b"what do ya want for nothing?"], &sig));
        assert!(!verify_hex(b"Jefe", &[b"x"], "zz"));
        assert!(!verify_hex(b"Jefe", &[b"x"], "abc"));
    }
}
