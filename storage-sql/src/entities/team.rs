//! `postern_teams`: teams, keyed by (project, id).

use sea_orm::entity::prelude::*;

/// A team row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_teams")]
pub struct Model {
    /// Owning project.
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: String,
    /// Team id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Display name.
    pub display_name: String,
    /// Profile image URL.
    pub profile_image_url: Option<String>,
    /// Client metadata, JSON text.
    pub client_metadata: Option<String>,
    /// Client-read-only metadata, JSON text.
    pub client_read_only_metadata: Option<String>,
    /// Server metadata, JSON text.
    pub server_metadata: Option<String>,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
