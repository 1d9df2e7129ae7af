//! JSON values of the typed views in [`crate::views`], for handlers that still assemble
//! `serde_json::Value`s.

use serde_json::Value;

use crate::projects::Project;
use crate::sessions::Session;
use crate::storage::ApiKeyRecord;
use crate::users::User;
use crate::views::{ApiKeyView, ClientProjectView, SessionView, TeamView, UserView};

fn value(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The user object: the 27-field server view, or the 21-field client view.
pub fn user_json(u: &User, server: bool) -> Value {
    value(UserView::of(u, server))
}

/// The session object.
pub fn session_json(s: &Session, current: Option<uuid::Uuid>) -> Value {
    value(SessionView::of(s, current))
}

/// An API key: the full value on the create response only.
pub fn api_key_json(k: &ApiKeyRecord, full_value: Option<&str>) -> Value {
    value(ApiKeyView::of(k, full_value))
}

/// The client project object of `GET /projects/current`.
pub fn project_json(p: &Project) -> Value {
    value(ClientProjectView::of(p))
}

/// A team as clients or servers see it.
pub fn team_json(t: &crate::teams::Team, server: bool) -> Value {
    value(TeamView::of(t, server))
}
