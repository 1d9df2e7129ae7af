//! A real HTTP receiver on loopback that keeps every webhook POSTed to it: the receiving
//! end of the webhook tests. It runs on its own thread and runtime, so it answers whatever
//! the test's runtime is doing, and it can be told to fail (a receiver that is down).

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

/// One received request.
#[derive(Debug, Clone)]
pub struct Hook {
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body, as received.
    pub body: Bytes,
}

impl Hook {
    /// A header as a string.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Hook>>,
    /// The status to answer; 0 means 204.
    status: AtomicU16,
    /// Answer `webhook-delivery: abort-message` (with a 400).
    abort: std::sync::atomic::AtomicBool,
}

/// The receiver.
pub struct WebhookSink {
    /// Its URL (`http://127.0.0.1:<port>/hook`).
    pub url: String,
    shared: Arc<Shared>,
}

async fn receive(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = s.status.load(Ordering::SeqCst);
    s.received
        .lock()
        .expect("sink lock")
        .push(Hook { headers, body });
    if s.abort.load(Ordering::SeqCst) {
        return (
            StatusCode::BAD_REQUEST,
            [("webhook-delivery", "abort-message")],
            "not this one",
        )
            .into_response();
    }
    if status == 0 {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "receiver down",
        )
            .into_response()
    }
}

impl WebhookSink {
    /// Starts a receiver on a free loopback port.
    pub fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let state = Arc::clone(&shared);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("sink runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().expect("addr")).expect("send");
                let app = axum::Router::new()
                    .route("/hook", post(receive))
                    .with_state(state);
                axum::serve(listener, app).await.expect("serve");
            });
        });
        let addr = rx.recv().expect("sink address");
        WebhookSink {
            url: format!("http://{addr}/hook"),
            shared,
        }
    }

    /// Answers every later request with `status` (e.g. 503: down); 0 answers 204.
    pub fn answer(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// Answers every later request with `webhook-delivery: abort-message` (or stops).
    pub fn abort(&self, on: bool) {
        self.shared.abort.store(on, Ordering::SeqCst);
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Hook> {
        self.shared.received.lock().expect("sink lock").clone()
    }

    /// Waits up to `timeout` until at least `count` requests arrived; returns them.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Hook> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= count || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
