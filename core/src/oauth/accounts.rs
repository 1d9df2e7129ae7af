//! A user's provider accounts (`oauth-providers`, contract §12) and the provider tokens
//! they hand out as connected accounts (§11).

use uuid::Uuid;

use super::OAuth;
use super::provider::{Provider, configured};
use crate::error::{Error, OnConflict as _, Refusal, Result};
use crate::projects::Project;
use crate::storage::{OAuthAccountRecord, OAuthTokenKind, OAuthTokenRecord};

/// Access tokens this close to expiry are not handed out: 5 minutes.
const EXPIRY_MARGIN_MILLIS: i64 = 5 * 60 * 1000;

/// A provider account with its provider type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAccount {
    /// The row.
    pub record: OAuthAccountRecord,
    /// The provider type: the configured one, or the config id itself when the provider
    /// is no longer configured and the id names a type.
    pub kind: String,
}

/// A server's new provider account (`POST /oauth-providers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProviderAccount {
    /// The user.
    pub user_id: Uuid,
    /// The provider's config id.
    pub provider_config_id: String,
    /// The account id at the provider.
    pub account_id: String,
    /// Signs the user in.
    pub allow_sign_in: bool,
    /// Handed out as a connected account.
    pub allow_connected_accounts: bool,
    /// The provider's address.
    pub email: Option<String>,
}

/// A change to a provider account (`PATCH /oauth-providers/{user}/{id}`); clients may
/// only change the two flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderAccountPatch {
    /// Signs the user in.
    pub allow_sign_in: Option<bool>,
    /// Handed out as a connected account.
    pub allow_connected_accounts: Option<bool>,
    /// The provider's address (`Some(None)` clears it).
    pub email: Option<Option<String>>,
    /// The account id at the provider.
    pub account_id: Option<String>,
}

impl OAuth<'_> {
    fn kind_of(&self, project: &Project, config_id: &str) -> Option<String> {
        configured(self.p, project, config_id)
            .map(|c| c.kind)
            .or_else(|| {
                super::PROVIDER_TYPES
                    .contains(&config_id)
                    .then(|| config_id.to_owned())
            })
    }

    fn with_kind(&self, project: &Project, record: OAuthAccountRecord) -> Option<ProviderAccount> {
        let kind = self.kind_of(project, &record.provider_config_id)?;
        Some(ProviderAccount { record, kind })
    }

    async fn user_exists(&self, project: &Project, user_id: Uuid) -> Result<()> {
        self.p
            .inner
            .store
            .users()
            .get(&project.id, user_id)
            .await?
            .map(drop)
            .ok_or(Error::UserNotFound)
    }

    /// Provider accounts, oldest first: one user's, or (`None`) the whole project's.
    pub async fn list_accounts(
        &self,
        project: &Project,
        user_id: Option<Uuid>,
    ) -> Result<Vec<ProviderAccount>> {
        let repo = self.p.inner.store.oauth();
        let rows = match user_id {
            Some(u) => {
                self.user_exists(project, u).await?;
                repo.list_for_user(&project.id, u).await?
            }
            None => repo.list_for_project(&project.id).await?,
        };
        Ok(rows
            .into_iter()
            .filter_map(|r| self.with_kind(project, r))
            .collect())
    }

    /// One of a user's provider accounts.
    pub async fn get_account(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<ProviderAccount> {
        self.user_exists(project, user_id).await?;
        let not_found = || {
            Error::Refused(Refusal::OauthProviderAccountNotFound {
                id: id.to_string(),
                user_id: user_id.to_string(),
            })
        };
        let row = self
            .p
            .inner
            .store
            .oauth()
            .get_account(&project.id, id)
            .await?
            .filter(|r| r.user_id == user_id)
            .ok_or_else(not_found)?;
        self.with_kind(project, row).ok_or_else(not_found)
    }

    /// The checks of a created or updated account, in Stack's order.
    async fn check_account(&self, project: &Project, account: &OAuthAccountRecord) -> Result<()> {
        let repo = self.p.inner.store.oauth();
        let mine = repo.list_for_user(&project.id, account.user_id).await?;
        let others = mine.iter().filter(|a| a.id != account.id);
        if account.allow_sign_in
            && others
                .clone()
                .any(|a| a.provider_config_id == account.provider_config_id && a.allow_sign_in)
        {
            return Err(Error::Refused(Refusal::OauthProviderSignInExists));
        }
        if others.clone().any(|a| {
            a.provider_config_id == account.provider_config_id
                && a.provider_account_id == account.provider_account_id
        }) {
            return Err(Error::Refused(Refusal::OauthProviderAccountExists));
        }
        if account.allow_sign_in
            && repo
                .find_accounts(
                    &project.id,
                    &account.provider_config_id,
                    &account.provider_account_id,
                )
                .await?
                .iter()
                .any(|a| a.id != account.id && a.allow_sign_in)
        {
            return Err(Error::OauthProviderAccountIdAlreadyUsedForSignIn);
        }
        Ok(())
    }

    /// Adds a provider account to a user (a server's `POST /oauth-providers`).
    pub async fn create_account(
        &self,
        project: &Project,
        new: NewProviderAccount,
    ) -> Result<ProviderAccount> {
        let kind = configured(self.p, project, &new.provider_config_id)
            .map(|c| c.kind)
            .ok_or_else(|| {
                Error::Refused(Refusal::OauthProviderNotConfigured {
                    provider_id: new.provider_config_id.clone(),
                })
            })?;
        self.user_exists(project, new.user_id).await?;
        let record = OAuthAccountRecord {
            project_id: project.id.clone(),
            id: Uuid::new_v4(),
            user_id: new.user_id,
            provider_config_id: new.provider_config_id,
            provider_account_id: new.account_id,
            email: new.email,
            allow_sign_in: new.allow_sign_in,
            allow_connected_accounts: new.allow_connected_accounts,
            created_at_millis: self.p.inner.clock.now_millis(),
        };
        self.check_account(project, &record).await?;
        self.p
            .inner
            .store
            .oauth()
            .insert_account(&record)
            .await
            .on_conflict(|| Error::Refused(Refusal::OauthProviderAccountExists))?;
        Ok(ProviderAccount { record, kind })
    }

    /// Changes one of a user's provider accounts.
    pub async fn update_account(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
        patch: ProviderAccountPatch,
    ) -> Result<ProviderAccount> {
        let ProviderAccount { mut record, kind } = self.get_account(project, user_id, id).await?;
        if let Some(v) = patch.allow_sign_in {
            record.allow_sign_in = v;
        }
        if let Some(v) = patch.allow_connected_accounts {
            record.allow_connected_accounts = v;
        }
        if let Some(v) = patch.email {
            record.email = v;
        }
        if let Some(v) = patch.account_id {
            record.provider_account_id = v;
        }
        self.check_account(project, &record).await?;
        self.p
            .inner
            .store
            .oauth()
            .update_account(&record)
            .await
            .on_conflict(|| Error::Refused(Refusal::OauthProviderAccountExists))?;
        Ok(ProviderAccount { record, kind })
    }

    /// Deletes one of a user's provider accounts, with its tokens.
    pub async fn delete_account(&self, project: &Project, user_id: Uuid, id: Uuid) -> Result<()> {
        self.get_account(project, user_id, id).await?;
        self.p
            .inner
            .store
            .oauth()
            .delete_account(&project.id, id)
            .await?;
        Ok(())
    }

    /// A user's connected accounts: provider accounts that hand out tokens, oldest first.
    pub async fn connected_accounts(
        &self,
        project: &Project,
        user_id: Uuid,
    ) -> Result<Vec<OAuthAccountRecord>> {
        self.user_exists(project, user_id).await?;
        Ok(self
            .p
            .inner
            .store
            .oauth()
            .list_for_user(&project.id, user_id)
            .await?
            .into_iter()
            .filter(|a| a.allow_connected_accounts)
            .collect())
    }

    /// A provider access token of the user's account(s) of `provider_config_id` (one
    /// account when `account_id` is given) covering `scope`: a stored one that still works,
    /// else one refreshed with a stored refresh token (contract §11.4).
    ///
    /// Beyond Stack: accounts that do not allow connected accounts never hand out tokens;
    /// a refresh token is given up only when the provider refuses it (a network failure
    /// answers `OAUTH_PROVIDER_TEMPORARILY_UNAVAILABLE` and keeps it).
    pub async fn access_token(
        &self,
        project: &Project,
        user_id: Uuid,
        provider_config_id: &str,
        account_id: Option<&str>,
        scope: Option<&str>,
    ) -> Result<String> {
        let p = self.p;
        let conf = configured(p, project, provider_config_id)
            .ok_or(Error::OauthProviderNotFoundOrNotEnabled)?;
        if conf.is_shared && !p.inner.oauth.shared_access_tokens {
            return Err(Error::OauthAccessTokenNotAvailableWithSharedOauthKeys);
        }
        self.user_exists(project, user_id).await?;
        let store = &p.inner.store;
        let accounts: Vec<OAuthAccountRecord> = store
            .oauth()
            .list_for_user(&project.id, user_id)
            .await?
            .into_iter()
            .filter(|a| a.provider_config_id == provider_config_id)
            .filter(|a| account_id.is_none_or(|id| a.provider_account_id == id))
            .filter(|a| a.allow_connected_accounts)
            .collect();
        if accounts.is_empty() {
            return Err(Error::OauthConnectionNotConnectedToUser);
        }
        let required: Vec<&str> = scope.unwrap_or_default().split_whitespace().collect();
        let covers =
            |t: &OAuthTokenRecord| required.iter().all(|r| t.scopes.iter().any(|s| s == r));
        let provider = Provider::resolve(p, &conf).await?;
        let now = p.inner.clock.now_millis();
        for account in &accounts {
            for t in store
                .oauth()
                .list_tokens(&project.id, account.id, OAuthTokenKind::Access)
                .await?
            {
                if !t.is_valid
                    || t.expires_at_millis
                        .is_none_or(|e| e <= now + EXPIRY_MARGIN_MILLIS)
                    || !covers(&t)
                {
                    continue;
                }
                let Some(token) = self.open(&t.id.to_string(), &t.sealed_token) else {
                    continue;
                };
                if provider.token_works(p, &token).await? {
                    return Ok(token);
                }
                store.oauth().invalidate_token(&project.id, t.id).await?;
            }
        }
        for account in &accounts {
            for t in store
                .oauth()
                .list_tokens(&project.id, account.id, OAuthTokenKind::Refresh)
                .await?
            {
                if !t.is_valid || !covers(&t) {
                    continue;
                }
                let Some(refresh) = self.open(&t.id.to_string(), &t.sealed_token) else {
                    continue;
                };
                let Some(grant) = provider
                    .refresh(p, &refresh, scope.unwrap_or_default())
                    .await?
                else {
                    store.oauth().invalidate_token(&project.id, t.id).await?;
                    continue;
                };
                let tx = store.begin().await?;
                let mut fresh = grant.clone();
                if grant.refresh_token.is_some() {
                    tx.oauth().invalidate_token(&project.id, t.id).await?;
                } else {
                    fresh.refresh_token = None;
                }
                self.store_tokens(&*tx, account, Some(&fresh), &t.scopes)
                    .await?;
                tx.commit().await?;
                return Ok(grant.access_token);
            }
        }
        Err(Error::OauthConnectionDoesNotHaveRequiredScope)
    }
}
