//! Store conformance suite: the storage contract of [`crate::storage`], written once and
//! run against every backend. **Not semver-stable**: cases are added and changed in any
//! release.
//!
//! Each case is a public async function taking a freshly migrated, empty
//! [`Store`] and panicking on failure. [`store_conformance_tests!`](crate::store_conformance_tests)
//! turns the whole suite into one `#[tokio::test]` per case for a backend:
//!
//! ```ignore
//! mod sqlite {
//!     postern_core::store_conformance_tests!(postern_storage_sqlite::SqliteStore::memory());
//! }
//! ```
//!
//! The expression is awaited once per case and may produce a `Box<dyn Store>`, an
//! `Arc<dyn Store>`, any `T: Store`, or a `Result` of those (an `Err` fails the test); see
//! [`FreshStore`]. The calling crate needs `tokio` with the `macros` and
//! `rt-multi-thread` features. Cases can also be picked by name:
//! `store_conformance_tests!(make_store(); concurrent_sign_ups_have_one_winner)`.
//!
//! Third-party store authors: run this suite. It pins down what the trait docs say in
//! prose (conflicts, missing references, cascades, ordering, paging, filters,
//! transactions) and what Postern relies on beyond them:
//! - a child row (contact channel, session) must reference a user **of its own project**,
//!   otherwise [`StoreError::MissingReference`];
//! - ordering ties on `signed_up_at` are broken by the user id in byte order (the order of
//!   [`Uuid`]'s `Ord`);
//! - an empty search string does not filter;
//! - a `NULL` key hash never conflicts with another `NULL`.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use serde_json::json;
use uuid::Uuid;

use crate::storage::{
    ApiKeyOwner, ApiKeyRecord, ApiKeySetRecord, AuditEventRecord, AuditQuery, ChannelKind,
    CodePurpose, ContactChannelRecord, FileRecord, KeyKind, OutboxRecord, OutboxStatus,
    PasskeyRecord, PasskeyUse, PermissionGrantRecord, ProjectRecord, RecoveryCodeRecord,
    SessionRecord, Store, StoreError, StoreResult, TeamMemberRecord, TeamRecord, UserListQuery,
    UserRecord, VaultEntryRecord, VerificationCodeRecord,
};
use crate::storage::{
    AttemptQuery, DeliveryStatus, RequeueFilter, WebhookAttemptRecord, WebhookDeliveryRecord,
    WebhookEndpointRecord,
};
use crate::storage::{CliAuthAttemptRecord, OAuthAccountRecord, OAuthTokenKind, OAuthTokenRecord};

/// Something [`store_conformance_tests!`](crate::store_conformance_tests) can run the
/// suite against: a store, a boxed or shared store, or a `Result` of one.
pub trait FreshStore {
    /// The store, shared.
    fn into_store(self) -> Arc<dyn Store>;
}

impl FreshStore for Arc<dyn Store> {
    fn into_store(self) -> Arc<dyn Store> {
        self
    }
}

impl FreshStore for Box<dyn Store> {
    fn into_store(self) -> Arc<dyn Store> {
        Arc::from(self)
    }
}

impl<T: Store + 'static> FreshStore for T {
    fn into_store(self) -> Arc<dyn Store> {
        Arc::new(self)
    }
}

impl<T: FreshStore, E: Debug> FreshStore for Result<T, E> {
    fn into_store(self) -> Arc<dyn Store> {
        match self {
            Ok(store) => store.into_store(),
            Err(err) => panic!("creating the store under test failed: {err:?}"),
        }
    }
}

/// Expands to one `#[tokio::test]` per conformance case (multi-thread runtime, two
/// workers), each awaiting `$fresh` for a new, migrated, empty store. See the
/// [module docs](crate::conformance). The calling crate needs `tokio` with the `macros`
/// and `rt-multi-thread` features.
#[macro_export]
macro_rules! store_conformance_tests {
    (@cases ($fresh:expr) $($case:ident),+) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = $crate::conformance::FreshStore::into_store($fresh.await);
                $crate::conformance::$case(&*store).await;
            }
        )+
    };
    ($fresh:expr; $($case:ident),+ $(,)?) => {
        $crate::store_conformance_tests!(@cases ($fresh) $($case),+);
    };
    ($fresh:expr $(,)?) => {
        $crate::store_conformance_tests!(@cases ($fresh)
            ping_and_migrate_again,
            project_round_trip_update_and_list,
            key_sets,
            user_round_trip,
            user_update_and_touch,
            user_delete_cascades,
            channel_round_trip_update_and_delete,
            channel_conflicts,
            channel_requires_user_of_same_project,
            session_lifecycle,
            session_requires_user_of_same_project,
            rows_are_invisible_across_projects,
            list_orders_by_sign_up_then_id,
            list_pages_with_cursor_and_limit,
            list_filters,
            list_search,
            transaction_commit_makes_writes_visible,
            transaction_drop_rolls_back,
            concurrent_sign_ups_have_one_winner,
            api_key_round_trip_isolation_and_order,
            api_key_owner_rules_and_cascade,
            codes_lookup_attempts_single_use_and_cascade,
            outbox_due_claim_update_and_isolation,
            project_channels_list_in_creation_order,
            teams_members_and_selection,
            permission_grants_idempotent_scoped_and_cascading,
            files_round_trip_by_bucket,
            vault_entries_upsert_by_store_and_key,
            throttle_counters_windows_and_runs,
            recovery_codes_single_use_and_cascade,
            audit_log_appends_filters_and_pages,
            totp_steps_only_move_forward,
            security_columns_and_bulk_revocation,
            codes_found_by_nonce,
            project_updates_compare_and_swap_the_config_version,
            webhook_endpoints_deliveries_attempts_and_purge,
            passkeys_unique_per_project_flagged_and_cascading,
            oauth_accounts_tokens_flagged_and_cascading,
            codes_purged_after_expiry,
            cli_auth_attempts_move_forward_once
        );
    };
}

// ---------------------------------------------------------------------------------------
// Fixtures

/// Project used by most cases.
const A: &str = "conformance-a";
/// Second project, for isolation checks.
const B: &str = "conformance-b";

fn project(id: &str) -> ProjectRecord {
    ProjectRecord {
        id: id.to_owned(),
        display_name: format!("Project {id}"),
        config: json!({ "auth": { "password": { "allowSignIn": true } }, "teams": [] }),
        created_at_millis: 1_700_000_000_000,
        owner_team_id: None,
        config_version: 0,
    }
}

async fn seed_projects(store: &dyn Store) {
    for id in [A, B] {
        store
            .projects()
            .insert(&project(id))
            .await
            .expect("insert project");
    }
}

/// A user with every optional field empty.
fn user(project_id: &str, signed_up_at_millis: i64) -> UserRecord {
    UserRecord::new(project_id, signed_up_at_millis)
}

/// A user with every field set to something distinctive.
fn full_user(project_id: &str) -> UserRecord {
    UserRecord {
        project_id: project_id.to_owned(),
        id: Uuid::new_v4(),
        display_name: Some("Ada Lovelace ✓".to_owned()),
        profile_image_url: Some("https://example.com/ada.png".to_owned()),
        client_metadata: Some(json!({ "theme": "dark", "n": [1, 2.5, null, true] })),
        client_read_only_metadata: Some(json!(["plan", { "tier": 3 }])),
        server_metadata: Some(
            json!({ "nested": { "deep": { "unicode": "é✓", "big": 1u64 << 60 } } }),
        ),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        otp_auth_enabled: true,
        totp_secret: Some(vec![0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 0]),
        selected_team_id: Some(Uuid::new_v4()),
        is_anonymous: false,
        restricted_by_admin: true,
        restricted_by_admin_reason: Some("Suspicious sign-up".to_owned()),
        restricted_by_admin_private_details: Some("rule #4 matched".to_owned()),
        country_code: Some("CH".to_owned()),
        risk_score_bot: 42,
        risk_score_free_trial_abuse: 100,
        signed_up_at_millis: 1_700_000_123_456,
        last_active_at_millis: 1_700_000_654_321,
        totp_last_step: Some(56_666_670),
        totp_proven: true,
        claimed_at_millis: Some(1_700_000_200_000),
        tokens_valid_after_millis: Some(1_700_000_300_000),
        has_passkey: false,
        has_oauth: false,
    }
}

fn email(
    user: &UserRecord,
    value: &str,
    is_primary: bool,
    is_verified: bool,
    used_for_auth: bool,
) -> ContactChannelRecord {
    ContactChannelRecord {
        project_id: user.project_id.clone(),
        id: Uuid::new_v4(),
        user_id: user.id,
        kind: ChannelKind::Email,
        value: value.to_owned(),
        is_primary,
        is_verified,
        used_for_auth,
        auth_confirmed: used_for_auth,
        created_at_millis: user.signed_up_at_millis,
    }
}

fn session(user: &UserRecord, token: u64, created_at_millis: i64) -> SessionRecord {
    SessionRecord {
        project_id: user.project_id.clone(),
        id: Uuid::new_v4(),
        user_id: user.id,
        token_hash: hash(token),
        created_at_millis,
        last_active_at_millis: created_at_millis,
        expires_at_millis: None,
        is_impersonation: false,
    }
}

/// A fake SHA-256 hex digest.
fn hash(n: u64) -> String {
    format!("{n:064x}")
}

async fn insert_user(store: &dyn Store, user: &UserRecord) {
    store.users().insert(user).await.expect("insert user");
}

async fn insert_channel(store: &dyn Store, channel: &ContactChannelRecord) {
    store
        .users()
        .insert_channel(channel)
        .await
        .expect("insert channel");
}

#[track_caller]
fn expect_conflict<T: Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected StoreError::Conflict, got {other:?}"),
    }
}

#[track_caller]
fn expect_missing_reference<T: Debug>(result: StoreResult<T>, what: &str) {
    match result {
        Err(StoreError::MissingReference(_)) => {}
        other => panic!("{what}: expected StoreError::MissingReference, got {other:?}"),
    }
}

fn ids(users: &[UserRecord]) -> Vec<Uuid> {
    users.iter().map(|u| u.id).collect()
}

/// Sorted the way `UserRepo::list` must order them.
fn sorted_ids(users: &[UserRecord], desc: bool) -> Vec<Uuid> {
    let mut keyed: Vec<(i64, Uuid)> = users
        .iter()
        .map(|u| (u.signed_up_at_millis, u.id))
        .collect();
    keyed.sort();
    if desc {
        keyed.reverse();
    }
    keyed.into_iter().map(|(_, id)| id).collect()
}

async fn list(store: &dyn Store, project_id: &str, query: UserListQuery) -> Vec<UserRecord> {
    store
        .users()
        .list(project_id, &query)
        .await
        .expect("list users")
}

/// Polls all futures concurrently on the current task; outputs in input order.
async fn join_all<'a, T>(futures: Vec<Pin<Box<dyn Future<Output = T> + Send + 'a>>>) -> Vec<T> {
    let mut pending: Vec<Option<Pin<Box<dyn Future<Output = T> + Send + 'a>>>> =
        futures.into_iter().map(Some).collect();
    let mut done: Vec<Option<T>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut all_done = true;
        for (slot, out) in pending.iter_mut().zip(done.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *out = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            Poll::Ready(done.iter_mut().map(|v| v.take().expect("output")).collect())
        } else {
            Poll::Pending
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Store

/// `ping` answers and `migrate` can run again on a migrated store.
pub async fn ping_and_migrate_again(store: &dyn Store) {
    store.ping().await.expect("ping");
    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
    store.ping().await.expect("ping after migrate");
    assert!(
        store.projects().list().await.unwrap().is_empty(),
        "fresh store is empty"
    );
}

// ---------------------------------------------------------------------------------------
// Projects and key sets

/// Projects: every field round-trips, `update` replaces name and config only, `list` is
/// ordered by id, a duplicate id conflicts.
pub async fn project_round_trip_update_and_list(store: &dyn Store) {
    let repo = store.projects();
    assert_eq!(repo.get("nope").await.unwrap(), None);
    assert!(repo.list().await.unwrap().is_empty());

    let mut b = project("b-project");
    b.config = json!({ "a": { "b": [1, "two", null, { "c": false }] }, "s": "é\"\\" });
    let a = project("a-project");
    let internal = project("internal");
    for p in [&b, &internal, &a] {
        repo.insert(p).await.expect("insert project");
    }
    assert_eq!(repo.get("b-project").await.unwrap().as_ref(), Some(&b));
    let listed: Vec<String> = repo
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(listed, ["a-project", "b-project", "internal"]);

    let mut dup = project("a-project");
    dup.display_name = "Another".to_owned();
    expect_conflict(repo.insert(&dup).await, "duplicate project id");
    assert_eq!(repo.get("a-project").await.unwrap().as_ref(), Some(&a));

    let mut changed = b.clone();
    changed.display_name = "Renamed".to_owned();
    changed.config = json!({ "replaced": true });
    changed.created_at_millis = 1;
    assert!(repo.update(&changed).await.unwrap());
    let got = repo
        .get("b-project")
        .await
        .unwrap()
        .expect("updated project");
    assert_eq!(got.display_name, "Renamed");
    assert_eq!(got.config, json!({ "replaced": true }));
    assert_eq!(
        got.created_at_millis, b.created_at_millis,
        "update keeps created_at"
    );
    assert!(!repo.update(&project("missing")).await.unwrap());
    assert_eq!(repo.get("missing").await.unwrap(), None);
}

/// A project update writes only from the version it read, and bumps it: of two writers that
/// read the same version, the second is refused and changes nothing (no lost update).
pub async fn project_updates_compare_and_swap_the_config_version(store: &dyn Store) {
    let repo = store.projects();
    repo.insert(&project("cas")).await.expect("insert project");
    let read = repo.get("cas").await.unwrap().expect("project");
    assert_eq!(read.config_version, 0);

    let mut first = read.clone();
    first.config = json!({ "first": true });
    let mut second = read.clone();
    second.config = json!({ "second": true });
    assert!(repo.update(&first).await.unwrap(), "the first writer wins");
    assert!(
        !repo.update(&second).await.unwrap(),
        "a writer from a stale version is refused"
    );
    let got = repo.get("cas").await.unwrap().expect("project");
    assert_eq!(got.config, json!({ "first": true }));
    assert_eq!(got.config_version, 1);

    // From the current version the write goes through, in a transaction too.
    let tx = store.begin().await.unwrap();
    let mut third = tx.projects().get("cas").await.unwrap().expect("project");
    third.config = json!({ "third": true });
    assert!(tx.projects().update(&third).await.unwrap());
    tx.commit().await.unwrap();
    let got = repo.get("cas").await.unwrap().expect("project");
    assert_eq!(got.config, json!({ "third": true }));
    assert_eq!(got.config_version, 2);
}

/// Key sets: round trip, lookup by kind and hash (scoped to the project), oldest-first
/// listing, conflicts on a reused hash (never on two absent hashes), delete.
pub async fn key_sets(store: &dyn Store) {
    seed_projects(store).await;
    let repo = store.projects();
    let full = ApiKeySetRecord {
        id: Uuid::new_v4(),
        project_id: A.to_owned(),
        description: "all three".to_owned(),
        publishable_client_key_hash: Some(hash(1)),
        secret_server_key_hash: Some(hash(2)),
        super_secret_admin_key_hash: Some(hash(3)),
        created_at_millis: 2_000,
        expires_at_millis: Some(9_000),
        revoked_at_millis: Some(5_000),
    };
    let only_client = ApiKeySetRecord {
        id: Uuid::new_v4(),
        project_id: A.to_owned(),
        description: String::new(),
        publishable_client_key_hash: Some(hash(4)),
        secret_server_key_hash: None,
        super_secret_admin_key_hash: None,
        created_at_millis: 1_000,
        expires_at_millis: None,
        revoked_at_millis: None,
    };
    let only_admin = ApiKeySetRecord {
        id: Uuid::new_v4(),
        project_id: A.to_owned(),
        description: "admin".to_owned(),
        publishable_client_key_hash: None,
        secret_server_key_hash: None,
        super_secret_admin_key_hash: Some(hash(5)),
        created_at_millis: 3_000,
        expires_at_millis: None,
        revoked_at_millis: None,
    };
    let in_b = ApiKeySetRecord {
        id: Uuid::new_v4(),
        project_id: B.to_owned(),
        publishable_client_key_hash: Some(hash(6)),
        ..only_client.clone()
    };
    for k in [&full, &only_client, &only_admin, &in_b] {
        repo.insert_key_set(k)
            .await
            .expect("insert key set (absent hashes never conflict)");
    }

    let find = |kind, h: u64, p: &'static str| async move {
        repo.find_key_set(p, kind, &hash(h))
            .await
            .expect("find key set")
    };
    assert_eq!(
        find(KeyKind::PublishableClient, 1, A).await.as_ref(),
        Some(&full)
    );
    assert_eq!(
        find(KeyKind::SecretServer, 2, A).await.as_ref(),
        Some(&full)
    );
    assert_eq!(
        find(KeyKind::SuperSecretAdmin, 3, A).await.as_ref(),
        Some(&full)
    );
    assert_eq!(
        find(KeyKind::PublishableClient, 4, A).await.as_ref(),
        Some(&only_client)
    );
    assert_eq!(
        find(KeyKind::SuperSecretAdmin, 5, A).await.as_ref(),
        Some(&only_admin)
    );
    assert_eq!(
        find(KeyKind::SecretServer, 1, A).await,
        None,
        "hash of another kind"
    );
    assert_eq!(
        find(KeyKind::SuperSecretAdmin, 2, A).await,
        None,
        "hash of another kind"
    );
    assert_eq!(
        find(KeyKind::PublishableClient, 99, A).await,
        None,
        "unknown hash"
    );
    assert_eq!(
        find(KeyKind::PublishableClient, 1, B).await,
        None,
        "other project"
    );
    assert_eq!(
        find(KeyKind::PublishableClient, 6, A).await,
        None,
        "other project"
    );
    assert_eq!(
        find(KeyKind::PublishableClient, 6, B).await.as_ref(),
        Some(&in_b)
    );

    let listed: Vec<Uuid> = repo
        .list_key_sets(A)
        .await
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(
        listed,
        [only_client.id, full.id, only_admin.id],
        "oldest first"
    );
    assert_eq!(
        repo.list_key_sets(B).await.unwrap(),
        std::slice::from_ref(&in_b)
    );
    assert!(repo.list_key_sets("nope").await.unwrap().is_empty());

    for (kind, reused) in [
        (KeyKind::PublishableClient, 1),
        (KeyKind::SecretServer, 2),
        (KeyKind::SuperSecretAdmin, 3),
    ] {
        let mut dup = ApiKeySetRecord {
            id: Uuid::new_v4(),
            publishable_client_key_hash: None,
            secret_server_key_hash: None,
            super_secret_admin_key_hash: None,
            ..full.clone()
        };
        match kind {
            KeyKind::PublishableClient => dup.publishable_client_key_hash = Some(hash(reused)),
            KeyKind::SecretServer => dup.secret_server_key_hash = Some(hash(reused)),
            KeyKind::SuperSecretAdmin => dup.super_secret_admin_key_hash = Some(hash(reused)),
        }
        expect_conflict(repo.insert_key_set(&dup).await, "reused key hash");
    }
    expect_conflict(
        repo.insert_key_set(&ApiKeySetRecord {
            description: "dup id".into(),
            ..only_admin.clone()
        })
        .await,
        "duplicate key set id",
    );

    assert!(
        !repo.delete_key_set(B, full.id).await.unwrap(),
        "delete through other project"
    );
    assert_eq!(
        find(KeyKind::SecretServer, 2, A).await.as_ref(),
        Some(&full)
    );
    assert!(repo.delete_key_set(A, full.id).await.unwrap());
    assert!(
        !repo.delete_key_set(A, full.id).await.unwrap(),
        "second delete"
    );
    assert_eq!(find(KeyKind::SecretServer, 2, A).await, None);
    assert_eq!(repo.list_key_sets(A).await.unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------
// Users

/// Every user field round-trips, `Some` and `None` alike; a duplicate id conflicts.
pub async fn user_round_trip(store: &dyn Store) {
    seed_projects(store).await;
    let repo = store.users();
    let full = full_user(A);
    let empty = user(A, 1_700_000_000_000);
    let mut null_json = user(A, 1_700_000_000_001);
    null_json.client_metadata = Some(json!(null));
    null_json.server_metadata = Some(json!({}));
    null_json.client_read_only_metadata = Some(json!("just a string"));
    null_json.totp_secret = Some(Vec::new());
    null_json.is_anonymous = true;
    null_json.display_name = Some("x".repeat(300));
    null_json.risk_score_bot = -1;
    null_json.last_active_at_millis = i64::MAX;
    for u in [&full, &empty, &null_json] {
        repo.insert(u).await.expect("insert user");
    }
    for u in [&full, &empty, &null_json] {
        let got = repo.get(A, u.id).await.unwrap().expect("user");
        assert_eq!(&got, u, "round trip");
        // Debug of a record never shows secrets (the record type guarantees it; the
        // store must not wrap it in something that does).
        assert!(!format!("{got:?}").contains("argon2"));
    }
    assert_eq!(repo.get(A, Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(repo.get(B, full.id).await.unwrap(), None, "other project");

    let mut dup = user(A, 5);
    dup.id = full.id;
    expect_conflict(repo.insert(&dup).await, "duplicate user id");
    let mut dup_b = user(B, 5);
    dup_b.id = full.id;
    expect_conflict(
        repo.insert(&dup_b).await,
        "duplicate user id in another project",
    );
    assert_eq!(repo.get(A, full.id).await.unwrap().as_ref(), Some(&full));
    expect_missing_reference(
        repo.insert(&user("no-such-project", 1)).await,
        "unknown project",
    );
}

/// `update` writes every column but the TOTP step, and nothing else; `touch` sets
/// `last_active_at` only;
/// both answer `false` for a missing user or another project's user.
pub async fn user_update_and_touch(store: &dyn Store) {
    seed_projects(store).await;
    let repo = store.users();
    let original = full_user(A);
    insert_user(store, &original).await;
    let other = user(A, 7);
    insert_user(store, &other).await;

    let mut changed = user(A, 1_800_000_000_000);
    changed.id = original.id;
    changed.display_name = Some("Renamed".to_owned());
    changed.server_metadata = Some(json!({ "replaced": [1] }));
    changed.totp_secret = Some(vec![9; 20]);
    changed.is_anonymous = true;
    changed.risk_score_free_trial_abuse = 7;
    assert!(repo.update(&changed).await.unwrap());
    changed.totp_last_step = original.totp_last_step;
    assert_eq!(
        repo.get(A, original.id).await.unwrap().as_ref(),
        Some(&changed)
    );
    assert_eq!(
        repo.get(A, other.id).await.unwrap().as_ref(),
        Some(&other),
        "others untouched"
    );

    // Back from None to Some.
    assert!(repo.update(&original).await.unwrap());
    assert_eq!(
        repo.get(A, original.id).await.unwrap().as_ref(),
        Some(&original)
    );

    assert!(!repo.update(&user(A, 1)).await.unwrap(), "missing user");
    let mut wrong_project = changed.clone();
    wrong_project.project_id = B.to_owned();
    assert!(!repo.update(&wrong_project).await.unwrap(), "other project");
    assert_eq!(
        repo.get(A, original.id).await.unwrap().as_ref(),
        Some(&original)
    );

    assert!(repo.touch(A, original.id, 1_900_000_000_000).await.unwrap());
    let touched = repo.get(A, original.id).await.unwrap().unwrap();
    assert_eq!(touched.last_active_at_millis, 1_900_000_000_000);
    assert_eq!(
        UserRecord {
            last_active_at_millis: original.last_active_at_millis,
            ..touched
        },
        original,
        "touch changes last_active_at only"
    );
    assert!(
        !repo.touch(B, original.id, 1).await.unwrap(),
        "touch through other project"
    );
    assert!(
        !repo.touch(A, Uuid::new_v4(), 1).await.unwrap(),
        "touch missing user"
    );
    assert_eq!(
        repo.get(A, original.id)
            .await
            .unwrap()
            .unwrap()
            .last_active_at_millis,
        1_900_000_000_000
    );
}

/// Deleting a user removes its channels and sessions (and nothing of other users).
pub async fn user_delete_cascades(store: &dyn Store) {
    seed_projects(store).await;
    let victim = user(A, 1);
    let bystander = user(A, 2);
    insert_user(store, &victim).await;
    insert_user(store, &bystander).await;
    let victim_mail = email(&victim, "victim@example.com", true, true, true);
    let victim_alt = email(&victim, "alt@example.com", false, false, false);
    let bystander_mail = email(&bystander, "bystander@example.com", true, true, true);
    for c in [&victim_mail, &victim_alt, &bystander_mail] {
        insert_channel(store, c).await;
    }
    let victim_session = session(&victim, 1, 10);
    let bystander_session = session(&bystander, 2, 10);
    for s in [&victim_session, &bystander_session] {
        store.sessions().insert(s).await.expect("insert session");
    }

    assert!(
        !store.users().delete(B, victim.id).await.unwrap(),
        "delete through other project"
    );
    assert!(store.users().get(A, victim.id).await.unwrap().is_some());

    assert!(store.users().delete(A, victim.id).await.unwrap());
    assert!(
        !store.users().delete(A, victim.id).await.unwrap(),
        "second delete"
    );
    assert_eq!(store.users().get(A, victim.id).await.unwrap(), None);
    assert_eq!(
        store.users().get_channel(A, victim_mail.id).await.unwrap(),
        None
    );
    assert_eq!(
        store.users().get_channel(A, victim_alt.id).await.unwrap(),
        None
    );
    assert!(
        store
            .users()
            .list_channels(A, victim.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .users()
            .find_auth_channel(A, ChannelKind::Email, "victim@example.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.sessions().get(A, victim_session.id).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .sessions()
            .find_by_token_hash(A, &victim_session.token_hash)
            .await
            .unwrap(),
        None
    );

    assert_eq!(
        store.users().get(A, bystander.id).await.unwrap().as_ref(),
        Some(&bystander)
    );
    assert_eq!(
        store.users().list_channels(A, bystander.id).await.unwrap(),
        std::slice::from_ref(&bystander_mail)
    );
    assert_eq!(
        store
            .sessions()
            .get(A, bystander_session.id)
            .await
            .unwrap()
            .as_ref(),
        Some(&bystander_session)
    );

    // The address is free again.
    let newcomer = user(A, 3);
    insert_user(store, &newcomer).await;
    insert_channel(
        store,
        &email(&newcomer, "victim@example.com", true, true, true),
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Contact channels

/// Channels: round trip, oldest-first listing, batch listing, auth lookup by exact value,
/// update of every column, delete.
pub async fn channel_round_trip_update_and_delete(store: &dyn Store) {
    seed_projects(store).await;
    let repo = store.users();
    let alice = user(A, 1);
    let bob = user(A, 2);
    let carol_b = user(B, 3);
    for u in [&alice, &bob, &carol_b] {
        insert_user(store, u).await;
    }
    let mut alice_new = email(&alice, "alice@example.com", true, true, true);
    alice_new.created_at_millis = 200;
    let mut alice_old = email(&alice, "Alice.Old@Example.com", false, false, false);
    alice_old.created_at_millis = 100;
    let bob_mail = email(&bob, "bob@example.com", true, false, true);
    let carol_mail = email(&carol_b, "carol@example.com", true, true, true);
    for c in [&alice_new, &alice_old, &bob_mail, &carol_mail] {
        insert_channel(store, c).await;
    }

    assert_eq!(
        repo.get_channel(A, alice_new.id).await.unwrap().as_ref(),
        Some(&alice_new)
    );
    assert_eq!(
        repo.get_channel(A, alice_old.id).await.unwrap().as_ref(),
        Some(&alice_old)
    );
    assert_eq!(repo.get_channel(A, Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        repo.list_channels(A, alice.id).await.unwrap(),
        [alice_old.clone(), alice_new.clone()],
        "oldest first"
    );
    assert!(
        repo.list_channels(A, Uuid::new_v4())
            .await
            .unwrap()
            .is_empty()
    );

    let mut batch = repo
        .list_channels_for_users(A, &[alice.id, bob.id, carol_b.id, Uuid::new_v4()])
        .await
        .unwrap();
    batch.sort_by_key(|c| c.created_at_millis);
    let mut expected = vec![alice_old.clone(), alice_new.clone(), bob_mail.clone()];
    expected.sort_by_key(|c| c.created_at_millis);
    assert_eq!(batch.len(), 3, "only project A's channels: {batch:?}");
    for c in &expected {
        assert!(batch.contains(c), "missing {c:?}");
    }
    assert!(
        repo.list_channels_for_users(A, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        repo.list_channels_for_users(A, &[bob.id]).await.unwrap(),
        std::slice::from_ref(&bob_mail)
    );

    let find = |value: &'static str| async move {
        repo.find_auth_channel(A, ChannelKind::Email, value)
            .await
            .unwrap()
    };
    assert_eq!(find("alice@example.com").await.as_ref(), Some(&alice_new));
    assert_eq!(
        find("bob@example.com").await.as_ref(),
        Some(&bob_mail),
        "unverified auth channel"
    );
    assert_eq!(
        find("Alice.Old@Example.com").await,
        None,
        "not used for auth"
    );
    assert_eq!(find("ALICE@EXAMPLE.COM").await, None, "exact value only");
    assert_eq!(find("alice@example").await, None, "exact value only");
    assert_eq!(find("carol@example.com").await, None, "other project");

    // Update every column: swap roles of Alice's two addresses.
    let demoted = ContactChannelRecord {
        is_primary: false,
        used_for_auth: false,
        is_verified: false,
        value: "alice@old.example.com".to_owned(),
        created_at_millis: 150,
        ..alice_new.clone()
    };
    assert!(repo.update_channel(&demoted).await.unwrap());
    let promoted = ContactChannelRecord {
        is_primary: true,
        used_for_auth: true,
        is_verified: true,
        auth_confirmed: true,
        ..alice_old.clone()
    };
    assert!(repo.update_channel(&promoted).await.unwrap());
    assert_eq!(
        repo.get_channel(A, demoted.id).await.unwrap().as_ref(),
        Some(&demoted)
    );
    assert_eq!(
        repo.get_channel(A, promoted.id).await.unwrap().as_ref(),
        Some(&promoted)
    );
    assert_eq!(
        find("alice@example.com").await,
        None,
        "no longer an auth channel"
    );
    assert_eq!(
        find("Alice.Old@Example.com").await.as_ref(),
        Some(&promoted)
    );

    assert!(
        !repo
            .update_channel(&email(&alice, "x@example.com", false, false, false))
            .await
            .unwrap()
    );
    let wrong_project = ContactChannelRecord {
        project_id: B.to_owned(),
        ..promoted.clone()
    };
    assert!(
        !repo.update_channel(&wrong_project).await.unwrap(),
        "update through other project"
    );

    assert!(
        !repo.delete_channel(B, promoted.id).await.unwrap(),
        "delete through other project"
    );
    assert!(repo.delete_channel(A, promoted.id).await.unwrap());
    assert!(
        !repo.delete_channel(A, promoted.id).await.unwrap(),
        "second delete"
    );
    assert_eq!(repo.get_channel(A, promoted.id).await.unwrap(), None);
    assert_eq!(find("Alice.Old@Example.com").await, None);
    assert_eq!(repo.list_channels(A, alice.id).await.unwrap(), [demoted]);
}

/// Channel uniqueness: auth value per project, one primary per user, one (type, value)
/// per user; non-auth values may repeat across users.
pub async fn channel_conflicts(store: &dyn Store) {
    seed_projects(store).await;
    let repo = store.users();
    let u1 = user(A, 1);
    let u2 = user(A, 2);
    let u3 = user(A, 3);
    let other_project = user(B, 4);
    for u in [&u1, &u2, &u3, &other_project] {
        insert_user(store, u).await;
    }

    insert_channel(store, &email(&u1, "taken@example.com", true, true, true)).await;
    expect_conflict(
        repo.insert_channel(&email(&u2, "taken@example.com", true, true, true))
            .await,
        "auth channel value reused in the project",
    );
    expect_conflict(
        repo.insert_channel(&email(&u2, "taken@example.com", false, false, true))
            .await,
        "auth channel value reused in the project (unverified, not primary)",
    );
    // Same value in another project, and as a non-auth channel of other users: fine.
    insert_channel(
        store,
        &email(&other_project, "taken@example.com", true, true, true),
    )
    .await;
    insert_channel(store, &email(&u2, "taken@example.com", false, true, false)).await;
    insert_channel(store, &email(&u3, "taken@example.com", false, false, false)).await;
    insert_channel(
        store,
        &email(&u2, "shared@example.com", false, false, false),
    )
    .await;
    insert_channel(
        store,
        &email(&u3, "shared@example.com", false, false, false),
    )
    .await;

    // One primary per user and kind.
    insert_channel(store, &email(&u2, "u2@example.com", true, false, false)).await;
    expect_conflict(
        repo.insert_channel(&email(&u2, "u2-second@example.com", true, false, false))
            .await,
        "second primary channel of a user",
    );
    insert_channel(store, &email(&u3, "u3@example.com", true, false, false)).await;

    // The same value twice for one user.
    expect_conflict(
        repo.insert_channel(&email(&u3, "shared@example.com", false, true, false))
            .await,
        "same value twice for one user",
    );

    // Updates hit the same constraints.
    let spare = email(&u2, "spare@example.com", false, false, false);
    insert_channel(store, &spare).await;
    expect_conflict(
        repo.update_channel(&ContactChannelRecord {
            is_primary: true,
            ..spare.clone()
        })
        .await,
        "update making a second primary",
    );
    expect_conflict(
        repo.update_channel(&ContactChannelRecord {
            used_for_auth: true,
            value: "taken@example.com".to_owned(),
            ..spare.clone()
        })
        .await,
        "update taking an auth value",
    );
    expect_conflict(
        repo.update_channel(&ContactChannelRecord {
            value: "shared@example.com".to_owned(),
            ..spare.clone()
        })
        .await,
        "update duplicating a value of the user",
    );
    assert_eq!(
        repo.get_channel(A, spare.id).await.unwrap().as_ref(),
        Some(&spare)
    );

    let mut dup_id = email(&u1, "dup-id@example.com", false, false, false);
    dup_id.id = spare.id;
    expect_conflict(repo.insert_channel(&dup_id).await, "duplicate channel id");
}

/// A channel must belong to an existing user of its own project.
pub async fn channel_requires_user_of_same_project(store: &dyn Store) {
    seed_projects(store).await;
    let ghost = user(A, 1);
    expect_missing_reference(
        store
            .users()
            .insert_channel(&email(&ghost, "ghost@example.com", true, true, true))
            .await,
        "channel of a missing user",
    );
    let in_b = user(B, 1);
    insert_user(store, &in_b).await;
    let mut cross = email(&in_b, "cross@example.com", true, true, true);
    cross.project_id = A.to_owned();
    expect_missing_reference(
        store.users().insert_channel(&cross).await,
        "channel in project A of a user of project B",
    );
    assert!(
        store
            .users()
            .list_channels(A, in_b.id)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// Sessions

/// Sessions: round trip, token lookup, newest-first listing, touch, delete, and
/// `delete_for_user` with and without `except`.
pub async fn session_lifecycle(store: &dyn Store) {
    seed_projects(store).await;
    let repo = store.sessions();
    let alice = user(A, 1);
    let bob = user(A, 2);
    insert_user(store, &alice).await;
    insert_user(store, &bob).await;

    let s1 = session(&alice, 1, 1_000);
    let s2 = SessionRecord {
        expires_at_millis: Some(99_000),
        is_impersonation: true,
        ..session(&alice, 2, 3_000)
    };
    let s3 = session(&alice, 3, 2_000);
    let s4 = session(&alice, 4, 4_000);
    let bob_s = session(&bob, 5, 5_000);
    for s in [&s1, &s2, &s3, &s4, &bob_s] {
        repo.insert(s).await.expect("insert session");
    }

    assert_eq!(repo.get(A, s2.id).await.unwrap().as_ref(), Some(&s2));
    assert_eq!(repo.get(A, s1.id).await.unwrap().as_ref(), Some(&s1));
    assert_eq!(repo.get(A, Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(
        repo.find_by_token_hash(A, &hash(2)).await.unwrap().as_ref(),
        Some(&s2)
    );
    assert_eq!(repo.find_by_token_hash(A, &hash(42)).await.unwrap(), None);
    let listed: Vec<Uuid> = repo
        .list_for_user(A, alice.id)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, [s4.id, s2.id, s3.id, s1.id], "newest first");
    assert!(
        repo.list_for_user(A, Uuid::new_v4())
            .await
            .unwrap()
            .is_empty()
    );

    let mut dup = session(&bob, 2, 9_000);
    expect_conflict(repo.insert(&dup).await, "reused token hash");
    dup.token_hash = hash(77);
    dup.id = s1.id;
    expect_conflict(repo.insert(&dup).await, "duplicate session id");

    assert!(repo.touch(A, s1.id, 50_000).await.unwrap());
    let touched = repo.get(A, s1.id).await.unwrap().unwrap();
    assert_eq!(
        touched,
        SessionRecord {
            last_active_at_millis: 50_000,
            ..s1.clone()
        },
        "touch changes last_active_at only"
    );
    assert!(!repo.touch(A, Uuid::new_v4(), 1).await.unwrap());

    assert!(repo.delete(A, s3.id).await.unwrap());
    assert!(!repo.delete(A, s3.id).await.unwrap(), "second delete");
    assert_eq!(repo.find_by_token_hash(A, &hash(3)).await.unwrap(), None);

    // Alice has s1, s2, s4 left; keep s2.
    assert_eq!(
        repo.delete_for_user(A, alice.id, Some(s2.id))
            .await
            .unwrap(),
        2
    );
    let left: Vec<Uuid> = repo
        .list_for_user(A, alice.id)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, [s2.id]);
    assert_eq!(
        repo.delete_for_user(A, alice.id, Some(s2.id))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        repo.delete_for_user(A, alice.id, Some(Uuid::new_v4()))
            .await
            .unwrap(),
        1,
        "an unknown `except` keeps nothing"
    );
    assert!(repo.list_for_user(A, alice.id).await.unwrap().is_empty());
    assert_eq!(repo.delete_for_user(A, alice.id, None).await.unwrap(), 0);
    assert_eq!(
        repo.get(A, bob_s.id).await.unwrap().as_ref(),
        Some(&bob_s),
        "bob untouched"
    );
    assert_eq!(repo.delete_for_user(A, bob.id, None).await.unwrap(), 1);
    assert_eq!(repo.get(A, bob_s.id).await.unwrap(), None);

    // A freed token hash can be reused.
    repo.insert(&session(&bob, 2, 10_000))
        .await
        .expect("reuse a deleted session's hash");
}

/// A session must belong to an existing user of its own project.
pub async fn session_requires_user_of_same_project(store: &dyn Store) {
    seed_projects(store).await;
    expect_missing_reference(
        store.sessions().insert(&session(&user(A, 1), 1, 1)).await,
        "session of a missing user",
    );
    let in_b = user(B, 1);
    insert_user(store, &in_b).await;
    let mut cross = session(&in_b, 2, 1);
    cross.project_id = A.to_owned();
    expect_missing_reference(
        store.sessions().insert(&cross).await,
        "session in project A of a user of project B",
    );
    assert!(
        store
            .sessions()
            .list_for_user(A, in_b.id)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// Isolation

/// Rows of project A are invisible and untouchable through project B.
pub async fn rows_are_invisible_across_projects(store: &dyn Store) {
    seed_projects(store).await;
    let mut alice = full_user(A);
    alice.display_name = Some("Alice".to_owned());
    insert_user(store, &alice).await;
    let mail = email(&alice, "alice@example.com", true, true, true);
    insert_channel(store, &mail).await;
    let s = session(&alice, 1, 1);
    store.sessions().insert(&s).await.unwrap();

    let users = store.users();
    let sessions = store.sessions();
    assert_eq!(users.get(B, alice.id).await.unwrap(), None);
    assert!(list(store, B, UserListQuery::default()).await.is_empty());
    for search in ["alice", "Alice", &alice.id.to_string()] {
        let query = UserListQuery {
            search: Some(search.to_owned()),
            ..Default::default()
        };
        assert!(
            list(store, B, query).await.is_empty(),
            "search {search:?} in B"
        );
    }
    let cursor = UserListQuery {
        cursor: Some(alice.id),
        ..Default::default()
    };
    assert!(
        list(store, B, cursor).await.is_empty(),
        "cursor of another project"
    );
    assert_eq!(users.get_channel(B, mail.id).await.unwrap(), None);
    assert!(users.list_channels(B, alice.id).await.unwrap().is_empty());
    assert!(
        users
            .list_channels_for_users(B, &[alice.id])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        users
            .find_auth_channel(B, ChannelKind::Email, "alice@example.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(sessions.get(B, s.id).await.unwrap(), None);
    assert_eq!(
        sessions.find_by_token_hash(B, &s.token_hash).await.unwrap(),
        None
    );
    assert!(
        sessions
            .list_for_user(B, alice.id)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(!users.touch(B, alice.id, 5).await.unwrap());
    assert!(!users.delete_channel(B, mail.id).await.unwrap());
    assert!(!sessions.touch(B, s.id, 5).await.unwrap());
    assert!(!sessions.delete(B, s.id).await.unwrap());
    assert_eq!(
        sessions.delete_for_user(B, alice.id, None).await.unwrap(),
        0
    );
    assert!(!users.delete(B, alice.id).await.unwrap());

    // All still there, unchanged, in A.
    assert_eq!(users.get(A, alice.id).await.unwrap().as_ref(), Some(&alice));
    assert_eq!(
        users.get_channel(A, mail.id).await.unwrap().as_ref(),
        Some(&mail)
    );
    assert_eq!(sessions.get(A, s.id).await.unwrap().as_ref(), Some(&s));
}

// ---------------------------------------------------------------------------------------
// User lists

/// Users with tied and distinct sign-up times, inserted in scrambled order.
async fn seed_list_users(store: &dyn Store, n: usize) -> Vec<UserRecord> {
    let mut users = Vec::new();
    for i in 0..n {
        // Times 1000, 1000, 1000, 2000, 3000, 3000, 4000, ... inserted in reverse.
        let at = match i % 5 {
            0..=2 => 1_000 + (i as i64 / 5) * 10_000,
            3 => 2_000 + (i as i64 / 5) * 10_000,
            _ => 3_000 + (i as i64 / 5) * 10_000,
        };
        users.push(user(A, at));
    }
    for u in users.iter().rev() {
        insert_user(store, u).await;
    }
    users
}

/// `list` orders by `(signed_up_at, id)`, ascending or descending.
pub async fn list_orders_by_sign_up_then_id(store: &dyn Store) {
    seed_projects(store).await;
    let users = seed_list_users(store, 12).await;
    insert_user(store, &user(B, 1_500)).await;

    let asc = list(store, A, UserListQuery::default()).await;
    assert_eq!(ids(&asc), sorted_ids(&users, false), "ascending");
    let desc = list(
        store,
        A,
        UserListQuery {
            desc: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(&desc), sorted_ids(&users, true), "descending");
    let limited = list(
        store,
        A,
        UserListQuery {
            limit: Some(4),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ids(&limited), sorted_ids(&users, false)[..4]);
    let all = list(
        store,
        A,
        UserListQuery {
            limit: Some(100),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(all.len(), users.len());
    assert!(
        list(store, "nope", UserListQuery::default())
            .await
            .is_empty()
    );
}

/// Cursor (inclusive) plus limit pages through every user exactly once, both ways.
pub async fn list_pages_with_cursor_and_limit(store: &dyn Store) {
    seed_projects(store).await;
    let users = seed_list_users(store, 17).await;
    for desc in [false, true] {
        let expected = sorted_ids(&users, desc);
        for page_size in [1u64, 3, 5, 17, 30] {
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let page = list(
                    store,
                    A,
                    UserListQuery {
                        cursor,
                        limit: Some(page_size + 1),
                        desc,
                        ..Default::default()
                    },
                )
                .await;
                let has_more = page.len() as u64 > page_size;
                seen.extend(page.iter().take(page_size as usize).map(|u| u.id));
                if !has_more {
                    break;
                }
                cursor = Some(page[page_size as usize].id);
                assert!(seen.len() <= users.len(), "paging does not terminate");
            }
            assert_eq!(seen, expected, "pages of {page_size}, desc={desc}");
        }
        // The cursor is inclusive.
        let start = expected[5];
        let from = list(
            store,
            A,
            UserListQuery {
                cursor: Some(start),
                desc,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(ids(&from), expected[5..], "cursor inclusive, desc={desc}");
    }
    let unknown = UserListQuery {
        cursor: Some(Uuid::new_v4()),
        ..Default::default()
    };
    assert!(list(store, A, unknown).await.is_empty(), "unknown cursor");
}

/// Every boolean filter of [`UserListQuery`], alone and combined.
pub async fn list_filters(store: &dyn Store) {
    seed_projects(store).await;
    // verified: a verified primary email; anonymous users have none.
    let verified = user(A, 1);
    let anon = UserRecord {
        is_anonymous: true,
        ..user(A, 2)
    };
    let restricted_verified = UserRecord {
        restricted_by_admin: true,
        ..user(A, 3)
    };
    let unverified_primary = user(A, 4);
    let verified_not_primary = user(A, 5);
    let no_channel = user(A, 6);
    let restricted_anon = UserRecord {
        is_anonymous: true,
        restricted_by_admin: true,
        ..user(A, 7)
    };
    let all = [
        &verified,
        &anon,
        &restricted_verified,
        &unverified_primary,
        &verified_not_primary,
        &no_channel,
        &restricted_anon,
    ];
    for u in all {
        insert_user(store, u).await;
    }
    insert_channel(store, &email(&verified, "v@example.com", true, true, true)).await;
    insert_channel(
        store,
        &email(&restricted_verified, "rv@example.com", true, true, false),
    )
    .await;
    insert_channel(
        store,
        &email(&unverified_primary, "up@example.com", true, false, true),
    )
    .await;
    insert_channel(
        store,
        &email(&verified_not_primary, "vnp@example.com", false, true, true),
    )
    .await;
    insert_channel(
        store,
        &email(
            &verified_not_primary,
            "vnp2@example.com",
            true,
            false,
            false,
        ),
    )
    .await;
    // Another project's users never show up.
    let in_b = user(B, 1);
    insert_user(store, &in_b).await;
    insert_channel(store, &email(&in_b, "v@example.com", true, true, true)).await;

    let run = |query: UserListQuery| async move { ids(&list(store, A, query).await) };
    let id_list = |users: &[&UserRecord]| users.iter().map(|u| u.id).collect::<Vec<_>>();

    assert_eq!(run(UserListQuery::default()).await, id_list(&all));
    assert_eq!(
        run(UserListQuery {
            exclude_anonymous: true,
            ..Default::default()
        })
        .await,
        id_list(&[
            &verified,
            &restricted_verified,
            &unverified_primary,
            &verified_not_primary,
            &no_channel
        ])
    );
    assert_eq!(
        run(UserListQuery {
            only_anonymous: true,
            ..Default::default()
        })
        .await,
        id_list(&[&anon, &restricted_anon])
    );
    assert_eq!(
        run(UserListQuery {
            exclude_restricted_by_admin: true,
            ..Default::default()
        })
        .await,
        id_list(&[
            &verified,
            &anon,
            &unverified_primary,
            &verified_not_primary,
            &no_channel
        ])
    );
    assert_eq!(
        run(UserListQuery {
            exclude_unverified_email: true,
            ..Default::default()
        })
        .await,
        id_list(&[&verified, &anon, &restricted_verified, &restricted_anon])
    );
    assert_eq!(
        run(UserListQuery {
            exclude_unverified_email: true,
            exclude_restricted_by_admin: true,
            exclude_anonymous: true,
            ..Default::default()
        })
        .await,
        id_list(&[&verified])
    );
    assert_eq!(
        run(UserListQuery {
            only_anonymous: true,
            exclude_restricted_by_admin: true,
            desc: true,
            ..Default::default()
        })
        .await,
        id_list(&[&anon])
    );
    assert!(
        run(UserListQuery {
            only_anonymous: true,
            exclude_anonymous: true,
            ..Default::default()
        })
        .await
        .is_empty()
    );
}

/// Search: case-insensitive substring of the display name or of any channel value, or an
/// exact id; `%` and `_` are literal.
pub async fn list_search(store: &dyn Store) {
    seed_projects(store).await;
    let named = |at: i64, name: &str| UserRecord {
        display_name: Some(name.to_owned()),
        ..user(A, at)
    };
    let ada = named(1, "Ada Lovelace");
    let grace = named(2, "Grace Hopper");
    let percent = named(3, "100% real");
    let digits = named(4, "1000 real");
    let underscore = named(5, "snake_case");
    let no_underscore = named(6, "snakeXcase");
    let bang = named(7, "wow!");
    let backslash = named(8, r"back\slash");
    let nameless = user(A, 9);
    let everyone = [
        &ada,
        &grace,
        &percent,
        &digits,
        &underscore,
        &no_underscore,
        &bang,
        &backslash,
        &nameless,
    ];
    for u in everyone {
        insert_user(store, u).await;
    }
    insert_channel(
        store,
        &email(&ada, "ada@analytical.engine", true, true, true),
    )
    .await;
    insert_channel(
        store,
        &email(&grace, "Grace.Hopper@Navy.MIL", true, true, true),
    )
    .await;
    insert_channel(
        store,
        &email(&grace, "cobol@compilers.example", false, false, false),
    )
    .await;
    insert_channel(
        store,
        &email(&nameless, "Anon_Y@example.com", true, false, true),
    )
    .await;
    let mut b_ada = named(1, "Ada in B");
    b_ada.project_id = B.to_owned();
    insert_user(store, &b_ada).await;
    insert_channel(store, &email(&b_ada, "ada@b.example", true, true, true)).await;

    let search = |s: &str| {
        let query = UserListQuery {
            search: Some(s.to_owned()),
            ..Default::default()
        };
        async move { ids(&list(store, A, query).await) }
    };
    let id_list = |users: &[&UserRecord]| users.iter().map(|u| u.id).collect::<Vec<_>>();

    // Display name, case-insensitive substring.
    assert_eq!(search("lovelace").await, id_list(&[&ada]));
    assert_eq!(search("GRACE hop").await, id_list(&[&grace]));
    assert_eq!(search("real").await, id_list(&[&percent, &digits]));
    // Channel values, case-insensitive, any channel (primary or not).
    assert_eq!(search("analytical").await, id_list(&[&ada]));
    assert_eq!(search("navy.mil").await, id_list(&[&grace]));
    assert_eq!(search("COBOL@").await, id_list(&[&grace]));
    assert_eq!(search("anon_y@").await, id_list(&[&nameless]));
    // Name or channel.
    assert_eq!(search("ada").await, id_list(&[&ada]));
    assert_eq!(
        search("A").await,
        id_list(&[
            &ada,
            &grace,
            &percent,
            &digits,
            &underscore,
            &no_underscore,
            &backslash,
            &nameless
        ]),
        "every user with an `a` in the name or an address"
    );
    // Exact id, in any case.
    assert_eq!(search(&grace.id.to_string()).await, id_list(&[&grace]));
    assert_eq!(
        search(&grace.id.to_string().to_uppercase()).await,
        id_list(&[&grace])
    );
    assert!(
        search(&Uuid::new_v4().to_string()).await.is_empty(),
        "unknown id"
    );
    assert!(
        search(&b_ada.id.to_string()).await.is_empty(),
        "id of another project"
    );
    // LIKE metacharacters are literal.
    assert_eq!(search("100%").await, id_list(&[&percent]));
    assert_eq!(search("%").await, id_list(&[&percent]));
    assert_eq!(search("e_c").await, id_list(&[&underscore]));
    assert_eq!(search("_").await, id_list(&[&underscore, &nameless]));
    assert_eq!(search("w!").await, id_list(&[&bang]));
    assert_eq!(search("!").await, id_list(&[&bang]));
    assert_eq!(search(r"\").await, id_list(&[&backslash]));
    assert_eq!(search(r"k\s").await, id_list(&[&backslash]));
    assert!(search("nobody-matches-this").await.is_empty());
    // Empty search does not filter.
    assert_eq!(search("").await, id_list(&everyone));
    // Search combines with order, limit and other filters.
    let query = UserListQuery {
        search: Some("REAL".to_owned()),
        desc: true,
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(ids(&list(store, A, query).await), [digits.id]);
    let query = UserListQuery {
        search: Some("a".to_owned()),
        exclude_unverified_email: true,
        ..Default::default()
    };
    assert_eq!(ids(&list(store, A, query).await), id_list(&[&ada, &grace]));
}

// ---------------------------------------------------------------------------------------
// Transactions

/// Writes inside a transaction are visible through it before commit, and through the
/// store after commit.
pub async fn transaction_commit_makes_writes_visible(store: &dyn Store) {
    seed_projects(store).await;
    let u = user(A, 1);
    let mail = email(&u, "tx@example.com", true, true, true);
    let s = session(&u, 1, 1);
    let tx = store.begin().await.expect("begin");
    tx.users().insert(&u).await.expect("insert user in tx");
    tx.users()
        .insert_channel(&mail)
        .await
        .expect("insert channel in tx");
    tx.sessions()
        .insert(&s)
        .await
        .expect("insert session in tx");
    assert_eq!(tx.users().get(A, u.id).await.unwrap().as_ref(), Some(&u));
    assert_eq!(
        tx.users()
            .find_auth_channel(A, ChannelKind::Email, "tx@example.com")
            .await
            .unwrap()
            .as_ref(),
        Some(&mail)
    );
    assert_eq!(
        ids(&tx.users().list(A, &UserListQuery::default()).await.unwrap()),
        [u.id]
    );
    assert_eq!(tx.sessions().get(A, s.id).await.unwrap().as_ref(), Some(&s));
    tx.commit().await.expect("commit");

    assert_eq!(store.users().get(A, u.id).await.unwrap().as_ref(), Some(&u));
    assert_eq!(
        store
            .users()
            .get_channel(A, mail.id)
            .await
            .unwrap()
            .as_ref(),
        Some(&mail)
    );
    assert_eq!(
        store.sessions().get(A, s.id).await.unwrap().as_ref(),
        Some(&s)
    );

    // Updates and deletes commit too.
    let tx = store.begin().await.expect("begin");
    assert!(tx.users().touch(A, u.id, 77).await.unwrap());
    assert_eq!(
        tx.sessions().delete_for_user(A, u.id, None).await.unwrap(),
        1
    );
    tx.commit().await.expect("commit");
    assert_eq!(
        store
            .users()
            .get(A, u.id)
            .await
            .unwrap()
            .unwrap()
            .last_active_at_millis,
        77
    );
    assert_eq!(store.sessions().get(A, s.id).await.unwrap(), None);
}

/// Dropping a transaction without commit rolls back every write of it.
pub async fn transaction_drop_rolls_back(store: &dyn Store) {
    seed_projects(store).await;
    let kept = user(A, 1);
    insert_user(store, &kept).await;

    let u = user(A, 2);
    let mail = email(&u, "rollback@example.com", true, true, true);
    {
        let tx = store.begin().await.expect("begin");
        tx.users().insert(&u).await.expect("insert user in tx");
        tx.users()
            .insert_channel(&mail)
            .await
            .expect("insert channel in tx");
        assert!(tx.users().touch(A, kept.id, 999).await.unwrap());
        tx.projects()
            .insert(&project("tx-project"))
            .await
            .expect("insert project in tx");
        assert!(tx.users().get(A, u.id).await.unwrap().is_some());
        // Dropped here without commit.
    }
    assert_eq!(
        store.users().get(A, u.id).await.unwrap(),
        None,
        "user rolled back"
    );
    assert_eq!(
        store.users().get_channel(A, mail.id).await.unwrap(),
        None,
        "channel rolled back"
    );
    assert_eq!(
        store
            .users()
            .find_auth_channel(A, ChannelKind::Email, "rollback@example.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.projects().get("tx-project").await.unwrap(),
        None,
        "project rolled back"
    );
    assert_eq!(
        store
            .users()
            .get(A, kept.id)
            .await
            .unwrap()
            .unwrap()
            .last_active_at_millis,
        kept.last_active_at_millis,
        "update rolled back"
    );

    // Nothing is left locked or half-written: the same rows go in again.
    let tx = store.begin().await.expect("begin after rollback");
    tx.users().insert(&u).await.expect("insert again");
    tx.users()
        .insert_channel(&mail)
        .await
        .expect("insert channel again");
    tx.commit().await.expect("commit");
    assert_eq!(
        store
            .users()
            .get_channel(A, mail.id)
            .await
            .unwrap()
            .as_ref(),
        Some(&mail)
    );

    // A transaction that hit an error is dropped, and the store carries on.
    {
        let tx = store.begin().await.expect("begin");
        let clash = user(A, 3);
        tx.users().insert(&clash).await.expect("insert user in tx");
        expect_conflict(
            tx.users()
                .insert_channel(&email(&clash, "rollback@example.com", true, true, true))
                .await,
            "auth value taken",
        );
    }
    assert_eq!(list(store, A, UserListQuery::default()).await.len(), 2);
}

/// 50 concurrent sign-ups with the same email: exactly one commits, the others get
/// [`StoreError::Conflict`], and exactly one user holds the address afterwards.
pub async fn concurrent_sign_ups_have_one_winner(store: &dyn Store) {
    seed_projects(store).await;
    const ATTEMPTS: usize = 50;
    const ADDRESS: &str = "race@example.com";

    let attempts = (0..ATTEMPTS)
        .map(|i| {
            let attempt = async move {
                let u = user(A, 1_000 + i as i64);
                let tx = store.begin().await?;
                tx.users().insert(&u).await?;
                tx.users()
                    .insert_channel(&email(&u, ADDRESS, true, false, true))
                    .await?;
                tx.commit().await?;
                Ok::<Uuid, StoreError>(u.id)
            };
            Box::pin(attempt) as Pin<Box<dyn Future<Output = StoreResult<Uuid>> + Send + '_>>
        })
        .collect();
    let results = join_all(attempts).await;

    let winners: Vec<Uuid> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    let unexpected: Vec<&StoreError> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .filter(|e| !matches!(e, StoreError::Conflict(_)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "losers must see Conflict, got {unexpected:?}"
    );
    assert_eq!(winners.len(), 1, "exactly one sign-up commits");

    let owner = store
        .users()
        .find_auth_channel(A, ChannelKind::Email, ADDRESS)
        .await
        .unwrap()
        .expect("the winner's channel");
    assert_eq!(owner.user_id, winners[0]);
    assert_eq!(
        ids(&list(store, A, UserListQuery::default()).await),
        winners,
        "losers rolled back"
    );
    let everyone: Vec<Uuid> = (0..ATTEMPTS)
        .map(|_| Uuid::new_v4())
        .chain(winners.iter().copied())
        .collect();
    assert_eq!(
        store
            .users()
            .list_channels_for_users(A, &everyone)
            .await
            .unwrap()
            .len(),
        1
    );
}

fn api_key(
    project_id: &str,
    owner: ApiKeyOwner,
    hash: &str,
    created_at_millis: i64,
) -> ApiKeyRecord {
    ApiKeyRecord {
        project_id: project_id.to_owned(),
        id: Uuid::new_v4(),
        owner,
        description: format!("key {hash}"),
        is_public: false,
        secret_hash: hash.to_owned(),
        last_four: "abcd".to_owned(),
        created_at_millis,
        expires_at_millis: None,
        revoked_at_millis: None,
    }
}

/// API keys: every field round-trips for user and team keys; other projects see nothing
/// (except the credential-scanning lookup); lists are newest first per owner; a duplicate
/// hash conflicts; update changes only description, expiry and revocation.
pub async fn api_key_round_trip_isolation_and_order(store: &dyn Store) {
    seed_projects(store).await;
    let user = user(A, 1);
    store.users().insert(&user).await.expect("insert user");
    let repo = store.api_keys();
    let mut first = api_key(A, ApiKeyOwner::User(user.id), "h1", 10);
    first.is_public = true;
    first.expires_at_millis = Some(99);
    repo.insert(&first).await.expect("insert user key");
    let second = api_key(A, ApiKeyOwner::User(user.id), "h2", 20);
    repo.insert(&second).await.expect("insert second key");
    let team = Uuid::new_v4();
    let team_key = api_key(A, ApiKeyOwner::Team(team), "h3", 30);
    repo.insert(&team_key).await.expect("insert team key");

    assert_eq!(repo.get(A, first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(
        repo.get(A, team_key.id).await.unwrap(),
        Some(team_key.clone())
    );
    assert_eq!(
        repo.get(B, first.id).await.unwrap(),
        None,
        "invisible from another project"
    );
    assert_eq!(
        repo.find_in_any_project(first.id).await.unwrap(),
        Some(first.clone())
    );
    let listed: Vec<Uuid> = repo
        .list_for_user(A, user.id)
        .await
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, vec![second.id, first.id], "newest first");
    assert!(repo.list_for_user(B, user.id).await.unwrap().is_empty());
    assert_eq!(
        repo.list_for_team(A, team).await.unwrap(),
        vec![team_key.clone()]
    );

    let dup = api_key(A, ApiKeyOwner::User(user.id), "h1", 40);
    assert!(
        matches!(repo.insert(&dup).await, Err(StoreError::Conflict(_))),
        "hashes are unique"
    );

    let mut changed = first.clone();
    changed.description = "renamed".into();
    changed.expires_at_millis = None;
    changed.revoked_at_millis = Some(50);
    changed.secret_hash = "other".into();
    changed.last_four = "zzzz".into();
    changed.is_public = false;
    changed.created_at_millis = 0;
    assert!(repo.update(&changed).await.unwrap());
    let got = repo.get(A, first.id).await.unwrap().unwrap();
    assert_eq!(
        (
            got.description.as_str(),
            got.expires_at_millis,
            got.revoked_at_millis
        ),
        ("renamed", None, Some(50))
    );
    assert_eq!(
        (
            got.secret_hash.as_str(),
            got.last_four.as_str(),
            got.is_public,
            got.created_at_millis
        ),
        ("h1", "abcd", true, 10),
        "immutable fields are kept"
    );
    let mut other_project = changed.clone();
    other_project.project_id = B.into();
    assert!(
        !repo.update(&other_project).await.unwrap(),
        "no update across projects"
    );
}

/// API keys: a user key needs a user of its own project; keys go with their user; a
/// rolled-back insert leaves nothing.
pub async fn api_key_owner_rules_and_cascade(store: &dyn Store) {
    seed_projects(store).await;
    let user = user(A, 1);
    store.users().insert(&user).await.expect("insert user");
    let repo = store.api_keys();
    let ghost = api_key(A, ApiKeyOwner::User(Uuid::new_v4()), "g1", 1);
    assert!(matches!(
        repo.insert(&ghost).await,
        Err(StoreError::MissingReference(_))
    ));
    let foreign = api_key(B, ApiKeyOwner::User(user.id), "g2", 1);
    assert!(
        matches!(
            repo.insert(&foreign).await,
            Err(StoreError::MissingReference(_))
        ),
        "a user of another project is not an owner"
    );
    let key = api_key(A, ApiKeyOwner::User(user.id), "g3", 1);
    repo.insert(&key).await.unwrap();
    assert!(store.users().delete(A, user.id).await.unwrap());
    assert_eq!(
        repo.get(A, key.id).await.unwrap(),
        None,
        "deleted with the user"
    );

    let owner = self::user(A, 2);
    store.users().insert(&owner).await.unwrap();
    let tx = store.begin().await.unwrap();
    let rolled_back = api_key(A, ApiKeyOwner::User(owner.id), "g4", 1);
    tx.api_keys().insert(&rolled_back).await.unwrap();
    assert!(
        tx.api_keys()
            .get(A, rolled_back.id)
            .await
            .unwrap()
            .is_some(),
        "visible inside the transaction"
    );
    drop(tx);
    assert_eq!(
        repo.get(A, rolled_back.id).await.unwrap(),
        None,
        "gone after rollback"
    );
}

// ---------------------------------------------------------------------------------------
// Verification codes, outbox

fn code_record(
    project_id: &str,
    purpose: CodePurpose,
    user: Option<Uuid>,
    n: u8,
) -> VerificationCodeRecord {
    VerificationCodeRecord {
        project_id: project_id.to_owned(),
        id: Uuid::new_v4(),
        purpose,
        code_hash: format!("code-hash-{project_id}-{n}"),
        nonce_hash: format!("nonce-hash-{}", n / 2),
        user_id: user,
        data: json!({ "email": "a@example.com", "n": n }),
        created_at_millis: 1_000,
        expires_at_millis: 2_000,
        used_at_millis: None,
        attempt_count: 0,
    }
}

/// Codes: found only by project, purpose and nonce hash; attempts count per nonce across
/// purposes; single use under races; unused codes of a user deleted; codes go with their
/// user; a code for a user of another project is refused.
pub async fn codes_lookup_attempts_single_use_and_cascade(store: &dyn Store) {
    seed_projects(store).await;
    let u = user(A, 1);
    insert_user(store, &u).await;
    let c0 = code_record(A, CodePurpose::PasswordReset, Some(u.id), 0);
    let c1 = code_record(A, CodePurpose::ContactChannelVerification, Some(u.id), 1);
    let c2 = code_record(A, CodePurpose::PasswordReset, None, 2);
    for c in [&c0, &c1, &c2] {
        store.codes().insert(c).await.expect("insert code");
    }
    let codes = store.codes();
    assert_eq!(
        codes
            .find_by_nonce(A, CodePurpose::PasswordReset, &c0.nonce_hash)
            .await
            .unwrap(),
        Some(c0.clone())
    );
    assert_eq!(
        codes
            .find_by_nonce(A, CodePurpose::ContactChannelVerification, &c2.nonce_hash)
            .await
            .unwrap(),
        None,
        "another purpose does not see the code"
    );
    assert_eq!(
        codes
            .find_by_nonce(B, CodePurpose::PasswordReset, &c0.nonce_hash)
            .await
            .unwrap(),
        None
    );
    // c0 and c1 share nonce 0; c2 has nonce 1.
    assert_eq!(codes.count_attempt(A, &c0.nonce_hash).await.unwrap(), 2);
    assert_eq!(codes.count_attempt(A, &c0.nonce_hash).await.unwrap(), 2);
    assert_eq!(codes.count_attempt(B, &c0.nonce_hash).await.unwrap(), 0);
    let got = codes
        .find_by_nonce(A, CodePurpose::ContactChannelVerification, &c1.nonce_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.attempt_count, 2);
    let got = codes
        .find_by_nonce(A, CodePurpose::PasswordReset, &c2.nonce_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.attempt_count, 0);

    // Single use: inside a transaction, then never again.
    let tx = store.begin().await.unwrap();
    let first = tx.codes().mark_used(A, c0.id, 1_500).await.unwrap();
    tx.commit().await.unwrap();
    let second = store.codes().mark_used(A, c0.id, 1_600).await.unwrap();
    assert!(first && !second, "exactly one use wins");
    let got = codes
        .find_by_nonce(A, CodePurpose::PasswordReset, &c0.nonce_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.used_at_millis, Some(1_500));
    assert!(
        !codes.mark_used(B, c1.id, 1).await.unwrap(),
        "other project"
    );

    // Unused codes of a purpose and user go; used ones stay.
    let c3 = code_record(A, CodePurpose::PasswordReset, Some(u.id), 3);
    codes.insert(&c3).await.unwrap();
    assert_eq!(
        codes
            .delete_unused_for_user(A, CodePurpose::PasswordReset, u.id)
            .await
            .unwrap(),
        1
    );
    assert!(
        codes
            .find_by_nonce(A, CodePurpose::PasswordReset, &c0.nonce_hash)
            .await
            .unwrap()
            .is_some()
    );

    // Hashes are unique; users of another project are refused; codes go with the user.
    assert!(matches!(
        codes.insert(&c2).await,
        Err(StoreError::Conflict(_))
    ));
    let foreign = code_record(B, CodePurpose::PasswordReset, Some(u.id), 9);
    assert!(matches!(
        codes.insert(&foreign).await,
        Err(StoreError::MissingReference(_))
    ));
    assert!(store.users().delete(A, u.id).await.unwrap());
    assert_eq!(
        codes
            .find_by_nonce(A, CodePurpose::ContactChannelVerification, &c1.nonce_hash)
            .await
            .unwrap(),
        None
    );
    assert!(
        codes
            .find_by_nonce(A, CodePurpose::PasswordReset, &c2.nonce_hash)
            .await
            .unwrap()
            .is_some()
    );
}

fn outbox_record(project_id: &str, next: i64) -> OutboxRecord {
    OutboxRecord {
        id: Uuid::new_v4(),
        project_id: project_id.to_owned(),
        kind: "email".into(),
        payload: format!("sealed-{next}"),
        status: OutboxStatus::Pending,
        attempts: 0,
        created_at_millis: next,
        next_attempt_at_millis: next,
        sent_at_millis: None,
        last_error: None,
    }
}

/// Outbox: due messages oldest first and limited; a claim succeeds once per seen lease;
/// updates round-trip; a rolled-back insert leaves nothing; listing is per project.
pub async fn outbox_due_claim_update_and_isolation(store: &dyn Store) {
    seed_projects(store).await;
    let (m1, m2, m3) = (
        outbox_record(A, 100),
        outbox_record(B, 200),
        outbox_record(A, 300),
    );
    for m in [&m3, &m1, &m2] {
        store.outbox().insert(m).await.expect("insert message");
    }
    let due = store.outbox().due(250, 10).await.unwrap();
    assert_eq!(due, vec![m1.clone(), m2.clone()]);
    assert_eq!(
        store.outbox().due(1_000, 1).await.unwrap(),
        vec![m1.clone()]
    );

    assert!(store.outbox().claim(m1.id, 100, 60_100).await.unwrap());
    assert!(
        !store.outbox().claim(m1.id, 100, 60_200).await.unwrap(),
        "claimed already"
    );
    assert_eq!(
        store.outbox().due(1_000, 10).await.unwrap(),
        vec![m2.clone(), m3.clone()]
    );

    let mut sent = m1.clone();
    sent.status = OutboxStatus::Sent;
    sent.payload = String::new();
    sent.sent_at_millis = Some(500);
    sent.attempts = 2;
    sent.next_attempt_at_millis = 60_100;
    sent.last_error = Some("refused".into());
    assert!(store.outbox().update(&sent).await.unwrap());
    assert_eq!(store.outbox().get(m1.id).await.unwrap(), Some(sent.clone()));
    assert!(
        store
            .outbox()
            .due(100_000, 10)
            .await
            .unwrap()
            .iter()
            .all(|m| m.id != m1.id),
        "sent messages are not due"
    );
    assert!(
        !store.outbox().claim(m1.id, 60_100, 70_000).await.unwrap(),
        "not pending"
    );

    let tx = store.begin().await.unwrap();
    tx.outbox().insert(&outbox_record(A, 1)).await.unwrap();
    drop(tx);
    assert_eq!(
        store.outbox().list(A).await.unwrap(),
        vec![sent, m3.clone()]
    );
    assert_eq!(store.outbox().list(B).await.unwrap(), vec![m2]);
}

/// All channels of a project, oldest first, none of another project.
pub async fn project_channels_list_in_creation_order(store: &dyn Store) {
    seed_projects(store).await;
    let (u1, u2, other) = (user(A, 1), user(A, 2), user(B, 3));
    for u in [&u1, &u2, &other] {
        insert_user(store, u).await;
    }
    let mut expected = Vec::new();
    for (i, (u, project)) in [(&u2, A), (&u1, A), (&other, B), (&u2, A)]
        .into_iter()
        .enumerate()
    {
        let c = ContactChannelRecord {
            project_id: project.to_owned(),
            id: Uuid::new_v4(),
            user_id: u.id,
            kind: ChannelKind::Email,
            value: format!("c{i}@example.com"),
            is_primary: false,
            is_verified: false,
            used_for_auth: false,
            auth_confirmed: false,
            created_at_millis: 10 + i as i64,
        };
        insert_channel(store, &c).await;
        if project == A {
            expected.push(c);
        }
    }
    assert_eq!(
        store.users().list_project_channels(A).await.unwrap(),
        expected
    );
}

fn team(project_id: &str, name: &str, at: i64) -> TeamRecord {
    TeamRecord {
        project_id: project_id.to_owned(),
        id: Uuid::new_v4(),
        display_name: name.to_owned(),
        profile_image_url: None,
        client_metadata: Some(json!({"k": name})),
        client_read_only_metadata: None,
        server_metadata: Some(json!([1, 2])),
        created_at_millis: at,
    }
}

fn member(t: &TeamRecord, u: &UserRecord, at: i64) -> TeamMemberRecord {
    TeamMemberRecord {
        project_id: t.project_id.clone(),
        team_id: t.id,
        user_id: u.id,
        display_name: None,
        profile_image_url: None,
        created_at_millis: at,
    }
}

/// Teams round-trip; memberships are unique, need a team and user of the same project, and
/// go with either; removing a membership or the team clears the user's selection of it.
pub async fn teams_members_and_selection(store: &dyn Store) {
    seed_projects(store).await;
    let (u1, u2, foreign) = (user(A, 1), user(A, 2), user(B, 3));
    for u in [&u1, &u2, &foreign] {
        insert_user(store, u).await;
    }
    let (t1, t2, tb) = (team(A, "one", 10), team(A, "two", 20), team(B, "b", 5));
    for t in [&t2, &t1, &tb] {
        store.teams().insert(t).await.expect("insert team");
    }
    let teams = store.teams();
    assert_eq!(teams.get(A, t1.id).await.unwrap(), Some(t1.clone()));
    assert_eq!(teams.get(B, t1.id).await.unwrap(), None);
    assert_eq!(teams.list(A).await.unwrap(), vec![t1.clone(), t2.clone()]);
    let mut renamed = t1.clone();
    renamed.display_name = "renamed".into();
    renamed.server_metadata = None;
    assert!(teams.update(&renamed).await.unwrap());

    teams.add_member(&member(&t2, &u1, 30)).await.unwrap();
    teams.add_member(&member(&t1, &u1, 40)).await.unwrap();
    teams.add_member(&member(&t1, &u2, 50)).await.unwrap();
    assert!(matches!(
        teams.add_member(&member(&t1, &u1, 60)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        matches!(
            teams.add_member(&member(&t1, &foreign, 60)).await,
            Err(StoreError::MissingReference(_))
        ),
        "a user of another project cannot join"
    );
    assert_eq!(
        teams.list_for_user(A, u1.id).await.unwrap(),
        vec![t2.clone(), renamed.clone()],
        "in membership order"
    );
    let mut m = member(&t1, &u2, 50);
    m.display_name = Some("Two in one".into());
    assert!(teams.update_member(&m).await.unwrap());
    assert_eq!(
        teams.get_member(A, t1.id, u2.id).await.unwrap(),
        Some(m.clone())
    );
    assert_eq!(teams.list_members(A, t1.id).await.unwrap().len(), 2);

    // Selection is cleared with the membership, and with the team.
    for (u, t) in [(&u1, &t1), (&u2, &t1)] {
        let mut r = store.users().get(A, u.id).await.unwrap().unwrap();
        r.selected_team_id = Some(t.id);
        store.users().update(&r).await.unwrap();
    }
    assert!(teams.remove_member(A, t1.id, u1.id).await.unwrap());
    assert!(!teams.remove_member(A, t1.id, u1.id).await.unwrap());
    assert_eq!(
        store
            .users()
            .get(A, u1.id)
            .await
            .unwrap()
            .unwrap()
            .selected_team_id,
        None
    );
    assert_eq!(
        store
            .users()
            .get(A, u2.id)
            .await
            .unwrap()
            .unwrap()
            .selected_team_id,
        Some(t1.id)
    );
    assert!(teams.delete(A, t1.id).await.unwrap());
    assert_eq!(
        store
            .users()
            .get(A, u2.id)
            .await
            .unwrap()
            .unwrap()
            .selected_team_id,
        None
    );
    assert_eq!(teams.get_member(A, t1.id, u2.id).await.unwrap(), None);
    // Memberships go with the user.
    assert!(store.users().delete(A, u1.id).await.unwrap());
    assert_eq!(teams.list_members(A, t2.id).await.unwrap(), vec![]);
}

fn grant(project: &str, team: Option<Uuid>, user: Uuid, id: &str) -> PermissionGrantRecord {
    PermissionGrantRecord {
        project_id: project.to_owned(),
        team_id: team,
        user_id: user,
        permission_id: id.to_owned(),
    }
}

/// Grants: idempotent, need a membership (team) or user (project) of the same project,
/// listed sorted, renamed and deleted by id, and gone with the membership or the user.
pub async fn permission_grants_idempotent_scoped_and_cascading(store: &dyn Store) {
    seed_projects(store).await;
    let (u1, u2) = (user(A, 1), user(A, 2));
    insert_user(store, &u1).await;
    insert_user(store, &u2).await;
    let t = team(A, "t", 1);
    store.teams().insert(&t).await.unwrap();
    store.teams().add_member(&member(&t, &u1, 2)).await.unwrap();
    let perms = store.permissions();
    for g in [
        grant(A, Some(t.id), u1.id, "b"),
        grant(A, Some(t.id), u1.id, "$read_members"),
        grant(A, Some(t.id), u1.id, "b"),
        grant(A, None, u1.id, "p"),
        grant(A, None, u2.id, "p"),
    ] {
        perms.grant(&g).await.expect("grant");
    }
    assert!(
        matches!(
            perms.grant(&grant(A, Some(t.id), u2.id, "b")).await,
            Err(StoreError::MissingReference(_))
        ),
        "a team grant needs a membership"
    );
    assert!(
        matches!(
            perms.grant(&grant(B, None, u1.id, "p")).await,
            Err(StoreError::MissingReference(_))
        ),
        "a project grant needs a user of the project"
    );
    assert_eq!(
        perms.list_team(A, Some(t.id), Some(u1.id)).await.unwrap(),
        vec![
            grant(A, Some(t.id), u1.id, "$read_members"),
            grant(A, Some(t.id), u1.id, "b")
        ]
    );
    assert_eq!(perms.list_project(A, None).await.unwrap().len(), 2);
    assert_eq!(
        perms.list_project(A, Some(u2.id)).await.unwrap(),
        vec![grant(A, None, u2.id, "p")]
    );
    assert_eq!(perms.list_team(B, None, None).await.unwrap(), vec![]);

    assert_eq!(perms.rename(A, "b", "c").await.unwrap(), 1);
    assert_eq!(perms.rename(A, "p", "q").await.unwrap(), 2);
    assert!(
        perms
            .revoke(&grant(A, Some(t.id), u1.id, "c"))
            .await
            .unwrap()
    );
    assert!(
        !perms
            .revoke(&grant(A, Some(t.id), u1.id, "c"))
            .await
            .unwrap()
    );
    assert_eq!(perms.delete_permission(A, "q").await.unwrap(), 2);
    assert_eq!(perms.list_project(A, None).await.unwrap(), vec![]);

    // Team grants go with the membership.
    assert!(store.teams().remove_member(A, t.id, u1.id).await.unwrap());
    assert_eq!(perms.list_team(A, Some(t.id), None).await.unwrap(), vec![]);
    // Project grants go with the user.
    perms.grant(&grant(A, None, u2.id, "p")).await.unwrap();
    assert!(store.users().delete(A, u2.id).await.unwrap());
    assert_eq!(perms.list_project(A, None).await.unwrap(), vec![]);
}

/// Files: bytes round-trip exactly, found only in their bucket, gone with the project.
pub async fn files_round_trip_by_bucket(store: &dyn Store) {
    seed_projects(store).await;
    let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let f = FileRecord {
        project_id: A.to_owned(),
        id: Uuid::new_v4(),
        bucket: "user-profile-images".into(),
        content_type: "image/png".into(),
        data,
        created_at_millis: 5,
    };
    store.files().insert(&f).await.expect("insert file");
    assert_eq!(
        store
            .files()
            .get("user-profile-images", f.id)
            .await
            .unwrap(),
        Some(f.clone())
    );
    assert_eq!(
        store
            .files()
            .get("team-profile-images", f.id)
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store.files().insert(&f).await,
        Err(StoreError::Conflict(_))
    ));
}

/// Vault entries: upsert by (project, store, key hash), separate per store and project.
pub async fn vault_entries_upsert_by_store_and_key(store: &dyn Store) {
    seed_projects(store).await;
    let e = |project: &str, s: &str, k: &str, c: &str| VaultEntryRecord {
        project_id: project.to_owned(),
        store_id: s.to_owned(),
        key_hash: k.to_owned(),
        wrapped_key: format!("wrapped-{c}"),
        ciphertext: c.to_owned(),
        updated_at_millis: 1,
    };
    let vault = store.vault();
    vault.upsert(&e(A, "s", "k", "one")).await.unwrap();
    vault.upsert(&e(A, "s2", "k", "other-store")).await.unwrap();
    vault
        .upsert(&e(B, "s", "k", "other-project"))
        .await
        .unwrap();
    vault.upsert(&e(A, "s", "k", "two")).await.unwrap();
    assert_eq!(
        vault.get(A, "s", "k").await.unwrap(),
        Some(e(A, "s", "k", "two"))
    );
    assert_eq!(
        vault.get(A, "s2", "k").await.unwrap().unwrap().ciphertext,
        "other-store"
    );
    assert_eq!(
        vault.get(B, "s", "k").await.unwrap().unwrap().ciphertext,
        "other-project"
    );
    assert_eq!(vault.get(A, "s", "missing").await.unwrap(), None);
}

/// Throttle counters: windows start over, failure runs count reservations atomically (even
/// when concurrent) and record failure times, clear and purge; projects apart.
pub async fn throttle_counters_windows_and_runs(store: &dyn Store) {
    seed_projects(store).await;
    let t = store.throttle();
    let hit = |w: i64, now: i64| t.hit(A, "mail:x", w, now);
    assert_eq!(hit(1_000, 1_001).await.unwrap().count, 1);
    assert_eq!(hit(1_000, 1_002).await.unwrap().count, 2);
    let r = hit(1_000, 1_003).await.unwrap();
    assert_eq!(
        (r.count, r.window_start_millis, r.updated_at_millis),
        (3, 1_000, 1_003)
    );
    let r = hit(2_000, 2_001).await.unwrap();
    assert_eq!(
        (r.count, r.window_start_millis),
        (1, 2_000),
        "a new window starts over"
    );
    assert_eq!(t.hit(B, "mail:x", 2_000, 2_001).await.unwrap().count, 1);

    let r = t.reserve(A, "fail:password:u", 10).await.unwrap();
    assert_eq!(
        (r.count, r.window_start_millis, r.updated_at_millis),
        (1, 10, 0),
        "no failure yet"
    );
    t.fail(A, "fail:password:u", 20).await.unwrap();
    let r = t.reserve(A, "fail:password:u", 30).await.unwrap();
    assert_eq!(
        (r.count, r.window_start_millis, r.updated_at_millis),
        (2, 10, 20)
    );
    t.release(A, "fail:password:u").await.unwrap();
    assert_eq!(
        t.get(A, "fail:password:u").await.unwrap().map(|r| r.count),
        Some(1)
    );
    assert_eq!(t.get(B, "fail:password:u").await.unwrap(), None);
    t.release(B, "fail:password:u").await.unwrap();
    t.fail(B, "fail:password:u", 5).await.unwrap();
    assert_eq!(
        t.get(B, "fail:password:u").await.unwrap(),
        None,
        "nothing is created"
    );
    assert!(t.clear(A, "fail:password:u").await.unwrap());
    assert!(!t.clear(A, "fail:password:u").await.unwrap());
    t.release(A, "fail:password:u").await.unwrap();

    let futures: Vec<Pin<Box<dyn Future<Output = i64> + Send + '_>>> = (0..16)
        .map(|i| {
            Box::pin(async move { t.reserve(A, "fail:code:c", 500 + i).await.unwrap().count })
                as Pin<Box<dyn Future<Output = i64> + Send + '_>>
        })
        .collect();
    let mut counts = join_all(futures).await;
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=16).collect::<Vec<i64>>(),
        "every reservation counted once"
    );
    t.release(A, "fail:code:c").await.unwrap();
    assert_eq!(
        t.get(A, "fail:code:c").await.unwrap().map(|r| r.count),
        Some(15)
    );
    t.fail(A, "fail:code:c", 550).await.unwrap();
    t.reserve(A, "fail:code:in-flight", 700).await.unwrap();

    assert_eq!(t.purge(600).await.unwrap(), 1);
    assert_eq!(t.get(A, "fail:code:c").await.unwrap(), None);
    assert!(
        t.get(A, "fail:code:in-flight").await.unwrap().is_some(),
        "started at 700, its attempt still in flight: kept"
    );
    assert!(
        t.get(A, "mail:x").await.unwrap().is_some(),
        "touched at 2_001: kept"
    );
}

/// Recovery codes: replaced as a set, each usable once by its own user, counted, and gone
/// with the user.
pub async fn recovery_codes_single_use_and_cascade(store: &dyn Store) {
    seed_projects(store).await;
    let (u, other) = (user(A, 1), user(A, 2));
    insert_user(store, &u).await;
    insert_user(store, &other).await;
    let code = |u: &UserRecord, h: &str| RecoveryCodeRecord {
        project_id: A.to_owned(),
        user_id: u.id,
        id: Uuid::new_v4(),
        code_hash: h.to_owned(),
        created_at_millis: 1,
        used_at_millis: None,
    };
    let rc = store.recovery_codes();
    rc.replace_for_user(A, u.id, &[code(&u, "h1"), code(&u, "h2")])
        .await
        .unwrap();
    rc.replace_for_user(A, other.id, &[code(&other, "h1")])
        .await
        .unwrap();
    assert_eq!(rc.count_unused(A, u.id).await.unwrap(), 2);
    assert!(rc.use_code(A, u.id, "h1", 5).await.unwrap());
    assert!(!rc.use_code(A, u.id, "h1", 6).await.unwrap(), "single use");
    assert!(!rc.use_code(A, u.id, "nope", 6).await.unwrap());
    assert!(
        !rc.use_code(B, u.id, "h2", 6).await.unwrap(),
        "other project"
    );
    assert_eq!(rc.count_unused(A, u.id).await.unwrap(), 1);
    assert_eq!(
        rc.count_unused(A, other.id).await.unwrap(),
        1,
        "other user untouched"
    );
    rc.replace_for_user(A, u.id, &[code(&u, "h3")])
        .await
        .unwrap();
    assert!(!rc.use_code(A, u.id, "h2", 7).await.unwrap(), "replaced");
    assert_eq!(rc.count_unused(A, u.id).await.unwrap(), 1);
    assert!(matches!(
        rc.replace_for_user(A, Uuid::new_v4(), &[code(&user(A, 3), "h")])
            .await,
        Err(StoreError::MissingReference(_))
    ));
    assert!(store.users().delete(A, u.id).await.unwrap());
    assert_eq!(rc.count_unused(A, u.id).await.unwrap(), 0);
    assert_eq!(rc.delete_for_user(A, other.id).await.unwrap(), 1);
}

/// The audit log: appended, listed newest first, filtered by user, type and time, paged by
/// id, apart per project, and kept when its user is deleted.
pub async fn audit_log_appends_filters_and_pages(store: &dyn Store) {
    seed_projects(store).await;
    let u = user(A, 1);
    insert_user(store, &u).await;
    let mut ids = Vec::new();
    for i in 0..6i64 {
        let e = AuditEventRecord {
            project_id: A.to_owned(),
            id: Uuid::now_v7(),
            at_millis: 100 + i,
            event_type: if i % 2 == 0 {
                "sign_in.succeeded"
            } else {
                "password.changed"
            }
            .to_owned(),
            user_id: (i < 4).then_some(u.id),
            actor: format!("user:{}", u.id),
            ip: (i == 0).then(|| "203.0.113.7".to_owned()),
            details: json!({ "i": i, "nested": { "ok": true } }),
        };
        store.audit().insert(&e).await.unwrap();
        ids.push(e);
        // v7 ids are ordered by their millisecond; keep them apart.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let mut other = ids[0].clone();
    other.project_id = B.to_owned();
    other.id = Uuid::now_v7();
    store.audit().insert(&other).await.unwrap();
    let list = |q: AuditQuery| async move { store.audit().list(A, &q).await.unwrap() };
    let all = list(AuditQuery {
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        ids.iter().rev().map(|e| e.id).collect::<Vec<_>>()
    );
    assert_eq!(all.last().unwrap(), &ids[0], "every field round-trips");
    let mine = list(AuditQuery {
        user_id: Some(u.id),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(mine.len(), 4);
    let typed = list(AuditQuery {
        event_types: vec!["password.changed".into()],
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(typed.len(), 3);
    let window = list(AuditQuery {
        since_millis: Some(102),
        until_millis: Some(104),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(
        window.iter().map(|e| e.at_millis).collect::<Vec<_>>(),
        vec![103, 102]
    );
    let page1 = list(AuditQuery {
        limit: 4,
        ..Default::default()
    })
    .await;
    let page2 = list(AuditQuery {
        limit: 4,
        before: Some(page1[3].id),
        ..Default::default()
    })
    .await;
    assert_eq!(page1.len() + page2.len(), 6);
    assert_eq!(page2[0].id, ids[1].id);
    assert!(store.users().delete(A, u.id).await.unwrap());
    assert_eq!(
        list(AuditQuery {
            user_id: Some(u.id),
            limit: 100,
            ..Default::default()
        })
        .await
        .len(),
        4,
        "kept after the user"
    );
}

/// The TOTP step only moves forward, atomically; a general update never moves it back.
pub async fn totp_steps_only_move_forward(store: &dyn Store) {
    seed_projects(store).await;
    let u = user(A, 1);
    insert_user(store, &u).await;
    let users = store.users();
    assert!(users.advance_totp_step(A, u.id, 10).await.unwrap());
    assert!(
        !users.advance_totp_step(A, u.id, 10).await.unwrap(),
        "same step again"
    );
    assert!(
        !users.advance_totp_step(A, u.id, 9).await.unwrap(),
        "earlier step"
    );
    assert!(
        !users.advance_totp_step(B, u.id, 11).await.unwrap(),
        "other project"
    );
    let mut stale = u.clone();
    stale.display_name = Some("renamed".into());
    assert!(users.update(&stale).await.unwrap());
    let now = users.get(A, u.id).await.unwrap().unwrap();
    assert_eq!(
        now.totp_last_step,
        Some(10),
        "an update of a stale record keeps the step"
    );
    assert_eq!(now.display_name.as_deref(), Some("renamed"));
    let futures: Vec<Pin<Box<dyn Future<Output = bool> + Send + '_>>> = (0..8)
        .map(|_| {
            Box::pin(async move { users.advance_totp_step(A, u.id, 20).await.unwrap() })
                as Pin<Box<dyn Future<Output = bool> + Send + '_>>
        })
        .collect();
    let won = join_all(futures).await.into_iter().filter(|w| *w).count();
    assert_eq!(won, 1, "one concurrent use of a step wins");
}

/// The claim time and the sign-in confirmation of channels round-trip; a user's keys are
/// revoked in bulk (once), and files are deleted by project and bucket.
pub async fn security_columns_and_bulk_revocation(store: &dyn Store) {
    seed_projects(store).await;
    let mut u = user(A, 1);
    u.claimed_at_millis = Some(77);
    insert_user(store, &u).await;
    let mut c = email(&u, "x@example.com", true, false, true);
    c.auth_confirmed = false;
    insert_channel(store, &c).await;
    assert_eq!(
        store
            .users()
            .get(A, u.id)
            .await
            .unwrap()
            .unwrap()
            .claimed_at_millis,
        Some(77)
    );
    assert!(
        !store
            .users()
            .get_channel(A, c.id)
            .await
            .unwrap()
            .unwrap()
            .auth_confirmed
    );
    // Unconfirmed, the address reserves nothing: another account may claim it for sign-in,
    // and the sign-in lookup does not find the unconfirmed one.
    let mut v = user(A, 2);
    v.claimed_at_millis = None;
    insert_user(store, &v).await;
    let squatted = email(&v, "x@example.com", true, false, true);
    insert_channel(store, &squatted).await;
    let found = store
        .users()
        .find_auth_channel(A, ChannelKind::Email, "x@example.com")
        .await
        .unwrap();
    assert_eq!(found.map(|f| f.id), Some(squatted.id));
    c.auth_confirmed = true;
    assert!(
        matches!(
            store.users().update_channel(&c).await,
            Err(crate::storage::StoreError::Conflict(_))
        ),
        "confirming an address another account signs in with conflicts"
    );
    assert!(store.users().delete_channel(A, squatted.id).await.unwrap());
    assert!(store.users().update_channel(&c).await.unwrap());
    assert!(
        store
            .users()
            .get_channel(A, c.id)
            .await
            .unwrap()
            .unwrap()
            .auth_confirmed
    );

    let key = |owner: ApiKeyOwner, revoked: Option<i64>| ApiKeyRecord {
        project_id: A.to_owned(),
        id: Uuid::new_v4(),
        owner,
        description: "k".into(),
        is_public: false,
        secret_hash: Uuid::new_v4().to_string(),
        last_four: "abcd".into(),
        created_at_millis: 1,
        expires_at_millis: None,
        revoked_at_millis: revoked,
    };
    let (k1, k2, k3) = (
        key(ApiKeyOwner::User(u.id), None),
        key(ApiKeyOwner::User(u.id), Some(5)),
        key(ApiKeyOwner::User(u.id), None),
    );
    for k in [&k1, &k2, &k3] {
        store.api_keys().insert(k).await.unwrap();
    }
    assert_eq!(
        store.api_keys().revoke_for_user(A, u.id, 9).await.unwrap(),
        2
    );
    assert_eq!(
        store.api_keys().revoke_for_user(A, u.id, 10).await.unwrap(),
        0
    );
    assert_eq!(
        store
            .api_keys()
            .get(A, k1.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at_millis,
        Some(9)
    );
    assert_eq!(
        store
            .api_keys()
            .get(A, k2.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at_millis,
        Some(5),
        "first revocation kept"
    );

    let f = FileRecord {
        project_id: A.to_owned(),
        id: Uuid::new_v4(),
        bucket: "user-profile-images".into(),
        content_type: "image/png".into(),
        data: vec![1, 2, 3],
        created_at_millis: 5,
    };
    store.files().insert(&f).await.unwrap();
    assert!(
        !store.files().delete(B, &f.bucket, f.id).await.unwrap(),
        "other project"
    );
    assert!(
        !store
            .files()
            .delete(A, "team-profile-images", f.id)
            .await
            .unwrap(),
        "other bucket"
    );
    assert!(store.files().delete(A, &f.bucket, f.id).await.unwrap());
    assert_eq!(store.files().get(&f.bucket, f.id).await.unwrap(), None);
}

/// A code is found by its nonce hash and purpose, in its project only.
pub async fn codes_found_by_nonce(store: &dyn Store) {
    seed_projects(store).await;
    let c = VerificationCodeRecord {
        project_id: A.to_owned(),
        id: Uuid::new_v4(),
        purpose: CodePurpose::StepUpToken,
        code_hash: hash(1),
        nonce_hash: hash(2),
        user_id: None,
        data: json!({ "method": "totp" }),
        created_at_millis: 1,
        expires_at_millis: 2,
        used_at_millis: None,
        attempt_count: 0,
    };
    store.codes().insert(&c).await.unwrap();
    let codes = store.codes();
    assert_eq!(
        codes
            .find_by_nonce(A, CodePurpose::StepUpToken, &hash(2))
            .await
            .unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        codes
            .find_by_nonce(A, CodePurpose::StepUpCode, &hash(2))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        codes
            .find_by_nonce(B, CodePurpose::StepUpToken, &hash(2))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        codes
            .find_by_nonce(A, CodePurpose::StepUpToken, &hash(3))
            .await
            .unwrap(),
        None
    );
}

fn webhook_endpoint(project_id: &str, url: &str, at: i64) -> WebhookEndpointRecord {
    WebhookEndpointRecord {
        id: Uuid::now_v7(),
        project_id: project_id.to_owned(),
        url: url.to_owned(),
        description: String::new(),
        event_types: None,
        enabled: true,
        secret: "sealed".into(),
        previous_secret: None,
        previous_secret_until_millis: None,
        allow_private_addresses: false,
        declared: false,
        failing_since_millis: None,
        created_at_millis: at,
        updated_at_millis: at,
    }
}

fn webhook_delivery(e: &WebhookEndpointRecord, message_id: Uuid, at: i64) -> WebhookDeliveryRecord {
    WebhookDeliveryRecord {
        id: Uuid::now_v7(),
        project_id: e.project_id.clone(),
        message_id,
        endpoint_id: e.id,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at_millis: at,
        created_at_millis: at,
        finished_at_millis: None,
    }
}

fn webhook_attempt(d: &WebhookDeliveryRecord, success: bool, at: i64) -> WebhookAttemptRecord {
    WebhookAttemptRecord {
        id: Uuid::now_v7(),
        project_id: d.project_id.clone(),
        delivery_id: d.id,
        message_id: d.message_id,
        endpoint_id: d.endpoint_id,
        url: "https://example.com/hook".into(),
        success,
        response_status_code: success.then_some(200),
        response: if success { "ok" } else { "refused" }.into(),
        latency_millis: 3,
        at_millis: at,
        trigger: "scheduled".into(),
    }
}

/// Webhooks: endpoints round-trip per project; first attempts come out per endpoint in
/// order and retries by due time; a claim wins once; requeue and fail-pending select what
/// they say; the attempt log filters and pages newest first; deleting an endpoint takes its
/// rows; purging forgets only what finished before the cut, and events no remaining
/// delivery refers to.
pub async fn webhook_endpoints_deliveries_attempts_and_purge(store: &dyn Store) {
    seed_projects(store).await;
    let hooks = store.webhooks();
    let mut e1 = webhook_endpoint(A, "https://a.example/1", 10);
    e1.event_types = Some(vec!["user.created".into(), "team.deleted".into()]);
    let e2 = webhook_endpoint(A, "https://a.example/2", 20);
    let eb = webhook_endpoint(B, "https://b.example/1", 30);
    for e in [&e1, &e2, &eb] {
        hooks.insert_endpoint(e).await.expect("insert endpoint");
    }
    assert_eq!(
        hooks.list_endpoints(A).await.unwrap(),
        vec![e1.clone(), e2.clone()]
    );
    assert_eq!(
        hooks.get_endpoint(A, eb.id).await.unwrap(),
        None,
        "other project"
    );
    let mut changed = e1.clone();
    changed.enabled = false;
    changed.previous_secret = Some("old".into());
    changed.previous_secret_until_millis = Some(99);
    changed.failing_since_millis = Some(50);
    changed.updated_at_millis = 60;
    assert!(hooks.update_endpoint(&changed).await.unwrap());
    assert_eq!(
        hooks.get_endpoint(A, e1.id).await.unwrap(),
        Some(changed.clone())
    );
    let mut foreign = changed.clone();
    foreign.project_id = B.into();
    assert!(
        !hooks.update_endpoint(&foreign).await.unwrap(),
        "scoped by project"
    );

    // Messages: outbox event rows.
    let msg = |at: i64| {
        let mut m = outbox_record(A, at);
        m.kind = crate::events::EVENT_KIND.into();
        m.status = OutboxStatus::Held;
        m
    };
    let (m1, m2, m3) = (msg(100), msg(200), msg(300));
    for m in [&m1, &m2, &m3] {
        store.outbox().insert(m).await.unwrap();
    }
    let d1 = webhook_delivery(&e2, m1.id, 100);
    let d2 = webhook_delivery(&e2, m2.id, 200);
    let d3 = webhook_delivery(&e1, m3.id, 300);
    for d in [&d1, &d2, &d3] {
        hooks.insert_delivery(d).await.unwrap();
    }
    let mut firsts = hooks.endpoints_with_first_attempts(250, 10).await.unwrap();
    firsts.sort();
    assert_eq!(firsts, vec![e2.id], "only due ones");
    let mut firsts = hooks
        .endpoints_with_first_attempts(1_000, 10)
        .await
        .unwrap();
    firsts.sort();
    let mut want = vec![e1.id, e2.id];
    want.sort();
    assert_eq!(firsts, want, "each endpoint once");
    assert_eq!(
        hooks.next_first_attempt(e2.id).await.unwrap(),
        Some(d1.clone())
    );
    assert!(hooks.claim_delivery(d1.id, 100, 45_100).await.unwrap());
    assert!(
        !hooks.claim_delivery(d1.id, 100, 45_200).await.unwrap(),
        "once"
    );
    assert_eq!(
        hooks.next_first_attempt(e2.id).await.unwrap().map(|d| d.id),
        Some(d1.id),
        "a leased first attempt is still the next (in flight)"
    );
    // d1 fails once: a retry, due at 5_100.
    let mut retry = d1.clone();
    retry.attempts = 1;
    retry.next_attempt_at_millis = 5_100;
    assert!(hooks.update_delivery(&retry).await.unwrap());
    assert_eq!(
        hooks.next_first_attempt(e2.id).await.unwrap(),
        Some(d2.clone())
    );
    assert!(hooks.due_retries(5_000, 10).await.unwrap().is_empty());
    assert_eq!(
        hooks.due_retries(5_100, 10).await.unwrap(),
        vec![retry.clone()]
    );
    hooks
        .insert_attempt(&webhook_attempt(&d1, false, 101))
        .await
        .unwrap();
    // It is delivered on the retry.
    let mut done = retry.clone();
    done.status = DeliveryStatus::Delivered;
    done.attempts = 2;
    done.finished_at_millis = Some(5_200);
    assert!(hooks.update_delivery(&done).await.unwrap());
    hooks
        .insert_attempt(&webhook_attempt(&d1, true, 5_200))
        .await
        .unwrap();
    assert!(hooks.due_retries(100_000, 10).await.unwrap().is_empty());
    assert_eq!(hooks.pending_count().await.unwrap(), 2);
    assert_eq!(
        hooks.deliveries_of_message(A, m1.id).await.unwrap(),
        vec![done.clone()]
    );
    assert!(
        hooks
            .deliveries_of_message(B, m1.id)
            .await
            .unwrap()
            .is_empty()
    );

    // The log, newest first, filtered and paged.
    hooks
        .insert_attempt(&webhook_attempt(&d3, true, 400))
        .await
        .unwrap();
    let all = hooks
        .list_attempts(
            A,
            &AttemptQuery {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let of_e2 = hooks
        .list_attempts(
            A,
            &AttemptQuery {
                endpoint_id: Some(e2.id),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(of_e2.len(), 2);
    let page = hooks
        .list_attempts(
            A,
            &AttemptQuery {
                message_id: Some(m1.id),
                before: Some(of_e2[0].id),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page, vec![of_e2[1].clone()]);
    assert!(
        hooks
            .list_attempts(
                B,
                &AttemptQuery {
                    limit: 10,
                    ..Default::default()
                }
            )
            .await
            .unwrap()
            .is_empty()
    );

    // Replays: requeue what matches only, keeping the finish time (a replay mark).
    let n = hooks
        .requeue(
            A,
            &RequeueFilter {
                message_id: Some(m1.id),
                endpoint_id: None,
                since_millis: 0,
                statuses: vec![DeliveryStatus::Failed],
            },
            9_000,
        )
        .await
        .unwrap();
    assert_eq!(n, 0, "delivered is not failed");
    let n = hooks
        .requeue(
            A,
            &RequeueFilter {
                message_id: Some(m1.id),
                endpoint_id: Some(e2.id),
                since_millis: 0,
                statuses: vec![DeliveryStatus::Delivered],
            },
            9_000,
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let again = &hooks.deliveries_of_message(A, m1.id).await.unwrap()[0];
    assert_eq!(
        (
            again.status,
            again.attempts,
            again.next_attempt_at_millis,
            again.finished_at_millis
        ),
        (DeliveryStatus::Pending, 0, 9_000, Some(5_200))
    );
    assert_eq!(hooks.fail_pending(e2.id, 9_500).await.unwrap(), 2);
    assert_eq!(hooks.pending_count().await.unwrap(), 1, "e1's");

    // Purge: finished before the cut goes, with events nobody still owes.
    let gone = hooks.purge(6_000).await.unwrap();
    assert!(
        gone >= 2,
        "the two e2 attempts before 6_000, m1/m2 events: {gone}"
    );
    assert!(
        hooks
            .list_attempts(
                A,
                &AttemptQuery {
                    endpoint_id: Some(e2.id),
                    limit: 10,
                    ..Default::default()
                }
            )
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store.outbox().get(m3.id).await.unwrap().is_some(),
        "still owed to e1"
    );
    let left: Vec<Uuid> = store
        .outbox()
        .list(A)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert!(left.contains(&m3.id));
    // d1/d2 finished at 9_500 (after the cut): kept, so their events stay too.
    assert_eq!(
        hooks.deliveries_of_message(A, m2.id).await.unwrap().len(),
        1
    );
    assert!(left.contains(&m2.id));
    hooks.purge(10_000).await.unwrap();
    assert!(
        hooks
            .deliveries_of_message(A, m2.id)
            .await
            .unwrap()
            .is_empty()
    );
    let left: Vec<Uuid> = store
        .outbox()
        .list(A)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, vec![m3.id], "only what a delivery still refers to");

    // Deleting an endpoint takes its deliveries and log, in its project only.
    assert!(!hooks.delete_endpoint(B, e1.id).await.unwrap());
    assert!(hooks.delete_endpoint(A, e1.id).await.unwrap());
    assert!(
        hooks
            .deliveries_of_message(A, m3.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(hooks.get_endpoint(A, e1.id).await.unwrap().is_none());
    assert_eq!(hooks.list_endpoints(B).await.unwrap(), vec![eb]);
}

// ---------------------------------------------------------------------------------------
// Passkeys

fn passkey(u: &UserRecord, credential_id: &str, created_at_millis: i64) -> PasskeyRecord {
    PasskeyRecord {
        project_id: u.project_id.clone(),
        id: Uuid::new_v4(),
        user_id: u.id,
        credential_id: credential_id.to_owned(),
        name: Some("Laptop ✓".to_owned()),
        credential: json!({ "cred": { "cred_id": credential_id, "counter": 0 } }).to_string(),
        algorithm: -7,
        counter: 0,
        transports: vec!["hybrid".to_owned(), "internal".to_owned()],
        backup_eligible: true,
        backup_state: false,
        created_at_millis,
        last_used_at_millis: None,
    }
}

async fn has_passkey(store: &dyn Store, project_id: &str, id: Uuid) -> bool {
    store
        .users()
        .get(project_id, id)
        .await
        .unwrap()
        .expect("user")
        .has_passkey
}

/// Passkeys: credential ids unique per project (not across projects), owners of the
/// project only, round trip, oldest-first listing, rename, the counter's compare-and-swap,
/// the user's `has_passkey` kept in step by every write (and not undone by a stale user
/// update), deletion, and the cascade with the user.
pub async fn passkeys_unique_per_project_flagged_and_cascading(store: &dyn Store) {
    seed_projects(store).await;
    let (u, other, stranger) = (user(A, 1), user(A, 2), user(B, 1));
    for x in [&u, &other, &stranger] {
        insert_user(store, x).await;
    }
    let stale = store.users().get(A, u.id).await.unwrap().unwrap();
    assert!(!stale.has_passkey);
    let pk = store.passkeys();

    let first = passkey(&u, "Y3JlZC0x", 10);
    pk.insert(&first).await.expect("insert passkey");
    assert!(has_passkey(store, A, u.id).await);
    assert!(!has_passkey(store, A, other.id).await, "only the owner");
    assert_eq!(pk.get(A, first.id).await.unwrap().as_ref(), Some(&first));
    assert_eq!(
        pk.find_by_credential_id(A, "Y3JlZC0x")
            .await
            .unwrap()
            .as_ref(),
        Some(&first)
    );
    assert_eq!(pk.get(B, first.id).await.unwrap(), None, "other project");
    assert_eq!(pk.find_by_credential_id(B, "Y3JlZC0x").await.unwrap(), None);

    expect_conflict(
        pk.insert(&passkey(&other, "Y3JlZC0x", 11)).await,
        "same credential id in the project",
    );
    let elsewhere = passkey(&stranger, "Y3JlZC0x", 11);
    pk.insert(&elsewhere)
        .await
        .expect("the same credential id in another project");
    assert_eq!(
        pk.find_by_credential_id(B, "Y3JlZC0x").await.unwrap(),
        Some(elsewhere.clone())
    );
    expect_missing_reference(
        pk.insert(&passkey(&user(A, 5), "bm9ib2R5", 12)).await,
        "unknown user",
    );
    let mut crossed = passkey(&stranger, "Y3Jvc3M", 12);
    crossed.project_id = A.to_owned();
    expect_missing_reference(pk.insert(&crossed).await, "a user of another project");

    // A stale user record written back does not clear the flag.
    assert!(store.users().update(&stale).await.unwrap());
    assert!(
        has_passkey(store, A, u.id).await,
        "update leaves has_passkey"
    );

    // Oldest first, ties by id.
    let mut second = passkey(&u, "Y3JlZC0y", 20);
    let mut third = passkey(&u, "Y3JlZC0z", 20);
    if third.id < second.id {
        std::mem::swap(&mut second.id, &mut third.id);
    }
    second.name = None;
    second.transports = Vec::new();
    second.last_used_at_millis = Some(25);
    pk.insert(&third).await.unwrap();
    pk.insert(&second).await.unwrap();
    assert_eq!(
        pk.list_for_user(A, u.id).await.unwrap(),
        vec![first.clone(), second.clone(), third.clone()]
    );
    assert!(pk.list_for_user(A, other.id).await.unwrap().is_empty());

    assert!(pk.rename(A, first.id, Some("Phone")).await.unwrap());
    assert_eq!(
        pk.get(A, first.id).await.unwrap().unwrap().name.as_deref(),
        Some("Phone")
    );
    assert!(pk.rename(A, first.id, None).await.unwrap());
    assert_eq!(pk.get(A, first.id).await.unwrap().unwrap().name, None);
    assert!(
        !pk.rename(B, first.id, Some("x")).await.unwrap(),
        "other project"
    );
    assert!(!pk.rename(A, Uuid::new_v4(), Some("x")).await.unwrap());

    let used = |expected_counter: i64, counter: i64, at_millis: i64| PasskeyUse {
        expected_counter,
        counter,
        credential: json!({ "counter": counter }).to_string(),
        backup_eligible: true,
        backup_state: true,
        at_millis,
    };
    assert!(
        !pk.record_use(A, first.id, &used(3, 4, 30)).await.unwrap(),
        "stale counter"
    );
    assert!(pk.record_use(A, first.id, &used(0, 7, 30)).await.unwrap());
    let after = pk.get(A, first.id).await.unwrap().unwrap();
    assert_eq!(
        (after.counter, after.backup_state, after.last_used_at_millis),
        (7, true, Some(30))
    );
    assert_eq!(after.credential, json!({ "counter": 7 }).to_string());
    assert!(
        !pk.record_use(A, first.id, &used(0, 8, 31)).await.unwrap(),
        "a second use verified against the old counter"
    );
    assert!(
        !pk.record_use(B, first.id, &used(7, 8, 31)).await.unwrap(),
        "other project"
    );

    assert!(pk.delete(A, first.id).await.unwrap());
    assert!(!pk.delete(A, first.id).await.unwrap(), "second delete");
    assert!(!pk.delete(B, second.id).await.unwrap(), "other project");
    assert!(has_passkey(store, A, u.id).await, "two are left");
    assert_eq!(pk.delete_for_user(A, u.id).await.unwrap(), 2);
    assert!(!has_passkey(store, A, u.id).await, "none left");
    assert_eq!(pk.delete_for_user(A, u.id).await.unwrap(), 0);

    // In a transaction, rolled back: nothing happened.
    {
        let tx = store.begin().await.unwrap();
        tx.passkeys().insert(&passkey(&u, "dHg", 40)).await.unwrap();
        assert!(tx.users().get(A, u.id).await.unwrap().unwrap().has_passkey);
    }
    assert!(!has_passkey(store, A, u.id).await, "rolled back");
    assert_eq!(pk.find_by_credential_id(A, "dHg").await.unwrap(), None);

    // Deleting the user deletes its passkeys and frees the credential id.
    let last = passkey(&other, "bGFzdA", 50);
    pk.insert(&last).await.unwrap();
    assert!(store.users().delete(A, other.id).await.unwrap());
    assert_eq!(pk.get(A, last.id).await.unwrap(), None);
    assert_eq!(pk.find_by_credential_id(A, "bGFzdA").await.unwrap(), None);
    pk.insert(&passkey(&u, "bGFzdA", 51))
        .await
        .expect("the credential id is free again");
    assert_eq!(
        pk.find_by_credential_id(B, "Y3JlZC0x").await.unwrap(),
        Some(elsewhere),
        "the other project untouched"
    );
}

fn oauth_account(u: &UserRecord, config_id: &str, account_id: &str, at: i64) -> OAuthAccountRecord {
    OAuthAccountRecord {
        project_id: u.project_id.clone(),
        id: Uuid::new_v4(),
        user_id: u.id,
        provider_config_id: config_id.into(),
        provider_account_id: account_id.into(),
        email: Some("a@example.com".into()),
        allow_sign_in: true,
        allow_connected_accounts: true,
        created_at_millis: at,
    }
}

fn oauth_token(a: &OAuthAccountRecord, kind: OAuthTokenKind, at: i64) -> OAuthTokenRecord {
    OAuthTokenRecord {
        project_id: a.project_id.clone(),
        id: Uuid::new_v4(),
        account_id: a.id,
        kind,
        sealed_token: format!("sealed-{at}"),
        scopes: vec!["openid".into(), "email".into()],
        expires_at_millis: (kind == OAuthTokenKind::Access).then_some(at + 100),
        is_valid: true,
        created_at_millis: at,
    }
}

async fn has_oauth(store: &dyn Store, project_id: &str, id: Uuid) -> bool {
    store
        .users()
        .get(project_id, id)
        .await
        .unwrap()
        .expect("user")
        .has_oauth
}

/// OAuth provider accounts: one row per (user, provider, account id), found across users,
/// listed oldest first per user, per users and per project, updated, the user's `has_oauth`
/// kept in step (and not undone by a stale user update); tokens by kind newest first,
/// invalidated, purged; deletion takes the tokens; deleting the user takes everything.
pub async fn oauth_accounts_tokens_flagged_and_cascading(store: &dyn Store) {
    seed_projects(store).await;
    let (u, other, stranger) = (user(A, 1), user(A, 2), user(B, 1));
    for x in [&u, &other, &stranger] {
        insert_user(store, x).await;
    }
    let stale = store.users().get(A, u.id).await.unwrap().unwrap();
    let repo = store.oauth();
    let gh = oauth_account(&u, "github", "42", 10);
    repo.insert_account(&gh).await.expect("insert account");
    assert!(has_oauth(store, A, u.id).await);
    assert!(!has_oauth(store, A, other.id).await, "only the owner");
    let mut dup = oauth_account(&u, "github", "42", 11);
    dup.allow_sign_in = false;
    assert!(
        matches!(
            repo.insert_account(&dup).await,
            Err(StoreError::Conflict(_))
        ),
        "one row per user, provider and account id"
    );
    let theirs = oauth_account(&other, "github", "42", 12);
    repo.insert_account(&theirs)
        .await
        .expect("another user may hold it");
    let sp = oauth_account(&u, "spotify", "s1", 13);
    repo.insert_account(&sp).await.unwrap();
    repo.insert_account(&oauth_account(&stranger, "github", "42", 14))
        .await
        .unwrap();
    assert_eq!(
        repo.get_account(A, gh.id).await.unwrap().as_ref(),
        Some(&gh)
    );
    assert_eq!(
        repo.get_account(B, gh.id).await.unwrap(),
        None,
        "other project"
    );
    let found = repo.find_accounts(A, "github", "42").await.unwrap();
    assert_eq!(
        found.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![gh.id, theirs.id]
    );
    assert!(
        repo.find_accounts(A, "spotify", "42")
            .await
            .unwrap()
            .is_empty()
    );
    let mine = repo.list_for_user(A, u.id).await.unwrap();
    assert_eq!(
        mine.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![gh.id, sp.id]
    );
    assert_eq!(
        repo.list_for_users(A, &[u.id, other.id])
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(repo.list_for_users(A, &[]).await.unwrap().is_empty());
    assert_eq!(repo.list_for_project(A).await.unwrap().len(), 3);
    assert_eq!(repo.list_for_project(B).await.unwrap().len(), 1);

    let mut changed = sp.clone();
    changed.provider_account_id = "s2".into();
    changed.email = None;
    changed.allow_sign_in = false;
    changed.allow_connected_accounts = false;
    assert!(repo.update_account(&changed).await.unwrap());
    assert_eq!(repo.get_account(A, sp.id).await.unwrap(), Some(changed));
    store.users().update(&stale).await.unwrap();
    assert!(
        has_oauth(store, A, u.id).await,
        "a stale user update leaves has_oauth"
    );

    let old = oauth_token(&gh, OAuthTokenKind::Access, 100);
    let new = oauth_token(&gh, OAuthTokenKind::Access, 200);
    let refresh = oauth_token(&gh, OAuthTokenKind::Refresh, 150);
    for t in [&old, &new, &refresh] {
        repo.insert_token(t).await.unwrap();
    }
    let access = repo
        .list_tokens(A, gh.id, OAuthTokenKind::Access)
        .await
        .unwrap();
    assert_eq!(
        access.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![new.id, old.id]
    );
    assert_eq!(access[0], new);
    assert_eq!(
        repo.list_tokens(A, gh.id, OAuthTokenKind::Refresh)
            .await
            .unwrap(),
        vec![refresh.clone()]
    );
    assert!(
        repo.list_tokens(B, gh.id, OAuthTokenKind::Access)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(repo.invalidate_token(A, refresh.id).await.unwrap());
    assert!(
        !repo.invalidate_token(B, new.id).await.unwrap(),
        "other project"
    );
    assert!(
        !repo
            .list_tokens(A, gh.id, OAuthTokenKind::Refresh)
            .await
            .unwrap()[0]
            .is_valid
    );
    // Expired access tokens (the old one expired at 200) and invalid tokens go.
    assert_eq!(repo.purge_tokens(250).await.unwrap(), 2);
    assert_eq!(
        repo.list_tokens(A, gh.id, OAuthTokenKind::Access)
            .await
            .unwrap(),
        vec![new.clone()]
    );

    // Rolled back: nothing happened.
    {
        let tx = store.begin().await.unwrap();
        tx.oauth()
            .insert_account(&oauth_account(&other, "spotify", "tx", 20))
            .await
            .unwrap();
    }
    assert!(
        repo.find_accounts(A, "spotify", "tx")
            .await
            .unwrap()
            .is_empty()
    );

    assert!(repo.delete_account(A, gh.id).await.unwrap());
    assert!(
        !repo.delete_account(A, gh.id).await.unwrap(),
        "second delete"
    );
    assert!(
        repo.list_tokens(A, gh.id, OAuthTokenKind::Access)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(has_oauth(store, A, u.id).await, "one is left");
    assert!(repo.delete_account(A, sp.id).await.unwrap());
    assert!(!has_oauth(store, A, u.id).await, "none left");

    // Deleting the user deletes its accounts and their tokens.
    repo.insert_token(&oauth_token(&theirs, OAuthTokenKind::Refresh, 300))
        .await
        .unwrap();
    assert!(store.users().delete(A, other.id).await.unwrap());
    assert_eq!(repo.get_account(A, theirs.id).await.unwrap(), None);
    assert!(
        repo.list_tokens(A, theirs.id, OAuthTokenKind::Refresh)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        repo.list_for_project(B).await.unwrap().len(),
        1,
        "the other project untouched"
    );
}

/// Expired codes are purged (of every project); live ones stay.
pub async fn codes_purged_after_expiry(store: &dyn Store) {
    seed_projects(store).await;
    let mk = |project: &str, expires: i64| VerificationCodeRecord {
        project_id: project.into(),
        id: Uuid::new_v4(),
        purpose: CodePurpose::OAuthFlow,
        code_hash: format!("c{expires}{project}"),
        nonce_hash: format!("n{expires}{project}"),
        user_id: None,
        data: json!({}),
        created_at_millis: 0,
        expires_at_millis: expires,
        used_at_millis: None,
        attempt_count: 0,
    };
    let (a, b, live) = (mk(A, 100), mk(B, 150), mk(A, 1_000));
    for c in [&a, &b, &live] {
        store.codes().insert(c).await.unwrap();
    }
    assert_eq!(store.codes().purge_expired(200).await.unwrap(), 2);
    assert_eq!(
        store
            .codes()
            .find_by_nonce(A, CodePurpose::OAuthFlow, &live.nonce_hash)
            .await
            .unwrap()
            .map(|c| c.id),
        Some(live.id)
    );
    assert_eq!(
        store
            .codes()
            .find_by_nonce(A, CodePurpose::OAuthFlow, &a.nonce_hash)
            .await
            .unwrap(),
        None
    );
}

/// CLI login attempts: found by either code's hash (per project); completed once while
/// pending (not after expiry, not twice); the anonymous token taken once; handed out once;
/// expired ones purged.
pub async fn cli_auth_attempts_move_forward_once(store: &dyn Store) {
    seed_projects(store).await;
    let repo = store.cli_auth();
    let mk = |n: &str, expires: i64, anon: Option<&str>| CliAuthAttemptRecord {
        project_id: A.into(),
        id: Uuid::new_v4(),
        polling_code_hash: format!("poll-{n}"),
        login_code_hash: format!("login-{n}"),
        sealed_refresh_token: None,
        sealed_anon_refresh_token: anon.map(str::to_owned),
        expires_at_millis: expires,
        used_at_millis: None,
        created_at_millis: 0,
    };
    let a = mk("a", 1_000, Some("anon-sealed"));
    repo.insert(&a).await.unwrap();
    assert_eq!(
        repo.find_by_polling_code(A, "poll-a")
            .await
            .unwrap()
            .as_ref(),
        Some(&a)
    );
    assert_eq!(
        repo.find_by_login_code(A, "login-a")
            .await
            .unwrap()
            .as_ref(),
        Some(&a)
    );
    assert_eq!(
        repo.find_by_polling_code(B, "poll-a").await.unwrap(),
        None,
        "other project"
    );
    assert_eq!(repo.find_by_polling_code(A, "login-a").await.unwrap(), None);

    assert!(!repo.take_anon(A, a.id, "something else").await.unwrap());
    assert!(repo.take_anon(A, a.id, "anon-sealed").await.unwrap());
    assert!(
        !repo.take_anon(A, a.id, "anon-sealed").await.unwrap(),
        "once"
    );

    assert!(
        !repo.hand_out(A, a.id, 10).await.unwrap(),
        "nothing to hand out yet"
    );
    assert!(
        !repo.complete(A, a.id, "rt", 1_000).await.unwrap(),
        "expired at 1000"
    );
    assert!(
        !repo.complete(B, a.id, "rt", 10).await.unwrap(),
        "other project"
    );
    assert!(repo.complete(A, a.id, "rt", 10).await.unwrap());
    assert!(
        !repo.complete(A, a.id, "rt2", 11).await.unwrap(),
        "completed once"
    );
    let done = repo
        .find_by_login_code(A, "login-a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.sealed_refresh_token.as_deref(), Some("rt"));
    assert_eq!(done.sealed_anon_refresh_token, None);
    assert!(repo.hand_out(A, a.id, 20).await.unwrap());
    assert!(
        !repo.hand_out(A, a.id, 21).await.unwrap(),
        "handed out once"
    );
    let used = repo
        .find_by_polling_code(A, "poll-a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (used.used_at_millis, used.sealed_refresh_token),
        (Some(20), None)
    );

    let b = mk("b", 5_000, None);
    repo.insert(&b).await.unwrap();
    let mut dup = mk("c", 5_000, None);
    dup.polling_code_hash = "poll-b".into();
    assert!(matches!(
        repo.insert(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(repo.purge(2_000).await.unwrap(), 1);
    assert_eq!(repo.find_by_polling_code(A, "poll-a").await.unwrap(), None);
    assert!(
        repo.find_by_polling_code(A, "poll-b")
            .await
            .unwrap()
            .is_some()
    );
}
