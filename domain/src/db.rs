//! Connecting to PostgreSQL and applying migrations.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool};

/// The role the application runs as. It does not own the tables, so
/// row-level security applies to every query it makes.
pub const APP_ROLE: &str = "nestogy_app"; // keep in step with `connect_app` and the migrations

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A pool for the application: every connection switches to [`APP_ROLE`].
pub async fn connect_app(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let opts: PgConnectOptions = url.parse()?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
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

pub async fn migrate(owner: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(owner).await
}
