//! Mailbox jobs: polling a mailbox (one job per mailbox at a time), the
//! per-minute fan-out over a tenant's mailboxes, a connection test, and
//! reprocessing a quarantined or ignored message.
//!
//! A poll reads UIDs above the checkpoint with `BODY.PEEK[]`, in batches.
//! Each batch is stored (raw bytes first, in the object store, named by
//! content) and processed in one transaction that also moves the
//! checkpoint, so a worker killed mid-batch leaves the batch undone and the
//! next poll does it again; the (mailbox, content hash) claim makes the
//! redo, an overlapping poll or a UIDVALIDITY rescan add nothing twice.
//!
//! Listening without gaps: a scheduled poll waits in IMAP IDLE past the
//! next scheduled poll, which finds it holding the mailbox and asks it to
//! hand over (`NOTIFY mailbox_poll`): the running poll ends its IDLE at
//! once and the new one takes the lock, drains and listens on. "Poll now"
//! ([`poll_now`]) wakes a running poll the same way (it drains at once and
//! goes on listening), or queues a poll when none runs; a poll that ends
//! before serving a request made meanwhile queues one. An IDLE wait ends at
//! its deadline to the moment and at once when the worker stops.

pub mod imap;
pub mod ingest;
pub mod wakes;

use std::time::Duration;

use futures_util::StreamExt;
use nestogy_domain::service_desk::mailboxes::{self, Mailbox};
use nestogy_domain::{InboundId, MailboxId, TenantId, TenantTx, service_desk::inbound};
use serde::{Deserialize, Serialize};
use sqlx::Connection as _;

use crate::enqueue::{self, PendingPush, Prepared};
use crate::{Job, JobContext, JobError, JobMeta, Queue, RetryPolicy, mail};
use imap::{ImapError, Woken};
use ingest::Env;

/// Messages fetched and committed together.
pub const BATCH: usize = 250;

/// Polls one mailbox now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Poll {
    pub tenant: TenantId,
    pub mailbox: MailboxId,
    /// After polling, wait in IDLE (where the server offers it) for up to
    /// this many seconds and take new mail as it arrives. Scheduled polls
    /// idle past the next one, which takes over from them; they wait for a
    /// running poll to hand over, while a poll without IDLE ("poll now")
    /// wakes a running one instead.
    #[serde(default)]
    pub idle_secs: Option<u64>,
}

/// How long a scheduled poll waits for a running one to hand over.
const HANDOVER_WAIT: Duration = Duration::from_secs(30);

/// How far past the next scheduled poll a scheduled poll listens, so that
/// the next one takes over before it stops.
const IDLE_OVERLAP_SECS: u64 = 30;

/// What a poll did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PollReport {
    pub uidvalidity: u32,
    pub fetched: usize,
    pub tickets: usize,
    pub replies: usize,
    pub quarantined: usize,
    pub duplicates: usize,
    pub ignored: usize,
    pub last_uid: u32,
    /// Passes over the folder (the first, then one per wake-up or news).
    pub drains: usize,
    /// Why the IDLE wait ended: `news` never, `deadline`, `handover`,
    /// `stop`; absent without IDLE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_ended: Option<&'static str>,
    /// The poll queued for a "poll now" made after this one last looked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<nestogy_domain::JobId>,
}

impl Job for Poll {
    const KIND: &'static str = "mailboxes.poll";
    const QUEUE: Queue = Queue::Inbound;

    fn retry_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base: Duration::from_secs(5),
            max_delay: Duration::from_secs(60),
        }
    }

    fn timeout() -> Duration {
        Duration::from_secs(15 * 60)
    }

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Idempotent: see the module documentation.
    async fn run(self, ctx: JobContext, meta: JobMeta) -> Result<serde_json::Value, JobError> {
        let guard = match PollLock::try_acquire(&ctx, self.mailbox).await? {
            Some(g) => g,
            // "Poll now": the running poll takes the mail now and listens on.
            None if self.idle_secs.is_none() => {
                wake(&ctx, self.mailbox, "poll").await?;
                return Ok(serde_json::json!({ "woke_running_poll": true }));
            }
            // A scheduled poll takes over: the running one stops listening.
            None => {
                wake(&ctx, self.mailbox, "handover").await?;
                match PollLock::acquire_within(&ctx, self.mailbox, HANDOVER_WAIT).await? {
                    Some(g) => g,
                    None => {
                        return Ok(serde_json::json!({
                            "skipped": "another poll of this mailbox is running and did not hand over"
                        }));
                    }
                }
            }
        };
        let idle = self.idle_secs.map(Duration::from_secs);
        let result = poll(&ctx, self.tenant, self.mailbox, idle, meta.id).await;
        guard.release().await;
        let mut tx = ctx.db.tenant(self.tenant).await?;
        // A "poll now" asked for after this poll last looked is served by
        // another poll (this one no longer listens).
        let asked = mailboxes::poll_requested_since(&mut tx, self.mailbox).await?;
        match result {
            Ok(mut report) => {
                mailboxes::record_poll(&mut tx, self.mailbox, None).await?;
                let follow = match asked {
                    Some(at) => Some(follow_up(&mut tx, self.mailbox, at).await?),
                    None => None,
                };
                tx.commit().await?;
                if let Some(job) = follow {
                    report.follow_up = Some(job.push(&ctx.queue).await);
                }
                metrics::counter!("mail_ingested_total").increment(report.fetched as u64);
                Ok(serde_json::to_value(report).unwrap_or_default())
            }
            Err(PollError::Imap(e)) => {
                mailboxes::record_poll(&mut tx, self.mailbox, Some(&e.to_string())).await?;
                tx.commit().await?;
                Err(if e.is_transient() {
                    JobError::retry(e.to_string())
                } else {
                    JobError::permanent(e.to_string())
                })
            }
            Err(PollError::Job(e)) => Err(e),
        }
    }
}

/// Records in `tx` (with the poll's record) a poll (no IDLE) for a "poll
/// now" made at `at`; once per request.
async fn follow_up(
    tx: &mut TenantTx,
    mailbox: MailboxId,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<enqueue::Enqueued, JobError> {
    let job = Poll {
        tenant: tx.tenant(),
        mailbox,
        idle_secs: None,
    };
    let key = format!("mailbox-poll-now:{mailbox}:{}", at.timestamp_micros());
    let opts = crate::EnqueueOptions {
        unique_key: Some(key),
        ..Default::default()
    };
    Ok(enqueue::enqueue_in(tx, &job, opts).await?)
}

/// Tells a running poll of `mailbox` to drain now (`poll`) or to stop
/// listening (`handover`).
async fn wake(ctx: &JobContext, mailbox: MailboxId, what: &str) -> Result<(), JobError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(wakes::CHANNEL)
        .bind(format!("{mailbox} {what}"))
        .execute(&ctx.db.pool)
        .await?;
    Ok(())
}

/// What "poll now" did.
#[derive(Debug, Clone, Serialize)]
pub struct PollNow {
    /// `woke_running_poll`: a poll was listening and takes the mail now;
    /// `queued`: none was running, a poll job was queued.
    pub polled: &'static str,
    pub woke_running_poll: bool,
    /// The job that takes the mail: the running poll's or the new one's.
    pub job_id: Option<uuid::Uuid>,
    /// When it was asked (database time). The mailbox's `last_drained_at`
    /// reaching it means all mail delivered before was taken.
    pub requested_at: chrono::DateTime<chrono::Utc>,
}

/// "Poll now": wakes the poll listening on the mailbox, or queues one.
/// The request is noted first, and a running poll checks for requests
/// after it stops listening, so a poll ending at this very moment still
/// leaves none unserved.
pub async fn poll_now(
    ctx: &JobContext,
    tenant: TenantId,
    mailbox: MailboxId,
) -> Result<PollNow, JobError> {
    let mut tx = ctx.db.tenant(tenant).await?;
    let requested_at = mailboxes::request_poll(&mut tx, mailbox).await?;
    tx.commit().await?;
    match PollLock::try_acquire(ctx, mailbox).await? {
        Some(free) => {
            free.release().await;
            let job = Poll {
                tenant,
                mailbox,
                idle_secs: None,
            };
            let id = crate::enqueue(ctx, &job).await?;
            Ok(PollNow {
                polled: "queued",
                woke_running_poll: false,
                job_id: Some(id.as_uuid()),
                requested_at,
            })
        }
        None => {
            wake(ctx, mailbox, "poll").await?;
            let mut tx = ctx.db.tenant(tenant).await?;
            let (_, job) = mailboxes::poll_state(&mut tx, mailbox).await?;
            tx.end_read();
            Ok(PollNow {
                polled: "woke_running_poll",
                woke_running_poll: true,
                job_id: job,
                requested_at,
            })
        }
    }
}

/// The wake-ups of one mailbox's poll, from the process's listener
/// ([`wakes::WakeHub`]).
struct Wakes {
    payloads: tokio::sync::broadcast::Receiver<String>,
    mailbox: String,
}

impl Wakes {
    async fn listen(ctx: &JobContext, mailbox: MailboxId) -> Wakes {
        Wakes {
            payloads: ctx.services.mailbox_wakes.subscribe(&ctx.db.pool).await,
            mailbox: mailbox.to_string(),
        }
    }

    /// The next wake-up for this mailbox: [`Woken::Asked`] or
    /// [`Woken::Handover`].
    async fn next(&mut self) -> Woken {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match self.payloads.recv().await {
                Ok(p) => match p.split_once(' ') {
                    Some((m, "poll")) if m == self.mailbox => return Woken::Asked,
                    Some((m, "handover")) if m == self.mailbox => return Woken::Handover,
                    _ => {}
                },
                // Missed some: one of them may have been for us.
                Err(RecvError::Lagged(_)) => return Woken::Asked,
                Err(RecvError::Closed) => return std::future::pending().await,
            }
        }
    }
}

#[derive(Debug)]
enum PollError {
    Imap(ImapError),
    Job(JobError),
}

impl From<ImapError> for PollError {
    fn from(e: ImapError) -> Self {
        PollError::Imap(e)
    }
}

impl From<JobError> for PollError {
    fn from(e: JobError) -> Self {
        PollError::Job(e)
    }
}

impl From<nestogy_domain::DomainError> for PollError {
    fn from(e: nestogy_domain::DomainError) -> Self {
        PollError::Job(e.into())
    }
}

impl From<sqlx::Error> for PollError {
    fn from(e: sqlx::Error) -> Self {
        PollError::Job(e.into())
    }
}

/// A session-level advisory lock on a connection of its own: one poll per
/// mailbox at a time, however many workers. The connection is taken out of
/// the pool, so if the worker dies or the job times out the connection
/// closes and the lock goes with it.
struct PollLock {
    conn: sqlx::PgConnection,
    key: i64,
}

impl PollLock {
    async fn try_acquire(
        ctx: &JobContext,
        mailbox: MailboxId,
    ) -> Result<Option<PollLock>, JobError> {
        let mut conn = ctx.db.pool.acquire().await?.detach();
        let key = lock_key(mailbox);
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut conn)
            .await?;
        if !got {
            let _ = conn.close().await;
            return Ok(None);
        }
        Ok(Some(PollLock { conn, key }))
    }

    /// Waits up to `wait` for the lock (a running poll handing over).
    async fn acquire_within(
        ctx: &JobContext,
        mailbox: MailboxId,
        wait: Duration,
    ) -> Result<Option<PollLock>, JobError> {
        let mut conn = ctx.db.pool.acquire().await?.detach();
        let key = lock_key(mailbox);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SET lock_timeout = {}",
            wait.as_millis()
        )))
        .execute(&mut conn)
        .await?;
        let got = sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut conn)
            .await;
        match got {
            Ok(_) => {
                sqlx::query("RESET lock_timeout").execute(&mut conn).await?;
                Ok(Some(PollLock { conn, key }))
            }
            // 55P03: lock_not_available (the timeout).
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {
                let _ = conn.close().await;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(self.key)
            .execute(&mut self.conn)
            .await;
        let _ = self.conn.close().await;
    }
}

fn lock_key(mailbox: MailboxId) -> i64 {
    let b = mailbox.as_uuid().as_u128();
    // A namespace for mailbox locks in the high bits, the id below.
    ((b as u64) ^ 0x6d61_696c_626f_7800) as i64
}

/// Our own addresses: the tenant's mailboxes and senders, and the
/// platform's sender.
async fn own_addresses(tx: &mut TenantTx, ctx: &JobContext) -> Result<Vec<String>, JobError> {
    let mut own = mailboxes::own_addresses(tx).await?;
    own.push(ctx.services.mail.from_address.to_lowercase());
    Ok(own)
}

async fn poll(
    ctx: &JobContext,
    tenant: TenantId,
    id: MailboxId,
    idle: Option<Duration>,
    job: nestogy_domain::JobId,
) -> Result<PollReport, PollError> {
    let mut tx = ctx.db.tenant(tenant).await?;
    let (mailbox, conn) = mailboxes::connection(&mut tx, id, ctx.services.secrets.as_ref()).await?;
    let own = own_addresses(&mut tx, ctx).await?;
    let domain = mail::sender_domain(&mut tx, &ctx.services.mail).await?;
    let ack_limit = nestogy_domain::identity::company::get(&mut tx)
        .await?
        .acks_per_sender_hour();
    let (stored_validity, stored_uid) = (mailbox.uidvalidity, mailbox.last_uid);
    mailboxes::set_poll_job(&mut tx, id, job.as_uuid()).await?;
    tx.commit().await?;
    if !mailbox.enabled {
        return Ok(PollReport::default());
    }
    // Listening before the first pass: a wake-up sent from now on is seen.
    let mut wakes = match idle {
        Some(_) => Some(Wakes::listen(ctx, id).await),
        None => None,
    };
    let result = async {
        let mut session = imap::connect(&conn).await?;
        let (validity, _) = imap::examine(&mut session, &conn.folder).await?;
        // A new UIDVALIDITY renumbers the folder: read it all again; the
        // content-hash claim keeps what was taken from being taken twice.
        let after = if stored_validity == Some(i64::from(validity)) {
            u32::try_from(stored_uid).unwrap_or(0)
        } else {
            0
        };
        if stored_validity != Some(i64::from(validity)) {
            let mut tx = ctx.db.tenant(tenant).await?;
            mailboxes::set_checkpoint(&mut tx, id, i64::from(validity), 0).await?;
            tx.commit().await?;
        }
        let mut report = PollReport {
            uidvalidity: validity,
            last_uid: after,
            ..PollReport::default()
        };
        let env = Env {
            mailbox: &mailbox,
            own: &own,
            files: &ctx.services.files,
            mail_domain: &domain,
            ack_limit,
            accept_automated: false,
        };
        drain_recorded(ctx, tenant, &env, &mut session, &mut report).await?;
        // IDLE, where the server offers it: new mail is taken within
        // seconds, until the deadline, a handover or the worker stopping.
        if let (Some(span), Some(wakes)) = (idle, wakes.as_mut())
            && imap::has_idle(&mut session).await.unwrap_or(false)
        {
            let until = tokio::time::Instant::now() + span;
            loop {
                let woken_by = async {
                    tokio::select! {
                        w = wakes.next() => w,
                        () = ctx.stop.stopped() => Woken::Stop,
                    }
                };
                let (back, woken) = imap::idle(session, until, woken_by).await?;
                match (back, woken) {
                    (Some(s), Woken::News | Woken::Asked) => {
                        session = s;
                        drain_recorded(ctx, tenant, &env, &mut session, &mut report).await?;
                    }
                    (back, woken) => {
                        report.idle_ended = Some(match woken {
                            Woken::Handover => "handover",
                            Woken::Stop => "stop",
                            _ => "deadline",
                        });
                        return Ok((back, report));
                    }
                }
            }
        }
        Ok::<_, PollError>((Some(session), report))
    }
    .await;
    let (session, report) = result?;
    if let Some(s) = session {
        imap::logout(s).await;
    }
    Ok(report)
}

/// [`drain`], then records the pass (its start, in database time) on the
/// mailbox.
async fn drain_recorded(
    ctx: &JobContext,
    tenant: TenantId,
    env: &Env<'_>,
    session: &mut imap::ImapSession,
    report: &mut PollReport,
) -> Result<(), PollError> {
    let started: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&ctx.db.pool)
        .await?;
    drain(ctx, tenant, env, session, report).await?;
    let mut tx = ctx.db.tenant(tenant).await?;
    mailboxes::record_drain(&mut tx, env.mailbox.id, started).await?;
    tx.commit().await?;
    report.drains += 1;
    Ok(())
}

/// Takes every message above the report's last UID, batch by batch.
async fn drain(
    ctx: &JobContext,
    tenant: TenantId,
    env: &Env<'_>,
    session: &mut imap::ImapSession,
    report: &mut PollReport,
) -> Result<(), PollError> {
    let uids = imap::uids_after(session, report.last_uid).await?;
    let chunks: Vec<&[u32]> = uids.chunks(BATCH).collect();
    let validity = report.uidvalidity;
    let mut next = match chunks.first() {
        Some(c) => Some(prepare(ctx, tenant, env, session, c, validity).await?),
        None => None,
    };
    let mut i = 0;
    // While one batch is processed in PostgreSQL, the next is fetched,
    // parsed and kept: the IMAP server and the parser work meanwhile.
    while let Some(current) = next.take() {
        i += 1;
        let last = current.last;
        let following = async {
            match chunks.get(i) {
                Some(c) => prepare(ctx, tenant, env, session, c, validity)
                    .await
                    .map(Some),
                None => Ok(None),
            }
        };
        let (done, following) = tokio::join!(
            process_batch(ctx, tenant, env, validity, current, report),
            following
        );
        let pending = done?;
        report.last_uid = last;
        pending.push(&ctx.queue).await;
        next = following?;
    }
    Ok(())
}

/// A batch fetched, parsed, and its raw bytes kept: ready to process.
struct Batch {
    arrivals: Vec<(
        nestogy_domain::service_desk::inbound::Arrival,
        Result<crate::inbound::parse::ParsedMail, crate::inbound::parse::ParseError>,
    )>,
    /// The batch's highest UID: the checkpoint once it is processed.
    last: u32,
}

/// Fetches `uids` and keeps their raw bytes in the object store first, so
/// every message is kept, even one that cannot be parsed.
async fn prepare(
    ctx: &JobContext,
    tenant: TenantId,
    env: &Env<'_>,
    session: &mut imap::ImapSession,
    uids: &[u32],
    validity: u32,
) -> Result<Batch, PollError> {
    let fetched = imap::fetch(session, uids).await?;
    let arrivals: Vec<_> = fetched
        .iter()
        .map(|(uid, raw)| ingest::arrive(tenant, env.mailbox, validity, *uid, raw))
        .collect();
    let files = &ctx.services.files;
    let owned: Vec<(String, Vec<u8>)> = arrivals
        .iter()
        .zip(fetched)
        .map(|((a, _), (_, raw))| (a.raw_key.clone(), raw))
        .collect();
    let stored: Vec<Result<(), String>> = futures_util::stream::iter(owned)
        .map(|(key, raw)| store_raw(files, key, raw))
        .buffer_unordered(16)
        .collect()
        .await;
    if let Some(Err(e)) = stored.into_iter().find(Result::is_err) {
        return Err(PollError::Job(JobError::retry(format!(
            "storing raw mail: {e}"
        ))));
    }
    Ok(Batch {
        arrivals,
        last: uids.last().copied().unwrap_or_default(),
    })
}

/// Processes a prepared batch in one transaction that also moves the
/// checkpoint to its last UID and records the delivery jobs of the mail it
/// answers with. Returns those jobs, to push.
async fn process_batch(
    ctx: &JobContext,
    tenant: TenantId,
    env: &Env<'_>,
    validity: u32,
    batch: Batch,
    report: &mut PollReport,
) -> Result<PendingPush, PollError> {
    let mut tx = ctx.db.tenant(tenant).await?;
    let senders = ingest::Senders::load(&mut tx, batch.arrivals.iter().map(|(_, p)| p)).await?;
    let mut mails = Vec::new();
    let mut counts = PollReport::default();
    for (arrival, parsed) in &batch.arrivals {
        match ingest::ingest(&mut tx, env, &senders, arrival, parsed).await? {
            None => counts.duplicates += 1,
            Some(p) => {
                match p.outcome {
                    inbound::Outcome::Ticket => counts.tickets += 1,
                    inbound::Outcome::Reply => counts.replies += 1,
                    inbound::Outcome::Quarantined => counts.quarantined += 1,
                    inbound::Outcome::Ignored => counts.ignored += 1,
                }
                mails.extend(p.mails);
            }
        }
    }
    mailboxes::set_checkpoint(
        &mut tx,
        env.mailbox.id,
        i64::from(validity),
        i64::from(batch.last),
    )
    .await?;
    let (_, pending) = mail::dispatch_in(&mut tx, &mails)
        .await
        .map_err(JobError::from)?;
    tx.commit().await?;
    // Counted once committed: a batch rolled back did nothing.
    report.fetched += batch.arrivals.len();
    report.duplicates += counts.duplicates;
    report.tickets += counts.tickets;
    report.replies += counts.replies;
    report.quarantined += counts.quarantined;
    report.ignored += counts.ignored;
    Ok(pending)
}

/// Keeps a raw message; named by content, so putting it again (a redone
/// batch) writes the same object.
async fn store_raw(
    files: &nestogy_domain::kernel::files::Files,
    key: String,
    raw: Vec<u8>,
) -> Result<(), String> {
    files.put(&key, raw).await.map_err(|e| e.to_string())
}

/// Every minute, per tenant: one poll job per enabled mailbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PollAll {
    pub tenant: TenantId,
}

impl Job for PollAll {
    const KIND: &'static str = "mailboxes.poll_all";
    const QUEUE: Queue = Queue::Inbound;
    const SCHEDULABLE: bool = true;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Idempotent: each mailbox's poll is keyed by the minute, so a rerun
    /// within the minute enqueues nothing new.
    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let ids = mailboxes::enabled(&mut tx).await?;
        let now = tx.now();
        let minute = now.timestamp() / 60;
        // Listen past the next minute's poll, which takes over: no gap.
        let idle_secs = (60 - (now.timestamp() % 60)) as u64 + IDLE_OVERLAP_SECS;
        let jobs: Vec<Prepared> = ids
            .iter()
            .map(|m| {
                let job = Poll {
                    tenant: self.tenant,
                    mailbox: *m,
                    idle_secs: Some(idle_secs),
                };
                Prepared::typed(&job, now, Some(format!("mailbox-poll:{m}:{minute}")))
            })
            .collect::<Result<_, _>>()?;
        let pending = enqueue::record_in(&mut tx, jobs).await?;
        tx.commit().await?;
        let enqueued = pending.len();
        pending.push(&ctx.queue).await;
        Ok(serde_json::json!({ "mailboxes": ids.len(), "enqueued": enqueued }))
    }
}

/// Checks that a mailbox can be reached, logged in to and its folder opened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Test {
    pub tenant: TenantId,
    pub mailbox: MailboxId,
}

impl Job for Test {
    const KIND: &'static str = "mailboxes.test";
    const QUEUE: Queue = Queue::Inbound;

    fn retry_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    fn timeout() -> Duration {
        Duration::from_secs(90)
    }

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Read-only: running it twice checks twice.
    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let (_, conn) =
            mailboxes::connection(&mut tx, self.mailbox, ctx.services.secrets.as_ref()).await?;
        tx.end_read();
        let checked = async {
            let mut s = imap::connect(&conn).await?;
            let (validity, exists) = imap::examine(&mut s, &conn.folder).await?;
            let idle = imap::has_idle(&mut s).await.unwrap_or(false);
            imap::logout(s).await;
            Ok::<_, ImapError>((validity, exists, idle))
        };
        match checked.await {
            Ok((validity, exists, idle)) => Ok(serde_json::json!({
                "ok": true, "uidvalidity": validity, "messages": exists, "idle": idle,
            })),
            Err(e) => Err(JobError::permanent(e.to_string())),
        }
    }
}

/// Processes a quarantined (or ignored) message again, from its stored raw
/// bytes. An ignored message reprocessed opens its ticket: a person asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reprocess {
    pub tenant: TenantId,
    pub mailbox: MailboxId,
    pub message: InboundId,
    /// The message was ignored (automated mail), not quarantined.
    #[serde(default)]
    pub ignored: bool,
}

impl Job for Reprocess {
    const KIND: &'static str = "mailboxes.reprocess";
    const QUEUE: Queue = Queue::Inbound;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Idempotent: the message is locked and must still be quarantined (or
    /// ignored); a second run finds it processed and does nothing.
    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let mailbox: Mailbox = mailboxes::get(&mut tx, self.mailbox).await?;
        let own = own_addresses(&mut tx, &ctx).await?;
        let domain = mail::sender_domain(&mut tx, &ctx.services.mail).await?;
        let ack_limit = nestogy_domain::identity::company::get(&mut tx)
            .await?
            .acks_per_sender_hour();
        let held = if self.ignored {
            inbound::Outcome::Ignored
        } else {
            inbound::Outcome::Quarantined
        };
        let (msg, key) = match inbound::lock_held(&mut tx, self.mailbox, self.message, held).await {
            Ok(found) => found,
            Err(nestogy_domain::DomainError::Conflict { .. }) => {
                return Ok(serde_json::json!({ "already": true }));
            }
            Err(e) => return Err(e.into()),
        };
        let raw = ctx
            .services
            .files
            .get(&key)
            .await
            .map_err(|e| JobError::retry(format!("reading the raw message: {e}")))?;
        let (_, parsed) = ingest::arrive(
            self.tenant,
            &mailbox,
            msg.uidvalidity as u32,
            msg.uid as u32,
            &raw,
        );
        let env = Env {
            mailbox: &mailbox,
            own: &own,
            files: &ctx.services.files,
            mail_domain: &domain,
            ack_limit,
            accept_automated: self.ignored,
        };
        inbound::count_attempt(&mut tx, msg.id).await?;
        let p =
            ingest::process(&mut tx, &env, &ingest::Senders::default(), msg.id, &parsed).await?;
        let (_, pending) = mail::dispatch_in(&mut tx, &p.mails).await?;
        tx.commit().await?;
        pending.push(&ctx.queue).await;
        Ok(serde_json::json!({
            "outcome": p.outcome, "ticket_id": p.ticket, "reason": p.reason,
        }))
    }
}
