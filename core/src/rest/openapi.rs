//! The OpenAPI 3.1 document, generated from the route registry: every route with its
//! access rule, project headers, path parameters, request schema, response schema and the
//! error responses Stack's clients expect.

use serde_json::{Map, Value, json};

use super::input::Source;
use super::routes::{Access, Components, ROUTES, RouteDef};

/// The document, with `server` (the mount prefix, such as `/api/v1`) as its only server.
pub(crate) fn document(server: &str) -> Value {
    let mut paths = Map::new();
    let mut schemas: Components = Vec::new();
    for route in ROUTES {
        let path = openapi_path(route.path);
        let item = paths
            .entry(path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(
                route.verb.lower().to_owned(),
                operation(route, &mut schemas),
            );
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Postern",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Stack Auth's REST API, served in-process by Postern. Authenticate with \
                the x-stack-* (or x-hexclave-*) headers: x-stack-access-type (client, server or \
                admin), x-stack-project-id, the key of the access type, and optionally \
                x-stack-access-token for a signed-in user. Known errors answer JSON \
                {code, error, details?} with an x-stack-known-error header.",
        },
        "servers": [{ "url": if server.is_empty() { "/" } else { server } }],
        "paths": paths,
        "components": components(schemas),
    })
}

/// `{*rest}` (a catch-all in the router) is written `{rest}` in OpenAPI.
fn openapi_path(path: &str) -> String {
    path.replace("{*", "{")
}

fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|p| p.trim_start_matches('*'))
        .collect()
}

fn operation_id(route: &RouteDef) -> String {
    let mut id = route.verb.lower().to_owned();
    for seg in route.path.split('/').filter(|s| !s.is_empty()) {
        let seg = seg.trim_matches(|c| c == '{' || c == '}' || c == '*' || c == '.');
        id.push('_');
        id.extend(
            seg.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    if route.path == "/" {
        id.push_str("_root");
    }
    id
}

/// What a path parameter holds: ids are UUIDs, and a user may be `me`.
fn path_param_schema(name: &str) -> Value {
    match name {
        "user_id" => json!({
            "anyOf": [
                { "type": "string", "format": "uuid" },
                { "type": "string", "enum": ["me"] },
            ],
        }),
        "team_id" | "api_key_id" | "contact_channel_id" | "id" => {
            json!({ "type": "string", "format": "uuid" })
        }
        "level" => json!({ "type": "string", "enum": ["project", "branch", "environment"] }),
        _ => json!({ "type": "string" }),
    }
}

fn header_param(name: &str, description: &str, schema: Value, required: bool) -> Value {
    json!({
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": schema,
    })
}

fn parameters(route: &RouteDef) -> Vec<Value> {
    let mut out: Vec<Value> = path_params(route.path)
        .into_iter()
        .map(|p| {
            json!({
                "name": p,
                "in": "path",
                "required": true,
                "schema": path_param_schema(p),
            })
        })
        .collect();
    if route.access != Access::Public {
        let types: Vec<&str> = route.access.allowed().iter().map(|a| a.as_str()).collect();
        out.push(header_param(
            "x-stack-access-type",
            "Who calls: a client (publishable key), a server (secret key) or an admin.",
            json!({ "type": "string", "enum": types }),
            true,
        ));
        out.push(header_param(
            "x-stack-project-id",
            "The project's id.",
            json!({ "type": "string" }),
            true,
        ));
        for (name, what) in [
            (
                "x-stack-publishable-client-key",
                "The publishable client key (client access).",
            ),
            (
                "x-stack-secret-server-key",
                "The secret server key (server access).",
            ),
            (
                "x-stack-super-secret-admin-key",
                "The super secret admin key (admin access).",
            ),
            (
                "x-stack-admin-access-token",
                "An access token of a dashboard user owning the project (admin access).",
            ),
            (
                "x-stack-access-token",
                "The signed-in user's access token (ES256 JWT).",
            ),
            (
                "x-stack-refresh-token",
                "The refresh token of the session (sign-out, refresh, password change).",
            ),
        ] {
            out.push(header_param(name, what, json!({ "type": "string" }), false));
        }
    }
    out
}

fn error_ref() -> Value {
    json!({ "$ref": "#/components/schemas/KnownError" })
}

fn responses(route: &RouteDef, schemas: &mut Components) -> Value {
    let known = |what: &str| {
        json!({
            "description": what,
            "headers": {
                "x-stack-known-error": {
                    "description": "The known error's code.",
                    "schema": { "type": "string" },
                },
            },
            "content": {
                "application/json": { "schema": error_ref() },
                "text/plain": { "schema": { "type": "string" } },
            },
        })
    };
    let mut r = Map::new();
    match &route.reply {
        Some(reply) => {
            let name = (reply.describe)(schemas);
            r.insert(
                reply.status.to_string(),
                json!({
                    "description": "Success.",
                    "content": {
                        "application/json": {
                            "schema": { "$ref": format!("#/components/schemas/{name}") },
                        },
                    },
                }),
            );
        }
        None => {
            r.insert(
                "200".into(),
                json!({
                    "description": "Success.",
                    "content": {
                        "application/json": { "schema": {} },
                        "text/plain": { "schema": { "type": "string" } },
                    },
                }),
            );
        }
    }
    if route.path.contains("{*rest}") {
        r.insert(
            "307".into(),
            json!({ "description": "Redirect to the project's issuer." }),
        );
    }
    let mut bad_request =
        known("Invalid request (SCHEMA_ERROR lists every failure) or a refused operation.");
    if route.path == "/auth/oauth/token" {
        // The token endpoint speaks OAuth 2 (RFC 6749 §5.2) for grants it does not support.
        bad_request["content"]["application/json"]["schema"] = json!({
            "anyOf": [error_ref(), { "$ref": "#/components/schemas/OAuthError" }],
        });
    }
    r.insert("400".into(), bad_request);
    r.insert(
        "401".into(),
        known("Missing or invalid credentials (keys, tokens, codes)."),
    );
    r.insert(
        "403".into(),
        known("The caller may not do this (access type, permission, ownership)."),
    );
    r.insert("404".into(), known("Not found."));
    r.insert("409".into(), known("Conflicts with the current state."));
    r.insert(
        "413".into(),
        json!({ "description": "Request body too large.", "content": { "text/plain": { "schema": { "type": "string" } } } }),
    );
    r.insert(
        "429".into(),
        json!({
            "description": "Too many attempts; wait Retry-After seconds.",
            "headers": { "Retry-After": { "schema": { "type": "integer" } } },
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/RateLimited" } } },
        }),
    );
    Value::Object(r)
}

fn operation(route: &RouteDef, schemas: &mut Components) -> Value {
    let access = match route.access {
        Access::Public => "public".to_owned(),
        a => a
            .allowed()
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut op = json!({
        "operationId": operation_id(route),
        "summary": route.summary,
        "description": format!("Access: {access}."),
        "tags": [route.tag],
        "parameters": parameters(route),
        "responses": responses(route, schemas),
        "x-access-types": access,
    });
    if let Some(class) = route.limit {
        op["x-rate-limit-class"] = json!(class.name());
    }
    let query = match &route.input {
        Some(i) if i.source == Source::Query => Some((i.schema)()),
        Some(i) => (i.query)(),
        None => None,
    };
    if let Some(schema) = query {
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        if let (Some(params), Some(props)) = (
            op["parameters"].as_array_mut(),
            schema["properties"].as_object(),
        ) {
            for (name, s) in props {
                params.push(json!({
                    "name": name,
                    "in": "query",
                    "required": required.contains(&Value::String(name.clone())),
                    "schema": s,
                }));
            }
        }
    }
    match &route.input {
        Some(i) if i.source == Source::Body => {
            op["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": (i.schema)() } },
            });
        }
        None if route.verb.has_body() => {
            op["requestBody"] = json!({
                "required": false,
                "content": { "application/json": { "schema": { "type": "object" } } },
            });
        }
        _ => {}
    }
    op
}

/// Renames every `oneOf` key of a schema to `anyOf`.
fn one_of_to_any_of(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(alternatives) = m.remove("oneOf") {
                m.insert("anyOf".into(), alternatives);
            }
            m.values_mut().for_each(one_of_to_any_of);
        }
        Value::Array(a) => a.iter_mut().for_each(one_of_to_any_of),
        _ => {}
    }
}

/// The views' schemas (each once), plus the error bodies. Views of a user or a team are
/// untagged unions whose server variant extends the client one, so a server object also
/// matches the client schema: they are written `anyOf`, not `oneOf`.
fn components(views: Components) -> Value {
    let mut schemas = Map::new();
    for (name, schema) in views {
        if schemas.contains_key(&name) {
            continue;
        }
        let mut schema = serde_json::to_value(&schema).unwrap_or(Value::Null);
        one_of_to_any_of(&mut schema);
        schemas.insert(name, schema);
    }
    let mut doc = json!({
        "schemas": {
            "KnownError": {
                "type": "object",
                "required": ["code", "error"],
                "properties": {
                    "code": { "type": "string", "description": "Stack's known-error code, such as SCHEMA_ERROR." },
                    "error": { "type": "string", "description": "A human-readable message." },
                    "details": { "description": "Structured details of the error, when it has any." },
                },
            },
            "OAuthError": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": { "type": "string", "description": "The OAuth 2 error code, such as unsupported_grant_type." },
                    "error_description": { "type": "string" },
                },
            },
            "RateLimited": {
                "type": "object",
                "required": ["message", "retry_after_seconds"],
                "properties": {
                    "message": { "type": "string" },
                    "retry_after_seconds": { "type": "integer", "minimum": 0 },
                },
            },
        },
    });
    if let Some(errors) = doc["schemas"].as_object_mut() {
        errors.extend(schemas);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_once() {
        let doc = document("/api/v1");
        let mut count = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (verb, op) in item.as_object().unwrap() {
                count += 1;
                assert!(
                    op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                    "{verb} {path}"
                );
                for p in path_params(path) {
                    assert!(
                        op["parameters"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|q| q["name"] == p && q["in"] == "path"),
                        "{verb} {path} documents {p}"
                    );
                }
            }
        }
        assert_eq!(count, ROUTES.len());
        let ids: std::collections::HashSet<String> = ROUTES.iter().map(operation_id).collect();
        assert_eq!(ids.len(), ROUTES.len(), "operation ids are unique");
    }

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_unions_are_any_of() {
        let doc = document("/api/v1");
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 20, "views are referenced: {}", all.len());
        for r in all {
            let name = r.strip_prefix("#/components/schemas/").expect(&r);
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{r} resolves"
            );
        }
        assert!(!doc.to_string().contains("\"oneOf\""));
        let user = &doc["paths"]["/users/me"]["get"]["responses"]["200"];
        assert_eq!(
            user["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/UserView"
        );
        assert!(doc["paths"]["/users"]["post"]["responses"]["201"].is_object());
    }

    #[test]
    fn paths_use_openapi_syntax() {
        assert_eq!(
            openapi_path("/projects-anonymous-users/{project_id}/.well-known/{*rest}"),
            "/projects-anonymous-users/{project_id}/.well-known/{rest}"
        );
        assert_eq!(path_params("/a/{x}/b/{*rest}"), vec!["x", "rest"]);
    }
}
