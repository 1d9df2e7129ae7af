//! OAuth social sign-in (contract: `rest-oauth.md`): Postern is an OAuth client towards the
//! providers ("inner" OAuth) and an OAuth server towards the app's SDK ("outer" OAuth).
//!
//! 1. [`OAuth::authorize`] keeps the app's outer parameters in a single-use flow row keyed
//!    by a fresh inner `state`, and sends the browser to the provider with that state and
//!    an inner PKCE challenge.
//! 2. [`OAuth::callback`] takes the provider's answer: the flow row is used up at once, the
//!    provider's code is exchanged (its ID token verified for OpenID Connect providers),
//!    the user is found, linked or created through the sign-up pipeline, the provider's
//!    tokens are stored sealed, and a 5-minute outer authorization code goes back to the
//!    app.
//! 3. [`OAuth::exchange_code`] trades that code (PKCE-checked, single use) for a session.
//!
//! Secrets at rest: flow rows and outer codes are stored as hashes in the verification-code
//! table (the inner PKCE verifier and the publishable key inside a flow row are sealed);
//! provider access and refresh tokens are sealed with a key derived from the server secret.

mod accounts;
mod provider;

pub use accounts::{NewProviderAccount, ProviderAccount, ProviderAccountPatch};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::{Error, Refusal, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::secrets::{hash_secret, random_crockford};
use crate::storage::{
    ChannelKind, CodePurpose, ContactChannelRecord, OAuthAccountRecord, OAuthTokenKind,
    OAuthTokenRecord, Repos, UserRecord, VerificationCodeRecord,
};

pub(crate) use provider::OAuthSettings;
pub use provider::PROVIDER_TYPES;
use provider::{Configured, Grant, Identity, Provider, configured};

/// Lifetime of a sign-in at the provider: 10 minutes.
pub const FLOW_MILLIS: i64 = 10 * 60 * 1000;
/// Lifetime of an outer authorization code: 5 minutes.
pub const CODE_MILLIS: i64 = 5 * 60 * 1000;
/// Name prefix of the cookie that binds a redirect-mode sign-in to the browser.
pub const INNER_COOKIE_PREFIX: &str = "stack-oauth-inner-";
/// The scheme of native-app callback URLs, accepted for every project (as Stack).
pub const NATIVE_APP_SCHEME: &str = "stack-auth-mobile-oauth-url:";
/// The publishable-key sentinel of keyless client access.
const PUBLIC_CLIENT_SENTINEL: &str = "__stack_public_client__";

/// An app's `GET /auth/oauth/authorize/{provider}`.
#[derive(Clone, Default)]
pub struct AuthorizeRequest {
    /// The provider's config id.
    pub provider_config_id: String,
    /// `<project id>` or `<project id>#<branch id>`.
    pub client_id: String,
    /// A publishable client key, or the keyless sentinel.
    pub client_secret: String,
    /// The app's callback.
    pub redirect_uri: String,
    /// Must be `legacy` (checked at the callback).
    pub scope: String,
    /// The app's state, echoed on the way back.
    pub state: String,
    /// The app's PKCE challenge (may be empty: no PKCE).
    pub code_challenge: String,
    /// `S256` or `plain`.
    pub code_challenge_method: String,
    /// Must be `code`.
    pub response_type: String,
    /// Link the provider account to the token's user instead of signing in.
    pub link: bool,
    /// The current user's access token (anonymous users included), if any.
    pub token: Option<String>,
    /// Extra provider scopes.
    pub provider_scope: Option<String>,
    /// Where callback errors go when `redirect_uri` is not trusted.
    pub error_redirect_url: Option<String>,
    /// Echoed by the token endpoint.
    pub after_callback_redirect_url: Option<String>,
    /// Answer `{location}` instead of redirecting (no browser cookie).
    pub json_mode: bool,
}

impl std::fmt::Debug for AuthorizeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizeRequest")
            .field("provider_config_id", &self.provider_config_id)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

/// Where to send the browser, and the flow's inner state (the cookie's name suffix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    /// The provider's authorization URL.
    pub location: String,
    /// The inner state.
    pub inner_state: String,
}

/// What the provider sent to the callback (query and form body together).
#[derive(Debug, Clone, Default)]
pub struct CallbackParams {
    /// The inner state.
    pub state: Option<String>,
    /// The provider's authorization code.
    pub code: Option<String>,
    /// The provider's error, if it refused.
    pub error: Option<String>,
    /// The provider's issuer (RFC 9207).
    pub iss: Option<String>,
}

/// The callback's result.
#[derive(Debug)]
pub struct CallbackOutcome {
    /// In redirect mode, the inner state whose cookie every answer deletes.
    pub clear_cookie: Option<String>,
    /// Where to send the browser (with `code` and `state`), or what went wrong.
    pub result: std::result::Result<String, CallbackError>,
}

/// A failed callback: the error and, for a known error, the trusted URL to deliver it to.
#[derive(Debug)]
pub struct CallbackError {
    /// The error.
    pub error: Error,
    /// The app URL to redirect the error to, when one is trusted.
    pub redirect_to: Option<String>,
}

/// A successful code exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeExchange {
    /// The new session's tokens.
    pub signed_in: crate::model::SignedIn,
    /// The account was created by this sign-in.
    pub is_new_user: bool,
    /// The app's `after_callback_redirect_url`.
    pub after_callback_redirect_url: Option<String>,
}

/// OAuth sign-in; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct OAuth<'a> {
    p: &'a Postern,
}

impl Postern {
    /// OAuth social sign-in.
    pub fn oauth(&self) -> OAuth<'_> {
        OAuth { p: self }
    }
}

/// The type of the project's provider `config_id`, if it configures one.
pub(crate) fn provider_kind(p: &Postern, project: &Project, config_id: &str) -> Option<String> {
    configured(p, project, config_id).map(|c| c.kind)
}

/// Whether `url` may receive the app's redirects: trusted by the project, or a native app's.
pub(crate) fn redirect_trusted(p: &Postern, project: &Project, url: &str) -> bool {
    url.starts_with(NATIVE_APP_SCHEME) || p.redirect_allowed(project, url)
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

fn unb64(s: &str) -> Option<String> {
    use base64::Engine as _;
    String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()?,
    )
    .ok()
}

/// S256 of a PKCE verifier, base64url without padding.
fn s256(verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// Appends (or replaces) query parameters of `url`, keeping the others and the fragment.
pub(crate) fn with_query(url: &str, set: &[(&str, &str)]) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| !set.iter().any(|(s, _)| s == k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        for (k, v) in set {
            q.append_pair(k, v);
        }
    }
    u.to_string()
}

impl OAuth<'_> {
    fn seal(&self, aad: &str, plain: &str) -> Result<String> {
        let key = self
            .p
            .inner
            .oauth_keys
            .first()
            .ok_or_else(|| Error::Internal("no key".into()))?;
        crate::secrets::seal_text(key, aad.as_bytes(), plain)
            .ok_or_else(|| Error::Internal("sealing failed".into()))
    }

    fn open(&self, aad: &str, sealed: &str) -> Option<String> {
        crate::secrets::open_text(&self.p.inner.oauth_keys, aad.as_bytes(), sealed)
    }

    /// Checks the app's publishable key (or the keyless sentinel) for `project`.
    async fn check_client_key(&self, project: &Project, key: &str) -> Result<()> {
        let required = project.config.project.require_publishable_client_key;
        if key.is_empty() || key == PUBLIC_CLIENT_SENTINEL {
            if required {
                return Err(Error::PublishableClientKeyRequiredForProject(Some(
                    project.id.clone(),
                )));
            }
            return Ok(());
        }
        if self
            .p
            .projects()
            .check_key(&project.id, crate::storage::KeyKind::PublishableClient, key)
            .await?
        {
            Ok(())
        } else {
            Err(Error::InvalidPublishableClientKey(project.id.clone()))
        }
    }

    /// Starts a sign-in: checks the app's request (in Stack's order) and records it; returns
    /// the provider's authorization URL.
    pub async fn authorize(&self, req: AuthorizeRequest) -> Result<Authorized> {
        let p = self.p;
        let (project_id, branch) = match req.client_id.split_once('#') {
            Some((id, branch)) => (id, branch),
            None => (req.client_id.as_str(), "main"),
        };
        let invalid_client = || Error::InvalidOauthClientIdOrSecret(Some(req.client_id.clone()));
        let project = p
            .projects()
            .get(project_id)
            .await?
            .ok_or_else(invalid_client)?;
        if branch != "main" {
            return Err(invalid_client());
        }
        self.check_client_key(&project, &req.client_secret).await?;
        let conf = configured(p, &project, &req.provider_config_id)
            .ok_or(Error::OauthProviderNotFoundOrNotEnabled)?;
        if req.link && req.token.as_deref().unwrap_or_default().is_empty() {
            return Err(Error::Refused(Refusal::OauthLinkTokenRequired));
        }
        if let Some(after) = &req.after_callback_redirect_url
            && !redirect_trusted(p, &project, after)
        {
            return Err(Error::RedirectUrlNotWhitelisted);
        }
        let provider_scope = req.provider_scope.clone().filter(|s| !s.trim().is_empty());
        if provider_scope.is_some() && conf.is_shared {
            return Err(Error::OauthExtraScopeNotAvailableWithSharedOauthKeys);
        }
        let user_id = match req.token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => {
                let claims = p.sessions().verify(token).await?;
                if claims.project_id != project.id {
                    return Err(Error::Refused(Refusal::OauthTokenWrongProject));
                }
                if claims.branch_id != branch {
                    return Err(Error::Refused(Refusal::OauthTokenWrongBranch));
                }
                Some(claims.sub)
            }
            None => None,
        };
        let provider = Provider::resolve(p, &conf).await?;
        let secret = random_crockford(crate::codes::CODE_LENGTH);
        let inner_state = format!("{}.{secret}", b64(&project.id));
        let verifier = random_crockford(64);
        let scope = scopes(provider.base_scope, provider_scope.as_deref()).join(" ");
        let location = provider.authorization_url(&scope, &inner_state, &s256(&verifier));
        let now = p.inner.clock.now_millis();
        let id = Uuid::new_v4();
        let aad = id.to_string();
        let record = VerificationCodeRecord {
            project_id: project.id.clone(),
            id,
            purpose: CodePurpose::OAuthFlow,
            code_hash: hash_secret(&secret),
            nonce_hash: hash_secret(&secret),
            // In the data, not the column: the token's user may be gone (then it is no
            // user), and the column would have to name a live one.
            user_id: None,
            data: json!({
                "provider": conf.config_id,
                "link": req.link,
                "token_user_id": user_id,
                "client_key": self.seal(&aad, &req.client_secret)?,
                "verifier": self.seal(&aad, &verifier)?,
                "redirect_uri": req.redirect_uri.split('#').next().unwrap_or_default(),
                "scope": req.scope,
                "state": req.state,
                "code_challenge": req.code_challenge,
                "code_challenge_method": req.code_challenge_method,
                "response_type": req.response_type,
                "provider_scope": provider_scope,
                "error_redirect_url": req.error_redirect_url,
                "after_callback_redirect_url": req.after_callback_redirect_url,
                "json_mode": req.json_mode,
                "country_code": crate::audit::RequestMeta::current().country_code,
            }),
            created_at_millis: now,
            expires_at_millis: now + FLOW_MILLIS,
            used_at_millis: None,
            attempt_count: 0,
        };
        p.inner.store.codes().insert(&record).await?;
        Ok(Authorized {
            location,
            inner_state,
        })
    }

    /// Finishes a sign-in at the provider (see the module docs). `cookie` is the value of
    /// the flow's browser cookie, if the request carried one.
    pub async fn callback(
        &self,
        provider_in_path: &str,
        params: &CallbackParams,
        cookie: impl Fn(&str) -> Option<String>,
    ) -> CallbackOutcome {
        let plain = |e: Error, clear: Option<String>| CallbackOutcome {
            clear_cookie: clear,
            result: Err(CallbackError {
                error: e,
                redirect_to: None,
            }),
        };
        let state = params.state.clone().unwrap_or_default();
        let (project, row) = match self.find_flow(&state).await {
            Ok(found) => found,
            Err(e) => return plain(e, None),
        };
        let json_mode = row.data["json_mode"] == Value::Bool(true);
        let clear = (!json_mode).then(|| state.clone());
        if !json_mode && cookie(&format!("{INNER_COOKIE_PREFIX}{state}")).as_deref() != Some("true")
        {
            return plain(Error::Refused(Refusal::OauthCookieNotFound), clear);
        }
        // Single use: the row is spent before anything else happens.
        match self
            .p
            .inner
            .store
            .codes()
            .mark_used(&project.id, row.id, self.p.inner.clock.now_millis())
            .await
        {
            Ok(true) => {}
            Ok(false) => return plain(Error::Refused(Refusal::OauthInvalidState), clear),
            Err(e) => return plain(e.into(), clear),
        }
        let data = &row.data;
        let target = [text(data, "redirect_uri"), text(data, "error_redirect_url")]
            .into_iter()
            .flatten()
            .find(|u| redirect_trusted(self.p, &project, u));
        match self
            .finish_callback(&project, &row, provider_in_path, params)
            .await
        {
            Ok(location) => CallbackOutcome {
                clear_cookie: clear,
                result: Ok(location),
            },
            Err(error) => {
                let redirect_to = if error.code().is_some() { target } else { None };
                CallbackOutcome {
                    clear_cookie: clear,
                    result: Err(CallbackError { error, redirect_to }),
                }
            }
        }
    }

    /// The project and flow row an inner state names (used or not).
    async fn find_flow(&self, state: &str) -> Result<(Project, VerificationCodeRecord)> {
        let invalid = || Error::Refused(Refusal::OauthInvalidState);
        let (project_part, secret) = state.split_once('.').ok_or_else(invalid)?;
        let project_id = unb64(project_part).ok_or_else(invalid)?;
        if !crate::secrets::is_crockford(secret, crate::codes::CODE_LENGTH) {
            return Err(invalid());
        }
        let project = self
            .p
            .projects()
            .get(&project_id)
            .await?
            .ok_or_else(invalid)?;
        let row = self
            .p
            .inner
            .store
            .codes()
            .find_by_nonce(&project.id, CodePurpose::OAuthFlow, &hash_secret(secret))
            .await?
            .ok_or_else(invalid)?;
        if row.used_at_millis.is_some() {
            return Err(invalid());
        }
        Ok((project, row))
    }

    async fn finish_callback(
        &self,
        project: &Project,
        row: &VerificationCodeRecord,
        provider_in_path: &str,
        params: &CallbackParams,
    ) -> Result<String> {
        let p = self.p;
        let data = &row.data;
        if row.expires_at_millis <= p.inner.clock.now_millis() {
            return Err(Error::OuterOauthTimeout);
        }
        let config_id = text(data, "provider").unwrap_or_default();
        // The callback must come back on the provider the flow went to: another provider's
        // path would exchange the code with the wrong client (Stack's answer, without the
        // call).
        if provider_in_path != config_id {
            return Err(if configured(p, project, provider_in_path).is_some() {
                Error::Refused(Refusal::OauthInvalidGrant)
            } else {
                Error::OauthProviderNotFoundOrNotEnabled
            });
        }
        let conf =
            configured(p, project, &config_id).ok_or(Error::OauthProviderNotFoundOrNotEnabled)?;
        let aad = row.id.to_string();
        let key = text(data, "client_key")
            .and_then(|s| self.open(&aad, &s))
            .unwrap_or_default();
        self.check_client_key(project, &key).await?;
        if let Some(err) = params.error.as_deref() {
            return Err(match err {
                "access_denied"
                | "consent_required"
                | "login_required"
                | "interaction_required" => Error::OauthProviderAccessDenied,
                "invalid_scope" => Error::Refused(Refusal::OauthScopeNotAllowed { scope: None }),
                _ => Error::OauthProviderTemporarilyUnavailable,
            });
        }
        let provider = Provider::resolve(p, &conf).await?;
        if let Some(iss) = params.iss.as_deref()
            && !provider.issuer_matches(iss)
        {
            return Err(Error::Refused(Refusal::OauthInvalidGrant));
        }
        let code = params
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(Error::Refused(Refusal::OauthInvalidGrant))?;
        let verifier = text(data, "verifier")
            .and_then(|s| self.open(&aad, &s))
            .ok_or_else(|| Error::Internal("OAuth flow verifier unreadable".into()))?;
        let (grant, identity) = provider.exchange(p, code, &verifier).await?;

        // The app's own parameters, checked before any account is touched.
        let redirect_uri = text(data, "redirect_uri").unwrap_or_default();
        if !redirect_trusted(p, project, &redirect_uri) {
            return Err(Error::RedirectUrlNotWhitelisted);
        }
        let outer_state = text(data, "state").unwrap_or_default();
        if outer_state.is_empty() || !outer_state.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(Error::schema("query.state must be printable ASCII"));
        }
        if text(data, "scope").as_deref() != Some("legacy") {
            return Err(Error::Refused(Refusal::OauthInvalidScope));
        }
        if text(data, "response_type").as_deref() != Some("code") {
            return Err(Error::schema("query.response_type must be \"code\""));
        }
        let challenge = text(data, "code_challenge").unwrap_or_default();
        let method = text(data, "code_challenge_method").unwrap_or_default();
        if !challenge.is_empty() && !matches!(method.as_str(), "S256" | "plain") {
            return Err(Error::schema(
                "query.code_challenge_method must be \"S256\" or \"plain\"",
            ));
        }

        let requested = scopes(provider.base_scope, text(data, "provider_scope").as_deref());
        let flow = Flow {
            link: data["link"] == Value::Bool(true),
            token_user: text(data, "token_user_id").and_then(|s| s.parse().ok()),
            country_code: text(data, "country_code"),
        };
        let (user_id, is_new_user) = self
            .resolve_account(project, &conf, &identity, Some(&grant), &requested, &flow)
            .await?;

        // The outer authorization code.
        // 64 lowercase hex characters, as Stack's (the SHA-256 of fresh randomness).
        let code = hash_secret(&random_crockford(64));
        let now = p.inner.clock.now_millis();
        p.inner
            .store
            .codes()
            .insert(&VerificationCodeRecord {
                project_id: project.id.clone(),
                id: Uuid::new_v4(),
                purpose: CodePurpose::OAuthAuthorizationCode,
                code_hash: hash_secret(&code),
                nonce_hash: hash_secret(&code),
                user_id: Some(user_id),
                data: json!({
                    "redirect_uri": redirect_uri,
                    "code_challenge": if method.is_empty() { String::new() } else { challenge },
                    "code_challenge_method": method,
                    "new_user": is_new_user,
                    "after_callback_redirect_url": text(data, "after_callback_redirect_url"),
                }),
                created_at_millis: now,
                expires_at_millis: now + CODE_MILLIS,
                used_at_millis: None,
                attempt_count: 0,
            })
            .await?;
        Ok(with_query(
            &redirect_uri,
            &[("code", &code), ("state", &outer_state)],
        ))
    }

    /// Finds, links or creates the account of `identity` (contract §7.3, §7.4) and stores
    /// the provider's tokens; returns the user and whether it is new.
    async fn resolve_account(
        &self,
        project: &Project,
        conf: &Configured,
        identity: &Identity,
        grant: Option<&Grant>,
        requested: &[String],
        flow: &Flow,
    ) -> Result<(Uuid, bool)> {
        let p = self.p;
        let store = &p.inner.store;
        let existing = store
            .oauth()
            .find_accounts(&project.id, &conf.config_id, &identity.account_id)
            .await?;
        if flow.link {
            let user = flow.token_user.ok_or(Error::UserAuthenticationRequired)?;
            let tx = store.begin().await?;
            tx.users()
                .get(&project.id, user)
                .await?
                .ok_or(Error::UserNotFound)?;
            if existing.iter().any(|a| a.user_id != user) {
                return Err(Error::OauthConnectionAlreadyConnectedToAnotherUser);
            }
            let account = match existing.into_iter().find(|a| a.user_id == user) {
                Some(a) => a,
                None => {
                    let has_sign_in = tx
                        .oauth()
                        .list_for_user(&project.id, user)
                        .await?
                        .iter()
                        .any(|a| a.provider_config_id == conf.config_id && a.allow_sign_in);
                    let a = self.new_account(project, conf, identity, user, !has_sign_in);
                    tx.oauth().insert_account(&a).await?;
                    a
                }
            };
            self.store_tokens(&*tx, &account, grant, requested).await?;
            tx.commit().await?;
            return Ok((user, false));
        }
        if let Some(a) = existing.iter().find(|a| a.allow_sign_in) {
            let tx = store.begin().await?;
            self.store_tokens(&*tx, a, grant, requested).await?;
            tx.commit().await?;
            return Ok((a.user_id, false));
        }
        // An address the provider gave: merge with the account that signs in with it?
        let mut email_used_for_auth = true;
        if let Some(email) = &identity.email {
            let channel = store
                .users()
                .find_auth_channel(&project.id, ChannelKind::Email, email)
                .await?;
            if let Some(c) = channel {
                let strategy = project
                    .config
                    .to_json()
                    .pointer("/auth/oauth/accountMergeStrategy")
                    .and_then(Value::as_str)
                    .unwrap_or("link_method")
                    .to_owned();
                let taken =
                    |would_work: bool| Error::ContactChannelAlreadyUsedForAuthBySomeoneElse {
                        value: Some(email.clone()),
                        would_work_if_email_was_verified: would_work,
                    };
                match strategy.as_str() {
                    "allow_duplicates" => email_used_for_auth = false,
                    "raise_error" => return Err(taken(false)),
                    _ => {
                        if !c.is_verified {
                            return Err(taken(true));
                        }
                        if !identity.email_verified || !c.auth_confirmed {
                            return Err(taken(false));
                        }
                        let tx = store.begin().await?;
                        let account = self.new_account(project, conf, identity, c.user_id, true);
                        tx.oauth().insert_account(&account).await?;
                        // The provider vouched for the address: the owner's first entry.
                        crate::claim::claim(
                            p,
                            &*tx,
                            project,
                            c.user_id,
                            c.id,
                            crate::claim::Proof::OAuth,
                        )
                        .await?;
                        self.store_tokens(&*tx, &account, grant, requested).await?;
                        tx.commit().await?;
                        return Ok((c.user_id, false));
                    }
                }
            }
        }
        // A new account.
        crate::auth::gate::sign_up_enabled(project)?;
        let verdict = crate::auth::gate::check(
            p,
            project,
            crate::auth::gate::Applicant {
                email: identity.email.as_deref(),
                method: crate::sign_up_rules::AuthMethod::Oauth,
                oauth_provider: Some(&conf.config_id),
            },
        )
        .await?;
        let now = p.inner.clock.now_millis();
        let tx = store.begin().await?;
        let upgrading = match flow.token_user {
            Some(id) => tx
                .users()
                .get(&project.id, id)
                .await?
                .filter(|r| r.is_anonymous),
            None => None,
        };
        let mut rec = upgrading
            .clone()
            .unwrap_or_else(|| UserRecord::new(&project.id, now));
        if rec.display_name.is_none() {
            rec.display_name = identity.display_name.clone();
        }
        if rec.profile_image_url.is_none() {
            rec.profile_image_url = identity.profile_image_url.clone();
        }
        verdict.apply(&mut rec);
        let proven = identity.email.is_some() && identity.email_verified && email_used_for_auth;
        if proven || identity.email.is_none() {
            // Nobody else can hold this account's way in: it is its owner's from the start.
            rec.claimed_at_millis = Some(now);
        }
        let channel = identity.email.as_ref().map(|email| ContactChannelRecord {
            project_id: project.id.clone(),
            id: Uuid::now_v7(),
            user_id: rec.id,
            kind: ChannelKind::Email,
            value: email.clone(),
            is_primary: true,
            is_verified: identity.email_verified,
            used_for_auth: email_used_for_auth,
            auth_confirmed: email_used_for_auth,
            created_at_millis: now,
        });
        let email = identity.email.clone();
        let rec = crate::auth::account::create(
            p,
            &*tx,
            project,
            crate::auth::account::NewAccount {
                rec,
                upgrading: upgrading.is_some(),
                channel,
                country_code: flow.country_code.clone(),
            },
            "oauth",
            || Error::ContactChannelAlreadyUsedForAuthBySomeoneElse {
                value: email,
                would_work_if_email_was_verified: false,
            },
        )
        .await?;
        let account = self.new_account(project, conf, identity, rec.id, true);
        tx.oauth().insert_account(&account).await?;
        self.store_tokens(&*tx, &account, grant, requested).await?;
        tx.commit().await?;
        Ok((rec.id, true))
    }

    fn new_account(
        &self,
        project: &Project,
        conf: &Configured,
        identity: &Identity,
        user_id: Uuid,
        allow_sign_in: bool,
    ) -> OAuthAccountRecord {
        OAuthAccountRecord {
            project_id: project.id.clone(),
            id: Uuid::new_v4(),
            user_id,
            provider_config_id: conf.config_id.clone(),
            provider_account_id: identity.account_id.clone(),
            email: identity.email.clone(),
            allow_sign_in,
            allow_connected_accounts: true,
            created_at_millis: self.p.inner.clock.now_millis(),
        }
    }

    /// Stores a sign-in's provider tokens on `account`, sealed.
    async fn store_tokens(
        &self,
        repos: &dyn Repos,
        account: &OAuthAccountRecord,
        grant: Option<&Grant>,
        scopes: &[String],
    ) -> Result<()> {
        let Some(grant) = grant else {
            return Ok(());
        };
        let now = self.p.inner.clock.now_millis();
        let mut rows = vec![(
            OAuthTokenKind::Access,
            grant.access_token.clone(),
            Some(grant.expires_at_millis),
        )];
        if let Some(r) = &grant.refresh_token {
            rows.push((OAuthTokenKind::Refresh, r.clone(), None));
        }
        for (kind, token, expires) in rows {
            let id = Uuid::new_v4();
            repos
                .oauth()
                .insert_token(&OAuthTokenRecord {
                    project_id: account.project_id.clone(),
                    id,
                    account_id: account.id,
                    kind,
                    sealed_token: self.seal(&id.to_string(), &token)?,
                    scopes: scopes.to_vec(),
                    expires_at_millis: expires,
                    is_valid: true,
                    created_at_millis: now,
                })
                .await?;
        }
        Ok(())
    }

    /// The session an OAuth sign-in opens: `MULTI_FACTOR_AUTHENTICATION_REQUIRED` (with an
    /// attempt code) instead for a user with TOTP, before any session exists.
    async fn open_session(
        &self,
        project: &Project,
        rec: &UserRecord,
        channels: &[ContactChannelRecord],
    ) -> Result<crate::model::SignedIn> {
        let p = self.p;
        if rec.totp_secret.is_some() {
            return Err(crate::auth::second_factor_required(p, project, rec, None).await);
        }
        let tx = p.inner.store.begin().await?;
        let opened = crate::auth::session::open(
            p,
            &*tx,
            &project.id,
            rec.id,
            crate::auth::session::Opening::SignIn("oauth"),
        )
        .await?;
        tx.commit().await?;
        let mut user = crate::model::User::from_parts(rec, channels, &project.config);
        user.last_active_at_millis = p.inner.clock.now_millis();
        opened.tokens(p, project, &user)
    }

    /// Trades an outer authorization code for a session (contract §8.2): the PKCE verifier
    /// is checked first (a failure leaves the code usable), then the code is spent, then
    /// the redirect URI must be the one the code was issued for. A user with TOTP gets
    /// `MULTI_FACTOR_AUTHENTICATION_REQUIRED` before any session exists.
    pub async fn exchange_code(
        &self,
        project: &Project,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
    ) -> Result<CodeExchange> {
        let p = self.p;
        let invalid = || Error::InvalidAuthorizationCode;
        let row = p
            .inner
            .store
            .codes()
            .find_by_nonce(
                &project.id,
                CodePurpose::OAuthAuthorizationCode,
                &hash_secret(code),
            )
            .await?
            .ok_or_else(invalid)?;
        if row.used_at_millis.is_some() || row.expires_at_millis <= p.inner.clock.now_millis() {
            return Err(invalid());
        }
        let data = &row.data;
        let challenge = text(data, "code_challenge").unwrap_or_default();
        if challenge.is_empty() {
            if code_verifier.is_some_and(|v| !v.is_empty()) {
                return Err(invalid());
            }
        } else {
            let verifier = code_verifier.ok_or_else(invalid)?;
            let computed = match text(data, "code_challenge_method").as_deref() {
                Some("S256") => s256(verifier),
                _ => verifier.to_owned(),
            };
            if !crate::secrets::ct_eq(computed.as_bytes(), challenge.as_bytes()) {
                return Err(invalid());
            }
        }
        let user_id = row.user_id.ok_or_else(invalid)?;
        if !p
            .inner
            .store
            .codes()
            .mark_used(&project.id, row.id, p.inner.clock.now_millis())
            .await?
        {
            return Err(invalid());
        }
        if redirect_uri != text(data, "redirect_uri").as_deref() {
            return Err(Error::Refused(Refusal::OauthRedirectUriMismatch));
        }
        let (rec, channels) = crate::model::load(&*p.inner.store, &project.id, user_id)
            .await?
            .ok_or_else(invalid)?;
        if let Some(session_id) = text(data, "session_id").and_then(|s| s.parse::<Uuid>().ok()) {
            // A cross-domain handoff: the caller's own session, as it was.
            let now = p.inner.clock.now_millis();
            let session = p
                .inner
                .store
                .sessions()
                .get(&project.id, session_id)
                .await?
                .filter(|s| s.expires_at_millis.is_none_or(|e| e > now))
                .ok_or(Error::RefreshTokenNotFoundOrExpired)?;
            if session.user_id != rec.id {
                return Err(Error::Refused(Refusal::HandoffSessionNotTheUsers));
            }
            let refresh_token = text(data, "refresh_token")
                .and_then(|s| self.open(&row.id.to_string(), &s))
                .ok_or(Error::RefreshTokenNotFoundOrExpired)?;
            let user = crate::model::User::from_parts(&rec, &channels, &project.config);
            return Ok(CodeExchange {
                signed_in: crate::model::SignedIn {
                    user_id: rec.id,
                    access_token: p.sessions().mint(project, &user, session.id)?,
                    refresh_token,
                },
                is_new_user: false,
                after_callback_redirect_url: text(data, "after_callback_redirect_url"),
            });
        }
        Ok(CodeExchange {
            signed_in: self.open_session(project, &rec, &channels).await?,
            is_new_user: data["new_user"] == Value::Bool(true),
            after_callback_redirect_url: text(data, "after_callback_redirect_url"),
        })
    }
}

/// A signed-in app's request for a code that hands its session to another of its domains
/// (`POST /auth/oauth/cross-domain/authorize`).
#[derive(Clone)]
pub struct HandoffRequest {
    /// The session's refresh token (`x-stack-refresh-token`).
    pub refresh_token: String,
    /// The publishable key the request came with (the keyless sentinel when none).
    pub publishable_key: Option<String>,
    /// The other domain's callback.
    pub redirect_uri: String,
    /// The app's state, echoed.
    pub state: String,
    /// The S256 PKCE challenge.
    pub code_challenge: String,
    /// Echoed by the token endpoint.
    pub after_callback_redirect_url: Option<String>,
}

impl std::fmt::Debug for HandoffRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandoffRequest")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl OAuth<'_> {
    /// Issues a code for the caller's own session (contract §9.2): exchanged with the
    /// verifier of `code_challenge`, it answers with the same session's refresh token (kept
    /// sealed in the code's row until then) and a fresh access token.
    pub async fn handoff(&self, auth: &crate::actor::Auth, req: HandoffRequest) -> Result<String> {
        let p = self.p;
        let project = &auth.project;
        let (user, claims) = match (&auth.user, &auth.claims) {
            (Some(u), Some(c)) => (u, c),
            _ => return Err(Error::UserAuthenticationRequired),
        };
        let now = p.inner.clock.now_millis();
        let session = p
            .inner
            .store
            .sessions()
            .find_by_token_hash(&project.id, &hash_secret(&req.refresh_token))
            .await?
            .filter(|s| s.id == claims.refresh_token_id && s.user_id == user.id)
            .ok_or(Error::Refused(Refusal::HandoffRefreshTokenMismatch))?;
        if session.expires_at_millis.is_some_and(|e| e <= now) {
            return Err(Error::Refused(Refusal::HandoffRefreshTokenInvalid));
        }
        self.check_client_key(project, req.publishable_key.as_deref().unwrap_or_default())
            .await?;
        if !redirect_trusted(p, project, &req.redirect_uri) {
            return Err(Error::RedirectUrlNotWhitelisted);
        }
        if let Some(after) = &req.after_callback_redirect_url
            && !redirect_trusted(p, project, after)
        {
            return Err(Error::RedirectUrlNotWhitelisted);
        }
        let code = hash_secret(&random_crockford(64));
        let id = Uuid::new_v4();
        p.inner
            .store
            .codes()
            .insert(&VerificationCodeRecord {
                project_id: project.id.clone(),
                id,
                purpose: CodePurpose::OAuthAuthorizationCode,
                code_hash: hash_secret(&code),
                nonce_hash: hash_secret(&code),
                user_id: Some(user.id),
                data: json!({
                    "redirect_uri": req.redirect_uri,
                    "code_challenge": req.code_challenge,
                    "code_challenge_method": "S256",
                    "new_user": false,
                    "after_callback_redirect_url": req.after_callback_redirect_url,
                    "session_id": session.id,
                    "refresh_token": self.seal(&id.to_string(), &req.refresh_token)?,
                }),
                created_at_millis: now,
                expires_at_millis: now + CODE_MILLIS,
                used_at_millis: None,
                attempt_count: 0,
            })
            .await?;
        Ok(with_query(
            &req.redirect_uri,
            &[("code", &code), ("state", &req.state)],
        ))
    }
}

/// A native Apple sign-in's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeSignIn {
    /// The session's tokens.
    pub signed_in: crate::model::SignedIn,
    /// The account was created by this sign-in.
    pub is_new_user: bool,
}

impl OAuth<'_> {
    /// Signs in with an ID token Apple gave a native app (contract §10): verified against
    /// Apple's keys with one of the project's bundle ids as audience, then the same account
    /// resolution as a web sign-in. Beyond Stack, a user with TOTP gets
    /// `MULTI_FACTOR_AUTHENTICATION_REQUIRED` here too.
    pub async fn apple_native_sign_in(
        &self,
        project: &Project,
        id_token: &str,
    ) -> Result<NativeSignIn> {
        let p = self.p;
        let conf = configured(p, project, "apple")
            .filter(|c| c.allow_sign_in)
            .ok_or(Error::OauthProviderNotFoundOrNotEnabled)?;
        if conf.apple_bundle_ids.is_empty() {
            return Err(Error::AppleBundleIdNotConfigured);
        }
        let identity = provider::verify_apple_id_token(p, id_token, &conf.apple_bundle_ids)
            .await?
            .ok_or(Error::InvalidAppleCredentials)?;
        let flow = Flow {
            link: false,
            token_user: None,
            country_code: crate::audit::RequestMeta::current().country_code,
        };
        let (user_id, is_new_user) = self
            .resolve_account(project, &conf, &identity, None, &[], &flow)
            .await?;
        let (rec, channels) = crate::model::load(&*p.inner.store, &project.id, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        Ok(NativeSignIn {
            signed_in: self.open_session(project, &rec, &channels).await?,
            is_new_user,
        })
    }
}

/// What the flow row says about the sign-in beyond the provider.
struct Flow {
    link: bool,
    token_user: Option<Uuid>,
    country_code: Option<String>,
}

/// The provider's base scope and the app's extra ones, split, de-duplicated, in order.
fn scopes(base: &str, extra: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in base
        .split_whitespace()
        .chain(extra.unwrap_or_default().split_whitespace())
    {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn scopes_are_merged_in_order_without_duplicates() {
        assert_eq!(
            scopes("openid email", Some("email  repo openid")),
            vec!["openid", "email", "repo"]
        );
        assert_eq!(scopes("a", None), vec!["a"]);
    }

    #[test]
    fn query_parameters_are_replaced_and_kept() {
        assert_eq!(
            with_query(
                "http://a.test/cb?x=1&code=old#frag",
                &[("code", "c"), ("state", "s")]
            ),
            "http://a.test/cb?x=1&code=c&state=s#frag"
        );
    }
}
