//! apalis-redis 1.0's own storage on the burst of `benches/jobs.rs`: JOBS
//! no-op jobs (100,000 by default) pushed in batches of 1,000 while one
//! apalis worker runs them (`parallelize(tokio::spawn)`, both cores), on the
//! same Redis in a database of its own (`APALIS_REDIS_URL`, db 14 by
//! default, emptied first). Prints what it achieves, or where and how it
//! fails: a push or the worker's fetch that errors, or no job finishing for
//! 30 s. Part of `make bench-jobs`; the README's "Jobs" section says why
//! this storage is not ours.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

// Only `block_on` and `env_or` of the shared support are used here.
#[allow(dead_code)]
#[path = "support/mod.rs"]
mod support;

use apalis::prelude::*;
use apalis_redis::{Config, RedisStorage};
use support::env_or;

/// A no-op task that counts itself.
async fn noop(_n: u64, done: Data<Arc<AtomicUsize>>) -> Result<(), BoxDynError> {
    done.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn main() {
    support::block_on(run());
}

async fn run() {
    let total: usize = env_or("JOBS", "100000").parse().expect("JOBS");
    let url = env_or("APALIS_REDIS_URL", "redis://127.0.0.1:6379/14");
    let client = redis::Client::open(url.as_str()).expect("APALIS_REDIS_URL");
    let mut admin = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let _: () = redis::cmd("FLUSHDB")
        .query_async(&mut admin)
        .await
        .expect("FLUSHDB");
    let conn = apalis_redis::connect(url.as_str()).await.expect("redis");
    // A short heartbeat: an idle worker otherwise waits up to 30 s to look.
    let config = Config::default()
        .queue("nestogy_bench_apalis_redis")
        .heartbeat_interval(Duration::from_millis(100));
    let mut storage: RedisStorage<u64> = RedisStorage::new(conn).with_config(config);

    let done = Arc::new(AtomicUsize::new(0));
    let worker = WorkerBuilder::new(format!("bench-{}", std::process::id()))
        .backend(storage.clone())
        .data(done.clone())
        .parallelize(tokio::spawn)
        .build(noop);
    let start = Instant::now();
    let mut pushed = 0usize;
    let drive = async {
        let mut push_error = None;
        while pushed < total {
            let n = (total - pushed).min(1000);
            let batch: Vec<u64> = (pushed as u64..(pushed + n) as u64).collect();
            if let Err(e) = storage.push_bulk(batch).await {
                push_error = Some(format!("push of jobs {pushed}..{} failed: {e}", pushed + n));
                break;
            }
            pushed += n;
        }
        let push_time = start.elapsed();
        // Until every pushed job ran, or nothing moved for 30 s.
        let mut last = (0, Instant::now());
        loop {
            let n = done.load(Ordering::Relaxed);
            if n >= pushed {
                return (push_error, None, push_time);
            }
            if n != last.0 {
                last = (n, Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(30) {
                return (
                    push_error,
                    Some("no job finished for 30 s".to_owned()),
                    push_time,
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    // The worker runs beside the pushes; it ends only if it fails.
    let (push_error, stalled, push_time) = tokio::select! {
        r = worker.run() => {
            let why = match r {
                Ok(()) => "the worker stopped".to_owned(),
                Err(e) => format!("the worker failed: {e}"),
            };
            (None, Some(why), start.elapsed())
        }
        r = drive => r,
    };
    let elapsed = start.elapsed();
    let n = done.load(Ordering::Relaxed);
    match (push_error, stalled) {
        (None, None) => println!(
            "apalis-redis: {n} jobs in {:.2} s = {:.0} jobs/s (push alone {:.0} jobs/s)",
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64(),
            n as f64 / push_time.as_secs_f64()
        ),
        (push, why) => println!(
            "apalis-redis: failed after {n} of {total} jobs in {:.2} s: {}",
            elapsed.as_secs_f64(),
            [push, why]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
    let _: () = redis::cmd("FLUSHDB")
        .query_async(&mut admin)
        .await
        .expect("FLUSHDB");
}
