//! Job platform benchmark: end-to-end throughput of 100,000 no-op jobs
//! (enqueue to completion) and enqueue-to-start latency at a steady 1,000
//! jobs/s, against the real PostgreSQL and Redis, with the worker runtime in
//! this process. Run with `make bench-jobs` (which first prints the Redis
//! ceiling from redis-benchmark).

use std::time::{Duration, Instant};

use nestogy_domain::{Db, clock, db};
use nestogy_jobs::diag::Noop;
use nestogy_jobs::{JobContext, RedisQueue, enqueue, enqueue_many};

const ADMIN_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/postgres";

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

async fn succeeded(db: &Db) -> i64 {
    let mut tx = db.system().await.expect("system tx");
    let n = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE state = 'succeeded'")
        .fetch_one(tx.conn())
        .await
        .expect("count");
    tx.commit().await.expect("commit");
    n
}

async fn wait_for(db: &Db, n: i64, limit: Duration) {
    let deadline = Instant::now() + limit;
    while succeeded(db).await < n {
        assert!(
            Instant::now() < deadline,
            "jobs did not finish within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let admin_url = env_or("NESTOGY_BENCH_ADMIN_URL", ADMIN_URL);
    let root = admin_url.rsplit_once('/').expect("url").0.to_owned();
    let db_url = format!("{root}/nestogy_bench_jobs");
    let total: usize = env_or("JOBS", "100000").parse().expect("JOBS");
    let workers: usize = env_or("WORKERS", "2").parse().expect("WORKERS");

    {
        use sqlx::Connection;
        use sqlx::Executor;
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect");
        admin
            .execute("DROP DATABASE IF EXISTS nestogy_bench_jobs WITH (FORCE)")
            .await
            .expect("drop");
        admin
            .execute("CREATE DATABASE nestogy_bench_jobs")
            .await
            .expect("create");
    }
    let owner = db::connect_owner(&db_url).await.expect("owner");
    db::migrate(&owner).await.expect("migrate");
    // The platform schedule is not part of this measurement.
    sqlx::query("DELETE FROM schedules")
        .execute(&owner)
        .await
        .expect("clear schedules");
    let pool = db::connect_app(&db_url, 16).await.expect("pool");
    let dbh = Db::new(pool, clock::system());
    let prefix = format!("nestogy_bench_{}", std::process::id());
    let client =
        redis::Client::open(env_or("REDIS_URL", "redis://127.0.0.1:6379").as_str()).expect("redis");
    let queue = RedisQueue::connect(client, prefix.clone())
        .await
        .expect("redis");
    queue.ensure_groups().await.expect("groups");
    let ctx = JobContext {
        db: dbh.clone(),
        queue: queue.clone(),
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut handles = Vec::new();
    for _ in 0..workers {
        let mut rx = stop_rx.clone();
        let cfg = nestogy_workers::WorkerConfig::new(nestogy_workers::consumer_name());
        handles.push(tokio::spawn(nestogy_workers::run(
            ctx.clone(),
            cfg,
            async move {
                let _ = rx.wait_for(|s| *s).await;
            },
        )));
    }

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
    wait_for(&dbh, total as i64, Duration::from_secs(600)).await;
    let done = start.elapsed();
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
    wait_for(&dbh, (total + steady) as i64, Duration::from_secs(120)).await;
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

    let _ = stop_tx.send(true);
    for h in handles {
        let _ = h.await;
    }
    let mut conn = queue
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}
