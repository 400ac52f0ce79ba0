//! End-to-end tests: webhooks. Endpoints (CRUD, validation, private
//! targets), events from real actions reaching a wiremock receiver signed as
//! the Standard Webhooks specification says (verified here independently),
//! retries after a 500 and a timeout, one POST however often (and however
//! concurrently) a delivery job runs, redelivery, pings, disabling after a
//! day of failures with the admins' mail, the NOTIFY listener in a worker,
//! the role matrix, tenant isolation and bad input.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use nestogy_domain::WebhookDeliveryId;
use nestogy_domain::kernel::roles::Role;
use nestogy_jobs::webhooks::{Deliver, Dispatch};
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{Tenant, TestApp, eventually, field_code, fields};

const ENDPOINTS: &str = "/api/v1/webhooks/endpoints";

/// Registers an endpoint; returns (id, secret).
async fn endpoint(app: &TestApp, token: &str, url: &str, types: &[&str]) -> (String, String) {
    let r = app
        .post(ENDPOINTS, token, json!({"url": url, "event_types": types}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    (r.id(), secret)
}

async fn deliveries(app: &TestApp, token: &str, endpoint: &str) -> Vec<Value> {
    let r = app
        .get(&format!("{ENDPOINTS}/{endpoint}/deliveries"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

async fn only_delivery(app: &TestApp, token: &str, endpoint: &str) -> WebhookDeliveryId {
    let d = deliveries(app, token, endpoint).await;
    assert_eq!(d.len(), 1, "{d:?}");
    d[0]["id"].as_str().unwrap().parse().unwrap()
}

async fn deliver(app: &TestApp, t: &Tenant, d: WebhookDeliveryId) -> Value {
    app.run_job(Deliver {
        tenant: t.id,
        delivery: d,
    })
    .await
    .expect("deliver")
}

async fn detail(app: &TestApp, token: &str, d: WebhookDeliveryId) -> Value {
    let r = app
        .get(&format!("/api/v1/webhooks/deliveries/{d}"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

async fn receiver(status: u16) -> MockServer {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(status).set_body_string("thanks"))
        .mount(&mock)
        .await;
    mock
}

/// Checks a received request against the Standard Webhooks rules with our
/// own HMAC (not the signer under test); returns its parsed body.
fn verify(req: &wiremock::Request, secret: &str) -> Value {
    let h = |n: &str| {
        req.headers
            .get(n)
            .unwrap_or_else(|| panic!("no {n} header"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    let (id, ts, sig) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    assert!(ts.parse::<i64>().is_ok(), "timestamp {ts}");
    assert_eq!(h("content-type"), "application/json");
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&req.body);
    let want = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert!(
        sig.split(' ').any(|s| s == want),
        "signature {sig} is not {want}"
    );
    serde_json::from_slice(&req.body).expect("json body")
}

#[tokio::test]
async fn endpoint_crud_and_validation() {
    let app = TestApp::new().await;
    let t = app.tenant("Acme").await;
    let (id, secret) = endpoint(
        &app,
        &t.admin,
        "https://hooks.example.com/in",
        &["client.created", "invoice.paid", "client.created"],
    )
    .await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(
        STANDARD.decode(&secret["whsec_".len()..]).unwrap().len(),
        32
    );
    let g = app.get(&format!("{ENDPOINTS}/{id}"), &t.admin).await;
    assert_eq!(g.status, StatusCode::OK);
    assert!(g.body.get("secret").is_none(), "secret shown again");
    assert_eq!(
        g.body["event_types"],
        json!(["client.created", "invoice.paid"])
    );
    assert_eq!(g.body["enabled"], true);
    // The secret is sealed at rest.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM webhook_endpoints WHERE position('{}'::bytea in secret_enc) > 0",
            &secret["whsec_".len()..]
        ))
        .await,
        0
    );

    let l = app.get(ENDPOINTS, &t.admin).await;
    assert_eq!(l.body["total"], 1);

    let p = app
        .patch(
            &format!("{ENDPOINTS}/{id}"),
            &t.admin,
            json!({"description": "ERP", "event_types": ["*"]}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.body["description"], "ERP");
    assert_eq!(p.body["event_types"], json!(["*"]));

    let r = app
        .post(
            &format!("{ENDPOINTS}/{id}/rotate-secret"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let rotated = r.body["secret"].as_str().unwrap();
    assert!(rotated.starts_with("whsec_") && rotated != secret);

    // Invalid input: 422 naming the field, nothing changed.
    for (body, field, code) in [
        (
            json!({"url": "ftp://x.example.com/", "event_types": ["*"]}),
            "url",
            "invalid",
        ),
        (
            json!({"url": "hooks.example.com", "event_types": ["*"]}),
            "url",
            "invalid",
        ),
        (json!({"url": "", "event_types": ["*"]}), "url", "required"),
        (
            json!({"url": "https://x.example.com/", "event_types": ["client.deleted"]}),
            "event_types",
            "unknown",
        ),
        (
            json!({"url": "https://x.example.com/", "event_types": []}),
            "event_types",
            "required",
        ),
        (
            json!({"url": "https://x.example.com/", "event_types": ["*"], "description": "d".repeat(501)}),
            "description",
            "too_long",
        ),
    ] {
        let r = app.post(ENDPOINTS, &t.admin, body.clone()).await;
        assert_eq!(fields(&r), vec![field.to_owned()], "{body}");
        assert_eq!(field_code(&r, field), code, "{body}");
    }
    let r = app
        .patch(
            &format!("{ENDPOINTS}/{id}"),
            &t.admin,
            json!({"event_types": ["nope"]}),
        )
        .await;
    assert_eq!(fields(&r), vec!["event_types"]);
    let r = app
        .post(
            ENDPOINTS,
            &t.admin,
            json!({"url": "https://x.example.com/", "event_types": ["*"], "secret": "mine"}),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.body);
    assert_eq!(app.count("SELECT count(*) FROM webhook_endpoints").await, 1);
    let g = app.get(&format!("{ENDPOINTS}/{id}"), &t.admin).await;
    assert_eq!(g.body["event_types"], json!(["*"]));

    // At most 20 endpoints per tenant.
    for i in 1..20 {
        endpoint(
            &app,
            &t.admin,
            &format!("https://h{i}.example.com/"),
            &["*"],
        )
        .await;
    }
    let r = app
        .post(
            ENDPOINTS,
            &t.admin,
            json!({"url": "https://h21.example.com/", "event_types": ["*"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "too_many_endpoints");

    let d = app.delete(&format!("{ENDPOINTS}/{id}"), &t.admin).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let g = app.get(&format!("{ENDPOINTS}/{id}"), &t.admin).await;
    assert_eq!(g.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_new_client_reaches_the_endpoint_signed_and_once() {
    let app = TestApp::new().await;
    let t = app.tenant("Acme").await;
    let mock = receiver(200).await;
    let (ep, secret) = endpoint(
        &app,
        &t.admin,
        &format!("{}/hook", mock.uri()),
        &["client.created"],
    )
    .await;
    let client = app.client(&t.admin, "Globex").await;
    let d = only_delivery(&app, &t.admin, &ep).await;

    // The sweep enqueues it once, however often it runs.
    let first = app.run_job(Dispatch { tenant: t.id }).await.unwrap();
    assert_eq!(first["enqueued"], 1, "{first}");
    let again = app.run_job(Dispatch { tenant: t.id }).await.unwrap();
    assert_eq!(again["enqueued"], 0, "{again}");

    let out = deliver(&app, &t, d).await;
    assert_eq!(out["succeeded"], true, "{out}");
    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    let body = verify(&reqs[0], &secret);
    assert_eq!(body["type"], "client.created");
    assert_eq!(body["data"]["id"], client.as_str());
    assert_eq!(body["data"]["name"], "Globex");
    assert!(body["timestamp"].is_string());
    let event_id = reqs[0].headers.get("webhook-id").unwrap().to_str().unwrap();

    // Running the job again sends nothing.
    let out = deliver(&app, &t, d).await;
    assert!(out.get("skipped").is_some(), "{out}");
    assert_eq!(mock.received_requests().await.unwrap().len(), 1);

    let det = detail(&app, &t.admin, d).await;
    assert_eq!(det["status"], "succeeded");
    assert_eq!(det["attempts"], 1);
    assert_eq!(det["event_id"], event_id);
    assert_eq!(det["event_type"], "client.created");
    assert_eq!(det["last_status_code"], 200);
    assert_eq!(det["attempts_log"].as_array().unwrap().len(), 1);
    assert_eq!(det["attempts_log"][0]["response_excerpt"], "thanks");
    assert!(det["attempts_log"][0]["duration_ms"].as_i64().unwrap() >= 0);

    // Twice at once: one POST.
    app.client(&t.admin, "Initech").await;
    let list = deliveries(&app, &t.admin, &ep).await;
    let d2: WebhookDeliveryId = list[0]["id"].as_str().unwrap().parse().unwrap();
    let job = || {
        app.run_job(Deliver {
            tenant: t.id,
            delivery: d2,
        })
    };
    let (a, b) = tokio::join!(job(), job());
    let sent = [&a, &b]
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|v| v["succeeded"] == true))
        .count();
    assert_eq!(sent, 1, "{a:?} {b:?}");
    assert_eq!(mock.received_requests().await.unwrap().len(), 2);
    let again = deliver(&app, &t, d2).await;
    assert!(again.get("skipped").is_some(), "{again}");
    assert_eq!(mock.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn events_only_when_an_endpoint_wants_them() {
    let app = TestApp::new().await;
    let t = app.tenant("Acme").await;
    app.client(&t.admin, "Nobody listens").await;
    assert_eq!(app.count("SELECT count(*) FROM events").await, 0);
    let (ep, _) = endpoint(
        &app,
        &t.admin,
        "https://hooks.example.com/",
        &["ticket.created"],
    )
    .await;
    app.client(&t.admin, "Still nobody").await;
    assert_eq!(app.count("SELECT count(*) FROM events").await, 0);
    // Disabled endpoints get nothing either.
    app.patch(
        &format!("{ENDPOINTS}/{ep}"),
        &t.admin,
        json!({"enabled": false, "event_types": ["*"]}),
    )
    .await;
    app.client(&t.admin, "Off").await;
    assert_eq!(app.count("SELECT count(*) FROM events").await, 0);
}

#[tokio::test]
async fn invoices_and_payments_make_their_events() {
    let app = TestApp::new().await;
    let t = app.tenant("Acme").await;
    let (ep, _) = endpoint(
        &app,
        &t.admin,
        "https://hooks.example.com/",
        &["invoice.finalized", "payment.recorded", "invoice.paid"],
    )
    .await;
    let client = app.client(&t.admin, "Globex").await;
    let inv = app.open_invoice(&t.admin, &client, "Support").await;
    let r = app
        .post(
            &format!("/api/v1/invoices/{inv}/payments"),
            &t.admin,
            json!({"amount": "100.00", "method": "bank_transfer"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post(
            &format!("/api/v1/invoices/{inv}/payments"),
            &t.admin,
            json!({"amount": "261.50", "method": "bank_transfer"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let types: Vec<String> = deliveries(&app, &t.admin, &ep)
        .await
        .iter()
        .rev()
        .map(|d| d["event_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "invoice.finalized",
            "payment.recorded",
            "payment.recorded",
            "invoice.paid"
        ],
        "{types:?}"
    );
    let payload: Value =
        sqlx::query_scalar("SELECT payload FROM events WHERE type = 'invoice.paid'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(payload["id"], inv.as_str());
    assert_eq!(payload["status"], "paid");
}

#[tokio::test]
async fn tickets_make_their_events() {
    let app = TestApp::new().await;
    let t = app.tenant("Acme").await;
    let (ep, _) = endpoint(&app, &t.admin, "https://hooks.example.com/", &["*"]).await;
    let client = app.client(&t.admin, "Globex").await;
    let r = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"client_id": client, "subject": "Printer on fire"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ticket = r.id();
    let r = app
        .post(
            &format!("/api/v1/tickets/{ticket}/status"),
            &t.admin,
            json!({"status": "in_progress"}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let types: Vec<String> = deliveries(&app, &t.admin, &ep)
        .await
        .iter()
        .rev()
        .map(|d| d["event_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        ["client.created", "ticket.created", "ticket.status_changed"],
        "{types:?}"
    );
    let payload: Value =
        sqlx::query_scalar("SELECT payload FROM events WHERE type = 'ticket.status_changed'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(payload["status"], "in_progress");
    assert_eq!(payload["previous_status"], "new");
}

#[tokio::test]
async fn a_500_is_retried_on_schedule_then_succeeds() {
    let app = TestApp::new().await;
    let t = app.tenant("Acme").await;
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .up_to_n_times(1)
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&mock)
        .await;
    let (ep, secret) = endpoint(&app, &t.admin, &format!("{}/hook", mock.uri()), &["*"]).await;
    app.client(&t.admin, "Globex").await;
    let d = only_delivery(&app, &t.admin, &ep).await;

    let out = deliver(&app, &t, d).await;
    assert_eq!(out["status_code"], 500, "{out}");
    let det = detail(&app, &t.admin, d).await;
    assert_eq!(det["status"], "pending");
    assert_eq!(det["last_status_code"], 500);
    assert_eq!(det["last_error"], "HTTP 500");
    let due =
        chrono::DateTime::parse_from_rfc3339(det["next_attempt_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        (due.with_timezone(&chrono::Utc) - app.clock_now()).num_seconds(),
        5
    );
    // The failed attempt enqueued the next one, at its time.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM jobs WHERE kind = 'webhooks.deliver' AND run_at > created_at"
        )
        .await,
        1
    );

    // Not due yet: nothing sent.
    let early = deliver(&app, &t, d).await;
    assert_eq!(early["skipped"], "NotDue", "{early}");
    assert_eq!(mock.received_requests().await.unwrap().len(), 1);

    app.clock.advance(chrono::Duration::seconds(6));
    let out = deliver(&app, &t, d).await;
    assert_eq!(out["succeeded"], true, "{out}");
    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    verify(&reqs[1], &secret);
    assert_eq!(
        reqs[0].headers.get("webhook-id"),
        reqs[1].headers.get("webhook-id")
    );
    let det = detail(&app, &t.admin, d).await;
    assert_eq!(det["status"], "succeeded");
    assert_eq!(det["attempts"], 2);
    let codes: Vec<Value> = det["attempts_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(codes, [json!(500), json!(204)]);
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let app = TestApp::with_integrations(nestogy_jobs::IntegrationsConfig {
        allow_private_targets: true,
        http_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let t = app.tenant("Acme").await;
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&mock)
        .await;
    let (ep, _) = endpoint(&app, &t.admin, &format!("{}/hook", mock.uri()), &["*"]).await;
    app.client(&t.admin, "Globex").await;
    let d = only_delivery(&app, &t.admin, &ep).await;
    let started = std::time::Instant::now();
    let out = deliver(&app, &t, d).await;
    assert!(started.elapsed() < Duration::from_secs(2), "no timeout");
    assert_eq!(out["succeeded"], false, "{out}");
    let det = detail(&app, &t.admin, d).await;
    assert_eq!(det["status"], "pending");
    assert!(det["last_status_code"].is_null());
    assert!(
        det["last_error"].as_str().unwrap().contains("timed out"),
        "{det}"
    );
    app.clock.advance(chrono::Duration::seconds(5));
    let out = deliver(&app, &t, d).await;
    assert_eq!(out["succeeded"], true, "{out}");
    assert_eq!(detail(&app, &t.admin, d).await["attempts"], 2);
}

#[tokio::test]
async fn redelivery_and_ping_send_signed_messages() {
    let app = TestApp::new().await;
    let t = app.tenant("Acme").await;
    let mock = receiver(200).await;
    let (ep, secret) = endpoint(
        &app,
        &t.admin,
        &format!("{}/hook", mock.uri()),
        &["client.created"],
    )
    .await;
    app.client(&t.admin, "Globex").await;
    let d = only_delivery(&app, &t.admin, &ep).await;
    deliver(&app, &t, d).await;

    let r = app
        .post(
            &format!("/api/v1/webhooks/deliveries/{d}/redeliver"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["delivery"]["status"], "pending");
    assert!(r.body["job_id"].is_string());
    let out = deliver(&app, &t, d).await;
    assert_eq!(out["succeeded"], true, "{out}");
    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    let (a, b) = (verify(&reqs[0], &secret), verify(&reqs[1], &secret));
    assert_eq!(a, b);
    assert_eq!(
        reqs[0].headers.get("webhook-id"),
        reqs[1].headers.get("webhook-id")
    );
    assert_eq!(detail(&app, &t.admin, d).await["attempts"], 2);

    let r = app
        .post(&format!("{ENDPOINTS}/{ep}/ping"), &t.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let ping: WebhookDeliveryId = r.body["delivery"]["id"].as_str().unwrap().parse().unwrap();
    let out = deliver(&app, &t, ping).await;
    assert_eq!(out["succeeded"], true, "{out}");
    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 3);
    let body = verify(&reqs[2], &secret);
    assert_eq!(body["type"], "webhook.ping");
    assert_eq!(body["data"]["endpoint_id"], ep.as_str());
    assert_ne!(
        reqs[2].headers.get("webhook-id"),
        reqs[0].headers.get("webhook-id")
    );
}

#[tokio::test]
async fn a_day_of_failures_disables_the_endpoint_and_mails_the_admins() {
    let app = TestApp::new().await;
    let t = app.tenant("Acme").await;
    let mock = receiver(503).await;
    let (ep, _) = endpoint(&app, &t.admin, &format!("{}/hook", mock.uri()), &["*"]).await;
    app.client(&t.admin, "Globex").await;
    let d = only_delivery(&app, &t.admin, &ep).await;
    let out = deliver(&app, &t, d).await;
    assert_eq!(out["endpoint_disabled"], false, "{out}");

    // Follow the retry schedule for a day.
    let mut disabled = false;
    for _ in 0..10 {
        // Read directly: the admin's token expires on the way.
        let (status, due): (String, Option<chrono::DateTime<chrono::Utc>>) =
            sqlx::query_as("SELECT status, next_attempt_at FROM webhook_deliveries WHERE id = $1")
                .bind(d)
                .fetch_one(&app.owner)
                .await
                .unwrap();
        if status != "pending" {
            break;
        }
        let due = due.unwrap();
        app.clock.advance(due - app.clock_now());
        let out = deliver(&app, &t, d).await;
        if out["endpoint_disabled"] == true {
            disabled = true;
            break;
        }
    }
    assert!(disabled, "never disabled");
    let mut admin = t.admin.clone();
    if app.get(ENDPOINTS, &admin).await.status == StatusCode::UNAUTHORIZED {
        admin = relogin(&app, &t).await;
    }
    let e = app.get(&format!("{ENDPOINTS}/{ep}"), &admin).await;
    assert_eq!(e.body["enabled"], false, "{}", e.body);
    assert!(
        e.body["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("24 hours"),
        "{}",
        e.body
    );
    let mails: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT subject, recipients FROM mail_messages WHERE template = 'webhook_disabled'",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].0.contains(&mock.uri()), "{mails:?}");
    assert!(!mails[0].1.is_empty());
    let posts = mock.received_requests().await.unwrap().len();

    // Disabled: nothing more is sent or recorded.
    let out = deliver(&app, &t, d).await;
    assert!(out.get("skipped").is_some(), "{out}");
    assert_eq!(mock.received_requests().await.unwrap().len(), posts);
    let events = app.count("SELECT count(*) FROM events").await;
    app.client(&admin, "Initech").await;
    assert_eq!(app.count("SELECT count(*) FROM events").await, events);

    // Enabled again, the waiting delivery is due now.
    let r = app
        .post(&format!("{ENDPOINTS}/{ep}/enable"), &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["enabled"], true);
    assert!(r.body["disabled_reason"].is_null());
}

async fn relogin(app: &TestApp, t: &Tenant) -> String {
    let email: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(t.admin_id)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    let r = app.login(&email, crate::common::PASSWORD).await;
    r.body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn private_targets_are_refused_by_default() {
    let app = TestApp::with_integrations(nestogy_jobs::IntegrationsConfig::default()).await;
    let t = app.tenant("Acme").await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.7/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost/hook",
        "http://hooks.example.com/hook",
    ] {
        let r = app
            .post(
                ENDPOINTS,
                &t.admin,
                json!({"url": url, "event_types": ["*"]}),
            )
            .await;
        assert_eq!(fields(&r), vec!["url"], "{url}: {}", r.body);
    }
    assert_eq!(app.count("SELECT count(*) FROM webhook_endpoints").await, 0);
    // At delivery time a name is resolved and checked again.
    assert!(
        nestogy_jobs::webhooks::refused("https://localhost/x", false)
            .await
            .is_some()
    );
    assert!(
        nestogy_jobs::webhooks::refused("http://127.0.0.1/x", true)
            .await
            .is_none()
    );
}

#[tokio::test]
async fn the_listener_in_a_worker_delivers_without_waiting_for_the_sweep() {
    let app = TestApp::new().await;
    let t = app.tenant("Acme").await;
    let mock = receiver(200).await;
    let worker = app.start_worker();
    let (_, secret) = endpoint(
        &app,
        &t.admin,
        &format!("{}/hook", mock.uri()),
        &["client.created"],
    )
    .await;
    // Give the listener time to LISTEN; a missed notice would make the test
    // wait for the sweep, which no scheduler runs here.
    eventually("the listener listens", Duration::from_secs(10), || async {
        app.count("SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%'")
            .await
            > 0
    })
    .await;
    app.client(&t.admin, "Globex").await;
    eventually("the webhook arrives", Duration::from_secs(20), || async {
        !mock.received_requests().await.unwrap().is_empty()
    })
    .await;
    worker.stop().await;
    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(verify(&reqs[0], &secret)["type"], "client.created");
}

#[tokio::test]
async fn roles_and_tenants_are_kept_apart() {
    let app = TestApp::new().await;
    let a = app.tenant("Acme").await;
    let b = app.tenant("Beta").await;
    let (ep, _) = endpoint(&app, &a.admin, "https://hooks.example.com/", &["*"]).await;
    app.client(&a.admin, "Globex").await;
    let d = only_delivery(&app, &a.admin, &ep).await;

    for role in [Role::Tech, Role::Accountant] {
        let tok = app.user(&a, role).await;
        for (m, p) in [
            (Method::GET, ENDPOINTS.to_owned()),
            (Method::POST, ENDPOINTS.to_owned()),
            (Method::GET, format!("{ENDPOINTS}/{ep}")),
            (Method::PATCH, format!("{ENDPOINTS}/{ep}")),
            (Method::DELETE, format!("{ENDPOINTS}/{ep}")),
            (Method::POST, format!("{ENDPOINTS}/{ep}/rotate-secret")),
            (Method::POST, format!("{ENDPOINTS}/{ep}/enable")),
            (Method::POST, format!("{ENDPOINTS}/{ep}/ping")),
            (Method::GET, format!("{ENDPOINTS}/{ep}/deliveries")),
            (Method::GET, format!("/api/v1/webhooks/deliveries/{d}")),
            (
                Method::POST,
                format!("/api/v1/webhooks/deliveries/{d}/redeliver"),
            ),
        ] {
            let body = (m != Method::GET && m != Method::DELETE)
                .then(|| json!({"url": "https://x.example.com/", "event_types": ["*"]}));
            let r = app.call(m.clone(), &p, Some(&tok), body).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{role:?} {m} {p}: {}",
                r.body
            );
        }
    }

    for (m, p) in [
        (Method::GET, format!("{ENDPOINTS}/{ep}")),
        (Method::PATCH, format!("{ENDPOINTS}/{ep}")),
        (Method::DELETE, format!("{ENDPOINTS}/{ep}")),
        (Method::POST, format!("{ENDPOINTS}/{ep}/rotate-secret")),
        (Method::POST, format!("{ENDPOINTS}/{ep}/enable")),
        (Method::POST, format!("{ENDPOINTS}/{ep}/ping")),
        (Method::GET, format!("{ENDPOINTS}/{ep}/deliveries")),
        (Method::GET, format!("/api/v1/webhooks/deliveries/{d}")),
        (
            Method::POST,
            format!("/api/v1/webhooks/deliveries/{d}/redeliver"),
        ),
    ] {
        let body = (m == Method::PATCH).then(|| json!({"description": "mine"}));
        let body = body.or_else(|| (m == Method::POST).then(|| json!({})));
        let r = app.call(m.clone(), &p, Some(&b.admin), body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {p}: {}", r.body);
    }
    assert_eq!(app.get(ENDPOINTS, &b.admin).await.body["total"], 0);
    // B's job on A's delivery does nothing.
    let out = app
        .run_job(Deliver {
            tenant: b.id,
            delivery: d,
        })
        .await
        .unwrap();
    assert_eq!(out["skipped"], "Gone");
    let g = app.get(&format!("{ENDPOINTS}/{ep}"), &a.admin).await;
    assert!(g.body["description"].is_null());
    assert_eq!(app.count("SELECT count(*) FROM webhook_attempts").await, 0);
}

#[tokio::test]
async fn bad_input_changes_nothing() {
    let app = TestApp::new().await;
    let t = app.tenant("Acme").await;
    let (ep, _) = endpoint(&app, &t.admin, "https://hooks.example.com/", &["*"]).await;
    let before = app.get(&format!("{ENDPOINTS}/{ep}"), &t.admin).await.body;
    let cases: Vec<(Vec<u8>, StatusCode)> = vec![
        (b"{\"url\": ".to_vec(), StatusCode::BAD_REQUEST),
        (b"[1, 2]".to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        (
            b"{\"url\": 5, \"event_types\": \"*\"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (vec![b' '; 2 * 1024 * 1024], StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (m, p) in [
        (Method::POST, ENDPOINTS.to_owned()),
        (Method::PATCH, format!("{ENDPOINTS}/{ep}")),
    ] {
        for (body, want) in &cases {
            let req = Request::builder()
                .method(m.clone())
                .uri(&p)
                .header("authorization", format!("Bearer {}", t.admin))
                .header("content-type", "application/json")
                .body(Body::from(body.clone()))
                .unwrap();
            let r = app.raw(req).await;
            assert!(r.status.is_client_error(), "{m} {p}: {}", r.status);
            if *want != StatusCode::UNPROCESSABLE_ENTITY {
                assert_eq!(r.status, *want, "{m} {p}: {}", r.body);
            }
        }
        // Unsigned (no token).
        let r = app
            .call(
                m.clone(),
                &p,
                None,
                Some(json!({"url": "https://a.example.com/", "event_types": ["*"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    for p in [
        format!("{ENDPOINTS}/not-a-uuid"),
        "/api/v1/webhooks/deliveries/not-a-uuid".to_owned(),
        format!("{ENDPOINTS}/{ep}/deliveries?limit=0"),
        format!("{ENDPOINTS}/{ep}/deliveries?cursor=junk"),
    ] {
        let r = app.get(&p, &t.admin).await;
        assert!(r.status.is_client_error(), "{p}: {}", r.status);
    }
    assert_eq!(app.count("SELECT count(*) FROM webhook_endpoints").await, 1);
    assert_eq!(
        app.get(&format!("{ENDPOINTS}/{ep}"), &t.admin).await.body,
        before
    );
}

#[tokio::test]
async fn the_sweep_finds_due_deliveries_across_tenants_once_a_minute() {
    let app = TestApp::new().await;
    let a = app.tenant("Acme").await;
    let b = app.tenant("Beta").await;
    let mock = receiver(500).await;
    let (ep, _) = endpoint(&app, &a.admin, &format!("{}/hook", mock.uri()), &["*"]).await;
    endpoint(
        &app,
        &b.admin,
        "https://hooks.example.com/",
        &["ticket.created"],
    )
    .await;
    app.client(&a.admin, "Globex").await;
    app.client(&b.admin, "Nothing for B").await;
    let ctx = app.jobs();
    assert_eq!(nestogy_jobs::webhooks::sweep(&ctx).await.unwrap(), 1);
    assert_eq!(
        nestogy_jobs::webhooks::sweep(&ctx).await.unwrap(),
        0,
        "same minute"
    );
    let d = only_delivery(&app, &a.admin, &ep).await;
    deliver(&app, &a, d).await;
    // The retry is not due yet: nothing to sweep...
    app.clock.advance(chrono::Duration::seconds(3));
    assert_eq!(nestogy_jobs::webhooks::sweep(&ctx).await.unwrap(), 0);
    // ...until it is.
    app.clock.advance(chrono::Duration::seconds(60));
    assert_eq!(nestogy_jobs::webhooks::sweep(&ctx).await.unwrap(), 1);
    // The failed attempt already enqueued the retry under the same key.
    let out = app.run_job(Dispatch { tenant: a.id }).await.unwrap();
    assert_eq!(out["enqueued"], 0, "{out}");
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'webhooks.deliver'")
            .await,
        1
    );
}

/// Every spelling of an inside address, as the issue found them accepted.
const INSIDE_URLS: &[&str] = &[
    "https://[::127.0.0.1]/",
    "https://[2002:7f00:1::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:0:10.0.0.1]/",
    "https://[64:ff9b::a9fe:a9fe]/latest/meta-data",
    "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    "https://[fd00:ec2::254]/",
    "https://[fec0::1]/",
    "https://[::]/",
    "https://127.1/",
    "https://0x7f.0.0.1/",
    "https://2130706433/",
    "https://0251.0376.0251.0376/latest/meta-data",
    "https://100.100.100.200/",
    "https://192.0.0.192/",
];

#[tokio::test]
async fn inside_addresses_in_every_spelling_are_refused_at_the_api() {
    let app = TestApp::with_integrations(nestogy_jobs::IntegrationsConfig::default()).await;
    let t = app.tenant("Acme").await;
    for url in INSIDE_URLS {
        let r = app
            .post(
                ENDPOINTS,
                &t.admin,
                json!({"url": url, "event_types": ["*"]}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {}",
            r.body
        );
        assert_eq!(fields(&r), vec!["url"], "{url}: {}", r.body);
        assert_eq!(
            field_code(&r, "url"),
            "private_address",
            "{url}: {}",
            r.body
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM webhook_endpoints").await, 0);

    // An existing endpoint cannot be moved inside either.
    let (ep, _) = endpoint(&app, &t.admin, "https://93.184.216.34/hook", &["*"]).await;
    for url in INSIDE_URLS {
        let r = app
            .patch(&format!("{ENDPOINTS}/{ep}"), &t.admin, json!({"url": url}))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {}",
            r.body
        );
        assert_eq!(fields(&r), vec!["url"], "{url}: {}", r.body);
    }
    let e = app.get(&format!("{ENDPOINTS}/{ep}"), &t.admin).await;
    assert_eq!(e.body["url"], "https://93.184.216.34/hook");
}

#[tokio::test]
async fn the_worker_does_not_connect_to_an_inside_address() {
    let app = TestApp::with_integrations(nestogy_jobs::IntegrationsConfig::default()).await;
    let t = app.tenant("Acme").await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (ep, _) = endpoint(&app, &t.admin, "https://93.184.216.34/hook", &["*"]).await;
    app.client(&t.admin, "Globex").await;
    let d = only_delivery(&app, &t.admin, &ep).await;
    // Saved before this check existed: the worker checks again.
    for url in [
        format!("https://[::127.0.0.1]:{port}/hook"),
        format!("https://[2002:7f00:1::1]:{port}/hook"),
        format!("https://127.1:{port}/hook"),
        format!("https://localhost:{port}/hook"),
    ] {
        sqlx::query("UPDATE webhook_endpoints SET url = $1 WHERE id = $2::uuid")
            .bind(&url)
            .bind(&ep)
            .execute(&app.owner)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $2 \
             WHERE id = $1",
        )
        .bind(d)
        .bind(app.clock_now())
        .execute(&app.owner)
        .await
        .unwrap();
        let out = deliver(&app, &t, d).await;
        assert_eq!(out["succeeded"], false, "{url}: {out}");
        let last = detail(&app, &t.admin, d).await;
        let error = last["last_error"].as_str().unwrap_or_default();
        assert!(error.starts_with("refused:"), "{url}: {last}");
        assert!(listener.accept().is_err(), "{url} reached the listener");
    }
}
