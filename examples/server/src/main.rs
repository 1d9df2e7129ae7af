//! `postern-server`: Postern's REST API over SQLite (default) or PostgreSQL.
//!
//! ```text
//! cargo run --release -p postern-server            # 127.0.0.1:8102, ./postern.db
//! cargo run --release -p postern-server -- --help  # every setting, with its environment variable
//! ```

mod app;
mod settings;

use clap::Parser;

#[tokio::main]
async fn main() {
    let args = settings::Args::parse();
    app::init_logging(&args);
    if let Err(e) = app::run(args).await {
        tracing::error!("{e}");
        eprintln!("postern-server: {e}");
        std::process::exit(1);
    }
}
