//! `postern_api_key_sets`: project keys, stored as SHA-256 hashes.

use sea_orm::entity::prelude::*;

/// An API key set row.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_api_key_sets")]
pub struct Model {
    /// Key set id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// Free text.
    pub description: String,
    /// Hash of the publishable client key (unique).
    pub publishable_client_key_hash: Option<String>,
    /// Hash of the secret server key (unique).
    pub secret_server_key_hash: Option<String>,
    /// Hash of the super secret admin key (unique).
    pub super_secret_admin_key_hash: Option<String>,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Expiry, epoch milliseconds.
    pub expires_at: Option<i64>,
    /// Revocation time, epoch milliseconds.
    pub revoked_at: Option<i64>,
}

/// Redacts secrets and hashes.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("api_key_set::Model")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("description", &self.description)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field(
                "publishable_client_key_hash",
                &self
                    .publishable_client_key_hash
                    .as_ref()
                    .map(|_| "<redacted>"),
            )
            .field(
                "secret_server_key_hash",
                &self.secret_server_key_hash.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "super_secret_admin_key_hash",
                &self
                    .super_secret_admin_key_hash
                    .as_ref()
                    .map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
