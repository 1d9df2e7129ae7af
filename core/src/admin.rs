//! The admin side of Stack's API: projects managed through `/internal/projects`, project key
//! sets through `/internal/api-keys`, Stack's legacy config fields, and config overrides.
//!
//! Postern keeps one config per project (the environment level of Stack's layering); an
//! override writes each of its keys into it: a dotted key replaces the subtree at its path,
//! creating parents; `null` removes the key, so it falls back to its default.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::actor::Auth;
use crate::config::ProjectConfig;
use crate::error::{AccessType, Error, Refusal, Result};
use crate::permissions::DefaultKind;
use crate::postern::Postern;
use crate::projects::INTERNAL_PROJECT_ID;
use crate::projects::{CONFIGURED_KEYS, Project, ProjectKeys};
use crate::secrets::hash_secret;
use crate::storage::ApiKeySetRecord;
use crate::views::{
    AdminProjectConfigView, AdminProjectView, ApiKeyValue, DefaultPermissionView, DomainView,
    EmailConfigView, EnabledOAuthProviderView, KeySetView, OAuthProviderConfigView,
    SharedEmailConfigView, StandardEmailConfigView,
};

/// Stack's default email theme id ("Default Light").
pub const DEFAULT_EMAIL_THEME: &str = "1df07ae6-abf3-4a40-83a5-a1a2cbe336ac";
/// Stack's built-in email themes.
pub const EMAIL_THEMES: [&str; 3] = [
    DEFAULT_EMAIL_THEME,
    "a0172b5d-cff0-463b-83bb-85124697373a",
    "c7e2d94f-8a1b-4e6d-b3f5-9d0a2e7c1b8f",
];

/// Sets (or, for `null`, removes) the value at a dotted path, creating parent objects.
pub fn set_path(root: &mut Value, path: &str, value: Value) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = root;
    for part in &parts[..parts.len() - 1] {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let obj = cur.as_object_mut().expect("an object");
        cur = obj
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
    }
    let last = parts[parts.len() - 1];
    if let Some(obj) = cur.as_object_mut() {
        if value.is_null() {
            obj.remove(last);
        } else {
            obj.insert(last.to_owned(), value);
        }
    }
}

fn get_path<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |v, k| v.get(k))
}

fn valid_override_key(key: &str) -> bool {
    let ok_first = |c: char| c.is_ascii_alphanumeric() || "_:$".contains(c);
    let ok = |c: char| c.is_ascii_alphanumeric() || "_:$-".contains(c);
    !key.is_empty()
        && key.split('.').all(|seg| {
            let mut chars = seg.chars();
            chars.next().is_some_and(ok_first) && chars.all(ok)
        })
}

fn no_dots_below(v: &Value) -> std::result::Result<(), Refusal> {
    if let Value::Object(m) = v {
        for (k, child) in m {
            if k.contains('.') {
                return Err(Refusal::DottedConfigOverrideKey { key: k.clone() });
            }
            no_dots_below(child)?;
        }
    }
    Ok(())
}

/// Applies an override object (dotted or nested keys) to a config; errors are refusals
/// rendered as Stack's plain-text messages.
pub fn apply_override(
    config: &ProjectConfig,
    over: &Map<String, Value>,
) -> std::result::Result<ProjectConfig, Refusal> {
    let mut v = config.to_json();
    for (key, value) in over {
        if !valid_override_key(key) {
            return Err(Refusal::InvalidConfigOverrideKey { key: key.clone() });
        }
        no_dots_below(value)?;
        set_path(&mut v, key, value.clone());
    }
    let theme = get_path(&v, "emails.selectedThemeId").and_then(Value::as_str);
    if let Some(t) = theme
        && !EMAIL_THEMES.contains(&t)
    {
        set_path(&mut v, "emails.selectedThemeId", json!(DEFAULT_EMAIL_THEME));
    }
    ProjectConfig::parse(&v).map_err(Refusal::from)
}

/// Config sections only admin access may change: trusted domains (they decide where codes
/// are mailed), email and OAuth credentials, and Postern's security settings.
pub const ADMIN_ONLY_SECTIONS: &[&str] = &["domains", "emails", "auth.oauth", "security"];

/// The first key of an override that reaches into [`ADMIN_ONLY_SECTIONS`]: the section
/// itself, a key inside it, or a parent it would replace (`auth` replaces `auth.oauth`).
///
/// ```
/// use postern_core::admin::admin_only_key;
/// let over = |v: serde_json::Value| v.as_object().unwrap().clone();
/// assert_eq!(admin_only_key(&over(serde_json::json!({"users.allowClientUserDeletion": true}))), None);
/// assert!(admin_only_key(&over(serde_json::json!({"domains.trustedDomains.a": {}}))).is_some());
/// assert!(admin_only_key(&over(serde_json::json!({"auth": {"allowSignUp": true}}))).is_some());
/// assert!(admin_only_key(&over(serde_json::json!({"auth.password.allowSignIn": true}))).is_none());
/// ```
pub fn admin_only_key(over: &Map<String, Value>) -> Option<String> {
    over.keys()
        .find(|key| {
            ADMIN_ONLY_SECTIONS.iter().any(|section| {
                key.as_str() == *section
                    || key.starts_with(&format!("{section}."))
                    || section.starts_with(&format!("{key}."))
            })
        })
        .cloned()
}

/// Stack's legacy `config` object of the admin project view (third-party secrets
/// redacted).
pub fn legacy_config(c: &ProjectConfig) -> AdminProjectConfigView {
    let mut v = c.to_json();
    crate::config_secrets::redact(&mut v);
    let mut domains: Vec<DomainView> = c
        .domains
        .trusted_domains
        .values()
        .filter_map(|d| {
            d.base_url.clone().map(|u| DomainView {
                domain: u,
                handler_path: d.handler_path.clone().unwrap_or_else(|| "/handler".into()),
            })
        })
        .collect();
    domains.sort_by(|a, b| a.domain.cmp(&b.domain));
    let mut providers: Vec<OAuthProviderConfigView> = get_path(&v, "auth.oauth.providers")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, p)| p.get("type").is_some() && p["allowSignIn"] == json!(true))
                .map(|(k, p)| OAuthProviderConfigView {
                    provider_config_id: k.clone(),
                    id: p["type"].clone(),
                    kind: if p.get("isShared") == Some(&json!(false)) {
                        "standard"
                    } else {
                        "shared"
                    },
                    client_id: p.get("clientId").cloned(),
                    client_secret: p.get("clientSecret").cloned(),
                    facebook_config_id: p.get("facebookConfigId").cloned(),
                    microsoft_tenant_id: p.get("microsoftTenantId").cloned(),
                })
                .collect()
        })
        .unwrap_or_default();
    providers.sort_by(|a, b| a.id.as_str().cmp(&b.id.as_str()));
    let enabled = providers
        .iter()
        .map(|p| EnabledOAuthProviderView { id: p.id.clone() })
        .collect();
    let server = get_path(&v, "emails.server");
    let email_config = match server {
        Some(s) if s.get("isShared") == Some(&json!(false)) => {
            EmailConfigView::Standard(StandardEmailConfigView {
                kind: "standard",
                host: s.get("host").cloned(),
                port: s.get("port").cloned(),
                username: s.get("username").cloned(),
                password: s.get("password").cloned(),
                sender_name: s.get("senderName").cloned(),
                sender_email: s.get("senderEmail").cloned(),
            })
        }
        _ => EmailConfigView::Shared(SharedEmailConfigView { kind: "shared" }),
    };
    let theme = get_path(&v, "emails.selectedThemeId")
        .and_then(Value::as_str)
        .filter(|t| EMAIL_THEMES.contains(t))
        .unwrap_or(DEFAULT_EMAIL_THEME);
    let defs = crate::permissions::definitions(c);
    let defaults = |k: DefaultKind| {
        let scope = if k == DefaultKind::SignUp {
            crate::permissions::Scope::Project
        } else {
            crate::permissions::Scope::Team
        };
        // Defaults naming a definition that no longer exists are not shown (Stack hides them).
        crate::permissions::default_permissions(c, k)
            .into_iter()
            .filter(|id| {
                defs.get(id).is_some_and(|d| d.scope == scope)
                    || (scope == crate::permissions::Scope::Team
                        && crate::permissions::is_system(id))
            })
            .map(|id| DefaultPermissionView { id })
            .collect::<Vec<_>>()
    };
    AdminProjectConfigView {
        allow_localhost: c.domains.allow_localhost,
        client_team_creation_enabled: c.teams.allow_client_team_creation,
        client_user_deletion_enabled: c.users.allow_client_user_deletion,
        sign_up_enabled: c.auth.allow_sign_up,
        oauth_account_merge_strategy: get_path(&v, "auth.oauth.accountMergeStrategy")
            .cloned()
            .unwrap_or(json!("link_method")),
        create_team_on_sign_up: c.teams.create_personal_team_on_sign_up,
        credential_enabled: c.auth.password.allow_sign_in,
        magic_link_enabled: c.auth.otp.allow_sign_in,
        passkey_enabled: c.auth.passkey.allow_sign_in,
        oauth_providers: providers,
        enabled_oauth_providers: enabled,
        domains,
        email_config,
        email_theme: theme.to_owned(),
        team_creator_default_permissions: defaults(DefaultKind::TeamCreator),
        team_member_default_permissions: defaults(DefaultKind::TeamMember),
        user_default_permissions: defaults(DefaultKind::SignUp),
        allow_user_api_keys: c.api_keys.enabled.user,
        allow_team_api_keys: c.api_keys.enabled.team,
    }
}

fn id_map(v: &Value, what: &str) -> std::result::Result<Value, Error> {
    let items = v
        .as_array()
        .ok_or_else(|| Error::schema(format!("body.config.{what} must be a `array` type")))?;
    let mut m = Map::new();
    for item in items {
        let id = item["id"]
            .as_str()
            .ok_or_else(|| Error::schema(format!("body.config.{what}[].id must be defined")))?;
        m.insert(id.to_owned(), json!(true));
    }
    Ok(Value::Object(m))
}

/// Turns Stack's legacy config fields into config overrides (`config.credential_enabled`
/// → `auth.password.allowSignIn`, ...).
pub fn legacy_overrides(legacy: &Map<String, Value>) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let flag = |k: &str| -> Result<bool> {
        legacy[k]
            .as_bool()
            .ok_or_else(|| Error::schema(format!("body.config.{k} must be a `boolean` type")))
    };
    for (key, value) in legacy {
        let (path, v) = match key.as_str() {
            "sign_up_enabled" => ("auth.allowSignUp", json!(flag(key)?)),
            "credential_enabled" => ("auth.password.allowSignIn", json!(flag(key)?)),
            "magic_link_enabled" => ("auth.otp.allowSignIn", json!(flag(key)?)),
            "passkey_enabled" => ("auth.passkey.allowSignIn", json!(flag(key)?)),
            "client_user_deletion_enabled" => ("users.allowClientUserDeletion", json!(flag(key)?)),
            "client_team_creation_enabled" => ("teams.allowClientTeamCreation", json!(flag(key)?)),
            "create_team_on_sign_up" => ("teams.createPersonalTeamOnSignUp", json!(flag(key)?)),
            "allow_localhost" => ("domains.allowLocalhost", json!(flag(key)?)),
            "allow_user_api_keys" => ("apiKeys.enabled.user", json!(flag(key)?)),
            "allow_team_api_keys" => ("apiKeys.enabled.team", json!(flag(key)?)),
            "require_email_verification" => {
                ("onboarding.requireEmailVerification", json!(flag(key)?))
            }
            "oauth_account_merge_strategy" => ("auth.oauth.accountMergeStrategy", value.clone()),
            "email_theme" => {
                let t = value.as_str().unwrap_or_default();
                if !EMAIL_THEMES.contains(&t) {
                    return Err(Error::Refused(Refusal::InvalidEmailTheme));
                }
                ("emails.selectedThemeId", value.clone())
            }
            "email_config" => {
                let shared = value["type"] == json!("shared");
                let mut s = json!({"isShared": shared, "provider": "smtp"});
                if !shared {
                    for (from, to) in [
                        ("host", "host"),
                        ("port", "port"),
                        ("username", "username"),
                        ("password", "password"),
                        ("sender_name", "senderName"),
                        ("sender_email", "senderEmail"),
                    ] {
                        s[to] = value[from].clone();
                    }
                }
                ("emails.server", s)
            }
            "domains" => {
                let items = value
                    .as_array()
                    .ok_or_else(|| Error::schema("body.config.domains must be a `array` type"))?;
                let mut m = Map::new();
                for d in items {
                    m.insert(
                        Uuid::new_v4().to_string(),
                        json!({"baseUrl": d["domain"], "handlerPath": d.get("handler_path").cloned().unwrap_or(json!("/handler"))}),
                    );
                }
                ("domains.trustedDomains", Value::Object(m))
            }
            "oauth_providers" => {
                let items = value.as_array().ok_or_else(|| {
                    Error::schema("body.config.oauth_providers must be a `array` type")
                })?;
                let mut m = Map::new();
                for p in items {
                    let id = p["id"].as_str().unwrap_or_default().to_owned();
                    let mut o = json!({
                        "type": id,
                        "isShared": p["type"] == json!("shared"),
                        "allowSignIn": true,
                        "allowConnectedAccounts": true,
                    });
                    for (from, to) in [
                        ("client_id", "clientId"),
                        ("client_secret", "clientSecret"),
                        ("facebook_config_id", "facebookConfigId"),
                        ("microsoft_tenant_id", "microsoftTenantId"),
                    ] {
                        if let Some(x) = p.get(from) {
                            o[to] = x.clone();
                        }
                    }
                    if let Some(ids) = p.get("apple_bundle_ids").and_then(Value::as_array) {
                        let bundles: Map<String, Value> = ids
                            .iter()
                            .map(|b| (Uuid::new_v4().to_string(), json!({ "bundleId": b })))
                            .collect();
                        o["appleBundles"] = Value::Object(bundles);
                    }
                    m.insert(id, o);
                }
                ("auth.oauth.providers", Value::Object(m))
            }
            "team_creator_default_permissions" => {
                ("rbac.defaultPermissions.teamCreator", id_map(value, key)?)
            }
            "team_member_default_permissions" => {
                ("rbac.defaultPermissions.teamMember", id_map(value, key)?)
            }
            "user_default_permissions" => ("rbac.defaultPermissions.signUp", id_map(value, key)?),
            other => {
                return Err(Error::schema(format!(
                    "body.config contains unknown properties: {other}"
                )));
            }
        };
        out.insert(path.to_owned(), v);
    }
    Ok(out)
}

/// The config of a project created through `/internal/projects` before its legacy fields
/// apply: Stack's create-time defaults.
fn new_project_config() -> ProjectConfig {
    let mut v = ProjectConfig::default().to_json();
    set_path(
        &mut v,
        "rbac",
        json!({
            "permissions": {
                "team_member": {
                    "description": "Default permission for team members",
                    "scope": "team",
                    "containedPermissionIds": {"$read_members": true, "$invite_members": true}
                },
                "team_admin": {
                    "description": "Default permission for team admins",
                    "scope": "team",
                    "containedPermissionIds": {
                        "$update_team": true, "$delete_team": true, "$read_members": true,
                        "$remove_members": true, "$invite_members": true, "$manage_api_keys": true
                    }
                }
            },
            "defaultPermissions": {
                "teamCreator": {"team_admin": true},
                "teamMember": {"team_member": true},
                "signUp": {}
            }
        }),
    );
    set_path(&mut v, "auth.password.allowSignIn", json!(true));
    set_path(&mut v, "domains.allowLocalhost", json!(true));
    ProjectConfig::from_json(&v).unwrap_or_default()
}

/// The project fields of the admin view that Postern keeps in `project.*` config keys.
pub(crate) fn project_info(p: &Project) -> (String, bool) {
    let extra = &p.config.project.extra;
    (
        extra
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        extra
            .get("isProductionMode")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    )
}

/// Changes to a project through the admin API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// New description (`Some(None)` clears).
    pub description: Option<Option<String>>,
    /// Production mode.
    pub is_production_mode: Option<bool>,
    /// Legacy config fields.
    pub legacy_config: Option<Map<String, Value>>,
}

fn apply_patch(p: &mut Project, patch: &ProjectPatch) -> Result<()> {
    if let Some(n) = &patch.display_name {
        p.display_name = n.clone();
    }
    if let Some(d) = &patch.description {
        p.config
            .project
            .extra
            .insert("description".into(), json!(d.clone().unwrap_or_default()));
    }
    if let Some(m) = patch.is_production_mode {
        p.config
            .project
            .extra
            .insert("isProductionMode".into(), json!(m));
    }
    if let Some(legacy) = &patch.legacy_config {
        let over = legacy_overrides(legacy)?;
        p.config = apply_override(&p.config, &over).map_err(Error::Refused)?;
    }
    Ok(())
}

/// A new key set: the keys in plain text once, and the stored row.
#[derive(Debug, Clone)]
pub struct NewKeySet {
    /// The stored row (hashes only).
    pub record: ApiKeySetRecord,
    /// `pck_…`, when requested.
    pub publishable_client_key: Option<String>,
    /// `ssk_…`, when requested.
    pub secret_server_key: Option<String>,
    /// `sak_…`, when requested.
    pub super_secret_admin_key: Option<String>,
}

/// Admin operations; from [`Postern::admin`].
#[derive(Debug, Clone, Copy)]
pub struct Admin<'a> {
    p: &'a Postern,
}

impl Postern {
    /// Admin operations: projects, key sets, config overrides.
    pub fn admin(&self) -> Admin<'_> {
        Admin { p: self }
    }
}

/// The level of a config override (`PATCH /internal/config/override/{level}`). Postern
/// keeps one config per project, so the levels differ only in who may write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigLevel {
    /// `project`.
    Project,
    /// `branch`: servers may override it, outside the admin-only sections.
    Branch,
    /// `environment`.
    Environment,
}

impl ConfigLevel {
    /// The level named in a path (`project`, `branch`, `environment`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "project" => Some(ConfigLevel::Project),
            "branch" => Some(ConfigLevel::Branch),
            "environment" => Some(ConfigLevel::Environment),
            _ => None,
        }
    }
}

impl Admin<'_> {
    /// Whether `actor` may override the config at `level`: admins may, servers only at
    /// the branch level, clients never.
    pub fn authorize_override(&self, actor: &Auth, level: ConfigLevel) -> Result<()> {
        match actor.access_type {
            AccessType::Admin => Ok(()),
            AccessType::Server if level == ConfigLevel::Branch => Ok(()),
            AccessType::Server => Err(Error::Refused(Refusal::ServerMayOnlyOverrideBranchConfig)),
            AccessType::Client => Err(Error::InsufficientAccessType {
                actual: AccessType::Client,
                allowed: vec![AccessType::Server, AccessType::Admin],
            }),
        }
    }

    /// Applies a config override as `actor` ([`Admin::authorize_override`]); a server may
    /// not reach into [`ADMIN_ONLY_SECTIONS`].
    pub async fn override_config_as(
        &self,
        actor: &Auth,
        level: ConfigLevel,
        over: &Map<String, Value>,
    ) -> Result<Project> {
        self.authorize_override(actor, level)?;
        if actor.access_type == AccessType::Server
            && let Some(key) = admin_only_key(over)
        {
            return Err(Error::Refused(
                Refusal::ServerCannotOverrideAdminOnlyConfig { key },
            ));
        }
        self.override_config(&actor.project, over).await
    }

    /// Creates a project owned by `owner_team_id`, a team of the `internal` project that
    /// `user_id` must belong to.
    pub async fn create_project(
        &self,
        user_id: Uuid,
        owner_team_id: Uuid,
        patch: ProjectPatch,
    ) -> Result<Project> {
        let store = &self.p.inner.store;
        if store
            .teams()
            .get_member(INTERNAL_PROJECT_ID, owner_team_id, user_id)
            .await?
            .is_none()
        {
            return Err(Error::TeamMembershipNotFound {
                team_id: owner_team_id,
                user_id,
            });
        }
        let mut project = Project {
            id: Uuid::new_v4().to_string(),
            display_name: String::new(),
            config: new_project_config(),
            created_at_millis: self.p.inner.clock.now_millis(),
            owner_team_id: Some(owner_team_id),
            config_version: 0,
        };
        apply_patch(&mut project, &patch)?;
        self.p.projects().insert_record(&project).await?;
        Ok(project)
    }

    /// The projects owned by teams `user_id` belongs to in the `internal` project.
    pub async fn owned_projects(&self, user_id: Uuid) -> Result<Vec<Project>> {
        let teams: Vec<Uuid> = self
            .p
            .inner
            .store
            .teams()
            .list_for_user(INTERNAL_PROJECT_ID, user_id)
            .await?
            .into_iter()
            .map(|t| t.id)
            .collect();
        let mut projects: Vec<Project> = self
            .p
            .projects()
            .list()
            .await?
            .into_iter()
            .filter(|p| p.owner_team_id.is_some_and(|o| teams.contains(&o)))
            .collect();
        projects.sort_by_key(|p| p.created_at_millis);
        Ok(projects)
    }

    /// Applies a patch to a project.
    pub async fn update_project(&self, project: &Project, patch: ProjectPatch) -> Result<Project> {
        let (p, ()) = self
            .p
            .projects()
            .modify(&project.id, |p| apply_patch(p, &patch))
            .await?;
        let mut keys: Vec<&str> = Vec::new();
        if patch.display_name.is_some() {
            keys.push("display_name");
        }
        if let Some(legacy) = &patch.legacy_config {
            keys.extend(legacy.keys().map(String::as_str));
        }
        self.config_event(project, &keys).await?;
        Ok(p)
    }

    async fn config_event(&self, project: &Project, keys: &[&str]) -> Result<()> {
        crate::audit::record(
            self.p,
            &*self.p.inner.store,
            &project.id,
            "config.changed",
            None,
            json!({ "keys": keys }),
        )
        .await
    }

    /// Applies a config override (`PATCH /internal/config/override/environment`).
    pub async fn override_config(
        &self,
        project: &Project,
        over: &Map<String, Value>,
    ) -> Result<Project> {
        let (p, ()) = self
            .p
            .projects()
            .modify(&project.id, |p| {
                p.config = apply_override(&p.config, over).map_err(Error::Refused)?;
                Ok(())
            })
            .await?;
        let keys: Vec<&str> = over.keys().map(String::as_str).collect();
        self.config_event(project, &keys).await?;
        Ok(p)
    }

    /// Creates a key set with the requested keys (stored hashed).
    pub async fn create_key_set(
        &self,
        project: &Project,
        description: &str,
        expires_at_millis: Option<i64>,
        kinds: (bool, bool, bool),
    ) -> Result<NewKeySet> {
        let keys = ProjectKeys::generate();
        let pck = kinds.0.then_some(keys.publishable_client_key.clone());
        let ssk = kinds.1.then_some(keys.secret_server_key.clone());
        let sak = kinds.2.then_some(keys.super_secret_admin_key.clone());
        let record = ApiKeySetRecord {
            id: Uuid::new_v4(),
            project_id: project.id.clone(),
            description: description.to_owned(),
            publishable_client_key_hash: pck.as_deref().map(hash_secret),
            secret_server_key_hash: ssk.as_deref().map(hash_secret),
            super_secret_admin_key_hash: sak.as_deref().map(hash_secret),
            created_at_millis: self.p.inner.clock.now_millis(),
            expires_at_millis,
            revoked_at_millis: None,
        };
        let tx = self.p.inner.store.begin().await?;
        tx.projects().insert_key_set(&record).await?;
        crate::audit::record(
            self.p,
            &*tx,
            &project.id,
            "project_keys.created",
            None,
            json!({ "key_set_id": record.id, "description": record.description }),
        )
        .await?;
        tx.commit().await?;
        Ok(NewKeySet {
            record,
            publishable_client_key: pck,
            secret_server_key: ssk,
            super_secret_admin_key: sak,
        })
    }

    /// The project's key sets made through the admin API, newest first (the set managed by
    /// the server's own configuration is left out).
    pub async fn key_sets(&self, project: &Project) -> Result<Vec<ApiKeySetRecord>> {
        let mut sets: Vec<ApiKeySetRecord> = self
            .p
            .inner
            .store
            .projects()
            .list_key_sets(&project.id)
            .await?
            .into_iter()
            .filter(|s| s.description != CONFIGURED_KEYS)
            .collect();
        sets.reverse();
        Ok(sets)
    }

    /// Updates a key set's description and revokes it (revocation is kept once set).
    pub async fn update_key_set(
        &self,
        project: &Project,
        id: Uuid,
        description: Option<String>,
        revoke: bool,
    ) -> Result<ApiKeySetRecord> {
        let store = &self.p.inner.store;
        let mut set = store
            .projects()
            .list_key_sets(&project.id)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(Error::ApiKeyNotFound)?;
        if let Some(d) = description {
            set.description = d;
        }
        let revoking = revoke && set.revoked_at_millis.is_none();
        if revoking {
            set.revoked_at_millis = Some(self.p.inner.clock.now_millis());
        }
        let tx = store.begin().await?;
        tx.projects().update_key_set(&set).await?;
        if revoking {
            crate::audit::record(
                self.p,
                &*tx,
                &project.id,
                "project_keys.revoked",
                None,
                json!({ "key_set_id": set.id }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(set)
    }
}

impl AdminProjectView {
    /// The admin view of `p`.
    pub fn of(p: &Project) -> AdminProjectView {
        let (description, is_production_mode) = project_info(p);
        AdminProjectView {
            id: p.id.clone(),
            display_name: p.display_name.clone(),
            description,
            logo_url: None,
            logo_full_url: None,
            logo_dark_mode_url: None,
            logo_full_dark_mode_url: None,
            created_at_millis: p.created_at_millis,
            is_production_mode,
            owner_team_id: p.owner_team_id,
            onboarding_status: "completed",
            config: legacy_config(&p.config),
        }
    }
}

impl KeySetView {
    /// The creation response: the new keys in full, shown once.
    pub fn created(s: &NewKeySet) -> KeySetView {
        let full = |k: &Option<String>| k.clone().map(ApiKeyValue::Full);
        KeySetView {
            publishable_client_key: full(&s.publishable_client_key),
            secret_server_key: full(&s.secret_server_key),
            super_secret_admin_key: full(&s.super_secret_admin_key),
            ..KeySetView::bare(&s.record)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_subtrees_and_null_restores_defaults() {
        let c = ProjectConfig::default();
        let mut over = Map::new();
        over.insert(
            "onboarding".into(),
            json!({"requireEmailVerification": true}),
        );
        over.insert(
            "domains.trustedDomains.a".into(),
            json!({"baseUrl": "https://a.test"}),
        );
        let c = apply_override(&c, &over).unwrap();
        assert!(c.onboarding.require_email_verification);
        assert_eq!(
            c.domains.trusted_domains["a"].base_url.as_deref(),
            Some("https://a.test")
        );
        let mut over = Map::new();
        over.insert(
            "domains.trustedDomains.b".into(),
            json!({"baseUrl": "https://b.test"}),
        );
        over.insert("onboarding.requireEmailVerification".into(), Value::Null);
        let c = apply_override(&c, &over).unwrap();
        assert_eq!(c.domains.trusted_domains.len(), 2, "siblings survive");
        assert!(
            !c.onboarding.require_email_verification,
            "null is the default"
        );
        let mut bad = Map::new();
        bad.insert("auth".into(), json!({"a.b": 1}));
        assert!(
            apply_override(&c, &bad)
                .unwrap_err()
                .to_string()
                .contains("contains a dot")
        );
        let mut bad = Map::new();
        bad.insert("auth.allowSignUp".into(), json!("yes"));
        assert!(apply_override(&c, &bad).is_err());
    }

    #[test]
    fn overrides_refuse_permission_cycles() {
        let mut over = Map::new();
        over.insert(
            "rbac.permissions".into(),
            json!({
                "a": {"scope": "team", "containedPermissionIds": {"b": true}},
                "b": {"scope": "team", "containedPermissionIds": {"a": true}}
            }),
        );
        let err = apply_override(&ProjectConfig::default(), &over).unwrap_err();
        assert!(err.to_string().contains("cycles are not allowed"), "{err}");
    }

    #[test]
    fn legacy_fields_round_trip() {
        let legacy = json!({
            "credential_enabled": false, "magic_link_enabled": true, "allow_localhost": false,
            "sign_up_enabled": false, "create_team_on_sign_up": true,
            "team_creator_default_permissions": [{"id": "team_admin"}, {"id": "custom"}],
            "domains": [{"domain": "https://b.test", "handler_path": "/h"}, {"domain": "https://a.test", "handler_path": "/h"}]
        });
        let over = legacy_overrides(legacy.as_object().unwrap()).unwrap();
        let c = apply_override(&new_project_config(), &over).unwrap();
        let v = serde_json::to_value(legacy_config(&c)).unwrap();
        assert_eq!(v["credential_enabled"], false);
        assert_eq!(v["magic_link_enabled"], true);
        assert_eq!(v["allow_localhost"], false);
        assert_eq!(v["sign_up_enabled"], false);
        assert_eq!(v["create_team_on_sign_up"], true);
        assert_eq!(
            v["team_creator_default_permissions"],
            json!([{"id": "team_admin"}]),
            "a default naming no definition is hidden"
        );
        assert_eq!(
            v["team_member_default_permissions"],
            json!([{"id": "team_member"}])
        );
        assert_eq!(v["domains"][0]["domain"], "https://a.test");
        assert_eq!(v["email_theme"], DEFAULT_EMAIL_THEME);
        assert_eq!(v["email_config"], json!({"type": "shared"}));
        let bad = json!({"email_theme": "nope"});
        assert!(legacy_overrides(bad.as_object().unwrap()).is_err());
        let bad = json!({"unknown_field": true});
        assert!(legacy_overrides(bad.as_object().unwrap()).is_err());
    }
}
