//! [`PermissionRepo`] over sea-orm.

use async_trait::async_trait;
use postern_core::storage::{PermissionGrantRecord, PermissionRepo, StoreResult};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use super::SeaRepos;
use crate::entities::{project_permission as pp, team_permission as tp};
use crate::store_error;

#[async_trait]
impl<C: ConnectionTrait + Send> PermissionRepo for SeaRepos<C> {
    async fn grant(&self, g: &PermissionGrantRecord) -> StoreResult<()> {
        match g.team_id {
            Some(team_id) => {
                let model = tp::ActiveModel {
                    project_id: Set(g.project_id.clone()),
                    team_id: Set(team_id),
                    user_id: Set(g.user_id),
                    permission_id: Set(g.permission_id.clone()),
                };
                tp::Entity::insert(model)
                    .on_conflict(
                        OnConflict::columns([
                            tp::Column::ProjectId,
                            tp::Column::TeamId,
                            tp::Column::UserId,
                            tp::Column::PermissionId,
                        ])
                        .do_nothing()
                        .to_owned(),
                    )
                    .exec_without_returning(&self.conn)
                    .await
                    .map_err(store_error)?;
            }
            None => {
                let model = pp::ActiveModel {
                    project_id: Set(g.project_id.clone()),
                    user_id: Set(g.user_id),
                    permission_id: Set(g.permission_id.clone()),
                };
                pp::Entity::insert(model)
                    .on_conflict(
                        OnConflict::columns([
                            pp::Column::ProjectId,
                            pp::Column::UserId,
                            pp::Column::PermissionId,
                        ])
                        .do_nothing()
                        .to_owned(),
                    )
                    .exec_without_returning(&self.conn)
                    .await
                    .map_err(store_error)?;
            }
        }
        Ok(())
    }

    async fn revoke(&self, g: &PermissionGrantRecord) -> StoreResult<bool> {
        let affected = match g.team_id {
            Some(team_id) => {
                tp::Entity::delete_many()
                    .filter(tp::Column::ProjectId.eq(g.project_id.as_str()))
                    .filter(tp::Column::TeamId.eq(team_id))
                    .filter(tp::Column::UserId.eq(g.user_id))
                    .filter(tp::Column::PermissionId.eq(g.permission_id.as_str()))
                    .exec(&self.conn)
                    .await
                    .map_err(store_error)?
                    .rows_affected
            }
            None => {
                pp::Entity::delete_many()
                    .filter(pp::Column::ProjectId.eq(g.project_id.as_str()))
                    .filter(pp::Column::UserId.eq(g.user_id))
                    .filter(pp::Column::PermissionId.eq(g.permission_id.as_str()))
                    .exec(&self.conn)
                    .await
                    .map_err(store_error)?
                    .rows_affected
            }
        };
        Ok(affected > 0)
    }

    async fn list_team(
        &self,
        project_id: &str,
        team_id: Option<Uuid>,
        user_id: Option<Uuid>,
    ) -> StoreResult<Vec<PermissionGrantRecord>> {
        let mut q = tp::Entity::find().filter(tp::Column::ProjectId.eq(project_id));
        if let Some(t) = team_id {
            q = q.filter(tp::Column::TeamId.eq(t));
        }
        if let Some(u) = user_id {
            q = q.filter(tp::Column::UserId.eq(u));
        }
        Ok(q.order_by_asc(tp::Column::TeamId)
            .order_by_asc(tp::Column::UserId)
            .order_by_asc(tp::Column::PermissionId)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|m| PermissionGrantRecord {
                project_id: m.project_id,
                team_id: Some(m.team_id),
                user_id: m.user_id,
                permission_id: m.permission_id,
            })
            .collect())
    }

    async fn list_project(
        &self,
        project_id: &str,
        user_id: Option<Uuid>,
    ) -> StoreResult<Vec<PermissionGrantRecord>> {
        let mut q = pp::Entity::find().filter(pp::Column::ProjectId.eq(project_id));
        if let Some(u) = user_id {
            q = q.filter(pp::Column::UserId.eq(u));
        }
        Ok(q.order_by_asc(pp::Column::UserId)
            .order_by_asc(pp::Column::PermissionId)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|m| PermissionGrantRecord {
                project_id: m.project_id,
                team_id: None,
                user_id: m.user_id,
                permission_id: m.permission_id,
            })
            .collect())
    }

    async fn rename(&self, project_id: &str, from: &str, to: &str) -> StoreResult<u64> {
        // A grant of the new id next to one of the old id would collide: drop the old one.
        let mut n = 0;
        for g in self.list_team(project_id, None, None).await? {
            if g.permission_id == from {
                let mut renamed = g.clone();
                renamed.permission_id = to.to_owned();
                self.grant(&renamed).await?;
                self.revoke(&g).await?;
                n += 1;
            }
        }
        let res = pp::Entity::update_many()
            .col_expr(pp::Column::PermissionId, Expr::value(to))
            .filter(pp::Column::ProjectId.eq(project_id))
            .filter(pp::Column::PermissionId.eq(from))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(n + res.rows_affected)
    }

    async fn delete_permission(&self, project_id: &str, id: &str) -> StoreResult<u64> {
        let a = tp::Entity::delete_many()
            .filter(tp::Column::ProjectId.eq(project_id))
            .filter(tp::Column::PermissionId.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?
            .rows_affected;
        let b = pp::Entity::delete_many()
            .filter(pp::Column::ProjectId.eq(project_id))
            .filter(pp::Column::PermissionId.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?
            .rows_affected;
        Ok(a + b)
    }
}
