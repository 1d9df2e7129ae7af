//! Users: the signed-in user and the server-side user admin.

use super::*;
use crate::rest::input::{Flag, Input, Source, input};

pub(crate) fn me(auth: &Auth) -> Result<Uuid> {
    auth.user_id().ok_or(Error::CannotGetOwnUserWithoutUser)
}

pub(crate) async fn get_me(rq: Rq<'_>, _: NoQuery) -> Result<Json<UserView>> {
    let auth = rq.auth()?;
    let user = auth
        .user
        .as_ref()
        .ok_or(Error::CannotGetOwnUserWithoutUser)?;
    Ok(Json::ok(UserView::of(
        user,
        auth.access_type != AccessType::Client,
    )))
}

/// Field check: a display name of at most 256 characters.
fn name_len(f: &mut Fields, key: &str, v: &Option<Option<String>>) {
    if let Some(Some(n)) = v
        && n.chars().count() > 256
    {
        f.fail(key, "must be at most 256 characters");
    }
}

/// Field check: a profile image given as a URL or as base64 image data.
fn image_url(f: &mut Fields, key: &str, v: &Option<Option<String>>) {
    if let Some(Some(url)) = v {
        if url.contains(' ') {
            f.fail(key, "contains spaces");
        } else if url.is_empty() || (!is_base64_image(url) && url::Url::parse(url).is_err()) {
            f.fail(key, "is not a valid URL");
        }
    }
}

/// Field check: a new primary email.
fn primary_email(f: &mut Fields, key: &str, v: &Option<Option<String>>) {
    if let Some(Some(e)) = v {
        if e.is_empty() {
            f.fail(key, "must not be empty");
        } else if !is_valid_email_lenient(e.trim()) {
            f.fail(key, "must be a valid email");
        }
    }
}

/// Field check: base64 (a TOTP secret).
fn base64_text(f: &mut Fields, key: &str, v: &Option<Option<String>>) {
    if let Some(Some(s)) = v
        && base64::engine::general_purpose::STANDARD.decode(s).is_err()
    {
        f.fail(key, "is not valid base64");
    }
}

/// Field check: an imported password hash is not empty.
fn not_empty(f: &mut Fields, key: &str, v: &Option<Option<String>>) {
    if let Some(Some(h)) = v
        && h.is_empty()
    {
        f.fail(key, "must not be empty");
    }
}

/// The sign-up risk scores `(bot, free_trial_abuse)` of `{sign_up: {bot, free_trial_abuse}}`.
fn risk_scores_of(v: &Value) -> Option<(i32, i32)> {
    let score = |k: &str| {
        v.get("sign_up")
            .and_then(|s| s.get(k))
            .and_then(Value::as_i64)
            .filter(|v| (0..=100).contains(v))
    };
    Some((score("bot")? as i32, score("free_trial_abuse")? as i32))
}

/// Field check: risk scores are integers from 0 to 100.
fn risk_scores(f: &mut Fields, key: &str, v: &Option<Value>) {
    if let Some(r) = v
        && risk_scores_of(r).is_none()
    {
        f.fail(
            key,
            "must be {sign_up: {bot, free_trial_abuse}} with integers from 0 to 100",
        );
    }
}

/// Request check: restriction details only on a restricted user.
fn restriction_details(
    restricted: Option<bool>,
    reason: &Option<Option<String>>,
    details: &Option<Option<String>>,
    f: &mut Fields,
) {
    if restricted != Some(true) {
        if matches!(reason, Some(Some(_))) {
            f.fail_raw(
                "restricted_by_admin_reason must be null when restricted_by_admin is not true",
            );
        }
        if matches!(details, Some(Some(_))) {
            f.fail_raw("restricted_by_admin_private_details must be null when restricted_by_admin is not true");
        }
    }
}

fn totp_secret(v: &Option<Option<String>>) -> Option<Option<Vec<u8>>> {
    v.as_ref().map(|s| {
        s.as_ref()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
    })
}

input! {
    /// `PATCH /users/me` from a client: what a user may change about themselves.
    pub(crate) struct ClientUserPatch in Body {
        display_name: Option<Option<String>> => name_len,
        profile_image_url: Option<Option<String>> => image_url,
        client_metadata: Option<Value>,
        primary_email: Option<Option<String>> => primary_email,
        otp_auth_enabled: Option<bool>,
        passkey_auth_enabled: Option<bool>,
        totp_secret_base64: Option<Option<String>> => base64_text,
        selected_team_id: Option<Option<Uuid>>,
    }
}

impl ClientUserPatch {
    fn into_update(self) -> UserUpdate {
        UserUpdate {
            totp_secret: totp_secret(&self.totp_secret_base64),
            display_name: self.display_name,
            profile_image_url: self.profile_image_url,
            client_metadata: self.client_metadata,
            primary_email: self.primary_email,
            otp_auth_enabled: self.otp_auth_enabled,
            passkey_auth_enabled: self.passkey_auth_enabled,
            selected_team_id: self.selected_team_id,
            ..UserUpdate::default()
        }
    }
}

input! {
    /// `PATCH /users/{user_id}` (and `PATCH /users/me` from a server).
    pub(crate) struct ServerUserPatch in Body {
        display_name: Option<Option<String>> => name_len,
        profile_image_url: Option<Option<String>> => image_url,
        client_metadata: Option<Value>,
        primary_email: Option<Option<String>> => primary_email,
        otp_auth_enabled: Option<bool>,
        passkey_auth_enabled: Option<bool>,
        totp_secret_base64: Option<Option<String>> => base64_text,
        selected_team_id: Option<Option<Uuid>>,
        client_read_only_metadata: Option<Value>,
        server_metadata: Option<Value>,
        primary_email_verified: Option<bool>,
        primary_email_auth_enabled: Option<bool>,
        password: Option<Option<String>> => password_len,
        password_hash: Option<Option<String>> => not_empty,
        is_anonymous: Option<bool> => |f: &mut Fields, key: &str, v: &Option<bool>| {
            if *v == Some(true) {
                f.fail(key, "must be one of the following values: false");
            }
        },
        restricted_by_admin: Option<bool>,
        restricted_by_admin_reason: Option<Option<String>>,
        restricted_by_admin_private_details: Option<Option<String>>,
        country_code: Option<Option<String>> => country_code,
        risk_scores: Option<Value> => risk_scores,
    }
    check(this, f, _rq) {
        restriction_details(
            this.restricted_by_admin,
            &this.restricted_by_admin_reason,
            &this.restricted_by_admin_private_details,
            f,
        );
    }
}

impl ServerUserPatch {
    fn into_update(self) -> UserUpdate {
        UserUpdate {
            totp_secret: totp_secret(&self.totp_secret_base64),
            risk_scores: self.risk_scores.as_ref().and_then(risk_scores_of),
            display_name: self.display_name,
            profile_image_url: self.profile_image_url,
            client_metadata: self.client_metadata,
            client_read_only_metadata: self.client_read_only_metadata,
            server_metadata: self.server_metadata,
            primary_email: self.primary_email,
            primary_email_verified: self.primary_email_verified,
            primary_email_auth_enabled: self.primary_email_auth_enabled,
            password: self.password,
            password_hash: self.password_hash,
            otp_auth_enabled: self.otp_auth_enabled,
            passkey_auth_enabled: self.passkey_auth_enabled,
            selected_team_id: self.selected_team_id,
            is_anonymous: self.is_anonymous,
            restricted_by_admin: self.restricted_by_admin,
            restricted_by_admin_reason: self.restricted_by_admin_reason,
            restricted_by_admin_private_details: self.restricted_by_admin_private_details,
            country_code: self.country_code,
        }
    }
}

input! {
    /// `POST /users`.
    pub(crate) struct NewUser in Body {
        display_name: Option<Option<String>> => name_len,
        profile_image_url: Option<Option<String>> => image_url,
        client_metadata: Option<Value>,
        primary_email: Option<Option<String>> => primary_email,
        otp_auth_enabled: Option<bool>,
        passkey_auth_enabled: Option<bool>,
        totp_secret_base64: Option<Option<String>> => base64_text,
        client_read_only_metadata: Option<Value>,
        server_metadata: Option<Value>,
        primary_email_verified: Option<bool>,
        primary_email_auth_enabled: Option<bool>,
        password: Option<Option<String>> => password_len,
        password_hash: Option<Option<String>> => not_empty,
        is_anonymous: Option<bool>,
        restricted_by_admin: Option<bool>,
        restricted_by_admin_reason: Option<Option<String>>,
        restricted_by_admin_private_details: Option<Option<String>>,
        country_code: Option<Option<String>> => country_code,
        risk_scores: Option<Value> => risk_scores,
        oauth_providers: Option<Value>,
    }
    check(this, f, _rq) {
        restriction_details(
            this.restricted_by_admin,
            &this.restricted_by_admin_reason,
            &this.restricted_by_admin_private_details,
            f,
        );
    }
}

impl NewUser {
    fn into_update(self) -> UserUpdate {
        UserUpdate {
            totp_secret: totp_secret(&self.totp_secret_base64),
            risk_scores: self.risk_scores.as_ref().and_then(risk_scores_of),
            display_name: self.display_name,
            profile_image_url: self.profile_image_url,
            client_metadata: self.client_metadata,
            client_read_only_metadata: self.client_read_only_metadata,
            server_metadata: self.server_metadata,
            primary_email: self.primary_email,
            primary_email_verified: self.primary_email_verified,
            primary_email_auth_enabled: self.primary_email_auth_enabled,
            password: self.password,
            password_hash: self.password_hash,
            otp_auth_enabled: self.otp_auth_enabled,
            passkey_auth_enabled: self.passkey_auth_enabled,
            selected_team_id: None,
            is_anonymous: self.is_anonymous,
            restricted_by_admin: self.restricted_by_admin,
            restricted_by_admin_reason: self.restricted_by_admin_reason,
            restricted_by_admin_private_details: self.restricted_by_admin_private_details,
            country_code: self.country_code,
        }
    }
}

/// `PATCH /users/me`: a client may change its own profile fields, a server everything.
pub(crate) enum MePatch {
    /// From a client.
    Client(ClientUserPatch),
    /// From a server or admin.
    Server(Box<ServerUserPatch>),
}

impl Input for MePatch {
    const SOURCE: Source = Source::Body;

    fn parse(rq: &Rq<'_>) -> Result<Self> {
        let client = rq
            .auth
            .as_ref()
            .is_some_and(|a| a.access_type == AccessType::Client);
        Ok(if client {
            MePatch::Client(ClientUserPatch::parse(rq)?)
        } else {
            MePatch::Server(Box::new(ServerUserPatch::parse(rq)?))
        })
    }

    fn schema() -> Value {
        ServerUserPatch::schema()
    }
}

input! {
    /// `GET /users`: paging, search and filters.
    pub(crate) struct UsersQuery in Query {
        limit: Option<String> => |f: &mut Fields, key: &str, v: &Option<String>| {
            if v.as_ref().is_some_and(|l| !matches!(l.parse::<u64>(), Ok(n) if n >= 1)) {
                f.fail(key, "must be a positive integer");
            }
        },
        cursor: Option<String> => |f: &mut Fields, key: &str, v: &Option<String>| {
            if v.as_ref().is_some_and(|c| Uuid::parse_str(c).is_err()) {
                f.fail(key, "must be a valid UUID");
            }
        },
        order_by: Option<String> => |f: &mut Fields, key: &str, v: &Option<String>| {
            if v.as_ref().is_some_and(|o| o != "signed_up_at") {
                f.fail(key, "must be one of the following values: signed_up_at");
            }
        },
        desc: Flag,
        query: Option<String>,
        team_id: Option<String> => |f: &mut Fields, key: &str, v: &Option<String>| {
            if v.as_ref().is_some_and(|t| Uuid::parse_str(t).is_err()) {
                f.fail(key, "must be a valid UUID");
            }
        },
        include_restricted: Flag,
        include_anonymous: Flag,
        only_anonymous: Flag,
    }
}

input! {
    /// `GET /users/{user_id}`: takes the list's query keys (as Stack does) and ignores them.
    pub(crate) struct UserQuery in Query {
        limit: Option<String>,
        cursor: Option<String>,
        order_by: Option<String>,
        desc: Option<String>,
        query: Option<String>,
        team_id: Option<String>,
        include_restricted: Option<String>,
        include_anonymous: Option<String>,
        only_anonymous: Option<String>,
    }
}

pub(crate) fn is_base64_image(s: &str) -> bool {
    let payload = match s.strip_prefix("data:image/") {
        Some(rest) => {
            let Some((ty, data)) = rest.split_once(";base64,") else {
                return false;
            };
            if !["png", "jpg", "jpeg", "gif", "bmp", "webp"].contains(&ty) {
                return false;
            }
            data
        }
        None => s,
    };
    !payload.is_empty()
        && base64::engine::general_purpose::STANDARD
            .decode(payload)
            .is_ok()
}

pub(crate) async fn patch_me(rq: Rq<'_>, b: MePatch) -> Result<Json<UserView>> {
    let auth = rq.auth()?;
    let update = match b {
        MePatch::Client(b) => {
            if let Some(Some(url)) = &b.profile_image_url
                && !is_base64_image(url)
            {
                return Err(Error::Refused(Refusal::InvalidProfileImageUrl));
            }
            b.into_update()
        }
        MePatch::Server(b) => b.into_update(),
    };
    let id = me(auth)?;
    let user =
        rq.p.users()
            .update_as(&auth.project, id, update, caller(&rq, auth))
            .await?;
    let client = auth.access_type == AccessType::Client;
    Ok(Json::ok(UserView::of(&user, !client)))
}

pub(crate) async fn delete_me(rq: Rq<'_>) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let id = me(auth)?;
    rq.p.users().delete_as(auth, id).await?;
    Ok(Json::ok(SuccessView::TRUE))
}

pub(crate) async fn list(rq: Rq<'_>, q: UsersQuery) -> Result<Json<UserPageView>> {
    let auth = rq.auth()?;
    let team = q.team_id.clone();
    let q = ListUsers {
        limit: q.limit.and_then(|l| l.parse().ok()),
        cursor: q.cursor.and_then(|c| Uuid::parse_str(&c).ok()),
        desc: q.desc.0,
        query: q.query,
        include_restricted: q.include_restricted.0,
        include_anonymous: q.include_anonymous.0,
        only_anonymous: q.only_anonymous.0,
    };
    let page = if let Some(team) = team.as_deref().and_then(|t| Uuid::parse_str(t).ok()) {
        let mut items = Vec::new();
        for p in
            rq.p.teams()
                .member_profiles(&auth.project, Some(team), None)
                .await?
        {
            items.push(p.user);
        }
        items.sort_by_key(|u| (u.signed_up_at_millis, u.id));
        if q.desc {
            items.reverse();
        }
        crate::users::UserPage {
            items,
            next_cursor: None,
        }
    } else {
        rq.p.users().list(&auth.project, &q).await?
    };
    Ok(Json::ok(UserPageView {
        items: page.items.iter().map(|u| UserView::of(u, true)).collect(),
        is_paginated: true,
        pagination: PaginationView {
            next_cursor: page.next_cursor,
        },
    }))
}

pub(crate) async fn create(rq: Rq<'_>, b: NewUser) -> Result<Json<UserView>> {
    let auth = rq.auth()?;
    let accounts: Vec<crate::model::OAuthProviderLink> = match &b.oauth_providers {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => {
            let mut out = Vec::new();
            for (i, item) in list.iter().enumerate() {
                let field = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
                match (field("id"), field("account_id")) {
                    (Some(id), Some(account_id)) => out.push(crate::model::OAuthProviderLink {
                        id,
                        account_id,
                        email: field("email").filter(|e| !e.is_empty()),
                    }),
                    _ => {
                        return Err(Error::schema(format!(
                            "body.oauth_providers[{i}] must have string id and account_id"
                        )));
                    }
                }
            }
            out
        }
        Some(_) => {
            return Err(Error::schema("body.oauth_providers must be a `array` type"));
        }
    };
    let user =
        rq.p.users()
            .create_with_provider_accounts(&auth.project, b.into_update(), &accounts)
            .await?;
    Ok(Json::created(UserView::of(&user, true)))
}

pub(crate) fn path_user(rq: &Rq<'_>, auth: &Auth) -> Result<Uuid> {
    user_id_or_me(rq.param("user_id"), auth.user_id(), "params.user_id")
}

pub(crate) async fn get(rq: Rq<'_>, _: UserQuery) -> Result<Json<UserView>> {
    let auth = rq.auth()?;
    let id = path_user(&rq, auth)?;
    let user =
        rq.p.users()
            .get(&auth.project, id)
            .await?
            .ok_or(Error::UserNotFound)?;
    Ok(Json::ok(UserView::of(&user, true)))
}

pub(crate) async fn patch(rq: Rq<'_>, b: ServerUserPatch) -> Result<Json<UserView>> {
    let auth = rq.auth()?;
    let id = path_user(&rq, auth)?;
    let user =
        rq.p.users()
            .update(&auth.project, id, b.into_update())
            .await?;
    Ok(Json::ok(UserView::of(&user, true)))
}

pub(crate) async fn delete(rq: Rq<'_>) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let id = path_user(&rq, auth)?;
    if !rq.p.users().delete(&auth.project, id).await? {
        return Err(Error::UserNotFound);
    }
    Ok(Json::ok(SuccessView::TRUE))
}
