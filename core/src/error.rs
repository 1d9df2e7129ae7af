//! The one error type of Postern, carrying Stack Auth's known-error codes.
//!
//! Every variant maps to an HTTP status, and known errors to a `code` and `details`
//! spelled exactly as Stack Auth spells them (the official SDKs rebuild typed errors from
//! them). The matches below are exhaustive on purpose: a new variant does not compile
//! until it has a status and a code. Rendering to HTTP happens in one place,
//! `rest::response`.

use http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::storage::StoreError;

/// An access level: what the `x-stack-access-type` header selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessType {
    /// End-user (browser / app) access with a publishable key or none.
    Client,
    /// Backend access with the secret server key.
    Server,
    /// Administrative access with the super secret admin key.
    Admin,
}

impl AccessType {
    /// Wire name (`client`, `server`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            AccessType::Client => "client",
            AccessType::Server => "server",
            AccessType::Admin => "admin",
        }
    }

    /// Parses the wire name exactly.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client" => Some(AccessType::Client),
            "server" => Some(AccessType::Server),
            "admin" => Some(AccessType::Admin),
            _ => None,
        }
    }
}

/// Why a user is restricted (Stack's `restricted_reason.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestrictedReason {
    /// Anonymous users are always restricted.
    Anonymous,
    /// The project requires a verified primary email and the user has none.
    EmailNotVerified,
    /// An administrator or a sign-up rule restricted the user.
    RestrictedByAdministrator,
}

impl RestrictedReason {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RestrictedReason::Anonymous => "anonymous",
            RestrictedReason::EmailNotVerified => "email_not_verified",
            RestrictedReason::RestrictedByAdministrator => "restricted_by_administrator",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "anonymous" => Some(RestrictedReason::Anonymous),
            "email_not_verified" => Some(RestrictedReason::EmailNotVerified),
            "restricted_by_administrator" => Some(RestrictedReason::RestrictedByAdministrator),
            _ => None,
        }
    }

    /// `{"type": "<reason>"}` as on the wire.
    pub fn to_json(self) -> Value {
        json!({ "type": self.as_str() })
    }
}

/// Children of `PASSWORD_REQUIREMENTS_NOT_MET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordRequirement {
    /// `PASSWORD_TOO_SHORT`.
    TooShort {
        /// Minimum length in UTF-16 units.
        min_length: usize,
    },
    /// `PASSWORD_TOO_LONG`.
    TooLong {
        /// Maximum length in UTF-16 units.
        max_length: usize,
    },
}

/// Every failure Postern reports.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- transport and validation -----
    /// `BODY_PARSING_ERROR`.
    #[error("{0}")]
    BodyParsing(String),
    /// `SCHEMA_ERROR`: one line per failed rule (`body.email must be defined`).
    #[error("Request validation failed:\n{}", format_failures(.0))]
    Schema(Vec<String>),
    /// `SCHEMA_ERROR` with a message of its own (no "Request validation failed" framing),
    /// as Stack raises from inside some handlers.
    #[error("{0}")]
    SchemaMessage(String),

    // ----- project authentication -----
    /// `PROJECT_KEY_WITHOUT_ACCESS_TYPE`.
    #[error(
        "Either an API key or an admin access token was provided, but the x-stack-access-type header is missing. Set it to 'client', 'server', or 'admin' as appropriate."
    )]
    ProjectKeyWithoutAccessType,
    /// `INVALID_ACCESS_TYPE`.
    #[error(
        "The x-stack-access-type header must be 'client', 'server', or 'admin', but was '{0}'."
    )]
    InvalidAccessType(String),
    /// `ACCESS_TYPE_WITHOUT_PROJECT_ID`.
    #[error("The x-stack-access-type header was '{}', but the x-stack-project-id header was not provided.\n\nFor more information, see the docs on REST API authentication: https://docs.stack-auth.com/rest-api/overview#authentication", .0.as_str())]
    AccessTypeWithoutProjectId(AccessType),
    /// `ACCESS_TYPE_REQUIRED`.
    #[error(
        "You must specify an access level for this Stack project. Make sure project API keys are provided (eg. x-stack-publishable-client-key) and you set the x-stack-access-type header to 'client', 'server', or 'admin'.\n\nFor more information, see the docs on REST API authentication: https://docs.stack-auth.com/rest-api/overview#authentication"
    )]
    AccessTypeRequired,
    /// `INSUFFICIENT_ACCESS_TYPE`.
    #[error("The x-stack-access-type header must be {}, but was '{}'.", quote_join(.allowed), .actual.as_str())]
    InsufficientAccessType {
        /// The access type of the request.
        actual: AccessType,
        /// The access types the endpoint accepts.
        allowed: Vec<AccessType>,
    },
    /// `CURRENT_PROJECT_NOT_FOUND`.
    #[error(
        "The current project with ID {0} was not found. Please check the value of the x-stack-project-id header."
    )]
    CurrentProjectNotFound(String),
    /// `BRANCH_DOES_NOT_EXIST`.
    #[error("The branch with ID {0} does not exist.")]
    BranchDoesNotExist(String),
    /// `PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT`.
    #[error(
        "Publishable client keys are required for this project. Create one in Project Keys, or disable this requirement there to allow keyless client access."
    )]
    PublishableClientKeyRequiredForProject(Option<String>),
    /// `INVALID_PUBLISHABLE_CLIENT_KEY`.
    #[error("The publishable key is not valid for the project {}. Does the project and/or the key exist?", json_quote(.0))]
    InvalidPublishableClientKey(String),
    /// `SERVER_AUTHENTICATION_REQUIRED`.
    #[error("The secret server key must be provided.")]
    ServerAuthenticationRequired,
    /// `INVALID_SECRET_SERVER_KEY`.
    #[error("The secret server key is not valid for the project {}. Does the project and/or the key exist?", json_quote(.0))]
    InvalidSecretServerKey(String),
    /// `ADMIN_AUTHENTICATION_REQUIRED`.
    #[error("The super secret admin key must be provided.")]
    AdminAuthenticationRequired,
    /// `INVALID_SUPER_SECRET_ADMIN_KEY`.
    #[error("The super secret admin key is not valid for the project {}. Does the project and/or the key exist?", json_quote(.0))]
    InvalidSuperSecretAdminKey(String),

    // ----- user session -----
    /// `UNPARSABLE_ACCESS_TOKEN`.
    #[error("Access token is not parsable.")]
    UnparsableAccessToken,
    /// `ACCESS_TOKEN_EXPIRED`.
    #[error("{}", access_token_expired_message(*.expired_at_millis, .project_id.as_deref(), *.user_id, *.refresh_token_id))]
    AccessTokenExpired {
        /// When the token expired.
        expired_at_millis: Option<i64>,
        /// The token's project.
        project_id: Option<String>,
        /// The token's user.
        user_id: Option<Uuid>,
        /// The token's session.
        refresh_token_id: Option<Uuid>,
    },
    /// `INVALID_PROJECT_FOR_ACCESS_TOKEN`.
    #[error("Access token not valid for this project. Expected project ID {}, but the token is for project ID {}.", json_quote(.expected), json_quote(.actual))]
    InvalidProjectForAccessToken {
        /// The project of the request.
        expected: String,
        /// The project of the token.
        actual: String,
    },
    /// `ANONYMOUS_AUTHENTICATION_NOT_ALLOWED`.
    #[error(
        "X-Stack-Access-Token is for an anonymous user, but anonymous users are not enabled. Set the X-Stack-Allow-Anonymous-User header of this request to 'true' to allow anonymous users."
    )]
    AnonymousAuthenticationNotAllowed,
    /// `RESTRICTED_USER_NOT_ALLOWED`.
    #[error("The user in the access token is in restricted state. Reason: {}. Please pass the X-Stack-Allow-Restricted-User header if this is intended.", .0.as_str())]
    RestrictedUserNotAllowed(RestrictedReason),
    /// `USER_AUTHENTICATION_REQUIRED` (app routes that need a signed-in user).
    #[error("User authentication required for this endpoint.")]
    UserAuthenticationRequired,
    /// `CANNOT_GET_OWN_USER_WITHOUT_USER`.
    #[error("You have specified 'me' as a userId, but did not provide authentication for a user.")]
    CannotGetOwnUserWithoutUser,
    /// `REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED`.
    #[error("Refresh token not found for this project, or the session has expired/been revoked.")]
    RefreshTokenNotFoundOrExpired,
    /// `CANNOT_DELETE_CURRENT_SESSION`.
    #[error("Cannot delete the current session.")]
    CannotDeleteCurrentSession,

    // ----- sign-up / sign-in -----
    /// `PASSWORD_AUTHENTICATION_NOT_ENABLED`.
    #[error("Password authentication is not enabled for this project.")]
    PasswordAuthenticationNotEnabled,
    /// `SIGN_UP_NOT_ENABLED`.
    #[error(
        "Creation of new accounts is not enabled for this project. Please ask the project owner to enable it."
    )]
    SignUpNotEnabled,
    /// `SIGN_UP_REJECTED` (403): a sign-up rule, or the default action, rejected the
    /// sign-up. The rule's own message is never shown.
    #[error("Your sign up was rejected by an administrator's sign-up rule.")]
    SignUpRejected,
    /// `REDIRECT_URL_NOT_WHITELISTED`.
    #[error(
        "Redirect URL not whitelisted. Did you forget to add this domain to the trusted domains list on the Stack Auth dashboard?"
    )]
    RedirectUrlNotWhitelisted,
    /// `PASSWORD_TOO_SHORT` / `PASSWORD_TOO_LONG` (parent `PASSWORD_REQUIREMENTS_NOT_MET`).
    #[error("{}", password_requirement_message(.0))]
    PasswordRequirementsNotMet(PasswordRequirement),
    /// `USER_EMAIL_ALREADY_EXISTS`.
    #[error("{}", email_exists_message(.email, *.would_work_if_email_was_verified))]
    UserEmailAlreadyExists {
        /// The email.
        email: String,
        /// Whether verifying the existing email would let this method work.
        would_work_if_email_was_verified: bool,
    },
    /// `EMAIL_PASSWORD_MISMATCH`.
    #[error("Wrong e-mail or password.")]
    EmailPasswordMismatch,
    /// `USER_DOES_NOT_HAVE_PASSWORD`.
    #[error("This user does not have password authentication enabled.")]
    UserDoesNotHavePassword,
    /// `PASSWORD_CONFIRMATION_MISMATCH`.
    #[error("Passwords do not match.")]
    PasswordConfirmationMismatch,
    /// `PASSKEY_AUTHENTICATION_NOT_ENABLED`: `auth.passkey.allowSignIn` is off.
    #[error("Passkey authentication is not enabled for this project.")]
    PasskeyAuthenticationNotEnabled,
    /// `PASSKEY_REGISTRATION_FAILED` (no details): the origin is not trusted, or the
    /// registration response does not verify.
    #[error("{}", .0.message())]
    PasskeyRegistrationFailed(PasskeyRegistrationFailure),
    /// `PASSKEY_AUTHENTICATION_FAILED` (no details): no such passkey, an untrusted origin,
    /// or an assertion that does not verify.
    #[error("{}", .0.message())]
    PasskeyAuthenticationFailed(PasskeyAuthenticationFailure),
    /// `INVALID_OAUTH_CLIENT_ID_OR_SECRET`.
    #[error(
        "The OAuth client ID or secret is invalid. The client ID must be equal to the project ID (potentially with a hash and a branch ID), and the client secret must be a publishable client key."
    )]
    InvalidOauthClientIdOrSecret(Option<String>),

    // ----- users -----
    /// `USER_NOT_FOUND`.
    #[error("User not found.")]
    UserNotFound,
    /// `USER_ID_DOES_NOT_EXIST`.
    #[error("The given user with the ID {0} does not exist.")]
    UserIdDoesNotExist(Uuid),
    /// `TEAM_MEMBERSHIP_NOT_FOUND`.
    #[error("User {user_id} is not found in team {team_id}.")]
    TeamMembershipNotFound {
        /// The team.
        team_id: Uuid,
        /// The user.
        user_id: Uuid,
    },

    /// `EMAIL_ALREADY_VERIFIED`.
    #[error("The e-mail is already verified.")]
    EmailAlreadyVerified,
    /// `EMAIL_IS_NOT_PRIMARY_EMAIL`.
    #[error("The given e-mail ({email}) must equal the user's primary e-mail ({}).", .primary_email.as_deref().unwrap_or("null"))]
    EmailIsNotPrimaryEmail {
        /// The e-mail given.
        email: String,
        /// The user's primary e-mail.
        primary_email: Option<String>,
    },
    /// `CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE`.
    #[error("This email {} is already used for authentication by another account{}", .value.as_deref().map(|v| format!("\"({v})\"")).unwrap_or_default(), if *.would_work_if_email_was_verified { " but the email is not verified. Please login to your existing account with the method you used to sign up, and then verify your email to sign in with this login method." } else { "." })]
    ContactChannelAlreadyUsedForAuthBySomeoneElse {
        /// The address, when known.
        value: Option<String>,
        /// Whether verifying would have let this work.
        would_work_if_email_was_verified: bool,
    },

    // ----- verification codes -----
    /// `VERIFICATION_CODE_NOT_FOUND`.
    #[error("The verification code does not exist for this project.")]
    VerificationCodeNotFound,
    /// `VERIFICATION_CODE_EXPIRED`.
    #[error("The verification code has expired.")]
    VerificationCodeExpired,
    /// `VERIFICATION_CODE_ALREADY_USED`.
    #[error("The verification link has already been used.")]
    VerificationCodeAlreadyUsed,
    /// `VERIFICATION_CODE_MAX_ATTEMPTS_REACHED`.
    #[error(
        "The verification code nonce has reached the maximum number of attempts. This code is not valid anymore."
    )]
    VerificationCodeMaxAttemptsReached,

    // ----- admin access tokens -----
    /// `UNPARSABLE_ADMIN_ACCESS_TOKEN`.
    #[error("Admin access token is not parsable.")]
    UnparsableAdminAccessToken,
    /// `ADMIN_ACCESS_TOKEN_EXPIRED`.
    #[error("Admin access token has expired. Please refresh it and try again.{}", .0.map(|at| format!(" (The access token expired at {}.)", crate::clock::iso8601(at))).unwrap_or_default())]
    AdminAccessTokenExpired(Option<i64>),
    /// `MULTI_FACTOR_AUTHENTICATION_REQUIRED`: the first factor was right; finish with
    /// `POST /auth/mfa/sign-in` and this attempt code.
    #[error("Multi-factor authentication is required for this user.")]
    MultiFactorAuthenticationRequired(String),
    /// `INVALID_TOTP_CODE`.
    #[error("The TOTP code is invalid. Please try again.")]
    InvalidTotpCode,
    // ----- teams and permissions -----
    /// `TEAM_NOT_FOUND`.
    #[error("Team {0} not found.")]
    TeamNotFound(Uuid),
    /// `TEAM_MEMBERSHIP_ALREADY_EXISTS`.
    #[error("Team membership already exists.")]
    TeamMembershipAlreadyExists,
    /// `TEAM_PERMISSION_REQUIRED`.
    #[error("User {user_id} does not have permission {permission_id} in team {team_id}.")]
    TeamPermissionRequired {
        /// The team.
        team_id: Uuid,
        /// The user.
        user_id: Uuid,
        /// The missing permission.
        permission_id: String,
    },
    /// `PROJECT_PERMISSION_REQUIRED`.
    #[error("User {user_id} does not have permission {permission_id}.")]
    ProjectPermissionRequired {
        /// The user.
        user_id: Uuid,
        /// The missing permission.
        permission_id: String,
    },
    /// `TEAM_PERMISSION_NOT_FOUND`: no direct grant to revoke.
    #[error("User {user_id} does not have permission {permission_id} in team {team_id}.")]
    TeamPermissionNotFound {
        /// The team.
        team_id: Uuid,
        /// The user.
        user_id: Uuid,
        /// The permission.
        permission_id: String,
    },
    /// `PERMISSION_NOT_FOUND`.
    #[error("Permission \"{0}\" not found. Make sure you created it on the dashboard.")]
    PermissionNotFound(String),
    /// `WRONG_PERMISSION_SCOPE`.
    #[error("Permission {} not found. (It was found for a different scope {}, but scope {} was expected.)", json_quote(.permission_id), json_quote(.actual_scope), json_quote(.expected_scope))]
    WrongPermissionScope {
        /// The permission.
        permission_id: String,
        /// The scope the endpoint wants.
        expected_scope: &'static str,
        /// The scope it has.
        actual_scope: &'static str,
    },
    /// `PERMISSION_ID_ALREADY_EXISTS`.
    #[error("Permission with ID \"{0}\" already exists. Choose a different ID.")]
    PermissionIdAlreadyExists(String),
    /// `CONTAINED_PERMISSION_NOT_FOUND`.
    #[error(
        "Contained permission with ID \"{0}\" not found. Make sure you created it on the dashboard."
    )]
    ContainedPermissionNotFound(String),
    /// `TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED`.
    #[error("Restricted users cannot accept team invitations. Reason: {}. Please complete the onboarding process before accepting team invitations.", .0.as_str())]
    TeamInvitationRestrictedUserNotAllowed(RestrictedReason),
    /// `DATA_VAULT_STORE_DOES_NOT_EXIST`.
    #[error("Data vault store with ID {0} does not exist.")]
    DataVaultStoreDoesNotExist(String),
    /// `DATA_VAULT_STORE_HASHED_KEY_DOES_NOT_EXIST`.
    #[error("Data vault store with ID {store_id} does not contain a key with hash {hashed_key}.")]
    DataVaultStoreHashedKeyDoesNotExist {
        /// The store.
        store_id: String,
        /// The hashed key asked for.
        hashed_key: String,
    },
    /// `EXPECTED_INTERNAL_PROJECT`.
    #[error("The project ID is expected to be internal.")]
    ExpectedInternalProject,
    /// `ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN`.
    #[error("Admin access token does not have the required permissions to access this project.")]
    AdminAccessTokenIsNotAdmin,

    // ----- API keys (parent API_KEY_NOT_VALID) -----
    /// `API_KEY_NOT_FOUND`.
    #[error("API key not found.")]
    ApiKeyNotFound,
    /// `WRONG_API_KEY_TYPE`.
    #[error("This endpoint is for {expected} API keys, but a {actual} API key was provided.")]
    WrongApiKeyType {
        /// `user` or `team`: what the endpoint takes.
        expected: &'static str,
        /// `user` or `team`: what was sent.
        actual: &'static str,
    },
    /// `API_KEY_REVOKED`.
    #[error("API key has been revoked.")]
    ApiKeyRevoked,
    /// `API_KEY_EXPIRED`.
    #[error("API key has expired.")]
    ApiKeyExpired,
    /// `PUBLIC_API_KEY_CANNOT_BE_REVOKED`.
    #[error("Public API keys cannot be revoked by the secretscanner endpoint.")]
    PublicApiKeyCannotBeRevoked,

    // ----- OAuth -----
    /// `OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED`: no such provider config id.
    #[error("The OAuth provider is not found or not enabled.")]
    OauthProviderNotFoundOrNotEnabled,
    /// `OAUTH_EXTRA_SCOPE_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS`.
    #[error(
        "Extra scopes are not available with shared OAuth keys. Please add your own OAuth keys on the Stack dashboard to use extra scopes."
    )]
    OauthExtraScopeNotAvailableWithSharedOauthKeys,
    /// `OUTER_OAUTH_TIMEOUT` (408): the sign-in at the provider took too long.
    #[error("The OAuth flow has timed out. Please sign in again.")]
    OuterOauthTimeout,
    /// `OAUTH_PROVIDER_ACCESS_DENIED`: the user (or the provider) declined.
    #[error("The OAuth provider denied access to the user.")]
    OauthProviderAccessDenied,
    /// `OAUTH_PROVIDER_TEMPORARILY_UNAVAILABLE` (503): the provider did not answer usefully.
    #[error("The OAuth provider is temporarily unavailable. Please try signing in again.")]
    OauthProviderTemporarilyUnavailable,
    /// `OAUTH_CONNECTION_ALREADY_CONNECTED_TO_ANOTHER_USER` (409).
    #[error("The OAuth connection is already connected to another user.")]
    OauthConnectionAlreadyConnectedToAnotherUser,
    /// `INVALID_AUTHORIZATION_CODE`: unknown, expired, used, or the PKCE verifier does not
    /// match.
    #[error("The given authorization code is invalid.")]
    InvalidAuthorizationCode,
    /// `OAUTH_ACCESS_TOKEN_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS`: connected-account tokens of
    /// a provider on the deployment's shared keys.
    #[error(
        "Access tokens are not available with shared OAuth keys. Please add your own OAuth keys on the Stack dashboard to use access tokens."
    )]
    OauthAccessTokenNotAvailableWithSharedOauthKeys,
    /// `OAUTH_CONNECTION_NOT_CONNECTED_TO_USER`: the user has no such provider account.
    #[error("The OAuth connection is not connected to any user.")]
    OauthConnectionNotConnectedToUser,
    /// `OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE`: no stored token covers the scopes.
    #[error("The OAuth connection does not have the required scope.")]
    OauthConnectionDoesNotHaveRequiredScope,
    /// `OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN`.
    #[error("A provider with the same account ID is already used for signing in.")]
    OauthProviderAccountIdAlreadyUsedForSignIn,
    /// `APPLE_BUNDLE_ID_NOT_CONFIGURED`: native Apple sign-in without bundle ids.
    #[error(
        "Apple Sign In is enabled, but no Bundle IDs are configured. Please add your app's Bundle ID in the Stack Auth dashboard under OAuth Providers > Apple > Apple Bundle IDs."
    )]
    AppleBundleIdNotConfigured,
    /// `INVALID_APPLE_CREDENTIALS`: the Apple ID token does not verify.
    #[error("The Apple Sign In credentials could not be verified. Please try signing in again.")]
    InvalidAppleCredentials,

    // ----- CLI login -----
    /// `INVALID_POLLING_CODE`: no CLI login attempt with this polling code.
    #[error("The polling code is invalid or does not exist.")]
    InvalidPollingCode,

    // ----- Postern extensions (not in Stack's catalogue) -----
    /// `STEP_UP_REQUIRED` (403): a sensitive change asked by a client (setting a first
    /// password, turning MFA off, making an address usable for sign-in, generating recovery
    /// codes) needs a step-up token from `POST /auth/step-up`, proven with one of `methods`,
    /// in the `x-postern-step-up-token` header. A stolen access token alone is not enough.
    #[error("{}", step_up_message(.methods))]
    StepUpRequired {
        /// The proofs this change accepts and the user can give (`password`, `totp`,
        /// `email_code`).
        methods: Vec<&'static str>,
    },
    /// `NO_PROVEN_EMAIL` (400): a step-up code or confirmation link was asked for, and the
    /// user has no proven address (verified and confirmed for sign-in) to send it to.
    #[error("The user has no verified email address confirmed for sign-in to send this to.")]
    NoProvenEmail,
    /// `MFA_NOT_ENABLED` (400): recovery codes were asked for a user without TOTP.
    #[error("Multi-factor authentication is not enabled for this user.")]
    MfaNotEnabled,
    /// `PASSKEY_NOT_FOUND` (404): the signed-in user has no passkey with this id.
    #[error("Passkey {0} not found.")]
    PasskeyNotFound(Uuid),

    // ----- not known errors -----
    /// Too many requests (429, plain JSON, `Retry-After`): a per-IP bucket is empty, an
    /// account factor is in its progressive delay or locked, or a recipient got too much
    /// mail. Deliberately not a known error: the official SDK honours `429` with
    /// `Retry-After` only when the response carries no known-error header.
    #[error("Too many requests. Try again in {retry_after_secs} seconds.")]
    TooManyRequests {
        /// Seconds until a retry can succeed (the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// A refusal without a known-error code: its message is the whole `text/plain` body,
    /// sent with [`Refusal::status`].
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// An unexpected failure; the text is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A `SCHEMA_ERROR` with one failure line.
    pub fn schema(failure: impl Into<String>) -> Self {
        Error::Schema(vec![failure.into()])
    }

    /// Stack's known-error code, or `None` for plain and internal errors.
    pub fn code(&self) -> Option<&'static str> {
        Some(match self {
            Error::BodyParsing(_) => "BODY_PARSING_ERROR",
            Error::Schema(_) | Error::SchemaMessage(_) => "SCHEMA_ERROR",
            Error::ProjectKeyWithoutAccessType => "PROJECT_KEY_WITHOUT_ACCESS_TYPE",
            Error::InvalidAccessType(_) => "INVALID_ACCESS_TYPE",
            Error::AccessTypeWithoutProjectId(_) => "ACCESS_TYPE_WITHOUT_PROJECT_ID",
            Error::AccessTypeRequired => "ACCESS_TYPE_REQUIRED",
            Error::InsufficientAccessType { .. } => "INSUFFICIENT_ACCESS_TYPE",
            Error::CurrentProjectNotFound(_) => "CURRENT_PROJECT_NOT_FOUND",
            Error::BranchDoesNotExist(_) => "BRANCH_DOES_NOT_EXIST",
            Error::PublishableClientKeyRequiredForProject(_) => {
                "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT"
            }
            Error::InvalidPublishableClientKey(_) => "INVALID_PUBLISHABLE_CLIENT_KEY",
            Error::ServerAuthenticationRequired => "SERVER_AUTHENTICATION_REQUIRED",
            Error::InvalidSecretServerKey(_) => "INVALID_SECRET_SERVER_KEY",
            Error::AdminAuthenticationRequired => "ADMIN_AUTHENTICATION_REQUIRED",
            Error::InvalidSuperSecretAdminKey(_) => "INVALID_SUPER_SECRET_ADMIN_KEY",
            Error::UnparsableAccessToken => "UNPARSABLE_ACCESS_TOKEN",
            Error::AccessTokenExpired { .. } => "ACCESS_TOKEN_EXPIRED",
            Error::InvalidProjectForAccessToken { .. } => "INVALID_PROJECT_FOR_ACCESS_TOKEN",
            Error::AnonymousAuthenticationNotAllowed => "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED",
            Error::RestrictedUserNotAllowed(_) => "RESTRICTED_USER_NOT_ALLOWED",
            Error::UserAuthenticationRequired => "USER_AUTHENTICATION_REQUIRED",
            Error::CannotGetOwnUserWithoutUser => "CANNOT_GET_OWN_USER_WITHOUT_USER",
            Error::RefreshTokenNotFoundOrExpired => "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED",
            Error::CannotDeleteCurrentSession => "CANNOT_DELETE_CURRENT_SESSION",
            Error::PasswordAuthenticationNotEnabled => "PASSWORD_AUTHENTICATION_NOT_ENABLED",
            Error::SignUpNotEnabled => "SIGN_UP_NOT_ENABLED",
            Error::SignUpRejected => "SIGN_UP_REJECTED",
            Error::RedirectUrlNotWhitelisted => "REDIRECT_URL_NOT_WHITELISTED",
            Error::OauthProviderNotFoundOrNotEnabled => "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED",
            Error::OauthExtraScopeNotAvailableWithSharedOauthKeys => {
                "OAUTH_EXTRA_SCOPE_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS"
            }
            Error::OuterOauthTimeout => "OUTER_OAUTH_TIMEOUT",
            Error::OauthProviderAccessDenied => "OAUTH_PROVIDER_ACCESS_DENIED",
            Error::OauthProviderTemporarilyUnavailable => "OAUTH_PROVIDER_TEMPORARILY_UNAVAILABLE",
            Error::OauthConnectionAlreadyConnectedToAnotherUser => {
                "OAUTH_CONNECTION_ALREADY_CONNECTED_TO_ANOTHER_USER"
            }
            Error::InvalidAuthorizationCode => "INVALID_AUTHORIZATION_CODE",
            Error::OauthAccessTokenNotAvailableWithSharedOauthKeys => {
                "OAUTH_ACCESS_TOKEN_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS"
            }
            Error::OauthConnectionNotConnectedToUser => "OAUTH_CONNECTION_NOT_CONNECTED_TO_USER",
            Error::OauthConnectionDoesNotHaveRequiredScope => {
                "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE"
            }
            Error::OauthProviderAccountIdAlreadyUsedForSignIn => {
                "OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN"
            }
            Error::AppleBundleIdNotConfigured => "APPLE_BUNDLE_ID_NOT_CONFIGURED",
            Error::InvalidAppleCredentials => "INVALID_APPLE_CREDENTIALS",
            Error::InvalidPollingCode => "INVALID_POLLING_CODE",
            Error::PasswordRequirementsNotMet(PasswordRequirement::TooShort { .. }) => {
                "PASSWORD_TOO_SHORT"
            }
            Error::PasswordRequirementsNotMet(PasswordRequirement::TooLong { .. }) => {
                "PASSWORD_TOO_LONG"
            }
            Error::UserEmailAlreadyExists { .. } => "USER_EMAIL_ALREADY_EXISTS",
            Error::EmailPasswordMismatch => "EMAIL_PASSWORD_MISMATCH",
            Error::UserDoesNotHavePassword => "USER_DOES_NOT_HAVE_PASSWORD",
            Error::PasswordConfirmationMismatch => "PASSWORD_CONFIRMATION_MISMATCH",
            Error::InvalidOauthClientIdOrSecret(_) => "INVALID_OAUTH_CLIENT_ID_OR_SECRET",
            Error::PasskeyAuthenticationNotEnabled => "PASSKEY_AUTHENTICATION_NOT_ENABLED",
            Error::PasskeyRegistrationFailed(_) => "PASSKEY_REGISTRATION_FAILED",
            Error::PasskeyAuthenticationFailed(_) => "PASSKEY_AUTHENTICATION_FAILED",
            Error::UserNotFound => "USER_NOT_FOUND",
            Error::UserIdDoesNotExist(_) => "USER_ID_DOES_NOT_EXIST",
            Error::TeamMembershipNotFound { .. } => "TEAM_MEMBERSHIP_NOT_FOUND",
            Error::EmailAlreadyVerified => "EMAIL_ALREADY_VERIFIED",
            Error::EmailIsNotPrimaryEmail { .. } => "EMAIL_IS_NOT_PRIMARY_EMAIL",
            Error::ContactChannelAlreadyUsedForAuthBySomeoneElse { .. } => {
                "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE"
            }
            Error::VerificationCodeNotFound => "VERIFICATION_CODE_NOT_FOUND",
            Error::VerificationCodeExpired => "VERIFICATION_CODE_EXPIRED",
            Error::VerificationCodeAlreadyUsed => "VERIFICATION_CODE_ALREADY_USED",
            Error::VerificationCodeMaxAttemptsReached => "VERIFICATION_CODE_MAX_ATTEMPTS_REACHED",
            Error::UnparsableAdminAccessToken => "UNPARSABLE_ADMIN_ACCESS_TOKEN",
            Error::AdminAccessTokenExpired(_) => "ADMIN_ACCESS_TOKEN_EXPIRED",
            Error::AdminAccessTokenIsNotAdmin => "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN",
            Error::ExpectedInternalProject => "EXPECTED_INTERNAL_PROJECT",
            Error::TeamNotFound(_) => "TEAM_NOT_FOUND",
            Error::DataVaultStoreDoesNotExist(_) => "DATA_VAULT_STORE_DOES_NOT_EXIST",
            Error::DataVaultStoreHashedKeyDoesNotExist { .. } => {
                "DATA_VAULT_STORE_HASHED_KEY_DOES_NOT_EXIST"
            }
            Error::TeamInvitationRestrictedUserNotAllowed(_) => {
                "TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED"
            }
            Error::TeamMembershipAlreadyExists => "TEAM_MEMBERSHIP_ALREADY_EXISTS",
            Error::TeamPermissionRequired { .. } => "TEAM_PERMISSION_REQUIRED",
            Error::ProjectPermissionRequired { .. } => "PROJECT_PERMISSION_REQUIRED",
            Error::TeamPermissionNotFound { .. } => "TEAM_PERMISSION_NOT_FOUND",
            Error::PermissionNotFound(_) => "PERMISSION_NOT_FOUND",
            Error::WrongPermissionScope { .. } => "WRONG_PERMISSION_SCOPE",
            Error::PermissionIdAlreadyExists(_) => "PERMISSION_ID_ALREADY_EXISTS",
            Error::ContainedPermissionNotFound(_) => "CONTAINED_PERMISSION_NOT_FOUND",
            Error::MultiFactorAuthenticationRequired(_) => "MULTI_FACTOR_AUTHENTICATION_REQUIRED",
            Error::InvalidTotpCode => "INVALID_TOTP_CODE",
            Error::ApiKeyNotFound => "API_KEY_NOT_FOUND",
            Error::WrongApiKeyType { .. } => "WRONG_API_KEY_TYPE",
            Error::ApiKeyRevoked => "API_KEY_REVOKED",
            Error::ApiKeyExpired => "API_KEY_EXPIRED",
            Error::PublicApiKeyCannotBeRevoked => "PUBLIC_API_KEY_CANNOT_BE_REVOKED",
            Error::StepUpRequired { .. } => "STEP_UP_REQUIRED",
            Error::NoProvenEmail => "NO_PROVEN_EMAIL",
            Error::MfaNotEnabled => "MFA_NOT_ENABLED",
            Error::PasskeyNotFound(_) => "PASSKEY_NOT_FOUND",
            Error::Refused(_) | Error::Internal(_) | Error::TooManyRequests { .. } => {
                return None;
            }
        })
    }

    /// The HTTP status.
    pub fn http_status(&self) -> StatusCode {
        match self {
            Error::BodyParsing(_)
            | Error::Schema(_)
            | Error::SchemaMessage(_)
            | Error::ProjectKeyWithoutAccessType
            | Error::InvalidAccessType(_)
            | Error::AccessTypeWithoutProjectId(_)
            | Error::AccessTypeRequired
            | Error::CurrentProjectNotFound(_)
            | Error::BranchDoesNotExist(_)
            | Error::CannotGetOwnUserWithoutUser
            | Error::CannotDeleteCurrentSession
            | Error::PasswordAuthenticationNotEnabled
            | Error::SignUpNotEnabled
            | Error::RedirectUrlNotWhitelisted
            | Error::OauthProviderNotFoundOrNotEnabled
            | Error::OauthExtraScopeNotAvailableWithSharedOauthKeys
            | Error::OauthProviderAccessDenied
            | Error::InvalidAuthorizationCode
            | Error::OauthAccessTokenNotAvailableWithSharedOauthKeys
            | Error::OauthConnectionNotConnectedToUser
            | Error::OauthConnectionDoesNotHaveRequiredScope
            | Error::OauthProviderAccountIdAlreadyUsedForSignIn
            | Error::AppleBundleIdNotConfigured
            | Error::InvalidAppleCredentials
            | Error::InvalidPollingCode
            | Error::PasswordRequirementsNotMet(_)
            | Error::EmailPasswordMismatch
            | Error::UserDoesNotHavePassword
            | Error::PasswordConfirmationMismatch
            | Error::InvalidOauthClientIdOrSecret(_)
            | Error::PasskeyAuthenticationNotEnabled
            | Error::PasskeyRegistrationFailed(_)
            | Error::PasskeyAuthenticationFailed(_)
            | Error::UserIdDoesNotExist(_)
            | Error::WrongApiKeyType { .. }
            | Error::EmailIsNotPrimaryEmail { .. }
            | Error::VerificationCodeExpired
            | Error::VerificationCodeMaxAttemptsReached
            | Error::MultiFactorAuthenticationRequired(_)
            | Error::InvalidTotpCode
            | Error::PermissionIdAlreadyExists(_)
            | Error::ContainedPermissionNotFound(_)
            | Error::DataVaultStoreDoesNotExist(_)
            | Error::DataVaultStoreHashedKeyDoesNotExist { .. }
            | Error::PublicApiKeyCannotBeRevoked
            | Error::NoProvenEmail
            | Error::MfaNotEnabled => StatusCode::BAD_REQUEST,
            Error::InsufficientAccessType { .. }
            | Error::PublishableClientKeyRequiredForProject(_)
            | Error::InvalidPublishableClientKey(_)
            | Error::ServerAuthenticationRequired
            | Error::InvalidSecretServerKey(_)
            | Error::AdminAuthenticationRequired
            | Error::InvalidSuperSecretAdminKey(_)
            | Error::UnparsableAccessToken
            | Error::AccessTokenExpired { .. }
            | Error::InvalidProjectForAccessToken { .. }
            | Error::AnonymousAuthenticationNotAllowed
            | Error::UserAuthenticationRequired
            | Error::ApiKeyRevoked
            | Error::ApiKeyExpired
            | Error::UnparsableAdminAccessToken
            | Error::AdminAccessTokenExpired(_)
            | Error::AdminAccessTokenIsNotAdmin
            | Error::ExpectedInternalProject
            | Error::TeamPermissionRequired { .. }
            | Error::ProjectPermissionRequired { .. }
            | Error::TeamPermissionNotFound { .. }
            | Error::RefreshTokenNotFoundOrExpired => StatusCode::UNAUTHORIZED,
            Error::RestrictedUserNotAllowed(_)
            | Error::TeamInvitationRestrictedUserNotAllowed(_)
            | Error::SignUpRejected
            | Error::StepUpRequired { .. } => StatusCode::FORBIDDEN,
            Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::UserNotFound
            | Error::TeamMembershipNotFound { .. }
            | Error::ApiKeyNotFound
            | Error::VerificationCodeNotFound
            | Error::PasskeyNotFound(_)
            | Error::TeamNotFound(_)
            | Error::PermissionNotFound(_)
            | Error::WrongPermissionScope { .. } => StatusCode::NOT_FOUND,
            Error::UserEmailAlreadyExists { .. }
            | Error::EmailAlreadyVerified
            | Error::ContactChannelAlreadyUsedForAuthBySomeoneElse { .. }
            | Error::VerificationCodeAlreadyUsed
            | Error::TeamMembershipAlreadyExists
            | Error::OauthConnectionAlreadyConnectedToAnotherUser => StatusCode::CONFLICT,
            Error::OuterOauthTimeout => StatusCode::REQUEST_TIMEOUT,
            Error::OauthProviderTemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Error::Refused(r) => r.status(),
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `details` object, keys spelled as Stack spells them; `None` when the error has none.
    pub fn details(&self) -> Option<Value> {
        match self {
            Error::Schema(_) | Error::SchemaMessage(_) => {
                Some(json!({ "message": self.to_string() }))
            }
            Error::AccessTypeWithoutProjectId(t) => Some(json!({ "request_type": t.as_str() })),
            Error::InsufficientAccessType { actual, allowed } => Some(json!({
                "actual_access_type": actual.as_str(),
                "allowed_access_types": allowed.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            })),
            Error::CurrentProjectNotFound(p) => Some(json!({ "project_id": p })),
            Error::BranchDoesNotExist(b) => Some(json!({ "branch_id": b })),
            Error::PublishableClientKeyRequiredForProject(p) => Some(json!({ "project_id": p })),
            Error::InvalidPublishableClientKey(p)
            | Error::InvalidSecretServerKey(p)
            | Error::InvalidSuperSecretAdminKey(p) => Some(json!({ "project_id": p })),
            Error::AccessTokenExpired {
                expired_at_millis,
                project_id,
                user_id,
                refresh_token_id,
            } => Some(json!({
                "expired_at_millis": expired_at_millis,
                "project_id": project_id,
                "user_id": user_id,
                "refresh_token_id": refresh_token_id,
            })),
            Error::InvalidProjectForAccessToken { expected, actual } => Some(json!({
                "expected_project_id": expected,
                "actual_project_id": actual,
            })),
            Error::RestrictedUserNotAllowed(r) => Some(json!({ "restricted_reason": r.to_json() })),
            Error::PasswordRequirementsNotMet(PasswordRequirement::TooShort { min_length }) => {
                Some(json!({ "min_length": min_length }))
            }
            // Stack spells this one in camelCase.
            Error::PasswordRequirementsNotMet(PasswordRequirement::TooLong { max_length }) => {
                Some(json!({ "maxLength": max_length }))
            }
            Error::UserEmailAlreadyExists {
                email,
                would_work_if_email_was_verified,
            } => Some(json!({
                "email": email,
                "would_work_if_email_was_verified": would_work_if_email_was_verified,
            })),
            Error::InvalidOauthClientIdOrSecret(c) => Some(json!({ "client_id": c })),
            Error::UserIdDoesNotExist(u) => Some(json!({ "user_id": u })),
            Error::WrongApiKeyType { expected, actual } => {
                Some(json!({ "expected_type": expected, "actual_type": actual }))
            }
            Error::TeamMembershipNotFound { team_id, user_id } => {
                Some(json!({ "team_id": team_id, "user_id": user_id }))
            }
            Error::EmailIsNotPrimaryEmail {
                email,
                primary_email,
            } => Some(json!({ "email": email, "primary_email": primary_email })),
            Error::ContactChannelAlreadyUsedForAuthBySomeoneElse {
                value,
                would_work_if_email_was_verified,
            } => Some(json!({
                "type": "email",
                "contact_channel_value": value,
                "would_work_if_email_was_verified": would_work_if_email_was_verified,
            })),
            Error::AdminAccessTokenExpired(at) => Some(json!({ "expired_at_millis": at })),
            Error::MultiFactorAuthenticationRequired(code) => Some(json!({ "attempt_code": code })),
            Error::StepUpRequired { methods } => Some(json!({ "methods": methods })),
            Error::SignUpRejected => Some(json!({ "message": self.to_string() })),
            Error::TeamNotFound(t) => Some(json!({ "team_id": t })),
            Error::PasskeyNotFound(p) => Some(json!({ "passkey_id": p })),
            Error::DataVaultStoreDoesNotExist(s) => Some(json!({ "store_id": s })),
            Error::DataVaultStoreHashedKeyDoesNotExist {
                store_id,
                hashed_key,
            } => Some(json!({ "store_id": store_id, "hashed_key": hashed_key })),
            Error::ProjectPermissionRequired {
                user_id,
                permission_id,
            } => Some(json!({ "user_id": user_id, "permission_id": permission_id })),
            Error::TeamInvitationRestrictedUserNotAllowed(r) => {
                Some(json!({ "restricted_reason": r.to_json() }))
            }
            Error::TeamPermissionRequired {
                team_id,
                user_id,
                permission_id,
            }
            | Error::TeamPermissionNotFound {
                team_id,
                user_id,
                permission_id,
            } => Some(
                json!({ "team_id": team_id, "user_id": user_id, "permission_id": permission_id }),
            ),
            Error::PermissionNotFound(p)
            | Error::PermissionIdAlreadyExists(p)
            | Error::ContainedPermissionNotFound(p) => Some(json!({ "permission_id": p })),
            Error::WrongPermissionScope {
                permission_id,
                expected_scope,
                actual_scope,
            } => Some(json!({
                "permission_id": permission_id,
                "expected_scope": expected_scope,
                "actual_scope": actual_scope,
            })),
            Error::EmailAlreadyVerified
            | Error::VerificationCodeNotFound
            | Error::VerificationCodeExpired
            | Error::VerificationCodeAlreadyUsed
            | Error::VerificationCodeMaxAttemptsReached
            | Error::UnparsableAdminAccessToken
            | Error::AdminAccessTokenIsNotAdmin
            | Error::InvalidTotpCode
            | Error::TeamMembershipAlreadyExists
            | Error::ExpectedInternalProject
            | Error::NoProvenEmail
            | Error::MfaNotEnabled
            | Error::OauthProviderNotFoundOrNotEnabled
            | Error::OauthExtraScopeNotAvailableWithSharedOauthKeys
            | Error::OuterOauthTimeout
            | Error::OauthProviderAccessDenied
            | Error::OauthProviderTemporarilyUnavailable
            | Error::OauthConnectionAlreadyConnectedToAnotherUser
            | Error::InvalidAuthorizationCode
            | Error::OauthAccessTokenNotAvailableWithSharedOauthKeys
            | Error::OauthConnectionNotConnectedToUser
            | Error::OauthConnectionDoesNotHaveRequiredScope
            | Error::OauthProviderAccountIdAlreadyUsedForSignIn
            | Error::AppleBundleIdNotConfigured
            | Error::InvalidAppleCredentials
            | Error::InvalidPollingCode
            | Error::TooManyRequests { .. } => None,
            Error::BodyParsing(_)
            | Error::ProjectKeyWithoutAccessType
            | Error::InvalidAccessType(_)
            | Error::AccessTypeRequired
            | Error::ServerAuthenticationRequired
            | Error::AdminAuthenticationRequired
            | Error::UnparsableAccessToken
            | Error::AnonymousAuthenticationNotAllowed
            | Error::UserAuthenticationRequired
            | Error::CannotGetOwnUserWithoutUser
            | Error::RefreshTokenNotFoundOrExpired
            | Error::CannotDeleteCurrentSession
            | Error::PasswordAuthenticationNotEnabled
            | Error::SignUpNotEnabled
            | Error::RedirectUrlNotWhitelisted
            | Error::EmailPasswordMismatch
            | Error::UserDoesNotHavePassword
            | Error::PasswordConfirmationMismatch
            | Error::PasskeyAuthenticationNotEnabled
            | Error::PasskeyRegistrationFailed(_)
            | Error::PasskeyAuthenticationFailed(_)
            | Error::UserNotFound
            | Error::ApiKeyNotFound
            | Error::ApiKeyRevoked
            | Error::ApiKeyExpired
            | Error::PublicApiKeyCannotBeRevoked
            | Error::Refused(_)
            | Error::Internal(_) => None,
        }
    }
}

/// Why a passkey registration failed (`PASSKEY_REGISTRATION_FAILED`), with Stack's
/// messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyRegistrationFailure {
    /// The `origin` in `clientDataJSON` is not one of the project's trusted domains.
    OriginNotAllowed,
    /// The response is malformed or does not verify (challenge, origin, RP id, flags,
    /// algorithm, or a credential registered to another user).
    InvalidResponse,
}

impl PasskeyRegistrationFailure {
    /// The message Stack sends.
    pub fn message(self) -> &'static str {
        match self {
            Self::OriginNotAllowed => {
                "Passkey registration failed because the origin is not allowed"
            }
            Self::InvalidResponse => {
                "Passkey registration failed because the verification response is invalid"
            }
        }
    }
}

/// Why a passkey sign-in failed (`PASSKEY_AUTHENTICATION_FAILED`), with Stack's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyAuthenticationFailure {
    /// No passkey of the project has the response's credential id.
    NotFound,
    /// The `origin` in `clientDataJSON` is not one of the project's trusted domains.
    OriginNotAllowed,
    /// The assertion is malformed or does not verify (signature, challenge, origin, RP id,
    /// flags, or a signature counter that did not move forward).
    InvalidSignature,
}

impl PasskeyAuthenticationFailure {
    /// The message Stack sends.
    pub fn message(self) -> &'static str {
        match self {
            Self::NotFound => "Passkey not found",
            Self::OriginNotAllowed => {
                "Passkey authentication failed because the origin is not allowed"
            }
            Self::InvalidSignature => {
                "The signature of the authentication response could not be verified with the stored public key tied to this credential ID"
            }
        }
    }
}

/// A refusal that is not a known error: sent, as Stack sends such refusals, as a bare
/// `text/plain` body (the message below, byte for byte) with [`Refusal::status`], without
/// a known-error code or header. Each variant is one situation, so an embedding
/// application can match on it rather than on its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    // ----- authentication -----
    /// 401: the admin access token is well-formed and fresh, but its user no longer exists.
    #[error(
        "The user associated with the admin access token is no longer valid. Please refresh the admin access token and try again."
    )]
    AdminAccessTokenUserGone,
    /// 400: an app route needs a team id in a request header and it is missing or not a UUID.
    #[error("A team id is required in the {header} header")]
    TeamIdHeaderRequired {
        /// The header that should carry the team id.
        header: String,
    },

    // ----- projects and configuration -----
    /// 404: the project of a JWKS request does not exist.
    #[error("Project not found")]
    ProjectNotFound,
    /// 400: a project with this id already exists.
    #[error("Project {project_id} already exists")]
    ProjectAlreadyExists {
        /// The id asked for.
        project_id: String,
    },
    /// 400: one of the keys of a key set is already used by another key set.
    #[error("A project key is already used by another key set")]
    ProjectKeyAlreadyUsed,
    /// 400: a legacy project patch names an email theme that does not exist.
    #[error("Invalid email theme")]
    InvalidEmailTheme,
    /// 400: a config override body is not a JSON object.
    #[error("Invalid config JSON")]
    InvalidConfigJson,
    /// 400: a key of a config override is not a valid dotted path.
    #[error("The key \"{key}\" is not valid.")]
    InvalidConfigOverrideKey {
        /// The key as given.
        key: String,
    },
    /// 400: a nested object of a config override has a key containing a dot.
    #[error("Key {key} contains a dot, which is not allowed in config override.")]
    DottedConfigOverrideKey {
        /// The offending key.
        key: String,
    },
    /// 400: the overridden config does not deserialize.
    #[error("Invalid config: {reason}")]
    InvalidConfig {
        /// Why, as the deserializer put it.
        reason: String,
    },
    /// 400: the permission definitions would form a cycle.
    #[error(
        "Permission {permission_id} would contain itself (through its contained permissions); cycles are not allowed."
    )]
    PermissionCycle {
        /// A permission on the cycle.
        permission_id: String,
    },
    /// 403: server access may only change the branch level of the config.
    #[error("Server access can only manage branch config overrides.")]
    ServerMayOnlyOverrideBranchConfig,
    /// 403: server access may not change a config section reserved to admins
    /// ([`crate::admin::ADMIN_ONLY_SECTIONS`]).
    #[error(
        "Server access cannot change {key}: trusted domains, email, OAuth and security settings need admin access."
    )]
    ServerCannotOverrideAdminOnlyConfig {
        /// The first key of the override reaching into an admin-only section.
        key: String,
    },

    // ----- files -----
    /// 404: no stored file by this bucket and id.
    #[error("File not found")]
    FileNotFound,
    // ----- webhooks (a Postern extension) -----
    /// 404: no webhook endpoint by this id in the project.
    #[error("Webhook endpoint not found.")]
    WebhookEndpointNotFound,
    /// 404: no webhook message by this id in the project.
    #[error("Webhook message not found.")]
    WebhookMessageNotFound,
    /// 401: the webhook portal token is missing, malformed, expired or for another project.
    #[error("The webhook portal token is invalid or has expired.")]
    WebhookPortalTokenInvalid,
    /// 400: a profile image URL is neither a stored file's nor an `http(s)` URL nor an
    /// image data URL (or names another entity's stored file).
    #[error("Invalid profile image URL")]
    InvalidProfileImageUrl,
    /// 400: an uploaded image is larger than [`crate::files::MAX_IMAGE_BYTES`].
    #[error("Image too large")]
    ImageTooLarge,

    // ----- users -----
    /// 400: `only_anonymous=true` without `include_anonymous=true`.
    #[error("only_anonymous=true requires include_anonymous=true")]
    OnlyAnonymousWithoutIncludeAnonymous,
    /// 400: both `password` and `password_hash` were given.
    #[error("Cannot set both password and password_hash at the same time.")]
    PasswordAndPasswordHash,
    /// 400: `password_hash` is not in a supported Modular Crypt Format algorithm.
    #[error("Invalid password hash. Make sure it's a supported algorithm in Modular Crypt Format.")]
    UnsupportedPasswordHash,
    /// 400: setting a first password for a user who already has one.
    #[error("User already has a password set.")]
    PasswordAlreadySet,
    /// 400: enabling OTP sign-in for a user, or signing up with an OTP code, while the
    /// project does not allow OTP sign-in.
    #[error("OTP auth not enabled in the project")]
    OtpAuthNotEnabled,
    /// 403: asking for an OTP sign-in code while the project does not allow OTP sign-in.
    #[error("OTP sign-in is not enabled for this project")]
    OtpSignInNotEnabled,
    /// 400: `passkey_auth_enabled: true` (it follows the user's passkeys).
    #[error(
        "Cannot manually enable passkey auth, it is enabled iff there is a passkey auth method"
    )]
    CannotEnablePasskeyAuth,
    /// 400: giving a user a password while the project does not allow password sign-in.
    #[error("Password auth not enabled in the project")]
    PasswordAuthNotEnabled,
    /// 400: `restricted_by_admin_reason` without `restricted_by_admin=true`.
    #[error("restricted_by_admin_reason requires restricted_by_admin=true")]
    RestrictionReasonWithoutRestriction,
    /// 400: `restricted_by_admin_private_details` without `restricted_by_admin=true`.
    #[error("restricted_by_admin_private_details requires restricted_by_admin=true")]
    RestrictionDetailsWithoutRestriction,
    /// 400: `primary_email_auth_enabled: true` for a user left without a primary email.
    #[error("primary_email_auth_enabled cannot be true without primary_email")]
    PrimaryEmailAuthWithoutPrimaryEmail,
    /// 400: `primary_email_verified: true` for a user left without a primary email.
    #[error("primary_email_verified cannot be true without primary_email")]
    PrimaryEmailVerifiedWithoutPrimaryEmail,
    /// 400: a client deleting its user while the project does not allow it.
    #[error("Client user deletion is not enabled for this project")]
    ClientUserDeletionDisabled,
    /// 400: creating a user with an OAuth provider the project does not have.
    #[error("OAuth provider {provider_id} not found")]
    OauthProviderNotFound {
        /// The provider id as given.
        provider_id: String,
    },

    // ----- OAuth -----
    /// 400: `type=link` without the user's access token.
    #[error("?token= query parameter is required for link type")]
    OauthLinkTokenRequired,
    /// 403: the `token` of an OAuth authorize is another project's.
    #[error("The access token is not valid for this project")]
    OauthTokenWrongProject,
    /// 403: the `token` of an OAuth authorize is another branch's.
    #[error("The access token is not valid for this branch")]
    OauthTokenWrongBranch,
    /// 400: a callback whose `state` names no sign-in under way (or one already used).
    #[error("Invalid OAuth state. Please try signing in again.")]
    OauthInvalidState,
    /// 400: a callback without the browser cookie its authorize set.
    #[error(
        "Inner OAuth cookie not found. This is likely because you refreshed the page during the OAuth sign in process. Please try signing in again"
    )]
    OauthCookieNotFound,
    /// 400: the provider refused the authorization code.
    #[error("Inner OAuth callback failed due to invalid grant. Please try again.")]
    OauthInvalidGrant,
    /// 400: the provider refused the project's client credentials.
    #[error(
        "Invalid client credentials for this OAuth provider. Please ensure the configuration in the Stack Auth dashboard is correct."
    )]
    OauthInvalidClient,
    /// 400: the provider does not allow a requested scope.
    #[error("The OAuth provider does not allow the requested scope{}. Please ensure the scope is configured correctly in the provider's dashboard.", .scope.as_deref().map(|s| format!(" \"{s}\"")).unwrap_or_default())]
    OauthScopeNotAllowed {
        /// The scope, when the provider named it.
        scope: Option<String>,
    },
    /// 400: the app's authorize asked for another scope than `legacy`.
    #[error("Invalid scope requested. Please check the scopes you are requesting.")]
    OauthInvalidScope,
    /// 400: the token request's `redirect_uri` is not the one the code was issued for.
    #[error(
        "Invalid redirect URI. Your redirect URI must be the same as the one used to get the authorization code."
    )]
    OauthRedirectUriMismatch,
    /// 400: GitHub refused to list the user's addresses.
    #[error(
        "GitHub returned a 403 error when fetching user emails. \nDeveloper information: This is likely due to not having the correct permission \"Email addresses\" in your GitHub app. Please check your GitHub app settings and try again."
    )]
    GithubEmailsForbidden,
    /// 403: a client listing another user's connected accounts.
    #[error("Client can only list connected accounts for their own user.")]
    ClientMayOnlyListOwnConnectedAccounts,
    /// 403: a client asking for another user's provider tokens.
    #[error("Client can only access its own connected accounts")]
    ClientMayOnlyAccessOwnConnectedAccounts,
    /// 403: a client reading another user's provider account.
    #[error("Client can only read OAuth providers for their own user.")]
    ClientMayOnlyReadOwnOauthProviders,
    /// 403: a client listing another user's provider accounts.
    #[error("Client can only list OAuth providers for their own user.")]
    ClientMayOnlyListOwnOauthProviders,
    /// 403: a client updating another user's provider account.
    #[error("Client can only update OAuth providers for their own user.")]
    ClientMayOnlyUpdateOwnOauthProviders,
    /// 403: a client deleting another user's provider account.
    #[error("Client can only delete OAuth providers for their own user.")]
    ClientMayOnlyDeleteOwnOauthProviders,
    /// 404: creating a provider account for a provider the project does not configure.
    #[error("OAuth provider {provider_id} not found or not configured")]
    OauthProviderNotConfigured {
        /// The config id given.
        provider_id: String,
    },
    /// 404: no provider account by this id for this user.
    #[error("OAuth provider {id} for user {user_id} not found")]
    OauthProviderAccountNotFound {
        /// The provider account id given.
        id: String,
        /// The user id given.
        user_id: String,
    },
    /// 400: a second sign-in-enabled account of the same provider for one user.
    #[error("The same provider type with sign-in enabled already exists for this user.")]
    OauthProviderSignInExists,
    /// 400: the user already has this provider account.
    #[error("The same provider type with the same account ID already exists for this user.")]
    OauthProviderAccountExists,
    /// 400: a cross-domain handoff without the session's refresh token.
    #[error("Cross-domain auth handoff requires passing the current refresh token.")]
    HandoffRefreshTokenRequired,
    /// 401: a cross-domain handoff whose refresh token is not the access token's session's.
    #[error("Cross-domain auth handoff refresh token does not match the authenticated session.")]
    HandoffRefreshTokenMismatch,
    /// 401: a cross-domain handoff whose session has expired.
    #[error("Cross-domain auth handoff refresh token is not valid.")]
    HandoffRefreshTokenInvalid,
    /// 401: a handoff code whose session is no longer the code's user's.
    #[error("Cross-domain handoff refresh token does not belong to the authenticated user.")]
    HandoffSessionNotTheUsers,
    /// 400: a CLI login's anonymous refresh token is unknown.
    #[error("Invalid anon refresh token")]
    CliAnonTokenInvalid,
    /// 400: a CLI login's anonymous refresh token has expired.
    #[error("The provided anon refresh token has expired")]
    CliAnonTokenExpired,
    /// 400: a CLI login's anonymous refresh token's user is gone.
    #[error("User not found for provided refresh token")]
    CliAnonUserNotFound,
    /// 400: a CLI login's anonymous refresh token is a regular user's.
    #[error("The provided refresh token does not belong to an anonymous user")]
    CliAnonTokenNotAnonymous,
    /// 400: a login code that is unknown, expired, used or already completed.
    #[error("Invalid login code or the code has expired")]
    CliLoginCodeInvalid,
    /// 400: no anonymous session to claim (none, or claimed already).
    #[error("No anonymous session associated with this code")]
    CliNoAnonSession,
    /// 400: the anonymous session to claim no longer works.
    #[error("Anonymous session is no longer valid")]
    CliAnonSessionInvalid,
    /// 400: completing without the browser's refresh token.
    #[error("refresh_token is required when mode is 'complete'")]
    CliRefreshTokenRequired,
    /// 400: completing with an unknown or expired refresh token.
    #[error("Invalid refresh token")]
    CliRefreshTokenInvalid,
    /// 400: Facebook gave no address.
    #[error(
        "Facebook OAuth did not return an email address. This is likely because \"email\" scope is not selected on the Facebook developer dashboard."
    )]
    FacebookNoEmail,

    // ----- sessions -----
    /// 403: a client listing another user's sessions.
    #[error("Client can only list sessions for their own user.")]
    ClientMayOnlyListOwnSessions,
    /// 404: no session by this id in the project (or not the client's own).
    #[error("Session not found.")]
    SessionNotFound,

    // ----- contact channels -----
    /// 404: no contact channel by this id for this user.
    #[error("Contact channel not found.")]
    ContactChannelNotFound,
    /// 404: the channel to send a verification code to does not exist (Stack's text has
    /// no trailing period here).
    #[error("Contact channel not found")]
    ContactChannelToVerifyNotFound,
    /// 400: the channel to update or delete does not exist (a 400, as in Stack).
    #[error("Contact channel not found")]
    ContactChannelToModifyNotFound,
    /// 400: a verification code's channel no longer has the address the code was sent to.
    #[error("Contact channel not found. Was your contact channel deleted?")]
    VerifiedContactChannelGone,
    /// 400: a sign-in confirmation's channel was deleted or its address changed.
    #[error("Contact channel not found. Was your contact channel changed or deleted?")]
    ConfirmedContactChannelGone,
    /// 400: the user already has a channel with this address.
    #[error("Contact channel already exists")]
    ContactChannelAlreadyExists,
    /// 400: the user already has the maximum number of channels
    /// ([`crate::contact_channels::MAX_CHANNELS_PER_USER`]).
    #[error("A user can have at most {max} contact channels.")]
    TooManyContactChannels {
        /// The maximum.
        max: usize,
    },
    /// 403: a client listing another user's contact channels.
    #[error("Client can only list contact channels for their own user.")]
    ClientMayOnlyListOwnContactChannels,
    /// 403: a client creating a contact channel for another user.
    #[error("Client can only create contact channels for their own user.")]
    ClientMayOnlyCreateOwnContactChannels,
    /// 403: a client reading another user's contact channel.
    #[error("Client can only read contact channels for their own user.")]
    ClientMayOnlyReadOwnContactChannels,
    /// 403: a client updating another user's contact channel.
    #[error("Client can only update contact channels for their own user.")]
    ClientMayOnlyUpdateOwnContactChannels,
    /// 403: a client deleting another user's contact channel.
    #[error("Client can only delete contact channels for their own user.")]
    ClientMayOnlyDeleteOwnContactChannels,
    /// 403: a client confirming, or asking confirmation of, another user's contact channel
    /// for sign-in.
    #[error("Client can only manage contact channels for their own user.")]
    ClientMayOnlyManageOwnContactChannels,
    /// 400: a client sending a verification code for another user's channel.
    #[error("Can only send verification code for your own user")]
    ClientMayOnlyVerifyOwnContactChannels,

    // ----- teams, invitations and permissions -----
    /// 403: a client listing another user's teams.
    #[error(
        "Client can only list teams for their own user. user_id must be either \"me\" or the ID of the current user"
    )]
    ClientMayOnlyListOwnTeams,
    /// 400: both `creator_user_id` and the deprecated `add_current_user`.
    #[error(
        "Cannot use both creator_user_id and add_current_user. add_current_user is deprecated, please only use creator_user_id in the body."
    )]
    CreatorUserIdAndAddCurrentUser,
    /// 403: a client creating a team while the project does not allow it.
    #[error("Client team creation is disabled for this project")]
    ClientTeamCreationDisabled,
    /// 403: a client creating a team with another user as its creator.
    #[error(
        "You cannot create a team as a user that is not yourself. Make sure you set the creator_user_id to 'me'."
    )]
    ClientMayOnlyCreateTeamsAsSelf,
    /// 401: `add_current_user=true` without a signed-in user.
    #[error("You must be logged in to create a team with the current user as a member.")]
    AddCurrentUserWithoutUser,
    /// 400: a client listing team member profiles without a `team_id`.
    #[error("team_id is required for access type client")]
    ClientTeamIdRequired,
    /// 403: a client updating another member's team profile.
    #[error("Cannot update another user's profile")]
    ClientMayOnlyUpdateOwnTeamProfile,
    /// 400: listing invitations by both `team_id` and `user_id`.
    #[error("Cannot specify both team_id and user_id")]
    TeamIdAndUserId,
    /// 400: listing invitations by neither `team_id` nor `user_id`.
    #[error("Must specify either team_id or user_id")]
    NeitherTeamIdNorUserId,
    /// 400: deleting an invitation without a `team_id`.
    #[error("team_id is required for deleting a team invitation")]
    InvitationTeamIdRequired,
    /// 403: a client listing another user's permissions.
    #[error(
        "Client can only list permissions for their own user. user_id must be either \"me\" or the ID of the current user"
    )]
    ClientMayOnlyListOwnPermissions,

    // ----- API keys -----
    /// 400: user API keys are disabled in the project's config.
    #[error("User API keys are not enabled for this project.")]
    UserApiKeysDisabled,
    /// 400: team API keys are disabled in the project's config.
    #[error("Team API keys are not enabled for this project.")]
    TeamApiKeysDisabled,
    /// 403: a client managing another user's API keys.
    #[error("Client can only manage their own api keys")]
    ClientMayOnlyManageOwnApiKeys,
}

impl From<crate::config::ConfigValidationError> for Refusal {
    fn from(e: crate::config::ConfigValidationError) -> Self {
        match e {
            crate::config::ConfigValidationError::PermissionCycle { permission_id } => {
                Refusal::PermissionCycle { permission_id }
            }
            other => Refusal::InvalidConfig {
                reason: other.to_string(),
            },
        }
    }
}

impl Refusal {
    /// The HTTP status the refusal is sent with.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::TeamIdHeaderRequired { .. }
            | Refusal::ProjectAlreadyExists { .. }
            | Refusal::ProjectKeyAlreadyUsed
            | Refusal::InvalidEmailTheme
            | Refusal::InvalidConfigJson
            | Refusal::InvalidConfigOverrideKey { .. }
            | Refusal::DottedConfigOverrideKey { .. }
            | Refusal::InvalidConfig { .. }
            | Refusal::PermissionCycle { .. }
            | Refusal::InvalidProfileImageUrl
            | Refusal::ImageTooLarge
            | Refusal::OnlyAnonymousWithoutIncludeAnonymous
            | Refusal::PasswordAndPasswordHash
            | Refusal::UnsupportedPasswordHash
            | Refusal::PasswordAlreadySet
            | Refusal::OtpAuthNotEnabled
            | Refusal::CannotEnablePasskeyAuth
            | Refusal::PasswordAuthNotEnabled
            | Refusal::RestrictionReasonWithoutRestriction
            | Refusal::RestrictionDetailsWithoutRestriction
            | Refusal::PrimaryEmailAuthWithoutPrimaryEmail
            | Refusal::PrimaryEmailVerifiedWithoutPrimaryEmail
            | Refusal::ClientUserDeletionDisabled
            | Refusal::OauthProviderNotFound { .. }
            | Refusal::OauthLinkTokenRequired
            | Refusal::OauthInvalidState
            | Refusal::OauthCookieNotFound
            | Refusal::OauthInvalidGrant
            | Refusal::OauthInvalidClient
            | Refusal::OauthScopeNotAllowed { .. }
            | Refusal::OauthInvalidScope
            | Refusal::OauthRedirectUriMismatch
            | Refusal::GithubEmailsForbidden
            | Refusal::FacebookNoEmail
            | Refusal::HandoffRefreshTokenRequired
            | Refusal::CliAnonTokenInvalid
            | Refusal::CliAnonTokenExpired
            | Refusal::CliAnonUserNotFound
            | Refusal::CliAnonTokenNotAnonymous
            | Refusal::CliLoginCodeInvalid
            | Refusal::CliNoAnonSession
            | Refusal::CliAnonSessionInvalid
            | Refusal::CliRefreshTokenRequired
            | Refusal::CliRefreshTokenInvalid
            | Refusal::OauthProviderSignInExists
            | Refusal::OauthProviderAccountExists
            | Refusal::ContactChannelToModifyNotFound
            | Refusal::VerifiedContactChannelGone
            | Refusal::ConfirmedContactChannelGone
            | Refusal::ContactChannelAlreadyExists
            | Refusal::TooManyContactChannels { .. }
            | Refusal::ClientMayOnlyVerifyOwnContactChannels
            | Refusal::CreatorUserIdAndAddCurrentUser
            | Refusal::ClientTeamIdRequired
            | Refusal::TeamIdAndUserId
            | Refusal::NeitherTeamIdNorUserId
            | Refusal::InvitationTeamIdRequired
            | Refusal::UserApiKeysDisabled
            | Refusal::TeamApiKeysDisabled => StatusCode::BAD_REQUEST,
            Refusal::AdminAccessTokenUserGone
            | Refusal::AddCurrentUserWithoutUser
            | Refusal::HandoffRefreshTokenMismatch
            | Refusal::HandoffRefreshTokenInvalid
            | Refusal::HandoffSessionNotTheUsers
            | Refusal::WebhookPortalTokenInvalid => StatusCode::UNAUTHORIZED,
            Refusal::ServerMayOnlyOverrideBranchConfig
            | Refusal::ServerCannotOverrideAdminOnlyConfig { .. }
            | Refusal::OtpSignInNotEnabled
            | Refusal::OauthTokenWrongProject
            | Refusal::OauthTokenWrongBranch
            | Refusal::ClientMayOnlyListOwnConnectedAccounts
            | Refusal::ClientMayOnlyAccessOwnConnectedAccounts
            | Refusal::ClientMayOnlyReadOwnOauthProviders
            | Refusal::ClientMayOnlyListOwnOauthProviders
            | Refusal::ClientMayOnlyUpdateOwnOauthProviders
            | Refusal::ClientMayOnlyDeleteOwnOauthProviders
            | Refusal::ClientMayOnlyListOwnSessions
            | Refusal::ClientMayOnlyListOwnContactChannels
            | Refusal::ClientMayOnlyCreateOwnContactChannels
            | Refusal::ClientMayOnlyReadOwnContactChannels
            | Refusal::ClientMayOnlyUpdateOwnContactChannels
            | Refusal::ClientMayOnlyDeleteOwnContactChannels
            | Refusal::ClientMayOnlyManageOwnContactChannels
            | Refusal::ClientMayOnlyListOwnTeams
            | Refusal::ClientTeamCreationDisabled
            | Refusal::ClientMayOnlyCreateTeamsAsSelf
            | Refusal::ClientMayOnlyUpdateOwnTeamProfile
            | Refusal::ClientMayOnlyListOwnPermissions
            | Refusal::ClientMayOnlyManageOwnApiKeys => StatusCode::FORBIDDEN,
            Refusal::ProjectNotFound
            | Refusal::FileNotFound
            | Refusal::WebhookEndpointNotFound
            | Refusal::WebhookMessageNotFound
            | Refusal::SessionNotFound
            | Refusal::ContactChannelNotFound
            | Refusal::ContactChannelToVerifyNotFound
            | Refusal::OauthProviderNotConfigured { .. }
            | Refusal::OauthProviderAccountNotFound { .. } => StatusCode::NOT_FOUND,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Internal(e.to_string())
    }
}

/// Maps a [`StoreError::Conflict`] to a known error; anything else stays internal.
pub(crate) trait OnConflict<T> {
    /// Replaces a conflict with `f()`.
    fn on_conflict(self, f: impl FnOnce() -> Error) -> Result<T>;
}

impl<T> OnConflict<T> for std::result::Result<T, StoreError> {
    fn on_conflict(self, f: impl FnOnce() -> Error) -> Result<T> {
        match self {
            Ok(v) => Ok(v),
            Err(StoreError::Conflict(_)) => Err(f()),
            Err(e) => Err(e.into()),
        }
    }
}

fn format_failures(failures: &[String]) -> String {
    failures
        .iter()
        .map(|f| format!("  - {f}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn quote_join(allowed: &[AccessType]) -> String {
    allowed
        .iter()
        .map(|a| format!("'{}'", a.as_str()))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn json_quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn step_up_message(methods: &[&str]) -> String {
    if methods.is_empty() {
        "This change needs a fresh proof of identity, and this account has no factor to give one with (no password, no TOTP, no verified address): a server must make it.".into()
    } else {
        format!(
            "This change needs a fresh proof of identity. Get a step-up token from POST /auth/step-up (with one of: {}) and send it in the x-postern-step-up-token header.",
            methods.join(", ")
        )
    }
}

fn password_requirement_message(r: &PasswordRequirement) -> String {
    match r {
        PasswordRequirement::TooShort { min_length } => {
            format!("Password too short. Minimum length is {min_length}.")
        }
        PasswordRequirement::TooLong { max_length } => {
            format!("Password too long. Maximum length is {max_length}.")
        }
    }
}

fn email_exists_message(email: &str, would_work: bool) -> String {
    if would_work {
        format!(
            "A user with email {} already exists but the email is not verified. Please login to your existing account with the method you used to sign up, and then verify your email to sign in with this login method.",
            json_quote(email)
        )
    } else {
        format!("A user with email {} already exists.", json_quote(email))
    }
}

fn access_token_expired_message(
    expired_at: Option<i64>,
    project: Option<&str>,
    user: Option<Uuid>,
    session: Option<Uuid>,
) -> String {
    let mut m = String::from("Access token has expired. Please refresh it and try again.");
    if let Some(at) = expired_at {
        m.push_str(&format!(
            " (The access token expired at {}.)",
            crate::clock::iso8601(at)
        ));
    }
    if let Some(p) = project {
        m.push_str(&format!(" Project ID: {p}."));
    }
    if let Some(u) = user {
        m.push_str(&format!(" User ID: {u}."));
    }
    if let Some(s) = session {
        m.push_str(&format!(" Refresh token ID: {s}."));
    }
    m.push_str("\n\nDebug info: Most likely, you fetched the access token before it expired (for example, in a server component, pre-rendered page, or on page load), but then didn't refresh it before it expired. If this is the case, and you're using the SDK, make sure you call getAccessToken() every time you need to use the access token. If you're not using the SDK, make sure you refresh the access token with the refresh endpoint.");
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Error> {
        let u = Uuid::nil();
        vec![
            Error::BodyParsing("Invalid JSON in request body".into()),
            Error::Schema(vec!["body.email must be defined".into()]),
            Error::ProjectKeyWithoutAccessType,
            Error::InvalidAccessType("x".into()),
            Error::AccessTypeWithoutProjectId(AccessType::Client),
            Error::AccessTypeRequired,
            Error::InsufficientAccessType {
                actual: AccessType::Client,
                allowed: vec![AccessType::Server, AccessType::Admin],
            },
            Error::CurrentProjectNotFound("p".into()),
            Error::BranchDoesNotExist("b".into()),
            Error::PublishableClientKeyRequiredForProject(None),
            Error::InvalidPublishableClientKey("p".into()),
            Error::ServerAuthenticationRequired,
            Error::InvalidSecretServerKey("p".into()),
            Error::AdminAuthenticationRequired,
            Error::InvalidSuperSecretAdminKey("p".into()),
            Error::UnparsableAccessToken,
            Error::AccessTokenExpired {
                expired_at_millis: Some(0),
                project_id: None,
                user_id: None,
                refresh_token_id: None,
            },
            Error::InvalidProjectForAccessToken {
                expected: "a".into(),
                actual: "b".into(),
            },
            Error::AnonymousAuthenticationNotAllowed,
            Error::RestrictedUserNotAllowed(RestrictedReason::EmailNotVerified),
            Error::CannotGetOwnUserWithoutUser,
            Error::UserAuthenticationRequired,
            Error::RefreshTokenNotFoundOrExpired,
            Error::CannotDeleteCurrentSession,
            Error::PasswordAuthenticationNotEnabled,
            Error::SignUpNotEnabled,
            Error::SignUpRejected,
            Error::RedirectUrlNotWhitelisted,
            Error::OauthProviderNotFoundOrNotEnabled,
            Error::OauthExtraScopeNotAvailableWithSharedOauthKeys,
            Error::OuterOauthTimeout,
            Error::OauthProviderAccessDenied,
            Error::OauthProviderTemporarilyUnavailable,
            Error::OauthConnectionAlreadyConnectedToAnotherUser,
            Error::InvalidAuthorizationCode,
            Error::OauthAccessTokenNotAvailableWithSharedOauthKeys,
            Error::OauthConnectionNotConnectedToUser,
            Error::OauthConnectionDoesNotHaveRequiredScope,
            Error::OauthProviderAccountIdAlreadyUsedForSignIn,
            Error::AppleBundleIdNotConfigured,
            Error::InvalidAppleCredentials,
            Error::InvalidPollingCode,
            Error::PasswordRequirementsNotMet(PasswordRequirement::TooShort { min_length: 8 }),
            Error::PasswordRequirementsNotMet(PasswordRequirement::TooLong { max_length: 70 }),
            Error::UserEmailAlreadyExists {
                email: "a@b.c".into(),
                would_work_if_email_was_verified: false,
            },
            Error::EmailPasswordMismatch,
            Error::UserDoesNotHavePassword,
            Error::PasswordConfirmationMismatch,
            Error::InvalidOauthClientIdOrSecret(None),
            Error::PasskeyAuthenticationNotEnabled,
            Error::PasskeyRegistrationFailed(PasskeyRegistrationFailure::OriginNotAllowed),
            Error::PasskeyAuthenticationFailed(PasskeyAuthenticationFailure::NotFound),
            Error::UserNotFound,
            Error::UserIdDoesNotExist(u),
            Error::TeamMembershipNotFound {
                team_id: u,
                user_id: u,
            },
            Error::EmailAlreadyVerified,
            Error::EmailIsNotPrimaryEmail {
                email: "a@b.c".into(),
                primary_email: None,
            },
            Error::ContactChannelAlreadyUsedForAuthBySomeoneElse {
                value: None,
                would_work_if_email_was_verified: false,
            },
            Error::VerificationCodeNotFound,
            Error::VerificationCodeExpired,
            Error::VerificationCodeAlreadyUsed,
            Error::VerificationCodeMaxAttemptsReached,
            Error::UnparsableAdminAccessToken,
            Error::AdminAccessTokenExpired(Some(0)),
            Error::AdminAccessTokenIsNotAdmin,
            Error::ExpectedInternalProject,
            Error::MultiFactorAuthenticationRequired("c".into()),
            Error::InvalidTotpCode,
            Error::TeamNotFound(u),
            Error::DataVaultStoreDoesNotExist("s".into()),
            Error::DataVaultStoreHashedKeyDoesNotExist {
                store_id: "s".into(),
                hashed_key: "h".into(),
            },
            Error::TeamInvitationRestrictedUserNotAllowed(RestrictedReason::Anonymous),
            Error::TeamMembershipAlreadyExists,
            Error::TeamPermissionRequired {
                team_id: u,
                user_id: u,
                permission_id: "p".into(),
            },
            Error::TeamPermissionNotFound {
                team_id: u,
                user_id: u,
                permission_id: "p".into(),
            },
            Error::PermissionNotFound("p".into()),
            Error::ProjectPermissionRequired {
                user_id: u,
                permission_id: "p".into(),
            },
            Error::WrongPermissionScope {
                permission_id: "p".into(),
                expected_scope: "team",
                actual_scope: "project",
            },
            Error::PermissionIdAlreadyExists("p".into()),
            Error::ContainedPermissionNotFound("p".into()),
            Error::StepUpRequired {
                methods: vec!["totp"],
            },
            Error::NoProvenEmail,
            Error::MfaNotEnabled,
            Error::PasskeyNotFound(u),
        ]
    }

    /// The codes Stack's known-errors catalogue (spec rest-auth.md §11) defines.
    const SPEC_CODES: &str = include_str!("../tests/known_error_codes.txt");
    /// Postern's own codes (extensions, documented in docs/security.md).
    const EXTENSION_CODES: &str = include_str!("../tests/postern_error_codes.txt");

    #[test]
    fn codes_are_unique_and_in_the_spec() {
        let mut seen = std::collections::HashSet::new();
        for e in samples() {
            let code = e.code().expect("known errors have a code");
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(
                SPEC_CODES
                    .lines()
                    .chain(EXTENSION_CODES.lines())
                    .any(|l| l.trim() == code),
                "{code} is neither in the spec list nor a documented extension"
            );
            assert!(
                e.http_status().is_client_error()
                    || matches!(e, Error::OauthProviderTemporarilyUnavailable),
                "{code} must be a 4xx"
            );
        }
    }

    #[test]
    fn details_keys_match_stack() {
        let e = Error::PasswordRequirementsNotMet(PasswordRequirement::TooShort { min_length: 8 });
        assert_eq!(e.details(), Some(json!({"min_length": 8})));
        let e = Error::PasswordRequirementsNotMet(PasswordRequirement::TooLong { max_length: 70 });
        assert_eq!(e.details(), Some(json!({"maxLength": 70})));
        let e = Error::InsufficientAccessType {
            actual: AccessType::Client,
            allowed: vec![AccessType::Server, AccessType::Admin],
        };
        assert_eq!(
            e.to_string(),
            "The x-stack-access-type header must be 'server' or 'admin', but was 'client'."
        );
        assert_eq!(
            e.details().unwrap()["allowed_access_types"],
            json!(["server", "admin"])
        );
        let e = Error::InvalidSecretServerKey("abc".into());
        assert_eq!(
            e.to_string(),
            "The secret server key is not valid for the project \"abc\". Does the project and/or the key exist?"
        );
        assert_eq!(Error::EmailPasswordMismatch.details(), None);
    }

    #[test]
    fn extension_codes_are_not_stacks() {
        for code in EXTENSION_CODES
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            assert!(
                !SPEC_CODES.lines().any(|l| l.trim() == code),
                "{code} is Stack's, not an extension"
            );
        }
    }

    #[test]
    fn too_many_requests_is_not_a_known_error() {
        let e = Error::TooManyRequests {
            retry_after_secs: 3,
        };
        assert_eq!(e.code(), None);
        assert_eq!(e.http_status(), StatusCode::TOO_MANY_REQUESTS);
    }

    /// Every refusal, once each (keep in step with [`Refusal`]: the match in
    /// `refusals_cover_every_variant` does not compile when one is missing).
    fn refusals() -> Vec<Refusal> {
        vec![
            Refusal::AdminAccessTokenUserGone,
            Refusal::TeamIdHeaderRequired {
                header: "x-team-id".into(),
            },
            Refusal::ProjectNotFound,
            Refusal::ProjectAlreadyExists {
                project_id: "p".into(),
            },
            Refusal::ProjectKeyAlreadyUsed,
            Refusal::InvalidEmailTheme,
            Refusal::InvalidConfigJson,
            Refusal::InvalidConfigOverrideKey { key: "a..b".into() },
            Refusal::DottedConfigOverrideKey { key: "a.b".into() },
            Refusal::InvalidConfig {
                reason: "invalid type".into(),
            },
            Refusal::PermissionCycle {
                permission_id: "a".into(),
            },
            Refusal::ServerMayOnlyOverrideBranchConfig,
            Refusal::ServerCannotOverrideAdminOnlyConfig {
                key: "domains".into(),
            },
            Refusal::FileNotFound,
            Refusal::WebhookEndpointNotFound,
            Refusal::WebhookMessageNotFound,
            Refusal::WebhookPortalTokenInvalid,
            Refusal::InvalidProfileImageUrl,
            Refusal::ImageTooLarge,
            Refusal::OnlyAnonymousWithoutIncludeAnonymous,
            Refusal::PasswordAndPasswordHash,
            Refusal::UnsupportedPasswordHash,
            Refusal::PasswordAlreadySet,
            Refusal::OtpAuthNotEnabled,
            Refusal::OtpSignInNotEnabled,
            Refusal::OauthLinkTokenRequired,
            Refusal::OauthTokenWrongProject,
            Refusal::OauthTokenWrongBranch,
            Refusal::OauthInvalidState,
            Refusal::OauthCookieNotFound,
            Refusal::OauthInvalidGrant,
            Refusal::OauthInvalidClient,
            Refusal::OauthScopeNotAllowed {
                scope: Some("repo".into()),
            },
            Refusal::OauthInvalidScope,
            Refusal::OauthRedirectUriMismatch,
            Refusal::GithubEmailsForbidden,
            Refusal::FacebookNoEmail,
            Refusal::HandoffRefreshTokenRequired,
            Refusal::HandoffRefreshTokenMismatch,
            Refusal::HandoffRefreshTokenInvalid,
            Refusal::HandoffSessionNotTheUsers,
            Refusal::CliAnonTokenInvalid,
            Refusal::CliAnonTokenExpired,
            Refusal::CliAnonUserNotFound,
            Refusal::CliAnonTokenNotAnonymous,
            Refusal::CliLoginCodeInvalid,
            Refusal::CliNoAnonSession,
            Refusal::CliAnonSessionInvalid,
            Refusal::CliRefreshTokenRequired,
            Refusal::CliRefreshTokenInvalid,
            Refusal::ClientMayOnlyListOwnConnectedAccounts,
            Refusal::ClientMayOnlyAccessOwnConnectedAccounts,
            Refusal::ClientMayOnlyReadOwnOauthProviders,
            Refusal::ClientMayOnlyListOwnOauthProviders,
            Refusal::ClientMayOnlyUpdateOwnOauthProviders,
            Refusal::ClientMayOnlyDeleteOwnOauthProviders,
            Refusal::OauthProviderNotConfigured {
                provider_id: "spotify".into(),
            },
            Refusal::OauthProviderAccountNotFound {
                id: "i".into(),
                user_id: "u".into(),
            },
            Refusal::OauthProviderSignInExists,
            Refusal::OauthProviderAccountExists,
            Refusal::CannotEnablePasskeyAuth,
            Refusal::PasswordAuthNotEnabled,
            Refusal::RestrictionReasonWithoutRestriction,
            Refusal::RestrictionDetailsWithoutRestriction,
            Refusal::PrimaryEmailAuthWithoutPrimaryEmail,
            Refusal::PrimaryEmailVerifiedWithoutPrimaryEmail,
            Refusal::ClientUserDeletionDisabled,
            Refusal::OauthProviderNotFound {
                provider_id: "github".into(),
            },
            Refusal::ClientMayOnlyListOwnSessions,
            Refusal::SessionNotFound,
            Refusal::ContactChannelNotFound,
            Refusal::ContactChannelToVerifyNotFound,
            Refusal::ContactChannelToModifyNotFound,
            Refusal::VerifiedContactChannelGone,
            Refusal::ConfirmedContactChannelGone,
            Refusal::ContactChannelAlreadyExists,
            Refusal::TooManyContactChannels { max: 20 },
            Refusal::ClientMayOnlyListOwnContactChannels,
            Refusal::ClientMayOnlyCreateOwnContactChannels,
            Refusal::ClientMayOnlyReadOwnContactChannels,
            Refusal::ClientMayOnlyUpdateOwnContactChannels,
            Refusal::ClientMayOnlyDeleteOwnContactChannels,
            Refusal::ClientMayOnlyManageOwnContactChannels,
            Refusal::ClientMayOnlyVerifyOwnContactChannels,
            Refusal::ClientMayOnlyListOwnTeams,
            Refusal::CreatorUserIdAndAddCurrentUser,
            Refusal::ClientTeamCreationDisabled,
            Refusal::ClientMayOnlyCreateTeamsAsSelf,
            Refusal::AddCurrentUserWithoutUser,
            Refusal::ClientTeamIdRequired,
            Refusal::ClientMayOnlyUpdateOwnTeamProfile,
            Refusal::TeamIdAndUserId,
            Refusal::NeitherTeamIdNorUserId,
            Refusal::InvitationTeamIdRequired,
            Refusal::ClientMayOnlyListOwnPermissions,
            Refusal::UserApiKeysDisabled,
            Refusal::TeamApiKeysDisabled,
            Refusal::ClientMayOnlyManageOwnApiKeys,
        ]
    }

    #[test]
    fn refusals_cover_every_variant() {
        // Adding a variant breaks this match until it is listed in `refusals()` too.
        let listed = |r: &Refusal| match r {
            Refusal::AdminAccessTokenUserGone
            | Refusal::TeamIdHeaderRequired { .. }
            | Refusal::ProjectNotFound
            | Refusal::ProjectAlreadyExists { .. }
            | Refusal::ProjectKeyAlreadyUsed
            | Refusal::InvalidEmailTheme
            | Refusal::InvalidConfigJson
            | Refusal::InvalidConfigOverrideKey { .. }
            | Refusal::DottedConfigOverrideKey { .. }
            | Refusal::InvalidConfig { .. }
            | Refusal::PermissionCycle { .. }
            | Refusal::ServerMayOnlyOverrideBranchConfig
            | Refusal::ServerCannotOverrideAdminOnlyConfig { .. }
            | Refusal::FileNotFound
            | Refusal::WebhookEndpointNotFound
            | Refusal::WebhookMessageNotFound
            | Refusal::WebhookPortalTokenInvalid
            | Refusal::InvalidProfileImageUrl
            | Refusal::ImageTooLarge
            | Refusal::OnlyAnonymousWithoutIncludeAnonymous
            | Refusal::PasswordAndPasswordHash
            | Refusal::UnsupportedPasswordHash
            | Refusal::PasswordAlreadySet
            | Refusal::OtpAuthNotEnabled
            | Refusal::OtpSignInNotEnabled
            | Refusal::OauthLinkTokenRequired
            | Refusal::OauthTokenWrongProject
            | Refusal::OauthTokenWrongBranch
            | Refusal::OauthInvalidState
            | Refusal::OauthCookieNotFound
            | Refusal::OauthInvalidGrant
            | Refusal::OauthInvalidClient
            | Refusal::OauthScopeNotAllowed { .. }
            | Refusal::OauthInvalidScope
            | Refusal::OauthRedirectUriMismatch
            | Refusal::GithubEmailsForbidden
            | Refusal::FacebookNoEmail
            | Refusal::HandoffRefreshTokenRequired
            | Refusal::HandoffRefreshTokenMismatch
            | Refusal::HandoffRefreshTokenInvalid
            | Refusal::HandoffSessionNotTheUsers
            | Refusal::CliAnonTokenInvalid
            | Refusal::CliAnonTokenExpired
            | Refusal::CliAnonUserNotFound
            | Refusal::CliAnonTokenNotAnonymous
            | Refusal::CliLoginCodeInvalid
            | Refusal::CliNoAnonSession
            | Refusal::CliAnonSessionInvalid
            | Refusal::CliRefreshTokenRequired
            | Refusal::CliRefreshTokenInvalid
            | Refusal::ClientMayOnlyListOwnConnectedAccounts
            | Refusal::ClientMayOnlyAccessOwnConnectedAccounts
            | Refusal::ClientMayOnlyReadOwnOauthProviders
            | Refusal::ClientMayOnlyListOwnOauthProviders
            | Refusal::ClientMayOnlyUpdateOwnOauthProviders
            | Refusal::ClientMayOnlyDeleteOwnOauthProviders
            | Refusal::OauthProviderNotConfigured { .. }
            | Refusal::OauthProviderAccountNotFound { .. }
            | Refusal::OauthProviderSignInExists
            | Refusal::OauthProviderAccountExists
            | Refusal::CannotEnablePasskeyAuth
            | Refusal::PasswordAuthNotEnabled
            | Refusal::RestrictionReasonWithoutRestriction
            | Refusal::RestrictionDetailsWithoutRestriction
            | Refusal::PrimaryEmailAuthWithoutPrimaryEmail
            | Refusal::PrimaryEmailVerifiedWithoutPrimaryEmail
            | Refusal::ClientUserDeletionDisabled
            | Refusal::OauthProviderNotFound { .. }
            | Refusal::ClientMayOnlyListOwnSessions
            | Refusal::SessionNotFound
            | Refusal::ContactChannelNotFound
            | Refusal::ContactChannelToVerifyNotFound
            | Refusal::ContactChannelToModifyNotFound
            | Refusal::VerifiedContactChannelGone
            | Refusal::ConfirmedContactChannelGone
            | Refusal::ContactChannelAlreadyExists
            | Refusal::TooManyContactChannels { .. }
            | Refusal::ClientMayOnlyListOwnContactChannels
            | Refusal::ClientMayOnlyCreateOwnContactChannels
            | Refusal::ClientMayOnlyReadOwnContactChannels
            | Refusal::ClientMayOnlyUpdateOwnContactChannels
            | Refusal::ClientMayOnlyDeleteOwnContactChannels
            | Refusal::ClientMayOnlyManageOwnContactChannels
            | Refusal::ClientMayOnlyVerifyOwnContactChannels
            | Refusal::ClientMayOnlyListOwnTeams
            | Refusal::CreatorUserIdAndAddCurrentUser
            | Refusal::ClientTeamCreationDisabled
            | Refusal::ClientMayOnlyCreateTeamsAsSelf
            | Refusal::AddCurrentUserWithoutUser
            | Refusal::ClientTeamIdRequired
            | Refusal::ClientMayOnlyUpdateOwnTeamProfile
            | Refusal::TeamIdAndUserId
            | Refusal::NeitherTeamIdNorUserId
            | Refusal::InvitationTeamIdRequired
            | Refusal::ClientMayOnlyListOwnPermissions
            | Refusal::UserApiKeysDisabled
            | Refusal::TeamApiKeysDisabled
            | Refusal::ClientMayOnlyManageOwnApiKeys => (),
        };
        let all = refusals();
        all.iter().for_each(listed);
        let distinct: std::collections::HashSet<_> =
            all.iter().map(std::mem::discriminant).collect();
        assert_eq!(distinct.len(), all.len(), "a variant is listed twice");
        assert_eq!(
            all.len(),
            98,
            "as many entries in `refusals()` as arms above"
        );
    }

    #[test]
    fn refusals_are_client_errors_without_code() {
        for r in refusals() {
            let status = r.status();
            assert!(status.is_client_error(), "{r:?} is {status}, not a 4xx");
            let e = Error::from(r.clone());
            assert_eq!(e.http_status(), status, "{r:?}");
            assert_eq!(e.code(), None, "{r:?}");
            assert_eq!(e.details(), None, "{r:?}");
            assert_eq!(e.to_string(), r.to_string(), "{r:?}");
            assert!(!r.to_string().is_empty(), "{r:?}");
        }
    }

    #[test]
    fn refusal_messages_are_stacks() {
        let cases = [
            (
                Refusal::ContactChannelNotFound,
                StatusCode::NOT_FOUND,
                "Contact channel not found.",
            ),
            (
                Refusal::ContactChannelToVerifyNotFound,
                StatusCode::NOT_FOUND,
                "Contact channel not found",
            ),
            (
                Refusal::ContactChannelToModifyNotFound,
                StatusCode::BAD_REQUEST,
                "Contact channel not found",
            ),
            (
                Refusal::TooManyContactChannels { max: 20 },
                StatusCode::BAD_REQUEST,
                "A user can have at most 20 contact channels.",
            ),
            (
                Refusal::ProjectAlreadyExists {
                    project_id: "internal".into(),
                },
                StatusCode::BAD_REQUEST,
                "Project internal already exists",
            ),
            (
                Refusal::InvalidConfigOverrideKey { key: "a..b".into() },
                StatusCode::BAD_REQUEST,
                "The key \"a..b\" is not valid.",
            ),
            (
                Refusal::ClientMayOnlyListOwnTeams,
                StatusCode::FORBIDDEN,
                "Client can only list teams for their own user. user_id must be either \"me\" or the ID of the current user",
            ),
        ];
        for (r, status, message) in cases {
            assert_eq!((r.status(), r.to_string().as_str()), (status, message));
        }
    }

    #[test]
    fn plain_errors_have_no_code() {
        assert_eq!(Error::Refused(Refusal::FileNotFound).code(), None);
        assert_eq!(Error::Refused(Refusal::FileNotFound).details(), None);
        assert_eq!(
            Error::Internal("x".into()).http_status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
