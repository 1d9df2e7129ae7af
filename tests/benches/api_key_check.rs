//! `ApiKeys::check` on SQLite (file, WAL) and PostgreSQL, beside its two parts measured in
//! the same run: one HMAC-SHA256 of a key, and one point lookup of the key's row.
//!
//! `cargo bench -p postern-tests --bench api_key_check` (PostgreSQL from
//! POSTERN_TEST_POSTGRES_URL, or the throwaway cluster the fixture starts).

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{KeyInit, Mac};
use postern_core::api_keys::KeyType;
use postern_core::storage::{ApiKeyOwner, Store, UserRecord};
use postern_core::{PasswordParams, Postern, ProjectConfig};

fn bench_store(c: &mut Criterion, name: &str, rt: &tokio::runtime::Runtime, store: Arc<dyn Store>) {
    let postern = Postern::builder(store.clone())
        .secret("bench-secret-0123456789abcdef")
        .password_params(PasswordParams::insecure_fast())
        .build()
        .unwrap();
    let mut cfg = ProjectConfig::default();
    cfg.api_keys.enabled.user = true;
    let (project, key, id) = rt.block_on(async {
        let (project, _) = postern.projects().create(None, "bench", cfg).await.unwrap();
        let user = UserRecord::new(&project.id, 0);
        store.users().insert(&user).await.unwrap();
        // Some other keys, so the lookup is a real index probe.
        for _ in 0..200 {
            postern
                .api_keys()
                .create(&project, ApiKeyOwner::User(user.id), "filler", None, false)
                .await
                .unwrap();
        }
        let created = postern
            .api_keys()
            .create(&project, ApiKeyOwner::User(user.id), "bench", None, false)
            .await
            .unwrap();
        (project, created.value, created.record.id)
    });
    c.bench_function(&format!("{name}/api_key_check"), |b| {
        b.iter(|| {
            rt.block_on(postern.api_keys().check(&project, &key, KeyType::User))
                .unwrap()
        })
    });
    c.bench_function(&format!("{name}/point_lookup"), |b| {
        b.iter(|| {
            rt.block_on(store.api_keys().get(&project.id, id))
                .unwrap()
                .unwrap()
        })
    });
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let pepper = [7u8; 32];
    let key = postern_core::api_keys::generate(uuid::Uuid::new_v4(), KeyType::User, false);
    c.bench_function("hmac_sha256_of_key", |b| {
        b.iter(|| {
            let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&pepper).unwrap();
            m.update(key.as_bytes());
            m.finalize().into_bytes()
        })
    });
    c.bench_function("parse_and_checksum", |b| {
        b.iter(|| postern_core::api_keys::parse(&key).unwrap())
    });

    let dir = std::env::temp_dir().join(format!("postern-bench-{}", std::process::id()));
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

criterion_group!(api_key_check, benches);
criterion_main!(api_key_check);
