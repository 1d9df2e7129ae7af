//! Postern's schema migrations, written in the sea-query DSL (one file per migration, as
//! sea-orm derives the migration name from the file name), tracked in Postern's own
//! migration table [`MIGRATION_TABLE`] so an app can run its own migrator beside ours.

use sea_orm_migration::prelude::*;

mod m20261122_000001_create_postern_tables;
mod m20261122_000002_create_postern_api_keys;
mod m20261201_000003_create_postern_codes_and_outbox;
mod m20261201_000004_create_postern_teams;
mod m20261201_000005_create_postern_permissions;
mod m20261201_000006_create_postern_files;
mod m20261201_000007_create_postern_vault;
mod m20261202_000008_add_postern_security;
mod m20261202_000009_add_postern_config_version;
mod m20261202_000010_create_postern_webhooks;
mod m20261202_000011_create_postern_passkeys;
mod m20261202_000013_create_postern_oauth;
mod m20261202_000014_create_postern_cli_auth_attempts;

/// Name of the table recording which of Postern's migrations have run.
pub const MIGRATION_TABLE: &str = "postern_migrations";

/// Postern's migrator. [`crate::SqlStore`]'s `migrate` runs it; apps may also call
/// `Migrator::up(&db, None)` themselves.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_postern_tables::Migration),
            Box::new(m20261122_000002_create_postern_api_keys::Migration),
            Box::new(m20261201_000003_create_postern_codes_and_outbox::Migration),
            Box::new(m20261201_000004_create_postern_teams::Migration),
            Box::new(m20261201_000005_create_postern_permissions::Migration),
            Box::new(m20261201_000006_create_postern_files::Migration),
            Box::new(m20261201_000007_create_postern_vault::Migration),
            Box::new(m20261202_000008_add_postern_security::Migration),
            Box::new(m20261202_000009_add_postern_config_version::Migration),
            Box::new(m20261202_000010_create_postern_webhooks::Migration),
            Box::new(m20261202_000011_create_postern_passkeys::Migration),
            Box::new(m20261202_000013_create_postern_oauth::Migration),
            Box::new(m20261202_000014_create_postern_cli_auth_attempts::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        MIGRATION_TABLE.into_iden()
    }
}
