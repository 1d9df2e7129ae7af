//! `postern_contact_channels`: a user's email addresses.
//!
//! Two derived columns let plain unique indexes (NULLs are distinct on SQLite and
//! PostgreSQL alike) replace partial indexes:
//! - `auth_value` is `value` when the channel is used for authentication and confirmed
//!   for it, else NULL: unique per `(project_id, type, auth_value)`, so an unconfirmed
//!   address reserves nothing;
//! - `primary_of` is `"<user_id>:<type>"` when the channel is primary, else NULL: unique.
//!
//! The repositories keep both in step with the record on every insert and update.

use sea_orm::entity::prelude::*;

/// A contact channel row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_contact_channels")]
pub struct Model {
    /// Channel id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// Owning user.
    pub user_id: Uuid,
    /// Channel kind (`email`).
    #[sea_orm(column_name = "type")]
    pub kind: String,
    /// The address.
    pub value: String,
    /// Primary channel of its kind for the user.
    pub is_primary: bool,
    /// Verified.
    pub is_verified: bool,
    /// Usable to sign in.
    pub used_for_auth: bool,
    /// Confirmed for sign-in (see `ContactChannelRecord::auth_confirmed`).
    pub auth_confirmed: bool,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// `value` when `used_for_auth` and `auth_confirmed`, else NULL.
    pub auth_value: Option<String>,
    /// `"<user_id>:<type>"` when `is_primary`, else NULL.
    pub primary_of: Option<String>,
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
