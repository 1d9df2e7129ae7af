//! Access tokens: ES256 JWTs with Stack Auth's header, claims, issuers and audiences, signed
//! by keys derived from the server secret, and the JWKS that publishes them.
//!
//! For every audience (`<project>`, `<project>:restricted`, `<project>:anon`) P-256 keys are
//! derived from the server secrets with HKDF-SHA256; nothing is stored. The key id is the
//! first 12 base64url characters of the SHA-256 of the public key. Tokens are signed with
//! the current secret's key. The JWKS (and verification) also carries, per audience, the
//! keys of the previous secrets, so a secret can rotate without signing anyone out; with no
//! previous secret it carries the current secret's standby key instead. Either way a
//! project publishes two keys per audience in the common case, as Stack Auth does (its
//! own e2e suite checks for 2, 4 and 6 keys).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hkdf::Hkdf;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::pkcs8::EncodePrivateKey;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, RestrictedReason, Result};

/// Which kind of user a token is for; selects issuer, audience and signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenAudience {
    /// Neither anonymous nor restricted.
    Normal,
    /// Restricted, not anonymous.
    Restricted,
    /// Anonymous.
    Anonymous,
}

impl TokenAudience {
    /// The `aud` claim for a project.
    pub fn audience(self, project_id: &str) -> String {
        match self {
            TokenAudience::Normal => project_id.to_owned(),
            TokenAudience::Restricted => format!("{project_id}:restricted"),
            TokenAudience::Anonymous => format!("{project_id}:anon"),
        }
    }

    /// The `iss` claim for a project under the public base URL.
    pub fn issuer(self, base_url: &str, project_id: &str) -> String {
        let base = base_url.trim_end_matches('/');
        match self {
            TokenAudience::Normal => format!("{base}/api/v1/projects/{project_id}"),
            TokenAudience::Restricted => {
                format!("{base}/api/v1/projects-restricted-users/{project_id}")
            }
            TokenAudience::Anonymous => {
                format!("{base}/api/v1/projects-anonymous-users/{project_id}")
            }
        }
    }

    /// The audience for a user state.
    pub fn for_user(is_anonymous: bool, is_restricted: bool) -> Self {
        if is_anonymous {
            TokenAudience::Anonymous
        } else if is_restricted {
            TokenAudience::Restricted
        } else {
            TokenAudience::Normal
        }
    }
}

/// `{"type": "..."}` inside the claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonClaim {
    /// The reason's wire name.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The claims of a Stack access token, in Stack's spelling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// User id.
    pub sub: Uuid,
    /// Project id.
    pub project_id: String,
    /// Branch id (always `main`).
    pub branch_id: String,
    /// Session id.
    pub refresh_token_id: Uuid,
    /// Always `authenticated`.
    pub role: String,
    /// Display name at mint time.
    pub name: Option<String>,
    /// Primary email at mint time.
    pub email: Option<String>,
    /// Whether the primary email was verified.
    pub email_verified: bool,
    /// Selected team.
    pub selected_team_id: Option<Uuid>,
    /// Sign-up time, epoch seconds.
    pub signed_up_at: i64,
    /// Anonymous user.
    pub is_anonymous: bool,
    /// Restricted user.
    pub is_restricted: bool,
    /// Why restricted.
    pub restricted_reason: Option<ReasonClaim>,
    /// TOTP enabled.
    pub requires_totp_mfa: bool,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Issued at, epoch seconds.
    pub iat: i64,
    /// Expiry, epoch seconds.
    pub exp: i64,
}

impl AccessTokenClaims {
    /// The restriction reason as a typed value.
    pub fn restriction(&self) -> Option<RestrictedReason> {
        self.restricted_reason
            .as_ref()
            .and_then(|r| RestrictedReason::parse(&r.kind))
    }
}

/// One derived key pair.
struct DerivedKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    x: String,
    y: String,
}

/// Derives and caches signing keys from the server secrets.
pub struct KeyRing {
    /// Current secret first, then previous ones.
    secrets: Vec<SecretString>,
    cache: RwLock<HashMap<String, Arc<Vec<DerivedKey>>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

const HKDF_SALT: &[u8] = b"postern/jwt-signing-key/es256/v1";

/// Audiences whose keys are kept derived (three per project). Tokens name their audience
/// before they are verified, so callers derive keys only for projects that exist
/// ([`crate::Sessions::verify`] checks); the bound keeps memory flat even so.
pub const MAX_CACHED_AUDIENCES: usize = 3 * 1024;
/// The longest access token looked at; longer ones are unparsable without being read.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The audience (`aud`) of a token, read without verifying it; `None` for anything that
/// is not a compact JWT of at most [`MAX_TOKEN_BYTES`] with a string `aud` of a project id
/// (at most 200 bytes) and an optional `:restricted` / `:anon` suffix.
pub fn unverified_audience(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes = B64URL.decode(payload).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let aud = v.get("aud")?.as_str()?;
    (aud.len() <= 220
        && aud
            .split(':')
            .next()
            .is_some_and(|p| !p.is_empty() && p.len() <= 200))
    .then(|| aud.to_owned())
}

impl KeyRing {
    /// A key ring signing with `current` and also accepting tokens of `previous` secrets.
    pub fn new(current: SecretString, previous: Vec<SecretString>) -> Self {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        let mut secrets = vec![current];
        secrets.extend(previous);
        Self {
            secrets,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// How many audiences' keys are cached.
    pub fn len(&self) -> usize {
        self.cache.read().map(|c| c.len()).unwrap_or(0)
    }

    /// Whether no keys are cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the keys of `audience` are derived already (verifying with them costs no
    /// derivation).
    pub fn has(&self, audience: &str) -> bool {
        self.cache
            .read()
            .map(|c| c.contains_key(audience))
            .unwrap_or(false)
    }

    fn keys(&self, audience: &str) -> Result<Arc<Vec<DerivedKey>>> {
        if let Some(k) = self.cache.read().map_err(poisoned)?.get(audience) {
            return Ok(k.clone());
        }
        let mut keys = Vec::with_capacity(self.secrets.len() + 1);
        for s in &self.secrets {
            keys.push(derive_key(
                s.expose_secret().as_bytes(),
                audience,
                KeyRole::Signing,
            )?);
        }
        if self.secrets.len() == 1 {
            keys.push(derive_key(
                self.secrets[0].expose_secret().as_bytes(),
                audience,
                KeyRole::Standby,
            )?);
        }
        let keys = Arc::new(keys);
        let mut cache = self.cache.write().map_err(poisoned)?;
        if cache.len() >= MAX_CACHED_AUDIENCES {
            // Rare (thousands of active projects): start over rather than grow.
            cache.clear();
        }
        cache.insert(audience.to_owned(), keys.clone());
        Ok(keys)
    }

    /// Signs claims with the current secret's key for `claims.aud`.
    pub fn sign(&self, claims: &AccessTokenClaims) -> Result<String> {
        let keys = self.keys(&claims.aud)?;
        let key = &keys[0];
        let mut header = Header::new(Algorithm::ES256);
        header.typ = None;
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|e| Error::Internal(format!("jwt sign: {e}")))
    }

    /// Verifies signature, audience and issuer; expiry is checked against `now_millis` and
    /// reported as `ACCESS_TOKEN_EXPIRED` with Stack's details.
    pub fn verify(
        &self,
        token: &str,
        base_url: &str,
        now_millis: i64,
    ) -> Result<AccessTokenClaims> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Error::UnparsableAccessToken);
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| Error::UnparsableAccessToken)?;
        if header.alg != Algorithm::ES256 {
            return Err(Error::UnparsableAccessToken);
        }
        let kid = header.kid.ok_or(Error::UnparsableAccessToken)?;
        let aud = unverified_audience(token).ok_or(Error::UnparsableAccessToken)?;
        let project_id = aud.split(':').next().unwrap_or_default().to_owned();
        let audience_kind = match aud.strip_prefix(project_id.as_str()) {
            Some("") => TokenAudience::Normal,
            Some(":restricted") => TokenAudience::Restricted,
            Some(":anon") => TokenAudience::Anonymous,
            _ => return Err(Error::UnparsableAccessToken),
        };
        let keys = self.keys(&aud)?;
        let key = keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(Error::UnparsableAccessToken)?;
        let mut v = Validation::new(Algorithm::ES256);
        v.leeway = 0;
        v.validate_exp = false;
        v.validate_nbf = false;
        v.required_spec_claims = HashSet::new();
        v.set_audience(&[&aud]);
        let issuers = [
            TokenAudience::Normal,
            TokenAudience::Restricted,
            TokenAudience::Anonymous,
        ]
        .map(|a| a.issuer(base_url, &project_id));
        v.set_issuer(&issuers);
        let claims = jsonwebtoken::decode::<AccessTokenClaims>(token, &key.decoding, &v)
            .map_err(|_| Error::UnparsableAccessToken)?
            .claims;
        // Consistency of the user-type claims with the audience.
        let consistent = claims.is_anonymous == (audience_kind == TokenAudience::Anonymous)
            && (audience_kind == TokenAudience::Restricted)
                == (claims.is_restricted && !claims.is_anonymous)
            && claims.is_restricted == claims.restricted_reason.is_some()
            && (!claims.is_anonymous || claims.is_restricted)
            && claims.project_id == project_id;
        if !consistent {
            return Err(Error::UnparsableAccessToken);
        }
        if now_millis >= claims.exp.saturating_mul(1000) {
            return Err(Error::AccessTokenExpired {
                expired_at_millis: Some(claims.exp.saturating_mul(1000)),
                project_id: Some(claims.project_id),
                user_id: Some(claims.sub),
                refresh_token_id: Some(claims.refresh_token_id),
            });
        }
        Ok(claims)
    }

    /// The JWKS of a project: normal keys, then restricted keys when `include_restricted`
    /// (implied by `include_anonymous`), then anonymous keys when `include_anonymous`.
    pub fn jwks(
        &self,
        project_id: &str,
        include_restricted: bool,
        include_anonymous: bool,
    ) -> Result<Value> {
        let mut audiences = vec![TokenAudience::Normal];
        if include_restricted || include_anonymous {
            audiences.push(TokenAudience::Restricted);
        }
        if include_anonymous {
            audiences.push(TokenAudience::Anonymous);
        }
        let mut out = Vec::new();
        for a in audiences {
            for k in self.keys(&a.audience(project_id))?.iter() {
                out.push(json!({
                    "kty": "EC", "alg": "ES256", "crv": "P-256",
                    "x": k.x, "y": k.y, "kid": k.kid,
                }));
            }
        }
        Ok(json!({ "keys": out }))
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::Internal("key cache lock poisoned".into())
}

/// Which of a secret's keys for an audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    /// The key that signs (and, for previous secrets, the key that used to sign).
    Signing,
    /// A published, unused key: the successor a future key rotation would switch to.
    Standby,
}

/// Derives the P-256 secret scalar for an audience from a server secret (HKDF-SHA256 with
/// rejection sampling), deterministic across restarts and instances.
pub fn derive_secret_scalar(secret: &[u8], audience: &str, role: KeyRole) -> p256::SecretKey {
    let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), secret);
    let mut counter: u32 = 0;
    loop {
        let mut info = audience.as_bytes().to_vec();
        if role == KeyRole::Standby {
            info.extend_from_slice(b"\0standby");
        }
        info.extend_from_slice(&counter.to_be_bytes());
        let mut okm = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
        if hk.expand(&info, &mut okm).is_ok()
            && let Ok(sk) = p256::SecretKey::from_slice(&okm)
        {
            return sk;
        }
        counter += 1;
    }
}

fn derive_key(secret: &[u8], audience: &str, role: KeyRole) -> Result<DerivedKey> {
    let sk = derive_secret_scalar(secret, audience, role);
    let der = sk
        .to_pkcs8_der()
        .map_err(|e| Error::Internal(format!("pkcs8: {e}")))?;
    let point = sk.public_key().to_sec1_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err(Error::Internal("public key at infinity".into()));
    };
    let x = B64URL.encode(x);
    let y = B64URL.encode(y);
    let kid = key_id(point.as_bytes());
    let decoding = DecodingKey::from_ec_components(&x, &y)
        .map_err(|e| Error::Internal(format!("decoding key: {e}")))?;
    Ok(DerivedKey {
        kid,
        encoding: EncodingKey::from_ec_der(der.as_bytes()),
        decoding,
        x,
        y,
    })
}

/// The `kid` of a public key: first 12 base64url characters of SHA-256 of its SEC1 bytes.
pub fn key_id(sec1_public_key: &[u8]) -> String {
    B64URL.encode(Sha256::digest(sec1_public_key))[..12].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(secret: &str) -> KeyRing {
        KeyRing::new(SecretString::from(secret.to_owned()), vec![])
    }

    fn claims(aud: TokenAudience, now_s: i64) -> AccessTokenClaims {
        let (anon, restricted) = match aud {
            TokenAudience::Normal => (false, false),
            TokenAudience::Restricted => (false, true),
            TokenAudience::Anonymous => (true, true),
        };
        AccessTokenClaims {
            sub: Uuid::new_v4(),
            project_id: "p1".into(),
            branch_id: "main".into(),
            refresh_token_id: Uuid::new_v4(),
            role: "authenticated".into(),
            name: None,
            email: Some("a@example.com".into()),
            email_verified: false,
            selected_team_id: None,
            signed_up_at: now_s,
            is_anonymous: anon,
            is_restricted: restricted,
            restricted_reason: match aud {
                TokenAudience::Normal => None,
                TokenAudience::Restricted => Some(ReasonClaim {
                    kind: "email_not_verified".into(),
                }),
                TokenAudience::Anonymous => Some(ReasonClaim {
                    kind: "anonymous".into(),
                }),
            },
            requires_totp_mfa: false,
            iss: aud.issuer("http://localhost:8102", "p1"),
            aud: aud.audience("p1"),
            iat: now_s,
            exp: now_s + 600,
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn sign_verify_round_trip_for_every_audience() {
        let r = ring("s3cret");
        for a in [
            TokenAudience::Normal,
            TokenAudience::Restricted,
            TokenAudience::Anonymous,
        ] {
            let c = claims(a, NOW);
            let t = r.sign(&c).unwrap();
            let header: Value =
                serde_json::from_slice(&B64URL.decode(t.split('.').next().unwrap()).unwrap())
                    .unwrap();
            assert_eq!(
                header.as_object().unwrap().len(),
                2,
                "only alg and kid: {header}"
            );
            assert_eq!(header["alg"], "ES256");
            assert_eq!(
                r.verify(&t, "http://localhost:8102", NOW * 1000).unwrap(),
                c
            );
        }
    }

    #[test]
    fn expiry_and_wrong_issuer_and_wrong_secret() {
        let r = ring("s3cret");
        let c = claims(TokenAudience::Normal, NOW);
        let t = r.sign(&c).unwrap();
        match r.verify(&t, "http://localhost:8102", (NOW + 600) * 1000) {
            Err(Error::AccessTokenExpired {
                expired_at_millis,
                user_id,
                ..
            }) => {
                assert_eq!(expired_at_millis, Some((NOW + 600) * 1000));
                assert_eq!(user_id, Some(c.sub));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            r.verify(&t, "https://other", NOW * 1000),
            Err(Error::UnparsableAccessToken)
        );
        assert_eq!(
            ring("other").verify(&t, "http://localhost:8102", NOW * 1000),
            Err(Error::UnparsableAccessToken)
        );
        assert_eq!(
            r.verify("garbage", "http://localhost:8102", NOW * 1000),
            Err(Error::UnparsableAccessToken)
        );
        let mut tampered = t.clone();
        tampered.pop();
        tampered.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            r.verify(&tampered, "http://localhost:8102", NOW * 1000),
            Err(Error::UnparsableAccessToken)
        );
    }

    #[test]
    fn inconsistent_user_type_claims_are_rejected() {
        let r = ring("s3cret");
        let mut c = claims(TokenAudience::Normal, NOW);
        c.is_anonymous = true;
        let t = r.sign(&c).unwrap();
        assert_eq!(
            r.verify(&t, "http://localhost:8102", NOW * 1000),
            Err(Error::UnparsableAccessToken)
        );
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let old = ring("old-secret");
        let t = old.sign(&claims(TokenAudience::Normal, NOW)).unwrap();
        let rotated = KeyRing::new(
            SecretString::from("new-secret".to_owned()),
            vec![SecretString::from("old-secret".to_owned())],
        );
        assert!(
            rotated
                .verify(&t, "http://localhost:8102", NOW * 1000)
                .is_ok()
        );
        assert!(
            ring("new-secret")
                .verify(&t, "http://localhost:8102", NOW * 1000)
                .is_err()
        );
        let jwks = rotated.jwks("p1", false, false).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        assert_eq!(
            rotated.jwks("p1", true, false).unwrap()["keys"]
                .as_array()
                .unwrap()
                .len(),
            4
        );
        assert_eq!(
            rotated.jwks("p1", false, true).unwrap()["keys"]
                .as_array()
                .unwrap()
                .len(),
            6
        );
    }

    #[test]
    fn derivation_is_deterministic_and_separated() {
        let d = |s: &[u8], a: &str| derive_secret_scalar(s, a, KeyRole::Signing).to_bytes();
        let a = d(b"s", "p1");
        assert_eq!(a, d(b"s", "p1"));
        assert_ne!(a, d(b"s", "p2"));
        assert_ne!(a, d(b"s", "p1:anon"));
        assert_ne!(a, d(b"t", "p1"));
        assert_ne!(
            a,
            derive_secret_scalar(b"s", "p1", KeyRole::Standby).to_bytes()
        );
        let j = ring("s").jwks("p1", false, false).unwrap();
        assert_eq!(
            j["keys"].as_array().unwrap().len(),
            2,
            "signing and standby key, as Stack's 2"
        );
        let k = &j["keys"][0];
        assert_eq!(k["kid"].as_str().unwrap().len(), 12);
        assert_eq!(B64URL.decode(k["x"].as_str().unwrap()).unwrap().len(), 32);
        assert_eq!(B64URL.decode(k["y"].as_str().unwrap()).unwrap().len(), 32);
        let all = ring("s").jwks("p1", false, true).unwrap();
        let kids: HashSet<_> = all["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].clone())
            .collect();
        assert_eq!(kids.len(), 6, "each audience has its own keys");
    }

    proptest::proptest! {
        #[test]
        fn derived_keys_are_valid_and_deterministic(secret in proptest::collection::vec(proptest::num::u8::ANY, 1..64), aud in "[a-z0-9:-]{1,40}") {
            let a = derive_secret_scalar(&secret, &aud, KeyRole::Signing);
            let b = derive_secret_scalar(&secret, &aud, KeyRole::Signing);
            proptest::prop_assert_eq!(a.to_bytes(), b.to_bytes());
        }
    }
}
