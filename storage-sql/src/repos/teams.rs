//! [`TeamRepo`] over sea-orm.

use async_trait::async_trait;
use postern_core::storage::{StoreResult, TeamMemberRecord, TeamRecord, TeamRepo};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, Query},
};
use uuid::Uuid;

use super::{SeaRepos, opt_json_text, parse_opt_json};
use crate::entities::{team, team_member, user};
use crate::store_error;

fn team_record(m: team::Model) -> StoreResult<TeamRecord> {
    Ok(TeamRecord {
        client_metadata: parse_opt_json("client_metadata", m.client_metadata)?,
        client_read_only_metadata: parse_opt_json(
            "client_read_only_metadata",
            m.client_read_only_metadata,
        )?,
        server_metadata: parse_opt_json("server_metadata", m.server_metadata)?,
        project_id: m.project_id,
        id: m.id,
        display_name: m.display_name,
        profile_image_url: m.profile_image_url,
        created_at_millis: m.created_at,
    })
}

fn member_record(m: team_member::Model) -> TeamMemberRecord {
    TeamMemberRecord {
        project_id: m.project_id,
        team_id: m.team_id,
        user_id: m.user_id,
        display_name: m.display_name,
        profile_image_url: m.profile_image_url,
        created_at_millis: m.created_at,
    }
}

impl<C: ConnectionTrait + Send> SeaRepos<C> {
    /// Clears `selected_team_id` of the project's users selecting `team_id` (only `user_id`
    /// when given).
    async fn clear_selection(
        &self,
        project_id: &str,
        team_id: Uuid,
        user_id: Option<Uuid>,
    ) -> StoreResult<()> {
        let mut q = user::Entity::update_many()
            .col_expr(
                user::Column::SelectedTeamId,
                Expr::value(Option::<Uuid>::None),
            )
            .filter(user::Column::ProjectId.eq(project_id))
            .filter(user::Column::SelectedTeamId.eq(team_id));
        if let Some(u) = user_id {
            q = q.filter(user::Column::Id.eq(u));
        }
        q.exec(&self.conn).await.map_err(store_error)?;
        Ok(())
    }
}

#[async_trait]
impl<C: ConnectionTrait + Send> TeamRepo for SeaRepos<C> {
    async fn insert(&self, t: &TeamRecord) -> StoreResult<()> {
        let model = team::ActiveModel {
            project_id: Set(t.project_id.clone()),
            id: Set(t.id),
            display_name: Set(t.display_name.clone()),
            profile_image_url: Set(t.profile_image_url.clone()),
            client_metadata: Set(opt_json_text(&t.client_metadata)?),
            client_read_only_metadata: Set(opt_json_text(&t.client_read_only_metadata)?),
            server_metadata: Set(opt_json_text(&t.server_metadata)?),
            created_at: Set(t.created_at_millis),
        };
        team::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn get(&self, project_id: &str, id: Uuid) -> StoreResult<Option<TeamRecord>> {
        team::Entity::find()
            .filter(team::Column::ProjectId.eq(project_id))
            .filter(team::Column::Id.eq(id))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(team_record)
            .transpose()
    }

    async fn update(&self, t: &TeamRecord) -> StoreResult<bool> {
        let model = team::ActiveModel {
            project_id: NotSet,
            id: NotSet,
            display_name: Set(t.display_name.clone()),
            profile_image_url: Set(t.profile_image_url.clone()),
            client_metadata: Set(opt_json_text(&t.client_metadata)?),
            client_read_only_metadata: Set(opt_json_text(&t.client_read_only_metadata)?),
            server_metadata: Set(opt_json_text(&t.server_metadata)?),
            created_at: NotSet,
        };
        let res = team::Entity::update_many()
            .set(model)
            .filter(team::Column::ProjectId.eq(t.project_id.as_str()))
            .filter(team::Column::Id.eq(t.id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn delete(&self, project_id: &str, id: Uuid) -> StoreResult<bool> {
        self.clear_selection(project_id, id, None).await?;
        let res = team::Entity::delete_many()
            .filter(team::Column::ProjectId.eq(project_id))
            .filter(team::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn list(&self, project_id: &str) -> StoreResult<Vec<TeamRecord>> {
        team::Entity::find()
            .filter(team::Column::ProjectId.eq(project_id))
            .order_by_asc(team::Column::CreatedAt)
            .order_by_asc(team::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(team_record)
            .collect()
    }

    async fn list_for_user(&self, project_id: &str, user_id: Uuid) -> StoreResult<Vec<TeamRecord>> {
        let memberships = team_member::Entity::find()
            .filter(team_member::Column::ProjectId.eq(project_id))
            .filter(team_member::Column::UserId.eq(user_id))
            .order_by_asc(team_member::Column::CreatedAt)
            .order_by_asc(team_member::Column::TeamId)
            .all(&self.conn)
            .await
            .map_err(store_error)?;
        let teams = team::Entity::find()
            .filter(team::Column::ProjectId.eq(project_id))
            .filter(
                team::Column::Id.in_subquery(
                    Query::select()
                        .column(team_member::Column::TeamId)
                        .from(team_member::Entity)
                        .and_where(team_member::Column::ProjectId.eq(project_id))
                        .and_where(team_member::Column::UserId.eq(user_id))
                        .to_owned(),
                ),
            )
            .all(&self.conn)
            .await
            .map_err(store_error)?;
        let mut out = Vec::with_capacity(teams.len());
        for m in memberships {
            if let Some(t) = teams.iter().find(|t| t.id == m.team_id) {
                out.push(team_record(t.clone())?);
            }
        }
        Ok(out)
    }

    async fn add_member(&self, m: &TeamMemberRecord) -> StoreResult<()> {
        let model = team_member::ActiveModel {
            project_id: Set(m.project_id.clone()),
            team_id: Set(m.team_id),
            user_id: Set(m.user_id),
            display_name: Set(m.display_name.clone()),
            profile_image_url: Set(m.profile_image_url.clone()),
            created_at: Set(m.created_at_millis),
        };
        team_member::Entity::insert(model)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn get_member(
        &self,
        project_id: &str,
        team_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<TeamMemberRecord>> {
        Ok(team_member::Entity::find()
            .filter(team_member::Column::ProjectId.eq(project_id))
            .filter(team_member::Column::TeamId.eq(team_id))
            .filter(team_member::Column::UserId.eq(user_id))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(member_record))
    }

    async fn list_members(
        &self,
        project_id: &str,
        team_id: Uuid,
    ) -> StoreResult<Vec<TeamMemberRecord>> {
        Ok(team_member::Entity::find()
            .filter(team_member::Column::ProjectId.eq(project_id))
            .filter(team_member::Column::TeamId.eq(team_id))
            .order_by_asc(team_member::Column::CreatedAt)
            .order_by_asc(team_member::Column::UserId)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(member_record)
            .collect())
    }

    async fn update_member(&self, m: &TeamMemberRecord) -> StoreResult<bool> {
        let res = team_member::Entity::update_many()
            .col_expr(
                team_member::Column::DisplayName,
                Expr::value(m.display_name.clone()),
            )
            .col_expr(
                team_member::Column::ProfileImageUrl,
                Expr::value(m.profile_image_url.clone()),
            )
            .filter(team_member::Column::ProjectId.eq(m.project_id.as_str()))
            .filter(team_member::Column::TeamId.eq(m.team_id))
            .filter(team_member::Column::UserId.eq(m.user_id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn remove_member(
        &self,
        project_id: &str,
        team_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<bool> {
        self.clear_selection(project_id, team_id, Some(user_id))
            .await?;
        let res = team_member::Entity::delete_many()
            .filter(team_member::Column::ProjectId.eq(project_id))
            .filter(team_member::Column::TeamId.eq(team_id))
            .filter(team_member::Column::UserId.eq(user_id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }
}
