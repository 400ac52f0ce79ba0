//! The OpenAPI document and the router describe the same API.

use axum::http::{Method, StatusCode};

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
        ("/api/v1/clients/{client_id}/contacts/{id}", "patch"),
        ("/api/v1/clients/{client_id}/locations", "post"),
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
