//! Document numbers: unique and gapless per tenant, from the company's
//! pattern ([`NumberPattern`]), allocated in the transaction that finalizes
//! the document (a rolled-back finalization consumes no number).

use chrono::NaiveDate;

use crate::kernel::number_pattern::NumberPattern;
use crate::kernel::validation::ValidationErrors;
use crate::{DomainError, DomainResult, TenantTx};

/// The next number of `kind` for a document dated `date`. Concurrent
/// finalizations queue on the counter's row, so numbers are unique and
/// gapless.
pub async fn allocate(
    tx: &mut TenantTx,
    kind: &str,
    pattern: &NumberPattern,
    date: NaiveDate,
) -> DomainResult<String> {
    let tenant = tx.tenant();
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO number_sequences (company_id, kind, scope, last_value) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (company_id, kind, scope) DO UPDATE SET last_value = number_sequences.last_value + 1 \
         RETURNING last_value",
    )
    .bind(tenant)
    .bind(kind)
    .bind(pattern.scope(date))
    .fetch_one(tx.conn())
    .await?;
    Ok(pattern.render(date, seq))
}

/// Reserves `n` consecutive numbers of `kind` in `scope` at once; returns
/// the first sequence value. Held until the transaction ends, like
/// [`allocate`], so take it as late as possible.
pub async fn allocate_range(
    tx: &mut TenantTx,
    kind: &str,
    scope: &str,
    n: i64,
) -> DomainResult<i64> {
    let tenant = tx.tenant();
    let last: i64 = sqlx::query_scalar(
        "INSERT INTO number_sequences (company_id, kind, scope, last_value) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (company_id, kind, scope) DO UPDATE SET last_value = number_sequences.last_value + $4 \
         RETURNING last_value",
    )
    .bind(tenant)
    .bind(kind)
    .bind(scope)
    .bind(n)
    .fetch_one(tx.conn())
    .await?;
    Ok(last - n + 1)
}

/// The next number of `kind` for a document dated `date`, from the
/// company's pattern setting `setting` (or `default`).
pub async fn next(
    tx: &mut TenantTx,
    kind: &str,
    setting: &str,
    default: &str,
    date: NaiveDate,
) -> DomainResult<String> {
    let company = crate::identity::company::get(tx).await?;
    let pattern = pattern_from_settings(&company.settings, setting, default)?;
    allocate(tx, kind, &pattern, date).await
}

/// The company's pattern for `kind` from its settings, or `default`.
pub fn pattern_from_settings(
    settings: &serde_json::Value,
    key: &str,
    default: &str,
) -> DomainResult<NumberPattern> {
    let raw = settings
        .get(key)
        .and_then(|v| v.as_str())
        .unwrap_or(default);
    NumberPattern::parse(raw).map_err(|e| {
        let mut v = ValidationErrors::new();
        v.add(
            &format!("settings.{key}"),
            "invalid",
            format!("the company's {key} is invalid: {e}"),
        );
        DomainError::Validation(v)
    })
}
