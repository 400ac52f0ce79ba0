//! Command line and environment configuration.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "nestogy",
    version,
    about = "Nestogy: a multi-tenant platform for managed service providers"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// PostgreSQL connection URL. The login role must own the tables (it runs
    /// the migrations) and be a member of the `nestogy_app` role, which the
    /// application switches to so that row-level security applies.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres:postgres@127.0.0.1:5432/nestogy",
        global = true
    )]
    pub database_url: String,

    /// Connections per process in the application's PostgreSQL pool.
    #[arg(
        long,
        env = "NESTOGY_DB_POOL_SIZE",
        default_value_t = 20,
        global = true
    )]
    pub db_pool_size: u32,

    /// Redis connection URL (job queue, readiness): one server
    /// (`redis://host:6379`), or several comma-separated URLs, the seed
    /// nodes of a Redis Cluster (`redis://h1:6379,redis://h2:6379`).
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        global = true
    )]
    pub redis_url: String,

    /// Prefix of every Redis key the job queue uses; processes that share
    /// it share queues.
    #[arg(
        long,
        env = "NESTOGY_REDIS_PREFIX",
        default_value = "nestogy",
        global = true
    )]
    pub redis_prefix: String,

    /// Seconds a stopping worker lets running jobs finish before handing
    /// them back to the queue (it heartbeats them meanwhile). At most the
    /// lease less one heartbeat (two thirds of NESTOGY_JOB_LEASE), so jobs go
    /// back before another worker may take them over; unset, exactly that
    /// (20 with the default lease).
    #[arg(long, env = "NESTOGY_WORKER_GRACE", global = true)]
    pub worker_grace: Option<u64>,

    /// The queues a worker serves, comma-separated (`inbound,mail`); all of
    /// them when unset. Dedicated workers keep one family from taking the
    /// cores of another.
    #[arg(long, env = "NESTOGY_WORKER_QUEUES", global = true)]
    pub worker_queues: Option<String>,

    /// Seconds after which a job held by a worker that stopped heartbeating
    /// (it died) is taken over by another worker; at least 3. Heartbeats come
    /// every third of it.
    #[arg(long, env = "NESTOGY_JOB_LEASE", default_value_t = 30, global = true)]
    pub job_lease: u64,

    /// Most missed ticks the scheduler catches up per schedule after downtime.
    #[arg(
        long,
        env = "NESTOGY_SCHEDULER_MAX_CATCH_UP",
        default_value_t = 1440,
        global = true
    )]
    pub scheduler_max_catch_up: usize,

    /// Address for `/metrics` of a `worker` or `scheduler` process (the API
    /// serves its own). Unset, none.
    #[arg(long, env = "NESTOGY_METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,

    /// Testing aid: a file holding a number of seconds to shift this
    /// process's clock by, re-read as it changes, so several processes share
    /// one moved clock. Unset in production.
    #[arg(long, env = "NESTOGY_CLOCK_OFFSET_FILE", global = true)]
    pub clock_offset_file: Option<String>,

    /// Address the API listens on.
    #[arg(
        long,
        env = "NESTOGY_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: String,

    /// Seconds a connection to the API gets to send a complete request head,
    /// when it opens and between keep-alive requests; past it the
    /// connection is closed (half-sent headers, idle keep-alive sockets).
    #[arg(
        long,
        env = "NESTOGY_HTTP_HEADER_TIMEOUT",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        global = true
    )]
    pub http_header_timeout: u64,

    /// Seconds a request may take, reading its body and answering (504 past it).
    #[arg(
        long,
        env = "NESTOGY_HTTP_REQUEST_TIMEOUT",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        global = true
    )]
    pub http_request_timeout: u64,

    /// Most connections the API serves at once; more wait in the listen
    /// backlog until one closes.
    #[arg(
        long,
        env = "NESTOGY_HTTP_MAX_CONNECTIONS",
        default_value_t = 1024,
        value_parser = clap::value_parser!(u64).range(1..=1_000_000),
        global = true
    )]
    pub http_max_connections: u64,

    /// Secret that signs access tokens (at least 32 bytes). Every API process
    /// must share it. Unset, a random one is made at start: tokens then die
    /// with the process.
    #[arg(
        long,
        env = "NESTOGY_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,

    /// Lifetime of access tokens, in seconds.
    #[arg(
        long,
        env = "NESTOGY_ACCESS_TOKEN_TTL",
        default_value_t = 900,
        global = true
    )]
    pub access_token_ttl: i64,

    /// Where rendered documents are stored: a directory (`file:///var/lib/nestogy/files`
    /// or a bare path) or an S3-compatible bucket (`s3://bucket`, with the
    /// usual `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` and,
    /// for MinIO and friends, `AWS_ENDPOINT` and `AWS_ALLOW_HTTP`). Every
    /// worker and API process must share it.
    #[arg(
        long,
        env = "NESTOGY_OBJECT_STORE",
        default_value = "var/files",
        global = true
    )]
    pub object_store: String,

    /// The default SMTP server for tenants without their own, as a URL:
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://user:pass@host:465`
    /// (TLS), `smtp://host:25` (plain, for a local relay). Unset, mail is
    /// written as .eml files to NESTOGY_MAIL_OUTBOX instead.
    #[arg(long, env = "NESTOGY_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,

    /// The folder mail goes to when no SMTP server is configured.
    #[arg(
        long,
        env = "NESTOGY_MAIL_OUTBOX",
        default_value = "var/outbox",
        global = true
    )]
    pub mail_outbox: String,

    /// The sender address of mail from tenants without their own SMTP
    /// server (the display name is the tenant's name); its domain names our
    /// Message-IDs.
    #[arg(
        long,
        env = "NESTOGY_MAIL_FROM",
        default_value = "billing@nestogy.localhost",
        global = true
    )]
    pub mail_from: String,

    /// 32 random bytes, base64 (`openssl rand -base64 32`): the AES-256-GCM
    /// key tenants' SMTP passwords are encrypted with at rest. Unset,
    /// passwords cannot be stored. Every process must share it.
    #[arg(
        long,
        env = "NESTOGY_SECRET_KEY",
        hide_env_values = true,
        global = true
    )]
    pub secret_key: Option<String>,

    /// This API's public base URL, for OAuth redirects and the return
    /// links of payment pages.
    #[arg(
        long,
        env = "NESTOGY_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub public_url: String,

    /// Reverse proxies whose `X-Forwarded-For` names the client, for
    /// sign-in throttling: addresses or CIDR blocks, comma-separated
    /// (`10.0.0.0/8,fd00::/8`). Unset, the TCP peer is the client.
    #[arg(
        long,
        env = "NESTOGY_TRUSTED_PROXIES",
        default_value = "",
        global = true
    )]
    pub trusted_proxies: String,

    /// Let webhook endpoints target loopback, link-local and private
    /// addresses and plain http. For development and tests only.
    #[arg(long, env = "NESTOGY_WEBHOOKS_ALLOW_PRIVATE", global = true)]
    pub webhooks_allow_private: bool,

    /// Stripe's API base URL.
    #[arg(
        long,
        env = "NESTOGY_STRIPE_API_BASE",
        default_value = "https://api.stripe.com",
        global = true
    )]
    pub stripe_api_base: String,

    /// The platform's Xero app: client id and secret (unset: Xero cannot
    /// be connected) and the API, identity and login base URLs.
    #[arg(long, env = "NESTOGY_XERO_CLIENT_ID", global = true)]
    pub xero_client_id: Option<String>,
    #[arg(
        long,
        env = "NESTOGY_XERO_CLIENT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub xero_client_secret: Option<String>,
    #[arg(
        long,
        env = "NESTOGY_XERO_API_BASE",
        default_value = "https://api.xero.com",
        global = true
    )]
    pub xero_api_base: String,
    #[arg(
        long,
        env = "NESTOGY_XERO_IDENTITY_BASE",
        default_value = "https://identity.xero.com",
        global = true
    )]
    pub xero_identity_base: String,
    #[arg(
        long,
        env = "NESTOGY_XERO_LOGIN_BASE",
        default_value = "https://login.xero.com",
        global = true
    )]
    pub xero_login_base: String,

    /// Log format: `pretty` for a terminal, `json` for collectors; `auto`
    /// picks by whether stderr is a terminal. Levels come from RUST_LOG
    /// (default `info`).
    #[arg(
        long,
        env = "NESTOGY_LOG_FORMAT",
        default_value = "auto",
        global = true
    )]
    pub log_format: LogFormat,
}

/// A worker's lease, heartbeat and grace, coherent: see [`Global::worker_timing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerTiming {
    pub lease: Duration,
    pub heartbeat: Duration,
    pub grace: Duration,
}

impl Global {
    /// The lease, a heartbeat of a third of it, and the grace: as given when
    /// it ends at least one heartbeat before the lease, else an error naming
    /// the variables; unset, the lease less one heartbeat.
    pub fn worker_timing(&self) -> anyhow::Result<WorkerTiming> {
        anyhow::ensure!(
            self.job_lease >= 3,
            "NESTOGY_JOB_LEASE must be at least 3 seconds (it is {})",
            self.job_lease
        );
        let lease = Duration::from_secs(self.job_lease);
        let heartbeat = lease / 3;
        let longest = lease - heartbeat;
        let grace = match self.worker_grace {
            None => longest,
            Some(g) => {
                let grace = Duration::from_secs(g);
                anyhow::ensure!(
                    grace <= longest,
                    "NESTOGY_WORKER_GRACE ({g} s) must end at least one heartbeat ({} s, a third of \
                     NESTOGY_JOB_LEASE) before the lease ({} s) does, or another worker could take \
                     over jobs a stopping worker still runs: set NESTOGY_WORKER_GRACE to at most {} \
                     or NESTOGY_JOB_LEASE to at least {}",
                    secs(heartbeat),
                    self.job_lease,
                    longest.as_secs(),
                    (g * 3).div_ceil(2)
                );
                grace
            }
        };
        Ok(WorkerTiming {
            lease,
            heartbeat,
            grace,
        })
    }
}

fn secs(d: Duration) -> String {
    let s = format!("{:.2}", d.as_secs_f64());
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Auto,
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// API, workers and scheduler in one process (migrates first).
    All,
    /// The HTTP API only.
    Api,
    /// A job worker only; run as many as you like.
    Worker,
    /// The scheduler only; replicas are safe.
    Scheduler,
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Create (or update) a company and its admin user.
    Seed(SeedArgs),
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// The company's name; an existing company of this name is reused.
    #[arg(long, default_value = "Demo MSP")]
    pub company: String,
    /// The admin's e-mail address.
    #[arg(long, default_value = "admin@demo-msp.example")]
    pub admin_email: String,
    /// The admin's password (at least 12 characters). Unset, a fresh one is
    /// generated and printed.
    #[arg(long, env = "NESTOGY_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// The company's IANA time zone, for a new company.
    #[arg(long, default_value = "UTC")]
    pub time_zone: String,
    /// The company's ISO 4217 currency, for a new company.
    #[arg(long, default_value = "USD")]
    pub currency: String,
}

pub fn init_tracing(g: &Global) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match g.log_format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(args: &[&str]) -> anyhow::Result<WorkerTiming> {
        let mut argv = vec!["nestogy"];
        argv.extend_from_slice(args);
        argv.push("worker");
        Cli::try_parse_from(argv).unwrap().global.worker_timing()
    }

    #[test]
    fn the_grace_derives_from_the_lease_and_may_not_reach_it() {
        // Unset variables of the environment would change the defaults.
        if std::env::var_os("NESTOGY_JOB_LEASE").is_some()
            || std::env::var_os("NESTOGY_WORKER_GRACE").is_some()
        {
            return;
        }
        let d = timing(&[]).unwrap();
        assert_eq!(
            (d.lease.as_secs(), d.heartbeat.as_secs(), d.grace.as_secs()),
            (30, 10, 20)
        );
        let short = timing(&["--job-lease", "6"]).unwrap();
        assert_eq!((short.heartbeat.as_secs(), short.grace.as_secs()), (2, 4));
        assert_eq!(
            timing(&["--worker-grace", "20"]).unwrap().grace.as_secs(),
            20
        );
        let e = timing(&["--worker-grace", "30"]).unwrap_err().to_string();
        assert!(
            e.contains("NESTOGY_WORKER_GRACE (30 s)")
                && e.contains("at most 20")
                && e.contains("NESTOGY_JOB_LEASE to at least 45"),
            "{e}"
        );
        assert!(
            timing(&["--job-lease", "2"])
                .unwrap_err()
                .to_string()
                .contains("NESTOGY_JOB_LEASE must be at least 3")
        );
    }
}
