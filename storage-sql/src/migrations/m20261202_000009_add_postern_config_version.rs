//! `postern_projects.config_version`: bumped by every config write, which succeeds only if
//! the version it read is still current (compare-and-swap), so concurrent admin changes
//! cannot overwrite each other. Existing rows start at version 0.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PosternProjects {
    Table,
    ConfigVersion,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PosternProjects::Table)
                    .add_column(big_integer(PosternProjects::ConfigVersion).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PosternProjects::Table)
                    .drop_column(PosternProjects::ConfigVersion)
                    .to_owned(),
            )
            .await
    }
}
