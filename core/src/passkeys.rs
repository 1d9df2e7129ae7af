//! Passkeys (WebAuthn, §9.5 of the contract): registration for a signed-in user, and
//! usernameless sign-in with a discoverable credential.
//!
//! Every ceremony is verified by `webauthn-rs`; nothing here parses authenticator data or
//! checks a signature. What Postern adds around it:
//!
//! - **The ceremony state stays on the server.** `initiate-*` starts a ceremony with
//!   `webauthn-rs` and stores its serialized state in a verification code (65 seconds,
//!   single use) whose code the client gets with the options. `register` and `sign-in`
//!   use the code up *before* verifying, so a challenge can be answered once, whatever
//!   the answer.
//! - **Origin and relying party.** Stack's SDK replaces the sentinel RP id
//!   [`SENTINEL_RP_ID`] with the page's hostname, so the RP id is only known at the end:
//!   the `origin` of `clientDataJSON` must pass the project's trusted domains (with
//!   wildcards and the localhost rule, [`crate::redirects`]), and the ceremony is then
//!   verified for exactly that origin with the RP id of its host.
//! - **Identification by credential id.** A credential id is unique per project and names
//!   the passkey, hence the user; the `userHandle` an authenticator returns is not signed
//!   and is not used (Stack ignores it too).
//! - **Counters.** `webauthn-rs` refuses a signature counter that does not move forward
//!   (a cloned authenticator); the new counter is stored with a compare-and-swap, so of
//!   two sign-ins verified against the same counter only one succeeds.
//! - **One passkey per user** by default, replaced by each registration, as Stack;
//!   `auth.passkey.allowMultiplePerUser` keeps several (a Postern extension), listed,
//!   renamed and deleted with [`Passkeys::list`], [`Passkeys::rename`] and
//!   [`Passkeys::delete`].
//!
//! Algorithms: EdDSA (Ed25519), ES256, RS256 (and ES384), listed as Stack's options list
//! them. `webauthn-rs-core` 0.6.2 parses Ed25519 keys but cannot verify them; the
//! workspace patches it (`vendor/webauthn-rs-core`, verification by `ed25519-dalek`'s
//! strict verify). User verification is required when verifying (webauthn-rs's passkey
//! policy), although the options ask for `preferred` as Stack's do.

use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::CollectedClientData;

use crate::codes;
use crate::error::{Error, PasskeyAuthenticationFailure, PasskeyRegistrationFailure, Result};
use crate::model::{OtpSignIn, User};
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::{CodePurpose, PasskeyRecord, PasskeyUse, StoreError};

/// The RP id every options object carries; Stack's SDK asserts it and replaces it with the
/// page's hostname before calling the browser.
pub const SENTINEL_RP_ID: &str = "THIS_VALUE_WILL_BE_REPLACED.example.com";
/// How long the browser is given (the options' `timeout`).
pub const CEREMONY_TIMEOUT_MILLIS: i64 = 60_000;
/// Lifetime of a ceremony's verification code: the browser's timeout and 5 seconds.
pub const CHALLENGE_LIFETIME_MILLIS: i64 = CEREMONY_TIMEOUT_MILLIS + 5_000;
/// Longest passkey name, in characters.
pub const MAX_NAME_LENGTH: usize = 100;
/// The fixed challenge of Stack's e2e mode: `MOCK`, base64url.
const MOCK_CHALLENGE: &str = "TU9DSw";
/// The user name of the options when the user has neither a display name nor an email.
const FALLBACK_USER_NAME: &str = "Stack Auth User";
/// How recently a client's session must have signed in to register a passkey without a
/// step-up token (Postern's rule; Stack has none). A passkey is a new way into the account,
/// so a token stolen from an older session must not be able to add one.
pub const FRESH_SIGN_IN_MILLIS: i64 = 5 * 60_000;

/// A started ceremony: the WebAuthn options for the browser and the code that finishes it.
#[derive(Clone, PartialEq)]
pub struct Ceremony {
    /// `PublicKeyCredentialCreationOptionsJSON` or `PublicKeyCredentialRequestOptionsJSON`,
    /// with the RP id [`SENTINEL_RP_ID`].
    pub options_json: Value,
    /// The verification code (45 characters, 65 seconds) to send back with the response.
    pub code: String,
}

impl std::fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ceremony").finish_non_exhaustive()
    }
}

/// A passkey as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyInfo {
    /// Row id.
    pub id: Uuid,
    /// The name the user gave it.
    pub name: Option<String>,
    /// The credential id, base64url (Stack's `user_handle`).
    pub credential_id: String,
    /// COSE algorithm of its key (-7 ES256, -257 RS256).
    pub algorithm: i32,
    /// Transports the authenticator reported.
    pub transports: Vec<String>,
    /// It may be synced between devices (a multi-device passkey).
    pub backup_eligible: bool,
    /// It is backed up or synced now.
    pub backup_state: bool,
    /// Registration time, epoch milliseconds.
    pub created_at_millis: i64,
    /// Last sign-in, epoch milliseconds.
    pub last_used_at_millis: Option<i64>,
}

impl From<&PasskeyRecord> for PasskeyInfo {
    fn from(r: &PasskeyRecord) -> Self {
        PasskeyInfo {
            id: r.id,
            name: r.name.clone(),
            credential_id: r.credential_id.clone(),
            algorithm: r.algorithm,
            transports: r.transports.clone(),
            backup_eligible: r.backup_eligible,
            backup_state: r.backup_state,
            created_at_millis: r.created_at_millis,
            last_used_at_millis: r.last_used_at_millis,
        }
    }
}

/// Passkey operations; from [`Postern::passkeys`].
#[derive(Debug, Clone, Copy)]
pub struct Passkeys<'a> {
    p: &'a Postern,
}

impl Postern {
    /// Passkeys (WebAuthn).
    pub fn passkeys(&self) -> Passkeys<'_> {
        Passkeys { p: self }
    }
}

fn enabled(project: &Project) -> Result<()> {
    if project.config.auth.passkey.allow_sign_in {
        Ok(())
    } else {
        Err(Error::PasskeyAuthenticationNotEnabled)
    }
}

fn internal(what: &str) -> impl FnOnce(serde_json::Error) -> Error + '_ {
    move |e| Error::Internal(format!("{what}: {e}"))
}

/// base64url without padding, as browsers encode credential ids.
fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url with or without padding.
fn from_b64url(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).ok()
}

/// A relying party for one origin, with the RP id of its host; `None` when webauthn-rs
/// refuses the pair (an IP address has no RP id).
fn relying_party(origin: &Url, rp_name: &str) -> Option<Webauthn> {
    let rp_id = origin.domain()?;
    WebauthnBuilder::new(rp_id, origin)
        .ok()?
        .rp_name(rp_name)
        .timeout(Duration::from_millis(CEREMONY_TIMEOUT_MILLIS as u64))
        .build()
        .ok()
}

/// The relying party that starts ceremonies: the sentinel RP id (the state it produces
/// holds no RP id or origin; the finishing one is built for the response's origin).
fn starting_party(rp_name: &str) -> Result<Webauthn> {
    let origin = Url::parse(&format!("https://{SENTINEL_RP_ID}"))
        .map_err(|e| Error::Internal(format!("sentinel origin: {e}")))?;
    relying_party(&origin, rp_name)
        .ok_or_else(|| Error::Internal("webauthn-rs refused the sentinel relying party".into()))
}

/// The serialized state of a ceremony and its challenge (base64url). With `fixed`, the
/// challenge is replaced by `MOCK` first (Stack's e2e mode); the state is then read back,
/// so a change of webauthn-rs's format fails loudly here rather than at the finish.
fn ceremony_state<T: Serialize + DeserializeOwned>(
    state: &T,
    fixed: bool,
) -> Result<(Value, String)> {
    let mut v = serde_json::to_value(state).map_err(internal("serializing a ceremony"))?;
    let inner = v
        .as_object_mut()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.values_mut().next())
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::Internal("unexpected webauthn-rs state shape".into()))?;
    if fixed {
        inner.insert("challenge".into(), Value::String(MOCK_CHALLENGE.into()));
    }
    let challenge = inner
        .get("challenge")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Internal("webauthn-rs state without a challenge".into()))?
        .to_owned();
    if fixed {
        serde_json::from_value::<T>(v.clone())
            .map_err(internal("reading a fixed-challenge state"))?;
    }
    Ok((v, challenge))
}

/// Lets a registration accept Ed25519 (EdDSA) credentials, which webauthn-rs's passkey
/// defaults leave out (ES256, ES384, RS256): the options already list EdDSA first, as
/// Stack's do, and the vendored webauthn-rs-core verifies Ed25519 signatures
/// (`vendor/webauthn-rs-core/POSTERN-PATCH.md`).
fn allow_eddsa(state: &mut Value) -> Result<()> {
    let eddsa = serde_json::to_value(webauthn_rs_proto::COSEAlgorithm::EDDSA)
        .map_err(internal("serializing an algorithm"))?;
    let algs = state
        .as_object_mut()
        .and_then(|o| o.values_mut().next())
        .and_then(|inner| inner.get_mut("credential_algorithms"))
        .and_then(Value::as_array_mut)
        .ok_or_else(|| Error::Internal("webauthn-rs state without algorithms".into()))?;
    if !algs.contains(&eddsa) {
        algs.push(eddsa);
    }
    serde_json::from_value::<PasskeyRegistration>(state.clone())
        .map_err(internal("reading a registration state"))?;
    Ok(())
}

/// The origin a browser wrote into `clientDataJSON`.
fn client_origin(client_data_json: &[u8]) -> Option<Url> {
    serde_json::from_slice::<CollectedClientData>(client_data_json)
        .ok()
        .map(|c| c.origin)
}

/// What the stored credential says about counter, backups and transports (webauthn-rs
/// exposes them only through its serialized form).
struct CredentialFacts {
    counter: i64,
    backup_eligible: bool,
    backup_state: bool,
}

fn facts(passkey: &Passkey) -> Result<(String, CredentialFacts)> {
    let v = serde_json::to_value(passkey).map_err(internal("serializing a passkey"))?;
    let cred = &v["cred"];
    let facts = CredentialFacts {
        counter: cred["counter"].as_i64().unwrap_or(0),
        backup_eligible: cred["backup_eligible"].as_bool().unwrap_or(false),
        backup_state: cred["backup_state"].as_bool().unwrap_or(false),
    };
    let text = serde_json::to_string(&v).map_err(internal("serializing a passkey"))?;
    Ok((text, facts))
}

/// A name as given: trimmed, empty meaning none, at most [`MAX_NAME_LENGTH`] characters
/// (`None` when too long).
pub fn normalize_name(name: &str) -> Option<Option<String>> {
    let name = name.trim();
    if name.chars().count() > MAX_NAME_LENGTH {
        None
    } else if name.is_empty() {
        Some(None)
    } else {
        Some(Some(name.to_owned()))
    }
}

impl Passkeys<'_> {
    /// [`Passkeys::begin_registration`] for `caller`. A client needs a session that signed
    /// in within [`FRESH_SIGN_IN_MILLIS`], or a step-up token (password, TOTP or mailed
    /// code), which this spends; otherwise `STEP_UP_REQUIRED`. A trusted caller needs
    /// neither.
    pub async fn begin_registration_as(
        &self,
        caller: crate::step_up::Caller<'_>,
        project: &Project,
        user_id: Uuid,
    ) -> Result<Ceremony> {
        use crate::step_up::{self, Caller};
        if let Caller::Client { session_id, .. } = &caller {
            let store = &self.p.inner.store;
            let now = self.p.inner.clock.now_millis();
            let fresh = match session_id {
                Some(id) => store
                    .sessions()
                    .get(&project.id, *id)
                    .await?
                    .is_some_and(|s| {
                        s.user_id == user_id && now - s.created_at_millis <= FRESH_SIGN_IN_MILLIS
                    }),
                None => false,
            };
            if !fresh {
                let (rec, channels) = crate::model::load(&**store, &project.id, user_id)
                    .await?
                    .ok_or(Error::UserNotFound)?;
                let token = step_up::require_for(
                    self.p,
                    project,
                    caller,
                    &rec,
                    &channels,
                    step_up::CHANNEL_PROOFS,
                )
                .await?;
                step_up::spend(self.p, &**store, token.as_ref()).await?;
            }
        }
        self.begin_registration(project, user_id).await
    }

    /// Starts registering a passkey for `user_id` (`initiate-passkey-registration`).
    pub async fn begin_registration(&self, project: &Project, user_id: Uuid) -> Result<Ceremony> {
        enabled(project)?;
        let store = &self.p.inner.store;
        let (rec, channels) = crate::model::load(&**store, &project.id, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        let user = User::from_parts(&rec, &channels, &project.config);
        let name = user
            .display_name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| user.primary_email.clone())
            .unwrap_or_else(|| FALLBACK_USER_NAME.to_owned());
        // Several passkeys: the browser is told which authenticators already have one.
        let existing = if project.config.auth.passkey.allow_multiple_per_user {
            store.passkeys().list_for_user(&project.id, user_id).await?
        } else {
            Vec::new()
        };
        let exclude: Vec<Vec<u8>> = existing
            .iter()
            .filter_map(|p| from_b64url(&p.credential_id))
            .collect();
        let party = starting_party(&project.display_name)?;
        let (_, state) = party
            .start_passkey_registration(user_id, &name, &name, Some(exclude))
            .map_err(|e| Error::Internal(format!("starting a passkey registration: {e:?}")))?;
        let (mut state, challenge) =
            ceremony_state::<PasskeyRegistration>(&state, self.p.inner.fixed_passkey_challenge)?;
        allow_eddsa(&mut state)?;
        let user_handle = b64url(user_id.to_string().as_bytes());
        let exclude_json: Vec<Value> = existing
            .iter()
            .map(|p| json!({ "id": p.credential_id, "type": "public-key", "transports": p.transports }))
            .collect();
        let options_json = json!({
            "challenge": challenge,
            "rp": { "name": project.display_name, "id": SENTINEL_RP_ID },
            "user": { "id": user_handle, "name": name, "displayName": name },
            "pubKeyCredParams": [
                { "alg": -8, "type": "public-key" },
                { "alg": -7, "type": "public-key" },
                { "alg": -257, "type": "public-key" },
            ],
            "timeout": CEREMONY_TIMEOUT_MILLIS,
            "attestation": "none",
            "excludeCredentials": exclude_json,
            "authenticatorSelection": {
                "residentKey": "required",
                "userVerification": "preferred",
                "requireResidentKey": true,
            },
            "extensions": { "credProps": true },
        });
        let (code, record) = codes::new_code(
            &project.id,
            CodePurpose::PasskeyRegistrationChallenge,
            Some(user_id),
            json!({ "challenge": challenge, "userHandle": user_handle, "state": state }),
            self.p.inner.clock.now_millis(),
            CHALLENGE_LIFETIME_MILLIS,
        );
        store.codes().insert(&record).await?;
        Ok(Ceremony { options_json, code })
    }

    /// Finishes a registration (`register`): `credential` is the browser's
    /// `RegistrationResponseJSON`. The code must come from [`Passkeys::begin_registration`]
    /// for the same user, and is used up whatever happens next. Returns the new passkey;
    /// without `auth.passkey.allowMultiplePerUser` it replaces the user's other one.
    pub async fn register(
        &self,
        project: &Project,
        user_id: Uuid,
        code: &str,
        credential: &Value,
        name: Option<&str>,
    ) -> Result<PasskeyInfo> {
        use PasskeyRegistrationFailure::{InvalidResponse, OriginNotAllowed};
        let failed = Error::PasskeyRegistrationFailed;
        let record = codes::check(
            self.p,
            project,
            CodePurpose::PasskeyRegistrationChallenge,
            code,
        )
        .await?;
        if record.user_id != Some(user_id) {
            // A challenge is its requester's (Stack lets anyone signed in finish it).
            return Err(Error::VerificationCodeNotFound);
        }
        let store = &self.p.inner.store;
        codes::consume(self.p, &**store, &record).await?;
        enabled(project)?;
        let state: PasskeyRegistration = serde_json::from_value(record.data["state"].clone())
            .map_err(internal("reading a registration state"))?;
        let reg: RegisterPublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| failed(InvalidResponse))?;
        let origin =
            client_origin(&reg.response.client_data_json).ok_or(failed(InvalidResponse))?;
        if !self.p.redirect_allowed(project, origin.as_str()) {
            return Err(failed(OriginNotAllowed));
        }
        let party = relying_party(&origin, &project.display_name).ok_or(failed(InvalidResponse))?;
        let passkey = party
            .finish_passkey_registration(&reg, &state)
            .map_err(|e| {
                tracing::debug!(project = %project.id, error = ?e, "a passkey registration did not verify");
                failed(InvalidResponse)
            })?;
        let credential_id = b64url(passkey.cred_id());
        let algorithm = *passkey.cred_algorithm() as i32;
        let (credential_json, facts) = facts(&passkey)?;
        let transports: Vec<String> = reg
            .response
            .transports
            .iter()
            .flatten()
            .filter_map(|t| serde_json::to_value(t).ok()?.as_str().map(str::to_owned))
            .filter(|t| t != "unknown")
            .collect();
        let now = self.p.inner.clock.now_millis();
        let row = PasskeyRecord {
            project_id: project.id.clone(),
            id: Uuid::now_v7(),
            user_id,
            credential_id,
            name: name.map(str::to_owned),
            credential: credential_json,
            algorithm,
            counter: facts.counter,
            transports,
            backup_eligible: facts.backup_eligible,
            backup_state: facts.backup_state,
            created_at_millis: now,
            last_used_at_millis: None,
        };
        let tx = store.begin().await?;
        let mut replaced = 0;
        if let Some(same) = tx
            .passkeys()
            .find_by_credential_id(&project.id, &row.credential_id)
            .await?
        {
            if same.user_id != user_id {
                // The credential signs another account in: never move it.
                return Err(failed(InvalidResponse));
            }
            // The same authenticator registered again: the new registration replaces it.
            replaced += u64::from(tx.passkeys().delete(&project.id, same.id).await?);
        }
        if !project.config.auth.passkey.allow_multiple_per_user {
            replaced += tx.passkeys().delete_for_user(&project.id, user_id).await?;
        }
        tx.passkeys().insert(&row).await.map_err(|e| match e {
            StoreError::Conflict(_) => failed(InvalidResponse),
            StoreError::MissingReference(_) => Error::UserNotFound,
            e => e.into(),
        })?;
        crate::audit::record(
            self.p,
            &*tx,
            &project.id,
            "passkey.registered",
            Some(user_id),
            json!({ "passkey_id": row.id, "replaced": replaced }),
        )
        .await?;
        tx.commit().await?;
        Ok(PasskeyInfo::from(&row))
    }

    /// Starts a usernameless sign-in (`initiate-passkey-authentication`).
    pub async fn begin_authentication(&self, project: &Project) -> Result<Ceremony> {
        enabled(project)?;
        let party = starting_party(&project.display_name)?;
        let (_, state) = party
            .start_discoverable_authentication()
            .map_err(|e| Error::Internal(format!("starting a passkey sign-in: {e:?}")))?;
        let (state, challenge) = ceremony_state::<DiscoverableAuthentication>(
            &state,
            self.p.inner.fixed_passkey_challenge,
        )?;
        let options_json = json!({
            "challenge": challenge,
            "timeout": CEREMONY_TIMEOUT_MILLIS,
            "rpId": SENTINEL_RP_ID,
            "allowCredentials": [],
            "userVerification": "preferred",
        });
        let (code, record) = codes::new_code(
            &project.id,
            CodePurpose::PasskeyAuthenticationChallenge,
            None,
            json!({ "challenge": challenge, "state": state }),
            self.p.inner.clock.now_millis(),
            CHALLENGE_LIFETIME_MILLIS,
        );
        self.p.inner.store.codes().insert(&record).await?;
        Ok(Ceremony { options_json, code })
    }

    /// Signs in with a passkey (`sign-in`): `response` is the browser's
    /// `AuthenticationResponseJSON`. The code is used up whatever happens next. A user with
    /// TOTP gets `MULTI_FACTOR_AUTHENTICATION_REQUIRED` instead of a session.
    pub async fn sign_in(
        &self,
        project: &Project,
        code: &str,
        response: &Value,
    ) -> Result<OtpSignIn> {
        use PasskeyAuthenticationFailure::{InvalidSignature, NotFound, OriginNotAllowed};
        let failed = Error::PasskeyAuthenticationFailed;
        let record = codes::check(
            self.p,
            project,
            CodePurpose::PasskeyAuthenticationChallenge,
            code,
        )
        .await?;
        let store = &self.p.inner.store;
        codes::consume(self.p, &**store, &record).await?;
        enabled(project)?;
        let credential_id = response
            .get("id")
            .and_then(Value::as_str)
            .and_then(from_b64url)
            .map(|id| b64url(&id))
            .ok_or(failed(NotFound))?;
        let row = store
            .passkeys()
            .find_by_credential_id(&project.id, &credential_id)
            .await?
            .ok_or(failed(NotFound))?;
        let assertion: PublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|_| failed(InvalidSignature))?;
        let origin =
            client_origin(&assertion.response.client_data_json).ok_or(failed(InvalidSignature))?;
        if !self.p.redirect_allowed(project, origin.as_str()) {
            return Err(failed(OriginNotAllowed));
        }
        let party =
            relying_party(&origin, &project.display_name).ok_or(failed(InvalidSignature))?;
        let state: DiscoverableAuthentication =
            serde_json::from_value(record.data["state"].clone())
                .map_err(internal("reading a sign-in state"))?;
        let mut passkey: Passkey =
            serde_json::from_str(&row.credential).map_err(internal("reading a stored passkey"))?;
        let result = match party.finish_discoverable_authentication_v2(&assertion, state, &passkey)
        {
            Ok(r) => r,
            Err(e) => {
                let reason = if matches!(e, WebauthnError::CredentialPossibleCompromise) {
                    "possible_clone"
                } else {
                    tracing::debug!(project = %project.id, error = ?e, "a passkey assertion did not verify");
                    "invalid_assertion"
                };
                crate::audit::record(
                    self.p,
                    &**store,
                    &project.id,
                    "sign_in.failed",
                    Some(row.user_id),
                    json!({ "method": "passkey", "reason": reason, "passkey_id": row.id }),
                )
                .await?;
                return Err(failed(InvalidSignature));
            }
        };
        passkey.update_credential(&result);
        let (credential_json, facts) = facts(&passkey)?;
        let now = self.p.inner.clock.now_millis();
        let used = PasskeyUse {
            expected_counter: row.counter,
            counter: facts.counter,
            credential: credential_json,
            backup_eligible: facts.backup_eligible,
            backup_state: facts.backup_state,
            at_millis: now,
        };
        let tx = store.begin().await?;
        if !tx.passkeys().record_use(&project.id, row.id, &used).await? {
            // Another sign-in moved the counter first, or the passkey was deleted meanwhile.
            return Err(failed(InvalidSignature));
        }
        let (rec, channels) = crate::model::load(&*tx, &project.id, row.user_id)
            .await?
            .ok_or(failed(NotFound))?;
        if rec.totp_secret.is_some() {
            tx.commit().await?;
            return Err(crate::auth::second_factor_required(self.p, project, &rec, None).await);
        }
        let opened = crate::auth::session::open(
            self.p,
            &*tx,
            &project.id,
            rec.id,
            crate::auth::session::Opening::SignIn("passkey"),
        )
        .await?;
        tx.commit().await?;
        let mut user = User::from_parts(&rec, &channels, &project.config);
        user.last_active_at_millis = now;
        Ok(OtpSignIn {
            signed_in: opened.tokens(self.p, project, &user)?,
            is_new_user: false,
        })
    }

    /// The user's passkeys, oldest first.
    pub async fn list(&self, project: &Project, user_id: Uuid) -> Result<Vec<PasskeyInfo>> {
        Ok(self
            .p
            .inner
            .store
            .passkeys()
            .list_for_user(&project.id, user_id)
            .await?
            .iter()
            .map(PasskeyInfo::from)
            .collect())
    }

    async fn own(&self, project: &Project, user_id: Uuid, id: Uuid) -> Result<PasskeyRecord> {
        self.p
            .inner
            .store
            .passkeys()
            .get(&project.id, id)
            .await?
            .filter(|p| p.user_id == user_id)
            .ok_or(Error::PasskeyNotFound(id))
    }

    /// Names one of the user's passkeys (`None` clears the name; see [`normalize_name`]).
    pub async fn rename(
        &self,
        project: &Project,
        user_id: Uuid,
        id: Uuid,
        name: Option<&str>,
    ) -> Result<PasskeyInfo> {
        let mut row = self.own(project, user_id, id).await?;
        if !self
            .p
            .inner
            .store
            .passkeys()
            .rename(&project.id, id, name)
            .await?
        {
            return Err(Error::PasskeyNotFound(id));
        }
        row.name = name.map(str::to_owned);
        Ok(PasskeyInfo::from(&row))
    }

    /// Deletes one of the user's passkeys.
    pub async fn delete(&self, project: &Project, user_id: Uuid, id: Uuid) -> Result<()> {
        self.own(project, user_id, id).await?;
        let tx = self.p.inner.store.begin().await?;
        if !tx.passkeys().delete(&project.id, id).await? {
            return Err(Error::PasskeyNotFound(id));
        }
        crate::audit::record(
            self.p,
            &*tx,
            &project.id,
            "passkey.deleted",
            Some(user_id),
            json!({ "passkey_id": id }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_base64url() {
        assert_eq!(from_b64url("TU9DSw").unwrap(), b"MOCK");
        assert_eq!(from_b64url("TU9DSw==").unwrap(), b"MOCK");
        assert!(from_b64url("TU9D+w").is_none(), "standard alphabet refused");
        assert_eq!(b64url(b"MOCK"), MOCK_CHALLENGE);
    }

    #[test]
    fn names() {
        assert_eq!(normalize_name("  Laptop "), Some(Some("Laptop".into())));
        assert_eq!(normalize_name("   "), Some(None));
        assert_eq!(
            normalize_name(&"é".repeat(MAX_NAME_LENGTH))
                .unwrap()
                .unwrap()
                .chars()
                .count(),
            MAX_NAME_LENGTH
        );
        assert_eq!(normalize_name(&"x".repeat(MAX_NAME_LENGTH + 1)), None);
    }

    #[test]
    fn the_fixed_challenge_replaces_the_random_one() {
        let party = starting_party("P").unwrap();
        let (_, st) = party.start_discoverable_authentication().unwrap();
        let (v, challenge) = ceremony_state::<DiscoverableAuthentication>(&st, false).unwrap();
        assert_ne!(challenge, MOCK_CHALLENGE);
        assert_eq!(v["ast"]["challenge"], challenge);
        let (v, challenge) = ceremony_state::<DiscoverableAuthentication>(&st, true).unwrap();
        assert_eq!(challenge, MOCK_CHALLENGE);
        assert_eq!(v["ast"]["challenge"], MOCK_CHALLENGE);
        let (_, st) = party
            .start_passkey_registration(Uuid::new_v4(), "a", "a", None)
            .unwrap();
        let (v, challenge) = ceremony_state::<PasskeyRegistration>(&st, true).unwrap();
        assert_eq!(
            (challenge.as_str(), &v["rs"]["challenge"]),
            (MOCK_CHALLENGE, &json!(MOCK_CHALLENGE))
        );
    }

    #[test]
    fn relying_parties_need_a_domain() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(relying_party(&url("http://localhost:8103"), "P").is_some());
        assert!(relying_party(&url("https://app.example.com"), "P").is_some());
        assert!(relying_party(&url("http://127.0.0.1:3000"), "P").is_none());
        assert!(relying_party(&url("http://[::1]:3000"), "P").is_none());
    }
}

/// Stack's recorded browser credentials (its e2e suite: challenge `MOCK`, origin
/// `http://localhost:8103`) verify against states with the fixed challenge.
#[cfg(test)]
mod recorded {
    use super::*;

    pub(crate) fn registration() -> Value {
        json!({
            "id": "BBYYB_DKzPZHm1o6ILGo6Sk_cBc",
            "rawId": "BBYYB_DKzPZHm1o6ILGo6Sk_cBc",
            "response": {
                "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YViYSZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NdAAAAAAAAAAAAAAAAAAAAAAAAAAAAFAQWGAfwysz2R5taOiCxqOkpP3AXpQECAyYgASFYIO7JJihe93CDhZOPFp9pVefZyBvy62JMjSs47id1q0vpIlggNMjLAQG7ESYqRZsBQbX07WWIImEzYFDsJgBOSYiQZL8",
                "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiVFU5RFN3Iiwib3JpZ2luIjoiaHR0cDovL2xvY2FsaG9zdDo4MTAzIiwiY3Jvc3NPcmlnaW4iOmZhbHNlfQ",
                "transports": ["hybrid", "internal"],
                "publicKeyAlgorithm": -7,
                "publicKey": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE7skmKF73cIOFk48Wn2lV59nIG_LrYkyNKzjuJ3WrS-k0yMsBAbsRJipFmwFBtfTtZYgiYTNgUOwmAE5JiJBkvw",
                "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NdAAAAAAAAAAAAAAAAAAAAAAAAAAAAFAQWGAfwysz2R5taOiCxqOkpP3AXpQECAyYgASFYIO7JJihe93CDhZOPFp9pVefZyBvy62JMjSs47id1q0vpIlggNMjLAQG7ESYqRZsBQbX07WWIImEzYFDsJgBOSYiQZL8"
            },
            "type": "public-key",
            "clientExtensionResults": { "credProps": { "rk": true } },
            "authenticatorAttachment": "platform"
        })
    }

    pub(crate) fn assertion() -> Value {
        json!({
            "id": "BBYYB_DKzPZHm1o6ILGo6Sk_cBc",
            "rawId": "BBYYB_DKzPZHm1o6ILGo6Sk_cBc",
            "response": {
                "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MdAAAAAA",
                "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiVFU5RFN3Iiwib3JpZ2luIjoiaHR0cDovL2xvY2FsaG9zdDo4MTAzIiwiY3Jvc3NPcmlnaW4iOmZhbHNlLCJvdGhlcl9rZXlzX2Nhbl9iZV9hZGRlZF9oZXJlIjoiZG8gbm90IGNvbXBhcmUgY2xpZW50RGF0YUpTT04gYWdhaW5zdCBhIHRlbXBsYXRlLiBTZWUgaHR0cHM6Ly9nb28uZ2wveWFiUGV4In0",
                "signature": "MEUCIQDPFYXxm-ALPZVuP4YdXBr1INrfObXR6hukxTttYNnegAIgEfy5MlnIi10VwmilOmuT1TuuDBLw9GDSv9DQuIRZXRE",
                "userHandle": "YzE3YzJjNjMtMTkxZi00MWZmLTlkNjEtYzBjOGVlMmVlMGQ0"
            },
            "type": "public-key",
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform"
        })
    }

    #[test]
    fn stacks_recorded_ceremonies_verify_with_the_fixed_challenge() {
        let start = starting_party("New Project").unwrap();
        let (_, st) = start
            .start_passkey_registration(Uuid::new_v4(), "a", "a", Some(Vec::new()))
            .unwrap();
        let (v, _) = ceremony_state::<PasskeyRegistration>(&st, true).unwrap();
        let st: PasskeyRegistration = serde_json::from_value(v).unwrap();
        let reg: RegisterPublicKeyCredential = serde_json::from_value(registration()).unwrap();
        let origin = client_origin(&reg.response.client_data_json).unwrap();
        assert_eq!(origin.as_str(), "http://localhost:8103/");
        let party = relying_party(&origin, "New Project").unwrap();
        let passkey = party.finish_passkey_registration(&reg, &st).unwrap();
        assert_eq!(b64url(passkey.cred_id()), "BBYYB_DKzPZHm1o6ILGo6Sk_cBc");
        assert_eq!(*passkey.cred_algorithm() as i32, -7);
        let (_, f) = facts(&passkey).unwrap();
        assert_eq!(
            (f.counter, f.backup_eligible, f.backup_state),
            (0, true, true)
        );

        // A random challenge does not verify the same response.
        let (_, random) = start
            .start_passkey_registration(Uuid::new_v4(), "a", "a", None)
            .unwrap();
        assert!(party.finish_passkey_registration(&reg, &random).is_err());

        let (_, st) = start.start_discoverable_authentication().unwrap();
        let (v, _) = ceremony_state::<DiscoverableAuthentication>(&st, true).unwrap();
        let st: DiscoverableAuthentication = serde_json::from_value(v).unwrap();
        let assertion: PublicKeyCredential = serde_json::from_value(assertion()).unwrap();
        let res = party
            .finish_discoverable_authentication_v2(&assertion, st, &passkey)
            .unwrap();
        assert!(res.user_verified());
        let (_, st) = start.start_discoverable_authentication().unwrap();
        assert!(
            party
                .finish_discoverable_authentication_v2(&assertion, st, &passkey)
                .is_err(),
            "a random challenge"
        );
    }
}

/// Arbitrary bytes where a browser puts CBOR and authenticator data: webauthn-rs answers
/// with an error, never a panic (a handler panic would be a 500).
#[cfg(test)]
mod hostile {
    use super::*;
    use proptest::prelude::*;

    fn client_data(kind: &str) -> String {
        b64url(
            json!({ "type": kind, "challenge": MOCK_CHALLENGE, "origin": "http://localhost:8103" })
                .to_string()
                .as_bytes(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn registrations(attestation in proptest::collection::vec(any::<u8>(), 0..600), cbor_map in any::<bool>()) {
            let mut attestation = attestation;
            if cbor_map && !attestation.is_empty() {
                attestation[0] = 0xa3; // a CBOR map of three entries, to get past the first byte
            }
            let start = starting_party("P").unwrap();
            let (_, st) = start.start_passkey_registration(Uuid::new_v4(), "a", "a", None).unwrap();
            let (v, _) = ceremony_state::<PasskeyRegistration>(&st, true).unwrap();
            let st: PasskeyRegistration = serde_json::from_value(v).unwrap();
            let reg = json!({
                "id": "AA", "rawId": "AA", "type": "public-key",
                "response": { "attestationObject": b64url(&attestation), "clientDataJSON": client_data("webauthn.create") },
            });
            let reg: RegisterPublicKeyCredential = serde_json::from_value(reg).unwrap();
            let party = relying_party(&Url::parse("http://localhost:8103").unwrap(), "P").unwrap();
            prop_assert!(party.finish_passkey_registration(&reg, &st).is_err());
        }

        #[test]
        fn assertions(auth_data in proptest::collection::vec(any::<u8>(), 0..300), signature in proptest::collection::vec(any::<u8>(), 0..100)) {
            let start = starting_party("P").unwrap();
            let (_, st) = start.start_passkey_registration(Uuid::new_v4(), "a", "a", None).unwrap();
            let (v, _) = ceremony_state::<PasskeyRegistration>(&st, true).unwrap();
            let st: PasskeyRegistration = serde_json::from_value(v).unwrap();
            let reg: RegisterPublicKeyCredential = serde_json::from_value(recorded::registration()).unwrap();
            let party = relying_party(&Url::parse("http://localhost:8103").unwrap(), "P").unwrap();
            let passkey = party.finish_passkey_registration(&reg, &st).unwrap();
            let (_, st) = start.start_discoverable_authentication().unwrap();
            let (v, _) = ceremony_state::<DiscoverableAuthentication>(&st, true).unwrap();
            let st: DiscoverableAuthentication = serde_json::from_value(v).unwrap();
            let mut a = recorded::assertion();
            let mut auth_data = auth_data;
            if auth_data.len() >= 37 {
                // The right RP id hash, so the flags, counter and extensions get parsed.
                let real = from_b64url(a["response"]["authenticatorData"].as_str().unwrap()).unwrap();
                auth_data[..32].copy_from_slice(&real[..32]);
            }
            a["response"]["authenticatorData"] = json!(b64url(&auth_data));
            a["response"]["signature"] = json!(b64url(&signature));
            let a: PublicKeyCredential = serde_json::from_value(a).unwrap();
            prop_assert!(party.finish_discoverable_authentication_v2(&a, st, &passkey).is_err());
        }
    }
}
