//! Tenancy: the only way to reach tenant data is a [`TenantTx`], a
//! transaction that has `app.company_id` set for row-level security and
//! carries its [`TenantId`] for the repositories' own `WHERE company_id`.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::kernel::clock::SharedClock;
use crate::kernel::ids::{TenantId, UserId};
use crate::kernel::user_state::UserStateCache;

/// The application's handle on PostgreSQL (as the non-owner app role) and
/// its clock.
#[derive(Clone)]
pub struct Db {
    pub pool: PgPool,
    pub clock: SharedClock,
    /// This process's users' states; see [`crate::kernel::user_state`].
    pub users: Arc<UserStateCache>,
}

impl Db {
    pub fn new(pool: PgPool, clock: SharedClock) -> Self {
        Self {
            pool,
            clock,
            users: Arc::default(),
        }
    }

    /// Opens a transaction scoped to `tenant`. BEGIN and SET LOCAL go to the
    /// server in one round trip. The UUID is formatted by its own type, so
    /// nothing from a request reaches the SQL text.
    ///
    /// Its statements are planned for their parameters each time
    /// (`plan_cache_mode = force_custom_plan`). The lists filter with
    /// optional parameters (`$4::uuid IS NULL OR client_id = $4`), and after
    /// five runs of a prepared statement PostgreSQL may switch to one
    /// generic plan for every value: for the ticket queue at 1,000,000
    /// tickets, that plan scanned and sorted the tenant's tickets (982 ms)
    /// where the plan for the actual filters reads 51 rows of an index
    /// (0.17 ms). Planning these statements costs tens of microseconds.
    pub async fn tenant(&self, tenant: TenantId) -> Result<TenantTx, sqlx::Error> {
        let begin = format!(
            "BEGIN; SELECT set_config('app.company_id', '{}', true); \
             SET LOCAL plan_cache_mode = force_custom_plan",
            tenant.as_uuid().hyphenated()
        );
        let tx = self.pool.begin_with(sqlx::AssertSqlSafe(begin)).await?;
        Ok(TenantTx {
            tx,
            tenant,
            now: self.clock.now(),
            users: self.users.clone(),
            changed_users: Vec::new(),
        })
    }

    /// Opens a platform transaction; see [`SystemTx`].
    pub async fn system(&self) -> Result<SystemTx, sqlx::Error> {
        let tx = self
            .pool
            .begin_with("BEGIN; SELECT set_config('app.system', 'on', true)")
            .await?;
        Ok(SystemTx { tx })
    }

    /// Opens a platform transaction for batches that find jobs by their
    /// primary key (the queue's claims, outcomes and hand-backs), with
    /// sequential scans off (`enable_seqscan = off`): a table that has not
    /// been analyzed yet (a fresh database, or autovacuum off) makes the
    /// planner believe it is tiny, and its plan then scans the whole table
    /// for each batch; at 100,000 jobs that took 9 s per batch instead of a
    /// few milliseconds (`make bench-jobs`). With [`Commit::Async`] the
    /// commit does not wait for its WAL to reach the disk: see [`Commit`].
    /// Everything goes to the server in one round trip.
    pub async fn system_by_id(&self, commit: Commit) -> Result<SystemTx, sqlx::Error> {
        let begin = match commit {
            Commit::Durable => {
                "BEGIN; SELECT set_config('app.system', 'on', true); SET LOCAL enable_seqscan = off"
            }
            Commit::Async => {
                "BEGIN; SELECT set_config('app.system', 'on', true); SET LOCAL enable_seqscan = off; \
                 SET LOCAL synchronous_commit = off"
            }
        };
        let tx = self.pool.begin_with(begin).await?;
        Ok(SystemTx { tx })
    }
}

/// Whether a transaction's commit waits for its WAL to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// It does (the default of every other transaction).
    Durable,
    /// It does not (`synchronous_commit = off`): a crash of PostgreSQL
    /// within a fraction of a second after the commit may undo it. Only for
    /// changes that a later synchronous commit makes durable before anything
    /// outside PostgreSQL depends on them (WAL is written in order), and
    /// whose loss the caller repairs; see the queue's claim.
    Async,
}

/// A transaction of the platform itself (queue bookkeeping, schedules),
/// across tenants. Only the tables whose policies accept `app.system` are
/// visible to it: jobs, schedules, schedule fires. Request paths never open one,
/// but for the console's session lookup by cookie, before the tenant is known
/// ([`crate::identity::web_sessions::find`]).
pub struct SystemTx {
    tx: Transaction<'static, Postgres>,
}

impl SystemTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }

    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

/// A transaction inside one tenant. Repository functions take it, so a
/// query on tenant data without a tenant does not compile.
pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    tenant: TenantId,
    now: chrono::DateTime<chrono::Utc>,
    users: Arc<UserStateCache>,
    /// Users whose role, `active` or token version this transaction changed.
    changed_users: Vec<UserId>,
}

impl TenantTx {
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The clock's "now" when the transaction began: one instant for every
    /// row a request writes.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.now
    }

    /// Commits, then forgets the users this transaction changed in this
    /// process's cache (other processes hear of it by the trigger's NOTIFY).
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        for user in self.changed_users {
            self.users.forget(self.tenant, user);
        }
        Ok(())
    }

    /// Notes that this transaction changes `user`'s role, `active` or token
    /// version: the repository function that changes them calls it.
    pub fn forget_user_state(&mut self, user: UserId) {
        self.changed_users.push(user);
    }

    /// Ends a transaction that only read. It rolls back, and sqlx sends the
    /// ROLLBACK together with the ping it makes when the connection returns
    /// to the pool: one round trip fewer than a COMMIT, off the response path.
    pub fn end_read(self) {
        drop(self.tx);
    }

    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl Deref for TenantTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for TenantTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}
