//! The route registry: every endpoint of the API in one table. Each row states the method,
//! the path, who may call it, the per-IP bucket it draws from, its handler and a summary.
//! Routing, `405`s, the access check, rate limiting and the OpenAPI document all read this
//! table; nothing else lists routes.
//!
//! Adding a route is one row here and one handler function.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{Method, Response};

use serde_json::Value;

use super::Rq;
use super::handlers::{CodeBody, EmptyBody, NoQuery};
use super::input::{Input, Source};
use super::permissions;
use super::response::Json;
use super::{api_keys, auth, cli, contact_channels, internal, invitations, oauth, passkeys};
use super::{projects, sessions, step_up, teams, users, vault, webhooks};
use crate::api_keys::KeyType;
use crate::error::{AccessType, Error, Result};
use crate::permissions::Scope;
use crate::throttle::RouteClass::{self, *};
use crate::views::*;
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, schema::Schema};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone, with or without project headers (the handler decides what it needs).
    Public,
    /// Any authenticated request: client, server or admin.
    Any,
    /// Server or admin.
    Server,
    /// Admin only.
    Admin,
}

impl Access {
    /// The access types this rule admits (empty for [`Access::Public`]).
    pub(crate) fn allowed(self) -> &'static [AccessType] {
        match self {
            Access::Public => &[],
            Access::Any => &[AccessType::Client, AccessType::Server, AccessType::Admin],
            Access::Server => &[AccessType::Server, AccessType::Admin],
            Access::Admin => &[AccessType::Admin],
        }
    }

    /// No project headers → `ACCESS_TYPE_REQUIRED`; a type the rule does not admit →
    /// `INSUFFICIENT_ACCESS_TYPE`.
    pub(crate) fn check(self, rq: &Rq<'_>) -> Result<()> {
        if self == Access::Public {
            return Ok(());
        }
        let auth = rq.auth.as_ref().ok_or(Error::AccessTypeRequired)?;
        let allowed = self.allowed();
        if !allowed.contains(&auth.access_type) {
            return Err(Error::InsufficientAccessType {
                actual: auth.access_type,
                allowed: allowed.to_vec(),
            });
        }
        Ok(())
    }
}

/// An HTTP method of the table (a `Copy` stand-in for [`http::Method`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    /// Whether `m` is this verb.
    pub(crate) fn is(self, m: &Method) -> bool {
        *m == self.method()
    }

    /// The `http` method.
    pub(crate) fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Patch => Method::PATCH,
            Verb::Delete => Method::DELETE,
        }
    }

    /// Whether requests of this verb carry a body.
    pub(crate) fn has_body(self) -> bool {
        matches!(self, Verb::Post | Verb::Put | Verb::Patch)
    }

    /// The lower-case name OpenAPI uses.
    pub(crate) fn lower(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

/// A handler's future.
pub(crate) type Reply<'a> = Pin<Box<dyn Future<Output = Result<Response<Bytes>>> + Send + 'a>>;

/// A handler: one request in, one response (or error) out.
pub(crate) type Handler = for<'a> fn(Rq<'a>) -> Reply<'a>;

/// One row of the table.
pub(crate) struct RouteDef {
    /// The method.
    pub(crate) verb: Verb,
    /// The path under the API prefix, in `matchit` syntax (`{param}`, `{*rest}`).
    pub(crate) path: &'static str,
    /// Who may call it, checked before the handler runs.
    pub(crate) access: Access,
    /// The per-IP bucket a client draws from, if any.
    pub(crate) limit: Option<RouteClass>,
    /// The OpenAPI tag (the aggregate).
    pub(crate) tag: &'static str,
    /// A one-line summary.
    pub(crate) summary: &'static str,
    /// The declared request: where it is read from, its schema, and the schema of a query
    /// read with a body.
    pub(crate) input: Option<InputDoc>,
    /// The documented success: status and the reply type's schema.
    pub(crate) reply: Option<ReplyDoc>,
    /// The handler.
    pub(crate) handler: Handler,
}

/// A route's declared request, for the OpenAPI document.
pub(crate) struct InputDoc {
    /// Body or query.
    pub(crate) source: Source,
    /// Its schema.
    pub(crate) schema: fn() -> Value,
    /// The schema of a query read along with a body.
    pub(crate) query: fn() -> Option<Value>,
}

/// The schemas of the OpenAPI document's components, by name.
pub(crate) type Components = Vec<(String, RefOr<Schema>)>;

/// A route's documented success.
pub(crate) struct ReplyDoc {
    /// `200` or `201`.
    pub(crate) status: u16,
    /// Adds the reply type's schema (and those it refers to) to the components; returns
    /// its name.
    pub(crate) describe: fn(&mut Components) -> String,
}

/// [`ReplyDoc::describe`] of `T`.
pub(crate) fn describe<T: ToSchema>(c: &mut Components) -> String {
    let name = T::name().into_owned();
    c.push((name.clone(), T::schema()));
    T::schemas(c);
    name
}

/// The `input` of a row: `None`, or the declared type's source and schema.
macro_rules! declared {
    () => {
        None
    };
    ($input:ty) => {
        Some(InputDoc {
            source: <$input as Input>::SOURCE,
            schema: <$input as Input>::schema,
            query: <$input as Input>::query_schema,
        })
    };
}

/// The `reply` of a row.
macro_rules! reply {
    () => {
        None
    };
    (reply $reply:ty) => {
        Some(ReplyDoc {
            status: 200,
            describe: describe::<$reply>,
        })
    };
    (created $reply:ty) => {
        Some(ReplyDoc {
            status: 201,
            describe: describe::<$reply>,
        })
    };
}

macro_rules! routes {
    ($( $tag:literal {
        $( $verb:ident $path:literal, $access:ident, $limit:expr
            => $handler:path $([ $($arg:expr),* ])? $(, input: $input:ty)?
            $(, reply: $reply:ty)? $(, created: $created:ty)?, $summary:literal; )*
    } )*) => {
        /// Every route of the API.
        pub(crate) static ROUTES: &[RouteDef] = &[ $( $( RouteDef {
            verb: Verb::$verb,
            path: $path,
            access: Access::$access,
            limit: $limit,
            tag: $tag,
            summary: $summary,
            input: declared!($($input)?),
            reply: reply!($(reply $reply)? $(created $created)?),
            handler: {
                fn handler(rq: Rq<'_>) -> Reply<'_> {
                    Box::pin(async move {
                        $( let input = <$input as Input>::parse(&rq)?; )?
                        $handler(rq $(, { let v: $input = input; v })? $($(, $arg)*)?)
                            .await
                            $(.map(|r: Json<$reply>| r.into_response()))?
                            $(.map(|r: Json<$created>| r.into_response()))?
                    })
                }
                handler
            },
        }, )* )* ];
    };
}

routes! {
    "meta" {
        Get "/", Public, None => projects::root, input: NoQuery, "Welcome text naming the caller";
        Get "/openapi.json", Public, None => projects::openapi, input: NoQuery, "This OpenAPI document";
    }
    "projects" {
        Get "/projects/current", Any, None => projects::current, input: NoQuery, reply: ClientProjectView, "The current project's client view";
        Get "/projects/{project_id}/.well-known/jwks.json", Public, None
            => projects::jwks, input: projects::JwksQuery, "Public keys that verify the project's access tokens";
        Get "/projects-anonymous-users/{project_id}/.well-known/{*rest}", Public, None
            => projects::anonymous_alias, "Redirect from the anonymous-user issuer";
        Post "/projects-anonymous-users/{project_id}/.well-known/{*rest}", Public, None
            => projects::anonymous_alias, "Redirect from the anonymous-user issuer";
        Put "/projects-anonymous-users/{project_id}/.well-known/{*rest}", Public, None
            => projects::anonymous_alias, "Redirect from the anonymous-user issuer";
        Patch "/projects-anonymous-users/{project_id}/.well-known/{*rest}", Public, None
            => projects::anonymous_alias, "Redirect from the anonymous-user issuer";
        Delete "/projects-anonymous-users/{project_id}/.well-known/{*rest}", Public, None
            => projects::anonymous_alias, "Redirect from the anonymous-user issuer";
        Get "/storage/{bucket}/{file}", Public, None => projects::storage_file, "A stored image";
    }
    "auth" {
        Post "/auth/password/sign-up", Any, Some(SignUp) => auth::sign_up, input: auth::SignUp, reply: SessionTokensView, "Sign up with email and password";
        Post "/auth/password/sign-in", Any, Some(SignIn) => auth::sign_in, input: auth::SignIn, reply: SessionTokensView, "Sign in with email and password";
        Post "/auth/password/update", Any, Some(SignIn) => auth::password_update, input: auth::PasswordUpdate, reply: SuccessView, "Change the password (old password required)";
        Post "/auth/password/set", Any, None => auth::password_set, input: auth::PasswordSet, reply: SuccessView, "Set a password on an account without one";
        Post "/auth/password/send-reset-code", Any, Some(SendCode) => auth::send_reset_code, input: auth::SendResetCode, reply: MaybeSentView, "Mail a password-reset link";
        Post "/auth/password/reset", Any, Some(SignIn) => auth::reset, input: auth::PasswordReset, reply: SuccessView, "Reset the password with a code";
        Post "/auth/password/reset/check-code", Any, Some(SignIn) => auth::reset_check, input: CodeBody, reply: CodeValidView, "Check a password-reset code";
        Post "/auth/otp/send-sign-in-code", Any, Some(SendCode) => auth::otp_send, input: auth::OtpSend, reply: NonceView, "Mail a one-time sign-in code and link";
        Post "/auth/otp/sign-in", Any, Some(SignIn) => auth::otp_sign_in, input: CodeBody, reply: SignedInView, "Sign in with a one-time code";
        Post "/auth/otp/sign-in/check-code", Any, Some(SignIn) => auth::otp_check, input: CodeBody, reply: CodeValidView, "Check a one-time sign-in code";
        Post "/auth/mfa/sign-in", Any, Some(SignIn) => auth::mfa_sign_in, input: auth::MfaSignIn, reply: SignedInView, "Finish a sign-in with a TOTP or recovery code";
        Post "/auth/anonymous/sign-up", Any, Some(SignUp) => auth::anonymous_sign_up, reply: SessionTokensView, "Create an anonymous user";
        Post "/auth/oauth/token", Public, None => auth::oauth_token, "OAuth 2 token endpoint (authorization-code and refresh grants)";
        Get "/auth/oauth/authorize/{provider_id}", Public, Some(SignIn) => oauth::authorize, "Start an OAuth sign-in: redirect to the provider";
        Get "/auth/oauth/callback/{provider_id}", Public, Some(SignIn) => oauth::callback, "The provider's redirect back (not called by apps)";
        Post "/auth/oauth/callback/{provider_id}", Public, Some(SignIn) => oauth::callback, "The provider's form post back (Apple; not called by apps)";
        Post "/auth/oauth/callback/apple/native", Any, Some(SignIn) => oauth::apple_native, input: oauth::AppleNative, reply: oauth::NativeSignInView, "Sign in with an ID token Apple gave a native app";
        Post "/auth/oauth/cross-domain/authorize", Any, Some(SignIn) => oauth::cross_domain_authorize, input: oauth::HandoffBody, reply: oauth::HandoffView, "A code handing the caller's session to another of the app's domains";
        Post "/auth/oauth/connected-accounts/{provider_id}/access-token", Any, None => oauth::legacy_access_token, input: oauth::AccessTokenRequest, reply: oauth::ProviderAccessTokenView, "The signed-in user's provider access token (deprecated)";
    }
    "cli" {
        Post "/auth/cli", Any, Some(SignIn) => cli::start, reply: cli::CliAttemptView, "Start a CLI login (the body may be omitted)";
        Post "/auth/cli/poll", Any, None => cli::poll, input: cli::CliPoll, "Poll a CLI login: waiting, expired, used, or (201) the refresh token";
        Post "/auth/cli/complete", Any, Some(SignIn) => cli::complete, input: cli::CliComplete, "Complete a CLI login from a signed-in browser (or check / claim its anonymous session)";
    }
    "oauth-providers" {
        Get "/oauth-providers", Any, None => oauth::list_providers, input: oauth::OAuthProviderList, reply: ListView<oauth::OAuthProviderView>, "List provider accounts";
        Post "/oauth-providers", Server, None => oauth::create_provider, input: oauth::NewOAuthProvider, reply: oauth::OAuthProviderView, "Add a provider account to a user";
        Get "/oauth-providers/{user_id}/{provider_id}", Any, None => oauth::get_provider, input: NoQuery, reply: oauth::OAuthProviderView, "A provider account";
        Patch "/oauth-providers/{user_id}/{provider_id}", Any, Some(AccountChange) => oauth::patch_provider, "Change a provider account";
        Delete "/oauth-providers/{user_id}/{provider_id}", Any, Some(AccountChange) => oauth::delete_provider, reply: SuccessView, "Remove a provider account";
        Get "/connected-accounts/{user_id}", Any, None => oauth::list_connected, input: NoQuery, reply: ListView<oauth::ConnectedAccountView>, "A user's connected accounts";
        Post "/connected-accounts/{user_id}/{provider_id}/access-token", Any, None => oauth::provider_access_token, input: oauth::AccessTokenRequest, reply: oauth::ProviderAccessTokenView, "A provider access token for the user";
        Post "/connected-accounts/{user_id}/{provider_id}/{provider_account_id}/access-token", Any, None => oauth::account_access_token, input: oauth::AccessTokenRequest, reply: oauth::ProviderAccessTokenView, "A provider access token of one provider account";
    }
    "passkeys" {
        Post "/auth/passkey/initiate-passkey-registration", Any, Some(SignIn) => passkeys::initiate_registration, reply: passkeys::PasskeyOptionsView, "Start registering a passkey for the signed-in user (the body is ignored)";
        Post "/auth/passkey/register", Any, Some(SignIn) => passkeys::register, input: passkeys::Register, reply: passkeys::UserHandleView, "Finish registering a passkey with the browser's response";
        Post "/auth/passkey/initiate-passkey-authentication", Any, Some(SignIn) => passkeys::initiate_authentication, reply: passkeys::PasskeyOptionsView, "Start a passkey sign-in (the body is ignored)";
        Post "/auth/passkey/sign-in", Any, Some(SignIn) => passkeys::sign_in, input: passkeys::PasskeySignIn, reply: SignedInView, "Sign in with a passkey";
        Get "/users/me/passkeys", Any, None => passkeys::list, input: NoQuery, reply: ListView<passkeys::PasskeyView>, "The signed-in user's passkeys (Postern extension)";
        Patch "/users/me/passkeys/{passkey_id}", Any, Some(AccountChange) => passkeys::patch, input: passkeys::PasskeyPatch, reply: passkeys::PasskeyView, "Rename one of the signed-in user's passkeys (Postern extension)";
        Delete "/users/me/passkeys/{passkey_id}", Any, Some(AccountChange) => passkeys::delete, reply: SuccessView, "Delete one of the signed-in user's passkeys (Postern extension)";
    }
    "step-up" {
        Post "/auth/step-up/send-code", Any, Some(SendCode) => step_up::send_code, input: step_up::SendStepUpCode, reply: NonceView, "Mail a step-up code";
        Post "/auth/step-up", Any, Some(SignIn) => step_up::prove, input: step_up::StepUpProof, reply: StepUpTokenView, "Prove a factor; returns a step-up token";
        Get "/auth/mfa/recovery-codes", Any, None => step_up::recovery_codes_remaining, input: NoQuery, reply: RecoveryCodesLeftView, "Recovery-code status";
        Post "/auth/mfa/recovery-codes", Any, None => step_up::generate_recovery_codes, input: EmptyBody, reply: RecoveryCodesView, "Generate new recovery codes";
    }
    "sessions" {
        Get "/auth/sessions", Any, None => sessions::list, input: sessions::SessionsQuery, reply: ListView<SessionView>, "List a user's sessions";
        Post "/auth/sessions", Server, None => sessions::create, input: sessions::NewSession, reply: TokenPairView, "Create a session for a user";
        Delete "/auth/sessions/current", Any, None => sessions::sign_out, reply: SuccessView, "Sign out of the current session";
        Post "/auth/sessions/current/refresh", Any, None => sessions::refresh, reply: AccessTokenView, "Trade a refresh token for an access token";
        Delete "/auth/sessions/{id}", Any, None => sessions::delete, input: sessions::DeleteSessionQuery, reply: SuccessView, "End a session";
    }
    "users" {
        Get "/users/me", Any, None => users::get_me, input: NoQuery, reply: UserView, "The signed-in user";
        Patch "/users/me", Any, Some(AccountChange) => users::patch_me, input: users::MePatch, reply: UserView, "Update the signed-in user";
        Delete "/users/me", Any, Some(AccountChange) => users::delete_me, reply: SuccessView, "Delete the signed-in user";
        Get "/users", Server, None => users::list, input: users::UsersQuery, reply: UserPageView, "List users";
        Post "/users", Server, None => users::create, input: users::NewUser, created: UserView, "Create a user";
        Get "/users/{user_id}", Server, None => users::get, input: users::UserQuery, reply: UserView, "A user";
        Patch "/users/{user_id}", Server, None => users::patch, input: users::ServerUserPatch, reply: UserView, "Update a user";
        Delete "/users/{user_id}", Server, None => users::delete, reply: SuccessView, "Delete a user";
    }
    "contact-channels" {
        Get "/contact-channels", Any, None => contact_channels::list, input: contact_channels::ChannelList, reply: ListView<ContactChannelView>, "List a user's contact channels";
        Post "/contact-channels", Any, Some(AccountChange) => contact_channels::create, input: contact_channels::ChannelCreate, created: ContactChannelView, "Add a contact channel";
        Get "/contact-channels/{user_id}/{contact_channel_id}", Any, None
            => contact_channels::get, input: NoQuery, reply: ContactChannelView, "A contact channel";
        Patch "/contact-channels/{user_id}/{contact_channel_id}", Any, Some(AccountChange)
            => contact_channels::patch, input: contact_channels::ChannelPatch, reply: ContactChannelView, "Update a contact channel";
        Delete "/contact-channels/{user_id}/{contact_channel_id}", Any, Some(AccountChange)
            => contact_channels::delete, input: NoQuery, reply: SuccessView, "Delete a contact channel";
        Post "/contact-channels/{user_id}/{contact_channel_id}/send-verification-code", Any, Some(SendCode)
            => contact_channels::send_code, input: contact_channels::CallbackBody, reply: SuccessView, "Mail a verification link";
        Post "/contact-channels/send-verification-code", Any, Some(SendCode)
            => contact_channels::legacy_send_code, input: contact_channels::LegacySendCode, reply: SuccessView, "Mail a verification link (by address)";
        Post "/contact-channels/verify", Any, Some(SignIn) => contact_channels::verify, input: CodeBody, reply: SuccessView, "Verify a contact channel with a code";
        Post "/contact-channels/verify/check-code", Any, Some(SignIn)
            => contact_channels::verify_check, input: CodeBody, reply: CodeValidView, "Check a verification code";
        Get "/contact-channels/{user_id}/{contact_channel_id}/confirm-auth", Any, None
            => contact_channels::auth_status, reply: ChannelAuthStatusView, "Whether a sign-in address is confirmed";
        Post "/contact-channels/{user_id}/{contact_channel_id}/confirm-auth", Any, Some(AccountChange)
            => contact_channels::confirm_auth, input: EmptyBody, reply: ContactChannelView, "Confirm a sign-in address with a step-up token";
        Post "/contact-channels/{user_id}/{contact_channel_id}/send-auth-confirmation", Any, Some(SendCode)
            => contact_channels::send_auth_confirmation, input: contact_channels::CallbackBody, reply: SuccessView, "Mail a sign-in confirmation link to the oldest address";
        Post "/contact-channels/confirm-auth", Any, Some(SignIn)
            => contact_channels::confirm_auth_by_code, input: CodeBody, reply: SuccessView, "Confirm a sign-in address with a mailed code";
    }
    "api-keys" {
        Get "/user-api-keys", Any, None => api_keys::list_user_keys, input: api_keys::ListUserKeys, reply: ListView<ApiKeyView>, "List user API keys";
        Post "/user-api-keys", Any, Some(AccountChange) => api_keys::create_user_key, input: api_keys::NewUserKey, reply: ApiKeyView, "Create a user API key";
        Post "/user-api-keys/check", Server, Some(KeyCheck) => api_keys::check_key[KeyType::User], input: api_keys::ApiKeyBody, reply: ApiKeyView, "Check a user API key";
        Get "/user-api-keys/{api_key_id}", Any, None => api_keys::get_key[KeyType::User], input: api_keys::UserKeyQuery, reply: ApiKeyView, "A user API key";
        Patch "/user-api-keys/{api_key_id}", Any, Some(AccountChange) => api_keys::patch_key[KeyType::User], input: api_keys::PatchUserKey, reply: ApiKeyView, "Update or revoke a user API key";
        Get "/team-api-keys", Any, None => api_keys::list_team_keys, input: api_keys::ListTeamKeys, reply: ListView<ApiKeyView>, "List team API keys";
        Post "/team-api-keys", Any, Some(AccountChange) => api_keys::create_team_key, input: api_keys::NewTeamKey, reply: ApiKeyView, "Create a team API key";
        Post "/team-api-keys/check", Server, Some(KeyCheck) => api_keys::check_key[KeyType::Team], input: api_keys::ApiKeyBody, reply: ApiKeyView, "Check a team API key";
        Get "/team-api-keys/{api_key_id}", Any, None => api_keys::get_key[KeyType::Team], input: api_keys::TeamKeyQuery, reply: ApiKeyView, "A team API key";
        Patch "/team-api-keys/{api_key_id}", Any, Some(AccountChange) => api_keys::patch_key[KeyType::Team], input: api_keys::PatchTeamKey, reply: ApiKeyView, "Update or revoke a team API key";
        Post "/integrations/credential-scanning/revoke", Public, Some(KeyCheck)
            => api_keys::credential_scanning_revoke, input: api_keys::ApiKeyBody, reply: SuccessView, "Revoke a leaked API key";
    }
    "teams" {
        Get "/teams", Any, None => teams::list, input: teams::ListTeams, reply: ListView<TeamView>, "List teams";
        Post "/teams", Any, None => teams::create, input: teams::CreateTeam, created: TeamView, "Create a team";
        Get "/teams/{team_id}", Any, None => teams::get, reply: TeamView, "A team";
        Patch "/teams/{team_id}", Any, None => teams::patch, input: teams::TeamPatch, reply: TeamView, "Update a team";
        Delete "/teams/{team_id}", Any, None => teams::delete, reply: SuccessView, "Delete a team";
        Post "/team-memberships/{team_id}/{user_id}", Server, None => teams::add_member, input: teams::NoBodyOrEmpty, created: TeamMembershipView, "Add a member";
        Delete "/team-memberships/{team_id}/{user_id}", Any, None => teams::remove_member, reply: SuccessView, "Remove a member (or leave)";
        Get "/team-member-profiles", Any, None => teams::list_profiles, input: teams::ListProfiles, reply: ListView<MemberProfileView>, "List member profiles";
        Get "/team-member-profiles/{team_id}/{user_id}", Any, None => teams::get_profile, reply: MemberProfileView, "A member profile";
        Patch "/team-member-profiles/{team_id}/{user_id}", Any, None => teams::patch_profile, input: teams::ProfilePatch, reply: MemberProfileView, "Update a member profile";
    }
    "invitations" {
        Get "/team-invitations", Any, None => invitations::list, input: invitations::ListInvitations, reply: ListView<InvitationView>, "List a team's pending invitations";
        Post "/team-invitations/send-code", Any, Some(SendCode) => invitations::send, input: invitations::SendInvitation, reply: InvitationSentView, "Invite an address to a team";
        Post "/team-invitations/accept", Any, Some(SignIn) => invitations::accept, input: CodeBody, reply: EmptyView, "Accept an invitation by code";
        Post "/team-invitations/accept/check-code", Any, Some(SignIn) => invitations::check, input: CodeBody, reply: CodeValidView, "Check an invitation code";
        Post "/team-invitations/accept/details", Any, Some(SignIn) => invitations::details, input: CodeBody, reply: InvitationDetailsView, "An invitation's team";
        Delete "/team-invitations/{id}", Any, None => invitations::delete, input: invitations::DeleteInvitation, reply: SuccessView, "Revoke an invitation";
        Post "/team-invitations/{id}/accept", Any, None => invitations::accept_by_id, input: invitations::AcceptById, reply: EmptyView, "Accept an invitation by id";
    }
    "permissions" {
        Get "/team-permissions", Any, None => permissions::list_grants[Scope::Team], input: permissions::ListTeamGrants, reply: ListView<PermissionGrantView>, "List team permission grants";
        Post "/team-permissions/{team_id}/{user_id}/{permission_id}", Server, None
            => permissions::grant[Scope::Team], created: PermissionGrantView, "Grant a team permission";
        Delete "/team-permissions/{team_id}/{user_id}/{permission_id}", Server, None
            => permissions::revoke[Scope::Team], reply: SuccessView, "Revoke a team permission";
        Get "/project-permissions", Any, None => permissions::list_grants[Scope::Project], input: permissions::ListProjectGrants, reply: ListView<PermissionGrantView>, "List project permission grants";
        Post "/project-permissions/{user_id}/{permission_id}", Server, None
            => permissions::grant[Scope::Project], created: PermissionGrantView, "Grant a project permission";
        Delete "/project-permissions/{user_id}/{permission_id}", Server, None
            => permissions::revoke[Scope::Project], reply: SuccessView, "Revoke a project permission";
        Get "/team-permission-definitions", Admin, None
            => permissions::list_definitions[Scope::Team], input: NoQuery, reply: ListView<PermissionDefinitionView>, "List team permission definitions";
        Post "/team-permission-definitions", Admin, None
            => permissions::create_definition[Scope::Team], input: permissions::NewDefinition, created: PermissionDefinitionView, "Define a team permission";
        Patch "/team-permission-definitions/{permission_id}", Admin, None
            => permissions::update_definition[Scope::Team], input: permissions::DefinitionPatch, reply: PermissionDefinitionView, "Update a team permission definition";
        Delete "/team-permission-definitions/{permission_id}", Admin, None
            => permissions::delete_definition[Scope::Team], reply: SuccessView, "Delete a team permission definition";
        Get "/project-permission-definitions", Admin, None
            => permissions::list_definitions[Scope::Project], input: NoQuery, reply: ListView<PermissionDefinitionView>, "List project permission definitions";
        Post "/project-permission-definitions", Admin, None
            => permissions::create_definition[Scope::Project], input: permissions::NewDefinition, created: PermissionDefinitionView, "Define a project permission";
        Patch "/project-permission-definitions/{permission_id}", Admin, None
            => permissions::update_definition[Scope::Project], input: permissions::DefinitionPatch, reply: PermissionDefinitionView, "Update a project permission definition";
        Delete "/project-permission-definitions/{permission_id}", Admin, None
            => permissions::delete_definition[Scope::Project], reply: SuccessView, "Delete a project permission definition";
    }
    "data-vault" {
        Post "/data-vault/stores/{store_id}/set", Server, None => vault::set, input: vault::VaultSet, reply: SuccessView, "Store an encrypted value";
        Post "/data-vault/stores/{store_id}/get", Server, None => vault::get, input: vault::VaultGet, reply: EncryptedValueView, "Read an encrypted value";
    }
    "webhooks" {
        Post "/webhooks/svix-token", Admin, None => webhooks::svix_token, input: EmptyBody, created: webhooks::PortalTokenView, "A token for the Svix-compatible webhook API of this project";
        Post "/internal/send-test-webhook", Admin, None => webhooks::send_test, input: webhooks::SendTestWebhook, reply: webhooks::TestWebhookView, "Send a stack.test event to an endpoint and wait for the attempt";
        Get "/webhooks/endpoints", Admin, None => webhooks::list_endpoints, input: NoQuery, reply: ListView<crate::webhooks::Endpoint>, "List webhook endpoints (Postern extension)";
        Post "/webhooks/endpoints", Admin, None => webhooks::create_endpoint, input: webhooks::NewEndpointBody, created: webhooks::EndpointSecretView, "Create a webhook endpoint; returns its secret (Postern extension)";
        Get "/webhooks/endpoints/{endpoint_id}", Admin, None => webhooks::get_endpoint, input: NoQuery, reply: crate::webhooks::Endpoint, "A webhook endpoint (Postern extension)";
        Patch "/webhooks/endpoints/{endpoint_id}", Admin, None => webhooks::patch_endpoint, input: webhooks::EndpointPatchBody, reply: crate::webhooks::Endpoint, "Update a webhook endpoint (Postern extension)";
        Delete "/webhooks/endpoints/{endpoint_id}", Admin, None => webhooks::delete_endpoint, reply: SuccessView, "Delete a webhook endpoint and its log (Postern extension)";
        Get "/webhooks/endpoints/{endpoint_id}/secret", Admin, None => webhooks::get_secret, input: NoQuery, reply: webhooks::EndpointSecretView, "A webhook endpoint's signing secret (Postern extension)";
        Post "/webhooks/endpoints/{endpoint_id}/secret/rotate", Admin, None => webhooks::rotate_secret, input: webhooks::RotateSecret, reply: webhooks::EndpointSecretView, "Rotate the signing secret, keeping the old one for a window (Postern extension)";
        Get "/webhooks/attempts", Admin, None => webhooks::list_attempts, input: webhooks::AttemptsQuery, reply: ListView<crate::webhooks::Attempt>, "The delivery log, newest first (Postern extension)";
        Get "/webhooks/messages/{message_id}", Admin, None => webhooks::get_message, input: NoQuery, reply: webhooks::MessageView, "A recorded webhook message (Postern extension)";
        Post "/webhooks/messages/{message_id}/replay", Admin, None => webhooks::replay_message, input: webhooks::ReplayMessage, reply: webhooks::QueuedView, "Send a message again (Postern extension)";
        Post "/webhooks/replay-failed", Admin, None => webhooks::replay_failed, input: webhooks::ReplayFailed, reply: webhooks::QueuedView, "Send again every failed message since a time (Postern extension)";
        Get "/webhooks/svix/api/v1/app/{app_id}/endpoint", Public, Some(KeyCheck) => webhooks::svix_list_endpoints, input: webhooks::SvixListQuery, "Svix-compatible: list endpoints (portal token)";
        Post "/webhooks/svix/api/v1/app/{app_id}/endpoint", Public, Some(KeyCheck) => webhooks::svix_create_endpoint, input: webhooks::SvixEndpointIn, "Svix-compatible: create an endpoint (portal token)";
        Get "/webhooks/svix/api/v1/app/{app_id}/endpoint/{endpoint_id}", Public, Some(KeyCheck) => webhooks::svix_get_endpoint, input: NoQuery, "Svix-compatible: an endpoint (portal token)";
        Delete "/webhooks/svix/api/v1/app/{app_id}/endpoint/{endpoint_id}", Public, Some(KeyCheck) => webhooks::svix_delete_endpoint, "Svix-compatible: delete an endpoint (portal token)";
        Get "/webhooks/svix/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret", Public, Some(KeyCheck) => webhooks::svix_endpoint_secret, input: NoQuery, "Svix-compatible: an endpoint's secret (portal token)";
        Get "/webhooks/svix/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}", Public, Some(KeyCheck) => webhooks::svix_endpoint_attempts, input: webhooks::SvixListQuery, "Svix-compatible: an endpoint's attempts (portal token)";
        Get "/webhooks/svix/api/v1/app/{app_id}/attempt/msg/{msg_id}", Public, Some(KeyCheck) => webhooks::svix_message_attempts, input: webhooks::SvixListQuery, "Svix-compatible: a message's attempts (portal token)";
        Get "/webhooks/svix/api/v1/app/{app_id}/msg/{msg_id}", Public, Some(KeyCheck) => webhooks::svix_message, input: webhooks::SvixMessageQuery, "Svix-compatible: a message with its payload (portal token)";
        Post "/webhooks/svix/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend", Public, Some(KeyCheck) => webhooks::svix_resend, input: EmptyBody, "Svix-compatible: resend a message to an endpoint (portal token)";
    }
    "internal" {
        Get "/internal/projects", Any, None => internal::list_projects, input: internal::OwnedProjectsQuery, reply: ListView<AdminProjectView>, "Projects the signed-in admin owns";
        Post "/internal/projects", Any, None => internal::create_project, input: internal::NewProject, created: AdminProjectView, "Create a project";
        Get "/internal/projects/current", Admin, None => internal::current_project, input: NoQuery, reply: AdminProjectView, "The current project's admin view";
        Patch "/internal/projects/current", Admin, None => internal::patch_current_project, input: internal::PatchProject, reply: AdminProjectView, "Update the current project";
        Get "/internal/api-keys", Admin, None => internal::list_key_sets, input: NoQuery, reply: ListView<KeySetView>, "List project key sets";
        Post "/internal/api-keys", Admin, None => internal::create_key_set, input: internal::NewKeySet, reply: KeySetView, "Create a project key set";
        Get "/internal/api-keys/{api_key_id}", Admin, None => internal::get_key_set, reply: KeySetView, "A project key set";
        Patch "/internal/api-keys/{api_key_id}", Admin, None => internal::patch_key_set, input: internal::KeySetPatch, reply: KeySetView, "Update or revoke a key set";
        Get "/internal/config", Admin, None => internal::get_config, input: NoQuery, reply: ConfigStringView, "The rendered project config";
        Get "/internal/config/override/{level}", Server, None => internal::get_override, reply: ConfigStringView, "A config override level";
        Patch "/internal/config/override/{level}", Server, None => internal::patch_override, input: internal::ConfigOverride, reply: SuccessView, "Change a config override level";
        Get "/internal/audit-log", Admin, None => internal::audit_log, input: internal::AuditLogQuery, reply: AuditLogPageView, "The project's security audit log";
        Post "/internal/sign-up-rules-test", Admin, None => internal::sign_up_rules_test, input: internal::RulesTest, reply: SignUpRulesTestView, "Evaluate the sign-up rules for a context (nothing recorded)";
        Get "/internal/sign-up-rules-stats", Admin, None => internal::sign_up_rules_stats, input: NoQuery, reply: crate::auth::gate::RuleStats, "Trigger counts of the sign-up rules";
    }
}

/// The routes sharing one path, by method.
pub(crate) struct PathRoutes(Vec<&'static RouteDef>);

impl PathRoutes {
    /// The route of `method`, if the path has one.
    pub(crate) fn get(&self, method: &Method) -> Option<&'static RouteDef> {
        self.0.iter().copied().find(|r| r.verb.is(method))
    }
}

/// The path router built from [`ROUTES`].
pub(crate) fn router() -> &'static matchit::Router<PathRoutes> {
    static ROUTER: OnceLock<matchit::Router<PathRoutes>> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let mut by_path: Vec<(&'static str, Vec<&'static RouteDef>)> = Vec::new();
        for r in ROUTES {
            match by_path.iter_mut().find(|(p, _)| *p == r.path) {
                Some((_, rs)) => rs.push(r),
                None => by_path.push((r.path, vec![r])),
            }
        }
        let mut router = matchit::Router::new();
        for (path, rs) in by_path {
            if let Err(e) = router.insert(path, PathRoutes(rs)) {
                panic!("route table is inconsistent at {path}: {e}");
            }
        }
        router
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_reachable_and_unique() {
        let r = router();
        for (i, def) in ROUTES.iter().enumerate() {
            assert!(
                !ROUTES[..i]
                    .iter()
                    .any(|o| o.verb == def.verb && o.path == def.path),
                "{:?} {} is listed twice",
                def.verb,
                def.path
            );
            let sample = def
                .path
                .replace("{*rest}", "x/y")
                .split('/')
                .map(|seg| if seg.starts_with('{') { "x" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let matched = r.at(&sample).expect(def.path);
            let found = matched.value.get(&def.verb.method()).expect(def.path);
            assert!(std::ptr::eq(found, def), "{sample} reaches another row");
        }
    }

    #[test]
    fn only_public_routes_skip_the_access_check() {
        for def in ROUTES {
            assert_eq!(
                def.access == Access::Public,
                def.access.allowed().is_empty()
            );
        }
    }
}
