//! Ticket templates, checklists on tickets and recurring tickets: CRUD and
//! validation, a ticket opened from a template, the checklist rule on
//! resolving, and recurring tickets fired by two schedulers over a moved
//! clock, each fire opening one ticket however often its job runs.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use nestogy_domain::kernel::roles::Role;
use nestogy_domain::{JobId, RecurringTicketId, TenantId};
use nestogy_jobs::tickets::RecurringFire;
use nestogy_jobs::{Job, JobMeta};
use nestogy_scheduler::{SchedulerConfig, tick};
use serde_json::{Value, json};

use crate::common::{TestApp, field_code, fields};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn template_body(name: &str) -> Value {
    json!({
        "name": name,
        "subject": "Monthly patch review",
        "description": "Check the patch report and reboot what needs it.",
        "priority": "high",
        "tags": ["Patching", "monthly"],
        "checklist": [
            {"text": "Review the patch report", "required": true},
            {"text": "Reboot the servers", "required": true},
            {"text": "Note anything odd"}
        ]
    })
}

async fn template(app: &TestApp, token: &str, name: &str) -> String {
    let r = app
        .post("/api/v1/ticket-templates", token, template_body(name))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

#[tokio::test]
async fn templates_crud_and_validation() {
    let app = TestApp::new().await;
    let t = app.tenant("Templates Co").await;
    let tech = app.user(&t, Role::Tech).await;

    // Techs write templates, as they write tickets.
    let r = app
        .post(
            "/api/v1/ticket-templates",
            &tech,
            template_body("Patch review"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.id();
    assert_eq!(r.body["priority"], "high");
    assert_eq!(r.body["tags"], json!(["patching", "monthly"]));
    assert_eq!(
        r.body["checklist"][2],
        json!({"text": "Note anything odd", "required": false})
    );

    let got = app
        .get(&format!("/api/v1/ticket-templates/{id}"), &t.admin)
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["name"], "Patch review");
    template(&app, &t.admin, "Onboarding").await;
    let list = app.get("/api/v1/ticket-templates?limit=1", &t.admin).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["total"], 2);
    assert_eq!(list.body["data"][0]["name"], "Onboarding", "by name");
    let next = list.body["next_cursor"].as_str().unwrap();
    let page2 = app
        .get(
            &format!("/api/v1/ticket-templates?limit=1&cursor={next}"),
            &t.admin,
        )
        .await;
    assert_eq!(page2.body["data"][0]["name"], "Patch review");

    // Names are unique in the company, ignoring case.
    let dup = app
        .post(
            "/api/v1/ticket-templates",
            &t.admin,
            template_body("patch REVIEW"),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.error_code(), "template_name_taken");

    // Every bad field at once.
    let bad = app
        .post(
            "/api/v1/ticket-templates",
            &t.admin,
            json!({"name": " ", "subject": "", "tags": [""], "checklist": [{"text": "ok"}, {"text": "  "}]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let mut f = fields(&bad);
    f.sort();
    assert_eq!(f, ["checklist[1].text", "name", "subject", "tags"]);
    assert_eq!(field_code(&bad, "name"), "required");
    let long = app
        .post(
            "/api/v1/ticket-templates",
            &t.admin,
            json!({"name": "Long", "subject": "x".repeat(301)}),
        )
        .await;
    assert_eq!(field_code(&long, "subject"), "too_long");

    // A patch keeps what it does not name; a new checklist replaces the old.
    let p = app
        .patch(
            &format!("/api/v1/ticket-templates/{id}"),
            &tech,
            json!({"priority": "low", "description": null, "checklist": [{"text": "Only this", "required": true}]}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.body["priority"], "low");
    assert_eq!(p.body["subject"], "Monthly patch review");
    assert!(p.body["description"].is_null());
    assert_eq!(
        p.body["checklist"],
        json!([{"text": "Only this", "required": true}])
    );
    let clash = app
        .patch(
            &format!("/api/v1/ticket-templates/{id}"),
            &tech,
            json!({"name": "onboarding"}),
        )
        .await;
    assert_eq!(clash.error_code(), "template_name_taken");
    let bad = app
        .patch(
            &format!("/api/v1/ticket-templates/{id}"),
            &tech,
            json!({"checklist": [{"text": ""}]}),
        )
        .await;
    assert_eq!(fields(&bad), ["checklist[0].text"]);

    let d = app
        .delete(&format!("/api/v1/ticket-templates/{id}"), &tech)
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let gone = app
        .get(&format!("/api/v1/ticket-templates/{id}"), &t.admin)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let audit = app
        .count(&format!(
            "SELECT count(*) FROM audit_log WHERE entity_id = '{id}' AND action LIKE 'ticket_template.%'"
        ))
        .await;
    assert_eq!(audit, 3, "created, updated, deleted");
}

#[tokio::test]
async fn templates_open_a_ticket_with_everything_copied() {
    let app = TestApp::new().await;
    let t = app.tenant("From Template").await;
    let client = app.client(&t.admin, "Acme").await;
    let id = template(&app, &t.admin, "Patch review").await;

    let r = app
        .post(
            &format!("/api/v1/ticket-templates/{id}/tickets"),
            &t.admin,
            json!({"client_id": client, "assignee_id": t.admin_id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ticket = r.id();
    assert_eq!(r.body["subject"], "Monthly patch review");
    assert_eq!(r.body["priority"], "high");
    assert_eq!(r.body["tags"], json!(["patching", "monthly"]));
    assert_eq!(r.body["client_id"], client);
    assert_eq!(r.body["assignee_id"], json!(t.admin_id));
    assert_eq!(
        r.body["checklist"],
        json!({"total": 3, "done": 0, "open_required": 2})
    );
    let msgs = app
        .get(&format!("/api/v1/tickets/{ticket}/messages"), &t.admin)
        .await;
    assert_eq!(
        msgs.body[0]["body"],
        "Check the patch report and reboot what needs it."
    );
    let items = app
        .get(&format!("/api/v1/tickets/{ticket}/checklist"), &t.admin)
        .await;
    assert_eq!(items.status, StatusCode::OK, "{}", items.body);
    let texts: Vec<(&str, bool, i64)> = items
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["text"].as_str().unwrap(),
                i["required"].as_bool().unwrap(),
                i["position"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        texts,
        [
            ("Review the patch report", true, 1),
            ("Reboot the servers", true, 2),
            ("Note anything odd", false, 3)
        ]
    );
    assert!(items.body[0]["done"] == false && items.body[0]["done_by"].is_null());

    // Without parties it is a ticket for nobody yet; a bad party is a 422.
    let bare = app
        .post(
            &format!("/api/v1/ticket-templates/{id}/tickets"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(bare.status, StatusCode::CREATED, "{}", bare.body);
    assert!(bare.body["client_id"].is_null());
    let bad = app
        .post(
            &format!("/api/v1/ticket-templates/{id}/tickets"),
            &t.admin,
            json!({"client_id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_code(&bad, "client_id"), "not_found");
}

#[tokio::test]
async fn templates_and_checklists_and_recurring_tickets_of_another_tenant_are_404() {
    let app = TestApp::new().await;
    let a = app.tenant("Owner Tenant").await;
    let b = app.tenant("Other Tenant").await;
    let client = app.client(&a.admin, "Acme").await;
    let tpl = template(&app, &a.admin, "Patch review").await;
    let ticket = app
        .post(
            &format!("/api/v1/ticket-templates/{tpl}/tickets"),
            &a.admin,
            json!({"client_id": client}),
        )
        .await
        .id();
    let item = app
        .get(&format!("/api/v1/tickets/{ticket}/checklist"), &a.admin)
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rec = app
        .post(
            "/api/v1/recurring-tickets",
            &a.admin,
            json!({"template_id": tpl, "client_id": client, "cron": "0 8 * * Mon"}),
        )
        .await;
    assert_eq!(rec.status, StatusCode::CREATED, "{}", rec.body);
    let rec = rec.id();

    let not_found = [
        app.get(&format!("/api/v1/ticket-templates/{tpl}"), &b.admin)
            .await,
        app.patch(
            &format!("/api/v1/ticket-templates/{tpl}"),
            &b.admin,
            json!({"name": "x"}),
        )
        .await,
        app.delete(&format!("/api/v1/ticket-templates/{tpl}"), &b.admin)
            .await,
        app.post(
            &format!("/api/v1/ticket-templates/{tpl}/tickets"),
            &b.admin,
            json!({}),
        )
        .await,
        app.get(&format!("/api/v1/tickets/{ticket}/checklist"), &b.admin)
            .await,
        app.post(
            &format!("/api/v1/tickets/{ticket}/checklist"),
            &b.admin,
            json!({"text": "x"}),
        )
        .await,
        app.patch(
            &format!("/api/v1/tickets/{ticket}/checklist/{item}"),
            &b.admin,
            json!({"done": true}),
        )
        .await,
        app.delete(
            &format!("/api/v1/tickets/{ticket}/checklist/{item}"),
            &b.admin,
        )
        .await,
        app.get(&format!("/api/v1/recurring-tickets/{rec}"), &b.admin)
            .await,
        app.patch(
            &format!("/api/v1/recurring-tickets/{rec}"),
            &b.admin,
            json!({"enabled": false}),
        )
        .await,
        app.delete(&format!("/api/v1/recurring-tickets/{rec}"), &b.admin)
            .await,
    ];
    for (i, r) in not_found.iter().enumerate() {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "call {i}: {}", r.body);
    }
    // Another tenant's template and client in a body are unknown there.
    let r = app
        .post(
            "/api/v1/recurring-tickets",
            &b.admin,
            json!({"template_id": tpl, "client_id": client, "cron": "0 8 * * Mon"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_code(&r, "template_id"), "not_found");
    assert_eq!(field_code(&r, "client_id"), "not_found");
    // The owner's rows are untouched.
    let still = app
        .get(&format!("/api/v1/tickets/{ticket}/checklist"), &a.admin)
        .await;
    assert_eq!(still.body.as_array().unwrap().len(), 3);
    assert_eq!(
        app.get(&format!("/api/v1/recurring-tickets/{rec}"), &a.admin)
            .await
            .body["enabled"],
        true
    );
}

async fn add_item(
    app: &TestApp,
    token: &str,
    ticket: &str,
    text: &str,
    required: bool,
) -> crate::common::Response {
    let r = app
        .post(
            &format!("/api/v1/tickets/{ticket}/checklist"),
            token,
            json!({"text": text, "required": required}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r
}

#[tokio::test]
async fn checklists_block_resolving_until_required_items_are_done() {
    let app = TestApp::new().await;
    let t = app.tenant("Checklist Co").await;
    let tech = app.user(&t, Role::Tech).await;
    let ticket = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "New laptop"}),
        )
        .await
        .id();
    let other = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "No checklist"}),
        )
        .await
        .id();
    let image = add_item(&app, &tech, &ticket, "Image the laptop", true).await;
    let label = add_item(&app, &tech, &ticket, "Label it", false).await;
    let install = add_item(&app, &tech, &ticket, "Install the VPN", true).await;
    assert_eq!(install.body["position"], 3);
    let bad = app
        .post(
            &format!("/api/v1/tickets/{ticket}/checklist"),
            &tech,
            json!({"text": ""}),
        )
        .await;
    assert_eq!(field_code(&bad, "text"), "required");
    let got = app.get(&format!("/api/v1/tickets/{ticket}"), &tech).await;
    assert_eq!(
        got.body["checklist"],
        json!({"total": 3, "done": 0, "open_required": 2})
    );

    // Resolving with required items open: 409 listing them; nothing changed.
    let r = app
        .post(
            &format!("/api/v1/tickets/{ticket}/status"),
            &tech,
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "checklist_open");
    let open: Vec<&str> = r.body["error"]["details"]["open_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["text"].as_str().unwrap())
        .collect();
    assert_eq!(open, ["Image the laptop", "Install the VPN"]);
    let closed = app
        .post(
            &format!("/api/v1/tickets/{ticket}/status"),
            &tech,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(closed.error_code(), "checklist_open");
    // Bulk status is all or none: the ticket without a checklist stays too.
    let bulk = app
        .post(
            "/api/v1/tickets/bulk-status",
            &tech,
            json!({"ids": [ticket, other], "status": "resolved"}),
        )
        .await;
    assert_eq!(bulk.status, StatusCode::CONFLICT, "{}", bulk.body);
    assert_eq!(
        bulk.body["error"]["details"]["open_items"][0]["ticket_id"],
        ticket
    );
    let o = app.get(&format!("/api/v1/tickets/{other}"), &tech).await;
    assert_eq!(o.body["status"], "new");
    // Other statuses are not blocked.
    let r = app
        .post(
            &format!("/api/v1/tickets/{ticket}/status"),
            &tech,
            json!({"status": "in_progress"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // Ticking off records who and when; an optional item does not matter.
    let now = app.clock_now();
    let item = image.id();
    let done = app
        .patch(
            &format!("/api/v1/tickets/{ticket}/checklist/{item}"),
            &tech,
            json!({"done": true}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["done"], true);
    assert!(done.body["done_by"].is_string());
    let at: DateTime<Utc> = serde_json::from_value(done.body["done_at"].clone()).unwrap();
    assert!((at - now).num_seconds().abs() < 5);
    let undone = app
        .patch(
            &format!("/api/v1/tickets/{ticket}/checklist/{item}"),
            &tech,
            json!({"done": false}),
        )
        .await;
    assert!(undone.body["done_by"].is_null() && undone.body["done_at"].is_null());
    app.patch(
        &format!("/api/v1/tickets/{ticket}/checklist/{item}"),
        &tech,
        json!({"done": true}),
    )
    .await;
    // The last required item made optional, renamed.
    let install_id = install.id();
    let p = app
        .patch(
            &format!("/api/v1/tickets/{ticket}/checklist/{install_id}"),
            &tech,
            json!({"required": false, "text": "Install the VPN (if asked)"}),
        )
        .await;
    assert_eq!(p.body["text"], "Install the VPN (if asked)");
    assert_eq!(p.body["required"], false);
    let got = app.get(&format!("/api/v1/tickets/{ticket}"), &tech).await;
    assert_eq!(
        got.body["checklist"],
        json!({"total": 3, "done": 1, "open_required": 0})
    );
    let r = app
        .post(
            &format!("/api/v1/tickets/{ticket}/status"),
            &tech,
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "resolved");

    let label_id = label.id();
    let d = app
        .delete(
            &format!("/api/v1/tickets/{ticket}/checklist/{label_id}"),
            &tech,
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let again = app
        .delete(
            &format!("/api/v1/tickets/{ticket}/checklist/{label_id}"),
            &tech,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let got = app.get(&format!("/api/v1/tickets/{ticket}"), &tech).await;
    assert_eq!(got.body["checklist"]["total"], 2);
}

#[tokio::test]
async fn recurring_tickets_crud_cron_validation_and_their_schedule() {
    let app = TestApp::new().await;
    app.clock.set(utc("2026-03-02T10:00:00Z"));
    let t = app.tenant("Recurring Crud").await;
    let tech = app.user(&t, Role::Tech).await;
    let client = app.client(&t.admin, "Acme").await;
    let tpl = template(&app, &t.admin, "Patch review").await;

    let bad = app
        .post(
            "/api/v1/recurring-tickets",
            &tech,
            json!({"template_id": uuid::Uuid::now_v7(), "client_id": client, "cron": "61 * * * *"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let mut f = fields(&bad);
    f.sort();
    assert_eq!(f, ["cron", "template_id"]);
    assert_eq!(field_code(&bad, "cron"), "invalid");

    // Mondays at 08:00 in the company's zone (Berlin, UTC+1 in March).
    let r = app
        .post(
            "/api/v1/recurring-tickets",
            &tech,
            json!({"template_id": tpl, "client_id": client, "cron": "0 8 * * Mon"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.id();
    assert_eq!(r.body["skip_if_open"], true);
    assert_eq!(r.body["enabled"], true);
    assert_eq!(r.body["next_fire_at"], "2026-03-09T07:00:00Z");
    assert!(r.body["last_outcome"].is_null());
    let schedule = r.body["schedule_id"].as_str().unwrap().to_owned();
    let s = app
        .get(&format!("/api/v1/schedules/{schedule}"), &t.admin)
        .await;
    assert_eq!(s.body["kind"], "tickets.recurring");
    assert_eq!(s.body["time_zone"], "Europe/Berlin");
    assert_eq!(s.body["follows_company_time_zone"], true);
    // Its schedule is changed only through it.
    let p = app
        .patch(
            &format!("/api/v1/schedules/{schedule}"),
            &t.admin,
            json!({"cron": "* * * * *"}),
        )
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    assert_eq!(p.error_code(), "schedule_managed");
    let d = app
        .delete(&format!("/api/v1/schedules/{schedule}"), &t.admin)
        .await;
    assert_eq!(d.error_code(), "schedule_managed");
    // A template a recurring ticket opens cannot go.
    let d = app
        .delete(&format!("/api/v1/ticket-templates/{tpl}"), &t.admin)
        .await;
    assert_eq!(d.status, StatusCode::CONFLICT);
    assert_eq!(d.error_code(), "template_in_use");

    let bad = app
        .patch(
            &format!("/api/v1/recurring-tickets/{id}"),
            &tech,
            json!({"cron": "every day"}),
        )
        .await;
    assert_eq!(field_code(&bad, "cron"), "invalid");
    let p = app
        .patch(
            &format!("/api/v1/recurring-tickets/{id}"),
            &tech,
            json!({"cron": "30 9 * * *", "skip_if_open": false}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.body["cron"], "30 9 * * *");
    assert_eq!(p.body["skip_if_open"], false);
    assert_eq!(p.body["next_fire_at"], "2026-03-03T08:30:00Z");
    let off = app
        .patch(
            &format!("/api/v1/recurring-tickets/{id}"),
            &tech,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(off.body["enabled"], false);
    assert!(off.body["next_fire_at"].is_null());
    let s = app
        .get(&format!("/api/v1/schedules/{schedule}"), &t.admin)
        .await;
    assert_eq!(s.body["enabled"], false);
    assert_eq!(s.body["cron"], "30 9 * * *");

    let list = app.get("/api/v1/recurring-tickets", &tech).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["total"], 1);

    let d = app
        .delete(&format!("/api/v1/recurring-tickets/{id}"), &tech)
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let gone = app
        .get(&format!("/api/v1/schedules/{schedule}"), &t.admin)
        .await;
    assert_eq!(
        gone.status,
        StatusCode::NOT_FOUND,
        "its schedule went with it"
    );
    let d = app
        .delete(&format!("/api/v1/ticket-templates/{tpl}"), &t.admin)
        .await;
    assert_eq!(
        d.status,
        StatusCode::NO_CONTENT,
        "the template is free again"
    );
}

/// The jobs the scheduler enqueued for a recurring ticket's schedule.
async fn fire_jobs(app: &TestApp, schedule: &str) -> Vec<(DateTime<Utc>, JobId)> {
    sqlx::query_as(
        "SELECT fire_at, job_id FROM schedule_fires WHERE schedule_id = $1::uuid ORDER BY fire_at",
    )
    .bind(schedule)
    .fetch_all(&app.owner)
    .await
    .unwrap()
}

async fn run_fire(app: &TestApp, tenant: TenantId, rec: &str, job: JobId) -> Value {
    RecurringFire {
        tenant,
        recurring_ticket_id: rec.parse::<RecurringTicketId>().unwrap(),
    }
    .run(
        app.jobs(),
        JobMeta {
            id: job,
            attempt: 1,
        },
    )
    .await
    .expect("the fire's job")
}

async fn tickets_of(app: &TestApp, tenant: TenantId) -> i64 {
    app.count(&format!(
        "SELECT count(*) FROM tickets WHERE company_id = '{tenant}' AND subject = 'Monthly patch review'"
    ))
    .await
}

#[tokio::test]
async fn recurring_tickets_fire_once_per_fire_with_two_schedulers_in_the_company_zone() {
    let app = TestApp::new().await;
    app.clock.set(utc("2026-03-01T12:00:30Z"));
    let t = app.tenant("Recurring Two").await;
    let client = app.client(&t.admin, "Acme").await;
    let tpl = template(&app, &t.admin, "Patch review").await;
    // Every day at 09:00 in Berlin: 08:00 UTC in March.
    let r = app
        .post(
            "/api/v1/recurring-tickets",
            &t.admin,
            json!({"template_id": tpl, "client_id": client, "cron": "0 9 * * *", "skip_if_open": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let rec = r.id();
    let schedule = r.body["schedule_id"].as_str().unwrap().to_owned();
    only_recurring(&app, t.id).await;
    let cfg = SchedulerConfig::default();
    let (one, two) = (app.jobs(), app.jobs());

    // Three days, an hour at a time, each looked at by both schedulers at
    // once, twice.
    let mut fired = 0;
    for _ in 0..72 {
        app.clock.advance(Duration::hours(1));
        let (a, b) = tokio::join!(tick(&one, &cfg), tick(&two, &cfg));
        let both = a.unwrap().fired + b.unwrap().fired;
        assert!(both <= 1, "one fire at most per hour between both");
        fired += both;
        let (a, b) = tokio::join!(tick(&one, &cfg), tick(&two, &cfg));
        assert_eq!(a.unwrap().fired + b.unwrap().fired, 0, "nothing more");
    }
    assert_eq!(fired, 3);
    let fires = fire_jobs(&app, &schedule).await;
    let at: Vec<DateTime<Utc>> = fires.iter().map(|f| f.0).collect();
    assert_eq!(
        at,
        [
            utc("2026-03-02T08:00:00Z"),
            utc("2026-03-03T08:00:00Z"),
            utc("2026-03-04T08:00:00Z")
        ]
    );
    // Each fire's job run twice, both at once: one ticket per fire.
    for (_, job) in &fires {
        let (x, y) = tokio::join!(
            run_fire(&app, t.id, &rec, *job),
            run_fire(&app, t.id, &rec, *job)
        );
        let outcomes = [x["outcome"].clone(), y["outcome"].clone()];
        assert!(
            outcomes.contains(&json!("opened")) && outcomes.contains(&json!("handled_before")),
            "{outcomes:?}"
        );
    }
    assert_eq!(tickets_of(&app, t.id).await, 3);
    // Three days on, the admin's access token has expired: sign in again.
    let fresh = app
        .login("admin@recurring-two.example", crate::common::PASSWORD)
        .await;
    let token = fresh.body["access_token"].as_str().unwrap().to_owned();
    let got = app
        .get(&format!("/api/v1/recurring-tickets/{rec}"), &token)
        .await;
    assert_eq!(got.body["last_fire_at"], "2026-03-04T08:00:00Z");
    assert_eq!(got.body["last_outcome"], "opened");
    let last = got.body["last_ticket_id"].as_str().unwrap();
    let ticket = app.get(&format!("/api/v1/tickets/{last}"), &token).await;
    assert_eq!(ticket.body["client_id"], client);
    assert_eq!(ticket.body["checklist"]["total"], 3);
    let jobs = app
        .count(&format!(
            "SELECT count(*) FROM jobs WHERE kind = 'tickets.recurring' AND company_id = '{}'",
            t.id
        ))
        .await;
    assert_eq!(jobs, 3, "one job per fire between both schedulers");
}

/// One minute on: the scheduler fires, and the fire's job runs.
async fn step(app: &TestApp, tenant: TenantId, schedule: &str, rec: &str) -> Value {
    app.clock.advance(Duration::minutes(1));
    tick(&app.jobs(), &SchedulerConfig::default())
        .await
        .unwrap();
    let (_, job) = *fire_jobs(app, schedule).await.last().unwrap();
    run_fire(app, tenant, rec, job).await
}

/// Only the recurring tickets' schedules fire: the company's defaults
/// (mailbox polls every minute, ...) are switched off.
async fn only_recurring(app: &TestApp, tenant: TenantId) {
    sqlx::query("UPDATE schedules SET enabled = false WHERE company_id = $1 AND kind <> 'tickets.recurring'")
        .bind(tenant)
        .execute(&app.owner)
        .await
        .unwrap();
}

#[tokio::test]
async fn recurring_tickets_skip_a_fire_while_the_previous_ticket_is_open() {
    let app = TestApp::new().await;
    app.clock.set(utc("2026-03-01T12:00:30Z"));
    let t = app.tenant("Recurring Skip").await;
    let client = app.client(&t.admin, "Acme").await;
    let r = app
        .post(
            "/api/v1/ticket-templates",
            &t.admin,
            json!({"name": "Backup check", "subject": "Monthly patch review"}),
        )
        .await;
    let tpl = r.id();
    let r = app
        .post(
            "/api/v1/recurring-tickets",
            &t.admin,
            json!({"template_id": tpl, "client_id": client, "cron": "* * * * *", "skip_if_open": true}),
        )
        .await;
    let rec = r.id();
    let schedule = r.body["schedule_id"].as_str().unwrap().to_owned();
    only_recurring(&app, t.id).await;
    let first = step(&app, t.id, &schedule, &rec).await;
    assert_eq!(first["outcome"], "opened");
    let opened = first["ticket_id"].as_str().unwrap().to_owned();
    let second = step(&app, t.id, &schedule, &rec).await;
    assert_eq!(second["outcome"], "skipped_open");
    assert!(second["ticket_id"].is_null());
    assert_eq!(tickets_of(&app, t.id).await, 1);
    let got = app
        .get(&format!("/api/v1/recurring-tickets/{rec}"), &t.admin)
        .await;
    assert_eq!(got.body["last_outcome"], "skipped_open");
    assert_eq!(got.body["last_fire_at"], "2026-03-01T12:02:00Z");
    assert_eq!(got.body["last_ticket_id"], opened);
    // Still open (waiting on the client): skipped again.
    app.post(
        &format!("/api/v1/tickets/{opened}/status"),
        &t.admin,
        json!({"status": "waiting_on_client"}),
    )
    .await;
    assert_eq!(
        step(&app, t.id, &schedule, &rec).await["outcome"],
        "skipped_open"
    );
    // Resolved: the next fire opens a new one.
    let r = app
        .post(
            &format!("/api/v1/tickets/{opened}/status"),
            &t.admin,
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let fourth = step(&app, t.id, &schedule, &rec).await;
    assert_eq!(fourth["outcome"], "opened");
    assert_ne!(fourth["ticket_id"], json!(opened));
    assert_eq!(tickets_of(&app, t.id).await, 2);
    let outcomes = app
        .count(&format!(
            "SELECT count(*) FROM recurring_ticket_fires WHERE recurring_ticket_id = '{rec}' AND outcome = 'skipped_open'"
        ))
        .await;
    assert_eq!(outcomes, 2, "each skipped fire is recorded");
}

#[tokio::test]
async fn recurring_tickets_job_is_idempotent() {
    let app = TestApp::new().await;
    app.clock.set(utc("2026-03-01T12:00:30Z"));
    let t = app.tenant("Recurring Idem").await;
    let client = app.client(&t.admin, "Acme").await;
    let tpl = template(&app, &t.admin, "Patch review").await;
    let r = app
        .post(
            "/api/v1/recurring-tickets",
            &t.admin,
            json!({"template_id": tpl, "client_id": client, "cron": "* * * * *", "skip_if_open": false}),
        )
        .await;
    let rec = r.id();
    let schedule = r.body["schedule_id"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::minutes(1));
    tick(&app.jobs(), &SchedulerConfig::default())
        .await
        .unwrap();
    let fires = fire_jobs(&app, &schedule).await;
    assert_eq!(fires.len(), 1);
    let job = fires[0].1;
    let first = run_fire(&app, t.id, &rec, job).await;
    assert_eq!(first["outcome"], "opened");
    assert_eq!(first["fire_at"], "2026-03-01T12:01:00Z");
    // A retry of the same job, and again later: nothing more.
    let again = run_fire(&app, t.id, &rec, job).await;
    assert_eq!(again["outcome"], "handled_before");
    app.clock.advance(Duration::seconds(20));
    let later = run_fire(&app, t.id, &rec, job).await;
    assert_eq!(later["outcome"], "handled_before");
    assert_eq!(tickets_of(&app, t.id).await, 1);
    let checklist = app
        .count(&format!(
            "SELECT count(*) FROM ticket_checklist_items WHERE company_id = '{}'",
            t.id
        ))
        .await;
    assert_eq!(checklist, 3, "the checklist copied once");
    let audit = app
        .count(&format!(
            "SELECT count(*) FROM audit_log WHERE company_id = '{}' AND action = 'ticket.created' \
             AND actor_user_id IS NULL",
            t.id
        ))
        .await;
    assert_eq!(audit, 1, "the opened ticket is audited once");
}

/// The rule binds staff: a contact closing their own ticket in the portal
/// is the client's choice, open required items or not.
#[tokio::test]
async fn checklists_do_not_block_a_contact_closing_their_own_ticket_in_the_portal() {
    let app = TestApp::new().await;
    let p = crate::portal::portal(&app, "Checklist Portal").await;
    let contact = crate::portal::signed_in(&app, &p, Some(crate::common::PASSWORD)).await;
    let r = app
        .post(
            "/api/v1/portal/tickets",
            &contact,
            json!({"subject": "Printer", "description": "It jams"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["ticket"]["id"].as_str().unwrap().to_owned();
    add_item(&app, &p.t.admin, &id, "Replace the roller", true).await;
    let staff = app
        .post(
            &format!("/api/v1/tickets/{id}/status"),
            &p.t.admin,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(staff.error_code(), "checklist_open");
    let r = app
        .post(
            &format!("/api/v1/portal/tickets/{id}/close"),
            &contact,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "closed");
}
