//! `postern_api_keys`: user and team API keys, stored as a keyed hash plus the last four
//! characters. Exactly one of `user_id` / `team_id` is set.

use sea_orm::entity::prelude::*;

/// An API key row.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_api_keys")]
pub struct Model {
    /// Key id (embedded in the key string).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// Owning user, for user keys.
    pub user_id: Option<Uuid>,
    /// Owning team, for team keys.
    pub team_id: Option<Uuid>,
    /// Free text.
    pub description: String,
    /// A public (`pk_`) key.
    pub is_public: bool,
    /// HMAC-SHA256 of the key under the server pepper, lowercase hex (unique).
    pub secret_hash: String,
    /// Last four characters of the key.
    pub last_four: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Expiry, epoch milliseconds.
    pub expires_at: Option<i64>,
    /// Revocation time, epoch milliseconds.
    pub revoked_at: Option<i64>,
}

/// Redacts the hash.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("api_key::Model")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("user_id", &self.user_id)
            .field("team_id", &self.team_id)
            .field("description", &self.description)
            .field("is_public", &self.is_public)
            .field("last_four", &self.last_four)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("secret_hash", &"<redacted>")
            .finish()
    }
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
