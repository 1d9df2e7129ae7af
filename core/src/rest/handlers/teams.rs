//! Teams, memberships and member profiles.

use super::*;
use crate::rest::input::{FieldValue, Input, Source, input, object_schema};

input! {
    /// `GET /teams`: whose teams to list (`me` or a user id).
    pub(crate) struct ListTeams in Query {
        user_id: Option<String>,
    }
}

pub(crate) async fn list(rq: Rq<'_>, q: ListTeams) -> Result<Json<ListView<TeamView>>> {
    let auth = rq.auth()?;
    let user = match q.user_id {
        Some(r) => Some(user_id_or_me(&r, auth.user_id(), "query.user_id")?),
        None => None,
    };
    let server = !auth.is_client();
    let teams = rq.p.teams().list_as(auth, user).await?;
    Ok(Json::ok(ListView::of(
        teams.iter().map(|t| TeamView::of(t, server)).collect(),
    )))
}

/// The metadata keys only servers may set on a team.
const SERVER_ONLY_KEYS: [&str; 2] = ["client_read_only_metadata", "server_metadata"];

/// Whether a request comes from a client (which may not set server-only keys).
fn from_client(rq: &Rq<'_>) -> bool {
    rq.auth.as_ref().is_some_and(Auth::is_client)
}

/// The body of a team request, accepting `keys` and, for servers, [`SERVER_ONLY_KEYS`].
fn team_body(rq: &Rq<'_>, keys: &[&'static str]) -> Fields {
    let mut allowed = keys.to_vec();
    if !from_client(rq) {
        allowed.extend(SERVER_ONLY_KEYS);
    }
    Fields::body(&rq.body, &allowed)
}

/// A team's metadata objects as a request sets them (the server-only ones stay `None` for
/// clients).
#[derive(Debug, Clone, Default)]
pub(crate) struct TeamMetadata {
    pub(crate) client_metadata: Option<Value>,
    pub(crate) client_read_only_metadata: Option<Value>,
    pub(crate) server_metadata: Option<Value>,
}

impl TeamMetadata {
    /// Reads the metadata keys the caller may send, in Stack's order.
    fn read(f: &mut Fields, client: bool) -> Self {
        let client_metadata = f.opt_json("client_metadata");
        let (client_read_only_metadata, server_metadata) = if client {
            (None, None)
        } else {
            (
                f.opt_json("client_read_only_metadata"),
                f.opt_json("server_metadata"),
            )
        };
        TeamMetadata {
            client_metadata,
            client_read_only_metadata,
            server_metadata,
        }
    }

    /// The schema of the metadata keys (the server's variant, the widest).
    fn schema() -> [(&'static str, Value, bool); 3] {
        let any = <Option<Value> as FieldValue>::schema;
        [
            ("client_metadata", any(), false),
            ("client_read_only_metadata", any(), false),
            ("server_metadata", any(), false),
        ]
    }
}

/// `POST /teams`: the deprecated `add_current_user` query flag, then the body (the query is
/// refused on its own first). Clients may not send `client_read_only_metadata` or
/// `server_metadata`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CreateTeam {
    pub(crate) add_current_user: Option<String>,
    pub(crate) display_name: String,
    pub(crate) profile_image_url: Option<Option<String>>,
    pub(crate) metadata: TeamMetadata,
    pub(crate) creator_user_id: Option<String>,
}

impl Input for CreateTeam {
    const SOURCE: Source = Source::Body;

    fn parse(rq: &Rq<'_>) -> Result<Self> {
        let mut q = Fields::query(&rq.query, &["add_current_user"]);
        let add_current_user = q.opt_str("add_current_user");
        q.finish()?;
        let mut f = team_body(
            rq,
            &[
                "display_name",
                "profile_image_url",
                "client_metadata",
                "creator_user_id",
            ],
        );
        let this = CreateTeam {
            add_current_user,
            display_name: FieldValue::read(&mut f, "display_name"),
            profile_image_url: FieldValue::read(&mut f, "profile_image_url"),
            metadata: TeamMetadata::read(&mut f, from_client(rq)),
            creator_user_id: FieldValue::read(&mut f, "creator_user_id"),
        };
        f.finish()?;
        Ok(this)
    }

    fn schema() -> Value {
        let mut fields = vec![
            ("display_name", <String as FieldValue>::schema(), true),
            (
                "profile_image_url",
                <Option<Option<String>> as FieldValue>::schema(),
                false,
            ),
        ];
        fields.extend(TeamMetadata::schema());
        fields.push((
            "creator_user_id",
            <Option<String> as FieldValue>::schema(),
            false,
        ));
        object_schema(&fields)
    }

    fn query_schema() -> Option<Value> {
        Some(object_schema(&[(
            "add_current_user",
            <Option<String> as FieldValue>::schema(),
            false,
        )]))
    }
}

pub(crate) async fn create(rq: Rq<'_>, b: CreateTeam) -> Result<Json<TeamView>> {
    let auth = rq.auth()?;
    let client = auth.is_client();
    let CreateTeam {
        add_current_user: add_current,
        display_name,
        profile_image_url: image,
        metadata,
        creator_user_id: creator_raw,
    } = b;
    if creator_raw.is_some() && add_current.is_some() {
        return Err(Error::Refused(Refusal::CreatorUserIdAndAddCurrentUser));
    }
    let creator = match &creator_raw {
        Some(r) => Some(user_id_or_me(r, auth.user_id(), "body.creator_user_id")?),
        None => None,
    };
    // The deprecated `add_current_user=true` makes a server's request user the creator.
    let creator = match add_current.as_deref() {
        Some("true") if !client => Some(
            auth.user_id()
                .ok_or(Error::Refused(Refusal::AddCurrentUserWithoutUser))?,
        ),
        _ => creator,
    };
    let team =
        rq.p.teams()
            .create_as(
                auth,
                NewTeam {
                    display_name,
                    profile_image_url: image.flatten(),
                    client_metadata: metadata.client_metadata.filter(|v| !v.is_null()),
                    client_read_only_metadata: metadata
                        .client_read_only_metadata
                        .filter(|v| !v.is_null()),
                    server_metadata: metadata.server_metadata.filter(|v| !v.is_null()),
                    creator,
                },
            )
            .await?;
    Ok(Json::created(TeamView::of(&team, !client)))
}

pub(crate) async fn get(rq: Rq<'_>) -> Result<Json<TeamView>> {
    let auth = rq.auth()?;
    let id = team_in_path(&rq)?;
    let team = rq.p.teams().get_as(auth, id).await?;
    Ok(Json::ok(TeamView::of(&team, !auth.is_client())))
}

/// `PATCH /teams/{team_id}`. Clients may not send `client_read_only_metadata` or
/// `server_metadata`.
#[derive(Debug, Clone, Default)]
pub(crate) struct TeamPatch {
    pub(crate) display_name: Option<String>,
    pub(crate) profile_image_url: Option<Option<String>>,
    pub(crate) metadata: TeamMetadata,
}

impl Input for TeamPatch {
    const SOURCE: Source = Source::Body;

    fn parse(rq: &Rq<'_>) -> Result<Self> {
        let mut f = team_body(
            rq,
            &["display_name", "profile_image_url", "client_metadata"],
        );
        let this = TeamPatch {
            display_name: FieldValue::read(&mut f, "display_name"),
            profile_image_url: FieldValue::read(&mut f, "profile_image_url"),
            metadata: TeamMetadata::read(&mut f, from_client(rq)),
        };
        f.finish()?;
        Ok(this)
    }

    fn schema() -> Value {
        let mut fields = vec![
            (
                "display_name",
                <Option<String> as FieldValue>::schema(),
                false,
            ),
            (
                "profile_image_url",
                <Option<Option<String>> as FieldValue>::schema(),
                false,
            ),
        ];
        fields.extend(TeamMetadata::schema());
        object_schema(&fields)
    }
}

pub(crate) async fn patch(rq: Rq<'_>, b: TeamPatch) -> Result<Json<TeamView>> {
    let auth = rq.auth()?;
    let client = auth.is_client();
    let TeamPatch {
        display_name,
        profile_image_url: image,
        metadata,
    } = b;
    let id = team_in_path(&rq)?;
    let team =
        rq.p.teams()
            .update_as(
                auth,
                id,
                TeamUpdate {
                    display_name,
                    profile_image_url: image,
                    client_metadata: metadata.client_metadata,
                    client_read_only_metadata: metadata.client_read_only_metadata,
                    server_metadata: metadata.server_metadata,
                },
            )
            .await?;
    Ok(Json::ok(TeamView::of(&team, !client)))
}

pub(crate) async fn delete(rq: Rq<'_>) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let id = team_in_path(&rq)?;
    rq.p.teams().delete_as(auth, id).await?;
    Ok(Json::ok(SuccessView::TRUE))
}

pub(crate) fn member_user(rq: &Rq<'_>, auth: &Auth) -> Result<Uuid> {
    user_id_or_me(rq.param("user_id"), auth.user_id(), "params.user_id")
}

/// `POST /team-memberships/{team_id}/{user_id}`: no body, or an empty object.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NoBodyOrEmpty;

impl Input for NoBodyOrEmpty {
    const SOURCE: Source = Source::Body;

    fn parse(rq: &Rq<'_>) -> Result<Self> {
        if !matches!(rq.body, crate::rest::input::Body::None) {
            Fields::body(&rq.body, &[]).finish()?;
        }
        Ok(NoBodyOrEmpty)
    }

    fn schema() -> Value {
        object_schema(&[])
    }
}

pub(crate) async fn add_member(rq: Rq<'_>, _: NoBodyOrEmpty) -> Result<Json<TeamMembershipView>> {
    let auth = rq.auth()?;
    let team = path_uuid(&rq, "team_id")?;
    let user = member_user(&rq, auth)?;
    rq.p.teams().add_member(&auth.project, team, user).await?;
    Ok(Json::created(TeamMembershipView {
        team_id: team,
        user_id: user,
    }))
}

pub(crate) async fn remove_member(rq: Rq<'_>) -> Result<Json<SuccessView>> {
    let auth = rq.auth()?;
    let team = path_uuid(&rq, "team_id")?;
    let user = member_user(&rq, auth)?;
    rq.p.teams().remove_member_as(auth, team, user).await?;
    Ok(Json::ok(SuccessView::TRUE))
}

input! {
    /// `GET /team-member-profiles`: a team's profiles, a user's, or both filters.
    pub(crate) struct ListProfiles in Query {
        team_id: Option<String>,
        user_id: Option<String>,
    }
}

pub(crate) async fn list_profiles(
    rq: Rq<'_>,
    q: ListProfiles,
) -> Result<Json<ListView<MemberProfileView>>> {
    let auth = rq.auth()?;
    let team = q
        .team_id
        .map(|t| {
            Uuid::parse_str(&t).map_err(|_| Error::schema("query.team_id must be a valid UUID"))
        })
        .transpose()?;
    let user = q
        .user_id
        .map(|u| user_id_or_me(&u, auth.user_id(), "query.user_id"))
        .transpose()?;
    let profiles = rq.p.teams().member_profiles_as(auth, team, user).await?;
    Ok(Json::ok(ListView::of(
        profiles
            .iter()
            .map(|p| MemberProfileView::of(p, !auth.is_client()))
            .collect(),
    )))
}

pub(crate) async fn get_profile(rq: Rq<'_>) -> Result<Json<MemberProfileView>> {
    let auth = rq.auth()?;
    let team = path_uuid(&rq, "team_id")?;
    let user = member_user(&rq, auth)?;
    let p = rq.p.teams().member_profile_as(auth, team, user).await?;
    Ok(Json::ok(MemberProfileView::of(&p, !auth.is_client())))
}

input! {
    /// `PATCH /team-member-profiles/{team_id}/{user_id}`.
    pub(crate) struct ProfilePatch in Body {
        display_name: Option<String>,
        profile_image_url: Option<Option<String>>,
    }
}

pub(crate) async fn patch_profile(rq: Rq<'_>, b: ProfilePatch) -> Result<Json<MemberProfileView>> {
    let auth = rq.auth()?;
    let ProfilePatch {
        display_name,
        profile_image_url: image,
    } = b;
    let team = path_uuid(&rq, "team_id")?;
    let user = member_user(&rq, auth)?;
    let p =
        rq.p.teams()
            .update_member_profile_as(auth, team, user, display_name, image)
            .await?;
    Ok(Json::ok(MemberProfileView::of(&p, !auth.is_client())))
}
