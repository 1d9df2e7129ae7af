//! Sign-up rules (contract §4 of rest-org.md) through `Postern::handle`, axum and actix, on
//! SQLite and PostgreSQL: reject, restrict, log, the default action, an erroring rule, an
//! injection attempt, each sign-up path (password, OTP, anonymous upgrade) and the paths
//! rules do not run on (anonymous sign-up, server `POST /users`), the tester and the stats.

#[macro_use]
mod support;

use postern_core::ProjectConfig;
use serde_json::{Value, json};
use support::*;

contract_suite!(
    rules_decide_password_sign_ups,
    rules_run_on_otp_and_anonymous_upgrades_only,
    rules_tester_and_stats,
    unparsable_rules_are_refused_when_saved,
    country_code_comes_from_a_trusted_proxy,
);

const CALLBACK: &str = "http://localhost:3000/handler/magic";
const REJECTED: &str = "Your sign up was rejected by an administrator's sign-up rule.";

async fn set_config(h: &H, over: Value) {
    h.patch(
        "/api/v1/internal/config/override/environment",
        &h.admin(),
        json!({"config_override_string": over.to_string()}),
    )
    .await
    .assert_ok();
}

/// Asks for a sign-in code for `email` (as `headers`) and reads it from the mail: the OTP
/// and the nonce, as the UI sends them.
async fn otp_code(h: &H, headers: &Headers, email: &str) -> String {
    let nonce = h
        .post(
            "/api/v1/auth/otp/send-sign-in-code",
            headers,
            json!({"email": email, "callback_url": CALLBACK}),
        )
        .await
        .assert_ok()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    let mail = &h.mails(email, "Sign in to", 1).await[0];
    let subject = mail.subject();
    let otp = subject
        .strip_prefix("Sign in to Test project: Your code is ")
        .expect(&subject);
    format!("{otp}{nonce}")
}

async fn user_count(h: &H) -> usize {
    let v = h
        .get("/api/v1/users?include_anonymous=true", &h.server())
        .await
        .assert_ok();
    v["items"].as_array().unwrap().len()
}

async fn password_sign_up(h: &H, headers: &Headers, email: &str) -> Resp {
    h.post(
        "/api/v1/auth/password/sign-up",
        headers,
        json!({"email": email, "password": "password123"}),
    )
    .await
}

fn rules() -> Value {
    json!({
        "auth.signUpRules.log-all": {
            "enabled": true, "priority": 10, "condition": "true", "action": {"type": "log"}
        },
        "auth.signUpRules.broken-regex": {
            "enabled": true, "priority": 9, "condition": "email.matches(\"(unclosed\")",
            "action": {"type": "reject"}
        },
        "auth.signUpRules.watch": {
            "enabled": true, "priority": 5, "displayName": "Watch list",
            "condition": "emailDomain == 'sus.example' || email.startsWith(\"watch\")",
            "action": {"type": "restrict"}
        },
        "auth.signUpRules.block": {
            "enabled": true, "priority": 1, "condition": "emailDomain.endsWith(\"blocked.example\")",
            "action": {"type": "reject", "message": "internal note: do not show"}
        },
        "auth.signUpRules.off": {
            "enabled": false, "condition": "true", "action": {"type": "reject"}
        },
        "auth.signUpRulesDefaultAction": "allow"
    })
}

async fn rules_decide_password_sign_ups(env: Env) {
    let h = harness(&env).await;
    set_config(&h, rules()).await;
    let before = user_count(&h).await;

    // Reject: 403 with the fixed message; the rule's own message never shows; nothing kept.
    let r = password_sign_up(&h, &h.client(), "eve@blocked.example").await;
    r.assert_error(403, "SIGN_UP_REJECTED");
    assert!(!r.text().contains("internal note"), "{}", r.text());
    assert_eq!(r.json()["error"], REJECTED);
    assert_eq!(r.json()["details"]["message"], REJECTED);
    assert_eq!(
        user_count(&h).await,
        before,
        "a rejected sign-up creates nothing"
    );

    // A restrict rule matched, then the default allowed: a restricted user whose token
    // uses the restricted audience.
    let r = password_sign_up(&h, &h.client(), "mallory@sus.example").await;
    let v = r.assert_ok();
    let at = v["access_token"].as_str().unwrap();
    let c = token_claims(at);
    assert_eq!(c["is_restricted"], true);
    assert!(c["aud"].as_str().unwrap().ends_with(":restricted"), "{c}");
    let id = v["user_id"].as_str().unwrap();
    let u = h
        .get(&format!("/api/v1/users/{id}"), &h.server())
        .await
        .assert_ok();
    assert_eq!(u["restricted_by_admin"], true);
    assert_eq!(u["restricted_by_admin_reason"], Value::Null);
    assert_eq!(
        u["restricted_by_admin_private_details"],
        "Restricted by sign-up rule: watch (Watch list)"
    );
    assert_eq!(
        u["restricted_reason"],
        json!({"type": "restricted_by_administrator"})
    );

    // The erroring rule (a bad regex) does not match and does not fail the sign-up; the
    // disabled reject rule is skipped.
    let v = password_sign_up(&h, &h.client(), "ok@fine.example")
        .await
        .assert_ok();
    assert_eq!(
        token_claims(v["access_token"].as_str().unwrap())["is_restricted"],
        false
    );

    // Server-side creation does not run the rules.
    h.post(
        "/api/v1/users",
        &h.server(),
        json!({"primary_email": "server@blocked.example"}),
    )
    .await
    .assert_ok();

    // Default reject: only an allow rule lets a sign-up through.
    set_config(
        &h,
        json!({
            "auth.signUpRulesDefaultAction": "reject",
            "auth.signUpRules.vip": {
                "enabled": true, "priority": 100, "condition": "emailDomain == \"vip.example\"",
                "action": {"type": "allow"}
            }
        }),
    )
    .await;
    password_sign_up(&h, &h.client(), "someone@fine.example")
        .await
        .assert_error(403, "SIGN_UP_REJECTED");
    let v = password_sign_up(&h, &h.client(), "boss@vip.example")
        .await
        .assert_ok();
    assert_eq!(
        token_claims(v["access_token"].as_str().unwrap())["is_restricted"],
        false,
        "the allow rule ran before the restrict rule"
    );
}

/// An anonymous user: its id and the headers that act as it.
async fn anonymous(h: &H) -> (String, Headers) {
    let v = h
        .post("/api/v1/auth/anonymous/sign-up", &h.client(), json!({}))
        .await
        .assert_ok();
    let at = v["access_token"].as_str().unwrap().to_owned();
    let headers = with(
        with(h.client(), "x-stack-access-token", &at),
        "x-stack-allow-anonymous-user",
        "true",
    );
    (v["user_id"].as_str().unwrap().to_owned(), headers)
}

async fn rules_run_on_otp_and_anonymous_upgrades_only(env: Env) {
    let mut cfg = ProjectConfig::default();
    cfg.auth.otp.allow_sign_in = true;
    let h = harness_mail(&env, cfg).await;
    set_config(&h, rules()).await;

    // OTP for a new address runs the rules.
    let before = user_count(&h).await;
    let code = otp_code(&h, &h.client(), "otp@blocked.example").await;
    h.post(
        "/api/v1/auth/otp/sign-in",
        &h.client(),
        json!({"code": code}),
    )
    .await
    .assert_error(403, "SIGN_UP_REJECTED");
    assert_eq!(user_count(&h).await, before);
    let code = otp_code(&h, &h.client(), "watcher@fine.example").await;
    let v = h
        .post(
            "/api/v1/auth/otp/sign-in",
            &h.client(),
            json!({"code": code}),
        )
        .await
        .assert_ok();
    assert_eq!(
        token_claims(v["access_token"].as_str().unwrap())["is_restricted"],
        true
    );

    // Anonymous sign-up does not run the rules (it has no address)...
    let (anon_id, anon_headers) = anonymous(&h).await;
    // ...but upgrading it does: rejected, it stays anonymous.
    password_sign_up(&h, &anon_headers, "late@blocked.example")
        .await
        .assert_error(403, "SIGN_UP_REJECTED");
    let u = h
        .get(&format!("/api/v1/users/{anon_id}"), &h.server())
        .await
        .assert_ok();
    assert_eq!(u["is_anonymous"], true);
    // A restriction on upgrade is appended to earlier private details.
    h.patch(
        &format!("/api/v1/users/{anon_id}"),
        &h.server(),
        json!({"restricted_by_admin": true, "restricted_by_admin_private_details": "seen before"}),
    )
    .await
    .assert_ok();
    let v = password_sign_up(&h, &anon_headers, "grown@sus.example")
        .await
        .assert_ok();
    assert_eq!(v["user_id"], anon_id.as_str());
    let u = h
        .get(&format!("/api/v1/users/{anon_id}"), &h.server())
        .await
        .assert_ok();
    assert_eq!(u["is_anonymous"], false);
    assert_eq!(
        u["restricted_by_admin_private_details"],
        "seen before\n\nRestricted by sign-up rule: watch (Watch list)"
    );
}

async fn rules_tester_and_stats(env: Env) {
    let h = harness(&env).await;
    set_config(&h, rules()).await;
    let test = |body: Value| {
        let h = &h;
        async move {
            h.post("/api/v1/internal/sign-up-rules-test", &h.admin(), body)
                .await
        }
    };
    // An injection attempt is only data: the email is bound, never spliced into CEL.
    let v = test(json!({
        "email": "x@fine.example\" || true || \"",
        "auth_method": "password",
        "oauth_provider": null,
        "country_code": "us",
        "risk_scores": {"bot": 7, "free_trial_abuse": 0}
    }))
    .await
    .assert_ok();
    assert_eq!(v["context"]["country_code"], "US");
    assert_eq!(v["context"]["risk_scores"]["bot"], 7);
    assert_eq!(v["context"]["turnstile_result"], "invalid");
    let statuses: Vec<(String, String)> = v["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["rule_id"].as_str().unwrap().to_owned(),
                e["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = statuses
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("log-all", "matched"),
            ("broken-regex", "error"),
            ("watch", "not_matched"),
            ("block", "not_matched"),
            ("off", "disabled"),
        ]
    );
    assert_eq!(
        v["outcome"],
        json!({"should_allow": true, "decision": "default-allow", "decision_rule_id": null,
               "restricted_because_of_rule_id": null})
    );
    // Schema errors.
    test(json!({"email": null, "auth_method": "carrier-pigeon", "oauth_provider": null, "country_code": null}))
        .await
        .assert_error(400, "SCHEMA_ERROR");
    test(
        json!({"email": null, "auth_method": "otp", "oauth_provider": null, "country_code": "USA"}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    // Admin only.
    h.post(
        "/api/v1/internal/sign-up-rules-test",
        &h.server(),
        json!({"email": null, "auth_method": "otp", "oauth_provider": null, "country_code": null}),
    )
    .await
    .assert_error(401, "INSUFFICIENT_ACCESS_TYPE");

    // The tester records nothing; sign-ups do, with the domain only.
    let empty = h
        .get("/api/v1/internal/sign-up-rules-stats", &h.admin())
        .await
        .assert_ok();
    assert_eq!(empty["rule_triggers"], json!([]));
    assert_eq!(empty["analytics_hours"], 48);
    password_sign_up(&h, &h.client(), "a@blocked.example")
        .await
        .assert_error(403, "SIGN_UP_REJECTED");
    password_sign_up(&h, &h.client(), "b@sus.example")
        .await
        .assert_ok();
    // The address is taken: the sign-up fails after the rules, and the triggers stay.
    password_sign_up(&h, &h.client(), "b@sus.example")
        .await
        .assert_error(409, "USER_EMAIL_ALREADY_EXISTS");
    let s = h
        .get("/api/v1/internal/sign-up-rules-stats", &h.admin())
        .await
        .assert_ok();
    let by_rule: Vec<(String, u64, u64)> = s["rule_triggers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["hourly_counts"].as_array().unwrap().len(), 48);
            assert_eq!(
                r["hourly_counts"][47]["count"], r["total_count"],
                "all in the current hour"
            );
            (
                r["rule_id"].as_str().unwrap().to_owned(),
                r["total_count"].as_u64().unwrap(),
                r["all_time_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_rule,
        [
            ("block".to_owned(), 1, 1),
            ("log-all".to_owned(), 3, 3),
            ("watch".to_owned(), 2, 2)
        ]
    );
    assert_eq!(s["total_triggers"], 6);
    assert_eq!(
        s["triggers_by_action"],
        json!({"allow": 0, "reject": 1, "restrict": 2, "log": 3})
    );
    let hour = s["rule_triggers"][0]["hourly_counts"][47]["hour"]
        .as_str()
        .unwrap();
    assert!(hour.ends_with(":00:00.000Z") && hour.len() == 24, "{hour}");
    let log = h
        .get(
            "/api/v1/internal/audit-log?type=sign_up_rule.triggered",
            &h.admin(),
        )
        .await
        .assert_ok();
    let text = log.to_string();
    assert!(
        text.contains("sus.example") && !text.contains("b@sus.example"),
        "{text}"
    );
}

async fn unparsable_rules_are_refused_when_saved(env: Env) {
    let h = harness(&env).await;
    for (condition, bad) in [
        ("email ==", "a parse error"),
        ("unknownVariable == 1", "an unknown variable"),
        ("email.size() > 1 && [1].all(x, x > 0)", "a comprehension"),
    ] {
        let r = h
            .patch(
                "/api/v1/internal/config/override/environment",
                &h.admin(),
                json!({"config_override_string": json!({
                    "auth.signUpRules.r": {"enabled": true, "condition": condition}
                }).to_string()}),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(
            r.text().contains("auth.signUpRules.r.condition"),
            "{bad}: {}",
            r.text()
        );
    }
    for (key, value) in [
        ("auth.signUpRules.-bad-id", json!({"condition": "true"})),
        ("auth.signUpRules.r", json!({"priority": -1})),
        ("auth.signUpRules.r", json!({"action": {"type": "explode"}})),
        ("auth.signUpRulesDefaultAction", json!("maybe")),
    ] {
        let r = h
            .patch(
                "/api/v1/internal/config/override/environment",
                &h.admin(),
                json!({"config_override_string": json!({key: value}).to_string()}),
            )
            .await;
        assert_eq!(r.status, 400, "{key}: {}", r.text());
    }
    // A bad regex literal is stored, as upstream does; the rule errors when evaluated.
    set_config(
        &h,
        json!({"auth.signUpRules.r": {"enabled": true, "condition": "email.matches(\"[\")"}}),
    )
    .await;
    let cfg = h
        .get("/api/v1/internal/config", &h.admin())
        .await
        .assert_ok();
    let cfg: Value = serde_json::from_str(cfg["config_string"].as_str().unwrap()).unwrap();
    assert_eq!(
        cfg["auth"]["signUpRules"]["r"]["condition"],
        "email.matches(\"[\")"
    );
}

async fn country_code_comes_from_a_trusted_proxy(env: Env) {
    let mut cfg = ProjectConfig::default();
    cfg.auth.otp.allow_sign_in = true;
    let h = harness_custom(&env, cfg, |b| {
        b.trusted_proxies(vec!["10.0.0.0/8".parse().unwrap()])
    })
    .await;
    set_config(
        &h,
        json!({"auth.signUpRules.no-us": {
            "enabled": true, "condition": "countryCode == \"US\"", "action": {"type": "reject"}
        }}),
    )
    .await;
    let from = |peer: &str, header: &str, country: &str| {
        with(with(h.client(), TEST_PEER, peer), header, country)
    };
    let country_of = |v: Value| {
        let h = &h;
        async move {
            let id = v["user_id"].as_str().unwrap().to_owned();
            h.get(&format!("/api/v1/users/{id}"), &h.server())
                .await
                .assert_ok()["country_code"]
                .clone()
        }
    };
    // A client cannot claim a country: from an untrusted peer the header is ignored.
    let v = password_sign_up(
        &h,
        &from("203.0.113.1:4000", "cf-ipcountry", "US"),
        "a@x.example",
    )
    .await
    .assert_ok();
    assert_eq!(country_of(v).await, Value::Null);
    // Through the trusted proxy it counts, for the rules and as the user's country.
    password_sign_up(
        &h,
        &from("10.0.0.5:4000", "cf-ipcountry", "US"),
        "b@x.example",
    )
    .await
    .assert_error(403, "SIGN_UP_REJECTED");
    let v = password_sign_up(
        &h,
        &from("10.0.0.5:4000", "x-vercel-ip-country", "ca"),
        "c@x.example",
    )
    .await
    .assert_ok();
    assert_eq!(country_of(v).await, "CA");
    // OTP: the new account's country is where the code was asked from.
    let code = otp_code(
        &h,
        &from("10.0.0.5:4000", "cf-ipcountry", "DE"),
        "d@x.example",
    )
    .await;
    let v = h
        .post(
            "/api/v1/auth/otp/sign-in",
            &from("10.0.0.6:4000", "cf-ipcountry", "FR"),
            json!({"code": code}),
        )
        .await
        .assert_ok();
    assert_eq!(country_of(v).await, "DE");
}
