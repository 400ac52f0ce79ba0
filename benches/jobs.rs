//! Job platform benchmark: end-to-end throughput of 100,000 no-op jobs
//! (enqueue to completion) and enqueue-to-start latency at a steady 1,000
//! jobs/s, against the real PostgreSQL and Redis, with the worker runtime in
//! this process. Run with `make bench-jobs` (which first prints the Redis
//! ceiling from redis-benchmark).

use std::time::{Duration, Instant};

#[path = "support/mod.rs"]
mod support;

use nestogy_domain::Db;
use nestogy_jobs::diag::Noop;
use nestogy_jobs::{JobContext, Queue, enqueue, enqueue_many};
use support::env_or;

async fn succeeded(db: &Db) -> i64 {
    let mut tx = db.system().await.expect("system tx");
    let n = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'")
        .fetch_one(tx.conn())
        .await
        .expect("count");
    tx.commit().await.expect("commit");
    n
}

/// Waits until `n` jobs have succeeded. While jobs remain it polls the
/// stream's length in Redis (one `XLEN`): a settled job's entry is deleted
/// only after its outcome is committed in PostgreSQL, so an empty stream
/// means every enqueued job is recorded. Counting rows instead would scan
/// the jobs table every poll and take a core from the workers it measures.
/// The count in PostgreSQL then confirms it. Returns when the stream was
/// found empty.
async fn wait_for(ctx: &JobContext, n: i64, limit: Duration) -> Instant {
    let deadline = Instant::now() + limit;
    loop {
        let (stream, delayed) = ctx.queue.depth(Queue::Default).await.expect("depth");
        if stream == 0 && delayed == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs did not finish within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let emptied = Instant::now();
    while succeeded(&ctx.db).await < n {
        assert!(
            Instant::now() < deadline,
            "jobs did not finish within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    emptied
}

fn main() {
    support::block_on(run());
}

async fn run() {
    let total: usize = env_or("JOBS", "100000").parse().expect("JOBS");
    let workers: usize = env_or("WORKERS", "2").parse().expect("WORKERS");
    let (_owner, dbh) = support::fresh_database("nestogy_bench_jobs").await;
    let ctx = support::job_context(dbh.clone(), "nestogy_bench_jobs").await;
    let (stop, handles) = support::start_workers(&ctx, workers);

    println!(
        "nestogy job benchmark: {total} no-op jobs, {workers} worker runtimes in this process, {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    // 1. Throughput: enqueue everything in batches while the workers run.
    let batch: Vec<Noop> = (0..1000).map(|_| Noop { tenant: None }).collect();
    let start = Instant::now();
    let mut left = total;
    while left > 0 {
        let n = left.min(batch.len());
        enqueue_many(&ctx, &batch[..n]).await.expect("enqueue");
        left -= n;
    }
    let enqueued = start.elapsed();
    let done = wait_for(&ctx, total as i64, Duration::from_secs(600)).await - start;
    println!(
        "end to end:  {total} jobs in {:.2} s = {:.0} jobs/s (enqueue alone {:.0} jobs/s)",
        done.as_secs_f64(),
        total as f64 / done.as_secs_f64(),
        total as f64 / enqueued.as_secs_f64()
    );

    // 2. Latency at a steady 1,000 jobs/s for 10 s, one enqueue at a time.
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = tokio::task::JoinSet::new();
    let steady = 10_000;
    let t0 = Instant::now();
    for _ in 0..steady {
        tick.tick().await;
        let c = ctx.clone();
        sent.spawn(async move { enqueue(&c, &Noop { tenant: None }).await.expect("enqueue") });
    }
    while sent.join_next().await.is_some() {}
    let rate = steady as f64 / t0.elapsed().as_secs_f64();
    let _ = wait_for(&ctx, (total + steady) as i64, Duration::from_secs(120)).await;
    let mut tx = dbh.system().await.expect("tx");
    let (p50, p99, max): (f64, f64, f64) = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), percentile_cont(0.99) WITHIN GROUP (ORDER BY lag), max(lag) \
         FROM (SELECT (extract(epoch FROM started_at - created_at) * 1000)::float8 AS lag FROM jobs ORDER BY created_at DESC LIMIT $1) l",
    )
    .bind(steady as i64)
    .fetch_one(tx.conn())
    .await
    .expect("percentiles");
    tx.commit().await.expect("commit");
    println!(
        "latency:     enqueue to start at {rate:.0} jobs/s over {steady} jobs: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms"
    );

    support::finish(&ctx, stop, handles).await;
}
