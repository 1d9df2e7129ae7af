//! Upgrading an existing database through migration 8 (`add_postern_security`), on SQLite
//! and PostgreSQL: rows written under the schema of migrations 1..7 are transformed as the
//! migration's docs say. A sign-in channel is confirmed when verified or when it is its
//! user's oldest (tie broken by id), contact-only channels are not, unconfirmed channels
//! lose their `auth_value`, users with a verified sign-in channel are claimed at sign-up,
//! and existing TOTP secrets count as proven.

use std::collections::BTreeMap;

use postern_storage_sql::Migrator;
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

/// Migrations 1..7: the schema the rows below were written under.
const BEFORE_SECURITY: u32 = 7;
const SECURITY_MIGRATION: &str = "m20261202_000008_add_postern_security";

const P1: &str = "upgrade-p1";
const P2: &str = "upgrade-p2";

// Users. A and B share P1 with E; C and D are in P2.
const USER_A: Uuid = Uuid::from_u128(0xA0);
const USER_B: Uuid = Uuid::from_u128(0xB0);
const USER_C: Uuid = Uuid::from_u128(0xC0);
const USER_D: Uuid = Uuid::from_u128(0xD0);
const USER_E: Uuid = Uuid::from_u128(0xE0);

// Channels.
const A_OLDEST_AUTH: Uuid = Uuid::from_u128(0xA1);
const A_NEWER_AUTH: Uuid = Uuid::from_u128(0xA2);
const A_VERIFIED_CONTACT: Uuid = Uuid::from_u128(0xA3);
const B_OLD_CONTACT: Uuid = Uuid::from_u128(0xB3);
const B_TIE_HIGH_ID: Uuid = Uuid::from_u128(0xB2);
const B_TIE_LOW_ID: Uuid = Uuid::from_u128(0xB1);
const C_OLDEST_AUTH: Uuid = Uuid::from_u128(0xC1);
const C_VERIFIED_AUTH: Uuid = Uuid::from_u128(0xC2);
const D_ONLY_AUTH: Uuid = Uuid::from_u128(0xD1);

/// A user row under the pre-8 schema.
struct User {
    project: &'static str,
    id: Uuid,
    signed_up_at: i64,
    totp_secret: Option<Vec<u8>>,
}

/// A contact channel row under the pre-8 schema.
struct Channel {
    project: &'static str,
    user: Uuid,
    id: Uuid,
    value: &'static str,
    is_primary: bool,
    is_verified: bool,
    used_for_auth: bool,
    created_at: i64,
}

/// Channel columns after the upgrade: `(auth_confirmed, auth_value)`.
type ChannelAfter = (bool, Option<String>);
/// User columns after the upgrade: `(claimed_at, totp_proven, totp_last_step,
/// tokens_valid_after)`.
type UserAfter = (Option<i64>, bool, Option<i64>, Option<i64>);

fn users() -> Vec<User> {
    vec![
        User {
            project: P1,
            id: USER_A,
            signed_up_at: 1_000,
            totp_secret: None,
        },
        User {
            project: P1,
            id: USER_B,
            signed_up_at: 1_500,
            totp_secret: None,
        },
        User {
            project: P2,
            id: USER_C,
            signed_up_at: 50,
            totp_secret: Some(b"c-totp-secret-bytes".to_vec()),
        },
        User {
            project: P2,
            id: USER_D,
            signed_up_at: 2_500,
            totp_secret: Some(vec![0xD, 0xE, 0xA, 0xD]),
        },
        User {
            project: P1,
            id: USER_E,
            signed_up_at: 3_500,
            totp_secret: None,
        },
    ]
}

/// In insertion order. C's first channel is the oldest sign-in address of the whole
/// database, and B's are the newest of P1, so a subquery not correlated on the user would
/// confirm the wrong channels.
fn channels() -> Vec<Channel> {
    vec![
        // A: unverified oldest sign-in address, a newer unverified one, a verified
        // contact-only address.
        Channel {
            project: P1,
            user: USER_A,
            id: A_OLDEST_AUTH,
            value: "a-first@example.com",
            is_primary: true,
            is_verified: false,
            used_for_auth: true,
            created_at: 1_000,
        },
        Channel {
            project: P1,
            user: USER_A,
            id: A_NEWER_AUTH,
            value: "a-second@example.com",
            is_primary: false,
            is_verified: false,
            used_for_auth: true,
            created_at: 2_000,
        },
        Channel {
            project: P1,
            user: USER_A,
            id: A_VERIFIED_CONTACT,
            value: "a-contact@example.com",
            is_primary: false,
            is_verified: true,
            used_for_auth: false,
            created_at: 3_000,
        },
        // B: nothing verified; an older contact-only address (not a sign-in address, so
        // not "oldest"), then two sign-in addresses created in the same millisecond, the
        // higher id inserted first.
        Channel {
            project: P1,
            user: USER_B,
            id: B_OLD_CONTACT,
            value: "b-contact@example.com",
            is_primary: false,
            is_verified: false,
            used_for_auth: false,
            created_at: 500,
        },
        Channel {
            project: P1,
            user: USER_B,
            id: B_TIE_HIGH_ID,
            value: "b-high@example.com",
            is_primary: true,
            is_verified: false,
            used_for_auth: true,
            created_at: 5_000,
        },
        Channel {
            project: P1,
            user: USER_B,
            id: B_TIE_LOW_ID,
            value: "b-low@example.com",
            is_primary: false,
            is_verified: false,
            used_for_auth: true,
            created_at: 5_000,
        },
        // C (other project): the oldest sign-in address overall, and a newer verified
        // sign-in address.
        Channel {
            project: P2,
            user: USER_C,
            id: C_OLDEST_AUTH,
            value: "c-first@example.com",
            is_primary: true,
            is_verified: false,
            used_for_auth: true,
            created_at: 100,
        },
        Channel {
            project: P2,
            user: USER_C,
            id: C_VERIFIED_AUTH,
            value: "c-verified@example.com",
            is_primary: false,
            is_verified: true,
            used_for_auth: true,
            created_at: 200,
        },
        // D (other project): A's second address, unverified; D's only sign-in address.
        Channel {
            project: P2,
            user: USER_D,
            id: D_ONLY_AUTH,
            value: "a-second@example.com",
            is_primary: true,
            is_verified: false,
            used_for_auth: true,
            created_at: 2_600,
        },
    ]
}

fn expected_channels() -> BTreeMap<Uuid, ChannelAfter> {
    let kept = |value: &str| (true, Some(value.to_owned()));
    BTreeMap::from([
        (A_OLDEST_AUTH, kept("a-first@example.com")),
        (A_NEWER_AUTH, (false, None)),
        // Verified, but contact-only: turning its sign-in on later needs a proof.
        (A_VERIFIED_CONTACT, (false, None)),
        (B_OLD_CONTACT, (false, None)),
        (B_TIE_HIGH_ID, (false, None)),
        (B_TIE_LOW_ID, kept("b-low@example.com")),
        (C_OLDEST_AUTH, kept("c-first@example.com")),
        (C_VERIFIED_AUTH, kept("c-verified@example.com")),
        (D_ONLY_AUTH, kept("a-second@example.com")),
    ])
}

fn expected_users() -> BTreeMap<Uuid, UserAfter> {
    BTreeMap::from([
        // A's only verified address is contact-only: not a proof of its sign-in address.
        (USER_A, (None, false, None, None)),
        (USER_B, (None, false, None, None)),
        (USER_C, (Some(50), true, None, None)),
        (USER_D, (None, true, None, None)),
        (USER_E, (None, false, None, None)),
    ])
}

/// Migrates `db` to the pre-8 schema, writes the rows above, runs the remaining
/// migrations and compares every transformed column.
async fn upgrade_scenario(db: &DatabaseConnection) {
    Migrator::up(db, Some(BEFORE_SECURITY))
        .await
        .expect("migrations 1..7");
    let pending = Migrator::get_pending_migrations(db)
        .await
        .expect("pending migrations");
    assert_eq!(
        pending.first().map(|m| m.name()),
        Some(SECURITY_MIGRATION),
        "the migration right after the first {BEFORE_SECURITY} is the security one"
    );

    for project in [P1, P2] {
        insert_project(db, project).await;
    }
    for user in users() {
        insert_user(db, &user).await;
    }
    for channel in channels() {
        insert_channel(db, &channel).await;
    }
    // Before the upgrade every sign-in channel reserves its address.
    let sign_in = channels().iter().filter(|c| c.used_for_auth).count();
    assert_eq!(reserved_addresses(db).await, sign_in);

    Migrator::up(db, None).await.expect("remaining migrations");
    assert!(
        Migrator::get_pending_migrations(db)
            .await
            .expect("pending migrations")
            .is_empty()
    );

    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, auth_confirmed, auth_value FROM postern_contact_channels",
        ))
        .await
        .expect("read channels");
    let actual_channels: BTreeMap<Uuid, ChannelAfter> = rows
        .iter()
        .map(|row| {
            let id: Uuid = row.try_get("", "id").expect("channel id");
            let confirmed: bool = row.try_get("", "auth_confirmed").expect("auth_confirmed");
            let value: Option<String> = row.try_get("", "auth_value").expect("auth_value");
            (id, (confirmed, value))
        })
        .collect();
    assert_eq!(
        actual_channels,
        expected_channels(),
        "channels, id => (auth_confirmed, auth_value)"
    );

    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, claimed_at, totp_proven, totp_last_step, tokens_valid_after \
             FROM postern_users",
        ))
        .await
        .expect("read users");
    let actual_users: BTreeMap<Uuid, UserAfter> = rows
        .iter()
        .map(|row| {
            let id: Uuid = row.try_get("", "id").expect("user id");
            let claimed: Option<i64> = row.try_get("", "claimed_at").expect("claimed_at");
            let proven: bool = row.try_get("", "totp_proven").expect("totp_proven");
            let last_step: Option<i64> = row.try_get("", "totp_last_step").expect("totp_last_step");
            let valid_after: Option<i64> = row
                .try_get("", "tokens_valid_after")
                .expect("tokens_valid_after");
            (id, (claimed, proven, last_step, valid_after))
        })
        .collect();
    assert_eq!(
        actual_users,
        expected_users(),
        "users, id => (claimed_at, totp_proven, totp_last_step, tokens_valid_after)"
    );

    // Rolled back to 7, every sign-in channel reserves its address again, as the pre-8
    // code expects.
    let after_security = Migrator::migrations().len() as u32 - BEFORE_SECURITY;
    Migrator::down(db, Some(after_security))
        .await
        .expect("roll migration 8 (and later ones) back");
    assert_eq!(reserved_addresses(db).await, sign_in);
    Migrator::up(db, None).await.expect("migrate again");
}

/// Number of channels whose `auth_value` is set.
async fn reserved_addresses(db: &DatabaseConnection) -> usize {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM postern_contact_channels WHERE auth_value IS NOT NULL",
        ))
        .await
        .expect("read reserved addresses");
    rows.len()
}

async fn insert_project(db: &DatabaseConnection, id: &str) {
    let insert = Query::insert()
        .into_table(Alias::new("postern_projects"))
        .columns(
            ["id", "display_name", "config", "created_at"]
                .into_iter()
                .map(Alias::new),
        )
        .values_panic([id.into(), id.into(), "{}".into(), 1_i64.into()])
        .to_owned();
    db.execute(&insert).await.expect("insert project");
}

async fn insert_user(db: &DatabaseConnection, user: &User) {
    let insert = Query::insert()
        .into_table(Alias::new("postern_users"))
        .columns(
            [
                "id",
                "project_id",
                "otp_auth_enabled",
                "totp_secret",
                "is_anonymous",
                "restricted_by_admin",
                "risk_score_bot",
                "risk_score_free_trial_abuse",
                "signed_up_at",
                "last_active_at",
            ]
            .into_iter()
            .map(Alias::new),
        )
        .values_panic([
            user.id.into(),
            user.project.into(),
            false.into(),
            user.totp_secret.clone().into(),
            false.into(),
            false.into(),
            0_i32.into(),
            0_i32.into(),
            user.signed_up_at.into(),
            user.signed_up_at.into(),
        ])
        .to_owned();
    db.execute(&insert).await.expect("insert user");
}

/// Inserts `channel` with `auth_value` and `primary_of` derived as the pre-8 repository
/// did: `auth_value` is the address of every sign-in channel.
async fn insert_channel(db: &DatabaseConnection, channel: &Channel) {
    let auth_value = channel.used_for_auth.then(|| channel.value.to_owned());
    let primary_of = channel
        .is_primary
        .then(|| format!("{}:email", channel.user));
    let insert = Query::insert()
        .into_table(Alias::new("postern_contact_channels"))
        .columns(
            [
                "id",
                "project_id",
                "user_id",
                "type",
                "value",
                "is_primary",
                "is_verified",
                "used_for_auth",
                "created_at",
                "auth_value",
                "primary_of",
            ]
            .into_iter()
            .map(Alias::new),
        )
        .values_panic([
            channel.id.into(),
            channel.project.into(),
            channel.user.into(),
            "email".into(),
            channel.value.into(),
            channel.is_primary.into(),
            channel.is_verified.into(),
            channel.used_for_auth.into(),
            channel.created_at.into(),
            auth_value.into(),
            primary_of.into(),
        ])
        .to_owned();
    db.execute(&insert).await.expect("insert channel");
}

/// A file under the system temp dir, removed (with its WAL/SHM siblings) on drop.
struct TempDb(std::path::PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

#[tokio::test]
async fn sqlite_upgrade_through_security_migration() {
    let file = TempDb(
        std::env::temp_dir().join(format!("postern-migration-upgrade-{}.db", Uuid::new_v4())),
    );
    let url = format!("sqlite://{}?mode=rwc", file.0.display());
    let mut options = ConnectOptions::new(url);
    options.sqlx_logging(false);
    let db = Database::connect(options).await.expect("open sqlite");
    upgrade_scenario(&db).await;
    db.close().await.expect("close sqlite");
}

#[tokio::test]
async fn postgres_upgrade_through_security_migration() {
    let url = postern_storage_postgres::testing::fresh_database_url().await;
    let mut options = ConnectOptions::new(url);
    options.max_connections(2).sqlx_logging(false);
    let db = Database::connect(options).await.expect("open postgres");
    upgrade_scenario(&db).await;
    db.close().await.expect("close postgres");
}
