//! `postern_vault_entries`: data-vault values, sealed at rest.

use sea_orm::entity::prelude::*;

/// A vault entry row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_vault_entries")]
pub struct Model {
    /// Owning project.
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: String,
    /// Store id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub store_id: String,
    /// HMAC of the client's hashed key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_hash: String,
    /// Wrapped data key (base64).
    pub wrapped_key: String,
    /// Sealed value (base64).
    pub ciphertext: String,
    /// Last write, epoch milliseconds.
    pub updated_at: i64,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
