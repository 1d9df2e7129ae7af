//! Creates `postern_team_permissions` (grants within a membership) and
//! `postern_project_permissions` (project-wide grants).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PosternTeamPermissions {
    Table,
    ProjectId,
    TeamId,
    UserId,
    PermissionId,
}

#[derive(DeriveIden)]
enum PosternProjectPermissions {
    Table,
    ProjectId,
    UserId,
    PermissionId,
}

#[derive(DeriveIden)]
enum PosternTeamMembers {
    Table,
    ProjectId,
    TeamId,
    UserId,
}

#[derive(DeriveIden)]
enum PosternUsers {
    Table,
    ProjectId,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PosternTeamPermissions::Table)
                    .col(text(PosternTeamPermissions::ProjectId))
                    .col(uuid(PosternTeamPermissions::TeamId))
                    .col(uuid(PosternTeamPermissions::UserId))
                    .col(text(PosternTeamPermissions::PermissionId))
                    .primary_key(
                        Index::create()
                            .col(PosternTeamPermissions::ProjectId)
                            .col(PosternTeamPermissions::TeamId)
                            .col(PosternTeamPermissions::UserId)
                            .col(PosternTeamPermissions::PermissionId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_team_permissions_member")
                            .from(
                                PosternTeamPermissions::Table,
                                (
                                    PosternTeamPermissions::ProjectId,
                                    PosternTeamPermissions::TeamId,
                                    PosternTeamPermissions::UserId,
                                ),
                            )
                            .to(
                                PosternTeamMembers::Table,
                                (
                                    PosternTeamMembers::ProjectId,
                                    PosternTeamMembers::TeamId,
                                    PosternTeamMembers::UserId,
                                ),
                            )
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_team_permissions_user")
                    .table(PosternTeamPermissions::Table)
                    .col(PosternTeamPermissions::ProjectId)
                    .col(PosternTeamPermissions::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PosternProjectPermissions::Table)
                    .col(text(PosternProjectPermissions::ProjectId))
                    .col(uuid(PosternProjectPermissions::UserId))
                    .col(text(PosternProjectPermissions::PermissionId))
                    .primary_key(
                        Index::create()
                            .col(PosternProjectPermissions::ProjectId)
                            .col(PosternProjectPermissions::UserId)
                            .col(PosternProjectPermissions::PermissionId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_project_permissions_user")
                            .from(
                                PosternProjectPermissions::Table,
                                (
                                    PosternProjectPermissions::ProjectId,
                                    PosternProjectPermissions::UserId,
                                ),
                            )
                            .to(
                                PosternUsers::Table,
                                (PosternUsers::ProjectId, PosternUsers::Id),
                            )
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PosternProjectPermissions::Table.into_iden(),
            PosternTeamPermissions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
