//! Third-party secrets inside project config (the SMTP password of `emails.server`, the
//! client secrets of `auth.oauth.providers.<id>`): sealed at rest, redacted on every read.
//!
//! A secret is stored as `postern-sealed:v1:<base64>`: AES-256-GCM under a key derived from
//! the server secret, bound to the project and the secret's path, so a database dump does
//! not yield it and a sealed value cannot be moved to another project or key. Every view of
//! the config (admin API, config overrides, the legacy project view) shows
//! [`REDACTED`] instead; writing [`REDACTED`] back keeps the stored secret, so a client that
//! round-trips a config does not erase it. [`crate::Projects::config_secret`] opens one
//! for the code that needs it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

/// What every read shows in place of a secret.
pub const REDACTED: &str = "********";

const PREFIX: &str = "postern-sealed:v1:";

/// The paths of third-party secrets: `*` is any one key.
pub const SECRET_PATHS: &[&str] = &[
    "emails.server.password",
    "auth.oauth.providers.*.clientSecret",
];

/// Calls `f` with the concrete path and the value of every secret present in `config`.
fn each_secret(config: &mut Value, mut f: impl FnMut(&str, &mut Value)) {
    for pattern in SECRET_PATHS {
        let parts: Vec<&str> = pattern.split('.').collect();
        walk(config, &parts, String::new(), &mut f);
    }
}

fn walk(v: &mut Value, parts: &[&str], path: String, f: &mut impl FnMut(&str, &mut Value)) {
    let Some((first, rest)) = parts.split_first() else {
        if !v.is_null() {
            f(&path, v);
        }
        return;
    };
    let Some(obj) = v.as_object_mut() else {
        return;
    };
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    if *first == "*" {
        for (k, child) in obj.iter_mut() {
            walk(child, rest, join(k), f);
        }
    } else if let Some(child) = obj.get_mut(*first) {
        walk(child, rest, join(first), f);
    }
}

fn aad(project_id: &str, path: &str) -> Vec<u8> {
    let mut a = project_id.as_bytes().to_vec();
    a.push(0);
    a.extend_from_slice(path.as_bytes());
    a
}

/// Whether a stored value is sealed.
pub fn is_sealed(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.starts_with(PREFIX))
}

/// Seals every plain secret of a config about to be stored; [`REDACTED`] values take the
/// value at the same path in `previous` (the stored config), or are removed when there is
/// none.
pub(crate) fn seal_all(
    key: &[u8; 32],
    project_id: &str,
    config: &mut Value,
    previous: Option<&Value>,
) {
    each_secret(config, |path, v| {
        if v.as_str() == Some(REDACTED) {
            *v = previous
                .and_then(|p| path.split('.').try_fold(p, |v, k| v.get(k)))
                .filter(|old| is_sealed(old))
                .cloned()
                .unwrap_or(Value::Null);
            return;
        }
        if is_sealed(v) {
            return;
        }
        let plain = match &*v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Some(sealed) = crate::secrets::seal(key, &aad(project_id, path), plain.as_bytes()) {
            *v = Value::String(format!("{PREFIX}{}", B64.encode(sealed)));
        }
    });
}

/// Replaces every secret with [`REDACTED`] (what every read shows).
///
/// ```
/// use postern_core::config_secrets::{redact, REDACTED};
/// let mut c = serde_json::json!({"emails": {"server": {"host": "smtp", "password": "hunter2"}}});
/// redact(&mut c);
/// assert_eq!(c["emails"]["server"]["password"], REDACTED);
/// assert_eq!(c["emails"]["server"]["host"], "smtp");
/// ```
pub fn redact(config: &mut Value) {
    each_secret(config, |_, v| *v = Value::String(REDACTED.into()));
}

/// Opens the sealed secret at `path` (for example `emails.server.password`).
pub(crate) fn open(
    keys: &[[u8; 32]],
    project_id: &str,
    config: &Value,
    path: &str,
) -> Option<String> {
    let v = path.split('.').try_fold(config, |v, k| v.get(k))?;
    let sealed = B64.decode(v.as_str()?.strip_prefix(PREFIX)?).ok()?;
    let plain = crate::secrets::open(keys, &aad(project_id, path), &sealed)?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sealed_redacted_and_restored() {
        let key = crate::secrets::config_secret_key(b"a server secret of some length");
        let mut c = json!({
            "emails": {"server": {"host": "smtp.example.com", "password": "hunter2"}},
            "auth": {"oauth": {"providers": {
                "github": {"clientId": "id", "clientSecret": "gh-secret"},
                "google": {"clientId": "id2"}
            }}}
        });
        seal_all(&key, "p1", &mut c, None);
        let text = c.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("gh-secret"),
            "{text}"
        );
        assert_eq!(
            open(&[key], "p1", &c, "emails.server.password").as_deref(),
            Some("hunter2")
        );
        assert_eq!(
            open(&[key], "p1", &c, "auth.oauth.providers.github.clientSecret").as_deref(),
            Some("gh-secret")
        );
        assert_eq!(
            open(&[key], "p2", &c, "emails.server.password"),
            None,
            "bound to the project"
        );
        let stored = c.clone();
        seal_all(&key, "p1", &mut c, None);
        assert_eq!(c, stored, "sealing twice changes nothing");

        let mut view = stored.clone();
        redact(&mut view);
        assert_eq!(view["emails"]["server"]["password"], REDACTED);
        assert!(
            view["auth"]["oauth"]["providers"]["google"]
                .get("clientSecret")
                .is_none()
        );

        // Writing the redacted view back keeps the stored secrets.
        seal_all(&key, "p1", &mut view, Some(&stored));
        assert_eq!(view, stored);
        let mut fresh = json!({"emails": {"server": {"password": REDACTED}}});
        seal_all(&key, "p1", &mut fresh, None);
        assert_eq!(fresh["emails"]["server"]["password"], Value::Null);
    }
}
