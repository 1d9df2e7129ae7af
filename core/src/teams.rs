//! Teams: the team view, personal teams on sign-up and the selected team. (Team
//! endpoints, memberships and invitations build on this.)

use serde_json::Value;
use uuid::Uuid;

use crate::error::Result;
use crate::projects::Project;
use crate::storage::{Repos, TeamMemberRecord, TeamRecord, UserRecord};

/// A team as Stack describes it (server view; clients see no server metadata or creation
/// time).
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    /// Team id.
    pub id: Uuid,
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
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
}

impl From<TeamRecord> for Team {
    fn from(r: TeamRecord) -> Self {
        Team {
            id: r.id,
            display_name: r.display_name,
            profile_image_url: r.profile_image_url,
            client_metadata: r.client_metadata,
            client_read_only_metadata: r.client_read_only_metadata,
            server_metadata: r.server_metadata,
            created_at_millis: r.created_at_millis,
        }
    }
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
pub(crate) async fn create_personal_team(
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
    let mut rec = rec.clone();
    rec.selected_team_id = Some(team.id);
    repos.users().update(&rec).await?;
    Ok(Some(rec))
}

/// The selected team of a user row, if it still exists.
pub(crate) async fn selected_team(repos: &dyn Repos, rec: &UserRecord) -> Result<Option<Team>> {
    let Some(id) = rec.selected_team_id else {
        return Ok(None);
    };
    Ok(repos
        .teams()
        .get(&rec.project_id, id)
        .await?
        .map(Team::from))
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
