//! Sign-up and sign-in: password, one-time codes, MFA, anonymous users, password reset, and the OAuth token endpoint.

use super::*;
use crate::rest::input::input;

input! {
    /// `POST /auth/password/sign-up`.
    pub(crate) struct SignUp in Body {
        email: String => email_strict,
        password: String => password_len,
        verification_callback_url: Option<String> => url,
        bot_challenge_token: Option<String>,
        bot_challenge_phase: Option<String>,
        bot_challenge_unavailable: Option<String>,
    }
}

pub(crate) async fn sign_up(rq: Rq<'_>, b: SignUp) -> Result<Json<SessionTokensView>> {
    let auth = rq.auth()?;
    let s =
        rq.p.users()
            .sign_up_with_password_as(
                &auth.project,
                &b.email,
                &b.password,
                b.verification_callback_url.as_deref(),
                anonymous_user(auth),
            )
            .await?;
    Ok(Json::ok(SessionTokensView {
        access_token: s.access_token,
        refresh_token: s.refresh_token,
        user_id: s.user_id,
    }))
}

input! {
    /// `POST /auth/password/sign-in`.
    pub(crate) struct SignIn in Body {
        email: String => email_sign_in,
        password: String => password_len,
    }
}

pub(crate) async fn sign_in(rq: Rq<'_>, b: SignIn) -> Result<Json<SessionTokensView>> {
    let auth = rq.auth()?;
    let s =
        rq.p.users()
            .sign_in_with_password(&auth.project, &b.email, &b.password)
            .await?;
    Ok(Json::ok(SessionTokensView {
        access_token: s.access_token,
        refresh_token: s.refresh_token,
        user_id: s.user_id,
    }))
}

input! {
    /// `POST /auth/password/update`.
    pub(crate) struct PasswordUpdate in Body {
        old_password: String => password_len,
        new_password: String => password_len,
    }
    check(_this, f, rq) {
        needs_user(f, rq);
    }
}

pub(crate) async fn password_update(rq: Rq<'_>, b: PasswordUpdate) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let keep = stack_header(rq.headers, "refresh-token");
    rq.p.users()
        .update_password(
            &auth.project,
            schema_user(auth)?,
            &b.old_password,
            &b.new_password,
            keep,
        )
        .await?;
    Ok(Json::ok(SuccessView::TRUE))
}

input! {
    /// `POST /auth/password/set`.
    pub(crate) struct PasswordSet in Body {
        password: String => password_len,
    }
    check(_this, f, rq) {
        needs_user(f, rq);
    }
}

pub(crate) async fn password_set(rq: Rq<'_>, b: PasswordSet) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let user = schema_user(auth)?;
    rq.p.users()
        .set_password_as(&auth.project, user, &b.password, caller(&rq, auth))
        .await?;
    Ok(Json::ok(SuccessView::TRUE))
}

/// OAuth 2 token endpoint: the `authorization_code` grant (an OAuth sign-in's last step)
/// and the `refresh_token` grant (what the official SDK uses to refresh).
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
    let grant_type = field("grant_type");
    if !matches!(
        grant_type.as_deref(),
        Some("refresh_token" | "authorization_code")
    ) {
        return Err(Error::schema(
            "body.grant_type must be one of the following values: authorization_code, refresh_token",
        ));
    }
    let printable = |s: &Option<String>| {
        s.as_deref()
            .is_none_or(|s| s.bytes().all(|b| (0x20..0x7f).contains(&b)))
    };
    if !printable(&client_id) {
        return Ok(super::oauth::invalid_request(
            "Invalid parameter: `client_id`",
        ));
    }
    if !printable(&client_secret) {
        return Ok(super::oauth::invalid_request(
            "Invalid parameter: `client_secret`",
        ));
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
    if grant_type.as_deref() == Some("authorization_code") {
        return super::oauth::code_grant(&rq, &project, field).await;
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

pub(crate) async fn anonymous_sign_up(rq: Rq<'_>) -> Result<Json<SessionTokensView>> {
    let auth = rq.auth()?;
    let s = rq.p.users().sign_up_anonymous(&auth.project).await?;
    Ok(Json::ok(SessionTokensView {
        access_token: s.access_token,
        refresh_token: s.refresh_token,
        user_id: s.user_id,
    }))
}

input! {
    /// `POST /auth/password/send-reset-code`.
    pub(crate) struct SendResetCode in Body {
        email: String => email_lenient,
        callback_url: String => url,
    }
}

pub(crate) async fn send_reset_code(rq: Rq<'_>, b: SendResetCode) -> Result<Json<MaybeSentView>> {
    let auth = rq.auth()?;
    rq.p.users()
        .send_password_reset_code(&auth.project, &b.email, &b.callback_url)
        .await?;
    Ok(Json::ok(MaybeSentView {
        success: "maybe, only if user with e-mail exists",
    }))
}

input! {
    /// `POST /auth/password/reset`.
    pub(crate) struct PasswordReset in Body {
        code: String => code_len,
        password: String => password_len,
    }
}

pub(crate) async fn reset(rq: Rq<'_>, b: PasswordReset) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    rq.p.users()
        .reset_password(&auth.project, &b.code, &b.password)
        .await?;
    Ok(Json::ok(SuccessView::TRUE))
}

pub(crate) async fn reset_check(rq: Rq<'_>, b: CodeBody) -> Result<Json<CodeValidView>> {
    let auth = rq.auth()?;
    rq.p.users()
        .check_password_reset_code(&auth.project, &b.code)
        .await?;
    Ok(Json::ok(CodeValidView {
        is_code_valid: true,
    }))
}

input! {
    /// `POST /auth/otp/send-sign-in-code`.
    pub(crate) struct OtpSend in Body {
        email: String => email_strict,
        callback_url: String => url,
        bot_challenge_token: Option<String>,
        bot_challenge_phase: Option<String>,
        bot_challenge_unavailable: Option<String>,
    }
}

pub(crate) async fn otp_send(rq: Rq<'_>, b: OtpSend) -> Result<Json<NonceView>> {
    let auth = rq.auth()?;
    let nonce =
        rq.p.otp()
            .send_sign_in_code(
                &auth.project,
                &b.email,
                &b.callback_url,
                anonymous_user(auth),
            )
            .await?;
    Ok(Json::ok(NonceView { nonce }))
}

pub(crate) async fn otp_sign_in(rq: Rq<'_>, b: CodeBody) -> Result<Json<SignedInView>> {
    let auth = rq.auth()?;
    let s =
        rq.p.otp()
            .sign_in(&auth.project, &b.code, anonymous_user(auth))
            .await?;
    Ok(Json::ok(SignedInView {
        refresh_token: s.signed_in.refresh_token,
        access_token: s.signed_in.access_token,
        is_new_user: s.is_new_user,
        user_id: s.signed_in.user_id,
    }))
}

pub(crate) async fn otp_check(rq: Rq<'_>, b: CodeBody) -> Result<Json<CodeValidView>> {
    let auth = rq.auth()?;
    rq.p.otp().check_code(&auth.project, &b.code).await?;
    Ok(Json::ok(CodeValidView {
        is_code_valid: true,
    }))
}

input! {
    /// `POST /auth/mfa/sign-in`: `type: "totp"` with `totp` (a recovery code typed there
    /// works too), or (a Postern extension) `type: "recovery_code"` with `recovery_code`.
    pub(crate) struct MfaSignIn in Body {
        code: String => code_len,
        kind as "type": String,
        totp: Option<String>,
        recovery_code: Option<String>,
    }
    check(this, f, _rq) {
        if this.kind == "recovery_code" {
            if this.recovery_code.is_none() {
                f.fail("recovery_code", "must be defined");
            }
        } else {
            if this.totp.is_none() {
                f.fail("totp", "must be defined");
            }
            if !this.kind.is_empty() && this.kind != "totp" {
                f.fail("type", "must be one of the following values: totp");
            }
        }
    }
}

impl MfaSignIn {
    /// The factor the body proves.
    fn factor(&self) -> SecondFactor {
        match (&self.recovery_code, &self.totp) {
            (Some(code), _) if self.kind == "recovery_code" => {
                SecondFactor::RecoveryCode(code.clone())
            }
            (_, totp) => SecondFactor::guess(totp.as_deref().unwrap_or_default()),
        }
    }
}

pub(crate) async fn mfa_sign_in(rq: Rq<'_>, b: MfaSignIn) -> Result<Json<SignedInView>> {
    let auth = rq.auth()?;
    let s =
        rq.p.mfa()
            .sign_in(&auth.project, &b.code, &b.factor())
            .await?;
    Ok(Json::ok(SignedInView {
        refresh_token: s.signed_in.refresh_token,
        access_token: s.signed_in.access_token,
        is_new_user: s.is_new_user,
        user_id: s.signed_in.user_id,
    }))
}
