//! Recurring tickets: a template opened for a client (and optionally one of
//! its assets) on a cron schedule in the company's time zone.
//!
//! Each recurring ticket owns a row of `schedules` (kind [`JOB_KIND`],
//! following the company's time zone), kept in step with it here: the
//! scheduler fires each tick once however many schedulers run, and the
//! job of a fire ([`fire`]) records it under (recurring ticket, fire time),
//! so running it again opens nothing more. With `skip_if_open`, a fire
//! while the ticket the previous one opened is not resolved or closed
//! opens nothing and is recorded as `skipped_open`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::platform::schedules::{self, CronSpec, NewSchedule, SchedulePatch};
use crate::service_desk::ticket_templates::{self, FromTemplate};
use crate::service_desk::tickets::{self, check_parties};
use crate::{
    ClientId, DomainError, DomainResult, JobId, RecurringTicketId, ScheduleId, TenantTx, TicketId,
    TicketTemplateId,
};

/// The job kind of a recurring ticket's schedule.
pub const JOB_KIND: &str = "tickets.recurring";

text_enum!(FireOutcome {
    /// A ticket was opened.
    Opened = "opened",
    /// The ticket the previous fire opened was still open: none was opened.
    SkippedOpen = "skipped_open",
});

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecurringTicket {
    pub id: RecurringTicketId,
    pub template_id: TicketTemplateId,
    pub client_id: ClientId,
    pub asset_id: Option<uuid::Uuid>,
    /// Five-field cron, in the company's time zone.
    pub cron: String,
    /// Open nothing while the ticket the previous fire opened is open.
    pub skip_if_open: bool,
    pub enabled: bool,
    /// The schedule that fires it (kind `tickets.recurring`); changed only
    /// through the recurring ticket.
    pub schedule_id: ScheduleId,
    pub next_fire_at: Option<DateTime<Utc>>,
    pub last_fire_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<FireOutcome>,
    /// The ticket the latest fire that opened one opened.
    pub last_ticket_id: Option<TicketId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: RecurringTicketId,
    template_id: TicketTemplateId,
    client_id: ClientId,
    asset_id: Option<uuid::Uuid>,
    cron: String,
    skip_if_open: bool,
    enabled: bool,
    schedule_id: ScheduleId,
    next_fire_at: Option<DateTime<Utc>>,
    last_fire_at: Option<DateTime<Utc>>,
    last_outcome: Option<String>,
    last_ticket_id: Option<TicketId>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for RecurringTicket {
    fn from(r: Row) -> Self {
        RecurringTicket {
            id: r.id,
            template_id: r.template_id,
            client_id: r.client_id,
            asset_id: r.asset_id,
            cron: r.cron,
            skip_if_open: r.skip_if_open,
            enabled: r.enabled,
            schedule_id: r.schedule_id,
            next_fire_at: r.next_fire_at,
            last_fire_at: r.last_fire_at,
            last_outcome: r.last_outcome.as_deref().and_then(FireOutcome::parse),
            last_ticket_id: r.last_ticket_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const SELECT: &str = "SELECT r.id, r.template_id, r.client_id, r.asset_id, r.cron, r.skip_if_open, \
    r.enabled, r.schedule_id, s.next_fire_at, r.last_fire_at, r.last_outcome, r.last_ticket_id, \
    r.created_at, r.updated_at FROM recurring_tickets r JOIN schedules s ON s.id = r.schedule_id";

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecurringTicket {
    pub template_id: TicketTemplateId,
    pub client_id: ClientId,
    /// An asset of `client_id`.
    pub asset_id: Option<uuid::Uuid>,
    /// Five-field cron (`0 8 * * Mon` is Mondays at 08:00; as everywhere in
    /// the scheduler, numbered weekdays count from Sunday = 1), in the
    /// company's time zone.
    pub cron: String,
    /// Default `true`.
    pub skip_if_open: Option<bool>,
    /// Default `true`.
    pub enabled: Option<bool>,
}

/// A change. Absent fields stay; `null` clears the asset. A new client
/// without a new asset drops the old client's asset.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecurringTicketPatch {
    pub template_id: Option<TicketTemplateId>,
    pub client_id: Option<ClientId>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub asset_id: Option<Option<uuid::Uuid>>,
    pub cron: Option<String>,
    pub skip_if_open: Option<bool>,
    pub enabled: Option<bool>,
}

fn check_cron(v: &mut ValidationErrors, cron: &str) {
    if let Err(e) = CronSpec::parse(cron) {
        v.add("cron", "invalid", format!("cron is invalid: {e}"));
    }
}

async fn check_template(
    tx: &mut TenantTx,
    v: &mut ValidationErrors,
    id: TicketTemplateId,
) -> DomainResult<()> {
    match ticket_templates::get(tx, id).await {
        Ok(_) => Ok(()),
        Err(DomainError::NotFound { .. }) => {
            v.add("template_id", "not_found", "no such ticket template");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Creates the recurring ticket and its schedule; `company_time_zone` is
/// the zone its cron is read in (and follows when the company's changes).
pub async fn create(
    tx: &mut TenantTx,
    new: NewRecurringTicket,
    company_time_zone: &str,
) -> DomainResult<RecurringTicket> {
    let mut v = ValidationErrors::new();
    check_template(tx, &mut v, new.template_id).await?;
    check_parties(tx, &mut v, Some(new.client_id), None, new.asset_id).await?;
    check_cron(&mut v, &new.cron);
    v.finish()?;
    let id = RecurringTicketId::new();
    let enabled = new.enabled.unwrap_or(true);
    let schedule = schedules::create(
        tx,
        NewSchedule {
            name: format!("recurring ticket {id}"),
            kind: JOB_KIND.to_owned(),
            cron: new.cron.clone(),
            time_zone: None,
            payload: Some(serde_json::json!({ "recurring_ticket_id": id })),
            enabled: Some(enabled),
        },
        company_time_zone,
        |_| true,
    )
    .await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "INSERT INTO recurring_tickets (id, company_id, template_id, client_id, asset_id, schedule_id, \
         cron, skip_if_open, enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(id)
    .bind(tenant)
    .bind(new.template_id)
    .bind(new.client_id)
    .bind(new.asset_id)
    .bind(schedule.id)
    .bind(new.cron.trim())
    .bind(new.skip_if_open.unwrap_or(true))
    .bind(enabled)
    .bind(now)
    .execute(tx.conn())
    .await?;
    get(tx, id).await
}

pub async fn get(tx: &mut TenantTx, id: RecurringTicketId) -> DomainResult<RecurringTicket> {
    fetch(tx, id, "").await
}

async fn fetch(
    tx: &mut TenantTx,
    id: RecurringTicketId,
    suffix: &str,
) -> DomainResult<RecurringTicket> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE r.company_id = $1 AND r.id = $2 {suffix}"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(RecurringTicket::from)
        .ok_or(DomainError::not_found("recurring ticket"))
}

/// The company's recurring tickets, newest first.
pub async fn list(tx: &mut TenantTx, page: &PageRequest) -> DomainResult<Page<RecurringTicket>> {
    let tenant = tx.tenant();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE r.company_id = $1 AND ($2::uuid IS NULL OR r.id < $2) \
         ORDER BY r.id DESC LIMIT $3"
    )))
    .bind(tenant)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 =
        sqlx::query_scalar("SELECT count(*) FROM recurring_tickets WHERE company_id = $1")
            .bind(tenant)
            .fetch_one(tx.conn())
            .await?;
    let all = rows.into_iter().map(RecurringTicket::from).collect();
    Ok(Page::from_rows(all, page, total, |r: &RecurringTicket| {
        Cursor {
            key: String::new(),
            id: r.id.as_uuid(),
        }
    }))
}

/// Applies `patch`; a new cron or re-enabling fires from now on.
pub async fn update(
    tx: &mut TenantTx,
    id: RecurringTicketId,
    patch: RecurringTicketPatch,
    company_time_zone: &str,
) -> DomainResult<RecurringTicket> {
    let current = fetch(tx, id, "FOR UPDATE OF r").await?;
    let mut v = ValidationErrors::new();
    let template = patch.template_id.unwrap_or(current.template_id);
    if patch.template_id.is_some() {
        check_template(tx, &mut v, template).await?;
    }
    let client = patch.client_id.unwrap_or(current.client_id);
    let asset = match patch.asset_id {
        Some(a) => a,
        None if client != current.client_id => None,
        None => current.asset_id,
    };
    check_parties(tx, &mut v, Some(client), None, asset).await?;
    if let Some(c) = &patch.cron {
        check_cron(&mut v, c);
    }
    v.finish()?;
    let cron = patch.cron.clone().unwrap_or(current.cron.clone());
    let enabled = patch.enabled.unwrap_or(current.enabled);
    schedules::update(
        tx,
        current.schedule_id,
        SchedulePatch {
            cron: patch.cron.clone(),
            enabled: patch.enabled,
            ..SchedulePatch::default()
        },
        company_time_zone,
    )
    .await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE recurring_tickets SET template_id = $3, client_id = $4, asset_id = $5, cron = $6, \
         skip_if_open = $7, enabled = $8, updated_at = $9 WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(template)
    .bind(client)
    .bind(asset)
    .bind(cron.trim())
    .bind(patch.skip_if_open.unwrap_or(current.skip_if_open))
    .bind(enabled)
    .bind(now)
    .execute(tx.conn())
    .await?;
    get(tx, id).await
}

/// Deletes the recurring ticket with its schedule; the tickets it opened stay.
pub async fn delete(tx: &mut TenantTx, id: RecurringTicketId) -> DomainResult<RecurringTicket> {
    let current = fetch(tx, id, "FOR UPDATE OF r").await?;
    let tenant = tx.tenant();
    // The schedule goes with it (a trigger, also when its client is deleted).
    sqlx::query("DELETE FROM recurring_tickets WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(current)
}

/// What handling one fire did.
#[derive(Debug, Clone, Serialize)]
pub struct Fired {
    pub fire_at: DateTime<Utc>,
    pub outcome: FireOutcome,
    pub ticket: Option<tickets::Ticket>,
}

/// The fire time job `job` handles: the schedule's fire that enqueued it,
/// else (run by hand, `POST /schedules/{id}/run`) the time it was due.
pub async fn fire_time_of(tx: &mut TenantTx, job: JobId) -> DomainResult<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE((SELECT fire_at FROM schedule_fires WHERE job_id = $1), \
                         (SELECT run_at FROM jobs WHERE id = $1))",
    )
    .bind(job)
    .fetch_one(tx.conn())
    .await?)
}

/// Handles the fire at `fire_at` of recurring ticket `id`: opens its ticket,
/// or skips it when `skip_if_open` and the previous one is still open.
/// `None` when that fire was handled already (or the recurring ticket is
/// gone or disabled): running it twice opens one ticket.
pub async fn fire(
    tx: &mut TenantTx,
    id: RecurringTicketId,
    fire_at: DateTime<Utc>,
) -> DomainResult<Option<Fired>> {
    // Locked: two runs of one fire wait for each other here.
    let r = match fetch(tx, id, "FOR UPDATE OF r").await {
        Ok(r) => r,
        Err(DomainError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !r.enabled {
        return Ok(None);
    }
    let previous_open = match r.last_ticket_id {
        Some(t) if r.skip_if_open => match tickets::get(tx, t).await {
            Ok(ticket) => !ticket.status.is_done(),
            Err(DomainError::NotFound { .. }) => false,
            Err(e) => return Err(e),
        },
        _ => false,
    };
    let outcome = if previous_open {
        FireOutcome::SkippedOpen
    } else {
        FireOutcome::Opened
    };
    let (tenant, now) = (tx.tenant(), tx.now());
    let claimed = sqlx::query(
        "INSERT INTO recurring_ticket_fires (recurring_ticket_id, fire_at, company_id, outcome, handled_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(fire_at)
    .bind(tenant)
    .bind(outcome.as_str())
    .bind(now)
    .execute(tx.conn())
    .await?;
    if claimed.rows_affected() == 0 {
        return Ok(None);
    }
    let ticket = match outcome {
        FireOutcome::SkippedOpen => None,
        FireOutcome::Opened => {
            let to = FromTemplate {
                client_id: Some(r.client_id),
                asset_id: r.asset_id,
                ..FromTemplate::default()
            };
            let t = ticket_templates::open_ticket(tx, r.template_id, to, None).await?;
            crate::service_desk::sla::refresh(tx, Some(&[t.id])).await?;
            sqlx::query(
                "UPDATE recurring_ticket_fires SET ticket_id = $3 \
                 WHERE recurring_ticket_id = $1 AND fire_at = $2",
            )
            .bind(id)
            .bind(fire_at)
            .bind(t.id)
            .execute(tx.conn())
            .await?;
            Some(tickets::get(tx, t.id).await?)
        }
    };
    sqlx::query(
        "UPDATE recurring_tickets SET last_fire_at = $3, last_outcome = $4, \
         last_ticket_id = COALESCE($5, last_ticket_id) WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(fire_at)
    .bind(outcome.as_str())
    .bind(ticket.as_ref().map(|t| t.id))
    .execute(tx.conn())
    .await?;
    Ok(Some(Fired {
        fire_at,
        outcome,
        ticket,
    }))
}
