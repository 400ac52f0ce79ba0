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
    let run_id = r.body["id"].as_str().unwrap().to_owned();
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
    let currency = app
        .get(&format!("/api/v1/recurring-invoices/{tpl}"), &t.admin)
        .await
        .body["currency"]
        .clone();
    assert!(currency.is_string(), "{currency}");
    for i in dry.body["items"].as_array().unwrap() {
        assert_eq!(
            (&i["total"], &i["currency"]),
            (&json!("100.00"), &currency),
            "each total says its currency: {i}"
        );
    }
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
        due: vec![
            ["2025-12-31", "2026-01-31", "2026-02-28"]
                .map(|d| d.parse().unwrap())
                .to_vec(),
        ],
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
    let run_id = r.body["id"].as_str().unwrap().to_owned();
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

/// The summary of run `id`.
async fn run_summary(app: &TestApp, t: &Tenant, id: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/billing-runs/{id}"), &t.admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

async fn billing_jobs_done(app: &TestApp) {
    eventually("the billing jobs to finish", WAIT, || async {
        app.count("SELECT count(*) FROM jobs WHERE kind LIKE 'billing.%' AND state NOT IN ('succeeded', 'dead')").await == 0
    })
    .await;
}

#[tokio::test]
async fn three_runs_at_once_each_account_for_every_due_period() {
    use nestogy_jobs::Job;
    let app = TestApp::new().await;
    let t = app.tenant("Three Runs Co").await;
    let client = app.client(&t.admin, "Acme").await;
    // From 31 January: January and February are due on 1 March.
    let tpl = template(&app, &t, &client, json!({"start_date": "2026-01-31"})).await;
    // Three runs fan out at once, before any of their chunks bills.
    let ids: Vec<nestogy_domain::JobId> = (0..3).map(|_| nestogy_domain::JobId::new()).collect();
    let fan_out = |id: nestogy_domain::JobId| {
        let run = nestogy_jobs::billing::Run {
            tenant: t.id,
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 3, 1),
            manual: true,
        };
        run.run(app.jobs(), nestogy_jobs::JobMeta { id, attempt: 1 })
    };
    let (a, b, c) = tokio::join!(fan_out(ids[0]), fan_out(ids[1]), fan_out(ids[2]));
    for r in [a, b, c] {
        assert_eq!(r.unwrap()["periods"], 2);
    }
    let worker = app.start_worker();
    billing_jobs_done(&app).await;
    worker.stop().await;

    let invoices: Vec<String> = invoices_of(&app, &t)
        .await
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(invoices.len(), 2, "each period billed once");
    let runs: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    let mut created = 0;
    for run in &runs {
        let s = run_summary(&app, &t, run).await;
        assert_eq!(s["state"], "succeeded", "{s}");
        assert_eq!(
            (s["templates"].as_i64(), s["periods"].as_i64()),
            (Some(1), Some(2)),
            "{s}"
        );
        let (c, k) = (
            s["invoices_created"].as_i64().unwrap(),
            s["skipped"].as_i64().unwrap(),
        );
        assert_eq!(c + k, 2, "every due period is created or skipped: {s}");
        assert_eq!(
            (
                s["failed"].as_i64(),
                s["pending"].as_i64(),
                s["unbilled"].as_i64()
            ),
            (Some(0), Some(0), Some(0)),
            "{s}"
        );
        created += c;
    }
    assert_eq!(created, 2, "one run billed both periods");
    // Each skipped period names the invoice and the run that billed it.
    for run in &runs {
        let s = run_summary(&app, &t, run).await;
        let k = s["skipped"].as_i64().unwrap();
        let skips = s["skips"].as_array().unwrap();
        assert_eq!(skips.len() as i64, k, "{s}");
        for skip in skips {
            assert_eq!(skip["template_id"], tpl.as_str());
            assert!(["2026-01-31", "2026-02-28"].contains(&skip["period_start"].as_str().unwrap()));
            assert!(
                invoices.contains(&skip["invoice_id"].as_str().unwrap().to_owned()),
                "{skip}"
            );
            let by = skip["billed_by_run"].as_str().unwrap();
            assert!(runs.contains(&by.to_owned()) && by != run, "{skip}");
            let other = run_summary(&app, &t, by).await;
            assert_eq!(other["invoices_created"], 2, "{other}");
        }
    }
}

#[tokio::test]
async fn a_billing_run_has_state_timestamps_and_counts_in_the_list_too() {
    let app = TestApp::new().await;
    let t = app.tenant("Run Object Co").await;
    let client = app.client(&t.admin, "Acme").await;
    template(&app, &t, &client, json!({})).await;
    template(&app, &t, &client, json!({})).await;
    let r = app
        .post(
            "/api/v1/billing-runs",
            &t.admin,
            json!({"as_of": "2026-03-01"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.body["id"].as_str().expect("the run's id").to_owned();
    assert_eq!(r.body["job_id"], id.as_str(), "{}", r.body);
    assert_eq!(r.body["state"], "pending");
    assert_eq!(r.body["as_of"], "2026-03-01");
    assert!(r.body["created_at"].is_string(), "{}", r.body);
    assert!(r.body["started_at"].is_null() && r.body["finished_at"].is_null());
    assert_eq!(r.body["invoices_created"], 0);
    let list = app.get("/api/v1/billing-runs", &t.admin).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["data"][0]["id"], id.as_str(), "{}", list.body);
    assert_eq!(list.body["data"][0]["state"], "pending", "{}", list.body);

    let worker = app.start_worker();
    eventually("the run to succeed", WAIT, || async {
        run_summary(&app, &t, &id).await["state"] == "succeeded"
    })
    .await;
    let s = run_summary(&app, &t, &id).await;
    let at = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(s[k].as_str().unwrap_or_else(|| panic!("{k}: {s}")))
            .unwrap()
    };
    assert!(
        at("created_at") <= at("started_at") && at("started_at") <= at("finished_at"),
        "{s}"
    );
    assert_eq!(
        (
            s["templates"].as_i64(),
            s["periods"].as_i64(),
            s["invoices_created"].as_i64()
        ),
        (Some(2), Some(6), Some(6)),
        "{s}"
    );
    // A second run finds nothing due; the list shows both, newest first,
    // each with its state and counts.
    let again = app
        .post(
            "/api/v1/billing-runs",
            &t.admin,
            json!({"as_of": "2026-03-01"}),
        )
        .await;
    let second = again.body["id"].as_str().unwrap().to_owned();
    eventually("the second run to succeed", WAIT, || async {
        run_summary(&app, &t, &second).await["state"] == "succeeded"
    })
    .await;
    worker.stop().await;
    let list = app.get("/api/v1/billing-runs", &t.admin).await;
    let rows = list.body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{}", list.body);
    let shown: Vec<(&str, &str, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap(),
                r["state"].as_str().unwrap(),
                r["periods"].as_i64().unwrap(),
                r["invoices_created"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (second.as_str(), "succeeded", 0, 0),
            (id.as_str(), "succeeded", 6, 6)
        ]
    );
    assert!(rows[1]["finished_at"].is_string(), "{}", list.body);
}

#[tokio::test]
async fn a_template_is_edited_for_periods_not_yet_billed_and_audited() {
    let app = TestApp::new().await;
    let t = app.tenant("Edit Co").await;
    let client = app.client(&t.admin, "Acme").await;
    let tpl = template(&app, &t, &client, json!({})).await;
    let worker = app.start_worker();
    // 31 December and 31 January are billed; 28 February is next.
    let first = run(&app, &t, "2026-02-01").await;
    assert_eq!(first["invoices_created"], 2, "{first}");
    let path = format!("/api/v1/recurring-invoices/{tpl}");

    // Checked like a new template.
    let bad = app
        .patch(
            &path,
            &t.admin,
            json!({"frequency": {"unit": "months", "every": 0}, "due_days": 400, "lines": []}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(
        crate::common::fields(&bad),
        ["frequency", "due_days", "lines"]
    );
    let before_start = app
        .patch(&path, &t.admin, json!({"end_date": "2025-01-01"}))
        .await;
    assert_eq!(crate::common::fields(&before_start), ["end_date"]);
    let bad_line = app
        .patch(&path, &t.admin, json!({"lines": [{"quantity": "1"}]}))
        .await;
    assert_eq!(
        bad_line.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad_line.body
    );
    let other_client = app
        .patch(&path, &t.admin, json!({"client_id": client}))
        .await;
    assert_eq!(
        other_client.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other_client.body
    );

    // New lines and prices, quarterly from the next period, on the 31st
    // (clamped) as before, until the end of 2026.
    let r = app
        .patch(
            &path,
            &t.admin,
            json!({"name": "Managed services, quarterly", "frequency": {"unit": "months", "every": 3},
                   "end_date": "2026-12-31", "auto_send": false,
                   "lines": [{"description": "Managed services", "quantity": "2", "unit_price": "60.00"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["frequency"], json!({"unit": "months", "every": 3}));
    assert_eq!(r.body["next_period_start"], "2026-02-28");
    assert_eq!(r.body["next_cycle"], 2);
    assert_eq!(r.body["lines"][0]["unit_price"], "60.00");
    let audit = app
        .get(
            &format!("/api/v1/audit?action=recurring.updated&entity_id={tpl}"),
            &t.admin,
        )
        .await;
    let entries = audit.body["data"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", audit.body);
    assert_eq!(
        entries[0]["details"]["before"]["frequency"],
        json!({"unit": "months", "every": 1})
    );
    assert_eq!(
        entries[0]["details"]["after"]["frequency"],
        json!({"unit": "months", "every": 3})
    );

    // Invoices already created are never changed.
    let billed: Vec<(String, String)> = invoices_of(&app, &t)
        .await
        .iter()
        .map(|i| {
            (
                i["period_start"].as_str().unwrap_or("?").to_owned(),
                i["total"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        billed,
        [
            ("2025-12-31".to_owned(), "100.00".to_owned()),
            ("2026-01-31".to_owned(), "100.00".to_owned())
        ]
    );

    let later = run(&app, &t, "2026-12-31").await;
    assert_eq!(later["invoices_created"], 4, "{later}");
    let all: Vec<(String, String, String)> = invoices_of(&app, &t)
        .await
        .iter()
        .map(|i| {
            (
                i["period_start"].as_str().unwrap().to_owned(),
                i["period_end"].as_str().unwrap().to_owned(),
                i["total"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect = [
        ("2025-12-31", "2026-01-30", "100.00"),
        ("2026-01-31", "2026-02-27", "100.00"),
        ("2026-02-28", "2026-05-30", "120.00"),
        ("2026-05-31", "2026-08-30", "120.00"),
        ("2026-08-31", "2026-11-29", "120.00"),
        ("2026-11-30", "2027-02-27", "120.00"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(all, expect);
    let ended = app.get(&path, &t.admin).await;
    assert_eq!(ended.body["status"], "ended", "{}", ended.body);

    // Taking the end away bills on.
    let reopened = app.patch(&path, &t.admin, json!({"end_date": null})).await;
    assert_eq!(reopened.status, StatusCode::OK, "{}", reopened.body);
    assert_eq!(reopened.body["status"], "active");
    assert_eq!(reopened.body["next_period_start"], "2027-02-28");
    worker.stop().await;
}

#[tokio::test]
async fn a_template_with_invoices_is_archived_one_without_is_deleted() {
    let app = TestApp::new().await;
    let t = app.tenant("Archive Co").await;
    let client = app.client(&t.admin, "Acme").await;
    let billed = template(&app, &t, &client, json!({})).await;
    let worker = app.start_worker();
    assert_eq!(run(&app, &t, "2026-01-01").await["invoices_created"], 1);
    let unbilled = template(&app, &t, &client, json!({"start_date": "2026-06-01"})).await;

    let gone = app
        .delete(&format!("/api/v1/recurring-invoices/{unbilled}"), &t.admin)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    assert_eq!(
        app.get(&format!("/api/v1/recurring-invoices/{unbilled}"), &t.admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let path = format!("/api/v1/recurring-invoices/{billed}");
    let archived = app.delete(&path, &t.admin).await;
    assert_eq!(archived.status, StatusCode::OK, "{}", archived.body);
    assert_eq!(archived.body["status"], "archived");
    assert!(archived.body["next_period_start"].is_null());
    let listed = app.get("/api/v1/recurring-invoices", &t.admin).await;
    let statuses: Vec<(&str, &str)> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [(billed.as_str(), "archived")]);
    assert_eq!(
        app.delete(&path, &t.admin).await.body["status"],
        "archived",
        "again: still archived"
    );
    for action in ["pause", "resume"] {
        let r = app
            .post(&format!("{path}/{action}"), &t.admin, json!({}))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{action}: {}", r.body);
    }
    let edit = app.patch(&path, &t.admin, json!({"name": "x"})).await;
    assert_eq!(edit.status, StatusCode::CONFLICT, "{}", edit.body);

    // It never bills again; its invoice still names it.
    let later = run(&app, &t, "2026-12-31").await;
    assert_eq!(later["templates"], 0, "{later}");
    let invs = invoices_of(&app, &t).await;
    assert_eq!(invs.len(), 1);
    assert_eq!(invs[0]["recurring_invoice_id"], billed.as_str());
    let actions = app
        .get("/api/v1/audit?entity_type=recurring_invoice", &t.admin)
        .await;
    let mut seen: Vec<&str> = actions.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "recurring.archived",
            "recurring.created",
            "recurring.created",
            "recurring.deleted"
        ]
    );
    worker.stop().await;
}

#[tokio::test]
async fn a_preview_shows_the_next_invoices_as_billing_creates_them() {
    let app = TestApp::new().await;
    let t = app.tenant("Preview Co").await;
    let client = app.client(&t.admin, "Acme").await;
    let vat = app
        .post(
            "/api/v1/tax-rates",
            &t.admin,
            json!({"name": "VAT", "percent": "19"}),
        )
        .await
        .id();
    let tpl = template(
        &app,
        &t,
        &client,
        json!({"start_date": "2026-01-01", "prorate_from": "2026-01-16", "escalation": {"percent": "10", "every": 1},
               "max_cycles": 4, "auto_finalize": false,
               "lines": [{"description": "Managed services", "quantity": "1", "unit_price": "100.00", "tax_rate_ids": [vat]},
                         {"description": "Backup", "quantity": "3", "unit_price": "7.50"}]}),
    )
    .await;
    let path = format!("/api/v1/recurring-invoices/{tpl}/preview");
    for bad in ["0", "25", "-1"] {
        let r = app.get(&format!("{path}?count={bad}"), &t.admin).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "count={bad}: {}",
            r.body
        );
        assert_eq!(crate::common::fields(&r), ["count"]);
    }
    let r = app.get(&format!("{path}?count=x"), &t.admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let p = app.get(&path, &t.admin).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let next = p.body["invoices"].as_array().unwrap().clone();
    let periods: Vec<(&str, &str, &str)> = next
        .iter()
        .map(|i| {
            (
                i["period_start"].as_str().unwrap(),
                i["period_end"].as_str().unwrap(),
                i["total"].as_str().unwrap(),
            )
        })
        .collect();
    // Service from the 16th: 16 of 31 days of 100 + 22.50, then 10 % more
    // each cycle; VAT on the first line only.
    assert_eq!(
        periods,
        [
            ("2026-01-01", "2026-01-31", "73.03"),
            ("2026-02-01", "2026-02-28", "155.65"),
            ("2026-03-01", "2026-03-31", "171.23")
        ],
        "{}",
        p.body
    );
    assert_eq!(
        app.count("SELECT count(*) FROM invoices").await,
        0,
        "a preview creates nothing"
    );
    assert_eq!(
        app.get(&format!("{path}?count=9"), &t.admin).await.body["invoices"]
            .as_array()
            .unwrap()
            .len(),
        4,
        "max_cycles 4"
    );

    // Billing creates what the preview showed, line by line.
    let worker = app.start_worker();
    run(&app, &t, "2026-03-31").await;
    worker.stop().await;
    let billed = invoices_of(&app, &t).await;
    assert_eq!(billed.len(), 3);
    let strip = |i: &Value| {
        let lines: Vec<Value> = i["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                json!([
                    l["description"],
                    l["quantity"],
                    l["unit_price"],
                    l["tax"],
                    l["total"]
                ])
            })
            .collect();
        json!([
            i["issue_date"],
            i["due_date"],
            i["period_start"],
            i["subtotal"],
            i["tax_total"],
            i["total"],
            lines
        ])
    };
    for (shown, made) in next.iter().zip(&billed) {
        assert_eq!(strip(shown), strip(made));
    }
    let rest = app.get(&format!("{path}?count=5"), &t.admin).await;
    let left: Vec<&str> = rest.body["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["period_start"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["2026-04-01"], "only the fourth cycle is left");
}

#[tokio::test]
async fn invoices_link_to_their_quote_template_and_period() {
    let app = TestApp::new().await;
    let t = app.tenant("Links Co").await;
    let client = app.billed_client(&t.admin, "Acme", "ap@acme.example").await;
    let q = app
        .post("/api/v1/quotes", &t.admin, json!({"client_id": client, "lines": [{"description": "Firewall", "quantity": "1", "unit_price": "450"}]}))
        .await
        .id();
    app.post(&format!("/api/v1/quotes/{q}/send"), &t.admin, json!({}))
        .await;
    app.post(&format!("/api/v1/quotes/{q}/accept"), &t.admin, json!({}))
        .await;
    let converted = app
        .post(&format!("/api/v1/quotes/{q}/convert"), &t.admin, json!({}))
        .await;
    assert_eq!(converted.status, StatusCode::CREATED, "{}", converted.body);
    let from_quote = converted.body["invoice"]["id"].as_str().unwrap().to_owned();
    let inv = app
        .get(&format!("/api/v1/invoices/{from_quote}"), &t.admin)
        .await;
    assert_eq!(inv.body["quote_id"], q.as_str(), "{}", inv.body);
    assert_eq!(converted.body["invoice"]["quote_id"], q.as_str());
    assert!(inv.body["recurring_invoice_id"].is_null() && inv.body["period_start"].is_null());
    let quote = app.get(&format!("/api/v1/quotes/{q}"), &t.admin).await;
    assert_eq!(quote.body["invoice_id"], from_quote.as_str(), "both ways");

    let tpl = template(&app, &t, &client, json!({})).await;
    let worker = app.start_worker();
    run(&app, &t, "2026-01-01").await;
    worker.stop().await;
    let billed: Vec<Value> = invoices_of(&app, &t)
        .await
        .into_iter()
        .filter(|i| i["id"] != from_quote.as_str())
        .collect();
    assert_eq!(billed.len(), 1);
    assert_eq!(
        billed[0]["recurring_invoice_id"],
        tpl.as_str(),
        "{}",
        billed[0]
    );
    assert_eq!(
        (
            billed[0]["period_start"].as_str(),
            billed[0]["period_end"].as_str()
        ),
        (Some("2025-12-31"), Some("2026-01-30"))
    );
    assert!(billed[0]["quote_id"].is_null());
}
