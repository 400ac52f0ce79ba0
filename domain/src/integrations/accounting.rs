//! Accounting sync: connections, the external-id map and the sync log.
//!
//! A tenant connects its accounting system (Xero) with OAuth 2; the tokens
//! are sealed at rest. A sync run pushes clients, invoices and payments;
//! [`Link`]s map each of our records to the external one, so a repeated or
//! retried run updates (or skips) instead of creating twice.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::text::text_enum;
use crate::{DomainError, DomainResult, JobId, SyncRunId, TenantId, TenantTx};

/// The one provider built.
pub const XERO: &str = "xero";

text_enum!(
    /// Where a tenant's connection stands.
    ConnectionStatus {
        /// Authorisation started, not (yet) completed.
        Pending = "pending",
        Connected = "connected",
        /// The provider refused our refresh token: connect again.
        NeedsReauth = "needs_reauth",
    }
);

text_enum!(RunStatus {
    Queued = "queued",
    Running = "running",
    /// Rate-limited: the job tries again after the provider's delay.
    Waiting = "waiting",
    Succeeded = "succeeded",
    Failed = "failed",
});

text_enum!(EntityType {
    Client = "client",
    Invoice = "invoice",
    Payment = "payment",
});

text_enum!(ItemAction {
    Created = "created",
    Updated = "updated",
    Skipped = "skipped",
    Failed = "failed",
});

/// A connection as people see it (never its tokens).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Connection {
    pub provider: String,
    pub status: ConnectionStatus,
    /// The organisation connected.
    pub org_name: Option<String>,
    pub connected_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub sales_account_code: String,
    pub payment_account_code: String,
    pub updated_at: DateTime<Utc>,
}

/// A connection with its sealed secrets, for the jobs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectionRow {
    pub id: Uuid,
    pub provider: String,
    pub status: String,
    pub pkce_verifier_sealed: Option<Vec<u8>>,
    pub code_sealed: Option<Vec<u8>>,
    pub access_token_sealed: Option<Vec<u8>>,
    pub refresh_token_sealed: Option<Vec<u8>>,
    pub access_expires_at: Option<DateTime<Utc>>,
    pub external_tenant_id: Option<String>,
    pub org_name: Option<String>,
    pub sales_account_code: String,
    pub payment_account_code: String,
    pub last_error: Option<String>,
    pub connected_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl ConnectionRow {
    pub fn status(&self) -> ConnectionStatus {
        ConnectionStatus::parse(&self.status).unwrap_or(ConnectionStatus::Pending)
    }

    pub fn view(&self) -> Connection {
        Connection {
            provider: self.provider.clone(),
            status: self.status(),
            org_name: self.org_name.clone(),
            connected_at: self.connected_at,
            last_error: self.last_error.clone(),
            sales_account_code: self.sales_account_code.clone(),
            payment_account_code: self.payment_account_code.clone(),
            updated_at: self.updated_at,
        }
    }
}

const CONN_COLUMNS: &str = "id, provider, status, pkce_verifier_sealed, code_sealed, \
    access_token_sealed, refresh_token_sealed, access_expires_at, external_tenant_id, org_name, \
    sales_account_code, payment_account_code, last_error, connected_at, updated_at";

/// The tenant's connection to `provider`.
pub async fn connection(tx: &mut TenantTx, provider: &str) -> DomainResult<Option<ConnectionRow>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CONN_COLUMNS} FROM accounting_connections WHERE company_id = $1 AND provider = $2"
    )))
    .bind(tenant)
    .bind(provider)
    .fetch_optional(tx.conn())
    .await?)
}

/// The connection, locked until the transaction ends: token refreshes go
/// one at a time, so a rotated refresh token is never used twice.
pub async fn connection_for_update(
    tx: &mut TenantTx,
    provider: &str,
) -> DomainResult<Option<ConnectionRow>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CONN_COLUMNS} FROM accounting_connections WHERE company_id = $1 AND provider = $2 \
         FOR UPDATE"
    )))
    .bind(tenant)
    .bind(provider)
    .fetch_optional(tx.conn())
    .await?)
}

/// Records a started authorisation: the state's hash, the sealed PKCE
/// verifier and the state's expiry. A connected tenant stays connected
/// until the new authorisation completes.
pub async fn begin_authorisation(
    tx: &mut TenantTx,
    provider: &str,
    state_hash: &[u8],
    verifier_sealed: &[u8],
    expires_at: DateTime<Utc>,
) -> DomainResult<ConnectionRow> {
    let tenant = tx.tenant();
    let now = tx.now();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO accounting_connections (id, company_id, provider, status, state_hash, \
         pkce_verifier_sealed, state_expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $7) \
         ON CONFLICT (company_id, provider) DO UPDATE SET state_hash = EXCLUDED.state_hash, \
         pkce_verifier_sealed = EXCLUDED.pkce_verifier_sealed, \
         state_expires_at = EXCLUDED.state_expires_at, updated_at = EXCLUDED.updated_at, \
         status = CASE WHEN accounting_connections.status = 'connected' THEN 'connected' ELSE 'pending' END \
         RETURNING {CONN_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(tenant)
    .bind(provider)
    .bind(state_hash)
    .bind(verifier_sealed)
    .bind(expires_at)
    .bind(now)
    .fetch_one(tx.conn())
    .await?)
}

/// The tenant an OAuth callback's state belongs to: the one look-up before
/// the tenant is known.
pub async fn state_tenant(
    pool: &sqlx::PgPool,
    state_hash: &[u8],
) -> DomainResult<Option<TenantId>> {
    Ok(
        sqlx::query_scalar("SELECT company_id FROM accounting_state_tenant($1)")
            .bind(state_hash)
            .fetch_optional(pool)
            .await?,
    )
}

/// Takes the authorisation code of a callback whose state is pending and
/// not expired; the state is used up. False when it is not.
pub async fn accept_code(
    tx: &mut TenantTx,
    state_hash: &[u8],
    code_sealed: &[u8],
) -> DomainResult<bool> {
    let tenant = tx.tenant();
    let now = tx.now();
    let n = sqlx::query(
        "UPDATE accounting_connections SET code_sealed = $3, state_hash = NULL, \
         state_expires_at = NULL, updated_at = $4 \
         WHERE company_id = $1 AND state_hash = $2 AND state_expires_at > $4",
    )
    .bind(tenant)
    .bind(state_hash)
    .bind(code_sealed)
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Tokens a completed authorisation or a refresh got.
pub struct Tokens<'a> {
    pub access_sealed: &'a [u8],
    pub refresh_sealed: &'a [u8],
    pub access_expires_at: DateTime<Utc>,
}

/// Stores the tokens of a completed authorisation: connected.
pub async fn connected(
    tx: &mut TenantTx,
    provider: &str,
    t: Tokens<'_>,
    external_tenant_id: &str,
    org_name: Option<&str>,
) -> DomainResult<()> {
    let tenant = tx.tenant();
    let now = tx.now();
    sqlx::query(
        "UPDATE accounting_connections SET status = 'connected', code_sealed = NULL, \
         pkce_verifier_sealed = NULL, access_token_sealed = $3, refresh_token_sealed = $4, \
         access_expires_at = $5, external_tenant_id = $6, org_name = $7, last_error = NULL, \
         connected_at = $8, updated_at = $8 WHERE company_id = $1 AND provider = $2",
    )
    .bind(tenant)
    .bind(provider)
    .bind(t.access_sealed)
    .bind(t.refresh_sealed)
    .bind(t.access_expires_at)
    .bind(external_tenant_id)
    .bind(org_name)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Stores refreshed tokens (the rotated refresh token replaces the old).
pub async fn refreshed(tx: &mut TenantTx, provider: &str, t: Tokens<'_>) -> DomainResult<()> {
    let tenant = tx.tenant();
    let now = tx.now();
    sqlx::query(
        "UPDATE accounting_connections SET access_token_sealed = $3, refresh_token_sealed = $4, \
         access_expires_at = $5, updated_at = $6 WHERE company_id = $1 AND provider = $2",
    )
    .bind(tenant)
    .bind(provider)
    .bind(t.access_sealed)
    .bind(t.refresh_sealed)
    .bind(t.access_expires_at)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The provider refused our grant: tokens dropped, connect again.
pub async fn needs_reauth(tx: &mut TenantTx, provider: &str, error: &str) -> DomainResult<()> {
    let tenant = tx.tenant();
    let now = tx.now();
    sqlx::query(
        "UPDATE accounting_connections SET status = 'needs_reauth', access_token_sealed = NULL, \
         refresh_token_sealed = NULL, access_expires_at = NULL, code_sealed = NULL, \
         last_error = $3, updated_at = $4 WHERE company_id = $1 AND provider = $2",
    )
    .bind(tenant)
    .bind(provider)
    .bind(error)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Disconnects: the connection and its tokens are deleted (links stay, so
/// reconnecting the same organisation updates rather than duplicates).
pub async fn disconnect(tx: &mut TenantTx, provider: &str) -> DomainResult<()> {
    let tenant = tx.tenant();
    let n =
        sqlx::query("DELETE FROM accounting_connections WHERE company_id = $1 AND provider = $2")
            .bind(tenant)
            .bind(provider)
            .execute(tx.conn())
            .await?
            .rows_affected();
    if n == 0 {
        return Err(DomainError::not_found("accounting connection"));
    }
    Ok(())
}

/// Takes the tenant's sync lease for `run` until `until`: free, expired, or
/// already this run's. False when another run holds it.
pub async fn claim_sync(
    tx: &mut TenantTx,
    provider: &str,
    run: SyncRunId,
    until: DateTime<Utc>,
) -> DomainResult<bool> {
    let tenant = tx.tenant();
    let now = tx.now();
    let n = sqlx::query(
        "UPDATE accounting_connections SET sync_run = $3, sync_lease_until = $4 \
         WHERE company_id = $1 AND provider = $2 \
         AND (sync_run IS NULL OR sync_run = $3 OR sync_lease_until < $5)",
    )
    .bind(tenant)
    .bind(provider)
    .bind(run)
    .bind(until)
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Gives the sync lease back (if `run` holds it).
pub async fn release_sync(tx: &mut TenantTx, provider: &str, run: SyncRunId) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE accounting_connections SET sync_run = NULL, sync_lease_until = NULL \
         WHERE company_id = $1 AND provider = $2 AND sync_run = $3",
    )
    .bind(tenant)
    .bind(provider)
    .bind(run)
    .execute(tx.conn())
    .await?;
    Ok(())
}

// ---- the external-id map ----

/// One of our records as the provider knows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Link {
    pub external_id: String,
    pub content_hash: String,
}

pub async fn link(
    tx: &mut TenantTx,
    provider: &str,
    entity: EntityType,
    id: Uuid,
) -> DomainResult<Option<Link>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT external_id, content_hash FROM accounting_links \
         WHERE company_id = $1 AND provider = $2 AND entity_type = $3 AND entity_id = $4",
    )
    .bind(tenant)
    .bind(provider)
    .bind(entity.as_str())
    .bind(id)
    .fetch_optional(tx.conn())
    .await?)
}

/// Records (or moves) the link of one record after it was pushed.
pub async fn set_link(
    tx: &mut TenantTx,
    provider: &str,
    entity: EntityType,
    id: Uuid,
    external_id: &str,
    hash: &str,
) -> DomainResult<()> {
    let tenant = tx.tenant();
    let now = tx.now();
    sqlx::query(
        "INSERT INTO accounting_links (id, company_id, provider, entity_type, entity_id, \
         external_id, content_hash, synced_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (company_id, provider, entity_type, entity_id) DO UPDATE SET \
         external_id = EXCLUDED.external_id, content_hash = EXCLUDED.content_hash, \
         synced_at = EXCLUDED.synced_at",
    )
    .bind(Uuid::now_v7())
    .bind(tenant)
    .bind(provider)
    .bind(entity.as_str())
    .bind(id)
    .bind(external_id)
    .bind(hash)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

// ---- what a sync pushes ----

/// A client as pushed (a contact).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ClientData {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub tax_id: Option<String>,
}

pub async fn clients_to_sync(tx: &mut TenantTx) -> DomainResult<Vec<ClientData>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT id, name, email, tax_id FROM clients WHERE company_id = $1 ORDER BY id",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?)
}

/// One line of a pushed invoice.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct LineData {
    #[serde(skip)]
    pub invoice_id: Uuid,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
}

/// A finalized, paid or void invoice as pushed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct InvoiceData {
    pub id: Uuid,
    pub client_id: Uuid,
    pub number: String,
    pub status: String,
    pub currency: String,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    #[sqlx(skip)]
    pub lines: Vec<LineData>,
}

impl InvoiceData {
    pub fn is_void(&self) -> bool {
        self.status == "void"
    }
}

pub async fn invoices_to_sync(tx: &mut TenantTx) -> DomainResult<Vec<InvoiceData>> {
    let tenant = tx.tenant();
    let mut invoices: Vec<InvoiceData> = sqlx::query_as(
        "SELECT id, client_id, number, status, currency::text AS currency, issue_date, due_date \
         FROM invoices WHERE company_id = $1 AND status <> 'draft' ORDER BY id",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    let lines: Vec<LineData> = sqlx::query_as(
        "SELECT l.invoice_id, l.description, l.quantity, l.unit_price FROM invoice_lines l \
         JOIN invoices i ON i.id = l.invoice_id \
         WHERE l.company_id = $1 AND i.status <> 'draft' ORDER BY l.invoice_id, l.position",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    let mut by_invoice: std::collections::HashMap<Uuid, Vec<LineData>> = Default::default();
    for l in lines {
        by_invoice.entry(l.invoice_id).or_default().push(l);
    }
    for i in &mut invoices {
        i.lines = by_invoice.remove(&i.id).unwrap_or_default();
    }
    Ok(invoices)
}

/// A payment as pushed: the part applied to its invoice.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PaymentData {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub amount: Decimal,
    pub paid_on: NaiveDate,
    pub reference: Option<String>,
}

pub async fn payments_to_sync(tx: &mut TenantTx) -> DomainResult<Vec<PaymentData>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT id, invoice_id, applied AS amount, paid_on, reference FROM payments \
         WHERE company_id = $1 AND kind = 'payment' AND applied > 0 ORDER BY id",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?)
}

// ---- the sync log ----

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct SyncRun {
    pub id: SyncRunId,
    pub provider: String,
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    /// The job doing it: `GET /api/v1/jobs/{id}`.
    pub job_id: Option<Uuid>,
    pub created: i32,
    pub updated: i32,
    pub skipped: i32,
    pub failed: i32,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct SyncItem {
    pub entity_type: String,
    pub entity_id: Uuid,
    #[sqlx(try_from = "String")]
    pub action: ItemAction,
    pub external_id: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A run with what it did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SyncRunDetail {
    #[serde(flatten)]
    pub run: SyncRun,
    pub items: Vec<SyncItem>,
}

const RUN_COLUMNS: &str = "id, provider, status, job_id, created, updated, skipped, failed, error, \
    started_at, finished_at, created_at";

pub async fn create_run(tx: &mut TenantTx, provider: &str) -> DomainResult<SyncRunId> {
    let id = SyncRunId::new();
    let tenant = tx.tenant();
    let now = tx.now();
    sqlx::query(
        "INSERT INTO accounting_sync_runs (id, company_id, provider, status, created_at) \
         VALUES ($1, $2, $3, 'queued', $4)",
    )
    .bind(id)
    .bind(tenant)
    .bind(provider)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(id)
}

pub async fn set_run_job(tx: &mut TenantTx, id: SyncRunId, job: JobId) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query("UPDATE accounting_sync_runs SET job_id = $3 WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .bind(job.as_uuid())
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn get_run(tx: &mut TenantTx, id: SyncRunId) -> DomainResult<SyncRun> {
    let tenant = tx.tenant();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM accounting_sync_runs WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?
    .ok_or_else(|| DomainError::not_found("sync run"))
}

pub async fn run_detail(tx: &mut TenantTx, id: SyncRunId) -> DomainResult<SyncRunDetail> {
    let run = get_run(tx, id).await?;
    let tenant = tx.tenant();
    let items = sqlx::query_as(
        "SELECT entity_type, entity_id, action, external_id, error, created_at \
         FROM accounting_sync_items WHERE company_id = $1 AND run_id = $2 ORDER BY created_at, id",
    )
    .bind(tenant)
    .bind(id)
    .fetch_all(tx.conn())
    .await?;
    Ok(SyncRunDetail { run, items })
}

/// Runs, newest first.
pub async fn list_runs(tx: &mut TenantTx, page: &PageRequest) -> DomainResult<Page<SyncRun>> {
    let tenant = tx.tenant();
    let rows: Vec<SyncRun> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RUN_COLUMNS} FROM accounting_sync_runs WHERE company_id = $1 \
         AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    )))
    .bind(tenant)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 =
        sqlx::query_scalar("SELECT count(*) FROM accounting_sync_runs WHERE company_id = $1")
            .bind(tenant)
            .fetch_one(tx.conn())
            .await?;
    Ok(Page::from_rows(rows, page, total, |r| Cursor {
        key: String::new(),
        id: r.id.as_uuid(),
    }))
}

/// Sets a run's status (and, when it ends, its end and error).
pub async fn set_run_status(
    tx: &mut TenantTx,
    id: SyncRunId,
    status: RunStatus,
    error: Option<&str>,
) -> DomainResult<()> {
    let tenant = tx.tenant();
    let now = tx.now();
    let ends = matches!(status, RunStatus::Succeeded | RunStatus::Failed);
    sqlx::query(
        "UPDATE accounting_sync_runs SET status = $3, error = $4, \
         started_at = COALESCE(started_at, $5), finished_at = CASE WHEN $6 THEN $5 END \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(status.as_str())
    .bind(error)
    .bind(now)
    .bind(ends)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Logs one item of a run and counts it.
pub async fn record_item(
    tx: &mut TenantTx,
    run: SyncRunId,
    entity: EntityType,
    entity_id: Uuid,
    action: ItemAction,
    external_id: Option<&str>,
    error: Option<&str>,
) -> DomainResult<()> {
    let tenant = tx.tenant();
    let now = tx.now();
    if action != ItemAction::Skipped {
        sqlx::query(
            "INSERT INTO accounting_sync_items (id, company_id, run_id, entity_type, entity_id, \
             action, external_id, error, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(Uuid::now_v7())
        .bind(tenant)
        .bind(run)
        .bind(entity.as_str())
        .bind(entity_id)
        .bind(action.as_str())
        .bind(external_id)
        .bind(error)
        .bind(now)
        .execute(tx.conn())
        .await?;
    }
    let column = match action {
        ItemAction::Created => "created",
        ItemAction::Updated => "updated",
        ItemAction::Skipped => "skipped",
        ItemAction::Failed => "failed",
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE accounting_sync_runs SET {column} = {column} + 1 WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(run)
    .execute(tx.conn())
    .await?;
    Ok(())
}
