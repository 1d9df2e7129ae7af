//! The HTTP contract suite: every scenario through `Postern::handle`, the axum router and
//! the actix app, each on SQLite and on PostgreSQL (module names say which).
//! Adding a scenario: write `async fn name(env: Env)` and list it in `contract_suite!`.

#[macro_use]
mod support;

use base64::Engine as _;
use http::Method;
use postern_core::ProjectConfig;
use serde_json::{Value, json};
use support::*;

contract_suite!(
    root_describes_authentication,
    sign_up_me_refresh_sign_out,
    access_token_verifies_against_jwks,
    wrong_password_and_unknown_email_look_the_same,
    duplicate_email_in_other_case_conflicts,
    sign_up_validation,
    malformed_bodies_are_client_errors,
    project_authentication_errors,
    access_token_errors,
    server_user_crud,
    user_list_pagination_and_search,
    client_cannot_write_server_fields,
    user_update_semantics,
    password_update_and_set,
    sessions_list_create_delete,
    delete_me_rules,
    project_current_and_jwks,
    oauth_token_refresh_grant,
    override_error_status_and_cors,
    config_switches,
    concurrent_sign_ups_create_one_user,
    unknown_routes_and_methods,
    user_api_keys_lifecycle,
    user_api_keys_access_rules,
    imported_bcrypt_hash_signs_in_and_is_upgraded,
    openapi_document_lists_every_route,
    a_field_that_cannot_be_read_fails_once,
    concurrent_config_changes_are_all_kept,
);

async fn root_describes_authentication(env: Env) {
    let h = harness(&env).await;
    let r = h.get("/api/v1", &vec![]).await;
    assert_eq!(r.status, 200);
    assert!(r.text().ends_with("Authentication: None"), "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let (_, at, _) = h.sign_up("root@example.com", "password123").await;
    let r = h
        .get("/api/v1/", &with(h.server(), "x-stack-access-token", &at))
        .await;
    assert!(
        r.text().contains(&format!(
            "Authentication: Server\n  Project: {}\n  User: root@example.com",
            h.project.id
        )),
        "{}",
        r.text()
    );
    h.get("/api/v1?x=1", &vec![])
        .await
        .assert_error(400, "SCHEMA_ERROR");
    let r = h.get("/api/latest", &vec![]).await;
    assert_eq!(r.status, 200, "same routes under /api/latest");
}

async fn sign_up_me_refresh_sign_out(env: Env) {
    let h = harness(&env).await;
    let (user_id, at, rt) = h.sign_up("Alice@Example.com", "password123").await;
    assert_eq!(rt.len(), 45);
    let me = h
        .get(
            "/api/v1/users/me",
            &with(h.client(), "x-stack-access-token", &at),
        )
        .await
        .assert_ok();
    assert_eq!(me["id"], user_id.as_str());
    assert_eq!(me["primary_email"], "alice@example.com", "normalised");
    assert_eq!(me["primary_email_verified"], false);
    assert_eq!(me["has_password"], true);
    assert_eq!(me.as_object().unwrap().len(), 21, "client view");
    assert!(me.get("server_metadata").is_none());

    // Refresh through the header endpoint (no access token sent).
    let r = h
        .post(
            "/api/v1/auth/sessions/current/refresh",
            &with(h.client(), "x-stack-refresh-token", &rt),
            json!({}),
        )
        .await;
    let at2 = r.assert_ok()["access_token"].as_str().unwrap().to_owned();
    let me = h
        .get(
            "/api/v1/users/me",
            &with(h.server(), "x-stack-access-token", &at2),
        )
        .await
        .assert_ok();
    assert_eq!(me.as_object().unwrap().len(), 27, "server view");
    assert!(
        me["last_active_at_millis"].as_i64().unwrap()
            >= me["signed_up_at_millis"].as_i64().unwrap()
    );

    // Sign out: the session is gone, its refresh token stops working.
    h.call(
        Method::DELETE,
        "/api/v1/auth/sessions/current",
        &with(h.client(), "x-stack-access-token", &at2),
        Some(json!({})),
    )
    .await
    .assert_ok();
    h.post(
        "/api/v1/auth/sessions/current/refresh",
        &with(h.client(), "x-stack-refresh-token", &rt),
        json!({}),
    )
    .await
    .assert_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    h.call(
        Method::DELETE,
        "/api/v1/auth/sessions/current",
        &with(h.client(), "x-stack-access-token", &at2),
        None,
    )
    .await
    .assert_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    // Without an access token, sign-out asks the SDK to refresh (Stack's transition behaviour).
    h.call(
        Method::DELETE,
        "/api/v1/auth/sessions/current",
        &h.client(),
        None,
    )
    .await
    .assert_error(401, "ACCESS_TOKEN_EXPIRED");
    // Refresh header missing.
    h.post(
        "/api/v1/auth/sessions/current/refresh",
        &h.client(),
        json!({}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    // users/me without a token.
    h.get("/api/v1/users/me", &h.client())
        .await
        .assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
}

async fn access_token_verifies_against_jwks(env: Env) {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
    let h = harness(&env).await;
    let (user_id, at, _) = h.sign_up("jwt@example.com", "password123").await;
    let jwks: JwkSet = serde_json::from_value(
        h.get(
            &format!("/api/v1/projects/{}/.well-known/jwks.json", h.project.id),
            &vec![],
        )
        .await
        .assert_ok(),
    )
    .unwrap();
    let header = jsonwebtoken::decode_header(&at).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert!(header.typ.is_none(), "Stack's header has no typ");
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid published in the JWKS");
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&[h.project.id.as_str()]);
    v.set_issuer(&[format!("{PUBLIC_URL}/api/v1/projects/{}", h.project.id)]);
    let data = jsonwebtoken::decode::<Value>(&at, &DecodingKey::from_jwk(jwk).unwrap(), &v)
        .expect("verifies");
    let c = data.claims;
    assert_eq!(c["sub"], user_id.as_str());
    assert_eq!(c["project_id"], h.project.id.as_str());
    assert_eq!(c["branch_id"], "main");
    assert_eq!(c["role"], "authenticated");
    assert_eq!(c["email"], "jwt@example.com");
    assert_eq!(c["is_anonymous"], false);
    assert_eq!(c["is_restricted"], false);
    assert_eq!(c["restricted_reason"], Value::Null);
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    for k in [
        "refresh_token_id",
        "name",
        "email_verified",
        "selected_team_id",
        "signed_up_at",
        "requires_totp_mfa",
    ] {
        assert!(c.get(k).is_some(), "claim {k}");
    }
}

async fn wrong_password_and_unknown_email_look_the_same(env: Env) {
    let h = harness(&env).await;
    h.sign_up("bob@example.com", "password123").await;
    let a = h
        .post(
            "/api/v1/auth/password/sign-in",
            &h.client(),
            json!({"email": "bob@example.com", "password": "wrong-pass"}),
        )
        .await;
    let b = h
        .post(
            "/api/v1/auth/password/sign-in",
            &h.client(),
            json!({"email": "nobody@example.com", "password": "wrong-pass"}),
        )
        .await;
    let va = a.assert_error(400, "EMAIL_PASSWORD_MISMATCH");
    let vb = b.assert_error(400, "EMAIL_PASSWORD_MISMATCH");
    assert_eq!(va, vb);
    assert_eq!(va["error"], "Wrong e-mail or password.");
    // The right password works, also with the email in other letter case.
    let ok = h
        .post(
            "/api/v1/auth/password/sign-in",
            &h.client(),
            json!({"email": "BOB@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(
        ok.assert_ok().as_object().unwrap().len(),
        3,
        "shape A: access_token, refresh_token, user_id"
    );
}

async fn duplicate_email_in_other_case_conflicts(env: Env) {
    let h = harness(&env).await;
    h.sign_up("carol@example.com", "password123").await;
    let r = h
        .post(
            "/api/v1/auth/password/sign-up",
            &h.client(),
            json!({"email": "CAROL@Example.com", "password": "password456"}),
        )
        .await;
    let v = r.assert_error(409, "USER_EMAIL_ALREADY_EXISTS");
    assert_eq!(
        v["details"],
        json!({"email": "carol@example.com", "would_work_if_email_was_verified": false})
    );
}

async fn sign_up_validation(env: Env) {
    let h = harness(&env).await;
    let v = h
        .post(
            "/api/v1/auth/password/sign-up",
            &h.client(),
            json!({"email": "d@example.com", "password": "short"}),
        )
        .await
        .assert_error(400, "PASSWORD_TOO_SHORT");
    assert_eq!(v["details"], json!({"min_length": 8}));
    let v = h
        .post(
            "/api/v1/auth/password/sign-up",
            &h.client(),
            json!({"email": "d@example.com", "password": "a".repeat(71)}),
        )
        .await
        .assert_error(400, "SCHEMA_ERROR");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("body.password must be at most 70 characters")
    );
    let v = h
        .post(
            "/api/v1/auth/password/sign-up",
            &h.client(),
            json!({"email": "test@localhost", "password": "password123"}),
        )
        .await
        .assert_error(400, "SCHEMA_ERROR");
    assert_eq!(
        v["error"],
        "Request validation failed on POST /api/v1/auth/password/sign-up:\n  - body.email must be a valid email"
    );
    assert_eq!(v["details"]["message"], v["error"]);
    h.post(
        "/api/v1/auth/password/sign-up",
        &h.client(),
        json!({"email": "d@example.com", "password": "password123", "verification_callback_url": "https://evil.example.org/cb"}),
    )
    .await
    .assert_error(400, "REDIRECT_URL_NOT_WHITELISTED");
    // Nothing was created by the failed attempts.
    let list = h.get("/api/v1/users", &h.server()).await.assert_ok();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

async fn malformed_bodies_are_client_errors(env: Env) {
    let h = harness(&env).await;
    let r = h
        .raw(
            Method::POST,
            "/api/v1/auth/password/sign-in",
            &h.client(),
            Some("application/json"),
            "{not json".into(),
        )
        .await;
    let v = r.assert_error(400, "BODY_PARSING_ERROR");
    assert_eq!(v["error"], "Invalid JSON in request body");
    let r = h
        .raw(
            Method::POST,
            "/api/v1/auth/password/sign-in",
            &h.client(),
            Some("image/png"),
            "x".into(),
        )
        .await;
    r.assert_error(400, "BODY_PARSING_ERROR");
    let v = h
        .post(
            "/api/v1/auth/password/sign-in",
            &h.client(),
            json!({"email": "a@b.co", "password": "x", "admin": true}),
        )
        .await
        .assert_error(400, "SCHEMA_ERROR");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("body contains unknown properties: admin")
    );
    let v = h
        .call(
            Method::POST,
            "/api/v1/auth/password/sign-in",
            &h.client(),
            None,
        )
        .await
        .assert_error(400, "SCHEMA_ERROR");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("body must be defined")
    );
    h.post("/api/v1/auth/password/sign-in", &h.client(), json!([1, 2]))
        .await
        .assert_error(400, "SCHEMA_ERROR");
    h.post(
        "/api/v1/auth/password/sign-in",
        &h.client(),
        json!({"email": 5, "password": null}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    let big = "x".repeat(postern_core::rest::MAX_BODY_BYTES + 1);
    let r = h
        .raw(
            Method::POST,
            "/api/v1/auth/password/sign-in",
            &h.client(),
            Some("application/json"),
            big.into(),
        )
        .await;
    assert_eq!(r.status, 413);
}

async fn project_authentication_errors(env: Env) {
    let h = harness(&env).await;
    h.get("/api/v1/users/me", &vec![])
        .await
        .assert_error(400, "ACCESS_TYPE_REQUIRED");
    let keyed = vec![(
        "x-stack-secret-server-key".to_owned(),
        h.keys.secret_server_key.clone(),
    )];
    h.get("/api/v1/users/me", &keyed)
        .await
        .assert_error(400, "PROJECT_KEY_WITHOUT_ACCESS_TYPE");
    let bad = vec![
        ("x-stack-access-type".to_owned(), "root".to_owned()),
        ("x-stack-project-id".to_owned(), h.project.id.clone()),
    ];
    h.get("/api/v1/users/me", &bad)
        .await
        .assert_error(400, "INVALID_ACCESS_TYPE");
    let v = h
        .get(
            "/api/v1/users/me",
            &vec![("x-stack-access-type".to_owned(), "client".to_owned())],
        )
        .await
        .assert_error(400, "ACCESS_TYPE_WITHOUT_PROJECT_ID");
    assert_eq!(v["details"], json!({"request_type": "client"}));
    let mut other = h.client();
    other[1].1 = "no-such-project".into();
    let v = h
        .get("/api/v1/users/me", &other)
        .await
        .assert_error(400, "CURRENT_PROJECT_NOT_FOUND");
    assert_eq!(v["details"]["project_id"], "no-such-project");
    let mut wrong = h.server();
    wrong[2].1 = "ssk_wrong".into();
    h.get("/api/v1/users", &wrong)
        .await
        .assert_error(401, "INVALID_SECRET_SERVER_KEY");
    let mut client_key_as_server = h.server();
    client_key_as_server[2].1 = h.keys.publishable_client_key.clone();
    h.get("/api/v1/users", &client_key_as_server)
        .await
        .assert_error(401, "INVALID_SECRET_SERVER_KEY");
    h.get("/api/v1/users", &h.server()[..2].to_vec())
        .await
        .assert_error(401, "SERVER_AUTHENTICATION_REQUIRED");
    h.get("/api/v1/users", &h.admin()[..2].to_vec())
        .await
        .assert_error(401, "ADMIN_AUTHENTICATION_REQUIRED");
    let mut wrong_admin = h.admin();
    wrong_admin[2].1 = "sak_x".into();
    h.get("/api/v1/users", &wrong_admin)
        .await
        .assert_error(401, "INVALID_SUPER_SECRET_ADMIN_KEY");
    h.get("/api/v1/users", &h.admin()).await.assert_ok();
    let mut wrong_pck = h.client();
    wrong_pck[2].1 = "pck_nope".into();
    h.get("/api/v1/projects/current", &wrong_pck)
        .await
        .assert_error(401, "INVALID_PUBLISHABLE_CLIENT_KEY");
    // Keyless client access and the public sentinel are allowed by default.
    h.get("/api/v1/projects/current", &h.client()[..2].to_vec())
        .await
        .assert_ok();
    h.get(
        "/api/v1/projects/current",
        &with(
            h.client()[..2].to_vec(),
            "x-stack-publishable-client-key",
            "__stack_public_client__",
        ),
    )
    .await
    .assert_ok();
    let v = h
        .get("/api/v1/users", &h.client())
        .await
        .assert_error(401, "INSUFFICIENT_ACCESS_TYPE");
    assert_eq!(
        v["details"],
        json!({"actual_access_type": "client", "allowed_access_types": ["server", "admin"]})
    );
    h.get(
        "/api/v1/users/me",
        &with(h.client(), "x-stack-branch-id", "dev"),
    )
    .await
    .assert_error(400, "BRANCH_DOES_NOT_EXIST");
    // The Hexclave spelling of every header works too.
    let hex: Headers = h
        .server()
        .into_iter()
        .map(|(k, v)| (k.replace("x-stack-", "x-hexclave-"), v))
        .collect();
    h.get("/api/v1/users", &hex).await.assert_ok();
}

async fn access_token_errors(env: Env) {
    let h = harness(&env).await;
    let (_, at, _) = h.sign_up("tok@example.com", "password123").await;
    h.get(
        "/api/v1/users/me",
        &with(h.client(), "x-stack-access-token", "not.a.jwt"),
    )
    .await
    .assert_error(401, "UNPARSABLE_ACCESS_TOKEN");
    let mut tampered = at.clone();
    tampered.replace_range(at.len() - 4.., "AAAA");
    h.get(
        "/api/v1/users/me",
        &with(h.client(), "x-stack-access-token", &tampered),
    )
    .await
    .assert_error(401, "UNPARSABLE_ACCESS_TOKEN");
    // A token of another project.
    let (p2, _) = h
        .postern
        .projects()
        .create(None, "Other", ProjectConfig::default())
        .await
        .unwrap();
    let mut other = h.client()[..2].to_vec();
    other[1].1 = p2.id.clone();
    let v = h
        .get(
            "/api/v1/users/me",
            &with(other, "x-stack-access-token", &at),
        )
        .await
        .assert_error(401, "INVALID_PROJECT_FOR_ACCESS_TOKEN");
    assert_eq!(
        v["details"],
        json!({"expected_project_id": p2.id, "actual_project_id": h.project.id})
    );
    // Expiry, with Stack's details.
    h.postern.clock().advance_millis(601_000);
    let v = h
        .get(
            "/api/v1/users/me",
            &with(h.client(), "x-stack-access-token", &at),
        )
        .await
        .assert_error(401, "ACCESS_TOKEN_EXPIRED");
    assert!(v["details"]["expired_at_millis"].is_i64());
    assert!(v["details"]["user_id"].is_string());
    // A server signing with another secret cannot forge tokens for this one.
    let forger = postern_core::Postern::builder(env.store.clone())
        .secret("another-secret-0123456789")
        .public_url(PUBLIC_URL)
        .build()
        .unwrap();
    let user = h
        .postern
        .users()
        .get(
            &h.project,
            uuid::Uuid::parse_str(
                h.get("/api/v1/users", &h.server()).await.json()["items"][0]["id"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    let forged = forger
        .sessions()
        .mint(&h.project, &user, uuid::Uuid::new_v4())
        .unwrap();
    h.get(
        "/api/v1/users/me",
        &with(h.client(), "x-stack-access-token", &forged),
    )
    .await
    .assert_error(401, "UNPARSABLE_ACCESS_TOKEN");
}

async fn server_user_crud(env: Env) {
    let h = harness(&env).await;
    let r = h.post(
        "/api/v1/users",
        &h.server(),
        json!({"primary_email": "New@Example.com", "display_name": "New", "server_metadata": {"plan": "pro"}, "primary_email_auth_enabled": true, "password": "pw"}),
    )
    .await;
    assert_eq!(r.status, 201);
    let u = r.json();
    assert_eq!(u["primary_email"], "new@example.com");
    assert_eq!(u["primary_email_auth_enabled"], true);
    assert_eq!(
        u["has_password"], true,
        "no minimum length on the server path"
    );
    assert_eq!(u["server_metadata"], json!({"plan": "pro"}));
    let id = u["id"].as_str().unwrap().to_owned();
    // The created user can sign in.
    h.post(
        "/api/v1/auth/password/sign-in",
        &h.client(),
        json!({"email": "new@example.com", "password": "pw"}),
    )
    .await
    .assert_ok();
    let mut got = h
        .get(&format!("/api/v1/users/{id}"), &h.server())
        .await
        .assert_ok();
    assert!(
        got["last_active_at_millis"].as_i64() >= u["last_active_at_millis"].as_i64(),
        "sign-in bumps activity"
    );
    got["last_active_at_millis"] = u["last_active_at_millis"].clone();
    assert_eq!(got, u);
    let p = h
        .patch(
            &format!("/api/v1/users/{id}"),
            &h.server(),
            json!({"display_name": "", "client_read_only_metadata": {"x": 1}}),
        )
        .await
        .assert_ok();
    assert_eq!(
        p["display_name"],
        Value::Null,
        "empty string is stored as null"
    );
    assert_eq!(p["client_read_only_metadata"], json!({"x": 1}));
    // An empty body creates an empty user.
    let empty = h.post("/api/v1/users", &h.server(), json!({})).await;
    assert_eq!(empty.status, 201);
    assert_eq!(empty.json()["primary_email"], Value::Null);
    // Duplicate auth email.
    h.post(
        "/api/v1/users",
        &h.server(),
        json!({"primary_email": "new@example.com", "primary_email_auth_enabled": true}),
    )
    .await
    .assert_error(409, "USER_EMAIL_ALREADY_EXISTS");
    // A non-auth duplicate is fine.
    assert_eq!(
        h.post(
            "/api/v1/users",
            &h.server(),
            json!({"primary_email": "new@example.com"})
        )
        .await
        .status,
        201
    );
    assert_eq!(
        h.delete(&format!("/api/v1/users/{id}"), &h.server())
            .await
            .assert_ok(),
        json!({"success": true})
    );
    h.get(&format!("/api/v1/users/{id}"), &h.server())
        .await
        .assert_error(404, "USER_NOT_FOUND");
    h.delete(&format!("/api/v1/users/{id}"), &h.server())
        .await
        .assert_error(404, "USER_NOT_FOUND");
    h.patch(
        &format!("/api/v1/users/{id}"),
        &h.server(),
        json!({"display_name": "x"}),
    )
    .await
    .assert_error(404, "USER_NOT_FOUND");
    let v = h
        .get("/api/v1/users/not-a-uuid", &h.server())
        .await
        .assert_error(400, "SCHEMA_ERROR");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("params.user_id must be a valid UUID")
    );
    h.post(
        "/api/v1/users",
        &h.server(),
        json!({"password": "a", "password_hash": "b"}),
    )
    .await;
    let r = h
        .post(
            "/api/v1/users",
            &h.server(),
            json!({"password_hash": "$2b$10$invalid"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "Invalid password hash. Make sure it's a supported algorithm in Modular Crypt Format."
    );
    let r = h
        .post(
            "/api/v1/users",
            &h.server(),
            json!({"primary_email_verified": true}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (
            400,
            "primary_email_verified cannot be true without primary_email"
        )
    );
}

async fn user_list_pagination_and_search(env: Env) {
    let h = harness(&env).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = h.post("/api/v1/users", &h.server(), json!({"primary_email": format!("u{i}@example.com"), "display_name": format!("User {i}")})).await;
        ids.push(r.json()["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users?limit=2&cursor={c}"),
            None => "/api/v1/users?limit=2".to_owned(),
        };
        let page = h.get(&path, &h.server()).await.assert_ok();
        assert_eq!(page["is_paginated"], true);
        for u in page["items"].as_array().unwrap() {
            seen.push(u["id"].as_str().unwrap().to_owned());
        }
        match page["pagination"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "paging walks every user once, in sign-up order");
    let all = h
        .get("/api/v1/users?desc=true", &h.server())
        .await
        .assert_ok();
    let desc: Vec<String> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(desc, ids.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(all["pagination"]["next_cursor"], Value::Null);
    let found = h
        .get("/api/v1/users?query=U3%40EXAMPLE", &h.server())
        .await
        .assert_ok();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["id"], ids[3].as_str());
    let by_name = h
        .get("/api/v1/users?query=user%202", &h.server())
        .await
        .assert_ok();
    assert_eq!(by_name["items"][0]["id"], ids[2].as_str());
    h.get("/api/v1/users?limit=0", &h.server())
        .await
        .assert_error(400, "SCHEMA_ERROR");
    h.get("/api/v1/users?bogus=1", &h.server())
        .await
        .assert_error(400, "SCHEMA_ERROR");
    let r = h
        .get("/api/v1/users?only_anonymous=true", &h.server())
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (400, "only_anonymous=true requires include_anonymous=true")
    );
    // Anonymous and restricted users are left out unless asked for.
    h.post("/api/v1/users", &h.server(), json!({"is_anonymous": true}))
        .await;
    h.post(
        "/api/v1/users",
        &h.server(),
        json!({"restricted_by_admin": true, "restricted_by_admin_reason": "spam"}),
    )
    .await;
    assert_eq!(
        h.get("/api/v1/users", &h.server()).await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        h.get("/api/v1/users?include_restricted=true", &h.server())
            .await
            .json()["items"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    assert_eq!(
        h.get("/api/v1/users?include_anonymous=true", &h.server())
            .await
            .json()["items"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    assert_eq!(
        h.get(
            "/api/v1/users?include_anonymous=true&only_anonymous=true",
            &h.server()
        )
        .await
        .json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn client_cannot_write_server_fields(env: Env) {
    let h = harness(&env).await;
    let (_, at, _) = h.sign_up("eve@example.com", "password123").await;
    let c = with(h.client(), "x-stack-access-token", &at);
    let v = h
        .patch(
            "/api/v1/users/me",
            &c,
            json!({"server_metadata": {"admin": true}}),
        )
        .await
        .assert_error(400, "SCHEMA_ERROR");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("body contains unknown properties: server_metadata")
    );
    h.patch(
        "/api/v1/users/me",
        &c,
        json!({"client_read_only_metadata": {"x": 1}}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    h.patch(
        "/api/v1/users/me",
        &c,
        json!({"primary_email_verified": true}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    let u = h
        .patch(
            "/api/v1/users/me",
            &c,
            json!({"client_metadata": {"theme": "dark"}, "display_name": "Eve"}),
        )
        .await
        .assert_ok();
    assert_eq!(u["client_metadata"], json!({"theme": "dark"}));
    assert_eq!(u["display_name"], "Eve");
    let r = h
        .patch(
            "/api/v1/users/me",
            &c,
            json!({"profile_image_url": "https://evil.example/x.png"}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (400, "Invalid profile image URL")
    );
    h.patch(
        "/api/v1/users/me",
        &c,
        json!({"profile_image_url": "data:image/png;base64,iVBORw0KGgo="}),
    )
    .await
    .assert_ok();
    // The server sees nothing written to server fields.
    let id = u["id"].as_str().unwrap();
    let s = h
        .get(&format!("/api/v1/users/{id}"), &h.server())
        .await
        .assert_ok();
    assert_eq!(s["server_metadata"], Value::Null);
    // The client cannot read another user.
    h.get(&format!("/api/v1/users/{id}"), &c)
        .await
        .assert_error(401, "INSUFFICIENT_ACCESS_TYPE");
}

async fn user_update_semantics(env: Env) {
    let h = harness(&env).await;
    let (id, at, rt) = h.sign_up("frank@example.com", "password123").await;
    let path = format!("/api/v1/users/{id}");
    // Changing the primary email keeps auth on the new address, unverified.
    let u = h
        .patch(
            &path,
            &h.server(),
            json!({"primary_email": "Frank2@Example.com"}),
        )
        .await
        .assert_ok();
    assert_eq!(u["primary_email"], "frank2@example.com");
    assert_eq!(u["primary_email_verified"], false);
    assert_eq!(u["primary_email_auth_enabled"], true);
    h.post(
        "/api/v1/auth/password/sign-in",
        &h.client(),
        json!({"email": "frank2@example.com", "password": "password123"}),
    )
    .await
    .assert_ok();
    let u = h
        .patch(&path, &h.server(), json!({"primary_email_verified": true}))
        .await
        .assert_ok();
    assert_eq!(u["primary_email_verified"], true);
    // Another user cannot take the auth email.
    let (_, _, _) = h.sign_up("grace@example.com", "password123").await;
    let (gid, _, _) = (
        h.get("/api/v1/users?query=grace", &h.server()).await.json()["items"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        0,
        0,
    );
    h.patch(
        &format!("/api/v1/users/{gid}"),
        &h.server(),
        json!({"primary_email": "frank2@example.com"}),
    )
    .await
    .assert_error(409, "USER_EMAIL_ALREADY_EXISTS");
    // Selected team must be a membership.
    let v = h
        .patch(
            &path,
            &h.server(),
            json!({"selected_team_id": uuid::Uuid::new_v4()}),
        )
        .await
        .assert_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    assert!(v["details"]["team_id"].is_string());
    // Restriction rules.
    let r = h
        .patch(
            &path,
            &h.server(),
            json!({"restricted_by_admin_reason": "x"}),
        )
        .await;
    r.assert_error(400, "SCHEMA_ERROR");
    let u = h
        .patch(
            &path,
            &h.server(),
            json!({"restricted_by_admin": true, "restricted_by_admin_reason": "spam"}),
        )
        .await
        .assert_ok();
    assert_eq!(u["is_restricted"], true);
    assert_eq!(
        u["restricted_reason"],
        json!({"type": "restricted_by_administrator"})
    );
    // A restricted user's old normal token still works until refresh; the refreshed token is restricted.
    let r = h
        .post(
            "/api/v1/auth/sessions/current/refresh",
            &with(h.client(), "x-stack-refresh-token", &rt),
            json!({}),
        )
        .await;
    let restricted_at = r.assert_ok()["access_token"].as_str().unwrap().to_owned();
    let v = h
        .get(
            "/api/v1/users/me",
            &with(h.client(), "x-stack-access-token", &restricted_at),
        )
        .await
        .assert_error(403, "RESTRICTED_USER_NOT_ALLOWED");
    assert_eq!(
        v["details"],
        json!({"restricted_reason": {"type": "restricted_by_administrator"}})
    );
    h.get(
        "/api/v1/users/me",
        &with(
            with(h.client(), "x-stack-access-token", &restricted_at),
            "x-stack-allow-restricted-user",
            "true",
        ),
    )
    .await
    .assert_ok();
    h.get(
        "/api/v1/users/me",
        &with(h.client(), "x-stack-access-token", &at),
    )
    .await
    .assert_ok();
    let u = h
        .patch(&path, &h.server(), json!({"restricted_by_admin": false}))
        .await
        .assert_ok();
    assert_eq!(u["restricted_by_admin_reason"], Value::Null);
    // Removing the primary email keeps the channel but the user has no primary.
    let u = h
        .patch(&path, &h.server(), json!({"primary_email": null}))
        .await
        .assert_ok();
    assert_eq!(u["primary_email"], Value::Null);
    assert_eq!(u["primary_email_auth_enabled"], false);
    // Setting a password through PATCH deletes every session.
    h.patch(&path, &h.server(), json!({"password": "newpassword1"}))
        .await
        .assert_ok();
    h.post(
        "/api/v1/auth/sessions/current/refresh",
        &with(h.client(), "x-stack-refresh-token", &rt),
        json!({}),
    )
    .await
    .assert_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    h.patch(&path, &h.server(), json!({"is_anonymous": true}))
        .await
        .assert_error(400, "SCHEMA_ERROR");
    let r = h
        .patch(&path, &h.server(), json!({"passkey_auth_enabled": true}))
        .await;
    assert_eq!(r.status, 400);
}

async fn password_update_and_set(env: Env) {
    let h = harness_mail(&env, ProjectConfig::default()).await;
    let (_, at, rt) = h.sign_up("heidi@example.com", "password123").await;
    let other = h
        .post(
            "/api/v1/auth/password/sign-in",
            &h.client(),
            json!({"email": "heidi@example.com", "password": "password123"}),
        )
        .await
        .assert_ok();
    let other_rt = other["refresh_token"].as_str().unwrap().to_owned();
    let c = with(h.client(), "x-stack-access-token", &at);
    h.post(
        "/api/v1/auth/password/update",
        &c,
        json!({"old_password": "wrong-one", "new_password": "newpassword1"}),
    )
    .await
    .assert_error(400, "PASSWORD_CONFIRMATION_MISMATCH");
    h.post(
        "/api/v1/auth/password/update",
        &c,
        json!({"old_password": "password123", "new_password": "short"}),
    )
    .await
    .assert_error(400, "PASSWORD_TOO_SHORT");
    h.post(
        "/api/v1/auth/password/update",
        &with(c.clone(), "x-stack-refresh-token", &rt),
        json!({"old_password": "password123", "new_password": "newpassword1"}),
    )
    .await
    .assert_ok();
    // The kept session still refreshes, the other one is gone.
    h.post(
        "/api/v1/auth/sessions/current/refresh",
        &with(h.client(), "x-stack-refresh-token", &rt),
        json!({}),
    )
    .await
    .assert_ok();
    h.post(
        "/api/v1/auth/sessions/current/refresh",
        &with(h.client(), "x-stack-refresh-token", &other_rt),
        json!({}),
    )
    .await
    .assert_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    h.post(
        "/api/v1/auth/password/sign-in",
        &h.client(),
        json!({"email": "heidi@example.com", "password": "newpassword1"}),
    )
    .await
    .assert_ok();
    let v = h
        .post(
            "/api/v1/auth/password/update",
            &h.client(),
            json!({"old_password": "a", "new_password": "newpassword2"}),
        )
        .await
        .assert_error(400, "SCHEMA_ERROR");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("auth.user must be defined")
    );
    // set: already has a password.
    let r = h
        .post(
            "/api/v1/auth/password/set",
            &c,
            json!({"password": "password999"}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (400, "User already has a password set.")
    );
    // set on a user without one.
    let u = h
        .post(
            "/api/v1/users",
            &h.server(),
            json!({"primary_email": "ivan@example.com", "primary_email_auth_enabled": true}),
        )
        .await
        .json();
    let pair = h
        .post(
            "/api/v1/auth/sessions",
            &h.server(),
            json!({"user_id": u["id"]}),
        )
        .await
        .assert_ok();
    let ic = with(
        h.client(),
        "x-stack-access-token",
        pair["access_token"].as_str().unwrap(),
    );
    h.post(
        "/api/v1/auth/password/update",
        &ic,
        json!({"old_password": "whatever", "new_password": "newpassword1"}),
    )
    .await
    .assert_error(400, "USER_DOES_NOT_HAVE_PASSWORD");
    h.post(
        "/api/v1/auth/password/set",
        &ic,
        json!({"password": "short"}),
    )
    .await
    .assert_error(400, "PASSWORD_TOO_SHORT");
    // A client sets a first password with a fresh proof (here a code mailed to the
    // address; tests/security.rs covers the refusals).
    h.post(
        "/api/v1/auth/password/set",
        &ic,
        json!({"password": "password999"}),
    )
    .await
    .assert_error(403, "STEP_UP_REQUIRED");
    let nonce = h
        .post("/api/v1/auth/step-up/send-code", &ic, json!({}))
        .await
        .assert_ok()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let mail = h.mails("ivan@example.com", "Confirm it's you", 1).await;
    let otp = mail[0].subject().rsplit(' ').next().unwrap().to_owned();
    let token = h
        .post(
            "/api/v1/auth/step-up",
            &ic,
            json!({"code": format!("{otp}{nonce}")}),
        )
        .await
        .assert_ok()["step_up_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        h.post(
            "/api/v1/auth/password/set",
            &with(ic.clone(), "x-postern-step-up-token", &token),
            json!({"password": "password999"})
        )
        .await
        .assert_ok(),
        json!({"success": true})
    );
    h.post(
        "/api/v1/auth/password/sign-in",
        &h.client(),
        json!({"email": "ivan@example.com", "password": "password999"}),
    )
    .await
    .assert_ok();
}

async fn sessions_list_create_delete(env: Env) {
    let h = harness(&env).await;
    let (id, at, _) = h.sign_up("judy@example.com", "password123").await;
    let c = with(h.client(), "x-stack-access-token", &at);
    let pair = h
        .post(
            "/api/v1/auth/sessions",
            &h.server(),
            json!({"user_id": id, "expires_in_millis": 60000}),
        )
        .await
        .assert_ok();
    assert_eq!(pair.as_object().unwrap().len(), 2);
    h.post("/api/v1/auth/sessions", &c, json!({"user_id": "me"}))
        .await
        .assert_error(401, "INSUFFICIENT_ACCESS_TYPE");
    h.post(
        "/api/v1/auth/sessions",
        &h.server(),
        json!({"user_id": uuid::Uuid::new_v4()}),
    )
    .await
    .assert_error(400, "USER_ID_DOES_NOT_EXIST");
    h.post(
        "/api/v1/auth/sessions",
        &h.server(),
        json!({"user_id": id, "expires_in_millis": 31708800001u64}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    h.post(
        "/api/v1/auth/sessions",
        &h.server(),
        json!({"user_id": id, "is_impersonation": true}),
    )
    .await
    .assert_ok();
    let list = h
        .get("/api/v1/auth/sessions?user_id=me", &c)
        .await
        .assert_ok();
    assert_eq!(list["is_paginated"], false);
    let items = list["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        2,
        "impersonation sessions are hidden from non-admins"
    );
    assert_eq!(
        items
            .iter()
            .filter(|s| s["is_current_session"] == true)
            .count(),
        1
    );
    for k in [
        "id",
        "user_id",
        "created_at",
        "last_used_at",
        "is_impersonation",
        "is_current_session",
    ] {
        assert!(items[0].get(k).is_some(), "{k}");
    }
    let admin_list = h
        .get(&format!("/api/v1/auth/sessions?user_id={id}"), &h.admin())
        .await
        .assert_ok();
    assert_eq!(admin_list["items"].as_array().unwrap().len(), 3);
    let current = items
        .iter()
        .find(|s| s["is_current_session"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = items
        .iter()
        .find(|s| s["is_current_session"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.delete(&format!("/api/v1/auth/sessions/{current}?user_id=me"), &c)
        .await
        .assert_error(400, "CANNOT_DELETE_CURRENT_SESSION");
    h.delete(&format!("/api/v1/auth/sessions/{other}?user_id=me"), &c)
        .await
        .assert_ok();
    let r = h
        .delete(&format!("/api/v1/auth/sessions/{other}?user_id=me"), &c)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (404, "Session not found.")
    );
    h.delete(&format!("/api/v1/auth/sessions/{other}"), &c)
        .await
        .assert_error(400, "SCHEMA_ERROR");
    // A client cannot list or delete another user's sessions.
    let (other_id, other_at, _) = h.sign_up("kim@example.com", "password123").await;
    let r = h
        .get(&format!("/api/v1/auth/sessions?user_id={other_id}"), &c)
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (403, "Client can only list sessions for their own user.")
    );
    let theirs = h
        .get(
            "/api/v1/auth/sessions?user_id=me",
            &with(h.client(), "x-stack-access-token", &other_at),
        )
        .await
        .json();
    let their_session = theirs["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        h.delete(
            &format!("/api/v1/auth/sessions/{their_session}?user_id=me"),
            &c
        )
        .await
        .status,
        404
    );
    h.get("/api/v1/auth/sessions", &c)
        .await
        .assert_error(400, "SCHEMA_ERROR");
    h.get("/api/v1/auth/sessions?user_id=me", &h.server())
        .await
        .assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
}

async fn delete_me_rules(env: Env) {
    let h = harness(&env).await;
    let (id, at, rt) = h.sign_up("leo@example.com", "password123").await;
    let r = h
        .delete(
            "/api/v1/users/me",
            &with(h.client(), "x-stack-access-token", &at),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (400, "Client user deletion is not enabled for this project")
    );
    h.delete(
        "/api/v1/users/me",
        &with(h.server(), "x-stack-access-token", &at),
    )
    .await
    .assert_ok();
    h.get(&format!("/api/v1/users/{id}"), &h.server())
        .await
        .assert_error(404, "USER_NOT_FOUND");
    h.post(
        "/api/v1/auth/sessions/current/refresh",
        &with(h.client(), "x-stack-refresh-token", &rt),
        json!({}),
    )
    .await
    .assert_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    // The still-valid access token now authenticates no user.
    h.get(
        "/api/v1/users/me",
        &with(h.client(), "x-stack-access-token", &at),
    )
    .await
    .assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    let mut cfg = ProjectConfig::default();
    cfg.users.allow_client_user_deletion = true;
    let h2 = harness_with(&env, cfg).await;
    let (_, at2, _) = h2.sign_up("mia@example.com", "password123").await;
    h2.delete(
        "/api/v1/users/me",
        &with(h2.client(), "x-stack-access-token", &at2),
    )
    .await
    .assert_ok();
}

async fn project_current_and_jwks(env: Env) {
    let h = harness(&env).await;
    let p = h
        .get("/api/v1/projects/current", &h.client())
        .await
        .assert_ok();
    assert_eq!(p["id"], h.project.id.as_str());
    assert_eq!(p["display_name"], "Test project");
    assert_eq!(p["config"]["credential_enabled"], true);
    assert_eq!(p["config"]["sign_up_enabled"], true);
    assert_eq!(p["config"]["client_user_deletion_enabled"], false);
    assert_eq!(
        p,
        h.get("/api/v1/projects/current", &h.server())
            .await
            .assert_ok(),
        "same for every access type"
    );
    let base = format!("/api/v1/projects/{}/.well-known/jwks.json", h.project.id);
    let r = h.get(&base, &vec![]).await;
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
    let keys = r.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2);
    for k in &keys {
        let mut names: Vec<&str> = k.as_object().unwrap().keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(names, ["alg", "crv", "kid", "kty", "x", "y"]);
    }
    assert_eq!(
        h.get(&format!("{base}?include_restricted=true"), &vec![])
            .await
            .json()["keys"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        h.get(&format!("{base}?include_anonymous=true"), &vec![])
            .await
            .json()["keys"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    h.get(&format!("{base}?foo=1"), &vec![])
        .await
        .assert_error(400, "SCHEMA_ERROR");
    let r = h
        .get("/api/v1/projects/nope/.well-known/jwks.json", &vec![])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (404, "Project not found")
    );
    let r = h
        .get(
            &format!(
                "/api/v1/projects-anonymous-users/{}/.well-known/jwks.json",
                h.project.id
            ),
            &vec![],
        )
        .await;
    assert_eq!(r.status, 307);
    assert_eq!(
        r.header("location"),
        Some(format!("{base}?include_anonymous=true").as_str())
    );
}

async fn oauth_token_refresh_grant(env: Env) {
    let h = harness(&env).await;
    let (user_id, _, rt) = h.sign_up("nia@example.com", "password123").await;
    let form = |rt: &str, secret: &str| {
        format!(
            "grant_type=refresh_token&refresh_token={rt}&client_id={}&client_secret={secret}",
            h.project.id
        )
    };
    let token_path = "/api/v1/auth/oauth/token";
    let ct = Some("application/x-www-form-urlencoded");
    let r = h
        .raw(
            Method::POST,
            token_path,
            &vec![],
            ct,
            form(&rt, &h.keys.publishable_client_key).into(),
        )
        .await;
    let v = r.assert_ok();
    assert_eq!(v["token_type"], "Bearer");
    assert!(v.get("refresh_token").is_none(), "no rotation");
    assert_eq!(r.header("cache-control"), Some("no-store, max-age=0"));
    let at = v["access_token"].as_str().unwrap();
    let me = h
        .get(
            "/api/v1/users/me",
            &with(h.client(), "x-stack-access-token", at),
        )
        .await
        .assert_ok();
    assert_eq!(me["id"], user_id.as_str());
    // The sentinel works when keys are optional; a wrong key does not.
    h.raw(
        Method::POST,
        token_path,
        &vec![],
        ct,
        form(&rt, "__stack_public_client__").into(),
    )
    .await
    .assert_ok();
    h.raw(
        Method::POST,
        token_path,
        &vec![],
        ct,
        form(&rt, "pck_wrong").into(),
    )
    .await
    .assert_error(400, "INVALID_OAUTH_CLIENT_ID_OR_SECRET");
    h.raw(
        Method::POST,
        token_path,
        &vec![],
        ct,
        form("0".repeat(45).as_str(), &h.keys.publishable_client_key).into(),
    )
    .await
    .assert_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    let other_project =
        format!("grant_type=refresh_token&refresh_token={rt}&client_id=nope&client_secret=x");
    h.raw(Method::POST, token_path, &vec![], ct, other_project.into())
        .await
        .assert_error(400, "INVALID_OAUTH_CLIENT_ID_OR_SECRET");
    // HTTP Basic client authentication.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        h.project.id, h.keys.publishable_client_key
    ));
    let r = h
        .raw(
            Method::POST,
            token_path,
            &vec![("authorization".into(), format!("Basic {basic}"))],
            ct,
            format!("grant_type=refresh_token&refresh_token={rt}").into(),
        )
        .await;
    r.assert_ok();
    let r = h
        .raw(
            Method::POST,
            token_path,
            &vec![],
            ct,
            "grant_type=password".into(),
        )
        .await;
    // Stack's schema lists the two grants: anything else is a schema error.
    r.assert_error(400, "SCHEMA_ERROR");
}

async fn override_error_status_and_cors(env: Env) {
    let h = harness(&env).await;
    let r = h
        .get(
            "/api/v1/users/me",
            &with(h.client(), "x-stack-override-error-status", "true"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-stack-actual-status"), Some("400"));
    assert_eq!(
        r.header("x-stack-known-error"),
        Some("CANNOT_GET_OWN_USER_WITHOUT_USER")
    );
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("cache-control"), Some("no-store, max-age=0"));
    assert_eq!(r.header("x-stack-request-id").map(str::len), Some(16));
    let r = h
        .call(Method::OPTIONS, "/api/v1/users/me", &vec![], None)
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert!(
        r.header("access-control-allow-headers")
            .unwrap()
            .contains("x-stack-access-token")
    );
}

async fn config_switches(env: Env) {
    let mut cfg = ProjectConfig::default();
    cfg.auth.allow_sign_up = false;
    cfg.project.require_publishable_client_key = true;
    let h = harness_with(&env, cfg).await;
    h.post(
        "/api/v1/auth/password/sign-up",
        &h.client(),
        json!({"email": "o@example.com", "password": "password123"}),
    )
    .await
    .assert_error(400, "SIGN_UP_NOT_ENABLED");
    h.get("/api/v1/projects/current", &h.client()[..2].to_vec())
        .await
        .assert_error(401, "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT");
    h.get(
        "/api/v1/projects/current",
        &with(
            h.client()[..2].to_vec(),
            "x-stack-publishable-client-key",
            "__stack_public_client__",
        ),
    )
    .await
    .assert_error(401, "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT");
    // The server can still create users; the project's password switch gates sign-in.
    h.post("/api/v1/users", &h.server(), json!({"primary_email": "o@example.com", "primary_email_auth_enabled": true, "password": "password123"}))
        .await
        .assert_ok();
    let mut cfg = ProjectConfig::default();
    cfg.auth.password.allow_sign_in = false;
    let h2 = harness_with(&env, cfg).await;
    h2.post(
        "/api/v1/auth/password/sign-in",
        &h2.client(),
        json!({"email": "o@example.com", "password": "password123"}),
    )
    .await
    .assert_error(400, "PASSWORD_AUTHENTICATION_NOT_ENABLED");
    let mut cfg = ProjectConfig::default();
    cfg.onboarding.require_email_verification = true;
    let h3 = harness_with(&env, cfg).await;
    let (id, at, _) = h3.sign_up("p@example.com", "password123").await;
    let v = h3
        .get(
            "/api/v1/users/me",
            &with(h3.client(), "x-stack-access-token", &at),
        )
        .await
        .assert_error(403, "RESTRICTED_USER_NOT_ALLOWED");
    assert_eq!(
        v["details"]["restricted_reason"]["type"],
        "email_not_verified"
    );
    let me = h3
        .get(
            "/api/v1/users/me",
            &with(
                with(h3.client(), "x-stack-access-token", &at),
                "x-stack-allow-anonymous-user",
                "true",
            ),
        )
        .await
        .assert_ok();
    assert_eq!(
        me["restricted_reason"],
        json!({"type": "email_not_verified"})
    );
    let claims = token_claims(&at);
    assert_eq!(claims["aud"], format!("{}:restricted", h3.project.id));
    assert_eq!(
        claims["iss"],
        format!(
            "{PUBLIC_URL}/api/v1/projects-restricted-users/{}",
            h3.project.id
        )
    );
    assert_eq!(
        h3.get("/api/v1/users", &h3.server()).await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    h3.patch(
        &format!("/api/v1/users/{id}"),
        &h3.server(),
        json!({"primary_email_verified": true}),
    )
    .await
    .assert_ok();
    assert_eq!(
        h3.get("/api/v1/users", &h3.server()).await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn concurrent_sign_ups_create_one_user(env: Env) {
    // Fifty sign-ups from one client: over the default per-IP bucket, so this project
    // allows them (the bucket is tested in tests/security.rs).
    let mut config = ProjectConfig::default();
    config.security.rate_limits.sign_up = postern_core::config::RateLimit::new(100, 100);
    let h = harness_with(&env, config).await;
    let client = h.client();
    let attempts = (0..50).map(|i| {
        let email = if i % 2 == 0 {
            "Race@Example.com"
        } else {
            "race@example.com"
        };
        h.post(
            "/api/v1/auth/password/sign-up",
            &client,
            json!({"email": email, "password": "password123"}),
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    let mut ok = 0;
    for r in results {
        if r.status == 200 {
            ok += 1;
        } else {
            r.assert_error(409, "USER_EMAIL_ALREADY_EXISTS");
        }
    }
    assert_eq!(ok, 1, "exactly one sign-up wins");
    let all = h
        .get("/api/v1/users?include_anonymous=true", &h.server())
        .await
        .json();
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        1,
        "no half-created users"
    );
}

async fn unknown_routes_and_methods(env: Env) {
    let h = harness(&env).await;
    let r = h.get("/api/v1/nope", &vec![]).await;
    assert_eq!(r.status, 404);
    assert!(
        r.text()
            .starts_with("404 — this page does not exist in Stack Auth's API.")
    );
    let r = h
        .call(Method::PUT, "/api/v1/users/me", &h.client(), None)
        .await;
    assert_eq!(r.status, 405);
}

async fn concurrent_config_changes_are_all_kept(env: Env) {
    // Each definition is a config write that reads the config first: without the
    // compare-and-swap on the config version, concurrent writers overwrite each other.
    let h = harness(&env).await;
    let admin = h.admin();
    let creates = (0..12).map(|i| {
        h.post(
            "/api/v1/team-permission-definitions",
            &admin,
            json!({ "id": format!("race_{i}") }),
        )
    });
    let overrides = (0..4).map(|i| {
        h.call(
            Method::PATCH,
            "/api/v1/internal/config/override/environment",
            &admin,
            Some(json!({ "config_override_string": json!({ format!("users.raceMarker{i}"): true }).to_string() })),
        )
    });
    let (created, overridden) = futures_util::future::join(
        futures_util::future::join_all(creates),
        futures_util::future::join_all(overrides),
    )
    .await;
    for r in created {
        assert_eq!(r.status, 201, "{}", r.text());
    }
    for r in overridden {
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let listed = h
        .get("/api/v1/team-permission-definitions", &admin)
        .await
        .json();
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["id"].as_str())
        .filter(|id| id.starts_with("race_"))
        .collect();
    assert_eq!(
        ids.len(),
        12,
        "every concurrent definition is kept: {ids:?}"
    );
}

async fn a_field_that_cannot_be_read_fails_once(env: Env) {
    let h = harness(&env).await;
    for (path, body, lines) in [
        (
            "/api/v1/auth/password/sign-up",
            json!({}),
            vec![
                "body.email must be defined",
                "body.password must be defined",
            ],
        ),
        (
            "/api/v1/auth/otp/sign-in",
            json!({}),
            vec!["body.code must be defined"],
        ),
        (
            "/api/v1/auth/password/send-reset-code",
            json!({"email": 1}),
            vec![
                "body.email must be a `string` type, but the final value was: `1`.",
                "body.callback_url must be defined",
            ],
        ),
    ] {
        let v = h
            .post(path, &h.client(), body)
            .await
            .assert_error(400, "SCHEMA_ERROR");
        let listed: Vec<&str> = v["error"]
            .as_str()
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("  - "))
            .collect();
        assert_eq!(listed, lines, "{path}");
    }
}

async fn openapi_document_lists_every_route(env: Env) {
    let h = harness(&env).await;
    let r = h.get("/api/v1/openapi.json", &vec![]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    let sign_in = &doc["paths"]["/auth/password/sign-in"]["post"];
    assert_eq!(sign_in["x-rate-limit-class"], "signIn");
    let access = sign_in["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "x-stack-access-type")
        .expect("access-type header documented");
    assert_eq!(
        access["schema"]["enum"],
        json!(["client", "server", "admin"])
    );
    let users = &doc["paths"]["/users/{user_id}"];
    for verb in ["get", "patch", "delete"] {
        assert_eq!(
            users[verb]["x-access-types"], "server, admin",
            "{verb} /users/{{user_id}}"
        );
    }
    assert!(users.get("put").is_none(), "only routed methods are listed");
    // Every routed method is documented, and nothing else: a documented operation answers
    // with something other than 404 or 405.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for verb in item.as_object().unwrap().keys() {
            let concrete = path
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let method = Method::from_bytes(verb.to_uppercase().as_bytes()).unwrap();
            let r = h
                .call(method, &format!("/api/v1{concrete}"), &vec![], None)
                .await;
            assert!(
                r.status != 405 && !r.text().starts_with("404 — this page"),
                "{verb} {path}: {}",
                r.status
            );
        }
    }
}

fn keys_enabled() -> ProjectConfig {
    let mut cfg = ProjectConfig::default();
    cfg.api_keys.enabled.user = true;
    cfg
}

async fn user_api_keys_lifecycle(env: Env) {
    let h = harness_with(&env, keys_enabled()).await;
    let (uid, at, _) = h.sign_up("keys@example.com", "password123").await;
    let c = with(h.client(), "x-stack-access-token", &at);
    let created = h
        .post(
            "/api/v1/user-api-keys",
            &c,
            json!({"description": "ci", "expires_at_millis": null, "user_id": "me"}),
        )
        .await
        .assert_ok();
    let key = created["value"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 102);
    assert!(key.starts_with("sk_") && key.contains("574ck4u7h"));
    assert_eq!(created["type"], "user");
    assert_eq!(created["user_id"], uid.as_str());
    assert!(
        created.get("expires_at_millis").is_none(),
        "omitted, not null"
    );
    assert!(created.get("manually_revoked_at_millis").is_none());
    let id = created["id"].as_str().unwrap().to_owned();

    // Never stored: only a keyed hash and the last four characters.
    let stored = h
        .postern
        .store()
        .api_keys()
        .get(&h.project.id, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.last_four, &key[98..]);
    assert!(!stored.secret_hash.contains(&key[3..48]) && stored.secret_hash != key);

    let list = h
        .get("/api/v1/user-api-keys?user_id=me", &c)
        .await
        .assert_ok();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["value"], json!({"last_four": &key[98..]}));

    // The server checks keys; clients cannot.
    let checked = h
        .post(
            "/api/v1/user-api-keys/check",
            &h.server(),
            json!({"api_key": key}),
        )
        .await
        .assert_ok();
    assert_eq!(checked["id"], id.as_str());
    assert_eq!(checked["value"], json!({"last_four": &key[98..]}));
    h.post("/api/v1/user-api-keys/check", &c, json!({"api_key": key}))
        .await
        .assert_error(401, "INSUFFICIENT_ACCESS_TYPE");
    h.post(
        "/api/v1/user-api-keys/check",
        &h.server(),
        json!({"api_key": "sk_nope"}),
    )
    .await
    .assert_error(404, "API_KEY_NOT_FOUND");
    let mut tampered = key.clone();
    tampered.replace_range(10..11, if &key[10..11] == "a" { "b" } else { "a" });
    h.post(
        "/api/v1/user-api-keys/check",
        &h.server(),
        json!({"api_key": tampered}),
    )
    .await
    .assert_error(404, "API_KEY_NOT_FOUND");

    // Read, describe, revoke (twice keeps the first time), then the key stops working.
    h.get(&format!("/api/v1/user-api-keys/{id}"), &c)
        .await
        .assert_ok();
    let p = h
        .patch(
            &format!("/api/v1/user-api-keys/{id}"),
            &c,
            json!({"description": "renamed"}),
        )
        .await
        .assert_ok();
    assert_eq!(p["description"], "renamed");
    h.patch(
        &format!("/api/v1/user-api-keys/{id}"),
        &c,
        json!({"revoked": false}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    let r1 = h
        .patch(
            &format!("/api/v1/user-api-keys/{id}"),
            &c,
            json!({"revoked": true}),
        )
        .await
        .assert_ok();
    let first = r1["manually_revoked_at_millis"].as_i64().unwrap();
    h.postern.clock().advance_millis(5_000);
    let r2 = h
        .patch(
            &format!("/api/v1/user-api-keys/{id}"),
            &c,
            json!({"revoked": true}),
        )
        .await
        .assert_ok();
    assert_eq!(r2["manually_revoked_at_millis"].as_i64(), Some(first));
    h.post(
        "/api/v1/user-api-keys/check",
        &h.server(),
        json!({"api_key": key}),
    )
    .await
    .assert_error(401, "API_KEY_REVOKED");

    // An expiry in the past is accepted, and the key is expired.
    let old = h
        .post(
            "/api/v1/user-api-keys",
            &c,
            json!({"description": "old", "expires_at_millis": 1000, "user_id": "me"}),
        )
        .await
        .assert_ok();
    assert_eq!(old["expires_at_millis"], 1000);
    h.post(
        "/api/v1/user-api-keys/check",
        &h.server(),
        json!({"api_key": old["value"]}),
    )
    .await
    .assert_error(401, "API_KEY_EXPIRED");
    h.get(
        &format!("/api/v1/user-api-keys/{}", uuid::Uuid::new_v4()),
        &c,
    )
    .await
    .assert_error(404, "API_KEY_NOT_FOUND");

    // Credential scanning: public keys are refused, secret keys revoked, no auth needed.
    let public = h
        .post("/api/v1/user-api-keys", &c, json!({"description": "pub", "expires_at_millis": null, "is_public": true, "user_id": "me"}))
        .await
        .assert_ok();
    let pk = public["value"].as_str().unwrap().to_owned();
    assert!(pk.starts_with("pk_"));
    h.post(
        "/api/v1/user-api-keys/check",
        &h.server(),
        json!({"api_key": pk}),
    )
    .await
    .assert_ok();
    h.post(
        "/api/v1/integrations/credential-scanning/revoke",
        &vec![],
        json!({"api_key": pk}),
    )
    .await
    .assert_error(400, "PUBLIC_API_KEY_CANNOT_BE_REVOKED");
    let leaked = h
        .post(
            "/api/v1/user-api-keys",
            &c,
            json!({"description": "leaked", "expires_at_millis": null, "user_id": "me"}),
        )
        .await
        .assert_ok();
    let lk = leaked["value"].as_str().unwrap().to_owned();
    assert_eq!(
        h.post(
            "/api/v1/integrations/credential-scanning/revoke",
            &vec![],
            json!({"api_key": lk})
        )
        .await
        .assert_ok(),
        json!({"success": true})
    );
    h.post(
        "/api/v1/user-api-keys/check",
        &h.server(),
        json!({"api_key": lk}),
    )
    .await
    .assert_error(401, "API_KEY_REVOKED");
    h.post(
        "/api/v1/integrations/credential-scanning/revoke",
        &vec![],
        json!({"api_key": "sk_x"}),
    )
    .await
    .assert_error(404, "API_KEY_NOT_FOUND");

    // A key of this project is unknown to another project; keys die with their user.
    let h2 = harness_with(&env, keys_enabled()).await;
    h2.post(
        "/api/v1/user-api-keys/check",
        &h2.server(),
        json!({"api_key": pk}),
    )
    .await
    .assert_error(404, "API_KEY_NOT_FOUND");
    h.delete(&format!("/api/v1/users/{uid}"), &h.server())
        .await
        .assert_ok();
    h.post(
        "/api/v1/user-api-keys/check",
        &h.server(),
        json!({"api_key": pk}),
    )
    .await
    .assert_error(404, "API_KEY_NOT_FOUND");
}

async fn user_api_keys_access_rules(env: Env) {
    let h = harness_with(&env, keys_enabled()).await;
    let (a_id, a_at, _) = h.sign_up("a-keys@example.com", "password123").await;
    let (_, b_at, _) = h.sign_up("b-keys@example.com", "password123").await;
    let a = with(h.client(), "x-stack-access-token", &a_at);
    let b = with(h.client(), "x-stack-access-token", &b_at);
    let key = h
        .post(
            "/api/v1/user-api-keys",
            &a,
            json!({"description": "a", "expires_at_millis": null, "user_id": a_id}),
        )
        .await
        .assert_ok();
    let id = key["id"].as_str().unwrap();
    let forbidden = |r: Resp| {
        assert_eq!(
            (r.status.as_u16(), r.text()),
            (403, "Client can only manage their own api keys".to_owned())
        )
    };
    forbidden(
        h.get(&format!("/api/v1/user-api-keys?user_id={a_id}"), &b)
            .await,
    );
    forbidden(h.get(&format!("/api/v1/user-api-keys/{id}"), &b).await);
    forbidden(
        h.patch(
            &format!("/api/v1/user-api-keys/{id}"),
            &b,
            json!({"revoked": true}),
        )
        .await,
    );
    forbidden(
        h.post(
            "/api/v1/user-api-keys",
            &b,
            json!({"description": "x", "expires_at_millis": null, "user_id": a_id}),
        )
        .await,
    );
    h.post(
        "/api/v1/user-api-keys",
        &h.client(),
        json!({"description": "x", "expires_at_millis": null, "user_id": "me"}),
    )
    .await
    .assert_error(401, "USER_AUTHENTICATION_REQUIRED");
    let v = h
        .post(
            "/api/v1/user-api-keys",
            &a,
            json!({"description": "x", "expires_at_millis": null}),
        )
        .await
        .assert_error(400, "SCHEMA_ERROR");
    // Stack raises this one bare, without the "Request validation failed" framing.
    assert_eq!(v["error"], "user_id is required for user API keys");
    assert_eq!(
        v["details"],
        json!({"message": "user_id is required for user API keys"})
    );
    h.post(
        "/api/v1/user-api-keys",
        &a,
        json!({"description": "x", "user_id": "me"}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    // The server manages anyone's keys, but not a nonexistent user's.
    assert_eq!(
        h.get(
            &format!("/api/v1/user-api-keys?user_id={a_id}"),
            &h.server()
        )
        .await
        .assert_ok()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    h.post(
        "/api/v1/user-api-keys",
        &h.server(),
        json!({"description": "x", "expires_at_millis": null, "user_id": uuid::Uuid::new_v4()}),
    )
    .await
    .assert_error(404, "USER_NOT_FOUND");
    // The feature gate.
    let off = harness(&env).await;
    let (_, at, _) = off.sign_up("off@example.com", "password123").await;
    let r = off
        .post(
            "/api/v1/user-api-keys",
            &with(off.client(), "x-stack-access-token", &at),
            json!({"description": "x", "expires_at_millis": null, "user_id": "me"}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (
            400,
            "User API keys are not enabled for this project.".to_owned()
        )
    );
    let r = off
        .post(
            "/api/v1/user-api-keys/check",
            &off.server(),
            json!({"api_key": key["value"]}),
        )
        .await;
    assert_eq!(r.status, 400);
}

async fn imported_bcrypt_hash_signs_in_and_is_upgraded(env: Env) {
    let h = harness(&env).await;
    // Stack's e2e fixture: "hello-world" at bcrypt cost 13.
    let r = h
        .post(
            "/api/v1/users",
            &h.server(),
            json!({"primary_email": "imported@example.com", "primary_email_auth_enabled": true,
                   "password_hash": "$2a$13$TVyY/gpw9Db/w1fBeJkCgeNg2Rae2JfNqrPnSAKtj.ufAO5cVF13."}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["has_password"], true);
    let id: uuid::Uuid = r.json()["id"].as_str().unwrap().parse().unwrap();
    let sign_in = |pw: &'static str| json!({"email": "imported@example.com", "password": pw});
    h.post(
        "/api/v1/auth/password/sign-in",
        &h.client(),
        sign_in("wrong-world"),
    )
    .await
    .assert_error(400, "EMAIL_PASSWORD_MISMATCH");
    h.post(
        "/api/v1/auth/password/sign-in",
        &h.client(),
        sign_in("hello-world"),
    )
    .await
    .assert_ok();
    let stored = h
        .postern
        .store()
        .users()
        .get(&h.project.id, id)
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "upgraded: {stored}");
    h.post(
        "/api/v1/auth/password/sign-in",
        &h.client(),
        sign_in("hello-world"),
    )
    .await
    .assert_ok();
    // Too expensive to verify on every sign-in: refused at import.
    let r = h
        .post(
            "/api/v1/users",
            &h.server(),
            json!({"primary_email": "costly@example.com", "primary_email_auth_enabled": true,
                   "password_hash": "$2a$17$VIhIOofSMqGdGlL4wzE//e.77dAQGqNtF/1dT7bqCrVtQuInWy2qi"}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (
            400,
            "Invalid password hash. Make sure it's a supported algorithm in Modular Crypt Format."
                .into()
        )
    );
}
