//! RBAC costs: `has_permission` for a user with 20 direct grants in a team, one of them a
//! role nested three levels deep (on SQLite file and PostgreSQL, beside the grant lookup
//! alone measured in the same run), the closure's set test alone, and rebuilding the
//! closure for 1,000 definitions.
//!
//! `cargo bench -p postern-tests --bench permissions` (PostgreSQL from
//! POSTERN_TEST_POSTGRES_URL, or the throwaway cluster the fixture starts).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use postern_core::permissions::{Closure, Definition, DefinitionInput, Scope};
use postern_core::storage::{Store, UserRecord};
use postern_core::teams::NewTeam;
use postern_core::{PasswordParams, Postern, ProjectConfig};

fn bench_store(c: &mut Criterion, name: &str, rt: &tokio::runtime::Runtime, store: Arc<dyn Store>) {
    let postern = Postern::builder(store.clone())
        .secret("bench-secret-0123456789abcdef")
        .password_params(PasswordParams::insecure_fast())
        .build()
        .unwrap();
    let (project, user, team) = rt.block_on(async {
        let (project, _) = postern
            .projects()
            .create(None, "bench", ProjectConfig::default())
            .await
            .unwrap();
        let perms = postern.permissions();
        let mut project = project;
        // role3 ⊇ role2 ⊇ role1 ⊇ $read_members, plus 19 flat permissions.
        let mut defs: Vec<(String, Vec<String>)> = vec![
            ("role1".into(), vec!["$read_members".into()]),
            ("role2".into(), vec!["role1".into()]),
            ("role3".into(), vec!["role2".into()]),
        ];
        for i in 0..19 {
            defs.push((format!("flat{i}"), vec![]));
        }
        for (id, contained) in defs {
            perms
                .create_definition(
                    &project,
                    Scope::Team,
                    DefinitionInput {
                        id: Some(id),
                        description: None,
                        contained: Some(contained),
                    },
                )
                .await
                .unwrap();
            project = postern.projects().get(&project.id).await.unwrap().unwrap();
        }
        let user = UserRecord::new(&project.id, 0);
        store.users().insert(&user).await.unwrap();
        let team = postern
            .teams()
            .create(
                &project,
                NewTeam {
                    display_name: "T".into(),
                    creator: Some(user.id),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for i in 0..19 {
            perms
                .grant(&project, Some(team.id), user.id, &format!("flat{i}"))
                .await
                .unwrap();
        }
        perms
            .grant(&project, Some(team.id), user.id, "role3")
            .await
            .unwrap();
        (project, user.id, team.id)
    });
    let perms = postern.permissions();
    assert!(
        rt.block_on(perms.has_permission(&project, user, Some(team), "$read_members"))
            .unwrap()
    );
    c.bench_function(&format!("{name}/has_permission_nested_20_grants"), |b| {
        b.iter(|| {
            rt.block_on(perms.has_permission(&project, user, Some(team), "$read_members"))
                .unwrap()
        })
    });
    c.bench_function(&format!("{name}/grant_lookup_alone"), |b| {
        b.iter(|| {
            rt.block_on(
                store
                    .permissions()
                    .list_team(&project.id, Some(team), Some(user)),
            )
            .unwrap()
        })
    });
}

fn chain(n: usize) -> BTreeMap<String, Definition> {
    // 1,000 definitions: each contains the next two (a deep, wide DAG).
    (0..n)
        .map(|i| {
            let id = format!("p{i}");
            let contains: BTreeSet<String> = [i + 1, i + 2]
                .into_iter()
                .filter(|j| *j < n)
                .map(|j| format!("p{j}"))
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

fn layered(n: usize) -> BTreeMap<String, Definition> {
    // 1,000 definitions in 10 layers of 100, each containing 3 of the next layer.
    (0..n)
        .map(|i| {
            let layer = i / 100;
            let id = format!("p{i}");
            let contains: BTreeSet<String> = if layer < 9 {
                (0..3)
                    .map(|k| format!("p{}", (layer + 1) * 100 + (i * 7 + k * 31) % 100))
                    .collect()
            } else {
                BTreeSet::new()
            };
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

fn benches(c: &mut Criterion) {
    let defs = layered(1000);
    c.bench_function("closure_rebuild_1000_layered", |b| {
        b.iter(|| Closure::build(&defs))
    });
    let deep = chain(1000);
    c.bench_function("closure_rebuild_1000_chain", |b| {
        b.iter(|| Closure::build(&deep))
    });
    let closure = Closure::build(&defs);
    c.bench_function("closure_set_test", |b| {
        b.iter(|| closure.implies("p0", "p950"))
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("postern-bench-perm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let sqlite: Arc<dyn Store> = Arc::new(
        rt.block_on(postern_storage_sqlite::SqliteStore::open(&url))
            .unwrap(),
    );
    bench_store(c, "sqlite_file", &rt, sqlite);
    let pg_url = rt.block_on(postern_storage_postgres::testing::fresh_database_url());
    let pg: Arc<dyn Store> = Arc::new(
        rt.block_on(postern_storage_postgres::PostgresStore::connect(&pg_url))
            .unwrap(),
    );
    bench_store(c, "postgres", &rt, pg);
    std::fs::remove_dir_all(&dir).ok();
}

criterion_group!(permissions, benches);
criterion_main!(permissions);
