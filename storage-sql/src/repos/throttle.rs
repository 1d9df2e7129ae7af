//! [`ThrottleRepo`] over sea-orm: counters updated by one atomic statement each.

use async_trait::async_trait;
use postern_core::storage::{StoreResult, ThrottleRecord, ThrottleRepo};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::{Alias, Expr, ExprTrait, OnConflict},
};

use super::SeaRepos;
use crate::entities::throttle;
use crate::store_error;

fn record(m: throttle::Model) -> ThrottleRecord {
    ThrottleRecord {
        project_id: m.project_id,
        key: m.key,
        count: m.count,
        window_start_millis: m.window_start,
        updated_at_millis: m.updated_at,
    }
}

/// The stored row's column (in `ON CONFLICT DO UPDATE`).
fn stored(c: throttle::Column) -> Expr {
    Expr::col((throttle::Entity, c))
}

#[async_trait]
impl<C: ConnectionTrait + Send> ThrottleRepo for SeaRepos<C> {
    async fn hit(
        &self,
        project_id: &str,
        key: &str,
        window_start_millis: i64,
        now_millis: i64,
    ) -> StoreResult<ThrottleRecord> {
        // A counter of an earlier window starts over at one.
        let restart = stored(throttle::Column::WindowStart).lt(window_start_millis);
        let model = throttle::ActiveModel {
            project_id: Set(project_id.to_owned()),
            key: Set(key.to_owned()),
            count: Set(1),
            window_start: Set(window_start_millis),
            updated_at: Set(now_millis),
        };
        let count =
            Expr::case(restart.clone(), 1i64).finally(stored(throttle::Column::Count).add(1i64));
        let window =
            Expr::case(restart, window_start_millis).finally(stored(throttle::Column::WindowStart));
        let model = throttle::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([throttle::Column::ProjectId, throttle::Column::Key])
                    .value(throttle::Column::Count, count)
                    .value(throttle::Column::WindowStart, window)
                    .value(
                        throttle::Column::UpdatedAt,
                        Expr::col((Alias::new("excluded"), throttle::Column::UpdatedAt)),
                    )
                    .to_owned(),
            )
            .exec_with_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(record(model))
    }

    async fn reserve(
        &self,
        project_id: &str,
        key: &str,
        now_millis: i64,
    ) -> StoreResult<ThrottleRecord> {
        let model = throttle::ActiveModel {
            project_id: Set(project_id.to_owned()),
            key: Set(key.to_owned()),
            count: Set(1),
            window_start: Set(now_millis),
            updated_at: Set(0),
        };
        let model = throttle::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([throttle::Column::ProjectId, throttle::Column::Key])
                    .value(
                        throttle::Column::Count,
                        stored(throttle::Column::Count).add(1i64),
                    )
                    .to_owned(),
            )
            .exec_with_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(record(model))
    }

    async fn release(&self, project_id: &str, key: &str) -> StoreResult<()> {
        throttle::Entity::update_many()
            .col_expr(
                throttle::Column::Count,
                Expr::col(throttle::Column::Count).sub(1i64),
            )
            .filter(throttle::Column::ProjectId.eq(project_id))
            .filter(throttle::Column::Key.eq(key))
            .filter(throttle::Column::Count.gt(0i64))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn fail(&self, project_id: &str, key: &str, now_millis: i64) -> StoreResult<()> {
        throttle::Entity::update_many()
            .col_expr(throttle::Column::UpdatedAt, Expr::value(now_millis))
            .filter(throttle::Column::ProjectId.eq(project_id))
            .filter(throttle::Column::Key.eq(key))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn get(&self, project_id: &str, key: &str) -> StoreResult<Option<ThrottleRecord>> {
        Ok(throttle::Entity::find()
            .filter(throttle::Column::ProjectId.eq(project_id))
            .filter(throttle::Column::Key.eq(key))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(record))
    }

    async fn clear(&self, project_id: &str, key: &str) -> StoreResult<bool> {
        let res = throttle::Entity::delete_many()
            .filter(throttle::Column::ProjectId.eq(project_id))
            .filter(throttle::Column::Key.eq(key))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn purge(&self, before_millis: i64) -> StoreResult<u64> {
        let res = throttle::Entity::delete_many()
            .filter(throttle::Column::UpdatedAt.lt(before_millis))
            .filter(throttle::Column::WindowStart.lt(before_millis))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected)
    }
}
