//! Creates `postern_teams` and `postern_team_members`, and adds the owning team to
//! projects (admin access tokens).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PosternTeams {
    Table,
    Id,
    ProjectId,
    DisplayName,
    ProfileImageUrl,
    ClientMetadata,
    ClientReadOnlyMetadata,
    ServerMetadata,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PosternTeamMembers {
    Table,
    ProjectId,
    TeamId,
    UserId,
    DisplayName,
    ProfileImageUrl,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PosternProjects {
    Table,
    Id,
    OwnerTeamId,
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
                    .table(PosternTeams::Table)
                    .col(uuid(PosternTeams::Id))
                    .col(text(PosternTeams::ProjectId))
                    .col(text(PosternTeams::DisplayName))
                    .col(text_null(PosternTeams::ProfileImageUrl))
                    .col(text_null(PosternTeams::ClientMetadata))
                    .col(text_null(PosternTeams::ClientReadOnlyMetadata))
                    .col(text_null(PosternTeams::ServerMetadata))
                    .col(big_integer(PosternTeams::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(PosternTeams::ProjectId)
                            .col(PosternTeams::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_teams_project")
                            .from(PosternTeams::Table, PosternTeams::ProjectId)
                            .to(PosternProjects::Table, PosternProjects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PosternTeamMembers::Table)
                    .col(text(PosternTeamMembers::ProjectId))
                    .col(uuid(PosternTeamMembers::TeamId))
                    .col(uuid(PosternTeamMembers::UserId))
                    .col(text_null(PosternTeamMembers::DisplayName))
                    .col(text_null(PosternTeamMembers::ProfileImageUrl))
                    .col(big_integer(PosternTeamMembers::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(PosternTeamMembers::ProjectId)
                            .col(PosternTeamMembers::TeamId)
                            .col(PosternTeamMembers::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_team_members_team")
                            .from(
                                PosternTeamMembers::Table,
                                (PosternTeamMembers::ProjectId, PosternTeamMembers::TeamId),
                            )
                            .to(
                                PosternTeams::Table,
                                (PosternTeams::ProjectId, PosternTeams::Id),
                            )
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_team_members_user")
                            .from(
                                PosternTeamMembers::Table,
                                (PosternTeamMembers::ProjectId, PosternTeamMembers::UserId),
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
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_team_members_user")
                    .table(PosternTeamMembers::Table)
                    .col(PosternTeamMembers::ProjectId)
                    .col(PosternTeamMembers::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PosternProjects::Table)
                    .add_column(uuid_null(PosternProjects::OwnerTeamId))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PosternProjects::Table)
                    .drop_column(PosternProjects::OwnerTeamId)
                    .to_owned(),
            )
            .await?;
        for table in [
            PosternTeamMembers::Table.into_iden(),
            PosternTeams::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
