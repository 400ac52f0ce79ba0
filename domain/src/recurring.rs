//! Recurring invoice templates, and billing one template up to a date.
//!
//! Billing a template locks its row, bills every due period from its next
//! cycle on, oldest first (each in the invoice table's unique key on
//! (template, period start)), and moves the next cycle on, all in one
//! transaction: however often or concurrently a template is billed, each
//! period gets exactly one invoice.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::billing_periods::{self, Frequency};
use crate::invoices::{self, InvoiceRequest, LineRequest};
use crate::money::{self, Discount};
use crate::pagination::{Cursor, Page, PageRequest};
use crate::validation::ValidationErrors;
use crate::{BillingRunId, ClientId, DomainError, DomainResult, InvoiceId, RecurringId, TenantTx};

/// Most periods one billing of a template catches up.
pub const MAX_PERIODS_PER_BILLING: usize = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Escalation {
    /// Raise prices by this percent...
    pub percent: Decimal,
    /// ...every this many cycles.
    pub every: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    Active,
    Paused,
    /// Past its end date or its last cycle.
    Ended,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Template {
    pub id: RecurringId,
    pub client_id: ClientId,
    pub name: String,
    pub currency: String,
    pub frequency: Frequency,
    /// The anchor: period k starts k intervals after it.
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub max_cycles: Option<i32>,
    /// The next period to bill (0 for the first).
    pub next_cycle: i32,
    pub next_period_start: Option<NaiveDate>,
    pub status: TemplateStatus,
    pub auto_finalize: bool,
    /// Each invoice the template creates is e-mailed to the client's billing
    /// contacts, once (needs `auto_finalize`).
    pub auto_send: bool,
    pub escalation: Option<Escalation>,
    pub prorate_from: Option<NaiveDate>,
    pub due_days: i32,
    pub discount: Option<Discount>,
    pub notes: Option<String>,
    pub terms: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    pub client_id: ClientId,
    pub name: String,
    /// Defaults to the company's currency.
    pub currency: Option<String>,
    pub frequency: Frequency,
    #[serde(deserialize_with = "crate::dates::de")]
    pub start_date: NaiveDate,
    #[serde(default, deserialize_with = "crate::dates::de_opt")]
    pub end_date: Option<NaiveDate>,
    pub max_cycles: Option<i32>,
    #[serde(default = "yes")]
    pub auto_finalize: bool,
    #[serde(default)]
    pub auto_send: bool,
    pub escalation: Option<Escalation>,
    /// When service starts inside the first period: that period is billed
    /// for the days from here to its end.
    #[serde(default, deserialize_with = "crate::dates::de_opt")]
    pub prorate_from: Option<NaiveDate>,
    /// Days from issue to due date (default 30).
    pub due_days: Option<i32>,
    pub discount: Option<Discount>,
    pub notes: Option<String>,
    pub terms: Option<String>,
    pub lines: Vec<LineRequest>,
}

fn yes() -> bool {
    true
}

#[derive(sqlx::FromRow)]
struct Row {
    id: RecurringId,
    client_id: ClientId,
    name: String,
    currency: String,
    frequency_unit: String,
    frequency_every: i32,
    start_date: NaiveDate,
    end_date: Option<NaiveDate>,
    max_cycles: Option<i32>,
    next_cycle: i32,
    next_period_start: Option<NaiveDate>,
    status: String,
    auto_finalize: bool,
    auto_send: bool,
    escalation_percent: Option<Decimal>,
    escalation_every: Option<i32>,
    prorate_from: Option<NaiveDate>,
    due_days: i32,
    discount: Option<serde_json::Value>,
    notes: Option<String>,
    terms: Option<String>,
    lines: serde_json::Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, client_id, name, currency::text AS currency, frequency_unit, frequency_every, start_date, \
    end_date, max_cycles, next_cycle, next_period_start, status, auto_finalize, auto_send, \
    trim_scale(escalation_percent) AS escalation_percent, escalation_every, prorate_from, due_days, discount, notes, \
    terms, lines, created_at, updated_at";

fn frequency_of(unit: &str, every: i32) -> DomainResult<Frequency> {
    let n = u32::try_from(every).map_err(|_| DomainError::Internal("negative frequency".into()))?;
    Ok(match unit {
        "days" => Frequency::Days(n),
        "weeks" => Frequency::Weeks(n),
        "months" => Frequency::Months(n),
        "years" => Frequency::Years(n),
        other => {
            return Err(DomainError::Internal(format!(
                "unknown frequency unit {other:?}"
            )));
        }
    })
}

fn unit_of(f: Frequency) -> (&'static str, i32) {
    match f {
        Frequency::Days(n) => ("days", n as i32),
        Frequency::Weeks(n) => ("weeks", n as i32),
        Frequency::Months(n) => ("months", n as i32),
        Frequency::Years(n) => ("years", n as i32),
    }
}

impl TryFrom<Row> for Template {
    type Error = DomainError;
    fn try_from(r: Row) -> DomainResult<Template> {
        let status = match r.status.as_str() {
            "active" => TemplateStatus::Active,
            "paused" => TemplateStatus::Paused,
            "ended" => TemplateStatus::Ended,
            other => {
                return Err(DomainError::Internal(format!(
                    "unknown template status {other:?}"
                )));
            }
        };
        Ok(Template {
            id: r.id,
            client_id: r.client_id,
            name: r.name,
            currency: r.currency,
            frequency: frequency_of(&r.frequency_unit, r.frequency_every)?,
            start_date: r.start_date,
            end_date: r.end_date,
            max_cycles: r.max_cycles,
            next_cycle: r.next_cycle,
            next_period_start: r.next_period_start,
            status,
            auto_finalize: r.auto_finalize,
            auto_send: r.auto_send,
            escalation: r
                .escalation_percent
                .zip(r.escalation_every)
                .map(|(percent, every)| Escalation {
                    percent,
                    every: every as u32,
                }),
            prorate_from: r.prorate_from,
            due_days: r.due_days,
            discount: r.discount.and_then(|d| serde_json::from_value(d).ok()),
            notes: r.notes,
            terms: r.terms,
            lines: match r.lines {
                serde_json::Value::Array(a) => a,
                _ => Vec::new(),
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A line as a template stores it (what the API took, kept as given).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredLine {
    product_id: Option<crate::ProductId>,
    description: Option<String>,
    quantity: Decimal,
    unit_price: Option<Decimal>,
    discount: Option<Discount>,
    tax_rate_ids: Option<Vec<crate::TaxRateId>>,
}

fn validate(v: &mut ValidationErrors, req: &TemplateRequest) -> String {
    let name = v.required_text("name", &req.name, 200);
    if req.frequency.validated().is_none() {
        v.add(
            "frequency",
            "out_of_range",
            "every must be at least 1 (days up to 3660, weeks 520, months 120, years 10)",
        );
    }
    if req.end_date.is_some_and(|e| e < req.start_date) {
        v.add(
            "end_date",
            "before_start",
            "end_date must not be before start_date",
        );
    }
    if req.max_cycles.is_some_and(|m| m < 1) {
        v.add(
            "max_cycles",
            "out_of_range",
            "max_cycles must be at least 1",
        );
    }
    if let Some(e) = req.escalation
        && (e.every == 0 || e.percent <= Decimal::ZERO || e.percent > Decimal::ONE_HUNDRED)
    {
        v.add(
            "escalation",
            "invalid",
            "escalation needs a percent above 0 up to 100 and every of at least 1",
        );
    }
    if let Some(p) = req.prorate_from
        && let Some((start, end)) = billing_periods::period(req.start_date, req.frequency, 0)
        && (p <= start || p >= end)
    {
        v.add(
            "prorate_from",
            "outside_first_period",
            "prorate_from must fall inside the first period",
        );
    }
    if req.due_days.is_some_and(|d| !(0..=365).contains(&d)) {
        v.add(
            "due_days",
            "out_of_range",
            "due_days must be between 0 and 365",
        );
    }
    if req.lines.is_empty() {
        v.add("lines", "required", "a template needs at least one line");
    }
    name
}

/// Creates a template. Its lines are checked by pricing a draft the way
/// billing will (nothing is stored but the template).
pub async fn create(tx: &mut TenantTx, req: TemplateRequest) -> DomainResult<Template> {
    let mut v = ValidationErrors::new();
    let name = validate(&mut v, &req);
    v.finish()?;
    let company = crate::company::get(tx).await?;
    let currency = req.currency.clone().unwrap_or(company.currency);
    invoices::check(
        tx,
        request_for(&req_as_stored(&req), &req, &currency, req.start_date, 0),
    )
    .await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let (unit, every) = unit_of(req.frequency);
    let first = billing_periods::period_start(req.start_date, req.frequency, 0);
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO recurring_invoices (id, company_id, client_id, name, currency, frequency_unit, frequency_every, \
         start_date, end_date, max_cycles, next_cycle, next_period_start, status, auto_finalize, auto_send, \
         escalation_percent, escalation_every, prorate_from, due_days, discount, notes, terms, lines, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, 'active', $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $22) \
         RETURNING {COLUMNS}"
    )))
    .bind(RecurringId::new())
    .bind(tenant)
    .bind(req.client_id)
    .bind(name)
    .bind(&currency)
    .bind(unit)
    .bind(every)
    .bind(req.start_date)
    .bind(req.end_date)
    .bind(req.max_cycles)
    .bind(first)
    .bind(req.auto_finalize)
    .bind(req.auto_send)
    .bind(req.escalation.map(|e| e.percent))
    .bind(req.escalation.map(|e| e.every as i32))
    .bind(req.prorate_from)
    .bind(req.due_days.unwrap_or(30))
    .bind(req.discount.map(|d| serde_json::to_value(d).unwrap_or_default()))
    .bind(req.notes.as_deref().map(str::trim).filter(|s| !s.is_empty()))
    .bind(req.terms.as_deref().map(str::trim).filter(|s| !s.is_empty()))
    .bind(serde_json::to_value(req_as_stored(&req)).unwrap_or_default())
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

fn req_as_stored(req: &TemplateRequest) -> Vec<StoredLine> {
    req.lines
        .iter()
        .map(|l| StoredLine {
            product_id: l.product_id,
            description: l.description.clone(),
            quantity: l.quantity,
            unit_price: l.unit_price,
            discount: l.discount,
            tax_rate_ids: l.tax_rate_ids.clone(),
        })
        .collect()
}

/// Every template of the company with the time it was paused (while it is),
/// for MRR history.
pub(crate) async fn all_with_pauses(
    tx: &mut TenantTx,
) -> DomainResult<Vec<(Template, Option<DateTime<Utc>>)>> {
    let tenant = tx.tenant();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM recurring_invoices WHERE company_id = $1 ORDER BY id"
    )))
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    let pauses: std::collections::HashMap<RecurringId, DateTime<Utc>> = sqlx::query_as(
        "SELECT id, paused_at FROM recurring_invoices WHERE company_id = $1 AND paused_at IS NOT NULL",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .collect();
    rows.into_iter()
        .map(|r| {
            let t: Template = r.try_into()?;
            let paused = pauses.get(&t.id).copied();
            Ok((t, paused))
        })
        .collect()
}

/// What period `cycle` of a template bills before tax (its lines' nets,
/// after discounts), priced as billing prices it but never pro rata: the
/// amount MRR counts.
pub(crate) async fn cycle_net(
    tx: &mut TenantTx,
    t: &Template,
    cycle: u32,
    company: &crate::company::Company,
    cache: &mut invoices::PriceCache,
) -> DomainResult<Decimal> {
    let lines: Vec<StoredLine> = serde_json::from_value(serde_json::Value::Array(t.lines.clone()))
        .map_err(|e| DomainError::Internal(format!("stored template lines: {e}")))?;
    let mut terms = t.clone();
    terms.prorate_from = None;
    let start =
        billing_periods::period_start(t.start_date, t.frequency, cycle).unwrap_or(t.start_date);
    invoices::net_of(
        tx,
        request_for(&lines, &terms, &t.currency, start, cycle),
        company,
        cache,
    )
    .await
}

/// The draft for cycle `cycle` starting on `start`: escalated prices, the
/// first period pro rata when service started inside it.
fn request_for(
    lines: &[StoredLine],
    t: &impl TemplateTerms,
    currency: &str,
    start: NaiveDate,
    cycle: u32,
) -> InvoiceRequest {
    let minor = money::minor_units(currency).unwrap_or(2);
    let end = billing_periods::period_start(t.anchor(), t.frequency(), cycle + 1).unwrap_or(start);
    let factor_from = (cycle == 0).then(|| t.prorate_from()).flatten();
    InvoiceRequest {
        client_id: t.client(),
        currency: Some(currency.to_owned()),
        issue_date: Some(start),
        due_date: Some(start + Duration::days(i64::from(t.due_days()))),
        payment_term_id: None,
        discount: t.discount(),
        notes: t.notes(),
        terms: t.terms(),
        lines: lines
            .iter()
            .map(|l| {
                let price = l.unit_price.map(|p| {
                    let p = match t.escalation() {
                        Some(e) => billing_periods::escalated(p, e.percent, e.every, cycle, minor),
                        None => p,
                    };
                    match factor_from {
                        Some(from) => billing_periods::prorate(p, start, end, from, minor),
                        None => p,
                    }
                });
                LineRequest {
                    product_id: l.product_id,
                    description: l.description.clone(),
                    quantity: l.quantity,
                    unit_price: price,
                    discount: l.discount,
                    tax_rate_ids: l.tax_rate_ids.clone(),
                }
            })
            .collect(),
    }
}

/// What building an invoice needs from a template, stored or requested.
trait TemplateTerms {
    fn client(&self) -> ClientId;
    fn anchor(&self) -> NaiveDate;
    fn frequency(&self) -> Frequency;
    fn prorate_from(&self) -> Option<NaiveDate>;
    fn escalation(&self) -> Option<Escalation>;
    fn due_days(&self) -> i32;
    fn discount(&self) -> Option<Discount>;
    fn notes(&self) -> Option<String>;
    fn terms(&self) -> Option<String>;
}

impl TemplateTerms for TemplateRequest {
    fn client(&self) -> ClientId {
        self.client_id
    }
    fn anchor(&self) -> NaiveDate {
        self.start_date
    }
    fn frequency(&self) -> Frequency {
        self.frequency
    }
    fn prorate_from(&self) -> Option<NaiveDate> {
        self.prorate_from
    }
    fn escalation(&self) -> Option<Escalation> {
        self.escalation
    }
    fn due_days(&self) -> i32 {
        self.due_days.unwrap_or(30)
    }
    fn discount(&self) -> Option<Discount> {
        self.discount
    }
    fn notes(&self) -> Option<String> {
        self.notes.clone()
    }
    fn terms(&self) -> Option<String> {
        self.terms.clone()
    }
}

impl TemplateTerms for Template {
    fn client(&self) -> ClientId {
        self.client_id
    }
    fn anchor(&self) -> NaiveDate {
        self.start_date
    }
    fn frequency(&self) -> Frequency {
        self.frequency
    }
    fn prorate_from(&self) -> Option<NaiveDate> {
        self.prorate_from
    }
    fn escalation(&self) -> Option<Escalation> {
        self.escalation
    }
    fn due_days(&self) -> i32 {
        self.due_days
    }
    fn discount(&self) -> Option<Discount> {
        self.discount
    }
    fn notes(&self) -> Option<String> {
        self.notes.clone()
    }
    fn terms(&self) -> Option<String> {
        self.terms.clone()
    }
}

pub async fn get(tx: &mut TenantTx, id: RecurringId) -> DomainResult<Template> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM recurring_invoices WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("recurring invoice"))?
        .try_into()
}

pub async fn list(
    tx: &mut TenantTx,
    client: Option<ClientId>,
    page: &PageRequest,
) -> DomainResult<Page<Template>> {
    let tenant = tx.tenant();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM recurring_invoices WHERE company_id = $1 AND ($2::uuid IS NULL OR client_id = $2) \
         AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    )))
    .bind(tenant)
    .bind(client)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM recurring_invoices WHERE company_id = $1 AND ($2::uuid IS NULL OR client_id = $2)",
    )
    .bind(tenant)
    .bind(client)
    .fetch_one(tx.conn())
    .await?;
    let items = rows
        .into_iter()
        .map(Template::try_from)
        .collect::<DomainResult<Vec<_>>>()?;
    Ok(Page::from_rows(items, page, total, |t| Cursor {
        key: String::new(),
        id: t.id.as_uuid(),
    }))
}

/// Pauses (`true`) or resumes a template. A resumed template bills the
/// periods it missed while paused on its next billing.
pub async fn set_paused(
    tx: &mut TenantTx,
    id: RecurringId,
    paused: bool,
) -> DomainResult<Template> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let (from, to) = if paused {
        ("active", "paused")
    } else {
        ("paused", "active")
    };
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE recurring_invoices SET status = $4, updated_at = $5, \
         paused_at = CASE WHEN $4 = 'paused' THEN $5 END \
         WHERE company_id = $1 AND id = $2 AND status = $3 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    match row {
        Some(r) => r.try_into(),
        None => {
            let t = get(tx, id).await?;
            Err(DomainError::conflict(
                "invalid_template_status",
                format!("the template is {:?}, not {from}", t.status).to_lowercase(),
            ))
        }
    }
}

/// One period's outcome when a template is billed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodOutcome {
    pub template_id: RecurringId,
    pub period_start: NaiveDate,
    /// `created`, `skipped` (already billed) or `failed`.
    pub outcome: String,
    pub invoice_id: Option<InvoiceId>,
    pub total: Option<Decimal>,
    pub reason: Option<String>,
}

/// Bills every period of a template due by `as_of`, oldest first; with
/// `dry_run`, prices them and writes nothing (the caller rolls back).
pub async fn bill(
    tx: &mut TenantTx,
    id: RecurringId,
    as_of: NaiveDate,
    dry_run: bool,
) -> DomainResult<Vec<PeriodOutcome>> {
    bill_many(tx, &[id], as_of, dry_run).await
}

/// Bills several templates in one transaction: their rows are locked
/// together (in id order, so concurrent runs cannot deadlock), the company,
/// its number pattern, clients and tax rates are read once, and the
/// templates' next cycles are moved on in one statement.
pub async fn bill_many(
    tx: &mut TenantTx,
    ids: &[RecurringId],
    as_of: NaiveDate,
    dry_run: bool,
) -> DomainResult<Vec<PeriodOutcome>> {
    let tenant = tx.tenant();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM recurring_invoices WHERE company_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE"
    )))
    .bind(tenant)
    .bind(ids)
    .fetch_all(tx.conn())
    .await?;
    if rows.is_empty() && ids.len() == 1 {
        return Err(DomainError::not_found("recurring invoice"));
    }
    let company = crate::company::get(tx).await?;
    let pattern = crate::numbering::pattern_from_settings(
        &company.settings,
        invoices::PATTERN_SETTING,
        invoices::DEFAULT_PATTERN,
    )?;
    let mut cache = invoices::PriceCache::default();
    let mut out = Vec::new();
    let mut to_finalize = Vec::new();
    let (mut moved_ids, mut moved_cycles, mut moved_starts, mut moved_ended) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        let t: Template = row.try_into()?;
        if t.status != TemplateStatus::Active {
            continue;
        }
        let lines: Vec<StoredLine> =
            serde_json::from_value(serde_json::Value::Array(t.lines.clone()))
                .map_err(|e| DomainError::Internal(format!("stored template lines: {e}")))?;
        let due = billing_periods::due_periods(
            t.start_date,
            t.frequency,
            t.next_cycle as u32,
            as_of,
            t.end_date,
            t.max_cycles.map(|m| m as u32),
            MAX_PERIODS_PER_BILLING,
        );
        if due.is_empty() {
            continue;
        }
        let mut next_cycle = t.next_cycle as u32;
        for (cycle, start) in due {
            let req = request_for(&lines, &t, &t.currency, start, cycle);
            let outcome = if dry_run {
                PeriodOutcome {
                    template_id: t.id,
                    period_start: start,
                    outcome: "created".into(),
                    invoice_id: None,
                    total: Some(invoices::check(tx, req).await?),
                    reason: None,
                }
            } else {
                match invoices::create_for_period(tx, req, t.id, start, &company, &mut cache)
                    .await?
                {
                    Some((inv, total)) => {
                        if t.auto_finalize {
                            to_finalize.push((inv, start));
                        }
                        PeriodOutcome {
                            template_id: t.id,
                            period_start: start,
                            outcome: "created".into(),
                            invoice_id: Some(inv),
                            total: Some(total),
                            reason: None,
                        }
                    }
                    None => PeriodOutcome {
                        template_id: t.id,
                        period_start: start,
                        outcome: "skipped".into(),
                        invoice_id: None,
                        total: None,
                        reason: Some("this period has its invoice already".into()),
                    },
                }
            };
            out.push(outcome);
            next_cycle = cycle + 1;
        }
        let next_start = billing_periods::period_start(t.start_date, t.frequency, next_cycle);
        let ended = t.max_cycles.is_some_and(|m| next_cycle >= m as u32)
            || matches!((t.end_date, next_start), (Some(e), Some(n)) if n > e);
        moved_ids.push(t.id);
        moved_cycles.push(next_cycle as i32);
        moved_starts.push(if ended { None } else { next_start });
        moved_ended.push(ended);
    }
    invoices::finalize_new_many(tx, &to_finalize, &pattern).await?;
    if !dry_run && !moved_ids.is_empty() {
        let now = tx.now();
        sqlx::query(
            "UPDATE recurring_invoices r SET next_cycle = m.next_cycle, next_period_start = m.next_start, \
             status = CASE WHEN m.ended THEN 'ended' ELSE r.status END, updated_at = $2 \
             FROM unnest($3::uuid[], $4::int4[], $5::date[], $6::bool[]) AS m(id, next_cycle, next_start, ended) \
             WHERE r.company_id = $1 AND r.id = m.id",
        )
        .bind(tenant)
        .bind(now)
        .bind(moved_ids)
        .bind(moved_cycles)
        .bind(moved_starts)
        .bind(moved_ended)
        .execute(tx.conn())
        .await?;
    }
    Ok(out)
}

/// Templates with a period due by `as_of`, in id order.
pub async fn due_ids(tx: &mut TenantTx, as_of: NaiveDate) -> DomainResult<Vec<RecurringId>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_scalar(
        "SELECT id FROM recurring_invoices WHERE company_id = $1 AND status = 'active' AND next_period_start <= $2 \
         ORDER BY id",
    )
    .bind(tenant)
    .bind(as_of)
    .fetch_all(tx.conn())
    .await?)
}

/// Templates with a period due by `as_of`, in id order, with how many
/// periods one billing would bill.
pub async fn due_periods(
    tx: &mut TenantTx,
    as_of: NaiveDate,
) -> DomainResult<Vec<(RecurringId, u32)>> {
    let tenant = tx.tenant();
    let rows: Vec<DueRow> = sqlx::query_as(
        "SELECT id, frequency_unit, frequency_every, start_date, end_date, max_cycles, next_cycle \
         FROM recurring_invoices WHERE company_id = $1 AND status = 'active' AND next_period_start <= $2 \
         ORDER BY id",
    )
    .bind(tenant)
    .bind(as_of)
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter()
        .map(|r| {
            let periods = billing_periods::due_periods(
                r.start_date,
                frequency_of(&r.frequency_unit, r.frequency_every)?,
                u32::try_from(r.next_cycle).unwrap_or(0),
                as_of,
                r.end_date,
                r.max_cycles.map(|m| u32::try_from(m).unwrap_or(0)),
                MAX_PERIODS_PER_BILLING,
            );
            Ok((r.id, periods.len() as u32))
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct DueRow {
    id: RecurringId,
    frequency_unit: String,
    frequency_every: i32,
    start_date: NaiveDate,
    end_date: Option<NaiveDate>,
    max_cycles: Option<i32>,
    next_cycle: i32,
}

// ---- billing runs -------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BillingRun {
    pub id: BillingRunId,
    pub as_of: NaiveDate,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// Templates the run found due (once it has looked).
    pub templates: Option<i32>,
    /// Where the run stands (see [`RunState`]).
    pub state: RunState,
    /// Periods due when the run looked: each is created, skipped, failed,
    /// pending (in a chunk still to run or retrying) or unbilled (in a
    /// dead chunk).
    pub periods: Option<i32>,
    pub invoices_created: i64,
    pub skipped: i64,
    pub failed: i64,
    pub pending: i64,
    pub unbilled: i64,
    /// The failures, with their reasons (at most 100).
    pub failures: Vec<PeriodOutcome>,
    /// The run's jobs: the fan-out and one per chunk of templates.
    pub chunks: ChunkCounts,
    /// The chunks that are dead or failed and waiting to retry, with their
    /// errors (at most 100). A dead chunk can be replayed
    /// (`POST /api/v1/jobs/{id}/retry`); its periods are billed then.
    pub chunk_errors: Vec<ChunkError>,
    pub created_at: DateTime<Utc>,
}

/// Where a billing run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// The run has not looked for due templates yet.
    Pending,
    /// Chunks are queued, running or waiting to retry.
    Running,
    /// Every chunk finished and every due period has its invoice.
    Succeeded,
    /// Every chunk finished; some periods failed (see `failures`).
    CompletedWithFailures,
    /// A chunk, or the fan-out itself, is dead or was cancelled: its
    /// periods are not billed (see `chunk_errors`).
    Failed,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ChunkCounts {
    pub total: i64,
    pub queued: i64,
    pub running: i64,
    pub retrying: i64,
    pub succeeded: i64,
    pub dead: i64,
    pub cancelled: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChunkError {
    pub job_id: uuid::Uuid,
    /// `failed_will_retry`, `dead` or `cancelled`.
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub error: Option<String>,
    pub templates: i32,
    pub periods: i32,
}

/// One chunk of a run as the fan-out records it, with its job's unique key.
#[derive(Debug, Clone)]
pub struct ChunkRecord {
    pub job_key: String,
    pub templates: Vec<RecurringId>,
    pub periods: i32,
}

/// Records a run's chunks with their jobs (found by their unique keys), in
/// the platform transaction that records the jobs. Idempotent.
pub async fn record_chunks(
    tx: &mut crate::SystemTx,
    tenant: crate::TenantId,
    run: BillingRunId,
    chunks: &[ChunkRecord],
) -> DomainResult<()> {
    if chunks.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = chunks.iter().map(|c| c.job_key.as_str()).collect();
    let firsts: Vec<RecurringId> = chunks.iter().map(|c| c.templates[0]).collect();
    // uuid[][] must be rectangular: templates travel as text.
    let templates: Vec<String> = chunks
        .iter()
        .map(|c| {
            c.templates
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    let periods: Vec<i32> = chunks.iter().map(|c| c.periods).collect();
    sqlx::query(
        "INSERT INTO billing_run_chunks (run_id, company_id, first_template, job_id, templates, periods) \
         SELECT $1, $2, c.first, j.id, string_to_array(c.templates, ',')::uuid[], c.periods \
         FROM unnest($3::text[], $4::uuid[], $5::text[], $6::int4[]) AS c(key, first, templates, periods) \
         JOIN jobs j ON j.unique_key = c.key \
         ON CONFLICT DO NOTHING",
    )
    .bind(run)
    .bind(tenant)
    .bind(keys)
    .bind(firsts)
    .bind(templates)
    .bind(periods)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records a run (idempotent by id).
pub async fn open_run(
    tx: &mut TenantTx,
    id: BillingRunId,
    as_of: NaiveDate,
    trigger: &str,
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "INSERT INTO billing_runs (id, company_id, as_of, trigger, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(tenant)
    .bind(as_of)
    .bind(trigger)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn run_as_of(tx: &mut TenantTx, id: BillingRunId) -> DomainResult<NaiveDate> {
    let tenant = tx.tenant();
    let as_of: Option<NaiveDate> =
        sqlx::query_scalar("SELECT as_of FROM billing_runs WHERE company_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(tx.conn())
            .await?;
    as_of.ok_or(DomainError::not_found("billing run"))
}

pub async fn mark_fanned_out(
    tx: &mut TenantTx,
    id: BillingRunId,
    templates: i32,
    periods: i32,
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE billing_runs SET templates = $3, periods = $5, fanned_out_at = $4 \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(templates)
    .bind(now)
    .bind(periods)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records what a run did for each period (once per run, template and period).
pub async fn record_items(
    tx: &mut TenantTx,
    run: BillingRunId,
    items: &[PeriodOutcome],
) -> DomainResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let templates: Vec<RecurringId> = items.iter().map(|i| i.template_id).collect();
    let starts: Vec<NaiveDate> = items.iter().map(|i| i.period_start).collect();
    let outcomes: Vec<&str> = items.iter().map(|i| i.outcome.as_str()).collect();
    let invoices: Vec<Option<InvoiceId>> = items.iter().map(|i| i.invoice_id).collect();
    let reasons: Vec<Option<&str>> = items.iter().map(|i| i.reason.as_deref()).collect();
    sqlx::query(
        "INSERT INTO billing_run_items (run_id, company_id, template_id, period_start, outcome, invoice_id, reason, at) \
         SELECT $1, $2, t.template_id, t.period_start, t.outcome, t.invoice_id, t.reason, $3 \
         FROM unnest($4::uuid[], $5::date[], $6::text[], $7::uuid[], $8::text[]) \
              AS t(template_id, period_start, outcome, invoice_id, reason) \
         ON CONFLICT DO NOTHING",
    )
    .bind(run)
    .bind(tenant)
    .bind(now)
    .bind(templates)
    .bind(starts)
    .bind(outcomes)
    .bind(invoices)
    .bind(reasons)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records one `skipped` item for each of `templates` this run has no
/// outcome for: due when the run looked, but paused, ended or billed by
/// another run since. So the summary accounts for every template the run
/// fanned out, and a chunk run twice adds nothing (its first run's items
/// are there).
pub async fn record_not_due(
    tx: &mut TenantTx,
    run: BillingRunId,
    templates: &[RecurringId],
    as_of: NaiveDate,
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "INSERT INTO billing_run_items (run_id, company_id, template_id, period_start, outcome, reason, at) \
         SELECT $1, $2, t, $4, 'skipped', 'not due any more: paused, ended or billed by another run', $5 \
         FROM unnest($3::uuid[]) t \
         WHERE NOT EXISTS (SELECT 1 FROM billing_run_items i WHERE i.company_id = $2 AND i.run_id = $1 \
                           AND i.template_id = t) \
         ON CONFLICT DO NOTHING",
    )
    .bind(run)
    .bind(tenant)
    .bind(templates)
    .bind(as_of)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: BillingRunId,
    as_of: NaiveDate,
    trigger: String,
    templates: Option<i32>,
    periods: Option<i32>,
    fanned_out: bool,
    created_at: DateTime<Utc>,
    created: i64,
    skipped: i64,
    failed: i64,
    /// The fan-out job's state and error (the run's id is its job's).
    run_job_state: Option<String>,
    run_job_error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ChunkRow {
    job_id: uuid::Uuid,
    /// `None` once the job row was vacuumed (it had finished).
    state: Option<String>,
    attempts: Option<i32>,
    max_attempts: Option<i32>,
    error: Option<String>,
    templates: i32,
    periods: i32,
    /// Periods of the chunk's templates this run recorded an outcome for.
    recorded: i64,
}

pub async fn get_run(tx: &mut TenantTx, id: BillingRunId) -> DomainResult<BillingRun> {
    let tenant = tx.tenant();
    let row: Option<RunRow> = sqlx::query_as(
        "SELECT r.id, r.as_of, r.trigger, r.templates, r.periods, r.fanned_out_at IS NOT NULL AS fanned_out, \
         r.created_at, \
         count(i.run_id) FILTER (WHERE i.outcome = 'created') AS created, \
         count(i.run_id) FILTER (WHERE i.outcome = 'skipped') AS skipped, \
         count(i.run_id) FILTER (WHERE i.outcome = 'failed') AS failed, \
         j.state AS run_job_state, j.last_error AS run_job_error \
         FROM billing_runs r LEFT JOIN billing_run_items i ON i.run_id = r.id AND i.company_id = r.company_id \
         LEFT JOIN jobs j ON j.company_id = r.company_id AND j.id = r.id \
         WHERE r.company_id = $1 AND r.id = $2 GROUP BY r.id, j.id",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let r = row.ok_or(DomainError::not_found("billing run"))?;
    let chunks: Vec<ChunkRow> = sqlx::query_as(
        "SELECT c.job_id, j.state, j.attempts, j.max_attempts, j.last_error AS error, \
         cardinality(c.templates) AS templates, c.periods, \
         (SELECT count(*) FROM billing_run_items i WHERE i.company_id = c.company_id AND i.run_id = c.run_id \
            AND i.template_id = ANY(c.templates)) AS recorded \
         FROM billing_run_chunks c LEFT JOIN jobs j ON j.company_id = c.company_id AND j.id = c.job_id \
         WHERE c.company_id = $1 AND c.run_id = $2 ORDER BY c.first_template",
    )
    .bind(tenant)
    .bind(id)
    .fetch_all(tx.conn())
    .await?;
    let failures: Vec<(RecurringId, NaiveDate, Option<String>)> = sqlx::query_as(
        "SELECT template_id, period_start, reason FROM billing_run_items \
         WHERE company_id = $1 AND run_id = $2 AND outcome = 'failed' ORDER BY template_id, period_start LIMIT 100",
    )
    .bind(tenant)
    .bind(id)
    .fetch_all(tx.conn())
    .await?;
    let mut counts = ChunkCounts::default();
    let (mut pending, mut unbilled) = (0i64, 0i64);
    let mut chunk_errors = Vec::new();
    for c in &chunks {
        counts.total += 1;
        let left = (i64::from(c.periods) - c.recorded).max(0);
        match c.state.as_deref() {
            Some("queued") => counts.queued += 1,
            Some("running") => counts.running += 1,
            Some("failed_will_retry") => counts.retrying += 1,
            Some("dead") => counts.dead += 1,
            Some("cancelled") => counts.cancelled += 1,
            // Succeeded, or finished long enough ago to be vacuumed.
            _ => counts.succeeded += 1,
        }
        match c.state.as_deref() {
            Some("queued" | "running" | "failed_will_retry") => pending += left,
            Some("dead" | "cancelled") => unbilled += left,
            _ => {}
        }
        if matches!(
            c.state.as_deref(),
            Some("failed_will_retry" | "dead" | "cancelled")
        ) && chunk_errors.len() < 100
        {
            chunk_errors.push(ChunkError {
                job_id: c.job_id,
                state: c.state.clone().unwrap_or_default(),
                attempts: c.attempts.unwrap_or(0),
                max_attempts: c.max_attempts.unwrap_or(0),
                error: c.error.clone(),
                templates: c.templates,
                periods: c.periods,
            });
        }
    }
    let fan_out_lost = matches!(r.run_job_state.as_deref(), Some("dead" | "cancelled"));
    if fan_out_lost && !r.fanned_out {
        chunk_errors.insert(
            0,
            ChunkError {
                job_id: r.id.as_uuid(),
                state: r.run_job_state.clone().unwrap_or_default(),
                attempts: 0,
                max_attempts: 0,
                error: r.run_job_error.clone(),
                templates: 0,
                periods: 0,
            },
        );
    }
    let state = if fan_out_lost && !r.fanned_out {
        RunState::Failed
    } else if !r.fanned_out {
        RunState::Pending
    } else if counts.queued + counts.running + counts.retrying > 0 {
        RunState::Running
    } else if counts.dead + counts.cancelled > 0 {
        RunState::Failed
    } else if r.failed > 0 {
        RunState::CompletedWithFailures
    } else {
        RunState::Succeeded
    };
    Ok(BillingRun {
        id: r.id,
        as_of: r.as_of,
        trigger: r.trigger,
        templates: r.templates,
        state,
        periods: r.periods,
        invoices_created: r.created,
        skipped: r.skipped,
        failed: r.failed,
        pending,
        unbilled,
        failures: failures
            .into_iter()
            .map(|(template_id, period_start, reason)| PeriodOutcome {
                template_id,
                period_start,
                outcome: "failed".into(),
                invoice_id: None,
                total: None,
                reason,
            })
            .collect(),
        chunks: counts,
        chunk_errors,
        created_at: r.created_at,
    })
}

pub async fn list_runs(tx: &mut TenantTx, page: &PageRequest) -> DomainResult<Page<BillingRunId>> {
    let tenant = tx.tenant();
    let ids: Vec<BillingRunId> = sqlx::query_scalar(
        "SELECT id FROM billing_runs WHERE company_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(tenant)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM billing_runs WHERE company_id = $1")
        .bind(tenant)
        .fetch_one(tx.conn())
        .await?;
    Ok(Page::from_rows(ids, page, total, |i| Cursor {
        key: String::new(),
        id: i.as_uuid(),
    }))
}
