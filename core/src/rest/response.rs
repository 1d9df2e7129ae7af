//! The one place where responses, and errors in particular, are rendered.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use serde::Serialize;
use serde_json::Value;

use crate::error::Error;

const JSON: &str = "application/json; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// The CORS header set of §3.5 (both header families are allowed).
const ALLOW_HEADERS: &str = "content-type, authorization, x-stack-project-id, x-stack-branch-id, x-stack-override-error-status, x-stack-random-nonce, x-stack-client-version, x-stack-disable-artificial-development-delay, x-stack-access-type, x-stack-publishable-client-key, x-stack-secret-server-key, x-stack-super-secret-admin-key, x-stack-admin-access-token, x-stack-refresh-token, x-stack-access-token, x-stack-allow-anonymous-user, x-hexclave-project-id, x-hexclave-branch-id, x-hexclave-override-error-status, x-hexclave-random-nonce, x-hexclave-client-version, x-hexclave-access-type, x-hexclave-publishable-client-key, x-hexclave-secret-server-key, x-hexclave-super-secret-admin-key, x-hexclave-admin-access-token, x-hexclave-refresh-token, x-hexclave-access-token, x-hexclave-allow-anonymous-user, baggage, sentry-trace, x-vercel-protection-bypass, ngrok-skip-browser-warning, x-postern-step-up-token";

/// A JSON response (compact).
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Bytes> {
    match serde_json::to_vec(body) {
        Ok(bytes) => with_type(status, JSON, bytes.into()),
        Err(e) => internal_body(&format!("serialising a response: {e}"), ""),
    }
}

/// A typed JSON reply: the row of a route with `reply: T` (or `created: T`) makes its
/// handler return `Json<T>`, so the documented schema and the body cannot drift apart.
#[derive(Debug, Clone)]
pub(crate) struct Json<T> {
    status: StatusCode,
    body: T,
}

impl<T: Serialize> Json<T> {
    /// `200` with `body`.
    pub(crate) fn ok(body: T) -> Self {
        Json {
            status: StatusCode::OK,
            body,
        }
    }

    /// `201` with `body`.
    pub(crate) fn created(body: T) -> Self {
        Json {
            status: StatusCode::CREATED,
            body,
        }
    }

    /// The response.
    pub(crate) fn into_response(self) -> Response<Bytes> {
        json(self.status, &self.body)
    }
}

/// A `text/plain` response.
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response<Bytes> {
    with_type(status, TEXT, Bytes::from(body.into()))
}

fn with_type(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Bytes> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

#[derive(Serialize)]
struct KnownErrorBody<'a> {
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Value>,
    error: String,
}

/// What the renderer needs to know about the request.
pub(crate) struct ErrorContext<'a> {
    /// `GET`, `POST`...
    pub(crate) method: &'a str,
    /// The path as requested, with the mount prefix.
    pub(crate) full_path: &'a str,
    /// The request id (quoted in internal errors).
    pub(crate) request_id: &'a str,
}

/// Renders any error: known errors as pretty JSON `{code, details?, error}` with
/// `x-stack-known-error` (and the Hexclave spelling), plain errors as text, internal errors
/// as a generic 500 that reveals nothing (the cause is logged with the request id).
pub(crate) fn render(err: &Error, ctx: &ErrorContext<'_>) -> Response<Bytes> {
    match err {
        Error::Internal(cause) => internal_body(cause, ctx.request_id),
        Error::Refused(refusal) => text(refusal.status(), refusal.to_string()),
        Error::TooManyRequests { retry_after_secs } => {
            let mut r = json(
                StatusCode::TOO_MANY_REQUESTS,
                &serde_json::json!({ "message": err.to_string(), "retry_after_seconds": retry_after_secs }),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            r
        }
        known => {
            let code = known.code().unwrap_or("UNKNOWN");
            let (error, details) = match known {
                Error::Schema(lines) => {
                    let msg = format!(
                        "Request validation failed on {} {}:\n{}",
                        ctx.method,
                        ctx.full_path,
                        lines
                            .iter()
                            .map(|l| format!("  - {l}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    );
                    (msg.clone(), Some(serde_json::json!({ "message": msg })))
                }
                other => (other.to_string(), other.details()),
            };
            let body = KnownErrorBody {
                code,
                details,
                error,
            };
            let bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
            let mut r = with_type(known.http_status(), JSON, bytes.into());
            if let Ok(v) = HeaderValue::from_str(code) {
                r.headers_mut().insert("x-stack-known-error", v);
            }
            r
        }
    }
}

fn internal_body(cause: &str, request_id: &str) -> Response<Bytes> {
    tracing::error!(request_id, cause, "internal error");
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!(
            "Something went wrong. Please make sure the data you entered is correct.\n\nRequest ID: {request_id}"
        ),
    )
}

/// Adds the headers every API response carries: request id, no-store caching (unless the
/// handler chose a cache policy), CORS; and applies `x-stack-override-error-status`.
pub(crate) fn finish(
    mut r: Response<Bytes>,
    request_headers: &HeaderMap,
    request_id: &str,
) -> Response<Bytes> {
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-stack-request-id", v);
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, max-age=0"),
        );
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    h.insert(header::VARY, HeaderValue::from_static(ALLOW_HEADERS));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "content-type, retry-after, x-stack-actual-status, x-stack-known-error, x-hexclave-actual-status, x-hexclave-known-error",
        ),
    );
    let status = r.status();
    let override_requested = request_headers.contains_key("x-stack-override-error-status")
        || request_headers.contains_key("x-hexclave-override-error-status");
    if override_requested && status.is_client_error() {
        r.headers_mut()
            .insert("x-stack-actual-status", HeaderValue::from(status.as_u16()));
        *r.status_mut() = StatusCode::OK;
    }
    if hexclave_dialect(request_headers) {
        for (stack, hexclave) in [
            ("x-stack-known-error", "x-hexclave-known-error"),
            ("x-stack-actual-status", "x-hexclave-actual-status"),
            ("x-stack-request-id", "x-hexclave-request-id"),
        ] {
            if let Some(v) = r.headers().get(stack).cloned() {
                r.headers_mut().insert(hexclave, v);
            }
        }
    }
    r
}

/// Whether the request speaks the Hexclave dialect (any `x-hexclave-*` header, as the
/// newest official SDK sends). Such requests also get the `x-hexclave-*` spellings of the
/// Stack response headers; others get exactly Stack's headers (Stack's own e2e snapshots
/// list every response header, so an extra one is a visible difference).
fn hexclave_dialect(request_headers: &HeaderMap) -> bool {
    request_headers
        .keys()
        .any(|k| k.as_str().starts_with("x-hexclave-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_render_as_plain_text() {
        let e = crate::error::Error::Refused(crate::error::Refusal::ClientMayOnlyListOwnSessions);
        let r = crate::rest::error_response(&e, &http::HeaderMap::new());
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            r.headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("text/plain; charset=utf-8")
        );
        assert!(r.headers().get("x-stack-known-error").is_none());
        assert_eq!(
            r.body().as_ref(),
            b"Client can only list sessions for their own user."
        );
    }

    use crate::error::PasswordRequirement;

    fn ctx() -> ErrorContext<'static> {
        ErrorContext {
            method: "POST",
            full_path: "/api/v1/auth/password/sign-up",
            request_id: "r1",
        }
    }

    #[test]
    fn known_error_shape() {
        let e = Error::PasswordRequirementsNotMet(PasswordRequirement::TooShort { min_length: 8 });
        let r = render(&e, &ctx());
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()["x-stack-known-error"], "PASSWORD_TOO_SHORT");
        let body = std::str::from_utf8(r.body()).unwrap();
        assert_eq!(
            body,
            "{\n  \"code\": \"PASSWORD_TOO_SHORT\",\n  \"details\": {\n    \"min_length\": 8\n  },\n  \"error\": \"Password too short. Minimum length is 8.\"\n}"
        );
        let r = render(&Error::EmailPasswordMismatch, &ctx());
        let v: Value = serde_json::from_slice(r.body()).unwrap();
        assert!(v.get("details").is_none());
    }

    #[test]
    fn schema_error_quotes_method_and_path() {
        let r = render(
            &Error::Schema(vec!["body.email must be defined".into()]),
            &ctx(),
        );
        let v: Value = serde_json::from_slice(r.body()).unwrap();
        let msg = "Request validation failed on POST /api/v1/auth/password/sign-up:\n  - body.email must be defined";
        assert_eq!(v["error"], msg);
        assert_eq!(v["details"]["message"], msg);
    }

    #[test]
    fn plain_and_internal() {
        let r = render(
            &Error::Refused(crate::error::Refusal::PasswordAlreadySet),
            &ctx(),
        );
        assert_eq!(r.status(), 400);
        assert!(r.headers().get("x-stack-known-error").is_none());
        assert_eq!(r.body().as_ref(), b"User already has a password set.");
        let r = render(&Error::Internal("db password=hunter2".into()), &ctx());
        assert_eq!(r.status(), 500);
        assert!(!std::str::from_utf8(r.body()).unwrap().contains("hunter2"));
    }

    #[test]
    fn override_status() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-stack-override-error-status",
            HeaderValue::from_static("true"),
        );
        let r = finish(render(&Error::UserNotFound, &ctx()), &h, "r");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-stack-actual-status"], "404");
        let r = finish(render(&Error::Internal("x".into()), &ctx()), &h, "r");
        assert_eq!(r.status(), 500, "5xx is never rewritten");
    }

    #[test]
    fn hexclave_headers_only_for_hexclave_requests() {
        let r = finish(render(&Error::UserNotFound, &ctx()), &HeaderMap::new(), "r");
        assert_eq!(r.headers()["x-stack-known-error"], "USER_NOT_FOUND");
        assert!(
            r.headers()
                .keys()
                .all(|k| !k.as_str().starts_with("x-hexclave-"))
        );
        let mut h = HeaderMap::new();
        h.insert(
            "x-hexclave-override-error-status",
            HeaderValue::from_static("true"),
        );
        let r = finish(render(&Error::UserNotFound, &ctx()), &h, "r");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-hexclave-known-error"], "USER_NOT_FOUND");
        assert_eq!(r.headers()["x-hexclave-actual-status"], "404");
        assert_eq!(r.headers()["x-stack-actual-status"], "404");
    }
}
