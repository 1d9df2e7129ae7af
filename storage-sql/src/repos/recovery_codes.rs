//! [`RecoveryCodeRepo`] over sea-orm.

use async_trait::async_trait;
use postern_core::storage::{RecoveryCodeRecord, RecoveryCodeRepo, StoreResult};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    sea_query::Expr,
};
use uuid::Uuid;

use super::SeaRepos;
use crate::entities::recovery_code as rc;
use crate::store_error;

#[async_trait]
impl<C: ConnectionTrait + Send> RecoveryCodeRepo for SeaRepos<C> {
    async fn replace_for_user(
        &self,
        project_id: &str,
        user_id: Uuid,
        codes: &[RecoveryCodeRecord],
    ) -> StoreResult<()> {
        RecoveryCodeRepo::delete_for_user(self, project_id, user_id).await?;
        if codes.is_empty() {
            return Ok(());
        }
        let models = codes.iter().map(|c| rc::ActiveModel {
            id: Set(c.id),
            project_id: Set(project_id.to_owned()),
            user_id: Set(user_id),
            code_hash: Set(c.code_hash.clone()),
            created_at: Set(c.created_at_millis),
            used_at: Set(c.used_at_millis),
        });
        rc::Entity::insert_many(models)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn use_code(
        &self,
        project_id: &str,
        user_id: Uuid,
        code_hash: &str,
        at_millis: i64,
    ) -> StoreResult<bool> {
        // One conditional statement: of concurrent uses of a code, one wins.
        let res = rc::Entity::update_many()
            .col_expr(rc::Column::UsedAt, Expr::value(at_millis))
            .filter(rc::Column::ProjectId.eq(project_id))
            .filter(rc::Column::UserId.eq(user_id))
            .filter(rc::Column::CodeHash.eq(code_hash))
            .filter(rc::Column::UsedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn count_unused(&self, project_id: &str, user_id: Uuid) -> StoreResult<u64> {
        rc::Entity::find()
            .filter(rc::Column::ProjectId.eq(project_id))
            .filter(rc::Column::UserId.eq(user_id))
            .filter(rc::Column::UsedAt.is_null())
            .count(&self.conn)
            .await
            .map_err(store_error)
    }

    async fn delete_for_user(&self, project_id: &str, user_id: Uuid) -> StoreResult<u64> {
        let res = rc::Entity::delete_many()
            .filter(rc::Column::ProjectId.eq(project_id))
            .filter(rc::Column::UserId.eq(user_id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected)
    }
}
