//! RBAC (contract §2 of rest-org.md): permission definitions in the project config
//! (`rbac.permissions.<id>`, scope `team` or `project`, contained ids nested to any depth),
//! Stack's six system permissions, direct grants in storage, and checks.
//!
//! A check never walks the graph: each project's transitive closure is computed once per
//! version of its definitions ([`Closure`]) and cached; a check is one lookup of the user's
//! direct grants and a set test. Definitions are saved only when the graph has no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use uuid::Uuid;

use crate::actor::Auth;
use crate::config::{IdSet, PermissionConfig, ProjectConfig};
use crate::error::{Error, Refusal, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::{PermissionGrantRecord, Repos};

pub use crate::rbac::{
    Closure, DefaultKind, Definition, SYSTEM_PERMISSIONS, Scope, default_permissions, definitions,
    is_system, is_valid_custom_id,
};

/// Checks a config's permission graph: no definition may contain itself, directly or
/// not. Used wherever definitions are saved (API, config overrides, config files).
pub fn validate(config: &ProjectConfig) -> std::result::Result<(), Refusal> {
    match config.rbac.find_cycle() {
        Some(id) => Err(Refusal::PermissionCycle { permission_id: id }),
        None => Ok(()),
    }
}

/// The system permissions as definitions.
pub fn system_definitions() -> Vec<Definition> {
    SYSTEM_PERMISSIONS
        .iter()
        .map(|(id, desc)| Definition {
            id: (*id).to_owned(),
            description: Some((*desc).to_owned()),
            scope: Scope::Team,
            contains: BTreeSet::new(),
        })
        .collect()
}

fn set_definitions(config: &mut ProjectConfig, defs: &BTreeMap<String, Definition>) {
    config.rbac.permissions = defs
        .values()
        .map(|d| {
            (
                d.id.clone(),
                PermissionConfig {
                    description: d.description.clone(),
                    scope: Some(d.scope),
                    contained_permission_ids: IdSet::of(d.contains.iter().cloned()),
                    extra: config
                        .rbac
                        .permissions
                        .get(&d.id)
                        .map(|p| p.extra.clone())
                        .unwrap_or_default(),
                },
            )
        })
        .collect();
}

/// A new or changed definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefinitionInput {
    /// Id (for updates: the new id, renaming).
    pub id: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Contained ids.
    pub contained: Option<Vec<String>>,
}

/// Permission operations; from [`Postern::permissions`].
#[derive(Debug, Clone, Copy)]
pub struct Permissions<'a> {
    p: &'a Postern,
}

impl Postern {
    /// Permissions: definitions, grants, checks.
    pub fn permissions(&self) -> Permissions<'_> {
        Permissions { p: self }
    }
}

impl Permissions<'_> {
    /// The cached closure of the project's definitions.
    pub fn closure(&self, project: &Project) -> Arc<Closure> {
        self.p.inner.closures.get(&project.id, &project.config)
    }

    /// Whether the user has `permission` in `team` (team scope), or project-wide for
    /// `team: None`, directly or through contained permissions.
    pub async fn has_permission(
        &self,
        project: &Project,
        user_id: Uuid,
        team: Option<Uuid>,
        permission: &str,
    ) -> Result<bool> {
        let repo = self.p.inner.store.permissions();
        let grants = match team {
            Some(t) => repo.list_team(&project.id, Some(t), Some(user_id)).await?,
            None => repo.list_project(&project.id, Some(user_id)).await?,
        };
        let closure = self.closure(project);
        Ok(grants
            .iter()
            .any(|g| closure.implies(&g.permission_id, permission)))
    }

    /// Requires a team permission of a client: not a member → `TEAM_MEMBERSHIP_NOT_FOUND`,
    /// member without it → `TEAM_PERMISSION_REQUIRED`.
    pub async fn require_team_permission(
        &self,
        project: &Project,
        user_id: Uuid,
        team_id: Uuid,
        permission: &str,
    ) -> Result<()> {
        if self
            .p
            .inner
            .store
            .teams()
            .get_member(&project.id, team_id, user_id)
            .await?
            .is_none()
        {
            return Err(Error::TeamMembershipNotFound { team_id, user_id });
        }
        if self
            .has_permission(project, user_id, Some(team_id), permission)
            .await?
        {
            Ok(())
        } else {
            Err(Error::TeamPermissionRequired {
                team_id,
                user_id,
                permission_id: permission.to_owned(),
            })
        }
    }

    /// The grants `actor` may list: a client only its own user's (`user` must be the
    /// signed-in user); servers and admins anyone's. Arguments as [`Self::list`].
    pub async fn list_as(
        &self,
        actor: &Auth,
        scope: Scope,
        team: Option<Uuid>,
        user: Option<Uuid>,
        permission: Option<&str>,
        recursive: bool,
    ) -> Result<Vec<PermissionGrantRecord>> {
        if actor.is_client() && (user.is_none() || user != actor.user_id()) {
            return Err(Error::Refused(Refusal::ClientMayOnlyListOwnPermissions));
        }
        self.list(&actor.project, scope, team, user, permission, recursive)
            .await
    }

    /// Grants, listing (direct or recursive), sorted by team, user, id.
    pub async fn list(
        &self,
        project: &Project,
        scope: Scope,
        team: Option<Uuid>,
        user: Option<Uuid>,
        permission: Option<&str>,
        recursive: bool,
    ) -> Result<Vec<PermissionGrantRecord>> {
        let repo = self.p.inner.store.permissions();
        let direct = match scope {
            Scope::Team => repo.list_team(&project.id, team, user).await?,
            Scope::Project => repo.list_project(&project.id, user).await?,
        };
        let closure = self.closure(project);
        let mut groups: BTreeMap<(Option<Uuid>, Uuid), Vec<&str>> = BTreeMap::new();
        for g in &direct {
            groups
                .entry((g.team_id, g.user_id))
                .or_default()
                .push(&g.permission_id);
        }
        let mut out = BTreeSet::new();
        for ((team_id, user_id), ids) in groups {
            let ids: BTreeSet<String> = if recursive {
                closure.expand(ids.iter().copied())
            } else {
                ids.iter()
                    .filter(|i| closure.implies(i, i))
                    .map(|i| (*i).to_owned())
                    .collect()
            };
            for id in ids {
                out.insert(PermissionGrantRecord {
                    project_id: project.id.clone(),
                    team_id,
                    user_id,
                    permission_id: id,
                });
            }
        }
        Ok(out
            .into_iter()
            .filter(|g| permission.is_none_or(|p| g.permission_id == p))
            .collect())
    }

    /// Checks that `id` is grantable in `scope`.
    fn check_grantable(&self, project: &Project, scope: Scope, id: &str) -> Result<()> {
        if scope == Scope::Team && is_system(id) {
            return Ok(());
        }
        match definitions(&project.config).get(id) {
            Some(d) if d.scope == scope => Ok(()),
            Some(d) => Err(Error::WrongPermissionScope {
                permission_id: id.to_owned(),
                expected_scope: scope.as_str(),
                actual_scope: d.scope.as_str(),
            }),
            None => Err(Error::PermissionNotFound(id.to_owned())),
        }
    }

    /// Grants a permission directly (idempotent).
    pub async fn grant(
        &self,
        project: &Project,
        team: Option<Uuid>,
        user_id: Uuid,
        id: &str,
    ) -> Result<PermissionGrantRecord> {
        let store = &self.p.inner.store;
        if store.users().get(&project.id, user_id).await?.is_none() {
            return Err(Error::UserNotFound);
        }
        if let Some(team_id) = team
            && store
                .teams()
                .get_member(&project.id, team_id, user_id)
                .await?
                .is_none()
        {
            return Err(Error::TeamMembershipNotFound { team_id, user_id });
        }
        let scope = if team.is_some() {
            Scope::Team
        } else {
            Scope::Project
        };
        self.check_grantable(project, scope, id)?;
        let g = PermissionGrantRecord {
            project_id: project.id.clone(),
            team_id: team,
            user_id,
            permission_id: id.to_owned(),
        };
        let tx = store.begin().await?;
        tx.permissions().grant(&g).await?;
        grant_event(self.p, &*tx, &g, "created").await?;
        tx.commit().await?;
        Ok(g)
    }

    /// Revokes a direct grant.
    pub async fn revoke(
        &self,
        project: &Project,
        team: Option<Uuid>,
        user_id: Uuid,
        id: &str,
    ) -> Result<()> {
        let store = &self.p.inner.store;
        if store.users().get(&project.id, user_id).await?.is_none() {
            return Err(Error::UserNotFound);
        }
        if let Some(team_id) = team
            && store
                .teams()
                .get_member(&project.id, team_id, user_id)
                .await?
                .is_none()
        {
            return Err(Error::TeamMembershipNotFound { team_id, user_id });
        }
        let g = PermissionGrantRecord {
            project_id: project.id.clone(),
            team_id: team,
            user_id,
            permission_id: id.to_owned(),
        };
        let tx = store.begin().await?;
        if tx.permissions().revoke(&g).await? {
            grant_event(self.p, &*tx, &g, "deleted").await?;
            tx.commit().await?;
            return Ok(());
        }
        Err(match team {
            Some(team_id) => Error::TeamPermissionNotFound {
                team_id,
                user_id,
                permission_id: id.to_owned(),
            },
            None => Error::PermissionNotFound(id.to_owned()),
        })
    }

    /// Definitions of a scope, sorted by id (team scope includes the system permissions).
    pub fn list_definitions(&self, project: &Project, scope: Scope) -> Vec<Definition> {
        let mut defs: Vec<Definition> = definitions(&project.config)
            .into_values()
            .filter(|d| d.scope == scope)
            .collect();
        if scope == Scope::Team {
            defs.extend(system_definitions());
        }
        defs.sort_by(|a, b| a.id.cmp(&b.id));
        defs
    }

    fn validate_contained(
        defs: &BTreeMap<String, Definition>,
        scope: Scope,
        contained: &[String],
    ) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for c in contained {
            let ok = (scope == Scope::Team && is_system(c))
                || defs.get(c).is_some_and(|d| d.scope == scope);
            if !ok {
                return Err(Error::ContainedPermissionNotFound(c.clone()));
            }
            out.insert(c.clone());
        }
        Ok(out)
    }

    /// Changes the project's definitions: `change` edits the definitions of the project's
    /// current config, cycles are refused, and the config is written back only if no other
    /// write came in between (else `change` runs again on the newer definitions), so
    /// concurrent changes are never lost.
    async fn change_definitions<T>(
        &self,
        project: &Project,
        mut change: impl FnMut(&mut BTreeMap<String, Definition>) -> Result<T>,
    ) -> Result<T> {
        let (_, out) = self
            .p
            .projects()
            .modify(&project.id, |p| {
                let mut defs = definitions(&p.config);
                let out = change(&mut defs)?;
                set_definitions(&mut p.config, &defs);
                if let Some(at) = p.config.rbac.find_cycle() {
                    return Err(Error::Refused(Refusal::PermissionCycle {
                        permission_id: at,
                    }));
                }
                Ok(out)
            })
            .await?;
        Ok(out)
    }

    /// Creates a definition.
    pub async fn create_definition(
        &self,
        project: &Project,
        scope: Scope,
        input: DefinitionInput,
    ) -> Result<Definition> {
        let id = input.id.clone().unwrap_or_default();
        self.change_definitions(project, |defs| {
            if defs.contains_key(&id) || is_system(&id) {
                return Err(Error::PermissionIdAlreadyExists(id.clone()));
            }
            let contained = input.contained.clone().unwrap_or_default();
            let contains = Self::validate_contained(defs, scope, &contained)?;
            let d = Definition {
                id: id.clone(),
                description: input.description.clone(),
                scope,
                contains,
            };
            defs.insert(id.clone(), d.clone());
            Ok(d)
        })
        .await
    }

    /// Replaces a definition (a new id renames it everywhere, grants included).
    pub async fn update_definition(
        &self,
        project: &Project,
        scope: Scope,
        id: &str,
        input: DefinitionInput,
    ) -> Result<Definition> {
        let new_id = input.id.clone().unwrap_or_else(|| id.to_owned());
        let d = self
            .change_definitions(project, |defs| {
                if !defs.get(id).is_some_and(|d| d.scope == scope) {
                    return Err(Error::PermissionNotFound(id.to_owned()));
                }
                if new_id != id && (defs.contains_key(&new_id) || is_system(&new_id)) {
                    return Err(Error::PermissionIdAlreadyExists(new_id.clone()));
                }
                defs.remove(id);
                let contained: Vec<String> = input
                    .contained
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| if c == id { new_id.clone() } else { c })
                    .collect();
                if new_id != id {
                    for d in defs.values_mut() {
                        if d.contains.remove(id) {
                            d.contains.insert(new_id.clone());
                        }
                    }
                }
                let mut check = defs.clone();
                check.insert(
                    new_id.clone(),
                    Definition {
                        id: new_id.clone(),
                        description: None,
                        scope,
                        contains: BTreeSet::new(),
                    },
                );
                let contains = Self::validate_contained(&check, scope, &contained)?;
                let d = Definition {
                    id: new_id.clone(),
                    description: input.description.clone(),
                    scope,
                    contains,
                };
                defs.insert(new_id.clone(), d.clone());
                Ok(d)
            })
            .await?;
        if new_id != id {
            self.p
                .inner
                .store
                .permissions()
                .rename(&project.id, id, &new_id)
                .await?;
        }
        Ok(d)
    }

    /// Deletes a definition, its grants and its mentions in other definitions.
    pub async fn delete_definition(&self, project: &Project, scope: Scope, id: &str) -> Result<()> {
        self.change_definitions(project, |defs| {
            if !defs.get(id).is_some_and(|d| d.scope == scope) {
                return Err(Error::PermissionNotFound(id.to_owned()));
            }
            defs.remove(id);
            for d in defs.values_mut() {
                d.contains.remove(id);
            }
            Ok(())
        })
        .await?;
        self.p
            .inner
            .store
            .permissions()
            .delete_permission(&project.id, id)
            .await?;
        Ok(())
    }
}

/// What an app route requires: a permission, project-wide or in the team named by a
/// request header. Set per route (an axum extension, actix app data) for the adapters'
/// `Permitted` extractors.
///
/// ```
/// use postern_core::permissions::RequiredPermission;
/// let billing = RequiredPermission::project("billing");
/// let edit = RequiredPermission::team("$update_team", "x-team-id");
/// # let _ = (billing, edit);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredPermission {
    /// The permission id.
    pub permission: String,
    /// For team permissions: the request header carrying the team id.
    pub team_header: Option<String>,
}

impl RequiredPermission {
    /// A project permission.
    pub fn project(permission: impl Into<String>) -> Self {
        Self {
            permission: permission.into(),
            team_header: None,
        }
    }

    /// A team permission in the team whose id is in `team_header`.
    pub fn team(permission: impl Into<String>, team_header: impl Into<String>) -> Self {
        Self {
            permission: permission.into(),
            team_header: Some(team_header.into()),
        }
    }
}

/// Records `team_permission.<what>` or `project_permission.<what>` for a grant.
async fn grant_event(
    p: &Postern,
    repos: &dyn Repos,
    g: &PermissionGrantRecord,
    what: &str,
) -> Result<()> {
    let kind = if g.team_id.is_some() {
        "team_permission"
    } else {
        "project_permission"
    };
    let data = crate::views::PermissionGrantView::of(g);
    crate::events::record(p, repos, &g.project_id, &format!("{kind}.{what}"), &data).await
}

/// Grants the config's default permissions of `kind` through `repos` (inside the creating
/// transaction). Defaults naming a definition that no longer exists are skipped.
pub(crate) async fn grant_defaults(
    repos: &dyn Repos,
    project: &Project,
    kind: DefaultKind,
    team: Option<Uuid>,
    user_id: Uuid,
) -> Result<Vec<String>> {
    let mut granted = Vec::new();
    let defs = definitions(&project.config);
    let scope = if team.is_some() {
        Scope::Team
    } else {
        Scope::Project
    };
    for id in default_permissions(&project.config, kind) {
        let known = (scope == Scope::Team && is_system(&id))
            || defs.get(&id).is_some_and(|d| d.scope == scope);
        if known {
            repos
                .permissions()
                .grant(&PermissionGrantRecord {
                    project_id: project.id.clone(),
                    team_id: team,
                    user_id,
                    permission_id: id.clone(),
                })
                .await?;
            granted.push(id);
        }
    }
    Ok(granted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn graph(edges: &[(usize, usize)], n: usize) -> BTreeMap<String, Definition> {
        (0..n)
            .map(|i| {
                let id = format!("p{i}");
                let contains = edges
                    .iter()
                    .filter(|(a, _)| *a == i)
                    .map(|(_, b)| format!("p{b}"))
                    .collect();
                (
                    id.clone(),
                    Definition {
                        id,
                        description: None,
                        scope: Scope::Team,
                        contains,
                    },
                )
            })
            .collect()
    }

    /// The naive expansion: recursion with a visited set.
    fn naive(defs: &BTreeMap<String, Definition>, id: &str, seen: &mut BTreeSet<String>) {
        if !seen.insert(id.to_owned()) {
            return;
        }
        if let Some(d) = defs.get(id) {
            for c in &d.contains {
                naive(defs, c, seen);
            }
        }
    }

    proptest! {
        #[test]
        fn closure_agrees_with_naive_recursion(
            n in 1usize..25,
            edges in proptest::collection::vec((0usize..25, 0usize..25), 0..60),
        ) {
            let edges: Vec<(usize, usize)> = edges.into_iter().filter(|(a, b)| *a < n && *b < n).collect();
            let defs = graph(&edges, n);
            let closure = Closure::build(&defs);
            for i in 0..n {
                let id = format!("p{i}");
                let mut expected = BTreeSet::new();
                naive(&defs, &id, &mut expected);
                prop_assert_eq!(closure.expand([id.as_str()]), expected.clone());
                for j in 0..n {
                    let other = format!("p{j}");
                    prop_assert_eq!(closure.implies(&id, &other), expected.contains(&other));
                }
            }
            // A cycle exists iff some node reaches itself through at least one edge.
            let cyclic = (0..n).any(|i| {
                let id = format!("p{i}");
                defs[&id].contains.iter().any(|c| {
                    let mut seen = BTreeSet::new();
                    naive(&defs, c, &mut seen);
                    seen.contains(&id)
                })
            });
            let mut config = ProjectConfig::default();
            set_definitions(&mut config, &defs);
            prop_assert_eq!(config.rbac.find_cycle().is_some(), cyclic);
        }
    }

    #[test]
    fn system_ids_and_unknown_ids() {
        let mut defs = graph(&[], 1);
        defs.get_mut("p0")
            .unwrap()
            .contains
            .insert("$read_members".into());
        let c = Closure::build(&defs);
        assert!(c.implies("p0", "$read_members"));
        assert!(c.implies("$invite_members", "$invite_members"));
        assert!(
            !c.implies("gone", "gone"),
            "a deleted definition grants nothing"
        );
        assert_eq!(
            c.expand(["p0", "gone", "$update_team"]),
            ["$read_members", "$update_team", "p0"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
        assert!(is_valid_custom_id("team_admin:x1"));
        assert!(
            !is_valid_custom_id("$x") && !is_valid_custom_id("Upper") && !is_valid_custom_id("")
        );
    }
}
