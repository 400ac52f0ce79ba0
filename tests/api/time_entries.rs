//! Time entries end to end: validation, rates from the user, the client or
//! the company, timers over the manual clock, who may change whose time,
//! filters and pages, and billing time onto drafts once, also when two
//! calls race.

use axum::http::StatusCode;
use chrono::Duration;
use serde_json::{Value, json};

use crate::common::{Response, Tenant, TestApp, field_code, fields};

/// The caller's user id.
pub async fn me(app: &TestApp, token: &str) -> String {
    let r = app.get("/api/v1/auth/me", token).await;
    r.body["user"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {}", r.body))
        .to_owned()
}

pub async fn project(app: &TestApp, token: &str, client: &str, name: &str) -> String {
    let r = app
        .post(
            "/api/v1/projects",
            token,
            json!({"client_id": client, "name": name}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

async fn log(app: &TestApp, token: &str, body: Value) -> Response {
    app.post("/api/v1/time-entries", token, body).await
}

async fn logged(app: &TestApp, token: &str, body: Value) -> String {
    let r = log(app, token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

#[tokio::test]
async fn bad_entries_are_refused_naming_the_field() {
    let app = TestApp::new().await;
    let t = app.tenant("Time Checks").await;
    let client = app.client(&t.admin, "Acme").await;
    let p = project(&app, &t.admin, &client, "Rollout").await;
    let future = (app.clock_now() + Duration::hours(1)).to_rfc3339();
    let start = (app.clock_now() - Duration::hours(2)).to_rfc3339();
    let before = (app.clock_now() - Duration::hours(3)).to_rfc3339();
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"minutes": 10, "description": "x", "rate": "1"}),
            "ticket_id",
            "target",
        ),
        (
            json!({"project_id": p, "task_id": p, "minutes": 10, "description": "x", "rate": "1"}),
            "ticket_id",
            "target",
        ),
        (
            json!({"project_id": p, "minutes": 0, "description": "x", "rate": "1"}),
            "minutes",
            "out_of_range",
        ),
        (
            json!({"project_id": p, "minutes": 1441, "description": "x", "rate": "1"}),
            "minutes",
            "out_of_range",
        ),
        (
            json!({"project_id": p, "description": "x", "rate": "1"}),
            "minutes",
            "required",
        ),
        (
            json!({"project_id": p, "started_at": start, "ended_at": before, "description": "x", "rate": "1"}),
            "ended_at",
            "before_start",
        ),
        (
            json!({"project_id": p, "started_at": before, "ended_at": start, "minutes": 5, "description": "x", "rate": "1"}),
            "minutes",
            "conflict",
        ),
        (
            json!({"ended_at": start, "project_id": p, "description": "x", "rate": "1"}),
            "started_at",
            "required",
        ),
        (
            json!({"project_id": p, "started_at": future, "description": "x", "rate": "1"}),
            "started_at",
            "future",
        ),
        (
            json!({"project_id": p, "minutes": 10, "description": "  ", "rate": "1"}),
            "description",
            "required",
        ),
        (
            json!({"project_id": p, "minutes": 10, "description": "x", "rate": "-1"}),
            "rate",
            "invalid",
        ),
        (
            json!({"project_id": p, "minutes": 10, "description": "x", "rate": "1.00001"}),
            "rate",
            "invalid",
        ),
        (
            json!({"project_id": p, "date": "2026-03-05", "minutes": 10, "description": "x", "rate": "1"}),
            "date",
            "future",
        ),
        // No rate anywhere: not the user's, not the client's, not the company's.
        (
            json!({"project_id": p, "minutes": 10, "description": "x"}),
            "rate",
            "required",
        ),
        (
            json!({"project_id": "00000000-0000-7000-8000-000000000000", "minutes": 10, "description": "x", "rate": "1"}),
            "project_id",
            "unknown",
        ),
    ];
    for (body, field, code) in cases {
        let r = log(&app, &t.admin, body.clone()).await;
        assert!(fields(&r).contains(&field.to_owned()), "{body}: {}", r.body);
        assert_eq!(field_code(&r, field), code, "{body}: {}", r.body);
    }
    // Time on a ticket without a client can be logged, but not billed.
    let ticket = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "Printer", "description": "Jammed"}),
        )
        .await
        .id();
    let r = log(
        &app,
        &t.admin,
        json!({"ticket_id": ticket, "minutes": 10, "description": "x", "rate": "50"}),
    )
    .await;
    assert_eq!(field_code(&r, "ticket_id"), "no_client", "{}", r.body);
    let r = log(
        &app,
        &t.admin,
        json!({"ticket_id": ticket, "minutes": 10, "description": "Unjammed", "billable": false}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body["client_id"].is_null());
    assert_eq!(r.body["billable"], false);
    assert_eq!(
        app.count("SELECT count(*) FROM time_entries").await,
        1,
        "only the valid entry was stored"
    );
}

#[tokio::test]
async fn rates_come_from_the_user_then_the_client_then_the_company() {
    let app = TestApp::new().await;
    let t = app.tenant("Rates").await;
    let acme = app.client(&t.admin, "Acme").await;
    let p = project(&app, &t.admin, &acme, "Rollout").await;
    let tech = app
        .user(&t, nestogy_domain::kernel::roles::Role::Tech)
        .await;
    let tech_id = me(&app, &tech).await;
    let entry = json!({"project_id": p, "minutes": 60, "description": "Work"});

    let r = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"settings": {"default_hourly_rate": "80.00"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = log(&app, &tech, entry.clone()).await;
    assert_eq!(r.body["rate"], "80.00", "{}", r.body);

    let r = app
        .patch(
            &format!("/api/v1/clients/{acme}"),
            &t.admin,
            json!({"hourly_rate": "90.50"}),
        )
        .await;
    assert_eq!(r.body["hourly_rate"], "90.50", "{}", r.body);
    let r = log(&app, &tech, entry.clone()).await;
    assert_eq!(r.body["rate"], "90.50", "{}", r.body);

    let r = app
        .patch(
            &format!("/api/v1/users/{tech_id}"),
            &t.admin,
            json!({"hourly_rate": "120"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = log(&app, &tech, entry.clone()).await;
    assert_eq!(r.body["rate"], "120.00", "{}", r.body);

    // A rate given wins; an entry keeps its rate when the user's changes.
    let mut given = entry.clone();
    given["rate"] = json!("150");
    let r = log(&app, &tech, given).await;
    assert_eq!(r.body["rate"], "150.00", "{}", r.body);
    let kept = r.id();
    app.patch(
        &format!("/api/v1/users/{tech_id}"),
        &t.admin,
        json!({"hourly_rate": null}),
    )
    .await;
    let r = app
        .get(&format!("/api/v1/time-entries/{kept}"), &tech)
        .await;
    assert_eq!(r.body["rate"], "150.00");

    // Bad rates in settings, on clients and on users are 422s.
    let r = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"settings": {"default_hourly_rate": 80}}),
        )
        .await;
    assert_eq!(
        field_code(&r, "settings.default_hourly_rate"),
        "invalid",
        "{}",
        r.body
    );
    let r = app
        .patch(
            &format!("/api/v1/clients/{acme}"),
            &t.admin,
            json!({"hourly_rate": "-5"}),
        )
        .await;
    assert_eq!(fields(&r), ["hourly_rate"]);
    let r = app
        .patch(
            &format!("/api/v1/users/{tech_id}"),
            &t.admin,
            json!({"hourly_rate": "2000000"}),
        )
        .await;
    assert_eq!(fields(&r), ["hourly_rate"]);
}

#[tokio::test]
async fn a_timer_runs_until_stopped_and_one_runs_per_user() {
    let app = TestApp::new().await;
    let t = app.tenant("Timers").await;
    let client = app.client(&t.admin, "Acme").await;
    let p = project(&app, &t.admin, &client, "Rollout").await;
    let started = app.clock_now() - Duration::minutes(45);
    let r = log(
        &app,
        &t.admin,
        json!({"project_id": p, "started_at": started.to_rfc3339(), "description": "On site", "rate": "100"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["running"], true);
    assert!(r.body["minutes"].is_null());
    let timer = r.id();
    let second = log(
        &app,
        &t.admin,
        json!({"project_id": p, "started_at": app.clock_now().to_rfc3339(), "description": "Again", "rate": "100"}),
    )
    .await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.body);
    assert_eq!(second.error_code(), "timer_running");

    // A running timer is never billed.
    let r = app
        .post(
            &format!("/api/v1/clients/{client}/bill-time"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "nothing_to_bill");

    app.clock.advance(Duration::minutes(5));
    let r = app
        .post(
            &format!("/api/v1/time-entries/{timer}/stop"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["minutes"], 50);
    assert_eq!(r.body["hours"], "0.8333");
    assert_eq!(r.body["running"], false);
    let again = app
        .post(
            &format!("/api/v1/time-entries/{timer}/stop"),
            &t.admin,
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "timer_not_running");
    // Stopped, a new one may start.
    let r = log(
        &app,
        &t.admin,
        json!({"project_id": p, "started_at": app.clock_now().to_rfc3339(), "description": "Next", "rate": "100"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Start and end give the minutes; a patch of minutes moves the end.
    let start = app.clock_now() - Duration::hours(3);
    let r = log(
        &app,
        &t.admin,
        json!({"project_id": p, "started_at": start.to_rfc3339(),
               "ended_at": (start + Duration::minutes(95)).to_rfc3339(), "description": "Cabling", "rate": "100"}),
    )
    .await;
    assert_eq!(r.body["minutes"], 95, "{}", r.body);
    let r = app
        .patch(
            &format!("/api/v1/time-entries/{}", r.id()),
            &t.admin,
            json!({"minutes": 30}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["minutes"], 30);
    let ended: chrono::DateTime<chrono::Utc> =
        r.body["ended_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        ended.timestamp(),
        (start + Duration::minutes(30)).timestamp()
    );
}

#[tokio::test]
async fn a_tech_changes_only_its_own_time() {
    let app = TestApp::new().await;
    let t: Tenant = app.tenant("Own Time").await;
    let client = app.client(&t.admin, "Acme").await;
    let p = project(&app, &t.admin, &client, "Rollout").await;
    let ann = app
        .user(&t, nestogy_domain::kernel::roles::Role::Tech)
        .await;
    let bob = app
        .user(&t, nestogy_domain::kernel::roles::Role::Tech)
        .await;
    let ann_id = me(&app, &ann).await;
    let body = json!({"project_id": p, "minutes": 20, "description": "Ann's", "rate": "60"});
    let ann_entry = logged(&app, &ann, body.clone()).await;
    let entry = app
        .get(&format!("/api/v1/time-entries/{ann_entry}"), &ann)
        .await;
    assert_eq!(entry.body["user_id"], ann_id.as_str());

    // Bob may read Ann's time but not change, stop, delete or log it.
    let path = format!("/api/v1/time-entries/{ann_entry}");
    assert_eq!(app.get(&path, &bob).await.status, StatusCode::OK);
    let r = app.patch(&path, &bob, json!({"minutes": 1})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.error_code(), "forbidden");
    assert_eq!(app.delete(&path, &bob).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.post(&format!("{path}/stop"), &bob, json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let mut for_ann = body.clone();
    for_ann["user_id"] = json!(ann_id);
    assert_eq!(
        log(&app, &bob, for_ann.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    // Ann and admins may.
    let r = app.patch(&path, &ann, json!({"minutes": 25})).await;
    assert_eq!(r.body["minutes"], 25, "{}", r.body);
    let r = app.patch(&path, &t.admin, json!({"minutes": 35})).await;
    assert_eq!(r.body["minutes"], 35, "{}", r.body);
    let r = log(&app, &t.admin, for_ann).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["user_id"], ann_id.as_str());
    // Time is logged for staff only: not for an accountant.
    let acc = app
        .user(&t, nestogy_domain::kernel::roles::Role::Accountant)
        .await;
    let acc_id = me(&app, &acc).await;
    let mut for_acc = body.clone();
    for_acc["user_id"] = json!(acc_id);
    let r = log(&app, &t.admin, for_acc).await;
    assert_eq!(fields(&r), ["user_id"]);
    assert_eq!(app.delete(&path, &ann).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, &ann).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn lists_filter_and_page() {
    let app = TestApp::new().await;
    let t = app.tenant("Time Lists").await;
    let acme = app.client(&t.admin, "Acme").await;
    let globex = app.client(&t.admin, "Globex").await;
    let pa = project(&app, &t.admin, &acme, "Acme rollout").await;
    let pg = project(&app, &t.admin, &globex, "Globex audit").await;
    let tech = app
        .user(&t, nestogy_domain::kernel::roles::Role::Tech)
        .await;
    for (token, p, date, billable) in [
        (&t.admin, &pa, "2026-02-02", true),
        (&t.admin, &pa, "2026-02-03", false),
        (&tech, &pa, "2026-02-04", true),
        (&tech, &pg, "2026-02-05", true),
        (&tech, &pg, "2026-02-06", true),
    ] {
        logged(
            &app,
            token,
            json!({"project_id": p, "date": date, "minutes": 15, "description": "Work",
                   "billable": billable, "rate": "100"}),
        )
        .await;
    }
    let tech_id = me(&app, &tech).await;
    let total = |q: String| {
        let app = &app;
        let token = t.admin.clone();
        async move {
            let r = app.get(&format!("/api/v1/time-entries?{q}"), &token).await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.body);
            r.body["total"].as_i64().unwrap()
        }
    };
    assert_eq!(total(String::new()).await, 5);
    assert_eq!(total(format!("client_id={acme}")).await, 3);
    assert_eq!(total(format!("project_id={pg}")).await, 2);
    assert_eq!(total(format!("user_id={tech_id}")).await, 3);
    assert_eq!(total("billable=false".into()).await, 1);
    assert_eq!(total("billed=false".into()).await, 5);
    assert_eq!(total("from=2026-02-03&to=2026-02-05".into()).await, 3);
    let r = app
        .get(
            "/api/v1/time-entries?from=2026-02-05&to=2026-02-03",
            &t.admin,
        )
        .await;
    assert_eq!(fields(&r), ["to"]);

    // Pages by day worked, newest first, without gaps or repeats.
    let mut dates = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app
            .get(
                &format!("/api/v1/time-entries?limit=2&cursor={cursor}"),
                &t.admin,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for e in r.body["data"].as_array().unwrap() {
            dates.push(e["work_date"].as_str().unwrap().to_owned());
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        dates,
        [
            "2026-02-06",
            "2026-02-05",
            "2026-02-04",
            "2026-02-03",
            "2026-02-02"
        ]
    );
}

/// The lines of an invoice as (description, quantity, unit price, total).
fn lines(invoice: &Value) -> Vec<(String, String, String, String)> {
    invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["description"].as_str().unwrap().to_owned(),
                l["quantity"].as_str().unwrap().to_owned(),
                l["unit_price"].as_str().unwrap().to_owned(),
                l["total"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn billing_time_makes_one_line_per_entry_once() {
    let app = TestApp::new().await;
    let t = app.tenant("Bill Time").await;
    let acme = app.client(&t.admin, "Acme").await;
    let other = app.client(&t.admin, "Other").await;
    let p = project(&app, &t.admin, &acme, "Rollout").await;
    let task = app
        .post(
            &format!("/api/v1/projects/{p}/tasks"),
            &t.admin,
            json!({"title": "Switches"}),
        )
        .await
        .id();
    let ticket = app
        .post(
            "/api/v1/tickets",
            &t.admin,
            json!({"subject": "VPN down", "description": "No VPN", "client_id": acme}),
        )
        .await;
    let (ticket, number) = (ticket.id(), ticket.body["number"].as_i64().unwrap());
    let a = logged(&app, &t.admin, json!({"project_id": p, "date": "2026-02-02", "minutes": 90, "description": "Plan", "rate": "100"})).await;
    let b = logged(&app, &t.admin, json!({"task_id": task, "date": "2026-02-03", "minutes": 20, "description": "Order", "rate": "90"})).await;
    let c = logged(&app, &t.admin, json!({"ticket_id": ticket, "date": "2026-02-04", "minutes": 45, "description": "Fixed", "rate": "120"})).await;
    // Not billed: not billable, another client's, after `until`.
    logged(&app, &t.admin, json!({"project_id": p, "date": "2026-02-02", "minutes": 30, "description": "Internal", "billable": false})).await;
    let other_p = project(&app, &t.admin, &other, "Other work").await;
    logged(&app, &t.admin, json!({"project_id": other_p, "date": "2026-02-02", "minutes": 30, "description": "Else", "rate": "100"})).await;
    let late = logged(&app, &t.admin, json!({"project_id": p, "date": "2026-02-20", "minutes": 60, "description": "Later", "rate": "100"})).await;

    let accountant = app
        .user(&t, nestogy_domain::kernel::roles::Role::Accountant)
        .await;
    let r = app
        .post(
            &format!("/api/v1/clients/{acme}/bill-time"),
            &accountant,
            json!({"until": "2026-02-10"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["created"], true);
    assert_eq!(r.body["minutes"], 155);
    assert_eq!(r.body["remaining"], 0);
    assert_eq!(r.body["entry_ids"], json!([a, b, c]));
    let invoice = &r.body["invoice"];
    let draft = invoice["id"].as_str().unwrap().to_owned();
    assert_eq!(invoice["status"], "draft");
    assert_eq!(invoice["client_id"], acme.as_str());
    assert_eq!(
        lines(invoice),
        [
            (
                "Feb 2, 2026 · Admin · Rollout: Plan".to_owned(),
                "1.5".to_owned(),
                "100.00".to_owned(),
                "150.00".to_owned()
            ),
            (
                "Feb 3, 2026 · Admin · Rollout / Switches: Order".to_owned(),
                "0.3333".to_owned(),
                "90.00".to_owned(),
                "30.00".to_owned()
            ),
            (
                format!("Feb 4, 2026 · Admin · #{number} VPN down: Fixed"),
                "0.75".to_owned(),
                "120.00".to_owned(),
                "90.00".to_owned()
            ),
        ]
    );
    assert_eq!(invoice["total"], "270.00");
    for e in [&a, &b, &c] {
        let r = app
            .get(&format!("/api/v1/time-entries/{e}"), &t.admin)
            .await;
        assert_eq!(r.body["invoice_id"], draft.as_str());
        assert!(r.body["billed_at"].is_string());
    }

    // Again: nothing left; billed entries are frozen.
    let again = app
        .post(
            &format!("/api/v1/clients/{acme}/bill-time"),
            &accountant,
            json!({"until": "2026-02-10"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.error_code(), "nothing_to_bill");
    let r = app
        .patch(
            &format!("/api/v1/time-entries/{a}"),
            &t.admin,
            json!({"minutes": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "time_entry_billed");
    assert_eq!(
        app.delete(&format!("/api/v1/time-entries/{a}"), &t.admin)
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/time-entries?billed=true&client_id={acme}"),
            &t.admin
        )
        .await
        .body["total"],
        3
    );

    // Later time goes onto the same draft when asked, after its lines.
    let r = app
        .post(
            &format!("/api/v1/clients/{acme}/bill-time"),
            &accountant,
            json!({"invoice_id": draft}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["created"], false);
    assert_eq!(r.body["entry_ids"], json!([late]));
    assert_eq!(lines(&r.body["invoice"]).len(), 4);
    assert_eq!(r.body["invoice"]["total"], "370.00");
    // Another client's draft, or a finalized invoice, takes no time.
    let other_entry = app
        .post(
            &format!("/api/v1/clients/{other}/bill-time"),
            &accountant,
            json!({"invoice_id": draft}),
        )
        .await;
    assert_eq!(fields(&other_entry), ["invoice_id"]);

    // Deleting the draft frees its time for the next bill.
    assert_eq!(
        app.delete(&format!("/api/v1/invoices/{draft}"), &accountant)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/time-entries?billed=false&billable=true&client_id={acme}"),
            &t.admin
        )
        .await
        .body["total"],
        4
    );
    let r = app
        .post(
            &format!("/api/v1/clients/{acme}/bill-time"),
            &accountant,
            json!({"project_id": p}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // Project time includes its tasks and its linked tickets' time (the
    // ticket here is not linked, so its entry stays).
    assert_eq!(r.body["entry_ids"], json!([a, b, late]));
    assert_eq!(r.body["remaining"], 0);
    let r = app
        .post(
            &format!("/api/v1/clients/{acme}/bill-time"),
            &accountant,
            json!({"project_id": other_p}),
        )
        .await;
    assert_eq!(fields(&r), ["project_id"]);
    // A tech may log time but not bill it.
    let tech = app
        .user(&t, nestogy_domain::kernel::roles::Role::Tech)
        .await;
    let r = app
        .post(
            &format!("/api/v1/clients/{acme}/bill-time"),
            &tech,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn billing_time_twice_at_once_bills_each_entry_once() {
    let app = TestApp::new().await;
    let t = app.tenant("Concurrent Bill").await;
    let acme = app.client(&t.admin, "Acme").await;
    let p = project(&app, &t.admin, &acme, "Rollout").await;
    let path = format!("/api/v1/clients/{acme}/bill-time");
    for round in 0..3 {
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(
                logged(
                    &app,
                    &t.admin,
                    json!({"project_id": p, "minutes": 15 + i, "description": format!("Round {round} #{i}"), "rate": "100"}),
                )
                .await,
            );
        }
        let (x, y) = tokio::join!(
            app.post(&path, &t.admin, json!({})),
            app.post(&path, &t.admin, json!({}))
        );
        let mut statuses = [x.status, y.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "round {round}: {} / {}",
            x.body,
            y.body
        );
        let won = if x.status == StatusCode::CREATED {
            &x
        } else {
            &y
        };
        let lost = if x.status == StatusCode::CREATED {
            &y
        } else {
            &x
        };
        assert_eq!(lost.error_code(), "nothing_to_bill");
        let invoice = won.body["invoice"]["id"].as_str().unwrap();
        assert_eq!(won.body["entry_ids"].as_array().unwrap().len(), 20);
        assert_eq!(lines(&won.body["invoice"]).len(), 20);
        let on_it = app
            .count(&format!(
                "SELECT count(*) FROM time_entries WHERE invoice_id = '{invoice}'"
            ))
            .await;
        assert_eq!(on_it, 20, "round {round}");
    }
    // Every entry billed exactly once, on one of three drafts.
    assert_eq!(
        app.count("SELECT count(*) FROM time_entries WHERE invoice_id IS NULL")
            .await,
        0
    );
    assert_eq!(app.count("SELECT count(*) FROM invoices").await, 3);
    assert_eq!(app.count("SELECT count(*) FROM invoice_lines").await, 60);
}

/// Money in JSON has the currency's digits everywhere ("95.00", never
/// "95"): rates of the company, clients, users and entries, product prices,
/// the lines of invoices and quotes (time lines too) and their taxes, a
/// project's billable amount. Time lines carry the day in the company's
/// locale, as every date on its documents.
#[tokio::test]
async fn money_in_json_has_the_currencys_digits_and_time_lines_the_locales_dates() {
    let app = TestApp::new().await;
    let t = app.tenant("Digits").await;
    let r = app
        .patch(
            "/api/v1/company",
            &t.admin,
            json!({"locale": "de-DE", "settings": {"default_hourly_rate": "95"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["settings"]["default_hourly_rate"], "95.00");
    let acme = app.client(&t.admin, "Acme").await;
    let other = app.client(&t.admin, "Other").await;
    let r = app
        .patch(
            &format!("/api/v1/clients/{other}"),
            &t.admin,
            json!({"hourly_rate": "120"}),
        )
        .await;
    assert_eq!(r.body["hourly_rate"], "120.00", "{}", r.body);
    let listed = app.get("/api/v1/clients?q=Other", &t.admin).await;
    assert_eq!(
        listed.body["data"][0]["hourly_rate"], "120.00",
        "{}",
        listed.body
    );
    let tech = app
        .user(&t, nestogy_domain::kernel::roles::Role::Tech)
        .await;
    let tech_id = me(&app, &tech).await;
    let r = app
        .patch(
            &format!("/api/v1/users/{tech_id}"),
            &t.admin,
            json!({"hourly_rate": "110"}),
        )
        .await;
    assert_eq!(r.body["hourly_rate"], "110.00", "{}", r.body);
    let vat = app
        .post(
            "/api/v1/tax-rates",
            &t.admin,
            json!({"name": "MwSt.", "percent": "19"}),
        )
        .await
        .id();
    let r = app
        .post(
            "/api/v1/products",
            &t.admin,
            json!({"name": "Backup", "unit_price": "49.9", "tax_rate_ids": [vat]}),
        )
        .await;
    assert_eq!(r.body["unit_price"], "49.90", "{}", r.body);
    let product = r.id();
    assert_eq!(
        app.get(&format!("/api/v1/products/{product}"), &t.admin)
            .await
            .body["unit_price"],
        "49.90"
    );

    let p = project(&app, &t.admin, &acme, "Rollout").await;
    let entry = logged(
        &app,
        &t.admin,
        json!({"project_id": p, "date": "2026-02-02", "minutes": 60, "description": "Plan"}),
    )
    .await;
    let r = app
        .get(&format!("/api/v1/time-entries/{entry}"), &t.admin)
        .await;
    assert_eq!(r.body["rate"], "95.00", "{}", r.body);
    let r = app.get(&format!("/api/v1/projects/{p}"), &t.admin).await;
    assert_eq!(r.body["spent"]["billable_amount"], "95.00", "{}", r.body);

    let r = app
        .post(
            &format!("/api/v1/clients/{acme}/bill-time"),
            &t.admin,
            json!({"until": "2026-02-10", "tax_rate_ids": [vat]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let line = &r.body["invoice"]["lines"][0];
    assert_eq!(line["description"], "02.02.2026 · Admin · Rollout: Plan");
    assert_eq!(line["unit_price"], "95.00", "{line}");
    assert_eq!(line["taxes"][0]["amount"], "18.05", "{line}");
    assert_eq!(line["total"], "113.05", "{line}");
    let draft = r.body["invoice"]["id"].as_str().unwrap().to_owned();

    let r = app
        .post(
            "/api/v1/quotes",
            &t.admin,
            json!({"client_id": acme, "lines": [{"product_id": product, "quantity": "2"},
                   {"description": "Fine", "quantity": "3", "unit_price": "0.125"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["lines"][0]["unit_price"], "49.90", "{}", r.body);
    assert_eq!(r.body["lines"][0]["taxes"][0]["amount"], "18.96");
    // A price finer than a cent keeps its digits: 3 × 0.125 = 0.375 → 0.38.
    assert_eq!(r.body["lines"][1]["unit_price"], "0.125");
    assert_eq!(r.body["lines"][1]["gross"], "0.38");

    // On the PDF: the day and the rate as a German reader writes them.
    let mut tx = app.db.tenant(t.id).await.unwrap();
    let view = nestogy_domain::billing::documents::view(
        &mut tx,
        &nestogy_domain::billing::documents::DocRef::Invoice {
            id: draft.parse().unwrap(),
        },
    )
    .await
    .unwrap();
    drop(tx);
    let pdf = nestogy_jobs::documents::render(&view).await.unwrap();
    let text = crate::common::pdf_text(&pdf).0.replace('\u{a0}', " ");
    for want in ["02.02.2026 · Admin · Rollout: Plan", "95,00 €", "113,05 €"] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    assert!(!text.contains("2026-02-02"), "{text}");
}

#[tokio::test]
async fn the_list_filters_running_timers() {
    let app = TestApp::new().await;
    let t = app.tenant("Running Filter").await;
    let client = app.client(&t.admin, "Acme").await;
    let p = project(&app, &t.admin, &client, "Rollout").await;
    let done = logged(
        &app,
        &t.admin,
        json!({"project_id": p, "minutes": 30, "description": "Done", "rate": "100"}),
    )
    .await;
    let timer = logged(
        &app,
        &t.admin,
        json!({"project_id": p, "started_at": app.clock_now().to_rfc3339(), "description": "Now", "rate": "100"}),
    )
    .await;
    let ids = |r: &Response| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("not a page: {}", r.body))
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let running = app.get("/api/v1/time-entries?running=true", &t.admin).await;
    assert_eq!(running.status, StatusCode::OK, "{}", running.body);
    assert_eq!(ids(&running), [timer]);
    assert_eq!(running.body["total"], 1);
    let stopped = app
        .get("/api/v1/time-entries?running=false", &t.admin)
        .await;
    assert_eq!(ids(&stopped), [done]);
    let all = app.get("/api/v1/time-entries", &t.admin).await;
    assert_eq!(all.body["total"], 2);
}
