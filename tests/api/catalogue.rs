use axum::http::StatusCode;
use serde_json::json;

use crate::common::TestApp;

#[tokio::test]
async fn tax_rates_products_and_terms() {
    let app = TestApp::new().await;
    let t = app.tenant("Catalogue Co").await;
    let vat = app
        .post(
            "/api/v1/tax-rates",
            &t.admin,
            json!({"name": "VAT", "percent": "19"}),
        )
        .await;
    assert_eq!(vat.status, StatusCode::CREATED, "{}", vat.body);
    assert_eq!(vat.body["percent"], "19");
    let vat = vat.id();
    let bad = app
        .post(
            "/api/v1/tax-rates",
            &t.admin,
            json!({"name": " ", "percent": "100.5", "inclusive": true, "compound": true}),
        )
        .await;
    let fields: Vec<&str> = bad.body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "percent", "compound"]);
    let not_a_number = app
        .post(
            "/api/v1/tax-rates",
            &t.admin,
            json!({"name": "X", "percent": "lots"}),
        )
        .await;
    assert_eq!(not_a_number.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.post(
            "/api/v1/tax-rates",
            &t.admin,
            json!({"name": "vat", "percent": "7"})
        )
        .await
        .status,
        StatusCode::CONFLICT
    );

    let product = app
        .post(
            "/api/v1/products",
            &t.admin,
            json!({"name": "Managed workstation", "unit_price": "49.90", "tax_rate_ids": [vat]}),
        )
        .await;
    assert_eq!(product.status, StatusCode::CREATED, "{}", product.body);
    assert_eq!(product.body["unit_price"], "49.90");
    assert_eq!(product.body["tax_rate_ids"], json!([vat]));
    let unknown_tax = app
        .post(
            "/api/v1/products",
            &t.admin,
            json!({"name": "Other", "unit_price": "1", "tax_rate_ids": [uuid::Uuid::now_v7()]}),
        )
        .await;
    assert_eq!(unknown_tax.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        unknown_tax.body["error"]["details"]["fields"][0]["field"],
        "tax_rate_ids"
    );

    // An archived rate cannot go on a product any more; restored, it can.
    app.post(
        &format!("/api/v1/tax-rates/{vat}/archive"),
        &t.admin,
        json!({}),
    )
    .await;
    let archived = app
        .post(
            "/api/v1/products",
            &t.admin,
            json!({"name": "Third", "unit_price": "1", "tax_rate_ids": [vat]}),
        )
        .await;
    assert_eq!(archived.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get("/api/v1/tax-rates", &t.admin).await.body["total"],
        0
    );
    assert_eq!(
        app.get("/api/v1/tax-rates?include_archived=true", &t.admin)
            .await
            .body["total"],
        1
    );
    app.post(
        &format!("/api/v1/tax-rates/{vat}/restore"),
        &t.admin,
        json!({}),
    )
    .await;
    let restored = app
        .post(
            "/api/v1/products",
            &t.admin,
            json!({"name": "Third", "unit_price": "1", "tax_rate_ids": [vat]}),
        )
        .await;
    assert_eq!(restored.status, StatusCode::CREATED);

    let found = app.get("/api/v1/products?q=workstation", &t.admin).await;
    assert_eq!(found.body["total"], 1);

    let net30 = app
        .post(
            "/api/v1/payment-terms",
            &t.admin,
            json!({"name": "Net 30", "days": 30}),
        )
        .await;
    assert_eq!(net30.status, StatusCode::CREATED);
    let bad_days = app
        .post(
            "/api/v1/payment-terms",
            &t.admin,
            json!({"name": "Forever", "days": 9999}),
        )
        .await;
    assert_eq!(bad_days.status, StatusCode::UNPROCESSABLE_ENTITY);
    let changed = app
        .call(
            axum::http::Method::PUT,
            &format!("/api/v1/payment-terms/{}", net30.id()),
            Some(&t.admin),
            Some(json!({"name": "Net 45", "days": 45})),
        )
        .await;
    assert_eq!(changed.body["days"], 45);
    assert_eq!(
        app.delete(&format!("/api/v1/payment-terms/{}", net30.id()), &t.admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}
