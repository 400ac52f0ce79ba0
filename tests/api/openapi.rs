//! The OpenAPI document and the router describe the same API, and the
//! document states what the server answers: every status an operation can
//! give, and the content types and schemas of what it sends.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::TestApp;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn concrete(path: &str) -> String {
    // Fill every {param} with a UUID.
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str("01900000-0000-7000-8000-000000000000");
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn every_documented_operation_is_served_and_nothing_else_at_those_paths() {
    let app = TestApp::new().await;
    let doc = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let served = serde_json::to_value(nestogy_api::openapi_document()).unwrap();
    assert_eq!(doc.body, served, "the served document is the generated one");

    let paths = doc.body["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{:?}", paths.keys());
    let mut failures = Vec::new();
    for (path, item) in paths {
        let url = concrete(path);
        for m in METHODS {
            let documented = item.get(m).is_some();
            let r = app
                .call(m.to_uppercase().parse().unwrap(), &url, None, None)
                .await;
            let code = r.body["error"]["code"].as_str().unwrap_or("");
            if documented && (code == "route_not_found" || code == "method_not_allowed") {
                failures.push(format!("documented but not served: {m} {path}"));
            }
            if !documented && r.status != StatusCode::METHOD_NOT_ALLOWED {
                failures.push(format!(
                    "served but not documented: {m} {path} ({})",
                    r.status
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_routes_we_rely_on_are_documented() {
    let doc = serde_json::to_value(nestogy_api::openapi_document()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/company", "patch"),
        ("/api/v1/users/{id}", "delete"),
        ("/api/v1/clients", "get"),
        ("/api/v1/clients/{id}/archive", "post"),
        ("/api/v1/clients/{id}/contacts/{contact_id}", "patch"),
        ("/api/v1/clients/{id}/locations", "post"),
        ("/api/v1/audit", "get"),
        ("/readyz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

// ---- The document states what the server answers (issue 17 §8) ----

/// One documented operation, as the checks below need it.
pub(crate) struct Op {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) authenticated: bool,
    path_params: bool,
    query_params: bool,
    json_body: bool,
    body: bool,
    statuses: Vec<String>,
    /// The path with a well-formed value in each parameter, and each
    /// required query parameter.
    pub(crate) sample: String,
}

impl Op {
    fn documents(&self, status: StatusCode) -> bool {
        self.statuses.iter().any(|s| s == status.as_str())
    }

    pub(crate) fn label(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }
}

pub(crate) fn document() -> Value {
    serde_json::to_value(nestogy_api::openapi_document()).unwrap()
}

pub(crate) fn operations(doc: &Value) -> Vec<Op> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let located = |at: &str| params.iter().any(|p| p["in"] == at);
            let body = op["requestBody"]["content"].as_object();
            let mut sample = path.clone();
            let mut query = Vec::new();
            for p in &params {
                let value = sample_value(doc, &p["schema"]);
                let name = p["name"].as_str().unwrap();
                if p["in"] == "path" {
                    sample = sample.replace(&format!("{{{name}}}"), &value);
                } else if p["in"] == "query" && p["required"] == true {
                    query.push(format!("{name}={value}"));
                }
            }
            if !query.is_empty() {
                sample = format!("{sample}?{}", query.join("&"));
            }
            out.push(Op {
                method: m.to_owned(),
                path: path.clone(),
                authenticated: op["security"].as_array().is_some_and(|s| !s.is_empty()),
                path_params: located("path"),
                query_params: located("query"),
                json_body: body.is_some_and(|c| c.contains_key("application/json")),
                body: body.is_some(),
                statuses: op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect(),
                sample,
            });
        }
    }
    assert!(out.len() > 200, "{} operations", out.len());
    out
}

/// A well-formed value for a parameter of `schema`: an id, a date, the
/// first of an enumeration.
fn sample_value(doc: &Value, schema: &Value) -> String {
    let schema = match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    };
    if let Some(first) = schema["enum"].get(0).and_then(Value::as_str) {
        return first.to_owned();
    }
    match schema["format"].as_str() {
        Some("uuid") => "01900000-0000-7000-8000-000000000000".to_owned(),
        Some("date") => "2026-01-05".to_owned(),
        _ if schema["type"] == "integer" => "1".to_owned(),
        _ => "x".to_owned(),
    }
}

/// `path` with every `{param}` filled with `value`.
fn filled(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A request for `op` at `uri`, with a bearer `token` and a body of
/// `content_type`.
pub(crate) fn request(
    op: &Op,
    uri: &str,
    token: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
    headers: &[(&str, &str)],
) -> axum::http::Request<axum::body::Body> {
    let mut req = axum::http::Request::builder()
        .method(op.method.to_uppercase().as_str())
        .uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    match body {
        Some((ct, bytes)) => req
            .header("content-type", ct)
            .body(axum::body::Body::from(bytes)),
        None => req.body(axum::body::Body::empty()),
    }
    .unwrap()
}

/// An empty JSON object for operations that read JSON, nothing otherwise.
pub(crate) fn some_body(op: &Op) -> Option<(&'static str, Vec<u8>)> {
    op.json_body.then(|| ("application/json", b"{}".to_vec()))
}

#[tokio::test]
async fn every_authenticated_operation_answers_401_without_a_token_and_documents_it() {
    let app = TestApp::new().await;
    let doc = document();
    let mut failures = Vec::new();
    for op in operations(&doc).iter().filter(|o| o.authenticated) {
        let uri = op.sample.clone();
        let r = app.raw(request(op, &uri, None, some_body(op), &[])).await;
        if r.status != StatusCode::UNAUTHORIZED {
            failures.push(format!("{}: {} without a token", op.label(), r.status));
        } else if !op.documents(r.status) {
            failures.push(format!("{}: 401 is not documented", op.label()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn bad_input_answers_are_documented_for_every_operation() {
    let app = TestApp::new().await;
    let p = crate::portal::portal(&app, "Contract Co").await;
    let t = &p.t;
    let contact_id = nestogy_domain::ContactId(uuid::Uuid::parse_str(&p.contact).unwrap());
    let doc = document();
    let ops = operations(&doc);
    let uuid = "01900000-0000-7000-8000-000000000000";
    let mut failures = Vec::new();
    let mut seen = std::collections::BTreeMap::<StatusCode, usize>::new();
    for op in &ops {
        // The portal's routes take a contact's token, made anew for each:
        // signing out everywhere ends the one before.
        let contact = if op.path.starts_with("/api/v1/portal/") {
            let version: i32 =
                sqlx::query_scalar("SELECT token_version FROM contacts WHERE id = $1")
                    .bind(contact_id)
                    .fetch_one(&app.owner)
                    .await
                    .unwrap();
            crate::outages::jwt()
                .issue_contact(t.id, contact_id, version, app.clock_now())
                .ok()
        } else {
            None
        };
        let token = op
            .authenticated
            .then_some(contact.as_deref().unwrap_or(t.admin.as_str()));
        let mut probes: Vec<(&str, axum::http::Request<axum::body::Body>)> = Vec::new();
        if op.path_params {
            probes.push((
                "a malformed id",
                request(
                    op,
                    &filled(&op.path, "not-an-id"),
                    token,
                    some_body(op),
                    &[],
                ),
            ));
            probes.push((
                "an unknown id",
                request(op, &filled(&op.path, uuid), token, some_body(op), &[]),
            ));
            probes.push((
                "a NUL in the path",
                request(op, &filled(&op.path, "a%00b"), token, some_body(op), &[]),
            ));
        }
        let uri = op.sample.clone();
        let with_query = |extra: &str| {
            let sep = if uri.contains('?') { '&' } else { '?' };
            format!("{uri}{sep}{extra}")
        };
        if op.query_params {
            probes.push((
                "a NUL in the query",
                request(op, &with_query("q=%00"), token, some_body(op), &[]),
            ));
            probes.push((
                "a query parameter of the wrong type",
                request(op, &with_query("limit=many"), token, some_body(op), &[]),
            ));
        }
        if op.json_body {
            probes.push((
                "a text/plain body",
                request(op, &uri, token, Some(("text/plain", b"{}".to_vec())), &[]),
            ));
            probes.push((
                "malformed JSON",
                request(
                    op,
                    &uri,
                    token,
                    Some(("application/json", b"{".to_vec())),
                    &[],
                ),
            ));
            probes.push((
                "an array for an object",
                request(
                    op,
                    &uri,
                    token,
                    Some(("application/json", b"[]".to_vec())),
                    &[],
                ),
            ));
        }
        if op.body {
            let ct = if op.json_body {
                "application/json"
            } else {
                "application/octet-stream"
            };
            let limit = if op.path == "/api/v1/imports" {
                10 * 1024 * 1024
            } else {
                nestogy_api::BODY_LIMIT
            };
            probes.push((
                "a body over the limit",
                request(op, &uri, token, Some((ct, vec![b' '; limit + 1])), &[]),
            ));
        }
        if op.method == "post" && op.authenticated {
            let long = "k".repeat(256);
            probes.push((
                "a malformed Idempotency-Key",
                request(
                    op,
                    &uri,
                    token,
                    some_body(op),
                    &[("idempotency-key", long.as_str())],
                ),
            ));
        }
        for (what, req) in probes {
            let r = app.raw(req).await;
            *seen.entry(r.status).or_default() += 1;
            if !op.documents(r.status) {
                failures.push(format!(
                    "{} with {what}: {} is not documented ({})",
                    op.label(),
                    r.status,
                    r.body
                ));
            }
        }
        // And the other way: a documented 415 is answered to another
        // content type.
        if op.documents(StatusCode::UNSUPPORTED_MEDIA_TYPE) {
            let r = app
                .raw(request(
                    op,
                    &uri,
                    token,
                    Some(("text/plain", b"x".to_vec())),
                    &[],
                ))
                .await;
            if r.status != StatusCode::UNSUPPORTED_MEDIA_TYPE {
                failures.push(format!(
                    "{}: 415 is documented, text/plain answers {}",
                    op.label(),
                    r.status
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The probes reached each common answer.
    for s in [400, 404, 413, 415, 422] {
        let s = StatusCode::from_u16(s).unwrap();
        assert!(seen.get(&s).is_some_and(|n| *n > 10), "{s}: {seen:?}");
    }
}

#[tokio::test]
async fn a_caller_without_the_permission_gets_a_documented_403() {
    let app = TestApp::new().await;
    let t = app.tenant("Scoped Co").await;
    let r = app
        .post(
            "/api/v1/api-tokens",
            &t.admin,
            json!({"name": "audit only", "scopes": ["audit:read"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let token = r.body["secret"].as_str().unwrap().to_owned();
    let doc = document();
    let mut failures = Vec::new();
    let mut forbidden = 0;
    for op in operations(&doc).iter().filter(|o| o.authenticated) {
        let uri = op.sample.clone();
        let r = app
            .raw(request(op, &uri, Some(&token), some_body(op), &[]))
            .await;
        if r.status == StatusCode::FORBIDDEN {
            forbidden += 1;
        }
        if !op.documents(r.status) {
            failures.push(format!("{}: {} is not documented", op.label(), r.status));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(forbidden > 100, "{forbidden} answered 403");
    // Open to every caller: never 403, and not documented as one.
    let me = &doc["paths"]["/api/v1/auth/me"]["get"]["responses"];
    assert!(me.get("403").is_none(), "{me}");
    assert_eq!(
        app.get("/api/v1/auth/me", &token).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn with_postgresql_unreachable_every_operation_that_needs_it_documents_its_503() {
    let mut app = TestApp::new().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(50))
        .connect_lazy(&format!("postgres://postgres@127.0.0.1:{port}/nestogy"))
        .unwrap();
    let db = nestogy_domain::Db::new(pool, app.clock.clone());
    let queue = app.queue.clone();
    crate::outages::rewire(&mut app, db, queue);
    let token = crate::outages::jwt()
        .issue(
            nestogy_domain::TenantId(uuid::Uuid::now_v7()),
            nestogy_domain::UserId(uuid::Uuid::now_v7()),
            nestogy_domain::kernel::roles::Role::Admin,
            0,
            app.clock_now(),
        )
        .unwrap();
    // The portal's routes take a contact's token.
    let contact_token = crate::outages::jwt()
        .issue_contact(
            nestogy_domain::TenantId(uuid::Uuid::now_v7()),
            nestogy_domain::ContactId(uuid::Uuid::now_v7()),
            0,
            app.clock_now(),
        )
        .unwrap();
    let doc = document();
    let mut failures = Vec::new();
    for op in operations(&doc).iter().filter(|o| o.authenticated) {
        let uri = op.sample.clone();
        let token = if op.path.starts_with("/api/v1/portal/") {
            &contact_token
        } else {
            &token
        };
        let r = app
            .raw(request(op, &uri, Some(token), some_body(op), &[]))
            .await;
        if r.status != StatusCode::SERVICE_UNAVAILABLE {
            failures.push(format!("{}: {}", op.label(), r.status));
        } else if !op.documents(r.status) {
            failures.push(format!("{}: 503 is not documented", op.label()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // What needs neither PostgreSQL nor Redis does not claim to.
    for path in ["/healthz", "/metrics"] {
        let responses = &doc["paths"][path]["get"]["responses"];
        assert!(responses.get("503").is_none(), "{path}: {responses}");
        let r = app.call(Method::GET, path, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn common_error_answers_are_stated_once_and_referenced() {
    let doc = document();
    let shared = doc["components"]["responses"].as_object().unwrap();
    for (status, name) in [
        ("400", "BadRequest"),
        ("401", "Unauthorized"),
        ("403", "Forbidden"),
        ("404", "NotFound"),
        ("409", "Conflict"),
        ("413", "PayloadTooLarge"),
        ("415", "UnsupportedMediaType"),
        ("422", "UnprocessableEntity"),
        ("429", "TooManyRequests"),
        ("503", "ServiceUnavailable"),
    ] {
        let r = &shared[name];
        assert_eq!(
            r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
            "{name}"
        );
        if status == "429" || status == "503" {
            assert!(r["headers"]["Retry-After"].is_object(), "{name}");
        }
        // Every operation that answers `status` with the bare error body
        // refers to the one statement of it.
        for op in operations(&doc) {
            let resp = &doc["paths"][&op.path][&op.method]["responses"][status];
            let inline = resp["content"]["application/json"]["schema"]["$ref"]
                == "#/components/schemas/ErrorBody"
                && resp["description"].as_str().is_some_and(str::is_empty);
            assert!(!inline, "{} {status} is stated inline", op.label());
        }
    }
    // Sign-in is the one throttled operation: its 429 carries Retry-After.
    assert_eq!(
        doc["paths"]["/api/v1/auth/login"]["post"]["responses"]["429"]["$ref"],
        "#/components/responses/TooManyRequests"
    );
}

#[tokio::test]
async fn error_details_are_documented_as_null_or_an_object() {
    let app = TestApp::new().await;
    let t = app.tenant("Details Co").await;
    let doc = document();
    let detail = &doc["components"]["schemas"]["ErrorDetail"];
    assert!(
        detail["required"]
            .as_array()
            .unwrap()
            .contains(&json!("details")),
        "{detail}"
    );
    let alternatives = detail["properties"]["details"]["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("details has no alternatives: {detail}"));
    assert!(alternatives.contains(&json!({"type": "null"})), "{detail}");
    let object = alternatives
        .iter()
        .find_map(|a| a["$ref"].as_str())
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .map(|name| &doc["components"]["schemas"][name])
        .unwrap_or_else(|| panic!("details has no object alternative: {detail}"));
    assert_eq!(object["type"], "object", "{object}");
    assert_eq!(object["additionalProperties"], false, "{object}");
    let props = object["properties"].as_object().unwrap();

    // What is sent: null for a 404, the fields of a 422.
    let r = app
        .get(
            "/api/v1/clients/01900000-0000-7000-8000-000000000000",
            &t.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body["error"]["details"].is_null(), "{}", r.body);
    let r = app
        .post("/api/v1/clients", &t.admin, json!({"name": ""}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let sent = r.body["error"]["details"].as_object().unwrap();
    for key in sent.keys() {
        assert!(props.contains_key(key), "{key} is sent but not documented");
    }
}

#[tokio::test]
async fn reports_are_documented_and_answered_as_json_and_csv() {
    let app = TestApp::new().await;
    let t = app.tenant("Reports Doc Co").await;
    let doc = document();
    let ok = &doc["paths"]["/api/v1/reports/{name}"]["get"]["responses"]["200"]["content"];
    assert_eq!(
        ok["application/json"]["schema"]["$ref"], "#/components/schemas/ReportData",
        "{ok}"
    );
    assert!(ok["text/csv"].is_object(), "{ok}");
    for (accept, want) in [
        ("application/json", "application/json"),
        ("text/csv", "text/csv"),
    ] {
        let req = axum::http::Request::builder()
            .uri("/api/v1/reports/ar_ageing")
            .header("authorization", format!("Bearer {}", t.admin))
            .header("accept", accept)
            .body(axum::body::Body::empty())
            .unwrap();
        let r = app.raw(req).await;
        assert_eq!(r.status, StatusCode::OK, "{accept}: {}", r.body);
        let ct = r.headers["content-type"].to_str().unwrap();
        assert!(ct.starts_with(want), "{accept}: {ct}");
        assert!(ok.get(want).is_some(), "{want} is answered, not documented");
    }
}

#[tokio::test]
async fn every_reference_in_the_document_resolves() {
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                    out.push(r);
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 100, "{}", found.len());
    let dangling: Vec<_> = found
        .into_iter()
        .filter(|r| {
            let pointer = r.strip_prefix('#').unwrap_or(r);
            doc.pointer(pointer).is_none()
        })
        .collect();
    assert!(dangling.is_empty(), "{dangling:?}");
}
