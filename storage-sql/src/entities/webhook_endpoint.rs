//! `postern_webhook_endpoints`: where a project's events are delivered.

use sea_orm::entity::prelude::*;

/// An endpoint row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_webhook_endpoints")]
pub struct Model {
    /// Endpoint id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// Destination URL.
    pub url: String,
    /// Operator's description.
    pub description: String,
    /// JSON array of event types, or NULL for all.
    pub event_types: Option<String>,
    /// Whether new events are delivered.
    pub enabled: bool,
    /// Sealed signing secret (base64).
    pub secret: String,
    /// Sealed previous secret during a rotation.
    pub previous_secret: Option<String>,
    /// End of the rotation window, epoch milliseconds.
    pub previous_secret_until: Option<i64>,
    /// Whether private and loopback addresses may be delivered to.
    pub allow_private_addresses: bool,
    /// Declared in the server's config file.
    pub declared: bool,
    /// Start of the current failure run, epoch milliseconds.
    pub failing_since: Option<i64>,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Last change, epoch milliseconds.
    pub updated_at: i64,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
