//! Outbound mail: the registry of every message we send (our own
//! Message-ID, so replies can be threaded to what they answer) with its
//! delivery state and attempts, and a tenant's own SMTP server.
//!
//! A message is created once per (what, why) by its dedupe key, before it
//! is sent; delivery (in a job) locks the row, so a job run twice, or twice
//! at once, delivers it once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::kernel::crypto::SecretKey;
use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::{DomainError, DomainResult, MailId, TenantTx};

text_enum!(
    /// What a message is.
    MailTemplate {
        /// An invoice, its PDF attached.
        Invoice = "invoice",
        /// A quote, its PDF attached.
        Quote = "quote",
        /// A statement of account, its PDF attached.
        Statement = "statement",
        /// A receipt for a payment.
        PaymentReceipt = "payment_receipt",
        /// An unpaid invoice `params.days` past its due date, its PDF attached.
        OverdueReminder = "overdue_reminder",
        /// To a contact: their request was received as ticket `params.ticket`.
        TicketAcknowledgement = "ticket_acknowledgement",
        /// To a contact: a public reply on their ticket.
        TicketReply = "ticket_reply",
        /// To a tech: a ticket was assigned to them.
        TicketAssigned = "ticket_assigned",
        /// To a tech or the admins: a ticket's SLA state changed.
        TicketSla = "ticket_sla",
        /// To a ticket's contact watchers: its status changed
        /// (`params.status`).
        TicketStatus = "ticket_status",
        /// To the techs and admins: warranties of a client's assets expire soon
        /// (`params.assets`).
        WarrantyExpiring = "warranty_expiring",
        /// To the client's billing contacts (or the admins): an automatic
        /// charge of invoice `subject_id` failed (`params.reason`,
        /// `params.next_attempt_on`).
        PaymentFailed = "payment_failed",
        /// To the admins: a webhook endpoint was disabled after sustained
        /// failure (`params.url`, `params.reason`).
        WebhookDisabled = "webhook_disabled",
        /// To the finance list: the monthly management report
        /// (`params.period_label`, `params.kpis`), its PDF attached.
        ManagementReport = "management_report",
        /// To a contact: an invitation to the client portal (`params.link`,
        /// `params.expires_at`).
        PortalInvitation = "portal_invitation",
        /// To a contact: a one-time sign-in link to the client portal
        /// (`params.link`, `params.expires_at`).
        PortalSignIn = "portal_sign_in",
        /// To the admins: contract `subject_id` ends in `params.days_left`
        /// days (`params.contract_name`, `params.client_name`, `params.end_date`).
        ContractExpiring = "contract_expiring",
    }
);

text_enum!(MailStatus {
    Queued = "queued",
    Sent = "sent",
    /// The server refused it for good (5xx), or attempts ran out.
    Failed = "failed",
    /// No longer worth sending (a reminder for an invoice paid meanwhile).
    Cancelled = "cancelled",
});

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MailMessage {
    pub id: MailId,
    /// Our RFC 5322 Message-ID, angle brackets included.
    pub message_id: String,
    pub template: MailTemplate,
    /// `invoice`, `quote`, `payment`, `client` (statements), `ticket`.
    pub subject_kind: Option<String>,
    pub subject_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    pub recipients: Vec<String>,
    pub subject: String,
    pub status: MailStatus,
    pub attempts: i32,
    /// The server's last answer, or why it was not sent.
    pub last_response: Option<String>,
    pub job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: MailId,
    message_id: String,
    template: String,
    subject_kind: Option<String>,
    subject_id: Option<Uuid>,
    params: serde_json::Value,
    recipients: Vec<String>,
    subject: String,
    status: String,
    attempts: i32,
    last_response: Option<String>,
    job_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for MailMessage {
    fn from(r: Row) -> Self {
        MailMessage {
            id: r.id,
            message_id: r.message_id,
            template: MailTemplate::parse(&r.template).unwrap_or(MailTemplate::Invoice),
            subject_kind: r.subject_kind,
            subject_id: r.subject_id,
            params: r.params,
            recipients: r.recipients,
            subject: r.subject,
            status: MailStatus::parse(&r.status).unwrap_or(MailStatus::Queued),
            attempts: r.attempts,
            last_response: r.last_response,
            job_id: r.job_id,
            created_at: r.created_at,
            sent_at: r.sent_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str = "id, message_id, template, subject_kind, subject_id, params, recipients, subject, \
    status, attempts, last_response, job_id, created_at, sent_at, updated_at";

/// A message to be sent.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// One message per key and tenant: `invoice:<id>:send:<request>`,
    /// `invoice:<id>:reminder:<days>`, `invoice:<id>:auto`.
    pub dedupe_key: String,
    pub template: MailTemplate,
    pub subject_kind: Option<&'static str>,
    pub subject_id: Option<Uuid>,
    pub params: serde_json::Value,
    pub recipients: Vec<String>,
    pub subject: String,
}

/// A fresh Message-ID under `domain`.
pub fn new_message_id(id: MailId, domain: &str) -> String {
    format!("<{}@{}>", id.as_uuid().simple(), domain)
}

/// Why a message was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// It has no recipients: no one to send it to. Answered as the
    /// conflict `no_recipients`.
    #[error("there is no one to send this to")]
    NoRecipients,
    #[error(transparent)]
    Domain(#[from] DomainError),
}

impl From<sqlx::Error> for CreateError {
    fn from(e: sqlx::Error) -> Self {
        CreateError::Domain(e.into())
    }
}

impl From<CreateError> for DomainError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::NoRecipients => DomainError::conflict(
                "no_recipients",
                "there is no one to send this to: give the client a billing or primary contact with an e-mail address",
            ),
            CreateError::Domain(e) => e,
        }
    }
}

/// Creates the message for `new.dedupe_key`, or returns the one that
/// exists; `true` when it was created now.
pub async fn create_or_get(
    tx: &mut TenantTx,
    new: NewMessage,
    mail_domain: &str,
) -> Result<(MailMessage, bool), CreateError> {
    if new.recipients.is_empty() {
        return Err(CreateError::NoRecipients);
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let id = MailId::new();
    let inserted: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO mail_messages (id, company_id, dedupe_key, message_id, template, subject_kind, subject_id, \
         params, recipients, subject, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', $11, $11) \
         ON CONFLICT (company_id, dedupe_key) DO NOTHING RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(tenant)
    .bind(&new.dedupe_key)
    .bind(new_message_id(id, mail_domain))
    .bind(new.template.as_str())
    .bind(new.subject_kind)
    .bind(new.subject_id)
    .bind(&new.params)
    .bind(&new.recipients)
    .bind(&new.subject)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    if let Some(r) = inserted {
        return Ok((r.into(), true));
    }
    let existing: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM mail_messages WHERE company_id = $1 AND dedupe_key = $2"
    )))
    .bind(tenant)
    .bind(&new.dedupe_key)
    .fetch_one(tx.conn())
    .await?;
    Ok((existing.into(), false))
}

pub async fn get(tx: &mut TenantTx, id: MailId) -> DomainResult<MailMessage> {
    fetch(tx, id, "").await
}

/// The message, its row locked until `tx` ends: delivery holds it while it
/// talks to the server.
pub async fn lock(tx: &mut TenantTx, id: MailId) -> DomainResult<MailMessage> {
    fetch(tx, id, " FOR UPDATE").await
}

async fn fetch(tx: &mut TenantTx, id: MailId, suffix: &str) -> DomainResult<MailMessage> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM mail_messages WHERE company_id = $1 AND id = $2{suffix}"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(MailMessage::from)
        .ok_or(DomainError::not_found("message"))
}

/// Our message with this Message-ID, if it is this tenant's.
pub async fn by_message_id(
    tx: &mut TenantTx,
    message_id: &str,
) -> DomainResult<Option<MailMessage>> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM mail_messages WHERE company_id = $1 AND message_id = $2"
    )))
    .bind(tenant)
    .bind(message_id)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(MailMessage::from))
}

pub async fn set_job(tx: &mut TenantTx, ids: &[MailId], job: &[Uuid]) -> DomainResult<()> {
    let tenant = tx.tenant();
    let ids: Vec<Uuid> = ids.iter().map(|i| i.as_uuid()).collect();
    sqlx::query(
        "UPDATE mail_messages m SET job_id = j.job FROM unnest($2::uuid[], $3::uuid[]) AS j(id, job) \
         WHERE m.company_id = $1 AND m.id = j.id",
    )
    .bind(tenant)
    .bind(ids)
    .bind(job)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Worth another try (4xx, a refused connection).
    Temporary,
    /// Not worth another (5xx): the message has failed.
    Permanent,
}

/// Records an attempt and its answer, and the message's new state.
/// `give_up` turns a temporary failure into the last one.
pub async fn record_attempt(
    tx: &mut TenantTx,
    id: MailId,
    outcome: Outcome,
    response: &str,
    give_up: bool,
) -> DomainResult<MailMessage> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let response: String = response.chars().take(2000).collect();
    let status = match outcome {
        Outcome::Sent => MailStatus::Sent,
        Outcome::Temporary if !give_up => MailStatus::Queued,
        _ => MailStatus::Failed,
    };
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE mail_messages SET attempts = attempts + 1, status = $3, last_response = $4, updated_at = $5, \
         sent_at = CASE WHEN $3 = 'sent' THEN $5 ELSE sent_at END \
         WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(status.as_str())
    .bind(&response)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    sqlx::query(
        "INSERT INTO mail_attempts (company_id, message_id, attempt, outcome, response, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant)
    .bind(id)
    .bind(row.attempts)
    .bind(match outcome {
        Outcome::Sent => "sent",
        Outcome::Temporary => "temporary",
        Outcome::Permanent => "permanent",
    })
    .bind(&response)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(row.into())
}

/// Marks a queued message as not to be sent, saying why.
pub async fn cancel(tx: &mut TenantTx, id: MailId, why: &str) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE mail_messages SET status = 'cancelled', last_response = $3, updated_at = $4 \
         WHERE company_id = $1 AND id = $2 AND status = 'queued'",
    )
    .bind(tenant)
    .bind(id)
    .bind(why)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Attempt {
    pub attempt: i32,
    /// `sent`, `temporary` or `permanent`.
    pub outcome: String,
    pub response: Option<String>,
    pub at: DateTime<Utc>,
}

pub async fn attempts(tx: &mut TenantTx, id: MailId) -> DomainResult<Vec<Attempt>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT attempt, outcome, response, at FROM mail_attempts \
         WHERE company_id = $1 AND message_id = $2 ORDER BY attempt",
    )
    .bind(tenant)
    .bind(id)
    .fetch_all(tx.conn())
    .await?)
}

#[derive(Debug, Clone, Default)]
pub struct MailFilter {
    pub status: Option<MailStatus>,
    pub subject_kind: Option<String>,
    pub subject_id: Option<Uuid>,
}

/// Newest first.
pub async fn list(
    tx: &mut TenantTx,
    f: &MailFilter,
    page: &PageRequest,
) -> DomainResult<Page<MailMessage>> {
    const FILTER: &str = "company_id = $1 AND ($2::text IS NULL OR status = $2) \
        AND ($3::text IS NULL OR subject_kind = $3) AND ($4::uuid IS NULL OR subject_id = $4)";
    let tenant = tx.tenant();
    let status = f.status.map(|s| s.as_str());
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM mail_messages WHERE {FILTER} AND ($5::uuid IS NULL OR id < $5) \
         ORDER BY id DESC LIMIT $6"
    )))
    .bind(tenant)
    .bind(status)
    .bind(&f.subject_kind)
    .bind(f.subject_id)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM mail_messages WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(status)
    .bind(&f.subject_kind)
    .bind(f.subject_id)
    .fetch_one(tx.conn())
    .await?;
    let rows: Vec<MailMessage> = rows.into_iter().map(MailMessage::from).collect();
    Ok(Page::from_rows(rows, page, total, |m| Cursor {
        key: String::new(),
        id: m.id.as_uuid(),
    }))
}

/// Queued messages no job was recorded for (the process died between the
/// commit and the enqueue), older than `before`.
pub async fn orphaned(tx: &mut TenantTx, before: DateTime<Utc>) -> DomainResult<Vec<MailId>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_scalar(
        "SELECT id FROM mail_messages WHERE company_id = $1 AND status = 'queued' \
         AND job_id IS NULL AND created_at < $2 ORDER BY id LIMIT 1000",
    )
    .bind(tenant)
    .bind(before)
    .fetch_all(tx.conn())
    .await?)
}

// ---------------------------------------------------------------- SMTP ----

text_enum!(TlsMode {
    /// Plain text (loopback relays only).
    None = "none",
    /// Plain connection upgraded with STARTTLS (usually port 587).
    Starttls = "starttls",
    /// TLS from the first byte (usually port 465).
    Tls = "tls",
});

impl TlsMode {
    /// The mode stored as `s`; STARTTLS when `s` is none of them.
    pub fn stored(s: &str) -> TlsMode {
        TlsMode::parse(s).unwrap_or(TlsMode::Starttls)
    }
}

/// A tenant's SMTP server as shown: never the password.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub has_password: bool,
    pub from_address: String,
    pub from_name: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A tenant's SMTP server with its password, for sending.
#[derive(Debug, Clone)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from_address: String,
    pub from_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpRequest {
    pub host: String,
    /// Defaults by TLS mode: 25, 587 or 465.
    pub port: Option<u16>,
    pub tls: TlsMode,
    pub username: Option<String>,
    /// Stored encrypted; omit to keep the stored one.
    pub password: Option<String>,
    pub from_address: String,
    pub from_name: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SmtpRow {
    host: String,
    port: i32,
    tls: String,
    username: Option<String>,
    password_enc: Option<Vec<u8>>,
    from_address: String,
    from_name: Option<String>,
    updated_at: DateTime<Utc>,
}

async fn smtp_row(tx: &mut TenantTx) -> DomainResult<Option<SmtpRow>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT host, port, tls, username, password_enc, from_address, from_name, updated_at \
         FROM company_smtp WHERE company_id = $1",
    )
    .bind(tenant)
    .fetch_optional(tx.conn())
    .await?)
}

fn shown(r: SmtpRow) -> SmtpSettings {
    SmtpSettings {
        host: r.host,
        port: r.port as u16,
        tls: TlsMode::stored(&r.tls),
        username: r.username,
        has_password: r.password_enc.is_some(),
        from_address: r.from_address,
        from_name: r.from_name,
        updated_at: r.updated_at,
    }
}

pub async fn smtp_settings(tx: &mut TenantTx) -> DomainResult<Option<SmtpSettings>> {
    Ok(smtp_row(tx).await?.map(shown))
}

/// The tenant's server with its password decrypted, if it has one.
pub async fn smtp_server(
    tx: &mut TenantTx,
    key: Option<&SecretKey>,
) -> DomainResult<Option<SmtpServer>> {
    let tenant = tx.tenant();
    let Some(r) = smtp_row(tx).await? else {
        return Ok(None);
    };
    let password = match (&r.password_enc, key) {
        (None, _) => None,
        (Some(enc), Some(key)) => Some(
            key.open(tenant, enc)
                .map_err(|e| DomainError::Internal(e.to_string()))?,
        ),
        (Some(_), None) => {
            return Err(DomainError::Internal(
                "an SMTP password is stored but NESTOGY_SECRET_KEY is not set".into(),
            ));
        }
    };
    Ok(Some(SmtpServer {
        host: r.host,
        port: r.port as u16,
        tls: TlsMode::stored(&r.tls),
        username: r.username,
        password,
        from_address: r.from_address,
        from_name: r.from_name,
    }))
}

pub async fn set_smtp(
    tx: &mut TenantTx,
    req: SmtpRequest,
    key: Option<&SecretKey>,
) -> DomainResult<SmtpSettings> {
    let mut v = ValidationErrors::new();
    let host = v.required_text("host", &req.host, 253);
    if host.contains(|c: char| c.is_whitespace() || c == '/' || c == ':') {
        v.add(
            "host",
            "invalid",
            "host must be a host name or an IP address",
        );
    }
    if req.port == Some(0) {
        v.add("port", "invalid", "port must be between 1 and 65535");
    }
    let username = v.optional_text("username", req.username.as_deref(), 200);
    if req.from_address.trim().is_empty() {
        v.add("from_address", "required", "from_address must not be empty");
    }
    let from_address = v
        .optional_email("from_address", Some(&req.from_address))
        .unwrap_or_default();
    let from_name = v.optional_text("from_name", req.from_name.as_deref(), 200);
    if req.password.as_deref().is_some_and(|p| p.len() > 500) {
        v.add(
            "password",
            "too_long",
            "password must be at most 500 characters",
        );
    }
    if req.password.is_some() && key.is_none() {
        v.add(
            "password",
            "unavailable",
            "passwords cannot be stored: the server has no NESTOGY_SECRET_KEY",
        );
    }
    v.finish()?;
    let port = req.port.unwrap_or(match req.tls {
        TlsMode::None => 25,
        TlsMode::Starttls => 587,
        TlsMode::Tls => 465,
    });
    let (tenant, now) = (tx.tenant(), tx.now());
    let sealed = match (req.password.as_deref(), key) {
        (Some(p), Some(k)) => Some(k.seal(tenant, p)),
        _ => None,
    };
    sqlx::query(
        "INSERT INTO company_smtp (company_id, host, port, tls, username, password_enc, from_address, from_name, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (company_id) DO UPDATE SET \
         host = $2, port = $3, tls = $4, username = $5, \
         password_enc = CASE WHEN $10 THEN $6 ELSE company_smtp.password_enc END, \
         from_address = $7, from_name = $8, updated_at = $9",
    )
    .bind(tenant)
    .bind(&host)
    .bind(port as i32)
    .bind(req.tls.as_str())
    .bind(&username)
    .bind(&sealed)
    .bind(&from_address)
    .bind(&from_name)
    .bind(now)
    .bind(req.password.is_some())
    .execute(tx.conn())
    .await?;
    smtp_settings(tx)
        .await?
        .ok_or(DomainError::not_found("SMTP settings"))
}

pub async fn delete_smtp(tx: &mut TenantTx) -> DomainResult<bool> {
    let tenant = tx.tenant();
    let n = sqlx::query("DELETE FROM company_smtp WHERE company_id = $1")
        .bind(tenant)
        .execute(tx.conn())
        .await?
        .rows_affected();
    Ok(n > 0)
}
