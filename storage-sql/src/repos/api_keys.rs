//! [`ApiKeyRepo`] over sea-orm.

use async_trait::async_trait;
use postern_core::storage::{ApiKeyOwner, ApiKeyRecord, ApiKeyRepo, StoreError, StoreResult};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};
use uuid::Uuid;

use super::SeaRepos;
use crate::entities::api_key;
use crate::store_error;

fn record(m: api_key::Model) -> StoreResult<ApiKeyRecord> {
    let owner = match (m.user_id, m.team_id) {
        (Some(u), None) => ApiKeyOwner::User(u),
        (None, Some(t)) => ApiKeyOwner::Team(t),
        _ => {
            return Err(StoreError::Backend(format!(
                "API key {} has no single owner",
                m.id
            )));
        }
    };
    Ok(ApiKeyRecord {
        project_id: m.project_id,
        id: m.id,
        owner,
        description: m.description,
        is_public: m.is_public,
        secret_hash: m.secret_hash,
        last_four: m.last_four,
        created_at_millis: m.created_at,
        expires_at_millis: m.expires_at,
        revoked_at_millis: m.revoked_at,
    })
}

fn all(models: Vec<api_key::Model>) -> StoreResult<Vec<ApiKeyRecord>> {
    models.into_iter().map(record).collect()
}

#[async_trait]
impl<C: ConnectionTrait + Send> ApiKeyRepo for SeaRepos<C> {
    async fn insert(&self, k: &ApiKeyRecord) -> StoreResult<()> {
        let (user_id, team_id) = match k.owner {
            ApiKeyOwner::User(u) => (Some(u), None),
            ApiKeyOwner::Team(t) => (None, Some(t)),
        };
        let model = api_key::ActiveModel {
            id: Set(k.id),
            project_id: Set(k.project_id.clone()),
            user_id: Set(user_id),
            team_id: Set(team_id),
            description: Set(k.description.clone()),
            is_public: Set(k.is_public),
            secret_hash: Set(k.secret_hash.clone()),
            last_four: Set(k.last_four.clone()),
            created_at: Set(k.created_at_millis),
            expires_at: Set(k.expires_at_millis),
            revoked_at: Set(k.revoked_at_millis),
        };
        api_key::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn get(&self, project_id: &str, id: Uuid) -> StoreResult<Option<ApiKeyRecord>> {
        api_key::Entity::find()
            .filter(api_key::Column::ProjectId.eq(project_id))
            .filter(api_key::Column::Id.eq(id))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(record)
            .transpose()
    }

    async fn find_in_any_project(&self, id: Uuid) -> StoreResult<Option<ApiKeyRecord>> {
        api_key::Entity::find_by_id(id)
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(record)
            .transpose()
    }

    async fn list_for_user(
        &self,
        project_id: &str,
        user_id: Uuid,
    ) -> StoreResult<Vec<ApiKeyRecord>> {
        all(api_key::Entity::find()
            .filter(api_key::Column::ProjectId.eq(project_id))
            .filter(api_key::Column::UserId.eq(user_id))
            .order_by_desc(api_key::Column::CreatedAt)
            .order_by_desc(api_key::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?)
    }

    async fn list_for_team(
        &self,
        project_id: &str,
        team_id: Uuid,
    ) -> StoreResult<Vec<ApiKeyRecord>> {
        all(api_key::Entity::find()
            .filter(api_key::Column::ProjectId.eq(project_id))
            .filter(api_key::Column::TeamId.eq(team_id))
            .order_by_desc(api_key::Column::CreatedAt)
            .order_by_desc(api_key::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?)
    }

    async fn delete_for_team(&self, project_id: &str, team_id: Uuid) -> StoreResult<u64> {
        let res = api_key::Entity::delete_many()
            .filter(api_key::Column::ProjectId.eq(project_id))
            .filter(api_key::Column::TeamId.eq(team_id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected)
    }

    async fn update(&self, k: &ApiKeyRecord) -> StoreResult<bool> {
        let model = api_key::ActiveModel {
            id: NotSet,
            project_id: NotSet,
            user_id: NotSet,
            team_id: NotSet,
            description: Set(k.description.clone()),
            is_public: NotSet,
            secret_hash: NotSet,
            last_four: NotSet,
            created_at: NotSet,
            expires_at: Set(k.expires_at_millis),
            revoked_at: Set(k.revoked_at_millis),
        };
        let res = api_key::Entity::update_many()
            .set(model)
            .filter(api_key::Column::ProjectId.eq(k.project_id.as_str()))
            .filter(api_key::Column::Id.eq(k.id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn revoke_for_user(
        &self,
        project_id: &str,
        user_id: Uuid,
        at_millis: i64,
    ) -> StoreResult<u64> {
        let res = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(at_millis))
            .filter(api_key::Column::ProjectId.eq(project_id))
            .filter(api_key::Column::UserId.eq(user_id))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected)
    }
}
