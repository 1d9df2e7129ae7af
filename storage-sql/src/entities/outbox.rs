//! `postern_outbox`: messages recorded with the change that causes them and delivered
//! after commit. The payload is sealed by the core; storage never sees it in clear.

use sea_orm::entity::prelude::*;

/// An outbox row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_outbox")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Project.
    pub project_id: String,
    /// Message kind.
    pub kind: String,
    /// Sealed payload (base64), empty once delivered.
    pub payload: String,
    /// `pending`, `sent`, `logged` or `failed`.
    pub status: String,
    /// Failed attempts.
    pub attempts: i32,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Earliest next attempt (also a claim lease), epoch milliseconds.
    pub next_attempt_at: i64,
    /// Delivery time.
    pub sent_at: Option<i64>,
    /// Last delivery error.
    pub last_error: Option<String>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
