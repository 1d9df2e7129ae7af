//! The axum and actix adapters answer the same request with byte-identical bodies, the same
//! status and the same Stack headers: for successes and for each error class. Both serve
//! one shared `Postern`, so any difference can only come from an adapter.

#[macro_use]
mod support;

use http::{Method, Request};
use serde_json::json;
use support::*;

/// Name, method, path, headers, content type, body.
type Case<'a> = (&'a str, Method, String, Headers, Option<&'a str>, String);

async fn compare(env: Env) {
    let h = harness(&env).await;
    let axum_t = AxumTransport(postern_axum::router(h.postern.clone()));
    let actix_t = ActixTransport::app(h.postern.clone(), |_| {}).await;
    let (user_id, at, rt) = h.sign_up("same@example.com", "password123").await;

    let json_ct = Some("application/json");
    let form_ct = Some("application/x-www-form-urlencoded");
    let cases: Vec<Case> = vec![
        (
            "root, no auth",
            Method::GET,
            "/api/v1".into(),
            vec![],
            None,
            String::new(),
        ),
        (
            "root, server + token",
            Method::GET,
            "/api/v1/".into(),
            with(h.server(), "x-stack-access-token", &at),
            None,
            String::new(),
        ),
        (
            "latest root",
            Method::GET,
            "/api/latest".into(),
            vec![],
            None,
            String::new(),
        ),
        (
            "project",
            Method::GET,
            "/api/v1/projects/current".into(),
            h.client(),
            None,
            String::new(),
        ),
        (
            "jwks",
            Method::GET,
            format!(
                "/api/v1/projects/{}/.well-known/jwks.json?include_anonymous=true",
                h.project.id
            ),
            vec![],
            None,
            String::new(),
        ),
        (
            "me, client",
            Method::GET,
            "/api/v1/users/me".into(),
            with(h.client(), "x-stack-access-token", &at),
            None,
            String::new(),
        ),
        (
            "me, server",
            Method::GET,
            "/api/v1/users/me".into(),
            with(h.server(), "x-stack-access-token", &at),
            None,
            String::new(),
        ),
        (
            "user list",
            Method::GET,
            "/api/v1/users?limit=5".into(),
            h.server(),
            None,
            String::new(),
        ),
        (
            "user by id",
            Method::GET,
            format!("/api/v1/users/{user_id}"),
            h.server(),
            None,
            String::new(),
        ),
        (
            "patch no-op",
            Method::PATCH,
            "/api/v1/users/me".into(),
            with(h.client(), "x-stack-access-token", &at),
            json_ct,
            "{}".into(),
        ),
        (
            "ACCESS_TYPE_REQUIRED",
            Method::GET,
            "/api/v1/users/me".into(),
            vec![],
            None,
            String::new(),
        ),
        (
            "INVALID_ACCESS_TYPE",
            Method::GET,
            "/api/v1/users/me".into(),
            vec![("x-stack-access-type".into(), "root".into())],
            None,
            String::new(),
        ),
        (
            "CURRENT_PROJECT_NOT_FOUND",
            Method::GET,
            "/api/v1/users/me".into(),
            vec![
                ("x-stack-access-type".into(), "client".into()),
                ("x-stack-project-id".into(), "nope".into()),
            ],
            None,
            String::new(),
        ),
        (
            "INVALID_SECRET_SERVER_KEY",
            Method::GET,
            "/api/v1/users".into(),
            {
                let mut s = h.server();
                s[2].1 = "ssk_x".into();
                s
            },
            None,
            String::new(),
        ),
        (
            "INSUFFICIENT_ACCESS_TYPE",
            Method::GET,
            "/api/v1/users".into(),
            h.client(),
            None,
            String::new(),
        ),
        (
            "UNPARSABLE_ACCESS_TOKEN",
            Method::GET,
            "/api/v1/users/me".into(),
            with(h.client(), "x-stack-access-token", "junk"),
            None,
            String::new(),
        ),
        (
            "CANNOT_GET_OWN_USER_WITHOUT_USER",
            Method::GET,
            "/api/v1/users/me".into(),
            h.client(),
            None,
            String::new(),
        ),
        (
            "SCHEMA_ERROR",
            Method::POST,
            "/api/v1/auth/password/sign-in".into(),
            h.client(),
            json_ct,
            json!({"email": "a@b.co", "password": "x", "extra": 1}).to_string(),
        ),
        (
            "BODY_PARSING_ERROR",
            Method::POST,
            "/api/v1/auth/password/sign-in".into(),
            h.client(),
            json_ct,
            "{oops".into(),
        ),
        (
            "EMAIL_PASSWORD_MISMATCH",
            Method::POST,
            "/api/v1/auth/password/sign-in".into(),
            h.client(),
            json_ct,
            json!({"email": "same@example.com", "password": "wrong-password"}).to_string(),
        ),
        (
            "USER_EMAIL_ALREADY_EXISTS",
            Method::POST,
            "/api/v1/auth/password/sign-up".into(),
            h.client(),
            json_ct,
            json!({"email": "same@example.com", "password": "password123"}).to_string(),
        ),
        (
            "USER_NOT_FOUND",
            Method::GET,
            format!("/api/v1/users/{}", uuid::Uuid::nil()),
            h.server(),
            None,
            String::new(),
        ),
        (
            "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED",
            Method::POST,
            "/api/v1/auth/sessions/current/refresh".into(),
            with(h.client(), "x-stack-refresh-token", &"0".repeat(45)),
            json_ct,
            "{}".into(),
        ),
        (
            "plain 400",
            Method::DELETE,
            "/api/v1/users/me".into(),
            with(h.client(), "x-stack-access-token", &at),
            None,
            String::new(),
        ),
        (
            "plain 404 (jwks)",
            Method::GET,
            "/api/v1/projects/nope/.well-known/jwks.json".into(),
            vec![],
            None,
            String::new(),
        ),
        (
            "override status",
            Method::GET,
            "/api/v1/users/me".into(),
            with(h.client(), "x-stack-override-error-status", "true"),
            None,
            String::new(),
        ),
        (
            "hexclave dialect",
            Method::GET,
            "/api/v1/users/me".into(),
            h.client()
                .into_iter()
                .map(|(k, v)| (k.replace("x-stack-", "x-hexclave-"), v))
                .collect(),
            None,
            String::new(),
        ),
        (
            "oauth refresh, bad client",
            Method::POST,
            "/api/v1/auth/oauth/token".into(),
            vec![],
            form_ct,
            format!("grant_type=refresh_token&refresh_token={rt}&client_id=nope&client_secret=x"),
        ),
        (
            "unknown route",
            Method::GET,
            "/api/v1/nope".into(),
            vec![("host".into(), "localhost".into())],
            None,
            String::new(),
        ),
        (
            "405",
            Method::PUT,
            "/api/v1/users/me".into(),
            vec![],
            None,
            String::new(),
        ),
        (
            "413",
            Method::POST,
            "/api/v1/auth/password/sign-in".into(),
            h.client(),
            json_ct,
            "x".repeat(postern_core::rest::MAX_BODY_BYTES + 1),
        ),
        (
            "preflight",
            Method::OPTIONS,
            "/api/v1/users/me".into(),
            vec![],
            None,
            String::new(),
        ),
    ];
    for (name, method, path, headers, ct, body) in cases {
        let build = || {
            let mut b = Request::builder().method(method.clone()).uri(path.as_str());
            for (k, v) in &headers {
                b = b.header(k.as_str(), v.as_str());
            }
            if let Some(ct) = ct {
                b = b.header("content-type", ct);
            }
            b.body(bytes::Bytes::from(body.clone())).unwrap()
        };
        let a = axum_t.send(build()).await;
        let b = actix_t.send(build()).await;
        assert_eq!(a.status, b.status, "{name}: status");
        assert_eq!(a.body, b.body, "{name}: body bytes");
        let stack = |r: &Resp| {
            let mut v: Vec<(String, String)> = r
                .headers
                .iter()
                .filter(|(k, _)| {
                    let k = k.as_str();
                    (k.starts_with("x-stack-")
                        || k.starts_with("x-hexclave-")
                        || k.starts_with("access-control-"))
                        && !k.ends_with("request-id")
                        || matches!(
                            k,
                            "content-type" | "cache-control" | "vary" | "location" | "pragma"
                        )
                })
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        v.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(stack(&a), stack(&b), "{name}: Stack headers");
        assert!(
            a.headers.contains_key("x-stack-request-id")
                && b.headers.contains_key("x-stack-request-id"),
            "{name}: both carry a request id"
        );
    }
}

contract_module!(sqlite, Axum, sqlite_store, #[actix_web::test], compare);
contract_module!(postgres, Axum, postgres_store, #[actix_web::test], compare);

/// Both adapters mounted under a prefix of the app's choosing: routes, messages quoting the
/// full path, and nothing left at the default prefix.
async fn custom_prefix(env: Env) {
    let h = harness(&env).await;
    let prefix = "/identity/v1";
    let axum_t = AxumTransport(postern_axum::router_at(h.postern.clone(), &[prefix]));
    let postern = h.postern.clone();
    let actix_t = ActixTransport(
        actix_web::test::init_service(
            actix_web::App::new().configure(postern_actix::configure_at(postern, &[prefix])),
        )
        .await,
    );
    let transports: [&dyn Transport; 2] = [&axum_t, &actix_t];
    for t in transports {
        let get = |path: &str| {
            Request::builder()
                .uri(path)
                .body(bytes::Bytes::new())
                .unwrap()
        };
        let r = t.send(get(prefix)).await;
        assert_eq!(r.status, 200);
        assert!(r.text().contains("Authentication: None"));
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(format!("{prefix}/auth/password/sign-in"));
        for (k, v) in h.client() {
            b = b.header(k, v);
        }
        let body =
            json!({"email": "x@example.com", "password": "password1", "nope": 1}).to_string();
        let r = t
            .send(
                b.header("content-type", "application/json")
                    .body(body.into())
                    .unwrap(),
            )
            .await;
        let v = r.assert_error(400, "SCHEMA_ERROR");
        assert!(
            v["error"].as_str().unwrap().starts_with(
                "Request validation failed on POST /identity/v1/auth/password/sign-in:"
            ),
            "{v}"
        );
        assert_eq!(
            t.send(get("/api/v1")).await.status,
            404,
            "the default prefix is not mounted"
        );
    }
}

contract_module!(prefix_sqlite, Axum, sqlite_store, #[actix_web::test], custom_prefix);
contract_module!(prefix_postgres, Axum, postgres_store, #[actix_web::test], custom_prefix);
