use axum::http::StatusCode;
use nestogy_domain::TenantTx;
use nestogy_domain::kernel::tenancy::Commit;
use serde_json::json;
use sqlx::Row;

use crate::common::TestApp;

#[tokio::test]
async fn another_tenant_gets_404_on_every_route_with_an_id_and_changes_nothing() {
    let app = TestApp::new().await;
    let a = app.tenant("Tenant A").await;
    let b = app.tenant("Tenant B").await;
    let o = app.fixture(&a.admin).await;
    let (c, ct, l, u, t) = (&o.client, &o.contact, &o.location, &o.user, &o.token);
    let b_client = app.client(&b.admin, "B's own").await;
    let (tk, mb) = (&o.ticket, &o.mailbox);
    let (pr, ta, te) = (&o.project, &o.task, &o.time_entry);
    let b_project = app
        .post(
            "/api/v1/projects",
            &b.admin,
            json!({"client_id": b_client, "name": "B's project"}),
        )
        .await
        .id();
    let note = app
        .post(
            &format!("/api/v1/tickets/{tk}/messages"),
            &a.admin,
            json!({"kind": "note", "body": "Secret aardvark notes", "attachments": [
                {"filename": "secret.txt", "content_type": "text/plain", "content_base64": "c2VjcmV0"}]}),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.body);
    let att = note.body["message"]["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.call(
        axum::http::Method::PUT,
        "/api/v1/sla/policies/high",
        Some(&a.admin),
        Some(json!({"first_response_minutes": 60, "resolution_minutes": 480})),
    )
    .await;
    app.call(
        axum::http::Method::PUT,
        "/api/v1/sla/holidays/2026-12-25",
        Some(&a.admin),
        Some(json!({"name": "A's Christmas"})),
    )
    .await;
    // A message of A's mailbox in quarantine, as a poll leaves it.
    let quarantined = {
        let mut tx = app.db.tenant(a.id).await.unwrap();
        let id = nestogy_domain::service_desk::inbound::claim(
            &mut tx,
            &nestogy_domain::service_desk::inbound::Arrival {
                mailbox_id: mb.parse().unwrap(),
                uidvalidity: 1,
                uid: 7,
                message_id: Some("<q@client.example>".into()),
                content_hash: "f".repeat(64),
                raw_key: "raw/q.eml".into(),
                size_bytes: 100,
                from_address: Some("stranger@nowhere.example".into()),
                subject: Some("Who am I".into()),
            },
        )
        .await
        .unwrap()
        .expect("claimed");
        tx.commit().await.unwrap();
        id.to_string()
    };
    let b_ticket = app
        .post("/api/v1/tickets", &b.admin, json!({"subject": "B's own"}))
        .await
        .id();
    let b_mailbox = app
        .post(
            "/api/v1/mailboxes",
            &b.admin,
            json!({"name": "B support", "address": "support@b.example", "host": "127.0.0.1",
                   "port": 1143, "tls": "none", "username": "b-support", "password": "pw"}),
        )
        .await
        .id();
    let jobs_before = app.count("SELECT count(*) FROM jobs").await;

    let probes: Vec<(&str, String, Option<serde_json::Value>)> = vec![
        ("GET", format!("/api/v1/clients/{c}"), None),
        (
            "PATCH",
            format!("/api/v1/clients/{c}"),
            Some(json!({"name": "hijacked"})),
        ),
        ("POST", format!("/api/v1/clients/{c}/archive"), None),
        ("POST", format!("/api/v1/clients/{c}/restore"), None),
        ("GET", format!("/api/v1/clients/{c}/contacts"), None),
        (
            "POST",
            format!("/api/v1/clients/{c}/contacts"),
            Some(json!({"name": "intruder"})),
        ),
        ("GET", format!("/api/v1/clients/{c}/contacts/{ct}"), None),
        (
            "PATCH",
            format!("/api/v1/clients/{c}/contacts/{ct}"),
            Some(json!({"name": "hijacked"})),
        ),
        ("DELETE", format!("/api/v1/clients/{c}/contacts/{ct}"), None),
        // A's contact under B's own client must not be reachable either.
        (
            "GET",
            format!("/api/v1/clients/{b_client}/contacts/{ct}"),
            None,
        ),
        ("GET", format!("/api/v1/clients/{c}/locations"), None),
        (
            "POST",
            format!("/api/v1/clients/{c}/locations"),
            Some(json!({"name": "intruder"})),
        ),
        ("GET", format!("/api/v1/clients/{c}/locations/{l}"), None),
        (
            "PATCH",
            format!("/api/v1/clients/{c}/locations/{l}"),
            Some(json!({"name": "hijacked"})),
        ),
        ("DELETE", format!("/api/v1/clients/{c}/locations/{l}"), None),
        (
            "GET",
            format!("/api/v1/clients/{b_client}/locations/{l}"),
            None,
        ),
        ("GET", format!("/api/v1/users/{u}"), None),
        (
            "PATCH",
            format!("/api/v1/users/{u}"),
            Some(json!({"name": "hijacked"})),
        ),
        ("DELETE", format!("/api/v1/users/{u}"), None),
        ("DELETE", format!("/api/v1/api-tokens/{t}"), None),
        ("GET", format!("/api/v1/jobs/{}", o.job), None),
        ("POST", format!("/api/v1/jobs/{}/cancel", o.job), None),
        ("POST", format!("/api/v1/jobs/{}/retry", o.job), None),
        ("GET", format!("/api/v1/schedules/{}", o.schedule), None),
        (
            "PATCH",
            format!("/api/v1/schedules/{}", o.schedule),
            Some(json!({"enabled": false})),
        ),
        (
            "POST",
            format!("/api/v1/schedules/{}/run", o.schedule),
            None,
        ),
        ("DELETE", format!("/api/v1/schedules/{}", o.schedule), None),
        ("GET", format!("/api/v1/tax-rates/{}", o.tax_rate), None),
        (
            "PUT",
            format!("/api/v1/tax-rates/{}", o.tax_rate),
            Some(json!({"name": "x", "percent": "1"})),
        ),
        (
            "POST",
            format!("/api/v1/tax-rates/{}/archive", o.tax_rate),
            None,
        ),
        (
            "POST",
            format!("/api/v1/tax-rates/{}/restore", o.tax_rate),
            None,
        ),
        ("GET", format!("/api/v1/products/{}", o.product), None),
        (
            "PUT",
            format!("/api/v1/products/{}", o.product),
            Some(json!({"name": "x", "unit_price": "1"})),
        ),
        (
            "POST",
            format!("/api/v1/products/{}/archive", o.product),
            None,
        ),
        (
            "POST",
            format!("/api/v1/products/{}/restore", o.product),
            None,
        ),
        (
            "PUT",
            format!("/api/v1/payment-terms/{}", o.payment_term),
            Some(json!({"name": "x", "days": 1})),
        ),
        (
            "DELETE",
            format!("/api/v1/payment-terms/{}", o.payment_term),
            None,
        ),
        ("GET", format!("/api/v1/invoices/{}", o.invoice), None),
        (
            "PUT",
            format!("/api/v1/invoices/{}", o.invoice),
            Some(json!({"client_id": o.billed, "lines": []})),
        ),
        (
            "POST",
            format!("/api/v1/invoices/{}/finalize", o.invoice),
            None,
        ),
        ("POST", format!("/api/v1/invoices/{}/void", o.invoice), None),
        (
            "POST",
            format!("/api/v1/invoices/{}/duplicate", o.invoice),
            None,
        ),
        ("DELETE", format!("/api/v1/invoices/{}", o.invoice), None),
        (
            "POST",
            format!("/api/v1/invoices/{}/payments", o.invoice),
            Some(json!({"amount": "1", "method": "cash"})),
        ),
        (
            "POST",
            format!("/api/v1/invoices/{}/apply-credit", o.invoice),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/api/v1/payments/{}/refund", o.payment),
            Some(json!({"amount": "1"})),
        ),
        ("GET", format!("/api/v1/clients/{}/credit", o.billed), None),
        (
            "GET",
            format!("/api/v1/clients/{}/statement", o.billed),
            None,
        ),
        (
            "GET",
            format!("/api/v1/recurring-invoices/{}", o.template),
            None,
        ),
        (
            "POST",
            format!("/api/v1/recurring-invoices/{}/pause", o.template),
            None,
        ),
        (
            "POST",
            format!("/api/v1/recurring-invoices/{}/resume", o.template),
            None,
        ),
        ("GET", format!("/api/v1/billing-runs/{}", o.run), None),
        ("GET", format!("/api/v1/quotes/{}", o.quote), None),
        (
            "PUT",
            format!("/api/v1/quotes/{}", o.quote),
            Some(json!({"client_id": o.billed, "lines": []})),
        ),
        ("POST", format!("/api/v1/quotes/{}/send", o.quote), None),
        ("POST", format!("/api/v1/quotes/{}/accept", o.quote), None),
        ("POST", format!("/api/v1/quotes/{}/decline", o.quote), None),
        ("POST", format!("/api/v1/quotes/{}/convert", o.quote), None),
        ("DELETE", format!("/api/v1/quotes/{}", o.quote), None),
        ("GET", format!("/api/v1/invoices/{}/pdf", o.invoice), None),
        (
            "GET",
            format!("/api/v1/invoices/{}/pdf", o.open_invoice),
            None,
        ),
        (
            "POST",
            format!("/api/v1/invoices/{}/send", o.open_invoice),
            None,
        ),
        ("GET", format!("/api/v1/quotes/{}/pdf", o.quote), None),
        (
            "GET",
            format!("/api/v1/clients/{}/statement/pdf", o.billed),
            None,
        ),
        (
            "POST",
            format!("/api/v1/clients/{}/statement/send", o.billed),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/api/v1/payments/{}/receipt", o.payment),
            None,
        ),
        ("GET", format!("/api/v1/tickets/{tk}"), None),
        (
            "PATCH",
            format!("/api/v1/tickets/{tk}"),
            Some(json!({"subject": "hijacked"})),
        ),
        (
            "POST",
            format!("/api/v1/tickets/{tk}/assign"),
            Some(json!({"assignee_id": null})),
        ),
        (
            "POST",
            format!("/api/v1/tickets/{tk}/status"),
            Some(json!({"status": "closed"})),
        ),
        ("GET", format!("/api/v1/tickets/{tk}/messages"), None),
        (
            "POST",
            format!("/api/v1/tickets/{tk}/messages"),
            Some(json!({"kind": "note", "body": "intruder"})),
        ),
        (
            "POST",
            format!("/api/v1/tickets/{tk}/messages"),
            Some(json!({"kind": "reply", "body": "intruder"})),
        ),
        (
            "GET",
            format!("/api/v1/tickets/{tk}/attachments/{att}"),
            None,
        ),
        // A's attachment under B's own ticket must not be reachable either.
        (
            "GET",
            format!("/api/v1/tickets/{b_ticket}/attachments/{att}"),
            None,
        ),
        ("GET", format!("/api/v1/tickets/{tk}/history"), None),
        ("DELETE", format!("/api/v1/tickets/{tk}"), None),
        ("GET", format!("/api/v1/mailboxes/{mb}"), None),
        (
            "PATCH",
            format!("/api/v1/mailboxes/{mb}"),
            Some(json!({"name": "hijacked", "enabled": false})),
        ),
        ("POST", format!("/api/v1/mailboxes/{mb}/test"), None),
        ("POST", format!("/api/v1/mailboxes/{mb}/poll"), None),
        ("GET", format!("/api/v1/mailboxes/{mb}/quarantine"), None),
        (
            "POST",
            format!("/api/v1/mailboxes/{mb}/quarantine/{quarantined}/reprocess"),
            None,
        ),
        // A's quarantined message under B's own mailbox neither.
        (
            "POST",
            format!("/api/v1/mailboxes/{b_mailbox}/quarantine/{quarantined}/reprocess"),
            None,
        ),
        ("DELETE", format!("/api/v1/mailboxes/{mb}"), None),
        (
            "POST",
            "/api/v1/projects".into(),
            Some(json!({"client_id": c, "name": "intruder"})),
        ),
        ("GET", format!("/api/v1/projects/{pr}"), None),
        (
            "PATCH",
            format!("/api/v1/projects/{pr}"),
            Some(json!({"name": "hijacked"})),
        ),
        ("GET", format!("/api/v1/projects/{pr}/tasks"), None),
        (
            "POST",
            format!("/api/v1/projects/{pr}/tasks"),
            Some(json!({"title": "intruder"})),
        ),
        ("GET", format!("/api/v1/projects/{pr}/tasks/{ta}"), None),
        (
            "PATCH",
            format!("/api/v1/projects/{pr}/tasks/{ta}"),
            Some(json!({"title": "hijacked"})),
        ),
        ("DELETE", format!("/api/v1/projects/{pr}/tasks/{ta}"), None),
        ("GET", format!("/api/v1/projects/{pr}/tickets"), None),
        ("PUT", format!("/api/v1/projects/{pr}/tickets/{tk}"), None),
        (
            "PUT",
            format!("/api/v1/projects/{b_project}/tickets/{tk}"),
            None,
        ),
        (
            "DELETE",
            format!("/api/v1/projects/{pr}/tickets/{tk}"),
            None,
        ),
        ("DELETE", format!("/api/v1/projects/{pr}"), None),
        ("GET", format!("/api/v1/time-entries/{te}"), None),
        (
            "PATCH",
            format!("/api/v1/time-entries/{te}"),
            Some(json!({"minutes": 1})),
        ),
        ("POST", format!("/api/v1/time-entries/{te}/stop"), None),
        ("DELETE", format!("/api/v1/time-entries/{te}"), None),
        (
            "POST",
            format!("/api/v1/clients/{c}/bill-time"),
            Some(json!({})),
        ),
        (
            "GET",
            format!("/api/v1/reports/ar_ageing?client_id={c}"),
            None,
        ),
        (
            "GET",
            format!("/api/v1/reports/revenue_by_client?client_id={c}"),
            None,
        ),
        (
            "POST",
            format!("/api/v1/clients/{c}/contacts/{ct}/portal-invitation"),
            None,
        ),
        ("DELETE", format!("/api/v1/clients/{c}"), None),
    ];
    for (method, path, body) in probes {
        let r = app
            .call(method.parse().unwrap(), &path, Some(&b.admin), body)
            .await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            r.body
        );
        assert_eq!(r.error_code(), "not_found", "{method} {path}");
    }

    // Nothing of A changed.
    let project = app.get(&format!("/api/v1/projects/{pr}"), &a.admin).await;
    assert!(
        project.body["name"]
            .as_str()
            .unwrap()
            .starts_with("Project ")
    );
    assert_eq!(project.body["progress"]["tasks_total"], 1);
    assert_eq!(project.body["spent"]["minutes"], 30);
    let entry = app
        .get(&format!("/api/v1/time-entries/{te}"), &a.admin)
        .await;
    assert_eq!(entry.body["minutes"], 30);
    assert!(entry.body["invoice_id"].is_null());
    let ticket_project = app.get(&format!("/api/v1/tickets/{tk}"), &a.admin).await;
    assert!(ticket_project.body["project_id"].is_null());
    // Nor do A's ids leak into B's lists or B's time entries.
    let logged = app
        .post(
            "/api/v1/time-entries",
            &b.admin,
            json!({"project_id": pr, "minutes": 5, "description": "x", "rate": "1"}),
        )
        .await;
    assert_eq!(
        logged.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        logged.body
    );
    for path in ["/api/v1/projects", "/api/v1/time-entries"] {
        let r = app.get(path, &b.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let text = r.body.to_string();
        assert!(
            !text.contains(pr.as_str()) && !text.contains(te.as_str()),
            "{path} leaks A"
        );
    }
    let client = app.get(&format!("/api/v1/clients/{c}"), &a.admin).await;
    assert!(client.body["name"].as_str().unwrap().starts_with("Client "));
    assert!(client.body["archived_at"].is_null());
    let contacts = app
        .get(&format!("/api/v1/clients/{c}/contacts"), &a.admin)
        .await;
    assert_eq!(contacts.body["total"], 1);
    assert_eq!(contacts.body["data"][0]["name"], "Ann");
    let locations = app
        .get(&format!("/api/v1/clients/{c}/locations"), &a.admin)
        .await;
    assert_eq!(locations.body["total"], 1);
    assert_eq!(locations.body["data"][0]["name"], "HQ");
    let user = app.get(&format!("/api/v1/users/{u}"), &a.admin).await;
    assert_eq!(user.body["name"], "Tech");
    assert_eq!(user.body["active"], true);
    let tokens = app.get("/api/v1/api-tokens", &a.admin).await;
    assert!(tokens.body["data"][0]["revoked_at"].is_null());
    let ticket = app.get(&format!("/api/v1/tickets/{tk}"), &a.admin).await;
    assert_eq!(ticket.status, StatusCode::OK);
    assert!(
        ticket.body["subject"]
            .as_str()
            .unwrap()
            .starts_with("Ticket ")
    );
    assert_eq!(ticket.body["status"], "new");
    let messages = app
        .get(&format!("/api/v1/tickets/{tk}/messages"), &a.admin)
        .await;
    assert_eq!(
        messages.body.as_array().unwrap().len(),
        2,
        "{}",
        messages.body
    );
    let history = app
        .get(&format!("/api/v1/tickets/{tk}/history"), &a.admin)
        .await;
    assert_eq!(history.body["status_changes"].as_array().unwrap().len(), 1);
    let mailbox = app.get(&format!("/api/v1/mailboxes/{mb}"), &a.admin).await;
    assert!(
        mailbox.body["name"]
            .as_str()
            .unwrap()
            .starts_with("Support ")
    );
    assert_eq!(mailbox.body["enabled"], true);
    let quarantine = app
        .get(&format!("/api/v1/mailboxes/{mb}/quarantine"), &a.admin)
        .await;
    assert_eq!(quarantine.body["total"], 1);
    assert_eq!(
        app.count("SELECT count(*) FROM jobs").await,
        jobs_before,
        "no test, poll or reprocess was queued"
    );
    // A's ids in B's bodies are unknown too.
    let a_contact = ct;
    for body in [
        json!({"subject": "x", "client_id": c}),
        json!({"subject": "x", "client_id": b_client, "contact_id": a_contact}),
        json!({"subject": "x", "assignee_id": u}),
    ] {
        let r = app.post("/api/v1/tickets", &b.admin, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
    }
    let r = app
        .patch(
            &format!("/api/v1/tickets/{b_ticket}"),
            &b.admin,
            json!({"client_id": c}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    for (path, body) in [
        (
            "/api/v1/tickets/bulk-status",
            json!({"ids": [b_ticket, tk], "status": "closed"}),
        ),
        (
            "/api/v1/tickets/bulk-assign",
            json!({"ids": [tk], "assignee_id": null}),
        ),
    ] {
        let r = app.post(path, &b.admin, body).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            r.body
        );
        assert!(
            r.body.to_string().contains(tk.as_str()),
            "{path}: {}",
            r.body
        );
    }
    let r = app
        .post(
            &format!("/api/v1/tickets/{b_ticket}/assign"),
            &b.admin,
            json!({"assignee_id": u}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(
        app.get(&format!("/api/v1/tickets/{b_ticket}"), &b.admin)
            .await
            .body["status"],
        "new"
    );
    for q in [
        "q=aardvark".to_owned(),
        format!("client_id={c}"),
        format!("assignee_id={u}"),
    ] {
        let r = app.get(&format!("/api/v1/tickets?{q}"), &b.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{q}");
        assert_eq!(r.body["total"], 0, "{q}: {}", r.body);
    }
    assert_eq!(
        app.get("/api/v1/tickets", &b.admin).await.body["total"],
        1,
        "B sees only its own ticket"
    );
    assert_eq!(
        app.get("/api/v1/sla/policies", &b.admin).await.body,
        json!([])
    );
    assert_eq!(
        app.get("/api/v1/sla/holidays", &b.admin).await.body,
        json!([])
    );

    // And B's lists show none of it.
    for path in [
        "/api/v1/clients?status=all",
        "/api/v1/users",
        "/api/v1/api-tokens",
        "/api/v1/audit",
        "/api/v1/jobs",
        "/api/v1/schedules",
        "/api/v1/tax-rates?include_archived=true",
        "/api/v1/products?include_archived=true",
        "/api/v1/payment-terms",
        "/api/v1/invoices",
        "/api/v1/payments",
        "/api/v1/recurring-invoices",
        "/api/v1/billing-runs",
        "/api/v1/quotes",
        "/api/v1/tickets",
        "/api/v1/mailboxes",
        "/api/v1/mail",
    ] {
        let r = app.get(path, &b.admin).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let text = r.body.to_string();
        for id in [
            c,
            ct,
            l,
            u,
            t,
            &o.job,
            &o.schedule,
            &o.tax_rate,
            &o.product,
            &o.payment_term,
            &o.invoice,
            &o.payment,
            &o.template,
            &o.run,
            &o.quote,
            tk,
            mb,
            &att,
            &quarantined,
        ] {
            assert!(!text.contains(id.as_str()), "{path} leaks {id}");
        }
    }
    let company = app.get("/api/v1/company", &b.admin).await;
    assert_eq!(company.body["name"], "Tenant B");
}

async fn raw_client_names(tx: &mut TenantTx) -> Vec<String> {
    sqlx::query("SELECT * FROM clients ORDER BY name")
        .fetch_all(tx.conn())
        .await
        .expect("select")
        .iter()
        .map(|r| r.get::<String, _>("name"))
        .collect()
}

#[tokio::test]
async fn row_level_security_filters_a_raw_select_without_where() {
    let app = TestApp::new().await;
    let a = app.tenant("Tenant A").await;
    let b = app.tenant("Tenant B").await;
    app.client(&a.admin, "A1").await;
    app.client(&a.admin, "A2").await;
    app.client(&b.admin, "B1").await;

    let mut tx = app.db.tenant(a.id).await.unwrap();
    assert_eq!(raw_client_names(&mut tx).await, ["A1", "A2"]);
    drop(tx);
    let mut tx = app.db.tenant(b.id).await.unwrap();
    assert_eq!(raw_client_names(&mut tx).await, ["B1"]);

    // Writing a row for another tenant is refused by the policy.
    let err = sqlx::query(
        "INSERT INTO clients (id, company_id, name, created_at, updated_at) VALUES ($1, $2, 'sneaky', now(), now())",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(a.id)
    .execute(tx.conn())
    .await
    .expect_err("RLS must refuse");
    assert!(err.to_string().contains("row-level security"), "{err}");
    drop(tx);

    // Without a tenant the application role sees nothing at all.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM clients")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    // While the owner sees all three.
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM clients")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(n, 3);
}

#[tokio::test]
async fn the_application_role_does_not_own_tenant_tables() {
    let app = TestApp::new().await;
    let owned: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = 'nestogy_app'",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(owned, 0);
    let without_rls: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT c.relrowsecurity \
         AND c.relname <> '_sqlx_migrations'",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert!(
        without_rls.is_empty(),
        "tables without RLS: {without_rls:?}"
    );
}

/// A platform transaction for the queue's batches by id (the claim commits
/// without waiting for the disk) is a platform transaction in every other
/// way, and its settings end with it.
#[tokio::test]
async fn an_async_commit_system_transaction_is_scoped_to_itself() {
    let app = TestApp::new().await;
    let mut tx = app.db.system_by_id(Commit::Async).await.unwrap();
    let (sync, system, seqscan): (String, String, String) = sqlx::query_as(
        "SELECT current_setting('synchronous_commit'), current_setting('app.system'), \
         current_setting('enable_seqscan')",
    )
    .fetch_one(tx.conn())
    .await
    .unwrap();
    assert_eq!(
        (sync.as_str(), system.as_str(), seqscan.as_str()),
        ("off", "on", "off")
    );
    tx.commit().await.unwrap();
    let mut tx = app.db.system_by_id(Commit::Durable).await.unwrap();
    let (sync, seqscan): (String, String) = sqlx::query_as(
        "SELECT current_setting('synchronous_commit'), current_setting('enable_seqscan')",
    )
    .fetch_one(tx.conn())
    .await
    .unwrap();
    assert_eq!((sync.as_str(), seqscan.as_str()), ("on", "off"));
    tx.commit().await.unwrap();
    let mut tx = app.db.system().await.unwrap();
    let (sync, seqscan): (String, String) = sqlx::query_as(
        "SELECT current_setting('synchronous_commit'), current_setting('enable_seqscan')",
    )
    .fetch_one(tx.conn())
    .await
    .unwrap();
    assert_eq!((sync.as_str(), seqscan.as_str()), ("on", "on"));
    tx.commit().await.unwrap();
}

/// A tenant transaction plans each statement for its parameters (the lists'
/// optional filters make a generic plan scan the whole table), and the
/// setting ends with the transaction.
#[tokio::test]
async fn a_tenant_transaction_plans_each_statement_for_its_parameters() {
    let app = TestApp::new().await;
    let t = app.tenant("Planned").await;
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let (mode, company): (String, String) = sqlx::query_as(
        "SELECT current_setting('plan_cache_mode'), current_setting('app.company_id')",
    )
    .fetch_one(tx.conn())
    .await
    .unwrap();
    assert_eq!(mode, "force_custom_plan");
    assert_eq!(company, t.id.as_uuid().to_string());
    tx.commit().await.unwrap();
    let mut tx = app.db.system().await.unwrap();
    let mode: String = sqlx::query_scalar("SELECT current_setting('plan_cache_mode')")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(mode, "auto");
    tx.commit().await.unwrap();
}
