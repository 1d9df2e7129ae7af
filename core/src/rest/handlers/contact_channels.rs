//! Contact channels: list, create, update, verify, and sign-in confirmation.

use super::*;
use crate::contact_channels::ChannelAction;
use crate::rest::input::{FieldValue, Input, Source, input, object_schema};

/// `type` must be `email` and `value` a valid address (create and patch).
fn check_channel_fields(f: &mut Fields, kind: Option<&str>, value: Option<&str>) {
    if let Some(k) = kind
        && k != "email"
    {
        f.fail("type", "must be one of the following values: email");
    }
    if let Some(v) = value
        && !is_valid_email_lenient(v.trim())
    {
        f.fail("value", "must be a valid email");
    }
}

/// Whether the caller is trusted (server or admin access) and may set `is_verified`.
fn trusted(rq: &Rq<'_>) -> Result<bool> {
    Ok(rq.auth()?.access_type != AccessType::Client)
}

/// The keys of a create or patch body: `is_verified` only for trusted callers.
fn channel_keys(base: &[&'static str], trusted: bool) -> Vec<&'static str> {
    let mut keys = base.to_vec();
    if trusted {
        keys.push("is_verified");
    }
    keys
}

/// The user a contact-channel request acts on (a user id or `me`), checked by
/// [`ContactChannels::authorize`](crate::ContactChannels::authorize) before the rest of the
/// request is read.
pub(crate) fn channel_user(
    rq: &Rq<'_>,
    auth: &Auth,
    raw: &str,
    path: &str,
    action: ChannelAction,
) -> Result<Uuid> {
    let caller = caller(rq, auth);
    if let Caller::Client { user_id: None, .. } = caller {
        return Err(Error::CannotGetOwnUserWithoutUser);
    }
    let user = user_id_or_me(raw, auth.user_id(), path)?;
    rq.p.contact_channels()
        .authorize(&caller, Some(user), action)?;
    Ok(user)
}

input! {
    /// `GET /contact-channels`: whose channels (a user id or `me`), optionally narrowed to
    /// one channel.
    pub(crate) struct ChannelList in Query {
        user_id: Option<String>,
        contact_channel_id: Option<String>,
    }
    check(this, f, _rq) {
        // A malformed channel id is reported alone, once the query is otherwise valid.
        if let Some(c) = &this.contact_channel_id
            && f.failure_count() == 0
            && Uuid::parse_str(c).is_err()
        {
            f.fail("contact_channel_id", "must be a valid UUID");
        }
    }
}

impl ChannelList {
    /// The channel to narrow the list to (validated by [`Input::parse`]).
    fn channel_id(&self) -> Option<Uuid> {
        self.contact_channel_id
            .as_deref()
            .and_then(|c| Uuid::parse_str(c).ok())
    }
}

pub(crate) async fn list(rq: Rq<'_>, q: ChannelList) -> Result<Json<ListView<ContactChannelView>>> {
    let auth = rq.auth()?;
    let channel_id = q.channel_id();
    let user = match &q.user_id {
        None => None,
        Some(raw) => Some(channel_user(
            &rq,
            auth,
            raw,
            "query.user_id",
            ChannelAction::List,
        )?),
    };
    let items =
        rq.p.contact_channels()
            .list_as(&auth.project, user, caller(&rq, auth))
            .await?
            .iter()
            .filter(|c| channel_id.is_none_or(|id| c.id == id))
            .map(ContactChannelView::of)
            .collect();
    Ok(Json::ok(ListView::of(items)))
}

/// `POST /contact-channels`: a new address for a user. `type` is required and must be
/// `email` (checked, not kept). `is_verified` is accepted from trusted callers only (a
/// client sending it gets the unknown-property line).
#[derive(Debug, Clone, Default)]
pub(crate) struct ChannelCreate {
    /// A user id or `me`.
    pub(crate) user_id: String,
    /// The address.
    pub(crate) value: String,
    /// Whether the address may sign in.
    pub(crate) used_for_auth: Option<bool>,
    /// Whether it becomes the primary address.
    pub(crate) is_primary: Option<bool>,
    /// Whether it is already verified (trusted callers).
    pub(crate) is_verified: Option<bool>,
}

impl Input for ChannelCreate {
    const SOURCE: Source = Source::Body;

    fn parse(rq: &Rq<'_>) -> Result<Self> {
        let trusted = trusted(rq)?;
        let keys = channel_keys(
            &["user_id", "value", "type", "used_for_auth", "is_primary"],
            trusted,
        );
        let mut f = Fields::body(&rq.body, &keys);
        let user_id = f.req_str("user_id");
        let value = f.req_str("value");
        let kind = f.req_str("type");
        let used_for_auth = f.opt_bool("used_for_auth");
        if used_for_auth.is_none() && f.opt_str_raw("used_for_auth").is_none() {
            f.fail("used_for_auth", "must be defined");
        }
        let is_primary = f.opt_bool("is_primary");
        let is_verified = if trusted {
            f.opt_bool("is_verified")
        } else {
            None
        };
        check_channel_fields(&mut f, kind.as_deref(), value.as_deref());
        f.finish()?;
        Ok(ChannelCreate {
            user_id: user_id.unwrap_or_default(),
            value: value.unwrap_or_default(),
            used_for_auth,
            is_primary,
            is_verified,
        })
    }

    fn schema() -> Value {
        object_schema(&[
            ("user_id", String::schema(), true),
            ("value", String::schema(), true),
            ("type", json!({ "type": "string", "enum": ["email"] }), true),
            ("used_for_auth", <Option<bool>>::schema(), true),
            ("is_primary", <Option<bool>>::schema(), false),
            ("is_verified", <Option<bool>>::schema(), false),
        ])
    }
}

pub(crate) async fn create(rq: Rq<'_>, b: ChannelCreate) -> Result<Json<ContactChannelView>> {
    let auth = rq.auth()?;
    let user = channel_user(&rq, auth, &b.user_id, "body.user_id", ChannelAction::Create)?;
    let channel =
        rq.p.contact_channels()
            .create_as(
                &auth.project,
                user,
                NewChannel {
                    value: b.value,
                    used_for_auth: b.used_for_auth.unwrap_or(false),
                    is_primary: b.is_primary.unwrap_or(false),
                    is_verified: b.is_verified.unwrap_or(false),
                },
                caller(&rq, auth),
            )
            .await?;
    Ok(Json::created(ContactChannelView::of(&channel)))
}

pub(crate) async fn get(rq: Rq<'_>, _: NoQuery) -> Result<Json<ContactChannelView>> {
    let auth = rq.auth()?;
    let user = channel_user(
        &rq,
        auth,
        rq.param("user_id"),
        "params.user_id",
        ChannelAction::Read,
    )?;
    let id = path_uuid(&rq, "contact_channel_id")?;
    let channel =
        rq.p.contact_channels()
            .get_as(&auth.project, user, id, caller(&rq, auth))
            .await?
            .ok_or(Error::Refused(Refusal::ContactChannelNotFound))?;
    Ok(Json::ok(ContactChannelView::of(&channel)))
}

/// `PATCH /contact-channels/{user_id}/{contact_channel_id}`: the fields to change.
/// `is_verified` is accepted from trusted callers only.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChannelPatch {
    /// A new address.
    pub(crate) value: Option<String>,
    /// `email`.
    pub(crate) kind: Option<String>,
    /// Whether the address may sign in.
    pub(crate) used_for_auth: Option<bool>,
    /// Whether it becomes the primary address.
    pub(crate) is_primary: Option<bool>,
    /// Whether it is verified (trusted callers).
    pub(crate) is_verified: Option<bool>,
}

impl Input for ChannelPatch {
    const SOURCE: Source = Source::Body;

    fn parse(rq: &Rq<'_>) -> Result<Self> {
        let trusted = trusted(rq)?;
        let keys = channel_keys(&["value", "type", "used_for_auth", "is_primary"], trusted);
        let mut f = Fields::body(&rq.body, &keys);
        let value = Option::<String>::read(&mut f, "value");
        let kind = Option::<String>::read(&mut f, "type");
        let used_for_auth = Option::<bool>::read(&mut f, "used_for_auth");
        let is_primary = Option::<bool>::read(&mut f, "is_primary");
        let is_verified = if trusted {
            Option::<bool>::read(&mut f, "is_verified")
        } else {
            None
        };
        check_channel_fields(&mut f, kind.as_deref(), value.as_deref());
        f.finish()?;
        Ok(ChannelPatch {
            value,
            kind,
            used_for_auth,
            is_primary,
            is_verified,
        })
    }

    fn schema() -> Value {
        object_schema(&[
            ("value", <Option<String>>::schema(), false),
            (
                "type",
                json!({ "type": "string", "enum": ["email"] }),
                false,
            ),
            ("used_for_auth", <Option<bool>>::schema(), false),
            ("is_primary", <Option<bool>>::schema(), false),
            ("is_verified", <Option<bool>>::schema(), false),
        ])
    }
}

pub(crate) async fn patch(rq: Rq<'_>, b: ChannelPatch) -> Result<Json<ContactChannelView>> {
    let auth = rq.auth()?;
    let user = channel_user(
        &rq,
        auth,
        rq.param("user_id"),
        "params.user_id",
        ChannelAction::Update,
    )?;
    let id = path_uuid(&rq, "contact_channel_id")?;
    let channel =
        rq.p.contact_channels()
            .update_as(
                &auth.project,
                user,
                id,
                ChannelUpdate {
                    value: b.value,
                    typed: b.kind.is_some(),
                    used_for_auth: b.used_for_auth,
                    is_primary: b.is_primary,
                    is_verified: b.is_verified,
                },
                caller(&rq, auth),
            )
            .await?;
    Ok(Json::ok(ContactChannelView::of(&channel)))
}

pub(crate) async fn delete(rq: Rq<'_>, _: NoQuery) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let user = channel_user(
        &rq,
        auth,
        rq.param("user_id"),
        "params.user_id",
        ChannelAction::Delete,
    )?;
    let id = path_uuid(&rq, "contact_channel_id")?;
    rq.p.contact_channels()
        .delete_as(&auth.project, user, id, caller(&rq, auth))
        .await?;
    Ok(Json::ok(SuccessView::TRUE))
}

input! {
    /// `POST /contact-channels/{user_id}/{contact_channel_id}/send-verification-code` and
    /// `.../send-auth-confirmation`: where the mailed link points.
    pub(crate) struct CallbackBody in Body {
        callback_url: String => url,
    }
}

pub(crate) async fn send_code(rq: Rq<'_>, b: CallbackBody) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let user = channel_user(
        &rq,
        auth,
        rq.param("user_id"),
        "params.user_id",
        ChannelAction::Verify,
    )?;
    let id = path_uuid(&rq, "contact_channel_id")?;
    rq.p.contact_channels()
        .send_verification_code_as(&auth.project, user, id, &b.callback_url, caller(&rq, auth))
        .await?;
    Ok(Json::ok(SuccessView::TRUE))
}

input! {
    /// `POST /contact-channels/send-verification-code` (deprecated): the signed-in user's
    /// primary address and where the mailed link points.
    pub(crate) struct LegacySendCode in Body {
        email: String => email_strict,
        callback_url: String => url,
    }
    check(_this, f, rq) {
        needs_user(f, rq);
    }
}

/// `POST /contact-channels/send-verification-code` (deprecated; the SDK still calls it).
pub(crate) async fn legacy_send_code(rq: Rq<'_>, b: LegacySendCode) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let user = auth
        .user
        .as_ref()
        .ok_or(Error::CannotGetOwnUserWithoutUser)?;
    let email = b.email;
    if user.primary_email.as_deref() != Some(email.as_str()) {
        return Err(Error::EmailIsNotPrimaryEmail {
            email,
            primary_email: user.primary_email.clone(),
        });
    }
    if user.primary_email_verified {
        return Err(Error::EmailAlreadyVerified);
    }
    let channel =
        rq.p.contact_channels()
            .list(&auth.project, Some(user.id))
            .await?
            .into_iter()
            .find(|c| c.is_primary)
            .ok_or(Error::Refused(Refusal::ContactChannelToVerifyNotFound))?;
    rq.p.contact_channels()
        .send_verification_code(&auth.project, user.id, channel.id, &b.callback_url)
        .await?;
    Ok(Json::ok(SuccessView::TRUE))
}

pub(crate) async fn verify(rq: Rq<'_>, b: CodeBody) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    rq.p.contact_channels()
        .verify_as(&auth.project, &b.code, auth.user_id())
        .await?;
    Ok(Json::ok(SuccessView::TRUE))
}

pub(crate) async fn verify_check(rq: Rq<'_>, b: CodeBody) -> Result<Json<CodeValidView>> {
    let auth = rq.auth()?;
    rq.p.contact_channels()
        .check_code(&auth.project, &b.code)
        .await?;
    Ok(Json::ok(CodeValidView {
        is_code_valid: true,
    }))
}

pub(crate) fn channel_path(rq: &Rq<'_>, auth: &Auth) -> Result<(Uuid, Uuid)> {
    let user = channel_user(
        rq,
        auth,
        rq.param("user_id"),
        "params.user_id",
        ChannelAction::Manage,
    )?;
    let id = Uuid::parse_str(rq.param("contact_channel_id"))
        .map_err(|_| Error::schema("params.contact_channel_id must be a valid UUID"))?;
    Ok((user, id))
}

/// `GET /contact-channels/{user_id}/{id}/confirm-auth` → `{used_for_auth, auth_confirmed}`.
pub(crate) async fn auth_status(rq: Rq<'_>) -> Result<Json<ChannelAuthStatusView>> {
    let auth = rq.auth()?;
    let (user, id) = channel_path(&rq, auth)?;
    let (used_for_auth, auth_confirmed) =
        rq.p.contact_channels()
            .auth_status_as(&auth.project, user, id, caller(&rq, auth))
            .await?;
    Ok(Json::ok(ChannelAuthStatusView {
        used_for_auth,
        auth_confirmed,
    }))
}

/// `POST /contact-channels/{user_id}/{id}/confirm-auth` confirms the channel for sign-in (a
/// client with a step-up token) → the channel.
pub(crate) async fn confirm_auth(rq: Rq<'_>, _: EmptyBody) -> Result<Json<ContactChannelView>> {
    let auth = rq.auth()?;
    let (user, id) = channel_path(&rq, auth)?;
    let channel =
        rq.p.contact_channels()
            .confirm_auth(&auth.project, user, id, caller(&rq, auth))
            .await?;
    Ok(Json::ok(ContactChannelView::of(&channel)))
}

/// `POST /contact-channels/{user_id}/{id}/send-auth-confirmation` `{callback_url}`.
pub(crate) async fn send_auth_confirmation(
    rq: Rq<'_>,
    b: CallbackBody,
) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let (user, id) = channel_path(&rq, auth)?;
    rq.p.contact_channels()
        .send_auth_confirmation_as(&auth.project, user, id, &b.callback_url, caller(&rq, auth))
        .await?;
    Ok(Json::ok(SuccessView::TRUE))
}

/// `POST /contact-channels/confirm-auth` `{code}` (the link's code; no session needed).
pub(crate) async fn confirm_auth_by_code(rq: Rq<'_>, b: CodeBody) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    rq.p.contact_channels()
        .confirm_auth_by_code(&auth.project, &b.code)
        .await?;
    Ok(Json::ok(SuccessView::TRUE))
}
