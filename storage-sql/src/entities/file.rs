//! `postern_files`: uploaded images.

use sea_orm::entity::prelude::*;

/// A file row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_files")]
pub struct Model {
    /// File id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// Bucket.
    pub bucket: String,
    /// MIME type.
    pub content_type: String,
    /// The bytes.
    pub data: Vec<u8>,
    /// Upload time, epoch milliseconds.
    pub created_at: i64,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
