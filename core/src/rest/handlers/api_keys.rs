//! User and team API keys, key checks, and credential-scanning revocation.

use super::*;
use crate::api_keys::KeyType;
use crate::rest::input::{FieldValue, Id, Input, ME_SENTINEL, Source, input};

// ----- field types and checks shared by the key requests -----

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
/// both.
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
    fn query_schema() -> Option<Value> {
        Some(Q::schema())
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

pub(crate) async fn create_user_key(rq: Rq<'_>, b: NewUserKey) -> Result<Json<ApiKeyView>> {
    let auth = rq.auth()?;
    let owner = key_owner(b.user_id.0.as_deref(), auth)?.unwrap_or_default();
    let created =
        rq.p.api_keys()
            .create_as(
                auth,
                ApiKeyOwner::User(owner),
                &b.description,
                b.expires_at_millis.0,
                b.is_public.unwrap_or(false),
            )
            .await?;
    Ok(Json::ok(ApiKeyView::of(
        &created.record,
        Some(&created.value),
    )))
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

pub(crate) async fn list_user_keys(
    rq: Rq<'_>,
    q: ListUserKeys,
) -> Result<Json<ListView<ApiKeyView>>> {
    let auth = rq.auth()?;
    let owner = key_owner(q.user_id.0.as_deref(), auth)?.unwrap_or_default();
    let keys =
        rq.p.api_keys()
            .list_as(auth, ApiKeyOwner::User(owner))
            .await?;
    Ok(Json::ok(ListView::of(
        keys.iter().map(|k| ApiKeyView::of(k, None)).collect(),
    )))
}

/// The key id of the path (`params.api_key_id must be a valid UUID` otherwise).
fn key_in_path(rq: &Rq<'_>) -> Result<Uuid> {
    Uuid::parse_str(rq.param("api_key_id"))
        .map_err(|_| Error::schema("params.api_key_id must be a valid UUID"))
}

input! {
    /// The query of `GET` and `PATCH /user-api-keys/{api_key_id}`: `user_id` is accepted
    /// (Stack's clients send it) and not used: the key names its owner.
    pub(crate) struct UserKeyQuery in Query {
        user_id: Option<String>,
    }
}

/// `GET /user-api-keys/{api_key_id}` and `GET /team-api-keys/{api_key_id}`.
pub(crate) async fn get_key<Q>(rq: Rq<'_>, _: Q, kind: KeyType) -> Result<Json<ApiKeyView>> {
    let auth = rq.auth()?;
    let key =
        rq.p.api_keys()
            .get_as(auth, kind, key_in_path(&rq)?)
            .await?;
    Ok(Json::ok(ApiKeyView::of(&key, None)))
}

/// `PATCH /user-api-keys/{api_key_id}`: the query, then the patch.
pub(crate) type PatchUserKey = QueryAndBody<UserKeyQuery, KeyPatch>;

/// `PATCH /user-api-keys/{api_key_id}` and `PATCH /team-api-keys/{api_key_id}`.
pub(crate) async fn patch_key<Q>(
    rq: Rq<'_>,
    r: QueryAndBody<Q, KeyPatch>,
    kind: KeyType,
) -> Result<Json<ApiKeyView>> {
    let auth = rq.auth()?;
    let b = r.body;
    let updated =
        rq.p.api_keys()
            .update_as(
                auth,
                kind,
                key_in_path(&rq)?,
                b.description,
                b.expires_at_millis.0,
                b.revoked == Some(true),
            )
            .await?;
    Ok(Json::ok(ApiKeyView::of(&updated, None)))
}

/// `POST /user-api-keys/check` and `POST /team-api-keys/check`.
pub(crate) async fn check_key(
    rq: Rq<'_>,
    b: ApiKeyBody,
    kind: KeyType,
) -> Result<Json<ApiKeyView>> {
    let auth = rq.auth()?;
    let record = rq.p.api_keys().check_as(auth, kind, &b.api_key).await?;
    Ok(Json::ok(ApiKeyView::of(&record, None)))
}

pub(crate) async fn credential_scanning_revoke(
    rq: Rq<'_>,
    b: ApiKeyBody,
) -> Result<Json<SuccessView>> {
    rq.p.api_keys().revoke_leaked(&b.api_key).await?;
    Ok(Json::ok(SuccessView::TRUE))
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

pub(crate) async fn create_team_key(rq: Rq<'_>, b: NewTeamKey) -> Result<Json<ApiKeyView>> {
    let auth = rq.auth()?;
    let created =
        rq.p.api_keys()
            .create_as(
                auth,
                ApiKeyOwner::Team(b.team_id.0),
                &b.description,
                b.expires_at_millis.0,
                b.is_public.unwrap_or(false),
            )
            .await?;
    Ok(Json::ok(ApiKeyView::of(
        &created.record,
        Some(&created.value),
    )))
}

input! {
    /// `GET /team-api-keys`: whose keys.
    pub(crate) struct ListTeamKeys in Query {
        team_id: Id,
    }
}

pub(crate) async fn list_team_keys(
    rq: Rq<'_>,
    q: ListTeamKeys,
) -> Result<Json<ListView<ApiKeyView>>> {
    let auth = rq.auth()?;
    let keys =
        rq.p.api_keys()
            .list_as(auth, ApiKeyOwner::Team(q.team_id.0))
            .await?;
    Ok(Json::ok(ListView::of(
        keys.iter().map(|k| ApiKeyView::of(k, None)).collect(),
    )))
}

input! {
    /// The query of `GET` and `PATCH /team-api-keys/{api_key_id}`: `team_id` is checked
    /// and not used: the key names its team.
    pub(crate) struct TeamKeyQuery in Query {
        team_id: Option<Id>,
    }
}

/// `PATCH /team-api-keys/{api_key_id}`: the query, then the patch.
pub(crate) type PatchTeamKey = QueryAndBody<TeamKeyQuery, KeyPatch>;
