//! # postern-axum
//!
//! Mounts Postern's REST API into an [axum] app and gives app routes extractors that
//! authenticate requests with the same rules as the API. The adapter only converts
//! requests and responses: every decision is made by [`postern_core`].
//!
//! # Mounting
//!
//! ```no_run
//! # async fn demo(postern: postern_core::Postern) {
//! let app: axum::Router = postern_axum::router(postern.clone());
//! # let _ = app; }
//! ```
//!
//! [`router`] serves the API under `/api/v1` and `/api/latest`; [`router_at`] takes other
//! prefixes. Bodies over [`postern_core::rest::MAX_BODY_BYTES`] get `413`.
//!
//! # Client addresses
//!
//! Per-IP rate limits need the peer address: serve the app with
//! `into_make_service_with_connect_info::<SocketAddr>()` (the adapter reads axum's
//! [`ConnectInfo`]), or insert a [`postern_core::net::PeerAddr`] extension yourself.
//! Without either, every client shares one bucket. Behind a reverse proxy, also set
//! [`postern_core::PosternBuilder::trusted_proxies`].
//!
//! ```no_run
//! # async fn demo(postern: postern_core::Postern) -> std::io::Result<()> {
//! let app = postern_axum::router::<()>(postern);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8102").await?;
//! axum::serve(
//!     listener,
//!     app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
//! )
//! .await
//! # }
//! ```
//!
//! # Extractors
//!
//! [`CurrentUser`], [`OptionalUser`] and [`ServerAccess`] work in any router whose state
//! `S` satisfies `Postern: FromRef<S>` (a `Postern` state, or a struct of yours with a
//! `#[derive(FromRef)]` field):
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use postern_axum::{CurrentUser, ServerAccess};
//!
//! async fn me(CurrentUser(auth): CurrentUser) -> String {
//!     format!("hello {}", auth.user.map(|u| u.id.to_string()).unwrap_or_default())
//! }
//! async fn admin(ServerAccess(auth): ServerAccess) -> String {
//!     format!("server access to {}", auth.project.id)
//! }
//! # fn app(postern: postern_core::Postern) -> Router {
//! Router::new()
//!     .route("/me", get(me))
//!     .route("/admin", get(admin))
//!     .merge(postern_axum::router(postern.clone()))
//!     .with_state(postern)
//! # }
//! ```

use axum::Router;
use axum::body::{Body, to_bytes};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::StatusCode;
use http::request::Parts;
use postern_core::api_keys::{ApiKeyHeader, ApiKeyTeamAuth, ApiKeyUserAuth};
use postern_core::net::PeerAddr;
use postern_core::permissions::RequiredPermission;
use postern_core::rest::{
    ApiPrefix, MAX_BODY_BYTES, error_response, payload_too_large, unauthorized_response,
};
use postern_core::{Auth, Error, Postern};

/// The API under `/api/v1` and `/api/latest`.
pub fn router<S>(postern: Postern) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router_at(postern, &["/api/v1", "/api/latest"])
}

/// Health probes for an orchestrator: `GET /healthz` (liveness) and `GET /readyz`
/// (readiness: the database answers within two seconds, else `503` with `Retry-After`). See
/// [`postern_core::rest::health_response`]. Merge it next to [`router`]:
///
/// ```
/// # fn f(postern: postern_core::Postern) {
/// let app: axum::Router = postern_axum::router(postern.clone()).merge(postern_axum::health(postern));
/// # }
/// ```
pub fn health<S>(postern: Postern) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    use postern_core::rest::{Probe, health_response};
    let probe = |probe: Probe| {
        let postern = postern.clone();
        move || {
            let postern = postern.clone();
            async move { health_response(&postern, probe).await.map(Body::from) }
        }
    };
    Router::new()
        .route("/healthz", axum::routing::get(probe(Probe::Live)))
        .route("/readyz", axum::routing::get(probe(Probe::Ready)))
}

/// The API under each of `prefixes` (each like `/api/v1`, or `/auth/api/v1`).
pub fn router_at<S>(postern: Postern, prefixes: &[&str]) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let mut r = Router::new();
    for prefix in prefixes {
        let prefix = prefix.trim_end_matches('/').to_owned();
        let handler = {
            let postern = postern.clone();
            let prefix = prefix.clone();
            move |req: Request| {
                let postern = postern.clone();
                let prefix = prefix.clone();
                async move { serve(&postern, &prefix, req).await }
            }
        };
        r = r
            .route(&prefix, any(handler.clone()))
            .route(&format!("{prefix}/"), any(handler.clone()))
            .route(&format!("{prefix}/{{*rest}}"), any(handler));
    }
    r
}

async fn serve(postern: &Postern, prefix: &str, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return payload_too_large(&parts.headers).map(Body::from),
    };
    let path = parts.uri.path().strip_prefix(prefix).unwrap_or("/");
    let path = if path.is_empty() { "/" } else { path };
    let relative = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    parts.uri = match relative.parse() {
        Ok(u) => u,
        Err(_) => return (StatusCode::BAD_REQUEST, "Invalid request URI").into_response(),
    };
    parts.extensions.insert(ApiPrefix(prefix.to_owned()));
    if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied() {
        parts.extensions.insert(PeerAddr(addr));
    }
    let response = postern
        .handle(http::Request::from_parts(parts, bytes))
        .await;
    response.map(Body::from)
}

fn reject(err: &Error, parts: &Parts) -> Response {
    error_response(err, &parts.headers).map(Body::from)
}

/// A request from a signed-in user (access token in `x-stack-access-token` or
/// `Authorization: Bearer`). Rejects with Stack's error body otherwise
/// (`USER_AUTHENTICATION_REQUIRED`, `ACCESS_TOKEN_EXPIRED`, ...). `auth.user` is `Some`.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Auth);

/// Like [`CurrentUser`], but a request without a token is accepted as `None`; an invalid
/// token is still rejected.
#[derive(Debug, Clone)]
pub struct OptionalUser(pub Option<Auth>);

/// A request with server or admin access (`x-stack-access-type: server` and a valid
/// secret server key, or admin).
#[derive(Debug, Clone)]
pub struct ServerAccess(pub Auth);

impl<S> FromRequestParts<S> for CurrentUser
where
    Postern: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Postern::from_ref(state)
            .require_user(&parts.headers)
            .await
            .map(CurrentUser)
            .map_err(|e| reject(&e, parts))
    }
}

impl<S> FromRequestParts<S> for OptionalUser
where
    Postern: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Postern::from_ref(state)
            .authenticate_app_request(&parts.headers)
            .await
            .map(|a| OptionalUser(a.filter(|a| a.user.is_some())))
            .map_err(|e| reject(&e, parts))
    }
}

impl<S> FromRequestParts<S> for ServerAccess
where
    Postern: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Postern::from_ref(state)
            .require_server(&parts.headers)
            .await
            .map(ServerAccess)
            .map_err(|e| reject(&e, parts))
    }
}

/// A request carrying a valid user API key, in the `x-stack-api-key` header or the header
/// named by an [`ApiKeyHeader`] extension. Rejects with 401 and Stack's error body
/// (`API_KEY_NOT_FOUND`, `API_KEY_REVOKED`, `API_KEY_EXPIRED`, `WRONG_API_KEY_TYPE`).
#[derive(Debug, Clone)]
pub struct ApiKeyUser(pub ApiKeyUserAuth);

impl<S> FromRequestParts<S> for ApiKeyUser
where
    Postern: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .extensions
            .get::<ApiKeyHeader>()
            .cloned()
            .unwrap_or_default();
        Postern::from_ref(state)
            .require_api_key_user(&parts.headers, &header.0)
            .await
            .map(ApiKeyUser)
            .map_err(|e| unauthorized_response(&e, &parts.headers).map(Body::from))
    }
}

/// A request carrying a valid team API key (header as for [`ApiKeyUser`]). Rejects with 401
/// and Stack's error body.
#[derive(Debug, Clone)]
pub struct ApiKeyTeam(pub ApiKeyTeamAuth);

impl<S> FromRequestParts<S> for ApiKeyTeam
where
    Postern: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .extensions
            .get::<ApiKeyHeader>()
            .cloned()
            .unwrap_or_default();
        Postern::from_ref(state)
            .require_api_key_team(&parts.headers, &header.0)
            .await
            .map(ApiKeyTeam)
            .map_err(|e| unauthorized_response(&e, &parts.headers).map(Body::from))
    }
}

/// A signed-in user holding the [`RequiredPermission`] set on the route as an extension
/// (`.route_layer(Extension(RequiredPermission::project("billing")))`). Rejects with Stack's
/// error body (`TEAM_PERMISSION_REQUIRED`, `PROJECT_PERMISSION_REQUIRED`, ...); a route
/// without the extension is refused with a 500, so a forgotten layer never lets anyone in.
///
/// ```no_run
/// use axum::{Extension, Router, routing::get};
/// use postern_axum::Permitted;
/// use postern_core::permissions::RequiredPermission;
/// # fn app(postern: postern_core::Postern) -> Router {
/// Router::new()
///     .route("/invoices", get(|Permitted(auth): Permitted| async move { auth.project.id }))
///     .route_layer(Extension(RequiredPermission::project("billing")))
///     .with_state(postern)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Permitted(pub Auth);

impl<S> FromRequestParts<S> for Permitted
where
    Postern: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(required) = parts.extensions.get::<RequiredPermission>().cloned() else {
            let e = Error::Internal("no RequiredPermission extension on this route".into());
            return Err(reject(&e, parts));
        };
        Postern::from_ref(state)
            .require_permission(&parts.headers, &required)
            .await
            .map(Permitted)
            .map_err(|e| reject(&e, parts))
    }
}
