//! User and team API keys in Stack Auth's exact format, stored as a keyed hash.
//!
//! A key is `<sk|pk>_<secret45><id32><user|team><flag><574ck4u7h><crc32>` (102 characters).
//! The key's id is embedded, so a check is one point lookup by id plus one HMAC-SHA256 of
//! the key under a pepper derived from the server secret, compared in constant time. The
//! database holds only that HMAC and the last four characters: a dump yields no usable key,
//! and a malformed key or bad checksum is refused before any storage access.

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::actor::Auth;
use crate::error::{Error, Refusal, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::secrets::{CROCKFORD, ct_eq, hex, random_crockford};
use crate::storage::{ApiKeyOwner, ApiKeyRecord};

/// The scanner marker every key carries.
pub const MARKER: &str = "574ck4u7h";
/// Length of a key string.
pub const KEY_LENGTH: usize = 102;

/// `user` or `team`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// A user's key.
    User,
    /// A team's key.
    Team,
}

impl KeyType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::User => "user",
            KeyType::Team => "team",
        }
    }

    /// The type of an owner.
    pub fn of(owner: ApiKeyOwner) -> Self {
        match owner {
            ApiKeyOwner::User(_) => KeyType::User,
            ApiKeyOwner::Team(_) => KeyType::Team,
        }
    }
}

/// What a well-formed key string says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey {
    /// `pk_` key.
    pub is_public: bool,
    /// The key's id.
    pub id: Uuid,
    /// `user` or `team`.
    pub key_type: KeyType,
}

/// Builds a key string (self-hosted flag, fresh secret).
pub fn generate(id: Uuid, key_type: KeyType, is_public: bool) -> String {
    let prefix = if is_public { "pk" } else { "sk" };
    // Index (cloud ? 0 : 1) + (public ? 2 : 0) into the base-32 digits; Postern is never cloud.
    let flag = if is_public { '3' } else { '1' };
    let body = format!(
        "{prefix}_{}{}{}{flag}{MARKER}",
        random_crockford(45),
        id.simple(),
        key_type.as_str()
    );
    let checksum = crc32fast::hash(body.as_bytes());
    format!("{body}{checksum:08x}")
}

/// Parses and checksum-verifies a key string; `None` for anything malformed.
pub fn parse(key: &str) -> Option<ParsedKey> {
    if key.len() != KEY_LENGTH || !key.is_ascii() {
        return None;
    }
    let (body, checksum) = key.split_at(KEY_LENGTH - 8);
    if format!("{:08x}", crc32fast::hash(body.as_bytes())) != checksum {
        return None;
    }
    let is_public = match &body[..3] {
        "sk_" => false,
        "pk_" => true,
        _ => return None,
    };
    let secret = &body[3..48];
    if !secret.bytes().all(|b| CROCKFORD.contains(&b)) {
        return None;
    }
    let id_hex = &body[48..80];
    if !id_hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let id = Uuid::try_parse(id_hex).ok()?;
    let key_type = match &body[80..84] {
        "user" => KeyType::User,
        "team" => KeyType::Team,
        _ => return None,
    };
    let flag = body.as_bytes()[84];
    if !(b'0'..=b'3').contains(&flag) || ((flag - b'0') & 2 != 0) != is_public {
        return None;
    }
    if &body[85..] != MARKER {
        return None;
    }
    Some(ParsedKey {
        is_public,
        id,
        key_type,
    })
}

fn keyed_hash(pepper: &[u8; 32], key: &str) -> String {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(pepper).expect("any key length");
    mac.update(key.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// The header app routes read API keys from unless the app chooses another.
pub const DEFAULT_API_KEY_HEADER: &str = "x-stack-api-key";

/// The header an app's API-key extractors read (set as an axum extension or actix app data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyHeader(pub String);

impl Default for ApiKeyHeader {
    fn default() -> Self {
        ApiKeyHeader(DEFAULT_API_KEY_HEADER.to_owned())
    }
}

/// An app request authenticated by a user API key.
#[derive(Debug, Clone)]
pub struct ApiKeyUserAuth {
    /// The key's project.
    pub project: Project,
    /// The key's owner.
    pub user: crate::model::User,
    /// The key (no secret in it).
    pub key: ApiKeyRecord,
}

impl Postern {
    /// Authenticates an app request by the user API key in `header`: one point lookup, one
    /// HMAC, then the owner. Missing or unknown keys are `API_KEY_NOT_FOUND`; revoked and
    /// expired keys their own errors. Backs the adapters' `ApiKeyUser` extractors.
    pub async fn require_api_key_user(
        &self,
        headers: &http::HeaderMap,
        header: &str,
    ) -> Result<ApiKeyUserAuth> {
        let key = headers
            .get(header)
            .and_then(|v| v.to_str().ok())
            .ok_or(Error::ApiKeyNotFound)?;
        let (project, record) = self
            .api_keys()
            .authenticate(key.trim(), KeyType::User)
            .await?;
        let ApiKeyOwner::User(user_id) = record.owner else {
            return Err(Error::ApiKeyNotFound);
        };
        let user = self
            .users()
            .get(&project, user_id)
            .await?
            .ok_or(Error::ApiKeyNotFound)?;
        Ok(ApiKeyUserAuth {
            project,
            user,
            key: record,
        })
    }
}

/// An app request authenticated by a team API key.
#[derive(Debug, Clone)]
pub struct ApiKeyTeamAuth {
    /// The key's project.
    pub project: Project,
    /// The key's team.
    pub team: crate::model::Team,
    /// The key (no secret in it).
    pub key: ApiKeyRecord,
}

impl Postern {
    /// Authenticates an app request by the team API key in `header` (one point lookup, one
    /// HMAC, then the team). Backs the adapters' `ApiKeyTeam` extractors.
    pub async fn require_api_key_team(
        &self,
        headers: &http::HeaderMap,
        header: &str,
    ) -> Result<ApiKeyTeamAuth> {
        let key = headers
            .get(header)
            .and_then(|v| v.to_str().ok())
            .ok_or(Error::ApiKeyNotFound)?;
        let (project, record) = self
            .api_keys()
            .authenticate(key.trim(), KeyType::Team)
            .await?;
        let ApiKeyOwner::Team(team_id) = record.owner else {
            return Err(Error::ApiKeyNotFound);
        };
        let team = self
            .teams()
            .get(&project, team_id)
            .await?
            .ok_or(Error::ApiKeyNotFound)?;
        Ok(ApiKeyTeamAuth {
            project,
            team,
            key: record,
        })
    }
}

/// A key as shown after creation: the record and, once, the full key string.
#[derive(Clone, PartialEq)]
pub struct CreatedKey {
    /// The stored record.
    pub record: ApiKeyRecord,
    /// The key itself; never stored, shown only now.
    pub value: String,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// API-key operations; from [`Postern::api_keys`].
#[derive(Debug, Clone, Copy)]
pub struct ApiKeys<'a> {
    p: &'a Postern,
}

impl Postern {
    /// User and team API keys.
    pub fn api_keys(&self) -> ApiKeys<'_> {
        ApiKeys { p: self }
    }
}

impl ApiKeys<'_> {
    /// Whether the project enables keys of `kind` (`apiKeys.enabled.user` / `.team`).
    pub fn enabled(&self, project: &Project, kind: KeyType) -> Result<()> {
        let on = match kind {
            KeyType::User => project.config.api_keys.enabled.user,
            KeyType::Team => project.config.api_keys.enabled.team,
        };
        match (on, kind) {
            (true, _) => Ok(()),
            (false, KeyType::User) => Err(Error::Refused(Refusal::UserApiKeysDisabled)),
            (false, KeyType::Team) => Err(Error::Refused(Refusal::TeamApiKeysDisabled)),
        }
    }

    /// Whether `actor` may manage the keys of `owner`: servers and admins may (a team must
    /// exist); a client only its own user's keys, or a team's where it holds
    /// `$manage_api_keys` (else the team's keys do not exist for it: `API_KEY_NOT_FOUND`).
    pub async fn authorize(&self, actor: &Auth, owner: ApiKeyOwner) -> Result<()> {
        match owner {
            ApiKeyOwner::User(owner) => {
                if !actor.is_client() {
                    return Ok(());
                }
                match actor.user_id() {
                    None => Err(Error::UserAuthenticationRequired),
                    Some(me) if me == owner => Ok(()),
                    Some(_) => Err(Error::Refused(Refusal::ClientMayOnlyManageOwnApiKeys)),
                }
            }
            ApiKeyOwner::Team(team) => {
                if actor.is_client() {
                    let me = actor.user_id().ok_or(Error::UserAuthenticationRequired)?;
                    if !self
                        .p
                        .permissions()
                        .has_permission(&actor.project, me, Some(team), "$manage_api_keys")
                        .await?
                    {
                        return Err(Error::ApiKeyNotFound);
                    }
                } else if self.p.teams().get(&actor.project, team).await?.is_none() {
                    return Err(Error::TeamNotFound(team));
                }
                Ok(())
            }
        }
    }

    /// Creates a key for `owner` as `actor`: the kind must be enabled and the actor allowed
    /// ([`Self::authorize`]).
    pub async fn create_as(
        &self,
        actor: &Auth,
        owner: ApiKeyOwner,
        description: &str,
        expires_at_millis: Option<i64>,
        is_public: bool,
    ) -> Result<CreatedKey> {
        self.enabled(&actor.project, KeyType::of(owner))?;
        self.authorize(actor, owner).await?;
        self.create(
            &actor.project,
            owner,
            description,
            expires_at_millis,
            is_public,
        )
        .await
    }

    /// The keys of `owner`, newest first, as `actor` may see them.
    pub async fn list_as(&self, actor: &Auth, owner: ApiKeyOwner) -> Result<Vec<ApiKeyRecord>> {
        self.enabled(&actor.project, KeyType::of(owner))?;
        self.authorize(actor, owner).await?;
        match owner {
            ApiKeyOwner::User(u) => self.list_for_user(&actor.project, u).await,
            ApiKeyOwner::Team(t) => self.list_for_team(&actor.project, t).await,
        }
    }

    /// The key `id` of `kind`, if `actor` may manage it (`API_KEY_NOT_FOUND` otherwise,
    /// and for a key of the other kind).
    pub async fn get_as(&self, actor: &Auth, kind: KeyType, id: Uuid) -> Result<ApiKeyRecord> {
        self.enabled(&actor.project, kind)?;
        let key = self
            .get(&actor.project, id)
            .await?
            .filter(|k| KeyType::of(k.owner) == kind)
            .ok_or(Error::ApiKeyNotFound)?;
        self.authorize(actor, key.owner).await?;
        Ok(key)
    }

    /// Changes the description, expiry or revocation of key `id` of `kind` as `actor`.
    pub async fn update_as(
        &self,
        actor: &Auth,
        kind: KeyType,
        id: Uuid,
        description: Option<String>,
        expires_at_millis: Option<Option<i64>>,
        revoke: bool,
    ) -> Result<ApiKeyRecord> {
        let key = self.get_as(actor, kind, id).await?;
        self.update(
            &actor.project,
            key.id,
            description,
            expires_at_millis,
            revoke,
        )
        .await
    }

    /// Checks a presented key of `kind` for `actor`'s project (the kind must be enabled).
    pub async fn check_as(&self, actor: &Auth, kind: KeyType, key: &str) -> Result<ApiKeyRecord> {
        self.enabled(&actor.project, kind)?;
        self.check(&actor.project, key, kind).await
    }
}

impl ApiKeys<'_> {
    /// Creates a key; its full value is returned once and stored only as a keyed hash.
    /// A user owner must exist (`USER_NOT_FOUND`).
    pub async fn create(
        &self,
        project: &Project,
        owner: ApiKeyOwner,
        description: &str,
        expires_at_millis: Option<i64>,
        is_public: bool,
    ) -> Result<CreatedKey> {
        let id = Uuid::new_v4();
        let value = generate(id, KeyType::of(owner), is_public);
        let record = ApiKeyRecord {
            project_id: project.id.clone(),
            id,
            owner,
            description: description.to_owned(),
            is_public,
            secret_hash: keyed_hash(&self.p.inner.api_key_peppers[0], &value),
            last_four: value[KEY_LENGTH - 4..].to_owned(),
            created_at_millis: self.p.inner.clock.now_millis(),
            expires_at_millis,
            revoked_at_millis: None,
        };
        let tx = self.p.inner.store.begin().await?;
        tx.api_keys().insert(&record).await.map_err(|e| match e {
            crate::storage::StoreError::MissingReference(_) => Error::UserNotFound,
            e => e.into(),
        })?;
        key_event(self.p, &*tx, &record, "api_key.created", "created").await?;
        tx.commit().await?;
        Ok(CreatedKey { record, value })
    }

    /// A key by id.
    pub async fn get(&self, project: &Project, id: Uuid) -> Result<Option<ApiKeyRecord>> {
        Ok(self.p.inner.store.api_keys().get(&project.id, id).await?)
    }

    /// A user's keys, newest first.
    pub async fn list_for_user(
        &self,
        project: &Project,
        user_id: Uuid,
    ) -> Result<Vec<ApiKeyRecord>> {
        Ok(self
            .p
            .inner
            .store
            .api_keys()
            .list_for_user(&project.id, user_id)
            .await?)
    }

    /// A team's keys, newest first.
    pub async fn list_for_team(
        &self,
        project: &Project,
        team_id: Uuid,
    ) -> Result<Vec<ApiKeyRecord>> {
        Ok(self
            .p
            .inner
            .store
            .api_keys()
            .list_for_team(&project.id, team_id)
            .await?)
    }

    /// Updates description and expiry, and revokes (revoking twice keeps the first time).
    pub async fn update(
        &self,
        project: &Project,
        id: Uuid,
        description: Option<String>,
        expires_at_millis: Option<Option<i64>>,
        revoke: bool,
    ) -> Result<ApiKeyRecord> {
        let tx = self.p.inner.store.begin().await?;
        let mut key = tx
            .api_keys()
            .get(&project.id, id)
            .await?
            .ok_or(Error::ApiKeyNotFound)?;
        if let Some(d) = description {
            key.description = d;
        }
        if let Some(e) = expires_at_millis {
            key.expires_at_millis = e;
        }
        let revoking = revoke && key.revoked_at_millis.is_none();
        if revoking {
            key.revoked_at_millis = Some(self.p.inner.clock.now_millis());
        }
        if !tx.api_keys().update(&key).await? {
            return Err(Error::ApiKeyNotFound);
        }
        if revoking {
            key_event(self.p, &*tx, &key, "api_key.revoked", "manual").await?;
        }
        tx.commit().await?;
        Ok(key)
    }

    /// Checks a key for this project: one point lookup by the embedded id, one HMAC, no
    /// write. Errors in Stack's order: `API_KEY_NOT_FOUND` (also for malformed keys, a bad
    /// checksum or a hash mismatch), `WRONG_API_KEY_TYPE`, `API_KEY_REVOKED`,
    /// `API_KEY_EXPIRED`.
    pub async fn check(
        &self,
        project: &Project,
        key: &str,
        expected: KeyType,
    ) -> Result<ApiKeyRecord> {
        let parsed = parse(key).ok_or(Error::ApiKeyNotFound)?;
        let record = self
            .p
            .inner
            .store
            .api_keys()
            .get(&project.id, parsed.id)
            .await?
            .ok_or(Error::ApiKeyNotFound)?;
        self.validate(&record, key, expected)?;
        Ok(record)
    }

    /// Like [`ApiKeys::check`] without knowing the project in advance (the key's row says
    /// which): for app routes authenticated by an API key. Returns the project with the key.
    pub async fn authenticate(
        &self,
        key: &str,
        expected: KeyType,
    ) -> Result<(Project, ApiKeyRecord)> {
        let parsed = parse(key).ok_or(Error::ApiKeyNotFound)?;
        let record = self
            .p
            .inner
            .store
            .api_keys()
            .find_in_any_project(parsed.id)
            .await?
            .ok_or(Error::ApiKeyNotFound)?;
        self.validate(&record, key, expected)?;
        let project = self
            .p
            .projects()
            .get(&record.project_id)
            .await?
            .ok_or(Error::ApiKeyNotFound)?;
        Ok((project, record))
    }

    /// Whether `key` hashes to the record's stored HMAC under the current or a previous
    /// pepper (constant-time comparison).
    fn hash_matches(&self, record: &ApiKeyRecord, key: &str) -> bool {
        self.p.inner.api_key_peppers.iter().any(|pepper| {
            ct_eq(
                keyed_hash(pepper, key).as_bytes(),
                record.secret_hash.as_bytes(),
            )
        })
    }

    fn validate(&self, record: &ApiKeyRecord, key: &str, expected: KeyType) -> Result<()> {
        if !self.hash_matches(record, key) {
            return Err(Error::ApiKeyNotFound);
        }
        let actual = KeyType::of(record.owner);
        if actual != expected {
            return Err(Error::WrongApiKeyType {
                expected: expected.as_str(),
                actual: actual.as_str(),
            });
        }
        if record.revoked_at_millis.is_some() {
            return Err(Error::ApiKeyRevoked);
        }
        if record
            .expires_at_millis
            .is_some_and(|e| e < self.p.inner.clock.now_millis())
        {
            return Err(Error::ApiKeyExpired);
        }
        Ok(())
    }

    /// Credential-scanning revocation (unauthenticated, any project): revokes a leaked
    /// secret key. Public keys are refused; an expired key is reported; a revoked one is a
    /// no-op.
    pub async fn revoke_leaked(&self, key: &str) -> Result<()> {
        let parsed = parse(key).ok_or(Error::ApiKeyNotFound)?;
        let repo = self.p.inner.store.api_keys();
        let mut record = repo
            .find_in_any_project(parsed.id)
            .await?
            .ok_or(Error::ApiKeyNotFound)?;
        if !self.hash_matches(&record, key) {
            return Err(Error::ApiKeyNotFound);
        }
        if record.is_public {
            return Err(Error::PublicApiKeyCannotBeRevoked);
        }
        if record
            .expires_at_millis
            .is_some_and(|e| e < self.p.inner.clock.now_millis())
        {
            return Err(Error::ApiKeyExpired);
        }
        if record.revoked_at_millis.is_none() {
            record.revoked_at_millis = Some(self.p.inner.clock.now_millis());
            let tx = self.p.inner.store.begin().await?;
            tx.api_keys().update(&record).await?;
            key_event(
                self.p,
                &*tx,
                &record,
                "api_key.revoked",
                "credential_scanning",
            )
            .await?;
            tx.commit().await?;
            tracing::info!(key_id = %record.id, project = %record.project_id, "API key revoked by credential scanning");
        }
        Ok(())
    }
}

/// The audit event of a key's creation or revocation.
async fn key_event(
    p: &Postern,
    repos: &dyn crate::storage::Repos,
    key: &ApiKeyRecord,
    event: &str,
    reason: &str,
) -> Result<()> {
    let (user, owner) = match key.owner {
        ApiKeyOwner::User(u) => (Some(u), serde_json::json!({ "user_id": u })),
        ApiKeyOwner::Team(t) => (None, serde_json::json!({ "team_id": t })),
    };
    crate::audit::record(
        p,
        repos,
        &key.project_id,
        event,
        user,
        serde_json::json!({ "api_key_id": key.id, "owner": owner, "reason": reason }),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn format_is_stacks() {
        let id = Uuid::new_v4();
        let k = generate(id, KeyType::User, false);
        assert_eq!(k.len(), 102);
        assert!(k.starts_with("sk_"));
        assert_eq!(&k[48..80], id.simple().to_string());
        assert_eq!(&k[80..84], "user");
        assert_eq!(&k[84..85], "1");
        assert_eq!(&k[85..94], MARKER);
        assert_eq!(
            parse(&k),
            Some(ParsedKey {
                is_public: false,
                id,
                key_type: KeyType::User
            })
        );
        let p = generate(id, KeyType::Team, true);
        assert!(p.starts_with("pk_"));
        assert_eq!(&p[84..85], "3");
        assert_eq!(parse(&p).unwrap().key_type, KeyType::Team);
    }

    #[test]
    fn garbage_and_bad_checksums_are_refused() {
        let k = generate(Uuid::new_v4(), KeyType::User, false);
        let mut flipped = k.clone().into_bytes();
        flipped[10] = if flipped[10] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            parse(std::str::from_utf8(&flipped).unwrap()),
            None,
            "checksum catches a changed character"
        );
        assert_eq!(parse(&k[..101]), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse(&"x".repeat(102)), None);
        // A prefix that disagrees with the flag.
        let body = format!("pk_{}", &k[3..94]);
        let forged = format!("{body}{:08x}", crc32fast::hash(body.as_bytes()));
        assert_eq!(parse(&forged), None);
    }

    #[test]
    fn pepper_and_hash() {
        let a = crate::secrets::api_key_pepper(b"secret-one");
        assert_eq!(a, crate::secrets::api_key_pepper(b"secret-one"));
        assert_ne!(a, crate::secrets::api_key_pepper(b"secret-two"));
        let k = generate(Uuid::new_v4(), KeyType::User, false);
        let h = keyed_hash(&a, &k);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&k[3..48]));
        assert_ne!(
            h,
            keyed_hash(&crate::secrets::api_key_pepper(b"secret-two"), &k)
        );
    }

    proptest! {
        #[test]
        fn round_trip(public in any::<bool>(), team in any::<bool>(), raw in any::<u128>()) {
            let id = Uuid::from_u128(raw);
            let t = if team { KeyType::Team } else { KeyType::User };
            let k = generate(id, t, public);
            prop_assert_eq!(parse(&k), Some(ParsedKey { is_public: public, id, key_type: t }));
        }

        #[test]
        fn any_single_change_is_refused(pos in 0usize..102, c in "[0-9a-z_]") {
            let k = generate(Uuid::new_v4(), KeyType::User, false);
            let mut b = k.clone().into_bytes();
            let c = c.as_bytes()[0];
            prop_assume!(b[pos] != c);
            b[pos] = c;
            prop_assert_eq!(parse(std::str::from_utf8(&b).unwrap()), None);
        }
    }
}
