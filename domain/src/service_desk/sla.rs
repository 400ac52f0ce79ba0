//! SLA policies (one per priority), the holiday calendar, and the
//! evaluation that turns a ticket's history into due times and states.
//!
//! The clock itself (business hours, holidays, pauses, DST) is the pure
//! [`crate::service_desk::sla_clock`]; this module feeds it from the database. A ticket's
//! clock runs from its creation; the response target stops at the first
//! public reply, the resolution target when the ticket is resolved. While
//! the ticket is in one of the policy's pause statuses (by default waiting
//! on client) neither clock runs.
//!
//! A ticket of a client with a contract in effect runs on the contract's
//! targets for the priorities it names ([`pick_policy`], the one place that
//! chooses); when those targets change (a contract starts, ends or is
//! edited), the next refresh moves the due times and records a
//! `retargeted` event per moved target.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::dates;
use crate::kernel::validation::ValidationErrors;
use crate::service_desk::contracts::InEffect;
use crate::service_desk::sla_clock::{self, BusinessCalendar, SlaState};
use crate::service_desk::tickets::{Priority, TicketStatus};
use crate::{ClientId, ContractId, DomainError, DomainResult, SlaPolicyId, TenantTx, TicketId};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SlaPolicy {
    pub id: SlaPolicyId,
    pub priority: Priority,
    pub first_response_minutes: i32,
    pub resolution_minutes: i32,
    /// The share of a target after which a ticket is in warning.
    pub warn_percent: i32,
    /// `{"mon": ["09:00", "17:00"], ...}` in the company's time zone; a
    /// missing or null day is closed. Absent: around the clock.
    #[schema(value_type = Option<Object>)]
    pub business_hours: Option<serde_json::Value>,
    /// Whether the company's holidays stop the clock.
    pub use_holidays: bool,
    /// Statuses in which the clock stands still.
    pub pause_statuses: Vec<TicketStatus>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct PolicyRow {
    id: SlaPolicyId,
    priority: String,
    first_response_minutes: i32,
    resolution_minutes: i32,
    warn_percent: i32,
    business_hours: Option<serde_json::Value>,
    use_holidays: bool,
    pause_statuses: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const POLICY_COLUMNS: &str = "id, priority, first_response_minutes, resolution_minutes, warn_percent, \
    business_hours, use_holidays, pause_statuses, created_at, updated_at";

impl From<PolicyRow> for SlaPolicy {
    fn from(r: PolicyRow) -> Self {
        SlaPolicy {
            id: r.id,
            priority: Priority::parse(&r.priority).unwrap_or(Priority::Medium),
            first_response_minutes: r.first_response_minutes,
            resolution_minutes: r.resolution_minutes,
            warn_percent: r.warn_percent,
            business_hours: r.business_hours,
            use_holidays: r.use_holidays,
            pause_statuses: r
                .pause_statuses
                .iter()
                .filter_map(|s| TicketStatus::parse(s))
                .collect(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The policy for one priority, replacing any it had.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    pub first_response_minutes: i32,
    pub resolution_minutes: i32,
    /// 1 to 99, default 80.
    pub warn_percent: Option<i32>,
    /// Absent or null: around the clock.
    #[schema(value_type = Option<Object>)]
    pub business_hours: Option<serde_json::Value>,
    /// Default true.
    pub use_holidays: Option<bool>,
    /// Default `["waiting_on_client"]`; `resolved` and `closed` are not
    /// allowed (the clock has stopped there already).
    pub pause_statuses: Option<Vec<TicketStatus>>,
}

/// Four weeks: longer targets are almost certainly a unit mistake.
pub const MAX_TARGET_MINUTES: i32 = 60 * 24 * 28 * 3;

pub async fn set_policy(
    tx: &mut TenantTx,
    priority: Priority,
    req: PolicyRequest,
) -> DomainResult<SlaPolicy> {
    let mut v = ValidationErrors::new();
    for (field, value) in [
        ("first_response_minutes", req.first_response_minutes),
        ("resolution_minutes", req.resolution_minutes),
    ] {
        if !(1..=MAX_TARGET_MINUTES).contains(&value) {
            v.add(
                field,
                "out_of_range",
                format!("{field} must be between 1 and {MAX_TARGET_MINUTES}"),
            );
        }
    }
    if req.resolution_minutes < req.first_response_minutes {
        v.add(
            "resolution_minutes",
            "before_response",
            "the resolution target cannot be shorter than the first-response target",
        );
    }
    let warn = req.warn_percent.unwrap_or(80);
    if !(1..=99).contains(&warn) {
        v.add(
            "warn_percent",
            "out_of_range",
            "warn_percent must be between 1 and 99",
        );
    }
    let hours = check_hours(&mut v, "business_hours", req.business_hours.as_ref());
    let pauses = check_pauses(&mut v, "pause_statuses", req.pause_statuses);
    v.finish()?;
    let pauses: Vec<&str> = pauses.iter().map(|s| s.as_str()).collect();
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: PolicyRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO sla_policies (id, company_id, priority, first_response_minutes, resolution_minutes, \
         warn_percent, business_hours, use_holidays, pause_statuses, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
         ON CONFLICT (company_id, priority) DO UPDATE SET first_response_minutes = $4, \
         resolution_minutes = $5, warn_percent = $6, business_hours = $7, use_holidays = $8, \
         pause_statuses = $9, updated_at = $10 RETURNING {POLICY_COLUMNS}"
    )))
    .bind(SlaPolicyId::new())
    .bind(tenant)
    .bind(priority.as_str())
    .bind(req.first_response_minutes)
    .bind(req.resolution_minutes)
    .bind(warn)
    .bind(&hours)
    .bind(req.use_holidays.unwrap_or(true))
    .bind(&pauses)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok(row.into())
}

/// Checks business hours (`{"mon": ["09:00", "17:00"], ...}`; absent or
/// null: around the clock); returns them in their stored form.
pub fn check_hours(
    v: &mut ValidationErrors,
    field: &str,
    hours: Option<&serde_json::Value>,
) -> Option<serde_json::Value> {
    match sla_clock::parse_hours(hours.filter(|h| !h.is_null())?) {
        Ok(parsed) => Some(sla_clock::hours_to_json(&parsed)),
        Err(e) => {
            v.add(field, "invalid", e);
            None
        }
    }
}

/// Checks the statuses a clock stands still in (default: waiting on the
/// client); resolved and closed are refused.
pub fn check_pauses(
    v: &mut ValidationErrors,
    field: &str,
    pauses: Option<Vec<TicketStatus>>,
) -> Vec<TicketStatus> {
    let mut pauses = pauses.unwrap_or_else(|| vec![TicketStatus::WaitingOnClient]);
    if pauses.iter().any(|s| s.is_done()) {
        v.add(
            field,
            "invalid",
            "resolved and closed tickets have no running clock to pause",
        );
    }
    let mut seen = Vec::new();
    pauses.retain(|s| {
        let first = !seen.contains(s);
        seen.push(*s);
        first
    });
    pauses
}

pub async fn policies(tx: &mut TenantTx) -> DomainResult<Vec<SlaPolicy>> {
    let tenant = tx.tenant();
    let rows: Vec<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM sla_policies WHERE company_id = $1 \
         ORDER BY array_position(ARRAY['critical','high','medium','low'], priority)"
    )))
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(SlaPolicy::from).collect())
}

pub async fn delete_policy(tx: &mut TenantTx, priority: Priority) -> DomainResult<()> {
    let tenant = tx.tenant();
    let n = sqlx::query("DELETE FROM sla_policies WHERE company_id = $1 AND priority = $2")
        .bind(tenant)
        .bind(priority.as_str())
        .execute(tx.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(DomainError::not_found("SLA policy"));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Holiday {
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub day: NaiveDate,
    pub name: String,
}

pub async fn holidays(tx: &mut TenantTx) -> DomainResult<Vec<Holiday>> {
    let tenant = tx.tenant();
    Ok(
        sqlx::query_as("SELECT day, name FROM holidays WHERE company_id = $1 ORDER BY day")
            .bind(tenant)
            .fetch_all(tx.conn())
            .await?,
    )
}

pub async fn set_holiday(tx: &mut TenantTx, day: NaiveDate, name: &str) -> DomainResult<Holiday> {
    let mut v = ValidationErrors::new();
    let name = v.required_text("name", name, 200);
    v.finish()?;
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "INSERT INTO holidays (company_id, day, name) VALUES ($1, $2, $3) \
         ON CONFLICT (company_id, day) DO UPDATE SET name = $3 RETURNING day, name",
    )
    .bind(tenant)
    .bind(day)
    .bind(name)
    .fetch_one(tx.conn())
    .await?)
}

pub async fn delete_holiday(tx: &mut TenantTx, day: NaiveDate) -> DomainResult<()> {
    let tenant = tx.tenant();
    let n = sqlx::query("DELETE FROM holidays WHERE company_id = $1 AND day = $2")
        .bind(tenant)
        .bind(day)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(DomainError::not_found("holiday"));
    }
    Ok(())
}

// ---- evaluation ----

/// One target of one ticket, evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub due: Option<DateTime<Utc>>,
    pub state: SlaState,
}

/// Both targets of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    pub response: Target,
    pub resolution: Target,
}

impl Evaluation {
    pub fn state(&self) -> SlaState {
        self.response.state.max(self.resolution.state)
    }
}

/// What the evaluation needs of a ticket.
#[derive(Debug, Clone)]
pub struct Clocked {
    pub created_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub status: TicketStatus,
    /// Status changes, oldest first: (instant, new status).
    pub history: Vec<(DateTime<Utc>, TicketStatus)>,
}

/// The intervals in which the ticket sat in a pause status, up to `now`.
pub fn pauses(
    history: &[(DateTime<Utc>, TicketStatus)],
    pause: &[TicketStatus],
    now: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut since: Option<DateTime<Utc>> = None;
    for &(at, status) in history {
        let paused = pause.contains(&status);
        match (since, paused) {
            (None, true) => since = Some(at),
            (Some(start), false) => {
                out.push((start, at));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(start) = since {
        out.push((start, now.max(start)));
    }
    out
}

/// Evaluates a ticket against a policy at `now`. An open pause counts as
/// ending now, so a paused ticket's due times are the earliest they can be.
pub fn evaluate(
    t: &Clocked,
    policy: &SlaPolicy,
    cal: &BusinessCalendar,
    now: DateTime<Utc>,
) -> Evaluation {
    let paused = pauses(&t.history, &policy.pause_statuses, now);
    let warn = policy.warn_percent.clamp(1, 99) as u8;
    let target = |minutes: i32, stopped: Option<DateTime<Utc>>| {
        let goal = Duration::minutes(i64::from(minutes));
        let until = stopped.unwrap_or(now).min(now);
        let elapsed = cal.elapsed(t.created_at, until, &paused);
        Target {
            due: cal.due(t.created_at, goal, &paused),
            state: sla_clock::state_of(elapsed, goal, warn),
        }
    };
    let resolved = if t.status.is_done() {
        t.resolved_at.or(Some(now))
    } else {
        None
    };
    Evaluation {
        response: target(policy.first_response_minutes, t.first_response_at),
        resolution: target(policy.resolution_minutes, resolved),
    }
}

/// The calendar of one policy in the company's zone.
pub fn calendar(policy: &SlaPolicy, tz: Tz, holidays: &BTreeSet<NaiveDate>) -> BusinessCalendar {
    let mut cal = BusinessCalendar::around_the_clock(tz);
    if let Some(h) = &policy.business_hours
        && let Ok(hours) = sla_clock::parse_hours(h)
    {
        cal.hours = Some(hours);
    }
    if policy.use_holidays {
        cal.holidays = holidays.clone();
    }
    cal
}

/// A warning or breach reached for the first time.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: i64,
    pub ticket_id: TicketId,
    pub target: &'static str,
    pub state: SlaState,
    pub due_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct TicketClockRow {
    id: TicketId,
    priority: String,
    status: String,
    client_id: Option<ClientId>,
    created_at: DateTime<Utc>,
    first_response_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    sla_source: Option<String>,
    sla_response_due: Option<DateTime<Utc>>,
    sla_resolution_due: Option<DateTime<Utc>>,
}

/// A ticket's policy and where its targets come from: `company`, or
/// `contract:<id>:<response>:<resolution>`, with `:<digest>` of the
/// contract's own calendar when it has one (stored as the ticket's
/// `sla_source`; a change is news).
#[derive(Debug, Clone)]
pub struct Picked {
    pub policy: SlaPolicy,
    pub source: String,
    /// The contract whose own calendar (hours, holidays, pauses) applies.
    pub calendar_of: Option<ContractId>,
    /// That contract's holidays, instead of the company's.
    pub holidays: Option<BTreeSet<NaiveDate>>,
}

/// THE choice of a ticket's policy. The client's contract in effect
/// (`contract`) decides the targets of the priorities it names, and, when
/// it has a calendar of its own, their business hours, holidays and pause
/// statuses too; otherwise those and the warning share stay the company
/// policy's for that priority (around the clock with holidays, 80 %,
/// waiting on client, without one). Else the company's policy for the priority; else
/// none (the ticket has no SLA).
pub fn pick_policy(
    priority: Priority,
    contract: Option<&InEffect>,
    company: &HashMap<Priority, SlaPolicy>,
) -> Option<Picked> {
    let own = contract.and_then(|c| {
        c.targets
            .iter()
            .find(|t| t.priority == priority)
            .map(|t| (c.id, t))
    });
    match (own, company.get(&priority)) {
        (Some((id, t)), base) => {
            let mut policy = base.cloned().unwrap_or_else(|| SlaPolicy {
                id: SlaPolicyId::new(),
                priority,
                first_response_minutes: 0,
                resolution_minutes: 0,
                warn_percent: 80,
                business_hours: None,
                use_holidays: true,
                pause_statuses: vec![TicketStatus::WaitingOnClient],
                created_at: DateTime::<Utc>::UNIX_EPOCH,
                updated_at: DateTime::<Utc>::UNIX_EPOCH,
            });
            policy.first_response_minutes = t.first_response_minutes;
            policy.resolution_minutes = t.resolution_minutes;
            let mut source = format!(
                "contract:{id}:{}:{}",
                t.first_response_minutes, t.resolution_minutes
            );
            let cal = contract.and_then(|c| c.calendar.as_ref());
            if let Some(cal) = cal {
                policy.business_hours = cal.business_hours.clone();
                policy.pause_statuses = cal.pause_statuses.clone();
                policy.use_holidays = true;
                source.push(':');
                source.push_str(&cal.digest());
            }
            Some(Picked {
                policy,
                source,
                calendar_of: cal.map(|_| id),
                holidays: cal.map(|c| c.holidays.iter().copied().collect()),
            })
        }
        (None, Some(p)) => Some(Picked {
            policy: p.clone(),
            source: "company".to_owned(),
            calendar_of: None,
            holidays: None,
        }),
        (None, None) => None,
    }
}

/// Recomputes the SLA of `ids` (or, with `None`, of every ticket still
/// running or not yet evaluated since it stopped) and stores it; see
/// [`record_events`] for what is news.
pub async fn refresh(tx: &mut TenantTx, ids: Option<&[TicketId]>) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let tz: Tz = crate::identity::company::get(tx)
        .await?
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::UTC);
    let policies: HashMap<Priority, SlaPolicy> = policies(tx)
        .await?
        .into_iter()
        .map(|p| (p.priority, p))
        .collect();
    let days: BTreeSet<NaiveDate> = holidays(tx).await?.into_iter().map(|h| h.day).collect();
    let rows: Vec<TicketClockRow> = sqlx::query_as(
        "SELECT id, priority, status, client_id, created_at, first_response_at, resolved_at, sla_source, \
                sla_response_due, sla_resolution_due FROM tickets \
         WHERE company_id = $1 AND CASE WHEN $2::uuid[] IS NULL \
             THEN status NOT IN ('resolved', 'closed') OR sla_checked_at IS NULL OR sla_checked_at < updated_at \
             ELSE id = ANY($2) END",
    )
    .bind(tenant)
    .bind(ids)
    .fetch_all(tx.conn())
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let ticket_ids: Vec<TicketId> = rows.iter().map(|r| r.id).collect();
    let changes: Vec<(TicketId, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT ticket_id, at, to_status FROM ticket_status_changes \
         WHERE company_id = $1 AND ticket_id = ANY($2) ORDER BY ticket_id, at, id",
    )
    .bind(tenant)
    .bind(&ticket_ids)
    .fetch_all(tx.conn())
    .await?;
    let mut history: HashMap<TicketId, Vec<(DateTime<Utc>, TicketStatus)>> = HashMap::new();
    for (id, at, to) in changes {
        if let Some(s) = TicketStatus::parse(&to) {
            history.entry(id).or_default().push((at, s));
        }
    }
    let contracts =
        crate::service_desk::contracts::in_effect(tx, dates::local_date(now, tz)).await?;
    // The calendar of a priority, and of a contract with its own: the same
    // whichever targets apply.
    let mut calendars: HashMap<(Priority, Option<ContractId>), BusinessCalendar> = HashMap::new();

    for r in rows {
        let priority = Priority::parse(&r.priority).unwrap_or(Priority::Medium);
        let status = TicketStatus::parse(&r.status).unwrap_or(TicketStatus::Open);
        let contract = r.client_id.and_then(|c| contracts.get(&c));
        let Some(Picked {
            policy,
            source,
            calendar_of,
            holidays: own_holidays,
        }) = pick_policy(priority, contract, &policies)
        else {
            sqlx::query(
                "UPDATE tickets SET sla_response_due = NULL, sla_resolution_due = NULL, \
                 sla_response_state = NULL, sla_resolution_state = NULL, sla_state = NULL, \
                 sla_source = NULL, sla_checked_at = $3 WHERE company_id = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(r.id)
            .bind(now)
            .execute(tx.conn())
            .await?;
            continue;
        };
        let cal = calendars
            .entry((priority, calendar_of))
            .or_insert_with(|| calendar(&policy, tz, own_holidays.as_ref().unwrap_or(&days)));
        let clocked = Clocked {
            created_at: r.created_at,
            first_response_at: r.first_response_at,
            resolved_at: r.resolved_at,
            status,
            history: history.remove(&r.id).unwrap_or_default(),
        };
        let e = evaluate(&clocked, &policy, cal, now);
        sqlx::query(
            "UPDATE tickets SET sla_response_due = $3, sla_resolution_due = $4, sla_response_state = $5, \
             sla_resolution_state = $6, sla_state = $7, sla_checked_at = $8, sla_source = $9 \
             WHERE company_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(r.id)
        .bind(e.response.due)
        .bind(e.resolution.due)
        .bind(e.response.state.as_str())
        .bind(e.resolution.state.as_str())
        .bind(e.state().as_str())
        .bind(now)
        .bind(&source)
        .execute(tx.conn())
        .await?;
        if r.sla_source.as_ref().is_some_and(|s| *s != source) {
            for (target, was, due) in [
                ("response", r.sla_response_due, e.response.due),
                ("resolution", r.sla_resolution_due, e.resolution.due),
            ] {
                if was != due {
                    record_retargeted(tx, r.id, target, due).await?;
                }
            }
        }
    }
    Ok(())
}

/// Records that a ticket's target moved because its targets changed.
async fn record_retargeted(
    tx: &mut TenantTx,
    ticket: TicketId,
    target: &str,
    due: Option<DateTime<Utc>>,
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "INSERT INTO sla_events (company_id, ticket_id, target, state, due_at, at) \
         VALUES ($1, $2, $3, 'retargeted', $4, $5)",
    )
    .bind(tenant)
    .bind(ticket)
    .bind(target)
    .bind(due)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records each warning and breach the stored SLA states show for the
/// first time (once per ticket, target and state, ever) and returns them,
/// to be notified. Whoever stored the state (the check, or a request that
/// changed the ticket), the event is found here.
pub async fn record_events(tx: &mut TenantTx) -> DomainResult<Vec<NewEvent>> {
    let (tenant, now) = (tx.tenant(), tx.now());
    type EventRow = (i64, TicketId, String, String, Option<DateTime<Utc>>);
    let rows: Vec<EventRow> = sqlx::query_as(
        "INSERT INTO sla_events (company_id, ticket_id, target, state, due_at, at) \
         SELECT t.company_id, t.id, x.target, x.state, x.due_at, $2 FROM tickets t \
         CROSS JOIN LATERAL (VALUES ('response', t.sla_response_state, t.sla_response_due), \
                                    ('resolution', t.sla_resolution_state, t.sla_resolution_due)) \
                            AS x(target, state, due_at) \
         WHERE t.company_id = $1 AND x.state IN ('warning', 'breached') \
         ON CONFLICT (ticket_id, target, state) WHERE state IN ('warning', 'breached') DO NOTHING \
         RETURNING id, ticket_id, target, state, due_at",
    )
    .bind(tenant)
    .bind(now)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(event_id, ticket_id, target, state, due_at)| NewEvent {
            event_id,
            ticket_id,
            target: if target == "response" {
                "response"
            } else {
                "resolution"
            },
            state: SlaState::parse(&state).unwrap_or(SlaState::Breached),
            due_at,
        })
        .collect())
}

/// Links the notification sent for an event.
pub async fn set_event_mail(
    tx: &mut TenantTx,
    event_id: i64,
    mail: crate::MailId,
) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query("UPDATE sla_events SET mail_id = $3 WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(event_id)
        .bind(mail)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// An SLA state a ticket reached (`warning`, `breached`), or a move of its
/// due time when its targets changed (`retargeted`, with the new due time).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct SlaEvent {
    pub ticket_id: TicketId,
    pub target: String,
    pub state: String,
    pub due_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    pub mail_id: Option<crate::MailId>,
}

pub async fn events(tx: &mut TenantTx, ticket: TicketId) -> DomainResult<Vec<SlaEvent>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT ticket_id, target, state, due_at, at, mail_id FROM sla_events \
         WHERE company_id = $1 AND ticket_id = $2 ORDER BY at, id",
    )
    .bind(tenant)
    .bind(ticket)
    .fetch_all(tx.conn())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0).unwrap()
    }

    fn policy(resp: i32, resol: i32) -> SlaPolicy {
        SlaPolicy {
            id: SlaPolicyId::new(),
            priority: Priority::High,
            first_response_minutes: resp,
            resolution_minutes: resol,
            warn_percent: 50,
            business_hours: None,
            use_holidays: false,
            pause_statuses: vec![TicketStatus::WaitingOnClient],
            created_at: at(0, 0),
            updated_at: at(0, 0),
        }
    }

    #[test]
    fn the_contract_picks_the_targets_of_the_priorities_it_names() {
        use crate::service_desk::contracts::SlaTarget;
        use TicketStatus::*;
        let mut office = policy(60, 240);
        office.business_hours = Some(serde_json::json!({"mon": ["09:00", "17:00"]}));
        let company = HashMap::from([(Priority::High, office)]);
        let contract = InEffect {
            id: crate::ContractId::new(),
            targets: vec![SlaTarget {
                priority: Priority::Low,
                first_response_minutes: 120,
                resolution_minutes: 480,
            }],
            calendar: None,
        };
        // No contract: the company's policy, or none.
        let p = pick_policy(Priority::High, None, &company).unwrap();
        assert_eq!(
            (p.policy.first_response_minutes, p.source.as_str()),
            (60, "company")
        );
        assert!(pick_policy(Priority::Low, None, &company).is_none());
        // A priority the contract does not name keeps the company's.
        let p = pick_policy(Priority::High, Some(&contract), &company).unwrap();
        assert_eq!(p.source, "company");
        // One it names: its targets, around the clock without a company policy.
        let p = pick_policy(Priority::Low, Some(&contract), &company).unwrap();
        assert_eq!(
            (p.policy.first_response_minutes, p.policy.resolution_minutes),
            (120, 480)
        );
        assert_eq!(p.source, format!("contract:{}:120:480", contract.id));
        assert!(p.policy.business_hours.is_none() && p.policy.use_holidays);
        // With a company policy: its hours, the contract's targets.
        let mut contract = contract;
        contract.targets[0].priority = Priority::High;
        let p = pick_policy(Priority::High, Some(&contract), &company).unwrap();
        assert_eq!(p.policy.first_response_minutes, 120);
        assert!(p.policy.business_hours.is_some());
        assert_eq!(p.policy.warn_percent, 50);
        assert!(p.calendar_of.is_none() && p.holidays.is_none());

        // A contract with a calendar of its own: its hours, holidays and
        // pauses for the priorities it names, and a source that changes
        // with the calendar.
        let day = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap();
        contract.calendar = Some(crate::service_desk::contracts::SlaCalendar {
            business_hours: Some(serde_json::json!({"mon": ["07:00", "19:00"]})),
            holidays: vec![day],
            pause_statuses: vec![InProgress],
        });
        let p = pick_policy(Priority::High, Some(&contract), &company).unwrap();
        assert_eq!(
            p.policy.business_hours,
            Some(serde_json::json!({"mon": ["07:00", "19:00"]}))
        );
        assert_eq!(p.policy.pause_statuses, vec![InProgress]);
        assert!(p.policy.use_holidays);
        assert_eq!(p.calendar_of, Some(contract.id));
        assert_eq!(p.holidays, Some(BTreeSet::from([day])));
        let with = p.source.clone();
        assert!(
            with.starts_with(&format!("contract:{}:120:480:", contract.id)),
            "{with}"
        );
        if let Some(c) = contract.calendar.as_mut() {
            c.pause_statuses = vec![WaitingOnClient];
        }
        let p = pick_policy(Priority::High, Some(&contract), &company).unwrap();
        assert_ne!(p.source, with, "a changed calendar is news");
        // A priority it does not name keeps the company's clock.
        let p = pick_policy(Priority::Medium, Some(&contract), &company);
        assert!(p.is_none());
    }

    #[test]
    fn pauses_follow_the_history_and_an_open_one_ends_now() {
        use TicketStatus::*;
        let h = vec![
            (at(9, 0), New),
            (at(10, 0), WaitingOnClient),
            (at(11, 0), Open),
            (at(12, 0), WaitingOnClient),
        ];
        assert_eq!(
            pauses(&h, &[WaitingOnClient], at(13, 30)),
            vec![(at(10, 0), at(11, 0)), (at(12, 0), at(13, 30))]
        );
    }

    #[test]
    fn a_pause_moves_the_due_time_and_the_first_reply_stops_the_response_clock() {
        use TicketStatus::*;
        let cal = BusinessCalendar::around_the_clock(chrono_tz::UTC);
        let mut t = Clocked {
            created_at: at(9, 0),
            first_response_at: None,
            resolved_at: None,
            status: WaitingOnClient,
            history: vec![(at(9, 0), New), (at(9, 30), WaitingOnClient)],
        };
        // 60 min response target, 30 min run, then paused: at 12:00 still ok
        // (30 min = 50 % = warning threshold reached exactly).
        let e = evaluate(&t, &policy(60, 240), &cal, at(12, 0));
        assert_eq!(e.response.state, SlaState::Warning);
        assert_eq!(e.response.due, Some(at(12, 30)));
        // Back to open at 12:00; at 12:31 the response target is breached.
        t.status = Open;
        t.history.push((at(12, 0), Open));
        let e = evaluate(&t, &policy(60, 240), &cal, at(12, 31));
        assert_eq!(e.response.state, SlaState::Breached);
        // Answered at 12:10: the response clock stopped at 40 minutes.
        t.first_response_at = Some(at(12, 10));
        let e = evaluate(&t, &policy(60, 240), &cal, at(15, 0));
        assert_eq!(e.response.state, SlaState::Warning);
        assert_eq!(e.resolution.due, Some(at(15, 30)));
        assert_eq!(e.resolution.state, SlaState::Warning);
        assert_eq!(e.state(), SlaState::Warning);
    }
}
