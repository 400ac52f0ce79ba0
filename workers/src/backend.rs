//! Our Redis Streams + PostgreSQL store as an apalis backend, one per queue.
//!
//! apalis's worker polls [`StreamsBackend`] for tasks and runs each through
//! its service stack; everything that makes the store fast and safe runs
//! beside it, in tasks the backend starts on its first poll:
//!
//! - the fetcher reads as many entries as there are free slots (a blocking
//!   `XREADGROUP`), claims them in PostgreSQL in one statement, and hands the
//!   claimed ones to the worker; it reads again as soon as a slot frees, so
//!   fetching overlaps running and settling;
//! - the settler ([`crate::settle`]) records outcomes in PostgreSQL in
//!   batches, then acknowledges them in Redis;
//! - the beater heartbeats the entries this worker holds; the reclaimer
//!   takes over entries whose worker stopped heartbeating (`XAUTOCLAIM`);
//!   the promoter moves due delayed jobs to the stream;
//! - on stop, the drainer hands back at once what was fetched but not
//!   started, lets running jobs finish within the grace, then hands back
//!   the rest ([`drain`]); [`Backend::poll_close`] waits for it and for the
//!   settler to record every outcome.
//!
//! The slots are this backend's own semaphore rather than a tower
//! concurrency layer: a fetch must know how many jobs it may take before it
//! reads, or a job fetched beyond the limit would hold a lease doing nothing.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use apalis_core::backend::{Backend, BackendConfig};
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::task_id::TaskId;
use apalis_core::worker::context::WorkerContext;
use nestogy_domain::JobId;
use nestogy_jobs::envelope::Envelope;
use nestogy_jobs::redis_queue::{Delivery, Settle};
use nestogy_jobs::store;
use nestogy_jobs::{JobContext, Queue};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::WorkerConfig;
use crate::settle::{self, Outcome, SettleLayer};

/// What the worker's services need to know of a task beyond its envelope:
/// its stream entry and which attempt this is.
#[derive(Debug, Clone)]
pub struct Claim {
    pub stream_id: String,
    pub attempt: i32,
}

/// A job this worker holds: claimed, heartbeaten until settled or handed back.
pub(crate) struct Held {
    pub(crate) envelope: Envelope,
    pub(crate) max_attempts: i32,
    /// Whether the worker has started it (it may still wait in the channel).
    pub(crate) started: bool,
    /// Its slot, freed when the entry leaves the map.
    _slot: OwnedSemaphorePermit,
}

/// State shared by the backend's tasks and its [`SettleLayer`].
pub(crate) struct Shared {
    pub(crate) ctx: JobContext,
    pub(crate) cfg: WorkerConfig,
    pub(crate) queue: Queue,
    slots: Arc<Semaphore>,
    held: Mutex<HashMap<String, Held>>,
    /// Woken whenever a held job leaves the map.
    emptied: Notify,
    pub(crate) outcomes: mpsc::UnboundedSender<settle::Message>,
    /// When the last heartbeat that succeeded was sent: no job this worker
    /// holds can be taken over before this plus the lease.
    beaten: Mutex<Instant>,
    /// Set when the running jobs are handed back: they stop at once.
    pub(crate) handing_back: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn held(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes a held job when its attempt is over; `None` when it is not
    /// (or no longer) this worker's: a drain handed it back.
    pub(crate) fn release(&self, stream_id: &str) -> Option<Held> {
        let mut held = self.held();
        let h = held.remove(stream_id);
        drop(held);
        self.emptied.notify_waiters();
        h
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("the fetcher stopped")]
    FetcherGone,
}

/// One queue's jobs, as an apalis backend.
pub struct StreamsBackend {
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    tasks_tx: Option<mpsc::UnboundedSender<Task<Envelope>>>,
    tasks: mpsc::UnboundedReceiver<Task<Envelope>>,
    outcomes: Option<mpsc::UnboundedReceiver<settle::Message>>,
    started: Option<Running>,
    closing: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

/// The tasks a started backend runs beside the worker.
struct Running {
    drainer: JoinHandle<()>,
    settler: JoinHandle<()>,
}

impl StreamsBackend {
    /// A backend for `queue` that runs at most `concurrency` jobs at once and
    /// stops fetching when `stop` turns true.
    pub fn new(
        ctx: JobContext,
        cfg: WorkerConfig,
        queue: Queue,
        concurrency: usize,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let (outcomes_tx, outcomes_rx) = mpsc::unbounded_channel();
        let (tasks_tx, tasks_rx) = mpsc::unbounded_channel();
        let (handing_back, _) = watch::channel(false);
        StreamsBackend {
            shared: Arc::new(Shared {
                ctx,
                cfg,
                queue,
                slots: Arc::new(Semaphore::new(concurrency.max(1))),
                held: Mutex::new(HashMap::new()),
                emptied: Notify::new(),
                outcomes: outcomes_tx,
                beaten: Mutex::new(Instant::now()),
                handing_back,
            }),
            stop,
            tasks_tx: Some(tasks_tx),
            tasks: tasks_rx,
            outcomes: Some(outcomes_rx),
            started: None,
            closing: None,
        }
    }

    /// Turns true when the running jobs are handed back; see [`crate::RunJob`].
    pub fn handing_back(&self) -> watch::Receiver<bool> {
        self.shared.handing_back.subscribe()
    }

    /// Starts the fetcher, heartbeats, reclaimer, promoter, settler and drainer.
    fn start(&mut self) {
        let (Some(tasks), Some(outcomes)) = (self.tasks_tx.take(), self.outcomes.take()) else {
            return;
        };
        let s = &self.shared;
        let settler = tokio::spawn(settle::settle_loop(s.ctx.clone(), s.queue, outcomes));
        let (drained_tx, drained) = watch::channel(false);
        tokio::spawn(beat_loop(s.clone(), drained));
        let fetcher = tokio::spawn(fetch_loop(s.clone(), tasks.clone(), self.stop.clone()));
        let reclaimer = tokio::spawn(reclaim_loop(s.clone(), tasks, self.stop.clone()));
        let promoter = tokio::spawn(promote_loop(s.clone(), self.stop.clone()));
        let (s, mut stop) = (s.clone(), self.stop.clone());
        let drainer = tokio::spawn(async move {
            let _ = stop.wait_for(|s| *s).await;
            let _ = fetcher.await;
            let _ = reclaimer.await;
            let _ = promoter.await;
            drain(&s).await;
            let _ = drained_tx.send(true);
        });
        self.started = Some(Running { drainer, settler });
    }
}

impl Backend for StreamsBackend {
    type Task = Task<Envelope>;
    type Error = BackendError;

    fn poll_ready(
        &mut self,
        _cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        if self.started.is_none() {
            self.start();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        // `None` once the fetcher and the reclaimer have stopped (on stop).
        self.tasks.poll_recv(cx).map(|t| t.map(Ok))
    }

    /// Called once every started job has ended: waits for the drain (the
    /// hand-back of what never started or outlived the grace) and for the
    /// settler to have recorded every outcome.
    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        if self.closing.is_none() {
            let running = self.started.take();
            let outcomes = self.shared.outcomes.clone();
            self.closing = Some(Box::pin(async move {
                let Some(running) = running else { return };
                let _ = running.drainer.await;
                let (done_tx, done) = oneshot::channel();
                if outcomes.send(settle::Message::Flush(done_tx)).is_ok() {
                    let _ = done.await;
                }
                drop(outcomes);
                running.settler.abort();
            }));
        }
        match self.closing.as_mut().map(|f| f.as_mut().poll(cx)) {
            Some(Poll::Pending) => Poll::Pending,
            _ => Poll::Ready(Ok(())),
        }
    }
}

impl BackendConfig for StreamsBackend {
    type Args = Envelope;
    type Id = uuid::Uuid;
    /// Our tasks come out of the fetch decoded (the envelope is JSON in
    /// Redis, read by `RedisQueue::fetch`), so apalis adds no codec step;
    /// durability is the store's, not a wrapper's.
    type Kind = apalis_core::backend::finalize::Ephemeral;
    type Config = WorkerConfig;
    type Layer = SettleLayer;

    fn config(&self) -> &WorkerConfig {
        &self.shared.cfg
    }

    fn middleware(&mut self, _worker: &mut WorkerContext) -> SettleLayer {
        SettleLayer::new(self.shared.clone())
    }
}

/// The latest moment this worker may still hold its jobs: one heartbeat
/// before the lease of the last heartbeat that succeeded could end, so a
/// hand-back is done before another worker may take them over.
fn lease_safe_until(s: &Shared) -> Instant {
    let beaten = *s.beaten.lock().unwrap_or_else(|e| e.into_inner());
    beaten + s.cfg.lease.saturating_sub(s.cfg.heartbeat)
}

/// On stop: hands back at once the jobs fetched but not started, waits for
/// running jobs up to the grace period (and never past the safe end of
/// their lease, should heartbeats fail), then hands back the rest.
async fn drain(s: &Arc<Shared>) {
    let waiting: Vec<(String, Held)> = {
        let mut held = s.held();
        let ids: Vec<String> = held
            .iter()
            .filter(|(_, h)| !h.started)
            .map(|(k, _)| k.clone())
            .collect();
        ids.into_iter()
            .filter_map(|k| held.remove(&k).map(|h| (k, h)))
            .collect()
    };
    // Fetched as the stop came (apalis starts nothing once stopping): they
    // go back as an unclaimed fetch does, which is no warning.
    if !waiting.is_empty() {
        tracing::info!(
            queue = s.queue.name(),
            jobs = waiting.len(),
            "returning jobs fetched as the stop came, not started, to their queue"
        );
    }
    hand_back(s, waiting).await;
    let grace_end = Instant::now() + s.cfg.grace;
    let mut lease_ending = false;
    loop {
        let notified = s.emptied.notified();
        if s.held().is_empty() {
            break;
        }
        let safe = lease_safe_until(s);
        let until = grace_end.min(safe);
        if Instant::now() >= until {
            lease_ending = safe < grace_end;
            break;
        }
        // Woken when a job finishes, or to look at the deadlines again.
        let _ = tokio::time::timeout_at(until, notified).await;
    }
    let remaining: Vec<(String, Held)> = s.held().drain().collect();
    if remaining.is_empty() {
        return;
    }
    // The running jobs end at once; their outcome is not recorded.
    let _ = s.handing_back.send(true);
    if lease_ending {
        tracing::warn!(
            queue = s.queue.name(),
            jobs = remaining.len(),
            "heartbeats failing and the lease ending: handing jobs back"
        );
    } else {
        tracing::warn!(
            queue = s.queue.name(),
            jobs = remaining.len(),
            "grace period over: handing jobs back"
        );
    }
    hand_back(s, remaining).await;
}

/// Records jobs as waiting again and puts their entries back at the end of
/// the stream, uncounted.
async fn hand_back(s: &Shared, jobs: Vec<(String, Held)>) {
    if jobs.is_empty() {
        return;
    }
    let ids: Vec<JobId> = jobs.iter().map(|(_, h)| h.envelope.id).collect();
    let now = s.ctx.db.clock.now();
    if let Err(e) = store::hand_back(&s.ctx.db, &ids, now).await {
        tracing::error!(error = %e, "recording handed-back jobs; they return after the lease");
        return;
    }
    let settles: Vec<Settle> = jobs
        .into_iter()
        .map(|(stream_id, h)| {
            let mut envelope = h.envelope;
            envelope.queued_ms = now.timestamp_millis();
            Settle::HandBack {
                stream_id,
                envelope,
            }
        })
        .collect();
    if let Err(e) = s.ctx.queue.settle(s.queue, &settles).await {
        tracing::error!(error = %e, "handing jobs back to Redis; they return after the lease");
    }
}

type Tasks = mpsc::UnboundedSender<Task<Envelope>>;

async fn fetch_loop(s: Arc<Shared>, tasks: Tasks, mut stop: watch::Receiver<bool>) {
    let mut conn = None;
    let mut failures = 0u32;
    // Claims in flight: the next read goes on while PostgreSQL claims the last.
    let mut claiming = tokio::task::JoinSet::new();
    while !*stop.borrow() {
        while claiming.try_join_next().is_some() {}
        // Wait for a free slot, then read as many entries as slots are free
        // (up to the batch). Only that first slot is held while the read
        // blocks: the reclaimer takes over a dead worker's jobs with the
        // others meanwhile.
        let first = tokio::select! {
            p = s.slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stop.changed() => break,
        };
        let room = 1 + s
            .slots
            .available_permits()
            .min(s.cfg.fetch_batch.saturating_sub(1));
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match s.ctx.queue.dedicated().await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    backoff(&s, &mut failures, &e.to_string()).await;
                    continue;
                }
            },
        };
        match s
            .ctx
            .queue
            .fetch(c, s.queue, &s.cfg.consumer, room, 1000)
            .await
        {
            Ok(deliveries) => {
                failures = 0;
                if deliveries.is_empty() {
                } else if *stop.borrow() {
                    // Read as the stop came: not claimed, so back at once.
                    put_back(&s, deliveries).await;
                } else {
                    // A slot for each entry read, taken before the next read
                    // counts the free ones; waited for if the reclaimer took
                    // some meanwhile.
                    let mut slots = first;
                    let want = (deliveries.len() - 1) as u32;
                    if want > 0 {
                        let more = match s.slots.clone().try_acquire_many_owned(want) {
                            Ok(p) => Ok(p),
                            Err(_) => tokio::select! {
                                p = s.slots.clone().acquire_many_owned(want) => p,
                                _ = stop.changed() => {
                                    put_back(&s, deliveries).await;
                                    break;
                                }
                            },
                        };
                        match more {
                            Ok(p) => slots.merge(p),
                            Err(_) => break,
                        }
                    }
                    let (s, tasks) = (s.clone(), tasks.clone());
                    claiming.spawn(async move {
                        start(&s, &tasks, deliveries, false, Some(slots)).await;
                    });
                }
            }
            Err(e) => {
                if e.code() == Some("NOGROUP") {
                    let _ = s.ctx.queue.ensure_groups().await;
                } else {
                    conn = None;
                }
                backoff(&s, &mut failures, &e.to_string()).await;
            }
        }
    }
    // Every claim ends before the drain looks at what this worker holds.
    while claiming.join_next().await.is_some() {}
}

/// Returns entries fetched but never claimed to the end of the stream.
async fn put_back(s: &Shared, deliveries: Vec<Delivery>) {
    let settles: Vec<Settle> = deliveries
        .into_iter()
        .map(|d| match d.envelope {
            Some(envelope) => Settle::HandBack {
                stream_id: d.stream_id,
                envelope,
            },
            None => Settle::Done {
                stream_id: d.stream_id,
                job: None,
            },
        })
        .collect();
    if let Err(e) = s.ctx.queue.settle(s.queue, &settles).await {
        tracing::warn!(error = %e, "returning fetched jobs failed; they return after the lease");
    }
}

async fn backoff(s: &Shared, failures: &mut u32, error: &str) {
    *failures += 1;
    tracing::warn!(
        queue = s.queue.name(),
        error,
        "fetching jobs failed; retrying"
    );
    let wait =
        Duration::from_millis(100u64.saturating_mul(2u64.saturating_pow((*failures).min(5))));
    tokio::time::sleep(wait).await;
}

/// Claims fetched entries in PostgreSQL and hands the claimed ones to the
/// worker, each with a slot: one of `slots` (taken before the read), or
/// one waited for.
async fn start(
    s: &Arc<Shared>,
    tasks: &Tasks,
    deliveries: Vec<Delivery>,
    reclaimed: bool,
    mut slots: Option<OwnedSemaphorePermit>,
) {
    let now = s.ctx.db.clock.now();
    let mut drop_now = Vec::new();
    let mut readable = Vec::new();
    for d in deliveries {
        match d.envelope {
            Some(env) => readable.push((d.stream_id, env)),
            None => {
                tracing::error!(stream_id = %d.stream_id, "unreadable queue entry dropped");
                drop_now.push(Settle::Done {
                    stream_id: d.stream_id,
                    job: None,
                });
            }
        }
    }
    let ids: Vec<JobId> = readable.iter().map(|(_, e)| e.id).collect();
    let claimed = match store::claim(&s.ctx.db, &ids, reclaimed, now).await {
        Ok(c) => c,
        Err(e) => {
            // Left unacknowledged: reclaimed after the lease.
            tracing::error!(error = %e, "claiming fetched jobs failed");
            return;
        }
    };
    let mut claimed: HashMap<JobId, (i32, i32)> = claimed
        .into_iter()
        .map(|c| (c.id, (c.attempts, c.max_attempts)))
        .collect();
    for (stream_id, env) in readable {
        // Taken out, so a second entry of one job in this batch runs nothing.
        let Some((attempt, max_attempts)) = claimed.remove(&env.id) else {
            // Cancelled, finished, or a duplicate entry: nothing to run.
            drop_now.push(Settle::Done {
                stream_id,
                job: Some(env.id),
            });
            continue;
        };
        let taken = match slots.as_mut() {
            Some(p) if p.num_permits() > 1 => p.split(1),
            _ => slots.take(),
        };
        let slot = match taken {
            Some(p) => p,
            None => match s.slots.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => match s.slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            },
        };
        let task = TaskBuilder::new(env.clone())
            .task_id(TaskId::from_uuid(env.id.as_uuid()))
            .attempt(usize::try_from(attempt - 1).unwrap_or(0))
            .max_attempts(usize::try_from(max_attempts).unwrap_or(0))
            .data(Claim {
                stream_id: stream_id.clone(),
                attempt,
            })
            .build();
        s.held().insert(
            stream_id,
            Held {
                envelope: env,
                max_attempts,
                started: false,
                _slot: slot,
            },
        );
        // The worker is gone only when stopping: the drain hands it back.
        let _ = tasks.send(task);
    }
    if !drop_now.is_empty()
        && let Err(e) = s.ctx.queue.settle(s.queue, &drop_now).await
    {
        tracing::warn!(error = %e, "dropping finished entries failed; they return after the lease");
    }
}

/// Heartbeats held jobs until `drained`: while running, and while stopping
/// until each is finished or handed back.
async fn beat_loop(s: Arc<Shared>, mut drained: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(s.cfg.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = drained.changed() => return,
        }
        let sent = Instant::now();
        let held: Vec<String> = s.held().keys().cloned().collect();
        match s.ctx.queue.touch(s.queue, &s.cfg.consumer, &held).await {
            Ok(()) => *s.beaten.lock().unwrap_or_else(|e| e.into_inner()) = sent,
            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
        }
    }
}

/// Takes over jobs whose worker stopped heartbeating (it died), as many as
/// there are free slots; a stopping worker takes over nothing.
async fn reclaim_loop(s: Arc<Shared>, tasks: Tasks, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(s.cfg.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        loop {
            if *stop.borrow() {
                return;
            }
            let room = s.slots.available_permits().min(s.cfg.fetch_batch);
            if room == 0 {
                break;
            }
            let lease_ms = s.cfg.lease.as_millis() as u64;
            match s
                .ctx
                .queue
                .reclaim(s.queue, &s.cfg.consumer, lease_ms, room)
                .await
            {
                Ok(found) if found.is_empty() => break,
                Ok(found) => {
                    let n = found.len();
                    let found: Vec<Delivery> = {
                        let mine = s.held();
                        found
                            .into_iter()
                            .filter(|d| !mine.contains_key(&d.stream_id))
                            .collect()
                    };
                    if !found.is_empty() {
                        tracing::warn!(
                            queue = s.queue.name(),
                            jobs = found.len(),
                            "reclaimed jobs of a worker that stopped answering"
                        );
                        metrics::counter!("jobs_reclaimed_total", "queue" => s.queue.name())
                            .increment(found.len() as u64);
                        start(&s, &tasks, found, true, None).await;
                    }
                    if n < room {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reclaiming failed");
                    break;
                }
            }
        }
    }
}

/// Moves due delayed jobs to the stream, and reports queue depth.
async fn promote_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(s.cfg.promote_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let now_ms = s.ctx.db.clock.now().timestamp_millis();
        loop {
            match s.ctx.queue.promote(s.queue, now_ms, 1000).await {
                Ok(1000) => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "promoting delayed jobs failed");
                    break;
                }
            }
        }
        n += 1;
        if n % 10 == 1
            && let Ok((stream, delayed)) = s.ctx.queue.depth(s.queue).await
        {
            metrics::gauge!("queue_depth", "queue" => s.queue.name(), "part" => "stream")
                .set(stream as f64);
            metrics::gauge!("queue_depth", "queue" => s.queue.name(), "part" => "delayed")
                .set(delayed as f64);
        }
    }
}

/// An outcome for the settler, sent by the [`SettleLayer`].
pub(crate) fn send_outcome(s: &Shared, outcome: Outcome) {
    let _ = s.outcomes.send(settle::Message::Outcome(Box::new(outcome)));
}
