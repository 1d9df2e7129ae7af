//! Policy lives in the domain: an app calling the Rust API in-process with an actor
//! (`Auth::client`, `Auth::server`) gets the same answers as the REST API — feature gates,
//! ownership and team permissions — on SQLite and PostgreSQL.

#[macro_use]
mod support;

use postern_core::admin::ConfigLevel;
use postern_core::api_keys::KeyType;
use postern_core::contact_channels::NewChannel;
use postern_core::permissions::Scope;
use postern_core::step_up::Caller;
use postern_core::storage::ApiKeyOwner;
use postern_core::teams::{NewTeam, TeamUpdate};
use postern_core::{Auth, Error, ProjectConfig, Refusal, UserUpdate};
use support::*;

contract_module!(
    sqlite,
    Core,
    sqlite_store,
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)],
    api_key_policy,
    team_policy,
    user_and_session_policy,
    channel_membership_and_config_policy,
);
contract_module!(
    postgres,
    Core,
    postgres_store,
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)],
    api_key_policy,
    team_policy,
    user_and_session_policy,
    channel_membership_and_config_policy,
);

async fn user(h: &H, email: &str) -> postern_core::User {
    h.postern
        .users()
        .create(
            &h.project,
            UserUpdate {
                primary_email: Some(Some(email.to_owned())),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("user")
}

async fn api_key_policy(env: Env) {
    // User keys off: the gate holds for clients and servers alike.
    let h = harness_with(&env, ProjectConfig::default()).await;
    let alice = user(&h, "alice@example.com").await;
    let keys = h.postern.api_keys();
    let server = Auth::server(h.project.clone());
    let err = keys
        .create_as(&server, ApiKeyOwner::User(alice.id), "k", None, false)
        .await
        .unwrap_err();
    assert_eq!(err, Error::Refused(Refusal::UserApiKeysDisabled));

    let mut cfg = ProjectConfig::default();
    cfg.api_keys.enabled.user = true;
    cfg.api_keys.enabled.team = true;
    let h = harness_with(&env, cfg).await;
    let alice = user(&h, "alice@example.com").await;
    let bob = user(&h, "bob@example.com").await;
    let keys = h.postern.api_keys();
    let as_alice = Auth::client(h.project.clone(), Some(alice.clone()));

    // A client manages its own user's keys only.
    let own = keys
        .create_as(&as_alice, ApiKeyOwner::User(alice.id), "mine", None, false)
        .await
        .expect("own key");
    let err = keys
        .create_as(&as_alice, ApiKeyOwner::User(bob.id), "theirs", None, false)
        .await
        .unwrap_err();
    assert_eq!(err, Error::Refused(Refusal::ClientMayOnlyManageOwnApiKeys));
    let server = Auth::server(h.project.clone());
    let bobs = keys
        .create_as(
            &server,
            ApiKeyOwner::User(bob.id),
            "made by a server",
            None,
            false,
        )
        .await
        .expect("a server may");
    assert_eq!(
        keys.get_as(&as_alice, KeyType::User, bobs.record.id)
            .await
            .unwrap_err(),
        Error::Refused(Refusal::ClientMayOnlyManageOwnApiKeys)
    );
    assert_eq!(
        keys.get_as(&as_alice, KeyType::Team, own.record.id)
            .await
            .unwrap_err(),
        Error::ApiKeyNotFound,
        "a user key is not a team key"
    );
    let revoked = keys
        .update_as(&as_alice, KeyType::User, own.record.id, None, None, true)
        .await
        .expect("revoke own key");
    assert!(revoked.revoked_at_millis.is_some());

    // Team keys need $manage_api_keys in the team: bob is not a member of alice's team.
    let team = h
        .postern
        .teams()
        .create(
            &h.project,
            NewTeam {
                display_name: "Alice's team".into(),
                creator: Some(alice.id),
                ..NewTeam::default()
            },
        )
        .await
        .expect("team")
        .id;
    assert_eq!(
        keys.create_as(&as_alice, ApiKeyOwner::Team(team), "team", None, false)
            .await
            .unwrap_err(),
        Error::ApiKeyNotFound,
        "a member without $manage_api_keys sees no team keys"
    );
    h.postern
        .permissions()
        .grant(&h.project, Some(team), alice.id, "$manage_api_keys")
        .await
        .expect("grant");
    keys.create_as(&as_alice, ApiKeyOwner::Team(team), "team", None, false)
        .await
        .expect("with $manage_api_keys");
    let as_bob = Auth::client(h.project.clone(), Some(bob));
    assert_eq!(
        keys.list_as(&as_bob, ApiKeyOwner::Team(team))
            .await
            .unwrap_err(),
        Error::ApiKeyNotFound
    );
    let no_user = Auth::client(h.project.clone(), None);
    assert_eq!(
        keys.list_as(&no_user, ApiKeyOwner::User(alice.id))
            .await
            .unwrap_err(),
        Error::UserAuthenticationRequired
    );
}

async fn team_policy(env: Env) {
    let h = harness_with(&env, ProjectConfig::default()).await;
    let alice = user(&h, "alice@example.com").await;
    let bob = user(&h, "bob@example.com").await;
    let teams = h.postern.teams();
    let team = teams
        .create(
            &h.project,
            NewTeam {
                display_name: "Alice's team".into(),
                creator: Some(alice.id),
                ..NewTeam::default()
            },
        )
        .await
        .expect("team")
        .id;
    let as_alice = Auth::client(h.project.clone(), Some(alice.clone()));
    let as_bob = Auth::client(h.project.clone(), Some(bob.clone()));
    let server = Auth::server(h.project.clone());

    assert_eq!(
        teams.get_as(&as_alice, team).await.expect("member").id,
        team
    );
    assert_eq!(
        teams.get_as(&as_bob, team).await.unwrap_err(),
        Error::TeamMembershipNotFound {
            team_id: team,
            user_id: bob.id
        }
    );
    let rename = || TeamUpdate {
        display_name: Some("Renamed".into()),
        ..TeamUpdate::default()
    };
    assert!(matches!(
        teams.update_as(&as_bob, team, rename()).await.unwrap_err(),
        Error::TeamPermissionRequired { .. } | Error::TeamMembershipNotFound { .. }
    ));
    teams
        .add_member(&h.project, team, bob.id)
        .await
        .expect("add bob");
    assert!(matches!(
        teams.update_as(&as_bob, team, rename()).await.unwrap_err(),
        Error::TeamPermissionRequired { .. }
    ));
    // Clients may set image data only; servers also URLs.
    let image = TeamUpdate {
        profile_image_url: Some(Some("https://example.com/a.png".into())),
        ..TeamUpdate::default()
    };
    h.postern
        .permissions()
        .grant(&h.project, Some(team), alice.id, "$update_team")
        .await
        .expect("grant");
    assert_eq!(
        teams
            .update_as(&as_alice, team, image.clone())
            .await
            .unwrap_err(),
        Error::Refused(Refusal::InvalidProfileImageUrl)
    );
    teams
        .update_as(&server, team, image)
        .await
        .expect("a server may");
    // Bob may leave, not remove alice.
    assert!(matches!(
        teams
            .remove_member_as(&as_bob, team, alice.id)
            .await
            .unwrap_err(),
        Error::TeamPermissionRequired { .. }
    ));
    teams
        .remove_member_as(&as_bob, team, bob.id)
        .await
        .expect("leave");
    assert!(matches!(
        teams.delete_as(&as_bob, team).await.unwrap_err(),
        Error::TeamPermissionRequired { .. } | Error::TeamMembershipNotFound { .. }
    ));
    teams.delete_as(&server, team).await.expect("a server may");
}

async fn user_and_session_policy(env: Env) {
    let h = harness_with(&env, ProjectConfig::default()).await;
    let alice = user(&h, "alice@example.com").await;
    let bob = user(&h, "bob@example.com").await;
    let as_alice = Auth::client(h.project.clone(), Some(alice.clone()));
    let server = Auth::server(h.project.clone());

    // Team creation: off for clients by default; a client is always the creator.
    let new = |creator| NewTeam {
        display_name: "T".into(),
        creator,
        ..NewTeam::default()
    };
    assert_eq!(
        h.postern
            .teams()
            .create_as(&as_alice, new(None))
            .await
            .unwrap_err(),
        Error::Refused(Refusal::ClientTeamCreationDisabled)
    );
    let mut cfg = ProjectConfig::default();
    cfg.teams.allow_client_team_creation = true;
    let open = h
        .postern
        .projects()
        .update_config(&h.project.id, cfg)
        .await
        .expect("config")
        .expect("project");
    let as_alice = Auth::client(open.clone(), Some(alice.clone()));
    assert_eq!(
        h.postern
            .teams()
            .create_as(&as_alice, new(Some(bob.id)))
            .await
            .unwrap_err(),
        Error::Refused(Refusal::ClientMayOnlyCreateTeamsAsSelf)
    );
    let team = h
        .postern
        .teams()
        .create_as(&as_alice, new(None))
        .await
        .expect("a client may now");
    assert!(
        h.postern
            .teams()
            .is_member(&open, team.id, alice.id)
            .await
            .unwrap(),
        "the client is the creator"
    );

    // Sessions: a client lists its own only.
    assert_eq!(
        h.postern
            .sessions()
            .list_as(&as_alice, bob.id)
            .await
            .unwrap_err(),
        Error::Refused(Refusal::ClientMayOnlyListOwnSessions)
    );
    h.postern
        .sessions()
        .list_as(&server, bob.id)
        .await
        .expect("a server may");

    // Permission grants: a client lists its own user's only.
    let perms = h.postern.permissions();
    assert_eq!(
        perms
            .list_as(
                &as_alice,
                Scope::Team,
                Some(team.id),
                Some(bob.id),
                None,
                true
            )
            .await
            .unwrap_err(),
        Error::Refused(Refusal::ClientMayOnlyListOwnPermissions)
    );
    perms
        .list_as(
            &as_alice,
            Scope::Team,
            Some(team.id),
            Some(alice.id),
            None,
            true,
        )
        .await
        .expect("own grants");
    perms
        .list_as(&server, Scope::Team, None, None, None, false)
        .await
        .expect("a server lists anyone's");

    // Deletion: a client deletes only itself, where the project allows it.
    assert_eq!(
        h.postern
            .users()
            .delete_as(&as_alice, alice.id)
            .await
            .unwrap_err(),
        Error::Refused(Refusal::ClientUserDeletionDisabled)
    );
    assert!(
        h.postern
            .users()
            .delete_as(&server, bob.id)
            .await
            .expect("a server may")
    );
}

async fn channel_membership_and_config_policy(env: Env) {
    let h = harness_with(&env, ProjectConfig::default()).await;
    let alice = user(&h, "alice@example.com").await;
    let bob = user(&h, "bob@example.com").await;
    let as_alice = Auth::client(h.project.clone(), Some(alice.clone()));
    let anonymous_client = Auth::client(h.project.clone(), None);
    let server = Auth::server(h.project.clone());
    let alice_caller = Caller::of(&as_alice, None);

    // Contact channels: a client acts on its own user's only, whatever the operation.
    let channels = h.postern.contact_channels();
    let new = |value: &str| NewChannel {
        value: value.into(),
        used_for_auth: false,
        is_primary: false,
        is_verified: false,
    };
    assert_eq!(
        channels
            .create_as(&h.project, bob.id, new("x@example.com"), alice_caller)
            .await
            .unwrap_err(),
        Error::Refused(Refusal::ClientMayOnlyCreateOwnContactChannels)
    );
    let bobs = channels.list(&h.project, Some(bob.id)).await.unwrap();
    assert_eq!(
        channels
            .get_as(&h.project, bob.id, bobs[0].id, alice_caller)
            .await
            .unwrap_err(),
        Error::Refused(Refusal::ClientMayOnlyReadOwnContactChannels)
    );
    assert_eq!(
        channels
            .delete_as(&h.project, bob.id, bobs[0].id, alice_caller)
            .await
            .unwrap_err(),
        Error::Refused(Refusal::ClientMayOnlyDeleteOwnContactChannels)
    );
    assert_eq!(
        channels
            .list_as(&h.project, None, alice_caller)
            .await
            .unwrap_err(),
        Error::Refused(Refusal::ClientMayOnlyListOwnContactChannels)
    );
    assert_eq!(
        channels
            .list_as(
                &h.project,
                Some(alice.id),
                Caller::of(&anonymous_client, None)
            )
            .await
            .unwrap_err(),
        Error::CannotGetOwnUserWithoutUser
    );
    assert_eq!(
        channels
            .list_as(&h.project, Some(alice.id), alice_caller)
            .await
            .expect("own")
            .len(),
        1
    );
    assert_eq!(
        channels
            .list_as(&h.project, None, Caller::of(&server, None))
            .await
            .expect("a server lists all")
            .len(),
        2
    );
    assert_eq!(
        channels
            .auth_status_as(&h.project, bob.id, bobs[0].id, alice_caller)
            .await
            .unwrap_err(),
        Error::Refused(Refusal::ClientMayOnlyManageOwnContactChannels)
    );
    assert!(
        channels.list(&h.project, Some(bob.id)).await.unwrap() == bobs,
        "nothing of bob's changed"
    );

    // Teams and member profiles: a client sees its own teams, and profiles of teams it is in.
    let teams = h.postern.teams();
    let team = teams
        .create(
            &h.project,
            NewTeam {
                display_name: "Bob's".into(),
                creator: Some(bob.id),
                ..NewTeam::default()
            },
        )
        .await
        .unwrap()
        .id;
    assert_eq!(
        teams.list_as(&as_alice, Some(bob.id)).await.unwrap_err(),
        Error::Refused(Refusal::ClientMayOnlyListOwnTeams)
    );
    assert!(
        teams
            .list_as(&as_alice, Some(alice.id))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(teams.list_as(&server, None).await.unwrap().len(), 1);
    assert_eq!(
        teams
            .member_profiles_as(&as_alice, None, None)
            .await
            .unwrap_err(),
        Error::Refused(Refusal::ClientTeamIdRequired)
    );
    assert_eq!(
        teams
            .member_profiles_as(&as_alice, Some(team), Some(alice.id))
            .await
            .unwrap_err(),
        Error::TeamMembershipNotFound {
            team_id: team,
            user_id: alice.id
        }
    );
    assert!(matches!(
        teams
            .member_profiles_as(&as_alice, Some(team), None)
            .await
            .unwrap_err(),
        Error::TeamMembershipNotFound { .. } | Error::TeamPermissionRequired { .. }
    ));
    assert_eq!(
        teams
            .member_profiles_as(&server, Some(team), None)
            .await
            .unwrap()
            .len(),
        1
    );

    // Invitations addressed to another user are not a client's to list or accept.
    let invitations = h.postern.invitations();
    assert_eq!(
        invitations
            .list_for_user_as(&as_alice, bob.id)
            .await
            .unwrap_err(),
        Error::CannotGetOwnUserWithoutUser
    );
    assert_eq!(
        invitations
            .accept_by_id_as(&as_alice, bob.id, uuid::Uuid::new_v4())
            .await
            .unwrap_err(),
        Error::CannotGetOwnUserWithoutUser
    );

    // Sessions: another user's session is not found for a client; a server may revoke it.
    let sessions = h.postern.sessions();
    sessions
        .create(&h.project, bob.id, None, false)
        .await
        .unwrap();
    let bob_session = sessions.list_as(&server, bob.id).await.unwrap()[0].id;
    assert_eq!(
        sessions
            .delete_as(&as_alice, bob_session)
            .await
            .unwrap_err(),
        Error::Refused(Refusal::SessionNotFound)
    );
    sessions
        .delete_as(&server, bob_session)
        .await
        .expect("a server may");
    assert!(sessions.list_as(&server, bob.id).await.unwrap().is_empty());

    // Config overrides: servers only at the branch level and outside admin-only sections;
    // a bad override is refused whole, naming the key.
    let admin = h.postern.admin();
    let over = |v: serde_json::Value| v.as_object().unwrap().clone();
    assert_eq!(
        admin
            .override_config_as(
                &server,
                ConfigLevel::Environment,
                &over(serde_json::json!({}))
            )
            .await
            .unwrap_err(),
        Error::Refused(Refusal::ServerMayOnlyOverrideBranchConfig)
    );
    assert!(matches!(
        admin
            .override_config_as(
                &server,
                ConfigLevel::Branch,
                &over(serde_json::json!({"domains.allowLocalhost": false}))
            )
            .await
            .unwrap_err(),
        Error::Refused(Refusal::ServerCannotOverrideAdminOnlyConfig { .. })
    ));
    assert!(matches!(
        admin
            .override_config_as(&as_alice, ConfigLevel::Branch, &over(serde_json::json!({})))
            .await
            .unwrap_err(),
        Error::InsufficientAccessType { .. }
    ));
    let err = admin
        .override_config_as(
            &server,
            ConfigLevel::Branch,
            &over(serde_json::json!({
                "teams.allowClientTeamCreation": true,
                "rbac.permissions.loop": {"scope": "team", "containedPermissionIds": {"loop": true}}
            })),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Refused(Refusal::PermissionCycle {
            permission_id: "loop".into()
        })
    );
    let p = h
        .postern
        .projects()
        .get(&h.project.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !p.config.teams.allow_client_team_creation,
        "nothing was kept"
    );
    // In-process config writes are checked too.
    let mut bad = p.config.clone();
    bad.domains.trusted_domains.insert(
        "x".into(),
        postern_core::config::TrustedDomain {
            base_url: Some("not a url".into()),
            ..Default::default()
        },
    );
    assert!(matches!(
        h.postern
            .projects()
            .update_config(&h.project.id, bad)
            .await
            .unwrap_err(),
        Error::Refused(Refusal::InvalidConfig { reason }) if reason.starts_with("domains.trustedDomains.x.baseUrl")
    ));
    admin
        .override_config_as(
            &server,
            ConfigLevel::Branch,
            &over(serde_json::json!({"teams.allowClientTeamCreation": true})),
        )
        .await
        .expect("a server may change the branch outside admin-only sections");
}
