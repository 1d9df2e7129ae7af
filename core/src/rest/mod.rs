//! The REST API over `http` types: route table, authentication, validation, handlers,
//! and the one error renderer. Adapters only convert requests and responses.

mod access;
mod handlers;
mod input;
mod openapi;
mod response;
mod routes;

use handlers::{
    api_keys, auth, cli, contact_channels, internal, invitations, oauth, passkeys, permissions,
    projects, sessions, step_up, teams, users, vault, webhooks,
};

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

/// One request as the handlers see it.
pub(crate) struct Rq<'a> {
    pub(crate) p: &'a Postern,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) raw_query: Option<String>,
    pub(crate) body: input::Body,
    pub(crate) auth: Option<Auth>,
    pub(crate) prefix: &'a str,
}

impl Rq<'_> {
    /// The request's authentication. The registry has checked the route's access rule
    /// before the handler runs, so only a public route can see `ACCESS_TYPE_REQUIRED` here.
    pub(crate) fn auth(&self) -> Result<&Auth, Error> {
        self.auth.as_ref().ok_or(Error::AccessTypeRequired)
    }

    /// A path parameter, percent-decoded (empty when the route has none of that name).
    pub(crate) fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

impl Postern {
    /// Answers one REST request. The URI path is relative to the API root (for example
    /// `/users/me`); an [`ApiPrefix`] extension, when present, says where the API is
    /// mounted so that messages can quote the full path.
    pub async fn handle(&self, request: Request<Bytes>) -> Response<Bytes> {
        handle(self, request).await
    }
}

async fn handle(p: &Postern, req: Request<Bytes>) -> Response<Bytes> {
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
            country_code: country_code(p, &parts),
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

/// The client's country as a trusted proxy (a CDN) states it in `CF-IPCountry` or
/// `X-Vercel-IP-Country`: two ASCII letters, upper-cased; `XX` (unknown) and anything else
/// count as unknown. From a peer that is not a trusted proxy the headers are ignored, as a
/// client could claim any country.
fn country_code(p: &Postern, parts: &http::request::Parts) -> Option<String> {
    let peer = parts.extensions.get::<PeerAddr>().map(|a| a.0.ip())?;
    if !crate::net::is_trusted_proxy(peer, &p.inner.trusted_proxies) {
        return None;
    }
    ["cf-ipcountry", "x-vercel-ip-country"]
        .iter()
        .filter_map(|h| parts.headers.get(*h)?.to_str().ok())
        .map(|v| v.trim().to_ascii_uppercase())
        .find(|v| v.len() == 2 && v.bytes().all(|b| b.is_ascii_uppercase()) && v != "XX")
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
        Some(pr) => (
            pr.id.as_str(),
            class.limit_in(&pr.config.security.rate_limits),
        ),
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
    let Ok(matched) = routes::router().at(path) else {
        return Ok(not_found(parts, prefix));
    };
    let Some(route) = matched.value.get(&parts.method) else {
        return Ok(response::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
        ));
    };
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
        None => route.access == routes::Access::Public,
    };
    if let Some(class) = route.limit
        && client
    {
        take_ip_token(p, class, auth.as_ref().map(|a| &a.project), ip)?;
    }
    let rq = Rq {
        p,
        headers: &parts.headers,
        params,
        query: input::parse_query(parts.uri.query()),
        raw_query: parts.uri.query().map(str::to_owned),
        body,
        auth,
        prefix,
    };
    route.access.check(&rq)?;
    (route.handler)(rq).await
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

/// A health probe an orchestrator asks for ([`health_response`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Liveness (`/healthz`): the process answers; no dependency is checked, so a database
    /// outage does not get the process restarted.
    Live,
    /// Readiness (`/readyz`): the database answers within [`READY_TIMEOUT`].
    Ready,
}

/// How long readiness waits for the database before answering `503`.
pub const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The answer to a health probe, as JSON: `200 {"status":"ok"}` for liveness; for readiness
/// `200 {"status":"ready"}`, or `503 {"status":"unavailable"}` with `Retry-After: 5` when the
/// database does not answer in time (the reason is logged, not shown). Adapters mount it at
/// paths of the app's choosing, outside the API prefix.
///
/// ```
/// # async fn f(postern: postern_core::Postern) {
/// use postern_core::rest::{Probe, health_response};
/// let r = health_response(&postern, Probe::Ready).await;
/// assert!(r.status() == 200 || r.status() == 503);
/// # }
/// ```
pub async fn health_response(postern: &Postern, probe: Probe) -> Response<Bytes> {
    let (status, body) = match probe {
        Probe::Live => (StatusCode::OK, r#"{"status":"ok"}"#),
        Probe::Ready => match tokio::time::timeout(READY_TIMEOUT, postern.store().ping()).await {
            Ok(Ok(())) => (StatusCode::OK, r#"{"status":"ready"}"#),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: the database did not answer");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"status":"unavailable"}"#,
                )
            }
            Err(_) => {
                tracing::warn!("readiness: the database did not answer in time");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"status":"unavailable"}"#,
                )
            }
        },
    };
    let mut r = Response::new(Bytes::from_static(body.as_bytes()));
    *r.status_mut() = status;
    let headers = r.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("5"),
        );
    }
    r
}
