//! Contracts: what a client has agreed with the MSP for a period. A
//! contract carries SLA targets per priority of its own (a priority it does
//! not name keeps the company's policy; see [`crate::service_desk::sla`]),
//! minutes of work included each calendar month and an hourly rate (both
//! used when time is billed; see [`crate::service_desk::time_entries::bill`]),
//! and optionally the recurring invoice template that bills it.
//!
//! A contract is *in effect* on a day when it is `active` and the day lies
//! between its start and end dates (both included). A client has at most
//! one active contract at a time: active contracts of one client never
//! overlap (409 `contract_overlap`).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::priority::Priority;
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::service_desk::sla::MAX_TARGET_MINUTES;
use crate::service_desk::tickets::TicketStatus;
use crate::{ClientId, ContractId, DomainError, DomainResult, MailId, RecurringId, TenantTx};

text_enum!(ContractStatus {
    Draft = "draft",
    Active = "active",
    Expired = "expired",
    Cancelled = "cancelled",
});

/// The most minutes a month can include: 31 days around the clock.
pub const MAX_INCLUDED_MINUTES: i32 = 31 * 24 * 60;

/// The days before a contract's end date at which the admins are warned.
pub const EXPIRY_THRESHOLDS: [i32; 2] = [30, 7];

/// The most days off a contract's calendar may list.
pub const MAX_HOLIDAYS: usize = 400;

/// A contract's own SLA clock, for the priorities it has targets for:
/// instead of the company policy's business hours, holidays and pause
/// statuses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaCalendar {
    /// `{"mon": ["08:00", "18:00"], ...}` in the company's time zone; a
    /// missing day is closed. Absent or null: around the clock.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub business_hours: Option<serde_json::Value>,
    /// The days the clock stands still, instead of the company's holidays
    /// (up to 400; default none).
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    /// The statuses the clock stands still in; default
    /// `["waiting_on_client"]`; `resolved` and `closed` are refused.
    #[serde(default = "default_pauses")]
    pub pause_statuses: Vec<TicketStatus>,
}

fn default_pauses() -> Vec<TicketStatus> {
    vec![TicketStatus::WaitingOnClient]
}

impl SlaCalendar {
    /// A short digest of the calendar: part of a ticket's SLA source, so a
    /// changed calendar moves running tickets' due times.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_string(self).unwrap_or_default();
        hex::encode(&Sha256::digest(json.as_bytes())[..6])
    }

    /// Checks the calendar; returns it in its stored form (hours
    /// normalized, days sorted once each).
    fn checked(mut self, v: &mut ValidationErrors) -> SlaCalendar {
        let field = "sla_calendar";
        self.business_hours = crate::service_desk::sla::check_hours(
            v,
            &format!("{field}.business_hours"),
            self.business_hours.as_ref(),
        );
        self.pause_statuses = crate::service_desk::sla::check_pauses(
            v,
            &format!("{field}.pause_statuses"),
            Some(self.pause_statuses),
        );
        if self.holidays.len() > MAX_HOLIDAYS {
            v.add(
                &format!("{field}.holidays"),
                "too_many",
                format!("at most {MAX_HOLIDAYS} holidays"),
            );
        }
        for (i, d) in self.holidays.iter().enumerate() {
            crate::kernel::dates::check(v, &format!("{field}.holidays[{i}]"), *d);
        }
        self.holidays.sort();
        self.holidays.dedup();
        self
    }
}

/// A contract's own targets for one priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaTarget {
    pub priority: Priority,
    pub first_response_minutes: i32,
    pub resolution_minutes: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Contract {
    pub id: ContractId,
    pub client_id: ClientId,
    pub name: String,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub start_date: NaiveDate,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub end_date: NaiveDate,
    pub status: ContractStatus,
    /// Minutes of billable work included each calendar month (company time
    /// zone); only time beyond them is billed.
    pub included_minutes_per_month: i32,
    /// Bills this contract's time instead of the client's and the user's rates.
    #[schema(value_type = Option<String>)]
    pub hourly_rate: Option<Decimal>,
    /// The client's recurring invoice template that bills the contract.
    pub recurring_invoice_id: Option<RecurringId>,
    /// Targets per priority; a priority not listed keeps the company's policy.
    pub sla_targets: Vec<SlaTarget>,
    /// The contract's own clock for its targets; absent: the company
    /// policy's hours, holidays and pauses.
    pub sla_calendar: Option<SlaCalendar>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: ContractId,
    client_id: ClientId,
    name: String,
    start_date: NaiveDate,
    end_date: NaiveDate,
    status: String,
    included_minutes_per_month: i32,
    hourly_rate: Option<Decimal>,
    recurring_invoice_id: Option<RecurringId>,
    sla_calendar: Option<sqlx::types::Json<SlaCalendar>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, client_id, name, start_date, end_date, status, included_minutes_per_month, \
    hourly_rate, recurring_invoice_id, sla_calendar, created_at, updated_at";

impl Row {
    fn into_contract(self, sla_targets: Vec<SlaTarget>) -> Contract {
        Contract {
            id: self.id,
            client_id: self.client_id,
            name: self.name,
            start_date: self.start_date,
            end_date: self.end_date,
            status: ContractStatus::parse(&self.status).unwrap_or(ContractStatus::Draft),
            included_minutes_per_month: self.included_minutes_per_month,
            hourly_rate: self.hourly_rate.map(|r| r.normalize()),
            recurring_invoice_id: self.recurring_invoice_id,
            sla_targets,
            sla_calendar: self.sla_calendar.map(|c| c.0),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A new contract.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractRequest {
    pub client_id: ClientId,
    pub name: String,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub start_date: NaiveDate,
    /// After `start_date`.
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub end_date: NaiveDate,
    /// Default `draft`.
    pub status: Option<ContractStatus>,
    /// 0 to 44640; default 0.
    pub included_minutes_per_month: Option<i32>,
    #[schema(value_type = Option<String>)]
    pub hourly_rate: Option<Decimal>,
    /// A recurring invoice template of the same client.
    pub recurring_invoice_id: Option<RecurringId>,
    /// At most one per priority; default none (the company's policies).
    pub sla_targets: Option<Vec<SlaTarget>>,
    /// The contract's own clock for its targets; default none.
    pub sla_calendar: Option<SlaCalendar>,
}

/// A change to a contract. Absent fields stay; `null` clears
/// `hourly_rate` and `recurring_invoice_id`; `sla_targets` replaces them all.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub start_date: Option<NaiveDate>,
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub end_date: Option<NaiveDate>,
    pub status: Option<ContractStatus>,
    pub included_minutes_per_month: Option<i32>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub hourly_rate: Option<Option<Decimal>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<RecurringId>)]
    pub recurring_invoice_id: Option<Option<RecurringId>>,
    pub sla_targets: Option<Vec<SlaTarget>>,
    /// `null` goes back to the company policy's clock.
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<SlaCalendar>)]
    pub sla_calendar: Option<Option<SlaCalendar>>,
}

/// A contract's fields as they are to be stored.
struct Draft {
    client_id: ClientId,
    name: String,
    start_date: NaiveDate,
    end_date: NaiveDate,
    status: ContractStatus,
    included: i32,
    rate: Option<Decimal>,
    template: Option<RecurringId>,
    targets: Vec<SlaTarget>,
    calendar: Option<SlaCalendar>,
}

/// Checks a contract about to be stored (`id`: the one it replaces):
/// fields, the template's client, and no overlap with another active
/// contract of the client. Locks the client row, so two writers of one
/// client's contracts take turns and the overlap check holds.
async fn check(tx: &mut TenantTx, id: Option<ContractId>, d: &mut Draft) -> DomainResult<()> {
    let tenant = tx.tenant();
    let mut v = ValidationErrors::new();
    d.name = v.required_text("name", &d.name, 200);
    crate::kernel::dates::check(&mut v, "start_date", d.start_date);
    crate::kernel::dates::check(&mut v, "end_date", d.end_date);
    if d.end_date <= d.start_date {
        v.add(
            "end_date",
            "before_start",
            "end_date must be after start_date",
        );
    }
    if !(0..=MAX_INCLUDED_MINUTES).contains(&d.included) {
        v.add(
            "included_minutes_per_month",
            "out_of_range",
            format!("included_minutes_per_month must be between 0 and {MAX_INCLUDED_MINUTES}"),
        );
    }
    d.rate = crate::kernel::money::validate_rate(&mut v, "hourly_rate", d.rate);
    d.calendar = d.calendar.take().map(|c| c.checked(&mut v));
    let mut seen = Vec::new();
    for (i, t) in d.targets.iter().enumerate() {
        if seen.contains(&t.priority) {
            v.add(
                &format!("sla_targets[{i}].priority"),
                "duplicate",
                "each priority may have one target",
            );
        }
        seen.push(t.priority);
        for (field, value) in [
            ("first_response_minutes", t.first_response_minutes),
            ("resolution_minutes", t.resolution_minutes),
        ] {
            if !(1..=MAX_TARGET_MINUTES).contains(&value) {
                v.add(
                    &format!("sla_targets[{i}].{field}"),
                    "out_of_range",
                    format!("{field} must be between 1 and {MAX_TARGET_MINUTES}"),
                );
            }
        }
        if t.resolution_minutes < t.first_response_minutes {
            v.add(
                &format!("sla_targets[{i}].resolution_minutes"),
                "before_response",
                "the resolution target cannot be shorter than the first-response target",
            );
        }
    }
    let client: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM clients WHERE company_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant)
            .bind(d.client_id)
            .fetch_optional(tx.conn())
            .await?;
    if client.is_none() {
        v.add(
            "client_id",
            "unknown",
            "client_id names no client of this company",
        );
    }
    if let Some(template) = d.template {
        let owner: Option<(ClientId, NaiveDate)> = sqlx::query_as(
            "SELECT client_id, start_date FROM recurring_invoices WHERE company_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(template)
        .fetch_optional(tx.conn())
        .await?;
        match owner {
            None => v.add(
                "recurring_invoice_id",
                "unknown",
                "recurring_invoice_id names no recurring invoice of this company",
            ),
            Some((c, _)) if c != d.client_id => v.add(
                "recurring_invoice_id",
                "other_client",
                "the recurring invoice belongs to another client",
            ),
            Some((_, start)) if start > d.end_date => v.add(
                "recurring_invoice_id",
                "starts_after_contract",
                format!(
                    "the recurring invoice starts on {start}, after the contract ends: it would bill nothing under it"
                ),
            ),
            Some(_) => {}
        }
    }
    v.finish()?;
    d.targets.sort_by_key(|t| priority_rank(t.priority));
    if d.status == ContractStatus::Active {
        let other: Option<(String, NaiveDate, NaiveDate)> = sqlx::query_as(
            "SELECT name, start_date, end_date FROM contracts WHERE company_id = $1 AND client_id = $2 \
             AND status = 'active' AND ($3::uuid IS NULL OR id <> $3) \
             AND start_date <= $5 AND end_date >= $4 ORDER BY start_date LIMIT 1",
        )
        .bind(tenant)
        .bind(d.client_id)
        .bind(id)
        .bind(d.start_date)
        .bind(d.end_date)
        .fetch_optional(tx.conn())
        .await?;
        if let Some((name, from, to)) = other {
            return Err(DomainError::conflict(
                "contract_overlap",
                format!(
                    "the client's contract \"{name}\" ({from} to {to}) is active in these dates: \
                     a client has one active contract at a time"
                ),
            ));
        }
    }
    Ok(())
}

fn priority_rank(p: Priority) -> usize {
    Priority::ALL.iter().position(|x| *x == p).unwrap_or(0)
}

async fn store_targets(
    tx: &mut TenantTx,
    id: ContractId,
    targets: &[SlaTarget],
) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query("DELETE FROM contract_sla_targets WHERE company_id = $1 AND contract_id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    for t in targets {
        sqlx::query(
            "INSERT INTO contract_sla_targets (company_id, contract_id, priority, first_response_minutes, \
             resolution_minutes) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant)
        .bind(id)
        .bind(t.priority.as_str())
        .bind(t.first_response_minutes)
        .bind(t.resolution_minutes)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// The targets of `ids`, by contract, in priority order.
async fn targets_of(
    tx: &mut TenantTx,
    ids: &[ContractId],
) -> DomainResult<HashMap<ContractId, Vec<SlaTarget>>> {
    let tenant = tx.tenant();
    let rows: Vec<(ContractId, String, i32, i32)> = sqlx::query_as(
        "SELECT contract_id, priority, first_response_minutes, resolution_minutes \
         FROM contract_sla_targets WHERE company_id = $1 AND contract_id = ANY($2) \
         ORDER BY contract_id, array_position(ARRAY['low','medium','high','critical'], priority)",
    )
    .bind(tenant)
    .bind(ids)
    .fetch_all(tx.conn())
    .await?;
    let mut out: HashMap<ContractId, Vec<SlaTarget>> = HashMap::new();
    for (id, priority, first_response_minutes, resolution_minutes) in rows {
        if let Some(priority) = Priority::parse(&priority) {
            out.entry(id).or_default().push(SlaTarget {
                priority,
                first_response_minutes,
                resolution_minutes,
            });
        }
    }
    Ok(out)
}

async fn with_targets(tx: &mut TenantTx, rows: Vec<Row>) -> DomainResult<Vec<Contract>> {
    let ids: Vec<ContractId> = rows.iter().map(|r| r.id).collect();
    let mut targets = targets_of(tx, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let t = targets.remove(&r.id).unwrap_or_default();
            r.into_contract(t)
        })
        .collect())
}

pub async fn create(tx: &mut TenantTx, req: ContractRequest) -> DomainResult<Contract> {
    let mut d = Draft {
        client_id: req.client_id,
        name: req.name,
        start_date: req.start_date,
        end_date: req.end_date,
        status: req.status.unwrap_or(ContractStatus::Draft),
        included: req.included_minutes_per_month.unwrap_or(0),
        rate: req.hourly_rate,
        template: req.recurring_invoice_id,
        targets: req.sla_targets.unwrap_or_default(),
        calendar: req.sla_calendar,
    };
    check(tx, None, &mut d).await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let id = ContractId::new();
    sqlx::query(
        "INSERT INTO contracts (id, company_id, client_id, name, start_date, end_date, status, \
         included_minutes_per_month, hourly_rate, recurring_invoice_id, sla_calendar, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
    )
    .bind(id)
    .bind(tenant)
    .bind(d.client_id)
    .bind(&d.name)
    .bind(d.start_date)
    .bind(d.end_date)
    .bind(d.status.as_str())
    .bind(d.included)
    .bind(d.rate)
    .bind(d.template)
    .bind(d.calendar.as_ref().map(sqlx::types::Json))
    .bind(now)
    .execute(tx.conn())
    .await?;
    store_targets(tx, id, &d.targets).await?;
    let c = get(tx, id).await?;
    drive_template(tx, &c).await?;
    Ok(c)
}

/// The recurring invoice a contract drives bills while the contract runs:
/// once the contract is active, the template's last period starts no later
/// than the contract's last day (an earlier end of the template's own
/// stays); a cancelled contract pauses it (resume it by hand). Drafts
/// leave it alone, and an expired contract's template has ended by then.
async fn drive_template(tx: &mut TenantTx, c: &Contract) -> DomainResult<()> {
    use crate::billing::recurring::{self, TemplatePatch, TemplateStatus};
    let Some(id) = c.recurring_invoice_id else {
        return Ok(());
    };
    let t = recurring::get(tx, id).await?;
    match c.status {
        ContractStatus::Active
            if t.status != TemplateStatus::Archived
                && t.end_date.is_none_or(|e| e > c.end_date) =>
        {
            let patch = TemplatePatch {
                end_date: Some(Some(c.end_date)),
                ..TemplatePatch::default()
            };
            recurring::update(tx, id, patch).await?;
        }
        ContractStatus::Cancelled if t.status == TemplateStatus::Active => {
            recurring::set_paused(tx, id, true).await?;
        }
        _ => {}
    }
    Ok(())
}

pub async fn get(tx: &mut TenantTx, id: ContractId) -> DomainResult<Contract> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM contracts WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let row = row.ok_or(DomainError::not_found("contract"))?;
    Ok(with_targets(tx, vec![row]).await?.remove(0))
}

/// Contracts, newest first; of one client with `client`.
pub async fn list(
    tx: &mut TenantTx,
    client: Option<ClientId>,
    page: &PageRequest,
) -> DomainResult<Page<Contract>> {
    let tenant = tx.tenant();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM contracts WHERE company_id = $1 AND ($2::uuid IS NULL OR client_id = $2) \
         AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    )))
    .bind(tenant)
    .bind(client)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM contracts WHERE company_id = $1 AND ($2::uuid IS NULL OR client_id = $2)",
    )
    .bind(tenant)
    .bind(client)
    .fetch_one(tx.conn())
    .await?;
    let items = with_targets(tx, rows).await?;
    Ok(Page::from_rows(items, page, total, |c| Cursor {
        key: String::new(),
        id: c.id.as_uuid(),
    }))
}

/// Changes a contract; returns it before and after. Tickets running under
/// its targets follow at their next SLA evaluation.
pub async fn update(
    tx: &mut TenantTx,
    id: ContractId,
    patch: ContractPatch,
) -> DomainResult<(Contract, Contract)> {
    let before = get(tx, id).await?;
    let mut d = Draft {
        client_id: before.client_id,
        name: patch.name.unwrap_or_else(|| before.name.clone()),
        start_date: patch.start_date.unwrap_or(before.start_date),
        end_date: patch.end_date.unwrap_or(before.end_date),
        status: patch.status.unwrap_or(before.status),
        included: patch
            .included_minutes_per_month
            .unwrap_or(before.included_minutes_per_month),
        rate: patch.hourly_rate.unwrap_or(before.hourly_rate),
        template: patch
            .recurring_invoice_id
            .unwrap_or(before.recurring_invoice_id),
        targets: patch
            .sla_targets
            .unwrap_or_else(|| before.sla_targets.clone()),
        calendar: patch
            .sla_calendar
            .unwrap_or_else(|| before.sla_calendar.clone()),
    };
    check(tx, Some(id), &mut d).await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE contracts SET name = $3, start_date = $4, end_date = $5, status = $6, \
         included_minutes_per_month = $7, hourly_rate = $8, recurring_invoice_id = $9, sla_calendar = $10, \
         updated_at = $11 \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(&d.name)
    .bind(d.start_date)
    .bind(d.end_date)
    .bind(d.status.as_str())
    .bind(d.included)
    .bind(d.rate)
    .bind(d.template)
    .bind(d.calendar.as_ref().map(sqlx::types::Json))
    .bind(now)
    .execute(tx.conn())
    .await?;
    if d.targets != before.sla_targets {
        store_targets(tx, id, &d.targets).await?;
    }
    let after = get(tx, id).await?;
    drive_template(tx, &after).await?;
    Ok((before, after))
}

/// Deletes a contract no billed time names (409 `contract_in_use`
/// otherwise: cancel it instead).
pub async fn delete(tx: &mut TenantTx, id: ContractId) -> DomainResult<Contract> {
    let c = get(tx, id).await?;
    let tenant = tx.tenant();
    sqlx::query("DELETE FROM contracts WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => DomainError::conflict(
                "contract_in_use",
                "time was billed under this contract: cancel it instead",
            ),
            _ => e.into(),
        })?;
    Ok(c)
}

// ---- what other contexts read ----

/// The contract in effect for a client on a day, with its own targets and
/// calendar.
#[derive(Debug, Clone)]
pub struct InEffect {
    pub id: ContractId,
    pub targets: Vec<SlaTarget>,
    pub calendar: Option<SlaCalendar>,
}

/// The contracts in effect on `day`, by client.
pub async fn in_effect(
    tx: &mut TenantTx,
    day: NaiveDate,
) -> DomainResult<HashMap<ClientId, InEffect>> {
    let tenant = tx.tenant();
    type Found = (ContractId, ClientId, Option<sqlx::types::Json<SlaCalendar>>);
    let rows: Vec<Found> = sqlx::query_as(
        "SELECT id, client_id, sla_calendar FROM contracts WHERE company_id = $1 AND status = 'active' \
         AND start_date <= $2 AND end_date >= $2 ORDER BY start_date, id",
    )
    .bind(tenant)
    .bind(day)
    .fetch_all(tx.conn())
    .await?;
    let ids: Vec<ContractId> = rows.iter().map(|(id, _, _)| *id).collect();
    let mut targets = targets_of(tx, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|(id, client, calendar)| {
            let targets = targets.remove(&id).unwrap_or_default();
            let calendar = calendar.map(|c| c.0);
            (
                client,
                InEffect {
                    id,
                    targets,
                    calendar,
                },
            )
        })
        .collect())
}

/// What billing needs of a contract.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Terms {
    pub id: ContractId,
    pub name: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub included_minutes_per_month: i32,
    pub hourly_rate: Option<Decimal>,
}

impl Terms {
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.start_date <= day && day <= self.end_date
    }
}

/// The client's contracts that bill time: active and expired ones (not
/// drafts or cancelled ones), oldest first.
pub async fn billing_terms(tx: &mut TenantTx, client: ClientId) -> DomainResult<Vec<Terms>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT id, name, start_date, end_date, included_minutes_per_month, hourly_rate FROM contracts \
         WHERE company_id = $1 AND client_id = $2 AND status IN ('active', 'expired') \
         ORDER BY start_date, id",
    )
    .bind(tenant)
    .bind(client)
    .fetch_all(tx.conn())
    .await?)
}

// ---- expiry ----

/// Marks active contracts that ended before `today` expired; returns them.
pub async fn expire_ended(tx: &mut TenantTx, today: NaiveDate) -> DomainResult<Vec<ContractId>> {
    let (tenant, now) = (tx.tenant(), tx.now());
    Ok(sqlx::query_scalar(
        "UPDATE contracts SET status = 'expired', updated_at = $3 \
         WHERE company_id = $1 AND status = 'active' AND end_date < $2 RETURNING id",
    )
    .bind(tenant)
    .bind(today)
    .bind(now)
    .fetch_all(tx.conn())
    .await?)
}

/// An expiry warning recorded now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExpiryAlert {
    pub contract_id: ContractId,
    pub contract_name: String,
    pub client_id: ClientId,
    pub client_name: String,
    pub threshold_days: i32,
    pub end_date: NaiveDate,
    pub days_left: i32,
}

/// Records the expiry warnings due on `today` for active contracts: the
/// smallest threshold reached, once per contract, threshold and end date.
/// A contract first seen 5 days before its end gets the 7-day warning only.
pub async fn record_expiry_alerts(
    tx: &mut TenantTx,
    today: NaiveDate,
) -> DomainResult<Vec<ExpiryAlert>> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let max = EXPIRY_THRESHOLDS.iter().copied().max().unwrap_or(30);
    Ok(sqlx::query_as(
        "WITH due AS ( \
           SELECT c.id, c.end_date, t.d FROM contracts c \
           CROSS JOIN LATERAL (SELECT min(x) AS d FROM unnest($2::int[]) x \
                               WHERE x >= c.end_date - $3::date) t \
           WHERE c.company_id = $1 AND c.status = 'active' \
             AND c.end_date BETWEEN $3::date AND $3::date + $4::int AND t.d IS NOT NULL), \
         added AS ( \
           INSERT INTO contract_expiry_alerts (company_id, contract_id, threshold_days, end_date, alerted_at) \
           SELECT $1, id, d, end_date, $5 FROM due \
           ON CONFLICT (contract_id, threshold_days, end_date) DO NOTHING \
           RETURNING contract_id, threshold_days, end_date) \
         SELECT c.id AS contract_id, c.name AS contract_name, c.client_id, k.name AS client_name, \
                x.threshold_days, x.end_date, (x.end_date - $3::date) AS days_left \
         FROM added x JOIN contracts c ON c.company_id = $1 AND c.id = x.contract_id \
         JOIN clients k ON k.company_id = $1 AND k.id = c.client_id \
         ORDER BY x.end_date, k.name, c.id",
    )
    .bind(tenant)
    .bind(EXPIRY_THRESHOLDS.to_vec())
    .bind(today)
    .bind(max)
    .bind(now)
    .fetch_all(tx.conn())
    .await?)
}

/// Notes which mail told of an alert.
pub async fn set_alert_mail(tx: &mut TenantTx, a: &ExpiryAlert, mail: MailId) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE contract_expiry_alerts SET mail_id = $5 WHERE company_id = $1 AND contract_id = $2 \
         AND threshold_days = $3 AND end_date = $4",
    )
    .bind(tenant)
    .bind(a.contract_id)
    .bind(a.threshold_days)
    .bind(a.end_date)
    .bind(mail)
    .execute(tx.conn())
    .await?;
    Ok(())
}
