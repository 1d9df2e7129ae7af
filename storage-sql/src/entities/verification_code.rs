//! `postern_verification_codes`: verification codes, stored as the SHA-256 of the code and
//! of its nonce.

use sea_orm::entity::prelude::*;

/// A verification code row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_verification_codes")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// Purpose (`contact_channel_verification`, `password_reset`, ...).
    pub purpose: String,
    /// SHA-256 of the code, lowercase hex (unique).
    pub code_hash: String,
    /// SHA-256 of the code's nonce, lowercase hex.
    pub nonce_hash: String,
    /// The user the code acts on.
    pub user_id: Option<Uuid>,
    /// Flow data, JSON text.
    pub data: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Expiry, epoch milliseconds.
    pub expires_at: i64,
    /// Use time, epoch milliseconds.
    pub used_at: Option<i64>,
    /// Requests that touched the nonce.
    pub attempt_count: i32,
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
