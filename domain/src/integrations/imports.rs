//! CSV import of clients, contacts, locations and assets.
//!
//! A file is checked at the door (UTF-8, a header row naming known columns
//! with every required one, at least one data row) and stored; a job then
//! validates every row with the domains' own rules, resolves client names,
//! and writes in one transaction with batched statements. Rows are matched
//! on natural keys, so importing a file again creates nothing:
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

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use crate::customers::clients::NewClient;
use crate::customers::contacts::NewContact;
use crate::customers::locations::NewLocation;
use crate::identity::company::Address;
use crate::inventory::assets::{self, Asset, AssetStatus, AssetType, NewAsset};
use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::{
    AssetId, ClientId, ContactId, DomainError, DomainResult, ImportId, LocationId, TenantTx,
    UserId, identity::company,
};

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
            ImportKind::Clients => (
                &[
                    "name",
                    "email",
                    "phone",
                    "website",
                    "tax_id",
                    "notes",
                    "email_domains",
                ],
                &["name"],
            ),
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

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
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
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct RowError {
    /// The data row, from 1 (the header is row 0; without quoted line
    /// breaks, the file line is `row + 1`).
    pub row: i32,
    /// The column, or `""` for the row as a whole.
    pub field: String,
    pub code: String,
    pub message: String,
}

// ---- the file ----

/// A parsed file: the column names and each data row's cells.
pub struct Parsed {
    columns: HashMap<String, usize>,
    rows: Vec<csv::StringRecord>,
    width: usize,
    /// Rows not to plan, already reported (see `without_nul_rows`).
    skip: Vec<bool>,
}

fn file_error(code: &'static str, message: impl Into<String>) -> DomainError {
    let mut v = ValidationErrors::new();
    v.add("file", code, message);
    DomainError::Validation(v)
}

/// Parses and checks a file of `kind`: UTF-8 (a BOM is skipped), a header
/// row of known, distinct columns with every required one, 1 to
/// [`MAX_ROWS`] data rows. Row contents are checked by [`run`].
pub fn parse(kind: ImportKind, bytes: &[u8]) -> DomainResult<Parsed> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        file_error(
            "invalid_encoding",
            format!(
                "the file is not UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(file_error("empty", "the file is empty"));
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = rdr
        .headers()
        .map_err(|e| file_error("malformed", format!("the header row is not CSV: {e}")))?
        .clone();
    let (known, required) = kind.columns();
    let mut columns = HashMap::new();
    let mut unknown = Vec::new();
    for (i, h) in header.iter().enumerate() {
        let h = h.trim().to_ascii_lowercase();
        if !known.contains(&h.as_str()) {
            unknown.push(h);
        } else if columns.insert(h.clone(), i).is_some() {
            return Err(file_error(
                "duplicate_column",
                format!("the column {h:?} appears twice"),
            ));
        }
    }
    if !unknown.is_empty() {
        return Err(file_error(
            "unknown_column",
            format!(
                "unknown columns {unknown:?}; a {} file may have {}",
                kind.as_str(),
                known.join(", ")
            ),
        ));
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !columns.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        return Err(file_error(
            "missing_column",
            format!("required columns missing: {}", missing.join(", ")),
        ));
    }
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| file_error("malformed", format!("the file is not CSV: {e}")))?;
        // A blank line between rows is no row.
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows.push(rec);
        if rows.len() > MAX_ROWS {
            return Err(file_error(
                "too_many_rows",
                format!("at most {MAX_ROWS} rows per file"),
            ));
        }
    }
    if rows.is_empty() {
        return Err(file_error("no_rows", "the file has a header but no rows"));
    }
    Ok(Parsed {
        columns,
        rows,
        width: header.len(),
        skip: Vec::new(),
    })
}

impl Parsed {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The trimmed cell of `col` in row `i`; `None` when empty or absent.
    fn cell(&self, i: usize, col: &str) -> Option<&str> {
        let idx = *self.columns.get(col)?;
        self.rows[i]
            .get(idx)
            .map(str::trim)
            .filter(|c| !c.is_empty())
    }

    /// Whether row `i` is to be skipped (it had a NUL byte).
    fn skipped(&self, i: usize) -> bool {
        self.skip.get(i).copied().unwrap_or(false)
    }

    /// Marks rows holding a NUL byte (which no text column stores) as
    /// skipped, each with a row error naming the column.
    fn without_nul_rows(mut self, errs: &mut Errors) -> Parsed {
        let mut names: Vec<(&String, &usize)> = self.columns.iter().collect();
        names.sort_by_key(|(_, i)| **i);
        self.skip = vec![false; self.rows.len()];
        for (i, rec) in self.rows.iter().enumerate() {
            for (j, cell) in rec.iter().enumerate() {
                if cell.contains('\0') {
                    let col = names
                        .iter()
                        .find(|(_, idx)| **idx == j)
                        .map(|(n, _)| n.to_string())
                        .unwrap_or_else(|| format!("column {}", j + 1));
                    errs.add(
                        i,
                        &col,
                        "nul_character",
                        format!("{col} contains a NUL byte; the row was not imported"),
                    );
                    self.skip[i] = true;
                }
            }
        }
        self
    }

    fn text(&self, i: usize, col: &str) -> Option<String> {
        self.cell(i, col).map(str::to_owned)
    }
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

/// Collects row errors.
#[derive(Default)]
struct Errors(Vec<RowError>);

impl Errors {
    fn add(&mut self, i: usize, field: &str, code: &str, message: impl Into<String>) {
        self.0.push(RowError {
            row: i as i32 + 1,
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        });
    }

    /// Adds a domain validation's errors, renaming fields to the file's columns.
    fn extend(&mut self, i: usize, v: ValidationErrors, rename: &[(&str, &str)]) {
        for e in v.0 {
            let field = rename
                .iter()
                .find(|(from, _)| *from == e.field)
                .map(|(_, to)| (*to).to_owned())
                .unwrap_or_else(|| e.field.trim_start_matches("address.").to_owned());
            self.add(i, &field, e.code, e.message);
        }
    }

    fn failed_rows(&self) -> usize {
        let mut rows: Vec<i32> = self.0.iter().map(|e| e.row).collect();
        rows.dedup();
        rows.len()
    }
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
    let parsed = parsed.without_nul_rows(&mut errs);
    let plan = match imp.kind {
        ImportKind::Clients => plan_clients(tx, &parsed, &mut errs).await?,
        ImportKind::Contacts => plan_contacts(tx, &parsed, &mut errs).await?,
        ImportKind::Locations => plan_locations(tx, &parsed, &mut errs).await?,
        ImportKind::Assets => plan_assets(tx, &parsed, &mut errs).await?,
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

/// What to write: new records and changed ones, per kind.
enum Plan {
    Clients(Vec<ClientRow>, Vec<ClientRow>, usize),
    Contacts(Vec<ContactRow>, Vec<ContactRow>, usize),
    Locations(Vec<LocationRow>, Vec<LocationRow>, usize),
    Assets(Vec<(Asset, &'static str, serde_json::Value)>, usize),
}

impl Plan {
    async fn apply(
        self,
        tx: &mut TenantTx,
        user: Option<UserId>,
        c: &mut Counts,
    ) -> DomainResult<()> {
        match self {
            Plan::Clients(new, changed, same) => {
                (c.created, c.updated, c.unchanged) = (new.len(), changed.len(), same);
                write_clients(tx, &new, true).await?;
                write_clients(tx, &changed, false).await
            }
            Plan::Contacts(new, changed, same) => {
                (c.created, c.updated, c.unchanged) = (new.len(), changed.len(), same);
                write_contacts(tx, &new, true).await?;
                write_contacts(tx, &changed, false).await?;
                clear_other_primaries(tx, new.iter().chain(&changed)).await
            }
            Plan::Locations(new, changed, same) => {
                (c.created, c.updated, c.unchanged) = (new.len(), changed.len(), same);
                write_locations(tx, &new, true).await?;
                write_locations(tx, &changed, false).await
            }
            Plan::Assets(rows, same) => {
                c.created = rows.iter().filter(|r| r.1 == "created").count();
                c.updated = rows.len() - c.created;
                c.unchanged = same;
                write_assets(tx, &rows, user).await
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

/// The client a row names, or an error on the row.
fn resolve_client(
    p: &Parsed,
    i: usize,
    clients: &HashMap<String, Vec<ClientId>>,
    errs: &mut Errors,
) -> Option<ClientId> {
    let name = p.cell(i, "client")?;
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

fn required_client(p: &Parsed, i: usize, errs: &mut Errors) {
    if p.cell(i, "client").is_none() {
        errs.add(i, "client", "required", "client must not be empty");
    }
}

/// Checks the row has as many cells as the header.
fn check_width(p: &Parsed, i: usize, errs: &mut Errors) -> bool {
    let n = p.rows[i].len();
    if n != p.width {
        errs.add(
            i,
            "",
            "wrong_cell_count",
            format!("the row has {n} cells; the header has {}", p.width),
        );
        return false;
    }
    true
}

fn parse_bool(p: &Parsed, i: usize, col: &str, errs: &mut Errors) -> bool {
    match p.cell(i, col).map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "no" | "0" | "n") => false,
        Some("true" | "yes" | "1" | "y") => true,
        Some(other) => {
            errs.add(
                i,
                col,
                "invalid",
                format!("{col} must be true or false, not {other:?}"),
            );
            false
        }
    }
}

fn parse_date(p: &Parsed, i: usize, col: &str, errs: &mut Errors) -> Option<NaiveDate> {
    let s = p.cell(i, col)?;
    match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) if crate::kernel::dates::in_range(d) => Some(d),
        Ok(_) => {
            errs.add(
                i,
                col,
                "out_of_range",
                crate::kernel::dates::range_message(col),
            );
            None
        }
        Err(_) => {
            errs.add(
                i,
                col,
                "invalid",
                format!("{col} must be a date as YYYY-MM-DD, not {s:?}"),
            );
            None
        }
    }
}

// ---- clients ----

struct ClientRow {
    id: ClientId,
    f: crate::customers::clients::Fields,
}

async fn plan_clients(tx: &mut TenantTx, p: &Parsed, errs: &mut Errors) -> DomainResult<Plan> {
    let tenant = tx.tenant();
    #[derive(sqlx::FromRow)]
    struct Existing {
        id: ClientId,
        name: String,
        email: Option<String>,
        phone: Option<String>,
        website: Option<String>,
        tax_id: Option<String>,
        notes: Option<String>,
        email_domains: Vec<String>,
        hourly_rate: Option<Decimal>,
    }
    let existing: Vec<Existing> = sqlx::query_as(
        "SELECT id, name, email, phone, website, tax_id, notes, email_domains, hourly_rate \
         FROM clients WHERE company_id = $1",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    let mut by_name: HashMap<String, Vec<&Existing>> = HashMap::new();
    let mut domain_owner: HashMap<&str, ClientId> = HashMap::new();
    for e in &existing {
        by_name.entry(e.name.to_lowercase()).or_default().push(e);
        for d in &e.email_domains {
            domain_owner.insert(d, e.id);
        }
    }
    let mut seen = Seen::new();
    let mut file_domains: HashMap<String, usize> = HashMap::new();
    let (mut new, mut changed, mut same) = (Vec::new(), Vec::new(), 0);
    for i in 0..p.len() {
        if p.skipped(i) {
            continue;
        }
        if !check_width(p, i, errs) {
            continue;
        }
        let mut v = ValidationErrors::new();
        let domains: Vec<String> = p
            .cell(i, "email_domains")
            .map(|d| {
                d.split([';', ','])
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let mut f = crate::customers::clients::validate(
            &mut v,
            NewClient {
                name: p.text(i, "name").unwrap_or_default(),
                email: p.text(i, "email"),
                phone: p.text(i, "phone"),
                website: p.text(i, "website"),
                tax_id: p.text(i, "tax_id"),
                billing_address: None,
                notes: p.text(i, "notes"),
                email_domains: domains,
                hourly_rate: None,
            },
        );
        let ok = v.is_empty();
        errs.extend(i, v, &[]);
        if !ok || !seen.first(errs, i, f.name.to_lowercase(), "name") {
            continue;
        }
        let matched = match lookup(&by_name, &f.name.to_lowercase()) {
            Found::None => None,
            Found::One(e) => Some(*e),
            Found::Many => {
                errs.add(
                    i,
                    "name",
                    "ambiguous",
                    "several clients already have this name",
                );
                continue;
            }
        };
        let id = matched.map(|e| e.id).unwrap_or_else(ClientId::new);
        let mut taken = Vec::new();
        for d in &f.email_domains {
            let other_client = domain_owner.get(d.as_str()).is_some_and(|o| *o != id);
            let other_row = file_domains.get(d).is_some_and(|r| *r != i);
            if other_client || other_row {
                taken.push(d.clone());
            }
        }
        if !taken.is_empty() {
            errs.add(
                i,
                "email_domains",
                "taken",
                format!("already registered to another client: {}", taken.join(", ")),
            );
            continue;
        }
        for d in &f.email_domains {
            file_domains.insert(d.clone(), i);
        }
        match matched {
            None => new.push(ClientRow { id, f }),
            Some(e) => {
                f.hourly_rate = e.hourly_rate;
                let unchanged = e.name == f.name
                    && e.email == f.email
                    && e.phone == f.phone
                    && e.website == f.website
                    && e.tax_id == f.tax_id
                    && e.notes == f.notes
                    && e.email_domains == f.email_domains;
                if unchanged {
                    same += 1;
                } else {
                    changed.push(ClientRow { id, f });
                }
            }
        }
    }
    Ok(Plan::Clients(new, changed, same))
}

async fn write_clients(tx: &mut TenantTx, rows: &[ClientRow], insert: bool) -> DomainResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let sql = if insert {
        "INSERT INTO clients (id, company_id, name, email, phone, website, tax_id, notes, \
         email_domains, created_at, updated_at) \
         SELECT u.id, $1, u.name, u.email, u.phone, u.website, u.tax_id, u.notes, \
         COALESCE(string_to_array(NULLIF(u.domains, ''), ' '), '{}'), $2, $2 \
         FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) \
         AS u(id, name, email, phone, website, tax_id, notes, domains)"
    } else {
        "UPDATE clients c SET name = u.name, email = u.email, phone = u.phone, website = u.website, \
         tax_id = u.tax_id, notes = u.notes, \
         email_domains = COALESCE(string_to_array(NULLIF(u.domains, ''), ' '), '{}'), updated_at = $2 \
         FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) \
         AS u(id, name, email, phone, website, tax_id, notes, domains) \
         WHERE c.company_id = $1 AND c.id = u.id"
    };
    sqlx::query(sql)
        .bind(tenant)
        .bind(now)
        .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.f.name.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.f.email.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.f.phone.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.f.website.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.f.tax_id.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.f.notes.clone()).collect::<Vec<_>>())
        // Domains hold no spaces (validated), so a space joins them.
        .bind(
            rows.iter()
                .map(|r| r.f.email_domains.join(" "))
                .collect::<Vec<_>>(),
        )
        .execute(tx.conn())
        .await?;
    Ok(())
}

// ---- contacts ----

struct ContactRow {
    id: ContactId,
    client: ClientId,
    c: NewContact,
}

async fn plan_contacts(tx: &mut TenantTx, p: &Parsed, errs: &mut Errors) -> DomainResult<Plan> {
    let tenant = tx.tenant();
    let clients = clients_by_name(tx).await?;
    type Existing = (
        ContactId,
        ClientId,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        bool,
        bool,
    );
    let existing: Vec<Existing> = sqlx::query_as(
        "SELECT id, client_id, name, email, phone, title, is_primary, is_billing \
         FROM contacts WHERE company_id = $1",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    // Key: (client, "e:" + email) or (client, "n:" + name) for those without e-mail.
    let mut by_key: HashMap<(ClientId, String), Vec<&Existing>> = HashMap::new();
    for e in &existing {
        let k = match &e.3 {
            Some(m) => format!("e:{}", m.to_lowercase()),
            None => format!("n:{}", e.2.to_lowercase()),
        };
        by_key.entry((e.1, k)).or_default().push(e);
    }
    let mut seen = Seen::new();
    let mut primary_seen: Seen<ClientId> = Seen::new();
    let (mut new, mut changed, mut same) = (Vec::new(), Vec::new(), 0);
    for i in 0..p.len() {
        if p.skipped(i) {
            continue;
        }
        if !check_width(p, i, errs) {
            continue;
        }
        let before = errs.0.len();
        required_client(p, i, errs);
        let client = resolve_client(p, i, &clients, errs);
        let is_primary = parse_bool(p, i, "is_primary", errs);
        let is_billing = parse_bool(p, i, "is_billing", errs);
        let mut v = ValidationErrors::new();
        let c = crate::customers::contacts::validate(
            &mut v,
            NewContact {
                name: p.text(i, "name").unwrap_or_default(),
                email: p.text(i, "email"),
                phone: p.text(i, "phone"),
                title: p.text(i, "title"),
                is_primary,
                is_billing,
            },
        );
        errs.extend(i, v, &[]);
        let Some(client) = client else { continue };
        if errs.0.len() > before {
            continue;
        }
        let k = match &c.email {
            Some(m) => format!("e:{}", m.to_lowercase()),
            None => format!("n:{}", c.name.to_lowercase()),
        };
        let field = if c.email.is_some() { "email" } else { "name" };
        if !seen.first(errs, i, (client, k.clone()), field) {
            continue;
        }
        if c.is_primary && !primary_seen.first(errs, i, client, "is_primary") {
            continue;
        }
        match lookup(&by_key, &(client, k)) {
            Found::None => new.push(ContactRow {
                id: ContactId::new(),
                client,
                c,
            }),
            Found::One(e) => {
                let unchanged = e.2 == c.name
                    && e.3 == c.email
                    && e.4 == c.phone
                    && e.5 == c.title
                    && e.6 == c.is_primary
                    && e.7 == c.is_billing;
                if unchanged {
                    same += 1;
                } else {
                    changed.push(ContactRow { id: e.0, client, c });
                }
            }
            Found::Many => errs.add(
                i,
                field,
                "ambiguous",
                "several contacts of this client match this row",
            ),
        }
    }
    Ok(Plan::Contacts(new, changed, same))
}

async fn write_contacts(tx: &mut TenantTx, rows: &[ContactRow], insert: bool) -> DomainResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let sql = if insert {
        "INSERT INTO contacts (id, company_id, client_id, name, email, phone, title, is_primary, \
         is_billing, created_at, updated_at) \
         SELECT u.id, $1, u.client, u.name, u.email, u.phone, u.title, u.pri, u.bill, $2, $2 \
         FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[], $10::bool[]) \
         AS u(id, client, name, email, phone, title, pri, bill)"
    } else {
        "UPDATE contacts c SET name = u.name, email = u.email, phone = u.phone, title = u.title, \
         is_primary = u.pri, is_billing = u.bill, updated_at = $2 \
         FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[], $10::bool[]) \
         AS u(id, client, name, email, phone, title, pri, bill) \
         WHERE c.company_id = $1 AND c.id = u.id AND c.client_id = u.client"
    };
    sqlx::query(sql)
        .bind(tenant)
        .bind(now)
        .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.client).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.c.name.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.c.email.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.c.phone.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.c.title.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.c.is_primary).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.c.is_billing).collect::<Vec<_>>())
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// A contact made primary by the file leaves its client's others not.
async fn clear_other_primaries<'a>(
    tx: &mut TenantTx,
    rows: impl Iterator<Item = &'a ContactRow>,
) -> DomainResult<()> {
    let (ids, clients): (Vec<ContactId>, Vec<ClientId>) = rows
        .filter(|r| r.c.is_primary)
        .map(|r| (r.id, r.client))
        .unzip();
    if ids.is_empty() {
        return Ok(());
    }
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE contacts SET is_primary = false WHERE company_id = $1 AND client_id = ANY($2) \
         AND is_primary AND NOT (id = ANY($3))",
    )
    .bind(tenant)
    .bind(clients)
    .bind(ids)
    .execute(tx.conn())
    .await?;
    Ok(())
}

// ---- locations ----

struct LocationRow {
    id: LocationId,
    client: ClientId,
    l: NewLocation,
}

async fn plan_locations(tx: &mut TenantTx, p: &Parsed, errs: &mut Errors) -> DomainResult<Plan> {
    let tenant = tx.tenant();
    let clients = clients_by_name(tx).await?;
    type Existing = (
        LocationId,
        ClientId,
        String,
        serde_json::Value,
        Option<String>,
        Option<String>,
    );
    let existing: Vec<Existing> = sqlx::query_as(
        "SELECT id, client_id, name, address, phone, notes FROM locations WHERE company_id = $1",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    let mut by_key: HashMap<(ClientId, String), Vec<&Existing>> = HashMap::new();
    for e in &existing {
        by_key.entry((e.1, e.2.to_lowercase())).or_default().push(e);
    }
    let mut seen = Seen::new();
    let (mut new, mut changed, mut same) = (Vec::new(), Vec::new(), 0);
    for i in 0..p.len() {
        if p.skipped(i) {
            continue;
        }
        if !check_width(p, i, errs) {
            continue;
        }
        let before = errs.0.len();
        required_client(p, i, errs);
        let client = resolve_client(p, i, &clients, errs);
        let mut v = ValidationErrors::new();
        let l = crate::customers::locations::validate(
            &mut v,
            NewLocation {
                name: p.text(i, "name").unwrap_or_default(),
                address: Address {
                    line1: p.text(i, "line1"),
                    line2: p.text(i, "line2"),
                    city: p.text(i, "city"),
                    region: p.text(i, "region"),
                    postal_code: p.text(i, "postal_code"),
                    country: p.text(i, "country"),
                },
                phone: p.text(i, "phone"),
                notes: p.text(i, "notes"),
                is_primary: false,
            },
        );
        errs.extend(i, v, &[]);
        let Some(client) = client else { continue };
        if errs.0.len() > before || !seen.first(errs, i, (client, l.name.to_lowercase()), "name") {
            continue;
        }
        match lookup(&by_key, &(client, l.name.to_lowercase())) {
            Found::None => new.push(LocationRow {
                id: LocationId::new(),
                client,
                l,
            }),
            Found::One(e) => {
                let unchanged = e.2 == l.name
                    && Address::from_json(e.3.clone()) == l.address
                    && e.4 == l.phone
                    && e.5 == l.notes;
                if unchanged {
                    same += 1;
                } else {
                    changed.push(LocationRow { id: e.0, client, l });
                }
            }
            Found::Many => errs.add(
                i,
                "name",
                "ambiguous",
                "several locations of this client have this name",
            ),
        }
    }
    Ok(Plan::Locations(new, changed, same))
}

async fn write_locations(
    tx: &mut TenantTx,
    rows: &[LocationRow],
    insert: bool,
) -> DomainResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let sql = if insert {
        "INSERT INTO locations (id, company_id, client_id, name, address, phone, notes, \
         is_primary, created_at, updated_at) \
         SELECT u.id, $1, u.client, u.name, u.address, u.phone, u.notes, false, $2, $2 \
         FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::jsonb[], $7::text[], $8::text[]) \
         AS u(id, client, name, address, phone, notes)"
    } else {
        "UPDATE locations l SET name = u.name, address = u.address, phone = u.phone, \
         notes = u.notes, updated_at = $2 \
         FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::jsonb[], $7::text[], $8::text[]) \
         AS u(id, client, name, address, phone, notes) \
         WHERE l.company_id = $1 AND l.id = u.id AND l.client_id = u.client"
    };
    sqlx::query(sql)
        .bind(tenant)
        .bind(now)
        .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.client).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.l.name.clone()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.l.address.to_json())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.l.phone.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.l.notes.clone()).collect::<Vec<_>>())
        .execute(tx.conn())
        .await?;
    Ok(())
}

// ---- assets ----

async fn plan_assets(tx: &mut TenantTx, p: &Parsed, errs: &mut Errors) -> DomainResult<Plan> {
    let clients = clients_by_name(tx).await?;
    let c = company::get(tx).await?;
    let (now, today) = (tx.now(), c.today(tx.now()));
    let existing = assets::all(tx).await?;
    let key = |client: ClientId, serial: &Option<String>, name: &str| match serial {
        Some(s) => (client, format!("s:{}", s.to_lowercase())),
        None => (client, format!("n:{}", name.to_lowercase())),
    };
    let mut by_key: HashMap<(ClientId, String), Vec<&Asset>> = HashMap::new();
    for a in &existing {
        by_key
            .entry(key(a.client_id, &a.serial, &a.name))
            .or_default()
            .push(a);
    }
    let mut seen = Seen::new();
    let (mut out, mut same) = (Vec::new(), 0);
    for i in 0..p.len() {
        if p.skipped(i) {
            continue;
        }
        if !check_width(p, i, errs) {
            continue;
        }
        let before = errs.0.len();
        required_client(p, i, errs);
        let client = resolve_client(p, i, &clients, errs);
        let asset_type = match p.cell(i, "type") {
            None => {
                errs.add(i, "type", "required", "type must not be empty");
                AssetType::Other
            }
            Some(t) => AssetType::parse(&t.to_ascii_lowercase()).unwrap_or_else(|| {
                errs.add(
                    i,
                    "type",
                    "invalid",
                    format!(
                        "type must be one of {}",
                        AssetType::ALL
                            .iter()
                            .map(|t| t.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                AssetType::Other
            }),
        };
        let status = match p.cell(i, "status") {
            None => AssetStatus::InUse,
            Some(s) => AssetStatus::parse(&s.to_ascii_lowercase()).unwrap_or_else(|| {
                errs.add(
                    i,
                    "status",
                    "invalid",
                    "status must be in_use, spare, in_repair or retired",
                );
                AssetStatus::InUse
            }),
        };
        let purchase_cost = p.cell(i, "purchase_cost").and_then(|s| {
            s.parse::<Decimal>()
                .map_err(|_| {
                    errs.add(
                        i,
                        "purchase_cost",
                        "invalid",
                        format!("purchase_cost must be a decimal number, not {s:?}"),
                    )
                })
                .ok()
        });
        let purchase_date = parse_date(p, i, "purchase_date", errs);
        let warranty_expires = parse_date(p, i, "warranty_expires", errs);
        let client_id = client.unwrap_or_else(|| ClientId(uuid::Uuid::nil()));
        let name = p.text(i, "name").unwrap_or_default();
        let serial = p.text(i, "serial");
        let cur = match lookup(&by_key, &key(client_id, &serial, name.trim())) {
            Found::Many => {
                let field = if serial.is_some() { "serial" } else { "name" };
                errs.add(
                    i,
                    field,
                    "ambiguous",
                    "several assets of this client match this row",
                );
                continue;
            }
            Found::One(a) => Some(*a),
            Found::None => None,
        };
        let mut v = ValidationErrors::new();
        let f = assets::check_fields(
            &mut v,
            NewAsset {
                client_id,
                name,
                asset_type,
                make: p.text(i, "make"),
                model: p.text(i, "model"),
                serial,
                hostname: p.text(i, "hostname"),
                ip_address: p.text(i, "ip_address"),
                mac_address: p.text(i, "mac_address"),
                operating_system: p.text(i, "operating_system"),
                // Not in the file: kept as they are.
                location_id: cur.and_then(|a| a.location_id),
                contact_id: cur.and_then(|a| a.contact_id),
                purchase_date,
                purchase_cost,
                currency: p.text(i, "currency"),
                warranty_expires,
                status,
                notes: p.text(i, "notes"),
            },
            &c.currency,
            today,
        );
        errs.extend(i, v, &[]);
        if client.is_none() || errs.0.len() > before {
            continue;
        }
        let k = key(client_id, &f.serial, &f.name);
        let field = if f.serial.is_some() { "serial" } else { "name" };
        if !seen.first(errs, i, k, field) {
            continue;
        }
        match cur {
            Some(cur) => {
                let after = f.preview(cur);
                let changes = assets::diff(Some(cur), &after);
                if changes.is_empty() {
                    same += 1;
                } else {
                    out.push((after, "updated", serde_json::Value::Object(changes)));
                }
            }
            None => {
                let blank = Asset {
                    id: AssetId::new(),
                    client_id,
                    name: String::new(),
                    asset_type,
                    make: None,
                    model: None,
                    serial: None,
                    hostname: None,
                    ip_address: None,
                    mac_address: None,
                    operating_system: None,
                    location_id: None,
                    contact_id: None,
                    purchase_date: None,
                    purchase_cost: None,
                    currency: String::new(),
                    warranty_expires: None,
                    status,
                    notes: None,
                    created_at: now,
                    updated_at: now,
                };
                let after = f.preview(&blank);
                let changes = assets::diff(None, &after);
                out.push((after, "created", serde_json::Value::Object(changes)));
            }
        }
    }
    Ok(Plan::Assets(out, same))
}

async fn write_assets(
    tx: &mut TenantTx,
    rows: &[(Asset, &'static str, serde_json::Value)],
    user: Option<UserId>,
) -> DomainResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let col = |f: fn(&Asset) -> Option<String>| rows.iter().map(|r| f(&r.0)).collect::<Vec<_>>();
    // One statement inserts the new and updates the changed.
    sqlx::query(
        "INSERT INTO assets (id, company_id, client_id, name, asset_type, make, model, serial, \
         hostname, ip_address, mac_address, operating_system, location_id, contact_id, purchase_date, \
         purchase_cost, currency, warranty_expires, status, notes, created_at, updated_at) \
         SELECT u.id, $1, u.client, u.name, u.t, u.make, u.model, u.serial, u.host, u.ip, u.mac, u.os, \
         u.loc, u.contact, u.pdate, u.cost, u.cur, u.wexp, u.status, u.notes, $2, $2 \
         FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], \
         $10::text[], $11::text[], $12::text[], $13::text[], $14::uuid[], $15::uuid[], $16::date[], \
         $17::numeric[], $18::text[], $19::date[], $20::text[], $21::text[]) \
         AS u(id, client, name, t, make, model, serial, host, ip, mac, os, loc, contact, pdate, cost, \
         cur, wexp, status, notes) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, asset_type = excluded.asset_type, \
         make = excluded.make, model = excluded.model, serial = excluded.serial, \
         hostname = excluded.hostname, ip_address = excluded.ip_address, \
         mac_address = excluded.mac_address, operating_system = excluded.operating_system, \
         purchase_date = excluded.purchase_date, purchase_cost = excluded.purchase_cost, \
         currency = excluded.currency, warranty_expires = excluded.warranty_expires, \
         status = excluded.status, notes = excluded.notes, updated_at = excluded.updated_at \
         WHERE assets.company_id = $1",
    )
    .bind(tenant)
    .bind(now)
    .bind(rows.iter().map(|r| r.0.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.client_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.name.clone()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.0.asset_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(col(|a| a.make.clone()))
    .bind(col(|a| a.model.clone()))
    .bind(col(|a| a.serial.clone()))
    .bind(col(|a| a.hostname.clone()))
    .bind(col(|a| a.ip_address.clone()))
    .bind(col(|a| a.mac_address.clone()))
    .bind(col(|a| a.operating_system.clone()))
    .bind(rows.iter().map(|r| r.0.location_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.contact_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.purchase_date).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.purchase_cost).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.currency.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.warranty_expires).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.0.status.as_str()).collect::<Vec<_>>())
    .bind(col(|a| a.notes.clone()))
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "INSERT INTO asset_events (company_id, asset_id, kind, changes, user_id, created_at) \
         SELECT $1, u.id, u.kind, u.changes, $2, $3 \
         FROM unnest($4::uuid[], $5::text[], $6::jsonb[]) AS u(id, kind, changes)",
    )
    .bind(tenant)
    .bind(user)
    .bind(now)
    .bind(rows.iter().map(|r| r.0.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>())
    .execute(tx.conn())
    .await?;
    Ok(())
}
