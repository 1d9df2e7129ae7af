//! `postern_projects`: one row per project.

use sea_orm::entity::prelude::*;

/// A project row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_projects")]
pub struct Model {
    /// Project id (text, not a UUID: ids such as `internal` exist).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Human name.
    pub display_name: String,
    /// Project config, serialized JSON.
    pub config: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// The `internal`-project team whose members administer the project.
    pub owner_team_id: Option<Uuid>,
    /// Bumped by every config write (compare-and-swap).
    pub config_version: i64,
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
