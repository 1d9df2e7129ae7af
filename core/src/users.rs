//! Users: the domain view, creation and update semantics, password sign-up and sign-in.
//!
//! Every multi-step write (user + contact channel + session; an update touching channels,
//! password and sessions) runs in one transaction. Password hashing happens before the
//! transaction starts, on the bounded blocking pool.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::actor::Auth;
use crate::auth::account::NewAccount;
use crate::auth::session::Opening;
use crate::email::{Notice, is_valid_email_lenient, normalize_email};
use crate::error::{Error, OnConflict, Refusal, Result};
pub use crate::model::{MAX_METADATA_BYTES, SignedIn, User};
pub(crate) use crate::model::{load, oversized_metadata};
use crate::passwords::{check_password_rules, is_supported_hash};
use crate::postern::Postern;
use crate::projects::Project;
use crate::step_up::{self, Caller};
use crate::storage::{ChannelKind, ContactChannelRecord, Repos, UserListQuery, UserRecord};
use crate::throttle::{Factor, MailKind, Subject};

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
    /// Passkey sign-in: `false` removes the user's passkeys; `true` is refused (it follows
    /// the passkeys, which only a registration adds).
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

pub(crate) use crate::model::view;

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
            return Err(Error::Refused(
                Refusal::OnlyAnonymousWithoutIncludeAnonymous,
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
    /// enabled; `primary_email_auth_enabled` defaults to false. A server vouches for what it
    /// sets: the account counts as claimed and its address as confirmed for sign-in.
    pub async fn create(&self, project: &Project, update: UserUpdate) -> Result<User> {
        self.create_with_provider_accounts(project, update, &[])
            .await
    }

    /// [`Users::create`] with OAuth provider accounts (a server's `oauth_providers`): each
    /// signs the user in and hands out tokens, and is written in the same transaction.
    /// A provider the project does not configure is refused before anything is written.
    pub async fn create_with_provider_accounts(
        &self,
        project: &Project,
        update: UserUpdate,
        accounts: &[crate::model::OAuthProviderLink],
    ) -> Result<User> {
        for a in accounts {
            if crate::oauth::provider_kind(self.p, project, &a.id).is_none() {
                return Err(Error::Refused(Refusal::OauthProviderNotFound {
                    provider_id: a.id.clone(),
                }));
            }
        }
        check_metadata(&update)?;
        let hash = self.prepare_password(&update).await?;
        let now = self.p.inner.clock.now_millis();
        let mut rec = UserRecord::new(&project.id, now);
        rec.is_anonymous = update.is_anonymous.unwrap_or(false);
        if !rec.is_anonymous {
            rec.claimed_at_millis = Some(now);
        }
        let mut update = update;
        self.seal_totp(rec.id, &mut update)?;
        let tx = self.p.inner.store.begin().await?;
        self.store_image(&*tx, project, &mut update, None).await?;
        crate::auth::account::insert(&*tx, &rec).await?;
        update.is_anonymous = None;
        let prepared = Prepared {
            password_hash: hash,
            now,
            confirmed: true,
            totp_proven: true,
        };
        apply_update(&*tx, project, rec.clone(), Vec::new(), &update, prepared).await?;
        let (rec, channels) = load(&*tx, &project.id, rec.id)
            .await?
            .ok_or(Error::UserNotFound)?;
        for a in accounts {
            tx.oauth()
                .insert_account(&crate::storage::OAuthAccountRecord {
                    project_id: project.id.clone(),
                    id: Uuid::new_v4(),
                    user_id: rec.id,
                    provider_config_id: a.id.clone(),
                    provider_account_id: a.account_id.clone(),
                    email: a.email.clone(),
                    allow_sign_in: true,
                    allow_connected_accounts: true,
                    created_at_millis: now,
                })
                .await
                .on_conflict(|| Error::Refused(Refusal::OauthProviderAccountExists))?;
        }
        // Stack answers with the user as it was before its personal team existed.
        let mut user = User::from_parts(&rec, &channels, &project.config);
        user.oauth_providers = accounts.to_vec();
        let email = user.primary_email.clone();
        crate::auth::account::finish(
            self.p,
            &*tx,
            project,
            &rec,
            email.as_deref(),
            false,
            "server",
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Updates a user with Stack's semantics (one transaction), as a trusted caller (a
    /// server, or the app's own code). Setting or removing a password deletes all of the
    /// user's sessions.
    pub async fn update(&self, project: &Project, id: Uuid, update: UserUpdate) -> Result<User> {
        self.update_as(project, id, update, Caller::Trusted).await
    }

    /// Updates a user as `caller`.
    ///
    /// A client needs a step-up token to turn MFA off or replace its secret
    /// (`STEP_UP_REQUIRED` otherwise). A new primary email set by a client does not sign in
    /// until a step-up confirms it (with the token on this request, or later); a TOTP secret
    /// a client enrolls without a token works as a second factor but proves nothing in a
    /// step-up until a sign-in has used it. Whether something counts as proven is decided
    /// only by a token spent in the update's transaction, so concurrent requests cannot
    /// carry one request's state onto another's. Every address the user had before is told
    /// about email, password and MFA changes. Records `user.updated` with the server view
    /// after the update in its transaction (Stack sends it for every update, even one that
    /// changes nothing).
    pub async fn update_as(
        &self,
        project: &Project,
        id: Uuid,
        update: UserUpdate,
        caller: Caller<'_>,
    ) -> Result<User> {
        check_metadata(&update)?;
        let store = &self.p.inner.store;
        let (before, before_channels) = load(&**store, &project.id, id)
            .await?
            .ok_or(Error::UserNotFound)?;
        let has_totp = before.totp_secret.is_some();
        // Turning MFA off or replacing its secret needs a proof; setting a new primary email,
        // or a first secret, may carry one (then it counts as proven).
        let mfa_guarded = update.totp_secret.is_some() && has_totp;
        let primary_value = |channels: &[ContactChannelRecord]| {
            channels
                .iter()
                .find(|c| c.is_primary && c.kind == ChannelKind::Email)
                .map(|c| c.value.clone())
        };
        let wants_new_address = matches!(&update.primary_email, Some(Some(v))
            if primary_value(&before_channels) != Some(normalize_email(v)));
        let (proof, token) = if mfa_guarded {
            let token = step_up::require_for(
                self.p,
                project,
                caller,
                &before,
                &before_channels,
                step_up::SECOND_FACTOR_PROOFS,
            )
            .await?;
            (true, token)
        } else if wants_new_address || update.totp_secret.is_some() {
            step_up::optional_for(
                self.p,
                project,
                caller,
                &before,
                &before_channels,
                step_up::CHANNEL_PROOFS,
            )
            .await?
        } else {
            (!caller.is_client(), None)
        };
        let hash = self.prepare_password(&update).await?;
        let mut update = update;
        self.seal_totp(id, &mut update)?;
        let now = self.p.inner.clock.now_millis();
        let tx = store.begin().await?;
        step_up::spend(self.p, &*tx, token.as_ref()).await?;
        let (rec, channels) = load(&*tx, &project.id, id)
            .await?
            .ok_or(Error::UserNotFound)?;
        // Decided again on the rows of the transaction: a secret that appeared meanwhile is
        // guarded too.
        if update.totp_secret.is_some() && rec.totp_secret.is_some() && caller.is_client() && !proof
        {
            return Err(step_up::required(
                &rec,
                &channels,
                step_up::SECOND_FACTOR_PROOFS,
            ));
        }
        let old_image = rec.profile_image_url.clone();
        self.store_image(&*tx, project, &mut update, old_image.as_deref())
            .await?;
        if update.profile_image_url.is_some() {
            let replaced = update.profile_image_url.clone().flatten();
            if old_image != replaced {
                crate::files::delete_if_stored(
                    self.p,
                    &*tx,
                    &project.id,
                    crate::files::USER_IMAGES,
                    old_image.as_deref(),
                )
                .await?;
            }
        }
        let password_changed = hash.is_some();
        let totp_before = rec.totp_secret.is_some();
        let old_primary = primary_value(&channels);
        let prepared = Prepared {
            password_hash: hash,
            now,
            confirmed: proof,
            totp_proven: proof,
        };
        apply_update(&*tx, project, rec, channels, &update, prepared).await?;
        if password_changed {
            tx.sessions().delete_for_user(&project.id, id, None).await?;
        }
        let (rec, channels) = load(&*tx, &project.id, id)
            .await?
            .ok_or(Error::UserNotFound)?;
        let mut notices = Vec::new();
        let new_primary = primary_value(&channels);
        if let Some(old) = &old_primary
            && new_primary.as_ref() != Some(old)
        {
            crate::audit::record(
                self.p,
                &*tx,
                &project.id,
                "email.changed",
                Some(id),
                json!({ "from": old, "to": new_primary, "confirmed_for_sign_in": proof }),
            )
            .await?;
            notices.push(Notice::EmailChanged(
                new_primary.clone().unwrap_or_default(),
            ));
        }
        if password_changed {
            crate::audit::record(
                self.p,
                &*tx,
                &project.id,
                "password.changed",
                Some(id),
                json!({ "how": "update", "removed": rec.password_hash.is_none() }),
            )
            .await?;
            notices.push(Notice::PasswordChanged);
        }
        if update.totp_secret.is_some() {
            let on = rec.totp_secret.is_some();
            let (event, notice) = match (totp_before, on) {
                (false, true) => ("mfa.enabled", Notice::MfaEnabled),
                (true, true) => ("mfa.changed", Notice::MfaChanged),
                (_, false) => ("mfa.disabled", Notice::MfaDisabled),
            };
            if totp_before || !on {
                // A new or no secret: the old recovery codes go with the old one.
                tx.recovery_codes().delete_for_user(&project.id, id).await?;
            }
            if totp_before || on {
                crate::audit::record(
                    self.p,
                    &*tx,
                    &project.id,
                    event,
                    Some(id),
                    json!({ "proven": on && rec.totp_proven }),
                )
                .await?;
                notices.push(notice);
            }
        }
        let notified = notify_owner(self.p, &*tx, project, &before_channels, &notices).await?;
        let user = view(&*tx, &rec, &channels, &project.config).await?;
        crate::events::record(
            self.p,
            &*tx,
            &project.id,
            "user.updated",
            &crate::views::UserView::of(&user, true),
        )
        .await?;
        tx.commit().await?;
        if notified {
            self.p.wake_outbox();
        }
        Ok(user)
    }

    /// Deletes user `id` as `actor`: a client only itself, and only where the project allows
    /// client user deletion; `false` when the user did not exist.
    pub async fn delete_as(&self, actor: &Auth, id: Uuid) -> Result<bool> {
        if actor.is_client() {
            if actor.user_id() != Some(id) {
                return Err(Error::CannotGetOwnUserWithoutUser);
            }
            if !actor.project.config.users.allow_client_user_deletion {
                return Err(Error::Refused(Refusal::ClientUserDeletionDisabled));
            }
        }
        self.delete(&actor.project, id).await
    }

    /// Deletes a user with its channels, sessions and stored images; `false` when it did
    /// not exist.
    ///
    /// Records Stack's events in the deletion's transaction: `team_membership.deleted` for
    /// each of the user's teams, then `user.deleted` with `{id, teams: [{id}, ...]}`
    /// (teams oldest first, as Stack lists them).
    pub async fn delete(&self, project: &Project, id: Uuid) -> Result<bool> {
        let tx = self.p.inner.store.begin().await?;
        let Some(rec) = tx.users().get(&project.id, id).await? else {
            return Ok(false);
        };
        let mut teams = tx.teams().list_for_user(&project.id, id).await?;
        teams.sort_by_key(|t| (t.created_at_millis, t.id));
        crate::files::delete_if_stored(
            self.p,
            &*tx,
            &project.id,
            crate::files::USER_IMAGES,
            rec.profile_image_url.as_deref(),
        )
        .await?;
        for team in &teams {
            if let Some(m) = tx.teams().get_member(&project.id, team.id, id).await? {
                crate::files::delete_if_stored(
                    self.p,
                    &*tx,
                    &project.id,
                    crate::files::MEMBER_IMAGES,
                    m.profile_image_url.as_deref(),
                )
                .await?;
            }
        }
        let gone = tx.users().delete(&project.id, id).await?;
        if gone {
            for team in &teams {
                crate::teams::membership_deleted(self.p, &*tx, &project.id, team.id, id).await?;
            }
            crate::events::record(
                self.p,
                &*tx,
                &project.id,
                "user.deleted",
                &crate::views::DeletedUserView {
                    id,
                    teams: teams
                        .iter()
                        .map(|t| crate::views::DeletedView { id: t.id })
                        .collect(),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(gone)
    }

    /// Stores a profile image sent as a data URL and puts its public URL in the update.
    async fn store_image(
        &self,
        tx: &dyn Repos,
        project: &Project,
        update: &mut UserUpdate,
        current: Option<&str>,
    ) -> Result<()> {
        if let Some(Some(url)) = &update.profile_image_url {
            let stored = crate::files::store_if_data_url(
                self.p,
                tx,
                &project.id,
                crate::files::USER_IMAGES,
                Some(url.clone()),
                current,
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
            (Some(_), Some(_)) => Err(Error::Refused(Refusal::PasswordAndPasswordHash)),
            (Some(Some(pw)), None) => Ok(Some(Some(self.p.inner.hasher.hash(pw).await?))),
            (None, Some(Some(h))) => {
                if is_supported_hash(h) {
                    Ok(Some(Some(h.clone())))
                } else {
                    Err(Error::Refused(Refusal::UnsupportedPasswordHash))
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
            && !self.p.redirect_allowed(project, url)
        {
            return Err(Error::RedirectUrlNotWhitelisted);
        }
        crate::auth::gate::sign_up_enabled(project)?;
        check_password_rules(password)?;
        let email = normalize_email(email);
        let verdict = crate::auth::gate::check(
            self.p,
            project,
            crate::auth::gate::Applicant {
                email: Some(&email),
                method: crate::sign_up_rules::AuthMethod::Password,
                oauth_provider: None,
            },
        )
        .await?;
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
        verdict.apply(&mut rec);
        let channel = ContactChannelRecord {
            project_id: project.id.clone(),
            id: Uuid::new_v4(),
            user_id: rec.id,
            kind: ChannelKind::Email,
            value: email.clone(),
            is_primary: true,
            is_verified: false,
            used_for_auth: true,
            // The address the account is created with signs in.
            auth_confirmed: true,
            created_at_millis: now,
        };
        let rec = crate::auth::account::create(
            self.p,
            &*tx,
            project,
            NewAccount {
                rec,
                upgrading: upgrading.is_some(),
                channel: Some(channel.clone()),
                country_code: crate::audit::RequestMeta::current().country_code,
            },
            "password",
            || email_taken(&email),
        )
        .await?;
        let opened =
            crate::auth::session::open(self.p, &*tx, &project.id, rec.id, Opening::SignUp).await?;
        // The verification mail is a side effect: over the recipient's mail limit it is
        // skipped, and the sign-up stands (as a failed send would in Stack).
        let mut mailed = false;
        if let Some(url) = verification_callback_url
            && self
                .p
                .throttle()
                .mail(&*tx, project, &email, MailKind::Verification)
                .await
                .is_ok()
        {
            crate::contact_channels::send_verification(self.p, &*tx, project, rec.id, &email, url)
                .await?;
            mailed = true;
        }
        tx.commit().await?;
        if mailed {
            self.p.wake_outbox();
        }
        opened.tokens(self.p, project, &User::from_parts(&rec, &[channel], cfg))
    }

    /// Anonymous sign-up (`POST /auth/anonymous/sign-up`): a user with no email, restricted
    /// as anonymous, with a session; its tokens use the anonymous audience and keys.
    pub async fn sign_up_anonymous(&self, project: &Project) -> Result<SignedIn> {
        let now = self.p.inner.clock.now_millis();
        let mut rec = UserRecord::new(&project.id, now);
        rec.is_anonymous = true;
        let tx = self.p.inner.store.begin().await?;
        let rec = crate::auth::account::create(
            self.p,
            &*tx,
            project,
            NewAccount {
                rec,
                upgrading: false,
                channel: None,
                country_code: crate::audit::RequestMeta::current().country_code,
            },
            "anonymous",
            || Error::Internal("an anonymous user has no address".into()),
        )
        .await?;
        let opened =
            crate::auth::session::open(self.p, &*tx, &project.id, rec.id, Opening::SignUp).await?;
        tx.commit().await?;
        opened.tokens(
            self.p,
            project,
            &User::from_parts(&rec, &[], &project.config),
        )
    }

    /// Password sign-in. Unknown email, email not used for auth (or not confirmed for
    /// sign-in), no password and wrong password are indistinguishable
    /// (`EMAIL_PASSWORD_MISMATCH`) and cost the same time. Failures count toward the
    /// account's (or, for an unknown address, the address's) password failure run: past
    /// the free failures each attempt waits longer, and after `maxFailures` the password is
    /// locked (`429`), whether or not it would have been right.
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
        let channel = sign_in_channel(&**store, &project.id, email).await?;
        let loaded = match &channel {
            Some(c) => load(&**store, &project.id, c.user_id).await?,
            None => None,
        };
        let subject = match &loaded {
            Some((r, _)) => Subject::User(r.id),
            None => Subject::Address(normalize_email(email)),
        };
        let attempt = self
            .p
            .throttle()
            .begin(project, Factor::Password, &subject)
            .await?;
        let hash = loaded
            .as_ref()
            .and_then(|(r, _)| r.password_hash.as_deref());
        let ok = self.p.inner.hasher.verify(password, hash).await?;
        let Some((rec, channels)) = loaded.filter(|_| ok) else {
            let tx = store.begin().await?;
            self.p.throttle().failed(&*tx, project, attempt).await?;
            if let Subject::User(user) = subject {
                crate::audit::record(
                    self.p,
                    &*tx,
                    &project.id,
                    "sign_in.failed",
                    Some(user),
                    json!({ "method": "password", "reason": "wrong_password" }),
                )
                .await?;
            }
            tx.commit().await?;
            return Err(Error::EmailPasswordMismatch);
        };
        if rec.totp_secret.is_some() {
            self.p
                .throttle()
                .succeeded(&**store, project, attempt)
                .await?;
            return Err(crate::auth::second_factor_required(self.p, project, &rec, None).await);
        }
        // A hash imported from elsewhere (bcrypt, other argon2 parameters) becomes
        // Postern's own argon2id now that the password is known.
        let upgraded = match rec.password_hash.as_deref() {
            Some(h) if self.p.inner.hasher.needs_rehash(h) => {
                Some(self.p.inner.hasher.hash(password).await?)
            }
            _ => None,
        };
        let now = self.p.inner.clock.now_millis();
        let tx = store.begin().await?;
        // The run ends with the session, in one commit.
        self.p.throttle().succeeded(&*tx, project, attempt).await?;
        if let Some(hash) = upgraded {
            let mut r = rec.clone();
            r.password_hash = Some(hash);
            tx.users().update(&r).await?;
        }
        let opened = crate::auth::session::open(
            self.p,
            &*tx,
            &project.id,
            rec.id,
            Opening::SignIn("password"),
        )
        .await?;
        tx.commit().await?;
        let mut user = User::from_parts(&rec, &channels, &project.config);
        user.last_active_at_millis = now;
        opened.tokens(self.p, project, &user)
    }

    /// Changes the password after checking the old one; deletes every other session of the
    /// user (all of them when `keep_refresh_token` is `None`) and revokes the user's API
    /// keys. Wrong old passwords count toward the account's password failure run, so a
    /// stolen access token cannot be used to guess the password here.
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
        let attempt = self
            .p
            .throttle()
            .begin(project, Factor::Password, &Subject::User(user_id))
            .await?;
        if !self
            .p
            .inner
            .hasher
            .verify(old_password, Some(old_hash))
            .await?
        {
            let tx = store.begin().await?;
            self.p.throttle().failed(&*tx, project, attempt).await?;
            crate::audit::record(
                self.p,
                &*tx,
                &project.id,
                "sign_in.failed",
                Some(user_id),
                json!({ "method": "password", "reason": "wrong_old_password" }),
            )
            .await?;
            tx.commit().await?;
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
        self.p.throttle().succeeded(&*tx, project, attempt).await?;
        replace_password(self.p, &*tx, project, user_id, new_hash, keep, "update").await?;
        // Keys made with a session the owner is now ending go with it.
        let keys = tx
            .api_keys()
            .revoke_for_user(&project.id, user_id, self.p.inner.clock.now_millis())
            .await?;
        if keys > 0 {
            crate::audit::record(
                self.p,
                &*tx,
                &project.id,
                "api_key.revoked",
                Some(user_id),
                json!({ "count": keys, "reason": "password_changed" }),
            )
            .await?;
        }
        tx.commit().await?;
        self.p.wake_outbox();
        Ok(())
    }

    /// Sets a first password (sessions are kept), as a trusted caller.
    pub async fn set_password(
        &self,
        project: &Project,
        user_id: Uuid,
        password: &str,
    ) -> Result<()> {
        self.set_password_as(project, user_id, password, Caller::Trusted)
            .await
    }

    /// Sets a first password as `caller`. A client needs a step-up token proven with a TOTP
    /// or a code mailed to the proven address (`STEP_UP_REQUIRED` otherwise),
    /// unless the user has neither (an anonymous user). Checks run in Stack's order first:
    /// password sign-in enabled, no password yet, password rules; the proof last.
    pub async fn set_password_as(
        &self,
        project: &Project,
        user_id: Uuid,
        password: &str,
        caller: Caller<'_>,
    ) -> Result<()> {
        if !project.config.auth.password.allow_sign_in {
            return Err(Error::PasswordAuthenticationNotEnabled);
        }
        let store = &self.p.inner.store;
        let (rec, channels) = load(&**store, &project.id, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        if rec.password_hash.is_some() {
            return Err(Error::Refused(Refusal::PasswordAlreadySet));
        }
        check_password_rules(password)?;
        let token = step_up::require_for(
            self.p,
            project,
            caller,
            &rec,
            &channels,
            step_up::SECOND_FACTOR_PROOFS,
        )
        .await?;
        let hash = self.p.inner.hasher.hash(password).await?;
        let tx = store.begin().await?;
        step_up::spend(self.p, &*tx, token.as_ref()).await?;
        let mut rec = tx
            .users()
            .get(&project.id, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        if rec.password_hash.is_some() {
            return Err(Error::Refused(Refusal::PasswordAlreadySet));
        }
        rec.password_hash = Some(hash);
        tx.users().update(&rec).await?;
        crate::audit::record(
            self.p,
            &*tx,
            &project.id,
            "password.changed",
            Some(user_id),
            json!({ "how": "set" }),
        )
        .await?;
        let notified =
            notify_owner(self.p, &*tx, project, &channels, &[Notice::PasswordChanged]).await?;
        tx.commit().await?;
        if notified {
            self.p.wake_outbox();
        }
        Ok(())
    }
}

/// Sets a user's password hash, signs it out of every session but `keep` (with no `keep`,
/// access tokens issued before stop working too), and records and announces the change
/// (audit event, notices to the addresses the owner has proven).
async fn replace_password(
    p: &Postern,
    repos: &dyn Repos,
    project: &Project,
    user_id: Uuid,
    hash: String,
    keep: Option<Uuid>,
    how: &str,
) -> Result<()> {
    let (mut rec, channels) = load(repos, &project.id, user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    rec.password_hash = Some(hash);
    if keep.is_none() {
        // Signed out everywhere: access tokens already handed out stop working too.
        rec.tokens_valid_after_millis = Some(p.inner.clock.now_millis());
    }
    repos.users().update(&rec).await?;
    let sessions = repos
        .sessions()
        .delete_for_user(&project.id, user_id, keep)
        .await?;
    crate::audit::record(
        p,
        repos,
        &project.id,
        "password.changed",
        Some(user_id),
        json!({ "how": how, "sessions_revoked": sessions }),
    )
    .await?;
    notify_owner(p, repos, project, &channels, &[Notice::PasswordChanged]).await?;
    Ok(())
}

/// Mails `notices` to every address the user had before the change that the owner has
/// shown to be theirs (verified, or signing in and confirmed for it), so moving the primary
/// elsewhere first does not silence them. Returns whether mail was written.
pub(crate) async fn notify_owner(
    p: &Postern,
    repos: &dyn Repos,
    project: &Project,
    before: &[ContactChannelRecord],
    notices: &[Notice],
) -> Result<bool> {
    let mut sent = false;
    let mut seen = std::collections::BTreeSet::new();
    for c in before
        .iter()
        .filter(|c| c.is_verified || (c.used_for_auth && c.auth_confirmed))
    {
        if !seen.insert(c.value.as_str()) {
            continue;
        }
        for n in notices {
            sent |= crate::email::notify(p, repos, project, &c.value, n).await?;
        }
    }
    Ok(sent)
}

/// The channel an address signs in with: an auth channel confirmed for sign-in, matched
/// verbatim, then in normalised form (§9.2.2).
pub(crate) async fn sign_in_channel(
    repos: &dyn Repos,
    project_id: &str,
    email: &str,
) -> Result<Option<ContactChannelRecord>> {
    let users = repos.users();
    let mut channel = users
        .find_auth_channel(project_id, ChannelKind::Email, email)
        .await?;
    if channel.is_none() {
        let normalized = normalize_email(email);
        if normalized != email {
            channel = users
                .find_auth_channel(project_id, ChannelKind::Email, &normalized)
                .await?;
        }
    }
    Ok(channel.filter(|c| c.auth_confirmed))
}

/// Refuses metadata over [`MAX_METADATA_BYTES`] (`SCHEMA_ERROR`).
fn check_metadata(u: &UserUpdate) -> Result<()> {
    let failures = oversized_metadata(&[
        ("client_metadata", u.client_metadata.as_ref()),
        (
            "client_read_only_metadata",
            u.client_read_only_metadata.as_ref(),
        ),
        ("server_metadata", u.server_metadata.as_ref()),
    ]);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::Schema(failures))
    }
}

/// The least time a password-reset request takes, whether or not the account exists, so
/// response times do not tell which addresses have accounts.
const RESET_REQUEST_FLOOR: std::time::Duration = std::time::Duration::from_millis(150);

impl Users<'_> {
    /// Sends a password-reset link to `email` if an account signs in with it (an auth
    /// address confirmed for sign-in). Answers the same, in the same time, whether or not
    /// the account exists; the callback URL and the recipient's mail limit are checked in
    /// both cases (Stack checks the URL only for existing accounts, which tells them apart).
    pub async fn send_password_reset_code(
        &self,
        project: &Project,
        email: &str,
        callback_url: &str,
    ) -> Result<()> {
        if !project.config.auth.password.allow_sign_in {
            return Err(Error::PasswordAuthenticationNotEnabled);
        }
        if !self.p.redirect_allowed(project, callback_url) {
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
        self.p
            .throttle()
            .mail(&**store, project, email, MailKind::PasswordReset)
            .await?;
        let Some(channel) = sign_in_channel(&**store, &project.id, email).await? else {
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
            project,
            crate::storage::CodePurpose::PasswordReset,
            code,
        )
        .await
        .map(drop)
    }

    /// Resets the password with a code: sets it (creating the password method if needed),
    /// signs the user out everywhere, revokes every API key, ends the password's failure
    /// run, and claims the account (see the `claim` module), in one transaction with the
    /// code's use, which also records `user.updated` (as Stack). A password that breaks the
    /// rules is refused before the code is used, so the link still works for a better one.
    pub async fn reset_password(
        &self,
        project: &Project,
        code: &str,
        password: &str,
    ) -> Result<()> {
        let record = crate::codes::check(
            self.p,
            project,
            crate::storage::CodePurpose::PasswordReset,
            code,
        )
        .await?;
        if !project.config.auth.password.allow_sign_in {
            return Err(Error::PasswordAuthenticationNotEnabled);
        }
        check_password_rules(password)?;
        let user_id = record.user_id.ok_or(Error::VerificationCodeNotFound)?;
        let address = record.data["email"].as_str().unwrap_or_default().to_owned();
        let hash = self.p.inner.hasher.hash(password).await?;
        let tx = self.p.inner.store.begin().await?;
        crate::codes::consume(self.p, &*tx, &record).await?;
        let proven = tx
            .users()
            .list_channels(&project.id, user_id)
            .await?
            .into_iter()
            .find(|c| c.value == address)
            .map(|c| c.id);
        if let Some(channel) = proven {
            crate::claim::claim(
                self.p,
                &*tx,
                project,
                user_id,
                channel,
                crate::claim::Proof::Reset,
            )
            .await?;
        }
        crate::claim::revoke_sessions_and_keys(
            self.p,
            &*tx,
            &project.id,
            user_id,
            "password_reset",
        )
        .await?;
        replace_password(self.p, &*tx, project, user_id, hash, None, "reset").await?;
        self.p
            .throttle()
            .clear(&*tx, &project.id, Factor::Password, user_id)
            .await?;
        tx.codes()
            .delete_unused_for_user(
                &project.id,
                crate::storage::CodePurpose::PasswordReset,
                user_id,
            )
            .await?;
        // Stack resets through its user update, which sends `user.updated`.
        crate::auth::account::record_user_event(self.p, &*tx, project, user_id, "user.updated")
            .await?;
        tx.commit().await?;
        self.p.wake_outbox();
        Ok(())
    }
}

/// What an update needs beside its fields, worked out before its transaction.
struct Prepared {
    /// The new password hash (`Some(None)` removes the password).
    password_hash: Option<Option<String>>,
    /// Now, epoch milliseconds.
    now: i64,
    /// Whether a new primary email is confirmed for sign-in.
    confirmed: bool,
    /// Whether a TOTP secret set by the update counts as proven.
    totp_proven: bool,
}

/// Applies an update to a loaded user inside a transaction (Stack's order of checks).
async fn apply_update(
    repos: &dyn Repos,
    project: &Project,
    mut rec: UserRecord,
    channels: Vec<ContactChannelRecord>,
    u: &UserUpdate,
    prepared: Prepared,
) -> Result<()> {
    let Prepared {
        password_hash,
        now,
        confirmed,
        totp_proven,
    } = prepared;
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

    apply_email(repos, project, &rec, &channels, u, now, confirmed).await?;

    if let Some(otp) = u.otp_auth_enabled {
        if otp && !cfg.auth.otp.allow_sign_in {
            return Err(Error::Refused(Refusal::OtpAuthNotEnabled));
        }
        rec.otp_auth_enabled = otp;
    }
    match u.passkey_auth_enabled {
        // It follows the user's passkeys: only a registration turns it on.
        Some(true) => return Err(Error::Refused(Refusal::CannotEnablePasskeyAuth)),
        Some(false) if rec.has_passkey => {
            repos
                .passkeys()
                .delete_for_user(&project.id, rec.id)
                .await?;
            rec.has_passkey = false;
        }
        _ => {}
    }
    if let Some(hash) = password_hash {
        if hash.is_some() && rec.password_hash.is_none() && !cfg.auth.password.allow_sign_in {
            return Err(Error::Refused(Refusal::PasswordAuthNotEnabled));
        }
        rec.password_hash = hash;
    }
    match &u.totp_secret {
        // Sealed by the caller (`Users::create` / `Users::update`).
        Some(Some(sealed)) => {
            rec.totp_secret = Some(sealed.clone());
            rec.totp_proven = totp_proven;
        }
        Some(None) => {
            rec.totp_secret = None;
            rec.totp_proven = false;
        }
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
            return Err(Error::Refused(Refusal::RestrictionReasonWithoutRestriction));
        }
        if matches!(u.restricted_by_admin_private_details, Some(Some(_))) {
            return Err(Error::Refused(
                Refusal::RestrictionDetailsWithoutRestriction,
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
    confirmed: bool,
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
            return Err(Error::Refused(Refusal::PrimaryEmailAuthWithoutPrimaryEmail));
        }
        if u.primary_email_verified == Some(true) {
            return Err(Error::Refused(
                Refusal::PrimaryEmailVerifiedWithoutPrimaryEmail,
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
            // An address another account signs in with is refused (Stack's error) even when
            // this one would not be confirmed yet: unconfirmed channels reserve nothing, so
            // the store's uniqueness alone would not say it.
            let will_auth = u.primary_email_auth_enabled.unwrap_or_else(|| {
                channels
                    .iter()
                    .find(|c| c.kind == ChannelKind::Email && c.value == value)
                    .or(old_primary)
                    .is_some_and(|c| c.used_for_auth)
            });
            if will_auth
                && users
                    .find_auth_channel(&project.id, ChannelKind::Email, &value)
                    .await?
                    .is_some_and(|c| c.user_id != rec.id)
            {
                return Err(email_taken(&value));
            }
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
                    c.auth_confirmed = c.auth_confirmed || confirmed;
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
                        auth_confirmed: confirmed,
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
