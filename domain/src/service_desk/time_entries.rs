//! Time entries: work logged on tickets, tasks and projects, and billing it
//! onto a draft invoice exactly once.
//!
//! Rates: an entry keeps the hourly rate it was logged at: the one given,
//! else the user's, else the client's, else the company's
//! `settings.default_hourly_rate`. A billable entry needs one.
//!
//! Hours: an invoice line bills `minutes ÷ 60` hours to four decimals
//! ([`hours`]); the line's amount is then rounded by the money rule.
//!
//! Contracts: time on a day of a client's contract is billed at the
//! contract's rate, if it has one, and the contract's included minutes of
//! the month are used first; only the excess is charged, and the line says
//! how much was included.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::billing::invoices::{self, Invoice, LineRequest};
use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::validation::ValidationErrors;
use crate::{
    ClientId, ContractId, DomainError, DomainResult, InvoiceId, ProjectId, TaskId, TaxRateId,
    TenantTx, TicketId, TimeEntryId, UserId, identity::company, identity::users,
    service_desk::contracts, service_desk::projects,
};

/// The longest entry: a day.
pub const MAX_MINUTES: i32 = 24 * 60;

/// THE hours rule: minutes ÷ 60 to four decimals, half away from zero
/// (20 minutes are 0.3333 hours).
pub fn hours(minutes: i64) -> Decimal {
    (Decimal::from(minutes) / Decimal::from(60))
        .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// Whole minutes between two instants, rounded to the nearest and at least one.
fn minutes_between(start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
    let secs = (end - start).num_seconds();
    ((secs + 30) / 60).max(1)
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TimeEntry {
    pub id: TimeEntryId,
    pub user_id: UserId,
    pub ticket_id: Option<TicketId>,
    pub task_id: Option<TaskId>,
    pub project_id: Option<ProjectId>,
    /// Absent for time on a ticket without a client (never billable).
    pub client_id: Option<ClientId>,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub work_date: NaiveDate,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Absent while the timer runs.
    pub minutes: Option<i32>,
    /// True while the timer runs (started, not stopped).
    pub running: bool,
    /// minutes ÷ 60 to four decimals.
    #[schema(value_type = Option<String>)]
    pub hours: Option<Decimal>,
    pub description: String,
    pub billable: bool,
    /// Hourly rate in the company's currency (always on billable entries).
    #[schema(value_type = Option<String>)]
    pub rate: Option<Decimal>,
    /// The draft invoice the entry was billed on.
    pub invoice_id: Option<InvoiceId>,
    pub billed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: TimeEntryId,
    user_id: UserId,
    ticket_id: Option<TicketId>,
    task_id: Option<TaskId>,
    project_id: Option<ProjectId>,
    client_id: Option<ClientId>,
    work_date: NaiveDate,
    started_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    minutes: Option<i32>,
    description: String,
    billable: bool,
    rate: Option<Decimal>,
    invoice_id: Option<InvoiceId>,
    billed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<EntryRow> for TimeEntry {
    fn from(r: EntryRow) -> Self {
        TimeEntry {
            id: r.id,
            user_id: r.user_id,
            ticket_id: r.ticket_id,
            task_id: r.task_id,
            project_id: r.project_id,
            client_id: r.client_id,
            work_date: r.work_date,
            started_at: r.started_at,
            ended_at: r.ended_at,
            minutes: r.minutes,
            running: r.minutes.is_none(),
            hours: r.minutes.map(|m| hours(m.into())),
            description: r.description,
            billable: r.billable,
            rate: r.rate,
            invoice_id: r.invoice_id,
            billed_at: r.billed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "id, user_id, ticket_id, task_id, project_id, client_id, work_date, started_at, \
    ended_at, minutes, description, billable, rate, invoice_id, billed_at, created_at, updated_at";

impl TimeEntry {
    /// The rate by the money rule ([`crate::kernel::money::to_price`]) in the
    /// company's currency (`minor` digits).
    fn shown(mut self, minor: u32) -> TimeEntry {
        self.rate = self.rate.map(|r| crate::kernel::money::to_price(r, minor));
        self
    }
}

/// Time to log. Name one of `ticket_id`, `task_id` or `project_id`, and
/// either `minutes`, or `started_at` with `ended_at`, or `started_at` alone
/// to start a timer (stop it with `POST /time-entries/{id}/stop`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTimeEntry {
    /// Whose time; default the caller. Only admins log time for others.
    pub user_id: Option<UserId>,
    pub ticket_id: Option<TicketId>,
    pub task_id: Option<TaskId>,
    pub project_id: Option<ProjectId>,
    /// The day worked; default the start's day, or today, in the company's
    /// time zone.
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub date: Option<NaiveDate>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// 1 to 1440.
    pub minutes: Option<i32>,
    pub description: String,
    /// Default true.
    pub billable: Option<bool>,
    /// Hourly rate; default the user's, the client's or the company's.
    #[schema(value_type = Option<String>)]
    pub rate: Option<Decimal>,
}

/// A change to an unbilled entry. Absent fields stay. Give `minutes`, or
/// `started_at`/`ended_at`, to change its length.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeEntryPatch {
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub date: Option<NaiveDate>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub minutes: Option<i32>,
    pub description: Option<String>,
    pub billable: Option<bool>,
    #[schema(value_type = Option<String>)]
    pub rate: Option<Decimal>,
}

#[derive(Debug, Clone, Default)]
pub struct TimeFilter {
    pub user_id: Option<UserId>,
    pub client_id: Option<ClientId>,
    pub project_id: Option<ProjectId>,
    pub task_id: Option<TaskId>,
    pub ticket_id: Option<TicketId>,
    pub billable: Option<bool>,
    /// `true`: billed only; `false`: not yet billed.
    pub billed: Option<bool>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// `true`: running timers only; `false`: stopped entries only.
    pub running: Option<bool>,
}

/// Where the time went, resolved from the entry's target.
struct Target {
    ticket_id: Option<TicketId>,
    task_id: Option<TaskId>,
    project_id: Option<ProjectId>,
    client_id: Option<ClientId>,
}

async fn resolve_target(tx: &mut TenantTx, e: &NewTimeEntry) -> DomainResult<Target> {
    let named = [
        e.ticket_id.is_some(),
        e.task_id.is_some(),
        e.project_id.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if named != 1 {
        let mut v = ValidationErrors::new();
        v.add(
            "ticket_id",
            "target",
            "name exactly one of ticket_id, task_id or project_id",
        );
        return Err(DomainError::Validation(v));
    }
    let tenant = tx.tenant();
    if let Some(t) = e.ticket_id {
        let row: Option<(Option<ClientId>, Option<ProjectId>)> = sqlx::query_as(
            "SELECT client_id, project_id FROM tickets WHERE company_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(t)
        .fetch_optional(tx.conn())
        .await?;
        let (client_id, project_id) = row.ok_or_else(|| unknown("ticket_id", "ticket"))?;
        return Ok(Target {
            ticket_id: Some(t),
            task_id: None,
            project_id,
            client_id,
        });
    }
    if let Some(t) = e.task_id {
        let (project, client) = projects::task_owner(tx, t)
            .await
            .map_err(|_| unknown("task_id", "task"))?;
        return Ok(Target {
            ticket_id: None,
            task_id: Some(t),
            project_id: Some(project),
            client_id: Some(client),
        });
    }
    let p = e
        .project_id
        .ok_or(DomainError::Internal("no target".into()))?;
    let client = projects::client_of(tx, p)
        .await
        .map_err(|_| unknown("project_id", "project"))?;
    Ok(Target {
        ticket_id: None,
        task_id: None,
        project_id: Some(p),
        client_id: Some(client),
    })
}

fn unknown(field: &str, what: &str) -> DomainError {
    let mut v = ValidationErrors::new();
    v.add(
        field,
        "unknown",
        format!("{field} names no {what} of this company"),
    );
    DomainError::Validation(v)
}

/// An entry's length: started and ended instants, and minutes (absent while
/// a timer runs).
struct Span {
    started_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    minutes: Option<i32>,
}

fn span(
    v: &mut ValidationErrors,
    started_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    minutes: Option<i32>,
    now: DateTime<Utc>,
) -> Span {
    // A few minutes of clock skew between a client and us are fine.
    let latest = now + Duration::minutes(5);
    if started_at.is_some_and(|s| s > latest) {
        v.add("started_at", "future", "started_at is in the future");
    }
    if ended_at.is_some_and(|e| e > latest) {
        v.add("ended_at", "future", "ended_at is in the future");
    }
    if let Some(m) = minutes
        && !(1..=MAX_MINUTES).contains(&m)
    {
        v.add(
            "minutes",
            "out_of_range",
            format!("minutes must be from 1 to {MAX_MINUTES}"),
        );
    }
    match (started_at, ended_at, minutes) {
        (Some(s), Some(e), None) => {
            let m = minutes_between(s, e);
            if e <= s {
                v.add(
                    "ended_at",
                    "before_start",
                    "ended_at must be after started_at",
                );
            } else if m > MAX_MINUTES.into() {
                v.add(
                    "ended_at",
                    "too_long",
                    "an entry covers at most 24 hours; log longer work as several entries",
                );
            }
            Span {
                started_at,
                ended_at,
                minutes: i32::try_from(m).ok(),
            }
        }
        (_, Some(_), Some(_)) => {
            v.add("minutes", "conflict", "give minutes or ended_at, not both");
            Span {
                started_at,
                ended_at,
                minutes,
            }
        }
        (None, Some(_), None) => {
            v.add("started_at", "required", "ended_at needs started_at");
            Span {
                started_at,
                ended_at,
                minutes,
            }
        }
        (s, None, Some(m)) => Span {
            started_at: s,
            ended_at: s.map(|s| s + Duration::minutes(m.into())),
            minutes: Some(m),
        },
        (Some(_), None, None) => Span {
            started_at,
            ended_at: None,
            minutes: None,
        },
        (None, None, None) => {
            v.add(
                "minutes",
                "required",
                "give minutes, started_at with ended_at, or started_at alone to start a timer",
            );
            Span {
                started_at,
                ended_at,
                minutes,
            }
        }
    }
}

/// Time is logged for days that have begun, in the company's time zone.
fn check_date(company: &company::Company, date: NaiveDate, now: DateTime<Utc>) -> DomainResult<()> {
    if date > company.today(now) {
        let mut v = ValidationErrors::new();
        v.add("date", "future", "date is after today");
        return Err(DomainError::Validation(v));
    }
    Ok(())
}

/// The rate an entry of `user` for `client` is logged at, if any.
async fn default_rate(
    tx: &mut TenantTx,
    user: UserId,
    client: Option<ClientId>,
) -> DomainResult<Option<Decimal>> {
    let tenant = tx.tenant();
    let rate: Option<Decimal> = sqlx::query_scalar(
        "SELECT COALESCE((SELECT hourly_rate FROM users WHERE company_id = $1 AND id = $2), \
                         (SELECT hourly_rate FROM clients WHERE company_id = $1 AND id = $3))",
    )
    .bind(tenant)
    .bind(user)
    .bind(client)
    .fetch_one(tx.conn())
    .await?;
    match rate {
        Some(r) => Ok(Some(r)),
        None => Ok(company::get(tx).await?.default_hourly_rate()),
    }
}

pub async fn get(tx: &mut TenantTx, id: TimeEntryId) -> DomainResult<TimeEntry> {
    let tenant = tx.tenant();
    let row: Option<EntryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM time_entries WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let minor = company::currency_minor(tx).await?;
    row.map(|r| TimeEntry::from(r).shown(minor))
        .ok_or(DomainError::not_found("time entry"))
}

/// Logs time for `user` (the caller unless an admin named another).
pub async fn create(tx: &mut TenantTx, user: UserId, new: NewTimeEntry) -> DomainResult<TimeEntry> {
    let now = tx.now();
    let mut v = ValidationErrors::new();
    let description = v.required_text("description", &new.description, 2000);
    let s = span(&mut v, new.started_at, new.ended_at, new.minutes, now);
    let rate = crate::kernel::money::validate_rate(&mut v, "rate", new.rate);
    v.finish()?;
    let target = resolve_target(tx, &new).await?;
    users::check_staff(tx, user, "user_id").await?;
    let billable = new.billable.unwrap_or(true);
    let rate = match rate {
        Some(r) => Some(r),
        None => default_rate(tx, user, target.client_id).await?,
    };
    let mut v = ValidationErrors::new();
    if billable && target.client_id.is_none() {
        v.add(
            "ticket_id",
            "no_client",
            "the ticket has no client: set its client to bill this time, or log it as not billable",
        );
    }
    if billable && rate.is_none() {
        v.add(
            "rate",
            "required",
            "no hourly rate is set for this user, this client or the company: give one",
        );
    }
    v.finish()?;
    let company = company::get(tx).await?;
    let work_date = new
        .date
        .unwrap_or_else(|| company.today(s.started_at.unwrap_or(now)));
    check_date(&company, work_date, now)?;
    let tenant = tx.tenant();
    let row: EntryRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO time_entries (id, company_id, user_id, ticket_id, task_id, project_id, client_id, work_date, \
         started_at, ended_at, minutes, description, billable, rate, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) RETURNING {COLUMNS}"
    )))
    .bind(TimeEntryId::new())
    .bind(tenant)
    .bind(user)
    .bind(target.ticket_id)
    .bind(target.task_id)
    .bind(target.project_id)
    .bind(target.client_id)
    .bind(work_date)
    .bind(s.started_at)
    .bind(s.ended_at)
    .bind(s.minutes)
    .bind(description)
    .bind(billable)
    .bind(rate)
    .bind(now)
    .fetch_one(tx.conn())
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.constraint() == Some("time_entries_running_key") => {
            DomainError::conflict(
                "timer_running",
                "this user has a timer running already; stop it first",
            )
        }
        _ => e.into(),
    })?;
    let minor = crate::kernel::money::minor_units(&company.currency).unwrap_or(2);
    Ok(TimeEntry::from(row).shown(minor))
}

/// The entry locked for a change; 409 once it is billed.
async fn lock_unbilled(
    tx: &mut TenantTx,
    id: TimeEntryId,
    action: &str,
) -> DomainResult<TimeEntry> {
    let tenant = tx.tenant();
    let row: Option<EntryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM time_entries WHERE company_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let entry: TimeEntry = row
        .map(TimeEntry::from)
        .ok_or(DomainError::not_found("time entry"))?;
    if entry.invoice_id.is_some() {
        return Err(DomainError::conflict(
            "time_entry_billed",
            format!("cannot {action} a time entry that is billed"),
        ));
    }
    Ok(entry)
}

pub async fn update(
    tx: &mut TenantTx,
    id: TimeEntryId,
    patch: TimeEntryPatch,
) -> DomainResult<TimeEntry> {
    let current = lock_unbilled(tx, id, "change").await?;
    let now = tx.now();
    let mut v = ValidationErrors::new();
    let description = v.required_text(
        "description",
        patch.description.as_deref().unwrap_or(&current.description),
        2000,
    );
    let s = if patch.started_at.is_some() || patch.ended_at.is_some() {
        let started = patch.started_at.or(current.started_at);
        let ended = patch.ended_at.or(current.ended_at);
        span(&mut v, started, ended, None, now)
    } else if let Some(m) = patch.minutes {
        span(&mut v, current.started_at, None, Some(m), now)
    } else {
        Span {
            started_at: current.started_at,
            ended_at: current.ended_at,
            minutes: current.minutes,
        }
    };
    let rate = crate::kernel::money::validate_rate(&mut v, "rate", patch.rate);
    v.finish()?;
    let billable = patch.billable.unwrap_or(current.billable);
    let rate = match rate.or(current.rate) {
        Some(r) => Some(r),
        None if billable => default_rate(tx, current.user_id, current.client_id).await?,
        None => None,
    };
    let mut v = ValidationErrors::new();
    if billable && current.client_id.is_none() {
        v.add(
            "billable",
            "no_client",
            "time on a ticket without a client cannot be billable",
        );
    }
    if billable && rate.is_none() {
        v.add(
            "rate",
            "required",
            "no hourly rate is set for this user, this client or the company: give one",
        );
    }
    v.finish()?;
    let work_date = patch.date.unwrap_or(current.work_date);
    if patch.date.is_some() {
        check_date(&company::get(tx).await?, work_date, now)?;
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: EntryRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE time_entries SET work_date = $3, started_at = $4, ended_at = $5, minutes = $6, description = $7, \
         billable = $8, rate = $9, updated_at = $10 WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(work_date)
    .bind(s.started_at)
    .bind(s.ended_at)
    .bind(s.minutes)
    .bind(description)
    .bind(billable)
    .bind(rate)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    let minor = company::currency_minor(tx).await?;
    Ok(TimeEntry::from(row).shown(minor))
}

/// Stops a running timer now.
pub async fn stop(tx: &mut TenantTx, id: TimeEntryId) -> DomainResult<TimeEntry> {
    let current = lock_unbilled(tx, id, "stop").await?;
    let Some(started) = current.started_at.filter(|_| current.running) else {
        return Err(DomainError::conflict(
            "timer_not_running",
            "this entry's timer is not running",
        ));
    };
    let now = tx.now();
    let minutes = minutes_between(started, now);
    if minutes > MAX_MINUTES.into() {
        return Err(DomainError::conflict(
            "timer_too_long",
            "the timer ran over 24 hours: set its ended_at or minutes with PATCH",
        ));
    }
    let tenant = tx.tenant();
    let row: EntryRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE time_entries SET ended_at = $3, minutes = $4, updated_at = $3 \
         WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(now.max(started + Duration::minutes(1)))
    .bind(minutes as i32)
    .fetch_one(tx.conn())
    .await?;
    let minor = company::currency_minor(tx).await?;
    Ok(TimeEntry::from(row).shown(minor))
}

pub async fn delete(tx: &mut TenantTx, id: TimeEntryId) -> DomainResult<TimeEntry> {
    let entry = lock_unbilled(tx, id, "delete").await?;
    let tenant = tx.tenant();
    sqlx::query("DELETE FROM time_entries WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    let minor = company::currency_minor(tx).await?;
    Ok(entry.shown(minor))
}

/// Entries by day worked, newest first.
pub async fn list(
    tx: &mut TenantTx,
    f: &TimeFilter,
    page: &PageRequest,
) -> DomainResult<Page<TimeEntry>> {
    const FILTER: &str = "company_id = $1 \
        AND ($2::uuid IS NULL OR user_id = $2) AND ($3::uuid IS NULL OR client_id = $3) \
        AND ($4::uuid IS NULL OR project_id = $4) AND ($5::uuid IS NULL OR task_id = $5) \
        AND ($6::uuid IS NULL OR ticket_id = $6) AND ($7::bool IS NULL OR billable = $7) \
        AND ($8::bool IS NULL OR (invoice_id IS NOT NULL) = $8) \
        AND ($9::date IS NULL OR work_date >= $9) AND ($10::date IS NULL OR work_date <= $10) \
        AND ($11::bool IS NULL OR (minutes IS NULL) = $11)";
    let tenant = tx.tenant();
    let after_date = page
        .after_key()
        .and_then(|k| NaiveDate::parse_from_str(k, "%Y-%m-%d").ok());
    let rows: Vec<EntryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM time_entries WHERE {FILTER} \
         AND ($12::date IS NULL OR (work_date, id) < ($12, $13)) \
         ORDER BY work_date DESC, id DESC LIMIT $14"
    )))
    .bind(tenant)
    .bind(f.user_id)
    .bind(f.client_id)
    .bind(f.project_id)
    .bind(f.task_id)
    .bind(f.ticket_id)
    .bind(f.billable)
    .bind(f.billed)
    .bind(f.from)
    .bind(f.to)
    .bind(f.running)
    .bind(after_date)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM time_entries WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(f.user_id)
    .bind(f.client_id)
    .bind(f.project_id)
    .bind(f.task_id)
    .bind(f.ticket_id)
    .bind(f.billable)
    .bind(f.billed)
    .bind(f.from)
    .bind(f.to)
    .bind(f.running)
    .fetch_one(tx.conn())
    .await?;
    let minor = company::currency_minor(tx).await?;
    let rows = rows
        .into_iter()
        .map(|r| TimeEntry::from(r).shown(minor))
        .collect();
    Ok(Page::from_rows(rows, page, total, |e| Cursor {
        key: e.work_date.format("%Y-%m-%d").to_string(),
        id: e.id.as_uuid(),
    }))
}

// ---- Billing ----

/// Which unbilled time to bill, and onto which draft.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillTime {
    /// Bill time worked up to and including this day; default today in the
    /// company's time zone.
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub until: Option<NaiveDate>,
    /// Only this project's time.
    pub project_id: Option<ProjectId>,
    /// Add the lines to this draft of the client's; default a new draft.
    pub invoice_id: Option<InvoiceId>,
    /// Taxes on every time line; default none.
    pub tax_rate_ids: Option<Vec<TaxRateId>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BilledTime {
    /// The draft the time is on.
    pub invoice: Invoice,
    /// True when the draft was created by this call.
    pub created: bool,
    /// The entries billed, one invoice line each, by day worked.
    pub entry_ids: Vec<TimeEntryId>,
    /// The minutes of the entries billed.
    pub minutes: i64,
    /// Of those, the minutes contracts included (not charged).
    pub included_minutes: i64,
    /// Unbilled billable entries left for a later call (an invoice has at
    /// most 500 lines).
    pub remaining: i64,
}

#[derive(sqlx::FromRow)]
struct Billable {
    id: TimeEntryId,
    work_date: NaiveDate,
    minutes: i32,
    rate: Decimal,
    description: String,
    user_name: String,
    ticket: Option<String>,
    project: Option<String>,
    task: Option<String>,
}

impl Billable {
    /// "02.02.2026 · Admin · Rollout: Plan": the day in the company's
    /// locale, as every date on its documents.
    fn line_description(&self, locale: crate::billing::locale::Locale) -> String {
        let what = match (&self.ticket, &self.project, &self.task) {
            (Some(t), _, _) => t.clone(),
            (None, Some(p), Some(t)) => format!("{p} / {t}"),
            (None, Some(p), None) => p.clone(),
            _ => String::new(),
        };
        let mut d = format!(
            "{} · {}",
            crate::billing::locale::format_date(self.work_date, locale),
            self.user_name
        );
        if !what.is_empty() {
            d.push_str(" · ");
            d.push_str(&what);
        }
        d.push_str(": ");
        d.push_str(&self.description);
        crate::kernel::text::truncate_chars(&d, 2000)
    }
}

/// How one entry is charged under the client's contracts.
struct Charge {
    /// The contract in whose dates the entry's day lies.
    contract: Option<ContractId>,
    /// Minutes the contract's monthly allowance covers.
    included: i32,
    /// The contract's rate, else the entry's.
    rate: Decimal,
    /// "(1.5 h included in contract Gold this month)".
    note: Option<String>,
}

/// Charges `entries` (in the order worked) under the client's contracts:
/// an entry on a day of an active or expired contract is billed at the
/// contract's rate (when it has one), and the contract's included minutes
/// of that calendar month (the entry's day, in the company's time zone)
/// not yet used by time billed before cover it first; only the rest is
/// charged. The caller holds the client's row lock, so allowances are read
/// and used by one call at a time.
async fn under_contracts(
    tx: &mut TenantTx,
    client: ClientId,
    entries: &[Billable],
) -> DomainResult<Vec<Charge>> {
    let tenant = tx.tenant();
    let terms = contracts::billing_terms(tx, client).await?;
    let mut left: HashMap<(ContractId, i32, u32), i64> = HashMap::new();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let Some(c) = terms.iter().find(|c| c.covers(e.work_date)) else {
            out.push(Charge {
                contract: None,
                included: 0,
                rate: e.rate,
                note: None,
            });
            continue;
        };
        let month = (c.id, e.work_date.year(), e.work_date.month());
        let remaining = match left.get(&month) {
            Some(m) => *m,
            None => {
                let first = e.work_date.with_day(1).unwrap_or(e.work_date);
                let used: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(sum(included_minutes), 0)::bigint FROM time_entries \
                     WHERE company_id = $1 AND contract_id = $2 AND work_date >= $3 \
                       AND work_date < ($3 + interval '1 month')::date",
                )
                .bind(tenant)
                .bind(c.id)
                .bind(first)
                .fetch_one(tx.conn())
                .await?;
                i64::from(c.included_minutes_per_month) - used
            }
        };
        let included = remaining.clamp(0, i64::from(e.minutes));
        left.insert(month, remaining - included);
        out.push(Charge {
            contract: Some(c.id),
            included: i32::try_from(included).unwrap_or(0),
            rate: c.hourly_rate.unwrap_or(e.rate),
            note: (included > 0).then(|| {
                format!(
                    "({} h included in contract {} this month)",
                    hours(included),
                    c.name
                )
            }),
        });
    }
    Ok(out)
}

/// Turns the client's unbilled billable time into lines of a draft invoice,
/// each entry once. Calls for one client are serialised by a lock on the
/// client row, and each entry is locked and re-checked, so two calls at
/// once (or a retried call) never bill an entry twice: the later one finds
/// nothing left and answers 409 `nothing_to_bill`.
pub async fn bill(tx: &mut TenantTx, client: ClientId, req: BillTime) -> DomainResult<BilledTime> {
    let tenant = tx.tenant();
    let locked: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM clients WHERE company_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant)
            .bind(client)
            .fetch_optional(tx.conn())
            .await?;
    locked.ok_or(DomainError::not_found("client"))?;
    if let Some(p) = req.project_id {
        let owner = projects::client_of(tx, p)
            .await
            .map_err(|_| unknown("project_id", "project"))?;
        if owner != client {
            let mut v = ValidationErrors::new();
            v.add(
                "project_id",
                "other_client",
                "the project belongs to another client",
            );
            return Err(DomainError::Validation(v));
        }
    }
    let company = company::get(tx).await?;
    let until = req.until.unwrap_or_else(|| company.today(tx.now()));
    let existing_lines = match req.invoice_id {
        Some(id) => invoices::get(tx, id).await?.lines.len(),
        None => 0,
    };
    let room = invoices::MAX_LINES.saturating_sub(existing_lines) as i64;
    const FILTER: &str = "e.company_id = $1 AND e.client_id = $2 AND e.billable \
        AND e.invoice_id IS NULL AND e.minutes IS NOT NULL AND e.work_date <= $3 \
        AND ($4::uuid IS NULL OR e.project_id = $4)";
    let entries: Vec<Billable> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT e.id, e.work_date, e.minutes, e.rate, e.description, u.name AS user_name, \
                '#' || t.number || ' ' || t.subject AS ticket, p.name AS project, k.title AS task \
         FROM time_entries e \
         JOIN users u ON u.company_id = e.company_id AND u.id = e.user_id \
         LEFT JOIN tickets t ON t.company_id = e.company_id AND t.id = e.ticket_id \
         LEFT JOIN projects p ON p.company_id = e.company_id AND p.id = e.project_id \
         LEFT JOIN project_tasks k ON k.company_id = e.company_id AND k.id = e.task_id \
         WHERE {FILTER} ORDER BY e.work_date, e.started_at NULLS LAST, e.id LIMIT $5 FOR UPDATE OF e"
    )))
    .bind(tenant)
    .bind(client)
    .bind(until)
    .bind(req.project_id)
    .bind(room)
    .fetch_all(tx.conn())
    .await?;
    if entries.is_empty() {
        return Err(DomainError::conflict(
            "nothing_to_bill",
            format!("the client has no unbilled billable time up to {until}"),
        ));
    }
    let locale = crate::billing::locale::Locale::parse(&company.locale);
    let charges = under_contracts(tx, client, &entries).await?;
    let lines: Vec<LineRequest> = entries
        .iter()
        .zip(&charges)
        .map(|(e, c)| {
            let mut description = e.line_description(locale);
            if let Some(note) = &c.note {
                description =
                    crate::kernel::text::truncate_chars(&format!("{description} {note}"), 2000);
            }
            LineRequest {
                product_id: None,
                description: Some(description),
                quantity: hours((i64::from(e.minutes) - i64::from(c.included)).max(0)),
                unit_price: Some(c.rate.normalize()),
                discount: None,
                tax_rate_ids: Some(req.tax_rate_ids.clone().unwrap_or_default()),
            }
        })
        .collect();
    let (invoice, created) = match req.invoice_id {
        Some(id) => (
            invoices::append_lines(tx, id, client, &company.currency, lines).await?,
            false,
        ),
        None => {
            let draft = invoices::create(
                tx,
                invoices::InvoiceRequest {
                    client_id: client,
                    currency: Some(company.currency.clone()),
                    issue_date: None,
                    due_date: None,
                    payment_term_id: None,
                    discount: None,
                    notes: None,
                    terms: None,
                    lines,
                },
            )
            .await?;
            (draft, true)
        }
    };
    let ids: Vec<TimeEntryId> = entries.iter().map(|e| e.id).collect();
    let contract_ids: Vec<Option<uuid::Uuid>> = charges
        .iter()
        .map(|c| c.contract.map(|id| id.as_uuid()))
        .collect();
    let included: Vec<i32> = charges.iter().map(|c| c.included).collect();
    let now = tx.now();
    sqlx::query(
        "UPDATE time_entries e SET invoice_id = $2, billed_at = $3, updated_at = $3, \
         contract_id = x.contract_id, included_minutes = x.included \
         FROM unnest($4::uuid[], $5::uuid[], $6::int[]) AS x(id, contract_id, included) \
         WHERE e.company_id = $1 AND e.id = x.id AND e.invoice_id IS NULL",
    )
    .bind(tenant)
    .bind(invoice.id)
    .bind(now)
    .bind(&ids)
    .bind(&contract_ids)
    .bind(&included)
    .execute(tx.conn())
    .await?;
    let remaining: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM time_entries e WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(client)
    .bind(until)
    .bind(req.project_id)
    .fetch_one(tx.conn())
    .await?;
    Ok(BilledTime {
        invoice,
        created,
        minutes: entries.iter().map(|e| i64::from(e.minutes)).sum(),
        included_minutes: charges.iter().map(|c| i64::from(c.included)).sum(),
        entry_ids: ids,
        remaining,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_minutes_over_sixty_to_four_decimals() {
        assert_eq!(hours(60).to_string(), "1");
        assert_eq!(hours(90).to_string(), "1.5");
        assert_eq!(hours(20).to_string(), "0.3333");
        assert_eq!(hours(40).to_string(), "0.6667");
        assert_eq!(hours(1).to_string(), "0.0167");
    }

    #[test]
    fn minutes_round_to_the_nearest_and_are_at_least_one() {
        let t = DateTime::parse_from_rfc3339("2026-11-30T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(minutes_between(t, t + Duration::seconds(10)), 1);
        assert_eq!(minutes_between(t, t + Duration::seconds(89)), 1);
        assert_eq!(minutes_between(t, t + Duration::seconds(90)), 2);
        assert_eq!(minutes_between(t, t + Duration::minutes(45)), 45);
    }
}
