//! Endpoint handlers: access requirement, validation, one domain call, one response.

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;

use super::access::{Auth, PUBLIC_CLIENT_SENTINEL, stack_header};
use super::input::{Fields, user_id_or_me};
use super::response::{json, success, text};
use super::views::{api_key_json, project_json, session_json, user_json};
use super::{Route, Rq, channels, internal, security, teams};
use crate::email::{is_valid_email_lenient, is_valid_email_strict};
use crate::error::{AccessType, Error, Result};
use crate::passwords::{MAX_PASSWORD_LENGTH, password_length};
use crate::permissions::Scope;
use crate::sessions::MAX_SESSION_MILLIS;
use crate::step_up::Caller;
use crate::storage::{ApiKeyOwner, KeyKind};
use crate::users::{ListUsers, UserUpdate};

pub(super) const ALL: &[AccessType] = &[AccessType::Client, AccessType::Server, AccessType::Admin];
pub(super) const SERVER: &[AccessType] = &[AccessType::Server, AccessType::Admin];

pub(super) async fn run(route: Route, rq: Rq<'_>) -> Result<Response<Bytes>> {
    use http::Method as M;
    match (route, rq.method.clone()) {
        (Route::Root, _) => root(rq),
        (Route::PasswordSignUp, _) => sign_up(rq).await,
        (Route::PasswordSignIn, _) => sign_in(rq).await,
        (Route::PasswordUpdate, _) => password_update(rq).await,
        (Route::PasswordSet, _) => password_set(rq).await,
        (Route::Sessions, M::GET) => list_sessions(rq).await,
        (Route::Sessions, _) => create_session(rq).await,
        (Route::SessionCurrent, _) => sign_out(rq).await,
        (Route::SessionCurrentRefresh, _) => refresh(rq).await,
        (Route::SessionById, _) => delete_session(rq).await,
        (Route::OauthToken, _) => oauth_token(rq).await,
        (Route::UsersMe, M::GET) => get_me(rq),
        (Route::UsersMe, M::PATCH) => patch_me(rq).await,
        (Route::UsersMe, _) => delete_me(rq).await,
        (Route::Users, M::GET) => list_users(rq).await,
        (Route::Users, _) => create_user(rq).await,
        (Route::UserById, M::GET) => get_user(rq).await,
        (Route::UserById, M::PATCH) => patch_user(rq).await,
        (Route::UserById, _) => delete_user(rq).await,
        (Route::ProjectCurrent, _) => project_current(rq),
        (Route::Jwks, _) => jwks(rq).await,
        (Route::AnonymousIssuerAlias, _) => anonymous_alias(rq),
        (Route::UserApiKeys, M::GET) => list_user_keys(rq).await,
        (Route::UserApiKeys, _) => create_user_key(rq).await,
        (Route::UserApiKeyById, M::GET) => get_user_key(rq).await,
        (Route::UserApiKeyById, _) => patch_user_key(rq).await,
        (Route::UserApiKeyCheck, _) => check_user_key(rq).await,
        (Route::CredentialScanningRevoke, _) => credential_scanning_revoke(rq).await,
        (Route::PasswordSendResetCode, _) => channels::send_reset_code(rq).await,
        (Route::PasswordReset, _) => channels::reset(rq).await,
        (Route::PasswordResetCheckCode, _) => channels::reset_check(rq).await,
        (Route::ContactChannels, M::GET) => channels::list(rq).await,
        (Route::ContactChannels, _) => channels::create(rq).await,
        (Route::ContactChannelById, M::GET) => channels::get(rq).await,
        (Route::ContactChannelById, M::PATCH) => channels::patch(rq).await,
        (Route::ContactChannelById, _) => channels::delete(rq).await,
        (Route::ContactChannelSendCode, _) => channels::send_code(rq).await,
        (Route::ContactChannelLegacySendCode, _) => channels::legacy_send_code(rq).await,
        (Route::ContactChannelVerify, _) => channels::verify(rq).await,
        (Route::ContactChannelVerifyCheck, _) => channels::verify_check(rq).await,
        (Route::InternalProjects, M::GET) => internal::list_projects(rq).await,
        (Route::InternalProjects, _) => internal::create_project(rq).await,
        (Route::InternalProjectCurrent, M::GET) => internal::current_project(rq).await,
        (Route::InternalProjectCurrent, _) => internal::patch_current_project(rq).await,
        (Route::InternalApiKeys, M::GET) => internal::list_key_sets(rq).await,
        (Route::InternalApiKeys, _) => internal::create_key_set(rq).await,
        (Route::InternalApiKeyById, M::GET) => internal::get_key_set(rq).await,
        (Route::InternalApiKeyById, _) => internal::patch_key_set(rq).await,
        (Route::InternalConfig, _) => internal::get_config(rq).await,
        (Route::InternalConfigOverride, M::GET) => internal::get_override(rq).await,
        (Route::InternalConfigOverride, _) => internal::patch_override(rq).await,
        (Route::MfaSignIn, _) => channels::mfa_sign_in(rq).await,
        (Route::StorageFile, _) => teams::storage_file(rq).await,
        (Route::VaultSet, _) => teams::vault_set(rq).await,
        (Route::VaultGet, _) => teams::vault_get(rq).await,
        (Route::TeamApiKeys, M::GET) => teams::list_team_keys(rq).await,
        (Route::TeamApiKeys, _) => teams::create_team_key(rq).await,
        (Route::TeamApiKeyById, M::GET) => teams::get_team_key(rq).await,
        (Route::TeamApiKeyById, _) => teams::patch_team_key(rq).await,
        (Route::TeamApiKeyCheck, _) => teams::check_team_key(rq).await,
        (Route::InvitationSend, _) => teams::send_invitation(rq).await,
        (Route::Invitations, _) => teams::list_invitations(rq).await,
        (Route::InvitationById, _) => teams::delete_invitation(rq).await,
        (Route::InvitationAccept, _) => teams::accept_invitation(rq).await,
        (Route::InvitationCheck, _) => teams::check_invitation(rq).await,
        (Route::InvitationDetails, _) => teams::invitation_details(rq).await,
        (Route::InvitationAcceptById, _) => teams::accept_invitation_by_id(rq).await,
        (Route::Teams, M::GET) => teams::list_teams(rq).await,
        (Route::Teams, _) => teams::create_team(rq).await,
        (Route::TeamById, M::GET) => teams::get_team(rq).await,
        (Route::TeamById, M::PATCH) => teams::patch_team(rq).await,
        (Route::TeamById, _) => teams::delete_team(rq).await,
        (Route::TeamMembership, M::POST) => teams::add_member(rq).await,
        (Route::TeamMembership, _) => teams::remove_member(rq).await,
        (Route::TeamMemberProfiles, _) => teams::list_profiles(rq).await,
        (Route::TeamMemberProfile, M::GET) => teams::get_profile(rq).await,
        (Route::TeamMemberProfile, _) => teams::patch_profile(rq).await,
        (Route::TeamPermissions, _) => teams::list_grants(rq, Scope::Team).await,
        (Route::TeamPermission, M::POST) => teams::grant(rq, Scope::Team).await,
        (Route::TeamPermission, _) => teams::revoke(rq, Scope::Team).await,
        (Route::ProjectPermissions, _) => teams::list_grants(rq, Scope::Project).await,
        (Route::ProjectPermission, M::POST) => teams::grant(rq, Scope::Project).await,
        (Route::ProjectPermission, _) => teams::revoke(rq, Scope::Project).await,
        (Route::TeamPermissionDefinitions, M::GET) => {
            teams::list_definitions(rq, Scope::Team).await
        }
        (Route::TeamPermissionDefinitions, _) => teams::create_definition(rq, Scope::Team).await,
        (Route::TeamPermissionDefinition, M::PATCH) => {
            teams::update_definition(rq, Scope::Team).await
        }
        (Route::TeamPermissionDefinition, _) => teams::delete_definition(rq, Scope::Team).await,
        (Route::ProjectPermissionDefinitions, M::GET) => {
            teams::list_definitions(rq, Scope::Project).await
        }
        (Route::ProjectPermissionDefinitions, _) => {
            teams::create_definition(rq, Scope::Project).await
        }
        (Route::ProjectPermissionDefinition, M::PATCH) => {
            teams::update_definition(rq, Scope::Project).await
        }
        (Route::ProjectPermissionDefinition, _) => {
            teams::delete_definition(rq, Scope::Project).await
        }
        (Route::AnonymousSignUp, _) => channels::anonymous_sign_up(rq).await,
        (Route::OtpSendSignInCode, _) => channels::otp_send(rq).await,
        (Route::OtpSignIn, _) => channels::otp_sign_in(rq).await,
        (Route::OtpSignInCheckCode, _) => channels::otp_check(rq).await,
        (Route::StepUpSendCode, _) => security::send_code(rq).await,
        (Route::StepUp, _) => security::prove(rq).await,
        (Route::MfaRecoveryCodes, _) => security::recovery_codes(rq).await,
        (Route::ContactChannelConfirmAuth, _) => security::confirm_auth(rq).await,
        (Route::ContactChannelSendAuthConfirmation, _) => {
            security::send_auth_confirmation(rq).await
        }
        (Route::ContactChannelConfirmAuthByCode, _) => security::confirm_auth_by_code(rq).await,
        (Route::InternalAuditLog, _) => security::audit_log(rq).await,
    }
}

/// Access requirement: no auth → `ACCESS_TYPE_REQUIRED`; wrong type → `INSUFFICIENT_ACCESS_TYPE`.
pub(super) fn require<'a>(rq: &'a Rq<'_>, allowed: &[AccessType]) -> Result<&'a Auth> {
    let auth = rq.auth.as_ref().ok_or(Error::AccessTypeRequired)?;
    if !allowed.contains(&auth.access_type) {
        return Err(Error::InsufficientAccessType {
            actual: auth.access_type,
            allowed: allowed.to_vec(),
        });
    }
    Ok(auth)
}

/// Who asks, for the rules that treat clients apart: a client (its session and the step-up
/// token it carries), or a trusted server or admin.
pub(super) fn caller<'a>(rq: &'a Rq<'_>, auth: &Auth) -> Caller<'a> {
    if auth.access_type == AccessType::Client {
        Caller::Client {
            session_id: auth.session_id(),
            step_up_token: rq
                .headers
                .get(crate::step_up::STEP_UP_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty()),
        }
    } else {
        Caller::Trusted
    }
}

fn schema_user(auth: &Auth) -> Result<Uuid> {
    auth.user_id()
        .ok_or_else(|| Error::schema("auth.user must be defined"))
}

pub(super) fn check_password_field(f: &mut Fields, key: &str, v: &Option<String>) {
    if let Some(v) = v
        && password_length(v) > MAX_PASSWORD_LENGTH
    {
        f.fail(
            key,
            &format!("must be at most {MAX_PASSWORD_LENGTH} characters"),
        );
    }
}

pub(super) fn check_url_field(f: &mut Fields, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        if v.contains(' ') {
            f.fail(key, "contains spaces");
        } else if url::Url::parse(v).is_err() {
            f.fail(key, "is not a valid URL");
        }
    }
}

fn root(rq: Rq<'_>) -> Result<Response<Bytes>> {
    Fields::query(&rq.query, &[]).finish()?;
    let mut body = String::from(
        "Welcome to the Stack API endpoint! Please refer to the documentation at https://docs.stack-auth.com.\n\n",
    );
    match &rq.auth {
        None => body.push_str("Authentication: None"),
        Some(a) => {
            let kind = match a.access_type {
                AccessType::Client => "Client",
                AccessType::Server => "Server",
                AccessType::Admin => "Admin",
            };
            let user = a
                .user
                .as_ref()
                .map(|u| u.primary_email.clone().unwrap_or_else(|| u.id.to_string()))
                .unwrap_or_else(|| "None".into());
            body.push_str(&format!(
                "Authentication: {kind}\n  Project: {}\n  User: {user}",
                a.project.id
            ));
        }
    }
    Ok(text(StatusCode::OK, body))
}

async fn sign_up(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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
                channels::anonymous_user(auth),
            )
            .await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "access_token": s.access_token, "refresh_token": s.refresh_token, "user_id": s.user_id }),
    ))
}

async fn sign_in(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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

async fn password_update(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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

async fn password_set(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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

async fn create_session(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, SERVER)?;
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

async fn list_sessions(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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

async fn delete_session(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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

async fn sign_out(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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

async fn refresh(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let token = stack_header(rq.headers, "refresh-token")
        .ok_or_else(|| Error::schema("headers.x-stack-refresh-token must be defined"))?;
    let access_token = rq.p.sessions().refresh(&auth.project, token).await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "access_token": access_token }),
    ))
}

/// OAuth 2 token endpoint, refresh grant only (what the official SDK uses to refresh).
async fn oauth_token(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let form = match &rq.body {
        super::input::Body::Form(m) | super::input::Body::Json(Value::Object(m)) => m.clone(),
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

fn basic_credentials(headers: &http::HeaderMap) -> Option<(String, String)> {
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

fn me(auth: &Auth) -> Result<Uuid> {
    auth.user_id().ok_or(Error::CannotGetOwnUserWithoutUser)
}

fn get_me(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    Fields::query(&rq.query, &[]).finish()?;
    let user = auth
        .user
        .as_ref()
        .ok_or(Error::CannotGetOwnUserWithoutUser)?;
    Ok(json(
        StatusCode::OK,
        &user_json(user, auth.access_type != AccessType::Client),
    ))
}

const CLIENT_UPDATE_FIELDS: &[&str] = &[
    "display_name",
    "profile_image_url",
    "client_metadata",
    "selected_team_id",
    "totp_secret_base64",
    "otp_auth_enabled",
    "passkey_auth_enabled",
    "primary_email",
];

const SERVER_UPDATE_FIELDS: &[&str] = &[
    "display_name",
    "profile_image_url",
    "client_metadata",
    "client_read_only_metadata",
    "server_metadata",
    "primary_email",
    "primary_email_verified",
    "primary_email_auth_enabled",
    "password",
    "password_hash",
    "otp_auth_enabled",
    "passkey_auth_enabled",
    "totp_secret_base64",
    "selected_team_id",
    "is_anonymous",
    "restricted_by_admin",
    "restricted_by_admin_reason",
    "restricted_by_admin_private_details",
    "country_code",
    "risk_scores",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum UpdateKind {
    Client,
    ServerPatch,
    ServerCreate,
}

/// Reads a user create/update body into a [`UserUpdate`], with Stack's validation.
fn parse_user_update(f: &mut Fields, kind: UpdateKind) -> Result<UserUpdate> {
    let mut u = UserUpdate {
        display_name: f.nullable_str("display_name"),
        ..Default::default()
    };
    if let Some(Some(n)) = &u.display_name
        && n.chars().count() > 256
    {
        f.fail("display_name", "must be at most 256 characters");
    }
    u.profile_image_url = f.nullable_str("profile_image_url");
    if let Some(Some(url)) = &u.profile_image_url {
        if url.contains(' ') {
            f.fail("profile_image_url", "contains spaces");
        } else if url.is_empty() || (!is_base64_image(url) && url::Url::parse(url).is_err()) {
            f.fail("profile_image_url", "is not a valid URL");
        }
    }
    u.client_metadata = f.opt_json("client_metadata");
    u.primary_email = f.nullable_str("primary_email");
    if let Some(Some(e)) = &u.primary_email {
        if e.is_empty() {
            f.fail("primary_email", "must not be empty");
        } else if !is_valid_email_lenient(e.trim()) {
            f.fail("primary_email", "must be a valid email");
        }
    }
    u.otp_auth_enabled = f.opt_bool("otp_auth_enabled");
    u.passkey_auth_enabled = f.opt_bool("passkey_auth_enabled");
    match f.nullable_str("totp_secret_base64") {
        Some(Some(s)) => match base64::engine::general_purpose::STANDARD.decode(&s) {
            Ok(bytes) => u.totp_secret = Some(Some(bytes)),
            Err(_) => f.fail("totp_secret_base64", "is not valid base64"),
        },
        Some(None) => u.totp_secret = Some(None),
        None => {}
    }
    if kind != UpdateKind::ServerCreate
        && let Some(raw) = f.opt_str_raw("selected_team_id").cloned()
    {
        match raw {
            Value::Null => u.selected_team_id = Some(None),
            Value::String(s) => match Uuid::parse_str(&s) {
                Ok(id) => u.selected_team_id = Some(Some(id)),
                Err(_) => f.fail("selected_team_id", "must be a valid UUID"),
            },
            _ => f.fail("selected_team_id", "must be a valid UUID"),
        }
    }
    if kind == UpdateKind::Client {
        if let Some(Some(url)) = &u.profile_image_url
            && !is_base64_image(url)
            && !f.failed()
        {
            return Err(Error::bad_request("Invalid profile image URL"));
        }
        return Ok(u);
    }
    u.client_read_only_metadata = f.opt_json("client_read_only_metadata");
    u.server_metadata = f.opt_json("server_metadata");
    u.primary_email_verified = f.opt_bool("primary_email_verified");
    u.primary_email_auth_enabled = f.opt_bool("primary_email_auth_enabled");
    u.password = f.nullable_str("password");
    if let Some(Some(pw)) = &u.password
        && password_length(pw) > MAX_PASSWORD_LENGTH
    {
        f.fail(
            "password",
            &format!("must be at most {MAX_PASSWORD_LENGTH} characters"),
        );
    }
    u.password_hash = f.nullable_str("password_hash");
    if let Some(Some(h)) = &u.password_hash
        && h.is_empty()
    {
        f.fail("password_hash", "must not be empty");
    }
    u.is_anonymous = f.opt_bool("is_anonymous");
    if kind == UpdateKind::ServerPatch && u.is_anonymous == Some(true) {
        f.fail("is_anonymous", "must be one of the following values: false");
    }
    u.restricted_by_admin = f.opt_bool("restricted_by_admin");
    u.restricted_by_admin_reason = f.nullable_str("restricted_by_admin_reason");
    u.restricted_by_admin_private_details = f.nullable_str("restricted_by_admin_private_details");
    if u.restricted_by_admin != Some(true) {
        if matches!(u.restricted_by_admin_reason, Some(Some(_))) {
            f.fail_raw(
                "restricted_by_admin_reason must be null when restricted_by_admin is not true",
            );
        }
        if matches!(u.restricted_by_admin_private_details, Some(Some(_))) {
            f.fail_raw("restricted_by_admin_private_details must be null when restricted_by_admin is not true");
        }
    }
    u.country_code = f.nullable_str("country_code");
    if let Some(Some(c)) = &u.country_code {
        let c = c.trim();
        if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
            f.fail("country_code", "must be a valid country code");
        }
    }
    if let Some(r) = f.opt_json("risk_scores") {
        let score = |k: &str| {
            r.get("sign_up")
                .and_then(|s| s.get(k))
                .and_then(Value::as_i64)
                .filter(|v| (0..=100).contains(v))
        };
        match (score("bot"), score("free_trial_abuse")) {
            (Some(b), Some(t)) => u.risk_scores = Some((b as i32, t as i32)),
            _ => f.fail(
                "risk_scores",
                "must be {sign_up: {bot, free_trial_abuse}} with integers from 0 to 100",
            ),
        }
    }
    Ok(u)
}

fn is_base64_image(s: &str) -> bool {
    let payload = match s.strip_prefix("data:image/") {
        Some(rest) => {
            let Some((ty, data)) = rest.split_once(";base64,") else {
                return false;
            };
            if !["png", "jpg", "jpeg", "gif", "bmp", "webp"].contains(&ty) {
                return false;
            }
            data
        }
        None => s,
    };
    !payload.is_empty()
        && base64::engine::general_purpose::STANDARD
            .decode(payload)
            .is_ok()
}

async fn patch_me(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let client = auth.access_type == AccessType::Client;
    let allowed = if client {
        CLIENT_UPDATE_FIELDS
    } else {
        SERVER_UPDATE_FIELDS
    };
    let mut f = Fields::body(&rq.body, allowed);
    let update = parse_user_update(
        &mut f,
        if client {
            UpdateKind::Client
        } else {
            UpdateKind::ServerPatch
        },
    )?;
    f.finish()?;
    let id = me(auth)?;
    let user =
        rq.p.users()
            .update_as(&auth.project, id, update, caller(&rq, auth))
            .await?;
    Ok(json(StatusCode::OK, &user_json(&user, !client)))
}

async fn delete_me(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let id = me(auth)?;
    if auth.access_type == AccessType::Client
        && !auth.project.config.users.allow_client_user_deletion
    {
        return Err(Error::bad_request(
            "Client user deletion is not enabled for this project",
        ));
    }
    rq.p.users().delete(&auth.project, id).await?;
    Ok(success())
}

const LIST_QUERY: &[&str] = &[
    "limit",
    "cursor",
    "order_by",
    "desc",
    "query",
    "team_id",
    "include_restricted",
    "include_anonymous",
    "only_anonymous",
];

async fn list_users(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, SERVER)?;
    let mut f = Fields::query(&rq.query, LIST_QUERY);
    let mut q = ListUsers::default();
    if let Some(l) = f.opt_str("limit") {
        match l.parse::<u64>() {
            Ok(n) if n >= 1 => q.limit = Some(n),
            _ => f.fail("limit", "must be a positive integer"),
        }
    }
    if let Some(c) = f.opt_str("cursor") {
        match Uuid::parse_str(&c) {
            Ok(id) => q.cursor = Some(id),
            Err(_) => f.fail("cursor", "must be a valid UUID"),
        }
    }
    if let Some(o) = f.opt_str("order_by")
        && o != "signed_up_at"
    {
        f.fail(
            "order_by",
            "must be one of the following values: signed_up_at",
        );
    }
    q.desc = f.flag("desc");
    q.query = f.opt_str("query");
    let team = f.opt_str("team_id");
    if let Some(t) = &team
        && Uuid::parse_str(t).is_err()
    {
        f.fail("team_id", "must be a valid UUID");
    }
    q.include_restricted = f.flag("include_restricted");
    q.include_anonymous = f.flag("include_anonymous");
    q.only_anonymous = f.flag("only_anonymous");
    f.finish()?;
    let page = if let Some(team) = team.as_deref().and_then(|t| Uuid::parse_str(t).ok()) {
        let mut items = Vec::new();
        for p in
            rq.p.teams()
                .member_profiles(&auth.project, Some(team), None)
                .await?
        {
            items.push(p.user);
        }
        items.sort_by_key(|u| (u.signed_up_at_millis, u.id));
        if q.desc {
            items.reverse();
        }
        crate::users::UserPage {
            items,
            next_cursor: None,
        }
    } else {
        rq.p.users().list(&auth.project, &q).await?
    };
    let items: Vec<Value> = page.items.iter().map(|u| user_json(u, true)).collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "items": items, "is_paginated": true, "pagination": { "next_cursor": page.next_cursor } }),
    ))
}

async fn create_user(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, SERVER)?;
    let mut fields: Vec<&str> = SERVER_UPDATE_FIELDS
        .iter()
        .copied()
        .filter(|f| *f != "selected_team_id")
        .collect();
    fields.push("oauth_providers");
    let mut f = Fields::body(&rq.body, &fields);
    let update = parse_user_update(&mut f, UpdateKind::ServerCreate)?;
    let providers = f.opt_json("oauth_providers");
    f.finish()?;
    if let Some(Value::Array(list)) = &providers
        && let Some(first) = list.first()
    {
        let id = first.get("id").and_then(Value::as_str).unwrap_or_default();
        return Err(Error::bad_request(format!("OAuth provider {id} not found")));
    }
    let user = rq.p.users().create(&auth.project, update).await?;
    Ok(json(StatusCode::CREATED, &user_json(&user, true)))
}

fn path_user(rq: &Rq<'_>, auth: &Auth) -> Result<Uuid> {
    user_id_or_me(rq.param("user_id"), auth.user_id(), "params.user_id")
}

async fn get_user(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, SERVER)?;
    Fields::query(&rq.query, LIST_QUERY).finish()?;
    let id = path_user(&rq, auth)?;
    let user =
        rq.p.users()
            .get(&auth.project, id)
            .await?
            .ok_or(Error::UserNotFound)?;
    Ok(json(StatusCode::OK, &user_json(&user, true)))
}

async fn patch_user(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, SERVER)?;
    let mut f = Fields::body(&rq.body, SERVER_UPDATE_FIELDS);
    let update = parse_user_update(&mut f, UpdateKind::ServerPatch)?;
    f.finish()?;
    let id = path_user(&rq, auth)?;
    let user = rq.p.users().update(&auth.project, id, update).await?;
    Ok(json(StatusCode::OK, &user_json(&user, true)))
}

async fn delete_user(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, SERVER)?;
    let id = path_user(&rq, auth)?;
    if !rq.p.users().delete(&auth.project, id).await? {
        return Err(Error::UserNotFound);
    }
    Ok(success())
}

fn project_current(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    Fields::query(&rq.query, &[]).finish()?;
    Ok(json(StatusCode::OK, &project_json(&auth.project)))
}

async fn jwks(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let mut f = Fields::query(&rq.query, &["include_restricted", "include_anonymous"]);
    let restricted = f.flag("include_restricted");
    let anonymous = f.flag("include_anonymous");
    f.finish()?;
    let project_id = rq.param("project_id");
    if rq.p.projects().get(project_id).await?.is_none() {
        return Err(Error::status(StatusCode::NOT_FOUND, "Project not found"));
    }
    let keys = rq.p.sessions().jwks(project_id, restricted, anonymous)?;
    let mut r = json(StatusCode::OK, &keys);
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(r)
}

fn anonymous_alias(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let mut target = format!(
        "{}/projects/{}/.well-known/{}",
        rq.prefix,
        rq.param("project_id"),
        rq.param("rest")
    );
    match rq.raw_query.as_deref().filter(|q| !q.is_empty()) {
        Some(q) => target.push_str(&format!("?{q}&include_anonymous=true")),
        None => target.push_str("?include_anonymous=true"),
    }
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    if let Ok(v) = HeaderValue::from_str(&target) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

// ----- user API keys -----

fn user_keys_enabled(auth: &Auth) -> Result<()> {
    if auth.project.config.api_keys.enabled.user {
        Ok(())
    } else {
        Err(Error::bad_request(
            "User API keys are not enabled for this project.",
        ))
    }
}

/// `expires_at_millis` of a key create body: required, a number or null.
pub(super) fn key_expiry(f: &mut Fields) -> Option<i64> {
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
pub(super) fn key_patch(rq: &Rq<'_>) -> Result<(Option<String>, bool, Option<Option<i64>>)> {
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
fn client_may_manage(auth: &Auth, owner: Uuid) -> Result<()> {
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
fn key_owner(f: &mut Fields, auth: &Auth, prefix: &str) -> Result<Option<Uuid>> {
    match f.opt_str("user_id") {
        None => Err(Error::SchemaMessage(
            "user_id is required for user API keys".into(),
        )),
        Some(raw) => {
            if raw == "me" || raw == super::input::ME_SENTINEL || Uuid::parse_str(&raw).is_ok() {
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

async fn create_user_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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

async fn list_user_keys(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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
async fn user_key_in_path(rq: &Rq<'_>, auth: &Auth) -> Result<crate::storage::ApiKeyRecord> {
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

async fn get_user_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
    let mut f = Fields::query(&rq.query, &["user_id"]);
    f.opt_str("user_id");
    f.finish()?;
    let key = user_key_in_path(&rq, auth).await?;
    Ok(json(StatusCode::OK, &api_key_json(&key, None)))
}

async fn patch_user_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, ALL)?;
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

async fn check_user_key(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = require(&rq, SERVER)?;
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

async fn credential_scanning_revoke(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let mut f = Fields::body(&rq.body, &["api_key"]);
    let key = f.req_str("api_key");
    f.finish()?;
    rq.p.api_keys()
        .revoke_leaked(&key.unwrap_or_default())
        .await?;
    Ok(success())
}
