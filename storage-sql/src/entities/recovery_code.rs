//! `postern_recovery_codes`: TOTP recovery codes, stored as SHA-256 hashes.

use sea_orm::entity::prelude::*;

/// A recovery code row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_recovery_codes")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// The user.
    pub user_id: Uuid,
    /// SHA-256 of the code, lowercase hex.
    pub code_hash: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Use time, epoch milliseconds.
    pub used_at: Option<i64>,
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
