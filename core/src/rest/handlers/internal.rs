//! The internal (dashboard) API: projects, key sets, config overrides, audit log.

use super::*;

/// `GET /internal/audit-log` (admin): `user_id`, `type` (comma-separated), `since_millis`,
/// `until_millis`, `limit` (at most 1,000; default 100), `cursor` → newest first.
pub(crate) async fn audit_log(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::query(
        &rq.query,
        &[
            "user_id",
            "type",
            "since_millis",
            "until_millis",
            "limit",
            "cursor",
        ],
    );
    let mut q = AuditQuery::default();
    let uuid = |f: &mut Fields, key: &str| {
        f.opt_str(key).and_then(|v| match Uuid::parse_str(&v) {
            Ok(u) => Some(u),
            Err(_) => {
                f.fail(key, "must be a valid UUID");
                None
            }
        })
    };
    q.user_id = uuid(&mut f, "user_id");
    q.before = uuid(&mut f, "cursor");
    q.event_types = f
        .opt_str("type")
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let number = |f: &mut Fields, key: &str| {
        f.opt_str(key).and_then(|v| match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                f.fail(key, "must be a non-negative integer");
                None
            }
        })
    };
    q.since_millis = number(&mut f, "since_millis");
    q.until_millis = number(&mut f, "until_millis");
    q.limit = number(&mut f, "limit").map_or(0, |n| n as u64);
    f.finish()?;
    let page = rq.p.audit().list(&auth.project, &q).await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "type": e.event_type,
                "at_millis": e.at_millis,
                "user_id": e.user_id,
                "actor": e.actor,
                "ip": e.ip,
                "details": e.details,
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "items": items, "is_paginated": true, "pagination": { "next_cursor": page.next_cursor } }),
    ))
}

pub(crate) const PATCH_FIELDS: &[&str] = &[
    "display_name",
    "description",
    "is_production_mode",
    "config",
    "logo_url",
    "logo_full_url",
    "logo_dark_mode_url",
    "logo_full_dark_mode_url",
    "onboarding_status",
];

pub(crate) fn read_patch(f: &mut Fields) -> ProjectPatch {
    let display_name = f.opt_str("display_name");
    let description = f.nullable_str("description");
    let is_production_mode = f.opt_bool("is_production_mode");
    let legacy_config = match f.opt_json("config") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            f.fail("config", "must be a `object` type");
            None
        }
    };
    for k in [
        "logo_url",
        "logo_full_url",
        "logo_dark_mode_url",
        "logo_full_dark_mode_url",
        "onboarding_status",
    ] {
        f.nullable_str(k);
    }
    ProjectPatch {
        display_name,
        description,
        is_production_mode,
        legacy_config,
    }
}

pub(crate) async fn create_project(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let user = auth
        .user
        .as_ref()
        .ok_or(Error::UserAuthenticationRequired)?;
    if auth.project.id != INTERNAL_PROJECT_ID {
        return Err(Error::ExpectedInternalProject);
    }
    let mut allowed = PATCH_FIELDS.to_vec();
    allowed.push("owner_team_id");
    let mut f = Fields::body(&rq.body, &allowed);
    let display = f.req_str("display_name");
    let owner = f.req_str("owner_team_id");
    let owner = owner.and_then(|o| match Uuid::parse_str(&o) {
        Ok(u) => Some(u),
        Err(_) => {
            f.fail("owner_team_id", "must be a valid UUID");
            None
        }
    });
    let mut patch = read_patch(&mut f);
    f.finish()?;
    patch.display_name = display;
    let project =
        rq.p.admin()
            .create_project(user.id, owner.unwrap_or_default(), patch)
            .await?;
    Ok(json(StatusCode::CREATED, &admin_project_json(&project)))
}

pub(crate) async fn list_projects(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let user = auth
        .user
        .as_ref()
        .ok_or(Error::UserAuthenticationRequired)?;
    if auth.project.id != INTERNAL_PROJECT_ID {
        return Err(Error::ExpectedInternalProject);
    }
    Fields::query(&rq.query, &[]).finish()?;
    let items: Vec<Value> =
        rq.p.admin()
            .owned_projects(user.id)
            .await?
            .iter()
            .map(admin_project_json)
            .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "items": items, "is_paginated": false }),
    ))
}

pub(crate) async fn current_project(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    Fields::query(&rq.query, &[]).finish()?;
    Ok(json(StatusCode::OK, &admin_project_json(&auth.project)))
}

pub(crate) async fn patch_current_project(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(&rq.body, PATCH_FIELDS);
    let patch = read_patch(&mut f);
    f.finish()?;
    let project = rq.p.admin().update_project(&auth.project, patch).await?;
    Ok(json(StatusCode::OK, &admin_project_json(&project)))
}

pub(crate) fn key_set_json(s: &ApiKeySetRecord, full: &[(&str, Option<&String>)]) -> Value {
    let mut v = json!({
        "id": s.id,
        "description": s.description,
        "created_at_millis": s.created_at_millis,
        "expires_at_millis": s.expires_at_millis,
    });
    if let Some(r) = s.revoked_at_millis {
        v["manually_revoked_at_millis"] = json!(r);
    }
    for (name, value) in full {
        if let Some(k) = value {
            v[*name] = json!(k);
        }
    }
    v
}

/// The stored view: only the last four characters, which Postern does not keep; an empty
/// string stands in (the keys exist only as hashes).
pub(crate) fn obfuscated(s: &ApiKeySetRecord) -> Value {
    let mut v = key_set_json(s, &[]);
    for (name, present) in [
        (
            "publishable_client_key",
            s.publishable_client_key_hash.is_some(),
        ),
        ("secret_server_key", s.secret_server_key_hash.is_some()),
        (
            "super_secret_admin_key",
            s.super_secret_admin_key_hash.is_some(),
        ),
    ] {
        if present {
            v[name] = json!({ "last_four": "" });
        }
    }
    v
}

pub(crate) async fn create_key_set(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(
        &rq.body,
        &[
            "description",
            "expires_at_millis",
            "has_publishable_client_key",
            "has_secret_server_key",
            "has_super_secret_admin_key",
        ],
    );
    let description = f.req_str("description");
    let expires = f.opt_number("expires_at_millis");
    let mut flag = |k: &str| {
        let v = f.opt_bool(k);
        if v.is_none() && f.opt_str_raw(k).is_none() {
            f.fail(k, "must be defined");
        }
        v.unwrap_or(false)
    };
    let kinds = (
        flag("has_publishable_client_key"),
        flag("has_secret_server_key"),
        flag("has_super_secret_admin_key"),
    );
    f.finish()?;
    let set =
        rq.p.admin()
            .create_key_set(
                &auth.project,
                &description.unwrap_or_default(),
                expires.map(|e| e as i64),
                kinds,
            )
            .await?;
    Ok(json(
        StatusCode::OK,
        &key_set_json(
            &set.record,
            &[
                (
                    "publishable_client_key",
                    set.publishable_client_key.as_ref(),
                ),
                ("secret_server_key", set.secret_server_key.as_ref()),
                (
                    "super_secret_admin_key",
                    set.super_secret_admin_key.as_ref(),
                ),
            ],
        ),
    ))
}

pub(crate) async fn list_key_sets(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    Fields::query(&rq.query, &[]).finish()?;
    let items: Vec<Value> =
        rq.p.admin()
            .key_sets(&auth.project)
            .await?
            .iter()
            .map(obfuscated)
            .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "items": items, "is_paginated": false }),
    ))
}

pub(crate) fn key_set_id(rq: &Rq<'_>) -> Result<Uuid> {
    Uuid::parse_str(rq.param("api_key_id")).map_err(|_| Error::ApiKeyNotFound)
}

pub(crate) async fn get_key_set(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let id = key_set_id(&rq)?;
    let set =
        rq.p.admin()
            .key_sets(&auth.project)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(Error::ApiKeyNotFound)?;
    Ok(json(StatusCode::OK, &obfuscated(&set)))
}

pub(crate) async fn patch_key_set(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(&rq.body, &["description", "revoked"]);
    let description = f.opt_str("description");
    let revoked = f.opt_bool("revoked");
    if revoked == Some(false) {
        f.fail("revoked", "must be one of the following values: true");
    }
    f.finish()?;
    let id = key_set_id(&rq)?;
    let set =
        rq.p.admin()
            .update_key_set(&auth.project, id, description, revoked == Some(true))
            .await?;
    Ok(json(StatusCode::OK, &obfuscated(&set)))
}

/// The project's config as every read shows it: third-party secrets redacted.
pub(crate) fn config_string(auth: &super::Auth) -> Value {
    let mut config = auth.project.config.to_json();
    crate::config_secrets::redact(&mut config);
    json!({ "config_string": config.to_string() })
}

pub(crate) async fn get_config(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    Fields::query(&rq.query, &[]).finish()?;
    Ok(json(StatusCode::OK, &config_string(auth)))
}

pub(crate) fn level(rq: &Rq<'_>) -> Result<&'static str> {
    match rq.param("level") {
        "project" => Ok("project"),
        "branch" => Ok("branch"),
        "environment" => Ok("environment"),
        _ => Err(Error::schema(
            "params.level must be one of the following values: project, branch, environment",
        )),
    }
}

pub(crate) async fn get_override(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    level(&rq)?;
    Ok(json(StatusCode::OK, &config_string(auth)))
}

pub(crate) async fn patch_override(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let level = level(&rq)?;
    if auth.access_type == AccessType::Server && level != "branch" {
        return Err(Error::status(
            StatusCode::FORBIDDEN,
            "Server access can only manage branch config overrides.",
        ));
    }
    let mut f = Fields::body(&rq.body, &["config_override_string"]);
    let text = f.req_str("config_override_string");
    f.finish()?;
    let over: Map<String, Value> = match serde_json::from_str(&text.unwrap_or_default()) {
        Ok(Value::Object(m)) => m,
        _ => return Err(Error::bad_request("Invalid config JSON")),
    };
    if auth.access_type == AccessType::Server
        && let Some(key) = crate::admin::admin_only_key(&over)
    {
        return Err(Error::status(
            StatusCode::FORBIDDEN,
            format!(
                "Server access cannot change {key}: trusted domains, email, OAuth and security settings need admin access."
            ),
        ));
    }
    rq.p.admin().override_config(&auth.project, &over).await?;
    Ok(success())
}
