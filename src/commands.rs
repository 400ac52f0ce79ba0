//! What each subcommand runs: the processes (`api`, `worker`, `scheduler`,
//! or `all` of them in one) and the one-off `migrate` and `seed`.
//! (Named `commands`, after [`Command`], not `roles`: the roles of this
//! code base are users' roles, `nestogy_domain::kernel::roles`.)

use std::sync::Arc;

use anyhow::Context;
use base64::Engine;
use nestogy_domain::{
    Db, identity::company, identity::users, kernel::clock, kernel::db, kernel::secrets,
};
use nestogy_jobs::{JobContext, QueueClient, RedisQueue};
use tokio::sync::watch;

use crate::config::{Cli, Command, Global, SeedArgs};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let g = &cli.global;
    match cli.command {
        Command::Migrate => migrate(g).await,
        Command::Seed(args) => {
            migrate(g).await?;
            seed(g, args).await
        }
        Command::Api => {
            serve(
                g,
                Parts {
                    api: true,
                    worker: false,
                    scheduler: false,
                },
            )
            .await
        }
        Command::Worker => {
            serve(
                g,
                Parts {
                    api: false,
                    worker: true,
                    scheduler: false,
                },
            )
            .await
        }
        Command::Scheduler => {
            serve(
                g,
                Parts {
                    api: false,
                    worker: false,
                    scheduler: true,
                },
            )
            .await
        }
        Command::All => {
            migrate(g).await?;
            serve(
                g,
                Parts {
                    api: true,
                    worker: true,
                    scheduler: true,
                },
            )
            .await
        }
    }
}

async fn migrate(g: &Global) -> anyhow::Result<()> {
    use sqlx::migrate::MigrateDatabase;
    if !sqlx::Postgres::database_exists(&g.database_url)
        .await
        .context("reaching PostgreSQL")?
    {
        sqlx::Postgres::create_database(&g.database_url)
            .await
            .context("creating the database")?;
        tracing::info!("created the database");
    }
    let owner = db::connect_owner(&g.database_url)
        .await
        .context("connecting to PostgreSQL")?;
    db::migrate(&owner).await.context("applying migrations")?;
    owner.close().await;
    tracing::info!("migrations applied");
    Ok(())
}

async fn seed(g: &Global, args: SeedArgs) -> anyhow::Result<()> {
    let owner = db::connect_owner(&g.database_url).await?;
    let clock = clock::system();
    let mut conn = owner.acquire().await?;
    let (company, created) = company::create_or_get(
        &mut conn,
        &args.company,
        &args.time_zone,
        &args.currency,
        clock.now(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e.describe()))?;
    drop(conn);
    let app = db::connect_app(&g.database_url, 2).await?;
    let dbh = Db::new(app, clock);
    let (password, generated) = match args.admin_password {
        Some(p) => (p, false),
        None => (secrets::random_password(), true),
    };
    let mut tx = dbh.tenant(company.id).await?;
    let admin = users::upsert_admin(
        &mut tx,
        &args.admin_email,
        "Administrator",
        password.clone(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e.describe()))?;
    tx.commit().await?;
    println!(
        "{} company \"{}\" ({})",
        if created { "Created" } else { "Updated" },
        company.name,
        company.id
    );
    println!("Admin e-mail:    {}", admin.email);
    if generated {
        println!("Admin password:  {password}");
    } else {
        println!("Admin password:  (as given)");
    }
    Ok(())
}

struct Parts {
    api: bool,
    worker: bool,
    scheduler: bool,
}

fn jwt_secret(g: &Global) -> anyhow::Result<Vec<u8>> {
    match &g.jwt_secret {
        Some(s) if s.len() >= 32 => Ok(s.as_bytes().to_vec()),
        Some(_) => anyhow::bail!("NESTOGY_JWT_SECRET must be at least 32 bytes"),
        None => {
            tracing::warn!(
                "NESTOGY_JWT_SECRET is not set: using a random secret; tokens end with this process \
                 and other API processes will not accept them"
            );
            let random = secrets::random_token(48);
            Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(random)
                .unwrap_or_default())
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown requested");
}

fn clock_for(g: &Global) -> clock::SharedClock {
    match &g.clock_offset_file {
        Some(path) => {
            tracing::warn!(
                path,
                "the clock is shifted by the offset in a file (a testing aid)"
            );
            clock::OffsetFileClock::new(path)
        }
        None => clock::system(),
    }
}

fn services(g: &Global) -> anyhow::Result<std::sync::Arc<nestogy_jobs::Services>> {
    let files = nestogy_domain::kernel::files::Files::from_url(&g.object_store)
        .context("opening the object store (NESTOGY_OBJECT_STORE)")?;
    let secrets = g
        .secret_key
        .as_deref()
        .map(nestogy_domain::kernel::crypto::SecretKey::from_base64)
        .transpose()
        .context("reading NESTOGY_SECRET_KEY")?;
    let mail = nestogy_jobs::MailConfig {
        smtp_url: g.smtp_url.clone().filter(|u| !u.is_empty()),
        outbox: g.mail_outbox.clone().into(),
        from_address: g.mail_from.clone(),
    };
    let integrations = nestogy_jobs::IntegrationsConfig {
        public_url: g.public_url.trim_end_matches('/').to_owned(),
        allow_private_targets: g.webhooks_allow_private,
        stripe_api_base: g.stripe_api_base.trim_end_matches('/').to_owned(),
        xero: nestogy_jobs::XeroConfig {
            client_id: g.xero_client_id.clone().filter(|s| !s.is_empty()),
            client_secret: g.xero_client_secret.clone().filter(|s| !s.is_empty()),
            api_base: g.xero_api_base.trim_end_matches('/').to_owned(),
            identity_base: g.xero_identity_base.trim_end_matches('/').to_owned(),
            login_base: g.xero_login_base.trim_end_matches('/').to_owned(),
        },
        ..Default::default()
    };
    Ok(nestogy_jobs::Services::new(
        files,
        mail,
        secrets,
        integrations,
    ))
}

/// A clear word for a connection PostgreSQL refused (or never answered).
fn refused(e: sqlx::Error) -> anyhow::Error {
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned());
    match code.as_deref() {
        Some("53300") => anyhow::anyhow!(
            "PostgreSQL refused a connection: {e} (SQLSTATE 53300, too_many_connections). \
             Each process holds up to NESTOGY_DB_POOL_SIZE connections: lower it, run fewer \
             processes, or raise max_connections (or the role's or database's CONNECTION LIMIT)"
        ),
        Some(c @ ("28P01" | "28000")) => anyhow::anyhow!(
            "PostgreSQL refused the login: {e} (SQLSTATE {c}): check the user and password of DATABASE_URL"
        ),
        Some("3D000") => anyhow::anyhow!(
            "PostgreSQL has no such database: {e} (SQLSTATE 3D000): run `nestogy migrate`"
        ),
        Some(c) => anyhow::anyhow!("connecting to PostgreSQL: {e} (SQLSTATE {c})"),
        None => anyhow::anyhow!("connecting to PostgreSQL: {e}"),
    }
}

/// Reads what PostgreSQL has room for, logs this process's share, and
/// refuses a pool the server could never give (it would fail with
/// timeouts under load instead).
async fn check_pool(g: &Global, parts: &Parts) -> anyhow::Result<()> {
    let cap = db::capacity(&g.database_url).await.map_err(refused)?;
    let pool = i64::from(g.db_pool_size);
    tracing::info!(
        pool,
        max_connections = cap.max_connections,
        in_use_by_others = cap.in_use,
        reserved_for_superusers = cap.reserved,
        "PostgreSQL pool: {pool} of max_connections {} ({} in use by others, {} reserved for superusers)",
        cap.max_connections,
        cap.in_use,
        cap.reserved
    );
    let (ceiling, limit) = cap.ceiling();
    let what = match limit {
        db::Limit::Server if cap.superuser => "max_connections".to_owned(),
        db::Limit::Server => {
            "max_connections less superuser_reserved_connections (and reserved_connections)"
                .to_owned()
        }
        db::Limit::Role => "the login role's CONNECTION LIMIT".to_owned(),
        db::Limit::Database => "the database's CONNECTION LIMIT".to_owned(),
    };
    anyhow::ensure!(
        pool <= ceiling,
        "NESTOGY_DB_POOL_SIZE is {pool}, but {what} lets this role hold at most {ceiling} \
         connections: lower NESTOGY_DB_POOL_SIZE (see the README's scaling section for N processes)"
    );
    // A worker's mailbox polls hold connections of their own, one per
    // inbound job at once, outside the pool.
    let serves_inbound = parts.worker
        && g.worker_queues.as_deref().is_none_or(|l| {
            l.split(',')
                .any(|n| n.trim() == nestogy_jobs::Queue::Inbound.name())
        });
    let mut extra = if serves_inbound {
        nestogy_jobs::Queue::Inbound.concurrency() as i64
    } else {
        0
    };
    // The API's listener for users' state changes holds one of its own.
    if parts.api {
        extra += 1;
    }
    let left = cap.left();
    if pool + extra > left {
        tracing::warn!(
            pool,
            outside_pool = extra,
            left,
            "PostgreSQL has {left} connections left for this process, which may use {} \
             ({pool} in its pool, {extra} outside it: mailbox polls, the API's user state listener): once they run out, work fails \
             waiting for connections; lower NESTOGY_DB_POOL_SIZE or raise max_connections",
            pool + extra
        );
    }
    Ok(())
}

async fn serve(g: &Global, parts: Parts) -> anyhow::Result<()> {
    // Settings first: a worker whose timing could run a job twice never starts.
    let timing = if parts.worker {
        Some(g.worker_timing()?)
    } else {
        None
    };
    // A test-only knob (NESTOGY_FAILPOINT), read once here; see
    // `nestogy_jobs::enqueue::failpoint`.
    if nestogy_jobs::enqueue::failpoint::init() {
        tracing::warn!(
            "NESTOGY_FAILPOINT=after_commit_before_push: this process aborts at its first push of recorded jobs (tests only)"
        );
    }
    check_pool(g, &parts).await?;
    let pool = db::connect_app(&g.database_url, g.db_pool_size)
        .await
        .map_err(refused)?;
    let dbh = Db::new(pool, clock_for(g));
    let redis = QueueClient::open(&g.redis_url).context("parsing REDIS_URL")?;
    let queue = RedisQueue::connect(redis, g.redis_prefix.clone())
        .await
        .context("connecting to Redis")?;
    let ctx = JobContext {
        db: dbh.clone(),
        queue: queue.clone(),
        services: services(g)?,
        stop: Default::default(),
    };
    let metrics = nestogy_api::middleware::metrics_handle();

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();

    if parts.api {
        let jwt = nestogy_api::JwtKeys::new(
            &jwt_secret(g)?,
            chrono::Duration::seconds(g.access_token_ttl),
        );
        let proxies = nestogy_api::client_addr::TrustedProxies::parse(&g.trusted_proxies)
            .map_err(anyhow::Error::msg)
            .context("reading NESTOGY_TRUSTED_PROXIES")?;
        let state = nestogy_api::AppState::new(ctx.clone(), jwt, metrics.clone())
            .with_trusted_proxies(proxies);
        let listener = tokio::net::TcpListener::bind(&g.bind)
            .await
            .with_context(|| format!("binding {}", g.bind))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "API listening");
        println!("API docs: http://{addr}/docs  (OpenAPI: http://{addr}/api/v1/openapi.json)");
        println!("Console:  http://{addr}/console  (sign in with a user's e-mail and password)");
        // The server gives handlers the peer's address (sign-in throttling).
        // The console under /console; every other path is the API's.
        let app = nestogy_web::app_with_timeout(
            state,
            std::time::Duration::from_secs(g.http_request_timeout),
        );
        let limits = nestogy_api::server::Limits {
            header_timeout: std::time::Duration::from_secs(g.http_header_timeout),
            max_connections: g.http_max_connections as usize,
        };
        // Users' states are kept per process and forgotten on change.
        let (pool, users, stop) = (dbh.pool.clone(), dbh.users.clone(), stopped());
        tasks.spawn(async move {
            nestogy_domain::kernel::user_state::listen(pool, users, stop).await;
            Ok(())
        });
        let stop = stopped();
        tasks.spawn(async move {
            nestogy_api::server::serve(listener, app, limits, stop)
                .await
                .context("serving HTTP")
        });
    }
    if !parts.api
        && let Some(bind) = &g.metrics_bind
    {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding {bind}"))?;
        tracing::info!(addr = %listener.local_addr()?, "metrics listening");
        let handle = metrics.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let h = handle.clone();
                async move { h.render() }
            }),
        );
        let stop = stopped();
        tasks.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
                .context("serving metrics")
        });
    }
    if let Some(timing) = timing {
        let mut cfg = nestogy_workers::WorkerConfig::new(nestogy_workers::consumer_name());
        cfg.grace = timing.grace;
        cfg.lease = timing.lease;
        cfg.heartbeat = timing.heartbeat;
        if let Some(list) = g.worker_queues.as_deref() {
            cfg.queues = worker_queues(list)?;
        }
        let (ctx, stop) = (ctx.clone(), stopped());
        tasks.spawn(async move { nestogy_workers::run(ctx, cfg, stop).await });
    }
    if parts.scheduler {
        let cfg = nestogy_scheduler::SchedulerConfig {
            max_catch_up: g.scheduler_max_catch_up,
            ..Default::default()
        };
        let (ctx, stop) = (ctx.clone(), stopped());
        tasks.spawn(async move { nestogy_scheduler::run(ctx, cfg, stop).await });
    }

    let stop_tx = Arc::new(stop_tx);
    let signal_tx = stop_tx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = signal_tx.send(true);
    });
    let mut result = Ok(());
    while let Some(done) = tasks.join_next().await {
        let outcome = done.context("a task panicked").and_then(|r| r);
        if let Err(e) = outcome {
            tracing::error!(error = %format!("{e:#}"), "a part stopped with an error; shutting down");
            let _ = stop_tx.send(true);
            if result.is_ok() {
                result = Err(e);
            }
        }
    }
    result
}

/// Parses `NESTOGY_WORKER_QUEUES`: queue names, comma-separated, each with
/// its default concurrency.
fn worker_queues(list: &str) -> anyhow::Result<Vec<(nestogy_jobs::Queue, usize)>> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let q = nestogy_jobs::Queue::parse(name).with_context(|| {
            let known: Vec<&str> = nestogy_jobs::Queue::ALL.iter().map(|q| q.name()).collect();
            format!(
                "NESTOGY_WORKER_QUEUES: unknown queue {name:?}; the queues are {}",
                known.join(", ")
            )
        })?;
        if !out.iter().any(|(x, _)| *x == q) {
            out.push((q, q.concurrency()));
        }
    }
    anyhow::ensure!(!out.is_empty(), "NESTOGY_WORKER_QUEUES names no queue");
    Ok(out)
}
