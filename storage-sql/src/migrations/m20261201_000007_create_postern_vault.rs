//! Creates `postern_vault_entries`: data-vault values, sealed at rest.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PosternVaultEntries {
    Table,
    ProjectId,
    StoreId,
    KeyHash,
    WrappedKey,
    Ciphertext,
    UpdatedAt,
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
                    .table(PosternVaultEntries::Table)
                    .col(text(PosternVaultEntries::ProjectId))
                    .col(text(PosternVaultEntries::StoreId))
                    .col(text(PosternVaultEntries::KeyHash))
                    .col(text(PosternVaultEntries::WrappedKey))
                    .col(text(PosternVaultEntries::Ciphertext))
                    .col(big_integer(PosternVaultEntries::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(PosternVaultEntries::ProjectId)
                            .col(PosternVaultEntries::StoreId)
                            .col(PosternVaultEntries::KeyHash),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_vault_project")
                            .from(PosternVaultEntries::Table, PosternVaultEntries::ProjectId)
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
                    .table(PosternVaultEntries::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
