//! Contact channels (§9.10 of the contract): a user's email addresses, which of them is
//! primary, verified and usable for sign-in, and email verification by code.

use serde_json::json;
use uuid::Uuid;

use crate::codes::{self, DEFAULT_LIFETIME_MILLIS};
use crate::email::{self, link_with_code, normalize_email};
use crate::error::{Error, OnConflict, Refusal, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::step_up::{self, Caller};
use crate::storage::{ChannelKind, CodePurpose, ContactChannelRecord, Repos};
use crate::throttle::MailKind;

/// The most contact channels one user may have (Stack sets no limit).
pub const MAX_CHANNELS_PER_USER: usize = 20;

/// What a caller does with a user's contact channels; names the refusal a client gets for
/// another user's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelAction {
    /// Listing.
    List,
    /// Adding one.
    Create,
    /// Reading one.
    Read,
    /// Changing one.
    Update,
    /// Removing one.
    Delete,
    /// Sending a verification code.
    Verify,
    /// Reading or confirming sign-in use.
    Manage,
}

impl ChannelAction {
    fn refusal(self) -> Refusal {
        match self {
            ChannelAction::List => Refusal::ClientMayOnlyListOwnContactChannels,
            ChannelAction::Create => Refusal::ClientMayOnlyCreateOwnContactChannels,
            ChannelAction::Read => Refusal::ClientMayOnlyReadOwnContactChannels,
            ChannelAction::Update => Refusal::ClientMayOnlyUpdateOwnContactChannels,
            ChannelAction::Delete => Refusal::ClientMayOnlyDeleteOwnContactChannels,
            ChannelAction::Verify => Refusal::ClientMayOnlyVerifyOwnContactChannels,
            ChannelAction::Manage => Refusal::ClientMayOnlyManageOwnContactChannels,
        }
    }
}

/// A new channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChannel {
    /// The address (normalised before storing).
    pub value: String,
    /// Usable for sign-in.
    pub used_for_auth: bool,
    /// Make it the primary channel (the previous primary is demoted).
    pub is_primary: bool,
    /// Verified (servers only).
    pub is_verified: bool,
}

/// Changes to a channel; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelUpdate {
    /// New address; verification is reset unless `is_verified` is given too.
    pub value: Option<String>,
    /// Whether `type: "email"` was sent with the value (then the value is normalised).
    pub typed: bool,
    /// Usable for sign-in.
    pub used_for_auth: Option<bool>,
    /// Primary (`true` demotes the previous primary).
    pub is_primary: Option<bool>,
    /// Verified (servers only).
    pub is_verified: Option<bool>,
}

/// Contact-channel operations; from [`Postern::contact_channels`].
#[derive(Debug, Clone, Copy)]
pub struct ContactChannels<'a> {
    p: &'a Postern,
}

impl Postern {
    /// Contact-channel operations.
    pub fn contact_channels(&self) -> ContactChannels<'_> {
        ContactChannels { p: self }
    }
}

fn not_found_400() -> Error {
    Error::Refused(Refusal::ContactChannelToModifyNotFound)
}

fn taken_by_someone_else(value: Option<String>) -> Error {
    Error::ContactChannelAlreadyUsedForAuthBySomeoneElse {
        value,
        would_work_if_email_was_verified: false,
    }
}

/// Demotes the user's primary channel other than `keep`.
async fn demote_primary(
    tx: &dyn Repos,
    channels: &[ContactChannelRecord],
    keep: Option<Uuid>,
) -> Result<()> {
    for c in channels
        .iter()
        .filter(|c| c.is_primary && Some(c.id) != keep)
    {
        let mut c = c.clone();
        c.is_primary = false;
        tx.users().update_channel(&c).await?;
    }
    Ok(())
}

/// Whether another channel (of any user) already uses `value` for sign-in.
async fn auth_taken(
    tx: &dyn Repos,
    project_id: &str,
    value: &str,
    except: Option<Uuid>,
) -> Result<bool> {
    Ok(tx
        .users()
        .find_auth_channel(project_id, ChannelKind::Email, value)
        .await?
        .is_some_and(|c| Some(c.id) != except))
}

impl ContactChannels<'_> {
    /// Whether `caller` may do `action` with the channels of `user_id` (`None`: of every
    /// user): trusted callers may, a client only with its own user's.
    pub fn authorize(
        &self,
        caller: &Caller<'_>,
        user_id: Option<Uuid>,
        action: ChannelAction,
    ) -> Result<()> {
        match (user_id, caller) {
            (Some(user), _) => caller.require_self(user, action.refusal()),
            (None, Caller::Trusted) => Ok(()),
            (None, Caller::Client { user_id: None, .. }) => Err(Error::CannotGetOwnUserWithoutUser),
            (None, Caller::Client { .. }) => Err(Error::Refused(action.refusal())),
        }
    }

    /// [`ContactChannels::list`] for `caller` (see [`ContactChannels::authorize`]).
    pub async fn list_as(
        &self,
        project: &Project,
        user_id: Option<Uuid>,
        caller: Caller<'_>,
    ) -> Result<Vec<ContactChannelRecord>> {
        self.authorize(&caller, user_id, ChannelAction::List)?;
        self.list(project, user_id).await
    }

    /// [`ContactChannels::get`] for `caller` (see [`ContactChannels::authorize`]).
    pub async fn get_as(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
        caller: Caller<'_>,
    ) -> Result<Option<ContactChannelRecord>> {
        self.authorize(&caller, Some(user_id), ChannelAction::Read)?;
        self.get(project, user_id, id).await
    }

    /// A user's channels (oldest first), or every channel of the project for `None`.
    pub async fn list(
        &self,
        project: &Project,
        user_id: Option<Uuid>,
    ) -> Result<Vec<ContactChannelRecord>> {
        let users = self.p.inner.store.users();
        Ok(match user_id {
            Some(u) => users.list_channels(&project.id, u).await?,
            None => users.list_project_channels(&project.id).await?,
        })
    }

    /// The channel, if it belongs to the user.
    pub async fn get(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ContactChannelRecord>> {
        Ok(self
            .p
            .inner
            .store
            .users()
            .get_channel(&project.id, id)
            .await?
            .filter(|c| c.user_id == user_id))
    }

    /// Adds a channel to a user (one transaction), as a trusted caller: the channel is
    /// confirmed for sign-in.
    pub async fn create(
        &self,
        project: &Project,
        user_id: Uuid,
        new: NewChannel,
    ) -> Result<ContactChannelRecord> {
        self.create_as(project, user_id, new, Caller::Trusted).await
    }

    /// Adds a channel to a user as `caller`. An auth channel a client adds is confirmed for
    /// sign-in only with a step-up token (password, TOTP or email code) on the request, or
    /// when the user has none of those factors; otherwise it is stored but not used to sign
    /// in, nor to receive sign-in codes or reset links, until [`ContactChannels::confirm_auth`]
    /// or the link of [`ContactChannels::send_auth_confirmation`].
    pub async fn create_as(
        &self,
        project: &Project,
        user_id: Uuid,
        new: NewChannel,
        caller: Caller<'_>,
    ) -> Result<ContactChannelRecord> {
        self.authorize(&caller, Some(user_id), ChannelAction::Create)?;
        let value = normalize_email(&new.value);
        let store = &self.p.inner.store;
        let Some((rec, before)) = crate::model::load(&**store, &project.id, user_id).await? else {
            return Err(Error::UserIdDoesNotExist(user_id));
        };
        let (confirmed, token) = if new.used_for_auth {
            step_up::optional_for(
                self.p,
                project,
                caller,
                &rec,
                &before,
                step_up::CHANNEL_PROOFS,
            )
            .await?
        } else {
            (!caller.is_client(), None)
        };
        let tx = store.begin().await?;
        if tx.users().get(&project.id, user_id).await?.is_none() {
            return Err(Error::UserIdDoesNotExist(user_id));
        }
        let channels = tx.users().list_channels(&project.id, user_id).await?;
        if channels.iter().any(|c| c.value == value) {
            return Err(Error::Refused(Refusal::ContactChannelAlreadyExists));
        }
        if channels.len() >= MAX_CHANNELS_PER_USER {
            return Err(Error::Refused(Refusal::TooManyContactChannels {
                max: MAX_CHANNELS_PER_USER,
            }));
        }
        if new.used_for_auth && auth_taken(&*tx, &project.id, &value, None).await? {
            return Err(taken_by_someone_else(Some(value)));
        }
        if new.is_primary {
            demote_primary(&*tx, &channels, None).await?;
        }
        let channel = ContactChannelRecord {
            project_id: project.id.clone(),
            id: Uuid::now_v7(),
            user_id,
            kind: ChannelKind::Email,
            value: value.clone(),
            is_primary: new.is_primary,
            is_verified: new.is_verified,
            used_for_auth: new.used_for_auth,
            auth_confirmed: confirmed,
            created_at_millis: self.p.inner.clock.now_millis(),
        };
        step_up::spend(self.p, &*tx, token.as_ref()).await?;
        tx.users()
            .insert_channel(&channel)
            .await
            .on_conflict(|| taken_by_someone_else(Some(value)))?;
        if channel.used_for_auth && confirmed {
            auth_confirmed_event(self.p, &*tx, project, &channel, "added").await?;
        }
        tx.commit().await?;
        Ok(channel)
    }

    /// Updates a channel with Stack's semantics (one transaction), as a trusted caller.
    pub async fn update(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
        update: ChannelUpdate,
    ) -> Result<ContactChannelRecord> {
        self.update_as(project, user_id, id, update, Caller::Trusted)
            .await
    }

    /// Updates a channel as `caller`. A client that changes the address of a channel, or
    /// turns sign-in on for one that is not confirmed, leaves it unconfirmed unless the
    /// request carries a step-up token (see [`ContactChannels::create_as`]); changing only
    /// `is_primary` keeps the confirmation.
    pub async fn update_as(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
        update: ChannelUpdate,
        caller: Caller<'_>,
    ) -> Result<ContactChannelRecord> {
        self.authorize(&caller, Some(user_id), ChannelAction::Update)?;
        let store = &self.p.inner.store;
        let (rec, before) = crate::model::load(&**store, &project.id, user_id)
            .await?
            .ok_or_else(not_found_400)?;
        let current = before
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or_else(not_found_400)?;
        let new_value = update.value.as_ref().map(|v| {
            if update.typed {
                normalize_email(v)
            } else {
                v.trim().to_owned()
            }
        });
        let value_changes = new_value.as_ref().is_some_and(|v| *v != current.value);
        let stops_sign_in = update.used_for_auth == Some(false);
        let will_auth = update.used_for_auth.unwrap_or(current.used_for_auth);
        let needs_confirmation = will_auth && (value_changes || !current.auth_confirmed);
        // Rewriting an address that signs in would take it from its owner, and turning its
        // sign-in off would lock the owner out: a client needs a step-up for either, not
        // just for a new address to sign in.
        let (proof, token) = if (value_changes || stops_sign_in)
            && current.used_for_auth
            && current.auth_confirmed
        {
            let token = step_up::require_for(
                self.p,
                project,
                caller,
                &rec,
                &before,
                step_up::CHANNEL_PROOFS,
            )
            .await?;
            (true, token)
        } else if needs_confirmation {
            step_up::optional_for(
                self.p,
                project,
                caller,
                &rec,
                &before,
                step_up::CHANNEL_PROOFS,
            )
            .await?
        } else {
            (!caller.is_client(), None)
        };
        let tx = store.begin().await?;
        step_up::spend(self.p, &*tx, token.as_ref()).await?;
        let channels = tx.users().list_channels(&project.id, user_id).await?;
        let mut channel = channels
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or_else(not_found_400)?;
        // Decided again on the row of the transaction: only a proof this request carried
        // confirms, and a sign-in address that became one meanwhile is guarded too.
        let was_confirmed = channel.used_for_auth && channel.auth_confirmed;
        let old_value = channel.value.clone();
        let old_verified = channel.is_verified;
        let rewrites = new_value.as_ref().is_some_and(|v| *v != channel.value);
        if (rewrites || stops_sign_in) && was_confirmed && !proof {
            return Err(step_up::required(&rec, &before, step_up::CHANNEL_PROOFS));
        }
        if let Some(v) = new_value
            && rewrites
        {
            if channels.iter().any(|c| c.id != id && c.value == v) {
                return Err(Error::Refused(Refusal::ContactChannelAlreadyExists));
            }
            channel.value = v;
            channel.is_verified = false;
        }
        if let Some(a) = update.used_for_auth {
            channel.used_for_auth = a;
        }
        channel.auth_confirmed = if proof && channel.used_for_auth {
            true
        } else {
            channel.auth_confirmed && !rewrites
        };
        // An address another account signs in with is refused whether or not this one
        // would be confirmed (Stack's error); unconfirmed ones reserve nothing.
        if channel.used_for_auth && auth_taken(&*tx, &project.id, &channel.value, Some(id)).await? {
            return Err(taken_by_someone_else(None));
        }
        if let Some(v) = update.is_verified {
            channel.is_verified = v;
        }
        if let Some(primary) = update.is_primary {
            if primary {
                demote_primary(&*tx, &channels, Some(id)).await?;
            }
            channel.is_primary = primary;
        }
        tx.users()
            .update_channel(&channel)
            .await
            .on_conflict(|| taken_by_someone_else(None))?;
        if channel.used_for_auth && channel.auth_confirmed && (!was_confirmed || rewrites) {
            auth_confirmed_event(self.p, &*tx, project, &channel, "updated").await?;
        }
        let notify = rewrites
            && (old_verified || was_confirmed)
            && email::notify(
                self.p,
                &*tx,
                project,
                &old_value,
                &email::Notice::EmailChanged(channel.value.clone()),
            )
            .await?;
        tx.commit().await?;
        if notify {
            self.p.wake_outbox();
        }
        Ok(channel)
    }

    /// Deletes a user's channel as a trusted caller; the user's auth methods stay.
    ///
    /// An address the owner has shown to be theirs (verified, or confirmed for sign-in) is
    /// told of its removal.
    pub async fn delete(&self, project: &Project, user_id: Uuid, id: Uuid) -> Result<()> {
        self.delete_as(project, user_id, id, Caller::Trusted).await
    }

    /// Deletes a user's channel for `caller`. A client removing an address that signs in
    /// needs a step-up ([`step_up::CHANNEL_PROOFS`]): with a stolen session, removing it
    /// would lock the owner out while the thief's session lives on.
    pub async fn delete_as(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
        caller: Caller<'_>,
    ) -> Result<()> {
        self.authorize(&caller, Some(user_id), ChannelAction::Delete)?;
        let store = &self.p.inner.store;
        let (rec, before) = crate::model::load(&**store, &project.id, user_id)
            .await?
            .ok_or_else(not_found_400)?;
        let current = before
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(not_found_400)?;
        let signs_in = |c: &ContactChannelRecord| c.used_for_auth && c.auth_confirmed;
        let (proven, token) = if signs_in(current) {
            let token = step_up::require_for(
                self.p,
                project,
                caller,
                &rec,
                &before,
                step_up::CHANNEL_PROOFS,
            )
            .await?;
            (true, token)
        } else {
            (!caller.is_client() || step_up::exempt(&rec, &before), None)
        };
        let tx = store.begin().await?;
        step_up::spend(self.p, &*tx, token.as_ref()).await?;
        let c = match tx.users().get_channel(&project.id, id).await? {
            Some(c) if c.user_id == user_id => c,
            _ => return Err(not_found_400()),
        };
        if signs_in(&c) && !proven {
            // It became a sign-in address after the check above.
            return Err(step_up::required(&rec, &before, step_up::CHANNEL_PROOFS));
        }
        tx.users().delete_channel(&project.id, id).await?;
        let notify = (c.is_verified || (c.used_for_auth && c.auth_confirmed))
            && email::notify(
                self.p,
                &*tx,
                project,
                &c.value,
                &email::Notice::EmailRemoved,
            )
            .await?;
        crate::audit::record(
            self.p,
            &*tx,
            &project.id,
            "contact_channel.deleted",
            Some(user_id),
            json!({ "contact_channel_id": id, "value": c.value, "used_for_auth": c.used_for_auth }),
        )
        .await?;
        tx.commit().await?;
        if notify {
            self.p.wake_outbox();
        }
        Ok(())
    }

    /// [`ContactChannels::send_verification_code`] for `caller` (see
    /// [`ContactChannels::authorize`]).
    pub async fn send_verification_code_as(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
        callback_url: &str,
        caller: Caller<'_>,
    ) -> Result<()> {
        self.authorize(&caller, Some(user_id), ChannelAction::Verify)?;
        self.send_verification_code(project, user_id, id, callback_url)
            .await
    }

    /// Sends a verification code for the channel to its address: the code and the mail are
    /// written in one transaction, the mail delivered after commit.
    pub async fn send_verification_code(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
        callback_url: &str,
    ) -> Result<()> {
        let store = &self.p.inner.store;
        if store.users().get(&project.id, user_id).await?.is_none() {
            return Err(Error::UserIdDoesNotExist(user_id));
        }
        let channel = self
            .get(project, user_id, id)
            .await?
            .ok_or(Error::Refused(Refusal::ContactChannelToVerifyNotFound))?;
        if channel.is_verified {
            return Err(Error::EmailAlreadyVerified);
        }
        if !self.p.redirect_allowed(project, callback_url) {
            return Err(Error::RedirectUrlNotWhitelisted);
        }
        let tx = store.begin().await?;
        self.p
            .throttle()
            .mail(&*tx, project, &channel.value, MailKind::Verification)
            .await?;
        send_verification(self.p, &*tx, project, user_id, &channel.value, callback_url).await?;
        tx.commit().await?;
        self.p.wake_outbox();
        Ok(())
    }

    /// Checks a verification code without using it.
    pub async fn check_code(&self, project: &Project, code: &str) -> Result<()> {
        codes::check(
            self.p,
            project,
            CodePurpose::ContactChannelVerification,
            code,
        )
        .await
        .map(drop)
    }

    /// Verifies the channel a code was sent for, using the code (one transaction: a
    /// channel deleted meanwhile leaves the code unused), as a request without a session of
    /// the channel's user.
    pub async fn verify(&self, project: &Project, code: &str) -> Result<()> {
        self.verify_as(project, code, None).await
    }

    /// Verifies the channel a code was sent for. `session_user` is the user of the
    /// request's session, if any: a verification of a sign-in address from outside the
    /// account's sessions, on an unclaimed account, revokes the account's sessions, API keys
    /// and other unverified channels (see the `claim` module).
    pub async fn verify_as(
        &self,
        project: &Project,
        code: &str,
        session_user: Option<Uuid>,
    ) -> Result<()> {
        let record = codes::check(
            self.p,
            project,
            CodePurpose::ContactChannelVerification,
            code,
        )
        .await?;
        let email = record.data["email"].as_str().unwrap_or_default().to_owned();
        let tx = self.p.inner.store.begin().await?;
        codes::consume(self.p, &*tx, &record).await?;
        let user = record.user_id.ok_or(Error::VerificationCodeNotFound)?;
        let mut channel = tx
            .users()
            .list_channels(&project.id, user)
            .await?
            .into_iter()
            .find(|c| c.value == email)
            .ok_or(Error::Refused(Refusal::VerifiedContactChannelGone))?;
        if !channel.is_verified {
            channel.is_verified = true;
            tx.users().update_channel(&channel).await?;
        }
        // Only an address that signs in to the account says anything about who owns it; a
        // verified address that is not confirmed for sign-in proves nothing. From a session
        // of the account the verifier already holds it: nothing to revoke.
        if channel.used_for_auth && channel.auth_confirmed && session_user != Some(user) {
            crate::claim::verified_outside_session(self.p, &*tx, project, user, channel.id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// [`ContactChannels::auth_status`] for `caller` (see [`ContactChannels::authorize`]).
    pub async fn auth_status_as(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
        caller: Caller<'_>,
    ) -> Result<(bool, bool)> {
        self.authorize(&caller, Some(user_id), ChannelAction::Manage)?;
        self.auth_status(project, user_id, id).await
    }

    /// Whether a user's channel is used for sign-in and confirmed for it.
    pub async fn auth_status(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<(bool, bool)> {
        let c = self
            .get(project, user_id, id)
            .await?
            .ok_or(Error::Refused(Refusal::ContactChannelNotFound))?;
        Ok((c.used_for_auth, c.auth_confirmed))
    }

    /// Confirms a user's channel for sign-in with a step-up token (password, TOTP or email
    /// code) of a client, or as a trusted caller.
    pub async fn confirm_auth(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
        caller: Caller<'_>,
    ) -> Result<ContactChannelRecord> {
        self.authorize(&caller, Some(user_id), ChannelAction::Manage)?;
        let store = &self.p.inner.store;
        let (rec, channels) = crate::model::load(&**store, &project.id, user_id)
            .await?
            .ok_or(Error::UserIdDoesNotExist(user_id))?;
        if !channels.iter().any(|c| c.id == id) {
            return Err(Error::Refused(Refusal::ContactChannelNotFound));
        }
        let token = step_up::require_for(
            self.p,
            project,
            caller,
            &rec,
            &channels,
            step_up::CHANNEL_PROOFS,
        )
        .await?;
        let tx = store.begin().await?;
        step_up::spend(self.p, &*tx, token.as_ref()).await?;
        let channel =
            set_auth_confirmed(self.p, &*tx, project, user_id, id, None, "step_up").await?;
        tx.commit().await?;
        Ok(channel)
    }

    /// [`ContactChannels::send_auth_confirmation`] for `caller` (see
    /// [`ContactChannels::authorize`]).
    pub async fn send_auth_confirmation_as(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
        callback_url: &str,
        caller: Caller<'_>,
    ) -> Result<()> {
        self.authorize(&caller, Some(user_id), ChannelAction::Manage)?;
        self.send_auth_confirmation(project, user_id, id, callback_url)
            .await
    }

    /// Mails a link to the user's proven address (verified and confirmed for sign-in; the
    /// primary one when it is) that confirms another of the user's channels for sign-in when
    /// followed, even from a browser without a session.
    pub async fn send_auth_confirmation(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
        callback_url: &str,
    ) -> Result<()> {
        if !self.p.redirect_allowed(project, callback_url) {
            return Err(Error::RedirectUrlNotWhitelisted);
        }
        let store = &self.p.inner.store;
        let (_, channels) = crate::model::load(&**store, &project.id, user_id)
            .await?
            .ok_or(Error::UserIdDoesNotExist(user_id))?;
        let channel = channels
            .iter()
            .find(|c| c.id == id)
            .ok_or(Error::Refused(Refusal::ContactChannelNotFound))?;
        let to = step_up::proven_address(&channels)
            .filter(|p| p.id != id)
            .ok_or(Error::NoProvenEmail)?;
        let (code, record) = codes::new_code(
            &project.id,
            CodePurpose::ChannelAuthConfirmation,
            Some(user_id),
            json!({ "email": to.value, "contact_channel_id": id, "value": channel.value }),
            self.p.inner.clock.now_millis(),
            DEFAULT_LIFETIME_MILLIS,
        );
        let link = link_with_code(callback_url, &code).ok_or(Error::RedirectUrlNotWhitelisted)?;
        let tx = store.begin().await?;
        self.p
            .throttle()
            .mail(&*tx, project, &to.value, MailKind::StepUp)
            .await?;
        tx.codes().insert(&record).await?;
        let mail = email::channel_auth_confirmation(
            &project.display_name,
            &to.value,
            &channel.value,
            &link,
        );
        email::enqueue(self.p, &*tx, &project.id, &mail).await?;
        tx.commit().await?;
        self.p.wake_outbox();
        Ok(())
    }

    /// Confirms a channel for sign-in with the code of a link from
    /// [`ContactChannels::send_auth_confirmation`] (no session needed).
    pub async fn confirm_auth_by_code(
        &self,
        project: &Project,
        code: &str,
    ) -> Result<ContactChannelRecord> {
        let record =
            codes::check(self.p, project, CodePurpose::ChannelAuthConfirmation, code).await?;
        let user = record.user_id.ok_or(Error::VerificationCodeNotFound)?;
        let id: Uuid = record.data["contact_channel_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or(Error::VerificationCodeNotFound)?;
        let value = record.data["value"].as_str().unwrap_or_default().to_owned();
        let tx = self.p.inner.store.begin().await?;
        codes::consume(self.p, &*tx, &record).await?;
        // The link confirms the address the mail named: a channel rewritten since is not it.
        let channel =
            set_auth_confirmed(self.p, &*tx, project, user, id, Some(&value), "link").await?;
        tx.commit().await?;
        Ok(channel)
    }
}

/// Marks a user's channel confirmed for sign-in, with its audit event. With `value`, only
/// if the channel still has that address.
async fn set_auth_confirmed(
    p: &Postern,
    tx: &dyn Repos,
    project: &Project,
    user_id: Uuid,
    id: Uuid,
    value: Option<&str>,
    how: &str,
) -> Result<ContactChannelRecord> {
    let mut channel = tx
        .users()
        .get_channel(&project.id, id)
        .await?
        .filter(|c| c.user_id == user_id && value.is_none_or(|v| c.value == v))
        .ok_or(Error::Refused(Refusal::ConfirmedContactChannelGone))?;
    if !channel.auth_confirmed {
        channel.auth_confirmed = true;
        tx.users()
            .update_channel(&channel)
            .await
            .on_conflict(|| taken_by_someone_else(Some(channel.value.clone())))?;
        auth_confirmed_event(p, tx, project, &channel, how).await?;
    }
    Ok(channel)
}

async fn auth_confirmed_event(
    p: &Postern,
    tx: &dyn Repos,
    project: &Project,
    channel: &ContactChannelRecord,
    how: &str,
) -> Result<()> {
    crate::audit::record(
        p,
        tx,
        &project.id,
        "contact_channel.auth_confirmed",
        Some(channel.user_id),
        json!({ "contact_channel_id": channel.id, "value": channel.value, "how": how }),
    )
    .await
}

/// Writes a verification code for `address` and its mail through `tx`.
pub(crate) async fn send_verification(
    p: &Postern,
    tx: &dyn Repos,
    project: &Project,
    user_id: Uuid,
    address: &str,
    callback_url: &str,
) -> Result<()> {
    let (code, record) = codes::new_code(
        &project.id,
        CodePurpose::ContactChannelVerification,
        Some(user_id),
        json!({ "email": address }),
        p.inner.clock.now_millis(),
        DEFAULT_LIFETIME_MILLIS,
    );
    let link = link_with_code(callback_url, &code).ok_or(Error::RedirectUrlNotWhitelisted)?;
    tx.codes().insert(&record).await?;
    let mail = email::verification(&project.display_name, address, &link);
    email::enqueue(p, tx, &project.id, &mail).await
}
