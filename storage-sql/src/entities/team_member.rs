//! `postern_team_members`: memberships with the member's per-team profile.

use sea_orm::entity::prelude::*;

/// A membership row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_team_members")]
pub struct Model {
    /// Owning project.
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: String,
    /// The team.
    #[sea_orm(primary_key, auto_increment = false)]
    pub team_id: Uuid,
    /// The user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// Per-team display name.
    pub display_name: Option<String>,
    /// Per-team profile image URL.
    pub profile_image_url: Option<String>,
    /// Joining time, epoch milliseconds.
    pub created_at: i64,
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
