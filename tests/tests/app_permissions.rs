//! The permission and team-key extractors on an app's own routes, through axum and
//! actix-web, on SQLite and PostgreSQL.

#[macro_use]
mod support;

use axum::routing::get;
use axum::{Extension, Router};
use postern_core::permissions::RequiredPermission;
use serde_json::json;
use support::*;

fn team_key_who(a: postern_core::api_keys::ApiKeyTeamAuth) -> String {
    format!("key {} of team {}", a.key.id, a.team.id)
}

fn permitted(a: postern_core::Auth) -> String {
    format!("permitted {}", a.user.expect("a user").id)
}

async fn app(env: &Env) -> H {
    let mut cfg = postern_core::ProjectConfig::default();
    cfg.api_keys.enabled.team = true;
    cfg.api_keys.enabled.user = true;
    let mut h = harness_with(env, cfg).await;
    let postern = h.postern.clone();
    h.transport = match env.kind {
        Kind::Axum => Box::new(AxumTransport(
            Router::new()
                .route(
                    "/team-key",
                    get(
                        |postern_axum::ApiKeyTeam(a): postern_axum::ApiKeyTeam| async move {
                            team_key_who(a)
                        },
                    ),
                )
                .route(
                    "/billing",
                    get(
                        |postern_axum::Permitted(a): postern_axum::Permitted| async move {
                            permitted(a)
                        },
                    )
                    .layer(Extension(RequiredPermission::project("billing"))),
                )
                .route(
                    "/team-edit",
                    get(
                        |postern_axum::Permitted(a): postern_axum::Permitted| async move {
                            permitted(a)
                        },
                    )
                    .layer(Extension(RequiredPermission::team(
                        "$update_team",
                        "x-team-id",
                    ))),
                )
                .route(
                    "/forgotten",
                    get(
                        |postern_axum::Permitted(a): postern_axum::Permitted| async move {
                            permitted(a)
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
                    "/team-key",
                    web::get().to(
                        |postern_actix::ApiKeyTeam(a): postern_actix::ApiKeyTeam| async move {
                            team_key_who(a)
                        },
                    ),
                )
                .service(
                    web::resource("/billing")
                        .app_data(web::Data::new(RequiredPermission::project("billing")))
                        .route(web::get().to(
                            |postern_actix::Permitted(a): postern_actix::Permitted| async move {
                                permitted(a)
                            },
                        )),
                )
                .service(
                    web::resource("/team-edit")
                        .app_data(web::Data::new(RequiredPermission::team(
                            "$update_team",
                            "x-team-id",
                        )))
                        .route(web::get().to(
                            |postern_actix::Permitted(a): postern_actix::Permitted| async move {
                                permitted(a)
                            },
                        )),
                )
                .route(
                    "/forgotten",
                    web::get().to(
                        |postern_actix::Permitted(a): postern_actix::Permitted| async move {
                            permitted(a)
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

contract_module!(axum_sqlite, Axum, sqlite_store, #[tokio::test(flavor = "multi_thread", worker_threads = 2)], permissions_and_team_keys_guard_app_routes);
contract_module!(axum_postgres, Axum, postgres_store, #[tokio::test(flavor = "multi_thread", worker_threads = 2)], permissions_and_team_keys_guard_app_routes);
contract_module!(actix_sqlite, Actix, sqlite_store, #[actix_web::test], permissions_and_team_keys_guard_app_routes);
contract_module!(actix_postgres, Actix, postgres_store, #[actix_web::test], permissions_and_team_keys_guard_app_routes);

async fn permissions_and_team_keys_guard_app_routes(env: Env) {
    let h = app(&env).await;
    let (u, at, _) = h.sign_up("perm@example.com", "password123").await;
    let bearer = vec![("authorization".to_owned(), format!("Bearer {at}"))];
    h.get("/billing", &vec![])
        .await
        .assert_error(401, "USER_AUTHENTICATION_REQUIRED");
    let v = h
        .get("/billing", &bearer)
        .await
        .assert_error(401, "PROJECT_PERMISSION_REQUIRED");
    assert_eq!(
        v["details"],
        json!({"user_id": u, "permission_id": "billing"})
    );
    h.post(
        "/api/v1/project-permission-definitions",
        &h.admin(),
        json!({"id": "billing"}),
    )
    .await
    .assert_ok();
    h.post(
        &format!("/api/v1/project-permissions/{u}/billing"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    let r = h.get("/billing", &bearer).await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (200, format!("permitted {u}"))
    );

    // Team permission, team from a header; a nested role grants it.
    let t = h
        .post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "T", "creator_user_id": u}),
        )
        .await
        .assert_ok()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let team_h = with(bearer.clone(), "x-team-id", &t);
    h.get("/team-edit", &team_h)
        .await
        .assert_error(401, "TEAM_PERMISSION_REQUIRED");
    h.get(
        "/team-edit",
        &with(
            bearer.clone(),
            "x-team-id",
            "031448ab-178b-4d43-b31b-28f16c3c52a9",
        ),
    )
    .await
    .assert_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    for (id, contains) in [
        ("editor", json!(["$update_team"])),
        ("owner", json!(["editor"])),
    ] {
        h.post(
            "/api/v1/team-permission-definitions",
            &h.admin(),
            json!({"id": id, "contained_permission_ids": contains}),
        )
        .await
        .assert_ok();
    }
    h.post(
        &format!("/api/v1/team-permissions/{t}/{u}/owner"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    assert_eq!(h.get("/team-edit", &team_h).await.status, 200);
    // Revoking is seen on the next request.
    h.delete(
        &format!("/api/v1/team-permissions/{t}/{u}/owner"),
        &h.server(),
    )
    .await
    .assert_ok();
    h.get("/team-edit", &team_h)
        .await
        .assert_error(401, "TEAM_PERMISSION_REQUIRED");
    // A route without its RequiredPermission refuses everyone.
    assert_eq!(h.get("/forgotten", &bearer).await.status, 500);

    // Team API keys: created by a member holding $manage_api_keys, checked on app routes.
    let me = with(h.client(), "x-stack-access-token", &at);
    let body = json!({"team_id": t, "description": "ci", "expires_at_millis": null});
    h.post("/api/v1/team-api-keys", &me, body.clone())
        .await
        .assert_error(404, "API_KEY_NOT_FOUND");
    h.post(
        &format!("/api/v1/team-permissions/{t}/{u}/$manage_api_keys"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    let created = h.post("/api/v1/team-api-keys", &me, body).await.assert_ok();
    assert_eq!(
        (created["type"].as_str(), created["team_id"].as_str()),
        (Some("team"), Some(t.as_str()))
    );
    let key = created["value"].as_str().unwrap().to_owned();
    let kid = created["id"].as_str().unwrap().to_owned();
    let r = h
        .get("/team-key", &vec![("x-stack-api-key".into(), key.clone())])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (200, format!("key {kid} of team {t}"))
    );
    let list = h
        .get(&format!("/api/v1/team-api-keys?team_id={t}"), &me)
        .await
        .assert_ok();
    assert_eq!(
        list["items"][0]["value"]["last_four"],
        &key[key.len() - 4..]
    );
    let v = h
        .post(
            "/api/v1/team-api-keys/check",
            &h.server(),
            json!({"api_key": key}),
        )
        .await
        .assert_ok();
    assert_eq!(v["id"], kid.as_str());
    h.post(
        "/api/v1/user-api-keys/check",
        &h.server(),
        json!({"api_key": key}),
    )
    .await
    .assert_error(400, "WRONG_API_KEY_TYPE");
    h.patch(
        &format!("/api/v1/team-api-keys/{kid}"),
        &me,
        json!({"revoked": true}),
    )
    .await
    .assert_ok();
    h.get("/team-key", &vec![("x-stack-api-key".into(), key.clone())])
        .await
        .assert_error(401, "API_KEY_REVOKED");
    // Keys go with their team.
    h.delete(&format!("/api/v1/teams/{t}"), &h.server())
        .await
        .assert_ok();
    h.get("/team-key", &vec![("x-stack-api-key".into(), key.clone())])
        .await
        .assert_error(401, "API_KEY_NOT_FOUND");
}
