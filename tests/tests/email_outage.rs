//! Email survives an SMTP outage: with the mail server refusing connections for a minute,
//! sign-ups still succeed, and once it is back every verification email arrives, once.
//! Real SMTP over TCP, on SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use postern_core::email::{SmtpMailer, SmtpSettings, SmtpTls};
use postern_core::storage::{OutboxRecord, OutboxStatus, Store};
use postern_core::{PasswordParams, Postern, ProjectConfig};
use postern_tests::smtp_sink::SmtpSink;

const OUTAGE: Duration = Duration::from_secs(60);
const USERS: usize = 5;
const CALLBACK: &str = "http://localhost:3000/handler/verify";

/// The project's mail in the outbox (the sign-ups' webhook events, held, are there too).
async fn mail_rows(store: &dyn Store, project_id: &str) -> Vec<OutboxRecord> {
    store
        .outbox()
        .list(project_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind != postern_core::events::EVENT_KIND)
        .collect()
}

async fn outage_then_delivery(store: Arc<dyn Store>) {
    // A port with nothing listening: connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mailer = SmtpMailer::new(SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        username: None,
        password: None,
        sender: "noreply@example.com".into(),
        tls: SmtpTls::None,
    })
    .unwrap();
    let postern = Postern::builder(store.clone())
        .secret("outage-test-secret-0123456789")
        .password_params(PasswordParams::insecure_fast())
        .mailer(Arc::new(mailer))
        .build()
        .unwrap();
    let (project, _) = postern
        .projects()
        .create(None, "Outage", ProjectConfig::default())
        .await
        .unwrap();
    for i in 0..USERS {
        postern
            .users()
            .sign_up_with_password(
                &project,
                &format!("user{i}@example.com"),
                "password123",
                Some(CALLBACK),
            )
            .await
            .expect("sign-up succeeds while SMTP is down");
    }
    tokio::time::sleep(OUTAGE).await;
    let rows = mail_rows(&*store, &project.id).await;
    assert_eq!(rows.len(), USERS);
    assert!(rows.iter().all(|r| r.status == OutboxStatus::Pending));
    assert!(
        rows.iter().any(|r| r.attempts > 0),
        "delivery was attempted during the outage: {rows:?}"
    );

    let sink = SmtpSink::start_on(port).await;
    for i in 0..USERS {
        let to = format!("user{i}@example.com");
        let mails = sink
            .wait_for(&to, "Verify your email", 1, Duration::from_secs(45))
            .await;
        assert_eq!(mails.len(), 1, "one mail to {to}");
        assert!(mails[0].code_after(CALLBACK).is_some());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.messages().len(), USERS, "nothing sent twice");
    let rows = mail_rows(&*store, &project.id).await;
    assert!(
        rows.iter()
            .all(|r| r.status == OutboxStatus::Sent && r.payload.is_empty())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_survives_an_smtp_outage() {
    let store = postern_tests::TempSqliteStore::new().await;
    outage_then_delivery(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_an_smtp_outage() {
    let url = postern_storage_postgres::testing::fresh_database_url().await;
    let store = postern_storage_postgres::PostgresStore::connect(&url)
        .await
        .unwrap();
    outage_then_delivery(Arc::new(store)).await;
}
