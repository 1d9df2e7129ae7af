//! [`SqlStore`] and [`SqlTx`]: a [`Store`] over a sea-orm connection.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use postern_core::storage::{Store, StoreResult, Tx};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::{Migrator, SeaRepos, store_error};

/// A [`Store`] over a [`DatabaseConnection`] (a pool), for any backend sea-orm speaks.
///
/// Autocommit calls go straight to the pool. [`Store::begin`] opens a
/// [`DatabaseTransaction`]; with a write lock ([`SqlStore::with_write_lock`]) it first
/// takes the lock and holds it until the transaction commits or is dropped, so at most one
/// transaction of this store is open at a time. That suits single-writer databases
/// (SQLite), where two concurrent write transactions would otherwise fail with
/// `SQLITE_BUSY` instead of waiting.
pub struct SqlStore {
    repos: SeaRepos<DatabaseConnection>,
    write_lock: Option<Arc<Mutex<()>>>,
    tx_options: TransactionOptions,
}

impl SqlStore {
    /// A store without a write lock: transactions run concurrently (PostgreSQL).
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            repos: SeaRepos::new(db),
            write_lock: None,
            tx_options: TransactionOptions::default(),
        }
    }

    /// A store whose transactions take a process-wide (per store) write lock and, on
    /// SQLite, start with `BEGIN IMMEDIATE` so the database write lock is taken up front
    /// (waiting up to the busy timeout) rather than on the first write.
    pub fn with_write_lock(db: DatabaseConnection) -> Self {
        Self {
            repos: SeaRepos::new(db),
            write_lock: Some(Arc::new(Mutex::new(()))),
            tx_options: TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            },
        }
    }

    /// The underlying connection pool.
    pub fn connection(&self) -> &DatabaseConnection {
        self.repos.connection()
    }

    /// Whether transactions take the write lock.
    pub fn has_write_lock(&self) -> bool {
        self.write_lock.is_some()
    }

    async fn lock(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.write_lock {
            Some(lock) => Some(Arc::clone(lock).lock_owned().await),
            None => None,
        }
    }
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.connection().get_database_backend())
            .field("write_lock", &self.write_lock.is_some())
            .finish()
    }
}

postern_core::forward_repos!(SqlStore => repos);

#[async_trait]
impl Store for SqlStore {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        let guard = self.lock().await;
        let tx = self
            .connection()
            .begin_with_options(self.tx_options)
            .await
            .map_err(store_error)?;
        Ok(Box::new(SqlTx {
            repos: SeaRepos::new(tx),
            _guard: guard,
        }))
    }

    async fn migrate(&self) -> StoreResult<()> {
        let _guard = self.lock().await;
        Migrator::up(self.connection(), None)
            .await
            .map_err(store_error)
    }

    async fn ping(&self) -> StoreResult<()> {
        let db = self.connection();
        db.query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT 1",
        ))
        .await
        .map_err(store_error)?;
        Ok(())
    }
}

/// A transaction of a [`SqlStore`]: [`Tx::commit`] commits; dropping it rolls back (sea-orm
/// queues the rollback on the connection) and releases the store's write lock, if any.
///
/// After any error inside a transaction, drop it: PostgreSQL refuses further statements
/// in a transaction that hit an error.
pub struct SqlTx {
    repos: SeaRepos<DatabaseTransaction>,
    // Field order matters: the transaction is dropped (rollback queued) before the lock
    // is released.
    _guard: Option<OwnedMutexGuard<()>>,
}

impl fmt::Debug for SqlTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlTx")
            .field("backend", &self.repos.connection().get_database_backend())
            .field("holds_write_lock", &self._guard.is_some())
            .finish()
    }
}

postern_core::forward_repos!(SqlTx => repos);

#[async_trait]
impl Tx for SqlTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let SqlTx { repos, _guard } = *self;
        repos.into_inner().commit().await.map_err(store_error)
        // `_guard` is released here, after the commit.
    }
}
