//! Outbound mail against a real SMTP server on loopback (aiosmtpd):
//! delivery with the PDF attached, retries, permanent failures, one
//! delivery per request however often its job runs, auto-send from billing
//! runs, and reminders.

use axum::http::{Method, StatusCode};
use nestogy_domain::MailId;
use nestogy_jobs::mail::Deliver;
use serde_json::{Value, json};

use crate::common::{SmtpSink, Tenant, TestApp, eventually, pdf_text, use_sink};

/// A tenant whose mail goes through `sink`, started in `mode`.
async fn tenant_with_sink(app: &TestApp, name: &str, mode: &str) -> (Tenant, SmtpSink) {
    let t = app.tenant(name).await;
    let sink = SmtpSink::start(mode);
    use_sink(app, &t, &sink).await;
    (t, sink)
}

async fn send_invoice(app: &TestApp, t: &Tenant, id: &str) -> crate::common::Response {
    app.post(&format!("/api/v1/invoices/{id}/send"), &t.admin, json!({}))
        .await
}

async fn mail_state(app: &TestApp, t: &Tenant, id: &str) -> Value {
    app.get(&format!("/api/v1/mail/{id}"), &t.admin).await.body
}

async fn wait_mail(app: &TestApp, t: &Tenant, id: &str, status: &str) -> Value {
    eventually(
        &format!("message {id} {status}"),
        std::time::Duration::from_secs(30),
        || async { mail_state(app, t, id).await["status"] == status },
    )
    .await;
    mail_state(app, t, id).await
}

#[tokio::test]
async fn an_invoice_reaches_its_billing_contacts_with_the_pdf_attached() {
    let app = TestApp::new().await;
    let (t, sink) = tenant_with_sink(&app, "Mail Co", "accept").await;
    let client = app.billed_client(&t.admin, "Acme", "ap@acme.example").await;
    for (name, email, billing) in [
        ("Cfo", "cfo@acme.example", true),
        ("Tech", "it@acme.example", false),
    ] {
        app.post(
            &format!("/api/v1/clients/{client}/contacts"),
            &t.admin,
            json!({"name": name, "email": email, "is_billing": billing}),
        )
        .await;
    }
    let id = app
        .open_invoice(&t.admin, &client, "Managed firewall")
        .await;
    let sent = send_invoice(&app, &t, &id).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    assert_eq!(
        sent.body["recipients"],
        json!(["ap@acme.example", "cfo@acme.example"])
    );
    let message_id = sent.body["message_id"].as_str().unwrap().to_owned();
    assert!(message_id.ends_with("@msp.test>"), "{message_id}");

    let worker = app.start_worker();
    let got = sink.wait_for(1).await;
    let m = &got[0];
    assert_eq!(
        m["rcpt_tos"],
        json!(["ap@acme.example", "cfo@acme.example"])
    );
    assert_eq!(m["message_id"], message_id.as_str());
    assert_eq!(m["subject"], "Invoice INV-2026-000001 from Mail Co");
    assert!(m["from"].as_str().unwrap().contains("billing@msp.test"));
    assert_eq!(
        m["logins"][0],
        json!(["billing", "s3cret-smtp-pass"]),
        "the tenant's credentials"
    );
    assert!(
        m["text"].as_str().unwrap().contains("€361.50"),
        "{}",
        m["text"]
    );
    let att = &m["attachments"][0];
    assert_eq!(att["content_type"], "application/pdf");
    assert_eq!(att["filename"], "INV-2026-000001.pdf");
    let pdf = std::fs::read(att["path"].as_str().unwrap()).unwrap();
    let (text, _) = pdf_text(&pdf);
    assert!(
        text.contains("INV-2026-000001") && text.contains("Managed firewall"),
        "{text}"
    );

    let state = wait_mail(&app, &t, sent.body["mail_id"].as_str().unwrap(), "sent").await;
    assert_eq!(state["attempts"], 1);
    assert_eq!(state["attempt_log"][0]["outcome"], "sent");
    assert!(
        state["last_response"].as_str().unwrap().starts_with("250"),
        "{state}"
    );
    // Each request is a delivery of its own.
    let again = app
        .post(&format!("/api/v1/invoices/{id}/send"), &t.admin, json!({}))
        .await;
    assert_ne!(again.body["message_id"], sent.body["message_id"]);
    assert_eq!(sink.wait_for(2).await.len(), 2);
    worker.stop().await;
    let log = app
        .get(
            &format!("/api/v1/mail?subject_kind=invoice&subject_id={id}"),
            &t.admin,
        )
        .await;
    assert_eq!(log.body["total"], 2);
}

#[tokio::test]
async fn sending_refuses_drafts_void_invoices_and_clients_with_no_one_to_send_to() {
    let app = TestApp::new().await;
    let t = app.tenant("Refuse Co").await;
    let nobody = app.client(&t.admin, "Nobody Ltd").await;
    let inv = app.open_invoice(&t.admin, &nobody, "Work").await;
    let r = app
        .post(&format!("/api/v1/invoices/{inv}/send"), &t.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "no_recipients");
    let draft = app
        .post(
            "/api/v1/invoices",
            &t.admin,
            json!({"client_id": nobody, "lines": [{"description": "x", "quantity": "1", "unit_price": "1"}]}),
        )
        .await
        .id();
    let r = app
        .post(
            &format!("/api/v1/invoices/{draft}/send"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.error_code(), "invoice_not_finalized");
    app.post(&format!("/api/v1/invoices/{inv}/void"), &t.admin, json!({}))
        .await;
    let r = app
        .post(&format!("/api/v1/invoices/{inv}/send"), &t.admin, json!({}))
        .await;
    assert_eq!(r.error_code(), "invoice_void");
    assert_eq!(app.count("SELECT count(*) FROM mail_messages").await, 0);
}

#[tokio::test]
async fn a_delivery_job_run_twice_or_twice_at_once_sends_once() {
    let app = TestApp::new().await;
    let (t, sink) = tenant_with_sink(&app, "Twice Co", "accept").await;
    let client = app.billed_client(&t.admin, "Acme", "ap@acme.example").await;
    let id = app.open_invoice(&t.admin, &client, "Backup").await;
    let sent = send_invoice(&app, &t, &id).await;
    let mail: MailId = sent.body["mail_id"].as_str().unwrap().parse().unwrap();
    let job = || Deliver { tenant: t.id, mail };
    let (a, b) = tokio::join!(app.run_job(job()), app.run_job(job()));
    let c = app.run_job(job()).await;
    let results = [a.unwrap(), b.unwrap(), c.unwrap()];
    assert_eq!(
        results
            .iter()
            .filter(|r| r["status"] == "sent" && r.get("already").is_none())
            .count(),
        1,
        "{results:?}"
    );
    assert_eq!(sink.messages().len(), 1);
    assert_eq!(mail_state(&app, &t, &mail.to_string()).await["attempts"], 1);
}

#[tokio::test]
async fn a_temporary_failure_is_retried_and_the_message_sent_once() {
    let app = TestApp::new().await;
    let (t, sink) = tenant_with_sink(&app, "Retry Co", "tempfail:1").await;
    let client = app.billed_client(&t.admin, "Acme", "ap@acme.example").await;
    let id = app.open_invoice(&t.admin, &client, "Backup").await;
    let worker = app.start_worker();
    let sent = send_invoice(&app, &t, &id).await;
    let state = wait_mail(&app, &t, sent.body["mail_id"].as_str().unwrap(), "sent").await;
    worker.stop().await;
    assert_eq!(state["attempts"], 2);
    assert_eq!(state["attempt_log"][0]["outcome"], "temporary");
    assert!(
        state["attempt_log"][0]["response"]
            .as_str()
            .unwrap()
            .contains("451"),
        "{state}"
    );
    assert_eq!(state["attempt_log"][1]["outcome"], "sent");
    assert_eq!(sink.messages().len(), 1, "sent once");
}

#[tokio::test]
async fn a_permanent_failure_is_recorded_with_the_reply_and_not_retried() {
    let app = TestApp::new().await;
    let (t, sink) = tenant_with_sink(&app, "Reject Co", "reject").await;
    let client = app.billed_client(&t.admin, "Acme", "ap@acme.example").await;
    let id = app.open_invoice(&t.admin, &client, "Backup").await;
    let worker = app.start_worker();
    let sent = send_invoice(&app, &t, &id).await;
    let state = wait_mail(&app, &t, sent.body["mail_id"].as_str().unwrap(), "failed").await;
    let job: nestogy_domain::JobId = sent.body["job_id"].as_str().unwrap().parse().unwrap();
    eventually(
        "the job dead",
        std::time::Duration::from_secs(10),
        || async { app.job_state(job).await.0 == "dead" },
    )
    .await;
    worker.stop().await;
    let response = state["last_response"].as_str().unwrap();
    assert!(
        response.contains("550") && response.contains("rejected by policy"),
        "{response}"
    );
    assert_eq!(state["attempts"], 1);
    let (_, attempts, error) = app.job_state(job).await;
    assert_eq!(attempts, 1, "not retried");
    assert!(error.unwrap().contains("550"));
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_temporary_and_no_server_means_the_outbox() {
    let app = TestApp::new().await;
    let t = app.tenant("Outbox Co").await;
    let client = app.billed_client(&t.admin, "Acme", "ap@acme.example").await;
    let id = app.open_invoice(&t.admin, &client, "Backup").await;
    // No server of its own, none by default: an .eml in the outbox.
    let sent = send_invoice(&app, &t, &id).await;
    let mail: MailId = sent.body["mail_id"].as_str().unwrap().parse().unwrap();
    let out = app.run_job(Deliver { tenant: t.id, mail }).await.unwrap();
    assert_eq!(out["status"], "sent");
    let files: Vec<_> = std::fs::read_dir(app.dir.join("outbox"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(files.len(), 1);
    let eml = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(eml.contains("Subject: Invoice INV-2026-000001 from Outbox Co"));
    assert!(eml.contains(sent.body["message_id"].as_str().unwrap()));
    assert!(eml.contains("application/pdf"));

    // A server that refuses connections: worth another try.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    app.call(
        Method::PUT,
        "/api/v1/company/smtp",
        Some(&t.admin),
        Some(
            json!({"host": "127.0.0.1", "port": port, "tls": "none", "from_address": "b@msp.test"}),
        ),
    )
    .await;
    let again = app
        .post(&format!("/api/v1/invoices/{id}/send"), &t.admin, json!({}))
        .await;
    let mail: MailId = again.body["mail_id"].as_str().unwrap().parse().unwrap();
    let err = app
        .run_job(Deliver { tenant: t.id, mail })
        .await
        .unwrap_err();
    assert!(err.retryable, "{err}");
    let state = mail_state(&app, &t, &mail.to_string()).await;
    assert_eq!(state["status"], "queued");
    assert_eq!(state["attempt_log"][0]["outcome"], "temporary");
}

#[tokio::test]
async fn auto_send_mails_each_billed_invoice_once_even_when_the_chunk_runs_twice() {
    let app = TestApp::new().await;
    let (t, sink) = tenant_with_sink(&app, "Auto Co", "accept").await;
    let client = app.billed_client(&t.admin, "Acme", "ap@acme.example").await;
    let tpl = app
        .post(
            "/api/v1/recurring-invoices",
            &t.admin,
            json!({"client_id": client, "name": "Monthly", "frequency": {"unit": "months", "every": 1},
                   "start_date": "2026-01-01", "auto_send": true, "due_days": 60,
                   "lines": [{"description": "Managed services", "quantity": "1", "unit_price": "500"}]}),
        )
        .await;
    assert_eq!(tpl.status, StatusCode::CREATED, "{}", tpl.body);
    let tpl: nestogy_domain::RecurringId = tpl.id().parse().unwrap();
    let run = nestogy_domain::BillingRunId::new();
    let bill = nestogy_jobs::billing::Bill {
        tenant: t.id,
        run,
        as_of: "2026-03-01".parse().unwrap(),
        templates: vec![tpl],
        due: Vec::new(),
    };
    let mut tx = app.db.tenant(t.id).await.unwrap();
    nestogy_domain::billing::recurring::open_run(
        &mut tx,
        run,
        "2026-03-01".parse().unwrap(),
        "manual",
        true,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // The chunk delivered twice, the second time at once with a third.
    let first = app.run_job(bill.clone()).await.unwrap();
    let (second, third) = tokio::join!(app.run_job(bill.clone()), app.run_job(bill));
    assert_eq!(first["created"], 3);
    assert_eq!(first["mailed"], 3);
    assert_eq!(second.unwrap()["mailed"], 0);
    assert_eq!(third.unwrap()["mailed"], 0);

    let worker = app.start_worker();
    let got = sink.wait_for(3).await;
    eventually(
        "all three sent",
        std::time::Duration::from_secs(30),
        || async {
            app.count("SELECT count(*) FROM mail_messages WHERE status = 'sent'")
                .await
                == 3
        },
    )
    .await;
    worker.stop().await;
    assert_eq!(sink.messages().len(), 3, "each invoice once");
    let mut subjects: Vec<String> = got
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        ["INV-2026-000001", "INV-2026-000002", "INV-2026-000003"]
            .map(|n| format!("Invoice {n} from Auto Co"))
    );
}

#[tokio::test]
async fn reminders_go_out_once_at_3_7_and_14_days_and_stop_when_paid() {
    let app = TestApp::new().await;
    let (t, sink) = tenant_with_sink(&app, "Dunning Co", "accept").await;
    let client = app
        .billed_client(&t.admin, "Late Payer", "ap@late.example")
        .await;
    let invoice = |desc: &'static str| {
        let app = &app;
        let client = client.clone();
        let token = t.admin.clone();
        let tenant = &t;
        async move {
            let r = app
                .post(
                    "/api/v1/invoices",
                    &token,
                    json!({"client_id": client, "issue_date": "2026-02-01", "due_date": "2026-03-01",
                           "lines": [{"description": desc, "quantity": "1", "unit_price": "100"}]}),
                )
                .await;
            let id = r.id();
            app.post(
                &format!("/api/v1/invoices/{id}/finalize"),
                &token,
                json!({}),
            )
            .await;
            // Reminders follow only an invoice the client was sent.
            mail_invoice(app, tenant, &id).await;
            id
        }
    };
    let late = invoice("Late one").await;
    let paid_soon = invoice("Paid soon").await;
    let remind = || nestogy_jobs::billing::Remind { tenant: t.id };
    // Day by day from the due date: the daily job runs (twice, as a
    // redelivered job would), and what it queued is delivered.
    let mut per_day = Vec::new();
    for day in 1..=20 {
        app.clock.set(
            chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, 1, 9, 0, 0).unwrap()
                + chrono::Duration::days(day),
        );
        if day == 5 {
            // (Days on, the admin's access token has expired: straight to the domain.)
            let mut tx = app.db.tenant(t.id).await.unwrap();
            let req = serde_json::from_value(json!({"amount": "100", "method": "card"})).unwrap();
            nestogy_domain::billing::payments::record(&mut tx, paid_soon.parse().unwrap(), req)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        let out = app.run_job(remind()).await.unwrap();
        let again = app.run_job(remind()).await.unwrap();
        assert_eq!(
            again["reminders"], 0,
            "day {day}: the second run sends nothing"
        );
        per_day.push((day, out["reminders"].as_u64().unwrap()));
        let queued: Vec<MailId> =
            sqlx::query_scalar("SELECT id FROM mail_messages WHERE status = 'queued'")
                .fetch_all(&app.owner)
                .await
                .unwrap();
        for mail in queued {
            let r = app.run_job(Deliver { tenant: t.id, mail }).await.unwrap();
            assert_eq!(r["status"], "sent", "day {day}: {r}");
        }
    }
    let sent: Vec<(i64, u64)> = per_day.iter().filter(|(_, n)| *n > 0).copied().collect();
    assert_eq!(
        sent,
        [(3, 2), (7, 1), (14, 1)],
        "the paid invoice stops at day 3"
    );
    let mut got = sink.messages();
    got.retain(|m| m["subject"].as_str().unwrap().starts_with("Reminder"));
    assert_eq!(
        got.len(),
        4,
        "{:?}",
        got.iter()
            .map(|m| (&m["subject"], &m["message_id"]))
            .collect::<Vec<_>>()
    );
    let late_no: String = sqlx::query_scalar("SELECT number FROM invoices WHERE id = $1::uuid")
        .bind(&late)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    let mut texts: Vec<(String, String)> = got
        .iter()
        .map(|m| {
            (
                m["subject"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    texts.retain(|(s, _)| s.contains(&late_no));
    assert_eq!(texts.len(), 3, "the late invoice at 3, 7 and 14 days");
    for d in [3, 7, 14] {
        assert!(
            texts
                .iter()
                .any(|(_, b)| b.contains(&format!("{d} days ago"))),
            "{d}: {texts:?}"
        );
    }
    assert!(
        got.iter()
            .all(|m| m["attachments"][0]["content_type"] == "application/pdf")
    );
}

#[tokio::test]
async fn a_reminder_for_an_invoice_paid_before_delivery_is_cancelled() {
    let app = TestApp::new().await;
    let (t, sink) = tenant_with_sink(&app, "Cancel Co", "accept").await;
    let client = app
        .billed_client(&t.admin, "Payer", "ap@payer.example")
        .await;
    let r = app
        .post(
            "/api/v1/invoices",
            &t.admin,
            json!({"client_id": client, "issue_date": "2026-01-01", "due_date": "2026-01-20",
                   "lines": [{"description": "Old work", "quantity": "1", "unit_price": "50"}]}),
        )
        .await;
    let id = r.id();
    app.post(
        &format!("/api/v1/invoices/{id}/finalize"),
        &t.admin,
        json!({}),
    )
    .await;
    mail_invoice(&app, &t, &id).await;
    // Mailed on 10 January, before it was due.
    sqlx::query("UPDATE mail_messages SET sent_at = '2026-01-10T09:00:00Z'")
        .execute(&app.owner)
        .await
        .unwrap();
    let out = app
        .run_job(nestogy_jobs::billing::Remind { tenant: t.id })
        .await
        .unwrap();
    assert_eq!(
        out["reminders"], 1,
        "40 days late: the 14-day reminder only"
    );
    app.post(
        &format!("/api/v1/invoices/{id}/payments"),
        &t.admin,
        json!({"amount": "50", "method": "card"}),
    )
    .await;
    let mail: MailId =
        sqlx::query_scalar("SELECT id FROM mail_messages WHERE template = 'overdue_reminder'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    let out = app.run_job(Deliver { tenant: t.id, mail }).await.unwrap();
    assert_eq!(out["status"], "cancelled");
    assert_eq!(sink.messages().len(), 1, "the invoice only");
}

#[tokio::test]
async fn receipts_quotes_and_statements_are_mailed() {
    let app = TestApp::new().await;
    let (t, sink) = tenant_with_sink(&app, "Misc Co", "accept").await;
    let client = app.billed_client(&t.admin, "Acme", "ap@acme.example").await;
    let id = app.open_invoice(&t.admin, &client, "Support").await;
    let paid = app
        .post(
            &format!("/api/v1/invoices/{id}/payments"),
            &t.admin,
            json!({"amount": "61.50", "method": "card"}),
        )
        .await;
    let payment = paid.body["payment"]["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/payments/{payment}/receipt"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let quote = app
        .post(
            "/api/v1/quotes",
            &t.admin,
            json!({"client_id": client, "lines": [{"description": "Upgrade", "quantity": "1", "unit_price": "999"}]}),
        )
        .await
        .id();
    let r = app
        .post(&format!("/api/v1/quotes/{quote}/send"), &t.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/statement/send"),
            &t.admin,
            json!({"from": "2026-01-01", "to": "2026-03-31"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let worker = app.start_worker();
    let got = sink.wait_for(3).await;
    worker.stop().await;
    let find = |prefix: &str| {
        got.iter()
            .find(|m| m["subject"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {got:?}"))
            .clone()
    };
    let receipt = find("Receipt");
    assert!(
        receipt["text"].as_str().unwrap().contains("€61.50"),
        "{receipt}"
    );
    assert!(
        receipt["text"].as_str().unwrap().contains("€300.00"),
        "balance left: {receipt}"
    );
    assert_eq!(receipt["attachments"], json!([]));
    let q = find("Quote QUO-2026-000001");
    assert_eq!(q["attachments"][0]["filename"], "QUO-2026-000001.pdf");
    let st = find("Statement of account");
    let pdf = std::fs::read(st["attachments"][0]["path"].as_str().unwrap()).unwrap();
    let (text, _) = pdf_text(&pdf);
    assert!(text.contains("INV-2026-000001"), "{text}");
}

/// Sends an invoice through the API and delivers the message at once.
async fn mail_invoice(app: &TestApp, t: &crate::common::Tenant, id: &str) {
    let r = app
        .post(&format!("/api/v1/invoices/{id}/send"), &t.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let mail: MailId = r.body["mail_id"].as_str().unwrap().parse().unwrap();
    let out = app.run_job(Deliver { tenant: t.id, mail }).await.unwrap();
    assert_eq!(out["status"], "sent", "{out}");
}

/// An invoice mailed late: reminders count from the day it was mailed,
/// state how late it really is, and none go for one never mailed.
#[tokio::test]
async fn reminders_count_from_the_first_mailing_and_state_the_real_lateness() {
    let app = TestApp::new().await;
    let (t, sink) = tenant_with_sink(&app, "Late Mail Co", "accept").await;
    let client = app
        .billed_client(&t.admin, "Payer", "ap@payer.example")
        .await;
    let mut ids = Vec::new();
    for desc in ["Mailed late", "Never mailed"] {
        let r = app
            .post(
                "/api/v1/invoices",
                &t.admin,
                json!({"client_id": client, "issue_date": "2026-01-01", "due_date": "2026-01-20",
                       "lines": [{"description": desc, "quantity": "1", "unit_price": "50"}]}),
            )
            .await;
        let id = r.id();
        app.post(
            &format!("/api/v1/invoices/{id}/finalize"),
            &t.admin,
            json!({}),
        )
        .await;
        ids.push(id);
    }
    // Mailed on 1 March, 40 days after it was due.
    mail_invoice(&app, &t, &ids[0]).await;
    let remind = || nestogy_jobs::billing::Remind { tenant: t.id };
    let out = app.run_job(remind()).await.unwrap();
    assert_eq!(out["reminders"], 0, "not on the day it was mailed: {out}");
    app.clock.advance(chrono::Duration::days(3));
    let out = app.run_job(remind()).await.unwrap();
    assert_eq!(out["reminders"], 1, "3 days after mailing, one: {out}");
    let (text, params): (String, serde_json::Value) = sqlx::query_as(
        "SELECT subject_id::text, params FROM mail_messages WHERE template = 'overdue_reminder'",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(text, ids[0], "the mailed one only");
    assert_eq!(params["days"], 3);
    assert_eq!(params["days_late"], 43);
    let mail: MailId =
        sqlx::query_scalar("SELECT id FROM mail_messages WHERE template = 'overdue_reminder'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    app.run_job(Deliver { tenant: t.id, mail }).await.unwrap();
    let reminder = sink
        .messages()
        .into_iter()
        .find(|m| m["subject"].as_str().unwrap().starts_with("Reminder"))
        .expect("the reminder was delivered");
    let body = reminder["text"].as_str().unwrap();
    assert!(body.contains("43 days ago"), "{body}");
    assert!(!body.contains(", 3 days ago"), "{body}");
    assert!(body.contains("We sent it to you on"), "{body}");
}

/// A run catching up periods already past due creates their invoices but
/// mails only those not yet due; reminders do not follow the held ones.
#[tokio::test]
async fn a_catch_up_run_holds_back_invoices_already_overdue() {
    let app = TestApp::new().await;
    let (t, _sink) = tenant_with_sink(&app, "Catch Up Co", "accept").await;
    let client = app.billed_client(&t.admin, "Acme", "ap@acme.example").await;
    let tpl = app
        .post(
            "/api/v1/recurring-invoices",
            &t.admin,
            json!({"client_id": client, "name": "Monthly", "frequency": {"unit": "months", "every": 1},
                   "start_date": "2026-01-01", "auto_send": true,
                   "lines": [{"description": "Managed services", "quantity": "1", "unit_price": "500"}]}),
        )
        .await;
    assert_eq!(tpl.status, StatusCode::CREATED, "{}", tpl.body);
    let tpl: nestogy_domain::RecurringId = tpl.id().parse().unwrap();
    let run = nestogy_domain::BillingRunId::new();
    let as_of: chrono::NaiveDate = "2026-03-10".parse().unwrap();
    let mut tx = app.db.tenant(t.id).await.unwrap();
    nestogy_domain::billing::recurring::open_run(&mut tx, run, as_of, "manual", true)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let out = app
        .run_job(nestogy_jobs::billing::Bill {
            tenant: t.id,
            run,
            as_of,
            templates: vec![tpl],
            due: Vec::new(),
        })
        .await
        .unwrap();
    // January (due 31 January) and February (due 3 March) are overdue on
    // 10 March: created, not mailed. March (due 31 March) is mailed.
    assert_eq!(out["created"], 3, "{out}");
    assert_eq!(out["mailed"], 1, "{out}");
    let mailed: Vec<chrono::NaiveDate> = sqlx::query_scalar(
        "SELECT i.due_date FROM mail_messages m JOIN invoices i ON i.id = m.subject_id \
         WHERE m.template = 'invoice'",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(mailed, ["2026-03-31".parse::<chrono::NaiveDate>().unwrap()]);
    // Weeks on, nothing reminds the client of invoices it was never sent.
    app.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, 25, 9, 0, 0).unwrap());
    let out = app
        .run_job(nestogy_jobs::billing::Remind { tenant: t.id })
        .await
        .unwrap();
    assert_eq!(out["reminders"], 0, "{out}");
}
