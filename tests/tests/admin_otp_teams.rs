//! The admin API (internal projects, admin access tokens, key sets, config overrides), OTP
//! sign-in and personal teams: through `Postern::handle`, axum and actix, on SQLite and
//! PostgreSQL.

#[macro_use]
mod support;

use base64::Engine as _;
use postern_core::{ProjectConfig, ProjectKeys};
use serde_json::{Value, json};
use support::*;

contract_suite!(
    internal_projects_and_admin_access_tokens,
    internal_key_sets_and_config_overrides,
    otp_sign_in_creates_then_signs_in,
    personal_team_is_created_and_selected,
    totp_mfa_second_factor,
    anonymous_users_sign_up_and_upgrade_in_place,
);

const CALLBACK: &str = "http://localhost:3000/handler/magic";

/// The `internal` project of the harness's store (personal teams on), with its keys.
async fn internal(h: &H) -> ProjectKeys {
    let mut cfg = ProjectConfig::default();
    cfg.teams.create_personal_team_on_sign_up = true;
    let keys = ProjectKeys::generate();
    h.postern
        .projects()
        .upsert("internal", "Stack Dashboard", Some(cfg), Some(&keys))
        .await
        .unwrap();
    keys
}

fn internal_headers(kind: &str, keys: &ProjectKeys) -> Headers {
    vec![
        ("x-stack-access-type".into(), kind.into()),
        ("x-stack-project-id".into(), "internal".into()),
        (
            "x-stack-publishable-client-key".into(),
            keys.publishable_client_key.clone(),
        ),
        (
            "x-stack-secret-server-key".into(),
            keys.secret_server_key.clone(),
        ),
        (
            "x-stack-super-secret-admin-key".into(),
            keys.super_secret_admin_key.clone(),
        ),
    ]
}

/// `Auth.fastSignUp` in `internal`: returns (user id, access token).
async fn fast_sign_up(h: &H, keys: &ProjectKeys) -> (String, String) {
    let r = h
        .post(
            "/api/v1/users",
            &internal_headers("server", keys),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.json()["selected_team_id"],
        Value::Null,
        "as Stack: before the team"
    );
    let v = h
        .post(
            "/api/v1/auth/sessions",
            &internal_headers("server", keys),
            json!({"user_id": id, "expires_in_millis": 31_536_000_000i64, "is_impersonation": false}),
        )
        .await
        .assert_ok();
    (id, v["access_token"].as_str().unwrap().to_owned())
}

fn admin_token_headers(kind: &str, project: &str, token: &str) -> Headers {
    vec![
        ("x-stack-access-type".into(), kind.into()),
        ("x-stack-project-id".into(), project.into()),
        ("x-stack-admin-access-token".into(), token.into()),
    ]
}

async fn create_project(h: &H, keys: &ProjectKeys, at: &str, config: Value) -> Value {
    let me = with(internal_headers("client", keys), "x-stack-access-token", at);
    let user = h.get("/api/v1/users/me", &me).await.assert_ok();
    let team = user["selected_team_id"]
        .as_str()
        .expect("a personal team")
        .to_owned();
    let r = h
        .post(
            "/api/v1/internal/projects",
            &me,
            json!({"display_name": "New Project", "owner_team_id": team, "config": config}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

async fn internal_projects_and_admin_access_tokens(env: Env) {
    let h = harness(&env).await;
    let keys = internal(&h).await;
    let (_, at) = fast_sign_up(&h, &keys).await;
    let p = create_project(
        &h,
        &keys,
        &at,
        json!({"credential_enabled": true, "allow_localhost": true, "magic_link_enabled": true}),
    )
    .await;
    let pid = p["id"].as_str().unwrap().to_owned();
    assert_eq!(p["display_name"], "New Project");
    assert_eq!(p["description"], "");
    assert_eq!(p["onboarding_status"], "completed");
    assert_eq!(p["config"]["credential_enabled"], true);
    assert_eq!(p["config"]["magic_link_enabled"], true);
    assert_eq!(p["config"]["create_team_on_sign_up"], false);
    assert_eq!(
        p["config"]["team_creator_default_permissions"],
        json!([{"id": "team_admin"}])
    );
    assert_eq!(
        p["config"]["team_member_default_permissions"],
        json!([{"id": "team_member"}])
    );

    // The admin access token alone grants client, server and admin access.
    let client = admin_token_headers("client", &pid, &at);
    let v = h
        .post(
            "/api/v1/auth/password/sign-up",
            &client,
            json!({"email": "new@example.com", "password": "password123"}),
        )
        .await
        .assert_ok();
    assert!(v["access_token"].is_string());
    let users = h
        .get("/api/v1/users", &admin_token_headers("server", &pid, &at))
        .await
        .assert_ok();
    assert_eq!(users["items"].as_array().unwrap().len(), 1);
    let cur = h
        .get(
            "/api/v1/internal/projects/current",
            &admin_token_headers("admin", &pid, &at),
        )
        .await
        .assert_ok();
    assert_eq!(cur["id"], pid.as_str());
    let patched = h
        .patch(
            "/api/v1/internal/projects/current",
            &admin_token_headers("admin", &pid, &at),
            json!({"display_name": "Renamed", "config": {"sign_up_enabled": false}}),
        )
        .await
        .assert_ok();
    assert_eq!(
        (
            patched["display_name"].as_str(),
            patched["config"]["sign_up_enabled"].as_bool()
        ),
        (Some("Renamed"), Some(false))
    );
    h.get(
        "/api/v1/internal/projects/current",
        &admin_token_headers("client", &pid, &at),
    )
    .await
    .assert_error(401, "INSUFFICIENT_ACCESS_TYPE");
    let mine = h
        .get(
            "/api/v1/internal/projects",
            &with(
                internal_headers("client", &keys),
                "x-stack-access-token",
                &at,
            ),
        )
        .await
        .assert_ok();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);

    // Who may not.
    h.get(
        "/api/v1/users",
        &admin_token_headers("server", &pid, "invalid-token"),
    )
    .await
    .assert_error(401, "UNPARSABLE_ADMIN_ACCESS_TOKEN");
    let (_, stranger) = fast_sign_up(&h, &keys).await;
    h.get(
        "/api/v1/users",
        &admin_token_headers("server", &pid, &stranger),
    )
    .await
    .assert_error(401, "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN");
    let foreign = v["access_token"].as_str().unwrap();
    h.get(
        "/api/v1/users",
        &admin_token_headers("server", &pid, foreign),
    )
    .await
    .assert_error(401, "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN");
    h.get(
        "/api/v1/users",
        &admin_token_headers("server", "internal", &at),
    )
    .await
    .assert_error(401, "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN");
    // Project creation rules.
    let me = with(
        internal_headers("client", &keys),
        "x-stack-access-token",
        &stranger,
    );
    let other_team = p["owner_team_id"].as_str().unwrap();
    h.post(
        "/api/v1/internal/projects",
        &me,
        json!({"display_name": "X", "owner_team_id": other_team}),
    )
    .await
    .assert_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    h.post(
        "/api/v1/internal/projects",
        &internal_headers("client", &keys),
        json!({"display_name": "X", "owner_team_id": other_team}),
    )
    .await
    .assert_error(401, "USER_AUTHENTICATION_REQUIRED");
    h.get(
        "/api/v1/internal/projects",
        &with(
            h.client(),
            "x-stack-access-token",
            &h.sign_up("u@example.com", "password123").await.1,
        ),
    )
    .await
    .assert_error(401, "EXPECTED_INTERNAL_PROJECT");
}

async fn internal_key_sets_and_config_overrides(env: Env) {
    let h = harness(&env).await;
    let admin = h.admin();
    let r = h
        .post(
            "/api/v1/internal/api-keys",
            &admin,
            json!({"description": "ci", "expires_at_millis": 4_102_444_800_000i64,
                   "has_publishable_client_key": false, "has_secret_server_key": true, "has_super_secret_admin_key": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let set = r.json();
    assert!(set.get("publishable_client_key").is_none());
    let sak = set["super_secret_admin_key"].as_str().unwrap().to_owned();
    assert!(sak.starts_with("sak_") && sak.len() == 49);
    let id = set["id"].as_str().unwrap().to_owned();
    let with_new_key = vec![
        ("x-stack-access-type".to_owned(), "admin".to_owned()),
        ("x-stack-project-id".to_owned(), h.project.id.clone()),
        ("x-stack-super-secret-admin-key".to_owned(), sak.clone()),
    ];
    h.get("/api/v1/users", &with_new_key).await.assert_ok();
    let list = h.get("/api/v1/internal/api-keys", &admin).await.assert_ok();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "the configured set is not listed"
    );
    assert!(list["items"][0]["super_secret_admin_key"].is_object());
    assert!(!list.to_string().contains(&sak), "keys are shown once");
    let revoked = h
        .patch(
            &format!("/api/v1/internal/api-keys/{id}"),
            &admin,
            json!({"revoked": true}),
        )
        .await
        .assert_ok();
    assert!(revoked["manually_revoked_at_millis"].is_number());
    h.get("/api/v1/users", &with_new_key)
        .await
        .assert_error(401, "INVALID_SUPER_SECRET_ADMIN_KEY");
    h.post("/api/v1/internal/api-keys", &h.server(), json!({}))
        .await
        .assert_error(401, "INSUFFICIENT_ACCESS_TYPE");

    // Config overrides, through /api/latest as Stack's helpers call it.
    let r = h
        .patch(
            "/api/latest/internal/config/override/environment",
            &admin,
            json!({"config_override_string": json!({
                "onboarding": {"requireEmailVerification": true},
                "domains.trustedDomains.prod": {"baseUrl": "https://app.example.com", "handlerPath": "/handler"}
            }).to_string()}),
        )
        .await;
    assert_eq!(r.assert_ok(), json!({"success": true}));
    let cfg = h.get("/api/v1/internal/config", &admin).await.assert_ok();
    let cfg: Value = serde_json::from_str(cfg["config_string"].as_str().unwrap()).unwrap();
    assert_eq!(cfg["onboarding"]["requireEmailVerification"], true);
    assert_eq!(
        cfg["domains"]["trustedDomains"]["prod"]["baseUrl"],
        "https://app.example.com"
    );
    // Users without a verified email are now restricted.
    let (_, at, _) = h.sign_up("unverified@example.com", "password123").await;
    assert_eq!(token_claims(&at)["is_restricted"], true);
    h.get(
        "/api/v1/users/me",
        &with(h.client(), "x-stack-access-token", &at),
    )
    .await
    .assert_error(403, "RESTRICTED_USER_NOT_ALLOWED");
    let r = h
        .patch(
            "/api/v1/internal/config/override/environment",
            &admin,
            json!({"config_override_string": "{not json"}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (400, "Invalid config JSON".into())
    );
    let r = h
        .patch(
            "/api/v1/internal/config/override/environment",
            &admin,
            json!({"config_override_string": json!({"auth.allowSignUp": "yes"}).to_string()}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("auth.allowSignUp: "), "{}", r.text());
    // Typed sections are validated on override; the error names the bad key and nothing
    // of the refused override is kept.
    for (over, path) in [
        (
            json!({"rbac.permissions.a": {"scope": "team", "containedPermissionIds": {"Not An Id": true}}}),
            "rbac.permissions.a.containedPermissionIds.Not An Id",
        ),
        (
            json!({"domains.trustedDomains.bad": {"baseUrl": "https://*.example.com/*/x"}}),
            "domains.trustedDomains.bad.baseUrl",
        ),
        (
            json!({"dataVault.stores.s": {"displayName": ["list"]}, "teams.allowClientTeamCreation": true}),
            "dataVault.stores.s.displayName",
        ),
    ] {
        let r = h
            .patch(
                "/api/v1/internal/config/override/environment",
                &admin,
                json!({"config_override_string": over.to_string()}),
            )
            .await;
        assert_eq!(r.status, 400, "{over}");
        assert!(r.text().contains(path), "{over}: {}", r.text());
    }
    let after = h.get("/api/v1/internal/config", &admin).await.assert_ok();
    let after: Value = serde_json::from_str(after["config_string"].as_str().unwrap()).unwrap();
    assert_eq!(after, cfg, "refused overrides changed nothing");
    h.patch(
        "/api/v1/internal/config/override/nowhere",
        &admin,
        json!({"config_override_string": "{}"}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    let r = h
        .patch(
            "/api/v1/internal/config/override/environment",
            &h.server(),
            json!({"config_override_string": "{}"}),
        )
        .await;
    assert_eq!(r.status, 403);
}

async fn otp_sign_in_creates_then_signs_in(env: Env) {
    let mut cfg = ProjectConfig::default();
    cfg.auth.otp.allow_sign_in = true;
    let h = harness_mail(&env, cfg).await;
    let send = |email: &'static str| {
        let h = &h;
        async move {
            h.post(
                "/api/v1/auth/otp/send-sign-in-code",
                &h.client(),
                json!({"email": email, "callback_url": CALLBACK, "bot_challenge_token": "x"}),
            )
            .await
        }
    };
    let nonce = send("otp@example.com").await.assert_ok()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(nonce.len(), 39);
    let mail = &h.mails("otp@example.com", "Sign in to", 1).await[0];
    let subject = mail.subject();
    let otp = subject
        .strip_prefix("Sign in to Test project: Your code is ")
        .expect(&subject);
    assert_eq!(otp.len(), 6);
    assert!(mail.decoded().contains(&format!(">{otp}</p>")));
    assert!(mail.decoded().contains(&nonce));
    // OTP + nonce (as the UI sends it) signs up a new user with a verified email.
    let code = format!("{otp}{nonce}");
    let r = h
        .post(
            "/api/v1/auth/otp/sign-in/check-code",
            &h.client(),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.assert_ok(), json!({"is_code_valid": true}));
    let v = h
        .post(
            "/api/v1/auth/otp/sign-in",
            &h.client(),
            json!({"code": code}),
        )
        .await
        .assert_ok();
    assert_eq!(v["is_new_user"], true);
    let uid = v["user_id"].clone();
    let me = h
        .get(
            "/api/v1/users/me",
            &with(
                h.client(),
                "x-stack-access-token",
                v["access_token"].as_str().unwrap(),
            ),
        )
        .await
        .assert_ok();
    assert_eq!(
        (
            me["primary_email_verified"].as_bool(),
            me["otp_auth_enabled"].as_bool()
        ),
        (Some(true), Some(true))
    );
    h.post(
        "/api/v1/auth/otp/sign-in",
        &h.client(),
        json!({"code": code}),
    )
    .await
    .assert_error(409, "VERIFICATION_CODE_ALREADY_USED");
    // The link's code signs the same user in.
    send("otp@example.com").await.assert_ok();
    let mails = h.mails("otp@example.com", "Sign in to", 2).await;
    let link_code = mails[1].code_after(CALLBACK).unwrap();
    let v = h
        .post(
            "/api/v1/auth/otp/sign-in",
            &h.client(),
            json!({"code": link_code}),
        )
        .await
        .assert_ok();
    assert_eq!(
        (v["is_new_user"].as_bool(), &v["user_id"]),
        (Some(false), &uid)
    );
    // A wrong OTP is an unknown code.
    let wrong = format!(
        "{}{nonce}",
        if otp == "000000" { "111111" } else { "000000" }
    );
    h.post(
        "/api/v1/auth/otp/sign-in",
        &h.client(),
        json!({"code": wrong}),
    )
    .await
    .assert_error(404, "VERIFICATION_CODE_NOT_FOUND");
    // An unverified password account's email cannot be taken over by OTP.
    h.sign_up("pw@example.com", "password123").await;
    let v = send("pw@example.com")
        .await
        .assert_error(409, "USER_EMAIL_ALREADY_EXISTS");
    assert_eq!(v["details"]["would_work_if_email_was_verified"], true);
    h.post(
        "/api/v1/auth/otp/send-sign-in-code",
        &h.client(),
        json!({"email": "otp@example.com", "callback_url": "https://evil.example.com"}),
    )
    .await
    .assert_error(400, "REDIRECT_URL_NOT_WHITELISTED");

    let off = harness_mail(&env, ProjectConfig::default()).await;
    let r = off
        .post(
            "/api/v1/auth/otp/send-sign-in-code",
            &off.client(),
            json!({"email": "otp@example.com", "callback_url": CALLBACK}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (403, "OTP sign-in is not enabled for this project".into())
    );
}

async fn personal_team_is_created_and_selected(env: Env) {
    let mut cfg = ProjectConfig::default();
    cfg.teams.create_personal_team_on_sign_up = true;
    let h = harness_with(&env, cfg).await;
    let (_, at, _) = h.sign_up("team@example.com", "password123").await;
    let team_id = token_claims(&at)["selected_team_id"]
        .as_str()
        .expect("claim")
        .to_owned();
    let me = with(h.client(), "x-stack-access-token", &at);
    let v = h.get("/api/v1/users/me", &me).await.assert_ok();
    assert_eq!(v["selected_team_id"], team_id.as_str());
    assert_eq!(
        v["selected_team"],
        json!({"id": team_id, "display_name": "team@example.com's Team", "profile_image_url": null,
               "client_metadata": null, "client_read_only_metadata": null})
    );
    let uid = v["id"].as_str().unwrap().to_owned();
    let sv = h
        .get(&format!("/api/v1/users/{uid}"), &h.server())
        .await
        .assert_ok();
    assert!(sv["selected_team"]["created_at_millis"].is_number());
    let v = h
        .patch("/api/v1/users/me", &me, json!({"selected_team_id": null}))
        .await
        .assert_ok();
    assert_eq!(
        (v["selected_team_id"].clone(), v["selected_team"].clone()),
        (Value::Null, Value::Null)
    );
    let v = h
        .patch(
            "/api/v1/users/me",
            &me,
            json!({"selected_team_id": team_id}),
        )
        .await
        .assert_ok();
    assert_eq!(v["selected_team"]["id"], team_id.as_str());
    h.patch(
        "/api/v1/users/me",
        &me,
        json!({"selected_team_id": "031448ab-178b-4d43-b31b-28f16c3c52a9"}),
    )
    .await
    .assert_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    // Server-created users get one too, named after their display name.
    let r = h
        .post("/api/v1/users", &h.server(), json!({"display_name": "Ada"}))
        .await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let v = h
        .get(&format!("/api/v1/users/{id}"), &h.server())
        .await
        .assert_ok();
    assert_eq!(v["selected_team"]["display_name"], "Ada's Team");
}

async fn totp_mfa_second_factor(env: Env) {
    let h = harness(&env).await;
    let (uid, at, _) = h.sign_up("mfa@example.com", "password123").await;
    let secret: Vec<u8> = (0u8..20)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&secret);
    let me = with(h.client(), "x-stack-access-token", &at);
    let v = h
        .patch("/api/v1/users/me", &me, json!({"totp_secret_base64": b64}))
        .await
        .assert_ok();
    assert_eq!(v["requires_totp_mfa"], true);
    // The secret is sealed at rest.
    let row = h
        .postern
        .store()
        .users()
        .get(&h.project.id, uid.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let stored = row.totp_secret.unwrap();
    assert!(!stored.windows(secret.len()).any(|w| w == secret.as_slice()));
    assert!(!row.totp_proven, "enrolled by a client without a step-up");

    let sign_in = json!({"email": "mfa@example.com", "password": "password123"});
    let v = h
        .post(
            "/api/v1/auth/password/sign-in",
            &h.client(),
            sign_in.clone(),
        )
        .await
        .assert_error(400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED");
    let attempt = v["details"]["attempt_code"].as_str().unwrap().to_owned();
    assert_eq!(attempt.len(), 45);
    let good = totp_now(&h.postern, &secret);
    let bad = if good == "000000" { "111111" } else { "000000" };
    let body = |totp: &str| json!({"code": attempt, "type": "totp", "totp": totp});
    h.post("/api/v1/auth/mfa/sign-in", &h.client(), body(bad))
        .await
        .assert_error(400, "INVALID_TOTP_CODE");
    h.post(
        "/api/v1/auth/mfa/sign-in",
        &h.client(),
        json!({"code": attempt, "type": "sms", "totp": good}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    // A new attempt code if the step changed meanwhile (the code is for the current step only).
    let good = totp_now(&h.postern, &secret);
    let r = h
        .post("/api/v1/auth/mfa/sign-in", &h.client(), body(&good))
        .await;
    let v = r.assert_ok();
    assert_eq!(
        (v["is_new_user"].as_bool(), v["user_id"].as_str()),
        (Some(false), Some(uid.as_str()))
    );
    assert_eq!(
        token_claims(v["access_token"].as_str().unwrap())["requires_totp_mfa"],
        true
    );
    let row = h
        .postern
        .store()
        .users()
        .get(&h.project.id, uid.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(row.totp_proven, "a sign-in through the secret proves it");
    h.post("/api/v1/auth/mfa/sign-in", &h.client(), body(&good))
        .await
        .assert_error(409, "VERIFICATION_CODE_ALREADY_USED");
    h.post(
        "/api/v1/auth/mfa/sign-in",
        &h.client(),
        json!({"code": "0".repeat(45), "type": "totp", "totp": good}),
    )
    .await
    .assert_error(404, "VERIFICATION_CODE_NOT_FOUND");
    // Attempt codes live five minutes.
    let v = h
        .post(
            "/api/v1/auth/password/sign-in",
            &h.client(),
            sign_in.clone(),
        )
        .await
        .assert_error(400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED");
    h.postern.clock().advance_millis(5 * 60 * 1000 + 1000);
    let code = v["details"]["attempt_code"].as_str().unwrap();
    h.post(
        "/api/v1/auth/mfa/sign-in",
        &h.client(),
        json!({"code": code, "type": "totp", "totp": totp_now(&h.postern, &secret)}),
    )
    .await
    .assert_error(400, "VERIFICATION_CODE_EXPIRED");
    // Removing the secret removes the second factor; a client needs a fresh proof of it.
    let (_, at2, _) = {
        let v = h
            .post(
                "/api/v1/auth/sessions",
                &h.server(),
                json!({"user_id": uid}),
            )
            .await
            .assert_ok();
        (0, v["access_token"].as_str().unwrap().to_owned(), 0)
    };
    let me2 = with(h.client(), "x-stack-access-token", &at2);
    let v = h
        .patch(
            "/api/v1/users/me",
            &me2,
            json!({"totp_secret_base64": null}),
        )
        .await
        .assert_error(403, "STEP_UP_REQUIRED");
    assert_eq!(v["details"]["methods"], json!(["totp", "email_code"]));
    let grant = h
        .post(
            "/api/v1/auth/step-up",
            &me2,
            json!({"totp": totp_now(&h.postern, &secret)}),
        )
        .await
        .assert_ok();
    assert_eq!(grant["method"], "totp");
    let token = grant["step_up_token"].as_str().unwrap();
    h.patch(
        "/api/v1/users/me",
        &with(me2.clone(), "x-postern-step-up-token", token),
        json!({"totp_secret_base64": null}),
    )
    .await
    .assert_ok();
    h.post("/api/v1/auth/password/sign-in", &h.client(), sign_in)
        .await
        .assert_ok();
}

async fn anonymous_users_sign_up_and_upgrade_in_place(env: Env) {
    let mut cfg = ProjectConfig::default();
    cfg.teams.create_personal_team_on_sign_up = true;
    let h = harness_with(&env, cfg).await;
    let v = h
        .post("/api/v1/auth/anonymous/sign-up", &h.client(), json!({}))
        .await
        .assert_ok();
    let (uid, at) = (
        v["user_id"].as_str().unwrap().to_owned(),
        v["access_token"].as_str().unwrap().to_owned(),
    );
    let c = token_claims(&at);
    assert_eq!(
        (c["is_anonymous"].as_bool(), c["is_restricted"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(c["aud"].as_str().unwrap().ends_with(":anon"));
    let me = with(h.client(), "x-stack-access-token", &at);
    h.get("/api/v1/users/me", &me)
        .await
        .assert_error(401, "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED");
    let me = with(me, "x-stack-allow-anonymous-user", "true");
    let v = h.get("/api/v1/users/me", &me).await.assert_ok();
    assert_eq!(v["is_anonymous"], true);
    assert_eq!(v["selected_team"]["display_name"], "Personal Team");
    // Signing up while anonymous upgrades the same user.
    let v = h
        .post(
            "/api/v1/auth/password/sign-up",
            &me,
            json!({"email": "grown@example.com", "password": "password123"}),
        )
        .await
        .assert_ok();
    assert_eq!(v["user_id"], uid.as_str());
    let at2 = v["access_token"].as_str().unwrap();
    assert_eq!(token_claims(at2)["is_anonymous"], false);
    let v = h
        .get(
            "/api/v1/users/me",
            &with(h.client(), "x-stack-access-token", at2),
        )
        .await
        .assert_ok();
    assert_eq!(
        (v["is_anonymous"].as_bool(), v["primary_email"].as_str()),
        (Some(false), Some("grown@example.com"))
    );
    assert_eq!(
        v["selected_team"]["display_name"],
        "grown@example.com's Team"
    );
    // A server can upgrade too.
    let v = h
        .post("/api/v1/auth/anonymous/sign-up", &h.client(), json!({}))
        .await
        .assert_ok();
    let id = v["user_id"].as_str().unwrap();
    let v = h
        .patch(
            &format!("/api/v1/users/{id}"),
            &h.server(),
            json!({"is_anonymous": false, "display_name": "Grace"}),
        )
        .await
        .assert_ok();
    assert_eq!(v["is_anonymous"], false);
    assert_eq!(v["selected_team"]["display_name"], "Grace's Team");
}
