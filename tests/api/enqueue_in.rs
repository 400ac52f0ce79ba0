//! Jobs recorded in a tenant's business transaction (`enqueue_in`): they
//! exist exactly when the change commits, and a tenant's transaction sees
//! and touches only that tenant's jobs.

use std::time::Duration;

use nestogy_domain::{JobId, TenantTx};
use nestogy_jobs::diag::{Noop, Record};
use nestogy_jobs::{EnqueueError, EnqueueOptions, enqueue, enqueue_in};

use crate::common::{TestApp, eventually};

fn keyed(key: &str) -> EnqueueOptions {
    EnqueueOptions {
        run_at: None,
        unique_key: Some(key.to_owned()),
    }
}

async fn visible_jobs(tx: &mut TenantTx) -> Vec<JobId> {
    sqlx::query_scalar("SELECT id FROM jobs ORDER BY id")
        .fetch_all(tx.conn())
        .await
        .expect("select jobs")
}

/// A raw INSERT of a job row for `company` (NULL: a platform job).
async fn raw_insert(tx: &mut TenantTx, company: Option<uuid::Uuid>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO jobs (id, company_id, kind, queue, payload, state, max_attempts, run_at, \
         created_at, updated_at) VALUES ($1, $2, 'diag.noop', 'default', '{}', 'queued', 1, now(), now(), now())",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(company)
    .execute(tx.conn())
    .await
    .map(|_| ())
}

#[tokio::test]
async fn enqueue_in_a_tenant_transaction_sees_and_touches_only_that_tenants_jobs() {
    let app = TestApp::new().await;
    let (a, b) = (app.tenant("Tenant A").await, app.tenant("Tenant B").await);
    let queue = &app.queue;

    // B's job, with a unique key, and a platform job.
    let mut tx = app.db.tenant(b.id).await.unwrap();
    let b_job = enqueue_in(&mut tx, &Noop { tenant: Some(b.id) }, keyed("shared-key"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let b_job = b_job.push(queue).await;
    let platform = enqueue(&app.jobs(), &Noop { tenant: None }).await.unwrap();

    // A's own job is recorded, and is all A's transaction sees.
    let mut tx = app.db.tenant(a.id).await.unwrap();
    assert_eq!(visible_jobs(&mut tx).await, Vec::<JobId>::new());
    let a_job = enqueue_in(
        &mut tx,
        &Noop { tenant: Some(a.id) },
        EnqueueOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(visible_jobs(&mut tx).await, [a_job.id()]);
    // B's job and the platform job cannot be changed or deleted from A.
    for other in [b_job, platform] {
        let touched = sqlx::query("UPDATE jobs SET state = 'cancelled' WHERE id = $1")
            .bind(other)
            .execute(tx.conn())
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(touched, 0);
        let deleted = sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(other)
            .execute(tx.conn())
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(deleted, 0);
    }
    tx.commit().await.unwrap();
    let a_job = a_job.push(queue).await;

    // A job of another tenant, or a platform job, is refused by
    // enqueue_in before the database...
    for job in [Noop { tenant: Some(b.id) }, Noop { tenant: None }] {
        let mut tx = app.db.tenant(a.id).await.unwrap();
        let e = enqueue_in(&mut tx, &job, EnqueueOptions::default())
            .await
            .expect_err("another tenant's job");
        assert!(matches!(e, EnqueueError::OtherTenant(_)), "{e}");
    }
    // ... and by row-level security, should a raw INSERT try.
    for company in [Some(b.id.as_uuid()), None] {
        let mut tx = app.db.tenant(a.id).await.unwrap();
        let e = raw_insert(&mut tx, company)
            .await
            .expect_err("RLS must refuse");
        assert!(e.to_string().contains("row-level security"), "{e}");
    }

    // A unique key B's job holds: A learns neither the job nor its id.
    let mut tx = app.db.tenant(a.id).await.unwrap();
    let e = enqueue_in(&mut tx, &Noop { tenant: Some(a.id) }, keyed("shared-key"))
        .await
        .expect_err("the key is B's");
    assert!(matches!(e, EnqueueError::KeyHeldElsewhere(_)), "{e}");
    assert!(!e.to_string().contains(&b_job.to_string()), "{e}");
    drop(tx);

    // Nothing of A's changed anyone else's jobs.
    let rows: Vec<(JobId, Option<uuid::Uuid>, String)> =
        sqlx::query_as("SELECT id, company_id, state FROM jobs ORDER BY id")
            .fetch_all(&app.owner)
            .await
            .unwrap();
    let mut want = vec![
        (b_job, Some(b.id.as_uuid()), "queued".to_owned()),
        (platform, None, "queued".to_owned()),
        (a_job, Some(a.id.as_uuid()), "queued".to_owned()),
    ];
    want.sort_by_key(|r| r.0);
    assert_eq!(rows, want);
}

/// A business change: a client.
async fn change(tx: &mut TenantTx) {
    sqlx::query(
        "INSERT INTO clients (id, company_id, name, created_at, updated_at) \
         VALUES ($1, $2, 'Caused a job', now(), now())",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(tx.tenant())
    .execute(tx.conn())
    .await
    .expect("insert a client");
}

#[tokio::test]
async fn a_job_enqueued_in_a_transaction_exists_only_if_it_commits_and_then_runs_once() {
    let app = TestApp::new().await;
    let a = app.tenant("Tenant A").await;
    let job = Record {
        tenant: Some(a.id),
        sleep_ms: 0,
    };

    // Rolled back: neither the change nor its job.
    let mut tx = app.db.tenant(a.id).await.unwrap();
    change(&mut tx).await;
    let rolled_back = enqueue_in(&mut tx, &job, keyed("once")).await.unwrap();
    drop(tx); // rolled back
    drop(rolled_back);
    assert_eq!(app.count("SELECT count(*) FROM jobs").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM clients").await, 0);

    // Committed: both; a second enqueue with the same key (another
    // transaction) answers the first job and records nothing.
    let mut tx = app.db.tenant(a.id).await.unwrap();
    change(&mut tx).await;
    let first = enqueue_in(&mut tx, &job, keyed("once")).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = app.db.tenant(a.id).await.unwrap();
    let again = enqueue_in(&mut tx, &job, keyed("once")).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(again.id(), first.id());
    let again = again.push(&app.queue).await;
    assert_eq!(app.count("SELECT count(*) FROM jobs").await, 1);

    // Pushed after the commit: it runs, once.
    let worker = app.start_worker();
    let id = first.push(&app.queue).await;
    assert_eq!(id, again);
    eventually("the job to run", Duration::from_secs(20), || async {
        app.job_state(id).await.0 == "succeeded"
    })
    .await;
    assert_eq!(app.count("SELECT sum(runs) FROM job_effects").await, 1);
    worker.stop().await;
}
