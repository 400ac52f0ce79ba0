//! Companies: the tenants, and their settings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;

use crate::kernel::error::OnConstraint;
use crate::kernel::priority::Priority;
use crate::kernel::validation::ValidationErrors;
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

/// What every document shows of the company besides its name and address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    /// VAT number or other tax id, printed under the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    /// `#rrggbb`; rules and table headers are drawn in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<String>,
    /// Printed at the foot of every page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    /// How to pay: bank details, a link; printed on invoices and reminders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_instructions: Option<String>,
}

/// The accent colour documents use when a company has not chosen one.
pub const DEFAULT_ACCENT: &str = "#1f4e79";

impl Branding {
    pub fn validated(self, v: &mut ValidationErrors) -> Branding {
        let accent = self
            .accent_color
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty());
        if let Some(c) = &accent
            && !(c.len() == 7
                && c.starts_with('#')
                && c[1..].chars().all(|ch| ch.is_ascii_hexdigit()))
        {
            v.add(
                "branding.accent_color",
                "invalid",
                "accent_color must be a colour like #1f4e79",
            );
        }
        Branding {
            tax_id: v.optional_text("branding.tax_id", self.tax_id.as_deref(), 50),
            accent_color: accent,
            footer: v.optional_text("branding.footer", self.footer.as_deref(), 500),
            payment_instructions: v.optional_text(
                "branding.payment_instructions",
                self.payment_instructions.as_deref(),
                1000,
            ),
        }
    }

    pub fn accent(&self) -> &str {
        self.accent_color.as_deref().unwrap_or(DEFAULT_ACCENT)
    }
}

/// Days after the due date an unpaid invoice is reminded of, unless the
/// company's `settings.reminder_days` says otherwise.
pub const DEFAULT_REMINDER_DAYS: &[i32] = &[3, 7, 14];

fn validate_reminder_days(v: &mut ValidationErrors, settings: &serde_json::Value) {
    let Some(days) = settings.get("reminder_days") else {
        return;
    };
    let ok = days.as_array().is_some_and(|a| {
        a.len() <= 10
            && a.iter()
                .all(|d| d.as_i64().is_some_and(|d| (1..=365).contains(&d)))
    });
    if !ok {
        v.add(
            "settings.reminder_days",
            "invalid",
            "reminder_days must be a list of at most 10 whole days between 1 and 365",
        );
    }
}

/// Automatic acknowledgements of new tickets one sender gets in an hour,
/// unless `settings.acknowledgements_per_sender_hour` says otherwise.
pub const DEFAULT_ACKS_PER_SENDER_HOUR: i64 = 5;

fn validate_ack_limit(v: &mut ValidationErrors, settings: &serde_json::Value) {
    let Some(n) = settings.get("acknowledgements_per_sender_hour") else {
        return;
    };
    if !n.as_i64().is_some_and(|n| (0..=1000).contains(&n)) {
        v.add(
            "settings.acknowledgements_per_sender_hour",
            "invalid",
            "acknowledgements_per_sender_hour must be a whole number from 0 (never acknowledge) to 1000",
        );
    }
}

fn validate_default_rate(v: &mut ValidationErrors, settings: &serde_json::Value) {
    let Some(r) = settings.get("default_hourly_rate") else {
        return;
    };
    let rate = r
        .as_str()
        .and_then(|r| r.parse::<rust_decimal::Decimal>().ok());
    match rate {
        Some(rate) => {
            crate::kernel::money::validate_rate(v, "settings.default_hourly_rate", Some(rate));
        }
        None if r.is_null() => {}
        None => v.add(
            "settings.default_hourly_rate",
            "invalid",
            "default_hourly_rate must be a decimal amount as a string, such as \"95.00\"",
        ),
    }
}

/// The setting that overrides the invoice number pattern (`INV-{YYYY}-{SEQ:6}`).
pub const INVOICE_NUMBER_PATTERN: &str = "invoice_number_pattern";
/// The setting that overrides the quote number pattern (`QUO-{YYYY}-{SEQ:6}`).
pub const QUOTE_NUMBER_PATTERN: &str = "quote_number_pattern";

/// The number patterns ([`INVOICE_NUMBER_PATTERN`], [`QUOTE_NUMBER_PATTERN`]):
/// absent or `null` for the default, else a pattern
/// [`crate::kernel::number_pattern::NumberPattern::parse`] accepts, so a bad one is
/// refused when set rather than when a document is finalized.
fn validate_number_patterns(v: &mut ValidationErrors, settings: &serde_json::Value) {
    for key in [INVOICE_NUMBER_PATTERN, QUOTE_NUMBER_PATTERN] {
        let field = format!("settings.{key}");
        match settings.get(key) {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(p)) => {
                crate::kernel::number_pattern::validate(v, &field, p)
            }
            Some(_) => v.add(
                &field,
                "invalid",
                format!("{key} must be a pattern such as \"INV-{{YYYY}}-{{SEQ:6}}\""),
            ),
        }
    }
}

/// Most addresses the monthly management report goes to.
pub const MAX_REPORT_RECIPIENTS: usize = 20;

fn validate_report_recipients(v: &mut ValidationErrors, settings: &serde_json::Value) {
    let Some(r) = settings.get("report_recipients") else {
        return;
    };
    let ok = match r {
        serde_json::Value::Null => true,
        serde_json::Value::Array(a) => {
            a.len() <= MAX_REPORT_RECIPIENTS
                && a.iter().all(|e| {
                    e.as_str()
                        .is_some_and(crate::kernel::validation::is_valid_email)
                })
        }
        _ => false,
    };
    if !ok {
        v.add(
            "settings.report_recipients",
            "invalid",
            format!(
                "report_recipients must be a list of at most {MAX_REPORT_RECIPIENTS} e-mail addresses"
            ),
        );
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Company {
    pub id: TenantId,
    pub name: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    pub locale: String,
    pub address: Address,
    pub branding: Branding,
    /// Settings: `invoice_number_pattern`, `quote_number_pattern`,
    /// `reminder_days` (default [3, 7, 14]), `acknowledgements_per_sender_hour`
    /// (default 5), `default_hourly_rate` (a decimal string; none by default),
    /// `report_recipients` (the finance list the monthly management report
    /// is mailed to; by default the accountants and admins)
    /// and anything else.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    /// The client portal's address: `/portal/{portal_slug}`. Lowercase
    /// letters, digits and hyphens, 3 to 63 characters, no hyphen first or
    /// last; unique across tenants.
    pub portal_slug: String,
    /// Days after a ticket is closed that a contact may still reopen it.
    pub portal_reopen_days: i32,
    /// The ticket priorities contacts may choose in the portal.
    pub portal_priorities: Vec<Priority>,
    /// Whether contacts see their client's assets in the portal.
    pub portal_show_assets: bool,
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
    branding: serde_json::Value,
    settings: serde_json::Value,
    portal_slug: String,
    portal_reopen_days: i32,
    portal_priorities: Vec<String>,
    portal_show_assets: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<CompanyRow> for Company {
    fn from(r: CompanyRow) -> Self {
        let mut settings = r.settings;
        // A rate is shown by the money rule ("95" as "95.00" in EUR).
        let minor = crate::kernel::money::minor_units(r.currency.trim()).unwrap_or(2);
        if let Some(rate) = settings.get_mut("default_hourly_rate")
            && let Some(d) = rate
                .as_str()
                .and_then(|r| r.parse::<rust_decimal::Decimal>().ok())
        {
            *rate = crate::kernel::money::to_price(d, minor).to_string().into();
        }
        Company {
            id: r.id,
            name: r.name,
            time_zone: r.time_zone,
            currency: r.currency,
            locale: r.locale,
            address: Address::from_json(r.address),
            branding: serde_json::from_value(r.branding).unwrap_or_default(),
            settings,
            portal_slug: r.portal_slug,
            portal_reopen_days: r.portal_reopen_days,
            portal_priorities: r
                .portal_priorities
                .iter()
                .filter_map(|p| Priority::parse(p))
                .collect(),
            portal_show_assets: r.portal_show_assets,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The digits of the company's currency: how its money is shown.
pub async fn currency_minor(tx: &mut TenantTx) -> DomainResult<u32> {
    let tenant = tx.tenant();
    let currency: Option<String> =
        sqlx::query_scalar("SELECT currency::text FROM companies WHERE id = $1")
            .bind(tenant)
            .fetch_optional(tx.conn())
            .await?;
    let currency = currency.ok_or(DomainError::not_found("company"))?;
    Ok(crate::kernel::money::minor_units(currency.trim()).unwrap_or(2))
}

const COLUMNS: &str = "id, name, time_zone, currency, locale, address, branding, settings, \
    portal_slug, portal_reopen_days, portal_priorities, portal_show_assets, created_at, updated_at";

/// A change to a company's settings; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyPatch {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub currency: Option<String>,
    pub locale: Option<String>,
    pub address: Option<Address>,
    /// Replaces the branding.
    pub branding: Option<Branding>,
    /// Replaces the settings object.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Value>,
    /// The portal's address; taken by another company: 409 `slug_taken`.
    pub portal_slug: Option<String>,
    /// 0 to 365.
    pub portal_reopen_days: Option<i32>,
    /// At least one priority, each once.
    pub portal_priorities: Option<Vec<Priority>>,
    pub portal_show_assets: Option<bool>,
}

/// Slugs that are also static segments of the portal's API
/// (`/api/v1/portal/tickets`, ...), never a company's (kept in step with
/// the database's `portal_slug_reserved`).
pub const RESERVED_PORTAL_SLUGS: [&str; 9] = [
    "auth",
    "me",
    "tickets",
    "invoices",
    "quotes",
    "assets",
    "statement",
    "brand",
    "logo",
];

/// Whether `slug` is a portal slug: lowercase ASCII letters, digits and
/// hyphens, 3 to 63 characters, not starting or ending with a hyphen, and
/// not one of [`RESERVED_PORTAL_SLUGS`].
pub fn is_valid_portal_slug(slug: &str) -> bool {
    !RESERVED_PORTAL_SLUGS.contains(&slug)
        && (3..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

fn validate_portal(v: &mut ValidationErrors, patch: &CompanyPatch) {
    if let Some(slug) = &patch.portal_slug
        && !is_valid_portal_slug(slug)
    {
        v.add(
            "portal_slug",
            "invalid",
            "portal_slug must be 3 to 63 lowercase letters, digits and hyphens, \
             not starting or ending with a hyphen, and not a word the portal's \
             addresses use (tickets, invoices, quotes, assets, statement, auth)",
        );
    }
    if let Some(d) = patch.portal_reopen_days
        && !(0..=365).contains(&d)
    {
        v.add(
            "portal_reopen_days",
            "invalid",
            "portal_reopen_days must be between 0 and 365",
        );
    }
    if let Some(p) = &patch.portal_priorities {
        let mut seen = p.clone();
        seen.sort_by_key(|p| p.as_str());
        seen.dedup();
        if p.is_empty() || seen.len() != p.len() {
            v.add(
                "portal_priorities",
                "invalid",
                "portal_priorities must name at least one priority, each once",
            );
        }
    }
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
    if crate::kernel::money::minor_units(c).is_none() {
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
    /// How many acknowledgements one sender gets in an hour.
    pub fn acks_per_sender_hour(&self) -> i64 {
        self.settings
            .get("acknowledgements_per_sender_hour")
            .and_then(|n| n.as_i64())
            .unwrap_or(DEFAULT_ACKS_PER_SENDER_HOUR)
    }

    /// The hourly rate of time when neither the user nor the client has one.
    pub fn default_hourly_rate(&self) -> Option<rust_decimal::Decimal> {
        self.settings
            .get("default_hourly_rate")
            .and_then(|r| r.as_str())
            .and_then(|r| r.parse().ok())
    }

    /// The finance list for the monthly management report, as configured
    /// (empty: the accountants and admins get it).
    pub fn report_recipients(&self) -> Vec<String> {
        match self.settings.get("report_recipients") {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|e| e.as_str())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The days after the due date reminders go out, ascending.
    pub fn reminder_days(&self) -> Vec<i32> {
        let mut days: Vec<i32> = match self.settings.get("reminder_days") {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|d| d.as_i64())
                .filter(|d| (1..=365).contains(d))
                .map(|d| d as i32)
                .collect(),
            _ => DEFAULT_REMINDER_DAYS.to_vec(),
        };
        days.sort_unstable();
        days.dedup();
        days
    }

    /// The company's time zone (UTC if the stored name is unknown).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The calendar date in the company's time zone at `now`.
    pub fn today(&self, now: DateTime<Utc>) -> chrono::NaiveDate {
        crate::kernel::dates::local_date(now, self.zone())
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
    validate_portal(&mut v, &patch);
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
    if let Some(s) = &patch.settings {
        validate_reminder_days(&mut v, s);
        validate_ack_limit(&mut v, s);
        validate_default_rate(&mut v, s);
        validate_report_recipients(&mut v, s);
        validate_number_patterns(&mut v, s);
    }
    let branding = patch.branding.map(|b| b.validated(&mut v));
    v.finish()?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let time_zone = patch.time_zone;
    let row: CompanyRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE companies SET name = COALESCE($2, name), time_zone = COALESCE($3, time_zone), \
         currency = COALESCE($4, currency), locale = COALESCE($5, locale), \
         address = COALESCE($6, address), settings = COALESCE($7, settings), updated_at = $8, \
         branding = COALESCE($9, branding), portal_slug = COALESCE($10, portal_slug), \
         portal_reopen_days = COALESCE($11, portal_reopen_days), \
         portal_priorities = COALESCE($12, portal_priorities), \
         portal_show_assets = COALESCE($13, portal_show_assets) WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(name)
    .bind(&time_zone)
    .bind(patch.currency)
    .bind(patch.locale)
    .bind(address.map(|a| a.to_json()))
    .bind(patch.settings)
    .bind(now)
    .bind(branding.map(|b| serde_json::to_value(b).unwrap_or_default()))
    .bind(patch.portal_slug)
    .bind(patch.portal_reopen_days)
    .bind(
        patch
            .portal_priorities
            .map(|p| p.iter().map(|p| p.as_str()).collect::<Vec<_>>()),
    )
    .bind(patch.portal_show_assets)
    .fetch_one(tx.conn())
    .await
    .on_constraint("companies_portal_slug_key", || {
        DomainError::conflict(
            "slug_taken",
            "another company's portal has this address; choose another portal_slug",
        )
    })?;
    // Schedules that follow the company's time zone move with it.
    if let Some(tz) = &time_zone {
        crate::platform::schedules::follow_company_time_zone(tx, tz).await?;
    }
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
        "INSERT INTO companies (id, name, time_zone, currency, portal_slug, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, portal_free_slug($2), $5, $5) RETURNING {COLUMNS}"
    )))
    .bind(TenantId::new())
    .bind(&name)
    .bind(time_zone)
    .bind(currency)
    .bind(now)
    .fetch_one(&mut *owner)
    .await?;
    crate::platform::schedules::create_defaults(owner, row.id, &row.time_zone, now).await?;
    Ok((row.into(), true))
}

/// A company's logo as uploaded.
#[derive(Debug, Clone)]
pub struct Logo {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Largest logo accepted.
pub const MAX_LOGO_BYTES: usize = 512 * 1024;

/// Checks a logo is what its content type says: a PNG by its signature, an
/// SVG by an `<svg` element in UTF-8 text.
pub fn validate_logo(content_type: &str, bytes: &[u8]) -> DomainResult<()> {
    let mut v = ValidationErrors::new();
    if bytes.is_empty() {
        v.add("logo", "required", "the logo is empty");
    } else if bytes.len() > MAX_LOGO_BYTES {
        v.add("logo", "too_large", "the logo must be at most 512 KiB");
    } else {
        match content_type {
            "image/png" => {
                if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
                    v.add("logo", "invalid", "the body is not a PNG image");
                }
            }
            "image/svg+xml" => {
                let ok = std::str::from_utf8(bytes).is_ok_and(|s| s.contains("<svg"));
                if !ok {
                    v.add("logo", "invalid", "the body is not an SVG image");
                }
            }
            _ => v.add(
                "logo",
                "unsupported_type",
                "the logo must be image/png or image/svg+xml",
            ),
        }
    }
    v.finish()
}

pub async fn set_logo(tx: &mut TenantTx, content_type: &str, bytes: Vec<u8>) -> DomainResult<()> {
    validate_logo(content_type, &bytes)?;
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "INSERT INTO company_logos (company_id, content_type, bytes, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (company_id) DO UPDATE SET content_type = $2, bytes = $3, updated_at = $4",
    )
    .bind(tenant)
    .bind(content_type)
    .bind(bytes)
    .bind(now)
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE companies SET updated_at = $2 WHERE id = $1")
        .bind(tenant)
        .bind(now)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn logo(tx: &mut TenantTx) -> DomainResult<Option<Logo>> {
    let tenant = tx.tenant();
    let row: Option<(String, Vec<u8>)> =
        sqlx::query_as("SELECT content_type, bytes FROM company_logos WHERE company_id = $1")
            .bind(tenant)
            .fetch_optional(tx.conn())
            .await?;
    Ok(row.map(|(content_type, bytes)| Logo {
        content_type,
        bytes,
    }))
}

/// Whether the company has a logo, without reading it (every portal page
/// asks).
pub async fn has_logo(tx: &mut TenantTx) -> DomainResult<bool> {
    let tenant = tx.tenant();
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM company_logos WHERE company_id = $1)")
            .bind(tenant)
            .fetch_one(tx.conn())
            .await?,
    )
}

pub async fn delete_logo(tx: &mut TenantTx) -> DomainResult<bool> {
    let tenant = tx.tenant();
    let n = sqlx::query("DELETE FROM company_logos WHERE company_id = $1")
        .bind(tenant)
        .execute(tx.conn())
        .await?
        .rows_affected();
    Ok(n > 0)
}
