//! CLI login (`/auth/cli`, contract rest-oauth §13): a command-line tool starts an attempt
//! and polls with its polling code; the user opens the login code's page in a signed-in
//! browser, which completes the attempt with its own refresh token; the next poll hands
//! that token to the CLI, once.
//!
//! Beyond Stack: both codes are stored as SHA-256 hashes; the refresh tokens an attempt
//! carries are sealed and the browser's is cleared once the CLI has collected it (a poll
//! then answers `used`); every state change is one conditional statement, so racing
//! requests cannot hand a token out twice; expired attempts are purged.

use uuid::Uuid;

use crate::error::{Error, Refusal, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::secrets::{hash_secret, random_crockford};
use crate::storage::CliAuthAttemptRecord;

/// Default lifetime of an attempt: 2 hours.
pub const DEFAULT_EXPIRY_MILLIS: i64 = 2 * 3600 * 1000;
/// Longest lifetime a caller may ask for: 24 hours.
pub const MAX_EXPIRY_MILLIS: i64 = 24 * 3600 * 1000;
/// Length of both codes (lowercase Crockford base32).
pub const CODE_LENGTH: usize = 45;

/// A new attempt's codes.
#[derive(Clone, PartialEq, Eq)]
pub struct CliAttempt {
    /// What the CLI polls with.
    pub polling_code: String,
    /// What the browser page completes with.
    pub login_code: String,
    /// Expiry, epoch milliseconds.
    pub expires_at_millis: i64,
}

impl std::fmt::Debug for CliAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CliAttempt")
            .field("expires_at_millis", &self.expires_at_millis)
            .finish_non_exhaustive()
    }
}

/// What a poll finds.
#[derive(Clone, PartialEq, Eq)]
pub enum PollStatus {
    /// Not completed yet.
    Waiting,
    /// Expired.
    Expired,
    /// Completed and collected already.
    Used,
    /// Completed: the browser's refresh token (handed out this once).
    Success(String),
}

impl std::fmt::Debug for PollStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PollStatus::Waiting => "Waiting",
            PollStatus::Expired => "Expired",
            PollStatus::Used => "Used",
            PollStatus::Success(_) => "Success",
        })
    }
}

/// CLI login; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct CliLogin<'a> {
    p: &'a Postern,
}

impl Postern {
    /// CLI login.
    pub fn cli_login(&self) -> CliLogin<'_> {
        CliLogin { p: self }
    }
}

impl CliLogin<'_> {
    fn seal(&self, id: Uuid, token: &str) -> Result<String> {
        let key = self
            .p
            .inner
            .oauth_keys
            .first()
            .ok_or_else(|| Error::Internal("no key".into()))?;
        crate::secrets::seal_text(key, format!("cli:{id}").as_bytes(), token)
            .ok_or_else(|| Error::Internal("sealing failed".into()))
    }

    fn open(&self, id: Uuid, sealed: &str) -> Option<String> {
        crate::secrets::open_text(
            &self.p.inner.oauth_keys,
            format!("cli:{id}").as_bytes(),
            sealed,
        )
    }

    /// The live session of a refresh token, with its user: `None` when unknown.
    async fn session_of(
        &self,
        project: &Project,
        refresh_token: &str,
    ) -> Result<
        Option<(
            crate::storage::SessionRecord,
            Option<crate::storage::UserRecord>,
        )>,
    > {
        let store = &self.p.inner.store;
        let Some(session) = store
            .sessions()
            .find_by_token_hash(&project.id, &hash_secret(refresh_token))
            .await?
        else {
            return Ok(None);
        };
        let user = store.users().get(&project.id, session.user_id).await?;
        Ok(Some((session, user)))
    }

    /// Starts an attempt (`expires_in_millis` at most a day), optionally carrying the CLI's
    /// own anonymous session.
    pub async fn start(
        &self,
        project: &Project,
        expires_in_millis: Option<i64>,
        anon_refresh_token: Option<&str>,
    ) -> Result<CliAttempt> {
        let now = self.p.inner.clock.now_millis();
        if let Some(token) = anon_refresh_token {
            let (session, user) = self
                .session_of(project, token)
                .await?
                .ok_or(Error::Refused(Refusal::CliAnonTokenInvalid))?;
            if session.expires_at_millis.is_some_and(|e| e <= now) {
                return Err(Error::Refused(Refusal::CliAnonTokenExpired));
            }
            let user = user.ok_or(Error::Refused(Refusal::CliAnonUserNotFound))?;
            if !user.is_anonymous {
                return Err(Error::Refused(Refusal::CliAnonTokenNotAnonymous));
            }
        }
        let expiry = expires_in_millis
            .unwrap_or(DEFAULT_EXPIRY_MILLIS)
            .clamp(1, MAX_EXPIRY_MILLIS);
        let polling_code = random_crockford(CODE_LENGTH);
        let login_code = random_crockford(CODE_LENGTH);
        let id = Uuid::new_v4();
        let record = CliAuthAttemptRecord {
            project_id: project.id.clone(),
            id,
            polling_code_hash: hash_secret(&polling_code),
            login_code_hash: hash_secret(&login_code),
            sealed_refresh_token: None,
            sealed_anon_refresh_token: anon_refresh_token.map(|t| self.seal(id, t)).transpose()?,
            expires_at_millis: now + expiry,
            used_at_millis: None,
            created_at_millis: now,
        };
        self.p.inner.store.cli_auth().insert(&record).await?;
        Ok(CliAttempt {
            polling_code,
            login_code,
            expires_at_millis: record.expires_at_millis,
        })
    }

    /// Polls an attempt; a completed one hands its refresh token out once.
    pub async fn poll(&self, project: &Project, polling_code: &str) -> Result<PollStatus> {
        let repo = self.p.inner.store.cli_auth();
        let a = repo
            .find_by_polling_code(&project.id, &hash_secret(polling_code))
            .await?
            .ok_or(Error::InvalidPollingCode)?;
        let now = self.p.inner.clock.now_millis();
        if a.expires_at_millis <= now {
            return Ok(PollStatus::Expired);
        }
        if a.used_at_millis.is_some() {
            return Ok(PollStatus::Used);
        }
        let Some(sealed) = &a.sealed_refresh_token else {
            return Ok(PollStatus::Waiting);
        };
        let token = self
            .open(a.id, sealed)
            .ok_or_else(|| Error::Internal("CLI refresh token unreadable".into()))?;
        if repo.hand_out(&project.id, a.id, now).await? {
            Ok(PollStatus::Success(token))
        } else {
            Ok(PollStatus::Used)
        }
    }

    /// The pending attempt of a login code (not completed, not used, not expired).
    async fn pending(&self, project: &Project, login_code: &str) -> Result<CliAuthAttemptRecord> {
        let now = self.p.inner.clock.now_millis();
        self.p
            .inner
            .store
            .cli_auth()
            .find_by_login_code(&project.id, &hash_secret(login_code))
            .await?
            .filter(|a| {
                a.expires_at_millis > now
                    && a.used_at_millis.is_none()
                    && a.sealed_refresh_token.is_none()
            })
            .ok_or(Error::Refused(Refusal::CliLoginCodeInvalid))
    }

    /// Whether the attempt carries a still-valid anonymous session (`check` mode).
    pub async fn has_anonymous_session(&self, project: &Project, login_code: &str) -> Result<bool> {
        let a = self.pending(project, login_code).await?;
        let Some(token) = a
            .sealed_anon_refresh_token
            .as_deref()
            .and_then(|s| self.open(a.id, s))
        else {
            return Ok(false);
        };
        let now = self.p.inner.clock.now_millis();
        Ok(match self.session_of(project, &token).await? {
            Some((s, Some(u))) => s.expires_at_millis.is_none_or(|e| e > now) && u.is_anonymous,
            _ => false,
        })
    }

    /// Hands the attempt's anonymous session to the browser, once: its refresh token and a
    /// fresh access token.
    pub async fn claim_anonymous_session(
        &self,
        project: &Project,
        login_code: &str,
    ) -> Result<(String, String)> {
        let a = self.pending(project, login_code).await?;
        let no_session = || Error::Refused(Refusal::CliNoAnonSession);
        let sealed = a.sealed_anon_refresh_token.clone().ok_or_else(no_session)?;
        let token = self.open(a.id, &sealed).ok_or_else(no_session)?;
        if !self
            .p
            .inner
            .store
            .cli_auth()
            .take_anon(&project.id, a.id, &sealed)
            .await?
        {
            return Err(no_session());
        }
        let access = self
            .p
            .sessions()
            .refresh(project, &token)
            .await
            .map_err(|_| Error::Refused(Refusal::CliAnonSessionInvalid))?;
        Ok((access, token))
    }

    /// Completes the attempt with the browser's refresh token (the CLI then shares that
    /// session); the anonymous CLI session, if any, is dropped from the attempt.
    pub async fn complete(
        &self,
        project: &Project,
        login_code: &str,
        refresh_token: Option<&str>,
    ) -> Result<()> {
        let a = self.pending(project, login_code).await?;
        let token = refresh_token
            .filter(|t| !t.is_empty())
            .ok_or(Error::Refused(Refusal::CliRefreshTokenRequired))?;
        let now = self.p.inner.clock.now_millis();
        match self.session_of(project, token).await? {
            Some((s, Some(_))) if s.expires_at_millis.is_none_or(|e| e > now) => {}
            _ => return Err(Error::Refused(Refusal::CliRefreshTokenInvalid)),
        }
        let sealed = self.seal(a.id, token)?;
        if self
            .p
            .inner
            .store
            .cli_auth()
            .complete(&project.id, a.id, &sealed, now)
            .await?
        {
            Ok(())
        } else {
            Err(Error::Refused(Refusal::CliLoginCodeInvalid))
        }
    }
}
