//! Webhook events (contract §6.2 and §6.3 of rest-org.md) as recorded in the outbox, through
//! `Postern::handle`, axum and actix, on SQLite and PostgreSQL: `user.created` from every
//! way a user comes to be, `user.updated`, `user.deleted` after the memberships, the order
//! of team events with Postern's additions, and that a refused change records nothing.

#[macro_use]
mod support;

use postern_core::ProjectConfig;
use postern_core::events::Event;
use serde_json::{Value, json};
use support::*;

contract_suite!(
    every_user_creation_records_one_user_created,
    personal_team_and_sign_up_defaults_come_in_order,
    user_updates_record_user_updated,
    user_delete_records_memberships_then_user_deleted,
    team_events_with_postern_additions_come_in_order,
    refused_changes_record_nothing,
);

const CALLBACK: &str = "http://localhost:3000/handler/magic";

/// Reads the project's events as they come: each call answers those recorded since the
/// previous one.
struct Events<'a> {
    h: &'a H,
    seen: usize,
}

impl<'a> Events<'a> {
    fn of(h: &'a H) -> Self {
        Events { h, seen: 0 }
    }

    async fn fresh(&mut self) -> Vec<Event> {
        let all = self
            .h
            .postern
            .recorded_events(&self.h.project.id)
            .await
            .unwrap();
        let fresh = all[self.seen..].to_vec();
        self.seen = all.len();
        fresh
    }
}

fn types(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap().to_owned()
}

async fn set_config(h: &H, over: Value) {
    h.patch(
        "/api/v1/internal/config/override/environment",
        &h.admin(),
        json!({"config_override_string": over.to_string()}),
    )
    .await
    .assert_ok();
}

/// The server view `GET /users/{id}` answers now.
async fn server_view(h: &H, id: &str) -> Value {
    h.get(&format!("/api/v1/users/{id}"), &h.server())
        .await
        .assert_ok()
}

/// `data` is the server view of the user, as `GET /users/{id}` answers it now, but for the
/// last activity (a session opened after the event moves it).
async fn assert_server_view(h: &H, data: &Value, id: &str) {
    let mut now = server_view(h, id).await;
    let mut data = data.clone();
    assert!(data["last_active_at_millis"].is_number(), "{data}");
    now["last_active_at_millis"] = Value::Null;
    data["last_active_at_millis"] = Value::Null;
    assert_eq!(data, now);
    assert_eq!(
        data.as_object().unwrap().len(),
        27,
        "the server view has 27 fields"
    );
}

/// Asks for a sign-in code for `email` and reads it from the mail: the OTP and the nonce,
/// as the UI sends them.
async fn otp_code(h: &H, headers: &Headers, email: &str) -> String {
    let n = h.sink().matching(email, "Sign in to").len() + 1;
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
    let mail = &h.mails(email, "Sign in to", n).await[n - 1];
    let subject = mail.subject();
    let otp = subject
        .strip_prefix("Sign in to Test project: Your code is ")
        .expect(&subject);
    format!("{otp}{nonce}")
}

/// An anonymous user: its id and the headers that act as it.
async fn anonymous(h: &H) -> (String, Headers) {
    let v = h
        .post("/api/v1/auth/anonymous/sign-up", &h.client(), json!({}))
        .await
        .assert_ok();
    let headers = with(
        with(h.client(), "x-stack-access-token", &s(&v, "access_token")),
        "x-stack-allow-anonymous-user",
        "true",
    );
    (s(&v, "user_id"), headers)
}

fn otp_config() -> ProjectConfig {
    let mut cfg = ProjectConfig::default();
    cfg.auth.otp.allow_sign_in = true;
    cfg
}

async fn every_user_creation_records_one_user_created(env: Env) {
    let h = harness_mail(&env, otp_config()).await;
    let mut events = Events::of(&h);

    // Server `POST /users`.
    let v = h
        .post(
            "/api/v1/users",
            &h.server(),
            json!({"primary_email": "srv@example.com", "display_name": "Srv",
                   "server_metadata": {"plan": "pro"}}),
        )
        .await
        .assert_ok();
    let id = s(&v, "id");
    let e = events.fresh().await;
    assert_eq!(types(&e), ["user.created"]);
    let data = &e[0].data;
    assert_eq!(data["id"], id.as_str());
    assert_eq!(data["primary_email"], "srv@example.com");
    assert_eq!(data["server_metadata"], json!({"plan": "pro"}));
    assert_eq!(
        (&data["has_password"], &data["is_anonymous"]),
        (&json!(false), &json!(false))
    );
    assert_eq!(data, &v, "the same JSON the creation answers");
    assert_server_view(&h, data, &id).await;

    // Password sign-up.
    let (id, _, _) = h.sign_up("pw@example.com", "password123").await;
    let e = events.fresh().await;
    assert_eq!(types(&e), ["user.created"]);
    let data = &e[0].data;
    assert_eq!(data["id"], id.as_str());
    assert_eq!(data["primary_email"], "pw@example.com");
    assert_eq!(data["primary_email_auth_enabled"], true);
    assert_eq!(data["has_password"], true);
    assert_eq!(data["otp_auth_enabled"], false);
    assert_eq!(data["is_anonymous"], false);
    assert_server_view(&h, data, &id).await;

    // OTP / magic-link sign-up (the link carries the same code).
    let code = otp_code(&h, &h.client(), "otp@example.com").await;
    let v = h
        .post(
            "/api/v1/auth/otp/sign-in",
            &h.client(),
            json!({"code": code}),
        )
        .await
        .assert_ok();
    assert_eq!(v["is_new_user"], true);
    let id = s(&v, "user_id");
    let e = events.fresh().await;
    assert_eq!(types(&e), ["user.created"]);
    let data = &e[0].data;
    assert_eq!(data["id"], id.as_str());
    assert_eq!(data["primary_email"], "otp@example.com");
    assert_eq!(data["primary_email_verified"], true);
    assert_eq!(data["otp_auth_enabled"], true);
    assert_eq!(data["has_password"], false);
    assert_server_view(&h, data, &id).await;

    // Signing in again with a code creates nobody.
    let code = otp_code(&h, &h.client(), "otp@example.com").await;
    h.post(
        "/api/v1/auth/otp/sign-in",
        &h.client(),
        json!({"code": code}),
    )
    .await
    .assert_ok();
    assert_eq!(types(&events.fresh().await), Vec::<&str>::new());

    // Anonymous sign-up.
    let (anon, anon_headers) = anonymous(&h).await;
    let e = events.fresh().await;
    assert_eq!(types(&e), ["user.created"]);
    let data = &e[0].data;
    assert_eq!(data["id"], anon.as_str());
    assert_eq!(data["is_anonymous"], true);
    assert_eq!(data["primary_email"], Value::Null);
    assert_eq!(data["restricted_reason"], json!({"type": "anonymous"}));
    assert_server_view(&h, data, &anon).await;

    // Server `POST /users` of an anonymous user.
    let v = h
        .post("/api/v1/users", &h.server(), json!({"is_anonymous": true}))
        .await
        .assert_ok();
    let e = events.fresh().await;
    assert_eq!(types(&e), ["user.created"]);
    assert_eq!(e[0].data["id"], v["id"]);
    assert_eq!(e[0].data["is_anonymous"], true);

    // Upgrading the anonymous user is an update (as Stack: same id, `user.updated`).
    let v = h
        .post(
            "/api/v1/auth/password/sign-up",
            &anon_headers,
            json!({"email": "grown@example.com", "password": "password123"}),
        )
        .await
        .assert_ok();
    assert_eq!(v["user_id"], anon.as_str());
    let e = events.fresh().await;
    assert_eq!(types(&e), ["user.updated"]);
    let data = &e[0].data;
    assert_eq!(data["id"], anon.as_str());
    assert_eq!(data["is_anonymous"], false);
    assert_eq!(data["primary_email"], "grown@example.com");
    assert_eq!(data["has_password"], true);
    assert_server_view(&h, data, &anon).await;

    // An anonymous user upgraded by OTP, likewise.
    let (anon, anon_headers) = anonymous(&h).await;
    assert_eq!(types(&events.fresh().await), ["user.created"]);
    let code = otp_code(&h, &anon_headers, "grown-otp@example.com").await;
    let v = h
        .post(
            "/api/v1/auth/otp/sign-in",
            &anon_headers,
            json!({"code": code}),
        )
        .await
        .assert_ok();
    assert_eq!(v["user_id"], anon.as_str());
    let e = events.fresh().await;
    assert_eq!(types(&e), ["user.updated"]);
    assert_eq!(e[0].data["is_anonymous"], false);
    assert_eq!(e[0].data["otp_auth_enabled"], true);
}

async fn personal_team_and_sign_up_defaults_come_in_order(env: Env) {
    let h = harness(&env).await;
    h.post(
        "/api/v1/project-permission-definitions",
        &h.admin(),
        json!({"id": "customer"}),
    )
    .await
    .assert_ok();
    h.post(
        "/api/v1/project-permission-definitions",
        &h.admin(),
        json!({"id": "reader"}),
    )
    .await
    .assert_ok();
    set_config(
        &h,
        json!({
            "rbac.defaultPermissions": {"signUp": {"customer": true, "reader": true}},
            "teams.createPersonalTeamOnSignUp": true
        }),
    )
    .await;
    let mut events = Events::of(&h);

    // Stack starts the personal team's `team.created` before the user's `user.created`;
    // the sign-up default grants follow (a Postern addition). The creator's membership and
    // grants send nothing, as in Stack.
    let (id, _, _) = h.sign_up("pt@example.com", "password123").await;
    let e = events.fresh().await;
    assert_eq!(
        types(&e),
        [
            "team.created",
            "user.created",
            "project_permission.created",
            "project_permission.created"
        ]
    );
    let team = &e[0].data;
    assert_eq!(team["display_name"], "pt@example.com's Team");
    assert!(team["server_metadata"].is_null() && team["created_at_millis"].is_number());
    let user = &e[1].data;
    assert_eq!(user["id"], id.as_str());
    assert_eq!(user["selected_team_id"], team["id"]);
    assert_eq!(user["selected_team"], *team, "the server team view");
    assert_server_view(&h, user, &id).await;
    assert_eq!(e[2].data, json!({"id": "customer", "user_id": id}));
    assert_eq!(e[3].data, json!({"id": "reader", "user_id": id}));

    // The same through a server's `POST /users`: its answer is the user before its personal
    // team (as Stack's), the event the user as created.
    let v = h
        .post(
            "/api/v1/users",
            &h.server(),
            json!({"primary_email": "srv-pt@example.com", "display_name": "Srv"}),
        )
        .await
        .assert_ok();
    assert_eq!(v["selected_team_id"], Value::Null);
    let id = s(&v, "id");
    let e = events.fresh().await;
    assert_eq!(
        types(&e),
        [
            "team.created",
            "user.created",
            "project_permission.created",
            "project_permission.created"
        ]
    );
    assert_eq!(e[0].data["display_name"], "Srv's Team");
    assert_eq!(e[1].data["selected_team_id"], e[0].data["id"]);
    assert_server_view(&h, &e[1].data, &id).await;
}

async fn user_updates_record_user_updated(env: Env) {
    let h = harness_mail(&env, ProjectConfig::default()).await;
    let (id, at, _) = h.sign_up("upd@example.com", "password123").await;
    let me = with(h.client(), "x-stack-access-token", &at);
    let t = h
        .post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "Upd", "creator_user_id": id}),
        )
        .await
        .assert_ok();
    let mut events = Events::of(&h);
    assert_eq!(
        types(&events.fresh().await),
        ["user.created", "team.created"]
    );

    // Server PATCH.
    let v = h
        .patch(
            &format!("/api/v1/users/{id}"),
            &h.server(),
            json!({"display_name": "Ada", "server_metadata": {"tier": 2}}),
        )
        .await
        .assert_ok();
    let e = events.fresh().await;
    assert_eq!(types(&e), ["user.updated"]);
    assert_eq!(e[0].data["display_name"], "Ada");
    assert_eq!(e[0].data["server_metadata"], json!({"tier": 2}));
    assert_eq!(e[0].data, v, "the state after the update, as answered");
    assert_server_view(&h, &e[0].data, &id).await;

    // A client's PATCH /users/me: the event carries the server view all the same.
    h.patch(
        "/api/v1/users/me",
        &me,
        json!({"client_metadata": {"theme": "dark"}}),
    )
    .await
    .assert_ok();
    let e = events.fresh().await;
    assert_eq!(types(&e), ["user.updated"]);
    assert_eq!(e[0].data["client_metadata"], json!({"theme": "dark"}));
    assert_eq!(e[0].data["server_metadata"], json!({"tier": 2}));
    assert_server_view(&h, &e[0].data, &id).await;

    // Selecting a team.
    h.patch(
        "/api/v1/users/me",
        &me,
        json!({"selected_team_id": t["id"]}),
    )
    .await
    .assert_ok();
    let e = events.fresh().await;
    assert_eq!(types(&e), ["user.updated"]);
    assert_eq!(e[0].data["selected_team_id"], t["id"]);
    assert_eq!(e[0].data["selected_team"], t);

    // An update that changes nothing still records one (Stack sends it always).
    h.patch(&format!("/api/v1/users/{id}"), &h.server(), json!({}))
        .await
        .assert_ok();
    assert_eq!(types(&events.fresh().await), ["user.updated"]);

    // A password reset is an update in Stack too.
    h.post(
        "/api/v1/auth/password/send-reset-code",
        &h.client(),
        json!({"email": "upd@example.com", "callback_url": CALLBACK}),
    )
    .await
    .assert_ok();
    let mail = &h.mails("upd@example.com", "Reset your password", 1).await[0];
    let code = mail.code_after(CALLBACK).unwrap();
    h.post(
        "/api/v1/auth/password/reset",
        &h.client(),
        json!({"code": code, "password": "a-new-password"}),
    )
    .await
    .assert_ok();
    let e = events.fresh().await;
    assert_eq!(types(&e), ["user.updated"]);
    assert_eq!(e[0].data["id"], id.as_str());
    assert_eq!(e[0].data["has_password"], true);
}

async fn user_delete_records_memberships_then_user_deleted(env: Env) {
    let h = harness(&env).await;
    let (id, _, _) = h.sign_up("del@example.com", "password123").await;
    let mut team = Vec::new();
    for name in ["First", "Second"] {
        team.push(s(
            &h.post("/api/v1/teams", &h.server(), json!({"display_name": name}))
                .await
                .assert_ok(),
            "id",
        ));
    }
    // Joined the newer team first: Stack lists the teams by their creation.
    for t in [&team[1], &team[0]] {
        h.post(
            &format!("/api/v1/team-memberships/{t}/{id}"),
            &h.server(),
            json!({}),
        )
        .await
        .assert_ok();
    }
    h.post(
        &format!("/api/v1/team-permissions/{}/{id}/$read_members", team[0]),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    let mut events = Events::of(&h);
    events.fresh().await;

    h.delete(&format!("/api/v1/users/{id}"), &h.server())
        .await
        .assert_ok();
    let e = events.fresh().await;
    assert_eq!(
        types(&e),
        [
            "team_membership.deleted",
            "team_membership.deleted",
            "user.deleted"
        ]
    );
    assert_eq!(e[0].data, json!({"team_id": team[0], "user_id": id}));
    assert_eq!(e[1].data, json!({"team_id": team[1], "user_id": id}));
    assert_eq!(
        e[2].data,
        json!({"id": id, "teams": [{"id": team[0]}, {"id": team[1]}]})
    );

    // A user in no team, deleted by itself where the project allows it.
    set_config(&h, json!({"users.allowClientUserDeletion": true})).await;
    let (id, at, _) = h.sign_up("self@example.com", "password123").await;
    events.fresh().await;
    h.delete(
        "/api/v1/users/me",
        &with(h.client(), "x-stack-access-token", &at),
    )
    .await
    .assert_ok();
    let e = events.fresh().await;
    assert_eq!(types(&e), ["user.deleted"]);
    assert_eq!(e[0].data, json!({"id": id, "teams": []}));
}

async fn team_events_with_postern_additions_come_in_order(env: Env) {
    let h = harness(&env).await;
    let (a, _, _) = h.sign_up("ta@example.com", "password123").await;
    let (b, _, _) = h.sign_up("tb@example.com", "password123").await;
    for id in ["team_admin", "team_member"] {
        h.post(
            "/api/v1/team-permission-definitions",
            &h.admin(),
            json!({ "id": id }),
        )
        .await
        .assert_ok();
    }
    set_config(
        &h,
        json!({"rbac.defaultPermissions": {"teamCreator": {"team_admin": true},
                                           "teamMember": {"team_member": true}}}),
    )
    .await;
    let mut events = Events::of(&h);
    events.fresh().await;

    // A team with a creator: `team.created` only (Stack's e2e suite counts on the creator's
    // membership and grants sending nothing).
    let t = s(
        &h.post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "Gap", "creator_user_id": a}),
        )
        .await
        .assert_ok(),
        "id",
    );
    let e = events.fresh().await;
    assert_eq!(types(&e), ["team.created"]);
    assert_eq!(e[0].data["id"], t.as_str());

    // A member joins with the `teamMember` defaults, then gets one more grant.
    h.post(
        &format!("/api/v1/team-memberships/{t}/{b}"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    h.post(
        &format!("/api/v1/team-permissions/{t}/{b}/$read_members"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    let e = events.fresh().await;
    assert_eq!(
        types(&e),
        [
            "team_membership.created",
            "team_permission.created",
            "team_permission.created"
        ]
    );
    assert_eq!(e[0].data, json!({"team_id": t, "user_id": b}));
    assert_eq!(
        e[1].data,
        json!({"id": "team_member", "team_id": t, "user_id": b})
    );

    // Leaving the team: the grants it took with it (a Postern addition), then the
    // membership.
    h.delete(&format!("/api/v1/team-memberships/{t}/{b}"), &h.server())
        .await
        .assert_ok();
    let e = events.fresh().await;
    assert_eq!(
        types(&e),
        [
            "team_permission.deleted",
            "team_permission.deleted",
            "team_membership.deleted"
        ]
    );
    let mut gone: Vec<&str> = e[..2]
        .iter()
        .map(|e| e.data["id"].as_str().unwrap())
        .collect();
    gone.sort();
    assert_eq!(gone, ["$read_members", "team_member"]);
    for e in &e[..2] {
        assert_eq!(e.data["team_id"], t.as_str());
        assert_eq!(e.data["user_id"], b.as_str());
    }
    assert_eq!(e[2].data, json!({"team_id": t, "user_id": b}));

    // Deleting the team: each membership ends (a Postern addition, oldest first), then the
    // team.
    h.post(
        &format!("/api/v1/team-memberships/{t}/{b}"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    events.fresh().await;
    h.delete(&format!("/api/v1/teams/{t}"), &h.server())
        .await
        .assert_ok();
    let e = events.fresh().await;
    assert_eq!(
        types(&e),
        [
            "team_membership.deleted",
            "team_membership.deleted",
            "team.deleted"
        ]
    );
    assert_eq!(e[0].data, json!({"team_id": t, "user_id": a}));
    assert_eq!(e[1].data, json!({"team_id": t, "user_id": b}));
    assert_eq!(e[2].data, json!({"id": t}));

    // A team with no members: `team.deleted` alone (Stack's e2e suite filters on it).
    let t = s(
        &h.post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "Bare"}),
        )
        .await
        .assert_ok(),
        "id",
    );
    h.delete(&format!("/api/v1/teams/{t}"), &h.server())
        .await
        .assert_ok();
    assert_eq!(
        types(&events.fresh().await),
        ["team.created", "team.deleted"]
    );
}

async fn refused_changes_record_nothing(env: Env) {
    let h = harness(&env).await;
    let (id, at, _) = h.sign_up("taken@example.com", "password123").await;
    let me = with(h.client(), "x-stack-access-token", &at);
    let other = s(
        &h.post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "Other"}),
        )
        .await
        .assert_ok(),
        "id",
    );
    let mut events = Events::of(&h);
    events.fresh().await;

    // A duplicate address: refused by password sign-up, and by a server's creation inside
    // its transaction (after the user row was written).
    h.post(
        "/api/v1/auth/password/sign-up",
        &h.client(),
        json!({"email": "taken@example.com", "password": "password123"}),
    )
    .await
    .assert_error(409, "USER_EMAIL_ALREADY_EXISTS");
    h.post(
        "/api/v1/users",
        &h.server(),
        json!({"primary_email": "taken@example.com", "primary_email_auth_enabled": true}),
    )
    .await
    .assert_error(409, "USER_EMAIL_ALREADY_EXISTS");

    // A sign-up rule's rejection.
    set_config(
        &h,
        json!({"auth.signUpRules.block": {
            "enabled": true, "priority": 1, "condition": "emailDomain == \"blocked.example\"",
            "action": {"type": "reject"}
        }}),
    )
    .await;
    h.post(
        "/api/v1/auth/password/sign-up",
        &h.client(),
        json!({"email": "x@blocked.example", "password": "password123"}),
    )
    .await
    .assert_error(403, "SIGN_UP_REJECTED");

    // Invalid updates: a schema error, and a team the user is not in (refused inside the
    // update's transaction).
    h.patch(
        &format!("/api/v1/users/{id}"),
        &h.server(),
        json!({"display_name": "x".repeat(300)}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    h.patch("/api/v1/users/me", &me, json!({"selected_team_id": other}))
        .await
        .assert_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");

    // Deleting what does not exist.
    let nobody = uuid::Uuid::new_v4();
    h.delete(&format!("/api/v1/users/{nobody}"), &h.server())
        .await
        .assert_error(404, "USER_NOT_FOUND");
    h.delete(
        &format!("/api/v1/team-memberships/{other}/{id}"),
        &h.server(),
    )
    .await
    .assert_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");

    assert_eq!(types(&events.fresh().await), Vec::<&str>::new());
    let u = server_view(&h, &id).await;
    assert_eq!(u["selected_team_id"], Value::Null);
}
