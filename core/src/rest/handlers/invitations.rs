//! Team invitations.

use super::*;

pub(crate) fn invitation_json(i: &crate::invitations::Invitation) -> Value {
    json!({
        "id": i.id,
        "team_id": i.team_id,
        "team_display_name": i.team_display_name,
        "recipient_email": i.recipient_email,
        "expires_at_millis": i.expires_at_millis,
    })
}

pub(crate) async fn send(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::body(&rq.body, &["team_id", "email", "callback_url"]);
    let team = f.req_str("team_id");
    let email = f.req_str("email");
    let callback = f.req_str("callback_url");
    if let Some(e) = &email
        && !crate::email::is_valid_email_lenient(e)
    {
        f.fail("email", "must be a valid email");
    }
    let team = team.and_then(|t| match Uuid::parse_str(&t) {
        Ok(u) => Some(u),
        Err(_) => {
            f.fail("team_id", "must be a valid UUID");
            None
        }
    });
    f.finish()?;
    let team = team.unwrap_or_default();
    if is_client(auth) {
        let me = client_user(auth)?;
        rq.p.permissions()
            .require_team_permission(&auth.project, me, team, "$invite_members")
            .await?;
    }
    let id =
        rq.p.invitations()
            .send(
                &auth.project,
                team,
                &email.unwrap_or_default(),
                &callback.unwrap_or_default(),
            )
            .await?;
    Ok(json(StatusCode::OK, &json!({ "success": true, "id": id })))
}

pub(crate) async fn list(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::query(&rq.query, &["team_id", "user_id"]);
    let team = f.opt_str("team_id");
    let user = f.opt_str("user_id");
    f.finish()?;
    let invitations = match (team, user) {
        (Some(_), Some(_)) => {
            return Err(Error::bad_request(
                "Cannot specify both team_id and user_id",
            ));
        }
        (None, None) => return Err(Error::bad_request("Must specify either team_id or user_id")),
        (Some(t), None) => {
            let t = Uuid::parse_str(&t)
                .map_err(|_| Error::schema("query.team_id must be a valid UUID"))?;
            if is_client(auth) {
                let me = client_user(auth)?;
                let perms = rq.p.permissions();
                perms
                    .require_team_permission(&auth.project, me, t, "$read_members")
                    .await?;
                perms
                    .require_team_permission(&auth.project, me, t, "$invite_members")
                    .await?;
            } else if rq.p.teams().get(&auth.project, t).await?.is_none() {
                return Err(Error::TeamNotFound(t));
            }
            rq.p.invitations().list_for_team(&auth.project, t).await?
        }
        (None, Some(u)) => {
            let u = user_id_or_me(&u, auth.user_id(), "query.user_id")?;
            if is_client(auth) && auth.user_id() != Some(u) {
                return Err(Error::CannotGetOwnUserWithoutUser);
            }
            rq.p.invitations().list_for_user(&auth.project, u).await?
        }
    };
    Ok(items(invitations.iter().map(invitation_json).collect()))
}

pub(crate) async fn delete(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::query(&rq.query, &["team_id"]);
    let team = f.opt_str("team_id");
    f.finish()?;
    let Some(team) = team else {
        return Err(Error::bad_request(
            "team_id is required for deleting a team invitation",
        ));
    };
    let team =
        Uuid::parse_str(&team).map_err(|_| Error::schema("query.team_id must be a valid UUID"))?;
    if is_client(auth) {
        let me = client_user(auth)?;
        rq.p.permissions()
            .require_team_permission(&auth.project, me, team, "$remove_members")
            .await?;
    } else if rq.p.teams().get(&auth.project, team).await?.is_none() {
        return Err(Error::TeamNotFound(team));
    }
    let id = Uuid::parse_str(rq.param("id")).map_err(|_| Error::VerificationCodeNotFound)?;
    rq.p.invitations().delete(&auth.project, team, id).await?;
    Ok(success())
}

pub(crate) fn invitation_code(rq: &Rq<'_>) -> Result<String> {
    let (code, f) = code_body(rq, &[])?;
    f.finish()?;
    Ok(code.unwrap_or_default())
}

pub(crate) async fn accept(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let code = invitation_code(&rq)?;
    let user = auth
        .user
        .as_ref()
        .ok_or(Error::UserAuthenticationRequired)?;
    rq.p.invitations()
        .accept(&auth.project, user, &code)
        .await?;
    Ok(json(StatusCode::OK, &json!({})))
}

pub(crate) async fn check(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let code = invitation_code(&rq)?;
    rq.p.invitations().check_code(&auth.project, &code).await?;
    Ok(json(StatusCode::OK, &json!({ "is_code_valid": true })))
}

pub(crate) async fn details(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let code = invitation_code(&rq)?;
    let user = auth
        .user
        .as_ref()
        .ok_or(Error::UserAuthenticationRequired)?;
    let (team_id, name) =
        rq.p.invitations()
            .details(&auth.project, user, &code)
            .await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "team_id": team_id, "team_display_name": name }),
    ))
}

pub(crate) async fn accept_by_id(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let auth = rq.auth()?;
    let mut f = Fields::query(&rq.query, &["user_id"]);
    let raw = f.req_str("user_id");
    f.finish()?;
    let user_id = user_id_or_me(&raw.unwrap_or_default(), auth.user_id(), "query.user_id")?;
    if is_client(auth) && auth.user_id() != Some(user_id) {
        return Err(Error::CannotGetOwnUserWithoutUser);
    }
    let user =
        rq.p.users()
            .get(&auth.project, user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
    let id = Uuid::parse_str(rq.param("id")).map_err(|_| Error::VerificationCodeNotFound)?;
    rq.p.invitations()
        .accept_by_id(&auth.project, &user, id)
        .await?;
    Ok(json(StatusCode::OK, &json!({})))
}
