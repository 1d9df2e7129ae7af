//! [`UserRepo`] over sea-orm, including the user list query.

use async_trait::async_trait;
use postern_core::storage::{
    ChannelKind, ContactChannelRecord, StoreError, StoreResult, UserListQuery, UserRecord, UserRepo,
};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{BinOper, Expr, ExprTrait, Func, Query},
};
use uuid::Uuid;

use super::{SeaRepos, opt_json_text, parse_opt_json};
use crate::entities::{contact_channel as channel, user};
use crate::store_error;

/// `IN (...)` lists are sent in chunks of this many ids (far below every bind limit).
const IN_LIST_CHUNK: usize = 500;

/// The escape character of our `LIKE` patterns (a backslash would need care in SQL
/// string literals; `!` needs none).
const LIKE_ESCAPE: char = '!';

fn user_active_model(u: &UserRecord) -> StoreResult<user::ActiveModel> {
    Ok(user::ActiveModel {
        id: Set(u.id),
        project_id: Set(u.project_id.clone()),
        display_name: Set(u.display_name.clone()),
        profile_image_url: Set(u.profile_image_url.clone()),
        client_metadata: Set(opt_json_text(&u.client_metadata)?),
        client_read_only_metadata: Set(opt_json_text(&u.client_read_only_metadata)?),
        server_metadata: Set(opt_json_text(&u.server_metadata)?),
        password_hash: Set(u.password_hash.clone()),
        otp_auth_enabled: Set(u.otp_auth_enabled),
        totp_secret: Set(u.totp_secret.clone()),
        selected_team_id: Set(u.selected_team_id),
        is_anonymous: Set(u.is_anonymous),
        restricted_by_admin: Set(u.restricted_by_admin),
        restricted_by_admin_reason: Set(u.restricted_by_admin_reason.clone()),
        restricted_by_admin_private_details: Set(u.restricted_by_admin_private_details.clone()),
        country_code: Set(u.country_code.clone()),
        risk_score_bot: Set(u.risk_score_bot),
        risk_score_free_trial_abuse: Set(u.risk_score_free_trial_abuse),
        signed_up_at: Set(u.signed_up_at_millis),
        last_active_at: Set(u.last_active_at_millis),
        totp_last_step: Set(u.totp_last_step),
        totp_proven: Set(u.totp_proven),
        claimed_at: Set(u.claimed_at_millis),
        tokens_valid_after: Set(u.tokens_valid_after_millis),
        // Derived from the passkeys table: a new user has none.
        has_passkey: Set(false),
        has_oauth: Set(false),
    })
}

fn user_record(m: user::Model) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        client_metadata: parse_opt_json("postern_users.client_metadata", m.client_metadata)?,
        client_read_only_metadata: parse_opt_json(
            "postern_users.client_read_only_metadata",
            m.client_read_only_metadata,
        )?,
        server_metadata: parse_opt_json("postern_users.server_metadata", m.server_metadata)?,
        project_id: m.project_id,
        id: m.id,
        display_name: m.display_name,
        profile_image_url: m.profile_image_url,
        password_hash: m.password_hash,
        otp_auth_enabled: m.otp_auth_enabled,
        totp_secret: m.totp_secret,
        selected_team_id: m.selected_team_id,
        is_anonymous: m.is_anonymous,
        restricted_by_admin: m.restricted_by_admin,
        restricted_by_admin_reason: m.restricted_by_admin_reason,
        restricted_by_admin_private_details: m.restricted_by_admin_private_details,
        country_code: m.country_code,
        risk_score_bot: m.risk_score_bot,
        risk_score_free_trial_abuse: m.risk_score_free_trial_abuse,
        signed_up_at_millis: m.signed_up_at,
        last_active_at_millis: m.last_active_at,
        totp_last_step: m.totp_last_step,
        totp_proven: m.totp_proven,
        claimed_at_millis: m.claimed_at,
        tokens_valid_after_millis: m.tokens_valid_after,
        has_passkey: m.has_passkey,
        has_oauth: m.has_oauth,
    })
}

/// The channel row, with the derived `auth_value` and `primary_of` columns filled in.
fn channel_active_model(c: &ContactChannelRecord) -> channel::ActiveModel {
    channel::ActiveModel {
        id: Set(c.id),
        project_id: Set(c.project_id.clone()),
        user_id: Set(c.user_id),
        kind: Set(c.kind.as_str().to_owned()),
        value: Set(c.value.clone()),
        is_primary: Set(c.is_primary),
        is_verified: Set(c.is_verified),
        used_for_auth: Set(c.used_for_auth),
        auth_confirmed: Set(c.auth_confirmed),
        created_at: Set(c.created_at_millis),
        auth_value: Set((c.used_for_auth && c.auth_confirmed).then(|| c.value.clone())),
        primary_of: Set(c
            .is_primary
            .then(|| format!("{}:{}", c.user_id, c.kind.as_str()))),
    }
}

fn channel_record(m: channel::Model) -> StoreResult<ContactChannelRecord> {
    let kind = ChannelKind::parse(&m.kind).ok_or_else(|| {
        StoreError::Backend(format!(
            "unknown contact channel type {:?} in postern_contact_channels",
            m.kind
        ))
    })?;
    Ok(ContactChannelRecord {
        project_id: m.project_id,
        id: m.id,
        user_id: m.user_id,
        kind,
        value: m.value,
        is_primary: m.is_primary,
        is_verified: m.is_verified,
        used_for_auth: m.used_for_auth,
        auth_confirmed: m.auth_confirmed,
        created_at_millis: m.created_at,
    })
}

/// A `LIKE` pattern matching `needle` as a literal substring (`%`, `_` and the escape
/// character itself are escaped with [`LIKE_ESCAPE`]).
fn like_substring(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for ch in needle.chars() {
        if matches!(ch, '%' | '_') || ch == LIKE_ESCAPE {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

/// `LOWER(column) LIKE LOWER(pattern) ESCAPE '!'`: both sides go through the database's
/// own `LOWER`, so the comparison is case-insensitive in the same way on either side.
fn ilike(column: Expr, pattern: &str) -> Expr {
    let pattern = Expr::Binary(
        Box::new(Func::lower(Expr::val(pattern)).into()),
        BinOper::Escape,
        Box::new(Expr::Constant(LIKE_ESCAPE.into())),
    );
    Expr::expr(Func::lower(column)).binary(BinOper::Like, pattern)
}

/// The search condition of [`UserListQuery::search`].
fn search_condition(project_id: &str, search: &str) -> Condition {
    let pattern = like_substring(search);
    let channel_match = Query::select()
        .column(channel::Column::UserId)
        .from(channel::Entity)
        .and_where(Expr::col(channel::Column::ProjectId).eq(project_id))
        .and_where(ilike(Expr::col(channel::Column::Value), &pattern))
        .to_owned();
    let mut condition = Condition::any()
        .add(ilike(
            Expr::col((user::Entity, user::Column::DisplayName)),
            &pattern,
        ))
        .add(user::Column::Id.in_subquery(channel_match));
    if let Ok(id) = Uuid::parse_str(search) {
        condition = condition.add(user::Column::Id.eq(id));
    }
    condition
}

/// Users that are anonymous or have a verified primary email.
fn verified_email_condition(project_id: &str) -> Condition {
    let verified = Query::select()
        .column(channel::Column::UserId)
        .from(channel::Entity)
        .and_where(Expr::col(channel::Column::ProjectId).eq(project_id))
        .and_where(Expr::col(channel::Column::Kind).eq(ChannelKind::Email.as_str()))
        .and_where(Expr::col(channel::Column::IsPrimary).eq(true))
        .and_where(Expr::col(channel::Column::IsVerified).eq(true))
        .to_owned();
    Condition::any()
        .add(user::Column::IsAnonymous.eq(true))
        .add(user::Column::Id.in_subquery(verified))
}

#[async_trait]
impl<C: ConnectionTrait + Send> UserRepo for SeaRepos<C> {
    async fn insert(&self, u: &UserRecord) -> StoreResult<()> {
        user::Entity::insert(user_active_model(u)?)
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn get(&self, project_id: &str, id: Uuid) -> StoreResult<Option<UserRecord>> {
        user::Entity::find()
            .filter(user::Column::ProjectId.eq(project_id))
            .filter(user::Column::Id.eq(id))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(user_record)
            .transpose()
    }

    async fn update(&self, u: &UserRecord) -> StoreResult<bool> {
        let mut model = user_active_model(u)?;
        model.id = NotSet;
        model.project_id = NotSet;
        // Only `advance_totp_step` moves it (a stale record must not move it back).
        model.totp_last_step = NotSet;
        // Only the passkey repository moves it.
        model.has_passkey = NotSet;
        model.has_oauth = NotSet;
        let res = user::Entity::update_many()
            .set(model)
            .filter(user::Column::ProjectId.eq(u.project_id.as_str()))
            .filter(user::Column::Id.eq(u.id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn delete(&self, project_id: &str, id: Uuid) -> StoreResult<bool> {
        // Channels and sessions go by ON DELETE CASCADE.
        let res = user::Entity::delete_many()
            .filter(user::Column::ProjectId.eq(project_id))
            .filter(user::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn list(&self, project_id: &str, query: &UserListQuery) -> StoreResult<Vec<UserRecord>> {
        let mut select = user::Entity::find().filter(user::Column::ProjectId.eq(project_id));

        if let Some(cursor) = query.cursor {
            let cursor_at: Option<i64> = user::Entity::find()
                .select_only()
                .column(user::Column::SignedUpAt)
                .filter(user::Column::ProjectId.eq(project_id))
                .filter(user::Column::Id.eq(cursor))
                .into_tuple()
                .one(&self.conn)
                .await
                .map_err(store_error)?;
            let Some(at) = cursor_at else {
                return Ok(Vec::new());
            };
            // Rows at or after the cursor in the chosen order of (signed_up_at, id).
            let (later, same_or_after) = if query.desc {
                (
                    user::Column::SignedUpAt.lt(at),
                    user::Column::Id.lte(cursor),
                )
            } else {
                (
                    user::Column::SignedUpAt.gt(at),
                    user::Column::Id.gte(cursor),
                )
            };
            select = select.filter(
                Condition::any().add(later).add(
                    Condition::all()
                        .add(user::Column::SignedUpAt.eq(at))
                        .add(same_or_after),
                ),
            );
        }

        if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
            select = select.filter(search_condition(project_id, search));
        }
        if query.exclude_anonymous {
            select = select.filter(user::Column::IsAnonymous.eq(false));
        }
        if query.only_anonymous {
            select = select.filter(user::Column::IsAnonymous.eq(true));
        }
        if query.exclude_restricted_by_admin {
            select = select.filter(user::Column::RestrictedByAdmin.eq(false));
        }
        if query.exclude_unverified_email {
            select = select.filter(verified_email_condition(project_id));
        }

        let order = if query.desc { Order::Desc } else { Order::Asc };
        select = select
            .order_by(user::Column::SignedUpAt, order.clone())
            .order_by(user::Column::Id, order);
        if let Some(limit) = query.limit {
            select = select.limit(limit);
        }

        select
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(user_record)
            .collect()
    }

    async fn touch(&self, project_id: &str, id: Uuid, at_millis: i64) -> StoreResult<bool> {
        let res = user::Entity::update_many()
            .col_expr(user::Column::LastActiveAt, Expr::val(at_millis))
            .filter(user::Column::ProjectId.eq(project_id))
            .filter(user::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn insert_channel(&self, c: &ContactChannelRecord) -> StoreResult<()> {
        channel::Entity::insert(channel_active_model(c))
            .exec_without_returning(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn update_channel(&self, c: &ContactChannelRecord) -> StoreResult<bool> {
        let mut model = channel_active_model(c);
        model.id = NotSet;
        model.project_id = NotSet;
        let res = channel::Entity::update_many()
            .set(model)
            .filter(channel::Column::ProjectId.eq(c.project_id.as_str()))
            .filter(channel::Column::Id.eq(c.id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn delete_channel(&self, project_id: &str, id: Uuid) -> StoreResult<bool> {
        let res = channel::Entity::delete_many()
            .filter(channel::Column::ProjectId.eq(project_id))
            .filter(channel::Column::Id.eq(id))
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected > 0)
    }

    async fn get_channel(
        &self,
        project_id: &str,
        id: Uuid,
    ) -> StoreResult<Option<ContactChannelRecord>> {
        channel::Entity::find()
            .filter(channel::Column::ProjectId.eq(project_id))
            .filter(channel::Column::Id.eq(id))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(channel_record)
            .transpose()
    }

    async fn list_channels(
        &self,
        project_id: &str,
        user_id: Uuid,
    ) -> StoreResult<Vec<ContactChannelRecord>> {
        channel::Entity::find()
            .filter(channel::Column::ProjectId.eq(project_id))
            .filter(channel::Column::UserId.eq(user_id))
            .order_by_asc(channel::Column::CreatedAt)
            .order_by_asc(channel::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(channel_record)
            .collect()
    }

    async fn list_channels_for_users(
        &self,
        project_id: &str,
        user_ids: &[Uuid],
    ) -> StoreResult<Vec<ContactChannelRecord>> {
        let mut channels = Vec::new();
        for chunk in user_ids.chunks(IN_LIST_CHUNK) {
            let rows = channel::Entity::find()
                .filter(channel::Column::ProjectId.eq(project_id))
                .filter(channel::Column::UserId.is_in(chunk.iter().copied()))
                .all(&self.conn)
                .await
                .map_err(store_error)?;
            for row in rows {
                channels.push(channel_record(row)?);
            }
        }
        Ok(channels)
    }

    async fn list_project_channels(
        &self,
        project_id: &str,
    ) -> StoreResult<Vec<ContactChannelRecord>> {
        channel::Entity::find()
            .filter(channel::Column::ProjectId.eq(project_id))
            .order_by_asc(channel::Column::CreatedAt)
            .order_by_asc(channel::Column::Id)
            .all(&self.conn)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(channel_record)
            .collect()
    }

    async fn find_auth_channel(
        &self,
        project_id: &str,
        kind: ChannelKind,
        value: &str,
    ) -> StoreResult<Option<ContactChannelRecord>> {
        channel::Entity::find()
            .filter(channel::Column::ProjectId.eq(project_id))
            .filter(channel::Column::Kind.eq(kind.as_str()))
            .filter(channel::Column::AuthValue.eq(value))
            .one(&self.conn)
            .await
            .map_err(store_error)?
            .map(channel_record)
            .transpose()
    }

    async fn advance_totp_step(&self, project_id: &str, id: Uuid, step: i64) -> StoreResult<bool> {
        let res = user::Entity::update_many()
            .col_expr(user::Column::TotpLastStep, Expr::value(step))
            .filter(user::Column::ProjectId.eq(project_id))
            .filter(user::Column::Id.eq(id))
            .filter(
                Condition::any()
                    .add(user::Column::TotpLastStep.is_null())
                    .add(user::Column::TotpLastStep.lt(step)),
            )
            .exec(&self.conn)
            .await
            .map_err(store_error)?;
        Ok(res.rows_affected == 1)
    }
}
