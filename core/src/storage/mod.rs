//! Storage contract: per-aggregate repository traits composed into [`Repos`], with
//! [`Store`] (autocommit, migrations) and [`Tx`] (one unit of work).
//!
//! Backends implement the repository traits once for "a connection" and expose them both
//! on the store and inside a transaction, so a domain helper taking `&dyn Repos` works on
//! either. Lookups return `Option`: only the caller knows whether "absent" means
//! `USER_NOT_FOUND` or something else.
//!
//! Every row is keyed by project: every method takes the project id, and a row of one
//! project is never visible through another.
//!
//! ```
//! use postern_core::storage::{Repos, Store, StoreError};
//!
//! /// Deletes a user's sessions and the user in one transaction.
//! async fn remove(store: &dyn Store, project: &str, user: uuid::Uuid) -> Result<bool, StoreError> {
//!     let tx = store.begin().await?;
//!     tx.sessions().delete_for_user(project, user, None).await?;
//!     let gone = tx.users().delete(project, user).await?;
//!     tx.commit().await?; // dropping `tx` without commit rolls back
//!     Ok(gone)
//! }
//! ```

mod records;

pub use records::*;

use async_trait::async_trait;
use uuid::Uuid;

/// A storage failure, classified once by the backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated (the string names the constraint or index when known).
    #[error("unique constraint violated: {0}")]
    Conflict(String),
    /// A foreign key pointed at a row that does not exist.
    #[error("missing referenced row: {0}")]
    MissingReference(String),
    /// Any other backend failure (connection, syntax, serialization...).
    #[error("storage backend error: {0}")]
    Backend(String),
}

/// Result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Projects and their API key sets.
#[async_trait]
pub trait ProjectRepo: Send + Sync {
    /// The project with this id.
    async fn get(&self, id: &str) -> StoreResult<Option<ProjectRecord>>;
    /// Inserts a project; [`StoreError::Conflict`] when the id exists.
    async fn insert(&self, project: &ProjectRecord) -> StoreResult<()>;
    /// Replaces display name, config and owner if the stored `config_version` still equals
    /// `project.config_version`, and bumps the stored version by one (compare-and-swap).
    /// `false` when the project does not exist or another write got there first.
    async fn update(&self, project: &ProjectRecord) -> StoreResult<bool>;
    /// All projects, ordered by id.
    async fn list(&self) -> StoreResult<Vec<ProjectRecord>>;
    /// Inserts a key set; [`StoreError::Conflict`] when a key hash is already used.
    async fn insert_key_set(&self, keys: &ApiKeySetRecord) -> StoreResult<()>;
    /// The key set of this project holding a key of `kind` whose hash is `key_hash`.
    async fn find_key_set(
        &self,
        project_id: &str,
        kind: KeyKind,
        key_hash: &str,
    ) -> StoreResult<Option<ApiKeySetRecord>>;
    /// The project's key sets, oldest first.
    async fn list_key_sets(&self, project_id: &str) -> StoreResult<Vec<ApiKeySetRecord>>;
    /// Writes a key set's description and revocation time; `false` when absent.
    async fn update_key_set(&self, keys: &ApiKeySetRecord) -> StoreResult<bool>;
    /// Deletes a key set; `false` when it did not exist.
    async fn delete_key_set(&self, project_id: &str, id: Uuid) -> StoreResult<bool>;
}

/// Users and their contact channels.
#[async_trait]
pub trait UserRepo: Send + Sync {
    /// Inserts a user.
    async fn insert(&self, user: &UserRecord) -> StoreResult<()>;
    /// The user with this id in this project.
    async fn get(&self, project_id: &str, id: Uuid) -> StoreResult<Option<UserRecord>>;
    /// Writes every column of the user but the last TOTP step (see
    /// [`UserRepo::advance_totp_step`]); `false` when it does not exist.
    async fn update(&self, user: &UserRecord) -> StoreResult<bool>;
    /// Deletes the user and, by cascade, its channels and sessions; `false` when absent.
    async fn delete(&self, project_id: &str, id: Uuid) -> StoreResult<bool>;
    /// Users matching the query, ordered by `(signed_up_at, id)` in the query's direction.
    async fn list(&self, project_id: &str, query: &UserListQuery) -> StoreResult<Vec<UserRecord>>;
    /// Sets `last_active_at`; `false` when the user does not exist.
    async fn touch(&self, project_id: &str, id: Uuid, at_millis: i64) -> StoreResult<bool>;

    /// Inserts a contact channel. Conflicts: same (user, type, value); an auth channel
    /// confirmed for sign-in with the same (type, value) in the project (unconfirmed ones
    /// reserve nothing); a second primary channel of the user.
    async fn insert_channel(&self, channel: &ContactChannelRecord) -> StoreResult<()>;
    /// Writes every column of the channel; `false` when it does not exist. Same conflicts
    /// as [`UserRepo::insert_channel`].
    async fn update_channel(&self, channel: &ContactChannelRecord) -> StoreResult<bool>;
    /// Deletes a channel; `false` when absent.
    async fn delete_channel(&self, project_id: &str, id: Uuid) -> StoreResult<bool>;
    /// The channel with this id.
    async fn get_channel(
        &self,
        project_id: &str,
        id: Uuid,
    ) -> StoreResult<Option<ContactChannelRecord>>;
    /// A user's channels, oldest first.
    async fn list_channels(
        &self,
        project_id: &str,
        user_id: Uuid,
    ) -> StoreResult<Vec<ContactChannelRecord>>;
    /// The channels of several users at once (for list pages), in no particular order.
    async fn list_channels_for_users(
        &self,
        project_id: &str,
        user_ids: &[Uuid],
    ) -> StoreResult<Vec<ContactChannelRecord>>;
    /// Every channel of the project, oldest first (server listing without a user).
    async fn list_project_channels(
        &self,
        project_id: &str,
    ) -> StoreResult<Vec<ContactChannelRecord>>;
    /// The channel used for authentication, and confirmed for it, with exactly this type and
    /// value.
    async fn find_auth_channel(
        &self,
        project_id: &str,
        kind: ChannelKind,
        value: &str,
    ) -> StoreResult<Option<ContactChannelRecord>>;
    /// Records `step` as the user's last accepted TOTP time step if it is later than the
    /// one stored (or none is); `false` when it is not (a replayed or older code, or no
    /// such user). Two concurrent uses of one step cannot both succeed.
    async fn advance_totp_step(&self, project_id: &str, id: Uuid, step: i64) -> StoreResult<bool>;
}

/// Sessions: one refresh token each, stored as a hash.
#[async_trait]
pub trait SessionRepo: Send + Sync {
    /// Inserts a session; [`StoreError::MissingReference`] when the user does not exist.
    async fn insert(&self, session: &SessionRecord) -> StoreResult<()>;
    /// The session with this id.
    async fn get(&self, project_id: &str, id: Uuid) -> StoreResult<Option<SessionRecord>>;
    /// The session whose refresh-token hash is `token_hash`.
    async fn find_by_token_hash(
        &self,
        project_id: &str,
        token_hash: &str,
    ) -> StoreResult<Option<SessionRecord>>;
    /// A user's sessions, newest first.
    async fn list_for_user(
        &self,
        project_id: &str,
        user_id: Uuid,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Deletes one session; `false` when absent.
    async fn delete(&self, project_id: &str, id: Uuid) -> StoreResult<bool>;
    /// Deletes all of a user's sessions but `except`; returns how many went.
    async fn delete_for_user(
        &self,
        project_id: &str,
        user_id: Uuid,
        except: Option<Uuid>,
    ) -> StoreResult<u64>;
    /// Sets `last_active_at`; `false` when the session does not exist.
    async fn touch(&self, project_id: &str, id: Uuid, at_millis: i64) -> StoreResult<bool>;
}

/// User and team API keys. The key itself is never stored: only a keyed hash of its
/// secret part and its last four characters.
#[async_trait]
pub trait ApiKeyRepo: Send + Sync {
    /// Inserts a key; [`StoreError::MissingReference`] when its owning user does not exist
    /// in the project.
    async fn insert(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// The key with this id in this project.
    async fn get(&self, project_id: &str, id: Uuid) -> StoreResult<Option<ApiKeyRecord>>;
    /// The key with this id in any project (credential-scanning revocation only).
    async fn find_in_any_project(&self, id: Uuid) -> StoreResult<Option<ApiKeyRecord>>;
    /// The keys owned by a user, newest first (ties by id).
    async fn list_for_user(
        &self,
        project_id: &str,
        user_id: Uuid,
    ) -> StoreResult<Vec<ApiKeyRecord>>;
    /// The keys owned by a team, newest first (ties by id).
    async fn list_for_team(
        &self,
        project_id: &str,
        team_id: Uuid,
    ) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Deletes a team's keys (with the team); returns how many went.
    async fn delete_for_team(&self, project_id: &str, team_id: Uuid) -> StoreResult<u64>;
    /// Writes description, expiry and revocation of the key; `false` when it does not exist.
    /// Owner, hash, last four and creation time never change.
    async fn update(&self, key: &ApiKeyRecord) -> StoreResult<bool>;
    /// Revokes (at `at_millis`) every key of the user that is not revoked yet; returns how
    /// many were.
    async fn revoke_for_user(
        &self,
        project_id: &str,
        user_id: Uuid,
        at_millis: i64,
    ) -> StoreResult<u64>;
}

/// Verification codes (email verification, password reset, OTP, invitations), stored as
/// hashes.
#[async_trait]
pub trait CodeRepo: Send + Sync {
    /// Inserts a code; [`StoreError::MissingReference`] when its user does not exist.
    async fn insert(&self, code: &VerificationCodeRecord) -> StoreResult<()>;
    /// The code of this purpose whose nonce hash is `nonce_hash` (nonces are random, so at
    /// most one code has it).
    async fn find_by_nonce(
        &self,
        project_id: &str,
        purpose: CodePurpose,
        nonce_hash: &str,
    ) -> StoreResult<Option<VerificationCodeRecord>>;
    /// Adds one to the attempt count of every code of the project sharing this nonce hash,
    /// whatever its purpose; returns how many rows were touched.
    async fn count_attempt(&self, project_id: &str, nonce_hash: &str) -> StoreResult<u64>;
    /// Marks the code used at `at_millis` if it is not used yet; `false` when it was
    /// already used (or is absent), so two concurrent uses cannot both succeed.
    async fn mark_used(&self, project_id: &str, id: Uuid, at_millis: i64) -> StoreResult<bool>;
    /// The code of this purpose with this row id.
    async fn get(
        &self,
        project_id: &str,
        purpose: CodePurpose,
        id: Uuid,
    ) -> StoreResult<Option<VerificationCodeRecord>>;
    /// The unused codes of this purpose not expired at `now_millis`, oldest first.
    async fn list_open(
        &self,
        project_id: &str,
        purpose: CodePurpose,
        now_millis: i64,
    ) -> StoreResult<Vec<VerificationCodeRecord>>;
    /// Deletes the code of this purpose with this row id; `false` when absent.
    async fn delete(&self, project_id: &str, purpose: CodePurpose, id: Uuid) -> StoreResult<bool>;
    /// Deletes unused codes of this purpose and user (for example older reset links once a
    /// password was reset); returns how many went.
    async fn delete_unused_for_user(
        &self,
        project_id: &str,
        purpose: CodePurpose,
        user_id: Uuid,
    ) -> StoreResult<u64>;
    /// Deletes every code (of any project) that expired before `before_millis`; returns
    /// how many went.
    async fn purge_expired(&self, before_millis: i64) -> StoreResult<u64>;
}

/// The outbox: messages written in the transaction of the change that causes them and
/// delivered after commit.
#[async_trait]
pub trait OutboxRepo: Send + Sync {
    /// Records a message.
    async fn insert(&self, message: &OutboxRecord) -> StoreResult<()>;
    /// Pending messages due at `now_millis`, oldest first, at most `limit`.
    async fn due(&self, now_millis: i64, limit: u64) -> StoreResult<Vec<OutboxRecord>>;
    /// Claims a due message: moves its next attempt from `seen_next_attempt_millis` to
    /// `lease_until_millis` if nobody else did first. `true` when this caller holds it.
    async fn claim(
        &self,
        id: Uuid,
        seen_next_attempt_millis: i64,
        lease_until_millis: i64,
    ) -> StoreResult<bool>;
    /// Writes status, attempts, next attempt, sent time, last error and payload.
    async fn update(&self, message: &OutboxRecord) -> StoreResult<bool>;
    /// The message with this id.
    async fn get(&self, id: Uuid) -> StoreResult<Option<OutboxRecord>>;
    /// The project's messages, oldest first (for operators and tests).
    async fn list(&self, project_id: &str) -> StoreResult<Vec<OutboxRecord>>;
}

/// Webhook endpoints, deliveries (one per message and endpoint) and the attempt log.
/// Deleting an endpoint deletes its deliveries and attempts; deleting the project deletes
/// everything.
#[async_trait]
pub trait WebhookRepo: Send + Sync {
    /// Creates an endpoint.
    async fn insert_endpoint(&self, e: &WebhookEndpointRecord) -> StoreResult<()>;
    /// Writes every field but id, project and creation time. `false` if absent.
    async fn update_endpoint(&self, e: &WebhookEndpointRecord) -> StoreResult<bool>;
    /// The project's endpoint with this id.
    async fn get_endpoint(
        &self,
        project_id: &str,
        id: Uuid,
    ) -> StoreResult<Option<WebhookEndpointRecord>>;
    /// The project's endpoints, oldest first.
    async fn list_endpoints(&self, project_id: &str) -> StoreResult<Vec<WebhookEndpointRecord>>;
    /// Deletes an endpoint with its deliveries and attempts. `false` if absent.
    async fn delete_endpoint(&self, project_id: &str, id: Uuid) -> StoreResult<bool>;
    /// Records a delivery.
    async fn insert_delivery(&self, d: &WebhookDeliveryRecord) -> StoreResult<()>;
    /// Retries due at `now_millis` (pending deliveries already attempted), soonest first,
    /// at most `limit`.
    async fn due_retries(
        &self,
        now_millis: i64,
        limit: u64,
    ) -> StoreResult<Vec<WebhookDeliveryRecord>>;
    /// Endpoints with a first attempt due at `now_millis`, at most `limit`.
    async fn endpoints_with_first_attempts(
        &self,
        now_millis: i64,
        limit: u64,
    ) -> StoreResult<Vec<Uuid>>;
    /// An endpoint's oldest pending delivery never attempted (due or leased).
    async fn next_first_attempt(
        &self,
        endpoint_id: Uuid,
    ) -> StoreResult<Option<WebhookDeliveryRecord>>;
    /// Claims a pending delivery: moves its next attempt from `seen_next_attempt_millis`
    /// to `lease_until_millis` if nobody else did first. `true` when this caller holds it.
    async fn claim_delivery(
        &self,
        id: Uuid,
        seen_next_attempt_millis: i64,
        lease_until_millis: i64,
    ) -> StoreResult<bool>;
    /// Writes status, attempts, next attempt and finish time. `false` if absent.
    async fn update_delivery(&self, d: &WebhookDeliveryRecord) -> StoreResult<bool>;
    /// The project's deliveries of a message, by id.
    async fn deliveries_of_message(
        &self,
        project_id: &str,
        message_id: Uuid,
    ) -> StoreResult<Vec<WebhookDeliveryRecord>>;
    /// Sets back to pending (attempts 0, due at `now_millis`, finish time kept to mark a
    /// replay) the project's deliveries
    /// matching: of `message_id` if given, of `endpoint_id` if given, created at or after
    /// `since_millis`, in one of `statuses`. Returns how many.
    async fn requeue(
        &self,
        project_id: &str,
        filter: &RequeueFilter,
        now_millis: i64,
    ) -> StoreResult<u64>;
    /// Marks every pending delivery of an endpoint failed (the endpoint was disabled).
    async fn fail_pending(&self, endpoint_id: Uuid, now_millis: i64) -> StoreResult<u64>;
    /// How many deliveries are pending (all projects).
    async fn pending_count(&self) -> StoreResult<u64>;
    /// Forgets what finished before `before_millis` (all projects): attempts, finished
    /// deliveries, and recorded events (outbox rows of kind `event`) older than that which
    /// no remaining delivery refers to. Returns how many rows went.
    async fn purge(&self, before_millis: i64) -> StoreResult<u64>;
    /// Appends an attempt.
    async fn insert_attempt(&self, a: &WebhookAttemptRecord) -> StoreResult<()>;
    /// The project's attempts matching the query, newest first.
    async fn list_attempts(
        &self,
        project_id: &str,
        q: &AttemptQuery,
    ) -> StoreResult<Vec<WebhookAttemptRecord>>;
}

/// Teams and memberships. Removing a membership (or the team) also clears the user's
/// selected team when it was that team.
#[async_trait]
pub trait TeamRepo: Send + Sync {
    /// Inserts a team.
    async fn insert(&self, team: &TeamRecord) -> StoreResult<()>;
    /// The team with this id.
    async fn get(&self, project_id: &str, id: Uuid) -> StoreResult<Option<TeamRecord>>;
    /// Writes name, image and metadata; `false` when absent.
    async fn update(&self, team: &TeamRecord) -> StoreResult<bool>;
    /// Deletes the team with its memberships; `false` when absent.
    async fn delete(&self, project_id: &str, id: Uuid) -> StoreResult<bool>;
    /// The project's teams, oldest first.
    async fn list(&self, project_id: &str) -> StoreResult<Vec<TeamRecord>>;
    /// The teams a user belongs to, oldest membership first.
    async fn list_for_user(&self, project_id: &str, user_id: Uuid) -> StoreResult<Vec<TeamRecord>>;
    /// Adds a member; [`StoreError::Conflict`] when already a member,
    /// [`StoreError::MissingReference`] when the team or user does not exist.
    async fn add_member(&self, member: &TeamMemberRecord) -> StoreResult<()>;
    /// The membership, if the user is in the team.
    async fn get_member(
        &self,
        project_id: &str,
        team_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<TeamMemberRecord>>;
    /// A team's memberships, oldest first.
    async fn list_members(
        &self,
        project_id: &str,
        team_id: Uuid,
    ) -> StoreResult<Vec<TeamMemberRecord>>;
    /// Writes the member's per-team profile; `false` when absent.
    async fn update_member(&self, member: &TeamMemberRecord) -> StoreResult<bool>;
    /// Removes a membership; `false` when absent.
    async fn remove_member(
        &self,
        project_id: &str,
        team_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<bool>;
}

/// Direct permission grants. Team grants belong to a membership and go with it; project
/// grants go with the user.
#[async_trait]
pub trait PermissionRepo: Send + Sync {
    /// Grants; granting an existing grant is no error. [`StoreError::MissingReference`]
    /// when the membership (team grants) or the user (project grants) does not exist.
    async fn grant(&self, grant: &PermissionGrantRecord) -> StoreResult<()>;
    /// Revokes a direct grant; `false` when there was none.
    async fn revoke(&self, grant: &PermissionGrantRecord) -> StoreResult<bool>;
    /// Direct team grants of the project, optionally of one team and/or user.
    async fn list_team(
        &self,
        project_id: &str,
        team_id: Option<Uuid>,
        user_id: Option<Uuid>,
    ) -> StoreResult<Vec<PermissionGrantRecord>>;
    /// Direct project grants, optionally of one user.
    async fn list_project(
        &self,
        project_id: &str,
        user_id: Option<Uuid>,
    ) -> StoreResult<Vec<PermissionGrantRecord>>;
    /// Renames a permission id in every grant of the project (team and project grants).
    async fn rename(&self, project_id: &str, from: &str, to: &str) -> StoreResult<u64>;
    /// Deletes every grant of a permission id in the project.
    async fn delete_permission(&self, project_id: &str, id: &str) -> StoreResult<u64>;
}

/// Stored files.
#[async_trait]
pub trait FileRepo: Send + Sync {
    /// Stores a file.
    async fn insert(&self, file: &FileRecord) -> StoreResult<()>;
    /// The file of this bucket with this id (in any project: ids are global).
    async fn get(&self, bucket: &str, id: Uuid) -> StoreResult<Option<FileRecord>>;
    /// Deletes the project's file of this bucket with this id; `false` when absent.
    async fn delete(&self, project_id: &str, bucket: &str, id: Uuid) -> StoreResult<bool>;
}

/// Data-vault entries.
#[async_trait]
pub trait VaultRepo: Send + Sync {
    /// Writes the entry, replacing the one with the same (project, store, key hash).
    async fn upsert(&self, entry: &VaultEntryRecord) -> StoreResult<()>;
    /// The entry of this store with this key hash.
    async fn get(
        &self,
        project_id: &str,
        store_id: &str,
        key_hash: &str,
    ) -> StoreResult<Option<VaultEntryRecord>>;
}

/// Throttling counters (per-account failure runs, per-recipient mail windows), shared by
/// every instance over one database.
#[async_trait]
pub trait ThrottleRepo: Send + Sync {
    /// Adds one to the counter `key` for the window starting at `window_start_millis`, in
    /// one atomic statement: a counter of an earlier window starts over at one. Returns the
    /// counter after the increment.
    async fn hit(
        &self,
        project_id: &str,
        key: &str,
        window_start_millis: i64,
        now_millis: i64,
    ) -> StoreResult<ThrottleRecord>;
    /// Reserves an attempt in the failure run `key`: adds one to its count in one atomic
    /// statement (a new run starts at one, with no failure yet: `updated_at` 0) and returns
    /// the run after the increment. Concurrent reservations get distinct counts.
    async fn reserve(
        &self,
        project_id: &str,
        key: &str,
        now_millis: i64,
    ) -> StoreResult<ThrottleRecord>;
    /// Takes a reservation back (the count goes down by one, never below zero).
    async fn release(&self, project_id: &str, key: &str) -> StoreResult<()>;
    /// Records that the reserved attempt failed: the run's last failure is `now_millis` (its
    /// count already includes the attempt).
    async fn fail(&self, project_id: &str, key: &str, now_millis: i64) -> StoreResult<()>;
    /// The counter `key`.
    async fn get(&self, project_id: &str, key: &str) -> StoreResult<Option<ThrottleRecord>>;
    /// Deletes the counter `key`; `false` when there was none.
    async fn clear(&self, project_id: &str, key: &str) -> StoreResult<bool>;
    /// Deletes every counter (of any project) started and last touched before
    /// `before_millis` (a run whose attempts are all in flight has no last touch yet);
    /// returns how many went.
    async fn purge(&self, before_millis: i64) -> StoreResult<u64>;
}

/// TOTP recovery codes, stored hashed.
#[async_trait]
pub trait RecoveryCodeRepo: Send + Sync {
    /// Replaces the user's codes with these; [`StoreError::MissingReference`] when the user
    /// does not exist in the project.
    async fn replace_for_user(
        &self,
        project_id: &str,
        user_id: Uuid,
        codes: &[RecoveryCodeRecord],
    ) -> StoreResult<()>;
    /// Marks the user's unused code with this hash used at `at_millis`; `false` when there
    /// is none (unknown, used, or another user's). Two concurrent uses cannot both succeed.
    async fn use_code(
        &self,
        project_id: &str,
        user_id: Uuid,
        code_hash: &str,
        at_millis: i64,
    ) -> StoreResult<bool>;
    /// How many of the user's codes are unused.
    async fn count_unused(&self, project_id: &str, user_id: Uuid) -> StoreResult<u64>;
    /// Deletes the user's codes; returns how many went.
    async fn delete_for_user(&self, project_id: &str, user_id: Uuid) -> StoreResult<u64>;
}

/// Passkeys (WebAuthn credentials). A credential id is unique per project. Every write
/// also brings the user's [`UserRecord::has_passkey`] in step with the rows it leaves, in
/// the same unit of work; deleting the user deletes its passkeys.
#[async_trait]
pub trait PasskeyRepo: Send + Sync {
    /// Inserts a passkey; [`StoreError::Conflict`] when the project has the credential id
    /// already, [`StoreError::MissingReference`] when the user does not exist in the
    /// project.
    async fn insert(&self, passkey: &PasskeyRecord) -> StoreResult<()>;
    /// The passkey with this row id.
    async fn get(&self, project_id: &str, id: Uuid) -> StoreResult<Option<PasskeyRecord>>;
    /// The project's passkey with this credential id (base64url, no padding).
    async fn find_by_credential_id(
        &self,
        project_id: &str,
        credential_id: &str,
    ) -> StoreResult<Option<PasskeyRecord>>;
    /// A user's passkeys, oldest first (ties by id).
    async fn list_for_user(
        &self,
        project_id: &str,
        user_id: Uuid,
    ) -> StoreResult<Vec<PasskeyRecord>>;
    /// Sets the name; `false` when the passkey is absent.
    async fn rename(&self, project_id: &str, id: Uuid, name: Option<&str>) -> StoreResult<bool>;
    /// Records a sign-in: writes counter, credential, backup flags and last use if the
    /// stored counter still equals `used.expected_counter` (compare-and-swap). `false` when
    /// it does not (another sign-in moved it first) or the passkey is absent.
    async fn record_use(&self, project_id: &str, id: Uuid, used: &PasskeyUse) -> StoreResult<bool>;
    /// Deletes a passkey; `false` when absent.
    async fn delete(&self, project_id: &str, id: Uuid) -> StoreResult<bool>;
    /// Deletes a user's passkeys; returns how many went.
    async fn delete_for_user(&self, project_id: &str, user_id: Uuid) -> StoreResult<u64>;
}

/// Users' accounts at OAuth providers and their (sealed) provider tokens. Every write
/// keeps the owner's `has_oauth` flag in step; rows go with their user.
#[async_trait]
pub trait OAuthRepo: Send + Sync {
    /// Inserts an account; `Conflict` when the user already has that (provider, account id).
    async fn insert_account(&self, account: &OAuthAccountRecord) -> StoreResult<()>;
    /// Updates an account's email, account id and flags; `false` when it does not exist.
    async fn update_account(&self, account: &OAuthAccountRecord) -> StoreResult<bool>;
    /// One account of the project.
    async fn get_account(
        &self,
        project_id: &str,
        id: Uuid,
    ) -> StoreResult<Option<OAuthAccountRecord>>;
    /// The project's accounts with this provider config id and provider account id (of any
    /// user), oldest first.
    async fn find_accounts(
        &self,
        project_id: &str,
        provider_config_id: &str,
        provider_account_id: &str,
    ) -> StoreResult<Vec<OAuthAccountRecord>>;
    /// A user's accounts, oldest first.
    async fn list_for_user(
        &self,
        project_id: &str,
        user_id: Uuid,
    ) -> StoreResult<Vec<OAuthAccountRecord>>;
    /// The accounts of several users (for user listings), oldest first.
    async fn list_for_users(
        &self,
        project_id: &str,
        user_ids: &[Uuid],
    ) -> StoreResult<Vec<OAuthAccountRecord>>;
    /// Every account of the project, oldest first.
    async fn list_for_project(&self, project_id: &str) -> StoreResult<Vec<OAuthAccountRecord>>;
    /// Deletes an account and its tokens.
    async fn delete_account(&self, project_id: &str, id: Uuid) -> StoreResult<bool>;
    /// Stores a provider token.
    async fn insert_token(&self, token: &OAuthTokenRecord) -> StoreResult<()>;
    /// An account's tokens of a kind, newest first.
    async fn list_tokens(
        &self,
        project_id: &str,
        account_id: Uuid,
        kind: OAuthTokenKind,
    ) -> StoreResult<Vec<OAuthTokenRecord>>;
    /// Marks a token no longer usable.
    async fn invalidate_token(&self, project_id: &str, id: Uuid) -> StoreResult<bool>;
    /// Deletes access tokens that expired before `before_millis`, and invalid tokens
    /// created before it. Returns how many went.
    async fn purge_tokens(&self, before_millis: i64) -> StoreResult<u64>;
}

/// CLI login attempts. Each state change is one conditional statement, so of two racing
/// requests exactly one wins.
#[async_trait]
pub trait CliAuthRepo: Send + Sync {
    /// Inserts an attempt.
    async fn insert(&self, attempt: &CliAuthAttemptRecord) -> StoreResult<()>;
    /// The attempt with this polling-code hash.
    async fn find_by_polling_code(
        &self,
        project_id: &str,
        hash: &str,
    ) -> StoreResult<Option<CliAuthAttemptRecord>>;
    /// The attempt with this login-code hash.
    async fn find_by_login_code(
        &self,
        project_id: &str,
        hash: &str,
    ) -> StoreResult<Option<CliAuthAttemptRecord>>;
    /// Stores the browser's (sealed) refresh token and drops the anonymous one, if the
    /// attempt is still pending (no token yet, not used, not expired at `now_millis`).
    async fn complete(
        &self,
        project_id: &str,
        id: Uuid,
        sealed_refresh_token: &str,
        now_millis: i64,
    ) -> StoreResult<bool>;
    /// Clears the anonymous refresh token if it is still `sealed` (claimed once).
    async fn take_anon(&self, project_id: &str, id: Uuid, sealed: &str) -> StoreResult<bool>;
    /// Marks a completed attempt used and clears its refresh token, if not used yet.
    async fn hand_out(&self, project_id: &str, id: Uuid, now_millis: i64) -> StoreResult<bool>;
    /// Deletes attempts that expired before `before_millis`.
    async fn purge(&self, before_millis: i64) -> StoreResult<u64>;
}

/// The audit log: append-only (no update, no delete).
#[async_trait]
pub trait AuditRepo: Send + Sync {
    /// Appends an event.
    async fn insert(&self, event: &AuditEventRecord) -> StoreResult<()>;
    /// The project's events matching the query, newest first (by id).
    async fn list(
        &self,
        project_id: &str,
        query: &AuditQuery,
    ) -> StoreResult<Vec<AuditEventRecord>>;
}

/// The repositories of one connection (the store's pool, or a transaction).
pub trait Repos: Send + Sync {
    /// Projects and key sets.
    fn projects(&self) -> &dyn ProjectRepo;
    /// Users and contact channels.
    fn users(&self) -> &dyn UserRepo;
    /// Sessions.
    fn sessions(&self) -> &dyn SessionRepo;
    /// User and team API keys.
    fn api_keys(&self) -> &dyn ApiKeyRepo;
    /// Verification codes.
    fn codes(&self) -> &dyn CodeRepo;
    /// The outbox.
    fn outbox(&self) -> &dyn OutboxRepo;
    /// Teams and memberships.
    fn teams(&self) -> &dyn TeamRepo;
    /// Permission grants.
    fn permissions(&self) -> &dyn PermissionRepo;
    /// Stored files.
    fn files(&self) -> &dyn FileRepo;
    /// Data-vault entries.
    fn vault(&self) -> &dyn VaultRepo;
    /// Throttling counters.
    fn throttle(&self) -> &dyn ThrottleRepo;
    /// TOTP recovery codes.
    fn recovery_codes(&self) -> &dyn RecoveryCodeRepo;
    /// The audit log.
    fn audit(&self) -> &dyn AuditRepo;
    /// Webhook endpoints, deliveries and attempts.
    fn webhooks(&self) -> &dyn WebhookRepo;
    /// Passkeys.
    fn passkeys(&self) -> &dyn PasskeyRepo;
    /// OAuth provider accounts and tokens.
    fn oauth(&self) -> &dyn OAuthRepo;
    /// CLI login attempts.
    fn cli_auth(&self) -> &dyn CliAuthRepo;
    /// Told by the event recorder that this unit of work recorded a webhook event; a
    /// wrapper may use it to wake delivery once the work is committed.
    fn event_recorded(&self) {}
}

/// Implements [`Repos`] for a type by forwarding every repository to a field that
/// implements it (a wrapper around another store).
///
/// ```
/// use postern_core::storage::Store;
/// struct Wrapped {
///     inner: std::sync::Arc<dyn Store>,
/// }
/// postern_core::forward_repos!(Wrapped => inner);
/// ```
#[macro_export]
macro_rules! forward_repos {
    ($ty:ty => $field:ident) => {
        impl $crate::storage::Repos for $ty {
            fn projects(&self) -> &dyn $crate::storage::ProjectRepo {
                self.$field.projects()
            }
            fn users(&self) -> &dyn $crate::storage::UserRepo {
                self.$field.users()
            }
            fn sessions(&self) -> &dyn $crate::storage::SessionRepo {
                self.$field.sessions()
            }
            fn api_keys(&self) -> &dyn $crate::storage::ApiKeyRepo {
                self.$field.api_keys()
            }
            fn codes(&self) -> &dyn $crate::storage::CodeRepo {
                self.$field.codes()
            }
            fn outbox(&self) -> &dyn $crate::storage::OutboxRepo {
                self.$field.outbox()
            }
            fn teams(&self) -> &dyn $crate::storage::TeamRepo {
                self.$field.teams()
            }
            fn permissions(&self) -> &dyn $crate::storage::PermissionRepo {
                self.$field.permissions()
            }
            fn files(&self) -> &dyn $crate::storage::FileRepo {
                self.$field.files()
            }
            fn vault(&self) -> &dyn $crate::storage::VaultRepo {
                self.$field.vault()
            }
            fn throttle(&self) -> &dyn $crate::storage::ThrottleRepo {
                self.$field.throttle()
            }
            fn recovery_codes(&self) -> &dyn $crate::storage::RecoveryCodeRepo {
                self.$field.recovery_codes()
            }
            fn audit(&self) -> &dyn $crate::storage::AuditRepo {
                self.$field.audit()
            }
            fn webhooks(&self) -> &dyn $crate::storage::WebhookRepo {
                self.$field.webhooks()
            }
            fn passkeys(&self) -> &dyn $crate::storage::PasskeyRepo {
                self.$field.passkeys()
            }
            fn oauth(&self) -> &dyn $crate::storage::OAuthRepo {
                self.$field.oauth()
            }
            fn cli_auth(&self) -> &dyn $crate::storage::CliAuthRepo {
                self.$field.cli_auth()
            }
            fn event_recorded(&self) {
                self.$field.event_recorded()
            }
        }
    };
}

/// A storage backend: autocommit repositories plus transactions and migrations.
#[async_trait]
pub trait Store: Repos {
    /// Starts a transaction. Dropping the returned [`Tx`] without [`Tx::commit`] rolls back.
    async fn begin(&self) -> StoreResult<Box<dyn Tx>>;
    /// Brings the schema up to date (idempotent).
    async fn migrate(&self) -> StoreResult<()>;
    /// Checks that the database answers.
    async fn ping(&self) -> StoreResult<()>;
}

/// One unit of work.
#[async_trait]
pub trait Tx: Repos {
    /// Makes every write of the transaction durable and visible.
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
