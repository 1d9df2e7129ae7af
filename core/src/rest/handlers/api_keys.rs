//! User and team API keys, key checks, and credential-scanning revocation.

use super::*;
use crate::rest::input::{FieldValue, Input, ME_SENTINEL, Source, input};

// ----- field types and checks shared by the key requests -----

/// A UUID given as a string (`must be a valid UUID` otherwise). As a field, `Id` is required
/// and `Option<Id>` optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Id(pub(crate) Uuid);

/// Parses a read string as an [`Id`], failing `key` when it is not a UUID.
fn parse_id(f: &mut Fields, key: &str, raw: Option<String>) -> Option<Id> {
    raw.and_then(|s| match Uuid::parse_str(&s) {
        Ok(u) => Some(Id(u)),
        Err(_) => {
            f.fail(key, "must be a valid UUID");
            None
        }
    })
}

impl FieldValue for Id {
    const REQUIRED: bool = true;
    fn read(f: &mut Fields, key: &str) -> Self {
        let raw = f.req_str(key);
        parse_id(f, key, raw).unwrap_or_default()
    }
    fn schema() -> Value {
        json!({ "type": "string", "format": "uuid" })
    }
}

impl FieldValue for Option<Id> {
    fn read(f: &mut Fields, key: &str) -> Self {
        let raw = f.opt_str(key);
        parse_id(f, key, raw)
    }
    fn schema() -> Value {
        <Id as FieldValue>::schema()
    }
}

/// Absent (`None`), `null` (`Some(None)`) or a number of milliseconds; anything else fails
/// with Stack's short line (`must be a \`number\` type`) and reads as absent.
fn millis_or_null(f: &mut Fields, key: &str) -> Option<Option<i64>> {
    match f.opt_json(key) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::Number(n)) => Some(n.as_f64().map(|v| v as i64)),
        Some(_) => {
            f.fail(key, "must be a `number` type");
            None
        }
    }
}

/// `expires_at_millis` of a new key: required, a number or `null` (never expires).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Expiry(pub(crate) Option<i64>);

impl FieldValue for Expiry {
    const REQUIRED: bool = true;
    fn read(f: &mut Fields, key: &str) -> Self {
        if f.opt_json(key).is_none() {
            f.fail(key, "must be defined");
            return Expiry(None);
        }
        Expiry(millis_or_null(f, key).flatten())
    }
    fn schema() -> Value {
        json!({ "type": ["number", "null"] })
    }
}

/// `expires_at_millis` of a key patch: absent (unchanged, `None`), `null` (never expires,
/// `Some(None)`) or a number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ExpiryChange(pub(crate) Option<Option<i64>>);

impl FieldValue for ExpiryChange {
    fn read(f: &mut Fields, key: &str) -> Self {
        ExpiryChange(millis_or_null(f, key))
    }
    fn schema() -> Value {
        json!({ "type": ["number", "null"] })
    }
}

/// Field check: `revoked` may only be `true` (a revocation is never undone).
pub(crate) fn only_true(f: &mut Fields, key: &str, v: &Option<bool>) {
    if *v == Some(false) {
        f.fail(key, "must be one of the following values: true");
    }
}

/// A request read from its query string, then from its body, each refused on its own
/// (`SCHEMA_ERROR` for the query before the body is looked at). The OpenAPI document shows
/// the body, as [`Input`] has one source.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryAndBody<Q, B> {
    /// The query string.
    #[allow(dead_code)] // the key patches check their query and do not use it
    pub(crate) query: Q,
    /// The body.
    pub(crate) body: B,
}

impl<Q: Input, B: Input> Input for QueryAndBody<Q, B> {
    const SOURCE: Source = Source::Body;
    fn parse(rq: &Rq<'_>) -> Result<Self> {
        let query = Q::parse(rq)?;
        let body = B::parse(rq)?;
        Ok(QueryAndBody { query, body })
    }
    fn schema() -> Value {
        B::schema()
    }
}

input! {
    /// The body of `PATCH /user-api-keys/{api_key_id}` and `PATCH /team-api-keys/{api_key_id}`:
    /// a new description, `revoked: true`, a new expiry (`null` clears it).
    pub(crate) struct KeyPatch in Body {
        description: Option<String>,
        revoked: Option<bool> => only_true,
        expires_at_millis: ExpiryChange,
    }
}

input! {
    /// `POST /user-api-keys/check`, `POST /team-api-keys/check` and
    /// `POST /integrations/credential-scanning/revoke`: a key's value.
    pub(crate) struct ApiKeyBody in Body {
        api_key: String,
    }
}

// ----- user API keys -----
pub(crate) fn user_keys_enabled(auth: &Auth) -> Result<()> {
    if auth.project.config.api_keys.enabled.user {
        Ok(())
    } else {
        Err(Error::Refused(Refusal::UserApiKeysDisabled))
    }
}

/// Client rules on a key's owner: a signed-in user, and only their own keys.
pub(crate) fn client_may_manage(auth: &Auth, owner: Uuid) -> Result<()> {
    if auth.access_type != AccessType::Client {
        return Ok(());
    }
    match auth.user_id() {
        None => Err(Error::UserAuthenticationRequired),
        Some(me) if me == owner => Ok(()),
        Some(_) => Err(Error::Refused(Refusal::ClientMayOnlyManageOwnApiKeys)),
    }
}

/// The owner a `user_id` (a UUID, `me` or its sentinel) of create and list names; `None`
/// when it is not a UUID. Absent is Stack's schema message, and `me` needs a signed-in
/// user: both refuse the request whatever else failed.
pub(crate) fn key_owner(user_id: Option<&str>, auth: &Auth) -> Result<Option<Uuid>> {
    let Some(raw) = user_id else {
        return Err(Error::SchemaMessage(
            "user_id is required for user API keys".into(),
        ));
    };
    if raw == "me" || raw == ME_SENTINEL {
        return match auth.user_id() {
            Some(me) => Ok(Some(me)),
            None if auth.access_type == AccessType::Client => {
                Err(Error::UserAuthenticationRequired)
            }
            None => Err(Error::CannotGetOwnUserWithoutUser),
        };
    }
    Ok(Uuid::parse_str(raw).ok())
}

/// `user_id` of create and list: a UUID, `me` or its sentinel. Required, but its absence
/// is refused by [`owner_check`] with Stack's own message, so it reads as an optional string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UserRef(pub(crate) Option<String>);

impl FieldValue for UserRef {
    const REQUIRED: bool = true;
    fn read(f: &mut Fields, key: &str) -> Self {
        UserRef(f.opt_str(key))
    }
    fn schema() -> Value {
        json!({ "type": "string" })
    }
}

/// Request check of create and list: [`key_owner`]'s refusals, or `user_id must be a valid
/// UUID`.
pub(crate) fn owner_check(f: &mut Fields, rq: &Rq<'_>, user_id: &UserRef) -> Result<()> {
    if key_owner(user_id.0.as_deref(), rq.auth()?)?.is_none() {
        f.fail("user_id", "must be a valid UUID");
    }
    Ok(())
}

input! {
    /// `POST /user-api-keys`.
    pub(crate) struct NewUserKey in Body {
        description: String,
        expires_at_millis: Expiry,
        is_public: Option<bool>,
        user_id: UserRef,
    }
    check(this, f, rq) {
        owner_check(f, rq, &this.user_id)?;
    }
}

pub(crate) async fn create_user_key(rq: Rq<'_>, b: NewUserKey) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    user_keys_enabled(auth)?;
    let owner = key_owner(b.user_id.0.as_deref(), auth)?.unwrap_or_default();
    client_may_manage(auth, owner)?;
    let created =
        rq.p.api_keys()
            .create(
                &auth.project,
                ApiKeyOwner::User(owner),
                &b.description,
                b.expires_at_millis.0,
                b.is_public.unwrap_or(false),
            )
            .await?;
    Ok(json(
        StatusCode::OK,
        &api_key_json(&created.record, Some(&created.value)),
    ))
}

input! {
    /// `GET /user-api-keys`: whose keys (`me` or a user id).
    pub(crate) struct ListUserKeys in Query {
        user_id: UserRef,
    }
    check(this, f, rq) {
        owner_check(f, rq, &this.user_id)?;
    }
}

pub(crate) async fn list_user_keys(rq: Rq<'_>, q: ListUserKeys) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    user_keys_enabled(auth)?;
    let owner = key_owner(q.user_id.0.as_deref(), auth)?.unwrap_or_default();
    client_may_manage(auth, owner)?;
    let keys = rq.p.api_keys().list_for_user(&auth.project, owner).await?;
    let items: Vec<Value> = keys.iter().map(|k| api_key_json(k, None)).collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "items": items, "is_paginated": false }),
    ))
}

/// The user key with the path's id, visible to this caller.
pub(crate) async fn user_key_in_path(
    rq: &Rq<'_>,
    auth: &Auth,
) -> Result<crate::storage::ApiKeyRecord> {
    let id = Uuid::parse_str(rq.param("api_key_id"))
        .map_err(|_| Error::schema("params.api_key_id must be a valid UUID"))?;
    user_keys_enabled(auth)?;
    let key =
        rq.p.api_keys()
            .get(&auth.project, id)
            .await?
            .ok_or(Error::ApiKeyNotFound)?;
    let ApiKeyOwner::User(owner) = key.owner else {
        return Err(Error::ApiKeyNotFound);
    };
    client_may_manage(auth, owner)?;
    Ok(key)
}

input! {
    /// The query of `GET` and `PATCH /user-api-keys/{api_key_id}`: `user_id` is accepted
    /// (Stack's clients send it) and not used: the key names its owner.
    pub(crate) struct UserKeyQuery in Query {
        user_id: Option<String>,
    }
}

pub(crate) async fn get_user_key(rq: Rq<'_>, _: UserKeyQuery) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let key = user_key_in_path(&rq, auth).await?;
    Ok(json(StatusCode::OK, &api_key_json(&key, None)))
}

/// `PATCH /user-api-keys/{api_key_id}`: the query, then the patch.
pub(crate) type PatchUserKey = QueryAndBody<UserKeyQuery, KeyPatch>;

pub(crate) async fn patch_user_key(rq: Rq<'_>, r: PatchUserKey) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let b = r.body;
    let key = user_key_in_path(&rq, auth).await?;
    let updated =
        rq.p.api_keys()
            .update(
                &auth.project,
                key.id,
                b.description,
                b.expires_at_millis.0,
                b.revoked == Some(true),
            )
            .await?;
    Ok(json(StatusCode::OK, &api_key_json(&updated, None)))
}

pub(crate) async fn check_user_key(rq: Rq<'_>, b: ApiKeyBody) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    user_keys_enabled(auth)?;
    let record =
        rq.p.api_keys()
            .check(&auth.project, &b.api_key, crate::api_keys::KeyType::User)
            .await?;
    Ok(json(StatusCode::OK, &api_key_json(&record, None)))
}

pub(crate) async fn credential_scanning_revoke(
    rq: Rq<'_>,
    b: ApiKeyBody,
) -> Result<Response<Bytes>> {
    rq.p.api_keys().revoke_leaked(&b.api_key).await?;
    Ok(success())
}

// ----- team API keys -----
pub(crate) fn team_keys_enabled(auth: &Auth) -> Result<()> {
    if auth.project.config.api_keys.enabled.team {
        Ok(())
    } else {
        Err(Error::Refused(Refusal::TeamApiKeysDisabled))
    }
}

/// Who may manage a team's keys: servers (the team must exist); clients holding
/// `$manage_api_keys` in it. Anything else is `API_KEY_NOT_FOUND`, hiding the team.
pub(crate) async fn may_manage_team_keys(rq: &Rq<'_>, auth: &Auth, team: Uuid) -> Result<()> {
    if is_client(auth) {
        let me = client_user(auth)?;
        if !rq
            .p
            .permissions()
            .has_permission(&auth.project, me, Some(team), "$manage_api_keys")
            .await?
        {
            return Err(Error::ApiKeyNotFound);
        }
    } else if rq.p.teams().get(&auth.project, team).await?.is_none() {
        return Err(Error::TeamNotFound(team));
    }
    Ok(())
}

input! {
    /// `POST /team-api-keys`.
    pub(crate) struct NewTeamKey in Body {
        description: String,
        expires_at_millis: Expiry,
        is_public: Option<bool>,
        team_id: Id,
    }
}

pub(crate) async fn create_team_key(rq: Rq<'_>, b: NewTeamKey) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    team_keys_enabled(auth)?;
    let team = b.team_id.0;
    may_manage_team_keys(&rq, auth, team).await?;
    let created =
        rq.p.api_keys()
            .create(
                &auth.project,
                ApiKeyOwner::Team(team),
                &b.description,
                b.expires_at_millis.0,
                b.is_public.unwrap_or(false),
            )
            .await?;
    Ok(json(
        StatusCode::OK,
        &api_key_json(&created.record, Some(&created.value)),
    ))
}

input! {
    /// `GET /team-api-keys`: whose keys.
    pub(crate) struct ListTeamKeys in Query {
        team_id: Id,
    }
}

pub(crate) async fn list_team_keys(rq: Rq<'_>, q: ListTeamKeys) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    team_keys_enabled(auth)?;
    let team = q.team_id.0;
    may_manage_team_keys(&rq, auth, team).await?;
    let keys = rq.p.api_keys().list_for_team(&auth.project, team).await?;
    Ok(items(keys.iter().map(|k| api_key_json(k, None)).collect()))
}

pub(crate) async fn team_key_in_path(
    rq: &Rq<'_>,
    auth: &Auth,
) -> Result<crate::storage::ApiKeyRecord> {
    let id = Uuid::parse_str(rq.param("api_key_id"))
        .map_err(|_| Error::schema("params.api_key_id must be a valid UUID"))?;
    team_keys_enabled(auth)?;
    let key =
        rq.p.api_keys()
            .get(&auth.project, id)
            .await?
            .ok_or(Error::ApiKeyNotFound)?;
    let ApiKeyOwner::Team(team) = key.owner else {
        return Err(Error::ApiKeyNotFound);
    };
    may_manage_team_keys(rq, auth, team).await?;
    Ok(key)
}

input! {
    /// The query of `GET` and `PATCH /team-api-keys/{api_key_id}`: `team_id` is checked
    /// and not used: the key names its team.
    pub(crate) struct TeamKeyQuery in Query {
        team_id: Option<Id>,
    }
}

pub(crate) async fn get_team_key(rq: Rq<'_>, _: TeamKeyQuery) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let key = team_key_in_path(&rq, auth).await?;
    Ok(json(StatusCode::OK, &api_key_json(&key, None)))
}

/// `PATCH /team-api-keys/{api_key_id}`: the query, then the patch.
pub(crate) type PatchTeamKey = QueryAndBody<TeamKeyQuery, KeyPatch>;

pub(crate) async fn patch_team_key(rq: Rq<'_>, r: PatchTeamKey) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let b = r.body;
    let key = team_key_in_path(&rq, auth).await?;
    let updated =
        rq.p.api_keys()
            .update(
                &auth.project,
                key.id,
                b.description,
                b.expires_at_millis.0,
                b.revoked == Some(true),
            )
            .await?;
    Ok(json(StatusCode::OK, &api_key_json(&updated, None)))
}

pub(crate) async fn check_team_key(rq: Rq<'_>, b: ApiKeyBody) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    team_keys_enabled(auth)?;
    let record =
        rq.p.api_keys()
            .check(&auth.project, &b.api_key, crate::api_keys::KeyType::Team)
            .await?;
    Ok(json(StatusCode::OK, &api_key_json(&record, None)))
}
