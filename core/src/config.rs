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
