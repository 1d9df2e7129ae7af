//! [`SessionRepo`] over sea-orm.

use async_trait::async_trait;
use postern_core::storage::{SessionRecord, SessionRepo, StoreResult};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};
use uuid::Uuid;

use super::SeaRepos;
use crate::entities::session;
use crate::store_error;

fn session_record(m: session::Model) -> SessionRecord {
    SessionRecord {
        project_id: m.project_id,
        id: m.id,
        user_id: m.user_id,
        token_hash: m.token_hash,
        created_at_millis: m.created_at,
        last_active_at_millis: m.last_active_at,
        expires_at_millis: m.expires_at,
        is_impersonation: m.is_impersonation,
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send> SessionRepo for SeaRepos<C> {
    async fn insert(&self, s: &SessionRecord) -> StoreResult<()> {
        let model = session::ActiveModel {
            id: Set(s.id),
            project_id: Set(s.project_id.clone()),
            user_id: Set(s.user_id),
            token_hash: Set(s.token_hash.clone()),
            created_at: Set(s.created_at_millis),
            last_active_at: Set(s.last_active_at_millis),
            expires_at: Set(s.expires_at_millis),
            is_impersonation: Set(s.is_impersonation),
        };
        session::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn get(&self, project_id: &str, id: Uuid) -> StoreResult<Option<SessionRecord>> {
        Ok(session::Entity::find()
            .filter(session::Column::ProjectId.eq(project_id))
            .filter(session::Column::Id.eq(id))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(session_record))
    }

    async fn find_by_token_hash(
        &self,
        project_id: &str,
        token_hash: &str,
    ) -> StoreResult<Option<SessionRecord>> {
        Ok(session::Entity::find()
            .filter(session::Column::ProjectId.eq(project_id))
            .filter(session::Column::TokenHash.eq(token_hash))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(session_record))
    }

    async fn list_for_user(
        &self,
        project_id: &str,
        user_id: Uuid,
    ) -> StoreResult<Vec<SessionRecord>> {
        Ok(session::Entity::find()
            .filter(session::Column::ProjectId.eq(project_id))
            .filter(session::Column::UserId.eq(user_id))
            .order_by_desc(session::Column::CreatedAt)
            .order_by_desc(session::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(session_record)
            .collect())
    }

    async fn delete(&self, project_id: &str, id: Uuid) -> StoreResult<bool> {
        let res = session::Entity::delete_many()
            .filter(session::Column::ProjectId.eq(project_id))
            .filter(session::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn delete_for_user(
        &self,
        project_id: &str,
        user_id: Uuid,
        except: Option<Uuid>,
    ) -> StoreResult<u64> {
        let mut delete = session::Entity::delete_many()
            .filter(session::Column::ProjectId.eq(project_id))
            .filter(session::Column::UserId.eq(user_id));
        if let Some(keep) = except {
            delete = delete.filter(session::Column::Id.ne(keep));
        }
        let res = delete.exec(&self.conn).await.map_err(store_error)?;
        Ok(res.rows_affected)
    }

    async fn touch(&self, project_id: &str, id: Uuid, at_millis: i64) -> StoreResult<bool> {
        let res = session::Entity::update_many()
            .col_expr(session::Column::LastActiveAt, Expr::val(at_millis))
            .filter(session::Column::ProjectId.eq(project_id))
            .filter(session::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }
}
