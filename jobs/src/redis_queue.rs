//! The queues in Redis ([`RedisQueue`]): one stream per [`Queue`] read
//! through a consumer group, and one sorted set per queue for jobs not due
//! yet.
//!
//! - Enqueue: `XADD` (due now) or `ZADD` (due later).
//! - Fetch: `XREADGROUP ... BLOCK`, which wakes the moment a job arrives.
//! - Settle: `XACK` + `XDEL` in one transaction, so a finished job leaves
//!   nothing behind; a retry adds the next attempt to the sorted set in the
//!   same transaction.
//! - Promote: a Lua script moves due jobs from the sorted set to the stream,
//!   at most `limit` per call, so a burst of any size never builds an
//!   unbounded reply.
//! - Reclaim: `XAUTOCLAIM` takes over entries a worker has held without a
//!   heartbeat for longer than the lease (its process died).
//! - Presence: one set per family holds the id of every job that has an
//!   entry in Redis (stream or sorted set). It changes in the same atomic
//!   transaction as the entries: `SADD` with every push, retry and
//!   hand-back, `SREM` when a settled job leaves. A job PostgreSQL holds as
//!   waiting whose id is not in the set was lost on its way to Redis or with
//!   Redis itself (a restart without its data takes the set too): the
//!   sweeper asks the set (`SMISMEMBER`) and queues only those again. The
//!   set may wrongly say absent (a duplicate entry settled while the job
//!   waits again), which costs a duplicate entry that the claim drops; it
//!   never says present for a job without an entry.
//!
//! Keys: every key of one queue carries the hash tag `{q:<queue>}`
//! (`<prefix>:{q:billing}:stream`, `:delayed`, `:present`), so on a Redis
//! Cluster they share one hash slot, and every transaction and script above
//! touches one slot. A push spanning queues goes out as one transaction per
//! queue on a cluster (one for all of them on a single server). The sweep's
//! lock and cursor (`<prefix>:sweep:lock`, `:cursor`) are used one command
//! at a time.
//!
//! Connections: `REDIS_URL` names one server (`redis://host:6379`) or, with
//! several comma-separated URLs, the seed nodes of a Redis Cluster
//! ([`QueueClient::open`]). [`QueueConnection`] is either kind; callers do
//! not see the difference.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::streams::{StreamAutoClaimReply, StreamReadReply};
use redis::{AsyncCommands, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use nestogy_domain::JobId;

use crate::Queue;
use crate::envelope::Envelope;

pub const GROUP: &str = "workers";
/// Longest a fetch blocks waiting for a job.
pub const MAX_BLOCK_MS: u64 = 5_000;
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a blocking read's connection waits for an answer: longer than
/// the longest `BLOCK` a fetch asks for.
const BLOCKING_RESPONSE_TIMEOUT: Duration =
    Duration::from_millis(RESPONSE_TIMEOUT.as_millis() as u64 + MAX_BLOCK_MS);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// Where the queues live: one Redis server, or a Redis Cluster.
#[derive(Clone)]
pub struct QueueClient(Client);

#[derive(Clone)]
enum Client {
    Single(redis::Client),
    Cluster(Box<ClusterClients>),
}

/// Two clients on the same cluster: one for commands, one whose response
/// timeout outlasts a blocking read.
#[derive(Clone)]
struct ClusterClients {
    commands: ClusterClient,
    blocking: ClusterClient,
}

impl QueueClient {
    /// Reads `REDIS_URL`: one URL is one server (`redis://127.0.0.1:6379`);
    /// several, comma-separated, are seed nodes of a Redis Cluster
    /// (`redis://10.0.0.1:6379,redis://10.0.0.2:6379`), from which the
    /// client learns the rest of the cluster. All of a cluster's URLs must
    /// carry the same user and password; a comma inside a password is
    /// written `%2C`.
    pub fn open(url: &str) -> RedisResult<QueueClient> {
        let nodes: Vec<&str> = url.split(',').map(str::trim).collect();
        if nodes.iter().any(|n| n.is_empty()) {
            return Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "REDIS_URL names an empty node: give one URL, or several separated by commas",
            )));
        }
        match nodes.as_slice() {
            [one] => Ok(QueueClient(Client::Single(redis::Client::open(*one)?))),
            several => {
                let cluster = |response| {
                    ClusterClient::builder(several.iter().copied())
                        .connection_timeout(CONNECTION_TIMEOUT)
                        .response_timeout(response)
                        .build()
                };
                Ok(QueueClient(Client::Cluster(Box::new(ClusterClients {
                    commands: cluster(RESPONSE_TIMEOUT)?,
                    blocking: cluster(BLOCKING_RESPONSE_TIMEOUT)?,
                }))))
            }
        }
    }

    /// True for a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.0, Client::Cluster(_))
    }

    /// A new connection of its own (on a cluster, one to each node, each
    /// multiplexed), with the client's default timeouts: for checks and
    /// tools, not for the queue's traffic.
    pub async fn get_multiplexed_async_connection(&self) -> RedisResult<QueueConnection> {
        Ok(QueueConnection(match &self.0 {
            Client::Single(c) => Conn::Multiplexed(c.get_multiplexed_async_connection().await?),
            Client::Cluster(c) => Conn::Cluster(c.commands.get_async_connection().await?),
        }))
    }
}

impl From<redis::Client> for QueueClient {
    fn from(c: redis::Client) -> Self {
        QueueClient(Client::Single(c))
    }
}

/// A connection to the queues' Redis, whichever kind it is: on one server
/// a connection manager (it reconnects after a broken connection) or a
/// plain multiplexed connection (for blocking reads); on a cluster a
/// cluster connection, which routes each command to the node serving its
/// key's slot, follows MOVED and ASK, and reconnects by itself.
#[derive(Clone)]
pub struct QueueConnection(Conn);

#[derive(Clone)]
enum Conn {
    Managed(ConnectionManager),
    Multiplexed(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for QueueConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.0 {
            Conn::Managed(c) => c.req_packed_command(cmd),
            Conn::Multiplexed(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.0 {
            Conn::Managed(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Multiplexed(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Conn::Managed(c) => c.get_db(),
            Conn::Multiplexed(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// A handle on the queues in Redis, cheap to clone.
#[derive(Clone)]
pub struct RedisQueue {
    client: QueueClient,
    conn: QueueConnection,
    prefix: String,
}

/// One entry read from a stream.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub stream_id: String,
    /// `None` when the entry could not be read as a job.
    pub envelope: Option<Envelope>,
}

/// What to do with a fetched entry when its attempt is over.
#[derive(Debug, Clone)]
pub enum Settle {
    /// Finished (succeeded, dead, cancelled or unreadable): remove it, and
    /// the job from the presence set (`None`: an unreadable entry).
    Done {
        stream_id: String,
        job: Option<JobId>,
    },
    /// Failed with attempts left: remove it and queue the next attempt at `due_ms`.
    Retry {
        stream_id: String,
        envelope: Envelope,
        due_ms: i64,
    },
    /// Not run (the worker stops): put it back at the end of the stream.
    HandBack {
        stream_id: String,
        envelope: Envelope,
    },
}

/// Moves due jobs of one queue: `KEYS[1]` its delayed set, `KEYS[2]` its
/// stream (one hash slot); `ARGV[1]` now in ms, `ARGV[2]` the most to move.
/// Like every script here it names no key but those it is given.
const PROMOTE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, e in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'e', e)
  redis.call('ZREM', KEYS[1], e)
end
return #due
";

impl RedisQueue {
    /// Connects to one server (a `redis::Client`) or a cluster (a
    /// [`QueueClient`] from [`QueueClient::open`]). The prefix may not hold
    /// `{` or `}`: the queues' hash tags must be the first in their keys.
    pub async fn connect(
        client: impl Into<QueueClient>,
        prefix: impl Into<String>,
    ) -> RedisResult<Self> {
        let client = client.into();
        let prefix = prefix.into();
        if prefix.contains(['{', '}']) {
            return Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "the Redis key prefix may not contain { or }",
                prefix,
            )));
        }
        let conn = match &client.0 {
            Client::Single(c) => {
                // Redis answers within milliseconds, but a burst's pipelines
                // can take longer than the client's default 500 ms; a
                // timeout there would fail an enqueue that Redis in fact
                // carries out.
                // Reconnecting gives up after one quick retry (a few hundred
                // ms; a connection attempt times out after a second): with
                // the default six retries every call waited about 9 s while
                // Redis was down. Callers retry on their own (enqueue's
                // push, the workers' loops).
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_connection_timeout(Some(CONNECTION_TIMEOUT))
                    .set_number_of_retries(1);
                Conn::Managed(ConnectionManager::new_with_config(c.clone(), config).await?)
            }
            // The cluster connection keeps one multiplexed connection per
            // node and reconnects by itself; a call gives up after the
            // response timeout (10 s), retries and redirections included.
            Client::Cluster(c) => Conn::Cluster(c.commands.get_async_connection().await?),
        };
        Ok(Self {
            client,
            conn: QueueConnection(conn),
            prefix,
        })
    }

    pub fn client(&self) -> &QueueClient {
        &self.client
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The stream of jobs due (its consumer group: [`GROUP`]).
    pub fn stream_key(&self, q: Queue) -> String {
        queue_keys(&self.prefix, q).stream
    }

    /// The sorted set of jobs not due yet, scored by when they are.
    pub fn delayed_key(&self, q: Queue) -> String {
        queue_keys(&self.prefix, q).delayed
    }

    /// The set of ids of this family's jobs that have an entry in Redis.
    pub fn present_key(&self, q: Queue) -> String {
        queue_keys(&self.prefix, q).present
    }

    fn sweep_lock_key(&self) -> String {
        format!("{}:sweep:lock", self.prefix)
    }

    fn sweep_cursor_key(&self) -> String {
        format!("{}:sweep:cursor", self.prefix)
    }

    /// A connection of its own, for blocking reads: a command waits behind
    /// a blocked one on the same connection, so no other command uses it.
    /// On a cluster, a cluster connection of its own (its own connection to
    /// each node). Its response timeout outlasts the longest `BLOCK` a fetch
    /// asks for.
    pub async fn dedicated(&self) -> RedisResult<QueueConnection> {
        Ok(QueueConnection(match &self.client.0 {
            Client::Single(c) => {
                let mut conn = c.get_multiplexed_async_connection().await?;
                conn.set_response_timeout(BLOCKING_RESPONSE_TIMEOUT);
                Conn::Multiplexed(conn)
            }
            Client::Cluster(c) => Conn::Cluster(c.blocking.get_async_connection().await?),
        }))
    }

    /// Creates each queue's stream and consumer group if missing (after a
    /// Redis restart too). The group starts at the stream's beginning, so
    /// nothing added before it is missed.
    pub async fn ensure_groups(&self) -> RedisResult<()> {
        let mut conn = self.conn.clone();
        for q in Queue::ALL {
            let r: RedisResult<()> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(self.stream_key(q))
                .arg(GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut conn)
                .await;
            match r {
                Ok(()) => {}
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Puts jobs on their queues; `Some(ms)` holds a job until then. On one
    /// server, one atomic round trip; on a cluster, one atomic transaction
    /// per queue (a transaction cannot span hash slots), sent at once. When
    /// some queues took their jobs and another failed, the error is
    /// returned; pushing all of them again only adds duplicate entries,
    /// which the claim drops.
    pub async fn push(&self, items: &[(Queue, Envelope, Option<i64>)]) -> RedisResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        // By queue, each in the order given: one SADD per queue's presence set.
        let mut per_queue: Vec<(Queue, Vec<Push<'_>>)> = Vec::new();
        for (q, env, due) in items {
            match per_queue.iter_mut().find(|(pq, _)| pq == q) {
                Some((_, list)) => list.push((env, *due)),
                None => per_queue.push((*q, vec![(env, *due)])),
            }
        }
        if !self.client.is_cluster() {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (q, list) in &per_queue {
                self.add_pushes(&mut pipe, *q, list);
            }
            let mut conn = self.conn.clone();
            return pipe.query_async::<()>(&mut conn).await;
        }
        futures_util::future::try_join_all(per_queue.iter().map(|(q, list)| {
            let mut pipe = redis::pipe();
            pipe.atomic();
            self.add_pushes(&mut pipe, *q, list);
            let mut conn = self.conn.clone();
            async move { pipe.query_async::<()>(&mut conn).await }
        }))
        .await
        .map(|_| ())
    }

    /// Adds the entries of queue `q` to `pipe`, and their ids to its presence set.
    fn add_pushes(&self, pipe: &mut Pipeline, q: Queue, list: &[Push<'_>]) {
        let keys = queue_keys(&self.prefix, q);
        for (env, due) in list {
            match due {
                None => pipe
                    .xadd(&keys.stream, "*", &[("e", env.encode())])
                    .ignore(),
                Some(ms) => pipe.zadd(&keys.delayed, env.encode(), *ms).ignore(),
            };
        }
        let members: Vec<Vec<u8>> = list.iter().map(|(env, _)| member(env.id)).collect();
        pipe.sadd(&keys.present, members).ignore();
    }

    /// Reads up to `count` new entries for `consumer`, waiting up to
    /// `block_ms`, on a connection from [`RedisQueue::dedicated`].
    pub async fn fetch(
        &self,
        conn: &mut QueueConnection,
        q: Queue,
        consumer: &str,
        count: usize,
        block_ms: u64,
    ) -> RedisResult<Vec<Delivery>> {
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(block_ms.min(MAX_BLOCK_MS))
            .arg("STREAMS")
            .arg(self.stream_key(q))
            .arg(">")
            .query_async(conn)
            .await?;
        Ok(reply
            .map(|r| {
                r.keys
                    .into_iter()
                    .flat_map(|k| k.ids)
                    .map(delivery)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Settles finished attempts in one atomic round trip.
    pub async fn settle(&self, q: Queue, items: &[Settle]) -> RedisResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        let keys = queue_keys(&self.prefix, q);
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut ids: Vec<&str> = Vec::with_capacity(items.len());
        // Each job's presence as the items leave it, in their order.
        let mut presence: HashMap<JobId, bool> = HashMap::new();
        for item in items {
            let id = match item {
                Settle::Done { stream_id, job } => {
                    if let Some(job) = job {
                        presence.insert(*job, false);
                    }
                    stream_id
                }
                Settle::Retry {
                    stream_id,
                    envelope,
                    due_ms,
                } => {
                    pipe.zadd(&keys.delayed, envelope.encode(), *due_ms)
                        .ignore();
                    presence.insert(envelope.id, true);
                    stream_id
                }
                Settle::HandBack {
                    stream_id,
                    envelope,
                } => {
                    pipe.xadd(&keys.stream, "*", &[("e", envelope.encode())])
                        .ignore();
                    presence.insert(envelope.id, true);
                    stream_id
                }
            };
            ids.push(id);
        }
        let (added, removed): (Vec<_>, Vec<_>) = presence.into_iter().partition(|(_, p)| *p);
        if !added.is_empty() {
            let members: Vec<Vec<u8>> = added.into_iter().map(|(j, _)| member(j)).collect();
            pipe.sadd(&keys.present, members).ignore();
        }
        if !removed.is_empty() {
            let members: Vec<Vec<u8>> = removed.into_iter().map(|(j, _)| member(j)).collect();
            pipe.srem(&keys.present, members).ignore();
        }
        pipe.xack(&keys.stream, GROUP, &ids).ignore();
        pipe.xdel(&keys.stream, &ids).ignore();
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await
    }

    /// Moves jobs due by `now_ms` onto the stream, at most `limit`; returns
    /// how many moved.
    pub async fn promote(&self, q: Queue, now_ms: i64, limit: usize) -> RedisResult<usize> {
        let mut conn = self.conn.clone();
        redis::Script::new(PROMOTE)
            .key(self.delayed_key(q))
            .key(self.stream_key(q))
            .arg(now_ms)
            .arg(limit)
            .invoke_async(&mut conn)
            .await
    }

    /// Takes over up to `count` entries idle for at least `min_idle_ms`.
    pub async fn reclaim(
        &self,
        q: Queue,
        consumer: &str,
        min_idle_ms: u64,
        count: usize,
    ) -> RedisResult<Vec<Delivery>> {
        let mut conn = self.conn.clone();
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(self.stream_key(q))
            .arg(GROUP)
            .arg(consumer)
            .arg(min_idle_ms)
            .arg("0-0")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut conn)
            .await?;
        Ok(reply.claimed.into_iter().map(delivery).collect())
    }

    /// The heartbeat: resets the idle time of entries this consumer holds,
    /// so no other worker reclaims them.
    pub async fn touch(&self, q: Queue, consumer: &str, ids: &[String]) -> RedisResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(self.stream_key(q)).arg(GROUP).arg(consumer).arg(0);
        for id in ids {
            cmd.arg(id);
        }
        cmd.arg("JUSTID");
        cmd.query_async::<Value>(&mut conn).await.map(|_| ())
    }

    /// Entries on the stream (waiting or held) and jobs not yet due.
    pub async fn depth(&self, q: Queue) -> RedisResult<(u64, u64)> {
        let mut conn = self.conn.clone();
        let (stream, delayed): (u64, u64) = redis::pipe()
            .xlen(self.stream_key(q))
            .zcard(self.delayed_key(q))
            .query_async(&mut conn)
            .await?;
        Ok((stream, delayed))
    }

    /// Which of `ids` (jobs of `q`) have an entry in Redis, by the presence
    /// set: one answer per id, in order.
    pub async fn present(&self, q: Queue, ids: &[JobId]) -> RedisResult<Vec<bool>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("SMISMEMBER");
        cmd.arg(self.present_key(q));
        for id in ids {
            cmd.arg(member(*id));
        }
        let flags: Vec<i64> = cmd.query_async(&mut conn).await?;
        Ok(flags.into_iter().map(|f| f == 1).collect())
    }

    /// Takes the sweeper's turn for `ms` milliseconds: true for one caller
    /// (any process) per period. The lock is not released: it expires, so
    /// the sweep runs at most once per period however many workers run.
    pub async fn sweep_turn(&self, holder: &str, ms: u64) -> RedisResult<bool> {
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.sweep_lock_key())
            .arg(holder)
            .arg("NX")
            .arg("PX")
            .arg(ms.max(1))
            .query_async(&mut conn)
            .await?;
        Ok(set.is_some())
    }

    /// Where the last sweep stopped (opaque to the queue), if anywhere.
    pub async fn sweep_cursor(&self) -> RedisResult<Option<String>> {
        let mut conn = self.conn.clone();
        conn.get(self.sweep_cursor_key()).await
    }

    /// Records where this sweep stopped; `None` starts the next at the beginning.
    pub async fn set_sweep_cursor(&self, cursor: Option<&str>) -> RedisResult<()> {
        let mut conn = self.conn.clone();
        match cursor {
            Some(c) => conn.set(self.sweep_cursor_key(), c).await,
            None => conn.del(self.sweep_cursor_key()).await,
        }
    }

    /// Removes consumers that hold nothing and were idle for `idle_ms`
    /// (workers that stopped), so the group does not grow forever.
    pub async fn prune_consumers(&self, q: Queue, idle_ms: u64) -> RedisResult<usize> {
        let mut conn = self.conn.clone();
        let stream = self.stream_key(q);
        let consumers: Vec<HashMap<String, Value>> = match redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(&stream)
            .arg(GROUP)
            .query_async(&mut conn)
            .await
        {
            Ok(c) => c,
            // No stream or group yet: nobody to prune.
            Err(e) if e.code() == Some("NOGROUP") || e.to_string().contains("no such key") => {
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for c in consumers {
            let int = |k: &str| match c.get(k) {
                Some(Value::Int(n)) => *n,
                _ => 0,
            };
            let name = match c.get("name") {
                Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(Value::SimpleString(s)) => s.clone(),
                _ => continue,
            };
            if int("pending") == 0 && int("idle") as u64 >= idle_ms {
                let _: i64 = conn.xgroup_delconsumer(&stream, GROUP, &name).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Every key of one queue.
struct QueueKeys {
    stream: String,
    delayed: String,
    present: String,
}

/// `<prefix>:{q:<queue>}:<part>`: the hash tag `{q:<queue>}` (the first
/// braces in the key, as the prefix holds none) puts every key of a queue in
/// one hash slot of a cluster.
fn queue_keys(prefix: &str, q: Queue) -> QueueKeys {
    let key = |part: &str| format!("{prefix}:{{q:{}}}:{part}", q.name());
    QueueKeys {
        stream: key("stream"),
        delayed: key("delayed"),
        present: key("present"),
    }
}

/// An entry to push: the job and, for a delayed one, when it is due (ms).
type Push<'a> = (&'a Envelope, Option<i64>);

/// A job's member in the presence set: its id's 16 bytes.
fn member(id: JobId) -> Vec<u8> {
    id.as_uuid().as_bytes().to_vec()
}

fn delivery(s: redis::streams::StreamId) -> Delivery {
    let envelope = match s.map.get("e") {
        Some(Value::BulkString(b)) => Envelope::decode(b),
        Some(Value::SimpleString(t)) => Envelope::decode(t.as_bytes()),
        _ => None,
    };
    Delivery {
        stream_id: s.id,
        envelope,
    }
}

#[cfg(test)]
mod tests {
    use redis::cluster_routing::Slot;

    use super::*;

    /// Every key one transaction or script of a queue touches is in one
    /// hash slot, whatever the prefix; the queues are spread over slots.
    #[test]
    fn every_key_of_a_queue_maps_to_one_slot() {
        for prefix in ["nestogy", "nestogy_t_0192", "a:b", ""] {
            let mut slots = std::collections::HashSet::new();
            for q in Queue::ALL {
                let k = queue_keys(prefix, q);
                let slot = Slot::for_key(&k.stream);
                assert_eq!(Slot::for_key(&k.delayed), slot, "{}", k.delayed);
                assert_eq!(Slot::for_key(&k.present), slot, "{}", k.present);
                assert!(k.stream.starts_with(&format!("{prefix}:")), "{}", k.stream);
                let distinct: std::collections::HashSet<_> =
                    [&k.stream, &k.delayed, &k.present].into_iter().collect();
                assert_eq!(distinct.len(), 3);
                slots.insert(format!("{slot:?}"));
            }
            assert_eq!(slots.len(), Queue::ALL.len(), "a slot per queue: {slots:?}");
        }
    }

    /// The crate's slot of a key is the one Redis computes (`CLUSTER
    /// KEYSLOT` on redis-server 7.0 gave these).
    #[test]
    fn slots_agree_with_redis() {
        for (key, slot) in [
            ("x:{q:default}:stream", 270),
            ("x:{q:billing}:stream", 9938),
            ("x:{q:inbound}:stream", 14249),
        ] {
            assert_eq!(Slot::for_key(key), Slot::new(slot).unwrap(), "{key}");
        }
    }

    #[test]
    fn redis_url_names_one_server_or_a_cluster() {
        assert!(
            !QueueClient::open("redis://127.0.0.1:6379")
                .unwrap()
                .is_cluster()
        );
        let c = QueueClient::open(
            "redis://127.0.0.1:7001, redis://127.0.0.1:7002,redis://127.0.0.1:7003",
        )
        .unwrap();
        assert!(c.is_cluster());
        for bad in ["", "redis://127.0.0.1:7001,", "redis://a:1,,redis://b:2"] {
            let e = QueueClient::open(bad).err().expect(bad);
            assert_eq!(e.kind(), ErrorKind::InvalidClientConfig, "{bad}: {e}");
        }
        // Nodes of one cluster share their credentials.
        assert!(QueueClient::open("redis://:a@127.0.0.1:7001,redis://:b@127.0.0.1:7002").is_err());
    }
}
