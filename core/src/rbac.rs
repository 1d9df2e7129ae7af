//! The RBAC model (contract §2 of rest-org.md): Stack's system permissions, permission
//! definitions read from the typed config, and their transitive closure, cached per
//! project. Pure: no storage and no service, so the [`crate::Postern`] core can hold the
//! cache without depending on the permission service.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

pub use crate::config::Scope;
use crate::config::{PermissionConfig, ProjectConfig};

/// Stack's system permissions (team scope) and their descriptions.
pub const SYSTEM_PERMISSIONS: [(&str, &str); 6] = [
    ("$delete_team", "Delete the team"),
    ("$invite_members", "Invite other users to the team"),
    (
        "$manage_api_keys",
        "Create and manage API keys for the team",
    ),
    (
        "$read_members",
        "Read and list the other members of the team",
    ),
    ("$remove_members", "Remove other members from the team"),
    ("$update_team", "Update the team information"),
];

/// Whether `id` is a system permission.
pub fn is_system(id: &str) -> bool {
    SYSTEM_PERMISSIONS.iter().any(|(s, _)| *s == id)
}

/// A permission definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// Id (`^[a-z0-9_:]+$`, or a `$` system id).
    pub id: String,
    /// Description.
    pub description: Option<String>,
    /// Scope.
    pub scope: Scope,
    /// Directly contained permission ids.
    pub contains: BTreeSet<String>,
}

/// Whether `id` is a valid id for a custom definition.
pub fn is_valid_custom_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b':')
}

/// The custom definitions of a config, by id (entries without a scope are left out).
pub fn definitions(config: &ProjectConfig) -> BTreeMap<String, Definition> {
    config
        .rbac
        .permissions
        .iter()
        .filter_map(|(id, d)| {
            Some((
                id.clone(),
                Definition {
                    id: id.clone(),
                    description: d.description.clone(),
                    scope: d.scope?,
                    contains: d
                        .contained_permission_ids
                        .ids()
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                },
            ))
        })
        .collect()
}

/// The default permissions of a config (`rbac.defaultPermissions.<kind>`).
pub fn default_permissions(config: &ProjectConfig, kind: DefaultKind) -> Vec<String> {
    let d = &config.rbac.default_permissions;
    let set = match kind {
        DefaultKind::TeamCreator => &d.team_creator,
        DefaultKind::TeamMember => &d.team_member,
        DefaultKind::SignUp => &d.sign_up,
    };
    set.ids().into_iter().map(str::to_owned).collect()
}

/// Which default permissions (`rbac.defaultPermissions.<kind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultKind {
    /// `teamCreator`: the creator of a team, in it.
    TeamCreator,
    /// `teamMember`: every member joining a team.
    TeamMember,
    /// `signUp`: every new user, project-wide.
    SignUp,
}

/// The transitive closure of a project's permission graph: for each defined id, every id
/// it implies (itself included), as a bit set over the ids of the graph. Ids contained but
/// not defined (system ids) imply only themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closure {
    index: HashMap<String, usize>,
    ids: Vec<String>,
    defined: usize,
    words: usize,
    bits: Vec<u64>,
}

impl Closure {
    /// Computes the closure of `defs`: one depth-first walk per definition over integer
    /// adjacency lists with a bit set of visited ids (cycle-tolerant).
    pub fn build(defs: &BTreeMap<String, Definition>) -> Self {
        let mut index: HashMap<String, usize> = HashMap::with_capacity(defs.len() * 2);
        let mut ids: Vec<String> = Vec::with_capacity(defs.len());
        for id in defs.keys() {
            index.insert(id.clone(), ids.len());
            ids.push(id.clone());
        }
        let defined = ids.len();
        // Contained ids that are not definitions (system permissions) get an index too.
        for d in defs.values() {
            for c in &d.contains {
                if !index.contains_key(c) {
                    index.insert(c.clone(), ids.len());
                    ids.push(c.clone());
                }
            }
        }
        let adjacency: Vec<Vec<usize>> = ids[..defined]
            .iter()
            .map(|id| defs[id].contains.iter().map(|c| index[c]).collect())
            .collect();
        let words = ids.len().div_ceil(64).max(1);
        let mut bits = vec![0u64; defined * words];
        let mut stack = Vec::new();
        for start in 0..defined {
            let row = &mut bits[start * words..(start + 1) * words];
            stack.clear();
            stack.push(start);
            while let Some(v) = stack.pop() {
                let (w, b) = (v / 64, 1u64 << (v % 64));
                if row[w] & b != 0 {
                    continue;
                }
                row[w] |= b;
                if v < defined {
                    stack.extend(
                        adjacency[v]
                            .iter()
                            .copied()
                            .filter(|c| row[c / 64] & (1u64 << (c % 64)) == 0),
                    );
                }
            }
        }
        Closure {
            index,
            ids,
            defined,
            words,
            bits,
        }
    }

    fn row(&self, id: &str) -> Option<&[u64]> {
        let i = *self.index.get(id)?;
        (i < self.defined).then(|| &self.bits[i * self.words..(i + 1) * self.words])
    }

    /// Everything the directly granted ids imply (ids of definitions that no longer exist
    /// are skipped; system ids stand for themselves).
    pub fn expand<'a>(&self, direct: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let mut acc = vec![0u64; self.words];
        let mut out = BTreeSet::new();
        for id in direct {
            match self.row(id) {
                Some(row) => acc.iter_mut().zip(row).for_each(|(a, r)| *a |= r),
                None if is_system(id) => {
                    out.insert(id.to_owned());
                }
                None => {}
            }
        }
        for (w, word) in acc.iter().enumerate() {
            let mut word = *word;
            while word != 0 {
                let b = word.trailing_zeros() as usize;
                out.insert(self.ids[w * 64 + b].clone());
                word &= word - 1;
            }
        }
        out
    }

    /// Whether granting `granted` gives `wanted`: one hash lookup and one bit test.
    pub fn implies(&self, granted: &str, wanted: &str) -> bool {
        match (self.row(granted), self.index.get(wanted)) {
            (Some(row), Some(&w)) => row[w / 64] & (1u64 << (w % 64)) != 0,
            (Some(_), None) => false,
            (None, _) => granted == wanted && is_system(granted),
        }
    }
}

/// A closure and the definitions it was built from.
type CachedClosure = (BTreeMap<String, PermissionConfig>, Arc<Closure>);

/// A cache of closures per project, keyed by the definitions they were built from
/// (compared exactly): a change of definitions, on this instance or another, rebuilds on
/// next use.
#[derive(Debug, Default)]
pub(crate) struct ClosureCache {
    entries: Mutex<HashMap<String, CachedClosure>>,
}

impl ClosureCache {
    /// The closure of `config`'s definitions for project `project_id`.
    pub(crate) fn get(&self, project_id: &str, config: &ProjectConfig) -> Arc<Closure> {
        let key = &config.rbac.permissions;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, c)) = entries.get(project_id)
            && k == key
        {
            return Arc::clone(c);
        }
        let key = key.clone();
        let closure = Arc::new(Closure::build(&definitions(config)));
        entries.insert(project_id.to_owned(), (key, Arc::clone(&closure)));
        closure
    }
}
