//! Creates `postern_api_keys`: user and team API keys, stored as a keyed hash.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PosternApiKeys {
    Table,
    Id,
    ProjectId,
    UserId,
    TeamId,
    Description,
    IsPublic,
    SecretHash,
    LastFour,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum PosternProjects {
    Table,
    Id,
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
                    .table(PosternApiKeys::Table)
                    .col(uuid(PosternApiKeys::Id).primary_key())
                    .col(text(PosternApiKeys::ProjectId))
                    .col(uuid_null(PosternApiKeys::UserId))
                    // No foreign key yet: teams arrive with a later migration.
                    .col(uuid_null(PosternApiKeys::TeamId))
                    .col(text(PosternApiKeys::Description))
                    .col(boolean(PosternApiKeys::IsPublic))
                    .col(text(PosternApiKeys::SecretHash))
                    .col(text(PosternApiKeys::LastFour))
                    .col(big_integer(PosternApiKeys::CreatedAt))
                    .col(big_integer_null(PosternApiKeys::ExpiresAt))
                    .col(big_integer_null(PosternApiKeys::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_api_keys_project")
                            .from(PosternApiKeys::Table, PosternApiKeys::ProjectId)
                            .to(PosternProjects::Table, PosternProjects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // MATCH SIMPLE (the default on both databases): a team key's NULL user_id
                    // is not checked; a user key must point at a user of its own project.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_api_keys_user")
                            .from(
                                PosternApiKeys::Table,
                                (PosternApiKeys::ProjectId, PosternApiKeys::UserId),
                            )
                            .to(
                                PosternUsers::Table,
                                (PosternUsers::ProjectId, PosternUsers::Id),
                            )
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(
                        Expr::col(PosternApiKeys::UserId)
                            .is_null()
                            .ne(Expr::col(PosternApiKeys::TeamId).is_null()),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns, unique) in [
            (
                "ux_postern_api_keys_secret_hash",
                vec![PosternApiKeys::SecretHash],
                true,
            ),
            (
                "ix_postern_api_keys_user",
                vec![
                    PosternApiKeys::ProjectId,
                    PosternApiKeys::UserId,
                    PosternApiKeys::CreatedAt,
                ],
                false,
            ),
            (
                "ix_postern_api_keys_team",
                vec![
                    PosternApiKeys::ProjectId,
                    PosternApiKeys::TeamId,
                    PosternApiKeys::CreatedAt,
                ],
                false,
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(PosternApiKeys::Table);
            if unique {
                index.unique();
            }
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(PosternApiKeys::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
