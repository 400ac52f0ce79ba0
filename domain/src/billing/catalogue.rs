//! The catalogue: tax rates, products with default prices, payment terms.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::error::OnConstraint;
use crate::kernel::money;
use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::validation::ValidationErrors;
use crate::{DomainError, DomainResult, PaymentTermId, ProductId, TaxRateId, TenantTx};

// ---- tax rates -------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct TaxRate {
    pub id: TaxRateId,
    pub name: String,
    /// Percent, e.g. "19.0000".
    pub percent: Decimal,
    /// Prices already contain this tax.
    pub inclusive: bool,
    /// Charged on the net plus the taxes listed before it (exclusive only).
    pub compound: bool,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRateInput {
    pub name: String,
    pub percent: Decimal,
    #[serde(default)]
    pub inclusive: bool,
    #[serde(default)]
    pub compound: bool,
}

// `trim_scale` drops the zeros NUMERIC(9,4) pads with; prices keep at least two decimals.
const TAX_COLUMNS: &str = "id, name, trim_scale(percent) AS percent, inclusive, compound, archived_at, created_at, updated_at";

fn validate_tax(v: &mut ValidationErrors, t: &TaxRateInput) -> String {
    let name = v.required_text("name", &t.name, 100);
    if t.percent < Decimal::ZERO || t.percent > Decimal::ONE_HUNDRED || t.percent.scale() > 4 {
        v.add(
            "percent",
            "out_of_range",
            "percent must be between 0 and 100 with at most 4 decimals",
        );
    }
    if t.inclusive && t.compound {
        v.add("compound", "invalid", "an inclusive tax cannot be compound");
    }
    name
}

fn tax_name_taken() -> DomainError {
    DomainError::conflict("tax_rate_name_taken", "a tax rate with this name exists")
}

pub async fn create_tax_rate(tx: &mut TenantTx, t: TaxRateInput) -> DomainResult<TaxRate> {
    let mut v = ValidationErrors::new();
    let name = validate_tax(&mut v, &t);
    v.finish()?;
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO tax_rates (id, company_id, name, percent, inclusive, compound, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {TAX_COLUMNS}"
    )))
    .bind(TaxRateId::new())
    .bind(tenant)
    .bind(name)
    .bind(t.percent)
    .bind(t.inclusive)
    .bind(t.compound)
    .bind(now)
    .fetch_one(tx.conn())
    .await
    .on_constraint("tax_rates_name_key", tax_name_taken)
}

/// Replaces a tax rate's fields. Invoices already issued keep the rate they
/// were issued with (their lines carry a copy).
pub async fn update_tax_rate(
    tx: &mut TenantTx,
    id: TaxRateId,
    t: TaxRateInput,
) -> DomainResult<TaxRate> {
    let mut v = ValidationErrors::new();
    let name = validate_tax(&mut v, &t);
    v.finish()?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Option<TaxRate> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE tax_rates SET name = $3, percent = $4, inclusive = $5, compound = $6, updated_at = $7 \
         WHERE company_id = $1 AND id = $2 RETURNING {TAX_COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(name)
    .bind(t.percent)
    .bind(t.inclusive)
    .bind(t.compound)
    .bind(now)
    .fetch_optional(tx.conn())
    .await
    .on_constraint("tax_rates_name_key", tax_name_taken)?;
    row.ok_or(DomainError::not_found("tax rate"))
}

pub async fn get_tax_rate(tx: &mut TenantTx, id: TaxRateId) -> DomainResult<TaxRate> {
    let tenant = tx.tenant();
    let row: Option<TaxRate> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TAX_COLUMNS} FROM tax_rates WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("tax rate"))
}

/// The rates with these ids, in the order given; 422 naming `field` if any
/// is unknown or archived.
pub async fn tax_rates_by_ids(
    tx: &mut TenantTx,
    ids: &[TaxRateId],
    field: &str,
) -> DomainResult<Vec<TaxRate>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let tenant = tx.tenant();
    let rows: Vec<TaxRate> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TAX_COLUMNS} FROM tax_rates WHERE company_id = $1 AND id = ANY($2) AND archived_at IS NULL"
    )))
    .bind(tenant)
    .bind(ids)
    .fetch_all(tx.conn())
    .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match rows.iter().find(|r| r.id == *id) {
            Some(r) => out.push(r.clone()),
            None => {
                let mut v = ValidationErrors::new();
                v.add(
                    field,
                    "unknown",
                    format!("tax rate {id} does not exist or is archived"),
                );
                return Err(DomainError::Validation(v));
            }
        }
    }
    Ok(out)
}

pub async fn list_tax_rates(
    tx: &mut TenantTx,
    include_archived: bool,
    page: &PageRequest,
) -> DomainResult<Page<TaxRate>> {
    let tenant = tx.tenant();
    let rows: Vec<TaxRate> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TAX_COLUMNS} FROM tax_rates WHERE company_id = $1 AND ($2 OR archived_at IS NULL) \
         AND ($3::text IS NULL OR (lower(name), id) > ($3, $4)) ORDER BY lower(name), id LIMIT $5"
    )))
    .bind(tenant)
    .bind(include_archived)
    .bind(page.after_key())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tax_rates WHERE company_id = $1 AND ($2 OR archived_at IS NULL)",
    )
    .bind(tenant)
    .bind(include_archived)
    .fetch_one(tx.conn())
    .await?;
    Ok(Page::from_rows(rows, page, total, |t| Cursor {
        key: t.name.to_lowercase(),
        id: t.id.as_uuid(),
    }))
}

/// Archives (`true`) or restores a tax rate: archived rates cannot be put on
/// new lines; documents that carry them keep them.
pub async fn set_tax_rate_archived(
    tx: &mut TenantTx,
    id: TaxRateId,
    archived: bool,
) -> DomainResult<TaxRate> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Option<TaxRate> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE tax_rates SET archived_at = CASE WHEN $3 THEN COALESCE(archived_at, $4) END, updated_at = $4 \
         WHERE company_id = $1 AND id = $2 RETURNING {TAX_COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(archived)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("tax rate"))
}

// ---- products -----------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    pub description: Option<String>,
    /// The default price, in the company's currency.
    pub unit_price: Decimal,
    /// Tax rates a line of this product gets by default.
    pub tax_rate_ids: Vec<TaxRateId>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    pub name: String,
    pub description: Option<String>,
    pub unit_price: Decimal,
    #[serde(default)]
    pub tax_rate_ids: Vec<TaxRateId>,
}

const PRODUCT_COLUMNS: &str =
    "id, name, description, unit_price, tax_rate_ids, archived_at, created_at, updated_at";

impl Product {
    /// The price by the money rule ([`money::to_price`]) in the company's
    /// currency.
    async fn shown(mut self, tx: &mut TenantTx) -> DomainResult<Product> {
        let minor = crate::identity::company::currency_minor(tx).await?;
        self.unit_price = money::to_price(self.unit_price, minor);
        Ok(self)
    }
}

fn product_name_taken() -> DomainError {
    DomainError::conflict("product_name_taken", "a product with this name exists")
}

async fn validate_product(
    tx: &mut TenantTx,
    p: &ProductInput,
) -> DomainResult<(String, Option<String>)> {
    let mut v = ValidationErrors::new();
    let name = v.required_text("name", &p.name, 200);
    let description = v.optional_text("description", p.description.as_deref(), 2000);
    if p.unit_price < Decimal::ZERO || p.unit_price.scale() > 4 {
        v.add(
            "unit_price",
            "invalid",
            "unit_price must be zero or more with at most 4 decimals",
        );
    } else {
        money::check_fits(&mut v, "unit_price", p.unit_price, money::AMOUNT);
    }
    if p.tax_rate_ids.len() > money::MAX_TAXES_PER_LINE {
        v.add(
            "tax_rate_ids",
            "too_many",
            format!("a product has at most {} taxes", money::MAX_TAXES_PER_LINE),
        );
    }
    v.finish()?;
    tax_rates_by_ids(tx, &p.tax_rate_ids, "tax_rate_ids").await?;
    Ok((name, description))
}

pub async fn create_product(tx: &mut TenantTx, p: ProductInput) -> DomainResult<Product> {
    let (name, description) = validate_product(tx, &p).await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let product: Product = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO products (id, company_id, name, description, unit_price, tax_rate_ids, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {PRODUCT_COLUMNS}"
    )))
    .bind(ProductId::new())
    .bind(tenant)
    .bind(name)
    .bind(description)
    .bind(p.unit_price)
    .bind(&p.tax_rate_ids)
    .bind(now)
    .fetch_one(tx.conn())
    .await
    .on_constraint("products_name_key", product_name_taken)?;
    product.shown(tx).await
}

pub async fn update_product(
    tx: &mut TenantTx,
    id: ProductId,
    p: ProductInput,
) -> DomainResult<Product> {
    let (name, description) = validate_product(tx, &p).await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Option<Product> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE products SET name = $3, description = $4, unit_price = $5, tax_rate_ids = $6, updated_at = $7 \
         WHERE company_id = $1 AND id = $2 RETURNING {PRODUCT_COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(name)
    .bind(description)
    .bind(p.unit_price)
    .bind(&p.tax_rate_ids)
    .bind(now)
    .fetch_optional(tx.conn())
    .await
    .on_constraint("products_name_key", product_name_taken)?;
    row.ok_or(DomainError::not_found("product"))?
        .shown(tx)
        .await
}

pub async fn get_product(tx: &mut TenantTx, id: ProductId) -> DomainResult<Product> {
    product(tx, id).await?.shown(tx).await
}

/// A product with its price as stored, for pricing.
pub(crate) async fn product(tx: &mut TenantTx, id: ProductId) -> DomainResult<Product> {
    let tenant = tx.tenant();
    let row: Option<Product> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("product"))
}

pub async fn list_products(
    tx: &mut TenantTx,
    q: Option<&str>,
    include_archived: bool,
    page: &PageRequest,
) -> DomainResult<Page<Product>> {
    const FILTER: &str =
        "company_id = $1 AND ($2 OR archived_at IS NULL) AND ($3::text IS NULL OR name ILIKE $3)";
    let tenant = tx.tenant();
    let q = q.map(crate::kernel::pagination::like_pattern);
    let rows: Vec<Product> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE {FILTER} \
         AND ($4::text IS NULL OR (lower(name), id) > ($4, $5)) ORDER BY lower(name), id LIMIT $6"
    )))
    .bind(tenant)
    .bind(include_archived)
    .bind(&q)
    .bind(page.after_key())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM products WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(include_archived)
    .bind(&q)
    .fetch_one(tx.conn())
    .await?;
    let minor = crate::identity::company::currency_minor(tx).await?;
    let rows = rows
        .into_iter()
        .map(|mut p| {
            p.unit_price = money::to_price(p.unit_price, minor);
            p
        })
        .collect();
    Ok(Page::from_rows(rows, page, total, |p| Cursor {
        key: p.name.to_lowercase(),
        id: p.id.as_uuid(),
    }))
}

pub async fn set_product_archived(
    tx: &mut TenantTx,
    id: ProductId,
    archived: bool,
) -> DomainResult<Product> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Option<Product> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE products SET archived_at = CASE WHEN $3 THEN COALESCE(archived_at, $4) END, updated_at = $4 \
         WHERE company_id = $1 AND id = $2 RETURNING {PRODUCT_COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(archived)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("product"))?
        .shown(tx)
        .await
}

// ---- payment terms ----------------------------------------------------------------

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct PaymentTerm {
    pub id: PaymentTermId,
    pub name: String,
    /// Net days: the due date is the issue date plus these.
    pub days: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentTermInput {
    pub name: String,
    pub days: i32,
}

const TERM_COLUMNS: &str = "id, name, days, created_at, updated_at";

fn term_name_taken() -> DomainError {
    DomainError::conflict(
        "payment_term_name_taken",
        "payment terms with this name exist",
    )
}

fn validate_term(v: &mut ValidationErrors, t: &PaymentTermInput) -> String {
    let name = v.required_text("name", &t.name, 100);
    if !(0..=365).contains(&t.days) {
        v.add("days", "out_of_range", "days must be between 0 and 365");
    }
    name
}

pub async fn create_payment_term(
    tx: &mut TenantTx,
    t: PaymentTermInput,
) -> DomainResult<PaymentTerm> {
    let mut v = ValidationErrors::new();
    let name = validate_term(&mut v, &t);
    v.finish()?;
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO payment_terms (id, company_id, name, days, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING {TERM_COLUMNS}"
    )))
    .bind(PaymentTermId::new())
    .bind(tenant)
    .bind(name)
    .bind(t.days)
    .bind(now)
    .fetch_one(tx.conn())
    .await
    .on_constraint("payment_terms_name_key", term_name_taken)
}

pub async fn update_payment_term(
    tx: &mut TenantTx,
    id: PaymentTermId,
    t: PaymentTermInput,
) -> DomainResult<PaymentTerm> {
    let mut v = ValidationErrors::new();
    let name = validate_term(&mut v, &t);
    v.finish()?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Option<PaymentTerm> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE payment_terms SET name = $3, days = $4, updated_at = $5 \
         WHERE company_id = $1 AND id = $2 RETURNING {TERM_COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(name)
    .bind(t.days)
    .bind(now)
    .fetch_optional(tx.conn())
    .await
    .on_constraint("payment_terms_name_key", term_name_taken)?;
    row.ok_or(DomainError::not_found("payment terms"))
}

pub async fn list_payment_terms(
    tx: &mut TenantTx,
    page: &PageRequest,
) -> DomainResult<Page<PaymentTerm>> {
    let tenant = tx.tenant();
    let rows: Vec<PaymentTerm> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TERM_COLUMNS} FROM payment_terms WHERE company_id = $1 \
         AND ($2::text IS NULL OR (lower(name), id) > ($2, $3)) ORDER BY lower(name), id LIMIT $4"
    )))
    .bind(tenant)
    .bind(page.after_key())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM payment_terms WHERE company_id = $1")
        .bind(tenant)
        .fetch_one(tx.conn())
        .await?;
    Ok(Page::from_rows(rows, page, total, |t| Cursor {
        key: t.name.to_lowercase(),
        id: t.id.as_uuid(),
    }))
}

pub async fn delete_payment_term(tx: &mut TenantTx, id: PaymentTermId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let done = sqlx::query("DELETE FROM payment_terms WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::not_found("payment terms"));
    }
    Ok(())
}
