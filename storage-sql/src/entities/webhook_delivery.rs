//! `postern_webhook_deliveries`: one outbox event owed to one endpoint.

use sea_orm::entity::prelude::*;

/// A delivery row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_webhook_deliveries")]
pub struct Model {
    /// Delivery id (UUIDv7: time-ordered).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// The outbox message.
    pub message_id: Uuid,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// `pending`, `delivered`, `failed` or `aborted`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// Earliest next attempt (and claim lease), epoch milliseconds.
    pub next_attempt_at: i64,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// When it finished, epoch milliseconds.
    pub finished_at: Option<i64>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
