//! Request authentication (§5 of the contract): access type, project, keys, access token.

use http::HeaderMap;
use uuid::Uuid;

pub use crate::actor::Auth;
use crate::error::{AccessType, Error, Refusal, Result};
use crate::model::User;
use crate::postern::Postern;
pub use crate::projects::INTERNAL_PROJECT_ID;
use crate::projects::Project;
use crate::storage::KeyKind;
use crate::tokens::AccessTokenClaims;

/// The public-client sentinel accepted as a publishable key when keys are not required.
pub const PUBLIC_CLIENT_SENTINEL: &str = "__stack_public_client__";

/// Reads `x-stack-<name>`, else `x-hexclave-<name>`; an empty value counts as absent.
pub fn stack_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    for prefix in ["x-stack-", "x-hexclave-"] {
        let full = format!("{prefix}{name}");
        if let Some(v) = headers.get(full.as_str()).and_then(|v| v.to_str().ok())
            && !v.is_empty()
        {
            return Some(v);
        }
    }
    None
}

impl Postern {
    /// Resolves request headers to an [`Auth`] (or `None` for an unauthenticated request),
    /// in Stack's order of checks. This is what every endpoint and every adapter extractor
    /// uses.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Auth>> {
        let h = |n: &str| stack_header(headers, n);
        let Some(access_type) = h("access-type") else {
            let keyed = [
                "publishable-client-key",
                "secret-server-key",
                "super-secret-admin-key",
                "admin-access-token",
            ]
            .iter()
            .any(|n| h(n).is_some());
            return if keyed {
                Err(Error::ProjectKeyWithoutAccessType)
            } else {
                Ok(None)
            };
        };
        let access_type = AccessType::parse(access_type)
            .ok_or_else(|| Error::InvalidAccessType(access_type.to_owned()))?;
        let project_id = h("project-id").ok_or(Error::AccessTypeWithoutProjectId(access_type))?;

        let claims = match h("access-token") {
            Some(token) => {
                let claims = self.sessions().verify(token).await?;
                if claims.project_id != project_id {
                    return Err(Error::InvalidProjectForAccessToken {
                        expected: project_id.to_owned(),
                        actual: claims.project_id,
                    });
                }
                let allow_anon = h("allow-anonymous-user") == Some("true");
                let allow_restricted = allow_anon || h("allow-restricted-user") == Some("true");
                if claims.is_anonymous && !allow_anon {
                    return Err(Error::AnonymousAuthenticationNotAllowed);
                }
                if claims.is_restricted && !claims.is_anonymous && !allow_restricted {
                    let reason = claims.restriction().ok_or(Error::UnparsableAccessToken)?;
                    return Err(Error::RestrictedUserNotAllowed(reason));
                }
                Some(claims)
            }
            None => None,
        };

        let project = self
            .projects()
            .get(project_id)
            .await?
            .ok_or_else(|| Error::CurrentProjectNotFound(project_id.to_owned()))?;

        if let Some(token) = h("admin-access-token") {
            self.check_admin_access_token(token, &project).await?;
        } else {
            self.check_project_key(headers, access_type, &project)
                .await?;
        }

        if let Some(branch) = h("branch-id")
            && branch != "main"
        {
            return Err(Error::BranchDoesNotExist(branch.to_owned()));
        }

        let user = match &claims {
            Some(c) => live_user(self.users().get(&project, c.sub).await?, c)?,
            None => None,
        };
        Ok(Some(Auth {
            project,
            access_type,
            user,
            claims,
        }))
    }

    /// An admin access token (§5.7): an access token of a user of the `internal` project
    /// who is a member of the team owning `project`. Grants any access type, no key needed.
    async fn check_admin_access_token(&self, token: &str, project: &Project) -> Result<()> {
        let claims = match self.sessions().verify(token).await {
            Ok(c) if !c.is_anonymous && !c.is_restricted => c,
            Ok(_) => return Err(Error::UnparsableAdminAccessToken),
            Err(Error::AccessTokenExpired {
                expired_at_millis, ..
            }) => return Err(Error::AdminAccessTokenExpired(expired_at_millis)),
            Err(_) => return Err(Error::UnparsableAdminAccessToken),
        };
        if claims.project_id != INTERNAL_PROJECT_ID {
            return Err(Error::AdminAccessTokenIsNotAdmin);
        }
        let store = &self.inner.store;
        let admin = store.users().get(INTERNAL_PROJECT_ID, claims.sub).await?;
        if let Some(after) = admin.as_ref().and_then(|u| u.tokens_valid_after_millis)
            && claims.iat < after.div_euclid(1000)
        {
            return Err(Error::AdminAccessTokenExpired(Some(after)));
        }
        if admin.is_none() {
            return Err(Error::Refused(Refusal::AdminAccessTokenUserGone));
        }
        let Some(owner) = project.owner_team_id else {
            return Err(Error::AdminAccessTokenIsNotAdmin);
        };
        if store
            .teams()
            .get_member(INTERNAL_PROJECT_ID, owner, claims.sub)
            .await?
            .is_none()
        {
            return Err(Error::AdminAccessTokenIsNotAdmin);
        }
        Ok(())
    }

    /// The key check of §5.2 step 6c-6e: only the key of the access type is consulted.
    async fn check_project_key(
        &self,
        headers: &HeaderMap,
        access_type: AccessType,
        project: &Project,
    ) -> Result<()> {
        let h = |n: &str| stack_header(headers, n);
        match access_type {
            AccessType::Client => {
                let required = project.config.project.require_publishable_client_key;
                match h("publishable-client-key") {
                    None | Some(PUBLIC_CLIENT_SENTINEL) if required => {
                        return Err(Error::PublishableClientKeyRequiredForProject(Some(
                            project.id.clone(),
                        )));
                    }
                    None | Some(PUBLIC_CLIENT_SENTINEL) => {}
                    Some(key) => {
                        if !self
                            .projects()
                            .check_key(&project.id, KeyKind::PublishableClient, key)
                            .await?
                        {
                            return Err(Error::InvalidPublishableClientKey(project.id.clone()));
                        }
                    }
                }
            }
            AccessType::Server => {
                let key = h("secret-server-key").ok_or(Error::ServerAuthenticationRequired)?;
                if !self
                    .projects()
                    .check_key(&project.id, KeyKind::SecretServer, key)
                    .await?
                {
                    return Err(Error::InvalidSecretServerKey(project.id.clone()));
                }
            }
            AccessType::Admin => {
                let key = h("super-secret-admin-key").ok_or(Error::AdminAuthenticationRequired)?;
                if !self
                    .projects()
                    .check_key(&project.id, KeyKind::SuperSecretAdmin, key)
                    .await?
                {
                    return Err(Error::InvalidSuperSecretAdminKey(project.id.clone()));
                }
            }
        }
        Ok(())
    }
}

/// Refuses a token issued before its user was signed out everywhere, as an expired one.
fn live_user(user: Option<User>, claims: &AccessTokenClaims) -> Result<Option<User>> {
    match user {
        Some(u) if u.token_revoked(claims.iat) => Err(Error::AccessTokenExpired {
            expired_at_millis: u.tokens_valid_after_millis,
            project_id: Some(claims.project_id.clone()),
            user_id: Some(claims.sub),
            refresh_token_id: Some(claims.refresh_token_id),
        }),
        other => Ok(other),
    }
}

/// The access token of an app request: `x-stack-access-token`, else `Authorization: Bearer`.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    stack_header(headers, "access-token").or_else(|| {
        headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
    })
}

impl Postern {
    /// Authenticates a request to one of the app's own routes.
    ///
    /// With `x-stack-access-type`, this is exactly [`Postern::authenticate`]. Without it, the
    /// access token alone (`x-stack-access-token` or `Authorization: Bearer`) identifies the
    /// project (from its audience) and the user, at client level; anonymous and restricted
    /// users are refused unless the request carries the matching allow header, as Stack does.
    pub async fn authenticate_app_request(&self, headers: &HeaderMap) -> Result<Option<Auth>> {
        if stack_header(headers, "access-type").is_some() {
            return self.authenticate(headers).await;
        }
        let Some(token) = bearer_token(headers) else {
            return Ok(None);
        };
        let claims = self.sessions().verify(token).await?;
        let allow_anon = stack_header(headers, "allow-anonymous-user") == Some("true");
        let allow_restricted =
            allow_anon || stack_header(headers, "allow-restricted-user") == Some("true");
        if claims.is_anonymous && !allow_anon {
            return Err(Error::AnonymousAuthenticationNotAllowed);
        }
        if claims.is_restricted && !claims.is_anonymous && !allow_restricted {
            return Err(Error::RestrictedUserNotAllowed(
                claims.restriction().ok_or(Error::UnparsableAccessToken)?,
            ));
        }
        let project = self
            .projects()
            .get(&claims.project_id)
            .await?
            .ok_or_else(|| Error::CurrentProjectNotFound(claims.project_id.clone()))?;
        let user = live_user(self.users().get(&project, claims.sub).await?, &claims)?;
        Ok(Some(Auth {
            project,
            access_type: AccessType::Client,
            user,
            claims: Some(claims),
        }))
    }

    /// Like [`Postern::authenticate_app_request`], but a signed-in user is required
    /// (`USER_AUTHENTICATION_REQUIRED` otherwise). Backs the `CurrentUser` extractors.
    pub async fn require_user(&self, headers: &HeaderMap) -> Result<Auth> {
        match self.authenticate_app_request(headers).await? {
            Some(a) if a.user.is_some() => Ok(a),
            _ => Err(Error::UserAuthenticationRequired),
        }
    }

    /// Requires server or admin access (a valid secret server key or admin key). Backs the
    /// `ServerAccess` extractors.
    pub async fn require_server(&self, headers: &HeaderMap) -> Result<Auth> {
        match self.authenticate(headers).await? {
            None => Err(Error::ServerAuthenticationRequired),
            Some(a) if a.access_type == AccessType::Client => Err(Error::InsufficientAccessType {
                actual: a.access_type,
                allowed: vec![AccessType::Server, AccessType::Admin],
            }),
            Some(a) => Ok(a),
        }
    }
}

impl Postern {
    /// Authenticates an app request's user (as `require_user`) and requires a permission:
    /// `TEAM_PERMISSION_REQUIRED` / `PROJECT_PERMISSION_REQUIRED` when missing (a team
    /// that is not the user's is `TEAM_MEMBERSHIP_NOT_FOUND`). Backs the `Permitted`
    /// extractors.
    pub async fn require_permission(
        &self,
        headers: &http::HeaderMap,
        required: &crate::permissions::RequiredPermission,
    ) -> Result<Auth> {
        let auth = self.require_user(headers).await?;
        let user = auth.user_id().ok_or(Error::UserAuthenticationRequired)?;
        match &required.team_header {
            Some(h) => {
                let team = headers
                    .get(h.as_str())
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| Uuid::parse_str(v.trim()).ok())
                    .ok_or_else(|| {
                        Error::Refused(Refusal::TeamIdHeaderRequired { header: h.clone() })
                    })?;
                self.permissions()
                    .require_team_permission(&auth.project, user, team, &required.permission)
                    .await?;
            }
            None => {
                if !self
                    .permissions()
                    .has_permission(&auth.project, user, None, &required.permission)
                    .await?
                {
                    return Err(Error::ProjectPermissionRequired {
                        user_id: user,
                        permission_id: required.permission.clone(),
                    });
                }
            }
        }
        Ok(auth)
    }
}
