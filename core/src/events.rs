//! Domain events (Stack's webhook event types, such as `team.created`) recorded in the
//! outbox in the transaction of the change, with status `held` (the mail worker leaves them
//! alone), together with one webhook delivery per subscribed endpoint (see
//! [`crate::webhooks`]): a rolled-back change sends nothing, and a committed one is never
//! lost.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::Result;
use crate::postern::Postern;
use crate::storage::{DeliveryStatus, OutboxRecord, OutboxStatus, Repos, WebhookDeliveryRecord};

/// The outbox kind of events.
pub const EVENT_KIND: &str = "event";

/// One event as recorded (sealed in the outbox payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Stack's event type (`team.created`, `team_membership.deleted`, ...).
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload Stack sends as `data`.
    pub data: Value,
}

/// Records an event through `repos` (the change's transaction) and owes it to every
/// subscribed webhook endpoint; `data` is the typed view the REST API returns for the same
/// object.
pub(crate) async fn record(
    p: &Postern,
    repos: &dyn Repos,
    project_id: &str,
    event_type: &str,
    data: &impl Serialize,
) -> Result<()> {
    let id = insert(p, repos, project_id, event_type, data).await?;
    fan_out(
        repos,
        project_id,
        id,
        event_type,
        p.inner.clock.now_millis(),
    )
    .await
}

/// Writes an event to the outbox without delivering it anywhere; returns its id. The
/// sealed plaintext is the webhook body itself, serialized once here, so every attempt
/// sends (and signs) the same bytes.
pub(crate) async fn insert(
    p: &Postern,
    repos: &dyn Repos,
    project_id: &str,
    event_type: &str,
    data: &impl Serialize,
) -> Result<Uuid> {
    let data =
        serde_json::to_value(data).map_err(|e| crate::error::Error::Internal(e.to_string()))?;
    let id = Uuid::now_v7();
    let now = p.inner.clock.now_millis();
    let event = Event {
        event_type: event_type.to_owned(),
        data,
    };
    repos
        .outbox()
        .insert(&OutboxRecord {
            id,
            project_id: project_id.to_owned(),
            kind: EVENT_KIND.into(),
            payload: crate::email::seal(&p.inner.outbox_keys[0], id, &event)?,
            status: OutboxStatus::Held,
            attempts: 0,
            created_at_millis: now,
            next_attempt_at_millis: now,
            sent_at_millis: None,
            last_error: None,
        })
        .await?;
    Ok(id)
}

/// The webhook body of a recorded event, byte for byte as sealed.
pub(crate) fn open_body(p: &Postern, row: &OutboxRecord) -> Option<Vec<u8>> {
    use base64::Engine;
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(&row.payload)
        .ok()?;
    crate::secrets::open(&p.inner.outbox_keys, row.id.as_bytes(), &sealed)
}

impl Postern {
    /// The events recorded for a project, oldest first (opened from their sealed form).
    pub async fn recorded_events(&self, project_id: &str) -> Result<Vec<Event>> {
        let rows = self.inner.store.outbox().list(project_id).await?;
        Ok(rows
            .into_iter()
            .filter(|r| r.kind == EVENT_KIND)
            .filter_map(|r| crate::email::open(&self.inner.outbox_keys, r.id, &r.payload))
            .collect())
    }
}

/// A new delivery of `message` to `endpoint`, due now.
pub(crate) fn pending_delivery(
    project_id: &str,
    message: Uuid,
    endpoint: Uuid,
    now: i64,
) -> WebhookDeliveryRecord {
    WebhookDeliveryRecord {
        id: Uuid::now_v7(),
        project_id: project_id.to_owned(),
        message_id: message,
        endpoint_id: endpoint,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at_millis: now,
        created_at_millis: now,
        finished_at_millis: None,
    }
}

/// Records in `repos` (the event's transaction) one delivery of message `message` per
/// enabled endpoint of the project subscribed to `event_type`.
async fn fan_out(
    repos: &dyn Repos,
    project_id: &str,
    message: Uuid,
    event_type: &str,
    now: i64,
) -> Result<()> {
    let mut any = false;
    for e in repos.webhooks().list_endpoints(project_id).await? {
        let wanted = e
            .event_types
            .as_ref()
            .is_none_or(|t| t.iter().any(|t| t == event_type));
        if !e.enabled || !wanted {
            continue;
        }
        repos
            .webhooks()
            .insert_delivery(&pending_delivery(project_id, message, e.id, now))
            .await?;
        any = true;
    }
    if any {
        repos.event_recorded();
    }
    Ok(())
}
