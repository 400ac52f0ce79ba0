//! RMM alerts: monitoring alerts in, as tickets.
//!
//! A tenant's monitoring tool posts alerts to its own receiver with a
//! secret of the tenant's. An alert opens a ticket linked to the asset it
//! names (by serial, then hostname); the same alert id again updates that
//! ticket while it is open, and a resolved alert resolves it when the
//! tenant's `auto_resolve` says so.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::service_desk::tickets::{
    self, MessageKind, NewMessageRecord, Priority, TicketDraft, TicketSource, TicketStatus,
};
use crate::{AssetId, ClientId, DomainError, DomainResult, TenantTx, TicketId, kernel::secrets};

text_enum!(Severity {
    Info = "info",
    Warning = "warning",
    Error = "error",
    Critical = "critical",
});

impl Severity {
    /// The priority of the ticket an alert of this severity opens.
    pub fn priority(self) -> Priority {
        match self {
            Severity::Info => Priority::Low,
            Severity::Warning => Priority::Medium,
            Severity::Error => Priority::High,
            Severity::Critical => Priority::Critical,
        }
    }
}

text_enum!(AlertState {
    Open = "open",
    Resolved = "resolved",
});

/// The device an alert is about: a serial number, a hostname or both.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct Device {
    pub hostname: Option<String>,
    pub serial: Option<String>,
}

/// A monitoring alert as an RMM sends it. Fields we do not know are
/// ignored, so any tool can send its own extras.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Alert {
    /// The RMM's id of the alert: the same id again is the same alert.
    pub alert_id: String,
    pub device: Device,
    pub severity: Severity,
    pub message: String,
    /// Default `open`; `resolved` when the condition has cleared.
    pub status: Option<AlertState>,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// What receiving an alert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A new ticket.
    Created,
    /// A note on the alert's open ticket.
    Updated,
    /// The alert's ticket was resolved.
    Resolved,
    /// Recorded only: a repeat, a resolved alert with no open ticket, or a
    /// resolution the tenant does not act on.
    Recorded,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Received {
    pub alert_id: String,
    pub action: Action,
    pub ticket_id: Option<TicketId>,
    pub asset_id: Option<AssetId>,
    pub occurrences: i32,
}

/// The receiver's settings as admins see them (never the secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Settings {
    pub auto_resolve: bool,
    /// The secret's last characters, to tell secrets apart.
    pub secret_hint: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// Default true.
    pub auto_resolve: Option<bool>,
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    auto_resolve: bool,
    secret_hint: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<SettingsRow> for Settings {
    fn from(r: SettingsRow) -> Self {
        Settings {
            auto_resolve: r.auto_resolve,
            secret_hint: r.secret_hint,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn new_secret() -> (String, Vec<u8>, String) {
    let secret = format!("rmm_{}", secrets::random_token(32));
    let hint = secret[secret.len() - 4..].to_owned();
    let hash = secrets::hash_token(&secret);
    (secret, hash, hint)
}

pub async fn settings(tx: &mut TenantTx) -> DomainResult<Settings> {
    let tenant = tx.tenant();
    let row: Option<SettingsRow> = sqlx::query_as(
        "SELECT auto_resolve, secret_hint, created_at, updated_at FROM rmm_settings WHERE company_id = $1",
    )
    .bind(tenant)
    .fetch_optional(tx.conn())
    .await?;
    row.map(Settings::from)
        .ok_or(DomainError::not_found("RMM receiver"))
}

/// Sets the receiver up, or changes its settings. A new receiver gets a
/// secret, returned this once.
pub async fn configure(
    tx: &mut TenantTx,
    input: SettingsInput,
) -> DomainResult<(Settings, Option<String>)> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let (secret, hash, hint) = new_secret();
    let inserted: Option<SettingsRow> = sqlx::query_as(
        "INSERT INTO rmm_settings (company_id, secret_hash, secret_hint, auto_resolve, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (company_id) DO NOTHING \
         RETURNING auto_resolve, secret_hint, created_at, updated_at",
    )
    .bind(tenant)
    .bind(&hash)
    .bind(&hint)
    .bind(input.auto_resolve.unwrap_or(true))
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    if let Some(row) = inserted {
        return Ok((row.into(), Some(secret)));
    }
    let row: SettingsRow = sqlx::query_as(
        "UPDATE rmm_settings SET auto_resolve = COALESCE($2, auto_resolve), updated_at = $3 \
         WHERE company_id = $1 RETURNING auto_resolve, secret_hint, created_at, updated_at",
    )
    .bind(tenant)
    .bind(input.auto_resolve)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok((row.into(), None))
}

/// A new secret; the old one stops working at once.
pub async fn rotate_secret(tx: &mut TenantTx) -> DomainResult<(Settings, String)> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let (secret, hash, hint) = new_secret();
    let row: Option<SettingsRow> = sqlx::query_as(
        "UPDATE rmm_settings SET secret_hash = $2, secret_hint = $3, updated_at = $4 WHERE company_id = $1 \
         RETURNING auto_resolve, secret_hint, created_at, updated_at",
    )
    .bind(tenant)
    .bind(&hash)
    .bind(&hint)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    let row = row.ok_or(DomainError::not_found("RMM receiver"))?;
    Ok((row.into(), secret))
}

/// Turns the receiver off; alerts already received stay.
pub async fn remove(tx: &mut TenantTx) -> DomainResult<()> {
    let tenant = tx.tenant();
    let done = sqlx::query("DELETE FROM rmm_settings WHERE company_id = $1")
        .bind(tenant)
        .execute(tx.conn())
        .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::not_found("RMM receiver"));
    }
    Ok(())
}

/// Whether `secret` is this tenant's receiver secret. False when the
/// tenant has no receiver (or does not exist): callers answer both alike.
pub async fn authenticate(tx: &mut TenantTx, secret: &str) -> DomainResult<bool> {
    let tenant = tx.tenant();
    let stored: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT secret_hash FROM rmm_settings WHERE company_id = $1")
            .bind(tenant)
            .fetch_optional(tx.conn())
            .await?;
    let given = secrets::hash_token(secret);
    Ok(stored.is_some_and(|s| {
        s.len() == given.len() && s.iter().zip(&given).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }))
}

struct Checked {
    alert_id: String,
    hostname: Option<String>,
    serial: Option<String>,
    message: String,
    severity: Severity,
    state: AlertState,
}

fn validate(a: Alert) -> DomainResult<Checked> {
    let mut v = ValidationErrors::new();
    let alert_id = v.required_text("alert_id", &a.alert_id, 200);
    let hostname = v.optional_text("device.hostname", a.device.hostname.as_deref(), 253);
    let serial = v.optional_text("device.serial", a.device.serial.as_deref(), 200);
    if hostname.is_none() && serial.is_none() {
        v.add(
            "device",
            "required",
            "name the device by hostname, serial or both",
        );
    }
    let message = v.required_text("message", &a.message, 10_000);
    v.finish()?;
    Ok(Checked {
        alert_id,
        hostname,
        serial,
        message,
        severity: a.severity,
        state: a.status.unwrap_or(AlertState::Open),
    })
}

/// The asset an alert names: by serial first, then by hostname; assets in
/// use before retired ones, then the most recently changed.
async fn find_asset(
    tx: &mut TenantTx,
    serial: Option<&str>,
    hostname: Option<&str>,
) -> DomainResult<Option<(AssetId, ClientId)>> {
    let tenant = tx.tenant();
    for (column, value) in [("serial", serial), ("hostname", hostname)] {
        let Some(value) = value else { continue };
        let found: Option<(AssetId, ClientId)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, client_id FROM assets WHERE company_id = $1 AND lower({column}) = lower($2) \
             ORDER BY status = 'retired', updated_at DESC, id LIMIT 1"
        )))
        .bind(tenant)
        .bind(value)
        .fetch_optional(tx.conn())
        .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

#[derive(sqlx::FromRow)]
struct AlertRow {
    ticket_id: Option<TicketId>,
    asset_id: Option<AssetId>,
    severity: String,
    state: String,
    message: String,
}

/// Priorities from low to critical.
fn rank(p: Priority) -> usize {
    Priority::ALL.iter().position(|x| *x == p).unwrap_or(0)
}

fn note(a: &Checked) -> String {
    let device = [a.hostname.as_deref(), a.serial.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" / ");
    format!(
        "RMM alert {} ({}, {}) on {device}:\n\n{}",
        a.alert_id,
        a.severity.as_str(),
        a.state.as_str(),
        a.message
    )
}

/// Receives one alert: opens, updates or resolves its ticket. Two
/// deliveries of one alert at once are serialised on the alert's row, so
/// they never open two tickets.
pub async fn receive(tx: &mut TenantTx, alert: Alert) -> DomainResult<Received> {
    let a = validate(alert)?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let auto_resolve: bool =
        sqlx::query_scalar("SELECT auto_resolve FROM rmm_settings WHERE company_id = $1")
            .bind(tenant)
            .fetch_optional(tx.conn())
            .await?
            .unwrap_or(true);
    // Claim the alert's row (new or not), then hold it.
    let fresh = sqlx::query(
        "INSERT INTO rmm_alerts (company_id, alert_id, hostname, serial, severity, state, message, \
         occurrences, first_received_at, last_received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8) \
         ON CONFLICT (company_id, alert_id) DO NOTHING",
    )
    .bind(tenant)
    .bind(&a.alert_id)
    .bind(&a.hostname)
    .bind(&a.serial)
    .bind(a.severity.as_str())
    .bind(a.state.as_str())
    .bind(&a.message)
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected()
        == 1;
    let row: AlertRow = sqlx::query_as(
        "SELECT ticket_id, asset_id, severity, state, message FROM rmm_alerts \
         WHERE company_id = $1 AND alert_id = $2 FOR UPDATE",
    )
    .bind(tenant)
    .bind(&a.alert_id)
    .fetch_one(tx.conn())
    .await?;
    let open_ticket = match row.ticket_id {
        Some(id) => {
            let t = tickets::get(tx, id).await?;
            (!t.status.is_done()).then_some(t)
        }
        None => None,
    };
    let changed = fresh
        || row.severity != a.severity.as_str()
        || row.state != a.state.as_str()
        || row.message != a.message;
    let (action, ticket_id, asset_id) = match (open_ticket, a.state) {
        (Some(t), AlertState::Resolved) => {
            if changed {
                note_on(tx, &t, &a).await?;
            }
            if auto_resolve {
                tickets::set_status(tx, t.id, TicketStatus::Resolved, None).await?;
                (Action::Resolved, Some(t.id), row.asset_id)
            } else {
                (Action::Recorded, Some(t.id), row.asset_id)
            }
        }
        (Some(t), AlertState::Open) => {
            if !changed {
                (Action::Recorded, Some(t.id), row.asset_id)
            } else {
                note_on(tx, &t, &a).await?;
                // A worse alert raises the ticket's priority, never lowers it.
                if rank(a.severity.priority()) > rank(t.priority) {
                    let raise = tickets::TicketPatch {
                        priority: Some(a.severity.priority()),
                        ..Default::default()
                    };
                    tickets::update(tx, t.id, raise).await?;
                }
                (Action::Updated, Some(t.id), row.asset_id)
            }
        }
        (None, AlertState::Resolved) => (Action::Recorded, row.ticket_id, row.asset_id),
        (None, AlertState::Open) => {
            let asset = find_asset(tx, a.serial.as_deref(), a.hostname.as_deref()).await?;
            let device = a.hostname.as_deref().or(a.serial.as_deref()).unwrap_or("");
            let first_line = a.message.lines().next().unwrap_or("");
            let ticket = tickets::insert(
                tx,
                TicketDraft {
                    subject: crate::kernel::text::truncate_chars(
                        &format!("[RMM] {device}: {first_line}"),
                        300,
                    ),
                    client_id: asset.map(|(_, c)| c),
                    contact_id: None,
                    asset_id: asset.map(|(id, _)| id.as_uuid()),
                    requester_email: None,
                    requester_name: None,
                    priority: a.severity.priority(),
                    assignee_id: None,
                    source: TicketSource::Rmm,
                    tags: vec!["rmm".into()],
                    mailbox_id: None,
                    linked_ticket_id: None,
                },
                None,
            )
            .await?;
            let body = note(&a);
            tickets::add_message(
                tx,
                &ticket,
                NewMessageRecord {
                    kind: MessageKind::Incoming,
                    author_id: None,
                    from_address: None,
                    from_name: Some("RMM".into()),
                    body: body.clone(),
                    full_body: body,
                    message_id: None,
                    inbound_id: None,
                    mail_id: None,
                    automated: Some("rmm".into()),
                },
            )
            .await?;
            (Action::Created, Some(ticket.id), asset.map(|(id, _)| id))
        }
    };
    let occurrences: i32 = sqlx::query_scalar(
        "UPDATE rmm_alerts SET ticket_id = $3, asset_id = $4, hostname = $5, serial = $6, severity = $7, \
         state = $8, message = $9, occurrences = occurrences + 1, last_received_at = $10 \
         WHERE company_id = $1 AND alert_id = $2 RETURNING occurrences",
    )
    .bind(tenant)
    .bind(&a.alert_id)
    .bind(ticket_id)
    .bind(asset_id)
    .bind(&a.hostname)
    .bind(&a.serial)
    .bind(a.severity.as_str())
    .bind(a.state.as_str())
    .bind(&a.message)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok(Received {
        alert_id: a.alert_id,
        action,
        ticket_id,
        asset_id,
        occurrences,
    })
}

async fn note_on(tx: &mut TenantTx, t: &tickets::Ticket, a: &Checked) -> DomainResult<()> {
    let body = note(a);
    tickets::add_message(
        tx,
        t,
        NewMessageRecord {
            kind: MessageKind::Note,
            author_id: None,
            from_address: None,
            from_name: Some("RMM".into()),
            body: body.clone(),
            full_body: body,
            message_id: None,
            inbound_id: None,
            mail_id: None,
            automated: Some("rmm".into()),
        },
    )
    .await?;
    Ok(())
}
