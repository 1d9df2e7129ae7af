//! Endpoints, messages, the delivery log and replays: the [`Webhooks`] service.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use uuid::Uuid;

use crate::error::{Error, Refusal, Result};
use crate::postern::Postern;
use crate::projects::Project;
use crate::storage::{
    AttemptQuery, DeliveryStatus, RequeueFilter, WebhookAttemptRecord, WebhookEndpointRecord,
};

/// Every event type Postern emits (Stack's, plus the dashboard's test event).
pub const EVENT_TYPES: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deleted",
    "team.created",
    "team.updated",
    "team.deleted",
    "team_membership.created",
    "team_membership.deleted",
    "team_permission.created",
    "team_permission.deleted",
    "project_permission.created",
    "project_permission.deleted",
    TEST_EVENT,
];

/// The event `send-test-webhook` sends.
pub const TEST_EVENT: &str = "stack.test";

/// Signing-secret prefix.
const SECRET_PREFIX: &str = "whsec_";
/// Longest accepted endpoint URL.
const MAX_URL_LEN: usize = 2048;
/// Longest description.
const MAX_DESCRIPTION_LEN: usize = 1024;
/// Most endpoints per project.
pub const MAX_ENDPOINTS: usize = 50;
/// Default rotation window: the old secret still signs for this long.
pub const DEFAULT_ROTATION_MILLIS: i64 = 24 * 3600 * 1000;
/// Longest rotation window.
const MAX_ROTATION_MILLIS: i64 = 7 * 24 * 3600 * 1000;

/// A webhook endpoint as shown to its project's admins (never with its secret).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    /// `ep_...`.
    pub id: String,
    /// Destination URL.
    pub url: String,
    /// Operator's description.
    pub description: String,
    /// Event types delivered; `null` for all.
    pub event_types: Option<Vec<String>>,
    /// Whether new events are delivered.
    pub enabled: bool,
    /// Whether loopback and private addresses may be delivered to.
    pub allow_private_addresses: bool,
    /// Declared in the server's config file (changes there win at the next start).
    pub declared: bool,
    /// Start of the current run of failures, if failing.
    pub failing_since_millis: Option<i64>,
    /// Creation time.
    pub created_at_millis: i64,
    /// Last change.
    pub updated_at_millis: i64,
}

impl From<&WebhookEndpointRecord> for Endpoint {
    fn from(r: &WebhookEndpointRecord) -> Self {
        Endpoint {
            id: endpoint_id(r.id),
            url: r.url.clone(),
            description: r.description.clone(),
            event_types: r.event_types.clone(),
            enabled: r.enabled,
            allow_private_addresses: r.allow_private_addresses,
            declared: r.declared,
            failing_since_millis: r.failing_since_millis,
            created_at_millis: r.created_at_millis,
            updated_at_millis: r.updated_at_millis,
        }
    }
}

/// A new endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewEndpoint {
    /// Destination (`http` or `https`).
    pub url: String,
    /// Operator's description.
    pub description: String,
    /// Event types to deliver; `None` for all.
    pub event_types: Option<Vec<String>>,
    /// Disabled endpoints receive nothing (default enabled).
    pub disabled: bool,
    /// A `whsec_` secret to use; generated when absent.
    pub secret: Option<String>,
    /// Allow loopback, private and link-local destinations (tests, internal receivers).
    pub allow_private_addresses: bool,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointPatch {
    /// New URL.
    pub url: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New filter (`Some(None)` delivers every type).
    pub event_types: Option<Option<Vec<String>>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Allow or forbid private destinations.
    pub allow_private_addresses: Option<bool>,
}

/// One message as recorded (the Svix "message").
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `msg_...` (the `svix-id` header of every attempt).
    pub id: String,
    /// Event type.
    pub event_type: String,
    /// The body as sent: `{"type": ..., "data": ...}`.
    pub payload: serde_json::Value,
    /// When it was recorded, epoch milliseconds.
    pub created_at_millis: i64,
}

/// One delivery attempt, for the delivery log.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    /// `atmpt_...`.
    pub id: String,
    /// The message (`msg_...`).
    pub message_id: String,
    /// The endpoint (`ep_...`).
    pub endpoint_id: String,
    /// The URL posted to.
    pub url: String,
    /// `success` or `failed`.
    pub status: String,
    /// The answer's HTTP status, if there was an answer.
    pub response_status_code: Option<i32>,
    /// The answer's body, truncated, or the transport error.
    pub response: String,
    /// Milliseconds from sending to the answer.
    pub latency_millis: i64,
    /// When it was made.
    pub timestamp_millis: i64,
    /// `scheduled` or `manual`.
    pub trigger: String,
}

impl From<&WebhookAttemptRecord> for Attempt {
    fn from(a: &WebhookAttemptRecord) -> Self {
        Attempt {
            id: attempt_id(a.id),
            message_id: message_id(a.message_id),
            endpoint_id: endpoint_id(a.endpoint_id),
            url: a.url.clone(),
            status: if a.success { "success" } else { "failed" }.into(),
            response_status_code: a.response_status_code,
            response: a.response.clone(),
            latency_millis: a.latency_millis,
            timestamp_millis: a.at_millis,
            trigger: a.trigger.clone(),
        }
    }
}

/// Base62 digits in ASCII order, so fixed-width ids sort as their UUIDs do.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Width of the id part: Svix's (KSUID) 27 base62 characters.
const ID_WIDTH: usize = 27;

/// `<prefix><27 base62 characters>`: the shape of Svix ids, which receivers and tools
/// (Stack's tests among them) recognise.
fn encode_id(prefix: &str, id: Uuid) -> String {
    let mut n = id.as_u128();
    let mut digits = [b'0'; ID_WIDTH];
    for d in digits.iter_mut().rev() {
        *d = BASE62[(n % 62) as usize];
        n /= 62;
    }
    format!(
        "{prefix}{}",
        std::str::from_utf8(&digits).unwrap_or_default()
    )
}

/// Parses `<prefix><27 base62 characters>`.
fn parse_id(prefix: &str, s: &str) -> Option<Uuid> {
    let digits = s.strip_prefix(prefix)?;
    if digits.len() != ID_WIDTH {
        return None;
    }
    let mut n: u128 = 0;
    for c in digits.bytes() {
        let d = BASE62.iter().position(|&b| b == c)? as u128;
        n = n.checked_mul(62)?.checked_add(d)?;
    }
    Some(Uuid::from_u128(n))
}

/// An endpoint's public id (`ep_...`).
pub fn endpoint_id(id: Uuid) -> String {
    encode_id("ep_", id)
}

/// A message's public id (`msg_...`, the `svix-id` header of its deliveries).
pub fn message_id(id: Uuid) -> String {
    encode_id("msg_", id)
}

/// An attempt's public id (`atmpt_...`).
pub fn attempt_id(id: Uuid) -> String {
    encode_id("atmpt_", id)
}

/// Parses an endpoint id (`ep_...`).
pub fn parse_endpoint_id(s: &str) -> Option<Uuid> {
    parse_id("ep_", s)
}

/// Parses a message id (`msg_...`).
pub fn parse_message_id(s: &str) -> Option<Uuid> {
    parse_id("msg_", s)
}

/// A new random `whsec_` secret (24 bytes, as Svix generates).
pub fn generate_secret() -> String {
    let mut key = [0u8; 24];
    rand::fill(&mut key);
    format!("{SECRET_PREFIX}{}", B64.encode(key))
}

/// The HMAC key of a `whsec_` secret: 24 to 64 bytes of standard base64.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let key = B64.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    (24..=64).contains(&key.len()).then_some(key)
}

fn check_url(field: &str, url: &str) -> Result<()> {
    let ok = url.len() <= MAX_URL_LEN
        && url::Url::parse(url).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some_and(|h| !h.is_empty())
                && u.username().is_empty()
                && u.password().is_none()
        });
    if ok {
        Ok(())
    } else {
        Err(Error::schema(format!(
            "{field} must be an absolute http(s) URL without credentials, at most {MAX_URL_LEN} characters"
        )))
    }
}

fn check_event_types(field: &str, types: &Option<Vec<String>>) -> Result<()> {
    let Some(types) = types else { return Ok(()) };
    if types.is_empty() {
        return Err(Error::schema(format!(
            "{field} must name at least one event type (or be null for all)"
        )));
    }
    for t in types {
        if !EVENT_TYPES.contains(&t.as_str()) {
            return Err(Error::schema(format!(
                "{field} contains an unknown event type: {t}"
            )));
        }
    }
    Ok(())
}

fn check_description(field: &str, d: &str) -> Result<()> {
    if d.len() > MAX_DESCRIPTION_LEN {
        return Err(Error::schema(format!(
            "{field} must be at most {MAX_DESCRIPTION_LEN} characters"
        )));
    }
    Ok(())
}

fn check_secret(field: &str, s: &str) -> Result<()> {
    if secret_key(s).is_none() {
        return Err(Error::schema(format!(
            "{field} must be whsec_ followed by the base64 of 24 to 64 bytes"
        )));
    }
    Ok(())
}

/// An endpoint declared in the server's config file.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredEndpoint {
    /// Destination.
    pub url: String,
    /// Its `whsec_` secret.
    pub secret: String,
    /// Event types; `None` for all.
    pub event_types: Option<Vec<String>>,
    /// Allow loopback and private destinations.
    pub allow_private_addresses: bool,
    /// Operator's description.
    pub description: String,
}

/// Webhook endpoints, messages and the delivery log of a project.
#[derive(Debug, Clone, Copy)]
pub struct Webhooks<'a> {
    p: &'a Postern,
}

impl Postern {
    /// Webhook endpoints, messages and deliveries.
    pub fn webhooks(&self) -> Webhooks<'_> {
        Webhooks { p: self }
    }

    /// Runs one webhook delivery pass now (the background worker does this on its own).
    /// Returns how many attempts were made.
    pub async fn deliver_webhooks(&self) -> Result<usize> {
        super::deliver_due(self).await
    }
}

impl Webhooks<'_> {
    fn seal_secret(&self, id: Uuid, secret: &str) -> Result<String> {
        let sealed = crate::secrets::seal(
            &self.p.inner.config_keys[0],
            id.as_bytes(),
            secret.as_bytes(),
        )
        .ok_or_else(|| Error::Internal("sealing a webhook secret failed".into()))?;
        Ok(B64.encode(sealed))
    }

    /// Opens a sealed endpoint secret.
    pub(crate) fn open_secret(&self, id: Uuid, sealed: &str) -> Option<String> {
        let bytes = B64.decode(sealed).ok()?;
        let plain = crate::secrets::open(&self.p.inner.config_keys, id.as_bytes(), &bytes)?;
        String::from_utf8(plain).ok()
    }

    async fn load(&self, project: &Project, id: &str) -> Result<WebhookEndpointRecord> {
        let id = parse_endpoint_id(id).ok_or(Error::Refused(Refusal::WebhookEndpointNotFound))?;
        self.p
            .inner
            .store
            .webhooks()
            .get_endpoint(&project.id, id)
            .await?
            .ok_or(Error::Refused(Refusal::WebhookEndpointNotFound))
    }

    /// The row id of an optional endpoint filter (`WEBHOOK_ENDPOINT_NOT_FOUND` if it names
    /// no endpoint of the project).
    async fn endpoint_filter(
        &self,
        project: &Project,
        endpoint: Option<&str>,
    ) -> Result<Option<Uuid>> {
        match endpoint {
            Some(e) => Ok(Some(self.load(project, e).await?.id)),
            None => Ok(None),
        }
    }

    /// Creates an endpoint. Returns it with its secret (the only time the secret is
    /// returned without asking for it).
    pub async fn create(&self, project: &Project, new: NewEndpoint) -> Result<(Endpoint, String)> {
        check_url("body.url", &new.url)?;
        check_description("body.description", &new.description)?;
        check_event_types("body.event_types", &new.event_types)?;
        if let Some(s) = &new.secret {
            check_secret("body.secret", s)?;
        }
        let store = &self.p.inner.store;
        if store.webhooks().list_endpoints(&project.id).await?.len() >= MAX_ENDPOINTS {
            return Err(Error::schema(format!(
                "a project has at most {MAX_ENDPOINTS} webhook endpoints"
            )));
        }
        let secret = new.secret.unwrap_or_else(generate_secret);
        let now = self.p.inner.clock.now_millis();
        let id = Uuid::now_v7();
        let rec = WebhookEndpointRecord {
            id,
            project_id: project.id.clone(),
            url: new.url,
            description: new.description,
            event_types: new.event_types,
            enabled: !new.disabled,
            secret: self.seal_secret(id, &secret)?,
            previous_secret: None,
            previous_secret_until_millis: None,
            allow_private_addresses: new.allow_private_addresses,
            declared: false,
            failing_since_millis: None,
            created_at_millis: now,
            updated_at_millis: now,
        };
        store.webhooks().insert_endpoint(&rec).await?;
        Ok(((&rec).into(), secret))
    }

    /// The project's endpoints, oldest first.
    pub async fn list(&self, project: &Project) -> Result<Vec<Endpoint>> {
        let rows = self
            .p
            .inner
            .store
            .webhooks()
            .list_endpoints(&project.id)
            .await?;
        Ok(rows.iter().map(Endpoint::from).collect())
    }

    /// One endpoint.
    pub async fn get(&self, project: &Project, id: &str) -> Result<Endpoint> {
        Ok((&self.load(project, id).await?).into())
    }

    /// An endpoint's current signing secret.
    pub async fn secret(&self, project: &Project, id: &str) -> Result<String> {
        let rec = self.load(project, id).await?;
        self.open_secret(rec.id, &rec.secret)
            .ok_or_else(|| Error::Internal("a webhook secret cannot be opened".into()))
    }

    /// Changes an endpoint. Re-enabling clears its failure run.
    pub async fn update(
        &self,
        project: &Project,
        id: &str,
        patch: EndpointPatch,
    ) -> Result<Endpoint> {
        let mut rec = self.load(project, id).await?;
        if let Some(url) = patch.url {
            check_url("body.url", &url)?;
            rec.url = url;
        }
        if let Some(d) = patch.description {
            check_description("body.description", &d)?;
            rec.description = d;
        }
        if let Some(t) = patch.event_types {
            check_event_types("body.event_types", &t)?;
            rec.event_types = t;
        }
        if let Some(e) = patch.enabled {
            if e && !rec.enabled {
                rec.failing_since_millis = None;
            }
            rec.enabled = e;
        }
        if let Some(a) = patch.allow_private_addresses {
            rec.allow_private_addresses = a;
        }
        rec.updated_at_millis = self.p.inner.clock.now_millis();
        self.p.inner.store.webhooks().update_endpoint(&rec).await?;
        Ok((&rec).into())
    }

    /// Deletes an endpoint with its pending deliveries and its log.
    pub async fn delete(&self, project: &Project, id: &str) -> Result<()> {
        let rec = self.load(project, id).await?;
        self.p
            .inner
            .store
            .webhooks()
            .delete_endpoint(&project.id, rec.id)
            .await?;
        Ok(())
    }

    /// Replaces an endpoint's secret with `new` (or a generated one). The old secret keeps
    /// signing beside the new one for `keep_old_millis` (default a day, at most a week),
    /// so receivers can switch without losing messages. Returns the new secret.
    pub async fn rotate_secret(
        &self,
        project: &Project,
        id: &str,
        new: Option<String>,
        keep_old_millis: Option<i64>,
    ) -> Result<String> {
        if let Some(s) = &new {
            check_secret("body.secret", s)?;
        }
        let keep = keep_old_millis.unwrap_or(DEFAULT_ROTATION_MILLIS);
        if !(0..=MAX_ROTATION_MILLIS).contains(&keep) {
            return Err(Error::schema(format!(
                "body.keep_old_secret_millis must be between 0 and {MAX_ROTATION_MILLIS}"
            )));
        }
        let mut rec = self.load(project, id).await?;
        let secret = new.unwrap_or_else(generate_secret);
        let now = self.p.inner.clock.now_millis();
        rec.previous_secret = (keep > 0).then(|| rec.secret.clone());
        rec.previous_secret_until_millis = (keep > 0).then_some(now + keep);
        rec.secret = self.seal_secret(rec.id, &secret)?;
        rec.updated_at_millis = now;
        self.p.inner.store.webhooks().update_endpoint(&rec).await?;
        Ok(secret)
    }

    /// Makes the project's declared endpoints exactly `declared` (matched by URL): new
    /// ones are created, existing ones take the file's secret and settings, and declared
    /// endpoints no longer in the file are deleted. Endpoints made through the API are
    /// left alone.
    pub async fn declare(&self, project: &Project, declared: &[DeclaredEndpoint]) -> Result<()> {
        for (i, d) in declared.iter().enumerate() {
            let at = format!("webhook_endpoints[{i}]");
            check_url(&format!("{at}.url"), &d.url)?;
            check_secret(&format!("{at}.secret"), &d.secret)?;
            check_event_types(&format!("{at}.event_types"), &d.event_types)?;
            check_description(&format!("{at}.description"), &d.description)?;
        }
        let now = self.p.inner.clock.now_millis();
        let tx = self.p.inner.store.begin().await?;
        let existing = tx.webhooks().list_endpoints(&project.id).await?;
        for old in existing.iter().filter(|e| e.declared) {
            if !declared.iter().any(|d| d.url == old.url) {
                tx.webhooks().delete_endpoint(&project.id, old.id).await?;
            }
        }
        for d in declared {
            match existing.iter().find(|e| e.declared && e.url == d.url) {
                Some(old) => {
                    let mut rec = old.clone();
                    if self.open_secret(rec.id, &rec.secret).as_deref() != Some(&d.secret) {
                        rec.secret = self.seal_secret(rec.id, &d.secret)?;
                        rec.previous_secret = None;
                        rec.previous_secret_until_millis = None;
                    }
                    rec.event_types = d.event_types.clone();
                    rec.allow_private_addresses = d.allow_private_addresses;
                    rec.description = d.description.clone();
                    rec.enabled = true;
                    rec.updated_at_millis = now;
                    tx.webhooks().update_endpoint(&rec).await?;
                }
                None => {
                    let id = Uuid::now_v7();
                    tx.webhooks()
                        .insert_endpoint(&WebhookEndpointRecord {
                            id,
                            project_id: project.id.clone(),
                            url: d.url.clone(),
                            description: d.description.clone(),
                            event_types: d.event_types.clone(),
                            enabled: true,
                            secret: self.seal_secret(id, &d.secret)?,
                            previous_secret: None,
                            previous_secret_until_millis: None,
                            allow_private_addresses: d.allow_private_addresses,
                            declared: true,
                            failing_since_millis: None,
                            created_at_millis: now,
                            updated_at_millis: now,
                        })
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// A recorded message of the project.
    pub async fn message(&self, project: &Project, id: &str) -> Result<Message> {
        let not_found = || Error::Refused(Refusal::WebhookMessageNotFound);
        let uuid = parse_message_id(id).ok_or_else(not_found)?;
        let row = self
            .p
            .inner
            .store
            .outbox()
            .get(uuid)
            .await?
            .filter(|r| r.project_id == project.id && r.kind == crate::events::EVENT_KIND)
            .ok_or_else(not_found)?;
        let body = crate::events::open_body(self.p, &row).ok_or_else(not_found)?;
        let payload: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Message {
            id: message_id(uuid),
            event_type: payload["type"].as_str().unwrap_or_default().to_owned(),
            payload,
            created_at_millis: row.created_at_millis,
        })
    }

    /// The delivery log, newest first: of one endpoint, one message, or both.
    pub async fn attempts(
        &self,
        project: &Project,
        endpoint: Option<&str>,
        message: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Attempt>> {
        let endpoint_id = self.endpoint_filter(project, endpoint).await?;
        let message_id = match message {
            Some(m) => {
                Some(parse_message_id(m).ok_or(Error::Refused(Refusal::WebhookMessageNotFound))?)
            }
            None => None,
        };
        let rows = self
            .p
            .inner
            .store
            .webhooks()
            .list_attempts(
                &project.id,
                &AttemptQuery {
                    endpoint_id,
                    message_id,
                    before: None,
                    limit: limit.clamp(1, 250),
                },
            )
            .await?;
        Ok(rows.iter().map(Attempt::from).collect())
    }

    /// Sends a message again to every endpoint it went to (or only to `endpoint`), even if
    /// it was delivered. Returns how many deliveries were queued.
    pub async fn replay_message(
        &self,
        project: &Project,
        message: &str,
        endpoint: Option<&str>,
    ) -> Result<u64> {
        let msg = self.message(project, message).await?;
        let endpoint_id = self.endpoint_filter(project, endpoint).await?;
        self.requeue(
            project,
            RequeueFilter {
                message_id: parse_message_id(&msg.id),
                endpoint_id,
                since_millis: 0,
                statuses: vec![
                    DeliveryStatus::Delivered,
                    DeliveryStatus::Failed,
                    DeliveryStatus::Aborted,
                ],
            },
        )
        .await
    }

    /// Sends again every message that failed (or was aborted) since `since_millis`, to
    /// every endpoint or only to `endpoint`. Returns how many deliveries were queued.
    pub async fn replay_failed(
        &self,
        project: &Project,
        endpoint: Option<&str>,
        since_millis: i64,
    ) -> Result<u64> {
        let endpoint_id = self.endpoint_filter(project, endpoint).await?;
        self.requeue(
            project,
            RequeueFilter {
                message_id: None,
                endpoint_id,
                since_millis,
                statuses: vec![DeliveryStatus::Failed, DeliveryStatus::Aborted],
            },
        )
        .await
    }

    async fn requeue(&self, project: &Project, filter: RequeueFilter) -> Result<u64> {
        let now = self.p.inner.clock.now_millis();
        let n = self
            .p
            .inner
            .store
            .webhooks()
            .requeue(&project.id, &filter, now)
            .await?;
        self.p.inner.webhook_wake.notify_one();
        Ok(n)
    }

    /// Sends a `stack.test` event to one endpoint (whatever its filter) and waits up to
    /// `wait` for the first attempt. Returns whether it succeeded, and the error if not.
    pub async fn send_test(
        &self,
        project: &Project,
        endpoint: &str,
        wait: std::time::Duration,
    ) -> Result<(bool, Option<String>)> {
        let rec = self.load(project, endpoint).await?;
        let data = serde_json::json!({
            "message": "Stack webhook test event triggered from the Stack dashboard.",
            "endpointUrl": rec.url,
        });
        let now = self.p.inner.clock.now_millis();
        let tx = self.p.inner.store.begin().await?;
        let message = crate::events::insert(self.p, &*tx, &project.id, TEST_EVENT, &data).await?;
        tx.webhooks()
            .insert_delivery(&crate::events::pending_delivery(
                &project.id,
                message,
                rec.id,
                now,
            ))
            .await?;
        tx.commit().await?;
        self.p.inner.webhook_wake.notify_one();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let attempts = self
                .p
                .inner
                .store
                .webhooks()
                .list_attempts(
                    &project.id,
                    &AttemptQuery {
                        message_id: Some(message),
                        limit: 1,
                        ..Default::default()
                    },
                )
                .await?;
            if let Some(a) = attempts.first() {
                return Ok(if a.success {
                    (true, None)
                } else {
                    (false, Some(a.response.clone()))
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok((
                    false,
                    Some("the endpoint did not answer in time; the message stays queued".into()),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// A short-lived token that lets its bearer manage this project's webhooks through
    /// the Svix-compatible facade (`POST /webhooks/svix-token`).
    pub fn portal_token(&self, project: &Project) -> String {
        super::portal::issue(self.p, &project.id)
    }

    /// The project a portal token was issued for, if it is genuine and fresh.
    pub fn portal_project(&self, token: &str) -> Option<String> {
        super::portal::verify(self.p, token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_refuse_other_shapes() {
        let u = Uuid::now_v7();
        assert_eq!(parse_endpoint_id(&endpoint_id(u)), Some(u));
        assert_eq!(parse_message_id(&message_id(u)), Some(u));
        assert_eq!(parse_endpoint_id(&message_id(u)), None);
        assert_eq!(parse_endpoint_id(&format!("ep_{u}")), None, "hyphenated");
        assert_eq!(parse_endpoint_id("ep_"), None);
        assert_eq!(
            parse_endpoint_id(&format!("ep_{}", "z".repeat(27))),
            None,
            "overflow"
        );
        let max = Uuid::from_u128(u128::MAX);
        assert_eq!(parse_message_id(&message_id(max)), Some(max));
        // Svix's shape, and ids sort as their UUIDs.
        let m = message_id(u);
        assert_eq!(m.len(), 4 + 27);
        assert!(m[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        let later = Uuid::now_v7();
        assert!(message_id(later) > m);
    }

    #[test]
    fn secrets_are_24_to_64_bytes_of_base64() {
        let s = generate_secret();
        assert_eq!(secret_key(&s).map(|k| k.len()), Some(24));
        assert!(secret_key(&format!("whsec_{}", B64.encode([1u8; 23]))).is_none());
        assert!(secret_key(&format!("whsec_{}", B64.encode([1u8; 64]))).is_some());
        assert!(secret_key(&format!("whsec_{}", B64.encode([1u8; 65]))).is_none());
        assert!(
            secret_key(&B64.encode([1u8; 32])).is_none(),
            "prefix required"
        );
        assert!(secret_key("whsec_not base64!").is_none());
    }

    #[test]
    fn urls_must_be_absolute_http_without_credentials() {
        assert!(check_url("u", "https://example.com/hook").is_ok());
        assert!(check_url("u", "http://127.0.0.1:8790/hook").is_ok());
        for bad in [
            "ftp://example.com",
            "/hook",
            "https://u:p@example.com/",
            "javascript:alert(1)",
        ] {
            assert!(check_url("u", bad).is_err(), "{bad}");
        }
        assert!(check_url("u", &format!("https://e.com/{}", "a".repeat(3000))).is_err());
    }

    #[test]
    fn event_filters_name_known_types() {
        assert!(check_event_types("t", &None).is_ok());
        assert!(check_event_types("t", &Some(vec!["user.created".into()])).is_ok());
        assert!(check_event_types("t", &Some(vec![])).is_err());
        assert!(check_event_types("t", &Some(vec!["user.exploded".into()])).is_err());
    }
}
