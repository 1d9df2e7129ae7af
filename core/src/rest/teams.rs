//! Handlers of teams, memberships, member profiles, permission grants and definitions.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Rq;
use super::access::Auth;
use super::handlers::{ALL, SERVER, require};
use super::input::{Fields, user_id_or_me};
use super::response::{json, success};
use super::views::{team_json, user_json};
use crate::error::{AccessType, Error, Result};
use crate::permissions::{DefinitionInput, Scope, definition_json, is_system, is_valid_custom_id};
use crate::storage::PermissionGrantRecord;
use crate::teams::{MemberProfile, NewTeam, TeamUpdate};

const ADMIN: &[AccessType] = &[AccessType::Admin];

fn is_client(auth: &Auth) -> bool {
    auth.access_type == AccessType::Client
}

fn path_uuid(rq: &Rq<'_>, name: &str) -> Result<Uuid> {
    Uuid::parse_str(rq.param(name))
        .map_err(|_| Error::schema(format!("params.{name} must be a valid UUID")))
}

fn list(items: Vec<Value>) -> Response<Bytes> {
    json(
        StatusCode::OK,
        &json!({ "items": items, "is_paginated": false }),
    )
}

/// The signed-in user of a client request that needs one.
fn client_user(auth: &Auth) -> Result<Uuid> {
    auth.user_id().ok_or(Error::UserAuthenticationRequired)
}

fn valid_image(v: &Option<Option<String>>, client: bool) -> Result<()> {
    if let Some(Some(url)) = v {
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
            return Err(Error::bad_request("Invalid profile image URL"));
        }
    }
    Ok(())
}

pub(super) async fn list_teams(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::query(&rq.query, &["user_id"]);
    let raw = f.opt_str("user_id");
    f.finish()?;
    let user = match raw {
        Some(r) => Some(user_id_or_me(&r, auth.user_id(), "query.user_id")?),
        None => None,
    };
    if is_client(auth) && (user.is_none() || user != auth.user_id()) {
        if auth.user.is_none() {
            return Err(Error::CannotGetOwnUserWithoutUser);
        }
        return Err(Error::status(
            StatusCode::FORBIDDEN,
            "Client can only list teams for their own user. user_id must be either \"me\" or the ID of the current user",
        ));
    }
    let server = !is_client(auth);
    let teams = rq.p.teams().list(&auth.project, user).await?;
    Ok(list(teams.iter().map(|t| team_json(t, server)).collect()))
}

pub(super) async fn create_team(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let client = is_client(auth);
    let mut allowed = vec![
        "display_name",
        "profile_image_url",
        "client_metadata",
        "creator_user_id",
    ];
    if !client {
        allowed.extend(["client_read_only_metadata", "server_metadata"]);
    }
    let mut q = Fields::query(&rq.query, &["add_current_user"]);
    let add_current = q.opt_str("add_current_user");
    q.finish()?;
    let mut f = Fields::body(&rq.body, &allowed);
    let display_name = f.req_str("display_name");
    let image = f.nullable_str("profile_image_url");
    let client_metadata = f.opt_json("client_metadata");
    let cro = if client {
        None
    } else {
        f.opt_json("client_read_only_metadata")
    };
    let server_metadata = if client {
        None
    } else {
        f.opt_json("server_metadata")
    };
    let creator_raw = f.opt_str("creator_user_id");
    f.finish()?;
    if creator_raw.is_some() && add_current.is_some() {
        return Err(Error::bad_request(
            "Cannot use both creator_user_id and add_current_user. add_current_user is deprecated, please only use creator_user_id in the body.",
        ));
    }
    let creator = match &creator_raw {
        Some(r) => Some(user_id_or_me(r, auth.user_id(), "body.creator_user_id")?),
        None => None,
    };
    let creator = if client {
        let me = client_user(auth)?;
        if !auth.project.config.teams.allow_client_team_creation {
            return Err(Error::status(
                StatusCode::FORBIDDEN,
                "Client team creation is disabled for this project",
            ));
        }
        valid_image(&image, true)?;
        if creator.is_some_and(|c| c != me) {
            return Err(Error::status(
                StatusCode::FORBIDDEN,
                "You cannot create a team as a user that is not yourself. Make sure you set the creator_user_id to 'me'.",
            ));
        }
        Some(me)
    } else {
        valid_image(&image, false)?;
        match add_current.as_deref() {
            Some("true") => Some(auth.user_id().ok_or_else(|| {
                Error::status(
                    StatusCode::UNAUTHORIZED,
                    "You must be logged in to create a team with the current user as a member.",
                )
            })?),
            _ => creator,
        }
    };
    let team =
        rq.p.teams()
            .create(
                &auth.project,
                NewTeam {
                    display_name: display_name.unwrap_or_default(),
                    profile_image_url: image.flatten(),
                    client_metadata: client_metadata.filter(|v| !v.is_null()),
                    client_read_only_metadata: cro.filter(|v| !v.is_null()),
                    server_metadata: server_metadata.filter(|v| !v.is_null()),
                    creator,
                },
            )
            .await?;
    Ok(json(StatusCode::CREATED, &team_json(&team, !client)))
}

/// The team a request acts on: clients must be members (and hold `permission`, if any).
async fn acting_on_team(rq: &Rq<'_>, auth: &Auth, permission: Option<&str>) -> Result<Uuid> {
    // Path and query are validated together, as Stack reports both.
    let mut failures = Vec::new();
    let team = Uuid::parse_str(rq.param("team_id")).ok();
    if team.is_none() {
        failures.push("params.team_id must be a valid UUID".to_owned());
    }
    let unknown: Vec<&str> = rq.query.iter().map(|(k, _)| k.as_str()).collect();
    if !unknown.is_empty() {
        failures.push(format!(
            "query contains unknown properties: {}",
            unknown.join(", ")
        ));
    }
    if !failures.is_empty() {
        return Err(Error::Schema(failures));
    }
    let team = team.unwrap_or_default();
    if is_client(auth) {
        let me = client_user(auth)?;
        match permission {
            Some(p) => {
                rq.p.permissions()
                    .require_team_permission(&auth.project, me, team, p)
                    .await?
            }
            None => {
                if !rq.p.teams().is_member(&auth.project, team, me).await? {
                    return Err(Error::TeamMembershipNotFound {
                        team_id: team,
                        user_id: me,
                    });
                }
            }
        }
    }
    Ok(team)
}

pub(super) async fn get_team(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let id = acting_on_team(&rq, auth, None).await?;
    let team =
        rq.p.teams()
            .get(&auth.project, id)
            .await?
            .ok_or(Error::TeamNotFound(id))?;
    Ok(json(StatusCode::OK, &team_json(&team, !is_client(auth))))
}

pub(super) async fn patch_team(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let client = is_client(auth);
    let mut allowed = vec!["display_name", "profile_image_url", "client_metadata"];
    if !client {
        allowed.extend(["client_read_only_metadata", "server_metadata"]);
    }
    let mut f = Fields::body(&rq.body, &allowed);
    let display_name = f.opt_str("display_name");
    let image = f.nullable_str("profile_image_url");
    let client_metadata = f.opt_json("client_metadata");
    let cro = if client {
        None
    } else {
        f.opt_json("client_read_only_metadata")
    };
    let server_metadata = if client {
        None
    } else {
        f.opt_json("server_metadata")
    };
    f.finish()?;
    let id = acting_on_team(&rq, auth, Some("$update_team")).await?;
    valid_image(&image, client)?;
    let team =
        rq.p.teams()
            .update(
                &auth.project,
                id,
                TeamUpdate {
                    display_name,
                    profile_image_url: image,
                    client_metadata,
                    client_read_only_metadata: cro,
                    server_metadata,
                },
            )
            .await?;
    Ok(json(StatusCode::OK, &team_json(&team, !client)))
}

pub(super) async fn delete_team(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let id = acting_on_team(&rq, auth, Some("$delete_team")).await?;
    rq.p.teams().delete(&auth.project, id).await?;
    Ok(success())
}

fn member_user(rq: &Rq<'_>, auth: &Auth) -> Result<Uuid> {
    user_id_or_me(rq.param("user_id"), auth.user_id(), "params.user_id")
}

pub(super) async fn add_member(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, SERVER)?;
    Fields::body(&rq.body, &[])
        .finish()
        .or_else(|e| match rq.body {
            super::input::Body::None => Ok(()),
            _ => Err(e),
        })?;
    let team = path_uuid(&rq, "team_id")?;
    let user = member_user(&rq, auth)?;
    rq.p.teams().add_member(&auth.project, team, user).await?;
    Ok(json(
        StatusCode::CREATED,
        &json!({ "team_id": team, "user_id": user }),
    ))
}

pub(super) async fn remove_member(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let team = path_uuid(&rq, "team_id")?;
    let user = member_user(&rq, auth)?;
    if is_client(auth) && auth.user_id() != Some(user) {
        let me = client_user(auth)?;
        rq.p.permissions()
            .require_team_permission(&auth.project, me, team, "$remove_members")
            .await?;
    }
    rq.p.teams()
        .remove_member(&auth.project, team, user)
        .await?;
    Ok(success())
}

fn profile_json(p: &MemberProfile, server: bool) -> Value {
    let mut v = json!({
        "team_id": p.team_id,
        "user_id": p.user.id,
        "display_name": p.display_name,
        "profile_image_url": p.profile_image_url,
    });
    if server {
        v["user"] = user_json(&p.user, true);
    }
    v
}

pub(super) async fn list_profiles(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::query(&rq.query, &["team_id", "user_id"]);
    let team_raw = f.opt_str("team_id");
    let user_raw = f.opt_str("user_id");
    f.finish()?;
    let team = team_raw
        .map(|t| {
            Uuid::parse_str(&t).map_err(|_| Error::schema("query.team_id must be a valid UUID"))
        })
        .transpose()?;
    let user = user_raw
        .map(|u| user_id_or_me(&u, auth.user_id(), "query.user_id"))
        .transpose()?;
    if is_client(auth) {
        let Some(team) = team else {
            return Err(Error::bad_request(
                "team_id is required for access type client",
            ));
        };
        let me = client_user(auth)?;
        if user != Some(me) {
            rq.p.permissions()
                .require_team_permission(&auth.project, me, team, "$read_members")
                .await?;
        } else if !rq.p.teams().is_member(&auth.project, team, me).await? {
            return Err(Error::TeamMembershipNotFound {
                team_id: team,
                user_id: me,
            });
        }
    } else if let Some(t) = team
        && rq.p.teams().get(&auth.project, t).await?.is_none()
    {
        return Err(Error::TeamNotFound(t));
    }
    let profiles =
        rq.p.teams()
            .member_profiles(&auth.project, team, user)
            .await?;
    Ok(list(
        profiles
            .iter()
            .map(|p| profile_json(p, !is_client(auth)))
            .collect(),
    ))
}

pub(super) async fn get_profile(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let team = path_uuid(&rq, "team_id")?;
    let user = member_user(&rq, auth)?;
    if is_client(auth) && auth.user_id() != Some(user) {
        let me = client_user(auth)?;
        rq.p.permissions()
            .require_team_permission(&auth.project, me, team, "$read_members")
            .await?;
    }
    let p =
        rq.p.teams()
            .member_profile(&auth.project, team, user)
            .await?;
    Ok(json(StatusCode::OK, &profile_json(&p, !is_client(auth))))
}

pub(super) async fn patch_profile(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::body(&rq.body, &["display_name", "profile_image_url"]);
    let display_name = f.opt_str("display_name");
    let image = f.nullable_str("profile_image_url");
    f.finish()?;
    let team = path_uuid(&rq, "team_id")?;
    let user = member_user(&rq, auth)?;
    if is_client(auth) && auth.user_id() != Some(user) {
        return Err(Error::status(
            StatusCode::FORBIDDEN,
            "Cannot update another user's profile",
        ));
    }
    valid_image(&image, false)?;
    let p =
        rq.p.teams()
            .update_member_profile(&auth.project, team, user, display_name, image)
            .await?;
    Ok(json(StatusCode::OK, &profile_json(&p, !is_client(auth))))
}

fn grant_json(g: &PermissionGrantRecord) -> Value {
    match g.team_id {
        Some(t) => json!({ "id": g.permission_id, "team_id": t, "user_id": g.user_id }),
        None => json!({ "id": g.permission_id, "user_id": g.user_id }),
    }
}

fn check_permission_id(id: &str) -> Result<()> {
    let ok = if let Some(rest) = id.strip_prefix('$') {
        is_valid_custom_id(rest) && is_system(id)
    } else {
        is_valid_custom_id(id)
    };
    if ok {
        Ok(())
    } else {
        Err(Error::PermissionNotFound(id.to_owned()))
    }
}

pub(super) async fn list_grants(rq: Rq<'_>, scope: Scope) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut keys = vec!["user_id", "permission_id", "recursive"];
    if scope == Scope::Team {
        keys.push("team_id");
    }
    let mut f = Fields::query(&rq.query, &keys);
    let team_raw = if scope == Scope::Team {
        f.opt_str("team_id")
    } else {
        None
    };
    let user_raw = f.opt_str("user_id");
    let permission = f.opt_str("permission_id");
    let recursive = f.flag("recursive");
    f.finish()?;
    let team = team_raw
        .map(|t| {
            Uuid::parse_str(&t).map_err(|_| Error::schema("query.team_id must be a valid UUID"))
        })
        .transpose()?;
    let user = user_raw
        .map(|u| user_id_or_me(&u, auth.user_id(), "query.user_id"))
        .transpose()?;
    if is_client(auth) && (user.is_none() || user != auth.user_id()) {
        return Err(Error::status(
            StatusCode::FORBIDDEN,
            "Client can only list permissions for their own user. user_id must be either \"me\" or the ID of the current user",
        ));
    }
    let grants =
        rq.p.permissions()
            .list(
                &auth.project,
                scope,
                team,
                user,
                permission.as_deref(),
                recursive,
            )
            .await?;
    Ok(list(grants.iter().map(grant_json).collect()))
}

pub(super) async fn grant(rq: Rq<'_>, scope: Scope) -> Result<Response<Bytes>> {
    let auth = require(&rq, SERVER)?;
    let team = match scope {
        Scope::Team => Some(path_uuid(&rq, "team_id")?),
        Scope::Project => None,
    };
    let user = member_user(&rq, auth)?;
    let id = rq.param("permission_id").to_owned();
    check_permission_id(&id)?;
    let g =
        rq.p.permissions()
            .grant(&auth.project, team, user, &id)
            .await?;
    Ok(json(StatusCode::CREATED, &grant_json(&g)))
}

pub(super) async fn revoke(rq: Rq<'_>, scope: Scope) -> Result<Response<Bytes>> {
    let auth = require(&rq, SERVER)?;
    let team = match scope {
        Scope::Team => Some(path_uuid(&rq, "team_id")?),
        Scope::Project => None,
    };
    let user = member_user(&rq, auth)?;
    let id = rq.param("permission_id").to_owned();
    rq.p.permissions()
        .revoke(&auth.project, team, user, &id)
        .await?;
    Ok(success())
}

pub(super) async fn list_definitions(rq: Rq<'_>, scope: Scope) -> Result<Response<Bytes>> {
    let auth = require(&rq, ADMIN)?;
    Fields::query(&rq.query, &[]).finish()?;
    Ok(list(
        rq.p.permissions()
            .list_definitions(&auth.project, scope)
            .iter()
            .map(definition_json)
            .collect(),
    ))
}

fn definition_body(rq: &Rq<'_>, create: bool) -> Result<DefinitionInput> {
    let mut f = Fields::body(&rq.body, &["id", "description", "contained_permission_ids"]);
    let id = if create {
        f.req_str("id")
    } else {
        f.opt_str("id")
    };
    let description = f.opt_str("description");
    let contained = match f.opt_json("contained_permission_ids") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for i in items {
                match i.as_str() {
                    Some(s) => out.push(s.to_owned()),
                    None => f.fail("contained_permission_ids", "must contain only strings"),
                }
            }
            Some(out)
        }
        Some(_) => {
            f.fail("contained_permission_ids", "must be a `array` type");
            None
        }
    };
    if let Some(i) = &id
        && !is_valid_custom_id(i)
    {
        f.fail(
            "id",
            "must contain only lowercase letters, numbers, \":\", and \"_\" characters",
        );
    }
    f.finish()?;
    Ok(DefinitionInput {
        id,
        description,
        contained,
    })
}

pub(super) async fn create_definition(rq: Rq<'_>, scope: Scope) -> Result<Response<Bytes>> {
    let auth = require(&rq, ADMIN)?;
    let input = definition_body(&rq, true)?;
    let d =
        rq.p.permissions()
            .create_definition(&auth.project, scope, input)
            .await?;
    Ok(json(StatusCode::CREATED, &definition_json(&d)))
}

pub(super) async fn update_definition(rq: Rq<'_>, scope: Scope) -> Result<Response<Bytes>> {
    let auth = require(&rq, ADMIN)?;
    let input = definition_body(&rq, false)?;
    let id = rq.param("permission_id").to_owned();
    let d =
        rq.p.permissions()
            .update_definition(&auth.project, scope, &id, input)
            .await?;
    Ok(json(StatusCode::OK, &definition_json(&d)))
}

pub(super) async fn delete_definition(rq: Rq<'_>, scope: Scope) -> Result<Response<Bytes>> {
    let auth = require(&rq, ADMIN)?;
    let id = rq.param("permission_id").to_owned();
    rq.p.permissions()
        .delete_definition(&auth.project, scope, &id)
        .await?;
    Ok(success())
}

fn invitation_json(i: &crate::invitations::Invitation) -> Value {
    json!({
        "id": i.id,
        "team_id": i.team_id,
        "team_display_name": i.team_display_name,
        "recipient_email": i.recipient_email,
        "expires_at_millis": i.expires_at_millis,
    })
}

pub(super) async fn send_invitation(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::body(&rq.body, &["team_id", "email", "callback_url"]);
    let team = f.req_str("team_id");
    let email = f.req_str("email");
    let callback = f.req_str("callback_url");
    if let Some(e) = &email
        && !crate::email::is_valid_email_lenient(e)
    {
        f.fail("email", "must be a valid email");
    }
    let team = team.and_then(|t| match Uuid::parse_str(&t) {
        Ok(u) => Some(u),
        Err(_) => {
            f.fail("team_id", "must be a valid UUID");
            None
        }
    });
    f.finish()?;
    let team = team.unwrap_or_default();
    if is_client(auth) {
        let me = client_user(auth)?;
        rq.p.permissions()
            .require_team_permission(&auth.project, me, team, "$invite_members")
            .await?;
    }
    let id =
        rq.p.invitations()
            .send(
                &auth.project,
                team,
                &email.unwrap_or_default(),
                &callback.unwrap_or_default(),
            )
            .await?;
    Ok(json(StatusCode::OK, &json!({ "success": true, "id": id })))
}

pub(super) async fn list_invitations(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::query(&rq.query, &["team_id", "user_id"]);
    let team = f.opt_str("team_id");
    let user = f.opt_str("user_id");
    f.finish()?;
    let invitations = match (team, user) {
        (Some(_), Some(_)) => {
            return Err(Error::bad_request(
                "Cannot specify both team_id and user_id",
            ));
        }
        (None, None) => return Err(Error::bad_request("Must specify either team_id or user_id")),
        (Some(t), None) => {
            let t = Uuid::parse_str(&t)
                .map_err(|_| Error::schema("query.team_id must be a valid UUID"))?;
            if is_client(auth) {
                let me = client_user(auth)?;
                let perms = rq.p.permissions();
                perms
                    .require_team_permission(&auth.project, me, t, "$read_members")
                    .await?;
                perms
                    .require_team_permission(&auth.project, me, t, "$invite_members")
                    .await?;
            } else if rq.p.teams().get(&auth.project, t).await?.is_none() {
                return Err(Error::TeamNotFound(t));
            }
            rq.p.invitations().list_for_team(&auth.project, t).await?
        }
        (None, Some(u)) => {
            let u = user_id_or_me(&u, auth.user_id(), "query.user_id")?;
            if is_client(auth) && auth.user_id() != Some(u) {
                return Err(Error::CannotGetOwnUserWithoutUser);
            }
            rq.p.invitations().list_for_user(&auth.project, u).await?
        }
    };
    Ok(list(invitations.iter().map(invitation_json).collect()))
}

pub(super) async fn delete_invitation(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::query(&rq.query, &["team_id"]);
    let team = f.opt_str("team_id");
    f.finish()?;
    let Some(team) = team else {
        return Err(Error::bad_request(
            "team_id is required for deleting a team invitation",
        ));
    };
    let team =
        Uuid::parse_str(&team).map_err(|_| Error::schema("query.team_id must be a valid UUID"))?;
    if is_client(auth) {
        let me = client_user(auth)?;
        rq.p.permissions()
            .require_team_permission(&auth.project, me, team, "$remove_members")
            .await?;
    } else if rq.p.teams().get(&auth.project, team).await?.is_none() {
        return Err(Error::TeamNotFound(team));
    }
    let id = Uuid::parse_str(rq.param("id")).map_err(|_| Error::VerificationCodeNotFound)?;
    rq.p.invitations().delete(&auth.project, team, id).await?;
    Ok(success())
}

fn invitation_code(rq: &Rq<'_>) -> Result<String> {
    let (code, f) = super::channels::code_body(rq, &[])?;
    f.finish()?;
    Ok(code.unwrap_or_default())
}

pub(super) async fn accept_invitation(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let code = invitation_code(&rq)?;
    let user = auth
        .user
        .as_ref()
        .ok_or(Error::UserAuthenticationRequired)?;
    rq.p.invitations()
        .accept(&auth.project, user, &code)
        .await?;
    Ok(json(StatusCode::OK, &json!({})))
}

pub(super) async fn check_invitation(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let code = invitation_code(&rq)?;
    rq.p.invitations().check_code(&auth.project, &code).await?;
    Ok(json(StatusCode::OK, &json!({ "is_code_valid": true })))
}

pub(super) async fn invitation_details(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let code = invitation_code(&rq)?;
    let user = auth
        .user
        .as_ref()
        .ok_or(Error::UserAuthenticationRequired)?;
    let (team_id, name) =
        rq.p.invitations()
            .details(&auth.project, user, &code)
            .await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "team_id": team_id, "team_display_name": name }),
    ))
}

pub(super) async fn accept_invitation_by_id(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::query(&rq.query, &["user_id"]);
    let raw = f.req_str("user_id");
    f.finish()?;
    let user_id = user_id_or_me(&raw.unwrap_or_default(), auth.user_id(), "query.user_id")?;
    if is_client(auth) && auth.user_id() != Some(user_id) {
        return Err(Error::CannotGetOwnUserWithoutUser);
    }
    let user =
        rq.p.users()
            .get(&auth.project, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
    let id = Uuid::parse_str(rq.param("id")).map_err(|_| Error::VerificationCodeNotFound)?;
    rq.p.invitations()
        .accept_by_id(&auth.project, &user, id)
        .await?;
    Ok(json(StatusCode::OK, &json!({})))
}

fn team_keys_enabled(auth: &Auth) -> Result<()> {
    if auth.project.config.api_keys.enabled.team {
        Ok(())
    } else {
        Err(Error::bad_request(
            "Team API keys are not enabled for this project.",
        ))
    }
}

/// Who may manage a team's keys: servers (the team must exist); clients holding
/// `$manage_api_keys` in it. Anything else is `API_KEY_NOT_FOUND`, hiding the team.
async fn may_manage_team_keys(rq: &Rq<'_>, auth: &Auth, team: Uuid) -> Result<()> {
    if is_client(auth) {
        let me = client_user(auth)?;
        if !rq
            .p
            .permissions()
            .has_permission(&auth.project, me, Some(team), "$manage_api_keys")
            .await?
        {
            return Err(Error::ApiKeyNotFound);
        }
    } else if rq.p.teams().get(&auth.project, team).await?.is_none() {
        return Err(Error::TeamNotFound(team));
    }
    Ok(())
}

fn team_param(f: &mut Fields, required: bool) -> Option<Uuid> {
    let raw = if required {
        f.req_str("team_id")
    } else {
        f.opt_str("team_id")
    };
    raw.and_then(|t| match Uuid::parse_str(&t) {
        Ok(u) => Some(u),
        Err(_) => {
            f.fail("team_id", "must be a valid UUID");
            None
        }
    })
}

pub(super) async fn create_team_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::body(
        &rq.body,
        &["description", "expires_at_millis", "is_public", "team_id"],
    );
    let description = f.req_str("description");
    let expires = super::handlers::key_expiry(&mut f);
    let is_public = f.opt_bool("is_public").unwrap_or(false);
    let team = team_param(&mut f, true);
    f.finish()?;
    team_keys_enabled(auth)?;
    let team = team.unwrap_or_default();
    may_manage_team_keys(&rq, auth, team).await?;
    let created =
        rq.p.api_keys()
            .create(
                &auth.project,
                crate::storage::ApiKeyOwner::Team(team),
                &description.unwrap_or_default(),
                expires,
                is_public,
            )
            .await?;
    Ok(json(
        StatusCode::OK,
        &super::views::api_key_json(&created.record, Some(&created.value)),
    ))
}

pub(super) async fn list_team_keys(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::query(&rq.query, &["team_id"]);
    let team = team_param(&mut f, true);
    f.finish()?;
    team_keys_enabled(auth)?;
    let team = team.unwrap_or_default();
    may_manage_team_keys(&rq, auth, team).await?;
    let keys = rq.p.api_keys().list_for_team(&auth.project, team).await?;
    Ok(list(
        keys.iter()
            .map(|k| super::views::api_key_json(k, None))
            .collect(),
    ))
}

async fn team_key_in_path(rq: &Rq<'_>, auth: &Auth) -> Result<crate::storage::ApiKeyRecord> {
    let id = Uuid::parse_str(rq.param("api_key_id"))
        .map_err(|_| Error::schema("params.api_key_id must be a valid UUID"))?;
    team_keys_enabled(auth)?;
    let key =
        rq.p.api_keys()
            .get(&auth.project, id)
            .await?
            .ok_or(Error::ApiKeyNotFound)?;
    let crate::storage::ApiKeyOwner::Team(team) = key.owner else {
        return Err(Error::ApiKeyNotFound);
    };
    may_manage_team_keys(rq, auth, team).await?;
    Ok(key)
}

pub(super) async fn get_team_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::query(&rq.query, &["team_id"]);
    team_param(&mut f, false);
    f.finish()?;
    let key = team_key_in_path(&rq, auth).await?;
    Ok(json(
        StatusCode::OK,
        &super::views::api_key_json(&key, None),
    ))
}

pub(super) async fn patch_team_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut q = Fields::query(&rq.query, &["team_id"]);
    team_param(&mut q, false);
    q.finish()?;
    let (description, revoked, expires) = super::handlers::key_patch(&rq)?;
    let key = team_key_in_path(&rq, auth).await?;
    let updated =
        rq.p.api_keys()
            .update(&auth.project, key.id, description, expires, revoked)
            .await?;
    Ok(json(
        StatusCode::OK,
        &super::views::api_key_json(&updated, None),
    ))
}

pub(super) async fn check_team_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, SERVER)?;
    let mut f = Fields::body(&rq.body, &["api_key"]);
    let key = f.req_str("api_key");
    f.finish()?;
    team_keys_enabled(auth)?;
    let record =
        rq.p.api_keys()
            .check(
                &auth.project,
                &key.unwrap_or_default(),
                crate::api_keys::KeyType::Team,
            )
            .await?;
    Ok(json(
        StatusCode::OK,
        &super::views::api_key_json(&record, None),
    ))
}

/// `GET /storage/{bucket}/{file}`: a stored image, cacheable (file ids are never reused).
pub(super) async fn storage_file(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let Some((mime, data)) = rq.p.file(rq.param("bucket"), rq.param("file")).await? else {
        return Err(Error::status(StatusCode::NOT_FOUND, "File not found"));
    };
    let mut r = Response::new(Bytes::from(data));
    if let Ok(v) = http::HeaderValue::from_str(&mime) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    r.headers_mut().insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    Ok(r)
}

fn vault_body(rq: &Rq<'_>, with_value: bool) -> Result<(String, Option<String>)> {
    let allowed: &[&str] = if with_value {
        &["hashed_key", "encrypted_value"]
    } else {
        &["hashed_key"]
    };
    let mut f = Fields::body(&rq.body, allowed);
    let key = f.req_str("hashed_key");
    if key.as_deref() == Some("") {
        f.fail("hashed_key", "must not be empty");
    }
    let value = if with_value {
        f.req_str("encrypted_value")
    } else {
        None
    };
    f.finish()?;
    Ok((key.unwrap_or_default(), value))
}

pub(super) async fn vault_set(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, SERVER)?;
    let (key, value) = vault_body(&rq, true)?;
    rq.p.vault()
        .set(
            &auth.project,
            rq.param("store_id"),
            &key,
            &value.unwrap_or_default(),
        )
        .await?;
    Ok(json(StatusCode::OK, &json!({ "success": true })))
}

pub(super) async fn vault_get(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, SERVER)?;
    let (key, _) = vault_body(&rq, false)?;
    let value =
        rq.p.vault()
            .get(&auth.project, rq.param("store_id"), &key)
            .await?;
    Ok(json(StatusCode::OK, &json!({ "encrypted_value": value })))
}
