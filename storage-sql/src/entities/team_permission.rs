//! `postern_team_permissions`: direct permission grants within a team membership.

use sea_orm::entity::prelude::*;

/// A team grant row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_team_permissions")]
pub struct Model {
    /// Owning project.
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: String,
    /// The team.
    #[sea_orm(primary_key, auto_increment = false)]
    pub team_id: Uuid,
    /// The member.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The permission id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub permission_id: String,
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
