//! Payments, refunds and client credit.
//!
//! A payment is recorded against a finalized invoice. What the invoice's
//! balance takes is applied to it; anything more becomes the client's credit
//! (in the invoice's currency), which can be applied to a later invoice. A
//! refund gives back part or all of what a payment applied.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::billing::invoices::{self, Invoice};
use crate::kernel::money;
use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::{ClientId, DomainError, DomainResult, InvoiceId, PaymentId, TenantTx};

text_enum!(
    Method {
        BankTransfer = "bank_transfer",
        Card = "card",
        Cash = "cash",
        Check = "check",
        Credit = "credit",
        Other = "other",
    }
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Payment {
    pub id: PaymentId,
    pub client_id: ClientId,
    pub invoice_id: InvoiceId,
    /// `payment` or `refund`.
    pub kind: String,
    pub refund_of: Option<PaymentId>,
    pub currency: String,
    pub amount: Decimal,
    /// The part applied to the invoice (the rest of a payment became credit).
    pub applied: Decimal,
    pub method: String,
    pub reference: Option<String>,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub paid_on: NaiveDate,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, client_id, invoice_id, kind, refund_of, currency::text AS currency, amount, applied, \
    method, reference, paid_on, created_at";

impl Payment {
    /// Amounts with the currency's digits.
    fn shown(mut self) -> Payment {
        let minor = money::minor_units(&self.currency).unwrap_or(2);
        self.amount = money::to_minor(self.amount, minor);
        self.applied = money::to_minor(self.applied, minor);
        self
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub amount: Decimal,
    pub method: Method,
    pub reference: Option<String>,
    /// Defaults to today in the company's time zone.
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub paid_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Defaults to all that the payment still has applied.
    pub amount: Option<Decimal>,
    pub reference: Option<String>,
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub paid_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyCreditRequest {
    /// Defaults to as much as the credit and the balance allow.
    pub amount: Option<Decimal>,
}

/// What a payment did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Recorded {
    pub payment: Payment,
    pub invoice: Invoice,
    /// The part that became client credit.
    pub credited: Decimal,
}

fn check_amount(v: &mut ValidationErrors, field: &str, amount: Decimal, currency: &str) {
    let minor = money::minor_units(currency).unwrap_or(2);
    if amount <= Decimal::ZERO {
        v.add(
            field,
            "not_positive",
            format!("{field} must be more than zero"),
        );
    } else if !money::AMOUNT.holds(amount) {
        v.add(
            field,
            "too_large",
            format!("{field} must be at most {}", money::AMOUNT.max()),
        );
    } else if amount.normalize().scale() > minor {
        v.add(
            field,
            "too_precise",
            format!("{field} has more decimals than {currency} has ({minor})"),
        );
    }
}

/// Money moving on an invoice, about to be recorded.
struct Movement<'a> {
    kind: &'static str,
    refund_of: Option<PaymentId>,
    amount: Decimal,
    applied: Decimal,
    method: &'a str,
    reference: Option<String>,
    paid_on: NaiveDate,
    /// What the money was in another system (a Stripe PaymentIntent or
    /// refund): one row per reference.
    external_ref: Option<String>,
}

async fn insert(tx: &mut TenantTx, inv: &Invoice, m: Movement<'_>) -> DomainResult<Payment> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let p: Payment = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO payments (id, company_id, client_id, invoice_id, kind, refund_of, currency, amount, applied, \
         method, reference, paid_on, created_at, external_ref) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING {COLUMNS}"
    )))
    .bind(PaymentId::new())
    .bind(tenant)
    .bind(inv.client_id)
    .bind(inv.id)
    .bind(m.kind)
    .bind(m.refund_of)
    .bind(&inv.currency)
    .bind(m.amount)
    .bind(m.applied)
    .bind(m.method)
    .bind(m.reference)
    .bind(m.paid_on)
    .bind(now)
    .bind(m.external_ref)
    .fetch_one(tx.conn())
    .await?;
    Ok(p.shown())
}

async fn add_credit(
    tx: &mut TenantTx,
    client: ClientId,
    currency: &str,
    amount: Decimal,
    payment: Option<PaymentId>,
    invoice: Option<InvoiceId>,
    on: NaiveDate,
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "INSERT INTO client_credits (id, company_id, client_id, currency, amount, payment_id, invoice_id, on_date, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(tenant)
    .bind(client)
    .bind(currency)
    .bind(amount)
    .bind(payment)
    .bind(invoice)
    .bind(on)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records a payment on an invoice.
pub async fn record(
    tx: &mut TenantTx,
    invoice: InvoiceId,
    req: PaymentRequest,
) -> DomainResult<Recorded> {
    record_with(tx, invoice, req, None).await
}

/// The payment or refund recorded under `external_ref`, if any.
pub async fn by_external_ref(
    tx: &mut TenantTx,
    external_ref: &str,
) -> DomainResult<Option<Payment>> {
    let tenant = tx.tenant();
    let row: Option<Payment> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM payments WHERE company_id = $1 AND external_ref = $2"
    )))
    .bind(tenant)
    .bind(external_ref)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(Payment::shown))
}

/// Records a payment that another system took, once per `external_ref`
/// (a Stripe PaymentIntent id): `None` when it was recorded before. The
/// invoice's row lock serialises two deliveries of the same payment.
pub async fn record_external(
    tx: &mut TenantTx,
    invoice: InvoiceId,
    req: PaymentRequest,
    external_ref: &str,
) -> DomainResult<Option<Recorded>> {
    invoices::lock_payable(tx, invoice).await?;
    if by_external_ref(tx, external_ref).await?.is_some() {
        return Ok(None);
    }
    record_with(tx, invoice, req, Some(external_ref.to_owned()))
        .await
        .map(Some)
}

async fn record_with(
    tx: &mut TenantTx,
    invoice: InvoiceId,
    req: PaymentRequest,
    external_ref: Option<String>,
) -> DomainResult<Recorded> {
    let inv = invoices::lock_payable(tx, invoice).await?;
    let mut v = ValidationErrors::new();
    check_amount(&mut v, "amount", req.amount, &inv.currency);
    let reference = v.optional_text("reference", req.reference.as_deref(), 200);
    if req.method == Method::Credit {
        v.add("method", "invalid", "apply credit with /apply-credit");
    }
    v.finish()?;
    let today = crate::identity::company::today(tx).await?;
    let paid_on = req.paid_on.unwrap_or(today);
    let applied = req.amount.min(inv.balance.max(Decimal::ZERO));
    let credited = req.amount - applied;
    let movement = Movement {
        kind: "payment",
        refund_of: None,
        amount: req.amount,
        applied,
        method: req.method.as_str(),
        reference,
        paid_on,
        external_ref,
    };
    let payment = insert(tx, &inv, movement).await?;
    if !applied.is_zero() {
        invoices::add_paid(tx, inv.id, applied, today).await?;
    }
    if !credited.is_zero() {
        add_credit(
            tx,
            inv.client_id,
            &inv.currency,
            credited,
            Some(payment.id),
            None,
            paid_on,
        )
        .await?;
    }
    let minor = money::minor_units(&inv.currency).unwrap_or(2);
    let after = invoices::get(tx, inv.id).await?;
    crate::kernel::events::emit(
        tx,
        crate::kernel::events::PAYMENT_RECORDED,
        Some(payment.id.as_uuid()),
        &payment,
    )
    .await?;
    emit_paid(tx, &inv, &after).await?;
    Ok(Recorded {
        payment,
        invoice: after,
        credited: money::to_minor(credited, minor),
    })
}

/// `invoice.paid` when a payment or credit brought the balance to zero.
async fn emit_paid(tx: &mut TenantTx, before: &Invoice, after: &Invoice) -> DomainResult<()> {
    if before.status != invoices::InvoiceStatus::Paid
        && after.status == invoices::InvoiceStatus::Paid
    {
        crate::kernel::events::emit(
            tx,
            crate::kernel::events::INVOICE_PAID,
            Some(after.id.as_uuid()),
            after,
        )
        .await?;
    }
    Ok(())
}

/// Refunds (part of) what a payment applied to its invoice.
pub async fn refund(
    tx: &mut TenantTx,
    payment: PaymentId,
    req: RefundRequest,
) -> DomainResult<Recorded> {
    refund_with(tx, payment, req, None).await
}

/// What is left to refund of a payment: what it applied, less its refunds.
pub async fn refundable(tx: &mut TenantTx, payment: PaymentId) -> DomainResult<Decimal> {
    let tenant = tx.tenant();
    let original = get(tx, payment).await?;
    let refunded: Decimal = sqlx::query_scalar(
        "SELECT COALESCE(sum(amount), 0) FROM payments WHERE company_id = $1 AND refund_of = $2",
    )
    .bind(tenant)
    .bind(payment)
    .fetch_one(tx.conn())
    .await?;
    Ok(original.applied - refunded)
}

/// A refund another system made, once per `external_ref`: `None` when it
/// was recorded before.
pub async fn refund_external(
    tx: &mut TenantTx,
    payment: PaymentId,
    req: RefundRequest,
    external_ref: &str,
) -> DomainResult<Option<Recorded>> {
    let original = get(tx, payment).await?;
    invoices::lock_payable(tx, original.invoice_id).await?;
    if by_external_ref(tx, external_ref).await?.is_some() {
        return Ok(None);
    }
    refund_with(tx, payment, req, Some(external_ref.to_owned()))
        .await
        .map(Some)
}

async fn refund_with(
    tx: &mut TenantTx,
    payment: PaymentId,
    req: RefundRequest,
    external_ref: Option<String>,
) -> DomainResult<Recorded> {
    let tenant = tx.tenant();
    let original: Option<Payment> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM payments WHERE company_id = $1 AND id = $2 AND kind = 'payment' FOR UPDATE"
    )))
    .bind(tenant)
    .bind(payment)
    .fetch_optional(tx.conn())
    .await?;
    let original = original.ok_or(DomainError::not_found("payment"))?;
    let inv = invoices::lock_payable(tx, original.invoice_id).await?;
    let refunded: Decimal = sqlx::query_scalar(
        "SELECT COALESCE(sum(amount), 0) FROM payments WHERE company_id = $1 AND refund_of = $2",
    )
    .bind(tenant)
    .bind(payment)
    .fetch_one(tx.conn())
    .await?;
    let left = original.applied - refunded;
    let amount = req.amount.unwrap_or(left);
    let mut v = ValidationErrors::new();
    check_amount(&mut v, "amount", amount, &inv.currency);
    if amount > left {
        v.add(
            "amount",
            "too_much",
            format!("at most {left} of this payment can be refunded"),
        );
    }
    let reference = v.optional_text("reference", req.reference.as_deref(), 200);
    v.finish()?;
    let today = crate::identity::company::today(tx).await?;
    let paid_on = req.paid_on.unwrap_or(today);
    let movement = Movement {
        kind: "refund",
        refund_of: Some(payment),
        amount,
        applied: amount,
        method: &original.method,
        reference,
        paid_on,
        external_ref,
    };
    let p = insert(tx, &inv, movement).await?;
    invoices::add_paid(tx, inv.id, -amount, today).await?;
    let minor = money::minor_units(&inv.currency).unwrap_or(2);
    Ok(Recorded {
        payment: p,
        invoice: invoices::get(tx, inv.id).await?,
        credited: money::to_minor(Decimal::ZERO, minor),
    })
}

/// The client's credit in each currency.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct CreditBalance {
    pub currency: String,
    pub amount: Decimal,
}

pub async fn credit(tx: &mut TenantTx, client: ClientId) -> DomainResult<Vec<CreditBalance>> {
    crate::customers::clients::ensure_exists(tx, client).await?;
    let tenant = tx.tenant();
    let rows: Vec<CreditBalance> = sqlx::query_as(
        "SELECT currency::text AS currency, sum(amount) AS amount FROM client_credits \
         WHERE company_id = $1 AND client_id = $2 GROUP BY currency HAVING sum(amount) <> 0 ORDER BY currency",
    )
    .bind(tenant)
    .bind(client)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|mut c| {
            c.amount = money::to_minor(c.amount, money::minor_units(&c.currency).unwrap_or(2));
            c
        })
        .collect())
}

/// Applies the client's credit to an invoice, up to its balance.
pub async fn apply_credit(
    tx: &mut TenantTx,
    invoice: InvoiceId,
    req: ApplyCreditRequest,
) -> DomainResult<Invoice> {
    let inv = invoices::lock_payable(tx, invoice).await?;
    let tenant = tx.tenant();
    // Lock the client's credit rows so two applications cannot spend it twice.
    let available: Decimal = sqlx::query_scalar(
        "SELECT COALESCE(sum(amount), 0) FROM (SELECT amount FROM client_credits \
         WHERE company_id = $1 AND client_id = $2 AND currency = $3 FOR UPDATE) c",
    )
    .bind(tenant)
    .bind(inv.client_id)
    .bind(&inv.currency)
    .fetch_one(tx.conn())
    .await?;
    let most = available.min(inv.balance);
    let amount = req.amount.unwrap_or(most);
    let mut v = ValidationErrors::new();
    check_amount(&mut v, "amount", amount, &inv.currency);
    if amount > most {
        v.add(
            "amount",
            "too_much",
            format!(
                "at most {most} can be applied (credit {available}, balance {})",
                inv.balance
            ),
        );
    }
    v.finish()?;
    let today = crate::identity::company::today(tx).await?;
    add_credit(
        tx,
        inv.client_id,
        &inv.currency,
        -amount,
        None,
        Some(inv.id),
        today,
    )
    .await?;
    invoices::add_paid(tx, inv.id, amount, today).await?;
    let after = invoices::get(tx, inv.id).await?;
    emit_paid(tx, &inv, &after).await?;
    Ok(after)
}

pub async fn get(tx: &mut TenantTx, id: PaymentId) -> DomainResult<Payment> {
    let tenant = tx.tenant();
    let row: Option<Payment> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM payments WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(Payment::shown)
        .ok_or(DomainError::not_found("payment"))
}

#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    pub client_id: Option<ClientId>,
    pub invoice_id: Option<InvoiceId>,
}

/// Newest first.
pub async fn list(
    tx: &mut TenantTx,
    f: &PaymentFilter,
    page: &PageRequest,
) -> DomainResult<Page<Payment>> {
    const FILTER: &str = "company_id = $1 AND ($2::uuid IS NULL OR client_id = $2) AND ($3::uuid IS NULL OR invoice_id = $3)";
    let tenant = tx.tenant();
    let rows: Vec<Payment> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM payments WHERE {FILTER} AND ($4::uuid IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
    )))
    .bind(tenant)
    .bind(f.client_id)
    .bind(f.invoice_id)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM payments WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(f.client_id)
    .bind(f.invoice_id)
    .fetch_one(tx.conn())
    .await?;
    let rows = rows.into_iter().map(Payment::shown).collect();
    Ok(Page::from_rows(rows, page, total, |p| Cursor {
        key: String::new(),
        id: p.id.as_uuid(),
    }))
}

/// One line of a statement of account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct StatementEntry {
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub date: NaiveDate,
    /// `invoice`, `payment`, `refund` or `credit_applied` (credit the
    /// client had moved onto the invoice `reference`: the balance does not
    /// change, since the payment that made the credit counted already).
    pub kind: String,
    pub reference: Option<String>,
    /// What the client owes more (+) or less (−); zero for `credit_applied`.
    pub amount: Decimal,
    /// For `credit_applied`: the credit applied.
    pub applied: Option<Decimal>,
    /// The balance after this entry.
    #[sqlx(default)]
    pub balance: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Statement {
    pub client_id: ClientId,
    pub currency: String,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub from: NaiveDate,
    #[serde(deserialize_with = "crate::kernel::dates::de")]
    pub to: NaiveDate,
    pub opening_balance: Decimal,
    pub entries: Vec<StatementEntry>,
    pub closing_balance: Decimal,
    /// Unapplied credit at the end of the period.
    pub credit: Decimal,
}

/// A client's statement of account in one currency for `[from, to]`:
/// finalized invoices (void ones excluded) owe, payments pay, refunds owe
/// again; credit applied to an invoice is listed and moves nothing.
pub async fn statement(
    tx: &mut TenantTx,
    client: ClientId,
    currency: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> DomainResult<Statement> {
    crate::customers::clients::ensure_exists(tx, client).await?;
    let tenant = tx.tenant();
    const ENTRIES: &str = "SELECT issue_date AS date, 'invoice' AS kind, number AS reference, total AS amount, \
          NULL::numeric AS applied \
          FROM invoices WHERE company_id = $1 AND client_id = $2 AND currency = $3 AND status NOT IN ('draft', 'void') \
        UNION ALL SELECT paid_on, kind, reference, CASE kind WHEN 'payment' THEN -amount ELSE amount END, NULL \
          FROM payments WHERE company_id = $1 AND client_id = $2 AND currency = $3 \
        UNION ALL SELECT c.on_date, 'credit_applied', i.number, 0, -c.amount \
          FROM client_credits c JOIN invoices i ON i.company_id = c.company_id AND i.id = c.invoice_id \
          WHERE c.company_id = $1 AND c.client_id = $2 AND c.currency = $3 AND c.amount < 0";
    let opening: Decimal = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COALESCE(sum(amount), 0) FROM ({ENTRIES}) e WHERE date < $4"
    )))
    .bind(tenant)
    .bind(client)
    .bind(currency)
    .bind(from)
    .fetch_one(tx.conn())
    .await?;
    let mut entries: Vec<StatementEntry> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT date, kind, reference, amount, applied FROM ({ENTRIES}) e WHERE date BETWEEN $4 AND $5 \
         ORDER BY date, CASE kind WHEN 'invoice' THEN 0 ELSE 1 END, reference"
    )))
    .bind(tenant)
    .bind(client)
    .bind(currency)
    .bind(from)
    .bind(to)
    .fetch_all(tx.conn())
    .await?;
    let minor = money::minor_units(currency).unwrap_or(2);
    let mut running = opening;
    for e in &mut entries {
        running += e.amount;
        e.amount = money::to_minor(e.amount, minor);
        e.applied = e.applied.map(|a| money::to_minor(a, minor));
        e.balance = money::to_minor(running, minor);
    }
    let credit: Decimal = sqlx::query_scalar(
        "SELECT COALESCE(sum(amount), 0) FROM client_credits \
         WHERE company_id = $1 AND client_id = $2 AND currency = $3 AND on_date <= $4",
    )
    .bind(tenant)
    .bind(client)
    .bind(currency)
    .bind(to)
    .fetch_one(tx.conn())
    .await?;
    Ok(Statement {
        client_id: client,
        currency: currency.to_owned(),
        from,
        to,
        opening_balance: money::to_minor(opening, minor),
        closing_balance: money::to_minor(running, minor),
        entries,
        credit: money::to_minor(credit, minor),
    })
}
