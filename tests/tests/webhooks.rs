//! Webhooks end to end: events recorded in the change's transaction reach a real HTTP
//! receiver on loopback, signed as Svix and Standard Webhooks sign (checked with the
//! `standardwebhooks` crate), in order, once; through `Postern::handle`, axum and actix, on
//! SQLite and PostgreSQL.

#[macro_use]
mod support;

use std::time::Duration;

use postern_core::webhooks::{DeclaredEndpoint, NewEndpoint};
use postern_tests::webhook_sink::{Hook, WebhookSink};
use serde_json::{Value, json};
use support::*;

contract_suite!(
    events_reach_the_endpoint_signed_in_order,
    filters_refused_changes_and_the_private_address_guard,
    a_receiver_that_is_down_gets_every_message_once_when_back,
    abort_message_stops_retries_of_that_message,
    admin_api_manages_endpoints_and_rotates_secrets,
    svix_facade_test_event_and_replay,
    two_instances_deliver_each_message_once,
    declared_endpoints_follow_the_config_file,
    an_endpoint_failing_for_five_days_is_disabled_then_replayed,
);

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WAIT: Duration = Duration::from_secs(15);

/// An endpoint (private addresses allowed: the receiver is on loopback) with a known secret.
async fn endpoint(h: &H, sink: &WebhookSink, types: Option<&[&str]>) -> String {
    h.postern
        .webhooks()
        .create(
            &h.project,
            NewEndpoint {
                url: sink.url.clone(),
                secret: Some(WHSEC.into()),
                event_types: types.map(|t| t.iter().map(|s| s.to_string()).collect()),
                allow_private_addresses: true,
                ..Default::default()
            },
        )
        .await
        .expect("endpoint")
        .0
        .id
}

/// Checks the signature with `secret` (Standard Webhooks headers) and that the Svix headers
/// say the same; returns the body.
#[track_caller]
fn verified(hook: &Hook, secret: &str) -> Value {
    standardwebhooks::Webhook::new(secret)
        .expect("secret")
        .verify(&hook.body, &hook.headers)
        .expect("a valid signature");
    assert_eq!(hook.header("svix-id"), hook.header("webhook-id"));
    assert_eq!(
        hook.header("svix-timestamp"),
        hook.header("webhook-timestamp")
    );
    assert_eq!(
        hook.header("svix-signature"),
        hook.header("webhook-signature")
    );
    assert!(hook.header("svix-id").starts_with("msg_"));
    assert_eq!(hook.header("content-type"), "application/json");
    hook.json()
}

fn bearer(token: &str) -> Headers {
    vec![("authorization".into(), format!("Bearer {token}"))]
}

async fn team(h: &H, name: &str) -> String {
    h.post(
        "/api/v1/teams",
        &h.server(),
        json!({ "display_name": name }),
    )
    .await
    .assert_ok()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn events_reach_the_endpoint_signed_in_order(env: Env) {
    let h = harness(&env).await;
    let sink = WebhookSink::start();
    endpoint(&h, &sink, None).await;
    let t = team(&h, "Ev").await;
    h.patch(
        &format!("/api/v1/teams/{t}"),
        &h.server(),
        json!({ "display_name": "Ev2" }),
    )
    .await
    .assert_ok();
    let (uid, _, _) = h.sign_up("member@example.com", "password123").await;
    h.post(
        &format!("/api/v1/team-memberships/{t}/{uid}"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    h.post(
        &format!("/api/v1/team-permissions/{t}/{uid}/$update_team"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    h.delete(
        &format!("/api/v1/team-permissions/{t}/{uid}/$update_team"),
        &h.server(),
    )
    .await
    .assert_ok();
    h.post(
        "/api/v1/project-permission-definitions",
        &h.admin(),
        json!({ "id": "reports" }),
    )
    .await
    .assert_ok();
    h.post(
        &format!("/api/v1/project-permissions/{uid}/reports"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    h.delete(
        &format!("/api/v1/project-permissions/{uid}/reports"),
        &h.server(),
    )
    .await
    .assert_ok();
    h.patch(
        &format!("/api/v1/users/{uid}"),
        &h.server(),
        json!({ "display_name": "Member" }),
    )
    .await
    .assert_ok();
    h.delete(&format!("/api/v1/teams/{t}"), &h.server())
        .await
        .assert_ok();
    h.delete(&format!("/api/v1/users/{uid}"), &h.server())
        .await
        .assert_ok();

    let recorded = h.postern.recorded_events(&h.project.id).await.unwrap();
    assert!(recorded.len() >= 12, "{recorded:?}");
    let got = sink.wait_for(recorded.len(), WAIT).await;
    assert_eq!(got.len(), recorded.len(), "every event, once");
    let mut ids = std::collections::HashSet::new();
    for (hook, event) in got.iter().zip(&recorded) {
        let body = verified(hook, WHSEC);
        assert_eq!(body["type"], event.event_type.as_str(), "in recorded order");
        assert_eq!(body["data"], event.data);
        assert!(
            ids.insert(hook.header("svix-id").to_owned()),
            "ids are unique"
        );
    }
    let types: Vec<&str> = recorded.iter().map(|e| e.event_type.as_str()).collect();
    for t in [
        "team.created",
        "team.updated",
        "team_membership.created",
        "team.deleted",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
}

async fn filters_refused_changes_and_the_private_address_guard(env: Env) {
    let h = harness(&env).await;
    let sink = WebhookSink::start();
    endpoint(&h, &sink, Some(&["team.deleted"])).await;
    // Through the admin API, private addresses cannot be allowed: the guard refuses.
    let guarded = WebhookSink::start();
    let r = h
        .post(
            "/api/v1/webhooks/endpoints",
            &h.admin(),
            json!({ "url": guarded.url }),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    let guarded_id = r.json()["id"].as_str().unwrap().to_owned();
    h.post(
        "/api/v1/webhooks/endpoints",
        &h.admin(),
        json!({ "url": guarded.url, "allow_private_addresses": true }),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");

    // A refused change records and sends nothing.
    let nobody = uuid::Uuid::new_v4();
    h.post(
        &format!("/api/v1/team-memberships/{nobody}/{nobody}"),
        &h.server(),
        json!({}),
    )
    .await;
    assert!(
        h.postern
            .recorded_events(&h.project.id)
            .await
            .unwrap()
            .is_empty()
    );

    let t = team(&h, "Filtered").await;
    h.delete(&format!("/api/v1/teams/{t}"), &h.server())
        .await
        .assert_ok();
    let got = sink.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_now = sink.received();
    assert_eq!(got_now.len(), 1, "only the subscribed type: {got:?}");
    assert_eq!(verified(&got_now[0], WHSEC)["type"], "team.deleted");

    // The guarded endpoint's head was refused (no request was made); the rest waits.
    let mut attempts = Value::Null;
    for _ in 0..100 {
        attempts = h
            .get(
                &format!("/api/v1/webhooks/attempts?endpoint_id={guarded_id}"),
                &h.admin(),
            )
            .await
            .assert_ok();
        if !attempts["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = &attempts["items"][0];
    assert_eq!(first["status"], "failed", "{attempts}");
    assert_eq!(first["response_status_code"], Value::Null);
    assert!(
        first["response"]
            .as_str()
            .unwrap()
            .contains("not a public address"),
        "{first}"
    );
    assert!(guarded.received().is_empty());
}

async fn a_receiver_that_is_down_gets_every_message_once_when_back(env: Env) {
    let h = harness(&env).await;
    let sink = WebhookSink::start();
    sink.answer(503);
    endpoint(&h, &sink, None).await;
    for name in ["A", "B", "C"] {
        team(&h, name).await;
    }
    // Each message is tried at once, in record order, and fails.
    let got = sink.wait_for(3, WAIT).await;
    let first: Vec<Value> = got.iter().map(|g| verified(g, WHSEC)).collect();
    let names: Vec<&str> = first
        .iter()
        .map(|b| b["data"]["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A", "B", "C"], "first attempts in record order");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.received().len(), 3, "no retry before its time");

    sink.answer(0);
    // The retries are due 5 s later (Svix's schedule): move the clock rather than wait.
    h.postern.clock().advance_millis(5_001);
    h.postern.deliver_webhooks().await.unwrap();
    let got = sink.wait_for(6, WAIT).await;
    assert_eq!(got.len(), 6, "three failures, then three deliveries");
    let mut retried: Vec<(String, String)> = got[3..]
        .iter()
        .map(|g| {
            let name = verified(g, WHSEC)["data"]["display_name"]
                .as_str()
                .unwrap()
                .to_owned();
            (g.header("svix-id").to_owned(), name)
        })
        .collect();
    retried.sort();
    let mut want: Vec<(String, String)> = got[..3]
        .iter()
        .zip(["A", "B", "C"])
        .map(|(g, n)| (g.header("svix-id").to_owned(), n.to_owned()))
        .collect();
    want.sort();
    assert_eq!(retried, want, "every message once more, under the same id");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.received().len(), 6, "nothing is delivered twice");

    let log = h
        .get("/api/v1/webhooks/attempts", &h.admin())
        .await
        .assert_ok();
    let items = log["items"].as_array().unwrap();
    let statuses: Vec<&str> = items
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "success").count(), 3);
    assert_eq!(
        statuses[3..],
        ["failed", "failed", "failed"],
        "newest first"
    );
    assert_eq!(items[5]["response_status_code"], 503);
    assert_eq!(items[5]["response"], "receiver down");
}

async fn abort_message_stops_retries_of_that_message(env: Env) {
    let h = harness(&env).await;
    let sink = WebhookSink::start();
    sink.abort(true);
    endpoint(&h, &sink, None).await;
    team(&h, "Aborted").await;
    sink.wait_for(1, WAIT).await;
    sink.abort(false);
    // No retry of the aborted message: the next one goes out without moving the clock.
    team(&h, "Next").await;
    let got = sink.wait_for(2, WAIT).await;
    assert_eq!(got.len(), 2);
    assert_eq!(verified(&got[1], WHSEC)["data"]["display_name"], "Next");
    h.postern.clock().advance_millis(6_000);
    h.postern.deliver_webhooks().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sink.received().len(),
        2,
        "the aborted message is not retried"
    );
}

async fn admin_api_manages_endpoints_and_rotates_secrets(env: Env) {
    let h = harness(&env).await;
    for (body, line) in [
        (json!({ "url": "ftp://example.com/x" }), "body.url"),
        (json!({ "url": "https://u:p@example.com/" }), "body.url"),
        (
            json!({ "url": "https://example.com/", "event_types": ["user.exploded"] }),
            "unknown event type",
        ),
        (
            json!({ "url": "https://example.com/", "secret": "whsec_c2hvcnQ=" }),
            "body.secret",
        ),
        (
            json!({ "url": "https://example.com/", "extra": 1 }),
            "unknown properties",
        ),
    ] {
        let v = h
            .post("/api/v1/webhooks/endpoints", &h.admin(), body.clone())
            .await
            .assert_error(400, "SCHEMA_ERROR");
        assert!(v["error"].as_str().unwrap().contains(line), "{body}: {v}");
    }
    for who in [h.client(), h.server()] {
        let r = h.get("/api/v1/webhooks/endpoints", &who).await;
        assert_eq!(r.status.as_u16(), 401, "{}", r.text());
    }

    let created = h
        .post(
            "/api/v1/webhooks/endpoints",
            &h.admin(),
            json!({ "url": "https://example.com/hook", "event_types": ["user.created"], "enabled": false }),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201);
    let created = created.json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ep_"));
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        postern_core::webhooks::secret_key(&secret).is_some(),
        "{secret}"
    );
    assert_eq!(created["enabled"], false);
    assert_eq!(created["declared"], false);

    let list = h
        .get("/api/v1/webhooks/endpoints", &h.admin())
        .await
        .assert_ok();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["items"][0].get("secret").is_none(), "never listed");
    let patched = h
        .patch(
            &format!("/api/v1/webhooks/endpoints/{id}"),
            &h.admin(),
            json!({ "description": "CRM", "event_types": null }),
        )
        .await
        .assert_ok();
    assert_eq!(patched["description"], "CRM");
    assert_eq!(patched["event_types"], Value::Null);
    let got = h
        .get(
            &format!("/api/v1/webhooks/endpoints/{id}/secret"),
            &h.admin(),
        )
        .await
        .assert_ok();
    assert_eq!(got["secret"], secret.as_str());
    let rotated = h
        .post(
            &format!("/api/v1/webhooks/endpoints/{id}/secret/rotate"),
            &h.admin(),
            json!({}),
        )
        .await
        .assert_ok();
    assert_ne!(rotated["secret"], secret.as_str());
    h.delete(&format!("/api/v1/webhooks/endpoints/{id}"), &h.admin())
        .await
        .assert_ok();
    let r = h
        .get(&format!("/api/v1/webhooks/endpoints/{id}"), &h.admin())
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (404, "Webhook endpoint not found.")
    );
    let r = h
        .get("/api/v1/webhooks/endpoints/ep_nonsense", &h.admin())
        .await;
    assert_eq!(r.status.as_u16(), 404);

    // Rotation: during the window, deliveries carry both signatures.
    let sink = WebhookSink::start();
    let ep = endpoint(&h, &sink, None).await;
    let new = h
        .post(
            &format!("/api/v1/webhooks/endpoints/{ep}/secret/rotate"),
            &h.admin(),
            json!({ "keep_old_secret_millis": 60000 }),
        )
        .await
        .assert_ok()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    team(&h, "Rotated").await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got[0].header("svix-signature").split(' ').count(), 2);
    verified(&got[0], WHSEC);
    verified(&got[0], &new);
    // After the window, only the new secret signs.
    h.postern.clock().advance_millis(61_000);
    team(&h, "Later").await;
    let got = sink.wait_for(2, WAIT).await;
    assert_eq!(got[1].header("svix-signature").split(' ').count(), 1);
    verified(&got[1], &new);
    assert!(
        standardwebhooks::Webhook::new(WHSEC)
            .unwrap()
            .verify(&got[1].body, &got[1].headers)
            .is_err(),
        "the old secret no longer verifies"
    );
}

async fn svix_facade_test_event_and_replay(env: Env) {
    let h = harness(&env).await;
    let r = h
        .post("/api/v1/webhooks/svix-token", &h.admin(), json!({}))
        .await;
    assert_eq!(r.status.as_u16(), 201);
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let app = h.project.id.clone();
    let base = format!("/api/v1/webhooks/svix/api/v1/app/{app}");

    let r = h
        .post(
            &format!("{base}/endpoint"),
            &bearer(&token),
            json!({ "url": "https://example.com/svix", "filterTypes": ["team.created"], "disabled": true }),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    let svix_ep = r.json();
    assert!(svix_ep["id"].as_str().unwrap().starts_with("ep_"));
    assert_eq!(svix_ep["filterTypes"], json!(["team.created"]));
    assert_eq!(svix_ep["disabled"], true);
    for headers in [vec![], bearer("garbage"), bearer(&format!("{token}x"))] {
        let r = h.get(&format!("{base}/endpoint"), &headers).await;
        assert_eq!(r.status.as_u16(), 401, "{}", r.text());
    }
    // A token is good for its own project only.
    let r = h
        .get(
            "/api/v1/webhooks/svix/api/v1/app/other-project/endpoint",
            &bearer(&token),
        )
        .await;
    assert_eq!(r.status.as_u16(), 401);
    let listed = h
        .get(&format!("{base}/endpoint"), &bearer(&token))
        .await
        .assert_ok();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["done"], true);

    // stack.test goes to the endpoint asked for, whatever its filter.
    let sink = WebhookSink::start();
    let ep = endpoint(&h, &sink, Some(&["user.deleted"])).await;
    let r = h
        .post(
            "/api/v1/internal/send-test-webhook",
            &h.admin(),
            json!({ "endpoint_id": ep }),
        )
        .await
        .assert_ok();
    assert_eq!(r, json!({ "success": true }));
    let got = sink.wait_for(1, WAIT).await;
    let body = verified(&got[0], WHSEC);
    assert_eq!(body["type"], "stack.test");
    assert_eq!(body["data"]["endpointUrl"], sink.url.as_str());
    let r = h
        .post(
            "/api/v1/internal/send-test-webhook",
            &h.admin(),
            json!({ "endpoint_id": "ep_000000000000000000000000000" }),
        )
        .await
        .assert_ok();
    assert_eq!(
        r,
        json!({ "success": false, "error_message": "Endpoint not found. Make sure it still exists." })
    );

    // The facade's attempts and message, as Stack's tests read them.
    let attempts = h
        .get(&format!("{base}/attempt/endpoint/{ep}"), &bearer(&token))
        .await
        .assert_ok();
    let attempt = &attempts["data"][0];
    assert_eq!(attempt["status"], 0);
    assert_eq!(attempt["responseStatusCode"], 204);
    let msg_id = attempt["msgId"].as_str().unwrap().to_owned();
    assert_eq!(msg_id, got[0].header("svix-id"));
    let msg = h
        .get(
            &format!("{base}/msg/{msg_id}?with_content=true"),
            &bearer(&token),
        )
        .await
        .assert_ok();
    let mut keys: Vec<&str> = msg
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "channels",
            "eventId",
            "eventType",
            "id",
            "payload",
            "timestamp"
        ]
    );
    assert_eq!(msg["eventType"], "stack.test");
    assert_eq!(msg["payload"], body);

    // Replay: the same message (same svix-id) again, logged as manual.
    let r = h
        .post(
            &format!("/api/v1/webhooks/messages/{msg_id}/replay"),
            &h.admin(),
            json!({}),
        )
        .await
        .assert_ok();
    assert_eq!(r["queued"], 1);
    let got = sink.wait_for(2, WAIT).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].header("svix-id"), msg_id);
    assert_eq!(got[1].body, got[0].body, "the same bytes");
    let log = h
        .get(
            &format!("/api/v1/webhooks/attempts?message_id={msg_id}"),
            &h.admin(),
        )
        .await
        .assert_ok();
    assert_eq!(log["items"][0]["trigger"], "manual");
    assert_eq!(log["items"][1]["trigger"], "scheduled");

    // Replay of failures since a time.
    sink.answer(500);
    team(&h, "Fails").await; // filtered out for `ep`: nothing owed to it
    let r = h
        .post(
            "/api/v1/webhooks/replay-failed",
            &h.admin(),
            json!({ "since_millis": 0 }),
        )
        .await
        .assert_ok();
    assert_eq!(r["queued"], 0);
    let r = h
        .get(&format!("/api/v1/webhooks/messages/{msg_id}"), &h.admin())
        .await
        .assert_ok();
    assert_eq!(r["event_type"], "stack.test");
    let r = h
        .get(
            "/api/v1/webhooks/messages/msg_000000000000000000000000000",
            &h.admin(),
        )
        .await;
    assert_eq!(r.status.as_u16(), 404);
}

async fn two_instances_deliver_each_message_once(env: Env) {
    let h = harness(&env).await;
    let second = postern_core::Postern::builder(env.store.clone())
        .secret(SECRET)
        .public_url(PUBLIC_URL)
        .build()
        .expect("second instance");
    let sink = WebhookSink::start();
    endpoint(&h, &sink, None).await;
    let n = 30;
    for i in 0..n {
        team(&h, &format!("T{i}")).await;
        // Both instances look for work.
        let _ = second.deliver_webhooks().await;
    }
    let got = sink.wait_for(n, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_all = sink.received();
    assert_eq!(got.len(), n);
    assert_eq!(got_all.len(), n, "no message twice");
    let names: Vec<String> = got_all
        .iter()
        .map(|g| {
            verified(g, WHSEC)["data"]["display_name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let want: Vec<String> = (0..n).map(|i| format!("T{i}")).collect();
    assert_eq!(names, want, "in order");
}

async fn declared_endpoints_follow_the_config_file(env: Env) {
    let h = harness(&env).await;
    let sink = WebhookSink::start();
    let decl = |secret: &str, types: Option<Vec<String>>| DeclaredEndpoint {
        url: sink.url.clone(),
        secret: secret.into(),
        event_types: types,
        allow_private_addresses: true,
        description: "from the file".into(),
    };
    let hooks = h.postern.webhooks();
    hooks
        .declare(&h.project, &[decl(WHSEC, None)])
        .await
        .unwrap();
    hooks
        .declare(&h.project, &[decl(WHSEC, None)])
        .await
        .unwrap();
    let list = hooks.list(&h.project).await.unwrap();
    assert_eq!(list.len(), 1, "matched by URL, not duplicated");
    assert!(list[0].declared);
    team(&h, "Declared").await;
    verified(&sink.wait_for(1, WAIT).await[0], WHSEC);

    let other = postern_core::webhooks::generate_secret();
    hooks
        .declare(
            &h.project,
            &[decl(&other, Some(vec!["team.created".into()]))],
        )
        .await
        .unwrap();
    team(&h, "New secret").await;
    verified(&sink.wait_for(2, WAIT).await[1], &other);
    let bad = hooks
        .declare(&h.project, &[decl("whsec_short", None)])
        .await;
    assert!(format!("{:?}", bad.unwrap_err()).contains("webhook_endpoints[0].secret"));

    hooks.declare(&h.project, &[]).await.unwrap();
    assert!(
        hooks.list(&h.project).await.unwrap().is_empty(),
        "removed from the file"
    );
}

async fn an_endpoint_failing_for_five_days_is_disabled_then_replayed(env: Env) {
    let h = harness(&env).await;
    let sink = WebhookSink::start();
    sink.answer(500);
    let ep = endpoint(&h, &sink, None).await;
    team(&h, "First").await;
    sink.wait_for(1, WAIT).await;
    // The failure is recorded just after the receiver answers.
    let mut got = Value::Null;
    for _ in 0..200 {
        got = h
            .get(&format!("/api/v1/webhooks/endpoints/{ep}"), &h.admin())
            .await
            .assert_ok();
        if got["failing_since_millis"].is_number() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(got["failing_since_millis"].is_number(), "{got}");
    assert_eq!(got["enabled"], true);

    // Five days of failures later, the next failure (First's retry, due by then) disables
    // the endpoint.
    h.postern.clock().advance_millis(5 * 24 * 3_600_000 + 1_000);
    h.postern.deliver_webhooks().await.unwrap();
    let mut disabled = Value::Null;
    for _ in 0..200 {
        disabled = h
            .get(&format!("/api/v1/webhooks/endpoints/{ep}"), &h.admin())
            .await
            .assert_ok();
        if disabled["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(disabled["enabled"], false, "{disabled}");
    let before = sink.received().len();
    team(&h, "Third").await; // a disabled endpoint is owed nothing
    h.postern.clock().advance_millis(3_600_000);
    h.postern.deliver_webhooks().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sink.received().len(),
        before,
        "nothing goes to a disabled endpoint"
    );

    // Re-enabled and healthy: the failed messages are replayed, each once.
    sink.answer(0);
    h.patch(
        &format!("/api/v1/webhooks/endpoints/{ep}"),
        &h.admin(),
        json!({ "enabled": true }),
    )
    .await
    .assert_ok();
    let queued = h
        .post(
            "/api/v1/webhooks/replay-failed",
            &h.admin(),
            json!({ "endpoint_id": ep, "since_millis": 0 }),
        )
        .await
        .assert_ok()["queued"]
        .as_u64()
        .unwrap();
    assert_eq!(queued, 1, "First (Third was never owed)");
    let got = sink.wait_for(before + 1, WAIT).await;
    // (Signed with the moved clock's time: the verifier would call it from the future.)
    let names: Vec<String> = got[before..]
        .iter()
        .map(|g| {
            g.json()["data"]["display_name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["First"]);
    let again = h
        .get(&format!("/api/v1/webhooks/endpoints/{ep}"), &h.admin())
        .await
        .assert_ok();
    assert_eq!(
        again["failing_since_millis"],
        Value::Null,
        "a success ends the run"
    );
}
