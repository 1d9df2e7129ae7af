//! `postern_cli_auth_attempts`: CLI login attempts, codes hashed, tokens sealed.

use sea_orm::entity::prelude::*;

/// An attempt row.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_cli_auth_attempts")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// SHA-256 of the polling code.
    pub polling_code_hash: String,
    /// SHA-256 of the login code.
    pub login_code_hash: String,
    /// The browser's refresh token, sealed.
    pub sealed_refresh_token: Option<String>,
    /// The CLI's anonymous refresh token, sealed.
    pub sealed_anon_refresh_token: Option<String>,
    /// Expiry, epoch milliseconds.
    pub expires_at: i64,
    /// When the CLI collected the token, epoch milliseconds.
    pub used_at: Option<i64>,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
}

/// Leaves the sealed tokens out.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("cli_auth_attempt::Model")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
