//! Liveness, readiness and metrics for operators.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub postgres: &'static str,
    pub redis: &'static str,
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

async fn postgres_ok(s: &AppState) -> bool {
    let q = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&s.db.pool);
    matches!(tokio::time::timeout(CHECK_TIMEOUT, q).await, Ok(Ok(1)))
}

async fn redis_ok(s: &AppState) -> bool {
    let check = async {
        let mut conn = s.queue.client().get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    matches!(tokio::time::timeout(CHECK_TIMEOUT, check).await, Ok(Ok(ref pong)) if pong == "PONG")
}

/// PostgreSQL and Redis are reachable: 200, else 503 naming what is down.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let (pg, rd) = tokio::join!(postgres_ok(&s), redis_ok(&s));
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let status = if pg && rd {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(Readiness {
            status: word(pg && rd),
            postgres: word(pg),
            redis: word(rd),
        }),
    )
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}
