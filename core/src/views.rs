//! Wire shapes (§8 of the contract): the objects the REST API returns and events carry,
//! each a `Serialize` type whose OpenAPI schema is derived from the same declaration.
//! Views are built from domain models and never hold secrets (no hashes, no key values
//! except a key's one-time creation response).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api_keys::KeyType;
use crate::model::Team;
use crate::model::User;
use crate::projects::Project;
use crate::sessions::Session;
use crate::storage::{ApiKeyOwner, ApiKeyRecord, ContactChannelRecord};

/// Why a user is restricted: `{"type": "anonymous" | "email_not_verified" |
/// "restricted_by_administrator"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RestrictedReasonView {
    /// The reason.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// A team as clients see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientTeamView {
    /// Team id.
    pub id: Uuid,
    /// Display name.
    pub display_name: String,
    /// Profile image URL (or image data).
    pub profile_image_url: Option<String>,
    /// Metadata the team's members may write.
    pub client_metadata: Option<Value>,
    /// Metadata members may read but only servers write.
    pub client_read_only_metadata: Option<Value>,
}

/// A team as servers see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServerTeamView {
    /// The client fields.
    #[serde(flatten)]
    pub client: ClientTeamView,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// Metadata only servers read and write.
    pub server_metadata: Option<Value>,
}

/// A team, in the view of the caller's access type.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TeamView {
    /// To a server or admin.
    Server(ServerTeamView),
    /// To a client.
    Client(ClientTeamView),
}

impl TeamView {
    /// The view of `t`: the server view when `server`.
    pub fn of(t: &Team, server: bool) -> TeamView {
        let client = ClientTeamView {
            id: t.id,
            display_name: t.display_name.clone(),
            profile_image_url: t.profile_image_url.clone(),
            client_metadata: t.client_metadata.clone(),
            client_read_only_metadata: t.client_read_only_metadata.clone(),
        };
        if server {
            TeamView::Server(ServerTeamView {
                client,
                created_at_millis: t.created_at_millis,
                server_metadata: t.server_metadata.clone(),
            })
        } else {
            TeamView::Client(client)
        }
    }
}

/// The user object as clients see it (21 fields).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientUserView {
    /// User id.
    pub id: Uuid,
    /// Primary email.
    pub primary_email: Option<String>,
    /// Whether the primary email is verified.
    pub primary_email_verified: bool,
    /// Display name.
    pub display_name: Option<String>,
    /// Profile image URL (or image data).
    pub profile_image_url: Option<String>,
    /// Sign-up time, epoch milliseconds.
    pub signed_up_at_millis: i64,
    /// Metadata the user may write.
    pub client_metadata: Value,
    /// Metadata the user may read but only servers write.
    pub client_read_only_metadata: Value,
    /// Whether the user has a password.
    pub has_password: bool,
    /// Whether one-time codes sign the user in.
    pub otp_auth_enabled: bool,
    /// Whether passkeys sign the user in.
    pub passkey_auth_enabled: bool,
    /// Password or one-time codes.
    pub auth_with_email: bool,
    /// Whether sign-in asks for a TOTP code.
    pub requires_totp_mfa: bool,
    /// Connected OAuth providers.
    pub oauth_providers: Vec<Value>,
    /// The selected team's id.
    pub selected_team_id: Option<Uuid>,
    /// The selected team.
    pub selected_team: Option<TeamView>,
    /// Anonymous user.
    pub is_anonymous: bool,
    /// Restricted (anonymous, unverified email where verification is required, or by an
    /// administrator).
    pub is_restricted: bool,
    /// Why the user is restricted.
    pub restricted_reason: Option<RestrictedReasonView>,
    /// Restricted by an administrator.
    pub restricted_by_admin: bool,
    /// The administrator's public reason.
    pub restricted_by_admin_reason: Option<String>,
}

/// Sign-up risk scores.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RiskScoresView {
    /// Scores at sign-up.
    pub sign_up: SignUpRiskScores,
}

/// Risk scores given at sign-up, from 0 to 100.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignUpRiskScores {
    /// Bot likelihood.
    pub bot: i32,
    /// Free-trial abuse likelihood.
    pub free_trial_abuse: i32,
}

/// The user object as servers see it (27 fields).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServerUserView {
    /// The client fields.
    #[serde(flatten)]
    pub client: ClientUserView,
    /// Whether the primary email signs the user in.
    pub primary_email_auth_enabled: bool,
    /// Last activity, epoch milliseconds.
    pub last_active_at_millis: i64,
    /// Metadata only servers read and write.
    pub server_metadata: Value,
    /// The administrator's private notes on a restriction.
    pub restricted_by_admin_private_details: Option<String>,
    /// Country code.
    pub country_code: Option<String>,
    /// Sign-up risk scores.
    pub risk_scores: RiskScoresView,
}

/// A user, in the view of the caller's access type.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum UserView {
    /// To a server or admin.
    Server(Box<ServerUserView>),
    /// To a client.
    Client(Box<ClientUserView>),
}

impl UserView {
    /// The view of `u`: the server view when `server`.
    pub fn of(u: &User, server: bool) -> UserView {
        let client = ClientUserView {
            id: u.id,
            primary_email: u.primary_email.clone(),
            primary_email_verified: u.primary_email_verified,
            display_name: u.display_name.clone(),
            profile_image_url: u.profile_image_url.clone(),
            signed_up_at_millis: u.signed_up_at_millis,
            client_metadata: u.client_metadata.clone().unwrap_or(Value::Null),
            client_read_only_metadata: u.client_read_only_metadata.clone().unwrap_or(Value::Null),
            has_password: u.has_password,
            otp_auth_enabled: u.otp_auth_enabled,
            passkey_auth_enabled: u.passkey_auth_enabled,
            auth_with_email: u.has_password || u.otp_auth_enabled,
            requires_totp_mfa: u.requires_totp_mfa,
            oauth_providers: u
                .oauth_providers
                .iter()
                .map(|o| {
                    let mut v = serde_json::json!({ "id": o.id, "account_id": o.account_id });
                    if let Some(e) = &o.email {
                        v["email"] = Value::String(e.clone());
                    }
                    v
                })
                .collect(),
            selected_team_id: u.selected_team_id,
            selected_team: u.selected_team.as_ref().map(|t| TeamView::of(t, server)),
            is_anonymous: u.is_anonymous,
            is_restricted: u.is_restricted(),
            restricted_reason: u
                .restricted_reason
                .map(|r| RestrictedReasonView { kind: r.as_str() }),
            restricted_by_admin: u.restricted_by_admin,
            restricted_by_admin_reason: u.restricted_by_admin_reason.clone(),
        };
        if !server {
            return UserView::Client(Box::new(client));
        }
        UserView::Server(Box::new(ServerUserView {
            client,
            primary_email_auth_enabled: u.primary_email_auth_enabled,
            last_active_at_millis: u.last_active_at_millis,
            server_metadata: u.server_metadata.clone().unwrap_or(Value::Null),
            restricted_by_admin_private_details: u.restricted_by_admin_private_details.clone(),
            country_code: u.country_code.clone(),
            risk_scores: RiskScoresView {
                sign_up: SignUpRiskScores {
                    bot: u.risk_score_bot,
                    free_trial_abuse: u.risk_score_free_trial_abuse,
                },
            },
        }))
    }
}

/// A session (`created_at` and `last_used_at` without `_millis`, as Stack names them).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    /// Session id (the refresh token's id).
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Last refresh, epoch milliseconds.
    pub last_used_at: i64,
    /// Created by a server to impersonate the user.
    pub is_impersonation: bool,
    /// The session of the request's access token.
    pub is_current_session: bool,
}

impl SessionView {
    /// The view of `s`; `current` is the requesting session.
    pub fn of(s: &Session, current: Option<Uuid>) -> SessionView {
        SessionView {
            id: s.id,
            user_id: s.user_id,
            created_at: s.created_at_millis,
            last_used_at: s.last_used_at_millis,
            is_impersonation: s.is_impersonation,
            is_current_session: current == Some(s.id),
        }
    }
}

/// What a key's `value` shows after creation: its last four characters.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LastFour {
    /// The key's last four characters.
    pub last_four: String,
}

/// A key's `value`: the full key in the creation response only, else its last four.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ApiKeyValue {
    /// The whole key, shown once.
    Full(String),
    /// The last four characters.
    LastFour(LastFour),
}

/// A user or team API key. `expires_at_millis` and `manually_revoked_at_millis` are
/// omitted when unset, as Stack does.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Key id.
    pub id: Uuid,
    /// Description.
    pub description: String,
    /// Public keys may be exposed (credential scanning revokes them when leaked).
    pub is_public: bool,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// Expiry, epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at_millis: Option<i64>,
    /// Revocation time, epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manually_revoked_at_millis: Option<i64>,
    /// The key (creation only) or its last four characters.
    pub value: ApiKeyValue,
    /// `user` or `team`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The owning user (user keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    /// The owning team (team keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
}

impl ApiKeyView {
    /// The view of `k`; `full_value` only in the creation response.
    pub fn of(k: &ApiKeyRecord, full_value: Option<&str>) -> ApiKeyView {
        let (user_id, team_id) = match k.owner {
            ApiKeyOwner::User(u) => (Some(u), None),
            ApiKeyOwner::Team(t) => (None, Some(t)),
        };
        ApiKeyView {
            id: k.id,
            description: k.description.clone(),
            is_public: k.is_public,
            created_at_millis: k.created_at_millis,
            expires_at_millis: k.expires_at_millis,
            manually_revoked_at_millis: k.revoked_at_millis,
            value: match full_value {
                Some(v) => ApiKeyValue::Full(v.to_owned()),
                None => ApiKeyValue::LastFour(LastFour {
                    last_four: k.last_four.clone(),
                }),
            },
            kind: KeyType::of(k.owner).as_str(),
            user_id,
            team_id,
        }
    }
}

/// A trusted domain of the project.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainView {
    /// Base URL.
    pub domain: String,
    /// Where the app mounts Stack's handler pages.
    pub handler_path: String,
}

/// What clients may know of a project's configuration.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientProjectConfigView {
    /// Whether new users may sign up.
    pub sign_up_enabled: bool,
    /// Password sign-in.
    pub credential_enabled: bool,
    /// One-time code (magic link) sign-in.
    pub magic_link_enabled: bool,
    /// Passkey sign-in.
    pub passkey_enabled: bool,
    /// Whether clients may create teams.
    pub client_team_creation_enabled: bool,
    /// Whether users may delete themselves.
    pub client_user_deletion_enabled: bool,
    /// User API keys.
    pub allow_user_api_keys: bool,
    /// Team API keys.
    pub allow_team_api_keys: bool,
    /// Enabled OAuth providers.
    pub enabled_oauth_providers: Vec<Value>,
    /// Trusted domains.
    pub domains: Vec<DomainView>,
}

/// The project object of `GET /projects/current`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientProjectView {
    /// Project id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// The client configuration.
    pub config: ClientProjectConfigView,
}

impl ClientProjectView {
    /// The client view of `p`.
    pub fn of(p: &Project) -> ClientProjectView {
        let c = &p.config;
        let mut domains: Vec<DomainView> = c
            .domains
            .trusted_domains
            .values()
            .filter_map(|d| {
                d.base_url.clone().map(|u| DomainView {
                    domain: u,
                    handler_path: d.handler_path.clone().unwrap_or_else(|| "/handler".into()),
                })
            })
            .collect();
        domains.sort_by(|a, b| (&a.domain, &a.handler_path).cmp(&(&b.domain, &b.handler_path)));
        ClientProjectView {
            id: p.id.clone(),
            display_name: p.display_name.clone(),
            config: ClientProjectConfigView {
                sign_up_enabled: c.auth.allow_sign_up,
                credential_enabled: c.auth.password.allow_sign_in,
                magic_link_enabled: c.auth.otp.allow_sign_in,
                passkey_enabled: c.auth.passkey.allow_sign_in,
                client_team_creation_enabled: c.teams.allow_client_team_creation,
                client_user_deletion_enabled: c.users.allow_client_user_deletion,
                allow_user_api_keys: c.api_keys.enabled.user,
                allow_team_api_keys: c.api_keys.enabled.team,
                enabled_oauth_providers: Vec::new(),
                domains,
            },
        }
    }
}

/// A contact channel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactChannelView {
    /// The owning user.
    pub user_id: Uuid,
    /// Channel id.
    pub id: Uuid,
    /// The address.
    pub value: String,
    /// `email`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Usable to sign in.
    pub used_for_auth: bool,
    /// Verified.
    pub is_verified: bool,
    /// The user's primary channel.
    pub is_primary: bool,
}

impl ContactChannelView {
    /// The view of `c`.
    pub fn of(c: &ContactChannelRecord) -> ContactChannelView {
        ContactChannelView {
            user_id: c.user_id,
            id: c.id,
            value: c.value.clone(),
            kind: c.kind.as_str(),
            used_for_auth: c.used_for_auth,
            is_verified: c.is_verified,
            is_primary: c.is_primary,
        }
    }
}

/// A new session's tokens (sign-up, sign-in, anonymous sign-up).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionTokensView {
    /// The access token (ES256 JWT).
    pub access_token: String,
    /// The refresh token.
    pub refresh_token: String,
    /// The signed-in user.
    pub user_id: Uuid,
}

/// A sign-in that may have created the user (one-time codes, MFA).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignedInView {
    /// The refresh token.
    pub refresh_token: String,
    /// The access token (ES256 JWT).
    pub access_token: String,
    /// Whether this sign-in created the user.
    pub is_new_user: bool,
    /// The signed-in user.
    pub user_id: Uuid,
}

/// A list without pagination: `{items, is_paginated: false}`.
#[derive(Debug, Clone, Serialize)]
pub struct ListView<T> {
    /// The items.
    pub items: Vec<T>,
    /// Always `false`.
    pub is_paginated: bool,
}

impl<T> ListView<T> {
    /// All of `items`.
    pub fn of(items: Vec<T>) -> ListView<T> {
        ListView {
            items,
            is_paginated: false,
        }
    }
}

impl<T: ToSchema> utoipa::PartialSchema for ListView<T> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        ObjectBuilder::new()
            .description(Some("A list without pagination."))
            .property(
                "items",
                ArrayBuilder::new().items(utoipa::openapi::Ref::from_schema_name(T::name())),
            )
            .required("items")
            .property(
                "is_paginated",
                ObjectBuilder::new().schema_type(Type::Boolean),
            )
            .required("is_paginated")
            .into()
    }
}

/// Named `<Item>List`, so lists of different items do not collide.
impl<T: ToSchema> ToSchema for ListView<T> {
    fn name() -> std::borrow::Cow<'static, str> {
        format!("{}List", T::name()).into()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}

/// A member's profile in a team; servers also see the user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberProfileView {
    /// The team.
    pub team_id: Uuid,
    /// The member.
    pub user_id: Uuid,
    /// Display name (the per-team one, else the user's).
    pub display_name: Option<String>,
    /// Profile image (the per-team one, else the user's).
    pub profile_image_url: Option<String>,
    /// The user (server view), for servers and admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
}

impl MemberProfileView {
    /// The view of `p`; `server` adds the user.
    pub fn of(p: &crate::model::MemberProfile, server: bool) -> MemberProfileView {
        MemberProfileView {
            team_id: p.team_id,
            user_id: p.user.id,
            display_name: p.display_name.clone(),
            profile_image_url: p.profile_image_url.clone(),
            user: server.then(|| UserView::of(&p.user, true)),
        }
    }
}

/// A pending team invitation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationView {
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

impl InvitationView {
    /// The view of `i`.
    pub fn of(i: &crate::model::Invitation) -> InvitationView {
        InvitationView {
            id: i.id,
            team_id: i.team_id,
            team_display_name: i.team_display_name.clone(),
            recipient_email: i.recipient_email.clone(),
            expires_at_millis: i.expires_at_millis,
        }
    }
}

/// A sent invitation: `{success: true, id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationSentView {
    /// Always `true`.
    pub success: bool,
    /// The invitation's id.
    pub id: Uuid,
}

/// The team an invitation code leads to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationDetailsView {
    /// The team.
    pub team_id: Uuid,
    /// The team's name.
    pub team_display_name: String,
}

/// An empty object (`{}`), as Stack answers some actions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EmptyView {}

/// A team membership (`team_membership.*` events).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamMembershipView {
    /// The team.
    pub team_id: Uuid,
    /// The member.
    pub user_id: Uuid,
}

/// A permission grant: team-scoped grants carry `team_id`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PermissionGrantView {
    /// The permission's id.
    pub id: String,
    /// The team (team permissions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
    /// The user holding it.
    pub user_id: Uuid,
}

impl PermissionGrantView {
    /// The view of a stored grant.
    pub fn of(g: &crate::storage::PermissionGrantRecord) -> PermissionGrantView {
        PermissionGrantView {
            id: g.permission_id.clone(),
            team_id: g.team_id,
            user_id: g.user_id,
        }
    }
}

/// A deleted object's id (`*.deleted` events).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeletedView {
    /// The id.
    pub id: Uuid,
}

/// A deleted user (`user.deleted` events): its id and the teams it was a member of, oldest
/// team first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeletedUserView {
    /// The user's id.
    pub id: Uuid,
    /// The teams the user was a member of (`[{"id": <team id>}, ...]`).
    pub teams: Vec<DeletedView>,
}

/// `{success: true}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SuccessView {
    /// Always `true`.
    pub success: bool,
}

impl SuccessView {
    /// `{success: true}`.
    pub const TRUE: SuccessView = SuccessView { success: true };
}

/// The answer to a reset-code request, the same whether or not the address is known.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MaybeSentView {
    /// `"maybe, only if user with e-mail exists"`.
    pub success: &'static str,
}

/// `{is_code_valid: true}`: a code checked without being used.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CodeValidView {
    /// Always `true` (an invalid code is an error).
    pub is_code_valid: bool,
}

/// The nonce of a mailed code, to pair the code with this browser.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NonceView {
    /// The nonce.
    pub nonce: String,
}

/// A fresh access token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccessTokenView {
    /// The access token (ES256 JWT).
    pub access_token: String,
}

/// A session created by a server.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenPairView {
    /// The refresh token.
    pub refresh_token: String,
    /// The access token (ES256 JWT).
    pub access_token: String,
}

/// Where the next page starts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaginationView {
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<Uuid>,
}

/// A page of users.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserPageView {
    /// The users (server view).
    pub items: Vec<UserView>,
    /// Always `true`.
    pub is_paginated: bool,
    /// The next page.
    pub pagination: PaginationView,
}

/// A step-up token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepUpTokenView {
    /// Send it as `x-postern-step-up-token` with the sensitive change.
    pub step_up_token: String,
    /// The factor proven: `password`, `totp` or `email_code`.
    pub method: &'static str,
    /// Expiry, epoch milliseconds.
    pub expires_at_millis: i64,
}

/// How many recovery codes are left.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecoveryCodesLeftView {
    /// Unused recovery codes.
    pub remaining: u64,
}

/// New recovery codes, shown once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecoveryCodesView {
    /// The codes.
    pub recovery_codes: Vec<String>,
}

// ----- views of contact channels, internal API, data vault and permissions -----

/// Whether a contact channel signs in: `GET /contact-channels/{user_id}/{id}/confirm-auth`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelAuthStatusView {
    /// Marked usable to sign in.
    pub used_for_auth: bool,
    /// Confirmed for sign-in (an unconfirmed sign-in address does not sign in).
    pub auth_confirmed: bool,
}

/// A permission definition. `description` is omitted when unset.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PermissionDefinitionView {
    /// Permission id.
    pub id: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The ids of the permissions it directly contains, sorted.
    pub contained_permission_ids: Vec<String>,
}

impl PermissionDefinitionView {
    /// The view of `d`.
    pub fn of(d: &crate::rbac::Definition) -> PermissionDefinitionView {
        PermissionDefinitionView {
            id: d.id.clone(),
            description: d.description.clone(),
            contained_permission_ids: d.contains.iter().cloned().collect(),
        }
    }
}

/// A value read from the data vault.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EncryptedValueView {
    /// The value as stored (encrypted by the client).
    pub encrypted_value: String,
}

/// A default permission of the legacy config: `{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DefaultPermissionView {
    /// The permission's id.
    pub id: String,
}

/// An OAuth provider of the legacy config. The credential fields are present when the
/// provider's config has them (secrets redacted).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OAuthProviderConfigView {
    /// The provider's key in the config.
    pub provider_config_id: String,
    /// The provider (`google`, `github`...), as configured.
    pub id: Value,
    /// `shared` (Stack's development keys) or `standard` (the project's own keys).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// OAuth client id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Value>,
    /// OAuth client secret (redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Value>,
    /// Facebook business configuration id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facebook_config_id: Option<Value>,
    /// Microsoft tenant id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub microsoft_tenant_id: Option<Value>,
}

/// An OAuth provider that signs in: `{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EnabledOAuthProviderView {
    /// The provider (`google`, `github`...), as configured.
    pub id: Value,
}

/// The shared mail server of Stack: `{type: "shared"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SharedEmailConfigView {
    /// `shared`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The project's own SMTP server; each setting is `null` when not configured.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StandardEmailConfigView {
    /// `standard`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// SMTP host.
    pub host: Option<Value>,
    /// SMTP port.
    pub port: Option<Value>,
    /// SMTP user name.
    pub username: Option<Value>,
    /// SMTP password (redacted).
    pub password: Option<Value>,
    /// The sender's name.
    pub sender_name: Option<Value>,
    /// The sender's address.
    pub sender_email: Option<Value>,
}

/// The mail server of the legacy config.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EmailConfigView {
    /// The project's own server.
    Standard(StandardEmailConfigView),
    /// Stack's shared server.
    Shared(SharedEmailConfigView),
}

/// Stack's legacy `config` object of the admin project view (third-party secrets
/// redacted).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminProjectConfigView {
    /// Whether `localhost` is a trusted domain.
    pub allow_localhost: bool,
    /// Whether clients may create teams.
    pub client_team_creation_enabled: bool,
    /// Whether users may delete themselves.
    pub client_user_deletion_enabled: bool,
    /// Whether new users may sign up.
    pub sign_up_enabled: bool,
    /// How an OAuth sign-in with a known address is merged (`link_method` by default).
    pub oauth_account_merge_strategy: Value,
    /// Whether sign-up creates a personal team.
    pub create_team_on_sign_up: bool,
    /// Password sign-in.
    pub credential_enabled: bool,
    /// One-time code (magic link) sign-in.
    pub magic_link_enabled: bool,
    /// Passkey sign-in.
    pub passkey_enabled: bool,
    /// OAuth providers that sign in, sorted by provider.
    pub oauth_providers: Vec<OAuthProviderConfigView>,
    /// The same providers, by id.
    pub enabled_oauth_providers: Vec<EnabledOAuthProviderView>,
    /// Trusted domains, sorted by domain.
    pub domains: Vec<DomainView>,
    /// The mail server.
    pub email_config: EmailConfigView,
    /// The selected email theme's id.
    pub email_theme: String,
    /// Team permissions given to a team's creator.
    pub team_creator_default_permissions: Vec<DefaultPermissionView>,
    /// Team permissions given to a team's members.
    pub team_member_default_permissions: Vec<DefaultPermissionView>,
    /// Project permissions given at sign-up.
    pub user_default_permissions: Vec<DefaultPermissionView>,
    /// User API keys.
    pub allow_user_api_keys: bool,
    /// Team API keys.
    pub allow_team_api_keys: bool,
}

/// A project as the dashboard sees it (`/internal/projects*`). Postern keeps no logos:
/// the logo fields are always `null`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminProjectView {
    /// Project id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Description (empty when unset).
    pub description: String,
    /// Logo URL (always `null`).
    pub logo_url: Option<String>,
    /// Full logo URL (always `null`).
    pub logo_full_url: Option<String>,
    /// Dark-mode logo URL (always `null`).
    pub logo_dark_mode_url: Option<String>,
    /// Dark-mode full logo URL (always `null`).
    pub logo_full_dark_mode_url: Option<String>,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// Production mode.
    pub is_production_mode: bool,
    /// The team of the `internal` project that administers it.
    pub owner_team_id: Option<Uuid>,
    /// Always `completed`.
    pub onboarding_status: &'static str,
    /// The legacy config object.
    pub config: AdminProjectConfigView,
}

/// A project key set. Each key is present when the set holds it: in full in the
/// creation response only, else as `{last_four: ""}` (Postern keeps only hashes).
/// `manually_revoked_at_millis` is omitted until the set is revoked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeySetView {
    /// Key set id.
    pub id: Uuid,
    /// Description.
    pub description: String,
    /// Creation time, epoch milliseconds.
    pub created_at_millis: i64,
    /// Expiry, epoch milliseconds (`null`: never).
    pub expires_at_millis: Option<i64>,
    /// Revocation time, epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manually_revoked_at_millis: Option<i64>,
    /// The publishable client key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publishable_client_key: Option<ApiKeyValue>,
    /// The secret server key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_server_key: Option<ApiKeyValue>,
    /// The super secret admin key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub super_secret_admin_key: Option<ApiKeyValue>,
}

impl KeySetView {
    /// The stored view of `s`: a key it holds shows an empty `last_four`.
    pub fn of(s: &crate::storage::ApiKeySetRecord) -> KeySetView {
        let held = |hash: &Option<String>| {
            hash.as_ref().map(|_| {
                ApiKeyValue::LastFour(LastFour {
                    last_four: String::new(),
                })
            })
        };
        KeySetView {
            publishable_client_key: held(&s.publishable_client_key_hash),
            secret_server_key: held(&s.secret_server_key_hash),
            super_secret_admin_key: held(&s.super_secret_admin_key_hash),
            ..KeySetView::bare(s)
        }
    }

    /// The view of a key set without its keys.
    pub(crate) fn bare(s: &crate::storage::ApiKeySetRecord) -> KeySetView {
        KeySetView {
            id: s.id,
            description: s.description.clone(),
            created_at_millis: s.created_at_millis,
            expires_at_millis: s.expires_at_millis,
            manually_revoked_at_millis: s.revoked_at_millis,
            publishable_client_key: None,
            secret_server_key: None,
            super_secret_admin_key: None,
        }
    }
}

/// The project's config as JSON text (third-party secrets redacted).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConfigStringView {
    /// The rendered config, a JSON object as a string.
    pub config_string: String,
}

impl ConfigStringView {
    /// The config of `p`, redacted.
    pub fn of(p: &Project) -> ConfigStringView {
        let mut config = p.config.to_json();
        crate::config_secrets::redact(&mut config);
        ConfigStringView {
            config_string: config.to_string(),
        }
    }
}

/// An event of the security audit log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEventView {
    /// Event id (UUID v7).
    pub id: Uuid,
    /// What happened (`sign_in.succeeded`, `password.changed`...).
    #[serde(rename = "type")]
    pub kind: String,
    /// When, epoch milliseconds.
    pub at_millis: i64,
    /// The user concerned.
    pub user_id: Option<Uuid>,
    /// Who acted: `user:<id>`, `server`, `admin`, `anonymous` or `system`.
    pub actor: String,
    /// The client's IP address, when known.
    pub ip: Option<String>,
    /// Event details (never a secret).
    pub details: Value,
}

impl AuditEventView {
    /// The view of `e`.
    pub fn of(e: &crate::storage::AuditEventRecord) -> AuditEventView {
        AuditEventView {
            id: e.id,
            kind: e.event_type.clone(),
            at_millis: e.at_millis,
            user_id: e.user_id,
            actor: e.actor.clone(),
            ip: e.ip.clone(),
            details: e.details.clone(),
        }
    }
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditLogPageView {
    /// The events.
    pub items: Vec<AuditEventView>,
    /// Always `true`.
    pub is_paginated: bool,
    /// The next page.
    pub pagination: PaginationView,
}

impl AuditLogPageView {
    /// The view of `page`.
    pub fn of(page: &crate::audit::AuditPage) -> AuditLogPageView {
        AuditLogPageView {
            items: page.items.iter().map(AuditEventView::of).collect(),
            is_paginated: true,
            pagination: PaginationView {
                next_cursor: page.next_cursor,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProjectConfig;
    use crate::storage::UserRecord;
    use serde_json::json;

    #[test]
    fn client_and_server_views_have_stacks_field_counts() {
        let mut rec = UserRecord::new("p", 1);
        rec.server_metadata = Some(json!({"secret": 1}));
        rec.password_hash = Some("$argon2id$...".into());
        let u = User::from_parts(&rec, &[], &ProjectConfig::default());
        let server = serde_json::to_value(UserView::of(&u, true)).unwrap();
        let client = serde_json::to_value(UserView::of(&u, false)).unwrap();
        assert_eq!(server.as_object().unwrap().len(), 27);
        assert_eq!(client.as_object().unwrap().len(), 21);
        assert!(client.get("server_metadata").is_none());
        assert_eq!(server["server_metadata"], json!({"secret": 1}));
        assert!(!server.to_string().contains("argon2"), "never the hash");
    }
}

/// The context a sign-up-rules test evaluated (normalised), in `POST
/// /internal/sign-up-rules-test`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RuleContextView {
    /// The address, trimmed and lower-cased (`""` when none).
    pub email: String,
    /// What follows the last `@` (`""` when none).
    pub email_domain: String,
    /// ISO alpha-2, upper case (`""` when unknown).
    pub country_code: String,
    /// `password`, `otp`, `oauth` or `passkey`.
    pub auth_method: String,
    /// The OAuth provider (`""` when none).
    pub oauth_provider: String,
    /// The bot-challenge result given (`ok`, `invalid`, `error`).
    pub turnstile_result: String,
    /// The risk scores evaluated.
    pub risk_scores: SignUpRiskScores,
}

/// `POST /internal/sign-up-rules-test`: the context, each rule evaluated up to the deciding
/// one, and the outcome. Nothing is recorded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignUpRulesTestView {
    /// The normalised context.
    pub context: RuleContextView,
    /// The rules in evaluation order, up to the deciding one.
    pub evaluations: Vec<crate::sign_up_rules::RuleEvaluation>,
    /// The decision.
    pub outcome: crate::sign_up_rules::Outcome,
}
