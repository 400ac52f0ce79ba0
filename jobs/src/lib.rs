//! Jobs: what the workers run, and how work is put on the queue.
//!
//! A job is a small serializable payload (ids, not data) implementing
//! [`Job`]: its kind, its queue, its retry policy, its timeout and an
//! idempotent `run`. [`enqueue_in`] records the job in PostgreSQL (the state
//! people read) in the transaction of the change that causes it, and the
//! [`Enqueued`] it returns pushes it to its [`Queue`] in Redis
//! ([`redis_queue`]) once that transaction commits; see [`enqueue`].
//!
//! Delivery is at least once; every handler must be idempotent.

pub mod accounting;
pub mod assets;
pub mod billing;
pub mod contracts;
pub mod diag;
pub mod documents;
pub mod enqueue;
pub mod envelope;
pub mod handler;
pub mod http;
pub mod imports;
pub mod inbound;
pub mod job;
pub mod mail;
pub mod mailboxes;
pub mod maintenance;
pub mod queue;
pub mod redis_queue;
pub mod registry;
pub mod reports;
pub mod services;
pub mod store;
pub mod stripe;
pub mod tickets;
pub mod webhooks;
pub mod workers_seen;

use std::sync::Arc;

use nestogy_domain::Db;

pub use enqueue::{
    EnqueueError, EnqueueOptions, Enqueued, PendingPush, enqueue, enqueue_in, enqueue_many,
    enqueue_with, push_existing, record_in,
};
pub use job::{Job, JobError, JobMeta, RetryPolicy};
pub use queue::Queue;
pub use redis_queue::{QueueClient, RedisQueue};
pub use registry::enqueue_kind;
pub use services::{IntegrationsConfig, MailConfig, Services, XeroConfig};

/// What a job handler may reach.
#[derive(Clone)]
pub struct JobContext {
    pub db: Db,
    pub queue: RedisQueue,
    pub services: Arc<Services>,
    /// The worker's stop signal: a job that waits (IMAP IDLE) ends its
    /// wait when it fires. Never fires outside a worker.
    pub stop: Stopping,
}

/// Whether the process running a job is stopping (SIGTERM).
#[derive(Clone, Debug, Default)]
pub struct Stopping(Option<tokio::sync::watch::Receiver<bool>>);

impl Stopping {
    /// Follows a worker's stop channel (`true` once stopping).
    pub fn new(rx: tokio::sync::watch::Receiver<bool>) -> Self {
        Stopping(Some(rx))
    }

    pub fn is_stopping(&self) -> bool {
        self.0.as_ref().is_some_and(|rx| *rx.borrow())
    }

    /// Resolves once the process is stopping; never without a signal.
    pub async fn stopped(&self) {
        match &self.0 {
            Some(rx) => {
                let mut rx = rx.clone();
                if rx.wait_for(|s| *s).await.is_err() {
                    // The sender is gone: nobody will ever say stop.
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending().await,
        }
    }
}
