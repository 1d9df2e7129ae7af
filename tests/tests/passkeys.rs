//! Passkeys end to end: a software authenticator (webauthn-authenticator-rs's `SoftPasskey`)
//! registers and signs in through Stack's four routes, through `Postern::handle`, axum and
//! actix, on SQLite and PostgreSQL; and the ways a ceremony must fail (wrong origin,
//! replayed challenge, a signature over other data, another project's credential, a counter
//! going backwards, a deleted passkey, a user with MFA), each as a known error, never a 500.

#[macro_use]
mod support;

use base64::Engine as _;
use postern_core::ProjectConfig;
use serde_json::{Value, json};
use support::*;
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{CreationChallengeResponse, RequestChallengeResponse};

contract_suite!(
    register_and_sign_in,
    refused_when_disabled_or_without_a_user,
    origins_must_be_trusted,
    challenges_are_single_use_and_expire,
    signatures_over_other_data_are_refused,
    credentials_of_another_project_are_not_found,
    a_counter_going_backwards_is_refused,
    deleted_passkeys_do_not_sign_in,
    users_with_totp_get_the_second_factor,
    one_passkey_per_user_unless_configured,
    hostile_bodies_get_known_errors,
    stacks_recorded_credentials_in_test_mode,
    an_older_session_needs_a_step_up_to_register,
);

const REGISTER_INIT: &str = "/api/v1/auth/passkey/initiate-passkey-registration";
const REGISTER: &str = "/api/v1/auth/passkey/register";
const SIGN_IN_INIT: &str = "/api/v1/auth/passkey/initiate-passkey-authentication";
const SIGN_IN: &str = "/api/v1/auth/passkey/sign-in";
const SENTINEL: &str = "THIS_VALUE_WILL_BE_REPLACED.example.com";
const SIGNATURE_MESSAGE: &str = "The signature of the authentication response could not be verified with the stored public key tied to this credential ID";

fn enabled() -> ProjectConfig {
    let mut cfg = ProjectConfig::default();
    cfg.auth.passkey.allow_sign_in = true;
    cfg
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn un_b64url(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .expect("base64url")
}

/// A browser with a software authenticator, at one origin. It does what Stack's SDK does
/// with the options (the sentinel RP id becomes the page's hostname) and what a browser
/// does with the response (`clientExtensionResults`). SoftPasskey keeps no resident keys
/// and verifies the user only when told `required`, so the options are adjusted for it:
/// no `requireResidentKey`, `userVerification: "required"` (what a platform authenticator
/// does under `preferred`), and the credential named in `allowCredentials`.
struct Browser {
    key: SoftPasskey,
    origin: Url,
    /// The RP id the page asks for, if not its hostname (a parent domain).
    rp_id: Option<String>,
}

impl Browser {
    fn at(origin: &str) -> Self {
        Browser {
            key: SoftPasskey::new(true),
            origin: Url::parse(origin).expect("origin"),
            rp_id: None,
        }
    }

    fn host(&self) -> String {
        self.rp_id
            .clone()
            .unwrap_or_else(|| self.origin.host_str().expect("host").to_owned())
    }

    /// `navigator.credentials.create` with the server's `options_json`.
    fn create(&mut self, options: &Value) -> Value {
        assert_eq!(
            options["rp"]["id"], SENTINEL,
            "the SDK asserts the sentinel"
        );
        let mut o = options.clone();
        o["rp"]["id"] = json!(self.host());
        o["authenticatorSelection"]["requireResidentKey"] = json!(false);
        o["authenticatorSelection"]["userVerification"] = json!("required");
        let ccr: CreationChallengeResponse =
            serde_json::from_value(json!({ "publicKey": o })).expect("creation options");
        let cred = self
            .key
            .do_registration(self.origin.clone(), ccr)
            .expect("the authenticator registers");
        browser_json(serde_json::to_value(cred).unwrap())
    }

    /// `navigator.credentials.get` with the server's `options_json`, for `credential_id`.
    fn get(&mut self, options: &Value, credential_id: &str) -> Value {
        assert_eq!(options["rpId"], SENTINEL, "the SDK asserts the sentinel");
        let mut o = options.clone();
        o["rpId"] = json!(self.host());
        o["allowCredentials"] = json!([{ "type": "public-key", "id": credential_id }]);
        o["userVerification"] = json!("required");
        let rcr: RequestChallengeResponse =
            serde_json::from_value(json!({ "publicKey": o })).expect("request options");
        let assertion = self
            .key
            .do_authentication(self.origin.clone(), rcr)
            .expect("the authenticator signs");
        browser_json(serde_json::to_value(assertion).unwrap())
    }
}

/// webauthn-rs serializes the extension outputs as `extensions`; browsers send
/// `clientExtensionResults`.
fn browser_json(mut v: Value) -> Value {
    if let Some(ext) = v.as_object_mut().and_then(|o| o.remove("extensions")) {
        v["clientExtensionResults"] = ext;
    }
    v
}

fn me(h: &H, access_token: &str) -> Headers {
    with(h.client(), "x-stack-access-token", access_token)
}

/// Starts a registration as the user; returns (options, code).
async fn start_registration(h: &H, at: &str) -> (Value, String) {
    let v = h
        .post(REGISTER_INIT, &me(h, at), json!({}))
        .await
        .assert_ok();
    (
        v["options_json"].clone(),
        v["code"].as_str().unwrap().to_owned(),
    )
}

/// Starts a sign-in; returns (options, code).
async fn start_sign_in(h: &H, headers: &Headers) -> (Value, String) {
    let v = h.post(SIGN_IN_INIT, headers, json!({})).await.assert_ok();
    (
        v["options_json"].clone(),
        v["code"].as_str().unwrap().to_owned(),
    )
}

/// Registers a passkey of `browser` for the user; returns its credential id.
async fn register(h: &H, at: &str, browser: &mut Browser) -> String {
    let (options, code) = start_registration(h, at).await;
    let credential = browser.create(&options);
    let v = h
        .post(
            REGISTER,
            &me(h, at),
            json!({ "credential": credential, "code": code }),
        )
        .await
        .assert_ok();
    let handle = v["user_handle"].as_str().unwrap().to_owned();
    assert_eq!(handle, credential["id"], "user_handle is the credential id");
    handle
}

/// A whole sign-in ceremony; returns the response.
async fn sign_in(h: &H, browser: &mut Browser, credential_id: &str) -> Resp {
    let (options, code) = start_sign_in(h, &h.client()).await;
    let assertion = browser.get(&options, credential_id);
    h.post(
        SIGN_IN,
        &h.client(),
        json!({ "authentication_response": assertion, "code": code }),
    )
    .await
}

async fn user_view(h: &H, user_id: &str) -> Value {
    h.get(&format!("/api/v1/users/{user_id}"), &h.server())
        .await
        .assert_ok()
}

async fn passkeys_of(h: &H, at: &str) -> Vec<Value> {
    h.get("/api/v1/users/me/passkeys", &me(h, at))
        .await
        .assert_ok()["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[track_caller]
fn assert_message(v: &Value, message: &str) {
    assert_eq!(v["error"], message, "{v}");
    assert!(v.get("details").is_none(), "no details: {v}");
}

async fn register_and_sign_in(env: Env) {
    let h = harness_with(&env, enabled()).await;
    let (uid, at, _) = h.sign_up("pk@example.com", "password123").await;
    assert_eq!(user_view(&h, &uid).await["passkey_auth_enabled"], false);

    let (options, code) = start_registration(&h, &at).await;
    assert_eq!(code.len(), 45);
    assert_eq!(
        options["rp"],
        json!({ "id": SENTINEL, "name": "Test project" })
    );
    assert_eq!(
        options["user"]["id"],
        b64url(uid.as_bytes()),
        "the UTF-8 bytes of the user id"
    );
    assert_eq!(options["user"]["name"], "pk@example.com");
    assert_eq!(options["user"]["displayName"], "pk@example.com");
    assert_eq!(
        options["pubKeyCredParams"],
        json!([
            { "alg": -8, "type": "public-key" },
            { "alg": -7, "type": "public-key" },
            { "alg": -257, "type": "public-key" },
        ])
    );
    assert_eq!(options["timeout"], 60000);
    assert_eq!(options["attestation"], "none");
    assert_eq!(options["excludeCredentials"], json!([]));
    assert_eq!(
        options["authenticatorSelection"],
        json!({ "residentKey": "required", "requireResidentKey": true, "userVerification": "preferred" })
    );
    assert_eq!(options["extensions"], json!({ "credProps": true }));
    assert!(options.get("hints").is_none());
    assert_eq!(un_b64url(options["challenge"].as_str().unwrap()).len(), 32);

    let mut browser = Browser::at("http://localhost:3000");
    let credential = browser.create(&options);
    let v = h
        .post(
            REGISTER,
            &me(&h, &at),
            json!({ "credential": credential, "code": code, "name": " Work laptop " }),
        )
        .await
        .assert_ok();
    let handle = v["user_handle"].as_str().unwrap().to_owned();
    assert_eq!(v, json!({ "user_handle": handle }));
    let user = user_view(&h, &uid).await;
    assert_eq!(user["passkey_auth_enabled"], true);
    let me_view = h.get("/api/v1/users/me", &me(&h, &at)).await.assert_ok();
    assert_eq!(me_view["passkey_auth_enabled"], true);
    let listed = passkeys_of(&h, &at).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "Work laptop");
    assert_eq!(listed[0]["credential_id"], handle);
    assert_eq!(listed[0]["algorithm"], -7);
    assert_eq!(listed[0]["last_used_at_millis"], Value::Null);

    // Sign in, without any session.
    let (options, code) = start_sign_in(&h, &h.client()).await;
    assert_eq!(code.len(), 45);
    assert_eq!(options["rpId"], SENTINEL);
    assert_eq!(options["allowCredentials"], json!([]));
    assert_eq!(options["userVerification"], "preferred");
    assert_eq!(options["timeout"], 60000);
    let assertion = browser.get(&options, &handle);
    let v = h
        .post(
            SIGN_IN,
            &h.client(),
            json!({ "authentication_response": assertion, "code": code }),
        )
        .await
        .assert_ok();
    assert_eq!(v["user_id"], uid);
    assert_eq!(v["is_new_user"], false);
    let fresh = v["access_token"].as_str().unwrap();
    let again = h.get("/api/v1/users/me", &me(&h, fresh)).await.assert_ok();
    assert_eq!(again["id"], uid);
    assert!(v["refresh_token"].as_str().unwrap().len() >= 40);
    let listed = passkeys_of(&h, &at).await;
    assert!(listed[0]["last_used_at_millis"].is_i64());

    // Several sign-ins in a row (the counter moves forward each time).
    for _ in 0..2 {
        let v = sign_in(&h, &mut browser, &handle).await.assert_ok();
        assert_eq!(v["user_id"], uid);
    }
    // Sign-ins are in the audit log.
    let log = h
        .get(
            &format!(
                "/api/v1/internal/audit-log?user_id={uid}&type=sign_in.succeeded,passkey.registered"
            ),
            &h.admin(),
        )
        .await
        .assert_ok();
    let items = log["items"].as_array().unwrap();
    assert_eq!(
        items
            .iter()
            .filter(|e| e["details"]["method"] == "passkey")
            .count(),
        3
    );
    assert!(items.iter().any(|e| e["type"] == "passkey.registered"));
}

async fn refused_when_disabled_or_without_a_user(env: Env) {
    let h = harness(&env).await;
    let (_, at, _) = h.sign_up("off@example.com", "password123").await;
    let not_enabled = |r: Resp| {
        let v = r.assert_error(400, "PASSKEY_AUTHENTICATION_NOT_ENABLED");
        assert_message(
            &v,
            "Passkey authentication is not enabled for this project.",
        );
    };
    not_enabled(h.post(REGISTER_INIT, &me(&h, &at), json!({})).await);
    not_enabled(h.post(SIGN_IN_INIT, &h.client(), json!({})).await);

    let h = harness_with(&env, enabled()).await;
    let v = h
        .post(REGISTER_INIT, &h.client(), json!({}))
        .await
        .assert_error(400, "SCHEMA_ERROR");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("auth.user must be defined")
    );
    let v = h
        .post(
            REGISTER,
            &h.client(),
            json!({ "credential": {}, "code": "x".repeat(45) }),
        )
        .await
        .assert_error(400, "SCHEMA_ERROR");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("auth.user must be defined")
    );
    // The body of the initiating routes is ignored, as Stack's.
    h.post(SIGN_IN_INIT, &h.client(), json!({ "anything": 1 }))
        .await
        .assert_ok();
    h.call(http::Method::POST, SIGN_IN_INIT, &h.client(), None)
        .await
        .assert_ok();

    // Turned off after a registration: the ceremonies and the code are refused, the code
    // used up.
    let (_, at, _) = h.sign_up("later@example.com", "password123").await;
    let mut browser = Browser::at("http://localhost:3000");
    let handle = register(&h, &at, &mut browser).await;
    let (options, code) = start_sign_in(&h, &h.client()).await;
    let assertion = browser.get(&options, &handle);
    let mut cfg = h.project.config.clone();
    cfg.auth.passkey.allow_sign_in = false;
    let project = h
        .postern
        .projects()
        .update_config(&h.project.id, cfg)
        .await
        .expect("config")
        .expect("project");
    assert!(!project.config.auth.passkey.allow_sign_in);
    let body = json!({ "authentication_response": assertion, "code": code });
    not_enabled(h.post(SIGN_IN, &h.client(), body.clone()).await);
    h.post(SIGN_IN, &h.client(), body)
        .await
        .assert_error(409, "VERIFICATION_CODE_ALREADY_USED");
}

async fn origins_must_be_trusted(env: Env) {
    let mut cfg = enabled();
    cfg.domains.trusted_domains.insert(
        "app".into(),
        serde_json::from_value(json!({ "baseUrl": "https://*.example.com" })).unwrap(),
    );
    let h = harness_with(&env, cfg).await;
    let (_, at, _) = h.sign_up("origin@example.com", "password123").await;

    // An origin that is not trusted.
    let mut evil = Browser::at("https://evil.example.net");
    let (options, code) = start_registration(&h, &at).await;
    let credential = evil.create(&options);
    let v = h
        .post(
            REGISTER,
            &me(&h, &at),
            json!({ "credential": credential, "code": code }),
        )
        .await
        .assert_error(400, "PASSKEY_REGISTRATION_FAILED");
    assert_message(
        &v,
        "Passkey registration failed because the origin is not allowed",
    );
    // Loopback IPs pass the localhost rule, but an IP address has no RP id (browsers
    // refuse one too, so the client data is rewritten here).
    let (options, code) = start_registration(&h, &at).await;
    let mut credential = Browser::at("http://localhost:3000").create(&options);
    let mut client_data: Value = serde_json::from_slice(&un_b64url(
        credential["response"]["clientDataJSON"].as_str().unwrap(),
    ))
    .unwrap();
    client_data["origin"] = json!("http://127.0.0.1:3000");
    credential["response"]["clientDataJSON"] = json!(b64url(client_data.to_string().as_bytes()));
    let v = h
        .post(
            REGISTER,
            &me(&h, &at),
            json!({ "credential": credential, "code": code }),
        )
        .await
        .assert_error(400, "PASSKEY_REGISTRATION_FAILED");
    assert_message(
        &v,
        "Passkey registration failed because the verification response is invalid",
    );

    // A wildcard trusted domain: the RP id is the origin's host.
    let mut app = Browser::at("https://app.example.com");
    let handle = register(&h, &at, &mut app).await;
    sign_in(&h, &mut app, &handle).await.assert_ok();

    // The same credential used from an untrusted origin, and from a trusted origin asking
    // for another RP id than its hostname (a parent domain, which a browser allows): the
    // RP id is the origin's host, as Stack's.
    let mut moved = Browser::at("https://evil.example.net");
    std::mem::swap(&mut moved.key, &mut app.key);
    let v = sign_in(&h, &mut moved, &handle)
        .await
        .assert_error(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert_message(
        &v,
        "Passkey authentication failed because the origin is not allowed",
    );
    let mut other_site = Browser::at("https://app.example.com");
    other_site.rp_id = Some("example.com".into());
    std::mem::swap(&mut other_site.key, &mut moved.key);
    let v = sign_in(&h, &mut other_site, &handle)
        .await
        .assert_error(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert_message(&v, SIGNATURE_MESSAGE);

    // The origin written into clientDataJSON is checked as is: an assertion from the right
    // origin whose clientDataJSON claims another is refused (the signature covers it).
    let mut back = Browser::at("https://app.example.com");
    std::mem::swap(&mut back.key, &mut other_site.key);
    let (options, code) = start_sign_in(&h, &h.client()).await;
    let mut assertion = back.get(&options, &handle);
    let mut client_data: Value = serde_json::from_slice(&un_b64url(
        assertion["response"]["clientDataJSON"].as_str().unwrap(),
    ))
    .unwrap();
    client_data["origin"] = json!("https://login.example.com");
    assertion["response"]["clientDataJSON"] = json!(b64url(client_data.to_string().as_bytes()));
    let v = h
        .post(
            SIGN_IN,
            &h.client(),
            json!({ "authentication_response": assertion, "code": code }),
        )
        .await
        .assert_error(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert_message(&v, SIGNATURE_MESSAGE);
    // Still usable from its origin.
    sign_in(&h, &mut back, &handle).await.assert_ok();
}

async fn challenges_are_single_use_and_expire(env: Env) {
    let h = harness_with(&env, enabled()).await;
    let (uid, at, _) = h.sign_up("replay@example.com", "password123").await;
    let mut browser = Browser::at("http://localhost:3000");

    // A registration code is its requester's and good once.
    let (options, code) = start_registration(&h, &at).await;
    let credential = browser.create(&options);
    let (_, other_at, _) = h.sign_up("other@example.com", "password123").await;
    let body = json!({ "credential": credential, "code": code });
    h.post(REGISTER, &me(&h, &other_at), body.clone())
        .await
        .assert_error(404, "VERIFICATION_CODE_NOT_FOUND");
    let v = h
        .post(REGISTER, &me(&h, &at), body.clone())
        .await
        .assert_ok();
    let handle = v["user_handle"].as_str().unwrap().to_owned();
    h.post(REGISTER, &me(&h, &at), body)
        .await
        .assert_error(409, "VERIFICATION_CODE_ALREADY_USED");

    // A sign-in challenge: the same response twice, then with a new code.
    let (options, code) = start_sign_in(&h, &h.client()).await;
    let assertion = browser.get(&options, &handle);
    let body = json!({ "authentication_response": assertion, "code": code });
    assert_eq!(
        h.post(SIGN_IN, &h.client(), body.clone()).await.assert_ok()["user_id"],
        uid
    );
    h.post(SIGN_IN, &h.client(), body)
        .await
        .assert_error(409, "VERIFICATION_CODE_ALREADY_USED");
    let (_, fresh) = start_sign_in(&h, &h.client()).await;
    let v = h
        .post(
            SIGN_IN,
            &h.client(),
            json!({ "authentication_response": assertion, "code": fresh }),
        )
        .await
        .assert_error(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert_message(&v, SIGNATURE_MESSAGE);
    // ... and that code is used up by the failure.
    h.post(
        SIGN_IN,
        &h.client(),
        json!({ "authentication_response": assertion, "code": fresh }),
    )
    .await
    .assert_error(409, "VERIFICATION_CODE_ALREADY_USED");

    // Codes of one ceremony do not finish the other.
    let (options, reg_code) = start_registration(&h, &at).await;
    let (_, sign_in_code) = start_sign_in(&h, &h.client()).await;
    h.post(
        SIGN_IN,
        &h.client(),
        json!({ "authentication_response": assertion, "code": reg_code }),
    )
    .await
    .assert_error(404, "VERIFICATION_CODE_NOT_FOUND");
    let credential = Browser::at("http://localhost:3000").create(&options);
    h.post(
        REGISTER,
        &me(&h, &at),
        json!({ "credential": credential, "code": sign_in_code }),
    )
    .await
    .assert_error(404, "VERIFICATION_CODE_NOT_FOUND");

    // 65 seconds.
    let (options, code) = start_sign_in(&h, &h.client()).await;
    let assertion = browser.get(&options, &handle);
    h.postern.clock().advance_millis(66_000);
    h.post(
        SIGN_IN,
        &h.client(),
        json!({ "authentication_response": assertion, "code": code }),
    )
    .await
    .assert_error(400, "VERIFICATION_CODE_EXPIRED");
}

async fn signatures_over_other_data_are_refused(env: Env) {
    let h = harness_with(&env, enabled()).await;
    let (_, at, _) = h.sign_up("sig@example.com", "password123").await;
    let mut browser = Browser::at("http://localhost:3000");

    // A registration whose clientDataJSON names another challenge.
    let (options, code) = start_registration(&h, &at).await;
    let mut other = options.clone();
    other["challenge"] = json!(b64url(&[7u8; 32]));
    let credential = browser.create(&other);
    let v = h
        .post(
            REGISTER,
            &me(&h, &at),
            json!({ "credential": credential, "code": code }),
        )
        .await
        .assert_error(400, "PASSKEY_REGISTRATION_FAILED");
    assert_message(
        &v,
        "Passkey registration failed because the verification response is invalid",
    );

    let handle = register(&h, &at, &mut browser).await;
    let tamper = |field: &'static str, f: fn(&mut Vec<u8>)| {
        move |mut a: Value| {
            let mut bytes = un_b64url(a["response"][field].as_str().unwrap());
            f(&mut bytes);
            a["response"][field] = json!(b64url(&bytes));
            a
        }
    };
    type Tamper = Box<dyn Fn(Value) -> Value>;
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "flipped signature bit",
            Box::new(tamper("signature", |b| {
                let n = b.len() - 1;
                b[n] ^= 1
            })),
        ),
        (
            "a signature over other client data",
            Box::new(tamper("clientDataJSON", |b| {
                let mut v: Value = serde_json::from_slice(b).unwrap();
                v["extra"] = json!("x");
                *b = v.to_string().into_bytes();
            })),
        ),
        (
            "other authenticator data",
            Box::new(tamper("authenticatorData", |b| b[36] ^= 0x80)),
        ),
        (
            "a registration's client data type",
            Box::new(tamper("clientDataJSON", |b| {
                let mut v: Value = serde_json::from_slice(b).unwrap();
                v["type"] = json!("webauthn.create");
                *b = v.to_string().into_bytes();
            })),
        ),
    ];
    for (what, change) in cases {
        let (options, code) = start_sign_in(&h, &h.client()).await;
        let assertion = change(browser.get(&options, &handle));
        let v = h
            .post(
                SIGN_IN,
                &h.client(),
                json!({ "authentication_response": assertion, "code": code }),
            )
            .await
            .assert_error(400, "PASSKEY_AUTHENTICATION_FAILED");
        assert_eq!(v["error"], SIGNATURE_MESSAGE, "{what}");
    }
    // The genuine one still works.
    sign_in(&h, &mut browser, &handle).await.assert_ok();
}

async fn credentials_of_another_project_are_not_found(env: Env) {
    let h = harness_with(&env, enabled()).await;
    let (_, at, _) = h.sign_up("first@example.com", "password123").await;
    let mut browser = Browser::at("http://localhost:3000");
    let handle = register(&h, &at, &mut browser).await;

    let (other, keys) = h
        .postern
        .projects()
        .create(None, "Other project", enabled())
        .await
        .expect("project");
    let headers: Headers = vec![
        ("x-stack-access-type".into(), "client".into()),
        ("x-stack-project-id".into(), other.id.clone()),
        (
            "x-stack-publishable-client-key".into(),
            keys.publishable_client_key.clone(),
        ),
    ];
    let (options, code) = start_sign_in(&h, &headers).await;
    let assertion = browser.get(&options, &handle);
    let v = h
        .post(
            SIGN_IN,
            &headers,
            json!({ "authentication_response": assertion, "code": code }),
        )
        .await
        .assert_error(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert_message(&v, "Passkey not found");
    // Nor does this project's code work there.
    let (options, code) = start_sign_in(&h, &h.client()).await;
    let assertion = browser.get(&options, &handle);
    h.post(
        SIGN_IN,
        &headers,
        json!({ "authentication_response": assertion, "code": code }),
    )
    .await
    .assert_error(404, "VERIFICATION_CODE_NOT_FOUND");
}

async fn a_counter_going_backwards_is_refused(env: Env) {
    let h = harness_with(&env, enabled()).await;
    let (uid, at, _) = h.sign_up("clone@example.com", "password123").await;
    let mut browser = Browser::at("http://localhost:3000");
    let handle = register(&h, &at, &mut browser).await;

    // Two assertions: the later one (higher counter) arrives first.
    let (first_options, first_code) = start_sign_in(&h, &h.client()).await;
    let (second_options, second_code) = start_sign_in(&h, &h.client()).await;
    let earlier = browser.get(&first_options, &handle);
    let later = browser.get(&second_options, &handle);
    h.post(
        SIGN_IN,
        &h.client(),
        json!({ "authentication_response": later, "code": second_code }),
    )
    .await
    .assert_ok();
    let v = h
        .post(
            SIGN_IN,
            &h.client(),
            json!({ "authentication_response": earlier, "code": first_code }),
        )
        .await
        .assert_error(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert_message(&v, SIGNATURE_MESSAGE);
    let log = h
        .get(
            &format!("/api/v1/internal/audit-log?user_id={uid}&type=sign_in.failed"),
            &h.admin(),
        )
        .await
        .assert_ok();
    assert_eq!(log["items"][0]["details"]["reason"], "possible_clone");
    assert_eq!(log["items"][0]["details"]["method"], "passkey");
    // The authenticator going on from its own counter still signs in.
    sign_in(&h, &mut browser, &handle).await.assert_ok();
}

async fn deleted_passkeys_do_not_sign_in(env: Env) {
    let h = harness_with(&env, enabled()).await;
    let (uid, at, _) = h.sign_up("gone@example.com", "password123").await;
    let mut browser = Browser::at("http://localhost:3000");
    let handle = register(&h, &at, &mut browser).await;
    let id = passkeys_of(&h, &at).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Someone else cannot delete it.
    let (_, other_at, _) = h.sign_up("intruder@example.com", "password123").await;
    h.delete(
        &format!("/api/v1/users/me/passkeys/{id}"),
        &me(&h, &other_at),
    )
    .await
    .assert_error(404, "PASSKEY_NOT_FOUND");

    // An assertion made before the deletion.
    let (options, code) = start_sign_in(&h, &h.client()).await;
    let assertion = browser.get(&options, &handle);
    h.delete(&format!("/api/v1/users/me/passkeys/{id}"), &me(&h, &at))
        .await
        .assert_ok();
    h.delete(&format!("/api/v1/users/me/passkeys/{id}"), &me(&h, &at))
        .await
        .assert_error(404, "PASSKEY_NOT_FOUND");
    assert_eq!(user_view(&h, &uid).await["passkey_auth_enabled"], false);
    let v = h
        .post(
            SIGN_IN,
            &h.client(),
            json!({ "authentication_response": assertion, "code": code }),
        )
        .await
        .assert_error(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert_message(&v, "Passkey not found");

    // `passkey_auth_enabled: false` removes it too; `true` is refused.
    let handle = register(&h, &at, &mut browser).await;
    assert_eq!(user_view(&h, &uid).await["passkey_auth_enabled"], true);
    let r = h
        .patch(
            "/api/v1/users/me",
            &me(&h, &at),
            json!({ "passkey_auth_enabled": true }),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        "Cannot manually enable passkey auth, it is enabled iff there is a passkey auth method"
    );
    let v = h
        .patch(
            &format!("/api/v1/users/{uid}"),
            &h.server(),
            json!({ "passkey_auth_enabled": false }),
        )
        .await
        .assert_ok();
    assert_eq!(v["passkey_auth_enabled"], false);
    assert!(passkeys_of(&h, &at).await.is_empty());
    let v = sign_in(&h, &mut browser, &handle)
        .await
        .assert_error(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert_message(&v, "Passkey not found");

    // Deleting the user deletes its passkeys.
    let handle = register(&h, &at, &mut browser).await;
    h.delete(&format!("/api/v1/users/{uid}"), &h.server())
        .await
        .assert_ok();
    let v = sign_in(&h, &mut browser, &handle)
        .await
        .assert_error(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert_message(&v, "Passkey not found");
}

async fn users_with_totp_get_the_second_factor(env: Env) {
    let h = harness_with(&env, enabled()).await;
    let (uid, at, _) = h.sign_up("mfa@example.com", "password123").await;
    let mut browser = Browser::at("http://localhost:3000");
    let handle = register(&h, &at, &mut browser).await;
    let secret: Vec<u8> = (0u8..20)
        .map(|i| i.wrapping_mul(29).wrapping_add(3))
        .collect();
    h.patch(
        &format!("/api/v1/users/{uid}"),
        &h.server(),
        json!({ "totp_secret_base64": base64::engine::general_purpose::STANDARD.encode(&secret) }),
    )
    .await
    .assert_ok();

    let v = sign_in(&h, &mut browser, &handle)
        .await
        .assert_error(400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED");
    assert_eq!(
        v["error"],
        "Multi-factor authentication is required for this user."
    );
    let attempt = v["details"]["attempt_code"].as_str().unwrap().to_owned();
    assert_eq!(attempt.len(), 45);
    let totp = totp_now(&h.postern, &secret);
    let v = h
        .post(
            "/api/v1/auth/mfa/sign-in",
            &h.client(),
            json!({ "code": attempt, "type": "totp", "totp": totp }),
        )
        .await
        .assert_ok();
    assert_eq!(v["user_id"], uid);
    assert_eq!(v["is_new_user"], false);
}

async fn one_passkey_per_user_unless_configured(env: Env) {
    // Stack's default: a registration replaces the user's passkey.
    let h = harness_with(&env, enabled()).await;
    let (uid, at, _) = h.sign_up("one@example.com", "password123").await;
    let mut laptop = Browser::at("http://localhost:3000");
    let mut phone = Browser::at("http://localhost:3000");
    let first = register(&h, &at, &mut laptop).await;
    let second = register(&h, &at, &mut phone).await;
    let listed = passkeys_of(&h, &at).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["credential_id"], second);
    let v = sign_in(&h, &mut laptop, &first)
        .await
        .assert_error(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert_message(&v, "Passkey not found");
    assert_eq!(
        sign_in(&h, &mut phone, &second).await.assert_ok()["user_id"],
        uid
    );
    let (options, _) = start_registration(&h, &at).await;
    assert_eq!(options["excludeCredentials"], json!([]));
    assert!(
        h.project.config.to_json()["auth"]["passkey"]
            .get("allowMultiplePerUser")
            .is_none(),
        "rendered only when set"
    );

    // Several per user.
    let mut cfg = enabled();
    cfg.auth.passkey.allow_multiple_per_user = true;
    let h = harness_with(&env, cfg).await;
    let (uid, at, _) = h.sign_up("many@example.com", "password123").await;
    let first = register(&h, &at, &mut laptop).await;
    let (options, code) = start_registration(&h, &at).await;
    assert_eq!(
        options["excludeCredentials"][0]["id"], first,
        "the browser is told which authenticators have one"
    );
    let credential = phone.create(&options);
    let second = h
        .post(
            REGISTER,
            &me(&h, &at),
            json!({ "credential": credential, "code": code }),
        )
        .await
        .assert_ok()["user_handle"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = passkeys_of(&h, &at).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["credential_id"], first, "oldest first");
    for (browser, handle) in [(&mut laptop, &first), (&mut phone, &second)] {
        assert_eq!(
            sign_in(&h, browser, handle).await.assert_ok()["user_id"],
            uid
        );
    }
    // Rename, clear, refuse a long name.
    let id = listed[1]["id"].as_str().unwrap();
    let path = format!("/api/v1/users/me/passkeys/{id}");
    let v = h
        .patch(&path, &me(&h, &at), json!({ "name": "  Phone  " }))
        .await
        .assert_ok();
    assert_eq!(v["name"], "Phone");
    assert_eq!(v["device_type"], "singleDevice");
    let v = h
        .patch(&path, &me(&h, &at), json!({ "name": null }))
        .await
        .assert_ok();
    assert_eq!(v["name"], Value::Null);
    h.patch(&path, &me(&h, &at), json!({ "name": "x".repeat(101) }))
        .await
        .assert_error(400, "SCHEMA_ERROR");
    h.patch(&path, &me(&h, &at), json!({ "nick": "x" }))
        .await
        .assert_error(400, "SCHEMA_ERROR");
    h.patch(
        "/api/v1/users/me/passkeys/not-a-uuid",
        &me(&h, &at),
        json!({ "name": "x" }),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    h.get("/api/v1/users/me/passkeys", &h.client())
        .await
        .assert_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    // Deleting one keeps the other, and the flag.
    h.delete(&path, &me(&h, &at)).await.assert_ok();
    assert_eq!(passkeys_of(&h, &at).await.len(), 1);
    assert_eq!(user_view(&h, &uid).await["passkey_auth_enabled"], true);
    let v = sign_in(&h, &mut phone, &second)
        .await
        .assert_error(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert_message(&v, "Passkey not found");
    sign_in(&h, &mut laptop, &first).await.assert_ok();
}

async fn hostile_bodies_get_known_errors(env: Env) {
    let h = harness_with(&env, enabled()).await;
    let (_, at, _) = h.sign_up("hostile@example.com", "password123").await;
    let mut browser = Browser::at("http://localhost:3000");
    let handle = register(&h, &at, &mut browser).await;

    let registrations = [
        json!("a string"),
        json!(42),
        json!(null),
        json!([]),
        json!({}),
        json!({ "id": "x", "rawId": "!!!", "type": "public-key", "response": {} }),
        json!({ "id": "AA", "rawId": "AA", "type": "public-key", "response": { "attestationObject": "AA", "clientDataJSON": "AA" } }),
        json!({ "id": "AA", "rawId": "AA", "type": "public-key", "response": { "attestationObject": "AA", "clientDataJSON": b64url(b"{\"origin\": 5}") } }),
        json!({ "id": "AA", "rawId": "AA", "type": "public-key", "response": { "attestationObject": b64url(&[0xff; 300]), "clientDataJSON": b64url(json!({"type": "webauthn.create", "challenge": "AA", "origin": "http://localhost:3000"}).to_string().as_bytes()) } }),
        json!({ "id": "AA", "rawId": "AA", "type": "public-key", "response": { "attestationObject": b64url(&[0xa1; 64]), "clientDataJSON": b64url(json!({"type": "webauthn.create", "challenge": "AA", "origin": "not a url"}).to_string().as_bytes()) } }),
    ];
    for credential in registrations {
        let (_, code) = start_registration(&h, &at).await;
        let r = h
            .post(
                REGISTER,
                &me(&h, &at),
                json!({ "credential": credential, "code": code }),
            )
            .await;
        assert_eq!(r.status, 400, "{credential}: {}", r.text());
        assert_eq!(
            r.json()["code"],
            "PASSKEY_REGISTRATION_FAILED",
            "{credential}"
        );
    }
    h.post(REGISTER, &me(&h, &at), json!({ "code": "x".repeat(45) }))
        .await
        .assert_error(400, "SCHEMA_ERROR");
    h.post(
        REGISTER,
        &me(&h, &at),
        json!({ "credential": {}, "code": "short" }),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    h.post(
        REGISTER,
        &me(&h, &at),
        json!({ "credential": {}, "code": "x".repeat(45), "extra": 1 }),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    h.post(
        REGISTER,
        &me(&h, &at),
        json!({ "credential": {}, "code": "é".repeat(45) }),
    )
    .await
    .assert_error(404, "VERIFICATION_CODE_NOT_FOUND");

    let good = {
        let (options, _) = start_sign_in(&h, &h.client()).await;
        browser.get(&options, &handle)
    };
    let with_response = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        v
    };
    let sign_ins: Vec<(Value, &str)> = vec![
        (json!("a string"), "Passkey not found"),
        (json!(null), "Passkey not found"),
        (json!({}), "Passkey not found"),
        (json!({ "id": 5 }), "Passkey not found"),
        (json!({ "id": "does-not-exist" }), "Passkey not found"),
        (json!({ "id": "%%%" }), "Passkey not found"),
        (json!({ "id": handle }), SIGNATURE_MESSAGE),
        (
            with_response(&|v| v["response"]["clientDataJSON"] = json!("!!")),
            SIGNATURE_MESSAGE,
        ),
        (
            with_response(&|v| v["response"]["clientDataJSON"] = json!(b64url(b"[1,2]"))),
            SIGNATURE_MESSAGE,
        ),
        (
            with_response(&|v| v["response"]["signature"] = json!(b64url(&[0x30; 2000]))),
            SIGNATURE_MESSAGE,
        ),
        (
            with_response(&|v| v["response"]["authenticatorData"] = json!("")),
            SIGNATURE_MESSAGE,
        ),
        (
            with_response(&|v| v["rawId"] = json!(b64url(b"another id"))),
            SIGNATURE_MESSAGE,
        ),
        (
            with_response(&|v| v["response"]["userHandle"] = json!(12)),
            SIGNATURE_MESSAGE,
        ),
    ];
    for (response, message) in sign_ins {
        let (_, code) = start_sign_in(&h, &h.client()).await;
        let r = h
            .post(
                SIGN_IN,
                &h.client(),
                json!({ "authentication_response": response, "code": code }),
            )
            .await;
        assert_eq!(r.status, 400, "{response}: {}", r.text());
        let v = r.json();
        assert_eq!(v["code"], "PASSKEY_AUTHENTICATION_FAILED", "{response}");
        assert_eq!(v["error"], message, "{response}");
    }
    h.post(SIGN_IN, &h.client(), json!({ "code": "x".repeat(45) }))
        .await
        .assert_error(400, "SCHEMA_ERROR");
    h.post(
        SIGN_IN,
        &h.client(),
        json!({ "authentication_response": {} }),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    h.post(
        SIGN_IN,
        &h.client(),
        json!({ "authentication_response": {}, "code": 45 }),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    // The user handle is not used: a wrong one still signs the credential's owner in.
    let (options, code) = start_sign_in(&h, &h.client()).await;
    let mut assertion = browser.get(&options, &handle);
    assertion["response"]["userHandle"] = json!(b64url(b"somebody else"));
    h.post(
        SIGN_IN,
        &h.client(),
        json!({ "authentication_response": assertion, "code": code }),
    )
    .await
    .assert_ok();
}

/// Stack's e2e credentials (recorded in a browser for the challenge `MOCK` at
/// `http://localhost:8103`) verify when the server runs with the fixed challenge, and only
/// then.
async fn stacks_recorded_credentials_in_test_mode(env: Env) {
    let registration = json!({
        "id": "BBYYB_DKzPZHm1o6ILGo6Sk_cBc",
        "rawId": "BBYYB_DKzPZHm1o6ILGo6Sk_cBc",
        "response": {
            "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YViYSZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NdAAAAAAAAAAAAAAAAAAAAAAAAAAAAFAQWGAfwysz2R5taOiCxqOkpP3AXpQECAyYgASFYIO7JJihe93CDhZOPFp9pVefZyBvy62JMjSs47id1q0vpIlggNMjLAQG7ESYqRZsBQbX07WWIImEzYFDsJgBOSYiQZL8",
            "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiVFU5RFN3Iiwib3JpZ2luIjoiaHR0cDovL2xvY2FsaG9zdDo4MTAzIiwiY3Jvc3NPcmlnaW4iOmZhbHNlfQ",
            "transports": ["hybrid", "internal"],
            "publicKeyAlgorithm": -7,
            "publicKey": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7skmKF73cIOFk48Wn2lV59nIG_LrYkyNKzjuJ3WrS-k0yMsBAbsRJipFmwFBtfTtZYgiYTNgUOwmAE5JiJBkvw",
            "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NdAAAAAAAAAAAAAAAAAAAAAAAAAAAAFAQWGAfwysz2R5taOiCxqOkpP3AXpQECAyYgASFYIO7JJihe93CDhZOPFp9pVefZyBvy62JMjSs47id1q0vpIlggNMjLAQG7ESYqRZsBQbX07WWIImEzYFDsJgBOSYiQZL8"
        },
        "type": "public-key",
        "clientExtensionResults": { "credProps": { "rk": true } },
        "authenticatorAttachment": "platform"
    });
    let assertion = json!({
        "id": "BBYYB_DKzPZHm1o6ILGo6Sk_cBc",
        "rawId": "BBYYB_DKzPZHm1o6ILGo6Sk_cBc",
        "response": {
            "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MdAAAAAA",
            "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiVFU5RFN3Iiwib3JpZ2luIjoiaHR0cDovL2xvY2FsaG9zdDo4MTAzIiwiY3Jvc3NPcmlnaW4iOmZhbHNlLCJvdGhlcl9rZXlzX2Nhbl9iZV9hZGRlZF9oZXJlIjoiZG8gbm90IGNvbXBhcmUgY2xpZW50RGF0YUpTT04gYWdhaW5zdCBhIHRlbXBsYXRlLiBTZWUgaHR0cHM6Ly9nb28uZ2wveWFiUGV4In0",
            "signature": "MEUCIQDPFYXxm-ALPZVuP4YdXBr1INrfObXR6hukxTttYNnegAIgEfy5MlnIi10VwmilOmuT1TuuDBLw9GDSv9DQuIRZXRE",
            "userHandle": "YzE3YzJjNjMtMTkxZi00MWZmLTlkNjEtYzBjOGVlMmVlMGQ0"
        },
        "type": "public-key",
        "clientExtensionResults": {},
        "authenticatorAttachment": "platform"
    });

    // The default: random challenges, which the recording does not answer.
    let h = harness_with(&env, enabled()).await;
    let (_, at, _) = h.sign_up("random@example.com", "password123").await;
    let (options, code) = start_registration(&h, &at).await;
    assert_ne!(options["challenge"], "TU9DSw");
    h.post(
        REGISTER,
        &me(&h, &at),
        json!({ "credential": registration, "code": code }),
    )
    .await
    .assert_error(400, "PASSKEY_REGISTRATION_FAILED");

    let h = harness_custom(&env, enabled(), |b| {
        b.fixed_passkey_challenge_for_tests(true)
    })
    .await;
    let (uid, at, _) = h.sign_up("recorded@example.com", "password123").await;
    let (options, code) = start_registration(&h, &at).await;
    assert_eq!(options["challenge"], "TU9DSw");
    let v = h
        .post(
            REGISTER,
            &me(&h, &at),
            json!({ "credential": registration, "code": code }),
        )
        .await
        .assert_ok();
    assert_eq!(v, json!({ "user_handle": "BBYYB_DKzPZHm1o6ILGo6Sk_cBc" }));
    let (options, code) = start_sign_in(&h, &h.client()).await;
    assert_eq!(
        options,
        json!({
            "allowCredentials": [],
            "challenge": "TU9DSw",
            "rpId": SENTINEL,
            "timeout": 60000,
            "userVerification": "preferred",
        })
    );
    let body = json!({ "authentication_response": assertion, "code": code });
    let v = h.post(SIGN_IN, &h.client(), body.clone()).await.assert_ok();
    assert_eq!(v["user_id"], uid);
    // Each ceremony still needs its own code.
    h.post(SIGN_IN, &h.client(), body)
        .await
        .assert_error(409, "VERIFICATION_CODE_ALREADY_USED");
}

/// A passkey is a new way into the account: a client whose session signed in more than
/// five minutes ago (a token that may have been stolen) must prove a factor first.
async fn an_older_session_needs_a_step_up_to_register(env: Env) {
    let h = harness_with(&env, enabled()).await;
    let (_, _, refresh) = h.sign_up("old@example.com", "password123").await;
    h.postern.clock().advance_millis(6 * 60_000);
    // A fresh access token of the same (old) session.
    let at = h
        .post(
            "/api/v1/auth/sessions/current/refresh",
            &with(h.client(), "x-stack-refresh-token", &refresh),
            json!({}),
        )
        .await
        .assert_ok()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = h
        .post(REGISTER_INIT, &me(&h, &at), json!({}))
        .await
        .assert_error(403, "STEP_UP_REQUIRED");
    assert!(
        v["details"]["methods"].to_string().contains("password"),
        "{v}"
    );

    let token = h
        .post(
            "/api/v1/auth/step-up",
            &me(&h, &at),
            json!({ "password": "password123" }),
        )
        .await
        .assert_ok()["step_up_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let proven = with(me(&h, &at), "x-postern-step-up-token", &token);
    h.post(REGISTER_INIT, &proven, json!({})).await.assert_ok();
    // The token is spent.
    h.post(REGISTER_INIT, &proven, json!({}))
        .await
        .assert_error(403, "STEP_UP_REQUIRED");

    // A new sign-in is fresh again.
    let r = h
        .post(
            "/api/v1/auth/password/sign-in",
            &h.client(),
            json!({ "email": "old@example.com", "password": "password123" }),
        )
        .await
        .assert_ok();
    start_registration(&h, r["access_token"].as_str().unwrap()).await;
}
