//! CLI login end to end (`/auth/cli`, `/poll`, `/complete`) through `Postern::handle`,
//! axum and actix, on SQLite and PostgreSQL: the CLI polls, a signed-in browser completes,
//! the CLI collects the session once; the anonymous variants; expiry; and the plain-text
//! refusals, never a 500.

#[macro_use]
mod support;

use serde_json::{Value, json};
use support::*;

contract_suite!(
    browser_completes_and_the_cli_collects_once,
    anonymous_cli_sessions,
    expired_and_unknown_codes,
    refusals_are_plain_text,
    codes_are_not_stored_and_tokens_not_kept,
);

async fn start(h: &H, body: Value) -> Value {
    h.post("/api/latest/auth/cli", &h.server(), body)
        .await
        .assert_ok()
}

async fn poll(h: &H, code: &str) -> Resp {
    h.post(
        "/api/v1/auth/cli/poll",
        &h.client(),
        json!({ "polling_code": code }),
    )
    .await
}

async fn complete(h: &H, body: Value) -> Resp {
    h.post("/api/v1/auth/cli/complete", &h.client(), body).await
}

async fn browser_completes_and_the_cli_collects_once(env: Env) {
    let h = harness(&env).await;
    let attempt = start(&h, json!({})).await;
    assert_eq!(attempt["polling_code"].as_str().unwrap().len(), 45);
    assert_eq!(attempt["login_code"].as_str().unwrap().len(), 45);
    let expires = attempt["expires_at"].as_str().unwrap();
    assert!(expires.ends_with('Z'));
    let polling = attempt["polling_code"].as_str().unwrap();
    let login = attempt["login_code"].as_str().unwrap();

    let r = poll(&h, polling).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({ "status": "waiting" }));

    let (_, _, browser_rt) = h.sign_up("cli@example.com", "password123").await;
    let r = complete(&h, json!({ "login_code": login, "mode": "check" })).await;
    assert_eq!(r.json(), json!({ "cli_session_state": "none" }));
    let r = complete(
        &h,
        json!({ "login_code": login, "refresh_token": browser_rt }),
    )
    .await;
    assert_eq!(r.json(), json!({ "success": true }));
    // Completed: the login code is spent.
    let r = complete(
        &h,
        json!({ "login_code": login, "refresh_token": browser_rt }),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "Invalid login code or the code has expired");

    let r = poll(&h, polling).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["status"], "success");
    assert_eq!(r.json()["refresh_token"], browser_rt.as_str());
    let r = poll(&h, polling).await;
    assert_eq!(r.json(), json!({ "status": "used" }));

    // The collected token works (the CLI shares the browser's session).
    let r = h
        .post(
            "/api/v1/auth/sessions/current/refresh",
            &with(h.client(), "x-stack-refresh-token", &browser_rt),
            json!({}),
        )
        .await;
    r.assert_ok();
}

async fn anonymous_cli_sessions(env: Env) {
    let h = harness(&env).await;
    let anon = h
        .post("/api/v1/auth/anonymous/sign-up", &h.client(), json!({}))
        .await
        .assert_ok();
    let anon_rt = anon["refresh_token"].as_str().unwrap();
    let attempt = start(&h, json!({ "anon_refresh_token": anon_rt })).await;
    let login = attempt["login_code"].as_str().unwrap();
    let r = complete(&h, json!({ "login_code": login, "mode": "check" })).await;
    assert_eq!(r.json(), json!({ "cli_session_state": "anonymous" }));
    let r = complete(
        &h,
        json!({ "login_code": login, "mode": "claim-anon-session" }),
    )
    .await;
    let v = r.assert_ok();
    assert_eq!(v["refresh_token"], anon_rt);
    assert_eq!(
        token_claims(v["access_token"].as_str().unwrap())["sub"],
        anon["user_id"]
    );
    // Once only.
    let r = complete(
        &h,
        json!({ "login_code": login, "mode": "claim-anon-session" }),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "No anonymous session associated with this code");
    let r = complete(&h, json!({ "login_code": login, "mode": "check" })).await;
    assert_eq!(r.json(), json!({ "cli_session_state": "none" }));

    // A regular user's token is not an anonymous session.
    let (_, _, rt) = h.sign_up("regular@example.com", "password123").await;
    let r = h
        .post(
            "/api/v1/auth/cli",
            &h.server(),
            json!({ "anon_refresh_token": rt }),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "The provided refresh token does not belong to an anonymous user"
    );
    let r = h
        .post(
            "/api/v1/auth/cli",
            &h.server(),
            json!({ "anon_refresh_token": "not-a-token" }),
        )
        .await;
    assert_eq!(r.text(), "Invalid anon refresh token");
}

async fn expired_and_unknown_codes(env: Env) {
    let h = harness(&env).await;
    let attempt = start(&h, json!({ "expires_in_millis": 1000 })).await;
    h.postern.clock().advance_millis(1_500);
    let r = poll(&h, attempt["polling_code"].as_str().unwrap()).await;
    assert_eq!(r.json(), json!({ "status": "expired" }));
    for mode in ["check", "claim-anon-session", "complete"] {
        let r = complete(
            &h,
            json!({ "login_code": attempt["login_code"], "mode": mode, "refresh_token": "x" }),
        )
        .await;
        assert_eq!(r.status, 400, "{mode}");
        assert_eq!(r.text(), "Invalid login code or the code has expired");
    }
    poll(&h, "invalid-code")
        .await
        .assert_error(400, "INVALID_POLLING_CODE");
    // Another project's codes are unknown here.
    let other = harness(&env).await;
    let theirs = start(&other, json!({})).await;
    poll(&h, theirs["polling_code"].as_str().unwrap())
        .await
        .assert_error(400, "INVALID_POLLING_CODE");
    // A lifetime over a day is refused.
    h.post(
        "/api/v1/auth/cli",
        &h.server(),
        json!({ "expires_in_millis": 86_400_001 }),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
}

async fn refusals_are_plain_text(env: Env) {
    let h = harness(&env).await;
    let attempt = start(&h, json!({})).await;
    let login = attempt["login_code"].as_str().unwrap();
    let r = complete(&h, json!({ "login_code": login })).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "refresh_token is required when mode is 'complete'"
    );
    let r = complete(&h, json!({ "login_code": login, "refresh_token": "nope" })).await;
    assert_eq!(r.text(), "Invalid refresh token");
    let r = complete(&h, json!({ "login_code": login, "mode": "other" })).await;
    r.assert_error(400, "SCHEMA_ERROR");
    let r = complete(&h, json!({ "login_code": "unknown" })).await;
    assert_eq!(r.text(), "Invalid login code or the code has expired");
    // Without project headers: the usual access error.
    let r = h
        .post(
            "/api/v1/auth/cli/poll",
            &vec![],
            json!({ "polling_code": "x" }),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.header("x-stack-known-error").is_some());
}

async fn codes_are_not_stored_and_tokens_not_kept(env: Env) {
    let h = harness(&env).await;
    let attempt = start(&h, json!({})).await;
    let polling = attempt["polling_code"].as_str().unwrap();
    let login = attempt["login_code"].as_str().unwrap();
    let (_, _, rt) = h.sign_up("kept@example.com", "password123").await;
    complete(&h, json!({ "login_code": login, "refresh_token": rt }))
        .await
        .assert_ok();
    let repo = h.postern.store().cli_auth();
    assert!(
        repo.find_by_polling_code(&h.project.id, polling)
            .await
            .unwrap()
            .is_none(),
        "codes are stored hashed"
    );
    let hash = postern_core::secrets::hash_secret(polling);
    let row = repo
        .find_by_polling_code(&h.project.id, &hash)
        .await
        .unwrap()
        .unwrap();
    let sealed = row.sealed_refresh_token.expect("a sealed token");
    assert!(!sealed.contains(&rt));
    assert_eq!(poll(&h, polling).await.status, 201);
    let row = repo
        .find_by_polling_code(&h.project.id, &hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.sealed_refresh_token, None, "cleared once collected");
}
