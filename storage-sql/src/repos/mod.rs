//! The repository traits of [`postern_core::storage`] over any sea-orm connection.

mod api_keys;
mod audit;
mod cli_auth;
mod codes;
mod files;
mod oauth;
mod outbox;
mod passkeys;
mod permissions;
mod projects;
mod recovery_codes;
mod sessions;
mod teams;
mod throttle;
mod users;
mod vault;
mod webhooks;

use postern_core::storage::{
    ApiKeyRepo, AuditRepo, CliAuthRepo, CodeRepo, FileRepo, OAuthRepo, OutboxRepo, PasskeyRepo,
    PermissionRepo, ProjectRepo, RecoveryCodeRepo, Repos, SessionRepo, StoreError, StoreResult,
    TeamRepo, ThrottleRepo, UserRepo, VaultRepo, WebhookRepo,
};
use sea_orm::ConnectionTrait;
use serde_json::Value;

/// Postern's repositories over one sea-orm connection: a
/// [`sea_orm::DatabaseConnection`] (autocommit, pooled) or a
/// [`sea_orm::DatabaseTransaction`]. The same code serves SQLite and PostgreSQL.
///
/// Every query filters by project id. The contact-channel writes maintain the derived
/// `auth_value` and `primary_of` columns (see [`crate::entities::contact_channel`]).
#[derive(Debug)]
pub struct SeaRepos<C> {
    conn: C,
}

impl<C: ConnectionTrait> SeaRepos<C> {
    /// Wraps a connection or transaction.
    pub fn new(conn: C) -> Self {
        Self { conn }
    }

    /// The wrapped connection or transaction.
    pub fn connection(&self) -> &C {
        &self.conn
    }

    /// Unwraps the connection or transaction (e.g. to commit it).
    pub fn into_inner(self) -> C {
        self.conn
    }
}

impl<C: ConnectionTrait + Send> Repos for SeaRepos<C> {
    fn projects(&self) -> &dyn ProjectRepo {
        self
    }

    fn users(&self) -> &dyn UserRepo {
        self
    }

    fn sessions(&self) -> &dyn SessionRepo {
        self
    }

    fn api_keys(&self) -> &dyn ApiKeyRepo {
        self
    }

    fn codes(&self) -> &dyn CodeRepo {
        self
    }

    fn outbox(&self) -> &dyn OutboxRepo {
        self
    }

    fn teams(&self) -> &dyn TeamRepo {
        self
    }

    fn permissions(&self) -> &dyn PermissionRepo {
        self
    }

    fn files(&self) -> &dyn FileRepo {
        self
    }

    fn vault(&self) -> &dyn VaultRepo {
        self
    }

    fn throttle(&self) -> &dyn ThrottleRepo {
        self
    }

    fn recovery_codes(&self) -> &dyn RecoveryCodeRepo {
        self
    }

    fn audit(&self) -> &dyn AuditRepo {
        self
    }

    fn webhooks(&self) -> &dyn WebhookRepo {
        self
    }

    fn passkeys(&self) -> &dyn PasskeyRepo {
        self
    }

    fn oauth(&self) -> &dyn OAuthRepo {
        self
    }

    fn cli_auth(&self) -> &dyn CliAuthRepo {
        self
    }
}

/// Serializes a JSON value for a `TEXT` column.
fn json_text(value: &Value) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("JSON encoding: {e}")))
}

/// Serializes an optional JSON value for a nullable `TEXT` column.
fn opt_json_text(value: &Option<Value>) -> StoreResult<Option<String>> {
    value.as_ref().map(json_text).transpose()
}

/// Parses a `TEXT` column holding JSON.
fn parse_json(column: &str, text: &str) -> StoreResult<Value> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Backend(format!("invalid JSON in column {column}: {e}")))
}

/// Parses a nullable `TEXT` column holding JSON.
fn parse_opt_json(column: &str, text: Option<String>) -> StoreResult<Option<Value>> {
    text.map(|t| parse_json(column, &t)).transpose()
}
