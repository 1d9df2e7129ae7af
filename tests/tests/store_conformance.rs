//! The store conformance suite of `postern_core::conformance`, on every backend.
//!
//! `cargo nextest run -p postern-tests sqlite::` (or `postgres::`, `sqlite_file::`) picks
//! one backend. PostgreSQL comes from `POSTERN_TEST_POSTGRES_URL` or a throwaway cluster
//! the fixture starts; it is never skipped.

mod sqlite {
    use postern_storage_sqlite::SqliteStore;

    postern_core::store_conformance_tests!(SqliteStore::memory());
}

mod sqlite_file {
    use postern_tests::TempSqliteStore;

    postern_core::store_conformance_tests!(TempSqliteStore::new());
}

mod postgres {
    use postern_tests::postgres_store;

    postern_core::store_conformance_tests!(postgres_store());
}
