//! The providers: which endpoints and scopes each type uses, how its user info maps to an
//! account, and the calls to it (code exchange, ID-token check, user info, refresh).
//!
//! PKCE, the token requests and ID-token validation (signature through the provider's JWKS,
//! issuer, audience, expiry) are the `oauth2` and `openidconnect` crates'. What is written
//! here is the catalogue and the mapping of each provider's user endpoint.
//!
//! Two kinds:
//! - discovered OpenID Connect providers (Google, LinkedIn, Apple, a generic `oidc`
//!   provider by issuer URL, and Stack's mock provider in e2e mode): metadata and keys
//!   come from the issuer's discovery document, cached per issuer, and the ID token of
//!   every code exchange is verified;
//! - plain OAuth 2 providers (GitHub, Microsoft, Spotify, Facebook, Discord, GitLab,
//!   Bitbucket, X, Twitch): fixed endpoints, and the identity comes from the provider's
//!   user endpoint called with the access token the token endpoint returned to us.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use openidconnect::core::{CoreClient, CoreProviderMetadata};
use openidconnect::{IssuerUrl, Nonce};
use serde_json::Value;

use crate::error::{Error, Refusal, Result};
use crate::postern::Postern;
use crate::projects::Project;

/// Every provider type a project may configure (`auth.oauth.providers.<id>.type`): Stack's
/// twelve, and `oidc`, a Postern extension for any OpenID Connect provider by issuer URL.
pub const PROVIDER_TYPES: &[&str] = &[
    "google",
    "github",
    "microsoft",
    "spotify",
    "facebook",
    "discord",
    "gitlab",
    "bitbucket",
    "linkedin",
    "apple",
    "x",
    "twitch",
    "oidc",
];

/// The client secret of Stack's mock provider (the same for every client).
const MOCK_SECRET: &str = "MOCK-SERVER-SECRET";

/// How long a discovery document (with its keys) is used before it is fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(600);

/// The largest user-endpoint answer read from a provider.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Timeout of each call to a provider.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Deployment-wide OAuth settings: the shared keys, the mock switch, and the HTTP clients.
#[derive(Default)]
pub(crate) struct OAuthSettings {
    /// Shared credentials per provider type (`isShared: true` providers use these).
    pub(crate) shared: HashMap<String, (String, String)>,
    /// Stack's e2e mode: shared providers are Stack's mock provider at this issuer.
    pub(crate) mock_issuer: Option<String>,
    /// Generic `oidc` issuers may resolve to private and loopback addresses.
    pub(crate) private_issuers: bool,
    /// Connected-account tokens of shared-key providers are handed out.
    pub(crate) shared_access_tokens: bool,
    /// Discovery documents per issuer URL.
    discovery: Mutex<HashMap<String, (Instant, Arc<CoreProviderMetadata>)>>,
    /// The clients, built on first use: (public addresses only, any address).
    clients: std::sync::OnceLock<(reqwest::Client, reqwest::Client)>,
}

impl OAuthSettings {
    fn client(&self, private: bool) -> Result<reqwest::Client> {
        if self.clients.get().is_none() {
            let build = |resolver: Option<Arc<crate::net::PublicOnly>>| {
                let mut b = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(CALL_TIMEOUT)
                    .user_agent("postern");
                if let Some(r) = resolver {
                    b = b.dns_resolver(r);
                }
                b.build()
            };
            let public = build(Some(Arc::new(crate::net::PublicOnly)))
                .map_err(|e| Error::Internal(format!("OAuth HTTP client: {e}")))?;
            let any =
                build(None).map_err(|e| Error::Internal(format!("OAuth HTTP client: {e}")))?;
            let _ = self.clients.set((public, any));
        }
        let (public, any) = self.clients.get().expect("set above");
        Ok(if private { any.clone() } else { public.clone() })
    }
}

/// A provider as the project configures it (`auth.oauth.providers.<config id>`).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Configured {
    /// The config id (the key under `auth.oauth.providers`).
    pub config_id: String,
    /// The provider type.
    pub kind: String,
    /// Uses the deployment's shared keys.
    pub is_shared: bool,
    client_id: Option<String>,
    client_secret: Option<String>,
    facebook_config_id: Option<String>,
    microsoft_tenant_id: Option<String>,
    issuer_url: Option<String>,
    /// `allowSignIn` (only native Apple sign-in reads it, as Stack).
    pub allow_sign_in: bool,
    /// Apple bundle ids (`appleBundles.<id>.bundleId`): the audiences of native sign-in.
    pub apple_bundle_ids: Vec<String>,
}

impl std::fmt::Debug for Configured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Configured")
            .field("config_id", &self.config_id)
            .field("kind", &self.kind)
            .field("is_shared", &self.is_shared)
            .finish_non_exhaustive()
    }
}

/// The provider `config_id` of the project, with its client secret opened; `None` when the
/// project has no such provider (or it has no type).
pub(crate) fn configured(p: &Postern, project: &Project, config_id: &str) -> Option<Configured> {
    let config = project.config.to_json();
    let entry = config
        .get("auth")?
        .get("oauth")?
        .get("providers")?
        .get(config_id)?;
    let kind = entry.get("type")?.as_str()?.to_owned();
    if !PROVIDER_TYPES.contains(&kind.as_str()) {
        return None;
    }
    let text = |k: &str| {
        entry
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Some(Configured {
        config_id: config_id.to_owned(),
        is_shared: entry.get("isShared").and_then(Value::as_bool) != Some(false) && kind != "oidc",
        client_id: text("clientId"),
        client_secret: p.projects().config_secret(
            project,
            &format!("auth.oauth.providers.{config_id}.clientSecret"),
        ),
        facebook_config_id: text("facebookConfigId"),
        microsoft_tenant_id: text("microsoftTenantId"),
        issuer_url: text("issuerUrl"),
        allow_sign_in: entry.get("allowSignIn").and_then(Value::as_bool) == Some(true),
        apple_bundle_ids: entry
            .get("appleBundles")
            .and_then(Value::as_object)
            .map(|m| {
                m.values()
                    .filter_map(|b| b.get("bundleId").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        kind,
    })
}

/// Where a provider's identity comes from after the code exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    /// The OpenID Connect userinfo endpoint (`sub`, `email`, `email_verified`, `name`,
    /// `picture`), falling back to the ID token's claims.
    Standard,
    /// The ID token's claims only (Apple).
    IdToken,
    /// Stack's mock: the account id and the address are both the `sub`, verified.
    Mock,
    GitHub,
    Microsoft,
    Spotify,
    Facebook,
    Discord,
    GitLab,
    Bitbucket,
    X,
    Twitch,
}

/// How a provider's endpoints are found.
#[derive(Clone)]
enum Endpoints {
    /// From the issuer's discovery document.
    Discovered(Arc<CoreProviderMetadata>),
    /// Fixed.
    Fixed { authorize: String, token: String },
}

/// A provider ready to be called for one project.
#[derive(Clone)]
pub(crate) struct Provider {
    /// The provider type.
    pub kind: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    /// The scopes every sign-in asks for.
    pub base_scope: &'static str,
    endpoints: Endpoints,
    profile: Profile,
    /// Client authentication in the request body instead of HTTP Basic.
    post_auth: bool,
    pkce: bool,
    extra: Vec<(&'static str, String)>,
    private: bool,
}

/// What a code exchange or refresh returned.
#[derive(Clone)]
pub(crate) struct Grant {
    /// The provider access token.
    pub access_token: String,
    /// The provider refresh token, when one came.
    pub refresh_token: Option<String>,
    /// When the access token expires, epoch milliseconds.
    pub expires_at_millis: i64,
}

/// Who the provider says the user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The account id at the provider.
    pub account_id: String,
    /// Its address (only a syntactically valid one is kept).
    pub email: Option<String>,
    /// The provider vouches for the address.
    pub email_verified: bool,
    /// Display name.
    pub display_name: Option<String>,
    /// Avatar URL.
    pub profile_image_url: Option<String>,
}

fn not_configured(kind: &str, what: &str) -> Error {
    tracing::warn!(target: "postern::oauth", provider = kind, "{what}");
    Error::OauthProviderNotFoundOrNotEnabled
}

impl Provider {
    /// Builds the provider `c` for calls: its credentials (the project's own, the shared
    /// keys, or the mock provider's) and endpoints (discovered when it is OpenID Connect).
    pub(crate) async fn resolve(p: &Postern, c: &Configured) -> Result<Provider> {
        let settings = &p.inner.oauth;
        // Stack registers `/callback/<type>`; Postern uses the config id, which is the type
        // for every provider configured Stack's way, and keeps two providers of one type
        // (two `oidc` issuers) apart.
        let redirect_uri = format!(
            "{}/api/v1/auth/oauth/callback/{}",
            p.inner.public_url, c.config_id
        );
        if c.is_shared
            && let Some(mock) = &settings.mock_issuer
        {
            let meta = discover(p, mock, true).await?;
            return Ok(Provider {
                kind: c.kind.clone(),
                client_id: c.kind.clone(),
                client_secret: MOCK_SECRET.into(),
                redirect_uri,
                base_scope: "openid offline_access",
                endpoints: Endpoints::Discovered(meta),
                profile: Profile::Mock,
                post_auth: false,
                pkce: true,
                extra: Vec::new(),
                private: true,
            });
        }
        let (client_id, client_secret) =
            if c.is_shared {
                settings.shared.get(&c.kind).cloned().ok_or_else(|| {
                    not_configured(&c.kind, "no shared OAuth keys for this provider")
                })?
            } else {
                match (&c.client_id, &c.client_secret) {
                    (Some(id), Some(secret)) => (id.clone(), secret.clone()),
                    _ => return Err(not_configured(&c.kind, "client id or secret missing")),
                }
            };
        let fixed = |authorize: &str, token: &str| Endpoints::Fixed {
            authorize: authorize.to_owned(),
            token: token.to_owned(),
        };
        let mut extra = Vec::new();
        let mut post_auth = false;
        let mut pkce = true;
        let mut private = false;
        let (base_scope, endpoints, profile) = match c.kind.as_str() {
            "google" => {
                extra.push(("include_granted_scopes", "true".to_owned()));
                (
                    "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
                    Endpoints::Discovered(discover(p, "https://accounts.google.com", false).await?),
                    Profile::Standard,
                )
            }
            "linkedin" => {
                post_auth = true;
                pkce = false;
                (
                    "openid profile email",
                    Endpoints::Discovered(
                        discover(p, "https://www.linkedin.com/oauth", false).await?,
                    ),
                    Profile::Standard,
                )
            }
            "apple" => {
                post_auth = true;
                extra.push(("response_mode", "form_post".to_owned()));
                (
                    "name email",
                    Endpoints::Discovered(discover(p, "https://appleid.apple.com", false).await?),
                    Profile::IdToken,
                )
            }
            "oidc" => {
                let issuer = c
                    .issuer_url
                    .clone()
                    .ok_or_else(|| not_configured(&c.kind, "issuerUrl missing"))?;
                private = settings.private_issuers;
                (
                    "openid email profile",
                    Endpoints::Discovered(discover(p, &issuer, private).await?),
                    Profile::Standard,
                )
            }
            "github" => (
                "user:email",
                fixed(
                    "https://github.com/login/oauth/authorize",
                    "https://github.com/login/oauth/access_token",
                ),
                Profile::GitHub,
            ),
            "microsoft" => {
                let tenant = c
                    .microsoft_tenant_id
                    .as_deref()
                    .filter(|_| !c.is_shared)
                    .unwrap_or("consumers");
                let tenant: String =
                    url::form_urlencoded::byte_serialize(tenant.as_bytes()).collect();
                (
                    "User.Read openid",
                    fixed(
                        &format!(
                            "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize"
                        ),
                        &format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
                    ),
                    Profile::Microsoft,
                )
            }
            "spotify" => (
                "user-read-email user-read-private",
                fixed(
                    "https://accounts.spotify.com/authorize",
                    "https://accounts.spotify.com/api/token",
                ),
                Profile::Spotify,
            ),
            "facebook" => {
                if let Some(id) = c.facebook_config_id.clone().filter(|_| !c.is_shared) {
                    extra.push(("config_id", id));
                }
                (
                    "openid public_profile email",
                    fixed(
                        "https://facebook.com/v20.0/dialog/oauth/",
                        "https://graph.facebook.com/v20.0/oauth/access_token",
                    ),
                    Profile::Facebook,
                )
            }
            "discord" => (
                "identify email",
                fixed(
                    "https://discord.com/oauth2/authorize",
                    "https://discord.com/api/oauth2/token",
                ),
                Profile::Discord,
            ),
            "gitlab" => (
                "read_user",
                fixed(
                    "https://gitlab.com/oauth/authorize",
                    "https://gitlab.com/oauth/token",
                ),
                Profile::GitLab,
            ),
            "bitbucket" => (
                "account email",
                fixed(
                    "https://bitbucket.org/site/oauth2/authorize",
                    "https://bitbucket.org/site/oauth2/access_token",
                ),
                Profile::Bitbucket,
            ),
            "x" => (
                "users.read offline.access tweet.read",
                fixed(
                    "https://twitter.com/i/oauth2/authorize",
                    "https://api.x.com/2/oauth2/token",
                ),
                Profile::X,
            ),
            "twitch" => {
                post_auth = true;
                (
                    "user:read:email",
                    fixed(
                        "https://id.twitch.tv/oauth2/authorize",
                        "https://id.twitch.tv/oauth2/token",
                    ),
                    Profile::Twitch,
                )
            }
            other => return Err(not_configured(other, "unknown provider type")),
        };
        Ok(Provider {
            kind: c.kind.clone(),
            client_id,
            client_secret,
            redirect_uri,
            base_scope,
            endpoints,
            profile,
            post_auth,
            pkce,
            extra,
            private,
        })
    }

    /// The provider's authorization URL for one sign-in, parameters in Stack's order:
    /// `client_id, scope, response_type, redirect_uri, code_challenge_method,
    /// code_challenge, state, access_type, prompt`, then the provider's own.
    pub(crate) fn authorization_url(&self, scope: &str, state: &str, challenge: &str) -> String {
        let base = match &self.endpoints {
            Endpoints::Discovered(m) => m.authorization_endpoint().url().to_string(),
            Endpoints::Fixed { authorize, .. } => authorize.clone(),
        };
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("client_id", &self.client_id)
            .append_pair("scope", scope)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &self.redirect_uri);
        if self.pkce {
            q.append_pair("code_challenge_method", "S256")
                .append_pair("code_challenge", challenge);
        }
        q.append_pair("state", state)
            .append_pair("access_type", "offline")
            .append_pair("prompt", "consent");
        for (k, v) in &self.extra {
            q.append_pair(k, v);
        }
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}{}", q.finish())
    }

    /// The issuer an authorization response's `iss` must name (RFC 9207), when known.
    pub(crate) fn issuer(&self) -> Option<String> {
        match &self.endpoints {
            Endpoints::Discovered(m) => Some(m.issuer().url().to_string()),
            Endpoints::Fixed { .. } if self.kind == "github" => {
                Some("https://github.com/login/oauth".into())
            }
            Endpoints::Fixed { .. } => None,
        }
    }

    /// Whether an `iss` the provider sent names it (trailing slashes aside).
    pub(crate) fn issuer_matches(&self, iss: &str) -> bool {
        let trim = |s: &str| s.trim_end_matches('/').to_owned();
        match self.issuer() {
            Some(expected) => {
                trim(&expected) == trim(iss)
                    || (self.kind == "github" && trim(iss) == "https://github.com")
            }
            None => true,
        }
    }

    /// Exchanges the provider's authorization code (with the PKCE verifier) and finds out
    /// who signed in: the ID token is verified for OpenID Connect providers.
    pub(crate) async fn exchange(
        &self,
        p: &Postern,
        code: &str,
        verifier: &str,
    ) -> Result<(Grant, Identity)> {
        let http = p.inner.oauth.client(self.private)?;
        let now = p.inner.clock.now_millis();
        let redirect = RedirectUrl::new(self.redirect_uri.clone())
            .map_err(|e| Error::Internal(format!("OAuth redirect URI: {e}")))?;
        let auth_type = if self.post_auth {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        };
        match &self.endpoints {
            Endpoints::Discovered(meta) => {
                let client = CoreClient::from_provider_metadata(
                    (**meta).clone(),
                    ClientId::new(self.client_id.clone()),
                    Some(ClientSecret::new(self.client_secret.clone())),
                )
                .set_redirect_uri(redirect)
                .set_auth_type(auth_type);
                let mut req = client
                    .exchange_code(AuthorizationCode::new(code.to_owned()))
                    .map_err(|e| not_configured(&self.kind, &format!("token endpoint: {e}")))?;
                if self.pkce {
                    req = req.set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()));
                }
                let token = req
                    .request_async(&http)
                    .await
                    .map_err(|e| exchange_error(&self.kind, e))?;
                let grant = grant_of(&token, now, None);
                let claims = match token.extra_fields().id_token() {
                    Some(id_token) => {
                        // No nonce is sent (Stack's authorization URL has none; PKCE binds
                        // the code to this sign-in), so none is expected back.
                        let verifier = client.id_token_verifier();
                        let claims = id_token
                            .claims(&verifier, |_: Option<&Nonce>| Ok(()))
                            .map_err(|e| {
                                tracing::warn!(target: "postern::oauth", provider = %self.kind, error = %e, "ID token refused");
                                Error::Refused(Refusal::OauthInvalidGrant)
                            })?;
                        Some(serde_json::to_value(claims).unwrap_or(Value::Null))
                    }
                    None if self.profile == Profile::Mock => None,
                    None if matches!(self.profile, Profile::IdToken) => {
                        return Err(Error::Refused(Refusal::OauthInvalidGrant));
                    }
                    None => None,
                };
                let userinfo_url = meta.userinfo_endpoint().map(|u| u.url().to_string());
                let identity = match self.profile {
                    Profile::IdToken => identity_from_claims(claims.as_ref())?,
                    Profile::Mock => {
                        let url = userinfo_url.ok_or(Error::OauthProviderTemporarilyUnavailable)?;
                        let info = get_json(&http, &url, &grant.access_token, &[]).await?;
                        let sub = nonempty(&info["sub"])
                            .ok_or(Error::OauthProviderTemporarilyUnavailable)?;
                        Identity {
                            email: valid_email(Some(sub.clone())),
                            account_id: sub,
                            email_verified: true,
                            display_name: nonempty(&info["name"]),
                            profile_image_url: nonempty(&info["picture"]),
                        }
                    }
                    _ => {
                        let info = match userinfo_url {
                            Some(url) => {
                                Some(get_json(&http, &url, &grant.access_token, &[]).await?)
                            }
                            None => None,
                        };
                        let from_claims = identity_from_claims(claims.as_ref()).ok();
                        match (info, from_claims) {
                            (Some(info), claims) => {
                                let id = identity_from_claims(Some(&info))?;
                                // The userinfo must be about the ID token's subject.
                                if let Some(c) = claims
                                    && c.account_id != id.account_id
                                {
                                    return Err(Error::Refused(Refusal::OauthInvalidGrant));
                                }
                                id
                            }
                            (None, Some(c)) => c,
                            (None, None) => return Err(Error::OauthProviderTemporarilyUnavailable),
                        }
                    }
                };
                Ok((grant, identity))
            }
            Endpoints::Fixed { authorize, token } => {
                let client = oauth2::basic::BasicClient::new(ClientId::new(self.client_id.clone()))
                    .set_client_secret(ClientSecret::new(self.client_secret.clone()))
                    .set_auth_uri(
                        AuthUrl::new(authorize.clone())
                            .map_err(|e| Error::Internal(format!("OAuth URL: {e}")))?,
                    )
                    .set_token_uri(
                        TokenUrl::new(token.clone())
                            .map_err(|e| Error::Internal(format!("OAuth URL: {e}")))?,
                    )
                    .set_redirect_uri(redirect)
                    .set_auth_type(auth_type);
                let mut req = client.exchange_code(AuthorizationCode::new(code.to_owned()));
                if self.pkce {
                    req = req.set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()));
                }
                let token = req
                    .request_async(&http)
                    .await
                    .map_err(|e| exchange_error(&self.kind, e))?;
                let default_life = (self.kind == "github").then_some(8 * 3600 * 1000);
                let grant = grant_of(&token, now, default_life);
                let identity = self.fetch_identity(&http, &grant.access_token).await?;
                Ok((grant, identity))
            }
        }
    }

    /// A new access token from a provider refresh token, asking for `scope`. `None` when
    /// the provider refuses the refresh token (any error answer: it will not work again);
    /// `OAUTH_PROVIDER_TEMPORARILY_UNAVAILABLE` when the provider could not be reached.
    pub(crate) async fn refresh(
        &self,
        p: &Postern,
        refresh_token: &str,
        scope: &str,
    ) -> Result<Option<Grant>> {
        let http = p.inner.oauth.client(self.private)?;
        let now = p.inner.clock.now_millis();
        let auth_type = if self.post_auth {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        };
        let token_url = match &self.endpoints {
            Endpoints::Discovered(m) => m
                .token_endpoint()
                .map(|u| u.url().to_string())
                .ok_or(Error::OauthProviderTemporarilyUnavailable)?,
            Endpoints::Fixed { token, .. } => token.clone(),
        };
        let client = oauth2::basic::BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.clone()))
            .set_token_uri(
                TokenUrl::new(token_url).map_err(|e| Error::Internal(format!("OAuth URL: {e}")))?,
            )
            .set_auth_type(auth_type);
        match client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.to_owned()))
            .add_scopes(scope.split_whitespace().map(|s| Scope::new(s.to_owned())))
            .request_async(&http)
            .await
        {
            Ok(token) => Ok(Some(grant_of(&token, now, None))),
            Err(RequestTokenError::ServerResponse(_)) => Ok(None),
            Err(e) => {
                tracing::warn!(target: "postern::oauth", provider = %self.kind, error = %e, "refresh failed");
                Err(Error::OauthProviderTemporarilyUnavailable)
            }
        }
    }

    /// Whether a provider access token still works (a call to the provider's user
    /// endpoint answers).
    pub(crate) async fn token_works(&self, p: &Postern, access_token: &str) -> Result<bool> {
        let http = p.inner.oauth.client(self.private)?;
        let url = match (&self.endpoints, self.profile) {
            (Endpoints::Discovered(m), _) => match m.userinfo_endpoint() {
                Some(u) => u.url().to_string(),
                None => return Ok(true),
            },
            (_, Profile::GitHub) => "https://api.github.com/user".into(),
            (_, Profile::Microsoft) => "https://graph.microsoft.com/v1.0/me".into(),
            (_, Profile::Spotify) => "https://api.spotify.com/v1/me".into(),
            (_, Profile::Facebook) => "https://graph.facebook.com/v3.2/me".into(),
            (_, Profile::Discord) => "https://discord.com/api/users/@me".into(),
            (_, Profile::GitLab) => "https://gitlab.com/api/v4/user".into(),
            (_, Profile::Bitbucket) => "https://api.bitbucket.org/2.0/user".into(),
            (_, Profile::X) => "https://api.x.com/2/users/me".into(),
            (_, Profile::Twitch) => "https://api.twitch.tv/helix/users".into(),
            _ => return Ok(true),
        };
        let extra = self.user_headers();
        match get_json(&http, &url, access_token, &extra).await {
            Ok(v) if self.profile == Profile::Mock => Ok(v.get("sub").is_some()),
            Ok(v) if self.profile == Profile::Twitch => Ok(v["data"].get(0).is_some()),
            Ok(_) => Ok(true),
            Err(Error::OauthProviderTemporarilyUnavailable) => {
                Err(Error::OauthProviderTemporarilyUnavailable)
            }
            Err(_) => Ok(false),
        }
    }

    fn user_headers(&self) -> Vec<(&'static str, String)> {
        match self.profile {
            Profile::GitHub => vec![("x-github-api-version", "2022-11-28".into())],
            Profile::Twitch => vec![("client-id", self.client_id.clone())],
            _ => Vec::new(),
        }
    }

    async fn fetch_identity(&self, http: &reqwest::Client, token: &str) -> Result<Identity> {
        let headers = self.user_headers();
        let get = |url: &'static str| get_json(http, url, token, &headers);
        let id_of = |v: &Value| match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let missing = || Error::OauthProviderTemporarilyUnavailable;
        Ok(match self.profile {
            Profile::GitHub => {
                let user = get("https://api.github.com/user").await?;
                let emails = match get("https://api.github.com/user/emails").await {
                    Err(Error::Refused(Refusal::OauthInvalidGrant)) => {
                        return Err(Error::Refused(Refusal::GithubEmailsForbidden));
                    }
                    other => other?,
                };
                let primary = emails
                    .as_array()
                    .and_then(|a| a.iter().find(|e| e["primary"] == Value::Bool(true)));
                Identity {
                    account_id: id_of(&user["id"]).ok_or_else(missing)?,
                    email: valid_email(primary.and_then(|e| nonempty(&e["email"]))),
                    email_verified: primary.is_some_and(|e| e["verified"] == Value::Bool(true)),
                    display_name: nonempty(&user["name"]),
                    profile_image_url: nonempty(&user["avatar_url"]),
                }
            }
            Profile::Microsoft => {
                let me = get("https://graph.microsoft.com/v1.0/me").await?;
                Identity {
                    account_id: id_of(&me["id"]).ok_or_else(missing)?,
                    email: valid_email(
                        nonempty(&me["mail"]).or_else(|| nonempty(&me["userPrincipalName"])),
                    ),
                    email_verified: false,
                    display_name: nonempty(&me["displayName"]),
                    profile_image_url: None,
                }
            }
            Profile::Spotify => {
                let me = get("https://api.spotify.com/v1/me").await?;
                Identity {
                    account_id: id_of(&me["id"]).ok_or_else(missing)?,
                    email: valid_email(nonempty(&me["email"])),
                    email_verified: false,
                    display_name: nonempty(&me["display_name"]),
                    profile_image_url: nonempty(&me["images"][0]["url"]),
                }
            }
            Profile::Facebook => {
                let me = get("https://graph.facebook.com/v3.2/me?fields=id,name,email").await?;
                let email = valid_email(nonempty(&me["email"]))
                    .ok_or(Error::Refused(Refusal::FacebookNoEmail))?;
                Identity {
                    account_id: id_of(&me["id"]).ok_or_else(missing)?,
                    email: Some(email),
                    email_verified: false,
                    display_name: nonempty(&me["name"]),
                    profile_image_url: None,
                }
            }
            Profile::Discord => {
                let me = get("https://discord.com/api/users/@me").await?;
                let id = id_of(&me["id"]).ok_or_else(missing)?;
                let avatar = nonempty(&me["avatar"]).map(|hash| {
                    let ext = if hash.starts_with("a_") { "gif" } else { "png" };
                    format!("https://cdn.discordapp.com/avatars/{id}/{hash}.{ext}")
                });
                Identity {
                    email: valid_email(nonempty(&me["email"])),
                    email_verified: me["verified"] == Value::Bool(true),
                    display_name: nonempty(&me["global_name"])
                        .or_else(|| nonempty(&me["username"])),
                    profile_image_url: avatar,
                    account_id: id,
                }
            }
            Profile::GitLab => {
                let me = get("https://gitlab.com/api/v4/user").await?;
                let email = valid_email(nonempty(&me["email"]));
                let emails = get("https://gitlab.com/api/v4/user/emails")
                    .await
                    .unwrap_or(Value::Null);
                let verified = email.as_ref().is_some_and(|e| {
                    emails.as_array().is_some_and(|a| {
                        a.iter().any(|x| {
                            x["email"].as_str() == Some(e.as_str()) && !x["confirmed_at"].is_null()
                        })
                    })
                });
                Identity {
                    account_id: id_of(&me["id"]).ok_or_else(missing)?,
                    email,
                    email_verified: verified,
                    display_name: nonempty(&me["name"]),
                    profile_image_url: nonempty(&me["avatar_url"]),
                }
            }
            Profile::Bitbucket => {
                let me = get("https://api.bitbucket.org/2.0/user").await?;
                let emails = get("https://api.bitbucket.org/2.0/user/emails")
                    .await
                    .unwrap_or(Value::Null);
                let first = &emails["values"][0];
                Identity {
                    account_id: id_of(&me["account_id"]).ok_or_else(missing)?,
                    email: valid_email(nonempty(&first["email"])),
                    email_verified: first["is_confirmed"] == Value::Bool(true),
                    display_name: nonempty(&me["display_name"]),
                    profile_image_url: nonempty(&me["links"]["avatar"]["href"]),
                }
            }
            Profile::X => {
                let me = get("https://api.x.com/2/users/me?user.fields=id,name,profile_image_url")
                    .await?;
                let d = &me["data"];
                Identity {
                    account_id: id_of(&d["id"]).ok_or_else(missing)?,
                    email: None,
                    email_verified: false,
                    display_name: nonempty(&d["name"]).or_else(|| nonempty(&d["username"])),
                    profile_image_url: nonempty(&d["profile_image_url"]),
                }
            }
            Profile::Twitch => {
                let me = get("https://api.twitch.tv/helix/users").await?;
                let d = &me["data"][0];
                Identity {
                    account_id: id_of(&d["id"]).ok_or_else(missing)?,
                    email: valid_email(nonempty(&d["email"])),
                    email_verified: true,
                    display_name: nonempty(&d["display_name"]),
                    profile_image_url: nonempty(&d["profile_image_url"]),
                }
            }
            Profile::Standard | Profile::IdToken | Profile::Mock => return Err(missing()),
        })
    }
}

/// The identity in OpenID Connect claims (an ID token's or a userinfo answer).
fn identity_from_claims(claims: Option<&Value>) -> Result<Identity> {
    let c = claims.ok_or(Error::OauthProviderTemporarilyUnavailable)?;
    let verified = match &c["email_verified"] {
        Value::Bool(b) => *b,
        Value::String(s) => s == "true",
        _ => false,
    };
    Ok(Identity {
        account_id: nonempty(&c["sub"]).ok_or(Error::OauthProviderTemporarilyUnavailable)?,
        email: valid_email(nonempty(&c["email"])),
        email_verified: verified,
        display_name: nonempty(&c["name"]),
        profile_image_url: nonempty(&c["picture"]),
    })
}

fn nonempty(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Keeps an address only when it is one (a provider's malformed address counts as none).
fn valid_email(e: Option<String>) -> Option<String> {
    e.filter(|e| crate::email::is_valid_email_lenient(e))
}

fn grant_of<T: TokenResponse>(token: &T, now: i64, default_life: Option<i64>) -> Grant {
    let life = token
        .expires_in()
        .map(|d| d.as_millis() as i64)
        .or(default_life)
        .unwrap_or(3600 * 1000);
    Grant {
        access_token: token.access_token().secret().clone(),
        refresh_token: token.refresh_token().map(|t| t.secret().clone()),
        expires_at_millis: now.saturating_add(life),
    }
}

/// Maps a failed token request to Stack's answers.
fn exchange_error<RE, TE>(kind: &str, e: RequestTokenError<RE, TE>) -> Error
where
    RE: std::error::Error + 'static,
    TE: oauth2::ErrorResponse + 'static,
{
    match &e {
        RequestTokenError::ServerResponse(r) => {
            let code = serde_json::to_value(r)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
            match code.as_str() {
                "invalid_grant" => Error::Refused(Refusal::OauthInvalidGrant),
                "invalid_client" | "unauthorized_client" => {
                    Error::Refused(Refusal::OauthInvalidClient)
                }
                "access_denied" | "consent_required" => Error::OauthProviderAccessDenied,
                "invalid_scope" | "unauthorized_scope_error" => {
                    Error::Refused(Refusal::OauthScopeNotAllowed { scope: None })
                }
                _ => {
                    tracing::warn!(target: "postern::oauth", provider = kind, error = %code, "token request refused");
                    Error::OauthProviderTemporarilyUnavailable
                }
            }
        }
        other => {
            tracing::warn!(target: "postern::oauth", provider = kind, error = %other, "token request failed");
            Error::OauthProviderTemporarilyUnavailable
        }
    }
}

/// A GET with the bearer token; JSON back. 401/403 are "refused" (as an invalid grant),
/// anything else unexpected is the provider being unavailable.
async fn get_json(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    headers: &[(&'static str, String)],
) -> Result<Value> {
    let mut attempt = 0;
    loop {
        let mut req = http
            .get(url)
            .bearer_auth(token)
            .header("accept", "application/json");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let retry = match req.send().await {
            Ok(mut r) if r.status().is_success() => {
                // A provider's answer is small: read at most MAX_BODY_BYTES of it.
                let mut body = Vec::new();
                while let Some(chunk) = r
                    .chunk()
                    .await
                    .map_err(|_| Error::OauthProviderTemporarilyUnavailable)?
                {
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(Error::OauthProviderTemporarilyUnavailable);
                    }
                    body.extend_from_slice(&chunk);
                }
                return serde_json::from_slice(&body)
                    .map_err(|_| Error::OauthProviderTemporarilyUnavailable);
            }
            Ok(r) if matches!(r.status().as_u16(), 401 | 403) => {
                return Err(Error::Refused(Refusal::OauthInvalidGrant));
            }
            Ok(r) => r.status().is_server_error() || r.status().as_u16() == 429,
            Err(e) => e.is_timeout() || e.is_connect(),
        };
        attempt += 1;
        if !retry || attempt >= 3 {
            return Err(Error::OauthProviderTemporarilyUnavailable);
        }
        tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
    }
}

/// The discovery document of `issuer` (cached for [`DISCOVERY_TTL`]).
async fn discover(p: &Postern, issuer: &str, private: bool) -> Result<Arc<CoreProviderMetadata>> {
    let settings = &p.inner.oauth;
    if let Some((at, meta)) = settings
        .discovery
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(issuer)
        && at.elapsed() < DISCOVERY_TTL
    {
        return Ok(Arc::clone(meta));
    }
    let http = settings.client(private)?;
    let url = IssuerUrl::new(issuer.to_owned())
        .map_err(|_| not_configured(issuer, "invalid issuer URL"))?;
    // Names go through the public-only resolver; an address written in the URL does not,
    // so it is checked here.
    if !private
        && let Some(host) = url.url().host()
        && let Some(ip) = match host {
            url::Host::Ipv4(a) => Some(std::net::IpAddr::V4(a)),
            url::Host::Ipv6(a) => Some(std::net::IpAddr::V6(a)),
            url::Host::Domain(_) => None,
        }
        && !crate::net::is_public_address(ip)
    {
        return Err(not_configured(issuer, "issuer on a private address"));
    }
    let meta = CoreProviderMetadata::discover_async(url, &http)
        .await
        .map_err(|e| {
            tracing::warn!(target: "postern::oauth", issuer, error = %e, "OpenID Connect discovery failed");
            Error::OauthProviderTemporarilyUnavailable
        })?;
    let meta = Arc::new(meta);
    settings
        .discovery
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(issuer.to_owned(), (Instant::now(), Arc::clone(&meta)));
    Ok(meta)
}

/// The subject and address of an ID token Apple issued to a native app (`iss`
/// `https://appleid.apple.com`, `aud` one of `bundle_ids`, signed with a key of Apple's
/// JWKS, not expired); `None` when it does not verify.
pub(crate) async fn verify_apple_id_token(
    p: &Postern,
    id_token: &str,
    bundle_ids: &[String],
) -> Result<Option<Identity>> {
    use std::str::FromStr as _;
    let Ok(token) = openidconnect::core::CoreIdToken::from_str(id_token) else {
        return Ok(None);
    };
    let Some(first) = bundle_ids.first() else {
        return Ok(None);
    };
    let meta = discover(p, "https://appleid.apple.com", false).await?;
    let audiences = bundle_ids.to_vec();
    let verifier = openidconnect::core::CoreIdTokenVerifier::new_public_client(
        ClientId::new(first.clone()),
        meta.issuer().clone(),
        meta.jwks().clone(),
    )
    .set_other_audience_verifier_fn(move |aud| audiences.iter().any(|b| **aud == *b));
    let Ok(claims) = token.claims(&verifier, |_: Option<&Nonce>| Ok(())) else {
        return Ok(None);
    };
    let claims = serde_json::to_value(claims).unwrap_or(Value::Null);
    Ok(identity_from_claims(Some(&claims)).ok())
}
