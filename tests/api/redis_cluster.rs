//! A Redis Cluster of three masters on loopback, started by the test that
//! needs it (free ports, a temporary folder, its processes killed when the
//! test ends), and the queue's operations on it: every transaction and
//! script of a queue stays in one hash slot, and a blocking read never
//! holds up other commands.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nestogy_domain::JobId;
use nestogy_jobs::envelope::Envelope;
use nestogy_jobs::redis_queue::Settle;
use nestogy_jobs::{Queue, QueueClient, RedisQueue};

use crate::common::{eventually, redis_url};

/// Three `redis-server --cluster-enabled yes` masters holding all 16,384
/// slots between them, killed (and their folder removed) when dropped.
pub struct RedisCluster {
    ports: Vec<u16>,
    children: Vec<Child>,
    dir: PathBuf,
}

impl RedisCluster {
    pub async fn start() -> RedisCluster {
        // Three client ports and three cluster-bus ports, all free: the
        // listeners are held until all six are chosen, so none repeats.
        let listeners: Vec<std::net::TcpListener> = (0..6)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
            .collect();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().expect("port").port())
            .collect();
        drop(listeners);
        let dir = std::env::temp_dir().join(format!(
            "nestogy-redis-cluster-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).expect("cluster folder");
        let mut cluster = RedisCluster {
            ports: ports[..3].to_vec(),
            children: Vec::new(),
            dir,
        };
        for (port, bus) in ports[..3].iter().zip(&ports[3..]) {
            let log = std::fs::File::create(cluster.dir.join(format!("redis-{port}.log")))
                .expect("log file");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus.to_string(),
                ])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .arg("--dir")
                .arg(&cluster.dir)
                .args(["--save", "", "--appendonly", "no"])
                .args(["--maxmemory-policy", "noeviction"])
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .expect("redis-server runs");
            cluster.children.push(child);
        }
        for url in cluster.node_urls() {
            eventually("a cluster node to answer", Duration::from_secs(10), || {
                let url = url.clone();
                async move { node_info(&url, "PING").await.is_some() }
            })
            .await;
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let out = tokio::task::spawn_blocking(move || {
            Command::new("redis-cli")
                .args(["--cluster", "create"])
                .args(&nodes)
                .arg("--cluster-yes")
                .stdin(Stdio::null())
                .output()
        })
        .await
        .expect("redis-cli task")
        .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for url in cluster.node_urls() {
            eventually(
                "every node to report cluster_state:ok",
                Duration::from_secs(30),
                || {
                    let url = url.clone();
                    async move {
                        node_info(&url, "CLUSTER INFO")
                            .await
                            .is_some_and(|i| i.contains("cluster_state:ok"))
                    }
                },
            )
            .await;
        }
        cluster
    }

    fn node_urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// `REDIS_URL` for the cluster: its nodes, comma-separated.
    pub fn url(&self) -> String {
        self.node_urls().join(",")
    }

    /// Keys held by each master (`DBSIZE`, asked of each node directly).
    pub async fn keys_on_each_node(&self) -> Vec<u64> {
        let mut sizes = Vec::new();
        for url in self.node_urls() {
            let n = node_info(&url, "DBSIZE").await.expect("node answers");
            sizes.push(n.parse().expect("a count"));
        }
        sizes
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One node's answer to `command` (words split on spaces), as text, on a
/// plain connection to that node alone; `None` when it does not answer.
async fn node_info(url: &str, command: &str) -> Option<String> {
    let client = redis::Client::open(url).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let mut cmd = redis::Cmd::new();
    for word in command.split(' ') {
        cmd.arg(word);
    }
    let v: redis::Value = cmd.query_async(&mut conn).await.ok()?;
    match v {
        redis::Value::Int(n) => Some(n.to_string()),
        other => redis::from_redis_value::<String>(other).ok(),
    }
}

fn envelope() -> Envelope {
    Envelope {
        id: JobId::new(),
        kind: "diag.noop".into(),
        tenant: None,
        payload: serde_json::json!({"tenant": null}),
        queued_ms: 0,
    }
}

async fn queue_on(url: &str) -> RedisQueue {
    let prefix = format!("nestogy_c_{}", uuid::Uuid::now_v7().simple());
    RedisQueue::connect(QueueClient::open(url).expect("REDIS_URL"), prefix)
        .await
        .expect("connect")
}

/// Every operation of the queue on a cluster: one push spanning all eight
/// queues (split per slot), fetch, settle (done, retry, hand-back: one
/// transaction each on one slot), promote (the Lua script), reclaim, touch,
/// presence, depth and pruning. With keys of one queue in different slots,
/// the transactions and the script fail with CROSSSLOT.
#[tokio::test]
async fn every_queue_operation_works_on_a_redis_cluster() {
    let cluster = RedisCluster::start().await;
    let queue = queue_on(&cluster.url()).await;
    assert!(queue.client().is_cluster());
    queue.ensure_groups().await.unwrap();
    queue.ensure_groups().await.unwrap();

    // One job due now and one due in the past (delayed) on every queue, in
    // one push.
    let items: Vec<(Queue, Envelope, Option<i64>)> = Queue::ALL
        .into_iter()
        .flat_map(|q| [(q, envelope(), None), (q, envelope(), Some(1))])
        .collect();
    queue.push(&items).await.unwrap();
    for q in Queue::ALL {
        assert_eq!(queue.depth(q).await.unwrap(), (1, 1), "{}", q.name());
        let ids: Vec<JobId> = items
            .iter()
            .filter(|(iq, _, _)| *iq == q)
            .map(|(_, e, _)| e.id)
            .collect();
        assert_eq!(queue.present(q, &ids).await.unwrap(), vec![true, true]);
        assert_eq!(
            queue.present(q, &[JobId::new()]).await.unwrap(),
            vec![false]
        );
        assert_eq!(queue.promote(q, 1_000, 100).await.unwrap(), 1);
        assert_eq!(queue.depth(q).await.unwrap(), (2, 0));
    }
    // The eight queues' keys are spread over the three masters.
    let keys = cluster.keys_on_each_node().await;
    assert!(keys.iter().all(|n| *n > 0), "keys per master: {keys:?}");

    let q = Queue::Billing;
    let mut conn = queue.dedicated().await.unwrap();
    let got = queue.fetch(&mut conn, q, "a", 10, 100).await.unwrap();
    assert_eq!(got.len(), 2);
    let held: Vec<String> = got.iter().map(|d| d.stream_id.clone()).collect();
    queue.touch(q, "a", &held).await.unwrap();
    // Each idle for a millisecond once touched: `b` takes both over.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut taken = Vec::new();
    while taken.len() < 2 && Instant::now() < deadline {
        taken.extend(queue.reclaim(q, "b", 1, 10).await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(taken.len(), 2);
    let (done, retry) = (&taken[0], &taken[1]);
    let retry_env = retry.envelope.clone().expect("a job");
    queue
        .settle(
            q,
            &[
                Settle::Done {
                    stream_id: done.stream_id.clone(),
                    job: done.envelope.as_ref().map(|e| e.id),
                },
                Settle::Retry {
                    stream_id: retry.stream_id.clone(),
                    envelope: retry_env.clone(),
                    due_ms: 5,
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(queue.depth(q).await.unwrap(), (0, 1));
    assert_eq!(
        queue
            .present(q, &[done.envelope.as_ref().unwrap().id, retry_env.id])
            .await
            .unwrap(),
        vec![false, true]
    );
    assert_eq!(queue.promote(q, 10, 100).await.unwrap(), 1);
    let again = queue.fetch(&mut conn, q, "a", 10, 100).await.unwrap();
    assert_eq!(again.len(), 1);
    queue
        .settle(
            q,
            &[Settle::HandBack {
                stream_id: again[0].stream_id.clone(),
                envelope: retry_env,
            }],
        )
        .await
        .unwrap();
    assert_eq!(queue.depth(q).await.unwrap(), (1, 0));
    assert_eq!(queue.prune_consumers(q, 0).await.unwrap(), 2);

    assert!(queue.sweep_turn("me", 10_000).await.unwrap());
    assert!(!queue.sweep_turn("you", 10_000).await.unwrap());
    queue.set_sweep_cursor(Some("at")).await.unwrap();
    assert_eq!(queue.sweep_cursor().await.unwrap().as_deref(), Some("at"));
}

/// A fetch blocked on an empty queue does not hold up the queue's other
/// commands, on one Redis and on a cluster (where the blocked read is on
/// the very node serving that queue's slot), and it wakes the moment a job
/// is pushed. `url`: a Redis (or cluster) of the test's own.
async fn a_blocked_fetch_holds_nothing_up(url: &str) {
    let queue = queue_on(url).await;
    queue.ensure_groups().await.unwrap();
    let q = Queue::Default;
    let fetching = {
        let queue = queue.clone();
        tokio::spawn(async move {
            let mut conn = queue.dedicated().await.unwrap();
            let started = Instant::now();
            let got = queue.fetch(&mut conn, q, "a", 1, 5_000).await.unwrap();
            (got, started.elapsed())
        })
    };
    // Redis of this test's own: no other client blocks there.
    eventually("the fetch to block", Duration::from_secs(5), || async {
        blocked_clients(url).await == 1
    })
    .await;
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(queue.depth(q).await.unwrap(), (0, 0));
    }
    queue.push(&[(q, envelope(), None)]).await.unwrap();
    let other_commands = started.elapsed();
    let (got, fetch_took) = fetching.await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(
        other_commands < Duration::from_millis(1_000),
        "21 commands took {other_commands:?} beside the blocked fetch"
    );
    assert!(
        fetch_took < Duration::from_millis(4_000),
        "the fetch woke after {fetch_took:?}"
    );
}

/// Clients blocked in a command, over every node of `url`.
async fn blocked_clients(url: &str) -> u64 {
    let mut n = 0;
    for node in url.split(',') {
        let info = node_info(node, "INFO clients").await.unwrap_or_default();
        n += info
            .lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    n
}

#[tokio::test]
async fn a_blocked_fetch_holds_nothing_up_on_one_redis() {
    let redis = crate::outages::LocalRedis::start().await;
    a_blocked_fetch_holds_nothing_up(&redis.url()).await;
}

#[tokio::test]
async fn a_blocked_fetch_holds_nothing_up_on_a_redis_cluster() {
    let cluster = RedisCluster::start().await;
    a_blocked_fetch_holds_nothing_up(&cluster.url()).await;
}

#[tokio::test]
async fn a_prefix_with_braces_is_refused() {
    let e = RedisQueue::connect(
        QueueClient::open(&redis_url()).unwrap(),
        "nestogy{x}".to_owned(),
    )
    .await
    .err()
    .expect("refused");
    assert!(e.to_string().contains("may not contain"), "{e}");
}
