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

use crate::billing::billing_periods::{self, Frequency, Schedule};
use crate::billing::invoices::{self, InvoiceRequest, LineRequest};
use crate::kernel::money::{self, Discount};
use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::{
    BillingRunId, ClientId, DomainError, DomainResult, InvoiceId, JobId, RecurringId, TenantTx,
};

/// Most periods one billing of a template catches up.
pub const MAX_PERIODS_PER_BILLING: usize = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Escalation {
    /// Raise prices by this percent...
    pub percent: Decimal,
    /// ...every this many cycles.
    pub every: u32,
}

text_enum!(
    TemplateStatus {
        Active = "active",
        Paused = "paused",
        /// Past its end date or its last cycle.
        Ended = "ended",
        /// Removed from billing for good (a template with invoices is archived
        /// instead of deleted): it never bills again and stays listed.
        Archived = "archived",
    }
);

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
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When its periods start (its frequency from the start date, or from
    /// the period where the frequency last changed).
    #[serde(skip)]
    pub schedule: Schedule,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    pub client_id: ClientId,
    pub name: String,
    /// Defaults to the company's currency.
    pub currency: Option<String>,
    pub frequency: Frequency,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub start_date: NaiveDate,
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub end_date: Option<NaiveDate>,
    pub max_cycles: Option<i32>,
    #[serde(default = "yes")]
    pub auto_finalize: bool,
    #[serde(default)]
    pub auto_send: bool,
    pub escalation: Option<Escalation>,
    /// When service starts inside the first period: that period is billed
    /// for the days from here to its end.
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
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
    archived_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    anchor_cycle: i32,
    anchor_date: Option<NaiveDate>,
    anchor_day: Option<i16>,
}

const COLUMNS: &str = "id, client_id, name, currency::text AS currency, frequency_unit, frequency_every, start_date, \
    end_date, max_cycles, next_cycle, next_period_start, status, auto_finalize, auto_send, \
    trim_scale(escalation_percent) AS escalation_percent, escalation_every, prorate_from, due_days, discount, notes, \
    terms, lines, archived_at, created_at, updated_at, anchor_cycle, anchor_date, anchor_day";

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

/// A template's schedule from its stored anchor (see the migration that
/// added `anchor_cycle`).
fn schedule_of(
    start: NaiveDate,
    f: Frequency,
    cycle: i32,
    date: Option<NaiveDate>,
    day: Option<i16>,
) -> Schedule {
    let base = Schedule::new(date.unwrap_or(start), f);
    Schedule {
        cycle: u32::try_from(cycle).unwrap_or(0),
        day: day.and_then(|d| u32::try_from(d).ok()).unwrap_or(base.day),
        ..base
    }
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
            "archived" => TemplateStatus::Archived,
            other => {
                return Err(DomainError::Internal(format!(
                    "unknown template status {other:?}"
                )));
            }
        };
        let frequency = frequency_of(&r.frequency_unit, r.frequency_every)?;
        Ok(Template {
            id: r.id,
            client_id: r.client_id,
            name: r.name,
            currency: r.currency,
            frequency,
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
            archived_at: r.archived_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            schedule: schedule_of(
                r.start_date,
                frequency,
                r.anchor_cycle,
                r.anchor_date,
                r.anchor_day,
            ),
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
    let company = crate::identity::company::get(tx).await?;
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
    company: &crate::identity::company::Company,
    cache: &mut invoices::PriceCache,
) -> DomainResult<Decimal> {
    let lines: Vec<StoredLine> = serde_json::from_value(serde_json::Value::Array(t.lines.clone()))
        .map_err(|e| DomainError::Internal(format!("stored template lines: {e}")))?;
    let mut terms = t.clone();
    terms.prorate_from = None;
    let start = t.schedule.start_of(cycle).unwrap_or(t.start_date);
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
    let end = t.schedule().start_of(cycle + 1).unwrap_or(start);
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
    fn schedule(&self) -> Schedule;
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
    fn schedule(&self) -> Schedule {
        Schedule::new(self.start_date, self.frequency)
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
    fn schedule(&self) -> Schedule {
        self.schedule
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

/// A template and its row, locked for a change (404 when it does not exist).
async fn lock(tx: &mut TenantTx, id: RecurringId) -> DomainResult<Template> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM recurring_invoices WHERE company_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("recurring invoice"))?
        .try_into()
}

fn stored_lines(t: &Template) -> DomainResult<Vec<StoredLine>> {
    serde_json::from_value(serde_json::Value::Array(t.lines.clone()))
        .map_err(|e| DomainError::Internal(format!("stored template lines: {e}")))
}

/// A change to a template: absent fields stay, `null` clears an optional
/// one. It applies to the periods not yet billed: an invoice already
/// created never changes. A new frequency bills from the next period on
/// (keeping the day of month); the client, currency, start date and
/// proration are the template's for good.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplatePatch {
    pub name: Option<String>,
    pub frequency: Option<Frequency>,
    /// The last day a period may start on; `null` bills on without end.
    #[serde(default, deserialize_with = "crate::kernel::dates::nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub end_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<i32>)]
    pub max_cycles: Option<Option<i32>>,
    pub auto_finalize: Option<bool>,
    pub auto_send: Option<bool>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<Escalation>)]
    pub escalation: Option<Option<Escalation>>,
    pub due_days: Option<i32>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<Discount>)]
    pub discount: Option<Option<Discount>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub terms: Option<Option<String>>,
    /// Replaces every line (and so the prices) of the invoices to come.
    pub lines: Option<Vec<LineRequest>>,
}

/// Changes a template for the periods it has not billed yet, checked as a
/// new template is (its next invoice priced as billing will price it).
/// Returns the template before and after. The row lock orders the change
/// with any billing of the template: a period is billed either wholly
/// before or wholly after it. An archived template cannot change (409); an
/// ended one whose new end or cycles leave periods to bill is active again.
pub async fn update(
    tx: &mut TenantTx,
    id: RecurringId,
    patch: TemplatePatch,
) -> DomainResult<(Template, Template)> {
    let before = lock(tx, id).await?;
    if before.status == TemplateStatus::Archived {
        return Err(DomainError::conflict(
            "invalid_template_status",
            "an archived template cannot be changed",
        ));
    }
    let next_cycle = u32::try_from(before.next_cycle).unwrap_or(0);
    let lines = match patch.lines {
        Some(l) => l,
        None => stored_lines(&before)?
            .into_iter()
            .map(|l| LineRequest {
                product_id: l.product_id,
                description: l.description,
                quantity: l.quantity,
                unit_price: l.unit_price,
                discount: l.discount,
                tax_rate_ids: l.tax_rate_ids,
            })
            .collect(),
    };
    let req = TemplateRequest {
        client_id: before.client_id,
        name: patch.name.unwrap_or_else(|| before.name.clone()),
        currency: Some(before.currency.clone()),
        frequency: patch.frequency.unwrap_or(before.frequency),
        start_date: before.start_date,
        end_date: patch.end_date.unwrap_or(before.end_date),
        max_cycles: patch.max_cycles.unwrap_or(before.max_cycles),
        auto_finalize: patch.auto_finalize.unwrap_or(before.auto_finalize),
        auto_send: patch.auto_send.unwrap_or(before.auto_send),
        escalation: patch.escalation.unwrap_or(before.escalation),
        // Only the first period is prorated: once it is billed, there is
        // nothing left to check.
        prorate_from: before.prorate_from.filter(|_| next_cycle == 0),
        due_days: Some(patch.due_days.unwrap_or(before.due_days)),
        discount: patch.discount.unwrap_or(before.discount),
        notes: patch.notes.unwrap_or_else(|| before.notes.clone()),
        terms: patch.terms.unwrap_or_else(|| before.terms.clone()),
        lines,
    };
    let mut v = ValidationErrors::new();
    let name = validate(&mut v, &req);
    let schedule = if req.frequency == before.frequency {
        Some(before.schedule)
    } else {
        before.schedule.rebased(next_cycle, req.frequency)
    };
    if schedule.is_none() && req.frequency.validated().is_some() {
        v.add(
            "frequency",
            "out_of_range",
            "the next period's start is out of range",
        );
    }
    v.finish()?;
    let schedule = schedule.unwrap_or(before.schedule);
    let next_start = schedule.start_of(next_cycle);
    let stored = req_as_stored(&req);
    invoices::check(
        tx,
        request_for(
            &stored,
            &req,
            &before.currency,
            next_start.unwrap_or(before.start_date),
            next_cycle,
        ),
    )
    .await?;
    let ended = req
        .max_cycles
        .is_some_and(|m| i64::from(next_cycle) >= i64::from(m))
        || match (req.end_date, next_start) {
            (Some(end), Some(start)) => start > end,
            (_, None) => true,
            _ => false,
        };
    let status = if ended {
        TemplateStatus::Ended
    } else if before.status == TemplateStatus::Paused {
        TemplateStatus::Paused
    } else {
        TemplateStatus::Active
    };
    let (tenant, now) = (tx.tenant(), tx.now());
    let (unit, every) = unit_of(req.frequency);
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE recurring_invoices SET name = $3, frequency_unit = $4, frequency_every = $5, end_date = $6, \
         max_cycles = $7, auto_finalize = $8, auto_send = $9, escalation_percent = $10, escalation_every = $11, \
         due_days = $12, discount = $13, notes = $14, terms = $15, lines = $16, status = $17, \
         next_period_start = $18, anchor_cycle = $19, anchor_date = $20, anchor_day = $21, updated_at = $22 \
         WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(name)
    .bind(unit)
    .bind(every)
    .bind(req.end_date)
    .bind(req.max_cycles)
    .bind(req.auto_finalize)
    .bind(req.auto_send)
    .bind(req.escalation.map(|e| e.percent))
    .bind(req.escalation.map(|e| e.every as i32))
    .bind(req.due_days)
    .bind(req.discount.map(|d| serde_json::to_value(d).unwrap_or_default()))
    .bind(req.notes.as_deref().map(str::trim).filter(|s| !s.is_empty()))
    .bind(req.terms.as_deref().map(str::trim).filter(|s| !s.is_empty()))
    .bind(serde_json::to_value(stored).unwrap_or_default())
    .bind(status.as_str())
    .bind(if ended { None } else { next_start })
    .bind(schedule.cycle as i32)
    .bind(schedule.anchor)
    .bind(schedule.day as i16)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok((before, row.try_into()?))
}

/// What became of a template asked to be removed.
#[derive(Debug)]
pub enum Removal {
    /// It had no invoice: it is gone.
    Deleted(Template),
    /// It has invoices: archived now (`true`), or already before.
    Archived(Template, bool),
}

/// Removes a template: one without invoices is deleted; one with invoices
/// is archived, so its invoices keep their origin: it never bills again
/// (nor counts in MRR from now) and stays listed with its status.
pub async fn remove(tx: &mut TenantTx, id: RecurringId) -> DomainResult<Removal> {
    // Locked first: a billing of the template has committed its invoices
    // or waits, and sees the template gone or archived.
    let t = lock(tx, id).await?;
    if t.status == TemplateStatus::Archived {
        return Ok(Removal::Archived(t, false));
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let billed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM invoices WHERE company_id = $1 AND recurring_id = $2)",
    )
    .bind(tenant)
    .bind(id)
    .fetch_one(tx.conn())
    .await?;
    if !billed {
        sqlx::query("DELETE FROM recurring_invoices WHERE company_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(tx.conn())
            .await?;
        return Ok(Removal::Deleted(t));
    }
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE recurring_invoices SET status = 'archived', archived_at = $3, next_period_start = NULL, \
         paused_at = COALESCE(paused_at, $3), updated_at = $3 \
         WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok(Removal::Archived(row.try_into()?, true))
}

/// Most invoices a preview shows.
pub const MAX_PREVIEW: u32 = 24;

/// An invoice as a template's next billing would create it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PreviewInvoice {
    /// The period's number (0 for the first).
    pub cycle: u32,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub period_start: NaiveDate,
    /// The period's last day.
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub period_end: Option<NaiveDate>,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub issue_date: NaiveDate,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub due_date: NaiveDate,
    pub currency: String,
    pub lines: Vec<invoices::InvoiceLine>,
    pub subtotal: Decimal,
    pub discount_total: Decimal,
    pub tax_total: Decimal,
    pub total: Decimal,
}

/// The next `count` invoices the template would create (from its next
/// period, whenever they fall due), priced by the code billing prices
/// them with, creating nothing. None once it is ended or archived; a
/// paused template shows what it bills when resumed.
pub async fn preview(
    tx: &mut TenantTx,
    id: RecurringId,
    count: u32,
) -> DomainResult<Vec<PreviewInvoice>> {
    let t = get(tx, id).await?;
    if matches!(t.status, TemplateStatus::Ended | TemplateStatus::Archived) {
        return Ok(Vec::new());
    }
    let lines = stored_lines(&t)?;
    let periods = t.schedule.due(
        u32::try_from(t.next_cycle).unwrap_or(0),
        NaiveDate::MAX,
        t.end_date,
        t.max_cycles.and_then(|m| u32::try_from(m).ok()),
        count.min(MAX_PREVIEW) as usize,
    );
    let mut out = Vec::with_capacity(periods.len());
    for (cycle, start) in periods {
        let p = invoices::preview(tx, request_for(&lines, &t, &t.currency, start, cycle)).await?;
        out.push(PreviewInvoice {
            cycle,
            period_start: start,
            period_end: t.schedule.last_day(cycle),
            issue_date: p.issue_date,
            due_date: p.due_date,
            currency: p.currency,
            lines: p.lines,
            subtotal: p.subtotal,
            discount_total: p.discount_total,
            tax_total: p.tax_total,
            total: p.total,
        });
    }
    Ok(out)
}

/// The start of period `k`, as far as it is known: from the schedule's
/// cycle on exactly; before a change of frequency (whose old frequency is
/// not kept) the start date's schedule at the new frequency, never past
/// the change, so starts still never go backwards.
pub(crate) fn period_start_of(t: &Template, k: u32) -> Option<NaiveDate> {
    if k >= t.schedule.cycle {
        return t.schedule.start_of(k);
    }
    billing_periods::period_start(t.start_date, t.frequency, k).map(|d| d.min(t.schedule.anchor))
}

text_enum!(
    /// What became of one due period when a template is billed.
    PeriodResult {
        Created = "created",
        /// Billed already, or not billed because the template was paused,
        /// ended, archived or deleted since the run looked.
        Skipped = "skipped",
        Failed = "failed",
    }
);

/// One period's outcome when a template is billed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PeriodOutcome {
    pub template_id: RecurringId,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub period_start: NaiveDate,
    pub outcome: PeriodResult,
    /// The invoice created, or for a skipped period the one that bills it.
    pub invoice_id: Option<InvoiceId>,
    /// For a skipped period: the run that created its invoice (none when
    /// it was billed outside a run).
    pub billed_by_run: Option<BillingRunId>,
    pub total: Option<Decimal>,
    /// The currency of `total` (the template's), given with it.
    #[serde(default)]
    pub currency: Option<String>,
    pub reason: Option<String>,
}

impl PeriodOutcome {
    fn new(
        template_id: RecurringId,
        period_start: NaiveDate,
        outcome: PeriodResult,
    ) -> PeriodOutcome {
        PeriodOutcome {
            template_id,
            period_start,
            outcome,
            invoice_id: None,
            billed_by_run: None,
            total: None,
            currency: None,
            reason: None,
        }
    }

    /// A period that could not be billed, with why.
    pub fn failed(template_id: RecurringId, period_start: NaiveDate, reason: String) -> Self {
        PeriodOutcome {
            reason: Some(reason),
            ..PeriodOutcome::new(template_id, period_start, PeriodResult::Failed)
        }
    }
}

/// Bills every period of a template due by `as_of`, oldest first, for
/// `run` (which its invoices name); with `dry_run`, prices them and writes
/// nothing (the caller rolls back).
pub async fn bill(
    tx: &mut TenantTx,
    id: RecurringId,
    as_of: NaiveDate,
    run: Option<BillingRunId>,
    dry_run: bool,
) -> DomainResult<Vec<PeriodOutcome>> {
    bill_many(tx, &[id], as_of, run, dry_run).await
}

/// Bills several templates in one transaction: their rows are locked
/// together (in id order, so concurrent runs cannot deadlock), the company,
/// its number pattern, clients and tax rates are read once, and the
/// templates' next cycles are moved on in one statement.
pub async fn bill_many(
    tx: &mut TenantTx,
    ids: &[RecurringId],
    as_of: NaiveDate,
    run: Option<BillingRunId>,
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
    let company = crate::identity::company::get(tx).await?;
    let pattern = crate::billing::numbering::pattern_from_settings(
        &company.settings,
        crate::identity::company::INVOICE_NUMBER_PATTERN,
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
        let due = t.schedule.due(
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
                    total: Some(invoices::check(tx, req).await?),
                    currency: Some(t.currency.clone()),
                    ..PeriodOutcome::new(t.id, start, PeriodResult::Created)
                }
            } else {
                let period = invoices::Period {
                    recurring: t.id,
                    start,
                    last_day: t.schedule.last_day(cycle),
                    run,
                };
                match invoices::create_for_period(tx, req, period, &company, &mut cache).await? {
                    Some((inv, total)) => {
                        if t.auto_finalize {
                            to_finalize.push((inv, start));
                        }
                        PeriodOutcome {
                            invoice_id: Some(inv),
                            total: Some(total),
                            currency: Some(t.currency.clone()),
                            ..PeriodOutcome::new(t.id, start, PeriodResult::Created)
                        }
                    }
                    None => PeriodOutcome {
                        reason: Some("this period has its invoice already".into()),
                        ..PeriodOutcome::new(t.id, start, PeriodResult::Skipped)
                    },
                }
            };
            out.push(outcome);
            next_cycle = cycle + 1;
        }
        let next_start = t.schedule.start_of(next_cycle);
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

/// Templates with a period due by `as_of`, in id order, with the periods
/// (their starts) one billing would bill.
pub async fn due_periods(
    tx: &mut TenantTx,
    as_of: NaiveDate,
) -> DomainResult<Vec<(RecurringId, Vec<NaiveDate>)>> {
    let tenant = tx.tenant();
    let rows: Vec<DueRow> = sqlx::query_as(
        "SELECT id, frequency_unit, frequency_every, start_date, end_date, max_cycles, next_cycle, \
         anchor_cycle, anchor_date, anchor_day \
         FROM recurring_invoices WHERE company_id = $1 AND status = 'active' AND next_period_start <= $2 \
         ORDER BY id",
    )
    .bind(tenant)
    .bind(as_of)
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter()
        .map(|r| {
            let schedule = schedule_of(
                r.start_date,
                frequency_of(&r.frequency_unit, r.frequency_every)?,
                r.anchor_cycle,
                r.anchor_date,
                r.anchor_day,
            );
            let periods = schedule.due(
                u32::try_from(r.next_cycle).unwrap_or(0),
                as_of,
                r.end_date,
                r.max_cycles.map(|m| u32::try_from(m).unwrap_or(0)),
                MAX_PERIODS_PER_BILLING,
            );
            Ok((r.id, periods.into_iter().map(|(_, start)| start).collect()))
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
    anchor_cycle: i32,
    anchor_date: Option<NaiveDate>,
    anchor_day: Option<i16>,
}

// ---- billing runs -------------------------------------------------------------------

/// A billing run as the list shows it: where it stands, when, and what
/// became of the periods it found due. `periods` = `invoices_created` +
/// `skipped` + `failed` + `pending` + `unbilled`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BillingRunSummary {
    pub id: BillingRunId,
    /// The run's fan-out job (`GET /api/v1/jobs/{id}`): the run's own id.
    pub job_id: JobId,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub as_of: NaiveDate,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// Where the run stands (see [`RunState`]).
    pub state: RunState,
    /// When the run was queued.
    pub created_at: DateTime<Utc>,
    /// When a worker began it (looked for due templates).
    pub started_at: Option<DateTime<Utc>>,
    /// When it stopped running: its last period recorded or its last chunk
    /// ended (set once the state is `succeeded`, `completed_with_failures`
    /// or `failed`).
    pub finished_at: Option<DateTime<Utc>>,
    /// Templates the run found due (once it has looked).
    pub templates: Option<i32>,
    /// Periods due when the run looked: each is created, skipped, failed,
    /// pending (in a chunk still to run or retrying) or unbilled (in a
    /// dead chunk).
    pub periods: Option<i32>,
    pub invoices_created: i64,
    /// Periods this run did not bill: billed by another run first (see
    /// `skips` for the invoice and the run), or not billed because the
    /// template was paused, ended, archived or deleted since the run looked.
    pub skipped: i64,
    pub failed: i64,
    pub pending: i64,
    pub unbilled: i64,
    /// The run's jobs: the fan-out and one per chunk of templates.
    pub chunks: ChunkCounts,
}

/// A billing run's summary with the periods it skipped or failed and its
/// chunks' errors.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BillingRun {
    #[serde(flatten)]
    pub summary: BillingRunSummary,
    /// The failures, with their reasons (at most 100).
    pub failures: Vec<PeriodOutcome>,
    /// The skipped periods, each with the invoice and the run that billed
    /// it, or why it was not billed (at most 100).
    pub skips: Vec<PeriodOutcome>,
    /// The chunks that are dead or failed and waiting to retry, with their
    /// errors (at most 100). A dead chunk can be replayed
    /// (`POST /api/v1/jobs/{id}/retry`); its periods are billed then.
    pub chunk_errors: Vec<ChunkError>,
}

/// Where a billing run stands. (Richer than queued / running / succeeded /
/// failed: `pending` is queued, and a run whose chunks all ran but some of
/// whose periods failed is `completed_with_failures`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Queued: the run has not looked for due templates yet.
    Pending,
    /// Chunks are queued, running or waiting to retry.
    Running,
    /// Every chunk finished and every due period is created or skipped.
    Succeeded,
    /// Every chunk finished; some periods failed (see `failures`).
    CompletedWithFailures,
    /// A chunk, or the fan-out itself, is dead or was cancelled: its
    /// periods are not billed (see `chunk_errors`).
    Failed,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ChunkCounts {
    pub total: i64,
    pub queued: i64,
    pub running: i64,
    pub retrying: i64,
    pub succeeded: i64,
    pub dead: i64,
    pub cancelled: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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

/// A run as a worker finds it.
#[derive(Debug, Clone, Copy)]
pub struct OpenedRun {
    pub as_of: NaiveDate,
    /// Its chunks were enqueued already (this is a repeat delivery).
    pub fanned_out: bool,
}

/// Records a run (idempotent by id): queued by the API, or begun by a
/// worker (`started`), which notes when it began. A run keeps the `as_of`
/// it was first recorded with.
pub async fn open_run(
    tx: &mut TenantTx,
    id: BillingRunId,
    as_of: NaiveDate,
    trigger: &str,
    started: bool,
) -> DomainResult<OpenedRun> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let (as_of, fanned_out): (NaiveDate, bool) = sqlx::query_as(
        "INSERT INTO billing_runs (id, company_id, as_of, trigger, created_at, started_at) \
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN $5 END) \
         ON CONFLICT (id) DO UPDATE SET started_at = COALESCE(billing_runs.started_at, EXCLUDED.started_at) \
         RETURNING as_of, fanned_out_at IS NOT NULL",
    )
    .bind(id)
    .bind(tenant)
    .bind(as_of)
    .bind(trigger)
    .bind(now)
    .bind(started)
    .fetch_one(tx.conn())
    .await?;
    Ok(OpenedRun { as_of, fanned_out })
}

/// Notes that a run's chunks are enqueued, with the templates and periods
/// it found due, in the platform transaction that records the chunks'
/// jobs: a run is fanned out exactly when its chunks exist. The first time
/// only, so a repeated fan-out cannot change what the run found.
pub async fn mark_fanned_out(
    tx: &mut crate::SystemTx,
    tenant: crate::TenantId,
    id: BillingRunId,
    templates: i32,
    periods: i32,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    sqlx::query(
        "UPDATE billing_runs SET templates = $3, periods = $5, fanned_out_at = $4 \
         WHERE company_id = $1 AND id = $2 AND fanned_out_at IS NULL",
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

/// Records what a chunk of a run did, once per (run, template, period), in
/// the chunk's transaction (so a chunk run twice records nothing twice).
/// It writes no row other chunks write: chunks of one run never wait for
/// each other here.
///
/// `items` are the chunk's own outcomes; a period it skipped because it
/// has its invoice names that invoice and the run that created it. `due`
/// is what the run found due when it looked, per template: each such
/// period without an outcome is recorded `skipped`, with the invoice and
/// run that billed it, or with why it was not billed (the template was
/// paused, ended, archived or deleted since).
pub async fn record_outcomes(
    tx: &mut TenantTx,
    run: BillingRunId,
    items: &[PeriodOutcome],
    due: &[(RecurringId, Vec<NaiveDate>)],
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    // Skipped periods are recorded with the due ones below, where their
    // invoice and its run are looked up.
    let (skipped, items): (Vec<&PeriodOutcome>, Vec<&PeriodOutcome>) = items
        .iter()
        .partition(|i| i.outcome == PeriodResult::Skipped);
    if !items.is_empty() {
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
    }
    // What the run found due and this chunk did not just create or fail.
    let done: std::collections::HashSet<(RecurringId, NaiveDate)> = items
        .iter()
        .map(|i| (i.template_id, i.period_start))
        .collect();
    let (seen_templates, seen_starts): (Vec<RecurringId>, Vec<NaiveDate>) = due
        .iter()
        .flat_map(|(t, starts)| starts.iter().map(move |s| (*t, *s)))
        .chain(skipped.iter().map(|i| (i.template_id, i.period_start)))
        .filter(|p| !done.contains(p))
        .unzip();
    if !seen_templates.is_empty() {
        sqlx::query(
            "INSERT INTO billing_run_items (run_id, company_id, template_id, period_start, outcome, invoice_id, \
             billed_by_run, reason, at) \
             SELECT $1, $2, s.template_id, s.period_start, 'skipped', i.id, i.billing_run_id, \
                    CASE WHEN i.billing_run_id IS NOT NULL THEN 'billed by another run' \
                         WHEN i.id IS NOT NULL THEN 'billed before this run' \
                         WHEN r.id IS NULL THEN 'the template was deleted' \
                         WHEN r.status <> 'active' THEN 'the template is ' || r.status \
                         ELSE 'not due any more: the template was changed' END, $3 \
             FROM unnest($4::uuid[], $5::date[]) AS s(template_id, period_start) \
             LEFT JOIN invoices i ON i.company_id = $2 AND i.recurring_id = s.template_id \
                  AND i.period_start = s.period_start \
             LEFT JOIN recurring_invoices r ON r.company_id = $2 AND r.id = s.template_id \
             ON CONFLICT DO NOTHING",
        )
        .bind(run)
        .bind(tenant)
        .bind(now)
        .bind(seen_templates)
        .bind(seen_starts)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: BillingRunId,
    as_of: NaiveDate,
    trigger: String,
    templates: Option<i32>,
    periods: Option<i32>,
    fanned_out_at: Option<DateTime<Utc>>,
    started_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    last_recorded_at: Option<DateTime<Utc>>,
    invoices_created: i64,
    skipped: i64,
    failed: i64,
    /// The fan-out job's state, error and end (the run's id is its job's).
    run_job_state: Option<String>,
    run_job_error: Option<String>,
    run_job_finished_at: Option<DateTime<Utc>>,
    // Its chunks, by their jobs' states (a vacuumed job had finished).
    chunks: i64,
    queued: i64,
    running: i64,
    retrying: i64,
    dead: i64,
    cancelled: i64,
    /// Periods of chunks still to run (or of dead chunks) with no outcome.
    pending: i64,
    unbilled: i64,
    chunks_finished_at: Option<DateTime<Utc>>,
}

/// The summaries of runs `ids` (those that exist), newest first, in one
/// statement whatever the number of runs: counts from the runs' items,
/// states from their chunks' jobs.
async fn summaries(
    tx: &mut TenantTx,
    ids: &[BillingRunId],
) -> DomainResult<Vec<(BillingRunSummary, Option<ChunkError>)>> {
    let tenant = tx.tenant();
    let rows: Vec<RunRow> = sqlx::query_as(
        "SELECT r.id, r.as_of, r.trigger, r.templates, r.periods, r.fanned_out_at, r.started_at, r.created_at, \
         it.last_recorded_at, it.invoices_created, it.skipped, it.failed, \
         j.state AS run_job_state, j.last_error AS run_job_error, j.finished_at AS run_job_finished_at, \
         coalesce(c.chunks, 0) AS chunks, coalesce(c.queued, 0) AS queued, coalesce(c.running, 0) AS running, \
         coalesce(c.retrying, 0) AS retrying, coalesce(c.dead, 0) AS dead, coalesce(c.cancelled, 0) AS cancelled, \
         coalesce(c.pending, 0) AS pending, coalesce(c.unbilled, 0) AS unbilled, c.finished_at AS chunks_finished_at \
         FROM billing_runs r \
         LEFT JOIN jobs j ON j.company_id = r.company_id AND j.id = r.id \
         CROSS JOIN LATERAL ( \
           SELECT count(*) FILTER (WHERE i.outcome = 'created') AS invoices_created, \
             count(*) FILTER (WHERE i.outcome = 'skipped') AS skipped, \
             count(*) FILTER (WHERE i.outcome = 'failed') AS failed, max(i.at) AS last_recorded_at \
           FROM billing_run_items i WHERE i.company_id = r.company_id AND i.run_id = r.id) it \
         LEFT JOIN LATERAL ( \
           SELECT count(*) AS chunks, \
             count(*) FILTER (WHERE cj.state = 'queued') AS queued, \
             count(*) FILTER (WHERE cj.state = 'running') AS running, \
             count(*) FILTER (WHERE cj.state = 'failed_will_retry') AS retrying, \
             count(*) FILTER (WHERE cj.state = 'dead') AS dead, \
             count(*) FILTER (WHERE cj.state = 'cancelled') AS cancelled, \
             coalesce(sum(l.left_over) FILTER (WHERE cj.state IN ('queued', 'running', 'failed_will_retry')), 0)::int8 \
               AS pending, \
             coalesce(sum(l.left_over) FILTER (WHERE cj.state IN ('dead', 'cancelled')), 0)::int8 AS unbilled, \
             max(cj.finished_at) AS finished_at \
           FROM billing_run_chunks ch \
           LEFT JOIN jobs cj ON cj.company_id = ch.company_id AND cj.id = ch.job_id \
           CROSS JOIN LATERAL (SELECT CASE WHEN cj.state IN ('queued', 'running', 'failed_will_retry', 'dead', \
               'cancelled') THEN greatest(ch.periods - (SELECT count(*) FROM billing_run_items i \
                 WHERE i.company_id = ch.company_id AND i.run_id = ch.run_id \
                 AND i.template_id = ANY(ch.templates)), 0) ELSE 0 END AS left_over) l \
           WHERE ch.company_id = r.company_id AND ch.run_id = r.id) c ON true \
         WHERE r.company_id = $1 AND r.id = ANY($2) ORDER BY r.id DESC",
    )
    .bind(tenant)
    .bind(ids)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(summarize).collect())
}

/// A run's summary from its row, and the fan-out's error when the fan-out
/// died before it enqueued the chunks.
fn summarize(r: RunRow) -> (BillingRunSummary, Option<ChunkError>) {
    let chunks = ChunkCounts {
        total: r.chunks,
        queued: r.queued,
        running: r.running,
        retrying: r.retrying,
        // Succeeded, or finished long enough ago to be vacuumed.
        succeeded: r.chunks - r.queued - r.running - r.retrying - r.dead - r.cancelled,
        dead: r.dead,
        cancelled: r.cancelled,
    };
    let fanned_out = r.fanned_out_at.is_some();
    let fan_out_lost =
        !fanned_out && matches!(r.run_job_state.as_deref(), Some("dead" | "cancelled"));
    let state = if fan_out_lost {
        RunState::Failed
    } else if !fanned_out {
        RunState::Pending
    } else if chunks.queued + chunks.running + chunks.retrying > 0 {
        RunState::Running
    } else if chunks.dead + chunks.cancelled > 0 {
        RunState::Failed
    } else if r.failed > 0 {
        RunState::CompletedWithFailures
    } else {
        RunState::Succeeded
    };
    let finished_at = match state {
        RunState::Pending | RunState::Running => None,
        _ if fan_out_lost => r.run_job_finished_at,
        _ => [r.fanned_out_at, r.last_recorded_at, r.chunks_finished_at]
            .into_iter()
            .flatten()
            .max(),
    };
    let lost = fan_out_lost.then(|| ChunkError {
        job_id: r.id.as_uuid(),
        state: r.run_job_state.clone().unwrap_or_default(),
        attempts: 0,
        max_attempts: 0,
        error: r.run_job_error.clone(),
        templates: 0,
        periods: 0,
    });
    (
        BillingRunSummary {
            id: r.id,
            job_id: JobId(r.id.as_uuid()),
            as_of: r.as_of,
            trigger: r.trigger,
            state,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at,
            templates: r.templates,
            periods: r.periods,
            invoices_created: r.invoices_created,
            skipped: r.skipped,
            failed: r.failed,
            pending: r.pending,
            unbilled: r.unbilled,
            chunks,
        },
        lost,
    )
}

#[derive(sqlx::FromRow)]
struct ChunkRow {
    job_id: uuid::Uuid,
    state: String,
    attempts: i32,
    max_attempts: i32,
    error: Option<String>,
    templates: i32,
    periods: i32,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    template_id: RecurringId,
    period_start: NaiveDate,
    #[sqlx(try_from = "String")]
    outcome: PeriodResult,
    invoice_id: Option<InvoiceId>,
    billed_by_run: Option<BillingRunId>,
    reason: Option<String>,
}

pub async fn get_run(tx: &mut TenantTx, id: BillingRunId) -> DomainResult<BillingRun> {
    let tenant = tx.tenant();
    let (summary, lost) = summaries(tx, &[id])
        .await?
        .pop()
        .ok_or(DomainError::not_found("billing run"))?;
    let chunks: Vec<ChunkRow> = sqlx::query_as(
        "SELECT c.job_id, j.state, j.attempts, j.max_attempts, j.last_error AS error, \
         cardinality(c.templates) AS templates, c.periods \
         FROM billing_run_chunks c JOIN jobs j ON j.company_id = c.company_id AND j.id = c.job_id \
         WHERE c.company_id = $1 AND c.run_id = $2 AND j.state IN ('failed_will_retry', 'dead', 'cancelled') \
         ORDER BY c.first_template LIMIT 100",
    )
    .bind(tenant)
    .bind(id)
    .fetch_all(tx.conn())
    .await?;
    let items: Vec<ItemRow> = sqlx::query_as(
        "(SELECT template_id, period_start, outcome, invoice_id, billed_by_run, reason FROM billing_run_items \
          WHERE company_id = $1 AND run_id = $2 AND outcome = 'failed' ORDER BY template_id, period_start LIMIT 100) \
         UNION ALL \
         (SELECT template_id, period_start, outcome, invoice_id, billed_by_run, reason FROM billing_run_items \
          WHERE company_id = $1 AND run_id = $2 AND outcome = 'skipped' ORDER BY template_id, period_start LIMIT 100)",
    )
    .bind(tenant)
    .bind(id)
    .fetch_all(tx.conn())
    .await?;
    let (failed, skipped): (Vec<ItemRow>, Vec<ItemRow>) = items
        .into_iter()
        .partition(|i| i.outcome == PeriodResult::Failed);
    let outcomes = |rows: Vec<ItemRow>| -> Vec<PeriodOutcome> {
        rows.into_iter()
            .map(|i| PeriodOutcome {
                invoice_id: i.invoice_id,
                billed_by_run: i.billed_by_run,
                reason: i.reason,
                ..PeriodOutcome::new(i.template_id, i.period_start, i.outcome)
            })
            .collect()
    };
    let chunk_errors = lost
        .into_iter()
        .chain(chunks.into_iter().map(|c| ChunkError {
            job_id: c.job_id,
            state: c.state,
            attempts: c.attempts,
            max_attempts: c.max_attempts,
            error: c.error,
            templates: c.templates,
            periods: c.periods,
        }))
        .collect();
    Ok(BillingRun {
        summary,
        failures: outcomes(failed),
        skips: outcomes(skipped),
        chunk_errors,
    })
}

/// Billing runs, newest first, each with its summary.
pub async fn list_runs(
    tx: &mut TenantTx,
    page: &PageRequest,
) -> DomainResult<Page<BillingRunSummary>> {
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
    let rows = summaries(tx, &ids)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    Ok(Page::from_rows(rows, page, total, |r| Cursor {
        key: String::new(),
        id: r.id.as_uuid(),
    }))
}
