//! The real server binary: started, driven over TCP, killed, restarted.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PROJECT: &str = "proc-test";
const PCK: &str = "pck_processtestpublishableclientkey000000000000";
const SSK: &str = "ssk_processtestsecretserverkey0000000000000000";
const SAK: &str = "sak_processtestsupersecretadminkey000000000000";
const SECRET: &str = "process-test-server-secret-0123456789";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

fn start(dir: &Path, db_url: &str, port: u16) -> Server {
    start_with(
        dir,
        port,
        &[
            ("POSTERN_DATABASE_URL", Some(db_url)),
            ("POSTERN_SECRET", Some(SECRET)),
            ("POSTERN_PROJECT_ID", Some(PROJECT)),
            ("POSTERN_PUBLISHABLE_CLIENT_KEY", Some(PCK)),
            ("POSTERN_SECRET_SERVER_KEY", Some(SSK)),
            ("POSTERN_SUPER_SECRET_ADMIN_KEY", Some(SAK)),
        ],
    )
}

/// Starts the server with exactly these POSTERN_* settings (None: unset).
fn start_with(dir: &Path, port: u16, env: &[(&str, Option<&str>)]) -> Server {
    let log = dir.join(format!("server-{port}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_postern-server"));
    for (k, _) in std::env::vars() {
        if k.starts_with("POSTERN_") {
            cmd.env_remove(k);
        }
    }
    // No SMTP server in these tests: mail goes to the log (override with None).
    cmd.env("POSTERN_LISTEN", format!("127.0.0.1:{port}"))
        .env("POSTERN_DEV_LOG_EMAILS", "true")
        .env("RUST_LOG", "debug");
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let child = cmd
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("server binary");
    let s = Server { child, port, log };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok((200, _)) = request(port, "GET", "/api/v1", &[], None) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "server did not start: {}",
        std::fs::read_to_string(&s.log).unwrap_or_default()
    );
}

/// A minimal HTTP/1.1 client (one request per connection).
fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("content-type: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let payload = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    Ok((
        status,
        serde_json::from_str(payload).unwrap_or(Value::String(payload.to_owned())),
    ))
}

fn client() -> Vec<(&'static str, &'static str)> {
    vec![
        ("x-stack-access-type", "client"),
        ("x-stack-project-id", PROJECT),
        ("x-stack-publishable-client-key", PCK),
    ]
}

fn server() -> Vec<(&'static str, &'static str)> {
    vec![
        ("x-stack-access-type", "server"),
        ("x-stack-project-id", PROJECT),
        ("x-stack-secret-server-key", SSK),
    ]
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "postern-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn read_all(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            all.extend(std::fs::read(p).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn no_plaintext_secret_in_database_or_logs() {
    let dir = temp_dir("plaintext");
    let db = dir.join("p.db");
    let mut s = start(&dir, &format!("sqlite://{}", db.display()), free_port());
    let password = "plaintext-Password-42";
    let (status, v) = request(
        s.port,
        "POST",
        "/api/v1/auth/password/sign-up",
        &client(),
        Some(&json!({"email": "leak@example.com", "password": password})),
    )
    .unwrap();
    assert_eq!(status, 200, "{v}");
    let refresh = v["refresh_token"].as_str().unwrap().to_owned();
    let (status, v) = request(
        s.port,
        "POST",
        "/api/v1/auth/password/sign-in",
        &client(),
        Some(&json!({"email": "leak@example.com", "password": password})),
    )
    .unwrap();
    assert_eq!(status, 200, "{v}");
    let refresh2 = v["refresh_token"].as_str().unwrap().to_owned();
    let mut h = client();
    h.push(("x-stack-refresh-token", &refresh));
    assert_eq!(
        request(
            s.port,
            "POST",
            "/api/v1/auth/sessions/current/refresh",
            &h,
            Some(&json!({}))
        )
        .unwrap()
        .0,
        200
    );
    let (status, _) = request(
        s.port,
        "POST",
        "/api/v1/auth/password/sign-in",
        &client(),
        Some(&json!({"email": "leak@example.com", "password": "wrong-password-1"})),
    )
    .unwrap();
    assert_eq!(status, 400);
    s.child.kill().unwrap();
    s.child.wait().unwrap();

    let everything = read_all(&dir); // database, WAL, and the server's log
    assert!(
        contains(&everything, "leak@example.com"),
        "sanity: the data is there"
    );
    for secret in [
        password,
        "wrong-password-1",
        &refresh,
        &refresh2,
        PCK,
        SSK,
        SAK,
        SECRET,
    ] {
        assert!(
            !contains(&everything, secret),
            "a secret appears in plain text in the database or logs"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn killed_during_sign_ups_leaves_no_half_created_user_sqlite() {
    let dir = temp_dir("crash");
    let url = format!("sqlite://{}", dir.join("c.db").display());
    killed_during_sign_ups(dir, url);
}

#[test]
fn killed_during_sign_ups_leaves_no_half_created_user_postgres() {
    let dir = temp_dir("crash-pg");
    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(postern_storage_postgres::testing::fresh_database_url());
    killed_during_sign_ups(dir, url);
}

fn killed_during_sign_ups(dir: PathBuf, url: String) {
    let port = free_port();
    let mut s = start(&dir, &url, port);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let done = done.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let body = json!({"email": format!("w{w}-{i}@example.com"), "password": "password123"});
                    match request(port, "POST", "/api/v1/auth/password/sign-up", &client(), Some(&body)) {
                        Ok((200, _)) => {
                            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    // Kill once some sign-ups have committed, while eight more are in flight.
    let deadline = Instant::now() + Duration::from_secs(120);
    while done.load(std::sync::atomic::Ordering::SeqCst) < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    s.child.kill().unwrap(); // SIGKILL: no graceful shutdown
    s.child.wait().unwrap();
    for w in workers {
        w.join().unwrap();
    }
    let mut s = start(&dir, &url, free_port());
    let (status, list) = request(
        s.port,
        "GET",
        "/api/v1/users?include_anonymous=true",
        &server(),
        None,
    )
    .unwrap();
    assert_eq!(status, 200, "{list}");
    let users = list["items"].as_array().unwrap();
    assert!(!users.is_empty(), "some sign-ups completed before the kill");
    for u in users {
        assert!(
            u["primary_email"].is_string(),
            "user without its email: {u}"
        );
        assert_eq!(u["has_password"], true, "user without its password: {u}");
        // And every committed user can sign in.
    }
    let first = users[0]["primary_email"].as_str().unwrap();
    let (status, _) = request(
        s.port,
        "POST",
        "/api/v1/auth/password/sign-in",
        &client(),
        Some(&json!({"email": first, "password": "password123"})),
    )
    .unwrap();
    assert_eq!(status, 200);
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn help_lists_every_setting() {
    let out = Command::new(env!("CARGO_BIN_EXE_postern-server"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for env in [
        "POSTERN_LISTEN",
        "POSTERN_DATABASE_URL",
        "POSTERN_PUBLIC_URL",
        "POSTERN_SECRET",
        "POSTERN_PROJECT_ID",
        "POSTERN_PUBLISHABLE_CLIENT_KEY",
        "POSTERN_SECRET_SERVER_KEY",
        "POSTERN_SUPER_SECRET_ADMIN_KEY",
        "POSTERN_CONFIG",
    ] {
        assert!(text.contains(env), "--help mentions {env}");
    }
}

#[test]
fn generated_secret_is_owner_only_and_survives_restarts() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("secret");
    let db = dir.join("s.db");
    let url = format!("sqlite://{}", db.display());
    let keys: [(&str, Option<&str>); 5] = [
        ("POSTERN_DATABASE_URL", Some(&url)),
        ("POSTERN_PROJECT_ID", Some(PROJECT)),
        ("POSTERN_PUBLISHABLE_CLIENT_KEY", Some(PCK)),
        ("POSTERN_SECRET_SERVER_KEY", Some(SSK)),
        ("POSTERN_SUPER_SECRET_ADMIN_KEY", Some(SAK)),
    ];
    let mut s = start_with(&dir, free_port(), &keys);
    let secret_file = dir.join("s.db.secret");
    let mode = std::fs::metadata(&secret_file)
        .expect("secret file beside the database")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "owner-only");
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    let (status, v) = request(
        s.port,
        "POST",
        "/api/v1/auth/password/sign-up",
        &client(),
        Some(&json!({"email": "s@example.com", "password": "password123"})),
    )
    .unwrap();
    assert_eq!(status, 200, "{v}");
    let at = v["access_token"].as_str().unwrap().to_owned();
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(
        log.contains("generated"),
        "a warning says the secret was generated"
    );
    assert!(!log.contains(secret.trim()), "the secret is not logged");
    // A restart reads the same secret: the token still verifies, with the same port as issuer.
    let mut s2 = start_with(&dir, s.port, &keys);
    let mut h = client();
    h.push(("x-stack-access-token", &at));
    let (status, me) = request(s2.port, "GET", "/api/v1/users/me", &h, None).unwrap();
    assert_eq!(status, 200, "{me}");
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), secret);
    assert!(
        !contains(&std::fs::read(&db).unwrap(), secret.trim()),
        "never in the database"
    );
    s2.child.kill().unwrap();
    s2.child.wait().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn fresh_database_gets_a_project_with_keys_printed_once() {
    let dir = temp_dir("fresh");
    let url = format!("sqlite://{}", dir.join("f.db").display());
    let mut s = start_with(
        &dir,
        free_port(),
        &[
            ("POSTERN_DATABASE_URL", Some(&url)),
            ("POSTERN_SECRET", Some(SECRET)),
        ],
    );
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    let out = std::fs::read_to_string(&s.log).unwrap();
    let grab = |k: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{k}=")).map(str::to_owned))
            .unwrap_or_else(|| panic!("{k} printed: {out}"))
    };
    let (project, ssk) = (
        grab("POSTERN_PROJECT_ID"),
        grab("POSTERN_SECRET_SERVER_KEY"),
    );
    assert!(ssk.starts_with("ssk_") && ssk.len() == 49);
    // The printed key works; a restart prints nothing new.
    let mut s = start_with(
        &dir,
        free_port(),
        &[
            ("POSTERN_DATABASE_URL", Some(&url)),
            ("POSTERN_SECRET", Some(SECRET)),
        ],
    );
    let h = [
        ("x-stack-access-type", "server"),
        ("x-stack-project-id", project.as_str()),
        ("x-stack-secret-server-key", ssk.as_str()),
    ];
    assert_eq!(
        request(s.port, "GET", "/api/v1/users", &h, None).unwrap().0,
        200
    );
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    assert!(
        !std::fs::read_to_string(&s.log).unwrap().contains("ssk_"),
        "keys are shown only at creation"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn toml_config_declares_projects_and_their_config() {
    let dir = temp_dir("toml");
    let url = format!("sqlite://{}", dir.join("t.db").display());
    let cfg = dir.join("postern.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[projects]]
id = "from-file"
display_name = "From File"
publishable_client_key = "{PCK}x"
secret_server_key = "{SSK}x"
super_secret_admin_key = "{SAK}x"

[projects.config.auth]
allowSignUp = false
[projects.config.users]
allowClientUserDeletion = true
[projects.config.payments]
kept = "as given"
"#
        ),
    )
    .unwrap();
    let cfg_s = cfg.display().to_string();
    let mut s = start_with(
        &dir,
        free_port(),
        &[
            ("POSTERN_DATABASE_URL", Some(&url)),
            ("POSTERN_SECRET", Some(SECRET)),
            ("POSTERN_CONFIG", Some(&cfg_s)),
            ("POSTERN_PROJECT_ID", Some(PROJECT)),
            ("POSTERN_PUBLISHABLE_CLIENT_KEY", Some(PCK)),
            ("POSTERN_SECRET_SERVER_KEY", Some(SSK)),
            ("POSTERN_SUPER_SECRET_ADMIN_KEY", Some(SAK)),
        ],
    );
    let pck = format!("{PCK}x");
    let c = [
        ("x-stack-access-type", "client"),
        ("x-stack-project-id", "from-file"),
        ("x-stack-publishable-client-key", pck.as_str()),
    ];
    let (status, p) = request(s.port, "GET", "/api/v1/projects/current", &c, None).unwrap();
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["display_name"], "From File");
    assert_eq!(p["config"]["sign_up_enabled"], false);
    assert_eq!(p["config"]["client_user_deletion_enabled"], true);
    let (status, e) = request(
        s.port,
        "POST",
        "/api/v1/auth/password/sign-up",
        &c,
        Some(&json!({"email": "x@example.com", "password": "password123"})),
    )
    .unwrap();
    assert_eq!(
        (status, e["code"].as_str()),
        (400, Some("SIGN_UP_NOT_ENABLED"))
    );
    // The default project from the environment is served too.
    assert_eq!(
        request(s.port, "GET", "/api/v1/projects/current", &client(), None)
            .unwrap()
            .0,
        200
    );
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    // A broken config file stops the server with a message naming the problem.
    std::fs::write(&cfg, "[[projects]]\nid = 5\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_postern-server"))
        .env("POSTERN_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("POSTERN_DATABASE_URL", &url)
        .env("POSTERN_SECRET", SECRET)
        .env("POSTERN_CONFIG", &cfg_s)
        .env("POSTERN_DEV_LOG_EMAILS", "true")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("postern.toml"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn postgres_requires_a_secret() {
    let out = Command::new(env!("CARGO_BIN_EXE_postern-server"))
        .env_remove("POSTERN_SECRET")
        .env("POSTERN_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env(
            "POSTERN_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/none",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("POSTERN_SECRET is required with PostgreSQL")
    );
}

#[test]
fn revocation_through_one_server_is_seen_by_another_immediately() {
    let dir = temp_dir("two-servers");
    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(postern_storage_postgres::testing::fresh_database_url());
    let cfg = dir.join("postern.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[projects]]\nid = \"{PROJECT}\"\npublishable_client_key = \"{PCK}\"\nsecret_server_key = \"{SSK}\"\nsuper_secret_admin_key = \"{SAK}\"\n[projects.config.apiKeys.enabled]\nuser = true\n"
        ),
    )
    .unwrap();
    let cfg_s = cfg.display().to_string();
    let env: [(&str, Option<&str>); 3] = [
        ("POSTERN_DATABASE_URL", Some(&url)),
        ("POSTERN_SECRET", Some(SECRET)),
        ("POSTERN_CONFIG", Some(&cfg_s)),
    ];
    let mut one = start_with(&dir, free_port(), &env);
    let mut two = start_with(&dir, free_port(), &env);
    let (status, v) = request(
        one.port,
        "POST",
        "/api/v1/auth/password/sign-up",
        &client(),
        Some(&json!({"email": "k@example.com", "password": "password123"})),
    )
    .unwrap();
    assert_eq!(status, 200, "{v}");
    let at = v["access_token"].as_str().unwrap().to_owned();
    let mut c = client();
    c.push(("x-stack-access-token", &at));
    let (status, key) = request(
        one.port,
        "POST",
        "/api/v1/user-api-keys",
        &c,
        Some(&json!({"description": "k", "expires_at_millis": null, "user_id": "me"})),
    )
    .unwrap();
    assert_eq!(status, 200, "{key}");
    let check = json!({"api_key": key["value"]});
    assert_eq!(
        request(
            two.port,
            "POST",
            "/api/v1/user-api-keys/check",
            &server(),
            Some(&check)
        )
        .unwrap()
        .0,
        200
    );
    let path = format!("/api/v1/user-api-keys/{}", key["id"].as_str().unwrap());
    assert_eq!(
        request(
            one.port,
            "PATCH",
            &path,
            &c,
            Some(&json!({"revoked": true}))
        )
        .unwrap()
        .0,
        200
    );
    let (status, err) = request(
        two.port,
        "POST",
        "/api/v1/user-api-keys/check",
        &server(),
        Some(&check),
    )
    .unwrap();
    assert_eq!(
        (status, err["code"].as_str()),
        (401, Some("API_KEY_REVOKED")),
        "the other server refuses it at once"
    );
    for s in [&mut one, &mut two] {
        s.child.kill().unwrap();
        s.child.wait().unwrap();
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn refuses_to_start_without_smtp_unless_told_to_log_mail() {
    let dir = temp_dir("no-smtp");
    let url = format!("sqlite://{}", dir.join("m.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_postern-server"))
        .env_clear()
        .env("POSTERN_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("POSTERN_DATABASE_URL", &url)
        .env("POSTERN_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no SMTP host") && err.contains("--dev-log-emails"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Sends an OTP sign-in code and returns its nonce (the tail of the code in the mailed link).
fn otp_nonce(port: u16, email: &str) -> String {
    let (status, v) = request(
        port,
        "POST",
        "/api/v1/auth/otp/send-sign-in-code",
        &client(),
        Some(&json!({"email": email, "callback_url": "http://localhost:3000/cb"})),
    )
    .unwrap();
    assert_eq!(status, 200, "{v}");
    v["nonce"].as_str().unwrap().to_owned()
}

#[test]
fn mail_with_codes_reaches_the_log_only_in_development_mode() {
    let dir = temp_dir("mail-log");
    let cfg = dir.join("postern.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[projects]]\nid = \"{PROJECT}\"\npublishable_client_key = \"{PCK}\"\nsecret_server_key = \"{SSK}\"\nsuper_secret_admin_key = \"{SAK}\"\n[projects.config.auth.otp]\nallowSignIn = true\n"
        ),
    )
    .unwrap();
    let cfg_s = cfg.display().to_string();
    let url = format!("sqlite://{}", dir.join("l.db").display());
    // SMTP configured (unreachable), no development flag: the code is never logged.
    let mut quiet = start_with(
        &dir,
        free_port(),
        &[
            ("POSTERN_DATABASE_URL", Some(&url)),
            ("POSTERN_SECRET", Some(SECRET)),
            ("POSTERN_CONFIG", Some(&cfg_s)),
            ("POSTERN_SMTP_HOST", Some("127.0.0.1")),
            ("POSTERN_SMTP_PORT", Some("1")),
            ("POSTERN_DEV_LOG_EMAILS", None),
        ],
    );
    let nonce = otp_nonce(quiet.port, "quiet@example.com");
    std::thread::sleep(Duration::from_millis(1500));
    quiet.child.kill().unwrap();
    quiet.child.wait().unwrap();
    let log = std::fs::read_to_string(&quiet.log).unwrap();
    assert!(!log.contains(&nonce), "the code reached the log");
    assert!(
        !log.contains("Your code is"),
        "the subject carries the code"
    );
    // Development mode without SMTP: the mail, code included, is logged.
    let mut dev = start_with(
        &dir,
        free_port(),
        &[
            ("POSTERN_DATABASE_URL", Some(&url)),
            ("POSTERN_SECRET", Some(SECRET)),
            ("POSTERN_CONFIG", Some(&cfg_s)),
        ],
    );
    let nonce = otp_nonce(dev.port, "dev@example.com");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = false;
    while Instant::now() < deadline && !seen {
        std::thread::sleep(Duration::from_millis(200));
        seen = std::fs::read_to_string(&dev.log).unwrap().contains(&nonce);
    }
    dev.child.kill().unwrap();
    dev.child.wait().unwrap();
    assert!(seen, "development mode logs the mail");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_lockout_counted_on_one_server_holds_on_another() {
    let dir = temp_dir("two-lockout");
    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(postern_storage_postgres::testing::fresh_database_url());
    let cfg = dir.join("postern.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[projects]]\nid = \"{PROJECT}\"\npublishable_client_key = \"{PCK}\"\nsecret_server_key = \"{SSK}\"\nsuper_secret_admin_key = \"{SAK}\"\n[projects.config.security.lockout]\nmaxFailures = 4\nlockSeconds = 3600\n[projects.config.security.lockout.freeFailures]\npassword = 4\n"
        ),
    )
    .unwrap();
    let cfg_s = cfg.display().to_string();
    let env: [(&str, Option<&str>); 3] = [
        ("POSTERN_DATABASE_URL", Some(&url)),
        ("POSTERN_SECRET", Some(SECRET)),
        ("POSTERN_CONFIG", Some(&cfg_s)),
    ];
    let mut one = start_with(&dir, free_port(), &env);
    let mut two = start_with(&dir, free_port(), &env);
    let sign_in = |port: u16, password: &str| {
        request(
            port,
            "POST",
            "/api/v1/auth/password/sign-in",
            &client(),
            Some(&json!({"email": "lock@example.com", "password": password})),
        )
        .unwrap()
        .0
    };
    let (status, v) = request(
        one.port,
        "POST",
        "/api/v1/auth/password/sign-up",
        &client(),
        Some(&json!({"email": "lock@example.com", "password": "right-password"})),
    )
    .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(sign_in(two.port, "right-password"), 200);
    // Four wrong passwords on the first server lock the account ...
    for _ in 0..4 {
        assert_eq!(sign_in(one.port, "wrong-password"), 400);
    }
    // ... on the second one too, even for the right password.
    assert_eq!(sign_in(two.port, "right-password"), 429);
    assert_eq!(sign_in(one.port, "right-password"), 429);
    for s in [&mut one, &mut two] {
        s.child.kill().unwrap();
        s.child.wait().unwrap();
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn health_probes_report_liveness_and_database_readiness() {
    let dir = temp_dir("health");
    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(postern_storage_postgres::testing::fresh_database_url());
    let mut s = start(&dir, &url, free_port());
    let probe = |path: &str| request(s.port, "GET", path, &[], None).unwrap();
    assert_eq!(probe("/healthz"), (200, json!({"status": "ok"})));
    assert_eq!(probe("/readyz"), (200, json!({"status": "ready"})));

    // The database goes away: readiness fails fast with 503, liveness stays up.
    let (base, name) = url.rsplit_once('/').unwrap();
    let name = name.split('?').next().unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sea_orm::ConnectionTrait;
        let admin = sea_orm::Database::connect(format!("{base}/postgres"))
            .await
            .expect("the fixture's server");
        admin
            .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
            .await
            .expect("dropping the server's database");
        admin.close().await.ok();
    });
    let started = Instant::now();
    assert_eq!(probe("/readyz"), (503, json!({"status": "unavailable"})));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "readiness answers within its timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(probe("/healthz").0, 200);
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
