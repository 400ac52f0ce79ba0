//! Billing runs on three worker processes at once: chunks of one tenant's
//! run bill side by side, with the report triggers noting their days.

use std::time::Duration;

use chrono::NaiveDate;
use nestogy_domain::TenantId;
use serde_json::Value;

use axum::http::StatusCode;

use crate::common::{Proc, Tenant, TestApp, eventually};

const TEMPLATES: i64 = 2_000;

/// Seeds `n` monthly templates that auto-finalize, starting on
/// every day from 1 January to 28 February 2026 in turn, so a run as of
/// 31 March bills each template's two or three periods, and chunks note
/// their invoices' days in no common order. Returns the periods due.
async fn seed(app: &TestApp, tenant: TenantId, n: i64) -> i64 {
    let (client, tax) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    sqlx::query("INSERT INTO clients (id, company_id, name, created_at, updated_at) VALUES ($1, $2, 'Client', now(), now())")
        .bind(client)
        .bind(tenant)
        .execute(&app.owner)
        .await
        .unwrap();
    sqlx::query("INSERT INTO tax_rates (id, company_id, name, percent, created_at, updated_at) VALUES ($1, $2, 'VAT', 19, now(), now())")
        .bind(tax)
        .bind(tenant)
        .execute(&app.owner)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO recurring_invoices (id, company_id, client_id, name, currency, frequency_unit, frequency_every, \
         start_date, next_cycle, next_period_start, status, auto_finalize, lines, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, $2, 'Template ' || i, 'EUR', 'months', 1, \
                DATE '2026-01-01' + (i % 59)::int, 0, DATE '2026-01-01' + (i % 59)::int, 'active', true, \
                jsonb_build_array(jsonb_build_object('description', 'Managed services', 'quantity', '1', \
                  'unit_price', (50 + i % 100)::text, 'tax_rate_ids', jsonb_build_array($3::text))), now(), now() \
         FROM generate_series(1, $4) i",
    )
    .bind(tenant)
    .bind(client)
    .bind(tax.to_string())
    .bind(n)
    .execute(&app.owner)
    .await
    .unwrap();
    // Started in January (day 1 to 31): January, February, March; in
    // February: February and March.
    (1..=n).map(|i| if i % 59 < 31 { 3 } else { 2 }).sum()
}

/// The run's summary; `Null` until a worker opens the run.
async fn summary(app: &TestApp, t: &Tenant, run: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/billing-runs/{run}"), &t.admin)
        .await;
    match r.status.as_u16() {
        200 => r.body,
        404 => Value::Null,
        other => panic!("{other}: {}", r.body),
    }
}

#[tokio::test]
async fn three_workers_bill_two_tenants_runs_at_once_each_period_once() {
    let app = TestApp::new().await;
    let empty = app.tenant("Empty Log").await;
    let full = app.tenant("Full Log").await;
    let due_empty = seed(&app, empty.id, TEMPLATES).await;
    let due_full = seed(&app, full.id, TEMPLATES).await;
    // One tenant's change log already notes every day the run bills.
    sqlx::query(
        "INSERT INTO report_changes (company_id, area, day) \
         SELECT $1, 'finance', d::date FROM generate_series(DATE '2025-12-01', DATE '2026-04-30', '1 day') d",
    )
    .bind(full.id)
    .execute(&app.owner)
    .await
    .unwrap();

    let workers: Vec<Proc> = (0..3).map(|_| Proc::spawn(&app, "worker", &[])).collect();
    let jobs = app.real_jobs();
    let as_of = NaiveDate::from_ymd_opt(2026, 3, 31);
    let mut runs = Vec::new();
    for t in [&empty, &full] {
        let job = nestogy_jobs::billing::Run {
            tenant: t.id,
            as_of,
            manual: true,
        };
        runs.push(
            nestogy_jobs::enqueue(&jobs, &job)
                .await
                .unwrap()
                .to_string(),
        );
    }
    for (t, run) in [(&empty, &runs[0]), (&full, &runs[1])] {
        eventually("the run to finish", Duration::from_secs(300), || async {
            let s = summary(&app, t, run).await;
            !matches!(s["state"].as_str(), None | Some("pending" | "running"))
        })
        .await;
    }

    for (t, run, due) in [(&empty, &runs[0], due_empty), (&full, &runs[1], due_full)] {
        let s = summary(&app, t, run).await;
        assert_eq!(s["state"], "succeeded", "{s}");
        assert_eq!(s["periods"], due, "{s}");
        assert_eq!(s["invoices_created"], due, "{s}");
        assert_eq!(
            (s["skipped"].as_i64(), s["failed"].as_i64()),
            (Some(0), Some(0))
        );
        assert_eq!(
            (s["pending"].as_i64(), s["unbilled"].as_i64()),
            (Some(0), Some(0))
        );
        assert_eq!(s["chunks"]["total"], (TEMPLATES + 49) / 50, "{s}");
        assert_eq!(s["chunks"]["dead"], 0, "{s}");
        assert_eq!(s["chunk_errors"], serde_json::json!([]));
        let invoices = app
            .count(&format!(
                "SELECT count(*) FROM invoices WHERE company_id = '{}' AND status = 'sent'",
                t.id
            ))
            .await;
        assert_eq!(invoices, due, "every period billed once");
        // Numbers are gapless: INV-2026-000001 up to the count.
        let top = app
            .count(&format!(
                "SELECT max(split_part(number, '-', 3)::bigint) FROM invoices WHERE company_id = '{}'",
                t.id
            ))
            .await;
        assert_eq!(top, due);
    }
    // Every chunk succeeded, and none lost an attempt to a deadlock (on a
    // loaded machine an attempt may be lost waiting for a pooled connection:
    // that is retried, and is not what this test is about).
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'billing.bill' AND state <> 'succeeded'")
            .await,
        0
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM jobs WHERE kind = 'billing.bill' AND attempts <> 1 \
             AND (last_error IS NULL OR last_error ILIKE '%deadlock%' OR last_error ILIKE '%40P01%')"
        )
        .await,
        0
    );
    // Both logs note the billed days; the full one gained nothing.
    let noted = app
        .count(&format!(
            "SELECT count(DISTINCT day) FROM report_changes WHERE company_id = '{}'",
            empty.id
        ))
        .await;
    assert_eq!(noted, 31 + 28 + 31, "every day of January to March");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM report_changes WHERE company_id = '{}'",
            full.id
        ))
        .await,
        151
    );
    let conflicts: usize = workers
        .iter()
        .map(|w| {
            w.log()
                .matches("conflict with a concurrent transaction")
                .count()
        })
        .sum();
    let deadlocks = app
        .count("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        .await;
    eprintln!("conflicts retried at once: {conflicts}; deadlocks PostgreSQL counted: {deadlocks}");
}

#[tokio::test]
async fn three_workers_three_runs_at_once_each_account_for_every_period() {
    const N: i64 = 300;
    let app = TestApp::new().await;
    let t = app.tenant("Three Runs").await;
    let due = seed(&app, t.id, N).await;
    let workers: Vec<Proc> = (0..3).map(|_| Proc::spawn(&app, "worker", &[])).collect();
    let start = || {
        app.post(
            "/api/v1/billing-runs",
            &t.admin,
            serde_json::json!({"as_of": "2026-03-31"}),
        )
    };
    let (a, b, c) = tokio::join!(start(), start(), start());
    let mut runs = Vec::new();
    for r in [a, b, c] {
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        assert_eq!(r.body["state"], "pending", "{}", r.body);
        runs.push(r.body["id"].as_str().unwrap().to_owned());
    }
    for run in &runs {
        eventually("the run to finish", Duration::from_secs(300), || async {
            let s = summary(&app, &t, run).await;
            !matches!(s["state"].as_str(), None | Some("pending" | "running"))
        })
        .await;
    }

    let mut created = 0;
    for run in &runs {
        let s = summary(&app, &t, run).await;
        assert_eq!(s["state"], "succeeded", "{s}");
        let periods = s["periods"].as_i64().unwrap();
        let (c, k) = (
            s["invoices_created"].as_i64().unwrap(),
            s["skipped"].as_i64().unwrap(),
        );
        assert_eq!(
            c + k,
            periods,
            "every due period is created or skipped: {s}"
        );
        assert_eq!(
            (
                s["failed"].as_i64(),
                s["pending"].as_i64(),
                s["unbilled"].as_i64()
            ),
            (Some(0), Some(0), Some(0)),
            "{s}"
        );
        assert!(s["finished_at"].is_string(), "{s}");
        created += c;
        eprintln!("run {run}: {periods} periods due, {c} created, {k} skipped");
    }
    assert_eq!(created, due, "every period billed by exactly one run");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM invoices WHERE company_id = '{}'",
            t.id
        ))
        .await,
        due
    );
    // Each skipped period names the invoice and the other run that created it.
    assert_eq!(
        app.count(
            "SELECT count(*) FROM billing_run_items s WHERE s.outcome = 'skipped' AND NOT EXISTS \
             (SELECT 1 FROM billing_run_items c WHERE c.outcome = 'created' AND c.run_id = s.billed_by_run \
              AND c.run_id <> s.run_id AND c.invoice_id = s.invoice_id AND c.template_id = s.template_id \
              AND c.period_start = s.period_start)"
        )
        .await,
        0
    );
    // The list shows each run with its state and counts, as its summary does.
    let list = app.get("/api/v1/billing-runs", &t.admin).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    for row in list.body["data"].as_array().unwrap() {
        let s = summary(&app, &t, row["id"].as_str().unwrap()).await;
        for k in [
            "state",
            "periods",
            "invoices_created",
            "skipped",
            "finished_at",
        ] {
            assert_eq!(row[k], s[k], "{k}: {row} vs {s}");
        }
    }
    assert_eq!(list.body["data"].as_array().unwrap().len(), 3);
    drop(workers);
}
