//! Random tokens in Stack's alphabet, and hashing of high-entropy secrets.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Lowercase Crockford base32, as Stack uses for refresh tokens, codes and keys.
pub const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `len` random characters from [`CROCKFORD`] (5 bits of entropy each).
pub fn random_crockford(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::fill(&mut bytes[..]);
    bytes
        .iter()
        .map(|b| CROCKFORD[(b & 31) as usize] as char)
        .collect()
}

/// A refresh token: 45 Crockford characters (225 random bits).
pub fn new_refresh_token() -> String {
    random_crockford(45)
}

/// Whether `s` is exactly `len` characters of [`CROCKFORD`].
pub fn is_crockford(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| CROCKFORD.contains(&b))
}

/// SHA-256 of a high-entropy secret (refresh token, project key), lowercase hex.
///
/// Plain SHA-256 suffices here: these secrets carry over 200 random bits, so the hash
/// cannot be inverted by guessing, and it lets storage look rows up by an index.
pub fn hash_secret(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A 32-byte key derived from a server secret for one purpose (HKDF-SHA256).
pub(crate) fn derive_key(secret: &[u8], salt: &[u8], info: &[u8]) -> [u8; 32] {
    let hk = hkdf::Hkdf::<Sha256>::new(Some(salt), secret);
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's output limit.
    let _ = hk.expand(info, &mut out);
    out
}

/// The API-key pepper for a server secret (keys the hashes of API keys).
pub(crate) fn api_key_pepper(secret: &[u8]) -> [u8; 32] {
    derive_key(secret, b"postern/api-key-pepper/v1", b"hmac-sha256")
}

/// The outbox sealing key for a server secret.
pub(crate) fn outbox_key(secret: &[u8]) -> [u8; 32] {
    derive_key(secret, b"postern/outbox/v1", b"aes-256-gcm")
}

/// The data-vault key for a server secret.
pub(crate) fn vault_key(secret: &[u8]) -> [u8; 32] {
    derive_key(secret, b"postern/vault/v1", b"aes-256-gcm")
}

/// The TOTP-secret sealing key for a server secret.
pub(crate) fn totp_key(secret: &[u8]) -> [u8; 32] {
    derive_key(secret, b"postern/totp/v1", b"aes-256-gcm")
}

/// The recovery-code HMAC key for a server secret.
pub(crate) fn recovery_code_key(secret: &[u8]) -> [u8; 32] {
    derive_key(secret, b"postern/recovery-codes/v1", b"hmac-sha256")
}

/// The sealing key of third-party secrets in project config, for a server secret.
pub(crate) fn config_secret_key(secret: &[u8]) -> [u8; 32] {
    derive_key(secret, b"postern/config-secrets/v1", b"aes-256-gcm")
}

/// The sealing key of OAuth secrets (provider tokens, flow verifiers), for a server secret.
pub(crate) fn oauth_key(secret: &[u8]) -> [u8; 32] {
    derive_key(secret, b"postern/oauth/v1", b"aes-256-gcm")
}

/// The key of webhook portal tokens (HMAC-SHA256), for a server secret.
pub(crate) fn webhook_portal_key(secret: &[u8]) -> [u8; 32] {
    derive_key(secret, b"postern/webhook-portal/v1", b"hmac-sha256")
}

/// The throttling key for a server secret (keys the hashes of addresses in counters).
pub(crate) fn throttle_key(secret: &[u8]) -> [u8; 32] {
    derive_key(secret, b"postern/throttle/v1", b"hmac-sha256")
}

/// [`seal`] for text kept in a text column: the sealed bytes in standard base64.
pub(crate) fn seal_text(key: &[u8; 32], aad: &[u8], plain: &str) -> Option<String> {
    use base64::Engine as _;
    seal(key, aad, plain.as_bytes()).map(|b| base64::engine::general_purpose::STANDARD.encode(b))
}

/// Opens what [`seal_text`] sealed, with any of `keys`.
pub(crate) fn open_text(keys: &[[u8; 32]], aad: &[u8], sealed: &str) -> Option<String> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .ok()?;
    String::from_utf8(open(keys, aad, &raw)?).ok()
}

/// Seals `plain` with AES-256-GCM under `key`, bound to `aad`: a random 96-bit nonce
/// followed by the ciphertext and tag.
pub(crate) fn seal(key: &[u8; 32], aad: &[u8], plain: &[u8]) -> Option<Vec<u8>> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(key).ok()?;
    let mut nonce = [0u8; 12];
    rand::fill(&mut nonce[..]);
    let sealed = cipher
        .encrypt(&aes_gcm::Nonce::from(nonce), Payload { msg: plain, aad })
        .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Some(out)
}

/// Opens what [`seal`] made with any of `keys` (current first, then previous secrets').
pub(crate) fn open(keys: &[[u8; 32]], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    if sealed.len() < 12 {
        return None;
    }
    let (nonce, body) = sealed.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().ok()?;
    keys.iter().find_map(|key| {
        aes_gcm::Aes256Gcm::new_from_slice(key)
            .ok()?
            .decrypt(&aes_gcm::Nonce::from(nonce), Payload { msg: body, aad })
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_use_the_alphabet() {
        let t = new_refresh_token();
        assert!(is_crockford(&t, 45));
        assert_ne!(t, new_refresh_token());
        assert!(!is_crockford("ABC", 3));
        assert!(!is_crockford("abci", 4), "i is not Crockford");
    }

    #[test]
    fn sealing_binds_key_and_aad() {
        let k1 = derive_key(b"one secret", b"salt", b"info");
        let k2 = derive_key(b"two secret", b"salt", b"info");
        assert_ne!(k1, derive_key(b"one secret", b"salt", b"other"));
        let sealed = seal(&k1, b"row-1", b"plain bytes").unwrap();
        assert_eq!(
            open(&[k2, k1], b"row-1", &sealed).as_deref(),
            Some(&b"plain bytes"[..])
        );
        assert_eq!(open(&[k2], b"row-1", &sealed), None);
        assert_eq!(open(&[k1], b"row-2", &sealed), None);
        assert_eq!(open(&[k1], b"row-1", &sealed[..5]), None);
    }

    #[test]
    fn hashing() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
