//! Security: the sign-in confirmation of contact channels, the TOTP replay guard and the
//! account claim on users, and three tables: `postern_throttle` (failure runs and mail
//! windows), `postern_recovery_codes` (TOTP recovery codes, hashed) and
//! `postern_audit_events` (the append-only audit log).
//!
//! Rows written before this migration: a sign-in channel counts as confirmed for sign-in
//! when it is verified, or when it is its user's oldest sign-in address (the one the account
//! was most likely created with); other channels do not. An account counts as claimed when
//! it has a verified sign-in address; an existing TOTP secret counts as proven.
//! Unconfirmed channels stop reserving their address (`auth_value`).

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
    TotpSecret,
    TotpLastStep,
    TotpProven,
    ClaimedAt,
    TokensValidAfter,
}

#[derive(DeriveIden)]
enum PosternContactChannels {
    Table,
    Id,
    UserId,
    IsVerified,
    UsedForAuth,
    CreatedAt,
    AuthConfirmed,
    AuthValue,
    Value,
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
                    .add_column(boolean(PosternContactChannels::AuthConfirmed).default(false))
                    .to_owned(),
            )
            .await?;
        for column in [
            big_integer_null(PosternUsers::TotpLastStep),
            boolean(PosternUsers::TotpProven).default(false).to_owned(),
            big_integer_null(PosternUsers::ClaimedAt),
            big_integer_null(PosternUsers::TokensValidAfter),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(PosternUsers::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // Existing sign-in channels: confirmed when verified, or when the user's oldest one
        // (the address the account was most likely created with). A contact-only channel
        // stays unconfirmed, so turning its sign-in on later needs a proof.
        let c2 = Alias::new("c2");
        let oldest_auth = Query::select()
            .column((c2.clone(), PosternContactChannels::Id))
            .from_as(PosternContactChannels::Table, c2.clone())
            .and_where(
                Expr::col((c2.clone(), PosternContactChannels::UserId)).equals((
                    PosternContactChannels::Table,
                    PosternContactChannels::UserId,
                )),
            )
            .and_where(Expr::col((c2.clone(), PosternContactChannels::UsedForAuth)).eq(true))
            .order_by((c2.clone(), PosternContactChannels::CreatedAt), Order::Asc)
            .order_by((c2, PosternContactChannels::Id), Order::Asc)
            .limit(1)
            .to_owned();
        manager
            .exec_stmt(
                Query::update()
                    .table(PosternContactChannels::Table)
                    .value(PosternContactChannels::AuthConfirmed, true)
                    .cond_where(
                        Cond::any()
                            .add(
                                Expr::col(PosternContactChannels::IsVerified)
                                    .eq(true)
                                    .and(Expr::col(PosternContactChannels::UsedForAuth).eq(true)),
                            )
                            .add(
                                Expr::col((
                                    PosternContactChannels::Table,
                                    PosternContactChannels::Id,
                                ))
                                .in_subquery(oldest_auth),
                            ),
                    )
                    .to_owned(),
            )
            .await?;
        // Only confirmed sign-in channels reserve their address.
        manager
            .exec_stmt(
                Query::update()
                    .table(PosternContactChannels::Table)
                    .value(
                        PosternContactChannels::AuthValue,
                        Expr::value(Option::<String>::None),
                    )
                    .and_where(Expr::col(PosternContactChannels::AuthConfirmed).eq(false))
                    .to_owned(),
            )
            .await?;
        // Existing accounts with a verified sign-in address count as claimed; existing TOTP
        // secrets as proven.
        manager
            .exec_stmt(
                Query::update()
                    .table(PosternUsers::Table)
                    .value(PosternUsers::ClaimedAt, Expr::col(PosternUsers::SignedUpAt))
                    .and_where(
                        Expr::col((PosternUsers::Table, PosternUsers::Id)).in_subquery(
                            Query::select()
                                .column(PosternContactChannels::UserId)
                                .from(PosternContactChannels::Table)
                                .and_where(Expr::col(PosternContactChannels::IsVerified).eq(true))
                                .and_where(Expr::col(PosternContactChannels::UsedForAuth).eq(true))
                                .to_owned(),
                        ),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(PosternUsers::Table)
                    .value(PosternUsers::TotpProven, true)
                    .and_where(Expr::col(PosternUsers::TotpSecret).is_not_null())
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
        // Before this migration every sign-in channel reserved its address. If two accounts
        // now share one (one of them unconfirmed), this fails on the unique index and the
        // rollback stops: that state cannot be expressed without the confirmation.
        manager
            .exec_stmt(
                Query::update()
                    .table(PosternContactChannels::Table)
                    .value(
                        PosternContactChannels::AuthValue,
                        Expr::col(PosternContactChannels::Value),
                    )
                    .and_where(Expr::col(PosternContactChannels::UsedForAuth).eq(true))
                    .and_where(Expr::col(PosternContactChannels::AuthValue).is_null())
                    .to_owned(),
            )
            .await?;
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
                PosternUsers::TokensValidAfter.into_iden(),
            ),
            (
                PosternUsers::Table.into_iden(),
                PosternUsers::ClaimedAt.into_iden(),
            ),
            (
                PosternUsers::Table.into_iden(),
                PosternUsers::TotpProven.into_iden(),
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
