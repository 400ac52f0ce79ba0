//! A client's day in the portal, in Debian's chromium, as people would use
//! it, against the real router, PostgreSQL, Redis, an SMTP sink, a worker
//! and a local stand-in for Stripe's Checkout (`stripe_checkout`): staff
//! add a contact with portal access in the console and invite them; the
//! contact accepts from the mail, signs out, signs in again by the sign-in
//! link from the SMTP sink, opens a ticket with an attachment; staff reply
//! in the console (and write an internal note); the contact sees the reply
//! (never the note) and answers; the contact pays an invoice through the
//! checkout stand-in, which posts the signed webhook, and sees it paid.
//! Every page is kept as a screenshot under
//! `target/test-artifacts/portal-*.png`.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chrono::Utc;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp};
use crate::console::admin_email;
use crate::inbound::Desk;
use crate::stripe_checkout::Checkout;
use crate::webdriver::Browser;

const WAIT: Duration = Duration::from_secs(30);
const WEBHOOK_SECRET: &str = "whsec_portaljourney0001";

/// The first link to `base` in the newest mail to `to` whose subject
/// contains `subject`, waiting for it.
async fn link_in_mail(d: &Desk, to: &str, subject: &str, base: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let found = d.sink.messages().into_iter().rev().find(|m| {
            m["rcpt_tos"].to_string().contains(to)
                && m["subject"].as_str().is_some_and(|s| s.contains(subject))
        });
        if let Some(m) = found {
            let text = m["text"].as_str().unwrap_or_default().to_owned();
            let at = text
                .find(base)
                .unwrap_or_else(|| panic!("no link in {text}"));
            let end = text[at..]
                .find(|c: char| c.is_whitespace() || c == '>' || c == ')')
                .map_or(text.len(), |n| at + n);
            return text[at..end].to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no mail to {to} about {subject:?}: {:?}",
            d.sink.messages()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reloads `url` until `css` contains `want`.
async fn reload_until(b: &Browser, url: &str, css: &str, want: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        b.goto(url).await;
        if b.try_text(css).await.is_some_and(|t| t.contains(want)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css} on {url} never showed {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_client_opens_a_ticket_follows_it_and_pays_in_the_portal() {
    let checkout = Checkout::start(WEBHOOK_SECRET).await;
    let (listener, base) = crate::common::listen().await;
    let app = TestApp::with_integrations(nestogy_jobs::IntegrationsConfig {
        public_url: base.clone(),
        stripe_api_base: checkout.base.clone(),
        http_timeout: Duration::from_secs(5),
        allow_private_targets: true,
        ..Default::default()
    })
    .await;
    checkout.deliver_to(&base);
    let d = Desk::with(app).await;
    let app = &d.app;
    // Links and sign-ins are checked against the clock: the real one here.
    app.clock.set(Utc::now());
    let admin = app.login(&admin_email("MSP A"), PASSWORD).await.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let r = app
        .call(
            Method::PUT,
            "/api/v1/company/stripe",
            Some(&admin),
            Some(json!({"secret_key": "sk_test_51Hportaljourney01", "webhook_secret": WEBHOOK_SECRET})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let slug = app.get("/api/v1/company", &admin).await.body["portal_slug"]
        .as_str()
        .expect("slug")
        .to_owned();
    let client = app.client(&admin, "Acme Dental").await;
    let invoice = app.open_invoice(&admin, &client, "Network audit").await;

    let worker = app.start_worker();
    let (_, stop) = crate::common::serve_on(listener, app.web.clone());
    let b = Browser::start().await;

    // Staff add Dana with portal access and invite her.
    b.goto(&format!("{base}/console")).await;
    b.wait_for_text("h1", "Sign in").await;
    b.type_into("#email", &admin_email("MSP A")).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_for_text("h1", "Home").await;
    b.goto(&format!("{base}/console/clients/{client}")).await;
    b.wait_for_text("h1", "Acme Dental").await;
    b.click("#contacts details summary").await;
    b.type_into("#add-contact input[name=name]", "Dana Reyes")
        .await;
    b.type_into("#add-contact input[name=email]", "dana@acme.example")
        .await;
    b.click("#add-contact input[name=is_billing]").await;
    b.click("#add-contact input[name=portal_access]").await;
    b.click("#add-contact button[type=submit]").await;
    b.wait_for_text("#contacts", "Dana Reyes").await;
    b.click("#contacts form[action$='/invite'] button").await;
    b.wait_for_text("#invited", "Dana Reyes").await;

    // Dana accepts the invitation from her mail (no password: links).
    let invitation = link_in_mail(&d, "dana@acme.example", "invit", &base).await;
    assert!(
        invitation.starts_with(&format!("{base}/portal/{slug}/invitation/")),
        "{invitation}"
    );
    b.goto(&invitation).await;
    b.wait_for_text("h1", "Welcome").await;
    b.keep_screenshot("portal-invitation.png").await;
    b.click("#accept").await;
    b.wait_for_text("h1", "Tickets").await;

    // She signs out, and back in by a sign-in link mailed to her.
    b.click("#sign-out").await;
    b.wait_for_text("#notice", "signed out").await;
    b.type_into("#link-email", "dana@acme.example").await;
    b.click("#send-link").await;
    b.wait_for_text("h1", "Check your e-mail").await;
    let link = link_in_mail(&d, "dana@acme.example", "sign-in link", &base).await;
    assert!(
        link.starts_with(&format!("{base}/portal/{slug}/sign-in/")),
        "{link}"
    );
    b.goto(&link).await;
    b.click("#use-link").await;
    b.wait_for_text("h1", "Tickets").await;

    // She opens a ticket with a screenshot attached.
    b.click("#new-ticket").await;
    b.wait_for_text("h1", "Open a ticket").await;
    b.type_into("#subject", "Printer in room 2 jams").await;
    b.type_into(
        "#description",
        "The printer in room 2 jams on every second page.",
    )
    .await;
    let file = std::env::temp_dir().join(format!("jam-{}.png", uuid::Uuid::now_v7()));
    std::fs::write(&file, crate::documents::PNG).expect("attachment file");
    b.type_into("#attachments", &file.display().to_string())
        .await;
    b.click("#open-ticket").await;
    b.wait_for_text("h1", "Printer in room 2 jams").await;
    let thread = b.text("#thread").await;
    assert!(thread.contains("every second page"), "{thread}");
    assert!(thread.contains("jam-"), "the attachment: {thread}");
    let _ = std::fs::remove_file(&file);
    let portal_ticket = b.current_url().await;
    let ticket = portal_ticket
        .rsplit('/')
        .next()
        .expect("ticket id")
        .to_owned();
    let staff_view = app.get(&format!("/api/v1/tickets/{ticket}"), &admin).await;
    assert_eq!(staff_view.body["source"], "portal", "{}", staff_view.body);
    b.keep_screenshot("portal-ticket-opened.png").await;

    // Staff answer in the console, and write an internal note.
    b.goto(&format!("{base}/console/tickets/{ticket}")).await;
    b.wait_for_text("h1", "Printer in room 2 jams").await;
    b.type_into("#message-body", "Internal: the fuser is worn, order one")
        .await;
    b.click("#message-form input[value=note]").await;
    b.click("#message-form button[type=submit]").await;
    b.wait_for_text("#thread", "the fuser is worn").await;
    b.click("#message-form input[value=reply]").await;
    b.type_into("#message-body", "We will swap the fuser on Monday.")
        .await;
    b.click("#message-form button[type=submit]").await;
    b.wait_for_text("#thread", "swap the fuser on Monday").await;

    // Dana sees the reply, never the note, and answers.
    reload_until(&b, &portal_ticket, "#thread", "swap the fuser on Monday").await;
    let thread = b.text("#thread").await;
    assert!(!thread.contains("fuser is worn"), "{thread}");
    assert!(!b.find("body").await.is_empty());
    b.type_into("#body", "Monday works, thank you.").await;
    b.click("#send-reply").await;
    b.wait_for_text("#thread", "Monday works").await;
    b.keep_screenshot("portal-ticket.png").await;
    let messages = app
        .get(&format!("/api/v1/tickets/{ticket}/messages"), &admin)
        .await;
    let last = messages
        .body
        .as_array()
        .and_then(|m| m.last().cloned())
        .unwrap_or(Value::Null);
    assert_eq!(last["kind"], "incoming", "{}", messages.body);
    assert_eq!(last["body"], "Monday works, thank you.");

    // She pays the invoice through the checkout and sees it paid.
    b.goto(&format!("{base}/portal/{slug}/invoices")).await;
    b.wait_for_text("h1", "Invoices").await;
    b.click(&format!("#invoices a[href$='{invoice}']")).await;
    b.wait_for_text("#invoice-status", "Open").await;
    b.click("#pay").await;
    b.wait_for_text("h1", "Pay Invoice").await;
    b.keep_screenshot("portal-checkout.png").await;
    b.click("#pay").await;
    b.wait_for_text("h1", "Thank you").await;
    assert_eq!(checkout.paid(), 1);
    b.click("#to-invoice").await;
    reload_until(
        &b,
        &format!("{base}/portal/{slug}/invoices/{invoice}"),
        "#invoice-status",
        "Paid",
    )
    .await;
    b.keep_screenshot("portal-invoice-paid.png").await;
    let paid = app
        .get(&format!("/api/v1/invoices/{invoice}"), &admin)
        .await;
    assert_eq!(paid.body["status"], "paid", "{}", paid.body);

    b.quit().await;
    let _ = stop.send(());
    worker.stop().await;
}
