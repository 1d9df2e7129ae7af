//! Team invitations (rest-org.md §1.5): single-use, expiring codes mailed to an address;
//! accepted by code (a bearer secret, as upstream) or by invitation id (which needs a
//! verified email equal to the recipient).
//!
//! Stricter than upstream with the same wire shapes: the user is checked before a code is
//! used (a failed accept does not burn the link), the team is checked before a code is
//! written, and deleting an invitation is scoped to its team.

use serde_json::json;
use uuid::Uuid;

use crate::actor::Auth;
use crate::codes::{self, DEFAULT_LIFETIME_MILLIS};
use crate::email::{self, link_with_code};
use crate::error::{Error, Result};
use crate::model::User;
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::{CodePurpose, VerificationCodeRecord};

pub use crate::model::Invitation;

/// Invitation operations; from [`Postern::invitations`].
#[derive(Debug, Clone, Copy)]
pub struct Invitations<'a> {
    p: &'a Postern,
}

impl Postern {
    /// Team invitations.
    pub fn invitations(&self) -> Invitations<'_> {
        Invitations { p: self }
    }
}

fn team_of(r: &VerificationCodeRecord) -> Option<Uuid> {
    r.data["team_id"]
        .as_str()
        .and_then(|t| Uuid::parse_str(t).ok())
}

fn email_of(r: &VerificationCodeRecord) -> String {
    r.data["email"].as_str().unwrap_or_default().to_owned()
}

/// Refuses restricted users (anonymous, unverified where required, restricted by admin).
fn unrestricted(user: &User) -> Result<()> {
    match user.restricted_reason {
        Some(r) => Err(Error::TeamInvitationRestrictedUserNotAllowed(r)),
        None => Ok(()),
    }
}

/// Invitation operations on behalf of an actor: a client needs the team permission the
/// operation calls for; a server or admin needs the team to exist.
impl Invitations<'_> {
    /// Whether `actor` may manage `team`'s invitations with `permissions`.
    async fn authorize(&self, actor: &Auth, team: Uuid, permissions: &[&str]) -> Result<()> {
        if actor.is_client() {
            for p in permissions {
                self.p.teams().authorize(actor, team, Some(p)).await?;
            }
        } else if self.p.teams().get(&actor.project, team).await?.is_none() {
            return Err(Error::TeamNotFound(team));
        }
        Ok(())
    }

    /// Invites `email` to `team` (a client needs `$invite_members`); returns the
    /// invitation's id.
    pub async fn send_as(
        &self,
        actor: &Auth,
        team: Uuid,
        email: &str,
        callback_url: &str,
    ) -> Result<Uuid> {
        if actor.is_client() {
            self.authorize(actor, team, &["$invite_members"]).await?;
        }
        self.send(&actor.project, team, email, callback_url).await
    }

    /// `team`'s pending invitations (a client needs `$read_members` and `$invite_members`).
    pub async fn list_for_team_as(&self, actor: &Auth, team: Uuid) -> Result<Vec<Invitation>> {
        self.authorize(actor, team, &["$read_members", "$invite_members"])
            .await?;
        self.list_for_team(&actor.project, team).await
    }

    /// The pending invitations addressed to a verified address of `user`; a client may list
    /// only its own user's.
    pub async fn list_for_user_as(&self, actor: &Auth, user: Uuid) -> Result<Vec<Invitation>> {
        if actor.is_client() && actor.user_id() != Some(user) {
            return Err(Error::CannotGetOwnUserWithoutUser);
        }
        self.list_for_user(&actor.project, user).await
    }

    /// Accepts invitation `id` for `user` (see [`Invitations::accept_by_id`]); a client may
    /// accept only for its own user.
    pub async fn accept_by_id_as(&self, actor: &Auth, user: Uuid, id: Uuid) -> Result<()> {
        if actor.is_client() && actor.user_id() != Some(user) {
            return Err(Error::CannotGetOwnUserWithoutUser);
        }
        let user = self
            .p
            .users()
            .get(&actor.project, user)
            .await?
            .ok_or(Error::UserNotFound)?;
        self.accept_by_id(&actor.project, &user, id).await
    }

    /// Revokes invitation `id` of `team` (a client needs `$remove_members`).
    pub async fn delete_as(&self, actor: &Auth, team: Uuid, id: Uuid) -> Result<()> {
        self.authorize(actor, team, &["$remove_members"]).await?;
        self.delete(&actor.project, team, id).await
    }
}

impl Invitations<'_> {
    /// Writes an invitation and its mail (one transaction); returns the invitation id.
    pub async fn send(
        &self,
        project: &Project,
        team_id: Uuid,
        email: &str,
        callback_url: &str,
    ) -> Result<Uuid> {
        if !self.p.redirect_allowed(project, callback_url) {
            return Err(Error::RedirectUrlNotWhitelisted);
        }
        let store = &self.p.inner.store;
        let team = store
            .teams()
            .get(&project.id, team_id)
            .await?
            .ok_or(Error::TeamNotFound(team_id))?;
        let (code, record) = codes::new_code(
            &project.id,
            CodePurpose::TeamInvitation,
            None,
            json!({ "team_id": team_id, "email": email }),
            self.p.inner.clock.now_millis(),
            DEFAULT_LIFETIME_MILLIS,
        );
        let link = link_with_code(callback_url, &code).ok_or(Error::RedirectUrlNotWhitelisted)?;
        let tx = store.begin().await?;
        self.p
            .throttle()
            .mail(&*tx, project, email, crate::throttle::MailKind::Invitation)
            .await?;
        tx.codes().insert(&record).await?;
        let mail = email::team_invitation(&project.display_name, &team.display_name, email, &link);
        email::enqueue(self.p, &*tx, &project.id, &mail).await?;
        tx.commit().await?;
        self.p.wake_outbox();
        Ok(record.id)
    }

    async fn open(&self, project: &Project) -> Result<Vec<(VerificationCodeRecord, Invitation)>> {
        let store = &self.p.inner.store;
        let mut out = Vec::new();
        for r in store
            .codes()
            .list_open(
                &project.id,
                CodePurpose::TeamInvitation,
                self.p.inner.clock.now_millis(),
            )
            .await?
        {
            let Some(team_id) = team_of(&r) else { continue };
            // Invitations of deleted teams are dropped.
            let Some(team) = store.teams().get(&project.id, team_id).await? else {
                continue;
            };
            let inv = Invitation {
                id: r.id,
                team_id,
                team_display_name: team.display_name,
                recipient_email: email_of(&r),
                expires_at_millis: r.expires_at_millis,
            };
            out.push((r, inv));
        }
        Ok(out)
    }

    /// Open invitations of a team.
    pub async fn list_for_team(&self, project: &Project, team_id: Uuid) -> Result<Vec<Invitation>> {
        Ok(self
            .open(project)
            .await?
            .into_iter()
            .filter(|(_, i)| i.team_id == team_id)
            .map(|(_, i)| i)
            .collect())
    }

    /// Open invitations sent to one of the user's verified addresses.
    pub async fn list_for_user(&self, project: &Project, user_id: Uuid) -> Result<Vec<Invitation>> {
        let verified: Vec<String> = self
            .p
            .inner
            .store
            .users()
            .list_channels(&project.id, user_id)
            .await?
            .into_iter()
            .filter(|c| c.is_verified)
            .map(|c| c.value)
            .collect();
        Ok(self
            .open(project)
            .await?
            .into_iter()
            .filter(|(_, i)| verified.contains(&i.recipient_email))
            .map(|(_, i)| i)
            .collect())
    }

    /// Deletes an invitation of this team.
    pub async fn delete(&self, project: &Project, team_id: Uuid, id: Uuid) -> Result<()> {
        let codes = self.p.inner.store.codes();
        match codes
            .get(&project.id, CodePurpose::TeamInvitation, id)
            .await?
        {
            Some(r) if team_of(&r) == Some(team_id) => {
                codes
                    .delete(&project.id, CodePurpose::TeamInvitation, id)
                    .await?;
                Ok(())
            }
            _ => Err(Error::VerificationCodeNotFound),
        }
    }

    /// Checks a code without using it.
    pub async fn check_code(&self, project: &Project, code: &str) -> Result<()> {
        codes::check(self.p, project, CodePurpose::TeamInvitation, code)
            .await
            .map(drop)
    }

    /// The team an invitation code is for (`{team_id, team_display_name}`).
    pub async fn details(
        &self,
        project: &Project,
        user: &User,
        code: &str,
    ) -> Result<(Uuid, String)> {
        unrestricted(user)?;
        let r = codes::check(self.p, project, CodePurpose::TeamInvitation, code).await?;
        let team_id = team_of(&r).ok_or(Error::VerificationCodeNotFound)?;
        let team = self
            .p
            .inner
            .store
            .teams()
            .get(&project.id, team_id)
            .await?
            .ok_or(Error::TeamNotFound(team_id))?;
        Ok((team_id, team.display_name))
    }

    /// Accepts by code: the user joins (with the `teamMember` defaults) unless already a
    /// member; the code is used in the same transaction.
    pub async fn accept(&self, project: &Project, user: &User, code: &str) -> Result<()> {
        unrestricted(user)?;
        let r = codes::check(self.p, project, CodePurpose::TeamInvitation, code).await?;
        self.join(project, user.id, &r).await
    }

    /// Accepts by invitation id for `user`, whose verified addresses must include the
    /// recipient's.
    pub async fn accept_by_id(&self, project: &Project, user: &User, id: Uuid) -> Result<()> {
        unrestricted(user)?;
        let store = &self.p.inner.store;
        let r = store
            .codes()
            .get(&project.id, CodePurpose::TeamInvitation, id)
            .await?
            .filter(|r| r.used_at_millis.is_none())
            .filter(|r| r.expires_at_millis > self.p.inner.clock.now_millis())
            .ok_or(Error::VerificationCodeNotFound)?;
        let email = email_of(&r);
        let verified = store
            .users()
            .list_channels(&project.id, user.id)
            .await?
            .into_iter()
            .any(|c| c.is_verified && c.value == email);
        if !verified {
            return Err(Error::VerificationCodeNotFound);
        }
        self.join(project, user.id, &r).await
    }

    async fn join(
        &self,
        project: &Project,
        user_id: Uuid,
        r: &VerificationCodeRecord,
    ) -> Result<()> {
        let team_id = team_of(r).ok_or(Error::VerificationCodeNotFound)?;
        let tx = self.p.inner.store.begin().await?;
        codes::consume(self.p, &*tx, r).await?;
        if tx.teams().get(&project.id, team_id).await?.is_none() {
            return Err(Error::TeamNotFound(team_id));
        }
        if tx
            .teams()
            .get_member(&project.id, team_id, user_id)
            .await?
            .is_none()
        {
            crate::teams::join(self.p, &*tx, project, team_id, user_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
