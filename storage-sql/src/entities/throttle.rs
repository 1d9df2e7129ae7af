//! `postern_throttle`: failure runs per account and factor, mail counts per recipient.

use sea_orm::entity::prelude::*;

/// A throttling counter.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_throttle")]
pub struct Model {
    /// Owning project.
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: String,
    /// What is counted.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// The count.
    pub count: i64,
    /// Start of the window (or of the failure run), epoch milliseconds.
    pub window_start: i64,
    /// Last event, epoch milliseconds.
    pub updated_at: i64,
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
