//! The worker processes seen lately: each process records a heartbeat
//! ([`beat`]) with its consumer name, host, pid and queues; the queue
//! dashboard lists them ([`list`]). Worker processes are platform
//! infrastructure (they serve every tenant), so these rows carry no tenant
//! data and live outside row-level security. A process silent for over
//! [`FORGET_AFTER`] is forgotten.

use chrono::{DateTime, Duration, Utc};
use nestogy_domain::Db;

use crate::Queue;

/// A worker silent this long is deleted by the next [`beat`] of any worker
/// and is no longer [`list`]ed.
pub const FORGET_AFTER: Duration = Duration::days(1);

/// One worker process as its last heartbeat left it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WorkerSeen {
    /// Its consumer name in Redis: unique per process.
    pub consumer: String,
    pub host: String,
    pub pid: i32,
    /// The queues it serves.
    pub queues: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub last_heartbeat: DateTime<Utc>,
}

/// This machine's host name, as the kernel knows it (`HOSTNAME` first).
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Records a heartbeat of this process (host and pid are its own) at the
/// clock's now, and forgets workers silent for over [`FORGET_AFTER`].
pub async fn beat(
    db: &Db,
    consumer: &str,
    queues: &[Queue],
    started_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let now = db.clock.now();
    let queues: Vec<&str> = queues.iter().map(|q| q.name()).collect();
    let pid = i32::try_from(std::process::id()).unwrap_or(i32::MAX);
    // A platform transaction: only the workers write this table.
    let mut tx = db.system().await?;
    // One round trip: the upsert, and the forgetting of the long silent.
    sqlx::query(
        "WITH forgotten AS (DELETE FROM worker_heartbeats \
             WHERE last_heartbeat < $6 AND consumer <> $1) \
         INSERT INTO worker_heartbeats (consumer, host, pid, queues, started_at, last_heartbeat) \
         VALUES ($1, $2, $3, $4, $5, $7) \
         ON CONFLICT (consumer) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, \
             queues = EXCLUDED.queues, started_at = EXCLUDED.started_at, \
             last_heartbeat = EXCLUDED.last_heartbeat",
    )
    .bind(consumer)
    .bind(host_name())
    .bind(pid)
    .bind(&queues)
    .bind(started_at)
    .bind(now - FORGET_AFTER)
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The workers heard from within [`FORGET_AFTER`], the latest heartbeat first.
pub async fn list(db: &Db) -> Result<Vec<WorkerSeen>, sqlx::Error> {
    let since = db.clock.now() - FORGET_AFTER;
    sqlx::query_as(
        "SELECT consumer, host, pid, queues, started_at, last_heartbeat FROM worker_heartbeats \
         WHERE last_heartbeat >= $1 ORDER BY last_heartbeat DESC, consumer LIMIT 500",
    )
    .bind(since)
    .fetch_all(&db.pool)
    .await
}
