//! Assets: a client's devices and licences, their warranties and history.
//!
//! Every change is recorded as an event naming each field that changed with
//! its old and new value. Warranty alerts are recorded once per asset,
//! threshold and expiry date, so a changed expiry alerts again.

use std::net::IpAddr;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::pagination::{Cursor, Page, PageRequest, like_pattern};
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::{
    AssetId, ClientId, ContactId, DomainError, DomainResult, LocationId, MailId, TenantTx, UserId,
    identity::company, kernel::money,
};

/// Most ids one bulk request may name.
pub const MAX_BULK: usize = 500;
/// The days before expiry a warranty alert goes out, largest first.
pub const WARRANTY_THRESHOLDS: [i32; 3] = [30, 7, 1];
/// The largest window of the expiring-warranties list, in days.
pub const MAX_EXPIRING_DAYS: i64 = 365;

text_enum!(AssetType {
    Workstation = "workstation",
    Laptop = "laptop",
    Server = "server",
    /// Switches, routers, firewalls, access points.
    Network = "network",
    Printer = "printer",
    Mobile = "mobile",
    SoftwareLicence = "software_licence",
    Other = "other",
});

text_enum!(AssetStatus {
    InUse = "in_use",
    Spare = "spare",
    InRepair = "in_repair",
    /// Out of service: no warranty alerts.
    Retired = "retired",
});

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Asset {
    pub id: AssetId,
    pub client_id: ClientId,
    pub name: String,
    #[serde(rename = "type")]
    pub asset_type: AssetType,
    pub make: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub hostname: Option<String>,
    /// An IPv4 or IPv6 address.
    pub ip_address: Option<String>,
    /// Lower case, colon-separated: `aa:bb:cc:dd:ee:ff`.
    pub mac_address: Option<String>,
    pub operating_system: Option<String>,
    /// A location of the asset's client.
    pub location_id: Option<LocationId>,
    /// A contact of the asset's client: who uses it.
    pub contact_id: Option<ContactId>,
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub purchase_date: Option<NaiveDate>,
    #[schema(value_type = Option<String>, example = "1299.00")]
    pub purchase_cost: Option<Decimal>,
    /// The currency of the purchase cost.
    pub currency: String,
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub warranty_expires: Option<NaiveDate>,
    pub status: AssetStatus,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: AssetId,
    client_id: ClientId,
    name: String,
    asset_type: String,
    make: Option<String>,
    model: Option<String>,
    serial: Option<String>,
    hostname: Option<String>,
    ip_address: Option<String>,
    mac_address: Option<String>,
    operating_system: Option<String>,
    location_id: Option<LocationId>,
    contact_id: Option<ContactId>,
    purchase_date: Option<NaiveDate>,
    purchase_cost: Option<Decimal>,
    currency: String,
    warranty_expires: Option<NaiveDate>,
    status: String,
    notes: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Asset {
    fn from(r: Row) -> Self {
        Asset {
            id: r.id,
            client_id: r.client_id,
            name: r.name,
            asset_type: AssetType::parse(&r.asset_type).unwrap_or(AssetType::Other),
            make: r.make,
            model: r.model,
            serial: r.serial,
            hostname: r.hostname,
            ip_address: r.ip_address,
            mac_address: r.mac_address,
            operating_system: r.operating_system,
            location_id: r.location_id,
            contact_id: r.contact_id,
            purchase_date: r.purchase_date,
            purchase_cost: r.purchase_cost.map(|c| in_minor_units(c, &r.currency)),
            currency: r.currency,
            warranty_expires: r.warranty_expires,
            status: AssetStatus::parse(&r.status).unwrap_or(AssetStatus::InUse),
            notes: r.notes,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// An amount with as many decimals as the currency's minor unit (the
/// column keeps four; validation allows no more than the minor unit).
fn in_minor_units(x: Decimal, currency: &str) -> Decimal {
    money::to_minor(x, money::minor_units(currency).unwrap_or(2))
}

const COLUMNS: &str = "id, client_id, name, asset_type, make, model, serial, hostname, ip_address, \
    mac_address, operating_system, location_id, contact_id, purchase_date, purchase_cost, currency, \
    warranty_expires, status, notes, created_at, updated_at";

fn default_status() -> AssetStatus {
    AssetStatus::InUse
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAsset {
    pub client_id: ClientId,
    pub name: String,
    #[serde(rename = "type")]
    pub asset_type: AssetType,
    pub make: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// Letters, digits, hyphens and dots, at most 253 characters.
    pub hostname: Option<String>,
    /// An IPv4 or IPv6 address.
    pub ip_address: Option<String>,
    /// Six bytes in hex, separated by `:` or `-`, or not at all; stored as `aa:bb:cc:dd:ee:ff`.
    pub mac_address: Option<String>,
    pub operating_system: Option<String>,
    pub location_id: Option<LocationId>,
    pub contact_id: Option<ContactId>,
    /// Not in the future.
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub purchase_date: Option<NaiveDate>,
    /// Zero or more, in at most the currency's minor units.
    #[schema(value_type = Option<String>, example = "1299.00")]
    pub purchase_cost: Option<Decimal>,
    /// ISO 4217; the company's currency by default.
    pub currency: Option<String>,
    /// Not before the purchase date.
    #[serde(default, deserialize_with = "crate::kernel::dates::de_opt")]
    pub warranty_expires: Option<NaiveDate>,
    /// `in_use` by default.
    #[serde(default = "default_status")]
    pub status: AssetStatus,
    pub notes: Option<String>,
}

/// Absent fields stay; `null` clears an optional field.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetPatch {
    /// Moves the asset to another client; its location and contact must be
    /// that client's.
    pub client_id: Option<ClientId>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub asset_type: Option<AssetType>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub make: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub model: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub serial: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub hostname: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub ip_address: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub mac_address: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub operating_system: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<LocationId>)]
    pub location_id: Option<Option<LocationId>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<ContactId>)]
    pub contact_id: Option<Option<ContactId>>,
    #[serde(default, deserialize_with = "crate::kernel::dates::nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub purchase_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub purchase_cost: Option<Option<Decimal>>,
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "crate::kernel::dates::nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub warranty_expires: Option<Option<NaiveDate>>,
    pub status: Option<AssetStatus>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

/// What the list shows.
#[derive(Debug, Clone, Default)]
pub struct AssetFilter {
    pub client_id: Option<ClientId>,
    pub asset_type: Option<AssetType>,
    pub status: Option<AssetStatus>,
    pub location_id: Option<LocationId>,
    /// Warranty expiring on or after this day.
    pub warranty_from: Option<NaiveDate>,
    /// Warranty expiring on or before this day.
    pub warranty_to: Option<NaiveDate>,
    /// In name, serial, hostname, make and model.
    pub q: Option<String>,
}

/// Normalises a MAC address (`aa:bb:cc:dd:ee:ff`, `AA-BB-..`, `aabb.ccdd.eeff`,
/// `aabbccddeeff`) to lower-case colon form.
pub fn normalise_mac(s: &str) -> Option<String> {
    let groups: Vec<&str> = s.split([':', '-', '.']).collect();
    let shape_ok = match groups.len() {
        1 => groups[0].len() == 12,
        3 => groups.iter().all(|g| g.len() == 4),
        6 => groups.iter().all(|g| g.len() == 2),
        _ => false,
    };
    let hex: String = groups.concat();
    if !shape_ok || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    let pairs: Vec<&str> = (0..6).map(|i| &hex[i * 2..i * 2 + 2]).collect();
    Some(pairs.join(":"))
}

/// A host name: dot-separated labels of letters, digits, hyphens and
/// underscores, none starting or ending with a hyphen, each at most 63.
pub fn is_valid_hostname(s: &str) -> bool {
    s.len() <= 253
        && s.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// A validated asset, ready to be written.
pub(crate) struct Fields {
    pub(crate) client_id: ClientId,
    pub(crate) name: String,
    pub(crate) asset_type: AssetType,
    pub(crate) make: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) serial: Option<String>,
    pub(crate) hostname: Option<String>,
    pub(crate) ip_address: Option<String>,
    pub(crate) mac_address: Option<String>,
    pub(crate) operating_system: Option<String>,
    pub(crate) location_id: Option<LocationId>,
    pub(crate) contact_id: Option<ContactId>,
    pub(crate) purchase_date: Option<NaiveDate>,
    pub(crate) purchase_cost: Option<Decimal>,
    pub(crate) currency: String,
    pub(crate) warranty_expires: Option<NaiveDate>,
    pub(crate) status: AssetStatus,
    pub(crate) notes: Option<String>,
}

impl Fields {
    /// `cur` as these fields would leave it, as it would read back.
    pub(crate) fn preview(&self, cur: &Asset) -> Asset {
        Asset {
            client_id: self.client_id,
            name: self.name.clone(),
            asset_type: self.asset_type,
            make: self.make.clone(),
            model: self.model.clone(),
            serial: self.serial.clone(),
            hostname: self.hostname.clone(),
            ip_address: self.ip_address.clone(),
            mac_address: self.mac_address.clone(),
            operating_system: self.operating_system.clone(),
            location_id: self.location_id,
            contact_id: self.contact_id,
            purchase_date: self.purchase_date,
            purchase_cost: self
                .purchase_cost
                .map(|c| in_minor_units(c, &self.currency)),
            currency: self.currency.clone(),
            warranty_expires: self.warranty_expires,
            status: self.status,
            notes: self.notes.clone(),
            ..cur.clone()
        }
    }
}

fn sane_date(v: &mut ValidationErrors, field: &str, d: Option<NaiveDate>) {
    if let Some(d) = d
        && !(1970..=2200).contains(&d.year())
    {
        v.add(
            field,
            "out_of_range",
            format!("{field} must be between 1970 and 2200"),
        );
    }
}

/// Checks every field of `a` (all errors at once) and the parties it names.
async fn validate(
    tx: &mut TenantTx,
    a: NewAsset,
    company_currency: &str,
    today: NaiveDate,
) -> DomainResult<Fields> {
    let mut v = ValidationErrors::new();
    let (client, location, contact) = (a.client_id, a.location_id, a.contact_id);
    let f = check_fields(&mut v, a, company_currency, today);
    check_parties(tx, &mut v, client, location, contact).await?;
    v.finish()?;
    Ok(f)
}

/// Checks every field of `a` but the parties it names (the import resolves
/// those itself, for many rows at once).
pub(crate) fn check_fields(
    v: &mut ValidationErrors,
    a: NewAsset,
    company_currency: &str,
    today: NaiveDate,
) -> Fields {
    let name = v.required_text("name", &a.name, 200);
    let make = v.optional_text("make", a.make.as_deref(), 100);
    let model = v.optional_text("model", a.model.as_deref(), 100);
    let serial = v.optional_text("serial", a.serial.as_deref(), 100);
    let operating_system = v.optional_text("operating_system", a.operating_system.as_deref(), 100);
    let notes = v.optional_text("notes", a.notes.as_deref(), 10_000);
    let hostname = v.optional_text("hostname", a.hostname.as_deref(), 253);
    if let Some(h) = &hostname
        && !is_valid_hostname(h)
    {
        v.add(
            "hostname",
            "invalid",
            "hostname must be dot-separated labels of letters, digits and hyphens",
        );
    }
    let ip_address = match v.optional_text("ip_address", a.ip_address.as_deref(), 64) {
        None => None,
        Some(ip) => match ip.parse::<IpAddr>() {
            Ok(ip) => Some(ip.to_string()),
            Err(_) => {
                v.add(
                    "ip_address",
                    "invalid",
                    "ip_address must be an IPv4 or IPv6 address",
                );
                None
            }
        },
    };
    let mac_address = match v.optional_text("mac_address", a.mac_address.as_deref(), 32) {
        None => None,
        Some(m) => match normalise_mac(&m) {
            Some(m) => Some(m),
            None => {
                v.add(
                    "mac_address",
                    "invalid",
                    "mac_address must be six bytes in hex, like aa:bb:cc:dd:ee:ff",
                );
                None
            }
        },
    };
    let currency = a
        .currency
        .as_deref()
        .map(str::trim)
        .unwrap_or(company_currency)
        .to_owned();
    let minor = money::minor_units(&currency);
    if minor.is_none() {
        v.add(
            "currency",
            "invalid",
            "currency must be a supported ISO 4217 code",
        );
    }
    if let Some(c) = a.purchase_cost {
        let too_precise = minor.is_some_and(|m| c.normalize().scale() > m);
        if c < Decimal::ZERO || !crate::kernel::money::ASSET_COST.holds(c) || too_precise {
            v.add(
                "purchase_cost",
                "invalid",
                "purchase_cost must be zero or more, below 10^12, in at most the currency's minor units",
            );
        }
    }
    sane_date(v, "purchase_date", a.purchase_date);
    sane_date(v, "warranty_expires", a.warranty_expires);
    if a.purchase_date.is_some_and(|d| d > today) {
        v.add(
            "purchase_date",
            "in_future",
            "purchase_date must not be in the future",
        );
    }
    if let (Some(p), Some(w)) = (a.purchase_date, a.warranty_expires)
        && w < p
    {
        v.add(
            "warranty_expires",
            "before_purchase",
            "warranty_expires must not be before purchase_date",
        );
    }
    Fields {
        client_id: a.client_id,
        name,
        asset_type: a.asset_type,
        make,
        model,
        serial,
        hostname,
        ip_address,
        mac_address,
        operating_system,
        location_id: a.location_id,
        contact_id: a.contact_id,
        purchase_date: a.purchase_date,
        purchase_cost: a.purchase_cost.map(|c| c.normalize()),
        currency,
        warranty_expires: a.warranty_expires,
        status: a.status,
        notes,
    }
}

/// The client exists; the location and contact, if any, are the client's.
/// Locks them (FOR SHARE) so they stay until the write commits.
async fn check_parties(
    tx: &mut TenantTx,
    v: &mut ValidationErrors,
    client: ClientId,
    location: Option<LocationId>,
    contact: Option<ContactId>,
) -> DomainResult<()> {
    let tenant = tx.tenant();
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM clients WHERE company_id = $1 AND id = $2 FOR SHARE")
            .bind(tenant)
            .bind(client)
            .fetch_optional(tx.conn())
            .await?;
    if found.is_none() {
        v.add("client_id", "not_found", "no such client");
    }
    if let Some(l) = location {
        let owner: Option<ClientId> = sqlx::query_scalar(
            "SELECT client_id FROM locations WHERE company_id = $1 AND id = $2 FOR SHARE",
        )
        .bind(tenant)
        .bind(l)
        .fetch_optional(tx.conn())
        .await?;
        match owner {
            None => v.add("location_id", "not_found", "no such location"),
            Some(o) if o != client => v.add(
                "location_id",
                "other_client",
                "the location belongs to another client",
            ),
            _ => {}
        }
    }
    if let Some(k) = contact {
        let owner: Option<ClientId> = sqlx::query_scalar(
            "SELECT client_id FROM contacts WHERE company_id = $1 AND id = $2 FOR SHARE",
        )
        .bind(tenant)
        .bind(k)
        .fetch_optional(tx.conn())
        .await?;
        match owner {
            None => v.add("contact_id", "not_found", "no such contact"),
            Some(o) if o != client => v.add(
                "contact_id",
                "other_client",
                "the contact belongs to another client",
            ),
            _ => {}
        }
    }
    Ok(())
}

/// Every asset of the tenant: what an import matches its rows against.
pub(crate) async fn all(tx: &mut TenantTx) -> DomainResult<Vec<Asset>> {
    let tenant = tx.tenant();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM assets WHERE company_id = $1"
    )))
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(Asset::from).collect())
}

pub async fn get(tx: &mut TenantTx, id: AssetId) -> DomainResult<Asset> {
    fetch(tx, id, "").await
}

/// Reads the asset and locks it until the transaction ends.
pub async fn lock(tx: &mut TenantTx, id: AssetId) -> DomainResult<Asset> {
    fetch(tx, id, "FOR UPDATE").await
}

async fn fetch(tx: &mut TenantTx, id: AssetId, suffix: &str) -> DomainResult<Asset> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM assets WHERE company_id = $1 AND id = $2 {suffix}"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(Asset::from).ok_or(DomainError::not_found("asset"))
}

pub async fn list(
    tx: &mut TenantTx,
    f: &AssetFilter,
    page: &PageRequest,
) -> DomainResult<Page<Asset>> {
    const FILTER: &str = "company_id = $1 \
        AND ($2::uuid IS NULL OR client_id = $2) \
        AND ($3::text IS NULL OR asset_type = $3) \
        AND ($4::text IS NULL OR status = $4) \
        AND ($5::uuid IS NULL OR location_id = $5) \
        AND ($6::date IS NULL OR warranty_expires >= $6) \
        AND ($7::date IS NULL OR warranty_expires <= $7) \
        AND ($8::text IS NULL OR name ILIKE $8 OR serial ILIKE $8 OR hostname ILIKE $8 \
             OR make ILIKE $8 OR model ILIKE $8)";
    let tenant = tx.tenant();
    let q = f.q.as_deref().map(like_pattern);
    let kind = f.asset_type.map(AssetType::as_str);
    let status = f.status.map(AssetStatus::as_str);
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM assets WHERE {FILTER} \
         AND ($9::text IS NULL OR (lower(name), id) > ($9, $10)) \
         ORDER BY lower(name), id LIMIT $11"
    )))
    .bind(tenant)
    .bind(f.client_id)
    .bind(kind)
    .bind(status)
    .bind(f.location_id)
    .bind(f.warranty_from)
    .bind(f.warranty_to)
    .bind(&q)
    .bind(page.after_key())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM assets WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(f.client_id)
    .bind(kind)
    .bind(status)
    .bind(f.location_id)
    .bind(f.warranty_from)
    .bind(f.warranty_to)
    .bind(&q)
    .fetch_one(tx.conn())
    .await?;
    let rows = rows.into_iter().map(Asset::from).collect();
    Ok(Page::from_rows(rows, page, total, |a: &Asset| Cursor {
        key: a.name.to_lowercase(),
        id: a.id.as_uuid(),
    }))
}

/// Assets not retired whose warranty expires from `today` to `today + days`
/// (both included), soonest first.
pub async fn expiring(
    tx: &mut TenantTx,
    today: NaiveDate,
    days: i64,
    client: Option<ClientId>,
    page: &PageRequest,
) -> DomainResult<Page<Asset>> {
    const FILTER: &str = "company_id = $1 AND status <> 'retired' \
        AND warranty_expires BETWEEN $2 AND $3 AND ($4::uuid IS NULL OR client_id = $4)";
    let tenant = tx.tenant();
    let until = today + chrono::Duration::days(days);
    // The cursor's key is the expiry date as YYYY-MM-DD, which sorts as dates do.
    let after: Option<NaiveDate> = match page.after_key() {
        None => None,
        Some(k) => Some(k.parse().map_err(|_| {
            let mut v = ValidationErrors::new();
            v.add("cursor", "invalid", "cursor is not one this API returned");
            DomainError::Validation(v)
        })?),
    };
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM assets WHERE {FILTER} \
         AND ($5::date IS NULL OR (warranty_expires, id) > ($5, $6)) \
         ORDER BY warranty_expires, id LIMIT $7"
    )))
    .bind(tenant)
    .bind(today)
    .bind(until)
    .bind(client)
    .bind(after)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM assets WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(today)
    .bind(until)
    .bind(client)
    .fetch_one(tx.conn())
    .await?;
    let rows = rows.into_iter().map(Asset::from).collect();
    Ok(Page::from_rows(rows, page, total, |a: &Asset| Cursor {
        key: a
            .warranty_expires
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        id: a.id.as_uuid(),
    }))
}

pub async fn create(tx: &mut TenantTx, new: NewAsset, user: Option<UserId>) -> DomainResult<Asset> {
    let c = company::get(tx).await?;
    let today = c.today(tx.now());
    let f = validate(tx, new, &c.currency, today).await?;
    let id = AssetId::new();
    insert(tx, &[(id, f)]).await?;
    let a = get(tx, id).await?;
    let changes = diff(None, &a);
    record_event(tx, a.id, "created", changes, user).await?;
    Ok(a)
}

/// The columns [`insert`] and [`overwrite`] write, as `unnest` arrays from
/// `$3`: one element per asset.
const WRITTEN: &str = "unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], \
    $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::uuid[], \
    $15::uuid[], $16::date[], $17::numeric[], $18::text[], $19::date[], $20::text[], $21::text[]) \
    AS u(id, client, name, t, make, model, serial, host, ip, mac, os, loc, contact, pdate, cost, \
    cur, wexp, status, notes)";

/// Inserts validated assets, many at once: the one statement that creates
/// assets (the API's [`create`] and the CSV import). Records no event.
pub(crate) async fn insert(tx: &mut TenantTx, rows: &[(AssetId, Fields)]) -> DomainResult<()> {
    write(
        tx,
        rows,
        &format!(
            "INSERT INTO assets (id, company_id, client_id, name, asset_type, make, model, serial, \
             hostname, ip_address, mac_address, operating_system, location_id, contact_id, \
             purchase_date, purchase_cost, currency, warranty_expires, status, notes, created_at, \
             updated_at) \
             SELECT u.id, $1, u.client, u.name, u.t, u.make, u.model, u.serial, u.host, u.ip, u.mac, \
             u.os, u.loc, u.contact, u.pdate, u.cost, u.cur, u.wexp, u.status, u.notes, $2, $2 \
             FROM {WRITTEN}"
        ),
    )
    .await
}

/// Sets every field of existing assets to the validated ones, many at once:
/// the one statement that updates an asset's fields (the API's [`update`]
/// and the CSV import). Records no event.
pub(crate) async fn overwrite(tx: &mut TenantTx, rows: &[(AssetId, Fields)]) -> DomainResult<()> {
    write(
        tx,
        rows,
        &format!(
            "UPDATE assets a SET client_id = u.client, name = u.name, asset_type = u.t, \
             make = u.make, model = u.model, serial = u.serial, hostname = u.host, \
             ip_address = u.ip, mac_address = u.mac, operating_system = u.os, \
             location_id = u.loc, contact_id = u.contact, purchase_date = u.pdate, \
             purchase_cost = u.cost, currency = u.cur, warranty_expires = u.wexp, \
             status = u.status, notes = u.notes, updated_at = $2 \
             FROM {WRITTEN} WHERE a.company_id = $1 AND a.id = u.id"
        ),
    )
    .await
}

async fn write(tx: &mut TenantTx, rows: &[(AssetId, Fields)], sql: &str) -> DomainResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let col = |g: fn(&Fields) -> Option<String>| rows.iter().map(|r| g(&r.1)).collect::<Vec<_>>();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(now)
        .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1.client_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1.name.clone()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.1.asset_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(col(|f| f.make.clone()))
        .bind(col(|f| f.model.clone()))
        .bind(col(|f| f.serial.clone()))
        .bind(col(|f| f.hostname.clone()))
        .bind(col(|f| f.ip_address.clone()))
        .bind(col(|f| f.mac_address.clone()))
        .bind(col(|f| f.operating_system.clone()))
        .bind(rows.iter().map(|r| r.1.location_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1.contact_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1.purchase_date).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1.purchase_cost).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.1.currency.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|r| r.1.warranty_expires)
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.1.status.as_str()).collect::<Vec<_>>())
        .bind(col(|f| f.notes.clone()))
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Applies `patch`; records which fields changed. Returns the asset as it is
/// now (unchanged, with no event, when nothing changed).
pub async fn update(
    tx: &mut TenantTx,
    id: AssetId,
    patch: AssetPatch,
    user: Option<UserId>,
) -> DomainResult<Asset> {
    let cur = lock(tx, id).await?;
    let c = company::get(tx).await?;
    let today = c.today(tx.now());
    let merged = NewAsset {
        client_id: patch.client_id.unwrap_or(cur.client_id),
        name: patch.name.unwrap_or_else(|| cur.name.clone()),
        asset_type: patch.asset_type.unwrap_or(cur.asset_type),
        make: patch.make.unwrap_or_else(|| cur.make.clone()),
        model: patch.model.unwrap_or_else(|| cur.model.clone()),
        serial: patch.serial.unwrap_or_else(|| cur.serial.clone()),
        hostname: patch.hostname.unwrap_or_else(|| cur.hostname.clone()),
        ip_address: patch.ip_address.unwrap_or_else(|| cur.ip_address.clone()),
        mac_address: patch.mac_address.unwrap_or_else(|| cur.mac_address.clone()),
        operating_system: patch
            .operating_system
            .unwrap_or_else(|| cur.operating_system.clone()),
        location_id: patch.location_id.unwrap_or(cur.location_id),
        contact_id: patch.contact_id.unwrap_or(cur.contact_id),
        purchase_date: patch.purchase_date.unwrap_or(cur.purchase_date),
        purchase_cost: patch.purchase_cost.unwrap_or(cur.purchase_cost),
        currency: Some(patch.currency.unwrap_or_else(|| cur.currency.clone())),
        warranty_expires: patch.warranty_expires.unwrap_or(cur.warranty_expires),
        status: patch.status.unwrap_or(cur.status),
        notes: patch.notes.unwrap_or_else(|| cur.notes.clone()),
    };
    let f = validate(tx, merged, &c.currency, today).await?;
    // Nothing changed: nothing is written, and no event recorded.
    if diff(Some(&cur), &f.preview(&cur)).is_empty() {
        return Ok(cur);
    }
    overwrite(tx, &[(id, f)]).await?;
    let a = get(tx, id).await?;
    record_event(tx, id, "updated", diff(Some(&cur), &a), user).await?;
    Ok(a)
}

pub async fn delete(tx: &mut TenantTx, id: AssetId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let done = sqlx::query("DELETE FROM assets WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::not_found("asset"));
    }
    Ok(())
}

// ---- bulk ----

/// The ids sorted, each once (so concurrent bulk requests lock in the same
/// order), after checking there are 1 to [`MAX_BULK`] and all exist here.
async fn check_bulk(tx: &mut TenantTx, ids: &[AssetId]) -> DomainResult<Vec<AssetId>> {
    let mut v = ValidationErrors::new();
    if ids.is_empty() || ids.len() > MAX_BULK {
        v.add(
            "ids",
            "out_of_range",
            format!("give 1 to {MAX_BULK} asset ids"),
        );
        return Err(DomainError::Validation(v));
    }
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    let tenant = tx.tenant();
    let found: Vec<AssetId> =
        sqlx::query_scalar("SELECT id FROM assets WHERE company_id = $1 AND id = ANY($2)")
            .bind(tenant)
            .bind(&ids)
            .fetch_all(tx.conn())
            .await?;
    let missing: Vec<String> = ids
        .iter()
        .filter(|i| !found.contains(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        v.add(
            "ids",
            "not_found",
            format!("no such assets: {}", missing.join(", ")),
        );
    }
    v.finish()?;
    Ok(ids)
}

/// Sets the status of many assets, all or none. Returns those that changed.
pub async fn bulk_status(
    tx: &mut TenantTx,
    ids: &[AssetId],
    status: AssetStatus,
    user: Option<UserId>,
) -> DomainResult<Vec<Asset>> {
    let ids = check_bulk(tx, ids).await?;
    let mut changed = Vec::new();
    for id in ids {
        let cur = lock(tx, id).await?;
        if cur.status == status {
            continue;
        }
        let a = set_column(tx, id, "status", status.as_str()).await?;
        record_event(tx, id, "bulk", diff(Some(&cur), &a), user).await?;
        changed.push(a);
    }
    Ok(changed)
}

/// Moves many assets to a location of their client (or to none), all or
/// none. Every asset must belong to the location's client. Returns those
/// that changed.
pub async fn bulk_location(
    tx: &mut TenantTx,
    ids: &[AssetId],
    location: Option<LocationId>,
    user: Option<UserId>,
) -> DomainResult<Vec<Asset>> {
    let ids = check_bulk(tx, ids).await?;
    let mut current = Vec::with_capacity(ids.len());
    for id in &ids {
        current.push(lock(tx, *id).await?);
    }
    if let Some(l) = location {
        let tenant = tx.tenant();
        let owner: Option<ClientId> = sqlx::query_scalar(
            "SELECT client_id FROM locations WHERE company_id = $1 AND id = $2 FOR SHARE",
        )
        .bind(tenant)
        .bind(l)
        .fetch_optional(tx.conn())
        .await?;
        let mut v = ValidationErrors::new();
        match owner {
            None => v.add("location_id", "not_found", "no such location"),
            Some(o) => {
                let others: Vec<String> = current
                    .iter()
                    .filter(|a| a.client_id != o)
                    .map(|a| a.id.to_string())
                    .collect();
                if !others.is_empty() {
                    v.add(
                        "ids",
                        "other_client",
                        format!(
                            "these assets belong to another client than the location: {}",
                            others.join(", ")
                        ),
                    );
                }
            }
        }
        v.finish()?;
    }
    let mut changed = Vec::new();
    for cur in current {
        if cur.location_id == location {
            continue;
        }
        let tenant = tx.tenant();
        let now = tx.now();
        let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE assets SET location_id = $3, updated_at = $4 \
             WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
        )))
        .bind(tenant)
        .bind(cur.id)
        .bind(location)
        .bind(now)
        .fetch_one(tx.conn())
        .await?;
        let a = Asset::from(row);
        record_event(tx, a.id, "bulk", diff(Some(&cur), &a), user).await?;
        changed.push(a);
    }
    Ok(changed)
}

async fn set_column(
    tx: &mut TenantTx,
    id: AssetId,
    column: &'static str,
    value: &str,
) -> DomainResult<Asset> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE assets SET {column} = $3, updated_at = $4 \
         WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(value)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok(row.into())
}

// ---- history ----

/// One change of an asset.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AssetEvent {
    pub id: i64,
    /// `created`, `updated` or `bulk` (a bulk status or location change).
    pub kind: String,
    /// Each field that changed: `{"status": {"from": "in_use", "to": "spare"}}`.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
    /// Who made the change.
    pub user_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    kind: String,
    changes: serde_json::Value,
    user_id: Option<UserId>,
    created_at: DateTime<Utc>,
}

/// The fields that differ between `before` (nothing, for a new asset) and
/// `after`, as `{field: {from, to}}`; timestamps are left out.
pub(crate) fn diff(
    before: Option<&Asset>,
    after: &Asset,
) -> serde_json::Map<String, serde_json::Value> {
    let to_map = |a: &Asset| match serde_json::to_value(a) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let old = before.map(to_map).unwrap_or_default();
    let mut out = serde_json::Map::new();
    for (k, new) in to_map(after) {
        if matches!(k.as_str(), "id" | "created_at" | "updated_at") {
            continue;
        }
        let prev = old.get(&k).cloned().unwrap_or(serde_json::Value::Null);
        if prev != new {
            out.insert(k, serde_json::json!({ "from": prev, "to": new }));
        }
    }
    out
}

async fn record_event(
    tx: &mut TenantTx,
    asset: AssetId,
    kind: &'static str,
    changes: serde_json::Map<String, serde_json::Value>,
    user: Option<UserId>,
) -> DomainResult<()> {
    let changes = serde_json::Value::Object(changes);
    record_events(tx, &[(asset, kind, changes)], user).await
}

/// Records changes of assets, many at once, in the order given: each an
/// asset, a kind (`created`, `updated`, `bulk`) and the changes by field.
pub(crate) async fn record_events(
    tx: &mut TenantTx,
    events: &[(AssetId, &'static str, serde_json::Value)],
    user: Option<UserId>,
) -> DomainResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "INSERT INTO asset_events (company_id, asset_id, kind, changes, user_id, created_at) \
         SELECT $1, u.id, u.kind, u.changes, $2, $3 \
         FROM unnest($4::uuid[], $5::text[], $6::jsonb[]) AS u(id, kind, changes)",
    )
    .bind(tenant)
    .bind(user)
    .bind(now)
    .bind(events.iter().map(|e| e.0).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.1).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.2.clone()).collect::<Vec<_>>())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// An asset's changes, oldest first.
pub async fn history(
    tx: &mut TenantTx,
    asset: AssetId,
    page: &PageRequest,
) -> DomainResult<Page<AssetEvent>> {
    get(tx, asset).await?;
    let after: Option<i64> = match page.after_key() {
        None => None,
        Some(k) => Some(k.parse().map_err(|_| {
            let mut v = ValidationErrors::new();
            v.add("cursor", "invalid", "cursor is not one this API returned");
            DomainError::Validation(v)
        })?),
    };
    let tenant = tx.tenant();
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT id, kind, changes, user_id, created_at FROM asset_events \
         WHERE company_id = $1 AND asset_id = $2 AND ($3::bigint IS NULL OR id > $3) \
         ORDER BY id LIMIT $4",
    )
    .bind(tenant)
    .bind(asset)
    .bind(after)
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM asset_events WHERE company_id = $1 AND asset_id = $2",
    )
    .bind(tenant)
    .bind(asset)
    .fetch_one(tx.conn())
    .await?;
    let events = rows
        .into_iter()
        .map(|r| AssetEvent {
            id: r.id,
            kind: r.kind,
            changes: r.changes,
            user_id: r.user_id,
            created_at: r.created_at,
        })
        .collect();
    Ok(Page::from_rows(events, page, total, |e: &AssetEvent| {
        Cursor {
            key: e.id.to_string(),
            id: uuid::Uuid::nil(),
        }
    }))
}

// ---- warranty alerts ----

/// A warranty alert recorded now: the asset reached `threshold_days` before
/// its warranty expires.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct WarrantyAlert {
    pub asset_id: AssetId,
    pub client_id: ClientId,
    pub client_name: String,
    pub asset_name: String,
    pub serial: Option<String>,
    pub hostname: Option<String>,
    pub threshold_days: i32,
    pub warranty_expires: NaiveDate,
    pub days_left: i32,
}

/// Records the warranty alerts due on `today`: for each asset not retired
/// whose warranty expires in 0 to 30 days, the smallest threshold (30, 7 or
/// 1 days) it has reached, unless that threshold was alerted for this
/// expiry date. So an asset first seen 5 days before expiry gets the 7-day
/// alert only, and each threshold alerts once. Returns the alerts recorded
/// now (none twice, even by concurrent runs), by client.
pub async fn record_warranty_alerts(
    tx: &mut TenantTx,
    today: NaiveDate,
) -> DomainResult<Vec<WarrantyAlert>> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let max = WARRANTY_THRESHOLDS.iter().copied().max().unwrap_or(30);
    Ok(sqlx::query_as(
        "WITH due AS ( \
           SELECT a.id, a.warranty_expires, t.d \
           FROM assets a \
           CROSS JOIN LATERAL (SELECT min(x) AS d FROM unnest($2::int[]) x \
                               WHERE x >= a.warranty_expires - $3::date) t \
           WHERE a.company_id = $1 AND a.status <> 'retired' \
             AND a.warranty_expires BETWEEN $3::date AND $3::date + $4::int AND t.d IS NOT NULL), \
         added AS ( \
           INSERT INTO warranty_alerts (company_id, asset_id, threshold_days, warranty_expires, alerted_at) \
           SELECT $1, id, d, warranty_expires, $5 FROM due \
           ON CONFLICT (asset_id, threshold_days, warranty_expires) DO NOTHING \
           RETURNING asset_id, threshold_days, warranty_expires) \
         SELECT a.id AS asset_id, a.client_id, c.name AS client_name, a.name AS asset_name, a.serial, \
                a.hostname, x.threshold_days, x.warranty_expires, (x.warranty_expires - $3::date) AS days_left \
         FROM added x JOIN assets a ON a.company_id = $1 AND a.id = x.asset_id \
         JOIN clients c ON c.company_id = $1 AND c.id = a.client_id \
         ORDER BY c.name, a.client_id, x.warranty_expires, lower(a.name), a.id",
    )
    .bind(tenant)
    .bind(WARRANTY_THRESHOLDS.to_vec())
    .bind(today)
    .bind(max)
    .bind(now)
    .fetch_all(tx.conn())
    .await?)
}

/// Notes which mail told of these alerts.
pub async fn set_alert_mail(
    tx: &mut TenantTx,
    alerts: &[WarrantyAlert],
    mail: MailId,
) -> DomainResult<()> {
    let tenant = tx.tenant();
    for a in alerts {
        sqlx::query(
            "UPDATE warranty_alerts SET mail_id = $5 WHERE company_id = $1 AND asset_id = $2 \
             AND threshold_days = $3 AND warranty_expires = $4",
        )
        .bind(tenant)
        .bind(a.asset_id)
        .bind(a.threshold_days)
        .bind(a.warranty_expires)
        .bind(mail)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        for ok in [
            "AA:BB:CC:DD:EE:FF",
            "aa-bb-cc-dd-ee-ff",
            "aabb.ccdd.eeff",
            "aabbccddeeff",
        ] {
            assert_eq!(
                normalise_mac(ok).as_deref(),
                Some("aa:bb:cc:dd:ee:ff"),
                "{ok}"
            );
        }
        for bad in [
            "",
            "aa:bb:cc:dd:ee",
            "gg:bb:cc:dd:ee:ff",
            "aa:bb:cc:dd:ee:ff:00",
            "a:abb:cc:dd:ee:ff",
            "aabbccdd-ee-ff",
        ] {
            assert_eq!(normalise_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn hostnames() {
        for ok in ["pc-01", "srv01.acme.local", "a_b", "x."] {
            assert!(is_valid_hostname(ok), "{ok}");
        }
        for bad in ["-pc", "pc-", "a..b", "has space", "ü"] {
            assert!(!is_valid_hostname(bad), "{bad}");
        }
    }
}
