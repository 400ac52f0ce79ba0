use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use nestogy_domain::Db;
use nestogy_jobs::{JobContext, RedisQueue, Services};

use crate::auth::JwtKeys;

/// Everything a handler may reach, shared by every request.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub queue: RedisQueue,
    pub services: Arc<Services>,
    pub jwt: JwtKeys,
    pub metrics: PrometheusHandle,
}

impl AppState {
    pub fn new(jobs: JobContext, jwt: JwtKeys, metrics: PrometheusHandle) -> Self {
        Self(Arc::new(Inner {
            db: jobs.db,
            queue: jobs.queue,
            services: jobs.services,
            jwt,
            metrics,
        }))
    }
}

impl AppState {
    /// What enqueueing needs.
    pub fn jobs(&self) -> JobContext {
        JobContext {
            db: self.db.clone(),
            queue: self.queue.clone(),
            services: self.services.clone(),
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
