//! Creating an account: the one place a user row is created from a sign-in method, or an
//! anonymous user is upgraded into a full account.

use serde_json::json;

use crate::error::{Error, OnConflict, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::{ContactChannelRecord, Repos, UserRecord};

/// An account about to be written.
#[derive(Debug, Clone)]
pub(crate) struct NewAccount {
    /// The user row, with the sign-in method's fields set: a new row, or the anonymous
    /// user being upgraded.
    pub rec: UserRecord,
    /// Whether `rec` is an anonymous user becoming a full account (kept id, sessions and
    /// teams; its personal teams are renamed after the address).
    pub upgrading: bool,
    /// Its first, primary address, if any.
    pub channel: Option<ContactChannelRecord>,
    /// Where the sign-up came from (a trusted proxy's country header), kept as the user's
    /// `country_code` unless it has one.
    pub country_code: Option<String>,
}

/// Writes the account in `repos` (the caller's transaction): the user row (inserted, or
/// updated on an upgrade), its first address (`taken` when the address is already an
/// account's), then [`finish`]. Returns the row as stored.
pub(crate) async fn create(
    p: &Postern,
    repos: &dyn Repos,
    project: &Project,
    account: NewAccount,
    method: &str,
    taken: impl FnOnce() -> Error,
) -> Result<UserRecord> {
    let NewAccount {
        mut rec,
        upgrading,
        channel,
        country_code,
    } = account;
    if rec.country_code.is_none() {
        rec.country_code = country_code;
    }
    if upgrading {
        rec.is_anonymous = false;
        rec.signed_up_at_millis = p.inner.clock.now_millis();
        repos.users().update(&rec).await?;
    } else {
        insert(repos, &rec).await?;
    }
    if let Some(channel) = &channel {
        repos
            .users()
            .insert_channel(channel)
            .await
            .on_conflict(taken)?;
    }
    let email = channel.as_ref().map(|c| c.value.as_str());
    finish(p, repos, project, &rec, email, upgrading, method).await?;
    Ok(repos.users().get(&project.id, rec.id).await?.unwrap_or(rec))
}

/// Inserts a new user row (a server's `POST /users` fills it in before [`finish`]).
pub(crate) async fn insert(repos: &dyn Repos, rec: &UserRecord) -> Result<()> {
    repos.users().insert(rec).await?;
    Ok(())
}

/// What every new account gets once its row and address are written: a new account its
/// personal team (when the project makes them) and the sign-up default permissions, an
/// upgraded anonymous user its personal teams renamed after the address; its webhook
/// events; and the `sign_up` audit event naming `method`.
///
/// Events, in the creating transaction (every way a user comes to be passes here, so each
/// records exactly one of them):
/// - a new account: `team.created` for the personal team (Stack starts that send before
///   the user's), then `user.created` with the server view of the user as it stands at the
///   end of the creation (its personal team selected), then, a Postern addition Stack does
///   not send, one `project_permission.created` per sign-up default permission granted;
/// - an upgraded anonymous user: `user.updated`, as Stack (which upgrades through its user
///   update); the personal-team rename sends nothing, as in Stack.
pub(crate) async fn finish(
    p: &Postern,
    repos: &dyn Repos,
    project: &Project,
    rec: &UserRecord,
    email: Option<&str>,
    upgrading: bool,
    method: &str,
) -> Result<()> {
    if upgrading {
        crate::teams::rename_personal_teams(repos, rec, email).await?;
        record_user_event(p, repos, project, rec.id, "user.updated").await?;
    } else {
        crate::teams::create_personal_team(
            p,
            repos,
            project,
            rec,
            email,
            p.inner.clock.now_millis(),
        )
        .await?;
        let granted = crate::permissions::grant_defaults(
            repos,
            project,
            crate::permissions::DefaultKind::SignUp,
            None,
            rec.id,
        )
        .await?;
        record_user_event(p, repos, project, rec.id, "user.created").await?;
        for id in granted {
            crate::events::record(
                p,
                repos,
                &project.id,
                "project_permission.created",
                &crate::views::PermissionGrantView {
                    id,
                    team_id: None,
                    user_id: rec.id,
                },
            )
            .await?;
        }
    }
    crate::audit::record(
        p,
        repos,
        &project.id,
        "sign_up",
        Some(rec.id),
        json!({ "method": method, "upgraded_anonymous": upgrading }),
    )
    .await?;
    Ok(())
}

/// Records `event_type` (`user.created` or `user.updated`) for user `id` through `repos`
/// (the change's transaction), with Stack's `data`: the server view of the user as it
/// stands in that transaction, the JSON `GET /users/{id}` answers a server.
pub(crate) async fn record_user_event(
    p: &Postern,
    repos: &dyn Repos,
    project: &Project,
    id: uuid::Uuid,
    event_type: &str,
) -> Result<()> {
    let (rec, channels) = crate::model::load(repos, &project.id, id)
        .await?
        .ok_or(Error::UserNotFound)?;
    let user = crate::model::view(repos, &rec, &channels, &project.config).await?;
    crate::events::record(
        p,
        repos,
        &project.id,
        event_type,
        &crate::views::UserView::of(&user, true),
    )
    .await
}
