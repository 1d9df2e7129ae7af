//! Opening a session: the one place a session row is inserted and its tokens minted.

use serde_json::json;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::{SignedIn, User};
use crate::postern::Postern;
use crate::projects::Project;
use crate::secrets::{hash_secret, new_refresh_token};
use crate::storage::{Repos, SessionRecord};

/// Default session lifetime: 365 days.
pub const DEFAULT_SESSION_MILLIS: i64 = 365 * 24 * 3600 * 1000;

/// How a session comes to be, which decides what is recorded with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opening<'a> {
    /// A sign-in by this method (`password`, `otp`, `totp`, ...): the user's last activity
    /// is bumped and `sign_in.succeeded` recorded.
    SignIn(&'a str),
    /// The first session of a new account (its `sign_up` event says how).
    SignUp,
    /// A session a server creates, with its own lifetime, maybe for impersonation.
    Server {
        /// Lifetime (default [`DEFAULT_SESSION_MILLIS`]).
        lifetime_millis: Option<i64>,
        /// Created to impersonate the user.
        impersonation: bool,
    },
}

/// A session inserted in a transaction; [`Opened::tokens`] mints its access token once
/// the transaction has committed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Opened {
    id: Uuid,
    refresh_token: String,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened").field("id", &self.id).finish()
    }
}

/// Opens a session for `user_id` in `repos` (the caller's transaction, so the session
/// exists only if everything else the sign-in writes does).
pub(crate) async fn open(
    p: &Postern,
    repos: &dyn Repos,
    project_id: &str,
    user_id: Uuid,
    opening: Opening<'_>,
) -> Result<Opened> {
    let now = p.inner.clock.now_millis();
    let (lifetime_millis, is_impersonation) = match opening {
        Opening::Server {
            lifetime_millis,
            impersonation,
        } => (lifetime_millis, impersonation),
        _ => (None, false),
    };
    let refresh_token = new_refresh_token();
    let rec = SessionRecord {
        project_id: project_id.to_owned(),
        id: Uuid::new_v4(),
        user_id,
        token_hash: hash_secret(&refresh_token),
        created_at_millis: now,
        last_active_at_millis: now,
        expires_at_millis: Some(
            now.saturating_add(lifetime_millis.unwrap_or(DEFAULT_SESSION_MILLIS)),
        ),
        is_impersonation,
    };
    repos.sessions().insert(&rec).await.map_err(|e| match e {
        crate::storage::StoreError::MissingReference(_) => Error::UserIdDoesNotExist(user_id),
        e => e.into(),
    })?;
    if let Opening::SignIn(method) = opening {
        repos.users().touch(project_id, user_id, now).await?;
        crate::audit::record(
            p,
            repos,
            project_id,
            "sign_in.succeeded",
            Some(user_id),
            json!({ "method": method }),
        )
        .await?;
    }
    Ok(Opened {
        id: rec.id,
        refresh_token,
    })
}

impl Opened {
    /// The session's tokens for `user` (as read in the committed transaction).
    pub(crate) fn tokens(self, p: &Postern, project: &Project, user: &User) -> Result<SignedIn> {
        let access_token = p.sessions().mint(project, user, self.id)?;
        Ok(SignedIn {
            user_id: user.id,
            refresh_token: self.refresh_token,
            access_token,
        })
    }
}
