//! [`CodeRepo`] over sea-orm.

use async_trait::async_trait;
use postern_core::storage::{
    CodePurpose, CodeRepo, StoreError, StoreResult, VerificationCodeRecord,
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use super::{SeaRepos, json_text, parse_json};
use crate::entities::verification_code;
use crate::store_error;

fn record(m: verification_code::Model) -> StoreResult<VerificationCodeRecord> {
    let purpose = CodePurpose::parse(&m.purpose).ok_or_else(|| {
        StoreError::Backend(format!("unknown verification code purpose {}", m.purpose))
    })?;
    Ok(VerificationCodeRecord {
        project_id: m.project_id,
        id: m.id,
        purpose,
        code_hash: m.code_hash,
        nonce_hash: m.nonce_hash,
        user_id: m.user_id,
        data: parse_json("data", &m.data)?,
        created_at_millis: m.created_at,
        expires_at_millis: m.expires_at,
        used_at_millis: m.used_at,
        attempt_count: m.attempt_count,
    })
}

#[async_trait]
impl<C: ConnectionTrait + Send> CodeRepo for SeaRepos<C> {
    async fn insert(&self, c: &VerificationCodeRecord) -> StoreResult<()> {
        let model = verification_code::ActiveModel {
            id: Set(c.id),
            project_id: Set(c.project_id.clone()),
            purpose: Set(c.purpose.as_str().to_owned()),
            code_hash: Set(c.code_hash.clone()),
            nonce_hash: Set(c.nonce_hash.clone()),
            user_id: Set(c.user_id),
            data: Set(json_text(&c.data)?),
            created_at: Set(c.created_at_millis),
            expires_at: Set(c.expires_at_millis),
            used_at: Set(c.used_at_millis),
            attempt_count: Set(c.attempt_count),
        };
        verification_code::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn find_by_nonce(
        &self,
        project_id: &str,
        purpose: CodePurpose,
        nonce_hash: &str,
    ) -> StoreResult<Option<VerificationCodeRecord>> {
        verification_code::Entity::find()
            .filter(verification_code::Column::ProjectId.eq(project_id))
            .filter(verification_code::Column::Purpose.eq(purpose.as_str()))
            .filter(verification_code::Column::NonceHash.eq(nonce_hash))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(record)
            .transpose()
    }

    async fn count_attempt(&self, project_id: &str, nonce_hash: &str) -> StoreResult<u64> {
        let res = verification_code::Entity::update_many()
            .col_expr(
                verification_code::Column::AttemptCount,
                Expr::col(verification_code::Column::AttemptCount).add(1),
            )
            .filter(verification_code::Column::ProjectId.eq(project_id))
            .filter(verification_code::Column::NonceHash.eq(nonce_hash))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected)
    }

    async fn mark_used(&self, project_id: &str, id: Uuid, at_millis: i64) -> StoreResult<bool> {
        let res = verification_code::Entity::update_many()
            .col_expr(verification_code::Column::UsedAt, Expr::value(at_millis))
            .filter(verification_code::Column::ProjectId.eq(project_id))
            .filter(verification_code::Column::Id.eq(id))
            .filter(verification_code::Column::UsedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected == 1)
    }

    async fn get(
        &self,
        project_id: &str,
        purpose: CodePurpose,
        id: Uuid,
    ) -> StoreResult<Option<VerificationCodeRecord>> {
        verification_code::Entity::find()
            .filter(verification_code::Column::ProjectId.eq(project_id))
            .filter(verification_code::Column::Purpose.eq(purpose.as_str()))
            .filter(verification_code::Column::Id.eq(id))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(record)
            .transpose()
    }

    async fn list_open(
        &self,
        project_id: &str,
        purpose: CodePurpose,
        now_millis: i64,
    ) -> StoreResult<Vec<VerificationCodeRecord>> {
        verification_code::Entity::find()
            .filter(verification_code::Column::ProjectId.eq(project_id))
            .filter(verification_code::Column::Purpose.eq(purpose.as_str()))
            .filter(verification_code::Column::UsedAt.is_null())
            .filter(verification_code::Column::ExpiresAt.gt(now_millis))
            .order_by_asc(verification_code::Column::CreatedAt)
            .order_by_asc(verification_code::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(record)
            .collect()
    }

    async fn delete(&self, project_id: &str, purpose: CodePurpose, id: Uuid) -> StoreResult<bool> {
        let res = verification_code::Entity::delete_many()
            .filter(verification_code::Column::ProjectId.eq(project_id))
            .filter(verification_code::Column::Purpose.eq(purpose.as_str()))
            .filter(verification_code::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn delete_unused_for_user(
        &self,
        project_id: &str,
        purpose: CodePurpose,
        user_id: Uuid,
    ) -> StoreResult<u64> {
        let res = verification_code::Entity::delete_many()
            .filter(verification_code::Column::ProjectId.eq(project_id))
            .filter(verification_code::Column::Purpose.eq(purpose.as_str()))
            .filter(verification_code::Column::UserId.eq(user_id))
            .filter(verification_code::Column::UsedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected)
    }

    async fn purge_expired(&self, before_millis: i64) -> StoreResult<u64> {
        let res = verification_code::Entity::delete_many()
            .filter(verification_code::Column::ExpiresAt.lt(before_millis))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected)
    }
}
