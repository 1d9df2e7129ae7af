//! OAuth social sign-in: the authorize redirect, the provider's callback, and the code
//! grant of the token endpoint (contract `rest-oauth.md` §6 to §8).

use super::*;
use crate::oauth::{AuthorizeRequest, CallbackParams, INNER_COOKIE_PREFIX};

/// The query parameters the authorize endpoint reads; others are ignored, as Stack.
const AUTHORIZE_KEYS: &[&str] = &[
    "client_id",
    "client_secret",
    "redirect_uri",
    "scope",
    "state",
    "grant_type",
    "code_challenge",
    "code_challenge_method",
    "response_type",
    "type",
    "token",
    "provider_scope",
    "error_redirect_uri",
    "error_redirect_url",
    "after_callback_redirect_url",
    "stack_response_mode",
    "bot_challenge_token",
    "bot_challenge_phase",
    "bot_challenge_unavailable",
];

/// A URL field: Stack reports spaces and unparsable URLs as two failures.
fn url_field(f: &mut Fields, key: &str, v: Option<&String>) {
    if let Some(v) = v {
        if v.contains(' ') {
            f.fail(key, "contains spaces");
        }
        if v.contains(' ') || url::Url::parse(v).is_err() {
            f.fail(key, "is not a valid URL");
        }
    }
}

fn one_of(f: &mut Fields, key: &str, v: Option<&String>, allowed: &[&str]) {
    if let Some(v) = v
        && !allowed.contains(&v.as_str())
    {
        f.fail(
            key,
            &format!(
                "must be one of the following values: {}",
                allowed.join(", ")
            ),
        );
    }
}

/// `GET /auth/oauth/authorize/{provider_id}`: 307 to the provider with the flow's cookie,
/// or `{location}` in JSON mode.
pub(crate) async fn authorize(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let known: Vec<(String, String)> = rq
        .query
        .iter()
        .filter(|(k, _)| AUTHORIZE_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut f = Fields::query(&known, AUTHORIZE_KEYS);
    let client_id = f.req_str("client_id");
    let client_secret = f.req_str("client_secret");
    let redirect_uri = f.req_str("redirect_uri");
    url_field(&mut f, "redirect_uri", redirect_uri.as_ref());
    let scope = f.req_str("scope");
    let state = f.req_str("state");
    let grant_type = f.req_str("grant_type");
    one_of(
        &mut f,
        "grant_type",
        grant_type.as_ref(),
        &["authorization_code"],
    );
    let code_challenge = f.req_str("code_challenge");
    let code_challenge_method = f.req_str("code_challenge_method");
    let response_type = f.req_str("response_type");
    let kind = f.opt_str("type");
    one_of(&mut f, "type", kind.as_ref(), &["authenticate", "link"]);
    let token = f.opt_str("token");
    let provider_scope = f.opt_str("provider_scope");
    let error_redirect_uri = f.opt_str("error_redirect_uri");
    url_field(&mut f, "error_redirect_uri", error_redirect_uri.as_ref());
    let error_redirect_url = f.opt_str("error_redirect_url");
    url_field(&mut f, "error_redirect_url", error_redirect_url.as_ref());
    let after = f.opt_str("after_callback_redirect_url");
    url_field(&mut f, "after_callback_redirect_url", after.as_ref());
    let mode = f.opt_str("stack_response_mode");
    one_of(
        &mut f,
        "stack_response_mode",
        mode.as_ref(),
        &["redirect", "json"],
    );
    f.finish()?;
    let json_mode = mode.as_deref() == Some("json");
    let authorized =
        rq.p.oauth()
            .authorize(AuthorizeRequest {
                provider_config_id: rq.param("provider_id").to_owned(),
                client_id: client_id.unwrap_or_default(),
                client_secret: client_secret.unwrap_or_default(),
                redirect_uri: redirect_uri.unwrap_or_default(),
                scope: scope.unwrap_or_default(),
                state: state.unwrap_or_default(),
                code_challenge: code_challenge.unwrap_or_default(),
                code_challenge_method: code_challenge_method.unwrap_or_default(),
                response_type: response_type.unwrap_or_default(),
                link: kind.as_deref() == Some("link"),
                token,
                provider_scope,
                error_redirect_url: error_redirect_uri.or(error_redirect_url),
                after_callback_redirect_url: after,
                json_mode,
            })
            .await?;
    if json_mode {
        return Ok(json(
            StatusCode::OK,
            &json!({ "location": authorized.location }),
        ));
    }
    let max_age = crate::oauth::FLOW_MILLIS / 1000;
    let expires =
        crate::clock::http_date(rq.p.inner.clock.now_millis() + crate::oauth::FLOW_MILLIS);
    let secure = if rq.p.public_url().starts_with("https://") {
        " Secure;"
    } else {
        ""
    };
    let cookie = format!(
        "{INNER_COOKIE_PREFIX}{}=true; Path=/; Expires={expires}; Max-Age={max_age};{secure} HttpOnly",
        authorized.inner_state
    );
    Ok(redirect(
        StatusCode::TEMPORARY_REDIRECT,
        &authorized.location,
        Some(&cookie),
    ))
}

fn redirect(status: StatusCode, location: &str, cookie: Option<&str>) -> Response<Bytes> {
    let mut r = json(status, &json!({}));
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(c).ok()) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// The value of cookie `name` in the request.
fn cookie_value(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// `GET|POST /auth/oauth/callback/{provider_id}`: the provider's answer. 303 to the app
/// with `code` and `state`; known errors go to the app as a 307 when it has a trusted
/// URL; every answer in redirect mode deletes the flow's cookie.
pub(crate) async fn callback(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let mut params: std::collections::HashMap<String, String> = rq.query.iter().cloned().collect();
    if let crate::rest::input::Body::Form(m) | crate::rest::input::Body::Json(Value::Object(m)) =
        &rq.body
    {
        for (k, v) in m {
            if let Some(s) = v.as_str() {
                params.entry(k.clone()).or_insert_with(|| s.to_owned());
            }
        }
    }
    let get = |k: &str| params.get(k).cloned();
    let outcome =
        rq.p.oauth()
            .callback(
                rq.param("provider_id"),
                &CallbackParams {
                    state: get("state"),
                    code: get("code"),
                    error: get("error"),
                    iss: get("iss"),
                },
                |name| cookie_value(rq.headers, name),
            )
            .await;
    let mut response = match outcome.result {
        Ok(location) => redirect(StatusCode::SEE_OTHER, &location, None),
        Err(failure) => match (failure.redirect_to, &failure.error) {
            (Some(target), e) => {
                let message = e.to_string();
                let details = e.details().unwrap_or_else(|| json!({})).to_string();
                let location = crate::oauth::with_query(
                    &target,
                    &[
                        ("error", "server_error"),
                        ("error_description", &message),
                        ("errorCode", e.code().unwrap_or_default()),
                        ("message", &message),
                        ("details", &details),
                    ],
                );
                redirect(StatusCode::TEMPORARY_REDIRECT, &location, None)
            }
            (None, Error::Internal(_)) => return Err(failure.error),
            (None, e) => crate::rest::response::render(
                e,
                &crate::rest::response::ErrorContext {
                    method: "GET",
                    full_path: &format!(
                        "{}/auth/oauth/callback/{}",
                        rq.prefix,
                        rq.param("provider_id")
                    ),
                    request_id: "",
                },
            ),
        },
    };
    if let Some(state) = outcome.clear_cookie
        && let Ok(v) = HeaderValue::from_str(&format!(
            "{INNER_COOKIE_PREFIX}{state}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        ))
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// An OAuth-style `400 {"error": "invalid_request", ...}` (no known-error code).
pub(crate) fn invalid_request(description: &str) -> Response<Bytes> {
    json(
        StatusCode::BAD_REQUEST,
        &json!({ "error": "invalid_request", "error_description": description }),
    )
}

/// The `authorization_code` grant of `POST /auth/oauth/token`.
pub(crate) async fn code_grant(
    rq: &Rq<'_>,
    project: &crate::Project,
    field: impl Fn(&str) -> Option<String>,
) -> Result<Response<Bytes>> {
    let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| (0x20..0x7f).contains(&b));
    let Some(code) = field("code").filter(|c| printable(c)) else {
        return Ok(invalid_request("Missing parameter: `code`"));
    };
    let redirect_uri = field("redirect_uri");
    let verifier = field("code_verifier");
    let exchange =
        rq.p.oauth()
            .exchange_code(project, &code, redirect_uri.as_deref(), verifier.as_deref())
            .await;
    let exchange = match exchange {
        Err(Error::Refused(Refusal::OauthRedirectUriMismatch))
            if redirect_uri
                .as_deref()
                .is_none_or(|u| url::Url::parse(u).is_err()) =>
        {
            return Ok(invalid_request(
                "Invalid request: `redirect_uri` is not a valid URI",
            ));
        }
        other => other?,
    };
    let mut r = json(
        StatusCode::OK,
        &json!({
            "access_token": exchange.signed_in.access_token,
            "token_type": "Bearer",
            "expires_in": 3599,
            "refresh_token": exchange.signed_in.refresh_token,
            "scope": "legacy",
            "is_new_user": exchange.is_new_user,
            "newUser": exchange.is_new_user,
            "after_callback_redirect_url": exchange.after_callback_redirect_url,
            "afterCallbackRedirectUrl": exchange.after_callback_redirect_url,
        }),
    );
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(r)
}

/// A user's provider account (`oauth-providers`); `account_id` only for servers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct OAuthProviderView {
    /// The provider account's id.
    id: Uuid,
    /// The user.
    user_id: Uuid,
    /// The provider's config id.
    provider_config_id: String,
    /// The provider type.
    #[serde(rename = "type")]
    kind: String,
    /// The provider's address for the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    /// Signs the user in.
    allow_sign_in: bool,
    /// Handed out as a connected account.
    allow_connected_accounts: bool,
    /// The account id at the provider (server view).
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
}

impl OAuthProviderView {
    fn of(a: crate::oauth::ProviderAccount, server: bool) -> Self {
        let r = a.record;
        OAuthProviderView {
            id: r.id,
            user_id: r.user_id,
            provider_config_id: r.provider_config_id,
            kind: a.kind,
            email: r.email.filter(|e| !e.is_empty()),
            allow_sign_in: r.allow_sign_in,
            allow_connected_accounts: r.allow_connected_accounts,
            account_id: server.then_some(r.provider_account_id),
        }
    }
}

/// A connected account.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ConnectedAccountView {
    /// The user.
    user_id: Uuid,
    /// The provider's config id.
    provider: String,
    /// The account id at the provider.
    provider_account_id: String,
}

/// A provider access token.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ProviderAccessTokenView {
    /// The provider's access token.
    access_token: String,
}

/// Whose provider accounts a request acts on: the path's user (or `me`); a client only its
/// own (`refusal` otherwise).
fn account_owner(rq: &Rq<'_>, raw: &str, refusal: Refusal) -> Result<Uuid> {
    let auth = rq.auth()?;
    let user = user_id_or_me(raw, auth.user_id(), "params.user_id")?;
    if auth.access_type == AccessType::Client && auth.user_id() != Some(user) {
        return Err(Error::Refused(refusal));
    }
    Ok(user)
}

fn is_server(rq: &Rq<'_>) -> Result<bool> {
    Ok(rq.auth()?.access_type != AccessType::Client)
}

input! {
    /// `GET /oauth-providers`: one user's (a user id or `me`), or every account of the
    /// project for servers.
    pub(crate) struct OAuthProviderList in Query {
        user_id: Option<String>,
    }
}

pub(crate) async fn list_providers(
    rq: Rq<'_>,
    q: OAuthProviderList,
) -> Result<Json<ListView<OAuthProviderView>>> {
    let auth = rq.auth()?;
    let user = match q.user_id.as_deref() {
        Some(raw) => Some(account_owner(
            &rq,
            raw,
            Refusal::ClientMayOnlyListOwnOauthProviders,
        )?),
        None if auth.access_type == AccessType::Client => {
            return Err(Error::Refused(Refusal::ClientMayOnlyListOwnOauthProviders));
        }
        None => None,
    };
    let server = is_server(&rq)?;
    let items =
        rq.p.oauth()
            .list_accounts(&auth.project, user)
            .await?
            .into_iter()
            .map(|a| OAuthProviderView::of(a, server))
            .collect();
    Ok(Json::ok(ListView::of(items)))
}

input! {
    /// `POST /oauth-providers` (servers).
    pub(crate) struct NewOAuthProvider in Body {
        user_id: String,
        provider_config_id: String,
        account_id: String,
        allow_sign_in: Option<bool>,
        allow_connected_accounts: Option<bool>,
        email: Option<String> => email_lenient,
    }
    check(this, f, _rq) {
        if this.allow_sign_in.is_none() {
            f.fail("allow_sign_in", "must be defined");
        }
        if this.allow_connected_accounts.is_none() {
            f.fail("allow_connected_accounts", "must be defined");
        }
    }
}

pub(crate) async fn create_provider(
    rq: Rq<'_>,
    b: NewOAuthProvider,
) -> Result<Json<OAuthProviderView>> {
    let auth = rq.auth()?;
    let user_id = user_id_or_me(&b.user_id, auth.user_id(), "body.user_id")?;
    let created =
        rq.p.oauth()
            .create_account(
                &auth.project,
                crate::oauth::NewProviderAccount {
                    user_id,
                    provider_config_id: b.provider_config_id,
                    account_id: b.account_id,
                    allow_sign_in: b.allow_sign_in.unwrap_or_default(),
                    allow_connected_accounts: b.allow_connected_accounts.unwrap_or_default(),
                    email: b.email,
                },
            )
            .await?;
    Ok(Json::created(OAuthProviderView::of(created, true)))
}

pub(crate) async fn get_provider(rq: Rq<'_>, _: NoQuery) -> Result<Json<OAuthProviderView>> {
    let user = account_owner(
        &rq,
        rq.param("user_id"),
        Refusal::ClientMayOnlyReadOwnOauthProviders,
    )?;
    let id = path_uuid(&rq, "provider_id")?;
    let auth = rq.auth()?;
    let a = rq.p.oauth().get_account(&auth.project, user, id).await?;
    Ok(Json::ok(OAuthProviderView::of(a, is_server(&rq)?)))
}

/// `PATCH /oauth-providers/{user_id}/{provider_id}`: clients change the two flags; servers
/// also `email` and `account_id`.
pub(crate) async fn patch_provider(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let server = is_server(&rq)?;
    let keys: &[&str] = if server {
        &[
            "allow_sign_in",
            "allow_connected_accounts",
            "email",
            "account_id",
        ]
    } else {
        &["allow_sign_in", "allow_connected_accounts"]
    };
    let mut f = Fields::body(&rq.body, keys);
    let allow_sign_in = f.opt_bool("allow_sign_in");
    let allow_connected_accounts = f.opt_bool("allow_connected_accounts");
    let email = if server {
        f.nullable_str("email")
    } else {
        None
    };
    if let Some(Some(e)) = &email
        && !is_valid_email_lenient(e)
    {
        f.fail("email", "must be a valid email");
    }
    let account_id = if server {
        f.opt_str("account_id")
    } else {
        None
    };
    f.finish()?;
    let user = account_owner(
        &rq,
        rq.param("user_id"),
        Refusal::ClientMayOnlyUpdateOwnOauthProviders,
    )?;
    let id = path_uuid(&rq, "provider_id")?;
    let auth = rq.auth()?;
    let a =
        rq.p.oauth()
            .update_account(
                &auth.project,
                user,
                id,
                crate::oauth::ProviderAccountPatch {
                    allow_sign_in,
                    allow_connected_accounts,
                    email,
                    account_id,
                },
            )
            .await?;
    Ok(json(StatusCode::OK, &OAuthProviderView::of(a, server)))
}

pub(crate) async fn delete_provider(rq: Rq<'_>) -> Result<Json<SuccessView>> {
    let user = account_owner(
        &rq,
        rq.param("user_id"),
        Refusal::ClientMayOnlyDeleteOwnOauthProviders,
    )?;
    let id = path_uuid(&rq, "provider_id")?;
    let auth = rq.auth()?;
    rq.p.oauth().delete_account(&auth.project, user, id).await?;
    Ok(Json::ok(SuccessView::TRUE))
}

pub(crate) async fn list_connected(
    rq: Rq<'_>,
    _: NoQuery,
) -> Result<Json<ListView<ConnectedAccountView>>> {
    let user = account_owner(
        &rq,
        rq.param("user_id"),
        Refusal::ClientMayOnlyListOwnConnectedAccounts,
    )?;
    let auth = rq.auth()?;
    let items =
        rq.p.oauth()
            .connected_accounts(&auth.project, user)
            .await?
            .into_iter()
            .map(|a| ConnectedAccountView {
                user_id: a.user_id,
                provider: a.provider_config_id,
                provider_account_id: a.provider_account_id,
            })
            .collect();
    Ok(Json::ok(ListView::of(items)))
}

input! {
    /// A connected-account token request: the scopes it must cover (space-separated).
    pub(crate) struct AccessTokenRequest in Body {
        scope: Option<String>,
    }
}

async fn provider_token(
    rq: &Rq<'_>,
    user_raw: &str,
    account_id: Option<&str>,
    b: AccessTokenRequest,
) -> Result<Json<ProviderAccessTokenView>> {
    let user = account_owner(
        rq,
        user_raw,
        Refusal::ClientMayOnlyAccessOwnConnectedAccounts,
    )?;
    let auth = rq.auth()?;
    let access_token =
        rq.p.oauth()
            .access_token(
                &auth.project,
                user,
                rq.param("provider_id"),
                account_id,
                b.scope.as_deref(),
            )
            .await?;
    Ok(Json::created(ProviderAccessTokenView { access_token }))
}

pub(crate) async fn provider_access_token(
    rq: Rq<'_>,
    b: AccessTokenRequest,
) -> Result<Json<ProviderAccessTokenView>> {
    provider_token(&rq, rq.param("user_id"), None, b).await
}

pub(crate) async fn account_access_token(
    rq: Rq<'_>,
    b: AccessTokenRequest,
) -> Result<Json<ProviderAccessTokenView>> {
    let account = rq.param("provider_account_id").to_owned();
    provider_token(&rq, rq.param("user_id"), Some(&account), b).await
}

/// The deprecated `POST /auth/oauth/connected-accounts/{provider_id}/access-token`: the
/// signed-in user's token, as `/connected-accounts/me/{provider_id}/access-token`.
pub(crate) async fn legacy_access_token(
    rq: Rq<'_>,
    b: AccessTokenRequest,
) -> Result<Json<ProviderAccessTokenView>> {
    provider_token(&rq, "me", None, b).await
}

input! {
    /// `POST /auth/oauth/cross-domain/authorize`.
    pub(crate) struct HandoffBody in Body {
        redirect_uri: String => url,
        state: String,
        code_challenge: String,
        code_challenge_method: Option<String>,
        after_callback_redirect_url: Option<String> => url,
    }
    check(this, f, _rq) {
        let n = this.state.chars().count();
        if !(1..=512).contains(&n) {
            f.fail("state", "must be between 1 and 512 characters");
        }
        let c = &this.code_challenge;
        if !(43..=128).contains(&c.len())
            || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
        {
            f.fail("code_challenge", "must match the PKCE code challenge format");
        }
        if this.code_challenge_method.as_deref().is_some_and(|m| m != "S256") {
            f.fail("code_challenge_method", "must be one of the following values: S256");
        }
    }
}

/// A redirect URL handing the caller's session to another of the app's domains.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct HandoffView {
    /// `redirect_uri` with `code` and `state`.
    redirect_url: String,
}

pub(crate) async fn cross_domain_authorize(
    rq: Rq<'_>,
    b: HandoffBody,
) -> Result<Json<HandoffView>> {
    let auth = rq.auth()?;
    if auth.user.is_none() || auth.claims.is_none() {
        return Err(Error::UserAuthenticationRequired);
    }
    let refresh_token = stack_header(rq.headers, "refresh-token")
        .filter(|t| !t.is_empty())
        .ok_or(Error::Refused(Refusal::HandoffRefreshTokenRequired))?
        .to_owned();
    let redirect_url =
        rq.p.oauth()
            .handoff(
                auth,
                crate::oauth::HandoffRequest {
                    refresh_token,
                    publishable_key: stack_header(rq.headers, "publishable-client-key")
                        .map(str::to_owned),
                    redirect_uri: b.redirect_uri,
                    state: b.state,
                    code_challenge: b.code_challenge,
                    after_callback_redirect_url: b.after_callback_redirect_url,
                },
            )
            .await?;
    Ok(Json::ok(HandoffView { redirect_url }))
}

input! {
    /// `POST /auth/oauth/callback/apple/native`.
    pub(crate) struct AppleNative in Body {
        id_token: String,
    }
}

/// A native sign-in's tokens.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct NativeSignInView {
    /// The access token.
    access_token: String,
    /// The refresh token.
    refresh_token: String,
    /// The user.
    user_id: Uuid,
    /// The account was created by this sign-in.
    is_new_user: bool,
}

pub(crate) async fn apple_native(rq: Rq<'_>, b: AppleNative) -> Result<Json<NativeSignInView>> {
    let auth = rq.auth()?;
    let s =
        rq.p.oauth()
            .apple_native_sign_in(&auth.project, &b.id_token)
            .await?;
    Ok(Json::ok(NativeSignInView {
        access_token: s.signed_in.access_token,
        refresh_token: s.signed_in.refresh_token,
        user_id: s.signed_in.user_id,
        is_new_user: s.is_new_user,
    }))
}
