//! # postern-storage-sql
//!
//! Postern's storage written once over sea-orm, for SQLite and PostgreSQL alike:
//!
//! - [`entities`]: sea-orm entities of the `postern_*` tables;
//! - [`Migrator`]: the schema migrations (sea-query DSL), tracked in
//!   [`MIGRATION_TABLE`] rather than sea-orm's default table;
//! - [`SeaRepos`]: the repository traits of [`postern_core::storage`], implemented once
//!   for any sea-orm connection (a pool or a transaction);
//! - [`SqlStore`] / [`SqlTx`]: a [`postern_core::storage::Store`] over a
//!   [`sea_orm::DatabaseConnection`], with an optional process-wide write lock for
//!   single-writer databases (SQLite).
//!
//! Database errors are classified in one function, [`store_error`].
//!
//! Backend crates (`postern-storage-sqlite`, `postern-storage-postgres`) open the
//! connection with the right settings and wrap a [`SqlStore`]; this crate enables no sqlx
//! driver itself.

pub mod entities;
mod error;
mod migrations;
mod repos;
mod store;

pub use error::store_error;
pub use migrations::{MIGRATION_TABLE, Migrator};
pub use repos::SeaRepos;
pub use store::{SqlStore, SqlTx};
