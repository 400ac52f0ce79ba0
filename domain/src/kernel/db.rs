//! Connecting to PostgreSQL and applying migrations.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, PgPool};

/// The role the application runs as. It does not own the tables, so
/// row-level security applies to every query it makes.
pub const APP_ROLE: &str = "nestogy_app"; // keep in step with `connect_app` and the migrations

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The migrations this binary applies, as `(version, checksum)`: what a
/// database built by [`migrate`] holds (a test's template database is named
/// by them, not by the files on disk, which may be newer than the binary).
pub fn migrations() -> impl Iterator<Item = (i64, &'static [u8])> {
    MIGRATOR.iter().map(|m| (m.version, m.checksum.as_ref()))
}

/// How long a pooled connection may sit idle before it is pinged on its
/// next use; see [`connect_app`]. Short, as in HikariCP's bypass window: a
/// busy server reuses its connections within milliseconds and skips the
/// ping, a quiet one pays a round trip it does not feel. The cost of the
/// skipped ping: a connection the server dropped since its last use (a
/// PostgreSQL restart) fails the one request that takes it with a 503 and
/// `Retry-After`, and is replaced when it returns to the pool.
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// A pool for the application: every connection switches to [`APP_ROLE`].
/// One connection is opened first, on its own, so a refusal (too many
/// connections, a failed login) is returned at once as the server's error
/// instead of being retried until the pool's timeout.
pub async fn connect_app(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let opts: PgConnectOptions = url.parse()?;
    PgConnection::connect_with(&opts).await?.close().await?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings every connection as it returns to the pool (which also
        // sends a read's ROLLBACK), so one taken from the pool was alive a
        // moment ago: a ping before each use too would cost every request a
        // round trip. Only a connection idle for longer than
        // [`PING_IDLE_AFTER`] (the server or a firewall may have closed it)
        // is pinged before use; a dead one is replaced, not handed out.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IDLE_AFTER {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute("SET ROLE nestogy_app").await?;
                Ok(())
            })
        })
        .connect_with(opts)
        .await
}

/// A pool as the login role itself (the tables' owner): for migrations and
/// for creating companies, which no tenant may do.
pub async fn connect_owner(url: &str) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
}

/// How many connections PostgreSQL has for the login role of a URL, read
/// on a connection of its own before the pool opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    /// `max_connections`.
    pub max_connections: i64,
    /// Slots only superusers may take (`superuser_reserved_connections`, and
    /// `reserved_connections` from PostgreSQL 16 on).
    pub reserved: i64,
    /// Client connections open now, the probing one not counted.
    pub in_use: i64,
    /// Whether the login role is a superuser (not bound by the reserved
    /// slots nor by connection limits).
    pub superuser: bool,
    /// The login role's `CONNECTION LIMIT`, if it has one and is bound by it,
    /// with its connections open now.
    pub role_limit: Option<(i64, i64)>,
    /// The database's `CONNECTION LIMIT`, likewise.
    pub database_limit: Option<(i64, i64)>,
}

/// Which limit a pool would meet first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Server,
    Role,
    Database,
}

impl Capacity {
    /// The most connections this role may ever hold here at once, and the
    /// limit that sets it.
    pub fn ceiling(&self) -> (i64, Limit) {
        [Limit::Server, Limit::Role, Limit::Database]
            .into_iter()
            .map(|l| (self.limit(l).0, l))
            .min_by_key(|(n, _)| *n)
            .unwrap_or((self.max_connections, Limit::Server))
    }

    /// Connections this role could open now, others' taken away.
    pub fn left(&self) -> i64 {
        [Limit::Server, Limit::Role, Limit::Database]
            .into_iter()
            .map(|l| {
                let (most, used) = self.limit(l);
                most.saturating_sub(used)
            })
            .min()
            .unwrap_or(0)
            .max(0)
    }

    /// A limit's ceiling and the connections counted against it now.
    fn limit(&self, which: Limit) -> (i64, i64) {
        match which {
            Limit::Server if self.superuser => (self.max_connections, self.in_use),
            Limit::Server => (self.max_connections - self.reserved, self.in_use),
            Limit::Role => self.role_limit.unwrap_or((i64::MAX, 0)),
            Limit::Database => self.database_limit.unwrap_or((i64::MAX, 0)),
        }
    }
}

/// Reads [`Capacity`] on one connection of its own (closed after). A
/// refused connection is returned at once as the server's error.
pub async fn capacity(url: &str) -> Result<Capacity, sqlx::Error> {
    let opts: PgConnectOptions = url.parse()?;
    let mut conn = PgConnection::connect_with(&opts).await?;
    // pg_stat_activity lists every backend to every role (some columns
    // hidden); pg_roles and pg_database are readable by all.
    let row: (i64, i64, i64, bool, i32, i64, i32, i64) = sqlx::query_as(
        "SELECT current_setting('max_connections')::int8, \
                current_setting('superuser_reserved_connections')::int8 \
                  + coalesce(current_setting('reserved_connections', true), '0')::int8, \
                (SELECT count(*) FROM pg_stat_activity \
                  WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()), \
                r.rolsuper, r.rolconnlimit, \
                (SELECT count(*) FROM pg_stat_activity \
                  WHERE usename = session_user AND backend_type = 'client backend' AND pid <> pg_backend_pid()), \
                d.datconnlimit, \
                (SELECT count(*) FROM pg_stat_activity \
                  WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()) \
         FROM pg_roles r, pg_database d \
         WHERE r.rolname = session_user AND d.datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    let (max_connections, reserved, in_use, superuser, role_limit, role_used, db_limit, db_used) =
        row;
    let bound = |limit: i32, used: i64| (!superuser && limit >= 0).then_some((limit as i64, used));
    Ok(Capacity {
        max_connections,
        reserved,
        in_use,
        superuser,
        role_limit: bound(role_limit, role_used),
        database_limit: bound(db_limit, db_used),
    })
}

pub async fn migrate(owner: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(owner).await
}
