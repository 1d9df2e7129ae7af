//! Creates projects, API key sets, users, contact channels and sessions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PosternProjects {
    Table,
    Id,
    DisplayName,
    Config,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PosternApiKeySets {
    Table,
    Id,
    ProjectId,
    Description,
    PublishableClientKeyHash,
    SecretServerKeyHash,
    SuperSecretAdminKeyHash,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum PosternUsers {
    Table,
    Id,
    ProjectId,
    DisplayName,
    ProfileImageUrl,
    ClientMetadata,
    ClientReadOnlyMetadata,
    ServerMetadata,
    PasswordHash,
    OtpAuthEnabled,
    TotpSecret,
    SelectedTeamId,
    IsAnonymous,
    RestrictedByAdmin,
    RestrictedByAdminReason,
    RestrictedByAdminPrivateDetails,
    CountryCode,
    RiskScoreBot,
    RiskScoreFreeTrialAbuse,
    SignedUpAt,
    LastActiveAt,
}

#[derive(DeriveIden)]
enum PosternContactChannels {
    Table,
    Id,
    ProjectId,
    UserId,
    Type,
    Value,
    IsPrimary,
    IsVerified,
    UsedForAuth,
    CreatedAt,
    AuthValue,
    PrimaryOf,
}

#[derive(DeriveIden)]
enum PosternSessions {
    Table,
    Id,
    ProjectId,
    UserId,
    TokenHash,
    CreatedAt,
    LastActiveAt,
    ExpiresAt,
    IsImpersonation,
}

/// `project_id TEXT NOT NULL REFERENCES postern_projects(id) ON DELETE CASCADE`.
fn project_fk(
    name: &str,
    table: impl IntoIden,
    column: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table.into_iden(), column)
        .to(PosternProjects::Table, PosternProjects::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// `(project_id, user_id) REFERENCES postern_users(project_id, id) ON DELETE CASCADE`:
/// a child row can only point at a user of its own project.
fn user_fk(
    name: &str,
    table: impl IntoIden,
    project_column: impl IntoIden,
    user_column: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table.into_iden(), (project_column, user_column))
        .to(
            PosternUsers::Table,
            (PosternUsers::ProjectId, PosternUsers::Id),
        )
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PosternProjects::Table)
                    .col(text(PosternProjects::Id).primary_key())
                    .col(text(PosternProjects::DisplayName))
                    .col(text(PosternProjects::Config))
                    .col(big_integer(PosternProjects::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PosternApiKeySets::Table)
                    .col(uuid(PosternApiKeySets::Id).primary_key())
                    .col(text(PosternApiKeySets::ProjectId))
                    .col(text(PosternApiKeySets::Description))
                    .col(text_null(PosternApiKeySets::PublishableClientKeyHash))
                    .col(text_null(PosternApiKeySets::SecretServerKeyHash))
                    .col(text_null(PosternApiKeySets::SuperSecretAdminKeyHash))
                    .col(big_integer(PosternApiKeySets::CreatedAt))
                    .col(big_integer_null(PosternApiKeySets::ExpiresAt))
                    .col(big_integer_null(PosternApiKeySets::RevokedAt))
                    .foreign_key(&mut project_fk(
                        "fk_postern_api_key_sets_project",
                        PosternApiKeySets::Table,
                        PosternApiKeySets::ProjectId,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            (
                "ux_postern_api_key_sets_publishable_client_key_hash",
                PosternApiKeySets::PublishableClientKeyHash,
            ),
            (
                "ux_postern_api_key_sets_secret_server_key_hash",
                PosternApiKeySets::SecretServerKeyHash,
            ),
            (
                "ux_postern_api_key_sets_super_secret_admin_key_hash",
                PosternApiKeySets::SuperSecretAdminKeyHash,
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(PosternApiKeySets::Table)
                        .col(column)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_api_key_sets_project")
                    .table(PosternApiKeySets::Table)
                    .col(PosternApiKeySets::ProjectId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PosternUsers::Table)
                    .col(uuid(PosternUsers::Id).primary_key())
                    .col(text(PosternUsers::ProjectId))
                    .col(text_null(PosternUsers::DisplayName))
                    .col(text_null(PosternUsers::ProfileImageUrl))
                    .col(text_null(PosternUsers::ClientMetadata))
                    .col(text_null(PosternUsers::ClientReadOnlyMetadata))
                    .col(text_null(PosternUsers::ServerMetadata))
                    .col(text_null(PosternUsers::PasswordHash))
                    .col(boolean(PosternUsers::OtpAuthEnabled))
                    .col(blob_null(PosternUsers::TotpSecret))
                    .col(uuid_null(PosternUsers::SelectedTeamId))
                    .col(boolean(PosternUsers::IsAnonymous))
                    .col(boolean(PosternUsers::RestrictedByAdmin))
                    .col(text_null(PosternUsers::RestrictedByAdminReason))
                    .col(text_null(PosternUsers::RestrictedByAdminPrivateDetails))
                    .col(text_null(PosternUsers::CountryCode))
                    .col(integer(PosternUsers::RiskScoreBot))
                    .col(integer(PosternUsers::RiskScoreFreeTrialAbuse))
                    .col(big_integer(PosternUsers::SignedUpAt))
                    .col(big_integer(PosternUsers::LastActiveAt))
                    .foreign_key(&mut project_fk(
                        "fk_postern_users_project",
                        PosternUsers::Table,
                        PosternUsers::ProjectId,
                    ))
                    .to_owned(),
            )
            .await?;
        // Target of the (project_id, user_id) foreign keys below.
        manager
            .create_index(
                Index::create()
                    .name("ux_postern_users_project_id")
                    .table(PosternUsers::Table)
                    .col(PosternUsers::ProjectId)
                    .col(PosternUsers::Id)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // User list pages: ordered by (signed_up_at, id) within a project.
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_users_project_signed_up")
                    .table(PosternUsers::Table)
                    .col(PosternUsers::ProjectId)
                    .col(PosternUsers::SignedUpAt)
                    .col(PosternUsers::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PosternContactChannels::Table)
                    .col(uuid(PosternContactChannels::Id).primary_key())
                    .col(text(PosternContactChannels::ProjectId))
                    .col(uuid(PosternContactChannels::UserId))
                    .col(text(PosternContactChannels::Type))
                    .col(text(PosternContactChannels::Value))
                    .col(boolean(PosternContactChannels::IsPrimary))
                    .col(boolean(PosternContactChannels::IsVerified))
                    .col(boolean(PosternContactChannels::UsedForAuth))
                    .col(big_integer(PosternContactChannels::CreatedAt))
                    .col(text_null(PosternContactChannels::AuthValue))
                    .col(text_null(PosternContactChannels::PrimaryOf))
                    .foreign_key(&mut project_fk(
                        "fk_postern_contact_channels_project",
                        PosternContactChannels::Table,
                        PosternContactChannels::ProjectId,
                    ))
                    .foreign_key(&mut user_fk(
                        "fk_postern_contact_channels_user",
                        PosternContactChannels::Table,
                        PosternContactChannels::ProjectId,
                        PosternContactChannels::UserId,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "ux_postern_contact_channels_user_value",
                vec![
                    PosternContactChannels::ProjectId,
                    PosternContactChannels::UserId,
                    PosternContactChannels::Type,
                    PosternContactChannels::Value,
                ],
            ),
            (
                "ux_postern_contact_channels_auth_value",
                vec![
                    PosternContactChannels::ProjectId,
                    PosternContactChannels::Type,
                    PosternContactChannels::AuthValue,
                ],
            ),
            (
                "ux_postern_contact_channels_primary_of",
                vec![PosternContactChannels::PrimaryOf],
            ),
        ] {
            let mut index = Index::create();
            index
                .name(name)
                .table(PosternContactChannels::Table)
                .unique();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(PosternSessions::Table)
                    .col(uuid(PosternSessions::Id).primary_key())
                    .col(text(PosternSessions::ProjectId))
                    .col(uuid(PosternSessions::UserId))
                    .col(text(PosternSessions::TokenHash))
                    .col(big_integer(PosternSessions::CreatedAt))
                    .col(big_integer(PosternSessions::LastActiveAt))
                    .col(big_integer_null(PosternSessions::ExpiresAt))
                    .col(boolean(PosternSessions::IsImpersonation))
                    .foreign_key(&mut project_fk(
                        "fk_postern_sessions_project",
                        PosternSessions::Table,
                        PosternSessions::ProjectId,
                    ))
                    .foreign_key(&mut user_fk(
                        "fk_postern_sessions_user",
                        PosternSessions::Table,
                        PosternSessions::ProjectId,
                        PosternSessions::UserId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_postern_sessions_token_hash")
                    .table(PosternSessions::Table)
                    .col(PosternSessions::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_sessions_project_user")
                    .table(PosternSessions::Table)
                    .col(PosternSessions::ProjectId)
                    .col(PosternSessions::UserId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PosternSessions::Table.into_iden(),
            PosternContactChannels::Table.into_iden(),
            PosternUsers::Table.into_iden(),
            PosternApiKeySets::Table.into_iden(),
            PosternProjects::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
