//! A local stand-in for Stripe's Checkout, for the browser tests: it speaks
//! Stripe's wire format where Nestogy calls it (`POST /v1/checkout/sessions`,
//! form-encoded, answered with the session's JSON and its `url`), serves
//! that url as a page with a Pay button, and on Pay posts the signed
//! `checkout.session.completed` event to the tenant's webhook, as Stripe
//! does, then sends the browser to the session's `success_url`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

/// One Checkout Session as the stand-in keeps it.
#[derive(Debug, Clone)]
struct Session {
    fields: HashMap<String, String>,
    paid: bool,
}

#[derive(Clone)]
struct Shared {
    /// Where the stand-in itself is served.
    base: Arc<Mutex<String>>,
    /// Where Nestogy is served: the events go to its webhook.
    site: Arc<Mutex<String>>,
    webhook_secret: String,
    sessions: Arc<Mutex<HashMap<String, Session>>>,
}

/// The stand-in, running; stops when dropped.
pub(crate) struct Checkout {
    pub(crate) base: String,
    shared: Shared,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Checkout {
    /// Starts the stand-in on loopback; events are signed with
    /// `webhook_secret`.
    pub(crate) async fn start(webhook_secret: &str) -> Checkout {
        let shared = Shared {
            base: Arc::default(),
            site: Arc::default(),
            webhook_secret: webhook_secret.to_owned(),
            sessions: Arc::default(),
        };
        let router = Router::new()
            .route("/v1/checkout/sessions", post(create_session))
            .route("/pay/{id}", get(pay_page).post(pay))
            .with_state(shared.clone());
        let (base, stop) = crate::common::serve(router).await;
        *shared.base.lock().unwrap() = base.clone();
        Checkout {
            base,
            shared,
            _stop: stop,
        }
    }

    /// Where the events go: Nestogy's address.
    pub(crate) fn deliver_to(&self, site: &str) {
        *self.shared.site.lock().unwrap() = site.to_owned();
    }

    /// How many sessions were paid.
    pub(crate) fn paid(&self) -> usize {
        self.shared
            .sessions
            .lock()
            .unwrap()
            .values()
            .filter(|s| s.paid)
            .count()
    }
}

async fn create_session(State(s): State<Shared>, body: axum::body::Bytes) -> Response {
    let fields: HashMap<String, String> = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": {"type": "invalid_request_error", "message": "unreadable form"}})),
            )
                .into_response();
        }
    };
    let id = format!("cs_test_{}", uuid::Uuid::now_v7().simple());
    let url = format!("{}/pay/{id}", s.base.lock().unwrap());
    s.sessions.lock().unwrap().insert(
        id.clone(),
        Session {
            fields,
            paid: false,
        },
    );
    axum::Json(json!({
        "id": id, "object": "checkout.session", "url": url,
        "payment_status": "unpaid", "status": "open"
    }))
    .into_response()
}

fn session(s: &Shared, id: &str) -> Option<Session> {
    s.sessions.lock().unwrap().get(id).cloned()
}

async fn pay_page(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(sess) = session(&s, &id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let f = &sess.fields;
    let amount = f
        .get("line_items[0][price_data][unit_amount]")
        .cloned()
        .unwrap_or_default();
    let currency = f
        .get("line_items[0][price_data][currency]")
        .cloned()
        .unwrap_or_default();
    let name = f
        .get("line_items[0][price_data][product_data][name]")
        .cloned()
        .unwrap_or_default();
    Html(format!(
        "<!doctype html><html><head><title>Checkout stand-in</title></head><body>\
         <h1>Pay {name}</h1><p id=\"amount\">{amount} {currency} (minor units)</p>\
         <form method=\"post\" action=\"/pay/{id}\"><button id=\"pay\" type=\"submit\">Pay</button></form>\
         </body></html>"
    ))
    .into_response()
}

/// Stripe's signature header for `body` at `t`, as documented:
/// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn pay(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(sess) = session(&s, &id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let f = &sess.fields;
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let amount: i64 = get("line_items[0][price_data][unit_amount]")
        .parse()
        .unwrap_or_default();
    let event = json!({
        "id": format!("evt_{}", uuid::Uuid::now_v7().simple()), "object": "event",
        "type": "checkout.session.completed",
        "data": {"object": {
            "id": id, "object": "checkout.session", "payment_status": "paid", "status": "complete",
            "payment_intent": format!("pi_{}", uuid::Uuid::now_v7().simple()),
            "amount_total": amount, "currency": get("line_items[0][price_data][currency]"),
            "client_reference_id": get("client_reference_id"),
            "metadata": {
                "invoice_id": get("metadata[invoice_id]"),
                "company_id": get("metadata[company_id]"),
                "payment_link_id": get("metadata[payment_link_id]"),
            }
        }}
    });
    let body = serde_json::to_vec(&event).expect("json");
    let t = chrono::Utc::now().timestamp();
    let site = s.site.lock().unwrap().clone();
    let company = get("metadata[company_id]");
    let answer = reqwest::Client::new()
        .post(format!("{site}/api/v1/webhooks/stripe/{company}"))
        .header("content-type", "application/json")
        .header("stripe-signature", signature(&s.webhook_secret, t, &body))
        .body(body)
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            return (
                StatusCode::BAD_GATEWAY,
                format!("the webhook answered {status}: {text}"),
            )
                .into_response();
        }
        Err(e) => {
            return (StatusCode::BAD_GATEWAY, format!("the webhook failed: {e}")).into_response();
        }
    }
    if let Some(x) = s.sessions.lock().unwrap().get_mut(&id) {
        x.paid = true;
    }
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, get("success_url"))],
    )
        .into_response()
}
