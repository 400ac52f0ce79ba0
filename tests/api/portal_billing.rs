//! The client portal's money and account routes: a billing contact's
//! invoices (paid through the wiremock Stripe), statement and quotes; any
//! contact's assets, profile and password. Only the contact's own client.

use axum::http::{Method, StatusCode};
use nestogy_jobs::stripe::PaymentLink;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::common::{PASSWORD, TestApp, field_code};
use crate::documents::pdf_when_ready;
use crate::portal::{Portal, portal, signed_in};
use crate::stripe::{checkout_completed, configure, deliver, stripe_app};

/// The audit actions the contact is the actor of, in order.
async fn contact_actions(app: &TestApp, contact: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT action FROM audit_log WHERE actor_contact_id = $1::uuid ORDER BY id")
        .bind(contact)
        .fetch_all(&app.owner)
        .await
        .unwrap()
}

/// A draft invoice for `client`; its id.
async fn draft_invoice(app: &TestApp, admin: &str, client: &str) -> String {
    let r = app
        .post(
            "/api/v1/invoices",
            admin,
            json!({"client_id": client, "lines": [{"description": "Draft work", "quantity": "1", "unit_price": "5"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

/// A draft quote for `client`, sent when `send`; its id.
async fn quote(app: &TestApp, admin: &str, client: &str, send: bool) -> String {
    let r = app
        .post(
            "/api/v1/quotes",
            admin,
            json!({"client_id": client, "lines": [{"description": "Network refresh", "quantity": "2", "unit_price": "1500"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.id();
    if send {
        let r = app
            .post(&format!("/api/v1/quotes/{id}/send"), admin, json!({}))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    }
    id
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn portal_billing_lists_and_reads_finalized_invoices_never_drafts() {
    let app = TestApp::new().await;
    let p = portal(&app, "Ledger MSP").await;
    let admin = p.t.admin.clone();
    let token = signed_in(&app, &p, None).await;
    let draft = draft_invoice(&app, &admin, &p.client).await;
    let open = app.open_invoice(&admin, &p.client, "Support").await;
    let r = app
        .post(
            &format!("/api/v1/invoices/{open}/payments"),
            &admin,
            json!({"amount": "100", "method": "card", "reference": "CARD-77"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let paid = app.open_invoice(&admin, &p.client, "Backup").await;
    let r = app
        .post(
            &format!("/api/v1/invoices/{paid}/payments"),
            &admin,
            json!({"amount": "361.50", "method": "bank_transfer"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let r = app.get("/api/v1/portal/invoices", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(ids(&r.body), vec![paid.clone(), open.clone()]);
    assert_eq!(r.body["total"], 2);
    let first = &r.body["data"][1];
    assert_eq!(first["status"], "partially_paid");
    assert_eq!(first["total"], "361.50");
    assert_eq!(first["amount_paid"], "100.00");
    assert_eq!(first["balance"], "261.50");
    assert_eq!(first["overdue"], false);
    assert!(first["number"].as_str().unwrap().starts_with("INV-"));
    assert!(first.get("notes").is_none() && first.get("billing_run_id").is_none());

    let r = app.get("/api/v1/portal/invoices?status=open", &token).await;
    assert_eq!(ids(&r.body), vec![open.clone()]);
    let r = app.get("/api/v1/portal/invoices?status=paid", &token).await;
    assert_eq!(ids(&r.body), vec![paid.clone()]);
    let r = app.get("/api/v1/portal/invoices?status=void", &token).await;
    assert_eq!(ids(&r.body), Vec::<String>::new());
    let r = app
        .get("/api/v1/portal/invoices?status=draft", &token)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = app.get("/api/v1/portal/invoices?limit=1", &token).await;
    assert_eq!(ids(&r.body), vec![paid.clone()]);
    let cursor = r.body["next_cursor"].as_str().unwrap().to_owned();
    let r = app
        .get(
            &format!("/api/v1/portal/invoices?limit=1&cursor={cursor}"),
            &token,
        )
        .await;
    assert_eq!(ids(&r.body), vec![open.clone()]);
    assert!(r.body["next_cursor"].is_null());

    let r = app
        .get(&format!("/api/v1/portal/invoices/{open}"), &token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["id"], open);
    assert_eq!(r.body["balance"], "261.50");
    assert_eq!(
        r.body["lines"],
        json!([{"description": "Support", "quantity": "3", "unit_price": "120.50",
            "tax": "0.00", "total": "361.50"}])
    );
    assert_eq!(r.body["payments"].as_array().unwrap().len(), 1);
    let pay = &r.body["payments"][0];
    assert_eq!(pay["amount"], "100.00");
    assert_eq!(pay["method"], "card");
    assert_eq!(pay["kind"], "payment");
    assert!(pay.get("reference").is_none(), "{pay}");
    // No Stripe set up: not payable online.
    assert_eq!(r.body["payable_online"], false);

    let r = app
        .get(&format!("/api/v1/portal/invoices/{draft}"), &token)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

#[tokio::test]
async fn portal_billing_pdfs_and_the_statement_as_staff_get_them() {
    let app = TestApp::new().await;
    let p = portal(&app, "Paper MSP").await;
    let admin = p.t.admin.clone();
    let token = signed_in(&app, &p, None).await;
    let inv = app.open_invoice(&admin, &p.client, "Firewall care").await;
    let r = app
        .post(
            &format!("/api/v1/invoices/{inv}/payments"),
            &admin,
            json!({"amount": "61.50", "method": "card"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let q = quote(&app, &admin, &p.client, true).await;
    let draft = draft_invoice(&app, &admin, &p.client).await;

    let r = app.get("/api/v1/portal/statement", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let staff = app
        .get(&format!("/api/v1/clients/{}/statement", p.client), &admin)
        .await;
    assert_eq!(r.body, staff.body);
    let kinds: Vec<&str> = r.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["invoice", "payment"]);
    assert_eq!(r.body["closing_balance"], "300.00");
    let r = app
        .get(
            "/api/v1/portal/statement?from=2020-01-01&to=2020-01-31",
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["entries"], json!([]));
    let r = app
        .get(
            "/api/v1/portal/statement?from=2026-02-01&to=2026-01-01",
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let (status, _, _) = app
        .get_bytes(&format!("/api/v1/portal/invoices/{draft}/pdf"), &token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let worker = app.start_worker();
    for path in [
        format!("/api/v1/portal/invoices/{inv}/pdf"),
        format!("/api/v1/portal/quotes/{q}/pdf"),
        "/api/v1/portal/statement/pdf?from=2026-01-01&to=2026-12-31".to_owned(),
    ] {
        let (headers, pdf) = pdf_when_ready(&app, &path, &token).await;
        assert_eq!(headers["content-type"], "application/pdf", "{path}");
        assert!(pdf.starts_with(b"%PDF"), "{path}");
    }
    // The portal's invoice PDF is the staff's.
    let (_, ours) =
        pdf_when_ready(&app, &format!("/api/v1/portal/invoices/{inv}/pdf"), &token).await;
    let (_, staffs) = pdf_when_ready(&app, &format!("/api/v1/invoices/{inv}/pdf"), &admin).await;
    assert_eq!(ours, staffs);
    worker.stop().await;
}

#[tokio::test]
async fn portal_billing_is_for_billing_contacts_only() {
    let app = TestApp::new().await;
    let p = portal(&app, "Billing Only MSP").await;
    let admin = p.t.admin.clone();
    let token = signed_in(&app, &p, None).await;
    let inv = app.open_invoice(&admin, &p.client, "Support").await;
    let q = quote(&app, &admin, &p.client, true).await;
    let r = app
        .patch(
            &format!("/api/v1/clients/{}/contacts/{}", p.client, p.contact),
            &admin,
            json!({"is_billing": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for (m, path) in [
        (Method::GET, "/api/v1/portal/invoices".to_owned()),
        (Method::GET, format!("/api/v1/portal/invoices/{inv}")),
        (Method::GET, format!("/api/v1/portal/invoices/{inv}/pdf")),
        (Method::POST, format!("/api/v1/portal/invoices/{inv}/pay")),
        (Method::GET, format!("/api/v1/portal/invoices/{inv}/pay")),
        (Method::GET, "/api/v1/portal/statement".to_owned()),
        (Method::GET, "/api/v1/portal/statement/pdf".to_owned()),
        (Method::GET, "/api/v1/portal/quotes".to_owned()),
        (Method::GET, format!("/api/v1/portal/quotes/{q}")),
        (Method::GET, format!("/api/v1/portal/quotes/{q}/pdf")),
        (Method::POST, format!("/api/v1/portal/quotes/{q}/accept")),
        (Method::POST, format!("/api/v1/portal/quotes/{q}/decline")),
    ] {
        let body = (m == Method::POST).then(|| json!({}));
        let r = app.call(m, &path, Some(&token), body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        assert_eq!(r.error_code(), "not_a_billing_contact", "{path}");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("billing contact")
        );
    }
    let r = app.get(&format!("/api/v1/quotes/{q}"), &admin).await;
    assert_eq!(r.body["status"], "sent", "nothing was decided");
    // The profile is anyone's.
    let r = app.get("/api/v1/portal/me", &token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["contact"]["billing"], false);
}

#[tokio::test]
async fn portal_billing_pays_through_stripe_and_the_signed_event_marks_it_paid() {
    let (mock, app) = stripe_app().await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cs_test_p1", "object": "checkout.session",
            "url": "https://checkout.stripe.com/c/pay/cs_test_p1", "payment_status": "unpaid"
        })))
        .mount(&mock)
        .await;
    let p = portal(&app, "Pay MSP").await;
    let admin = p.t.admin.clone();
    let token = signed_in(&app, &p, None).await;
    let inv = app.open_invoice(&admin, &p.client, "Support").await;
    let pay = format!("/api/v1/portal/invoices/{inv}/pay");

    // Not before the company has Stripe; nothing to poll yet.
    let r = app.post(&pay, &token, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "stripe_not_configured");
    assert_eq!(app.get(&pay, &token).await.status, StatusCode::NOT_FOUND);
    configure(&app, &p.t).await;
    let r = app
        .get(&format!("/api/v1/portal/invoices/{inv}"), &token)
        .await;
    assert_eq!(r.body["payable_online"], true, "{}", r.body);

    let r = app.post(&pay, &token, json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["amount"], "361.50");
    assert!(r.body["url"].is_null());
    assert!(r.body["job_id"].is_string());
    assert!(r.body.get("error").is_none());
    let link: uuid::Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    // Asking again while it is being made reuses it.
    let again = app.post(&pay, &token, json!({})).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_eq!(again.body["id"], link.to_string());
    assert_eq!(app.count("SELECT count(*) FROM payment_links").await, 1);

    let out = app
        .run_job(PaymentLink {
            tenant: p.t.id,
            link,
        })
        .await
        .unwrap();
    assert_eq!(out["status"], "ready", "{out}");
    let r = app.get(&pay, &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "ready");
    assert_eq!(
        r.body["url"],
        "https://checkout.stripe.com/c/pay/cs_test_p1"
    );
    let r = app.post(&pay, &token, json!({})).await;
    assert_eq!(
        r.body["id"],
        link.to_string(),
        "the ready link is offered again"
    );
    assert_eq!(mock.received_requests().await.unwrap().len(), 1);

    let inv_body = app.get(&format!("/api/v1/invoices/{inv}"), &admin).await;
    let currency = inv_body.body["currency"].as_str().unwrap().to_lowercase();
    let r = deliver(
        &app,
        &p.t,
        &checkout_completed("evt_portal_1", &inv, &currency, "pi_portal_1"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .get(&format!("/api/v1/portal/invoices/{inv}"), &token)
        .await;
    assert_eq!(r.body["status"], "paid", "{}", r.body);
    assert_eq!(r.body["balance"], "0.00");
    assert_eq!(r.body["payable_online"], false);
    assert_eq!(r.body["payments"][0]["amount"], "361.50");
    let r = app.post(&pay, &token, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "not_payable");

    let actions = contact_actions(&app, &p.contact).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "portal.payment_link_created")
            .count(),
        1,
        "{actions:?}"
    );
}

#[tokio::test]
async fn portal_billing_quotes_are_accepted_and_declined_with_who_and_when() {
    let app = TestApp::new().await;
    let p = portal(&app, "Quote MSP").await;
    let admin = p.t.admin.clone();
    let token = signed_in(&app, &p, None).await;
    let draft = quote(&app, &admin, &p.client, false).await;
    let first = quote(&app, &admin, &p.client, true).await;
    let second = quote(&app, &admin, &p.client, true).await;

    let r = app.get("/api/v1/portal/quotes", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(ids(&r.body), vec![second.clone(), first.clone()]);
    assert_eq!(r.body["total"], 2);
    for path in [
        format!("/api/v1/portal/quotes/{draft}"),
        format!("/api/v1/portal/quotes/{draft}/pdf"),
    ] {
        let (status, _, _) = app.get_bytes(&path, &token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = app
        .post(
            &format!("/api/v1/portal/quotes/{draft}/accept"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    let r = app
        .get(&format!("/api/v1/portal/quotes/{first}"), &token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "sent");
    assert_eq!(r.body["total"], "3000.00");
    assert_eq!(r.body["lines"][0]["description"], "Network refresh");
    assert_eq!(r.body["lines"][0]["quantity"], "2");
    assert!(r.body["decided_by"].is_null());

    let r = app
        .post(
            &format!("/api/v1/portal/quotes/{first}/accept"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "accepted");
    assert_eq!(r.body["decided_by"]["name"], "Ann");
    assert_eq!(r.body["decided_by"]["contact_id"], p.contact);
    assert!(r.body["decided_at"].is_string());
    let staff = app.get(&format!("/api/v1/quotes/{first}"), &admin).await;
    assert_eq!(staff.body["status"], "accepted");
    assert_eq!(staff.body["decided_by"]["name"], "Ann");
    assert_eq!(staff.body["decided_at"], r.body["decided_at"]);
    // Deciding twice: the existing 409.
    for action in ["accept", "decline"] {
        let r = app
            .post(
                &format!("/api/v1/portal/quotes/{first}/{action}"),
                &token,
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    }

    let r = app
        .post(
            &format!("/api/v1/portal/quotes/{second}/decline"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "declined");
    assert_eq!(r.body["decided_by"]["name"], "Ann");

    // Staff recording a decision name no contact.
    let third = quote(&app, &admin, &p.client, true).await;
    let r = app
        .post(&format!("/api/v1/quotes/{third}/accept"), &admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["decided_by"].is_null(), "{}", r.body);

    let actions = contact_actions(&app, &p.contact).await;
    assert!(
        actions.ends_with(&[
            "portal.quote_accepted".into(),
            "portal.quote_declined".into()
        ]),
        "{actions:?}"
    );
    let entity: String = sqlx::query_scalar(
        "SELECT entity_id::text FROM audit_log WHERE action = 'portal.quote_accepted'",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(entity, first);
}

#[tokio::test]
async fn portal_billing_assets_are_shown_only_when_the_company_shares_them() {
    let app = TestApp::new().await;
    let p = portal(&app, "Asset MSP").await;
    let admin = p.t.admin.clone();
    let token = signed_in(&app, &p, None).await;
    // Assets are for any contact, not only billing ones.
    let r = app
        .patch(
            &format!("/api/v1/clients/{}/contacts/{}", p.client, p.contact),
            &admin,
            json!({"is_billing": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(
            "/api/v1/assets",
            &admin,
            json!({"client_id": p.client, "name": "Reception PC", "type": "workstation",
                "serial": "SN-1", "warranty_expires": "2027-06-30", "hostname": "rec-pc"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let other = app.client(&admin, "Other Co").await;
    let r = app
        .post(
            "/api/v1/assets",
            &admin,
            json!({"client_id": other, "name": "Other PC", "type": "laptop"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let r = app.get("/api/v1/portal/assets", &token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.error_code(), "assets_not_shared");
    let r = app
        .patch(
            "/api/v1/company",
            &admin,
            json!({"portal_show_assets": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.get("/api/v1/portal/assets", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["total"], 1);
    let a = &r.body["data"][0];
    assert_eq!(a["name"], "Reception PC");
    assert_eq!(a["type"], "workstation");
    assert_eq!(a["serial"], "SN-1");
    assert_eq!(a["warranty_expires"], "2027-06-30");
    assert_eq!(a["status"], "in_use");
    assert!(a.get("hostname").is_none() && a.get("purchase_cost").is_none());
}

#[tokio::test]
async fn portal_billing_profile_changes_are_validated_as_staff_edits_are() {
    let app = TestApp::new().await;
    let p = portal(&app, "Profile MSP").await;
    let token = signed_in(&app, &p, None).await;
    let r = app
        .patch(
            "/api/v1/portal/me",
            &token,
            json!({"name": " Ann Lee ", "phone": "+1 555 0100"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["name"], "Ann Lee");
    assert_eq!(r.body["phone"], "+1 555 0100");
    assert_eq!(r.body["billing"], true);
    assert!(r.body.get("password_hash").is_none());
    let r = app
        .patch("/api/v1/portal/me", &token, json!({"phone": null}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["phone"].is_null());
    assert_eq!(r.body["name"], "Ann Lee");
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(300)}), "name"),
        (json!({"name": "Ann\u{0}"}), "name"),
        (json!({"phone": "5".repeat(300)}), "phone"),
    ] {
        let r = app.patch("/api/v1/portal/me", &token, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
        assert!(!field_code(&r, field).is_empty(), "{body}: {}", r.body);
    }
    let r = app
        .patch("/api/v1/portal/me", &token, json!({"email": "x@y.z"}))
        .await;
    assert!(r.status.is_client_error(), "{}", r.body);
    let staff = app
        .get(
            &format!("/api/v1/clients/{}/contacts/{}", p.client, p.contact),
            &p.t.admin,
        )
        .await;
    assert_eq!(staff.body["name"], "Ann Lee");
    assert_eq!(staff.body["email"], p.email);
    let actions = contact_actions(&app, &p.contact).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "portal.profile_updated")
            .count(),
        2,
        "{actions:?}"
    );
}

#[tokio::test]
async fn portal_billing_password_change_needs_the_current_one_and_ends_old_tokens() {
    let app = TestApp::new().await;
    let p = portal(&app, "Password MSP").await;
    let old = signed_in(&app, &p, Some(PASSWORD)).await;
    let new_password = "a brand new portal passphrase";
    let path = "/api/v1/portal/me/password";
    let r = app
        .post(path, &old, json!({"new_password": new_password}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(field_code(&r, "current_password"), "required");
    let r = app
        .post(
            path,
            &old,
            json!({"current_password": "not it at all", "new_password": new_password}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(field_code(&r, "current_password"), "wrong_password");
    let r = app
        .post(
            path,
            &old,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(!field_code(&r, "new_password").is_empty());
    // Still the old password, and the old token works.
    assert_eq!(
        app.get("/api/v1/portal/me", &old).await.status,
        StatusCode::OK
    );

    let r = app
        .post(
            path,
            &old,
            json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fresh = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(
        app.get("/api/v1/portal/me", &old).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/portal/me", &fresh).await.status,
        StatusCode::OK
    );
    let login = format!("/api/v1/portal/{}/auth/login", p.slug);
    let r = app
        .call(
            Method::POST,
            &login,
            None,
            Some(json!({"email": p.email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let r = app
        .call(
            Method::POST,
            &login,
            None,
            Some(json!({"email": p.email, "password": new_password})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let actions = contact_actions(&app, &p.contact).await;
    for want in ["portal.password_check_failed", "portal.password_changed"] {
        assert!(actions.iter().any(|a| a == want), "{want}: {actions:?}");
    }
}

#[tokio::test]
async fn portal_billing_a_contact_without_a_password_sets_one_without_a_current() {
    let app = TestApp::new().await;
    let p = portal(&app, "Linkonly MSP").await;
    let token = signed_in(&app, &p, None).await;
    let r = app
        .post(
            "/api/v1/portal/me/password",
            &token,
            json!({"new_password": "my first portal passphrase"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fresh = r.body["access_token"].as_str().unwrap().to_owned();
    let me = app.get("/api/v1/portal/me", &fresh).await;
    assert_eq!(me.body["contact"]["has_password"], true);
    assert_eq!(
        app.get("/api/v1/portal/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Every portal route naming an invoice or a quote.
fn id_routes(inv: &str, quote: &str) -> Vec<(Method, String)> {
    vec![
        (Method::GET, format!("/api/v1/portal/invoices/{inv}")),
        (Method::GET, format!("/api/v1/portal/invoices/{inv}/pdf")),
        (Method::POST, format!("/api/v1/portal/invoices/{inv}/pay")),
        (Method::GET, format!("/api/v1/portal/invoices/{inv}/pay")),
        (Method::GET, format!("/api/v1/portal/quotes/{quote}")),
        (Method::GET, format!("/api/v1/portal/quotes/{quote}/pdf")),
        (
            Method::POST,
            format!("/api/v1/portal/quotes/{quote}/accept"),
        ),
        (
            Method::POST,
            format!("/api/v1/portal/quotes/{quote}/decline"),
        ),
    ]
}

async fn others_ids(app: &TestApp, admin: &str, client: &str) -> (String, String) {
    let inv = app.open_invoice(admin, client, "Not yours").await;
    (inv, quote(app, admin, client, true).await)
}

#[tokio::test]
async fn portal_billing_other_clients_and_tenants_ids_are_not_found() {
    let (_mock, app) = stripe_app().await;
    let p: Portal = portal(&app, "Own MSP").await;
    let admin = p.t.admin.clone();
    configure(&app, &p.t).await;
    let token = signed_in(&app, &p, None).await;
    let neighbour = app
        .billed_client(&admin, "Neighbour Co", "ap@neighbour.test")
        .await;
    let (n_inv, n_quote) = others_ids(&app, &admin, &neighbour).await;
    let other = app.tenant("Other MSP").await;
    configure(&app, &other).await;
    let far = app
        .billed_client(&other.admin, "Far Co", "ap@far.test")
        .await;
    let (f_inv, f_quote) = others_ids(&app, &other.admin, &far).await;
    let missing = uuid::Uuid::now_v7().to_string();
    let (own_inv, own_quote) = others_ids(&app, &admin, &p.client).await;

    let mut nothing: Option<Value> = None;
    for (inv, q) in [(&n_inv, &n_quote), (&f_inv, &f_quote), (&missing, &missing)] {
        for (m, path) in id_routes(inv, q) {
            let body = (m == Method::POST).then(|| json!({}));
            let r = app.call(m, &path, Some(&token), body).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
            // Another's id answers exactly as a nonexistent one.
            let b = r.body["error"]["code"].clone();
            assert_eq!(nothing.get_or_insert(b.clone()), &b, "{path}");
        }
    }
    // Nothing of theirs changed.
    assert_eq!(app.count("SELECT count(*) FROM payment_links").await, 0);
    for (q, tok) in [(&n_quote, &admin), (&f_quote, &other.admin)] {
        let r = app.get(&format!("/api/v1/quotes/{q}"), tok).await;
        assert_eq!(r.body["status"], "sent");
    }
    // The lists hold only the own client's.
    let r = app.get("/api/v1/portal/invoices", &token).await;
    assert_eq!(ids(&r.body), vec![own_inv.clone()]);
    let r = app.get("/api/v1/portal/quotes", &token).await;
    assert_eq!(ids(&r.body), vec![own_quote.clone()]);

    // Staff tokens open no portal route.
    let mut all = id_routes(&own_inv, &own_quote);
    all.extend([
        (Method::GET, "/api/v1/portal/invoices".to_owned()),
        (Method::GET, "/api/v1/portal/statement".to_owned()),
        (Method::GET, "/api/v1/portal/statement/pdf".to_owned()),
        (Method::GET, "/api/v1/portal/quotes".to_owned()),
        (Method::GET, "/api/v1/portal/assets".to_owned()),
        (Method::PATCH, "/api/v1/portal/me".to_owned()),
        (Method::POST, "/api/v1/portal/me/password".to_owned()),
    ]);
    for (m, path) in all {
        let body = (m != Method::GET).then(|| json!({}));
        let r = app.call(m, &path, Some(&admin), body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}: {}", r.body);
    }
}
