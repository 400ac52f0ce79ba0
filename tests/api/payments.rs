use axum::http::StatusCode;
use serde_json::json;

use crate::common::{Tenant, TestApp};

async fn finalized(
    app: &TestApp,
    t: &Tenant,
    client: &str,
    amount: &str,
    issue_date: &str,
) -> (String, String) {
    let id = app
        .post(
            "/api/v1/invoices",
            &t.admin,
            json!({"client_id": client, "issue_date": issue_date,
                   "lines": [{"description": "Services", "quantity": "1", "unit_price": amount}]}),
        )
        .await
        .id();
    let f = app
        .post(
            &format!("/api/v1/invoices/{id}/finalize"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.body);
    (id, f.body["number"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn payments_overpayment_credit_and_refunds() {
    let app = TestApp::new().await;
    let t = app.tenant("Pay Co").await;
    let client = app.client(&t.admin, "Acme").await;
    let (a, _) = finalized(&app, &t, &client, "100.00", "2026-02-01").await;
    let (b, _) = finalized(&app, &t, &client, "50.00", "2026-02-10").await;

    let first = app
        .post(
            &format!("/api/v1/invoices/{a}/payments"),
            &t.admin,
            json!({"amount": "30.00", "method": "bank_transfer", "reference": "TX-1"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["invoice"]["status"], "partially_paid");
    assert_eq!(first.body["invoice"]["balance"], "70.00");
    assert_eq!(first.body["credited"], "0.00");

    // 90 pays the 70 left; 20 becomes credit.
    let second = app
        .post(
            &format!("/api/v1/invoices/{a}/payments"),
            &t.admin,
            json!({"amount": "90", "method": "card"}),
        )
        .await;
    assert_eq!(second.body["invoice"]["status"], "paid");
    assert_eq!(second.body["invoice"]["balance"], "0.00");
    assert_eq!(second.body["credited"], "20.00");
    let credit = app
        .get(&format!("/api/v1/clients/{client}/credit"), &t.admin)
        .await;
    assert_eq!(credit.body, json!([{"currency": "EUR", "amount": "20.00"}]));

    // The credit pays part of the next invoice, once.
    let applied = app
        .post(
            &format!("/api/v1/invoices/{b}/apply-credit"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert_eq!(applied.body["balance"], "30.00");
    assert_eq!(applied.body["status"], "partially_paid");
    assert_eq!(
        app.get(&format!("/api/v1/clients/{client}/credit"), &t.admin)
            .await
            .body,
        json!([])
    );
    let none_left = app
        .post(
            &format!("/api/v1/invoices/{b}/apply-credit"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(none_left.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Refunds give back what a payment applied, no more.
    let pid = first.body["payment"]["id"].as_str().unwrap();
    let too_much = app
        .post(
            &format!("/api/v1/payments/{pid}/refund"),
            &t.admin,
            json!({"amount": "31"}),
        )
        .await;
    assert_eq!(too_much.status, StatusCode::UNPROCESSABLE_ENTITY);
    let refund = app
        .post(
            &format!("/api/v1/payments/{pid}/refund"),
            &t.admin,
            json!({"amount": "10"}),
        )
        .await;
    assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.body);
    assert_eq!(refund.body["invoice"]["status"], "partially_paid");
    assert_eq!(refund.body["invoice"]["balance"], "10.00");
    let rest = app
        .post(
            &format!("/api/v1/payments/{pid}/refund"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(rest.body["payment"]["amount"], "20.00");
    assert_eq!(rest.body["invoice"]["balance"], "30.00");
    assert_eq!(
        app.post(
            &format!("/api/v1/payments/{pid}/refund"),
            &t.admin,
            json!({})
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let listed = app
        .get(&format!("/api/v1/payments?invoice_id={a}"), &t.admin)
        .await;
    assert_eq!(listed.body["total"], 4);
    // Listed amounts show the currency's digits, as one payment does.
    for p in listed.body["data"].as_array().unwrap() {
        for field in ["amount", "applied"] {
            let shown = p[field].as_str().unwrap();
            assert_eq!(
                shown.split_once('.').map(|(_, d)| d.len()),
                Some(2),
                "{field} {shown}"
            );
        }
    }

    // Paid invoices cannot be voided while they hold payments.
    assert_eq!(
        app.post(&format!("/api/v1/invoices/{a}/void"), &t.admin, json!({}))
            .await
            .status,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn payments_are_validated() {
    let app = TestApp::new().await;
    let t = app.tenant("Careful Co").await;
    let client = app.client(&t.admin, "Acme").await;
    let draft = app
        .post("/api/v1/invoices", &t.admin, json!({"client_id": client, "lines": [{"description": "x", "quantity": "1", "unit_price": "5"}]}))
        .await
        .id();
    let on_draft = app
        .post(
            &format!("/api/v1/invoices/{draft}/payments"),
            &t.admin,
            json!({"amount": "5", "method": "cash"}),
        )
        .await;
    assert_eq!(on_draft.status, StatusCode::CONFLICT);
    let (inv, _) = finalized(&app, &t, &client, "10", "2026-02-01").await;
    for (body, field) in [
        (json!({"amount": "0", "method": "cash"}), "amount"),
        (json!({"amount": "-5", "method": "cash"}), "amount"),
        (json!({"amount": "1.001", "method": "cash"}), "amount"),
        (json!({"amount": "1", "method": "credit"}), "method"),
    ] {
        let r = app
            .post(
                &format!("/api/v1/invoices/{inv}/payments"),
                &t.admin,
                body.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            r.body["error"]["details"]["fields"][0]["field"], field,
            "{body}"
        );
    }
    let bad_method = app
        .post(
            &format!("/api/v1/invoices/{inv}/payments"),
            &t.admin,
            json!({"amount": "1", "method": "gold"}),
        )
        .await;
    assert_eq!(bad_method.status, StatusCode::UNPROCESSABLE_ENTITY);
    let void = app
        .post(&format!("/api/v1/invoices/{inv}/void"), &t.admin, json!({}))
        .await;
    assert_eq!(void.status, StatusCode::OK);
    let on_void = app
        .post(
            &format!("/api/v1/invoices/{inv}/payments"),
            &t.admin,
            json!({"amount": "5", "method": "cash"}),
        )
        .await;
    assert_eq!(on_void.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_statement_of_account_with_running_balances() {
    let app = TestApp::new().await;
    let t = app.tenant("Statement Co").await;
    let client = app.client(&t.admin, "Acme").await;
    let (jan, jan_no) = finalized(&app, &t, &client, "100.00", "2026-01-15").await;
    app.post(
        &format!("/api/v1/invoices/{jan}/payments"),
        &t.admin,
        json!({"amount": "100", "method": "card", "paid_on": "2026-01-20"}),
    )
    .await;
    let (feb, feb_no) = finalized(&app, &t, &client, "80.00", "2026-02-05").await;
    let p = app
        .post(
            &format!("/api/v1/invoices/{feb}/payments"),
            &t.admin,
            json!({"amount": "50", "method": "card", "paid_on": "2026-02-10", "reference": "P-2"}),
        )
        .await;
    let pid = p.body["payment"]["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/payments/{pid}/refund"),
        &t.admin,
        json!({"amount": "5", "paid_on": "2026-02-12", "reference": "R-1"}),
    )
    .await;
    let (voided, _) = finalized(&app, &t, &client, "999.00", "2026-02-07").await;
    app.post(
        &format!("/api/v1/invoices/{voided}/void"),
        &t.admin,
        json!({}),
    )
    .await;
    // Another currency stays out of a EUR statement.
    let usd = app
        .post("/api/v1/invoices", &t.admin, json!({"client_id": client, "currency": "USD", "issue_date": "2026-02-08", "lines": [{"description": "x", "quantity": "1", "unit_price": "7"}]}))
        .await
        .id();
    app.post(
        &format!("/api/v1/invoices/{usd}/finalize"),
        &t.admin,
        json!({}),
    )
    .await;

    let s = app
        .get(
            &format!("/api/v1/clients/{client}/statement?from=2026-02-01&to=2026-02-28"),
            &t.admin,
        )
        .await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.body);
    assert_eq!(s.body["currency"], "EUR");
    assert_eq!(s.body["opening_balance"], "0.00", "January was settled");
    let entries: Vec<(String, String, String)> = s.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["amount"].as_str().unwrap().to_owned(),
                e["balance"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("invoice".to_owned(), "80.00".to_owned(), "80.00".to_owned()),
            (
                "payment".to_owned(),
                "-50.00".to_owned(),
                "30.00".to_owned()
            ),
            ("refund".to_owned(), "5.00".to_owned(), "35.00".to_owned()),
        ]
    );
    assert_eq!(s.body["entries"][0]["reference"], feb_no.as_str());
    assert_eq!(s.body["closing_balance"], "35.00");

    let all = app
        .get(
            &format!("/api/v1/clients/{client}/statement?from=2026-01-01&to=2026-01-31"),
            &t.admin,
        )
        .await;
    assert_eq!(all.body["entries"][0]["reference"], jan_no.as_str());
    assert_eq!(all.body["closing_balance"], "0.00");
    let usd_statement = app
        .get(
            &format!(
                "/api/v1/clients/{client}/statement?from=2026-02-01&to=2026-02-28&currency=USD"
            ),
            &t.admin,
        )
        .await;
    assert_eq!(usd_statement.body["closing_balance"], "7.00");
    let backwards = app
        .get(
            &format!("/api/v1/clients/{client}/statement?from=2026-03-01&to=2026-02-01"),
            &t.admin,
        )
        .await;
    assert_eq!(backwards.status, StatusCode::UNPROCESSABLE_ENTITY);
}
