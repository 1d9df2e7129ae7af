//! Users: the signed-in user and the server-side user admin.

use super::*;

pub(crate) const CLIENT_UPDATE_FIELDS: &[&str] = &[
    "display_name",
    "profile_image_url",
    "client_metadata",
    "selected_team_id",
    "totp_secret_base64",
    "otp_auth_enabled",
    "passkey_auth_enabled",
    "primary_email",
];

pub(crate) const SERVER_UPDATE_FIELDS: &[&str] = &[
    "display_name",
    "profile_image_url",
    "client_metadata",
    "client_read_only_metadata",
    "server_metadata",
    "primary_email",
    "primary_email_verified",
    "primary_email_auth_enabled",
    "password",
    "password_hash",
    "otp_auth_enabled",
    "passkey_auth_enabled",
    "totp_secret_base64",
    "selected_team_id",
    "is_anonymous",
    "restricted_by_admin",
    "restricted_by_admin_reason",
    "restricted_by_admin_private_details",
    "country_code",
    "risk_scores",
];

pub(crate) const LIST_QUERY: &[&str] = &[
    "limit",
    "cursor",
    "order_by",
    "desc",
    "query",
    "team_id",
    "include_restricted",
    "include_anonymous",
    "only_anonymous",
];

pub(crate) fn me(auth: &Auth) -> Result<Uuid> {
    auth.user_id().ok_or(Error::CannotGetOwnUserWithoutUser)
}

pub(crate) async fn get_me(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    Fields::query(&rq.query, &[]).finish()?;
    let user = auth
        .user
        .as_ref()
        .ok_or(Error::CannotGetOwnUserWithoutUser)?;
    Ok(json(
        StatusCode::OK,
        &user_json(user, auth.access_type != AccessType::Client),
    ))
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateKind {
    Client,
    ServerPatch,
    ServerCreate,
}

/// Reads a user create/update body into a [`UserUpdate`], with Stack's validation.
pub(crate) fn parse_user_update(f: &mut Fields, kind: UpdateKind) -> Result<UserUpdate> {
    let mut u = UserUpdate {
        display_name: f.nullable_str("display_name"),
        ..Default::default()
    };
    if let Some(Some(n)) = &u.display_name
        && n.chars().count() > 256
    {
        f.fail("display_name", "must be at most 256 characters");
    }
    u.profile_image_url = f.nullable_str("profile_image_url");
    if let Some(Some(url)) = &u.profile_image_url {
        if url.contains(' ') {
            f.fail("profile_image_url", "contains spaces");
        } else if url.is_empty() || (!is_base64_image(url) && url::Url::parse(url).is_err()) {
            f.fail("profile_image_url", "is not a valid URL");
        }
    }
    u.client_metadata = f.opt_json("client_metadata");
    u.primary_email = f.nullable_str("primary_email");
    if let Some(Some(e)) = &u.primary_email {
        if e.is_empty() {
            f.fail("primary_email", "must not be empty");
        } else if !is_valid_email_lenient(e.trim()) {
            f.fail("primary_email", "must be a valid email");
        }
    }
    u.otp_auth_enabled = f.opt_bool("otp_auth_enabled");
    u.passkey_auth_enabled = f.opt_bool("passkey_auth_enabled");
    match f.nullable_str("totp_secret_base64") {
        Some(Some(s)) => match base64::engine::general_purpose::STANDARD.decode(&s) {
            Ok(bytes) => u.totp_secret = Some(Some(bytes)),
            Err(_) => f.fail("totp_secret_base64", "is not valid base64"),
        },
        Some(None) => u.totp_secret = Some(None),
        None => {}
    }
    if kind != UpdateKind::ServerCreate
        && let Some(raw) = f.opt_str_raw("selected_team_id").cloned()
    {
        match raw {
            Value::Null => u.selected_team_id = Some(None),
            Value::String(s) => match Uuid::parse_str(&s) {
                Ok(id) => u.selected_team_id = Some(Some(id)),
                Err(_) => f.fail("selected_team_id", "must be a valid UUID"),
            },
            _ => f.fail("selected_team_id", "must be a valid UUID"),
        }
    }
    if kind == UpdateKind::Client {
        if let Some(Some(url)) = &u.profile_image_url
            && !is_base64_image(url)
            && !f.failed()
        {
            return Err(Error::bad_request("Invalid profile image URL"));
        }
        return Ok(u);
    }
    u.client_read_only_metadata = f.opt_json("client_read_only_metadata");
    u.server_metadata = f.opt_json("server_metadata");
    u.primary_email_verified = f.opt_bool("primary_email_verified");
    u.primary_email_auth_enabled = f.opt_bool("primary_email_auth_enabled");
    u.password = f.nullable_str("password");
    if let Some(Some(pw)) = &u.password
        && password_length(pw) > MAX_PASSWORD_LENGTH
    {
        f.fail(
            "password",
            &format!("must be at most {MAX_PASSWORD_LENGTH} characters"),
        );
    }
    u.password_hash = f.nullable_str("password_hash");
    if let Some(Some(h)) = &u.password_hash
        && h.is_empty()
    {
        f.fail("password_hash", "must not be empty");
    }
    u.is_anonymous = f.opt_bool("is_anonymous");
    if kind == UpdateKind::ServerPatch && u.is_anonymous == Some(true) {
        f.fail("is_anonymous", "must be one of the following values: false");
    }
    u.restricted_by_admin = f.opt_bool("restricted_by_admin");
    u.restricted_by_admin_reason = f.nullable_str("restricted_by_admin_reason");
    u.restricted_by_admin_private_details = f.nullable_str("restricted_by_admin_private_details");
    if u.restricted_by_admin != Some(true) {
        if matches!(u.restricted_by_admin_reason, Some(Some(_))) {
            f.fail_raw(
                "restricted_by_admin_reason must be null when restricted_by_admin is not true",
            );
        }
        if matches!(u.restricted_by_admin_private_details, Some(Some(_))) {
            f.fail_raw("restricted_by_admin_private_details must be null when restricted_by_admin is not true");
        }
    }
    u.country_code = f.nullable_str("country_code");
    if let Some(Some(c)) = &u.country_code {
        let c = c.trim();
        if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
            f.fail("country_code", "must be a valid country code");
        }
    }
    if let Some(r) = f.opt_json("risk_scores") {
        let score = |k: &str| {
            r.get("sign_up")
                .and_then(|s| s.get(k))
                .and_then(Value::as_i64)
                .filter(|v| (0..=100).contains(v))
        };
        match (score("bot"), score("free_trial_abuse")) {
            (Some(b), Some(t)) => u.risk_scores = Some((b as i32, t as i32)),
            _ => f.fail(
                "risk_scores",
                "must be {sign_up: {bot, free_trial_abuse}} with integers from 0 to 100",
            ),
        }
    }
    Ok(u)
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

pub(crate) async fn patch_me(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let client = auth.access_type == AccessType::Client;
    let allowed = if client {
        CLIENT_UPDATE_FIELDS
    } else {
        SERVER_UPDATE_FIELDS
    };
    let mut f = Fields::body(&rq.body, allowed);
    let update = parse_user_update(
        &mut f,
        if client {
            UpdateKind::Client
        } else {
            UpdateKind::ServerPatch
        },
    )?;
    f.finish()?;
    let id = me(auth)?;
    let user =
        rq.p.users()
            .update_as(&auth.project, id, update, caller(&rq, auth))
            .await?;
    Ok(json(StatusCode::OK, &user_json(&user, !client)))
}

pub(crate) async fn delete_me(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let id = me(auth)?;
    if auth.access_type == AccessType::Client
        && !auth.project.config.users.allow_client_user_deletion
    {
        return Err(Error::bad_request(
            "Client user deletion is not enabled for this project",
        ));
    }
    rq.p.users().delete(&auth.project, id).await?;
    Ok(success())
}

pub(crate) async fn list(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::query(&rq.query, LIST_QUERY);
    let mut q = ListUsers::default();
    if let Some(l) = f.opt_str("limit") {
        match l.parse::<u64>() {
            Ok(n) if n >= 1 => q.limit = Some(n),
            _ => f.fail("limit", "must be a positive integer"),
        }
    }
    if let Some(c) = f.opt_str("cursor") {
        match Uuid::parse_str(&c) {
            Ok(id) => q.cursor = Some(id),
            Err(_) => f.fail("cursor", "must be a valid UUID"),
        }
    }
    if let Some(o) = f.opt_str("order_by")
        && o != "signed_up_at"
    {
        f.fail(
            "order_by",
            "must be one of the following values: signed_up_at",
        );
    }
    q.desc = f.flag("desc");
    q.query = f.opt_str("query");
    let team = f.opt_str("team_id");
    if let Some(t) = &team
        && Uuid::parse_str(t).is_err()
    {
        f.fail("team_id", "must be a valid UUID");
    }
    q.include_restricted = f.flag("include_restricted");
    q.include_anonymous = f.flag("include_anonymous");
    q.only_anonymous = f.flag("only_anonymous");
    f.finish()?;
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
    let items: Vec<Value> = page.items.iter().map(|u| user_json(u, true)).collect();
    Ok(json(
        StatusCode::OK,
        &json!({ "items": items, "is_paginated": true, "pagination": { "next_cursor": page.next_cursor } }),
    ))
}

pub(crate) async fn create(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut fields: Vec<&str> = SERVER_UPDATE_FIELDS
        .iter()
        .copied()
        .filter(|f| *f != "selected_team_id")
        .collect();
    fields.push("oauth_providers");
    let mut f = Fields::body(&rq.body, &fields);
    let update = parse_user_update(&mut f, UpdateKind::ServerCreate)?;
    let providers = f.opt_json("oauth_providers");
    f.finish()?;
    if let Some(Value::Array(list)) = &providers
        && let Some(first) = list.first()
    {
        let id = first.get("id").and_then(Value::as_str).unwrap_or_default();
        return Err(Error::bad_request(format!("OAuth provider {id} not found")));
    }
    let user = rq.p.users().create(&auth.project, update).await?;
    Ok(json(StatusCode::CREATED, &user_json(&user, true)))
}

pub(crate) fn path_user(rq: &Rq<'_>, auth: &Auth) -> Result<Uuid> {
    user_id_or_me(rq.param("user_id"), auth.user_id(), "params.user_id")
}

pub(crate) async fn get(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    Fields::query(&rq.query, LIST_QUERY).finish()?;
    let id = path_user(&rq, auth)?;
    let user =
        rq.p.users()
            .get(&auth.project, id)
            .await?
            .ok_or(Error::UserNotFound)?;
    Ok(json(StatusCode::OK, &user_json(&user, true)))
}

pub(crate) async fn patch(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(&rq.body, SERVER_UPDATE_FIELDS);
    let update = parse_user_update(&mut f, UpdateKind::ServerPatch)?;
    f.finish()?;
    let id = path_user(&rq, auth)?;
    let user = rq.p.users().update(&auth.project, id, update).await?;
    Ok(json(StatusCode::OK, &user_json(&user, true)))
}

pub(crate) async fn delete(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let id = path_user(&rq, auth)?;
    if !rq.p.users().delete(&auth.project, id).await? {
        return Err(Error::UserNotFound);
    }
    Ok(success())
}
