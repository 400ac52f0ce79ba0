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

use std::collections::HashMap;

use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::streams::{StreamAutoClaimReply, StreamReadReply};
use redis::{AsyncCommands, RedisResult, Value};

use nestogy_domain::JobId;

use crate::Queue;
use crate::envelope::Envelope;

pub const GROUP: &str = "workers";
/// Longest a fetch blocks waiting for a job.
pub const MAX_BLOCK_MS: u64 = 5_000;
const RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A handle on the queues in Redis, cheap to clone.
#[derive(Clone)]
pub struct RedisQueue {
    client: redis::Client,
    conn: ConnectionManager,
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

const PROMOTE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, e in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'e', e)
  redis.call('ZREM', KEYS[1], e)
end
return #due
";

impl RedisQueue {
    pub async fn connect(client: redis::Client, prefix: impl Into<String>) -> RedisResult<Self> {
        // Redis answers within milliseconds, but a burst's pipelines can take
        // longer than the client's default 500 ms; a timeout there would
        // fail an enqueue that Redis in fact carries out.
        // Reconnecting gives up after one quick retry (a few hundred ms; a
        // connection attempt times out after a second): with the default six
        // retries every call waited about 9 s while Redis was down. Callers
        // retry on their own (enqueue's push, the workers' loops).
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(std::time::Duration::from_secs(1)))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(client.clone(), config).await?;
        Ok(Self {
            client,
            conn,
            prefix: prefix.into(),
        })
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn stream_key(&self, q: Queue) -> String {
        format!("{}:q:{}", self.prefix, q.name())
    }

    pub fn delayed_key(&self, q: Queue) -> String {
        format!("{}:d:{}", self.prefix, q.name())
    }

    /// The set of ids of this family's jobs that have an entry in Redis.
    pub fn present_key(&self, q: Queue) -> String {
        format!("{}:in:{}", self.prefix, q.name())
    }

    fn sweep_lock_key(&self) -> String {
        format!("{}:sweep:lock", self.prefix)
    }

    fn sweep_cursor_key(&self) -> String {
        format!("{}:sweep:cursor", self.prefix)
    }

    /// A connection of its own, for blocking reads.
    /// Its response timeout outlasts the longest `BLOCK` a fetch asks for.
    pub async fn dedicated(&self) -> RedisResult<MultiplexedConnection> {
        let mut conn = self.client.get_multiplexed_async_connection().await?;
        conn.set_response_timeout(
            RESPONSE_TIMEOUT + std::time::Duration::from_millis(MAX_BLOCK_MS),
        );
        Ok(conn)
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

    /// Puts jobs on their queues in one atomic round trip; `Some(ms)` holds
    /// a job until then.
    pub async fn push(&self, items: &[(Queue, Envelope, Option<i64>)]) -> RedisResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (q, env, due) in items {
            match due {
                None => pipe
                    .xadd(self.stream_key(*q), "*", &[("e", env.encode())])
                    .ignore(),
                Some(ms) => pipe.zadd(self.delayed_key(*q), env.encode(), *ms).ignore(),
            };
            pipe.sadd(self.present_key(*q), member(env.id)).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await
    }

    /// Reads up to `count` new entries for `consumer`, waiting up to `block_ms`.
    pub async fn fetch(
        &self,
        conn: &mut MultiplexedConnection,
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
        let (stream, delayed, present) =
            (self.stream_key(q), self.delayed_key(q), self.present_key(q));
        let mut pipe = redis::pipe();
        pipe.atomic();
        for item in items {
            let id = match item {
                Settle::Done { stream_id, job } => {
                    if let Some(job) = job {
                        pipe.srem(&present, member(*job)).ignore();
                    }
                    stream_id
                }
                Settle::Retry {
                    stream_id,
                    envelope,
                    due_ms,
                } => {
                    pipe.zadd(&delayed, envelope.encode(), *due_ms).ignore();
                    pipe.sadd(&present, member(envelope.id)).ignore();
                    stream_id
                }
                Settle::HandBack {
                    stream_id,
                    envelope,
                } => {
                    pipe.xadd(&stream, "*", &[("e", envelope.encode())])
                        .ignore();
                    pipe.sadd(&present, member(envelope.id)).ignore();
                    stream_id
                }
            };
            pipe.xack(&stream, GROUP, &[id]).ignore();
            pipe.xdel(&stream, &[id]).ignore();
        }
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
