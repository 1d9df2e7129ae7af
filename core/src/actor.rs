//! Who acts: the principal every domain service checks before it reads or changes
//! anything. REST builds it from request headers (`Postern::authenticate`); an app calling
//! the Rust API in-process builds it with [`Auth::server`] or [`Auth::client`], and the
//! `*_as` methods then give the answers REST gives: feature gates, ownership and team
//! permissions.
//!
//! ```
//! use postern_core::storage::ApiKeyOwner;
//! use postern_core::{Auth, Postern, Project, User};
//!
//! async fn issue_key(postern: &Postern, project: Project, user: User) -> postern_core::Result<String> {
//!     let owner = ApiKeyOwner::User(user.id);
//!     // As the user: refused unless the project enables user API keys.
//!     let as_user = Auth::client(project, Some(user));
//!     let created = postern
//!         .api_keys()
//!         .create_as(&as_user, owner, "CLI", None, false)
//!         .await?;
//!     Ok(created.value)
//! }
//! ```

use uuid::Uuid;

use crate::error::AccessType;
use crate::model::User;
use crate::projects::Project;
use crate::tokens::AccessTokenClaims;

/// An authenticated request: project, access level and, when an access token was sent and
/// its user still exists, the user.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The project of the request.
    pub project: Project,
    /// The access level.
    pub access_type: AccessType,
    /// The signed-in user, if any.
    pub user: Option<User>,
    /// The verified access-token claims, if a token was sent.
    pub claims: Option<AccessTokenClaims>,
}

impl Auth {
    /// A trusted server acting on `project` (what a secret server key grants).
    pub fn server(project: Project) -> Auth {
        Auth {
            project,
            access_type: AccessType::Server,
            user: None,
            claims: None,
        }
    }

    /// A client acting for `user` (what a publishable key and the user's access token
    /// grant), without a session.
    pub fn client(project: Project, user: Option<User>) -> Auth {
        Auth {
            project,
            access_type: AccessType::Client,
            user,
            claims: None,
        }
    }

    /// Whether the caller is a client (held to the user's own permissions).
    pub fn is_client(&self) -> bool {
        self.access_type == AccessType::Client
    }

    /// The session of the access token (`refresh_token_id`).
    pub fn session_id(&self) -> Option<Uuid> {
        self.claims.as_ref().map(|c| c.refresh_token_id)
    }

    /// The signed-in user's id.
    pub fn user_id(&self) -> Option<Uuid> {
        self.user.as_ref().map(|u| u.id)
    }
}
