//! Wake-ups of the polls running in this process: one `LISTEN
//! mailbox_poll` connection for all of them, started with the first poll
//! that listens and kept for the life of the process (reconnected when
//! lost), instead of a connection per listening poll.
//!
//! A wake-up lost while the connection is down costs a delay, not mail: a
//! poll that stops listening looks for "poll now" requests it did not serve
//! and queues a poll for them.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Mutex, broadcast, watch};

/// The channel polls are woken on (payload `<mailbox id> poll|handover`).
pub const CHANNEL: &str = "mailbox_poll";

/// This process's listener, shared by its polls (in [`crate::Services`]).
#[derive(Debug, Default)]
pub struct WakeHub {
    started: Mutex<Option<Started>>,
}

#[derive(Debug)]
struct Started {
    payloads: broadcast::Sender<String>,
    listening: watch::Receiver<bool>,
}

impl WakeHub {
    /// Every payload sent on [`CHANNEL`] from now on; waits (up to 5 s)
    /// until the LISTEN stands, so a wake-up sent after this returns is
    /// seen.
    pub async fn subscribe(&self, pool: &PgPool) -> broadcast::Receiver<String> {
        let (rx, mut listening) = {
            let mut started = self.started.lock().await;
            let s = started.get_or_insert_with(|| start(pool.clone()));
            (s.payloads.subscribe(), s.listening.clone())
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), listening.wait_for(|l| *l)).await;
        rx
    }
}

fn start(pool: PgPool) -> Started {
    let (payloads, _) = broadcast::channel(1024);
    let (listening_tx, listening) = watch::channel(false);
    let tx = payloads.clone();
    tokio::spawn(async move {
        loop {
            let listener = async {
                let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
                l.listen(CHANNEL).await?;
                Ok::<_, sqlx::Error>(l)
            }
            .await;
            match listener {
                Ok(mut l) => {
                    let _ = listening_tx.send(true);
                    loop {
                        match l.recv().await {
                            Ok(n) => {
                                let _ = tx.send(n.payload().to_owned());
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "mailbox wake-ups: the listener failed");
                                break;
                            }
                        }
                    }
                    let _ = listening_tx.send(false);
                }
                Err(e) => tracing::warn!(error = %e, "mailbox wake-ups: cannot LISTEN"),
            }
            if pool.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Started {
        payloads,
        listening,
    }
}
