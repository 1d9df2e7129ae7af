//! A small app that embeds Postern: the Stack-compatible API under `/api/v1`, and routes of
//! its own protected by the extractors.
//!
//! ```text
//! POSTERN_SECRET=change-me-to-a-long-random-string cargo run -p postern-axum-app
//! ```

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use postern_axum::{ApiKeyUser, CurrentUser, OptionalUser, ServerAccess};
use postern_core::{ListUsers, Postern, ProjectConfig};
use postern_storage_sqlite::SqliteStore;
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The embedding: a store, a Postern, the API router, the app's state.
    let store = Arc::new(SqliteStore::open("sqlite://axum-app.db").await?);
    let secret =
        std::env::var("POSTERN_SECRET").map_err(|_| "set POSTERN_SECRET (16+ characters)")?;
    let postern = Postern::builder(store)
        .secret(secret)
        .public_url("http://localhost:3000")
        .build()?;
    let app = Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .route("/admin/users", get(all_users))
        .route("/by-key", get(by_key))
        .merge(postern_axum::router(postern.clone()))
        .with_state(postern.clone());

    if postern.projects().list().await?.is_empty() {
        let mut config = ProjectConfig::default();
        config.api_keys.enabled.user = true; // for /by-key
        let (p, keys) = postern.projects().create(None, "axum app", config).await?;
        println!(
            "project {} created; secret server key (shown once): {}",
            p.id, keys.secret_server_key
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://127.0.0.1:3000");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await?;
    Ok(())
}

/// Anyone; signed-in users are greeted by name.
async fn home(OptionalUser(auth): OptionalUser) -> String {
    match auth.and_then(|a| a.user) {
        Some(u) => format!(
            "welcome back, {}",
            u.display_name.or(u.primary_email).unwrap_or_default()
        ),
        None => "welcome, stranger".into(),
    }
}

/// Signed-in users only (access token in `x-stack-access-token` or `Authorization: Bearer`).
async fn me(CurrentUser(auth): CurrentUser) -> Json<Value> {
    let user = auth.user.expect("CurrentUser always carries a user");
    Json(json!({ "id": user.id, "email": user.primary_email, "project": auth.project.id }))
}

/// Backends only: `x-stack-access-type: server` with the secret server key.
async fn all_users(
    ServerAccess(auth): ServerAccess,
    axum::extract::State(postern): axum::extract::State<Postern>,
) -> Result<Json<Value>, String> {
    let page = postern
        .users()
        .list(&auth.project, &ListUsers::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(Json(json!({ "count": page.items.len() })))
}

/// Callers holding a user API key (`x-stack-api-key`), e.g. scripts acting for a user.
async fn by_key(ApiKeyUser(auth): ApiKeyUser) -> Json<Value> {
    Json(json!({ "user": auth.user.id, "key": auth.key.id, "project": auth.project.id }))
}
