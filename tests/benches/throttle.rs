//! The cost of throttling per request: the per-IP token bucket (in memory), and the
//! per-account failure run on SQLite (file, WAL) and PostgreSQL: reserving an attempt (one
//! atomic upsert) and ending it with a success (one delete).
//!
//! `cargo bench -p postern-tests --bench throttle` (PostgreSQL from
//! POSTERN_TEST_POSTGRES_URL, or the throwaway cluster the fixture starts).

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use postern_core::config::RateLimit;
use postern_core::storage::Store;
use postern_core::throttle::{Factor, IpLimiter, RouteClass, Subject};
use postern_core::{PasswordParams, Postern, ProjectConfig};

fn bench_store(c: &mut Criterion, name: &str, rt: &tokio::runtime::Runtime, store: Arc<dyn Store>) {
    let postern = Postern::builder(store)
        .secret("bench-secret-0123456789abcdef")
        .password_params(PasswordParams::insecure_fast())
        .outbox_worker(false)
        .build()
        .unwrap();
    let (project, _) = rt
        .block_on(
            postern
                .projects()
                .create(None, "bench", ProjectConfig::default()),
        )
        .unwrap();
    // Other accounts' runs, so the upsert is a real index probe.
    rt.block_on(async {
        for _ in 0..500 {
            let attempt = postern
                .throttle()
                .begin(
                    &project,
                    Factor::Password,
                    &Subject::User(uuid::Uuid::new_v4()),
                )
                .await
                .unwrap();
            let tx = postern.store().begin().await.unwrap();
            postern
                .throttle()
                .failed(&*tx, &project, attempt)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    });
    let user = Subject::User(uuid::Uuid::new_v4());
    c.bench_function(&format!("{name}/account_run_begin_and_succeed"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let attempt = postern
                    .throttle()
                    .begin(&project, Factor::Password, &user)
                    .await
                    .unwrap();
                postern
                    .throttle()
                    .succeeded(postern.store().as_ref(), &project, attempt)
                    .await
                    .unwrap()
            })
        })
    });
}

fn benches(c: &mut Criterion) {
    let limiter = IpLimiter::default();
    let limit = RateLimit::new(u32::MAX, u32::MAX);
    let ip = "203.0.113.9".parse().unwrap();
    let mut now = 0;
    c.bench_function("ip_bucket_take", |b| {
        b.iter(|| {
            now += 1;
            limiter
                .take("bench-project", RouteClass::SignIn, ip, limit, now)
                .unwrap()
        })
    });
    // A limiter full of other clients' buckets.
    let busy = IpLimiter::default();
    for i in 0..100_000u32 {
        let _ = busy.take(
            "bench-project",
            RouteClass::SignIn,
            std::net::IpAddr::from(i.to_be_bytes()),
            limit,
            0,
        );
    }
    c.bench_function("ip_bucket_take_100k_clients", |b| {
        b.iter(|| {
            now += 1;
            busy.take("bench-project", RouteClass::SignIn, ip, limit, now)
                .unwrap()
        })
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("postern-throttle-bench-{}", std::process::id()));
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

criterion_group!(throttle, benches);
criterion_main!(throttle);
