//! The attacks of the December 2026 security review, replayed through `Postern::handle`,
//! axum and actix-web, on SQLite and PostgreSQL, with Postern's mail going over real SMTP
//! to a sink. Each scenario first mounts the attack as the reviewer did, then checks that
//! it fails, and that the owner's legitimate path still works.

#[macro_use]
mod support;

use std::time::Duration;

use base64::Engine as _;
use postern_core::ProjectConfig;
use postern_core::config::RateLimit;
use serde_json::{Value, json};
use support::*;

contract_suite!(
    hostile_callback_urls_are_refused_everywhere,
    stolen_token_cannot_make_a_new_address_sign_in,
    stolen_token_cannot_take_over_through_the_primary_email,
    stolen_token_cannot_set_a_first_password_or_turn_mfa_off,
    stolen_token_cannot_strip_the_owners_factors_first,
    pre_hijacked_account_is_emptied_when_the_owner_resets,
    pre_hijacked_account_after_a_verification_link_and_otp,
    password_failures_are_delayed_then_locked,
    totp_guesses_are_counted_across_attempts_and_codes_are_single_use,
    recovery_codes_are_hashed_single_use_and_need_totp,
    per_ip_buckets_and_forwarded_for,
    mail_to_one_recipient_is_limited,
    config_secrets_and_sections_are_admin_only,
    audit_log_records_and_pages_security_events,
    resource_bounds,
    stolen_tokens_die_with_a_reset_and_keys_with_a_password_change,
    confirmation_link_names_its_address,
    security_notices_have_a_budget,
    unconfirmed_addresses_reserve_nothing,
    stored_images_belong_to_their_owner,
    magic_link_upgrades_only_the_anonymous_user_that_asked,
    concurrent_guesses_do_not_skip_the_delays,
    account_changes_have_a_bucket_and_servers_none,
    anonymous_account_holding_an_address_is_claimed_as_a_regular_one,
);

const CALLBACK: &str = "http://localhost:3000/handler/cb";

/// OTP on, user API keys on, per-IP buckets out of the way (tested on their own).
fn config() -> ProjectConfig {
    let mut c = ProjectConfig::default();
    c.auth.otp.allow_sign_in = true;
    c.api_keys.enabled.user = true;
    let wide = RateLimit::new(10_000, 100_000);
    let l = &mut c.security.rate_limits;
    (
        l.sign_up,
        l.sign_in,
        l.send_code,
        l.key_check,
        l.account_change,
    ) = (wide, wide, wide, wide, wide);
    c.security.mail_per_recipient_per_hour = 1_000;
    c
}

fn as_user(h: &H, access_token: &str) -> Headers {
    with(h.client(), "x-stack-access-token", access_token)
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_owned()
}

/// The code of the newest mail to `to` whose subject contains `subject`, after `prefix`.
async fn code_in_mail(h: &H, to: &str, subject: &str, count: usize, prefix: &str) -> String {
    let mails = h.mails(to, subject, count).await;
    mails[count - 1]
        .code_after(prefix)
        .expect("a link with a code")
}

/// How many mails the project's outbox holds (webhook events, held there too, not counted).
async fn outbox_len(h: &H) -> usize {
    h.postern
        .store()
        .outbox()
        .list(&h.project.id)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.kind != postern_core::events::EVENT_KIND)
        .count()
}

/// Signs an account up through OTP (its address verified and proven); returns
/// (user id, access token, refresh token).
async fn otp_account(h: &H, email: &str) -> (String, String, String) {
    let n = h.sink().matching(email, "Sign in to").len() + 1;
    let sent = h
        .post(
            "/api/v1/auth/otp/send-sign-in-code",
            &h.client(),
            json!({"email": email, "callback_url": CALLBACK}),
        )
        .await
        .assert_ok();
    assert_eq!(s(&sent, "nonce").len(), 39);
    let code = code_in_mail(h, email, "Sign in to", n, CALLBACK).await;
    let v = h
        .post(
            "/api/v1/auth/otp/sign-in",
            &h.client(),
            json!({"code": code}),
        )
        .await
        .assert_ok();
    (
        s(&v, "user_id"),
        s(&v, "access_token"),
        s(&v, "refresh_token"),
    )
}

/// Signs an anonymous user up; returns (user id, headers acting as it, refresh token).
async fn anonymous_account(h: &H) -> (String, Headers, String) {
    let v = h
        .post("/api/v1/auth/anonymous/sign-up", &h.client(), json!({}))
        .await
        .assert_ok();
    let headers = with(
        as_user(h, &s(&v, "access_token")),
        "x-stack-allow-anonymous-user",
        "true",
    );
    (s(&v, "user_id"), headers, s(&v, "refresh_token"))
}

async fn password_sign_in(h: &H, email: &str, password: &str) -> support::Resp {
    h.post(
        "/api/v1/auth/password/sign-in",
        &h.client(),
        json!({"email": email, "password": password}),
    )
    .await
}

async fn step_up(h: &H, user: &Headers, proof: Value) -> String {
    let v = h
        .post("/api/v1/auth/step-up", user, proof)
        .await
        .assert_ok();
    assert_eq!(s(&v, "step_up_token").len(), 45);
    s(&v, "step_up_token")
}

/// Reset requests answer the same for every address; whether a mail was written shows in
/// the outbox.
async fn reset_mails(h: &H, email: &str) -> usize {
    let before = outbox_len(h).await;
    h.post(
        "/api/v1/auth/password/send-reset-code",
        &h.client(),
        json!({"email": email, "callback_url": CALLBACK}),
    )
    .await
    .assert_ok();
    outbox_len(h).await - before
}

// ---------------------------------------------------------------------------------------
// 1. Callback URLs

async fn hostile_callback_urls_are_refused_everywhere(env: Env) {
    use postern_core::redirects::examples::{HOSTILE, LOOPBACK, TRUSTED_BASES};
    let mut cfg = config();
    for (i, base) in TRUSTED_BASES.iter().enumerate() {
        cfg.domains.trusted_domains.insert(
            format!("d{i}"),
            postern_core::config::TrustedDomain {
                base_url: Some((*base).to_owned()),
                ..Default::default()
            },
        );
    }
    let h = harness_mail(&env, cfg).await;
    let (uid, at, _) = otp_account(&h, "owner@example.com").await;
    let me = as_user(&h, &at);
    // The deprecated endpoint mails the caller's unverified primary address.
    let (_, unverified, _) = h.sign_up("unverified@example.com", "password123").await;
    let unverified = as_user(&h, &unverified);
    let extra = h
        .post(
            "/api/v1/contact-channels",
            &h.server(),
            json!({"user_id": uid, "type": "email", "value": "second@example.com", "used_for_auth": false}),
        )
        .await
        .assert_ok();
    let channel = s(&extra, "id");
    let team = h
        .post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "T", "creator_user_id": uid}),
        )
        .await
        .assert_ok();
    let team = s(&team, "id");
    // Every endpoint that mails a link to a callback URL.
    type Body = Box<dyn Fn(&str) -> Value>;
    let endpoints: Vec<(String, Headers, Body)> = vec![
        (
            "/api/v1/auth/password/sign-up".into(),
            h.client(),
            Box::new(
                |u| json!({"email": "new@example.com", "password": "password123", "verification_callback_url": u}),
            ),
        ),
        (
            "/api/v1/auth/password/send-reset-code".into(),
            h.client(),
            Box::new(|u| json!({"email": "owner@example.com", "callback_url": u})),
        ),
        (
            "/api/v1/auth/otp/send-sign-in-code".into(),
            h.client(),
            Box::new(|u| json!({"email": "owner@example.com", "callback_url": u})),
        ),
        (
            format!("/api/v1/contact-channels/me/{channel}/send-verification-code"),
            me.clone(),
            Box::new(|u| json!({"callback_url": u})),
        ),
        (
            "/api/v1/contact-channels/send-verification-code".into(),
            unverified.clone(),
            Box::new(|u| json!({"email": "unverified@example.com", "callback_url": u})),
        ),
        (
            "/api/v1/team-invitations/send-code".into(),
            h.server(),
            Box::new(
                move |u| json!({"team_id": team, "email": "friend@example.com", "callback_url": u}),
            ),
        ),
        (
            "/api/v1/auth/step-up/send-code".into(),
            me.clone(),
            Box::new(|u| json!({"callback_url": u})),
        ),
        (
            format!("/api/v1/contact-channels/me/{channel}/send-auth-confirmation"),
            me.clone(),
            Box::new(|u| json!({"callback_url": u})),
        ),
    ];
    let before = outbox_len(&h).await;
    for (path, headers, body) in &endpoints {
        for url in HOSTILE {
            let r = h.post(path, headers, body(url)).await;
            assert_eq!(r.status, 400, "{path} took {url:?}: {}", r.text());
            let code = r.json()["code"].as_str().unwrap_or_default().to_owned();
            assert!(
                code == "REDIRECT_URL_NOT_WHITELISTED" || code == "SCHEMA_ERROR",
                "{path} {url:?}: {code}"
            );
        }
    }
    assert_eq!(outbox_len(&h).await, before, "no hostile link was mailed");
    let users = h.get("/api/v1/users", &h.server()).await.json();
    assert_eq!(
        users["items"].as_array().unwrap().len(),
        2,
        "no sign-up went through"
    );
    // The real loopback forms are loopback.
    for url in LOOPBACK {
        h.post(
            "/api/v1/auth/step-up/send-code",
            &me,
            json!({"callback_url": url}),
        )
        .await
        .assert_ok();
    }
    // `*.localhost` is not loopback unless the deployment says so (Stack's e2e mode).
    h.post(
        "/api/v1/auth/otp/send-sign-in-code",
        &h.client(),
        json!({"email": "owner@example.com", "callback_url": "http://stack-test.localhost/cb"}),
    )
    .await
    .assert_error(400, "REDIRECT_URL_NOT_WHITELISTED");
}

// ---------------------------------------------------------------------------------------
// 2. Sign-in channels with a stolen access token

async fn stolen_token_cannot_make_a_new_address_sign_in(env: Env) {
    let h = harness_mail(&env, config()).await;
    let (uid, _, _) = h.sign_up("victim@example.com", "victim-password").await;
    // The attacker holds a fresh access token of the victim's session.
    let stolen = {
        let v = password_sign_in(&h, "victim@example.com", "victim-password")
            .await
            .assert_ok();
        s(&v, "access_token")
    };
    let attacker = as_user(&h, &stolen);
    let c = h
        .post(
            "/api/v1/contact-channels",
            &attacker,
            json!({"user_id": "me", "type": "email", "value": "evil@attacker.example", "used_for_auth": true}),
        )
        .await;
    assert_eq!(c.status, 201, "Stack's shape is kept: {}", c.text());
    let c = c.json();
    assert_eq!(c["used_for_auth"], true);
    let channel = s(&c, "id");
    // The attacker controls that mailbox, so verifying it is easy ...
    h.post(
        &format!("/api/v1/contact-channels/me/{channel}/send-verification-code"),
        &attacker,
        json!({"callback_url": CALLBACK}),
    )
    .await
    .assert_ok();
    let code = code_in_mail(&h, "evil@attacker.example", "Verify", 1, CALLBACK).await;
    h.post(
        "/api/v1/contact-channels/verify",
        &h.client(),
        json!({"code": code}),
    )
    .await
    .assert_ok();
    // ... but the address neither receives reset links nor sign-in codes, nor signs in.
    assert_eq!(reset_mails(&h, "evil@attacker.example").await, 0);
    password_sign_in(&h, "evil@attacker.example", "victim-password")
        .await
        .assert_error(400, "EMAIL_PASSWORD_MISMATCH");
    let status = h
        .get(
            &format!("/api/v1/contact-channels/me/{channel}/confirm-auth"),
            &attacker,
        )
        .await
        .assert_ok();
    assert_eq!(
        status,
        json!({"used_for_auth": true, "auth_confirmed": false})
    );
    // Confirming needs a factor the token does not carry.
    let r = h
        .post(
            &format!("/api/v1/contact-channels/me/{channel}/confirm-auth"),
            &attacker,
            json!({}),
        )
        .await;
    let v = r.assert_error(403, "STEP_UP_REQUIRED");
    assert_eq!(
        v["details"]["methods"],
        json!(["password", "email_code"]),
        "a code to the sign-up address, which receives reset links anyway"
    );
    h.post(
        "/api/v1/auth/step-up",
        &attacker,
        json!({"password": "guessed-wrong"}),
    )
    .await
    .assert_error(400, "PASSWORD_CONFIRMATION_MISMATCH");
    // Patching the channel (value or used_for_auth) does not confirm it either.
    h.patch(
        &format!("/api/v1/contact-channels/me/{channel}"),
        &attacker,
        json!({"used_for_auth": true, "is_primary": true}),
    )
    .await
    .assert_ok();
    assert_eq!(reset_mails(&h, "evil@attacker.example").await, 0);

    // The owner, who knows the password, confirms a new address of their own.
    let owner = {
        let v = password_sign_in(&h, "victim@example.com", "victim-password")
            .await
            .assert_ok();
        as_user(&h, &s(&v, "access_token"))
    };
    let token = step_up(&h, &owner, json!({"password": "victim-password"})).await;
    let mine = h
        .post(
            "/api/v1/contact-channels",
            &with(owner.clone(), "x-postern-step-up-token", &token),
            json!({"user_id": "me", "type": "email", "value": "work@example.com", "used_for_auth": true}),
        )
        .await
        .assert_ok();
    assert_eq!(reset_mails(&h, "work@example.com").await, 1);
    // A token is single use and bound to its session.
    h.post(
        &format!("/api/v1/contact-channels/me/{channel}/confirm-auth"),
        &with(owner.clone(), "x-postern-step-up-token", &token),
        json!({}),
    )
    .await
    .assert_error(403, "STEP_UP_REQUIRED");
    let token2 = step_up(&h, &owner, json!({"password": "victim-password"})).await;
    h.post(
        &format!("/api/v1/contact-channels/me/{channel}/confirm-auth"),
        &with(attacker.clone(), "x-postern-step-up-token", &token2),
        json!({}),
    )
    .await
    .assert_error(403, "STEP_UP_REQUIRED");
    // The link to the previously proven address: the owner makes the sign-up address primary
    // again (the attacker had demoted it) and verifies it, then a link mailed there
    // confirms, even opened without a session.
    let list = h
        .get("/api/v1/contact-channels?user_id=me", &owner)
        .await
        .assert_ok();
    let own = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["value"] == "victim@example.com")
        .map(|c| s(c, "id"))
        .unwrap();
    h.patch(
        &format!("/api/v1/contact-channels/me/{own}"),
        &owner,
        json!({"is_primary": true}),
    )
    .await
    .assert_ok();
    assert_eq!(
        reset_mails(&h, "victim@example.com").await,
        1,
        "still signs in"
    );
    h.post(
        &format!("/api/v1/contact-channels/me/{own}/send-verification-code"),
        &owner,
        json!({"callback_url": CALLBACK}),
    )
    .await
    .assert_ok();
    let code = code_in_mail(&h, "victim@example.com", "Verify", 1, CALLBACK).await;
    h.post(
        "/api/v1/contact-channels/verify",
        &owner,
        json!({"code": code}),
    )
    .await
    .assert_ok();
    let c3 = h
        .post(
            "/api/v1/contact-channels",
            &owner,
            json!({"user_id": "me", "type": "email", "value": "home@example.com", "used_for_auth": true}),
        )
        .await
        .assert_ok();
    let c3 = s(&c3, "id");
    assert_eq!(reset_mails(&h, "home@example.com").await, 0);
    h.post(
        &format!("/api/v1/contact-channels/me/{c3}/send-auth-confirmation"),
        &owner,
        json!({"callback_url": CALLBACK}),
    )
    .await
    .assert_ok();
    let mails = h
        .mails("victim@example.com", "Confirm a new sign-in address", 1)
        .await;
    assert!(mails[0].decoded().contains("home@example.com"));
    let code = mails[0].code_after(CALLBACK).unwrap();
    h.post(
        "/api/v1/contact-channels/confirm-auth",
        &h.client(),
        json!({"code": code}),
    )
    .await
    .assert_ok();
    assert_eq!(reset_mails(&h, "home@example.com").await, 1);
    // A server is trusted: its channels sign in at once.
    h.post(
        "/api/v1/contact-channels",
        &h.server(),
        json!({"user_id": uid, "type": "email", "value": "ops@example.com", "used_for_auth": true}),
    )
    .await
    .assert_ok();
    assert_eq!(reset_mails(&h, "ops@example.com").await, 1);
    let _ = mine;
    // Unconfirmed, the attacker's address reserves nothing: a code sent to it signs in to an
    // account of its own, never to the victim's.
    let (other, _, _) = otp_account(&h, "evil@attacker.example").await;
    assert_ne!(other, uid);
}

async fn stolen_token_cannot_take_over_through_the_primary_email(env: Env) {
    let h = harness_mail(&env, config()).await;
    let (uid, at, _) = otp_account(&h, "victim@example.com").await;
    let attacker = as_user(&h, &at);
    let v = h
        .patch(
            "/api/v1/users/me",
            &attacker,
            json!({"primary_email": "evil@attacker.example"}),
        )
        .await
        .assert_ok();
    assert_eq!(v["primary_email"], "evil@attacker.example");
    assert_eq!(v["primary_email_verified"], false);
    assert_eq!(reset_mails(&h, "evil@attacker.example").await, 0);
    // Unconfirmed, the address reserves nothing: a code sent to it signs in to an account
    // of its own, never to the victim's.
    let (other, _, _) = otp_account(&h, "evil@attacker.example").await;
    assert_ne!(other, uid);
    // The owner is told at the address they had, which still signs them in.
    let notice = h
        .mails(
            "victim@example.com",
            "email address at Test project was changed",
            1,
        )
        .await;
    assert!(notice[0].decoded().contains("evil@attacker.example"));
    assert_eq!(reset_mails(&h, "victim@example.com").await, 1);
    // Removing the owner's address needs a proof; the unproven one just goes.
    let list = h
        .get("/api/v1/contact-channels?user_id=me", &attacker)
        .await
        .assert_ok();
    let id_of = |value: &str| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["value"] == value)
            .map(|c| s(c, "id"))
            .unwrap()
    };
    h.delete(
        &format!(
            "/api/v1/contact-channels/me/{}",
            id_of("victim@example.com")
        ),
        &attacker,
    )
    .await
    .assert_error(403, "STEP_UP_REQUIRED");
    h.delete(
        &format!(
            "/api/v1/contact-channels/me/{}",
            id_of("evil@attacker.example")
        ),
        &attacker,
    )
    .await
    .assert_ok();
    // A server may change it, and the new address signs in at once (Stack's e2e relies on
    // it).
    let (uid2, _, _) = otp_account(&h, "other@example.com").await;
    h.patch(
        &format!("/api/v1/users/{uid2}"),
        &h.server(),
        json!({"primary_email": "moved@example.com"}),
    )
    .await
    .assert_ok();
    assert_eq!(reset_mails(&h, "moved@example.com").await, 1);
}

async fn stolen_token_cannot_set_a_first_password_or_turn_mfa_off(env: Env) {
    let h = harness_mail(&env, config()).await;
    let (_, at, _) = otp_account(&h, "otp-only@example.com").await;
    let attacker = as_user(&h, &at);
    let v = h
        .post(
            "/api/v1/auth/password/set",
            &attacker,
            json!({"password": "attacker-password"}),
        )
        .await
        .assert_error(403, "STEP_UP_REQUIRED");
    assert_eq!(v["details"]["methods"], json!(["email_code"]));
    // Stack's order is kept: rules before the proof.
    h.post(
        "/api/v1/auth/password/set",
        &attacker,
        json!({"password": "short"}),
    )
    .await
    .assert_error(400, "PASSWORD_TOO_SHORT");
    password_sign_in(&h, "otp-only@example.com", "attacker-password")
        .await
        .assert_error(400, "EMAIL_PASSWORD_MISMATCH");
    // Guessing the emailed code is counted like any code.
    let nonce = h
        .post("/api/v1/auth/step-up/send-code", &attacker, json!({}))
        .await
        .assert_ok();
    let nonce = s(&nonce, "nonce");
    h.post(
        "/api/v1/auth/step-up",
        &attacker,
        json!({"code": format!("AAAAAA{nonce}")}),
    )
    .await
    .assert_error(404, "VERIFICATION_CODE_NOT_FOUND");
    // The owner reads the code in their mailbox.
    let mail = h.mails("otp-only@example.com", "Confirm it's you", 1).await;
    let subject = mail[0].subject();
    let otp = subject.rsplit(' ').next().unwrap().to_owned();
    assert_eq!(otp.len(), 6);
    let token = step_up(&h, &attacker, json!({"code": format!("{otp}{nonce}")})).await;
    h.post(
        "/api/v1/auth/password/set",
        &with(attacker.clone(), "x-postern-step-up-token", &token),
        json!({"password": "owner-password"}),
    )
    .await
    .assert_ok();
    password_sign_in(&h, "otp-only@example.com", "owner-password")
        .await
        .assert_ok();
    h.mails(
        "otp-only@example.com",
        "Your password at Test project was changed",
        1,
    )
    .await;

    // MFA: on without a code (Stack's SDK does so), off only with a fresh second factor.
    let secret: Vec<u8> = (1u8..=20).collect();
    h.patch(
        "/api/v1/users/me",
        &attacker,
        json!({"totp_secret_base64": base64::engine::general_purpose::STANDARD.encode(&secret)}),
    )
    .await
    .assert_ok();
    h.mails(
        "otp-only@example.com",
        "Two-factor authentication was turned on",
        1,
    )
    .await;
    // A secret enrolled without a proof proves nothing: whoever holds a stolen token could
    // have enrolled it. It is not offered, and a code from it is refused.
    let v = h
        .patch(
            "/api/v1/users/me",
            &attacker,
            json!({"totp_secret_base64": null}),
        )
        .await
        .assert_error(403, "STEP_UP_REQUIRED");
    assert_eq!(v["details"]["methods"], json!(["email_code"]));
    h.post(
        "/api/v1/auth/step-up",
        &attacker,
        json!({"totp": totp_now(&h.postern, &secret)}),
    )
    .await
    .assert_error(403, "STEP_UP_REQUIRED");
    // The password is not enough to remove the second factor.
    let pw = step_up(&h, &attacker, json!({"password": "owner-password"})).await;
    h.patch(
        "/api/v1/users/me",
        &with(attacker.clone(), "x-postern-step-up-token", &pw),
        json!({"totp_secret_base64": null}),
    )
    .await
    .assert_error(403, "STEP_UP_REQUIRED");
    // A sign-in through the secret after the first factor proves it.
    let first = password_sign_in(&h, "otp-only@example.com", "owner-password")
        .await
        .assert_error(400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED");
    h.post(
        "/api/v1/auth/mfa/sign-in",
        &h.client(),
        json!({"code": first["details"]["attempt_code"], "type": "totp", "totp": totp_now(&h.postern, &secret)}),
    )
    .await
    .assert_ok();
    let v = h
        .patch(
            "/api/v1/users/me",
            &attacker,
            json!({"totp_secret_base64": null}),
        )
        .await
        .assert_error(403, "STEP_UP_REQUIRED");
    assert_eq!(v["details"]["methods"], json!(["totp", "email_code"]));
    h.postern.clock().advance_millis(30_000);
    let t = step_up(
        &h,
        &attacker,
        json!({"totp": totp_now(&h.postern, &secret)}),
    )
    .await;
    let v = h
        .patch(
            "/api/v1/users/me",
            &with(attacker.clone(), "x-postern-step-up-token", &t),
            json!({"totp_secret_base64": null}),
        )
        .await
        .assert_ok();
    assert_eq!(v["requires_totp_mfa"], false);
    h.mails(
        "otp-only@example.com",
        "Two-factor authentication was turned off",
        1,
    )
    .await;
    // An anonymous user has no factor: nothing to prove.
    let (_, anon, _) = anonymous_account(&h).await;
    h.post(
        "/api/v1/auth/password/set",
        &anon,
        json!({"password": "anon-password"}),
    )
    .await
    .assert_ok();
}

async fn stolen_token_cannot_strip_the_owners_factors_first(env: Env) {
    let h = harness_mail(&env, config()).await;
    let (_, at, _) = otp_account(&h, "victim@example.com").await;
    let attacker = as_user(&h, &at);
    let set_password = || async {
        h.post(
            "/api/v1/auth/password/set",
            &attacker,
            json!({"password": "attacker-password"}),
        )
        .await
    };
    // A new primary address does not take the owner's proven address away ...
    h.patch(
        "/api/v1/users/me",
        &attacker,
        json!({"primary_email": "evil@attacker.example"}),
    )
    .await
    .assert_ok();
    let v = set_password().await.assert_error(403, "STEP_UP_REQUIRED");
    assert_eq!(v["details"]["methods"], json!(["email_code"]));
    h.post("/api/v1/auth/step-up/send-code", &attacker, json!({}))
        .await
        .assert_ok();
    h.mails("victim@example.com", "Confirm it's you", 1).await;
    // ... nor does turning its sign-in off; rewriting it needs a proof.
    let list = h
        .get("/api/v1/contact-channels?user_id=me", &attacker)
        .await
        .assert_ok();
    let own = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["value"] == "victim@example.com")
        .map(|c| s(c, "id"))
        .unwrap();
    h.patch(
        &format!("/api/v1/contact-channels/me/{own}"),
        &attacker,
        json!({"value": "evil2@attacker.example", "type": "email"}),
    )
    .await
    .assert_error(403, "STEP_UP_REQUIRED");
    // ... nor turning its sign-in off or removing it: either would lock the owner out while
    // the thief's session lives on.
    let v = h
        .patch(
            &format!("/api/v1/contact-channels/me/{own}"),
            &attacker,
            json!({"used_for_auth": false}),
        )
        .await
        .assert_error(403, "STEP_UP_REQUIRED");
    assert_eq!(v["details"]["methods"], json!(["email_code"]));
    h.delete(&format!("/api/v1/contact-channels/me/{own}"), &attacker)
        .await
        .assert_error(403, "STEP_UP_REQUIRED");
    assert_eq!(
        reset_mails(&h, "victim@example.com").await,
        1,
        "still signs in"
    );
    set_password().await.assert_error(403, "STEP_UP_REQUIRED");
    // A server may remove it; the account is then left with no factor, and its sensitive
    // changes only a server can make.
    let uid = s(
        &h.get("/api/v1/users/me", &attacker).await.assert_ok(),
        "id",
    );
    h.delete(
        &format!("/api/v1/contact-channels/{uid}/{own}"),
        &h.server(),
    )
    .await
    .assert_ok();
    h.mails("victim@example.com", "An email address was removed", 1)
        .await;
    let v = set_password().await.assert_error(403, "STEP_UP_REQUIRED");
    assert_eq!(v["details"]["methods"], json!([]));
    let c = h
        .post(
            "/api/v1/contact-channels",
            &attacker,
            json!({"user_id": "me", "type": "email", "value": "evil3@attacker.example", "used_for_auth": true}),
        )
        .await
        .assert_ok();
    assert_eq!(reset_mails(&h, "evil3@attacker.example").await, 0);
    h.post(
        &format!("/api/v1/contact-channels/me/{}/confirm-auth", s(&c, "id")),
        &attacker,
        json!({}),
    )
    .await
    .assert_error(403, "STEP_UP_REQUIRED");
}

// ---------------------------------------------------------------------------------------
// 3. Account pre-hijacking

async fn api_key_of(h: &H, user: &Headers) -> String {
    let k = h
        .post(
            "/api/v1/user-api-keys",
            user,
            json!({"user_id": "me", "description": "persistence", "expires_at_millis": null}),
        )
        .await
        .assert_ok();
    s(&k, "value")
}

async fn key_works(h: &H, key: &str) -> bool {
    h.post(
        "/api/v1/user-api-keys/check",
        &h.server(),
        json!({"api_key": key}),
    )
    .await
    .status
        == 200
}

async fn refresh_works(h: &H, refresh: &str) -> bool {
    h.post(
        "/api/v1/auth/sessions/current/refresh",
        &with(h.client(), "x-stack-refresh-token", refresh),
        json!({}),
    )
    .await
    .status
        == 200
}

async fn pre_hijacked_account_is_emptied_when_the_owner_resets(env: Env) {
    let h = harness_mail(&env, config()).await;
    // The attacker signs up first with the victim's address, and digs in.
    let (_, at, refresh) = h.sign_up("victim@example.com", "attacker-password").await;
    let attacker = as_user(&h, &at);
    let key = api_key_of(&h, &attacker).await;
    h.post(
        "/api/v1/contact-channels",
        &attacker,
        json!({"user_id": "me", "type": "email", "value": "backdoor@attacker.example", "used_for_auth": false}),
    )
    .await
    .assert_ok();
    // Knowing the password, the attacker also confirms and verifies a sign-in address of
    // their own, from inside the account's session (that claims nothing).
    let t = step_up(&h, &attacker, json!({"password": "attacker-password"})).await;
    let backdoor = h
        .post(
            "/api/v1/contact-channels",
            &with(attacker.clone(), "x-postern-step-up-token", &t),
            json!({"user_id": "me", "type": "email", "value": "signin@attacker.example", "used_for_auth": true}),
        )
        .await
        .assert_ok();
    h.post(
        &format!(
            "/api/v1/contact-channels/me/{}/send-verification-code",
            s(&backdoor, "id")
        ),
        &attacker,
        json!({"callback_url": CALLBACK}),
    )
    .await
    .assert_ok();
    let code = code_in_mail(&h, "signin@attacker.example", "Verify", 1, CALLBACK).await;
    h.post(
        "/api/v1/contact-channels/verify",
        &attacker,
        json!({"code": code}),
    )
    .await
    .assert_ok();
    assert_eq!(reset_mails(&h, "signin@attacker.example").await, 1);
    assert!(key_works(&h, &key).await && refresh_works(&h, &refresh).await);
    // The victim cannot sign up, so they reset the password.
    assert_eq!(reset_mails(&h, "victim@example.com").await, 1);
    let code = code_in_mail(&h, "victim@example.com", "Reset your password", 1, CALLBACK).await;
    h.postern.clock().advance_millis(1_000);
    h.post(
        "/api/v1/auth/password/reset",
        &h.client(),
        json!({"code": code, "password": "victim-password"}),
    )
    .await
    .assert_ok();
    assert!(
        !key_works(&h, &key).await,
        "the attacker's API key is revoked"
    );
    assert!(
        !refresh_works(&h, &refresh).await,
        "the attacker's session is gone"
    );
    h.get("/api/v1/users/me", &attacker)
        .await
        .assert_error(401, "ACCESS_TOKEN_EXPIRED");
    assert_eq!(
        reset_mails(&h, "signin@attacker.example").await,
        0,
        "the attacker's verified address no longer signs in"
    );
    password_sign_in(&h, "signin@attacker.example", "victim-password")
        .await
        .assert_error(400, "EMAIL_PASSWORD_MISMATCH");
    password_sign_in(&h, "victim@example.com", "attacker-password")
        .await
        .assert_error(400, "EMAIL_PASSWORD_MISMATCH");
    let v = password_sign_in(&h, "victim@example.com", "victim-password")
        .await
        .assert_ok();
    let channels = h
        .get(
            "/api/v1/contact-channels?user_id=me",
            &as_user(&h, &s(&v, "access_token")),
        )
        .await
        .assert_ok();
    let values: Vec<&str> = channels["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        ["victim@example.com", "signin@attacker.example"],
        "the attacker's unverified address is gone; the verified one stays, as an address"
    );
    // Any later reset revokes keys and sessions too.
    let owner = as_user(&h, &s(&v, "access_token"));
    let key2 = api_key_of(&h, &owner).await;
    assert_eq!(reset_mails(&h, "victim@example.com").await, 1);
    let code = code_in_mail(&h, "victim@example.com", "Reset your password", 2, CALLBACK).await;
    h.post(
        "/api/v1/auth/password/reset",
        &h.client(),
        json!({"code": code, "password": "victim-password-2"}),
    )
    .await
    .assert_ok();
    assert!(!key_works(&h, &key2).await);
    assert!(!refresh_works(&h, &s(&v, "refresh_token")).await);
}

async fn pre_hijacked_account_after_a_verification_link_and_otp(env: Env) {
    let h = harness_mail(&env, config()).await;
    let r = h
        .post(
            "/api/v1/auth/password/sign-up",
            &h.client(),
            json!({"email": "victim@example.com", "password": "attacker-password", "verification_callback_url": CALLBACK}),
        )
        .await
        .assert_ok();
    let attacker = as_user(&h, &s(&r, "access_token"));
    let key = api_key_of(&h, &attacker).await;
    // The victim clicks the unsolicited verification link (no session of the account).
    let code = code_in_mail(&h, "victim@example.com", "Verify", 1, CALLBACK).await;
    h.post(
        "/api/v1/contact-channels/verify",
        &h.client(),
        json!({"code": code}),
    )
    .await
    .assert_ok();
    assert!(!key_works(&h, &key).await);
    assert!(!refresh_works(&h, &s(&r, "refresh_token")).await);
    // The attacker still knows the password (a legitimate user verifying from another
    // browser keeps theirs) until the owner first enters by mail.
    let again = password_sign_in(&h, "victim@example.com", "attacker-password")
        .await
        .assert_ok();
    let (uid, _, _) = otp_account(&h, "victim@example.com").await;
    assert_eq!(
        uid,
        s(&again, "user_id"),
        "the owner entered the existing account"
    );
    password_sign_in(&h, "victim@example.com", "attacker-password")
        .await
        .assert_error(400, "EMAIL_PASSWORD_MISMATCH");
    assert!(!refresh_works(&h, &s(&again, "refresh_token")).await);
    // Claimed once: later OTP sign-ins revoke nothing.
    let (_, at2, refresh2) = otp_account(&h, "victim@example.com").await;
    let (_, _, _) = otp_account(&h, "victim@example.com").await;
    assert!(refresh_works(&h, &refresh2).await);
    let _ = at2;
}

// ---------------------------------------------------------------------------------------
// 4. Throttling

async fn password_failures_are_delayed_then_locked(env: Env) {
    let mut cfg = config();
    cfg.security.lockout.free_failures.password = 2;
    cfg.security.lockout.max_failures = 5;
    cfg.security.lockout.lock_seconds = 3_600;
    let h = harness_mail(&env, cfg).await;
    h.sign_up("user@example.com", "right-password").await;
    let clock = h.postern.clock().clone();
    for _ in 0..2 {
        password_sign_in(&h, "user@example.com", "wrong")
            .await
            .assert_error(400, "EMAIL_PASSWORD_MISMATCH");
    }
    // Past the free failures, every attempt waits, right or wrong.
    let r = password_sign_in(&h, "user@example.com", "right-password").await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(
        r.header("x-stack-known-error"),
        None,
        "the SDK retries plain 429s"
    );
    clock.advance_millis(1_000);
    password_sign_in(&h, "user@example.com", "wrong")
        .await
        .assert_error(400, "EMAIL_PASSWORD_MISMATCH");
    let r = password_sign_in(&h, "user@example.com", "wrong").await;
    assert_eq!(
        (r.status.as_u16(), r.header("retry-after")),
        (429, Some("2"))
    );
    clock.advance_millis(2_000);
    password_sign_in(&h, "user@example.com", "wrong").await;
    clock.advance_millis(4_000);
    password_sign_in(&h, "user@example.com", "wrong").await;
    // Five failures: locked for the lock time.
    clock.advance_millis(60_000);
    let r = password_sign_in(&h, "user@example.com", "right-password").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("3540"));
    // An address without an account behaves the same (no enumeration).
    for _ in 0..2 {
        password_sign_in(&h, "nobody@example.com", "x")
            .await
            .assert_error(400, "EMAIL_PASSWORD_MISMATCH");
    }
    assert_eq!(
        password_sign_in(&h, "nobody@example.com", "x").await.status,
        429
    );
    // A stolen token cannot guess the password elsewhere either: the old-password check of
    // a password change counts toward the same run, and so does step-up.
    let (_, at, _) = h.sign_up("second@example.com", "right-password").await;
    let me = as_user(&h, &at);
    for _ in 0..2 {
        h.post(
            "/api/v1/auth/password/update",
            &me,
            json!({"old_password": "guess", "new_password": "whatever-new"}),
        )
        .await
        .assert_error(400, "PASSWORD_CONFIRMATION_MISMATCH");
    }
    assert_eq!(
        h.post(
            "/api/v1/auth/step-up",
            &me,
            json!({"password": "right-password"})
        )
        .await
        .status,
        429
    );
    assert_eq!(
        password_sign_in(&h, "second@example.com", "right-password")
            .await
            .status,
        429
    );
    // A password reset unlocks.
    assert_eq!(reset_mails(&h, "user@example.com").await, 1);
    let code = code_in_mail(&h, "user@example.com", "Reset your password", 1, CALLBACK).await;
    h.post(
        "/api/v1/auth/password/reset",
        &h.client(),
        json!({"code": code, "password": "new-right-password"}),
    )
    .await
    .assert_ok();
    password_sign_in(&h, "user@example.com", "new-right-password")
        .await
        .assert_ok();
    // A success ends the run.
    clock.advance_millis(3_600_000);
    password_sign_in(&h, "second@example.com", "right-password")
        .await
        .assert_ok();
    for _ in 0..2 {
        password_sign_in(&h, "second@example.com", "wrong").await;
    }
    assert_eq!(
        password_sign_in(&h, "second@example.com", "right-password")
            .await
            .status,
        429,
        "a new run after the success"
    );
}

async fn totp_guesses_are_counted_across_attempts_and_codes_are_single_use(env: Env) {
    let mut cfg = config();
    cfg.security.lockout.free_failures.totp = 3;
    let h = harness_mail(&env, cfg).await;
    let (_, at, _) = h.sign_up("mfa@example.com", "password123").await;
    let secret: Vec<u8> = (50u8..70).collect();
    h.patch(
        "/api/v1/users/me",
        &as_user(&h, &at),
        json!({"totp_secret_base64": base64::engine::general_purpose::STANDARD.encode(&secret)}),
    )
    .await
    .assert_ok();
    let attempt = || async {
        let v = password_sign_in(&h, "mfa@example.com", "password123")
            .await
            .assert_error(400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED");
        v["details"]["attempt_code"].as_str().unwrap().to_owned()
    };
    let mfa = |code: String, totp: String| {
        let h = &h;
        async move {
            h.post(
                "/api/v1/auth/mfa/sign-in",
                &h.client(),
                json!({"code": code, "type": "totp", "totp": totp}),
            )
            .await
        }
    };
    let good = totp_now(&h.postern, &secret);
    let bad = if good == "000000" { "111111" } else { "000000" };
    // Three wrong codes, each with a fresh attempt code: the budget does not restart.
    for _ in 0..3 {
        mfa(attempt().await, bad.into())
            .await
            .assert_error(400, "INVALID_TOTP_CODE");
    }
    let r = mfa(attempt().await, good.clone()).await;
    assert_eq!(r.status, 429, "{}", r.text());
    h.postern.clock().advance_millis(1_000);
    // The right code ends the run; used once, it cannot be used again.
    let good = totp_now(&h.postern, &secret);
    mfa(attempt().await, good.clone()).await.assert_ok();
    mfa(attempt().await, good.clone())
        .await
        .assert_error(400, "INVALID_TOTP_CODE");
    h.postern.clock().advance_millis(30_000);
    let good = totp_now(&h.postern, &secret);
    mfa(attempt().await, good).await.assert_ok();
}

async fn recovery_codes_are_hashed_single_use_and_need_totp(env: Env) {
    let h = harness_mail(&env, config()).await;
    let (uid, at, _) = h.sign_up("rc@example.com", "password123").await;
    let me = as_user(&h, &at);
    h.post("/api/v1/auth/mfa/recovery-codes", &me, json!({}))
        .await
        .assert_error(400, "MFA_NOT_ENABLED");
    // Enrolled with a step-up, the secret counts as proven at once.
    let secret: Vec<u8> = (90u8..110).collect();
    let pw = step_up(&h, &me, json!({"password": "password123"})).await;
    h.patch(
        "/api/v1/users/me",
        &with(me.clone(), "x-postern-step-up-token", &pw),
        json!({"totp_secret_base64": base64::engine::general_purpose::STANDARD.encode(&secret)}),
    )
    .await
    .assert_ok();
    let v = h
        .post("/api/v1/auth/mfa/recovery-codes", &me, json!({}))
        .await
        .assert_error(403, "STEP_UP_REQUIRED");
    assert_eq!(v["details"]["methods"], json!(["totp", "email_code"]));
    let token = step_up(&h, &me, json!({"totp": totp_now(&h.postern, &secret)})).await;
    let v = h
        .post(
            "/api/v1/auth/mfa/recovery-codes",
            &with(me.clone(), "x-postern-step-up-token", &token),
            json!({}),
        )
        .await
        .assert_ok();
    let codes: Vec<String> = v["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 19 && c.matches('-').count() == 3)
    );
    // Stored as keyed hashes only.
    for c in &codes {
        let compact = c.replace('-', "");
        let text = format!(
            "{:?}",
            h.postern
                .store()
                .audit()
                .list(&h.project.id, &Default::default())
                .await
                .unwrap()
        );
        assert!(!text.contains(&compact));
    }
    assert_eq!(
        h.get("/api/v1/auth/mfa/recovery-codes", &me)
            .await
            .assert_ok(),
        json!({"remaining": 10})
    );
    let attempt = || async {
        let v = password_sign_in(&h, "rc@example.com", "password123")
            .await
            .assert_error(400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED");
        v["details"]["attempt_code"].as_str().unwrap().to_owned()
    };
    let v = h
        .post(
            "/api/v1/auth/mfa/sign-in",
            &h.client(),
            json!({"code": attempt().await, "type": "recovery_code", "recovery_code": codes[0].to_uppercase()}),
        )
        .await
        .assert_ok();
    assert_eq!(s(&v, "user_id"), uid);
    h.post(
        "/api/v1/auth/mfa/sign-in",
        &h.client(),
        json!({"code": attempt().await, "type": "recovery_code", "recovery_code": codes[0]}),
    )
    .await
    .assert_error(400, "INVALID_TOTP_CODE");
    // Typed into the TOTP box, a recovery code works too.
    h.post(
        "/api/v1/auth/mfa/sign-in",
        &h.client(),
        json!({"code": attempt().await, "type": "totp", "totp": codes[1]}),
    )
    .await
    .assert_ok();
    assert_eq!(
        h.get("/api/v1/auth/mfa/recovery-codes", &me)
            .await
            .assert_ok(),
        json!({"remaining": 8})
    );
}

async fn per_ip_buckets_and_forwarded_for(env: Env) {
    let mut cfg = config();
    cfg.security.rate_limits.sign_in = RateLimit::new(2, 60);
    let h = harness_custom(&env, cfg, |b| {
        b.trusted_proxies(vec!["10.0.0.0/8".parse().unwrap()])
    })
    .await;
    h.sign_up("ip@example.com", "password123").await;
    let from = |peer: &str, xff: Option<&str>| {
        let mut hd = with(h.client(), TEST_PEER, peer);
        if let Some(x) = xff {
            hd = with(hd, "x-forwarded-for", x);
        }
        hd
    };
    let body = json!({"email": "ip@example.com", "password": "password123"});
    let a = from("203.0.113.1:4000", None);
    for _ in 0..2 {
        h.post("/api/v1/auth/password/sign-in", &a, body.clone())
            .await
            .assert_ok();
    }
    let r = h
        .post("/api/v1/auth/password/sign-in", &a, body.clone())
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["retry_after_seconds"], 1);
    // Another client has its own bucket; a spoofed X-Forwarded-For from an untrusted peer
    // changes nothing.
    let spoof = from("203.0.113.1:4000", Some("198.51.100.50"));
    assert_eq!(
        h.post("/api/v1/auth/password/sign-in", &spoof, body.clone())
            .await
            .status,
        429
    );
    h.post(
        "/api/v1/auth/password/sign-in",
        &from("203.0.113.2:4000", None),
        body.clone(),
    )
    .await
    .assert_ok();
    // Behind a trusted proxy, the forwarded client counts.
    let via = |client: &str| from("10.1.2.3:5000", Some(client));
    for _ in 0..2 {
        h.post(
            "/api/v1/auth/password/sign-in",
            &via("6.6.6.6, 198.51.100.7"),
            body.clone(),
        )
        .await
        .assert_ok();
    }
    assert_eq!(
        h.post(
            "/api/v1/auth/password/sign-in",
            &via("198.51.100.7"),
            body.clone()
        )
        .await
        .status,
        429
    );
    h.post(
        "/api/v1/auth/password/sign-in",
        &via("198.51.100.8"),
        body.clone(),
    )
    .await
    .assert_ok();
    // A proxy that adds its own header line (HAProxy) rather than extend the client's: the
    // lines are read as one list, so a client-written first line changes nothing.
    let two_lines = with(via("198.51.100.99"), "x-forwarded-for", "198.51.100.7");
    assert_eq!(
        h.post("/api/v1/auth/password/sign-in", &two_lines, body.clone())
            .await
            .status,
        429
    );
    // Buckets refill.
    h.postern.clock().advance_millis(1_000);
    h.post("/api/v1/auth/password/sign-in", &a, body)
        .await
        .assert_ok();
}

async fn mail_to_one_recipient_is_limited(env: Env) {
    let mut cfg = config();
    cfg.security.mail_per_recipient_per_hour = 2;
    let h = harness_mail(&env, cfg).await;
    h.sign_up("mail@example.com", "password123").await;
    for email in ["mail@example.com", "nobody@example.com"] {
        for _ in 0..2 {
            h.post(
                "/api/v1/auth/password/send-reset-code",
                &h.client(),
                json!({"email": email, "callback_url": CALLBACK}),
            )
            .await
            .assert_ok();
        }
        let r = h
            .post(
                "/api/v1/auth/password/send-reset-code",
                &h.client(),
                json!({"email": email, "callback_url": CALLBACK}),
            )
            .await;
        assert_eq!(r.status, 429, "the same answer with or without an account");
        let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=3600).contains(&wait));
    }
    h.post(
        "/api/v1/auth/otp/send-sign-in-code",
        &h.client(),
        json!({"email": "MAIL@example.com", "callback_url": CALLBACK}),
    )
    .await;
    assert_eq!(
        h.post(
            "/api/v1/auth/otp/send-sign-in-code",
            &h.client(),
            json!({"email": "fresh@example.com", "callback_url": CALLBACK}),
        )
        .await
        .status,
        200
    );
    h.mails("mail@example.com", "Reset your password", 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.sink().matching("mail@example.com", "").len(), 2);
    // Next hour, mail flows again.
    h.postern.clock().advance_millis(3_600_000);
    h.post(
        "/api/v1/auth/password/send-reset-code",
        &h.client(),
        json!({"email": "mail@example.com", "callback_url": CALLBACK}),
    )
    .await
    .assert_ok();
}

// ---------------------------------------------------------------------------------------
// 7. Config authority

async fn config_secrets_and_sections_are_admin_only(env: Env) {
    let h = harness_mail(&env, config()).await;
    let over = |body: Value| json!({"config_override_string": body.to_string()});
    for key in [
        json!({"domains.trustedDomains.evil": {"baseUrl": "https://attacker.example"}}),
        json!({"domains": {"allowLocalhost": true}}),
        json!({"emails.server": {"host": "smtp.attacker.example"}}),
        json!({"auth.oauth.providers.github": {"type": "github"}}),
        json!({"auth": {"allowSignUp": true}}),
        json!({"security.lockout.maxFailures": 100}),
    ] {
        let r = h
            .patch(
                "/api/v1/internal/config/override/branch",
                &h.server(),
                over(key.clone()),
            )
            .await;
        assert_eq!(r.status, 403, "{key}: {}", r.text());
    }
    h.patch(
        "/api/v1/internal/config/override/branch",
        &h.server(),
        over(json!({"users.allowClientUserDeletion": true})),
    )
    .await
    .assert_ok();
    h.patch(
        "/api/v1/internal/config/override/environment",
        &h.admin(),
        over(json!({
            "emails.server": {"isShared": false, "host": "smtp.example.com", "port": 587, "username": "u", "password": "smtp-secret"},
            "auth.oauth.providers.github": {"type": "github", "isShared": false, "clientId": "gh", "clientSecret": "gh-secret", "allowSignIn": true}
        })),
    )
    .await
    .assert_ok();
    for (path, headers) in [
        ("/api/v1/internal/config", h.admin()),
        ("/api/v1/internal/config/override/branch", h.server()),
        ("/api/v1/internal/projects/current", h.admin()),
    ] {
        let text = h.get(path, &headers).await.assert_ok().to_string();
        assert!(
            !text.contains("smtp-secret") && !text.contains("gh-secret"),
            "{path}: {text}"
        );
        assert!(text.contains("********"), "{path}: {text}");
    }
    let row = h
        .postern
        .store()
        .projects()
        .get(&h.project.id)
        .await
        .unwrap()
        .unwrap()
        .config
        .to_string();
    assert!(
        !row.contains("smtp-secret") && !row.contains("gh-secret"),
        "{row}"
    );
    // Writing the redacted view back keeps the secrets.
    let shown: Value = serde_json::from_str(
        h.get("/api/v1/internal/config", &h.admin())
            .await
            .assert_ok()["config_string"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    h.patch(
        "/api/v1/internal/config/override/environment",
        &h.admin(),
        over(json!({"emails.server": shown["emails"]["server"]})),
    )
    .await
    .assert_ok();
    let project = h
        .postern
        .projects()
        .get(&h.project.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        h.postern
            .projects()
            .config_secret(&project, "emails.server.password")
            .as_deref(),
        Some("smtp-secret")
    );
    assert_eq!(
        h.postern
            .projects()
            .config_secret(&project, "auth.oauth.providers.github.clientSecret")
            .as_deref(),
        Some("gh-secret")
    );
}

// ---------------------------------------------------------------------------------------
// 9. Audit log

async fn audit_log_records_and_pages_security_events(env: Env) {
    let h = harness_mail(&env, config()).await;
    let (uid, at, _) = h.sign_up("audit@example.com", "password123").await;
    let me = as_user(&h, &at);
    password_sign_in(&h, "audit@example.com", "wrong").await;
    let signed = password_sign_in(&h, "audit@example.com", "password123")
        .await
        .assert_ok();
    let key = h
        .post(
            "/api/v1/user-api-keys",
            &me,
            json!({"user_id": "me", "description": "k", "expires_at_millis": null}),
        )
        .await
        .assert_ok();
    h.patch(
        &format!("/api/v1/user-api-keys/{}", s(&key, "id")),
        &me,
        json!({"revoked": true}),
    )
    .await
    .assert_ok();
    h.post(
        "/api/v1/auth/password/update",
        &me,
        json!({"old_password": "password123", "new_password": "password456"}),
    )
    .await
    .assert_ok();
    h.delete(
        "/api/v1/auth/sessions/current",
        &as_user(&h, &s(&signed, "access_token")),
    )
    .await;
    h.patch(
        "/api/v1/internal/config/override/environment",
        &h.admin(),
        json!({"config_override_string": json!({"users.allowClientUserDeletion": true}).to_string()}),
    )
    .await
    .assert_ok();
    let log = |q: &str| {
        let h = &h;
        let q = q.to_owned();
        async move {
            h.get(&format!("/api/v1/internal/audit-log{q}"), &h.admin())
                .await
                .assert_ok()
        }
    };
    let all = log("").await;
    let types: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for t in [
        "sign_up",
        "sign_in.failed",
        "sign_in.succeeded",
        "api_key.created",
        "api_key.revoked",
        "password.changed",
        "config.changed",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    let failed = log("?type=sign_in.failed").await;
    let e = &failed["items"][0];
    assert_eq!(e["user_id"], uid.as_str());
    assert_eq!(e["actor"], "anonymous");
    assert_eq!(e["details"]["method"], "password");
    let config = log("?type=config.changed").await;
    assert_eq!(config["items"][0]["actor"], "admin");
    // Pages, newest first, by cursor.
    let p1 = log("?limit=3").await;
    assert_eq!(p1["items"].as_array().unwrap().len(), 3);
    let cursor = p1["pagination"]["next_cursor"].as_str().unwrap().to_owned();
    let p2 = log(&format!("?limit=3&cursor={cursor}")).await;
    assert_ne!(p1["items"][0]["id"], p2["items"][0]["id"]);
    let mine = log(&format!("?user_id={uid}")).await;
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["user_id"] == uid.as_str())
    );
    // Admins only.
    h.get("/api/v1/internal/audit-log", &h.server())
        .await
        .assert_error(401, "INSUFFICIENT_ACCESS_TYPE");
    h.get("/api/v1/internal/audit-log?limit=x", &h.admin())
        .await
        .assert_error(400, "SCHEMA_ERROR");
}

// ---------------------------------------------------------------------------------------
// 6. Resource bounds

async fn resource_bounds(env: Env) {
    let h = harness_mail(&env, config()).await;
    // Forged tokens naming unknown projects derive no keys.
    let before = h.postern.sessions().cached_key_audiences();
    for i in 0..200 {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(json!({"aud": format!("forged-{i}"), "sub": "x"}).to_string());
        let token = format!("eyJhbGciOiJFUzI1NiIsImtpZCI6ImFhYSJ9.{payload}.c2ln");
        let r = h
            .get(
                "/api/v1/users/me",
                &with(h.client(), "x-stack-access-token", &token),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    assert!(h.postern.sessions().cached_key_audiences() <= before + 3);
    let huge = format!("a.{}.b", "A".repeat(100_000));
    h.get(
        "/api/v1/users/me",
        &with(h.client(), "x-stack-access-token", &huge),
    )
    .await
    .assert_error(401, "UNPARSABLE_ACCESS_TOKEN");

    // Replaced and orphaned profile images stop being served.
    let (uid, at, _) = h.sign_up("img@example.com", "password123").await;
    let me = as_user(&h, &at);
    let gif = "data:image/gif;base64,R0lGODlhAQABAAAAACw=";
    let v = h
        .patch("/api/v1/users/me", &me, json!({"profile_image_url": gif}))
        .await
        .assert_ok();
    let first = s(&v, "profile_image_url");
    let path = |url: &str| url.replacen(PUBLIC_URL, "", 1);
    assert_eq!(h.get(&path(&first), &vec![]).await.status, 200);
    let v = h
        .patch("/api/v1/users/me", &me, json!({"profile_image_url": gif}))
        .await
        .assert_ok();
    let second = s(&v, "profile_image_url");
    assert_eq!(h.get(&path(&first), &vec![]).await.status, 404, "replaced");
    let team = h
        .post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "Pics", "profile_image_url": gif, "creator_user_id": uid}),
        )
        .await
        .assert_ok();
    let team_image = s(&team, "profile_image_url");
    assert_eq!(h.get(&path(&team_image), &vec![]).await.status, 200);
    h.delete(&format!("/api/v1/users/{uid}"), &h.server())
        .await
        .assert_ok();
    assert_eq!(
        h.get(&path(&second), &vec![]).await.status,
        404,
        "user deleted"
    );
    h.delete(&format!("/api/v1/teams/{}", s(&team, "id")), &h.server())
        .await
        .assert_ok();
    assert_eq!(
        h.get(&path(&team_image), &vec![]).await.status,
        404,
        "team deleted"
    );

    // Metadata and team names have caps.
    let (_, at, _) = h.sign_up("meta@example.com", "password123").await;
    let big = "x".repeat(postern_core::users::MAX_METADATA_BYTES);
    h.patch(
        "/api/v1/users/me",
        &as_user(&h, &at),
        json!({"client_metadata": {"blob": big}}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    h.patch(
        "/api/v1/users/me",
        &as_user(&h, &at),
        json!({"client_metadata": "a plain string is fine"}),
    )
    .await
    .assert_ok();
    h.post(
        "/api/v1/teams",
        &h.server(),
        json!({"display_name": "n".repeat(257)}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    h.post("/api/v1/teams", &h.server(), json!({"display_name": ""}))
        .await
        .assert_ok();

    // Imported argon2 hashes within the policy only.
    let greedy = "$argon2id$v=19$m=4194304,t=3,p=1$c29tZXNhbHQxMjM$h8zNQ0mOlGPjtlF8wqXUt8h8uZ0i5eJKn1Z0r7T7o5Q";
    let r = h
        .post(
            "/api/v1/users",
            &h.server(),
            json!({"primary_email": "import@example.com", "password_hash": greedy}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
}

// ---------------------------------------------------------------------------------------
// 5. The second review: what the first fixes left open

async fn stolen_tokens_die_with_a_reset_and_keys_with_a_password_change(env: Env) {
    let h = harness_mail(&env, config()).await;
    h.sign_up("victim@example.com", "victim-password").await;
    let stolen = password_sign_in(&h, "victim@example.com", "victim-password")
        .await
        .assert_ok();
    let attacker = as_user(&h, &s(&stolen, "access_token"));
    h.get("/api/v1/users/me", &attacker).await.assert_ok();
    assert_eq!(reset_mails(&h, "victim@example.com").await, 1);
    let code = code_in_mail(&h, "victim@example.com", "Reset your password", 1, CALLBACK).await;
    h.postern.clock().advance_millis(1_000);
    h.post(
        "/api/v1/auth/password/reset",
        &h.client(),
        json!({"code": code, "password": "new-password"}),
    )
    .await
    .assert_ok();
    // Signed out everywhere: an access token handed out before stops at once, so it mints
    // no key, no step-up and no second factor in the minutes it had left.
    h.get("/api/v1/users/me", &attacker)
        .await
        .assert_error(401, "ACCESS_TOKEN_EXPIRED");
    h.post(
        "/api/v1/user-api-keys",
        &attacker,
        json!({"user_id": "me", "description": "persistence", "expires_at_millis": null}),
    )
    .await
    .assert_error(401, "ACCESS_TOKEN_EXPIRED");
    h.post("/api/v1/auth/step-up/send-code", &attacker, json!({}))
        .await
        .assert_error(401, "ACCESS_TOKEN_EXPIRED");
    // A sign-in in the same second as the reset is not caught by it.
    let v = password_sign_in(&h, "victim@example.com", "new-password")
        .await
        .assert_ok();
    let owner = as_user(&h, &s(&v, "access_token"));
    h.get("/api/v1/users/me", &owner).await.assert_ok();
    // A password change revokes the user's API keys and other sessions; the session that
    // made the change goes on.
    let key = api_key_of(&h, &owner).await;
    assert!(key_works(&h, &key).await);
    let other = password_sign_in(&h, "victim@example.com", "new-password")
        .await
        .assert_ok();
    h.post(
        "/api/v1/auth/password/update",
        &with(
            owner.clone(),
            "x-stack-refresh-token",
            &s(&v, "refresh_token"),
        ),
        json!({"old_password": "new-password", "new_password": "newer-password"}),
    )
    .await
    .assert_ok();
    assert!(!key_works(&h, &key).await);
    assert!(!refresh_works(&h, &s(&other, "refresh_token")).await);
    assert!(refresh_works(&h, &s(&v, "refresh_token")).await);
    h.get("/api/v1/users/me", &owner).await.assert_ok();
}

async fn confirmation_link_names_its_address(env: Env) {
    let h = harness_mail(&env, config()).await;
    h.sign_up("victim@example.com", "victim-password").await;
    let stolen = password_sign_in(&h, "victim@example.com", "victim-password")
        .await
        .assert_ok();
    let attacker = as_user(&h, &s(&stolen, "access_token"));
    // The attacker asks the owner to confirm an address the owner would recognise ...
    let c = h
        .post(
            "/api/v1/contact-channels",
            &attacker,
            json!({"user_id": "me", "type": "email", "value": "victim.work@example.com", "used_for_auth": true}),
        )
        .await
        .assert_ok();
    let id = s(&c, "id");
    h.post(
        &format!("/api/v1/contact-channels/me/{id}/send-auth-confirmation"),
        &attacker,
        json!({"callback_url": CALLBACK}),
    )
    .await
    .assert_ok();
    let mails = h
        .mails("victim@example.com", "Confirm a new sign-in address", 1)
        .await;
    assert!(mails[0].decoded().contains("victim.work@example.com"));
    let code = mails[0].code_after(CALLBACK).unwrap();
    // ... then swaps the channel's address before the owner clicks.
    h.patch(
        &format!("/api/v1/contact-channels/me/{id}"),
        &attacker,
        json!({"value": "swap@attacker.example", "type": "email"}),
    )
    .await
    .assert_ok();
    let r = h
        .post(
            "/api/v1/contact-channels/confirm-auth",
            &h.client(),
            json!({"code": code}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(reset_mails(&h, "swap@attacker.example").await, 0);
    assert_eq!(
        h.get(
            &format!("/api/v1/contact-channels/me/{id}/confirm-auth"),
            &attacker
        )
        .await
        .assert_ok(),
        json!({"used_for_auth": true, "auth_confirmed": false})
    );
}

async fn security_notices_have_a_budget(env: Env) {
    let mut cfg = config();
    cfg.security.mail_per_recipient_per_hour = 3;
    let h = harness_mail(&env, cfg).await;
    // An anonymous user has no factor to prove, so its channels sign in at once; flipping
    // one between a target's address and others used to mail the target without limit.
    let (_, me, _) = anonymous_account(&h).await;
    h.post(
        "/api/v1/contact-channels",
        &me,
        json!({"user_id": "me", "type": "email", "value": "target@example.com", "used_for_auth": true}),
    )
    .await
    .assert_ok();
    // Rewriting that address now needs a proof the attacker lacks ...
    let list = h
        .get("/api/v1/contact-channels?user_id=me", &me)
        .await
        .assert_ok();
    let id = s(&list["items"][0], "id");
    h.patch(
        &format!("/api/v1/contact-channels/me/{id}"),
        &me,
        json!({"value": "x@example.com", "type": "email"}),
    )
    .await
    .assert_error(403, "STEP_UP_REQUIRED");
    // ... but each new primary address still tells the target: those notices are counted.
    let before = outbox_len(&h).await;
    for i in 0..6 {
        h.patch(
            "/api/v1/users/me",
            &me,
            json!({"primary_email": format!("x{i}@example.com")}),
        )
        .await
        .assert_ok();
    }
    assert_eq!(outbox_len(&h).await - before, 3);
    h.mails(
        "target@example.com",
        "email address at Test project was changed",
        3,
    )
    .await;
    // Skipped notices refuse nothing; sign-in mail has a budget of its own.
    assert_eq!(reset_mails(&h, "target@example.com").await, 1);
}

async fn unconfirmed_addresses_reserve_nothing(env: Env) {
    let h = harness_mail(&env, config()).await;
    let (_, at, _) = h
        .sign_up("squatter@attacker.example", "attacker-password")
        .await;
    let squatter = as_user(&h, &at);
    let c = h
        .post(
            "/api/v1/contact-channels",
            &squatter,
            json!({"user_id": "me", "type": "email", "value": "victim@example.com", "used_for_auth": true}),
        )
        .await
        .assert_ok();
    // The victim signs up as if nothing happened, and signs in by password and by mail.
    let (uid, _, _) = h.sign_up("victim@example.com", "victim-password").await;
    let v = password_sign_in(&h, "victim@example.com", "victim-password")
        .await
        .assert_ok();
    assert_eq!(s(&v, "user_id"), uid);
    // Nor does a squatted address keep its owner from signing up by mail.
    h.post(
        "/api/v1/contact-channels",
        &squatter,
        json!({"user_id": "me", "type": "email", "value": "otp-victim@example.com", "used_for_auth": true}),
    )
    .await
    .assert_ok();
    let squatter_id = s(
        &h.get("/api/v1/users/me", &squatter).await.assert_ok(),
        "id",
    );
    let (uid2, _, _) = otp_account(&h, "otp-victim@example.com").await;
    assert_ne!(uid2, squatter_id);
    // The squatter's channel can never be confirmed now.
    let t = step_up(&h, &squatter, json!({"password": "attacker-password"})).await;
    h.post(
        &format!("/api/v1/contact-channels/me/{}/confirm-auth", s(&c, "id")),
        &with(squatter.clone(), "x-postern-step-up-token", &t),
        json!({}),
    )
    .await
    .assert_error(409, "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE");
    // Nor can a new primary address that someone else signs in with be set.
    h.patch(
        "/api/v1/users/me",
        &squatter,
        json!({"primary_email": "victim@example.com"}),
    )
    .await
    .assert_error(409, "USER_EMAIL_ALREADY_EXISTS");
    // A user's channels are capped (each one is a row and a possible notice).
    let list = h
        .get("/api/v1/contact-channels?user_id=me", &squatter)
        .await
        .assert_ok();
    let have = list["items"].as_array().unwrap().len();
    for i in have..postern_core::contact_channels::MAX_CHANNELS_PER_USER {
        h.post(
            "/api/v1/contact-channels",
            &squatter,
            json!({"user_id": "me", "type": "email", "value": format!("c{i}@attacker.example"), "used_for_auth": false}),
        )
        .await
        .assert_ok();
    }
    let r = h
        .post(
            "/api/v1/contact-channels",
            &squatter,
            json!({"user_id": "me", "type": "email", "value": "one-more@attacker.example", "used_for_auth": false}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
}

async fn stored_images_belong_to_their_owner(env: Env) {
    let h = harness_mail(&env, config()).await;
    let gif = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==";
    let (a_id, a, _) = h.sign_up("a@example.com", "password123").await;
    let (b_id, b, _) = h.sign_up("b@example.com", "password123").await;
    let v = h
        .patch(
            "/api/v1/users/me",
            &as_user(&h, &a),
            json!({"profile_image_url": gif}),
        )
        .await
        .assert_ok();
    let url = s(&v, "profile_image_url");
    let name = url.rsplit('/').next().unwrap().to_owned();
    let stored = || async {
        h.postern
            .file(postern_core::files::USER_IMAGES, &name)
            .await
            .unwrap()
    };
    assert!(stored().await.is_some());
    // Naming that file for another user (then replacing it) would delete it: refused, even
    // to a server. Clients send images only as data URLs anyway.
    let r = h
        .patch(
            &format!("/api/v1/users/{b_id}"),
            &h.server(),
            json!({"profile_image_url": url}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (400, "Invalid profile image URL".into())
    );
    h.patch(
        &format!("/api/v1/users/{b_id}"),
        &h.server(),
        json!({"profile_image_url": "https://cdn.example.com/b.png"}),
    )
    .await
    .assert_ok();
    h.patch(
        "/api/v1/users/me",
        &as_user(&h, &b),
        json!({"profile_image_url": null}),
    )
    .await
    .assert_ok();
    assert!(stored().await.is_some());
    // The owner's own URL sent back keeps it; replacing it deletes it.
    h.patch(
        &format!("/api/v1/users/{a_id}"),
        &h.server(),
        json!({"profile_image_url": url, "display_name": "A"}),
    )
    .await
    .assert_ok();
    assert!(stored().await.is_some());
    h.patch(
        "/api/v1/users/me",
        &as_user(&h, &a),
        json!({"profile_image_url": null}),
    )
    .await
    .assert_ok();
    assert!(stored().await.is_none());
}

async fn magic_link_upgrades_only_the_anonymous_user_that_asked(env: Env) {
    let h = harness_mail(&env, config()).await;
    let (anon_id, victim, _) = anonymous_account(&h).await;
    // The attacker requests a link for their own address and gets the victim to open it.
    h.post(
        "/api/v1/auth/otp/send-sign-in-code",
        &h.client(),
        json!({"email": "attacker@attacker.example", "callback_url": CALLBACK}),
    )
    .await
    .assert_ok();
    let code = code_in_mail(&h, "attacker@attacker.example", "Sign in to", 1, CALLBACK).await;
    let v = h
        .post("/api/v1/auth/otp/sign-in", &victim, json!({"code": code}))
        .await
        .assert_ok();
    assert_ne!(s(&v, "user_id"), anon_id);
    assert_eq!(v["is_new_user"], true);
    let still = h
        .get(&format!("/api/v1/users/{anon_id}"), &h.server())
        .await
        .assert_ok();
    assert_eq!(still["is_anonymous"], true);
    assert_eq!(still["primary_email"], Value::Null);
    // A link the anonymous user asked for itself upgrades it in place.
    h.post(
        "/api/v1/auth/otp/send-sign-in-code",
        &victim,
        json!({"email": "me@example.com", "callback_url": CALLBACK}),
    )
    .await
    .assert_ok();
    let code = code_in_mail(&h, "me@example.com", "Sign in to", 1, CALLBACK).await;
    let v = h
        .post("/api/v1/auth/otp/sign-in", &victim, json!({"code": code}))
        .await
        .assert_ok();
    assert_eq!(s(&v, "user_id"), anon_id);
}

async fn concurrent_guesses_do_not_skip_the_delays(env: Env) {
    let mut cfg = config();
    cfg.security.lockout.free_failures.password = 3;
    cfg.security.lockout.max_failures = 5;
    cfg.security.lockout.lock_seconds = 600;
    let h = harness_mail(&env, cfg).await;
    h.sign_up("c@example.com", "right-password").await;
    let clock = h.postern.clock().clone();
    // Twelve guesses at once: each reserves its place in the run before it is checked, so
    // only the free ones are checked at all.
    let guesses = (0..12).map(|_| password_sign_in(&h, "c@example.com", "wrong-password"));
    let results = futures_util::future::join_all(guesses).await;
    let checked = results.iter().filter(|r| r.status == 400).count();
    let held = results.iter().filter(|r| r.status == 429).count();
    assert_eq!(checked + held, 12);
    assert!((1..=3).contains(&checked), "{checked} checked");
    // Sequential from here: the delays, then the lock.
    clock.advance_millis(60_000);
    for _ in checked..5 {
        password_sign_in(&h, "c@example.com", "wrong-password")
            .await
            .assert_error(400, "EMAIL_PASSWORD_MISMATCH");
        clock.advance_millis(60_000);
    }
    let r = password_sign_in(&h, "c@example.com", "right-password").await;
    assert_eq!(r.status, 429);
    // After the lock one guess goes through, and its failure locks the account again: the
    // run does not start over without a success.
    clock.advance_millis(600_000);
    password_sign_in(&h, "c@example.com", "wrong-password")
        .await
        .assert_error(400, "EMAIL_PASSWORD_MISMATCH");
    let r = password_sign_in(&h, "c@example.com", "right-password").await;
    assert_eq!(
        (r.status.as_u16(), r.header("retry-after")),
        (429, Some("600"))
    );
    clock.advance_millis(600_000);
    password_sign_in(&h, "c@example.com", "right-password")
        .await
        .assert_ok();
}

async fn account_changes_have_a_bucket_and_servers_none(env: Env) {
    let mut cfg = config();
    cfg.security.rate_limits.account_change = RateLimit::new(2, 60);
    cfg.security.rate_limits.sign_in = RateLimit::new(2, 60);
    let h = harness_mail(&env, cfg).await;
    let (uid, at, _) = h.sign_up("ac@example.com", "password123").await;
    let peer = |hd: Headers| with(hd, TEST_PEER, "203.0.113.9:4000");
    let me = peer(as_user(&h, &at));
    for i in 0..2 {
        h.patch(
            "/api/v1/users/me",
            &me,
            json!({"display_name": format!("n{i}")}),
        )
        .await
        .assert_ok();
    }
    let r = h
        .post(
            "/api/v1/contact-channels",
            &me,
            json!({"user_id": "me", "type": "email", "value": "more@example.com", "used_for_auth": false}),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.text());
    // Reads are not changes.
    h.get("/api/v1/users/me", &me).await.assert_ok();
    // A server acts for many end users from one address, with a key that can do more than
    // any of these routes: no per-IP bucket holds it back.
    let server = peer(h.server());
    for i in 0..4 {
        h.patch(
            &format!("/api/v1/users/{uid}"),
            &server,
            json!({"display_name": format!("s{i}")}),
        )
        .await
        .assert_ok();
        h.post(
            "/api/v1/auth/password/sign-in",
            &server,
            json!({"email": "ac@example.com", "password": "password123"}),
        )
        .await
        .assert_ok();
    }
}

async fn anonymous_account_holding_an_address_is_claimed_as_a_regular_one(env: Env) {
    let h = harness_mail(&env, config()).await;
    // An anonymous user has nothing to prove with, so the address it adds signs in at once:
    // the same as a password sign-up with someone else's address.
    let (id, attacker, anon_refresh) = anonymous_account(&h).await;
    h.post(
        "/api/v1/contact-channels",
        &attacker,
        json!({"user_id": "me", "type": "email", "value": "victim@example.com", "used_for_auth": true, "is_primary": true}),
    )
    .await
    .assert_ok();
    assert!(refresh_works(&h, &anon_refresh).await);
    // From then on it is held to the rules: a first password needs a proof it cannot give.
    h.post(
        "/api/v1/auth/password/set",
        &attacker,
        json!({"password": "attacker-password"}),
    )
    .await
    .assert_error(403, "STEP_UP_REQUIRED");
    // The owner of the address resets the password, which claims the account: the
    // attacker's session is gone, and the account is no longer anonymous.
    assert_eq!(reset_mails(&h, "victim@example.com").await, 1);
    let code = code_in_mail(&h, "victim@example.com", "Reset your password", 1, CALLBACK).await;
    h.post(
        "/api/v1/auth/password/reset",
        &h.client(),
        json!({"code": code, "password": "victim-password"}),
    )
    .await
    .assert_ok();
    assert!(!refresh_works(&h, &anon_refresh).await);
    let v = password_sign_in(&h, "victim@example.com", "victim-password")
        .await
        .assert_ok();
    assert_eq!(s(&v, "user_id"), id);
    let me = h
        .get("/api/v1/users/me", &as_user(&h, &s(&v, "access_token")))
        .await
        .assert_ok();
    assert_eq!(me["is_anonymous"], false);
    assert_eq!(me["primary_email"], "victim@example.com");
}
