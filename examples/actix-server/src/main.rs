//! `postern-actix-server`: the Postern server on actix-web, with exactly the flags and
//! environment variables of `postern-server` (they share `postern_server::prepare`).
//!
//! ```text
//! cargo run --release -p postern-actix-server
//! cargo run --release -p postern-actix-server -- --help
//! ```

use std::time::Instant;

use actix_web::dev::Service as _;
use actix_web::{App, HttpServer, web};
use clap::Parser;
use postern_server::{Args, init_logging, prepare, shutdown_signal};

#[actix_web::main]
async fn main() {
    let args = Args::parse();
    init_logging(&args);
    if let Err(e) = run(args).await {
        tracing::error!("{e}");
        eprintln!("postern-actix-server: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let p = prepare(&args).await?;
    let postern = p.postern;
    let server = HttpServer::new(move || {
        App::new()
            // One line per request: method, path (never the query or headers), status, time.
            .wrap_fn(|req, srv| {
                let (method, path, started) = (req.method().clone(), req.path().to_owned(), Instant::now());
                let fut = srv.call(req);
                async move {
                    let res = fut.await?;
                    tracing::info!(%method, path, status = res.status().as_u16(), micros = started.elapsed().as_micros() as u64, "request");
                    Ok(res)
                }
            })
            .app_data(web::Data::new(postern.clone()))
            .configure(postern_actix::configure(postern.clone()))
            .configure(postern_actix::health(postern.clone()))
    })
    .disable_signals()
    .bind(p.addr)
    .map_err(|e| format!("binding {}: {e}", p.addr))?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        shutdown_signal().await;
        handle.stop(true).await;
    });
    tracing::info!(addr = %p.addr, "listening (actix-web)");
    server.await.map_err(|e| format!("server: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}
