//! [`ThrottleRepo`] over sea-orm: counters updated by one atomic upsert each.

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

impl<C: ConnectionTrait + Send> SeaRepos<C> {
    /// Inserts the counter at one, or updates the stored one: when `restart` holds for the
    /// stored row the counter starts over at one from `start`, else it grows by one.
    async fn upsert_counter(
        &self,
        project_id: &str,
        key: &str,
        start: i64,
        now: i64,
        restart: Expr,
    ) -> StoreResult<ThrottleRecord> {
        let model = throttle::ActiveModel {
            project_id: Set(project_id.to_owned()),
            key: Set(key.to_owned()),
            count: Set(1),
            window_start: Set(start),
            updated_at: Set(now),
        };
        let count =
            Expr::case(restart.clone(), 1i64).finally(stored(throttle::Column::Count).add(1i64));
        let window = Expr::case(restart, start).finally(stored(throttle::Column::WindowStart));
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
        let restart = stored(throttle::Column::WindowStart).lt(window_start_millis);
        self.upsert_counter(project_id, key, window_start_millis, now_millis, restart)
            .await
    }

    async fn add_failure(
        &self,
        project_id: &str,
        key: &str,
        now_millis: i64,
        reset_before_millis: i64,
    ) -> StoreResult<ThrottleRecord> {
        let restart = stored(throttle::Column::UpdatedAt).lt(reset_before_millis);
        self.upsert_counter(project_id, key, now_millis, now_millis, restart)
            .await
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
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected)
    }
}
