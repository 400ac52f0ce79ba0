//! A working day in the console, in Debian's chromium, as a person would
//! use it, against the real router, PostgreSQL, Redis, Dovecot, an SMTP sink
//! and a worker: sign in with TOTP; a message appended to Dovecot becomes a
//! ticket in the queue; open it, reply (the sink receives it), log 90
//! minutes, resolve; bill the client's time, add a line to the draft,
//! finalize, send, record a payment; start a billing run and read its
//! summary; upload a logo and see the preview change. A tech cannot reach
//! finance pages (403 page) and
//! another tenant's ids answer 404 pages. Every page is kept as a screenshot
//! under `target/test-artifacts/journey-*.png`.

use std::time::Duration;

use axum::http::StatusCode;
use chrono::{Datelike, Utc};
use serde_json::json;

use crate::auth::totp_code;
use crate::common::PASSWORD;
use crate::console::{admin_email, enable_totp, user};
use crate::inbound::{Desk, message};
use crate::webdriver::Browser;

const WAIT: Duration = Duration::from_secs(30);

/// Opens `path` and waits for its heading to contain `heading`.
async fn visit(b: &Browser, base: &str, path: &str, heading: &str) {
    b.goto(&format!("{base}{path}")).await;
    b.wait_for_text("h1", heading).await;
}

/// Reloads `path` until `css` contains `want` (the queue fills as the
/// worker takes the mail).
async fn reload_until(b: &Browser, base: &str, path: &str, css: &str, want: &str) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        b.goto(&format!("{base}{path}")).await;
        if b.try_text(css).await.is_some_and(|t| t.contains(want)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css} on {path} never showed {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The branding page's preview frame's address, once the preview is ready
/// and (with `unlike`) differs from `unlike`.
async fn preview_src(b: &Browser, base: &str, unlike: Option<&str>) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        b.goto(&format!("{base}/console/settings/branding")).await;
        b.wait_for_text("h1", "Branding").await;
        if b.try_find("#preview-frame").await.is_some() {
            let src = b.attribute("#preview-frame", "src").await.expect("src");
            if unlike != Some(src.as_str()) {
                return src;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the branding preview never became ready (or never changed)"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_working_day_in_the_console() {
    let d = Desk::new().await;
    let app = &d.app;
    // TOTP codes are checked against the clock: the real one here.
    app.clock.set(Utc::now());
    let mut t = d.t.clone();
    // The desk's token was issued at the test clock's time: sign in anew.
    let r = app.login(&admin_email("MSP A"), PASSWORD).await;
    t.admin = r.body["access_token"].as_str().expect("token").to_owned();
    let t = &t;
    let secret = enable_totp(app, &t.admin).await;
    let client = app
        .billed_client(&t.admin, "Acme Dental", "alice@acme.example")
        .await;
    let r = app
        .call(
            axum::http::Method::PATCH,
            &format!("/api/v1/clients/{client}"),
            Some(&t.admin),
            Some(json!({"hourly_rate": "120.00"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let today = app.clock_now().date_naive();
    let month_start = today.with_day(1).expect("first of the month");
    let r = app
        .post(
            "/api/v1/recurring-invoices",
            &t.admin,
            json!({"client_id": client, "name": "Managed desktops",
                   "frequency": {"unit": "months", "every": 1},
                   "start_date": month_start.to_string(),
                   "lines": [{"description": "Managed desktop", "quantity": "12", "unit_price": "35.00"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (_, tech_email) = user(app, &t.admin, "tech").await;
    let other = app.tenant("Other MSP").await;
    let foreign = app
        .post(
            "/api/v1/tickets",
            &other.admin,
            json!({"subject": "Not yours", "description": "x"}),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::CREATED, "{}", foreign.body);
    let foreign_ticket = foreign.id();

    let worker = app.start_worker();
    let (base, stop) = crate::common::serve(app.web.clone()).await;
    let b = Browser::start().await;

    // Sign in with password and TOTP.
    b.goto(&format!("{base}/console")).await;
    b.wait_for_text("h1", "Sign in").await;
    b.type_into("#email", &admin_email("MSP A")).await;
    b.type_into("#password", PASSWORD).await;
    b.type_into("#totp_code", &totp_code(&secret, app.clock_now()))
        .await;
    b.click("#sign-in").await;
    b.wait_for_text("h1", "Home").await;
    b.keep_screenshot("journey-home.png").await;

    // A message to the support mailbox becomes a ticket in the queue.
    d.append(&message(
        "alice@acme.example",
        "Reception PC will not boot",
        "The PC at reception shows a black screen since this morning.",
        "",
    ))
    .await;
    let r = app
        .post(
            &format!("/api/v1/mailboxes/{}/poll", d.mailbox),
            &t.admin,
            json!({}),
        )
        .await;
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    reload_until(
        &b,
        &base,
        "/console/tickets",
        "#queue",
        "Reception PC will not boot",
    )
    .await;
    b.keep_screenshot("journey-queue.png").await;
    b.click("#queue a").await;
    b.wait_for_text("h1", "Reception PC will not boot").await;
    assert!(b.text("#client").await.contains("Acme Dental"));
    let ticket_url = b.current_url().await;

    // Reply: the sink receives it (after the acknowledgement).
    b.type_into(
        "#message-body",
        "We are on our way: please leave the PC switched on.",
    )
    .await;
    b.click("#message-form button[type=submit]").await;
    b.wait_for_text("#thread", "We are on our way").await;
    let sent = d.sink.wait_for(2).await;
    assert!(
        sent.iter().any(|m| m["subject"]
            .as_str()
            .is_some_and(|s| s.contains("Reception PC will not boot") && s.starts_with("Re:"))),
        "{sent:?}"
    );

    // Log 90 minutes, then resolve.
    b.type_into("#time-minutes", "90").await;
    b.type_into("#time-description", "Replaced the power supply")
        .await;
    b.click("#time-form button[type=submit]").await;
    b.wait_for_text("#time-entries", "Replaced the power supply")
        .await;
    b.click("#status-select option[value=resolved]").await;
    b.click("#status-form button[type=submit]").await;
    b.wait_for_text("#status", "Resolved").await;
    b.keep_screenshot("journey-ticket.png").await;

    // Bill the client's time: a draft invoice with the 90 minutes.
    visit(&b, &base, "/console/time/bill", "Bill time").await;
    b.click(&format!("#bill-time option[value='{client}']"))
        .await;
    b.click("#bill-time-submit").await;
    b.wait_for_text("h1", "Draft").await;
    let lines = b.text("#lines").await;
    assert!(lines.contains("Replaced the power supply"), "{lines}");
    b.keep_screenshot("journey-draft.png").await;
    let invoice_url = b.current_url().await;

    // Add a line to the draft in its first empty row.
    b.type_into("#line-1-description", "Power supply unit")
        .await;
    b.type_into("#line-1-quantity", "1").await;
    b.type_into("#line-1-unit_price", "45").await;
    b.click("#edit-lines button[type=submit]").await;
    b.wait_for_text("#done", "draft is saved").await;
    let lines = b.text("#lines").await;
    assert!(
        lines.contains("Power supply unit") && lines.contains("Replaced the power supply"),
        "{lines}"
    );

    // Finalize, send (the sink receives the invoice), record the payment.
    b.click("#finalize").await;
    b.wait_for_text("#done", "finalized").await;
    assert!(
        b.try_find("#edit-lines").await.is_none(),
        "no edit form once final"
    );
    let due = b.text("#balance").await;
    assert!(
        due.contains("225"),
        "90 minutes at 120.00 an hour and a 45.00 part: {due}"
    );
    let before = d.sink.messages().len();
    b.click("#send").await;
    b.wait_for_text("#done", "on its way").await;
    d.sink.wait_for(before + 1).await;
    b.click("#record-payment button[type=submit]").await;
    b.wait_for_text("#invoice-status", "Paid").await;
    b.keep_screenshot("journey-invoice.png").await;

    // Start a billing run and read its summary (the page reloads itself
    // while the run goes on).
    visit(&b, &base, "/console/billing-runs", "Billing runs").await;
    b.click("#start-run").await;
    b.wait_for_text("h1", "Billing run of").await;
    b.wait_for_text("#run-state", "succeeded").await;
    let periods = b.text("#run-periods").await;
    assert!(periods.contains("Managed desktops"), "{periods}");
    b.keep_screenshot("journey-billing-run.png").await;

    // Upload a logo and see the preview change: the newest invoice,
    // rendered again (by the worker) with the logo.
    let before = preview_src(&b, &base, None).await;
    let logo = std::env::temp_dir().join(format!("logo-{}.png", uuid::Uuid::now_v7()));
    std::fs::write(&logo, crate::documents::PNG).expect("logo file");
    b.type_into("#logo-file", &logo.display().to_string()).await;
    b.click("#upload-logo").await;
    b.wait_for_text("h1", "Branding").await;
    assert!(b.attribute("#current-logo", "src").await.is_some());
    let after = preview_src(&b, &base, Some(&before)).await;
    assert_ne!(after, before);
    b.keep_screenshot("journey-branding.png").await;
    let _ = std::fs::remove_file(&logo);

    // Another tenant's ticket is a 404 page.
    visit(
        &b,
        &base,
        &format!("/console/tickets/{foreign_ticket}"),
        "Not found",
    )
    .await;
    b.click("#sign-out").await;
    b.wait_for_text("h1", "Sign in").await;

    // A tech cannot reach finance pages.
    b.type_into("#email", &tech_email).await;
    b.type_into("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_for_text("h1", "Home").await;
    assert!(b.try_find("#nav-finance").await.is_none());
    b.goto(&invoice_url).await;
    b.wait_for_text("h1", "Not allowed").await;
    b.keep_screenshot("journey-forbidden.png").await;
    b.goto(&ticket_url).await;
    b.wait_for_text("h1", "Reception PC will not boot").await;

    b.quit().await;
    let _ = stop.send(());
    worker.stop().await;
}
