//! Email verification, contact channels and password reset over HTTP, with Postern's mail
//! going over real SMTP to a sink: through `Postern::handle`, axum and actix, on SQLite and
//! PostgreSQL.

#[macro_use]
mod support;

use postern_core::ProjectConfig;
use postern_core::storage::OutboxStatus;
use serde_json::{Value, json};
use support::*;

contract_suite!(
    sign_up_sends_a_verification_mail_and_the_code_verifies,
    contact_channel_crud_and_access_rules,
    verification_codes_are_single_use_expiring_and_limited,
    password_reset_flow,
    outbox_keeps_no_readable_code,
);

const CALLBACK: &str = "http://localhost:3000/handler/verify";

fn channel_path(user: &str, id: &str) -> String {
    format!("/api/v1/contact-channels/{user}/{id}")
}

async fn sign_up_verified_callback(h: &H, email: &str) -> (String, String, String) {
    let v = h
        .post(
            "/api/v1/auth/password/sign-up",
            &h.client(),
            json!({"email": email, "password": "password123", "verification_callback_url": CALLBACK}),
        )
        .await
        .assert_ok();
    (
        v["user_id"].as_str().unwrap().to_owned(),
        v["access_token"].as_str().unwrap().to_owned(),
        v["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn sign_up_sends_a_verification_mail_and_the_code_verifies(env: Env) {
    let h = harness_mail(&env, ProjectConfig::default()).await;
    let (_, at, _) = sign_up_verified_callback(&h, "Vera@Example.com").await;
    let mails = h.mails("vera@example.com", "Verify your email", 1).await;
    assert_eq!(mails[0].subject(), "Verify your email at Test project");
    assert_eq!(
        mails[0].header("from").as_deref(),
        Some("\"Test project\" <noreply@example.com>")
    );
    let code = mails[0].code_after(CALLBACK).expect("link with code");
    assert_eq!(code.len(), 45);

    let me = with(h.client(), "x-stack-access-token", &at);
    let v = h.get("/api/v1/users/me", &me).await.assert_ok();
    assert_eq!(v["primary_email_verified"], false);

    let r = h
        .post(
            "/api/v1/contact-channels/verify/check-code",
            &h.client(),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.assert_ok(), json!({"is_code_valid": true}));
    // Codes are case-insensitive (emails may show them upper-cased).
    let r = h
        .post(
            "/api/v1/contact-channels/verify",
            &h.client(),
            json!({"code": code.to_uppercase()}),
        )
        .await;
    assert_eq!(r.assert_ok(), json!({"success": true}));
    let v = h.get("/api/v1/users/me", &me).await.assert_ok();
    assert_eq!(v["primary_email_verified"], true);
    h.post(
        "/api/v1/contact-channels/verify",
        &h.client(),
        json!({"code": code}),
    )
    .await
    .assert_error(409, "VERIFICATION_CODE_ALREADY_USED");

    // Without a callback URL no mail is sent.
    h.sign_up("quiet@example.com", "password123").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(h.sink().matching("quiet@example.com", "").is_empty());

    // A callback URL outside the trusted domains is refused before anything is written.
    let mut cfg = ProjectConfig::default();
    cfg.domains.allow_localhost = false;
    let strict = harness_mail(&env, cfg).await;
    strict
        .post(
            "/api/v1/auth/password/sign-up",
            &strict.client(),
            json!({"email": "nope@example.com", "password": "password123", "verification_callback_url": CALLBACK}),
        )
        .await
        .assert_error(400, "REDIRECT_URL_NOT_WHITELISTED");
    let r = strict
        .get("/api/v1/users?query=nope", &strict.server())
        .await
        .assert_ok();
    assert_eq!(r["items"], json!([]));
}

async fn contact_channel_crud_and_access_rules(env: Env) {
    let h = harness_mail(&env, ProjectConfig::default()).await;
    let (uid, at, _) = h.sign_up("owner@example.com", "password123").await;
    let (other, other_at, _) = h.sign_up("other@example.com", "password123").await;
    let me = with(h.client(), "x-stack-access-token", &at);

    // Create (client, own user), normalised.
    let r = h
        .post(
            "/api/v1/contact-channels",
            &me,
            json!({"user_id": "me", "value": " Second@Example.com ", "type": "email", "used_for_auth": false}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let second = r.json();
    assert_eq!(
        second,
        json!({"user_id": uid, "id": second["id"], "value": "second@example.com", "type": "email",
               "used_for_auth": false, "is_verified": false, "is_primary": false})
    );
    let sid = second["id"].as_str().unwrap().to_owned();

    // Duplicates and other users.
    let r = h
        .post(
            "/api/v1/contact-channels",
            &me,
            json!({"user_id": "me", "value": "second@example.com", "type": "email", "used_for_auth": false}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (400, "Contact channel already exists".into())
    );
    let r = h
        .post(
            "/api/v1/contact-channels",
            &me,
            json!({"user_id": other, "value": "x@example.com", "type": "email", "used_for_auth": false}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        "Client can only create contact channels for their own user."
    );
    let r = h
        .post(
            "/api/v1/contact-channels",
            &me,
            json!({"user_id": "me", "value": "other@example.com", "type": "email", "used_for_auth": true}),
        )
        .await;
    let v = r.assert_error(409, "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE");
    assert_eq!(
        v["details"],
        json!({"type": "email", "contact_channel_value": "other@example.com", "would_work_if_email_was_verified": false})
    );
    // Clients cannot set is_verified; a client without a user gets Stack's error.
    let r = h
        .post(
            "/api/v1/contact-channels",
            &me,
            json!({"user_id": "me", "value": "v@example.com", "type": "email", "used_for_auth": false, "is_verified": true}),
        )
        .await;
    r.assert_error(400, "SCHEMA_ERROR");
    h.get("/api/v1/contact-channels?user_id=me", &h.client())
        .await
        .assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");

    // List: own only on the client, everything on the server.
    let v = h
        .get("/api/v1/contact-channels?user_id=me", &me)
        .await
        .assert_ok();
    assert_eq!(v["is_paginated"], false);
    let values: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["owner@example.com", "second@example.com"]);
    let r = h
        .get(&format!("/api/v1/contact-channels?user_id={other}"), &me)
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        "Client can only list contact channels for their own user."
    );
    let all = h
        .get("/api/v1/contact-channels", &h.server())
        .await
        .assert_ok();
    assert_eq!(all["items"].as_array().unwrap().len(), 3);

    // Get.
    let v = h.get(&channel_path("me", &sid), &me).await.assert_ok();
    assert_eq!(v["id"], sid.as_str());
    let r = h
        .get(
            &channel_path("me", "031448ab-178b-4d43-b31b-28f16c3c52a9"),
            &me,
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (404, "Contact channel not found.".into())
    );
    let other_me = with(h.client(), "x-stack-access-token", &other_at);
    let r = h.get(&channel_path(&uid, &sid), &other_me).await;
    assert_eq!(r.status, 403);

    // Patch: primary moves, the user's primary email follows.
    let v = h
        .patch(&channel_path("me", &sid), &me, json!({"is_primary": true}))
        .await
        .assert_ok();
    assert_eq!(v["is_primary"], true);
    let user = h.get("/api/v1/users/me", &me).await.assert_ok();
    assert_eq!(user["primary_email"], "second@example.com");
    let v = h
        .get("/api/v1/contact-channels?user_id=me", &me)
        .await
        .assert_ok();
    let primaries = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["is_primary"] == true)
        .count();
    assert_eq!(primaries, 1);
    // Changing the value resets verification (server sets it verified first).
    let v = h
        .patch(
            &channel_path(&uid, &sid),
            &h.server(),
            json!({"is_verified": true}),
        )
        .await
        .assert_ok();
    assert_eq!(v["is_verified"], true);
    let v = h
        .patch(
            &channel_path("me", &sid),
            &me,
            json!({"value": "third@example.com", "type": "email"}),
        )
        .await
        .assert_ok();
    assert_eq!(
        (v["value"].as_str(), v["is_verified"].as_bool()),
        (Some("third@example.com"), Some(false))
    );
    // used_for_auth on a value another account signs in with.
    let v = h
        .patch(
            &channel_path("me", &sid),
            &me,
            json!({"value": "other@example.com", "type": "email", "used_for_auth": true}),
        )
        .await
        .assert_error(409, "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE");
    assert_eq!(v["details"]["contact_channel_value"], Value::Null);
    let r = h
        .patch(
            &channel_path("me", "031448ab-178b-4d43-b31b-28f16c3c52a9"),
            &me,
            json!({"is_primary": true}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (400, "Contact channel not found".into())
    );

    // Delete: the primary goes, the user keeps its password.
    let r = h.delete(&channel_path("me", &sid), &me).await;
    assert_eq!(r.assert_ok(), json!({"success": true}));
    let user = h.get("/api/v1/users/me", &me).await.assert_ok();
    assert_eq!(user["primary_email"], Value::Null);
    assert_eq!(user["has_password"], true);
    let r = h.delete(&channel_path("me", &sid), &me).await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (400, "Contact channel not found".into())
    );
}

async fn verification_codes_are_single_use_expiring_and_limited(env: Env) {
    let h = harness_mail(&env, ProjectConfig::default()).await;
    let (uid, at, _) = h.sign_up("codes@example.com", "password123").await;
    let me = with(h.client(), "x-stack-access-token", &at);
    let v = h
        .get("/api/v1/contact-channels?user_id=me", &me)
        .await
        .assert_ok();
    let cid = v["items"][0]["id"].as_str().unwrap().to_owned();
    let send = format!("{}/send-verification-code", channel_path("me", &cid));

    h.post(
        &send,
        &me,
        json!({"callback_url": "https://evil.example.com/cb"}),
    )
    .await
    .assert_error(400, "REDIRECT_URL_NOT_WHITELISTED");
    let r = h
        .post(
            &format!("{}/send-verification-code", channel_path(&uid, &cid)),
            &h.client(),
            json!({"callback_url": CALLBACK}),
        )
        .await;
    r.assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    for _ in 0..2 {
        let r = h.post(&send, &me, json!({"callback_url": CALLBACK})).await;
        assert_eq!(r.assert_ok(), json!({"success": true}));
    }
    let mails = h.mails("codes@example.com", "Verify your email", 2).await;
    let first = mails[0].code_after(CALLBACK).unwrap();
    let second = mails[1].code_after(CALLBACK).unwrap();
    assert_ne!(first, second);

    // Malformed and unknown codes.
    h.post(
        "/api/v1/contact-channels/verify",
        &h.client(),
        json!({"code": "short"}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    let unknown = "0".repeat(45);
    h.post(
        "/api/v1/contact-channels/verify",
        &h.client(),
        json!({"code": unknown}),
    )
    .await
    .assert_error(404, "VERIFICATION_CODE_NOT_FOUND");
    // A verification code is unknown to the reset endpoints.
    h.post(
        "/api/v1/auth/password/reset/check-code",
        &h.client(),
        json!({"code": first}),
    )
    .await
    .assert_error(404, "VERIFICATION_CODE_NOT_FOUND");

    // Every request against a nonce counts; past 20 the code is dead.
    for _ in 0..18 {
        h.post(
            "/api/v1/contact-channels/verify/check-code",
            &h.client(),
            json!({"code": second}),
        )
        .await
        .assert_ok();
    }
    // 20 requests so far (18 + the wrong-purpose lookup above touched `first`, not `second`).
    h.post(
        "/api/v1/contact-channels/verify/check-code",
        &h.client(),
        json!({"code": second}),
    )
    .await
    .assert_ok();
    h.post(
        "/api/v1/contact-channels/verify/check-code",
        &h.client(),
        json!({"code": second}),
    )
    .await
    .assert_ok();
    h.post(
        "/api/v1/contact-channels/verify",
        &h.client(),
        json!({"code": second}),
    )
    .await
    .assert_error(400, "VERIFICATION_CODE_MAX_ATTEMPTS_REACHED");

    // An already verified channel gets no new code.
    h.patch(
        &channel_path(&uid, &cid),
        &h.server(),
        json!({"is_verified": true}),
    )
    .await
    .assert_ok();
    h.post(&send, &me, json!({"callback_url": CALLBACK}))
        .await
        .assert_error(409, "EMAIL_ALREADY_VERIFIED");
    // Legacy endpoint: the email must be the primary one, exactly.
    let v = h
        .post(
            "/api/v1/contact-channels/send-verification-code",
            &me,
            json!({"email": "someone@example.com", "callback_url": CALLBACK}),
        )
        .await
        .assert_error(400, "EMAIL_IS_NOT_PRIMARY_EMAIL");
    assert_eq!(
        v["details"],
        json!({"email": "someone@example.com", "primary_email": "codes@example.com"})
    );
    h.post(
        "/api/v1/contact-channels/send-verification-code",
        &me,
        json!({"email": "codes@example.com", "callback_url": CALLBACK}),
    )
    .await
    .assert_error(409, "EMAIL_ALREADY_VERIFIED");
    // Expiry after 7 days.
    h.postern
        .clock()
        .advance_millis(7 * 24 * 3600 * 1000 + 1000);
    h.post(
        "/api/v1/contact-channels/verify",
        &h.client(),
        json!({"code": first}),
    )
    .await
    .assert_error(400, "VERIFICATION_CODE_EXPIRED");
}

async fn password_reset_flow(env: Env) {
    let h = harness_mail(&env, ProjectConfig::default()).await;
    let (_, _, refresh) = h.sign_up("reset@example.com", "password123").await;
    let body = |email: &str, cb: &str| json!({"email": email, "callback_url": cb});
    let maybe = json!({"success": "maybe, only if user with e-mail exists"});

    let r = h
        .post(
            "/api/v1/auth/password/send-reset-code",
            &h.client(),
            body("RESET@example.com", CALLBACK),
        )
        .await;
    assert_eq!(r.assert_ok(), maybe);
    let r = h
        .post(
            "/api/v1/auth/password/send-reset-code",
            &h.client(),
            body("nobody@example.com", CALLBACK),
        )
        .await;
    assert_eq!(r.assert_ok(), maybe, "unknown emails answer the same");
    // The callback is checked whether or not the account exists.
    for email in ["reset@example.com", "nobody@example.com"] {
        h.post(
            "/api/v1/auth/password/send-reset-code",
            &h.client(),
            body(email, "https://evil.example.com"),
        )
        .await
        .assert_error(400, "REDIRECT_URL_NOT_WHITELISTED");
    }
    let mails = h.mails("reset@example.com", "Reset your password", 1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject(), "Reset your password at Test project");
    assert_eq!(
        mails[0].decoded().matches(CALLBACK).count(),
        2,
        "one link in the text part, one in the HTML part"
    );
    let code = mails[0].code_after(CALLBACK).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(h.sink().matching("nobody@example.com", "").is_empty());

    let check = json!({"code": code});
    let r = h
        .post(
            "/api/v1/auth/password/reset/check-code",
            &h.client(),
            check.clone(),
        )
        .await;
    assert_eq!(r.assert_ok(), json!({"is_code_valid": true}));
    // A weak password is refused and the link still works.
    let v = h
        .post(
            "/api/v1/auth/password/reset",
            &h.client(),
            json!({"code": code, "password": "short"}),
        )
        .await
        .assert_error(400, "PASSWORD_TOO_SHORT");
    assert_eq!(v["details"], json!({"min_length": 8}));
    let r = h
        .post(
            "/api/v1/auth/password/reset",
            &h.client(),
            json!({"code": code, "password": "a-new-password"}),
        )
        .await;
    assert_eq!(r.assert_ok(), json!({"success": true}));
    h.post("/api/v1/auth/password/reset/check-code", &h.client(), check)
        .await
        .assert_error(409, "VERIFICATION_CODE_ALREADY_USED");
    // Signed out everywhere; the new password works, the old one does not.
    h.post(
        "/api/v1/auth/sessions/current/refresh",
        &with(h.client(), "x-stack-refresh-token", &refresh),
        json!({}),
    )
    .await
    .assert_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    h.post(
        "/api/v1/auth/password/sign-in",
        &h.client(),
        json!({"email": "reset@example.com", "password": "password123"}),
    )
    .await
    .assert_error(400, "EMAIL_PASSWORD_MISMATCH");
    h.post(
        "/api/v1/auth/password/sign-in",
        &h.client(),
        json!({"email": "reset@example.com", "password": "a-new-password"}),
    )
    .await
    .assert_ok();

    // With password sign-in off, nothing is sent.
    let mut cfg = ProjectConfig::default();
    cfg.auth.password.allow_sign_in = false;
    let off = harness_mail(&env, cfg).await;
    off.post(
        "/api/v1/auth/password/send-reset-code",
        &off.client(),
        body("reset@example.com", CALLBACK),
    )
    .await
    .assert_error(400, "PASSWORD_AUTHENTICATION_NOT_ENABLED");
}

async fn outbox_keeps_no_readable_code(env: Env) {
    let h = harness_mail(&env, ProjectConfig::default()).await;
    sign_up_verified_callback(&h, "sealed@example.com").await;
    let mail = &h.mails("sealed@example.com", "Verify your email", 1).await[0];
    let code = mail.code_after(CALLBACK).unwrap();
    // Delivered: marked sent, payload erased; the code appears in no outbox row.
    // The sign-up's `user.created` event is in the outbox too, held for webhooks.
    let mut rows = Vec::new();
    let mut mail = Vec::new();
    for _ in 0..100 {
        rows = h
            .postern
            .store()
            .outbox()
            .list(&h.project.id)
            .await
            .unwrap();
        mail = rows
            .iter()
            .filter(|r| r.kind != postern_core::events::EVENT_KIND)
            .cloned()
            .collect::<Vec<_>>();
        if mail.iter().all(|r| r.status == OutboxStatus::Sent) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].status, OutboxStatus::Sent);
    assert!(mail[0].payload.is_empty());
    assert!(rows.iter().all(|r| !r.payload.contains(&code)));
}
