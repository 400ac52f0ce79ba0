//! Webhook endpoints and their deliveries.
//!
//! An endpoint is a tenant's URL with the event types it wants and a signing
//! secret (`whsec_` + base64 of 32 random bytes, sealed at rest with the
//! tenant as associated data, shown once). A delivery is one message of one
//! event to one endpoint (unique per pair); each POST of it is an attempt.
//! Messages are signed as the Standard Webhooks specification says.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::integrations::outbound;
use crate::kernel::crypto::SecretKey;
use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::validation::ValidationErrors;
use crate::{
    DomainError, DomainResult, EventId, TenantTx, WebhookDeliveryId, WebhookEndpointId,
    kernel::events,
};

/// Endpoints one tenant may have.
pub const MAX_ENDPOINTS: i64 = 20;
/// After this long with nothing but failures an endpoint is disabled.
pub const DISABLE_AFTER_HOURS: i64 = 24;
/// Delays before the 2nd, 3rd, ... attempt (the specification's example
/// schedule): about 28 hours from the first attempt to the last.
pub const RETRY_DELAYS_SECS: &[i64] = &[5, 300, 1800, 7200, 18000, 36000, 36000];
/// How much of a response body the log keeps.
pub const EXCERPT_CHARS: usize = 500;

// ---------------------------------------------------------------- signing

/// A fresh secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` value for one message: `v1,` + base64 of
/// HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed with the base64-decoded
/// part of the secret after `whsec_`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> DomainResult<String> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|e| DomainError::Internal(format!("webhook secret is not base64: {e}")))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key).map_err(|e| DomainError::Internal(e.to_string()))?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

// ---------------------------------------------------------------- targets

/// Whether an address is one webhooks may not target by default: anything
/// [`outbound::is_public`] refuses (loopback, private, link-local, shared,
/// multicast, reserved, documentation, metadata, and the IPv6 forms that
/// embed such an IPv4 address).
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    !outbound::is_public(ip)
}

/// The host of a URL `v` accepted, as it would be connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

/// Checks an endpoint URL: absolute http(s) without credentials, https
/// unless `allow_private`, and no forbidden address literal or `localhost`
/// unless `allow_private`. Names are resolved (and checked) by the caller.
pub fn check_url(v: &mut ValidationErrors, url: &str, allow_private: bool) -> Option<Host> {
    let url = url.trim();
    let bad = |v: &mut ValidationErrors, code: &'static str, msg: &str| {
        v.add("url", code, msg);
        None
    };
    if url.is_empty() {
        return bad(v, "required", "url must not be empty");
    }
    if url.len() > 2000 {
        return bad(v, "too_long", "url must be at most 2000 characters");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad(v, "invalid", "url must not contain spaces");
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => return bad(v, "invalid", "url must be absolute (https://...)"),
    };
    match scheme.as_str() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return bad(v, "https_required", "url must use https"),
        _ => return bad(v, "invalid", "url must use https"),
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return bad(v, "invalid", "url must not contain credentials");
    }
    let host = if let Some(r) = authority.strip_prefix('[') {
        match r.split_once(']') {
            Some((h, port)) if port.is_empty() || port.starts_with(':') => h,
            _ => return bad(v, "invalid", "url has a malformed host"),
        }
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if let Some(port) = authority.rsplit_once(']').map_or_else(
        || authority.split_once(':').map(|(_, p)| p),
        |(_, p)| p.strip_prefix(':'),
    ) && (port.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0))
    {
        return bad(v, "invalid", "url has a malformed port");
    }
    if host.is_empty() {
        return bad(v, "invalid", "url has no host");
    }
    let host = host.to_ascii_lowercase();
    if let Ok(ip) = host.parse::<IpAddr>() {
        if !allow_private && is_forbidden_ip(ip) {
            return bad(
                v,
                "private_address",
                "url must not target a loopback, private or link-local address",
            );
        }
        return Some(Host::Ip(ip));
    }
    // A host that ends in a number is an IPv4 address to URL parsers (and
    // to the worker's HTTP client): `127.1`, `0x7f.0.0.1`, `2130706433`.
    if let Some(ip) = outbound::whatwg_ipv4(&host) {
        let Some(ip) = ip else {
            return bad(v, "invalid", "url has a malformed host");
        };
        if !allow_private && is_forbidden_ip(IpAddr::V4(ip)) {
            return bad(
                v,
                "private_address",
                "url must not target a loopback, private or link-local address",
            );
        }
        return Some(Host::Ip(IpAddr::V4(ip)));
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        || host.starts_with('.')
        || host.contains("..")
    {
        return bad(v, "invalid", "url has a malformed host");
    }
    let h = host.trim_end_matches('.');
    if !allow_private && (h == "localhost" || h.ends_with(".localhost") || !h.contains('.')) {
        return bad(
            v,
            "private_address",
            "url must not target a loopback, private or link-local address",
        );
    }
    Some(Host::Name(host))
}

// ---------------------------------------------------------------- endpoints

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Endpoint {
    pub id: WebhookEndpointId,
    pub url: String,
    pub description: Option<String>,
    /// Event types, or `*` for all.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why the endpoint was disabled automatically.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Since when every delivery attempt failed.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: WebhookEndpointId,
    url: String,
    description: Option<String>,
    event_types: Vec<String>,
    enabled: bool,
    disabled_reason: Option<String>,
    disabled_at: Option<DateTime<Utc>>,
    failing_since: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<EndpointRow> for Endpoint {
    fn from(r: EndpointRow) -> Self {
        Endpoint {
            id: r.id,
            url: r.url,
            description: r.description,
            event_types: r.event_types,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            disabled_at: r.disabled_at,
            failing_since: r.failing_since,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const ENDPOINT_COLUMNS: &str = "id, url, description, event_types, enabled, disabled_reason, \
     disabled_at, failing_since, created_at, updated_at";

/// An endpoint with its secret, as creation and rotation answer (the only
/// times the secret is shown).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// `whsec_…`: verify our signatures with it. Shown only now.
    pub secret: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// `https://…`; loopback, private and link-local targets are refused.
    pub url: String,
    pub description: Option<String>,
    /// Event types from the known list, or `["*"]` for all.
    pub event_types: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    pub url: Option<String>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<String>>,
    /// `false` disables the endpoint; `true` enables it (as `enable` does).
    pub enabled: Option<bool>,
}

fn validate_types(v: &mut ValidationErrors, types: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if types.is_empty() {
        v.add(
            "event_types",
            "required",
            "name at least one event type, or *",
        );
    }
    if types.len() > 50 {
        v.add("event_types", "too_many", "at most 50 event types");
        return out;
    }
    for t in types {
        let t = t.trim();
        if t != "*" && !events::TYPES.contains(&t) {
            v.add(
                "event_types",
                "unknown",
                format!(
                    "unknown event type {t:?}; known: {}",
                    events::TYPES.join(", ")
                ),
            );
        } else if !out.iter().any(|x| x == t) {
            out.push(t.to_owned());
        }
    }
    out.sort();
    out
}

/// Validates an endpoint; the URL's host is returned for resolution.
pub fn validate(
    v: &mut ValidationErrors,
    e: NewEndpoint,
    allow_private: bool,
) -> (NewEndpoint, Option<Host>) {
    let host = check_url(v, &e.url, allow_private);
    let e = NewEndpoint {
        url: e.url.trim().to_owned(),
        description: v.optional_text("description", e.description.as_deref(), 500),
        event_types: validate_types(v, &e.event_types),
    };
    (e, host)
}

pub async fn get(tx: &mut TenantTx, id: WebhookEndpointId) -> DomainResult<Endpoint> {
    let tenant = tx.tenant();
    let row: Option<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(Endpoint::from)
        .ok_or(DomainError::not_found("webhook endpoint"))
}

pub async fn list(tx: &mut TenantTx, page: &PageRequest) -> DomainResult<Page<Endpoint>> {
    let tenant = tx.tenant();
    let after: Option<Uuid> = page.after_id();
    let rows: Vec<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE company_id = $1 \
         AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
    )))
    .bind(tenant)
    .bind(after)
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints WHERE company_id = $1")
            .bind(tenant)
            .fetch_one(tx.conn())
            .await?;
    let rows = rows.into_iter().map(Endpoint::from).collect();
    Ok(Page::from_rows(rows, page, total, |e| Cursor {
        key: String::new(),
        id: e.id.as_uuid(),
    }))
}

/// Creates an endpoint from an already validated request, with a fresh
/// secret sealed by `key`.
pub async fn create(
    tx: &mut TenantTx,
    key: &SecretKey,
    e: NewEndpoint,
) -> DomainResult<EndpointWithSecret> {
    let (tenant, now) = (tx.tenant(), tx.now());
    // Serialises creations per tenant so the limit holds.
    sqlx::query("SELECT id FROM companies WHERE id = $1 FOR UPDATE")
        .bind(tenant)
        .execute(tx.conn())
        .await?;
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints WHERE company_id = $1")
            .bind(tenant)
            .fetch_one(tx.conn())
            .await?;
    if count >= MAX_ENDPOINTS {
        return Err(DomainError::conflict(
            "too_many_endpoints",
            format!("a company may have at most {MAX_ENDPOINTS} webhook endpoints"),
        ));
    }
    let secret = new_secret();
    let row: EndpointRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhook_endpoints (id, company_id, url, description, event_types, secret_enc, \
         enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, true, $7, $7) \
         RETURNING {ENDPOINT_COLUMNS}"
    )))
    .bind(WebhookEndpointId::new())
    .bind(tenant)
    .bind(e.url)
    .bind(e.description)
    .bind(e.event_types)
    .bind(key.seal(tenant, &secret))
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok(EndpointWithSecret {
        endpoint: row.into(),
        secret,
    })
}

/// Merges a patch into the endpoint as a [`NewEndpoint`] to validate.
pub fn merge(current: &Endpoint, patch: &EndpointPatch) -> NewEndpoint {
    NewEndpoint {
        url: patch.url.clone().unwrap_or_else(|| current.url.clone()),
        description: patch
            .description
            .clone()
            .unwrap_or_else(|| current.description.clone()),
        event_types: patch
            .event_types
            .clone()
            .unwrap_or_else(|| current.event_types.clone()),
    }
}

/// Stores a validated change. Enabling clears the automatic disabling.
pub async fn update(
    tx: &mut TenantTx,
    id: WebhookEndpointId,
    e: NewEndpoint,
    enabled: Option<bool>,
) -> DomainResult<Endpoint> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Option<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE webhook_endpoints SET url = $3, description = $4, event_types = $5, \
         enabled = coalesce($6, enabled), \
         disabled_reason = CASE WHEN $6 IS NULL THEN disabled_reason ELSE NULL END, \
         disabled_at = CASE WHEN $6 IS NULL THEN disabled_at WHEN $6 THEN NULL ELSE $7 END, \
         failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END, \
         updated_at = $7 WHERE company_id = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(e.url)
    .bind(e.description)
    .bind(e.event_types)
    .bind(enabled)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    let endpoint = row
        .map(Endpoint::from)
        .ok_or(DomainError::not_found("webhook endpoint"))?;
    if enabled == Some(true) {
        // What waited while it was disabled is due now.
        sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_at = $3, updated_at = $3 \
             WHERE company_id = $1 AND endpoint_id = $2 AND status = 'pending'",
        )
        .bind(tenant)
        .bind(id)
        .bind(now)
        .execute(tx.conn())
        .await?;
    }
    Ok(endpoint)
}

pub async fn delete(tx: &mut TenantTx, id: WebhookEndpointId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let done = sqlx::query("DELETE FROM webhook_endpoints WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::not_found("webhook endpoint"));
    }
    Ok(())
}

/// Replaces the secret; returns the new one (shown once).
pub async fn rotate_secret(
    tx: &mut TenantTx,
    key: &SecretKey,
    id: WebhookEndpointId,
) -> DomainResult<EndpointWithSecret> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let secret = new_secret();
    let row: Option<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE webhook_endpoints SET secret_enc = $3, updated_at = $4 \
         WHERE company_id = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(key.seal(tenant, &secret))
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    let endpoint = row
        .map(Endpoint::from)
        .ok_or(DomainError::not_found("webhook endpoint"))?;
    Ok(EndpointWithSecret { endpoint, secret })
}

/// The endpoint's secret in clear, for signing.
pub async fn secret(
    tx: &mut TenantTx,
    key: &SecretKey,
    id: WebhookEndpointId,
) -> DomainResult<String> {
    let tenant = tx.tenant();
    let enc: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT secret_enc FROM webhook_endpoints WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let enc = enc.ok_or(DomainError::not_found("webhook endpoint"))?;
    key.open(tenant, &enc)
        .map_err(|e| DomainError::Internal(e.to_string()))
}

// ---------------------------------------------------------------- deliveries

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    fn parse(s: &str) -> DeliveryStatus {
        match s {
            "succeeded" => DeliveryStatus::Succeeded,
            "failed" => DeliveryStatus::Failed,
            _ => DeliveryStatus::Pending,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub id: WebhookDeliveryId,
    pub endpoint_id: WebhookEndpointId,
    /// The message's `webhook-id`.
    pub event_id: EventId,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_duration_ms: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: WebhookDeliveryId,
    endpoint_id: WebhookEndpointId,
    event_id: EventId,
    event_type: String,
    status: String,
    attempts: i32,
    next_attempt_at: Option<DateTime<Utc>>,
    last_status_code: Option<i32>,
    last_duration_ms: Option<i32>,
    last_error: Option<String>,
    delivered_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<DeliveryRow> for Delivery {
    fn from(r: DeliveryRow) -> Self {
        Delivery {
            id: r.id,
            endpoint_id: r.endpoint_id,
            event_id: r.event_id,
            event_type: r.event_type,
            status: DeliveryStatus::parse(&r.status),
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_status_code: r.last_status_code,
            last_duration_ms: r.last_duration_ms,
            last_error: r.last_error,
            delivered_at: r.delivered_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const DELIVERY_COLUMNS: &str = "d.id, d.endpoint_id, d.event_id, ev.type AS event_type, d.status, \
     d.attempts, d.next_attempt_at, d.last_status_code, d.last_duration_ms, d.last_error, \
     d.delivered_at, d.created_at, d.updated_at";
const DELIVERY_FROM: &str = "webhook_deliveries d JOIN events ev ON ev.id = d.event_id";

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    attempt: i32,
    status_code: Option<i32>,
    duration_ms: i32,
    error: Option<String>,
    response_excerpt: Option<String>,
    created_at: DateTime<Utc>,
}

/// A delivery with its attempts, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: Delivery,
    pub attempts_log: Vec<Attempt>,
}

pub async fn get_delivery(tx: &mut TenantTx, id: WebhookDeliveryId) -> DomainResult<Delivery> {
    let tenant = tx.tenant();
    let row: Option<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM} WHERE d.company_id = $1 AND d.id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(Delivery::from)
        .ok_or(DomainError::not_found("webhook delivery"))
}

pub async fn delivery_detail(
    tx: &mut TenantTx,
    id: WebhookDeliveryId,
) -> DomainResult<DeliveryDetail> {
    let delivery = get_delivery(tx, id).await?;
    let tenant = tx.tenant();
    let rows: Vec<AttemptRow> = sqlx::query_as(
        "SELECT attempt, status_code, duration_ms, error, response_excerpt, created_at \
         FROM webhook_attempts WHERE company_id = $1 AND delivery_id = $2 ORDER BY attempt",
    )
    .bind(tenant)
    .bind(id)
    .fetch_all(tx.conn())
    .await?;
    Ok(DeliveryDetail {
        delivery,
        attempts_log: rows
            .into_iter()
            .map(|r| Attempt {
                attempt: r.attempt,
                status_code: r.status_code,
                duration_ms: r.duration_ms,
                error: r.error,
                response_excerpt: r.response_excerpt,
                created_at: r.created_at,
            })
            .collect(),
    })
}

/// An endpoint's deliveries, newest first.
pub async fn list_deliveries(
    tx: &mut TenantTx,
    endpoint: WebhookEndpointId,
    page: &PageRequest,
) -> DomainResult<Page<Delivery>> {
    get(tx, endpoint).await?;
    let tenant = tx.tenant();
    // Event ids are UUID v7: newest first is by event, then by delivery.
    let after_key: Option<Uuid> = page.after_key().and_then(|k| k.parse().ok());
    let rows: Vec<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM} WHERE d.company_id = $1 AND d.endpoint_id = $2 \
         AND ($3::uuid IS NULL OR (d.event_id, d.id) < ($3, $4)) \
         ORDER BY d.event_id DESC, d.id DESC LIMIT $5"
    )))
    .bind(tenant)
    .bind(endpoint)
    .bind(after_key)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_deliveries WHERE company_id = $1 AND endpoint_id = $2",
    )
    .bind(tenant)
    .bind(endpoint)
    .fetch_one(tx.conn())
    .await?;
    let rows = rows.into_iter().map(Delivery::from).collect();
    Ok(Page::from_rows(rows, page, total, |d| Cursor {
        key: d.event_id.to_string(),
        id: d.id.as_uuid(),
    }))
}

/// A `webhook.ping` event for one endpoint only, with its delivery.
pub async fn ping(tx: &mut TenantTx, endpoint: WebhookEndpointId) -> DomainResult<Delivery> {
    let e = get(tx, endpoint).await?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let event = EventId::new();
    sqlx::query(
        "INSERT INTO events (id, company_id, type, subject_id, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event)
    .bind(tenant)
    .bind(events::WEBHOOK_PING)
    .bind(e.id.as_uuid())
    .bind(serde_json::json!({ "endpoint_id": e.id, "message": "ping" }))
    .bind(now)
    .execute(tx.conn())
    .await?;
    let id = WebhookDeliveryId::new();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, company_id, endpoint_id, event_id, status, \
         next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5)",
    )
    .bind(id)
    .bind(tenant)
    .bind(endpoint)
    .bind(event)
    .bind(now)
    .execute(tx.conn())
    .await?;
    get_delivery(tx, id).await
}

/// Makes a delivery due again now (a new attempt of the same message).
pub async fn redeliver(tx: &mut TenantTx, id: WebhookDeliveryId) -> DomainResult<Delivery> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let d = get_delivery(tx, id).await?;
    let enabled: bool = sqlx::query_scalar(
        "SELECT enabled FROM webhook_endpoints WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(d.endpoint_id)
    .fetch_one(tx.conn())
    .await?;
    if !enabled {
        return Err(DomainError::conflict(
            "endpoint_disabled",
            "the endpoint is disabled; enable it first",
        ));
    }
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, updated_at = $3 \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    get_delivery(tx, id).await
}

/// A delivery due now, in the tenant, with its attempts so far.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Due {
    pub id: WebhookDeliveryId,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
}

/// Pending deliveries of enabled endpoints due before `until`, oldest first.
pub async fn pending(
    tx: &mut TenantTx,
    until: DateTime<Utc>,
    limit: i64,
) -> DomainResult<Vec<Due>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT d.id, d.attempts, d.next_attempt_at FROM webhook_deliveries d \
         JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled \
         WHERE d.company_id = $1 AND d.status = 'pending' AND d.next_attempt_at <= $2 \
         ORDER BY d.next_attempt_at LIMIT $3",
    )
    .bind(tenant)
    .bind(until)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?)
}

/// What one attempt needs, taken under a lease.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: WebhookDeliveryId,
    pub endpoint_id: WebhookEndpointId,
    pub url: String,
    pub secret: String,
    pub event_id: EventId,
    pub event_type: String,
    pub event_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    /// The number this attempt gets (1 for the first).
    pub attempt: i32,
}

/// Why a delivery was not claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotClaimed {
    /// Done already (or failed for good).
    Finished,
    /// Not due yet.
    NotDue,
    /// Another worker holds it right now.
    Busy,
    /// Its endpoint is disabled.
    EndpointDisabled,
    Gone,
}

/// Claims a due delivery for one attempt, leasing it for `lease`: a second
/// worker running the same delivery at the same time finds it busy, and one
/// finding it succeeded does nothing. Commit right after.
pub async fn claim(
    tx: &mut TenantTx,
    key: &SecretKey,
    id: WebhookDeliveryId,
    lease: Duration,
) -> DomainResult<Result<Claimed, NotClaimed>> {
    let (tenant, now) = (tx.tenant(), tx.now());
    #[derive(sqlx::FromRow)]
    struct Row {
        status: String,
        attempts: i32,
        next_attempt_at: Option<DateTime<Utc>>,
        locked_until: Option<DateTime<Utc>>,
        endpoint_id: WebhookEndpointId,
        url: String,
        enabled: bool,
        secret_enc: Vec<u8>,
        event_id: EventId,
        event_type: String,
        event_at: DateTime<Utc>,
        payload: serde_json::Value,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT d.status, d.attempts, d.next_attempt_at, d.locked_until, d.endpoint_id, e.url, \
         e.enabled, e.secret_enc, ev.id AS event_id, ev.type AS event_type, \
         ev.created_at AS event_at, ev.payload \
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
         JOIN events ev ON ev.id = d.event_id \
         WHERE d.company_id = $1 AND d.id = $2 FOR UPDATE OF d",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let Some(r) = row else {
        return Ok(Err(NotClaimed::Gone));
    };
    if r.status != "pending" {
        return Ok(Err(NotClaimed::Finished));
    }
    if !r.enabled {
        return Ok(Err(NotClaimed::EndpointDisabled));
    }
    if r.locked_until.is_some_and(|l| l > now) {
        return Ok(Err(NotClaimed::Busy));
    }
    if r.next_attempt_at.is_none_or(|n| n > now) {
        return Ok(Err(NotClaimed::NotDue));
    }
    sqlx::query(
        "UPDATE webhook_deliveries SET locked_until = $3 WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(now + lease)
    .execute(tx.conn())
    .await?;
    let secret = key
        .open(tenant, &r.secret_enc)
        .map_err(|e| DomainError::Internal(e.to_string()))?;
    Ok(Ok(Claimed {
        id,
        endpoint_id: r.endpoint_id,
        url: r.url,
        secret,
        event_id: r.event_id,
        event_type: r.event_type,
        event_at: r.event_at,
        payload: r.payload,
        attempt: r.attempts + 1,
    }))
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    pub succeeded: bool,
}

/// What recording an attempt decided.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When the next attempt is due, if there is one.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The endpoint was disabled just now (after sustained failure).
    pub endpoint_disabled: bool,
}

/// Records an attempt of a claimed delivery, schedules the next one (or
/// gives up) and disables the endpoint after [`DISABLE_AFTER_HOURS`] of
/// nothing but failures.
pub async fn record_attempt(tx: &mut TenantTx, c: &Claimed, o: &Outcome) -> DomainResult<Recorded> {
    record(tx, c, o, false).await
}

async fn record(
    tx: &mut TenantTx,
    c: &Claimed,
    o: &Outcome,
    give_up: bool,
) -> DomainResult<Recorded> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "INSERT INTO webhook_attempts (id, company_id, delivery_id, attempt, status_code, \
         duration_ms, error, response_excerpt, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (delivery_id, attempt) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(tenant)
    .bind(c.id)
    .bind(c.attempt)
    .bind(o.status_code)
    .bind(o.duration_ms)
    .bind(&o.error)
    .bind(&o.response_excerpt)
    .bind(now)
    .execute(tx.conn())
    .await?;
    // Attempts beyond the automatic schedule (manual redeliveries) fail for good at once.
    let delay = RETRY_DELAYS_SECS
        .get((c.attempt - 1).max(0) as usize)
        .filter(|_| !give_up);
    let (status, next) = if o.succeeded {
        ("succeeded", None)
    } else {
        match delay {
            Some(s) => ("pending", Some(now + Duration::seconds(*s))),
            None => ("failed", None),
        }
    };
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $3, attempts = $4, next_attempt_at = $5, \
         locked_until = NULL, last_status_code = $6, last_duration_ms = $7, last_error = $8, \
         delivered_at = CASE WHEN $9 THEN $10 ELSE delivered_at END, updated_at = $10 \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(c.id)
    .bind(status)
    .bind(c.attempt)
    .bind(next)
    .bind(o.status_code)
    .bind(o.duration_ms)
    .bind(&o.error)
    .bind(o.succeeded)
    .bind(now)
    .execute(tx.conn())
    .await?;
    let mut disabled = false;
    if o.succeeded {
        sqlx::query(
            "UPDATE webhook_endpoints SET failing_since = NULL \
             WHERE company_id = $1 AND id = $2 AND failing_since IS NOT NULL",
        )
        .bind(tenant)
        .bind(c.endpoint_id)
        .execute(tx.conn())
        .await?;
    } else {
        let since: Option<DateTime<Utc>> = sqlx::query_scalar(
            "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $3) \
             WHERE company_id = $1 AND id = $2 RETURNING failing_since",
        )
        .bind(tenant)
        .bind(c.endpoint_id)
        .bind(now)
        .fetch_optional(tx.conn())
        .await?
        .flatten();
        if since.is_some_and(|s| now - s >= Duration::hours(DISABLE_AFTER_HOURS)) {
            let done = sqlx::query(
                "UPDATE webhook_endpoints SET enabled = false, disabled_at = $3, \
                 disabled_reason = $4, updated_at = $3 WHERE company_id = $1 AND id = $2 AND enabled",
            )
            .bind(tenant)
            .bind(c.endpoint_id)
            .bind(now)
            .bind(format!(
                "every delivery failed for {DISABLE_AFTER_HOURS} hours (last: {})",
                o.error
                    .clone()
                    .or(o.status_code.map(|s| format!("HTTP {s}")))
                    .unwrap_or_default()
            ))
            .execute(tx.conn())
            .await?;
            disabled = done.rows_affected() == 1;
        }
    }
    Ok(Recorded {
        next_attempt_at: next,
        endpoint_disabled: disabled,
    })
}

/// Gives a claimed delivery up for good without a POST (a refused target).
pub async fn fail_without_attempt(
    tx: &mut TenantTx,
    c: &Claimed,
    error: &str,
) -> DomainResult<Recorded> {
    record(
        tx,
        c,
        &Outcome {
            status_code: None,
            duration_ms: 0,
            error: Some(error.to_owned()),
            response_excerpt: None,
            succeeded: false,
        },
        true,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        // The vector the Standard Webhooks reference libraries test against.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn fresh_secrets_decode_to_32_bytes() {
        let s = new_secret();
        let raw = STANDARD.decode(s.strip_prefix("whsec_").unwrap()).unwrap();
        assert_eq!(raw.len(), 32);
        assert_ne!(s, new_secret());
    }

    fn url_error(url: &str, allow: bool) -> Option<String> {
        let mut v = ValidationErrors::new();
        check_url(&mut v, url, allow);
        v.0.first().map(|e| e.code.to_string())
    }

    #[test]
    fn urls_are_checked() {
        assert_eq!(url_error("https://hooks.example.com/x?y=1", false), None);
        assert_eq!(url_error("https://hooks.example.com:8443/x", false), None);
        assert_eq!(url_error("https://93.184.216.34/", false), None);
        for (url, code) in [
            ("http://hooks.example.com/", "https_required"),
            ("ftp://hooks.example.com/", "invalid"),
            ("hooks.example.com/x", "invalid"),
            ("", "required"),
            ("https://user:pw@hooks.example.com/", "invalid"),
            ("https://127.0.0.1/", "private_address"),
            ("https://10.1.2.3/", "private_address"),
            ("https://172.20.0.1/", "private_address"),
            ("https://192.168.1.1/", "private_address"),
            ("https://169.254.169.254/latest", "private_address"),
            ("https://100.64.0.1/", "private_address"),
            ("https://0.0.0.0/", "private_address"),
            ("https://[::1]/", "private_address"),
            ("https://[fe80::1]/", "private_address"),
            ("https://[fd00::1]/", "private_address"),
            ("https://[::ffff:127.0.0.1]/", "private_address"),
            ("https://[::127.0.0.1]/", "private_address"),
            ("https://[2002:7f00:1::1]/", "private_address"),
            ("https://[64:ff9b::a9fe:a9fe]/", "private_address"),
            (
                "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
                "private_address",
            ),
            ("https://[fd00:ec2::254]/", "private_address"),
            ("https://127.1/", "private_address"),
            ("https://0x7f.0.0.1/", "private_address"),
            ("https://2130706433/", "private_address"),
            ("https://0251.0376.0251.0376/", "private_address"),
            ("https://1.2.3.4.5/", "invalid"),
            ("https://localhost/", "private_address"),
            ("https://intranet/", "private_address"),
            ("https://hooks.example.com:0/", "invalid"),
            ("https://hooks.example.com:99999/", "invalid"),
            ("https://exa mple.com/", "invalid"),
        ] {
            assert_eq!(url_error(url, false).as_deref(), Some(code), "{url}");
        }
        assert_eq!(url_error("http://127.0.0.1:8080/hook", true), None);
    }
}
