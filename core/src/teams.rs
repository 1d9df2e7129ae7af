//! Teams: the team view, personal teams on sign-up and the selected team. (Team
//! endpoints, memberships and invitations build on this.)

use serde_json::Value;
use uuid::Uuid;

use crate::actor::Auth;
use crate::error::{Error, OnConflict, Refusal, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::{Repos, TeamMemberRecord, TeamRecord, UserRecord};

pub use crate::model::{MemberProfile, Team};

/// Makes `user_id` a member of `team_id` through `repos` (the caller's transaction): the
/// membership (`TEAM_MEMBERSHIP_ALREADY_EXISTS` if it exists), the `teamMember` default
/// permissions, and their events.
pub(crate) async fn join(
    p: &Postern,
    repos: &dyn Repos,
    project: &Project,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<()> {
    repos
        .teams()
        .add_member(&TeamMemberRecord {
            project_id: project.id.clone(),
            team_id,
            user_id,
            display_name: None,
            profile_image_url: None,
            created_at_millis: p.inner.clock.now_millis(),
        })
        .await
        .on_conflict(|| Error::TeamMembershipAlreadyExists)?;
    let granted = crate::permissions::grant_defaults(
        repos,
        project,
        crate::permissions::DefaultKind::TeamMember,
        Some(team_id),
        user_id,
    )
    .await?;
    member_events(p, repos, &project.id, team_id, user_id, &granted).await
}

/// The name of a personal team: `"<display name>'s Team"`, else `"<email>'s Team"`, else
/// `"Personal Team"`.
///
/// ```
/// use postern_core::teams::personal_team_name;
/// assert_eq!(personal_team_name(Some("Ada"), Some("ada@example.com")), "Ada's Team");
/// assert_eq!(personal_team_name(None, Some("ada@example.com")), "ada@example.com's Team");
/// assert_eq!(personal_team_name(None, None), "Personal Team");
/// ```
pub fn personal_team_name(display_name: Option<&str>, email: Option<&str>) -> String {
    match display_name.filter(|n| !n.is_empty()).or(email) {
        Some(n) => format!("{n}'s Team"),
        None => "Personal Team".to_owned(),
    }
}

/// Creates the user's personal team when the project wants one, makes the user a member
/// and selects it. Runs in the creating transaction; returns the updated user row.
/// Records `team.created` only, as Stack (see [`Teams::create`] for the creator's events).
pub(crate) async fn create_personal_team(
    p: &Postern,
    repos: &dyn Repos,
    project: &Project,
    rec: &UserRecord,
    email: Option<&str>,
    now: i64,
) -> Result<Option<UserRecord>> {
    if !project.config.teams.create_personal_team_on_sign_up {
        return Ok(None);
    }
    let team = TeamRecord {
        project_id: project.id.clone(),
        id: Uuid::now_v7(),
        display_name: personal_team_name(rec.display_name.as_deref(), email),
        profile_image_url: None,
        client_metadata: None,
        client_read_only_metadata: None,
        server_metadata: None,
        created_at_millis: now,
    };
    repos.teams().insert(&team).await?;
    repos
        .teams()
        .add_member(&TeamMemberRecord {
            project_id: project.id.clone(),
            team_id: team.id,
            user_id: rec.id,
            display_name: None,
            profile_image_url: None,
            created_at_millis: now,
        })
        .await?;
    crate::permissions::grant_defaults(
        repos,
        project,
        crate::permissions::DefaultKind::TeamCreator,
        Some(team.id),
        rec.id,
    )
    .await?;
    let created: Team = team.clone().into();
    crate::events::record(
        p,
        repos,
        &project.id,
        "team.created",
        &crate::views::TeamView::of(&created, true),
    )
    .await?;
    let mut rec = rec.clone();
    rec.selected_team_id = Some(team.id);
    repos.users().update(&rec).await?;
    Ok(Some(rec))
}

/// On an anonymous user's upgrade: renames the user's teams still called
/// `"Personal Team"` after the new display name or email.
pub(crate) async fn rename_personal_teams(
    repos: &dyn Repos,
    rec: &UserRecord,
    email: Option<&str>,
) -> Result<()> {
    let name = personal_team_name(rec.display_name.as_deref(), email);
    for mut team in repos.teams().list_for_user(&rec.project_id, rec.id).await? {
        if team.display_name == "Personal Team" && name != team.display_name {
            team.display_name = name.clone();
            repos.teams().update(&team).await?;
        }
    }
    Ok(())
}

/// Records `team_membership.deleted`.
pub(crate) async fn membership_deleted(
    p: &Postern,
    repos: &dyn Repos,
    project_id: &str,
    team_id: Uuid,
    user_id: Uuid,
) -> Result<()> {
    crate::events::record(
        p,
        repos,
        project_id,
        "team_membership.deleted",
        &crate::views::TeamMembershipView { team_id, user_id },
    )
    .await
}

/// Records `team_membership.created` and one `team_permission.created` per default grant.
pub(crate) async fn member_events(
    p: &Postern,
    repos: &dyn Repos,
    project_id: &str,
    team_id: Uuid,
    user_id: Uuid,
    granted: &[String],
) -> Result<()> {
    crate::events::record(
        p,
        repos,
        project_id,
        "team_membership.created",
        &crate::views::TeamMembershipView { team_id, user_id },
    )
    .await?;
    for id in granted {
        crate::events::record(
            p,
            repos,
            project_id,
            "team_permission.created",
            &crate::views::PermissionGrantView {
                id: id.to_owned(),
                team_id: Some(team_id),
                user_id,
            },
        )
        .await?;
    }
    Ok(())
}

/// A new team.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewTeam {
    /// Display name.
    pub display_name: String,
    /// Profile image URL.
    pub profile_image_url: Option<String>,
    /// Client metadata.
    pub client_metadata: Option<Value>,
    /// Client-read-only metadata.
    pub client_read_only_metadata: Option<Value>,
    /// Server metadata.
    pub server_metadata: Option<Value>,
    /// The creator, who joins with the `teamCreator` default permissions.
    pub creator: Option<Uuid>,
}

/// Changes to a team; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TeamUpdate {
    /// Display name.
    pub display_name: Option<String>,
    /// Profile image URL (`Some(None)` clears).
    pub profile_image_url: Option<Option<String>>,
    /// Client metadata.
    pub client_metadata: Option<Value>,
    /// Client-read-only metadata.
    pub client_read_only_metadata: Option<Value>,
    /// Server metadata.
    pub server_metadata: Option<Value>,
}

/// Team operations; from [`Postern::teams`].
#[derive(Debug, Clone, Copy)]
pub struct Teams<'a> {
    p: &'a Postern,
}

impl Postern {
    /// Teams, memberships and member profiles.
    pub fn teams(&self) -> Teams<'_> {
        Teams { p: self }
    }
}

/// The longest team or member display name accepted (Stack sets no limit; personal team
/// names built from a user's name may be a few characters longer).
pub const MAX_TEAM_NAME_CHARS: usize = 256;

/// Refuses over-long names and over-large metadata (`SCHEMA_ERROR`).
fn check_sizes(name: Option<&str>, metadata: &[(&str, Option<&serde_json::Value>)]) -> Result<()> {
    let mut failures = Vec::new();
    if name.is_some_and(|n| n.chars().count() > MAX_TEAM_NAME_CHARS) {
        failures.push(format!(
            "body.display_name must be at most {MAX_TEAM_NAME_CHARS} characters"
        ));
    }
    failures.extend(crate::model::oversized_metadata(metadata));
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::Schema(failures))
    }
}

/// A profile image a caller may set: image data (`data:image/...`), or for servers also an
/// http(s) URL; clients may also clear it with `""`. At most a million characters.
pub fn check_image(url: &Option<Option<String>>, client: bool) -> Result<()> {
    if let Some(Some(url)) = url {
        if url.len() > 1_000_000 {
            return Err(Error::schema(
                "body.profile_image_url must be at most 1000000 characters",
            ));
        }
        let data = url.starts_with("data:image/");
        let ok = if client {
            url.is_empty() || data
        } else {
            data || url.starts_with("http://") || url.starts_with("https://")
        };
        if !ok {
            return Err(Error::Refused(Refusal::InvalidProfileImageUrl));
        }
    }
    Ok(())
}

/// Team operations on behalf of an actor: clients are held to their memberships and team
/// permissions, servers and admins are not. REST uses these; so can an app in-process.
impl Teams<'_> {
    /// Whether `actor` may act on `team`: a client must be a member
    /// (`TEAM_MEMBERSHIP_NOT_FOUND`) and, when `permission` is given, hold it
    /// (`TEAM_PERMISSION_REQUIRED`); servers and admins may.
    pub async fn authorize(
        &self,
        actor: &Auth,
        team: Uuid,
        permission: Option<&str>,
    ) -> Result<()> {
        if !actor.is_client() {
            return Ok(());
        }
        let me = actor.user_id().ok_or(Error::UserAuthenticationRequired)?;
        match permission {
            Some(p) => {
                self.p
                    .permissions()
                    .require_team_permission(&actor.project, me, team, p)
                    .await
            }
            None if self.is_member(&actor.project, team, me).await? => Ok(()),
            None => Err(Error::TeamMembershipNotFound {
                team_id: team,
                user_id: me,
            }),
        }
    }

    /// Creates a team as `actor`. A client needs the project to allow client team creation,
    /// may set only image data, and becomes the creator (another creator is refused); a
    /// server or admin creates any team, with or without a creator.
    pub async fn create_as(&self, actor: &Auth, mut new: NewTeam) -> Result<Team> {
        let image = Some(new.profile_image_url.clone());
        if actor.is_client() {
            let me = actor.user_id().ok_or(Error::UserAuthenticationRequired)?;
            if !actor.project.config.teams.allow_client_team_creation {
                return Err(Error::Refused(Refusal::ClientTeamCreationDisabled));
            }
            check_image(&image, true)?;
            if new.creator.is_some_and(|c| c != me) {
                return Err(Error::Refused(Refusal::ClientMayOnlyCreateTeamsAsSelf));
            }
            new.creator = Some(me);
        } else {
            check_image(&image, false)?;
        }
        self.create(&actor.project, new).await
    }

    /// A team `actor` may see (`TEAM_NOT_FOUND` when it does not exist).
    pub async fn get_as(&self, actor: &Auth, team: Uuid) -> Result<Team> {
        self.authorize(actor, team, None).await?;
        self.get(&actor.project, team)
            .await?
            .ok_or(Error::TeamNotFound(team))
    }

    /// Updates a team; a client needs `$update_team` and may set only image data.
    pub async fn update_as(&self, actor: &Auth, team: Uuid, update: TeamUpdate) -> Result<Team> {
        self.authorize(actor, team, Some("$update_team")).await?;
        check_image(&update.profile_image_url, actor.is_client())?;
        self.update(&actor.project, team, update).await
    }

    /// Deletes a team; a client needs `$delete_team`.
    pub async fn delete_as(&self, actor: &Auth, team: Uuid) -> Result<()> {
        self.authorize(actor, team, Some("$delete_team")).await?;
        self.delete(&actor.project, team).await
    }

    /// Removes `user` from `team`: anyone may leave; a client removing someone else needs
    /// `$remove_members`.
    pub async fn remove_member_as(&self, actor: &Auth, team: Uuid, user: Uuid) -> Result<()> {
        if actor.is_client() && actor.user_id() != Some(user) {
            self.authorize(actor, team, Some("$remove_members")).await?;
        }
        self.remove_member(&actor.project, team, user).await
    }

    /// The teams `user` is a member of (all teams for `None`) as `actor` sees them: a
    /// client may list only its own user's teams.
    pub async fn list_as(&self, actor: &Auth, user: Option<Uuid>) -> Result<Vec<Team>> {
        if actor.is_client() && (user.is_none() || user != actor.user_id()) {
            if actor.user.is_none() {
                return Err(Error::CannotGetOwnUserWithoutUser);
            }
            return Err(Error::Refused(Refusal::ClientMayOnlyListOwnTeams));
        }
        self.list(&actor.project, user).await
    }

    /// Member profiles of `team` (of every team for `None`), narrowed to `user`, as
    /// `actor` may see them: a client must name a team it is a member of, and needs
    /// `$read_members` there for profiles other than its own. A team that does not exist
    /// is `TEAM_NOT_FOUND`.
    pub async fn member_profiles_as(
        &self,
        actor: &Auth,
        team: Option<Uuid>,
        user: Option<Uuid>,
    ) -> Result<Vec<MemberProfile>> {
        let project = &actor.project;
        if actor.is_client() {
            let Some(team) = team else {
                return Err(Error::Refused(Refusal::ClientTeamIdRequired));
            };
            let me = actor.user_id().ok_or(Error::UserAuthenticationRequired)?;
            if user != Some(me) {
                self.authorize(actor, team, Some("$read_members")).await?;
            } else if !self.is_member(project, team, me).await? {
                return Err(Error::TeamMembershipNotFound {
                    team_id: team,
                    user_id: me,
                });
            }
        } else if let Some(t) = team
            && self.get(project, t).await?.is_none()
        {
            return Err(Error::TeamNotFound(t));
        }
        self.member_profiles(project, team, user).await
    }

    /// A member's profile: a client reading someone else's needs `$read_members`.
    pub async fn member_profile_as(
        &self,
        actor: &Auth,
        team: Uuid,
        user: Uuid,
    ) -> Result<MemberProfile> {
        if actor.is_client() && actor.user_id() != Some(user) {
            self.authorize(actor, team, Some("$read_members")).await?;
        }
        self.member_profile(&actor.project, team, user).await
    }

    /// Changes a member's profile: a client only its own.
    pub async fn update_member_profile_as(
        &self,
        actor: &Auth,
        team: Uuid,
        user: Uuid,
        display_name: Option<String>,
        profile_image_url: Option<Option<String>>,
    ) -> Result<MemberProfile> {
        if actor.is_client() && actor.user_id() != Some(user) {
            return Err(Error::Refused(Refusal::ClientMayOnlyUpdateOwnTeamProfile));
        }
        check_image(&profile_image_url, false)?;
        self.update_member_profile(&actor.project, team, user, display_name, profile_image_url)
            .await
    }
}

impl Teams<'_> {
    /// Creates a team; with a creator, adds them with the `teamCreator` defaults (one
    /// transaction: an unknown creator leaves no team behind).
    ///
    /// Records `team.created` only, as Stack: no `team_membership.created` or
    /// `team_permission.created` for the creator. That gap stays on purpose: Stack's e2e
    /// suite creates a team with its creator, then adds a member or grants a permission, and
    /// expects exactly one `team_membership.created` / `team_permission.created` event.
    pub async fn create(&self, project: &Project, new: NewTeam) -> Result<Team> {
        check_sizes(
            Some(&new.display_name),
            &[
                ("client_metadata", new.client_metadata.as_ref()),
                (
                    "client_read_only_metadata",
                    new.client_read_only_metadata.as_ref(),
                ),
                ("server_metadata", new.server_metadata.as_ref()),
            ],
        )?;
        let now = self.p.inner.clock.now_millis();
        let team = TeamRecord {
            project_id: project.id.clone(),
            id: Uuid::now_v7(),
            display_name: new.display_name,
            profile_image_url: new.profile_image_url,
            client_metadata: new.client_metadata,
            client_read_only_metadata: new.client_read_only_metadata,
            server_metadata: new.server_metadata,
            created_at_millis: now,
        };
        let tx = self.p.inner.store.begin().await?;
        let mut team = team;
        team.profile_image_url = crate::files::store_if_data_url(
            self.p,
            &*tx,
            &project.id,
            crate::files::TEAM_IMAGES,
            team.profile_image_url,
            None,
        )
        .await?;
        tx.teams().insert(&team).await?;
        if let Some(user) = new.creator {
            if tx.users().get(&project.id, user).await?.is_none() {
                return Err(Error::UserNotFound);
            }
            tx.teams()
                .add_member(&TeamMemberRecord {
                    project_id: project.id.clone(),
                    team_id: team.id,
                    user_id: user,
                    display_name: None,
                    profile_image_url: None,
                    created_at_millis: now,
                })
                .await?;
            crate::permissions::grant_defaults(
                &*tx,
                project,
                crate::permissions::DefaultKind::TeamCreator,
                Some(team.id),
                user,
            )
            .await?;
        }
        let team: Team = team.into();
        crate::events::record(
            self.p,
            &*tx,
            &project.id,
            "team.created",
            &crate::views::TeamView::of(&team, true),
        )
        .await?;
        tx.commit().await?;
        Ok(team)
    }

    /// The team.
    pub async fn get(&self, project: &Project, id: Uuid) -> Result<Option<Team>> {
        Ok(self
            .p
            .inner
            .store
            .teams()
            .get(&project.id, id)
            .await?
            .map(Team::from))
    }

    /// Every team of the project, or the teams of one user, oldest first.
    pub async fn list(&self, project: &Project, user: Option<Uuid>) -> Result<Vec<Team>> {
        let repo = self.p.inner.store.teams();
        let mut teams: Vec<Team> = match user {
            Some(u) => repo.list_for_user(&project.id, u).await?,
            None => repo.list(&project.id).await?,
        }
        .into_iter()
        .map(Team::from)
        .collect();
        teams.sort_by_key(|t| (t.created_at_millis, t.id));
        Ok(teams)
    }

    /// Updates a team.
    pub async fn update(&self, project: &Project, id: Uuid, u: TeamUpdate) -> Result<Team> {
        check_sizes(
            u.display_name.as_deref(),
            &[
                ("client_metadata", u.client_metadata.as_ref()),
                (
                    "client_read_only_metadata",
                    u.client_read_only_metadata.as_ref(),
                ),
                ("server_metadata", u.server_metadata.as_ref()),
            ],
        )?;
        let tx = self.p.inner.store.begin().await?;
        let repo = tx.teams();
        let mut t = repo
            .get(&project.id, id)
            .await?
            .ok_or(Error::TeamNotFound(id))?;
        if let Some(n) = u.display_name {
            t.display_name = n;
        }
        if let Some(i) = u.profile_image_url {
            let old = t.profile_image_url.take();
            t.profile_image_url = crate::files::store_if_data_url(
                self.p,
                &*tx,
                &project.id,
                crate::files::TEAM_IMAGES,
                i,
                old.as_deref(),
            )
            .await?;
            if old != t.profile_image_url {
                crate::files::delete_if_stored(
                    self.p,
                    &*tx,
                    &project.id,
                    crate::files::TEAM_IMAGES,
                    old.as_deref(),
                )
                .await?;
            }
        }
        if let Some(m) = u.client_metadata {
            t.client_metadata = Some(m).filter(|v| !v.is_null());
        }
        if let Some(m) = u.client_read_only_metadata {
            t.client_read_only_metadata = Some(m).filter(|v| !v.is_null());
        }
        if let Some(m) = u.server_metadata {
            t.server_metadata = Some(m).filter(|v| !v.is_null());
        }
        repo.update(&t).await?;
        let team: Team = t.into();
        crate::events::record(
            self.p,
            &*tx,
            &project.id,
            "team.updated",
            &crate::views::TeamView::of(&team, true),
        )
        .await?;
        tx.commit().await?;
        Ok(team)
    }

    /// Deletes a team with its memberships, their permission grants and the team's API
    /// keys, clearing members' selection of it (one transaction).
    ///
    /// Records one `team_membership.deleted` per member (oldest membership first), then
    /// `team.deleted`. Stack sends only `team.deleted`; the membership events are a Postern
    /// addition, so a receiver tracking memberships sees each one end.
    pub async fn delete(&self, project: &Project, id: Uuid) -> Result<()> {
        let tx = self.p.inner.store.begin().await?;
        tx.api_keys().delete_for_team(&project.id, id).await?;
        let mut members = Vec::new();
        if let Some(team) = tx.teams().get(&project.id, id).await? {
            crate::files::delete_if_stored(
                self.p,
                &*tx,
                &project.id,
                crate::files::TEAM_IMAGES,
                team.profile_image_url.as_deref(),
            )
            .await?;
            for m in tx.teams().list_members(&project.id, id).await? {
                crate::files::delete_if_stored(
                    self.p,
                    &*tx,
                    &project.id,
                    crate::files::MEMBER_IMAGES,
                    m.profile_image_url.as_deref(),
                )
                .await?;
                members.push(m.user_id);
            }
        }
        if !tx.teams().delete(&project.id, id).await? {
            return Err(Error::TeamNotFound(id));
        }
        for user_id in members {
            membership_deleted(self.p, &*tx, &project.id, id, user_id).await?;
        }
        crate::events::record(
            self.p,
            &*tx,
            &project.id,
            "team.deleted",
            &crate::views::DeletedView { id },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a member with the `teamMember` default permissions.
    pub async fn add_member(&self, project: &Project, team_id: Uuid, user_id: Uuid) -> Result<()> {
        let tx = self.p.inner.store.begin().await?;
        if tx.users().get(&project.id, user_id).await?.is_none() {
            return Err(Error::UserNotFound);
        }
        if tx.teams().get(&project.id, team_id).await?.is_none() {
            return Err(Error::TeamNotFound(team_id));
        }
        join(self.p, &*tx, project, team_id, user_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a member (their grants in the team go with the membership).
    ///
    /// Records one `team_permission.deleted` per grant the membership took with it, then
    /// `team_membership.deleted`. Stack sends only `team_membership.deleted`; the grant
    /// events are a Postern addition, so a receiver tracking grants sees each one end.
    pub async fn remove_member(
        &self,
        project: &Project,
        team_id: Uuid,
        user_id: Uuid,
    ) -> Result<()> {
        let tx = self.p.inner.store.begin().await?;
        let grants = tx
            .permissions()
            .list_team(&project.id, Some(team_id), Some(user_id))
            .await?;
        if let Some(m) = tx.teams().get_member(&project.id, team_id, user_id).await? {
            crate::files::delete_if_stored(
                self.p,
                &*tx,
                &project.id,
                crate::files::MEMBER_IMAGES,
                m.profile_image_url.as_deref(),
            )
            .await?;
        }
        if !tx
            .teams()
            .remove_member(&project.id, team_id, user_id)
            .await?
        {
            return Err(Error::TeamMembershipNotFound { team_id, user_id });
        }
        for g in &grants {
            crate::events::record(
                self.p,
                &*tx,
                &project.id,
                "team_permission.deleted",
                &crate::views::PermissionGrantView::of(g),
            )
            .await?;
        }
        membership_deleted(self.p, &*tx, &project.id, team_id, user_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the user is a member of the team.
    pub async fn is_member(&self, project: &Project, team_id: Uuid, user_id: Uuid) -> Result<bool> {
        Ok(self
            .p
            .inner
            .store
            .teams()
            .get_member(&project.id, team_id, user_id)
            .await?
            .is_some())
    }

    /// Member profiles of a team (or of all teams), optionally of one user, in membership
    /// order.
    pub async fn member_profiles(
        &self,
        project: &Project,
        team_id: Option<Uuid>,
        user_id: Option<Uuid>,
    ) -> Result<Vec<MemberProfile>> {
        let store = &self.p.inner.store;
        let teams: Vec<Uuid> = match team_id {
            Some(t) => vec![t],
            None => store
                .teams()
                .list(&project.id)
                .await?
                .into_iter()
                .map(|t| t.id)
                .collect(),
        };
        let mut out = Vec::new();
        for t in teams {
            for m in store.teams().list_members(&project.id, t).await? {
                if user_id.is_some_and(|u| u != m.user_id) {
                    continue;
                }
                if let Some(p) = self.profile_of(project, &m).await? {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    async fn profile_of(
        &self,
        project: &Project,
        m: &TeamMemberRecord,
    ) -> Result<Option<MemberProfile>> {
        let Some(user) = self.p.users().get(project, m.user_id).await? else {
            return Ok(None);
        };
        Ok(Some(MemberProfile {
            team_id: m.team_id,
            display_name: m.display_name.clone().or_else(|| user.display_name.clone()),
            profile_image_url: m
                .profile_image_url
                .clone()
                .or_else(|| user.profile_image_url.clone()),
            user,
        }))
    }

    /// One member's profile.
    pub async fn member_profile(
        &self,
        project: &Project,
        team_id: Uuid,
        user_id: Uuid,
    ) -> Result<MemberProfile> {
        let m = self
            .p
            .inner
            .store
            .teams()
            .get_member(&project.id, team_id, user_id)
            .await?
            .ok_or(Error::TeamMembershipNotFound { team_id, user_id })?;
        self.profile_of(project, &m)
            .await?
            .ok_or(Error::UserNotFound)
    }

    /// Sets a member's per-team display name and image.
    pub async fn update_member_profile(
        &self,
        project: &Project,
        team_id: Uuid,
        user_id: Uuid,
        display_name: Option<String>,
        profile_image_url: Option<Option<String>>,
    ) -> Result<MemberProfile> {
        check_sizes(display_name.as_deref(), &[])?;
        let tx = self.p.inner.store.begin().await?;
        let mut m = tx
            .teams()
            .get_member(&project.id, team_id, user_id)
            .await?
            .ok_or(Error::TeamMembershipNotFound { team_id, user_id })?;
        if let Some(n) = display_name {
            m.display_name = Some(n);
        }
        if let Some(i) = profile_image_url {
            let old = m.profile_image_url.take();
            m.profile_image_url = crate::files::store_if_data_url(
                self.p,
                &*tx,
                &project.id,
                crate::files::MEMBER_IMAGES,
                i,
                old.as_deref(),
            )
            .await?;
            if old != m.profile_image_url {
                crate::files::delete_if_stored(
                    self.p,
                    &*tx,
                    &project.id,
                    crate::files::MEMBER_IMAGES,
                    old.as_deref(),
                )
                .await?;
            }
        }
        tx.teams().update_member(&m).await?;
        tx.commit().await?;
        self.member_profile(project, team_id, user_id).await
    }
}
