//! # postern-actix
//!
//! Mounts Postern's REST API into an [actix-web](https://actix.rs) app and gives app routes
//! extractors with the same names and behaviour as `postern-axum`'s. The adapter only
//! converts requests and responses (its `convert` module is the one place where actix's
//! `http` 0.2 types meet the core's `http` 1 types); every decision is made by
//! [`postern_core`].
//!
//! # Mounting
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! # async fn demo(postern: postern_core::Postern) -> std::io::Result<()> {
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(web::Data::new(postern.clone())) // for the extractors
//!         .configure(postern_actix::configure(postern.clone())) // /api/v1 and /api/latest
//! })
//! .bind("127.0.0.1:8102")?
//! .run()
//! .await
//! # }
//! ```
//!
//! [`configure_at`] and [`scope`] take other prefixes. Bodies over
//! [`postern_core::rest::MAX_BODY_BYTES`] get `413`. actix-web is used with its default
//! features off, so no compression is forced on the host app.
//!
//! # Extractors
//!
//! [`CurrentUser`], [`OptionalUser`] and [`ServerAccess`] read a `web::Data<Postern>`
//! registered on the app:
//!
//! ```no_run
//! use actix_web::{get, HttpResponse};
//! use postern_actix::{CurrentUser, ServerAccess};
//!
//! #[get("/me")]
//! async fn me(CurrentUser(auth): CurrentUser) -> HttpResponse {
//!     HttpResponse::Ok().body(format!("hello {}", auth.user.map(|u| u.id.to_string()).unwrap_or_default()))
//! }
//!
//! #[get("/admin")]
//! async fn admin(ServerAccess(auth): ServerAccess) -> HttpResponse {
//!     HttpResponse::Ok().body(format!("server access to {}", auth.project.id))
//! }
//! ```

mod convert;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use bytes::Bytes;
use postern_core::api_keys::{ApiKeyHeader, ApiKeyTeamAuth, ApiKeyUserAuth};
use postern_core::net::PeerAddr;
use postern_core::permissions::RequiredPermission;
use postern_core::rest::{
    ApiPrefix, MAX_BODY_BYTES, error_response, payload_too_large, unauthorized_response,
};
use postern_core::{Auth, Error, Postern};

/// Mounts the API under `/api/v1` and `/api/latest`.
pub fn configure(postern: Postern) -> impl FnOnce(&mut web::ServiceConfig) {
    configure_at(postern, &["/api/v1", "/api/latest"])
}

/// Mounts health probes for an orchestrator: `GET /healthz` (liveness) and `GET /readyz`
/// (readiness: the database answers within two seconds, else `503` with `Retry-After`). See
/// [`postern_core::rest::health_response`].
///
/// ```
/// # fn f(postern: postern_core::Postern) {
/// let app = actix_web::App::new()
///     .configure(postern_actix::configure(postern.clone()))
///     .configure(postern_actix::health(postern));
/// # }
/// ```
pub fn health(postern: Postern) -> impl FnOnce(&mut web::ServiceConfig) {
    use postern_core::rest::{Probe, health_response};
    move |cfg| {
        for (path, probe) in [("/healthz", Probe::Live), ("/readyz", Probe::Ready)] {
            let postern = postern.clone();
            cfg.route(
                path,
                web::get().to(move || {
                    let postern = postern.clone();
                    async move { convert::to_actix_response(health_response(&postern, probe).await) }
                }),
            );
        }
    }
}

/// Mounts the API under each of `prefixes`.
pub fn configure_at(
    postern: Postern,
    prefixes: &[&str],
) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    let prefixes: Vec<String> = prefixes.iter().map(|p| (*p).to_owned()).collect();
    move |cfg| {
        for prefix in prefixes {
            cfg.service(scope(&prefix, postern.clone()));
        }
    }
}

struct Mount {
    postern: Postern,
    prefix: String,
}

/// The API as one actix [`Scope`](actix_web::Scope) under `prefix`.
pub fn scope(prefix: &str, postern: Postern) -> actix_web::Scope {
    let prefix = prefix.trim_end_matches('/').to_owned();
    web::scope(&prefix)
        .app_data(web::Data::new(Mount { postern, prefix }))
        .default_service(web::to(serve))
}

async fn serve(req: HttpRequest, payload: web::Payload, mount: web::Data<Mount>) -> HttpResponse {
    let body = match payload.to_bytes_limited(MAX_BODY_BYTES).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return HttpResponse::BadRequest().body("Invalid request body"),
        Err(_) => {
            return convert::to_actix_response(payload_too_large(&convert::to_core_headers(
                req.headers(),
            )));
        }
    };
    let path = req
        .path()
        .strip_prefix(mount.prefix.as_str())
        .unwrap_or("/");
    let path = if path.is_empty() { "/" } else { path };
    let relative = match req.query_string() {
        "" => path.to_owned(),
        q => format!("{path}?{q}"),
    };
    let mut core_req = match convert::to_core_request(&req, &relative, body) {
        Ok(r) => r,
        Err(_) => return HttpResponse::BadRequest().body("Invalid request URI"),
    };
    core_req
        .extensions_mut()
        .insert(ApiPrefix(mount.prefix.clone()));
    if let Some(addr) = req.peer_addr() {
        core_req.extensions_mut().insert(PeerAddr(addr));
    }
    convert::to_actix_response(mount.postern.handle(core_req).await)
}

/// A rejected extraction: Stack's error response, ready to send.
pub struct Rejection(http::Response<Bytes>);

impl Rejection {
    fn new(err: &Error, headers: &http::HeaderMap) -> Self {
        Rejection(error_response(err, headers))
    }
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Rejection").field(&self.0.status()).finish()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request rejected with status {}", self.0.status())
    }
}

impl ResponseError for Rejection {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::from_u16(self.0.status().as_u16())
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut copy = http::Response::new(self.0.body().clone());
        *copy.status_mut() = self.0.status();
        *copy.headers_mut() = self.0.headers().clone();
        convert::to_actix_response(copy)
    }
}

type Extraction<T> = Pin<Box<dyn Future<Output = Result<T, Rejection>>>>;

/// Runs `f` with the app's `Postern` and the request headers, off the request borrow;
/// failures are rendered by `render` (the API's own status, or 401 for API-key routes).
fn extract<T: 'static, F, Fut>(req: &HttpRequest, f: F) -> Extraction<T>
where
    F: FnOnce(Postern, http::HeaderMap) -> Fut + 'static,
    Fut: Future<Output = Result<T, Error>> + 'static,
{
    extract_rendered(req, f, error_response)
}

fn extract_rendered<T: 'static, F, Fut>(
    req: &HttpRequest,
    f: F,
    render: fn(&Error, &http::HeaderMap) -> http::Response<Bytes>,
) -> Extraction<T>
where
    F: FnOnce(Postern, http::HeaderMap) -> Fut + 'static,
    Fut: Future<Output = Result<T, Error>> + 'static,
{
    let postern = req
        .app_data::<web::Data<Postern>>()
        .map(|d| d.get_ref().clone());
    let headers = convert::to_core_headers(req.headers());
    Box::pin(async move {
        let Some(postern) = postern else {
            let err = Error::Internal("web::Data<Postern> is not registered on the app".into());
            return Err(Rejection::new(&err, &headers));
        };
        f(postern, headers.clone())
            .await
            .map_err(|e| Rejection(render(&e, &headers)))
    })
}

/// A request from a signed-in user (access token in `x-stack-access-token` or
/// `Authorization: Bearer`); otherwise Stack's error (`USER_AUTHENTICATION_REQUIRED`,
/// `ACCESS_TOKEN_EXPIRED`, ...). `auth.user` is `Some`.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Auth);

/// Like [`CurrentUser`], but a request without a token is `None`; an invalid token is
/// still rejected.
#[derive(Debug, Clone)]
pub struct OptionalUser(pub Option<Auth>);

/// A request with server or admin access (`x-stack-access-type: server` and a valid secret
/// server key, or admin).
#[derive(Debug, Clone)]
pub struct ServerAccess(pub Auth);

impl FromRequest for CurrentUser {
    type Error = Rejection;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, |p, h| async move {
            p.require_user(&h).await.map(CurrentUser)
        })
    }
}

impl FromRequest for OptionalUser {
    type Error = Rejection;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, |p, h| async move {
            p.authenticate_app_request(&h)
                .await
                .map(|a| OptionalUser(a.filter(|a| a.user.is_some())))
        })
    }
}

impl FromRequest for ServerAccess {
    type Error = Rejection;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, |p, h| async move {
            p.require_server(&h).await.map(ServerAccess)
        })
    }
}

/// A request carrying a valid user API key, in the `x-stack-api-key` header or the header
/// named by `web::Data<ApiKeyHeader>` app data. Rejects with 401 and Stack's error body
/// (`API_KEY_NOT_FOUND`, `API_KEY_REVOKED`, `API_KEY_EXPIRED`, `WRONG_API_KEY_TYPE`).
#[derive(Debug, Clone)]
pub struct ApiKeyUser(pub ApiKeyUserAuth);

impl FromRequest for ApiKeyUser {
    type Error = Rejection;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = req
            .app_data::<web::Data<ApiKeyHeader>>()
            .map(|h| h.get_ref().clone())
            .unwrap_or_default();
        extract_rendered(
            req,
            move |p, h| async move { p.require_api_key_user(&h, &header.0).await.map(ApiKeyUser) },
            unauthorized_response,
        )
    }
}

/// A request carrying a valid team API key (header as for [`ApiKeyUser`]). Rejects with 401
/// and Stack's error body.
#[derive(Debug, Clone)]
pub struct ApiKeyTeam(pub ApiKeyTeamAuth);

impl FromRequest for ApiKeyTeam {
    type Error = Rejection;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = req
            .app_data::<web::Data<ApiKeyHeader>>()
            .map(|h| h.get_ref().clone())
            .unwrap_or_default();
        extract_rendered(
            req,
            move |p, h| async move { p.require_api_key_team(&h, &header.0).await.map(ApiKeyTeam) },
            unauthorized_response,
        )
    }
}

/// A signed-in user holding the [`RequiredPermission`] registered as app data on the
/// route's resource or scope (`web::Data::new(RequiredPermission::project("billing"))`).
/// Rejects with Stack's error body; without the app data the request is refused with a
/// 500, so a forgotten registration never lets anyone in.
#[derive(Debug, Clone)]
pub struct Permitted(pub Auth);

impl FromRequest for Permitted {
    type Error = Rejection;
    type Future = Extraction<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let required = req
            .app_data::<web::Data<RequiredPermission>>()
            .map(|r| r.get_ref().clone());
        extract_rendered(
            req,
            move |p, h| async move {
                let required = required.ok_or_else(|| {
                    Error::Internal("no RequiredPermission app data on this route".into())
                })?;
                p.require_permission(&h, &required).await.map(Permitted)
            },
            error_response,
        )
    }
}
