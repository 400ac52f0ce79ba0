//! Outages give true answers and heal quickly: a job recorded while Redis is
//! down is accepted (202 with its id), the first push after Redis comes back
//! goes through at once, and PostgreSQL being unreachable is always a 503
//! with `Retry-After`.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use nestogy_domain::kernel::roles::Role;
use nestogy_domain::{Db, TenantId, UserId};
use nestogy_jobs::{JobContext, Queue, RedisQueue};
use serde_json::json;

use crate::common::{TestApp, eventually};

/// A Redis server of this test's own, to stop and start again.
pub struct LocalRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl LocalRedis {
    pub async fn start() -> LocalRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = LocalRedis { port, child: None };
        r.spawn().await;
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        let url = self.url();
        eventually("the local Redis answers", Duration::from_secs(10), || {
            let url = url.clone();
            async move {
                let Ok(client) = redis::Client::open(url.as_str()) else {
                    return false;
                };
                let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                    return false;
                };
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            }
        })
        .await;
    }

    /// Kills the server (as a crash would) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Down and up again on the same port, empty.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    pub async fn queue(&self, prefix: &str) -> RedisQueue {
        let client = redis::Client::open(self.url().as_str()).unwrap();
        RedisQueue::connect(client, prefix.to_owned())
            .await
            .expect("local redis")
    }

    /// Entries on every queue (stream and delayed set) under `prefix`.
    pub async fn entries(&self, q: &RedisQueue) -> u64 {
        let client = redis::Client::open(self.url().as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut n = 0;
        for queue in Queue::ALL {
            let s: u64 = redis::cmd("XLEN")
                .arg(q.stream_key(queue))
                .query_async(&mut conn)
                .await
                .unwrap();
            let d: u64 = redis::cmd("ZCARD")
                .arg(q.delayed_key(queue))
                .query_async(&mut conn)
                .await
                .unwrap();
            n += s + d;
        }
        n
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn jwt() -> nestogy_api::JwtKeys {
    nestogy_api::JwtKeys::new(
        b"test secret that is long enough for hs256!",
        chrono::Duration::minutes(15),
    )
}

/// Serves `app` over `db` and `queue` instead of its own.
pub(crate) fn rewire(app: &mut TestApp, db: Db, queue: RedisQueue) {
    let state = nestogy_api::AppState::new(
        JobContext {
            db,
            queue: queue.clone(),
            services: app.services.clone(),
            stop: Default::default(),
        },
        jwt(),
        nestogy_api::middleware::metrics_handle(),
    );
    app.router = nestogy_api::app(state);
    app.queue = queue;
}

async fn job_state(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(&app.owner)
        .await
        .expect("the job is recorded")
}

#[tokio::test]
async fn a_job_recorded_while_redis_is_down_is_accepted_at_once_and_the_next_push_after_it_returns_goes_through()
 {
    let mut redis = LocalRedis::start().await;
    let mut app = TestApp::new().await;
    let queue = redis.queue(&app.db_name).await;
    let db = app.db.clone();
    rewire(&mut app, db, queue.clone());
    let t = app.tenant("Redis Down Co").await;
    let s = app
        .post(
            "/api/v1/schedules",
            &t.admin,
            json!({"name": "noop", "kind": "diag.noop", "cron": "0 3 * * *"}),
        )
        .await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.body);
    let run = format!("/api/v1/schedules/{}/run", s.id());

    redis.stop();
    for (path, body) in [
        (run.as_str(), json!({})),
        ("/api/v1/billing-runs", json!({})),
    ] {
        let started = Instant::now();
        let r = app.post(path, &t.admin, body).await;
        let took = started.elapsed();
        assert_eq!(
            r.status,
            StatusCode::ACCEPTED,
            "{path}: a recorded job is accepted: {}",
            r.body
        );
        assert!(
            took < Duration::from_secs(3),
            "{path} answered after {took:?}"
        );
        let id = r.body["job_id"].as_str().expect("job id").to_owned();
        assert_eq!(job_state(&app, &id).await, "queued", "{path}");
    }

    // Redis is back, empty: the first push goes through, at once.
    redis.restart().await;
    let r = app.post(&run, &t.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(
        redis.entries(&queue).await,
        1,
        "the job is on its queue when the API answers"
    );
}

#[tokio::test]
async fn the_scheduler_pushes_at_once_on_the_first_tick_after_redis_restarts() {
    use nestogy_scheduler::{SchedulerConfig, tick};

    let mut redis = LocalRedis::start().await;
    let app = TestApp::new().await;
    let queue = redis.queue(&app.db_name).await;
    let ctx = JobContext {
        db: app.db.clone(),
        queue: queue.clone(),
        services: app.services.clone(),
        stop: Default::default(),
    };
    let t = app.tenant("Broken Pipe Co").await;
    let s = app
        .post(
            "/api/v1/schedules",
            &t.admin,
            json!({"name": "every minute", "kind": "diag.noop", "cron": "* * * * *", "time_zone": "UTC"}),
        )
        .await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.body);
    let cfg = SchedulerConfig::default();

    // The scheduler's connection is up and in use.
    app.clock.advance(chrono::Duration::minutes(1));
    let first = tick(&ctx, &cfg).await.expect("a tick with Redis up");
    assert!(first.fired >= 1);
    assert_eq!(redis.entries(&queue).await, first.fired as u64);

    // Redis restarts under it: its connection is broken ("broken pipe").
    redis.restart().await;
    app.clock.advance(chrono::Duration::minutes(1));
    let next = tick(&ctx, &cfg)
        .await
        .expect("the first tick after Redis returned succeeds");
    assert!(next.fired >= 1, "the minute's schedule fired");
    assert_eq!(
        redis.entries(&queue).await,
        next.fired as u64,
        "every job of that tick is on its queue now, not at a later tick"
    );
}

#[tokio::test]
async fn while_postgresql_cannot_be_reached_every_answer_is_a_503_with_retry_after() {
    let mut app = TestApp::new().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy(&format!("postgres://postgres@127.0.0.1:{port}/nestogy"))
        .unwrap();
    let db = Db::new(pool, app.clock.clone());
    let queue = app.queue.clone();
    rewire(&mut app, db, queue);
    // A well-signed access token: checking its user needs the database.
    let token = jwt()
        .issue(
            TenantId(uuid::Uuid::now_v7()),
            UserId(uuid::Uuid::now_v7()),
            Role::Admin,
            0,
            app.clock_now(),
        )
        .unwrap();

    for (method, path, body) in [
        ("GET", "/api/v1/clients", None),
        ("POST", "/api/v1/clients", Some(json!({"name": "Acme"}))),
        ("POST", "/api/v1/billing-runs", Some(json!({}))),
        ("GET", "/readyz", None),
    ] {
        let r = app
            .call(method.parse().unwrap(), path, Some(&token), body)
            .await;
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{method} {path}: {}",
            r.body
        );
        let retry_after: u64 = r
            .headers
            .get("retry-after")
            .unwrap_or_else(|| panic!("{method} {path} has no Retry-After"))
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=5).contains(&retry_after), "{retry_after}");
        if path != "/readyz" {
            assert_eq!(r.error_code(), "unavailable", "{method} {path}");
        }
    }

    // With an Idempotency-Key, too (the key cannot be taken).
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/billing-runs")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("idempotency-key", "down-1")
        .body(axum::body::Body::from("{}"))
        .unwrap();
    let r = app.raw(req).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.error_code(), "unavailable");
    assert!(r.headers.contains_key("retry-after"));
}
