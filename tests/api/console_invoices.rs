//! The console's invoice pages: the list by status, an invoice with its
//! lines, totals and payments, the actions finalize, send, record payment
//! and void checked through the API, the PDF, and a tech refused.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::TestApp;
use crate::console::{admin_email, get, post, sign_in, user};

#[tokio::test]
async fn invoice_list_filters_by_status_and_tenant() {
    let app = TestApp::new().await;
    let t = app.tenant("Invoices MSP").await;
    let other = app.tenant("Other Invoices MSP").await;
    let client = app
        .billed_client(&t.admin, "Kappa <Kitchens>", "ap@kappa.example")
        .await;
    let open = app.open_invoice(&t.admin, &client, "Backup").await;
    let draft = app
        .post(
            "/api/v1/invoices",
            &t.admin,
            json!({"client_id": client, "lines": [{"description": "Draft work", "quantity": "1", "unit_price": "10"}]}),
        )
        .await;
    assert_eq!(draft.status, StatusCode::CREATED, "{}", draft.body);
    let draft = draft.id();
    let their_client = app.client(&other.admin, "Their Books").await;
    let theirs = app
        .open_invoice(&other.admin, &their_client, "Secret")
        .await;
    let s = sign_in(&app, &admin_email("Invoices MSP")).await;

    let list = get(&app, "/console/invoices", &s.cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert_eq!(list.title(), "Invoices · Nestogy");
    assert!(list.has_id(&format!("invoice-{open}")));
    assert!(list.has_id(&format!("invoice-{draft}")));
    assert!(!list.has_id(&format!("invoice-{theirs}")));
    assert!(list.html.contains("Kappa &lt;Kitchens&gt;"));
    assert!(!list.html.contains("Their Books"));
    // 3 × 120.50 in the company's locale (en-US, EUR).
    assert!(list.html.contains("€361.50"), "{}", list.html);

    let drafts = get(&app, "/console/invoices?status=draft", &s.cookie).await;
    assert_eq!(drafts.status, StatusCode::OK);
    assert!(drafts.has_id(&format!("invoice-{draft}")));
    assert!(!drafts.has_id(&format!("invoice-{open}")));
    let bad = get(&app, "/console/invoices?status=nonsense", &s.cookie).await;
    assert!(bad.status.is_client_error(), "{}", bad.status);
    assert!(bad.html.contains("id=\"problem\""));

    // A tech: the API's 403 as a page, for the list and for one invoice.
    let (_, tech) = user(&app, &t.admin, "tech").await;
    let ts = sign_in(&app, &tech).await;
    for path in [
        "/console/invoices".to_owned(),
        format!("/console/invoices/{open}"),
        format!("/console/invoices/{open}/pdf"),
    ] {
        let r = get(&app, &path, &ts.cookie).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.html);
        assert!(r.title().starts_with("Not allowed"), "{path}");
    }
    // An accountant may.
    let (_, acc) = user(&app, &t.admin, "accountant").await;
    let acs = sign_in(&app, &acc).await;
    let r = get(&app, "/console/invoices", &acs.cookie).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn invoice_page_finalizes_sends_records_payments_and_voids() {
    let app = TestApp::new().await;
    let t = app.tenant("Invoice Page MSP").await;
    let other = app.tenant("Other Page Books").await;
    let client = app
        .billed_client(&t.admin, "Lambda Labs", "ap@lambda.example")
        .await;
    let draft = app
        .post(
            "/api/v1/invoices",
            &t.admin,
            json!({"client_id": client, "lines": [
                {"description": "Firewall <setup>", "quantity": "2", "unit_price": "150"},
                {"description": "Licence", "quantity": "1", "unit_price": "49.99"}]}),
        )
        .await;
    assert_eq!(draft.status, StatusCode::CREATED, "{}", draft.body);
    let id = draft.id();
    let their_client = app.client(&other.admin, "Their Client").await;
    let theirs = app
        .open_invoice(&other.admin, &their_client, "Secret")
        .await;
    let s = sign_in(&app, &admin_email("Invoice Page MSP")).await;
    let path = format!("/console/invoices/{id}");
    let api_path = format!("/api/v1/invoices/{id}");

    let page = get(&app, &path, &s.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(page.title(), "Draft invoice · Nestogy");
    assert!(page.html.contains("Firewall &lt;setup&gt;"));
    assert!(page.html.contains("Lambda Labs"));
    // Totals as the API computed them, in the company's locale (en-US, EUR).
    let inv = app.get(&api_path, &t.admin).await.body;
    assert_eq!(inv["total"], "349.99");
    assert!(page.html.contains("id=\"total\">€349.99<"), "{}", page.html);
    assert!(page.has_id("finalize"));
    assert!(!page.has_id("send"), "a draft is not sent");
    assert!(!page.has_id("record-payment"));

    // Another tenant's invoice, a junk id: the 404 page.
    let nope = get(&app, &format!("/console/invoices/{theirs}"), &s.cookie).await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);
    assert!(!nope.html.contains("Secret"));
    let junk = get(&app, "/console/invoices/123", &s.cookie).await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);
    let csrf = page.csrf();
    let void_theirs = post(
        &app,
        &format!("/console/invoices/{theirs}/void"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(void_theirs.status, StatusCode::NOT_FOUND);
    let still = app
        .get(&format!("/api/v1/invoices/{theirs}"), &other.admin)
        .await;
    assert_eq!(still.body["status"], "sent");

    // Every action refuses a POST without the token.
    for action in ["finalize", "send", "payments", "void"] {
        let r = post(&app, &format!("{path}/{action}"), &s.cookie, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}");
    }
    assert_eq!(app.get(&api_path, &t.admin).await.body["status"], "draft");

    // Finalize.
    let r = post(
        &app,
        &format!("{path}/finalize"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(r.location(), format!("{path}?done=finalized"));
    let inv = app.get(&api_path, &t.admin).await.body;
    assert_eq!(inv["status"], "sent");
    let number = inv["number"].as_str().unwrap().to_owned();
    let page = get(&app, r.location(), &s.cookie).await;
    assert_eq!(page.title(), format!("Invoice {number} · Nestogy"));
    assert!(page.has_id("done"));
    assert!(page.has_id("send"));
    assert!(page.has_id("record-payment"));
    // Finalizing twice: the API's conflict as a page.
    let again = post(
        &app,
        &format!("{path}/finalize"),
        &s.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.html);

    // Send: a mail queued to the billing contact.
    let r = post(&app, &format!("{path}/send"), &s.cookie, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let mails = app
        .get(
            &format!("/api/v1/mail?subject_kind=invoice&subject_id={id}"),
            &t.admin,
        )
        .await
        .body;
    assert_eq!(mails["total"], 1, "{mails}");
    assert_eq!(mails["data"][0]["recipients"], json!(["ap@lambda.example"]));

    // Record a payment: a bad amount re-rendered, then recorded.
    let form = [
        ("csrf", csrf.as_str()),
        ("amount", "abc"),
        ("paid_on", "2026-03-02"),
        ("method", "card"),
        ("reference", "R-1"),
    ];
    let bad = post(&app, &format!("{path}/payments"), &s.cookie, &form).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.has_id("record-payment"));
    assert!(bad.html.contains("value=\"abc\""));
    assert!(bad.html.contains("value=\"R-1\""));
    // Posted twice from the page drawn again (a double click): recorded once.
    let once = bad.input_value("once");
    let mut form = form.to_vec();
    form[1] = ("amount", "100.00");
    form.push(("once", &once));
    for _ in 0..2 {
        let ok = post(&app, &format!("{path}/payments"), &s.cookie, &form).await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    }
    let inv = app.get(&api_path, &t.admin).await.body;
    assert_eq!(inv["status"], "partially_paid");
    assert_eq!(inv["balance"], "249.99");
    let pays = app
        .get(&format!("/api/v1/payments?invoice_id={id}"), &t.admin)
        .await
        .body;
    assert_eq!(pays["total"], 1);
    assert_eq!(pays["data"][0]["method"], "card");
    assert_eq!(pays["data"][0]["reference"], "R-1");
    assert_eq!(pays["data"][0]["paid_on"], "2026-03-02");
    let page = get(&app, &path, &s.cookie).await;
    let pay_id = pays["data"][0]["id"].as_str().unwrap();
    assert!(page.has_id(&format!("payment-{pay_id}")));
    assert!(page.html.contains("id=\"balance\">€249.99<"));

    // Void.
    // Void: refused once money was paid in, the API's conflict as a page.
    let r = post(&app, &format!("{path}/void"), &s.cookie, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.html);
    assert!(r.html.contains("id=\"problem\""));
    assert_eq!(
        app.get(&api_path, &t.admin).await.body["status"],
        "partially_paid"
    );
}

#[tokio::test]
async fn an_open_invoice_is_voided_and_its_pdf_comes_through() {
    let app = TestApp::new().await;
    let t = app.tenant("Void MSP").await;
    let client = app
        .billed_client(&t.admin, "Mu Media", "ap@mu.example")
        .await;
    let id = app.open_invoice(&t.admin, &client, "Hosting").await;
    let s = sign_in(&app, &admin_email("Void MSP")).await;
    let path = format!("/console/invoices/{id}");
    let page = get(&app, &path, &s.cookie).await;
    let csrf = page.csrf();

    let pdf_path = format!("{path}/pdf");
    let first = get(&app, &pdf_path, &s.cookie).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.html);
    assert!(first.has_id("rendering"));
    let _worker = app.start_worker();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let pdf = loop {
        let r = get(&app, &pdf_path, &s.cookie).await;
        if r.status == StatusCode::OK {
            break r;
        }
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.html);
        assert!(std::time::Instant::now() < deadline, "not rendered in 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    assert!(pdf.html.starts_with("%PDF-"));

    let r = post(&app, &format!("{path}/void"), &s.cookie, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    assert_eq!(
        app.get(&format!("/api/v1/invoices/{id}"), &t.admin)
            .await
            .body["status"],
        "void"
    );
    let page = get(&app, &path, &s.cookie).await;
    assert!(!page.has_id("void"));
    assert!(!page.has_id("send"));
    assert!(!page.has_id("record-payment"));
}

#[tokio::test]
async fn a_draft_is_created_from_the_client_page() {
    let app = TestApp::new().await;
    let t = app.tenant("Draft MSP").await;
    let other = app.tenant("Other Draft MSP").await;
    let client = app.client(&t.admin, "Nu Networks").await;
    let theirs = app.client(&other.admin, "Their Draft Client").await;
    let s = sign_in(&app, &admin_email("Draft MSP")).await;

    let page = get(&app, &format!("/console/clients/{client}"), &s.cookie).await;
    assert!(page.html.contains(&format!(
        "href=\"/console/invoices/new?client_id={client}\""
    )));
    let path = format!("/console/invoices/new?client_id={client}");
    let form = get(&app, &path, &s.cookie).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    assert_eq!(form.title(), "New draft invoice · Nestogy");
    assert!(form.html.contains("Nu Networks"));
    let csrf = form.csrf();
    let nope = get(
        &app,
        &format!("/console/invoices/new?client_id={theirs}"),
        &s.cookie,
    )
    .await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);
    assert!(!nope.html.contains("Their Draft Client"));

    let no_token = post(
        &app,
        "/console/invoices/new",
        &s.cookie,
        &[("client_id", &client)],
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let bad = post(
        &app,
        "/console/invoices/new",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("client_id", &client),
            // A line without a description (nor a product to give one).
            ("lines[0].quantity", "1"),
            ("lines[0].unit_price", "5.25"),
            ("lines[1].description", "Onboarding"),
            ("lines[1].quantity", "1"),
            ("lines[1].unit_price", "10"),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.html);
    assert!(bad.html.contains("value=\"Onboarding\""));
    assert!(bad.html.contains("value=\"5.25\""));
    assert!(bad.html.contains("id=\"field-problems\""), "{}", bad.html);
    assert!(bad.html.contains("lines[0]"), "{}", bad.html);
    let drafts = app.get("/api/v1/invoices?status=draft", &t.admin).await;
    assert_eq!(drafts.body["total"], 0, "nothing created");
    let ok = post(
        &app,
        "/console/invoices/new",
        &s.cookie,
        &[
            ("csrf", &csrf),
            ("client_id", &client),
            ("due_date", "2026-04-30"),
            ("lines[0].description", "Onboarding"),
            ("lines[0].quantity", "2"),
            ("lines[0].unit_price", "80"),
            ("lines[2].description", "Cabling"),
            ("lines[2].quantity", "1"),
            ("lines[2].unit_price", "25.50"),
            ("notes", "Thank you"),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.html);
    let id = ok
        .location()
        .trim_start_matches("/console/invoices/")
        .to_owned();
    let inv = app.get(&format!("/api/v1/invoices/{id}"), &t.admin).await;
    assert_eq!(inv.status, StatusCode::OK, "{}", inv.body);
    assert_eq!(inv.body["status"], "draft");
    assert_eq!(inv.body["client_id"], client.as_str());
    assert_eq!(inv.body["due_date"], "2026-04-30");
    assert_eq!(inv.body["notes"], "Thank you");
    assert_eq!(inv.body["lines"].as_array().unwrap().len(), 2);
    assert_eq!(inv.body["total"], "185.50");
}
