//! The axum extractors on an app's own routes, on SQLite and on PostgreSQL.

mod support;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use http::Method;
use postern_axum::{CurrentUser, OptionalUser, ServerAccess};
use postern_core::storage::Store;
use support::*;

async fn whoami(CurrentUser(auth): CurrentUser) -> String {
    format!(
        "user {}",
        auth.user.expect("CurrentUser always has a user").id
    )
}

async fn maybe(OptionalUser(auth): OptionalUser) -> String {
    match auth.and_then(|a| a.user) {
        Some(u) => format!("user {}", u.id),
        None => "anonymous visitor".to_owned(),
    }
}

async fn admin(ServerAccess(auth): ServerAccess) -> String {
    format!("{:?} access to {}", auth.access_type, auth.project.id)
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::support::sqlite_store().await).await; }
        )* }
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::support::postgres_store().await).await; }
        )* }
    };
}

scenarios!(extractors_authenticate_app_routes);

async fn extractors_authenticate_app_routes(store: Arc<dyn Store>) {
    let mut h = harness(store).await;
    // An app with routes of its own next to the mounted API, with `Postern` as its state.
    h.app = Router::new()
        .route("/whoami", get(whoami))
        .route("/maybe", get(maybe))
        .route("/admin", get(admin))
        .merge(postern_axum::router(h.postern.clone()))
        .with_state(h.postern.clone());

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
    let r = h
        .get("/whoami", &with(h.client(), "x-stack-access-token", &at))
        .await;
    assert_eq!(r.status, 200);
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

    let r = h.get("/maybe", &vec![]).await;
    assert_eq!(r.text(), "anonymous visitor");
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
    h.get("/admin", &h.admin()).await;
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
