//! IMAP mailboxes: where a tenant's support mail arrives, each belonging to
//! exactly one tenant, with its password encrypted at rest and its
//! checkpoint (UIDVALIDITY and the last UID taken).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::crypto::SecretKey;
use crate::kernel::error::OnConstraint;
use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::platform::mail::TlsMode;
use crate::{DomainError, DomainResult, MailboxId, TenantTx};

text_enum!(
    /// Mail from a sender who is no contact and of no client's domain.
    UnknownSenders {
        /// Open a ticket without a client, for triage.
        Triage = "triage",
        /// Put the message in quarantine.
        Quarantine = "quarantine",
    }
);

text_enum!(
    /// Mail answering a closed ticket.
    ClosedReplies {
        /// Open a new ticket linked to the closed one.
        NewTicket = "new_ticket",
        /// Reopen the closed ticket.
        Reopen = "reopen",
    }
);

text_enum!(
    /// Automated mail (out-of-office, bulk, list, no-reply senders) that
    /// answers none of our tickets. Bounces go to the quarantine either way.
    AutomatedMail {
        /// Record it without a ticket (outcome `ignored`, with its reason).
        Ignore = "ignore",
        /// Open a ticket, tagged `automated`, never answered.
        Accept = "accept",
    }
);

/// A mailbox as shown: never its password.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Mailbox {
    pub id: MailboxId,
    pub name: String,
    /// The support address people write to.
    pub address: String,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    pub folder: String,
    pub unknown_senders: UnknownSenders,
    pub closed_replies: ClosedReplies,
    pub automated_mail: AutomatedMail,
    pub enabled: bool,
    pub uidvalidity: Option<i64>,
    /// The highest UID taken under `uidvalidity`.
    pub last_uid: i64,
    pub last_polled_at: Option<DateTime<Utc>>,
    /// The last poll's failure; cleared by a poll that works.
    pub last_error: Option<String>,
    /// When "poll now" was last asked for.
    pub poll_requested_at: Option<DateTime<Utc>>,
    /// When the last complete pass over the folder started: all mail
    /// delivered before it has been taken.
    pub last_drained_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: MailboxId,
    name: String,
    address: String,
    host: String,
    port: i32,
    tls: String,
    username: String,
    password_enc: Vec<u8>,
    folder: String,
    unknown_senders: String,
    closed_replies: String,
    automated_mail: String,
    enabled: bool,
    uidvalidity: Option<i64>,
    last_uid: i64,
    last_polled_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    poll_requested_at: Option<DateTime<Utc>>,
    last_drained_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, address, host, port, tls, username, password_enc, folder, \
    unknown_senders, closed_replies, automated_mail, enabled, uidvalidity, last_uid, last_polled_at, \
    last_error, poll_requested_at, last_drained_at, created_at, updated_at";

impl Row {
    fn shown(self) -> (Mailbox, Vec<u8>) {
        (
            Mailbox {
                id: self.id,
                name: self.name,
                address: self.address,
                host: self.host,
                port: self.port as u16,
                tls: TlsMode::stored(&self.tls),
                username: self.username,
                folder: self.folder,
                unknown_senders: if self.unknown_senders == "quarantine" {
                    UnknownSenders::Quarantine
                } else {
                    UnknownSenders::Triage
                },
                closed_replies: if self.closed_replies == "reopen" {
                    ClosedReplies::Reopen
                } else {
                    ClosedReplies::NewTicket
                },
                automated_mail: if self.automated_mail == "accept" {
                    AutomatedMail::Accept
                } else {
                    AutomatedMail::Ignore
                },
                enabled: self.enabled,
                uidvalidity: self.uidvalidity,
                last_uid: self.last_uid,
                last_polled_at: self.last_polled_at,
                last_error: self.last_error,
                poll_requested_at: self.poll_requested_at,
                last_drained_at: self.last_drained_at,
                created_at: self.created_at,
                updated_at: self.updated_at,
            },
            self.password_enc,
        )
    }
}

/// A new mailbox.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMailbox {
    pub name: String,
    pub address: String,
    pub host: String,
    /// Defaults by TLS mode: 143 for `none` and `starttls`, 993 for `tls`.
    pub port: Option<u16>,
    pub tls: TlsMode,
    pub username: String,
    /// Stored encrypted with AES-256-GCM; never shown again.
    pub password: String,
    /// Default `INBOX`.
    pub folder: Option<String>,
    /// Default `triage`.
    pub unknown_senders: Option<UnknownSenders>,
    /// Default `new_ticket`.
    pub closed_replies: Option<ClosedReplies>,
    /// Default `ignore`.
    pub automated_mail: Option<AutomatedMail>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// A change to a mailbox; absent fields stay. A new account (host, port,
/// user or folder) starts from the beginning of its folder.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxPatch {
    pub name: Option<String>,
    pub address: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<TlsMode>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub folder: Option<String>,
    pub unknown_senders: Option<UnknownSenders>,
    pub closed_replies: Option<ClosedReplies>,
    pub automated_mail: Option<AutomatedMail>,
    pub enabled: Option<bool>,
}

/// Everything needed to connect, the password decrypted.
#[derive(Debug, Clone)]
pub struct Connection {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    pub password: String,
    pub folder: String,
}

fn default_port(tls: TlsMode) -> u16 {
    match tls {
        TlsMode::Tls => 993,
        TlsMode::None | TlsMode::Starttls => 143,
    }
}

struct Fields {
    name: String,
    address: String,
    host: String,
    port: u16,
    tls: TlsMode,
    username: String,
    folder: String,
    unknown_senders: UnknownSenders,
    closed_replies: ClosedReplies,
    automated_mail: AutomatedMail,
    enabled: bool,
}

fn validate(v: &mut ValidationErrors, m: &NewMailbox, key: Option<&SecretKey>) -> Fields {
    let name = v.required_text("name", &m.name, 200);
    let address = v.email("address", &m.address);
    let host = v.required_text("host", &m.host, 253);
    if host.contains(|c: char| c.is_whitespace() || c == '/' || c == ':') {
        v.add(
            "host",
            "invalid",
            "host must be a host name or an IP address",
        );
    }
    if m.port == Some(0) {
        v.add("port", "invalid", "port must be between 1 and 65535");
    }
    let username = v.required_text("username", &m.username, 320);
    if m.password.is_empty() || m.password.len() > 500 {
        v.add(
            "password",
            "invalid",
            "password must be 1 to 500 characters",
        );
    }
    if key.is_none() {
        v.add(
            "password",
            "unavailable",
            "passwords cannot be stored: the server has no NESTOGY_SECRET_KEY",
        );
    }
    let folder = m
        .folder
        .as_deref()
        .map(|f| v.required_text("folder", f, 200))
        .unwrap_or_else(|| "INBOX".to_owned());
    if folder.chars().any(char::is_control) || folder.contains('"') {
        v.add(
            "folder",
            "invalid",
            "folder has characters IMAP cannot name",
        );
    }
    Fields {
        name,
        address: address.to_lowercase(),
        host,
        port: m.port.unwrap_or(default_port(m.tls)),
        tls: m.tls,
        username,
        folder,
        unknown_senders: m.unknown_senders.unwrap_or(UnknownSenders::Triage),
        closed_replies: m.closed_replies.unwrap_or(ClosedReplies::NewTicket),
        automated_mail: m.automated_mail.unwrap_or(AutomatedMail::Ignore),
        enabled: m.enabled.unwrap_or(true),
    }
}

fn in_use() -> DomainError {
    DomainError::conflict(
        "mailbox_in_use",
        "this IMAP account and folder is already connected",
    )
}

pub async fn create(
    tx: &mut TenantTx,
    m: NewMailbox,
    key: Option<&SecretKey>,
) -> DomainResult<Mailbox> {
    let mut v = ValidationErrors::new();
    let f = validate(&mut v, &m, key);
    v.finish()?;
    let key = key.ok_or_else(|| DomainError::Internal("no secret key".into()))?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO mailboxes (id, company_id, name, address, host, port, tls, username, password_enc, \
         folder, unknown_senders, closed_replies, enabled, automated_mail, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $15, $14, $14) RETURNING {COLUMNS}"
    )))
    .bind(MailboxId::new())
    .bind(tenant)
    .bind(&f.name)
    .bind(&f.address)
    .bind(&f.host)
    .bind(f.port as i32)
    .bind(f.tls.as_str())
    .bind(&f.username)
    .bind(key.seal(tenant, &m.password))
    .bind(&f.folder)
    .bind(f.unknown_senders.as_str())
    .bind(f.closed_replies.as_str())
    .bind(f.enabled)
    .bind(now)
    .bind(f.automated_mail.as_str())
    .fetch_one(tx.conn())
    .await
    .on_constraint("mailboxes_account_key", in_use)?;
    Ok(row.shown().0)
}

pub async fn get(tx: &mut TenantTx, id: MailboxId) -> DomainResult<Mailbox> {
    Ok(row(tx, id, "").await?.shown().0)
}

async fn row(tx: &mut TenantTx, id: MailboxId, suffix: &str) -> DomainResult<Row> {
    let tenant = tx.tenant();
    let r: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM mailboxes WHERE company_id = $1 AND id = $2 {suffix}"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    r.ok_or(DomainError::not_found("mailbox"))
}

pub async fn list(tx: &mut TenantTx, page: &PageRequest) -> DomainResult<Page<Mailbox>> {
    let tenant = tx.tenant();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM mailboxes WHERE company_id = $1 \
         AND ($2::text IS NULL OR (lower(name), id) > ($2, $3)) ORDER BY lower(name), id LIMIT $4"
    )))
    .bind(tenant)
    .bind(page.after_key())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM mailboxes WHERE company_id = $1")
        .bind(tenant)
        .fetch_one(tx.conn())
        .await?;
    let shown = rows.into_iter().map(|r| r.shown().0).collect();
    Ok(Page::from_rows(shown, page, total, |m: &Mailbox| Cursor {
        key: m.name.to_lowercase(),
        id: m.id.as_uuid(),
    }))
}

/// The enabled mailboxes of the tenant.
pub async fn enabled(tx: &mut TenantTx) -> DomainResult<Vec<MailboxId>> {
    let tenant = tx.tenant();
    Ok(
        sqlx::query_scalar(
            "SELECT id FROM mailboxes WHERE company_id = $1 AND enabled ORDER BY id",
        )
        .bind(tenant)
        .fetch_all(tx.conn())
        .await?,
    )
}

pub async fn update(
    tx: &mut TenantTx,
    id: MailboxId,
    p: MailboxPatch,
    key: Option<&SecretKey>,
) -> DomainResult<Mailbox> {
    let current = row(tx, id, "FOR UPDATE").await?;
    let (shown, sealed) = current.shown();
    let merged = NewMailbox {
        name: p.name.unwrap_or(shown.name),
        address: p.address.unwrap_or(shown.address),
        host: p.host.unwrap_or(shown.host.clone()),
        port: Some(p.port.unwrap_or(shown.port)),
        tls: p.tls.unwrap_or(shown.tls),
        username: p.username.unwrap_or(shown.username.clone()),
        password: p.password.clone().unwrap_or_else(|| "kept".into()),
        folder: Some(p.folder.unwrap_or(shown.folder.clone())),
        unknown_senders: Some(p.unknown_senders.unwrap_or(shown.unknown_senders)),
        closed_replies: Some(p.closed_replies.unwrap_or(shown.closed_replies)),
        automated_mail: Some(p.automated_mail.unwrap_or(shown.automated_mail)),
        enabled: Some(p.enabled.unwrap_or(shown.enabled)),
    };
    let mut v = ValidationErrors::new();
    let f = validate(&mut v, &merged, key);
    v.finish()?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let password_enc = match (&p.password, key) {
        (Some(pw), Some(k)) => k.seal(tenant, pw),
        _ => sealed,
    };
    // Another account or folder is another sequence of UIDs.
    let moved = f.host.to_lowercase() != shown.host.to_lowercase()
        || f.port != shown.port
        || f.username.to_lowercase() != shown.username.to_lowercase()
        || f.folder != shown.folder;
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE mailboxes SET name = $3, address = $4, host = $5, port = $6, tls = $7, username = $8, \
         password_enc = $9, folder = $10, unknown_senders = $11, closed_replies = $12, enabled = $13, \
         uidvalidity = CASE WHEN $14 THEN NULL ELSE uidvalidity END, \
         last_uid = CASE WHEN $14 THEN 0 ELSE last_uid END, updated_at = $15, automated_mail = $16 \
         WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(&f.name)
    .bind(&f.address)
    .bind(&f.host)
    .bind(f.port as i32)
    .bind(f.tls.as_str())
    .bind(&f.username)
    .bind(&password_enc)
    .bind(&f.folder)
    .bind(f.unknown_senders.as_str())
    .bind(f.closed_replies.as_str())
    .bind(f.enabled)
    .bind(moved)
    .bind(now)
    .bind(f.automated_mail.as_str())
    .fetch_one(tx.conn())
    .await
    .on_constraint("mailboxes_account_key", in_use)?;
    Ok(row.shown().0)
}

pub async fn delete(tx: &mut TenantTx, id: MailboxId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let n = sqlx::query("DELETE FROM mailboxes WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(DomainError::not_found("mailbox"));
    }
    Ok(())
}

/// The mailbox with its password decrypted, for a job to connect with.
pub async fn connection(
    tx: &mut TenantTx,
    id: MailboxId,
    key: Option<&SecretKey>,
) -> DomainResult<(Mailbox, Connection)> {
    let tenant = tx.tenant();
    let (m, sealed) = row(tx, id, "").await?.shown();
    let key = key.ok_or_else(|| {
        DomainError::Internal(
            "a mailbox password is stored but NESTOGY_SECRET_KEY is not set".into(),
        )
    })?;
    let password = key
        .open(tenant, &sealed)
        .map_err(|e| DomainError::Internal(format!("mailbox password: {e}")))?;
    let c = Connection {
        host: m.host.clone(),
        port: m.port,
        tls: m.tls,
        username: m.username.clone(),
        password,
        folder: m.folder.clone(),
    };
    Ok((m, c))
}

/// Where ingestion stands: (UIDVALIDITY, last UID), locked until the
/// transaction ends so the checkpoint moves in step with what was stored.
pub async fn lock_checkpoint(tx: &mut TenantTx, id: MailboxId) -> DomainResult<(Option<i64>, i64)> {
    let tenant = tx.tenant();
    let r: Option<(Option<i64>, i64)> = sqlx::query_as(
        "SELECT uidvalidity, last_uid FROM mailboxes WHERE company_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    r.ok_or(DomainError::not_found("mailbox"))
}

/// Moves the checkpoint; never backwards within one UIDVALIDITY.
pub async fn set_checkpoint(
    tx: &mut TenantTx,
    id: MailboxId,
    uidvalidity: i64,
    last_uid: i64,
) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE mailboxes SET last_uid = CASE WHEN uidvalidity IS DISTINCT FROM $3 THEN $4 \
         ELSE GREATEST(last_uid, $4) END, uidvalidity = $3 WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(uidvalidity)
    .bind(last_uid)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records how a poll ended.
pub async fn record_poll(
    tx: &mut TenantTx,
    id: MailboxId,
    error: Option<&str>,
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE mailboxes SET last_polled_at = $3, last_error = $4 WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(now)
    .bind(error)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The tenant's own addresses: its mailboxes' and its outbound sender's.
/// Mail from them is never answered.
pub async fn own_addresses(tx: &mut TenantTx) -> DomainResult<Vec<String>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_scalar(
        "SELECT lower(address) FROM mailboxes WHERE company_id = $1 \
         UNION SELECT lower(username) FROM mailboxes WHERE company_id = $1 AND username LIKE '%@%' \
         UNION SELECT lower(from_address) FROM company_smtp WHERE company_id = $1",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?)
}

/// Notes that "poll now" was asked for; returns when, in database time
/// (`clock_timestamp()`), the clock every process shares.
pub async fn request_poll(tx: &mut TenantTx, id: MailboxId) -> DomainResult<DateTime<Utc>> {
    let tenant = tx.tenant();
    let at: Option<DateTime<Utc>> = sqlx::query_scalar(
        "UPDATE mailboxes SET poll_requested_at = clock_timestamp() \
         WHERE company_id = $1 AND id = $2 RETURNING poll_requested_at",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    at.ok_or(DomainError::not_found("mailbox"))
}

/// The "poll now" request no pass over the folder has served yet: asked
/// for at or after the start of the last pass.
pub async fn poll_requested_since(
    tx: &mut TenantTx,
    id: MailboxId,
) -> DomainResult<Option<DateTime<Utc>>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_scalar(
        "SELECT poll_requested_at FROM mailboxes WHERE company_id = $1 AND id = $2 \
         AND poll_requested_at IS NOT NULL \
         AND (last_drained_at IS NULL OR poll_requested_at >= last_drained_at)",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?)
}

/// When "poll now" was last asked for, and the job of the poll that last
/// held the mailbox's lock.
pub async fn poll_state(
    tx: &mut TenantTx,
    id: MailboxId,
) -> DomainResult<(Option<DateTime<Utc>>, Option<uuid::Uuid>)> {
    let tenant = tx.tenant();
    let r: Option<(Option<DateTime<Utc>>, Option<uuid::Uuid>)> = sqlx::query_as(
        "SELECT poll_requested_at, poll_job_id FROM mailboxes WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    r.ok_or(DomainError::not_found("mailbox"))
}

/// Notes the job of the poll that holds the mailbox's lock.
pub async fn set_poll_job(tx: &mut TenantTx, id: MailboxId, job: uuid::Uuid) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query("UPDATE mailboxes SET poll_job_id = $3 WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .bind(job)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Records a complete pass over the folder that started at `started`
/// (database time).
pub async fn record_drain(
    tx: &mut TenantTx,
    id: MailboxId,
    started: DateTime<Utc>,
) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE mailboxes SET last_drained_at = GREATEST(last_drained_at, $3) \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(started)
    .execute(tx.conn())
    .await?;
    Ok(())
}
