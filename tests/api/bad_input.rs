//! Malformed bodies and query strings, route by route: each answered 4xx in
//! the error shape, never 5xx.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use crate::common::TestApp;

/// An id nothing has: a malformed body is refused before any lookup.
const NIL: &str = "00000000-0000-7000-8000-000000000000";

#[tokio::test]
async fn malformed_bodies_per_route() {
    let app = TestApp::new().await;
    let t = app.tenant("Bad Input").await;
    let f = app.fixture(&t.admin).await;
    let (client, contact, location, user) = (&f.client, &f.contact, &f.location, &f.user);
    let routes: Vec<(Method, String)> = vec![
        (Method::POST, "/api/v1/schedules".into()),
        (Method::POST, "/api/v1/tax-rates".into()),
        (Method::PUT, format!("/api/v1/tax-rates/{}", f.tax_rate)),
        (Method::POST, "/api/v1/products".into()),
        (Method::POST, "/api/v1/payment-terms".into()),
        (Method::POST, "/api/v1/invoices".into()),
        (Method::PUT, format!("/api/v1/invoices/{}", f.invoice)),
        (
            Method::POST,
            format!("/api/v1/invoices/{}/payments", f.invoice),
        ),
        (
            Method::POST,
            format!("/api/v1/payments/{}/refund", f.payment),
        ),
        (Method::POST, "/api/v1/recurring-invoices".into()),
        (Method::POST, "/api/v1/billing-runs".into()),
        (
            Method::POST,
            format!("/api/v1/clients/{}/statement/send", f.billed),
        ),
        (Method::PUT, "/api/v1/company/smtp".into()),
        (Method::POST, "/api/v1/auth/login".into()),
        (Method::POST, "/api/v1/auth/refresh".into()),
        (Method::POST, "/api/v1/auth/logout".into()),
        (Method::POST, "/api/v1/auth/totp/confirm".into()),
        (Method::POST, "/api/v1/auth/totp/disable".into()),
        (Method::POST, "/api/v1/api-tokens".into()),
        (Method::PATCH, "/api/v1/company".into()),
        (Method::POST, "/api/v1/users".into()),
        (Method::PATCH, format!("/api/v1/users/{user}")),
        (Method::POST, "/api/v1/clients".into()),
        (Method::PATCH, format!("/api/v1/clients/{client}")),
        (Method::POST, format!("/api/v1/clients/{client}/contacts")),
        (
            Method::PATCH,
            format!("/api/v1/clients/{client}/contacts/{contact}"),
        ),
        (Method::POST, format!("/api/v1/clients/{client}/locations")),
        (
            Method::PATCH,
            format!("/api/v1/clients/{client}/locations/{location}"),
        ),
        (Method::POST, "/api/v1/tickets".into()),
        (Method::PATCH, format!("/api/v1/tickets/{}", f.ticket)),
        (Method::POST, format!("/api/v1/tickets/{}/assign", f.ticket)),
        (Method::POST, format!("/api/v1/tickets/{}/status", f.ticket)),
        (Method::POST, "/api/v1/tickets/bulk-assign".into()),
        (Method::POST, "/api/v1/tickets/bulk-status".into()),
        (
            Method::POST,
            format!("/api/v1/tickets/{}/messages", f.ticket),
        ),
        (Method::PUT, "/api/v1/sla/policies/high".into()),
        (Method::PUT, "/api/v1/sla/holidays/2026-12-25".into()),
        (Method::POST, "/api/v1/mailboxes".into()),
        (Method::PATCH, format!("/api/v1/mailboxes/{}", f.mailbox)),
        (Method::POST, "/api/v1/projects".into()),
        (Method::PATCH, format!("/api/v1/projects/{}", f.project)),
        (
            Method::POST,
            format!("/api/v1/projects/{}/tasks", f.project),
        ),
        (
            Method::PATCH,
            format!("/api/v1/projects/{}/tasks/{}", f.project, f.task),
        ),
        (Method::POST, "/api/v1/time-entries".into()),
        (
            Method::PATCH,
            format!("/api/v1/time-entries/{}", f.time_entry),
        ),
        (Method::POST, format!("/api/v1/clients/{client}/bill-time")),
        (Method::POST, "/api/v1/assets".into()),
        (Method::PATCH, format!("/api/v1/assets/{NIL}")),
        (Method::POST, "/api/v1/assets/bulk-status".into()),
        (Method::POST, "/api/v1/assets/bulk-location".into()),
        (Method::POST, format!("/api/v1/clients/{client}/networks")),
        (
            Method::PATCH,
            format!("/api/v1/clients/{client}/networks/{NIL}"),
        ),
        (Method::POST, "/api/v1/management-reports".into()),
    ];
    // (body, content type, expected status, expected code)
    let bodies: Vec<(Vec<u8>, &str, StatusCode, &str)> = vec![
        (
            b"{".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            b"not json at all".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            b"".to_vec(),
            "application/json",
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            b"[]".to_vec(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            b"42".to_vec(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            br#"{"no_such_field": 1}"#.to_vec(),
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            br#"{"name": "x"}"#.to_vec(),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            vec![b' '; 2 * 1024 * 1024],
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    let mut failures = Vec::new();
    for (method, path) in &routes {
        for (body, ctype, want, code) in &bodies {
            let req = Request::builder()
                .method(method.clone())
                .uri(path)
                .header("authorization", format!("Bearer {}", t.admin))
                .header("content-type", *ctype)
                .body(Body::from(body.clone()))
                .unwrap();
            let r = app.raw(req).await;
            let shown = String::from_utf8_lossy(&body[..body.len().min(30)]).into_owned();
            if r.status != *want {
                failures.push(format!(
                    "{method} {path} {shown:?}: want {want}, got {} {}",
                    r.status, r.body
                ));
            } else if r.error_code() != *code {
                failures.push(format!(
                    "{method} {path} {shown:?}: want code {code}, got {}",
                    r.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn invalid_fields_are_named_in_a_422() {
    let app = TestApp::new().await;
    let t = app.tenant("Fields").await;
    let client = app.client(&t.admin, "Acme").await;
    let cases = vec![
        (
            "/api/v1/clients".to_owned(),
            json!({"name": "  ", "email": "nope"}),
            vec!["name", "email"],
        ),
        (
            "/api/v1/clients".to_owned(),
            json!({"name": "x".repeat(201)}),
            vec!["name"],
        ),
        (
            format!("/api/v1/clients/{client}/contacts"),
            json!({"name": "", "email": "a@b"}),
            vec!["name", "email"],
        ),
        (
            format!("/api/v1/clients/{client}/locations"),
            json!({"name": "HQ", "address": {"country": "Germany"}}),
            vec!["address.country"],
        ),
        (
            "/api/v1/users".to_owned(),
            json!({"email": "bad", "name": "", "role": "tech", "password": "short"}),
            vec!["email", "name", "password"],
        ),
    ];
    for (path, body, fields) in cases {
        let r = app.post(&path, &t.admin, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {}",
            r.body
        );
        assert_eq!(r.error_code(), "validation_failed");
        let named: Vec<&str> = r.body["error"]["details"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(named, fields, "{path} {body}");
    }
    let company = app
        .patch("/api/v1/company", &t.admin, json!({"time_zone": "Mars/Olympus", "currency": "XYZ", "locale": "tlh", "settings": []}))
        .await;
    assert_eq!(company.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        company.body["error"]["details"]["fields"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let role = app
        .post("/api/v1/users", &t.admin, json!({"email": "a@b.example", "name": "A", "role": "superuser", "password": "long enough password"}))
        .await;
    assert_eq!(role.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A body of the wrong shape names the field at fault in
/// `details.fields` (path, code, serde's words without the position), as a
/// `validation_failed` names its fields.
#[tokio::test]
async fn a_body_of_the_wrong_shape_names_its_field() {
    let app = TestApp::new().await;
    let t = app.tenant("Shapes").await;
    let client = app.client(&t.admin, "Acme").await;
    let cases = vec![
        (
            "/api/v1/clients".to_owned(),
            json!({"name": 5}),
            "name",
            "invalid_type",
        ),
        (
            "/api/v1/clients".to_owned(),
            json!({"email": "a@b.example"}),
            "name",
            "required",
        ),
        (
            "/api/v1/clients".to_owned(),
            json!({"name": "Acme", "no_such_field": 1}),
            "no_such_field",
            "unknown_field",
        ),
        (
            format!("/api/v1/clients/{client}/locations"),
            json!({"name": "HQ", "address": {"line1": ["a"]}}),
            "address.line1",
            "invalid_type",
        ),
        (
            "/api/v1/invoices".to_owned(),
            json!({"client_id": client, "lines": [
                {"description": "A", "quantity": "1", "unit_price": "5.00"},
                {"description": "B", "quantity": "two", "unit_price": "5.00"}
            ]}),
            "lines[1].quantity",
            "invalid_value",
        ),
        (
            "/api/v1/invoices".to_owned(),
            json!({"client_id": client, "lines": [{"description": "A", "quantity": "1",
                   "unit_price": "5.00", "discount": {"kind": "percent"}}]}),
            "lines[0].discount.value",
            "required",
        ),
    ];
    for (path, body, field, code) in cases {
        let r = app.post(&path, &t.admin, body.clone()).await;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            "{path} {body}: {}",
            r.body
        );
        let fields = r.body["error"]["details"]["fields"].as_array().unwrap();
        assert_eq!(fields.len(), 1, "{path} {body}: {}", r.body);
        assert_eq!(
            (fields[0]["field"].as_str(), fields[0]["code"].as_str()),
            (Some(field), Some(code)),
            "{path} {body}: {}",
            r.body
        );
        let message = fields[0]["message"].as_str().unwrap();
        assert!(
            !message.is_empty() && !message.contains(" at line "),
            "{message}"
        );
    }
    let array = app.post("/api/v1/clients", &t.admin, json!([1])).await;
    assert_eq!(array.error_code(), "invalid_body");
    assert_eq!(
        array.body["error"]["details"]["fields"][0]["field"],
        json!(".")
    );
}

/// Lists that search take `q`; lists that do not refuse it (400
/// `bad_query`) rather than answer as if they had searched.
#[tokio::test]
async fn lists_without_search_refuse_q() {
    let app = TestApp::new().await;
    let t = app.tenant("No Search").await;
    for path in [
        "/api/v1/api-tokens",
        "/api/v1/mailboxes",
        "/api/v1/schedules",
        "/api/v1/billing-runs",
    ] {
        let r = app.get(&format!("{path}?limit=5"), &t.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        let r = app.get(&format!("{path}?q=anything"), &t.admin).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains('q'),
            "{path}: {}",
            r.body
        );
    }
    let r = app.get("/api/v1/clients?q=Acme", &t.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn malformed_query_strings_and_path_ids() {
    let app = TestApp::new().await;
    let t = app.tenant("Queries").await;
    let client = app.client(&t.admin, "Acme").await;
    let mailbox = app
        .post(
            "/api/v1/mailboxes",
            &t.admin,
            json!({"name": "Support", "address": "support@msp.example", "host": "127.0.0.1",
                   "port": 1143, "tls": "none", "username": "support", "password": "pw"}),
        )
        .await
        .id();
    let project = app
        .post(
            "/api/v1/projects",
            &t.admin,
            json!({"client_id": client, "name": "Rollout"}),
        )
        .await
        .id();
    let lists = [
        "/api/v1/clients".to_owned(),
        format!("/api/v1/clients/{client}/contacts"),
        format!("/api/v1/clients/{client}/locations"),
        "/api/v1/users".to_owned(),
        "/api/v1/api-tokens".to_owned(),
        "/api/v1/audit".to_owned(),
        "/api/v1/tickets".to_owned(),
        "/api/v1/mailboxes".to_owned(),
        format!("/api/v1/mailboxes/{mailbox}/quarantine"),
        "/api/v1/projects".to_owned(),
        format!("/api/v1/projects/{project}/tasks"),
        format!("/api/v1/projects/{project}/tickets"),
        "/api/v1/time-entries".to_owned(),
        "/api/v1/assets".to_owned(),
        "/api/v1/assets/warranties/expiring".to_owned(),
        format!("/api/v1/assets/{NIL}/history"),
        format!("/api/v1/clients/{client}/networks"),
    ];
    let queries: Vec<(&str, StatusCode)> = vec![
        ("limit=abc", StatusCode::BAD_REQUEST),
        ("limit=-1", StatusCode::UNPROCESSABLE_ENTITY),
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("limit=201", StatusCode::UNPROCESSABLE_ENTITY),
        ("limit=99999999999999999999", StatusCode::BAD_REQUEST),
        ("cursor=garbage", StatusCode::UNPROCESSABLE_ENTITY),
        ("unknown=1", StatusCode::BAD_REQUEST),
    ];
    let mut failures = Vec::new();
    for path in &lists {
        for (q, want) in &queries {
            let r = app.get(&format!("{path}?{q}"), &t.admin).await;
            if r.status != *want || r.error_code().is_empty() {
                failures.push(format!(
                    "{path}?{q}: want {want}, got {} {}",
                    r.status, r.body
                ));
            }
        }
    }
    for (path, want) in [
        ("/api/v1/clients?status=deleted", StatusCode::BAD_REQUEST),
        ("/api/v1/users?role=god", StatusCode::BAD_REQUEST),
        ("/api/v1/users?active=maybe", StatusCode::BAD_REQUEST),
        ("/api/v1/audit?since=yesterday", StatusCode::BAD_REQUEST),
        ("/api/v1/audit?entity_id=nope", StatusCode::BAD_REQUEST),
        ("/api/v1/clients/not-a-uuid", StatusCode::BAD_REQUEST),
        (
            "/api/v1/clients/not-a-uuid/contacts",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/v1/users/123", StatusCode::BAD_REQUEST),
        (
            "/api/v1/reports/mrr?from=yesterday",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/v1/reports/mrr?to=2026-13-01", StatusCode::BAD_REQUEST),
        (
            "/api/v1/reports/ar_ageing?client_id=nope",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/v1/reports/mrr?colour=red", StatusCode::BAD_REQUEST),
        ("/api/v1/reports/mrr?limit=many", StatusCode::BAD_REQUEST),
        (
            "/api/v1/reports/mrr?from=2026-02-01&to=2026-01-01",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/api/v1/reports/no_such_report", StatusCode::NOT_FOUND),
        ("/api/v1/tickets?status=bogus", StatusCode::BAD_REQUEST),
        ("/api/v1/tickets?priority=urgent", StatusCode::BAD_REQUEST),
        ("/api/v1/tickets?client_id=nope", StatusCode::BAD_REQUEST),
        ("/api/v1/tickets?assignee_id=nope", StatusCode::BAD_REQUEST),
        ("/api/v1/tickets?unassigned=maybe", StatusCode::BAD_REQUEST),
        ("/api/v1/tickets?sla_state=late", StatusCode::BAD_REQUEST),
        ("/api/v1/tickets/not-a-uuid", StatusCode::BAD_REQUEST),
        (
            "/api/v1/tickets/not-a-uuid/messages",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/tickets/not-a-uuid/history",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/v1/tickets/00000000-0000-0000-0000-000000000000/attachments/nope",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/v1/mailboxes/nope", StatusCode::BAD_REQUEST),
        ("/api/v1/mailboxes/nope/quarantine", StatusCode::BAD_REQUEST),
        ("/api/v1/projects?status=paused", StatusCode::BAD_REQUEST),
        ("/api/v1/projects?client_id=nope", StatusCode::BAD_REQUEST),
        ("/api/v1/projects/nope", StatusCode::BAD_REQUEST),
        ("/api/v1/projects/nope/tasks", StatusCode::BAD_REQUEST),
        ("/api/v1/time-entries?from=monday", StatusCode::BAD_REQUEST),
        (
            "/api/v1/time-entries?billed=perhaps",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/v1/time-entries?user_id=7", StatusCode::BAD_REQUEST),
        ("/api/v1/time-entries/nope", StatusCode::BAD_REQUEST),
        ("/api/v1/assets?type=toaster", StatusCode::BAD_REQUEST),
        ("/api/v1/assets?status=lost", StatusCode::BAD_REQUEST),
        ("/api/v1/assets?warranty_to=soon", StatusCode::BAD_REQUEST),
        ("/api/v1/assets/nope", StatusCode::BAD_REQUEST),
        (
            "/api/v1/assets/warranties/expiring?days=many",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = app.get(path, &t.admin).await;
        if r.status != want {
            failures.push(format!("{path}: want {want}, got {} {}", r.status, r.body));
        } else {
            r.error_code();
        }
    }
    let nested = app
        .get(
            &format!("/api/v1/clients/{client}/contacts/not-a-uuid"),
            &t.admin,
        )
        .await;
    assert_eq!(nested.status, StatusCode::BAD_REQUEST);
    // Path values that are no priority, date or id.
    for (method, path) in [
        (Method::PUT, "/api/v1/sla/policies/urgent"),
        (Method::DELETE, "/api/v1/sla/policies/urgent"),
        (Method::PUT, "/api/v1/sla/holidays/2026-02-30"),
        (Method::DELETE, "/api/v1/sla/holidays/christmas"),
        (Method::POST, "/api/v1/mailboxes/nope/poll"),
        (
            Method::POST,
            "/api/v1/mailboxes/00000000-0000-0000-0000-000000000000/quarantine/nope/reprocess",
        ),
    ] {
        let body = (method == Method::PUT)
            .then(|| json!({"first_response_minutes": 1, "resolution_minutes": 1, "name": "x"}));
        let r = app.call(method.clone(), path, Some(&t.admin), body).await;
        if r.status != StatusCode::BAD_REQUEST {
            failures.push(format!(
                "{method} {path}: want 400, got {} {}",
                r.status, r.body
            ));
        } else {
            assert_eq!(r.error_code(), "invalid_path", "{method} {path}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
