//! Companies: the tenants, and their settings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;

use crate::validation::ValidationErrors;
use crate::{DomainError, DomainResult, TenantId, TenantTx};

/// Locales documents and mail are formatted for.
pub const LOCALES: &[&str] = &[
    "en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "it-IT", "nl-NL",
];

/// A postal address. Every field is optional; `country` is ISO 3166-1 alpha-2.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Address {
    /// Trims every field, drops empty ones, checks lengths and the country code.
    pub fn validated(self, v: &mut ValidationErrors, prefix: &str) -> Address {
        let mut field = |name: &str, val: Option<String>, max: usize| {
            v.optional_text(&format!("{prefix}.{name}"), val.as_deref(), max)
        };
        let a = Address {
            line1: field("line1", self.line1, 200),
            line2: field("line2", self.line2, 200),
            city: field("city", self.city, 100),
            region: field("region", self.region, 100),
            postal_code: field("postal_code", self.postal_code, 20),
            country: self
                .country
                .map(|c| c.trim().to_ascii_uppercase())
                .filter(|c| !c.is_empty()),
        };
        if let Some(c) = &a.country
            && (c.len() != 2 || !c.chars().all(|c| c.is_ascii_alphabetic()))
        {
            v.add(
                &format!("{prefix}.country"),
                "invalid",
                "country must be an ISO 3166-1 alpha-2 code",
            );
        }
        a
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    pub fn from_json(v: serde_json::Value) -> Address {
        serde_json::from_value(v).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Company {
    pub id: TenantId,
    pub name: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    pub locale: String,
    pub address: Address,
    /// Free-form settings object.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct CompanyRow {
    id: TenantId,
    name: String,
    time_zone: String,
    currency: String,
    locale: String,
    address: serde_json::Value,
    settings: serde_json::Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<CompanyRow> for Company {
    fn from(r: CompanyRow) -> Self {
        Company {
            id: r.id,
            name: r.name,
            time_zone: r.time_zone,
            currency: r.currency,
            locale: r.locale,
            address: Address::from_json(r.address),
            settings: r.settings,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str =
    "id, name, time_zone, currency, locale, address, settings, created_at, updated_at";

/// A change to a company's settings; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyPatch {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub currency: Option<String>,
    pub locale: Option<String>,
    pub address: Option<Address>,
    /// Replaces the settings object.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Value>,
}

pub fn validate_time_zone(v: &mut ValidationErrors, tz: &str) {
    if tz.parse::<chrono_tz::Tz>().is_err() {
        v.add(
            "time_zone",
            "invalid",
            "time_zone must be an IANA time zone such as Europe/Berlin",
        );
    }
}

pub fn validate_currency(v: &mut ValidationErrors, c: &str) {
    if crate::money::minor_units(c).is_none() {
        v.add(
            "currency",
            "invalid",
            "currency must be a supported ISO 4217 code such as EUR",
        );
    }
}

pub fn validate_locale(v: &mut ValidationErrors, l: &str) {
    if !LOCALES.contains(&l) {
        v.add(
            "locale",
            "invalid",
            format!("locale must be one of {}", LOCALES.join(", ")),
        );
    }
}

impl Company {
    /// The company's time zone (UTC if the stored name is unknown).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The calendar date in the company's time zone at `now`.
    pub fn today(&self, now: DateTime<Utc>) -> chrono::NaiveDate {
        crate::billing_periods::local_date(now, self.zone())
    }
}

/// Today in the tenant's time zone, by the transaction's clock.
pub async fn today(tx: &mut TenantTx) -> DomainResult<chrono::NaiveDate> {
    let company = get(tx).await?;
    Ok(company.today(tx.now()))
}

pub async fn get(tx: &mut TenantTx) -> DomainResult<Company> {
    let tenant = tx.tenant();
    let row: Option<CompanyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM companies WHERE id = $1"
    )))
    .bind(tenant)
    .fetch_optional(tx.conn())
    .await?;
    row.map(Company::from)
        .ok_or(DomainError::not_found("company"))
}

pub async fn update(tx: &mut TenantTx, patch: CompanyPatch) -> DomainResult<Company> {
    let mut v = ValidationErrors::new();
    let name = patch
        .name
        .as_deref()
        .map(|n| v.required_text("name", n, 200));
    if let Some(tz) = &patch.time_zone {
        validate_time_zone(&mut v, tz);
    }
    if let Some(c) = &patch.currency {
        validate_currency(&mut v, c);
    }
    if let Some(l) = &patch.locale {
        validate_locale(&mut v, l);
    }
    let address = patch.address.map(|a| a.validated(&mut v, "address"));
    if let Some(s) = &patch.settings
        && !s.is_object()
    {
        v.add("settings", "invalid", "settings must be a JSON object");
    }
    v.finish()?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: CompanyRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE companies SET name = COALESCE($2, name), time_zone = COALESCE($3, time_zone), \
         currency = COALESCE($4, currency), locale = COALESCE($5, locale), \
         address = COALESCE($6, address), settings = COALESCE($7, settings), updated_at = $8 \
         WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(name)
    .bind(patch.time_zone)
    .bind(patch.currency)
    .bind(patch.locale)
    .bind(address.map(|a| a.to_json()))
    .bind(patch.settings)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok(row.into())
}

/// Creates a company, or returns the oldest one of the same name (names are
/// not unique: a tenant must not learn another's name by a clash). Only the
/// owner connection (seeding, provisioning) may do this: no tenant can.
pub async fn create_or_get(
    owner: &mut PgConnection,
    name: &str,
    time_zone: &str,
    currency: &str,
    now: DateTime<Utc>,
) -> DomainResult<(Company, bool)> {
    let mut v = ValidationErrors::new();
    let name = v.required_text("name", name, 200);
    validate_time_zone(&mut v, time_zone);
    validate_currency(&mut v, currency);
    v.finish()?;
    let existing: Option<CompanyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM companies WHERE lower(name) = lower($1) ORDER BY id LIMIT 1"
    )))
    .bind(&name)
    .fetch_optional(&mut *owner)
    .await?;
    if let Some(row) = existing {
        return Ok((row.into(), false));
    }
    let row: CompanyRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO companies (id, name, time_zone, currency, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COLUMNS}"
    )))
    .bind(TenantId::new())
    .bind(&name)
    .bind(time_zone)
    .bind(currency)
    .bind(now)
    .fetch_one(&mut *owner)
    .await?;
    crate::schedules::create_defaults(owner, row.id, &row.time_zone, now).await?;
    Ok((row.into(), true))
}
