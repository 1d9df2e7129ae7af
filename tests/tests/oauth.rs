//! OAuth social sign-in end to end, against a real OpenID Connect provider on loopback
//! (`postern_tests::oidc_provider`): the authorize redirect, the provider's login, the
//! callback, the code exchange, through `Postern::handle`, axum and actix, on SQLite and
//! PostgreSQL. The provider checks what a real one checks (client secret, redirect URI,
//! PKCE, single-use codes), and its ID tokens are verified against its JWKS.

#[macro_use]
mod support;

use base64::Engine as _;
use http::Method;
use postern_core::ProjectConfig;
use postern_core::storage::OAuthTokenKind;
use postern_tests::oidc_provider::{Account, OidcProvider};
use serde_json::{Value, json};
use sha2::Digest as _;
use support::*;

contract_suite!(
    new_user_signs_up_and_signs_in_again,
    existing_user_by_verified_email,
    unverified_addresses_do_not_merge,
    linking_and_refused_duplicates,
    states_are_single_use_and_bound,
    pkce_and_redirect_checks_at_the_token_endpoint,
    provider_errors_are_redirected,
    connected_account_tokens_refresh,
    anonymous_users_upgrade_and_mfa_is_required,
    sign_up_rules_see_the_provider,
    private_issuers_need_the_operators_consent,
);

const APP_CALLBACK: &str = "http://localhost:3000/auth/callback";
const VERIFIER: &str = "a-pkce-verifier-that-is-long-enough-0123456789abcdef";
const CLIENT: &str = "postern-test-client";
const CLIENT_SECRET: &str = "postern-test-client-secret";

fn challenge() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER))
}

/// A harness whose project has the test provider as `company` (type `oidc`).
async fn setup(env: &Env, config: ProjectConfig) -> (H, OidcProvider) {
    setup_with(env, config, true).await
}

/// [`setup`], with the operator's consent to providers on private addresses or not.
async fn setup_with(env: &Env, config: ProjectConfig, private: bool) -> (H, OidcProvider) {
    let provider = OidcProvider::start();
    provider.register_client(
        CLIENT,
        CLIENT_SECRET,
        &["http://localhost:8102/api/v1/auth/oauth/callback/company"],
    );
    let h = harness_custom(env, config, |b| b.oauth_private_issuers(private)).await;
    let r = h
        .patch(
            "/api/v1/internal/config/override/environment",
            &h.admin(),
            json!({ "config_override_string": json!({
                "domains.allowLocalhost": true,
                "auth.oauth.providers.company": {
                    "type": "oidc",
                    "isShared": false,
                    "issuerUrl": provider.issuer(),
                    "clientId": CLIENT,
                    "clientSecret": CLIENT_SECRET,
                    "allowSignIn": true,
                    "allowConnectedAccounts": true,
                },
            }).to_string() }),
        )
        .await;
    r.assert_ok();
    (h, provider)
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish()
}

fn location(r: &Resp) -> url::Url {
    url::Url::parse(r.header("location").expect("a Location header")).expect("a URL")
}

fn param(u: &url::Url, k: &str) -> Option<String> {
    u.query_pairs()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.into_owned())
}

/// The app's authorize request.
async fn authorize(h: &H, extra: &[(&str, &str)]) -> Resp {
    let challenge = challenge();
    let mut pairs = vec![
        ("client_id", h.project.id.as_str()),
        ("client_secret", h.keys.publishable_client_key.as_str()),
        ("redirect_uri", APP_CALLBACK),
        ("scope", "legacy"),
        ("state", "app-state"),
        ("grant_type", "authorization_code"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("response_type", "code"),
    ];
    pairs.extend_from_slice(extra);
    h.get(
        &format!("/api/v1/auth/oauth/authorize/company?{}", query(&pairs)),
        &vec![],
    )
    .await
}

/// The browser at the provider: follows the authorize redirect, returns where the
/// provider sends it back (Postern's callback URL).
async fn at_provider(authorize: &Resp) -> url::Url {
    assert_eq!(authorize.status, 307, "{}", authorize.text());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = http
        .get(location(authorize))
        .send()
        .await
        .expect("provider answers");
    assert_eq!(r.status().as_u16(), 303, "{}", location(authorize));
    url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
}

/// The cookie the authorize response set (`name=value`).
fn flow_cookie(authorize: &Resp) -> String {
    let c = authorize.header("set-cookie").expect("the flow cookie");
    c.split(';').next().unwrap().to_owned()
}

/// Calls Postern's callback as the browser would (with the flow cookie).
async fn callback(h: &H, back: &url::Url, cookie: &str) -> Resp {
    let path = format!("{}?{}", back.path(), back.query().unwrap_or_default());
    h.get(&path, &vec![("cookie".into(), cookie.into())]).await
}

/// Exchanges the app's code at the token endpoint (a form, as the SDK sends it).
async fn exchange(h: &H, code: &str, redirect_uri: &str, verifier: &str) -> Resp {
    let body = query(&[
        ("grant_type", "authorization_code"),
        ("client_id", &h.project.id),
        ("client_secret", &h.keys.publishable_client_key),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ]);
    h.raw(
        Method::POST,
        "/api/v1/auth/oauth/token",
        &vec![],
        Some("application/x-www-form-urlencoded"),
        body.into(),
    )
    .await
}

/// The whole round trip for the next queued account; returns the token response.
async fn sign_in(h: &H, extra: &[(&str, &str)]) -> Resp {
    let a = authorize(h, extra).await;
    let back = at_provider(&a).await;
    let r = callback(h, &back, &flow_cookie(&a)).await;
    assert_eq!(r.status, 303, "{}", r.text());
    let app = location(&r);
    assert_eq!(param(&app, "state").as_deref(), Some("app-state"));
    let code = param(&app, "code").expect("an authorization code");
    exchange(h, &code, APP_CALLBACK, VERIFIER).await
}

fn user_headers(h: &H, access_token: &str) -> Headers {
    with(h.client(), "x-stack-access-token", access_token)
}

async fn me(h: &H, access_token: &str) -> Value {
    h.get("/api/v1/users/me", &user_headers(h, access_token))
        .await
        .assert_ok()
}

async fn new_user_signs_up_and_signs_in_again(env: Env) {
    let (h, provider) = setup(&env, ProjectConfig::default()).await;
    provider.queue_login(Account::verified("sub-1", "alice@example.com"));
    let r = sign_in(&h, &[]).await;
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let t = r.assert_ok();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["scope"], "legacy");
    assert_eq!(t["is_new_user"], true);
    assert_eq!(t["newUser"], true);
    assert_eq!(t["after_callback_redirect_url"], Value::Null);
    let user = me(&h, t["access_token"].as_str().unwrap()).await;
    assert_eq!(user["primary_email"], "alice@example.com");
    assert_eq!(user["primary_email_verified"], true);
    assert_eq!(user["display_name"], "User sub-1");
    assert_eq!(
        user["oauth_providers"],
        json!([{ "id": "company", "account_id": "sub-1", "email": "alice@example.com" }])
    );

    // The same provider account signs into the same user.
    provider.queue_login(Account::verified("sub-1", "alice@example.com"));
    let again = sign_in(&h, &[]).await.assert_ok();
    assert_eq!(again["is_new_user"], false);
    assert_eq!(
        me(&h, again["access_token"].as_str().unwrap()).await["id"],
        user["id"]
    );

    // Provider tokens are stored, sealed.
    let uid: uuid::Uuid = user["id"].as_str().unwrap().parse().unwrap();
    let store = h.postern.store();
    let accounts = store
        .oauth()
        .list_for_user(&h.project.id, uid)
        .await
        .unwrap();
    assert_eq!(accounts.len(), 1);
    let tokens = store
        .oauth()
        .list_tokens(&h.project.id, accounts[0].id, OAuthTokenKind::Refresh)
        .await
        .unwrap();
    assert_eq!(tokens.len(), 2, "one refresh token per sign-in");
    assert!(
        tokens
            .iter()
            .all(|t| t.sealed_token.len() > 60 && t.is_valid)
    );

    // JSON mode: the location, no cookie; the callback then needs none.
    let a = authorize(&h, &[("stack_response_mode", "json")]).await;
    let v = a.assert_ok();
    assert!(a.header("set-cookie").is_none());
    assert!(
        v["location"]
            .as_str()
            .unwrap()
            .starts_with(&provider.issuer())
    );
}

async fn existing_user_by_verified_email(env: Env) {
    let (h, provider) = setup(&env, ProjectConfig::default()).await;
    // A server-created user with a verified address used for sign-in.
    let created = h
        .post(
            "/api/v1/users",
            &h.server(),
            json!({
                "primary_email": "bob@example.com",
                "primary_email_verified": true,
                "primary_email_auth_enabled": true,
            }),
        )
        .await;
    let bob = created.assert_ok()["id"].clone();
    provider.queue_login(Account::verified("sub-bob", "bob@example.com"));
    let t = sign_in(&h, &[]).await.assert_ok();
    assert_eq!(t["is_new_user"], false);
    let user = me(&h, t["access_token"].as_str().unwrap()).await;
    assert_eq!(user["id"], bob, "linked to the existing account");
    assert_eq!(user["oauth_providers"][0]["account_id"], "sub-bob");
}

async fn unverified_addresses_do_not_merge(env: Env) {
    let (h, provider) = setup(&env, ProjectConfig::default()).await;
    // A password sign-up: its address is not verified.
    let (uid, _, _) = h.sign_up("carol@example.com", "password123").await;
    provider.queue_login(Account::verified("sub-carol", "carol@example.com"));
    let a = authorize(&h, &[]).await;
    let back = at_provider(&a).await;
    let r = callback(&h, &back, &flow_cookie(&a)).await;
    assert_eq!(r.status, 307, "known errors go back to the app");
    let app = location(&r);
    assert!(app.as_str().starts_with(APP_CALLBACK));
    assert_eq!(param(&app, "error").as_deref(), Some("server_error"));
    assert_eq!(
        param(&app, "errorCode").as_deref(),
        Some("CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE")
    );
    let details: Value = serde_json::from_str(&param(&app, "details").unwrap()).unwrap();
    assert_eq!(details["would_work_if_email_was_verified"], true);
    assert!(
        r.header("set-cookie")
            .unwrap()
            .contains("Expires=Thu, 01 Jan 1970")
    );

    // The provider does not vouch for the address: no merge either, even once verified.
    let store = h.postern.store();
    let uid: uuid::Uuid = uid.parse().unwrap();
    let mut ch = store
        .users()
        .list_channels(&h.project.id, uid)
        .await
        .unwrap()
        .remove(0);
    ch.is_verified = true;
    store.users().update_channel(&ch).await.unwrap();
    provider.queue_login(Account {
        sub: "sub-carol-2".into(),
        email: Some("carol@example.com".into()),
        email_verified: false,
        name: None,
    });
    let a = authorize(&h, &[]).await;
    let back = at_provider(&a).await;
    let r = callback(&h, &back, &flow_cookie(&a)).await;
    assert_eq!(r.status, 307);
    let details: Value = serde_json::from_str(&param(&location(&r), "details").unwrap()).unwrap();
    assert_eq!(details["would_work_if_email_was_verified"], false);
    assert!(
        store
            .oauth()
            .list_for_user(&h.project.id, uid)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn linking_and_refused_duplicates(env: Env) {
    let (h, provider) = setup(&env, ProjectConfig::default()).await;
    let (dave, dave_at, _) = h.sign_up("dave@example.com", "password123").await;
    provider.queue_login(Account::verified("sub-link", "other@example.com"));
    let t = sign_in(&h, &[("type", "link"), ("token", &dave_at)])
        .await
        .assert_ok();
    assert_eq!(t["is_new_user"], false);
    assert_eq!(
        me(&h, t["access_token"].as_str().unwrap()).await["id"],
        dave.as_str()
    );
    assert_eq!(
        me(&h, &dave_at).await["oauth_providers"][0]["account_id"],
        "sub-link"
    );

    // The linked account signs in as dave.
    provider.queue_login(Account::verified("sub-link", "other@example.com"));
    let t = sign_in(&h, &[]).await.assert_ok();
    assert_eq!(
        me(&h, t["access_token"].as_str().unwrap()).await["id"],
        dave.as_str()
    );

    // Another user cannot link the same provider account.
    let (_, erin_at, _) = h.sign_up("erin@example.com", "password123").await;
    provider.queue_login(Account::verified("sub-link", "other@example.com"));
    let a = authorize(&h, &[("type", "link"), ("token", &erin_at)]).await;
    let back = at_provider(&a).await;
    let r = callback(&h, &back, &flow_cookie(&a)).await;
    assert_eq!(r.status, 307);
    assert_eq!(
        param(&location(&r), "errorCode").as_deref(),
        Some("OAUTH_CONNECTION_ALREADY_CONNECTED_TO_ANOTHER_USER")
    );
    // `link` needs the token.
    let r = authorize(&h, &[("type", "link")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "?token= query parameter is required for link type"
    );
}

async fn states_are_single_use_and_bound(env: Env) {
    let (h, _provider) = setup(&env, ProjectConfig::default()).await;
    let a = authorize(&h, &[]).await;
    let cookie = flow_cookie(&a);
    assert!(
        a.header("set-cookie")
            .unwrap()
            .ends_with("Max-Age=600; HttpOnly")
    );
    let back = at_provider(&a).await;

    // Without the browser's cookie: refused, and the state stays usable.
    let r = callback(&h, &back, "other=1").await;
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("Inner OAuth cookie not found"));

    // On another provider's path: refused without calling the provider (a known error,
    // delivered to the app).
    let wrong =
        url::Url::parse(&back.as_str().replace("/callback/company", "/callback/nope")).unwrap();
    let r = callback(&h, &wrong, &cookie).await;
    assert_eq!(r.status, 307);
    assert_eq!(
        param(&location(&r), "errorCode").as_deref(),
        Some("OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED")
    );

    // The state was spent by that attempt: a replay is an invalid state.
    let r = callback(&h, &back, &cookie).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "Invalid OAuth state. Please try signing in again."
    );

    // A fresh flow works once, then its replay is refused.
    let a = authorize(&h, &[]).await;
    let back = at_provider(&a).await;
    let cookie = flow_cookie(&a);
    assert_eq!(callback(&h, &back, &cookie).await.status, 303);
    let r = callback(&h, &back, &cookie).await;
    assert_eq!(
        r.text(),
        "Invalid OAuth state. Please try signing in again."
    );

    // Unknown or forged states.
    for state in [
        "",
        "nope",
        "aW50ZXJuYWw.0000000000000000000000000000000000000000000000",
    ] {
        let r = h
            .get(
                &format!(
                    "/api/v1/auth/oauth/callback/company?{}",
                    query(&[("state", state), ("code", "x")])
                ),
                &vec![],
            )
            .await;
        assert_eq!(r.status, 400, "{state}");
        assert!(r.header("set-cookie").is_none());
    }
}

async fn pkce_and_redirect_checks_at_the_token_endpoint(env: Env) {
    let (h, _provider) = setup(&env, ProjectConfig::default()).await;
    let a = authorize(&h, &[]).await;
    let back = at_provider(&a).await;
    let r = callback(&h, &back, &flow_cookie(&a)).await;
    let code = param(&location(&r), "code").unwrap();

    // A wrong verifier: refused, and the code survives.
    exchange(&h, &code, APP_CALLBACK, "not-the-verifier")
        .await
        .assert_error(400, "INVALID_AUTHORIZATION_CODE");
    // Another redirect URI: refused, and the code is spent.
    let r = exchange(&h, &code, "http://localhost:3000/elsewhere", VERIFIER).await;
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("Invalid redirect URI."));
    exchange(&h, &code, APP_CALLBACK, VERIFIER)
        .await
        .assert_error(400, "INVALID_AUTHORIZATION_CODE");
    // Unknown codes.
    exchange(&h, "0123", APP_CALLBACK, VERIFIER)
        .await
        .assert_error(400, "INVALID_AUTHORIZATION_CODE");

    // A good exchange works once.
    let a = authorize(&h, &[]).await;
    let back = at_provider(&a).await;
    let r = callback(&h, &back, &flow_cookie(&a)).await;
    let code = param(&location(&r), "code").unwrap();
    exchange(&h, &code, APP_CALLBACK, VERIFIER)
        .await
        .assert_ok();
    exchange(&h, &code, APP_CALLBACK, VERIFIER)
        .await
        .assert_error(400, "INVALID_AUTHORIZATION_CODE");

    // An untrusted app callback is refused at the callback (after the provider), as JSON.
    let a = authorize(&h, &[("redirect_uri", "https://evil.example.com/cb")]).await;
    let back = at_provider(&a).await;
    let r = callback(&h, &back, &flow_cookie(&a)).await;
    r.assert_error(400, "REDIRECT_URL_NOT_WHITELISTED");
}

async fn provider_errors_are_redirected(env: Env) {
    let (h, provider) = setup(&env, ProjectConfig::default()).await;
    provider.deny_next();
    let a = authorize(&h, &[]).await;
    let back = at_provider(&a).await;
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    let r = callback(&h, &back, &flow_cookie(&a)).await;
    assert_eq!(r.status, 307);
    assert_eq!(
        param(&location(&r), "errorCode").as_deref(),
        Some("OAUTH_PROVIDER_ACCESS_DENIED")
    );

    // A code the provider refuses: plain text, never redirected.
    let a = authorize(&h, &[]).await;
    let mut back = at_provider(&a).await;
    let pairs: Vec<(String, String)> = back
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "code" {
                "forged".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    back.query_pairs_mut().clear().extend_pairs(pairs);
    let r = callback(&h, &back, &flow_cookie(&a)).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "Inner OAuth callback failed due to invalid grant. Please try again."
    );

    // An unknown provider and a bad key are known errors at authorize.
    let r = h
        .get(
            &format!(
                "/api/v1/auth/oauth/authorize/nope?{}",
                query(&[
                    ("client_id", &h.project.id),
                    ("client_secret", &h.keys.publishable_client_key),
                    ("redirect_uri", APP_CALLBACK),
                    ("scope", "legacy"),
                    ("state", "s"),
                    ("grant_type", "authorization_code"),
                    ("code_challenge", "c"),
                    ("code_challenge_method", "S256"),
                    ("response_type", "code"),
                ])
            ),
            &vec![],
        )
        .await;
    r.assert_error(400, "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED");
    authorize(&h, &[("client_secret", "pck_wrong")])
        .await
        .assert_error(401, "INVALID_PUBLISHABLE_CLIENT_KEY");
}

async fn connected_account_tokens_refresh(env: Env) {
    let (h, provider) = setup(&env, ProjectConfig::default()).await;
    provider.queue_login(Account::verified("sub-ca", "ca@example.com"));
    let t = sign_in(&h, &[]).await.assert_ok();
    let at = t["access_token"].as_str().unwrap().to_owned();
    let headers = user_headers(&h, &at);
    let list = h
        .get("/api/v1/connected-accounts/me", &headers)
        .await
        .assert_ok();
    assert_eq!(list["items"][0]["provider"], "company");
    assert_eq!(list["items"][0]["provider_account_id"], "sub-ca");

    let path = "/api/v1/connected-accounts/me/company/access-token";
    let r = h.post(path, &headers, json!({ "scope": "openid" })).await;
    assert_eq!(r.status, 201);
    let first = r.json()["access_token"].as_str().unwrap().to_owned();
    let before = provider.token_requests();
    // Still valid: the stored token is handed out again, no refresh.
    let again = h.post(path, &headers, json!({})).await.json();
    assert_eq!(again["access_token"], first.as_str());
    assert_eq!(provider.token_requests(), before);

    // Revoked at the provider: refreshed with the stored refresh token.
    provider.revoke_access_token(&first);
    let r = h.post(path, &headers, json!({ "scope": "openid" })).await;
    assert_eq!(r.status, 201);
    let second = r.json()["access_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(provider.token_requests(), before + 1);
    assert_eq!(
        provider.last_token_request_scope().as_deref(),
        Some("openid")
    );

    // Scopes the sign-in did not ask for are not there.
    h.post(path, &headers, json!({ "scope": "admin" }))
        .await
        .assert_error(400, "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE");

    // The grant revoked: the refresh is refused, the refresh token given up.
    provider.revoke_grant_of(&second);
    h.post(path, &headers, json!({}))
        .await
        .assert_error(400, "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE");

    // Other users' tokens are not a client's to take; unknown providers are refused.
    let (other, _, _) = h.sign_up("x@example.com", "password123").await;
    let r = h
        .post(
            &format!("/api/v1/connected-accounts/{other}/company/access-token"),
            &headers,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 403);
    h.post(
        "/api/v1/connected-accounts/me/nope/access-token",
        &headers,
        json!({}),
    )
    .await
    .assert_error(400, "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED");
    let accounts = h
        .get("/api/v1/oauth-providers?user_id=me", &headers)
        .await
        .assert_ok();
    assert_eq!(accounts["items"][0]["type"], "oidc");
    assert!(
        accounts["items"][0].get("account_id").is_none(),
        "client view"
    );
}

async fn anonymous_users_upgrade_and_mfa_is_required(env: Env) {
    let (h, provider) = setup(&env, ProjectConfig::default()).await;
    let anon = h
        .post("/api/v1/auth/anonymous/sign-up", &h.client(), json!({}))
        .await
        .assert_ok();
    let anon_id = anon["user_id"].clone();
    provider.queue_login(Account::verified("sub-anon", "anon@example.com"));
    let t = sign_in(&h, &[("token", anon["access_token"].as_str().unwrap())])
        .await
        .assert_ok();
    assert_eq!(t["is_new_user"], true);
    let user = me(&h, t["access_token"].as_str().unwrap()).await;
    assert_eq!(user["id"], anon_id, "upgraded in place");
    assert_eq!(user["is_anonymous"], false);
    assert_eq!(user["primary_email"], "anon@example.com");

    // A user with TOTP gets the second factor, not a session.
    let uid = user["id"].as_str().unwrap();
    h.patch(
        &format!("/api/v1/users/{uid}"),
        &h.server(),
        json!({ "totp_secret_base64": "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=" }),
    )
    .await
    .assert_ok();
    provider.queue_login(Account::verified("sub-anon", "anon@example.com"));
    let r = sign_in(&h, &[]).await;
    let v = r.assert_error(400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED");
    assert!(v["details"]["attempt_code"].is_string());
}

async fn sign_up_rules_see_the_provider(env: Env) {
    let (h, provider) = setup(&env, ProjectConfig::default()).await;
    h.patch(
        "/api/v1/internal/config/override/environment",
        &h.admin(),
        json!({ "config_override_string": json!({
            "auth.signUpRules.no-company": {
                "enabled": true,
                "priority": 1,
                "condition": "authMethod == 'oauth' && oauthProvider == 'company' && emailDomain == 'blocked.example'",
                "action": { "type": "reject" },
            },
        }).to_string() }),
    )
    .await
    .assert_ok();
    provider.queue_login(Account::verified("sub-blocked", "x@blocked.example"));
    let a = authorize(&h, &[]).await;
    let back = at_provider(&a).await;
    let r = callback(&h, &back, &flow_cookie(&a)).await;
    assert_eq!(r.status, 307);
    assert_eq!(
        param(&location(&r), "errorCode").as_deref(),
        Some("SIGN_UP_REJECTED")
    );
    let users = h.get("/api/v1/users", &h.server()).await.assert_ok();
    assert_eq!(
        users["items"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );

    provider.queue_login(Account::verified("sub-ok", "x@fine.example"));
    sign_in(&h, &[]).await.assert_ok();
}

async fn private_issuers_need_the_operators_consent(env: Env) {
    // The provider listens on 127.0.0.1: without the operator's consent, a project admin
    // cannot make the server call it.
    let (h, provider) = setup_with(&env, ProjectConfig::default(), false).await;
    authorize(&h, &[])
        .await
        .assert_error(400, "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED");
    assert_eq!(provider.token_requests(), 0);
}
