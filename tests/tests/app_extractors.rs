//! The adapters' extractors on an app's own routes: the same scenario through axum and
//! actix-web, on SQLite and on PostgreSQL.

#[macro_use]
mod support;

use axum::Router;
use axum::routing::get;
use http::Method;
use postern_core::Auth;
use support::*;

fn who(auth: Auth) -> String {
    format!(
        "user {}",
        auth.user.expect("a signed-in user always has one").id
    )
}

fn maybe_who(auth: Option<Auth>) -> String {
    match auth.and_then(|a| a.user) {
        Some(u) => format!("user {}", u.id),
        None => "anonymous visitor".to_owned(),
    }
}

fn key_who(auth: postern_core::api_keys::ApiKeyUserAuth) -> String {
    format!("key {} of user {}", auth.key.id, auth.user.id)
}

fn server_who(auth: Auth) -> String {
    format!("{:?} access to {}", auth.access_type, auth.project.id)
}

/// The app: three routes of its own next to the mounted API, for the env's framework.
async fn app(env: &Env) -> H {
    let mut cfg = postern_core::ProjectConfig::default();
    cfg.api_keys.enabled.user = true;
    let mut h = harness_with(env, cfg).await;
    let postern = h.postern.clone();
    h.transport =
        match env.kind {
            Kind::Axum => Box::new(AxumTransport(
                Router::new()
                    .route(
                        "/whoami",
                        get(
                            |postern_axum::CurrentUser(a): postern_axum::CurrentUser| async move {
                                who(a)
                            },
                        ),
                    )
                    .route(
                        "/maybe",
                        get(
                            |postern_axum::OptionalUser(a): postern_axum::OptionalUser| async move {
                                maybe_who(a)
                            },
                        ),
                    )
                    .route(
                        "/by-key",
                        get(
                            |postern_axum::ApiKeyUser(a): postern_axum::ApiKeyUser| async move {
                                key_who(a)
                            },
                        ),
                    )
                    .route(
                        "/admin",
                        get(
                            |postern_axum::ServerAccess(a): postern_axum::ServerAccess| async move {
                                server_who(a)
                            },
                        ),
                    )
                    .merge(postern_axum::router(postern.clone()))
                    .with_state(postern),
            )),
            Kind::Actix => Box::new(
                ActixTransport::app(postern, |cfg| {
                    use actix_web::web;
                    cfg.route(
                    "/by-key",
                    web::get().to(
                        |postern_actix::ApiKeyUser(a): postern_actix::ApiKeyUser| async move {
                            key_who(a)
                        },
                    ),
                )
                .route(
                    "/whoami",
                    web::get().to(
                        |postern_actix::CurrentUser(a): postern_actix::CurrentUser| async move {
                            who(a)
                        },
                    ),
                )
                .route(
                    "/maybe",
                    web::get().to(
                        |postern_actix::OptionalUser(a): postern_actix::OptionalUser| async move {
                            maybe_who(a)
                        },
                    ),
                )
                .route(
                    "/admin",
                    web::get().to(
                        |postern_actix::ServerAccess(a): postern_actix::ServerAccess| async move {
                            server_who(a)
                        },
                    ),
                );
                })
                .await,
            ),
            Kind::Core => unreachable!("the core has no extractors"),
        };
    h
}

contract_module!(axum_sqlite, Axum, sqlite_store, #[tokio::test(flavor = "multi_thread", worker_threads = 2)], extractors_authenticate_app_routes);
contract_module!(axum_postgres, Axum, postgres_store, #[tokio::test(flavor = "multi_thread", worker_threads = 2)], extractors_authenticate_app_routes);
contract_module!(actix_sqlite, Actix, sqlite_store, #[actix_web::test], extractors_authenticate_app_routes);
contract_module!(actix_postgres, Actix, postgres_store, #[actix_web::test], extractors_authenticate_app_routes);

async fn extractors_authenticate_app_routes(env: Env) {
    let h = app(&env).await;
    let (user_id, at, _) = h.sign_up("app@example.com", "password123").await;
    // The access token alone, in either header.
    let r = h
        .get(
            "/whoami",
            &vec![("x-stack-access-token".into(), at.clone())],
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (200, format!("user {user_id}"))
    );
    let r = h
        .get(
            "/whoami",
            &vec![("authorization".into(), format!("Bearer {at}"))],
        )
        .await;
    assert_eq!(r.text(), format!("user {user_id}"));
    // With Stack's full client headers too.
    assert_eq!(
        h.get("/whoami", &with(h.client(), "x-stack-access-token", &at))
            .await
            .status,
        200
    );
    // No token: 401 with Stack's error body.
    h.get("/whoami", &vec![])
        .await
        .assert_error(401, "USER_AUTHENTICATION_REQUIRED");
    h.get(
        "/whoami",
        &vec![("authorization".into(), "Bearer junk".into())],
    )
    .await
    .assert_error(401, "UNPARSABLE_ACCESS_TOKEN");
    h.postern.clock().advance_millis(601_000);
    h.get(
        "/whoami",
        &vec![("x-stack-access-token".into(), at.clone())],
    )
    .await
    .assert_error(401, "ACCESS_TOKEN_EXPIRED");
    h.postern.clock().advance_millis(-601_000);

    assert_eq!(h.get("/maybe", &vec![]).await.text(), "anonymous visitor");
    let r = h
        .get("/maybe", &vec![("x-stack-access-token".into(), at.clone())])
        .await;
    assert_eq!(r.text(), format!("user {user_id}"));
    h.get(
        "/maybe",
        &vec![("x-stack-access-token".into(), "junk".into())],
    )
    .await
    .assert_error(401, "UNPARSABLE_ACCESS_TOKEN");

    let r = h.get("/admin", &h.server()).await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (200, format!("Server access to {}", h.project.id))
    );
    assert_eq!(h.get("/admin", &h.admin()).await.status, 200);
    h.get("/admin", &vec![])
        .await
        .assert_error(401, "SERVER_AUTHENTICATION_REQUIRED");
    h.get("/admin", &h.client())
        .await
        .assert_error(401, "INSUFFICIENT_ACCESS_TYPE");
    let mut wrong = h.server();
    wrong[2].1 = "ssk_wrong".into();
    h.get("/admin", &wrong)
        .await
        .assert_error(401, "INVALID_SECRET_SERVER_KEY");

    // A user API key authenticates app routes; revocation is seen on the very next request.
    let c = with(h.client(), "x-stack-access-token", &at);
    let created = h
        .post(
            "/api/v1/user-api-keys",
            &c,
            serde_json::json!({"description": "app", "expires_at_millis": null, "user_id": "me"}),
        )
        .await
        .assert_ok();
    let key = created["value"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    let r = h
        .get("/by-key", &vec![("x-stack-api-key".into(), key.clone())])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (200, format!("key {key_id} of user {user_id}"))
    );
    h.get("/by-key", &vec![])
        .await
        .assert_error(401, "API_KEY_NOT_FOUND");
    h.get(
        "/by-key",
        &vec![("x-stack-api-key".into(), "sk_garbage".into())],
    )
    .await
    .assert_error(401, "API_KEY_NOT_FOUND");
    h.patch(
        &format!("/api/v1/user-api-keys/{key_id}"),
        &c,
        serde_json::json!({"revoked": true}),
    )
    .await
    .assert_ok();
    h.get("/by-key", &vec![("x-stack-api-key".into(), key.clone())])
        .await
        .assert_error(401, "API_KEY_REVOKED");

    // A deleted user's token no longer passes CurrentUser.
    h.call(
        Method::DELETE,
        &format!("/api/v1/users/{user_id}"),
        &h.server(),
        None,
    )
    .await
    .assert_ok();
    h.get(
        "/whoami",
        &vec![("x-stack-access-token".into(), at.clone())],
    )
    .await
    .assert_error(401, "USER_AUTHENTICATION_REQUIRED");
}
