//! Webhook portal tokens: what `POST /webhooks/svix-token` hands out (Svix calls them
//! app-portal tokens). A token names one project and an expiry and is MACed with a key
//! derived from the server secret, so it needs no storage and dies with a secret rotation
//! once the old secret is dropped.
//!
//! Shape: `pwp_<base64url(project id)>.<expiry in seconds>.<base64url(HMAC-SHA256)>`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::postern::Postern;

/// How long a token is valid.
pub(crate) const LIFETIME_SECS: i64 = 3600;
const PREFIX: &str = "pwp_";

fn mac(key: &[u8; 32], body: &str) -> Vec<u8> {
    let mut m = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    m.update(body.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// A fresh token for `project_id`.
pub(crate) fn issue(p: &Postern, project_id: &str) -> String {
    let exp = p.inner.clock.now_millis() / 1000 + LIFETIME_SECS;
    let body = format!("{PREFIX}{}.{exp}", B64URL.encode(project_id));
    let tag = mac(&p.inner.portal_keys[0], &body);
    format!("{body}.{}", B64URL.encode(tag))
}

/// The project of a genuine, unexpired token.
pub(crate) fn verify(p: &Postern, token: &str) -> Option<String> {
    let (body, tag) = token.rsplit_once('.')?;
    let tag = B64URL.decode(tag).ok()?;
    // Any current or previous secret's key; compared in constant time.
    if !p
        .inner
        .portal_keys
        .iter()
        .any(|k| crate::secrets::ct_eq(&mac(k, body), &tag))
    {
        return None;
    }
    let (project, exp) = body.strip_prefix(PREFIX)?.split_once('.')?;
    let exp: i64 = exp.parse().ok()?;
    if exp < p.inner.clock.now_millis() / 1000 {
        return None;
    }
    String::from_utf8(B64URL.decode(project).ok()?).ok()
}
