//! [`OutboxRepo`] over sea-orm.

use async_trait::async_trait;
use postern_core::storage::{OutboxRecord, OutboxRepo, OutboxStatus, StoreError, StoreResult};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};
use uuid::Uuid;

use super::SeaRepos;
use crate::entities::outbox;
use crate::store_error;

fn record(m: outbox::Model) -> StoreResult<OutboxRecord> {
    let status = OutboxStatus::parse(&m.status)
        .ok_or_else(|| StoreError::Backend(format!("unknown outbox status {}", m.status)))?;
    Ok(OutboxRecord {
        id: m.id,
        project_id: m.project_id,
        kind: m.kind,
        payload: m.payload,
        status,
        attempts: m.attempts,
        created_at_millis: m.created_at,
        next_attempt_at_millis: m.next_attempt_at,
        sent_at_millis: m.sent_at,
        last_error: m.last_error,
    })
}

fn all(models: Vec<outbox::Model>) -> StoreResult<Vec<OutboxRecord>> {
    models.into_iter().map(record).collect()
}

#[async_trait]
impl<C: ConnectionTrait + Send> OutboxRepo for SeaRepos<C> {
    async fn insert(&self, m: &OutboxRecord) -> StoreResult<()> {
        let model = outbox::ActiveModel {
            id: Set(m.id),
            project_id: Set(m.project_id.clone()),
            kind: Set(m.kind.clone()),
            payload: Set(m.payload.clone()),
            status: Set(m.status.as_str().to_owned()),
            attempts: Set(m.attempts),
            created_at: Set(m.created_at_millis),
            next_attempt_at: Set(m.next_attempt_at_millis),
            sent_at: Set(m.sent_at_millis),
            last_error: Set(m.last_error.clone()),
        };
        outbox::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn due(&self, now_millis: i64, limit: u64) -> StoreResult<Vec<OutboxRecord>> {
        all(outbox::Entity::find()
            .filter(outbox::Column::Status.eq(OutboxStatus::Pending.as_str()))
            .filter(outbox::Column::NextAttemptAt.lte(now_millis))
            .order_by_asc(outbox::Column::NextAttemptAt)
            .order_by_asc(outbox::Column::CreatedAt)
            .limit(limit)
            .all(&self.conn)
            .await
            .map_err(store_error)?)
    }

    async fn claim(
        &self,
        id: Uuid,
        seen_next_attempt_millis: i64,
        lease_until_millis: i64,
    ) -> StoreResult<bool> {
        let res = outbox::Entity::update_many()
            .col_expr(
                outbox::Column::NextAttemptAt,
                Expr::value(lease_until_millis),
            )
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::Status.eq(OutboxStatus::Pending.as_str()))
            .filter(outbox::Column::NextAttemptAt.eq(seen_next_attempt_millis))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected == 1)
    }

    async fn update(&self, m: &OutboxRecord) -> StoreResult<bool> {
        let model = outbox::ActiveModel {
            id: NotSet,
            project_id: NotSet,
            kind: NotSet,
            payload: Set(m.payload.clone()),
            status: Set(m.status.as_str().to_owned()),
            attempts: Set(m.attempts),
            created_at: NotSet,
            next_attempt_at: Set(m.next_attempt_at_millis),
            sent_at: Set(m.sent_at_millis),
            last_error: Set(m.last_error.clone()),
        };
        let res = outbox::Entity::update_many()
            .set(model)
            .filter(outbox::Column::Id.eq(m.id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn get(&self, id: Uuid) -> StoreResult<Option<OutboxRecord>> {
        outbox::Entity::find_by_id(id)
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(record)
            .transpose()
    }

    async fn list(&self, project_id: &str) -> StoreResult<Vec<OutboxRecord>> {
        all(outbox::Entity::find()
            .filter(outbox::Column::ProjectId.eq(project_id))
            .order_by_asc(outbox::Column::CreatedAt)
            .order_by_asc(outbox::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?)
    }
}
