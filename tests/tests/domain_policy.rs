//! Policy lives in the domain: an app calling the Rust API in-process with an actor
//! (`Auth::client`, `Auth::server`) gets the same answers as the REST API — feature gates,
//! ownership and team permissions — on SQLite and PostgreSQL.

#[macro_use]
mod support;

use postern_core::api_keys::KeyType;
use postern_core::permissions::Scope;
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
);
contract_module!(
    postgres,
    Core,
    postgres_store,
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)],
    api_key_policy,
    team_policy,
    user_and_session_policy,
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
