//! Recurring invoices and billing runs, with a worker in this process.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Tenant, TestApp, eventually};

const WAIT: Duration = Duration::from_secs(30);

async fn template(app: &TestApp, t: &Tenant, client: &str, extra: Value) -> String {
    let mut body = json!({
        "client_id": client,
        "name": "Managed services",
        "frequency": {"unit": "months", "every": 1},
        "start_date": "2025-12-31",
        "lines": [{"description": "Managed services", "quantity": "1", "unit_price": "100.00"}]
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post("/api/v1/recurring-invoices", &t.admin, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.id()
}

/// Starts a run by API and waits until its chunks are done.
async fn run(app: &TestApp, t: &Tenant, as_of: &str) -> Value {
    let r = app
        .post("/api/v1/billing-runs", &t.admin, json!({"as_of": as_of}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let run_id = r.body["run_id"].as_str().unwrap().to_owned();
    eventually("the run and its chunks to finish", WAIT, || async {
        app.count("SELECT count(*) FROM jobs WHERE kind LIKE 'billing.%' AND state NOT IN ('succeeded', 'dead')").await == 0
    })
    .await;
    app.get(&format!("/api/v1/billing-runs/{run_id}"), &t.admin)
        .await
        .body
}

async fn invoices_of(app: &TestApp, t: &Tenant) -> Vec<Value> {
    let mut all = app.get("/api/v1/invoices?limit=200", &t.admin).await.body["data"]
        .as_array()
        .unwrap()
        .clone();
    all.sort_by_key(|i| i["issue_date"].as_str().unwrap().to_owned());
    all
}

#[tokio::test]
async fn three_periods_behind_bills_three_invoices_oldest_first_once() {
    let app = TestApp::new().await;
    let t = app.tenant("Recurring Co").await;
    let client = app.client(&t.admin, "Acme").await;
    let tpl = template(&app, &t, &client, json!({})).await;
    let worker = app.start_worker();

    let dry = app
        .post(
            "/api/v1/billing-runs",
            &t.admin,
            json!({"as_of": "2026-03-01", "dry_run": true}),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert_eq!(dry.body["templates"], 1);
    let periods: Vec<&str> = dry.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["period_start"].as_str().unwrap())
        .collect();
    assert_eq!(periods, ["2025-12-31", "2026-01-31", "2026-02-28"]);
    assert_eq!(
        app.count("SELECT count(*) FROM invoices").await,
        0,
        "a dry run writes nothing"
    );

    let summary = run(&app, &t, "2026-03-01").await;
    assert_eq!(summary["templates"], 1);
    assert_eq!(summary["invoices_created"], 3, "{summary}");
    assert_eq!(summary["failed"], 0);
    let invs = invoices_of(&app, &t).await;
    let got: Vec<(&str, &str, &str)> = invs
        .iter()
        .map(|i| {
            (
                i["issue_date"].as_str().unwrap(),
                i["number"].as_str().unwrap(),
                i["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("2025-12-31", "INV-2025-000001", "sent"),
            ("2026-01-31", "INV-2026-000001", "sent"),
            ("2026-02-28", "INV-2026-000002", "sent")
        ]
    );
    // Oldest first: the invoices were created in period order.
    let created: Vec<&str> = invs
        .iter()
        .map(|i| i["created_at"].as_str().unwrap())
        .collect();
    let ids: Vec<&str> = invs.iter().map(|i| i["id"].as_str().unwrap()).collect();
    let mut by_id = ids.clone();
    by_id.sort();
    assert_eq!(
        ids, by_id,
        "ids are time-ordered: billed oldest period first ({created:?})"
    );

    // Again, and again at once: nothing more.
    let again = run(&app, &t, "2026-03-01").await;
    assert_eq!(again["invoices_created"], 0);
    let (a, b) = tokio::join!(run(&app, &t, "2026-03-31"), run(&app, &t, "2026-03-31"));
    assert_eq!(
        a["invoices_created"].as_i64().unwrap() + b["invoices_created"].as_i64().unwrap(),
        1,
        "{a} {b}"
    );
    assert_eq!(app.count("SELECT count(*) FROM invoices").await, 4);
    let tpl_now = app
        .get(&format!("/api/v1/recurring-invoices/{tpl}"), &t.admin)
        .await;
    assert_eq!(tpl_now.body["next_cycle"], 4);
    assert_eq!(tpl_now.body["next_period_start"], "2026-04-30");
    worker.stop().await;
}

#[tokio::test]
async fn escalation_proration_pause_and_end() {
    let app = TestApp::new().await;
    let t = app.tenant("Terms Co").await;
    let client = app.client(&t.admin, "Acme").await;
    // Starts 2026-01-01, service from the 16th of January: 16 of 31 days.
    let tpl = template(
        &app,
        &t,
        &client,
        json!({"start_date": "2026-01-01", "prorate_from": "2026-01-16", "escalation": {"percent": "10", "every": 1},
               "max_cycles": 3, "auto_finalize": false}),
    )
    .await;
    let worker = app.start_worker();
    app.post(
        &format!("/api/v1/recurring-invoices/{tpl}/pause"),
        &t.admin,
        json!({}),
    )
    .await;
    let paused = run(&app, &t, "2026-03-31").await;
    assert_eq!(paused["templates"], 0, "a paused template is not due");
    assert_eq!(
        app.post(
            &format!("/api/v1/recurring-invoices/{tpl}/pause"),
            &t.admin,
            json!({})
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    app.post(
        &format!("/api/v1/recurring-invoices/{tpl}/resume"),
        &t.admin,
        json!({}),
    )
    .await;
    let resumed = run(&app, &t, "2026-12-31").await;
    assert_eq!(resumed["invoices_created"], 3, "max 3 cycles: {resumed}");
    let totals: Vec<(String, String, String)> = invoices_of(&app, &t)
        .await
        .iter()
        .map(|i| {
            (
                i["issue_date"].as_str().unwrap().to_owned(),
                i["total"].as_str().unwrap().to_owned(),
                i["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        totals,
        [
            (
                "2026-01-01".to_owned(),
                "51.61".to_owned(),
                "draft".to_owned()
            ),
            (
                "2026-02-01".to_owned(),
                "110.00".to_owned(),
                "draft".to_owned()
            ),
            (
                "2026-03-01".to_owned(),
                "121.00".to_owned(),
                "draft".to_owned()
            ),
        ]
    );
    let ended = app
        .get(&format!("/api/v1/recurring-invoices/{tpl}"), &t.admin)
        .await;
    assert_eq!(ended.body["status"], "ended");
    assert!(ended.body["next_period_start"].is_null());
    worker.stop().await;
}

#[tokio::test]
async fn templates_are_validated() {
    let app = TestApp::new().await;
    let t = app.tenant("Template Rules").await;
    let client = app.client(&t.admin, "Acme").await;
    let r = app
        .post(
            "/api/v1/recurring-invoices",
            &t.admin,
            json!({"client_id": client, "name": "", "frequency": {"unit": "months", "every": 0},
                   "start_date": "2026-01-31", "end_date": "2026-01-01", "max_cycles": 0,
                   "escalation": {"percent": "0", "every": 1}, "prorate_from": "2026-05-01", "due_days": 400, "lines": []}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let fields: Vec<&str> = r.body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "name",
            "frequency",
            "end_date",
            "max_cycles",
            "escalation",
            "prorate_from",
            "due_days",
            "lines"
        ]
    );
    let bad_unit = app
        .post("/api/v1/recurring-invoices", &t.admin, json!({"client_id": client, "name": "x", "frequency": {"unit": "fortnights", "every": 1}, "start_date": "2026-01-01", "lines": []}))
        .await;
    assert_eq!(bad_unit.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_line = app
        .post("/api/v1/recurring-invoices", &t.admin, json!({"client_id": client, "name": "x", "frequency": {"unit": "weeks", "every": 2}, "start_date": "2026-01-01", "lines": [{"quantity": "1"}]}))
        .await;
    assert_eq!(bad_line.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad_line.body["error"]["details"]["fields"][0]["field"],
        "lines[0].description"
    );
}

#[tokio::test]
async fn the_overdue_job_marks_open_invoices_past_due() {
    let app = TestApp::new().await;
    let t = app.tenant("Late Co").await;
    let client = app.client(&t.admin, "Acme").await;
    let inv = app
        .post("/api/v1/invoices", &t.admin, json!({"client_id": client, "issue_date": "2026-01-01", "due_date": "2026-01-31", "lines": [{"description": "x", "quantity": "1", "unit_price": "10"}]}))
        .await
        .id();
    app.post(
        &format!("/api/v1/invoices/{inv}/finalize"),
        &t.admin,
        json!({}),
    )
    .await;
    let current = app
        .post("/api/v1/invoices", &t.admin, json!({"client_id": client, "issue_date": "2026-02-20", "lines": [{"description": "x", "quantity": "1", "unit_price": "10"}]}))
        .await
        .id();
    app.post(
        &format!("/api/v1/invoices/{current}/finalize"),
        &t.admin,
        json!({}),
    )
    .await;
    let ctx = app.jobs();
    let job = nestogy_jobs::billing::MarkOverdue { tenant: t.id };
    let meta = nestogy_jobs::JobMeta {
        id: nestogy_domain::JobId::new(),
        attempt: 1,
    };
    use nestogy_jobs::Job;
    let first = job.clone().run(ctx.clone(), meta).await.unwrap();
    let second = job.run(ctx, meta).await.unwrap();
    assert_eq!(first["marked_overdue"], 1);
    assert_eq!(second["marked_overdue"], 0, "idempotent");
    assert_eq!(
        app.get(&format!("/api/v1/invoices/{inv}"), &t.admin)
            .await
            .body["status"],
        "overdue"
    );
    assert_eq!(
        app.get(&format!("/api/v1/invoices/{current}"), &t.admin)
            .await
            .body["status"],
        "sent"
    );
    // A payment on an overdue invoice keeps it overdue until paid.
    let part = app
        .post(
            &format!("/api/v1/invoices/{inv}/payments"),
            &t.admin,
            json!({"amount": "4", "method": "cash"}),
        )
        .await;
    assert_eq!(part.body["invoice"]["status"], "overdue");
    let rest = app
        .post(
            &format!("/api/v1/invoices/{inv}/payments"),
            &t.admin,
            json!({"amount": "6", "method": "cash"}),
        )
        .await;
    assert_eq!(rest.body["invoice"]["status"], "paid");
}

#[tokio::test]
async fn billing_handlers_are_idempotent() {
    let app = TestApp::new().await;
    let t = app.tenant("Idem Co").await;
    let client = app.client(&t.admin, "Acme").await;
    let tpl: nestogy_domain::RecurringId = template(&app, &t, &client, json!({}))
        .await
        .parse()
        .unwrap();
    use nestogy_jobs::Job;
    let ctx = app.jobs();
    let run_meta = nestogy_jobs::JobMeta {
        id: nestogy_domain::JobId::new(),
        attempt: 1,
    };
    let run = nestogy_jobs::billing::Run {
        tenant: t.id,
        as_of: Some("2026-03-01".parse().unwrap()),
        manual: true,
    };
    let a = run.clone().run(ctx.clone(), run_meta).await.unwrap();
    let b = run.run(ctx.clone(), run_meta).await.unwrap();
    assert_eq!(a["chunks"], 1);
    assert_eq!(b["chunks"], 0, "a rerun enqueues no chunk twice");
    let bill = nestogy_jobs::billing::Bill {
        tenant: t.id,
        run: nestogy_domain::BillingRunId(run_meta.id.as_uuid()),
        as_of: "2026-03-01".parse().unwrap(),
        templates: vec![tpl],
    };
    let meta = nestogy_jobs::JobMeta {
        id: nestogy_domain::JobId::new(),
        attempt: 1,
    };
    let first = bill.clone().run(ctx.clone(), meta).await.unwrap();
    let second = bill.run(ctx, meta).await.unwrap();
    assert_eq!(first["created"], 3);
    assert_eq!(second["created"], 0);
    assert_eq!(app.count("SELECT count(*) FROM invoices").await, 3);
}

#[tokio::test]
async fn a_runs_summary_shows_retrying_and_dead_chunks_until_replayed() {
    use nestogy_jobs::Job;
    let app = TestApp::new().await;
    let t = app.tenant("Chunky Co").await;
    let client = app.client(&t.admin, "Acme").await;
    for _ in 0..3 {
        template(&app, &t, &client, json!({})).await;
    }
    let r = app
        .post(
            "/api/v1/billing-runs",
            &t.admin,
            json!({"as_of": "2026-03-01"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let run_id = r.body["run_id"].as_str().unwrap().to_owned();
    let summary = || async {
        let r = app
            .get(&format!("/api/v1/billing-runs/{run_id}"), &t.admin)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    };
    let pending = summary().await;
    assert_eq!(pending["state"], "pending", "{pending}");

    // The fan-out, as a worker runs it; no worker runs the chunk yet.
    let meta = nestogy_jobs::JobMeta {
        id: nestogy_domain::JobId(run_id.parse().unwrap()),
        attempt: 1,
    };
    let run = nestogy_jobs::billing::Run {
        tenant: t.id,
        as_of: chrono::NaiveDate::from_ymd_opt(2026, 3, 1),
        manual: true,
    };
    run.run(app.jobs(), meta).await.unwrap();
    let s = summary().await;
    assert_eq!(s["state"], "running", "{s}");
    // Three templates from 31 December: December, January, February.
    assert_eq!(
        (s["templates"].as_i64(), s["periods"].as_i64()),
        (Some(3), Some(9))
    );
    assert_eq!(s["pending"], 9);
    assert_eq!(
        (
            s["chunks"]["total"].as_i64(),
            s["chunks"]["queued"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(s["chunk_errors"], json!([]));

    // The chunk fails an attempt: the run still runs, and says why.
    let set = |state: &'static str, attempts: i32| {
        let owner = app.owner.clone();
        async move {
            sqlx::query("UPDATE jobs SET state = $1, attempts = $2, last_error = 'database: deadlock detected' WHERE kind = 'billing.bill'")
                .bind(state)
                .bind(attempts)
                .execute(&owner)
                .await
                .unwrap();
        }
    };
    set("failed_will_retry", 1).await;
    let s = summary().await;
    assert_eq!(s["state"], "running", "{s}");
    assert_eq!(s["chunks"]["retrying"], 1);
    assert_eq!(s["chunk_errors"][0]["state"], "failed_will_retry");
    assert_eq!(s["chunk_errors"][0]["error"], "database: deadlock detected");

    // Dead: the run failed, and its periods are unbilled, not pending.
    set("dead", 5).await;
    let s = summary().await;
    assert_eq!(s["state"], "failed", "{s}");
    assert_eq!(
        (s["pending"].as_i64(), s["unbilled"].as_i64()),
        (Some(0), Some(9))
    );
    assert_eq!(s["invoices_created"], 0);
    assert_eq!(s["chunks"]["dead"], 1);
    let e = &s["chunk_errors"][0];
    assert_eq!(
        (
            e["state"].as_str(),
            e["attempts"].as_i64(),
            e["templates"].as_i64(),
            e["periods"].as_i64()
        ),
        (Some("dead"), Some(5), Some(3), Some(9)),
        "{e}"
    );

    // Replayed, the chunk bills its periods and the run succeeds.
    let chunk = e["job_id"].as_str().unwrap().to_owned();
    let worker = app.start_worker();
    let r = app
        .post(&format!("/api/v1/jobs/{chunk}/retry"), &t.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    eventually("the replayed chunk to bill", WAIT, || async {
        summary().await["state"] == "succeeded"
    })
    .await;
    let s = summary().await;
    assert_eq!(s["invoices_created"], 9, "{s}");
    assert_eq!(
        (s["unbilled"].as_i64(), s["skipped"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(s["chunks"]["succeeded"], 1);
    assert_eq!(s["chunk_errors"], json!([]));
    worker.stop().await;
}
