//! [`ProjectRepo`] over sea-orm.

use async_trait::async_trait;
use postern_core::storage::{ApiKeySetRecord, KeyKind, ProjectRecord, ProjectRepo, StoreResult};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::{SeaRepos, json_text, parse_json};
use crate::entities::{api_key_set, project};
use crate::store_error;

fn project_record(m: project::Model) -> StoreResult<ProjectRecord> {
    Ok(ProjectRecord {
        config: parse_json("postern_projects.config", &m.config)?,
        id: m.id,
        display_name: m.display_name,
        created_at_millis: m.created_at,
        owner_team_id: m.owner_team_id,
        config_version: m.config_version,
    })
}

fn key_set_record(m: api_key_set::Model) -> ApiKeySetRecord {
    ApiKeySetRecord {
        id: m.id,
        project_id: m.project_id,
        description: m.description,
        publishable_client_key_hash: m.publishable_client_key_hash,
        secret_server_key_hash: m.secret_server_key_hash,
        super_secret_admin_key_hash: m.super_secret_admin_key_hash,
        created_at_millis: m.created_at,
        expires_at_millis: m.expires_at,
        revoked_at_millis: m.revoked_at,
    }
}

fn key_column(kind: KeyKind) -> api_key_set::Column {
    match kind {
        KeyKind::PublishableClient => api_key_set::Column::PublishableClientKeyHash,
        KeyKind::SecretServer => api_key_set::Column::SecretServerKeyHash,
        KeyKind::SuperSecretAdmin => api_key_set::Column::SuperSecretAdminKeyHash,
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send> ProjectRepo for SeaRepos<C> {
    async fn get(&self, id: &str) -> StoreResult<Option<ProjectRecord>> {
        project::Entity::find_by_id(id)
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(project_record)
            .transpose()
    }

    async fn insert(&self, p: &ProjectRecord) -> StoreResult<()> {
        let model = project::ActiveModel {
            id: Set(p.id.clone()),
            display_name: Set(p.display_name.clone()),
            config: Set(json_text(&p.config)?),
            created_at: Set(p.created_at_millis),
            owner_team_id: Set(p.owner_team_id),
            config_version: Set(p.config_version),
        };
        project::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn update(&self, p: &ProjectRecord) -> StoreResult<bool> {
        let model = project::ActiveModel {
            id: NotSet,
            display_name: Set(p.display_name.clone()),
            config: Set(json_text(&p.config)?),
            created_at: NotSet,
            owner_team_id: Set(p.owner_team_id),
            config_version: Set(p.config_version + 1),
        };
        let res = project::Entity::update_many()
            .set(model)
            .filter(project::Column::Id.eq(p.id.as_str()))
            .filter(project::Column::ConfigVersion.eq(p.config_version))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn list(&self) -> StoreResult<Vec<ProjectRecord>> {
        project::Entity::find()
            .order_by_asc(project::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(project_record)
            .collect()
    }

    async fn insert_key_set(&self, k: &ApiKeySetRecord) -> StoreResult<()> {
        let model = api_key_set::ActiveModel {
            id: Set(k.id),
            project_id: Set(k.project_id.clone()),
            description: Set(k.description.clone()),
            publishable_client_key_hash: Set(k.publishable_client_key_hash.clone()),
            secret_server_key_hash: Set(k.secret_server_key_hash.clone()),
            super_secret_admin_key_hash: Set(k.super_secret_admin_key_hash.clone()),
            created_at: Set(k.created_at_millis),
            expires_at: Set(k.expires_at_millis),
            revoked_at: Set(k.revoked_at_millis),
        };
        api_key_set::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn find_key_set(
        &self,
        project_id: &str,
        kind: KeyKind,
        key_hash: &str,
    ) -> StoreResult<Option<ApiKeySetRecord>> {
        Ok(api_key_set::Entity::find()
            .filter(api_key_set::Column::ProjectId.eq(project_id))
            .filter(key_column(kind).eq(key_hash))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(key_set_record))
    }

    async fn list_key_sets(&self, project_id: &str) -> StoreResult<Vec<ApiKeySetRecord>> {
        Ok(api_key_set::Entity::find()
            .filter(api_key_set::Column::ProjectId.eq(project_id))
            .order_by_asc(api_key_set::Column::CreatedAt)
            .order_by_asc(api_key_set::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(key_set_record)
            .collect())
    }

    async fn update_key_set(&self, k: &ApiKeySetRecord) -> StoreResult<bool> {
        let res = api_key_set::Entity::update_many()
            .col_expr(
                api_key_set::Column::Description,
                sea_orm::sea_query::Expr::value(k.description.clone()),
            )
            .col_expr(
                api_key_set::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(k.revoked_at_millis),
            )
            .filter(api_key_set::Column::ProjectId.eq(k.project_id.as_str()))
            .filter(api_key_set::Column::Id.eq(k.id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn delete_key_set(&self, project_id: &str, id: Uuid) -> StoreResult<bool> {
        let res = api_key_set::Entity::delete_many()
            .filter(api_key_set::Column::ProjectId.eq(project_id))
            .filter(api_key_set::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }
}
