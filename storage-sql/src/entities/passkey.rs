//! `postern_passkeys`: WebAuthn credentials, one row each, unique per (project, credential id).

use sea_orm::entity::prelude::*;

/// A passkey row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_passkeys")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// The user.
    pub user_id: Uuid,
    /// Credential id, base64url without padding.
    pub credential_id: String,
    /// Name the user chose.
    pub name: Option<String>,
    /// The credential (public key, counter, flags) as webauthn-rs serializes it, JSON.
    pub credential: String,
    /// COSE algorithm.
    pub algorithm: i32,
    /// Signature counter last seen.
    pub counter: i64,
    /// Transports, a JSON array of strings.
    pub transports: String,
    /// May be backed up or synced.
    pub backup_eligible: bool,
    /// Is backed up or synced.
    pub backup_state: bool,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Last sign-in, epoch milliseconds.
    pub last_used_at: Option<i64>,
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
