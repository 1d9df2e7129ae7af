//! CLI login: `postern_cli_auth_attempts`, one row per attempt, found by the hash of either
//! of its codes (both unique).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PosternCliAuthAttempts {
    Table,
    Id,
    ProjectId,
    PollingCodeHash,
    LoginCodeHash,
    SealedRefreshToken,
    SealedAnonRefreshToken,
    ExpiresAt,
    UsedAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PosternCliAuthAttempts as C;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .col(uuid(C::Id).primary_key())
                    .col(text(C::ProjectId))
                    .col(text(C::PollingCodeHash))
                    .col(text(C::LoginCodeHash))
                    .col(text_null(C::SealedRefreshToken))
                    .col(text_null(C::SealedAnonRefreshToken))
                    .col(big_integer(C::ExpiresAt))
                    .col(big_integer_null(C::UsedAt))
                    .col(big_integer(C::CreatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ux_postern_cli_auth_polling", C::PollingCodeHash),
            ("ux_postern_cli_auth_login", C::LoginCodeHash),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(C::Table)
                        .col(C::ProjectId)
                        .col(col)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_cli_auth_expiry")
                    .table(C::Table)
                    .col(C::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(PosternCliAuthAttempts::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
