//! Creates the webhook tables: `postern_webhook_endpoints` (where events go, with sealed
//! signing secrets), `postern_webhook_deliveries` (one row per outbox event and endpoint,
//! claimed with a lease like the mail outbox) and `postern_webhook_attempts` (the delivery
//! log). Deleting a project deletes its endpoints; deleting an endpoint deletes its
//! deliveries and attempts.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PosternWebhookEndpoints {
    Table,
    Id,
    ProjectId,
    Url,
    Description,
    EventTypes,
    Enabled,
    Secret,
    PreviousSecret,
    PreviousSecretUntil,
    AllowPrivateAddresses,
    Declared,
    FailingSince,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PosternWebhookDeliveries {
    Table,
    Id,
    ProjectId,
    MessageId,
    EndpointId,
    Status,
    Attempts,
    NextAttemptAt,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum PosternWebhookAttempts {
    Table,
    Id,
    ProjectId,
    DeliveryId,
    MessageId,
    EndpointId,
    Url,
    Success,
    ResponseStatusCode,
    Response,
    LatencyMillis,
    At,
    Trigger,
}

#[derive(DeriveIden)]
enum PosternProjects {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use PosternWebhookAttempts as A;
        use PosternWebhookDeliveries as D;
        use PosternWebhookEndpoints as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .col(uuid(E::Id).primary_key())
                    .col(text(E::ProjectId))
                    .col(text(E::Url))
                    .col(text(E::Description))
                    .col(text_null(E::EventTypes))
                    .col(boolean(E::Enabled))
                    .col(text(E::Secret))
                    .col(text_null(E::PreviousSecret))
                    .col(big_integer_null(E::PreviousSecretUntil))
                    .col(boolean(E::AllowPrivateAddresses))
                    .col(boolean(E::Declared))
                    .col(big_integer_null(E::FailingSince))
                    .col(big_integer(E::CreatedAt))
                    .col(big_integer(E::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_webhook_endpoints_project")
                            .from(E::Table, E::ProjectId)
                            .to(PosternProjects::Table, PosternProjects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_webhook_endpoints_project")
                    .table(E::Table)
                    .col(E::ProjectId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(D::Table)
                    .col(uuid(D::Id).primary_key())
                    .col(text(D::ProjectId))
                    .col(uuid(D::MessageId))
                    .col(uuid(D::EndpointId))
                    .col(text(D::Status))
                    .col(integer(D::Attempts))
                    .col(big_integer(D::NextAttemptAt))
                    .col(big_integer(D::CreatedAt))
                    .col(big_integer_null(D::FinishedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_webhook_deliveries_endpoint")
                            .from(D::Table, D::EndpointId)
                            .to(E::Table, E::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // An endpoint's head: its oldest pending delivery.
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_webhook_deliveries_endpoint")
                    .table(D::Table)
                    .col(D::EndpointId)
                    .col(D::Status)
                    .col(D::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_webhook_deliveries_due")
                    .table(D::Table)
                    .col(D::Status)
                    .col(D::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_postern_webhook_deliveries_message")
                    .table(D::Table)
                    .col(D::MessageId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .col(uuid(A::Id).primary_key())
                    .col(text(A::ProjectId))
                    .col(uuid(A::DeliveryId))
                    .col(uuid(A::MessageId))
                    .col(uuid(A::EndpointId))
                    .col(text(A::Url))
                    .col(boolean(A::Success))
                    .col(integer_null(A::ResponseStatusCode))
                    .col(text(A::Response))
                    .col(big_integer(A::LatencyMillis))
                    .col(big_integer(A::At))
                    .col(text(A::Trigger))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_postern_webhook_attempts_endpoint")
                            .from(A::Table, A::EndpointId)
                            .to(E::Table, E::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_postern_webhook_attempts_endpoint", A::EndpointId),
            ("ix_postern_webhook_attempts_message", A::MessageId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(A::Table)
                        .col(col)
                        .col(A::Id)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            PosternWebhookAttempts::Table.into_iden(),
            PosternWebhookDeliveries::Table.into_iden(),
            PosternWebhookEndpoints::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
