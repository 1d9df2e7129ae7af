//! The project as clients see it: welcome text, current project, JWKS, stored files.

use super::*;
use crate::rest::input::{Flag, input};

pub(crate) async fn root(rq: Rq<'_>, _: NoQuery) -> Result<Response<Bytes>> {
    let mut body = String::from(
        "Welcome to the Stack API endpoint! Please refer to the documentation at https://docs.stack-auth.com.\n\n",
    );
    match &rq.auth {
        None => body.push_str("Authentication: None"),
        Some(a) => {
            let kind = match a.access_type {
                AccessType::Client => "Client",
                AccessType::Server => "Server",
                AccessType::Admin => "Admin",
            };
            let user = a
                .user
                .as_ref()
                .map(|u| u.primary_email.clone().unwrap_or_else(|| u.id.to_string()))
                .unwrap_or_else(|| "None".into());
            body.push_str(&format!(
                "Authentication: {kind}\n  Project: {}\n  User: {user}",
                a.project.id
            ));
        }
    }
    Ok(text(StatusCode::OK, body))
}

/// `GET /openapi.json`: the OpenAPI document of every route, generated from the registry.
pub(crate) async fn openapi(rq: Rq<'_>, _: NoQuery) -> Result<Response<Bytes>> {
    // Built once per mount prefix (an app mounts the API at one or two fixed prefixes), so
    // this public route costs a lookup, not a rebuild.
    static BUILT: std::sync::Mutex<Vec<(String, Bytes)>> = std::sync::Mutex::new(Vec::new());
    let cached = BUILT.lock().ok().and_then(|b| {
        b.iter()
            .find(|(p, _)| p == rq.prefix)
            .map(|(_, d)| d.clone())
    });
    let body = match cached {
        Some(body) => body,
        None => {
            let body = Bytes::from(
                serde_json::to_vec(&crate::rest::openapi::document(rq.prefix)).unwrap_or_default(),
            );
            if let Ok(mut b) = BUILT.lock()
                && b.len() < 8
            {
                b.push((rq.prefix.to_owned(), body.clone()));
            }
            body
        }
    };
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    Ok(r)
}

pub(crate) async fn current(rq: Rq<'_>, _: NoQuery) -> Result<Json<ClientProjectView>> {
    let auth = rq.auth()?;
    Ok(Json::ok(ClientProjectView::of(&auth.project)))
}

input! {
    /// `GET /projects/{project_id}/.well-known/jwks.json`: which extra issuers' keys to list.
    pub(crate) struct JwksQuery in Query {
        include_restricted: Flag,
        include_anonymous: Flag,
    }
}

pub(crate) async fn jwks(rq: Rq<'_>, q: JwksQuery) -> Result<Response<Bytes>> {
    let (restricted, anonymous) = (q.include_restricted.0, q.include_anonymous.0);
    let project_id = rq.param("project_id");
    if rq.p.projects().get(project_id).await?.is_none() {
        return Err(Error::Refused(Refusal::ProjectNotFound));
    }
    let keys = rq.p.sessions().jwks(project_id, restricted, anonymous)?;
    let mut r = json(StatusCode::OK, &keys);
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(r)
}

pub(crate) async fn anonymous_alias(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let mut target = format!(
        "{}/projects/{}/.well-known/{}",
        rq.prefix,
        rq.param("project_id"),
        rq.param("rest")
    );
    match rq.raw_query.as_deref().filter(|q| !q.is_empty()) {
        Some(q) => target.push_str(&format!("?{q}&include_anonymous=true")),
        None => target.push_str("?include_anonymous=true"),
    }
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    if let Ok(v) = HeaderValue::from_str(&target) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// `GET /storage/{bucket}/{file}`: a stored image, cacheable (file ids are never reused).
pub(crate) async fn storage_file(rq: Rq<'_>) -> Result<Response<Bytes>> {
    let Some((mime, data)) = rq.p.file(rq.param("bucket"), rq.param("file")).await? else {
        return Err(Error::Refused(Refusal::FileNotFound));
    };
    let mut r = Response::new(Bytes::from(data));
    if let Ok(v) = http::HeaderValue::from_str(&mime) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    r.headers_mut().insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    Ok(r)
}
