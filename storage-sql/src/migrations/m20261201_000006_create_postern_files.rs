//! Creates `postern_files`: images uploaded as data URLs, served by the API.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PosternFiles {
    Table,
    Id,
    ProjectId,
    Bucket,
    ContentType,
    Data,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PosternProjects {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PosternFiles::Table)
                    .col(uuid(PosternFiles::Id).primary_key())
                    .col(text(PosternFiles::ProjectId))
                    .col(text(PosternFiles::Bucket))
                    .col(text(PosternFiles::ContentType))
                    .col(blob(PosternFiles::Data))
                    .col(big_integer(PosternFiles::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_files_project")
                            .from(PosternFiles::Table, PosternFiles::ProjectId)
                            .to(PosternProjects::Table, PosternProjects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(PosternFiles::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
