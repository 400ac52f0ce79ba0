//! Stripe: per-tenant keys, payment links, autopay and the events Stripe sends.
//!
//! Keys are sealed with the tenant as associated data, like SMTP passwords.
//! Money that Stripe took is recorded as a payment keyed by its
//! PaymentIntent id (`payments.external_ref`), so the Checkout event, the
//! PaymentIntent event, redeliveries of either and autopay's own answer
//! make one payment between them.

use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::billing::invoices::{self, InvoiceStatus};
use crate::billing::payments::{self, Method, PaymentRequest, RefundRequest};
use crate::kernel::crypto::SecretKey;
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::{
    AutopayAttemptId, DomainError, DomainResult, InvoiceId, PaymentId, RecurringId, TenantTx,
    kernel::money,
};

/// How far a signature's timestamp may be from our clock.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// Stripe keeps an idempotency key for at least 24 hours. A pending
/// attempt whose call may have reached Stripe longer ago than this is not
/// sent again (its key may be forgotten, and a resend could charge twice);
/// it waits for Stripe's event instead, and shows as stale. Attempts that
/// never reached Stripe (connection refused) are sent whenever.
pub const ATTEMPT_RESEND_WINDOW_HOURS: i64 = 20;

/// Days after a failed autopay attempt the next one is made; after the
/// last, autopay gives up on the invoice.
pub const RETRY_DAYS: [i64; 3] = [1, 3, 7];

// ------------------------------------------------------------ settings ----

/// A tenant's Stripe account as shown: never the keys.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StripeSettings {
    pub has_secret_key: bool,
    /// The secret key's last four characters.
    pub secret_key_last4: Option<String>,
    /// `test` or `live`.
    pub mode: Option<String>,
    pub has_webhook_secret: bool,
    /// What to paste into Stripe's dashboard as the webhook endpoint.
    pub webhook_url: String,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StripeRequest {
    /// `sk_test_…`, `sk_live_…` or a restricted `rk_…` key; stored
    /// encrypted. Omit to keep the stored one.
    pub secret_key: Option<String>,
    /// The endpoint's signing secret (`whsec_…`); stored encrypted. Omit to
    /// keep the stored one.
    pub webhook_secret: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    secret_key_enc: Vec<u8>,
    secret_key_last4: String,
    mode: String,
    webhook_secret_enc: Option<Vec<u8>>,
    updated_at: DateTime<Utc>,
}

async fn settings_row(tx: &mut TenantTx) -> DomainResult<Option<SettingsRow>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT secret_key_enc, secret_key_last4, mode, webhook_secret_enc, updated_at \
         FROM company_stripe WHERE company_id = $1",
    )
    .bind(tenant)
    .fetch_optional(tx.conn())
    .await?)
}

/// The webhook URL of a tenant under `public_url`.
pub fn webhook_url(public_url: &str, tenant: crate::TenantId) -> String {
    format!(
        "{}/api/v1/webhooks/stripe/{tenant}",
        public_url.trim_end_matches('/')
    )
}

pub async fn settings(tx: &mut TenantTx, public_url: &str) -> DomainResult<StripeSettings> {
    let url = webhook_url(public_url, tx.tenant());
    Ok(match settings_row(tx).await? {
        Some(r) => StripeSettings {
            has_secret_key: true,
            secret_key_last4: Some(r.secret_key_last4),
            mode: Some(r.mode),
            has_webhook_secret: r.webhook_secret_enc.is_some(),
            webhook_url: url,
            updated_at: Some(r.updated_at),
        },
        None => StripeSettings {
            has_secret_key: false,
            secret_key_last4: None,
            mode: None,
            has_webhook_secret: false,
            webhook_url: url,
            updated_at: None,
        },
    })
}

fn key_mode(key: &str) -> Option<&'static str> {
    ["sk_test_", "rk_test_"]
        .iter()
        .any(|p| key.starts_with(p))
        .then_some("test")
        .or_else(|| {
            ["sk_live_", "rk_live_"]
                .iter()
                .any(|p| key.starts_with(p))
                .then_some("live")
        })
}

fn well_formed(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub async fn set_settings(
    tx: &mut TenantTx,
    req: StripeRequest,
    key: Option<&SecretKey>,
    public_url: &str,
) -> DomainResult<StripeSettings> {
    let existing = settings_row(tx).await?;
    let mut v = ValidationErrors::new();
    let mut mode = None;
    match req.secret_key.as_deref().map(str::trim) {
        None if existing.is_none() => v.add(
            "secret_key",
            "required",
            "secret_key is required the first time",
        ),
        None => {}
        Some(k) => match key_mode(k) {
            Some(m) if k.len() >= 16 && k.len() <= 255 && well_formed(k) => mode = Some(m),
            _ => v.add(
                "secret_key",
                "invalid",
                "secret_key must be a Stripe secret key (sk_test_…, sk_live_…) or a restricted key (rk_…)",
            ),
        },
    }
    if let Some(w) = req.webhook_secret.as_deref().map(str::trim)
        && !(w.starts_with("whsec_") && w.len() >= 12 && w.len() <= 255 && well_formed(w))
    {
        v.add(
            "webhook_secret",
            "invalid",
            "webhook_secret must be an endpoint signing secret (whsec_…)",
        );
    }
    if key.is_none() && (req.secret_key.is_some() || req.webhook_secret.is_some()) {
        v.add(
            "secret_key",
            "unavailable",
            "keys cannot be stored: the server has no NESTOGY_SECRET_KEY",
        );
    }
    v.finish()?;
    let Some(key) = key else {
        return settings(tx, public_url).await;
    };
    let (tenant, now) = (tx.tenant(), tx.now());
    let secret = req.secret_key.as_deref().map(str::trim);
    let sealed_key = secret.map(|k| key.seal(tenant, k));
    let last4 = secret.map(|k| k[k.len() - 4..].to_owned());
    let sealed_hook = req
        .webhook_secret
        .as_deref()
        .map(|w| key.seal(tenant, w.trim()));
    if existing.is_none() {
        sqlx::query(
            "INSERT INTO company_stripe (company_id, secret_key_enc, secret_key_last4, mode, webhook_secret_enc, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant)
        .bind(&sealed_key)
        .bind(&last4)
        .bind(mode)
        .bind(&sealed_hook)
        .bind(now)
        .execute(tx.conn())
        .await?;
    } else {
        sqlx::query(
            "UPDATE company_stripe SET secret_key_enc = COALESCE($2, secret_key_enc), \
             secret_key_last4 = COALESCE($3, secret_key_last4), mode = COALESCE($4, mode), \
             webhook_secret_enc = COALESCE($5, webhook_secret_enc), updated_at = $6 WHERE company_id = $1",
        )
        .bind(tenant)
        .bind(&sealed_key)
        .bind(&last4)
        .bind(mode)
        .bind(&sealed_hook)
        .bind(now)
        .execute(tx.conn())
        .await?;
    }
    settings(tx, public_url).await
}

pub async fn delete_settings(tx: &mut TenantTx) -> DomainResult<bool> {
    let tenant = tx.tenant();
    let n = sqlx::query("DELETE FROM company_stripe WHERE company_id = $1")
        .bind(tenant)
        .execute(tx.conn())
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// A tenant's keys, opened.
#[derive(Clone)]
pub struct Keys {
    pub secret_key: String,
    pub webhook_secret: Option<String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

pub async fn keys(tx: &mut TenantTx, key: Option<&SecretKey>) -> DomainResult<Option<Keys>> {
    let tenant = tx.tenant();
    let Some(r) = settings_row(tx).await? else {
        return Ok(None);
    };
    let key = key.ok_or_else(|| {
        DomainError::Internal("Stripe keys are stored but NESTOGY_SECRET_KEY is not set".into())
    })?;
    let open = |b: &[u8]| {
        key.open(tenant, b)
            .map_err(|e| DomainError::Internal(e.to_string()))
    };
    Ok(Some(Keys {
        secret_key: open(&r.secret_key_enc)?,
        webhook_secret: r.webhook_secret_enc.as_deref().map(open).transpose()?,
    }))
}

// ----------------------------------------------------------- signature ----

/// Why a `Stripe-Signature` header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Malformed,
    /// The timestamp is further than the tolerance from now.
    Stale,
    Mismatch,
}

/// Checks a `Stripe-Signature` header (`t=<unix>,v1=<hex>[,v1=…]`) as
/// Stripe documents it: HMAC-SHA256 with the endpoint secret over
/// `"<t>.<raw body>"`, compared in constant time with every `v1` given;
/// the timestamp within `tolerance` seconds of `now`.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secret: &str,
    now: i64,
    tolerance: i64,
) -> Result<(), SignatureError> {
    let mut t: Option<i64> = None;
    let mut sigs: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" => t = Some(v.parse().map_err(|_| SignatureError::Malformed)?),
            "v1" => {
                if let Ok(b) = hex::decode(v) {
                    sigs.push(b);
                }
            }
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - t).abs() > tolerance {
        return Err(SignatureError::Stale);
    }
    for sig in &sigs {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| SignatureError::Malformed)?;
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        if mac.verify_slice(sig).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The header Stripe would send for `body` at `t` (for tests and tools).
pub fn sign(body: &[u8], secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

// -------------------------------------------------------------- events ----

text_enum!(
    /// What became of a received event.
    EventOutcome {
        /// A payment was recorded for it.
        Recorded = "recorded",
        /// Its payment (or refund) was recorded before.
        AlreadyRecorded = "already_recorded",
        Refunded = "refunded",
        /// A type we do not act on, or a session not paid.
        Ignored = "ignored",
        /// No invoice or payment of this tenant matches it.
        Unmatched = "unmatched",
        /// The event id was received before.
        Duplicate = "duplicate",
    }
);

/// What receiving an event did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Receipt {
    pub received: bool,
    /// The event id was received before: nothing was done again.
    pub duplicate: bool,
    /// An event type we do not act on.
    pub ignored: bool,
    pub outcome: EventOutcome,
    pub payment_id: Option<PaymentId>,
}

fn minor_to_decimal(minor: i64, currency: &str) -> Decimal {
    let digits = money::minor_units(currency).unwrap_or(2);
    Decimal::new(minor, digits)
}

/// An amount in the currency's minor units, as Stripe wants it.
pub fn to_minor_units(amount: Decimal, currency: &str) -> i64 {
    let digits = money::minor_units(currency).unwrap_or(2);
    let scaled = money::to_minor(amount, digits) * Decimal::from(10i64.pow(digits));
    scaled.trunc().try_into().unwrap_or(0)
}

/// Records a verified event once per event id, in `tx`. Malformed events
/// (no id or type) are a validation error.
pub async fn receive(tx: &mut TenantTx, event: &Value) -> DomainResult<Receipt> {
    let id = event.get("id").and_then(Value::as_str).unwrap_or("");
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
    let object = event.pointer("/data/object");
    let mut v = ValidationErrors::new();
    if id.is_empty() || id.len() > 255 {
        v.add("id", "required", "the event has no id");
    }
    if kind.is_empty() || kind.len() > 255 {
        v.add("type", "required", "the event has no type");
    }
    if object.is_none_or(|o| !o.is_object()) {
        v.add("data.object", "required", "the event has no data.object");
    }
    v.finish()?;
    let object = object.cloned().unwrap_or(Value::Null);
    let (tenant, now) = (tx.tenant(), tx.now());
    let inserted = sqlx::query(
        "INSERT INTO stripe_events (company_id, event_id, type, outcome, received_at) \
         VALUES ($1, $2, $3, 'processing', $4) ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(id)
    .bind(kind)
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(Receipt {
            received: true,
            duplicate: true,
            ignored: false,
            outcome: EventOutcome::Duplicate,
            payment_id: None,
        });
    }
    let (outcome, payment) = match kind {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            let paid = object.get("payment_status").and_then(Value::as_str) == Some("paid");
            let pi = object.get("payment_intent").and_then(Value::as_str);
            let amount = object.get("amount_total").and_then(Value::as_i64);
            match (paid, pi, amount) {
                (true, Some(pi), Some(amount)) => {
                    paid_intent(tx, &object, pi, amount, "Stripe Checkout").await?
                }
                _ => (EventOutcome::Ignored, None),
            }
        }
        "payment_intent.succeeded" => {
            let pi = object.get("id").and_then(Value::as_str);
            let amount = object
                .get("amount_received")
                .and_then(Value::as_i64)
                .or_else(|| object.get("amount").and_then(Value::as_i64));
            match (pi, amount) {
                (Some(pi), Some(amount)) => {
                    paid_intent(tx, &object, pi, amount, "Stripe payment").await?
                }
                _ => (EventOutcome::Unmatched, None),
            }
        }
        "charge.refunded" => refunded(tx, &object).await?,
        _ => {
            sqlx::query(
                "UPDATE stripe_events SET outcome = 'ignored' WHERE company_id = $1 AND event_id = $2",
            )
            .bind(tenant)
            .bind(id)
            .execute(tx.conn())
            .await?;
            return Ok(Receipt {
                received: true,
                duplicate: false,
                ignored: true,
                outcome: EventOutcome::Ignored,
                payment_id: None,
            });
        }
    };
    sqlx::query(
        "UPDATE stripe_events SET outcome = $3, payment_id = $4 WHERE company_id = $1 AND event_id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(outcome.as_str())
    .bind(payment)
    .execute(tx.conn())
    .await?;
    Ok(Receipt {
        received: true,
        duplicate: false,
        ignored: outcome == EventOutcome::Ignored,
        outcome,
        payment_id: payment,
    })
}

/// The invoice an object's `metadata.invoice_id` names, if it is this
/// tenant's and in the object's currency.
async fn invoice_of(tx: &mut TenantTx, object: &Value) -> DomainResult<Option<invoices::Invoice>> {
    let Some(id) = object
        .pointer("/metadata/invoice_id")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Uuid>().ok())
    else {
        return Ok(None);
    };
    let inv = match invoices::get(tx, InvoiceId(id)).await {
        Ok(inv) => inv,
        Err(DomainError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let currency = object.get("currency").and_then(Value::as_str).unwrap_or("");
    Ok(inv.currency.eq_ignore_ascii_case(currency).then_some(inv))
}

/// Records the payment a PaymentIntent made, once per PaymentIntent.
async fn paid_intent(
    tx: &mut TenantTx,
    object: &Value,
    intent: &str,
    amount_minor: i64,
    reference: &str,
) -> DomainResult<(EventOutcome, Option<PaymentId>)> {
    if let Some(p) = payments::by_external_ref(tx, intent).await? {
        return Ok((EventOutcome::AlreadyRecorded, Some(p.id)));
    }
    let Some(inv) = invoice_of(tx, object).await? else {
        return Ok((EventOutcome::Unmatched, None));
    };
    if amount_minor <= 0
        || !matches!(
            inv.status,
            InvoiceStatus::Sent
                | InvoiceStatus::PartiallyPaid
                | InvoiceStatus::Overdue
                | InvoiceStatus::Paid
        )
    {
        return Ok((EventOutcome::Unmatched, None));
    }
    let req = PaymentRequest {
        amount: minor_to_decimal(amount_minor, &inv.currency),
        method: Method::Card,
        reference: Some(format!("{reference} {intent}")),
        paid_on: None,
    };
    Ok(
        match payments::record_external(tx, inv.id, req, intent).await? {
            Some(r) => (EventOutcome::Recorded, Some(r.payment.id)),
            None => (
                EventOutcome::AlreadyRecorded,
                payments::by_external_ref(tx, intent).await?.map(|p| p.id),
            ),
        },
    )
}

/// Records what a charge's refunds gave back beyond what was recorded of
/// them before (`amount_refunded` is cumulative).
async fn refunded(
    tx: &mut TenantTx,
    charge: &Value,
) -> DomainResult<(EventOutcome, Option<PaymentId>)> {
    let (Some(charge_id), Some(intent), Some(total_refunded)) = (
        charge.get("id").and_then(Value::as_str),
        charge.get("payment_intent").and_then(Value::as_str),
        charge.get("amount_refunded").and_then(Value::as_i64),
    ) else {
        return Ok((EventOutcome::Unmatched, None));
    };
    let Some(payment) = payments::by_external_ref(tx, intent).await? else {
        return Ok((EventOutcome::Unmatched, None));
    };
    let external = format!("{charge_id}:refunded:{total_refunded}");
    let tenant = tx.tenant();
    let before: Decimal = sqlx::query_scalar(
        "SELECT COALESCE(sum(amount), 0) FROM payments WHERE company_id = $1 AND refund_of = $2 \
         AND external_ref LIKE $3",
    )
    .bind(tenant)
    .bind(payment.id)
    .bind(format!("{charge_id}:refunded:%"))
    .fetch_one(tx.conn())
    .await?;
    let wanted = minor_to_decimal(total_refunded, &payment.currency) - before;
    let amount = wanted.min(payments::refundable(tx, payment.id).await?);
    if amount <= Decimal::ZERO {
        return Ok((EventOutcome::AlreadyRecorded, Some(payment.id)));
    }
    let req = RefundRequest {
        amount: Some(amount),
        reference: Some(format!("Stripe refund {charge_id}")),
        paid_on: None,
    };
    Ok(
        match payments::refund_external(tx, payment.id, req, &external).await? {
            Some(r) => (EventOutcome::Refunded, Some(r.payment.id)),
            None => (EventOutcome::AlreadyRecorded, Some(payment.id)),
        },
    )
}

// ------------------------------------------------------- payment links ----

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct PaymentLink {
    pub id: Uuid,
    pub invoice_id: InvoiceId,
    /// `pending` (being created at Stripe), `ready` or `failed`.
    pub status: String,
    pub currency: String,
    pub amount: Decimal,
    /// The Checkout Session's id.
    pub session_id: Option<String>,
    /// Where the client pays.
    pub url: Option<String>,
    pub error: Option<String>,
    pub job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const LINK_COLUMNS: &str = "id, invoice_id, status, currency::text AS currency, amount, session_id, url, error, \
    job_id, created_at, updated_at";

impl PaymentLink {
    fn shown(mut self) -> Self {
        self.amount = money::to_minor(self.amount, money::minor_units(&self.currency).unwrap_or(2));
        self
    }
}

/// Starts a payment link for what is open on an invoice: 409 unless it is
/// finalized with a balance and Stripe is set up.
pub async fn create_link(tx: &mut TenantTx, invoice: InvoiceId) -> DomainResult<PaymentLink> {
    let inv = invoices::get(tx, invoice).await?;
    if !matches!(
        inv.status,
        InvoiceStatus::Sent | InvoiceStatus::PartiallyPaid | InvoiceStatus::Overdue
    ) || inv.balance <= Decimal::ZERO
    {
        return Err(DomainError::conflict(
            "not_payable",
            "only a finalized invoice with a balance can be paid online",
        ));
    }
    if !configured(tx).await? {
        return Err(DomainError::conflict(
            "stripe_not_configured",
            "set up Stripe first: PUT /api/v1/company/stripe",
        ));
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let link: PaymentLink = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO payment_links (id, company_id, invoice_id, status, currency, amount, created_at, updated_at) \
         VALUES ($1, $2, $3, 'pending', $4, $5, $6, $6) RETURNING {LINK_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(tenant)
    .bind(inv.id)
    .bind(&inv.currency)
    .bind(inv.balance)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok(link.shown())
}

pub async fn set_link_job(tx: &mut TenantTx, link: Uuid, job: Uuid) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query("UPDATE payment_links SET job_id = $3 WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(link)
        .bind(job)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn get_link(tx: &mut TenantTx, link: Uuid) -> DomainResult<PaymentLink> {
    let tenant = tx.tenant();
    let row: Option<PaymentLink> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM payment_links WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(link)
    .fetch_optional(tx.conn())
    .await?;
    row.map(PaymentLink::shown)
        .ok_or(DomainError::not_found("payment link"))
}

/// The invoice's newest link.
pub async fn latest_link(tx: &mut TenantTx, invoice: InvoiceId) -> DomainResult<PaymentLink> {
    invoices::get(tx, invoice).await?;
    let tenant = tx.tenant();
    let row: Option<PaymentLink> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM payment_links WHERE company_id = $1 AND invoice_id = $2 \
         ORDER BY created_at DESC, id DESC LIMIT 1"
    )))
    .bind(tenant)
    .bind(invoice)
    .fetch_optional(tx.conn())
    .await?;
    row.map(PaymentLink::shown)
        .ok_or(DomainError::not_found("payment link"))
}

/// How long a link is offered again instead of a new one: a Checkout
/// Session expires after 24 hours.
pub const LINK_REUSE_HOURS: i64 = 23;

/// The invoice's newest link that still pays its balance: pending or
/// ready, for the amount now open, younger than [`LINK_REUSE_HOURS`].
pub async fn usable_link(
    tx: &mut TenantTx,
    inv: &invoices::Invoice,
) -> DomainResult<Option<PaymentLink>> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Option<PaymentLink> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {LINK_COLUMNS} FROM payment_links WHERE company_id = $1 AND invoice_id = $2 \
         AND status IN ('pending', 'ready') AND created_at > $3 \
         ORDER BY created_at DESC, id DESC LIMIT 1"
    )))
    .bind(tenant)
    .bind(inv.id)
    .bind(now - chrono::Duration::hours(LINK_REUSE_HOURS))
    .fetch_optional(tx.conn())
    .await?;
    Ok(row
        .map(PaymentLink::shown)
        .filter(|l| l.amount == inv.balance && inv.balance > Decimal::ZERO))
}

/// Whether the company has stored Stripe keys (invoices can be paid online).
pub async fn configured(tx: &mut TenantTx) -> DomainResult<bool> {
    Ok(settings_row(tx).await?.is_some())
}

/// Records how creating the session ended; a link that is ready stays so.
pub async fn finish_link(
    tx: &mut TenantTx,
    link: Uuid,
    result: Result<(&str, &str), &str>,
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let (status, session, url, error) = match result {
        Ok((s, u)) => ("ready", Some(s), Some(u), None),
        Err(e) => (
            "failed",
            None,
            None,
            Some(e.chars().take(1000).collect::<String>()),
        ),
    };
    sqlx::query(
        "UPDATE payment_links SET status = $3, session_id = $4, url = $5, error = $6, updated_at = $7 \
         WHERE company_id = $1 AND id = $2 AND status <> 'ready'",
    )
    .bind(tenant)
    .bind(link)
    .bind(status)
    .bind(session)
    .bind(url)
    .bind(error)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

// ------------------------------------------------------------- autopay ----

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutopayRequest {
    /// The Stripe customer (`cus_…`).
    pub customer_id: String,
    /// The customer's saved payment method (`pm_…`).
    pub payment_method_id: String,
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Autopay {
    pub recurring_id: RecurringId,
    pub customer_id: String,
    pub payment_method_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

async fn ensure_template(tx: &mut TenantTx, id: RecurringId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM recurring_invoices WHERE company_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(tx.conn())
            .await?;
    found
        .map(|_| ())
        .ok_or(DomainError::not_found("recurring invoice"))
}

fn stripe_id(v: &mut ValidationErrors, field: &str, value: &str, prefix: &str) -> String {
    let s = value.trim();
    if !(s.starts_with(prefix) && s.len() > prefix.len() && s.len() <= 255 && well_formed(s)) {
        v.add(
            field,
            "invalid",
            format!("{field} must be a Stripe id ({prefix}…)"),
        );
    }
    s.to_owned()
}

pub async fn set_autopay(
    tx: &mut TenantTx,
    template: RecurringId,
    req: AutopayRequest,
) -> DomainResult<Autopay> {
    ensure_template(tx, template).await?;
    let mut v = ValidationErrors::new();
    let customer = stripe_id(&mut v, "customer_id", &req.customer_id, "cus_");
    let method = stripe_id(&mut v, "payment_method_id", &req.payment_method_id, "pm_");
    v.finish()?;
    let (tenant, now) = (tx.tenant(), tx.now());
    Ok(sqlx::query_as(
        "INSERT INTO autopay_methods (recurring_id, company_id, customer_id, payment_method_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (recurring_id) DO UPDATE SET customer_id = $3, \
         payment_method_id = $4, updated_at = $5 \
         RETURNING recurring_id, customer_id, payment_method_id, created_at, updated_at",
    )
    .bind(template)
    .bind(tenant)
    .bind(customer)
    .bind(method)
    .bind(now)
    .fetch_one(tx.conn())
    .await?)
}

pub async fn delete_autopay(tx: &mut TenantTx, template: RecurringId) -> DomainResult<()> {
    ensure_template(tx, template).await?;
    let tenant = tx.tenant();
    let n = sqlx::query("DELETE FROM autopay_methods WHERE company_id = $1 AND recurring_id = $2")
        .bind(tenant)
        .bind(template)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(DomainError::not_found("autopay"));
    }
    Ok(())
}

/// One charge attempt on an invoice, with what the charge needs.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct AutopayAttempt {
    pub id: AutopayAttemptId,
    pub invoice_id: InvoiceId,
    pub attempt: i32,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub idempotency_key: String,
    pub currency: String,
    pub amount: Decimal,
    pub payment_intent_id: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub next_attempt_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    #[sqlx(default)]
    pub customer_id: String,
    #[sqlx(default)]
    pub payment_method_id: String,
}

const ATTEMPT_COLUMNS: &str = "t.id, t.invoice_id, t.attempt, t.status, t.idempotency_key, t.currency::text AS currency, \
    t.amount, t.payment_intent_id, t.error_code, t.error_message, t.next_attempt_on, t.created_at";

/// An invoice due for autopay: id, currency, balance, and its last
/// attempt's number, status and next day.
type DueRow = (
    InvoiceId,
    String,
    Decimal,
    Option<i32>,
    Option<String>,
    Option<NaiveDate>,
);

/// The attempts due on `today`: a pending attempt (a job that did not
/// hear back) is returned as it is, so its retry sends the same key and
/// amount (within [`ATTEMPT_RESEND_WINDOW_HOURS`]; older ones are left to
/// Stripe's event, see [`stale_attempts`]); an invoice due with no attempt, or whose last failed attempt's
/// retry day has come, gets its next attempt, created here.
pub async fn due_attempts(
    tx: &mut TenantTx,
    today: NaiveDate,
) -> DomainResult<Vec<AutopayAttempt>> {
    let (tenant, now) = (tx.tenant(), tx.now());
    // Invoices of autopay templates, open and due, with their last attempt.
    let due: Vec<DueRow> =
        sqlx::query_as(
            "SELECT i.id, i.currency::text, i.total - i.amount_paid, l.attempt, l.status, l.next_attempt_on \
             FROM invoices i JOIN autopay_methods a ON a.company_id = i.company_id AND a.recurring_id = i.recurring_id \
             LEFT JOIN LATERAL (SELECT attempt, status, next_attempt_on FROM autopay_attempts x \
               WHERE x.company_id = i.company_id AND x.invoice_id = i.id ORDER BY attempt DESC LIMIT 1) l ON true \
             WHERE i.company_id = $1 AND i.status IN ('sent', 'partially_paid', 'overdue') \
             AND i.total > i.amount_paid AND i.due_date <= $2 ORDER BY i.id",
        )
        .bind(tenant)
        .bind(today)
        .fetch_all(tx.conn())
        .await?;
    for (invoice, currency, balance, last, status, next_on) in due {
        let next = match (last, status.as_deref()) {
            (None, _) => 1,
            (Some(n), Some("failed")) if next_on.is_some_and(|d| d <= today) => n + 1,
            _ => continue,
        };
        sqlx::query(
            "INSERT INTO autopay_attempts (id, company_id, invoice_id, attempt, status, idempotency_key, currency, amount, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING",
        )
        .bind(AutopayAttemptId::new())
        .bind(tenant)
        .bind(invoice)
        .bind(next)
        .bind(format!("autopay:{invoice}:{next}"))
        .bind(currency)
        .bind(balance)
        .bind(now)
        .execute(tx.conn())
        .await?;
    }
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ATTEMPT_COLUMNS}, a.customer_id, a.payment_method_id FROM autopay_attempts t \
         JOIN invoices i ON i.company_id = t.company_id AND i.id = t.invoice_id \
         JOIN autopay_methods a ON a.company_id = i.company_id AND a.recurring_id = i.recurring_id \
         WHERE t.company_id = $1 AND t.status = 'pending' AND (t.uncertain_since IS NULL OR t.uncertain_since >= $2) \
         AND i.status IN ('sent', 'partially_paid', 'overdue') ORDER BY t.id"
    )))
    .bind(tenant)
    .bind(now - chrono::Duration::hours(ATTEMPT_RESEND_WINDOW_HOURS))
    .fetch_all(tx.conn())
    .await?)
}

/// Pending attempts too old to send again: nobody knows whether Stripe
/// charged them until its event arrives.
pub async fn stale_attempts(tx: &mut TenantTx) -> DomainResult<i64> {
    let (tenant, now) = (tx.tenant(), tx.now());
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM autopay_attempts WHERE company_id = $1 AND status = 'pending' AND uncertain_since < $2",
    )
    .bind(tenant)
    .bind(now - chrono::Duration::hours(ATTEMPT_RESEND_WINDOW_HOURS))
    .fetch_one(tx.conn())
    .await?)
}

/// The invoice's attempts, first first.
pub async fn attempts(tx: &mut TenantTx, invoice: InvoiceId) -> DomainResult<Vec<AutopayAttempt>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ATTEMPT_COLUMNS} FROM autopay_attempts t WHERE t.company_id = $1 AND t.invoice_id = $2 \
         ORDER BY t.attempt"
    )))
    .bind(tenant)
    .bind(invoice)
    .fetch_all(tx.conn())
    .await?)
}

/// A call of the attempt went unanswered after it may have reached Stripe.
pub async fn attempt_uncertain(tx: &mut TenantTx, attempt: &AutopayAttempt) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE autopay_attempts SET uncertain_since = COALESCE(uncertain_since, $3), updated_at = $3 \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(attempt.id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The attempt succeeded: the payment is recorded under its PaymentIntent
/// (the webhook for it then finds it recorded).
pub async fn attempt_succeeded(
    tx: &mut TenantTx,
    attempt: &AutopayAttempt,
    intent: &str,
) -> DomainResult<Option<PaymentId>> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE autopay_attempts SET status = 'succeeded', payment_intent_id = $3, updated_at = $4 \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(attempt.id)
    .bind(intent)
    .bind(now)
    .execute(tx.conn())
    .await?;
    if let Some(p) = payments::by_external_ref(tx, intent).await? {
        return Ok(Some(p.id));
    }
    let req = PaymentRequest {
        amount: attempt.amount,
        method: Method::Card,
        reference: Some(format!("Stripe autopay {intent}")),
        paid_on: None,
    };
    match payments::record_external(tx, attempt.invoice_id, req, intent).await {
        Ok(r) => Ok(r.map(|r| r.payment.id)),
        // Voided meanwhile: the charge stands in Stripe, the attempt says so.
        Err(DomainError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The attempt failed (declined): the next is scheduled per
/// [`RETRY_DAYS`], or none after the last. Returns the next attempt's day.
pub async fn attempt_failed(
    tx: &mut TenantTx,
    attempt: &AutopayAttempt,
    today: NaiveDate,
    code: &str,
    message: &str,
    intent: Option<&str>,
) -> DomainResult<Option<NaiveDate>> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let next = RETRY_DAYS
        .get(attempt.attempt as usize - 1)
        .map(|d| today + chrono::Duration::days(*d));
    sqlx::query(
        "UPDATE autopay_attempts SET status = 'failed', error_code = $3, error_message = $4, next_attempt_on = $5, \
         payment_intent_id = COALESCE($6, payment_intent_id), updated_at = $7 WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(attempt.id)
    .bind(code.chars().take(200).collect::<String>())
    .bind(message.chars().take(1000).collect::<String>())
    .bind(next)
    .bind(intent)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let body = br#"{"id":"evt_1"}"#;
        let h = sign(body, "whsec_abc", 1000);
        assert_eq!(verify_signature(&h, body, "whsec_abc", 1100, 300), Ok(()));
        assert_eq!(
            verify_signature(&h, b"{}", "whsec_abc", 1100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&h, body, "whsec_abc", 1400, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature("v1=00", body, "whsec_abc", 1000, 300),
            Err(SignatureError::Malformed)
        );
        let two = format!("t=1000,v1=deadbeef,{}", &h[7..]);
        assert_eq!(verify_signature(&two, body, "whsec_abc", 1000, 300), Ok(()));
    }

    #[test]
    fn minor_units() {
        assert_eq!(to_minor_units(Decimal::new(36150, 2), "USD"), 36150);
        assert_eq!(to_minor_units(Decimal::new(500, 0), "JPY"), 500);
    }
}
