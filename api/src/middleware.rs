//! Cross-cutting request handling: metrics, spans, and the guarantee that
//! every error leaves in the JSON error shape.

use std::sync::OnceLock;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error;

/// Installs the process-wide Prometheus recorder once and returns its handle.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0,
                    ],
                )
                .expect("static bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may be installed already (tests build many apps
            // in one process); ours still renders what it records.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Counts requests and times them by method, route template and status.
pub async fn track_metrics(req: Request, next: Next) -> Response<Body> {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let resp = next.run(req).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", resp.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    resp
}

pub fn make_span(req: &Request<Body>) -> tracing::Span {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
}

pub async fn not_found() -> Response<Body> {
    error::body(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "no such route",
        serde_json::Value::Null,
    )
}

pub async fn method_not_allowed() -> Response<Body> {
    error::body(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept this method",
        serde_json::Value::Null,
    )
}

pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a handler panicked");
    error::internal()
}

/// Rewrites any error response that is not JSON yet (from a layer, or a
/// framework rejection) into the error shape, keeping its status and headers;
/// every 503 leaves with `Retry-After`.
/// The admin pages' own HTML error pages under `/admin` are left as they are.
pub async fn json_errors(req: Request, next: Next) -> Response<Body> {
    let admin_page = req.uri().path().starts_with("/admin/") || req.uri().path() == "/admin";
    let mut resp = next.run(req).await;
    error::set_retry_after(&mut resp);
    let status = resp.status();
    let content_type = resp.headers().get(header::CONTENT_TYPE);
    let is_json = content_type.is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let is_admin_html =
        admin_page && content_type.is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_json || is_admin_html {
        return resp;
    }
    let code = match status {
        StatusCode::NOT_FOUND => "route_not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::GATEWAY_TIMEOUT => "timeout",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = status.canonical_reason().unwrap_or("error").to_lowercase();
    let (mut parts, _) = resp.into_parts();
    let mut fresh = error::body(status, code, &message, serde_json::Value::Null);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    std::mem::swap(fresh.headers_mut(), &mut parts.headers);
    fresh.into_response()
}

/// Refuses a body larger than 1 MiB ([`crate::BODY_LIMIT`]) on every path
/// but the import upload ([`crate::routes::imports::IMPORT_BODY_LIMIT`]),
/// before any handler runs, and reads every body in full first: a handler
/// that does not read its body (finalize, void, duplicate) would otherwise
/// leave bytes on a keep-alive connection, and the server would close it
/// under the client's next request.
pub async fn body_cap(req: Request, next: Next) -> Response<Body> {
    let limit = if req.uri().path() == crate::routes::imports::IMPORT_PATH {
        crate::routes::imports::IMPORT_BODY_LIMIT
    } else {
        crate::BODY_LIMIT
    };
    let too_large = || {
        crate::error::ApiError::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the body is larger than this API accepts",
        )
        .into_response()
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(e) => {
            // Over the limit, or the client stopped sending.
            use std::error::Error;
            let mut source: Option<&dyn Error> = Some(&e);
            while let Some(s) = source {
                if s.is::<http_body_util::LengthLimitError>() {
                    return too_large();
                }
                source = s.source();
            }
            return crate::error::ApiError::status(
                StatusCode::BAD_REQUEST,
                "body_unreadable",
                "the request body could not be read",
            )
            .into_response();
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
