//! A user's state as every request with an access token checks it (active,
//! role, token version), kept per process so the check costs no round trip.
//!
//! The rules:
//! - A change to a user's role, `active` or token version makes the row's
//!   trigger send `NOTIFY user_state` with the company and user when it
//!   commits; every process [`listen`]s and forgets that user.
//! - The process that made the change forgets the user itself as soon as the
//!   transaction commits ([`crate::kernel::tenancy::TenantTx::forget_user_state`]),
//!   so its own next request never sees the old state.
//! - While a process is not listening (before the first `LISTEN`, or after its
//!   connection was lost, until it is back) it keeps nothing and reads every
//!   time: a lost notification can never leave a stale entry.
//! - A read that started before a change may finish after it; it is kept
//!   only if nothing was forgotten meanwhile ([`UserStateCache::generation`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::kernel::error::{DomainError, DomainResult};
use crate::kernel::ids::{TenantId, UserId};
use crate::kernel::roles::Role;

/// The channel the `users` trigger notifies (migration `..._user_state_notify`).
pub const CHANNEL: &str = "user_state";

/// How many users a process keeps at most; past that it starts afresh.
const CAPACITY: usize = 100_000;

/// A user's state as the request's authorization needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    pub role: Role,
    pub active: bool,
    pub token_version: i32,
}

/// The per-process cache; one per [`crate::Db`].
#[derive(Default)]
pub struct UserStateCache {
    entries: Mutex<HashMap<(TenantId, UserId), UserState>>,
    /// Moves on with every forgetting; see the module's rules.
    generation: AtomicU64,
    /// Whether a `LISTEN` is established now.
    listening: AtomicBool,
}

impl UserStateCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(TenantId, UserId), UserState>> {
        // A panic while holding the lock cannot leave the map half-changed
        // (every change is one call), so a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn get(&self, key: (TenantId, UserId)) -> Option<UserState> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        self.entries().get(&key).cloned()
    }

    /// Keeps `state` read since `generation`, unless something was forgotten
    /// since or the process is not listening.
    fn keep(&self, generation: u64, key: (TenantId, UserId), state: UserState) {
        let mut entries = self.entries();
        // Checked under the lock: `forget` moves the generation under it too.
        if !self.listening.load(Ordering::Acquire) || self.generation() != generation {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key, state);
    }

    /// Forgets one user (its state changed).
    pub fn forget(&self, tenant: TenantId, user: UserId) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(&(tenant, user));
    }

    /// Forgets everyone and keeps nothing until `listening` is set again.
    fn forget_all(&self, listening: bool) {
        let mut entries = self.entries();
        self.listening.store(listening, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Whether this process keeps states now (it is listening).
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// How many users are kept now.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The current state of `user` of `tenant`; `None` if there is no such user.
/// From the cache when it is there, else one read by primary key.
pub async fn current(
    pool: &PgPool,
    cache: &UserStateCache,
    tenant: TenantId,
    user: UserId,
) -> DomainResult<Option<UserState>> {
    if let Some(state) = cache.get((tenant, user)) {
        return Ok(Some(state));
    }
    let generation = cache.generation();
    let row: Option<(String, bool, i32)> =
        sqlx::query_as("SELECT role, active, token_version FROM auth_user_state($1, $2)")
            .bind(user)
            .bind(tenant)
            .fetch_optional(pool)
            .await?;
    let Some((role, active, token_version)) = row else {
        return Ok(None);
    };
    let role = Role::parse(&role)
        .ok_or_else(|| DomainError::Internal(format!("unknown role {role:?}")))?;
    let state = UserState {
        role,
        active,
        token_version,
    };
    cache.keep(generation, (tenant, user), state.clone());
    Ok(Some(state))
}

/// Parses a notification's payload: `<company uuid>:<user uuid>`.
fn parse_payload(payload: &str) -> Option<(TenantId, UserId)> {
    let (company, user) = payload.split_once(':')?;
    Some((TenantId(company.parse().ok()?), UserId(user.parse().ok()?)))
}

/// Listens for changes to users and forgets them, for as long as the
/// process runs; reconnects after a lost connection (every state kept is
/// dropped meanwhile). Runs until `stop` resolves.
pub async fn listen(
    pool: PgPool,
    cache: Arc<UserStateCache>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut backoff = Duration::from_millis(100);
    loop {
        let session = async {
            // A connection of its own, outside the request pool.
            let own = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .max_lifetime(None)
                .idle_timeout(None)
                .connect_with((*pool.connect_options()).clone())
                .await?;
            let mut listener = PgListener::connect_with(&own).await?;
            listener.listen(CHANNEL).await?;
            // Anything that changed before the LISTEN took hold is unknown.
            cache.forget_all(true);
            tracing::debug!("listening for user state changes");
            // `try_recv` answers `None` when the connection is lost:
            // notifications may have been missed, so start afresh.
            while let Some(n) = listener.try_recv().await? {
                match parse_payload(n.payload()) {
                    Some((tenant, user)) => cache.forget(tenant, user),
                    None => cache.forget_all(true),
                }
            }
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            _ = &mut stop => {
                cache.forget_all(false);
                return;
            }
            r = session => {
                cache.forget_all(false);
                let error = r.err().map(|e| e.to_string()).unwrap_or_else(|| "connection lost".into());
                tracing::warn!(%error, "lost the user state listener; reading users until it is back");
            }
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Starts [`listen`] on its own task, for the life of the runtime.
pub fn spawn_listener(pool: &PgPool, cache: &Arc<UserStateCache>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(listen(pool.clone(), cache.clone(), std::future::pending()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(v: i32) -> UserState {
        UserState {
            role: Role::Admin,
            active: true,
            token_version: v,
        }
    }

    fn key() -> (TenantId, UserId) {
        (TenantId(uuid::Uuid::now_v7()), UserId(uuid::Uuid::now_v7()))
    }

    #[test]
    fn keeps_nothing_while_not_listening() {
        let c = UserStateCache::default();
        let k = key();
        c.keep(c.generation(), k, state(1));
        assert_eq!(c.get(k), None);
        c.forget_all(true);
        c.keep(c.generation(), k, state(1));
        assert_eq!(c.get(k), Some(state(1)));
        c.forget_all(false);
        assert_eq!(c.get(k), None);
        assert!(c.is_empty());
    }

    #[test]
    fn a_read_that_overlapped_a_change_is_not_kept() {
        let c = UserStateCache::default();
        c.forget_all(true);
        let (k, other) = (key(), key());
        let before = c.generation();
        c.forget(other.0, other.1);
        c.keep(before, k, state(1));
        assert_eq!(c.get(k), None);
        c.keep(c.generation(), k, state(2));
        assert_eq!(c.get(k), Some(state(2)));
        c.forget(k.0, k.1);
        assert_eq!(c.get(k), None);
    }

    #[test]
    fn payloads() {
        let (t, u) = key();
        assert_eq!(parse_payload(&format!("{}:{}", t.0, u.0)), Some((t, u)));
        assert_eq!(parse_payload("nonsense"), None);
        assert_eq!(parse_payload("a:b"), None);
    }
}
