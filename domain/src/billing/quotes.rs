//! Quotes: priced like invoices, numbered on their own when sent
//! (`settings.quote_number_pattern`, default `QUO-{YYYY}-{SEQ:6}`),
//! accepted or declined by the client, expired after their validity, and
//! converted into a draft invoice that links back.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::billing::invoices::{self, Invoice, InvoiceLine, InvoiceRequest, LineRequest};
use crate::kernel::money::Discount;
use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::{
    ClientId, ContactId, DomainError, DomainResult, InvoiceId, QuoteId, TenantTx,
    billing::numbering,
};

pub const DEFAULT_PATTERN: &str = "QUO-{YYYY}-{SEQ:6}";
/// Days a quote is valid when no date is given.
pub const DEFAULT_VALID_DAYS: i64 = 30;

text_enum!(
    QuoteStatus {
        Draft = "draft",
        Sent = "sent",
        Accepted = "accepted",
        Declined = "declined",
        Expired = "expired",
        Converted = "converted",
    }
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Quote {
    pub id: QuoteId,
    pub client_id: ClientId,
    pub number: Option<String>,
    pub status: QuoteStatus,
    pub currency: String,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub issue_date: NaiveDate,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub valid_until: NaiveDate,
    /// The quote's own discount, shared over its lines.
    pub discount: Option<Discount>,
    pub notes: Option<String>,
    pub terms: Option<String>,
    pub lines: Vec<InvoiceLine>,
    pub subtotal: Decimal,
    pub discount_total: Decimal,
    pub tax_total: Decimal,
    pub total: Decimal,
    /// The invoice it became.
    pub invoice_id: Option<InvoiceId>,
    pub sent_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The portal contact who accepted or declined it; absent when staff
    /// recorded the client's decision.
    pub decided_by: Option<QuoteDecider>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A contact who decided a quote in the client portal.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuoteDecider {
    pub contact_id: ContactId,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    pub client_id: ClientId,
    pub currency: Option<String>,
    /// Defaults to today in the company's time zone.
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub issue_date: Option<NaiveDate>,
    /// Defaults to 30 days after the issue date.
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub valid_until: Option<NaiveDate>,
    pub discount: Option<Discount>,
    pub notes: Option<String>,
    pub terms: Option<String>,
    pub lines: Vec<LineRequest>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: QuoteId,
    client_id: ClientId,
    number: Option<String>,
    status: String,
    currency: String,
    issue_date: NaiveDate,
    valid_until: NaiveDate,
    discount: Option<serde_json::Value>,
    notes: Option<String>,
    terms: Option<String>,
    lines: serde_json::Value,
    subtotal: Decimal,
    discount_total: Decimal,
    tax_total: Decimal,
    total: Decimal,
    invoice_id: Option<InvoiceId>,
    sent_at: Option<DateTime<Utc>>,
    decided_at: Option<DateTime<Utc>>,
    decided_by_contact_id: Option<ContactId>,
    decided_by_name: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, client_id, number, status, currency::text AS currency, issue_date, valid_until, \
    request->'discount' AS discount, request->>'notes' AS notes, request->>'terms' AS terms, lines, \
    subtotal, discount_total, tax_total, total, invoice_id, sent_at, decided_at, \
    decided_by_contact_id, (SELECT c.name FROM contacts c WHERE c.company_id = quotes.company_id \
    AND c.id = quotes.decided_by_contact_id) AS decided_by_name, created_at, updated_at";

impl TryFrom<Row> for Quote {
    type Error = DomainError;
    fn try_from(r: Row) -> DomainResult<Quote> {
        let minor = crate::kernel::money::minor_units(&r.currency).unwrap_or(2);
        let status = QuoteStatus::parse(&r.status)
            .ok_or_else(|| DomainError::Internal(format!("unknown quote status {:?}", r.status)))?;
        Ok(Quote {
            id: r.id,
            client_id: r.client_id,
            number: r.number,
            status,
            issue_date: r.issue_date,
            valid_until: r.valid_until,
            discount: r.discount.and_then(|d| serde_json::from_value(d).ok()),
            notes: r.notes,
            terms: r.terms,
            lines: serde_json::from_value::<Vec<InvoiceLine>>(r.lines)
                .unwrap_or_default()
                .into_iter()
                .map(|l| l.shown(minor))
                .collect(),
            subtotal: crate::kernel::money::to_minor(r.subtotal, minor),
            discount_total: crate::kernel::money::to_minor(r.discount_total, minor),
            tax_total: crate::kernel::money::to_minor(r.tax_total, minor),
            total: crate::kernel::money::to_minor(r.total, minor),
            currency: r.currency,
            invoice_id: r.invoice_id,
            sent_at: r.sent_at,
            decided_at: r.decided_at,
            decided_by: r
                .decided_by_contact_id
                .zip(r.decided_by_name)
                .map(|(contact_id, name)| QuoteDecider { contact_id, name }),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn as_invoice(q: &QuoteRequest) -> InvoiceRequest {
    InvoiceRequest {
        client_id: q.client_id,
        currency: q.currency.clone(),
        issue_date: q.issue_date,
        due_date: None,
        payment_term_id: None,
        discount: q.discount,
        notes: q.notes.clone(),
        terms: q.terms.clone(),
        lines: q.lines.clone(),
    }
}

struct Priced {
    preview: invoices::Preview,
    valid_until: NaiveDate,
}

async fn price(tx: &mut TenantTx, req: &QuoteRequest) -> DomainResult<Priced> {
    let preview = invoices::preview(tx, as_invoice(req)).await?;
    let valid_until = req
        .valid_until
        .unwrap_or(preview.issue_date + Duration::days(DEFAULT_VALID_DAYS));
    if valid_until < preview.issue_date {
        let mut v = ValidationErrors::new();
        v.add(
            "valid_until",
            "before_issue",
            "valid_until must not be before issue_date",
        );
        return Err(DomainError::Validation(v));
    }
    Ok(Priced {
        preview,
        valid_until,
    })
}

pub async fn get(tx: &mut TenantTx, id: QuoteId) -> DomainResult<Quote> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM quotes WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("quote"))?.try_into()
}

/// Newest first; `statuses` empty: any status.
pub async fn list(
    tx: &mut TenantTx,
    client: Option<ClientId>,
    statuses: &[QuoteStatus],
    page: &PageRequest,
) -> DomainResult<Page<Quote>> {
    const FILTER: &str = "company_id = $1 AND ($2::uuid IS NULL OR client_id = $2) \
        AND (cardinality($3::text[]) = 0 OR status = ANY($3))";
    let tenant = tx.tenant();
    let status: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM quotes WHERE {FILTER} \
         AND ($4::uuid IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
    )))
    .bind(tenant)
    .bind(client)
    .bind(&status)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM quotes WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(client)
    .bind(&status)
    .fetch_one(tx.conn())
    .await?;
    let items = rows
        .into_iter()
        .map(Quote::try_from)
        .collect::<DomainResult<Vec<_>>>()?;
    Ok(Page::from_rows(items, page, total, |q| Cursor {
        key: String::new(),
        id: q.id.as_uuid(),
    }))
}

pub async fn create(tx: &mut TenantTx, req: QuoteRequest) -> DomainResult<Quote> {
    let p = price(tx, &req).await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO quotes (id, company_id, client_id, status, currency, issue_date, valid_until, request, lines, \
         subtotal, discount_total, tax_total, total, created_at, updated_at) \
         VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING {COLUMNS}"
    )))
    .bind(QuoteId::new())
    .bind(tenant)
    .bind(req.client_id)
    .bind(&p.preview.currency)
    .bind(p.preview.issue_date)
    .bind(p.valid_until)
    .bind(serde_json::to_value(&req).unwrap_or_default())
    .bind(serde_json::to_value(&p.preview.lines).unwrap_or_default())
    .bind(p.preview.subtotal)
    .bind(p.preview.discount_total)
    .bind(p.preview.tax_total)
    .bind(p.preview.total)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// The quote locked; 409 unless its status is one of `allowed`.
async fn lock(
    tx: &mut TenantTx,
    id: QuoteId,
    allowed: &[QuoteStatus],
    action: &str,
) -> DomainResult<Quote> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM quotes WHERE company_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let q: Quote = row.ok_or(DomainError::not_found("quote"))?.try_into()?;
    if !allowed.contains(&q.status) {
        return Err(DomainError::conflict(
            "invalid_quote_status",
            format!("cannot {action} a quote that is {}", q.status.as_str()),
        ));
    }
    Ok(q)
}

/// Replaces a draft quote.
pub async fn update(tx: &mut TenantTx, id: QuoteId, req: QuoteRequest) -> DomainResult<Quote> {
    lock(tx, id, &[QuoteStatus::Draft], "edit").await?;
    let p = price(tx, &req).await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE quotes SET client_id = $3, currency = $4, issue_date = $5, valid_until = $6, request = $7, lines = $8, \
         subtotal = $9, discount_total = $10, tax_total = $11, total = $12, updated_at = $13 \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(req.client_id)
    .bind(&p.preview.currency)
    .bind(p.preview.issue_date)
    .bind(p.valid_until)
    .bind(serde_json::to_value(&req).unwrap_or_default())
    .bind(serde_json::to_value(&p.preview.lines).unwrap_or_default())
    .bind(p.preview.subtotal)
    .bind(p.preview.discount_total)
    .bind(p.preview.tax_total)
    .bind(p.preview.total)
    .bind(now)
    .execute(tx.conn())
    .await?;
    get(tx, id).await
}

pub async fn delete(tx: &mut TenantTx, id: QuoteId) -> DomainResult<Quote> {
    let q = lock(tx, id, &[QuoteStatus::Draft], "delete").await?;
    let tenant = tx.tenant();
    sqlx::query("DELETE FROM quotes WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(q)
}

/// Sends a draft: it gets its number and opens. (The API then mails it.)
pub async fn send(tx: &mut TenantTx, id: QuoteId) -> DomainResult<Quote> {
    let q = lock(tx, id, &[QuoteStatus::Draft], "send").await?;
    if q.lines.is_empty() {
        return Err(DomainError::conflict(
            "quote_empty",
            "a quote needs at least one line to be sent",
        ));
    }
    let number = numbering::next(
        tx,
        "quote",
        crate::identity::company::QUOTE_NUMBER_PATTERN,
        DEFAULT_PATTERN,
        q.issue_date,
    )
    .await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query("UPDATE quotes SET number = $3, status = 'sent', sent_at = $4, updated_at = $4 WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .bind(number)
        .bind(now)
        .execute(tx.conn())
        .await?;
    get(tx, id).await
}

async fn decide(
    tx: &mut TenantTx,
    id: QuoteId,
    to: QuoteStatus,
    action: &str,
    by: Option<ContactId>,
) -> DomainResult<Quote> {
    let q = lock(tx, id, &[QuoteStatus::Sent], action).await?;
    let today = crate::identity::company::today(tx).await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    if q.valid_until < today {
        sqlx::query("UPDATE quotes SET status = 'expired', updated_at = $3 WHERE company_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .bind(now)
            .execute(tx.conn())
            .await?;
        return Err(DomainError::conflict(
            "quote_expired",
            format!("the quote expired after {}", q.valid_until),
        ));
    }
    sqlx::query(
        "UPDATE quotes SET status = $3, decided_at = $4, decided_by_contact_id = $5, updated_at = $4 \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(to.as_str())
    .bind(now)
    .bind(by)
    .execute(tx.conn())
        .await?;
    get(tx, id).await
}

/// Records the client's acceptance of a sent quote: by a portal contact
/// (`by`), or recorded by staff (`None`).
pub async fn accept(tx: &mut TenantTx, id: QuoteId, by: Option<ContactId>) -> DomainResult<Quote> {
    decide(tx, id, QuoteStatus::Accepted, "accept", by).await
}

/// Records that the client declined a sent quote (see [`accept`]).
pub async fn decline(tx: &mut TenantTx, id: QuoteId, by: Option<ContactId>) -> DomainResult<Quote> {
    decide(tx, id, QuoteStatus::Declined, "decline", by).await
}

/// Turns a sent or accepted quote into a draft invoice with its lines,
/// linked both ways; the quote becomes `converted`.
pub async fn convert(tx: &mut TenantTx, id: QuoteId) -> DomainResult<(Quote, Invoice)> {
    lock(
        tx,
        id,
        &[QuoteStatus::Sent, QuoteStatus::Accepted],
        "convert",
    )
    .await?;
    let tenant = tx.tenant();
    let request: serde_json::Value =
        sqlx::query_scalar("SELECT request FROM quotes WHERE company_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_one(tx.conn())
            .await?;
    let req: QuoteRequest = serde_json::from_value(request)
        .map_err(|e| DomainError::Internal(format!("stored quote request: {e}")))?;
    let mut inv_req = as_invoice(&req);
    inv_req.issue_date = None;
    let mut invoice = invoices::create(tx, inv_req).await?;
    let now = tx.now();
    sqlx::query("UPDATE invoices SET quote_id = $3 WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(invoice.id)
        .bind(id)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "UPDATE quotes SET status = 'converted', invoice_id = $3, decided_at = COALESCE(decided_at, $4), updated_at = $4 \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(invoice.id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    invoice.quote_id = Some(id);
    Ok((get(tx, id).await?, invoice))
}

/// Marks sent quotes past their validity expired; returns how many.
pub async fn expire(tx: &mut TenantTx, today: NaiveDate) -> DomainResult<u64> {
    let (tenant, now) = (tx.tenant(), tx.now());
    Ok(sqlx::query(
        "UPDATE quotes SET status = 'expired', updated_at = $3 WHERE company_id = $1 AND status = 'sent' AND valid_until < $2",
    )
    .bind(tenant)
    .bind(today)
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected())
}
