//! Permission grants and definitions (team and project scope).

use super::teams::member_user;
use super::*;
use crate::rest::input::{FieldValue, Flag, input};

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

input! {
    /// `GET /team-permissions`: filters of the listed grants.
    pub(crate) struct ListTeamGrants in Query {
        team_id: Option<String>,
        user_id: Option<String>,
        permission_id: Option<String>,
        recursive: Flag,
    }
}

input! {
    /// `GET /project-permissions`: filters of the listed grants.
    pub(crate) struct ListProjectGrants in Query {
        user_id: Option<String>,
        permission_id: Option<String>,
        recursive: Flag,
    }
}

impl From<ListProjectGrants> for ListTeamGrants {
    fn from(q: ListProjectGrants) -> Self {
        ListTeamGrants {
            team_id: None,
            user_id: q.user_id,
            permission_id: q.permission_id,
            recursive: q.recursive,
        }
    }
}

pub(crate) async fn list_grants(
    rq: Rq<'_>,
    q: impl Into<ListTeamGrants>,
    scope: Scope,
) -> Result<Json<ListView<PermissionGrantView>>> {
    let auth = rq.auth()?;
    let q: ListTeamGrants = q.into();
    let team = q
        .team_id
        .map(|t| {
            Uuid::parse_str(&t).map_err(|_| Error::schema("query.team_id must be a valid UUID"))
        })
        .transpose()?;
    let user = q
        .user_id
        .map(|u| user_id_or_me(&u, auth.user_id(), "query.user_id"))
        .transpose()?;
    let grants =
        rq.p.permissions()
            .list_as(
                auth,
                scope,
                team,
                user,
                q.permission_id.as_deref(),
                q.recursive.0,
            )
            .await?;
    Ok(Json::ok(ListView::of(
        grants.iter().map(PermissionGrantView::of).collect(),
    )))
}

pub(crate) async fn grant(rq: Rq<'_>, scope: Scope) -> Result<Json<PermissionGrantView>> {
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
    Ok(Json::created(PermissionGrantView::of(&g)))
}

pub(crate) async fn revoke(rq: Rq<'_>, scope: Scope) -> Result<Json<SuccessView>> {
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
    Ok(Json::ok(SuccessView::TRUE))
}

pub(crate) async fn list_definitions(
    rq: Rq<'_>,
    _: NoQuery,
    scope: Scope,
) -> Result<Json<ListView<PermissionDefinitionView>>> {
    let auth = rq.auth()?;
    Ok(Json::ok(ListView::of(
        rq.p.permissions()
            .list_definitions(&auth.project, scope)
            .iter()
            .map(PermissionDefinitionView::of)
            .collect(),
    )))
}

/// `contained_permission_ids` of a definition: absent or `null` (`None`), or a list of
/// ids (each non-string item is a failure).
#[derive(Debug, Clone, Default)]
pub(crate) struct ContainedIds(pub(crate) Option<Vec<String>>);

impl FieldValue for ContainedIds {
    fn read(f: &mut Fields, key: &str) -> Self {
        match f.opt_json(key) {
            None | Some(Value::Null) => ContainedIds(None),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for i in items {
                    match i.as_str() {
                        Some(s) => out.push(s.to_owned()),
                        None => f.fail(key, "must contain only strings"),
                    }
                }
                ContainedIds(Some(out))
            }
            Some(_) => {
                f.fail(key, "must be a `array` type");
                ContainedIds(None)
            }
        }
    }

    fn schema() -> Value {
        json!({ "type": ["array", "null"], "items": { "type": "string" } })
    }
}

/// Field check: a custom permission id (lowercase letters, digits, `:` and `_`).
pub(crate) fn custom_id(f: &mut Fields, key: &str, v: &impl Text) {
    if let Some(id) = v.text()
        && !is_valid_custom_id(id)
    {
        f.fail(
            key,
            "must contain only lowercase letters, numbers, \":\", and \"_\" characters",
        );
    }
}

input! {
    /// `POST /team-permission-definitions` and `POST /project-permission-definitions`.
    pub(crate) struct NewDefinition in Body {
        id: String => custom_id,
        description: Option<String>,
        contained_permission_ids: ContainedIds,
    }
}

pub(crate) async fn create_definition(
    rq: Rq<'_>,
    b: NewDefinition,
    scope: Scope,
) -> Result<Json<PermissionDefinitionView>> {
    let auth = rq.auth()?;
    let input = DefinitionInput {
        id: Some(b.id),
        description: b.description,
        contained: b.contained_permission_ids.0,
    };
    let d =
        rq.p.permissions()
            .create_definition(&auth.project, scope, input)
            .await?;
    Ok(Json::created(PermissionDefinitionView::of(&d)))
}

input! {
    /// `PATCH /team-permission-definitions/{permission_id}` and
    /// `PATCH /project-permission-definitions/{permission_id}`.
    pub(crate) struct DefinitionPatch in Body {
        id: Option<String> => custom_id,
        description: Option<String>,
        contained_permission_ids: ContainedIds,
    }
}

pub(crate) async fn update_definition(
    rq: Rq<'_>,
    b: DefinitionPatch,
    scope: Scope,
) -> Result<Json<PermissionDefinitionView>> {
    let auth = rq.auth()?;
    let input = DefinitionInput {
        id: b.id,
        description: b.description,
        contained: b.contained_permission_ids.0,
    };
    let id = rq.param("permission_id").to_owned();
    let d =
        rq.p.permissions()
            .update_definition(&auth.project, scope, &id, input)
            .await?;
    Ok(Json::ok(PermissionDefinitionView::of(&d)))
}

pub(crate) async fn delete_definition(rq: Rq<'_>, scope: Scope) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let id = rq.param("permission_id").to_owned();
    rq.p.permissions()
        .delete_definition(&auth.project, scope, &id)
        .await?;
    Ok(Json::ok(SuccessView::TRUE))
}
