//! Accounting sync jobs: completing a connection (`accounting.connect`) and
//! pushing clients, invoices and payments (`accounting.sync`) through an
//! [`AccountingAdapter`]; Xero is the one built.
//!
//! Idempotence: every pushed record gets a link (our id → theirs, with the
//! hash of what was pushed) committed as soon as the push succeeds. A
//! linked record is updated (or skipped when unchanged), a linked payment
//! never pushed again; so a retried run resumes where it stopped and a run
//! done twice creates nothing twice.

pub mod xero;

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use nestogy_domain::integrations::accounting::{
    self as acc, ClientData, ConnectionRow, ConnectionStatus, EntityType, InvoiceData, ItemAction,
    PaymentData, RunStatus, XERO,
};
use nestogy_domain::kernel::crypto::SecretKey;
use nestogy_domain::{SyncRunId, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Digest;
use uuid::Uuid;

use crate::{Job, JobContext, JobError, JobMeta, Queue, RetryPolicy};
use xero::{TokenError, XeroAdapter};

/// An access token this close to expiry is refreshed before use.
pub const REFRESH_MARGIN: chrono::Duration = chrono::Duration::seconds(60);
/// When another run of the tenant holds the sync lease, try again after this.
pub const BUSY_RETRY: Duration = Duration::from_secs(30);
/// How long an authorisation's state is accepted.
pub const STATE_TTL: chrono::Duration = chrono::Duration::minutes(15);

/// Why a push failed.
#[derive(Debug, Clone)]
pub enum AdapterError {
    /// Too many requests: try again after this.
    RateLimited(Duration),
    /// The provider refused this record (validation): log it, go on.
    Rejected(String),
    /// Our access token was refused.
    Unauthorized(String),
    /// Network, timeouts, 5xx: try the run again later.
    Unavailable(String),
}

/// What the sync needs of an accounting system. Each call takes our record
/// and the external id it has (if any) and returns the external id.
pub trait AccountingAdapter: Send + Sync {
    fn upsert_contact(
        &self,
        client: &ClientData,
        external: Option<&str>,
    ) -> impl Future<Output = Result<String, AdapterError>> + Send;

    fn upsert_invoice(
        &self,
        invoice: &InvoiceData,
        contact_external: &str,
        external: Option<&str>,
    ) -> impl Future<Output = Result<String, AdapterError>> + Send;

    /// Payments are only ever created: a pushed payment is linked and never
    /// sent again.
    fn create_payment(
        &self,
        payment: &PaymentData,
        invoice_external: &str,
    ) -> impl Future<Output = Result<String, AdapterError>> + Send;
}

fn key(ctx: &JobContext) -> Result<&SecretKey, JobError> {
    ctx.services
        .secrets
        .as_ref()
        .ok_or_else(|| JobError::permanent("no secret key is configured to seal tokens with"))
}

fn http(ctx: &JobContext) -> Result<reqwest::Client, JobError> {
    crate::http::client(ctx.services.integrations.http_timeout)
        .map_err(|e| JobError::retry(format!("http client: {e}")))
}

fn open(key: &SecretKey, tenant: TenantId, sealed: Option<&Vec<u8>>) -> Result<String, JobError> {
    let sealed = sealed.ok_or_else(|| JobError::permanent("a token is missing"))?;
    key.open(tenant, sealed)
        .map_err(|_| JobError::permanent("a sealed token does not open with this key"))
}

fn expiry(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::minutes(30))
}

/// Completes a connection: exchanges the callback's code, finds the
/// organisation and stores the tokens sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Connect {
    pub tenant: TenantId,
}

impl Job for Connect {
    const KIND: &'static str = "accounting.connect";
    const QUEUE: Queue = Queue::Billing;

    fn retry_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base: Duration::from_secs(5),
            max_delay: Duration::from_secs(60),
        }
    }

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Idempotent: the code is cleared when the tokens are stored; a second
    /// run finds no code and a connected connection and does nothing.
    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let key = key(&ctx)?;
        let cfg = &ctx.services.integrations;
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let Some(row) = acc::connection_for_update(&mut tx, XERO).await? else {
            return Err(JobError::permanent("no accounting connection"));
        };
        let Some(code) = row.code_sealed.as_ref() else {
            tx.end_read();
            return match row.status() {
                ConnectionStatus::Connected => Ok(json!({ "status": "connected" })),
                s => Err(JobError::permanent(format!(
                    "no authorisation code to exchange (connection {})",
                    s.as_str()
                ))),
            };
        };
        let code = key
            .open(self.tenant, code)
            .map_err(|_| JobError::permanent("the sealed code does not open"))?;
        let verifier = open(key, self.tenant, row.pkce_verifier_sealed.as_ref())?;
        let http = http(&ctx)?;
        let g = match xero::exchange_code(&http, &cfg.xero, &cfg.public_url, &code, &verifier).await
        {
            Ok(g) => g,
            Err(TokenError::InvalidGrant(m)) => {
                acc::needs_reauth(&mut tx, XERO, &m).await?;
                tx.commit().await?;
                return Err(JobError::permanent(format!("Xero refused the code: {m}")));
            }
            Err(TokenError::Other(m)) => return Err(JobError::retry(m)),
        };
        let refresh = g
            .refresh
            .ok_or_else(|| JobError::permanent("Xero gave no refresh token (offline_access)"))?;
        let (org, name) = xero::organisation(&http, &cfg.xero, &g.access)
            .await
            .map_err(adapter_job_error)?;
        let now = tx.now();
        acc::connected(
            &mut tx,
            XERO,
            acc::Tokens {
                access_sealed: &key.seal(self.tenant, &g.access),
                refresh_sealed: &key.seal(self.tenant, &refresh),
                access_expires_at: expiry(now, g.expires_in),
            },
            &org,
            name.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(json!({ "status": "connected", "org_name": name }))
    }
}

fn adapter_job_error(e: AdapterError) -> JobError {
    match e {
        AdapterError::RateLimited(d) => JobError::retry_after("rate limited by Xero", d),
        AdapterError::Rejected(m) => JobError::permanent(m),
        AdapterError::Unauthorized(m) | AdapterError::Unavailable(m) => JobError::retry(m),
    }
}

/// The connection with a usable access token: refreshed first when it
/// expires within [`REFRESH_MARGIN`]. The row is locked while refreshing
/// and the rotated refresh token is stored before the access token is
/// used, so no two refreshes use one refresh token. `invalid_grant` marks
/// the connection `needs_reauth` and fails for good.
pub async fn fresh_connection(
    ctx: &JobContext,
    tenant: TenantId,
) -> Result<(ConnectionRow, String), JobError> {
    let key = key(ctx)?;
    let mut tx = ctx.db.tenant(tenant).await?;
    let Some(row) = acc::connection_for_update(&mut tx, XERO).await? else {
        return Err(JobError::permanent("not connected to Xero"));
    };
    if row.status() != ConnectionStatus::Connected {
        return Err(JobError::permanent(format!(
            "the Xero connection is {}: connect again",
            row.status().as_str()
        )));
    }
    let now = tx.now();
    if row
        .access_expires_at
        .is_some_and(|at| at > now + REFRESH_MARGIN)
    {
        let access = open(key, tenant, row.access_token_sealed.as_ref())?;
        tx.end_read();
        return Ok((row, access));
    }
    let old = open(key, tenant, row.refresh_token_sealed.as_ref())?;
    let cfg = &ctx.services.integrations;
    let g = match xero::refresh(&http(ctx)?, &cfg.xero, &cfg.public_url, &old).await {
        Ok(g) => g,
        Err(TokenError::InvalidGrant(m)) => {
            acc::needs_reauth(&mut tx, XERO, &m).await?;
            tx.commit().await?;
            return Err(JobError::permanent(format!(
                "Xero refused the refresh token ({m}): the connection needs re-authorisation"
            )));
        }
        Err(TokenError::Other(m)) => return Err(JobError::retry(m)),
    };
    // Without a new one the old refresh token stays valid (not Xero's way).
    let refresh = g.refresh.unwrap_or(old);
    acc::refreshed(
        &mut tx,
        XERO,
        acc::Tokens {
            access_sealed: &key.seal(tenant, &g.access),
            refresh_sealed: &key.seal(tenant, &refresh),
            access_expires_at: expiry(now, g.expires_in),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((row, g.access))
}

/// A hash of what a record's push carries (plus what it points to).
fn content_hash(v: &impl Serialize, extra: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(serde_json::to_vec(v).unwrap_or_default());
    h.update(extra.as_bytes());
    hex::encode(h.finalize())
}

/// One sync run of a tenant: clients → contacts, invoices, payments.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSync {
    pub tenant: TenantId,
    pub run: SyncRunId,
}

/// Why a run stopped early.
enum Stop {
    Job(JobError),
}

impl From<JobError> for Stop {
    fn from(e: JobError) -> Self {
        Stop::Job(e)
    }
}

impl From<nestogy_domain::DomainError> for Stop {
    fn from(e: nestogy_domain::DomainError) -> Self {
        Stop::Job(e.into())
    }
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Stop::Job(e.into())
    }
}

/// The outcome of one record's push.
enum Pushed {
    Done(ItemAction, Option<String>, Option<String>),
}

impl Job for RunSync {
    const KIND: &'static str = "accounting.sync";
    const QUEUE: Queue = Queue::Billing;

    fn retry_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_secs(30),
            max_delay: Duration::from_secs(900),
        }
    }

    fn timeout() -> Duration {
        Duration::from_secs(600)
    }

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    async fn run(self, ctx: JobContext, meta: JobMeta) -> Result<serde_json::Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let run = acc::get_run(&mut tx, self.run).await?;
        if matches!(run.status, RunStatus::Succeeded | RunStatus::Failed) {
            tx.end_read();
            return Ok(json!({ "run": self.run, "status": run.status.as_str(), "again": true }));
        }
        let connected = acc::connection(&mut tx, XERO)
            .await?
            .is_some_and(|c| c.status() == ConnectionStatus::Connected);
        if !connected {
            let msg = "Xero is not connected (or needs re-authorisation)";
            acc::set_run_status(&mut tx, self.run, RunStatus::Failed, Some(msg)).await?;
            tx.commit().await?;
            return Err(JobError::permanent(msg));
        }
        let until = tx.now() + chrono::Duration::from_std(Self::timeout()).unwrap_or_default();
        if !acc::claim_sync(&mut tx, XERO, self.run, until).await? {
            let msg = "another sync of this tenant is running";
            acc::set_run_status(&mut tx, self.run, RunStatus::Waiting, Some(msg)).await?;
            tx.commit().await?;
            return Err(JobError::retry_after(msg, BUSY_RETRY));
        }
        acc::set_run_status(&mut tx, self.run, RunStatus::Running, None).await?;
        tx.commit().await?;
        match self.push_all(&ctx).await {
            Ok(()) => {
                let mut tx = ctx.db.tenant(self.tenant).await?;
                acc::release_sync(&mut tx, XERO, self.run).await?;
                acc::set_run_status(&mut tx, self.run, RunStatus::Succeeded, None).await?;
                let run = acc::get_run(&mut tx, self.run).await?;
                tx.commit().await?;
                Ok(json!({
                    "run": self.run, "created": run.created, "updated": run.updated,
                    "skipped": run.skipped, "failed": run.failed,
                }))
            }
            Err(Stop::Job(e)) => {
                // The last attempt, or one no retry can fix, ends the run.
                let ends = !e.retryable || meta.attempt >= Self::retry_policy().max_attempts;
                let status = if ends {
                    RunStatus::Failed
                } else {
                    RunStatus::Waiting
                };
                let mut tx = ctx.db.tenant(self.tenant).await?;
                acc::release_sync(&mut tx, XERO, self.run).await?;
                acc::set_run_status(&mut tx, self.run, status, Some(&e.message)).await?;
                tx.commit().await?;
                Err(e)
            }
        }
    }
}

impl RunSync {
    async fn push_all(&self, ctx: &JobContext) -> Result<(), Stop> {
        let (conn, access) = fresh_connection(ctx, self.tenant).await?;
        let adapter = XeroAdapter {
            http: http(ctx)?,
            api_base: ctx.services.integrations.xero.api_base.clone(),
            access_token: access,
            xero_tenant: conn
                .external_tenant_id
                .clone()
                .ok_or_else(|| JobError::permanent("no Xero organisation on the connection"))?,
            sales_account: conn.sales_account_code.clone(),
            payment_account: conn.payment_account_code.clone(),
        };
        let settings = format!("{}|{}", conn.sales_account_code, conn.payment_account_code);

        let mut tx = ctx.db.tenant(self.tenant).await?;
        let clients = acc::clients_to_sync(&mut tx).await?;
        tx.end_read();
        for c in &clients {
            self.push(ctx, EntityType::Client, c.id, content_hash(c, ""), |ext| {
                let adapter = &adapter;
                async move { adapter.upsert_contact(c, ext.as_deref()).await }
            })
            .await?;
        }

        let mut tx = ctx.db.tenant(self.tenant).await?;
        let invoices = acc::invoices_to_sync(&mut tx).await?;
        tx.end_read();
        for i in &invoices {
            let mut tx = ctx.db.tenant(self.tenant).await?;
            let contact = acc::link(&mut tx, XERO, EntityType::Client, i.client_id).await?;
            tx.end_read();
            let Some(contact) = contact else {
                self.log(
                    ctx,
                    EntityType::Invoice,
                    i.id,
                    ItemAction::Failed,
                    None,
                    Some("its client is not synced"),
                )
                .await?;
                continue;
            };
            let hash = content_hash(i, &format!("{}|{settings}", contact.external_id));
            self.push(ctx, EntityType::Invoice, i.id, hash, |ext| {
                let adapter = &adapter;
                let contact = contact.external_id.clone();
                async move { adapter.upsert_invoice(i, &contact, ext.as_deref()).await }
            })
            .await?;
        }

        let mut tx = ctx.db.tenant(self.tenant).await?;
        let payments = acc::payments_to_sync(&mut tx).await?;
        tx.end_read();
        for p in &payments {
            let mut tx = ctx.db.tenant(self.tenant).await?;
            let mine = acc::link(&mut tx, XERO, EntityType::Payment, p.id).await?;
            let invoice = acc::link(&mut tx, XERO, EntityType::Invoice, p.invoice_id).await?;
            tx.end_read();
            if mine.is_some() {
                // Never twice: a pushed payment stays as pushed.
                self.log(
                    ctx,
                    EntityType::Payment,
                    p.id,
                    ItemAction::Skipped,
                    None,
                    None,
                )
                .await?;
                continue;
            }
            let Some(invoice) = invoice else {
                self.log(
                    ctx,
                    EntityType::Payment,
                    p.id,
                    ItemAction::Failed,
                    None,
                    Some("its invoice is not synced"),
                )
                .await?;
                continue;
            };
            let hash = content_hash(p, &invoice.external_id);
            self.push(ctx, EntityType::Payment, p.id, hash, |_| {
                let adapter = &adapter;
                let inv = invoice.external_id.clone();
                async move { adapter.create_payment(p, &inv).await }
            })
            .await?;
        }
        Ok(())
    }

    async fn log(
        &self,
        ctx: &JobContext,
        entity: EntityType,
        id: Uuid,
        action: ItemAction,
        external: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), Stop> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        acc::record_item(&mut tx, self.run, entity, id, action, external, error).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Pushes one record unless its link has the same hash; links and logs
    /// it in one transaction. A rate limit or an outage stops the run (to be
    /// retried); a rejected record is logged and the run goes on.
    async fn push<F, Fut>(
        &self,
        ctx: &JobContext,
        entity: EntityType,
        id: Uuid,
        hash: String,
        call: F,
    ) -> Result<(), Stop>
    where
        F: FnOnce(Option<String>) -> Fut,
        Fut: Future<Output = Result<String, AdapterError>>,
    {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let link = acc::link(&mut tx, XERO, entity, id).await?;
        tx.end_read();
        if link.as_ref().is_some_and(|l| l.content_hash == hash) {
            return self
                .log(ctx, entity, id, ItemAction::Skipped, None, None)
                .await;
        }
        let known = link.map(|l| l.external_id);
        let Pushed::Done(action, ext, err) = match call(known.clone()).await {
            Ok(ext) => {
                let action = if known.is_some() {
                    ItemAction::Updated
                } else {
                    ItemAction::Created
                };
                Pushed::Done(action, Some(ext), None)
            }
            Err(AdapterError::Rejected(m)) => Pushed::Done(ItemAction::Failed, None, Some(m)),
            Err(e) => return Err(Stop::Job(adapter_job_error(e))),
        };
        let mut tx = ctx.db.tenant(self.tenant).await?;
        if let Some(ext) = &ext {
            acc::set_link(&mut tx, XERO, entity, id, ext, &hash).await?;
        }
        acc::record_item(
            &mut tx,
            self.run,
            entity,
            id,
            action,
            ext.as_deref(),
            err.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
