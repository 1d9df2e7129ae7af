//! Shared helpers for Postern's cross-crate suites (store conformance on SQLite and
//! PostgreSQL, HTTP through the adapters).

pub mod oidc_provider;
pub mod smtp_sink;
pub mod webhook_sink;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use postern_core::storage::{Store, StoreResult, Tx};
use postern_storage_postgres::PostgresStore;
use postern_storage_sqlite::SqliteStore;

/// A fresh, migrated in-memory SQLite store.
///
/// # Panics
///
/// When the store cannot be opened.
pub async fn sqlite_memory_store() -> SqliteStore {
    SqliteStore::memory()
        .await
        .expect("open an in-memory SQLite store")
}

/// A fresh, migrated PostgreSQL store on a brand-new database (see
/// [`postern_storage_postgres::testing::fresh_database_url`]).
///
/// # Panics
///
/// When no PostgreSQL is available (with instructions) or the store cannot connect.
pub async fn postgres_store() -> PostgresStore {
    let url = postern_storage_postgres::testing::fresh_database_url().await;
    match PostgresStore::connect(&url).await {
        Ok(store) => store,
        // Not the URL: it may hold a password.
        Err(err) => panic!("cannot connect to the fresh test database: {err}"),
    }
}

/// A fresh, migrated SQLite store in a file of its own temporary directory, which is
/// removed when the store is dropped. Exercises what `:memory:` cannot: the connection
/// pool, WAL and the busy timeout.
#[derive(Debug)]
pub struct TempSqliteStore {
    store: SqliteStore,
    dir: PathBuf,
}

impl TempSqliteStore {
    /// Creates the directory and opens `postern.db` in it.
    ///
    /// # Panics
    ///
    /// When the directory or the store cannot be created.
    pub async fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("postern-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        let path = dir.join("postern.db");
        let store = SqliteStore::open(path.to_str().expect("UTF-8 temp path"))
            .await
            .expect("open a file-backed SQLite store");
        Self { store, dir }
    }

    /// The directory holding the database.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The store.
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }
}

impl Drop for TempSqliteStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

postern_core::forward_repos!(TempSqliteStore => store);

#[async_trait]
impl Store for TempSqliteStore {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        self.store.begin().await
    }

    async fn migrate(&self) -> StoreResult<()> {
        self.store.migrate().await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.store.ping().await
    }
}
