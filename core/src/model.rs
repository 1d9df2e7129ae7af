//! The shared model: the [`User`] and [`Team`] views of their rows, what a sign-in hands
//! out, the user-row loader and the metadata limit. It sits below every service and imports
//! none, so users, sessions, teams, MFA, OTP and the sign-in pipeline depend on it rather
//! than on each other.

use serde_json::Value;
use uuid::Uuid;

use crate::config::ProjectConfig;
use crate::error::{RestrictedReason, Result};
use crate::storage::{ChannelKind, ContactChannelRecord, Repos, TeamRecord, UserRecord};

/// A team as Stack describes it (server view; clients see no server metadata or creation
/// time).
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    /// Team id.
    pub id: Uuid,
    /// Display name.
    pub display_name: String,
    /// Profile image URL.
    pub profile_image_url: Option<String>,
    /// Client metadata.
    pub client_metadata: Option<Value>,
    /// Client-read-only metadata.
    pub client_read_only_metadata: Option<Value>,
    /// Server metadata.
    pub server_metadata: Option<Value>,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
}

impl From<TeamRecord> for Team {
    fn from(r: TeamRecord) -> Self {
        Team {
            id: r.id,
            display_name: r.display_name,
            profile_image_url: r.profile_image_url,
            client_metadata: r.client_metadata,
            client_read_only_metadata: r.client_read_only_metadata,
            server_metadata: r.server_metadata,
            created_at_millis: r.created_at_millis,
        }
    }
}

/// A user as Stack describes it (the server view; the REST layer hides server-only fields
/// from clients).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// User id.
    pub id: Uuid,
    /// Project id.
    pub project_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Profile image URL.
    pub profile_image_url: Option<String>,
    /// Primary email.
    pub primary_email: Option<String>,
    /// Primary email verified.
    pub primary_email_verified: bool,
    /// Primary email usable for sign-in.
    pub primary_email_auth_enabled: bool,
    /// Sign-up time, epoch milliseconds.
    pub signed_up_at_millis: i64,
    /// Last activity, epoch milliseconds.
    pub last_active_at_millis: i64,
    /// Client metadata.
    pub client_metadata: Option<Value>,
    /// Client-read-only metadata.
    pub client_read_only_metadata: Option<Value>,
    /// Server metadata.
    pub server_metadata: Option<Value>,
    /// Has a password.
    pub has_password: bool,
    /// OTP sign-in enabled.
    pub otp_auth_enabled: bool,
    /// Has a passkey.
    pub passkey_auth_enabled: bool,
    /// TOTP MFA enabled.
    pub requires_totp_mfa: bool,
    /// Selected team.
    pub selected_team_id: Option<Uuid>,
    /// The selected team itself (filled by the loading services).
    pub selected_team: Option<Team>,
    /// Anonymous.
    pub is_anonymous: bool,
    /// Why the user is restricted, if it is.
    pub restricted_reason: Option<RestrictedReason>,
    /// Restricted by an administrator.
    pub restricted_by_admin: bool,
    /// Public restriction reason.
    pub restricted_by_admin_reason: Option<String>,
    /// Private restriction notes.
    pub restricted_by_admin_private_details: Option<String>,
    /// Country code.
    pub country_code: Option<String>,
    /// Sign-up bot score.
    pub risk_score_bot: i32,
    /// Sign-up free-trial-abuse score.
    pub risk_score_free_trial_abuse: i32,
    /// Access tokens issued before this second (epoch milliseconds, compared at second
    /// precision) are refused: set when the user is signed out everywhere (a password
    /// reset, an account claim).
    pub tokens_valid_after_millis: Option<i64>,
    /// The user's OAuth provider accounts (filled by the loading services).
    pub oauth_providers: Vec<OAuthProviderLink>,
}

/// One of a user's OAuth provider accounts, as user objects list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthProviderLink {
    /// The provider's config id.
    pub id: String,
    /// The account id at the provider.
    pub account_id: String,
    /// The provider's address for it.
    pub email: Option<String>,
}

impl User {
    /// Builds the view from the row, its channels and the project config.
    pub fn from_parts(
        rec: &UserRecord,
        channels: &[ContactChannelRecord],
        config: &ProjectConfig,
    ) -> Self {
        let primary = channels
            .iter()
            .find(|c| c.is_primary && c.kind == ChannelKind::Email);
        let verified = primary.is_some_and(|c| c.is_verified);
        let restricted_reason = if rec.is_anonymous {
            Some(RestrictedReason::Anonymous)
        } else if config.onboarding.require_email_verification && !verified {
            Some(RestrictedReason::EmailNotVerified)
        } else if rec.restricted_by_admin {
            Some(RestrictedReason::RestrictedByAdministrator)
        } else {
            None
        };
        User {
            id: rec.id,
            project_id: rec.project_id.clone(),
            display_name: rec.display_name.clone(),
            profile_image_url: rec.profile_image_url.clone(),
            primary_email: primary.map(|c| c.value.clone()),
            primary_email_verified: verified,
            primary_email_auth_enabled: primary.is_some_and(|c| c.used_for_auth),
            signed_up_at_millis: rec.signed_up_at_millis,
            last_active_at_millis: rec.last_active_at_millis,
            client_metadata: rec.client_metadata.clone(),
            client_read_only_metadata: rec.client_read_only_metadata.clone(),
            server_metadata: rec.server_metadata.clone(),
            has_password: rec.password_hash.is_some(),
            otp_auth_enabled: rec.otp_auth_enabled,
            passkey_auth_enabled: rec.has_passkey,
            requires_totp_mfa: rec.totp_secret.is_some(),
            selected_team_id: rec.selected_team_id,
            selected_team: None,
            is_anonymous: rec.is_anonymous,
            restricted_reason,
            restricted_by_admin: rec.restricted_by_admin,
            restricted_by_admin_reason: rec.restricted_by_admin_reason.clone(),
            restricted_by_admin_private_details: rec.restricted_by_admin_private_details.clone(),
            country_code: rec.country_code.clone(),
            risk_score_bot: rec.risk_score_bot,
            risk_score_free_trial_abuse: rec.risk_score_free_trial_abuse,
            tokens_valid_after_millis: rec.tokens_valid_after_millis,
            oauth_providers: Vec::new(),
        }
    }

    /// Whether an access token issued at `iat` (epoch seconds) was revoked by a sign-out
    /// everywhere. Tokens issued in the same second as the revocation stay valid, so a
    /// sign-in right after a reset is not refused.
    pub fn token_revoked(&self, iat_secs: i64) -> bool {
        self.tokens_valid_after_millis
            .is_some_and(|after| iat_secs < after.div_euclid(1000))
    }

    /// Restricted (anonymous, unverified where verification is required, or by admin).
    pub fn is_restricted(&self) -> bool {
        self.restricted_reason.is_some()
    }
}

/// What a successful sign-in hands out.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The user.
    pub user_id: Uuid,
    /// The session's refresh token (shown once; stored hashed).
    pub refresh_token: String,
    /// A fresh access token.
    pub access_token: String,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// An OTP sign-in: the tokens and whether the account was created by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpSignIn {
    /// Tokens and user.
    pub signed_in: SignedIn,
    /// The account did not exist before.
    pub is_new_user: bool,
}

/// The user row and its channels.
pub(crate) async fn load(
    repos: &dyn Repos,
    project_id: &str,
    id: Uuid,
) -> Result<Option<(UserRecord, Vec<ContactChannelRecord>)>> {
    let Some(rec) = repos.users().get(project_id, id).await? else {
        return Ok(None);
    };
    let channels = repos.users().list_channels(project_id, id).await?;
    Ok(Some((rec, channels)))
}

/// The largest metadata value accepted, serialized as JSON (Stack sets no limit).
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// The schema failures of named metadata values over [`MAX_METADATA_BYTES`] (users and
/// teams share the limit).
pub(crate) fn oversized_metadata(fields: &[(&str, Option<&Value>)]) -> Vec<String> {
    fields
        .iter()
        .filter(|(_, v)| {
            v.is_some_and(|v| serde_json::to_vec(v).map_or(true, |b| b.len() > MAX_METADATA_BYTES))
        })
        .map(|(name, _)| {
            format!(
                "body.{name} must be at most {MAX_METADATA_BYTES} bytes when serialized as JSON"
            )
        })
        .collect()
}

/// A member's profile in a team: the per-team name and image, falling back to the user's.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberProfile {
    /// The team.
    pub team_id: Uuid,
    /// The user.
    pub user: User,
    /// Display name (the per-team one, else the user's).
    pub display_name: Option<String>,
    /// Profile image (the per-team one, else the user's).
    pub profile_image_url: Option<String>,
}

/// An open invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Invitation id.
    pub id: Uuid,
    /// The team.
    pub team_id: Uuid,
    /// The team's name.
    pub team_display_name: String,
    /// Recipient address.
    pub recipient_email: String,
    /// Expiry, epoch milliseconds.
    pub expires_at_millis: i64,
}

/// The user view with its selected team (if that team still exists).
pub(crate) async fn view(
    repos: &dyn Repos,
    rec: &UserRecord,
    channels: &[ContactChannelRecord],
    config: &ProjectConfig,
) -> Result<User> {
    let mut user = User::from_parts(rec, channels, config);
    if let Some(id) = rec.selected_team_id {
        user.selected_team = repos
            .teams()
            .get(&rec.project_id, id)
            .await?
            .map(Team::from);
    }
    if rec.has_oauth {
        user.oauth_providers = repos
            .oauth()
            .list_for_user(&rec.project_id, rec.id)
            .await?
            .into_iter()
            .map(|a| OAuthProviderLink {
                id: a.provider_config_id,
                account_id: a.provider_account_id,
                email: a.email,
            })
            .collect();
    }
    Ok(user)
}
