//! Team invitations.

use super::*;
use crate::rest::input::{Id, input};

input! {
    /// `POST /team-invitations/send-code`.
    pub(crate) struct SendInvitation in Body {
        team_id: Id,
        email: String => email_lenient,
        callback_url: String,
    }
}

pub(crate) async fn send(rq: Rq<'_>, b: SendInvitation) -> Result<Json<InvitationSentView>> {
    let auth = rq.auth()?;
    let team = b.team_id.0;
    let id =
        rq.p.invitations()
            .send_as(auth, team, &b.email, &b.callback_url)
            .await?;
    Ok(Json::ok(InvitationSentView { success: true, id }))
}

input! {
    /// `GET /team-invitations`: a team's pending invitations, or a user's.
    pub(crate) struct ListInvitations in Query {
        team_id: Option<String>,
        user_id: Option<String>,
    }
}

pub(crate) async fn list(rq: Rq<'_>, q: ListInvitations) -> Result<Json<ListView<InvitationView>>> {
    let auth = rq.auth()?;
    let invitations = match (q.team_id, q.user_id) {
        (Some(_), Some(_)) => {
            return Err(Error::Refused(Refusal::TeamIdAndUserId));
        }
        (None, None) => return Err(Error::Refused(Refusal::NeitherTeamIdNorUserId)),
        (Some(t), None) => {
            let t = Uuid::parse_str(&t)
                .map_err(|_| Error::schema("query.team_id must be a valid UUID"))?;
            rq.p.invitations().list_for_team_as(auth, t).await?
        }
        (None, Some(u)) => {
            let u = user_id_or_me(&u, auth.user_id(), "query.user_id")?;
            rq.p.invitations().list_for_user_as(auth, u).await?
        }
    };
    Ok(Json::ok(ListView::of(
        invitations.iter().map(InvitationView::of).collect(),
    )))
}

input! {
    /// `DELETE /team-invitations/{id}`: the invitation's team.
    pub(crate) struct DeleteInvitation in Query {
        team_id: Option<String>,
    }
}

pub(crate) async fn delete(rq: Rq<'_>, q: DeleteInvitation) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let Some(team) = q.team_id else {
        return Err(Error::Refused(Refusal::InvitationTeamIdRequired));
    };
    let team =
        Uuid::parse_str(&team).map_err(|_| Error::schema("query.team_id must be a valid UUID"))?;
    let id = Uuid::parse_str(rq.param("id")).map_err(|_| Error::VerificationCodeNotFound)?;
    rq.p.invitations().delete_as(auth, team, id).await?;
    Ok(Json::ok(SuccessView::TRUE))
}

pub(crate) async fn accept(rq: Rq<'_>, b: CodeBody) -> Result<Json<EmptyView>> {
    let auth = rq.auth()?;
    let code = b.code;
    let user = auth
        .user
        .as_ref()
        .ok_or(Error::UserAuthenticationRequired)?;
    rq.p.invitations()
        .accept(&auth.project, user, &code)
        .await?;
    Ok(Json::ok(EmptyView {}))
}

pub(crate) async fn check(rq: Rq<'_>, b: CodeBody) -> Result<Json<CodeValidView>> {
    let auth = rq.auth()?;
    let code = b.code;
    rq.p.invitations().check_code(&auth.project, &code).await?;
    Ok(Json::ok(CodeValidView {
        is_code_valid: true,
    }))
}

pub(crate) async fn details(rq: Rq<'_>, b: CodeBody) -> Result<Json<InvitationDetailsView>> {
    let auth = rq.auth()?;
    let code = b.code;
    let user = auth
        .user
        .as_ref()
        .ok_or(Error::UserAuthenticationRequired)?;
    let (team_id, name) =
        rq.p.invitations()
            .details(&auth.project, user, &code)
            .await?;
    Ok(Json::ok(InvitationDetailsView {
        team_id,
        team_display_name: name,
    }))
}

input! {
    /// `POST /team-invitations/{id}/accept`: who accepts (`me` or a user id).
    pub(crate) struct AcceptById in Query {
        user_id: String,
    }
}

pub(crate) async fn accept_by_id(rq: Rq<'_>, q: AcceptById) -> Result<Json<EmptyView>> {
    let auth = rq.auth()?;
    let user_id = user_id_or_me(&q.user_id, auth.user_id(), "query.user_id")?;
    let id = Uuid::parse_str(rq.param("id")).map_err(|_| Error::VerificationCodeNotFound)?;
    rq.p.invitations()
        .accept_by_id_as(auth, user_id, id)
        .await?;
    Ok(Json::ok(EmptyView {}))
}
