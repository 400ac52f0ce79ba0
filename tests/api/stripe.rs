//! End-to-end tests: stripe.
//!
//! Stripe is a wiremock server speaking Stripe's wire format: form-encoded
//! requests with `Authorization: Bearer sk_…` and `Idempotency-Key`, JSON
//! answers, card errors as 402 `{"error": {"type": "card_error", …}}`.
//! Events are signed here as Stripe's documentation describes:
//! `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use hmac::{Hmac, Mac};
use nestogy_domain::kernel::roles::Role;
use nestogy_jobs::stripe::{Autopay, PaymentLink};
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{Response, Tenant, TestApp, field_code};

const SECRET_KEY: &str = "sk_test_51Habcdefghijkl1234";
const WEBHOOK_SECRET: &str = "whsec_testsecretabcdef";

pub(crate) async fn stripe_app() -> (MockServer, TestApp) {
    let mock = MockServer::start().await;
    let app = TestApp::with_integrations(nestogy_jobs::IntegrationsConfig {
        public_url: "https://msp.example.com".into(),
        stripe_api_base: mock.uri(),
        http_timeout: Duration::from_millis(500),
        allow_private_targets: true,
        ..Default::default()
    })
    .await;
    (mock, app)
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Response {
    app.call(Method::PUT, path, Some(token), Some(body)).await
}

pub(crate) async fn configure(app: &TestApp, t: &Tenant) {
    let r = put(
        app,
        "/api/v1/company/stripe",
        &t.admin,
        json!({"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// A finalized invoice of 361.50 for a client with a billing contact:
/// its id and currency (lower case, as Stripe writes it).
async fn invoice(app: &TestApp, t: &Tenant) -> (String, String) {
    let client = app
        .billed_client(&t.admin, "Acme", "billing@acme.test")
        .await;
    let id = app.open_invoice(&t.admin, &client, "Support").await;
    let inv = app.get(&format!("/api/v1/invoices/{id}"), &t.admin).await;
    (id, inv.body["currency"].as_str().unwrap().to_lowercase())
}

/// Stripe's signature header for `body` at `t`, computed as documented.
fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliver_raw(
    app: &TestApp,
    company: &str,
    body: Vec<u8>,
    header: Option<String>,
) -> Response {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/webhooks/stripe/{company}"))
        .header("content-type", "application/json");
    if let Some(h) = header {
        req = req.header("stripe-signature", h);
    }
    app.raw(req.body(Body::from(body)).unwrap()).await
}

/// Delivers `event` signed now with the test secret.
pub(crate) async fn deliver(app: &TestApp, t: &Tenant, event: &Value) -> Response {
    let body = serde_json::to_vec(event).unwrap();
    let h = signature(WEBHOOK_SECRET, app.clock_now().timestamp(), &body);
    deliver_raw(app, &t.id.to_string(), body, Some(h)).await
}

pub(crate) fn checkout_completed(event: &str, invoice: &str, currency: &str, pi: &str) -> Value {
    json!({
        "id": event, "object": "event", "type": "checkout.session.completed",
        "data": {"object": {
            "id": "cs_test_1", "object": "checkout.session", "payment_status": "paid", "status": "complete",
            "payment_intent": pi, "amount_total": 36150, "currency": currency,
            "client_reference_id": invoice, "metadata": {"invoice_id": invoice}
        }}
    })
}

fn intent_succeeded(event: &str, invoice: &str, currency: &str, pi: &str) -> Value {
    json!({
        "id": event, "object": "event", "type": "payment_intent.succeeded",
        "data": {"object": {
            "id": pi, "object": "payment_intent", "status": "succeeded", "amount": 36150,
            "amount_received": 36150, "currency": currency, "metadata": {"invoice_id": invoice}
        }}
    })
}

fn charge_refunded(event: &str, pi: &str, refunded: i64) -> Value {
    json!({
        "id": event, "object": "event", "type": "charge.refunded",
        "data": {"object": {
            "id": "ch_1", "object": "charge", "payment_intent": pi, "amount": 36150,
            "amount_refunded": refunded, "refunded": refunded == 36150, "currency": "usd"
        }}
    })
}

/// A form-encoded body as pairs.
fn form(body: &[u8]) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let b = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(h, 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
    std::str::from_utf8(body)
        .unwrap()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn header(r: &wiremock::Request, name: &str) -> String {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn payments_of(app: &TestApp, invoice: &str) -> i64 {
    app.count(&format!(
        "SELECT count(*) FROM payments WHERE invoice_id = '{invoice}' AND kind = 'payment'"
    ))
    .await
}

// ------------------------------------------------------------ settings ----

#[tokio::test]
async fn settings_are_validated_sealed_and_deleted() {
    let (_mock, app) = stripe_app().await;
    let t = app.tenant("Acme MSP").await;
    let r = app.get("/api/v1/company/stripe", &t.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["has_secret_key"], false);
    assert_eq!(
        r.body["webhook_url"],
        format!("https://msp.example.com/api/v1/webhooks/stripe/{}", t.id)
    );

    // Validation: a publishable key, a bad webhook secret, nothing at all.
    let r = put(
        &app,
        "/api/v1/company/stripe",
        &t.admin,
        json!({"secret_key": "pk_test_abcdefghijklmnop", "webhook_secret": "secret"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(field_code(&r, "secret_key"), "invalid");
    assert_eq!(field_code(&r, "webhook_secret"), "invalid");
    let r = put(&app, "/api/v1/company/stripe", &t.admin, json!({})).await;
    assert_eq!(field_code(&r, "secret_key"), "required");
    let r = put(
        &app,
        "/api/v1/company/stripe",
        &t.admin,
        json!({"secret_key": SECRET_KEY, "extra": 1}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let req = Request::builder()
        .method(Method::PUT)
        .uri("/api/v1/company/stripe")
        .header("authorization", format!("Bearer {}", t.admin))
        .header("content-type", "application/json")
        .body(Body::from("{\"secret_key\": "))
        .unwrap();
    assert!(app.raw(req).await.status.is_client_error());
    assert_eq!(app.count("SELECT count(*) FROM company_stripe").await, 0);

    configure(&app, &t).await;
    let r = app.get("/api/v1/company/stripe", &t.admin).await;
    assert_eq!(r.body["has_secret_key"], true, "{}", r.body);
    // Accountants read whether payment links can be made; techs do not;
    // neither may change it.
    let accountant = app.user(&t, Role::Accountant).await;
    let seen = app.get("/api/v1/company/stripe", &accountant).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(seen.body, r.body);
    assert_eq!(r.body["secret_key_last4"], "1234");
    assert_eq!(r.body["mode"], "test");
    assert_eq!(r.body["has_webhook_secret"], true);
    assert!(!r.body.to_string().contains(SECRET_KEY));
    assert!(!r.body.to_string().contains(WEBHOOK_SECRET));
    // What is stored is sealed, not the keys.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM company_stripe WHERE position('sk_test' in encode(secret_key_enc, 'escape')) > 0 \
             OR position('whsec' in encode(webhook_secret_enc, 'escape')) > 0"
        )
        .await,
        0
    );

    // Omitted keys are kept.
    let r = put(
        &app,
        "/api/v1/company/stripe",
        &t.admin,
        json!({"webhook_secret": "whsec_anothersecret1"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["secret_key_last4"], "1234");

    let r = app.delete("/api/v1/company/stripe", &t.admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.get("/api/v1/company/stripe", &t.admin).await;
    assert_eq!(r.body["has_secret_key"], false);
    let r = app.delete("/api/v1/company/stripe", &t.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn roles_and_tenants() {
    let (_mock, app) = stripe_app().await;
    let t = app.tenant("Acme MSP").await;
    configure(&app, &t).await;
    let (inv, _) = invoice(&app, &t).await;
    let tech = app.user(&t, Role::Tech).await;
    let accountant = app.user(&t, Role::Accountant).await;
    // Accountants read whether payment links can be made; techs do not.
    let r = app.get("/api/v1/company/stripe", &accountant).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.get("/api/v1/company/stripe", &tech).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for token in [&tech, &accountant] {
        let r = put(
            &app,
            "/api/v1/company/stripe",
            token,
            json!({"secret_key": SECRET_KEY}),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = app.delete("/api/v1/company/stripe", token).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    let link = format!("/api/v1/invoices/{inv}/payment-link");
    let r = app.post(&link, &tech, json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.post(&link, &accountant, json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);

    // Tenant B sees none of A's invoices or templates.
    let b = app.tenant("Other MSP").await;
    configure(&app, &b).await;
    let r = app.post(&link, &b.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app.get(&link, &b.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .get(
            &format!("/api/v1/invoices/{inv}/autopay-attempts"),
            &b.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let template = template(&app, &t).await;
    let r = put(
        &app,
        &format!("/api/v1/recurring-invoices/{template}/autopay"),
        &b.admin,
        json!({"customer_id": "cus_1", "payment_method_id": "pm_1"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.count("SELECT count(*) FROM payment_links WHERE company_id <> (SELECT company_id FROM invoices WHERE id = payment_links.invoice_id)").await,
        0
    );
}

// ------------------------------------------------------- payment links ----

#[tokio::test]
async fn payment_link_creates_one_checkout_session() {
    let (mock, app) = stripe_app().await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cs_test_a1", "object": "checkout.session",
            "url": "https://checkout.stripe.com/c/pay/cs_test_a1", "payment_status": "unpaid"
        })))
        .mount(&mock)
        .await;
    let t = app.tenant("Acme MSP").await;
    let (inv, currency) = invoice(&app, &t).await;
    let link_path = format!("/api/v1/invoices/{inv}/payment-link");

    // Not before Stripe is set up; never for a draft.
    let r = app.post(&link_path, &t.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "stripe_not_configured");
    configure(&app, &t).await;
    let client = app.client(&t.admin, "Draft Co").await;
    let draft = app
        .post(
            "/api/v1/invoices",
            &t.admin,
            json!({"client_id": client, "lines": [{"description": "x", "quantity": "1", "unit_price": "5"}]}),
        )
        .await
        .id();
    let r = app
        .post(
            &format!("/api/v1/invoices/{draft}/payment-link"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "not_payable");
    assert_eq!(app.count("SELECT count(*) FROM payment_links").await, 0);

    let r = app.post(&link_path, &t.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["link"]["status"], "pending");
    assert_eq!(r.body["link"]["amount"], "361.50");
    assert!(r.body["job_id"].is_string());
    let link: uuid::Uuid = r.body["link"]["id"].as_str().unwrap().parse().unwrap();

    // Run twice: one session.
    for _ in 0..2 {
        let out = app
            .run_job(PaymentLink { tenant: t.id, link })
            .await
            .unwrap();
        assert_eq!(out["status"], "ready", "{out}");
    }
    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    let req = &reqs[0];
    assert_eq!(header(req, "authorization"), format!("Bearer {SECRET_KEY}"));
    assert_eq!(
        header(req, "idempotency-key"),
        format!("payment-link:{link}")
    );
    assert!(header(req, "content-type").starts_with("application/x-www-form-urlencoded"));
    let f = form(&req.body);
    assert_eq!(f["mode"], "payment");
    assert_eq!(f["line_items[0][price_data][currency]"], currency);
    assert_eq!(f["line_items[0][price_data][unit_amount]"], "36150");
    assert_eq!(f["line_items[0][quantity]"], "1");
    assert!(f["line_items[0][price_data][product_data][name]"].starts_with("Invoice "));
    assert_eq!(f["client_reference_id"], inv);
    assert_eq!(f["metadata[invoice_id]"], inv);
    assert_eq!(f["metadata[company_id]"], t.id.to_string());
    assert_eq!(f["payment_intent_data[metadata][invoice_id]"], inv);
    assert!(f["success_url"].starts_with("https://msp.example.com/"));
    assert!(f["cancel_url"].starts_with("https://msp.example.com/"));

    let r = app.get(&link_path, &t.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "ready");
    assert_eq!(r.body["session_id"], "cs_test_a1");
    assert_eq!(
        r.body["url"],
        "https://checkout.stripe.com/c/pay/cs_test_a1"
    );
}

#[tokio::test]
async fn payment_link_refused_by_stripe_fails_without_retry() {
    let (mock, app) = stripe_app().await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "type": "invalid_request_error", "code": "parameter_invalid_integer",
            "message": "Invalid integer: abc", "param": "line_items[0][price_data][unit_amount]"
        }})))
        .mount(&mock)
        .await;
    let t = app.tenant("Acme MSP").await;
    configure(&app, &t).await;
    let (inv, _) = invoice(&app, &t).await;
    let r = app
        .post(
            &format!("/api/v1/invoices/{inv}/payment-link"),
            &t.admin,
            json!({}),
        )
        .await;
    let link: uuid::Uuid = r.body["link"]["id"].as_str().unwrap().parse().unwrap();
    let out = app
        .run_job(PaymentLink { tenant: t.id, link })
        .await
        .unwrap();
    assert_eq!(out["status"], "failed");
    let r = app
        .get(&format!("/api/v1/invoices/{inv}/payment-link"), &t.admin)
        .await;
    assert_eq!(r.body["status"], "failed");
    assert!(
        r.body["error"]
            .as_str()
            .unwrap()
            .contains("Invalid integer")
    );
}

// -------------------------------------------------------------- events ----

#[tokio::test]
async fn signatures_are_checked() {
    let (_mock, app) = stripe_app().await;
    let t = app.tenant("Acme MSP").await;
    configure(&app, &t).await;
    let (inv, currency) = invoice(&app, &t).await;
    let company = t.id.to_string();
    let event = checkout_completed("evt_1", &inv, &currency, "pi_1");
    let body = serde_json::to_vec(&event).unwrap();
    let now = app.clock_now().timestamp();

    // Tampered body: signed one amount, sent another.
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("36150", "99999");
    let refused = [
        // No header at all.
        deliver_raw(&app, &company, body.clone(), None).await,
        // Signed with another secret.
        deliver_raw(
            &app,
            &company,
            body.clone(),
            Some(signature("whsec_wrongsecret", now, &body)),
        )
        .await,
        // The body changed after signing.
        deliver_raw(
            &app,
            &company,
            tampered.into_bytes(),
            Some(signature(WEBHOOK_SECRET, now, &body)),
        )
        .await,
        // Signed longer ago than the tolerance (five minutes).
        deliver_raw(
            &app,
            &company,
            body.clone(),
            Some(signature(WEBHOOK_SECRET, now - 301, &body)),
        )
        .await,
        // Malformed headers.
        deliver_raw(&app, &company, body.clone(), Some("garbage".into())).await,
        deliver_raw(&app, &company, body.clone(), Some(format!("t={now},v1=zz"))).await,
        // A company that does not exist: the same answer.
        deliver_raw(
            &app,
            &uuid::Uuid::now_v7().to_string(),
            body.clone(),
            Some(signature(WEBHOOK_SECRET, now, &body)),
        )
        .await,
    ];
    for r in &refused {
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(r.error_code(), "invalid_signature");
    }
    // Correctly signed but not JSON; and a body over 1 MiB.
    let junk = b"{not json".to_vec();
    let r = deliver_raw(
        &app,
        &company,
        junk.clone(),
        Some(signature(WEBHOOK_SECRET, now, &junk)),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let huge = vec![b' '; 2 * 1024 * 1024];
    let r = deliver_raw(
        &app,
        &company,
        huge.clone(),
        Some(signature(WEBHOOK_SECRET, now, &huge)),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    // Signed JSON that is no event.
    let empty = br#"{"data": 1}"#.to_vec();
    let r = deliver_raw(
        &app,
        &company,
        empty.clone(),
        Some(signature(WEBHOOK_SECRET, now, &empty)),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(app.count("SELECT count(*) FROM stripe_events").await, 0);
    assert_eq!(payments_of(&app, &inv).await, 0);

    // A signature made now is refused once our clock is six minutes on.
    let h = signature(WEBHOOK_SECRET, now, &body);
    app.clock.advance(chrono::Duration::minutes(6));
    let r = deliver_raw(&app, &company, body.clone(), Some(h)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Signed now, with a stale v1 beside the right one: accepted.
    let now = app.clock_now().timestamp();
    let good = signature(WEBHOOK_SECRET, now, &body);
    let both = format!(
        "t={now},v1={},{}",
        "0".repeat(64),
        &good[good.find("v1=").unwrap()..]
    );
    let r = deliver_raw(&app, &company, body.clone(), Some(both)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["outcome"], "recorded");
    assert_eq!(payments_of(&app, &inv).await, 1);

    // A company without a webhook secret refuses everything.
    let b = app.tenant("Other MSP").await;
    let r = deliver_raw(
        &app,
        &b.id.to_string(),
        body.clone(),
        Some(signature(WEBHOOK_SECRET, now, &body)),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "invalid_signature");
}

#[tokio::test]
async fn one_payment_per_event_and_per_payment_intent() {
    let (_mock, app) = stripe_app().await;
    let t = app.tenant("Acme MSP").await;
    configure(&app, &t).await;
    let (inv, currency) = invoice(&app, &t).await;
    let event = checkout_completed("evt_cs_1", &inv, &currency, "pi_abc");
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let r = deliver(&app, &t, &event).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        outcomes.push(r.body["outcome"].as_str().unwrap().to_owned());
    }
    assert_eq!(outcomes, ["recorded", "duplicate", "duplicate"]);
    assert_eq!(payments_of(&app, &inv).await, 1);
    // The PaymentIntent's own event names the same payment: nothing more.
    let r = deliver(
        &app,
        &t,
        &intent_succeeded("evt_pi_1", &inv, &currency, "pi_abc"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["outcome"], "already_recorded");
    assert_eq!(payments_of(&app, &inv).await, 1);
    let i = app.get(&format!("/api/v1/invoices/{inv}"), &t.admin).await;
    assert_eq!(i.body["status"], "paid", "{}", i.body);
    let p = app
        .get(&format!("/api/v1/payments?invoice_id={inv}"), &t.admin)
        .await;
    assert!(
        p.body["data"][0]["amount"]
            .as_str()
            .unwrap()
            .starts_with("361.50"),
        "{}",
        p.body
    );
    assert_eq!(p.body["data"][0]["method"], "card");
    assert_eq!(app.count("SELECT count(*) FROM stripe_events").await, 2);

    // An event for an invoice that is not this tenant's is acknowledged,
    // and records nothing.
    let b = app.tenant("Other MSP").await;
    configure(&app, &b).await;
    let r = deliver(
        &app,
        &b,
        &intent_succeeded("evt_pi_x", &inv, &currency, "pi_other"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["outcome"], "unmatched");
    assert_eq!(payments_of(&app, &inv).await, 1);
}

#[tokio::test]
async fn refunds_are_recorded_once() {
    let (_mock, app) = stripe_app().await;
    let t = app.tenant("Acme MSP").await;
    configure(&app, &t).await;
    let (inv, currency) = invoice(&app, &t).await;
    let r = deliver(
        &app,
        &t,
        &intent_succeeded("evt_1", &inv, &currency, "pi_r"),
    )
    .await;
    assert_eq!(r.body["outcome"], "recorded", "{}", r.body);
    let refunds_sql =
        format!("SELECT count(*) FROM payments WHERE invoice_id = '{inv}' AND kind = 'refund'");
    let refunds = || app.count(&refunds_sql);
    // 100.00 refunded, delivered twice; then the same total in another event.
    for _ in 0..2 {
        let r = deliver(&app, &t, &charge_refunded("evt_r1", "pi_r", 10000)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = deliver(&app, &t, &charge_refunded("evt_r1b", "pi_r", 10000)).await;
    assert_eq!(r.body["outcome"], "already_recorded", "{}", r.body);
    assert_eq!(refunds().await, 1);
    let i = app.get(&format!("/api/v1/invoices/{inv}"), &t.admin).await;
    assert_eq!(i.body["balance"], "100.00", "{}", i.body);
    // 50.00 more (cumulative 150.00).
    let r = deliver(&app, &t, &charge_refunded("evt_r2", "pi_r", 15000)).await;
    assert_eq!(r.body["outcome"], "refunded", "{}", r.body);
    assert_eq!(refunds().await, 2);
    let i = app.get(&format!("/api/v1/invoices/{inv}"), &t.admin).await;
    assert_eq!(i.body["balance"], "150.00", "{}", i.body);
}

#[tokio::test]
async fn unknown_events_are_acknowledged_and_ignored() {
    let (_mock, app) = stripe_app().await;
    let t = app.tenant("Acme MSP").await;
    configure(&app, &t).await;
    let r = deliver(
        &app,
        &t,
        &json!({"id": "evt_u", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["received"], true);
    assert_eq!(r.body["ignored"], true);
    assert_eq!(app.count("SELECT count(*) FROM payments").await, 0);
}

// ------------------------------------------------------------- autopay ----

async fn template(app: &TestApp, t: &Tenant) -> String {
    let client = app.client(&t.admin, "Template Co").await;
    let r = app
        .post(
            "/api/v1/recurring-invoices",
            &t.admin,
            json!({"client_id": client, "name": "Monthly", "frequency": {"unit": "months", "every": 1},
                   "start_date": "2026-01-01", "lines": [{"description": "Support", "quantity": "1", "unit_price": "10"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

/// An open invoice of 361.50 billed from a template with autopay, due today.
async fn autopay_invoice(app: &TestApp, t: &Tenant) -> (String, String) {
    configure(app, t).await;
    let template = template(app, t).await;
    let r = put(
        app,
        &format!("/api/v1/recurring-invoices/{template}/autopay"),
        &t.admin,
        json!({"customer_id": "cus_Abc123", "payment_method_id": "pm_Card42"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (inv, currency) = invoice(app, t).await;
    let today = app.clock_now().date_naive();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE invoices SET recurring_id = '{template}', due_date = '{today}' WHERE id = '{inv}'"
    )))
    .execute(&app.owner)
    .await
    .unwrap();
    (inv, currency)
}

fn intents() -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(path("/v1/payment_intents"))
}

fn succeeded(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": id, "object": "payment_intent", "status": "succeeded", "amount": 36150, "amount_received": 36150
    }))
}

#[tokio::test]
async fn autopay_validation() {
    let (_mock, app) = stripe_app().await;
    let t = app.tenant("Acme MSP").await;
    let template = template(&app, &t).await;
    let path = format!("/api/v1/recurring-invoices/{template}/autopay");
    let r = put(
        &app,
        &path,
        &t.admin,
        json!({"customer_id": "acme", "payment_method_id": "card_1"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(field_code(&r, "customer_id"), "invalid");
    assert_eq!(field_code(&r, "payment_method_id"), "invalid");
    let tech = app.user(&t, Role::Tech).await;
    let r = put(
        &app,
        &path,
        &tech,
        json!({"customer_id": "cus_1", "payment_method_id": "pm_1"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) FROM autopay_methods").await, 0);
    let r = app.delete(&path, &t.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = put(
        &app,
        &path,
        &t.admin,
        json!({"customer_id": "cus_1", "payment_method_id": "pm_1"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.delete(&path, &t.admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn autopay_charges_once_on_the_due_date() {
    let (mock, app) = stripe_app().await;
    intents()
        .respond_with(succeeded("pi_auto1"))
        .mount(&mock)
        .await;
    let t = app.tenant("Acme MSP").await;
    let (inv, currency) = autopay_invoice(&app, &t).await;
    // Not due yet: nothing is charged.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE invoices SET due_date = due_date + 1 WHERE id = '{inv}'"
    )))
    .execute(&app.owner)
    .await
    .unwrap();
    let out = app.run_job(Autopay { tenant: t.id }).await.unwrap();
    assert_eq!(out["attempts"], 0, "{out}");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE invoices SET due_date = due_date - 1 WHERE id = '{inv}'"
    )))
    .execute(&app.owner)
    .await
    .unwrap();

    let out = app.run_job(Autopay { tenant: t.id }).await.unwrap();
    assert_eq!(out["paid"], 1, "{out}");
    let out = app.run_job(Autopay { tenant: t.id }).await.unwrap();
    assert_eq!(out["attempts"], 0, "{out}");
    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        header(&reqs[0], "idempotency-key"),
        format!("autopay:{inv}:1")
    );
    assert_eq!(
        header(&reqs[0], "authorization"),
        format!("Bearer {SECRET_KEY}")
    );
    let f = form(&reqs[0].body);
    assert_eq!(f["amount"], "36150");
    assert_eq!(f["currency"], currency);
    assert_eq!(f["customer"], "cus_Abc123");
    assert_eq!(f["payment_method"], "pm_Card42");
    assert_eq!(f["off_session"], "true");
    assert_eq!(f["confirm"], "true");
    assert_eq!(f["metadata[invoice_id]"], inv);
    assert_eq!(payments_of(&app, &inv).await, 1);
    // Stripe's event for the same PaymentIntent adds nothing.
    let r = deliver(
        &app,
        &t,
        &intent_succeeded("evt_auto", &inv, &currency, "pi_auto1"),
    )
    .await;
    assert_eq!(r.body["outcome"], "already_recorded", "{}", r.body);
    assert_eq!(payments_of(&app, &inv).await, 1);
    let r = app
        .get(
            &format!("/api/v1/invoices/{inv}/autopay-attempts"),
            &t.admin,
        )
        .await;
    assert_eq!(r.body[0]["status"], "succeeded", "{}", r.body);
    assert_eq!(r.body[0]["payment_intent_id"], "pi_auto1");
}

#[tokio::test]
async fn autopay_decline_retries_on_schedule_and_notifies() {
    let (mock, app) = stripe_app().await;
    intents()
        .respond_with(ResponseTemplate::new(402).set_body_json(json!({"error": {
            "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "payment_intent": {"id": "pi_declined", "status": "requires_payment_method"}
        }})))
        .mount(&mock)
        .await;
    let t = app.tenant("Acme MSP").await;
    let (inv, _) = autopay_invoice(&app, &t).await;
    let today = app.clock_now().date_naive();
    let out = app.run_job(Autopay { tenant: t.id }).await.unwrap();
    assert_eq!(out["failed"], 1, "{out}");
    // The same day again: no new attempt.
    let out = app.run_job(Autopay { tenant: t.id }).await.unwrap();
    assert_eq!(out["attempts"], 0, "{out}");
    assert_eq!(mock.received_requests().await.unwrap().len(), 1);
    let r = app
        .get(
            &format!("/api/v1/invoices/{inv}/autopay-attempts"),
            &t.admin,
        )
        .await;
    assert_eq!(r.body[0]["status"], "failed", "{}", r.body);
    assert_eq!(r.body[0]["error_code"], "insufficient_funds");
    assert_eq!(
        r.body[0]["next_attempt_on"],
        (today + chrono::Duration::days(1)).to_string()
    );
    let mails = |n: i64| {
        let app = &app;
        async move {
            assert_eq!(
                app.count(
                    "SELECT count(*) FROM mail_messages WHERE template = 'payment_failed' \
                           AND recipients = ARRAY['billing@acme.test']"
                )
                .await,
                n
            );
        }
    };
    mails(1).await;

    // A day later: attempt 2, with its own key; then +3 days, +7 days, then no more.
    let mut expected = vec![format!("autopay:{inv}:1")];
    for (attempt, wait) in [(2, 1), (3, 3), (4, 7)] {
        app.clock.advance(chrono::Duration::days(wait));
        let out = app.run_job(Autopay { tenant: t.id }).await.unwrap();
        assert_eq!(out["failed"], 1, "attempt {attempt}: {out}");
        expected.push(format!("autopay:{inv}:{attempt}"));
    }
    app.clock.advance(chrono::Duration::days(30));
    let out = app.run_job(Autopay { tenant: t.id }).await.unwrap();
    assert_eq!(out["attempts"], 0, "{out}");
    let keys: Vec<String> = mock
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| header(r, "idempotency-key"))
        .collect();
    assert_eq!(keys, expected);
    mails(4).await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM autopay_attempts WHERE invoice_id = '{inv}' AND next_attempt_on IS NULL"
        ))
        .await,
        1
    );
    assert_eq!(payments_of(&app, &inv).await, 0);
}

#[tokio::test]
async fn autopay_retried_after_a_timeout_sends_the_same_key() {
    let (mock, app) = stripe_app().await;
    // The first answer comes after the client gave up (timeout 500 ms).
    intents()
        .respond_with(succeeded("pi_slow").set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&mock)
        .await;
    intents()
        .respond_with(succeeded("pi_slow"))
        .with_priority(2)
        .mount(&mock)
        .await;
    let t = app.tenant("Acme MSP").await;
    let (inv, _) = autopay_invoice(&app, &t).await;
    let err = app.run_job(Autopay { tenant: t.id }).await.unwrap_err();
    assert!(err.retryable, "{err}");
    assert_eq!(payments_of(&app, &inv).await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM autopay_attempts WHERE status = 'pending'")
            .await,
        1
    );
    let out = app.run_job(Autopay { tenant: t.id }).await.unwrap();
    assert_eq!(out["paid"], 1, "{out}");
    let reqs = mock.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    let key = format!("autopay:{inv}:1");
    assert_eq!(header(&reqs[0], "idempotency-key"), key);
    assert_eq!(header(&reqs[1], "idempotency-key"), key);
    assert_eq!(reqs[0].body, reqs[1].body);
    assert_eq!(payments_of(&app, &inv).await, 1);
    assert_eq!(app.count("SELECT count(*) FROM autopay_attempts").await, 1);
}

#[tokio::test]
async fn autopay_leaves_an_attempt_older_than_its_key_to_stripes_event() {
    let (mock, app) = stripe_app().await;
    intents()
        .respond_with(succeeded("pi_lost").set_delay(Duration::from_secs(3)))
        .mount(&mock)
        .await;
    let t = app.tenant("Acme MSP").await;
    let (inv, currency) = autopay_invoice(&app, &t).await;
    assert!(app.run_job(Autopay { tenant: t.id }).await.is_err());
    // A day later Stripe may have forgotten the key: no resend.
    app.clock.advance(chrono::Duration::hours(21));
    let out = app.run_job(Autopay { tenant: t.id }).await.unwrap();
    assert_eq!(out["attempts"], 0, "{out}");
    assert_eq!(out["stale"], 1, "{out}");
    assert_eq!(mock.received_requests().await.unwrap().len(), 1);
    // Stripe's event settles it.
    let r = deliver(
        &app,
        &t,
        &intent_succeeded("evt_lost", &inv, &currency, "pi_lost"),
    )
    .await;
    assert_eq!(r.body["outcome"], "recorded", "{}", r.body);
    assert_eq!(payments_of(&app, &inv).await, 1);
}
