//! Passkeys: `postern_passkeys` (one row per WebAuthn credential, its credential id unique
//! per project, deleted with its user) and `postern_users.has_passkey`, the flag the
//! passkey repository keeps in step with a user's rows so that reading a user needs no
//! join.
//!
//! Rows written before this migration: no user has a passkey.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PosternUsers {
    Table,
    Id,
    ProjectId,
    HasPasskey,
}

#[derive(DeriveIden)]
enum PosternPasskeys {
    Table,
    Id,
    ProjectId,
    UserId,
    CredentialId,
    Name,
    Credential,
    Algorithm,
    Counter,
    Transports,
    BackupEligible,
    BackupState,
    CreatedAt,
    LastUsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PosternPasskeys as P;
        manager
            .alter_table(
                Table::alter()
                    .table(PosternUsers::Table)
                    .add_column(boolean(PosternUsers::HasPasskey).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(P::Table)
                    .col(uuid(P::Id).primary_key())
                    .col(text(P::ProjectId))
                    .col(uuid(P::UserId))
                    .col(text(P::CredentialId))
                    .col(text_null(P::Name))
                    .col(text(P::Credential))
                    .col(integer(P::Algorithm))
                    .col(big_integer(P::Counter))
                    .col(text(P::Transports))
                    .col(boolean(P::BackupEligible))
                    .col(boolean(P::BackupState))
                    .col(big_integer(P::CreatedAt))
                    .col(big_integer_null(P::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_passkeys_user")
                            .from(P::Table, (P::ProjectId, P::UserId))
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
                    .name("ux_postern_passkeys_credential")
                    .table(P::Table)
                    .col(P::ProjectId)
                    .col(P::CredentialId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_passkeys_user")
                    .table(P::Table)
                    .col(P::ProjectId)
                    .col(P::UserId)
                    .col(P::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(PosternPasskeys::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PosternUsers::Table)
                    .drop_column(PosternUsers::HasPasskey)
                    .to_owned(),
            )
            .await
    }
}
