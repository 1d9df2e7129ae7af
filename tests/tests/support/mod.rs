//! HTTP harness: a Postern behind the axum router, driven in-process with `oneshot`.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use axum::Router;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use postern_core::rest::ApiPrefix;
use postern_core::storage::Store;
use postern_core::{PasswordParams, Postern, Project, ProjectConfig, ProjectKeys};
use serde_json::Value;
use tower::ServiceExt;

pub const PUBLIC_URL: &str = "http://localhost:8102";

/// A request header the test transports turn into the peer address (and remove), the way
/// a real server's socket would give it: `x-test-peer: 203.0.113.7:4000`.
pub const TEST_PEER: &str = "x-test-peer";

/// Takes the [`TEST_PEER`] header off a request.
fn take_peer(headers: &mut http::HeaderMap) -> Option<std::net::SocketAddr> {
    headers
        .remove(TEST_PEER)
        .and_then(|v| v.to_str().ok().and_then(|s| s.parse().ok()))
}
pub const SECRET: &str = "test-server-secret-0123456789abcdef";

/// The instantiation of a scenario list for one way in and one database: a module of
/// tests named after the harness and the database (`axum_postgres::sign_up_...`).
#[macro_export]
macro_rules! contract_module {
    ($module:ident, $kind:ident, $store:ident, #[$attr:meta], $($name:ident),* $(,)?) => {
        mod $module {
            $(
                #[$attr]
                async fn $name() {
                    let env = super::support::Env {
                        store: super::support::$store().await,
                        kind: super::support::Kind::$kind,
                    };
                    super::$name(env).await;
                }
            )*
        }
    };
}

/// Every scenario through `Postern::handle`, the axum router and the actix app, each on
/// SQLite and on PostgreSQL.
#[macro_export]
macro_rules! contract_suite {
    ($($name:ident),* $(,)?) => {
        $crate::contract_module!(core_sqlite, Core, sqlite_store, #[tokio::test(flavor = "multi_thread", worker_threads = 2)], $($name),*);
        $crate::contract_module!(core_postgres, Core, postgres_store, #[tokio::test(flavor = "multi_thread", worker_threads = 2)], $($name),*);
        $crate::contract_module!(axum_sqlite, Axum, sqlite_store, #[tokio::test(flavor = "multi_thread", worker_threads = 2)], $($name),*);
        $crate::contract_module!(axum_postgres, Axum, postgres_store, #[tokio::test(flavor = "multi_thread", worker_threads = 2)], $($name),*);
        $crate::contract_module!(actix_sqlite, Actix, sqlite_store, #[actix_web::test], $($name),*);
        $crate::contract_module!(actix_postgres, Actix, postgres_store, #[actix_web::test], $($name),*);
    };
}

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

/// Sends one `http` request somewhere and returns the response.
#[async_trait::async_trait(?Send)]
pub trait Transport {
    async fn send(&self, req: Request<Bytes>) -> Resp;
}

/// Which way requests reach Postern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Postern::handle` directly (the prefix stripped as an adapter would).
    Core,
    /// The axum router, in-process (`tower::ServiceExt::oneshot`).
    Axum,
    /// The actix app, in-process (`actix_web::test`).
    Actix,
}

/// A database and a way in: what a scenario runs against.
pub struct Env {
    pub store: Arc<dyn Store>,
    pub kind: Kind,
}

/// `Postern::handle` as an adapter would call it: mounted at `/api/v1` and `/api/latest`.
pub struct CoreTransport(pub Postern);

#[async_trait::async_trait(?Send)]
impl Transport for CoreTransport {
    async fn send(&self, req: Request<Bytes>) -> Resp {
        let (mut parts, body) = req.into_parts();
        if let Some(peer) = take_peer(&mut parts.headers) {
            parts.extensions.insert(postern_core::net::PeerAddr(peer));
        }
        let path = parts.uri.path().to_owned();
        let Some(prefix) = ["/api/v1", "/api/latest"]
            .into_iter()
            .find(|p| path == *p || path.starts_with(&format!("{p}/")))
        else {
            return Resp {
                status: StatusCode::NOT_FOUND,
                headers: http::HeaderMap::new(),
                body: Bytes::new(),
            };
        };
        let rest = &path[prefix.len()..];
        let rest = if rest.is_empty() { "/" } else { rest };
        let uri = match parts.uri.query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_owned(),
        };
        parts.uri = uri.parse().expect("uri");
        parts.extensions.insert(ApiPrefix(prefix.to_owned()));
        let res = self.0.handle(Request::from_parts(parts, body)).await;
        let (parts, body) = res.into_parts();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

/// An axum router, in-process.
pub struct AxumTransport(pub Router);

#[async_trait::async_trait(?Send)]
impl Transport for AxumTransport {
    async fn send(&self, req: Request<Bytes>) -> Resp {
        let mut req = req;
        if let Some(peer) = take_peer(req.headers_mut()) {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        let res = self
            .0
            .clone()
            .oneshot(req.map(axum::body::Body::from))
            .await
            .expect("infallible");
        let (parts, body) = res.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

/// An actix app, in-process (needs the actix runtime: `#[actix_web::test]`).
pub struct ActixTransport<S>(pub S);

impl ActixTransport<()> {
    /// The app: `web::Data<Postern>` for the extractors, the API via `configure`, plus `extra`.
    pub async fn app(
        postern: Postern,
        extra: impl FnOnce(&mut actix_web::web::ServiceConfig) + 'static,
    ) -> ActixTransport<
        impl actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
            Error = actix_web::Error,
        >,
    > {
        let app = actix_web::App::new()
            .app_data(actix_web::web::Data::new(postern.clone()))
            .configure(extra)
            .configure(postern_actix::configure(postern));
        ActixTransport(actix_web::test::init_service(app).await)
    }
}

#[async_trait::async_trait(?Send)]
impl<S, B> Transport for ActixTransport<S>
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    async fn send(&self, req: Request<Bytes>) -> Resp {
        let (mut parts, body) = req.into_parts();
        let peer = take_peer(&mut parts.headers);
        let mut tr = actix_web::test::TestRequest::default()
            .method(actix_web::http::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap())
            .uri(&parts.uri.to_string());
        for (k, v) in parts.headers.iter() {
            tr = tr.append_header((k.as_str(), v.as_bytes()));
        }
        if let Some(peer) = peer {
            tr = tr.peer_addr(peer);
        }
        let res = actix_web::test::call_service(&self.0, tr.set_payload(body).to_request()).await;
        let status = StatusCode::from_u16(res.status().as_u16()).unwrap();
        let mut headers = http::HeaderMap::new();
        for (k, v) in res.headers().iter() {
            headers.append(
                http::HeaderName::from_bytes(k.as_str().as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
        let body = actix_web::test::read_body(res).await;
        Resp {
            status,
            headers,
            body,
        }
    }
}

pub struct H {
    pub transport: Box<dyn Transport>,
    pub postern: Postern,
    pub project: Project,
    pub keys: ProjectKeys,
    /// The SMTP sink Postern's mail goes to (harnesses made by [`harness_mail`]).
    pub sink: Option<postern_tests::smtp_sink::SmtpSink>,
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

pub async fn harness(env: &Env) -> H {
    harness_with(env, ProjectConfig::default()).await
}

/// A Postern over the env's store with a new project of this config, reached the env's way.
/// The current TOTP code of `secret` by Postern's clock, taken with at least 10 s left in
/// its 30-s step (the clock is moved to the next step otherwise): the server accepts the
/// current step only, so a code taken just before a step boundary would fail on a slow run.
/// The claims of a JWT (its payload, not verified): for asserting what a token says.
#[allow(dead_code)] // not every test file reads tokens
pub fn token_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON claims")
}

#[allow(dead_code)] // not every test file uses TOTP
pub fn totp_now(postern: &Postern, secret: &[u8]) -> String {
    let clock = postern.clock();
    let into_step = clock.now_millis().rem_euclid(30_000);
    if into_step > 20_000 {
        clock.advance_millis(30_000 - into_step);
    }
    postern_core::mfa::totp_code(secret, (clock.now_millis() / 1000) as u64)
}

pub async fn harness_with(env: &Env, config: ProjectConfig) -> H {
    build_harness(env, config, None).await
}

/// Like [`harness_with`], with Postern's mail going over SMTP to a sink (`h.sink`).
pub async fn harness_mail(env: &Env, config: ProjectConfig) -> H {
    let sink = postern_tests::smtp_sink::SmtpSink::start().await;
    build_harness(env, config, Some(sink)).await
}

/// Like [`harness_mail`], with the builder adjusted by `customize` (trusted proxies, ...).
pub async fn harness_custom(
    env: &Env,
    config: ProjectConfig,
    customize: impl FnOnce(postern_core::PosternBuilder) -> postern_core::PosternBuilder,
) -> H {
    let sink = postern_tests::smtp_sink::SmtpSink::start().await;
    build_harness_with(env, config, Some(sink), customize).await
}

async fn build_harness(
    env: &Env,
    config: ProjectConfig,
    sink: Option<postern_tests::smtp_sink::SmtpSink>,
) -> H {
    build_harness_with(env, config, sink, |b| b).await
}

async fn build_harness_with(
    env: &Env,
    config: ProjectConfig,
    sink: Option<postern_tests::smtp_sink::SmtpSink>,
    customize: impl FnOnce(postern_core::PosternBuilder) -> postern_core::PosternBuilder,
) -> H {
    let mut builder = Postern::builder(env.store.clone())
        .secret(SECRET)
        .public_url(PUBLIC_URL)
        .password_params(PasswordParams::insecure_fast());
    if let Some(sink) = &sink {
        let mailer = postern_core::email::SmtpMailer::new(postern_core::email::SmtpSettings {
            host: "127.0.0.1".into(),
            port: sink.port,
            username: None,
            password: None,
            sender: "noreply@example.com".into(),
            tls: postern_core::email::SmtpTls::None,
        })
        .expect("mailer");
        builder = builder.mailer(Arc::new(mailer));
    }
    let postern = customize(builder).build().expect("postern");
    let (project, keys) = postern
        .projects()
        .create(None, "Test project", config)
        .await
        .expect("project");
    let transport: Box<dyn Transport> = match env.kind {
        Kind::Core => Box::new(CoreTransport(postern.clone())),
        Kind::Axum => Box::new(AxumTransport(postern_axum::router(postern.clone()))),
        Kind::Actix => Box::new(ActixTransport::app(postern.clone(), |_| {}).await),
    };
    H {
        transport,
        postern,
        project,
        keys,
        sink,
    }
}

impl H {
    /// The sink (panics for harnesses without one).
    pub fn sink(&self) -> &postern_tests::smtp_sink::SmtpSink {
        self.sink.as_ref().expect("a harness made by harness_mail")
    }

    /// Waits (up to 10 s) for `count` mails to `to` with `subject` in the subject.
    pub async fn mails(
        &self,
        to: &str,
        subject: &str,
        count: usize,
    ) -> Vec<postern_tests::smtp_sink::Received> {
        let found = self
            .sink()
            .wait_for(to, subject, count, std::time::Duration::from_secs(10))
            .await;
        assert!(
            found.len() >= count,
            "expected {count} mails to {to} about {subject:?}, got {}",
            found.len()
        );
        found
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
        self.transport.send(b.body(body).expect("request")).await
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
