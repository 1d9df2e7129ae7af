//! [`CliAuthRepo`] over sea-orm.

use async_trait::async_trait;
use postern_core::storage::{CliAuthAttemptRecord, CliAuthRepo, StoreResult};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::Expr,
};
use uuid::Uuid;

use super::SeaRepos;
use crate::entities::cli_auth_attempt as cli;
use crate::store_error;

fn record(m: cli::Model) -> CliAuthAttemptRecord {
    CliAuthAttemptRecord {
        project_id: m.project_id,
        id: m.id,
        polling_code_hash: m.polling_code_hash,
        login_code_hash: m.login_code_hash,
        sealed_refresh_token: m.sealed_refresh_token,
        sealed_anon_refresh_token: m.sealed_anon_refresh_token,
        expires_at_millis: m.expires_at,
        used_at_millis: m.used_at,
        created_at_millis: m.created_at,
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send> CliAuthRepo for SeaRepos<C> {
    async fn insert(&self, a: &CliAuthAttemptRecord) -> StoreResult<()> {
        let model = cli::ActiveModel {
            id: Set(a.id),
            project_id: Set(a.project_id.clone()),
            polling_code_hash: Set(a.polling_code_hash.clone()),
            login_code_hash: Set(a.login_code_hash.clone()),
            sealed_refresh_token: Set(a.sealed_refresh_token.clone()),
            sealed_anon_refresh_token: Set(a.sealed_anon_refresh_token.clone()),
            expires_at: Set(a.expires_at_millis),
            used_at: Set(a.used_at_millis),
            created_at: Set(a.created_at_millis),
        };
        cli::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn find_by_polling_code(
        &self,
        project_id: &str,
        hash: &str,
    ) -> StoreResult<Option<CliAuthAttemptRecord>> {
        Ok(cli::Entity::find()
            .filter(cli::Column::ProjectId.eq(project_id))
            .filter(cli::Column::PollingCodeHash.eq(hash))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(record))
    }

    async fn find_by_login_code(
        &self,
        project_id: &str,
        hash: &str,
    ) -> StoreResult<Option<CliAuthAttemptRecord>> {
        Ok(cli::Entity::find()
            .filter(cli::Column::ProjectId.eq(project_id))
            .filter(cli::Column::LoginCodeHash.eq(hash))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(record))
    }

    async fn complete(
        &self,
        project_id: &str,
        id: Uuid,
        sealed_refresh_token: &str,
        now_millis: i64,
    ) -> StoreResult<bool> {
        let res = cli::Entity::update_many()
            .col_expr(
                cli::Column::SealedRefreshToken,
                Expr::value(Some(sealed_refresh_token.to_owned())),
            )
            .col_expr(
                cli::Column::SealedAnonRefreshToken,
                Expr::value(Option::<String>::None),
            )
            .filter(cli::Column::ProjectId.eq(project_id))
            .filter(cli::Column::Id.eq(id))
            .filter(cli::Column::SealedRefreshToken.is_null())
            .filter(cli::Column::UsedAt.is_null())
            .filter(cli::Column::ExpiresAt.gt(now_millis))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn take_anon(&self, project_id: &str, id: Uuid, sealed: &str) -> StoreResult<bool> {
        let res = cli::Entity::update_many()
            .col_expr(
                cli::Column::SealedAnonRefreshToken,
                Expr::value(Option::<String>::None),
            )
            .filter(cli::Column::ProjectId.eq(project_id))
            .filter(cli::Column::Id.eq(id))
            .filter(cli::Column::SealedAnonRefreshToken.eq(sealed))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn hand_out(&self, project_id: &str, id: Uuid, now_millis: i64) -> StoreResult<bool> {
        let res = cli::Entity::update_many()
            .col_expr(cli::Column::UsedAt, Expr::value(Some(now_millis)))
            .col_expr(
                cli::Column::SealedRefreshToken,
                Expr::value(Option::<String>::None),
            )
            .filter(cli::Column::ProjectId.eq(project_id))
            .filter(cli::Column::Id.eq(id))
            .filter(cli::Column::UsedAt.is_null())
            .filter(cli::Column::SealedRefreshToken.is_not_null())
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn purge(&self, before_millis: i64) -> StoreResult<u64> {
        let res = cli::Entity::delete_many()
            .filter(cli::Column::ExpiresAt.lt(before_millis))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected)
    }
}
