//! PDFs through the API: rendered by a job, stored, streamed; branding;
//! the company's logo and SMTP settings.

use axum::http::StatusCode;
use nestogy_domain::billing::documents::DocRef;
use serde_json::json;

use crate::common::{TestApp, pdf_text};

/// A 1×1 PNG.
pub(crate) const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// GETs `path` until it answers 200 with a body `accept` takes (a worker
/// renders meanwhile); returns the headers and the PDF.
async fn pdf_matching(
    app: &TestApp,
    path: &str,
    token: &str,
    accept: impl Fn(&[u8]) -> bool,
) -> (axum::http::HeaderMap, Vec<u8>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, headers, body) = app.get_bytes(path, token).await;
        if status == StatusCode::OK && accept(&body) {
            return (headers, body);
        }
        assert!(
            status == StatusCode::OK || status == StatusCode::ACCEPTED,
            "{status}: {}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            std::time::Instant::now() < deadline,
            "{path} not rendered in 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub(crate) async fn pdf_when_ready(
    app: &TestApp,
    path: &str,
    token: &str,
) -> (axum::http::HeaderMap, Vec<u8>) {
    pdf_matching(app, path, token, |_| true).await
}

#[tokio::test]
async fn an_invoice_pdf_is_rendered_by_a_job_then_streamed_and_rerendered_when_it_changes() {
    let app = TestApp::new().await;
    let t = app.tenant("Render Co").await;
    let client = app
        .billed_client(&t.admin, "Zürich Ελληνικά 東京 GmbH", "ap@zurich.example")
        .await;
    let id = app.open_invoice(&t.admin, &client, "Managed backup").await;
    let path = format!("/api/v1/invoices/{id}/pdf");

    // Nothing rendered yet: 202 and the job that renders it.
    let first = app.get(&path, &t.admin).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    assert_eq!(first.body["status"], "rendering");
    let job = first.body["job_id"].as_str().expect("job id").to_owned();
    assert_eq!(
        first.headers["location"].to_str().unwrap(),
        format!("/api/v1/jobs/{job}")
    );
    let again = app.get(&path, &t.admin).await;
    assert_eq!(
        again.body["job_id"],
        job.as_str(),
        "one render job per document state"
    );

    let worker = app.start_worker();
    let (headers, pdf) = pdf_when_ready(&app, &path, &t.admin).await;
    assert_eq!(headers["content-type"], "application/pdf");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("INV-2026-000001.pdf")
    );
    assert!(pdf.starts_with(b"%PDF-"));
    let (text, pages) = pdf_text(&pdf);
    for want in [
        "INV-2026-000001",
        "Zürich",
        "Ελληνικά",
        "東京",
        "Managed backup",
        "361.50",
        "Render Co",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    assert_eq!(pages, 1);
    let (_, _, same) = app.get_bytes(&path, &t.admin).await;
    assert_eq!(same, pdf, "served from the store while unchanged");

    // A payment changes what the invoice shows: a new rendering, not the old one.
    let paid = app
        .post(
            &format!("/api/v1/invoices/{id}/payments"),
            &t.admin,
            json!({"amount": "361.50", "method": "bank_transfer"}),
        )
        .await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.body);
    let (headers, newer) = pdf_matching(&app, &path, &t.admin, |b| b != pdf.as_slice()).await;
    assert!(!headers["etag"].is_empty(), "the etag names the rendering");
    let (text, _) = pdf_text(&newer);
    assert!(text.contains("PAID"), "the paid invoice says so:\n{text}");
    worker.stop().await;
    assert_eq!(
        app.count("SELECT count(*) FROM documents WHERE kind = 'invoice'")
            .await,
        1,
        "one current rendering per document"
    );
}

#[tokio::test]
async fn rendering_is_idempotent_and_reproducible() {
    let app = TestApp::new().await;
    let t = app.tenant("Repro Co").await;
    let client = app.billed_client(&t.admin, "Acme", "ap@acme.example").await;
    let id: nestogy_domain::InvoiceId = app
        .open_invoice(&t.admin, &client, "Patching")
        .await
        .parse()
        .unwrap();
    let doc = nestogy_domain::billing::documents::DocRef::Invoice { id };
    let job = || nestogy_jobs::documents::Render {
        tenant: t.id,
        doc: doc.clone(),
    };
    let first = app.run_job(job()).await.expect("render");
    let second = app.run_job(job()).await.expect("render again");
    assert_eq!(first["rendered"], true);
    assert_eq!(
        second["rendered"], false,
        "the same data is not rendered twice"
    );
    assert_eq!(first["key"], second["key"]);
    let key = first["key"].as_str().unwrap();
    assert!(
        key.starts_with(&format!("tenants/{}/invoices/{id}/", t.id)),
        "{key}"
    );
    // Rendered afresh, the same data gives the same bytes.
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let view = nestogy_domain::billing::documents::view(&mut tx, &doc)
        .await
        .unwrap();
    drop(tx);
    let a = nestogy_jobs::documents::render(&view).await.unwrap();
    let b = nestogy_jobs::documents::render(&view).await.unwrap();
    assert_eq!(a, b);
    let stored = app.services.files.get(key).await.unwrap();
    assert_eq!(&stored[..], &a[..]);
}

#[tokio::test]
async fn quote_and_statement_pdfs() {
    let app = TestApp::new().await;
    let t = app.tenant("Docs Co").await;
    let client = app
        .billed_client(&t.admin, "Müller AG", "ap@mueller.example")
        .await;
    let inv = app
        .open_invoice(&t.admin, &client, "Firewall service")
        .await;
    app.post(
        &format!("/api/v1/invoices/{inv}/payments"),
        &t.admin,
        json!({"amount": "100", "method": "card", "reference": "CARD-77"}),
    )
    .await;
    let quote = app
        .post(
            "/api/v1/quotes",
            &t.admin,
            json!({"client_id": client, "lines": [{"description": "Network refresh", "quantity": "1", "unit_price": "4200"}]}),
        )
        .await
        .id();
    let worker = app.start_worker();
    let (_, pdf) = pdf_when_ready(&app, &format!("/api/v1/quotes/{quote}/pdf"), &t.admin).await;
    let (text, _) = pdf_text(&pdf);
    for want in ["Quote", "Network refresh", "4,200.00", "Müller AG", "DRAFT"] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    let path = format!("/api/v1/clients/{client}/statement/pdf?from=2026-01-01&to=2026-03-31");
    let (_, pdf) = pdf_when_ready(&app, &path, &t.admin).await;
    let (text, _) = pdf_text(&pdf);
    for want in [
        "Statement",
        "INV-2026-000001",
        "CARD-77",
        "361.50",
        "261.50",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    worker.stop().await;
    let bad = app
        .get(
            &format!("/api/v1/clients/{client}/statement/pdf?from=2026-04-01&to=2026-03-01"),
            &t.admin,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.to_string().contains("\"from\""));
}

#[tokio::test]
async fn branding_and_logo_appear_on_documents() {
    let app = TestApp::new().await;
    let t = app.tenant("Brand Co").await;
    let r = app
        .call(
            axum::http::Method::PATCH,
            "/api/v1/company",
            Some(&t.admin),
            Some(json!({"branding": {"tax_id": "DE123456789", "accent_color": "#AA3300",
                "footer": "Brand Co GmbH, Registergericht Berlin", "payment_instructions": "IBAN DE89 3704 0044 0532 0130 00"},
                "locale": "de-DE", "address": {"line1": "Hauptstraße 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["branding"]["accent_color"], "#aa3300");
    let bad = app
        .call(
            axum::http::Method::PATCH,
            "/api/v1/company",
            Some(&t.admin),
            Some(json!({"branding": {"accent_color": "orange"}, "settings": {"reminder_days": [0, 500]}})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = bad.body["error"]["details"]["fields"].to_string();
    assert!(
        fields.contains("branding.accent_color") && fields.contains("settings.reminder_days"),
        "{fields}"
    );

    // The logo: a real PNG is taken, anything else is refused with a reason.
    let put = |body: Vec<u8>, ctype: &'static str| {
        let req = axum::http::Request::builder()
            .method(axum::http::Method::PUT)
            .uri("/api/v1/company/logo")
            .header("authorization", format!("Bearer {}", t.admin))
            .header("content-type", ctype)
            .body(axum::body::Body::from(body))
            .unwrap();
        app.raw(req)
    };
    let r = put(b"not a png".to_vec(), "image/png").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.to_string().contains("not a PNG"), "{}", r.body);
    let r = put(PNG.to_vec(), "image/gif").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A PNG signature on a body that does not decode.
    let mut broken = PNG.to_vec();
    broken[40] ^= 0xff;
    let r = put(broken, "image/png").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.to_string().contains("cannot be used"), "{}", r.body);
    assert_eq!(
        put(PNG.to_vec(), "image/png").await.status,
        StatusCode::NO_CONTENT
    );
    let (status, headers, got) = app.get_bytes("/api/v1/company/logo", &t.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(got, PNG);

    let client = app
        .billed_client(&t.admin, "Kunde", "ap@kunde.example")
        .await;
    let id: nestogy_domain::InvoiceId = app
        .open_invoice(&t.admin, &client, "Wartung")
        .await
        .parse()
        .unwrap();
    let out = app
        .run_job(nestogy_jobs::documents::Render {
            tenant: t.id,
            doc: nestogy_domain::billing::documents::DocRef::Invoice { id },
        })
        .await
        .expect("render");
    let pdf = app
        .services
        .files
        .get(out["key"].as_str().unwrap())
        .await
        .unwrap();
    let (text, _) = pdf_text(&pdf);
    for want in [
        "Rechnung",
        "DE123456789",
        "Registergericht Berlin",
        "IBAN DE89",
        "Hauptstraße 1",
        "361,50",
        "€",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    assert_eq!(
        app.get_bytes("/api/v1/company/logo", &t.admin).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn smtp_passwords_are_sealed_and_never_shown() {
    let app = TestApp::new().await;
    let t = app.tenant("Smtp Co").await;
    let r = app
        .call(
            axum::http::Method::PUT,
            "/api/v1/company/smtp",
            Some(&t.admin),
            Some(json!({"host": "smtp.example.com", "tls": "tls", "username": "u",
                        "password": "hunter2-very-secret", "from_address": "billing@smtp.example.com"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["port"], 465, "the TLS port by default");
    assert_eq!(r.body["has_password"], true);
    assert!(!r.body.to_string().contains("hunter2"));
    let stored: Vec<u8> = sqlx::query_scalar("SELECT password_enc FROM company_smtp")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains("hunter2"));
    // Changing other fields keeps the password.
    let r = app
        .call(
            axum::http::Method::PUT,
            "/api/v1/company/smtp",
            Some(&t.admin),
            Some(json!({"host": "smtp2.example.com", "tls": "starttls", "from_address": "billing@smtp.example.com"})),
        )
        .await;
    assert_eq!(r.body["has_password"], true);
    assert_eq!(r.body["port"], 587);
    let bad = app
        .call(
            axum::http::Method::PUT,
            "/api/v1/company/smtp",
            Some(&t.admin),
            Some(json!({"host": "", "tls": "starttls", "from_address": "nope", "port": 0})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = bad.body["error"]["details"]["fields"].to_string();
    for f in ["host", "from_address", "port"] {
        assert!(fields.contains(&format!("\"{f}\"")), "{f} in {fields}");
    }
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let server =
        nestogy_domain::platform::mail::smtp_server(&mut tx, app.services.secrets.as_ref())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(server.password.as_deref(), Some("hunter2-very-secret"));
}

#[tokio::test]
async fn rendering_many_at_once_is_idempotent_and_matches_one_at_a_time() {
    let app = TestApp::new().await;
    let t = app.tenant("Many Co").await;
    let client = app.billed_client(&t.admin, "Acme", "ap@acme.example").await;
    let mut docs = Vec::new();
    for n in 0..5 {
        let id = app
            .open_invoice(&t.admin, &client, &format!("Service {n}"))
            .await;
        docs.push(nestogy_domain::billing::documents::DocRef::Invoice {
            id: id.parse().unwrap(),
        });
    }
    // One of them rendered alone first.
    let single = app
        .run_job(nestogy_jobs::documents::Render {
            tenant: t.id,
            doc: docs[0].clone(),
        })
        .await
        .unwrap();
    let job = || nestogy_jobs::documents::RenderMany {
        tenant: t.id,
        docs: docs.clone(),
    };
    let first = app.run_job(job()).await.unwrap();
    assert_eq!(first, json!({"rendered": 4, "skipped": 1}));
    let second = app.run_job(job()).await.unwrap();
    assert_eq!(second, json!({"rendered": 0, "skipped": 5}));
    assert_eq!(app.count("SELECT count(*) FROM documents").await, 5);
    // A batch rendering is the same file a single one would be.
    let key: String = sqlx::query_scalar("SELECT object_key FROM documents WHERE subject_id = $1")
        .bind(docs[0].subject_id())
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(single["key"], key.as_str());
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let view = nestogy_domain::billing::documents::view(&mut tx, &docs[3])
        .await
        .unwrap();
    drop(tx);
    let alone = nestogy_jobs::documents::render(&view).await.unwrap();
    let stored = app
        .services
        .files
        .get(&nestogy_domain::billing::documents::object_key(t.id, &view))
        .await
        .unwrap();
    assert_eq!(&stored[..], &alone[..]);
}

/// The text of the current view of `doc`, rendered as a worker renders it.
async fn rendered_text(app: &TestApp, tenant: nestogy_domain::TenantId, doc: DocRef) -> String {
    let mut tx = app.db.tenant(tenant).await.unwrap();
    let view = nestogy_domain::billing::documents::view(&mut tx, &doc)
        .await
        .unwrap();
    drop(tx);
    let pdf = nestogy_jobs::documents::render(&view).await.unwrap();
    pdf_text(&pdf).0.replace(['\u{a0}', '\u{202f}'], " ")
}

/// The recipient block prints the client's billing address and tax id, on
/// invoices, quotes and statements; without a billing address, the primary
/// location's.
#[tokio::test]
async fn the_recipient_block_prints_the_billing_address_and_tax_id() {
    let app = TestApp::new().await;
    let t = app.tenant("Address Co").await;
    let r = app
        .post(
            "/api/v1/clients",
            &t.admin,
            json!({"name": "Kunde GmbH", "tax_id": "DE811907980",
                   "billing_address": {"line1": "Rechnungsweg 7", "line2": "Buchhaltung", "postal_code": "80331",
                                       "city": "München", "country": "de"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["billing_address"]["country"], "DE");
    assert_eq!(r.body["billing_address"]["city"], "München");
    let client = r.id();
    let bad = app
        .patch(
            &format!("/api/v1/clients/{client}"),
            &t.admin,
            json!({"billing_address": {"country": "Germany"}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body.to_string().contains("billing_address.country"),
        "{}",
        bad.body
    );

    let inv: nestogy_domain::InvoiceId = app
        .open_invoice(&t.admin, &client, "Wartung")
        .await
        .parse()
        .unwrap();
    let quote = app
        .post(
            "/api/v1/quotes",
            &t.admin,
            json!({"client_id": client, "lines": [{"description": "Umbau", "quantity": "1", "unit_price": "10"}]}),
        )
        .await
        .id();
    let statement = DocRef::Statement {
        client: client.parse().unwrap(),
        period: nestogy_domain::billing::documents::Period {
            currency: "EUR".into(),
            from: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            to: chrono::NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
        },
    };
    for doc in [
        DocRef::Invoice { id: inv },
        DocRef::Quote {
            id: quote.parse().unwrap(),
        },
        statement,
    ] {
        let text = rendered_text(&app, t.id, doc.clone()).await;
        for want in [
            "Kunde GmbH",
            "Rechnungsweg 7",
            "Buchhaltung",
            "80331 München",
            "DE",
            "Tax ID: DE811907980",
        ] {
            assert!(
                text.contains(want),
                "{:?}: {want:?} missing from:\n{text}",
                doc.kind()
            );
        }
    }

    // Without a billing address, the primary location's address.
    let r = app
        .patch(
            &format!("/api/v1/clients/{client}"),
            &t.admin,
            json!({"billing_address": null, "tax_id": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["billing_address"].is_null());
    let loc = app
        .post(
            &format!("/api/v1/clients/{client}/locations"),
            &t.admin,
            json!({"name": "HQ", "is_primary": true, "address": {"line1": "Hauptsitz 1", "city": "Berlin"}}),
        )
        .await;
    assert_eq!(loc.status, StatusCode::CREATED, "{}", loc.body);
    let text = rendered_text(&app, t.id, DocRef::Invoice { id: inv }).await;
    assert!(text.contains("Hauptsitz 1"), "{text}");
    assert!(
        !text.contains("Rechnungsweg") && !text.contains("Tax ID"),
        "{text}"
    );
}

/// An invoice a recurring template made prints the service period it bills
/// (a first period billed pro rata from the day service started); other
/// invoices print none.
#[tokio::test]
async fn a_recurring_invoice_prints_its_service_period() {
    let app = TestApp::new().await;
    let t = app.tenant("Period Co").await;
    let r = app
        .patch("/api/v1/company", &t.admin, json!({"locale": "de-DE"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let client = app.client(&t.admin, "Acme").await;
    let tpl = app
        .post(
            "/api/v1/recurring-invoices",
            &t.admin,
            json!({"client_id": client, "name": "Managed services", "frequency": {"unit": "months", "every": 1},
                   "start_date": "2026-01-31", "prorate_from": "2026-02-10",
                   "lines": [{"description": "Managed services", "quantity": "1", "unit_price": "100.00"}]}),
        )
        .await;
    assert_eq!(tpl.status, StatusCode::CREATED, "{}", tpl.body);
    let tpl: nestogy_domain::RecurringId = tpl.id().parse().unwrap();
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let billed = nestogy_domain::billing::recurring::bill(
        &mut tx,
        tpl,
        chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        None,
        false,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let ids: Vec<_> = billed.iter().filter_map(|p| p.invoice_id).collect();
    assert_eq!(ids.len(), 2, "{billed:?}");
    // Jan 31 – Feb 27, from Feb 10 (pro rata); then Feb 28 – Mar 30.
    let first = rendered_text(&app, t.id, DocRef::Invoice { id: ids[0] }).await;
    assert!(first.contains("Leistungszeitraum"), "{first}");
    assert!(first.contains("10.02.2026 – 27.02.2026"), "{first}");
    let second = rendered_text(&app, t.id, DocRef::Invoice { id: ids[1] }).await;
    assert!(second.contains("28.02.2026 – 30.03.2026"), "{second}");
    let other = app.open_invoice(&t.admin, &client, "Einmalig").await;
    let text = rendered_text(
        &app,
        t.id,
        DocRef::Invoice {
            id: other.parse().unwrap(),
        },
    )
    .await;
    assert!(!text.contains("Leistungszeitraum"), "{text}");
}

/// A statement lists credit applied to an invoice (moving nothing: the
/// payment that made the credit counted already) and the credit left, in
/// its JSON and its PDF.
#[tokio::test]
async fn a_statement_shows_credit_applied() {
    let app = TestApp::new().await;
    let t = app.tenant("Credit Co").await;
    let client = app.billed_client(&t.admin, "Acme", "ap@acme.example").await;
    let a = app.open_invoice(&t.admin, &client, "First").await;
    let b = app.open_invoice(&t.admin, &client, "Second").await;
    // 361.50 each; 400.00 paid on the first leaves 38.50 of credit.
    let r = app
        .post(
            &format!("/api/v1/invoices/{a}/payments"),
            &t.admin,
            json!({"amount": "400.00", "method": "bank_transfer", "reference": "TX-1"}),
        )
        .await;
    assert_eq!(r.body["credited"], "38.50", "{}", r.body);
    let r = app
        .post(
            &format!("/api/v1/invoices/{b}/apply-credit"),
            &t.admin,
            json!({"amount": "30.00"}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    let number_b = r.body["number"].as_str().unwrap().to_owned();
    let st = app
        .get(
            &format!("/api/v1/clients/{client}/statement?from=2026-01-01&to=2026-03-31"),
            &t.admin,
        )
        .await;
    assert_eq!(st.status, StatusCode::OK, "{}", st.body);
    let entries = st.body["entries"].as_array().unwrap();
    let applied = entries
        .iter()
        .find(|e| e["kind"] == "credit_applied")
        .unwrap_or_else(|| panic!("no credit applied in {}", st.body));
    assert_eq!(applied["reference"], number_b.as_str());
    assert_eq!(applied["applied"], "30.00");
    assert_eq!(applied["amount"], "0.00");
    assert_eq!(st.body["closing_balance"], "323.00");
    assert_eq!(st.body["credit"], "8.50");

    let text = rendered_text(
        &app,
        t.id,
        DocRef::Statement {
            client: client.parse().unwrap(),
            period: nestogy_domain::billing::documents::Period {
                currency: "EUR".into(),
                from: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                to: chrono::NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
            },
        },
    )
    .await;
    assert!(
        text.contains(&format!("Credit applied to {number_b}: €30.00")),
        "{text}"
    );
    assert!(text.contains("Available credit"), "{text}");
    assert!(text.contains("€8.50"), "{text}");
}
