//! Contracts per client: CRUD and its checks, the SLA targets tickets take
//! from a contract in effect (and move to when it changes), included
//! minutes used first when time is billed, and the expiry warnings.

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, TimeZone, Utc};
use nestogy_domain::kernel::roles::Role;
use nestogy_jobs::contracts::ExpiryWarnings;
use nestogy_jobs::tickets::SlaCheck;
use serde_json::{Value, json};

use crate::common::{PASSWORD, Response, TestApp, field_code, fields, slug};
use crate::time_entries::project;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn ts(v: &Value) -> DateTime<Utc> {
    utc(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
}

async fn created(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/api/v1/contracts", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

fn gold(client: &str) -> Value {
    json!({
        "client_id": client, "name": "Gold", "start_date": "2026-01-01", "end_date": "2026-12-31",
        "status": "active", "included_minutes_per_month": 120, "hourly_rate": "150",
        "sla_targets": [
            {"priority": "critical", "first_response_minutes": 10, "resolution_minutes": 30},
            {"priority": "high", "first_response_minutes": 15, "resolution_minutes": 60},
        ]
    })
}

async fn template(app: &TestApp, token: &str, client: &str) -> String {
    let r = app
        .post(
            "/api/v1/recurring-invoices",
            token,
            json!({"client_id": client, "name": "Monthly care", "frequency": {"unit": "months", "every": 1},
                   "start_date": "2026-01-01",
                   "lines": [{"description": "Care", "quantity": "1", "unit_price": "500"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

#[tokio::test]
async fn contracts_are_created_read_listed_changed_and_deleted_by_role() {
    let app = TestApp::new().await;
    let t = app.tenant("Contract Desk").await;
    let tech = app.user(&t, Role::Tech).await;
    let accountant = app.user(&t, Role::Accountant).await;
    let acme = app.client(&t.admin, "Acme").await;
    let beta = app.client(&t.admin, "Beta").await;
    let care = template(&app, &t.admin, &acme).await;

    let mut body = gold(&acme);
    body["recurring_invoice_id"] = json!(care);
    let c = created(&app, &accountant, body).await;
    let id = c["id"].as_str().unwrap().to_owned();
    assert_eq!(c["client_id"], acme.as_str());
    assert_eq!(c["status"], "active");
    assert_eq!(c["start_date"], "2026-01-01");
    assert_eq!(c["end_date"], "2026-12-31");
    assert_eq!(c["included_minutes_per_month"], 120);
    assert_eq!(c["hourly_rate"], "150");
    assert_eq!(c["recurring_invoice_id"], care.as_str());
    // Targets come back in priority order.
    assert_eq!(
        c["sla_targets"],
        json!([
            {"priority": "high", "first_response_minutes": 15, "resolution_minutes": 60},
            {"priority": "critical", "first_response_minutes": 10, "resolution_minutes": 30},
        ])
    );

    // Techs read but do not write.
    let r = app.get(&format!("/api/v1/contracts/{id}"), &tech).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, c);
    let r = app.post("/api/v1/contracts", &tech, gold(&beta)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app
        .patch(
            &format!("/api/v1/contracts/{id}"),
            &tech,
            json!({"name": "X"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app.delete(&format!("/api/v1/contracts/{id}"), &tech).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // Defaults: a draft with nothing included, no rate, no targets.
    let mut beta_ids = Vec::new();
    for name in ["B1", "B2", "B3"] {
        let b = created(
            &app,
            &t.admin,
            json!({"client_id": beta, "name": name, "start_date": "2026-01-01", "end_date": "2026-06-30"}),
        )
        .await;
        assert_eq!(b["status"], "draft");
        assert_eq!(b["included_minutes_per_month"], 0);
        assert_eq!(b["hourly_rate"], Value::Null);
        assert_eq!(b["sla_targets"], json!([]));
        beta_ids.push(b["id"].as_str().unwrap().to_owned());
    }

    // Listed newest first, by client, in pages.
    let r = app.get("/api/v1/contracts", &tech).await;
    assert_eq!(r.body["total"], 4, "{}", r.body);
    let r = app
        .get(
            &format!("/api/v1/contracts?client_id={beta}&limit=2"),
            &tech,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["total"], 3);
    let first: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(first, [beta_ids[2].as_str(), beta_ids[1].as_str()]);
    let cursor = r.body["next_cursor"].as_str().unwrap();
    let r = app
        .get(
            &format!("/api/v1/contracts?client_id={beta}&limit=2&cursor={cursor}"),
            &tech,
        )
        .await;
    assert_eq!(r.body["data"][0]["id"], beta_ids[0].as_str());
    assert_eq!(r.body["next_cursor"], Value::Null);

    // Changed: absent fields stay, null clears, targets are replaced.
    let r = app
        .patch(
            &format!("/api/v1/contracts/{id}"),
            &accountant,
            json!({"name": "Gold Plus", "hourly_rate": null, "recurring_invoice_id": null,
                   "sla_targets": [{"priority": "low", "first_response_minutes": 240, "resolution_minutes": 2880}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["name"], "Gold Plus");
    assert_eq!(r.body["hourly_rate"], Value::Null);
    assert_eq!(r.body["recurring_invoice_id"], Value::Null);
    assert_eq!(r.body["included_minutes_per_month"], 120);
    assert_eq!(
        r.body["sla_targets"],
        json!([{"priority": "low", "first_response_minutes": 240, "resolution_minutes": 2880}])
    );

    // Deleted; every write audited.
    let r = app
        .delete(&format!("/api/v1/contracts/{}", beta_ids[0]), &t.admin)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = app
        .get(&format!("/api/v1/contracts/{}", beta_ids[0]), &t.admin)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action LIKE 'contract.%'")
            .await,
        6
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'contract.updated'")
            .await,
        1
    );
}

#[tokio::test]
async fn contracts_are_checked_dates_targets_overlap_and_foreign_ids() {
    let app = TestApp::new().await;
    let t = app.tenant("Contract Checks").await;
    let other = app.tenant("Elsewhere").await;
    let acme = app.client(&t.admin, "Acme").await;
    let beta = app.client(&t.admin, "Beta").await;
    let foreign_client = app.client(&other.admin, "Theirs").await;
    let beta_template = template(&app, &t.admin, &beta).await;
    let foreign_template = template(&app, &other.admin, &foreign_client).await;

    let with = |patch: Value| {
        let mut b = gold(&acme);
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let refused = |r: &Response| {
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    };

    // Dates: the end after the start.
    for end in ["2025-12-31", "2026-01-01"] {
        let r = app
            .post(
                "/api/v1/contracts",
                &t.admin,
                with(json!({"end_date": end})),
            )
            .await;
        refused(&r);
        assert_eq!(field_code(&r, "end_date"), "before_start");
    }
    let r = app
        .post(
            "/api/v1/contracts",
            &t.admin,
            with(json!({"start_date": "2026-02-30"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);

    // Every bad field at once.
    let r = app
        .post(
            "/api/v1/contracts",
            &t.admin,
            with(json!({
                "name": " ", "included_minutes_per_month": -1, "hourly_rate": "-5",
                "sla_targets": [
                    {"priority": "high", "first_response_minutes": 60, "resolution_minutes": 30},
                    {"priority": "high", "first_response_minutes": 0, "resolution_minutes": 30},
                ]
            })),
        )
        .await;
    refused(&r);
    let mut got = fields(&r);
    got.sort();
    assert_eq!(
        got,
        [
            "hourly_rate",
            "included_minutes_per_month",
            "name",
            "sla_targets[0].resolution_minutes",
            "sla_targets[1].first_response_minutes",
            "sla_targets[1].priority",
        ]
    );

    // Another tenant's client, or none at all: 422.
    for client in [foreign_client.clone(), uuid::Uuid::now_v7().to_string()] {
        let mut b = gold(&acme);
        b["client_id"] = json!(client);
        let r = app.post("/api/v1/contracts", &t.admin, b).await;
        refused(&r);
        assert_eq!(field_code(&r, "client_id"), "unknown");
    }
    // A template of another tenant, or of another client: 422.
    let r = app
        .post(
            "/api/v1/contracts",
            &t.admin,
            with(json!({"recurring_invoice_id": foreign_template})),
        )
        .await;
    refused(&r);
    assert_eq!(field_code(&r, "recurring_invoice_id"), "unknown");
    let r = app
        .post(
            "/api/v1/contracts",
            &t.admin,
            with(json!({"recurring_invoice_id": beta_template})),
        )
        .await;
    refused(&r);
    assert_eq!(field_code(&r, "recurring_invoice_id"), "other_client");
    assert_eq!(app.count("SELECT count(*) FROM contracts").await, 0);

    // One active contract per client at a time.
    let first = created(&app, &t.admin, gold(&acme)).await;
    let first_id = first["id"].as_str().unwrap();
    let r = app
        .post(
            "/api/v1/contracts",
            &t.admin,
            with(json!({"name": "Next", "start_date": "2026-12-31", "end_date": "2027-12-31"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "contract_overlap");
    // A draft may overlap; activating it may not; the next year may.
    let draft = created(
        &app,
        &t.admin,
        with(json!({"name": "Renewal", "status": "draft", "start_date": "2026-07-01", "end_date": "2027-06-30"})),
    )
    .await;
    let draft_path = format!("/api/v1/contracts/{}", draft["id"].as_str().unwrap());
    let r = app
        .patch(&draft_path, &t.admin, json!({"status": "active"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "contract_overlap");
    let r = app
        .patch(
            &draft_path,
            &t.admin,
            json!({"status": "active", "start_date": "2027-01-01"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Moving the first one's end into the renewal overlaps again.
    let r = app
        .patch(
            &format!("/api/v1/contracts/{first_id}"),
            &t.admin,
            json!({"end_date": "2027-01-15"}),
        )
        .await;
    assert_eq!(r.error_code(), "contract_overlap", "{}", r.body);
    // Another client's active contract in the same dates is fine.
    created(&app, &t.admin, gold(&beta)).await;
    // A cancelled contract makes room.
    let r = app
        .patch(
            &format!("/api/v1/contracts/{first_id}"),
            &t.admin,
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    created(&app, &t.admin, with(json!({"name": "Replacement"}))).await;

    // Another tenant's contract is not there.
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"name": "Mine"}))),
        (Method::DELETE, None),
    ] {
        let r = app
            .call(
                method,
                &format!("/api/v1/contracts/{first_id}"),
                Some(&other.admin),
                body,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    let r = app
        .get(&format!("/api/v1/contracts?client_id={acme}"), &other.admin)
        .await;
    assert_eq!(r.body["total"], 0, "{}", r.body);
}

async fn ticket(app: &TestApp, token: &str, id: &str) -> Value {
    let r = app.get(&format!("/api/v1/tickets/{id}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

/// A ticket's (response due, resolution due).
async fn dues(app: &TestApp, token: &str, id: &str) -> (DateTime<Utc>, DateTime<Utc>) {
    let t = ticket(app, token, id).await;
    (
        ts(&t["sla"]["response_due"]),
        ts(&t["sla"]["resolution_due"]),
    )
}

/// A ticket's SLA history: (target, state, due).
async fn sla_events(app: &TestApp, token: &str, id: &str) -> Vec<(String, String, String)> {
    let h = app
        .get(&format!("/api/v1/tickets/{id}/history"), token)
        .await;
    assert_eq!(h.status, StatusCode::OK, "{}", h.body);
    h.body["sla_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["target"].as_str().unwrap().to_owned(),
                e["state"].as_str().unwrap().to_owned(),
                ts(&e["due_at"]).to_rfc3339(),
            )
        })
        .collect()
}

fn moved(response: &str, resolution: &str) -> Vec<(String, String, String)> {
    vec![
        (
            "response".to_owned(),
            "retargeted".to_owned(),
            utc(response).to_rfc3339(),
        ),
        (
            "resolution".to_owned(),
            "retargeted".to_owned(),
            utc(resolution).to_rfc3339(),
        ),
    ]
}

#[tokio::test]
async fn contracts_sla_due_times_follow_the_contract_and_move_when_it_changes() {
    let app = TestApp::new().await;
    // Sunday 1 March 2026, 12:00 UTC; the company's policy is around the clock.
    let t = app.tenant("Contract SLA").await;
    let r = app
        .call(
            Method::PUT,
            "/api/v1/sla/policies/high",
            Some(&t.admin),
            Some(json!({"first_response_minutes": 60, "resolution_minutes": 240})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let acme = app.client(&t.admin, "Acme").await;
    let beta = app.client(&t.admin, "Beta").await;
    let contract = created(&app, &t.admin, gold(&acme)).await;
    let path = format!("/api/v1/contracts/{}", contract["id"].as_str().unwrap());
    let open = |client: &str, priority: &str| json!({"subject": format!("{priority} for {client}"), "client_id": client, "priority": priority});
    let mut ids = Vec::new();
    for body in [
        open(&acme, "high"),
        open(&beta, "high"),
        open(&acme, "medium"),
    ] {
        let r = app.post("/api/v1/tickets", &t.admin, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        ids.push(r.id());
    }
    let (acme_high, beta_high, acme_medium) = (&ids[0], &ids[1], &ids[2]);
    // The contract's targets for Acme's high ticket, the company's for Beta's.
    assert_eq!(
        dues(&app, &t.admin, acme_high).await,
        (utc("2026-03-01T12:15:00Z"), utc("2026-03-01T13:00:00Z"))
    );
    assert_eq!(
        dues(&app, &t.admin, beta_high).await,
        (utc("2026-03-01T13:00:00Z"), utc("2026-03-01T16:00:00Z"))
    );
    // Neither the contract nor the company has a target for medium.
    assert_eq!(
        ticket(&app, &t.admin, acme_medium).await["sla"]["response_due"],
        Value::Null
    );

    // New targets: the ticket moves at the next check, with history.
    let r = app
        .patch(
            &path,
            &t.admin,
            json!({"sla_targets": [
                {"priority": "high", "first_response_minutes": 30, "resolution_minutes": 120},
                {"priority": "medium", "first_response_minutes": 45, "resolution_minutes": 180},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        dues(&app, &t.admin, acme_high).await.0,
        utc("2026-03-01T12:15:00Z"),
        "not before the check"
    );
    app.clock.set(utc("2026-03-01T12:05:00Z"));
    app.run_job(SlaCheck { tenant: t.id }).await.unwrap();
    assert_eq!(
        dues(&app, &t.admin, acme_high).await,
        (utc("2026-03-01T12:30:00Z"), utc("2026-03-01T14:00:00Z"))
    );
    assert_eq!(
        sla_events(&app, &t.admin, acme_high).await,
        moved("2026-03-01T12:30:00Z", "2026-03-01T14:00:00Z")
    );
    // The medium ticket gains an SLA (it had none: nothing moved).
    assert_eq!(
        dues(&app, &t.admin, acme_medium).await,
        (utc("2026-03-01T12:45:00Z"), utc("2026-03-01T15:00:00Z"))
    );
    assert_eq!(sla_events(&app, &t.admin, beta_high).await, []);
    // A second check changes nothing.
    app.run_job(SlaCheck { tenant: t.id }).await.unwrap();
    assert_eq!(sla_events(&app, &t.admin, acme_high).await.len(), 2);

    // Cancelled: back to the company's targets.
    let r = app
        .patch(&path, &t.admin, json!({"status": "cancelled"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.clock.set(utc("2026-03-01T12:10:00Z"));
    app.run_job(SlaCheck { tenant: t.id }).await.unwrap();
    assert_eq!(
        dues(&app, &t.admin, acme_high).await,
        (utc("2026-03-01T13:00:00Z"), utc("2026-03-01T16:00:00Z"))
    );
    let mut expected = moved("2026-03-01T12:30:00Z", "2026-03-01T14:00:00Z");
    expected.extend(moved("2026-03-01T13:00:00Z", "2026-03-01T16:00:00Z"));
    assert_eq!(sla_events(&app, &t.admin, acme_high).await, expected);
    assert_eq!(
        ticket(&app, &t.admin, acme_medium).await["sla"]["response_due"],
        Value::Null
    );
    assert_eq!(sla_events(&app, &t.admin, beta_high).await, []);

    // A contract that has not started yet does not apply.
    let r = app
        .post(
            "/api/v1/contracts",
            &t.admin,
            json!({"client_id": beta, "name": "Later", "start_date": "2026-04-01",
                   "end_date": "2027-03-31", "status": "active",
                   "sla_targets": [{"priority": "high", "first_response_minutes": 5, "resolution_minutes": 10}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    app.run_job(SlaCheck { tenant: t.id }).await.unwrap();
    assert_eq!(
        dues(&app, &t.admin, beta_high).await,
        (utc("2026-03-01T13:00:00Z"), utc("2026-03-01T16:00:00Z"))
    );
}

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

fn line(d: &str, q: &str, p: &str, t: &str) -> (String, String, String, String) {
    (d.to_owned(), q.to_owned(), p.to_owned(), t.to_owned())
}

#[tokio::test]
async fn contracts_included_hours_are_used_first_and_bill_time_says_so() {
    let app = TestApp::new().await;
    let t = app.tenant("Included Hours").await;
    let acme = app.client(&t.admin, "Acme").await;
    let mut body = gold(&acme);
    body["start_date"] = json!("2026-02-01");
    let contract = created(&app, &t.admin, body).await;
    let p = project(&app, &t.admin, &acme, "Care").await;
    let log = |date: &str, minutes: i32, what: &str| json!({"project_id": p, "date": date, "minutes": minutes, "description": what, "rate": "100"});
    for (date, minutes, what) in [
        ("2026-01-15", 60, "Before"),
        ("2026-02-02", 90, "Patching"),
        ("2026-02-03", 60, "Backup"),
        ("2026-02-04", 45, "Printer"),
        ("2026-03-01", 30, "Mail"),
    ] {
        let r = app
            .post("/api/v1/time-entries", &t.admin, log(date, minutes, what))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let bill_path = format!("/api/v1/clients/{acme}/bill-time");
    let bill = |until: &str| app.post(&bill_path, &t.admin, json!({"until": until}));
    let r = bill("2026-03-01").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["minutes"], 285);
    // February's 120 minutes: 90 of Patching, 30 of Backup; March's: 30.
    assert_eq!(r.body["included_minutes"], 150);
    assert_eq!(
        lines(&r.body["invoice"]),
        [
            // Before the contract: the entry's rate, all of it.
            line(
                "Jan 15, 2026 · Admin · Care: Before",
                "1",
                "100.00",
                "100.00"
            ),
            line(
                "Feb 2, 2026 · Admin · Care: Patching (1.5 h included in contract Gold this month)",
                "0",
                "150.00",
                "0.00"
            ),
            line(
                "Feb 3, 2026 · Admin · Care: Backup (0.5 h included in contract Gold this month)",
                "0.5",
                "150.00",
                "75.00"
            ),
            line(
                "Feb 4, 2026 · Admin · Care: Printer",
                "0.75",
                "150.00",
                "112.50"
            ),
            line(
                "Mar 1, 2026 · Admin · Care: Mail (0.5 h included in contract Gold this month)",
                "0",
                "150.00",
                "0.00"
            ),
        ]
    );
    assert_eq!(r.body["invoice"]["total"], "287.50");

    // Later entries: February's allowance is gone, March has 90 minutes left.
    for (date, minutes, what) in [("2026-02-05", 30, "Late"), ("2026-03-01", 120, "Move")] {
        let r = app
            .post("/api/v1/time-entries", &t.admin, log(date, minutes, what))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let r = bill("2026-03-01").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["included_minutes"], 90);
    assert_eq!(
        lines(&r.body["invoice"]),
        [
            line("Feb 5, 2026 · Admin · Care: Late", "0.5", "150.00", "75.00"),
            line(
                "Mar 1, 2026 · Admin · Care: Move (1.5 h included in contract Gold this month)",
                "0.5",
                "150.00",
                "75.00"
            ),
        ]
    );
    assert_eq!(
        app.count("SELECT sum(included_minutes) FROM time_entries")
            .await,
        240
    );

    // Time was billed under it: it cannot be deleted, only cancelled.
    let r = app
        .delete(
            &format!("/api/v1/contracts/{}", contract["id"].as_str().unwrap()),
            &t.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.error_code(), "contract_in_use");
}

/// The expiry warnings created: (contract name, threshold, recipients).
async fn warnings(app: &TestApp) -> Vec<(String, i64, Vec<String>)> {
    let rows: Vec<(Vec<String>, Value)> = sqlx::query_as(
        "SELECT recipients, params FROM mail_messages WHERE template = 'contract_expiring' \
         ORDER BY created_at, subject",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(r, p)| {
            (
                p["contract_name"].as_str().unwrap().to_owned(),
                p["threshold_days"].as_i64().unwrap(),
                r,
            )
        })
        .collect()
}

#[tokio::test]
async fn contracts_expiry_warnings_go_out_once_at_30_and_7_days() {
    let app = TestApp::new().await;
    let t = app.tenant("Expiry Desk").await;
    let _tech = app.user(&t, Role::Tech).await;
    // New companies get the daily schedule.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM schedules WHERE kind = 'contracts.expiry_warnings' AND cron = '0 8 * * *'"
        )
        .await,
        1
    );
    let acme = app.client(&t.admin, "Acme").await;
    let beta = app.client(&t.admin, "Beta").await;
    // Today is 2026-03-01 (Berlin).
    let span = |name: &str, client: &str, end: &str, status: &str| json!({"client_id": client, "name": name, "start_date": "2025-06-01", "end_date": end, "status": status});
    let long = created(&app, &t.admin, span("Long", &acme, "2026-04-10", "active")).await;
    let short = created(&app, &t.admin, span("Short", &beta, "2026-03-05", "active")).await;
    created(&app, &t.admin, span("Draft", &acme, "2026-03-20", "draft")).await;
    let status = |id: &Value| {
        format!(
            "SELECT count(*) FROM contracts WHERE id = '{}' AND status = 'expired'",
            id["id"].as_str().unwrap()
        )
    };
    let job = || ExpiryWarnings { tenant: t.id };
    let mut per_day = Vec::new();
    for day in 0..=42 {
        app.clock
            .set(Utc.with_ymd_and_hms(2026, 3, 1, 7, 0, 0).unwrap() + Duration::days(day));
        let before = warnings(&app).await.len();
        let (one, two) = if day == 10 {
            // Two runs at once, as a redelivered job might.
            let (a, b) = tokio::join!(app.run_job(job()), app.run_job(job()));
            (a.unwrap(), b.unwrap())
        } else {
            (
                app.run_job(job()).await.unwrap(),
                app.run_job(job()).await.unwrap(),
            )
        };
        let made = warnings(&app).await.len() - before;
        assert_eq!(
            one["messages"].as_u64().unwrap() + two["messages"].as_u64().unwrap(),
            made as u64,
            "day {day}: {one} {two}"
        );
        if day != 10 {
            assert_eq!(
                two["alerts"], 0,
                "day {day}: the second run warns of nothing"
            );
        }
        if made > 0 {
            per_day.push((day, made));
        }
        if day == 4 {
            assert_eq!(app.count(&status(&short)).await, 0, "ends today");
        }
        if day == 5 {
            assert_eq!(app.count(&status(&short)).await, 1, "ended yesterday");
        }
    }
    // Day 0: Short ends in 4 days: the 7-day warning only. Long: 30 days
    // before 04-10 is day 10, 7 days before is day 33. Never the draft.
    assert_eq!(per_day, [(0, 1), (10, 1), (33, 1)]);
    let got = warnings(&app).await;
    let names: Vec<(&str, i64)> = got.iter().map(|(n, d, _)| (n.as_str(), *d)).collect();
    assert_eq!(names, [("Short", 7), ("Long", 30), ("Long", 7)]);
    // To the admins only.
    for (_, _, recipients) in &got {
        assert_eq!(recipients, &["admin@expiry-desk.example".to_owned()]);
    }
    assert_eq!(
        app.count("SELECT count(*) FROM contract_expiry_alerts WHERE mail_id IS NOT NULL")
            .await,
        3
    );
    assert_eq!(app.count(&status(&long)).await, 1, "ended on 04-10");
}

#[tokio::test]
async fn contracts_with_their_own_calendar_run_their_tickets_on_its_hours_holidays_and_pauses() {
    let app = TestApp::new().await;
    // Sunday 1 March 2026, 12:00 UTC; the company (Europe/Berlin, UTC+1
    // in March) runs high tickets around the clock.
    let t = app.tenant("Contract Calendar").await;
    let r = app
        .call(
            Method::PUT,
            "/api/v1/sla/policies/high",
            Some(&t.admin),
            Some(json!({"first_response_minutes": 60, "resolution_minutes": 240})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let acme = app.client(&t.admin, "Acme").await;
    let beta = app.client(&t.admin, "Beta").await;
    // Office hours on weekdays, and Monday 2 March off.
    let week: Value = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| (d.to_string(), json!(["09:00", "17:00"])))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let mut body = gold(&acme);
    body["sla_targets"] =
        json!([{"priority": "high", "first_response_minutes": 60, "resolution_minutes": 240}]);
    body["sla_calendar"] = json!({
        "business_hours": week, "holidays": ["2026-03-02", "2026-03-02"],
        "pause_statuses": ["waiting_on_client", "in_progress"]
    });
    let contract = created(&app, &t.admin, body).await;
    let cid = contract["id"].as_str().unwrap().to_owned();
    assert_eq!(
        contract["sla_calendar"]["holidays"],
        json!(["2026-03-02"]),
        "each day once"
    );
    assert_eq!(
        contract["sla_calendar"]["pause_statuses"],
        json!(["waiting_on_client", "in_progress"])
    );
    let path = format!("/api/v1/contracts/{cid}");

    let open =
        |client: &str| json!({"subject": "Printer", "client_id": client, "priority": "high"});
    let acme_high = app
        .post("/api/v1/tickets", &t.admin, open(&acme))
        .await
        .id();
    let beta_high = app
        .post("/api/v1/tickets", &t.admin, open(&beta))
        .await
        .id();
    // Acme's clock starts Tuesday 3 March 09:00 Berlin (08:00 UTC).
    assert_eq!(
        dues(&app, &t.admin, &acme_high).await,
        (utc("2026-03-03T09:00:00Z"), utc("2026-03-03T12:00:00Z"))
    );
    let tk = ticket(&app, &t.admin, &acme_high).await;
    assert_eq!(
        tk["sla"]["contract_id"],
        cid.as_str(),
        "the ticket names its contract"
    );
    // Beta has no contract: the company's clock, no contract named.
    assert_eq!(
        dues(&app, &t.admin, &beta_high).await,
        (utc("2026-03-01T13:00:00Z"), utc("2026-03-01T16:00:00Z"))
    );
    assert_eq!(
        ticket(&app, &t.admin, &beta_high).await["sla"]["contract_id"],
        Value::Null
    );

    // The holiday goes: Monday's hours count, and the ticket's history says
    // its targets moved.
    let mut cal = contract["sla_calendar"].clone();
    cal["holidays"] = json!([]);
    let r = app
        .patch(&path, &t.admin, json!({"sla_calendar": cal}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    app.run_job(SlaCheck { tenant: t.id }).await.unwrap();
    assert_eq!(
        dues(&app, &t.admin, &acme_high).await,
        (utc("2026-03-02T09:00:00Z"), utc("2026-03-02T12:00:00Z"))
    );
    assert_eq!(
        sla_events(&app, &t.admin, &acme_high).await,
        moved("2026-03-02T09:00:00Z", "2026-03-02T12:00:00Z")
    );

    // In progress pauses Acme's clock (its contract says so), not Beta's.
    app.clock.set(utc("2026-03-02T08:30:00Z"));
    // Access tokens live minutes: sign in again at each new time.
    let sign_in = async || {
        let email = format!("admin@{}.example", slug("Contract Calendar"));
        let r = app.login(&email, PASSWORD).await;
        r.body["access_token"].as_str().unwrap().to_owned()
    };
    let t = crate::common::Tenant {
        admin: sign_in().await,
        ..t
    };
    for id in [&acme_high, &beta_high] {
        let r = app
            .post(
                &format!("/api/v1/tickets/{id}/status"),
                &t.admin,
                json!({"status": "in_progress"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    app.clock.set(utc("2026-03-02T10:30:00Z"));
    app.run_job(SlaCheck { tenant: t.id }).await.unwrap();
    let t = crate::common::Tenant {
        admin: sign_in().await,
        ..t
    };
    // Two hours in progress, all in office hours: Acme's targets move by
    // them; Beta's clock ran on.
    assert_eq!(
        dues(&app, &t.admin, &acme_high).await,
        (utc("2026-03-02T11:00:00Z"), utc("2026-03-02T14:00:00Z"))
    );
    let tk = ticket(&app, &t.admin, &acme_high).await;
    assert_eq!(tk["sla"]["response_state"], "ok", "{}", tk["sla"]);
    let tk = ticket(&app, &t.admin, &beta_high).await;
    assert_eq!(tk["sla"]["response_state"], "breached", "{}", tk["sla"]);

    // No calendar of its own: the company's clock again.
    let r = app
        .patch(&path, &t.admin, json!({"sla_calendar": null}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["sla_calendar"], Value::Null);

    // Checked like a policy's: hours, pauses, dates, fields.
    for (calendar, field) in [
        (
            json!({"business_hours": {"mon": ["25:00", "26:00"]}}),
            "sla_calendar.business_hours",
        ),
        (
            json!({"pause_statuses": ["resolved"]}),
            "sla_calendar.pause_statuses",
        ),
    ] {
        let r = app
            .patch(&path, &t.admin, json!({"sla_calendar": calendar}))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(fields(&r).contains(&field.to_owned()), "{}", r.body);
    }
    for bad in [
        json!({"holidays": ["262142-01-01"]}),
        json!({"holidays": ["2026-02-30"]}),
        json!({"weekends": true}),
    ] {
        let r = app
            .patch(&path, &t.admin, json!({"sla_calendar": bad}))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn contracts_drive_their_recurring_invoice_while_they_run() {
    let app = TestApp::new().await;
    let t = app.tenant("Contract Billing").await;
    let acme = app.client(&t.admin, "Acme").await;
    let care = template(&app, &t.admin, &acme).await;
    let tpl_path = format!("/api/v1/recurring-invoices/{care}");
    let tpl = async |app: &TestApp| app.get(&tpl_path, &t.admin).await.body;
    // A draft leaves the template alone.
    let mut body = gold(&acme);
    body["status"] = json!("draft");
    body["recurring_invoice_id"] = json!(care);
    let contract = created(&app, &t.admin, body).await;
    let path = format!("/api/v1/contracts/{}", contract["id"].as_str().unwrap());
    assert_eq!(tpl(&app).await["end_date"], Value::Null);

    // Active: the template's last period starts by the contract's last day.
    let r = app
        .patch(&path, &t.admin, json!({"status": "active"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let now = tpl(&app).await;
    assert_eq!(now["end_date"], "2026-12-31", "{now}");
    assert_eq!(now["status"], "active");
    // A longer contract does not stretch a shorter end the template has.
    let r = app
        .patch(&path, &t.admin, json!({"end_date": "2026-06-30"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(tpl(&app).await["end_date"], "2026-06-30");
    let r = app
        .patch(&path, &t.admin, json!({"end_date": "2027-06-30"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(tpl(&app).await["end_date"], "2026-06-30");

    // Cancelled: the template pauses.
    let r = app
        .patch(&path, &t.admin, json!({"status": "cancelled"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(tpl(&app).await["status"], "paused");

    // A template that starts after the contract ends would bill nothing.
    let later = app
        .post(
            "/api/v1/recurring-invoices",
            &t.admin,
            json!({"client_id": acme, "name": "Later care", "frequency": {"unit": "months", "every": 1},
                   "start_date": "2028-01-01",
                   "lines": [{"description": "Care", "quantity": "1", "unit_price": "500"}]}),
        )
        .await
        .id();
    let mut body = gold(&acme);
    body["status"] = json!("draft");
    body["recurring_invoice_id"] = json!(later);
    let r = app.post("/api/v1/contracts", &t.admin, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(
        field_code(&r, "recurring_invoice_id"),
        "starts_after_contract"
    );
}
