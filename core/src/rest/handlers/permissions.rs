//! Permission grants and definitions (team and project scope).

use super::teams::member_user;
use super::*;

pub(crate) fn grant_json(g: &PermissionGrantRecord) -> Value {
    match g.team_id {
        Some(t) => json!({ "id": g.permission_id, "team_id": t, "user_id": g.user_id }),
        None => json!({ "id": g.permission_id, "user_id": g.user_id }),
    }
}

pub(crate) fn check_permission_id(id: &str) -> Result<()> {
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

pub(crate) async fn list_grants(rq: Rq<'_>, scope: Scope) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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
    Ok(items(grants.iter().map(grant_json).collect()))
}

pub(crate) async fn grant(rq: Rq<'_>, scope: Scope) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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

pub(crate) async fn revoke(rq: Rq<'_>, scope: Scope) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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

pub(crate) async fn list_definitions(rq: Rq<'_>, scope: Scope) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    Fields::query(&rq.query, &[]).finish()?;
    Ok(items(
        rq.p.permissions()
            .list_definitions(&auth.project, scope)
            .iter()
            .map(definition_json)
            .collect(),
    ))
}

pub(crate) fn definition_body(rq: &Rq<'_>, create: bool) -> Result<DefinitionInput> {
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

pub(crate) async fn create_definition(rq: Rq<'_>, scope: Scope) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let input = definition_body(&rq, true)?;
    let d =
        rq.p.permissions()
            .create_definition(&auth.project, scope, input)
            .await?;
    Ok(json(StatusCode::CREATED, &definition_json(&d)))
}

pub(crate) async fn update_definition(rq: Rq<'_>, scope: Scope) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let input = definition_body(&rq, false)?;
    let id = rq.param("permission_id").to_owned();
    let d =
        rq.p.permissions()
            .update_definition(&auth.project, scope, &id, input)
            .await?;
    Ok(json(StatusCode::OK, &definition_json(&d)))
}

pub(crate) async fn delete_definition(rq: Rq<'_>, scope: Scope) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let id = rq.param("permission_id").to_owned();
    rq.p.permissions()
        .delete_definition(&auth.project, scope, &id)
        .await?;
    Ok(success())
}
