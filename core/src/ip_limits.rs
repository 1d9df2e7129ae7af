//! Per-IP token buckets (the first of the throttle's layers; see [`crate::throttle`]): the
//! classes of endpoints that share a bucket and the bounded in-memory limiter. Pure: no
//! storage and no service, so the [`crate::Postern`] core can hold the limiter.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Mutex;

use crate::config::{RateLimit, RateLimits};

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
    /// A client changing its account: contact channels, the user's own profile, API keys.
    AccountChange,
}

impl RouteClass {
    /// The class's name as the config spells it (`signIn`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RouteClass::SignUp => "signUp",
            RouteClass::SignIn => "signIn",
            RouteClass::SendCode => "sendCode",
            RouteClass::KeyCheck => "keyCheck",
            RouteClass::AccountChange => "accountChange",
        }
    }

    /// The class's limit among `limits`.
    pub fn limit_in(self, l: &RateLimits) -> RateLimit {
        match self {
            RouteClass::SignUp => l.sign_up,
            RouteClass::SignIn => l.sign_in,
            RouteClass::SendCode => l.send_code,
            RouteClass::KeyCheck => l.key_check,
            RouteClass::AccountChange => l.account_change,
        }
    }
}

/// One token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_millis: i64,
}

pub(crate) const SHARDS: usize = 16;

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

#[cfg(test)]
mod tests {
    use super::*;

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
