//! [`AuditRepo`] over sea-orm: insert and filtered, newest-first listing only.

use async_trait::async_trait;
use postern_core::storage::{AuditEventRecord, AuditQuery, AuditRepo, StoreResult};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::{SeaRepos, json_text, parse_json};
use crate::entities::audit_event as ae;
use crate::store_error;

#[async_trait]
impl<C: ConnectionTrait + Send> AuditRepo for SeaRepos<C> {
    async fn insert(&self, e: &AuditEventRecord) -> StoreResult<()> {
        let model = ae::ActiveModel {
            id: Set(e.id),
            project_id: Set(e.project_id.clone()),
            at: Set(e.at_millis),
            event_type: Set(e.event_type.clone()),
            user_id: Set(e.user_id),
            actor: Set(e.actor.clone()),
            ip: Set(e.ip.clone()),
            details: Set(json_text(&e.details)?),
        };
        ae::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn list(&self, project_id: &str, q: &AuditQuery) -> StoreResult<Vec<AuditEventRecord>> {
        let mut select = ae::Entity::find().filter(ae::Column::ProjectId.eq(project_id));
        if let Some(u) = q.user_id {
            select = select.filter(ae::Column::UserId.eq(u));
        }
        if !q.event_types.is_empty() {
            select = select.filter(ae::Column::EventType.is_in(q.event_types.iter().cloned()));
        }
        if let Some(s) = q.since_millis {
            select = select.filter(ae::Column::At.gte(s));
        }
        if let Some(u) = q.until_millis {
            select = select.filter(ae::Column::At.lt(u));
        }
        if let Some(before) = q.before {
            select = select.filter(ae::Column::Id.lt(before));
        }
        let rows = select
            .order_by_desc(ae::Column::Id)
            .limit(q.limit)
            .all(&self.conn)
            .await
            .map_err(store_error)?;
        rows.into_iter()
            .map(|m| {
                Ok(AuditEventRecord {
                    details: parse_json("postern_audit_events.details", &m.details)?,
                    project_id: m.project_id,
                    id: m.id,
                    at_millis: m.at,
                    event_type: m.event_type,
                    user_id: m.user_id,
                    actor: m.actor,
                    ip: m.ip,
                })
            })
            .collect()
    }
}
