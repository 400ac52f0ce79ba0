//! IMAP mailboxes (admins), their connection test and polls, the
//! quarantine of messages that could not be processed and the automated
//! mail that was ignored (techs and admins).

use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::service_desk::inbound::{self, InboundMessage};
use nestogy_domain::service_desk::mailboxes::{self, Mailbox, MailboxPatch, NewMailbox};
use nestogy_domain::{InboundId, MailboxId};
use nestogy_jobs::mailboxes::{Reprocess, Test};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::routes::PageQuery;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mailboxes, create_mailbox))
        .routes(routes!(get_mailbox, update_mailbox, delete_mailbox))
        .routes(routes!(test_mailbox))
        .routes(routes!(poll_mailbox))
        .routes(routes!(list_quarantine))
        .routes(routes!(reprocess_message))
        .routes(routes!(list_ignored))
        .routes(routes!(reprocess_ignored))
}

/// Work handed to a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// `GET /api/v1/jobs/{id}` follows it; its result says what it found.
    pub job_id: uuid::Uuid,
}

/// The mailboxes, by name.
#[utoipa::path(get, path = "/api/v1/mailboxes", tag = "mailboxes", params(PageQuery),
    responses((status = 200, body = Page<Mailbox>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_mailboxes(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<Mailbox>>> {
    p.require(Permission::CompanyWrite)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let out = mailboxes::list(&mut tx, &page).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Connect a mailbox. The password is encrypted at rest (AES-256-GCM) and
/// never shown again; `POST .../test` checks the connection.
#[utoipa::path(post, path = "/api/v1/mailboxes", tag = "mailboxes", request_body = NewMailbox,
    responses((status = 201, body = Mailbox), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_mailbox(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<NewMailbox>,
) -> ApiResult<(StatusCode, axum::Json<Mailbox>)> {
    p.require(Permission::CompanyWrite)?;
    let ctx = s.jobs();
    let mut tx = p.tx(&s).await?;
    let m = mailboxes::create(&mut tx, body, ctx.services.secrets.as_ref()).await?;
    p.audit(&mut tx, "mailbox.created", "mailbox", m.id.as_uuid(), &m)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(m)))
}

/// Get a mailbox: its settings, checkpoint and last poll.
#[utoipa::path(get, path = "/api/v1/mailboxes/{id}", tag = "mailboxes", params(("id" = MailboxId, Path)),
    responses((status = 200, body = Mailbox), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_mailbox(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<MailboxId>,
) -> ApiResult<axum::Json<Mailbox>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let m = mailboxes::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(m))
}

/// Change a mailbox. Another host, user or folder starts from the folder's
/// beginning; what was taken before is not taken again.
#[utoipa::path(patch, path = "/api/v1/mailboxes/{id}", tag = "mailboxes", params(("id" = MailboxId, Path)),
    request_body = MailboxPatch,
    responses((status = 200, body = Mailbox), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_mailbox(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<MailboxId>,
    Json(body): Json<MailboxPatch>,
) -> ApiResult<axum::Json<Mailbox>> {
    p.require(Permission::CompanyWrite)?;
    let ctx = s.jobs();
    let mut tx = p.tx(&s).await?;
    let m = mailboxes::update(&mut tx, id, body, ctx.services.secrets.as_ref()).await?;
    p.audit(&mut tx, "mailbox.updated", "mailbox", id.as_uuid(), &m)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(m))
}

/// Disconnect a mailbox, with its record of delivered messages. Tickets stay.
#[utoipa::path(delete, path = "/api/v1/mailboxes/{id}", tag = "mailboxes", params(("id" = MailboxId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_mailbox(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<MailboxId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let m = mailboxes::get(&mut tx, id).await?;
    mailboxes::delete(&mut tx, id).await?;
    p.audit(&mut tx, "mailbox.deleted", "mailbox", id.as_uuid(), &m)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Check the connection in a job: connect, log in, open the folder. The
/// job's result (or its error) says what happened.
#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/test", tag = "mailboxes", params(("id" = MailboxId, Path)),
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn test_mailbox(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<MailboxId>,
) -> ApiResult<(StatusCode, axum::Json<Queued>)> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    mailboxes::get(&mut tx, id).await?;
    tx.end_read();
    let job = Test {
        tenant: p.tenant,
        mailbox: id,
    };
    let job_id = nestogy_jobs::enqueue(&s.jobs(), &job).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Queued {
            job_id: job_id.as_uuid(),
        }),
    ))
}

/// What "poll now" did.
#[derive(Debug, Serialize, ToSchema)]
pub struct PollNowAnswer {
    /// `woke_running_poll`: a poll was listening on the mailbox and takes
    /// its mail now, then listens on; `queued`: none was running, a poll
    /// job was queued.
    pub polled: String,
    pub woke_running_poll: bool,
    /// The job taking the mail (`GET /api/v1/jobs/{id}`): the running
    /// poll's, or the queued one's.
    pub job_id: Option<uuid::Uuid>,
    /// When it was asked. Once the mailbox's `last_drained_at` reaches it,
    /// all mail delivered before it has been taken.
    pub requested_at: chrono::DateTime<chrono::Utc>,
}

/// Poll now: new mail arrives now. A poll listening on the mailbox (IMAP
/// IDLE) is woken and takes it at once; otherwise a poll job is queued.
/// The answer says which.
#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/poll", tag = "mailboxes", params(("id" = MailboxId, Path)),
    responses((status = 202, body = PollNowAnswer), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn poll_mailbox(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<MailboxId>,
) -> ApiResult<(StatusCode, axum::Json<PollNowAnswer>)> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    mailboxes::get(&mut tx, id).await?;
    tx.end_read();
    let done = nestogy_jobs::mailboxes::poll_now(&s.jobs(), p.tenant, id)
        .await
        .map_err(|e| nestogy_domain::DomainError::Internal(e.to_string()))?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(PollNowAnswer {
            polled: done.polled.to_owned(),
            woke_running_poll: done.woke_running_poll,
            job_id: done.job_id,
            requested_at: done.requested_at,
        }),
    ))
}

/// A page of a mailbox's messages recorded with `outcome` and no ticket.
async fn held(
    p: Principal,
    s: AppState,
    id: MailboxId,
    q: PageQuery,
    outcome: inbound::Outcome,
) -> ApiResult<axum::Json<Page<InboundMessage>>> {
    p.require(Permission::TicketsRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    mailboxes::get(&mut tx, id).await?;
    let out = inbound::held(&mut tx, id, outcome, &page).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Messages of a mailbox that could not be processed, newest first, each
/// with its reason. Their raw bytes are kept.
#[utoipa::path(get, path = "/api/v1/mailboxes/{id}/quarantine", tag = "mailboxes",
    params(("id" = MailboxId, Path), PageQuery),
    responses((status = 200, body = Page<InboundMessage>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_quarantine(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<MailboxId>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<InboundMessage>>> {
    held(p, s, id, q, inbound::Outcome::Quarantined).await
}

/// Automated mail of a mailbox that answered none of its tickets and was
/// recorded without one (out-of-office, bulk, list, no-reply, automatic
/// answers coming back), newest first, each with its reason. Their raw
/// bytes are kept. The mailbox's `automated_mail: accept` opens tickets
/// from such mail instead.
#[utoipa::path(get, path = "/api/v1/mailboxes/{id}/ignored", tag = "mailboxes",
    params(("id" = MailboxId, Path), PageQuery),
    responses((status = 200, body = Page<InboundMessage>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_ignored(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<MailboxId>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<InboundMessage>>> {
    held(p, s, id, q, inbound::Outcome::Ignored).await
}

/// Open a ticket from an ignored message after all (never acknowledged:
/// it is still automated mail), in a job.
#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/ignored/{message_id}/reprocess", tag = "mailboxes",
    params(("id" = MailboxId, Path), ("message_id" = InboundId, Path)),
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The message was not ignored")),
    security(("bearer" = [])))]
async fn reprocess_ignored(
    p: Principal,
    State(s): State<AppState>,
    Path((id, message)): Path<(MailboxId, InboundId)>,
) -> ApiResult<(StatusCode, axum::Json<Queued>)> {
    reprocess(p, s, id, message, inbound::Outcome::Ignored).await
}

/// Process a quarantined message again (after fixing what stopped it: a
/// contact added, the mailbox's policy changed), in a job.
#[utoipa::path(post, path = "/api/v1/mailboxes/{id}/quarantine/{message_id}/reprocess", tag = "mailboxes",
    params(("id" = MailboxId, Path), ("message_id" = InboundId, Path)),
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The message is not in quarantine")),
    security(("bearer" = [])))]
async fn reprocess_message(
    p: Principal,
    State(s): State<AppState>,
    Path((id, message)): Path<(MailboxId, InboundId)>,
) -> ApiResult<(StatusCode, axum::Json<Queued>)> {
    reprocess(p, s, id, message, inbound::Outcome::Quarantined).await
}

/// Queues the reprocessing of a message still `held` (quarantined or
/// ignored).
async fn reprocess(
    p: Principal,
    s: AppState,
    id: MailboxId,
    message: InboundId,
    held: inbound::Outcome,
) -> ApiResult<(StatusCode, axum::Json<Queued>)> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let m = inbound::get(&mut tx, message).await?;
    tx.end_read();
    if m.mailbox_id != id {
        return Err(nestogy_domain::DomainError::not_found("message").into());
    }
    if m.outcome != held {
        return Err(inbound::not_held(held).into());
    }
    let job = Reprocess {
        tenant: p.tenant,
        mailbox: id,
        message,
        ignored: held == inbound::Outcome::Ignored,
    };
    let job_id = nestogy_jobs::enqueue(&s.jobs(), &job).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Queued {
            job_id: job_id.as_uuid(),
        }),
    ))
}
