//! Stripe: a tenant's keys (admins), payment links and autopay (billing),
//! and the public receiver of Stripe's events.
//!
//! The receiver does database work only: it checks the `Stripe-Signature`
//! header against the tenant's endpoint secret and records what the event
//! says in one transaction. Calls to Stripe happen in jobs.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use nestogy_domain::integrations::stripe::{
    self, Autopay, AutopayAttempt, AutopayRequest, PaymentLink, Receipt, StripeRequest,
    StripeSettings,
};
use nestogy_domain::kernel::audit::{self, Actor};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::{InvoiceId, RecurringId, TenantId, TenantTx};
use nestogy_jobs::enqueue::{EnqueueOptions, enqueue_in};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Path, RawBody, json_from_bytes};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_stripe, put_stripe, delete_stripe))
        .routes(routes!(create_payment_link, latest_payment_link))
        .routes(routes!(put_autopay, delete_autopay))
        .routes(routes!(autopay_attempts))
        .routes(routes!(receive_event))
}

/// The company's Stripe account: whether keys are stored (never the keys)
/// and the webhook URL to give Stripe (admins; accountants read it too, to
/// know whether payment links can be made).
#[utoipa::path(get, path = "/api/v1/company/stripe", tag = "stripe",
    responses((status = 200, body = StripeSettings), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_stripe(
    p: Principal,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<StripeSettings>> {
    p.require(Permission::BillingRead)?;
    let mut tx = p.tx(&s).await?;
    let out = stripe::settings(&mut tx, &s.services.integrations.public_url).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Store the company's Stripe secret key and webhook signing secret,
/// encrypted at rest (admins). Omitted keys are kept.
#[utoipa::path(put, path = "/api/v1/company/stripe", tag = "stripe", request_body = StripeRequest,
    responses((status = 200, body = StripeSettings), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_stripe(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<StripeRequest>,
) -> ApiResult<axum::Json<StripeSettings>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let out = stripe::set_settings(
        &mut tx,
        body,
        s.services.secrets.as_ref(),
        &s.services.integrations.public_url,
    )
    .await?;
    p.audit_company(&mut tx, "company.stripe_set", &out).await?;
    tx.commit().await?;
    Ok(axum::Json(out))
}

/// Forget the company's Stripe keys (admins).
#[utoipa::path(delete, path = "/api/v1/company/stripe", tag = "stripe",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_stripe(p: Principal, State(s): State<AppState>) -> ApiResult<StatusCode> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    if !stripe::delete_settings(&mut tx).await? {
        return Err(nestogy_domain::DomainError::not_found("Stripe settings").into());
    }
    p.audit_company(&mut tx, "company.stripe_deleted", &serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkStarted {
    pub link: PaymentLink,
    /// The job creating the Checkout Session.
    pub job_id: uuid::Uuid,
}

/// Create a Stripe Checkout link for what is open on a finalized invoice.
/// A job creates the session; poll the job or `GET` the link.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/payment-link", tag = "stripe", params(("id" = InvoiceId, Path)),
    responses((status = 202, body = LinkStarted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_payment_link(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
) -> ApiResult<(StatusCode, axum::Json<LinkStarted>)> {
    p.require(Permission::BillingWrite)?;
    let tx = p.tx(&s).await?;
    let started =
        start_payment_link(&s, tx, id, &p.actor(), "invoice.payment_link_created").await?;
    Ok((StatusCode::ACCEPTED, axum::Json(started)))
}

/// Starts a payment link for the invoice in `tx` and commits: the link,
/// audited as `action` by `actor`, and the job that creates its Checkout
/// Session (409 when the invoice cannot be paid online).
pub(crate) async fn start_payment_link(
    s: &AppState,
    mut tx: TenantTx,
    id: InvoiceId,
    actor: &Actor,
    action: &str,
) -> ApiResult<LinkStarted> {
    let tenant = tx.tenant();
    let mut link = stripe::create_link(&mut tx, id).await?;
    audit::record(
        &mut tx,
        actor,
        action,
        "invoice",
        Some(id.as_uuid()),
        serde_json::to_value(&link).unwrap_or_default(),
    )
    .await?;
    let job = enqueue_in(
        &mut tx,
        &nestogy_jobs::stripe::PaymentLink {
            tenant,
            link: link.id,
        },
        EnqueueOptions {
            run_at: None,
            unique_key: Some(format!("payment-link:{}", link.id)),
        },
    )
    .await?;
    stripe::set_link_job(&mut tx, link.id, job.id().as_uuid()).await?;
    tx.commit().await?;
    let job = job.push(&s.queue).await;
    link.job_id = Some(job.as_uuid());
    Ok(LinkStarted {
        link,
        job_id: job.as_uuid(),
    })
}

/// The invoice's newest payment link.
#[utoipa::path(get, path = "/api/v1/invoices/{id}/payment-link", tag = "stripe", params(("id" = InvoiceId, Path)),
    responses((status = 200, body = PaymentLink), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn latest_payment_link(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
) -> ApiResult<axum::Json<PaymentLink>> {
    p.require(Permission::BillingRead)?;
    let mut tx = p.tx(&s).await?;
    let out = stripe::latest_link(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Charge a recurring template's invoices on their due date with a saved
/// Stripe payment method.
#[utoipa::path(put, path = "/api/v1/recurring-invoices/{id}/autopay", tag = "stripe", params(("id" = RecurringId, Path)),
    request_body = AutopayRequest,
    responses((status = 200, body = Autopay), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_autopay(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<RecurringId>,
    Json(body): Json<AutopayRequest>,
) -> ApiResult<axum::Json<Autopay>> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let out = stripe::set_autopay(&mut tx, id, body).await?;
    p.audit(
        &mut tx,
        "recurring.autopay_set",
        "recurring_invoice",
        id.as_uuid(),
        &out,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(out))
}

/// Stop charging a template's invoices automatically.
#[utoipa::path(delete, path = "/api/v1/recurring-invoices/{id}/autopay", tag = "stripe", params(("id" = RecurringId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_autopay(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<RecurringId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    stripe::delete_autopay(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "recurring.autopay_deleted",
        "recurring_invoice",
        id.as_uuid(),
        &serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An invoice's automatic charge attempts, first first.
#[utoipa::path(get, path = "/api/v1/invoices/{id}/autopay-attempts", tag = "stripe", params(("id" = InvoiceId, Path)),
    responses((status = 200, body = Vec<AutopayAttempt>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn autopay_attempts(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
) -> ApiResult<axum::Json<Vec<AutopayAttempt>>> {
    p.require(Permission::BillingRead)?;
    let mut tx = p.tx(&s).await?;
    nestogy_domain::billing::invoices::get(&mut tx, id).await?;
    let out = stripe::attempts(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

fn refused() -> ApiError {
    ApiError::bad_request(
        "invalid_signature",
        "the Stripe-Signature header does not match this endpoint's secret",
    )
}

/// Stripe's events for a company (no bearer token: the `Stripe-Signature`
/// header is checked against the company's endpoint secret, within five
/// minutes). Each event id is acted on once; payments are recorded once per
/// PaymentIntent; unknown event types are acknowledged and ignored.
#[utoipa::path(post, path = "/api/v1/webhooks/stripe/{company_id}", tag = "stripe", params(("company_id" = TenantId, Path)),
    request_body(content = Object, description = "A Stripe event, as Stripe sends it"),
    responses((status = 200, body = Receipt), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn receive_event(
    State(s): State<AppState>,
    Path(company): Path<TenantId>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<axum::Json<Receipt>> {
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(refused)?;
    let mut tx = s.db.tenant(company).await?;
    // An unknown company, or one without an endpoint secret, is refused
    // like a bad signature: the answer does not tell whether it exists.
    let secret = match stripe::keys(&mut tx, s.services.secrets.as_ref()).await {
        Ok(Some(k)) => k.webhook_secret,
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "opening a tenant's Stripe keys");
            None
        }
    };
    let Some(secret) = secret else {
        return Err(refused());
    };
    let now = tx.now().timestamp();
    if let Err(e) = stripe::verify_signature(
        header,
        &body,
        &secret,
        now,
        stripe::SIGNATURE_TOLERANCE_SECS,
    ) {
        tracing::info!(?e, %company, "a Stripe event was refused");
        return Err(refused());
    }
    let event: serde_json::Value = json_from_bytes(&body)?;
    let receipt = stripe::receive(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(axum::Json(receipt))
}
