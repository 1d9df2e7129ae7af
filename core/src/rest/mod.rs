//! The REST API over `http` types: route table, authentication, validation, handlers,
//! and the one error renderer. Adapters only convert requests and responses.

mod access;
mod channels;
mod handlers;
mod input;
mod internal;
mod response;
mod security;
mod teams;
pub mod views;

use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};

pub use access::{Auth, INTERNAL_PROJECT_ID, PUBLIC_CLIENT_SENTINEL, stack_header};

use std::net::IpAddr;

use crate::audit::RequestMeta;
use crate::error::Error;
use crate::net::PeerAddr;
use crate::postern::Postern;
use crate::secrets::random_crockford;
use crate::throttle::RouteClass;

/// Where the API is mounted (for example `/api/v1`), carried as a request extension by
/// adapters so that messages quote the full request path. Defaults to `/api/v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPrefix(pub String);

/// The largest request body the API accepts; adapters enforce it before buffering.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Root,
    PasswordSignUp,
    PasswordSignIn,
    PasswordUpdate,
    PasswordSet,
    Sessions,
    SessionCurrent,
    SessionCurrentRefresh,
    SessionById,
    OauthToken,
    UsersMe,
    Users,
    UserById,
    ProjectCurrent,
    Jwks,
    AnonymousIssuerAlias,
    UserApiKeys,
    UserApiKeyById,
    UserApiKeyCheck,
    CredentialScanningRevoke,
    PasswordSendResetCode,
    PasswordReset,
    PasswordResetCheckCode,
    ContactChannels,
    ContactChannelById,
    ContactChannelSendCode,
    ContactChannelLegacySendCode,
    ContactChannelVerify,
    ContactChannelVerifyCheck,
    OtpSendSignInCode,
    OtpSignIn,
    OtpSignInCheckCode,
    MfaSignIn,
    AnonymousSignUp,
    Teams,
    TeamById,
    StorageFile,
    VaultSet,
    VaultGet,
    TeamApiKeys,
    TeamApiKeyById,
    TeamApiKeyCheck,
    InvitationSend,
    Invitations,
    InvitationById,
    InvitationAccept,
    InvitationCheck,
    InvitationDetails,
    InvitationAcceptById,
    TeamMembership,
    TeamMemberProfiles,
    TeamMemberProfile,
    TeamPermissions,
    TeamPermission,
    ProjectPermissions,
    ProjectPermission,
    TeamPermissionDefinitions,
    TeamPermissionDefinition,
    ProjectPermissionDefinitions,
    ProjectPermissionDefinition,
    InternalProjects,
    InternalProjectCurrent,
    InternalApiKeys,
    InternalApiKeyById,
    InternalConfig,
    InternalConfigOverride,
    StepUpSendCode,
    StepUp,
    MfaRecoveryCodes,
    ContactChannelConfirmAuth,
    ContactChannelSendAuthConfirmation,
    ContactChannelConfirmAuthByCode,
    InternalAuditLog,
}

fn router() -> &'static matchit::Router<Route> {
    static ROUTER: OnceLock<matchit::Router<Route>> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let mut r = matchit::Router::new();
        let routes = [
            ("/", Route::Root),
            ("/auth/password/sign-up", Route::PasswordSignUp),
            ("/auth/password/sign-in", Route::PasswordSignIn),
            ("/auth/password/update", Route::PasswordUpdate),
            ("/auth/password/set", Route::PasswordSet),
            ("/auth/sessions", Route::Sessions),
            ("/auth/sessions/current", Route::SessionCurrent),
            (
                "/auth/sessions/current/refresh",
                Route::SessionCurrentRefresh,
            ),
            ("/auth/sessions/{id}", Route::SessionById),
            ("/auth/oauth/token", Route::OauthToken),
            ("/users/me", Route::UsersMe),
            ("/users", Route::Users),
            ("/users/{user_id}", Route::UserById),
            ("/projects/current", Route::ProjectCurrent),
            ("/projects/{project_id}/.well-known/jwks.json", Route::Jwks),
            (
                "/projects-anonymous-users/{project_id}/.well-known/{*rest}",
                Route::AnonymousIssuerAlias,
            ),
            ("/user-api-keys", Route::UserApiKeys),
            ("/user-api-keys/check", Route::UserApiKeyCheck),
            ("/user-api-keys/{api_key_id}", Route::UserApiKeyById),
            (
                "/integrations/credential-scanning/revoke",
                Route::CredentialScanningRevoke,
            ),
            (
                "/auth/password/send-reset-code",
                Route::PasswordSendResetCode,
            ),
            ("/auth/password/reset", Route::PasswordReset),
            (
                "/auth/password/reset/check-code",
                Route::PasswordResetCheckCode,
            ),
            ("/contact-channels", Route::ContactChannels),
            ("/auth/otp/send-sign-in-code", Route::OtpSendSignInCode),
            ("/auth/mfa/sign-in", Route::MfaSignIn),
            ("/auth/anonymous/sign-up", Route::AnonymousSignUp),
            ("/teams", Route::Teams),
            ("/storage/{bucket}/{file}", Route::StorageFile),
            ("/data-vault/stores/{store_id}/set", Route::VaultSet),
            ("/data-vault/stores/{store_id}/get", Route::VaultGet),
            ("/team-api-keys", Route::TeamApiKeys),
            ("/team-api-keys/check", Route::TeamApiKeyCheck),
            ("/team-api-keys/{api_key_id}", Route::TeamApiKeyById),
            ("/team-invitations", Route::Invitations),
            ("/team-invitations/send-code", Route::InvitationSend),
            ("/team-invitations/accept", Route::InvitationAccept),
            (
                "/team-invitations/accept/check-code",
                Route::InvitationCheck,
            ),
            ("/team-invitations/accept/details", Route::InvitationDetails),
            ("/team-invitations/{id}", Route::InvitationById),
            ("/team-invitations/{id}/accept", Route::InvitationAcceptById),
            ("/teams/{team_id}", Route::TeamById),
            (
                "/team-memberships/{team_id}/{user_id}",
                Route::TeamMembership,
            ),
            ("/team-member-profiles", Route::TeamMemberProfiles),
            (
                "/team-member-profiles/{team_id}/{user_id}",
                Route::TeamMemberProfile,
            ),
            ("/team-permissions", Route::TeamPermissions),
            (
                "/team-permissions/{team_id}/{user_id}/{permission_id}",
                Route::TeamPermission,
            ),
            ("/project-permissions", Route::ProjectPermissions),
            (
                "/project-permissions/{user_id}/{permission_id}",
                Route::ProjectPermission,
            ),
            (
                "/team-permission-definitions",
                Route::TeamPermissionDefinitions,
            ),
            (
                "/team-permission-definitions/{permission_id}",
                Route::TeamPermissionDefinition,
            ),
            (
                "/project-permission-definitions",
                Route::ProjectPermissionDefinitions,
            ),
            (
                "/project-permission-definitions/{permission_id}",
                Route::ProjectPermissionDefinition,
            ),
            ("/internal/projects", Route::InternalProjects),
            ("/internal/projects/current", Route::InternalProjectCurrent),
            ("/internal/api-keys", Route::InternalApiKeys),
            ("/internal/api-keys/{api_key_id}", Route::InternalApiKeyById),
            ("/internal/config", Route::InternalConfig),
            (
                "/internal/config/override/{level}",
                Route::InternalConfigOverride,
            ),
            ("/auth/otp/sign-in", Route::OtpSignIn),
            ("/auth/otp/sign-in/check-code", Route::OtpSignInCheckCode),
            (
                "/contact-channels/send-verification-code",
                Route::ContactChannelLegacySendCode,
            ),
            ("/contact-channels/verify", Route::ContactChannelVerify),
            (
                "/contact-channels/verify/check-code",
                Route::ContactChannelVerifyCheck,
            ),
            (
                "/contact-channels/{user_id}/{contact_channel_id}",
                Route::ContactChannelById,
            ),
            (
                "/contact-channels/{user_id}/{contact_channel_id}/send-verification-code",
                Route::ContactChannelSendCode,
            ),
            ("/auth/step-up/send-code", Route::StepUpSendCode),
            ("/auth/step-up", Route::StepUp),
            ("/auth/mfa/recovery-codes", Route::MfaRecoveryCodes),
            (
                "/contact-channels/{user_id}/{contact_channel_id}/confirm-auth",
                Route::ContactChannelConfirmAuth,
            ),
            (
                "/contact-channels/{user_id}/{contact_channel_id}/send-auth-confirmation",
                Route::ContactChannelSendAuthConfirmation,
            ),
            (
                "/contact-channels/confirm-auth",
                Route::ContactChannelConfirmAuthByCode,
            ),
            ("/internal/audit-log", Route::InternalAuditLog),
        ];
        for (path, route) in routes {
            if let Err(e) = r.insert(path, route) {
                panic!("route table is inconsistent at {path}: {e}");
            }
        }
        r
    })
}

/// Methods each route answers.
fn methods(route: Route) -> &'static [Method] {
    match route {
        Route::Root | Route::ProjectCurrent | Route::Jwks => &[Method::GET],
        Route::PasswordSignUp
        | Route::PasswordSignIn
        | Route::PasswordUpdate
        | Route::PasswordSet
        | Route::SessionCurrentRefresh
        | Route::OauthToken
        | Route::UserApiKeyCheck
        | Route::TeamApiKeyCheck
        | Route::CredentialScanningRevoke
        | Route::PasswordSendResetCode
        | Route::PasswordReset
        | Route::PasswordResetCheckCode
        | Route::ContactChannelSendCode
        | Route::ContactChannelLegacySendCode
        | Route::ContactChannelVerify
        | Route::ContactChannelVerifyCheck
        | Route::OtpSendSignInCode
        | Route::OtpSignIn
        | Route::OtpSignInCheckCode
        | Route::MfaSignIn
        | Route::VaultSet
        | Route::VaultGet
        | Route::AnonymousSignUp
        | Route::InvitationSend
        | Route::InvitationAccept
        | Route::InvitationCheck
        | Route::InvitationDetails
        | Route::InvitationAcceptById
        | Route::StepUpSendCode
        | Route::StepUp
        | Route::ContactChannelSendAuthConfirmation
        | Route::ContactChannelConfirmAuthByCode => &[Method::POST],
        Route::MfaRecoveryCodes | Route::ContactChannelConfirmAuth => &[Method::GET, Method::POST],
        Route::InternalAuditLog => &[Method::GET],
        Route::InvitationById => &[Method::DELETE],
        Route::ContactChannels | Route::InternalProjects | Route::InternalApiKeys => {
            &[Method::GET, Method::POST]
        }
        Route::InternalProjectCurrent
        | Route::InternalApiKeyById
        | Route::InternalConfigOverride => &[Method::GET, Method::PATCH],
        Route::InternalConfig
        | Route::StorageFile
        | Route::TeamMemberProfiles
        | Route::Invitations
        | Route::TeamPermissions
        | Route::ProjectPermissions => &[Method::GET],
        Route::Teams | Route::TeamPermissionDefinitions | Route::ProjectPermissionDefinitions => {
            &[Method::GET, Method::POST]
        }
        Route::TeamById => &[Method::GET, Method::PATCH, Method::DELETE],
        Route::TeamMembership | Route::TeamPermission | Route::ProjectPermission => {
            &[Method::POST, Method::DELETE]
        }
        Route::TeamMemberProfile => &[Method::GET, Method::PATCH],
        Route::TeamPermissionDefinition | Route::ProjectPermissionDefinition => {
            &[Method::PATCH, Method::DELETE]
        }
        Route::ContactChannelById => &[Method::GET, Method::PATCH, Method::DELETE],
        Route::UserApiKeys | Route::TeamApiKeys => &[Method::GET, Method::POST],
        Route::UserApiKeyById | Route::TeamApiKeyById => &[Method::GET, Method::PATCH],
        Route::Sessions => &[Method::GET, Method::POST],
        Route::SessionCurrent | Route::SessionById => &[Method::DELETE],
        Route::UsersMe | Route::UserById => &[Method::GET, Method::PATCH, Method::DELETE],
        Route::Users => &[Method::GET, Method::POST],
        Route::AnonymousIssuerAlias => &[
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ],
    }
}

/// The per-IP bucket a route draws from, if any.
fn class(route: Route, method: &Method) -> Option<RouteClass> {
    let changes = *method != Method::GET;
    Some(match route {
        Route::PasswordSignUp | Route::AnonymousSignUp => RouteClass::SignUp,
        Route::PasswordSignIn
        | Route::PasswordUpdate
        | Route::PasswordReset
        | Route::PasswordResetCheckCode
        | Route::OtpSignIn
        | Route::OtpSignInCheckCode
        | Route::MfaSignIn
        | Route::ContactChannelVerify
        | Route::ContactChannelVerifyCheck
        | Route::ContactChannelConfirmAuthByCode
        | Route::InvitationAccept
        | Route::InvitationCheck
        | Route::InvitationDetails
        | Route::StepUp => RouteClass::SignIn,
        Route::PasswordSendResetCode
        | Route::OtpSendSignInCode
        | Route::ContactChannelSendCode
        | Route::ContactChannelLegacySendCode
        | Route::ContactChannelSendAuthConfirmation
        | Route::InvitationSend
        | Route::StepUpSendCode => RouteClass::SendCode,
        Route::UserApiKeyCheck | Route::TeamApiKeyCheck | Route::CredentialScanningRevoke => {
            RouteClass::KeyCheck
        }
        Route::UsersMe
        | Route::ContactChannels
        | Route::ContactChannelById
        | Route::ContactChannelConfirmAuth
        | Route::UserApiKeys
        | Route::TeamApiKeys
            if changes =>
        {
            RouteClass::AccountChange
        }
        _ => return None,
    })
}

/// One request as the handlers see it.
pub(crate) struct Rq<'a> {
    pub(crate) p: &'a Postern,
    pub(crate) method: Method,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) raw_query: Option<String>,
    pub(crate) body: input::Body,
    pub(crate) auth: Option<Auth>,
    pub(crate) prefix: &'a str,
}

impl Rq<'_> {
    pub(crate) fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

pub(crate) async fn handle(p: &Postern, req: Request<Bytes>) -> Response<Bytes> {
    let request_id = random_crockford(16);
    let (parts, body) = req.into_parts();
    if body.len() > MAX_BODY_BYTES {
        return payload_too_large(&parts.headers);
    }
    let prefix = parts
        .extensions
        .get::<ApiPrefix>()
        .map(|p| p.0.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| "/api/v1".to_owned());
    let path = parts.uri.path();
    let full_path = format!("{prefix}{}", if path == "/" { "" } else { path });
    let full_path = if full_path.is_empty() {
        "/".to_owned()
    } else {
        full_path
    };

    let response = if parts.method == Method::OPTIONS {
        Response::new(Bytes::new())
    } else {
        let ip = client_ip(p, &parts);
        let meta = RequestMeta {
            ip,
            ..RequestMeta::default()
        };
        let result = meta.scope(dispatch(p, &parts, body, &prefix, ip)).await;
        match result {
            Ok(r) => r,
            Err(e) => response::render(
                &e,
                &response::ErrorContext {
                    method: parts.method.as_str(),
                    full_path: &full_path,
                    request_id: &request_id,
                },
            ),
        }
    };
    response::finish(response, &parts.headers, &request_id)
}

/// The client's address: the adapter's peer address, or `X-Forwarded-For` from a trusted
/// proxy.
fn client_ip(p: &Postern, parts: &http::request::Parts) -> Option<IpAddr> {
    let peer = parts.extensions.get::<PeerAddr>().map(|a| a.0.ip());
    // Every header line, in order: a proxy may append its own line rather than extend the
    // client's. A line that is not text stops the walk where it stands.
    let mut forwarded = String::new();
    for line in parts.headers.get_all("x-forwarded-for") {
        if !forwarded.is_empty() {
            forwarded.push(',');
        }
        forwarded.push_str(line.to_str().unwrap_or("unreadable"));
    }
    crate::net::client_ip(peer, Some(&forwarded), &p.inner.trusted_proxies)
}

/// Takes a token from the request's per-IP bucket (`429` when it is empty). Clients of an
/// unknown address share one bucket; exempt networks draw from none.
fn take_ip_token(
    p: &Postern,
    class: RouteClass,
    project: Option<&crate::Project>,
    ip: Option<IpAddr>,
) -> Result<(), Error> {
    if let Some(ip) = ip
        && p.inner.ip_limit_exempt.iter().any(|n| n.contains(ip))
    {
        return Ok(());
    }
    let (project_id, limit) = match project {
        Some(pr) => (pr.id.as_str(), class.limit(pr)),
        None => ("", class.limit_in(&crate::config::RateLimits::default())),
    };
    let ip = ip.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
    p.inner
        .ip_limiter
        .take(project_id, class, ip, limit, p.inner.clock.now_millis())
        .map_err(|retry_after_secs| Error::TooManyRequests { retry_after_secs })
}

async fn dispatch(
    p: &Postern,
    parts: &http::request::Parts,
    body: Bytes,
    prefix: &str,
    ip: Option<IpAddr>,
) -> Result<Response<Bytes>, Error> {
    let path = parts.uri.path();
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let path = if path.is_empty() { "/" } else { path };
    let Ok(matched) = router().at(path) else {
        return Ok(not_found(parts, prefix));
    };
    let route = *matched.value;
    if !methods(route).contains(&parts.method) {
        return Ok(response::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
        ));
    }
    let params: Vec<(String, String)> = matched
        .params
        .iter()
        .map(|(k, v)| (k.to_owned(), input::percent_decode(v)))
        .collect();
    let body = if parts.method == Method::GET {
        input::Body::None
    } else {
        input::decode_body(&parts.headers, &body)?
    };
    let auth = p.authenticate(&parts.headers).await?;
    if let Some(a) = &auth {
        RequestMeta::update(|m| {
            m.access_type = Some(a.access_type);
            m.user_id = a.user_id();
        });
    }
    // Per-IP buckets hold back clients; a server or admin acts for many end users from
    // one address and holds a key that can do more than any of these routes.
    let client = match &auth {
        Some(a) => a.access_type == crate::error::AccessType::Client,
        None => route == Route::CredentialScanningRevoke,
    };
    if let Some(class) = class(route, &parts.method)
        && client
    {
        take_ip_token(p, class, auth.as_ref().map(|a| &a.project), ip)?;
    }
    let rq = Rq {
        p,
        method: parts.method.clone(),
        headers: &parts.headers,
        params,
        query: input::parse_query(parts.uri.query()),
        raw_query: parts.uri.query().map(str::to_owned),
        body,
        auth,
        prefix,
    };
    handlers::run(route, rq).await
}

fn not_found(parts: &http::request::Parts, prefix: &str) -> Response<Bytes> {
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let path_q = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    response::text(
        StatusCode::NOT_FOUND,
        format!(
            "404 — this page does not exist in Stack Auth's API.\n\nPlease see the API documentation at https://docs.stack-auth.com, or visit the Stack Auth dashboard at https://app.stack-auth.com.\n\nURL: http://{host}{prefix}{path_q}"
        ),
    )
}

/// The response to a body over [`MAX_BODY_BYTES`]: `413`, plain text. Adapters that stop
/// reading a body early answer with this, so every way in says the same.
pub fn payload_too_large(request_headers: &HeaderMap) -> Response<Bytes> {
    let r = response::text(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    response::finish(r, request_headers, &random_crockford(16))
}

/// Renders an error as the API would, but with status 401: how app routes protected by an
/// API key answer a missing, unknown, revoked or expired key.
pub fn unauthorized_response(err: &Error, request_headers: &HeaderMap) -> Response<Bytes> {
    let mut r = error_response(err, request_headers);
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r
}

/// Renders an error exactly as the API would (for adapter extractors that reject a request).
pub fn error_response(err: &Error, request_headers: &HeaderMap) -> Response<Bytes> {
    let request_id = random_crockford(16);
    let r = response::render(
        err,
        &response::ErrorContext {
            method: "",
            full_path: "",
            request_id: &request_id,
        },
    );
    response::finish(r, request_headers, &request_id)
}
