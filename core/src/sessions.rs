//! Sessions: refresh tokens (stored hashed, never rotated, like Stack), access-token
//! minting and verification, listing and revocation.

use uuid::Uuid;

use crate::actor::Auth;
use crate::error::{Error, Refusal, Result};
use crate::model::{User, load};
use crate::postern::Postern;
use crate::projects::Project;
use crate::secrets::hash_secret;
use crate::storage::SessionRecord;
use crate::tokens::{AccessTokenClaims, ReasonClaim, TokenAudience};

pub use crate::auth::session::DEFAULT_SESSION_MILLIS;
/// Longest session `POST /auth/sessions` may ask for: 367 days.
pub const MAX_SESSION_MILLIS: i64 = 31_708_800_000;

/// A session as listed to its user.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Session id (= `refresh_token_id`).
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// Creation, epoch milliseconds.
    pub created_at_millis: i64,
    /// Last refresh, epoch milliseconds.
    pub last_used_at_millis: i64,
    /// Expiry, epoch milliseconds.
    pub expires_at_millis: Option<i64>,
    /// Created for impersonation.
    pub is_impersonation: bool,
}

impl From<SessionRecord> for Session {
    fn from(r: SessionRecord) -> Self {
        Session {
            id: r.id,
            user_id: r.user_id,
            created_at_millis: r.created_at_millis,
            last_used_at_millis: r.last_active_at_millis,
            expires_at_millis: r.expires_at_millis,
            is_impersonation: r.is_impersonation,
        }
    }
}

/// A refresh token with an access token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenPair {
    /// Refresh token (shown once).
    pub refresh_token: String,
    /// Access token.
    pub access_token: String,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenPair { .. }")
    }
}

/// Session operations; from [`Postern::sessions`].
#[derive(Debug, Clone, Copy)]
pub struct Sessions<'a> {
    p: &'a Postern,
}

impl Postern {
    /// Session and token operations.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { p: self }
    }
}

impl Sessions<'_> {
    /// Mints an access token for a user and session, snapshotting the user into the claims.
    pub fn mint(&self, project: &Project, user: &User, session_id: Uuid) -> Result<String> {
        let inner = &self.p.inner;
        let now_s = inner.clock.now_millis().div_euclid(1000);
        let aud = TokenAudience::for_user(user.is_anonymous, user.is_restricted());
        let claims = AccessTokenClaims {
            sub: user.id,
            project_id: project.id.clone(),
            branch_id: "main".into(),
            refresh_token_id: session_id,
            role: "authenticated".into(),
            name: user.display_name.clone(),
            email: user.primary_email.clone(),
            email_verified: user.primary_email_verified,
            selected_team_id: user.selected_team_id,
            signed_up_at: user.signed_up_at_millis.div_euclid(1000),
            is_anonymous: user.is_anonymous,
            is_restricted: user.is_restricted(),
            restricted_reason: user.restricted_reason.map(|r| ReasonClaim {
                kind: r.as_str().into(),
            }),
            requires_totp_mfa: user.requires_totp_mfa,
            iss: aud.issuer(&inner.public_url, &project.id),
            aud: aud.audience(&project.id),
            iat: now_s,
            exp: now_s + inner.access_token_lifetime_secs,
        };
        inner.keys.sign(&claims)
    }

    /// Verifies an access token (signature, issuer, audience, expiry). Keys are derived per
    /// project on first use, and only for a project that exists: a token naming an unknown
    /// project is unparsable before any key is derived (one point read, the first time).
    pub async fn verify(&self, token: &str) -> Result<AccessTokenClaims> {
        let inner = &self.p.inner;
        let aud = crate::tokens::unverified_audience(token).ok_or(Error::UnparsableAccessToken)?;
        if !inner.keys.has(&aud) {
            let project_id = aud.split(':').next().unwrap_or_default();
            if inner.store.projects().get(project_id).await?.is_none() {
                return Err(Error::UnparsableAccessToken);
            }
        }
        inner
            .keys
            .verify(token, &inner.public_url, inner.clock.now_millis())
    }

    /// How many audiences' signing keys are derived and cached (at most
    /// [`crate::tokens::MAX_CACHED_AUDIENCES`]).
    pub fn cached_key_audiences(&self) -> usize {
        self.p.inner.keys.len()
    }

    /// The project's JWKS (see [`crate::tokens::KeyRing::jwks`]).
    pub fn jwks(
        &self,
        project_id: &str,
        include_restricted: bool,
        include_anonymous: bool,
    ) -> Result<serde_json::Value> {
        self.p
            .inner
            .keys
            .jwks(project_id, include_restricted, include_anonymous)
    }

    /// Creates a session for a user (server-side sign-in or impersonation).
    pub async fn create(
        &self,
        project: &Project,
        user_id: Uuid,
        lifetime_millis: Option<i64>,
        is_impersonation: bool,
    ) -> Result<TokenPair> {
        let store = &self.p.inner.store;
        let (rec, channels) = load(&**store, &project.id, user_id)
            .await?
            .ok_or(Error::UserIdDoesNotExist(user_id))?;
        let opened = crate::auth::session::open(
            self.p,
            &**store,
            &project.id,
            user_id,
            crate::auth::session::Opening::Server {
                lifetime_millis,
                impersonation: is_impersonation,
            },
        )
        .await?;
        let user = User::from_parts(&rec, &channels, &project.config);
        let signed_in = opened.tokens(self.p, project, &user)?;
        Ok(TokenPair {
            refresh_token: signed_in.refresh_token,
            access_token: signed_in.access_token,
        })
    }

    /// Mints a new access token from a refresh token (which is not rotated), bumping the
    /// session's and the user's last activity.
    pub async fn refresh(&self, project: &Project, refresh_token: &str) -> Result<String> {
        let store = &self.p.inner.store;
        let now = self.p.inner.clock.now_millis();
        let session = store
            .sessions()
            .find_by_token_hash(&project.id, &hash_secret(refresh_token))
            .await?
            .filter(|s| s.expires_at_millis.is_none_or(|e| e > now))
            .ok_or(Error::RefreshTokenNotFoundOrExpired)?;
        let (mut rec, channels) = load(&**store, &project.id, session.user_id)
            .await?
            .ok_or(Error::RefreshTokenNotFoundOrExpired)?;
        store.sessions().touch(&project.id, session.id, now).await?;
        store.users().touch(&project.id, rec.id, now).await?;
        rec.last_active_at_millis = now;
        let user = User::from_parts(&rec, &channels, &project.config);
        self.mint(project, &user, session.id)
    }

    /// The sessions of `user_id` as `actor` may list them: a client only its own user's
    /// (without impersonation sessions), an admin also impersonation sessions.
    pub async fn list_as(&self, actor: &Auth, user_id: Uuid) -> Result<Vec<Session>> {
        if actor.is_client() && actor.user_id() != Some(user_id) {
            return Err(Error::Refused(Refusal::ClientMayOnlyListOwnSessions));
        }
        self.list(
            &actor.project,
            user_id,
            actor.access_type == crate::error::AccessType::Admin,
        )
        .await
    }

    /// A user's sessions, newest first. Impersonation sessions only when asked.
    pub async fn list(
        &self,
        project: &Project,
        user_id: Uuid,
        include_impersonation: bool,
    ) -> Result<Vec<Session>> {
        Ok(self
            .p
            .inner
            .store
            .sessions()
            .list_for_user(&project.id, user_id)
            .await?
            .into_iter()
            .filter(|s| include_impersonation || !s.is_impersonation)
            .map(Session::from)
            .collect())
    }

    /// The session with this id.
    pub async fn get(&self, project: &Project, id: Uuid) -> Result<Option<Session>> {
        Ok(self
            .p
            .inner
            .store
            .sessions()
            .get(&project.id, id)
            .await?
            .map(Session::from))
    }

    /// Revokes session `id` as `actor`: a client may revoke only its own user's sessions
    /// (others are `SESSION_NOT_FOUND`, so their ids are not confirmed) and not the session
    /// it is using (`CANNOT_DELETE_CURRENT_SESSION`; sign out instead).
    pub async fn delete_as(&self, actor: &Auth, id: Uuid) -> Result<()> {
        let not_found = || Error::Refused(Refusal::SessionNotFound);
        let session = self.get(&actor.project, id).await?.ok_or_else(not_found)?;
        if actor.is_client() && actor.user_id() != Some(session.user_id) {
            return Err(not_found());
        }
        if actor.session_id() == Some(id) {
            return Err(Error::CannotDeleteCurrentSession);
        }
        self.delete(&actor.project, id).await?;
        Ok(())
    }

    /// Deletes a session (its refresh token stops working; issued access tokens live
    /// until they expire), with its audit event.
    pub async fn delete(&self, project: &Project, id: Uuid) -> Result<bool> {
        let tx = self.p.inner.store.begin().await?;
        let Some(session) = tx.sessions().get(&project.id, id).await? else {
            return Ok(false);
        };
        let gone = tx.sessions().delete(&project.id, id).await?;
        crate::audit::record(
            self.p,
            &*tx,
            &project.id,
            "session.revoked",
            Some(session.user_id),
            serde_json::json!({ "session_id": id, "reason": "deleted" }),
        )
        .await?;
        tx.commit().await?;
        Ok(gone)
    }
}
