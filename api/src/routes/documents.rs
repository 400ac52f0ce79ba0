//! Documents as PDF, and sending them: invoices, quotes, statements, and
//! payment receipts (accountants and admins).
//!
//! A PDF is served when its current data is rendered; otherwise a render
//! job is enqueued (once per document state) and the answer is 202 with its
//! id. Sending creates the message (once per request) and enqueues its
//! delivery, which renders what is attached first.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate};
use nestogy_domain::billing::documents::{self, DocRef, Period};
use nestogy_domain::billing::invoices::{self, InvoiceStatus};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::{
    ClientId, DomainError, InvoiceId, MailId, PaymentId, QuoteId, TenantId, TenantTx,
    identity::company,
};
use nestogy_jobs::Enqueued;
use nestogy_jobs::documents::{Render, current, render_key};
use nestogy_jobs::enqueue::{EnqueueOptions, enqueue_with};
use nestogy_jobs::mail::{self as mailer, Message, compose};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invoice_pdf))
        .routes(routes!(send_invoice))
        .routes(routes!(quote_pdf))
        .routes(routes!(statement_pdf))
        .routes(routes!(send_statement))
        .routes(routes!(send_receipt))
}

/// A PDF still being rendered.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rendering {
    /// Always `rendering`.
    pub status: &'static str,
    /// The render job; `GET /api/v1/jobs/{id}` follows it.
    pub job_id: Uuid,
}

/// A message on its way.
#[derive(Debug, Serialize, ToSchema)]
pub struct Sending {
    /// The delivery job; `GET /api/v1/jobs/{id}` follows it.
    pub job_id: Uuid,
    /// The message in the mail log: `GET /api/v1/mail/{id}`.
    pub mail_id: MailId,
    /// Our Message-ID.
    pub message_id: String,
    pub recipients: Vec<String>,
    pub subject: String,
}

/// The current PDF of `doc`, or 202 while a job renders it.
pub async fn pdf_response(tenant: TenantId, s: &AppState, doc: DocRef) -> ApiResult<Response> {
    let ctx = s.jobs();
    let (view, key) = current(&ctx, tenant, &doc).await?;
    if let Some(key) = key {
        match ctx.services.files.stream(&key).await {
            Ok((size, stream)) => {
                let mut resp = Body::from_stream(stream).into_response();
                let h = resp.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/pdf"),
                );
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
                h.insert(
                    header::CONTENT_DISPOSITION,
                    crate::download::content_disposition("inline", &view.file_name),
                );
                if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", view.digest)) {
                    h.insert(header::ETAG, v);
                }
                return Ok(resp);
            }
            Err(e) if e.is_not_found() => {} // gone meanwhile: render again
            Err(e) => {
                return Err(ApiError::status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!("the object store is unavailable: {e}"),
                ));
            }
        }
    }
    let job = enqueue_with(
        &ctx,
        &Render { tenant, doc },
        EnqueueOptions {
            run_at: None,
            unique_key: Some(render_key(tenant, &view)),
        },
    )
    .await?;
    let mut resp = (
        StatusCode::ACCEPTED,
        axum::Json(Rendering {
            status: "rendering",
            job_id: job.as_uuid(),
        }),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/jobs/{job}")) {
        h.insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Records, in the transaction `tx` that changes a document, a rendering
/// of it; push the answer after `tx` commits.
pub async fn render_in(tx: &mut TenantTx, doc: DocRef) -> ApiResult<Enqueued> {
    let job = Render {
        tenant: tx.tenant(),
        doc,
    };
    Ok(nestogy_jobs::enqueue_in(tx, &job, EnqueueOptions::default()).await?)
}

/// Creates the message (in the caller's tenant, audited) and dispatches it.
pub async fn send(p: &Principal, s: &AppState, message: Message) -> ApiResult<Sending> {
    let ctx = s.jobs();
    let mut tx = p.tx(s).await?;
    let request = Uuid::now_v7();
    let subject_id = message.subject().map(|(_, id)| id).unwrap_or_default();
    let key = format!(
        "{}:{subject_id}:send:{request}",
        message.template().as_str()
    );
    let new = compose::document_message(&mut tx, message, key).await?;
    let (msg, _) = mailer::create(&mut tx, &ctx, new)
        .await
        .map_err(DomainError::from)?;
    p.audit(&mut tx, "mail.queued", "mail", msg.id.as_uuid(), &msg)
        .await?;
    let (jobs, pending) = mailer::dispatch_in(&mut tx, &[msg.id]).await?;
    tx.commit().await?;
    pending.push(&ctx.queue).await;
    Ok(Sending {
        job_id: jobs.first().map(|j| j.as_uuid()).unwrap_or_default(),
        mail_id: msg.id,
        message_id: msg.message_id,
        recipients: msg.recipients,
        subject: msg.subject,
    })
}

/// The invoice as PDF: drafts too (marked DRAFT), void ones marked VOID.
#[utoipa::path(get, path = "/api/v1/invoices/{id}/pdf", tag = "documents", params(("id" = InvoiceId, Path)),
    responses((status = 200, description = "The PDF", content_type = "application/pdf"),
        (status = 202, body = Rendering, description = "Being rendered; retry after a second"),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn invoice_pdf(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
) -> ApiResult<Response> {
    p.require(Permission::BillingRead)?;
    pdf_response(p.tenant, &s, DocRef::Invoice { id }).await
}

/// E-mail a finalized invoice, PDF attached, to the client's billing
/// contacts (or its primary contact). Every request sends once, however
/// often its job runs.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/send", tag = "documents", params(("id" = InvoiceId, Path)),
    responses((status = 202, body = Sending), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "A draft or void invoice, or no one to send it to")),
    security(("bearer" = [])))]
async fn send_invoice(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
) -> ApiResult<(StatusCode, axum::Json<Sending>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let inv = invoices::get(&mut tx, id).await?;
    tx.end_read();
    match inv.status {
        InvoiceStatus::Draft => {
            return Err(DomainError::conflict(
                "invoice_not_finalized",
                "finalize the invoice before sending it",
            )
            .into());
        }
        InvoiceStatus::Void => {
            return Err(
                DomainError::conflict("invoice_void", "a void invoice cannot be sent").into(),
            );
        }
        _ => {}
    }
    let sent = send(&p, &s, Message::Invoice { invoice: id }).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(sent)))
}

/// The quote as PDF.
#[utoipa::path(get, path = "/api/v1/quotes/{id}/pdf", tag = "documents", params(("id" = QuoteId, Path)),
    responses((status = 200, description = "The PDF", content_type = "application/pdf"),
        (status = 202, body = Rendering), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn quote_pdf(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<QuoteId>,
) -> ApiResult<Response> {
    p.require(Permission::BillingRead)?;
    pdf_response(p.tenant, &s, DocRef::Quote { id }).await
}

#[derive(Debug, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatementPeriod {
    /// First day (YYYY-MM-DD); defaults to 90 days before `to`.
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub from: Option<NaiveDate>,
    /// Last day; defaults to today in the company's time zone.
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub to: Option<NaiveDate>,
    /// Defaults to the company's currency.
    pub currency: Option<String>,
}

/// The statement period a request asks for, with the company's defaults
/// (422 on a bad one).
pub(crate) async fn period(
    tenant: TenantId,
    s: &AppState,
    q: StatementPeriod,
) -> ApiResult<Period> {
    let mut tx = s.db.tenant(tenant).await?;
    let c = company::get(&mut tx).await?;
    let to = q.to.unwrap_or_else(|| c.today(tx.now()));
    tx.end_read();
    let from = q.from.unwrap_or(to - Duration::days(90));
    Ok(documents::statement_period(
        q.currency,
        &c.currency,
        from,
        to,
    )?)
}

/// The client's statement of account for a period, as PDF.
#[utoipa::path(get, path = "/api/v1/clients/{id}/statement/pdf", tag = "documents",
    params(("id" = ClientId, Path), StatementPeriod),
    responses((status = 200, description = "The PDF", content_type = "application/pdf"),
        (status = 202, body = Rendering), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn statement_pdf(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ClientId>,
    Query(q): Query<StatementPeriod>,
) -> ApiResult<Response> {
    p.require(Permission::BillingRead)?;
    let period = period(p.tenant, &s, q).await?;
    pdf_response(p.tenant, &s, DocRef::Statement { client: id, period }).await
}

/// E-mail the client's statement for a period, PDF attached, to its
/// billing contacts.
#[utoipa::path(post, path = "/api/v1/clients/{id}/statement/send", tag = "documents",
    params(("id" = ClientId, Path)), request_body = StatementPeriod,
    responses((status = 202, body = Sending), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn send_statement(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ClientId>,
    Json(body): Json<StatementPeriod>,
) -> ApiResult<(StatusCode, axum::Json<Sending>)> {
    p.require(Permission::BillingWrite)?;
    let period = period(p.tenant, &s, body).await?;
    let sent = send(&p, &s, Message::Statement { client: id, period }).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(sent)))
}

/// E-mail a receipt for a payment to the client's billing contacts.
#[utoipa::path(post, path = "/api/v1/payments/{id}/receipt", tag = "documents", params(("id" = PaymentId, Path)),
    responses((status = 202, body = Sending), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn send_receipt(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<PaymentId>,
) -> ApiResult<(StatusCode, axum::Json<Sending>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let payment = nestogy_domain::billing::payments::get(&mut tx, id).await?;
    tx.end_read();
    if payment.kind != "payment" {
        return Err(DomainError::conflict(
            "not_a_payment",
            "receipts are sent for payments, not refunds",
        )
        .into());
    }
    let sent = send(&p, &s, Message::PaymentReceipt { payment: id }).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(sent)))
}
