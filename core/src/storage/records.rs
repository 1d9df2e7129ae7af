//! Plain rows exchanged with storage backends.

use std::fmt;

use serde_json::Value;
use uuid::Uuid;

/// A project row.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectRecord {
    /// Project id (a UUID string, or a name such as `internal`).
    pub id: String,
    /// Human name.
    pub display_name: String,
    /// The project config as a JSON object (Stack's nested shape).
    pub config: Value,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// The team (of the `internal` project) whose members administer this project.
    pub owner_team_id: Option<Uuid>,
    /// The config's version: every write bumps it, and succeeds only from the version it
    /// read ([`crate::storage::ProjectRepo::update`]).
    pub config_version: i64,
}

/// The three kinds of project key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `pck_…`: client access.
    PublishableClient,
    /// `ssk_…`: server access.
    SecretServer,
    /// `sak_…`: admin access.
    SuperSecretAdmin,
}

/// A set of project keys, each stored only as a SHA-256 hash (lowercase hex).
#[derive(Clone, PartialEq)]
pub struct ApiKeySetRecord {
    /// Key set id.
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// Free text.
    pub description: String,
    /// Hash of the publishable client key, if the set has one.
    pub publishable_client_key_hash: Option<String>,
    /// Hash of the secret server key, if the set has one.
    pub secret_server_key_hash: Option<String>,
    /// Hash of the super secret admin key, if the set has one.
    pub super_secret_admin_key_hash: Option<String>,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// Expiry, epoch milliseconds; `None` never expires.
    pub expires_at_millis: Option<i64>,
    /// When the set was revoked, if it was.
    pub revoked_at_millis: Option<i64>,
}

impl fmt::Debug for ApiKeySetRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeySetRecord")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("description", &self.description)
            .field(
                "has_publishable_client_key",
                &self.publishable_client_key_hash.is_some(),
            )
            .field(
                "has_secret_server_key",
                &self.secret_server_key_hash.is_some(),
            )
            .field(
                "has_super_secret_admin_key",
                &self.super_secret_admin_key_hash.is_some(),
            )
            .field("created_at_millis", &self.created_at_millis)
            .field("expires_at_millis", &self.expires_at_millis)
            .field("revoked_at_millis", &self.revoked_at_millis)
            .finish()
    }
}

/// A user row. `Debug` redacts the password hash and the TOTP secret.
#[derive(Clone, PartialEq)]
pub struct UserRecord {
    /// Owning project.
    pub project_id: String,
    /// User id.
    pub id: Uuid,
    /// Display name (never the empty string).
    pub display_name: Option<String>,
    /// Profile image URL.
    pub profile_image_url: Option<String>,
    /// Client-writable metadata.
    pub client_metadata: Option<Value>,
    /// Server-writable, client-readable metadata.
    pub client_read_only_metadata: Option<Value>,
    /// Server-only metadata.
    pub server_metadata: Option<Value>,
    /// Password hash in PHC / modular crypt format; `None` when the user has no password.
    pub password_hash: Option<String>,
    /// Whether OTP / magic-link sign-in is enabled for the user.
    pub otp_auth_enabled: bool,
    /// The TOTP secret, sealed (AES-256-GCM under a key derived from the server secret,
    /// bound to the user id); `Some` means MFA is required.
    pub totp_secret: Option<Vec<u8>>,
    /// The selected team.
    pub selected_team_id: Option<Uuid>,
    /// Anonymous user.
    pub is_anonymous: bool,
    /// Restricted by an administrator or a sign-up rule.
    pub restricted_by_admin: bool,
    /// Public reason for the restriction.
    pub restricted_by_admin_reason: Option<String>,
    /// Private notes on the restriction.
    pub restricted_by_admin_private_details: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country_code: Option<String>,
    /// Sign-up bot risk score, 0 to 100.
    pub risk_score_bot: i32,
    /// Sign-up free-trial-abuse risk score, 0 to 100.
    pub risk_score_free_trial_abuse: i32,
    /// Sign-up time, epoch milliseconds.
    pub signed_up_at_millis: i64,
    /// Last token mint or refresh, epoch milliseconds.
    pub last_active_at_millis: i64,
    /// The last TOTP time step accepted (a code of that step or an earlier one is refused).
    pub totp_last_step: Option<i64>,
    /// The TOTP secret was set with a proof (by a server, or by a client with a step-up),
    /// or has completed a sign-in since: only then does a TOTP code count as a step-up
    /// proof. A secret a stolen access token set proves nothing.
    pub totp_proven: bool,
    /// When the owner of the account's sign-in address first entered the account through
    /// it (password reset, OTP / magic link), or the account was created by such a proof or
    /// by a server. `None`: unclaimed (a password sign-up, an anonymous user); the first
    /// claim revokes what was set before it.
    pub claimed_at_millis: Option<i64>,
    /// Access tokens issued before this time are refused (set when a reset or a claim
    /// revokes everything), epoch milliseconds.
    pub tokens_valid_after_millis: Option<i64>,
    /// The user has at least one passkey. Derived: the passkey repository keeps it in step
    /// with the user's passkeys ([`crate::storage::PasskeyRepo`]); [`crate::storage::UserRepo::update`]
    /// never writes it, and a value given to [`crate::storage::UserRepo::insert`] is ignored.
    pub has_passkey: bool,
    /// The user has at least one OAuth provider account. Derived, like `has_passkey`: the
    /// OAuth repository keeps it in step ([`crate::storage::OAuthRepo`]).
    pub has_oauth: bool,
}

impl UserRecord {
    /// A user with a fresh id, signed up (and last active) at `now_millis`, and every
    /// optional field empty: no email, no password, not anonymous, not restricted.
    pub fn new(project_id: &str, now_millis: i64) -> Self {
        UserRecord {
            project_id: project_id.to_owned(),
            id: Uuid::new_v4(),
            display_name: None,
            profile_image_url: None,
            client_metadata: None,
            client_read_only_metadata: None,
            server_metadata: None,
            password_hash: None,
            otp_auth_enabled: false,
            totp_secret: None,
            selected_team_id: None,
            is_anonymous: false,
            restricted_by_admin: false,
            restricted_by_admin_reason: None,
            restricted_by_admin_private_details: None,
            country_code: None,
            risk_score_bot: 0,
            risk_score_free_trial_abuse: 0,
            signed_up_at_millis: now_millis,
            last_active_at_millis: now_millis,
            totp_last_step: None,
            totp_proven: false,
            claimed_at_millis: None,
            tokens_valid_after_millis: None,
            has_passkey: false,
            has_oauth: false,
        }
    }
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("project_id", &self.project_id)
            .field("id", &self.id)
            .field("display_name", &self.display_name)
            .field("has_password", &self.password_hash.is_some())
            .field("has_totp", &self.totp_secret.is_some())
            .field("is_anonymous", &self.is_anonymous)
            .field("restricted_by_admin", &self.restricted_by_admin)
            .field("signed_up_at_millis", &self.signed_up_at_millis)
            .field("claimed_at_millis", &self.claimed_at_millis)
            .finish_non_exhaustive()
    }
}

/// Kind of contact channel. Only email exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// An email address.
    Email,
}

impl ChannelKind {
    /// Wire and storage name (`email`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
        }
    }

    /// Parses the wire and storage name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(ChannelKind::Email),
            _ => None,
        }
    }
}

/// A contact channel row.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactChannelRecord {
    /// Owning project.
    pub project_id: String,
    /// Channel id.
    pub id: Uuid,
    /// Owning user.
    pub user_id: Uuid,
    /// Channel kind.
    pub kind: ChannelKind,
    /// The address (normalised when written by the domain).
    pub value: String,
    /// The user's primary channel of this kind.
    pub is_primary: bool,
    /// Verified.
    pub is_verified: bool,
    /// Usable to sign in (with `auth_confirmed`, unique per project, kind and value).
    pub used_for_auth: bool,
    /// Confirmed for sign-in by a factor a stolen access token does not give: the address
    /// an account was created with, a server's write, or a client's change confirmed by the
    /// password, a TOTP code or a link to the previously proven address. An auth channel
    /// that is not confirmed is not used to sign in, nor to receive sign-in codes or reset
    /// links.
    pub auth_confirmed: bool,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
}

/// A session row: one refresh token, stored as its SHA-256 hash (lowercase hex).
#[derive(Clone, PartialEq)]
pub struct SessionRecord {
    /// Owning project.
    pub project_id: String,
    /// Session id (the `refresh_token_id` claim).
    pub id: Uuid,
    /// The signed-in user.
    pub user_id: Uuid,
    /// SHA-256 of the refresh token, lowercase hex.
    pub token_hash: String,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// Last refresh, epoch milliseconds.
    pub last_active_at_millis: i64,
    /// Absolute expiry, epoch milliseconds.
    pub expires_at_millis: Option<i64>,
    /// Created by a server for impersonation.
    pub is_impersonation: bool,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("project_id", &self.project_id)
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("created_at_millis", &self.created_at_millis)
            .field("last_active_at_millis", &self.last_active_at_millis)
            .field("expires_at_millis", &self.expires_at_millis)
            .field("is_impersonation", &self.is_impersonation)
            .finish_non_exhaustive()
    }
}

/// Filters and order for [`crate::storage::UserRepo::list`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserListQuery {
    /// Start at this user (inclusive) in the chosen order; an unknown id gives an empty list.
    pub cursor: Option<Uuid>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Descending `(signed_up_at, id)` instead of ascending.
    pub desc: bool,
    /// Case-insensitive substring of the display name or of any contact channel value, or
    /// an exact user id.
    pub search: Option<String>,
    /// Leave out anonymous users.
    pub exclude_anonymous: bool,
    /// Only anonymous users.
    pub only_anonymous: bool,
    /// Leave out users restricted by an administrator.
    pub exclude_restricted_by_admin: bool,
    /// Leave out (non-anonymous) users without a verified primary email.
    pub exclude_unverified_email: bool,
}

/// Who owns an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiKeyOwner {
    /// A user of the project (the key is deleted with the user).
    User(Uuid),
    /// A team of the project.
    Team(Uuid),
}

/// A user or team API key row. Holds no usable secret: `secret_hash` is an HMAC-SHA256 (with
/// a server-side pepper) of the key, lowercase hex. `Debug` redacts it.
#[derive(Clone, PartialEq)]
pub struct ApiKeyRecord {
    /// Owning project.
    pub project_id: String,
    /// Key id (embedded in the key string).
    pub id: Uuid,
    /// Owner.
    pub owner: ApiKeyOwner,
    /// Free text.
    pub description: String,
    /// A public (`pk_`) key.
    pub is_public: bool,
    /// HMAC-SHA256 of the whole key string under the server pepper, lowercase hex.
    pub secret_hash: String,
    /// The last four characters of the key.
    pub last_four: String,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// Expiry, epoch milliseconds.
    pub expires_at_millis: Option<i64>,
    /// When the key was revoked, if it was.
    pub revoked_at_millis: Option<i64>,
}

impl fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("project_id", &self.project_id)
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("description", &self.description)
            .field("is_public", &self.is_public)
            .field("last_four", &self.last_four)
            .field("created_at_millis", &self.created_at_millis)
            .field("expires_at_millis", &self.expires_at_millis)
            .field("revoked_at_millis", &self.revoked_at_millis)
            .finish_non_exhaustive()
    }
}

/// What a verification code is for. A code of one purpose is unknown to the endpoints of
/// every other purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodePurpose {
    /// Verifying a contact channel (email).
    ContactChannelVerification,
    /// Resetting a password.
    PasswordReset,
    /// OTP / magic-link sign-in.
    OneTimePassword,
    /// Accepting a team invitation.
    TeamInvitation,
    /// The second step of a sign-in that needs multi-factor authentication.
    MfaAttempt,
    /// A step-up code mailed to a user's proven address.
    StepUpCode,
    /// A step-up token: a proof, given moments ago, that a sensitive change may spend.
    StepUpToken,
    /// A link, mailed to the proven address, that makes another address usable
    /// for sign-in.
    ChannelAuthConfirmation,
    /// A WebAuthn registration ceremony: its challenge and the server-side state.
    PasskeyRegistrationChallenge,
    /// A WebAuthn authentication ceremony: its challenge and the server-side state.
    PasskeyAuthenticationChallenge,
    /// An OAuth sign-in under way at a provider: the app's outer parameters, keyed by the
    /// inner `state` sent to the provider (single use, 10 minutes).
    OAuthFlow,
    /// An outer OAuth authorization code, exchanged at the token endpoint (5 minutes).
    OAuthAuthorizationCode,
}

impl CodePurpose {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::ContactChannelVerification => "contact_channel_verification",
            CodePurpose::PasswordReset => "password_reset",
            CodePurpose::OneTimePassword => "one_time_password",
            CodePurpose::TeamInvitation => "team_invitation",
            CodePurpose::MfaAttempt => "mfa_attempt",
            CodePurpose::StepUpCode => "step_up_code",
            CodePurpose::StepUpToken => "step_up_token",
            CodePurpose::ChannelAuthConfirmation => "channel_auth_confirmation",
            CodePurpose::PasskeyRegistrationChallenge => "passkey_registration_challenge",
            CodePurpose::PasskeyAuthenticationChallenge => "passkey_authentication_challenge",
            CodePurpose::OAuthFlow => "oauth_flow",
            CodePurpose::OAuthAuthorizationCode => "oauth_authorization_code",
        }
    }

    /// Parses the storage name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            CodePurpose::ContactChannelVerification,
            CodePurpose::PasswordReset,
            CodePurpose::OneTimePassword,
            CodePurpose::TeamInvitation,
            CodePurpose::MfaAttempt,
            CodePurpose::StepUpCode,
            CodePurpose::StepUpToken,
            CodePurpose::ChannelAuthConfirmation,
            CodePurpose::PasskeyRegistrationChallenge,
            CodePurpose::PasskeyAuthenticationChallenge,
            CodePurpose::OAuthFlow,
            CodePurpose::OAuthAuthorizationCode,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// A verification code row. The code itself is never stored: only the SHA-256 of the whole
/// code and the SHA-256 of its nonce (the last 39 characters, shared by the attempts against
/// one sent code).
#[derive(Clone, PartialEq)]
pub struct VerificationCodeRecord {
    /// Owning project.
    pub project_id: String,
    /// Row id.
    pub id: Uuid,
    /// Purpose.
    pub purpose: CodePurpose,
    /// SHA-256 of the (lowercase) code, lowercase hex; unique.
    pub code_hash: String,
    /// SHA-256 of the code's nonce, lowercase hex.
    pub nonce_hash: String,
    /// The user the code acts on, if any (the row goes with the user).
    pub user_id: Option<Uuid>,
    /// Flow-specific data (for example `{"email": …}`).
    pub data: Value,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// Expiry, epoch milliseconds.
    pub expires_at_millis: i64,
    /// When the code was used, if it was.
    pub used_at_millis: Option<i64>,
    /// Requests that touched the code's nonce so far.
    pub attempt_count: i32,
}

impl fmt::Debug for VerificationCodeRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationCodeRecord")
            .field("project_id", &self.project_id)
            .field("id", &self.id)
            .field("purpose", &self.purpose)
            .field("user_id", &self.user_id)
            .field("expires_at_millis", &self.expires_at_millis)
            .field("used_at_millis", &self.used_at_millis)
            .field("attempt_count", &self.attempt_count)
            .finish_non_exhaustive()
    }
}

/// Delivery state of an outbox message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxStatus {
    /// Waiting for (another) delivery attempt.
    Pending,
    /// Delivered; the payload has been erased.
    Sent,
    /// No transport is configured: the message was written to the log and kept.
    Logged,
    /// Given up after too many failed attempts.
    Failed,
    /// Recorded for a later consumer (webhook events); the mail worker leaves it alone.
    Held,
}

impl OutboxStatus {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Logged => "logged",
            OutboxStatus::Failed => "failed",
            OutboxStatus::Held => "held",
        }
    }

    /// Parses the storage name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            OutboxStatus::Pending,
            OutboxStatus::Sent,
            OutboxStatus::Logged,
            OutboxStatus::Failed,
            OutboxStatus::Held,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// An outbox row: a message recorded in the transaction of the change that causes it and
/// delivered after commit. The payload is sealed (AEAD under a key derived from the server
/// secret), so links with codes in them are not readable from a database dump.
#[derive(Clone, PartialEq)]
pub struct OutboxRecord {
    /// Row id.
    pub id: Uuid,
    /// The project the message belongs to.
    pub project_id: String,
    /// Message kind (`email`).
    pub kind: String,
    /// Sealed payload (base64); empty once delivered.
    pub payload: String,
    /// Delivery state.
    pub status: OutboxStatus,
    /// Failed delivery attempts so far.
    pub attempts: i32,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// Earliest next delivery attempt, epoch milliseconds (also a claim lease).
    pub next_attempt_at_millis: i64,
    /// Delivery time.
    pub sent_at_millis: Option<i64>,
    /// The last delivery error (never contains the payload).
    pub last_error: Option<String>,
}

impl fmt::Debug for OutboxRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxRecord")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .field("next_attempt_at_millis", &self.next_attempt_at_millis)
            .field("sent_at_millis", &self.sent_at_millis)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

/// A team row.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamRecord {
    /// Owning project.
    pub project_id: String,
    /// Team id.
    pub id: Uuid,
    /// Display name.
    pub display_name: String,
    /// Profile image URL.
    pub profile_image_url: Option<String>,
    /// Client-writable metadata.
    pub client_metadata: Option<Value>,
    /// Server-writable, client-readable metadata.
    pub client_read_only_metadata: Option<Value>,
    /// Server-only metadata.
    pub server_metadata: Option<Value>,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
}

/// A membership row: a user in a team, with the member's per-team profile.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamMemberRecord {
    /// Owning project.
    pub project_id: String,
    /// The team.
    pub team_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// Per-team display name (falls back to the user's).
    pub display_name: Option<String>,
    /// Per-team profile image (falls back to the user's).
    pub profile_image_url: Option<String>,
    /// Joining time, epoch milliseconds.
    pub created_at_millis: i64,
}

/// A direct permission grant: in a team (`team_id` set) or project-wide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PermissionGrantRecord {
    /// Owning project.
    pub project_id: String,
    /// The team, for team permissions.
    pub team_id: Option<Uuid>,
    /// The user.
    pub user_id: Uuid,
    /// The permission id (a definition of the project's config, or a `$` system id).
    pub permission_id: String,
}

/// A stored file (profile images uploaded as data URLs).
#[derive(Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// Owning project.
    pub project_id: String,
    /// File id (globally unique; in the public URL).
    pub id: Uuid,
    /// Bucket (`user-profile-images`, `team-profile-images`, ...).
    pub bucket: String,
    /// MIME type.
    pub content_type: String,
    /// The bytes.
    pub data: Vec<u8>,
    /// Upload time, epoch milliseconds.
    pub created_at_millis: i64,
}

impl fmt::Debug for FileRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileRecord")
            .field("project_id", &self.project_id)
            .field("id", &self.id)
            .field("bucket", &self.bucket)
            .field("content_type", &self.content_type)
            .field("len", &self.data.len())
            .finish_non_exhaustive()
    }
}

/// A data-vault entry: the client's already-encrypted value, sealed again at rest under a
/// fresh data key that is itself wrapped by the server's vault key.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultEntryRecord {
    /// Owning project.
    pub project_id: String,
    /// The store.
    pub store_id: String,
    /// HMAC (server vault key) of the client's hashed key, lowercase hex.
    pub key_hash: String,
    /// The data key, sealed under the vault key (base64).
    pub wrapped_key: String,
    /// The value, sealed under the data key (base64).
    pub ciphertext: String,
    /// Last write, epoch milliseconds.
    pub updated_at_millis: i64,
}

impl fmt::Debug for VaultEntryRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultEntryRecord")
            .field("project_id", &self.project_id)
            .field("store_id", &self.store_id)
            .field("updated_at_millis", &self.updated_at_millis)
            .finish_non_exhaustive()
    }
}

/// A throttling counter: a failure run of a factor for an account (consecutive failures plus
/// attempts in flight), or the number of events (mails to a recipient) in a fixed window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleRecord {
    /// Owning project.
    pub project_id: String,
    /// What is counted (`fail:password:<user id>`, `mail:<hash of the address>`, ...).
    pub key: String,
    /// The count.
    pub count: i64,
    /// Start of the window the count belongs to (failure runs: when the run started), epoch
    /// milliseconds.
    pub window_start_millis: i64,
    /// Last event (failure runs: the last failure, 0 before the first), epoch milliseconds.
    pub updated_at_millis: i64,
}

/// A passkey (WebAuthn credential) of a user. The credential id is unique per project.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// Owning project.
    pub project_id: String,
    /// Row id.
    pub id: Uuid,
    /// The user the passkey signs in.
    pub user_id: Uuid,
    /// The credential id, base64url without padding (as browsers send it).
    pub credential_id: String,
    /// A name the user chose (`None` until one is given).
    pub name: Option<String>,
    /// The credential as webauthn-rs serializes it (JSON): public key, counter, flags.
    /// The source of truth for verification; the columns below repeat parts of it for
    /// listing.
    pub credential: String,
    /// COSE algorithm of the public key (-7 ES256, -257 RS256, ...).
    pub algorithm: i32,
    /// The signature counter last seen (0 for authenticators without one).
    pub counter: i64,
    /// Transports the authenticator reported (`internal`, `hybrid`, `usb`, ...).
    pub transports: Vec<String>,
    /// The credential may be backed up or synced (a multi-device passkey).
    pub backup_eligible: bool,
    /// The credential is backed up or synced now.
    pub backup_state: bool,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// Last successful sign-in with it, epoch milliseconds.
    pub last_used_at_millis: Option<i64>,
}

impl fmt::Debug for PasskeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyRecord")
            .field("project_id", &self.project_id)
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("credential_id", &self.credential_id)
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

/// What a successful sign-in changes on a passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyUse {
    /// The counter the sign-in was verified against (the stored one).
    pub expected_counter: i64,
    /// The new counter.
    pub counter: i64,
    /// The updated credential JSON.
    pub credential: String,
    /// Backup eligibility now.
    pub backup_eligible: bool,
    /// Backup state now.
    pub backup_state: bool,
    /// When, epoch milliseconds.
    pub at_millis: i64,
}

/// A TOTP recovery code, stored as the SHA-256 of the code (lowercase hex).
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCodeRecord {
    /// Owning project.
    pub project_id: String,
    /// The user.
    pub user_id: Uuid,
    /// Row id.
    pub id: Uuid,
    /// SHA-256 of the normalised code, lowercase hex.
    pub code_hash: String,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// When it was used; a code is good once.
    pub used_at_millis: Option<i64>,
}

impl fmt::Debug for RecoveryCodeRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryCodeRecord")
            .field("project_id", &self.project_id)
            .field("user_id", &self.user_id)
            .field("id", &self.id)
            .field("used_at_millis", &self.used_at_millis)
            .finish_non_exhaustive()
    }
}

/// One entry of the append-only audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEventRecord {
    /// Owning project.
    pub project_id: String,
    /// Event id (UUID v7: ordered by time).
    pub id: Uuid,
    /// When, epoch milliseconds.
    pub at_millis: i64,
    /// What happened (`sign_in.succeeded`, `password.changed`, ...).
    pub event_type: String,
    /// The user concerned, if any (kept after the user is deleted).
    pub user_id: Option<Uuid>,
    /// Who acted: `user:<id>`, `server`, `admin`, `anonymous` or `system`.
    pub actor: String,
    /// The client IP address, when known.
    pub ip: Option<String>,
    /// Event details (never a secret).
    pub details: Value,
}

/// Filters for [`crate::storage::AuditRepo::list`]: newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only events of this user.
    pub user_id: Option<Uuid>,
    /// Only events of these types (any type when empty).
    pub event_types: Vec<String>,
    /// Only events at or after this time, epoch milliseconds.
    pub since_millis: Option<i64>,
    /// Only events before this time, epoch milliseconds.
    pub until_millis: Option<i64>,
    /// Only events older than this event id (the cursor of the previous page).
    pub before: Option<Uuid>,
    /// At most this many.
    pub limit: u64,
}

/// A webhook endpoint: where a project's events are POSTed, signed with its secret.
#[derive(Clone, PartialEq)]
pub struct WebhookEndpointRecord {
    /// Row id (shown as `ep_<hex>`).
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// Destination URL (`http` or `https`).
    pub url: String,
    /// Free text for operators.
    pub description: String,
    /// The event types delivered; `None` delivers every type.
    pub event_types: Option<Vec<String>>,
    /// Whether new events are delivered.
    pub enabled: bool,
    /// The signing secret (`whsec_...`), sealed (base64).
    pub secret: String,
    /// The previous signing secret, sealed, still used beside the current one until
    /// `previous_secret_until_millis` (secret rotation).
    pub previous_secret: Option<String>,
    /// End of the rotation window.
    pub previous_secret_until_millis: Option<i64>,
    /// Whether delivery to loopback, private and link-local addresses is allowed.
    pub allow_private_addresses: bool,
    /// Declared in the server's config file (kept in step with it at start).
    pub declared: bool,
    /// Start of the current run of failed deliveries, if failing.
    pub failing_since_millis: Option<i64>,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// Last change, epoch milliseconds.
    pub updated_at_millis: i64,
}

impl fmt::Debug for WebhookEndpointRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpointRecord")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .field("declared", &self.declared)
            .field("failing_since_millis", &self.failing_since_millis)
            .finish_non_exhaustive()
    }
}

/// State of one message's delivery to one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for (another) attempt.
    Pending,
    /// Answered with a 2xx.
    Delivered,
    /// Every scheduled attempt failed, or the endpoint was disabled.
    Failed,
    /// The receiver answered `webhook-delivery: abort-message`.
    Aborted,
}

impl DeliveryStatus {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Aborted => "aborted",
        }
    }

    /// Parses the storage name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
            DeliveryStatus::Aborted,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// One message (an outbox event) owed to one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookDeliveryRecord {
    /// Row id (time-ordered: an endpoint's deliveries go out in id order).
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// The outbox message.
    pub message_id: Uuid,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// State.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// Earliest next attempt, epoch milliseconds (also the claim lease).
    pub next_attempt_at_millis: i64,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// When it was delivered, failed or aborted.
    pub finished_at_millis: Option<i64>,
}

/// One HTTP attempt at a delivery, for the delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookAttemptRecord {
    /// Row id.
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// The delivery.
    pub delivery_id: Uuid,
    /// The outbox message.
    pub message_id: Uuid,
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// The URL posted to.
    pub url: String,
    /// Whether the receiver answered 2xx.
    pub success: bool,
    /// The response status, if there was a response.
    pub response_status_code: Option<i32>,
    /// The response body (truncated) or the transport error.
    pub response: String,
    /// Time from sending to the answer (or the failure), milliseconds.
    pub latency_millis: i64,
    /// When the attempt was made, epoch milliseconds.
    pub at_millis: i64,
    /// `scheduled` or `manual` (a replay).
    pub trigger: String,
}

/// Which attempts to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttemptQuery {
    /// Only this endpoint's.
    pub endpoint_id: Option<Uuid>,
    /// Only this message's.
    pub message_id: Option<Uuid>,
    /// Only those before this id (paging, newest first).
    pub before: Option<Uuid>,
    /// At most this many.
    pub limit: u64,
}

/// Which deliveries [`crate::storage::WebhookRepo::requeue`] sets back to pending.
#[derive(Debug, Clone, PartialEq)]
pub struct RequeueFilter {
    /// Only this message's.
    pub message_id: Option<Uuid>,
    /// Only this endpoint's.
    pub endpoint_id: Option<Uuid>,
    /// Only those created at or after this time, epoch milliseconds.
    pub since_millis: i64,
    /// Only those in one of these states.
    pub statuses: Vec<DeliveryStatus>,
}

/// A user's account at an OAuth provider (Stack's `ProjectUserOAuthAccount`): what signs
/// the user in with that provider, and whose tokens connected accounts hand out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthAccountRecord {
    /// Owning project.
    pub project_id: String,
    /// Row id (the `oauth-providers` id).
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The provider's config id (`auth.oauth.providers.<id>`).
    pub provider_config_id: String,
    /// The account's id at the provider.
    pub provider_account_id: String,
    /// The address the provider gave, if any.
    pub email: Option<String>,
    /// Signs the user in.
    pub allow_sign_in: bool,
    /// Its tokens are handed out as a connected account.
    pub allow_connected_accounts: bool,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
}

/// Kind of a stored provider token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OAuthTokenKind {
    /// A provider access token.
    Access,
    /// A provider refresh token.
    Refresh,
}

impl OAuthTokenKind {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthTokenKind::Access => "access",
            OAuthTokenKind::Refresh => "refresh",
        }
    }

    /// Parses a storage name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "access" => Some(OAuthTokenKind::Access),
            "refresh" => Some(OAuthTokenKind::Refresh),
            _ => None,
        }
    }
}

/// A provider token of an [`OAuthAccountRecord`], sealed at rest.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthTokenRecord {
    /// Owning project.
    pub project_id: String,
    /// Row id.
    pub id: Uuid,
    /// The provider account.
    pub account_id: Uuid,
    /// Access or refresh token.
    pub kind: OAuthTokenKind,
    /// The token, sealed (AES-256-GCM, bound to the row id).
    pub sealed_token: String,
    /// The scopes it was requested with.
    pub scopes: Vec<String>,
    /// Expiry (access tokens), epoch milliseconds.
    pub expires_at_millis: Option<i64>,
    /// Still usable (a provider refused it once: no longer).
    pub is_valid: bool,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
}

impl fmt::Debug for OAuthTokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokenRecord")
            .field("project_id", &self.project_id)
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("kind", &self.kind)
            .field("scopes", &self.scopes)
            .field("expires_at_millis", &self.expires_at_millis)
            .field("is_valid", &self.is_valid)
            .finish_non_exhaustive()
    }
}

/// A CLI login attempt (`/auth/cli`): the CLI polls with one code, the browser completes
/// with the other. Both codes are stored as hashes; the refresh tokens it carries are
/// sealed, and the browser's is cleared once the CLI has it.
#[derive(Clone, PartialEq, Eq)]
pub struct CliAuthAttemptRecord {
    /// Owning project.
    pub project_id: String,
    /// Row id.
    pub id: Uuid,
    /// SHA-256 of the polling code.
    pub polling_code_hash: String,
    /// SHA-256 of the login code.
    pub login_code_hash: String,
    /// The refresh token the browser handed over, sealed, until the CLI collects it.
    pub sealed_refresh_token: Option<String>,
    /// The CLI's own anonymous session's refresh token, sealed, until claimed or replaced.
    pub sealed_anon_refresh_token: Option<String>,
    /// Expiry, epoch milliseconds.
    pub expires_at_millis: i64,
    /// When the CLI collected the refresh token, epoch milliseconds.
    pub used_at_millis: Option<i64>,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
}

impl fmt::Debug for CliAuthAttemptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CliAuthAttemptRecord")
            .field("project_id", &self.project_id)
            .field("id", &self.id)
            .field("completed", &self.sealed_refresh_token.is_some())
            .field("expires_at_millis", &self.expires_at_millis)
            .field("used_at_millis", &self.used_at_millis)
            .finish_non_exhaustive()
    }
}
