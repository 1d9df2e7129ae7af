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

use crate::sign_up_rules::{DefaultAction, SignUpRule, valid_rule_id};

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
    /// `rbac.*`: permission definitions and default grants.
    pub rbac: RbacConfig,
    /// `dataVault.*`: the data-vault stores.
    pub data_vault: DataVaultConfig,
    /// Sections Postern does not interpret yet (`emails`, `payments`...).
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
    pub passkey: PasskeyConfig,
    /// `auth.signUpRules.<ruleId>`: CEL rules run before a user is created (see
    /// [`crate::sign_up_rules`]). An entry set to `null` is absent.
    #[serde(deserialize_with = "without_nulls")]
    pub sign_up_rules: BTreeMap<String, SignUpRule>,
    /// `auth.signUpRulesDefaultAction`: the decision when no `allow` or `reject` rule
    /// matched (default `allow`).
    pub sign_up_rules_default_action: DefaultAction,
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
            passkey: PasskeyConfig::default(),
            sign_up_rules: BTreeMap::new(),
            sign_up_rules_default_action: DefaultAction::Allow,
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

/// `auth.passkey.*`: passkey (WebAuthn) sign-in.
///
/// ```
/// use postern_core::ProjectConfig;
/// let cfg: ProjectConfig = serde_json::from_value(serde_json::json!({
///     "auth": { "passkey": { "allowSignIn": true, "allowMultiplePerUser": true } }
/// })).unwrap();
/// assert!(cfg.auth.passkey.allow_sign_in);
/// assert!(cfg.auth.passkey.allow_multiple_per_user);
/// assert!(!ProjectConfig::default().auth.passkey.allow_multiple_per_user, "Stack's default: one");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct PasskeyConfig {
    /// `auth.passkey.allowSignIn` (default false; the legacy project field
    /// `passkey_enabled`): every passkey endpoint answers
    /// `PASSKEY_AUTHENTICATION_NOT_ENABLED` without it.
    pub allow_sign_in: bool,
    /// `auth.passkey.allowMultiplePerUser` (a Postern extension, default false): a user may
    /// keep several passkeys, and registering one adds it. Without it a user has at most one
    /// and registering replaces it, as Stack does. Rendered only when set, so a config
    /// that does not use it reads exactly as Stack's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_multiple_per_user: bool,
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

/// Where a permission applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Within one team.
    Team,
    /// Project-wide.
    Project,
}

impl Scope {
    /// Wire and config name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Team => "team",
            Scope::Project => "project",
        }
    }
}

/// `rbac.*`: custom permission definitions and the permissions granted by default.
///
/// ```
/// use postern_core::ProjectConfig;
/// use postern_core::config::Scope;
/// let cfg = ProjectConfig::parse(&serde_json::json!({"rbac": {
///     "permissions": {"editor": {"scope": "team", "containedPermissionIds": {"$read_members": true}}},
///     "defaultPermissions": {"teamMember": {"editor": true}}
/// }})).unwrap();
/// assert_eq!(cfg.rbac.permissions["editor"].scope, Some(Scope::Team));
/// assert_eq!(cfg.rbac.default_permissions.team_member.ids(), vec!["editor"]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct RbacConfig {
    /// `rbac.permissions.<id>`: custom definitions (ids `^[a-z0-9_:]+$`). An entry set to
    /// `null` is absent.
    #[serde(deserialize_with = "without_nulls")]
    pub permissions: BTreeMap<String, PermissionConfig>,
    /// `rbac.defaultPermissions.*`.
    pub default_permissions: DefaultPermissions,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `rbac.permissions.<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct PermissionConfig {
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Scope; a definition without one is ignored (as upstream does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// `containedPermissionIds.<id>: true`: directly contained permissions.
    pub contained_permission_ids: IdSet,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A set of permission ids in config form (`{"<id>": true}`); `false` or `null` entries
/// are not members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct IdSet(pub BTreeMap<String, Option<bool>>);

impl IdSet {
    /// The member ids, sorted.
    pub fn ids(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(_, on)| **on == Some(true))
            .map(|(k, _)| k.as_str())
            .collect()
    }

    /// A set of exactly these ids.
    pub fn of<I: IntoIterator<Item = S>, S: Into<String>>(ids: I) -> Self {
        IdSet(ids.into_iter().map(|i| (i.into(), Some(true))).collect())
    }
}

/// `rbac.defaultPermissions.*`: permissions granted automatically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct DefaultPermissions {
    /// To the creator of a team, in that team.
    pub team_creator: IdSet,
    /// To every member joining a team.
    pub team_member: IdSet,
    /// Project permissions to every new user.
    pub sign_up: IdSet,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `dataVault.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct DataVaultConfig {
    /// `dataVault.stores.<id>`. An entry set to `null` is absent.
    #[serde(deserialize_with = "without_nulls")]
    pub stores: BTreeMap<String, VaultStoreConfig>,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `dataVault.stores.<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct VaultStoreConfig {
    /// Name shown in the dashboard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Unknown keys.
    #[serde(flatten)]
    pub extra: Extra,
}

fn without_nulls<'de, D, T>(d: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let m = BTreeMap::<String, Option<T>>::deserialize(d)?;
    Ok(m.into_iter().filter_map(|(k, v)| Some((k, v?))).collect())
}

/// Why a config was refused: the dotted path of the offending key and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigValidationError {
    /// A key has the wrong type or an invalid value.
    #[error("{path}: {message}")]
    Invalid {
        /// Dotted path of the key (`rbac.permissions.editor.scope`).
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The permission definitions form a cycle through this permission.
    #[error("rbac.permissions.{permission_id}: the permission would contain itself")]
    PermissionCycle {
        /// A permission on the cycle.
        permission_id: String,
    },
}

fn invalid(path: String, message: impl Into<String>) -> ConfigValidationError {
    ConfigValidationError::Invalid {
        path,
        message: message.into(),
    }
}

/// Whether `id` is a valid permission id: `^\$?[a-z0-9_:]+$` (custom ids have no `$`).
pub fn is_permission_id(id: &str, allow_system: bool) -> bool {
    let body = match id.strip_prefix('$') {
        Some(rest) if allow_system => rest,
        _ => id,
    };
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b':')
}

/// Whether `base` is a valid trusted-domain base URL: an `http` or `https` URL without
/// spaces, with `*` wildcards allowed in the host only (upstream's `wildcardUrlSchema`).
pub fn is_valid_base_url(base: &str) -> bool {
    const PLACEHOLDER: &str = "wildcard-placeholder";
    if base.contains(' ') {
        return false;
    }
    let Ok(url) = url::Url::parse(&base.replace('*', PLACEHOLDER)) else {
        return false;
    };
    let in_host_only = !url.username().contains(PLACEHOLDER)
        && !url.password().unwrap_or_default().contains(PLACEHOLDER)
        && !url.path().contains(PLACEHOLDER)
        && !url.query().unwrap_or_default().contains(PLACEHOLDER)
        && !url.fragment().unwrap_or_default().contains(PLACEHOLDER);
    let host_ok = url.host_str().is_some_and(|h| !h.is_empty());
    if !base.contains('*') {
        return host_ok;
    }
    in_host_only && host_ok && matches!(url.scheme(), "http" | "https")
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

    /// Parses and validates a config supplied by an operator (an override, a config file):
    /// the types of every known key, permission ids and cycles, trusted-domain URLs and
    /// handler paths. The error names the dotted path of the first bad key.
    ///
    /// ```
    /// use postern_core::{ProjectConfig, config::ConfigValidationError};
    /// let err = ProjectConfig::parse(&serde_json::json!({"auth": {"allowSignUp": "yes"}})).unwrap_err();
    /// assert!(matches!(&err, ConfigValidationError::Invalid { path, .. } if path == "auth.allowSignUp"));
    /// let err = ProjectConfig::parse(&serde_json::json!({"domains": {"trustedDomains": {
    ///     "a": {"baseUrl": "not a url"}}}})).unwrap_err();
    /// assert!(err.to_string().starts_with("domains.trustedDomains.a.baseUrl: "));
    /// ```
    pub fn parse(v: &Value) -> Result<Self, ConfigValidationError> {
        let config = if v.is_null() {
            Self::default()
        } else {
            serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                invalid(path, e.into_inner().to_string())
            })?
        };
        config.validate()?;
        Ok(config)
    }

    /// The JSON form stored with the project.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()))
    }

    /// Checks the rules the types alone do not express (see [`ProjectConfig::parse`]).
    pub fn validate(&self) -> Result<(), ConfigValidationError> {
        for (id, def) in &self.rbac.permissions {
            let at = format!("rbac.permissions.{id}");
            if !is_permission_id(id, false) {
                return Err(invalid(
                    at,
                    "a permission id is lowercase letters, digits, `_` and `:`",
                ));
            }
            for contained in def.contained_permission_ids.0.keys() {
                if !is_permission_id(contained, true) {
                    return Err(invalid(
                        format!("{at}.containedPermissionIds.{contained}"),
                        "not a permission id",
                    ));
                }
            }
        }
        for (id, rule) in &self.auth.sign_up_rules {
            let at = format!("auth.signUpRules.{id}");
            if !valid_rule_id(id) {
                return Err(invalid(
                    at,
                    "a rule id is letters, digits, `_` and `-` (not first), at most 63 long",
                ));
            }
            if rule.priority < 0 {
                return Err(invalid(format!("{at}.priority"), "must be 0 or more"));
            }
            rule.validate()
                .map_err(|reason| invalid(format!("{at}.condition"), reason))?;
        }
        let defaults = &self.rbac.default_permissions;
        for (kind, set) in [
            ("teamCreator", &defaults.team_creator),
            ("teamMember", &defaults.team_member),
            ("signUp", &defaults.sign_up),
        ] {
            for id in set.0.keys() {
                if !is_permission_id(id, true) {
                    return Err(invalid(
                        format!("rbac.defaultPermissions.{kind}.{id}"),
                        "not a permission id",
                    ));
                }
            }
        }
        if let Some(id) = self.rbac.find_cycle() {
            return Err(ConfigValidationError::PermissionCycle { permission_id: id });
        }
        for (id, d) in &self.domains.trusted_domains {
            let at = format!("domains.trustedDomains.{id}");
            if let Some(base) = &d.base_url
                && (base.len() > 300 || !is_valid_base_url(base))
            {
                return Err(invalid(
                    format!("{at}.baseUrl"),
                    "not a valid URL or wildcard URL pattern",
                ));
            }
            if let Some(path) = &d.handler_path
                && (!path.starts_with('/') || path.len() > 300)
            {
                return Err(invalid(
                    format!("{at}.handlerPath"),
                    "a handler path starts with /",
                ));
            }
        }
        Ok(())
    }
}

impl RbacConfig {
    /// A permission that contains itself, directly or through others, if any.
    pub fn find_cycle(&self) -> Option<String> {
        use std::collections::HashMap;
        let kids = |id: &str| -> Vec<&str> {
            self.permissions
                .get(id)
                .map(|d| {
                    d.contained_permission_ids
                        .ids()
                        .into_iter()
                        .filter(|c| self.permissions.contains_key(*c))
                        .collect()
                })
                .unwrap_or_default()
        };
        // Iterative three-colour DFS: 1 on the path, 2 done.
        let mut state: HashMap<&str, u8> = HashMap::new();
        for start in self.permissions.keys() {
            if state.contains_key(start.as_str()) {
                continue;
            }
            state.insert(start.as_str(), 1);
            let mut stack: Vec<(&str, Vec<&str>)> = vec![(start.as_str(), kids(start))];
            while let Some((node, rest)) = stack.last_mut() {
                if let Some(next) = rest.pop() {
                    match state.get(next) {
                        Some(1) => return Some(next.to_owned()),
                        Some(_) => {}
                        None => {
                            state.insert(next, 1);
                            stack.push((next, kids(next)));
                        }
                    }
                } else {
                    state.insert(node, 2);
                    stack.pop();
                }
            }
        }
        None
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
        assert_eq!(back["rbac"]["permissions"], json!({}));
        assert_eq!(back["rbac"]["defaultPermissions"]["signUp"], json!({}));
    }

    #[test]
    fn wrong_types_are_errors() {
        assert!(ProjectConfig::from_json(&json!({"auth": {"allowSignUp": "yes"}})).is_err());
    }

    fn refused(v: Value) -> ConfigValidationError {
        ProjectConfig::parse(&v).expect_err("refused")
    }

    fn path_of(e: &ConfigValidationError) -> &str {
        match e {
            ConfigValidationError::Invalid { path, .. } => path,
            ConfigValidationError::PermissionCycle { .. } => "(cycle)",
        }
    }

    #[test]
    fn parse_errors_name_the_path_of_the_bad_key() {
        let cases = [
            (
                json!({"rbac": {"permissions": {"a": {"scope": "galaxy"}}}}),
                "rbac.permissions.a.scope",
            ),
            (
                json!({"rbac": {"permissions": {"a": {"containedPermissionIds": {"b": "yes"}}}}}),
                "rbac.permissions.a.containedPermissionIds.b",
            ),
            (
                json!({"rbac": {"permissions": {"Bad-Id": {"scope": "team"}}}}),
                "rbac.permissions.Bad-Id",
            ),
            (
                json!({"rbac": {"permissions": {"a": {"scope": "team", "containedPermissionIds": {"B!": true}}}}}),
                "rbac.permissions.a.containedPermissionIds.B!",
            ),
            (
                json!({"rbac": {"defaultPermissions": {"teamMember": {"no way": true}}}}),
                "rbac.defaultPermissions.teamMember.no way",
            ),
            (
                json!({"dataVault": {"stores": {"s": {"displayName": 3}}}}),
                "dataVault.stores.s.displayName",
            ),
            (
                json!({"domains": {"trustedDomains": {"d": {"baseUrl": "https://a b.example"}}}}),
                "domains.trustedDomains.d.baseUrl",
            ),
            (
                json!({"domains": {"trustedDomains": {"d": {"baseUrl": "https://x.example/*"}}}}),
                "domains.trustedDomains.d.baseUrl",
            ),
            (
                json!({"domains": {"trustedDomains": {"d": {"baseUrl": "ftp://*.example"}}}}),
                "domains.trustedDomains.d.baseUrl",
            ),
            (
                json!({"domains": {"trustedDomains": {"d": {"baseUrl": "https://ok.example", "handlerPath": "handler"}}}}),
                "domains.trustedDomains.d.handlerPath",
            ),
            (
                json!({"security": {"lockout": {"maxFailures": -1}}}),
                "security.lockout.maxFailures",
            ),
        ];
        for (v, path) in cases {
            let e = refused(v.clone());
            assert_eq!(path_of(&e), path, "{v}: {e}");
            assert!(e.to_string().starts_with(path), "{e}");
        }
    }

    #[test]
    fn permission_cycles_are_refused() {
        let e = refused(json!({"rbac": {"permissions": {
            "a": {"scope": "team", "containedPermissionIds": {"b": true}},
            "b": {"scope": "team", "containedPermissionIds": {"c": true, "$read_members": true}},
            "c": {"scope": "team", "containedPermissionIds": {"a": true}}
        }}}));
        assert!(
            matches!(e, ConfigValidationError::PermissionCycle { .. }),
            "{e}"
        );
        let ok = ProjectConfig::parse(&json!({"rbac": {"permissions": {
            "a": {"scope": "team", "containedPermissionIds": {"b": true, "c": true}},
            "b": {"scope": "team", "containedPermissionIds": {"c": true}},
            "c": {"scope": "team", "containedPermissionIds": {"a": false}}
        }}}));
        assert!(ok.is_ok(), "a diamond and a false entry are not cycles");
    }

    #[test]
    fn valid_configs_parse_and_nulls_are_absent() {
        let c = ProjectConfig::parse(&json!({
            "rbac": {"permissions": {"gone": null, "a:b_1": {"scope": "project"}},
                     "defaultPermissions": {"signUp": {"a:b_1": true, "off": null}}},
            "dataVault": {"stores": {"s1": {"displayName": "Secrets"}, "s2": null}},
            "domains": {"trustedDomains": {
                "w": {"baseUrl": "https://*.example.com", "handlerPath": "/handler"},
                "p": {"baseUrl": "http://localhost:3000"},
                "s": {"baseUrl": "https://**.example.org:8443"}
            }}
        }))
        .expect("valid");
        assert_eq!(c.rbac.permissions.keys().collect::<Vec<_>>(), ["a:b_1"]);
        assert_eq!(c.rbac.default_permissions.sign_up.ids(), ["a:b_1"]);
        assert_eq!(c.data_vault.stores.keys().collect::<Vec<_>>(), ["s1"]);
        assert_eq!(ProjectConfig::parse(&c.to_json()), Ok(c), "round trip");
    }
}
