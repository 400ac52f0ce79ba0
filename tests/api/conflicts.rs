//! Conflicts between concurrent transactions (deadlocks) are run again at
//! once, not counted as failed attempts with a backoff.

use std::time::Duration;

use crate::common::{TestApp, eventually};

#[tokio::test]
async fn a_job_that_deadlocks_runs_again_at_once_within_its_first_attempt() {
    let app = TestApp::new().await;
    let jobs = app.real_jobs();
    let id = nestogy_jobs::enqueue(&jobs, &nestogy_jobs::diag::Deadlock { times: 2 })
        .await
        .unwrap();
    let worker = app.start_worker();
    eventually("the job to finish", Duration::from_secs(30), || async {
        app.job_state(id).await.0 == "succeeded"
    })
    .await;
    worker.stop().await;
    let (state, attempts, error) = app.job_state(id).await;
    assert_eq!(
        (state.as_str(), attempts, error),
        ("succeeded", 1, None),
        "two real deadlocks, one attempt"
    );
    let runs: i32 = sqlx::query_scalar("SELECT runs FROM job_effects WHERE job_id = $1")
        .bind(id)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(runs, 3);
    assert_eq!(
        app.count("SELECT count(*) FROM job_effects").await,
        1,
        "the rows it deadlocked on are gone"
    );
}
