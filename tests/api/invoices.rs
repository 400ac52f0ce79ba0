use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Tenant, TestApp};

struct Setup {
    client: String,
    vat: String,
    product: String,
    net14: String,
}

async fn setup(app: &TestApp, t: &Tenant) -> Setup {
    let client = app.client(&t.admin, "Acme").await;
    let vat = app
        .post(
            "/api/v1/tax-rates",
            &t.admin,
            json!({"name": "VAT", "percent": "19"}),
        )
        .await
        .id();
    let product = app
        .post(
            "/api/v1/products",
            &t.admin,
            json!({"name": "Managed workstation", "unit_price": "49.90", "tax_rate_ids": [vat]}),
        )
        .await
        .id();
    let net14 = app
        .post(
            "/api/v1/payment-terms",
            &t.admin,
            json!({"name": "Net 14", "days": 14}),
        )
        .await
        .id();
    Setup {
        client,
        vat,
        product,
        net14,
    }
}

fn draft(s: &Setup) -> Value {
    json!({
        "client_id": s.client,
        "payment_term_id": s.net14,
        "discount": {"kind": "percent", "value": "10"},
        "notes": "Thank you",
        "lines": [
            {"product_id": s.product, "quantity": "3"},
            {"description": "On-site hour", "quantity": "1.5", "unit_price": "80", "tax_rate_ids": [s.vat],
             "discount": {"kind": "amount", "value": "20"}}
        ]
    })
}

#[tokio::test]
async fn drafts_are_priced_by_the_rules() {
    let app = TestApp::new().await;
    let t = app.tenant("Billing Co").await;
    let s = setup(&app, &t).await;
    let r = app.post("/api/v1/invoices", &t.admin, draft(&s)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let inv = r.body;
    assert_eq!(inv["status"], "draft");
    assert!(inv["number"].is_null());
    assert_eq!(inv["currency"], "EUR", "the company's currency");
    // The clock is 2026-03-01 12:00 UTC; Berlin's date is the same.
    assert_eq!(inv["issue_date"], "2026-03-01");
    assert_eq!(inv["due_date"], "2026-03-15", "net 14");
    // Line 1: 3 × 49.90 = 149.70. Line 2: 1.5 × 80 = 120.00 − 20.00 = 100.00.
    // Invoice discount 10 % of 249.70 = 24.97, shared 14.97 / 9.99... by weight:
    // 149.70 × 24.97 / 249.70 = 14.97, 100.00 × 24.97 / 249.70 = 10.00.
    assert_eq!(inv["lines"][0]["description"], "Managed workstation");
    assert_eq!(inv["lines"][0]["gross"], "149.70");
    assert_eq!(inv["lines"][0]["discount_amount"], "14.97");
    assert_eq!(inv["lines"][0]["net"], "134.73");
    assert_eq!(inv["lines"][0]["tax"], "25.60");
    assert_eq!(inv["lines"][1]["discount_amount"], "30.00");
    assert_eq!(inv["lines"][1]["net"], "90.00");
    assert_eq!(inv["lines"][1]["tax"], "17.10");
    assert_eq!(inv["lines"][1]["taxes"][0]["name"], "VAT");
    assert_eq!(inv["subtotal"], "224.73");
    assert_eq!(inv["discount_total"], "44.97");
    assert_eq!(inv["tax_total"], "42.70");
    assert_eq!(inv["total"], "267.43");
    assert_eq!(inv["balance"], "267.43");

    // Another currency for this client, with no cents.
    let mut yen = draft(&s);
    yen["currency"] = json!("JPY");
    yen["discount"] = Value::Null;
    yen["lines"] = json!([{"description": "Licence", "quantity": "3", "unit_price": "333.5", "tax_rate_ids": [s.vat]}]);
    let r = app.post("/api/v1/invoices", &t.admin, yen).await;
    assert_eq!(r.body["subtotal"], "1001");
    assert_eq!(r.body["tax_total"], "190");
    assert_eq!(r.body["total"], "1191");
}

#[tokio::test]
async fn invalid_drafts_name_their_fields() {
    let app = TestApp::new().await;
    let t = app.tenant("Strict Co").await;
    let s = setup(&app, &t).await;
    let r = app
        .post(
            "/api/v1/invoices",
            &t.admin,
            json!({"client_id": s.client, "currency": "XXX", "issue_date": "2026-03-10", "due_date": "2026-03-01",
                   "discount": {"kind": "percent", "value": "150"},
                   "lines": [{"quantity": "1"}, {"description": "x", "quantity": "1.00001", "unit_price": "1",
                              "discount": {"kind": "amount", "value": "-1"}}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let fields: Vec<&str> = r.body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "currency",
            "due_date",
            "discount",
            "lines[0].description",
            "lines[0].unit_price",
            "lines[1].quantity",
            "lines[1].discount"
        ]
    );
    let unknown_client = app
        .post(
            "/api/v1/invoices",
            &t.admin,
            json!({"client_id": uuid::Uuid::now_v7(), "lines": []}),
        )
        .await;
    assert_eq!(unknown_client.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        unknown_client.body["error"]["details"]["fields"][0]["field"],
        "client_id"
    );
    let unknown_product = app
        .post("/api/v1/invoices", &t.admin, json!({"client_id": s.client, "lines": [{"product_id": uuid::Uuid::now_v7(), "quantity": "1"}]}))
        .await;
    assert_eq!(
        unknown_product.body["error"]["details"]["fields"][0]["field"],
        "lines[0].product_id"
    );
    let bad_shape = app
        .post(
            "/api/v1/invoices",
            &t.admin,
            json!({"client_id": s.client, "lines": [{"quantity": 1.5}]}),
        )
        .await;
    assert_eq!(
        bad_shape.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a float is not money: {}",
        bad_shape.body
    );
}

#[tokio::test]
async fn finalize_numbers_void_keeps_and_drafts_alone_change() {
    let app = TestApp::new().await;
    let t = app.tenant("Numbers Co").await;
    let s = setup(&app, &t).await;
    let a = app.post("/api/v1/invoices", &t.admin, draft(&s)).await.id();
    let b = app.post("/api/v1/invoices", &t.admin, draft(&s)).await.id();
    let empty = app
        .post(
            "/api/v1/invoices",
            &t.admin,
            json!({"client_id": s.client, "lines": []}),
        )
        .await
        .id();

    let changed = app
        .call(axum::http::Method::PUT, &format!("/api/v1/invoices/{a}"), Some(&t.admin), Some(json!({"client_id": s.client, "lines": [{"description": "Only", "quantity": "1", "unit_price": "5"}]})))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["total"], "5.00");

    let fa = app
        .post(
            &format!("/api/v1/invoices/{a}/finalize"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(fa.status, StatusCode::OK, "{}", fa.body);
    assert_eq!(fa.body["number"], "INV-2026-000001");
    assert_eq!(fa.body["status"], "sent");
    assert_eq!(
        app.post(
            &format!("/api/v1/invoices/{b}/finalize"),
            &t.admin,
            json!({})
        )
        .await
        .body["number"],
        "INV-2026-000002"
    );
    assert_eq!(
        app.post(
            &format!("/api/v1/invoices/{empty}/finalize"),
            &t.admin,
            json!({})
        )
        .await
        .error_code(),
        "invoice_empty"
    );

    // Finalized invoices do not change, are not deleted, are finalized once.
    let put = app
        .call(
            axum::http::Method::PUT,
            &format!("/api/v1/invoices/{a}"),
            Some(&t.admin),
            Some(json!({"client_id": s.client, "lines": []})),
        )
        .await;
    assert_eq!(put.status, StatusCode::CONFLICT);
    assert_eq!(
        app.delete(&format!("/api/v1/invoices/{a}"), &t.admin)
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.post(
            &format!("/api/v1/invoices/{a}/finalize"),
            &t.admin,
            json!({})
        )
        .await
        .status,
        StatusCode::CONFLICT
    );

    let voided = app
        .post(&format!("/api/v1/invoices/{a}/void"), &t.admin, json!({}))
        .await;
    assert_eq!(voided.body["status"], "void");
    assert_eq!(
        voided.body["number"], "INV-2026-000001",
        "voiding keeps the number"
    );
    assert_eq!(
        app.post(&format!("/api/v1/invoices/{a}/void"), &t.admin, json!({}))
            .await
            .status,
        StatusCode::CONFLICT
    );

    let copy = app
        .post(
            &format!("/api/v1/invoices/{b}/duplicate"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(copy.status, StatusCode::CREATED, "{}", copy.body);
    assert_eq!(copy.body["status"], "draft");
    assert_eq!(copy.body["duplicated_from"], b.as_str());
    assert_eq!(
        copy.body["total"],
        app.get(&format!("/api/v1/invoices/{b}"), &t.admin)
            .await
            .body["total"]
    );
    // Deleting a draft frees no number: the next one continues the sequence.
    assert_eq!(
        app.post(
            &format!("/api/v1/invoices/{}/finalize", copy.id()),
            &t.admin,
            json!({})
        )
        .await
        .body["number"],
        "INV-2026-000003"
    );

    let listed = app.get("/api/v1/invoices?status=sent", &t.admin).await;
    assert_eq!(listed.body["total"], 2);
    let by_number = app.get("/api/v1/invoices?q=000003", &t.admin).await;
    assert_eq!(by_number.body["total"], 1);

    // A client with invoices cannot be deleted.
    let del = app
        .delete(&format!("/api/v1/clients/{}", s.client), &t.admin)
        .await;
    assert_eq!(del.status, StatusCode::CONFLICT);
    assert_eq!(del.error_code(), "client_has_invoices");
}

#[tokio::test]
async fn the_company_pattern_is_used_and_checked() {
    let app = TestApp::new().await;
    let t = app.tenant("Pattern Co").await;
    let s = setup(&app, &t).await;
    app.patch(
        "/api/v1/company",
        &t.admin,
        json!({"settings": {"invoice_number_pattern": "{YY}{MM}-{SEQ:3}"}}),
    )
    .await;
    let a = app.post("/api/v1/invoices", &t.admin, draft(&s)).await.id();
    assert_eq!(
        app.post(
            &format!("/api/v1/invoices/{a}/finalize"),
            &t.admin,
            json!({})
        )
        .await
        .body["number"],
        "2603-001"
    );
    // A bad pattern is refused when set...
    let set = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"settings": {"invoice_number_pattern": "INV-{YEAR}"}}),
        )
        .await;
    assert_eq!(set.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", set.body);
    assert_eq!(
        set.body["error"]["details"]["fields"][0]["field"],
        "settings.invoice_number_pattern"
    );
    // ...and one stored before that check still fails finalizing, naming it.
    sqlx::query(
        "UPDATE companies SET settings = jsonb_set(settings, '{invoice_number_pattern}', '\"INV-{YEAR}\"') WHERE id = $1",
    )
    .bind(t.id)
    .execute(&app.owner)
    .await
    .expect("stored pattern");
    let b = app.post("/api/v1/invoices", &t.admin, draft(&s)).await.id();
    let bad = app
        .post(
            &format!("/api/v1/invoices/{b}/finalize"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad.body["error"]["details"]["fields"][0]["field"],
        "settings.invoice_number_pattern"
    );
    assert_eq!(
        app.get(&format!("/api/v1/invoices/{b}"), &t.admin)
            .await
            .body["status"],
        "draft"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_finalizations_get_unique_gapless_numbers() {
    let app = TestApp::new().await;
    let t = app.tenant("Race Co").await;
    let s = setup(&app, &t).await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(app.post("/api/v1/invoices", &t.admin, draft(&s)).await.id());
    }
    let app = std::sync::Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for id in ids {
        let (app, token) = (app.clone(), t.admin.clone());
        tasks.spawn(async move {
            app.post(
                &format!("/api/v1/invoices/{id}/finalize"),
                &token,
                json!({}),
            )
            .await
        });
    }
    let mut numbers = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        numbers.push(r.body["number"].as_str().unwrap().to_owned());
    }
    numbers.sort();
    let want: Vec<String> = (1..=8).map(|n| format!("INV-2026-{n:06}")).collect();
    assert_eq!(numbers, want);
}
