//! Projects: id, display name, config, and hashed key sets.

use std::fmt;

use uuid::Uuid;

use crate::config::ProjectConfig;
use crate::error::{Error, OnConflict, Refusal, Result};
use crate::postern::Postern;
use crate::secrets::{hash_secret, random_crockford};
use crate::storage::{ApiKeySetRecord, KeyKind, ProjectRecord};

/// The id of the project whose users administer other projects (Stack's dashboard project).
pub const INTERNAL_PROJECT_ID: &str = "internal";

/// A project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Project id.
    pub id: String,
    /// Human name.
    pub display_name: String,
    /// Configuration.
    pub config: ProjectConfig,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// The team of the `internal` project whose members administer this project (through
    /// admin access tokens).
    pub owner_team_id: Option<Uuid>,
    /// The version of the config as read; a write succeeds only from the current version.
    pub config_version: i64,
}

impl Project {
    fn from_record(r: ProjectRecord) -> Result<Self> {
        let config = ProjectConfig::from_json(&r.config)
            .map_err(|e| Error::Internal(format!("stored config of project {}: {e}", r.id)))?;
        Ok(Project {
            id: r.id,
            display_name: r.display_name,
            config,
            created_at_millis: r.created_at_millis,
            owner_team_id: r.owner_team_id,
            config_version: r.config_version,
        })
    }
}

/// The three keys of a key set, in plain text: shown once, stored only as hashes.
#[derive(Clone, PartialEq, Eq)]
pub struct ProjectKeys {
    /// `pck_…`.
    pub publishable_client_key: String,
    /// `ssk_…`.
    pub secret_server_key: String,
    /// `sak_…`.
    pub super_secret_admin_key: String,
}

impl fmt::Debug for ProjectKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProjectKeys { .. }")
    }
}

impl ProjectKeys {
    /// Fresh random keys in Stack's format (prefix + 45 Crockford characters).
    pub fn generate() -> Self {
        Self {
            publishable_client_key: format!("pck_{}", random_crockford(45)),
            secret_server_key: format!("ssk_{}", random_crockford(45)),
            super_secret_admin_key: format!("sak_{}", random_crockford(45)),
        }
    }
}

/// Description of the key set that server configuration manages.
pub const CONFIGURED_KEYS: &str = "configured";

/// Project operations; from [`Postern::projects`].
#[derive(Debug, Clone, Copy)]
pub struct Projects<'a> {
    p: &'a Postern,
}

impl Postern {
    /// Project operations.
    pub fn projects(&self) -> Projects<'_> {
        Projects { p: self }
    }
}

impl Projects<'_> {
    /// The row of a project, its third-party secrets sealed; a [`crate::config_secrets::REDACTED`]
    /// secret keeps the value it has in `previous` (the stored config).
    fn record_of(&self, project: &Project, previous: Option<&serde_json::Value>) -> ProjectRecord {
        let mut config = project.config.to_json();
        crate::config_secrets::seal_all(
            &self.p.inner.config_keys[0],
            &project.id,
            &mut config,
            previous,
        );
        ProjectRecord {
            id: project.id.clone(),
            display_name: project.display_name.clone(),
            config,
            created_at_millis: project.created_at_millis,
            owner_team_id: project.owner_team_id,
            config_version: project.config_version,
        }
    }

    /// A third-party secret of the project's config (`emails.server.password`,
    /// `auth.oauth.providers.<id>.clientSecret`), opened; `None` when absent.
    pub fn config_secret(&self, project: &Project, path: &str) -> Option<String> {
        crate::config_secrets::open(
            &self.p.inner.config_keys,
            &project.id,
            &project.config.to_json(),
            path,
        )
    }

    /// The project with this id.
    pub async fn get(&self, id: &str) -> Result<Option<Project>> {
        self.p
            .inner
            .store
            .projects()
            .get(id)
            .await?
            .map(Project::from_record)
            .transpose()
    }

    /// All projects.
    pub async fn list(&self) -> Result<Vec<Project>> {
        self.p
            .inner
            .store
            .projects()
            .list()
            .await?
            .into_iter()
            .map(Project::from_record)
            .collect()
    }

    /// Creates a project with random keys; the keys are returned once and stored hashed.
    /// A config that fails [`ProjectConfig::validate`] is refused
    /// ([`Refusal::InvalidConfig`] naming the bad key, or [`Refusal::PermissionCycle`]).
    pub async fn create(
        &self,
        id: Option<String>,
        display_name: &str,
        config: ProjectConfig,
    ) -> Result<(Project, ProjectKeys)> {
        config.validate().map_err(|e| Error::Refused(e.into()))?;
        let project = Project {
            id: id.unwrap_or_else(|| Uuid::new_v4().to_string()),
            display_name: display_name.to_owned(),
            config,
            created_at_millis: self.p.inner.clock.now_millis(),
            owner_team_id: None,
            config_version: 0,
        };
        let keys = ProjectKeys::generate();
        let tx = self.p.inner.store.begin().await?;
        tx.projects()
            .insert(&self.record_of(&project, None))
            .await
            .on_conflict(|| {
                Error::Refused(Refusal::ProjectAlreadyExists {
                    project_id: project.id.clone(),
                })
            })?;
        tx.projects()
            .insert_key_set(&self.key_set(&project.id, &keys, CONFIGURED_KEYS))
            .await?;
        tx.commit().await?;
        Ok((project, keys))
    }

    /// Creates the project or updates it: the display name always, the config when given,
    /// and, when keys are given, replaces the server-configured key set with them (other key
    /// sets are kept). One transaction.
    pub async fn upsert(
        &self,
        id: &str,
        display_name: &str,
        config: Option<ProjectConfig>,
        keys: Option<&ProjectKeys>,
    ) -> Result<Project> {
        if let Some(c) = &config {
            c.validate().map_err(|e| Error::Refused(e.into()))?;
        }
        let now = self.p.inner.clock.now_millis();
        let tx = self.p.inner.store.begin().await?;
        let project = match tx.projects().get(id).await? {
            Some(r) => {
                let previous = r.config.clone();
                let mut p = Project::from_record(r)?;
                p.display_name = display_name.to_owned();
                if let Some(c) = config {
                    p.config = c;
                }
                // Read in this transaction: the version cannot move before the write, short
                // of a concurrent writer, which the compare-and-swap refuses.
                if !tx
                    .projects()
                    .update(&self.record_of(&p, Some(&previous)))
                    .await?
                {
                    return Err(Error::Internal(format!(
                        "project {id} changed while it was being written"
                    )));
                }
                p.config_version += 1;
                p
            }
            None => {
                let p = Project {
                    id: id.to_owned(),
                    display_name: display_name.to_owned(),
                    config: config.unwrap_or_default(),
                    created_at_millis: now,
                    owner_team_id: None,
                    config_version: 0,
                };
                tx.projects().insert(&self.record_of(&p, None)).await?;
                p
            }
        };
        if let Some(keys) = keys {
            for set in tx.projects().list_key_sets(id).await? {
                if set.description == CONFIGURED_KEYS {
                    tx.projects().delete_key_set(id, set.id).await?;
                }
            }
            tx.projects()
                .insert_key_set(&self.key_set(id, keys, CONFIGURED_KEYS))
                .await
                .on_conflict(|| Error::Refused(Refusal::ProjectKeyAlreadyUsed))?;
        }
        tx.commit().await?;
        Ok(project)
    }

    /// Inserts a project as given (no key set).
    pub async fn insert_record(&self, project: &Project) -> Result<()> {
        self.p
            .inner
            .store
            .projects()
            .insert(&self.record_of(project, None))
            .await
            .on_conflict(|| {
                Error::Refused(Refusal::ProjectAlreadyExists {
                    project_id: project.id.clone(),
                })
            })
    }

    /// Changes a project without losing concurrent changes: reads the current project,
    /// lets `change` edit it (display name, config, owner), checks the config
    /// ([`ProjectConfig::validate`]), and writes it back only if its
    /// config version is still the one read (compare-and-swap); when another write came in
    /// between, starts over from the newer project. Returns the written project and what
    /// `change` returned. An error from `change` writes nothing.
    pub async fn modify<T>(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Project) -> Result<T>,
    ) -> Result<(Project, T)> {
        const ATTEMPTS: usize = 32;
        let repo = self.p.inner.store.projects();
        for _ in 0..ATTEMPTS {
            let Some(record) = repo.get(id).await? else {
                return Err(Error::CurrentProjectNotFound(id.to_owned()));
            };
            let previous = record.config.clone();
            let mut p = Project::from_record(record)?;
            let out = change(&mut p)?;
            p.config.validate().map_err(|e| Error::Refused(e.into()))?;
            if repo.update(&self.record_of(&p, Some(&previous))).await? {
                p.config_version += 1;
                return Ok((p, out));
            }
        }
        Err(Error::Internal(format!(
            "project {id} kept changing; gave up after {ATTEMPTS} attempts"
        )))
    }

    /// Replaces a project's config (checked by [`ProjectConfig::validate`] first).
    pub async fn update_config(&self, id: &str, config: ProjectConfig) -> Result<Option<Project>> {
        match self
            .modify(id, |p| {
                p.config = config.clone();
                Ok(())
            })
            .await
        {
            Ok((p, ())) => Ok(Some(p)),
            Err(Error::CurrentProjectNotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether `key` is a valid, unexpired, unrevoked key of `kind` for the project.
    /// The key is hashed first, so storage only ever compares hashes.
    pub async fn check_key(&self, project_id: &str, kind: KeyKind, key: &str) -> Result<bool> {
        let hash = hash_secret(key);
        let Some(set) = self
            .p
            .inner
            .store
            .projects()
            .find_key_set(project_id, kind, &hash)
            .await?
        else {
            return Ok(false);
        };
        let stored = match kind {
            KeyKind::PublishableClient => set.publishable_client_key_hash.as_deref(),
            KeyKind::SecretServer => set.secret_server_key_hash.as_deref(),
            KeyKind::SuperSecretAdmin => set.super_secret_admin_key_hash.as_deref(),
        };
        let now = self.p.inner.clock.now_millis();
        Ok(
            stored.is_some_and(|s| crate::secrets::ct_eq(s.as_bytes(), hash.as_bytes()))
                && set.revoked_at_millis.is_none()
                && set.expires_at_millis.is_none_or(|e| e > now),
        )
    }

    fn key_set(&self, project_id: &str, keys: &ProjectKeys, description: &str) -> ApiKeySetRecord {
        ApiKeySetRecord {
            id: Uuid::new_v4(),
            project_id: project_id.to_owned(),
            description: description.to_owned(),
            publishable_client_key_hash: Some(hash_secret(&keys.publishable_client_key)),
            secret_server_key_hash: Some(hash_secret(&keys.secret_server_key)),
            super_secret_admin_key_hash: Some(hash_secret(&keys.super_secret_admin_key)),
            created_at_millis: self.p.inner.clock.now_millis(),
            expires_at_millis: None,
            revoked_at_millis: None,
        }
    }
}
