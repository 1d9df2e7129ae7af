//! Throwaway PostgreSQL databases for tests (feature `testing`).
//!
//! [`fresh_database_url`] returns the URL of a brand-new, empty database
//! (`CREATE DATABASE postern_t_<uuid>`), created on:
//!
//! 1. the server at [`URL_ENV`] (`POSTERN_TEST_POSTGRES_URL`) when it is set, e.g.
//!    `postgres://postgres:secret@127.0.0.1:5432/postgres`; the role must be allowed to
//!    create databases; or else
//! 2. a throwaway cluster the fixture starts itself from the installed server binaries
//!    (`pg_config --bindir`, else the newest `/usr/lib/postgresql/*/bin`): `initdb` into
//!    `/tmp/postern-test-pg-<port>/data` and `pg_ctl start` on `127.0.0.1:<port>`, where
//!    the port is [`PORT_ENV`] (`POSTERN_TEST_POSTGRES_PORT`, default [`DEFAULT_PORT`]).
//!    Durability is off (`fsync=off`, `synchronous_commit=off`, `full_page_writes=off`):
//!    it is a test cluster. When the tests run as root, `initdb` and `pg_ctl` run as the
//!    `postgres` OS user through `runuser` (initdb refuses to run as root). Start-up is
//!    guarded by an exclusive lock on `/tmp/postern-test-pg-<port>.lock`, so concurrent
//!    test processes (nextest) start the cluster once and then share it.
//!
//! When neither is possible, [`fresh_database_url`] **panics** with instructions: the
//! PostgreSQL tests never skip silently.
//!
//! The cluster is **left running** after the tests, so the next run starts in
//! milliseconds instead of seconds. Stop and remove it with (as root, drop the `runuser`
//! prefix otherwise):
//!
//! ```text
//! runuser -u postgres -- "$(pg_config --bindir)/pg_ctl" -D /tmp/postern-test-pg-54330/data -m fast stop
//! rm -rf /tmp/postern-test-pg-54330 /tmp/postern-test-pg-54330.lock
//! ```
//!
//! Test databases are not dropped when a test ends (there is no async drop). Instead,
//! the first call in each process drops the fixture's databases (`postern_t_` followed
//! by a UUIDv7, whose timestamp dates them) that are older than [`STALE_AFTER`], or that
//! predate the cluster when this process started it. The drop is a plain
//! `DROP DATABASE`, which PostgreSQL refuses while anyone is connected, so a database in
//! use is never dropped.

use std::env;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// Environment variable naming an existing PostgreSQL server to create test databases on.
pub const URL_ENV: &str = "POSTERN_TEST_POSTGRES_URL";
/// Environment variable choosing the port of the throwaway cluster.
pub const PORT_ENV: &str = "POSTERN_TEST_POSTGRES_PORT";
/// Port of the throwaway cluster when [`PORT_ENV`] is unset.
pub const DEFAULT_PORT: u16 = 54330;
/// Prefix of the databases created by [`fresh_database_url`].
pub const DATABASE_PREFIX: &str = "postern_t_";
/// Age after which an unused test database is dropped by a later test process.
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// A PostgreSQL server to create databases on.
struct Server {
    /// URL of a maintenance database (used to create and drop test databases).
    admin_url: String,
    /// Test databases created before this time (epoch ms) may be dropped.
    stale_before_ms: u64,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static CLEANED: OnceCell<()> = OnceCell::const_new();

/// Returns the URL of a brand-new, empty database. See the [module docs](self).
///
/// # Panics
///
/// When no PostgreSQL server can be reached or started, or the database cannot be
/// created. The message says how to provide one.
pub async fn fresh_database_url() -> String {
    let server = tokio::task::spawn_blocking(|| SERVER.get_or_init(find_server).as_ref())
        .await
        .expect("the PostgreSQL fixture's start-up thread panicked");
    let server = match server {
        Ok(server) => server,
        Err(reason) => panic!("{}", no_postgres(reason)),
    };

    let admin = connect_admin(&server.admin_url).await;
    CLEANED
        .get_or_init(|| drop_stale_databases(&admin, server.stale_before_ms))
        .await;

    let name = format!("{DATABASE_PREFIX}{}", Uuid::now_v7().simple());
    if let Err(err) = admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
    {
        panic!("the PostgreSQL test fixture could not create database {name}: {err}");
    }
    let _ = admin.close().await;
    with_database(&server.admin_url, &name)
}

/// The panic message when no PostgreSQL is available.
fn no_postgres(reason: &str) -> String {
    format!(
        "PostgreSQL is required by these tests and none is available: {reason}\n\
         Either point {URL_ENV} at a server whose role may CREATE DATABASE, e.g.\n\
         \x20   {URL_ENV}=postgres://postgres:password@127.0.0.1:5432/postgres\n\
         or install the PostgreSQL server binaries (Debian/Ubuntu: `apt-get install postgresql`)\n\
         so the fixture can start a throwaway cluster in /tmp/postern-test-pg-<port> \
         (port from {PORT_ENV}, default {DEFAULT_PORT})."
    )
}

async fn connect_admin(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(1)
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    match Database::connect(options).await {
        Ok(db) => db,
        // The URL is not printed: it may hold a password.
        Err(err) => panic!(
            "{}",
            no_postgres(&format!("cannot connect to the test server: {err}"))
        ),
    }
}

/// Drops the fixture's databases created before `before_ms` that nobody is connected to.
/// Failures are ignored: this is housekeeping, and another process may be doing it too.
async fn drop_stale_databases(admin: &DatabaseConnection, before_ms: u64) {
    let query = Statement::from_string(
        admin.get_database_backend(),
        "SELECT datname::text AS datname FROM pg_database \
         WHERE datname LIKE 'postern!_t!_%' ESCAPE '!'",
    );
    let Ok(rows) = admin.query_all_raw(query).await else {
        return;
    };
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        if created_at_ms(&name).is_some_and(|created| created < before_ms) {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                .await;
        }
    }
}

/// Creation time of a fixture database, from the UUIDv7 in its name.
fn created_at_ms(name: &str) -> Option<u64> {
    let id = Uuid::try_parse(name.strip_prefix(DATABASE_PREFIX)?).ok()?;
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    Some(secs * 1000 + u64::from(nanos) / 1_000_000)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `url` with its database (path) replaced by `database`; the query string is kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The server to use: [`URL_ENV`], else the fixture's own cluster.
fn find_server() -> Result<Server, String> {
    if let Ok(url) = env::var(URL_ENV)
        && !url.trim().is_empty()
    {
        return Ok(Server {
            admin_url: url.trim().to_owned(),
            stale_before_ms: now_ms().saturating_sub(STALE_AFTER.as_millis() as u64),
        });
    }
    start_cluster()
}

/// Starts (or reuses) the throwaway cluster and returns its maintenance database.
fn start_cluster() -> Result<Server, String> {
    let port: u16 = match env::var(PORT_ENV) {
        Ok(port) => port
            .trim()
            .parse()
            .map_err(|_| format!("{PORT_ENV}={port:?} is not a port number"))?,
        Err(_) => DEFAULT_PORT,
    };
    let bindir = find_bindir()?;
    let pg = PgUser::detect()?;
    let dir = PathBuf::from(format!("/tmp/postern-test-pg-{port}"));
    let data = dir.join("data");

    // One process at a time decides whether to start the cluster.
    let lock_path = format!("/tmp/postern-test-pg-{port}.lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open the start-up lock {lock_path}: {e}"))?;
    lock.lock()
        .map_err(|e| format!("cannot take the start-up lock {lock_path}: {e}"))?;

    let started_at = now_ms();
    let fresh = if pg
        .run(&bindir.join("pg_ctl"), &["status", "-D", path_str(&data)?])?
        .0
    {
        false
    } else {
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        pg.own(&dir)?;
        if !data.join("PG_VERSION").exists() {
            let (ok, output) = pg.run(
                &bindir.join("initdb"),
                &[
                    "-D",
                    path_str(&data)?,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
            )?;
            if !ok {
                return Err(format!("initdb failed:\n{output}"));
            }
        }
        let log = dir.join("server.log");
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            path_str(&dir)?
        );
        let (ok, output) = pg.run(
            &bindir.join("pg_ctl"),
            &[
                "start",
                "-D",
                path_str(&data)?,
                "-l",
                path_str(&log)?,
                "-w",
                "-t",
                "60",
                "-o",
                &options,
            ],
        )?;
        if !ok {
            let tail = fs::read_to_string(&log)
                .map(|s| {
                    let lines: Vec<&str> = s.lines().collect();
                    lines[lines.len().saturating_sub(20)..].join("\n")
                })
                .unwrap_or_default();
            return Err(format!(
                "pg_ctl could not start the test cluster on port {port} (is the port taken? \
                 set {PORT_ENV}):\n{output}\n{}:\n{tail}",
                log.display()
            ));
        }
        true
    };
    drop(lock);

    Ok(Server {
        admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        stale_before_ms: if fresh {
            started_at
        } else {
            now_ms().saturating_sub(STALE_AFTER.as_millis() as u64)
        },
    })
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("path {} is not UTF-8", path.display()))
}

/// The directory holding `initdb` and `pg_ctl`.
fn find_bindir() -> Result<PathBuf, String> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "no PostgreSQL server binaries found (`pg_config --bindir` has no initdb/pg_ctl \
         and /usr/lib/postgresql/*/bin does not exist)"
            .to_owned()
    })
}

/// Who runs the server binaries: ourselves, or the `postgres` OS user when we are root.
enum PgUser {
    Current,
    PostgresViaRunuser,
}

impl PgUser {
    fn detect() -> Result<Self, String> {
        if !is_root() {
            return Ok(PgUser::Current);
        }
        let exists = Command::new("id")
            .args(["-u", "postgres"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if exists {
            Ok(PgUser::PostgresViaRunuser)
        } else {
            Err(
                "running as root, and there is no `postgres` OS user to run initdb as \
                 (initdb refuses to run as root)"
                    .to_owned(),
            )
        }
    }

    /// Runs `program args…` (as `postgres` when root) from `/`; returns success and the
    /// combined output.
    fn run(&self, program: &Path, args: &[&str]) -> Result<(bool, String), String> {
        let mut command = match self {
            PgUser::Current => Command::new(program),
            PgUser::PostgresViaRunuser => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            }
        };
        let output = command
            .args(args)
            .current_dir("/")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text))
    }

    /// Gives `dir` to the user running the server.
    fn own(&self, dir: &Path) -> Result<(), String> {
        if let PgUser::PostgresViaRunuser = self {
            let status = Command::new("chown")
                .arg("postgres:")
                .arg(dir)
                .status()
                .map_err(|e| format!("cannot run chown: {e}"))?;
            if !status.success() {
                return Err(format!("chown postgres: {} failed", dir.display()));
            }
        }
        Ok(())
    }
}

/// Whether this process runs as root (uid 0), from `/proc/self/status` or `id -u`.
fn is_root() -> bool {
    if let Ok(status) = fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("Uid:"))
    {
        return line.split_whitespace().nth(1) == Some("0");
    }
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:54330/postgres", "t1"),
            "postgres://postgres@127.0.0.1:54330/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h:5432", "t1"),
            "postgres://u:p@h:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u@localhost/db?host=/run/pg&port=5433", "t1"),
            "postgres://u@localhost/t1?host=/run/pg&port=5433"
        );
        assert_eq!(
            with_database("postgresql://h/?sslmode=disable", "t1"),
            "postgresql://h/t1?sslmode=disable"
        );
    }

    #[test]
    fn dates_fixture_databases() {
        let before = now_ms();
        let name = format!("{DATABASE_PREFIX}{}", Uuid::now_v7().simple());
        let created = created_at_ms(&name).unwrap();
        assert!(created >= before.saturating_sub(1) && created <= now_ms());
        assert_eq!(created_at_ms("postern_t_nope"), None);
        assert_eq!(created_at_ms("other_db"), None);
        let v4 = format!("{DATABASE_PREFIX}{}", Uuid::new_v4().simple());
        assert_eq!(created_at_ms(&v4), None);
    }
}
