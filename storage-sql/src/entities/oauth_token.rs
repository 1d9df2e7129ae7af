//! `postern_oauth_tokens`: provider access and refresh tokens, sealed.

use sea_orm::entity::prelude::*;

/// A provider token row.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_oauth_tokens")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// The provider account.
    pub account_id: Uuid,
    /// `access` or `refresh`.
    pub kind: String,
    /// The token, sealed.
    pub sealed_token: String,
    /// Requested scopes, a JSON array of strings.
    pub scopes: String,
    /// Expiry, epoch milliseconds.
    pub expires_at: Option<i64>,
    /// Still usable.
    pub is_valid: bool,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
}

/// Leaves the sealed token out.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("oauth_token::Model")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
