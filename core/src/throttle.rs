//! Abuse protection (NIST SP 800-63B 5.2.2): per-IP token buckets, per-account failure
//! runs with progressive delays and a lock, and per-recipient mail limits.
//!
//! - **Per client IP** ([`IpLimiter`]): one token bucket per project, class of endpoint
//!   ([`RouteClass`]) and client (an IPv6 client counts by its /64), in memory. Buckets
//!   are per instance, so a deployment of `n` instances allows up to `n` times the
//!   configured rate from one client; the account and mail limits below are exact.
//! - **Per account and factor** (password, TOTP, codes): consecutive failures are counted
//!   in the database ([`crate::storage::ThrottleRepo`]), so every instance sees the same
//!   run. After `freeFailures` each attempt must wait `2^(n - free)` seconds (capped) after
//!   the previous failure; after `maxFailures` (at most 100) the factor is locked for
//!   `lockSeconds` or until a password reset. Attempts are refused **before** the factor is
//!   checked, so a delayed or locked factor cannot be guessed. Sign-in attempts for
//!   addresses without an account are counted the same way (by a keyed hash of the
//!   address), so the answers do not tell which addresses have accounts.
//! - **Per recipient**: mail (codes, reset links, invitations, step-up codes) to one address
//!   is counted per hour in the database.
//!
//! Every refusal is [`Error::TooManyRequests`]: `429` with `Retry-After`.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Mutex;

use hmac::{KeyInit, Mac};
use uuid::Uuid;

use crate::config::{LockoutConfig, RateLimit, RateLimits};
use crate::error::{Error, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::{Repos, ThrottleRecord};

/// The classes of endpoints that share a per-IP bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteClass {
    /// Account creation.
    SignUp,
    /// Anything that checks a guessable secret: passwords, OTPs, TOTPs, codes.
    SignIn,
    /// Anything that sends mail.
    SendCode,
    /// API-key checks.
    KeyCheck,
}

impl RouteClass {
    /// The class's limit in a project's config.
    pub fn limit(self, project: &Project) -> RateLimit {
        self.limit_in(&project.config.security.rate_limits)
    }

    /// The class's limit among `limits`.
    pub fn limit_in(self, l: &RateLimits) -> RateLimit {
        match self {
            RouteClass::SignUp => l.sign_up,
            RouteClass::SignIn => l.sign_in,
            RouteClass::SendCode => l.send_code,
            RouteClass::KeyCheck => l.key_check,
        }
    }
}

/// One token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_millis: i64,
}

const SHARDS: usize = 16;

/// Token buckets per (project, class, client), in memory, with a bounded number of
/// buckets: a shard that grows past its share first drops the buckets that are full again
/// (idle clients), then, if it is still too big, starts over.
pub struct IpLimiter {
    shards: Vec<Mutex<HashMap<u64, Bucket>>>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl std::fmt::Debug for IpLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpLimiter")
            .field("capacity", &(self.per_shard * SHARDS))
            .finish_non_exhaustive()
    }
}

impl Default for IpLimiter {
    fn default() -> Self {
        Self::with_capacity(131_072)
    }
}

/// The part of an address that identifies a client: all of an IPv4 address (or an
/// IPv4-mapped IPv6 one), the /64 of an IPv6 address (one subscriber's usual allocation).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
    }
}

impl IpLimiter {
    /// A limiter holding at most about `capacity` buckets.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: (capacity / SHARDS).max(16),
            hasher: Default::default(),
        }
    }

    /// Takes a token from the bucket of (project, class, client) at `now_millis`; when the
    /// bucket is empty, the seconds until one is back.
    ///
    /// ```
    /// use postern_core::config::RateLimit;
    /// use postern_core::throttle::{IpLimiter, RouteClass};
    /// let limiter = IpLimiter::default();
    /// let ip = "203.0.113.7".parse().unwrap();
    /// let limit = RateLimit::new(2, 60); // 2 at once, then one a second
    /// assert!(limiter.take("p", RouteClass::SignIn, ip, limit, 0).is_ok());
    /// assert!(limiter.take("p", RouteClass::SignIn, ip, limit, 0).is_ok());
    /// assert_eq!(limiter.take("p", RouteClass::SignIn, ip, limit, 0), Err(1));
    /// assert!(limiter.take("p", RouteClass::SignIn, ip, limit, 1_000).is_ok());
    /// assert!(limiter.take("p", RouteClass::SignUp, ip, limit, 0).is_ok(), "classes are apart");
    /// ```
    pub fn take(
        &self,
        project_id: &str,
        class: RouteClass,
        ip: IpAddr,
        limit: RateLimit,
        now_millis: i64,
    ) -> std::result::Result<(), u64> {
        if limit.burst == 0 {
            return Ok(());
        }
        let key = self.hasher.hash_one((project_id, class, client_key(ip)));
        let burst = f64::from(limit.burst);
        let per_milli = f64::from(limit.per_minute) / 60_000.0;
        let shard = &self.shards[(key as usize) % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.per_shard && !map.contains_key(&key) {
            map.retain(|_, b| {
                b.tokens + per_milli * ((now_millis - b.at_millis).max(0) as f64) < burst
            });
            if map.len() >= self.per_shard {
                map.clear();
            }
        }
        let b = map.entry(key).or_insert(Bucket {
            tokens: burst,
            at_millis: now_millis,
        });
        let elapsed = (now_millis - b.at_millis).max(0) as f64;
        b.tokens = (b.tokens + elapsed * per_milli).min(burst);
        b.at_millis = b.at_millis.max(now_millis);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else if per_milli <= 0.0 {
            Err(3_600)
        } else {
            Err((((1.0 - b.tokens) / per_milli) / 1_000.0).ceil().max(1.0) as u64)
        }
    }
}

/// How long a counter is kept after its last event: a week. Locks longer than that end
/// with it (`lockSeconds` counts as at most a week).
pub const KEEP_MILLIS: i64 = 7 * 24 * 3_600_000;

/// A factor whose failures are counted per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// Passwords (sign-in, step-up, password change).
    Password,
    /// TOTP codes and recovery codes.
    Totp,
    /// Verification, reset, sign-in and step-up codes.
    Code,
}

impl Factor {
    fn as_str(self) -> &'static str {
        match self {
            Factor::Password => "password",
            Factor::Totp => "totp",
            Factor::Code => "code",
        }
    }

    fn free(self, cfg: &LockoutConfig) -> u32 {
        match self {
            Factor::Password => cfg.free_failures.password,
            Factor::Totp => cfg.free_failures.totp,
            Factor::Code => cfg.free_failures.code,
        }
    }
}

/// Whose failures are counted: an account, or an address that has none (by a keyed hash,
/// so the table does not list the addresses that were tried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An account.
    User(Uuid),
    /// An address (normalised) without an account.
    Address(String),
}

fn keyed_hash(p: &Postern, value: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&p.inner.throttle_key)
        .expect("HMAC takes any key length");
    mac.update(value.as_bytes());
    crate::secrets::hex(&mac.finalize().into_bytes()[..16])
}

fn failure_key(p: &Postern, factor: Factor, subject: &Subject) -> String {
    match subject {
        Subject::User(id) => format!("fail:{}:{id}", factor.as_str()),
        Subject::Address(a) => format!("fail:{}:e:{}", factor.as_str(), keyed_hash(p, a)),
    }
}

/// How long attempts must still wait at `now` after this failure run, in seconds; `None`
/// when they need not.
pub fn failure_wait(
    run: &ThrottleRecord,
    factor: Factor,
    cfg: &LockoutConfig,
    now: i64,
) -> Option<u64> {
    let count = u32::try_from(run.count.max(0)).unwrap_or(u32::MAX);
    let max = cfg.max_failures.clamp(1, 100);
    let lock_ms = (i64::from(cfg.lock_seconds) * 1000).min(KEEP_MILLIS);
    if now - run.updated_at_millis >= lock_ms {
        return None;
    }
    let until = if count >= max {
        run.updated_at_millis + lock_ms
    } else {
        let free = factor.free(cfg);
        if count < free {
            return None;
        }
        let exp = (count - free).min(30);
        let delay_s = (1u64 << exp).min(u64::from(cfg.max_delay_seconds.max(1)));
        run.updated_at_millis + delay_s as i64 * 1000
    };
    (until > now).then(|| ((until - now) as u64).div_ceil(1000).max(1))
}

/// Per-account throttling; from [`Postern::throttle`].
#[derive(Debug, Clone, Copy)]
pub struct Throttle<'a> {
    p: &'a Postern,
}

impl Postern {
    /// Per-account failure runs and per-recipient mail limits.
    pub fn throttle(&self) -> Throttle<'_> {
        Throttle { p: self }
    }
}

/// What [`Throttle::check`] found: pass it back to [`Throttle::succeeded`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Run {
    key: String,
    existed: bool,
}

impl Throttle<'_> {
    /// Refuses an attempt on `factor` of `subject` while its failure run says to wait
    /// (`429` with `Retry-After`). Costs one point read.
    pub async fn check(&self, project: &Project, factor: Factor, subject: &Subject) -> Result<Run> {
        let key = failure_key(self.p, factor, subject);
        let run = self.p.inner.store.throttle().get(&project.id, &key).await?;
        if let Some(r) = &run
            && let Some(wait) = failure_wait(
                r,
                factor,
                &project.config.security.lockout,
                self.p.inner.clock.now_millis(),
            )
        {
            return Err(Error::TooManyRequests {
                retry_after_secs: wait,
            });
        }
        Ok(Run {
            key,
            existed: run.is_some(),
        })
    }

    /// Ends the failure run after a success (no write when there was none).
    pub async fn succeeded(&self, repos: &dyn Repos, project: &Project, run: &Run) -> Result<()> {
        if run.existed {
            repos.throttle().clear(&project.id, &run.key).await?;
        }
        Ok(())
    }

    /// Counts a failure through `repos` (the caller commits), and records the lock in the
    /// audit log when this failure locks the factor.
    pub async fn failed(
        &self,
        repos: &dyn Repos,
        project: &Project,
        factor: Factor,
        subject: &Subject,
    ) -> Result<()> {
        let cfg = &project.config.security.lockout;
        let now = self.p.inner.clock.now_millis();
        let key = failure_key(self.p, factor, subject);
        let run = repos
            .throttle()
            .add_failure(
                &project.id,
                &key,
                now,
                now - (i64::from(cfg.lock_seconds) * 1000).min(KEEP_MILLIS),
            )
            .await?;
        if run.count == i64::from(cfg.max_failures.clamp(1, 100))
            && let Subject::User(user) = subject
        {
            crate::audit::record(
                self.p,
                repos,
                &project.id,
                "account.locked",
                Some(*user),
                serde_json::json!({ "factor": factor.as_str(), "failures": run.count, "lock_seconds": cfg.lock_seconds }),
            )
            .await?;
        }
        Ok(())
    }

    /// Ends every failure run of the user's `factor` (a password reset unlocks the
    /// password).
    pub async fn clear(
        &self,
        repos: &dyn Repos,
        project_id: &str,
        factor: Factor,
        user: Uuid,
    ) -> Result<()> {
        let key = failure_key(self.p, factor, &Subject::User(user));
        repos.throttle().clear(project_id, &key).await?;
        Ok(())
    }

    /// Counts one mail to `recipient` (normalised) this hour, through `repos`; refuses it
    /// (`429`) past `security.mailPerRecipientPerHour`.
    pub async fn mail(&self, repos: &dyn Repos, project: &Project, recipient: &str) -> Result<()> {
        let limit = project.config.security.mail_per_recipient_per_hour;
        if limit == 0 {
            return Ok(());
        }
        const HOUR: i64 = 3_600_000;
        let now = self.p.inner.clock.now_millis();
        let window = now - now.rem_euclid(HOUR);
        let key = format!(
            "mail:{}",
            keyed_hash(self.p, &crate::email::normalize_email(recipient))
        );
        let hit = repos.throttle().hit(&project.id, &key, window, now).await?;
        if hit.count > i64::from(limit) {
            return Err(Error::TooManyRequests {
                retry_after_secs: ((window + HOUR - now) as u64).div_ceil(1000).max(1),
            });
        }
        Ok(())
    }
}

/// The throttling key for a server secret (keys the hashes of addresses in counters).
pub(crate) fn throttle_key(secret: &[u8]) -> [u8; 32] {
    crate::secrets::derive_key(secret, b"postern/throttle/v1", b"hmac-sha256")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(count: i64, at: i64) -> ThrottleRecord {
        ThrottleRecord {
            project_id: "p".into(),
            key: "k".into(),
            count,
            window_start_millis: at,
            updated_at_millis: at,
        }
    }

    #[test]
    fn delays_double_after_the_free_failures_then_lock() {
        let cfg = LockoutConfig::default();
        let f = Factor::Password;
        assert_eq!(failure_wait(&run(4, 0), f, &cfg, 0), None);
        assert_eq!(failure_wait(&run(5, 0), f, &cfg, 0), Some(1));
        assert_eq!(failure_wait(&run(6, 0), f, &cfg, 0), Some(2));
        assert_eq!(failure_wait(&run(8, 0), f, &cfg, 0), Some(8));
        assert_eq!(failure_wait(&run(8, 0), f, &cfg, 8_000), None);
        assert_eq!(failure_wait(&run(40, 0), f, &cfg, 0), Some(900), "capped");
        assert_eq!(
            failure_wait(&run(100, 0), f, &cfg, 0),
            Some(86_400),
            "locked"
        );
        assert_eq!(failure_wait(&run(100, 0), f, &cfg, 86_399_000), Some(1));
        assert_eq!(failure_wait(&run(100, 0), f, &cfg, 86_400_000), None);
        assert_eq!(failure_wait(&run(29, 0), Factor::Code, &cfg, 0), None);
        let loose = LockoutConfig {
            max_failures: 1_000,
            ..cfg
        };
        assert_eq!(
            failure_wait(&run(100, 0), f, &loose, 0),
            Some(86_400),
            "NIST: never more than 100"
        );
    }

    #[test]
    fn buckets_refill_and_are_per_client() {
        let l = IpLimiter::default();
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let a2: IpAddr = "2001:db8::ffff".parse().unwrap();
        let b: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let limit = RateLimit::new(3, 6); // one token every 10 s
        for _ in 0..3 {
            assert!(l.take("p", RouteClass::SendCode, a, limit, 0).is_ok());
        }
        assert_eq!(
            l.take("p", RouteClass::SendCode, a2, limit, 0),
            Err(10),
            "same /64"
        );
        assert!(l.take("p", RouteClass::SendCode, b, limit, 0).is_ok());
        assert!(l.take("q", RouteClass::SendCode, a, limit, 0).is_ok());
        assert!(l.take("p", RouteClass::SendCode, a, limit, 10_000).is_ok());
        assert!(
            l.take("p", RouteClass::SendCode, a, RateLimit::new(0, 0), 0)
                .is_ok()
        );
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn limiter_memory_is_bounded() {
        let l = IpLimiter::with_capacity(64);
        let limit = RateLimit::new(2, 60);
        for i in 0..10_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            let _ = l.take("p", RouteClass::SignIn, ip, limit, i64::from(i));
        }
        let total: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= 16 * SHARDS, "{total} buckets");
    }
}
