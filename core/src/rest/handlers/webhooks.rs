//! Webhooks: Stack's two routes (`POST /webhooks/svix-token`, `POST
//! /internal/send-test-webhook`), Postern's admin API for endpoints, the delivery log and
//! replays, and a Svix-compatible facade (`/webhooks/svix/api/v1/app/{app_id}/...`) that
//! answers the Svix calls Stack's dashboard and tests make, authorized by the portal token.

use super::internal::NonNegative;
use super::*;
use crate::rest::input::{Flag, input};
use crate::webhooks::{Attempt, Endpoint, EndpointPatch, Message, NewEndpoint};
use utoipa::ToSchema;

/// `POST /webhooks/svix-token`: `{token}` (no `url`: there is no hosted portal).
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub(crate) struct PortalTokenView {
    /// A one-hour token for the Svix-compatible facade of this project.
    pub(crate) token: String,
}

/// `POST /internal/send-test-webhook`.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub(crate) struct TestWebhookView {
    /// Whether the endpoint answered 2xx.
    pub(crate) success: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error_message: Option<String>,
}

/// An endpoint with its secret (creation, and the secret routes).
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub(crate) struct EndpointSecretView {
    /// The endpoint.
    #[serde(flatten)]
    pub(crate) endpoint: Option<Endpoint>,
    /// The `whsec_` signing secret.
    pub(crate) secret: String,
}

/// A recorded message.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub(crate) struct MessageView {
    /// `msg_...` (the `svix-id` of its deliveries).
    pub(crate) id: String,
    /// Event type.
    pub(crate) event_type: String,
    /// The body as sent.
    pub(crate) payload: Value,
    /// When it was recorded.
    pub(crate) created_at_millis: i64,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        MessageView {
            id: m.id,
            event_type: m.event_type,
            payload: m.payload,
            created_at_millis: m.created_at_millis,
        }
    }
}

/// How many deliveries a replay queued.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub(crate) struct QueuedView {
    /// Deliveries set back to pending.
    pub(crate) queued: u64,
}

/// A JSON number that must be a non-negative whole number of milliseconds.
fn millis(field: &str, n: f64) -> Result<i64> {
    if n.fract() != 0.0 || !(0.0..=1e15).contains(&n) {
        return Err(Error::schema(format!(
            "{field} must be a non-negative integer"
        )));
    }
    Ok(n as i64)
}

pub(crate) async fn svix_token(rq: Rq<'_>, _b: EmptyBody) -> Result<Json<PortalTokenView>> {
    let auth = rq.auth()?;
    Ok(Json::created(PortalTokenView {
        token: rq.p.webhooks().portal_token(&auth.project),
    }))
}

input! {
    /// `POST /internal/send-test-webhook`.
    pub(crate) struct SendTestWebhook in Body {
        endpoint_id: String,
    }
}

/// How long `send-test-webhook` waits for the first attempt.
const TEST_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

pub(crate) async fn send_test(rq: Rq<'_>, b: SendTestWebhook) -> Result<Json<TestWebhookView>> {
    let auth = rq.auth()?;
    let view = match rq
        .p
        .webhooks()
        .send_test(&auth.project, &b.endpoint_id, TEST_WAIT)
        .await
    {
        Ok((success, error_message)) => TestWebhookView {
            success,
            error_message,
        },
        Err(Error::Refused(Refusal::WebhookEndpointNotFound)) => TestWebhookView {
            success: false,
            error_message: Some("Endpoint not found. Make sure it still exists.".into()),
        },
        Err(e) => return Err(e),
    };
    Ok(Json::ok(view))
}

input! {
    /// `POST /webhooks/endpoints`.
    pub(crate) struct NewEndpointBody in Body {
        url: String,
        description: Option<String>,
        event_types: Option<Option<Vec<String>>>,
        enabled: Option<bool>,
        secret: Option<String>,
    }
}

pub(crate) async fn create_endpoint(
    rq: Rq<'_>,
    b: NewEndpointBody,
) -> Result<Json<EndpointSecretView>> {
    let auth = rq.auth()?;
    let (endpoint, secret) =
        rq.p.webhooks()
            .create(
                &auth.project,
                NewEndpoint {
                    url: b.url,
                    description: b.description.unwrap_or_default(),
                    event_types: b.event_types.flatten(),
                    disabled: b.enabled == Some(false),
                    secret: b.secret,
                    allow_private_addresses: false,
                },
            )
            .await?;
    Ok(Json::created(EndpointSecretView {
        endpoint: Some(endpoint),
        secret,
    }))
}

pub(crate) async fn list_endpoints(rq: Rq<'_>, _q: NoQuery) -> Result<Json<ListView<Endpoint>>> {
    let auth = rq.auth()?;
    Ok(Json::ok(ListView::of(
        rq.p.webhooks().list(&auth.project).await?,
    )))
}

pub(crate) async fn get_endpoint(rq: Rq<'_>, _q: NoQuery) -> Result<Json<Endpoint>> {
    let auth = rq.auth()?;
    Ok(Json::ok(
        rq.p.webhooks()
            .get(&auth.project, rq.param("endpoint_id"))
            .await?,
    ))
}

input! {
    /// `PATCH /webhooks/endpoints/{endpoint_id}`.
    pub(crate) struct EndpointPatchBody in Body {
        url: Option<String>,
        description: Option<String>,
        event_types: Option<Option<Vec<String>>>,
        enabled: Option<bool>,
    }
}

pub(crate) async fn patch_endpoint(rq: Rq<'_>, b: EndpointPatchBody) -> Result<Json<Endpoint>> {
    let auth = rq.auth()?;
    Ok(Json::ok(
        rq.p.webhooks()
            .update(
                &auth.project,
                rq.param("endpoint_id"),
                EndpointPatch {
                    url: b.url,
                    description: b.description,
                    event_types: b.event_types,
                    enabled: b.enabled,
                    allow_private_addresses: None,
                },
            )
            .await?,
    ))
}

pub(crate) async fn delete_endpoint(rq: Rq<'_>) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    rq.p.webhooks()
        .delete(&auth.project, rq.param("endpoint_id"))
        .await?;
    Ok(Json::ok(SuccessView::TRUE))
}

pub(crate) async fn get_secret(rq: Rq<'_>, _q: NoQuery) -> Result<Json<EndpointSecretView>> {
    let auth = rq.auth()?;
    let secret =
        rq.p.webhooks()
            .secret(&auth.project, rq.param("endpoint_id"))
            .await?;
    Ok(Json::ok(EndpointSecretView {
        endpoint: None,
        secret,
    }))
}

input! {
    /// `POST /webhooks/endpoints/{endpoint_id}/secret/rotate`.
    pub(crate) struct RotateSecret in Body {
        secret: Option<String>,
        keep_old_secret_millis: Option<f64>,
    }
}

pub(crate) async fn rotate_secret(rq: Rq<'_>, b: RotateSecret) -> Result<Json<EndpointSecretView>> {
    let auth = rq.auth()?;
    let keep = b
        .keep_old_secret_millis
        .map(|n| millis("body.keep_old_secret_millis", n))
        .transpose()?;
    let secret =
        rq.p.webhooks()
            .rotate_secret(&auth.project, rq.param("endpoint_id"), b.secret, keep)
            .await?;
    Ok(Json::ok(EndpointSecretView {
        endpoint: None,
        secret,
    }))
}

input! {
    /// `GET /webhooks/attempts`: `endpoint_id`, `message_id`, `limit` (default 50, at most
    /// 250).
    pub(crate) struct AttemptsQuery in Query {
        endpoint_id: Option<String>,
        message_id: Option<String>,
        limit: Option<NonNegative>,
    }
}

pub(crate) async fn list_attempts(rq: Rq<'_>, q: AttemptsQuery) -> Result<Json<ListView<Attempt>>> {
    let auth = rq.auth()?;
    let items =
        rq.p.webhooks()
            .attempts(
                &auth.project,
                q.endpoint_id.as_deref(),
                q.message_id.as_deref(),
                q.limit.map_or(50, |n| n.0 as u64),
            )
            .await?;
    Ok(Json::ok(ListView::of(items)))
}

pub(crate) async fn get_message(rq: Rq<'_>, _q: NoQuery) -> Result<Json<MessageView>> {
    let auth = rq.auth()?;
    Ok(Json::ok(
        rq.p.webhooks()
            .message(&auth.project, rq.param("message_id"))
            .await?
            .into(),
    ))
}

input! {
    /// `POST /webhooks/messages/{message_id}/replay`: to every endpoint it went to, or one.
    pub(crate) struct ReplayMessage in Body {
        endpoint_id: Option<String>,
    }
}

pub(crate) async fn replay_message(rq: Rq<'_>, b: ReplayMessage) -> Result<Json<QueuedView>> {
    let auth = rq.auth()?;
    let queued =
        rq.p.webhooks()
            .replay_message(
                &auth.project,
                rq.param("message_id"),
                b.endpoint_id.as_deref(),
            )
            .await?;
    Ok(Json::ok(QueuedView { queued }))
}

input! {
    /// `POST /webhooks/replay-failed`: every failed delivery since a time.
    pub(crate) struct ReplayFailed in Body {
        since_millis: Option<f64>,
        endpoint_id: Option<String>,
    }
}

pub(crate) async fn replay_failed(rq: Rq<'_>, b: ReplayFailed) -> Result<Json<QueuedView>> {
    let auth = rq.auth()?;
    let since = b
        .since_millis
        .map(|n| millis("body.since_millis", n))
        .transpose()?
        .unwrap_or(0);
    let queued =
        rq.p.webhooks()
            .replay_failed(&auth.project, b.endpoint_id.as_deref(), since)
            .await?;
    Ok(Json::ok(QueuedView { queued }))
}

// ----- the Svix-compatible facade -----

/// The project a facade request may act on: the bearer portal token's, which must be the
/// path's `app_id` (Svix's application uid is the project id).
async fn portal_project(rq: &Rq<'_>) -> Result<crate::Project> {
    let invalid = || Error::Refused(Refusal::WebhookPortalTokenInvalid);
    let token = rq
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(invalid)?;
    let project =
        rq.p.webhooks()
            .portal_project(token.trim())
            .ok_or_else(invalid)?;
    if project != rq.param("app_id") {
        return Err(invalid());
    }
    rq.p.projects().get(&project).await?.ok_or_else(invalid)
}

/// Svix's ISO-8601 timestamps.
fn iso(millis: i64) -> String {
    crate::clock::iso8601(millis)
}

fn svix_endpoint(e: &Endpoint) -> Value {
    json!({
        "id": e.id,
        "url": e.url,
        "description": e.description,
        "filterTypes": e.event_types,
        "disabled": !e.enabled,
        "version": 1,
        "uid": null,
        "channels": null,
        "rateLimit": null,
        "metadata": {},
        "createdAt": iso(e.created_at_millis),
        "updatedAt": iso(e.updated_at_millis),
    })
}

fn svix_attempt(a: &Attempt) -> Value {
    json!({
        "id": a.id,
        "msgId": a.message_id,
        "endpointId": a.endpoint_id,
        "url": a.url,
        "response": a.response,
        "responseStatusCode": a.response_status_code.unwrap_or(0),
        "responseDurationMs": a.latency_millis,
        // Svix's MessageStatus: 0 success, 2 failed.
        "status": if a.status == "success" { 0 } else { 2 },
        // Svix's MessageAttemptTriggerType: 0 scheduled, 1 manual.
        "triggerType": if a.trigger == "manual" { 1 } else { 0 },
        "timestamp": iso(a.timestamp_millis),
    })
}

fn svix_page(data: Vec<Value>) -> Value {
    json!({ "data": data, "iterator": null, "prevIterator": null, "done": true })
}

input! {
    /// Svix's `EndpointIn` (the fields Postern honours).
    pub(crate) struct SvixEndpointIn in Body {
        url: String,
        description: Option<String>,
        filter_types as "filterTypes": Option<Option<Vec<String>>>,
        disabled: Option<bool>,
        secret: Option<String>,
        version: Option<f64>,
    }
}

pub(crate) async fn svix_create_endpoint(rq: Rq<'_>, b: SvixEndpointIn) -> Result<Response<Bytes>> {
    let project = portal_project(&rq).await?;
    let (endpoint, _secret) =
        rq.p.webhooks()
            .create(
                &project,
                NewEndpoint {
                    url: b.url,
                    description: b.description.unwrap_or_default(),
                    event_types: b.filter_types.flatten(),
                    disabled: b.disabled == Some(true),
                    secret: b.secret,
                    allow_private_addresses: false,
                },
            )
            .await?;
    Ok(json(StatusCode::CREATED, &svix_endpoint(&endpoint)))
}

input! {
    /// Svix's list parameters (one page holds everything).
    pub(crate) struct SvixListQuery in Query {
        limit: Option<NonNegative>,
    }
}

pub(crate) async fn svix_list_endpoints(rq: Rq<'_>, _q: SvixListQuery) -> Result<Response<Bytes>> {
    let project = portal_project(&rq).await?;
    let all = rq.p.webhooks().list(&project).await?;
    Ok(json(
        StatusCode::OK,
        &svix_page(all.iter().map(svix_endpoint).collect()),
    ))
}

pub(crate) async fn svix_get_endpoint(rq: Rq<'_>, _q: NoQuery) -> Result<Response<Bytes>> {
    let project = portal_project(&rq).await?;
    let e =
        rq.p.webhooks()
            .get(&project, rq.param("endpoint_id"))
            .await?;
    Ok(json(StatusCode::OK, &svix_endpoint(&e)))
}

pub(crate) async fn svix_delete_endpoint(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let project = portal_project(&rq).await?;
    rq.p.webhooks()
        .delete(&project, rq.param("endpoint_id"))
        .await?;
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

pub(crate) async fn svix_endpoint_secret(rq: Rq<'_>, _q: NoQuery) -> Result<Response<Bytes>> {
    let project = portal_project(&rq).await?;
    let key =
        rq.p.webhooks()
            .secret(&project, rq.param("endpoint_id"))
            .await?;
    Ok(json(StatusCode::OK, &json!({ "key": key })))
}

pub(crate) async fn svix_endpoint_attempts(
    rq: Rq<'_>,
    q: SvixListQuery,
) -> Result<Response<Bytes>> {
    let project = portal_project(&rq).await?;
    let limit = q.limit.map_or(50, |n| n.0 as u64);
    let items =
        rq.p.webhooks()
            .attempts(&project, Some(rq.param("endpoint_id")), None, limit)
            .await?;
    Ok(json(
        StatusCode::OK,
        &svix_page(items.iter().map(svix_attempt).collect()),
    ))
}

pub(crate) async fn svix_message_attempts(rq: Rq<'_>, q: SvixListQuery) -> Result<Response<Bytes>> {
    let project = portal_project(&rq).await?;
    let limit = q.limit.map_or(50, |n| n.0 as u64);
    let items =
        rq.p.webhooks()
            .attempts(&project, None, Some(rq.param("msg_id")), limit)
            .await?;
    Ok(json(
        StatusCode::OK,
        &svix_page(items.iter().map(svix_attempt).collect()),
    ))
}

input! {
    /// `GET .../msg/{msg_id}`: `with_content` (the payload is always included).
    pub(crate) struct SvixMessageQuery in Query {
        with_content: Flag,
    }
}

pub(crate) async fn svix_message(rq: Rq<'_>, _q: SvixMessageQuery) -> Result<Response<Bytes>> {
    let project = portal_project(&rq).await?;
    let m =
        rq.p.webhooks()
            .message(&project, rq.param("msg_id"))
            .await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "id": m.id,
            "eventType": m.event_type,
            "payload": m.payload,
            "timestamp": iso(m.created_at_millis),
            "channels": null,
            "eventId": null,
        }),
    ))
}

pub(crate) async fn svix_resend(rq: Rq<'_>, _b: EmptyBody) -> Result<Response<Bytes>> {
    let project = portal_project(&rq).await?;
    rq.p.webhooks()
        .replay_message(&project, rq.param("msg_id"), Some(rq.param("endpoint_id")))
        .await?;
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::ACCEPTED;
    Ok(r)
}
