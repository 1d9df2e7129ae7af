//! `postern_users`: one row per user.

use sea_orm::entity::prelude::*;

/// A user row.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postern_users")]
pub struct Model {
    /// User id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Profile image URL.
    pub profile_image_url: Option<String>,
    /// Client metadata, serialized JSON.
    pub client_metadata: Option<String>,
    /// Client-read-only metadata, serialized JSON.
    pub client_read_only_metadata: Option<String>,
    /// Server metadata, serialized JSON.
    pub server_metadata: Option<String>,
    /// Password hash (PHC / modular crypt format).
    pub password_hash: Option<String>,
    /// OTP / magic-link sign-in enabled.
    pub otp_auth_enabled: bool,
    /// TOTP secret bytes.
    pub totp_secret: Option<Vec<u8>>,
    /// Selected team.
    pub selected_team_id: Option<Uuid>,
    /// Anonymous user.
    pub is_anonymous: bool,
    /// Restricted by an administrator.
    pub restricted_by_admin: bool,
    /// Public restriction reason.
    pub restricted_by_admin_reason: Option<String>,
    /// Private restriction notes.
    pub restricted_by_admin_private_details: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country_code: Option<String>,
    /// Bot risk score.
    pub risk_score_bot: i32,
    /// Free-trial-abuse risk score.
    pub risk_score_free_trial_abuse: i32,
    /// Sign-up time, epoch milliseconds.
    pub signed_up_at: i64,
    /// Last activity, epoch milliseconds.
    pub last_active_at: i64,
    /// Last accepted TOTP time step.
    pub totp_last_step: Option<i64>,
    /// The TOTP secret was set with a proof, or has completed a sign-in since.
    pub totp_proven: bool,
    /// When the account was claimed by the owner of its address, epoch milliseconds.
    pub claimed_at: Option<i64>,
    /// Access tokens issued before this time are refused, epoch milliseconds.
    pub tokens_valid_after: Option<i64>,
    /// The user has a passkey (kept in step by the passkey repository).
    pub has_passkey: bool,
    /// The user has an OAuth provider account (kept in step by the OAuth repository).
    pub has_oauth: bool,
}

/// Redacts secrets and hashes.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("user::Model")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("display_name", &self.display_name)
            .field("is_anonymous", &self.is_anonymous)
            .field("restricted_by_admin", &self.restricted_by_admin)
            .field("signed_up_at", &self.signed_up_at)
            .field("last_active_at", &self.last_active_at)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "totp_secret",
                &self.totp_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// No relations are declared; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
