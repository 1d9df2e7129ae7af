//! The shared part of Postern's example servers (`postern-server` on axum,
//! `postern-actix-server` on actix-web): flags and environment, database, secret, projects.
//! Each binary only mounts the API in its framework and serves.

mod bootstrap;
mod settings;

pub use bootstrap::{Prepared, init_logging, prepare, redact_url, shutdown_signal};
pub use settings::{Args, FileConfig, FileProject};
