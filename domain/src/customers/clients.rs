//! Clients: the organisations an MSP supports.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::identity::company::Address;
use crate::kernel::error::OnConstraint;
use crate::kernel::pagination::{Cursor, Page, PageRequest, like_pattern};
use crate::kernel::validation::ValidationErrors;
use crate::{ClientId, DomainError, DomainResult, TenantTx};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Client {
    pub id: ClientId,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub tax_id: Option<String>,
    /// Where invoices, quotes and statements are addressed; without one,
    /// documents show the address of the client's primary location.
    #[sqlx(json(nullable))]
    pub billing_address: Option<Address>,
    pub notes: Option<String>,
    /// Mail from these domains belongs to this client.
    pub email_domains: Vec<String>,
    /// The hourly rate of time logged for this client by users without a
    /// rate of their own, in the company's currency.
    #[schema(value_type = Option<String>)]
    pub hourly_rate: Option<rust_decimal::Decimal>,
    /// Set while the client is archived.
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, email, phone, website, tax_id, billing_address, notes, email_domains, \
    hourly_rate, archived_at, created_at, updated_at";

impl Client {
    /// The rate by the money rule ([`crate::kernel::money::to_price`]) in the
    /// company's currency.
    async fn shown(mut self, tx: &mut TenantTx) -> DomainResult<Client> {
        if let Some(r) = self.hourly_rate {
            let minor = crate::identity::company::currency_minor(tx).await?;
            self.hourly_rate = Some(crate::kernel::money::to_price(r, minor));
        }
        Ok(self)
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub tax_id: Option<String>,
    /// Printed on the client's documents.
    #[serde(default)]
    pub billing_address: Option<Address>,
    pub notes: Option<String>,
    /// Mail from these domains (`example.com`) belongs to this client.
    #[serde(default)]
    pub email_domains: Vec<String>,
    /// Hourly rate for time logged by users without a rate of their own.
    #[schema(value_type = Option<String>)]
    pub hourly_rate: Option<rust_decimal::Decimal>,
}

/// A change to a client. Absent fields stay; `null` or `""` clears an
/// optional field.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub website: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub tax_id: Option<Option<String>>,
    /// Replaces the whole billing address; `null` removes it.
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<Address>)]
    pub billing_address: Option<Option<Address>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    pub email_domains: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub hourly_rate: Option<Option<rust_decimal::Decimal>>,
}

/// Which clients a list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveFilter {
    #[default]
    Active,
    Archived,
    All,
}

#[derive(Debug, Clone, Default)]
pub struct ClientFilter {
    /// Only these clients, when not empty.
    pub ids: Vec<ClientId>,
    /// Matches name or e-mail, case-insensitive.
    pub q: Option<String>,
    pub status: ArchiveFilter,
}

/// A validated client, ready to be written.
pub(crate) struct Fields {
    pub(crate) name: String,
    pub(crate) email: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) website: Option<String>,
    pub(crate) tax_id: Option<String>,
    pub(crate) notes: Option<String>,
    pub(crate) email_domains: Vec<String>,
    pub(crate) hourly_rate: Option<rust_decimal::Decimal>,
    pub(crate) billing_address: Option<Address>,
}

/// Most registered domains per client.
const MAX_DOMAINS: usize = 20;

fn validate_domains(v: &mut ValidationErrors, domains: &[String]) -> Vec<String> {
    if domains.len() > MAX_DOMAINS {
        v.add(
            "email_domains",
            "too_many",
            format!("at most {MAX_DOMAINS} domains"),
        );
    }
    let mut out: Vec<String> = Vec::new();
    for d in domains {
        let d = d.trim().trim_start_matches('@').to_lowercase();
        let labels_ok = d.split('.').count() >= 2
            && d.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if d.len() > 253 || !labels_ok {
            v.add(
                "email_domains",
                "invalid",
                format!("{d:?} is not a domain name such as example.com"),
            );
        } else if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

pub(crate) fn validate(v: &mut ValidationErrors, c: NewClient) -> Fields {
    let billing_address = billing_address(v, c.billing_address);
    Fields {
        name: v.required_text("name", &c.name, 200),
        email: v.optional_email("email", c.email.as_deref()),
        phone: v.optional_text("phone", c.phone.as_deref(), 50),
        website: v.optional_text("website", c.website.as_deref(), 200),
        tax_id: v.optional_text("tax_id", c.tax_id.as_deref(), 50),
        notes: v.optional_text("notes", c.notes.as_deref(), 10_000),
        email_domains: validate_domains(v, &c.email_domains),
        hourly_rate: crate::kernel::money::validate_rate(v, "hourly_rate", c.hourly_rate),
        billing_address,
    }
}

/// Refuses domains another client of the tenant already has.
async fn check_domains_free(
    tx: &mut TenantTx,
    v: &mut ValidationErrors,
    domains: &[String],
    except: Option<ClientId>,
) -> DomainResult<()> {
    if domains.is_empty() {
        return Ok(());
    }
    let tenant = tx.tenant();
    let taken: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT d FROM clients, unnest(email_domains) d WHERE company_id = $1 \
         AND ($3::uuid IS NULL OR id <> $3) AND d = ANY($2) ORDER BY d",
    )
    .bind(tenant)
    .bind(domains)
    .bind(except)
    .fetch_all(tx.conn())
    .await?;
    if !taken.is_empty() {
        v.add(
            "email_domains",
            "taken",
            format!("already registered to another client: {}", taken.join(", ")),
        );
    }
    Ok(())
}

/// [`by_email_domain`] for many domains at once: each given domain maps to
/// its one client, or to `None` (no client, or several).
pub async fn by_email_domains(
    tx: &mut TenantTx,
    domains: &[String],
) -> DomainResult<std::collections::HashMap<String, Option<ClientId>>> {
    let tenant = tx.tenant();
    let rows: Vec<(String, ClientId)> = sqlx::query_as(
        "SELECT d, id FROM clients, unnest(email_domains) d WHERE company_id = $1 \
         AND email_domains && $2::text[] AND d = ANY($2)",
    )
    .bind(tenant)
    .bind(domains)
    .fetch_all(tx.conn())
    .await?;
    let mut out: std::collections::HashMap<String, Option<ClientId>> =
        domains.iter().map(|d| (d.clone(), None)).collect();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (d, id) in rows {
        *seen.entry(d.clone()).or_default() += 1;
        out.insert(d, Some(id));
    }
    for (d, n) in seen {
        if n > 1 {
            out.insert(d, None);
        }
    }
    Ok(out)
}

/// The one client with `domain` registered, if exactly one has it.
pub async fn by_email_domain(tx: &mut TenantTx, domain: &str) -> DomainResult<Option<ClientId>> {
    let domain = domain.to_lowercase();
    Ok(by_email_domains(tx, std::slice::from_ref(&domain))
        .await?
        .remove(&domain)
        .flatten())
}

pub async fn get(tx: &mut TenantTx, id: ClientId) -> DomainResult<Client> {
    let tenant = tx.tenant();
    let row: Option<Client> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM clients WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("client"))?.shown(tx).await
}

/// Fails with 404 unless the client exists in this tenant; for nested
/// resources. `FOR SHARE` keeps it from being deleted under a writer.
pub async fn ensure_exists(tx: &mut TenantTx, id: ClientId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM clients WHERE company_id = $1 AND id = $2 FOR SHARE")
            .bind(tenant)
            .bind(id)
            .fetch_optional(tx.conn())
            .await?;
    found.map(|_| ()).ok_or(DomainError::not_found("client"))
}

pub async fn list(
    tx: &mut TenantTx,
    f: &ClientFilter,
    page: &PageRequest,
) -> DomainResult<Page<Client>> {
    const FILTER: &str = "company_id = $1 \
        AND ($2::text IS NULL OR name ILIKE $2 OR email ILIKE $2) \
        AND CASE $3 WHEN 'active' THEN archived_at IS NULL \
                    WHEN 'archived' THEN archived_at IS NOT NULL ELSE true END \
        AND (cardinality($4::uuid[]) = 0 OR id = ANY($4))";
    let tenant = tx.tenant();
    let q = f.q.as_deref().map(like_pattern);
    let status = match f.status {
        ArchiveFilter::Active => "active",
        ArchiveFilter::Archived => "archived",
        ArchiveFilter::All => "all",
    };
    let rows: Vec<Client> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM clients WHERE {FILTER} \
         AND ($5::text IS NULL OR (lower(name), id) > ($5, $6)) \
         ORDER BY lower(name), id LIMIT $7"
    )))
    .bind(tenant)
    .bind(&q)
    .bind(status)
    .bind(&f.ids)
    .bind(page.after_key())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM clients WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(&q)
    .bind(status)
    .bind(&f.ids)
    .fetch_one(tx.conn())
    .await?;
    let minor = crate::identity::company::currency_minor(tx).await?;
    let rows = rows
        .into_iter()
        .map(|mut c| {
            c.hourly_rate = c
                .hourly_rate
                .map(|r| crate::kernel::money::to_price(r, minor));
            c
        })
        .collect();
    Ok(Page::from_rows(rows, page, total, |c| Cursor {
        key: c.name.to_lowercase(),
        id: c.id.as_uuid(),
    }))
}

/// A billing address checked; `None` when it has no field.
fn billing_address(v: &mut ValidationErrors, a: Option<Address>) -> Option<Address> {
    a.map(|a| a.validated(v, "billing_address"))
        .filter(|a| *a != Address::default())
}

pub async fn create(tx: &mut TenantTx, new: NewClient) -> DomainResult<Client> {
    let mut v = ValidationErrors::new();
    let f = validate(&mut v, new);
    check_domains_free(tx, &mut v, &f.email_domains, None).await?;
    v.finish()?;
    let id = ClientId::new();
    insert(tx, &[(id, f)]).await?;
    let client = get(tx, id).await?;
    crate::kernel::events::emit(
        tx,
        crate::kernel::events::CLIENT_CREATED,
        Some(client.id.as_uuid()),
        &client,
    )
    .await?;
    Ok(client)
}

pub async fn update(tx: &mut TenantTx, id: ClientId, patch: ClientPatch) -> DomainResult<Client> {
    let current = get(tx, id).await?;
    let merged = NewClient {
        name: patch.name.unwrap_or(current.name),
        email: patch.email.unwrap_or(current.email),
        phone: patch.phone.unwrap_or(current.phone),
        website: patch.website.unwrap_or(current.website),
        tax_id: patch.tax_id.unwrap_or(current.tax_id),
        billing_address: patch.billing_address.unwrap_or(current.billing_address),
        notes: patch.notes.unwrap_or(current.notes),
        email_domains: patch.email_domains.unwrap_or(current.email_domains),
        hourly_rate: patch.hourly_rate.unwrap_or(current.hourly_rate),
    };
    let mut v = ValidationErrors::new();
    let f = validate(&mut v, merged);
    check_domains_free(tx, &mut v, &f.email_domains, Some(id)).await?;
    v.finish()?;
    overwrite(tx, &[(id, f)]).await?;
    get(tx, id).await
}

/// The columns [`insert`] and [`overwrite`] write, as `unnest` arrays from
/// `$3`: one element per client. Domains hold no spaces (validated), so a
/// space joins each client's.
const WRITTEN: &str = "unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], \
    $8::text[], $9::text[], $10::text[], $11::numeric[], $12::jsonb[]) \
    AS u(id, name, email, phone, website, tax_id, notes, domains, rate, billing)";

/// Inserts validated clients, many at once: the one statement that creates
/// clients (the API's [`create`] and the CSV import). Emits nothing.
pub(crate) async fn insert(tx: &mut TenantTx, rows: &[(ClientId, Fields)]) -> DomainResult<()> {
    write(
        tx,
        rows,
        &format!(
            "INSERT INTO clients (id, company_id, name, email, phone, website, tax_id, notes, \
             email_domains, hourly_rate, billing_address, created_at, updated_at) \
             SELECT u.id, $1, u.name, u.email, u.phone, u.website, u.tax_id, u.notes, \
             COALESCE(string_to_array(NULLIF(u.domains, ''), ' '), '{{}}'), u.rate, u.billing, $2, $2 \
             FROM {WRITTEN}"
        ),
    )
    .await
}

/// Sets every field of existing clients to the validated ones, many at
/// once: the one statement that updates a client's fields (the API's
/// [`update`] and the CSV import).
pub(crate) async fn overwrite(tx: &mut TenantTx, rows: &[(ClientId, Fields)]) -> DomainResult<()> {
    write(
        tx,
        rows,
        &format!(
            "UPDATE clients c SET name = u.name, email = u.email, phone = u.phone, \
             website = u.website, tax_id = u.tax_id, notes = u.notes, \
             email_domains = COALESCE(string_to_array(NULLIF(u.domains, ''), ' '), '{{}}'), \
             hourly_rate = u.rate, billing_address = u.billing, updated_at = $2 \
             FROM {WRITTEN} WHERE c.company_id = $1 AND c.id = u.id"
        ),
    )
    .await
}

async fn write(tx: &mut TenantTx, rows: &[(ClientId, Fields)], sql: &str) -> DomainResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let col = |g: fn(&Fields) -> Option<String>| rows.iter().map(|r| g(&r.1)).collect::<Vec<_>>();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(now)
        .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1.name.clone()).collect::<Vec<_>>())
        .bind(col(|f| f.email.clone()))
        .bind(col(|f| f.phone.clone()))
        .bind(col(|f| f.website.clone()))
        .bind(col(|f| f.tax_id.clone()))
        .bind(col(|f| f.notes.clone()))
        .bind(
            rows.iter()
                .map(|r| r.1.email_domains.join(" "))
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.1.hourly_rate).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.1.billing_address.clone().map(sqlx::types::Json))
                .collect::<Vec<_>>(),
        )
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Archives (`true`) or restores (`false`) a client. Idempotent.
pub async fn set_archived(tx: &mut TenantTx, id: ClientId, archived: bool) -> DomainResult<Client> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Option<Client> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE clients SET archived_at = CASE WHEN $3 THEN COALESCE(archived_at, $4) END, \
         updated_at = $4 WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(archived)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("client"))?.shown(tx).await
}

/// Deletes a client with its contacts and locations.
pub async fn delete(tx: &mut TenantTx, id: ClientId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let done = sqlx::query("DELETE FROM clients WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await
        .on_constraint("invoices_client_id_fkey", || {
            DomainError::conflict(
                "client_has_invoices",
                "a client with invoices cannot be deleted; archive it",
            )
        })
        .on_constraint("tickets_client_id_fkey", || {
            DomainError::conflict(
                "client_has_tickets",
                "a client with tickets cannot be deleted; archive it",
            )
        })
        .on_constraint("projects_client_id_fkey", || {
            DomainError::conflict(
                "client_has_projects",
                "a client with projects cannot be deleted; archive it",
            )
        })
        .on_constraint("time_entries_client_id_fkey", || {
            DomainError::conflict(
                "client_has_time",
                "a client with logged time cannot be deleted; archive it",
            )
        })?;
    if done.rows_affected() == 0 {
        return Err(DomainError::not_found("client"));
    }
    Ok(())
}
