//! Locations: a client's sites.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::identity::company::Address;
use crate::kernel::pagination::{Cursor, Page, PageRequest, like_pattern};
use crate::kernel::validation::ValidationErrors;
use crate::{ClientId, DomainError, DomainResult, LocationId, TenantTx, customers::clients};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Location {
    pub id: LocationId,
    pub client_id: ClientId,
    pub name: String,
    pub address: Address,
    pub phone: Option<String>,
    pub notes: Option<String>,
    /// At most one location per client is primary.
    pub is_primary: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct LocationRow {
    id: LocationId,
    client_id: ClientId,
    name: String,
    address: serde_json::Value,
    phone: Option<String>,
    notes: Option<String>,
    is_primary: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<LocationRow> for Location {
    fn from(r: LocationRow) -> Self {
        Location {
            id: r.id,
            client_id: r.client_id,
            name: r.name,
            address: Address::from_json(r.address),
            phone: r.phone,
            notes: r.notes,
            is_primary: r.is_primary,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str =
    "id, client_id, name, address, phone, notes, is_primary, created_at, updated_at";

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLocation {
    pub name: String,
    #[serde(default)]
    pub address: Address,
    pub phone: Option<String>,
    pub notes: Option<String>,
    #[serde(default)]
    pub is_primary: bool,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationPatch {
    pub name: Option<String>,
    /// Replaces the whole address.
    pub address: Option<Address>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    pub is_primary: Option<bool>,
}

pub(crate) fn validate(v: &mut ValidationErrors, l: NewLocation) -> NewLocation {
    NewLocation {
        name: v.required_text("name", &l.name, 200),
        address: l.address.validated(v, "address"),
        phone: v.optional_text("phone", l.phone.as_deref(), 50),
        notes: v.optional_text("notes", l.notes.as_deref(), 10_000),
        is_primary: l.is_primary,
    }
}

pub async fn get(tx: &mut TenantTx, client: ClientId, id: LocationId) -> DomainResult<Location> {
    let tenant = tx.tenant();
    let row: Option<LocationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM locations WHERE company_id = $1 AND client_id = $2 AND id = $3"
    )))
    .bind(tenant)
    .bind(client)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(Location::from)
        .ok_or(DomainError::not_found("location"))
}

pub async fn list(
    tx: &mut TenantTx,
    client: ClientId,
    q: Option<&str>,
    page: &PageRequest,
) -> DomainResult<Page<Location>> {
    clients::ensure_exists(tx, client).await?;
    const FILTER: &str =
        "company_id = $1 AND client_id = $2 AND ($3::text IS NULL OR name ILIKE $3)";
    let tenant = tx.tenant();
    let q = q.map(like_pattern);
    let rows: Vec<LocationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM locations WHERE {FILTER} \
         AND ($4::text IS NULL OR (lower(name), id) > ($4, $5)) \
         ORDER BY lower(name), id LIMIT $6"
    )))
    .bind(tenant)
    .bind(client)
    .bind(&q)
    .bind(page.after_key())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM locations WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(client)
    .bind(&q)
    .fetch_one(tx.conn())
    .await?;
    let rows = rows.into_iter().map(Location::from).collect();
    Ok(Page::from_rows(rows, page, total, |l| Cursor {
        key: l.name.to_lowercase(),
        id: l.id.as_uuid(),
    }))
}

async fn clear_primary(
    tx: &mut TenantTx,
    client: ClientId,
    except: LocationId,
) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE locations SET is_primary = false \
         WHERE company_id = $1 AND client_id = $2 AND id <> $3 AND is_primary",
    )
    .bind(tenant)
    .bind(client)
    .bind(except)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn create(
    tx: &mut TenantTx,
    client: ClientId,
    new: NewLocation,
) -> DomainResult<Location> {
    let mut v = ValidationErrors::new();
    let l = validate(&mut v, new);
    v.finish()?;
    clients::ensure_exists(tx, client).await?;
    let id = LocationId::new();
    if l.is_primary {
        clear_primary(tx, client, id).await?;
    }
    insert(tx, &[(id, client, l)]).await?;
    get(tx, client, id).await
}

pub async fn update(
    tx: &mut TenantTx,
    client: ClientId,
    id: LocationId,
    patch: LocationPatch,
) -> DomainResult<Location> {
    let current = get(tx, client, id).await?;
    let merged = NewLocation {
        name: patch.name.unwrap_or(current.name),
        address: patch.address.unwrap_or(current.address),
        phone: patch.phone.unwrap_or(current.phone),
        notes: patch.notes.unwrap_or(current.notes),
        is_primary: patch.is_primary.unwrap_or(current.is_primary),
    };
    let mut v = ValidationErrors::new();
    let l = validate(&mut v, merged);
    v.finish()?;
    if l.is_primary {
        clear_primary(tx, client, id).await?;
    }
    overwrite(tx, &[(id, client, l)]).await?;
    get(tx, client, id).await
}

/// The columns [`insert`] and [`overwrite`] write, as `unnest` arrays from
/// `$3`: one element per location.
const WRITTEN: &str = "unnest($3::uuid[], $4::uuid[], $5::text[], $6::jsonb[], $7::text[], \
    $8::text[], $9::bool[]) AS u(id, client, name, address, phone, notes, pri)";

/// Inserts validated locations, many at once: the one statement that
/// creates locations (the API's [`create`] and the CSV import). Leaves other
/// locations' `is_primary` as it is.
pub(crate) async fn insert(
    tx: &mut TenantTx,
    rows: &[(LocationId, ClientId, NewLocation)],
) -> DomainResult<()> {
    write(
        tx,
        rows,
        &format!(
            "INSERT INTO locations (id, company_id, client_id, name, address, phone, notes, \
             is_primary, created_at, updated_at) \
             SELECT u.id, $1, u.client, u.name, u.address, u.phone, u.notes, u.pri, $2, $2 \
             FROM {WRITTEN}"
        ),
    )
    .await
}

/// Sets every field of existing locations to the validated ones, many at
/// once: the one statement that updates a location (the API's [`update`]
/// and the CSV import). Leaves other locations' `is_primary` as it is.
pub(crate) async fn overwrite(
    tx: &mut TenantTx,
    rows: &[(LocationId, ClientId, NewLocation)],
) -> DomainResult<()> {
    write(
        tx,
        rows,
        &format!(
            "UPDATE locations l SET name = u.name, address = u.address, phone = u.phone, \
             notes = u.notes, is_primary = u.pri, updated_at = $2 FROM {WRITTEN} \
             WHERE l.company_id = $1 AND l.id = u.id AND l.client_id = u.client"
        ),
    )
    .await
}

async fn write(
    tx: &mut TenantTx,
    rows: &[(LocationId, ClientId, NewLocation)],
    sql: &str,
) -> DomainResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(now)
        .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.2.name.clone()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.2.address.to_json())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.2.phone.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.2.notes.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.2.is_primary).collect::<Vec<_>>())
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn delete(tx: &mut TenantTx, client: ClientId, id: LocationId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let done =
        sqlx::query("DELETE FROM locations WHERE company_id = $1 AND client_id = $2 AND id = $3")
            .bind(tenant)
            .bind(client)
            .bind(id)
            .execute(tx.conn())
            .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::not_found("location"));
    }
    Ok(())
}
