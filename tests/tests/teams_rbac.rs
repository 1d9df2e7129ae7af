//! Teams, memberships, member profiles and RBAC over HTTP: through `Postern::handle`, axum
//! and actix, on SQLite and PostgreSQL.

#[macro_use]
mod support;

use postern_core::ProjectConfig;
use postern_core::storage::{ApiKeyOwner, ApiKeyRecord, PermissionGrantRecord};
use serde_json::{Value, json};
use support::*;

contract_suite!(
    teams_crud_and_client_rules,
    memberships_and_member_profiles,
    permission_definitions_grants_and_checks,
    default_permissions_are_granted,
    team_delete_is_atomic_and_leaves_no_orphans,
    invitations_send_list_accept_and_delete,
    team_api_keys_lifecycle_and_access_rules,
    team_changes_are_recorded_as_events,
    profile_images_uploaded_as_data_urls_are_stored_and_served,
    data_vault_stores_values_sealed_at_rest,
);

fn cfg_with(f: impl FnOnce(&mut ProjectConfig)) -> ProjectConfig {
    let mut c = ProjectConfig::default();
    f(&mut c);
    c
}

fn as_user(h: &H, at: &str) -> Headers {
    with(h.client(), "x-stack-access-token", at)
}

async fn teams_crud_and_client_rules(env: Env) {
    let h = harness(&env).await;
    let (_, at, _) = h.sign_up("owner@example.com", "password123").await;
    let me = as_user(&h, &at);
    let r = h
        .post("/api/v1/teams", &me, json!({"display_name": "T"}))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (
            403,
            "Client team creation is disabled for this project".into()
        )
    );

    let h = harness_with(
        &env,
        cfg_with(|c| c.teams.allow_client_team_creation = true),
    )
    .await;
    let (uid, at, _) = h.sign_up("owner@example.com", "password123").await;
    let (other_id, other_at, _) = h.sign_up("other@example.com", "password123").await;
    let me = as_user(&h, &at);
    h.post("/api/v1/teams", &h.client(), json!({"display_name": "T"}))
        .await
        .assert_error(401, "USER_AUTHENTICATION_REQUIRED");
    let r = h
        .post(
            "/api/v1/teams",
            &me,
            json!({"display_name": "T", "creator_user_id": other_id}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = h
        .post(
            "/api/v1/teams",
            &me,
            json!({"display_name": "My Team", "client_metadata": {"a": 1}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let team = r.json();
    let tid = team["id"].as_str().unwrap().to_owned();
    assert_eq!(
        team,
        json!({"id": tid, "display_name": "My Team", "profile_image_url": null,
               "client_metadata": {"a": 1}, "client_read_only_metadata": null})
    );
    // Path and query problems are reported together, as Stack does.
    let v = h
        .patch(
            &format!("/api/v1/teams/me?team_id={tid}"),
            &me,
            json!({"display_name": "x"}),
        )
        .await
        .assert_error(400, "SCHEMA_ERROR");
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.ends_with("  - params.team_id must be a valid UUID\n  - query contains unknown properties: team_id"),
        "{msg}"
    );
    let list = h.get("/api/v1/teams?user_id=me", &me).await.assert_ok();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let r = h.get("/api/v1/teams", &me).await;
    assert_eq!(r.status, 403, "clients list only their own teams");
    let all = h.get("/api/v1/teams", &h.server()).await.assert_ok();
    assert!(all["items"][0]["created_at_millis"].is_number());

    // Non-members see nothing; members need $update_team / $delete_team.
    let them = as_user(&h, &other_at);
    h.get(&format!("/api/v1/teams/{tid}"), &them)
        .await
        .assert_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    h.get(&format!("/api/v1/teams/{tid}"), &me)
        .await
        .assert_ok();
    let v = h
        .patch(
            &format!("/api/v1/teams/{tid}"),
            &me,
            json!({"display_name": "Renamed"}),
        )
        .await
        .assert_error(401, "TEAM_PERMISSION_REQUIRED");
    assert_eq!(
        v["details"],
        json!({"team_id": tid, "user_id": uid, "permission_id": "$update_team"})
    );
    h.post(
        &format!("/api/v1/team-permissions/{tid}/{uid}/$update_team"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    let v = h
        .patch(
            &format!("/api/v1/teams/{tid}"),
            &me,
            json!({"display_name": "Renamed"}),
        )
        .await
        .assert_ok();
    assert_eq!(v["display_name"], "Renamed");
    h.patch(
        &format!("/api/v1/teams/{tid}"),
        &me,
        json!({"server_metadata": {"x": 1}}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    let v = h
        .patch(
            &format!("/api/v1/teams/{tid}"),
            &h.server(),
            json!({"server_metadata": {"x": 1}, "client_read_only_metadata": [1]}),
        )
        .await
        .assert_ok();
    assert_eq!(
        (
            v["server_metadata"].clone(),
            v["client_read_only_metadata"].clone()
        ),
        (json!({"x": 1}), json!([1]))
    );
    let r = h
        .patch(
            &format!("/api/v1/teams/{tid}"),
            &me,
            json!({"profile_image_url": "https://example.com/a.png"}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (400, "Invalid profile image URL".into())
    );
    h.delete(&format!("/api/v1/teams/{tid}"), &me)
        .await
        .assert_error(401, "TEAM_PERMISSION_REQUIRED");
    h.post(
        &format!("/api/v1/team-permissions/{tid}/{uid}/$delete_team"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    assert_eq!(
        h.delete(&format!("/api/v1/teams/{tid}"), &me)
            .await
            .assert_ok(),
        json!({"success": true})
    );
    h.get(&format!("/api/v1/teams/{tid}"), &h.server())
        .await
        .assert_error(404, "TEAM_NOT_FOUND");
    // Server-created teams without a creator have no members.
    let r = h
        .post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "Empty"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(r.json()["created_at_millis"].is_number());
    let r = h
        .post("/api/v1/teams", &h.server(), json!({"display_name": "Ghost", "creator_user_id": "031448ab-178b-4d43-b31b-28f16c3c52a9"}))
        .await;
    r.assert_error(404, "USER_NOT_FOUND");
    let all = h.get("/api/v1/teams", &h.server()).await.assert_ok();
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        1,
        "the failed create left no team"
    );
}

async fn memberships_and_member_profiles(env: Env) {
    let h = harness(&env).await;
    let (a, at_a, _) = h.sign_up("a@example.com", "password123").await;
    let (b, at_b, _) = h.sign_up("b@example.com", "password123").await;
    let v = h
        .post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "T", "creator_user_id": a}),
        )
        .await
        .assert_ok();
    let t = v["id"].as_str().unwrap().to_owned();
    let r = h
        .post(
            &format!("/api/v1/team-memberships/{t}/{b}"),
            &h.server(),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json(), json!({"team_id": t, "user_id": b}));
    h.post(
        &format!("/api/v1/team-memberships/{t}/{b}"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_error(409, "TEAM_MEMBERSHIP_ALREADY_EXISTS");
    h.post(
        &format!("/api/v1/team-memberships/{t}/{b}"),
        &as_user(&h, &at_a),
        json!({}),
    )
    .await
    .assert_error(401, "INSUFFICIENT_ACCESS_TYPE");
    let members = h
        .get(&format!("/api/v1/users?team_id={t}"), &h.server())
        .await
        .assert_ok();
    assert_eq!(members["items"].as_array().unwrap().len(), 2);

    // Profiles.
    let ua = as_user(&h, &at_a);
    let r = h.get("/api/v1/team-member-profiles", &ua).await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (400, "team_id is required for access type client".into())
    );
    h.get(&format!("/api/v1/team-member-profiles?team_id={t}"), &ua)
        .await
        .assert_error(401, "TEAM_PERMISSION_REQUIRED");
    let own = h
        .get(
            &format!("/api/v1/team-member-profiles?team_id={t}&user_id=me"),
            &ua,
        )
        .await
        .assert_ok();
    assert_eq!(
        own["items"],
        json!([{"team_id": t, "user_id": a, "display_name": null, "profile_image_url": null}])
    );
    let v = h
        .patch(
            &format!("/api/v1/team-member-profiles/{t}/me"),
            &ua,
            json!({"display_name": "Alice in T"}),
        )
        .await
        .assert_ok();
    assert_eq!(v["display_name"], "Alice in T");
    let r = h
        .patch(
            &format!("/api/v1/team-member-profiles/{t}/{b}"),
            &ua,
            json!({"display_name": "x"}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (403, "Cannot update another user's profile".into())
    );
    let all = h
        .get(
            &format!("/api/v1/team-member-profiles?team_id={t}"),
            &h.server(),
        )
        .await
        .assert_ok();
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0]["user_id"],
        a.as_str(),
        "membership order: the creator first"
    );
    assert_eq!(items[0]["user"]["primary_email"], "a@example.com");
    h.post(
        &format!("/api/v1/team-permissions/{t}/{a}/$read_members"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    let all = h
        .get(&format!("/api/v1/team-member-profiles?team_id={t}"), &ua)
        .await
        .assert_ok();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    assert!(
        all["items"][0].get("user").is_none(),
        "clients get no user object"
    );

    // Removal: others need $remove_members, leaving is always allowed.
    h.delete(&format!("/api/v1/team-memberships/{t}/{b}"), &ua)
        .await
        .assert_error(401, "TEAM_PERMISSION_REQUIRED");
    let ub = as_user(&h, &at_b);
    h.delete(&format!("/api/v1/team-memberships/{t}/me"), &ub)
        .await
        .assert_ok();
    h.delete(&format!("/api/v1/team-memberships/{t}/{b}"), &h.server())
        .await
        .assert_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    h.get(&format!("/api/v1/teams/{t}"), &ub)
        .await
        .assert_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
}

fn ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn permission_definitions_grants_and_checks(env: Env) {
    let h = harness(&env).await;
    let admin = h.admin();
    let defs = "/api/v1/team-permission-definitions";
    let list = h.get(defs, &admin).await.assert_ok();
    assert_eq!(
        ids(&list),
        [
            "$delete_team",
            "$invite_members",
            "$manage_api_keys",
            "$read_members",
            "$remove_members",
            "$update_team"
        ]
    );
    let r = h
        .post(defs, &admin, json!({"id": "reader", "description": "Reads", "contained_permission_ids": ["$read_members"]}))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.json(),
        json!({"id": "reader", "description": "Reads", "contained_permission_ids": ["$read_members"]})
    );
    h.post(
        defs,
        &admin,
        json!({"id": "editor", "contained_permission_ids": ["reader", "$update_team"]}),
    )
    .await
    .assert_ok();
    h.post(defs, &admin, json!({"id": "reader"}))
        .await
        .assert_error(400, "PERMISSION_ID_ALREADY_EXISTS");
    h.post(
        defs,
        &admin,
        json!({"id": "x", "contained_permission_ids": ["nope"]}),
    )
    .await
    .assert_error(400, "CONTAINED_PERMISSION_NOT_FOUND");
    h.post(defs, &admin, json!({"id": "Bad-Id"}))
        .await
        .assert_error(400, "SCHEMA_ERROR");
    h.post(defs, &h.server(), json!({"id": "y"}))
        .await
        .assert_error(401, "INSUFFICIENT_ACCESS_TYPE");
    // A cycle is refused when saved.
    let r = h
        .patch(
            &format!("{defs}/reader"),
            &admin,
            json!({"contained_permission_ids": ["editor"]}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    // Project definitions share the id namespace and cannot contain team ones.
    let pdefs = "/api/v1/project-permission-definitions";
    h.post(pdefs, &admin, json!({"id": "reader"}))
        .await
        .assert_error(400, "PERMISSION_ID_ALREADY_EXISTS");
    h.post(
        pdefs,
        &admin,
        json!({"id": "billing", "contained_permission_ids": ["reader"]}),
    )
    .await
    .assert_error(400, "CONTAINED_PERMISSION_NOT_FOUND");
    h.post(pdefs, &admin, json!({"id": "billing"}))
        .await
        .assert_ok();
    assert_eq!(ids(&h.get(pdefs, &admin).await.assert_ok()), ["billing"]);

    // Grants and recursive listing.
    let (u, at, _) = h.sign_up("member@example.com", "password123").await;
    let t = h
        .post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "T", "creator_user_id": u}),
        )
        .await
        .assert_ok()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = h
        .post(
            &format!("/api/v1/team-permissions/{t}/{u}/editor"),
            &h.server(),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.json(),
        json!({"id": "editor", "team_id": t, "user_id": u})
    );
    h.post(
        &format!("/api/v1/team-permissions/{t}/{u}/billing"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_error(404, "WRONG_PERMISSION_SCOPE");
    h.post(
        &format!("/api/v1/team-permissions/{t}/{u}/missing"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_error(404, "PERMISSION_NOT_FOUND");
    let me = as_user(&h, &at);
    let direct = h
        .get(
            &format!("/api/v1/team-permissions?team_id={t}&user_id=me"),
            &me,
        )
        .await
        .assert_ok();
    assert_eq!(ids(&direct), ["editor"]);
    let all = h
        .get(
            &format!("/api/v1/team-permissions?team_id={t}&user_id=me&recursive=true"),
            &me,
        )
        .await
        .assert_ok();
    assert_eq!(
        ids(&all),
        ["$read_members", "$update_team", "editor", "reader"]
    );
    let one = h
        .get(
            "/api/v1/team-permissions?user_id=me&recursive=true&permission_id=$read_members",
            &me,
        )
        .await
        .assert_ok();
    assert_eq!(ids(&one), ["$read_members"]);
    let r = h
        .get(&format!("/api/v1/team-permissions?team_id={t}"), &me)
        .await;
    assert_eq!(r.status, 403);
    let project = h
        .postern
        .projects()
        .get(&h.project.id)
        .await
        .unwrap()
        .unwrap();
    let uid: uuid::Uuid = u.parse().unwrap();
    let tid: uuid::Uuid = t.parse().unwrap();
    let perms = h.postern.permissions();
    assert!(
        perms
            .has_permission(&project, uid, Some(tid), "$read_members")
            .await
            .unwrap()
    );
    assert!(
        !perms
            .has_permission(&project, uid, Some(tid), "$delete_team")
            .await
            .unwrap()
    );
    assert!(
        !perms
            .has_permission(&project, uid, None, "reader")
            .await
            .unwrap()
    );

    // Renaming rewrites references and grants; deleting removes grants.
    let v = h
        .patch(
            &format!("{defs}/reader"),
            &admin,
            json!({"id": "viewer", "contained_permission_ids": ["$read_members"]}),
        )
        .await
        .assert_ok();
    assert_eq!(v["id"], "viewer");
    let list = h.get(defs, &admin).await.assert_ok();
    let editor = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == "editor")
        .unwrap()
        .clone();
    assert_eq!(
        editor["contained_permission_ids"],
        json!(["$update_team", "viewer"])
    );
    h.patch(&format!("{defs}/$read_members"), &admin, json!({}))
        .await
        .assert_error(404, "PERMISSION_NOT_FOUND");
    assert_eq!(
        h.delete(&format!("{defs}/editor"), &admin)
            .await
            .assert_ok(),
        json!({"success": true})
    );
    let direct = h
        .get(
            &format!("/api/v1/team-permissions?team_id={t}&user_id=me"),
            &me,
        )
        .await
        .assert_ok();
    assert_eq!(ids(&direct), Vec::<String>::new());
    h.delete(&format!("{defs}/editor"), &admin)
        .await
        .assert_error(404, "PERMISSION_NOT_FOUND");
    // Revoking: only direct grants.
    h.post(
        &format!("/api/v1/team-permissions/{t}/{u}/$invite_members"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    h.delete(
        &format!("/api/v1/team-permissions/{t}/{u}/$invite_members"),
        &h.server(),
    )
    .await
    .assert_ok();
    h.delete(
        &format!("/api/v1/team-permissions/{t}/{u}/$invite_members"),
        &h.server(),
    )
    .await
    .assert_error(401, "TEAM_PERMISSION_NOT_FOUND");

    // Project permissions.
    let r = h
        .post(
            &format!("/api/v1/project-permissions/{u}/billing"),
            &h.server(),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json(), json!({"id": "billing", "user_id": u}));
    h.post(
        &format!("/api/v1/project-permissions/{u}/viewer"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_error(404, "WRONG_PERMISSION_SCOPE");
    h.post(
        &format!("/api/v1/project-permissions/{u}/$read_members"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_error(404, "PERMISSION_NOT_FOUND");
    let v = h
        .get("/api/v1/project-permissions?user_id=me", &me)
        .await
        .assert_ok();
    assert_eq!(v["items"], json!([{"id": "billing", "user_id": u}]));
    let project = h
        .postern
        .projects()
        .get(&h.project.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        perms
            .has_permission(&project, uid, None, "billing")
            .await
            .unwrap()
    );
    h.delete(
        &format!("/api/v1/project-permissions/{u}/billing"),
        &h.server(),
    )
    .await
    .assert_ok();
    h.delete(
        &format!("/api/v1/project-permissions/{u}/billing"),
        &h.server(),
    )
    .await
    .assert_error(404, "PERMISSION_NOT_FOUND");
}

async fn default_permissions_are_granted(env: Env) {
    let h = harness(&env).await;
    let admin = h.admin();
    for (path, body) in [
        (
            "/api/v1/team-permission-definitions",
            json!({"id": "member", "contained_permission_ids": ["$read_members"]}),
        ),
        (
            "/api/v1/team-permission-definitions",
            json!({"id": "admin", "contained_permission_ids": ["member", "$remove_members"]}),
        ),
        (
            "/api/v1/project-permission-definitions",
            json!({"id": "customer"}),
        ),
    ] {
        h.post(path, &admin, body).await.assert_ok();
    }
    let r = h
        .patch(
            "/api/v1/internal/config/override/environment",
            &admin,
            json!({"config_override_string": json!({
                "rbac.defaultPermissions": {"teamCreator": {"admin": true}, "teamMember": {"member": true}, "signUp": {"customer": true}},
                "teams.createPersonalTeamOnSignUp": true
            }).to_string()}),
        )
        .await;
    r.assert_ok();
    let (u, at, _) = h.sign_up("d@example.com", "password123").await;
    let me = as_user(&h, &at);
    let v = h
        .get("/api/v1/project-permissions?user_id=me", &me)
        .await
        .assert_ok();
    assert_eq!(ids(&v), ["customer"]);
    let v = h
        .get("/api/v1/team-permissions?user_id=me&recursive=true", &me)
        .await
        .assert_ok();
    assert_eq!(
        ids(&v),
        ["$read_members", "$remove_members", "admin", "member"],
        "the personal team's creator"
    );
    let (v2, _, _) = h.sign_up("e@example.com", "password123").await;
    let t = h
        .post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "Shared", "creator_user_id": u}),
        )
        .await
        .assert_ok()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.post(
        &format!("/api/v1/team-memberships/{t}/{v2}"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    let v = h
        .get(
            &format!("/api/v1/team-permissions?team_id={t}&user_id={v2}"),
            &h.server(),
        )
        .await
        .assert_ok();
    assert_eq!(ids(&v), ["member"]);
}

async fn team_delete_is_atomic_and_leaves_no_orphans(env: Env) {
    let h = harness_with(&env, cfg_with(|c| c.api_keys.enabled.team = true)).await;
    let (u, _, _) = h.sign_up("del@example.com", "password123").await;
    let uid: uuid::Uuid = u.parse().unwrap();
    let t = h
        .post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "Doomed", "creator_user_id": u}),
        )
        .await
        .assert_ok()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tid: uuid::Uuid = t.parse().unwrap();
    h.post(
        &format!("/api/v1/team-permissions/{t}/{u}/$read_members"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    h.patch(
        &format!("/api/v1/users/{u}"),
        &h.server(),
        json!({"selected_team_id": t}),
    )
    .await
    .assert_ok();
    let store = h.postern.store();
    let key = ApiKeyRecord {
        project_id: h.project.id.clone(),
        id: uuid::Uuid::new_v4(),
        owner: ApiKeyOwner::Team(tid),
        description: "team key".into(),
        is_public: false,
        secret_hash: "hash-of-a-team-key".into(),
        last_four: "abcd".into(),
        created_at_millis: 1,
        expires_at_millis: None,
        revoked_at_millis: None,
    };
    store.api_keys().insert(&key).await.unwrap();

    // A failure between the steps of a delete (the transaction dropped half-way) leaves
    // everything as it was.
    {
        let tx = store.begin().await.unwrap();
        assert_eq!(
            tx.api_keys()
                .delete_for_team(&h.project.id, tid)
                .await
                .unwrap(),
            1
        );
        assert!(tx.teams().delete(&h.project.id, tid).await.unwrap());
        drop(tx); // the injected failure: no commit
    }
    let pid = &h.project.id;
    assert!(store.teams().get(pid, tid).await.unwrap().is_some());
    assert!(
        store
            .teams()
            .get_member(pid, tid, uid)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .api_keys()
            .list_for_team(pid, tid)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .permissions()
            .list_team(pid, Some(tid), None)
            .await
            .unwrap(),
        vec![PermissionGrantRecord {
            project_id: pid.clone(),
            team_id: Some(tid),
            user_id: uid,
            permission_id: "$read_members".into()
        }]
    );
    assert_eq!(
        store
            .users()
            .get(pid, uid)
            .await
            .unwrap()
            .unwrap()
            .selected_team_id,
        Some(tid)
    );

    // A completed delete leaves no orphan row.
    h.delete(&format!("/api/v1/teams/{t}"), &h.server())
        .await
        .assert_ok();
    assert!(store.teams().get(pid, tid).await.unwrap().is_none());
    assert!(
        store
            .teams()
            .list_members(pid, tid)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .api_keys()
            .list_for_team(pid, tid)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .permissions()
            .list_team(pid, Some(tid), None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .users()
            .get(pid, uid)
            .await
            .unwrap()
            .unwrap()
            .selected_team_id,
        None
    );
    let v = h
        .get(&format!("/api/v1/users/{u}"), &h.server())
        .await
        .assert_ok();
    assert_eq!(v["selected_team"], Value::Null);
}

const INVITE_CALLBACK: &str = "http://localhost:3000/handler/team-invitation";

async fn invitations_send_list_accept_and_delete(env: Env) {
    let h = harness_mail(&env, ProjectConfig::default()).await;
    let (owner, at_owner, _) = h.sign_up("owner@example.com", "password123").await;
    let t = h
        .post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "Crew", "creator_user_id": owner}),
        )
        .await
        .assert_ok()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let uo = as_user(&h, &at_owner);
    let send = |email: &'static str| json!({"team_id": t, "email": email, "callback_url": INVITE_CALLBACK});
    h.post(
        "/api/v1/team-invitations/send-code",
        &uo,
        send("guest@example.com"),
    )
    .await
    .assert_error(401, "TEAM_PERMISSION_REQUIRED");
    for p in ["$invite_members", "$read_members", "$remove_members"] {
        h.post(
            &format!("/api/v1/team-permissions/{t}/{owner}/{p}"),
            &h.server(),
            json!({}),
        )
        .await
        .assert_ok();
    }
    let v = h
        .post(
            "/api/v1/team-invitations/send-code",
            &uo,
            send("guest@example.com"),
        )
        .await
        .assert_ok();
    assert_eq!(v["success"], true);
    let id = v["id"].as_str().unwrap().to_owned();
    h.post(
        "/api/v1/team-invitations/send-code",
        &uo,
        json!({"team_id": t, "email": "x@example.com", "callback_url": "https://evil.example.com"}),
    )
    .await
    .assert_error(400, "REDIRECT_URL_NOT_WHITELISTED");
    h.post(
        "/api/v1/team-invitations/send-code",
        &h.server(),
        json!({"team_id": "031448ab-178b-4d43-b31b-28f16c3c52a9", "email": "x@example.com", "callback_url": INVITE_CALLBACK}),
    )
    .await
    .assert_error(404, "TEAM_NOT_FOUND");
    let mail = &h.mails("guest@example.com", "join", 1).await[0];
    assert_eq!(mail.subject(), "You have been invited to join Crew");
    let code = mail.code_after(INVITE_CALLBACK).unwrap();

    let list = h
        .get(&format!("/api/v1/team-invitations?team_id={t}"), &uo)
        .await
        .assert_ok();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["recipient_email"], "guest@example.com");
    assert_eq!(list["items"][0]["team_display_name"], "Crew");
    let r = h.get("/api/v1/team-invitations", &h.server()).await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (400, "Must specify either team_id or user_id".into())
    );

    // The guest: no user → 401; verified email lists the invitation; accepting joins.
    h.post(
        "/api/v1/team-invitations/accept",
        &h.client(),
        json!({"code": code}),
    )
    .await
    .assert_error(401, "USER_AUTHENTICATION_REQUIRED");
    let guest = h
        .post(
            "/api/v1/users",
            &h.server(),
            json!({"primary_email": "guest@example.com", "primary_email_verified": true}),
        )
        .await
        .json();
    let gid = guest["id"].as_str().unwrap().to_owned();
    let s = h
        .post(
            "/api/v1/auth/sessions",
            &h.server(),
            json!({"user_id": gid}),
        )
        .await
        .assert_ok();
    let ug = as_user(&h, s["access_token"].as_str().unwrap());
    let mine = h
        .get("/api/v1/team-invitations?user_id=me", &ug)
        .await
        .assert_ok();
    assert_eq!(mine["items"][0]["id"], id.as_str());
    let v = h
        .post(
            "/api/v1/team-invitations/accept/details",
            &ug,
            json!({"code": code}),
        )
        .await
        .assert_ok();
    assert_eq!(v, json!({"team_id": t, "team_display_name": "Crew"}));
    h.post(
        "/api/v1/team-invitations/accept/check-code",
        &ug,
        json!({"code": code}),
    )
    .await
    .assert_ok();
    assert_eq!(
        h.post(
            "/api/v1/team-invitations/accept",
            &ug,
            json!({"code": code})
        )
        .await
        .assert_ok(),
        json!({})
    );
    h.get(&format!("/api/v1/teams/{t}"), &ug).await.assert_ok();
    h.post(
        "/api/v1/team-invitations/accept",
        &ug,
        json!({"code": code}),
    )
    .await
    .assert_error(409, "VERIFICATION_CODE_ALREADY_USED");
    let list = h
        .get(&format!("/api/v1/team-invitations?team_id={t}"), &uo)
        .await
        .assert_ok();
    assert_eq!(list["items"], json!([]), "used invitations are not listed");

    // Accept by id needs a verified matching email; deleting is scoped to the team.
    let v = h
        .post(
            "/api/v1/team-invitations/send-code",
            &uo,
            send("second@example.com"),
        )
        .await
        .assert_ok();
    let id2 = v["id"].as_str().unwrap().to_owned();
    h.post(
        &format!("/api/v1/team-invitations/{id2}/accept?user_id=me"),
        &ug,
        json!({}),
    )
    .await
    .assert_error(404, "VERIFICATION_CODE_NOT_FOUND");
    let other_team = h
        .post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "Other"}),
        )
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.delete(
        &format!("/api/v1/team-invitations/{id2}?team_id={other_team}"),
        &h.server(),
    )
    .await
    .assert_error(404, "VERIFICATION_CODE_NOT_FOUND");
    let r = h
        .delete(&format!("/api/v1/team-invitations/{id2}"), &h.server())
        .await;
    assert_eq!(r.status, 400);
    h.delete(&format!("/api/v1/team-invitations/{id2}?team_id={t}"), &uo)
        .await
        .assert_ok();
    // Anonymous users cannot accept.
    let v = h
        .post(
            "/api/v1/team-invitations/send-code",
            &uo,
            send("anon@example.com"),
        )
        .await
        .assert_ok();
    let _ = v;
    let code3 = h.mails("anon@example.com", "join", 1).await[0]
        .code_after(INVITE_CALLBACK)
        .unwrap();
    let anon = h
        .post("/api/v1/auth/anonymous/sign-up", &h.client(), json!({}))
        .await
        .assert_ok();
    let ua = with(
        as_user(&h, anon["access_token"].as_str().unwrap()),
        "x-stack-allow-anonymous-user",
        "true",
    );
    h.post(
        "/api/v1/team-invitations/accept",
        &ua,
        json!({"code": code3}),
    )
    .await
    .assert_error(403, "TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED");
    // The refused accept did not use the code up.
    h.post(
        "/api/v1/team-invitations/accept/check-code",
        &h.client(),
        json!({"code": code3}),
    )
    .await
    .assert_ok();
}

async fn team_api_keys_lifecycle_and_access_rules(env: Env) {
    let off = harness(&env).await;
    let r = off
        .get(
            "/api/v1/team-api-keys?team_id=031448ab-178b-4d43-b31b-28f16c3c52a9",
            &off.server(),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (
            400,
            "Team API keys are not enabled for this project.".into()
        )
    );

    let h = harness_with(
        &env,
        cfg_with(|c| {
            c.api_keys.enabled.team = true;
            c.api_keys.enabled.user = true;
        }),
    )
    .await;
    let (u, at, _) = h.sign_up("keys@example.com", "password123").await;
    let (_, stranger, _) = h.sign_up("stranger@example.com", "password123").await;
    let t = h
        .post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "T", "creator_user_id": u}),
        )
        .await
        .assert_ok()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = as_user(&h, &at);
    let body = json!({"team_id": t, "description": "deploy", "expires_at_millis": null});
    // Without $manage_api_keys (and for non-members) the team stays hidden.
    h.post("/api/v1/team-api-keys", &me, body.clone())
        .await
        .assert_error(404, "API_KEY_NOT_FOUND");
    h.get(
        &format!("/api/v1/team-api-keys?team_id={t}"),
        &as_user(&h, &stranger),
    )
    .await
    .assert_error(404, "API_KEY_NOT_FOUND");
    h.post(
        &format!("/api/v1/team-permissions/{t}/{u}/$manage_api_keys"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_ok();
    let v = h.post("/api/v1/team-api-keys", &me, body).await.assert_ok();
    let value = v["value"].as_str().unwrap().to_owned();
    assert!(value.starts_with("sk_"));
    assert_eq!(
        (
            v["type"].as_str(),
            v["team_id"].as_str(),
            v.get("expires_at_millis")
        ),
        (Some("team"), Some(t.as_str()), None)
    );
    let kid = v["id"].as_str().unwrap().to_owned();
    // Servers create keys for any existing team.
    let v = h
        .post(
            "/api/v1/team-api-keys",
            &h.server(),
            json!({"team_id": t, "description": "public", "expires_at_millis": 4_102_444_800_000i64, "is_public": true}),
        )
        .await
        .assert_ok();
    assert!(v["value"].as_str().unwrap().starts_with("pk_"));
    h.post(
        "/api/v1/team-api-keys",
        &h.server(),
        json!({"team_id": "031448ab-178b-4d43-b31b-28f16c3c52a9", "description": "x", "expires_at_millis": null}),
    )
    .await
    .assert_error(404, "TEAM_NOT_FOUND");
    let list = h
        .get(&format!("/api/v1/team-api-keys?team_id={t}"), &me)
        .await
        .assert_ok();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(
        !list.to_string().contains(&value),
        "the value is shown once"
    );
    let one = h
        .get(&format!("/api/v1/team-api-keys/{kid}"), &me)
        .await
        .assert_ok();
    assert_eq!(one["value"]["last_four"], &value[value.len() - 4..]);
    // Check, wrong type, revoke.
    let v = h
        .post(
            "/api/v1/team-api-keys/check",
            &h.server(),
            json!({"api_key": value}),
        )
        .await
        .assert_ok();
    assert_eq!(v["id"], kid.as_str());
    h.post(
        "/api/v1/team-api-keys/check",
        &me,
        json!({"api_key": value}),
    )
    .await
    .assert_error(401, "INSUFFICIENT_ACCESS_TYPE");
    let v = h
        .post(
            "/api/v1/user-api-keys/check",
            &h.server(),
            json!({"api_key": value}),
        )
        .await
        .assert_error(400, "WRONG_API_KEY_TYPE");
    assert_eq!(
        v["details"],
        json!({"expected_type": "user", "actual_type": "team"})
    );
    let v = h
        .patch(
            &format!("/api/v1/team-api-keys/{kid}"),
            &me,
            json!({"revoked": true, "description": "old"}),
        )
        .await
        .assert_ok();
    assert!(v["manually_revoked_at_millis"].is_number());
    assert_eq!(v["description"], "old");
    h.post(
        "/api/v1/team-api-keys/check",
        &h.server(),
        json!({"api_key": value}),
    )
    .await
    .assert_error(401, "API_KEY_REVOKED");
    // A user key is not a team key.
    let uk = h
        .post(
            "/api/v1/user-api-keys",
            &me,
            json!({"user_id": "me", "description": "mine", "expires_at_millis": null}),
        )
        .await
        .assert_ok();
    h.get(
        &format!("/api/v1/team-api-keys/{}", uk["id"].as_str().unwrap()),
        &h.server(),
    )
    .await
    .assert_error(404, "API_KEY_NOT_FOUND");
    h.post(
        "/api/v1/team-api-keys/check",
        &h.server(),
        json!({"api_key": uk["value"]}),
    )
    .await
    .assert_error(400, "WRONG_API_KEY_TYPE");
}

async fn team_changes_are_recorded_as_events(env: Env) {
    let h = harness(&env).await;
    let (a, _, _) = h.sign_up("ev-a@example.com", "password123").await;
    let (b, _, _) = h.sign_up("ev-b@example.com", "password123").await;
    let t = h
        .post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "Ev", "creator_user_id": a}),
        )
        .await
        .assert_ok()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.patch(
        &format!("/api/v1/teams/{t}"),
        &h.server(),
        json!({"display_name": "Ev2"}),
    )
    .await
    .assert_ok();
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
    h.delete(
        &format!("/api/v1/team-permissions/{t}/{b}/$read_members"),
        &h.server(),
    )
    .await
    .assert_ok();
    h.delete(&format!("/api/v1/team-memberships/{t}/{b}"), &h.server())
        .await
        .assert_ok();
    // A refused change records nothing.
    h.post(
        &format!("/api/v1/team-permissions/{t}/{b}/$read_members"),
        &h.server(),
        json!({}),
    )
    .await
    .assert_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    h.delete(&format!("/api/v1/teams/{t}"), &h.server())
        .await
        .assert_ok();
    let events = h.postern.recorded_events(&h.project.id).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "user.created",
            "user.created",
            "team.created",
            "team.updated",
            "team_membership.created",
            "team_permission.created",
            "team_permission.deleted",
            "team_membership.deleted",
            // The remaining member's membership ends with the team (a Postern addition).
            "team_membership.deleted",
            "team.deleted"
        ]
    );
    assert_eq!(events[0].data["id"], a.as_str());
    assert_eq!(events[1].data["id"], b.as_str());
    assert_eq!(events[3].data["display_name"], "Ev2");
    assert!(
        events[3].data["created_at_millis"].is_number(),
        "the server view"
    );
    assert_eq!(
        events[5].data,
        json!({"id": "$read_members", "team_id": t, "user_id": b})
    );
    assert_eq!(events[8].data, json!({"team_id": t, "user_id": a}));
    assert_eq!(events[9].data, json!({"id": t}));
    // Held: nothing delivers them, and their payload is sealed.
    let rows = h
        .postern
        .store()
        .outbox()
        .list(&h.project.id)
        .await
        .unwrap();
    assert!(
        rows.iter()
            .all(|r| r.status == postern_core::storage::OutboxStatus::Held)
    );
    // Sealed: the decoded payload is not the event's JSON (a long plaintext fragment, so a
    // random ciphertext cannot contain it by chance).
    for r in &rows {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&r.payload)
            .unwrap();
        assert!(serde_json::from_slice::<Value>(&bytes).is_err());
        let needle: &[u8] = b"\"display_name\":\"Ev2\"";
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    }
}

const GIF: &str = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==";

async fn profile_images_uploaded_as_data_urls_are_stored_and_served(env: Env) {
    let h = harness(&env).await;
    let (_, at, _) = h.sign_up("img@example.com", "password123").await;
    let me = as_user(&h, &at);
    let v = h
        .patch("/api/v1/users/me", &me, json!({"profile_image_url": GIF}))
        .await
        .assert_ok();
    let url = v["profile_image_url"].as_str().unwrap().to_owned();
    let prefix = format!("{PUBLIC_URL}/api/v1/storage/user-profile-images/");
    assert!(url.starts_with(&prefix) && url.ends_with(".gif"), "{url}");
    let r = h.get(&url[PUBLIC_URL.len()..], &vec![]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/gif"));
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD
        .decode(GIF.split_once(",").unwrap().1)
        .unwrap();
    assert_eq!(r.body.as_ref(), expected.as_slice());
    // The URL stays on later reads; other buckets and ids are not found.
    let v = h.get("/api/v1/users/me", &me).await.assert_ok();
    assert_eq!(v["profile_image_url"], url.as_str());
    let wrong_bucket = url.replace("user-profile-images", "team-profile-images");
    assert_eq!(
        h.get(&wrong_bucket[PUBLIC_URL.len()..], &vec![])
            .await
            .status,
        404
    );
    let r = h
        .patch(
            "/api/v1/users/me",
            &me,
            json!({"profile_image_url": "data:image/tiff;base64,AAAA"}),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.text()),
        (400, "Invalid profile image URL".into())
    );
    // Teams: servers may also set plain URLs; data URLs are stored the same way.
    let v = h
        .post(
            "/api/v1/teams",
            &h.server(),
            json!({"display_name": "Pics", "profile_image_url": GIF}),
        )
        .await
        .assert_ok();
    assert!(
        v["profile_image_url"]
            .as_str()
            .unwrap()
            .contains("/storage/team-profile-images/")
    );
    let t = v["id"].as_str().unwrap().to_owned();
    let v = h
        .patch(
            &format!("/api/v1/teams/{t}"),
            &h.server(),
            json!({"profile_image_url": "https://cdn.example.com/t.png"}),
        )
        .await
        .assert_ok();
    assert_eq!(v["profile_image_url"], "https://cdn.example.com/t.png");
}

async fn data_vault_stores_values_sealed_at_rest(env: Env) {
    let h = harness(&env).await;
    let set = |store: &str| format!("/api/v1/data-vault/stores/{store}/set");
    let get = |store: &str| format!("/api/v1/data-vault/stores/{store}/get");
    let v = h
        .post(
            &set("secrets"),
            &h.server(),
            json!({"hashed_key": "hk", "encrypted_value": "v1"}),
        )
        .await
        .assert_error(400, "DATA_VAULT_STORE_DOES_NOT_EXIST");
    assert_eq!(v["details"], json!({"store_id": "secrets"}));
    h.patch(
        "/api/v1/internal/config/override/environment",
        &h.admin(),
        json!({"config_override_string": json!({"dataVault.stores": {"secrets": {"displayName": "S"}, "other": {}}}).to_string()}),
    )
    .await
    .assert_ok();
    // Path segments are percent-decoded.
    let v = h
        .post(
            "/api/v1/data-vault/stores/%20%20/set",
            &h.server(),
            json!({"hashed_key": "hk", "encrypted_value": "v"}),
        )
        .await
        .assert_error(400, "DATA_VAULT_STORE_DOES_NOT_EXIST");
    assert_eq!(v["details"], json!({"store_id": "  "}));
    // Prototype-like names are not stores.
    h.post(
        &set("toString"),
        &h.server(),
        json!({"hashed_key": "hk", "encrypted_value": "v"}),
    )
    .await
    .assert_error(400, "DATA_VAULT_STORE_DOES_NOT_EXIST");
    let marker = "client-encrypted-value-0123456789";
    assert_eq!(
        h.post(
            &set("secrets"),
            &h.server(),
            json!({"hashed_key": "hk", "encrypted_value": marker})
        )
        .await
        .assert_ok(),
        json!({"success": true})
    );
    let v = h
        .post(&get("secrets"), &h.server(), json!({"hashed_key": "hk"}))
        .await
        .assert_ok();
    assert_eq!(v, json!({"encrypted_value": marker}));
    // Upsert; other stores and keys are separate.
    h.post(
        &set("secrets"),
        &h.server(),
        json!({"hashed_key": "hk", "encrypted_value": "v2"}),
    )
    .await
    .assert_ok();
    let v = h
        .post(&get("secrets"), &h.admin(), json!({"hashed_key": "hk"}))
        .await
        .assert_ok();
    assert_eq!(v["encrypted_value"], "v2");
    let v = h
        .post(&get("other"), &h.server(), json!({"hashed_key": "hk"}))
        .await
        .assert_error(400, "DATA_VAULT_STORE_HASHED_KEY_DOES_NOT_EXIST");
    assert_eq!(
        v["details"],
        json!({"store_id": "other", "hashed_key": "hk"})
    );
    h.post(&get("secrets"), &h.client(), json!({"hashed_key": "hk"}))
        .await
        .assert_error(401, "INSUFFICIENT_ACCESS_TYPE");
    h.post(
        &set("secrets"),
        &h.server(),
        json!({"hashed_key": "", "encrypted_value": "x"}),
    )
    .await
    .assert_error(400, "SCHEMA_ERROR");
    // At rest: neither the value nor the hashed key is readable.
    let entry = h
        .postern
        .store()
        .vault()
        .get(&h.project.id, "secrets", "hk")
        .await
        .unwrap();
    assert!(
        entry.is_none(),
        "rows are found by an HMAC of the key, not the key"
    );
}
