//! The outbox: sealing, enqueueing inside a transaction, and delivery with retries.

use std::sync::{Arc, Weak};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::sync::Notify;
use uuid::Uuid;

use super::Email;
use crate::error::{Error, Result};
use crate::postern::{Inner, Postern};
use crate::storage::{OutboxRecord, OutboxStatus, Repos};

/// How long a claimed message is reserved for the instance delivering it.
const LEASE_MILLIS: i64 = 60_000;
/// Longest wait between two attempts at one message.
const MAX_BACKOFF_MILLIS: i64 = 30_000;
/// After this long undelivered, a message is given up.
const GIVE_UP_AFTER_MILLIS: i64 = 3 * 24 * 3600 * 1000;
/// How often the worker looks for due messages when nothing wakes it.
const POLL: Duration = Duration::from_secs(1);
/// Messages handled per pass.
const BATCH: u64 = 32;

pub(crate) fn seal(key: &[u8; 32], id: Uuid, payload: &impl serde::Serialize) -> Result<String> {
    let plain = serde_json::to_vec(payload).map_err(|e| Error::Internal(e.to_string()))?;
    let sealed = crate::secrets::seal(key, id.as_bytes(), &plain)
        .ok_or_else(|| Error::Internal("sealing an outbox message failed".into()))?;
    Ok(B64.encode(sealed))
}

/// Opens a sealed outbox payload (mail or event) with the current or previous secrets.
pub(crate) fn open<T: serde::de::DeserializeOwned>(
    keys: &[[u8; 32]],
    id: Uuid,
    payload: &str,
) -> Option<T> {
    let bytes = B64.decode(payload).ok()?;
    let plain = crate::secrets::open(keys, id.as_bytes(), &bytes)?;
    serde_json::from_slice(&plain).ok()
}

/// Records `email` in the outbox through `repos` (normally the transaction of the change
/// that causes it). Call [`Postern::wake_outbox`] after the commit.
pub(crate) async fn enqueue(
    p: &Postern,
    repos: &dyn Repos,
    project_id: &str,
    email: &Email,
) -> Result<()> {
    let id = Uuid::new_v4();
    let now = p.inner.clock.now_millis();
    let record = OutboxRecord {
        id,
        project_id: project_id.to_owned(),
        kind: "email".into(),
        payload: seal(&p.inner.outbox_keys[0], id, email)?,
        status: OutboxStatus::Pending,
        attempts: 0,
        created_at_millis: now,
        next_attempt_at_millis: now,
        sent_at_millis: None,
        last_error: None,
    };
    repos.outbox().insert(&record).await?;
    Ok(())
}

/// Writes a security notice (no code, no link) to `to` into the outbox through `repos`,
/// within the recipient's hourly notice budget (over it the notice is skipped: a change is
/// never refused for it). Returns whether it was written.
pub(crate) async fn notify(
    p: &Postern,
    repos: &dyn Repos,
    project: &crate::projects::Project,
    to: &str,
    notice: &super::Notice,
) -> Result<bool> {
    if p.throttle()
        .mail_allowed(repos, project, to, crate::throttle::MailKind::Notice)
        .await?
        .is_err()
    {
        tracing::warn!(target: "postern::email", "security notice skipped: the recipient's hourly budget is spent");
        return Ok(false);
    }
    let mail = super::security_notice(&project.display_name, to, notice);
    enqueue(p, repos, &project.id, &mail).await?;
    Ok(true)
}

/// How often the worker purges stale throttling counters.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// One delivery pass: every due message is claimed, delivered (or logged, without a
/// mailer) and marked. Stops at the first transient failure (the transport is likely
/// down; the rest waits for the next pass). Returns how many messages were delivered or
/// logged.
pub(crate) async fn deliver_due(p: &Postern) -> Result<usize> {
    let store = &p.inner.store;
    let now = p.inner.clock.now_millis();
    let mut done = 0;
    for mut m in store.outbox().due(now, BATCH).await? {
        if !store
            .outbox()
            .claim(m.id, m.next_attempt_at_millis, now + LEASE_MILLIS)
            .await?
        {
            continue;
        }
        let Some(email) = open::<Email>(&p.inner.outbox_keys, m.id, &m.payload) else {
            tracing::error!(target: "postern::email", id = %m.id, "outbox message cannot be opened with the current or previous secrets; giving up");
            m.status = OutboxStatus::Failed;
            m.last_error = Some("payload cannot be opened".into());
            store.outbox().update(&m).await?;
            continue;
        };
        if p.inner.log_email_bodies {
            tracing::info!(
                target: "postern::email",
                to = %email.to,
                subject = %email.subject,
                body = %email.text,
                "email (bodies are logged because log_email_bodies is on: development only)"
            );
        }
        let Some(mailer) = &p.inner.mailer else {
            if !p.inner.log_email_bodies {
                // Subjects and bodies carry codes: neither is logged.
                tracing::warn!(
                    target: "postern::email",
                    id = %m.id,
                    to = %email.to,
                    "no mailer is configured: email kept in the outbox, not delivered"
                );
            }
            m.status = OutboxStatus::Logged;
            store.outbox().update(&m).await?;
            done += 1;
            continue;
        };
        match mailer.send(&email).await {
            Ok(()) => {
                m.status = OutboxStatus::Sent;
                m.payload = String::new();
                m.sent_at_millis = Some(p.inner.clock.now_millis());
                m.last_error = None;
                store.outbox().update(&m).await?;
                tracing::debug!(target: "postern::email", id = %m.id, "email delivered");
                done += 1;
            }
            Err(e) => {
                m.attempts += 1;
                m.last_error = Some(e.message.clone());
                let now = p.inner.clock.now_millis();
                if e.permanent || now - m.created_at_millis > GIVE_UP_AFTER_MILLIS {
                    m.status = OutboxStatus::Failed;
                    m.payload = String::new();
                    tracing::error!(target: "postern::email", id = %m.id, error = %e, "email given up");
                    store.outbox().update(&m).await?;
                    continue;
                }
                let backoff = (1_000i64 << m.attempts.clamp(0, 10)).min(MAX_BACKOFF_MILLIS);
                m.next_attempt_at_millis = now + backoff;
                tracing::warn!(target: "postern::email", id = %m.id, attempts = m.attempts, error = %e, "email delivery failed; will retry");
                store.outbox().update(&m).await?;
                break;
            }
        }
    }
    Ok(done)
}

/// Starts the delivery worker on the current tokio runtime, if there is one. It holds the
/// Postern weakly and ends when the last handle is dropped.
pub(crate) fn spawn_worker(inner: &Arc<Inner>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let wake: Arc<Notify> = Arc::clone(&inner.outbox_wake);
    /// How long expired codes and provider tokens are kept before the purge.
    const EXPIRED_KEEP_MILLIS: i64 = 7 * 24 * 3600 * 1000;
    runtime.spawn(async move {
        let mut last_purge: Option<tokio::time::Instant> = None;
        loop {
            {
                let Some(inner) = weak.upgrade() else { return };
                let p = Postern { inner };
                if let Err(e) = deliver_due(&p).await {
                    tracing::warn!(target: "postern::email", error = %e, "outbox pass failed");
                }
                // Throttling counters outlive their use by at most a purge interval.
                if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
                    last_purge = Some(tokio::time::Instant::now());
                    let before = p.inner.clock.now_millis() - crate::throttle::KEEP_MILLIS;
                    if let Err(e) = p.inner.store.throttle().purge(before).await {
                        tracing::warn!(error = %e, "purging throttling counters failed");
                    }
                    // Expired codes stay a week (so that they answer "expired", not
                    // "not found"), then go; so do expired provider access tokens.
                    let before = p.inner.clock.now_millis() - EXPIRED_KEEP_MILLIS;
                    if let Err(e) = p.inner.store.codes().purge_expired(before).await {
                        tracing::warn!(error = %e, "purging expired codes failed");
                    }
                    if let Err(e) = p.inner.store.oauth().purge_tokens(before).await {
                        tracing::warn!(error = %e, "purging expired provider tokens failed");
                    }
                    if let Err(e) = p.inner.store.cli_auth().purge(before).await {
                        tracing::warn!(error = %e, "purging expired CLI login attempts failed");
                    }
                }
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_payloads_open_only_with_the_key_and_id() {
        let email = Email {
            to: "a@example.com".into(),
            from_name: "P".into(),
            subject: "S".into(),
            text: "http://x/?code=secretcode".into(),
            html: "<p>h</p>".into(),
        };
        let k1 = crate::secrets::outbox_key(b"first secret, long enough");
        let k2 = crate::secrets::outbox_key(b"second secret, long enough");
        let id = Uuid::new_v4();
        let sealed = seal(&k1, id, &email).unwrap();
        assert!(!sealed.contains("secretcode"));
        assert_eq!(open::<Email>(&[k1], id, &sealed), Some(email.clone()));
        assert_eq!(
            open::<Email>(&[k2, k1], id, &sealed),
            Some(email),
            "previous secrets open"
        );
        assert_eq!(open::<Email>(&[k2], id, &sealed), None);
        assert_eq!(
            open::<Email>(&[k1], Uuid::new_v4(), &sealed),
            None,
            "bound to the row id"
        );
        assert_eq!(open::<Email>(&[k1], id, "!!"), None);
    }
}
