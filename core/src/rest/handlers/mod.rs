//! Endpoint handlers, one file per aggregate, and the helpers they share.

pub(super) mod api_keys;
pub(super) mod auth;
pub(super) mod cli;
pub(super) mod contact_channels;
pub(super) mod internal;
pub(super) mod invitations;
pub(super) mod oauth;
pub(super) mod passkeys;
pub(super) mod permissions;
pub(super) mod projects;
pub(super) mod sessions;
pub(super) mod step_up;
pub(super) mod teams;
pub(super) mod users;
pub(super) mod vault;
pub(super) mod webhooks;

use crate::admin::ProjectPatch;
use crate::codes::CODE_LENGTH;
use crate::contact_channels::ChannelUpdate;
use crate::contact_channels::NewChannel;
use crate::email::is_valid_email_lenient;
use crate::email::is_valid_email_strict;
use crate::error::AccessType;
use crate::error::Error;
use crate::error::Refusal;
use crate::error::Result;
use crate::mfa::SecondFactor;
use crate::passwords::MAX_PASSWORD_LENGTH;
use crate::passwords::password_length;
use crate::permissions::DefinitionInput;
use crate::permissions::Scope;
use crate::permissions::is_system;
use crate::permissions::is_valid_custom_id;
use crate::rest::INTERNAL_PROJECT_ID;
use crate::rest::Rq;
use crate::rest::access::Auth;
use crate::rest::access::PUBLIC_CLIENT_SENTINEL;
use crate::rest::access::stack_header;
use crate::rest::input::Fields;
use crate::rest::input::input;
use crate::rest::input::user_id_or_me;
use crate::rest::response::Json;
use crate::rest::response::json;
use crate::rest::response::text;
use crate::sessions::MAX_SESSION_MILLIS;
use crate::step_up::Caller;
use crate::step_up::Proof;
use crate::storage::ApiKeyOwner;
use crate::storage::AuditQuery;
use crate::storage::KeyKind;
use crate::teams::NewTeam;
use crate::teams::TeamUpdate;
use crate::users::ListUsers;
use crate::users::UserUpdate;
#[allow(unused_imports)] // handler files take the views they return from here
use crate::views::*;
use base64::Engine as _;
use bytes::Bytes;
use http::HeaderValue;
use http::Response;
use http::StatusCode;
use http::header;
use serde_json::Map;
use serde_json::Value;
use serde_json::json;
use uuid::Uuid;

/// Who asks, for the rules that treat clients apart: a client (its session and the step-up
/// token it carries), or a trusted server or admin.
pub(crate) fn caller<'a>(rq: &'a Rq<'_>, auth: &Auth) -> Caller<'a> {
    let token = rq
        .headers
        .get(crate::step_up::STEP_UP_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    Caller::of(auth, token)
}

pub(crate) fn schema_user(auth: &Auth) -> Result<Uuid> {
    auth.user_id()
        .ok_or_else(|| Error::schema("auth.user must be defined"))
}

/// A text field of a declared request, whatever its optionality.
pub(crate) trait Text {
    /// The text, when one was given.
    fn text(&self) -> Option<&str>;
}

impl Text for String {
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}

impl Text for Option<String> {
    fn text(&self) -> Option<&str> {
        self.as_deref()
    }
}

impl Text for Option<Option<String>> {
    fn text(&self) -> Option<&str> {
        self.as_ref().and_then(|v| v.as_deref())
    }
}

/// Field check: an address a new account may use (strict syntax).
pub(crate) fn email_strict(f: &mut Fields, key: &str, v: &impl Text) {
    if let Some(e) = v.text()
        && !is_valid_email_strict(e)
    {
        f.fail(key, "must be a valid email");
    }
}

/// Field check: a two-letter country code.
pub(crate) fn country_code(f: &mut Fields, key: &str, v: &Option<Option<String>>) {
    if let Some(Some(c)) = v {
        let c = c.trim();
        if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
            f.fail(key, "must be a valid country code");
        }
    }
}

/// Field check: an address to look up (lenient syntax, as Stack accepts at sign-in).
pub(crate) fn email_lenient(f: &mut Fields, key: &str, v: &impl Text) {
    if let Some(e) = v.text()
        && !is_valid_email_lenient(e)
    {
        f.fail(key, "must be a valid email");
    }
}

/// Field check: a sign-in address, non-empty and of lenient syntax.
pub(crate) fn email_sign_in(f: &mut Fields, key: &str, v: &impl Text) {
    match v.text() {
        Some("") => f.fail(key, "must not be empty"),
        Some(e) if !is_valid_email_lenient(e) => f.fail(key, "must be a valid email"),
        _ => {}
    }
}

/// Field check: a password no longer than [`MAX_PASSWORD_LENGTH`].
pub(crate) fn password_len(f: &mut Fields, key: &str, v: &impl Text) {
    if let Some(p) = v.text()
        && password_length(p) > MAX_PASSWORD_LENGTH
    {
        f.fail(
            key,
            &format!("must be at most {MAX_PASSWORD_LENGTH} characters"),
        );
    }
}

/// Field check: an absolute URL without spaces.
pub(crate) fn url(f: &mut Fields, key: &str, v: &impl Text) {
    if let Some(v) = v.text() {
        if v.contains(' ') {
            f.fail(key, "contains spaces");
        } else if url::Url::parse(v).is_err() {
            f.fail(key, "is not a valid URL");
        }
    }
}

/// Field check: a mailed code of [`CODE_LENGTH`] characters.
pub(crate) fn code_len(f: &mut Fields, key: &str, v: &impl Text) {
    if let Some(c) = v.text()
        && c.chars().count() != CODE_LENGTH
    {
        f.fail(key, &format!("must be exactly {CODE_LENGTH} characters"));
    }
}

/// Request check: the request has a signed-in user (`auth.user must be defined`).
pub(crate) fn needs_user(f: &mut Fields, rq: &Rq<'_>) {
    if rq.auth.as_ref().and_then(|a| a.user.as_ref()).is_none() {
        f.fail_raw("auth.user must be defined");
    }
}

input! {
    /// An empty query string: any key is refused.
    pub(crate) struct NoQuery in Query {}
}

input! {
    /// An empty JSON body (`{}`): any key is refused.
    pub(crate) struct EmptyBody in Body {}
}

input! {
    /// A body holding only a mailed code.
    pub(crate) struct CodeBody in Body {
        code: String => code_len,
    }
}

/// The signed-in anonymous user of a request, whom a sign-up upgrades.
pub(crate) fn anonymous_user(auth: &Auth) -> Option<Uuid> {
    auth.user.as_ref().filter(|u| u.is_anonymous).map(|u| u.id)
}

pub(crate) fn path_uuid(rq: &Rq<'_>, name: &str) -> Result<Uuid> {
    Uuid::parse_str(rq.param(name))
        .map_err(|_| Error::schema(format!("params.{name} must be a valid UUID")))
}

/// The team of the path (`/teams/{team_id}`), validated with the query (which takes no
/// keys) as Stack reports both; who may act on it is the domain's decision
/// ([`crate::teams::Teams::authorize`]).
pub(crate) fn team_in_path(rq: &Rq<'_>) -> Result<Uuid> {
    // Path and query are validated together, as Stack reports both.
    let mut failures = Vec::new();
    let team = Uuid::parse_str(rq.param("team_id")).ok();
    if team.is_none() {
        failures.push("params.team_id must be a valid UUID".to_owned());
    }
    let unknown: Vec<&str> = rq.query.iter().map(|(k, _)| k.as_str()).collect();
    if !unknown.is_empty() {
        failures.push(format!(
            "query contains unknown properties: {}",
            unknown.join(", ")
        ));
    }
    if !failures.is_empty() {
        return Err(Error::Schema(failures));
    }
    Ok(team.unwrap_or_default())
}

pub(crate) fn signed_in(auth: &Auth) -> Result<Uuid> {
    auth.user_id().ok_or(Error::UserAuthenticationRequired)
}
