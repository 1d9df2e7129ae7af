//! [`PasskeyRepo`] over sea-orm.

use async_trait::async_trait;
use postern_core::storage::{PasskeyRecord, PasskeyRepo, PasskeyUse, StoreError, StoreResult};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, ExprTrait, Query},
};
use uuid::Uuid;

use super::SeaRepos;
use crate::entities::{passkey as pk, user};
use crate::store_error;

fn record(m: pk::Model) -> StoreResult<PasskeyRecord> {
    let transports: Vec<String> = serde_json::from_str(&m.transports).map_err(|e| {
        StoreError::Backend(format!(
            "invalid JSON in column postern_passkeys.transports: {e}"
        ))
    })?;
    Ok(PasskeyRecord {
        project_id: m.project_id,
        id: m.id,
        user_id: m.user_id,
        credential_id: m.credential_id,
        name: m.name,
        credential: m.credential,
        algorithm: m.algorithm,
        counter: m.counter,
        transports,
        backup_eligible: m.backup_eligible,
        backup_state: m.backup_state,
        created_at_millis: m.created_at,
        last_used_at_millis: m.last_used_at,
    })
}

impl<C: ConnectionTrait + Send> SeaRepos<C> {
    /// Sets the user's `has_passkey` from the rows that exist now (one statement, so it
    /// is right whatever ran before it).
    async fn sync_has_passkey(&self, project_id: &str, user_id: Uuid) -> StoreResult<()> {
        let exists = Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(pk::Entity)
                .and_where(Expr::col((pk::Entity, pk::Column::ProjectId)).eq(project_id))
                .and_where(Expr::col((pk::Entity, pk::Column::UserId)).eq(user_id))
                .to_owned(),
        );
        user::Entity::update_many()
            .col_expr(user::Column::HasPasskey, exists)
            .filter(user::Column::ProjectId.eq(project_id))
            .filter(user::Column::Id.eq(user_id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send> PasskeyRepo for SeaRepos<C> {
    async fn insert(&self, p: &PasskeyRecord) -> StoreResult<()> {
        let transports = serde_json::to_string(&p.transports)
            .map_err(|e| StoreError::Backend(format!("JSON encoding: {e}")))?;
        let model = pk::ActiveModel {
            id: Set(p.id),
            project_id: Set(p.project_id.clone()),
            user_id: Set(p.user_id),
            credential_id: Set(p.credential_id.clone()),
            name: Set(p.name.clone()),
            credential: Set(p.credential.clone()),
            algorithm: Set(p.algorithm),
            counter: Set(p.counter),
            transports: Set(transports),
            backup_eligible: Set(p.backup_eligible),
            backup_state: Set(p.backup_state),
            created_at: Set(p.created_at_millis),
            last_used_at: Set(p.last_used_at_millis),
        };
        pk::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        self.sync_has_passkey(&p.project_id, p.user_id).await
    }

    async fn get(&self, project_id: &str, id: Uuid) -> StoreResult<Option<PasskeyRecord>> {
        pk::Entity::find()
            .filter(pk::Column::ProjectId.eq(project_id))
            .filter(pk::Column::Id.eq(id))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(record)
            .transpose()
    }

    async fn find_by_credential_id(
        &self,
        project_id: &str,
        credential_id: &str,
    ) -> StoreResult<Option<PasskeyRecord>> {
        pk::Entity::find()
            .filter(pk::Column::ProjectId.eq(project_id))
            .filter(pk::Column::CredentialId.eq(credential_id))
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
    ) -> StoreResult<Vec<PasskeyRecord>> {
        pk::Entity::find()
            .filter(pk::Column::ProjectId.eq(project_id))
            .filter(pk::Column::UserId.eq(user_id))
            .order_by_asc(pk::Column::CreatedAt)
            .order_by_asc(pk::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(record)
            .collect()
    }

    async fn rename(&self, project_id: &str, id: Uuid, name: Option<&str>) -> StoreResult<bool> {
        let res = pk::Entity::update_many()
            .col_expr(pk::Column::Name, Expr::value(name.map(str::to_owned)))
            .filter(pk::Column::ProjectId.eq(project_id))
            .filter(pk::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn record_use(&self, project_id: &str, id: Uuid, used: &PasskeyUse) -> StoreResult<bool> {
        // One conditional statement: of two sign-ins verified against the same counter,
        // one moves it.
        let res = pk::Entity::update_many()
            .col_expr(pk::Column::Counter, Expr::value(used.counter))
            .col_expr(pk::Column::Credential, Expr::value(used.credential.clone()))
            .col_expr(
                pk::Column::BackupEligible,
                Expr::value(used.backup_eligible),
            )
            .col_expr(pk::Column::BackupState, Expr::value(used.backup_state))
            .col_expr(pk::Column::LastUsedAt, Expr::value(used.at_millis))
            .filter(pk::Column::ProjectId.eq(project_id))
            .filter(pk::Column::Id.eq(id))
            .filter(pk::Column::Counter.eq(used.expected_counter))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn delete(&self, project_id: &str, id: Uuid) -> StoreResult<bool> {
        let Some(row) = PasskeyRepo::get(self, project_id, id).await? else {
            return Ok(false);
        };
        let res = pk::Entity::delete_many()
            .filter(pk::Column::ProjectId.eq(project_id))
            .filter(pk::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        self.sync_has_passkey(project_id, row.user_id).await?;
        Ok(res.rows_affected > 0)
    }

    async fn delete_for_user(&self, project_id: &str, user_id: Uuid) -> StoreResult<u64> {
        let res = pk::Entity::delete_many()
            .filter(pk::Column::ProjectId.eq(project_id))
            .filter(pk::Column::UserId.eq(user_id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        self.sync_has_passkey(project_id, user_id).await?;
        Ok(res.rows_affected)
    }
}
