//! HTTP harness: a Postern behind the axum router, driven in-process with `oneshot`.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use axum::Router;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use postern_core::storage::Store;
use postern_core::{PasswordParams, Postern, Project, ProjectConfig, ProjectKeys};
use serde_json::Value;
use tower::ServiceExt;

pub const PUBLIC_URL: &str = "http://localhost:8102";
pub const SECRET: &str = "test-server-secret-0123456789abcdef";

pub async fn sqlite_store() -> Arc<dyn Store> {
    Arc::new(
        postern_storage_sqlite::SqliteStore::memory()
            .await
            .expect("sqlite memory store"),
    )
}

pub async fn postgres_store() -> Arc<dyn Store> {
    let url = postern_storage_postgres::testing::fresh_database_url().await;
    Arc::new(
        postern_storage_postgres::PostgresStore::connect(&url)
            .await
            .expect("postgres store"),
    )
}

pub struct H {
    pub app: Router,
    pub postern: Postern,
    pub project: Project,
    pub keys: ProjectKeys,
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// Asserts a known error: status, code, the X-Stack-Known-Error header.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        let v = self.json();
        assert_eq!(v["code"], code, "body: {v}");
        assert_eq!(self.header("x-stack-known-error"), Some(code));
        assert!(v["error"].is_string());
        v
    }
    #[track_caller]
    pub fn assert_ok(&self) -> Value {
        assert!(self.status.is_success(), "{}: {}", self.status, self.text());
        self.json()
    }
}

pub async fn harness(store: Arc<dyn Store>) -> H {
    harness_with(store, ProjectConfig::default()).await
}

pub async fn harness_with(store: Arc<dyn Store>, config: ProjectConfig) -> H {
    let postern = Postern::builder(store)
        .secret(SECRET)
        .public_url(PUBLIC_URL)
        .password_params(PasswordParams::insecure_fast())
        .build()
        .expect("postern");
    let (project, keys) = postern
        .projects()
        .create(None, "Test project", config)
        .await
        .expect("project");
    let app = postern_axum::router(postern.clone());
    H {
        app,
        postern,
        project,
        keys,
    }
}

pub type Headers = Vec<(String, String)>;

impl H {
    pub fn client(&self) -> Headers {
        vec![
            ("x-stack-access-type".into(), "client".into()),
            ("x-stack-project-id".into(), self.project.id.clone()),
            (
                "x-stack-publishable-client-key".into(),
                self.keys.publishable_client_key.clone(),
            ),
        ]
    }
    pub fn server(&self) -> Headers {
        vec![
            ("x-stack-access-type".into(), "server".into()),
            ("x-stack-project-id".into(), self.project.id.clone()),
            (
                "x-stack-secret-server-key".into(),
                self.keys.secret_server_key.clone(),
            ),
        ]
    }
    pub fn admin(&self) -> Headers {
        vec![
            ("x-stack-access-type".into(), "admin".into()),
            ("x-stack-project-id".into(), self.project.id.clone()),
            (
                "x-stack-super-secret-admin-key".into(),
                self.keys.super_secret_admin_key.clone(),
            ),
        ]
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &Headers,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(k.as_str(), v.as_str());
        }
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        let req = b.body(axum::body::Body::from(body)).expect("request");
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let (parts, body) = res.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &Headers,
        body: Option<Value>,
    ) -> Resp {
        match body {
            Some(v) => {
                self.raw(
                    method,
                    path,
                    headers,
                    Some("application/json"),
                    Bytes::from(v.to_string()),
                )
                .await
            }
            None => self.raw(method, path, headers, None, Bytes::new()).await,
        }
    }

    pub async fn get(&self, path: &str, headers: &Headers) -> Resp {
        self.call(Method::GET, path, headers, None).await
    }
    pub async fn post(&self, path: &str, headers: &Headers, body: Value) -> Resp {
        self.call(Method::POST, path, headers, Some(body)).await
    }
    pub async fn patch(&self, path: &str, headers: &Headers, body: Value) -> Resp {
        self.call(Method::PATCH, path, headers, Some(body)).await
    }
    pub async fn delete(&self, path: &str, headers: &Headers) -> Resp {
        self.call(Method::DELETE, path, headers, None).await
    }

    /// Signs up through the API; returns (user_id, access_token, refresh_token).
    pub async fn sign_up(&self, email: &str, password: &str) -> (String, String, String) {
        let r = self
            .post(
                "/api/v1/auth/password/sign-up",
                &self.client(),
                serde_json::json!({"email": email, "password": password}),
            )
            .await;
        let v = r.assert_ok();
        (
            v["user_id"].as_str().unwrap().to_owned(),
            v["access_token"].as_str().unwrap().to_owned(),
            v["refresh_token"].as_str().unwrap().to_owned(),
        )
    }
}

/// Adds a header to a header list.
pub fn with(mut h: Headers, k: &str, v: &str) -> Headers {
    h.push((k.to_owned(), v.to_owned()));
    h
}
