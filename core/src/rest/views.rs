//! Wire shapes of users, sessions and projects (§8 of the contract).

use serde_json::{Map, Value, json};

use crate::api_keys::KeyType;
use crate::projects::Project;
use crate::sessions::Session;
use crate::storage::{ApiKeyOwner, ApiKeyRecord};
use crate::users::User;

/// The user object: the 27-field server view, or the 21-field client view.
pub fn user_json(u: &User, server: bool) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("id", json!(u.id));
    put("primary_email", json!(u.primary_email));
    put("primary_email_verified", json!(u.primary_email_verified));
    put("display_name", json!(u.display_name));
    put("profile_image_url", json!(u.profile_image_url));
    put("signed_up_at_millis", json!(u.signed_up_at_millis));
    put(
        "client_metadata",
        u.client_metadata.clone().unwrap_or(Value::Null),
    );
    put(
        "client_read_only_metadata",
        u.client_read_only_metadata.clone().unwrap_or(Value::Null),
    );
    put("has_password", json!(u.has_password));
    put("otp_auth_enabled", json!(u.otp_auth_enabled));
    put("passkey_auth_enabled", json!(u.passkey_auth_enabled));
    put(
        "auth_with_email",
        json!(u.has_password || u.otp_auth_enabled),
    );
    put("requires_totp_mfa", json!(u.requires_totp_mfa));
    put("oauth_providers", json!([]));
    put("selected_team_id", json!(u.selected_team_id));
    put(
        "selected_team",
        u.selected_team
            .as_ref()
            .map(|t| team_json(t, server))
            .unwrap_or(Value::Null),
    );
    put("is_anonymous", json!(u.is_anonymous));
    put("is_restricted", json!(u.is_restricted()));
    put(
        "restricted_reason",
        u.restricted_reason
            .map(|r| r.to_json())
            .unwrap_or(Value::Null),
    );
    put("restricted_by_admin", json!(u.restricted_by_admin));
    put(
        "restricted_by_admin_reason",
        json!(u.restricted_by_admin_reason),
    );
    if server {
        put(
            "primary_email_auth_enabled",
            json!(u.primary_email_auth_enabled),
        );
        put("last_active_at_millis", json!(u.last_active_at_millis));
        put(
            "server_metadata",
            u.server_metadata.clone().unwrap_or(Value::Null),
        );
        put(
            "restricted_by_admin_private_details",
            json!(u.restricted_by_admin_private_details),
        );
        put("country_code", json!(u.country_code));
        put(
            "risk_scores",
            json!({ "sign_up": { "bot": u.risk_score_bot, "free_trial_abuse": u.risk_score_free_trial_abuse } }),
        );
    }
    Value::Object(m)
}

/// The session object (note `created_at` / `last_used_at` without `_millis`, as Stack).
pub fn session_json(s: &Session, current: Option<uuid::Uuid>) -> Value {
    json!({
        "id": s.id,
        "user_id": s.user_id,
        "created_at": s.created_at_millis,
        "last_used_at": s.last_used_at_millis,
        "is_impersonation": s.is_impersonation,
        "is_current_session": current == Some(s.id),
    })
}

/// An API key: `value` is `{"last_four"}`, or the full key on the create response only.
/// `expires_at_millis` and `manually_revoked_at_millis` are omitted when unset, as Stack.
pub fn api_key_json(k: &ApiKeyRecord, full_value: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(k.id));
    m.insert("description".into(), json!(k.description));
    m.insert("is_public".into(), json!(k.is_public));
    m.insert("created_at_millis".into(), json!(k.created_at_millis));
    if let Some(e) = k.expires_at_millis {
        m.insert("expires_at_millis".into(), json!(e));
    }
    if let Some(r) = k.revoked_at_millis {
        m.insert("manually_revoked_at_millis".into(), json!(r));
    }
    m.insert(
        "value".into(),
        match full_value {
            Some(v) => json!(v),
            None => json!({ "last_four": k.last_four }),
        },
    );
    m.insert("type".into(), json!(KeyType::of(k.owner).as_str()));
    match k.owner {
        ApiKeyOwner::User(u) => m.insert("user_id".into(), json!(u)),
        ApiKeyOwner::Team(t) => m.insert("team_id".into(), json!(t)),
    };
    Value::Object(m)
}

/// The client project object of `GET /projects/current`.
pub fn project_json(p: &Project) -> Value {
    let c = &p.config;
    let mut domains: Vec<(String, String)> = c
        .domains
        .trusted_domains
        .values()
        .filter_map(|d| {
            d.base_url.clone().map(|u| {
                (
                    u,
                    d.handler_path.clone().unwrap_or_else(|| "/handler".into()),
                )
            })
        })
        .collect();
    domains.sort();
    json!({
        "id": p.id,
        "display_name": p.display_name,
        "config": {
            "sign_up_enabled": c.auth.allow_sign_up,
            "credential_enabled": c.auth.password.allow_sign_in,
            "magic_link_enabled": c.auth.otp.allow_sign_in,
            "passkey_enabled": c.auth.passkey.allow_sign_in,
            "client_team_creation_enabled": c.teams.allow_client_team_creation,
            "client_user_deletion_enabled": c.users.allow_client_user_deletion,
            "allow_user_api_keys": c.api_keys.enabled.user,
            "allow_team_api_keys": c.api_keys.enabled.team,
            "enabled_oauth_providers": [],
            "domains": domains.into_iter().map(|(d, h)| json!({"domain": d, "handler_path": h})).collect::<Vec<_>>(),
        }
    })
}

/// A team as Stack renders it to clients, or to servers (with `created_at_millis` and
/// `server_metadata`).
pub fn team_json(t: &crate::teams::Team, server: bool) -> Value {
    let mut v = json!({
        "id": t.id,
        "display_name": t.display_name,
        "profile_image_url": t.profile_image_url,
        "client_metadata": t.client_metadata,
        "client_read_only_metadata": t.client_read_only_metadata,
    });
    if server {
        v["created_at_millis"] = json!(t.created_at_millis);
        v["server_metadata"] = json!(t.server_metadata);
    }
    v
}

/// A contact channel as Stack renders it.
pub fn contact_channel_json(c: &crate::storage::ContactChannelRecord) -> Value {
    json!({
        "user_id": c.user_id,
        "id": c.id,
        "value": c.value,
        "type": c.kind.as_str(),
        "used_for_auth": c.used_for_auth,
        "is_verified": c.is_verified,
        "is_primary": c.is_primary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProjectConfig;
    use crate::storage::UserRecord;

    #[test]
    fn client_and_server_views_have_stacks_field_counts() {
        let mut rec = UserRecord::new("p", 1);
        rec.server_metadata = Some(json!({"secret": 1}));
        rec.password_hash = Some("$argon2id$...".into());
        let u = User::from_parts(&rec, &[], &ProjectConfig::default());
        let server = user_json(&u, true);
        let client = user_json(&u, false);
        assert_eq!(server.as_object().unwrap().len(), 27);
        assert_eq!(client.as_object().unwrap().len(), 21);
        assert!(client.get("server_metadata").is_none());
        assert_eq!(server["server_metadata"], json!({"secret": 1}));
        assert!(!server.to_string().contains("argon2"), "never the hash");
    }
}
