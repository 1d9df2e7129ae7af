//! User and team API keys, key checks, and credential-scanning revocation.

use super::*;

// ----- user API keys -----
pub(crate) fn user_keys_enabled(auth: &Auth) -> Result<()> {
    if auth.project.config.api_keys.enabled.user {
        Ok(())
    } else {
        Err(Error::bad_request(
            "User API keys are not enabled for this project.",
        ))
    }
}

/// `expires_at_millis` of a key create body: required, a number or null.
pub(crate) fn key_expiry(f: &mut Fields) -> Option<i64> {
    match f.opt_json("expires_at_millis") {
        None => {
            f.fail("expires_at_millis", "must be defined");
            None
        }
        Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64().map(|v| v as i64),
        Some(_) => {
            f.fail("expires_at_millis", "must be a `number` type");
            None
        }
    }
}

/// A key patch body: description, `revoked: true` only, and expiry (null clears).
pub(crate) fn key_patch(rq: &Rq<'_>) -> Result<(Option<String>, bool, Option<Option<i64>>)> {
    let mut f = Fields::body(&rq.body, &["description", "revoked", "expires_at_millis"]);
    let description = f.opt_str("description");
    let revoked = f.opt_bool("revoked");
    if revoked == Some(false) {
        f.fail("revoked", "must be one of the following values: true");
    }
    let expires = match f.opt_json("expires_at_millis") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::Number(n)) => Some(n.as_f64().map(|v| v as i64)),
        Some(_) => {
            f.fail("expires_at_millis", "must be a `number` type");
            None
        }
    };
    f.finish()?;
    Ok((description, revoked == Some(true), expires))
}

/// Client rules on a key's owner: a signed-in user, and only their own keys.
pub(crate) fn client_may_manage(auth: &Auth, owner: Uuid) -> Result<()> {
    if auth.access_type != AccessType::Client {
        return Ok(());
    }
    match auth.user_id() {
        None => Err(Error::UserAuthenticationRequired),
        Some(me) if me == owner => Ok(()),
        Some(_) => Err(Error::status(
            StatusCode::FORBIDDEN,
            "Client can only manage their own api keys",
        )),
    }
}

/// Reads `user_id` (uuid or `me`) for create and list; absent is Stack's schema failure.
pub(crate) fn key_owner(f: &mut Fields, auth: &Auth, prefix: &str) -> Result<Option<Uuid>> {
    match f.opt_str("user_id") {
        None => Err(Error::SchemaMessage(
            "user_id is required for user API keys".into(),
        )),
        Some(raw) => {
            if raw == "me"
                || raw == crate::rest::input::ME_SENTINEL
                || Uuid::parse_str(&raw).is_ok()
            {
                Ok(Some(
                    user_id_or_me(&raw, auth.user_id(), &format!("{prefix}.user_id")).map_err(
                        |e| match e {
                            Error::CannotGetOwnUserWithoutUser
                                if auth.access_type == AccessType::Client =>
                            {
                                Error::UserAuthenticationRequired
                            }
                            e => e,
                        },
                    )?,
                ))
            } else {
                f.fail("user_id", "must be a valid UUID");
                Ok(None)
            }
        }
    }
}

pub(crate) async fn create_user_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(
        &rq.body,
        &["description", "expires_at_millis", "is_public", "user_id"],
    );
    let description = f.req_str("description");
    let expires = key_expiry(&mut f);
    let is_public = f.opt_bool("is_public").unwrap_or(false);
    let owner = key_owner(&mut f, auth, "body")?;
    f.finish()?;
    user_keys_enabled(auth)?;
    let owner = owner.unwrap_or_default();
    client_may_manage(auth, owner)?;
    let created =
        rq.p.api_keys()
            .create(
                &auth.project,
                ApiKeyOwner::User(owner),
                &description.unwrap_or_default(),
                expires,
                is_public,
            )
            .await?;
    Ok(json(
        StatusCode::OK,
        &api_key_json(&created.record, Some(&created.value)),
    ))
}

pub(crate) async fn list_user_keys(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::query(&rq.query, &["user_id"]);
    let owner = key_owner(&mut f, auth, "query")?;
    f.finish()?;
    user_keys_enabled(auth)?;
    let owner = owner.unwrap_or_default();
    client_may_manage(auth, owner)?;
    let keys = rq.p.api_keys().list_for_user(&auth.project, owner).await?;
    let items: Vec<Value> = keys.iter().map(|k| api_key_json(k, None)).collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "items": items, "is_paginated": false }),
    ))
}

/// The user key with the path's id, visible to this caller.
pub(crate) async fn user_key_in_path(
    rq: &Rq<'_>,
    auth: &Auth,
) -> Result<crate::storage::ApiKeyRecord> {
    let id = Uuid::parse_str(rq.param("api_key_id"))
        .map_err(|_| Error::schema("params.api_key_id must be a valid UUID"))?;
    user_keys_enabled(auth)?;
    let key =
        rq.p.api_keys()
            .get(&auth.project, id)
            .await?
            .ok_or(Error::ApiKeyNotFound)?;
    let ApiKeyOwner::User(owner) = key.owner else {
        return Err(Error::ApiKeyNotFound);
    };
    client_may_manage(auth, owner)?;
    Ok(key)
}

pub(crate) async fn get_user_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::query(&rq.query, &["user_id"]);
    f.opt_str("user_id");
    f.finish()?;
    let key = user_key_in_path(&rq, auth).await?;
    Ok(json(StatusCode::OK, &api_key_json(&key, None)))
}

pub(crate) async fn patch_user_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut q = Fields::query(&rq.query, &["user_id"]);
    q.opt_str("user_id");
    q.finish()?;
    let (description, revoked, expires) = key_patch(&rq)?;
    let key = user_key_in_path(&rq, auth).await?;
    let updated =
        rq.p.api_keys()
            .update(&auth.project, key.id, description, expires, revoked)
            .await?;
    Ok(json(StatusCode::OK, &api_key_json(&updated, None)))
}

pub(crate) async fn check_user_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(&rq.body, &["api_key"]);
    let key = f.req_str("api_key");
    f.finish()?;
    user_keys_enabled(auth)?;
    let record =
        rq.p.api_keys()
            .check(
                &auth.project,
                &key.unwrap_or_default(),
                crate::api_keys::KeyType::User,
            )
            .await?;
    Ok(json(StatusCode::OK, &api_key_json(&record, None)))
}

pub(crate) async fn credential_scanning_revoke(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let mut f = Fields::body(&rq.body, &["api_key"]);
    let key = f.req_str("api_key");
    f.finish()?;
    rq.p.api_keys()
        .revoke_leaked(&key.unwrap_or_default())
        .await?;
    Ok(success())
}

pub(crate) fn team_keys_enabled(auth: &Auth) -> Result<()> {
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
pub(crate) async fn may_manage_team_keys(rq: &Rq<'_>, auth: &Auth, team: Uuid) -> Result<()> {
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

pub(crate) fn team_param(f: &mut Fields, required: bool) -> Option<Uuid> {
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

pub(crate) async fn create_team_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(
        &rq.body,
        &["description", "expires_at_millis", "is_public", "team_id"],
    );
    let description = f.req_str("description");
    let expires = key_expiry(&mut f);
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
        &crate::rest::views::api_key_json(&created.record, Some(&created.value)),
    ))
}

pub(crate) async fn list_team_keys(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::query(&rq.query, &["team_id"]);
    let team = team_param(&mut f, true);
    f.finish()?;
    team_keys_enabled(auth)?;
    let team = team.unwrap_or_default();
    may_manage_team_keys(&rq, auth, team).await?;
    let keys = rq.p.api_keys().list_for_team(&auth.project, team).await?;
    Ok(items(
        keys.iter()
            .map(|k| crate::rest::views::api_key_json(k, None))
            .collect(),
    ))
}

pub(crate) async fn team_key_in_path(
    rq: &Rq<'_>,
    auth: &Auth,
) -> Result<crate::storage::ApiKeyRecord> {
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

pub(crate) async fn get_team_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::query(&rq.query, &["team_id"]);
    team_param(&mut f, false);
    f.finish()?;
    let key = team_key_in_path(&rq, auth).await?;
    Ok(json(
        StatusCode::OK,
        &crate::rest::views::api_key_json(&key, None),
    ))
}

pub(crate) async fn patch_team_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut q = Fields::query(&rq.query, &["team_id"]);
    team_param(&mut q, false);
    q.finish()?;
    let (description, revoked, expires) = key_patch(&rq)?;
    let key = team_key_in_path(&rq, auth).await?;
    let updated =
        rq.p.api_keys()
            .update(&auth.project, key.id, description, expires, revoked)
            .await?;
    Ok(json(
        StatusCode::OK,
        &crate::rest::views::api_key_json(&updated, None),
    ))
}

pub(crate) async fn check_team_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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
        &crate::rest::views::api_key_json(&record, None),
    ))
}
