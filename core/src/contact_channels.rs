//! Contact channels (§9.10 of the contract): a user's email addresses, which of them is
//! primary, verified and usable for sign-in, and email verification by code.

use http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::codes::{self, DEFAULT_LIFETIME_MILLIS};
use crate::email::{self, link_with_code, normalize_email};
use crate::error::{Error, OnConflict, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::{ChannelKind, CodePurpose, ContactChannelRecord, Repos};

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
    Error::bad_request("Contact channel not found")
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

    /// Adds a channel to a user (one transaction).
    pub async fn create(
        &self,
        project: &Project,
        user_id: Uuid,
        new: NewChannel,
    ) -> Result<ContactChannelRecord> {
        let value = normalize_email(&new.value);
        let tx = self.p.inner.store.begin().await?;
        if tx.users().get(&project.id, user_id).await?.is_none() {
            return Err(Error::UserIdDoesNotExist(user_id));
        }
        let channels = tx.users().list_channels(&project.id, user_id).await?;
        if channels.iter().any(|c| c.value == value) {
            return Err(Error::bad_request("Contact channel already exists"));
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
            created_at_millis: self.p.inner.clock.now_millis(),
        };
        tx.users()
            .insert_channel(&channel)
            .await
            .on_conflict(|| taken_by_someone_else(Some(value)))?;
        tx.commit().await?;
        Ok(channel)
    }

    /// Updates a channel with Stack's semantics (one transaction).
    pub async fn update(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
        update: ChannelUpdate,
    ) -> Result<ContactChannelRecord> {
        let tx = self.p.inner.store.begin().await?;
        let channels = tx.users().list_channels(&project.id, user_id).await?;
        let mut channel = channels
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or_else(not_found_400)?;
        if let Some(v) = update.value {
            let v = if update.typed {
                normalize_email(&v)
            } else {
                v.trim().to_owned()
            };
            if v != channel.value {
                if channels.iter().any(|c| c.id != id && c.value == v) {
                    return Err(Error::bad_request("Contact channel already exists"));
                }
                channel.value = v;
                channel.is_verified = false;
            }
        }
        if let Some(a) = update.used_for_auth {
            channel.used_for_auth = a;
        }
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
        tx.commit().await?;
        Ok(channel)
    }

    /// Deletes a user's channel; the user's auth methods stay.
    pub async fn delete(&self, project: &Project, user_id: Uuid, id: Uuid) -> Result<()> {
        let users = self.p.inner.store.users();
        match users.get_channel(&project.id, id).await? {
            Some(c) if c.user_id == user_id => {
                users.delete_channel(&project.id, id).await?;
                Ok(())
            }
            _ => Err(not_found_400()),
        }
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
            .ok_or_else(|| Error::status(StatusCode::NOT_FOUND, "Contact channel not found"))?;
        if channel.is_verified {
            return Err(Error::EmailAlreadyVerified);
        }
        if !crate::redirects::is_allowed_redirect(&project.config.domains, callback_url) {
            return Err(Error::RedirectUrlNotWhitelisted);
        }
        let tx = store.begin().await?;
        send_verification(self.p, &*tx, project, user_id, &channel.value, callback_url).await?;
        tx.commit().await?;
        self.p.wake_outbox();
        Ok(())
    }

    /// Checks a verification code without using it.
    pub async fn check_code(&self, project: &Project, code: &str) -> Result<()> {
        codes::check(
            self.p,
            &project.id,
            CodePurpose::ContactChannelVerification,
            code,
        )
        .await
        .map(drop)
    }

    /// Verifies the channel a code was sent for, using the code (one transaction: a
    /// channel deleted meanwhile leaves the code unused).
    pub async fn verify(&self, project: &Project, code: &str) -> Result<()> {
        let record = codes::check(
            self.p,
            &project.id,
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
            .ok_or_else(|| {
                Error::bad_request("Contact channel not found. Was your contact channel deleted?")
            })?;
        if !channel.is_verified {
            channel.is_verified = true;
            tx.users().update_channel(&channel).await?;
        }
        tx.commit().await?;
        Ok(())
    }
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
