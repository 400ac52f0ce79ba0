use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use nestogy_domain::Db;

use crate::auth::JwtKeys;

/// Everything a handler may reach, shared by every request.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub redis: redis::Client,
    pub jwt: JwtKeys,
    pub metrics: PrometheusHandle,
}

impl AppState {
    pub fn new(db: Db, redis: redis::Client, jwt: JwtKeys, metrics: PrometheusHandle) -> Self {
        Self(Arc::new(Inner {
            db,
            redis,
            jwt,
            metrics,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
