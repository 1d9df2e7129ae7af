//! `postern-server`: Postern's REST API over SQLite (default) or PostgreSQL, on axum.
//!
//! ```text
//! cargo run --release -p postern-server            # 127.0.0.1:8102, ./postern.db
//! cargo run --release -p postern-server -- --help  # every setting, with its environment variable
//! ```

use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use clap::Parser;
use postern_server::{Args, init_logging, prepare, shutdown_signal};

#[tokio::main]
async fn main() {
    let args = Args::parse();
    init_logging(&args);
    if let Err(e) = run(args).await {
        tracing::error!("{e}");
        eprintln!("postern-server: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let p = prepare(&args).await?;
    let app: Router = postern_axum::router(p.postern.clone())
        .merge(postern_axum::health(p.postern))
        .layer(middleware::from_fn(log_requests));
    let listener = tokio::net::TcpListener::bind(p.addr)
        .await
        .map_err(|e| format!("binding {}: {e}", p.addr))?;
    tracing::info!(addr = %p.addr, "listening (axum)");
    // The peer address feeds per-IP rate limits.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| format!("server: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// One line per request: method, path (never the query or headers), status, time.
async fn log_requests(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    tracing::info!(%method, path, status = response.status().as_u16(), micros = started.elapsed().as_micros() as u64, "request");
    response
}
