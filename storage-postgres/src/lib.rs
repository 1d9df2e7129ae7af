//! # postern-storage-postgres
//!
//! [`PostgresStore`]: Postern over PostgreSQL. It is a [`postern_storage_sql::SqlStore`]
//! over a connection pool, without a write lock: PostgreSQL runs transactions
//! concurrently and reports a lost race on a unique index as
//! [`postern_core::storage::StoreError::Conflict`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), postern_core::storage::StoreError> {
//! use postern_core::storage::Store;
//! use postern_storage_postgres::PostgresStore;
//!
//! let store = PostgresStore::connect("postgres://postern@localhost/postern").await?; // migrates
//! store.ping().await?;
//! # Ok(())
//! # }
//! ```
//!
//! With the `testing` feature, [`testing::fresh_database_url`] hands tests a brand-new
//! database, on `POSTERN_TEST_POSTGRES_URL` or on a throwaway cluster it starts itself.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

use async_trait::async_trait;
use postern_core::storage::{Store, StoreResult, Tx};
use postern_storage_sql::{SqlStore, store_error};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

/// Connections in the pool opened by [`PostgresStore::connect`].
pub const POOL_SIZE: u32 = 10;

/// Postern's PostgreSQL store. See the [crate docs](crate).
#[derive(Debug)]
pub struct PostgresStore {
    inner: SqlStore,
}

impl PostgresStore {
    /// Connects a pool of [`POOL_SIZE`] connections to `url`
    /// (`postgres://user:password@host:port/database`), without statement logging, and
    /// brings the schema up to date with [`Store::migrate`].
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let mut options = ConnectOptions::new(url);
        options.max_connections(POOL_SIZE).sqlx_logging(false);
        Self::connect_with(options).await
    }

    /// Connects with caller-chosen pool options and migrates. Note that sea-orm logs every
    /// statement (SQL text, not bound values) unless `sqlx_logging(false)` is set.
    pub async fn connect_with(options: ConnectOptions) -> StoreResult<Self> {
        let db = Database::connect(options).await.map_err(store_error)?;
        let store = Self {
            inner: SqlStore::new(db),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The underlying sea-orm connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        self.inner.connection()
    }

    /// The generic SQL store this wraps.
    pub fn sql_store(&self) -> &SqlStore {
        &self.inner
    }
}

postern_core::forward_repos!(PostgresStore => inner);

#[async_trait]
impl Store for PostgresStore {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        self.inner.begin().await
    }

    async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
}
