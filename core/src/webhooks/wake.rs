//! Waking the webhook worker right after a commit that owed deliveries.
//!
//! [`WakingStore`] wraps the application's store: its transactions remember whether the
//! event recorder fanned an event out to an endpoint (`Repos::event_recorded`) and, once
//! committed, wake the worker, so a delivery starts within milliseconds of the commit
//! rather than at the next poll. A rolled-back transaction wakes nobody.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::storage::{Repos, Store, StoreResult, Tx};

/// A store whose commits wake the webhook worker when they recorded deliveries.
pub(crate) struct WakingStore {
    inner: Arc<dyn Store>,
    wake: Arc<Notify>,
}

impl WakingStore {
    /// Wraps `inner`.
    pub(crate) fn wrap(inner: Arc<dyn Store>, wake: Arc<Notify>) -> Arc<dyn Store> {
        Arc::new(WakingStore { inner, wake })
    }
}

/// A transaction that wakes the worker after commit if it recorded deliveries.
struct WakingTx {
    inner: Box<dyn Tx>,
    wake: Arc<Notify>,
    recorded: AtomicBool,
}

macro_rules! forward {
    ($ty:ty, $($field:tt)+) => {
        impl Repos for $ty {
            fn projects(&self) -> &dyn crate::storage::ProjectRepo { self.$($field)+.projects() }
            fn users(&self) -> &dyn crate::storage::UserRepo { self.$($field)+.users() }
            fn sessions(&self) -> &dyn crate::storage::SessionRepo { self.$($field)+.sessions() }
            fn api_keys(&self) -> &dyn crate::storage::ApiKeyRepo { self.$($field)+.api_keys() }
            fn codes(&self) -> &dyn crate::storage::CodeRepo { self.$($field)+.codes() }
            fn outbox(&self) -> &dyn crate::storage::OutboxRepo { self.$($field)+.outbox() }
            fn teams(&self) -> &dyn crate::storage::TeamRepo { self.$($field)+.teams() }
            fn permissions(&self) -> &dyn crate::storage::PermissionRepo { self.$($field)+.permissions() }
            fn files(&self) -> &dyn crate::storage::FileRepo { self.$($field)+.files() }
            fn vault(&self) -> &dyn crate::storage::VaultRepo { self.$($field)+.vault() }
            fn throttle(&self) -> &dyn crate::storage::ThrottleRepo { self.$($field)+.throttle() }
            fn recovery_codes(&self) -> &dyn crate::storage::RecoveryCodeRepo { self.$($field)+.recovery_codes() }
            fn audit(&self) -> &dyn crate::storage::AuditRepo { self.$($field)+.audit() }
            fn webhooks(&self) -> &dyn crate::storage::WebhookRepo { self.$($field)+.webhooks() }
            fn passkeys(&self) -> &dyn crate::storage::PasskeyRepo { self.$($field)+.passkeys() }
            fn oauth(&self) -> &dyn crate::storage::OAuthRepo { self.$($field)+.oauth() }
            fn cli_auth(&self) -> &dyn crate::storage::CliAuthRepo { self.$($field)+.cli_auth() }
            fn event_recorded(&self) { self.mark(); }
        }
    };
}

forward!(WakingStore, inner);
forward!(WakingTx, inner);

impl WakingStore {
    /// Outside a transaction the write is already committed: wake now.
    fn mark(&self) {
        self.wake.notify_one();
    }
}

impl WakingTx {
    fn mark(&self) {
        self.recorded.store(true, Ordering::Relaxed);
    }
}

#[async_trait]
impl Store for WakingStore {
    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        Ok(Box::new(WakingTx {
            inner: self.inner.begin().await?,
            wake: Arc::clone(&self.wake),
            recorded: AtomicBool::new(false),
        }))
    }

    async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
}

#[async_trait]
impl Tx for WakingTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let recorded = self.recorded.load(Ordering::Relaxed);
        let wake = Arc::clone(&self.wake);
        self.inner.commit().await?;
        if recorded {
            wake.notify_one();
        }
        Ok(())
    }
}
