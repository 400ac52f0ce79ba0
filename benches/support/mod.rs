//! What the benchmarks share: a throw-away database, the queue, and worker
//! runtimes inside the benchmark process.

#[allow(dead_code)]
pub mod seed;

use nestogy_domain::{Db, kernel::clock, kernel::db};
use nestogy_jobs::{JobContext, RedisQueue};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Runs a benchmark's body on a multi-threaded runtime.
pub fn block_on(run: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run);
}

/// One figure read from the database (`SELECT count(*) ...`).
#[allow(dead_code)]
pub async fn count(owner: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(owner)
        .await
        .expect("count")
}

pub fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

/// Drops and recreates database `name`, migrates it, and removes the
/// default schedules (they are not part of any measurement). Returns the
/// owner pool and the application's `Db`.
pub async fn fresh_database(name: &str) -> (sqlx::PgPool, Db) {
    use sqlx::{Connection, Executor};
    let admin_url = admin_url();
    let url = database_url(name);
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect");
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await
        .expect("drop");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create");
    let owner = db::connect_owner(&url).await.expect("owner");
    db::migrate(&owner).await.expect("migrate");
    clear_schedules(&owner).await;
    let pool = db::connect_app(&url, 16).await.expect("pool");
    (owner, Db::new(pool, clock::system()))
}

/// The database `name` as the last run left it, its migrations brought up
/// to date (for `REUSE=1`: measuring again without seeding again).
#[allow(dead_code)]
pub async fn existing_database(name: &str) -> (sqlx::PgPool, Db) {
    let url = database_url(name);
    let owner = db::connect_owner(&url).await.expect("owner");
    db::migrate(&owner).await.expect("migrate");
    let pool = db::connect_app(&url, 16).await.expect("pool");
    (owner, Db::new(pool, clock::system()))
}

fn admin_url() -> String {
    env_or(
        "NESTOGY_BENCH_ADMIN_URL",
        "postgres://postgres:postgres@127.0.0.1:5432/postgres",
    )
}

/// The URL of the benchmark's database `name`, for processes of the binary.
#[allow(dead_code)]
pub fn database_url(name: &str) -> String {
    let admin = admin_url();
    let root = admin.rsplit_once('/').expect("url").0;
    format!("{root}/{name}")
}

pub async fn clear_schedules(owner: &sqlx::PgPool) {
    sqlx::query("DELETE FROM schedules")
        .execute(owner)
        .await
        .expect("clear schedules");
}

/// The queue under a prefix of this process's own.
pub async fn job_context(db: Db, name: &str) -> JobContext {
    let prefix = format!("{name}_{}", std::process::id());
    let client =
        redis::Client::open(env_or("REDIS_URL", "redis://127.0.0.1:6379").as_str()).expect("redis");
    let queue = RedisQueue::connect(client, prefix).await.expect("redis");
    queue.ensure_groups().await.expect("groups");
    let dir = std::env::temp_dir().join(format!("nestogy-bench-{name}-{}", std::process::id()));
    let services = nestogy_jobs::Services::new(
        nestogy_domain::kernel::files::Files::from_url(&dir.join("files").display().to_string())
            .expect("object store"),
        nestogy_jobs::MailConfig {
            smtp_url: None,
            outbox: dir.join("outbox"),
            from_address: "bench@nestogy.test".into(),
        },
        // A fixed key: mailbox passwords are sealed with it.
        Some(
            nestogy_domain::kernel::crypto::SecretKey::from_base64(
                "YmVuY2htYXJrIGtleSB0aGF0IGlzIDMyIGJ5dGVzISE=",
            )
            .expect("bench key"),
        ),
        nestogy_jobs::IntegrationsConfig::default(),
    );
    JobContext {
        db,
        queue,
        services,
        stop: Default::default(),
    }
}

/// `n` worker runtimes in this process, until the returned sender says stop.
pub fn start_workers(
    ctx: &JobContext,
    n: usize,
) -> (watch::Sender<bool>, Vec<JoinHandle<anyhow::Result<()>>>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let handles = (0..n)
        .map(|_| {
            let mut rx = stop_rx.clone();
            let mut cfg = nestogy_workers::WorkerConfig::new(nestogy_workers::consumer_name());
            // BENCH_QUEUES=inbound: a worker dedicated to some queues, as
            // NESTOGY_WORKER_QUEUES makes one.
            if let Ok(list) = std::env::var("BENCH_QUEUES") {
                cfg.queues = list
                    .split(',')
                    .filter_map(|n| nestogy_jobs::Queue::parse(n.trim()))
                    .map(|q| (q, q.concurrency()))
                    .collect();
            }
            tokio::spawn(nestogy_workers::run(ctx.clone(), cfg, async move {
                let _ = rx.wait_for(|s| *s).await;
            }))
        })
        .collect();
    (stop_tx, handles)
}

/// Stops the workers and deletes the queue's keys.
pub async fn finish(
    ctx: &JobContext,
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<anyhow::Result<()>>>,
) {
    let _ = stop.send(true);
    for h in handles {
        let _ = h.await;
    }
    let mut conn = ctx
        .queue
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", ctx.queue.prefix()))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}
