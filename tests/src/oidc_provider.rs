//! A real OpenID Connect provider on loopback, for the OAuth tests: discovery, an
//! authorization endpoint that logs in whichever account the test queued (no login page),
//! a token endpoint checking what a provider checks (client authentication, the redirect URI,
//! single-use codes bound to their client, PKCE S256), ES256 ID tokens published in a
//! JWKS, a userinfo endpoint, and refresh tokens. Tests can make it refuse the next sign-in,
//! revoke tokens, and make the next refresh fail.
//!
//! It runs on its own thread and runtime (as the sinks do), so it answers whatever the
//! test's runtime is doing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use p256::elliptic_curve::sec1::ToSec1Point as _;
use serde_json::{Value, json};

/// An account the provider signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The subject (account id).
    pub sub: String,
    /// Its address.
    pub email: Option<String>,
    /// Whether the provider vouches for the address.
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
}

impl Account {
    /// An account with a verified address.
    pub fn verified(sub: &str, email: &str) -> Self {
        Account {
            sub: sub.into(),
            email: Some(email.into()),
            email_verified: true,
            name: Some(format!("User {sub}")),
        }
    }
}

struct Client {
    secret: String,
    redirect_uris: Vec<String>,
}

struct PendingCode {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    account: Account,
    scope: String,
    nonce: Option<String>,
}

struct Grant {
    account: Account,
    revoked: bool,
}

#[derive(Default)]
struct Shared {
    issuer: String,
    kid: String,
    encoding: Option<jsonwebtoken::EncodingKey>,
    jwk: Value,
    clients: HashMap<String, Client>,
    queue: VecDeque<Account>,
    deny_next: bool,
    codes: HashMap<String, PendingCode>,
    grants: Vec<Grant>,
    /// Access token → grant index.
    access: HashMap<String, usize>,
    /// Refresh token → grant index.
    refresh: HashMap<String, usize>,
    fail_next_refresh: Option<String>,
    rotate: bool,
    token_requests: usize,
    last_scope: Option<String>,
}

/// The provider; see the module docs.
pub struct OidcProvider {
    issuer: String,
    shared: Arc<Mutex<Shared>>,
}

fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

impl OidcProvider {
    /// Starts the provider on `127.0.0.1` (a free port).
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let key = loop {
            let mut bytes = [0u8; 32];
            bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            if let Ok(k) = p256::SecretKey::from_slice(&bytes) {
                break k;
            }
        };
        let der = p256::pkcs8::EncodePrivateKey::to_pkcs8_der(&key).expect("pkcs8");
        let point = key.public_key().to_sec1_point(false);
        let kid = format!("test-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": b64(point.x().expect("x")), "y": b64(point.y().expect("y")),
        });
        let shared = Arc::new(Mutex::new(Shared {
            issuer: issuer.clone(),
            kid,
            encoding: Some(jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes())),
            jwk,
            ..Shared::default()
        }));
        let state = Arc::clone(&shared);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let app = axum::Router::new()
                    .route("/.well-known/openid-configuration", get(discovery))
                    .route("/auth", get(authorize))
                    .route("/token", post(token))
                    .route("/me", get(userinfo))
                    .route("/jwks", get(jwks))
                    .with_state(state);
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app).await.expect("serve");
            });
        });
        OidcProvider { issuer, shared }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Its issuer URL (`http://127.0.0.1:<port>`).
    pub fn issuer(&self) -> String {
        self.issuer.clone()
    }

    /// Registers a client with its secret and redirect URIs.
    pub fn register_client(&self, id: &str, secret: &str, redirect_uris: &[&str]) {
        self.lock().clients.insert(
            id.into(),
            Client {
                secret: secret.into(),
                redirect_uris: redirect_uris.iter().map(|s| s.to_string()).collect(),
            },
        );
    }

    /// The next sign-in at `/auth` logs this account in (first in, first out; without one,
    /// a fresh account with a verified address).
    pub fn queue_login(&self, account: Account) {
        self.lock().queue.push_back(account);
    }

    /// The next sign-in at `/auth` answers `error=access_denied`.
    pub fn deny_next(&self) {
        self.lock().deny_next = true;
    }

    /// The access token stops working.
    pub fn revoke_access_token(&self, token: &str) {
        let mut s = self.lock();
        s.access.remove(token);
    }

    /// The whole grant of this access token (its refresh tokens included) stops working.
    pub fn revoke_grant_of(&self, access_token: &str) {
        let mut s = self.lock();
        if let Some(&g) = s.access.get(access_token) {
            s.grants[g].revoked = true;
        }
    }

    /// The next refresh answers `400 {"error": kind}`.
    pub fn fail_next_refresh(&self, kind: &str) {
        self.lock().fail_next_refresh = Some(kind.into());
    }

    /// Refreshes hand out a new refresh token (default: the old one stays).
    pub fn set_rotate_refresh_tokens(&self, rotate: bool) {
        self.lock().rotate = rotate;
    }

    /// How many token requests were answered successfully.
    pub fn token_requests(&self) -> usize {
        self.lock().token_requests
    }

    /// The `scope` of the last refresh request.
    pub fn last_token_request_scope(&self) -> Option<String> {
        self.lock().last_scope.clone()
    }
}

type St = State<Arc<Mutex<Shared>>>;

fn lock(s: &Arc<Mutex<Shared>>) -> std::sync::MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

async fn discovery(State(s): St) -> Response {
    let issuer = lock(&s).issuer.clone();
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/me"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "scopes_supported": ["openid", "email", "profile", "offline_access"],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

async fn jwks(State(s): St) -> Response {
    axum::Json(json!({ "keys": [lock(&s).jwk.clone()] })).into_response()
}

async fn authorize(State(s): St, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut s = lock(&s);
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    let registered = s
        .clients
        .get(&client_id)
        .is_some_and(|c| c.redirect_uris.contains(&redirect_uri));
    if !registered {
        return (StatusCode::BAD_REQUEST, "unknown client or redirect URI").into_response();
    }
    let mut back = url::Url::parse(&redirect_uri).expect("registered URIs parse");
    let state = q.get("state").cloned().unwrap_or_default();
    let issuer = s.issuer.clone();
    if q.get("response_type").map(String::as_str) != Some("code") {
        back.query_pairs_mut()
            .append_pair("error", "unsupported_response_type")
            .append_pair("state", &state)
            .append_pair("iss", &issuer);
    } else if std::mem::take(&mut s.deny_next) {
        back.query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_description", "The user declined")
            .append_pair("state", &state)
            .append_pair("iss", &issuer);
    } else {
        let account = s.queue.pop_front().unwrap_or_else(|| {
            let sub = uuid::Uuid::new_v4().simple().to_string();
            Account::verified(&sub, &format!("{sub}@provider.example"))
        });
        let code = random_token();
        let challenge = match (
            q.get("code_challenge"),
            q.get("code_challenge_method").map(String::as_str),
        ) {
            (Some(c), Some("S256")) => Some(c.clone()),
            (Some(_), _) => {
                return (StatusCode::BAD_REQUEST, "only S256 PKCE").into_response();
            }
            (None, _) => None,
        };
        s.codes.insert(
            code.clone(),
            PendingCode {
                client_id,
                redirect_uri,
                challenge,
                account,
                scope: q.get("scope").cloned().unwrap_or_default(),
                nonce: q.get("nonce").cloned(),
            },
        );
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &state)
            .append_pair("iss", &issuer);
    }
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, back.to_string())],
    )
        .into_response()
}

/// The client a token request authenticates as (HTTP Basic or the body).
fn client_of(s: &Shared, headers: &HeaderMap, form: &HashMap<String, String>) -> Option<String> {
    let (id, secret) = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        Some(b) => {
            let raw = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
            let raw = String::from_utf8(raw).ok()?;
            let (id, secret) = raw.split_once(':')?;
            let dec = |x: &str| {
                url::form_urlencoded::parse(format!("v={x}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            (dec(id)?, dec(secret)?)
        }
        None => (
            form.get("client_id")?.clone(),
            form.get("client_secret")?.clone(),
        ),
    };
    (s.clients.get(&id)?.secret == secret).then_some(id)
}

fn s256(verifier: &str) -> String {
    use sha2::Digest as _;
    b64(&sha2::Sha256::digest(verifier.as_bytes()))
}

async fn token(State(st): St, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut s = lock(&st);
    let Some(client_id) = client_of(&s, &headers, &form) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(pending) = form.get("code").and_then(|c| s.codes.remove(c)) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            if pending.client_id != client_id
                || form.get("redirect_uri") != Some(&pending.redirect_uri)
            {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            if let Some(challenge) = &pending.challenge {
                let ok = form
                    .get("code_verifier")
                    .is_some_and(|v| s256(v) == *challenge);
                if !ok {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                }
            }
            s.grants.push(Grant {
                account: pending.account.clone(),
                revoked: false,
            });
            let g = s.grants.len() - 1;
            let access = random_token();
            let refresh = random_token();
            s.access.insert(access.clone(), g);
            s.refresh.insert(refresh.clone(), g);
            s.token_requests += 1;
            let a = &pending.account;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("time")
                .as_secs();
            let mut claims = json!({
                "iss": s.issuer, "sub": a.sub, "aud": client_id,
                "iat": now, "exp": now + 600,
                "email": a.email, "email_verified": a.email_verified, "name": a.name,
            });
            if let Some(n) = &pending.nonce {
                claims["nonce"] = json!(n);
            }
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            header.kid = Some(s.kid.clone());
            let id_token =
                jsonwebtoken::encode(&header, &claims, s.encoding.as_ref().expect("key"))
                    .expect("sign");
            axum::Json(json!({
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": refresh,
                "id_token": id_token,
                "scope": pending.scope,
            }))
            .into_response()
        }
        Some("refresh_token") => {
            s.last_scope = form.get("scope").cloned();
            if let Some(kind) = s.fail_next_refresh.take() {
                return oauth_error(StatusCode::BAD_REQUEST, &kind);
            }
            let Some(&g) = form.get("refresh_token").and_then(|r| s.refresh.get(r)) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            if s.grants[g].revoked {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            let access = random_token();
            s.access.insert(access.clone(), g);
            s.token_requests += 1;
            let mut body = json!({
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": form.get("scope").cloned().unwrap_or_default(),
            });
            if s.rotate {
                if let Some(old) = form.get("refresh_token") {
                    s.refresh.remove(old);
                }
                let fresh = random_token();
                s.refresh.insert(fresh.clone(), g);
                body["refresh_token"] = json!(fresh);
            }
            axum::Json(body).into_response()
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

async fn userinfo(State(s): St, headers: HeaderMap) -> Response {
    let s = lock(&s);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(&g) = token.and_then(|t| s.access.get(t)) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
    };
    if s.grants[g].revoked {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    let a = &s.grants[g].account;
    axum::Json(json!({
        "sub": a.sub, "email": a.email, "email_verified": a.email_verified, "name": a.name,
    }))
    .into_response()
}
