//! Security: the sign-in confirmation of contact channels, the TOTP replay guard and the
//! account claim on users, and three tables: `postern_throttle` (failure runs and mail
//! windows), `postern_recovery_codes` (TOTP recovery codes, hashed) and
//! `postern_audit_events` (the append-only audit log).
//!
//! Rows written before this migration are treated as confirmed and claimed: the rules they
//! were created under cannot be replayed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PosternProjects {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum PosternUsers {
    Table,
    Id,
    ProjectId,
    SignedUpAt,
    TotpLastStep,
    ClaimedAt,
}

#[derive(DeriveIden)]
enum PosternContactChannels {
    Table,
    AuthConfirmed,
}

#[derive(DeriveIden)]
enum PosternThrottle {
    Table,
    ProjectId,
    Key,
    Count,
    WindowStart,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PosternRecoveryCodes {
    Table,
    Id,
    ProjectId,
    UserId,
    CodeHash,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum PosternAuditEvents {
    Table,
    Id,
    ProjectId,
    At,
    EventType,
    UserId,
    Actor,
    Ip,
    Details,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one change per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(PosternContactChannels::Table)
                    .add_column(boolean(PosternContactChannels::AuthConfirmed).default(true))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PosternUsers::Table)
                    .add_column(big_integer_null(PosternUsers::TotpLastStep))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PosternUsers::Table)
                    .add_column(big_integer_null(PosternUsers::ClaimedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(PosternUsers::Table)
                    .value(PosternUsers::ClaimedAt, Expr::col(PosternUsers::SignedUpAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PosternThrottle::Table)
                    .col(text(PosternThrottle::ProjectId))
                    .col(text(PosternThrottle::Key))
                    .col(big_integer(PosternThrottle::Count))
                    .col(big_integer(PosternThrottle::WindowStart))
                    .col(big_integer(PosternThrottle::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(PosternThrottle::ProjectId)
                            .col(PosternThrottle::Key),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_throttle_updated")
                    .table(PosternThrottle::Table)
                    .col(PosternThrottle::UpdatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PosternRecoveryCodes::Table)
                    .col(uuid(PosternRecoveryCodes::Id).primary_key())
                    .col(text(PosternRecoveryCodes::ProjectId))
                    .col(uuid(PosternRecoveryCodes::UserId))
                    .col(text(PosternRecoveryCodes::CodeHash))
                    .col(big_integer(PosternRecoveryCodes::CreatedAt))
                    .col(big_integer_null(PosternRecoveryCodes::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_recovery_codes_user")
                            .from(
                                PosternRecoveryCodes::Table,
                                (
                                    PosternRecoveryCodes::ProjectId,
                                    PosternRecoveryCodes::UserId,
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
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_recovery_codes_user")
                    .table(PosternRecoveryCodes::Table)
                    .col(PosternRecoveryCodes::ProjectId)
                    .col(PosternRecoveryCodes::UserId)
                    .col(PosternRecoveryCodes::CodeHash)
                    .to_owned(),
            )
            .await?;

        // No foreign key to users: the log outlives the users it mentions.
        manager
            .create_table(
                Table::create()
                    .table(PosternAuditEvents::Table)
                    .col(uuid(PosternAuditEvents::Id).primary_key())
                    .col(text(PosternAuditEvents::ProjectId))
                    .col(big_integer(PosternAuditEvents::At))
                    .col(text(PosternAuditEvents::EventType))
                    .col(uuid_null(PosternAuditEvents::UserId))
                    .col(text(PosternAuditEvents::Actor))
                    .col(text_null(PosternAuditEvents::Ip))
                    .col(text(PosternAuditEvents::Details))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_audit_events_project")
                            .from(PosternAuditEvents::Table, PosternAuditEvents::ProjectId)
                            .to(PosternProjects::Table, PosternProjects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_audit_events_project")
                    .table(PosternAuditEvents::Table)
                    .col(PosternAuditEvents::ProjectId)
                    .col(PosternAuditEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_audit_events_user")
                    .table(PosternAuditEvents::Table)
                    .col(PosternAuditEvents::ProjectId)
                    .col(PosternAuditEvents::UserId)
                    .col(PosternAuditEvents::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PosternAuditEvents::Table.into_iden(),
            PosternRecoveryCodes::Table.into_iden(),
            PosternThrottle::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        for (table, column) in [
            (
                PosternUsers::Table.into_iden(),
                PosternUsers::ClaimedAt.into_iden(),
            ),
            (
                PosternUsers::Table.into_iden(),
                PosternUsers::TotpLastStep.into_iden(),
            ),
            (
                PosternContactChannels::Table.into_iden(),
                PosternContactChannels::AuthConfirmed.into_iden(),
            ),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
