//! A poll of a support mailbox running in a `nestogy worker` process:
//! "poll now" through the API wakes it across processes (PostgreSQL
//! NOTIFY), and SIGTERM ends its IMAP IDLE wait at once.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use nestogy_jobs::mailboxes::Poll;
use serde_json::json;

use crate::common::{Proc, TEST_SECRET_KEY, eventually};
use crate::inbound::{Desk, drained_and_requested, message};

#[tokio::test]
async fn poll_now_wakes_the_workers_idle_poll_and_sigterm_ends_its_wait_at_once() {
    let d = Desk::new().await;
    let files = d.app.dir.join("files").display().to_string();
    let mut worker = Proc::spawn(
        &d.app,
        "worker",
        &[
            ("NESTOGY_SECRET_KEY", TEST_SECRET_KEY),
            ("NESTOGY_WORKER_GRACE", "20"),
            ("NESTOGY_OBJECT_STORE", &files),
        ],
    );
    // A scheduled poll that would listen for two minutes.
    let job = nestogy_jobs::enqueue(
        &d.app.real_jobs(),
        &Poll {
            tenant: d.t.id,
            mailbox: d.mailbox,
            idle_secs: Some(120),
        },
    )
    .await
    .expect("enqueue");
    eventually(
        "the worker's poll to listen",
        Duration::from_secs(30),
        || async {
            drained_and_requested(&d.app, d.mailbox).await.0.is_some()
                && d.app.job_state(job).await.0 == "running"
        },
    )
    .await;
    let (first, _) = drained_and_requested(&d.app, d.mailbox).await;

    let r = d
        .app
        .post(
            &format!("/api/v1/mailboxes/{}/poll", d.mailbox),
            &d.t.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["woke_running_poll"], json!(true), "{}", r.body);
    assert_eq!(
        r.body["job_id"],
        json!(job.as_uuid().to_string()),
        "{}",
        r.body
    );
    let asked = Instant::now();
    eventually(
        "the worker's poll to look again",
        Duration::from_secs(5),
        || async {
            let (drained, requested) = drained_and_requested(&d.app, d.mailbox).await;
            drained > first && drained >= requested
        },
    )
    .await;
    println!(
        "poll now served across processes after {:?}",
        asked.elapsed()
    );
    // It goes on listening: new mail becomes a ticket through the same poll.
    d.append(&message(
        "alice@acme.example",
        "Seen by the worker",
        "x",
        "",
    ))
    .await;
    eventually("the ticket", Duration::from_secs(10), || async {
        d.count("SELECT count(*) FROM tickets").await == 1
    })
    .await;
    assert_eq!(d.app.job_state(job).await.0, "running");

    // SIGTERM: the IDLE wait ends at once and the poll finishes, well
    // within the grace; nothing is handed back.
    let stopping = Instant::now();
    worker.signal("TERM");
    let status = worker.exit_status(Duration::from_secs(10)).await;
    let took = stopping.elapsed();
    assert!(status.success(), "{status:?}\n{}", worker.log());
    assert!(
        took < Duration::from_secs(3),
        "stopping took {took:?}\n{}",
        worker.log()
    );
    assert_eq!(
        d.app.job_state(job).await.0,
        "succeeded",
        "{}",
        worker.log()
    );
    assert!(
        !worker.log().contains("handing jobs back"),
        "{}",
        worker.log()
    );
}
