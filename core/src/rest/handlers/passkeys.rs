//! Passkeys: Stack's four ceremony routes (`/auth/passkey/*`), and Postern's routes for the
//! signed-in user's passkeys (`/users/me/passkeys`).

use super::users::me;
use super::*;
use crate::passkeys::{PasskeyInfo, normalize_name};
use crate::rest::input::input;
use utoipa::ToSchema;

/// A started ceremony: `{options_json, code}`.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub(crate) struct PasskeyOptionsView {
    /// WebAuthn options for the browser; the RP id is a sentinel the SDK replaces with the
    /// page's hostname.
    pub(crate) options_json: Value,
    /// The verification code (65 seconds, single use) to send back with the response.
    pub(crate) code: String,
}

/// `{user_handle}`: the credential id of the registered passkey.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub(crate) struct UserHandleView {
    /// The credential id, base64url.
    pub(crate) user_handle: String,
}

/// A passkey of the signed-in user (Postern extension).
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub(crate) struct PasskeyView {
    /// Passkey id.
    pub(crate) id: Uuid,
    /// The name its owner gave it.
    pub(crate) name: Option<String>,
    /// The credential id, base64url (the `user_handle` of its registration).
    pub(crate) credential_id: String,
    /// COSE algorithm of its key (-7 ES256, -257 RS256).
    pub(crate) algorithm: i32,
    /// Transports the authenticator reported (`internal`, `hybrid`, `usb`, ...).
    pub(crate) transports: Vec<String>,
    /// `multiDevice` (may be synced between devices) or `singleDevice`.
    pub(crate) device_type: &'static str,
    /// Backed up or synced now.
    pub(crate) backed_up: bool,
    /// Registration time.
    pub(crate) created_at_millis: i64,
    /// Last sign-in with it.
    pub(crate) last_used_at_millis: Option<i64>,
}

impl From<PasskeyInfo> for PasskeyView {
    fn from(p: PasskeyInfo) -> Self {
        PasskeyView {
            id: p.id,
            name: p.name,
            credential_id: p.credential_id,
            algorithm: p.algorithm,
            transports: p.transports,
            device_type: if p.backup_eligible {
                "multiDevice"
            } else {
                "singleDevice"
            },
            backed_up: p.backup_state,
            created_at_millis: p.created_at_millis,
            last_used_at_millis: p.last_used_at_millis,
        }
    }
}

/// Field check: a passkey name (see [`normalize_name`]).
fn passkey_name(f: &mut Fields, key: &str, v: &impl Text) {
    if let Some(n) = v.text()
        && normalize_name(n).is_none()
    {
        f.fail(
            key,
            &format!(
                "must be at most {} characters",
                crate::passkeys::MAX_NAME_LENGTH
            ),
        );
    }
}

/// `POST /auth/passkey/initiate-passkey-registration` (the body is ignored).
pub(crate) async fn initiate_registration(rq: Rq<'_>) -> Result<Json<PasskeyOptionsView>> {
    let auth = rq.auth()?;
    let user = schema_user(auth)?;
    let c =
        rq.p.passkeys()
            .begin_registration_as(caller(&rq, auth), &auth.project, user)
            .await?;
    Ok(Json::ok(PasskeyOptionsView {
        options_json: c.options_json,
        code: c.code,
    }))
}

input! {
    /// `POST /auth/passkey/register`; `name` is a Postern extension.
    pub(crate) struct Register in Body {
        credential: Value,
        code: String => code_len,
        name: Option<String> => passkey_name,
    }
    check(_this, f, rq) {
        needs_user(f, rq);
    }
}

pub(crate) async fn register(rq: Rq<'_>, b: Register) -> Result<Json<UserHandleView>> {
    let auth = rq.auth()?;
    let user = schema_user(auth)?;
    let name = b.name.as_deref().and_then(normalize_name).flatten();
    let p =
        rq.p.passkeys()
            .register(&auth.project, user, &b.code, &b.credential, name.as_deref())
            .await?;
    Ok(Json::ok(UserHandleView {
        user_handle: p.credential_id,
    }))
}

/// `POST /auth/passkey/initiate-passkey-authentication` (the body is ignored).
pub(crate) async fn initiate_authentication(rq: Rq<'_>) -> Result<Json<PasskeyOptionsView>> {
    let auth = rq.auth()?;
    let c = rq.p.passkeys().begin_authentication(&auth.project).await?;
    Ok(Json::ok(PasskeyOptionsView {
        options_json: c.options_json,
        code: c.code,
    }))
}

input! {
    /// `POST /auth/passkey/sign-in`.
    pub(crate) struct PasskeySignIn in Body {
        authentication_response: Value,
        code: String => code_len,
    }
}

pub(crate) async fn sign_in(rq: Rq<'_>, b: PasskeySignIn) -> Result<Json<SignedInView>> {
    let auth = rq.auth()?;
    let s =
        rq.p.passkeys()
            .sign_in(&auth.project, &b.code, &b.authentication_response)
            .await?;
    Ok(Json::ok(SignedInView {
        refresh_token: s.signed_in.refresh_token,
        access_token: s.signed_in.access_token,
        is_new_user: s.is_new_user,
        user_id: s.signed_in.user_id,
    }))
}

/// `GET /users/me/passkeys`.
pub(crate) async fn list(rq: Rq<'_>, _: NoQuery) -> Result<Json<ListView<PasskeyView>>> {
    let auth = rq.auth()?;
    let user = me(auth)?;
    let items = rq.p.passkeys().list(&auth.project, user).await?;
    Ok(Json::ok(ListView::of(
        items.into_iter().map(PasskeyView::from).collect(),
    )))
}

input! {
    /// `PATCH /users/me/passkeys/{passkey_id}`: `name` (`null` or blank clears it).
    pub(crate) struct PasskeyPatch in Body {
        name: Option<Option<String>> => passkey_name,
    }
}

pub(crate) async fn patch(rq: Rq<'_>, b: PasskeyPatch) -> Result<Json<PasskeyView>> {
    let auth = rq.auth()?;
    let user = me(auth)?;
    let id = path_uuid(&rq, "passkey_id")?;
    let passkeys = rq.p.passkeys();
    let p = match b.name {
        None => passkeys
            .list(&auth.project, user)
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(Error::PasskeyNotFound(id))?,
        Some(name) => {
            let name = name.as_deref().and_then(normalize_name).flatten();
            passkeys
                .rename(&auth.project, user, id, name.as_deref())
                .await?
        }
    };
    Ok(Json::ok(PasskeyView::from(p)))
}

/// `DELETE /users/me/passkeys/{passkey_id}`.
pub(crate) async fn delete(rq: Rq<'_>) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let user = me(auth)?;
    let id = path_uuid(&rq, "passkey_id")?;
    rq.p.passkeys().delete(&auth.project, user, id).await?;
    Ok(Json::ok(SuccessView::TRUE))
}
