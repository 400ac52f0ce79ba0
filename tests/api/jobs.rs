//! The job platform in one process: states, retries, dead set and replay,
//! cancel, tenancy of the job API, and each handler's idempotency.

use std::time::Duration;

use axum::http::StatusCode;
use nestogy_domain::JobId;
use nestogy_domain::kernel::clock::Clock;
use nestogy_jobs::diag::{Fail, Flaky, Noop, Panic, Record};
use nestogy_jobs::maintenance::Vacuum;
use nestogy_jobs::{Job, JobMeta, enqueue};
use serde_json::json;

use crate::common::{TestApp, eventually};

const WAIT: Duration = Duration::from_secs(20);

async fn state_is(app: &TestApp, id: JobId, want: &str) -> bool {
    app.job_state(id).await.0 == want
}

#[tokio::test]
async fn a_flaky_job_succeeds_on_its_third_attempt() {
    let app = TestApp::new().await;
    let worker = app.start_worker();
    let id = enqueue(&app.jobs(), &Flaky { failures: 2 }).await.unwrap();
    eventually("the flaky job to succeed", WAIT, || {
        state_is(&app, id, "succeeded")
    })
    .await;
    let (_, attempts, last_error) = app.job_state(id).await;
    assert_eq!(attempts, 3);
    assert_eq!(last_error.as_deref(), Some("planned failure on attempt 2"));
    worker.stop().await;

    // The worker's figures are in /metrics.
    let m = app
        .call(axum::http::Method::GET, "/metrics", None, None)
        .await;
    let text = m.body.as_str().unwrap().to_owned();
    for series in [
        r#"jobs_enqueued_total{kind="diag.flaky"}"#,
        r#"jobs_started_total{kind="diag.flaky"}"#,
        r#"jobs_failed_total{kind="diag.flaky"}"#,
        r#"jobs_succeeded_total{kind="diag.flaky"}"#,
        "job_duration_seconds_bucket",
        r#"job_enqueue_to_start_seconds_bucket{queue="default""#,
        r#"queue_depth{queue="default""#,
    ] {
        assert!(text.contains(series), "{series} missing from /metrics");
    }
}

/// apalis's panic capture: a handler that panics fails its attempt, which
/// is retried by the job's policy, and the worker goes on.
#[tokio::test]
async fn a_panicking_handler_fails_its_attempt_and_the_next_one_succeeds() {
    let app = TestApp::new().await;
    let worker = app.start_worker();
    let id = enqueue(&app.jobs(), &Panic { times: 1 }).await.unwrap();
    eventually("the job to succeed after its panic", WAIT, || {
        state_is(&app, id, "succeeded")
    })
    .await;
    let (_, attempts, last_error) = app.job_state(id).await;
    assert_eq!(attempts, 2);
    assert_eq!(last_error.as_deref(), Some("the handler panicked"));
    // The same worker runs the next job.
    let next = enqueue(&app.jobs(), &Noop::default()).await.unwrap();
    eventually("the next job to succeed", WAIT, || {
        state_is(&app, next, "succeeded")
    })
    .await;
    worker.stop().await;
}

/// A running worker records its heartbeat for the queue dashboard, with
/// the queues it serves, and keeps it fresh.
#[tokio::test]
async fn a_running_worker_records_its_heartbeat() {
    let app = TestApp::new().await;
    // The worker runs on the system clock: so does the list here.
    app.clock.set(chrono::Utc::now());
    let worker = app.start_worker();
    let db = app.jobs().db;
    eventually("the worker to record its heartbeat", WAIT, || async {
        nestogy_jobs::workers_seen::list(&db)
            .await
            .unwrap()
            .iter()
            .any(|w| w.queues.iter().any(|q| q == "default") && w.pid == std::process::id() as i32)
    })
    .await;
    worker.stop().await;
}

#[tokio::test]
async fn an_always_failing_job_ends_dead_and_retry_replays_it() {
    let app = TestApp::new().await;
    let t = app.tenant("Dead Co").await;
    let worker = app.start_worker();
    let id = enqueue(&app.jobs(), &Fail { tenant: Some(t.id) })
        .await
        .unwrap();
    eventually("the job to die", WAIT, || state_is(&app, id, "dead")).await;
    let job = app.get(&format!("/api/v1/jobs/{id}"), &t.admin).await;
    assert_eq!(job.status, StatusCode::OK);
    assert_eq!(job.body["state"], "dead");
    assert_eq!(job.body["attempts"], 3);
    assert_eq!(job.body["last_error"], "diag.fail fails, attempt 3");
    assert!(job.body["finished_at"].is_string());

    // Cancelling a dead job is refused; retrying replays it.
    assert_eq!(
        app.post(&format!("/api/v1/jobs/{id}/cancel"), &t.admin, json!({}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let retried = app
        .post(&format!("/api/v1/jobs/{id}/retry"), &t.admin, json!({}))
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(retried.body["state"], "queued");
    assert_eq!(retried.body["attempts"], 0);
    eventually("the replayed job to die again", WAIT, || async {
        let (state, attempts, _) = app.job_state(id).await;
        state == "dead" && attempts == 3
    })
    .await;
    // Retrying a job that is not dead is refused.
    let ok = enqueue(&app.jobs(), &Noop { tenant: Some(t.id) })
        .await
        .unwrap();
    eventually("the no-op to succeed", WAIT, || {
        state_is(&app, ok, "succeeded")
    })
    .await;
    let r = app
        .post(&format!("/api/v1/jobs/{ok}/retry"), &t.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "job_not_dead");
    worker.stop().await;
}

#[tokio::test]
async fn a_cancelled_job_never_runs() {
    let app = TestApp::new().await;
    let t = app.tenant("Cancel Co").await;
    // No worker yet: the job waits in the queue.
    let id = enqueue(
        &app.jobs(),
        &Record {
            tenant: Some(t.id),
            sleep_ms: 0,
        },
    )
    .await
    .unwrap();
    let cancelled = app
        .post(&format!("/api/v1/jobs/{id}/cancel"), &t.admin, json!({}))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["state"], "cancelled");
    let other = enqueue(
        &app.jobs(),
        &Record {
            tenant: Some(t.id),
            sleep_ms: 0,
        },
    )
    .await
    .unwrap();

    let worker = app.start_worker();
    eventually("the other job to run", WAIT, || {
        state_is(&app, other, "succeeded")
    })
    .await;
    let queue = app.queue.clone();
    eventually("the queue to empty", WAIT, || async {
        queue.depth(nestogy_jobs::Queue::Default).await.unwrap() == (0, 0)
    })
    .await;
    assert_eq!(app.job_state(id).await.0, "cancelled");
    let effects: i64 = sqlx::query_scalar("SELECT count(*) FROM job_effects WHERE job_id = $1")
        .bind(id)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(effects, 0);
    worker.stop().await;
}

#[tokio::test]
async fn tenants_see_only_their_own_jobs_and_schedules() {
    let app = TestApp::new().await;
    let a = app.tenant("Jobs A").await;
    let b = app.tenant("Jobs B").await;
    let a_job = enqueue(&app.jobs(), &Noop { tenant: Some(a.id) })
        .await
        .unwrap();
    let b_job = enqueue(&app.jobs(), &Noop { tenant: Some(b.id) })
        .await
        .unwrap();
    let platform_job = enqueue(&app.jobs(), &Noop { tenant: None }).await.unwrap();
    let a_sched = app
        .post(
            "/api/v1/schedules",
            &a.admin,
            json!({"name": "ping", "kind": "diag.noop", "cron": "*/5 * * * *"}),
        )
        .await;
    assert_eq!(a_sched.status, StatusCode::CREATED, "{}", a_sched.body);
    let a_sched = a_sched.id();

    let listed = app.get("/api/v1/jobs", &a.admin).await;
    assert_eq!(listed.body["total"], 1);
    assert_eq!(listed.body["data"][0]["id"], a_job.to_string());
    for path in [
        format!("/api/v1/jobs/{b_job}"),
        format!("/api/v1/jobs/{platform_job}"),
        format!("/api/v1/schedules/{a_sched}"),
    ] {
        let as_other = if path.contains("schedules") {
            &b.admin
        } else {
            &a.admin
        };
        assert_eq!(
            app.get(&path, as_other).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for (method, path) in [
        ("POST", format!("/api/v1/jobs/{b_job}/cancel")),
        ("POST", format!("/api/v1/jobs/{b_job}/retry")),
    ] {
        let r = app
            .call(
                method.parse().unwrap(),
                &path,
                Some(&a.admin),
                Some(json!({})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    for (method, path, body) in [
        (
            "PATCH",
            format!("/api/v1/schedules/{a_sched}"),
            Some(json!({"enabled": false})),
        ),
        (
            "POST",
            format!("/api/v1/schedules/{a_sched}/run"),
            Some(json!({})),
        ),
        ("DELETE", format!("/api/v1/schedules/{a_sched}"), None),
    ] {
        let r = app
            .call(method.parse().unwrap(), &path, Some(&b.admin), body)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    assert_eq!(app.job_state(b_job).await.0, "queued", "B's job untouched");
    // B sees its own seven default schedules (billing run, overdue,
    // reminders, mailbox polls, SLA checks, warranty alerts, autopay), not A's.
    let b_list = app.get("/api/v1/schedules", &b.admin).await;
    assert_eq!(
        b_list.body["total"],
        nestogy_domain::platform::schedules::COMPANY_DEFAULTS.len()
    );
    assert!(!b_list.body.to_string().contains(&a_sched));
    let still = app
        .get(&format!("/api/v1/schedules/{a_sched}"), &a.admin)
        .await;
    assert_eq!(still.body["enabled"], true);

    // Filters.
    let none = app.get("/api/v1/jobs?state=dead", &a.admin).await;
    assert_eq!(none.body["total"], 0);
    let by_kind = app
        .get("/api/v1/jobs?kind=diag.noop&state=queued", &a.admin)
        .await;
    assert_eq!(by_kind.body["total"], 1);
    assert_eq!(
        app.get("/api/v1/jobs?state=sleeping", &a.admin)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn schedules_are_validated_and_run_now_enqueues() {
    let app = TestApp::new().await;
    let t = app.tenant("Sched Co").await;
    let bad = app
        .post("/api/v1/schedules", &t.admin, json!({"name": "", "kind": "diag.fail", "cron": "every day", "time_zone": "Nowhere/Land", "payload": []}))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = bad.body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "kind", "cron", "time_zone", "payload"]);

    let created = app
        .post(
            "/api/v1/schedules",
            &t.admin,
            json!({"name": "Nightly", "kind": "diag.record", "cron": "0 2 * * *"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.body["time_zone"], "Europe/Berlin",
        "the company's zone by default"
    );
    // 2026-03-01 12:00 UTC is 13:00 in Berlin: next 02:00 Berlin is 01:00 UTC on the 2nd.
    assert_eq!(created.body["next_fire_at"], "2026-03-02T01:00:00Z");
    let id = created.id();
    let dup = app
        .post(
            "/api/v1/schedules",
            &t.admin,
            json!({"name": "nightly", "kind": "diag.noop", "cron": "0 3 * * *"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);

    let disabled = app
        .patch(
            &format!("/api/v1/schedules/{id}"),
            &t.admin,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(disabled.body["enabled"], false);
    assert!(disabled.body["next_fire_at"].is_null());

    let run = app
        .post(&format!("/api/v1/schedules/{id}/run"), &t.admin, json!({}))
        .await;
    assert_eq!(run.status, StatusCode::ACCEPTED, "{}", run.body);
    let job_id = run.body["job_id"].as_str().unwrap().to_owned();
    let job = app.get(&format!("/api/v1/jobs/{job_id}"), &t.admin).await;
    assert_eq!(job.body["kind"], "diag.record");
    assert_eq!(job.body["payload"]["tenant"], t.id.to_string());

    let tech = app
        .user(&t, nestogy_domain::kernel::roles::Role::Tech)
        .await;
    assert_eq!(
        app.get("/api/v1/schedules", &tech).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/jobs", &tech).await.status,
        StatusCode::FORBIDDEN
    );
}

/// Running each handler twice has the effect of running it once.
#[tokio::test]
async fn every_handler_is_idempotent() {
    let app = TestApp::new().await;
    let ctx = app.jobs();
    let meta = JobMeta {
        id: JobId::new(),
        attempt: 1,
    };

    // diag.record: one effect row however often it runs.
    for _ in 0..2 {
        Record::default().run(ctx.clone(), meta).await.unwrap();
    }
    let (effects, runs): (i64, i32) = sqlx::query_as("SELECT count(*), max(runs) FROM job_effects")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!((effects, runs), (1, 2));

    // diag.noop, diag.flaky and diag.panic change nothing; diag.fail fails the same way.
    for _ in 0..2 {
        assert_eq!(
            Noop::default().run(ctx.clone(), meta).await.unwrap(),
            json!({})
        );
        let r = Flaky { failures: 0 }.run(ctx.clone(), meta).await.unwrap();
        assert_eq!(r["succeeded_on_attempt"], 1);
        let r = Panic { times: 0 }.run(ctx.clone(), meta).await.unwrap();
        assert_eq!(r["succeeded_on_attempt"], 1);
        assert!(Fail::default().run(ctx.clone(), meta).await.is_err());
    }

    // maintenance.vacuum: the second run finds nothing more to delete.
    let old = enqueue(&ctx, &Noop::default()).await.unwrap();
    sqlx::query("UPDATE jobs SET state = 'succeeded', finished_at = $2 WHERE id = $1")
        .bind(old)
        .bind(app.clock_now() - chrono::Duration::days(30))
        .execute(&app.owner)
        .await
        .unwrap();
    let fresh = enqueue(&ctx, &Noop::default()).await.unwrap();
    let first = Vacuum {
        keep_hours: 24,
        keep_dead_hours: 24,
    }
    .run(ctx.clone(), meta)
    .await
    .unwrap();
    let second = Vacuum {
        keep_hours: 24,
        keep_dead_hours: 24,
    }
    .run(ctx.clone(), meta)
    .await
    .unwrap();
    assert_eq!(first["jobs_deleted"], 1);
    assert_eq!(second["jobs_deleted"], 0);
    let left: Vec<JobId> = sqlx::query_scalar("SELECT id FROM jobs")
        .fetch_all(&app.owner)
        .await
        .unwrap();
    assert_eq!(left, [fresh]);
}

/// A job recorded in PostgreSQL whose push to Redis never happened (the
/// enqueuing process died in between) is found and run.
#[tokio::test]
async fn a_job_lost_on_its_way_to_redis_is_queued_again() {
    let app = TestApp::new().await;
    let ctx = app.real_jobs();
    let now = chrono::Utc::now();
    let job = nestogy_jobs::enqueue::Prepared::typed(&Record::default(), now, None).unwrap();
    let id = job.row.id;
    let mut tx = ctx.db.system().await.unwrap();
    let never_pushed = nestogy_jobs::enqueue::record(&mut tx, vec![job], now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    drop(never_pushed);
    sqlx::query("UPDATE jobs SET updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now - chrono::Duration::minutes(5))
        .execute(&app.owner)
        .await
        .unwrap();
    let worker = app.start_worker();
    eventually("the lost job to run", WAIT, || {
        state_is(&app, id, "succeeded")
    })
    .await;
    assert_eq!(app.count("SELECT sum(runs) FROM job_effects").await, 1);
    worker.stop().await;
}

/// The sweeper queues again exactly the waiting jobs Redis does not hold,
/// however many it does hold: 3,000 jobs waiting in Redis for five minutes
/// (a deep backlog) are never pushed twice, 8 lost ones (one due in an hour)
/// are pushed once; after Redis loses everything, all are pushed, a budget
/// at a time, each sweep going on where the last stopped.
#[tokio::test]
async fn the_sweeper_queues_again_only_jobs_absent_from_redis() {
    use nestogy_jobs::Queue;
    use nestogy_workers::{Swept, WorkerConfig, consumer_name, sweep_lost};

    let app = TestApp::new().await;
    let ctx = app.real_jobs();
    app.queue.ensure_groups().await.unwrap();
    let backlog: Vec<Noop> = (0..1000).map(|_| Noop { tenant: None }).collect();
    for _ in 0..3 {
        nestogy_jobs::enqueue_many(&ctx, &backlog).await.unwrap();
    }
    // Lost on their way to Redis: recorded, never pushed.
    let now = chrono::Utc::now();
    let mut lost: Vec<_> = (0..7)
        .map(|_| nestogy_jobs::enqueue::Prepared::typed(&Record::default(), now, None).unwrap())
        .collect();
    lost.push(
        nestogy_jobs::enqueue::Prepared::typed(
            &Record::default(),
            now + chrono::Duration::hours(1),
            None,
        )
        .unwrap(),
    );
    let mut tx = ctx.db.system().await.unwrap();
    let never_pushed = nestogy_jobs::enqueue::record(&mut tx, lost, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    drop(never_pushed);
    sqlx::query("UPDATE jobs SET updated_at = updated_at - interval '5 minutes'")
        .execute(&app.owner)
        .await
        .unwrap();

    let mut cfg = WorkerConfig::new(consumer_name());
    let depth = || async { app.queue.depth(Queue::Default).await.unwrap() };
    assert_eq!(depth().await, (3000, 0));
    let first = sweep_lost(&ctx, &cfg).await.unwrap();
    assert_eq!(
        first,
        Swept {
            examined: 3008,
            requeued: 8
        }
    );
    assert_eq!(
        depth().await,
        (3007, 1),
        "the lost ones, the later one delayed"
    );
    let second = sweep_lost(&ctx, &cfg).await.unwrap();
    assert_eq!(
        second,
        Swept {
            examined: 3008,
            requeued: 0
        }
    );
    assert_eq!(depth().await, (3007, 1), "nothing pushed twice");

    // Redis restarts empty: everything is absent, found 2,000 a sweep.
    crate::processes::redis_forgets_everything(&app).await;
    cfg.sweep_budget = 2000;
    let sweeps = [
        sweep_lost(&ctx, &cfg).await.unwrap(),
        sweep_lost(&ctx, &cfg).await.unwrap(),
        sweep_lost(&ctx, &cfg).await.unwrap(),
    ];
    assert_eq!(
        sweeps,
        [
            Swept {
                examined: 2000,
                requeued: 2000
            },
            Swept {
                examined: 1008,
                requeued: 1008
            },
            Swept {
                examined: 2000,
                requeued: 0
            },
        ]
    );
    assert_eq!(depth().await, (3007, 1));

    // A worker runs each once, the delayed one aside.
    let worker = app.start_worker();
    eventually("the pushed jobs to succeed", WAIT, || async {
        app.count("SELECT count(*) FROM jobs WHERE state = 'succeeded'")
            .await
            == 3007
    })
    .await;
    assert_eq!(app.count("SELECT sum(runs) FROM job_effects").await, 7);
    worker.stop().await;
}

/// Scans of `index` (an index of the jobs table) this database has counted.
async fn index_scans(app: &TestApp, index: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT idx_scan FROM pg_stat_user_indexes WHERE relname = 'jobs' AND indexrelname = $1",
    )
    .bind(index)
    .fetch_one(&app.owner)
    .await
    .unwrap()
}

/// With statistics taken while no job waited (an ANALYZE of a quiet
/// queue), the statements that find jobs by id (the claim, and the
/// sweeper's lookup) still read the primary key. Saying "waiting" as the
/// sweeper's partial index says it made the planner read that index, every
/// waiting job of it, for each batch.
#[tokio::test]
async fn batches_by_id_read_the_primary_key_after_an_analyze_of_a_quiet_queue() {
    use nestogy_jobs::store::{self, NewJob};
    let app = TestApp::new().await;
    let now = app.clock.now();
    let row = || NewJob {
        id: JobId::new(),
        tenant: None,
        kind: "diag.noop".into(),
        queue: "default".into(),
        payload: json!({}),
        max_attempts: 5,
        run_at: now,
        unique_key: None,
    };
    // Finished history, analyzed; then a burst arrives.
    let history: Vec<NewJob> = (0..2000).map(|_| row()).collect();
    let mut tx = app.db.system().await.unwrap();
    store::insert(&mut tx, &history, now).await.unwrap();
    tx.commit().await.unwrap();
    sqlx::query("UPDATE jobs SET state = 'succeeded', finished_at = created_at")
        .execute(&app.owner)
        .await
        .unwrap();
    sqlx::query("ANALYZE jobs")
        .execute(&app.owner)
        .await
        .unwrap();
    let waiting: Vec<NewJob> = (0..5000).map(|_| row()).collect();
    let mut tx = app.db.system().await.unwrap();
    store::insert(&mut tx, &waiting, now).await.unwrap();
    tx.commit().await.unwrap();

    let (pkey, stale) = (
        index_scans(&app, "jobs_pkey").await,
        index_scans(&app, "jobs_stale_idx").await,
    );
    let batches = 8;
    for chunk in waiting.chunks(25).take(batches) {
        let ids: Vec<JobId> = chunk.iter().map(|j| j.id).collect();
        assert_eq!(
            store::waiting_by_ids(&app.db, &ids).await.unwrap().len(),
            25
        );
        assert_eq!(
            store::claim(&app.db, &ids, false, now).await.unwrap().len(),
            25
        );
    }
    // A backend reports its statistics when it goes idle, at most 10 s
    // after its last report (PostgreSQL's PGSTAT_IDLE_INTERVAL).
    eventually(
        "the batches' index scans counted",
        Duration::from_secs(40),
        || async {
            index_scans(&app, "jobs_pkey").await + index_scans(&app, "jobs_stale_idx").await
                >= pkey + stale + 2 * batches as i64
        },
    )
    .await;
    assert_eq!(
        index_scans(&app, "jobs_stale_idx").await,
        stale,
        "a batch by id read the index of waiting jobs"
    );
}
