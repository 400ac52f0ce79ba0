//! Quotes (accountants and admins).

use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::billing::invoices::Invoice;
use nestogy_domain::billing::quotes::{self, Quote, QuoteRequest, QuoteStatus};
use nestogy_domain::kernel::pagination::{Page, PageRequest};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::{ClientId, QuoteId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_quotes, create_quote))
        .routes(routes!(get_quote, update_quote, delete_quote))
        .routes(routes!(send_quote))
        .routes(routes!(accept_quote))
        .routes(routes!(decline_quote))
        .routes(routes!(convert_quote))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QuoteQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub client_id: Option<ClientId>,
    pub status: Option<QuoteStatus>,
}

/// Quotes, newest first.
#[utoipa::path(get, path = "/api/v1/quotes", tag = "quotes", params(QuoteQuery),
    responses((status = 200, body = Page<Quote>)), security(("bearer" = [])))]
async fn list_quotes(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<QuoteQuery>,
) -> ApiResult<axum::Json<Page<Quote>>> {
    p.require(Permission::BillingRead)?;
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let mut tx = p.tx(&s).await?;
    let out = quotes::list(&mut tx, q.client_id, q.status.as_slice(), &page).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Create a draft quote (priced like an invoice; valid 30 days by default).
#[utoipa::path(post, path = "/api/v1/quotes", tag = "quotes", request_body = QuoteRequest,
    responses((status = 201, body = Quote), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn create_quote(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<QuoteRequest>,
) -> ApiResult<(StatusCode, axum::Json<Quote>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let q = quotes::create(&mut tx, body).await?;
    p.audit(&mut tx, "quote.created", "quote", q.id.as_uuid(), &q)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(q)))
}

/// Get a quote.
#[utoipa::path(get, path = "/api/v1/quotes/{id}", tag = "quotes", params(("id" = QuoteId, Path)),
    responses((status = 200, body = Quote), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_quote(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<QuoteId>,
) -> ApiResult<axum::Json<Quote>> {
    p.require(Permission::BillingRead)?;
    let mut tx = p.tx(&s).await?;
    let q = quotes::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(q))
}

/// Replace a draft quote (409 once sent).
#[utoipa::path(put, path = "/api/v1/quotes/{id}", tag = "quotes", params(("id" = QuoteId, Path)), request_body = QuoteRequest,
    responses((status = 200, body = Quote), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_quote(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<QuoteId>,
    Json(body): Json<QuoteRequest>,
) -> ApiResult<axum::Json<Quote>> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let q = quotes::update(&mut tx, id, body).await?;
    p.audit(&mut tx, "quote.updated", "quote", id.as_uuid(), &q)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(q))
}

/// Delete a draft quote (409 once sent).
#[utoipa::path(delete, path = "/api/v1/quotes/{id}", tag = "quotes", params(("id" = QuoteId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_quote(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<QuoteId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let q = quotes::delete(&mut tx, id).await?;
    p.audit(&mut tx, "quote.deleted", "quote", id.as_uuid(), &q)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn transition(
    p: Principal,
    s: AppState,
    id: QuoteId,
    action: &str,
    f: impl AsyncFnOnce(&mut nestogy_domain::TenantTx) -> nestogy_domain::DomainResult<Quote>,
) -> ApiResult<axum::Json<Quote>> {
    p.require(Permission::BillingWrite)?;
    let tx = p.tx(&s).await?;
    Ok(axum::Json(decide_in(tx, &p.actor(), id, action, f).await?))
}

/// Runs `f` (a change of the quote) in `tx` and commits, audited as
/// `action` by `actor`. A quote found expired is kept so, and the answer
/// says it (409 `quote_expired`).
pub(crate) async fn decide_in(
    mut tx: nestogy_domain::TenantTx,
    actor: &nestogy_domain::kernel::audit::Actor,
    id: QuoteId,
    action: &str,
    f: impl AsyncFnOnce(&mut nestogy_domain::TenantTx) -> nestogy_domain::DomainResult<Quote>,
) -> ApiResult<Quote> {
    let q = match f(&mut tx).await {
        Ok(q) => q,
        // The quote was found expired: keep that, and say so.
        Err(
            e @ nestogy_domain::DomainError::Conflict {
                code: "quote_expired",
                ..
            },
        ) => {
            tx.commit().await?;
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    nestogy_domain::kernel::audit::record(
        &mut tx,
        actor,
        action,
        "quote",
        Some(id.as_uuid()),
        serde_json::to_value(&q).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(q)
}

/// A quote sent, and the message that carries it.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuoteSent {
    pub quote: Quote,
    pub mail: crate::routes::documents::Sending,
}

/// Send a quote: a draft gets its number (`settings.quote_number_pattern`,
/// default `QUO-{YYYY}-{SEQ:6}`) and opens; then it is e-mailed, PDF
/// attached, to the client's billing contacts. A sent quote is e-mailed
/// again. 409 `no_recipients`, with nothing changed, when the client has no
/// one to send it to.
#[utoipa::path(post, path = "/api/v1/quotes/{id}/send", tag = "quotes", params(("id" = QuoteId, Path)),
    responses((status = 202, body = QuoteSent), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn send_quote(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<QuoteId>,
) -> ApiResult<(StatusCode, axum::Json<QuoteSent>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let current = quotes::get(&mut tx, id).await?;
    let recipients =
        nestogy_domain::customers::contacts::billing_recipients(&mut tx, current.client_id).await?;
    if recipients.is_empty() {
        return Err(nestogy_domain::DomainError::conflict(
            "no_recipients",
            "there is no one to send this to: give the client a billing or primary contact with an e-mail address",
        )
        .into());
    }
    let quote = if current.status == QuoteStatus::Sent {
        tx.end_read();
        current
    } else {
        let q = quotes::send(&mut tx, id).await?;
        p.audit(&mut tx, "quote.sent", "quote", id.as_uuid(), &q)
            .await?;
        tx.commit().await?;
        q
    };
    let mail =
        crate::routes::documents::send(&p, &s, nestogy_jobs::mail::Message::Quote { quote: id })
            .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(QuoteSent { quote, mail })))
}

/// Record the client's acceptance of a sent quote (409 if it expired).
#[utoipa::path(post, path = "/api/v1/quotes/{id}/accept", tag = "quotes", params(("id" = QuoteId, Path)),
    responses((status = 200, body = Quote), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn accept_quote(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<QuoteId>,
) -> ApiResult<axum::Json<Quote>> {
    transition(p, s, id, "quote.accepted", async |tx| {
        quotes::accept(tx, id, None).await
    })
    .await
}

/// Record that the client declined a sent quote.
#[utoipa::path(post, path = "/api/v1/quotes/{id}/decline", tag = "quotes", params(("id" = QuoteId, Path)),
    responses((status = 200, body = Quote), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn decline_quote(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<QuoteId>,
) -> ApiResult<axum::Json<Quote>> {
    transition(p, s, id, "quote.declined", async |tx| {
        quotes::decline(tx, id, None).await
    })
    .await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Converted {
    pub quote: Quote,
    pub invoice: Invoice,
}

/// Turn a sent or accepted quote into a draft invoice, linked both ways.
#[utoipa::path(post, path = "/api/v1/quotes/{id}/convert", tag = "quotes", params(("id" = QuoteId, Path)),
    responses((status = 201, body = Converted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn convert_quote(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<QuoteId>,
) -> ApiResult<(StatusCode, axum::Json<Converted>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let (quote, invoice) = quotes::convert(&mut tx, id).await?;
    p.audit(&mut tx, "quote.converted", "quote", id.as_uuid(), &quote)
        .await?;
    p.audit(
        &mut tx,
        "invoice.created",
        "invoice",
        invoice.id.as_uuid(),
        &invoice,
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Converted { quote, invoice }),
    ))
}
