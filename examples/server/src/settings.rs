//! Command-line flags, environment variables and the TOML config file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use serde::Deserialize;

/// Postern: embeddable auth with a Stack-Auth-compatible REST API.
#[derive(Debug, Clone, Parser)]
#[command(name = "postern-server", version, about)]
pub(crate) struct Args {
    /// Address to listen on.
    #[arg(long, env = "POSTERN_LISTEN", default_value = "127.0.0.1:8102")]
    pub(crate) listen: String,

    /// Database URL: sqlite://path/to/file.db, sqlite::memory:, or postgres://user@host/db.
    #[arg(
        long,
        env = "POSTERN_DATABASE_URL",
        default_value = "sqlite://postern.db"
    )]
    pub(crate) database_url: String,

    /// Public base URL of this server, used in token issuers [default: http://<listen>].
    #[arg(long, env = "POSTERN_PUBLIC_URL")]
    pub(crate) public_url: Option<String>,

    /// Server secret deriving the token signing keys. With SQLite and none given, one is
    /// generated on first start and kept in an owner-only file beside the database file.
    /// Required with PostgreSQL.
    #[arg(long, env = "POSTERN_SECRET", hide_env_values = true)]
    pub(crate) secret: Option<String>,

    /// Previous server secrets (comma-separated): their tokens still verify, so the secret
    /// can rotate without signing anyone out.
    #[arg(
        long,
        env = "POSTERN_PREVIOUS_SECRETS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub(crate) previous_secrets: Vec<String>,

    /// Id of the default project, created or updated at start.
    #[arg(long, env = "POSTERN_PROJECT_ID")]
    pub(crate) project_id: Option<String>,

    /// Display name of the default project.
    #[arg(long, env = "POSTERN_PROJECT_NAME", default_value = "Default Project")]
    pub(crate) project_name: String,

    /// Publishable client key of the default project (pck_...).
    #[arg(long, env = "POSTERN_PUBLISHABLE_CLIENT_KEY", hide_env_values = true)]
    pub(crate) publishable_client_key: Option<String>,

    /// Secret server key of the default project (ssk_...).
    #[arg(long, env = "POSTERN_SECRET_SERVER_KEY", hide_env_values = true)]
    pub(crate) secret_server_key: Option<String>,

    /// Super secret admin key of the default project (sak_...).
    #[arg(long, env = "POSTERN_SUPER_SECRET_ADMIN_KEY", hide_env_values = true)]
    pub(crate) super_secret_admin_key: Option<String>,

    /// TOML file declaring projects and their config.
    #[arg(long, env = "POSTERN_CONFIG")]
    pub(crate) config: Option<PathBuf>,

    /// Log format: text or json. Levels come from RUST_LOG (default info).
    #[arg(long, env = "POSTERN_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub(crate) log_format: String,
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
pub(crate) struct FileConfig {
    #[serde(default)]
    pub(crate) projects: Vec<FileProject>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileProject {
    pub(crate) id: String,
    pub(crate) display_name: Option<String>,
    pub(crate) publishable_client_key: Option<String>,
    pub(crate) secret_server_key: Option<String>,
    pub(crate) super_secret_admin_key: Option<String>,
    pub(crate) config: Option<BTreeMap<String, toml::Value>>,
}

impl FileConfig {
    pub(crate) fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))
    }
}
