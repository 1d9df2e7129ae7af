//! Abuse protection (NIST SP 800-63B 5.2.2): per-IP token buckets, per-account failure
//! runs with progressive delays and a lock, and per-recipient mail limits.
//!
//! - **Per client IP** ([`IpLimiter`]): one token bucket per project, class of endpoint
//!   ([`RouteClass`]) and client (an IPv6 client counts by its /64), in memory. Buckets
//!   are per instance, so a deployment of `n` instances allows up to `n` times the
//!   configured rate from one client; the account and mail limits below are exact.
//! - **Per account and factor** (password, TOTP, step-up codes): consecutive failures are
//!   counted in the database ([`crate::storage::ThrottleRepo`]), so every instance sees the
//!   same run. Each attempt is reserved in one atomic statement before the factor is
//!   checked, so concurrent guesses cannot slip past the free failures together. After
//!   `freeFailures` each attempt must wait `2^(n - free)` seconds (capped) after the previous
//!   failure; after `maxFailures` (at most 100) the factor is locked for `lockSeconds`, and
//!   each further failure locks it again, until a success or a password reset. A refused
//!   attempt is not checked, so a delayed or locked factor cannot be guessed. Sign-in
//!   attempts for addresses without an account are counted the same way (by a keyed hash
//!   of the address), so the answers do not tell which addresses have accounts. Emailed
//!   codes other than step-up codes are limited per code ([`crate::codes::MAX_ATTEMPTS`])
//!   and by the mail limit instead, so nobody can lock someone else's account by guessing
//!   at a code they asked for.
//! - **Per recipient**: mail is counted per hour, address and kind ([`MailKind`]) in the
//!   database.
//!
//! Every refusal is [`Error::TooManyRequests`]: `429` with `Retry-After`.

use hmac::{KeyInit, Mac};
use uuid::Uuid;

use crate::config::LockoutConfig;
use crate::error::{Error, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::Repos;

pub use crate::ip_limits::{IpLimiter, RouteClass};

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
    /// Step-up codes (other emailed codes are limited per code).
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

/// How long an attempt waits for the verdict of attempts still in flight; past it, they
/// were abandoned (a request dropped mid-way) and count as failures from the run's start.
pub const IN_FLIGHT_MILLIS: i64 = 30_000;

/// How long an attempt must still wait at `now`, given the `failures` counted before it
/// (recorded failures and attempts still in flight), the time of the last recorded failure
/// (0: none yet, every counted attempt is in flight) and when the run started; `None` when
/// it may go ahead.
///
/// Past the free failures each attempt waits `2^(failures - free)` seconds (capped) after the
/// last failure; at `maxFailures` (at most 100) the factor is locked for `lockSeconds` after
/// the last failure, and each further failure locks it again until a success or a reset.
///
/// ```
/// use postern_core::config::LockoutConfig;
/// use postern_core::throttle::{failure_wait, Factor};
/// let cfg = LockoutConfig::default();
/// // Five failures of a password, the last at t = 10 ms: wait a second.
/// assert_eq!(failure_wait(5, 10, 0, Factor::Password, &cfg, 10), Some(1));
/// ```
pub fn failure_wait(
    failures: i64,
    last_failure_millis: i64,
    run_start_millis: i64,
    factor: Factor,
    cfg: &LockoutConfig,
    now: i64,
) -> Option<u64> {
    let failures = u32::try_from(failures.max(0)).unwrap_or(u32::MAX);
    let free = factor.free(cfg);
    if failures < free {
        return None;
    }
    let mut last_failure_millis = last_failure_millis;
    if last_failure_millis == 0 {
        if now - run_start_millis < IN_FLIGHT_MILLIS {
            // Attempts past the free ones are still in flight: wait for their verdict.
            return Some(1);
        }
        last_failure_millis = run_start_millis.max(1);
    }
    let max = cfg.max_failures.clamp(1, 100);
    let wait_ms = if failures >= max {
        (i64::from(cfg.lock_seconds) * 1000).min(KEEP_MILLIS)
    } else {
        let exp = (failures - free).min(30);
        (1i64 << exp).min(i64::from(cfg.max_delay_seconds.max(1))) * 1000
    };
    let until = last_failure_millis + wait_ms;
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

/// An attempt reserved by [`Throttle::begin`]: end it with [`Throttle::succeeded`] or
/// [`Throttle::failed`]. One left unended counts as in flight for [`IN_FLIGHT_MILLIS`],
/// then as a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Attempt {
    key: String,
    factor: Factor,
    user: Option<Uuid>,
    /// The run's count with this attempt.
    count: i64,
}

/// What mail is sent for: each purpose has its own hourly budget per recipient, so using up
/// one (say, reset requests anyone can send) does not block another (sign-in codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// OTP / magic-link sign-in codes.
    SignInCode,
    /// Password-reset links.
    PasswordReset,
    /// Email verification.
    Verification,
    /// Team invitations.
    Invitation,
    /// Step-up codes and sign-in address confirmations.
    StepUp,
    /// Security notices (email, password, MFA changes): over the budget they are skipped,
    /// never refused.
    Notice,
}

impl MailKind {
    fn as_str(self) -> &'static str {
        match self {
            MailKind::SignInCode => "sign_in",
            MailKind::PasswordReset => "reset",
            MailKind::Verification => "verification",
            MailKind::Invitation => "invitation",
            MailKind::StepUp => "step_up",
            MailKind::Notice => "notice",
        }
    }
}

impl Throttle<'_> {
    /// Reserves an attempt on `factor` of `subject`, in one atomic statement, and refuses it
    /// (`429` with `Retry-After`) while the run says to wait: concurrent attempts cannot slip
    /// past the free failures together, and a refused attempt reveals nothing about the
    /// factor (it is not checked).
    pub async fn begin(
        &self,
        project: &Project,
        factor: Factor,
        subject: &Subject,
    ) -> Result<Attempt> {
        let key = failure_key(self.p, factor, subject);
        let now = self.p.inner.clock.now_millis();
        let repo = self.p.inner.store.throttle();
        let run = repo.reserve(&project.id, &key, now).await?;
        if let Some(wait) = failure_wait(
            run.count - 1,
            run.updated_at_millis,
            run.window_start_millis,
            factor,
            &project.config.security.lockout,
            now,
        ) {
            repo.release(&project.id, &key).await?;
            return Err(Error::TooManyRequests {
                retry_after_secs: wait,
            });
        }
        Ok(Attempt {
            key,
            factor,
            user: match subject {
                Subject::User(u) => Some(*u),
                Subject::Address(_) => None,
            },
            count: run.count,
        })
    }

    /// Ends the failure run after a success, through `repos`.
    pub async fn succeeded(
        &self,
        repos: &dyn Repos,
        project: &Project,
        attempt: Attempt,
    ) -> Result<()> {
        repos.throttle().clear(&project.id, &attempt.key).await?;
        Ok(())
    }

    /// Records the attempt as failed through `repos` (the caller commits), and writes the lock
    /// to the audit log when this failure reaches `maxFailures`.
    pub async fn failed(
        &self,
        repos: &dyn Repos,
        project: &Project,
        attempt: Attempt,
    ) -> Result<()> {
        let cfg = &project.config.security.lockout;
        repos
            .throttle()
            .fail(&project.id, &attempt.key, self.p.inner.clock.now_millis())
            .await?;
        if attempt.count == i64::from(cfg.max_failures.clamp(1, 100))
            && let Some(user) = attempt.user
        {
            crate::audit::record(
                self.p,
                repos,
                &project.id,
                "account.locked",
                Some(user),
                serde_json::json!({ "factor": attempt.factor.as_str(), "failures": attempt.count, "lock_seconds": cfg.lock_seconds }),
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

    /// Counts one mail of `kind` to `recipient` (normalised) this hour, through `repos`;
    /// past `security.mailPerRecipientPerHour` for that kind, `Err` with the seconds until
    /// the next hour.
    pub async fn mail_allowed(
        &self,
        repos: &dyn Repos,
        project: &Project,
        recipient: &str,
        kind: MailKind,
    ) -> Result<std::result::Result<(), u64>> {
        let limit = project.config.security.mail_per_recipient_per_hour;
        if limit == 0 {
            return Ok(Ok(()));
        }
        const HOUR: i64 = 3_600_000;
        let now = self.p.inner.clock.now_millis();
        let window = now - now.rem_euclid(HOUR);
        let key = format!(
            "mail:{}:{}",
            kind.as_str(),
            keyed_hash(self.p, &crate::email::normalize_email(recipient))
        );
        let hit = repos.throttle().hit(&project.id, &key, window, now).await?;
        if hit.count > i64::from(limit) {
            return Ok(Err(((window + HOUR - now) as u64).div_ceil(1000).max(1)));
        }
        Ok(Ok(()))
    }

    /// Counts one mail of `kind` to `recipient` this hour; refuses it (`429`) past the limit.
    pub async fn mail(
        &self,
        repos: &dyn Repos,
        project: &Project,
        recipient: &str,
        kind: MailKind,
    ) -> Result<()> {
        self.mail_allowed(repos, project, recipient, kind)
            .await?
            .map_err(|retry_after_secs| Error::TooManyRequests { retry_after_secs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_after_the_free_failures_then_lock() {
        let cfg = LockoutConfig::default();
        let f = Factor::Password;
        let w = |failures: i64, last: i64, now: i64| failure_wait(failures, last, 0, f, &cfg, now);
        assert_eq!(w(4, 10, 10), None);
        assert_eq!(w(5, 10, 10), Some(1));
        assert_eq!(w(6, 10, 10), Some(2));
        assert_eq!(w(8, 10, 10), Some(8));
        assert_eq!(w(8, 10, 8_010), None);
        assert_eq!(w(40, 10, 10), Some(900), "capped");
        assert_eq!(w(100, 10, 10), Some(86_400), "locked");
        assert_eq!(w(100, 10, 86_400_009), Some(1));
        assert_eq!(
            w(100, 10, 86_400_010),
            None,
            "one more attempt after the lock"
        );
        assert_eq!(
            w(101, 86_400_010, 86_400_011),
            Some(86_400),
            "and its failure locks again"
        );
        assert_eq!(w(7, 0, 10), Some(1), "past the free ones, in flight: wait");
        assert_eq!(
            failure_wait(7, 0, 1_000, f, &cfg, 1_000 + IN_FLIGHT_MILLIS),
            None,
            "abandoned long ago: failures from the run's start, whose delay has passed"
        );
        assert_eq!(
            failure_wait(20, 0, 1_000, f, &cfg, 1_000 + IN_FLIGHT_MILLIS),
            Some(870),
            "abandoned: the delay of that many failures, from the run's start"
        );
        assert_eq!(failure_wait(29, 10, 0, Factor::Code, &cfg, 10), None);
        let loose = LockoutConfig {
            max_failures: 1_000,
            ..cfg.clone()
        };
        assert_eq!(
            failure_wait(100, 10, 0, f, &loose, 10),
            Some(86_400),
            "NIST: never more than 100"
        );
    }
}
