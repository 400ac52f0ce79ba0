//! The test harness: a fresh PostgreSQL database per test (cloned from a
//! migrated template), the real router, real Redis, and a clock the test moves.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::{TimeZone, Utc};
use nestogy_domain::identity::users::NewUser;
use nestogy_domain::kernel::clock::ManualClock;
use nestogy_domain::kernel::roles::Role;
use nestogy_domain::{Db, TenantId, identity::company, identity::users, kernel::db};
use nestogy_jobs::{JobContext, RedisQueue};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery staple";

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn admin_url() -> String {
    std::env::var("NESTOGY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn url_for(db: &str) -> String {
    let base = admin_url();
    let (root, _) = base.rsplit_once('/').expect("database URL has a path");
    format!("{root}/{db}")
}

/// The template database's name carries a hash of the migrations, so a
/// changed migration makes a new template.
fn template_name() -> String {
    use sha2::{Digest, Sha256};
    // The migrations embedded in this test binary, not the files on disk: a
    // binary built before a new migration must not name its template after
    // it (and leave a template without it under that name).
    let mut h = Sha256::new();
    for (version, checksum) in nestogy_domain::kernel::db::migrations() {
        h.update(version.to_be_bytes());
        h.update(checksum);
    }
    format!("nestogy_tpl_{}", &hex::encode(h.finalize())[..12])
}

async fn ensure_template(admin: &mut PgConnection) -> String {
    let name = template_name();
    // One process builds the template; the others wait on the lock.
    admin
        .execute("SELECT pg_advisory_lock(727274)")
        .await
        .expect("lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut *admin)
            .await
            .expect("query pg_database");
    if !exists {
        let building = format!("{name}_building");
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {building} WITH (FORCE)"
            )))
            .await
            .expect("drop half-built template");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {building}")))
            .await
            .expect("create template");
        let owner = db::connect_owner(&url_for(&building))
            .await
            .expect("connect template");
        db::migrate(&owner).await.expect("migrate template");
        owner.close().await;
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {building} RENAME TO {name}"
            )))
            .await
            .expect("publish template");
    }
    admin
        .execute("SELECT pg_advisory_unlock(727274)")
        .await
        .expect("unlock");
    name
}

pub struct TestApp {
    pub router: Router,
    /// The whole site as `nestogy api` serves it: the console under
    /// `/console` in front of [`TestApp::router`]'s API.
    pub web: Router,
    pub db: Db,
    pub owner: PgPool,
    pub clock: Arc<ManualClock>,
    pub queue: RedisQueue,
    pub db_name: String,
    pub services: Arc<nestogy_jobs::Services>,
    /// This test's folder: object store, outbox.
    pub dir: std::path::PathBuf,
}

/// A tenant with a signed-in admin.
#[derive(Clone)]
pub struct Tenant {
    pub id: TenantId,
    pub admin: String,
    pub admin_id: uuid::Uuid,
}

/// Ids of one of each thing a tenant owns that a route names.
pub struct Fixture {
    pub client: String,
    pub contact: String,
    pub location: String,
    pub user: String,
    pub token: String,
    pub schedule: String,
    /// A queued job.
    pub job: String,
    pub tax_rate: String,
    pub product: String,
    pub payment_term: String,
    /// A client with a draft invoice.
    pub billed: String,
    /// A draft invoice.
    pub invoice: String,
    /// A payment of 40.00 on a finalized invoice of 100.00.
    pub payment: String,
    /// That finalized invoice.
    pub open_invoice: String,
    /// A recurring template for `billed`.
    pub template: String,
    pub run: String,
    /// A draft quote.
    pub quote: String,
    /// A ticket without client (its description is its one message).
    pub ticket: String,
    /// An IMAP mailbox (on a port nothing listens on; never polled here).
    pub mailbox: String,
    /// A project of `billed`, with `task`.
    pub project: String,
    pub task: String,
    /// 30 billable minutes of the tech `user` on `project`, at 100 an hour.
    pub time_entry: String,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Response {
    /// Asserts the API's error shape and returns its code.
    pub fn error_code(&self) -> &str {
        let e = &self.body["error"];
        assert!(
            e["message"].is_string(),
            "error without message: {}",
            self.body
        );
        assert!(
            e.get("details").is_some(),
            "error without details: {}",
            self.body
        );
        e["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {}", self.body))
    }

    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.body))
            .to_owned()
    }
}

/// The fields a 422 names, in order.
pub fn fields(r: &Response) -> Vec<String> {
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "want 422, got {}",
        r.body
    );
    assert_eq!(r.error_code(), "validation_failed", "{}", r.body);
    r.body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect()
}

/// The code a 422 gives `field`.
pub fn field_code(r: &Response, field: &str) -> String {
    r.body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == field)
        .unwrap_or_else(|| panic!("{field} not named in {}", r.body))["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The key tenants' secrets are sealed with in tests.
pub const TEST_SECRET_KEY: &str = "dGVzdCBrZXkgdGhhdCBpcyAzMiBieXRlcyBsb25nISE=";

impl TestApp {
    /// A fresh app whose webhooks may target loopback (wiremock).
    pub async fn new() -> TestApp {
        Self::with_integrations(nestogy_jobs::IntegrationsConfig {
            allow_private_targets: true,
            ..Default::default()
        })
        .await
    }

    /// A fresh app talking to the other systems where `integrations` says
    /// (a wiremock server's URL, for one).
    pub async fn with_integrations(integrations: nestogy_jobs::IntegrationsConfig) -> TestApp {
        Self::build(integrations, &redis_url()).await
    }

    /// A fresh app whose queue is the Redis at `redis_url` (one server, or
    /// a cluster's comma-separated nodes).
    pub async fn on_redis(redis_url: &str) -> TestApp {
        Self::build(
            nestogy_jobs::IntegrationsConfig {
                allow_private_targets: true,
                ..Default::default()
            },
            redis_url,
        )
        .await
    }

    async fn build(integrations: nestogy_jobs::IntegrationsConfig, redis_url: &str) -> TestApp {
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("connect as admin");
        let template = ensure_template(&mut admin).await;
        let db_name = format!("nestogy_t_{}", uuid::Uuid::now_v7().simple());
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE {db_name} TEMPLATE {template}"
            )))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let url = url_for(&db_name);
        let pool = db::connect_app(&url, 8).await.expect("app pool");
        let owner = db::connect_owner(&url).await.expect("owner pool");
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap());
        let db = Db::new(pool, clock.clone());
        // As `nestogy api` does: users' states kept, forgotten on NOTIFY.
        nestogy_domain::kernel::user_state::spawn_listener(&db.pool, &db.users);
        let redis = nestogy_jobs::QueueClient::open(redis_url).expect("redis url");
        let queue = RedisQueue::connect(redis, db_name.clone())
            .await
            .expect("redis");
        let jwt = test_jwt_keys();
        let dir = std::env::temp_dir().join("nestogy-tests").join(&db_name);
        let services = nestogy_jobs::Services::new(
            nestogy_domain::kernel::files::Files::from_url(
                &dir.join("files").display().to_string(),
            )
            .expect("object store"),
            nestogy_jobs::MailConfig {
                smtp_url: None,
                outbox: dir.join("outbox"),
                from_address: "billing@nestogy.test".into(),
            },
            Some(
                nestogy_domain::kernel::crypto::SecretKey::from_base64(TEST_SECRET_KEY)
                    .expect("test key"),
            ),
            integrations,
        );
        let state = nestogy_api::AppState::new(
            JobContext {
                db: db.clone(),
                queue: queue.clone(),
                services: services.clone(),
                stop: Default::default(),
            },
            jwt,
            nestogy_api::middleware::metrics_handle(),
        );
        TestApp {
            router: nestogy_api::app(state.clone()),
            web: nestogy_web::app(state),
            db,
            owner,
            clock,
            queue,
            db_name,
            services,
            dir,
        }
    }

    /// The CSRF token a page of a session whose cookie value is `session`
    /// carries for `purpose` (`console`, `portal`).
    pub fn jwt_csrf(&self, purpose: &str, session: &str) -> String {
        test_jwt_keys().csrf_token(purpose, session)
    }

    pub async fn raw(&self, req: Request<Body>) -> Response {
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("router is infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Response {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&b).expect("json"))),
            None => req.body(Body::empty()),
        }
        .expect("request");
        self.raw(req).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    /// Creates a company with an admin (`admin@<slug>.example`) and signs in.
    pub async fn tenant(&self, name: &str) -> Tenant {
        let mut conn = self.owner.acquire().await.expect("owner conn");
        let (c, _) =
            company::create_or_get(&mut conn, name, "Europe/Berlin", "EUR", self.clock_now())
                .await
                .expect("create company");
        drop(conn);
        let email = format!("admin@{}.example", slug(name));
        let mut tx = self.db.tenant(c.id).await.expect("tenant tx");
        let admin = users::upsert_admin(&mut tx, &email, "Admin", PASSWORD.to_owned())
            .await
            .expect("admin");
        tx.commit().await.expect("commit");
        let r = self.login(&email, PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        Tenant {
            id: c.id,
            admin: r.body["access_token"].as_str().expect("token").to_owned(),
            admin_id: admin.id.as_uuid(),
        }
    }

    /// Creates a user with `role` in `tenant` directly and returns a signed-in token.
    pub async fn user(&self, tenant: &Tenant, role: Role) -> String {
        let email = format!(
            "{}-{}@users.example",
            role.as_str(),
            uuid::Uuid::now_v7().simple()
        );
        let mut tx = self.db.tenant(tenant.id).await.expect("tenant tx");
        users::create(
            &mut tx,
            NewUser {
                email: email.clone(),
                name: format!("A {}", role.as_str()),
                role,
                password: PASSWORD.to_owned(),
            },
        )
        .await
        .expect("create user");
        tx.commit().await.expect("commit");
        let r = self.login(&email, PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["access_token"].as_str().expect("token").to_owned()
    }

    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        use nestogy_domain::kernel::clock::Clock;
        self.clock.now()
    }

    /// A client with a contact and a location, a tech user and an API token,
    /// all fresh, created by `admin`.
    pub async fn fixture(&self, admin: &str) -> Fixture {
        let unique = uuid::Uuid::now_v7().simple().to_string();
        let client = self.client(admin, &format!("Client {unique}")).await;
        let contact = self
            .post(
                &format!("/api/v1/clients/{client}/contacts"),
                admin,
                json!({"name": "Ann", "email": "ann@client.example"}),
            )
            .await
            .id();
        let location = self
            .post(
                &format!("/api/v1/clients/{client}/locations"),
                admin,
                json!({"name": "HQ"}),
            )
            .await
            .id();
        let user = self
            .post(
                "/api/v1/users",
                admin,
                json!({"email": format!("tech-{unique}@x.example"), "name": "Tech", "role": "tech", "password": PASSWORD}),
            )
            .await
            .id();
        let token = self
            .post(
                "/api/v1/api-tokens",
                admin,
                json!({"name": "rmm", "scopes": ["clients:read"]}),
            )
            .await
            .id();
        let schedule = self
            .post(
                "/api/v1/schedules",
                admin,
                json!({"name": format!("s {unique}"), "kind": "diag.noop", "cron": "0 3 * * *"}),
            )
            .await
            .id();
        let run = self
            .post(
                &format!("/api/v1/schedules/{schedule}/run"),
                admin,
                json!({}),
            )
            .await;
        let job = run.body["job_id"].as_str().expect("job id").to_owned();
        let tax_rate = self
            .post(
                "/api/v1/tax-rates",
                admin,
                json!({"name": format!("VAT {unique}"), "percent": "19"}),
            )
            .await
            .id();
        let product = self
            .post(
                "/api/v1/products",
                admin,
                json!({"name": format!("Support {unique}"), "unit_price": "95.00", "tax_rate_ids": [tax_rate]}),
            )
            .await
            .id();
        let payment_term = self
            .post(
                "/api/v1/payment-terms",
                admin,
                json!({"name": format!("Net {unique}"), "days": 14}),
            )
            .await
            .id();
        let billed = self.client(admin, &format!("Billed {unique}")).await;
        self.post(
            &format!("/api/v1/clients/{billed}/contacts"),
            admin,
            json!({"name": "Bill", "email": "bill@billed.example", "is_billing": true}),
        )
        .await;
        let invoice = self
            .post(
                "/api/v1/invoices",
                admin,
                json!({"client_id": billed, "lines": [{"product_id": product, "quantity": "2"}]}),
            )
            .await
            .id();
        let paid = self
            .post(
                "/api/v1/invoices",
                admin,
                json!({"client_id": billed, "lines": [{"description": "Work", "quantity": "1", "unit_price": "100"}]}),
            )
            .await
            .id();
        self.post(
            &format!("/api/v1/invoices/{paid}/finalize"),
            admin,
            json!({}),
        )
        .await;
        let payment = self
            .post(
                &format!("/api/v1/invoices/{paid}/payments"),
                admin,
                json!({"amount": "40", "method": "card"}),
            )
            .await;
        let payment = payment.body["payment"]["id"]
            .as_str()
            .expect("payment id")
            .to_owned();
        let template = self
            .post(
                "/api/v1/recurring-invoices",
                admin,
                json!({"client_id": billed, "name": "Monthly", "frequency": {"unit": "months", "every": 1},
                       "start_date": "2026-01-01", "lines": [{"description": "Support", "quantity": "1", "unit_price": "10"}]}),
            )
            .await
            .id();
        let quote = self
            .post(
                "/api/v1/quotes",
                admin,
                json!({"client_id": billed, "lines": [{"description": "Offer", "quantity": "1", "unit_price": "10"}]}),
            )
            .await
            .id();
        let me = self.get("/api/v1/auth/me", admin).await;
        let tenant: TenantId = me.body["company_id"]
            .as_str()
            .expect("company")
            .parse()
            .expect("uuid");
        let run = nestogy_domain::BillingRunId::new();
        let mut tx = self.db.tenant(tenant).await.expect("tx");
        let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).expect("date");
        nestogy_domain::billing::recurring::open_run(&mut tx, run, today, "manual", false)
            .await
            .expect("run");
        tx.commit().await.expect("commit");
        let ticket = self
            .post(
                "/api/v1/tickets",
                admin,
                json!({"subject": format!("Ticket {unique}"), "description": "It broke."}),
            )
            .await
            .id();
        let mailbox = self
            .post(
                "/api/v1/mailboxes",
                admin,
                json!({"name": format!("Support {unique}"), "address": "support@msp.example",
                       "host": "127.0.0.1", "port": 1143, "tls": "none",
                       "username": format!("support-{unique}"), "password": "imap password"}),
            )
            .await
            .id();
        let project = self
            .post(
                "/api/v1/projects",
                admin,
                json!({"client_id": billed, "name": format!("Project {unique}")}),
            )
            .await
            .id();
        let task = self
            .post(
                &format!("/api/v1/projects/{project}/tasks"),
                admin,
                json!({"title": "Cable the office"}),
            )
            .await
            .id();
        let time_entry = self
            .post(
                "/api/v1/time-entries",
                admin,
                json!({"user_id": user, "project_id": project, "minutes": 30,
                       "description": "Planning", "rate": "100"}),
            )
            .await
            .id();
        Fixture {
            client,
            contact,
            location,
            user,
            token,
            schedule,
            job,
            tax_rate,
            product,
            payment_term,
            billed,
            invoice,
            payment,
            open_invoice: paid,
            template,
            run: run.to_string(),
            quote,
            ticket,
            mailbox,
            project,
            task,
            time_entry,
        }
    }

    /// Creates a client and returns its id.
    pub async fn client(&self, token: &str, name: &str) -> String {
        let r = self
            .post("/api/v1/clients", token, json!({"name": name}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.id()
    }
}

pub fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

impl TestApp {
    /// What job code needs, on this test's database and Redis keys.
    pub fn jobs(&self) -> JobContext {
        JobContext {
            db: self.db.clone(),
            queue: self.queue.clone(),
            services: self.services.clone(),
            stop: Default::default(),
        }
    }

    /// The test database's URL (for processes of the binary).
    pub fn database_url(&self) -> String {
        url_for(&self.db_name)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let name = self.db_name.clone();
        // Drop the database on a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                // This test's Redis keys all start with its database name.
                if let Ok(mut conn) = redis::Client::open(redis_url().as_str())
                    .ok()?
                    .get_multiplexed_async_connection()
                    .await
                {
                    let keys: Vec<String> = redis::cmd("KEYS")
                        .arg(format!("{name}:*"))
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: Result<(), _> =
                            redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                    }
                }
                let mut admin = PgConnection::connect(&admin_url()).await.ok()?;
                admin
                    .execute(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// `router` served on a free loopback port by the binary's server (peer
/// addresses and all): its base URL, and the sender that stops it.
pub async fn serve(router: Router) -> (String, tokio::sync::oneshot::Sender<()>) {
    let (listener, _) = listen().await;
    serve_on(listener, router)
}

/// A listener on a free loopback port and its base URL, for a site whose
/// address must be known before it is built (its public URL).
pub async fn listen() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("its address");
    (listener, format!("http://127.0.0.1:{}", addr.port()))
}

/// Serves `router` on `listener` until the sender is used or dropped.
pub fn serve_on(
    listener: tokio::net::TcpListener,
    router: Router,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let addr = listener.local_addr().expect("its address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(nestogy_api::server::serve(
        listener,
        router,
        nestogy_api::server::Limits::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    (format!("http://127.0.0.1:{}", addr.port()), stop)
}

/// Waits until `check` holds, polling, or fails the test after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: std::time::Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A worker running inside the test process, on the system clock.
pub struct InProcessWorker {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcessWorker {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.handle)
            .await
            .expect("worker task")
            .expect("worker run");
    }
}

impl TestApp {
    pub fn start_worker(&self) -> InProcessWorker {
        let ctx = JobContext {
            db: Db::new(
                self.db.pool.clone(),
                nestogy_domain::kernel::clock::system(),
            ),
            queue: self.queue.clone(),
            services: self.services.clone(),
            stop: Default::default(),
        };
        let mut cfg = nestogy_workers::WorkerConfig::new(nestogy_workers::consumer_name());
        cfg.grace = std::time::Duration::from_secs(5);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(nestogy_workers::run(ctx, cfg, async move {
            let _ = rx.await;
        }));
        InProcessWorker {
            stop: Some(tx),
            handle,
        }
    }

    /// A job's state as the API shows it, read directly.
    pub async fn job_state(&self, id: nestogy_domain::JobId) -> (String, i32, Option<String>) {
        sqlx::query_as("SELECT state, attempts, last_error FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&self.owner)
            .await
            .expect("job row")
    }
}

/// A process of the real binary, logging to a file, killed when dropped.
pub struct Proc {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Proc {
    /// Starts `nestogy <role>` against this test's database and Redis keys.
    pub fn spawn(app: &TestApp, role: &str, env: &[(&str, &str)]) -> Proc {
        let log = std::env::temp_dir().join(format!(
            "{}-{role}-{}.log",
            app.db_name,
            uuid::Uuid::now_v7().simple()
        ));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nestogy"));
        cmd.arg(role)
            .env("DATABASE_URL", app.database_url())
            .env("REDIS_URL", redis_url())
            .env("NESTOGY_REDIS_PREFIX", &app.db_name)
            .env("NESTOGY_LOG_FORMAT", "json")
            .env("NESTOGY_DB_POOL_SIZE", "4")
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Proc {
            child: cmd.spawn().expect("start nestogy"),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the process to exit, up to `timeout`.
    pub async fn exit_status(&mut self, timeout: std::time::Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "process did not exit; log:\n{}",
                self.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl TestApp {
    /// Job code on the system clock, as the binary's processes run.
    pub fn real_jobs(&self) -> JobContext {
        JobContext {
            db: Db::new(
                self.db.pool.clone(),
                nestogy_domain::kernel::clock::system(),
            ),
            queue: self.queue.clone(),
            services: self.services.clone(),
            stop: Default::default(),
        }
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.owner)
            .await
            .expect("count query")
    }
}

/// A real SMTP server on loopback (aiosmtpd, `tests/support/smtp_sink.py`)
/// that writes what it accepts to a folder of its own.
pub struct SmtpSink {
    pub port: u16,
    pub dir: std::path::PathBuf,
    child: std::process::Child,
}

impl SmtpSink {
    /// `mode`: `accept`, `tempfail:N` (451 to the first N messages) or
    /// `reject` (550 to all).
    pub fn start(mode: &str) -> SmtpSink {
        use std::io::BufRead;
        let dir = std::env::temp_dir()
            .join("nestogy-smtp")
            .join(uuid::Uuid::now_v7().simple().to_string());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .arg(&dir)
            .arg("--mode")
            .arg(mode)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the SMTP sink (python3 with aiosmtpd: run scripts/services.sh)");
        let stdout = child.stdout.take().expect("sink stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("sink port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the SMTP sink did not print its port: {line:?}"));
        SmtpSink { port, dir, child }
    }

    /// The messages accepted so far, in order (parsed by the sink).
    pub fn messages(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for n in 1.. {
            match std::fs::read(self.dir.join(format!("{n}.json"))) {
                Ok(b) => out.push(serde_json::from_slice(&b).expect("sink record")),
                Err(_) => break,
            }
        }
        out
    }

    /// Waits until at least `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        eventually(
            &format!("{n} messages at the SMTP sink"),
            std::time::Duration::from_secs(30),
            || async { self.messages().len() >= n },
        )
        .await;
        self.messages()
    }

    /// The body for `PUT /api/v1/company/smtp` that sends through this sink.
    pub fn settings(&self) -> Value {
        json!({"host": "127.0.0.1", "port": self.port, "tls": "none",
               "username": "billing", "password": "s3cret-smtp-pass",
               "from_address": "billing@msp.test", "from_name": "MSP Billing"})
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The text of a PDF, by poppler's `pdftotext` (layout kept), and its page count.
/// Sends `t`'s mail through `sink` (`PUT /api/v1/company/smtp`).
pub async fn use_sink(app: &TestApp, t: &Tenant, sink: &SmtpSink) {
    let r = app
        .call(
            Method::PUT,
            "/api/v1/company/smtp",
            Some(&t.admin),
            Some(sink.settings()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

pub fn pdf_text(pdf: &[u8]) -> (String, usize) {
    let dir = std::env::temp_dir().join("nestogy-pdf");
    std::fs::create_dir_all(&dir).expect("pdf dir");
    let path = dir.join(format!("{}.pdf", uuid::Uuid::now_v7().simple()));
    std::fs::write(&path, pdf).expect("write pdf");
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils: run scripts/services.sh)");
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "pdftotext failed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let pages = text.matches('\u{c}').count().max(1);
    (text, pages)
}

impl TestApp {
    /// A GET whose body is returned as bytes (PDFs, images).
    pub async fn get_bytes(&self, path: &str, token: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("router");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, headers, bytes.to_vec())
    }

    /// Runs one job of `J` in this process, as a worker would.
    pub async fn run_job<J: nestogy_jobs::Job>(
        &self,
        job: J,
    ) -> Result<Value, nestogy_jobs::JobError> {
        let meta = nestogy_jobs::JobMeta {
            id: nestogy_domain::JobId::new(),
            attempt: 1,
        };
        job.run(self.jobs(), meta).await
    }

    /// A client with a billing contact; returns its id.
    pub async fn billed_client(&self, token: &str, name: &str, email: &str) -> String {
        let client = self.client(token, name).await;
        let r = self
            .post(
                &format!("/api/v1/clients/{client}/contacts"),
                token,
                json!({"name": "Billing", "email": email, "is_billing": true}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        client
    }

    /// A finalized invoice for `client` with one line; returns its id.
    pub async fn open_invoice(&self, token: &str, client: &str, description: &str) -> String {
        let r = self
            .post(
                "/api/v1/invoices",
                token,
                json!({"client_id": client, "lines": [{"description": description, "quantity": "3", "unit_price": "120.50"}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.id();
        let f = self
            .post(&format!("/api/v1/invoices/{id}/finalize"), token, json!({}))
            .await;
        assert_eq!(f.status, StatusCode::OK, "{}", f.body);
        id
    }
}

/// The signing keys of every test app.
fn test_jwt_keys() -> nestogy_api::JwtKeys {
    nestogy_api::JwtKeys::new(
        b"test secret that is long enough for hs256!",
        chrono::Duration::minutes(15),
    )
}
