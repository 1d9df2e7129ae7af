//! [`OAuthRepo`] over sea-orm.

use async_trait::async_trait;
use postern_core::storage::{
    OAuthAccountRecord, OAuthRepo, OAuthTokenKind, OAuthTokenRecord, StoreError, StoreResult,
};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, ExprTrait, Query},
};
use uuid::Uuid;

use super::SeaRepos;
use crate::entities::{oauth_account as acc, oauth_token as tok, user};
use crate::store_error;

fn account(m: acc::Model) -> OAuthAccountRecord {
    OAuthAccountRecord {
        project_id: m.project_id,
        id: m.id,
        user_id: m.user_id,
        provider_config_id: m.provider_config_id,
        provider_account_id: m.provider_account_id,
        email: m.email,
        allow_sign_in: m.allow_sign_in,
        allow_connected_accounts: m.allow_connected_accounts,
        created_at_millis: m.created_at,
    }
}

fn token(m: tok::Model) -> StoreResult<OAuthTokenRecord> {
    let kind = OAuthTokenKind::parse(&m.kind)
        .ok_or_else(|| StoreError::Backend(format!("unknown OAuth token kind {}", m.kind)))?;
    let scopes: Vec<String> = serde_json::from_str(&m.scopes).map_err(|e| {
        StoreError::Backend(format!(
            "invalid JSON in column postern_oauth_tokens.scopes: {e}"
        ))
    })?;
    Ok(OAuthTokenRecord {
        project_id: m.project_id,
        id: m.id,
        account_id: m.account_id,
        kind,
        sealed_token: m.sealed_token,
        scopes,
        expires_at_millis: m.expires_at,
        is_valid: m.is_valid,
        created_at_millis: m.created_at,
    })
}

impl<C: ConnectionTrait + Send> SeaRepos<C> {
    /// Sets the user's `has_oauth` from the rows that exist now (one statement).
    async fn sync_has_oauth(&self, project_id: &str, user_id: Uuid) -> StoreResult<()> {
        let exists = Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(acc::Entity)
                .and_where(Expr::col((acc::Entity, acc::Column::ProjectId)).eq(project_id))
                .and_where(Expr::col((acc::Entity, acc::Column::UserId)).eq(user_id))
                .to_owned(),
        );
        user::Entity::update_many()
            .col_expr(user::Column::HasOauth, exists)
            .filter(user::Column::ProjectId.eq(project_id))
            .filter(user::Column::Id.eq(user_id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn accounts(&self, cond: Condition) -> StoreResult<Vec<OAuthAccountRecord>> {
        Ok(acc::Entity::find()
            .filter(cond)
            .order_by_asc(acc::Column::CreatedAt)
            .order_by_asc(acc::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(account)
            .collect())
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send> OAuthRepo for SeaRepos<C> {
    async fn insert_account(&self, a: &OAuthAccountRecord) -> StoreResult<()> {
        let model = acc::ActiveModel {
            id: Set(a.id),
            project_id: Set(a.project_id.clone()),
            user_id: Set(a.user_id),
            provider_config_id: Set(a.provider_config_id.clone()),
            provider_account_id: Set(a.provider_account_id.clone()),
            email: Set(a.email.clone()),
            allow_sign_in: Set(a.allow_sign_in),
            allow_connected_accounts: Set(a.allow_connected_accounts),
            created_at: Set(a.created_at_millis),
        };
        acc::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        self.sync_has_oauth(&a.project_id, a.user_id).await
    }

    async fn update_account(&self, a: &OAuthAccountRecord) -> StoreResult<bool> {
        let res = acc::Entity::update_many()
            .col_expr(acc::Column::Email, Expr::value(a.email.clone()))
            .col_expr(
                acc::Column::ProviderAccountId,
                Expr::value(a.provider_account_id.clone()),
            )
            .col_expr(acc::Column::AllowSignIn, Expr::value(a.allow_sign_in))
            .col_expr(
                acc::Column::AllowConnectedAccounts,
                Expr::value(a.allow_connected_accounts),
            )
            .filter(acc::Column::ProjectId.eq(&a.project_id))
            .filter(acc::Column::Id.eq(a.id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn get_account(
        &self,
        project_id: &str,
        id: Uuid,
    ) -> StoreResult<Option<OAuthAccountRecord>> {
        Ok(acc::Entity::find()
            .filter(acc::Column::ProjectId.eq(project_id))
            .filter(acc::Column::Id.eq(id))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(account))
    }

    async fn find_accounts(
        &self,
        project_id: &str,
        provider_config_id: &str,
        provider_account_id: &str,
    ) -> StoreResult<Vec<OAuthAccountRecord>> {
        self.accounts(
            Condition::all()
                .add(acc::Column::ProjectId.eq(project_id))
                .add(acc::Column::ProviderConfigId.eq(provider_config_id))
                .add(acc::Column::ProviderAccountId.eq(provider_account_id)),
        )
        .await
    }

    async fn list_for_user(
        &self,
        project_id: &str,
        user_id: Uuid,
    ) -> StoreResult<Vec<OAuthAccountRecord>> {
        self.accounts(
            Condition::all()
                .add(acc::Column::ProjectId.eq(project_id))
                .add(acc::Column::UserId.eq(user_id)),
        )
        .await
    }

    async fn list_for_users(
        &self,
        project_id: &str,
        user_ids: &[Uuid],
    ) -> StoreResult<Vec<OAuthAccountRecord>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.accounts(
            Condition::all()
                .add(acc::Column::ProjectId.eq(project_id))
                .add(acc::Column::UserId.is_in(user_ids.iter().copied())),
        )
        .await
    }

    async fn list_for_project(&self, project_id: &str) -> StoreResult<Vec<OAuthAccountRecord>> {
        self.accounts(Condition::all().add(acc::Column::ProjectId.eq(project_id)))
            .await
    }

    async fn delete_account(&self, project_id: &str, id: Uuid) -> StoreResult<bool> {
        let Some(row) = OAuthRepo::get_account(self, project_id, id).await? else {
            return Ok(false);
        };
        // Tokens first: a store without enforced foreign keys leaves none behind either.
        tok::Entity::delete_many()
            .filter(tok::Column::ProjectId.eq(project_id))
            .filter(tok::Column::AccountId.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        let res = acc::Entity::delete_many()
            .filter(acc::Column::ProjectId.eq(project_id))
            .filter(acc::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        self.sync_has_oauth(project_id, row.user_id).await?;
        Ok(res.rows_affected > 0)
    }

    async fn insert_token(&self, t: &OAuthTokenRecord) -> StoreResult<()> {
        let scopes = serde_json::to_string(&t.scopes)
            .map_err(|e| StoreError::Backend(format!("JSON encoding: {e}")))?;
        let model = tok::ActiveModel {
            id: Set(t.id),
            project_id: Set(t.project_id.clone()),
            account_id: Set(t.account_id),
            kind: Set(t.kind.as_str().to_owned()),
            sealed_token: Set(t.sealed_token.clone()),
            scopes: Set(scopes),
            expires_at: Set(t.expires_at_millis),
            is_valid: Set(t.is_valid),
            created_at: Set(t.created_at_millis),
        };
        tok::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn list_tokens(
        &self,
        project_id: &str,
        account_id: Uuid,
        kind: OAuthTokenKind,
    ) -> StoreResult<Vec<OAuthTokenRecord>> {
        tok::Entity::find()
            .filter(tok::Column::ProjectId.eq(project_id))
            .filter(tok::Column::AccountId.eq(account_id))
            .filter(tok::Column::Kind.eq(kind.as_str()))
            .order_by_desc(tok::Column::CreatedAt)
            .order_by_desc(tok::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(token)
            .collect()
    }

    async fn invalidate_token(&self, project_id: &str, id: Uuid) -> StoreResult<bool> {
        let res = tok::Entity::update_many()
            .col_expr(tok::Column::IsValid, Expr::value(false))
            .filter(tok::Column::ProjectId.eq(project_id))
            .filter(tok::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn purge_tokens(&self, before_millis: i64) -> StoreResult<u64> {
        let res = tok::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(tok::Column::Kind.eq(OAuthTokenKind::Access.as_str()))
                            .add(tok::Column::ExpiresAt.lt(before_millis)),
                    )
                    .add(
                        Condition::all()
                            .add(tok::Column::IsValid.eq(false))
                            .add(tok::Column::CreatedAt.lt(before_millis)),
                    ),
            )
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected)
    }
}
