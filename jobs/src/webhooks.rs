//! Webhook delivery jobs.
//!
//! Events and their deliveries are created in the transaction of the change
//! (`nestogy_domain::kernel::events`). Getting them to the queue after commit:
//! - [`listen`] runs in every worker process: PostgreSQL's `NOTIFY` (sent on
//!   commit by `events::emit`) names the tenant, and the listener enqueues a
//!   [`Dispatch`] for it;
//! - the same task sweeps once a minute ([`sweep`]): tenants with deliveries
//!   due (retries, notices missed while no listener ran, jobs lost) get a
//!   [`Dispatch`], once per tenant and minute across all workers.
//!
//! [`Dispatch`] enqueues one [`Deliver`] per due delivery under the unique key
//! `webhooks.deliver:<delivery>:<attempts>:<due at>`, so dispatching twice
//! enqueues once. [`Deliver`] leases the delivery row, POSTs once, records
//! the attempt and enqueues the next one on the retry schedule; a delivery
//! already succeeded, not due or held by another worker is not sent again.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nestogy_domain::integrations::webhooks::{self, Claimed, NotClaimed, Outcome};
use nestogy_domain::kernel::crypto::SecretKey;
use nestogy_domain::{TenantId, TenantTx, WebhookDeliveryId, identity::users, kernel::events};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::enqueue::{self, Prepared};
use crate::mail::compose;
use crate::mail::message::{EndpointDisabled, Message};
use crate::{Job, JobContext, JobError, JobMeta, Queue, RetryPolicy, http, mail};

/// Deliveries one dispatch enqueues per batch.
const BATCH: i64 = 1000;

/// Enqueues a [`Deliver`] for each due delivery of the tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dispatch {
    pub tenant: TenantId,
}

impl Job for Dispatch {
    const KIND: &'static str = "webhooks.dispatch";
    const QUEUE: Queue = Queue::Default;
    const SCHEDULABLE: bool = true;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Idempotent: each (delivery, attempt) job has a unique key.
    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let now = ctx.db.clock.now();
        let mut enqueued = 0usize;
        let mut seen = HashSet::new();
        loop {
            let mut tx = ctx.db.tenant(self.tenant).await?;
            let due = webhooks::pending(&mut tx, now, BATCH).await?;
            let fresh: Vec<_> = due.into_iter().filter(|d| seen.insert(d.id)).collect();
            if fresh.is_empty() {
                tx.end_read();
                break;
            }
            let prepared = fresh
                .iter()
                .map(|d| {
                    Prepared::typed(
                        &Deliver {
                            tenant: self.tenant,
                            delivery: d.id,
                        },
                        d.next_attempt_at,
                        Some(deliver_key(d.id, d.attempts, d.next_attempt_at)),
                    )
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| JobError::permanent(e.to_string()))?;
            let pending = enqueue::record_in(&mut tx, prepared).await?;
            tx.commit().await?;
            enqueued += pending.len();
            pending.push(&ctx.queue).await;
            if (fresh.len() as i64) < BATCH {
                break;
            }
        }
        Ok(json!({ "enqueued": enqueued }))
    }
}

fn deliver_key(id: WebhookDeliveryId, attempts: i32, due: DateTime<Utc>) -> String {
    format!(
        "webhooks.deliver:{id}:{attempts}:{}",
        due.timestamp_millis()
    )
}

/// One attempt of one delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deliver {
    pub tenant: TenantId,
    pub delivery: WebhookDeliveryId,
}

impl Job for Deliver {
    const KIND: &'static str = "webhooks.deliver";
    const QUEUE: Queue = Queue::Default;

    /// Retries of the job itself are for a delivery another worker holds
    /// (its lease runs out) or a database hiccup; the delivery's own
    /// schedule (5 s … 10 h) is kept by the delivery row.
    fn retry_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_secs(15),
            max_delay: Duration::from_secs(600),
        }
    }

    fn timeout() -> Duration {
        Duration::from_secs(120)
    }

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        deliver(&ctx, self.tenant, self.delivery).await
    }
}

fn secret_key(ctx: &JobContext) -> Result<&SecretKey, JobError> {
    ctx.services
        .secrets
        .as_ref()
        .ok_or_else(|| JobError::permanent("NESTOGY_SECRET_KEY is not set: cannot sign webhooks"))
}

/// One attempt: claim, POST, record, schedule the next.
pub async fn deliver(
    ctx: &JobContext,
    tenant: TenantId,
    id: WebhookDeliveryId,
) -> Result<serde_json::Value, JobError> {
    let cfg = &ctx.services.integrations;
    let key = secret_key(ctx)?;
    let lease = chrono::Duration::from_std(cfg.http_timeout + Duration::from_secs(30))
        .unwrap_or(chrono::Duration::seconds(60));
    let mut tx = ctx.db.tenant(tenant).await?;
    let claimed = webhooks::claim(&mut tx, key, id, lease).await?;
    tx.commit().await?;
    let c = match claimed {
        Ok(c) => c,
        Err(NotClaimed::Busy) => {
            return Err(JobError::retry("another worker holds this delivery"));
        }
        Err(why) => return Ok(json!({ "skipped": format!("{why:?}") })),
    };
    let outcome = match refused(&c.url, cfg.allow_private_targets).await {
        Some(reason) => Err(reason),
        None => post(ctx, &c).await?,
    };
    let mut tx = ctx.db.tenant(tenant).await?;
    let (recorded, outcome) = match outcome {
        Ok(o) => (webhooks::record_attempt(&mut tx, &c, &o).await?, Some(o)),
        Err(reason) => (
            webhooks::fail_without_attempt(&mut tx, &c, &reason).await?,
            None,
        ),
    };
    let mut mails = Vec::new();
    if recorded.endpoint_disabled {
        let admins = users::admin_emails(&mut tx).await?;
        if !admins.is_empty() {
            let endpoint = webhooks::get(&mut tx, c.endpoint_id).await?;
            let disabled = EndpointDisabled {
                url: endpoint.url.clone(),
                reason: endpoint.disabled_reason.clone(),
            };
            let message = Message::WebhookDisabled {
                endpoint: c.endpoint_id,
                disabled,
            };
            let new = compose::new_message(
                &mut tx,
                &message,
                format!(
                    "webhook-disabled:{}:{}",
                    c.endpoint_id,
                    endpoint
                        .disabled_at
                        .map(|d| d.timestamp())
                        .unwrap_or_default()
                ),
                admins,
            )
            .await?;
            let (m, _) = mail::create(&mut tx, ctx, new).await?;
            mails.push(m.id);
        }
    }
    // The attempt's record, its mail and the next attempt's job commit
    // together.
    let (_, mut pending) = mail::dispatch_in(&mut tx, &mails).await?;
    if let Some(next) = recorded.next_attempt_at {
        let job = enqueue::enqueue_in(
            &mut tx,
            &Deliver {
                tenant,
                delivery: id,
            },
            crate::EnqueueOptions {
                run_at: Some(next),
                unique_key: Some(deliver_key(id, c.attempt, next)),
            },
        )
        .await?;
        pending.merge(job.into_pending());
    }
    tx.commit().await?;
    pending.push(&ctx.queue).await;
    Ok(json!({
        "attempt": c.attempt,
        "status_code": outcome.as_ref().and_then(|o| o.status_code),
        "succeeded": outcome.as_ref().is_some_and(|o| o.succeeded),
        "next_attempt_at": recorded.next_attempt_at,
        "endpoint_disabled": recorded.endpoint_disabled,
    }))
}

/// Why a URL may not be called now, if it may not: plain http, a literal
/// address that is not public (in any spelling: `127.1`, `[::127.0.0.1]`,
/// `[2002:7f00:1::1]`) or `localhost`, unless private targets are allowed.
/// Names are not resolved here: the delivery's client resolves each name
/// once and connects only to the public addresses it checked
/// ([`http::public_client`]).
pub async fn refused(url: &str, allow_private: bool) -> Option<String> {
    if allow_private {
        return None;
    }
    let mut v = nestogy_domain::kernel::validation::ValidationErrors::new();
    webhooks::check_url(&mut v, url, false);
    if let Some(e) = v.0.first() {
        return Some(format!("refused: {}", e.message));
    }
    match reqwest::Url::parse(url) {
        Ok(u) => http::check_target(&u).err().map(|r| r.0),
        Err(e) => Some(format!("invalid url: {e}")),
    }
}

/// The addresses `host` resolves to, within five seconds.
pub async fn resolve(host: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
    let lookup = tokio::net::lookup_host((host, port));
    match tokio::time::timeout(Duration::from_secs(5), lookup).await {
        Ok(addrs) => Ok(addrs?.map(|a| a.ip()).collect()),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "DNS lookup timed out",
        )),
    }
}

/// One client per timeout and target policy, shared by every delivery of
/// the process.
fn client(timeout: Duration, allow_private: bool) -> Result<reqwest::Client, JobError> {
    static CLIENTS: OnceLock<Mutex<HashMap<(Duration, bool), reqwest::Client>>> = OnceLock::new();
    let mut all = CLIENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(c) = all.get(&(timeout, allow_private)) {
        return Ok(c.clone());
    }
    let c = if allow_private {
        http::client(timeout)
    } else {
        http::public_client(timeout)
    }
    .map_err(|e| JobError::retry(format!("http client: {e}")))?;
    all.insert((timeout, allow_private), c.clone());
    Ok(c)
}

/// The message's body as the specification has it.
pub fn body(c: &Claimed) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": c.event_type,
        "timestamp": c.event_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": c.payload,
    }))
    .unwrap_or_default()
}

/// POSTs the signed message once; `Err` when the connection was refused
/// because the host has no public address.
async fn post(ctx: &JobContext, c: &Claimed) -> Result<Result<Outcome, String>, JobError> {
    let cfg = &ctx.services.integrations;
    let body = body(c);
    let msg_id = c.event_id.to_string();
    let timestamp = ctx.db.clock.now().timestamp();
    let signature = webhooks::sign(&c.secret, &msg_id, timestamp, &body)?;
    let client = client(cfg.http_timeout, cfg.allow_private_targets)?;
    let started = Instant::now();
    let sent = client
        .post(&c.url)
        .header("content-type", "application/json")
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    let outcome = match sent {
        Ok(mut resp) => {
            let status = resp.status();
            let mut excerpt = Vec::new();
            let mut error = None;
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        excerpt.extend_from_slice(&chunk);
                        if excerpt.len() >= webhooks::EXCERPT_CHARS * 4 {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        error = Some(format!("reading the response: {e}"));
                        break;
                    }
                }
            }
            let text: String = String::from_utf8_lossy(&excerpt)
                .chars()
                .take(webhooks::EXCERPT_CHARS)
                .collect();
            let succeeded = status.is_success();
            Outcome {
                status_code: Some(i32::from(status.as_u16())),
                duration_ms: elapsed_ms(started),
                error: if succeeded {
                    None
                } else {
                    error.or_else(|| Some(format!("HTTP {}", status.as_u16())))
                },
                response_excerpt: (!text.is_empty()).then_some(text),
                succeeded,
            }
        }
        Err(e) if http::refusal(&e).is_some() => {
            return Ok(Err(http::refusal(&e)
                .map(|r| r.0.clone())
                .unwrap_or_default()));
        }
        Err(e) => Outcome {
            status_code: None,
            duration_ms: elapsed_ms(started),
            error: Some(if e.is_timeout() {
                format!("timed out after {} ms", cfg.http_timeout.as_millis())
            } else if e.is_connect() {
                format!("could not connect: {e}")
            } else {
                e.to_string()
            }),
            response_excerpt: None,
            succeeded: false,
        },
    };
    metrics::counter!("webhook_attempts_total", "succeeded" => outcome.succeeded.to_string())
        .increment(1);
    Ok(Ok(outcome))
}

fn elapsed_ms(started: Instant) -> i32 {
    i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX)
}

/// Enqueues a [`Dispatch`] for `tenant` now, in a transaction of its own:
/// the listener's trigger after a `NOTIFY` of deliveries committed before.
/// (A change that itself makes deliveries due records its dispatch in its
/// own transaction with [`crate::enqueue_in`].)
pub async fn dispatch_now(ctx: &JobContext, tenant: TenantId) -> Result<(), JobError> {
    enqueue::enqueue(ctx, &Dispatch { tenant }).await?;
    Ok(())
}

/// Listens for `NOTIFY` on [`events::CHANNEL`] until `stop` turns true and
/// enqueues a [`Dispatch`] per tenant named, at most one per tenant per
/// quarter second; sweeps ([`sweep`]) at start and every minute. Errors are logged and the connection is made again;
/// what is missed meanwhile the per-minute schedule catches.
pub async fn listen(ctx: JobContext, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if *stop.borrow() {
            return;
        }
        let mut listener = match sqlx::postgres::PgListener::connect_with(&ctx.db.pool).await {
            Ok(mut l) => match l.listen(events::CHANNEL).await {
                Ok(()) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook listener: LISTEN failed");
                    if pause(&mut stop).await {
                        return;
                    }
                    continue;
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "webhook listener: cannot connect");
                if pause(&mut stop).await {
                    return;
                }
                continue;
            }
        };
        loop {
            let first = tokio::select! {
                _ = stop.changed() => return,
                _ = every.tick() => {
                    if let Err(e) = sweep(&ctx).await {
                        tracing::warn!(error = %e, "webhook sweep failed");
                    }
                    continue;
                }
                n = listener.recv() => n,
            };
            let mut tenants = HashSet::new();
            match first {
                Ok(n) => {
                    tenants.insert(n.payload().to_owned());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhook listener: connection lost");
                    break;
                }
            }
            // Gather what else arrives in a quarter second: one dispatch per tenant.
            let window = tokio::time::sleep(Duration::from_millis(250));
            tokio::pin!(window);
            loop {
                tokio::select! {
                    _ = &mut window => break,
                    n = listener.recv() => match n {
                        Ok(n) => { tenants.insert(n.payload().to_owned()); }
                        Err(_) => break,
                    },
                }
            }
            for t in tenants {
                let Ok(id) = t.parse::<uuid::Uuid>() else {
                    continue;
                };
                if let Err(e) = dispatch_now(&ctx, TenantId(id)).await {
                    tracing::warn!(error = %e, tenant = %id, "webhook listener: enqueue failed");
                }
            }
        }
    }
}

/// Enqueues a [`Dispatch`] for every tenant with deliveries due, under the
/// key `webhooks.dispatch:<tenant>:<minute>` so several workers sweeping the
/// same minute enqueue one. Returns how many were enqueued.
pub async fn sweep(ctx: &JobContext) -> Result<usize, JobError> {
    let now = ctx.db.clock.now();
    let tenants: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT webhook_due_tenants($1)")
        .bind(now)
        .fetch_all(&ctx.db.pool)
        .await?;
    let minute = now.timestamp() / 60;
    let prepared = tenants
        .into_iter()
        .map(|t| {
            Prepared::typed(
                &Dispatch {
                    tenant: TenantId(t),
                },
                now,
                Some(format!("webhooks.dispatch:{t}:{minute}")),
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| JobError::permanent(e.to_string()))?;
    if prepared.is_empty() {
        return Ok(0);
    }
    // One Dispatch per tenant, across tenants: a platform transaction (no
    // change of state causes these; the unique key makes them once per
    // minute).
    let mut sys = ctx.db.system().await?;
    let pending = enqueue::record(&mut sys, prepared, now).await?;
    sys.commit().await?;
    let enqueued = pending.len();
    pending.push(&ctx.queue).await;
    Ok(enqueued)
}

/// Waits a second or until stopped; true when stopped.
async fn pause(stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = stop.changed() => true,
        _ = tokio::time::sleep(Duration::from_secs(1)) => *stop.borrow(),
    }
}

/// Records in `tx`, the transaction that made the delivery due (a ping, a
/// redelivery), its next attempt's job; once per (delivery, attempts, due
/// time). Push the answer after `tx` commits.
pub async fn enqueue_delivery(
    tx: &mut TenantTx,
    d: &webhooks::Delivery,
) -> Result<enqueue::Enqueued, crate::EnqueueError> {
    let due = d.next_attempt_at.unwrap_or_else(|| tx.now());
    let tenant = tx.tenant();
    enqueue::enqueue_in(
        tx,
        &Deliver {
            tenant,
            delivery: d.id,
        },
        crate::EnqueueOptions {
            run_at: Some(due),
            unique_key: Some(deliver_key(d.id, d.attempts, due)),
        },
    )
    .await
}
