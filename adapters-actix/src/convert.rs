//! The one place where actix-web's `http` 0.2 types meet the core's `http` 1 types.
//!
//! Methods, URIs and headers are copied as bytes; nothing is interpreted.

use bytes::Bytes;

/// Copies an actix request head into an `http` 1 request with `path` (already relative to
/// the API root, with its query) as the URI.
pub(crate) fn to_core_request(
    req: &actix_web::HttpRequest,
    path_and_query: &str,
    body: Bytes,
) -> Result<http::Request<Bytes>, http::Error> {
    let mut builder = http::Request::builder()
        .method(http::Method::from_bytes(req.method().as_str().as_bytes())?)
        .uri(path_and_query);
    if let Some(headers) = builder.headers_mut() {
        *headers = to_core_headers(req.headers());
    }
    builder.body(body)
}

/// Copies actix headers into an `http` 1 header map (values that do not convert are skipped,
/// which cannot happen for values actix accepted).
pub(crate) fn to_core_headers(headers: &actix_web::http::header::HeaderMap) -> http::HeaderMap {
    let mut out = http::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers.iter() {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(n, v);
        }
    }
    out
}

/// Converts a core response into an actix response.
pub(crate) fn to_actix_response(resp: http::Response<Bytes>) -> actix_web::HttpResponse {
    let (parts, body) = resp.into_parts();
    let status = actix_web::http::StatusCode::from_u16(parts.status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = actix_web::HttpResponse::build(status);
    for (name, value) in parts.headers.iter() {
        out.append_header((name.as_str(), value.as_bytes()));
    }
    out.body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;
    use actix_web::test::TestRequest;

    #[test]
    fn request_head_is_copied_byte_for_byte() {
        let req = TestRequest::post()
            .uri("/api/v1/users/me?x=1")
            .insert_header(("x-stack-access-type", "client"))
            .insert_header(("x-custom", "a\u{e9}".as_bytes()))
            .append_header(("accept", "a"))
            .append_header(("accept", "b"))
            .to_http_request();
        let core = to_core_request(&req, "/users/me?x=1", Bytes::from_static(b"{}")).unwrap();
        assert_eq!(core.method(), http::Method::POST);
        assert_eq!(core.uri().path(), "/users/me");
        assert_eq!(core.uri().query(), Some("x=1"));
        assert_eq!(core.headers()["x-stack-access-type"], "client");
        assert_eq!(core.headers()["x-custom"].as_bytes(), "a\u{e9}".as_bytes());
        assert_eq!(core.headers().get_all("accept").iter().count(), 2);
        assert_eq!(core.body().as_ref(), b"{}");
    }

    #[test]
    fn response_is_copied_back() {
        let core = http::Response::builder()
            .status(409)
            .header("x-stack-known-error", "USER_EMAIL_ALREADY_EXISTS")
            .header("vary", "a")
            .header("vary", "b")
            .body(Bytes::from_static(b"{\"code\":1}"))
            .unwrap();
        let r = to_actix_response(core);
        assert_eq!(r.status().as_u16(), 409);
        assert_eq!(
            r.headers().get("x-stack-known-error").unwrap(),
            "USER_EMAIL_ALREADY_EXISTS"
        );
        assert_eq!(r.headers().get_all("vary").count(), 2);
        let body = r.into_body().try_into_bytes().ok().unwrap();
        assert_eq!(body.as_ref(), b"{\"code\":1}");
    }

    #[test]
    fn unknown_method_is_kept() {
        let req = TestRequest::default()
            .method(actix_web::http::Method::from_bytes(b"PROPFIND").unwrap())
            .uri("/x")
            .to_http_request();
        assert_eq!(
            to_core_request(&req, "/x", Bytes::new())
                .unwrap()
                .method()
                .as_str(),
            "PROPFIND"
        );
    }
}
