//! Handlers of Postern's security extensions: step-up, TOTP recovery codes, confirming an
//! address for sign-in, and the audit log.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Rq;
use super::access::Auth;
use super::handlers::{ALL, caller, check_url_field, require};
use super::input::{Fields, user_id_or_me};
use super::response::{json, success};
use super::views::contact_channel_json;
use crate::error::{AccessType, Error, Result};
use crate::step_up::Proof;
use crate::storage::AuditQuery;

const ADMIN: &[AccessType] = &[AccessType::Admin];

fn signed_in(auth: &Auth) -> Result<Uuid> {
    auth.user_id().ok_or(Error::UserAuthenticationRequired)
}

/// `POST /auth/step-up/send-code` `{callback_url?}` → `{nonce}`.
pub(super) async fn send_code(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::body(&rq.body, &["callback_url"]);
    let callback = f.opt_str("callback_url");
    check_url_field(&mut f, "callback_url", &callback);
    f.finish()?;
    let user = signed_in(auth)?;
    let nonce =
        rq.p.step_up()
            .send_code(&auth.project, user, callback.as_deref())
            .await?;
    Ok(json(StatusCode::OK, &json!({ "nonce": nonce })))
}

/// `POST /auth/step-up` with exactly one of `password`, `totp`, `code` →
/// `{step_up_token, method, expires_at_millis}`.
pub(super) async fn prove(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::body(&rq.body, &["password", "totp", "code"]);
    let given = [
        f.opt_str("password").map(Proof::Password),
        f.opt_str("totp").map(Proof::Totp),
        f.opt_str("code").map(Proof::EmailCode),
    ];
    let mut given: Vec<Proof> = given.into_iter().flatten().collect();
    if given.len() != 1 {
        f.fail_raw("body must have exactly one of password, totp, code");
    }
    f.finish()?;
    let user = signed_in(auth)?;
    let proof = given.pop().ok_or(Error::UserAuthenticationRequired)?;
    let grant =
        rq.p.step_up()
            .prove(&auth.project, user, auth.session_id(), &proof)
            .await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "step_up_token": grant.token,
            "method": grant.method.as_str(),
            "expires_at_millis": grant.expires_at_millis,
        }),
    ))
}

/// `GET /auth/mfa/recovery-codes` → `{remaining}`; `POST` → `{recovery_codes}` (shown
/// once; a client needs a step-up token proven with a TOTP or an email code).
pub(super) async fn recovery_codes(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let user = signed_in(auth)?;
    if rq.method == http::Method::GET {
        Fields::query(&rq.query, &[]).finish()?;
        let remaining =
            rq.p.mfa()
                .recovery_codes_remaining(&auth.project, user)
                .await?;
        return Ok(json(StatusCode::OK, &json!({ "remaining": remaining })));
    }
    Fields::body(&rq.body, &[]).finish()?;
    let codes =
        rq.p.mfa()
            .generate_recovery_codes_as(&auth.project, user, caller(&rq, auth))
            .await?;
    Ok(json(StatusCode::OK, &json!({ "recovery_codes": codes })))
}

fn channel_path(rq: &Rq<'_>, auth: &Auth) -> Result<(Uuid, Uuid)> {
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
pub(super) async fn confirm_auth(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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
pub(super) async fn send_auth_confirmation(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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
pub(super) async fn confirm_auth_by_code(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let (code, f) = super::channels::code_body(&rq, &[])?;
    f.finish()?;
    rq.p.contact_channels()
        .confirm_auth_by_code(&auth.project, &code.unwrap_or_default())
        .await?;
    Ok(success())
}

/// `GET /internal/audit-log` (admin): `user_id`, `type` (comma-separated), `since_millis`,
/// `until_millis`, `limit` (at most 1,000; default 100), `cursor` → newest first.
pub(super) async fn audit_log(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ADMIN)?;
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
