//! Users: the domain view, creation and update semantics, password sign-up and sign-in.
//!
//! Every multi-step write (user + contact channel + session; an update touching channels,
//! password and sessions) runs in one transaction. Password hashing happens before the
//! transaction starts, on the bounded blocking pool.

use serde_json::Value;
use uuid::Uuid;

use crate::config::ProjectConfig;
use crate::email::{is_valid_email_lenient, normalize_email};
use crate::error::{Error, OnConflict, RestrictedReason, Result};
use crate::passwords::{check_password_rules, is_supported_hash};
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::{ChannelKind, ContactChannelRecord, Repos, UserListQuery, UserRecord};

/// A user as Stack describes it (the server view; the REST layer hides server-only fields
/// from clients).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// User id.
    pub id: Uuid,
    /// Project id.
    pub project_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Profile image URL.
    pub profile_image_url: Option<String>,
    /// Primary email.
    pub primary_email: Option<String>,
    /// Primary email verified.
    pub primary_email_verified: bool,
    /// Primary email usable for sign-in.
    pub primary_email_auth_enabled: bool,
    /// Sign-up time, epoch milliseconds.
    pub signed_up_at_millis: i64,
    /// Last activity, epoch milliseconds.
    pub last_active_at_millis: i64,
    /// Client metadata.
    pub client_metadata: Option<Value>,
    /// Client-read-only metadata.
    pub client_read_only_metadata: Option<Value>,
    /// Server metadata.
    pub server_metadata: Option<Value>,
    /// Has a password.
    pub has_password: bool,
    /// OTP sign-in enabled.
    pub otp_auth_enabled: bool,
    /// Has a passkey.
    pub passkey_auth_enabled: bool,
    /// TOTP MFA enabled.
    pub requires_totp_mfa: bool,
    /// Selected team.
    pub selected_team_id: Option<Uuid>,
    /// The selected team itself (filled by the loading services).
    pub selected_team: Option<crate::teams::Team>,
    /// Anonymous.
    pub is_anonymous: bool,
    /// Why the user is restricted, if it is.
    pub restricted_reason: Option<RestrictedReason>,
    /// Restricted by an administrator.
    pub restricted_by_admin: bool,
    /// Public restriction reason.
    pub restricted_by_admin_reason: Option<String>,
    /// Private restriction notes.
    pub restricted_by_admin_private_details: Option<String>,
    /// Country code.
    pub country_code: Option<String>,
    /// Sign-up bot score.
    pub risk_score_bot: i32,
    /// Sign-up free-trial-abuse score.
    pub risk_score_free_trial_abuse: i32,
}

impl User {
    /// Builds the view from the row, its channels and the project config.
    pub fn from_parts(
        rec: &UserRecord,
        channels: &[ContactChannelRecord],
        config: &ProjectConfig,
    ) -> Self {
        let primary = channels
            .iter()
            .find(|c| c.is_primary && c.kind == ChannelKind::Email);
        let verified = primary.is_some_and(|c| c.is_verified);
        let restricted_reason = if rec.is_anonymous {
            Some(RestrictedReason::Anonymous)
        } else if config.onboarding.require_email_verification && !verified {
            Some(RestrictedReason::EmailNotVerified)
        } else if rec.restricted_by_admin {
            Some(RestrictedReason::RestrictedByAdministrator)
        } else {
            None
        };
        User {
            id: rec.id,
            project_id: rec.project_id.clone(),
            display_name: rec.display_name.clone(),
            profile_image_url: rec.profile_image_url.clone(),
            primary_email: primary.map(|c| c.value.clone()),
            primary_email_verified: verified,
            primary_email_auth_enabled: primary.is_some_and(|c| c.used_for_auth),
            signed_up_at_millis: rec.signed_up_at_millis,
            last_active_at_millis: rec.last_active_at_millis,
            client_metadata: rec.client_metadata.clone(),
            client_read_only_metadata: rec.client_read_only_metadata.clone(),
            server_metadata: rec.server_metadata.clone(),
            has_password: rec.password_hash.is_some(),
            otp_auth_enabled: rec.otp_auth_enabled,
            passkey_auth_enabled: false,
            requires_totp_mfa: rec.totp_secret.is_some(),
            selected_team_id: rec.selected_team_id,
            selected_team: None,
            is_anonymous: rec.is_anonymous,
            restricted_reason,
            restricted_by_admin: rec.restricted_by_admin,
            restricted_by_admin_reason: rec.restricted_by_admin_reason.clone(),
            restricted_by_admin_private_details: rec.restricted_by_admin_private_details.clone(),
            country_code: rec.country_code.clone(),
            risk_score_bot: rec.risk_score_bot,
            risk_score_free_trial_abuse: rec.risk_score_free_trial_abuse,
        }
    }

    /// Restricted (anonymous, unverified where verification is required, or by admin).
    pub fn is_restricted(&self) -> bool {
        self.restricted_reason.is_some()
    }
}

/// Changes to a user. `None` leaves a field alone; for nullable fields `Some(None)` clears it.
/// Metadata fields take `Some(Value::Null)` to clear.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserUpdate {
    /// Display name (`""` is stored as null).
    pub display_name: Option<Option<String>>,
    /// Profile image URL.
    pub profile_image_url: Option<Option<String>>,
    /// Client metadata.
    pub client_metadata: Option<Value>,
    /// Client-read-only metadata.
    pub client_read_only_metadata: Option<Value>,
    /// Server metadata.
    pub server_metadata: Option<Value>,
    /// Primary email (normalised before storing).
    pub primary_email: Option<Option<String>>,
    /// Primary email verified.
    pub primary_email_verified: Option<bool>,
    /// Primary email usable for sign-in.
    pub primary_email_auth_enabled: Option<bool>,
    /// New password (hashed with argon2id); `Some(None)` removes the password.
    pub password: Option<Option<String>>,
    /// Import a password hash (argon2 PHC); `Some(None)` removes the password.
    pub password_hash: Option<Option<String>>,
    /// OTP sign-in.
    pub otp_auth_enabled: Option<bool>,
    /// Passkey sign-in: only `false` is accepted.
    pub passkey_auth_enabled: Option<bool>,
    /// TOTP secret; only removal is supported so far.
    pub totp_secret: Option<Option<Vec<u8>>>,
    /// Selected team.
    pub selected_team_id: Option<Option<Uuid>>,
    /// Anonymous flag: creation may set `true`; updates only `false` (upgrade).
    pub is_anonymous: Option<bool>,
    /// Restricted by admin.
    pub restricted_by_admin: Option<bool>,
    /// Public restriction reason.
    pub restricted_by_admin_reason: Option<Option<String>>,
    /// Private restriction notes.
    pub restricted_by_admin_private_details: Option<Option<String>>,
    /// Country code (trimmed, upper-cased).
    pub country_code: Option<Option<String>>,
    /// Sign-up risk scores `(bot, free_trial_abuse)`.
    pub risk_scores: Option<(i32, i32)>,
}

/// Filters for [`Users::list`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListUsers {
    /// Page size; `None` lists everything.
    pub limit: Option<u64>,
    /// Start at this user (the previous page's `next_cursor`).
    pub cursor: Option<Uuid>,
    /// Newest first.
    pub desc: bool,
    /// Substring of the name or an email, or an exact id.
    pub query: Option<String>,
    /// Include restricted users.
    pub include_restricted: bool,
    /// Include anonymous users (implies restricted).
    pub include_anonymous: bool,
    /// Only anonymous users (needs `include_anonymous`).
    pub only_anonymous: bool,
}

/// A page of users.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPage {
    /// The users.
    pub items: Vec<User>,
    /// The id of the first user of the next page.
    pub next_cursor: Option<Uuid>,
}

/// What a successful sign-in hands out.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The user.
    pub user_id: Uuid,
    /// The session's refresh token (shown once; stored hashed).
    pub refresh_token: String,
    /// A fresh access token.
    pub access_token: String,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// User operations; from [`Postern::users`].
#[derive(Debug, Clone, Copy)]
pub struct Users<'a> {
    p: &'a Postern,
}

impl Postern {
    /// User operations.
    pub fn users(&self) -> Users<'_> {
        Users { p: self }
    }
}

/// The user row and its channels.
pub(crate) async fn load(
    repos: &dyn Repos,
    project_id: &str,
    id: Uuid,
) -> Result<Option<(UserRecord, Vec<ContactChannelRecord>)>> {
    let Some(rec) = repos.users().get(project_id, id).await? else {
        return Ok(None);
    };
    let channels = repos.users().list_channels(project_id, id).await?;
    Ok(Some((rec, channels)))
}

/// The user view with its selected team.
pub(crate) async fn view(
    repos: &dyn Repos,
    rec: &UserRecord,
    channels: &[ContactChannelRecord],
    config: &ProjectConfig,
) -> Result<User> {
    let mut user = User::from_parts(rec, channels, config);
    user.selected_team = crate::teams::selected_team(repos, rec).await?;
    Ok(user)
}

/// What follows the creation of any user, in its transaction: the personal team.
pub(crate) async fn after_create(
    p: &Postern,
    repos: &dyn Repos,
    project: &Project,
    rec: &UserRecord,
    email: Option<&str>,
) -> Result<()> {
    crate::teams::create_personal_team(p, repos, project, rec, email, p.inner.clock.now_millis())
        .await?;
    crate::permissions::grant_defaults(repos, project, "signUp", None, rec.id).await?;
    Ok(())
}

fn email_taken(email: &str) -> Error {
    Error::UserEmailAlreadyExists {
        email: email.to_owned(),
        would_work_if_email_was_verified: false,
    }
}

impl Users<'_> {
    /// The user with this id.
    pub async fn get(&self, project: &Project, id: Uuid) -> Result<Option<User>> {
        let store = &*self.p.inner.store;
        match load(store, &project.id, id).await? {
            Some((r, c)) => Ok(Some(view(store, &r, &c, &project.config).await?)),
            None => Ok(None),
        }
    }

    /// A page of users, ordered by sign-up time then id.
    pub async fn list(&self, project: &Project, q: &ListUsers) -> Result<UserPage> {
        if q.only_anonymous && !q.include_anonymous {
            return Err(Error::bad_request(
                "only_anonymous=true requires include_anonymous=true",
            ));
        }
        let include_restricted = q.include_restricted || q.include_anonymous;
        let query = UserListQuery {
            cursor: q.cursor,
            limit: q.limit.map(|l| l.saturating_add(1)),
            desc: q.desc,
            search: q.query.clone().filter(|s| !s.is_empty()),
            exclude_anonymous: !q.include_anonymous,
            only_anonymous: q.only_anonymous,
            exclude_restricted_by_admin: !include_restricted,
            exclude_unverified_email: !include_restricted
                && project.config.onboarding.require_email_verification,
        };
        let store = &self.p.inner.store;
        let mut rows = store.users().list(&project.id, &query).await?;
        let mut next_cursor = None;
        if let Some(limit) = q.limit
            && rows.len() as u64 > limit
        {
            // The extra row is the first of the next page: its id is the cursor.
            next_cursor = rows.pop().map(|r| r.id);
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let channels = store
            .users()
            .list_channels_for_users(&project.id, &ids)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let mine: Vec<ContactChannelRecord> = channels
                .iter()
                .filter(|c| c.user_id == r.id)
                .cloned()
                .collect();
            items.push(view(&**store, r, &mine, &project.config).await?);
        }
        Ok(UserPage { items, next_cursor })
    }

    /// Creates a user as a server would (`POST /users`): only what the update enables is
    /// enabled; `primary_email_auth_enabled` defaults to false.
    pub async fn create(&self, project: &Project, update: UserUpdate) -> Result<User> {
        let hash = self.prepare_password(&update).await?;
        let now = self.p.inner.clock.now_millis();
        let mut rec = UserRecord::new(&project.id, now);
        rec.is_anonymous = update.is_anonymous.unwrap_or(false);
        let mut update = update;
        self.seal_totp(rec.id, &mut update)?;
        let tx = self.p.inner.store.begin().await?;
        self.store_image(&*tx, project, &mut update).await?;
        tx.users().insert(&rec).await?;
        update.is_anonymous = None;
        apply_update(&*tx, project, rec.clone(), Vec::new(), &update, hash, now).await?;
        let (rec, channels) = load(&*tx, &project.id, rec.id)
            .await?
            .ok_or(Error::UserNotFound)?;
        // Stack answers with the user as it was before its personal team existed.
        let user = User::from_parts(&rec, &channels, &project.config);
        let email = user.primary_email.clone();
        after_create(self.p, &*tx, project, &rec, email.as_deref()).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Updates a user with Stack's semantics (one transaction). Setting or removing a
    /// password deletes all of the user's sessions.
    pub async fn update(&self, project: &Project, id: Uuid, update: UserUpdate) -> Result<User> {
        let hash = self.prepare_password(&update).await?;
        let mut update = update;
        self.seal_totp(id, &mut update)?;
        let now = self.p.inner.clock.now_millis();
        let tx = self.p.inner.store.begin().await?;
        let (rec, channels) = load(&*tx, &project.id, id)
            .await?
            .ok_or(Error::UserNotFound)?;
        self.store_image(&*tx, project, &mut update).await?;
        let password_changed = hash.is_some();
        apply_update(&*tx, project, rec, channels, &update, hash, now).await?;
        if password_changed {
            tx.sessions().delete_for_user(&project.id, id, None).await?;
        }
        let (rec, channels) = load(&*tx, &project.id, id)
            .await?
            .ok_or(Error::UserNotFound)?;
        let user = view(&*tx, &rec, &channels, &project.config).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Deletes a user with its channels and sessions; `false` when it did not exist.
    pub async fn delete(&self, project: &Project, id: Uuid) -> Result<bool> {
        Ok(self.p.inner.store.users().delete(&project.id, id).await?)
    }

    /// Stores a profile image sent as a data URL and puts its public URL in the update.
    async fn store_image(
        &self,
        tx: &dyn Repos,
        project: &Project,
        update: &mut UserUpdate,
    ) -> Result<()> {
        if let Some(Some(url)) = &update.profile_image_url {
            let stored = crate::files::store_if_data_url(
                self.p,
                tx,
                &project.id,
                crate::files::USER_IMAGES,
                Some(url.clone()),
            )
            .await?;
            update.profile_image_url = Some(stored);
        }
        Ok(())
    }

    /// Replaces a plain TOTP secret in an update with its sealed form.
    fn seal_totp(&self, user_id: Uuid, update: &mut UserUpdate) -> Result<()> {
        if let Some(Some(plain)) = &update.totp_secret {
            update.totp_secret = Some(Some(crate::mfa::seal_secret(self.p, user_id, plain)?));
        }
        Ok(())
    }

    /// Validates and hashes `password` / `password_hash` before any transaction.
    async fn prepare_password(&self, u: &UserUpdate) -> Result<Option<Option<String>>> {
        match (&u.password, &u.password_hash) {
            (Some(_), Some(_)) => Err(Error::bad_request(
                "Cannot set both password and password_hash at the same time.",
            )),
            (Some(Some(pw)), None) => Ok(Some(Some(self.p.inner.hasher.hash(pw).await?))),
            (None, Some(Some(h))) => {
                if is_supported_hash(h) {
                    Ok(Some(Some(h.clone())))
                } else {
                    Err(Error::bad_request(
                        "Invalid password hash. Make sure it's a supported algorithm in Modular Crypt Format.",
                    ))
                }
            }
            (Some(None), None) | (None, Some(None)) => Ok(Some(None)),
            (None, None) => Ok(None),
        }
    }

    /// Password sign-up: creates the user, its primary email (auth-enabled, unverified) and
    /// a session in one transaction, then mints an access token.
    pub async fn sign_up_with_password(
        &self,
        project: &Project,
        email: &str,
        password: &str,
        verification_callback_url: Option<&str>,
    ) -> Result<SignedIn> {
        self.sign_up_with_password_as(project, email, password, verification_callback_url, None)
            .await
    }

    /// Password sign-up that, given the id of the anonymous user making the request,
    /// upgrades that user in place (same id, `is_anonymous` false, sign-up time reset,
    /// personal team renamed) instead of creating one.
    pub async fn sign_up_with_password_as(
        &self,
        project: &Project,
        email: &str,
        password: &str,
        verification_callback_url: Option<&str>,
        anonymous: Option<Uuid>,
    ) -> Result<SignedIn> {
        let cfg = &project.config;
        if !cfg.auth.password.allow_sign_in {
            return Err(Error::PasswordAuthenticationNotEnabled);
        }
        if let Some(url) = verification_callback_url
            && !crate::redirects::is_allowed_redirect(&cfg.domains, url)
        {
            return Err(Error::RedirectUrlNotWhitelisted);
        }
        if !cfg.auth.allow_sign_up {
            return Err(Error::SignUpNotEnabled);
        }
        check_password_rules(password)?;
        let email = normalize_email(email);
        let store = &self.p.inner.store;
        if store
            .users()
            .find_auth_channel(&project.id, ChannelKind::Email, &email)
            .await?
            .is_some()
        {
            return Err(email_taken(&email));
        }
        let hash = self.p.inner.hasher.hash(password).await?;
        let now = self.p.inner.clock.now_millis();
        let tx = store.begin().await?;
        let upgrading = match anonymous {
            Some(id) => tx
                .users()
                .get(&project.id, id)
                .await?
                .filter(|r| r.is_anonymous),
            None => None,
        };
        let mut rec = upgrading
            .clone()
            .unwrap_or_else(|| UserRecord::new(&project.id, now));
        rec.password_hash = Some(hash);
        let channel = ContactChannelRecord {
            project_id: project.id.clone(),
            id: Uuid::new_v4(),
            user_id: rec.id,
            kind: ChannelKind::Email,
            value: email.clone(),
            is_primary: true,
            is_verified: false,
            used_for_auth: true,
            created_at_millis: now,
        };
        if upgrading.is_some() {
            rec.is_anonymous = false;
            rec.signed_up_at_millis = now;
            tx.users().update(&rec).await?;
        } else {
            tx.users().insert(&rec).await?;
        }
        tx.users()
            .insert_channel(&channel)
            .await
            .on_conflict(|| email_taken(&email))?;
        if upgrading.is_some() {
            crate::teams::rename_personal_teams(&*tx, &rec, Some(&email)).await?;
        } else {
            after_create(self.p, &*tx, project, &rec, Some(&email)).await?;
        }
        let rec = tx.users().get(&project.id, rec.id).await?.unwrap_or(rec);
        let (session, refresh_token) =
            crate::sessions::insert_session(&*tx, &project.id, rec.id, now, None, false).await?;
        if let Some(url) = verification_callback_url {
            crate::contact_channels::send_verification(self.p, &*tx, project, rec.id, &email, url)
                .await?;
        }
        tx.commit().await?;
        if verification_callback_url.is_some() {
            self.p.wake_outbox();
        }
        let user = User::from_parts(&rec, &[channel], cfg);
        let access_token = self.p.sessions().mint(project, &user, session.id)?;
        Ok(SignedIn {
            user_id: rec.id,
            refresh_token,
            access_token,
        })
    }

    /// Anonymous sign-up (`POST /auth/anonymous/sign-up`): a user with no email, restricted
    /// as anonymous, with a session; its tokens use the anonymous audience and keys.
    pub async fn sign_up_anonymous(&self, project: &Project) -> Result<SignedIn> {
        let now = self.p.inner.clock.now_millis();
        let mut rec = UserRecord::new(&project.id, now);
        rec.is_anonymous = true;
        let tx = self.p.inner.store.begin().await?;
        tx.users().insert(&rec).await?;
        after_create(self.p, &*tx, project, &rec, None).await?;
        let rec = tx.users().get(&project.id, rec.id).await?.unwrap_or(rec);
        let (session, refresh_token) =
            crate::sessions::insert_session(&*tx, &project.id, rec.id, now, None, false).await?;
        tx.commit().await?;
        let user = User::from_parts(&rec, &[], &project.config);
        let access_token = self.p.sessions().mint(project, &user, session.id)?;
        Ok(SignedIn {
            user_id: rec.id,
            refresh_token,
            access_token,
        })
    }

    /// Password sign-in. Unknown email, email not used for auth, no password and wrong
    /// password are indistinguishable (`EMAIL_PASSWORD_MISMATCH`) and cost the same time.
    pub async fn sign_in_with_password(
        &self,
        project: &Project,
        email: &str,
        password: &str,
    ) -> Result<SignedIn> {
        if !project.config.auth.password.allow_sign_in {
            return Err(Error::PasswordAuthenticationNotEnabled);
        }
        let store = &self.p.inner.store;
        let mut channel = store
            .users()
            .find_auth_channel(&project.id, ChannelKind::Email, email)
            .await?;
        if channel.is_none() {
            let normalized = normalize_email(email);
            if normalized != email {
                channel = store
                    .users()
                    .find_auth_channel(&project.id, ChannelKind::Email, &normalized)
                    .await?;
            }
        }
        let loaded = match &channel {
            Some(c) => load(&**store, &project.id, c.user_id).await?,
            None => None,
        };
        let hash = loaded
            .as_ref()
            .and_then(|(r, _)| r.password_hash.as_deref());
        let ok = self.p.inner.hasher.verify(password, hash).await?;
        let Some((rec, channels)) = loaded.filter(|_| ok) else {
            return Err(Error::EmailPasswordMismatch);
        };
        crate::mfa::require_second_factor(self.p, project, &rec, false).await?;
        // An imported bcrypt hash becomes argon2id now that the password is known.
        let upgraded = match rec.password_hash.as_deref() {
            Some(h) if crate::passwords::needs_upgrade(h) => {
                Some(self.p.inner.hasher.hash(password).await?)
            }
            _ => None,
        };
        let now = self.p.inner.clock.now_millis();
        let tx = store.begin().await?;
        if let Some(hash) = upgraded {
            let mut r = rec.clone();
            r.password_hash = Some(hash);
            tx.users().update(&r).await?;
        }
        let (session, refresh_token) =
            crate::sessions::insert_session(&*tx, &project.id, rec.id, now, None, false).await?;
        tx.users().touch(&project.id, rec.id, now).await?;
        tx.commit().await?;
        let mut user = User::from_parts(&rec, &channels, &project.config);
        user.last_active_at_millis = now;
        let access_token = self.p.sessions().mint(project, &user, session.id)?;
        Ok(SignedIn {
            user_id: rec.id,
            refresh_token,
            access_token,
        })
    }

    /// Changes the password after checking the old one; deletes every other session of the
    /// user (all of them when `keep_refresh_token` is `None`).
    pub async fn update_password(
        &self,
        project: &Project,
        user_id: Uuid,
        old_password: &str,
        new_password: &str,
        keep_refresh_token: Option<&str>,
    ) -> Result<()> {
        if !project.config.auth.password.allow_sign_in {
            return Err(Error::PasswordAuthenticationNotEnabled);
        }
        check_password_rules(new_password)?;
        let store = &self.p.inner.store;
        let rec = store
            .users()
            .get(&project.id, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        let Some(old_hash) = rec.password_hash.as_deref() else {
            return Err(Error::UserDoesNotHavePassword);
        };
        if !self
            .p
            .inner
            .hasher
            .verify(old_password, Some(old_hash))
            .await?
        {
            return Err(Error::PasswordConfirmationMismatch);
        }
        let new_hash = self.p.inner.hasher.hash(new_password).await?;
        let keep = match keep_refresh_token {
            Some(t) => store
                .sessions()
                .find_by_token_hash(&project.id, &crate::secrets::hash_secret(t))
                .await?
                .filter(|s| s.user_id == user_id)
                .map(|s| s.id),
            None => None,
        };
        let tx = store.begin().await?;
        replace_password(&*tx, &project.id, user_id, new_hash, keep).await?;
        Ok(tx.commit().await?)
    }

    /// Sets a first password (sessions are kept).
    pub async fn set_password(
        &self,
        project: &Project,
        user_id: Uuid,
        password: &str,
    ) -> Result<()> {
        if !project.config.auth.password.allow_sign_in {
            return Err(Error::PasswordAuthenticationNotEnabled);
        }
        check_password_rules(password)?;
        let store = &self.p.inner.store;
        let rec = store
            .users()
            .get(&project.id, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        if rec.password_hash.is_some() {
            return Err(Error::bad_request("User already has a password set."));
        }
        let hash = self.p.inner.hasher.hash(password).await?;
        let tx = store.begin().await?;
        let mut rec = tx
            .users()
            .get(&project.id, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        if rec.password_hash.is_some() {
            return Err(Error::bad_request("User already has a password set."));
        }
        rec.password_hash = Some(hash);
        tx.users().update(&rec).await?;
        Ok(tx.commit().await?)
    }
}

/// Sets a user's password hash and signs it out of every session but `keep`.
async fn replace_password(
    repos: &dyn Repos,
    project_id: &str,
    user_id: Uuid,
    hash: String,
    keep: Option<Uuid>,
) -> Result<()> {
    let mut rec = repos
        .users()
        .get(project_id, user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    rec.password_hash = Some(hash);
    repos.users().update(&rec).await?;
    repos
        .sessions()
        .delete_for_user(project_id, user_id, keep)
        .await?;
    Ok(())
}

/// The least time a password-reset request takes, whether or not the account exists, so
/// response times do not tell which addresses have accounts.
const RESET_REQUEST_FLOOR: std::time::Duration = std::time::Duration::from_millis(150);

impl Users<'_> {
    /// Sends a password-reset link to `email` if an account signs in with it. Answers the
    /// same, in the same time, whether or not the account exists; the callback URL is
    /// checked in both cases (Stack checks it only for existing accounts, which tells them
    /// apart).
    pub async fn send_password_reset_code(
        &self,
        project: &Project,
        email: &str,
        callback_url: &str,
    ) -> Result<()> {
        if !project.config.auth.password.allow_sign_in {
            return Err(Error::PasswordAuthenticationNotEnabled);
        }
        if !crate::redirects::is_allowed_redirect(&project.config.domains, callback_url) {
            return Err(Error::RedirectUrlNotWhitelisted);
        }
        let started = tokio::time::Instant::now();
        let result = self.enqueue_reset(project, email, callback_url).await;
        let jitter = std::time::Duration::from_millis(u64::from(rand::random::<u8>() % 50));
        tokio::time::sleep_until(started + RESET_REQUEST_FLOOR + jitter).await;
        if result? {
            self.p.wake_outbox();
        }
        Ok(())
    }

    async fn enqueue_reset(
        &self,
        project: &Project,
        email: &str,
        callback_url: &str,
    ) -> Result<bool> {
        let store = &self.p.inner.store;
        let mut channel = store
            .users()
            .find_auth_channel(&project.id, ChannelKind::Email, email)
            .await?;
        if channel.is_none() {
            channel = store
                .users()
                .find_auth_channel(&project.id, ChannelKind::Email, &normalize_email(email))
                .await?;
        }
        let Some(channel) = channel else {
            return Ok(false);
        };
        let (code, record) = crate::codes::new_code(
            &project.id,
            crate::storage::CodePurpose::PasswordReset,
            Some(channel.user_id),
            serde_json::json!({ "email": channel.value }),
            self.p.inner.clock.now_millis(),
            crate::codes::DEFAULT_LIFETIME_MILLIS,
        );
        let link = crate::email::link_with_code(callback_url, &code)
            .ok_or(Error::RedirectUrlNotWhitelisted)?;
        let tx = store.begin().await?;
        tx.codes().insert(&record).await?;
        let mail = crate::email::password_reset(&project.display_name, &channel.value, &link);
        crate::email::enqueue(self.p, &*tx, &project.id, &mail).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Checks a password-reset code without using it.
    pub async fn check_password_reset_code(&self, project: &Project, code: &str) -> Result<()> {
        crate::codes::check(
            self.p,
            &project.id,
            crate::storage::CodePurpose::PasswordReset,
            code,
        )
        .await
        .map(drop)
    }

    /// Resets the password with a code: sets it (creating the password method if needed)
    /// and signs the user out everywhere, in one transaction with the code's use. A
    /// password that breaks the rules is refused before the code is used, so the link
    /// still works for a better one.
    pub async fn reset_password(
        &self,
        project: &Project,
        code: &str,
        password: &str,
    ) -> Result<()> {
        let record = crate::codes::check(
            self.p,
            &project.id,
            crate::storage::CodePurpose::PasswordReset,
            code,
        )
        .await?;
        if !project.config.auth.password.allow_sign_in {
            return Err(Error::PasswordAuthenticationNotEnabled);
        }
        check_password_rules(password)?;
        let user_id = record.user_id.ok_or(Error::VerificationCodeNotFound)?;
        let hash = self.p.inner.hasher.hash(password).await?;
        let tx = self.p.inner.store.begin().await?;
        crate::codes::consume(self.p, &*tx, &record).await?;
        replace_password(&*tx, &project.id, user_id, hash, None).await?;
        tx.codes()
            .delete_unused_for_user(
                &project.id,
                crate::storage::CodePurpose::PasswordReset,
                user_id,
            )
            .await?;
        Ok(tx.commit().await?)
    }
}

/// Applies an update to a loaded user inside a transaction (Stack's order of checks).
async fn apply_update(
    repos: &dyn Repos,
    project: &Project,
    mut rec: UserRecord,
    channels: Vec<ContactChannelRecord>,
    u: &UserUpdate,
    password_hash: Option<Option<String>>,
    now: i64,
) -> Result<()> {
    let cfg = &project.config;
    // Selected team: must be a team the user belongs to.
    match u.selected_team_id {
        Some(Some(team_id)) => {
            if repos
                .teams()
                .get_member(&project.id, team_id, rec.id)
                .await?
                .is_none()
            {
                return Err(Error::TeamMembershipNotFound {
                    team_id,
                    user_id: rec.id,
                });
            }
            rec.selected_team_id = Some(team_id);
        }
        Some(None) => rec.selected_team_id = None,
        None => {}
    }

    apply_email(repos, project, &rec, &channels, u, now).await?;

    if let Some(otp) = u.otp_auth_enabled {
        if otp && !cfg.auth.otp.allow_sign_in {
            return Err(Error::bad_request("OTP auth not enabled in the project"));
        }
        rec.otp_auth_enabled = otp;
    }
    if u.passkey_auth_enabled == Some(true) {
        return Err(Error::bad_request(
            "Cannot manually enable passkey auth, it is enabled iff there is a passkey auth method",
        ));
    }
    if let Some(hash) = password_hash {
        if hash.is_some() && rec.password_hash.is_none() && !cfg.auth.password.allow_sign_in {
            return Err(Error::bad_request(
                "Password auth not enabled in the project",
            ));
        }
        rec.password_hash = hash;
    }
    match &u.totp_secret {
        // Sealed by the caller (`Users::create` / `Users::update`).
        Some(Some(sealed)) => rec.totp_secret = Some(sealed.clone()),
        Some(None) => rec.totp_secret = None,
        None => {}
    }
    if u.is_anonymous == Some(false) && rec.is_anonymous {
        rec.is_anonymous = false;
        rec.signed_up_at_millis = now;
        let email = match &u.primary_email {
            Some(e) => e.clone(),
            None => channels
                .iter()
                .find(|c| c.is_primary)
                .map(|c| c.value.clone()),
        };
        let mut named = rec.clone();
        if let Some(n) = &u.display_name {
            named.display_name = n.clone();
        }
        crate::teams::rename_personal_teams(repos, &named, email.as_deref()).await?;
    }
    let restricted = u.restricted_by_admin.unwrap_or(rec.restricted_by_admin);
    if restricted {
        rec.restricted_by_admin = true;
        if let Some(r) = &u.restricted_by_admin_reason {
            rec.restricted_by_admin_reason = r.clone();
        }
        if let Some(d) = &u.restricted_by_admin_private_details {
            rec.restricted_by_admin_private_details = d.clone();
        }
    } else {
        if matches!(u.restricted_by_admin_reason, Some(Some(_))) {
            return Err(Error::bad_request(
                "restricted_by_admin_reason requires restricted_by_admin=true",
            ));
        }
        if matches!(u.restricted_by_admin_private_details, Some(Some(_))) {
            return Err(Error::bad_request(
                "restricted_by_admin_private_details requires restricted_by_admin=true",
            ));
        }
        rec.restricted_by_admin = false;
        rec.restricted_by_admin_reason = None;
        rec.restricted_by_admin_private_details = None;
    }
    if let Some(n) = &u.display_name {
        rec.display_name = n.clone().filter(|s| !s.is_empty());
    }
    if let Some(url) = &u.profile_image_url {
        rec.profile_image_url = url.clone();
    }
    if let Some(m) = &u.client_metadata {
        rec.client_metadata = Some(m.clone()).filter(|v| !v.is_null());
    }
    if let Some(m) = &u.client_read_only_metadata {
        rec.client_read_only_metadata = Some(m.clone()).filter(|v| !v.is_null());
    }
    if let Some(m) = &u.server_metadata {
        rec.server_metadata = Some(m.clone()).filter(|v| !v.is_null());
    }
    if let Some(c) = &u.country_code {
        rec.country_code = c.as_ref().map(|c| c.trim().to_uppercase());
    }
    if let Some((bot, fta)) = u.risk_scores {
        rec.risk_score_bot = bot;
        rec.risk_score_free_trial_abuse = fta;
    }
    if !repos.users().update(&rec).await? {
        return Err(Error::UserNotFound);
    }
    Ok(())
}

async fn apply_email(
    repos: &dyn Repos,
    project: &Project,
    rec: &UserRecord,
    channels: &[ContactChannelRecord],
    u: &UserUpdate,
    now: i64,
) -> Result<()> {
    let old_primary = channels
        .iter()
        .find(|c| c.is_primary && c.kind == ChannelKind::Email);
    let resulting_has_primary = match &u.primary_email {
        Some(v) => v.is_some(),
        None => old_primary.is_some(),
    };
    if !resulting_has_primary {
        if u.primary_email_auth_enabled == Some(true) {
            return Err(Error::bad_request(
                "primary_email_auth_enabled cannot be true without primary_email",
            ));
        }
        if u.primary_email_verified == Some(true) {
            return Err(Error::bad_request(
                "primary_email_verified cannot be true without primary_email",
            ));
        }
    }
    let users = repos.users();
    let demote = |c: &ContactChannelRecord| ContactChannelRecord {
        is_primary: false,
        ..c.clone()
    };
    match &u.primary_email {
        None => {
            if let Some(p) = old_primary {
                let mut p = p.clone();
                p.is_verified = u.primary_email_verified.unwrap_or(p.is_verified);
                p.used_for_auth = u.primary_email_auth_enabled.unwrap_or(p.used_for_auth);
                users
                    .update_channel(&p)
                    .await
                    .on_conflict(|| email_taken(&p.value))?;
            }
        }
        Some(None) => {
            if let Some(p) = old_primary {
                users.update_channel(&demote(p)).await?;
            }
        }
        Some(Some(value)) => {
            if !is_valid_email_lenient(value.trim()) {
                return Err(Error::schema("body.primary_email must be a valid email"));
            }
            let value = normalize_email(value);
            if let Some(p) = old_primary.filter(|p| p.value == value) {
                let mut p = p.clone();
                p.is_verified = u.primary_email_verified.unwrap_or(p.is_verified);
                p.used_for_auth = u.primary_email_auth_enabled.unwrap_or(p.used_for_auth);
                users
                    .update_channel(&p)
                    .await
                    .on_conflict(|| email_taken(&value))?;
                return Ok(());
            }
            let inherited_auth = old_primary.is_some_and(|p| p.used_for_auth);
            if let Some(p) = old_primary {
                users.update_channel(&demote(p)).await?;
            }
            match channels
                .iter()
                .find(|c| c.kind == ChannelKind::Email && c.value == value)
            {
                Some(existing) => {
                    let mut c = existing.clone();
                    c.is_primary = true;
                    c.is_verified = u.primary_email_verified.unwrap_or(c.is_verified);
                    c.used_for_auth = u.primary_email_auth_enabled.unwrap_or(c.used_for_auth);
                    users
                        .update_channel(&c)
                        .await
                        .on_conflict(|| email_taken(&value))?;
                }
                None => {
                    let c = ContactChannelRecord {
                        project_id: project.id.clone(),
                        id: Uuid::new_v4(),
                        user_id: rec.id,
                        kind: ChannelKind::Email,
                        value: value.clone(),
                        is_primary: true,
                        is_verified: u.primary_email_verified.unwrap_or(false),
                        used_for_auth: u.primary_email_auth_enabled.unwrap_or(inherited_auth),
                        created_at_millis: now,
                    };
                    users
                        .insert_channel(&c)
                        .await
                        .on_conflict(|| email_taken(&value))?;
                }
            }
        }
    }
    Ok(())
}
