//! `Idempotency-Key` on POSTs that start work: a retry gets the first answer
//! and starts nothing more.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use nestogy_domain::kernel::roles::Role;
use serde_json::{Value, json};

use crate::common::{Response, TestApp};

async fn post_with_key(app: &TestApp, path: &str, token: &str, key: &str, body: Value) -> Response {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    app.raw(req).await
}

fn replayed(r: &Response) -> bool {
    r.headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

async fn runs(app: &TestApp, tenant: nestogy_domain::TenantId) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'billing.run' AND company_id = $1")
        .bind(tenant)
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retried_billing_run_with_the_same_key_starts_one_job_and_gets_the_first_answer() {
    let app = TestApp::new().await;
    let t = app.tenant("Retry Co").await;
    let first = post_with_key(
        &app,
        "/api/v1/billing-runs",
        &t.admin,
        "run-2026-03-01",
        json!({}),
    )
    .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    assert!(!replayed(&first));
    let again = post_with_key(
        &app,
        "/api/v1/billing-runs",
        &t.admin,
        "run-2026-03-01",
        json!({}),
    )
    .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_eq!(again.body, first.body, "the first answer, job id and all");
    assert!(replayed(&again), "marked as a replay");
    assert_eq!(
        again.headers.get("content-type"),
        first.headers.get("content-type")
    );
    assert_eq!(runs(&app, t.id).await, 1, "one billing run job");

    // Without a key, each request is its own.
    let other = app.post("/api/v1/billing-runs", &t.admin, json!({})).await;
    assert_eq!(other.status, StatusCode::ACCEPTED);
    assert_ne!(other.body["job_id"], first.body["job_id"]);
    assert_eq!(runs(&app, t.id).await, 2);

    // Another route that enqueues: a schedule's run-now.
    let s = app
        .post(
            "/api/v1/schedules",
            &t.admin,
            json!({"name": "noop", "kind": "diag.noop", "cron": "0 3 * * *"}),
        )
        .await;
    let run = format!("/api/v1/schedules/{}/run", s.id());
    let a = post_with_key(&app, &run, &t.admin, "noop-now", json!({})).await;
    let b = post_with_key(&app, &run, &t.admin, "noop-now", json!({})).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    assert_eq!((b.status, &b.body), (a.status, &a.body));
    let noops: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'diag.noop'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(noops, 1);
}

#[tokio::test]
async fn the_same_key_with_another_request_is_refused() {
    let app = TestApp::new().await;
    let t = app.tenant("Reuse Co").await;
    let first = post_with_key(&app, "/api/v1/billing-runs", &t.admin, "k-1", json!({})).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    for (path, body) in [
        ("/api/v1/billing-runs", json!({"as_of": "2026-03-05"})),
        ("/api/v1/clients", json!({})),
    ] {
        let r = post_with_key(&app, path, &t.admin, "k-1", body).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            r.body
        );
        assert_eq!(r.error_code(), "idempotency_key_reused");
    }
    assert_eq!(runs(&app, t.id).await, 1);
    let clients: i64 = sqlx::query_scalar("SELECT count(*) FROM clients")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(clients, 0, "the refused request did nothing");
}

#[tokio::test]
async fn requests_at_once_with_one_key_start_one_job() {
    let app = TestApp::new().await;
    let t = app.tenant("Race Co").await;
    let send = || post_with_key(&app, "/api/v1/billing-runs", &t.admin, "race", json!({}));
    let (a, b, c, d) = tokio::join!(send(), send(), send(), send());
    let all = [a, b, c, d];
    let fresh: Vec<&Response> = all
        .iter()
        .filter(|r| r.status == StatusCode::ACCEPTED && !replayed(r))
        .collect();
    assert_eq!(fresh.len(), 1, "one request ran");
    for r in &all {
        match r.status {
            StatusCode::ACCEPTED => assert_eq!(r.body, fresh[0].body),
            StatusCode::CONFLICT => assert_eq!(r.error_code(), "idempotency_key_in_use"),
            s => panic!("unexpected {s}: {}", r.body),
        }
    }
    assert_eq!(runs(&app, t.id).await, 1, "one billing run job");
    // Once the first has finished, a retry gets its answer.
    let later = post_with_key(&app, "/api/v1/billing-runs", &t.admin, "race", json!({})).await;
    assert_eq!(later.status, StatusCode::ACCEPTED);
    assert_eq!(later.body, fresh[0].body);
}

#[tokio::test]
async fn keys_belong_to_their_tenant_and_caller() {
    let app = TestApp::new().await;
    let a = app.tenant("Key A").await;
    let b = app.tenant("Key B").await;
    let other_admin = app.user(&a, Role::Admin).await;
    let mut ids = Vec::new();
    for token in [&a.admin, &b.admin, &other_admin] {
        let r = post_with_key(&app, "/api/v1/billing-runs", token, "shared-key", json!({})).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        assert!(!replayed(&r), "another caller's key is not ours");
        ids.push(r.body["job_id"].clone());
    }
    ids.sort_by_key(|v| v.to_string());
    ids.dedup();
    assert_eq!(ids.len(), 3, "three jobs");
    assert_eq!(runs(&app, a.id).await, 2);
    assert_eq!(runs(&app, b.id).await, 1);
}

#[tokio::test]
async fn malformed_keys_are_refused_naming_the_header() {
    let app = TestApp::new().await;
    let t = app.tenant("Bad Key Co").await;
    for key in ["k".repeat(256), String::new(), "tab\tkey".to_owned()] {
        let r = post_with_key(&app, "/api/v1/billing-runs", &t.admin, &key, json!({})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{key:?}: {}", r.body);
        assert_eq!(r.error_code(), "invalid_idempotency_key");
        assert_eq!(r.body["error"]["details"]["header"], "Idempotency-Key");
    }
    let long_ok = "k".repeat(255);
    let r = post_with_key(&app, "/api/v1/billing-runs", &t.admin, &long_ok, json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(runs(&app, t.id).await, 1);
}

#[tokio::test]
async fn client_errors_are_replayed_and_keys_expire_after_a_day() {
    let app = TestApp::new().await;
    let t = app.tenant("Expiry Co").await;
    let bad = post_with_key(
        &app,
        "/api/v1/billing-runs",
        &t.admin,
        "bad",
        json!({"as_of": 5}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let again = post_with_key(
        &app,
        "/api/v1/billing-runs",
        &t.admin,
        "bad",
        json!({"as_of": 5}),
    )
    .await;
    assert_eq!((again.status, &again.body), (bad.status, &bad.body));
    assert!(replayed(&again));

    let first = post_with_key(&app, "/api/v1/billing-runs", &t.admin, "daily", json!({})).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    app.clock.advance(chrono::Duration::hours(23));
    let t2 = app
        .login("admin@expiry-co.example", crate::common::PASSWORD)
        .await;
    let token = t2.body["access_token"].as_str().unwrap().to_owned();
    let within = post_with_key(&app, "/api/v1/billing-runs", &token, "daily", json!({})).await;
    assert!(replayed(&within), "kept for 24 hours: {}", within.body);
    assert_eq!(runs(&app, t.id).await, 1);

    app.clock.advance(chrono::Duration::hours(2));
    let out = app
        .run_job(nestogy_jobs::maintenance::Vacuum {
            keep_hours: 24 * 7,
            keep_dead_hours: 24 * 30,
        })
        .await
        .unwrap();
    assert_eq!(out["idempotency_keys_deleted"], 2, "{out}");
    let t3 = app
        .login("admin@expiry-co.example", crate::common::PASSWORD)
        .await;
    let token = t3.body["access_token"].as_str().unwrap().to_owned();
    let fresh = post_with_key(&app, "/api/v1/billing-runs", &token, "daily", json!({})).await;
    assert_eq!(fresh.status, StatusCode::ACCEPTED);
    assert!(!replayed(&fresh), "an expired key is free again");
    assert_ne!(fresh.body["job_id"], first.body["job_id"]);
    assert_eq!(runs(&app, t.id).await, 2);
}

#[tokio::test]
async fn the_header_is_documented_on_the_posts_that_take_it() {
    let doc = serde_json::to_value(nestogy_api::openapi_document()).unwrap();
    let has_key = |path: &str| {
        doc["paths"][path]["post"]["parameters"]
            .as_array()
            .is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
            })
    };
    for path in [
        "/api/v1/billing-runs",
        "/api/v1/invoices/{id}/send",
        "/api/v1/quotes/{id}/send",
        "/api/v1/clients/{id}/statement/send",
        "/api/v1/payments/{id}/receipt",
        "/api/v1/mailboxes/{id}/poll",
        "/api/v1/mailboxes/{id}/test",
        "/api/v1/imports",
        "/api/v1/accounting/sync",
        "/api/v1/invoices/{id}/payment-link",
        "/api/v1/reports/{name}/refresh",
        "/api/v1/management-reports",
        "/api/v1/schedules/{id}/run",
        "/api/v1/jobs/{id}/retry",
        "/api/v1/webhooks/endpoints/{id}/ping",
        "/api/v1/webhooks/deliveries/{id}/redeliver",
        "/api/v1/invoices",
    ] {
        assert!(has_key(path), "POST {path} documents Idempotency-Key");
    }
    for path in [
        "/api/v1/auth/login",
        "/api/v1/api-tokens",
        "/api/v1/webhooks/stripe/{company_id}",
    ] {
        assert!(!has_key(path), "POST {path} does not take Idempotency-Key");
    }
}
