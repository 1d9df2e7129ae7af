//! `postern_audit_events`: the append-only audit log.

use sea_orm::entity::prelude::*;

/// An audit event row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_audit_events")]
pub struct Model {
    /// Event id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// Event time, epoch milliseconds.
    pub at: i64,
    /// Event type.
    pub event_type: String,
    /// The user concerned.
    pub user_id: Option<Uuid>,
    /// Who acted.
    pub actor: String,
    /// Client IP address.
    pub ip: Option<String>,
    /// Details, serialized JSON.
    pub details: String,
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
