//! Mail texts the tenant edits: built-in texts in the company's language,
//! a company's own text checked when saved (a broken one is a 422, never a
//! failed mail), the preview with sample data, going back to the built-in
//! text, who may change them, and tenancy. Mail goes to a real SMTP sink.

use axum::http::{Method, StatusCode};
use nestogy_domain::MailId;
use nestogy_domain::kernel::roles::Role;
use nestogy_jobs::mail::Deliver;
use serde_json::{Value, json};

use crate::common::{SmtpSink, Tenant, TestApp, field_code, use_sink};

async fn sink_for(app: &TestApp, t: &Tenant) -> SmtpSink {
    let sink = SmtpSink::start("accept");
    use_sink(app, t, &sink).await;
    sink
}

/// Sends an invoice of a new client and delivers its mail; answers what
/// the sink received.
async fn mail_an_invoice(app: &TestApp, t: &Tenant, sink: &SmtpSink, n: usize) -> Value {
    let client = app
        .billed_client(
            &t.admin,
            &format!("Client {n}"),
            &format!("ap{n}@acme.example"),
        )
        .await;
    let id = app
        .open_invoice(&t.admin, &client, "Managed firewall")
        .await;
    let sent = app
        .post(&format!("/api/v1/invoices/{id}/send"), &t.admin, json!({}))
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    let mail: MailId = sent.body["mail_id"].as_str().unwrap().parse().unwrap();
    let out = app.run_job(Deliver { tenant: t.id, mail }).await.unwrap();
    assert_eq!(out["status"], "sent", "{out}");
    sink.wait_for(n).await[n - 1].clone()
}

/// The mail's text with its line ends as written (SMTP sends CRLF).
fn text(m: &Value) -> String {
    m["text"].as_str().unwrap_or_default().replace("\r\n", "\n")
}

#[tokio::test]
async fn every_message_has_a_built_in_text_in_the_companys_language() {
    let app = TestApp::new().await;
    let t = app.tenant("Words Co").await;
    let list = app.get("/api/v1/mail-texts", &t.admin).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let all = list.body.as_array().unwrap();
    assert_eq!(all.len(), 17, "one per kind of message");
    let invoice = all.iter().find(|x| x["template"] == "invoice").unwrap();
    assert_eq!(invoice["language"], "en");
    assert_eq!(invoice["customized"], false);
    assert_eq!(
        invoice["subject"],
        "Invoice {{invoice.number}} from {{company.name}}"
    );
    let names: Vec<&str> = invoice["placeholders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"invoice.total") && names.contains(&"company.name"));
    let reply = app.get("/api/v1/mail-texts/ticket_reply", &t.admin).await;
    let required: Vec<(&str, &str)> = reply.body["placeholders"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| Some((p["name"].as_str()?, p["required_in"].as_str()?)))
        .collect();
    assert_eq!(
        required,
        vec![("ticket.number", "subject"), ("reply.body", "body")]
    );
    assert_eq!(
        app.get("/api/v1/mail-texts/no_such_mail", &t.admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // A German company's mail is written in German, with German amounts.
    let sink = sink_for(&app, &t).await;
    let r = app
        .patch("/api/v1/company", &t.admin, json!({"locale": "de-DE"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let de = app.get("/api/v1/mail-texts/invoice", &t.admin).await;
    assert_eq!(de.body["language"], "de");
    let m = mail_an_invoice(&app, &t, &sink, 1).await;
    assert_eq!(m["subject"], "Rechnung INV-2026-000001 von Words Co");
    assert!(text(&m).starts_with("Guten Tag,"), "{}", text(&m));
    assert!(text(&m).contains("361,50"), "{}", text(&m));
    assert!(
        text(&m).contains("Mit freundlichen Grüßen\nWords Co"),
        "{}",
        text(&m)
    );

    // And a French one in French.
    app.patch("/api/v1/company", &t.admin, json!({"locale": "fr-FR"}))
        .await;
    let m = mail_an_invoice(&app, &t, &sink, 2).await;
    assert_eq!(m["subject"], "Facture INV-2026-000002 de Words Co");
    assert!(text(&m).contains("Cordialement,"), "{}", text(&m));
}

#[tokio::test]
async fn a_companys_own_text_is_sent_until_it_goes_back_to_the_built_in_one() {
    let app = TestApp::new().await;
    let t = app.tenant("Own Words").await;
    let sink = sink_for(&app, &t).await;
    let put = app
        .call(
            Method::PUT,
            "/api/v1/mail-texts/invoice",
            Some(&t.admin),
            Some(json!({
                "subject": "{{company.name}}: your bill {{invoice.number}}",
                "body": "Dear {{client.name}},\n\n{{invoice.total}} by {{invoice.due_date}}, please.\n\nThe {{company.name}} team"
            })),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["customized"], true);
    assert!(put.body["updated_at"].is_string());
    assert_eq!(
        put.body["default_subject"],
        "Invoice {{invoice.number}} from {{company.name}}"
    );

    let m = mail_an_invoice(&app, &t, &sink, 1).await;
    assert_eq!(m["subject"], "Own Words: your bill INV-2026-000001");
    let body = &text(&m);
    assert!(body.starts_with("Dear Client 1,"), "{body}");
    assert!(body.contains("€361.50 by "), "{body}");
    assert!(body.contains("The Own Words team"), "{body}");
    assert_eq!(
        m["attachments"][0]["content_type"], "application/pdf",
        "the PDF still goes with it"
    );

    // The change is in the audit log.
    let audit = app
        .get("/api/v1/audit?action=mail_text.saved", &t.admin)
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    assert!(
        audit.body.to_string().contains("mail_text.saved"),
        "{}",
        audit.body
    );

    // Back to the built-in text.
    let reset = app.delete("/api/v1/mail-texts/invoice", &t.admin).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert_eq!(reset.body["customized"], false);
    let m = mail_an_invoice(&app, &t, &sink, 2).await;
    assert_eq!(m["subject"], "Invoice INV-2026-000002 from Own Words");
}

#[tokio::test]
async fn a_broken_text_is_refused_when_saved_and_the_old_one_keeps_sending() {
    let app = TestApp::new().await;
    let t = app.tenant("Careful Co").await;
    let put = |template: &'static str, subject: &'static str, body: &'static str| {
        let app = &app;
        let t = &t;
        async move {
            app.call(
                Method::PUT,
                &format!("/api/v1/mail-texts/{template}"),
                Some(&t.admin),
                Some(json!({"subject": subject, "body": body})),
            )
            .await
        }
    };
    let r = put("invoice", "Invoice {{invoice.nummer}}", "Hi {{client.name").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(field_code(&r, "subject"), "unknown_placeholder");
    assert_eq!(field_code(&r, "body"), "unclosed_placeholder");
    assert!(
        r.body.to_string().contains("{{invoice.nummer}}"),
        "{}",
        r.body
    );

    // A reply that would lose its ticket number or its text.
    let r = put("ticket_reply", "Re: {{ticket.subject}}", "Thanks!").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(field_code(&r, "subject"), "required_placeholder");
    assert_eq!(field_code(&r, "body"), "required_placeholder");

    // A sign-in link belongs in the body, never the stored subject.
    let r = put(
        "portal_sign_in",
        "Sign in: {{portal.link}}",
        "{{portal.link}}",
    )
    .await;
    assert_eq!(field_code(&r, "subject"), "body_only_placeholder");

    // Header injection through the subject.
    let r = put("invoice", "Invoice\r\nBcc: all@evil.example", "x").await;
    assert_eq!(field_code(&r, "subject"), "line_break");

    // NUL bytes and oversize bodies.
    let r = put("invoice", "ok", "a\u{0}b").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let long = "x".repeat(20_001);
    let r = app
        .call(
            Method::PUT,
            "/api/v1/mail-texts/invoice",
            Some(&t.admin),
            Some(json!({"subject": "ok", "body": long})),
        )
        .await;
    assert_eq!(field_code(&r, "body"), "too_long");
    let r = app
        .call(
            Method::PUT,
            "/api/v1/mail-texts/invoice",
            Some(&t.admin),
            Some(json!({"subject": "ok", "body": "ok", "cc": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    // Nothing was stored.
    assert_eq!(app.count("SELECT count(*) FROM mail_texts").await, 0);
    let sink = sink_for(&app, &t).await;
    let m = mail_an_invoice(&app, &t, &sink, 1).await;
    assert_eq!(m["subject"], "Invoice INV-2026-000001 from Careful Co");
}

#[tokio::test]
async fn a_preview_fills_a_draft_with_sample_data_without_storing_it() {
    let app = TestApp::new().await;
    let t = app.tenant("Preview Co").await;
    let r = app
        .post(
            "/api/v1/mail-texts/overdue_reminder/preview",
            &t.admin,
            json!({"subject": "Still open: {{invoice.number}} ({{invoice.balance}})"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["subject"], "Still open: INV-2026-000042 (€750.00)");
    let body = r.body["body"].as_str().unwrap();
    assert!(body.contains("14 days ago"), "the built-in body: {body}");
    assert!(!body.contains("{{"), "{body}");

    let bad = app
        .post(
            "/api/v1/mail-texts/overdue_reminder/preview",
            &t.admin,
            json!({"body": "{{nope}}"}),
        )
        .await;
    assert_eq!(field_code(&bad, "body"), "unknown_placeholder");
    assert_eq!(app.count("SELECT count(*) FROM mail_texts").await, 0);

    // Every kind previews in every language.
    for locale in ["en-US", "de-DE", "fr-FR"] {
        app.patch("/api/v1/company", &t.admin, json!({"locale": locale}))
            .await;
        let list = app.get("/api/v1/mail-texts", &t.admin).await;
        for x in list.body.as_array().unwrap() {
            let kind = x["template"].as_str().unwrap();
            let p = app
                .post(
                    &format!("/api/v1/mail-texts/{kind}/preview"),
                    &t.admin,
                    json!({}),
                )
                .await;
            assert_eq!(p.status, StatusCode::OK, "{kind} {locale}: {}", p.body);
            let all = format!("{}{}", p.body["subject"], p.body["body"]);
            assert!(!all.contains("{{"), "{kind} {locale}: {all}");
        }
    }
}

#[tokio::test]
async fn techs_read_the_texts_admins_change_them_and_tenants_keep_their_own() {
    let app = TestApp::new().await;
    let a = app.tenant("Tenant A").await;
    let b = app.tenant("Tenant B").await;
    let tech = app.user(&a, Role::Tech).await;
    assert_eq!(
        app.get("/api/v1/mail-texts/invoice", &tech).await.status,
        StatusCode::OK
    );
    let body = json!({"subject": "A's {{invoice.number}}", "body": "A"});
    let r = app
        .call(
            Method::PUT,
            "/api/v1/mail-texts/invoice",
            Some(&tech),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        app.delete("/api/v1/mail-texts/invoice", &tech).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .call(
            Method::PUT,
            "/api/v1/mail-texts/invoice",
            Some(&a.admin),
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let theirs = app.get("/api/v1/mail-texts/invoice", &b.admin).await;
    assert_eq!(theirs.body["customized"], false);
    assert_eq!(
        theirs.body["subject"],
        "Invoice {{invoice.number}} from {{company.name}}"
    );
    // B going back to the built-in text leaves A's alone.
    app.delete("/api/v1/mail-texts/invoice", &b.admin).await;
    let ours = app.get("/api/v1/mail-texts/invoice", &a.admin).await;
    assert_eq!(ours.body["subject"], "A's {{invoice.number}}");
}

#[tokio::test]
async fn a_custom_reply_text_still_threads_and_carries_the_reply() {
    let app = TestApp::new().await;
    let t = app.tenant("Reply Words").await;
    let sink = sink_for(&app, &t).await;
    let r = app
        .call(
            Method::PUT,
            "/api/v1/mail-texts/ticket_reply",
            Some(&t.admin),
            Some(json!({
                "subject": "[{{ticket.number}}] {{ticket.subject}} (update)",
                "body": "{{reply.body}}\n\nCheers,\nthe {{company.name}} desk"
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let acme = app.client(&t.admin, "Acme").await;
    let ann = app
        .post(
            &format!("/api/v1/clients/{acme}/contacts"),
            &t.admin,
            json!({"name": "Ann", "email": "ann@acme.example"}),
        )
        .await
        .id();
    let ticket = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Cannot print", "client_id": acme, "contact_id": ann}),
        )
        .await;
    let (id, token) = (
        ticket.id(),
        ticket.body["token"].as_str().unwrap().to_owned(),
    );
    let r = app
        .post(
            &format!("/api/v1/tickets/{id}/messages"),
            &t.admin,
            json!({"kind": "reply", "body": "Load letter paper into tray 2."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let mail: MailId = r.body["mail_id"].as_str().unwrap().parse().unwrap();
    app.run_job(Deliver { tenant: t.id, mail }).await.unwrap();
    let m = &sink.wait_for(1).await[0];
    assert_eq!(m["subject"], format!("{token} Cannot print (update)"));
    assert!(
        text(m).starts_with("Load letter paper into tray 2.\n\nCheers,\nthe Reply Words desk"),
        "{}",
        text(m)
    );
}

#[tokio::test]
async fn the_console_edits_previews_and_resets_a_text() {
    use crate::console::{get, post};
    use crate::console_settings::{assert_form_has_csrf, sessions};
    let app = TestApp::new().await;
    let t = app.tenant("Texts Page MSP").await;
    let (admin, tech, _) = sessions(&app, &t, "Texts Page MSP").await;
    let list = get(&app, "/console/settings/mail-texts", &admin.cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert_eq!(list.title(), "Mail texts · Nestogy");
    assert!(
        list.html
            .contains("href=\"/console/settings/mail-texts/overdue_reminder\"")
    );
    let settings = get(&app, "/console/settings", &admin.cookie).await;
    assert!(settings.html.contains("/console/settings/mail-texts"));

    let path = "/console/settings/mail-texts/invoice";
    let page = get(&app, path, &admin.cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_form_has_csrf(&page, "mail-text-form");
    assert!(page.html.contains("{{invoice.total}}"), "the placeholders");
    assert!(!page.has_id("reset-mail-text"), "nothing to reset yet");
    let csrf = page.csrf();
    let draft = |action: &'static str, subject: &'static str| {
        vec![
            ("subject", subject),
            ("body", "Dear {{client.name}}, {{invoice.total}} please."),
            ("action", action),
        ]
    };
    // No token: refused.
    let r = post(
        &app,
        path,
        &admin.cookie,
        &draft("save", "Bill {{invoice.number}}"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Preview: filled with samples, nothing stored, the draft kept.
    let mut f = draft("preview", "Bill {{invoice.number}}");
    f.push(("csrf", &csrf));
    let r = post(&app, path, &admin.cookie, &f).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.html);
    assert!(r.html.contains("Bill INV-2026-000042"), "{}", r.html);
    assert!(
        r.html.contains("Dear Acme Ltd, €1,250.00 please."),
        "{}",
        r.html
    );
    assert!(r.html.contains("value=\"Bill {{invoice.number}}\""));
    assert_eq!(app.count("SELECT count(*) FROM mail_texts").await, 0);

    // A broken draft: the API's problem on the field, the input kept.
    let mut f = draft("save", "Bill {{invoice.nummer}}");
    f.push(("csrf", &csrf));
    let r = post(&app, path, &admin.cookie, &f).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.html);
    assert!(r.html.contains("{{invoice.nummer}}"));
    assert!(r.html.contains("aria-invalid=\"true\""));

    // Saved, then back to the built-in text.
    let mut f = draft("save", "Bill {{invoice.number}}");
    f.push(("csrf", &csrf));
    let r = post(&app, path, &admin.cookie, &f).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let api = app.get("/api/v1/mail-texts/invoice", &t.admin).await;
    assert_eq!(api.body["subject"], "Bill {{invoice.number}}");
    let page = get(&app, path, &admin.cookie).await;
    assert!(page.html.contains("The company's own text is sent"));
    assert!(page.has_id("reset-mail-text"));
    let r = post(
        &app,
        &format!("{path}/reset"),
        &admin.cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.html);
    let api = app.get("/api/v1/mail-texts/invoice", &t.admin).await;
    assert_eq!(api.body["customized"], false);

    // Settings are for admins; an unknown kind is a 404 page.
    assert_eq!(
        get(&app, path, &tech.cookie).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&app, "/console/settings/mail-texts/nope", &admin.cookie)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
