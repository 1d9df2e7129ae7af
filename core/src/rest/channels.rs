//! Handlers of contact channels, email verification and password reset.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Rq;
use super::access::Auth;
use super::handlers::{ALL, caller, check_password_field, check_url_field, require};
use super::input::{Fields, user_id_or_me};
use super::response::{json, success};
use super::views::contact_channel_json;
use crate::codes::CODE_LENGTH;
use crate::contact_channels::{ChannelUpdate, NewChannel};
use crate::email::{is_valid_email_lenient, is_valid_email_strict};
use crate::error::{AccessType, Error, Result};
use crate::mfa::SecondFactor;

/// `type` must be `email` and `value` a valid address (create and patch).
fn check_channel_fields(f: &mut Fields, kind: &Option<String>, value: &Option<String>) {
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
fn channel_user(auth: &Auth, raw: &str, path: &str, forbidden: &'static str) -> Result<Uuid> {
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

/// The signed-in anonymous user of a request, whom a sign-up upgrades.
pub(super) fn anonymous_user(auth: &Auth) -> Option<Uuid> {
    auth.user.as_ref().filter(|u| u.is_anonymous).map(|u| u.id)
}

pub(super) async fn anonymous_sign_up(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let s = rq.p.users().sign_up_anonymous(&auth.project).await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "access_token": s.access_token, "refresh_token": s.refresh_token, "user_id": s.user_id }),
    ))
}

fn check_code_field(f: &mut Fields, code: &Option<String>) {
    if let Some(c) = code
        && c.chars().count() != CODE_LENGTH
    {
        f.fail("code", &format!("must be exactly {CODE_LENGTH} characters"));
    }
}

fn path_uuid(rq: &Rq<'_>, name: &str) -> Result<Uuid> {
    Uuid::parse_str(rq.param(name))
        .map_err(|_| Error::schema(format!("params.{name} must be a valid UUID")))
}

pub(super) async fn list(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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

pub(super) async fn create(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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

pub(super) async fn get(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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

pub(super) async fn patch(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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

pub(super) async fn delete(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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

pub(super) async fn send_code(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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
pub(super) async fn legacy_send_code(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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

pub(super) fn code_body(rq: &Rq<'_>, extra: &[&str]) -> Result<(Option<String>, Fields)> {
    let mut allowed = vec!["code"];
    allowed.extend_from_slice(extra);
    let mut f = Fields::body(&rq.body, &allowed);
    let code = f.req_str("code");
    check_code_field(&mut f, &code);
    Ok((code, f))
}

pub(super) async fn verify(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let (code, f) = code_body(&rq, &[])?;
    f.finish()?;
    rq.p.contact_channels()
        .verify_as(&auth.project, &code.unwrap_or_default(), auth.user_id())
        .await?;
    Ok(success())
}

pub(super) async fn verify_check(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let (code, f) = code_body(&rq, &[])?;
    f.finish()?;
    rq.p.contact_channels()
        .check_code(&auth.project, &code.unwrap_or_default())
        .await?;
    Ok(code_valid())
}

fn code_valid() -> Response<Bytes> {
    json(StatusCode::OK, &json!({ "is_code_valid": true }))
}

pub(super) async fn send_reset_code(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::body(&rq.body, &["email", "callback_url"]);
    let email = f.req_str("email");
    let callback = f.req_str("callback_url");
    if let Some(e) = &email
        && !is_valid_email_lenient(e)
    {
        f.fail("email", "must be a valid email");
    }
    check_url_field(&mut f, "callback_url", &callback);
    f.finish()?;
    rq.p.users()
        .send_password_reset_code(
            &auth.project,
            &email.unwrap_or_default(),
            &callback.unwrap_or_default(),
        )
        .await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "success": "maybe, only if user with e-mail exists" }),
    ))
}

pub(super) async fn reset(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let (code, mut f) = code_body(&rq, &["password"])?;
    let password = f.req_str("password");
    check_password_field(&mut f, "password", &password);
    f.finish()?;
    rq.p.users()
        .reset_password(
            &auth.project,
            &code.unwrap_or_default(),
            &password.unwrap_or_default(),
        )
        .await?;
    Ok(success())
}

pub(super) async fn reset_check(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let (code, f) = code_body(&rq, &[])?;
    f.finish()?;
    rq.p.users()
        .check_password_reset_code(&auth.project, &code.unwrap_or_default())
        .await?;
    Ok(code_valid())
}

pub(super) async fn otp_send(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::body(
        &rq.body,
        &[
            "email",
            "callback_url",
            "bot_challenge_token",
            "bot_challenge_phase",
            "bot_challenge_unavailable",
        ],
    );
    let email = f.req_str("email");
    let callback = f.req_str("callback_url");
    f.opt_str("bot_challenge_token");
    f.opt_str("bot_challenge_phase");
    f.opt_str("bot_challenge_unavailable");
    if let Some(e) = &email
        && !is_valid_email_strict(e)
    {
        f.fail("email", "must be a valid email");
    }
    check_url_field(&mut f, "callback_url", &callback);
    f.finish()?;
    let nonce =
        rq.p.otp()
            .send_sign_in_code(
                &auth.project,
                &email.unwrap_or_default(),
                &callback.unwrap_or_default(),
                anonymous_user(auth),
            )
            .await?;
    Ok(json(StatusCode::OK, &json!({ "nonce": nonce })))
}

pub(super) async fn otp_sign_in(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let (code, f) = code_body(&rq, &[])?;
    f.finish()?;
    let s =
        rq.p.otp()
            .sign_in(
                &auth.project,
                &code.unwrap_or_default(),
                anonymous_user(auth),
            )
            .await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "refresh_token": s.signed_in.refresh_token,
            "access_token": s.signed_in.access_token,
            "is_new_user": s.is_new_user,
            "user_id": s.signed_in.user_id,
        }),
    ))
}

pub(super) async fn otp_check(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let (code, f) = code_body(&rq, &[])?;
    f.finish()?;
    rq.p.otp()
        .check_code(&auth.project, &code.unwrap_or_default())
        .await?;
    Ok(code_valid())
}

/// `POST /auth/mfa/sign-in`: `type: "totp"` with `totp` (a recovery code typed there works
/// too), or (a Postern extension) `type: "recovery_code"` with `recovery_code`.
pub(super) async fn mfa_sign_in(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let (code, mut f) = code_body(&rq, &["type", "totp", "recovery_code"])?;
    let kind = f.req_str("type");
    let factor = if kind.as_deref() == Some("recovery_code") {
        f.req_str("recovery_code").map(SecondFactor::RecoveryCode)
    } else {
        f.opt_str("recovery_code");
        let totp = f.req_str("totp");
        if let Some(k) = &kind
            && k != "totp"
        {
            f.fail("type", "must be one of the following values: totp");
        }
        totp.map(|t| SecondFactor::guess(&t))
    };
    f.finish()?;
    let factor = factor.ok_or_else(|| Error::schema("body.totp must be defined"))?;
    let s =
        rq.p.mfa()
            .sign_in(&auth.project, &code.unwrap_or_default(), &factor)
            .await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "refresh_token": s.signed_in.refresh_token,
            "access_token": s.signed_in.access_token,
            "is_new_user": s.is_new_user,
            "user_id": s.signed_in.user_id,
        }),
    ))
}
