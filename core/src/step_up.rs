//! Step-up (a Postern extension): a fresh proof, by a factor a stolen access token does not
//! carry, before a client makes a sensitive change.
//!
//! A client proves one of the user's factors with `POST /auth/step-up`: the current
//! password, a TOTP code, or a code mailed to a *proven* address of the user (verified and
//! confirmed for sign-in; the primary one when it is). It gets a step-up token: single use, five
//! minutes, bound to the user and to the session that asked for it. A sensitive request
//! carries it in `x-postern-step-up-token`.
//!
//! | change (client access) | accepted proofs |
//! |---|---|
//! | `POST /auth/password/set` (a first password) | TOTP, email code |
//! | `PATCH /users/me` with `totp_secret_base64: null` (MFA off), or a secret replacing one | TOTP, email code |
//! | an address becoming usable for sign-in (new or changed auth channel, new primary email) | password, TOTP, email code |
//! | rewriting, removing or turning off the sign-in of an address that signs in | password, TOTP, email code |
//! | `POST /auth/mfa/recovery-codes` | TOTP, email code |
//!
//! An anonymous user with no credential of its own yet needs no proof: the token is all
//! there is. A user who has none of the accepted factors cannot make these changes as a
//! client (a server can). Servers and admins never need a proof. A TOTP counts as a proof
//! only once proven (enrolled with a proof, or used in a sign-in since): a secret a stolen
//! token enrolled proves nothing.
//!
//! Proof attempts count toward the account's failure runs (a stolen token cannot be used to
//! guess the password), and mailing a code counts toward the recipient's mail limit.

use serde_json::json;
use uuid::Uuid;

use crate::codes::{self, NONCE_LENGTH};
use crate::error::{Error, Refusal, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::{
    CodePurpose, ContactChannelRecord, Repos, UserRecord, VerificationCodeRecord,
};
use crate::throttle::{Factor, Subject};

/// Lifetime of a step-up token and of a mailed step-up code: 5 minutes.
pub const STEP_UP_LIFETIME_MILLIS: i64 = 5 * 60 * 1000;
/// The header a sensitive request carries its step-up token in.
pub const STEP_UP_HEADER: &str = "x-postern-step-up-token";

/// A way to prove a step-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The current password.
    Password,
    /// A TOTP code of the user's authenticator.
    Totp,
    /// A code mailed to the user's proven address.
    EmailCode,
}

impl Method {
    /// Wire name (`password`, `totp`, `email_code`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Password => "password",
            Method::Totp => "totp",
            Method::EmailCode => "email_code",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Method::Password, Method::Totp, Method::EmailCode]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// What a sensitive change accepts.
pub const CHANNEL_PROOFS: &[Method] = &[Method::Password, Method::Totp, Method::EmailCode];
/// What setting a first password, replacing or turning off MFA accept.
pub const SECOND_FACTOR_PROOFS: &[Method] = &[Method::Totp, Method::EmailCode];
/// What generating recovery codes accepts (not the password: recovery codes stand in for the
/// second factor).
pub const RECOVERY_PROOFS: &[Method] = &[Method::Totp, Method::EmailCode];

/// A proof given to `POST /auth/step-up`.
#[derive(Clone, PartialEq, Eq)]
pub enum Proof {
    /// The current password.
    Password(String),
    /// A TOTP code.
    Totp(String),
    /// The mailed code (45 characters, or the 6-character OTP followed by the nonce).
    EmailCode(String),
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proof::Password(_) => "Password(..)",
            Proof::Totp(_) => "Totp(..)",
            Proof::EmailCode(_) => "EmailCode(..)",
        })
    }
}

/// A step-up token, shown once.
#[derive(Clone, PartialEq, Eq)]
pub struct StepUpGrant {
    /// The token for `x-postern-step-up-token`.
    pub token: String,
    /// How it was proven.
    pub method: Method,
    /// Expiry, epoch milliseconds.
    pub expires_at_millis: i64,
}

impl std::fmt::Debug for StepUpGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepUpGrant")
            .field("method", &self.method)
            .field("expires_at_millis", &self.expires_at_millis)
            .finish_non_exhaustive()
    }
}

/// The address step-up codes and confirmation links go to: a *proven* address, confirmed
/// for sign-in and either verified or signing in (an address that receives reset links
/// already holds the account, so a code there grants nothing more). The primary one if it
/// is proven, else a verified one, else the oldest. Demoting it, or turning its sign-in off
/// once verified, does not stop it from being one.
pub(crate) fn proven_address(channels: &[ContactChannelRecord]) -> Option<&ContactChannelRecord> {
    channels
        .iter()
        .filter(|c| c.auth_confirmed && (c.is_verified || c.used_for_auth))
        .min_by_key(|c| (!c.is_primary, !c.is_verified, c.created_at_millis))
}

/// The proofs the user can give. A TOTP counts only once proven (see
/// [`UserRecord::totp_proven`]): a secret a stolen access token enrolled proves nothing.
pub(crate) fn available(rec: &UserRecord, channels: &[ContactChannelRecord]) -> Vec<Method> {
    let mut m = Vec::new();
    if rec.password_hash.is_some() {
        m.push(Method::Password);
    }
    if rec.totp_secret.is_some() && rec.totp_proven {
        m.push(Method::Totp);
    }
    if proven_address(channels).is_some() {
        m.push(Method::EmailCode);
    }
    m
}

/// Whether the user needs no proof at all: an anonymous user with no credential of its own
/// yet (no password, no TOTP, no address that signs in). The token is all it has.
pub(crate) fn exempt(rec: &UserRecord, channels: &[ContactChannelRecord]) -> bool {
    rec.is_anonymous
        && rec.password_hash.is_none()
        && rec.totp_secret.is_none()
        && !channels.iter().any(|c| c.used_for_auth && c.auth_confirmed)
}

/// Checks that a sensitive client change may go ahead: a step-up token of this user and
/// session, proven with one of `accepted`. An anonymous user needs none (the token is all
/// it has). A user who has none of the accepted factors cannot make the change as a client
/// at all (`STEP_UP_REQUIRED` with no methods: a server must make it), so that removing the
/// owner's factors first does not open the way. Returns the token's row, to spend with
/// [`spend`] in the change's transaction.
pub(crate) async fn require(
    p: &Postern,
    project: &Project,
    rec: &UserRecord,
    channels: &[ContactChannelRecord],
    session_id: Option<Uuid>,
    token: Option<&str>,
    accepted: &[Method],
) -> Result<Option<VerificationCodeRecord>> {
    if exempt(rec, channels) {
        return Ok(None);
    }
    let refused = || required(rec, channels, accepted);
    let Some(token) = token else {
        return Err(refused());
    };
    let record = match codes::check(p, project, CodePurpose::StepUpToken, token).await {
        Ok(r) => r,
        Err(Error::TooManyRequests { retry_after_secs }) => {
            return Err(Error::TooManyRequests { retry_after_secs });
        }
        Err(_) => return Err(refused()),
    };
    let method = record.data["method"].as_str().and_then(Method::parse);
    let session = record.data["session_id"]
        .as_str()
        .and_then(|s| s.parse().ok());
    if record.user_id != Some(rec.id)
        || session != session_id
        || !method.is_some_and(|m| accepted.contains(&m) && available(rec, channels).contains(&m))
    {
        return Err(refused());
    }
    Ok(Some(record))
}

/// Spends a step-up token inside the change's transaction.
pub(crate) async fn spend(
    p: &Postern,
    repos: &dyn Repos,
    token: Option<&VerificationCodeRecord>,
) -> Result<()> {
    match token {
        Some(t) => codes::consume(p, repos, t).await,
        None => Ok(()),
    }
}

/// Step-up operations; from [`Postern::step_up`].
#[derive(Debug, Clone, Copy)]
pub struct StepUp<'a> {
    p: &'a Postern,
}

impl Postern {
    /// Step-up proofs for sensitive changes.
    pub fn step_up(&self) -> StepUp<'_> {
        StepUp { p: self }
    }
}

impl StepUp<'_> {
    /// The proofs the user can give.
    pub async fn methods(&self, project: &Project, user_id: Uuid) -> Result<Vec<Method>> {
        let (rec, channels) = crate::model::load(&*self.p.inner.store, &project.id, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        Ok(available(&rec, &channels))
    }

    /// Mails a step-up code to the user's proven address (a six-character code,
    /// and a link to `callback_url` when one is given); returns the nonce the code is
    /// completed with, as for OTP sign-in.
    pub async fn send_code(
        &self,
        project: &Project,
        user_id: Uuid,
        callback_url: Option<&str>,
    ) -> Result<String> {
        if let Some(url) = callback_url
            && !self.p.redirect_allowed(project, url)
        {
            return Err(Error::RedirectUrlNotWhitelisted);
        }
        let store = &self.p.inner.store;
        let (_, channels) = crate::model::load(&**store, &project.id, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        let to = proven_address(&channels)
            .ok_or(Error::NoProvenEmail)?
            .value
            .clone();
        let (code, record) = codes::new_code(
            &project.id,
            CodePurpose::StepUpCode,
            Some(user_id),
            json!({ "email": to }),
            self.p.inner.clock.now_millis(),
            STEP_UP_LIFETIME_MILLIS,
        );
        let otp = code[..code.len() - NONCE_LENGTH].to_uppercase();
        let link = callback_url.and_then(|u| crate::email::link_with_code(u, &code));
        let tx = store.begin().await?;
        self.p
            .throttle()
            .mail(&*tx, project, &to, crate::throttle::MailKind::StepUp)
            .await?;
        tx.codes().insert(&record).await?;
        let mail = crate::email::step_up_code(&project.display_name, &to, &otp, link.as_deref());
        crate::email::enqueue(self.p, &*tx, &project.id, &mail).await?;
        tx.commit().await?;
        self.p.wake_outbox();
        Ok(code[code.len() - NONCE_LENGTH..].to_owned())
    }

    /// Proves a factor of the user and hands out a step-up token for the session
    /// `session_id`. Failures count toward the account's failure runs.
    pub async fn prove(
        &self,
        project: &Project,
        user_id: Uuid,
        session_id: Option<Uuid>,
        proof: &Proof,
    ) -> Result<StepUpGrant> {
        let p = self.p;
        let store = &p.inner.store;
        let (rec, channels) = crate::model::load(&**store, &project.id, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        let mut spent_code = None;
        let method = match proof {
            Proof::Password(pw) => {
                let Some(hash) = rec.password_hash.as_deref() else {
                    return Err(Error::UserDoesNotHavePassword);
                };
                let attempt = p
                    .throttle()
                    .begin(project, Factor::Password, &Subject::User(user_id))
                    .await?;
                if !p.inner.hasher.verify(pw, Some(hash)).await? {
                    let tx = store.begin().await?;
                    p.throttle().failed(&*tx, project, attempt).await?;
                    crate::audit::record(
                        p,
                        &*tx,
                        &project.id,
                        "step_up.failed",
                        Some(user_id),
                        json!({ "method": "password", "reason": "wrong_password" }),
                    )
                    .await?;
                    tx.commit().await?;
                    return Err(Error::PasswordConfirmationMismatch);
                }
                p.throttle().succeeded(&**store, project, attempt).await?;
                Method::Password
            }
            Proof::Totp(code) => {
                if rec.totp_secret.is_none() {
                    return Err(Error::MfaNotEnabled);
                }
                if !rec.totp_proven {
                    // Enrolled without a proof and never used to sign in since: it proves
                    // nothing (whoever holds a stolen token could have enrolled it).
                    return Err(required(&rec, &channels, CHANNEL_PROOFS));
                }
                crate::mfa::verify_second_factor(
                    p,
                    project,
                    &rec,
                    &crate::mfa::SecondFactor::Totp(code.clone()),
                    "step_up.failed",
                )
                .await?;
                Method::Totp
            }
            Proof::EmailCode(code) => {
                let record = codes::check(p, project, CodePurpose::StepUpCode, code).await?;
                if record.user_id != Some(user_id) {
                    return Err(Error::VerificationCodeNotFound);
                }
                spent_code = Some(record);
                Method::EmailCode
            }
        };
        let now = p.inner.clock.now_millis();
        let (token, record) = codes::new_code(
            &project.id,
            CodePurpose::StepUpToken,
            Some(user_id),
            json!({ "method": method.as_str(), "session_id": session_id }),
            now,
            STEP_UP_LIFETIME_MILLIS,
        );
        let tx = store.begin().await?;
        if let Some(c) = &spent_code {
            codes::consume(p, &*tx, c).await?;
        }
        tx.codes().insert(&record).await?;
        crate::audit::record(
            p,
            &*tx,
            &project.id,
            "step_up.succeeded",
            Some(user_id),
            json!({ "method": method.as_str() }),
        )
        .await?;
        tx.commit().await?;
        Ok(StepUpGrant {
            token,
            method,
            expires_at_millis: now + STEP_UP_LIFETIME_MILLIS,
        })
    }
}

/// Who asks for a change, for the rules that treat clients apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    /// A server, an admin, or the app's own code: trusted as it is.
    Trusted,
    /// A client, for its signed-in user.
    Client {
        /// The signed-in user (`None`: a client request without an access token).
        user_id: Option<Uuid>,
        /// The session of the request's access token.
        session_id: Option<Uuid>,
        /// The step-up token the request carries.
        step_up_token: Option<&'a str>,
    },
}

impl<'a> Caller<'a> {
    /// The caller for an actor: trusted for server and admin access, else a client for
    /// the actor's user and session, with the step-up token its request carries.
    pub fn of(actor: &crate::actor::Auth, step_up_token: Option<&'a str>) -> Self {
        if actor.is_client() {
            Caller::Client {
                user_id: actor.user_id(),
                session_id: actor.session_id(),
                step_up_token,
            }
        } else {
            Caller::Trusted
        }
    }

    /// Whether this is a client.
    pub fn is_client(&self) -> bool {
        matches!(self, Caller::Client { .. })
    }

    /// A client may act on its own user only: a client without a signed-in user gets
    /// `CANNOT_GET_OWN_USER_WITHOUT_USER`, one acting on another user `forbidden`.
    /// Trusted callers may act on anyone.
    pub fn require_self(&self, user_id: Uuid, forbidden: Refusal) -> Result<()> {
        match self {
            Caller::Trusted => Ok(()),
            Caller::Client { user_id: None, .. } => Err(Error::CannotGetOwnUserWithoutUser),
            Caller::Client {
                user_id: Some(me), ..
            } if *me == user_id => Ok(()),
            Caller::Client { .. } => Err(Error::Refused(forbidden)),
        }
    }
}

/// `STEP_UP_REQUIRED`, naming the user's methods among `accepted`.
pub(crate) fn required(
    rec: &UserRecord,
    channels: &[ContactChannelRecord],
    accepted: &[Method],
) -> Error {
    Error::StepUpRequired {
        methods: available(rec, channels)
            .into_iter()
            .filter(|m| accepted.contains(m))
            .map(|m| m.as_str())
            .collect(),
    }
}

/// For a client: the step-up token it must spend for a change accepting `accepted` (see
/// [`require`]); `Ok(None)` for a trusted caller or a user with none of the factors.
pub(crate) async fn require_for(
    p: &Postern,
    project: &Project,
    caller: Caller<'_>,
    rec: &UserRecord,
    channels: &[ContactChannelRecord],
    accepted: &[Method],
) -> Result<Option<VerificationCodeRecord>> {
    match caller {
        Caller::Trusted => Ok(None),
        Caller::Client {
            session_id,
            step_up_token,
            ..
        } => {
            require(
                p,
                project,
                rec,
                channels,
                session_id,
                step_up_token,
                accepted,
            )
            .await
        }
    }
}

/// For a client that sent a step-up token: the token, checked as [`require_for`] does; for
/// a client that sent none, `Ok(None)` (the change goes ahead, unconfirmed); for a trusted
/// caller, `Ok(None)`. The `bool` says whether the change counts as confirmed.
pub(crate) async fn optional_for(
    p: &Postern,
    project: &Project,
    caller: Caller<'_>,
    rec: &UserRecord,
    channels: &[ContactChannelRecord],
    accepted: &[Method],
) -> Result<(bool, Option<VerificationCodeRecord>)> {
    match caller {
        Caller::Trusted => Ok((true, None)),
        Caller::Client { .. } if exempt(rec, channels) => Ok((true, None)),
        Caller::Client {
            step_up_token: None,
            ..
        } => Ok((false, None)),
        Caller::Client { .. } => {
            let token = require_for(p, project, caller, rec, channels, accepted).await?;
            Ok((true, token))
        }
    }
}
