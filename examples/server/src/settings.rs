//! Command-line flags, environment variables and the TOML config file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use serde::Deserialize;

/// Postern: embeddable auth with a Stack-Auth-compatible REST API.
///
/// The settings of both example servers; every flag has a `POSTERN_*` environment variable.
#[derive(Debug, Clone, Parser)]
#[command(name = "postern-server", version, about)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "POSTERN_LISTEN", default_value = "127.0.0.1:8102")]
    pub listen: String,

    /// Database URL: sqlite://path/to/file.db, sqlite::memory:, or postgres://user@host/db.
    #[arg(
        long,
        env = "POSTERN_DATABASE_URL",
        default_value = "sqlite://postern.db"
    )]
    pub database_url: String,

    /// Public base URL of this server, used in token issuers [default: http://<listen>].
    #[arg(long, env = "POSTERN_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Server secret deriving the token signing keys. With SQLite and none given, one is
    /// generated on first start and kept in an owner-only file beside the database file.
    /// Required with PostgreSQL.
    #[arg(long, env = "POSTERN_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// Previous server secrets (comma-separated): their tokens still verify, so the secret
    /// can rotate without signing anyone out.
    #[arg(
        long,
        env = "POSTERN_PREVIOUS_SECRETS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub previous_secrets: Vec<String>,

    /// Id of the default project, created or updated at start.
    #[arg(long, env = "POSTERN_PROJECT_ID")]
    pub project_id: Option<String>,

    /// Display name of the default project.
    #[arg(long, env = "POSTERN_PROJECT_NAME", default_value = "Default Project")]
    pub project_name: String,

    /// Publishable client key of the default project (pck_...).
    #[arg(long, env = "POSTERN_PUBLISHABLE_CLIENT_KEY", hide_env_values = true)]
    pub publishable_client_key: Option<String>,

    /// Secret server key of the default project (ssk_...).
    #[arg(long, env = "POSTERN_SECRET_SERVER_KEY", hide_env_values = true)]
    pub secret_server_key: Option<String>,

    /// Super secret admin key of the default project (sak_...).
    #[arg(long, env = "POSTERN_SUPER_SECRET_ADMIN_KEY", hide_env_values = true)]
    pub super_secret_admin_key: Option<String>,

    /// TOML file declaring projects and their config.
    #[arg(long, env = "POSTERN_CONFIG")]
    pub config: Option<PathBuf>,

    /// Base of the public URLs of uploaded images [default: <public url>/api/v1/storage,
    /// served by this server]; set it when a CDN or proxy serves that path.
    #[arg(long, env = "POSTERN_STORAGE_PUBLIC_URL")]
    pub storage_public_url: Option<String>,

    /// Seed Stack Auth's local-development `internal` project (its well-known dev keys and
    /// seed config) so Stack's own e2e suite and dashboard tooling can run against this
    /// server; passkey ceremonies then use the fixed challenge `MOCK` (Stack's recorded
    /// test credentials). Refused unless the listen address is loopback. Never use in
    /// production.
    #[arg(long, env = "POSTERN_STACK_DEV_SEED")]
    pub stack_dev_seed: bool,

    /// SMTP host for outgoing email. Required unless --dev-log-emails is given.
    #[arg(long, env = "POSTERN_SMTP_HOST")]
    pub smtp_host: Option<String>,

    /// SMTP port.
    #[arg(long, env = "POSTERN_SMTP_PORT", default_value_t = 587)]
    pub smtp_port: u16,

    /// SMTP login.
    #[arg(long, env = "POSTERN_SMTP_USERNAME")]
    pub smtp_username: Option<String>,

    /// SMTP password.
    #[arg(long, env = "POSTERN_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<String>,

    /// Sender address of outgoing email (the display name is the project's).
    #[arg(
        long,
        env = "POSTERN_SMTP_SENDER",
        default_value = "noreply@example.com"
    )]
    pub smtp_sender: String,

    /// SMTP connection security: none, starttls or tls [default: none for a loopback
    /// host, starttls otherwise].
    #[arg(long, env = "POSTERN_SMTP_TLS", value_parser = ["none", "starttls", "tls"])]
    pub smtp_tls: Option<String>,

    /// Write emails, with their codes and links, to the log. Development only: without an
    /// SMTP host the server refuses to start unless this is set.
    #[arg(long, env = "POSTERN_DEV_LOG_EMAILS")]
    pub dev_log_emails: bool,

    /// Reverse proxies (comma-separated IPs or networks, e.g. 10.0.0.0/8) whose
    /// X-Forwarded-For header names the client for per-IP rate limits. Without them the
    /// peer address is the client.
    #[arg(long, env = "POSTERN_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// Log format: text or json. Levels come from RUST_LOG (default info).
    #[arg(long, env = "POSTERN_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Generic OpenID Connect providers (`type: "oidc"`) may live on private or loopback
    /// addresses. Shared OAuth keys come from the environment only:
    /// POSTERN_OAUTH_<TYPE>_CLIENT_ID and POSTERN_OAUTH_<TYPE>_CLIENT_SECRET.
    #[arg(long, env = "POSTERN_OAUTH_PRIVATE_ISSUERS")]
    pub oauth_private_issuers: bool,

    /// With --stack-dev-seed only: the issuer of Stack's mock OAuth provider, which every
    /// shared provider then uses (Stack's e2e layout).
    #[arg(
        long,
        env = "POSTERN_OAUTH_MOCK_URL",
        default_value = "http://localhost:8114"
    )]
    pub oauth_mock_url: String,
}

/// The TOML config file.
///
/// ```toml
/// [[projects]]
/// id = "my-app"
/// display_name = "My App"
/// publishable_client_key = "pck_..."
/// secret_server_key = "ssk_..."
/// super_secret_admin_key = "sak_..."
///
/// [projects.config.auth]
/// allowSignUp = true
/// [projects.config.users]
/// allowClientUserDeletion = true
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    /// The projects to create or update at start.
    pub projects: Vec<FileProject>,
}

/// One project of the TOML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProject {
    /// Project id.
    pub id: String,
    /// Display name (default: the id).
    pub display_name: Option<String>,
    /// Publishable client key (all three keys or none).
    pub publishable_client_key: Option<String>,
    /// Secret server key.
    pub secret_server_key: Option<String>,
    /// Super secret admin key.
    pub super_secret_admin_key: Option<String>,
    /// Project config in Stack's shape (`auth.allowSignUp`, ...).
    pub config: Option<BTreeMap<String, toml::Value>>,
    /// Webhook endpoints, kept in step with the file at every start: endpoints declared
    /// here are created or updated (matched by URL), and those removed from the file are
    /// deleted. Endpoints made through the API are left alone.
    #[serde(default)]
    pub webhook_endpoints: Vec<FileWebhookEndpoint>,
}

/// One `[[projects.webhook_endpoints]]` entry.
///
/// ```toml
/// [[projects.webhook_endpoints]]
/// url = "https://example.com/hooks/postern"
/// secret = "whsec_..."                     # 24 to 64 bytes, base64
/// event_types = ["user.created"]           # omitted = every type
/// allow_private_addresses = false          # true only for receivers on this network
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWebhookEndpoint {
    /// Destination URL.
    pub url: String,
    /// The signing secret (`whsec_` + base64 of 24 to 64 bytes).
    pub secret: String,
    /// Event types delivered; omitted for all.
    pub event_types: Option<Vec<String>>,
    /// Deliver to loopback, private and link-local addresses too (off by default: the
    /// SSRF guard).
    #[serde(default)]
    pub allow_private_addresses: bool,
    /// Operator's description.
    pub description: Option<String>,
}

impl FileConfig {
    /// Reads and parses the file.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))
    }
}
