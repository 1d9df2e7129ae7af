//! Sign-up and sign-in: password, one-time codes, MFA, anonymous users, password reset, and the OAuth token endpoint.

use super::*;

pub(crate) async fn sign_up(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(
        &rq.body,
        &[
            "email",
            "password",
            "verification_callback_url",
            "bot_challenge_token",
            "bot_challenge_phase",
            "bot_challenge_unavailable",
        ],
    );
    let email = f.req_str("email");
    let password = f.req_str("password");
    let callback = f.opt_str("verification_callback_url");
    f.opt_str("bot_challenge_token");
    f.opt_str("bot_challenge_phase");
    f.opt_str("bot_challenge_unavailable");
    if let Some(e) = &email
        && !is_valid_email_strict(e)
    {
        f.fail("email", "must be a valid email");
    }
    check_password_field(&mut f, "password", &password);
    check_url_field(&mut f, "verification_callback_url", &callback);
    f.finish()?;
    let (email, password) = (email.unwrap_or_default(), password.unwrap_or_default());
    let s =
        rq.p.users()
            .sign_up_with_password_as(
                &auth.project,
                &email,
                &password,
                callback.as_deref(),
                anonymous_user(auth),
            )
            .await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "access_token": s.access_token, "refresh_token": s.refresh_token, "user_id": s.user_id }),
    ))
}

pub(crate) async fn sign_in(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(&rq.body, &["email", "password"]);
    let email = f.req_str("email");
    let password = f.req_str("password");
    if let Some(e) = &email {
        if e.is_empty() {
            f.fail("email", "must not be empty");
        } else if !is_valid_email_lenient(e) {
            f.fail("email", "must be a valid email");
        }
    }
    check_password_field(&mut f, "password", &password);
    f.finish()?;
    let s =
        rq.p.users()
            .sign_in_with_password(
                &auth.project,
                &email.unwrap_or_default(),
                &password.unwrap_or_default(),
            )
            .await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "access_token": s.access_token, "refresh_token": s.refresh_token, "user_id": s.user_id }),
    ))
}

pub(crate) async fn password_update(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(&rq.body, &["old_password", "new_password"]);
    let old = f.req_str("old_password");
    let new = f.req_str("new_password");
    check_password_field(&mut f, "old_password", &old);
    check_password_field(&mut f, "new_password", &new);
    let user = auth.user_id();
    if user.is_none() {
        f.fail_raw("auth.user must be defined");
    }
    f.finish()?;
    let keep = stack_header(rq.headers, "refresh-token");
    rq.p.users()
        .update_password(
            &auth.project,
            user.unwrap_or_default(),
            &old.unwrap_or_default(),
            &new.unwrap_or_default(),
            keep,
        )
        .await?;
    Ok(success())
}

pub(crate) async fn password_set(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(&rq.body, &["password"]);
    let pw = f.req_str("password");
    check_password_field(&mut f, "password", &pw);
    if auth.user.is_none() {
        f.fail_raw("auth.user must be defined");
    }
    f.finish()?;
    let user = schema_user(auth)?;
    rq.p.users()
        .set_password_as(
            &auth.project,
            user,
            &pw.unwrap_or_default(),
            caller(&rq, auth),
        )
        .await?;
    Ok(success())
}

/// OAuth 2 token endpoint, refresh grant only (what the official SDK uses to refresh).
pub(crate) async fn oauth_token(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let form = match &rq.body {
        crate::rest::input::Body::Form(m) | crate::rest::input::Body::Json(Value::Object(m)) => {
            m.clone()
        }
        _ => serde_json::Map::new(),
    };
    let field = |k: &str| form.get(k).and_then(Value::as_str).map(str::to_owned);
    let (mut client_id, mut client_secret) = (field("client_id"), field("client_secret"));
    if let Some((id, secret)) = basic_credentials(rq.headers) {
        client_id = client_id.or(Some(id));
        client_secret = client_secret.or(Some(secret));
    }
    if field("grant_type").as_deref() != Some("refresh_token") {
        let mut r = json(
            StatusCode::BAD_REQUEST,
            &json!({ "error": "unsupported_grant_type", "error_description": "Only the refresh_token grant is supported." }),
        );
        r.headers_mut()
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        return Ok(r);
    }
    let client_id = client_id.unwrap_or_default();
    let project_id = client_id.split('#').next().unwrap_or_default();
    let project =
        rq.p.projects()
            .get(project_id)
            .await?
            .ok_or(Error::InvalidOauthClientIdOrSecret(None))?;
    let required = project.config.project.require_publishable_client_key;
    match client_secret.as_deref().filter(|s| !s.is_empty()) {
        None | Some(PUBLIC_CLIENT_SENTINEL) if required => {
            return Err(Error::PublishableClientKeyRequiredForProject(Some(
                project.id.clone(),
            )));
        }
        None | Some(PUBLIC_CLIENT_SENTINEL) => {}
        Some(key) => {
            if !rq
                .p
                .projects()
                .check_key(&project.id, KeyKind::PublishableClient, key)
                .await?
            {
                return Err(Error::InvalidOauthClientIdOrSecret(None));
            }
        }
    }
    let token = field("refresh_token").ok_or(Error::RefreshTokenNotFoundOrExpired)?;
    let access_token = rq.p.sessions().refresh(&project, &token).await?;
    let mut r = json(
        StatusCode::OK,
        &json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": rq.p.inner.access_token_lifetime_secs,
            "scope": "legacy",
        }),
    );
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(r)
}

pub(crate) fn basic_credentials(headers: &http::HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    let dec = |x: &str| {
        url::form_urlencoded::parse(format!("v={x}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((dec(id)?, dec(secret)?))
}

pub(crate) async fn anonymous_sign_up(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let s = rq.p.users().sign_up_anonymous(&auth.project).await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "access_token": s.access_token, "refresh_token": s.refresh_token, "user_id": s.user_id }),
    ))
}

pub(crate) async fn send_reset_code(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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

pub(crate) async fn reset(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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

pub(crate) async fn reset_check(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let (code, f) = code_body(&rq, &[])?;
    f.finish()?;
    rq.p.users()
        .check_password_reset_code(&auth.project, &code.unwrap_or_default())
        .await?;
    Ok(code_valid())
}

pub(crate) async fn otp_send(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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

pub(crate) async fn otp_sign_in(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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

pub(crate) async fn otp_check(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let (code, f) = code_body(&rq, &[])?;
    f.finish()?;
    rq.p.otp()
        .check_code(&auth.project, &code.unwrap_or_default())
        .await?;
    Ok(code_valid())
}

/// `POST /auth/mfa/sign-in`: `type: "totp"` with `totp` (a recovery code typed there works
/// too), or (a Postern extension) `type: "recovery_code"` with `recovery_code`.
pub(crate) async fn mfa_sign_in(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
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
