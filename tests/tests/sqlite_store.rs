//! `SqliteStore::open`: what it accepts and the connection settings it applies.

use postern_core::storage::{ProjectRecord, Repos, Store};
use postern_storage_sqlite::SqliteStore;
use sea_orm::{ConnectionTrait, Statement};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("postern-sqlite-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn project(id: &str) -> ProjectRecord {
    ProjectRecord {
        id: id.to_owned(),
        display_name: id.to_owned(),
        config: serde_json::json!({}),
        created_at_millis: 1,
        owner_team_id: None,
        config_version: 0,
    }
}

async fn pragma(store: &SqliteStore, name: &str) -> String {
    let db = store.connection();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("PRAGMA {name}"),
        ))
        .await
        .unwrap()
        .unwrap();
    match row.try_get_by_index::<String>(0) {
        Ok(text) => text,
        Err(_) => row.try_get_by_index::<i64>(0).unwrap().to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_path_creates_the_file_with_wal_and_keeps_data() {
    let dir = TempDir::new();
    let path = dir.0.join("with space #1.db");
    let target = path.to_str().unwrap();
    {
        let store = SqliteStore::open(target).await.unwrap();
        assert!(path.is_file(), "file created");
        assert_eq!(pragma(&store, "journal_mode").await, "wal");
        assert_eq!(pragma(&store, "synchronous").await, "1", "NORMAL");
        assert_eq!(pragma(&store, "foreign_keys").await, "1");
        assert_eq!(pragma(&store, "busy_timeout").await, "5000");
        store.projects().insert(&project("kept")).await.unwrap();
    }
    let reopened = SqliteStore::open(target).await.unwrap();
    assert!(reopened.projects().get("kept").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_urls_are_accepted() {
    let dir = TempDir::new();
    let rwc = format!("sqlite://{}?mode=rwc", dir.0.join("a.db").display());
    let store = SqliteStore::open(&rwc).await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(pragma(&store, "journal_mode").await, "wal");

    let plain_url = format!("sqlite://{}", dir.0.join("b.db").display());
    SqliteStore::open(&plain_url)
        .await
        .unwrap()
        .ping()
        .await
        .unwrap();
    assert!(dir.0.join("b.db").is_file(), "created without mode=rwc");

    let read_write = format!("sqlite://{}?mode=rw", dir.0.join("missing.db").display());
    assert!(
        SqliteStore::open(&read_write).await.is_err(),
        "mode=rw does not create"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stores_are_private() {
    for target in [":memory:", "sqlite::memory:"] {
        let one = SqliteStore::open(target).await.unwrap();
        let two = SqliteStore::memory().await.unwrap();
        one.projects()
            .insert(&project("only-in-one"))
            .await
            .unwrap();
        assert!(two.projects().get("only-in-one").await.unwrap().is_none());
        assert!(one.projects().get("only-in-one").await.unwrap().is_some());
        assert_eq!(pragma(&one, "foreign_keys").await, "1");
    }
}
