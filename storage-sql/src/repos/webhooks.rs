//! [`WebhookRepo`] over sea-orm.

use async_trait::async_trait;
use postern_core::storage::{
    AttemptQuery, DeliveryStatus, RequeueFilter, StoreError, StoreResult, WebhookAttemptRecord,
    WebhookDeliveryRecord, WebhookEndpointRecord, WebhookRepo,
};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, Query},
};
use uuid::Uuid;

use super::SeaRepos;
use crate::entities::{webhook_attempt as wa, webhook_delivery as wd, webhook_endpoint as we};
use crate::store_error;

fn endpoint(m: we::Model) -> StoreResult<WebhookEndpointRecord> {
    let event_types = m
        .event_types
        .map(|t| {
            serde_json::from_str::<Vec<String>>(&t)
                .map_err(|e| StoreError::Backend(format!("invalid event_types: {e}")))
        })
        .transpose()?;
    Ok(WebhookEndpointRecord {
        id: m.id,
        project_id: m.project_id,
        url: m.url,
        description: m.description,
        event_types,
        enabled: m.enabled,
        secret: m.secret,
        previous_secret: m.previous_secret,
        previous_secret_until_millis: m.previous_secret_until,
        allow_private_addresses: m.allow_private_addresses,
        declared: m.declared,
        failing_since_millis: m.failing_since,
        created_at_millis: m.created_at,
        updated_at_millis: m.updated_at,
    })
}

fn endpoint_model(e: &WebhookEndpointRecord) -> StoreResult<we::ActiveModel> {
    let event_types = e
        .event_types
        .as_ref()
        .map(|t| serde_json::to_string(t).map_err(|e| StoreError::Backend(format!("JSON: {e}"))))
        .transpose()?;
    Ok(we::ActiveModel {
        id: Set(e.id),
        project_id: Set(e.project_id.clone()),
        url: Set(e.url.clone()),
        description: Set(e.description.clone()),
        event_types: Set(event_types),
        enabled: Set(e.enabled),
        secret: Set(e.secret.clone()),
        previous_secret: Set(e.previous_secret.clone()),
        previous_secret_until: Set(e.previous_secret_until_millis),
        allow_private_addresses: Set(e.allow_private_addresses),
        declared: Set(e.declared),
        failing_since: Set(e.failing_since_millis),
        created_at: Set(e.created_at_millis),
        updated_at: Set(e.updated_at_millis),
    })
}

fn delivery(m: wd::Model) -> StoreResult<WebhookDeliveryRecord> {
    let status = DeliveryStatus::parse(&m.status)
        .ok_or_else(|| StoreError::Backend(format!("unknown delivery status {}", m.status)))?;
    Ok(WebhookDeliveryRecord {
        id: m.id,
        project_id: m.project_id,
        message_id: m.message_id,
        endpoint_id: m.endpoint_id,
        status,
        attempts: m.attempts,
        next_attempt_at_millis: m.next_attempt_at,
        created_at_millis: m.created_at,
        finished_at_millis: m.finished_at,
    })
}

fn deliveries(models: Vec<wd::Model>) -> StoreResult<Vec<WebhookDeliveryRecord>> {
    models.into_iter().map(delivery).collect()
}

fn attempt(m: wa::Model) -> WebhookAttemptRecord {
    WebhookAttemptRecord {
        id: m.id,
        project_id: m.project_id,
        delivery_id: m.delivery_id,
        message_id: m.message_id,
        endpoint_id: m.endpoint_id,
        url: m.url,
        success: m.success,
        response_status_code: m.response_status_code,
        response: m.response,
        latency_millis: m.latency_millis,
        at_millis: m.at,
        trigger: m.trigger,
    }
}

const PENDING: &str = "pending";

#[async_trait]
impl<C: ConnectionTrait + Send> WebhookRepo for SeaRepos<C> {
    async fn insert_endpoint(&self, e: &WebhookEndpointRecord) -> StoreResult<()> {
        we::Entity::insert(endpoint_model(e)?)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn update_endpoint(&self, e: &WebhookEndpointRecord) -> StoreResult<bool> {
        let mut model = endpoint_model(e)?;
        model.id = NotSet;
        model.project_id = NotSet;
        model.created_at = NotSet;
        let res = we::Entity::update_many()
            .set(model)
            .filter(we::Column::Id.eq(e.id))
            .filter(we::Column::ProjectId.eq(&e.project_id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn get_endpoint(
        &self,
        project_id: &str,
        id: Uuid,
    ) -> StoreResult<Option<WebhookEndpointRecord>> {
        we::Entity::find_by_id(id)
            .filter(we::Column::ProjectId.eq(project_id))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(endpoint)
            .transpose()
    }

    async fn list_endpoints(&self, project_id: &str) -> StoreResult<Vec<WebhookEndpointRecord>> {
        we::Entity::find()
            .filter(we::Column::ProjectId.eq(project_id))
            .order_by_asc(we::Column::CreatedAt)
            .order_by_asc(we::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(endpoint)
            .collect()
    }

    async fn delete_endpoint(&self, project_id: &str, id: Uuid) -> StoreResult<bool> {
        // The foreign keys cascade too; deleting explicitly keeps SQLite without
        // `foreign_keys = ON` consistent.
        wa::Entity::delete_many()
            .filter(wa::Column::EndpointId.eq(id))
            .filter(wa::Column::ProjectId.eq(project_id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        wd::Entity::delete_many()
            .filter(wd::Column::EndpointId.eq(id))
            .filter(wd::Column::ProjectId.eq(project_id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        let res = we::Entity::delete_many()
            .filter(we::Column::Id.eq(id))
            .filter(we::Column::ProjectId.eq(project_id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn insert_delivery(&self, d: &WebhookDeliveryRecord) -> StoreResult<()> {
        let model = wd::ActiveModel {
            id: Set(d.id),
            project_id: Set(d.project_id.clone()),
            message_id: Set(d.message_id),
            endpoint_id: Set(d.endpoint_id),
            status: Set(d.status.as_str().to_owned()),
            attempts: Set(d.attempts),
            next_attempt_at: Set(d.next_attempt_at_millis),
            created_at: Set(d.created_at_millis),
            finished_at: Set(d.finished_at_millis),
        };
        wd::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn due_retries(
        &self,
        now_millis: i64,
        limit: u64,
    ) -> StoreResult<Vec<WebhookDeliveryRecord>> {
        deliveries(
            wd::Entity::find()
                .filter(wd::Column::Status.eq(PENDING))
                .filter(wd::Column::NextAttemptAt.lte(now_millis))
                .filter(wd::Column::Attempts.gt(0))
                .order_by_asc(wd::Column::NextAttemptAt)
                .order_by_asc(wd::Column::Id)
                .limit(limit)
                .all(&self.conn)
                .await
                .map_err(store_error)?,
        )
    }

    async fn endpoints_with_first_attempts(
        &self,
        now_millis: i64,
        limit: u64,
    ) -> StoreResult<Vec<Uuid>> {
        wd::Entity::find()
            .select_only()
            .column(wd::Column::EndpointId)
            .distinct()
            .filter(wd::Column::Status.eq(PENDING))
            .filter(wd::Column::NextAttemptAt.lte(now_millis))
            .filter(wd::Column::Attempts.eq(0))
            .limit(limit)
            .into_tuple::<Uuid>()
            .all(&self.conn)
            .await
            .map_err(store_error)
    }

    async fn next_first_attempt(
        &self,
        endpoint_id: Uuid,
    ) -> StoreResult<Option<WebhookDeliveryRecord>> {
        wd::Entity::find()
            .filter(wd::Column::EndpointId.eq(endpoint_id))
            .filter(wd::Column::Status.eq(PENDING))
            .filter(wd::Column::Attempts.eq(0))
            .order_by_asc(wd::Column::Id)
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(delivery)
            .transpose()
    }

    async fn claim_delivery(
        &self,
        id: Uuid,
        seen_next_attempt_millis: i64,
        lease_until_millis: i64,
    ) -> StoreResult<bool> {
        let res = wd::Entity::update_many()
            .col_expr(wd::Column::NextAttemptAt, Expr::value(lease_until_millis))
            .filter(wd::Column::Id.eq(id))
            .filter(wd::Column::Status.eq(PENDING))
            .filter(wd::Column::NextAttemptAt.eq(seen_next_attempt_millis))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected == 1)
    }

    async fn update_delivery(&self, d: &WebhookDeliveryRecord) -> StoreResult<bool> {
        let res = wd::Entity::update_many()
            .col_expr(wd::Column::Status, Expr::value(d.status.as_str()))
            .col_expr(wd::Column::Attempts, Expr::value(d.attempts))
            .col_expr(
                wd::Column::NextAttemptAt,
                Expr::value(d.next_attempt_at_millis),
            )
            .col_expr(wd::Column::FinishedAt, Expr::value(d.finished_at_millis))
            .filter(wd::Column::Id.eq(d.id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn deliveries_of_message(
        &self,
        project_id: &str,
        message_id: Uuid,
    ) -> StoreResult<Vec<WebhookDeliveryRecord>> {
        deliveries(
            wd::Entity::find()
                .filter(wd::Column::ProjectId.eq(project_id))
                .filter(wd::Column::MessageId.eq(message_id))
                .order_by_asc(wd::Column::Id)
                .all(&self.conn)
                .await
                .map_err(store_error)?,
        )
    }

    async fn requeue(
        &self,
        project_id: &str,
        filter: &RequeueFilter,
        now_millis: i64,
    ) -> StoreResult<u64> {
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let mut q = wd::Entity::update_many()
            .col_expr(wd::Column::Status, Expr::value(PENDING))
            .col_expr(wd::Column::Attempts, Expr::value(0))
            .col_expr(wd::Column::NextAttemptAt, Expr::value(now_millis))
            .filter(wd::Column::ProjectId.eq(project_id))
            .filter(wd::Column::CreatedAt.gte(filter.since_millis))
            .filter(wd::Column::Status.is_in(statuses));
        if let Some(m) = filter.message_id {
            q = q.filter(wd::Column::MessageId.eq(m));
        }
        if let Some(e) = filter.endpoint_id {
            q = q.filter(wd::Column::EndpointId.eq(e));
        }
        Ok(q.exec(&self.conn).await.map_err(store_error)?.rows_affected)
    }

    async fn fail_pending(&self, endpoint_id: Uuid, now_millis: i64) -> StoreResult<u64> {
        let res = wd::Entity::update_many()
            .col_expr(
                wd::Column::Status,
                Expr::value(DeliveryStatus::Failed.as_str()),
            )
            .col_expr(wd::Column::FinishedAt, Expr::value(now_millis))
            .filter(wd::Column::EndpointId.eq(endpoint_id))
            .filter(wd::Column::Status.eq(PENDING))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected)
    }

    async fn pending_count(&self) -> StoreResult<u64> {
        wd::Entity::find()
            .filter(wd::Column::Status.eq(PENDING))
            .count(&self.conn)
            .await
            .map_err(store_error)
    }

    async fn purge(&self, before_millis: i64) -> StoreResult<u64> {
        use crate::entities::outbox;
        let mut gone = wa::Entity::delete_many()
            .filter(wa::Column::At.lt(before_millis))
            .exec(&self.conn)
            .await
            .map_err(store_error)?
            .rows_affected;
        gone += wd::Entity::delete_many()
            .filter(wd::Column::Status.ne(PENDING))
            .filter(wd::Column::FinishedAt.lt(before_millis))
            .exec(&self.conn)
            .await
            .map_err(store_error)?
            .rows_affected;
        // Events some delivery (pending, or finished and still logged) refers to stay.
        let referenced = Query::select()
            .column(wd::Column::MessageId)
            .from(wd::Entity)
            .to_owned();
        gone += outbox::Entity::delete_many()
            .filter(outbox::Column::Kind.eq(postern_core::events::EVENT_KIND))
            .filter(outbox::Column::CreatedAt.lt(before_millis))
            .filter(outbox::Column::Id.not_in_subquery(referenced))
            .exec(&self.conn)
            .await
            .map_err(store_error)?
            .rows_affected;
        Ok(gone)
    }

    async fn insert_attempt(&self, a: &WebhookAttemptRecord) -> StoreResult<()> {
        let model = wa::ActiveModel {
            id: Set(a.id),
            project_id: Set(a.project_id.clone()),
            delivery_id: Set(a.delivery_id),
            message_id: Set(a.message_id),
            endpoint_id: Set(a.endpoint_id),
            url: Set(a.url.clone()),
            success: Set(a.success),
            response_status_code: Set(a.response_status_code),
            response: Set(a.response.clone()),
            latency_millis: Set(a.latency_millis),
            at: Set(a.at_millis),
            trigger: Set(a.trigger.clone()),
        };
        wa::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn list_attempts(
        &self,
        project_id: &str,
        q: &AttemptQuery,
    ) -> StoreResult<Vec<WebhookAttemptRecord>> {
        let mut s = wa::Entity::find().filter(wa::Column::ProjectId.eq(project_id));
        if let Some(e) = q.endpoint_id {
            s = s.filter(wa::Column::EndpointId.eq(e));
        }
        if let Some(m) = q.message_id {
            s = s.filter(wa::Column::MessageId.eq(m));
        }
        if let Some(b) = q.before {
            s = s.filter(wa::Column::Id.lt(b));
        }
        Ok(s.order_by_desc(wa::Column::Id)
            .limit(q.limit)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(attempt)
            .collect())
    }
}
