//! Creates `postern_verification_codes` (codes stored as hashes) and `postern_outbox`
//! (messages recorded with the change that causes them, delivered after commit).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PosternVerificationCodes {
    Table,
    Id,
    ProjectId,
    Purpose,
    CodeHash,
    NonceHash,
    UserId,
    Data,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    AttemptCount,
}

#[derive(DeriveIden)]
enum PosternOutbox {
    Table,
    Id,
    ProjectId,
    Kind,
    Payload,
    Status,
    Attempts,
    CreatedAt,
    NextAttemptAt,
    SentAt,
    LastError,
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
                    .table(PosternVerificationCodes::Table)
                    .col(uuid(PosternVerificationCodes::Id).primary_key())
                    .col(text(PosternVerificationCodes::ProjectId))
                    .col(text(PosternVerificationCodes::Purpose))
                    .col(text(PosternVerificationCodes::CodeHash))
                    .col(text(PosternVerificationCodes::NonceHash))
                    .col(uuid_null(PosternVerificationCodes::UserId))
                    .col(text(PosternVerificationCodes::Data))
                    .col(big_integer(PosternVerificationCodes::CreatedAt))
                    .col(big_integer(PosternVerificationCodes::ExpiresAt))
                    .col(big_integer_null(PosternVerificationCodes::UsedAt))
                    .col(integer(PosternVerificationCodes::AttemptCount))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_codes_project")
                            .from(
                                PosternVerificationCodes::Table,
                                PosternVerificationCodes::ProjectId,
                            )
                            .to(PosternProjects::Table, PosternProjects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // A code acting on a user goes with the user (MATCH SIMPLE: codes
                    // without a user are not checked).
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_codes_user")
                            .from(
                                PosternVerificationCodes::Table,
                                (
                                    PosternVerificationCodes::ProjectId,
                                    PosternVerificationCodes::UserId,
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
        for (name, columns, unique) in [
            (
                "ux_postern_codes_hash",
                vec![PosternVerificationCodes::CodeHash],
                true,
            ),
            (
                "ix_postern_codes_nonce",
                vec![
                    PosternVerificationCodes::ProjectId,
                    PosternVerificationCodes::NonceHash,
                ],
                false,
            ),
            (
                "ix_postern_codes_user",
                vec![
                    PosternVerificationCodes::ProjectId,
                    PosternVerificationCodes::UserId,
                ],
                false,
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(PosternVerificationCodes::Table);
            if unique {
                index.unique();
            }
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(PosternOutbox::Table)
                    .col(uuid(PosternOutbox::Id).primary_key())
                    .col(text(PosternOutbox::ProjectId))
                    .col(text(PosternOutbox::Kind))
                    .col(text(PosternOutbox::Payload))
                    .col(text(PosternOutbox::Status))
                    .col(integer(PosternOutbox::Attempts))
                    .col(big_integer(PosternOutbox::CreatedAt))
                    .col(big_integer(PosternOutbox::NextAttemptAt))
                    .col(big_integer_null(PosternOutbox::SentAt))
                    .col(text_null(PosternOutbox::LastError))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_outbox_project")
                            .from(PosternOutbox::Table, PosternOutbox::ProjectId)
                            .to(PosternProjects::Table, PosternProjects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_outbox_due")
                    .table(PosternOutbox::Table)
                    .col(PosternOutbox::Status)
                    .col(PosternOutbox::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PosternOutbox::Table.into_iden(),
            PosternVerificationCodes::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
