use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use nestogy_domain::Db;
use nestogy_jobs::{JobContext, RedisQueue, Services};

use crate::auth::JwtKeys;
use crate::client_addr::TrustedProxies;

/// Everything a handler may reach, shared by every request.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub queue: RedisQueue,
    pub services: Arc<Services>,
    pub jwt: JwtKeys,
    pub metrics: PrometheusHandle,
    /// Peers whose `X-Forwarded-For` names the client (none by default).
    pub trusted_proxies: TrustedProxies,
}

impl AppState {
    pub fn new(jobs: JobContext, jwt: JwtKeys, metrics: PrometheusHandle) -> Self {
        Self(Arc::new(Inner {
            db: jobs.db,
            queue: jobs.queue,
            services: jobs.services,
            jwt,
            metrics,
            trusted_proxies: TrustedProxies::default(),
        }))
    }

    /// The same state, believing `X-Forwarded-For` from `proxies`. Call it
    /// while building, before the state is shared.
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        match Arc::get_mut(&mut self.0) {
            Some(inner) => inner.trusted_proxies = proxies,
            None => {
                let i = &self.0;
                self = Self(Arc::new(Inner {
                    db: i.db.clone(),
                    queue: i.queue.clone(),
                    services: i.services.clone(),
                    jwt: i.jwt.clone(),
                    metrics: i.metrics.clone(),
                    trusted_proxies: proxies,
                }));
            }
        }
        self
    }
}

impl AppState {
    /// What enqueueing needs.
    pub fn jobs(&self) -> JobContext {
        JobContext {
            db: self.db.clone(),
            queue: self.queue.clone(),
            services: self.services.clone(),
            stop: Default::default(),
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
