//! Request bodies and query strings, validated the way Stack reports it: every failure is
//! collected as one line (`body.email must be defined`) and unknown properties are rejected.

use http::HeaderMap;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};

/// A decoded request body (§3.2 of the contract).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// No content type, or an empty body.
    None,
    /// `application/json`.
    Json(Value),
    /// `application/x-www-form-urlencoded` (last value wins).
    Form(Map<String, Value>),
    /// `text/plain` or `application/octet-stream`.
    Other,
}

/// Decodes the body by its content type.
pub(crate) fn decode_body(headers: &HeaderMap, bytes: &[u8]) -> Result<Body> {
    let Some(ct) = headers.get(http::header::CONTENT_TYPE) else {
        return Ok(Body::None);
    };
    let ct = ct.to_str().unwrap_or_default();
    let media = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if media.is_empty() {
        return Ok(Body::None);
    }
    match media.as_str() {
        "application/json" => {
            if bytes.is_empty() {
                return Ok(Body::None);
            }
            serde_json::from_slice(bytes)
                .map(Body::Json)
                .map_err(|_| Error::BodyParsing("Invalid JSON in request body".into()))
        }
        "application/x-www-form-urlencoded" => {
            let mut map = Map::new();
            for (k, v) in url::form_urlencoded::parse(bytes) {
                map.insert(k.into_owned(), Value::String(v.into_owned()));
            }
            Ok(Body::Form(map))
        }
        "text/plain" | "application/octet-stream" => Ok(Body::Other),
        other => Err(Error::BodyParsing(format!(
            "Unknown content type in request body: {other}"
        ))),
    }
}

/// Reads fields of one object (`body` or `query`), collecting failures.
pub(crate) struct Fields {
    prefix: &'static str,
    obj: Map<String, Value>,
    failures: Vec<String>,
}

impl Fields {
    /// The JSON body as an object with only `allowed` keys. A missing body is a failure
    /// (`body must be defined`).
    pub(crate) fn body(body: &Body, allowed: &[&str]) -> Self {
        let mut f = Fields {
            prefix: "body",
            obj: Map::new(),
            failures: Vec::new(),
        };
        match body {
            Body::Json(Value::Object(m)) | Body::Form(m) => f.obj = m.clone(),
            Body::Json(_) | Body::Other => f.failures.push("body must be a `object` type".into()),
            Body::None => f.failures.push("body must be defined".into()),
        }
        f.reject_unknown(allowed);
        f
    }

    /// The body or the query of a request, with only `allowed` keys.
    pub(crate) fn from_source(rq: &super::Rq<'_>, source: Source, allowed: &[&str]) -> Self {
        match source {
            Source::Body => Fields::body(&rq.body, allowed),
            Source::Query => Fields::query(&rq.query, allowed),
        }
    }

    /// The query string with only `allowed` keys.
    pub(crate) fn query(query: &[(String, String)], allowed: &[&str]) -> Self {
        let obj = query
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let mut f = Fields {
            prefix: "query",
            obj,
            failures: Vec::new(),
        };
        f.reject_unknown(allowed);
        f
    }

    fn reject_unknown(&mut self, allowed: &[&str]) {
        let unknown: Vec<&str> = self
            .obj
            .keys()
            .map(String::as_str)
            .filter(|k| !allowed.contains(k))
            .collect();
        if !unknown.is_empty() {
            self.failures.push(format!(
                "{} contains unknown properties: {}",
                self.prefix,
                unknown.join(", ")
            ));
        }
    }

    /// Adds a failure about a field.
    pub(crate) fn fail(&mut self, key: &str, what: &str) {
        self.failures.push(format!("{}.{key} {what}", self.prefix));
    }

    /// Adds a failure line as is (`auth.user must be defined`).
    pub(crate) fn fail_raw(&mut self, line: &str) {
        self.failures.push(line.to_owned());
    }

    fn type_fail(&mut self, key: &str, ty: &str, v: &Value) {
        self.fail(
            key,
            &format!("must be a `{ty}` type, but the final value was: `{v}`."),
        );
    }

    /// A required, non-null string.
    pub(crate) fn req_str(&mut self, key: &str) -> Option<String> {
        match self.obj.get(key).cloned() {
            None | Some(Value::Null) => {
                self.fail(key, "must be defined");
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(v) => {
                self.type_fail(key, "string", &v);
                None
            }
        }
    }

    /// An optional, non-null string.
    pub(crate) fn opt_str(&mut self, key: &str) -> Option<String> {
        match self.obj.get(key).cloned() {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(v) => {
                self.type_fail(key, "string", &v);
                None
            }
        }
    }

    /// A nullable string: `None` absent, `Some(None)` null.
    pub(crate) fn nullable_str(&mut self, key: &str) -> Option<Option<String>> {
        match self.obj.get(key).cloned() {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s)),
            Some(v) => {
                self.type_fail(key, "string", &v);
                None
            }
        }
    }

    /// An optional boolean.
    pub(crate) fn opt_bool(&mut self, key: &str) -> Option<bool> {
        match self.obj.get(key).cloned() {
            None => None,
            Some(Value::Bool(b)) => Some(b),
            Some(v) => {
                self.type_fail(key, "boolean", &v);
                None
            }
        }
    }

    /// An optional `"true"` / `"false"` query flag.
    pub(crate) fn flag(&mut self, key: &str) -> bool {
        match self.obj.get(key).cloned() {
            None => false,
            Some(Value::String(s)) if s == "true" => true,
            Some(Value::String(s)) if s == "false" => false,
            Some(_) => {
                self.fail(key, "must be one of the following values: true, false");
                false
            }
        }
    }

    /// An optional number.
    pub(crate) fn opt_number(&mut self, key: &str) -> Option<f64> {
        match self.obj.get(key).cloned() {
            None => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(v) => {
                self.type_fail(key, "number", &v);
                None
            }
        }
    }

    /// Any JSON value, null included.
    pub(crate) fn opt_json(&mut self, key: &str) -> Option<Value> {
        self.obj.get(key).cloned()
    }

    /// An optional UUID (or `me`, resolved by the caller) given as a string.
    pub(crate) fn opt_str_raw(&self, key: &str) -> Option<&Value> {
        self.obj.get(key)
    }

    /// How many failures were recorded so far.
    pub(crate) fn failure_count(&self) -> usize {
        self.failures.len()
    }

    /// Ends reading: `SCHEMA_ERROR` with every failure, if any.
    pub(crate) fn finish(self) -> Result<()> {
        if self.failures.is_empty() {
            Ok(())
        } else {
            Err(Error::Schema(self.failures))
        }
    }
}

/// One field type of a declared request ([`input!`]): how it is read from a body or query
/// object, with Stack's failure lines, and how the OpenAPI document describes it.
pub(crate) trait FieldValue: Sized {
    /// Whether the field must be present.
    const REQUIRED: bool = false;
    /// Reads `key`. A failure is recorded in `f` and a harmless value returned: the request
    /// is refused by [`Fields::finish`] before any handler sees it.
    fn read(f: &mut Fields, key: &str) -> Self;
    /// The JSON schema of the field.
    fn schema() -> Value;
}

/// A required, non-null string.
impl FieldValue for String {
    const REQUIRED: bool = true;
    fn read(f: &mut Fields, key: &str) -> Self {
        f.req_str(key).unwrap_or_default()
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "string" })
    }
}

/// An optional string (`null` is refused).
impl FieldValue for Option<String> {
    fn read(f: &mut Fields, key: &str) -> Self {
        f.opt_str(key)
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "string" })
    }
}

/// A string that may be absent (`None`), `null` (`Some(None)`) or set.
impl FieldValue for Option<Option<String>> {
    fn read(f: &mut Fields, key: &str) -> Self {
        f.nullable_str(key)
    }
    fn schema() -> Value {
        serde_json::json!({ "type": ["string", "null"] })
    }
}

/// An optional boolean.
impl FieldValue for Option<bool> {
    fn read(f: &mut Fields, key: &str) -> Self {
        f.opt_bool(key)
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "boolean" })
    }
}

/// An optional number.
impl FieldValue for Option<f64> {
    fn read(f: &mut Fields, key: &str) -> Self {
        f.opt_number(key)
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "number" })
    }
}

/// Any JSON value (objects for metadata), `null` included.
impl FieldValue for Option<Value> {
    fn read(f: &mut Fields, key: &str) -> Self {
        f.opt_json(key)
    }
    fn schema() -> Value {
        serde_json::json!({})
    }
}

/// Any JSON value that must be present (`null` included): a WebAuthn response object,
/// whose shape the handler's library checks.
impl FieldValue for Value {
    const REQUIRED: bool = true;
    fn read(f: &mut Fields, key: &str) -> Self {
        match f.opt_json(key) {
            Some(v) => v,
            None => {
                f.fail(key, "must be defined");
                Value::Null
            }
        }
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "object" })
    }
}

/// A UUID that may be absent (`None`), `null` (`Some(None)`) or set.
impl FieldValue for Option<Option<Uuid>> {
    fn read(f: &mut Fields, key: &str) -> Self {
        match f.obj.get(key) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) if Uuid::parse_str(s).is_ok() => {
                Uuid::parse_str(s).ok().map(Some)
            }
            Some(_) => {
                f.fail(key, "must be a valid UUID");
                None
            }
        }
    }
    fn schema() -> Value {
        serde_json::json!({ "type": ["string", "null"], "format": "uuid" })
    }
}

/// A list of strings that may be absent (`None`), `null` (`Some(None)`) or set.
impl FieldValue for Option<Option<Vec<String>>> {
    fn read(f: &mut Fields, key: &str) -> Self {
        match f.obj.get(key) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => Some(Some(
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            )),
            Some(_) => {
                f.fail(key, "must be an array of strings or null");
                None
            }
        }
    }
    fn schema() -> Value {
        serde_json::json!({ "type": ["array", "null"], "items": { "type": "string" } })
    }
}

/// A UUID given as a string (`must be a valid UUID` otherwise). As a field, `Id` is required
/// and `Option<Id>` optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Id(pub(crate) Uuid);

/// Parses a read string as an [`Id`], failing `key` when it is not a UUID.
fn parse_id(f: &mut Fields, key: &str, raw: Option<String>) -> Option<Id> {
    raw.and_then(|s| match Uuid::parse_str(&s) {
        Ok(u) => Some(Id(u)),
        Err(_) => {
            f.fail(key, "must be a valid UUID");
            None
        }
    })
}

impl FieldValue for Id {
    const REQUIRED: bool = true;
    fn read(f: &mut Fields, key: &str) -> Self {
        let raw = f.req_str(key);
        parse_id(f, key, raw).unwrap_or_default()
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "string", "format": "uuid" })
    }
}

impl FieldValue for Option<Id> {
    fn read(f: &mut Fields, key: &str) -> Self {
        let raw = f.opt_str(key);
        parse_id(f, key, raw)
    }
    fn schema() -> Value {
        <Id as FieldValue>::schema()
    }
}

/// A query flag: `"true"` or `"false"`, absent meaning false.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flag(pub(crate) bool);

impl FieldValue for Flag {
    fn read(f: &mut Fields, key: &str) -> Self {
        Flag(f.flag(key))
    }
    fn schema() -> Value {
        serde_json::json!({ "type": "string", "enum": ["true", "false"] })
    }
}

/// Where a declared request is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The JSON (or form) body.
    Body,
    /// The query string.
    Query,
}

/// A request body or query string declared as a type (with [`input!`], or by hand when the
/// accepted keys depend on the caller). The registry parses it before the handler runs.
pub(crate) trait Input: Sized {
    /// Where it is read from.
    const SOURCE: Source;
    /// Reads and validates it: `SCHEMA_ERROR` with every failure, or the value.
    fn parse(rq: &super::Rq<'_>) -> Result<Self>;
    /// The JSON schema the OpenAPI document shows.
    fn schema() -> Value;
    /// For a body read with a query string: the query's schema (its properties become query
    /// parameters in the OpenAPI document).
    fn query_schema() -> Option<Value> {
        None
    }
}

/// The object schema of declared fields.
pub(crate) fn object_schema(fields: &[(&str, Value, bool)]) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (key, schema, req) in fields {
        props.insert((*key).to_owned(), schema.clone());
        if *req {
            required.push(Value::String((*key).to_owned()));
        }
    }
    serde_json::json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false,
    })
}

/// Declares a request body or query as a struct (`field as "wire-name": Type` when the wire
/// name is not a Rust identifier). Each field is read in order (with its
/// type's failure lines), then, if it could be read, its check runs (`=> check`: a function or closure taking
/// `(&mut Fields, key, &value)`); then the optional `check(this, f, rq) { ... }` block adds
/// failures that involve several fields or the request. Unknown keys are refused. The
/// allowed keys and the OpenAPI schema come from the same declaration.
macro_rules! input {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident in $source:ident {
            $( $(#[$fmeta:meta])* $field:ident $(as $key:literal)? : $ty:ty $(=> $check:expr)? ),* $(,)?
        }
        $( check($this:ident, $f:ident, $rq:ident) $body:block )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default)]
        #[allow(dead_code)] // some fields are accepted for Stack's clients and not used
        $vis struct $name {
            $( $(#[$fmeta])* pub(crate) $field: $ty, )*
        }

        impl $name {
            /// The keys the request accepts.
            #[allow(dead_code)]
            pub(crate) const KEYS: &'static [&'static str] = &[$($crate::rest::input::input_key!($field $(, $key)?)),*];
        }

        impl $crate::rest::input::Input for $name {
            const SOURCE: $crate::rest::input::Source = $crate::rest::input::Source::$source;

            #[allow(unused_variables, unused_mut)]
            fn parse(rq: &$crate::rest::Rq<'_>) -> $crate::error::Result<Self> {
                let mut f = $crate::rest::input::Fields::from_source(
                    rq,
                    $crate::rest::input::Source::$source,
                    Self::KEYS,
                );
                let this = $name {
                    $( $field: {
                        let key = $crate::rest::input::input_key!($field $(, $key)?);
                        let before = f.failure_count();
                        let v = <$ty as $crate::rest::input::FieldValue>::read(&mut f, key);
                        // A field that could not be read has its one failure line already.
                        $( if f.failure_count() == before {
                            ($check)(&mut f, key, &v);
                        } )?
                        v
                    }, )*
                };
                $( {
                    let $this = &this;
                    let $f = &mut f;
                    let $rq = rq;
                    $body
                } )?
                f.finish()?;
                Ok(this)
            }

            fn schema() -> serde_json::Value {
                $crate::rest::input::object_schema(&[
                    $( (
                        $crate::rest::input::input_key!($field $(, $key)?),
                        <$ty as $crate::rest::input::FieldValue>::schema(),
                        <$ty as $crate::rest::input::FieldValue>::REQUIRED,
                    ), )*
                ])
            }
        }
    };
}
pub(crate) use input;

/// The wire name of a declared field: its Rust name, or the name given with `as`.
macro_rules! input_key {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident, $key:literal) => {
        $key
    };
}
pub(crate) use input_key;

/// Upstream's `me` sentinel UUID; sending it behaves like `me`.
pub(crate) const ME_SENTINEL: &str = "cad564fd-f81b-43f4-b390-98abf3fcc17e";

/// Resolves a "user id or `me`" value.
pub(crate) fn user_id_or_me(raw: &str, me: Option<Uuid>, path: &str) -> Result<Uuid> {
    if raw == "me" || raw == ME_SENTINEL {
        return me.ok_or(Error::CannotGetOwnUserWithoutUser);
    }
    Uuid::parse_str(raw).map_err(|_| Error::schema(format!("{path} must be a valid UUID")))
}

/// Decodes `%XX` escapes of a path segment (`+` stays a plus; invalid escapes and invalid
/// UTF-8 are kept as given).
pub(crate) fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

/// Parses the query string into ordered pairs.
pub(crate) fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hdr(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
        h
    }

    #[test]
    fn decoding_by_content_type() {
        assert_eq!(decode_body(&HeaderMap::new(), b"{}").unwrap(), Body::None);
        assert_eq!(
            decode_body(&hdr("application/json; charset=utf-8"), b"{\"a\":1}").unwrap(),
            Body::Json(json!({"a":1}))
        );
        assert_eq!(
            decode_body(&hdr("application/json"), b"{nope").unwrap_err(),
            Error::BodyParsing("Invalid JSON in request body".into())
        );
        match decode_body(
            &hdr("application/x-www-form-urlencoded"),
            b"a=1&a=2&b=x%20y",
        )
        .unwrap()
        {
            Body::Form(m) => {
                assert_eq!(m["a"], "2");
                assert_eq!(m["b"], "x y");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode_body(&hdr("image/png"), b"x"),
            Err(Error::BodyParsing(_))
        ));
    }

    #[test]
    fn fields_collect_every_failure() {
        let body = Body::Json(json!({"email": 5, "extra": 1, "other": 2}));
        let mut f = Fields::body(&body, &["email", "password"]);
        f.req_str("email");
        f.req_str("password");
        match f.finish().unwrap_err() {
            Error::Schema(lines) => assert_eq!(
                lines,
                vec![
                    "body contains unknown properties: extra, other".to_owned(),
                    "body.email must be a `string` type, but the final value was: `5`.".to_owned(),
                    "body.password must be defined".to_owned(),
                ]
            ),
            e => panic!("{e:?}"),
        }
        let mut f = Fields::body(&Body::None, &[]);
        f.opt_str("x");
        assert_eq!(
            f.finish().unwrap_err(),
            Error::Schema(vec!["body must be defined".into()])
        );
    }

    #[test]
    fn tri_state() {
        let body = Body::Json(json!({"a": null, "b": "x"}));
        let mut f = Fields::body(&body, &["a", "b", "c"]);
        assert_eq!(f.nullable_str("a"), Some(None));
        assert_eq!(f.nullable_str("b"), Some(Some("x".into())));
        assert_eq!(f.nullable_str("c"), None);
        assert!(f.finish().is_ok());
    }

    #[test]
    fn me_resolution() {
        let u = Uuid::new_v4();
        assert_eq!(user_id_or_me("me", Some(u), "x").unwrap(), u);
        assert_eq!(user_id_or_me(ME_SENTINEL, Some(u), "x").unwrap(), u);
        assert_eq!(
            user_id_or_me("me", None, "x").unwrap_err(),
            Error::CannotGetOwnUserWithoutUser
        );
        assert!(matches!(
            user_id_or_me("nope", None, "params.user_id"),
            Err(Error::Schema(_))
        ));
    }
}

#[cfg(test)]
mod percent_tests {
    use super::percent_decode;

    #[test]
    fn path_segments_are_decoded() {
        assert_eq!(percent_decode("%20%20"), "  ");
        assert_eq!(percent_decode("%24read_members"), "$read_members");
        assert_eq!(percent_decode("a+b"), "a+b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(
            percent_decode("%ff"),
            "%ff",
            "invalid UTF-8 is kept as given"
        );
    }
}
