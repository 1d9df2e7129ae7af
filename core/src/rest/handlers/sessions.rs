//! Sessions: list, create, refresh, sign out.

use super::*;

pub(crate) async fn create(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(
        &rq.body,
        &["user_id", "expires_in_millis", "is_impersonation"],
    );
    let user = f.req_str("user_id");
    let expires = f.opt_number("expires_in_millis");
    let imp = f.opt_bool("is_impersonation");
    if let Some(e) = expires
        && e > MAX_SESSION_MILLIS as f64
    {
        f.fail(
            "expires_in_millis",
            &format!("must be less than or equal to {MAX_SESSION_MILLIS}"),
        );
    }
    f.finish()?;
    let user_id = user_id_or_me(&user.unwrap_or_default(), auth.user_id(), "body.user_id")?;
    let pair =
        rq.p.sessions()
            .create(
                &auth.project,
                user_id,
                expires.map(|e| e as i64),
                imp.unwrap_or(false),
            )
            .await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "refresh_token": pair.refresh_token, "access_token": pair.access_token }),
    ))
}

pub(crate) async fn list(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::query(&rq.query, &["user_id"]);
    let raw = f.req_str("user_id");
    f.finish()?;
    let user_id = user_id_or_me(&raw.unwrap_or_default(), auth.user_id(), "query.user_id")?;
    if auth.access_type == AccessType::Client && auth.user_id() != Some(user_id) {
        return Err(Error::status(
            StatusCode::FORBIDDEN,
            "Client can only list sessions for their own user.",
        ));
    }
    let sessions =
        rq.p.sessions()
            .list(
                &auth.project,
                user_id,
                auth.access_type == AccessType::Admin,
            )
            .await?;
    let current = auth.session_id();
    let items: Vec<Value> = sessions.iter().map(|s| session_json(s, current)).collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "items": items, "is_paginated": false }),
    ))
}

pub(crate) async fn delete(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::query(&rq.query, &["user_id"]);
    let raw = f.req_str("user_id");
    let id = Uuid::parse_str(rq.param("id")).ok();
    if id.is_none() {
        f.fail_raw("params.id must be a valid UUID");
    }
    f.finish()?;
    user_id_or_me(&raw.unwrap_or_default(), auth.user_id(), "query.user_id")?;
    let id = id.unwrap_or_default();
    let not_found = || Error::status(StatusCode::NOT_FOUND, "Session not found.");
    let session =
        rq.p.sessions()
            .get(&auth.project, id)
            .await?
            .ok_or_else(not_found)?;
    if auth.access_type == AccessType::Client && auth.user_id() != Some(session.user_id) {
        return Err(not_found());
    }
    if auth.session_id() == Some(id) {
        return Err(Error::CannotDeleteCurrentSession);
    }
    rq.p.sessions().delete(&auth.project, id).await?;
    Ok(success())
}

pub(crate) async fn sign_out(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let Some(session) = auth.session_id() else {
        return Err(Error::AccessTokenExpired {
            expired_at_millis: Some(rq.p.clock().now_millis()),
            project_id: None,
            user_id: None,
            refresh_token_id: None,
        });
    };
    if !rq.p.sessions().delete(&auth.project, session).await? {
        return Err(Error::RefreshTokenNotFoundOrExpired);
    }
    Ok(success())
}

pub(crate) async fn refresh(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let token = stack_header(rq.headers, "refresh-token")
        .ok_or_else(|| Error::schema("headers.x-stack-refresh-token must be defined"))?;
    let access_token = rq.p.sessions().refresh(&auth.project, token).await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "access_token": access_token }),
    ))
}
