//! `postern_webhook_attempts`: the delivery log.

use sea_orm::entity::prelude::*;

/// An attempt row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_webhook_attempts")]
pub struct Model {
    /// Attempt id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// The delivery.
    pub delivery_id: Uuid,
    /// The outbox message.
    pub message_id: Uuid,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// The URL posted to.
    pub url: String,
    /// Whether the answer was 2xx.
    pub success: bool,
    /// The answer's status, if any.
    pub response_status_code: Option<i32>,
    /// Truncated answer body or transport error.
    pub response: String,
    /// Latency, milliseconds.
    pub latency_millis: i64,
    /// When, epoch milliseconds.
    pub at: i64,
    /// `scheduled` or `manual`.
    pub trigger: String,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
