//! Sessions: list, create, refresh, sign out.

use super::*;
use crate::rest::input::input;

input! {
    /// `POST /auth/sessions`.
    pub(crate) struct NewSession in Body {
        user_id: String,
        expires_in_millis: Option<f64> => |f: &mut Fields, key: &str, v: &Option<f64>| {
            if v.is_some_and(|e| e > MAX_SESSION_MILLIS as f64) {
                f.fail(key, &format!("must be less than or equal to {MAX_SESSION_MILLIS}"));
            }
        },
        is_impersonation: Option<bool>,
    }
}

pub(crate) async fn create(rq: Rq<'_>, b: NewSession) -> Result<Json<TokenPairView>> {
    let auth = rq.auth()?;
    let user_id = user_id_or_me(&b.user_id, auth.user_id(), "body.user_id")?;
    let pair =
        rq.p.sessions()
            .create(
                &auth.project,
                user_id,
                b.expires_in_millis.map(|e| e as i64),
                b.is_impersonation.unwrap_or(false),
            )
            .await?;
    Ok(Json::ok(TokenPairView {
        refresh_token: pair.refresh_token,
        access_token: pair.access_token,
    }))
}

input! {
    /// `GET /auth/sessions`: whose sessions (a user id or `me`).
    pub(crate) struct SessionsQuery in Query {
        user_id: String,
    }
}

pub(crate) async fn list(rq: Rq<'_>, q: SessionsQuery) -> Result<Json<ListView<SessionView>>> {
    let auth = rq.auth()?;
    let user_id = user_id_or_me(&q.user_id, auth.user_id(), "query.user_id")?;
    let sessions = rq.p.sessions().list_as(auth, user_id).await?;
    let current = auth.session_id();
    Ok(Json::ok(ListView::of(
        sessions
            .iter()
            .map(|s| SessionView::of(s, current))
            .collect(),
    )))
}

input! {
    /// `DELETE /auth/sessions/{id}`: the session's user (a user id or `me`).
    pub(crate) struct DeleteSessionQuery in Query {
        user_id: String,
    }
    check(_this, f, rq) {
        if Uuid::parse_str(rq.param("id")).is_err() {
            f.fail_raw("params.id must be a valid UUID");
        }
    }
}

pub(crate) async fn delete(rq: Rq<'_>, q: DeleteSessionQuery) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    user_id_or_me(&q.user_id, auth.user_id(), "query.user_id")?;
    let id = path_uuid(&rq, "id")?;
    rq.p.sessions().delete_as(auth, id).await?;
    Ok(Json::ok(SuccessView::TRUE))
}

pub(crate) async fn sign_out(rq: Rq<'_>) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let Some(session) = auth.session_id() else {
        return Err(Error::AccessTokenExpired {
            expired_at_millis: Some(rq.p.clock().now_millis()),
            project_id: None,
            user_id: None,
            refresh_token_id: None,
        });
    };
    if !rq.p.sessions().delete(&auth.project, session).await? {
        return Err(Error::RefreshTokenNotFoundOrExpired);
    }
    Ok(Json::ok(SuccessView::TRUE))
}

pub(crate) async fn refresh(rq: Rq<'_>) -> Result<Json<AccessTokenView>> {
    let auth = rq.auth()?;
    let token = stack_header(rq.headers, "refresh-token")
        .ok_or_else(|| Error::schema("headers.x-stack-refresh-token must be defined"))?;
    let access_token = rq.p.sessions().refresh(&auth.project, token).await?;
    Ok(Json::ok(AccessTokenView { access_token }))
}
