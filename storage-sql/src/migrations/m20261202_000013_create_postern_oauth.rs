//! OAuth: `postern_oauth_accounts` (a user's accounts at providers; one row per user,
//! provider config id and provider account id; deleted with the user),
//! `postern_oauth_tokens` (their sealed provider tokens, deleted with the account) and
//! `postern_users.has_oauth`, kept in step by the OAuth repository so that reading a user
//! needs no join.
//!
//! Rows written before this migration: no user has a provider account.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PosternUsers {
    Table,
    Id,
    ProjectId,
    HasOauth,
}

#[derive(DeriveIden)]
enum PosternOauthAccounts {
    Table,
    Id,
    ProjectId,
    UserId,
    ProviderConfigId,
    ProviderAccountId,
    Email,
    AllowSignIn,
    AllowConnectedAccounts,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PosternOauthTokens {
    Table,
    Id,
    ProjectId,
    AccountId,
    Kind,
    SealedToken,
    Scopes,
    ExpiresAt,
    IsValid,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PosternOauthAccounts as A;
        use PosternOauthTokens as T;
        manager
            .alter_table(
                Table::alter()
                    .table(PosternUsers::Table)
                    .add_column(boolean(PosternUsers::HasOauth).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(uuid(A::Id).primary_key())
                    .col(text(A::ProjectId))
                    .col(uuid(A::UserId))
                    .col(text(A::ProviderConfigId))
                    .col(text(A::ProviderAccountId))
                    .col(text_null(A::Email))
                    .col(boolean(A::AllowSignIn))
                    .col(boolean(A::AllowConnectedAccounts))
                    .col(big_integer(A::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_oauth_accounts_user")
                            .from(A::Table, (A::ProjectId, A::UserId))
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
                    .name("ux_postern_oauth_accounts_user_account")
                    .table(A::Table)
                    .col(A::ProjectId)
                    .col(A::ProviderConfigId)
                    .col(A::ProviderAccountId)
                    .col(A::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_oauth_accounts_user")
                    .table(A::Table)
                    .col(A::ProjectId)
                    .col(A::UserId)
                    .col(A::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .col(uuid(T::Id).primary_key())
                    .col(text(T::ProjectId))
                    .col(uuid(T::AccountId))
                    .col(text(T::Kind))
                    .col(text(T::SealedToken))
                    .col(text(T::Scopes))
                    .col(big_integer_null(T::ExpiresAt))
                    .col(boolean(T::IsValid))
                    .col(big_integer(T::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_oauth_tokens_account")
                            .from(T::Table, T::AccountId)
                            .to(A::Table, A::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_oauth_tokens_account")
                    .table(T::Table)
                    .col(T::AccountId)
                    .col(T::Kind)
                    .col(T::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(PosternOauthTokens::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(PosternOauthAccounts::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PosternUsers::Table)
                    .drop_column(PosternUsers::HasOauth)
                    .to_owned(),
            )
            .await
    }
}
