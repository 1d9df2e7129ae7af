//! Teams, memberships and member profiles.

use super::*;

pub(crate) async fn list(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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
    Ok(items(teams.iter().map(|t| team_json(t, server)).collect()))
}

pub(crate) async fn create(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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

pub(crate) async fn get(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let id = acting_on_team(&rq, auth, None).await?;
    let team =
        rq.p.teams()
            .get(&auth.project, id)
            .await?
            .ok_or(Error::TeamNotFound(id))?;
    Ok(json(StatusCode::OK, &team_json(&team, !is_client(auth))))
}

pub(crate) async fn patch(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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

pub(crate) async fn delete(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let id = acting_on_team(&rq, auth, Some("$delete_team")).await?;
    rq.p.teams().delete(&auth.project, id).await?;
    Ok(success())
}

pub(crate) fn member_user(rq: &Rq<'_>, auth: &Auth) -> Result<Uuid> {
    user_id_or_me(rq.param("user_id"), auth.user_id(), "params.user_id")
}

pub(crate) async fn add_member(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    Fields::body(&rq.body, &[])
        .finish()
        .or_else(|e| match rq.body {
            crate::rest::input::Body::None => Ok(()),
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

pub(crate) async fn remove_member(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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

pub(crate) fn profile_json(p: &MemberProfile, server: bool) -> Value {
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

pub(crate) async fn list_profiles(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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
    Ok(items(
        profiles
            .iter()
            .map(|p| profile_json(p, !is_client(auth)))
            .collect(),
    ))
}

pub(crate) async fn get_profile(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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

pub(crate) async fn patch_profile(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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
