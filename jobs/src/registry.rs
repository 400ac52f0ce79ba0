//! Every job kind the workers know, with its queue and policies: the one
//! place a new kind is registered.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use nestogy_domain::{TenantId, TenantTx};

use crate::enqueue::{self, EnqueueError, Prepared};
use crate::handler::Handler;
use crate::{
    accounting, assets, billing, contracts, diag, documents, imports, mail, mailboxes, maintenance,
    reports, stripe, tickets, webhooks,
};

fn handlers() -> &'static HashMap<&'static str, Handler> {
    static ALL: OnceLock<HashMap<&'static str, Handler>> = OnceLock::new();
    ALL.get_or_init(|| {
        [
            Handler::of::<diag::Noop>(),
            Handler::of::<diag::Record>(),
            Handler::of::<diag::Flaky>(),
            Handler::of::<diag::Panic>(),
            Handler::of::<diag::Fail>(),
            Handler::of::<diag::Deadlock>(),
            Handler::of::<maintenance::Vacuum>(),
            Handler::of::<reports::Aggregate>(),
            Handler::of::<reports::Management>(),
            Handler::of::<billing::Run>(),
            Handler::of::<billing::Bill>(),
            Handler::of::<billing::MarkOverdue>(),
            Handler::of::<billing::Remind>(),
            Handler::of::<documents::Render>(),
            Handler::of::<documents::RenderMany>(),
            Handler::of::<mail::Deliver>(),
            Handler::of::<mailboxes::Poll>(),
            Handler::of::<mailboxes::PollAll>(),
            Handler::of::<mailboxes::Test>(),
            Handler::of::<mailboxes::Reprocess>(),
            Handler::of::<tickets::SlaCheck>(),
            Handler::of::<tickets::RecurringFire>(),
            Handler::of::<assets::WarrantyAlerts>(),
            Handler::of::<contracts::ExpiryWarnings>(),
            Handler::of::<imports::Run>(),
            Handler::of::<accounting::Connect>(),
            Handler::of::<accounting::RunSync>(),
            Handler::of::<stripe::PaymentLink>(),
            Handler::of::<stripe::Autopay>(),
            Handler::of::<webhooks::Dispatch>(),
            Handler::of::<webhooks::Deliver>(),
        ]
        .into_iter()
        .map(|h| (h.kind, h))
        .collect()
    })
}

pub fn get(kind: &str) -> Option<&'static Handler> {
    handlers().get(kind)
}

pub fn all() -> impl Iterator<Item = &'static Handler> {
    handlers().values()
}

/// Whether tenants may schedule `kind`.
pub fn schedulable(kind: &str) -> bool {
    get(kind).is_some_and(|h| h.schedulable)
}

/// Prepares a job of `kind`, as the scheduler and the API do with kinds
/// they know only by name.
pub fn prepare(
    kind: &str,
    tenant: Option<TenantId>,
    payload: serde_json::Value,
    run_at: DateTime<Utc>,
    unique_key: Option<String>,
) -> Result<Prepared, EnqueueError> {
    let h = get(kind).ok_or_else(|| EnqueueError::UnknownKind(kind.to_owned()))?;
    Ok(Prepared::of(h, tenant, payload, run_at, unique_key))
}

/// Records a job known by kind name (a schedule's "run now") for `tx`'s
/// tenant in `tx`, the transaction of the change that causes it; push the
/// answer after `tx` commits (see [`enqueue::enqueue_in`]).
pub async fn enqueue_kind(
    tx: &mut TenantTx,
    kind: &str,
    payload: serde_json::Value,
) -> Result<enqueue::Enqueued, EnqueueError> {
    let prepared = prepare(kind, Some(tx.tenant()), payload, tx.now(), None)?;
    enqueue::enqueue_prepared_in(tx, prepared).await
}
