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
    let log = dir.join(format!("server-{port}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_postern-server"))
        .env("POSTERN_LISTEN", format!("127.0.0.1:{port}"))
        .env("POSTERN_DATABASE_URL", db_url)
        .env("POSTERN_SECRET", SECRET)
        .env("POSTERN_PROJECT_ID", PROJECT)
        .env("POSTERN_PUBLISHABLE_CLIENT_KEY", PCK)
        .env("POSTERN_SECRET_SERVER_KEY", SSK)
        .env("POSTERN_SUPER_SECRET_ADMIN_KEY", SAK)
        .env("RUST_LOG", "debug")
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
fn killed_during_sign_ups_leaves_no_half_created_user() {
    let dir = temp_dir("crash");
    let url = format!("sqlite://{}", dir.join("c.db").display());
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
