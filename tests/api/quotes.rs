use axum::http::StatusCode;
use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn quotes_send_accept_convert_and_expire() {
    let app = TestApp::new().await;
    let t = app.tenant("Quote Co").await;
    let client = app.client(&t.admin, "Acme").await;
    app.post(
        &format!("/api/v1/clients/{client}/contacts"),
        &t.admin,
        json!({"name": "Ann", "email": "ann@acme.example", "is_billing": true}),
    )
    .await;
    let vat = app
        .post(
            "/api/v1/tax-rates",
            &t.admin,
            json!({"name": "VAT", "percent": "19"}),
        )
        .await
        .id();
    let body = json!({"client_id": client, "lines": [{"description": "Firewall", "quantity": "2", "unit_price": "450", "tax_rate_ids": [vat]}]});
    let q = app.post("/api/v1/quotes", &t.admin, body.clone()).await;
    assert_eq!(q.status, StatusCode::CREATED, "{}", q.body);
    assert_eq!(q.body["status"], "draft");
    assert!(q.body["number"].is_null());
    assert_eq!(q.body["valid_until"], "2026-03-31", "30 days by default");
    assert_eq!(q.body["total"], "1071.00");
    let id = q.id();

    let sent = app
        .post(&format!("/api/v1/quotes/{id}/send"), &t.admin, json!({}))
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    assert_eq!(sent.body["quote"]["number"], "QUO-2026-000001");
    assert_eq!(sent.body["quote"]["status"], "sent");
    assert_eq!(sent.body["mail"]["recipients"], json!(["ann@acme.example"]));
    let put = app
        .call(
            axum::http::Method::PUT,
            &format!("/api/v1/quotes/{id}"),
            Some(&t.admin),
            Some(body.clone()),
        )
        .await;
    assert_eq!(put.status, StatusCode::CONFLICT);

    let accepted = app
        .post(&format!("/api/v1/quotes/{id}/accept"), &t.admin, json!({}))
        .await;
    assert_eq!(accepted.body["status"], "accepted");
    assert_eq!(
        app.post(&format!("/api/v1/quotes/{id}/decline"), &t.admin, json!({}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let converted = app
        .post(&format!("/api/v1/quotes/{id}/convert"), &t.admin, json!({}))
        .await;
    assert_eq!(converted.status, StatusCode::CREATED, "{}", converted.body);
    assert_eq!(converted.body["quote"]["status"], "converted");
    let invoice = converted.body["invoice"]["id"].as_str().unwrap();
    assert_eq!(converted.body["quote"]["invoice_id"], invoice);
    assert_eq!(converted.body["invoice"]["total"], "1071.00");
    assert_eq!(converted.body["invoice"]["status"], "draft");
    let linked: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT quote_id FROM invoices WHERE id = $1::uuid")
            .bind(invoice)
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(linked.map(|u| u.to_string()), Some(id.clone()));
    assert_eq!(
        app.post(&format!("/api/v1/quotes/{id}/convert"), &t.admin, json!({}))
            .await
            .status,
        StatusCode::CONFLICT
    );

    // A quote past its validity cannot be accepted; it expires.
    let mut short = body.clone();
    short["issue_date"] = json!("2026-02-01");
    short["valid_until"] = json!("2026-02-15");
    let old = app.post("/api/v1/quotes", &t.admin, short).await.id();
    assert_eq!(
        app.post(&format!("/api/v1/quotes/{old}/send"), &t.admin, json!({}))
            .await
            .body["quote"]["number"],
        "QUO-2026-000002"
    );
    let late = app
        .post(&format!("/api/v1/quotes/{old}/accept"), &t.admin, json!({}))
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.error_code(), "quote_expired");
    assert_eq!(
        app.get(&format!("/api/v1/quotes/{old}"), &t.admin)
            .await
            .body["status"],
        "expired"
    );

    // Declining, and the daily job expiring what is left.
    let d = app
        .post("/api/v1/quotes", &t.admin, body.clone())
        .await
        .id();
    app.post(&format!("/api/v1/quotes/{d}/send"), &t.admin, json!({}))
        .await;
    assert_eq!(
        app.post(&format!("/api/v1/quotes/{d}/decline"), &t.admin, json!({}))
            .await
            .body["status"],
        "declined"
    );
    let mut stale = body.clone();
    stale["issue_date"] = json!("2026-01-01");
    stale["valid_until"] = json!("2026-01-31");
    let e = app.post("/api/v1/quotes", &t.admin, stale).await.id();
    app.post(&format!("/api/v1/quotes/{e}/send"), &t.admin, json!({}))
        .await;
    use nestogy_jobs::Job;
    let meta = nestogy_jobs::JobMeta {
        id: nestogy_domain::JobId::new(),
        attempt: 1,
    };
    let r = nestogy_jobs::billing::MarkOverdue { tenant: t.id }
        .run(app.jobs(), meta)
        .await
        .unwrap();
    assert_eq!(r["quotes_expired"], 1);
    assert_eq!(
        app.get(&format!("/api/v1/quotes/{e}"), &t.admin).await.body["status"],
        "expired"
    );

    let bad = app
        .post("/api/v1/quotes", &t.admin, json!({"client_id": client, "issue_date": "2026-03-10", "valid_until": "2026-03-01", "lines": []}))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/api/v1/quotes", &t.admin).await.body["total"], 4);
}
