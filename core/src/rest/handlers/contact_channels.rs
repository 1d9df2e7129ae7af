//! Contact channels: list, create, update, verify, and sign-in confirmation.

use super::*;

/// `type` must be `email` and `value` a valid address (create and patch).
pub(crate) fn check_channel_fields(f: &mut Fields, kind: &Option<String>, value: &Option<String>) {
    if let Some(k) = kind
        && k != "email"
    {
        f.fail("type", "must be one of the following values: email");
    }
    if let Some(v) = value
        && !is_valid_email_lenient(v.trim())
    {
        f.fail("value", "must be a valid email");
    }
}

/// The user a contact-channel request acts on: clients need a signed-in user and may only
/// act on themselves (`forbidden` otherwise).
pub(crate) fn channel_user(
    auth: &Auth,
    raw: &str,
    path: &str,
    forbidden: &'static str,
) -> Result<Uuid> {
    let client = auth.access_type == AccessType::Client;
    if client && auth.user.is_none() {
        return Err(Error::CannotGetOwnUserWithoutUser);
    }
    let user = user_id_or_me(raw, auth.user_id(), path)?;
    if client && auth.user_id() != Some(user) {
        return Err(Error::status(StatusCode::FORBIDDEN, forbidden));
    }
    Ok(user)
}

pub(crate) async fn list(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::query(&rq.query, &["user_id", "contact_channel_id"]);
    let raw = f.opt_str("user_id");
    let channel_id = f.opt_str("contact_channel_id");
    f.finish()?;
    let channel_id = channel_id
        .map(|c| {
            Uuid::parse_str(&c)
                .map_err(|_| Error::schema("query.contact_channel_id must be a valid UUID"))
        })
        .transpose()?;
    let user = match (&raw, auth.access_type) {
        (None, AccessType::Client) => {
            if auth.user.is_none() {
                return Err(Error::CannotGetOwnUserWithoutUser);
            }
            return Err(Error::status(
                StatusCode::FORBIDDEN,
                "Client can only list contact channels for their own user.",
            ));
        }
        (None, _) => None,
        (Some(raw), _) => Some(channel_user(
            auth,
            raw,
            "query.user_id",
            "Client can only list contact channels for their own user.",
        )?),
    };
    let items: Vec<Value> =
        rq.p.contact_channels()
            .list(&auth.project, user)
            .await?
            .iter()
            .filter(|c| channel_id.is_none_or(|id| c.id == id))
            .map(contact_channel_json)
            .collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "items": items, "is_paginated": false }),
    ))
}

pub(crate) async fn create(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let server = auth.access_type != AccessType::Client;
    let mut allowed = vec!["user_id", "value", "type", "used_for_auth", "is_primary"];
    if server {
        allowed.push("is_verified");
    }
    let mut f = Fields::body(&rq.body, &allowed);
    let raw = f.req_str("user_id");
    let value = f.req_str("value");
    let kind = f.req_str("type");
    let used_for_auth = f.opt_bool("used_for_auth");
    if used_for_auth.is_none() && f.opt_str_raw("used_for_auth").is_none() {
        f.fail("used_for_auth", "must be defined");
    }
    let is_primary = f.opt_bool("is_primary");
    let is_verified = if server {
        f.opt_bool("is_verified")
    } else {
        None
    };
    check_channel_fields(&mut f, &kind, &value);
    f.finish()?;
    let user = channel_user(
        auth,
        &raw.unwrap_or_default(),
        "body.user_id",
        "Client can only create contact channels for their own user.",
    )?;
    let channel =
        rq.p.contact_channels()
            .create_as(
                &auth.project,
                user,
                NewChannel {
                    value: value.unwrap_or_default(),
                    used_for_auth: used_for_auth.unwrap_or(false),
                    is_primary: is_primary.unwrap_or(false),
                    is_verified: is_verified.unwrap_or(false),
                },
                caller(&rq, auth),
            )
            .await?;
    Ok(json(StatusCode::CREATED, &contact_channel_json(&channel)))
}

pub(crate) async fn get(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    Fields::query(&rq.query, &[]).finish()?;
    let user = channel_user(
        auth,
        rq.param("user_id"),
        "params.user_id",
        "Client can only read contact channels for their own user.",
    )?;
    let id = path_uuid(&rq, "contact_channel_id")?;
    let channel =
        rq.p.contact_channels()
            .get(&auth.project, user, id)
            .await?
            .ok_or_else(|| Error::status(StatusCode::NOT_FOUND, "Contact channel not found."))?;
    Ok(json(StatusCode::OK, &contact_channel_json(&channel)))
}

pub(crate) async fn patch(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let server = auth.access_type != AccessType::Client;
    let mut allowed = vec!["value", "type", "used_for_auth", "is_primary"];
    if server {
        allowed.push("is_verified");
    }
    let mut f = Fields::body(&rq.body, &allowed);
    let value = f.opt_str("value");
    let kind = f.opt_str("type");
    let used_for_auth = f.opt_bool("used_for_auth");
    let is_primary = f.opt_bool("is_primary");
    let is_verified = if server {
        f.opt_bool("is_verified")
    } else {
        None
    };
    check_channel_fields(&mut f, &kind, &value);
    f.finish()?;
    let user = channel_user(
        auth,
        rq.param("user_id"),
        "params.user_id",
        "Client can only update contact channels for their own user.",
    )?;
    let id = path_uuid(&rq, "contact_channel_id")?;
    let channel =
        rq.p.contact_channels()
            .update_as(
                &auth.project,
                user,
                id,
                ChannelUpdate {
                    value,
                    typed: kind.is_some(),
                    used_for_auth,
                    is_primary,
                    is_verified,
                },
                caller(&rq, auth),
            )
            .await?;
    Ok(json(StatusCode::OK, &contact_channel_json(&channel)))
}

pub(crate) async fn delete(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    Fields::query(&rq.query, &[]).finish()?;
    let user = channel_user(
        auth,
        rq.param("user_id"),
        "params.user_id",
        "Client can only delete contact channels for their own user.",
    )?;
    let id = path_uuid(&rq, "contact_channel_id")?;
    rq.p.contact_channels()
        .delete_as(&auth.project, user, id, caller(&rq, auth))
        .await?;
    Ok(success())
}

pub(crate) async fn send_code(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(&rq.body, &["callback_url"]);
    let callback = f.req_str("callback_url");
    check_url_field(&mut f, "callback_url", &callback);
    f.finish()?;
    let client = auth.access_type == AccessType::Client;
    if client && auth.user.is_none() {
        return Err(Error::CannotGetOwnUserWithoutUser);
    }
    let user = user_id_or_me(rq.param("user_id"), auth.user_id(), "params.user_id")?;
    if client && auth.user_id() != Some(user) {
        return Err(Error::bad_request(
            "Can only send verification code for your own user",
        ));
    }
    let id = path_uuid(&rq, "contact_channel_id")?;
    rq.p.contact_channels()
        .send_verification_code(&auth.project, user, id, &callback.unwrap_or_default())
        .await?;
    Ok(success())
}

/// `POST /contact-channels/send-verification-code` (deprecated; the SDK still calls it).
pub(crate) async fn legacy_send_code(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(&rq.body, &["email", "callback_url"]);
    let email = f.req_str("email");
    let callback = f.req_str("callback_url");
    if let Some(e) = &email
        && !is_valid_email_strict(e)
    {
        f.fail("email", "must be a valid email");
    }
    check_url_field(&mut f, "callback_url", &callback);
    if auth.user.is_none() {
        f.fail_raw("auth.user must be defined");
    }
    f.finish()?;
    let user = auth
        .user
        .as_ref()
        .ok_or(Error::CannotGetOwnUserWithoutUser)?;
    let email = email.unwrap_or_default();
    if user.primary_email.as_deref() != Some(email.as_str()) {
        return Err(Error::EmailIsNotPrimaryEmail {
            email,
            primary_email: user.primary_email.clone(),
        });
    }
    if user.primary_email_verified {
        return Err(Error::EmailAlreadyVerified);
    }
    let channel =
        rq.p.contact_channels()
            .list(&auth.project, Some(user.id))
            .await?
            .into_iter()
            .find(|c| c.is_primary)
            .ok_or_else(|| Error::status(StatusCode::NOT_FOUND, "Contact channel not found"))?;
    rq.p.contact_channels()
        .send_verification_code(
            &auth.project,
            user.id,
            channel.id,
            &callback.unwrap_or_default(),
        )
        .await?;
    Ok(success())
}

pub(crate) async fn verify(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let (code, f) = code_body(&rq, &[])?;
    f.finish()?;
    rq.p.contact_channels()
        .verify_as(&auth.project, &code.unwrap_or_default(), auth.user_id())
        .await?;
    Ok(success())
}

pub(crate) async fn verify_check(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let (code, f) = code_body(&rq, &[])?;
    f.finish()?;
    rq.p.contact_channels()
        .check_code(&auth.project, &code.unwrap_or_default())
        .await?;
    Ok(code_valid())
}

pub(crate) fn channel_path(rq: &Rq<'_>, auth: &Auth) -> Result<(Uuid, Uuid)> {
    if auth.access_type == AccessType::Client && auth.user.is_none() {
        return Err(Error::CannotGetOwnUserWithoutUser);
    }
    let user = user_id_or_me(rq.param("user_id"), auth.user_id(), "params.user_id")?;
    if auth.access_type == AccessType::Client && auth.user_id() != Some(user) {
        return Err(Error::status(
            StatusCode::FORBIDDEN,
            "Client can only manage contact channels for their own user.",
        ));
    }
    let id = Uuid::parse_str(rq.param("contact_channel_id"))
        .map_err(|_| Error::schema("params.contact_channel_id must be a valid UUID"))?;
    Ok((user, id))
}

/// `GET /contact-channels/{user_id}/{id}/confirm-auth` → `{used_for_auth, auth_confirmed}`;
/// `POST` confirms the channel for sign-in (a client with a step-up token) → the channel.
pub(crate) async fn confirm_auth(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let (user, id) = channel_path(&rq, auth)?;
    if rq.method == http::Method::GET {
        let (used, confirmed) =
            rq.p.contact_channels()
                .auth_status(&auth.project, user, id)
                .await?;
        return Ok(json(
            StatusCode::OK,
            &json!({ "used_for_auth": used, "auth_confirmed": confirmed }),
        ));
    }
    Fields::body(&rq.body, &[]).finish()?;
    let channel =
        rq.p.contact_channels()
            .confirm_auth(&auth.project, user, id, caller(&rq, auth))
            .await?;
    Ok(json(StatusCode::OK, &contact_channel_json(&channel)))
}

/// `POST /contact-channels/{user_id}/{id}/send-auth-confirmation` `{callback_url}`.
pub(crate) async fn send_auth_confirmation(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(&rq.body, &["callback_url"]);
    let callback = f.req_str("callback_url");
    check_url_field(&mut f, "callback_url", &callback);
    f.finish()?;
    let (user, id) = channel_path(&rq, auth)?;
    rq.p.contact_channels()
        .send_auth_confirmation(&auth.project, user, id, &callback.unwrap_or_default())
        .await?;
    Ok(success())
}

/// `POST /contact-channels/confirm-auth` `{code}` (the link's code; no session needed).
pub(crate) async fn confirm_auth_by_code(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let (code, f) = code_body(&rq, &[])?;
    f.finish()?;
    rq.p.contact_channels()
        .confirm_auth_by_code(&auth.project, &code.unwrap_or_default())
        .await?;
    Ok(success())
}
