//! `postern_sessions`: one refresh token each, stored as a hash.

use sea_orm::entity::prelude::*;

/// A session row.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_sessions")]
pub struct Model {
    /// Session id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// Signed-in user.
    pub user_id: Uuid,
    /// SHA-256 of the refresh token, lowercase hex (unique).
    pub token_hash: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Last refresh, epoch milliseconds.
    pub last_active_at: i64,
    /// Absolute expiry, epoch milliseconds.
    pub expires_at: Option<i64>,
    /// Created for impersonation.
    pub is_impersonation: bool,
}

/// Redacts secrets and hashes.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("session::Model")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("last_active_at", &self.last_active_at)
            .field("expires_at", &self.expires_at)
            .field("is_impersonation", &self.is_impersonation)
            .field("token_hash", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
