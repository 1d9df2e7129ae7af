//! # postern-storage-sqlite
//!
//! [`SqliteStore`]: Postern's embedded default store. It is a
//! [`postern_storage_sql::SqlStore`] over an SQLite database with the settings an auth
//! server wants:
//!
//! - files: WAL journal, `synchronous=NORMAL`, a busy timeout of 5 s, foreign keys on, a
//!   pool of [`FILE_POOL_SIZE`] connections, and the file created when missing;
//! - `:memory:`: exactly one connection (each SQLite connection to `:memory:` is its own
//!   database), never recycled, so the data lives as long as the store;
//! - always a write lock: SQLite has one writer, so the store's transactions queue on an
//!   async mutex and start with `BEGIN IMMEDIATE` instead of failing with `SQLITE_BUSY`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), postern_core::storage::StoreError> {
//! use postern_core::storage::Store;
//! use postern_storage_sqlite::SqliteStore;
//!
//! let store = SqliteStore::open("postern.db").await?; // connects and migrates
//! store.ping().await?;
//! # Ok(())
//! # }
//! ```
//!
//! With a `:memory:` store, do not call the store (autocommit) while a transaction of the
//! same store is open in the same task: the only connection belongs to the transaction,
//! so the call waits for it.

mod location;

use std::time::Duration;

use async_trait::async_trait;
use postern_core::storage::{Store, StoreResult, Tx};
use postern_storage_sql::{SqlStore, store_error};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use location::Location;

/// Connections in the pool of a file database.
pub const FILE_POOL_SIZE: u32 = 8;

/// How long a connection waits for SQLite's write lock before failing with `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Postern's SQLite store. See the [crate docs](crate).
#[derive(Debug)]
pub struct SqliteStore {
    inner: SqlStore,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database at `target` and brings its schema up to
    /// date with [`Store::migrate`].
    ///
    /// `target` is one of:
    /// - a plain file path (`postern.db`, `/var/lib/app/postern.db`), used verbatim;
    /// - an sqlx SQLite URL (`sqlite://postern.db?mode=rwc`, `sqlite:postern.db`); the file
    ///   is created when missing unless the URL sets `mode=` itself;
    /// - `:memory:`, `sqlite::memory:`, `sqlite://:memory:` or a URL with `mode=memory`: a
    ///   private in-memory database (one connection).
    pub async fn open(target: &str) -> StoreResult<Self> {
        let store = Self::connect(Location::parse(target)).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// A new, private, migrated in-memory database (the fast test store).
    pub async fn memory() -> StoreResult<Self> {
        Self::open(":memory:").await
    }

    async fn connect(location: Location) -> StoreResult<Self> {
        let mut options = ConnectOptions::new(location.url());
        options.sqlx_logging(false);
        if location.is_memory() {
            options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            options.map_sqlx_sqlite_opts(|o| {
                o.foreign_keys(true)
                    .busy_timeout(BUSY_TIMEOUT)
                    .synchronous(SqliteSynchronous::Normal)
            });
        } else {
            let create = location.create_if_missing();
            options.max_connections(FILE_POOL_SIZE);
            options.map_sqlx_sqlite_opts(move |o| {
                let o = o
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(BUSY_TIMEOUT)
                    .foreign_keys(true);
                if create { o.create_if_missing(true) } else { o }
            });
        }
        let db = Database::connect(options).await.map_err(store_error)?;
        Ok(Self {
            inner: SqlStore::with_write_lock(db),
        })
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

postern_core::forward_repos!(SqliteStore => inner);

#[async_trait]
impl Store for SqliteStore {
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
