//! Project configuration in Stack Auth's shape (`auth.allowSignUp`, `auth.password.allowSignIn`,
//! `users.allowClientUserDeletion`, ...).
//!
//! Known keys are typed; sections and keys Postern does not know yet are kept verbatim in
//! `extra` maps so that a config written for a later version survives a round trip.
//! Defaults are those of a freshly created Stack project.
//!
//! ```
//! use postern_core::ProjectConfig;
//!
//! let cfg: ProjectConfig = serde_json::from_value(serde_json::json!({
//!     "auth": { "allowSignUp": false, "password": { "allowSignIn": true } },
//!     "users": { "allowClientUserDeletion": true },
//!     "payments": { "kept": "for later" }
//! })).unwrap();
//! assert!(!cfg.auth.allow_sign_up);
//! assert!(cfg.users.allow_client_user_deletion);
//! assert!(cfg.domains.allow_localhost, "defaults fill what is not given");
//! assert_eq!(serde_json::to_value(&cfg).unwrap()["payments"]["kept"], "for later");
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Unknown keys of a section, kept verbatim.
pub type Extra = Map<String, Value>;

/// A project's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct ProjectConfig {
    /// `auth.*`.
    pub auth: AuthConfig,
    /// `users.*`.
    pub users: UsersConfig,
    /// `teams.*`.
    pub teams: TeamsConfig,
    /// `onboarding.*`.
    pub onboarding: OnboardingConfig,
    /// `project.*`.
    pub project: ProjectSection,
    /// `domains.*`.
    pub domains: DomainsConfig,
    /// `apiKeys.*`.
    pub api_keys: ApiKeysConfig,
    /// `security.*`: throttling and lockout (a Postern extension; Stack has no such section).
    pub security: SecurityConfig,
    /// Sections Postern does not interpret yet (`rbac`, `dataVault`, `emails`...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `auth.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AuthConfig {
    /// `auth.allowSignUp` (default true).
    pub allow_sign_up: bool,
    /// `auth.password.*`.
    pub password: SignInMethod,
    /// `auth.otp.*` (default off).
    pub otp: SignInMethod,
    /// `auth.passkey.*` (default off).
    pub passkey: SignInMethod,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            allow_sign_up: true,
            password: SignInMethod {
                allow_sign_in: true,
                extra: Extra::new(),
            },
            otp: SignInMethod::default(),
            passkey: SignInMethod::default(),
            extra: Extra::new(),
        }
    }
}

/// A sign-in method switch (`allowSignIn`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct SignInMethod {
    /// Whether the method may be used.
    pub allow_sign_in: bool,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `users.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct UsersConfig {
    /// `users.allowClientUserDeletion` (default false).
    pub allow_client_user_deletion: bool,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `teams.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct TeamsConfig {
    /// `teams.createPersonalTeamOnSignUp` (default false).
    pub create_personal_team_on_sign_up: bool,
    /// `teams.allowClientTeamCreation` (default false).
    pub allow_client_team_creation: bool,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `onboarding.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct OnboardingConfig {
    /// `onboarding.requireEmailVerification` (default false): users without a verified
    /// primary email are restricted.
    pub require_email_verification: bool,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `project.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct ProjectSection {
    /// `project.requirePublishableClientKey` (default false): keyless client access allowed.
    pub require_publishable_client_key: bool,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `domains.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DomainsConfig {
    /// `domains.allowLocalhost` (default true).
    pub allow_localhost: bool,
    /// `domains.trustedDomains.<id>`.
    pub trusted_domains: BTreeMap<String, TrustedDomain>,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for DomainsConfig {
    fn default() -> Self {
        Self {
            allow_localhost: true,
            trusted_domains: BTreeMap::new(),
            extra: Extra::new(),
        }
    }
}

/// A trusted domain for redirects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct TrustedDomain {
    /// `https://app.example.com` (wildcards `*` and `**` allowed in the host).
    pub base_url: Option<String>,
    /// Handler path, default `/handler`.
    pub handler_path: Option<String>,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `apiKeys.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct ApiKeysConfig {
    /// `apiKeys.enabled.*`.
    pub enabled: ApiKeysEnabled,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `apiKeys.enabled.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct ApiKeysEnabled {
    /// User API keys.
    pub user: bool,
    /// Team API keys.
    pub team: bool,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `security.*`: Postern's abuse protection (a Postern extension).
///
/// ```
/// use postern_core::ProjectConfig;
/// let cfg: ProjectConfig = serde_json::from_value(serde_json::json!({
///     "security": {
///         "rateLimits": { "signIn": { "burst": 10, "perMinute": 5 } },
///         "mailPerRecipientPerHour": 3,
///         "lockout": { "maxFailures": 20 }
///     }
/// })).unwrap();
/// assert_eq!(cfg.security.rate_limits.sign_in.burst, 10);
/// assert_eq!(cfg.security.rate_limits.sign_up.burst, 30, "defaults fill the rest");
/// assert_eq!(cfg.security.lockout.max_failures, 20);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SecurityConfig {
    /// `security.rateLimits.*`: token buckets per client IP.
    pub rate_limits: RateLimits,
    /// `security.mailPerRecipientPerHour` (default 10): codes, reset links, invitations
    /// and other mail to one address per hour; `0` turns the limit off.
    pub mail_per_recipient_per_hour: u32,
    /// `security.lockout.*`: per-account failure counts.
    pub lockout: LockoutConfig,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            rate_limits: RateLimits::default(),
            mail_per_recipient_per_hour: 10,
            lockout: LockoutConfig::default(),
            extra: Extra::new(),
        }
    }
}

/// `security.rateLimits.*`: one token bucket per client IP (an IPv6 client by its /64) and
/// project for each class of endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RateLimits {
    /// Account creation: password and anonymous sign-up (default 30, then 6 a minute).
    pub sign_up: RateLimit,
    /// Guessable secrets: password, OTP and MFA sign-in, code redemption and checks,
    /// password changes, step-up (default 60, then 12 a minute).
    pub sign_in: RateLimit,
    /// Mail sending: sign-in codes, reset links, verification, invitations, step-up codes
    /// (default 20, then 4 a minute).
    pub send_code: RateLimit,
    /// API-key checks and credential-scanning revocation (default 2,000, then 30,000 a
    /// minute).
    pub key_check: RateLimit,
    /// A client changing its account: adding, changing or removing contact channels,
    /// `PATCH /users/me`, creating API keys (default 60, then 20 a minute). Each of these
    /// can send a security notice, so this also bounds the mail they cause.
    pub account_change: RateLimit,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            sign_up: RateLimit::new(30, 6),
            sign_in: RateLimit::new(60, 12),
            send_code: RateLimit::new(20, 4),
            key_check: RateLimit::new(2_000, 30_000),
            account_change: RateLimit::new(60, 20),
            extra: Extra::new(),
        }
    }
}

/// A token bucket: `burst` requests at once, refilled at `perMinute`. A `burst` of 0 turns
/// the bucket off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Bucket size.
    pub burst: u32,
    /// Refill rate, tokens per minute.
    pub per_minute: u32,
}

impl RateLimit {
    /// A bucket of `burst` tokens refilled at `per_minute`.
    pub const fn new(burst: u32, per_minute: u32) -> Self {
        Self { burst, per_minute }
    }
}

/// `security.lockout.*`: consecutive failures of one factor (password, TOTP, verification
/// codes) of one account, counted in the database so every instance sees them (NIST SP
/// 800-63B 5.2.2). After `freeFailures` of a factor each attempt waits twice as long as the
/// previous one (from one second up to `maxDelaySeconds`); after `maxFailures` (at most
/// 100) the factor is locked for `lockSeconds`, and each further failure locks it again.
/// A success or a password reset ends the run; a run without a failure for a week is
/// forgotten.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LockoutConfig {
    /// `security.lockout.freeFailures.*`: failures before delays start.
    pub free_failures: FreeFailures,
    /// Failures that lock the factor (default 100, the most NIST allows; larger values
    /// count as 100).
    pub max_failures: u32,
    /// Longest progressive delay (default 900 s).
    pub max_delay_seconds: u32,
    /// How long a lock lasts (default one day, at most a week).
    pub lock_seconds: u32,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            free_failures: FreeFailures::default(),
            max_failures: 100,
            max_delay_seconds: 900,
            lock_seconds: 86_400,
            extra: Extra::new(),
        }
    }
}

/// `security.lockout.freeFailures.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FreeFailures {
    /// Wrong passwords (default 5).
    pub password: u32,
    /// Wrong TOTP or recovery codes (default 5).
    pub totp: u32,
    /// Wrong step-up codes (default 30). Other codes allow at most 20 attempts each.
    pub code: u32,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for FreeFailures {
    fn default() -> Self {
        Self {
            password: 5,
            totp: 5,
            code: 30,
            extra: Extra::new(),
        }
    }
}

impl ProjectConfig {
    /// Parses a stored or supplied JSON config; a config that is not an object of the
    /// right shape is an error naming the problem.
    pub fn from_json(v: &Value) -> Result<Self, serde_json::Error> {
        if v.is_null() {
            return Ok(Self::default());
        }
        ProjectConfig::deserialize(v)
    }

    /// The JSON form stored with the project.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_stacks_new_project_defaults() {
        let c = ProjectConfig::default();
        assert!(c.auth.allow_sign_up);
        assert!(c.auth.password.allow_sign_in);
        assert!(!c.auth.otp.allow_sign_in);
        assert!(!c.users.allow_client_user_deletion);
        assert!(!c.project.require_publishable_client_key);
        assert!(c.domains.allow_localhost);
        assert_eq!(ProjectConfig::from_json(&Value::Null).unwrap(), c);
    }

    #[test]
    fn unknown_keys_round_trip() {
        let v = json!({"auth": {"password": {"allowSignIn": false, "x": 1}, "oauth": {"providers": {}}}, "rbac": {"permissions": {}}});
        let c = ProjectConfig::from_json(&v).unwrap();
        assert!(!c.auth.password.allow_sign_in);
        let back = c.to_json();
        assert_eq!(back["auth"]["password"]["x"], 1);
        assert_eq!(back["auth"]["oauth"], json!({"providers": {}}));
        assert_eq!(back["rbac"], json!({"permissions": {}}));
    }

    #[test]
    fn wrong_types_are_errors() {
        assert!(ProjectConfig::from_json(&json!({"auth": {"allowSignUp": "yes"}})).is_err());
    }
}
