//! Jobs: what the workers run. Each job family gets a module with its
//! payload type (ids, not data), its handler and its idempotency rule.
//!
//! The job platform (queues on Redis, retries, dead set, job state) is the
//! subject of its own issue; until it lands this crate holds the context
//! every handler will receive.

use nestogy_domain::Db;

/// What a job handler may reach.
#[derive(Clone)]
pub struct JobContext {
    pub db: Db,
    pub redis: redis::Client,
}
