//! The [`Postern`] handle: one per process, cheap to clone, shared by the REST layer,
//! the adapters' extractors and app code.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::clock::Clock;
use crate::email::Mailer;
use crate::passwords::{PasswordHasher, PasswordParams};
use crate::storage::Store;
use crate::tokens::KeyRing;

/// Postern: auth for one or more projects over one [`Store`].
///
/// ```
/// # async fn demo(store: std::sync::Arc<dyn postern_core::storage::Store>) -> Result<(), Box<dyn std::error::Error>> {
/// use postern_core::Postern;
/// let postern = Postern::builder(store)
///     .secret("a long random server secret, kept out of the database")
///     .public_url("https://auth.example.com")
///     .build()?;
/// let project = postern.projects().get("my-project").await?;
/// # let _ = project; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Postern {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: KeyRing,
    pub(crate) hasher: PasswordHasher,
    pub(crate) clock: Clock,
    pub(crate) public_url: String,
    /// Base of the public URLs of stored files.
    pub(crate) storage_url: String,
    pub(crate) access_token_lifetime_secs: i64,
    /// HMAC peppers for API keys: the current secret's first, then previous secrets'.
    pub(crate) api_key_peppers: Vec<[u8; 32]>,
    /// Outbox sealing keys: the current secret's first, then previous secrets'.
    pub(crate) outbox_keys: Vec<[u8; 32]>,
    /// Data-vault keys: the current secret's first, then previous secrets'.
    pub(crate) vault_keys: Vec<[u8; 32]>,
    /// TOTP secret sealing keys: the current secret's first, then previous secrets'.
    pub(crate) totp_keys: Vec<[u8; 32]>,
    /// Delivers email; `None` writes messages to the log.
    pub(crate) mailer: Option<Arc<dyn Mailer>>,
    /// Permission closures per project.
    pub(crate) closures: crate::rbac::ClosureCache,
    /// Compiled sign-up rules per project.
    pub(crate) sign_up_rules: crate::sign_up_rules::RulesCache,
    /// Wakes the outbox worker after a commit that enqueued messages.
    pub(crate) outbox_wake: Arc<tokio::sync::Notify>,
    /// Keys the hashes of addresses in throttling counters.
    pub(crate) throttle_key: [u8; 32],
    /// Per-IP token buckets.
    pub(crate) ip_limiter: crate::ip_limits::IpLimiter,
    /// Peers whose `X-Forwarded-For` is believed.
    pub(crate) trusted_proxies: Vec<crate::net::IpNetwork>,
    /// Clients no per-IP bucket applies to.
    pub(crate) ip_limit_exempt: Vec<crate::net::IpNetwork>,
    /// `*.localhost` names count as loopback in callback URLs.
    pub(crate) localhost_subdomains: bool,
    /// Mail bodies (with their codes) are written to the log.
    pub(crate) log_email_bodies: bool,
    /// Recovery-code HMAC keys: the current secret's first, then previous secrets'.
    pub(crate) recovery_keys: Vec<[u8; 32]>,
    /// Sealing keys of third-party secrets in project config: current first.
    pub(crate) config_keys: Vec<[u8; 32]>,
    /// Wakes the webhook worker after a commit that owed deliveries.
    pub(crate) webhook_wake: Arc<tokio::sync::Notify>,
    /// The webhook HTTP clients, built on first use.
    pub(crate) webhook_clients: std::sync::OnceLock<crate::webhooks::Clients>,
    /// Webhook portal token keys: current first.
    pub(crate) portal_keys: Vec<[u8; 32]>,
    /// Every passkey ceremony uses the challenge `MOCK` (Stack's e2e mode; tests only).
    pub(crate) fixed_passkey_challenge: bool,
    /// OAuth: shared keys, the mock switch, discovery cache and HTTP clients.
    pub(crate) oauth: crate::oauth::OAuthSettings,
    /// OAuth sealing keys (provider tokens, flow secrets): current first.
    pub(crate) oauth_keys: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Postern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postern")
            .field("public_url", &self.inner.public_url)
            .finish_non_exhaustive()
    }
}

/// A setting that cannot work; reported by [`PosternBuilder::build`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No server secret was given.
    #[error("a server secret is required (it derives the token signing keys)")]
    MissingSecret,
    /// The server secret is too short to be a secret.
    #[error("the server secret must be at least 16 characters long")]
    WeakSecret,
    /// The public URL is not an absolute http(s) URL.
    #[error("the public URL must be an absolute http(s) URL: {0}")]
    InvalidPublicUrl(String),
    /// The password parameters are rejected by argon2.
    #[error("invalid password hashing parameters: {0}")]
    Password(String),
}

/// Builds a [`Postern`]; see [`Postern::builder`].
#[must_use]
pub struct PosternBuilder {
    store: Arc<dyn Store>,
    secret: Option<SecretString>,
    previous: Vec<SecretString>,
    public_url: String,
    password: PasswordParams,
    max_hashes: usize,
    lifetime: Duration,
    clock: Clock,
    mailer: Option<Arc<dyn Mailer>>,
    outbox_worker: bool,
    storage_url: Option<String>,
    trusted_proxies: Vec<crate::net::IpNetwork>,
    ip_limit_exempt: Vec<crate::net::IpNetwork>,
    localhost_subdomains: bool,
    log_email_bodies: bool,
    fixed_passkey_challenge: bool,
    oauth: crate::oauth::OAuthSettings,
}

impl Postern {
    /// Starts building a Postern over `store` (already migrated).
    pub fn builder(store: Arc<dyn Store>) -> PosternBuilder {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        PosternBuilder {
            store,
            secret: None,
            previous: Vec::new(),
            public_url: "http://localhost:8102".into(),
            password: PasswordParams::default(),
            max_hashes: cores * 2,
            lifetime: Duration::from_secs(600),
            clock: Clock::system(),
            mailer: None,
            outbox_worker: true,
            storage_url: None,
            trusted_proxies: Vec::new(),
            ip_limit_exempt: Vec::new(),
            localhost_subdomains: false,
            log_email_bodies: false,
            fixed_passkey_challenge: false,
            oauth: Default::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The clock Postern reads time from.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The public base URL used in token issuers.
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// Wakes the outbox worker: call after committing a transaction that enqueued mail.
    pub fn wake_outbox(&self) {
        self.inner.outbox_wake.notify_one();
    }

    /// Runs one outbox delivery pass now (the background worker does this on its own;
    /// useful without a runtime worker, or from a scheduled job). Returns how many
    /// messages were delivered or logged.
    pub async fn deliver_outbox(&self) -> crate::Result<usize> {
        crate::email::deliver_due(self).await
    }
}

impl PosternBuilder {
    /// The server secret that derives the token signing keys. Required.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(SecretString::from(secret.into()));
        self
    }

    /// A previous server secret: tokens it signed still verify and its keys stay in the
    /// JWKS, so rotating the secret logs nobody out.
    pub fn previous_secret(mut self, secret: impl Into<String>) -> Self {
        self.previous.push(SecretString::from(secret.into()));
        self
    }

    /// The public base URL of the server (token issuers are `<url>/api/v1/projects/<id>`).
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = url.into();
        self
    }

    /// argon2id parameters (default: OWASP's m=19 MiB, t=2, p=1).
    pub fn password_params(mut self, params: PasswordParams) -> Self {
        self.password = params;
        self
    }

    /// How many password hashes may run at once (default: twice the cores).
    pub fn max_concurrent_password_hashes(mut self, n: usize) -> Self {
        self.max_hashes = n;
        self
    }

    /// Access token lifetime (default 10 minutes, as Stack).
    pub fn access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The clock (tests move it to check expiry).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The transport for email (verification, password reset, ...). Without one, messages
    /// are written to the log and kept in the outbox.
    pub fn mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// The base of the public URLs of stored images (default `<public URL>/api/v1/storage`,
    /// served by the API itself); point it at a CDN or proxy in front of that route.
    pub fn storage_url(mut self, url: impl Into<String>) -> Self {
        self.storage_url = Some(url.into());
        self
    }

    /// Whether [`PosternBuilder::build`] starts the outbox delivery worker on the current
    /// tokio runtime (default true; without a runtime no worker starts, and
    /// [`Postern::deliver_outbox`] delivers on demand).
    pub fn outbox_worker(mut self, start: bool) -> Self {
        self.outbox_worker = start;
        self
    }

    /// Reverse proxies whose `X-Forwarded-For` header names the client (default none: the
    /// peer address is the client). Without this behind a proxy, every client shares the
    /// proxy's per-IP buckets.
    pub fn trusted_proxies(mut self, networks: Vec<crate::net::IpNetwork>) -> Self {
        self.trusted_proxies = networks;
        self
    }

    /// Clients that no per-IP bucket limits (default none). Account lockouts and mail
    /// limits still apply to them.
    pub fn exempt_from_ip_limits(mut self, networks: Vec<crate::net::IpNetwork>) -> Self {
        self.ip_limit_exempt = networks;
        self
    }

    /// Also treat `*.localhost` names as loopback in callback URLs (default false).
    /// RFC 6761 reserves them and browsers resolve them to loopback, but a resolver that
    /// forwards `.localhost` queries could send them elsewhere. Stack's e2e suite uses
    /// `http://stack-test.localhost` callbacks.
    pub fn localhost_subdomains_are_loopback(mut self, on: bool) -> Self {
        self.localhost_subdomains = on;
        self
    }

    /// Write the bodies of emails, with their codes and links, to the log (default false:
    /// only recipient and subject). For development only.
    pub fn log_email_bodies(mut self, on: bool) -> Self {
        self.log_email_bodies = on;
        self
    }

    /// **Tests only.** Every passkey (WebAuthn) ceremony then uses the fixed challenge
    /// `MOCK` (base64url `TU9DSw`) instead of 32 random bytes, as Stack's backend does
    /// under `STACK_ENABLE_HARDCODED_PASSKEY_CHALLENGE_FOR_TESTING`, so that Stack's e2e
    /// suite can replay its recorded browser credentials (origin `http://localhost:8103`).
    /// A fixed challenge lets a captured assertion be replayed into a new ceremony: never
    /// turn this on for a server real users reach. Default false. Each ceremony still
    /// needs its own single-use verification code.
    pub fn fixed_passkey_challenge_for_tests(mut self, on: bool) -> Self {
        self.fixed_passkey_challenge = on;
        self
    }

    /// The deployment's own OAuth app for a provider type (`github`, `google`, ...): the
    /// credentials every project's *shared* provider of that type uses
    /// (`auth.oauth.providers.<id>.isShared`, Stack's default). Without them, a shared
    /// provider of that type is not available (`OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED`).
    /// Register `<public URL>/api/v1/auth/oauth/callback/<config id>` as its redirect URI
    /// (Stack's projects use the type as the config id).
    pub fn shared_oauth_keys(
        mut self,
        provider_type: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.oauth.shared.insert(
            provider_type.into(),
            (client_id.into(), client_secret.into()),
        );
        self
    }

    /// **Tests only.** Every shared OAuth provider becomes Stack's mock OpenID Connect
    /// provider at `issuer` (client id = the provider type, secret `MOCK-SERVER-SECRET`),
    /// as Stack's e2e environment does with `STACK_<TYPE>_CLIENT_ID=MOCK`. Anyone who can
    /// sign in at that issuer signs in as any address: never set this for real users.
    pub fn oauth_mock_provider_for_tests(mut self, issuer: impl Into<String>) -> Self {
        self.oauth.mock_issuer = Some(issuer.into());
        self
    }

    /// Whether generic OpenID Connect providers (`type: "oidc"`, by issuer URL) may live on
    /// private or loopback addresses (default false: an issuer URL a project admin sets
    /// cannot make the server call into its own network).
    pub fn oauth_private_issuers(mut self, allow: bool) -> Self {
        self.oauth.private_issuers = allow;
        self
    }

    /// Whether connected accounts hand out provider tokens of providers on the shared keys
    /// (default false, as Stack without `STACK_ALLOW_SHARED_OAUTH_ACCESS_TOKENS`): those
    /// tokens are the deployment's app's, not the project's.
    pub fn oauth_shared_access_tokens(mut self, allow: bool) -> Self {
        self.oauth.shared_access_tokens = allow;
        self
    }

    /// Validates the settings and builds.
    pub fn build(self) -> Result<Postern, ConfigError> {
        use secrecy::ExposeSecret;
        let secret = self.secret.ok_or(ConfigError::MissingSecret)?;
        if secret.expose_secret().chars().count() < 16
            || self
                .previous
                .iter()
                .any(|s| s.expose_secret().chars().count() < 16)
        {
            return Err(ConfigError::WeakSecret);
        }
        let url = url::Url::parse(&self.public_url)
            .map_err(|_| ConfigError::InvalidPublicUrl(self.public_url.clone()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ConfigError::InvalidPublicUrl(self.public_url));
        }
        // Each key of the current secret first, then of the previous ones.
        let derive_all = |f: fn(&[u8]) -> [u8; 32]| -> Vec<[u8; 32]> {
            std::iter::once(&secret)
                .chain(self.previous.iter())
                .map(|s| f(s.expose_secret().as_bytes()))
                .collect()
        };
        let api_key_peppers = derive_all(crate::secrets::api_key_pepper);
        let outbox_keys = derive_all(crate::secrets::outbox_key);
        let vault_keys = derive_all(crate::secrets::vault_key);
        let totp_keys = derive_all(crate::secrets::totp_key);
        let recovery_keys = derive_all(crate::secrets::recovery_code_key);
        let config_keys = derive_all(crate::secrets::config_secret_key);
        let portal_keys = derive_all(crate::secrets::webhook_portal_key);
        let oauth_keys = derive_all(crate::secrets::oauth_key);
        let webhook_wake = Arc::new(tokio::sync::Notify::new());
        let throttle_key = crate::secrets::throttle_key(secret.expose_secret().as_bytes());
        let hasher = PasswordHasher::new(self.password, self.max_hashes)
            .map_err(|e| ConfigError::Password(e.to_string()))?;
        let postern = Postern {
            inner: Arc::new(Inner {
                store: crate::webhooks::WakingStore::wrap(self.store, Arc::clone(&webhook_wake)),
                keys: KeyRing::new(secret, self.previous),
                hasher,
                clock: self.clock,
                storage_url: self
                    .storage_url
                    .unwrap_or_else(|| {
                        format!("{}/api/v1/storage", self.public_url.trim_end_matches('/'))
                    })
                    .trim_end_matches('/')
                    .to_owned(),
                public_url: self.public_url.trim_end_matches('/').to_owned(),
                access_token_lifetime_secs: self.lifetime.as_secs() as i64,
                api_key_peppers,
                outbox_keys,
                totp_keys,
                vault_keys,
                mailer: self.mailer,
                outbox_wake: Arc::new(tokio::sync::Notify::new()),
                closures: Default::default(),
                sign_up_rules: Default::default(),
                throttle_key,
                ip_limiter: Default::default(),
                trusted_proxies: self.trusted_proxies,
                ip_limit_exempt: self.ip_limit_exempt,
                localhost_subdomains: self.localhost_subdomains,
                log_email_bodies: self.log_email_bodies,
                recovery_keys,
                config_keys,
                webhook_wake,
                webhook_clients: std::sync::OnceLock::new(),
                portal_keys,
                oauth: self.oauth,
                oauth_keys,
                fixed_passkey_challenge: self.fixed_passkey_challenge,
            }),
        };
        if self.outbox_worker {
            crate::email::spawn_worker(&postern.inner);
            crate::webhooks::spawn_worker(&postern.inner);
        }
        Ok(postern)
    }
}

impl Postern {
    /// Whether `url` may receive a code for this project (see [`crate::redirects`]).
    pub fn redirect_allowed(&self, project: &crate::Project, url: &str) -> bool {
        crate::redirects::is_allowed_redirect_with(
            &project.config.domains,
            url,
            self.inner.localhost_subdomains,
        )
    }
}
