//! A job is recorded in the transaction of the change that causes it: an
//! API process killed between that commit and the push to Redis loses
//! neither the change nor its job; a worker's sweep queues the job and it
//! runs.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use nestogy_domain::JobId;
use nestogy_jobs::Queue;
use serde_json::json;

use super::users::{api_with, sign_in};
use crate::common::{Proc, TestApp, eventually};

/// Three monthly templates from 1 January 2026 for `tenant`'s one client:
/// a run as of 1 February bills six periods.
async fn seed_three_templates(app: &TestApp, tenant: nestogy_domain::TenantId) {
    let client = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO clients (id, company_id, name, created_at, updated_at) \
         VALUES ($1, $2, 'Acme', now(), now())",
    )
    .bind(client)
    .bind(tenant)
    .execute(&app.owner)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO recurring_invoices (id, company_id, client_id, name, currency, frequency_unit, frequency_every, \
         start_date, next_cycle, next_period_start, status, auto_finalize, lines, created_at, updated_at) \
         SELECT gen_random_uuid(), $1, $2, 'Template ' || i, 'EUR', 'months', 1, DATE '2026-01-01', 0, \
                DATE '2026-01-01', 'active', true, \
                jsonb_build_array(jsonb_build_object('description', 'Managed services', 'quantity', '1', \
                'unit_price', '100')), now(), now() \
         FROM generate_series(1, 3) i",
    )
    .bind(tenant)
    .bind(client)
    .execute(&app.owner)
    .await
    .unwrap();
}

#[tokio::test]
async fn an_api_process_killed_between_commit_and_push_loses_no_job() {
    let app = TestApp::new().await;
    let t = app.tenant("Crashed").await;
    seed_three_templates(&app, t.id).await;

    // The API process aborts right after its first commit that recorded a
    // job, before the push (a test-only failpoint).
    let (mut api, base) =
        api_with(&app, &[("NESTOGY_FAILPOINT", "after_commit_before_push")]).await;
    let token = sign_in(&base, "admin@crashed.example").await;
    let answer = reqwest::Client::new()
        .post(format!("{base}/api/v1/billing-runs"))
        .bearer_auth(&token)
        .json(&json!({"as_of": "2026-02-01"}))
        .send()
        .await;
    assert!(
        answer.is_err(),
        "the process answered instead of dying: {answer:?}"
    );
    let status = api.exit_status(Duration::from_secs(30)).await;
    assert_eq!(status.signal(), Some(6), "aborted (SIGABRT): {status:?}");
    assert!(
        api.log().contains("after_commit_before_push"),
        "{}",
        api.log()
    );

    // The run and its job committed together; Redis never heard of the job.
    let jobs: Vec<(JobId, String)> =
        sqlx::query_as("SELECT id, state FROM jobs WHERE kind = 'billing.run' AND company_id = $1")
            .bind(t.id)
            .fetch_all(&app.owner)
            .await
            .unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let (job, state) = jobs[0].clone();
    assert_eq!(state, "queued");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM billing_runs WHERE id = '{job}'"
        ))
        .await,
        1,
        "the run is the job's"
    );
    assert_eq!(
        app.queue.present(Queue::Billing, &[job]).await.unwrap(),
        [false],
        "never pushed"
    );

    // A worker's sweep finds the job and it runs: the run bills its six
    // periods.
    let _worker = Proc::spawn(&app, "worker", &[]);
    eventually(
        "the job lost on its way to Redis to run",
        Duration::from_secs(90),
        || async {
            app.job_state(job).await.0 == "succeeded"
                && app
                    .count("SELECT count(*) FROM jobs WHERE kind = 'billing.bill' AND state <> 'succeeded'")
                    .await
                    == 0
                && app.count("SELECT count(*) FROM invoices").await == 6
        },
    )
    .await;
    let (_, attempts, _) = app.job_state(job).await;
    assert_eq!(attempts, 1);
}
