//! Feishu's event security: with an Encrypt Key, the body is
//! `{"encrypt": BASE64}`, AES-256-CBC under SHA-256(encrypt key) with the
//! IV in the first 16 bytes and PKCS#7 padding; the request is signed in
//! `X-Lark-Signature`, the hex SHA-256 of `timestamp + nonce + encrypt key
//! + body`.

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine as _;
use sha2::{Digest, Sha256};

type Decryptor = cbc::Decryptor<aes::Aes256>;

/// The plaintext of an `encrypt` field under `key`, or `None` if it does not
/// decrypt.
pub(super) fn decrypt(key: &str, encrypted: &str) -> Option<Vec<u8>> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encrypted.trim())
        .ok()?;
    if raw.len() < 32 || raw.len() % 16 != 0 {
        return None;
    }
    let (iv, body) = raw.split_at(16);
    let digest = Sha256::digest(key.as_bytes());
    let decryptor = Decryptor::new_from_slices(&digest, iv).ok()?;
    let mut buffer = body.to_vec();
    let plain = decryptor.decrypt_padded_mut::<Pkcs7>(&mut buffer).ok()?;
    Some(plain.to_vec())
}

/// Whether `signature` signs `body` sent at `timestamp` with `nonce` (constant time).
pub(super) fn verify(key: &str, timestamp: &str, nonce: &str, body: &[u8], signature: &str) -> bool {
    let mut hasher = Sha256::new();
    hasher.update(timestamp.as_bytes());
    hasher.update(nonce.as_bytes());
    hasher.update(key.as_bytes());
    hasher.update(body);
    let expected: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    crate::adapter::sign::same(signature.trim().as_bytes(), expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrypts_what_feishu_encrypts() {
        // Made with Python's cryptography package: AES-256-CBC, key
        // sha256("test key"), IV 16 bytes of 0x01, PKCS#7.
        let encrypted = "AQEBAQEBAQEBAQEBAQEBAciAitY9H516ZLfbDkdsn+JV2lsxobz0OZ5cK2Q7Qu0O";
        assert_eq!(
            decrypt("test key", encrypted).as_deref(),
            Some(&b"{\"hello\":\"feishu\"}"[..])
        );
        assert_eq!(decrypt("wrong key", encrypted), None);
        assert_eq!(decrypt("test key", "not base64!"), None);
    }

    #[test]
    fn checks_the_signature_over_timestamp_nonce_key_and_body() {
        // sha256("1700000000" + "n1" + "k" + "{}"), from Python's hashlib.
        let signature = "6f367c03a1787b380643acccb21fe391c1a77f2e7e3374425f23f2ed65f18ac9";
        assert!(verify("k", "1700000000", "n1", b"{}", signature));
        assert!(!verify("k", "1700000001", "n1", b"{}", signature));
        assert!(!verify("k", "1700000000", "n1", b"{ }", signature));
    }
}
