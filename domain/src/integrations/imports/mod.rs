//! CSV import of clients, contacts, locations and assets.
//!
//! A file is checked at the door (UTF-8, a header row naming known columns
//! with every required one, at least one data row) and stored; a job then
//! validates every row with the domains' own rules, resolves client names,
//! and writes in one transaction through the owning modules' batched
//! `insert` and `overwrite` (the statements the API writes with). Rows are
//! matched on natural keys, so importing a file again creates nothing:
//!
//! - clients: `lower(name)`;
//! - contacts: the client and `lower(email)`, or without an e-mail the
//!   client and `lower(name)` among the client's contacts without one;
//! - locations: the client and `lower(name)`;
//! - assets: the client and `lower(serial)`, or without a serial the client
//!   and `lower(name)` among the client's assets without one.
//!
//! A match is updated, or left alone when nothing differs. An existing key
//! matching several records, or a key repeated in the file, is a row error.
//!
//! Here: the import record and its run; `file` reads the CSV into rows;
//! one file per kind turns rows into a `Plan` of what to write.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::{
    AssetId, ClientId, ContactId, DomainError, DomainResult, ImportId, LocationId, TenantTx, UserId,
};

mod assets;
mod clients;
mod contacts;
mod file;
mod locations;

use file::Errors;
pub use file::{Parsed, parse};

/// Most data rows one file may hold.
pub const MAX_ROWS: usize = 100_000;

text_enum!(ImportKind {
    Clients = "clients",
    Contacts = "contacts",
    Locations = "locations",
    Assets = "assets",
});

text_enum!(ImportMode {
    /// Any row error: nothing is imported.
    AllOrNothing = "all_or_nothing",
    /// The valid rows are imported, the others reported.
    ValidRows = "valid_rows",
});

text_enum!(ImportStatus {
    Queued = "queued",
    Completed = "completed",
    /// Nothing was imported: see `failure` and the row errors.
    Failed = "failed",
});

impl ImportKind {
    /// The columns a file may have, and which of them it must have.
    pub fn columns(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            ImportKind::Clients => (CLIENT_COLUMNS, &["name"]),
            ImportKind::Contacts => (
                &[
                    "client",
                    "name",
                    "email",
                    "phone",
                    "title",
                    "is_primary",
                    "is_billing",
                ],
                &["client", "name"],
            ),
            ImportKind::Locations => (
                &[
                    "client",
                    "name",
                    "line1",
                    "line2",
                    "city",
                    "region",
                    "postal_code",
                    "country",
                    "phone",
                    "notes",
                ],
                &["client", "name"],
            ),
            ImportKind::Assets => (ASSET_COLUMNS, &["client", "name", "type"]),
        }
    }
}

/// The asset columns, in the order exports write them.
pub const ASSET_COLUMNS: &[&str] = &[
    "client",
    "name",
    "type",
    "status",
    "make",
    "model",
    "serial",
    "hostname",
    "ip_address",
    "mac_address",
    "operating_system",
    "purchase_date",
    "purchase_cost",
    "currency",
    "warranty_expires",
    "notes",
];

/// The client columns, in the order exports write them.
pub const CLIENT_COLUMNS: &[&str] = &[
    "name",
    "email",
    "phone",
    "website",
    "tax_id",
    "notes",
    "email_domains",
];

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Import {
    pub id: ImportId,
    #[sqlx(try_from = "String")]
    pub kind: ImportKind,
    #[sqlx(try_from = "String")]
    pub mode: ImportMode,
    #[sqlx(try_from = "String")]
    pub status: ImportStatus,
    pub filename: Option<String>,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    pub size_bytes: i64,
    /// Data rows in the file.
    pub total_rows: i32,
    pub created_rows: i32,
    pub updated_rows: i32,
    /// Rows matching a record that already had these values.
    pub unchanged_rows: i32,
    /// Rows with at least one error.
    pub failed_rows: i32,
    /// Why nothing was imported, when nothing was.
    pub failure: Option<String>,
    pub job_id: Option<uuid::Uuid>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, kind, mode, status, filename, sha256, size_bytes, total_rows, \
    created_rows, updated_rows, unchanged_rows, failed_rows, failure, job_id, created_at, finished_at";

/// One problem with one row.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct RowError {
    /// The data row, from 1 (the header is row 0; without quoted line
    /// breaks, the file line is `row + 1`).
    pub row: i32,
    /// The column, or `""` for the row as a whole.
    pub field: String,
    pub code: String,
    pub message: String,
}

// ---- the import rows ----

pub struct NewImport {
    pub id: ImportId,
    pub kind: ImportKind,
    pub mode: ImportMode,
    pub filename: Option<String>,
    pub file_key: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub created_by: Option<UserId>,
}

pub async fn create(tx: &mut TenantTx, new: NewImport) -> DomainResult<Import> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let mut v = ValidationErrors::new();
    let filename = v.optional_text("filename", new.filename.as_deref(), 255);
    v.finish()?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO imports (id, company_id, kind, mode, status, filename, file_key, sha256, \
         size_bytes, created_by, created_at) VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10) \
         RETURNING {COLUMNS}"
    )))
    .bind(new.id)
    .bind(tenant)
    .bind(new.kind.as_str())
    .bind(new.mode.as_str())
    .bind(filename)
    .bind(new.file_key)
    .bind(new.sha256)
    .bind(new.size_bytes)
    .bind(new.created_by)
    .bind(now)
    .fetch_one(tx.conn())
    .await?)
}

pub async fn set_job(tx: &mut TenantTx, id: ImportId, job: uuid::Uuid) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query("UPDATE imports SET job_id = $3 WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .bind(job)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn get(tx: &mut TenantTx, id: ImportId) -> DomainResult<Import> {
    fetch(tx, id, "").await
}

async fn fetch(tx: &mut TenantTx, id: ImportId, suffix: &str) -> DomainResult<Import> {
    let tenant = tx.tenant();
    let row: Option<Import> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM imports WHERE company_id = $1 AND id = $2 {suffix}"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("import"))
}

/// Where the import's file is.
pub async fn file_key(tx: &mut TenantTx, id: ImportId) -> DomainResult<String> {
    let tenant = tx.tenant();
    let key: Option<String> =
        sqlx::query_scalar("SELECT file_key FROM imports WHERE company_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(tx.conn())
            .await?;
    key.ok_or(DomainError::not_found("import"))
}

/// Imports, newest first.
pub async fn list(tx: &mut TenantTx, page: &PageRequest) -> DomainResult<Page<Import>> {
    let tenant = tx.tenant();
    let after: Option<DateTime<Utc>> = match page.after_key() {
        None => None,
        Some(k) => Some(
            DateTime::parse_from_rfc3339(k)
                .map_err(|_| bad_cursor())?
                .with_timezone(&Utc),
        ),
    };
    let rows: Vec<Import> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM imports WHERE company_id = $1 \
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    )))
    .bind(tenant)
    .bind(after)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM imports WHERE company_id = $1")
        .bind(tenant)
        .fetch_one(tx.conn())
        .await?;
    Ok(Page::from_rows(rows, page, total, |i: &Import| Cursor {
        key: i.created_at.to_rfc3339(),
        id: i.id.as_uuid(),
    }))
}

fn bad_cursor() -> DomainError {
    let mut v = ValidationErrors::new();
    v.add("cursor", "invalid", "cursor is not one this API returned");
    DomainError::Validation(v)
}

/// An import's row errors, by row.
pub async fn errors(
    tx: &mut TenantTx,
    id: ImportId,
    page: &PageRequest,
) -> DomainResult<Page<RowError>> {
    get(tx, id).await?;
    let tenant = tx.tenant();
    // The key is "row:seq", both zero-padded so they sort as numbers.
    let after: Option<(i32, i32)> = match page.after_key() {
        None => None,
        Some(k) => {
            let (r, s) = k.split_once(':').ok_or_else(bad_cursor)?;
            Some((
                r.parse().map_err(|_| bad_cursor())?,
                s.parse().map_err(|_| bad_cursor())?,
            ))
        }
    };
    let rows: Vec<(i32, i32, String, String, String)> = sqlx::query_as(
        "SELECT row_number, seq, field, code, message FROM import_errors \
         WHERE company_id = $1 AND import_id = $2 \
         AND ($3::int IS NULL OR (row_number, seq) > ($3, $4)) \
         ORDER BY row_number, seq LIMIT $5",
    )
    .bind(tenant)
    .bind(id)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM import_errors WHERE company_id = $1 AND import_id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_one(tx.conn())
    .await?;
    let keyed: Vec<(i32, RowError)> = rows
        .into_iter()
        .map(|(row, seq, field, code, message)| {
            (
                seq,
                RowError {
                    row,
                    field,
                    code,
                    message,
                },
            )
        })
        .collect();
    let page = Page::from_rows(keyed, page, total, |(seq, e)| Cursor {
        key: format!("{}:{}", e.row, seq),
        id: uuid::Uuid::nil(),
    });
    Ok(page.map(|(_, e)| e))
}

// ---- running ----

/// What a run did.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Counts {
    pub total: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub failed: usize,
}

/// Runs a queued import over its file: validates, matches and writes (or,
/// for `all_or_nothing` with errors, writes nothing but the report). Runs
/// once: an import already finished is returned as it is, so a retried job
/// changes nothing. Imports of one kind in one tenant run one at a time.
pub async fn run(
    tx: &mut TenantTx,
    id: ImportId,
    bytes: &[u8],
    user: Option<UserId>,
) -> DomainResult<Import> {
    let imp = fetch(tx, id, "FOR UPDATE").await?;
    if imp.status != ImportStatus::Queued {
        return Ok(imp);
    }
    let tenant = tx.tenant();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("import:{tenant}:{}", imp.kind.as_str()))
        .execute(tx.conn())
        .await?;
    let parsed = match parse(imp.kind, bytes) {
        Ok(p) => p,
        Err(DomainError::Validation(v)) => {
            let why = v.0.first().map(|e| e.message.clone()).unwrap_or_default();
            return finish(
                tx,
                id,
                ImportStatus::Failed,
                Counts::default(),
                Some(why),
                &[],
            )
            .await;
        }
        Err(e) => return Err(e),
    };
    let mut errs = Errors::default();
    let parsed = parsed.without_bad_rows(&mut errs);
    let plan = match imp.kind {
        ImportKind::Clients => clients::plan(tx, &parsed, &mut errs).await?,
        ImportKind::Contacts => contacts::plan(tx, &parsed, &mut errs).await?,
        ImportKind::Locations => locations::plan(tx, &parsed, &mut errs).await?,
        ImportKind::Assets => assets::plan(tx, &parsed, &mut errs).await?,
    };
    errs.0.sort_by_key(|e| e.row);
    let mut counts = Counts {
        total: parsed.len(),
        failed: errs.failed_rows(),
        ..Counts::default()
    };
    if imp.mode == ImportMode::AllOrNothing && !errs.0.is_empty() {
        let why = format!(
            "{} of {} rows have errors; nothing was imported",
            counts.failed, counts.total
        );
        return finish(tx, id, ImportStatus::Failed, counts, Some(why), &errs.0).await;
    }
    plan.apply(tx, user, &mut counts).await?;
    finish(tx, id, ImportStatus::Completed, counts, None, &errs.0).await
}

/// Ends an import that could not run (its job gave up): `failed` with
/// `reason`, unless it already reached a final state. Idempotent.
pub async fn fail(tx: &mut TenantTx, id: ImportId, reason: &str) -> DomainResult<Import> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let reason: String = reason.replace('\0', "").chars().take(2000).collect();
    sqlx::query(
        "UPDATE imports SET status = 'failed', failure = $3, finished_at = $4 \
         WHERE company_id = $1 AND id = $2 AND status = 'queued'",
    )
    .bind(tenant)
    .bind(id)
    .bind(reason)
    .bind(now)
    .execute(tx.conn())
    .await?;
    get(tx, id).await
}

async fn finish(
    tx: &mut TenantTx,
    id: ImportId,
    status: ImportStatus,
    c: Counts,
    failure: Option<String>,
    errors: &[RowError],
) -> DomainResult<Import> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query("DELETE FROM import_errors WHERE company_id = $1 AND import_id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    let mut seq = Vec::with_capacity(errors.len());
    let mut last = (-1, 0);
    for e in errors {
        last = if last.0 == e.row {
            (e.row, last.1 + 1)
        } else {
            (e.row, 0)
        };
        seq.push(last.1);
    }
    for (chunk, seqs) in errors.chunks(5_000).zip(seq.chunks(5_000)) {
        sqlx::query(
            "INSERT INTO import_errors (company_id, import_id, row_number, seq, field, code, message) \
             SELECT $1, $2, r, s, f, c, m FROM unnest($3::int[], $4::int[], $5::text[], $6::text[], $7::text[]) \
             AS u(r, s, f, c, m)",
        )
        .bind(tenant)
        .bind(id)
        .bind(chunk.iter().map(|e| e.row).collect::<Vec<_>>())
        .bind(seqs)
        .bind(chunk.iter().map(|e| e.field.clone()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|e| e.code.clone()).collect::<Vec<_>>())
        .bind(chunk.iter().map(|e| e.message.clone()).collect::<Vec<_>>())
        .execute(tx.conn())
        .await?;
    }
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE imports SET status = $3, total_rows = $4, created_rows = $5, updated_rows = $6, \
         unchanged_rows = $7, failed_rows = $8, failure = $9, finished_at = $10 \
         WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(status.as_str())
    .bind(c.total as i32)
    .bind(c.created as i32)
    .bind(c.updated as i32)
    .bind(c.unchanged as i32)
    .bind(c.failed as i32)
    .bind(failure)
    .bind(now)
    .fetch_one(tx.conn())
    .await?)
}

/// What to write, per kind: the new records, the changed ones, and how
/// many rows matched a record that already had their values. Each kind is
/// written by its owning module, as the API writes it.
enum Plan {
    Clients(
        Vec<(ClientId, crate::customers::clients::Fields)>,
        Vec<(ClientId, crate::customers::clients::Fields)>,
        usize,
    ),
    Contacts(Vec<ContactRow>, Vec<ContactRow>, usize),
    Locations(Vec<LocationRow>, Vec<LocationRow>, usize),
    /// With each asset's event (`created` or `updated`), in file order.
    Assets(
        Vec<(AssetId, crate::inventory::assets::Fields)>,
        Vec<(AssetId, crate::inventory::assets::Fields)>,
        Vec<(AssetId, &'static str, serde_json::Value)>,
        usize,
    ),
}

type ContactRow = (ContactId, ClientId, crate::customers::contacts::NewContact);
type LocationRow = (
    LocationId,
    ClientId,
    crate::customers::locations::NewLocation,
);

impl Plan {
    async fn apply(
        self,
        tx: &mut TenantTx,
        user: Option<UserId>,
        c: &mut Counts,
    ) -> DomainResult<()> {
        use crate::customers::{clients, contacts, locations};
        use crate::inventory::assets;
        match self {
            Plan::Clients(new, changed, same) => {
                (c.created, c.updated, c.unchanged) = (new.len(), changed.len(), same);
                clients::insert(tx, &new).await?;
                clients::overwrite(tx, &changed).await
            }
            Plan::Contacts(new, changed, same) => {
                (c.created, c.updated, c.unchanged) = (new.len(), changed.len(), same);
                contacts::insert(tx, &new).await?;
                contacts::overwrite(tx, &changed).await?;
                let primaries: Vec<(ContactId, ClientId)> = new
                    .iter()
                    .chain(&changed)
                    .filter(|r| r.2.is_primary)
                    .map(|r| (r.0, r.1))
                    .collect();
                contacts::clear_other_primaries(tx, &primaries).await
            }
            Plan::Locations(new, changed, same) => {
                (c.created, c.updated, c.unchanged) = (new.len(), changed.len(), same);
                locations::insert(tx, &new).await?;
                locations::overwrite(tx, &changed).await
            }
            Plan::Assets(new, changed, events, same) => {
                (c.created, c.updated, c.unchanged) = (new.len(), changed.len(), same);
                assets::insert(tx, &new).await?;
                assets::overwrite(tx, &changed).await?;
                assets::record_events(tx, &events, user).await
            }
        }
    }
}

/// Which existing record a key names: none, one, or several (ambiguous).
fn lookup<'a, K: std::hash::Hash + Eq, T>(map: &'a HashMap<K, Vec<T>>, k: &K) -> Found<'a, T> {
    match map.get(k).map(Vec::as_slice) {
        None | Some([]) => Found::None,
        Some([one]) => Found::One(one),
        Some(_) => Found::Many,
    }
}

enum Found<'a, T> {
    None,
    One(&'a T),
    Many,
}

/// Remembers the keys seen in the file; a repeat is a row error.
struct Seen<K>(HashMap<K, usize>);

impl<K: std::hash::Hash + Eq> Seen<K> {
    fn new() -> Self {
        Seen(HashMap::new())
    }

    /// `false` (and an error) when `k` was on an earlier row.
    fn first(&mut self, errs: &mut Errors, i: usize, k: K, field: &str) -> bool {
        if let Some(prev) = self.0.get(&k) {
            errs.add(
                i,
                field,
                "duplicate",
                format!("the same record is on row {} already", prev + 1),
            );
            return false;
        }
        self.0.insert(k, i);
        true
    }
}

/// The key a contact or an asset is matched on: its client and its
/// identifying field (an e-mail, a serial) lower-cased, or without one its
/// name lower-cased.
fn natural_key(client: ClientId, ident: Option<&str>, name: &str) -> (ClientId, String) {
    match ident {
        Some(s) => (client, format!("k:{}", s.to_lowercase())),
        None => (client, format!("n:{}", name.to_lowercase())),
    }
}

/// The tenant's clients by lower-cased name.
async fn clients_by_name(tx: &mut TenantTx) -> DomainResult<HashMap<String, Vec<ClientId>>> {
    let tenant = tx.tenant();
    let rows: Vec<(String, ClientId)> =
        sqlx::query_as("SELECT lower(name), id FROM clients WHERE company_id = $1")
            .bind(tenant)
            .fetch_all(tx.conn())
            .await?;
    let mut map: HashMap<String, Vec<ClientId>> = HashMap::new();
    for (n, id) in rows {
        map.entry(n).or_default().push(id);
    }
    Ok(map)
}

/// The client a row names, or an error on the row (none named, none or
/// several of that name).
fn resolve_client(
    p: &Parsed,
    i: usize,
    clients: &HashMap<String, Vec<ClientId>>,
    errs: &mut Errors,
) -> Option<ClientId> {
    let Some(name) = p.cell(i, "client") else {
        errs.add(i, "client", "required", "client must not be empty");
        return None;
    };
    match lookup(clients, &name.to_lowercase()) {
        Found::One(id) => Some(*id),
        Found::None => {
            errs.add(
                i,
                "client",
                "not_found",
                format!("no client named {name:?}"),
            );
            None
        }
        Found::Many => {
            errs.add(
                i,
                "client",
                "ambiguous",
                format!("several clients are named {name:?}"),
            );
            None
        }
    }
}
