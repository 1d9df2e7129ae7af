//! Webhooks without a hosted service: every event recorded in the outbox (see
//! [`crate::events`]) is owed, in the same transaction, to each of the project's enabled
//! endpoints that subscribes to its type; a worker then POSTs it, signed exactly as Svix
//! and Standard Webhooks sign, with Svix's retry schedule.
//!
//! Endpoints are managed through the admin API, through a Svix-compatible facade (so the
//! SDKs' and dashboard's Svix calls work), or declared in the server's config file.
//! Signing secrets are sealed at rest; every attempt is logged; messages can be replayed.

mod deliver;
mod portal;
mod service;
mod wake;

pub(crate) use deliver::{Clients, deliver_due, spawn_worker};
pub use deliver::{RETENTION_MILLIS, SCHEDULE_MILLIS, sign};
pub use service::*;
pub(crate) use wake::WakingStore;
