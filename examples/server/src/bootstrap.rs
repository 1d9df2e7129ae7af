//! Everything a Postern server does before it serves: settings, store, secret, projects.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use postern_core::net::IpNetwork;
use postern_core::storage::Store;
use postern_core::{Postern, ProjectConfig, ProjectKeys};
use postern_storage_postgres::PostgresStore;
use postern_storage_sqlite::SqliteStore;

use crate::settings::{Args, FileConfig};

/// Installs the tracing subscriber (text or JSON, levels from `RUST_LOG`).
pub fn init_logging(args: &Args) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if args.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

enum Backend {
    Sqlite { file: Option<PathBuf> },
    Postgres,
}

fn backend(url: &str) -> Result<Backend, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Backend::Postgres);
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| {
            format!(
                "unsupported database URL (expected sqlite://... or postgres://...): {}",
                redact_url(url)
            )
        })?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || rest.starts_with(":memory:") {
        Ok(Backend::Sqlite { file: None })
    } else {
        Ok(Backend::Sqlite {
            file: Some(PathBuf::from(path)),
        })
    }
}

/// Removes a password from a URL before it is logged.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The secret: given, or (SQLite file only) read from / generated into `<db>.secret`.
fn resolve_secret(args: &Args, backend: &Backend) -> Result<String, String> {
    if let Some(s) = &args.secret {
        return Ok(s.clone());
    }
    match backend {
        Backend::Postgres => {
            Err("POSTERN_SECRET is required with PostgreSQL (every instance must share it)".into())
        }
        Backend::Sqlite { file: None } => {
            tracing::warn!(
                "no POSTERN_SECRET and an in-memory database: using a random secret for this run only"
            );
            Ok(postern_core::secrets::random_crockford(64))
        }
        Backend::Sqlite { file: Some(db) } => {
            let path = secret_path(db);
            if let Ok(s) = std::fs::read_to_string(&path) {
                let s = s.trim().to_owned();
                if !s.is_empty() {
                    return Ok(s);
                }
            }
            let secret = postern_core::secrets::random_crockford(64);
            write_owner_only(&path, &secret)?;
            tracing::warn!(
                path = %path.display(),
                "no POSTERN_SECRET given: generated one and stored it in an owner-only file beside the database; \
                 back it up, or set POSTERN_SECRET"
            );
            Ok(secret)
        }
    }
}

fn secret_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".secret");
    db.with_file_name(name)
}

fn write_owner_only(path: &Path, secret: &str) -> Result<(), String> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    f.write_all(secret.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

async fn open_store(url: &str, backend: &Backend) -> Result<Arc<dyn Store>, String> {
    let store: Arc<dyn Store> = match backend {
        Backend::Postgres => Arc::new(
            PostgresStore::connect(url)
                .await
                .map_err(|e| format!("connecting to PostgreSQL: {e}"))?,
        ),
        Backend::Sqlite { .. } => Arc::new(
            SqliteStore::open(url)
                .await
                .map_err(|e| format!("opening SQLite: {e}"))?,
        ),
    };
    Ok(store)
}

/// Applies the TOML projects and the default project from flags / environment.
/// The id of the team owning Stack's seeded `internal` project.
const STACK_INTERNAL_TEAM: &str = "a23e1b7f-ab18-41fc-9ee6-7a9ca9fa543c";

/// Seeds Stack's local-development `internal` project: its dev keys (stored hashed like any
/// other), the seed config and the owning "Internal Team".
async fn seed_stack_dev(postern: &Postern) -> Result<(), String> {
    use postern_core::storage::TeamRecord;
    let legacy = serde_json::json!({
        "sign_up_enabled": true,
        "credential_enabled": true,
        "magic_link_enabled": true,
        "allow_localhost": true,
        "create_team_on_sign_up": true,
        "client_team_creation_enabled": true,
        "allow_user_api_keys": true,
        "allow_team_api_keys": true,
        "oauth_providers": [
            {"id": "github", "type": "shared"},
            {"id": "spotify", "type": "shared"},
            {"id": "google", "type": "shared"},
            {"id": "microsoft", "type": "shared"}
        ],
        "team_creator_default_permissions": [{"id": "team_admin"}],
        "team_member_default_permissions": [{"id": "team_member"}]
    });
    let over = postern_core::admin::legacy_overrides(legacy.as_object().expect("object"))
        .map_err(|e| e.to_string())?;
    let mut over = over;
    over.insert(
        "rbac.permissions".into(),
        serde_json::json!({
            "team_member": {"description": "1", "scope": "team", "containedPermissionIds": {"$read_members": true}},
            "team_admin": {"description": "2", "scope": "team", "containedPermissionIds": {"$read_members": true, "$remove_members": true, "$update_team": true}}
        }),
    );
    let config = postern_core::admin::apply_override(&ProjectConfig::default(), &over)
        .map_err(|e| e.to_string())?;
    let keys = postern_core::ProjectKeys {
        publishable_client_key: "this-publishable-client-key-is-for-local-development-only".into(),
        secret_server_key: "this-secret-server-key-is-for-local-development-only".into(),
        super_secret_admin_key: "this-super-secret-admin-key-is-for-local-development-only".into(),
    };
    postern
        .projects()
        .upsert("internal", "Stack Dashboard", Some(config), Some(&keys))
        .await
        .map_err(|e| format!("seeding internal: {e}"))?;
    let team = uuid::Uuid::parse_str(STACK_INTERNAL_TEAM).expect("a UUID");
    let store = postern.store();
    if store
        .teams()
        .get("internal", team)
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        store
            .teams()
            .insert(&TeamRecord {
                project_id: "internal".into(),
                id: team,
                display_name: "Internal Team".into(),
                profile_image_url: None,
                client_metadata: None,
                client_read_only_metadata: None,
                server_metadata: None,
                created_at_millis: postern.clock().now_millis(),
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    postern
        .projects()
        .modify("internal", |p| {
            p.owner_team_id = Some(team);
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    tracing::warn!(
        "seeded Stack's local-development `internal` project (--stack-dev-seed): its keys are public; never expose this server"
    );
    Ok(())
}

async fn bootstrap_projects(postern: &Postern, args: &Args) -> Result<(), String> {
    if args.stack_dev_seed {
        seed_stack_dev(postern).await?;
    }
    if let Some(path) = &args.config {
        let file = FileConfig::load(path)?;
        for p in file.projects {
            let config = match &p.config {
                Some(c) => {
                    let json =
                        serde_json::to_value(c).map_err(|e| format!("project {}: {e}", p.id))?;
                    let config = ProjectConfig::parse(&json)
                        .map_err(|e| format!("config of project {}: {e}", p.id))?;
                    Some(config)
                }
                None => None,
            };
            let keys = keys_of(
                &p.id,
                p.publishable_client_key,
                p.secret_server_key,
                p.super_secret_admin_key,
            )?;
            let name = p.display_name.clone().unwrap_or_else(|| p.id.clone());
            let project = postern
                .projects()
                .upsert(&p.id, &name, config, keys.as_ref())
                .await
                .map_err(|e| format!("project {}: {e}", p.id))?;
            let declared: Vec<postern_core::webhooks::DeclaredEndpoint> = p
                .webhook_endpoints
                .iter()
                .map(|w| postern_core::webhooks::DeclaredEndpoint {
                    url: w.url.clone(),
                    secret: w.secret.clone(),
                    event_types: w.event_types.clone(),
                    allow_private_addresses: w.allow_private_addresses,
                    description: w.description.clone().unwrap_or_default(),
                })
                .collect();
            postern
                .webhooks()
                .declare(&project, &declared)
                .await
                .map_err(|e| format!("project {}: {e}", p.id))?;
            tracing::info!(project = %p.id, webhook_endpoints = declared.len(), "project configured from file");
        }
    }
    let keys = keys_of(
        args.project_id.as_deref().unwrap_or("default"),
        args.publishable_client_key.clone(),
        args.secret_server_key.clone(),
        args.super_secret_admin_key.clone(),
    )?;
    match &args.project_id {
        Some(id) => {
            let existed = postern
                .projects()
                .get(id)
                .await
                .map_err(|e| e.to_string())?
                .is_some();
            match (keys, existed) {
                (Some(keys), _) => {
                    postern
                        .projects()
                        .upsert(id, &args.project_name, None, Some(&keys))
                        .await
                        .map_err(|e| e.to_string())?;
                    tracing::info!(project = %id, "default project configured with the given keys");
                }
                (None, true) => {
                    tracing::info!(project = %id, "default project exists; keys unchanged")
                }
                (None, false) => {
                    let (project, keys) = postern
                        .projects()
                        .create(
                            Some(id.clone()),
                            &args.project_name,
                            ProjectConfig::default(),
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    print_keys(&project.id, &keys);
                }
            }
        }
        None => {
            if keys.is_some() {
                return Err("project keys were given without POSTERN_PROJECT_ID".into());
            }
            let projects = postern.projects().list().await.map_err(|e| e.to_string())?;
            if projects.is_empty() {
                let (project, keys) = postern
                    .projects()
                    .create(None, &args.project_name, ProjectConfig::default())
                    .await
                    .map_err(|e| e.to_string())?;
                print_keys(&project.id, &keys);
            } else {
                tracing::info!(projects = projects.len(), "serving existing projects");
            }
        }
    }
    Ok(())
}

fn keys_of(
    project: &str,
    pck: Option<String>,
    ssk: Option<String>,
    sak: Option<String>,
) -> Result<Option<ProjectKeys>, String> {
    match (pck, ssk, sak) {
        (None, None, None) => Ok(None),
        (Some(p), Some(s), Some(a)) if !p.is_empty() && !s.is_empty() && !a.is_empty() => {
            Ok(Some(ProjectKeys {
                publishable_client_key: p,
                secret_server_key: s,
                super_secret_admin_key: a,
            }))
        }
        _ => Err(format!(
            "project {project}: give all three keys (publishable client, secret server, super secret admin) or none"
        )),
    }
}

/// Shown once, on stdout (not in the logs): the keys are stored only as hashes.
fn print_keys(project_id: &str, keys: &ProjectKeys) {
    println!(
        "\nCreated project {project_id}. Its keys are shown only now; they are stored hashed.\n\
         \n  POSTERN_PROJECT_ID={project_id}\n  POSTERN_PUBLISHABLE_CLIENT_KEY={}\n  POSTERN_SECRET_SERVER_KEY={}\n  POSTERN_SUPER_SECRET_ADMIN_KEY={}\n",
        keys.publishable_client_key, keys.secret_server_key, keys.super_secret_admin_key
    );
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// A configured Postern, ready to be mounted by a web framework.
#[derive(Debug)]
pub struct Prepared {
    /// The Postern.
    pub postern: Postern,
    /// Where to listen.
    pub addr: SocketAddr,
    /// The public base URL (token issuer base).
    pub public_url: String,
}

/// The SMTP mailer of the `POSTERN_SMTP_*` settings, if a host is set.
fn mailer(args: &Args) -> Result<Option<std::sync::Arc<dyn postern_core::email::Mailer>>, String> {
    use postern_core::email::{SmtpMailer, SmtpSettings, SmtpTls};
    let Some(host) = args.smtp_host.clone().filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let tls = match &args.smtp_tls {
        Some(t) => SmtpTls::parse(t)
            .ok_or_else(|| format!("POSTERN_SMTP_TLS {t}: expected none, starttls or tls"))?,
        None => SmtpTls::default_for(&host),
    };
    let mailer = SmtpMailer::new(SmtpSettings {
        host,
        port: args.smtp_port,
        username: args.smtp_username.clone().filter(|u| !u.is_empty()),
        password: args.smtp_password.clone().map(Into::into),
        sender: args.smtp_sender.clone(),
        tls,
    })
    .map_err(|e| format!("SMTP settings: {e}"))?;
    Ok(Some(std::sync::Arc::new(mailer)))
}

/// Opens and migrates the database, resolves the secret, applies the projects of the
/// config file and of the environment.
pub async fn prepare(args: &Args) -> Result<Prepared, String> {
    let addr: SocketAddr = args
        .listen
        .parse()
        .map_err(|e| format!("POSTERN_LISTEN {}: {e}", args.listen))?;
    if args.stack_dev_seed && !addr.ip().is_loopback() {
        return Err(format!(
            "--stack-dev-seed seeds publicly known keys and is refused on {addr}: listen on a loopback address"
        ));
    }
    let backend = backend(&args.database_url)?;
    let secret = resolve_secret(args, &backend)?;
    let store = open_store(&args.database_url, &backend).await?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let mut builder = Postern::builder(store)
        .secret(secret)
        .public_url(public_url.clone());
    for s in args.previous_secrets.iter().filter(|s| !s.is_empty()) {
        builder = builder.previous_secret(s.clone());
    }
    if let Some(url) = args.storage_public_url.clone().filter(|u| !u.is_empty()) {
        builder = builder.storage_url(url);
    }
    match mailer(args)? {
        Some(mailer) => builder = builder.mailer(mailer),
        None if args.dev_log_emails => tracing::warn!(
            "no SMTP host is configured (POSTERN_SMTP_HOST): emails, with their codes, are written to the log (--dev-log-emails; development only)"
        ),
        None => {
            return Err(
                "no SMTP host is configured (--smtp-host / POSTERN_SMTP_HOST): verification, sign-in and reset emails could not be delivered. For development, pass --dev-log-emails (POSTERN_DEV_LOG_EMAILS=true) to write them, codes included, to the log instead".into(),
            );
        }
    }
    builder = builder.log_email_bodies(args.dev_log_emails);
    let mut proxies = Vec::new();
    for p in args.trusted_proxies.iter().filter(|p| !p.is_empty()) {
        proxies.push(
            p.parse::<IpNetwork>()
                .map_err(|e| format!("POSTERN_TRUSTED_PROXIES: {e}"))?,
        );
    }
    builder = builder.trusted_proxies(proxies);
    for kind in postern_core::oauth::PROVIDER_TYPES {
        let var = |what: &str| {
            std::env::var(format!("POSTERN_OAUTH_{}_{what}", kind.to_uppercase()))
                .ok()
                .filter(|v| !v.is_empty())
        };
        if let (Some(id), Some(secret)) = (var("CLIENT_ID"), var("CLIENT_SECRET")) {
            builder = builder.shared_oauth_keys(*kind, id, secret);
        }
    }
    builder = builder.oauth_private_issuers(args.oauth_private_issuers);
    if args.stack_dev_seed {
        builder = builder
            .oauth_mock_provider_for_tests(args.oauth_mock_url.clone())
            .oauth_shared_access_tokens(true);
    }
    if args.stack_dev_seed {
        // Stack's e2e suite runs hundreds of sign-ups from one loopback address, mails to
        // `http://stack-test.localhost` callbacks and replays recorded passkey credentials
        // made for the challenge `MOCK`; this mode is refused off loopback.
        builder = builder
            .localhost_subdomains_are_loopback(true)
            .exempt_from_ip_limits(IpNetwork::loopback().to_vec())
            .fixed_passkey_challenge_for_tests(true);
    }
    let postern = builder.build().map_err(|e| e.to_string())?;
    bootstrap_projects(&postern, args).await?;
    tracing::info!(%addr, %public_url, database = %redact_url(&args.database_url), "postern ready");
    Ok(Prepared {
        postern,
        addr,
        public_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_from_urls() {
        assert!(matches!(
            backend("postgres://u@h/db"),
            Ok(Backend::Postgres)
        ));
        assert!(matches!(
            backend("sqlite::memory:"),
            Ok(Backend::Sqlite { file: None })
        ));
        match backend("sqlite://data/p.db?mode=rwc") {
            Ok(Backend::Sqlite { file: Some(f) }) => assert_eq!(f, PathBuf::from("data/p.db")),
            _ => panic!(),
        }
        assert!(backend("mysql://x").is_err());
        assert_eq!(
            secret_path(Path::new("data/p.db")),
            PathBuf::from("data/p.db.secret")
        );
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
    }

    #[test]
    fn keys_all_or_none() {
        assert!(keys_of("p", None, None, None).unwrap().is_none());
        assert!(keys_of("p", Some("a".into()), None, None).is_err());
        assert!(
            keys_of("p", Some("a".into()), Some("b".into()), Some("c".into()))
                .unwrap()
                .is_some()
        );
    }
}
