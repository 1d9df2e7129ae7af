//! Delivery: signing (Svix / Standard Webhooks), the SSRF guard, and the worker that
//! claims due deliveries with a lease and follows Svix's retry schedule.
//!
//! Order: an endpoint's first attempts go out one at a time, in record order, so a healthy
//! receiver sees messages in the order they were recorded. A failed message is retried on
//! its own schedule and does not hold the ones behind it (as with Svix, which promises no
//! order): an endpoint that is down would otherwise hold every later message for up to 27
//! hours, and Stack's own tests expect each message to be tried at once. Receivers that
//! need order across failures compare the payload's state or the `svix-id`s, which sort
//! by record time.

use std::net::IpAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::error::Result;
use crate::postern::{Inner, Postern};
use crate::storage::{DeliveryStatus, WebhookAttemptRecord, WebhookDeliveryRecord};

/// Delay before each attempt, counted from the previous failure (Svix's schedule): the
/// first immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h. After the last,
/// the delivery has failed.
pub const SCHEDULE_MILLIS: [i64; 8] = [
    0,
    5_000,
    5 * 60_000,
    30 * 60_000,
    2 * 3_600_000,
    5 * 3_600_000,
    10 * 3_600_000,
    10 * 3_600_000,
];
/// An endpoint failing without a single success for this long is disabled.
pub(crate) const DISABLE_AFTER_MILLIS: i64 = 5 * 24 * 3_600_000;
/// Request timeout (a slower receiver counts as a failure).
const TIMEOUT: Duration = Duration::from_secs(15);
/// How long a claimed delivery is reserved for the instance sending it (beyond the
/// timeout, so a slow receiver never sees two instances at once).
const LEASE_MILLIS: i64 = 45_000;
/// How often the worker looks for due deliveries when nothing wakes it.
const POLL: Duration = Duration::from_millis(500);
/// Deliveries fetched per pass.
const BATCH: u64 = 32;
/// How long the delivery log, finished deliveries and their events are kept.
pub const RETENTION_MILLIS: i64 = 30 * 24 * 3_600_000;
/// How often the worker forgets what is older than [`RETENTION_MILLIS`].
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// Retries and endpoint lanes in flight at once per instance (a slow receiver holds one).
const MAX_IN_FLIGHT: usize = 64;
/// How much of a response body the log keeps.
const MAX_LOGGED_RESPONSE: usize = 1024;

/// The `svix-signature` header value: one `v1,<base64 HMAC-SHA256>` per key, space
/// separated, over `"{id}.{timestamp}.{body}"`.
///
/// ```
/// let sig = postern_core::webhooks::sign(&[b"0123456789abcdef01234567"], "msg_1", 1_700_000_000, b"{}");
/// assert!(sig.starts_with("v1,"));
/// ```
pub fn sign(keys: &[&[u8]], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| {
            let mut m =
                <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
            m.update(id.as_bytes());
            m.update(b".");
            m.update(timestamp.to_string().as_bytes());
            m.update(b".");
            m.update(body);
            format!("v1,{}", B64.encode(m.finalize().into_bytes()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The HTTP clients: one that reaches only public addresses, one for endpoints whose
/// project allows private ones.
pub(crate) struct Clients {
    guarded: reqwest::Client,
    open: reqwest::Client,
}

impl Clients {
    fn new() -> std::result::Result<Self, reqwest::Error> {
        let base = || {
            reqwest::Client::builder()
                .timeout(TIMEOUT)
                .connect_timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("Postern-Webhooks/", env!("CARGO_PKG_VERSION")))
        };
        Ok(Clients {
            guarded: base()
                .dns_resolver(Arc::new(crate::net::PublicOnly))
                .build()?,
            open: base().build()?,
        })
    }
}

/// What an attempt came to.
struct Outcome {
    success: bool,
    status: Option<u16>,
    response: String,
    abort: bool,
}

impl Outcome {
    fn failed(why: impl Into<String>) -> Self {
        Outcome {
            success: false,
            status: None,
            response: why.into(),
            abort: false,
        }
    }
}

/// POSTs `body` to `url` with the signature headers.
async fn post(
    clients: &Clients,
    url: &str,
    allow_private: bool,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Outcome {
    let Ok(parsed) = url::Url::parse(url) else {
        return Outcome::failed("invalid URL");
    };
    let client = if allow_private {
        &clients.open
    } else {
        // IP literals never reach the resolver: judge them here.
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if literal.is_some_and(|ip| !crate::net::is_public_address(ip))
            || parsed
                .host_str()
                .is_some_and(|h| h.eq_ignore_ascii_case("localhost") || h.ends_with(".localhost"))
        {
            return Outcome::failed(
                "refused: the destination is not a public address (allow private addresses for this endpoint to deliver there)",
            );
        }
        &clients.guarded
    };
    let mut req = client
        .post(parsed)
        .header(http::header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let mut resp = match req.body(body).send().await {
        Ok(r) => r,
        Err(e) => return Outcome::failed(error_chain(&e)),
    };
    let status = resp.status();
    let abort = resp
        .headers()
        .get("webhook-delivery")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("abort-message"));
    let mut kept = Vec::new();
    while kept.len() < MAX_LOGGED_RESPONSE {
        match resp.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            _ => break,
        }
    }
    kept.truncate(MAX_LOGGED_RESPONSE);
    Outcome {
        success: status.is_success(),
        status: Some(status.as_u16()),
        response: String::from_utf8_lossy(&kept).into_owned(),
        abort,
    }
}

/// An error with its causes (reqwest's top-level message alone says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// One pass, waited for: every due retry gets an attempt, and every endpoint with first
/// attempts due has its lane run until its queue is empty. Returns how many attempts were
/// made. (The background worker does not wait: see [`spawn_worker`].)
pub(crate) async fn deliver_due(p: &Postern) -> Result<usize> {
    let now = p.inner.clock.now_millis();
    let hooks = p.inner.store.webhooks();
    let mut set = tokio::task::JoinSet::new();
    for d in hooks.due_retries(now, BATCH).await? {
        let p = p.clone();
        set.spawn(async move { attempt(&p, d).await.map(usize::from) });
    }
    for e in hooks.endpoints_with_first_attempts(now, BATCH).await? {
        let p = p.clone();
        set.spawn(async move { lane(&p, e).await });
    }
    let mut made = 0;
    while let Some(r) = set.join_next().await {
        if let Ok(Ok(n)) = r {
            made += n;
        }
        log_task_end(r.map(|r| r.map(|_| ())));
    }
    Ok(made)
}

/// An endpoint's lane: its first attempts, one at a time in record order, until none is
/// left (or another instance holds the next). Returns how many attempts were made.
async fn lane(p: &Postern, endpoint: Uuid) -> Result<usize> {
    let mut made = 0;
    loop {
        let Some(d) = p
            .inner
            .store
            .webhooks()
            .next_first_attempt(endpoint)
            .await?
        else {
            return Ok(made);
        };
        if d.next_attempt_at_millis > p.inner.clock.now_millis() || !claim(p, &d).await? {
            // In flight on another instance: its lane carries on from there.
            return Ok(made);
        }
        if send(p, d).await? {
            made += 1;
        }
    }
}

fn log_task_end(r: std::result::Result<Result<()>, tokio::task::JoinError>) {
    match r {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(target: "postern::webhooks", error = %e, "a webhook delivery could not be recorded")
        }
        Err(e) => tracing::error!(target: "postern::webhooks", error = %e, "a webhook task ended"),
    }
}

/// Endpoints whose lane runs on this instance.
type Lanes = Arc<std::sync::Mutex<std::collections::HashSet<Uuid>>>;

/// Starts, within the free permits, a task per due retry and a lane per endpoint with first
/// attempts due and no lane yet. Each task releases its permit and wakes the worker when
/// done. A slow receiver holds one permit, not the others. Returns how many started.
async fn dispatch(
    p: &Postern,
    permits: &Arc<tokio::sync::Semaphore>,
    lanes: &Lanes,
) -> Result<usize> {
    let free = permits.available_permits().min(BATCH as usize);
    if free == 0 {
        return Ok(0);
    }
    let now = p.inner.clock.now_millis();
    let hooks = p.inner.store.webhooks();
    let mut started = 0;
    for d in hooks.due_retries(now, free as u64).await? {
        // Claimed before the task starts, so the next pass cannot pick it up again.
        if !claim(p, &d).await? {
            continue;
        }
        let Ok(permit) = Arc::clone(permits).try_acquire_owned() else {
            break;
        };
        started += 1;
        let p = p.clone();
        tokio::spawn(async move {
            let r = send(&p, d).await;
            drop(permit);
            p.inner.webhook_wake.notify_one();
            log_task_end(Ok(r.map(|_| ())));
        });
    }
    for e in hooks.endpoints_with_first_attempts(now, BATCH).await? {
        if !lanes.lock().map(|mut l| l.insert(e)).unwrap_or(false) {
            continue;
        }
        let Ok(permit) = Arc::clone(permits).try_acquire_owned() else {
            if let Ok(mut l) = lanes.lock() {
                l.remove(&e);
            }
            break;
        };
        started += 1;
        let p = p.clone();
        let lanes = Arc::clone(lanes);
        tokio::spawn(async move {
            let r = lane(&p, e).await;
            if let Ok(mut l) = lanes.lock() {
                l.remove(&e);
            }
            drop(permit);
            // A message recorded while the lane was ending is picked up by the next pass.
            p.inner.webhook_wake.notify_one();
            log_task_end(Ok(r.map(|_| ())));
        });
    }
    Ok(started)
}

/// Claims `d` for this instance (a lease beyond the request timeout). `false` if another
/// instance, or an earlier pass, holds it.
async fn claim(p: &Postern, d: &WebhookDeliveryRecord) -> Result<bool> {
    let now = p.inner.clock.now_millis();
    Ok(p.inner
        .store
        .webhooks()
        .claim_delivery(d.id, d.next_attempt_at_millis, now + LEASE_MILLIS)
        .await?)
}

/// Claims `d` and makes one attempt. `false` if another instance holds it.
async fn attempt(p: &Postern, d: WebhookDeliveryRecord) -> Result<bool> {
    if !claim(p, &d).await? {
        return Ok(false);
    }
    send(p, d).await
}

/// Makes one attempt at a claimed delivery and records it.
async fn send(p: &Postern, mut d: WebhookDeliveryRecord) -> Result<bool> {
    let store = &p.inner.store;
    let now = p.inner.clock.now_millis();
    let Some(mut endpoint) = store
        .webhooks()
        .get_endpoint(&d.project_id, d.endpoint_id)
        .await?
    else {
        return Ok(false);
    };
    let give_up = |d: &mut WebhookDeliveryRecord, now| {
        d.status = DeliveryStatus::Failed;
        d.finished_at_millis = Some(now);
    };
    if !endpoint.enabled {
        give_up(&mut d, now);
        store.webhooks().update_delivery(&d).await?;
        return Ok(false);
    }
    let hooks = p.webhooks();
    let body = store
        .outbox()
        .get(d.message_id)
        .await?
        .and_then(|row| crate::events::open_body(p, &row));
    let secrets: Vec<String> = std::iter::once(hooks.open_secret(endpoint.id, &endpoint.secret))
        .chain(
            endpoint
                .previous_secret
                .as_ref()
                .filter(|_| {
                    endpoint
                        .previous_secret_until_millis
                        .is_some_and(|t| t > now)
                })
                .map(|s| hooks.open_secret(endpoint.id, s)),
        )
        .flatten()
        .collect();
    let keys: Vec<Vec<u8>> = secrets
        .iter()
        .filter_map(|s| super::secret_key(s))
        .collect();
    let (Some(body), false) = (body, keys.is_empty()) else {
        tracing::error!(target: "postern::webhooks", delivery = %d.id, "a webhook message or secret cannot be opened with the current or previous server secrets; giving up");
        give_up(&mut d, now);
        store.webhooks().update_delivery(&d).await?;
        return Ok(false);
    };
    let msg_id = super::message_id(d.message_id);
    let timestamp = now / 1000;
    let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let signature = sign(&key_refs, &msg_id, timestamp, &body);
    let ts = timestamp.to_string();
    // Svix's headers, and the same under Standard Webhooks' names.
    let headers = [
        ("svix-id", msg_id.clone()),
        ("svix-timestamp", ts.clone()),
        ("svix-signature", signature.clone()),
        ("webhook-id", msg_id),
        ("webhook-timestamp", ts),
        ("webhook-signature", signature),
    ];
    let clients = match p.inner.webhook_clients.get() {
        Some(c) => c,
        None => match Clients::new() {
            Ok(c) => p.inner.webhook_clients.get_or_init(|| c),
            Err(e) => {
                tracing::error!(target: "postern::webhooks", error = %e, "no HTTP client for webhooks");
                return Ok(false);
            }
        },
    };
    let started = Instant::now();
    let out = post(
        clients,
        &endpoint.url,
        endpoint.allow_private_addresses,
        &headers,
        body,
    )
    .await;
    let latency = started.elapsed().as_millis() as i64;
    let now = p.inner.clock.now_millis();
    store
        .webhooks()
        .insert_attempt(&WebhookAttemptRecord {
            id: Uuid::now_v7(),
            project_id: d.project_id.clone(),
            delivery_id: d.id,
            message_id: d.message_id,
            endpoint_id: d.endpoint_id,
            url: endpoint.url.clone(),
            success: out.success,
            response_status_code: out.status.map(i32::from),
            response: out.response.clone(),
            latency_millis: latency,
            at_millis: now,
            // A replay sets a finished delivery back to pending and keeps its finish time.
            trigger: if d.attempts == 0 && d.finished_at_millis.is_some() {
                "manual"
            } else {
                "scheduled"
            }
            .into(),
        })
        .await?;
    d.attempts += 1;
    if out.success {
        d.status = DeliveryStatus::Delivered;
        d.finished_at_millis = Some(now);
        if endpoint.failing_since_millis.is_some() {
            endpoint.failing_since_millis = None;
            store.webhooks().update_endpoint(&endpoint).await?;
        }
        tracing::debug!(target: "postern::webhooks", endpoint = %endpoint.id, delivery = %d.id, "webhook delivered");
    } else {
        tracing::warn!(
            target: "postern::webhooks",
            endpoint = %endpoint.id,
            delivery = %d.id,
            attempts = d.attempts,
            status = ?out.status,
            "webhook delivery failed"
        );
        if out.abort {
            d.status = DeliveryStatus::Aborted;
            d.finished_at_millis = Some(now);
        } else if let Some(delay) = SCHEDULE_MILLIS.get(d.attempts as usize) {
            d.next_attempt_at_millis = now + delay;
        } else {
            give_up(&mut d, now);
        }
        match endpoint.failing_since_millis {
            None => {
                endpoint.failing_since_millis = Some(now);
                store.webhooks().update_endpoint(&endpoint).await?;
            }
            Some(since) if now - since >= DISABLE_AFTER_MILLIS => {
                endpoint.enabled = false;
                endpoint.updated_at_millis = now;
                store.webhooks().update_endpoint(&endpoint).await?;
                give_up(&mut d, now);
                store.webhooks().fail_pending(endpoint.id, now).await?;
                tracing::warn!(target: "postern::webhooks", endpoint = %endpoint.id, "webhook endpoint disabled after five days of failures");
            }
            Some(_) => {}
        }
    }
    store.webhooks().update_delivery(&d).await?;
    Ok(true)
}

/// Starts the delivery worker on the current tokio runtime, if there is one. It holds the
/// Postern weakly and ends when the last handle is dropped.
pub(crate) fn spawn_worker(inner: &Arc<Inner>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let wake = Arc::clone(&inner.webhook_wake);
    runtime.spawn(async move {
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
        let lanes: Lanes = Default::default();
        let mut failures = 0u32;
        let mut last_purge: Option<tokio::time::Instant> = None;
        loop {
            let started = {
                let Some(inner) = weak.upgrade() else { return };
                let p = Postern { inner };
                if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
                    last_purge = Some(tokio::time::Instant::now());
                    let before = p.inner.clock.now_millis() - RETENTION_MILLIS;
                    match p.inner.store.webhooks().purge(before).await {
                        Ok(n) if n > 0 => {
                            tracing::info!(target: "postern::webhooks", rows = n, "old webhook messages and log purged")
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(target: "postern::webhooks", error = %e, "purging old webhook rows failed")
                        }
                    }
                }
                match dispatch(&p, &permits, &lanes).await {
                    Ok(n) => {
                        failures = 0;
                        n
                    }
                    Err(e) => {
                        // The database is likely down: back off quietly, up to 30 s.
                        failures = failures.saturating_add(1);
                        if failures == 1 {
                            tracing::warn!(target: "postern::webhooks", error = %e, "webhook pass failed");
                        }
                        0
                    }
                }
            };
            if started > 0 {
                continue;
            }
            let wait = if failures > 0 {
                POLL.saturating_mul(1 << failures.min(6)).min(Duration::from_secs(30))
            } else {
                POLL
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let key = B64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            &[&key],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn rotation_signs_with_every_key() {
        let sig = sign(
            &[b"k1k1k1k1k1k1k1k1k1k1k1k1", b"k2k2k2k2k2k2k2k2k2k2k2k2"],
            "m",
            1,
            b"{}",
        );
        assert_eq!(sig.split(' ').count(), 2);
        assert!(sig.split(' ').all(|s| s.starts_with("v1,")));
    }

    #[test]
    fn the_schedule_is_svix_s() {
        assert_eq!(SCHEDULE_MILLIS.len(), 8);
        assert_eq!(SCHEDULE_MILLIS[0], 0);
        assert_eq!(
            SCHEDULE_MILLIS.iter().sum::<i64>(),
            5_000 + 35 * 60_000 + 27 * 3_600_000
        );
    }
}
