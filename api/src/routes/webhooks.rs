//! Outbound webhooks: a tenant's endpoints, their delivery log, pings and
//! redeliveries. Admins only (`company:write`). Sending happens in jobs
//! (`nestogy_jobs::webhooks`); these routes answer 202 where a POST will follow.

use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::integrations::webhooks::{
    self, Delivery, DeliveryDetail, Endpoint, EndpointPatch, EndpointWithSecret, Host, NewEndpoint,
};
use nestogy_domain::kernel::crypto::SecretKey;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::kernel::validation::ValidationErrors;
use nestogy_domain::{DomainError, WebhookDeliveryId, WebhookEndpointId};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::PageQuery;
use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(enable_endpoint))
        .routes(routes!(ping_endpoint))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(redeliver))
}

fn key(s: &AppState) -> ApiResult<&SecretKey> {
    Ok(s.services.secrets.as_ref().ok_or_else(|| {
        DomainError::conflict(
            "secrets_unavailable",
            "webhook secrets cannot be stored: NESTOGY_SECRET_KEY is not set",
        )
    })?)
}

/// Validates an endpoint, resolving a host name unless private targets are
/// allowed: a name that resolves to a private address is refused (names
/// that do not resolve now are checked again at each delivery).
async fn validated(s: &AppState, e: NewEndpoint) -> ApiResult<NewEndpoint> {
    let allow = s.services.integrations.allow_private_targets;
    let mut v = ValidationErrors::new();
    let (e, host) = webhooks::validate(&mut v, e, allow);
    if let (Some(Host::Name(name)), false) = (&host, allow) {
        let port = if e.url.to_ascii_lowercase().starts_with("http://") {
            80
        } else {
            443
        };
        if let Ok(ips) = nestogy_jobs::webhooks::resolve(name, port).await
            && ips.iter().any(|ip| webhooks::is_forbidden_ip(*ip))
        {
            v.add(
                "url",
                "private_address",
                "url must not target a loopback, private or link-local address",
            );
        }
    }
    v.finish()?;
    Ok(e)
}

/// List the webhook endpoints.
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints", tag = "webhooks",
    params(PageQuery),
    responses((status = 200, body = Page<Endpoint>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_endpoints(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<Endpoint>>> {
    p.require(Permission::CompanyWrite)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let out = webhooks::list(&mut tx, &page).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Register an endpoint. The answer carries its signing secret, shown only now.
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints", tag = "webhooks",
    request_body = NewEndpoint,
    responses((status = 201, body = EndpointWithSecret), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_endpoint(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<NewEndpoint>,
) -> ApiResult<(StatusCode, axum::Json<EndpointWithSecret>)> {
    p.require(Permission::CompanyWrite)?;
    let e = validated(&s, body).await?;
    let mut tx = p.tx(&s).await?;
    let out = webhooks::create(&mut tx, key(&s)?, e).await?;
    p.audit(
        &mut tx,
        "webhook_endpoint.created",
        "webhook_endpoint",
        out.endpoint.id.as_uuid(),
        &out.endpoint,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(out)))
}

/// Get an endpoint (without its secret).
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints/{id}", tag = "webhooks",
    params(("id" = WebhookEndpointId, Path)),
    responses((status = 200, body = Endpoint), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_endpoint(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<WebhookEndpointId>,
) -> ApiResult<axum::Json<Endpoint>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let e = webhooks::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(e))
}

/// Change an endpoint. Absent fields stay; `enabled` switches it off or on.
#[utoipa::path(patch, path = "/api/v1/webhooks/endpoints/{id}", tag = "webhooks",
    params(("id" = WebhookEndpointId, Path)), request_body = EndpointPatch,
    responses((status = 200, body = Endpoint), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_endpoint(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<WebhookEndpointId>,
    Json(body): Json<EndpointPatch>,
) -> ApiResult<axum::Json<Endpoint>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let current = webhooks::get(&mut tx, id).await?;
    let e = validated(&s, webhooks::merge(&current, &body)).await?;
    let out = webhooks::update(&mut tx, id, e, body.enabled).await?;
    p.audit(
        &mut tx,
        "webhook_endpoint.updated",
        "webhook_endpoint",
        id.as_uuid(),
        &out,
    )
    .await?;
    // Enabled again: its waiting deliveries go out now, the dispatch
    // committed with the change.
    let dispatch = match body.enabled {
        Some(true) => Some(dispatch_in(&mut tx).await?),
        _ => None,
    };
    tx.commit().await?;
    if let Some(job) = dispatch {
        job.push(&s.queue).await;
    }
    Ok(axum::Json(out))
}

/// Delete an endpoint and its delivery log.
#[utoipa::path(delete, path = "/api/v1/webhooks/endpoints/{id}", tag = "webhooks",
    params(("id" = WebhookEndpointId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_endpoint(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<WebhookEndpointId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let e = webhooks::get(&mut tx, id).await?;
    webhooks::delete(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "webhook_endpoint.deleted",
        "webhook_endpoint",
        id.as_uuid(),
        &e,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the signing secret; the answer carries the new one, shown only now.
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints/{id}/rotate-secret", tag = "webhooks",
    params(("id" = WebhookEndpointId, Path)),
    responses((status = 200, body = EndpointWithSecret), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn rotate_secret(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<WebhookEndpointId>,
) -> ApiResult<axum::Json<EndpointWithSecret>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let out = webhooks::rotate_secret(&mut tx, key(&s)?, id).await?;
    p.audit(
        &mut tx,
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint",
        id.as_uuid(),
        &out.endpoint,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(out))
}

/// Enable an endpoint (after it was disabled for failing); deliveries that
/// waited are sent now.
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints/{id}/enable", tag = "webhooks",
    params(("id" = WebhookEndpointId, Path)),
    responses((status = 200, body = Endpoint), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn enable_endpoint(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<WebhookEndpointId>,
) -> ApiResult<axum::Json<Endpoint>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let current = webhooks::get(&mut tx, id).await?;
    let same = webhooks::merge(&current, &EndpointPatch::default());
    let out = webhooks::update(&mut tx, id, same, Some(true)).await?;
    p.audit(
        &mut tx,
        "webhook_endpoint.enabled",
        "webhook_endpoint",
        id.as_uuid(),
        &out,
    )
    .await?;
    let dispatch = dispatch_in(&mut tx).await?;
    tx.commit().await?;
    dispatch.push(&s.queue).await;
    Ok(axum::Json(out))
}

/// A delivery enqueued for sending.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    pub delivery: Delivery,
    pub job_id: uuid::Uuid,
}

/// Send a `webhook.ping` event to this endpoint only.
#[utoipa::path(post, path = "/api/v1/webhooks/endpoints/{id}/ping", tag = "webhooks",
    params(("id" = WebhookEndpointId, Path)),
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn ping_endpoint(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<WebhookEndpointId>,
) -> ApiResult<(StatusCode, axum::Json<Queued>)> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let delivery = webhooks::ping(&mut tx, id).await?;
    let job = nestogy_jobs::webhooks::enqueue_delivery(&mut tx, &delivery).await?;
    tx.commit().await?;
    let job = job.push(&s.queue).await;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Queued {
            delivery,
            job_id: job.as_uuid(),
        }),
    ))
}

/// An endpoint's delivery log, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/endpoints/{id}/deliveries", tag = "webhooks",
    params(("id" = WebhookEndpointId, Path), PageQuery),
    responses((status = 200, body = Page<Delivery>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_deliveries(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<WebhookEndpointId>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<Delivery>>> {
    p.require(Permission::CompanyWrite)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let out = webhooks::list_deliveries(&mut tx, id, &page).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// A delivery with each of its attempts.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries/{id}", tag = "webhooks",
    params(("id" = WebhookDeliveryId, Path)),
    responses((status = 200, body = DeliveryDetail), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_delivery(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<WebhookDeliveryId>,
) -> ApiResult<axum::Json<DeliveryDetail>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let out = webhooks::delivery_detail(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Send the same message again (same `webhook-id`, fresh timestamp and
/// signature), whatever became of it before.
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries/{id}/redeliver", tag = "webhooks",
    params(("id" = WebhookDeliveryId, Path)),
    responses((status = 202, body = Queued), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn redeliver(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<WebhookDeliveryId>,
) -> ApiResult<(StatusCode, axum::Json<Queued>)> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let delivery = webhooks::redeliver(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "webhook_delivery.redelivered",
        "webhook_delivery",
        id.as_uuid(),
        &delivery,
    )
    .await?;
    let job = nestogy_jobs::webhooks::enqueue_delivery(&mut tx, &delivery).await?;
    tx.commit().await?;
    let job = job.push(&s.queue).await;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Queued {
            delivery,
            job_id: job.as_uuid(),
        }),
    ))
}

/// Records in `tx` a dispatch of the tenant's waiting deliveries (an
/// endpoint enabled again); push it after the commit.
async fn dispatch_in(tx: &mut nestogy_domain::TenantTx) -> ApiResult<nestogy_jobs::Enqueued> {
    let job = nestogy_jobs::webhooks::Dispatch {
        tenant: tx.tenant(),
    };
    Ok(nestogy_jobs::enqueue_in(tx, &job, Default::default()).await?)
}
