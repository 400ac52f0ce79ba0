//! Invoices: drafts that can change, finalized documents that cannot.
//!
//! A draft has no number. Finalizing allocates the next number of the
//! company's pattern in the same transaction and makes the invoice `sent`
//! (open for payment); voiding keeps the number. Amounts come from
//! [`crate::kernel::money::totals`]; lines keep a copy of the taxes they were
//! issued with.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::billing::catalogue::{self, TaxRate};
use crate::kernel::dates;
use crate::kernel::money::{self, Discount, LineInput, Tax};
use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::{
    BillingRunId, ClientId, DomainError, DomainResult, InvoiceId, PaymentTermId, ProductId,
    QuoteId, RecurringId, TaxRateId, TenantTx, billing::numbering,
};

pub const DEFAULT_PATTERN: &str = "INV-{YYYY}-{SEQ:6}";
/// Days to the due date when neither a date nor payment terms are given.
pub const DEFAULT_DUE_DAYS: i64 = 30;
pub const MAX_LINES: usize = 500;

text_enum!(
    InvoiceStatus {
        Draft = "draft",
        /// Finalized and open for payment.
        Sent = "sent",
        PartiallyPaid = "partially_paid",
        Paid = "paid",
        Overdue = "overdue",
        Void = "void",
    }
);

/// A tax as a line carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AppliedTax {
    pub tax_rate_id: TaxRateId,
    pub name: String,
    pub percent: Decimal,
    pub inclusive: bool,
    pub compound: bool,
    pub amount: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvoiceLine {
    pub product_id: Option<ProductId>,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub discount: Option<Discount>,
    pub taxes: Vec<AppliedTax>,
    /// quantity × unit price, rounded.
    pub gross: Decimal,
    /// The line's discount plus its share of the invoice's.
    pub discount_amount: Decimal,
    pub net: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Invoice {
    pub id: InvoiceId,
    pub client_id: ClientId,
    /// Absent on drafts.
    pub number: Option<String>,
    pub status: InvoiceStatus,
    pub currency: String,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub issue_date: NaiveDate,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub due_date: NaiveDate,
    pub discount: Option<Discount>,
    pub notes: Option<String>,
    pub terms: Option<String>,
    pub subtotal: Decimal,
    pub discount_total: Decimal,
    pub tax_total: Decimal,
    pub total: Decimal,
    pub amount_paid: Decimal,
    /// total − amount paid.
    pub balance: Decimal,
    pub duplicated_from: Option<InvoiceId>,
    /// The quote this invoice was converted from (the quote names it too).
    pub quote_id: Option<QuoteId>,
    /// The recurring template that billed it, and the period it bills.
    pub recurring_invoice_id: Option<RecurringId>,
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub period_start: Option<NaiveDate>,
    /// The period's last day.
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub period_end: Option<NaiveDate>,
    /// The billing run that created it.
    pub billing_run_id: Option<BillingRunId>,
    pub finalized_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub lines: Vec<InvoiceLine>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    /// Fills description, price and taxes that the line does not give.
    pub product_id: Option<ProductId>,
    pub description: Option<String>,
    pub quantity: Decimal,
    pub unit_price: Option<Decimal>,
    pub discount: Option<Discount>,
    /// Replaces the product's taxes when given.
    pub tax_rate_ids: Option<Vec<TaxRateId>>,
}

/// A draft invoice as entered; an update replaces the whole draft.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceRequest {
    pub client_id: ClientId,
    /// Defaults to the company's currency.
    pub currency: Option<String>,
    /// Defaults to today in the company's time zone.
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub issue_date: Option<NaiveDate>,
    /// Defaults to the issue date plus the payment terms' days, or 30 days.
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub due_date: Option<NaiveDate>,
    pub payment_term_id: Option<PaymentTermId>,
    pub discount: Option<Discount>,
    pub notes: Option<String>,
    pub terms: Option<String>,
    pub lines: Vec<LineRequest>,
}

#[derive(sqlx::FromRow)]
struct InvoiceRow {
    id: InvoiceId,
    client_id: ClientId,
    number: Option<String>,
    status: String,
    currency: String,
    issue_date: NaiveDate,
    due_date: NaiveDate,
    discount: Option<serde_json::Value>,
    notes: Option<String>,
    terms: Option<String>,
    subtotal: Decimal,
    discount_total: Decimal,
    tax_total: Decimal,
    total: Decimal,
    amount_paid: Decimal,
    duplicated_from: Option<InvoiceId>,
    quote_id: Option<QuoteId>,
    recurring_id: Option<RecurringId>,
    period_start: Option<NaiveDate>,
    period_end: Option<NaiveDate>,
    billing_run_id: Option<BillingRunId>,
    finalized_at: Option<DateTime<Utc>>,
    voided_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct LineRow {
    invoice_id: InvoiceId,
    product_id: Option<ProductId>,
    description: String,
    quantity: Decimal,
    unit_price: Decimal,
    discount: Option<serde_json::Value>,
    taxes: serde_json::Value,
    gross: Decimal,
    discount_amount: Decimal,
    net: Decimal,
    tax: Decimal,
    total: Decimal,
}

const COLUMNS: &str = "id, client_id, number, status, currency, issue_date, due_date, discount, notes, terms, \
    subtotal, discount_total, tax_total, total, amount_paid, duplicated_from, quote_id, recurring_id, \
    period_start, period_end, billing_run_id, finalized_at, voided_at, created_at, updated_at";
const LINE_COLUMNS: &str = "invoice_id, product_id, description, quantity, unit_price, discount, taxes, \
    gross, discount_amount, net, tax, total";

/// Shows an amount with the currency's digits (NUMERIC keeps four).
fn shown(d: Decimal, minor: u32) -> Decimal {
    money::to_minor(d, minor)
}

impl InvoiceLine {
    /// The line as the API shows it: amounts with the currency's digits,
    /// the unit price by [`money::to_price`], the quantity without
    /// trailing zeros.
    pub(crate) fn shown(mut self, minor: u32) -> InvoiceLine {
        self.quantity = self.quantity.normalize();
        self.unit_price = money::to_price(self.unit_price, minor);
        for t in &mut self.taxes {
            t.amount = shown(t.amount, minor);
        }
        for x in [
            &mut self.gross,
            &mut self.discount_amount,
            &mut self.net,
            &mut self.tax,
            &mut self.total,
        ] {
            *x = shown(*x, minor);
        }
        self
    }
}

fn assemble(r: InvoiceRow, lines: Vec<LineRow>) -> DomainResult<Invoice> {
    let minor = money::minor_units(&r.currency).unwrap_or(2);
    let status = InvoiceStatus::parse(&r.status)
        .ok_or_else(|| DomainError::Internal(format!("unknown invoice status {:?}", r.status)))?;
    let lines = lines
        .into_iter()
        .map(|l| {
            InvoiceLine {
                product_id: l.product_id,
                description: l.description,
                quantity: l.quantity,
                unit_price: l.unit_price,
                discount: l.discount.and_then(|d| serde_json::from_value(d).ok()),
                taxes: serde_json::from_value(l.taxes).unwrap_or_default(),
                gross: l.gross,
                discount_amount: l.discount_amount,
                net: l.net,
                tax: l.tax,
                total: l.total,
            }
            .shown(minor)
        })
        .collect();
    Ok(Invoice {
        id: r.id,
        client_id: r.client_id,
        number: r.number,
        status,
        currency: r.currency,
        issue_date: r.issue_date,
        due_date: r.due_date,
        discount: r.discount.and_then(|d| serde_json::from_value(d).ok()),
        notes: r.notes,
        terms: r.terms,
        subtotal: shown(r.subtotal, minor),
        discount_total: shown(r.discount_total, minor),
        tax_total: shown(r.tax_total, minor),
        total: shown(r.total, minor),
        amount_paid: shown(r.amount_paid, minor),
        balance: shown(r.total - r.amount_paid, minor),
        duplicated_from: r.duplicated_from,
        quote_id: r.quote_id,
        recurring_invoice_id: r.recurring_id,
        period_start: r.period_start,
        period_end: r.period_end,
        billing_run_id: r.billing_run_id,
        finalized_at: r.finalized_at,
        voided_at: r.voided_at,
        created_at: r.created_at,
        updated_at: r.updated_at,
        lines,
    })
}

pub async fn get(tx: &mut TenantTx, id: InvoiceId) -> DomainResult<Invoice> {
    let tenant = tx.tenant();
    let row: Option<InvoiceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invoices WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let row = row.ok_or(DomainError::not_found("invoice"))?;
    let lines: Vec<LineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LINE_COLUMNS} FROM invoice_lines WHERE company_id = $1 AND invoice_id = $2 ORDER BY position"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_all(tx.conn())
    .await?;
    assemble(row, lines)
}

#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    /// Any of these; empty: any status.
    pub statuses: Vec<InvoiceStatus>,
    pub client_id: Option<ClientId>,
    /// Matches the number, case-insensitive.
    pub q: Option<String>,
    pub issued_from: Option<NaiveDate>,
    pub issued_to: Option<NaiveDate>,
    /// Created by this billing run.
    pub billing_run_id: Option<BillingRunId>,
}

/// Newest first, with their lines.
pub async fn list(
    tx: &mut TenantTx,
    f: &InvoiceFilter,
    page: &PageRequest,
) -> DomainResult<Page<Invoice>> {
    const FILTER: &str = "company_id = $1 AND (cardinality($2::text[]) = 0 OR status = ANY($2)) \
        AND ($3::uuid IS NULL OR client_id = $3) AND ($4::text IS NULL OR number ILIKE $4) \
        AND ($5::date IS NULL OR issue_date >= $5) AND ($6::date IS NULL OR issue_date <= $6) \
        AND ($7::uuid IS NULL OR billing_run_id = $7)";
    let tenant = tx.tenant();
    let status: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
    let q = f.q.as_deref().map(crate::kernel::pagination::like_pattern);
    let rows: Vec<InvoiceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invoices WHERE {FILTER} AND ($8::uuid IS NULL OR id < $8) ORDER BY id DESC LIMIT $9"
    )))
    .bind(tenant)
    .bind(&status)
    .bind(f.client_id)
    .bind(&q)
    .bind(f.issued_from)
    .bind(f.issued_to)
    .bind(f.billing_run_id)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM invoices WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(&status)
    .bind(f.client_id)
    .bind(&q)
    .bind(f.issued_from)
    .bind(f.issued_to)
    .bind(f.billing_run_id)
    .fetch_one(tx.conn())
    .await?;
    let ids: Vec<InvoiceId> = rows.iter().map(|r| r.id).collect();
    let mut lines: Vec<LineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LINE_COLUMNS} FROM invoice_lines WHERE company_id = $1 AND invoice_id = ANY($2) \
         ORDER BY invoice_id, position"
    )))
    .bind(tenant)
    .bind(&ids)
    .fetch_all(tx.conn())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let (mine, rest): (Vec<LineRow>, Vec<LineRow>) =
            lines.into_iter().partition(|l| l.invoice_id == r.id);
        lines = rest;
        out.push(assemble(r, mine)?);
    }
    Ok(Page::from_rows(out, page, total, |i| Cursor {
        key: String::new(),
        id: i.id.as_uuid(),
    }))
}

/// A request checked and priced, ready to store.
struct Priced {
    client_id: ClientId,
    currency: String,
    issue_date: NaiveDate,
    due_date: NaiveDate,
    discount: Option<Discount>,
    notes: Option<String>,
    terms: Option<String>,
    lines: Vec<(LineRequestResolved, money::LineAmounts)>,
    totals: money::Totals,
}

struct LineRequestResolved {
    product_id: Option<ProductId>,
    description: String,
    quantity: Decimal,
    unit_price: Decimal,
    discount: Option<Discount>,
    rates: Vec<TaxRate>,
}

impl LineRequestResolved {
    /// What `money` computes the line's amounts from.
    fn input(&self) -> LineInput {
        LineInput {
            quantity: self.quantity,
            unit_price: self.unit_price,
            discount: self.discount,
            taxes: self
                .rates
                .iter()
                .map(|r| Tax {
                    name: r.name.clone(),
                    percent: r.percent,
                    inclusive: r.inclusive,
                    compound: r.compound,
                })
                .collect(),
        }
    }

    /// The line's rates with the amounts `money` computed for them, in order.
    fn applied_taxes(&self, amounts: &[Decimal]) -> Vec<AppliedTax> {
        self.rates
            .iter()
            .zip(amounts)
            .map(|(r, amount)| AppliedTax {
                tax_rate_id: r.id,
                name: r.name.clone(),
                percent: r.percent,
                inclusive: r.inclusive,
                compound: r.compound,
                amount: *amount,
            })
            .collect()
    }
}

fn check_discount(v: &mut ValidationErrors, field: &str, d: Option<Discount>) {
    match d {
        Some(Discount::Percent(p)) if p < Decimal::ZERO || p > Decimal::ONE_HUNDRED => v.add(
            field,
            "out_of_range",
            format!("{field} percent must be between 0 and 100"),
        ),
        Some(Discount::Amount(a)) if a < Decimal::ZERO => {
            v.add(field, "negative", format!("{field} must not be negative"))
        }
        _ => {}
    }
}

async fn price(tx: &mut TenantTx, req: InvoiceRequest) -> DomainResult<Priced> {
    let company = crate::identity::company::get(tx).await?;
    price_for(tx, req, &company, &mut PriceCache::default()).await
}

/// What pricing looked up once and may reuse within one transaction.
#[derive(Default)]
pub(crate) struct PriceCache {
    clients: std::collections::HashSet<ClientId>,
    rates: std::collections::HashMap<Vec<TaxRateId>, Vec<TaxRate>>,
}

impl PriceCache {
    /// The tax rates `ids` of line `i`, read once per set of ids.
    async fn tax_rates(
        &mut self,
        tx: &mut TenantTx,
        ids: Vec<TaxRateId>,
        i: usize,
    ) -> DomainResult<Vec<TaxRate>> {
        if let Some(r) = self.rates.get(&ids) {
            return Ok(r.clone());
        }
        let r = catalogue::tax_rates_by_ids(tx, &ids, &format!("lines[{i}].tax_rate_ids")).await?;
        self.rates.insert(ids, r.clone());
        Ok(r)
    }
}

async fn price_for(
    tx: &mut TenantTx,
    req: InvoiceRequest,
    company: &crate::identity::company::Company,
    cache: &mut PriceCache,
) -> DomainResult<Priced> {
    if !cache.clients.contains(&req.client_id) {
        check_client(tx, req.client_id).await?;
        cache.clients.insert(req.client_id);
    }
    price_checked(tx, req, company, cache).await
}

async fn check_client(tx: &mut TenantTx, client: ClientId) -> DomainResult<()> {
    crate::customers::clients::ensure_exists(tx, client)
        .await
        .map_err(|_| {
            let mut v = ValidationErrors::new();
            v.add(
                "client_id",
                "unknown",
                "client_id names no client of this company",
            );
            DomainError::Validation(v)
        })
}

async fn price_checked(
    tx: &mut TenantTx,
    req: InvoiceRequest,
    company: &crate::identity::company::Company,
    cache: &mut PriceCache,
) -> DomainResult<Priced> {
    let mut v = ValidationErrors::new();
    let currency = req.currency.clone().unwrap_or(company.currency.clone());
    let minor = money::minor_units(&currency);
    if minor.is_none() {
        v.add(
            "currency",
            "invalid",
            "currency must be a supported ISO 4217 code",
        );
    }
    let (issue_date, due_date) = invoice_dates(tx, &mut v, &req, company).await?;
    check_discount(&mut v, "discount", req.discount);
    let notes = v.optional_text("notes", req.notes.as_deref(), 10_000);
    let terms = v.optional_text("terms", req.terms.as_deref(), 10_000);
    check_lines(&mut v, &req.lines);
    v.finish()?;
    let minor = minor.unwrap_or(2);

    let mut resolved = Vec::with_capacity(req.lines.len());
    for (i, l) in req.lines.into_iter().enumerate() {
        resolved.push(resolve_line(tx, i, l, cache).await?);
    }
    let inputs: Vec<LineInput> = resolved.iter().map(LineRequestResolved::input).collect();
    let totals = money::totals(&inputs, req.discount, minor);
    let mut v = ValidationErrors::new();
    money::check_totals(&mut v, &totals);
    v.finish()?;
    let lines = resolved
        .into_iter()
        .zip(totals.lines.iter().cloned())
        .collect();
    Ok(Priced {
        client_id: req.client_id,
        currency,
        issue_date,
        due_date,
        discount: req.discount,
        notes,
        terms,
        lines,
        totals,
    })
}

/// The issue date (default: today where the company is) and the due date
/// (default: the payment terms' days after it, else [`DEFAULT_DUE_DAYS`]),
/// not before the issue date.
async fn invoice_dates(
    tx: &mut TenantTx,
    v: &mut ValidationErrors,
    req: &InvoiceRequest,
    company: &crate::identity::company::Company,
) -> DomainResult<(NaiveDate, NaiveDate)> {
    let issue_date = req.issue_date.unwrap_or_else(|| company.today(tx.now()));
    let term_days = match req.payment_term_id {
        Some(id) => payment_term_days(tx, v, id).await?,
        None => None,
    };
    let due_date = match req.due_date {
        Some(d) => d,
        None => {
            let days = term_days.unwrap_or(DEFAULT_DUE_DAYS);
            dates::add_days(issue_date, days).unwrap_or_else(|| {
                v.add(
                    "issue_date",
                    "out_of_range",
                    format!(
                        "issue_date plus {days} days of payment terms must be at most {}",
                        dates::MAX
                    ),
                );
                issue_date
            })
        }
    };
    if due_date < issue_date {
        v.add(
            "due_date",
            "before_issue",
            "due_date must not be before issue_date",
        );
    }
    Ok((issue_date, due_date))
}

/// The days of the company's payment terms `id` (an error in `v` when it
/// has none of that id).
async fn payment_term_days(
    tx: &mut TenantTx,
    v: &mut ValidationErrors,
    id: PaymentTermId,
) -> DomainResult<Option<i64>> {
    let tenant = tx.tenant();
    let days: Option<i32> =
        sqlx::query_scalar("SELECT days FROM payment_terms WHERE company_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(tx.conn())
            .await?;
    if days.is_none() {
        v.add(
            "payment_term_id",
            "unknown",
            "payment_term_id names no payment terms of this company",
        );
    }
    Ok(days.map(i64::from))
}

/// At most [`MAX_LINES`] lines, each checked by [`check_line`].
fn check_lines(v: &mut ValidationErrors, lines: &[LineRequest]) {
    if lines.len() > MAX_LINES {
        v.add(
            "lines",
            "too_many",
            format!("an invoice has at most {MAX_LINES} lines"),
        );
    }
    for (i, l) in lines.iter().enumerate() {
        check_line(v, i, l);
    }
}

/// A line's figures in range, its taxes at most
/// [`money::MAX_TAXES_PER_LINE`], and a description and a price given
/// when no product gives them.
fn check_line(v: &mut ValidationErrors, i: usize, l: &LineRequest) {
    if l.quantity.scale() > 4 || l.quantity.abs() > Decimal::from(1_000_000_000) {
        v.add(
            &format!("lines[{i}].quantity"),
            "invalid",
            "quantity must have at most 4 decimals and be at most 1000000000 in magnitude",
        );
    }
    if let Some(p) = l.unit_price
        && (p.scale() > 4 || p.abs() > Decimal::from(1_000_000_000_000i64))
    {
        v.add(
            &format!("lines[{i}].unit_price"),
            "invalid",
            "unit_price must have at most 4 decimals and be at most 1000000000000 in magnitude",
        );
    }
    if l.tax_rate_ids
        .as_ref()
        .is_some_and(|t| t.len() > money::MAX_TAXES_PER_LINE)
    {
        v.add(
            &format!("lines[{i}].tax_rate_ids"),
            "too_many",
            format!("a line has at most {} taxes", money::MAX_TAXES_PER_LINE),
        );
    }
    check_discount(v, &format!("lines[{i}].discount"), l.discount);
    if l.product_id.is_none() && l.description.as_deref().is_none_or(|d| d.trim().is_empty()) {
        v.add(
            &format!("lines[{i}].description"),
            "required",
            "a line without a product needs a description",
        );
    }
    if l.product_id.is_none() && l.unit_price.is_none() {
        v.add(
            &format!("lines[{i}].unit_price"),
            "required",
            "a line without a product needs a unit_price",
        );
    }
    if let Some(d) = &l.description
        && d.chars().count() > 2000
    {
        v.add(
            &format!("lines[{i}].description"),
            "too_long",
            "description must be at most 2000 characters",
        );
    }
}

/// Line `i` with what its product gives (description, price, taxes) where
/// the line gives none, and its tax rates read (once per set in `cache`).
async fn resolve_line(
    tx: &mut TenantTx,
    i: usize,
    l: LineRequest,
    cache: &mut PriceCache,
) -> DomainResult<LineRequestResolved> {
    let product = match l.product_id {
        Some(pid) => Some(catalogue::product(tx, pid).await.map_err(|_| {
            let mut v = ValidationErrors::new();
            v.add(
                &format!("lines[{i}].product_id"),
                "unknown",
                "product_id names no product of this company",
            );
            DomainError::Validation(v)
        })?),
        None => None,
    };
    let rate_ids = l
        .tax_rate_ids
        .clone()
        .or_else(|| product.as_ref().map(|p| p.tax_rate_ids.clone()))
        .unwrap_or_default();
    let rates = cache.tax_rates(tx, rate_ids, i).await?;
    Ok(LineRequestResolved {
        product_id: l.product_id,
        description: l
            .description
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
            .or_else(|| product.as_ref().map(|p| p.name.clone()))
            .unwrap_or_default(),
        quantity: l.quantity,
        unit_price: l
            .unit_price
            .or(product.as_ref().map(|p| p.unit_price))
            .unwrap_or_default(),
        discount: l.discount,
        rates,
    })
}

async fn store_lines(
    tx: &mut TenantTx,
    id: InvoiceId,
    lines: &[(LineRequestResolved, money::LineAmounts)],
    replace: bool,
) -> DomainResult<()> {
    let tenant = tx.tenant();
    if replace {
        sqlx::query("DELETE FROM invoice_lines WHERE company_id = $1 AND invoice_id = $2")
            .bind(tenant)
            .bind(id)
            .execute(tx.conn())
            .await?;
    }
    if lines.is_empty() {
        return Ok(());
    }
    let n = lines.len();
    let mut ids = Vec::with_capacity(n);
    let mut positions = Vec::with_capacity(n);
    let mut products = Vec::with_capacity(n);
    let mut descriptions = Vec::with_capacity(n);
    let mut quantities = Vec::with_capacity(n);
    let mut prices = Vec::with_capacity(n);
    let mut discounts = Vec::with_capacity(n);
    let mut taxes_json = Vec::with_capacity(n);
    let (mut gross, mut disc, mut net, mut tax, mut total) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (pos, (l, a)) in lines.iter().enumerate() {
        let applied = l.applied_taxes(&a.taxes);
        ids.push(uuid::Uuid::now_v7());
        positions.push(pos as i32);
        products.push(l.product_id);
        descriptions.push(l.description.as_str());
        quantities.push(l.quantity);
        prices.push(l.unit_price);
        discounts.push(
            l.discount
                .map(|d| serde_json::to_value(d).unwrap_or_default()),
        );
        taxes_json.push(serde_json::to_value(&applied).unwrap_or_default());
        gross.push(a.gross);
        disc.push(a.discount);
        net.push(a.net);
        tax.push(a.taxes.iter().sum::<Decimal>());
        total.push(a.total);
    }
    sqlx::query(
        "INSERT INTO invoice_lines (id, company_id, invoice_id, position, product_id, description, quantity, \
         unit_price, discount, taxes, gross, discount_amount, net, tax, total) \
         SELECT t.id, $1, $2, t.position, t.product_id, t.description, t.quantity, t.unit_price, t.discount, t.taxes, \
                t.gross, t.discount_amount, t.net, t.tax, t.total \
         FROM unnest($3::uuid[], $4::int4[], $5::uuid[], $6::text[], $7::numeric[], $8::numeric[], $9::jsonb[], \
                     $10::jsonb[], $11::numeric[], $12::numeric[], $13::numeric[], $14::numeric[], $15::numeric[]) \
              AS t(id, position, product_id, description, quantity, unit_price, discount, taxes, gross, \
                   discount_amount, net, tax, total)",
    )
    .bind(tenant)
    .bind(id)
    .bind(ids)
    .bind(positions)
    .bind(products)
    .bind(descriptions)
    .bind(quantities)
    .bind(prices)
    .bind(discounts)
    .bind(taxes_json)
    .bind(gross)
    .bind(disc)
    .bind(net)
    .bind(tax)
    .bind(total)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Creates a draft.
pub async fn create(tx: &mut TenantTx, req: InvoiceRequest) -> DomainResult<Invoice> {
    let p = price(tx, req).await?;
    let id = insert_priced(tx, p, None)
        .await?
        .ok_or(DomainError::Internal("draft not inserted".into()))?;
    get(tx, id).await
}

/// A request priced but not stored (for quotes and template previews).
pub(crate) struct Preview {
    pub currency: String,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    pub lines: Vec<InvoiceLine>,
    pub subtotal: Decimal,
    pub discount_total: Decimal,
    pub tax_total: Decimal,
    pub total: Decimal,
}

pub(crate) async fn preview(tx: &mut TenantTx, req: InvoiceRequest) -> DomainResult<Preview> {
    let p = price(tx, req).await?;
    let minor = money::minor_units(&p.currency).unwrap_or(2);
    let lines = p
        .lines
        .iter()
        .map(|(l, a)| {
            InvoiceLine {
                product_id: l.product_id,
                description: l.description.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
                discount: l.discount,
                taxes: l.applied_taxes(&a.taxes),
                gross: a.gross,
                discount_amount: a.discount,
                net: a.net,
                tax: a.taxes.iter().sum(),
                total: a.total,
            }
            .shown(minor)
        })
        .collect();
    Ok(Preview {
        issue_date: p.issue_date,
        due_date: p.due_date,
        lines,
        subtotal: money::to_minor(p.totals.subtotal, minor),
        discount_total: money::to_minor(p.totals.discount, minor),
        tax_total: money::to_minor(p.totals.tax, minor),
        total: money::to_minor(p.totals.total, minor),
        currency: p.currency,
    })
}

/// Prices a request as a draft would be priced, storing nothing; returns
/// its total (a 422 names what is wrong).
pub(crate) async fn check(tx: &mut TenantTx, req: InvoiceRequest) -> DomainResult<Decimal> {
    let p = price(tx, req).await?;
    let minor = money::minor_units(&p.currency).unwrap_or(2);
    Ok(money::to_minor(p.totals.total, minor))
}

/// The sum of a priced request's line nets (after discounts, before tax).
pub(crate) async fn net_of(
    tx: &mut TenantTx,
    req: InvoiceRequest,
    company: &crate::identity::company::Company,
    cache: &mut PriceCache,
) -> DomainResult<Decimal> {
    Ok(price_for(tx, req, company, cache).await?.totals.subtotal)
}

/// The period of a recurring template an invoice bills, and the run
/// billing it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Period {
    pub recurring: RecurringId,
    pub start: NaiveDate,
    pub last_day: Option<NaiveDate>,
    pub run: Option<BillingRunId>,
}

/// Creates the draft for a period of a recurring template, or `None` when
/// that period has its invoice already.
pub(crate) async fn create_for_period(
    tx: &mut TenantTx,
    req: InvoiceRequest,
    period: Period,
    company: &crate::identity::company::Company,
    cache: &mut PriceCache,
) -> DomainResult<Option<(InvoiceId, Decimal)>> {
    let p = price_for(tx, req, company, cache).await?;
    let minor = money::minor_units(&p.currency).unwrap_or(2);
    let total = money::to_minor(p.totals.total, minor);
    Ok(insert_priced(tx, p, Some(period))
        .await?
        .map(|id| (id, total)))
}

/// Finalizes drafts created in this same transaction, numbering them in
/// the order given: one counter update per number scope, one update of the
/// invoices, at the end of the transaction so the counter is held briefly.
pub(crate) async fn finalize_new_many(
    tx: &mut TenantTx,
    drafts: &[(InvoiceId, NaiveDate)],
    pattern: &crate::kernel::number_pattern::NumberPattern,
) -> DomainResult<()> {
    if drafts.is_empty() {
        return Ok(());
    }
    // Counters are taken in scope order, so two transactions finalizing
    // across the same years (a catch-up over New Year) cannot deadlock.
    let mut scopes: std::collections::BTreeMap<String, Vec<(InvoiceId, NaiveDate)>> =
        std::collections::BTreeMap::new();
    for (id, date) in drafts {
        scopes
            .entry(pattern.scope(*date))
            .or_default()
            .push((*id, *date));
    }
    let (mut ids, mut numbers) = (
        Vec::with_capacity(drafts.len()),
        Vec::with_capacity(drafts.len()),
    );
    for (scope, members) in scopes {
        let first = numbering::allocate_range(tx, "invoice", &scope, members.len() as i64).await?;
        for (k, (id, date)) in members.into_iter().enumerate() {
            ids.push(id);
            numbers.push(pattern.render(date, first + k as i64));
        }
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE invoices i SET number = n.number, status = 'sent', finalized_at = $2, updated_at = $2 \
         FROM unnest($3::uuid[], $4::text[]) AS n(id, number) WHERE i.company_id = $1 AND i.id = n.id",
    )
    .bind(tenant)
    .bind(now)
    .bind(&ids)
    .bind(numbers)
    .execute(tx.conn())
    .await?;
    // Payloads are read only when an endpoint wants them; then one insert
    // records the events of the whole batch.
    if crate::kernel::events::wanted(tx, crate::kernel::events::INVOICE_FINALIZED).await? {
        let mut items = Vec::with_capacity(ids.len());
        for id in ids {
            let inv = get(tx, id).await?;
            items.push((
                Some(id.as_uuid()),
                serde_json::to_value(&inv).unwrap_or_default(),
            ));
        }
        crate::kernel::events::emit_many(tx, crate::kernel::events::INVOICE_FINALIZED, items)
            .await?;
    }
    Ok(())
}

async fn insert_priced(
    tx: &mut TenantTx,
    p: Priced,
    period: Option<Period>,
) -> DomainResult<Option<InvoiceId>> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let id = InvoiceId::new();
    let inserted = sqlx::query(
        "INSERT INTO invoices (id, company_id, client_id, status, currency, issue_date, due_date, discount, notes, \
         terms, subtotal, discount_total, tax_total, total, recurring_id, period_start, period_end, billing_run_id, \
         created_at, updated_at) \
         VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18) \
         ON CONFLICT (recurring_id, period_start) WHERE recurring_id IS NOT NULL DO NOTHING",
    )
    .bind(id)
    .bind(tenant)
    .bind(p.client_id)
    .bind(&p.currency)
    .bind(p.issue_date)
    .bind(p.due_date)
    .bind(p.discount.map(|d| serde_json::to_value(d).unwrap_or_default()))
    .bind(&p.notes)
    .bind(&p.terms)
    .bind(p.totals.subtotal)
    .bind(p.totals.discount)
    .bind(p.totals.tax)
    .bind(p.totals.total)
    .bind(period.map(|r| r.recurring))
    .bind(period.map(|r| r.start))
    .bind(period.and_then(|r| r.last_day))
    .bind(period.and_then(|r| r.run))
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(None);
    }
    store_lines(tx, id, &p.lines, false).await?;
    Ok(Some(id))
}

/// Locks the invoice's row until the transaction ends, whatever its
/// status: for work done once per invoice at a time (one payment link for
/// two payers pressing Pay at once). 404 for an unknown id.
pub async fn lock_row(tx: &mut TenantTx, id: InvoiceId) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query_scalar::<_, i32>(
        "SELECT 1 FROM invoices WHERE company_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?
    .ok_or(DomainError::not_found("invoice"))?;
    Ok(())
}

/// The invoice, locked for a change; 409 unless its status is one of `allowed`.
async fn lock(
    tx: &mut TenantTx,
    id: InvoiceId,
    allowed: &[InvoiceStatus],
    action: &str,
) -> DomainResult<Invoice> {
    let tenant = tx.tenant();
    let found: Option<String> = sqlx::query_scalar(
        "SELECT status FROM invoices WHERE company_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let status = found.ok_or(DomainError::not_found("invoice"))?;
    let invoice = get(tx, id).await?;
    if !allowed.contains(&invoice.status) {
        return Err(DomainError::conflict(
            "invalid_invoice_status",
            format!("cannot {action} an invoice that is {status}"),
        ));
    }
    Ok(invoice)
}

/// Replaces a draft.
pub async fn update(
    tx: &mut TenantTx,
    id: InvoiceId,
    req: InvoiceRequest,
) -> DomainResult<Invoice> {
    lock(tx, id, &[InvoiceStatus::Draft], "edit").await?;
    let p = price(tx, req).await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE invoices SET client_id = $3, currency = $4, issue_date = $5, due_date = $6, discount = $7, \
         notes = $8, terms = $9, subtotal = $10, discount_total = $11, tax_total = $12, total = $13, updated_at = $14 \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(p.client_id)
    .bind(&p.currency)
    .bind(p.issue_date)
    .bind(p.due_date)
    .bind(p.discount.map(|d| serde_json::to_value(d).unwrap_or_default()))
    .bind(&p.notes)
    .bind(&p.terms)
    .bind(p.totals.subtotal)
    .bind(p.totals.discount)
    .bind(p.totals.tax)
    .bind(p.totals.total)
    .bind(now)
    .execute(tx.conn())
    .await?;
    store_lines(tx, id, &p.lines, true).await?;
    get(tx, id).await
}

/// Adds lines to the end of a draft of `client` in `currency`, keeping the
/// lines it has (repriced as entered, their taxes as applied).
pub async fn append_lines(
    tx: &mut TenantTx,
    id: InvoiceId,
    client: ClientId,
    currency: &str,
    lines: Vec<LineRequest>,
) -> DomainResult<Invoice> {
    let invoice = lock(tx, id, &[InvoiceStatus::Draft], "add lines to").await?;
    if invoice.client_id != client {
        let mut v = ValidationErrors::new();
        v.add(
            "invoice_id",
            "other_client",
            "the invoice is another client's",
        );
        return Err(DomainError::Validation(v));
    }
    if invoice.currency != currency {
        return Err(DomainError::conflict(
            "currency_mismatch",
            format!(
                "the draft is in {}, the lines in {currency}",
                invoice.currency
            ),
        ));
    }
    let mut all: Vec<LineRequest> = invoice
        .lines
        .iter()
        .map(|l| LineRequest {
            product_id: l.product_id,
            description: Some(l.description.clone()),
            quantity: l.quantity,
            unit_price: Some(l.unit_price),
            discount: l.discount,
            tax_rate_ids: Some(l.taxes.iter().map(|t| t.tax_rate_id).collect()),
        })
        .collect();
    all.extend(lines);
    update(
        tx,
        id,
        InvoiceRequest {
            client_id: invoice.client_id,
            currency: Some(invoice.currency),
            issue_date: Some(invoice.issue_date),
            due_date: Some(invoice.due_date),
            payment_term_id: None,
            discount: invoice.discount,
            notes: invoice.notes,
            terms: invoice.terms,
            lines: all,
        },
    )
    .await
}

/// Deletes a draft (finalized invoices are voided instead).
pub async fn delete(tx: &mut TenantTx, id: InvoiceId) -> DomainResult<Invoice> {
    let invoice = lock(tx, id, &[InvoiceStatus::Draft], "delete").await?;
    let tenant = tx.tenant();
    sqlx::query("DELETE FROM invoices WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(invoice)
}

/// Finalizes a draft: allocates its number and opens it for payment.
pub async fn finalize(tx: &mut TenantTx, id: InvoiceId) -> DomainResult<Invoice> {
    let invoice = lock(tx, id, &[InvoiceStatus::Draft], "finalize").await?;
    if invoice.lines.is_empty() {
        return Err(DomainError::conflict(
            "invoice_empty",
            "an invoice needs at least one line to be finalized",
        ));
    }
    let number = numbering::next(
        tx,
        "invoice",
        crate::identity::company::INVOICE_NUMBER_PATTERN,
        DEFAULT_PATTERN,
        invoice.issue_date,
    )
    .await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE invoices SET number = $3, status = 'sent', finalized_at = $4, updated_at = $4 \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(number)
    .bind(now)
    .execute(tx.conn())
    .await?;
    let invoice = get(tx, id).await?;
    crate::kernel::events::emit(
        tx,
        crate::kernel::events::INVOICE_FINALIZED,
        Some(id.as_uuid()),
        &invoice,
    )
    .await?;
    Ok(invoice)
}

/// Voids a finalized invoice that has no payments; it keeps its number.
pub async fn void(tx: &mut TenantTx, id: InvoiceId) -> DomainResult<Invoice> {
    let invoice = lock(
        tx,
        id,
        &[InvoiceStatus::Sent, InvoiceStatus::Overdue],
        "void",
    )
    .await?;
    if !invoice.amount_paid.is_zero() {
        return Err(DomainError::conflict(
            "invoice_has_payments",
            "refund its payments before voiding an invoice",
        ));
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE invoices SET status = 'void', voided_at = $3, updated_at = $3 WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    get(tx, id).await
}

/// A new draft with the same client, currency, discount, notes and lines as
/// `id` (its prices; taxes at their rates' current values), dated today.
pub async fn duplicate(tx: &mut TenantTx, id: InvoiceId) -> DomainResult<Invoice> {
    let src = get(tx, id).await?;
    let term_days = (src.due_date - src.issue_date).num_days();
    let req = InvoiceRequest {
        client_id: src.client_id,
        currency: Some(src.currency.clone()),
        issue_date: None,
        due_date: None,
        payment_term_id: None,
        discount: src.discount,
        notes: src.notes.clone(),
        terms: src.terms.clone(),
        lines: src
            .lines
            .iter()
            .map(|l| LineRequest {
                product_id: None,
                description: Some(l.description.clone()),
                quantity: l.quantity,
                unit_price: Some(l.unit_price),
                discount: l.discount,
                tax_rate_ids: Some(l.taxes.iter().map(|t| t.tax_rate_id).collect()),
            })
            .collect(),
    };
    let mut copy = create(tx, req).await?;
    let tenant = tx.tenant();
    let due = dates::add_days(copy.issue_date, term_days).unwrap_or(dates::MAX);
    sqlx::query(
        "UPDATE invoices SET duplicated_from = $3, due_date = $4 WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(copy.id)
    .bind(id)
    .bind(due)
    .execute(tx.conn())
    .await?;
    copy.duplicated_from = Some(id);
    copy.due_date = due;
    Ok(copy)
}

/// Adds `delta` (negative for a refund) to what was paid on a finalized
/// invoice and sets its status from the new balance: paid, partially paid,
/// overdue (past its due date on `today`), partially paid, or open (`sent`).
pub(crate) async fn add_paid(
    tx: &mut TenantTx,
    id: InvoiceId,
    delta: Decimal,
    today: NaiveDate,
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE invoices SET amount_paid = amount_paid + $3, \
         status = CASE WHEN amount_paid + $3 >= total THEN 'paid' \
                       WHEN due_date < $4 THEN 'overdue' \
                       WHEN amount_paid + $3 > 0 THEN 'partially_paid' ELSE 'sent' END, \
         updated_at = $5 WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(delta)
    .bind(today)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The invoice, locked, if it can take money: finalized and not void.
pub(crate) async fn lock_payable(tx: &mut TenantTx, id: InvoiceId) -> DomainResult<Invoice> {
    lock(
        tx,
        id,
        &[
            InvoiceStatus::Sent,
            InvoiceStatus::PartiallyPaid,
            InvoiceStatus::Overdue,
            InvoiceStatus::Paid,
        ],
        "take a payment on",
    )
    .await
}

/// Marks open invoices whose due date is before `today` overdue; returns how many.
pub async fn mark_overdue(tx: &mut TenantTx, today: NaiveDate) -> DomainResult<u64> {
    let (tenant, now) = (tx.tenant(), tx.now());
    Ok(sqlx::query(
        "UPDATE invoices SET status = 'overdue', updated_at = $3 \
         WHERE company_id = $1 AND status IN ('sent', 'partially_paid') AND due_date < $2",
    )
    .bind(tenant)
    .bind(today)
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected())
}
