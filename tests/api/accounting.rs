//! End-to-end tests: accounting sync with Xero. Xero's identity server and
//! Accounting API are one wiremock server speaking Xero's wire format.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use nestogy_domain::integrations::accounting::{self as acc, XERO};
use nestogy_domain::kernel::roles::Role;
use nestogy_domain::{SyncRunId, TenantId};
use nestogy_jobs::accounting::{Connect, RunSync};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::common::{Tenant, TestApp};

const BASIC: &str = "Basic Y2lkOnNlY3JldA=="; // cid:secret

async fn xero_app() -> (TestApp, MockServer) {
    let mock = MockServer::start().await;
    let app = TestApp::with_integrations(nestogy_jobs::IntegrationsConfig {
        allow_private_targets: true,
        public_url: "https://msp.example.com".into(),
        xero: nestogy_jobs::XeroConfig {
            client_id: Some("cid".into()),
            client_secret: Some("secret".into()),
            api_base: mock.uri(),
            identity_base: mock.uri(),
            login_base: mock.uri(),
        },
        ..Default::default()
    })
    .await;
    (app, mock)
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex");
                out.push(h);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).expect("utf8")
}

fn query(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn token_json(access: &str, refresh: &str) -> Value {
    json!({"id_token": "x", "access_token": access, "expires_in": 1800,
           "token_type": "Bearer", "refresh_token": refresh, "scope": "offline_access accounting.transactions accounting.contacts"})
}

/// Starts connecting; returns the state from the authorisation URL.
async fn start_connect(app: &TestApp, t: &Tenant) -> (String, HashMap<String, String>) {
    let r = app
        .post("/api/v1/accounting/xero/connect", &t.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let url = r.body["authorize_url"].as_str().unwrap().to_owned();
    let q = query(&url);
    (url, q)
}

/// Connects `t` to the mock's organisation with tokens at-1/rt-1.
async fn connect(app: &TestApp, mock: &MockServer, t: &Tenant) {
    let (_, q) = start_connect(app, t).await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .and(header("authorization", BASIC))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=the-code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-1", "rt-1")))
        .mount(mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/connections"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "c0", "authEventId": "e0", "tenantId": "xt-1", "tenantType": "ORGANISATION",
             "tenantName": "Demo Org", "createdDateUtc": "2026-03-01T12:00:00", "updatedDateUtc": "2026-03-01T12:00:00"}
        ])))
        .mount(mock)
        .await;
    let r = app
        .get(
            &format!(
                "/api/v1/accounting/xero/callback?code=the-code&state={}",
                q["state"]
            ),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    app.run_job(Connect { tenant: t.id })
        .await
        .expect("connect");
}

/// Answers Contacts/Invoices/Payments like Xero: the sent ids, or new ones.
async fn mount_api(mock: &MockServer) {
    let n = Arc::new(AtomicUsize::new(0));
    for (res, id_field, verb) in [
        ("Contacts", "ContactID", "POST"),
        ("Invoices", "InvoiceID", "POST"),
        ("Payments", "PaymentID", "PUT"),
    ] {
        let n = n.clone();
        Mock::given(method(verb))
            .and(path(format!("/api.xro/2.0/{res}")))
            .and(header("xero-tenant-id", "xt-1"))
            .respond_with(move |req: &Request| {
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                let mut item = body[res][0].clone();
                if item.get(id_field).is_none() {
                    item[id_field] =
                        json!(format!("{}-{}", id_field, n.fetch_add(1, Ordering::SeqCst)));
                }
                ResponseTemplate::new(200).set_body_json(json!({ res: [item] }))
            })
            .mount(mock)
            .await;
    }
}

/// A client with a finalized invoice (3 × 120.50) and a payment of 40.
async fn billing_data(app: &TestApp, t: &Tenant) -> (String, String) {
    let client = app
        .billed_client(&t.admin, "Acme Ltd", "ap@acme.example")
        .await;
    let invoice = app.open_invoice(&t.admin, &client, "Support").await;
    let r = app
        .post(
            &format!("/api/v1/invoices/{invoice}/payments"),
            &t.admin,
            json!({"amount": "40", "method": "card"}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    (client, invoice)
}

async fn new_run(app: &TestApp, tenant: TenantId) -> SyncRunId {
    let mut tx = app.db.tenant(tenant).await.unwrap();
    let run = acc::create_run(&mut tx, XERO).await.unwrap();
    tx.commit().await.unwrap();
    run
}

async fn sync(app: &TestApp, tenant: TenantId) -> Result<Value, nestogy_jobs::JobError> {
    let run = new_run(app, tenant).await;
    app.run_job(RunSync { tenant, run }).await
}

fn api_requests(reqs: &[Request], res: &str) -> Vec<Value> {
    reqs.iter()
        .filter(|r| r.url.path() == format!("/api.xro/2.0/{res}"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn bearer_of(r: &Request) -> String {
    r.headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn sealed(app: &TestApp, column: &str) -> Vec<u8> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {column} FROM accounting_connections"
    )))
    .fetch_one(&app.owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn connect_url_has_the_oauth_parameters() {
    let (app, _mock) = xero_app().await;
    let t = app.tenant("Acme MSP").await;
    let (url, q) = start_connect(&app, &t).await;
    assert!(
        url.starts_with(&format!("{}/identity/connect/authorize?", _mock.uri())),
        "{url}"
    );
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "cid");
    assert_eq!(
        q["redirect_uri"],
        "https://msp.example.com/api/v1/accounting/xero/callback"
    );
    assert_eq!(
        q["scope"],
        "offline_access accounting.transactions accounting.contacts"
    );
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["code_challenge"].len() >= 43);
    assert!(q["state"].len() >= 16);
    let r = app.get("/api/v1/accounting/connection", &t.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "pending");
    // Nothing was called outside.
    assert!(_mock.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn callback_with_bad_or_unknown_or_expired_state_is_400() {
    let (app, _mock) = xero_app().await;
    let t = app.tenant("Acme MSP").await;
    let (_, q) = start_connect(&app, &t).await;
    for path in [
        "/api/v1/accounting/xero/callback?code=c".to_owned(),
        "/api/v1/accounting/xero/callback?code=c&state=".to_owned(),
        "/api/v1/accounting/xero/callback?code=c&state=nope".to_owned(),
    ] {
        let r = app.get(&path, "").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        assert_eq!(r.error_code(), "invalid_state");
    }
    // Expired.
    app.clock.advance(chrono::Duration::minutes(16));
    let r = app
        .get(
            &format!(
                "/api/v1/accounting/xero/callback?code=c&state={}",
                q["state"]
            ),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(
        app.count("SELECT count(*) FROM accounting_connections WHERE code_sealed IS NOT NULL")
            .await,
        0
    );
    assert_eq!(app.count("SELECT count(*) FROM jobs").await, 0);
}

#[tokio::test]
async fn callback_connects_and_stores_tokens_sealed() {
    let (app, mock) = xero_app().await;
    let t = app.tenant("Acme MSP").await;
    let (_, q) = start_connect(&app, &t).await;
    connect_with_state(&app, &mock, &t, &q["state"]).await;

    // The token request: Basic client auth, the code and its PKCE verifier.
    let reqs = mock.received_requests().await.unwrap();
    let token = reqs
        .iter()
        .find(|r| r.url.path() == "/connect/token")
        .unwrap();
    let form = String::from_utf8(token.body.clone()).unwrap();
    assert!(form.contains("grant_type=authorization_code"), "{form}");
    assert!(form.contains("code_verifier="), "{form}");
    assert!(form.contains("redirect_uri="), "{form}");
    let conns = reqs
        .iter()
        .find(|r| r.url.path() == "/connections")
        .unwrap();
    assert_eq!(bearer_of(conns), "Bearer at-1");

    // Sealed, not in clear; opens with the tenant.
    let key = app.services.secrets.as_ref().unwrap();
    for (column, plain) in [
        ("access_token_sealed", "at-1"),
        ("refresh_token_sealed", "rt-1"),
    ] {
        let bytes = sealed(&app, column).await;
        assert!(
            !bytes.windows(4).any(|w| w == plain.as_bytes()),
            "{column} in clear"
        );
        assert_eq!(key.open(t.id, &bytes).unwrap(), plain);
    }
    let r = app.get("/api/v1/accounting/connection", &t.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "connected");
    assert_eq!(r.body["org_name"], "Demo Org");
    assert!(r.body.get("access_token_sealed").is_none());

    // The state was one use; the job again does nothing.
    let again = app
        .get(
            &format!(
                "/api/v1/accounting/xero/callback?code=the-code&state={}",
                q["state"]
            ),
            "",
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    let before = mock.received_requests().await.unwrap().len();
    app.run_job(Connect { tenant: t.id }).await.expect("again");
    assert_eq!(mock.received_requests().await.unwrap().len(), before);

    // Disconnect.
    let d = app.delete("/api/v1/accounting/connection", &t.admin).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let r = app.get("/api/v1/accounting/connection", &t.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn connect_with_state(app: &TestApp, mock: &MockServer, t: &Tenant, state: &str) {
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .and(header("authorization", BASIC))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-1", "rt-1")))
        .mount(mock)
        .await;
    Mock::given(method("GET"))
        .and(path("/connections"))
        .and(header("authorization", "Bearer at-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "c0", "tenantId": "xt-1", "tenantType": "ORGANISATION", "tenantName": "Demo Org"}
        ])))
        .mount(mock)
        .await;
    let r = app
        .get(
            &format!("/api/v1/accounting/xero/callback?code=the-code&state={state}"),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    app.run_job(Connect { tenant: t.id })
        .await
        .expect("connect");
}

#[tokio::test]
async fn sync_creates_then_updates_without_duplicates() {
    let (app, mock) = xero_app().await;
    let t = app.tenant("Acme MSP").await;
    connect(&app, &mock, &t).await;
    mount_api(&mock).await;
    let (client, _paid) = billing_data(&app, &t).await;
    let other = app.open_invoice(&t.admin, &client, "Setup").await;

    let r = app
        .post("/api/v1/accounting/sync", &t.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let run: SyncRunId = serde_json::from_value(r.body["run"].clone()).unwrap();
    assert!(r.body["job_id"].is_string());
    let out = app
        .run_job(RunSync { tenant: t.id, run })
        .await
        .expect("sync");
    assert_eq!(out["created"], 4, "{out}");

    let reqs = mock.received_requests().await.unwrap();
    let contacts = api_requests(&reqs, "Contacts");
    assert_eq!(contacts.len(), 1);
    let c = &contacts[0]["Contacts"][0];
    assert_eq!(c["Name"], "Acme Ltd");
    assert!(c.get("ContactID").is_none());
    let invoices = api_requests(&reqs, "Invoices");
    assert_eq!(invoices.len(), 2);
    let i = &invoices[0]["Invoices"][0];
    assert_eq!(i["Type"], "ACCREC");
    assert_eq!(i["Status"], "AUTHORISED");
    assert_eq!(i["Contact"]["ContactID"], "ContactID-0");
    assert!(i["InvoiceNumber"].is_string());
    assert_eq!(i["CurrencyCode"].as_str().unwrap().len(), 3);
    assert_eq!(i["LineItems"][0]["Description"], "Support");
    assert_eq!(i["LineItems"][0]["Quantity"], json!(3));
    assert_eq!(i["LineItems"][0]["UnitAmount"], json!(120.5));
    assert_eq!(i["LineItems"][0]["AccountCode"], "200");
    assert!(i.get("InvoiceID").is_none());
    let payments = api_requests(&reqs, "Payments");
    assert_eq!(payments.len(), 1);
    let p = &payments[0]["Payments"][0];
    assert_eq!(p["Invoice"]["InvoiceID"], "InvoiceID-1");
    assert_eq!(p["Account"]["Code"], "090");
    assert_eq!(p["Amount"], json!(40));
    for r in reqs.iter().filter(|r| r.url.path().starts_with("/api.xro")) {
        assert_eq!(bearer_of(r), "Bearer at-1");
    }
    assert_eq!(app.count("SELECT count(*) FROM accounting_links").await, 4);

    // The same run's job again: nothing sent.
    let n = reqs.len();
    app.run_job(RunSync { tenant: t.id, run }).await.unwrap();
    assert_eq!(mock.received_requests().await.unwrap().len(), n);

    // A second run with nothing changed: all skipped, nothing sent.
    let out = sync(&app, t.id).await.unwrap();
    assert_eq!(out["skipped"], 4, "{out}");
    assert_eq!(mock.received_requests().await.unwrap().len(), n);

    // A changed client and invoice: updated by their ids, no new links,
    // the payment never sent again.
    let clients = app.get("/api/v1/clients", &t.admin).await;
    let client_id = clients.body["data"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/api/v1/clients/{client_id}"),
            &t.admin,
            json!({"name": "Acme Limited"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(
            &format!("/api/v1/invoices/{other}/void"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let out = sync(&app, t.id).await.unwrap();
    assert_eq!(out["created"], 0, "{out}");
    assert_eq!(out["updated"], 2, "{out}");
    let reqs = mock.received_requests().await.unwrap();
    let contacts = api_requests(&reqs, "Contacts");
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[1]["Contacts"][0]["ContactID"], "ContactID-0");
    assert_eq!(contacts[1]["Contacts"][0]["Name"], "Acme Limited");
    // Only the voided invoice is sent again, by its id.
    let invoices = api_requests(&reqs, "Invoices");
    assert_eq!(invoices.len(), 3);
    assert_eq!(invoices[2]["Invoices"][0]["InvoiceID"], "InvoiceID-2");
    assert_eq!(invoices[2]["Invoices"][0]["Status"], "VOIDED");
    assert_eq!(api_requests(&reqs, "Payments").len(), 1);
    assert_eq!(app.count("SELECT count(*) FROM accounting_links").await, 4);

    // The log.
    let runs = app.get("/api/v1/accounting/sync-runs", &t.admin).await;
    assert_eq!(runs.status, StatusCode::OK, "{}", runs.body);
    assert_eq!(runs.body["total"], 3);
    let d = app
        .get(&format!("/api/v1/accounting/sync-runs/{run}"), &t.admin)
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    assert_eq!(d.body["status"], "succeeded");
    assert_eq!(d.body["created"], 4);
    let items = d.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|i| i["action"] == "created"));
}

#[tokio::test]
async fn expired_token_is_refreshed_and_rotated() {
    let (app, mock) = xero_app().await;
    let t = app.tenant("Acme MSP").await;
    connect(&app, &mock, &t).await;
    mount_api(&mock).await;
    app.billed_client(&t.admin, "Acme Ltd", "ap@acme.example")
        .await;
    for (old, access, new) in [("rt-1", "at-2", "rt-2"), ("rt-2", "at-3", "rt-3")] {
        Mock::given(method("POST"))
            .and(path("/connect/token"))
            .and(header("authorization", BASIC))
            .and(body_string_contains("grant_type=refresh_token"))
            .and(body_string_contains(format!("refresh_token={old}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_json(access, new)))
            .mount(&mock)
            .await;
    }
    // Within 60 s of expiry: refreshed first.
    app.clock.advance(chrono::Duration::seconds(1800 - 30));
    sync(&app, t.id).await.expect("sync with refresh");
    let reqs = mock.received_requests().await.unwrap();
    let last = reqs.last().unwrap();
    assert_eq!(last.url.path(), "/api.xro/2.0/Contacts");
    assert_eq!(bearer_of(last), "Bearer at-2");
    let key = app.services.secrets.as_ref().unwrap();
    assert_eq!(
        key.open(t.id, &sealed(&app, "refresh_token_sealed").await)
            .unwrap(),
        "rt-2"
    );

    // Still fresh: no refresh.
    let refreshes = |reqs: &[Request]| {
        reqs.iter()
            .filter(|r| {
                r.url.path() == "/connect/token"
                    && String::from_utf8_lossy(&r.body).contains("grant_type=refresh_token")
            })
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect::<Vec<_>>()
    };
    sync(&app, t.id).await.unwrap();
    assert_eq!(refreshes(&mock.received_requests().await.unwrap()).len(), 1);

    // Expired again: the rotated token is used, never the old one.
    app.clock.advance(chrono::Duration::minutes(31));
    sync(&app, t.id).await.expect("second refresh");
    let reqs = mock.received_requests().await.unwrap();
    let r = refreshes(&reqs);
    assert_eq!(r.len(), 2);
    assert_eq!(
        r.iter()
            .filter(|b| b.contains("refresh_token=rt-1"))
            .count(),
        1
    );
    assert!(r[1].contains("refresh_token=rt-2"), "{}", r[1]);
    assert_eq!(
        key.open(t.id, &sealed(&app, "refresh_token_sealed").await)
            .unwrap(),
        "rt-3"
    );
    assert_eq!(
        key.open(t.id, &sealed(&app, "access_token_sealed").await)
            .unwrap(),
        "at-3"
    );
}

#[tokio::test]
async fn rate_limit_is_honoured_and_the_retry_resumes() {
    let (app, mock) = xero_app().await;
    let t = app.tenant("Acme MSP").await;
    connect(&app, &mock, &t).await;
    Mock::given(method("POST"))
        .and(path("/api.xro/2.0/Invoices"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "7"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&mock)
        .await;
    mount_api(&mock).await;
    billing_data(&app, &t).await;

    let run = new_run(&app, t.id).await;
    let e = app
        .run_job(RunSync { tenant: t.id, run })
        .await
        .expect_err("rate limited");
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(7)));
    // The worker schedules the next attempt after exactly that.
    let policy = <RunSync as nestogy_jobs::Job>::retry_policy();
    assert_eq!(policy.next_delay(1, &e), std::time::Duration::from_secs(7));
    let d = app
        .get(&format!("/api/v1/accounting/sync-runs/{run}"), &t.admin)
        .await;
    assert_eq!(d.body["status"], "waiting", "{}", d.body);
    assert_eq!(d.body["created"], 1);

    // The next attempt after the delay: resumes, the contact not sent again.
    app.clock.advance(chrono::Duration::seconds(7));
    let out = app
        .run_job(RunSync { tenant: t.id, run })
        .await
        .expect("retry succeeds");
    assert_eq!(out["created"], 3, "{out}");
    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(api_requests(&reqs, "Contacts").len(), 1);
    assert_eq!(api_requests(&reqs, "Invoices").len(), 2);
    assert_eq!(api_requests(&reqs, "Payments").len(), 1);
    assert_eq!(app.count("SELECT count(*) FROM accounting_links").await, 3);
}

#[tokio::test]
async fn invalid_grant_marks_the_connection_needs_reauth() {
    let (app, mock) = xero_app().await;
    let t = app.tenant("Acme MSP").await;
    connect(&app, &mock, &t).await;
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant"})))
        .mount(&mock)
        .await;
    app.clock.advance(chrono::Duration::minutes(31));
    let run = new_run(&app, t.id).await;
    let e = app
        .run_job(RunSync { tenant: t.id, run })
        .await
        .expect_err("refused");
    assert!(!e.retryable);
    assert!(e.message.contains("re-authorisation"), "{}", e.message);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM accounting_connections WHERE status = 'needs_reauth' \
             AND refresh_token_sealed IS NULL"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM accounting_sync_runs WHERE status = 'failed'")
            .await,
        1
    );
}

#[tokio::test]
async fn roles_and_tenants() {
    let (app, mock) = xero_app().await;
    let a = app.tenant("Acme MSP").await;
    connect(&app, &mock, &a).await;
    mount_api(&mock).await;
    let tech = app.user(&a, Role::Tech).await;
    let accountant = app.user(&a, Role::Accountant).await;
    let r = app
        .post("/api/v1/accounting/sync", &a.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let run = r.body["run"].as_str().unwrap().to_owned();

    let run_path = format!("/api/v1/accounting/sync-runs/{run}");
    // Tech: 403 on everything.
    for (m, p) in [
        ("POST", "/api/v1/accounting/xero/connect"),
        ("GET", "/api/v1/accounting/connection"),
        ("DELETE", "/api/v1/accounting/connection"),
        ("POST", "/api/v1/accounting/sync"),
        ("GET", "/api/v1/accounting/sync-runs"),
        ("GET", run_path.as_str()),
    ] {
        let r = call(&app, m, p, &tech).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "tech {m} {p}: {}", r.body);
    }
    // Accountant: sync and read, not connect or disconnect.
    for (m, p, want) in [
        (
            "POST",
            "/api/v1/accounting/xero/connect",
            StatusCode::FORBIDDEN,
        ),
        (
            "DELETE",
            "/api/v1/accounting/connection",
            StatusCode::FORBIDDEN,
        ),
        ("GET", "/api/v1/accounting/connection", StatusCode::OK),
        ("POST", "/api/v1/accounting/sync", StatusCode::ACCEPTED),
        ("GET", "/api/v1/accounting/sync-runs", StatusCode::OK),
        ("GET", run_path.as_str(), StatusCode::OK),
    ] {
        let r = call(&app, m, p, &accountant).await;
        assert_eq!(r.status, want, "accountant {m} {p}: {}", r.body);
    }

    // Tenant B sees nothing of A's.
    let b = app.tenant("Other MSP").await;
    let r = app.get(&run_path, &b.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app.get("/api/v1/accounting/sync-runs", &b.admin).await;
    assert_eq!(r.body["total"], 0);
    let r = app.get("/api/v1/accounting/connection", &b.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // B is not connected: no sync.
    let r = app
        .post("/api/v1/accounting/sync", &b.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "not_connected");
    // Bad input: a malformed run id, a bad page.
    let r = app
        .get("/api/v1/accounting/sync-runs/not-a-uuid", &a.admin)
        .await;
    assert!(r.status.is_client_error(), "{}", r.body);
    let r = app
        .get("/api/v1/accounting/sync-runs?limit=0", &a.admin)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A huge callback state: 400, nothing looked up.
    let r = app
        .get(
            &format!(
                "/api/v1/accounting/xero/callback?code=c&state={}",
                "s".repeat(4096)
            ),
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Unsigned.
    let r = app.get("/api/v1/accounting/sync-runs", "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn call(app: &TestApp, m: &str, p: &str, token: &str) -> crate::common::Response {
    match m {
        "GET" => app.get(p, token).await,
        "POST" => app.post(p, token, json!({})).await,
        "DELETE" => app.delete(p, token).await,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn one_sync_at_a_time_per_tenant() {
    let (app, mock) = xero_app().await;
    let t = app.tenant("Acme MSP").await;
    connect(&app, &mock, &t).await;
    mount_api(&mock).await;
    app.billed_client(&t.admin, "Acme Ltd", "ap@acme.example")
        .await;
    let first = new_run(&app, t.id).await;
    let second = new_run(&app, t.id).await;
    // `first` holds the lease (as if it were running elsewhere).
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let until = tx.now() + chrono::Duration::minutes(10);
    assert!(acc::claim_sync(&mut tx, XERO, first, until).await.unwrap());
    tx.commit().await.unwrap();
    let e = app
        .run_job(RunSync {
            tenant: t.id,
            run: second,
        })
        .await
        .expect_err("busy");
    assert_eq!(e.retry_after, Some(nestogy_jobs::accounting::BUSY_RETRY));
    assert!(
        mock.received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| !r.url.path().starts_with("/api.xro"))
    );
    // `first` finishes and gives the lease back; `second` goes.
    app.run_job(RunSync {
        tenant: t.id,
        run: first,
    })
    .await
    .unwrap();
    let out = app
        .run_job(RunSync {
            tenant: t.id,
            run: second,
        })
        .await
        .unwrap();
    assert_eq!(out["skipped"], 1, "{out}");
    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(api_requests(&reqs, "Contacts").len(), 1);
    // A lease left by a crashed run expires.
    let third = new_run(&app, t.id).await;
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let until = tx.now() + chrono::Duration::minutes(10);
    assert!(acc::claim_sync(&mut tx, XERO, first, until).await.unwrap());
    tx.commit().await.unwrap();
    app.clock.advance(chrono::Duration::minutes(11));
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-2", "rt-2")))
        .mount(&mock)
        .await;
    app.run_job(RunSync {
        tenant: t.id,
        run: third,
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_worker_retries_a_rate_limited_sync_after_retry_after() {
    let (app, mock) = xero_app().await;
    let t = app.tenant("Acme MSP").await;
    connect(&app, &mock, &t).await;
    // The worker runs on the system clock: the token looks expired to it.
    Mock::given(method("POST"))
        .and(path("/connect/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-2", "rt-2")))
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/api.xro/2.0/Contacts"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&mock)
        .await;
    mount_api(&mock).await;
    app.billed_client(&t.admin, "Acme Ltd", "ap@acme.example")
        .await;
    let r = app
        .post("/api/v1/accounting/sync", &t.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let job: nestogy_domain::JobId = serde_json::from_value(r.body["job_id"].clone()).unwrap();
    let worker = app.start_worker();
    let seen_retry = Arc::new(std::sync::Mutex::new(None));
    crate::common::eventually(
        "the sync to succeed",
        std::time::Duration::from_secs(30),
        || {
            let app = &app;
            let seen = seen_retry.clone();
            async move {
                let (state, _, _) = app.job_state(job).await;
                if state == "failed_will_retry" && seen.lock().unwrap().is_none() {
                    type Times = (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>);
                    let (run_at, updated): Times =
                        sqlx::query_as("SELECT run_at, updated_at FROM jobs WHERE id = $1")
                            .bind(job)
                            .fetch_one(&app.owner)
                            .await
                            .unwrap();
                    *seen.lock().unwrap() = Some(run_at - updated);
                }
                state == "succeeded"
            }
        },
    )
    .await;
    worker.stop().await;
    let (_, attempts, last_error) = app.job_state(job).await;
    assert_eq!(attempts, 2);
    assert!(last_error.unwrap_or_default().contains("rate limited"));
    let gap = seen_retry
        .lock()
        .unwrap()
        .expect("the retry was seen waiting");
    // Due Retry-After (1 s) after the failure, not the backoff (30 s ± 50 %).
    assert!(
        gap > chrono::Duration::zero() && gap <= chrono::Duration::milliseconds(1000),
        "{gap}"
    );
    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(api_requests(&reqs, "Contacts").len(), 2);
    assert_eq!(app.count("SELECT count(*) FROM accounting_links").await, 1);
}

#[tokio::test]
async fn a_rejected_record_is_logged_and_the_run_goes_on() {
    let (app, mock) = xero_app().await;
    let t = app.tenant("Acme MSP").await;
    connect(&app, &mock, &t).await;
    // Xero refuses one contact (a ValidationException, 400).
    Mock::given(method("POST"))
        .and(path("/api.xro/2.0/Contacts"))
        .and(body_string_contains("Broken Co"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "ErrorNumber": 10, "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": [{"ValidationErrors": [{"Message": "The contact name Broken Co is already assigned to another contact."}]}]
        })))
        .with_priority(1)
        .mount(&mock)
        .await;
    mount_api(&mock).await;
    let broken = app
        .billed_client(&t.admin, "Broken Co", "ap@broken.example")
        .await;
    app.open_invoice(&t.admin, &broken, "Support").await;
    app.billed_client(&t.admin, "Fine Co", "ap@fine.example")
        .await;
    let run = new_run(&app, t.id).await;
    let out = app
        .run_job(RunSync { tenant: t.id, run })
        .await
        .expect("the run goes on");
    assert_eq!(out["created"], 1, "{out}");
    assert_eq!(out["failed"], 2, "{out}");
    let d = app
        .get(&format!("/api/v1/accounting/sync-runs/{run}"), &t.admin)
        .await;
    let items = d.body["items"].as_array().unwrap();
    let failed: Vec<&Value> = items.iter().filter(|i| i["action"] == "failed").collect();
    assert_eq!(failed.len(), 2, "{}", d.body);
    assert!(failed.iter().any(|i| i["entity_type"] == "client"
        && i["error"].as_str().unwrap().contains("already assigned")));
    assert!(failed.iter().any(|i| {
        i["entity_type"] == "invoice"
            && i["error"]
                .as_str()
                .unwrap()
                .contains("client is not synced")
    }));
    // Nothing linked for the refused ones.
    assert_eq!(app.count("SELECT count(*) FROM accounting_links").await, 1);
}

/// A browser coming back from Xero lands on the console's Xero page, which
/// says what happened; an API client still gets the JSON.
#[tokio::test]
async fn a_browser_coming_back_from_xero_lands_on_the_console() {
    use axum::body::Body;
    use axum::http::{Request, header as h};
    let (app, _mock) = xero_app().await;
    let t = app.tenant("Xero Browser").await;
    let (_, q) = start_connect(&app, &t).await;
    let browse = |url: String| {
        Request::get(url)
            .header(h::ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
            .body(Body::empty())
            .unwrap()
    };
    let r = app
        .raw(browse(format!(
            "/api/v1/accounting/xero/callback?code=the-code&state={}",
            q["state"]
        )))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        r.headers[h::LOCATION],
        "/console/settings/xero?connecting=1"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'accounting.connect'")
            .await,
        1,
        "the exchange is queued as for an API client"
    );
    // A refused callback: the code in the address, never the input.
    let r = app
        .raw(browse(
            "/api/v1/accounting/xero/callback?error=%3Cscript%3E&state=nope".to_owned(),
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let to = r.headers[h::LOCATION].to_str().unwrap().to_owned();
    assert!(
        to.ends_with("?xero_error=invalid_state")
            || to.ends_with("?xero_error=authorisation_declined"),
        "{to}"
    );

    // The console page says so.
    let admin = crate::console::sign_in(&app, &crate::console::admin_email("Xero Browser")).await;
    let page =
        crate::console::get(&app, "/console/settings/xero?connecting=1", &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.has_id("xero-connecting"), "{}", page.html);
    let page = crate::console::get(
        &app,
        "/console/settings/xero?xero_error=%3Cb%3Ehi%3C/b%3E",
        &admin.cookie,
    )
    .await;
    assert!(
        page.html.contains("could not be completed"),
        "{}",
        page.html
    );
    assert!(!page.html.contains("<b>hi"), "the code is not echoed");
}
